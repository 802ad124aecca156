//! Every captured Claude Code payload, posted over real HTTP to a real worker, must land in SQLite once.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn every_fixture_is_stored_once_and_answered_as_claude_code_expects() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let fixtures = fixtures();
    for (name, event, payload) in &fixtures {
        let (status, answer) = post_hook(&worker, event, payload.to_string());
        assert_eq!(status, 200, "{name}: {answer}");
        if event == "SessionStart" {
            assert_eq!(
                answer["hookSpecificOutput"]["hookEventName"], "SessionStart",
                "{name}"
            );
            assert!(
                answer["hookSpecificOutput"]["additionalContext"].is_string(),
                "{name}"
            );
        } else {
            assert!(answer.is_object(), "{name}");
        }
    }
    let db = sandbox.database();
    let stored = sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages");
    assert_eq!(stored, fixtures.len() as i64);
    for (name, event, payload) in &fixtures {
        let sql = format!(
            "SELECT payload FROM pending_messages WHERE event_name = '{event}' AND session_id = '{}'",
            payload["session_id"].as_str().unwrap()
        );
        let found: Vec<Value> = sqlite_rows(&db, &sql)
            .into_iter()
            .map(|r| serde_json::from_str(r[0].as_str().unwrap()).unwrap())
            .collect();
        assert!(
            found.contains(payload),
            "{name} not found verbatim in SQLite"
        );
    }
    let prompts = sqlite_rows(
        &db,
        "SELECT session_id, prompt_number, text FROM user_prompts",
    );
    assert_eq!(
        prompts,
        vec![vec![
            json!("dd3c069f-cebc-4332-a2d2-b224021fc02d"),
            json!(1),
            json!("run echo")
        ]]
    );
    let projects = sqlite_rows(&db, "SELECT DISTINCT project FROM sdk_sessions");
    assert_eq!(projects, vec![vec![json!("acme-api")]]);

    // Redelivery of everything is a no-op.
    for (_, event, payload) in &fixtures {
        assert_eq!(post_hook(&worker, event, payload.to_string()).0, 200);
    }
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages"),
        stored
    );
    assert_eq!(sqlite_count(&db, "SELECT COUNT(*) FROM user_prompts"), 1);
}

#[test]
fn unknown_future_events_are_accepted_and_kept_whole() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let payload = json!({
        "session_id": "future-1",
        "cwd": "/home/dev/work/acme-api",
        "hook_event_name": "TeleportRequested",
        "destination": {"planet": "mars", "eta_s": 42}
    });
    let (status, answer) = post_hook(&worker, "TeleportRequested", payload.to_string());
    assert_eq!((status, answer), (200, json!({})));
    let (status, session) = get_json(&worker, "/api/sessions/future-1");
    assert_eq!(status, 200);
    assert_eq!(session["events"][0]["event_name"], "TeleportRequested");
    assert_eq!(session["events"][0]["payload"], payload);
}

#[test]
fn sessions_api_lists_and_details_what_was_captured() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    for (_, event, payload) in fixtures() {
        post_hook(&worker, &event, payload.to_string());
    }
    let (status, list) = get_json(&worker, "/api/sessions?project=acme-api&limit=10");
    assert_eq!(status, 200);
    let sessions = list["sessions"].as_array().unwrap();
    assert!(sessions.len() >= 4, "{list}");
    // The projects list agrees with the sessions list, and says when each project was last active.
    let (status, projects) = get_json(&worker, "/api/projects");
    assert_eq!(status, 200, "{projects}");
    let acme = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "acme-api")
        .unwrap_or_else(|| panic!("{projects}"));
    assert_eq!(
        acme["sessions"].as_u64(),
        Some(sessions.len() as u64),
        "{projects}"
    );
    assert!(acme["prompts"].as_i64().unwrap() >= 1, "{projects}");
    let newest = sessions
        .iter()
        .filter_map(|s| s["last_seen_at"].as_i64())
        .max()
        .unwrap();
    assert_eq!(
        acme["last_activity_at"].as_i64(),
        Some(newest),
        "{projects}"
    );
    let (status, one) = get_json(
        &worker,
        "/api/sessions/dd3c069f-cebc-4332-a2d2-b224021fc02d",
    );
    assert_eq!(status, 200);
    assert_eq!(one["session"]["prompt_count"], 1);
    assert_eq!(one["prompts"][0]["text"], "run echo");
    let names: Vec<&str> = one["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_name"].as_str().unwrap())
        .collect();
    for expected in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
        "SessionEnd",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let (status, missing) = get_json(&worker, "/api/sessions/nope");
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("not_found"))
    );
    let (status, bad) = get_json(&worker, "/api/sessions?limit=0");
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, health) = get_json(&worker, "/api/health");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["counts"]["prompts"], 1);
}

