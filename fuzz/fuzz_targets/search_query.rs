//! What a user's search text goes through before Tantivy runs it: the code tokenizer, the phrase split and
//! the query builder, then a real query against a small in-memory index; plus the date parser behind
//! the `since` filter. A query must never panic or make the index fail, whatever it contains.
#![no_main]

use claude_mem_fuzz::code_tokenizer::tokenize;
use claude_mem_fuzz::text_index::TextIndex;
use claude_mem_fuzz::{clock, Doc, Filters};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The API refuses longer queries before they reach the index.
const MAX_QUERY: usize = 2000;

fn index() -> &'static TextIndex {
    static INDEX: OnceLock<TextIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let idx = TextIndex::in_memory().expect("in-memory index");
        let docs = [
            (
                1,
                "api",
                "Fixed parseConfigFile crash on empty input",
                "src/config/parse.rs",
            ),
            (2, "api", "Added WAL mode to the store", "src/store/db.rs"),
            (
                3,
                "web",
                "Refactored useAuth hook",
                "web/src/hooks/useAuth.ts",
            ),
            (
                4,
                "api",
                "Parse errors now carry the line number",
                "HTTPServerError2.kt",
            ),
        ];
        let docs: Vec<Doc> = docs
            .iter()
            .map(|(id, project, title, file)| Doc {
                id: *id,
                project: (*project).into(),
                kind: "bugfix".into(),
                created_at: id * 10,
                title: (*title).into(),
                narrative: format!("{title} in {file}; see \"the notes\" for ünïcödé"),
                files: vec![(*file).into()],
                ..Default::default()
            })
            .collect();
        idx.add(&docs).expect("add");
        idx.commit().expect("commit");
        idx
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if text.len() > MAX_QUERY {
        return;
    }
    for t in tokenize(&text) {
        assert!(!t.text.is_empty(), "empty token from {text:?}");
        assert!(
            text.get(t.offset_from..t.offset_to).is_some(),
            "token offsets {}..{} off a char boundary in {text:?}",
            t.offset_from,
            t.offset_to
        );
    }
    let filters = Filters {
        project: (flags & 1 != 0).then(|| "api".to_owned()),
        kind: (flags & 2 != 0).then(|| "bugfix".to_owned()),
        since_ms: (flags & 4 != 0).then_some(25),
        until_ms: (flags & 0x80 != 0).then_some(35),
    };
    let limit = usize::from(flags >> 3) % 50 + 1;
    let hits = index()
        .search(&text, &filters, limit)
        .unwrap_or_else(|e| panic!("query {text:?} made the index fail: {e}"));
    assert!(hits.len() <= limit);
    let _ = clock::parse_instant(&text);
});
