use super::*;
use serde_json::json;

fn ctx() -> SessionContext {
    SessionContext {
        session_id: "s".into(),
        project: "acme-api".into(),
        cwd: "/home/dev/work/acme-api".into(),
        prompts: vec![(1, "fix the login crash when the password is empty".into())],
    }
}

fn ev(id: i64, name: &str, payload: Value) -> QueuedEvent {
    QueuedEvent {
        id,
        session_id: "s".into(),
        event_name: name.into(),
        tool_name: payload
            .get("tool_name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        prompt_number: 1,
        created_at: 0,
        attempts: 0,
        payload,
    }
}

fn tool(id: i64, name: &str, input: Value, response: Value) -> QueuedEvent {
    ev(
        id,
        "PostToolUse",
        json!({"tool_name": name, "tool_input": input, "tool_response": response, "tool_use_id": format!("t{id}")}),
    )
}

fn run(events: &[QueuedEvent]) -> Vec<ObservationDraft> {
    compress_events(&ctx(), events, &HashSet::new(), 0.3)
}

#[test]
fn edits_become_one_memory_per_file() {
    let events = [
        tool(
            1,
            "Edit",
            json!({"file_path": "/home/dev/work/acme-api/src/auth/login.rs", "old_string": "if password.len() > 0 {", "new_string": "fn validate_password(p: &str) -> bool {"}),
            json!({}),
        ),
        tool(
            2,
            "Edit",
            json!({"file_path": "/home/dev/work/acme-api/src/auth/login.rs", "old_string": "a", "new_string": "b"}),
            json!({}),
        ),
    ];
    let out = run(&events);
    assert_eq!(out.len(), 1);
    let o = &out[0];
    // The prompt says "fix", but nothing shows that these edits fixed anything.
    assert_eq!(o.kind, ObservationType::Change);
    assert_eq!(o.title, "Edited src/auth/login.rs");
    assert_eq!(o.files_modified, vec!["src/auth/login.rs"]);
    assert_eq!(o.source_event_ids, vec![1, 2]);
    assert!(
        o.keywords.contains(&"validate_password".to_string()),
        "{:?}",
        o.keywords
    );
    assert!(
        o.narrative.contains("fix the login crash"),
        "{}",
        o.narrative
    );
    assert!(o.concepts.contains(&"rust".to_string()));
}

fn bash_ok(id: i64, command: &str, stdout: &str) -> QueuedEvent {
    tool(
        id,
        "Bash",
        json!({"command": command}),
        json!({"stdout": stdout, "stderr": "", "interrupted": false}),
    )
}

fn bash_failed(id: i64, command: &str, error: &str) -> QueuedEvent {
    ev(
        id,
        "PostToolUseFailure",
        json!({"tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": format!("t{id}"), "error": error}),
    )
}

fn edit(id: i64, file: &str) -> QueuedEvent {
    tool(
        id,
        "Edit",
        json!({"file_path": format!("/home/dev/work/acme-api/{file}"), "old_string": "a", "new_string": "b"}),
        json!({}),
    )
}

fn kind_of(out: &[ObservationDraft], title: &str) -> ObservationType {
    out.iter()
        .find(|o| o.title == title)
        .unwrap_or_else(|| panic!("no {title:?} in {out:#?}"))
        .kind
}

#[test]
fn the_type_of_an_edit_follows_the_events_not_the_prompt() {
    let with_prompt = |prompt: &str| {
        let mut c = ctx();
        c.prompts = vec![(1, prompt.into())];
        c
    };
    // Words that used to decide the type decide nothing now.
    for prompt in [
        "fix the typo in the README",
        "refactor: rename the login module",
        "add a retry to the client",
        "please look at this",
    ] {
        let out = compress_events(
            &with_prompt(prompt),
            &[edit(1, "src/auth/login.rs")],
            &HashSet::new(),
            0.3,
        );
        assert_eq!(out[0].kind, ObservationType::Change, "{prompt}");
        assert!(!out[0].concepts.contains(&FIXED_FAILURE.to_string()));
    }
}

#[test]
fn an_edit_between_a_failing_and_a_passing_run_is_a_bugfix() {
    let events = [
        bash_failed(
            1,
            "cargo test -p auth",
            "Exit code 101\ntest login::empty_password ... FAILED\nthread panicked at src/auth/login.rs:12",
        ),
        edit(2, "src/auth/login.rs"),
        edit(3, "src/auth/mod.rs"),
        bash_ok(
            4,
            "cargo test -p auth login::",
            "test result: ok. 3 passed; 0 failed; 0 ignored",
        ),
    ];
    // Even a prompt with no word about fixing.
    let mut c = ctx();
    c.prompts = vec![(1, "the login tests".into())];
    let out = compress_events(&c, &events, &HashSet::new(), 0.3);
    let login = out
        .iter()
        .find(|o| o.title == "Edited src/auth/login.rs, fixing `cargo test -p auth`")
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(login.kind, ObservationType::Bugfix);
    assert!(login.concepts.contains(&FIXED_FAILURE.to_string()));
    assert!(
        login.facts[0].starts_with("fixed `cargo test -p auth`: failed before (")
            && login.facts[0].contains("FAILED"),
        "{:?}",
        login.facts
    );
    assert!(
        login.narrative.contains("passed after it"),
        "{}",
        login.narrative
    );
    // Every edit of the turn between the failure and the pass shares the fix.
    assert_eq!(
        kind_of(&out, "Edited src/auth/mod.rs, fixing `cargo test -p auth`"),
        ObservationType::Bugfix
    );
    // The failing run is a failure of the tests, not a plain lookup.
    let failed = out.iter().find(|o| o.title.contains("failed")).unwrap();
    assert_eq!(failed.kind, ObservationType::Discovery);
    for c in ["failure", "testing", "error"] {
        assert!(
            failed.concepts.contains(&c.to_string()),
            "{:?}",
            failed.concepts
        );
    }
}

#[test]
fn no_fix_without_a_failure_before_and_a_pass_after_in_the_same_turn() {
    let still_failing = [
        bash_failed(1, "cargo test", "Exit code 101\ntest a ... FAILED"),
        edit(2, "src/a.rs"),
        bash_failed(3, "cargo test", "Exit code 101\ntest a ... FAILED"),
    ];
    assert_eq!(
        kind_of(&run(&still_failing), "Edited src/a.rs"),
        ObservationType::Change
    );
    // It passed, but it had not failed before the edit.
    let passed_before = [
        bash_ok(1, "cargo test", "test result: ok. 1 passed; 0 failed"),
        edit(2, "src/a.rs"),
        bash_failed(3, "cargo test", "Exit code 101\ntest a ... FAILED"),
        bash_ok(4, "cargo build", "Finished"),
    ];
    assert_eq!(
        kind_of(&run(&passed_before), "Edited src/a.rs"),
        ObservationType::Change
    );
    // A different command passing is no evidence.
    let other_command = [
        bash_failed(1, "cargo test", "Exit code 101\ntest a ... FAILED"),
        edit(2, "src/a.rs"),
        bash_ok(3, "cargo build", "Finished"),
    ];
    assert_eq!(
        kind_of(&run(&other_command), "Edited src/a.rs"),
        ObservationType::Change
    );
    // A trivial command that failed and then worked fixed nothing worth the name.
    let trivial = [
        bash_failed(
            1,
            "cat notes.txt",
            "cat: notes.txt: No such file or directory",
        ),
        edit(2, "src/a.rs"),
        bash_ok(3, "cat notes.txt", "hello"),
    ];
    assert_eq!(
        kind_of(&run(&trivial), "Edited src/a.rs"),
        ObservationType::Change
    );
    // The pass belongs to the next prompt turn: not shown to be this edit's doing.
    let mut later = bash_ok(3, "cargo test", "test result: ok. 1 passed; 0 failed");
    later.prompt_number = 2;
    let next_turn = [
        bash_failed(1, "cargo test", "Exit code 101\ntest a ... FAILED"),
        edit(2, "src/a.rs"),
        later,
    ];
    assert_eq!(
        kind_of(&run(&next_turn), "Edited src/a.rs"),
        ObservationType::Change
    );
}

#[test]
fn a_rejected_push_says_why() {
    let events = [bash_failed(
        1,
        "git push origin main",
        "Exit code 1\nTo github.com:acme/api.git\n ! [rejected]        main -> main (fetch first)\nerror: failed to push some refs to 'github.com:acme/api.git'",
    )];
    let out = run(&events);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].title,
        "`git push origin main` rejected: ! [rejected]        main -> main (fetch first)"
    );
    assert_eq!(out[0].kind, ObservationType::Discovery);
    for c in ["failure", "version-control"] {
        assert!(
            out[0].concepts.contains(&c.to_string()),
            "{:?}",
            out[0].concepts
        );
    }
}