#[test]
fn a_restart_keeps_everything() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let fixtures = fixtures();
    for (_, event, payload) in &fixtures {
        post_hook(&worker, event, payload.to_string());
    }
    let (_, before) = get_json(
        &worker,
        "/api/sessions/dd3c069f-cebc-4332-a2d2-b224021fc02d",
    );
    let status = worker.stop();
    assert!(status.success(), "graceful shutdown exited with {status}");

    let worker = Worker::start(&sandbox);
    let (_, after) = get_json(
        &worker,
        "/api/sessions/dd3c069f-cebc-4332-a2d2-b224021fc02d",
    );
    assert_eq!(before, after);
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["counts"]["events"], fixtures.len());
    // Redelivery after the restart is still recognised.
    for (_, event, payload) in &fixtures {
        post_hook(&worker, event, payload.to_string());
    }
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["counts"]["events"], fixtures.len());
}

#[test]
fn paused_capture_acknowledges_hooks_and_keeps_nothing() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let put = |paused: bool| {
        http()
            .put(worker.url("/api/capture"))
            .json(&json!({ "paused": paused }))
            .send()
            .expect("PUT /api/capture")
            .status()
            .as_u16()
    };
    assert_eq!(put(true), 200);
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["capture"]["paused"], true);
    let body =
        json!({"session_id": "paused-1", "cwd": "/tmp/p", "prompt": "secret plans"}).to_string();
    let (status, answer) = post_hook(&worker, "UserPromptSubmit", body.clone());
    assert_eq!(status, 200, "{answer}");
    let db = sandbox.database();
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages"),
        0
    );
    assert_eq!(put(false), 200);
    let (status, _) = post_hook(&worker, "UserPromptSubmit", body);
    assert_eq!(status, 200);
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages"),
        1
    );
    let bad = http()
        .put(worker.url("/api/capture"))
        .json(&json!({ "paused": "yes" }))
        .send()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
}

