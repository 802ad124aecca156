use super::*;
use crate::model::NewMemory;
use crate::model::ObservationType;
use crate::store::MANUAL;
use crate::Store;

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
        author: None,
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
        language: Lang::En,
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
        ObservationRow {
            compressor: "anthropic".into(),
            ..obs(
                2,
                "bugfix",
                "Fixed double charge on retry",
                &["src/pay.rs"],
                3,
            )
        },
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
    // The decision first, then the fix, then other work by recency: the newer rename before the
    // month-old footer change.
    assert_eq!(block.observation_ids, vec![4, 2, 3, 1]);
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
        .map(|i| obs(i, "change", &format!("Change {i}"), &["a.rs"], 10))
        .collect();
    let ids = |entries: Vec<Entry>| entries.iter().map(|e| e.newest().id).collect::<Vec<_>>();
    let a = ids(rank(&candidates, NOW, 40));
    let b = ids(rank(&candidates, NOW, 40));
    assert_eq!(a, b);
    assert_eq!(
        a,
        (1..=50).rev().collect::<Vec<_>>(),
        "ties break by newest id"
    );
    // The same card fifty times is one routine line, about the newest.
    let same: Vec<_> = (1..=50)
        .map(|i| obs(i, "change", "Same", &["a.rs"], 10))
        .collect();
    let folded = rank(&same, NOW, 40);
    assert_eq!(folded.len(), 1);
    assert_eq!(folded[0].tier, Tier::Routine);
    assert_eq!(folded[0].newest().id, 50);
    assert_eq!(folded[0].members.len(), 50);
}

