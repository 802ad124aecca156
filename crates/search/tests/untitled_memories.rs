//! A memory saved without a title is shown under its first line, but that derived title is not indexed
//! as a title: it only repeats the narrative, and weighting it as a title let the first 80 characters of
//! every untitled memory outrank better matches further in (LoCoMo, issue 16). Its embedding is
//! unchanged.

use claude_mem_core::model::ObservationRow;
use claude_mem_search::{first_line_title, title_repeats_narrative, Doc};

fn memory(title: &str, narrative: &str) -> ObservationRow {
    ObservationRow {
        id: 7,
        session_id: "notes:p".into(),
        project: "p".into(),
        prompt_number: 0,
        kind: "discovery".into(),
        title: title.into(),
        subtitle: String::new(),
        narrative: narrative.into(),
        facts: Vec::new(),
        concepts: Vec::new(),
        files_read: Vec::new(),
        files_modified: Vec::new(),
        keywords: Vec::new(),
        source_event_ids: Vec::new(),
        input_tokens: 0,
        output_tokens: 0,
        compressor: "manual".into(),
        model: None,
        created_at: 1,
        author: None,
    }
}

#[test]
fn a_title_that_is_the_first_line_of_the_text_is_recognised() {
    let long = "Caroline: I went to a LGBTQ support group yesterday and it was so powerful, I keep thinking";
    let derived: String = long.chars().take(80).collect::<String>() + "…";
    assert!(title_repeats_narrative(&derived, long));
    assert!(title_repeats_narrative("Short note", "Short note"));
    assert!(title_repeats_narrative(
        " First line ",
        "\n First line\nsecond line"
    ));
    // A shorter title that only begins the narrative is a real title (the local compressor writes
    // "Edited <file>" over "Edited <file> (2 change(s); …)").
    assert!(!title_repeats_narrative(
        "Edited web/src/hooks/useAuth.ts",
        "Edited web/src/hooks/useAuth.ts (1 change(s); symbols: useAuth)."
    ));
    assert!(!title_repeats_narrative(
        "Why the cache was flaky",
        "The TTL was read in seconds"
    ));
    assert!(!title_repeats_narrative("", ""));
}

#[test]
fn a_compressor_observation_is_indexed_and_embedded_as_before() {
    let narrative = "Edited web/src/hooks/useAuth.ts (1 change(s); symbols: useAuth).";
    let mut row = memory("Edited web/src/hooks/useAuth.ts", narrative);
    row.subtitle = "touches useAuth".into();
    let doc = Doc::from(&row);
    assert_eq!(doc.title, "Edited web/src/hooks/useAuth.ts");
    assert_eq!(
        doc.embedding_text(),
        format!("Edited web/src/hooks/useAuth.ts. touches useAuth. {narrative}")
    );
}

#[test]
fn an_untitled_memory_is_indexed_without_its_derived_title_but_embedded_as_before() {
    let text = "Melanie: I ran a charity race for mental health last Saturday";
    let doc = Doc::from(&memory(&first_line_title(text), text));
    assert_eq!(
        doc.title, "",
        "no title boost for a title that repeats the text"
    );
    assert_eq!(doc.narrative, text);
    // The embedded text is byte for byte what it was when the derived title was indexed: vectors
    // already stored stay valid, and MiniLM retrieves better with the opening line said twice.
    assert_eq!(doc.embedding_text(), format!("{text}. . {text}"));

    let long = format!(
        "{} and then some more words after the cut",
        "word ".repeat(20)
    );
    let doc = Doc::from(&memory(&first_line_title(&long), &long));
    assert_eq!(doc.title, "");
    assert_eq!(
        doc.embedding_text(),
        format!("{}. . {long}", first_line_title(&long))
    );
    assert!(first_line_title(&long).ends_with('…'));

    let titled = Doc::from(&memory("Charity race", text));
    assert_eq!(titled.title, "Charity race");
    assert_eq!(titled.embedding_text(), format!("Charity race. . {text}"));
}

#[test]
fn the_derived_title_is_the_first_non_blank_line() {
    assert_eq!(
        first_line_title("\n  \n  Fix the cache  \nmore"),
        "Fix the cache"
    );
    let long = "x".repeat(81);
    assert_eq!(first_line_title(&long), format!("{}…", "x".repeat(80)));
    assert_eq!(first_line_title(&"y".repeat(80)), "y".repeat(80));
}
