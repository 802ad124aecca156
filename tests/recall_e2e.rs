//! Recall through the real worker: what SessionStart injects after real hook traffic, that a resume does
//! not inject it twice, the preview endpoint, per-prompt recall, saved memories, and the live stream's
//! resume by `Last-Event-ID`.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const CWD: &str = "/home/dev/work/acme-api";

fn seed(worker: &Worker, session: &str) {
    let events = [
        (
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": CWD, "prompt": "make the store open SQLite in WAL mode"}),
        ),
        (
            "PostToolUse",
            json!({"session_id": session, "cwd": CWD, "tool_name": "Edit", "tool_use_id": format!("{session}-1"),
                "tool_input": {"file_path": format!("{CWD}/src/store/db.rs"), "old_string": "todo!()",
                    "new_string": "fn open_with_wal() {}"},
                "tool_response": {}}),
        ),
        (
            "PostToolUse",
            json!({"session_id": session, "cwd": CWD, "tool_name": "Bash", "tool_use_id": format!("{session}-2"),
                "tool_input": {"command": "cargo test -p store"},
                "tool_response": {"stdout": "test result: ok. 12 passed; 0 failed", "stderr": "", "interrupted": false}}),
        ),
        (
            "Stop",
            json!({"session_id": session, "cwd": CWD, "stop_hook_active": false,
                "last_assistant_message": "The store now opens in WAL mode."}),
        ),
    ];
    for (event, body) in events {
        let (status, answer) = post_hook(worker, event, body.to_string());
        assert_eq!(status, 200, "{event}: {answer}");
    }
    worker.wait_until_processed(Duration::from_secs(30));
}

fn session_start(worker: &Worker, session: &str, source: &str) -> String {
    let (status, answer) = post_hook(
        worker,
        "SessionStart",
        json!({"session_id": session, "cwd": CWD, "hook_event_name": "SessionStart", "source": source})
            .to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["hookSpecificOutput"]["hookEventName"],
        "SessionStart"
    );
    answer["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .expect("additionalContext")
        .to_owned()
}

#[test]
fn session_start_injects_the_projects_memories_once() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")]);
    assert_eq!(
        session_start(&worker, "s-empty", "startup"),
        "",
        "nothing to recall yet"
    );

    seed(&worker, "s-1");
    let context = session_start(&worker, "s-2", "startup");
    assert!(
        context.starts_with("# claude-mem: memories of acme-api"),
        "{context}"
    );
    assert!(context.contains("## Last session"), "{context}");
    assert!(context.contains("src/store/db.rs"), "{context}");
    assert!(context.contains("get_observations"), "{context}");
    let (_, preview) = get_json(&worker, &format!("/api/context?cwd={CWD}&session=s-3"));
    assert_eq!(
        preview["context"]["text"],
        context.as_str(),
        "preview = injection"
    );
    let tokens = preview["context"]["tokens"].as_u64().unwrap();
    assert!(tokens > 0 && tokens <= 2000, "{tokens}");
    let (_, small) = get_json(&worker, "/api/context?project=acme-api&budget=150");
    assert!(
        small["context"]["tokens"].as_u64().unwrap() <= 150,
        "{small}"
    );

    // Resuming s-2: its conversation already holds that block, so nothing is injected again…
    assert_eq!(session_start(&worker, "s-2", "resume"), "");
    // …until another session adds something new.
    seed(&worker, "s-4");
    let resumed = session_start(&worker, "s-2", "resume");
    assert!(
        resumed.contains("since this session was last active"),
        "{resumed}"
    );
    // A compaction dropped the earlier block: the whole index comes back.
    let compacted = session_start(&worker, "s-2", "compact");
    assert!(compacted.contains("## Last session"), "{compacted}");
    // Another project sees none of it.
    let (_, other) = get_json(&worker, "/api/context?project=webapp");
    assert_eq!(other["context"]["text"], "");
    let (status, bad) = get_json(&worker, "/api/context");
    assert_eq!(status, 400, "{bad}");
}

