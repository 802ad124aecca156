//! `claude-mem prune` against the real binary: old memories leave SQLite and the search indexes, recent
//! ones stay, a dry run changes nothing, the file shrinks, and it works both with the worker stopped
//! (the CLI opens store and indexes itself) and running (the CLI asks the worker).

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::process::Output;
use std::time::{Duration, Instant};

const FAST: &[(&str, &str)] = &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")];
const OLD: usize = 30;
const NEW: usize = 3;
const DAY_MS: i64 = 86_400_000;

/// A port nothing listens on, so the CLI is sure to find no worker (a developer's real one included).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

fn save_memory(worker: &Worker, project: &str, text: &str) {
    let response = http()
        .post(worker.url("/api/memories"))
        .json(&json!({ "text": text, "project": project, "type": "discovery" }))
        .send()
        .expect("POST memory");
    assert!(response.status().is_success(), "{:?}", response.text());
}

fn search_titles(worker: &Worker, q: &str) -> Vec<String> {
    let (status, answer) = get_json(worker, &format!("/api/search?q={q}&mode=text&limit=50"));
    assert_eq!(status, 200, "{answer}");
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["observation"]["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn wait_index_ready(worker: &Worker, documents: u64) {
    let start = Instant::now();
    loop {
        let (_, health) = get_json(worker, "/api/health");
        let index = &health["index"];
        if index["state"] == "ready" && index["documents"].as_u64() == Some(documents) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "index never reached {documents} documents: {health}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// OLD memories about zebras in project `attic` (aged 400 days by SQL) and NEW about giraffes in
/// `desk`, all indexed; the worker is stopped on return.
fn seed(sandbox: &Sandbox) {
    let worker = Worker::start_with(sandbox, FAST);
    // Bulky text, so that deleting the old rows frees pages VACUUM can give back.
    let filler = "sediment layers accumulate slowly over the long winter ".repeat(140);
    for i in 0..OLD {
        save_memory(
            &worker,
            "attic",
            &format!("Ancient zebra herd note {i}\n{filler}"),
        );
    }
    for i in 0..NEW {
        save_memory(&worker, "desk", &format!("Fresh giraffe sighting {i}"));
    }
    wait_index_ready(&worker, (OLD + NEW) as u64);
    assert!(worker.stop().success());
    let old = now_ms() - 400 * DAY_MS;
    exec_sql(
        &sandbox.database(),
        &[
            &format!("UPDATE observations SET created_at = {old} WHERE project = 'attic'"),
            &format!(
                "UPDATE sdk_sessions SET started_at = {old}, last_seen_at = {old} WHERE project = 'attic'"
            ),
        ],
    );
}

fn prune(sandbox: &Sandbox, port: &str, args: &[&str]) -> Output {
    sandbox
        .command()
        .env("CLAUDE_MEM_PORT", port)
        .arg("prune")
        .args(args)
        .output()
        .expect("run prune")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "prune failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn observation_count(sandbox: &Sandbox) -> i64 {
    sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM observations")
}

#[test]
fn prune_with_the_worker_stopped_removes_old_memories_from_sqlite_and_search() {
    let sandbox = Sandbox::new();
    seed(&sandbox);
    let port = closed_port().to_string();
    let db = sandbox.database();

    let dry = json_of(&prune(
        &sandbox,
        &port,
        &["--older-than", "90d", "--dry-run", "--json"],
    ));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["deleted"]["observations"], OLD as u64, "{dry}");
    assert_eq!(dry["deleted"]["sdk_sessions"], 1, "{dry}");
    assert_eq!(observation_count(&sandbox), (OLD + NEW) as i64);
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM sdk_sessions"),
        2,
        "a dry run changes nothing"
    );

    let size_before = std::fs::metadata(&db).expect("db").len();
    let done = json_of(&prune(&sandbox, &port, &["--older-than", "90d", "--json"]));
    assert_eq!(done["deleted"]["observations"], OLD as u64, "{done}");
    assert_eq!(done["vacuumed"], true);
    assert_eq!(done["index"], "deleted");
    assert!(
        done["bytes_after"].as_u64() < done["bytes_before"].as_u64(),
        "{done}"
    );
    assert!(std::fs::metadata(&db).expect("db").len() < size_before);
    assert_eq!(observation_count(&sandbox), NEW as i64);
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM sdk_sessions WHERE project = 'attic'"
        ),
        0
    );

    // Nothing older is left: a second prune deletes nothing and skips the VACUUM.
    let again = json_of(&prune(&sandbox, &port, &["--older-than", "90d", "--json"]));
    assert_eq!(again["deleted"]["observations"], 0);
    assert_eq!(again["vacuumed"], false);

    let worker = Worker::start_with(&sandbox, FAST);
    wait_index_ready(&worker, NEW as u64);
    assert!(search_titles(&worker, "zebra").is_empty());
    assert_eq!(search_titles(&worker, "giraffe").len(), NEW);
}

