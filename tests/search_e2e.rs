//! Search through the real worker: a new memory is findable within a second of being stored, the
//! indexes rebuild themselves when corrupt or built by another embedder, and the CLI talks to it.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const FAST: &[(&str, &str)] = &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")];

fn model_dir() -> PathBuf {
    std::env::var_os("CLAUDE_MEM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/all-MiniLM-L6-v2")
        })
}

fn edit(
    session: &str,
    id: &str,
    file: &str,
    new: &str,
    prompt: &str,
) -> Vec<(&'static str, Value)> {
    let cwd = "/home/dev/work/acme-api";
    vec![
        (
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": cwd, "prompt": prompt}),
        ),
        (
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Edit", "tool_use_id": id,
            "tool_input": {"file_path": format!("{cwd}/{file}"), "old_string": "todo!()", "new_string": new},
            "tool_response": {}}),
        ),
    ]
}

fn search(worker: &Worker, query: &str) -> (u16, Value) {
    let url = format!("/api/search?q={}&limit=5", query.replace(' ', "%20"));
    get_json(worker, &url)
}

fn titles(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["observation"]["title"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls until `query` finds a title containing `expect`; returns how long that took.
fn wait_found(worker: &Worker, query: &str, expect: &str, deadline: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (status, answer) = search(worker, query);
        assert_eq!(status, 200, "{answer}");
        if titles(&answer).iter().any(|t| t.contains(expect)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < deadline,
            "{query:?} never found {expect:?}: {answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_new_memory_is_searchable_right_after_it_is_stored() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, FAST);
    for (event, body) in edit(
        "s1",
        "t1",
        "src/store/db.rs",
        "fn open_pool_with_wal() {}",
        "enable WAL in the store",
    ) {
        assert_eq!(post_hook(&worker, event, body.to_string()).0, 200);
    }
    wait_found(
        &worker,
        "store db",
        "src/store/db.rs",
        Duration::from_secs(10),
    );
    let (_, answer) = search(&worker, "open pool with wal");
    assert_eq!(
        answer["results"][0]["observation"]["files_modified"][0],
        "src/store/db.rs"
    );
    for mode in ["text", "vector", "hybrid"] {
        let (status, a) = get_json(&worker, &format!("/api/search?q=store&mode={mode}"));
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["mode"], mode);
    }
    let (_, filtered) = get_json(&worker, "/api/search?q=store&project=elsewhere");
    assert_eq!(filtered["results"].as_array().unwrap().len(), 0);
    // A time window: the memory is in one that ends in a day, and in none that ended in 2020, on both
    // sides of a hybrid query.
    for mode in ["text", "vector", "hybrid"] {
        let count = |window: &str| {
            let (status, a) = get_json(
                &worker,
                &format!("/api/search?q=open%20pool%20with%20wal&mode={mode}&min_score=0&{window}"),
            );
            assert_eq!(status, 200, "{a}");
            a["results"].as_array().unwrap().len()
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let tomorrow = now_ms + 86_400_000;
        assert!(count(&format!("until={tomorrow}")) >= 1, "{mode}");
        assert_eq!(count("until=2020-01-01"), 0, "{mode}");
        assert_eq!(count("since=2020-01-01&until=2020-12-31"), 0, "{mode}");
    }
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["index"]["documents"], 1);
    assert!(health["index"]["embedder"].is_string());
}

#[test]
fn bad_search_requests_get_reasons() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    for (path, code) in [
        ("/api/search", "invalid_query"),
        ("/api/search?q=x&mode=psychic", "invalid_query"),
        ("/api/search?q=x&type=poem", "invalid_query"),
        ("/api/search?q=x&since=whenever", "invalid_query"),
        ("/api/search?q=x&limit=0", "invalid_query"),
        ("/api/search?q=x&min_score=1.5", "invalid_query"),
        ("/api/search?q=x&min_score=NaN", "invalid_query"),
        ("/api/search?q=x&offset=-1", "invalid_query"),
        ("/api/search?q=x&offset=20000", "invalid_query"),
        ("/api/search?q=x&until=whenever", "invalid_query"),
        (
            "/api/search?q=x&since=2026-11-02&until=2026-11-01",
            "invalid_query",
        ),
    ] {
        let (status, answer) = get_json(&worker, path);
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(code)),
            "{path}: {answer}"
        );
    }
}

