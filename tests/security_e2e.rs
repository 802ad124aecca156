//! Security of the real worker over real HTTP: DNS rebinding and cross-site requests refused, CORS only for
//! our own and configured origins, the per-client rate limit, the bearer token when bound beyond loopback,
//! the body limit, and private file modes.

use claude_mem_e2e::{http, http_anonymous, sqlite_count, Sandbox, Worker};
use serde_json::{json, Value};
use std::net::{IpAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn write_settings(sandbox: &Sandbox, settings: Value) {
    std::fs::create_dir_all(sandbox.data_dir()).unwrap();
    std::fs::write(
        sandbox.data_dir().join("settings.json"),
        settings.to_string(),
    )
    .unwrap();
}

fn prompt_payload(session: &str) -> String {
    json!({
        "session_id": session,
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": "/tmp/project",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "remember that the build uses cargo"
    })
    .to_string()
}

fn json_body(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
    (status, value)
}

#[test]
fn a_rebound_host_and_a_foreign_origin_are_refused_and_nothing_is_stored() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let client = http();

    // DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its own name as Host (and,
    // being a browser page, has no token).
    let (status, body) = json_body(
        http_anonymous()
            .get(worker.url("/api/health"))
            .header("host", format!("evil.example:{}", worker.port))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden_host");

    // CSRF: a page on another site POSTs a hook event and a memory.
    let (status, body) = json_body(
        client
            .post(worker.url("/hooks/UserPromptSubmit"))
            .header("origin", "https://evil.example")
            .header("content-type", "application/json")
            .body(prompt_payload("csrf-session"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden_origin");
    let (status, _) = json_body(
        client
            .post(worker.url("/api/memories"))
            .header("origin", "https://evil.example")
            .json(&json!({"text": "planted by a web page"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 403);
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM pending_messages"),
        0
    );
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM observations"),
        0
    );

    // The same request without the foreign Origin is accepted: the refusal above was about the origin.
    let (status, body) = json_body(
        client
            .post(worker.url("/hooks/UserPromptSubmit"))
            .header("content-type", "application/json")
            .body(prompt_payload("local-session"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM pending_messages"),
        1
    );
}

fn preflight(worker: &Worker, origin: &str) -> reqwest::blocking::Response {
    http()
        .request(reqwest::Method::OPTIONS, worker.url("/api/memories"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .unwrap()
}

#[test]
fn cors_preflight_is_granted_to_our_own_and_configured_origins_only() {
    let sandbox = Sandbox::new();
    write_settings(
        &sandbox,
        json!({"security": {"cors_origins": ["https://dash.example.com"]}}),
    );
    let worker = Worker::start(&sandbox);

    let own = format!("http://localhost:{}", worker.port);
    for origin in [
        own.as_str(),
        "https://dash.example.com",
        "tauri://localhost",
    ] {
        let response = preflight(&worker, origin);
        assert!(
            response.status().is_success(),
            "{origin}: {}",
            response.status()
        );
        let headers = response.headers();
        assert_eq!(
            headers
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some(origin),
            "{origin}"
        );
        let methods = headers
            .get("access-control-allow-methods")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(methods.contains("POST"), "{origin}: {methods}");
    }

    let foreign = preflight(&worker, "https://evil.example");
    assert_eq!(foreign.status().as_u16(), 403);
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // A local page on another port is another site: refused, and not granted CORS.
    let other_port = preflight(&worker, "http://localhost:1");
    assert_eq!(other_port.status().as_u16(), 403);
    assert!(other_port
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // An actual cross-origin read from the configured dashboard carries the grant.
    let response = http()
        .get(worker.url("/api/health"))
        .header("origin", "https://dash.example.com")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://dash.example.com")
    );
}

#[test]
fn a_tiny_configured_rate_limit_answers_429_with_retry_after() {
    let sandbox = Sandbox::new();
    write_settings(
        &sandbox,
        json!({"security": {"rate_limit_per_second": 1, "rate_limit_burst": 3, "rate_limit_loopback": true}}),
    );
    let worker = Worker::start(&sandbox);
    let client = http();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..20 {
        let response = client.get(worker.url("/api/capture")).send().unwrap();
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    let response = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a numeric Retry-After");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (_, body) = json_body(response);
    assert_eq!(body["error"], "rate_limited");
    assert!(body["reason"].as_str().unwrap().contains("retry"));
}

#[test]
fn the_default_rate_limit_does_not_trip_under_a_local_burst() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let url = worker.url("/api/capture");
    // More than the default burst (5000), from several clients at once, as fast as they can go.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let client = http();
                let mut refused = 0;
                for _ in 0..750 {
                    let status = client.get(&url).send().unwrap().status().as_u16();
                    if status != 200 {
                        refused += 1;
                    }
                }
                refused
            })
        })
        .collect();
    let refused: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(refused, 0);
}

/// An address of this machine that is not loopback: what a LAN client would connect to.
fn non_loopback_address() -> IpAddr {
    // Connecting a UDP socket sends nothing; it only asks the kernel which local address would be used.
    for target in ["192.0.2.1:9", "10.255.255.1:9", "8.8.8.8:53"] {
        if let Ok(socket) = UdpSocket::bind("0.0.0.0:0") {
            if socket.connect(target).is_ok() {
                if let Ok(addr) = socket.local_addr() {
                    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
                        return addr.ip();
                    }
                }
            }
        }
    }
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse::<IpAddr>().ok())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .expect("this test needs a non-loopback IPv4 address on the machine (e.g. eth0)")
}

#[test]
fn a_worker_bound_beyond_loopback_requires_the_token_and_the_hook_command_sends_it() {
    let sandbox = Sandbox::new();
    let ip = non_loopback_address().to_string();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_HOST", ip.as_str())]);
    assert!(worker.base.contains(&ip), "{}", worker.base);

    let token_file = sandbox.data_dir().join("api-token");
    assert_eq!(mode(&token_file), 0o600);
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));

    let client = http_anonymous();
    let (status, body) = json_body(client.get(worker.url("/api/observations")).send().unwrap());
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "unauthorized");
    // Health without the token says only that a claude-mem answers here.
    let (status, body) = json_body(client.get(worker.url("/api/health")).send().unwrap());
    assert_eq!(status, 200, "{body}");
    assert!(body.get("counts").is_none(), "{body}");
    let (status, _) = json_body(
        client
            .get(worker.url("/api/health"))
            .bearer_auth("0".repeat(64))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 401);
    let (status, _) = json_body(
        client
            .post(worker.url("/hooks/UserPromptSubmit"))
            .header("content-type", "application/json")
            .body(prompt_payload("no-token"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 401);
    let (status, health) = json_body(
        client
            .get(worker.url("/api/health"))
            .bearer_auth(&token)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["counts"]["events"], 0);

    // The hook command reads the token from the data directory and gets its event in.
    let mut hook = sandbox
        .command()
        .args(["hook", "UserPromptSubmit"])
        .env("CLAUDE_MEM_HOST", &ip)
        .env("CLAUDE_MEM_PORT", worker.port.to_string())
        .env("CLAUDE_MEM_HOOK_TIMEOUT_MS", "10000")
        .env("CLAUDE_MEM_DEBUG", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = hook.stdin.take().unwrap();
        stdin
            .write_all(prompt_payload("via-hook").as_bytes())
            .unwrap();
    }
    let out = hook.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sqlite_count(
            &sandbox.database(),
            "SELECT COUNT(*) FROM pending_messages WHERE session_id = 'via-hook'"
        ),
        1
    );

    // `install` writes command hooks for such a worker: they read the token from the 0600 file, so it
    // is never copied into Claude Code's settings.
    let claude_settings = sandbox.home().join(".claude/settings.json");
    let status = sandbox
        .command()
        .args(["install", "--settings"])
        .arg(&claude_settings)
        .env("CLAUDE_MEM_HOST", &ip)
        .env("CLAUDE_MEM_PORT", worker.port.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let installed: Value =
        serde_json::from_str(&std::fs::read_to_string(&claude_settings).unwrap()).unwrap();
    let stop = &installed["hooks"]["Stop"][0]["hooks"][0];
    assert_eq!(stop["type"], "command");
    assert!(
        stop["command"].as_str().unwrap().ends_with(" hook Stop"),
        "{stop}"
    );
    assert!(!installed.to_string().contains(&token));
}

#[test]
fn an_oversized_body_gets_413_with_a_json_reason() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_MAX_BODY_BYTES", "4096")]);
    let big = json!({
        "session_id": "big",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": "/tmp/p",
        "hook_event_name": "PostToolUse",
        "tool_name": "Read",
        "tool_use_id": "toolu_1",
        "tool_input": {"file_path": "/tmp/big.txt"},
        "tool_response": "x".repeat(20_000)
    })
    .to_string();
    let (status, body) = json_body(
        http()
            .post(worker.url("/hooks/PostToolUse"))
            .header("content-type", "application/json")
            .body(big)
            .send()
            .unwrap(),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(!body["reason"].as_str().unwrap_or_default().is_empty());
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM pending_messages"),
        0
    );
}

#[test]
fn a_loose_data_directory_and_its_files_are_made_private_at_start() {
    let sandbox = Sandbox::without_token();
    write_settings(&sandbox, json!({}));
    std::fs::set_permissions(sandbox.data_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let settings = sandbox.data_dir().join("settings.json");
    std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o644)).unwrap();

    let worker = Worker::start(&sandbox);
    assert_eq!(mode(&sandbox.data_dir()), 0o700);
    assert_eq!(mode(&settings), 0o600);
    assert_eq!(mode(&sandbox.database()), 0o600);
    let wal = sandbox.data_dir().join("claude-mem.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal) & 0o077, 0, "WAL readable by others");
    }
    // Loopback included, every client needs the token: made at the first start, private.
    let token = sandbox.data_dir().join("api-token");
    assert_eq!(mode(&token), 0o600);
    assert_eq!(sandbox.token().len(), 64);
    drop(worker);
}
