use super::*;
use crate::compress::ObservationType;
use crate::store::NewMemory;

const HOUR: i64 = 3_600_000;
const NOW: i64 = 1_780_000_000_000;

fn obs(id: i64, kind: &str, title: &str, modified: &[&str], age_hours: i64) -> ObservationRow {
    ObservationRow {
        id,
        session_id: "s1".into(),
        project: "shop".into(),
        prompt_number: 1,
        kind: kind.into(),
        title: title.into(),
        subtitle: String::new(),
        narrative: "A narrative long enough to cost something when fetched in full. ".repeat(4),
        facts: vec!["a fact".into()],
        concepts: vec![],
        files_read: vec![],
        files_modified: modified.iter().map(|s| s.to_string()).collect(),
        keywords: vec![],
        source_event_ids: vec![],
        input_tokens: 0,
        output_tokens: 0,
        compressor: "local".into(),
        model: None,
        created_at: NOW - age_hours * HOUR,
    }
}

fn summary() -> SummaryRow {
    SummaryRow {
        id: 7,
        session_id: "s0".into(),
        project: "shop".into(),
        prompt_number: 3,
        request: "Make checkout retries idempotent".into(),
        investigated: String::new(),
        learned: "Stripe retries reuse the idempotency key".into(),
        completed: "Added the key to every payment call".into(),
        next_steps: "Backfill keys for pending orders".into(),
        compressor: "local".into(),
        model: None,
        created_at: NOW - 2 * HOUR,
    }
}

fn request(budget: usize) -> ContextRequest {
    ContextRequest {
        project: "shop".into(),
        session_id: Some("s2".into()),
        source: ContextSource::Startup,
        resumed_after_ms: None,
        budget_tokens: budget,
        max_observations: 40,
        now_ms: NOW,
    }
}

#[test]
fn block_has_summary_then_ranked_index_then_how_to_fetch() {
    let candidates = vec![
        obs(
            1,
            "change",
            "Old tweak to the footer",
            &["web/footer.css"],
            24 * 30,
        ),
        obs(
            2,
            "bugfix",
            "Fixed double charge on retry",
            &["src/pay.rs"],
            3,
        ),
        obs(3, "change", "Renamed a variable", &["src/pay.rs"], 1),
        obs(
            4,
            "decision",
            "Chose Postgres advisory locks",
            &["src/lock.rs"],
            5,
        ),
    ];
    let block = render(&request(2000), Some(&summary()), &candidates);
    let t = &block.text;
    assert!(t.starts_with("# claude-mem: memories of shop\n"), "{t}");
    let summary_at = t.find("## Last session (2h ago)").expect("summary section");
    let index_at = t.find("## Observations").expect("index section");
    assert!(summary_at < index_at);
    assert!(t.contains("- Next steps: Backfill keys for pending orders"));
    assert!(t.contains("get_observations"));
    // The fix on the hot file outranks the newer rename of it (type weight), the decision on a cooler
    // file follows, and the month-old footer change comes last.
    assert_eq!(block.observation_ids, vec![2, 3, 4, 1]);
    assert!(t.contains("- #2 bugfix · Fixed double charge on retry · src/pay.rs · 3h · ~"));
    assert_eq!(block.summary_id, Some(7));
    assert_eq!(block.tokens, estimate_tokens(t));
}

#[test]
fn budget_is_respected_by_dropping_the_least_relevant_lines() {
    let candidates: Vec<_> = (1..=200)
        .map(|i| {
            obs(
                i,
                "feature",
                &format!("Feature number {i} with a longish title"),
                &[],
                i,
            )
        })
        .collect();
    for budget in [200, 400, 800, 2000] {
        let block = render(&request(budget), Some(&summary()), &candidates);
        assert!(block.tokens <= budget, "{} > {budget}", block.tokens);
        assert!(!block.observation_ids.is_empty());
        // Newest first among equals: the cut keeps the most recent.
        assert_eq!(block.observation_ids[0], 1);
    }
    let small = render(&request(400), None, &candidates);
    let large = render(&request(2000), None, &candidates);
    assert!(small.observation_ids.len() < large.observation_ids.len());
    assert_eq!(
        large.observation_ids.len(),
        40,
        "max_observations caps the list"
    );
}