#[test]
fn prune_through_a_running_worker_updates_its_index_at_once() {
    let sandbox = Sandbox::new();
    seed(&sandbox);
    let worker = Worker::start_with(&sandbox, FAST);
    wait_index_ready(&worker, (OLD + NEW) as u64);
    let port = worker.port.to_string();
    assert!(search_titles(&worker, "zebra")
        .iter()
        .any(|t| t.contains("zebra")));

    let dry = json_of(&prune(
        &sandbox,
        &port,
        &[
            "--older-than",
            "12w",
            "--project",
            "attic",
            "--dry-run",
            "--json",
        ],
    ));
    assert_eq!(dry["deleted"]["observations"], OLD as u64);
    assert_eq!(observation_count(&sandbox), (OLD + NEW) as i64);

    // Another project's filter finds nothing old to delete.
    let other = json_of(&prune(
        &sandbox,
        &port,
        &["--older-than", "12w", "--project", "desk", "--json"],
    ));
    assert_eq!(other["deleted"]["observations"], 0);

    let done = prune(
        &sandbox,
        &port,
        &["--older-than", "12w", "--project", "attic"],
    );
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(text.contains("observations"), "{text}");
    assert!(text.contains("Database vacuumed"), "{text}");
    assert_eq!(observation_count(&sandbox), NEW as i64);
    assert!(search_titles(&worker, "zebra").is_empty());
    assert_eq!(search_titles(&worker, "giraffe").len(), NEW);
    // The running worker's health counts follow the delete at once, not only after a restart.
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["index"]["documents"], NEW as u64, "{health}");
    assert_eq!(health["index"]["vectors"], NEW as u64, "{health}");
    // The deletes are durable in the index files: a restart does not bring the old ones back.
    assert!(worker.stop().success());
    let worker = Worker::start_with(&sandbox, FAST);
    wait_index_ready(&worker, NEW as u64);
    assert!(search_titles(&worker, "zebra").is_empty());
}

#[test]
fn bad_ages_and_bodies_are_refused_clearly() {
    let sandbox = Sandbox::new();
    let port = closed_port().to_string();
    for bad in ["6m", "90", "0d", "soon"] {
        let out = prune(&sandbox, &port, &["--older-than", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("claude-mem:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let worker = Worker::start_with(&sandbox, FAST);
    for body in [
        json!({}),
        json!({ "older_than_days": 30, "cutoff": 5 }),
        json!({ "older_than_days": 0 }),
        json!({ "cutoff": "tomorrow" }),
        json!({ "older_than_days": 30, "colour": "blue" }),
        json!({ "cutoff": now_ms() + DAY_MS }),
    ] {
        let response = http()
            .post(worker.url("/api/admin/prune"))
            .json(&body)
            .send()
            .expect("POST");
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let answer: Value = response.json().expect("JSON");
        assert_eq!(answer["error"], "invalid_body", "{answer}");
        assert!(answer["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let response = http()
        .post(worker.url("/api/admin/prune"))
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 400);
    // Admin routes want a JSON body: anything else is refused before it is read.
    let response = http()
        .post(worker.url("/api/admin/prune"))
        .body("not json")
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 415);
    let answer: Value = response.json().expect("JSON");
    assert_eq!(answer["error"], "unsupported_media_type", "{answer}");
}
