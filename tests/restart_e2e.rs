//! `POST /api/admin/restart` on a real `claude-mem serve`: the worker starts again in its own process, at
//! the same address, with the settings saved since its start, and nothing it had acknowledged is lost.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn field<'a>(page: &'a Value, key: &str) -> &'a Value {
    page["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["key"] == key))
        .unwrap_or(&Value::Null)
}

#[test]
fn restart_applies_saved_settings_in_the_same_process_at_the_same_address() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let (_, before) = get_json(&worker, "/api/health");
    let (status, _) = post_hook(
        &worker,
        "UserPromptSubmit",
        json!({"session_id": "restart-1", "cwd": "/tmp/restart", "prompt": "keep me across the restart"})
            .to_string(),
    );
    assert_eq!(status, 200);

    // A setting read at start: saved, labelled as waiting for a restart.
    let r = http()
        .put(worker.url("/api/settings"))
        .json(&json!({"hook_timeout_ms": 2500}))
        .send()
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 200);
    let saved: Value = r.json().expect("JSON");
    assert_eq!(saved["restart_required"], json!(["hook_timeout_ms"]));
    assert_eq!(saved["restart_pending"], json!(["hook_timeout_ms"]));
    assert_eq!(field(&saved, "hook_timeout_ms")["running"], json!(1000));
    assert_eq!(
        field(&saved, "hook_timeout_ms")["pending_restart"],
        json!(true)
    );
    // `--port 0` is the command line's, not a saved value waiting for a restart.
    assert!(field(&saved, "port")["running"].is_u64(), "{saved}");
    assert!(
        field(&saved, "port").get("pending_restart").is_none(),
        "{saved}"
    );
    assert_eq!(saved["restart_available"], json!(true));

    std::thread::sleep(Duration::from_millis(1100));
    let r = http()
        .post(worker.url("/api/admin/restart"))
        .json(&json!({}))
        .send()
        .expect("POST restart");
    assert_eq!(r.status().as_u16(), 202);

    // The new worker answers on the same port (the test's `--port 0` is kept), with its uptime reset.
    let start = Instant::now();
    let after = loop {
        let answer = http()
            .get(worker.url("/api/health"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.json::<Value>().ok());
        if let Some(h) = answer {
            let up = h["uptime_seconds"].as_u64().unwrap_or(u64::MAX);
            if up < before["uptime_seconds"].as_u64().unwrap_or(0) + start.elapsed().as_secs() + 1
                && start.elapsed() > Duration::from_millis(300)
            {
                break h;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(after["pid"], before["pid"], "restarted in its own process");
    assert_eq!(after["counts"]["prompts"], json!(1), "{after}");
    let (_, page) = get_json(&worker, "/api/settings");
    assert_eq!(page["restart_pending"], json!([]), "{page}");
    assert_eq!(field(&page, "hook_timeout_ms")["value"], json!(2500));
    assert!(
        field(&page, "hook_timeout_ms").get("running").is_none(),
        "{page}"
    );

    // And it still stops gracefully, once.
    assert!(worker.stop().success());
}

#[test]
fn claude_mem_restart_restarts_the_running_worker_and_waits_for_it() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let (_, before) = get_json(&worker, "/api/health");
    std::thread::sleep(Duration::from_millis(1100));
    let said = ok(sandbox
        .command()
        .arg("restart")
        .env("CLAUDE_MEM_PORT", worker.port.to_string())
        .output()
        .expect("claude-mem restart"));
    assert!(said.contains("restarted"), "{said}");
    let (status, after) = get_json(&worker, "/api/health");
    assert_eq!(status, 200);
    assert_eq!(after["pid"], before["pid"]);
    assert!(after["uptime_seconds"].as_u64() < before["uptime_seconds"].as_u64().map(|u| u + 1));

    // Nothing running on the port: a clear error, non-zero exit.
    let out = sandbox
        .command()
        .arg("restart")
        .env("CLAUDE_MEM_PORT", closed_port().to_string())
        .output()
        .expect("claude-mem restart");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no worker is running"));
    assert!(worker.stop().success());
}
