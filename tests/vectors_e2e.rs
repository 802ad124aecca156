//! Durable vectors through the real worker with MiniLM: every memory's vector is in the database, so a
//! graph that is deleted or damaged while the worker is down is rebuilt from it at the next start, the
//! first search after the start finds what it should, and the model embeds nothing again (the worker's
//! own count of embedded texts, `/api/health` `index.embedded`, stays 0). A SIGTERM in the middle of a
//! backlog stops the worker, and what it had embedded and stored is not embedded again.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn model_dir() -> String {
    std::env::var_os("CLAUDE_MEM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/all-MiniLM-L6-v2")
        })
        .to_string_lossy()
        .into_owned()
}

fn minilm_worker(sandbox: &Sandbox) -> Worker {
    let model = model_dir();
    Worker::start_with(
        sandbox,
        &[
            ("CLAUDE_MEM_EMBEDDER", "minilm"),
            ("CLAUDE_MEM_MODEL_DIR", model.as_str()),
            ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
        ],
    )
}

/// Notes on unrelated topics; the searches below paraphrase two of them with no word in common.
const NOTES: &[(&str, &str)] = &[
    (
        "Postgres connection pool",
        "The API ran out of database connections under load; raised the pool size to 40 and added a \
         timeout when acquiring a connection.",
    ),
    (
        "Dark mode toggle",
        "The settings page got a switch between light and dark colour themes, remembered in local \
         storage.",
    ),
    (
        "Flaky upload test",
        "The file upload integration test failed one run in ten because it raced the virus scanner; \
         it now waits for the scan event.",
    ),
    (
        "Invoice PDF rendering",
        "Invoices are rendered to PDF with the company logo, line items and VAT totals per country.",
    ),
    (
        "Rate limiter for login",
        "Five failed sign-in attempts from one address lock it out for fifteen minutes.",
    ),
    (
        "Kubernetes liveness probe",
        "The pod restarted in a loop because the liveness probe hit a slow endpoint; it now calls \
         /healthz.",
    ),
];

fn save(worker: &Worker, title: &str, text: &str) {
    let r = http()
        .post(worker.url("/api/memories"))
        .json(&json!({"title": title, "text": text, "project": "acme"}))
        .send()
        .expect("POST /api/memories");
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
}

fn health(worker: &Worker) -> Value {
    let (status, health) = get_json(worker, "/api/health");
    assert_eq!(status, 200, "{health}");
    health
}

