//! Issue 18's limits, against the real binary over real sockets: idle and half-sent connections under
//! a 1,024 file limit do not keep hooks out and do not hold SIGTERM; an oversized Content-Length is
//! refused unread; bad paths answer JSON; a session's answer comes in bounded pages; a memory's lists are
//! capped; `files` and secret JSON keys are redacted.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `claude-mem serve` started through `sh -c 'ulimit -n LIMIT; exec …'`, so the worker runs under that
/// file limit whatever the test process has.
struct Limited {
    child: Child,
    _stdout: BufReader<std::process::ChildStdout>,
    base: String,
    addr: SocketAddr,
}

impl Limited {
    fn start(sandbox: &Sandbox, nofile: u32, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new("sh");
        let _ = std::fs::create_dir_all(sandbox.home());
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" serve --port 0"))
            .arg(bin())
            .env("CLAUDE_MEM_DATA_DIR", sandbox.data_dir())
            .env("HOME", sandbox.home())
            .env("CLAUDE_MEM_LOG_LEVEL", "warn")
            // No test reaches the internet (the embedding model would be fetched from Hugging Face).
            .env("CLAUDE_MEM_MODEL_DOWNLOAD", "off")
            .env_remove("CLAUDE_MEM_PORT")
            .env_remove("CLAUDE_MEM_HOST")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("CLAUDE_MEM_COMPRESSOR")
            .env_remove("CLAUDE_MEM_ANTHROPIC_BASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn sh");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("banner");
        assert!(!line.is_empty(), "the worker exited before listening");
        let base = line.trim().rsplit(' ').next().expect("url").to_owned();
        let addr = base
            .trim_start_matches("http://")
            .parse()
            .expect("socket address");
        Self {
            child,
            _stdout: stdout,
            base,
            addr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(timeout: Duration) -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TEST_TOKEN}").parse().unwrap(),
    );
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
        .unwrap()
}

fn tool_event(session: &str, i: usize) -> String {
    json!({
        "session_id": session,
        "hook_event_name": "PostToolUse",
        "cwd": "/tmp/limits",
        "tool_name": "Bash",
        "tool_use_id": format!("toolu_{session}_{i}"),
        "tool_input": { "command": format!("echo {i}") },
        "tool_response": { "stdout": format!("{i}"), "stderr": "", "interrupted": false },
    })
    .to_string()
}

/// Raises this process's own file limit so it can hold thousands of client sockets.
fn raise_own_file_limit(want: u64) {
    let pid = std::process::id().to_string();
    let _ = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={want}:{want}")])
        .status();
}

fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(1024)
}

/// Opens `n` connections: a third idle, a third with half a request head, a third with a whole head
/// and half a body. Connections the server already closed are fine (that is the point); the ones that
/// could not even be opened are counted.
fn pressure(addr: SocketAddr, n: usize, into: &mut Vec<TcpStream>) -> usize {
    let mut failed = 0;
    for i in 0..n {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
            failed += 1;
            continue;
        };
        let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = match i % 3 {
            0 => Ok(()),
            1 => s.write_all(b"POST /hooks/PostToolUse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"),
            _ => s.write_all(
                format!(
                    "POST /hooks/PostToolUse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \
                     {TEST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"session_id\":"
                )
                .as_bytes(),
            ),
        };
        into.push(s);
    }
    failed
}

#[test]
fn idle_and_half_sent_connections_neither_keep_hooks_out_nor_hold_shutdown() {
    if open_files_limit() < 4096 {
        raise_own_file_limit(8192);
    }
    assert!(
        open_files_limit() >= 2300,
        "the test needs to hold 2,000 sockets; its file limit is {}",
        open_files_limit()
    );
    let sandbox = Sandbox::new();
    let worker = Limited::start(&sandbox, 1024, &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", worker.pid())).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 1024 ")),
        "{limits}"
    );
    let http = client(Duration::from_secs(10));
    let mut held = Vec::new();
    let mut failed_connects = 0;
    let mut stored = 0;
    let started = Instant::now();
    for round in 0..10 {
        failed_connects += pressure(worker.addr, 200, &mut held);
        // A hook in the middle of the flood: answered, and quickly.
        for k in 0..3 {
            let i = round * 3 + k;
            let t = Instant::now();
            let response = http
                .post(worker.url("/hooks/PostToolUse"))
                .header("content-type", "application/json")
                .body(tool_event("pressure", i))
                .send()
                .unwrap_or_else(|e| {
                    panic!("hook {i} failed with {} connections open: {e}", held.len())
                });
            assert_eq!(response.status().as_u16(), 200, "hook {i}");
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "hook {i} took {:?}",
                t.elapsed()
            );
            stored += 1;
        }
    }
    eprintln!(
        "{} connections opened ({} refused) in {:?}",
        held.len(),
        failed_connects,
        started.elapsed()
    );
    assert!(held.len() >= 1900, "only {} connections opened", held.len());
    let count = sqlite_count(
        &sandbox.database(),
        "SELECT COUNT(*) FROM pending_messages WHERE session_id = 'pressure'",
    );
    assert_eq!(count, stored);

    // A live-stream reader that never reads, plus fresh half-sent requests, at the moment of SIGTERM.
    let mut sse = TcpStream::connect(worker.addr).unwrap();
    sse.write_all(
        format!(
            "GET /api/stream HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\r\n",
            worker.addr
        )
        .as_bytes(),
    )
    .unwrap();
    pressure(worker.addr, 100, &mut held);
    std::thread::sleep(Duration::from_millis(300));
    let mut worker = worker;
    let term = Instant::now();
    Command::new("kill")
        .args(["-TERM", &worker.pid().to_string()])
        .status()
        .unwrap();
    let status = wait_with_deadline(&mut worker.child, Duration::from_secs(15));
    let took = term.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?} with stuck clients"
    );
    drop(sse);
    drop(held);
}

