//! Memory the user controls (issue 21), with the real Claude Code CLI against the Anthropic wire mock:
//!
//! - a session in a linked git worktree is filed under the main repository's project;
//! - a session started with `CLAUDE_MEM=off` stores nothing and is listed as not recorded;
//! - `/claude-mem:off` typed inside a session (the plugin's `off` skill) stops the recording and
//!   forgets what was recorded of the session so far;
//! - a `Read` of a file past sessions worked on carries those memories to the model (PreToolUse file
//!   context, visible in the request the mock receives).
//!
//! Without the CLI this test fails rather than skips, like claude_code_e2e.

use claude_mem_e2e::*;
use claude_mem_llm::mock::{
    anthropic_message, anthropic_stream, MockLlm, MockReply, RecordedRequest,
};
use claude_mem_llm::Usage;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WORKER_ENV: &[(&str, &str)] = &[
    ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
    ("CLAUDE_MEM_EMBEDDER", "hash"),
    ("CLAUDE_MEM_COMPRESSOR", "local"),
];

/// One scripted answer of the model, streamed when Claude Code asks for a stream.
fn reply(req: &RecordedRequest, content: Value, stop: &str) -> MockReply {
    let message = anthropic_message(
        "msg_control",
        req.model().unwrap_or("claude-mock"),
        content,
        stop,
        Usage {
            input_tokens: 20,
            output_tokens: 3,
            ..Usage::default()
        },
    );
    if req.wants_stream() {
        anthropic_stream(&message)
    } else {
        MockReply::ok(message)
    }
}

/// A model that answers every request with a short text.
fn polite_model(mock: &MockLlm) {
    mock.set_default(|req| reply(req, json!([{"type": "text", "text": "Done."}]), "end_turn"));
}

fn onboarded(sandbox: &Sandbox) {
    std::fs::create_dir_all(sandbox.home()).unwrap();
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({"hasCompletedOnboarding": true}).to_string(),
    )
    .unwrap();
}