#[test]
fn a_created_file_is_a_feature() {
    let mut c = ctx();
    c.prompts = vec![(1, "wire up metrics".into())];
    let events = [tool(
        1,
        "Write",
        json!({"file_path": "/home/dev/work/acme-api/src/metrics.rs", "content": "pub struct Metrics {}\n"}),
        json!({"type": "create"}),
    )];
    let out = compress_events(&c, &events, &HashSet::new(), 0.3);
    assert_eq!(out[0].kind, ObservationType::Feature);
    assert_eq!(out[0].title, "Created src/metrics.rs");
}

#[test]
fn reads_of_one_prompt_merge_and_a_single_read_is_below_threshold() {
    let one = [tool(
        1,
        "Read",
        json!({"file_path": "/home/dev/work/acme-api/README.md"}),
        json!("..."),
    )];
    assert!(run(&one).is_empty());
    let many = [
        tool(
            1,
            "Read",
            json!({"file_path": "/home/dev/work/acme-api/src/a.rs"}),
            json!(""),
        ),
        tool(
            2,
            "Read",
            json!({"file_path": "/home/dev/work/acme-api/src/b.rs"}),
            json!(""),
        ),
    ];
    let out = run(&many);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].files_read, vec!["src/a.rs", "src/b.rs"]);
    assert!(out[0].title.starts_with("Explored 2 files"));
}

