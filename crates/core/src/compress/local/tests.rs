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

fn with_prompt(prompt: &str) -> SessionContext {
    let mut c = ctx();
    c.prompts = vec![(1, prompt.into())];
    c
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

fn read(id: i64, file: &str) -> QueuedEvent {
    tool(
        id,
        "Read",
        json!({"file_path": format!("/home/dev/work/acme-api/{file}")}),
        json!("..."),
    )
}

fn grep(id: i64, pattern: &str, hits: &[&str]) -> QueuedEvent {
    let hits: Vec<String> = hits
        .iter()
        .map(|h| format!("/home/dev/work/acme-api/{h}"))
        .collect();
    tool(
        id,
        "Grep",
        json!({"pattern": pattern, "path": "/home/dev/work/acme-api/src"}),
        json!({"filenames": hits, "numFiles": hits.len()}),
    )
}

fn only(out: &[ObservationDraft]) -> &ObservationDraft {
    assert_eq!(out.len(), 1, "{out:#?}");
    &out[0]
}

fn has(list: &[String], needle: &str) -> bool {
    list.iter().any(|f| f.contains(needle))
}

#[test]
fn edits_of_a_turn_become_one_memory_titled_by_what_changed() {
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
    let o = only(&out);
    // The prompt says "fix", but nothing shows that these edits fixed anything.
    assert_eq!(o.kind, ObservationType::Change);
    assert_eq!(o.title, "Changed validate_password in src/auth/login.rs");
    assert_eq!(o.files_modified, vec!["src/auth/login.rs"]);
    assert_eq!(o.source_event_ids, vec![1, 2]);
    assert!(
        o.keywords.contains(&"validate_password".to_string()),
        "{:?}",
        o.keywords
    );
    assert!(o.keywords.contains(&"rust".to_string()), "{:?}", o.keywords);
    assert!(o.concepts.contains(&"what-changed".to_string()));
    assert!(
        o.concepts.iter().all(|c| CONCEPTS.contains(&c.as_str())),
        "{:?}",
        o.concepts
    );
    assert_eq!(
        o.narrative.matches("fix the login crash").count(),
        1,
        "{}",
        o.narrative
    );
    assert!(
        has(
            &o.facts,
            "`if password.len() > 0 {` → `fn validate_password"
        ),
        "{:?}",
        o.facts
    );
}

use crate::compress::CONCEPTS;

#[test]
fn the_type_of_an_edit_follows_the_events_not_the_prompt() {
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
fn a_prompt_saying_fix_with_only_reads_is_not_a_bugfix() {
    let events = [
        read(1, "src/auth/login.rs"),
        read(2, "src/auth/mod.rs"),
        grep(3, "fn login", &["src/auth/login.rs"]),
    ];
    let out = compress_events(
        &with_prompt("fix the login bug please"),
        &events,
        &HashSet::new(),
        0.3,
    );
    let o = only(&out);
    assert_eq!(o.kind, ObservationType::Discovery);
    assert!(o.title.starts_with("Explored `fn login`"), "{}", o.title);
    assert_eq!(o.files_read, vec!["src/auth/login.rs", "src/auth/mod.rs"]);
}

#[test]
fn fail_edit_pass_is_a_bugfix_titled_by_the_fix() {
    let events = [
        bash_failed(
            1,
            "cargo test -p auth",
            "Exit code 101\nrunning 3 tests\ntest login::empty_password ... FAILED\n\nthread 'login::empty_password' panicked at src/auth/login.rs:12:5:\nassertion `left == right` failed\n  left: 500\n right: 400\ntest result: FAILED. 2 passed; 1 failed",
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
    let out = compress_events(
        &with_prompt("the login tests"),
        &events,
        &HashSet::new(),
        0.3,
    );
    let o = only(&out);
    assert_eq!(o.kind, ObservationType::Bugfix);
    assert_eq!(
        o.title,
        "Fixed login::empty_password in src/auth/login.rs, src/auth/mod.rs — tests pass"
    );
    assert!(o.concepts.contains(&FIXED_FAILURE.to_string()));
    assert!(o.concepts.contains(&"problem-solution".to_string()));
    assert!(
        has(&o.facts, "fixed `cargo test -p auth`: failed before (login::empty_password: assertion `left == right` failed; left: 500; right: 400)"),
        "{:?}",
        o.facts
    );
    assert!(
        o.narrative.contains("passed after the edits"),
        "{}",
        o.narrative
    );
    assert_eq!(o.source_event_ids, vec![1, 2, 3, 4]);
}

#[test]
fn a_failure_never_fixed_is_a_failure_not_a_bugfix() {
    let lone = [bash_failed(
        1,
        "cargo test",
        "Exit code 101\ntest auth::empty ... FAILED\ntest result: FAILED. 0 passed; 1 failed",
    )];
    let out = run(&lone);
    let o = only(&out);
    assert_ne!(o.kind, ObservationType::Bugfix);
    assert_ne!(o.kind, ObservationType::Discovery);
    assert!(
        o.concepts.contains(&FAILURE.to_string()),
        "{:?}",
        o.concepts
    );
    assert_eq!(o.title, "Tests fail: `cargo test` — auth::empty");
    assert_eq!(o.facts[0], "ran `cargo test`");
    assert!(has(&o.facts, "failing test: auth::empty"), "{:?}", o.facts);

    let still_failing = [
        bash_failed(1, "cargo test", "Exit code 101\ntest a ... FAILED"),
        edit(2, "src/a.rs"),
        bash_failed(3, "cargo test", "Exit code 101\ntest a ... FAILED"),
    ];
    let out = run(&still_failing);
    let o = only(&out);
    assert_eq!(o.kind, ObservationType::Change);
    assert_eq!(o.title, "Changed src/a.rs — tests fail: a");
    assert!(o.concepts.contains(&FAILURE.to_string()));
    // It passed, but it had not failed before the edit.
    let passed_before = [
        bash_ok(1, "cargo test", "test result: ok. 1 passed; 0 failed"),
        edit(2, "src/a.rs"),
        bash_failed(3, "cargo test", "Exit code 101\ntest a ... FAILED"),
        bash_ok(4, "cargo build", "Finished"),
    ];
    assert_eq!(run(&passed_before)[0].kind, ObservationType::Change);
    // A different command passing is no evidence.
    let other_command = [
        bash_failed(1, "cargo test", "Exit code 101\ntest a ... FAILED"),
        edit(2, "src/a.rs"),
        bash_ok(3, "cargo build", "Finished"),
    ];
    assert_eq!(run(&other_command)[0].kind, ObservationType::Change);
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
    assert_eq!(run(&trivial)[0].kind, ObservationType::Change);
    // The pass belongs to the next prompt turn: not shown to be this edit's doing.
    let mut later = bash_ok(3, "cargo test", "test result: ok. 1 passed; 0 failed");
    later.prompt_number = 2;
    let next_turn = [
        bash_failed(1, "cargo test", "Exit code 101\ntest a ... FAILED"),
        edit(2, "src/a.rs"),
        later,
    ];
    let out = run(&next_turn);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].kind, ObservationType::Change);
    assert!(!out[0].concepts.contains(&FIXED_FAILURE.to_string()));
}

#[test]
fn a_failure_fixed_without_an_edit_is_a_gotcha() {
    let events = [
        bash_failed(
            1,
            "cargo build",
            "Exit code 101\nerror: failed to run custom build command for `openssl-sys v0.9.102`\nCould not find directory of OpenSSL installation",
        ),
        bash_ok(2, "sudo apt-get install -y libssl-dev", "Setting up libssl-dev"),
        bash_ok(3, "cargo build", "Finished `dev` profile"),
    ];
    let o = &run(&events)[0];
    assert_ne!(o.kind, ObservationType::Bugfix);
    assert!(
        o.concepts.contains(&"gotcha".to_string()),
        "{:?}",
        o.concepts
    );
    assert!(
        o.narrative
            .contains("passed after `sudo apt-get install -y libssl-dev`"),
        "{}",
        o.narrative
    );
    assert!(has(&o.facts, "openssl-sys"), "{:?}", o.facts);
}

#[test]
fn chained_commits_are_commits_titled_by_their_message() {
    let events = [bash_ok(
        1,
        "git add -A && git commit -m \"Fix token refresh\"",
        "[main 1a2b3c4] Fix token refresh\n 2 files changed",
    )];
    let o = &run(&events)[0];
    assert_eq!(o.title, "Fix token refresh");
    assert!(has(&o.facts, "commit: Fix token refresh"), "{:?}", o.facts);
    assert_ne!(o.kind, ObservationType::Discovery);

    // Claude Code's own way: a heredoc message, then a push; the edits before it are the same work.
    let events = [
        edit(1, "src/auth/tokens.rs"),
        bash_ok(2, "cargo test -p auth", "test result: ok. 9 passed; 0 failed"),
        bash_ok(
            3,
            "git add -A && git commit -m \"$(cat <<'EOF'\nAdd JWT refresh leeway\n\nCo-Authored-By: Claude <noreply@anthropic.com>\nEOF\n)\"",
            "[main 9f8e7d6] Add JWT refresh leeway",
        ),
        bash_ok(4, "git push origin main", "To github.com:acme/api.git\n   1a2b..9f8e  main -> main"),
    ];
    let out = run(&events);
    let o = only(&out);
    assert_eq!(o.title, "Add JWT refresh leeway");
    assert_eq!(o.kind, ObservationType::Feature);
    assert_eq!(o.files_modified, vec!["src/auth/tokens.rs"]);
    assert!(has(&o.facts, "pushed: origin main"), "{:?}", o.facts);
    assert!(
        o.narrative.contains("pushed to origin main"),
        "{}",
        o.narrative
    );
    let s = summarize(&ctx(), &events, &out, None);
    assert!(
        s.completed.contains("Add JWT refresh leeway"),
        "{}",
        s.completed
    );
}

#[test]
fn work_after_a_commit_is_a_second_memory_and_the_prompt_is_quoted_once() {
    let events = [
        edit(1, "src/a.rs"),
        bash_ok(
            2,
            "git commit -am 'Refactor the parser'",
            "[main 1] Refactor",
        ),
        edit(3, "src/b.rs"),
        bash_ok(4, "git commit -am 'Add the lexer'", "[main 2] Add"),
        bash_ok(5, "git log --oneline -3", "2 Add\n1 Refactor"),
    ];
    let out = run(&events);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].title, "Refactor the parser");
    assert_eq!(out[0].kind, ObservationType::Refactor);
    assert_eq!(out[1].title, "Add the lexer");
    let quoted = out
        .iter()
        .filter(|o| o.narrative.contains("fix the login crash"))
        .count();
    assert_eq!(quoted, 1);
    // The `git log` looked around: not cited, so the processor marks it skipped.
    assert!(out.iter().all(|o| !o.source_event_ids.contains(&5)));
}

