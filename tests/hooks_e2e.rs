//! Every captured Claude Code payload, posted over real HTTP to a real worker, must land in SQLite once.

use claude_mem_e2e::*;
use serde_json::{json, Value};

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