#[test]
fn bash_commands_are_classified_and_trivial_ones_dropped() {
    let events = [
        tool(
            1,
            "Bash",
            json!({"command": "ls -la"}),
            json!({"stdout": "a b", "stderr": "", "interrupted": false}),
        ),
        tool(
            2,
            "Bash",
            json!({"command": "cargo test -p store", "description": "Run store tests"}),
            json!({"stdout": "running 3 tests\ntest result: ok. 3 passed; 0 failed; 0 ignored", "stderr": "", "interrupted": false}),
        ),
        tool(
            3,
            "Bash",
            json!({"command": "git commit -m \"Fix empty password crash\""}),
            json!({"stdout": "[main abc] Fix", "stderr": "", "interrupted": false}),
        ),
    ];
    let out = run(&events);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(
        out[0].title.starts_with("Tests: test result: ok. 3 passed"),
        "{}",
        out[0].title
    );
    assert!(out[0].concepts.contains(&"testing".to_string()));
    assert_eq!(out[1].kind, ObservationType::Change);
    assert_eq!(out[1].title, "Committed: Fix empty password crash");
}

#[test]
fn failures_keep_the_error() {
    let events = [ev(
        4,
        "PostToolUseFailure",
        json!({"tool_name": "Bash", "tool_input": {"command": "cargo build"}, "tool_use_id": "x", "error": "Exit code 101\nerror[E0308]: mismatched types\n --> src/main.rs:3:5"}),
    )];
    let out = run(&events);
    assert_eq!(out.len(), 1);
    assert!(
        out[0]
            .title
            .contains("failed: error[E0308]: mismatched types"),
        "{}",
        out[0].title
    );
    assert!(out[0].facts.iter().any(|f| f == "Exit code 101"));
    assert!(out[0].concepts.contains(&"error".to_string()));
}