/// Sends raw bytes and reads the answer until the server closes or `wait` passes.
fn raw(addr: SocketAddr, request: &[u8], wait: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(request).unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), t.elapsed())
}

fn body_json(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body.trim()).unwrap_or_else(|_| panic!("not JSON: {answer}"))
}

#[test]
fn oversized_content_length_is_refused_unread_and_bad_requests_answer_json() {
    let sandbox = Sandbox::new();
    let worker = Limited::start(
        &sandbox,
        4096,
        &[
            ("CLAUDE_MEM_MAX_BODY_BYTES", "4096"),
            ("CLAUDE_MEM_HTTP_HEADER_TIMEOUT_MS", "1000"),
            ("CLAUDE_MEM_HTTP_BODY_TIMEOUT_MS", "1000"),
        ],
    );
    let auth = format!("Authorization: Bearer {TEST_TOKEN}\r\n");
    // 1 GB announced, nothing sent: a server that reads it would wait; this one answers at once.
    let (answer, took) = raw(
        worker.addr,
        format!(
            "POST /hooks/Stop HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
            worker.addr
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(body_json(&answer)["error"], "body_too_large", "{answer}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // A path segment that is not UTF-8, and an id that is not a number: JSON, not text.
    let (status, text) = {
        let r = client(Duration::from_secs(10))
            .post(worker.url("/hooks/%ff"))
            .header("content-type", "application/json")
            .body(json!({"session_id": "s"}).to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert!(v["error"].is_string() && v["reason"].is_string(), "{v}");
    let r = client(Duration::from_secs(10))
        .get(worker.url("/api/observations/not-a-number"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().expect("JSON");
    assert!(v["error"].is_string(), "{v}");

    // Half a body: 408 after the body timeout, and the connection closes.
    let (answer, took) = raw(
        worker.addr,
        format!(
            "POST /hooks/Stop HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"session",
            worker.addr
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(body_json(&answer)["error"], "body_timeout");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Half a head, and a connection that sends nothing: closed after the header timeout.
    for request in [&b"GET /api/health HTTP/1.1\r\nHo"[..], &b""[..]] {
        let (_, took) = raw(worker.addr, request, Duration::from_secs(10));
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}

#[test]
fn a_big_session_comes_in_bounded_pages_that_cover_everything() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_COMPRESSION_ENABLED", "false")]);
    let n = 260;
    for i in 0..n {
        let (status, _) = post_hook(&worker, "PostToolUse", tool_event("big", i));
        assert_eq!(status, 200);
    }
    let http = http();
    let page = |query: &str| -> (u16, Value, usize) {
        let r = http
            .get(worker.url(&format!("/api/sessions/big{query}")))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        let len = text.len();
        (status, serde_json::from_str(&text).unwrap(), len)
    };
    let (status, first, _) = page("");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["events"].as_array().unwrap().len(), 100);
    assert_eq!(first["page"]["limit"], 100);
    assert_eq!(first["page"]["next_offset"], 100);
    assert_eq!(first["page"]["totals"]["events"], n as i64);
    let mut seen = std::collections::BTreeSet::new();
    let mut offset = Some(0i64);
    let mut pages = 0;
    while let Some(o) = offset {
        let (status, body, bytes) = page(&format!("?limit=50&offset={o}"));
        assert_eq!(status, 200);
        assert!(bytes < 1_000_000, "a page of 50 is {bytes} bytes");
        for e in body["events"].as_array().unwrap() {
            assert!(seen.insert(e["id"].as_i64().unwrap()), "event twice: {e}");
        }
        offset = body["page"]["next_offset"].as_i64();
        pages += 1;
        assert!(pages < 20);
    }
    assert_eq!(seen.len(), n);
    assert_eq!(pages, 6);
    for bad in ["?limit=0", "?limit=501", "?offset=-1", "?limit=x"] {
        let (status, body, _) = page(bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
}

fn anthropic_like_key() -> String {
    format!(
        "sk-ant-api03-{}-{}AA",
        "Z".repeat(40),
        "q1W2e3R4t5Y6".repeat(4)
    )
}

#[test]
fn memories_are_capped_and_every_field_redacted_and_json_keys_too() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_COMPRESSION_ENABLED", "false")]);
    let http = http();
    let save = |body: Value| {
        let r = http
            .post(worker.url("/api/memories"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let files: Vec<String> = (0..101).map(|i| format!("src/{i}.rs")).collect();
    let (status, body) = save(json!({ "text": "many files", "files": files }));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "memory_too_large");
    assert!(body["reason"].as_str().unwrap().contains("files"), "{body}");
    let concepts: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
    let (status, body) = save(json!({ "text": "many concepts", "concepts": concepts }));
    assert_eq!(status, 400, "{body}");
    let (status, body) = save(json!({ "text": "long path", "files": ["x".repeat(1001)] }));
    assert_eq!(status, 400, "{body}");
    let (status, body) = save(json!({ "text": "x".repeat(10_001) }));
    assert_eq!(status, 400, "{body}");

    let key = anthropic_like_key();
    let (status, body) = save(json!({
        "text": "the deploy key lives in the vault",
        "files": [format!("config/{key}.env"), "src/main.rs"],
        "project": "redact",
    }));
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert!(!body.to_string().contains(&key), "{body}");
    let (_, stored) = get_json(&worker, &format!("/api/observations/{id}"));
    assert!(!stored.to_string().contains(&key), "{stored}");
    assert_eq!(
        stored["observation"]["files_read"][1], "src/main.rs",
        "{stored}"
    );

    // A row from before the caps (500 files, written straight into SQLite): answers cut it to 100.
    let files: Vec<String> = (0..500).map(|i| format!("old/{i}.rs")).collect();
    let files = serde_json::to_string(&files).unwrap().replace('\'', "''");
    exec_sql(
        &sandbox.database(),
        &[&format!(
            "INSERT INTO observations (session_id, project, type, title, files_read, compressor, created_at)
             VALUES ('notes:redact', 'redact', 'change', 'old row', '{files}', 'local', 1)"
        )],
    );
    let (status, listed) = get_json(&worker, "/api/observations?project=redact&limit=10");
    assert_eq!(status, 200, "{listed}");
    let old = listed["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["title"] == "old row")
        .expect("the old row is listed");
    assert_eq!(old["files_read"].as_array().unwrap().len(), 100);

    // A secret used as a JSON object key in a hook payload is redacted before storage.
    let event = json!({
        "session_id": "keys",
        "hook_event_name": "PostToolUse",
        "cwd": "/tmp/keys",
        "tool_name": "Bash",
        "tool_use_id": "toolu_keys",
        "tool_input": { "command": "env", key.clone(): "value" },
        "tool_response": { "stdout": "" },
    });
    let (status, _) = post_hook(&worker, "PostToolUse", event.to_string());
    assert_eq!(status, 200);
    let rows = sqlite_rows(
        &sandbox.database(),
        "SELECT payload FROM pending_messages WHERE session_id = 'keys'",
    );
    let payload = rows[0][0].as_str().unwrap();
    assert!(!payload.contains(&key), "{payload}");
    assert!(payload.contains("REDACTED"), "{payload}");
}

#[test]
fn a_live_stream_reader_that_stops_reading_is_dropped() {
    let sandbox = Sandbox::new();
    let worker = Limited::start(
        &sandbox,
        4096,
        &[
            ("CLAUDE_MEM_COMPRESSION_ENABLED", "false"),
            ("CLAUDE_MEM_HTTP_WRITE_TIMEOUT_MS", "1500"),
        ],
    );
    let mut sse = TcpStream::connect(worker.addr).unwrap();
    sse.write_all(
        format!(
            "GET /api/stream HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\r\n",
            worker.addr
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = [0u8; 256];
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = sse.read(&mut head).unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    // Far more than the socket buffers hold, while the reader reads nothing.
    let http = client(Duration::from_secs(30));
    let mut sent = 0usize;
    for i in 0..120 {
        let text = format!("prompt {i} {}", "lorem ipsum dolor ".repeat(15_000));
        sent += text.len();
        let body = json!({
            "session_id": "stream",
            "hook_event_name": "UserPromptSubmit",
            "cwd": "/tmp/stream",
            "prompt": text,
        });
        let r = http
            .post(worker.url("/hooks/UserPromptSubmit"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    std::thread::sleep(Duration::from_secs(4));
    // Drain: a dropped stream ends (EOF or reset) after what was already in flight; a live one would
    // go on sending everything and then block.
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    // Health events arrive every 5 s on a live stream, so a read timeout alone never ends the loop.
    let drain = Instant::now();
    let ended = loop {
        if drain.elapsed() > Duration::from_secs(20) {
            break false;
        }
        match sse.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(
        ended,
        "the stream was not dropped ({received} of {sent} bytes read)"
    );
    assert!(received < sent, "{received} >= {sent}");
    // The worker still serves.
    let r = http.get(worker.url("/api/health")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
