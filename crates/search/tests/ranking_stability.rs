//! The ranking does not depend on the page size: the hits at limit 5 are the first five at limit 10,
//! which are the first ten at limit 20, and paging with `offset` walks the same list.

use claude_mem_embed::HashEmbedder;
use claude_mem_search::eval::load;
use claude_mem_search::{Filters, Fusion, Mode, SearchIndex, SearchRequest};
use std::path::Path;
use std::sync::Arc;

#[test]
fn pages_are_prefixes_of_one_ranking() {
    let eval = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/eval");
    let (docs, queries, _) = load(&eval).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(
        dir.path(),
        Arc::new(HashEmbedder::new(384)),
        None,
        Fusion::default(),
    )
    .unwrap();
    index.index(&docs).unwrap();
    let filters = Filters::default();
    let mut compared = 0;
    for q in &queries {
        for mode in [Mode::Hybrid, Mode::Text, Mode::Vector] {
            let ids = |limit: usize, offset: usize| -> Vec<i64> {
                let mut r = SearchRequest::new(&q.query, mode, &filters, limit);
                r.offset = offset;
                r.min_score = Some(0.0);
                index
                    .search(&r)
                    .unwrap()
                    .hits
                    .iter()
                    .map(|h| h.id)
                    .collect()
            };
            let (five, ten, twenty) = (ids(5, 0), ids(10, 0), ids(20, 0));
            assert!(
                ten.starts_with(&five),
                "{mode:?} {:?}: {five:?} vs {ten:?}",
                q.query
            );
            assert!(
                twenty.starts_with(&ten),
                "{mode:?} {:?}: {ten:?} vs {twenty:?}",
                q.query
            );
            let second_page = ids(10, 10);
            assert_eq!(
                second_page,
                twenty[ten.len().min(twenty.len())..],
                "{:?}",
                q.query
            );
            compared += usize::from(twenty.len() > 5);
        }
    }
    assert!(
        compared > 100,
        "too few queries had more than one page: {compared}"
    );
}