#[test]
fn failed_commands_keep_the_real_error_text() {
    let events = [bash_failed(
        1,
        "python3 /x/missing.py",
        "Exit code 2\npython3: can't open file '/x/missing.py': [Errno 2] No such file or directory",
    )];
    let o = &run(&events)[0];
    assert!(
        o.title.starts_with(
            "`python3 /x/missing.py` failed: python3: can't open file '/x/missing.py': [Errno 2]"
        ),
        "{}",
        o.title
    );
    assert!(
        has(
            &o.facts,
            "python3: can't open file '/x/missing.py': [Errno 2] No such file or directory"
        ),
        "{:?}",
        o.facts
    );
    assert!(!has(&o.facts, "Exit code"), "{:?}", o.facts);

    let events = [bash_failed(
        4,
        "cargo build",
        "Exit code 101\n   Compiling api v0.1.0\nerror[E0308]: mismatched types\n --> src/main.rs:3:5",
    )];
    let o = &run(&events)[0];
    assert_eq!(
        o.title,
        "Build fails: `cargo build` — error[E0308]: mismatched types"
    );

    let events = [bash_failed(
        5,
        "python -m pytest tests/",
        "Exit code 1\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    import redis\nModuleNotFoundError: No module named 'redis'",
    )];
    let o = &run(&events)[0];
    assert!(
        o.title
            .contains("ModuleNotFoundError: No module named 'redis'"),
        "{}",
        o.title
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
    let o = only(&out);
    assert_eq!(
        o.title,
        "Push origin main rejected: ! [rejected] main -> main (fetch first)"
    );
    assert_eq!(o.kind, ObservationType::Change);
    assert!(o.concepts.contains(&FAILURE.to_string()));
}

#[test]
fn shell_chains_are_classified_by_the_meaningful_program() {
    let title = |cmd: &str, out: &str| run(&[bash_ok(1, cmd, out)])[0].title.clone();
    assert_eq!(
        title(
            "cd web && npm test 2>&1 | tail -5",
            "Tests: 12 passed, 12 total"
        ),
        "Tests pass: `npm test 2>&1` (Tests: 12 passed, 12 total)"
    );
    assert_eq!(
        title("cargo add serde tokio --features full", "Adding serde"),
        "Added dependencies serde, tokio (cargo)"
    );
    assert_eq!(
        title(
            "DATABASE_URL=sqlite:x.db sqlx migrate run",
            "Applied 3 migrations"
        ),
        "Ran database migration: `DATABASE_URL=sqlite:x.db sqlx migrate run`"
    );
    assert_eq!(
        title("fly deploy --remote-only", "v12 deployed"),
        "Deployed: `fly deploy --remote-only`"
    );
    // Only looking around: nothing worth remembering.
    assert!(run(&[bash_ok(1, "ls -la && git status", "a b")]).is_empty());
    // A test run piped through `tail` exits 0 and still failed.
    let o = &run(&[bash_ok(
        1,
        "cargo test 2>&1 | tail -3",
        "test parse::empty ... FAILED\ntest result: FAILED. 4 passed; 1 failed",
    )])[0];
    assert!(
        o.title.starts_with("Tests fail: `cargo test 2>&1`"),
        "{}",
        o.title
    );
}

#[test]
fn routine_reruns_fold_into_one_line() {
    let events = [
        bash_ok(1, "cargo clippy --all-targets", "Finished"),
        bash_ok(2, "cargo clippy --all-targets", "Finished"),
        bash_ok(3, "cargo clippy --all-targets -- -D warnings", "Finished"),
    ];
    let out = run(&events);
    let o = only(&out);
    let lines: Vec<&String> = o
        .facts
        .iter()
        .filter(|f| f.contains("cargo clippy"))
        .collect();
    assert_eq!(lines.len(), 2, "{:?}", o.facts);
    assert!(
        has(&o.facts, "ran 3× (0 failed), last: ok"),
        "{:?}",
        o.facts
    );
    // An edit in between is a change: two runs, two lines.
    let events = [
        bash_failed(1, "cargo fmt --check", "Exit code 1\nDiff in src/a.rs"),
        edit(2, "src/a.rs"),
        bash_ok(3, "cargo fmt --check", ""),
    ];
    let o = &run(&events)[0];
    assert!(!has(&o.facts, "×"), "{:?}", o.facts);
}

#[test]
fn a_typical_turn_makes_at_most_three_memories() {
    let events = [
        grep(1, "fn refresh", &["src/auth/tokens.rs"]),
        read(2, "src/auth/tokens.rs"),
        read(3, "src/auth/mod.rs"),
        read(4, "tests/auth.rs"),
        grep(5, "LEEWAY", &[]),
        bash_failed(
            6,
            "cargo test -p auth",
            "Exit code 101\ntest tokens::refresh_expired ... FAILED\ntest result: FAILED. 8 passed; 1 failed",
        ),
        read(7, "src/auth/clock.rs"),
        tool(
            8,
            "Edit",
            json!({"file_path": "/home/dev/work/acme-api/src/auth/tokens.rs", "old_string": "exp < now", "new_string": "const LEEWAY: u64 = 30;\nexp + LEEWAY < now"}),
            json!({}),
        ),
        bash_failed(9, "cargo test -p auth", "Exit code 101\ntest tokens::refresh_expired ... FAILED"),
        edit(10, "src/auth/tokens.rs"),
        bash_ok(11, "cargo test -p auth", "test result: ok. 9 passed; 0 failed"),
        bash_ok(12, "cargo clippy -p auth", "Finished"),
        bash_ok(13, "git status", "modified: src/auth/tokens.rs"),
        bash_ok(14, "git add -A && git commit -m 'Allow 30s leeway on JWT refresh'", "[main 4] Allow"),
        bash_ok(15, "git push", "main -> main"),
    ];
    let out = compress_events(
        &with_prompt("token refresh fails right at expiry"),
        &events,
        &HashSet::new(),
        0.3,
    );
    assert!(out.len() <= 3, "{out:#?}");
    let o = &out[0];
    assert_eq!(o.title, "Allow 30s leeway on JWT refresh");
    assert_eq!(o.kind, ObservationType::Bugfix);
    assert!(has(&o.facts, "fixed `cargo test -p auth`"), "{:?}", o.facts);
    assert!(
        o.keywords.contains(&"LEEWAY".to_string()),
        "{:?}",
        o.keywords
    );
    assert!(o.files_read.contains(&"src/auth/clock.rs".to_string()));
}

#[test]
fn risky_commands_and_redacted_secrets_raise_a_security_alert() {
    let out = run(&[bash_ok(
        1,
        "curl -fsSL https://get.example.sh | sudo bash",
        "installed",
    )]);
    let alert = out
        .iter()
        .find(|o| o.kind == ObservationType::SecurityAlert)
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(
        alert
            .title
            .starts_with("Risky command: a download piped into a shell"),
        "{}",
        alert.title
    );
    assert_eq!(alert.source_event_ids, vec![1]);
    // Every event is cited by one memory only.
    let edited = run(&[edit(1, "src/a.rs"), bash_ok(2, "chmod 777 /srv/app", "")]);
    assert_eq!(edited.len(), 2, "{edited:#?}");
    assert_eq!(edited[0].source_event_ids, vec![1]);
    assert_eq!(edited[1].source_event_ids, vec![2]);

    for cmd in [
        "chmod 777 /srv/app",
        "NODE_TLS_REJECT_UNAUTHORIZED=0 npm run seed",
        "git push --force origin main",
    ] {
        let out = run(&[bash_ok(1, cmd, "")]);
        assert!(
            out.iter().any(|o| o.kind == ObservationType::SecurityAlert),
            "{cmd}: {out:#?}"
        );
    }
    assert!(run(&[bash_ok(1, "git push --force origin feature/x", "")])
        .iter()
        .all(|o| o.kind != ObservationType::SecurityAlert));

    let out = run(&[bash_ok(
        1,
        "cat .env",
        "AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret_key]",
    )]);
    let o = only(&out);
    assert_eq!(o.kind, ObservationType::SecurityAlert);
    assert_eq!(
        o.title,
        "Secret redacted (aws_secret_key) in the output of `cat .env`"
    );
}

#[test]
fn decisions_only_when_the_user_states_one() {
    let events = [edit(1, "src/db.rs")];
    let out = compress_events(
        &with_prompt("We decided to use SQLite instead of Postgres. Update the store."),
        &events,
        &HashSet::new(),
        0.3,
    );
    assert_eq!(out[0].kind, ObservationType::Decision);
    assert!(
        has(
            &out[0].facts,
            "decision: We decided to use SQLite instead of Postgres"
        ),
        "{:?}",
        out[0].facts
    );
    let out = compress_events(
        &with_prompt("should we use SQLite?"),
        &events,
        &HashSet::new(),
        0.3,
    );
    assert_eq!(out[0].kind, ObservationType::Change);
}

#[test]
fn chinese_templates() {
    let c = with_prompt("修复登录测试");
    let events = [
        bash_failed(
            1,
            "cargo test -p auth",
            "Exit code 101\ntest login::empty ... FAILED",
        ),
        edit(2, "src/auth/login.rs"),
        bash_ok(
            3,
            "cargo test -p auth",
            "test result: ok. 3 passed; 0 failed",
        ),
    ];
    let out = compress_events_in(Lang::from_code("zh-CN"), &c, &events, &HashSet::new(), 0.3);
    let o = only(&out);
    assert_eq!(
        o.title,
        "修复了 src/auth/login.rs 中的 login::empty — 测试通过"
    );
    assert!(
        o.narrative.starts_with("请求：“修复登录测试”。"),
        "{}",
        o.narrative
    );
    assert!(o.narrative.contains("修改后通过"), "{}", o.narrative);
    assert!(
        has(&o.facts, "修复 `cargo test -p auth`：之前失败"),
        "{:?}",
        o.facts
    );
    let s = summarize_in(Lang::Zh, &c, &events, &out, Some("好了。"));
    assert!(s.completed.contains("修复了"), "{}", s.completed);
    assert!(
        s.completed.contains("Claude 最后说：好了。"),
        "{}",
        s.completed
    );
    assert!(
        s.learned.contains("修复 `cargo test -p auth`"),
        "{}",
        s.learned
    );
    assert!(s.investigated.starts_with("运行了"), "{}", s.investigated);
    // Other languages fall back to English.
    assert_eq!(Lang::from_code("fr"), Lang::En);
    let en = compress_events_in(Lang::from_code("fr"), &c, &events, &HashSet::new(), 0.3);
    assert!(en[0].title.starts_with("Fixed "), "{}", en[0].title);
}

#[tokio::test]
async fn the_compressor_writes_in_its_language() {
    let events = [edit(1, "src/a.rs")];
    let zh = LocalCompressor::new(0.3, "zh");
    let c = zh.compress(&ctx(), &events).await.unwrap();
    assert_eq!(c.observations[0].title, "修改 src/a.rs");
    let en = LocalCompressor::default();
    let c = en.compress(&ctx(), &events).await.unwrap();
    assert_eq!(c.observations[0].title, "Changed src/a.rs");
}

#[test]
fn a_created_file_is_a_feature() {
    let events = [tool(
        1,
        "Write",
        json!({"file_path": "/home/dev/work/acme-api/src/metrics.rs", "content": "pub struct Metrics {}\n"}),
        json!({"type": "create"}),
    )];
    let out = compress_events(
        &with_prompt("wire up metrics"),
        &events,
        &HashSet::new(),
        0.3,
    );
    assert_eq!(out[0].kind, ObservationType::Feature);
    assert_eq!(out[0].title, "Created Metrics in src/metrics.rs");
}

#[test]
fn a_single_read_is_below_threshold_and_reads_merge() {
    assert!(run(&[read(1, "README.md")]).is_empty());
    let out = run(&[read(1, "src/a.rs"), read(2, "src/b.rs")]);
    let o = only(&out);
    assert_eq!(o.files_read, vec!["src/a.rs", "src/b.rs"]);
    assert_eq!(o.title, "Explored src/a.rs, src/b.rs");
    assert_eq!(o.kind, ObservationType::Discovery);
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
    let out = run(&[grep(6, "fn parse_token", &["src/lexer.rs"])]);
    let o = only(&out);
    assert_eq!(o.title, "Explored `fn parse_token` in src/lexer.rs");
    assert_eq!(o.files_read, vec!["src/lexer.rs"]);
    assert!(o.keywords.contains(&"parse_token".to_string()));
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
    let o = only(&out);
    assert_eq!(o.title, "Used tiny echo");
    assert!(o.narrative.contains("MCP-ECHO: hi"), "{}", o.narrative);
    assert!(has(&o.facts, "FutureTool"), "{:?}", o.facts);
}

#[test]
fn summary_collects_request_work_fixes_and_open_failures() {
    let events = [
        read(1, "src/auth/login.rs"),
        bash_failed(
            2,
            "cargo test -p auth",
            "Exit code 101\ntest auth::empty ... FAILED",
        ),
        edit(3, "src/auth/login.rs"),
        bash_ok(
            4,
            "cargo test -p auth",
            "test result: ok. 3 passed; 0 failed",
        ),
        bash_ok(
            5,
            "git add -A && git commit -m 'Reject empty passwords'",
            "[main 1]",
        ),
        bash_failed(
            6,
            "cargo clippy -- -D warnings",
            "Exit code 101\nerror: unused variable: `x`",
        ),
    ];
    let obs = run(&events);
    let s = summarize(
        &ctx(),
        &events,
        &obs,
        Some("Fixed; clippy still complains."),
    );
    assert_eq!(s.request, "fix the login crash when the password is empty");
    assert!(
        s.investigated.contains("src/auth/login.rs"),
        "{}",
        s.investigated
    );
    assert!(
        s.completed.contains("Reject empty passwords"),
        "{}",
        s.completed
    );
    assert!(
        s.completed.contains("clippy still complains"),
        "{}",
        s.completed
    );
    assert!(s.learned.contains("auth::empty"), "{}", s.learned);
    assert!(
        s.next_steps.contains("unused variable: `x`"),
        "{}",
        s.next_steps
    );
    assert!(!s.next_steps.contains("cargo test"), "{}", s.next_steps);
}

#[test]
fn clip_respects_char_boundaries() {
    assert_eq!(clip("héllo wörld", 4), "héll…");
    assert_eq!(clip("short", 10), "short");
}

/// Everything a card says, for "is it remembered anywhere" checks.
fn text_of(o: &ObservationDraft) -> String {
    format!("{}\n{}\n{}", o.title, o.narrative, o.facts.join("\n"))
}

#[test]
fn the_error_kept_is_the_one_that_names_the_problem() {
    let title = |output: &str| {
        only(&run(&[bash_failed(1, "./ci.sh", output)]))
            .title
            .clone()
    };
    // pytest's `E` line names the exception; the summary line only counts.
    let t = text_of(only(&run(&[bash_failed(1, "pytest -q", "Exit code 1\nF.\n    def test_depth():\n>       walk(tree)\nE   IndexError: list index out of range\n=== short test summary info ===\nFAILED tests/test_tree.py::test_depth - IndexError: list index out of range\n1 failed, 1 passed in 0.20s")])));
    assert!(
        t.contains("failed: tests/test_tree.py::test_depth: IndexError: list index out of range"),
        "{t}"
    );
    // A line ending in `:` introduces the real error.
    let t = title("Exit code 1\nrake aborted!\nStandardError: An error has occurred, all later migrations canceled:\n\nPG::UndefinedColumn: ERROR:  column \"region\" does not exist\n/app/db/migrate/1_x.rb:3:in `up'");
    assert!(
        t.contains("PG::UndefinedColumn: ERROR: column \"region\""),
        "{t}"
    );
    // Terraform's boxed error; the tool's own `Error:` line before a detail that names an exception.
    let t = title("Exit code 1\n╷\n│ Error: Invalid provider configuration\n│ \n│ Error message: ThrottlingException: Rate exceeded\n╵");
    assert!(t.contains("Error: Invalid provider configuration"), "{t}");
    // npm's echo of the script is not the error.
    let t = title("Exit code 1\n> web@1.0.0 build\n> vite build\n\n[UnresolvedImportError] could not resolve './theme'");
    assert!(
        t.contains("[UnresolvedImportError] could not resolve"),
        "{t}"
    );
    // A compiler's `file:line:col: message`, not make's closing line.
    let t = title("Exit code 2\ngo build ./...\n# example.com/app\nmain.go:3:2: undefined: render\nmake: *** [Makefile:2: build] Error 1");
    assert!(t.contains("main.go:3:2: undefined: render"), "{t}");
    // Gradle's task echo and its closing words are not the Kotlin compiler's error.
    let t = title("Exit code 1\n> Task :app:compileKotlin FAILED\ne: file:///home/dev/app/src/Main.kt:12:5 Unresolved reference 'render'.\n\nFAILURE: Build failed with an exception.\n\n* What went wrong:\nExecution failed for task ':app:compileKotlin'.");
    assert!(t.contains("Unresolved reference 'render'"), "{t}");
}

#[test]
fn lint_findings_in_every_file_are_kept() {
    let events = [bash_failed(
        1,
        "npm run lint",
        "Exit code 1\n> web@1.0.0 lint\n> eslint .\n\n/home/dev/work/web/src/Cart.tsx\n  12:7  warning  React Hook useMemo has a missing dependency: 'items'  react-hooks/exhaustive-deps\n\n/home/dev/work/web/src/util.ts\n  1:10  error  'pick' is defined but never used  @typescript-eslint/no-unused-vars\n\n✖ 2 problems (1 error, 1 warning)",
    )];
    let o = only(&run(&events)).clone();
    let text = text_of(&o);
    assert!(
        o.title
            .contains("util.ts:1 @typescript-eslint/no-unused-vars"),
        "{}",
        o.title
    );
    assert!(
        text.contains("Cart.tsx:12 react-hooks/exhaustive-deps: React Hook useMemo"),
        "{text}"
    );
}

#[test]
fn successful_output_keeps_its_values_and_the_errors_it_shows() {
    let events = [bash_ok(
        1,
        "python scripts/bench_parse.py data/big.json",
        "files: 1,204\nold parser: 12.5 s\nnew parser: 3.1 s",
    )];
    let o = only(&run(&events)).clone();
    assert!(
        o.facts
            .iter()
            .any(|f| f.contains("old parser: 12.5 s; new parser: 3.1 s")),
        "{:?}",
        o.facts
    );
    // Looking through a log is routine, unless it turns up the error being chased.
    let events = [bash_ok(
        1,
        "grep -n Exception logs/worker.log",
        "88:java.lang.IllegalStateException: pool closed\n89:\tat com.acme.Pool.take(Pool.java:40)",
    )];
    let o = only(&run(&events)).clone();
    assert!(
        o.facts
            .iter()
            .any(|f| f.contains("java.lang.IllegalStateException: pool closed")),
        "{:?}",
        o.facts
    );
    assert!(run(&[bash_ok(1, "grep -n TODO src/lib.rs", "3: // TODO")]).is_empty());
    // Source code that mentions an exception is not a report of one.
    let code = "12:        raise KeyError(f\"no {name}\")\n30:    except ValueError as e:\nsrc/db.py:7:} catch (IOException e) {";
    assert!(run(&[bash_ok(1, "grep -rn Error src/", code)]).is_empty());
}

#[test]
fn edits_say_what_they_changed_and_in_which_function() {
    let events = [
        tool(
            1,
            "Read",
            json!({"file_path": "/home/dev/work/acme-api/src/cfg.py"}),
            json!({"type": "text", "file": {"content": "def load_settings(path):\n    raw = read(path)\n    depth = raw[\"depth\"]\n    return Settings(depth)"}}),
        ),
        tool(
            2,
            "Edit",
            json!({"file_path": "/home/dev/work/acme-api/src/cfg.py", "old_string": "    raw = read(path)\n    depth = raw[\"depth\"]", "new_string": "    raw = read(path)\n    depth = raw.get(\"depth\", 3)"}),
            json!({}),
        ),
        tool(
            3,
            "Edit",
            json!({"file_path": "/home/dev/work/acme-api/deploy.yml", "old_string": "web:\n  - 10.0.0.1\n", "new_string": "web:\n  - 10.0.0.1\nhooks:\n  pre-start: migrate\n"}),
            json!({}),
        ),
    ];
    let o = only(&run(&events)).clone();
    assert!(o.narrative.contains("load_settings"), "{}", o.narrative);
    assert!(
        o.facts.contains(
            &"src/cfg.py: `depth = raw[\"depth\"]` → `depth = raw.get(\"depth\", 3)`".to_string()
        ),
        "{:?}",
        o.facts
    );
    assert!(
        o.facts
            .contains(&"deploy.yml: added `hooks: ⏎ pre-start: migrate`".to_string()),
        "{:?}",
        o.facts
    );
    // A method a Java edit adds is a symbol of the card.
    let events = [tool(
        1,
        "Edit",
        json!({"file_path": "/home/dev/work/acme-api/src/PoolTest.java", "old_string": "}\n", "new_string": "    @Test\n    void closedPoolRefusesTake() {\n        assertThrows(IllegalStateException.class, pool::take);\n    }\n}\n"}),
        json!({}),
    )];
    let o = only(&run(&events)).clone();
    assert!(o.title.contains("closedPoolRefusesTake"), "{}", o.title);
}

#[test]
fn a_push_rejected_after_a_commit_is_fixed_by_what_came_before_the_next_push() {
    let events = [
        bash_failed(
            1,
            "git add -A && git commit -m \"web: dark mode\" && git push origin main",
            "Exit code 1\n[main 1a2b3c4] web: dark mode\n 2 files changed\nTo github.com:acme/web.git\n ! [rejected]        main -> main (fetch first)\nerror: failed to push some refs to 'github.com:acme/web.git'",
        ),
        bash_ok(2, "git pull --rebase origin main", "Successfully rebased and updated refs/heads/main."),
        bash_ok(3, "npm test", "Tests: 12 passed, 12 total"),
        bash_ok(4, "git push origin main", ""),
    ];
    let out = run(&events);
    assert!(out.len() <= 2, "{out:#?}");
    assert_eq!(out[0].title, "web: dark mode");
    assert!(
        out.iter().any(|o| {
            let t = text_of(o);
            t.contains("[rejected]") && t.contains("`git pull --rebase origin main`")
        }),
        "{out:#?}"
    );
}

#[test]
fn every_error_before_a_pass_is_remembered() {
    let events = [
        bash_failed(
            1,
            "cargo build",
            "Exit code 101\nerror[E0425]: cannot find value `conf` in this scope",
        ),
        edit(2, "src/main.rs"),
        bash_failed(
            3,
            "cargo build",
            "Exit code 101\nerror[E0308]: mismatched types",
        ),
        edit(4, "src/main.rs"),
        bash_ok(5, "cargo build", "Finished `dev` profile"),
    ];
    let o = only(&run(&events)).clone();
    let text = text_of(&o);
    assert!(text.contains("E0425") && text.contains("E0308"), "{text}");
}

#[test]
fn a_subagents_answer_is_kept() {
    let events = [tool(
        1,
        "Task",
        json!({"description": "Find the cache", "prompt": "Where is caching configured?"}),
        json!({"content": [{"type": "text", "text": "Caching uses the `moka` crate in src/cache.rs. Entries live 300 s; capacity 10000."}]}),
    )];
    let o = only(&run(&events)).clone();
    assert!(
        o.facts
            .iter()
            .any(|f| f.contains("`moka` crate in src/cache.rs") && f.contains("capacity 10000")),
        "{:?}",
        o.facts
    );
}

// Issue 17, unseen sessions: the lines that name an error, not the tool's trailer; facts that keep the
// distinctive tokens of long lines, written files and many edits.

#[test]
fn a_tools_trailer_gives_way_to_the_line_that_names_the_error() {
    let text = |output: &str| text_of(only(&run(&[bash_failed(1, "./build.sh", output)])));
    // The linker's message, not collect2's closing line.
    let t = text("Exit code 2\n[ 50%] Linking CXX executable server\n/usr/bin/ld: server.cpp.o: in function `serve':\nserver.cpp:(.text+0x88): undefined reference to `Codec::decode(char const*)'\ncollect2: error: ld returned 1 exit status\nmake[2]: *** [server] Error 1");
    assert!(t.contains("undefined reference to `Codec::decode"), "{t}");
    // Gradle's banner is not what went wrong; the plugin's own words under it are.
    let t = text("Exit code 1\n> Task :liquibaseUpdate FAILED\n\nFAILURE: Build failed with an exception.\n\n* What went wrong:\nExecution failed for task ':liquibaseUpdate'.\n> Liquibase update failed\n  Validation Failed:\n     1 changesets check sum mismatch\n       db/changelog/003-users.xml::3::dev was: 9:aa11 but is now: 9:bb22");
    assert!(t.contains("check sum mismatch"), "{t}");
}

#[test]
fn a_long_error_line_keeps_its_status_code_past_the_cut() {
    let long = format!(
        "Exit code 1\nTraceback (most recent call last):\n  File \"/app/sync.py\", line 9, in <module>\nurllib3.exceptions.MaxRetryError: HTTPSConnectionPool(host='{}.example.org', port=443): Max retries exceeded (Caused by ProxyError('Unable to connect to proxy', OSError('Tunnel connection failed: 407 Proxy Authentication Required [PROXY_AUTH_REQUIRED_FAILED]')))",
        "mirror".repeat(12)
    );
    let o = only(&run(&[bash_failed(1, "python /app/sync.py", &long)])).clone();
    assert!(text_of(&o).contains("PROXY_AUTH_REQUIRED_FAILED"), "{o:?}");
    assert!(
        o.facts.iter().all(|f| f.chars().count() < 420),
        "{:?}",
        o.facts
    );
}

#[test]
fn a_status_word_in_a_listing_is_what_was_found() {
    let events = [bash_ok(
        1,
        "kubectl get pods -n jobs",
        "NAME           READY   STATUS             RESTARTS   AGE\nindexer-7c9d   0/1     CrashLoopBackOff   6          11m\nweb-5d8f       1/1     Running            0          2d",
    )];
    let o = only(&run(&events)).clone();
    assert!(
        o.facts.iter().any(|f| f.contains("CrashLoopBackOff")),
        "{:?}",
        o.facts
    );
    // A listing with nothing wrong in it is still only looking around.
    assert!(run(&[bash_ok(
        1,
        "kubectl get pods -n jobs",
        "NAME       READY   STATUS    RESTARTS   AGE\nweb-5d8f   1/1     Running   0          2d"
    )])
    .is_empty());
}

#[test]
fn a_written_file_is_remembered_past_its_first_line() {
    let events = [tool(
        1,
        "Write",
        json!({"file_path": "/home/dev/work/acme-api/config/workers.toml", "content": "# worker pools\n[pools]\ndefault = 4\nreports = 1\nwebhooks = 2\n"}),
        json!({"type": "create"}),
    )];
    let t = text_of(only(&run(&events)));
    assert!(t.contains("webhooks = 2"), "{t}");
    // Imports are not what a file is.
    let events = [tool(
        1,
        "Write",
        json!({"file_path": "/home/dev/work/acme-api/src/retry.py", "content": "import time\nfrom random import random\n\n\ndef backoff_delay(attempt):\n    return min(30, 2 ** attempt) * (0.5 + random())\n"}),
        json!({"type": "create"}),
    )];
    let o = only(&run(&events)).clone();
    assert!(
        o.facts.iter().any(|f| f.contains("def backoff_delay")),
        "{:?}",
        o.facts
    );
}

#[test]
fn a_config_edit_is_named_by_the_keys_it_set() {
    let events = [tool(
        1,
        "Edit",
        json!({"file_path": "/home/dev/work/acme-api/config/app.yml", "old_string": "cache:\n  ttl: 60\n", "new_string": "cache:\n  ttl: 60\n  stale_while_revalidate: 30\n"}),
        json!({}),
    )];
    let o = only(&run(&events)).clone();
    assert!(o.title.contains("stale_while_revalidate"), "{}", o.title);
}

#[test]
fn many_edits_still_name_what_the_later_ones_brought_in() {
    let events: Vec<QueuedEvent> = (1..=6)
        .map(|i| {
            tool(
                i,
                "Edit",
                json!({"file_path": format!("/home/dev/work/acme-api/src/m{i}.rs"), "old_string": "let x = 1;", "new_string": format!("let x = limits::MAX_BATCH_{i};")}),
                json!({}),
            )
        })
        .collect();
    let t = text_of(only(&run(&events)));
    assert!(
        t.contains("limits::MAX_BATCH_5") && t.contains("limits::MAX_BATCH_6"),
        "{t}"
    );
}

#[test]
fn reruns_folded_into_one_line_keep_each_error() {
    let events = [
        edit(1, "src/app.rs"),
        bash_failed(
            2,
            "cargo run --bin migrate",
            "Exit code 1\nError: connection refused (os error 111)",
        ),
        bash_failed(
            3,
            "cargo run --bin migrate",
            "Exit code 1\nError: role \"app\" does not exist",
        ),
    ];
    let t = text_of(only(&run(&events)));
    assert!(
        t.contains("connection refused") && t.contains("role \"app\" does not exist"),
        "{t}"
    );
}

#[test]
fn the_whole_prompt_is_quoted_not_its_first_line() {
    let ctx =
        with_prompt("the export is slow\nit should stream rows with fetch_size = 500 instead");
    let cards = compress_events(&ctx, &[edit(1, "src/export.rs")], &HashSet::new(), 0.3);
    let t = text_of(only(&cards));
    assert!(t.contains("fetch_size = 500"), "{t}");
}