#[test]
fn corrupt_indexes_are_rebuilt_and_search_keeps_answering() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, FAST);
    for (i, file) in [
        "src/api/routes.rs",
        "src/auth/login.rs",
        "src/queue/retry.rs",
    ]
    .iter()
    .enumerate()
    {
        for (event, body) in edit("s", &format!("t{i}"), file, "fn handler() {}", "work") {
            post_hook(&worker, event, body.to_string());
        }
    }
    wait_found(
        &worker,
        "queue retry",
        "src/queue/retry.rs",
        Duration::from_secs(10),
    );
    assert!(worker.stop().success());
    let index = sandbox.data_dir().join("index");
    std::fs::write(index.join("vectors/vectors.hnsw.graph"), b"\x00garbage").unwrap();
    for entry in std::fs::read_dir(index.join("tantivy")).unwrap().flatten() {
        std::fs::write(entry.path(), b"garbage").unwrap();
    }
    let worker = Worker::start_with(&sandbox, FAST);
    let (_, health) = get_json(&worker, "/api/health");
    let reason = health["index"]["rebuild_reason"].as_str().unwrap_or("");
    assert!(reason.contains("unreadable"), "{health}");
    wait_found(
        &worker,
        "auth login",
        "src/auth/login.rs",
        Duration::from_secs(20),
    );
    let health = worker.wait_until_processed(Duration::from_secs(5));
    assert_eq!(health["index"]["documents"], 3, "{health}");
}

#[test]
fn switching_the_embedder_rebuilds_the_vectors_and_the_cli_searches() {
    let sandbox = Sandbox::new();
    let hashed = Worker::start_with(&sandbox, &[FAST[0], ("CLAUDE_MEM_EMBEDDER", "hash")]);
    for (event, body) in edit(
        "s",
        "t1",
        "web/src/hooks/useAuth.ts",
        "export function useAuth() {}",
        "the login page forgets the session",
    ) {
        post_hook(&hashed, event, body.to_string());
    }
    wait_found(&hashed, "use auth", "useAuth", Duration::from_secs(10));
    let (_, health) = get_json(&hashed, "/api/health");
    assert_eq!(health["index"]["embedder"], "hash-384");
    assert!(hashed.stop().success());

    let model = model_dir();
    let model = model.to_str().unwrap();
    let real = Worker::start_with(
        &sandbox,
        &[
            FAST[0],
            ("CLAUDE_MEM_EMBEDDER", "minilm"),
            ("CLAUDE_MEM_MODEL_DIR", model),
        ],
    );
    let (_, health) = get_json(&real, "/api/health");
    assert!(
        health["index"]["rebuild_reason"]
            .as_str()
            .unwrap_or("")
            .contains("embedder"),
        "{health}"
    );
    assert!(health["index"]["embedder_fallback"].is_null(), "{health}");
    // A paraphrase only the semantic model can connect to the memory. It is a loose one (relevance ~0.2,
    // under the default floor of 0.3), so the floor is lowered: what is tested is that the rebuilt vectors
    // connect it at all.
    let took = wait_found(
        &real,
        "user gets logged out&mode=vector&min_score=0.1",
        "useAuth",
        Duration::from_secs(30),
    );
    assert!(took < Duration::from_secs(30));

    let out = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", real.port.to_string())
        .args(["search", "use auth hook", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(titles(&answer)[0].contains("useAuth"));
    let table = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", real.port.to_string())
        .args(["search", "useAuth"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("web/src/hooks/useAuth.ts")
            || String::from_utf8_lossy(&table.stdout).contains("useAuth")
    );
    let reindex = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", real.port.to_string())
        .arg("reindex")
        .output()
        .unwrap();
    assert!(
        reindex.status.success(),
        "{}",
        String::from_utf8_lossy(&reindex.stderr)
    );
    assert!(
        String::from_utf8_lossy(&reindex.stdout).contains("reindexed: 1 documents"),
        "{}",
        String::from_utf8_lossy(&reindex.stdout)
    );
    let down = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", "1")
        .args(["search", "x"])
        .output()
        .unwrap();
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("not reachable"));
}
