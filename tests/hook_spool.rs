//! The hook spool end to end: `claude-mem hook` against a worker that is down, hung or failing exits 0,
//! prints nothing, stays within its budget and leaves the event in `<data dir>/spool/`; the next worker
//! on that data directory stores every spooled event exactly once and sets corrupt entries aside.

use claude_mem_e2e::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The default `hook_timeout_ms`.
const BUDGET: Duration = Duration::from_millis(1000);
/// Process start and exit around the budget (a debug binary, a loaded CI machine).
const MARGIN: Duration = Duration::from_millis(400);

fn hook_to(sandbox: &Sandbox, port: u16) -> Command {
    let mut cmd = sandbox.command();
    cmd.env("CLAUDE_MEM_PORT", port.to_string())
        .env_remove("CLAUDE_MEM_DEBUG")
        .env_remove("CLAUDE_MEM_HOOK_TIMEOUT_MS");
    cmd
}

fn bash_event(session: &str, tool_use_id: &str) -> String {
    json!({
        "session_id": session,
        "transcript_path": "/tmp/t.jsonl",
        "cwd": "/home/dev/acme-api",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_use_id": tool_use_id,
        "tool_input": {"command": "cargo test", "description": "Run the tests"},
        "tool_response": {"stdout": "test result: ok", "stderr": "", "interrupted": false}
    })
    .to_string()
}

/// Keyed on its content (no tool_use_id), with a secret and a private span the filter removes before
/// the spool sees them: the hardest case for "stored once".
fn prompt_event(session: &str) -> String {
    json!({
        "session_id": session,
        "transcript_path": "/tmp/t.jsonl",
        "cwd": "/home/dev/acme-api",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "deploy with ANTHROPIC_API_KEY=sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA <private>pin 4711</private> now"
    })
    .to_string()
}

fn spool_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.data_dir().join("spool")
}

/// Complete spool entries (`*.hook`, not temp files, not quarantine).
fn spooled(sandbox: &Sandbox) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(spool_dir(sandbox))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "hook"));
    out.sort();
    out
}

fn assert_silent(out: &Output, took: Duration, what: &str) {
    assert!(out.status.success(), "{what}: exit {:?}", out.status);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{what}: stdout {:?} stderr {:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < BUDGET + MARGIN, "{what}: took {took:?}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn events_of(sandbox: &Sandbox, session: &str) -> Vec<String> {
    sqlite_rows(
        &sandbox.database(),
        &format!(
            "SELECT event_name FROM pending_messages WHERE session_id = '{session}' ORDER BY id"
        ),
    )
    .into_iter()
    .map(|r| r[0].as_str().unwrap_or_default().to_owned())
    .collect()
}

/// Waits until the worker has drained every complete entry.
fn wait_drained(sandbox: &Sandbox) {
    let start = Instant::now();
    while !spooled(sandbox).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the worker did not drain the spool: {:?}",
            spooled(sandbox)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(worker: &Worker, name: &str) -> f64 {
    metrics_text(worker)
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn a_down_worker_costs_little_and_the_next_one_stores_the_event_once() {
    let sandbox = Sandbox::new();
    let port = closed_port();
    let (out, took) = run_hook(
        hook_to(&sandbox, port),
        "PostToolUse",
        &bash_event("down-1", "toolu_d1"),
    );
    assert_silent(&out, took, "worker down");
    // Nothing listens: refused at once, no budget spent waiting.
    assert!(
        took < Duration::from_millis(500),
        "a refused connect took {took:?}"
    );
    let (out, took) = run_hook(
        hook_to(&sandbox, port),
        "UserPromptSubmit",
        &prompt_event("down-1"),
    );
    assert_silent(&out, took, "worker down");

    let entries = spooled(&sandbox);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(mode(&spool_dir(&sandbox)), 0o700);
    for entry in &entries {
        assert_eq!(mode(entry), 0o600, "{}", entry.display());
        let text = String::from_utf8_lossy(&std::fs::read(entry).unwrap()).into_owned();
        assert!(
            !text.contains("sk-ant-api03") && !text.contains("4711"),
            "a secret reached the spool: {text}"
        );
    }

    let worker = Worker::start(&sandbox);
    wait_drained(&sandbox);
    assert_eq!(
        events_of(&sandbox, "down-1"),
        ["PostToolUse", "UserPromptSubmit"]
    );
    let prompts = sqlite_rows(&sandbox.database(), "SELECT text FROM user_prompts");
    assert_eq!(prompts.len(), 1);
    assert!(
        prompts[0][0].as_str().unwrap().contains("[REDACTED:"),
        "{prompts:?}"
    );
    assert_eq!(metric(&worker, "claude_mem_spool_drained_total"), 2.0);
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(
        health["spool"],
        json!({"backlog": 0, "quarantined": 0}),
        "{health}"
    );
}

#[test]
fn a_hung_worker_is_abandoned_within_the_budget_and_the_event_spooled() {
    // Accepts and holds every connection without a word, as a wedged worker would.
    let port = hung_port();
    let sandbox = Sandbox::new();
    let (out, took) = run_hook(
        hook_to(&sandbox, port),
        "PostToolUse",
        &bash_event("hung-1", "toolu_h1"),
    );
    assert_silent(&out, took, "hung worker");
    // A PostToolUse's answer carries nothing: it waits 300 ms for the commit, not the whole budget.
    assert!(
        took >= Duration::from_millis(250),
        "gave up at once on a worker that might answer: {took:?}"
    );
    assert_eq!(spooled(&sandbox).len(), 1);
    // The next hooks find it marked unresponsive: a short probe each, not the budget again.
    for n in 2..=3 {
        let (out, took) = run_hook(
            hook_to(&sandbox, port),
            "PostToolUse",
            &bash_event("hung-1", &format!("toolu_h{n}")),
        );
        assert_silent(&out, took, "hung worker, again");
        assert!(
            took < Duration::from_millis(250),
            "hook {n} waited {took:?} on a worker known to hang"
        );
    }
    assert_eq!(spooled(&sandbox).len(), 3);

    let _worker = Worker::start(&sandbox);
    wait_drained(&sandbox);
    assert_eq!(events_of(&sandbox, "hung-1"), ["PostToolUse"; 3]);
}

/// One canned HTTP answer per connection, for as many connections as come.
fn answering(reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply.as_bytes());
        }
    });
    port
}

