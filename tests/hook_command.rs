//! `claude-mem hook`: forwards to a live worker, and fails open (exit 0, silent) against a dead, slow or
//! broken one.

use claude_mem_e2e::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).expect("fixture")
}

fn hook_against_port(sandbox: &Sandbox, port: u16) -> Command {
    let mut cmd = sandbox.command();
    cmd.env("CLAUDE_MEM_PORT", port.to_string());
    cmd
}

#[test]
fn session_start_prints_the_context_answer_and_events_are_stored() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let (out, _) = run_hook(
        hook_against_port(&sandbox, worker.port),
        "session-start",
        &fixture("SessionStart.startup.json"),
    );
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(
        printed["hookSpecificOutput"]["hookEventName"],
        "SessionStart"
    );
    assert!(printed["hookSpecificOutput"]["additionalContext"].is_string());

    // Other events print the worker's empty answer, `{}`, and are stored.
    let (out, _) = run_hook(
        hook_against_port(&sandbox, worker.port),
        "PostToolUse",
        &fixture("PostToolUse.Bash.json"),
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{}",
        "the empty answer, as the http hooks gave it"
    );
    let (_, session) = get_json(
        &worker,
        "/api/sessions/dd3c069f-cebc-4332-a2d2-b224021fc02d",
    );
    let names: Vec<&str> = session["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SessionStart", "PostToolUse"]);
}

#[test]
fn the_event_name_defaults_to_the_payloads() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let mut cmd = hook_against_port(&sandbox, worker.port);
    cmd.arg("hook").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(fixture("UserPromptSubmit.json").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["counts"]["prompts"], 1);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn assert_silent_success(out: &Output, took: Duration, what: &str) {
    assert!(out.status.success(), "{what}: exit {:?}", out.status);
    assert!(
        out.stdout.is_empty(),
        "{what}: stdout {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "{what}: stderr {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The budget is 1 s; the bound here only proves it is not waiting on the worker indefinitely.
    assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
}

#[test]
fn no_worker_means_silent_success() {
    let sandbox = Sandbox::new();
    let (out, took) = run_hook(
        hook_against_port(&sandbox, free_port()),
        "SessionStart",
        &fixture("SessionStart.startup.json"),
    );
    assert_silent_success(&out, took, "no worker");
}

#[test]
fn a_worker_that_never_answers_is_abandoned_within_the_budget() {
    // Accept and hold connections open without answering.
    let port = hung_port();
    let sandbox = Sandbox::new();
    let (out, took) = run_hook(
        hook_against_port(&sandbox, port),
        "SessionStart",
        &fixture("SessionStart.startup.json"),
    );
    assert_silent_success(&out, took, "silent worker");
    // It waits half a second for the context answer (the hook's CONTEXT_BUDGET), not less.
    assert!(
        took >= Duration::from_millis(450),
        "gave up before its budget: {took:?}"
    );
}

#[test]
fn a_garbage_answer_prints_nothing() {
    for answer in [
        "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nnot json!!!",
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\n[1,2,3]",
        "complete nonsense, not even HTTP\r\n\r\n",
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = answer.to_owned();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply.as_bytes());
            }
        });
        let sandbox = Sandbox::new();
        let (out, took) = run_hook(
            hook_against_port(&sandbox, port),
            "SessionStart",
            &fixture("SessionStart.startup.json"),
        );
        assert_silent_success(&out, took, answer);
    }
}

#[test]
fn a_stdin_that_never_closes_does_not_hang_claude_code() {
    let sandbox = Sandbox::new();
    let start = Instant::now();
    let mut child = hook_against_port(&sandbox, free_port())
        .args(["hook", "Stop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin_kept_open = child.stdin.take();
    let status = wait_with_deadline(&mut child, Duration::from_secs(10));
    assert!(status.success());
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn bad_stdin_and_bad_event_names_are_silent() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    for (event, stdin) in [("Stop", "{not json"), ("../../etc", "{}"), ("Stop", "")] {
        let (out, took) = run_hook(hook_against_port(&sandbox, worker.port), event, stdin);
        assert_silent_success(&out, took, event);
    }
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["counts"]["events"], 0);
}