#[test]
fn a_fresh_summary_was_written_just_now() {
    let mut s = summary();
    s.created_at = NOW;
    let block = render(&request(2000), Some(&s), &[]);
    assert!(
        block.text.contains("## Last session (just now)\n"),
        "{}",
        block.text
    );
    assert!(!block.text.contains("now ago"));
    const MINUTE: i64 = 60_000;
    for (age, phrase) in [
        (0, "just now"),
        (MINUTE - 1, "just now"),
        // A clock a little ahead of the summary's writer.
        (-5 * MINUTE, "just now"),
        (MINUTE, "1m ago"),
        (59 * MINUTE, "59m ago"),
        (60 * MINUTE, "1h ago"),
        (24 * HOUR - 1, "23h ago"),
        (24 * HOUR, "1d ago"),
        (14 * 24 * HOUR - 1, "13d ago"),
        (14 * 24 * HOUR, "2w ago"),
    ] {
        assert_eq!(format_ago(NOW, NOW - age), phrase, "{age} ms");
    }
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

/// A local-rules edit card, as the local compressor writes them.
fn edit_card(id: i64, file: &str, kind: &str, age_hours: i64, session: &str) -> ObservationRow {
    ObservationRow {
        session_id: session.into(),
        subtitle: format!("1 change(s) to {file}"),
        narrative: format!("Edited {file} while working on \"fix the lints\" (1 change(s))."),
        facts: vec![format!("{file}: `let x = 1;` → `let _x = 1;`")],
        concepts: vec!["code-change".into(), kind.into(), "rust".into()],
        ..obs(id, kind, &format!("Edited {file}"), &[file], age_hours)
    }
}

/// A local-rules shell card: a check that passed (`Ok(result)`) or failed (`Err(error line)`).
fn run_card(
    id: i64,
    command: &str,
    outcome: Result<&str, &str>,
    age_hours: i64,
    session: &str,
) -> ObservationRow {
    let mut facts = vec![format!("ran `{command}`")];
    let mut concepts = vec!["shell".to_string()];
    let title = match outcome {
        Ok(result) => {
            facts.push(result.into());
            concepts.push("testing".into());
            format!("Tests: {result} ({command})")
        }
        Err(line) => {
            facts.push(format!("failed: {line}"));
            facts.push("Exit code 101".into());
            concepts.extend(["error".into(), "failure".into(), "testing".into()]);
            format!("`{command}` failed: {line}")
        }
    };
    ObservationRow {
        session_id: session.into(),
        narrative: format!("Ran `{command}`."),
        facts,
        concepts,
        ..obs(id, "discovery", &title, &[], age_hours)
    }
}

fn check_card(id: i64, command: &str, age_hours: i64, session: &str) -> ObservationRow {
    ObservationRow {
        session_id: session.into(),
        narrative: format!("Ran `{command}`. Output: Finished `dev` profile"),
        facts: vec![format!("ran `{command}`")],
        concepts: vec!["shell".into(), "build".into()],
        ..obs(
            id,
            "discovery",
            &format!("Built/checked: {command}"),
            &[],
            age_hours,
        )
    }
}

/// What a real project's store looks like after a few days of lint and test loops: dozens of routine
/// cards, with what matters (a saved decision, a gotcha, a real fix, a feature) scattered among them and
/// older than most of the routine.
fn busy_project() -> Vec<ObservationRow> {
    let mut rows = Vec::new();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    // The decision was saved by hand ten days ago; the gotcha was found five days ago.
    rows.push(ObservationRow {
        session_id: "notes:shop".into(),
        compressor: MANUAL.into(),
        narrative: "Every payment call carries the order's idempotency key; never retry without it."
            .into(),
        facts: vec![],
        ..obs(
            next(),
            "decision",
            "Payments are retried only with the idempotency key",
            &[],
            24 * 10,
        )
    });
    rows.push(ObservationRow {
        compressor: "anthropic".into(),
        concepts: vec!["sqlite".into(), "gotcha".into()],
        ..obs(
            next(),
            "discovery",
            "SQLite WAL needs the -shm file beside the db: copying the .db alone loses commits",
            &["src/store/backup.rs"],
            24 * 5,
        )
    });
    // A fix the local rules saw happen: `cargo test` failed, the edit, then it passed.
    rows.push(ObservationRow {
        facts: vec![
            "fixed `cargo test -p pay`: failed before (test retry::twice ... FAILED), passed after"
                .into(),
        ],
        concepts: vec![
            "code-change".into(),
            "bugfix".into(),
            crate::compress::local::FIXED_FAILURE.into(),
        ],
        title: "Edited src/pay/retry.rs, fixing `cargo test -p pay`".into(),
        ..edit_card(next(), "src/pay/retry.rs", "bugfix", 30, "s3")
    });
    rows.push(ObservationRow {
        compressor: "anthropic".into(),
        ..obs(
            next(),
            "feature",
            "Added CSV export of orders",
            &["src/export.rs"],
            26,
        )
    });
    // Then two days of lint/test/format loops, newest last. The prompt said "fix the lints", so the old
    // rules typed half of these edits as bugfixes.
    for round in 0..12 {
        let age = 24 - 2 * round;
        let session = if round < 6 { "s4" } else { "s5" };
        let kind = if round % 2 == 0 { "bugfix" } else { "change" };
        rows.push(edit_card(next(), "src/lib.rs", kind, age, session));
        if round < 7 {
            let outcome = if round < 2 {
                Err("test pay::rounding ... FAILED")
            } else {
                Ok("test result: ok. 48 passed; 0 failed")
            };
            let command = format!(
                "cargo test -p shop-core {}",
                ["", "pay::", "--lib"][round as usize % 3]
            );
            rows.push(run_card(next(), command.trim_end(), outcome, age, session));
        }
        if round < 5 {
            rows.push(check_card(
                next(),
                "cargo clippy --all-targets -- -D warnings",
                age,
                session,
            ));
        }
        if round < 4 {
            rows.push(check_card(next(), "cargo fmt --all", age, session));
            rows.push(edit_card(
                next(),
                "src/web/routes.rs",
                "change",
                age,
                session,
            ));
        }
    }
    rows
}

fn observation_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("- #")).collect()
}

