//! `claude-mem doctor` against real situations: no worker, a worker with hooks installed, a port held by
//! another program, and an API key a (fake) Anthropic server rejects.

use claude_mem_e2e::{Sandbox, Worker};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Output;
use std::sync::{Arc, Mutex};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn doctor(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = sandbox.command();
    cmd.arg("doctor").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run claude-mem doctor")
}

fn doctor_json(sandbox: &Sandbox, env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let out = doctor(sandbox, &["--json"], env);
    let text = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// A one-shot-per-connection HTTP server answering every request with `response`, recording each
/// request's head (request line and headers, lowercased).
fn fake_server(response: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            log.lock().unwrap().push(head);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, seen)
}

#[test]
fn worker_down_and_no_hooks_fails_with_hints_and_reports_the_port_free() {
    let sandbox = Sandbox::without_token();
    let port = free_port().to_string();
    let env = [("CLAUDE_MEM_PORT", port.as_str())];
    let (code, report) = doctor_json(&sandbox, &env);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["ok"], false);

    let worker = check(&report, "worker");
    assert_eq!(worker["status"], "warn", "{worker}");
    assert!(
        worker["detail"].as_str().unwrap().contains("free"),
        "{worker}"
    );
    let hooks = check(&report, "hooks");
    assert_eq!(hooks["status"], "fail", "{hooks}");
    assert!(hooks["hint"]
        .as_str()
        .unwrap()
        .contains("claude-mem install"));
    assert_eq!(check(&report, "data dir")["status"], "warn");
    assert_eq!(check(&report, "api key")["status"], "ok");
    for c in report["checks"].as_array().unwrap() {
        if c["status"] != "ok" {
            assert!(c["hint"].as_str().is_some_and(|h| !h.is_empty()), "{c}");
        }
    }

    // The table says the same to a person, with the fixes, and fails the same way.
    let out = doctor(&sandbox, &[], &env);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("FAIL"), "{table}");
    assert!(table.contains("fix: run `claude-mem install`"), "{table}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("check"));
}

#[test]
fn worker_up_with_hooks_installed_passes() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_EMBEDDER", "hash")]);
    let port = worker.port.to_string();
    let install = sandbox
        .command()
        .arg("install")
        .env("CLAUDE_MEM_PORT", &port)
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );

    let env = [
        ("CLAUDE_MEM_PORT", port.as_str()),
        ("CLAUDE_MEM_EMBEDDER", "hash"),
    ];
    let (code, report) = doctor_json(&sandbox, &env);
    for name in [
        "worker",
        "hooks",
        "data dir",
        "search index",
        "embedding model",
        "settings",
    ] {
        assert_eq!(check(&report, name)["status"], "ok", "{name}: {report}");
    }
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true);
    assert!(check(&report, "worker")["detail"]
        .as_str()
        .unwrap()
        .contains(&port));

    // Http hooks from an older install cannot carry the API token: stale, doctor says to reinstall.
    let settings_path = sandbox.home().join(".claude/settings.json");
    let mut settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    settings["hooks"]["Stop"][0]["hooks"][0] = serde_json::json!({
        "type": "http",
        "url": format!("http://127.0.0.1:{port}/hooks/Stop"),
        "timeout": 5
    });
    std::fs::write(&settings_path, settings.to_string()).unwrap();
    let (code, report) = doctor_json(&sandbox, &env);
    assert_eq!(code, Some(1));
    let hooks = check(&report, "hooks");
    assert_eq!(hooks["status"], "fail", "{hooks}");
    assert!(
        hooks["detail"].as_str().unwrap().contains("Stop"),
        "{hooks}"
    );
    assert!(
        hooks["hint"]
            .as_str()
            .unwrap()
            .contains("claude-mem install"),
        "{hooks}"
    );
}

#[test]
fn a_port_held_by_another_program_fails() {
    let sandbox = Sandbox::new();
    let (port, _) = fake_server(
        "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
    );
    let port = port.to_string();
    let (code, report) = doctor_json(&sandbox, &[("CLAUDE_MEM_PORT", port.as_str())]);
    assert_eq!(code, Some(1));
    let worker = check(&report, "worker");
    assert_eq!(worker["status"], "fail", "{worker}");
    assert!(worker["detail"]
        .as_str()
        .unwrap()
        .contains("not as claude-mem"));
}

#[test]
fn an_api_key_the_provider_rejects_fails_the_check() {
    let sandbox = Sandbox::new();
    let body =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let response: &'static str = Box::leak(
        format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let (api_port, seen) = fake_server(response);
    let base = format!("http://127.0.0.1:{api_port}");
    let port = free_port().to_string();
    let (code, report) = doctor_json(
        &sandbox,
        &[
            ("CLAUDE_MEM_PORT", port.as_str()),
            ("ANTHROPIC_API_KEY", "sk-ant-doctor-test"),
            ("CLAUDE_MEM_ANTHROPIC_BASE_URL", base.as_str()),
        ],
    );
    assert_eq!(code, Some(1));
    let key = check(&report, "api key");
    assert_eq!(key["status"], "fail", "{key}");
    assert!(key["detail"].as_str().unwrap().contains("401"), "{key}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].starts_with("get /v1/models "),
        "{}",
        requests[0]
    );
    assert!(
        requests[0].contains("x-api-key: sk-ant-doctor-test"),
        "{}",
        requests[0]
    );
}