#[test]
fn prompt_recall_and_saved_memories() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(
        &sandbox,
        &[
            ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
            ("CLAUDE_MEM_PROMPT_RECALL", "true"),
            ("CLAUDE_MEM_EMBEDDER", "hash"),
        ],
    );
    let saved = http()
        .post(worker.url("/api/memories"))
        .json(&json!({"text": "Deploys must pass the staging smoke test (scripts/smoke.sh) before prod.",
            "title": "Staging smoke test gates every deploy", "project": "acme-api", "type": "decision"}))
        .send()
        .unwrap();
    assert_eq!(saved.status().as_u16(), 201);
    let saved: Value = saved.json().unwrap();
    let id = saved["id"].as_i64().unwrap();
    assert_eq!(saved["observation"]["type"], "decision");
    assert_eq!(saved["observation"]["compressor"], "manual");

    let bad = http()
        .post(worker.url("/api/memories"))
        .json(&json!({"text": "   "}))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);

    // The indexer picks the note up; a prompt about deploying then recalls it.
    let mut recalled = String::new();
    for _ in 0..100 {
        let (status, answer) = post_hook(
            &worker,
            "UserPromptSubmit",
            json!({"session_id": "s-9", "cwd": CWD, "prompt": "deploy the staging smoke test fix to prod"})
                .to_string(),
        );
        assert_eq!(status, 200);
        if let Some(text) = answer["hookSpecificOutput"]["additionalContext"].as_str() {
            recalled = text.to_owned();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        recalled.contains(&format!("#{id} decision")),
        "{recalled:?}"
    );

    let (_, timeline) = get_json(&worker, &format!("/api/timeline?anchor={id}"));
    assert_eq!(timeline["anchor"], id);
    let (status, _) = get_json(&worker, "/api/timeline");
    assert_eq!(status, 400);
    let (status, _) = get_json(&worker, "/api/timeline?anchor=999999");
    assert_eq!(status, 404);
}

/// Reads SSE events (event name, id) until `n` observation events arrived.
fn read_events(worker: &Worker, last_event_id: Option<&str>, n: usize) -> Vec<(String, String)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut req = client
        .get(worker.url("/api/stream"))
        .bearer_auth(claude_mem_e2e::TEST_TOKEN);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().unwrap();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut reader = BufReader::new(resp);
    let mut out = Vec::new();
    let (mut event, mut id) = (String::new(), String::new());
    let mut line = String::new();
    while out.iter().filter(|(e, _)| e == "observation").count() < n {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let l = line.trim_end();
        if let Some(v) = l
            .strip_prefix("event: ")
            .or_else(|| l.strip_prefix("event:"))
        {
            event = v.trim().to_owned();
        } else if let Some(v) = l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")) {
            id = v.trim().to_owned();
        } else if l.is_empty() && !event.is_empty() {
            out.push((std::mem::take(&mut event), std::mem::take(&mut id)));
        }
    }
    out
}

#[test]
fn live_stream_resumes_from_last_event_id() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")]);
    seed(&worker, "s-1");
    let stored = sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM observations") as usize;
    assert!(stored >= 2);
    // From the beginning: every stored observation, the prompt and the summary, in order, each with a cursor.
    let all = read_events(&worker, Some("0.0.0"), stored);
    let observations: Vec<_> = all.iter().filter(|(e, _)| e == "observation").collect();
    assert_eq!(observations.len(), stored);
    assert!(all.iter().any(|(e, _)| e == "prompt"), "{all:?}");
    // Resuming after the first observation replays only the rest.
    let first = &observations[0].1;
    let rest = read_events(&worker, Some(first), stored - 1);
    let rest_obs: Vec<_> = rest.iter().filter(|(e, _)| e == "observation").collect();
    assert_eq!(rest_obs.len(), stored - 1);
    assert!(!rest_obs.iter().any(|(_, id)| id == first));
}