#[test]
fn what_was_kept_comes_first_and_routine_is_folded() {
    let rows = busy_project();
    let block = render(&request(2000), Some(&summary()), &rows);
    println!("{}", block.text);
    let lines = observation_lines(&block.text);
    // The summary leads, then the gotcha and the saved decision (the newer first), then the real fix.
    assert!(block.text.find("## Last session") < block.text.find("## Observations"));
    assert!(
        lines[0].contains("discovery · SQLite WAL needs the -shm file"),
        "{}",
        block.text
    );
    assert!(
        lines[1].contains("decision · Payments are retried only with the idempotency key"),
        "{}",
        block.text
    );
    assert!(
        lines[2].contains("bugfix · Edited src/pay/retry.rs, fixing `cargo test -p pay` · 1d"),
        "{}",
        block.text
    );
    assert!(
        lines[3].contains("feature · Added CSV export"),
        "{}",
        block.text
    );
    // Twelve edits of one file are one line, and so are seven test runs, five clippy and four fmt runs.
    let about = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(about("src/lib.rs"), 1, "{}", block.text);
    let lib = lines.iter().find(|l| l.contains("src/lib.rs")).unwrap();
    assert!(lib.contains("Edited src/lib.rs 12× in 2 sessions"), "{lib}");
    assert_eq!(about("Ran `cargo test"), 1, "{}", block.text);
    let tests = lines
        .iter()
        .find(|l| l.contains("Ran `cargo test"))
        .unwrap();
    assert!(
        tests.contains(
            "Ran `cargo test` 7× in 2 sessions (2 failed), last: test result: ok. 48 passed"
        ),
        "{tests}"
    );
    assert_eq!(about("cargo clippy"), 1, "{}", block.text);
    assert!(
        about("Ran `cargo clippy --all-targets -- -D warnings` 5×") == 1,
        "{}",
        block.text
    );
    assert_eq!(about("cargo fmt"), 1, "{}", block.text);
    assert_eq!(about("src/web/routes.rs"), 1, "{}", block.text);
    assert_eq!(lines.len(), 9, "{}", block.text);
    assert_eq!(block.observation_ids.len(), lines.len());
    // The old prompt-word bugfixes are not mistaken for fixes: no folded line is ranked above real work.
    assert!(!lines[..4].iter().any(|l| l.contains("src/lib.rs")));
    assert!(block.tokens <= 2000);
}

#[test]
fn tight_budgets_keep_what_matters_and_stay_within_budget() {
    let rows = busy_project();
    for budget in [150, 200, 300, 400, 600, 800, 1200, 2000, 4000] {
        for summary in [None, Some(summary())] {
            let block = render(&request(budget), summary.as_ref(), &rows);
            assert!(block.tokens <= budget, "{} > {budget}", block.tokens);
            assert_eq!(block.tokens, estimate_tokens(&block.text));
            let lines = observation_lines(&block.text);
            // Whatever fits is a prefix of the ranking: the kept memories go first.
            assert!(
                lines
                    .iter()
                    .take(2)
                    .all(|l| l.contains("idempotency key") || l.contains("SQLite WAL")),
                "{budget}: {}",
                block.text
            );
            if budget >= 400 {
                assert!(lines.len() >= 2, "{budget}: {}", block.text);
            }
        }
    }
}

#[test]
fn kept_memories_take_at_most_half_the_lines() {
    let mut rows: Vec<_> = (1..=30)
        .map(|i| ObservationRow {
            compressor: MANUAL.into(),
            session_id: "notes:shop".into(),
            ..obs(i, "discovery", &format!("Saved note {i}"), &[], 24 * 20 + i)
        })
        .collect();
    rows.extend((31..=40).map(|i| ObservationRow {
        compressor: "anthropic".into(),
        ..obs(i, "feature", &format!("Feature {i}"), &[], 41 - i)
    }));
    let mut req = request(4000);
    req.max_observations = 10;
    let block = render(&req, None, &rows);
    // Five notes (the newest), then this week's features ahead of the older notes.
    assert_eq!(
        block.observation_ids,
        vec![1, 2, 3, 4, 5, 40, 39, 38, 37, 36]
    );
}