fn git(args: &[&str], cwd: &Path) {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// Runs one `claude -p` session; returns its id and Claude Code's debug log.
fn run(
    sandbox: &Sandbox,
    project: &Path,
    port: u16,
    mock: &MockLlm,
    prompt: &str,
    adjust: impl FnOnce(&mut Command),
) -> (String, String) {
    let debug_file = sandbox
        .dir
        .path()
        .join(format!("debug-{}.log", rand_suffix()));
    let mut cmd = claude_code_session(sandbox, project, port, &mock.base_url(), prompt);
    cmd.arg("--debug-file").arg(&debug_file);
    adjust(&mut cmd);
    let out = cmd.output().expect("claude");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "claude failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["type"] == "system" && l["subtype"] == "init")
        .and_then(|l| l["session_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no init line: {stdout}"));
    let debug = std::fs::read_to_string(&debug_file).unwrap_or_default();
    let errors = claude_code_hook_errors(&debug);
    assert!(errors.is_empty(), "hook errors:\n{}", errors.join("\n"));
    (id, debug)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn stored_events(sandbox: &Sandbox, session: &str) -> i64 {
    sqlite_count(
        &sandbox.database(),
        &format!("SELECT COUNT(*) FROM pending_messages WHERE session_id = '{session}'"),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_worktree_session_is_the_main_repositorys_and_claude_mem_off_records_nothing() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start()).expect("mock Messages API");
    polite_model(&mock);
    let sandbox = Sandbox::new();
    onboarded(&sandbox);
    ok(sandbox.command().arg("install").output().expect("install"));
    let worker = Worker::start_with(&sandbox, WORKER_ENV);

    let main = sandbox.dir.path().join("work/shop");
    std::fs::create_dir_all(&main).unwrap();
    git(&["init", "-q"], &main);
    git(&["commit", "-q", "--allow-empty", "-m", "init"], &main);
    git(&["worktree", "add", "-q", "../shop-checkout-fix"], &main);
    let linked = sandbox.dir.path().join("work/shop-checkout-fix");

    let (in_worktree, _) = run(
        &sandbox,
        &linked,
        worker.port,
        &mock,
        "Look around.",
        |_| {},
    );
    let project = sqlite_rows(
        &sandbox.database(),
        &format!("SELECT project FROM sdk_sessions WHERE id = '{in_worktree}'"),
    );
    assert_eq!(project, vec![vec![json!("shop")]], "the worktree's session");
    assert!(stored_events(&sandbox, &in_worktree) >= 3);

    let (off, _) = run(&sandbox, &main, worker.port, &mock, "Secret work.", |cmd| {
        cmd.env("CLAUDE_MEM", "off");
    });
    assert_eq!(
        stored_events(&sandbox, &off),
        0,
        "CLAUDE_MEM=off stored events"
    );
    let (_, listed) = get_json(&worker, "/api/sessions/off");
    let listed = listed["sessions"].as_array().cloned().unwrap_or_default();
    assert!(
        listed
            .iter()
            .any(|s| s["session_id"] == off && s["how"] == "env" && s["project"] == "shop"),
        "{listed:?}"
    );
}

#[test]
fn claude_mem_off_inside_a_session_stops_it_and_forgets_it() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start()).expect("mock Messages API");
    polite_model(&mock);
    let sandbox = Sandbox::new();
    onboarded(&sandbox);
    let worker = Worker::start_with(&sandbox, WORKER_ENV);
    let plugin = plugin_copy(sandbox.dir.path(), None);
    let project = sandbox.dir.path().join("work/notes");
    std::fs::create_dir_all(&project).unwrap();

    let (session, debug) = run(
        &sandbox,
        &project,
        worker.port,
        &mock,
        "/claude-mem:off",
        |cmd| {
            cmd.arg("--plugin-dir").arg(&plugin);
        },
    );
    let (_, listed) = get_json(&worker, "/api/sessions/off");
    let listed = listed["sessions"].as_array().cloned().unwrap_or_default();
    assert!(
        listed
            .iter()
            .any(|s| s["session_id"] == session && s["how"] == "command"),
        "the skill did not turn the session off: {listed:?}\n{}",
        debug
            .lines()
            .filter(|l| l.contains("off") || l.contains("skill"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Whatever arrived before (SessionStart, the prompt) is forgotten; what came after was dropped.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stored_events(&sandbox, &session), 0);
    assert_eq!(
        sqlite_count(
            &sandbox.database(),
            &format!("SELECT COUNT(*) FROM sdk_sessions WHERE id = '{session}'")
        ),
        0
    );
}

const READ_ID: &str = "toolu_control_read_01";

/// Reads `file` first, then answers.
fn reading_model(mock: &MockLlm, file: String) {
    mock.set_default(move |req| {
        let main_loop = req.body["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "Read"));
        let read_done = req.body.to_string().contains(READ_ID) && req.body.to_string().contains("tool_result");
        let (content, stop) = if main_loop && !read_done {
            (
                json!([{"type": "tool_use", "id": READ_ID, "name": "Read", "input": {"file_path": file}}]),
                "tool_use",
            )
        } else {
            (json!([{"type": "text", "text": "Read it."}]), "end_turn")
        };
        reply(req, content, stop)
    });
}

#[test]
fn a_read_of_a_remembered_file_carries_its_memories_to_the_model() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start()).expect("mock Messages API");
    let sandbox = Sandbox::new();
    onboarded(&sandbox);
    ok(sandbox.command().arg("install").output().expect("install"));
    let worker = Worker::start_with(&sandbox, WORKER_ENV);
    let project = sandbox.dir.path().join("work/billing");
    std::fs::create_dir_all(project.join("src")).unwrap();
    let file = project.join("src/ledger.rs");
    std::fs::write(&file, "pub fn post() {}\n").unwrap();
    let cwd = project.to_string_lossy().into_owned();

    // An earlier session worked on the file.
    for (event, body) in [
        (
            "UserPromptSubmit",
            json!({"session_id": "earlier", "cwd": cwd, "prompt": "make ledger posting idempotent"}),
        ),
        (
            "PostToolUse",
            json!({"session_id": "earlier", "cwd": cwd, "tool_name": "Edit", "tool_use_id": "e1",
            "tool_input": {"file_path": file.to_string_lossy(), "old_string": "pub fn post() {}",
                           "new_string": "pub fn post(key: IdempotencyKey) {}"},
            "tool_response": {"success": true}}),
        ),
        (
            "Stop",
            json!({"session_id": "earlier", "cwd": cwd, "stop_hook_active": false}),
        ),
    ] {
        assert_eq!(post_hook(&worker, event, body.to_string()).0, 200);
    }
    worker.wait_until_processed(Duration::from_secs(30));

    reading_model(&mock, file.to_string_lossy().into_owned());
    run(
        &sandbox,
        &project,
        worker.port,
        &mock,
        "Look at the ledger.",
        |_| {},
    );
    let requests = mock.requests();
    let after_read = requests
        .iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains(READ_ID) && b.contains("tool_result"))
        .unwrap_or_else(|| panic!("the model never got the Read's result"));
    let (_, listed) = get_json(&worker, "/api/observations?project=billing");
    let id = listed["observations"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no observation of the earlier session: {listed}"));
    // The memory's index line (`#id · type · title …`), as file context renders it.
    assert!(
        after_read.contains("PreToolUse:Read hook additional context")
            && after_read.contains(&format!("- #{id} ")),
        "no file context for #{id} in the request after the Read: {}",
        &after_read[after_read.find(READ_ID).unwrap_or(0)..]
            .chars()
            .take(3000)
            .collect::<String>()
    );
}
