//! Compression through the real worker process: crash safety under kill -9, and the privacy guarantee
//! that a planted secret reaches neither SQLite, nor the logs, nor the LLM.

use claude_mem_e2e::*;
use claude_mem_llm::mock::{tool_reply, MockLlm, RecordedRequest};
use claude_mem_llm::Usage;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const FAST: &[(&str, &str)] = &[
    ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
    ("CLAUDE_MEM_RETRY_BASE_MS", "0"),
];

/// One turn of a session: a prompt, edits to distinct files, a command, and the Stop.
fn turn(session: &str, n: usize) -> Vec<(&'static str, Value)> {
    let cwd = "/home/dev/work/acme-api";
    let mut out = vec![(
        "UserPromptSubmit",
        json!({"session_id": session, "cwd": cwd, "hook_event_name": "UserPromptSubmit", "prompt": format!("implement feature {n}")}),
    )];
    for k in 0..3 {
        out.push((
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "hook_event_name": "PostToolUse", "tool_name": "Edit",
                   "tool_use_id": format!("{session}-{n}-{k}"),
                   "tool_input": {"file_path": format!("{cwd}/src/mod_{n}_{k}.rs"), "old_string": "todo!()", "new_string": format!("fn feature_{n}_{k}() {{}}")},
                   "tool_response": {"filePath": format!("{cwd}/src/mod_{n}_{k}.rs")}}),
        ));
    }
    out.push((
        "PostToolUse",
        json!({"session_id": session, "cwd": cwd, "hook_event_name": "PostToolUse", "tool_name": "Bash",
               "tool_use_id": format!("{session}-{n}-test"), "tool_input": {"command": "cargo test"},
               "tool_response": {"stdout": "test result: ok. 4 passed; 0 failed", "stderr": "", "interrupted": false}}),
    ));
    out.push((
        "Stop",
        json!({"session_id": session, "cwd": cwd, "hook_event_name": "Stop", "stop_hook_active": false, "last_assistant_message": format!("feature {n} done")}),
    ));
    out
}

#[test]
fn kill_9_during_processing_loses_nothing_and_duplicates_nothing() {
    let sandbox = Sandbox::new();
    let mut acknowledged = 0;
    for round in 0..3 {
        let worker = Worker::start_with(&sandbox, FAST);
        for s in 0..4 {
            for n in 0..5 {
                for (event, body) in turn(&format!("r{round}-s{s}"), n) {
                    let (status, _) = post_hook(&worker, event, body.to_string());
                    assert_eq!(status, 200);
                    acknowledged += 1;
                }
            }
        }
        // Let the processor get going, then pull the plug mid-flight.
        std::thread::sleep(Duration::from_millis(40 * (round + 1)));
        worker.kill9();
    }
    let worker = Worker::start_with(&sandbox, FAST);
    let health = worker.wait_until_processed(Duration::from_secs(60));
    assert_eq!(health["counts"]["events"], acknowledged);
    assert_eq!(health["counts"]["failed"], 0);
    let db = sandbox.database();
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages"),
        acknowledged as i64
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM pending_messages WHERE state NOT IN ('done', 'skipped')"
        ),
        0
    );

    // No event is cited by two observations.
    let mut cited = HashSet::new();
    for row in sqlite_rows(&db, "SELECT source_event_ids FROM observations") {
        let ids: Vec<i64> = serde_json::from_str(row[0].as_str().unwrap()).unwrap();
        for id in ids {
            assert!(cited.insert(id), "event {id} was compressed twice");
        }
    }
    // Every edit is remembered by exactly one observation (the turn's memory lists the files it changed),
    // every turn has exactly one summary.
    let edits = 3 * 4 * 5 * 3;
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM observations o, json_each(o.files_modified) f WHERE f.value LIKE 'src/mod_%'"),
        edits
    );
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(DISTINCT o.session_id || ':' || f.value) FROM observations o, json_each(o.files_modified) f"),
        edits
    );
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM session_summaries"),
        3 * 4 * 5
    );
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM (SELECT 1 FROM session_summaries GROUP BY session_id, prompt_number HAVING COUNT(*) > 1)"),
        0
    );
    let done_tools_uncited: i64 = sqlite_rows(
        &db,
        "SELECT id FROM pending_messages WHERE event_name = 'PostToolUse' AND state = 'done'",
    )
    .into_iter()
    .filter(|r| !cited.contains(&r[0].as_i64().unwrap()))
    .count() as i64;
    assert_eq!(done_tools_uncited, 0);
}

#[test]
fn with_compression_off_events_wait_and_are_compressed_once_it_is_on() {
    let sandbox = Sandbox::new();
    let off = Worker::start_with(
        &sandbox,
        &[("CLAUDE_MEM_COMPRESSION_ENABLED", "false"), FAST[0]],
    );
    for (event, body) in turn("paused", 1) {
        assert_eq!(post_hook(&off, event, body.to_string()).0, 200);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (_, health) = get_json(&off, "/api/health");
    assert_eq!(health["counts"]["pending"], 6);
    assert_eq!(health["counts"]["observations"], 0);
    assert!(off.stop().success());
    let on = Worker::start_with(&sandbox, FAST);
    let health = on.wait_until_processed(Duration::from_secs(30));
    // One memory for the turn's work (three edits and the test run), listing every file it changed.
    assert_eq!(health["counts"]["observations"], 1);
    let db = sandbox.database();
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM observations o, json_each(o.files_modified) f"
        ),
        3
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM observations o, json_each(o.source_event_ids) f"
        ),
        4
    );
}