#[tokio::test]
async fn a_saved_memory_older_than_the_recent_window_still_leads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let saved = store
        .save_memory(NewMemory {
            project: "shop".into(),
            title: "Never run migrations from the web process".into(),
            text: "Migrations run from the deploy job only; the web process assumes them done."
                .into(),
            kind: ObservationType::Discovery,
            concepts: vec!["gotcha".into()],
            files: vec![],
        })
        .await
        .unwrap();
    // More routine cards than the recent window holds, all newer than the note.
    let now = crate::clock::now_ms();
    store
        .write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at)
                     VALUES ('s1', 'shop', ?1, ?1)",
                )
                .bind(now)
                .execute(&mut *conn)
                .await?;
                for i in 0..(CANDIDATES + 20) {
                    sqlx::query(
                        "INSERT INTO observations (session_id, project, type, title, facts, files_modified,
                             compressor, created_at)
                         VALUES ('s1', 'shop', 'change', 'Edited src/lib.rs', '[]', '[\"src/lib.rs\"]',
                             'local', ?1)",
                    )
                    .bind(now + 1 + i)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    let mut req = request(2000);
    req.now_ms = now + 10_000;
    let block = build_context(&store, &req).await.unwrap();
    assert_eq!(block.observation_ids[0], saved.id, "{}", block.text);
    assert_eq!(block.observation_ids.len(), 2, "{}", block.text);
    assert!(
        block
            .text
            .contains(&format!("Edited src/lib.rs {}×", CANDIDATES)),
        "{}",
        block.text
    );
    assert_eq!(block.candidates, CANDIDATES as usize + 1);
    store.close().await;
}

#[test]
fn chinese_settings_write_the_fixed_text_in_chinese_and_english_stays_as_it_was() {
    let candidates = vec![
        obs(
            1,
            "bugfix",
            "Fixed double charge on retry",
            &["src/pay.rs"],
            3,
        ),
        obs(2, "change", "Same edit", &["a.rs"], 5),
        obs(3, "change", "Same edit", &["a.rs"], 4),
    ];
    let zh = ContextRequest {
        language: Lang::from_code("zh-CN"),
        ..request(2000)
    };
    let block = render(&zh, Some(&summary()), &candidates);
    let t = &block.text;
    assert!(t.starts_with("# claude-mem：shop 的记忆\n"), "{t}");
    assert!(t.contains("## 上次会话（2 小时前）\n"), "{t}");
    assert!(
        t.contains("- 下一步: Backfill keys for pending orders"),
        "{t}"
    );
    assert!(
        t.contains("## 观察记录（重要的在前，重复的已合并；共 3 条近期记录）\n"),
        "{t}"
    );
    assert!(t.contains("· 更早 #2"), "folded repeats: {t}");
    assert!(
        t.contains("get_observations") && t.contains("获取完整条目"),
        "{t}"
    );
    for english in [
        "memories of",
        "Last session",
        "Next steps",
        "Observations",
        "earlier",
        "Fetch full",
    ] {
        assert!(!t.contains(english), "{english:?} left in English: {t}");
    }
    // Memories are shown as written; only the frame is translated.
    assert!(t.contains("Fixed double charge on retry"));
    assert_eq!(block.tokens, estimate_tokens(t));
    let resume = ContextRequest {
        source: ContextSource::Resume,
        ..zh.clone()
    };
    assert!(render(&resume, None, &candidates)
        .text
        .starts_with("# claude-mem：本会话上次活动以来 shop 的新记忆\n"));
    assert_eq!(format_ago_in(Lang::Zh, NOW, NOW), "刚刚");
    assert_eq!(format_ago_in(Lang::Zh, NOW, NOW - 5 * 60_000), "5 分钟前");
    assert!(render_recall_in(Lang::Zh, &candidates[..1], 300, NOW).starts_with("可能相关的记忆"));

    // A language without a translation falls back to English, byte for byte.
    let english = render(&request(2000), Some(&summary()), &candidates);
    for code in ["fr", "", "en-GB"] {
        let other = ContextRequest {
            language: Lang::from_code(code),
            ..request(2000)
        };
        assert_eq!(
            render(&other, Some(&summary()), &candidates).text,
            english.text,
            "{code}"
        );
    }
    assert!(english.text.starts_with("# claude-mem: memories of shop\n"));
}