#[test]
fn failing_answers_are_spooled_and_refusals_are_not() {
    for (reply, spools) in [
        (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            true,
        ),
        (
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            true,
        ),
        (
            "HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            true,
        ),
        (
            "HTTP/1.1 422 Unprocessable Entity\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            false,
        ),
        (
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            false,
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            false,
        ),
    ] {
        let sandbox = Sandbox::new();
        let (out, took) = run_hook(
            hook_to(&sandbox, answering(reply)),
            "Stop",
            &json!({"session_id": "s"}).to_string(),
        );
        assert!(out.status.success() && out.stderr.is_empty(), "{reply}");
        assert!(took < BUDGET + MARGIN, "{reply}: {took:?}");
        assert_eq!(spooled(&sandbox).len(), usize::from(spools), "{reply}");
    }
}

/// The same event delivered live and spooled (what a hung worker that stored it anyway, then came back,
/// sees), in both orders: one row each.
#[test]
fn an_event_delivered_live_and_spooled_is_stored_once() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let down = closed_port();
    let events = [
        ("PostToolUse", bash_event("both-1", "toolu_b1")),
        ("UserPromptSubmit", prompt_event("both-1")),
    ];
    // Spooled first (a hook that found no worker on its port), then live.
    for (event, body) in &events {
        let (out, _) = run_hook(hook_to(&sandbox, down), event, body);
        assert!(out.status.success());
    }
    for (event, body) in &events {
        let (out, _) = run_hook(hook_to(&sandbox, worker.port), event, body);
        assert!(out.status.success());
    }
    wait_drained(&sandbox);
    // Live first, then spooled.
    let later = [
        ("PostToolUse", bash_event("both-2", "toolu_b2")),
        ("UserPromptSubmit", prompt_event("both-2")),
    ];
    for (event, body) in &later {
        let (out, _) = run_hook(hook_to(&sandbox, worker.port), event, body);
        assert!(out.status.success());
        let (out, _) = run_hook(hook_to(&sandbox, down), event, body);
        assert!(out.status.success());
    }
    wait_drained(&sandbox);
    assert_eq!(
        events_of(&sandbox, "both-1"),
        ["PostToolUse", "UserPromptSubmit"]
    );
    assert_eq!(
        events_of(&sandbox, "both-2"),
        ["PostToolUse", "UserPromptSubmit"]
    );
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM user_prompts"),
        2
    );
    assert_eq!(metric(&worker, "claude_mem_spool_drained_total"), 4.0);
}

#[test]
fn a_corrupt_entry_is_quarantined_and_the_rest_still_drain() {
    let sandbox = Sandbox::new();
    let down = closed_port();
    let (out, _) = run_hook(
        hook_to(&sandbox, down),
        "PostToolUse",
        &bash_event("corrupt-1", "toolu_c1"),
    );
    assert!(out.status.success());
    let good = spooled(&sandbox);
    assert_eq!(good.len(), 1);
    // A truncated copy sorted before it, and garbage after it.
    let whole = std::fs::read(&good[0]).unwrap();
    let truncated = spool_dir(&sandbox).join("0000000000001-1-000000001.hook");
    std::fs::write(&truncated, &whole[..whole.len() - 5]).unwrap();
    let garbage = spool_dir(&sandbox).join("9999999999999-1-000000001.hook");
    std::fs::write(&garbage, b"\x00\xffnot an entry").unwrap();
    let (out, _) = run_hook(
        hook_to(&sandbox, down),
        "Stop",
        &json!({"session_id": "corrupt-1"}).to_string(),
    );
    assert!(out.status.success());
    assert_eq!(spooled(&sandbox).len(), 4);

    let worker = Worker::start(&sandbox);
    wait_drained(&sandbox);
    assert_eq!(events_of(&sandbox, "corrupt-1"), ["PostToolUse", "Stop"]);
    let quarantine = spool_dir(&sandbox).join("quarantine");
    for bad in [&truncated, &garbage] {
        let moved = quarantine.join(bad.file_name().unwrap());
        assert!(moved.is_file(), "{} not quarantined", bad.display());
        let mut reason = moved.into_os_string();
        reason.push(".reason");
        assert!(Path::new(&reason).is_file());
    }
    assert_eq!(metric(&worker, "claude_mem_spool_quarantined_total"), 2.0);
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(
        health["spool"],
        json!({"backlog": 0, "quarantined": 2}),
        "{health}"
    );
}
