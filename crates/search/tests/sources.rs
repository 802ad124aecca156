//! Summaries and prompts beside observations: each kind searched alone or merged, a key restriction (the
//! API's `file=`), deletion by key, cursors that survive a restart, and the in-place upgrade of a
//! schema 2 index (observations kept, summaries and prompts added).

use claude_mem_embed::HashEmbedder;
use claude_mem_search::{Doc, Filters, Fusion, Mode, SearchIndex, SearchRequest, Source};
use std::path::Path;
use std::sync::Arc;

fn open(dir: &Path) -> SearchIndex {
    SearchIndex::open(
        dir,
        Arc::new(HashEmbedder::new(384)),
        None,
        Fusion::default(),
    )
    .unwrap()
}

fn observation(id: i64, title: &str, files: &[&str]) -> Doc {
    Doc {
        id,
        project: "shop".into(),
        kind: "bugfix".into(),
        created_at: 1_000 + id,
        title: title.into(),
        narrative: format!("{title} in the shop backend"),
        files: files.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    }
}

fn summary(id: i64, request: &str, completed: &str) -> Doc {
    Doc {
        id: Source::Summary.key(id).unwrap(),
        project: "shop".into(),
        kind: "summary".into(),
        created_at: 2_000 + id,
        title: request.into(),
        subtitle: completed.into(),
        ..Default::default()
    }
}

fn prompt(id: i64, text: &str) -> Doc {
    Doc {
        id: Source::Prompt.key(id).unwrap(),
        project: "shop".into(),
        kind: "prompt".into(),
        created_at: 3_000 + id,
        title: text.into(),
        ..Default::default()
    }
}

fn observations() -> Vec<Doc> {
    vec![
        observation(
            1,
            "Fixed the checkout rounding of cart totals",
            &["src/cart/total.rs"],
        ),
        observation(
            2,
            "Retry failed payment webhooks with backoff",
            &["src/pay/webhook.rs"],
        ),
        observation(
            3,
            "Cart totals now include the shipping fee",
            &["src/cart/total.rs"],
        ),
        observation(
            4,
            "Moved the invoice PDF renderer to a worker",
            &["src/invoice/pdf.rs"],
        ),
    ]
}

fn everything() -> Vec<Doc> {
    let mut docs = observations();
    docs.push(summary(
        1,
        "make checkout totals right",
        "fixed cart totals rounding; zeppelin",
    ));
    docs.push(summary(
        2,
        "speed up invoices",
        "invoice PDF rendering moved off the request path",
    ));
    docs.push(prompt(1, "why are cart totals off by one cent?"));
    docs.push(prompt(2, "please look at the flamingo dashboard"));
    docs
}