/// Cards as the local compressor writes them now, in `lang`, stored as rows from `id` on.
fn local_cards(
    lang: Lang,
    id: i64,
    session: &str,
    age_hours: i64,
    events: &[serde_json::Value],
) -> Vec<ObservationRow> {
    use crate::model::{QueuedEvent, SessionContext};
    let ctx = SessionContext {
        session_id: session.into(),
        project: "shop".into(),
        cwd: "/home/dev/shop".into(),
        prompts: vec![(1, "keep going".into())],
    };
    let events: Vec<QueuedEvent> = events
        .iter()
        .enumerate()
        .map(|(n, payload)| QueuedEvent {
            id: n as i64 + 1,
            session_id: session.into(),
            event_name: "PostToolUse".into(),
            tool_name: payload["tool_name"].as_str().map(str::to_owned),
            prompt_number: 1,
            created_at: 0,
            attempts: 0,
            payload: payload.clone(),
        })
        .collect();
    let lang = local::Lang::from_code(match lang {
        Lang::En => "en",
        Lang::Zh => "zh",
    });
    local::compress_events_in(lang, &ctx, &events, &HashSet::new(), 0.3)
        .into_iter()
        .enumerate()
        .map(|(n, d)| ObservationRow {
            kind: d.kind.as_str().into(),
            title: d.title,
            subtitle: d.subtitle,
            narrative: d.narrative,
            facts: d.facts,
            concepts: d.concepts,
            files_read: d.files_read,
            files_modified: d.files_modified,
            keywords: d.keywords,
            source_event_ids: d.source_event_ids,
            session_id: session.into(),
            ..obs(id + n as i64, "change", "", &[], age_hours)
        })
        .collect()
}

fn local_edit(file: &str, old: &str, new: &str) -> serde_json::Value {
    serde_json::json!({
        "tool_name": "Edit",
        "tool_use_id": format!("e-{old}"),
        "tool_input": {"file_path": format!("/home/dev/shop/{file}"), "old_string": old, "new_string": new},
        "tool_response": {"filePath": format!("/home/dev/shop/{file}")},
    })
}

fn local_bash(command: &str, stdout: &str) -> serde_json::Value {
    serde_json::json!({
        "tool_name": "Bash",
        "tool_use_id": format!("b-{command}"),
        "tool_input": {"command": command},
        "tool_response": {"stdout": stdout, "stderr": "", "interrupted": false},
    })
}