#[test]
fn nothing_to_say_gives_an_empty_block() {
    let block = render(&request(2000), None, &[]);
    assert_eq!(block.text, "");
    assert_eq!(block.tokens, 0);
}

#[test]
fn ranking_is_deterministic() {
    let candidates: Vec<_> = (1..=50)
        .map(|i| obs(i, "change", "Same", &["a.rs"], 10))
        .collect();
    let a: Vec<i64> = rank(&candidates, NOW).iter().map(|o| o.id).collect();
    let b: Vec<i64> = rank(&candidates, NOW).iter().map(|o| o.id).collect();
    assert_eq!(a, b);
    assert_eq!(a[0], 50, "ties break by newest id");
}

#[test]
fn ages_and_tokens() {
    assert_eq!(format_age(NOW, NOW), "now");
    assert_eq!(format_age(NOW, NOW - 5 * 60_000), "5m");
    assert_eq!(format_age(NOW, NOW - 3 * HOUR), "3h");
    assert_eq!(format_age(NOW, NOW - 50 * HOUR), "2d");
    assert_eq!(format_age(NOW, NOW - 24 * 20 * HOUR), "2w");
    assert_eq!(format_age(NOW, NOW - 24 * 100 * HOUR), "3mo");
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("abcd"), 2);
    assert_eq!(estimate_tokens(&"x".repeat(320)), 100);
}

#[test]
fn recall_fits_its_budget() {
    let hits = vec![
        obs(
            1,
            "bugfix",
            "Fixed double charge on retry",
            &["src/pay.rs"],
            3,
        ),
        obs(2, "decision", "Chose advisory locks", &["src/lock.rs"], 3),
    ];
    let text = render_recall(&hits, 300, NOW);
    assert!(text.contains("#1 bugfix") && text.contains("#2 decision"));
    assert!(estimate_tokens(&text) <= 300);
    assert_eq!(render_recall(&hits, 20, NOW), "");
}

#[tokio::test]
async fn built_from_the_store_and_resume_only_adds_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let saved = store
        .save_memory(NewMemory {
            project: "shop".into(),
            title: "Deploys go through the staging gate".into(),
            text: "Never deploy to prod without the staging smoke test.".into(),
            kind: ObservationType::Decision,
            concepts: vec![],
            files: vec![],
        })
        .await
        .unwrap();
    store
        .save_memory(NewMemory {
            project: "other".into(),
            title: "Unrelated".into(),
            text: "Another project's note.".into(),
            kind: ObservationType::Discovery,
            concepts: vec![],
            files: vec![],
        })
        .await
        .unwrap();
    let mut req = request(2000);
    req.now_ms = crate::clock::now_ms();
    let block = build_context(&store, &req).await.unwrap();
    assert_eq!(block.observation_ids, vec![saved.id]);
    assert!(block.text.contains("Deploys go through the staging gate"));
    assert!(!block.text.contains("Unrelated"));

    // A resume after the note was written adds nothing: the resumed conversation already has it.
    req.source = ContextSource::Resume;
    req.resumed_after_ms = Some(saved.created_at);
    let resumed = build_context(&store, &req).await.unwrap();
    assert_eq!(resumed.text, "");
    // Resumed from before it: the note is new to that conversation.
    req.resumed_after_ms = Some(saved.created_at - 1);
    let resumed = build_context(&store, &req).await.unwrap();
    assert_eq!(resumed.observation_ids, vec![saved.id]);
    assert!(resumed.text.contains("since this session was last active"));
    store.close().await;
}
