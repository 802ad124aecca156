//! Nothing parked forever: events parked after the compressor failed (a wrong API key) come back by
//! `POST /api/admin/retry`, by `claude-mem retry`, and by themselves when the compressor configuration
//! changes at a restart.

use claude_mem_e2e::*;
use claude_mem_llm::mock::{anthropic_error, tool_reply, MockLlm, MockReply, RecordedRequest};
use claude_mem_llm::Usage;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the mock answers a key it does not accept.
fn refused(_: &RecordedRequest) -> MockReply {
    MockReply::json(
        401,
        anthropic_error("authentication_error", "invalid x-api-key"),
    )
}

fn accepted(req: &RecordedRequest) -> MockReply {
    let usage = Usage {
        input_tokens: 400,
        output_tokens: 60,
        cache_write_tokens: 0,
        cache_read_tokens: 0,
    };
    let input = if req.tool_name() == Some("record_summary") {
        json!({"request": "add retries", "investigated": "", "learned": "", "completed": "retries added", "next_steps": ""})
    } else {
        json!({"observations": [{"type": "feature", "title": "Added retries to the HTTP client",
            "narrative": "The client retries idempotent requests.", "source_event_ids": []}]})
    };
    tool_reply(req, input, usage)
}

fn anthropic_env(mock: &MockLlm) -> Vec<(&'static str, String)> {
    vec![
        ("CLAUDE_MEM_COMPRESSOR", "anthropic".into()),
        (
            "ANTHROPIC_API_KEY",
            "sk-ant-api03-wrongkeywrongkeywrongkeywrongkeywrongkey-AAAA".into(),
        ),
        ("CLAUDE_MEM_ANTHROPIC_BASE_URL", mock.base_url()),
        ("CLAUDE_MEM_BATCH_LINGER_MS", "0".into()),
        ("CLAUDE_MEM_RETRY_BASE_MS", "0".into()),
    ]
}

fn start(sandbox: &Sandbox, env: &[(&'static str, String)]) -> Worker {
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Worker::start_with(sandbox, &refs)
}

fn turn(worker: &Worker, session: &str) {
    let cwd = "/home/dev/work/acme-api";
    let events = [
        (
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": cwd, "prompt": "add retries to the http client"}),
        ),
        (
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Edit", "tool_use_id": format!("{session}-1"),
                   "tool_input": {"file_path": format!("{cwd}/src/http.rs"), "old_string": "send()", "new_string": "send_with_retries()"},
                   "tool_response": {"filePath": format!("{cwd}/src/http.rs")}}),
        ),
        (
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Bash", "tool_use_id": format!("{session}-2"),
                   "tool_input": {"command": "cargo test -p http"},
                   "tool_response": {"stdout": "test result: ok. 9 passed; 0 failed", "stderr": "", "interrupted": false}}),
        ),
        (
            "Stop",
            json!({"session_id": session, "cwd": cwd, "stop_hook_active": false, "last_assistant_message": "done"}),
        ),
    ];
    for (event, body) in events {
        assert_eq!(post_hook(worker, event, body.to_string()).0, 200);
    }
}

/// Waits until nothing is pending and something is parked; returns how many are.
fn wait_parked(worker: &Worker) -> i64 {
    let health = worker.wait_until_processed(Duration::from_secs(60));
    let parked = health["counts"]["failed"].as_i64().unwrap();
    assert!(parked > 0, "the wrong key parked events: {health}");
    parked
}