#[test]
fn a_failed_read_of_a_missing_file_makes_nothing() {
    let events = [ev(
        5,
        "PostToolUseFailure",
        json!({"tool_name": "Read", "tool_input": {"file_path": "/x/nope.rs"}, "error": "File does not exist."}),
    )];
    assert!(run(&events).is_empty());
    // …unless the threshold says keep everything.
    assert_eq!(
        compress_events(&ctx(), &events, &HashSet::new(), 0.0).len(),
        1
    );
}

#[test]
fn searches_record_pattern_and_hits() {
    let events = [tool(
        6,
        "Grep",
        json!({"pattern": "fn parse_token", "path": "/home/dev/work/acme-api/src"}),
        json!({"filenames": ["/home/dev/work/acme-api/src/lexer.rs"], "numFiles": 1}),
    )];
    let out = run(&events);
    assert_eq!(out[0].title, "Searched for `fn parse_token`");
    assert_eq!(out[0].files_read, vec!["src/lexer.rs"]);
    assert!(out[0].keywords.contains(&"parse_token".to_string()));
}

#[test]
fn post_tool_batch_does_not_duplicate_post_tool_use() {
    let fixture_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/hooks");
    let load = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixture_dir.join(name)).unwrap()).unwrap()
    };
    let events = [
        ev(1, "PostToolUse", load("PostToolUse.Bash.json")),
        ev(2, "PostToolBatch", load("PostToolBatch.json")),
    ];
    let tools = tool_events(&events, &HashSet::new());
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].event_id, 1);
    // Alone, the batch's calls are used.
    let tools = tool_events(&events[1..], &HashSet::new());
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].tool_name, "Bash");
    // …unless an earlier batch already stored the PostToolUse.
    let seen: HashSet<String> = ["toolu_mock0001".to_string()].into();
    assert!(tool_events(&events[1..], &seen).is_empty());
}

#[test]
fn mcp_and_unknown_tools_are_described() {
    let events = [
        tool(
            1,
            "mcp__tiny__echo",
            json!({"text": "hi"}),
            json!([{"type": "text", "text": "MCP-ECHO: hi"}]),
        ),
        tool(2, "FutureTool", json!({"x": 1}), json!({})),
    ];
    let out = run(&events);
    assert_eq!(out[0].title, "Used tiny echo");
    assert!(out[0].narrative.contains("MCP-ECHO: hi"));
    assert_eq!(out[1].title, "Used FutureTool");
}

#[test]
fn summary_collects_request_work_and_open_failure() {
    let events = [
        tool(
            1,
            "Read",
            json!({"file_path": "/home/dev/work/acme-api/src/auth/login.rs"}),
            json!(""),
        ),
        tool(
            2,
            "Edit",
            json!({"file_path": "/home/dev/work/acme-api/src/auth/login.rs", "old_string": "a", "new_string": "b"}),
            json!({}),
        ),
        ev(
            3,
            "PostToolUseFailure",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "error": "Exit code 101\ntest auth::empty ... FAILED"}),
        ),
    ];
    let obs = run(&events);
    let s = summarize(
        &ctx(),
        &events,
        &obs,
        Some("I changed the check; one test still fails."),
    );
    assert_eq!(s.request, "fix the login crash when the password is empty");
    assert!(
        s.investigated.contains("src/auth/login.rs"),
        "{}",
        s.investigated
    );
    assert!(
        s.completed.contains("Changed src/auth/login.rs"),
        "{}",
        s.completed
    );
    assert!(s.completed.contains("one test still fails"));
    assert!(s.next_steps.contains("cargo test"), "{}", s.next_steps);
    assert!(
        s.learned.contains("FAILED") || s.learned.contains("Exit code 101"),
        "{}",
        s.learned
    );
}

#[test]
fn clip_respects_char_boundaries() {
    assert_eq!(clip("héllo wörld", 4), "héll…");
    assert_eq!(clip("short", 10), "short");
}