#[test]
fn routine_cards_of_the_local_rules_fold_in_both_languages() {
    for lang in [Lang::En, Lang::Zh] {
        let mut rows = Vec::new();
        // The same file edited in five turns, `cargo test` run alone in four, `npm run lint` in three
        // (a session in each language writes its own words).
        // Titles differ (each names what it changed), so only the card shapes can fold them.
        for n in 0..5 {
            let old = format!("fn step{n}() {{}}");
            let new = format!("fn step{}() {{}}", n + 10);
            rows.extend(local_cards(
                lang,
                10 + n,
                "s1",
                10 - n,
                &[local_edit("src/lib.rs", &old, &new)],
            ));
        }
        for n in 0..4 {
            rows.extend(local_cards(
                lang,
                20 + n,
                if n < 2 { "s1" } else { "s2" },
                8 - n,
                &[local_bash(
                    &format!("cargo test -p part{n}"),
                    "test result: ok. 48 passed; 0 failed; 0 ignored",
                )],
            ));
        }
        for n in 0..3 {
            rows.extend(local_cards(
                lang,
                30 + n,
                "s2",
                6 - n,
                &[local_bash("npm run lint", "")],
            ));
        }
        // Work done once stays a line of its own.
        rows.extend(local_cards(
            lang,
            40,
            "s2",
            1,
            &[local_edit(
                "src/pay.rs",
                "fn charge() {}",
                "fn charge_once() {}",
            )],
        ));
        assert_eq!(rows.len(), 13, "one card per turn: {rows:#?}");
        let titles: Vec<&str> = rows.iter().map(|o| o.title.as_str()).collect();
        let distinct: HashSet<&str> = titles.iter().copied().collect();
        assert_eq!(distinct.len(), 13 - 2, "{titles:?}");
        assert!(
            !titles.iter().any(|t| t.starts_with("Edited ")),
            "the cards are today's shapes: {titles:?}"
        );
        if lang == Lang::Zh {
            assert!(
                rows[5].facts[0].starts_with("运行 `"),
                "{:?}",
                rows[5].facts
            );
        }

        let req = ContextRequest {
            language: lang,
            ..request(2000)
        };
        let block = render(&req, None, &rows);
        let lines = observation_lines(&block.text);
        let about = |needle: &str| -> Vec<&str> {
            lines
                .iter()
                .copied()
                .filter(|l| l.contains(needle))
                .collect()
        };
        let lib = about("src/lib.rs");
        assert_eq!(lib.len(), 1, "{lang:?}: {}", block.text);
        assert!(lib[0].contains("5×"), "{lang:?}: {}", lib[0]);
        let tests = about("cargo test");
        assert_eq!(tests.len(), 1, "{lang:?}: {}", block.text);
        assert!(tests[0].contains("4×"), "{lang:?}: {}", tests[0]);
        assert!(tests[0].contains("48 passed"), "{lang:?}: {}", tests[0]);
        let lint = about("npm run lint");
        assert_eq!(lint.len(), 1, "{lang:?}: {}", block.text);
        assert!(lint[0].contains("3×"), "{lang:?}: {}", lint[0]);
        assert_eq!(about("src/pay.rs").len(), 1, "{lang:?}: {}", block.text);
        // Four lines: the one-off edit first, then the three folded routines.
        assert_eq!(lines.len(), 4, "{lang:?}: {}", block.text);
        assert!(lines[0].contains("src/pay.rs"), "{lang:?}: {}", block.text);
    }
}

#[test]
fn chinese_command_facts_are_commands() {
    let mut o = obs(1, "change", "运行 `cargo build`", &[], 1);
    o.facts = vec!["运行 `cargo build`".into()];
    assert_eq!(command_of(&o), Some("cargo build"));
    o.facts = vec!["ran `cargo build --release`".into()];
    assert_eq!(command_of(&o), Some("cargo build --release"));
    o.facts = vec!["commit: ran `x`".into()];
    assert_eq!(command_of(&o), None);
    // A card titled by what changed in one file is an edit of that file, in either language.
    let mut e = obs(2, "change", "修改 src/a.rs 中的 parse", &["src/a.rs"], 1);
    assert_eq!(routine_key(&e), "edit:src/a.rs");
    e.title = "Changed parse in src/a.rs — tests pass".into();
    assert_eq!(routine_key(&e), "edit:src/a.rs");
    // Not when another compressor wrote it, or when a commit message titles it.
    e.compressor = "anthropic".into();
    assert!(routine_key(&e).starts_with("title:"));
    let c = obs(3, "change", "api: cursor pagination", &["src/a.rs"], 1);
    assert!(routine_key(&c).starts_with("title:"));
}