fn post_retry(worker: &Worker, body: Value) -> (u16, Value) {
    let r = http()
        .post(worker.url("/api/admin/retry"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn llm_observations(db: &std::path::Path) -> i64 {
    sqlite_count(
        db,
        "SELECT COUNT(*) FROM observations WHERE compressor LIKE 'anthropic:%'",
    )
}

#[test]
fn parked_events_come_back_through_the_retry_endpoint_once_the_key_works() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start()).unwrap();
    mock.set_default(refused);
    let sandbox = Sandbox::new();
    let worker = start(&sandbox, &anthropic_env(&mock));
    turn(&worker, "r1");
    let parked = wait_parked(&worker);
    let db = sandbox.database();
    assert_eq!(llm_observations(&db), 0);

    // Bad requests are refused with a reason and change nothing.
    for (body, status, code) in [
        (json!({}), 400, "invalid_body"),
        (json!({"all": true, "id": 1}), 400, "invalid_body"),
        (json!({"all": false}), 400, "invalid_body"),
        (json!({"id": "one"}), 400, "invalid_body"),
        (json!({"every": true}), 400, "invalid_body"),
        (json!({"id": 987_654}), 404, "unknown_event"),
    ] {
        let (got, answer) = post_retry(&worker, body.clone());
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"], code, "{body}: {answer}");
        assert!(answer["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(
        health["counts"]["failed"], parked,
        "refusals changed nothing"
    );

    // The key works now: retry everything.
    mock.set_default(accepted);
    let (status, answer) = post_retry(&worker, json!({"all": true}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["requeued"], parked);
    assert_eq!(answer["parked"], 0);
    let health = worker.wait_until_processed(Duration::from_secs(60));
    assert_eq!(health["counts"]["failed"], 0, "{health}");
    assert!(
        llm_observations(&db) > 0,
        "compressed by the LLM after the retry"
    );
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM session_summaries"),
        1
    );

    // Retrying again finds nothing; an event that is no longer parked is a conflict.
    let (status, answer) = post_retry(&worker, json!({"all": true}));
    assert_eq!((status, answer["requeued"].as_i64()), (200, Some(0)));
    let done = sqlite_rows(
        &db,
        "SELECT id FROM pending_messages WHERE state = 'done' LIMIT 1",
    )[0][0]
        .as_i64()
        .unwrap();
    let (status, answer) = post_retry(&worker, json!({"id": done}));
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "not_parked");
}

#[test]
fn a_changed_compressor_configuration_retries_parked_events_at_start() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start()).unwrap();
    mock.set_default(refused);
    let sandbox = Sandbox::new();
    let env = anthropic_env(&mock);
    let worker = start(&sandbox, &env);
    turn(&worker, "c1");
    let parked = wait_parked(&worker);
    assert!(worker.stop().success());

    // The same configuration again: nothing is retried (they would only fail the same way).
    let calls = mock.requests().len();
    let same = start(&sandbox, &env);
    std::thread::sleep(Duration::from_millis(1500));
    let (_, health) = get_json(&same, "/api/health");
    assert_eq!(health["counts"]["failed"], parked, "{health}");
    assert_eq!(mock.requests().len(), calls, "no new call to the LLM");
    assert!(same.stop().success());

    // Another compressor (the local rules): the parked events get their try and are compressed.
    let local = Worker::start_with(
        &sandbox,
        &[
            ("CLAUDE_MEM_COMPRESSOR", "local"),
            ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
        ],
    );
    let start = Instant::now();
    let health = loop {
        let (_, health) = get_json(&local, "/api/health");
        if health["counts"]["failed"] == 0 && health["counts"]["pending"] == 0 {
            break health;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "parked events were not retried: {health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let db = sandbox.database();
    assert!(
        health["counts"]["observations"].as_i64().unwrap() > 0,
        "{health}"
    );
    assert!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM observations WHERE compressor = 'local'"
        ) > 0
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'failed'"
        ),
        0
    );
}

#[test]
fn the_retry_command_talks_to_the_worker_and_fails_clearly() {
    let sandbox = Sandbox::new();
    // Offline commands must not find some other worker on the default port.
    let offline = || {
        let mut cmd = sandbox.command();
        cmd.env("CLAUDE_MEM_PORT", closed_port().to_string());
        cmd
    };
    // Neither or both of --all / --id: a usage error.
    for args in [&["retry"][..], &["retry", "--all", "--id", "3"][..]] {
        let out = sandbox.command().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    // No worker and no database.
    let out = offline().args(["retry", "--all"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database"));

    let rt = runtime();
    let mock = rt.block_on(MockLlm::start()).unwrap();
    mock.set_default(refused);
    let worker = start(&sandbox, &anthropic_env(&mock));
    turn(&worker, "cli");
    let parked = wait_parked(&worker);
    let retry = |args: &[&str]| {
        sandbox
            .command()
            .env("CLAUDE_MEM_PORT", worker.port.to_string())
            .arg("retry")
            .args(args)
            .output()
            .unwrap()
    };
    let out = retry(&["--id", "987654"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("there is no event 987654"), "{err}");

    let one = sqlite_rows(
        &sandbox.database(),
        "SELECT id FROM pending_messages WHERE state = 'failed' ORDER BY id LIMIT 1",
    )[0][0]
        .as_i64()
        .unwrap();
    mock.set_default(accepted);
    let out = retry(&["--id", &one.to_string(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["requeued"], 1);
    assert_eq!(answer["parked"], parked - 1);
    let out = retry(&["--all"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("Requeued"), "{text}");
    let health = worker.wait_until_processed(Duration::from_secs(60));
    assert_eq!(health["counts"]["failed"], 0, "{health}");

    // Offline: the CLI requeues in the database itself.
    assert!(worker.stop().success());
    exec_sql(
        &sandbox.database(),
        &["UPDATE pending_messages SET state = 'failed', attempts = 5 WHERE id = 1"],
    );
    let out = offline().args(["retry", "--all"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Requeued 1"),
        "{text}"
    );
    assert_eq!(
        sqlite_count(
            &sandbox.database(),
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'failed'"
        ),
        0
    );
    let out = offline().args(["retry", "--id", "1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not parked"));
}