fn keys(index: &SearchIndex, query: &str, sources: &[Source]) -> Vec<i64> {
    let filters = Filters::default();
    let mut r = SearchRequest::new(query, Mode::Hybrid, &filters, 20);
    r.sources = sources;
    r.min_score = Some(0.0);
    index
        .search(&r)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn each_kind_is_searched_apart_and_all_merges_them() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    index.index(&everything()).unwrap();
    let status = index.status();
    assert_eq!(
        (status.documents, status.summaries, status.prompts),
        (4, 2, 2)
    );
    assert_eq!(status.vectors, 4);
    assert_eq!(index.last_indexed(Source::Observation), 4);
    assert_eq!(index.last_indexed(Source::Summary), 2);
    assert_eq!(index.last_indexed(Source::Prompt), 2);

    // The default searches observations only.
    let default = keys(&index, "cart totals", &[Source::Observation]);
    assert!(!default.is_empty());
    assert!(default
        .iter()
        .all(|k| Source::of_key(*k).unwrap().0 == Source::Observation));

    let prompts = keys(&index, "flamingo dashboard", &[Source::Prompt]);
    assert_eq!(prompts, [Source::Prompt.key(2).unwrap()]);
    let summaries = keys(&index, "zeppelin", &[Source::Summary]);
    assert_eq!(summaries, [Source::Summary.key(1).unwrap()]);
    // A word only a prompt holds finds nothing among observations.
    assert!(keys(&index, "flamingo", &[Source::Observation]).is_empty());

    let all = keys(&index, "cart totals", &Source::ALL);
    let kinds: std::collections::BTreeSet<Source> =
        all.iter().map(|k| Source::of_key(*k).unwrap().0).collect();
    assert_eq!(kinds.len(), 3, "{all:?}");

    // Merged by relevance: scores never rise down the list.
    let filters = Filters::default();
    let mut r = SearchRequest::new("cart totals", Mode::Text, &filters, 20);
    r.sources = &Source::ALL;
    let hits = index.search(&r).unwrap().hits;
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "{hits:?}"
    );
    // And paging walks that one merged list.
    r.limit = 2;
    r.offset = 1;
    let page: Vec<i64> = index
        .search(&r)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.id)
        .collect();
    let whole: Vec<i64> = hits.iter().map(|h| h.id).skip(1).take(2).collect();
    assert_eq!(page, whole);

    // An observation type leaves the other kinds out.
    let bugfixes = Filters {
        kind: Some("bugfix".into()),
        ..Default::default()
    };
    let mut r = SearchRequest::new("cart totals", Mode::Hybrid, &bugfixes, 20);
    r.sources = &Source::ALL;
    r.min_score = Some(0.0);
    assert!(index.search(&r).unwrap().hits.iter().all(|h| h.id <= 4));
}

#[test]
fn observations_rank_exactly_as_without_the_other_kinds() {
    let alone = tempfile::tempdir().unwrap();
    let with_all = tempfile::tempdir().unwrap();
    let (a, b) = (open(alone.path()), open(with_all.path()));
    a.index(&observations()).unwrap();
    b.index(&everything()).unwrap();
    let filters = Filters::default();
    for query in [
        "cart totals",
        "invoice pdf",
        "payment webhook retry",
        "checkout",
    ] {
        for mode in [Mode::Hybrid, Mode::Text, Mode::Vector] {
            let request = SearchRequest::new(query, mode, &filters, 10);
            let (x, y) = (a.search(&request).unwrap(), b.search(&request).unwrap());
            let ids = |o: &claude_mem_search::SearchOutcome| -> Vec<(i64, f32)> {
                o.hits.iter().map(|h| (h.id, h.score)).collect()
            };
            assert_eq!(ids(&x), ids(&y), "{query:?} {mode:?}");
        }
    }
}

#[test]
fn only_scores_exactly_the_given_keys() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    index.index(&everything()).unwrap();
    let filters = Filters::default();
    for mode in [Mode::Hybrid, Mode::Text, Mode::Vector] {
        let only = [1, 3];
        let mut r = SearchRequest::new("cart totals rounding", mode, &filters, 10);
        r.only = Some(&only);
        r.min_score = Some(0.0);
        let mut found: Vec<i64> = index
            .search(&r)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.id)
            .collect();
        found.sort_unstable();
        assert_eq!(found, [1, 3], "{mode:?}");
        // Keys of one kind restrict only that kind: the others have nothing left to search.
        r.sources = &Source::ALL;
        let all: Vec<i64> = index
            .search(&r)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.id)
            .collect();
        assert!(all.iter().all(|k| only.contains(k)), "{mode:?} {all:?}");
        let none: [i64; 0] = [];
        r.only = Some(&none);
        assert!(index.search(&r).unwrap().hits.is_empty());
    }
}

#[test]
fn deleting_keys_forgets_summaries_and_prompts_too() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    index.index(&everything()).unwrap();
    index
        .delete_many(&[
            2,
            Source::Summary.key(1).unwrap(),
            Source::Prompt.key(2).unwrap(),
        ])
        .unwrap();
    let status = index.status();
    assert_eq!(
        (status.documents, status.summaries, status.prompts),
        (3, 1, 1)
    );
    assert_eq!(status.vectors, 3);
    assert!(keys(&index, "zeppelin", &Source::ALL).is_empty());
    assert!(keys(&index, "flamingo", &Source::ALL).is_empty());
    assert!(!keys(&index, "invoice", &[Source::Summary]).is_empty());
}