fn anthropic_env(mock: &MockLlm) -> Vec<(&'static str, String)> {
    vec![
        ("CLAUDE_MEM_COMPRESSOR", "anthropic".into()),
        (
            "ANTHROPIC_API_KEY",
            "sk-ant-api03-workertestkeyworkertestkeyworkertestkey-AAAA".into(),
        ),
        ("CLAUDE_MEM_ANTHROPIC_BASE_URL", mock.base_url()),
        ("CLAUDE_MEM_BATCH_LINGER_MS", "0".into()),
        ("CLAUDE_MEM_RETRY_BASE_MS", "0".into()),
        ("CLAUDE_MEM_LOG_LEVEL", "trace".into()),
    ]
}

fn echo_model(req: &RecordedRequest) -> Value {
    // A model that repeats what it was shown: if a secret were in the prompt, it would land in memory.
    let shown = req.user_prompt().unwrap_or_default().to_owned();
    if req.tool_name() == Some("record_summary") {
        return json!({"request": shown, "investigated": "", "learned": "", "completed": "", "next_steps": ""});
    }
    json!({"observations": [{"type": "discovery", "title": "Echo", "narrative": shown, "source_event_ids": []}]})
}

fn all_bytes_under(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(all_bytes_under(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.extend(bytes);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_planted_secret_never_reaches_sqlite_logs_or_the_llm() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mock = rt.block_on(MockLlm::start()).unwrap();
    mock.set_default(|req| {
        let usage = Usage {
            input_tokens: 500,
            output_tokens: 50,
            cache_write_tokens: 1500,
            cache_read_tokens: 0,
        };
        tool_reply(req, echo_model(req), usage)
    });
    let sandbox = Sandbox::new();
    let env: Vec<(&str, String)> = anthropic_env(&mock);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let worker = Worker::start_with(&sandbox, &env_refs);

    // Built at run time so no scanner flags this file.
    let aws = format!("AKIA{}", "QWERTYUIOPASDFGH");
    let openai = format!("sk-proj-{}", "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7Nm6");
    let github = format!("ghp_{}", "abcdefghijklmnopqrstuvwxyz0123456789");
    let private = "my-diary-entry-do-not-keep";
    let cwd = "/home/dev/work/acme-api";
    let events = [
        (
            "UserPromptSubmit",
            json!({"session_id": "sec", "cwd": cwd, "prompt": format!("deploy with key {openai} please <private>{private}</private>")}),
        ),
        (
            "PostToolUse",
            json!({"session_id": "sec", "cwd": cwd, "tool_name": "Bash", "tool_use_id": "t1",
            "tool_input": {"command": format!("export AWS_ACCESS_KEY_ID={aws} && ./deploy.sh")},
            "tool_response": {"stdout": format!("using token {github}\ndeployed"), "stderr": "", "interrupted": false}}),
        ),
        (
            "PostToolUse",
            json!({"session_id": "sec", "cwd": cwd, "tool_name": "Edit", "tool_use_id": "t2",
            "tool_input": {"file_path": format!("{cwd}/.env"), "old_string": "", "new_string": format!("GITHUB_TOKEN={github}\nPORT=8080")},
            "tool_response": {}}),
        ),
        (
            "Stop",
            json!({"session_id": "sec", "cwd": cwd, "stop_hook_active": false, "last_assistant_message": format!("Deployed using {aws}.")}),
        ),
    ];
    for (event, body) in &events {
        assert_eq!(post_hook(&worker, event, body.to_string()).0, 200);
    }
    worker.wait_until_processed(Duration::from_secs(30));
    let (_, obs) = get_json(&worker, "/api/observations");
    assert!(
        !obs["observations"].as_array().unwrap().is_empty(),
        "the LLM path ran: {obs}"
    );
    let status = worker.stop();
    assert!(status.success());

    let requests = mock.requests();
    assert!(
        requests.len() >= 2,
        "observation and summary calls: {}",
        requests.len()
    );
    let sent: String = requests.iter().map(|r| r.body.to_string()).collect();
    let stored = all_bytes_under(&sandbox.data_dir());
    for secret in [&aws, &openai, &github, &private.to_string()] {
        assert!(
            !sent.contains(secret.as_str()),
            "{secret} was sent to the LLM"
        );
        assert!(
            !contains(&stored, secret),
            "{secret} was written under the data dir (db, wal or logs)"
        );
    }
    assert!(
        sent.contains("REDACTED"),
        "the LLM saw the redaction markers instead"
    );
    // The useful, non-secret parts survived.
    assert!(sent.contains("deploy.sh") && sent.contains("PORT=8080"));
    let logs = all_bytes_under(&sandbox.data_dir().join("logs"));
    assert!(!logs.is_empty(), "trace logs were written");
}
