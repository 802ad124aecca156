//! Malformed, mistyped, oversized, non-UTF-8 and cross-site requests: a 4xx with a JSON reason, nothing
//! stored half-way, and the worker keeps serving.

use claude_mem_e2e::*;
use serde_json::json;

#[test]
fn bad_bodies_get_a_json_reason_and_store_nothing() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_MAX_BODY_BYTES", "4096")]);
    let big = json!({"session_id": "big", "padding": "x".repeat(10_000)}).to_string();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "Stop",
            b"{\"session_id\": \"s1\",".to_vec(),
            400,
            "malformed_json",
        ),
        ("Stop", b"".to_vec(), 400, "malformed_json"),
        ("Stop", b"\"just a string\"".to_vec(), 422, "not_an_object"),
        (
            "Stop",
            b"{\"cwd\": \"/tmp\"}".to_vec(),
            422,
            "missing_field",
        ),
        ("Stop", b"{\"session_id\": 7}".to_vec(), 422, "wrong_type"),
        (
            "PostToolUse",
            b"{\"session_id\": \"s1\", \"tool_name\": [\"Bash\"]}".to_vec(),
            422,
            "wrong_type",
        ),
        (
            "UserPromptSubmit",
            b"{\"session_id\": \"s1\", \"prompt\": {\"text\": 1}}".to_vec(),
            422,
            "wrong_type",
        ),
        (
            "Stop",
            b"{\"session_id\": \"s1\", \"hook_event_name\": \"SessionEnd\"}".to_vec(),
            422,
            "event_mismatch",
        ),
        (
            "Stop",
            b"{\"session_id\": \"\xff\xfe\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        ("Stop", big.into_bytes(), 413, "body_too_large"),
        (
            "Bad%20Name",
            b"{\"session_id\": \"s1\"}".to_vec(),
            400,
            "invalid_event_name",
        ),
    ];
    for (event, body, status, code) in cases {
        let (got_status, answer) = post_hook(&worker, event, body.clone());
        assert_eq!(
            got_status,
            status,
            "{event} {:?}: {answer}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(answer["error"], code, "{answer}");
        assert!(
            answer["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{answer}"
        );
    }
    let db = sandbox.database();
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages"),
        0
    );
    assert_eq!(sqlite_count(&db, "SELECT COUNT(*) FROM sdk_sessions"), 0);

    // Still serving, and good input still works.
    let (status, _) = post_hook(&worker, "Stop", json!({"session_id": "s1"}).to_string());
    assert_eq!(status, 200);
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages"),
        1
    );
}

#[test]
fn requests_from_other_sites_and_rebound_hosts_are_refused() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let client = http();
    let body = json!({"session_id": "csrf"}).to_string();
    let cross_site = client
        .post(worker.url("/hooks/Stop"))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(cross_site.status().as_u16(), 403);
    // A rebound page has no token (a request with the token may use any name: rebinding is a browser
    // attack): its hook is refused, and the Host check answers even where no token is needed.
    let rebound = http_anonymous()
        .post(worker.url("/hooks/Stop"))
        .header("host", format!("evil.example:{}", worker.port))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .unwrap();
    assert!(matches!(rebound.status().as_u16(), 401 | 403));
    let rebound = http_anonymous()
        .get(worker.url("/api/health"))
        .header("host", format!("evil.example:{}", worker.port))
        .send()
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 403);
    let answer: serde_json::Value = rebound.json().unwrap();
    assert_eq!(answer["error"], "forbidden_host");
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM pending_messages"),
        0
    );

    let local_page = client
        .get(worker.url("/api/health"))
        .header("origin", format!("http://127.0.0.1:{}", worker.port))
        .send()
        .unwrap();
    assert_eq!(local_page.status().as_u16(), 200);
}

#[test]
fn unknown_routes_and_methods_answer_json() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let (status, answer) = get_json(&worker, "/api/nothing-here");
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    let (status, answer) = get_json(&worker, "/hooks/Stop");
    assert_eq!(
        (status, answer["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
}