#[test]
fn cursors_survive_a_restart_and_a_schema_2_index_keeps_its_observations() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = open(dir.path());
        index.index(&everything()).unwrap();
        index.save().unwrap();
    }
    let index = open(dir.path());
    let status = index.status();
    assert_eq!(status.rebuild_reason, None, "{status:?}");
    assert_eq!(
        (status.documents, status.summaries, status.prompts),
        (4, 2, 2)
    );
    assert_eq!(index.last_indexed(Source::Summary), 2);
    assert_eq!(index.last_indexed(Source::Prompt), 2);
    assert_eq!(keys(&index, "flamingo", &[Source::Prompt]).len(), 1);
    drop(index);

    // What schema 2 left: observations only, a stamp without the new cursors.
    let stamp_path = dir.path().join("index.json");
    let mut stamp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stamp_path).unwrap()).unwrap();
    stamp["schema"] = 2.into();
    let map = stamp.as_object_mut().unwrap();
    map.remove("last_indexed_summary_id");
    map.remove("last_indexed_prompt_id");
    std::fs::write(&stamp_path, serde_json::to_vec(&stamp).unwrap()).unwrap();
    std::fs::remove_dir_all(dir.path().join("summaries")).unwrap();
    std::fs::remove_dir_all(dir.path().join("prompts")).unwrap();

    let index = open(dir.path());
    let status = index.status();
    assert!(
        status
            .rebuild_reason
            .as_deref()
            .unwrap_or("")
            .contains("observations are kept"),
        "{status:?}"
    );
    assert_eq!((status.documents, status.vectors), (4, 4));
    assert_eq!((status.summaries, status.prompts), (0, 0));
    assert_eq!(index.last_indexed(Source::Observation), 4);
    assert_eq!(index.last_indexed(Source::Summary), 0);
    assert_eq!(keys(&index, "cart totals", &[Source::Observation]).len(), 2);
    drop(index);

    // The upgrade is stamped: the next start opens everything as it is.
    let index = open(dir.path());
    assert_eq!(index.status().rebuild_reason, None);

    // Any other schema is rebuilt from scratch.
    drop(index);
    let mut stamp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stamp_path).unwrap()).unwrap();
    stamp["schema"] = 1.into();
    std::fs::write(&stamp_path, serde_json::to_vec(&stamp).unwrap()).unwrap();
    let index = open(dir.path());
    assert_eq!(index.status().documents, 0);
    assert_eq!(index.last_indexed(Source::Observation), 0);
}

#[test]
fn documents_from_rows_carry_keys() {
    use claude_mem_core::model::{StreamPrompt, SummaryRow};
    let s = SummaryRow {
        id: 5,
        session_id: "s".into(),
        project: "p".into(),
        prompt_number: 1,
        request: "fix login".into(),
        investigated: "read auth.rs".into(),
        learned: "tokens expire".into(),
        completed: "login fixed".into(),
        next_steps: "".into(),
        compressor: "local".into(),
        model: None,
        created_at: 9,
    };
    let d = Doc::from_summary(&s).unwrap();
    assert_eq!(Source::of_key(d.id), Some((Source::Summary, 5)));
    assert_eq!(
        (d.title.as_str(), d.subtitle.as_str()),
        ("fix login", "login fixed")
    );
    assert_eq!(d.narrative, "tokens expire\nread auth.rs");
    assert!(d.facts.is_empty());
    let p = StreamPrompt {
        id: 6,
        session_id: "s".into(),
        project: "p".into(),
        prompt_number: 2,
        prompt: "why does login fail".into(),
        created_at: 10,
    };
    let d = Doc::from_prompt(&p).unwrap();
    assert_eq!(Source::of_key(d.id), Some((Source::Prompt, 6)));
    assert_eq!(d.title, "why does login fail");
    assert!(Doc::from_prompt(&StreamPrompt { id: -1, ..p }).is_none());
}