/// Tool events capture leaves out — claude-mem's own MCP tools (however they were registered) and
/// `capture.skip_tools` (the original's list by default) — are answered as usual but leave nothing in
/// SQLite, while real work is still captured and compressed; the skip list changes live.
#[test]
fn own_tools_and_skipped_tools_leave_nothing_while_real_work_is_captured() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let db = sandbox.database();
    let session = "skip-e2e-1";
    let cwd = "/home/dev/work/acme-api";
    let tool = |event: &str, name: &str, id: &str, input: Value| {
        let mut body = json!({
            "session_id": session, "cwd": cwd, "hook_event_name": event, "tool_name": name,
            "tool_use_id": id, "tool_input": input,
        });
        if event == "PostToolUseFailure" {
            body["error"] = json!("worker unreachable");
        } else {
            body["tool_response"] = json!([{"type": "text", "text": "3 memories for \"wal\""}]);
        }
        let (status, answer) = post_hook(&worker, event, body.to_string());
        assert_eq!((status, &answer), (200, &json!({})), "{event} {name}");
    };
    let (status, _) = post_hook(
        &worker,
        "UserPromptSubmit",
        json!({"session_id": session, "cwd": cwd, "prompt": "why is the store in WAL mode?"})
            .to_string(),
    );
    assert_eq!(status, 200);
    tool(
        "PostToolUse",
        "mcp__claude-mem__search",
        "t-search",
        json!({"query": "wal"}),
    );
    tool(
        "PostToolUse",
        "mcp__plugin_claude-mem_claude-mem__get_observations",
        "t-get",
        json!({"ids": [1, 2]}),
    );
    tool(
        "PostToolUseFailure",
        "mcp__claude-mem__timeline",
        "t-timeline",
        json!({"anchor": 1}),
    );
    tool(
        "PostToolUse",
        "TodoWrite",
        "t-todo",
        json!({"todos": [{"content": "check WAL", "status": "pending"}]}),
    );
    let mut bash = json!({
        "session_id": session, "cwd": cwd, "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_use_id": "t-bash", "tool_input": {"command": "cargo build --release"},
        "tool_response": {"stdout": "Finished `release` profile in 41.2s", "stderr": "", "interrupted": false},
    });
    assert_eq!(
        post_hook(&worker, "PostToolUse", bash.to_string()),
        (200, json!({}))
    );
    let (status, _) = post_hook(
        &worker,
        "Stop",
        json!({"session_id": session, "cwd": cwd, "stop_hook_active": false,
            "last_assistant_message": "WAL lets readers run during writes."})
        .to_string(),
    );
    assert_eq!(status, 200);
    worker.wait_until_processed(Duration::from_secs(30));

    let stored = |sql: &str| -> Vec<Value> {
        sqlite_rows(&db, sql)
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect()
    };
    assert_eq!(
        stored("SELECT event_name FROM pending_messages ORDER BY id"),
        [
            json!("UserPromptSubmit"),
            json!("PostToolUse"),
            json!("Stop")
        ],
        "only the prompt, the Bash call and the stop are stored"
    );
    let bash_id = stored("SELECT id FROM pending_messages WHERE tool_name = 'Bash'")[0].clone();
    let observations = sqlite_rows(
        &db,
        "SELECT title, narrative, source_event_ids FROM observations",
    );
    assert!(
        observations.iter().any(|o| {
            serde_json::from_str::<Vec<Value>>(o[2].as_str().unwrap())
                .unwrap()
                .contains(&bash_id)
        }),
        "the Bash call made an observation: {observations:?}"
    );
    for o in &observations {
        let text = format!("{} {}", o[0], o[1]).to_lowercase();
        assert!(
            !text.contains("claude-mem") && !text.contains("todo"),
            "an observation of a skipped tool: {o:?}"
        );
    }
    assert_eq!(sqlite_count(&db, "SELECT event_count FROM sdk_sessions"), 3);

    // Counted by reason in /metrics.
    let metrics = metrics_text(&worker);
    for line in [
        "claude_mem_hook_events_skipped_total{reason=\"own_tool\"} 3",
        "claude_mem_hook_events_skipped_total{reason=\"skip_list\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }

    // The list is a setting the viewer changes without a restart; the own tools stay skipped.
    let response = http()
        .put(worker.url("/api/settings"))
        .json(&json!({"capture.skip_tools": ["Bash"]}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().unwrap();
    assert_eq!(answer["restart_required"], json!([]));
    bash["tool_use_id"] = json!("t-bash-2");
    assert_eq!(
        post_hook(&worker, "PostToolUse", bash.to_string()),
        (200, json!({}))
    );
    tool(
        "PostToolUse",
        "TodoWrite",
        "t-todo-2",
        json!({"todos": [{"content": "check WAL", "status": "completed"}]}),
    );
    tool(
        "PostToolUse",
        "mcp__claude-mem__save_memory",
        "t-save",
        json!({"text": "WAL mode"}),
    );
    assert_eq!(
        stored("SELECT tool_name FROM pending_messages WHERE tool_name IS NOT NULL ORDER BY id"),
        [json!("Bash"), json!("TodoWrite")]
    );
}