fn wait_health(worker: &Worker, deadline: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let h = health(worker);
        if done(&h) {
            return h;
        }
        assert!(start.elapsed() < deadline, "gave up waiting: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The titles a vector-only search returns, best first.
fn vector_titles(worker: &Worker, query: &str) -> Vec<String> {
    let (status, answer) = get_json(
        worker,
        &format!(
            "/api/search?q={}&mode=vector&limit=3&min_score=0",
            query.replace(' ', "%20")
        ),
    );
    assert_eq!(status, 200, "{answer}");
    answer["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["observation"]["title"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn stored_vectors(sandbox: &Sandbox) -> i64 {
    sqlite_count(
        &sandbox.database(),
        "SELECT COUNT(*) FROM memory_vectors WHERE embedder = 'minilm-l6-v2' AND dim = 384",
    )
}

#[test]
fn a_lost_graph_is_rebuilt_from_stored_vectors_without_the_model() {
    let sandbox = Sandbox::new();
    let worker = minilm_worker(&sandbox);
    for (title, text) in NOTES {
        save(&worker, title, text);
    }
    let n = NOTES.len() as u64;
    let h = wait_health(&worker, Duration::from_secs(120), |h| {
        h["index"]["vectors"] == n && h["index"]["state"] == "ready"
    });
    assert_eq!(h["index"]["embedder"], "minilm-l6-v2", "{h}");
    // Each note embedded once, and its vector stored with the embedder's id and dimension.
    assert_eq!(h["index"]["embedded"], n, "{h}");
    assert_eq!(stored_vectors(&sandbox), n as i64);
    let paraphrase = "database runs out of connections when busy";
    assert_eq!(
        vector_titles(&worker, paraphrase)
            .first()
            .map(String::as_str),
        Some("Postgres connection pool")
    );
    // Stopped, so the graph is on disk to be damaged (a killed worker's is whatever it saved last).
    assert!(worker.stop().success());

    let vectors = sandbox.data_dir().join("index/vectors");
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 4] = [
        ("graph deleted", |dir| {
            std::fs::remove_file(dir.join("vectors.hnsw.graph")).unwrap()
        }),
        ("sidecar garbled", |dir| {
            std::fs::write(dir.join("vectors.meta.json"), b"{\"dim\": 384, \"meta\": [").unwrap()
        }),
        ("sidecar disagrees with the graph", |dir| {
            // A sidecar listing fewer points than the graph holds: "the graph has 6 points but its
            // sidecar lists 5", with a manifest that vouches for both (as after an interrupted save).
            let path = dir.join("vectors.meta.json");
            let mut sidecar: Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let meta = sidecar["meta"].as_object_mut().unwrap();
            let first = meta.keys().next().unwrap().clone();
            meta.remove(&first);
            std::fs::write(&path, sidecar.to_string()).unwrap();
            std::fs::remove_file(dir.join("vectors.manifest.json")).unwrap();
        }),
        ("vector directory deleted", |dir| {
            std::fs::remove_dir_all(dir).unwrap()
        }),
    ];
    for (what, damage) in damages {
        damage(&vectors);
        let worker = minilm_worker(&sandbox);
        // The first request after the start: the rebuilt graph answers it.
        let titles = vector_titles(&worker, paraphrase);
        assert_eq!(
            titles.first().map(String::as_str),
            Some("Postgres connection pool"),
            "{what}: {titles:?}"
        );
        assert_eq!(
            vector_titles(&worker, "switch the colour scheme of the app")
                .first()
                .map(String::as_str),
            Some("Dark mode toggle"),
            "{what}"
        );
        let h = health(&worker);
        let index = &h["index"];
        assert!(index["rebuild_reason"].is_string(), "{what}: {h}");
        assert_eq!(index["vectors"], n, "{what}: {h}");
        assert_eq!(index["vectors_restored"], n, "{what}: {h}");
        // No model call for any stored vector (queries are not counted).
        assert_eq!(index["embedded"], 0, "{what}: {h}");
        // Stopped, so the rebuilt graph is saved and the next round damages fresh files.
        assert!(worker.stop().success(), "{what}");
    }

    // A graph that loads is used as it is: nothing restored, nothing embedded.
    let worker = minilm_worker(&sandbox);
    let h = health(&worker);
    assert!(h["index"]["rebuild_reason"].is_null(), "{h}");
    assert_eq!(h["index"]["vectors_restored"], 0, "{h}");
    assert_eq!(
        vector_titles(&worker, paraphrase)[0],
        "Postgres connection pool"
    );
    // A memory stored, embedded, and the worker killed before its graph was saved: the index on disk
    // is behind, and catching up takes the stored vector, not the model.
    save(
        &worker,
        "Cron job timezone",
        "The nightly export ran at 2 am UTC instead of local time.",
    );
    wait_health(&worker, Duration::from_secs(60), |h| {
        h["index"]["vectors"] == n + 1 && h["index"]["embedded"] == 1
    });
    worker.kill9();
    let worker = minilm_worker(&sandbox);
    let h = wait_health(&worker, Duration::from_secs(30), |h| {
        h["index"]["vectors"] == n + 1 && h["index"]["state"] == "ready"
    });
    assert_eq!(h["index"]["embedded"], 0, "{h}");
    assert_eq!(
        vector_titles(&worker, "scheduled task fires at the wrong hour")[0],
        "Cron job timezone"
    );
}

#[test]
fn a_sigterm_during_a_backlog_stops_the_worker_and_nothing_stored_is_embedded_again() {
    let sandbox = Sandbox::new();
    let worker = minilm_worker(&sandbox);
    let total = 120;
    for i in 0..total {
        let (title, text) = NOTES[i % NOTES.len()];
        save(
            &worker,
            &format!("{title} #{i}"),
            &format!("{text} (note {i})"),
        );
    }
    // Some of the backlog is embedded, not all of it.
    let h = wait_health(&worker, Duration::from_secs(120), |h| {
        h["index"]["embedded"].as_u64().unwrap_or(0) >= 40
    });
    let embedded_before_stop = h["index"]["embedded"].as_i64().unwrap_or(0);
    assert!(worker.stop().success(), "the worker did not stop cleanly");
    let stored = stored_vectors(&sandbox);
    // Vectors are stored every 16 texts as they are made, so the stop abandons at most that much work
    // (not the rest of a 256-row page).
    assert!(
        stored + 16 >= embedded_before_stop,
        "{embedded_before_stop} embedded before the stop, only {stored} stored"
    );

    let worker = minilm_worker(&sandbox);
    let h = wait_health(&worker, Duration::from_secs(300), |h| {
        h["index"]["state"] == "ready" && h["index"]["vectors"] == total as u64
    });
    // After the restart only the memories without a stored vector were embedded.
    assert_eq!(
        h["index"]["embedded"].as_i64().unwrap_or(-1),
        total as i64 - stored,
        "{h}"
    );
    assert_eq!(stored_vectors(&sandbox), total as i64);
}
