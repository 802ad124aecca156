//! Memory the user controls (issue 21), against the real worker and CLI: excluded places are never
//! recorded and never given context, whether the exclusion was made with the worker running (it applies
//! at once) or before it started.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "/srv/clients/acme";

fn events_at(sandbox: &Sandbox, cwd_prefix: &str) -> i64 {
    sqlite_count(
        &sandbox.database(),
        &format!(
            "SELECT COUNT(*) FROM pending_messages WHERE json_extract(payload, '$.cwd') LIKE '{cwd_prefix}%'"
        ),
    )
}

/// A small working session in `cwd`: a prompt, an edit, a stop.
fn session(worker: &Worker, id: &str, cwd: &str) {
    for (event, body) in [
        (
            "SessionStart",
            json!({"session_id": id, "cwd": cwd, "source": "startup"}),
        ),
        (
            "UserPromptSubmit",
            json!({"session_id": id, "cwd": cwd, "prompt": "rotate the acme billing webhook secret"}),
        ),
        (
            "PostToolUse",
            json!({"session_id": id, "cwd": cwd, "tool_name": "Edit", "tool_use_id": format!("{id}-1"),
            "tool_input": {"file_path": format!("{cwd}/billing/webhook.rs"), "old_string": "v1", "new_string": "v2"},
            "tool_response": {"success": true}}),
        ),
        (
            "Stop",
            json!({"session_id": id, "cwd": cwd, "stop_hook_active": false}),
        ),
    ] {
        let (status, answer) = post_hook(worker, event, body.to_string());
        assert_eq!(status, 200, "{event}: {answer}");
    }
}

/// The CLI, pointed at this worker's port.
fn cli(sandbox: &Sandbox, worker: &Worker) -> std::process::Command {
    let mut cmd = sandbox.command();
    cmd.env("CLAUDE_MEM_PORT", worker.port.to_string());
    cmd
}

fn context_at(worker: &Worker, id: &str, cwd: &str) -> String {
    let (status, answer) = post_hook(
        worker,
        "SessionStart",
        json!({"session_id": id, "cwd": cwd, "source": "startup"}).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    answer["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_excluded_place_is_never_recorded_and_never_given_context() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);

    // Recorded before the exclusion: a memory exists for the project.
    session(&worker, "before", SECRET);
    worker.wait_until_processed(Duration::from_secs(30));
    assert!(events_at(&sandbox, SECRET) > 0);
    assert!(
        context_at(&worker, "probe-1", SECRET).contains("webhook"),
        "the project's memory should be recalled before it is excluded"
    );

    // Excluded through the CLI while the worker runs: applies at once.
    let out = cli(&sandbox, &worker)
        .args(["exclude", "add", SECRET])
        .output()
        .unwrap();
    let text = ok(out);
    assert!(text.contains("Excluded"), "{text}");
    let stored_before = events_at(&sandbox, SECRET);
    session(&worker, "during", &format!("{SECRET}/web"));
    assert_eq!(
        events_at(&sandbox, SECRET),
        stored_before,
        "an event in an excluded place was stored"
    );
    assert_eq!(
        context_at(&worker, "probe-2", SECRET),
        "",
        "context was injected in an excluded place"
    );
    // Other places are untouched.
    session(&worker, "elsewhere", "/srv/clients/globex");
    assert!(events_at(&sandbox, "/srv/clients/globex") > 0);
    let listed = ok(cli(&sandbox, &worker)
        .args(["exclude", "list"])
        .output()
        .unwrap());
    assert_eq!(listed.trim(), SECRET);
    let (_, settings) = get_json(&worker, "/api/settings");
    assert!(settings.to_string().contains(SECRET), "{settings}");

    // Removed: recorded again.
    ok(cli(&sandbox, &worker)
        .args(["exclude", "remove", SECRET])
        .output()
        .unwrap());
    session(&worker, "after", SECRET);
    assert!(events_at(&sandbox, SECRET) > stored_before);
    let out = cli(&sandbox, &worker)
        .args(["exclude", "remove", SECRET])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "removing what is not excluded must fail"
    );
}

#[test]
fn an_exclusion_made_offline_holds_when_the_worker_starts() {
    let sandbox = Sandbox::new();
    // A project-name glob, written to the settings file with no worker running.
    ok(sandbox
        .command()
        .args(["exclude", "add", "acme*"])
        .output()
        .unwrap());
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.data_dir().join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file["capture"]["exclude"], json!(["acme*"]));
    let bad = sandbox
        .command()
        .args(["exclude", "add", "[unclosed"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    session(&worker, "s1", SECRET);
    session(&worker, "s2", "/srv/clients/globex");
    assert_eq!(events_at(&sandbox, SECRET), 0);
    assert!(events_at(&sandbox, "/srv/clients/globex") > 0);
    let metrics = metrics_text(&worker);
    assert!(
        metrics.contains("reason=\"excluded\""),
        "excluded events are counted: {metrics}"
    );
}
