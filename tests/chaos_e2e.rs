//! Chaos: the worker is SIGKILLed twice under a load of 32 concurrent clients, and afterwards every
//! acknowledged hook event is in SQLite exactly once and the database is intact.
//!
//! "Acknowledged" means a 2xx came back. Clients retry on any transport error, so an event whose request
//! reached the worker just before the kill (committed, answer lost) is sent again: the store's
//! event-key dedup must turn that redelivery into a no-op, not a second row.

use claude_mem_e2e::*;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 625; // 32 × 625 = 20,000 events
const TOTAL: usize = CLIENTS * PER_CLIENT;
/// Compression and the model are not what this test is about; turning them off keeps the worker's CPU
/// for ingest (the machine has two cores) and restarts quick.
const ENV: &[(&str, &str)] = &[
    ("CLAUDE_MEM_COMPRESSION_ENABLED", "false"),
    ("CLAUDE_MEM_EMBEDDER", "hash"),
];

fn marker(client: usize, i: usize) -> String {
    format!("chaos-marker-{client}-{i}")
}

/// A real PostToolUse payload with a unique tool_use_id (the dedup key) and a unique marker in its input.
fn event(template: &Value, client: usize, i: usize) -> Vec<u8> {
    let mut e = template.clone();
    e["session_id"] = format!("chaos-session-{client}").into();
    e["tool_use_id"] = format!("toolu_chaos_{client}_{i}").into();
    e["tool_input"]["command"] = format!("echo {}", marker(client, i)).into();
    serde_json::to_vec(&e).expect("serialise")
}

#[derive(Default)]
struct Tally {
    acked: AtomicUsize,
    /// Transport errors after the request may have reached the worker (not a refused connection): the
    /// event may be committed with its answer lost, so the resend exercises redelivery dedup.
    ambiguous: AtomicUsize,
    refused: AtomicUsize,
}

/// Sends one event until a 2xx comes back. Any 4xx is a bug (the payloads are valid); 5xx and transport
/// errors are retried, as Claude Code's hook runner would on its next delivery.
fn deliver(
    http: &reqwest::blocking::Client,
    base: &RwLock<String>,
    body: &[u8],
    tally: &Tally,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if started.elapsed() > Duration::from_secs(120) {
            return Err("no 2xx within 120 s".into());
        }
        let url = format!(
            "{}/hooks/PostToolUse",
            base.read().map_err(|_| "poisoned")?.as_str()
        );
        match http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
        {
            Ok(r) if r.status().is_success() => {
                tally.acked.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Ok(r) if r.status().is_client_error() => {
                let status = r.status();
                return Err(format!("{status}: {}", r.text().unwrap_or_default()));
            }
            Ok(_) => {
                tally.ambiguous.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                if e.is_connect() {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.ambiguous.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn integrity(db: &std::path::Path) -> String {
    sqlite_rows(db, "PRAGMA integrity_check")[0][0]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn twenty_thousand_events_through_two_kill9s_are_stored_exactly_once() {
    let started = Instant::now();
    let template = fixtures()
        .into_iter()
        .find(|(name, _, _)| name == "PostToolUse.Bash.json")
        .map(|(_, _, json)| json)
        .expect("PostToolUse.Bash.json fixture");
    let sandbox = Sandbox::new();
    let mut worker = Worker::start_with(&sandbox, ENV);
    let base = Arc::new(RwLock::new(worker.base.clone()));
    let tally = Arc::new(Tally::default());

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (base, tally, template) = (base.clone(), tally.clone(), template.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let mut auth = reqwest::header::HeaderMap::new();
                auth.insert(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", claude_mem_e2e::TEST_TOKEN)
                        .parse()
                        .map_err(|e| format!("{e}"))?,
                );
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(15))
                    .default_headers(auth)
                    .build()
                    .map_err(|e| e.to_string())?;
                for i in 0..PER_CLIENT {
                    deliver(&http, &base, &event(&template, client, i), &tally)
                        .map_err(|e| format!("client {client} event {i}: {e}"))?;
                }
                Ok(())
            })
        })
        .collect();

    // Two crashes in the middle of the load, each followed by a restart on a new port.
    for threshold in [TOTAL * 3 / 10, TOTAL * 6 / 10] {
        let wait = Instant::now();
        while tally.acked.load(Ordering::Relaxed) < threshold {
            assert!(
                wait.elapsed() < Duration::from_secs(120),
                "load stalled at {} acknowledged",
                tally.acked.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        worker.kill9();
        // Let the clients run into the dead port for a moment.
        std::thread::sleep(Duration::from_millis(300));
        worker = Worker::start_with(&sandbox, ENV);
        *base.write().expect("lock") = worker.base.clone();
    }
    for c in clients {
        c.join().expect("client thread").expect("client");
    }
    let acked = tally.acked.load(Ordering::Relaxed);
    assert_eq!(acked, TOTAL, "every event is eventually acknowledged");

    // Every acknowledged marker is on disk exactly once. Counted by the marker inside the payload, not by
    // the dedup key, so a second row under any key would show.
    let db = sandbox.database();
    let rows = sqlite_rows(
        &db,
        "SELECT json_extract(payload, '$.tool_input.command'), count(*) FROM pending_messages
         WHERE session_id LIKE 'chaos-session-%' GROUP BY 1",
    );
    let duplicated: Vec<_> = rows.iter().filter(|r| r[1] != 1).take(5).collect();
    assert!(
        duplicated.is_empty(),
        "stored more than once: {duplicated:?}"
    );
    let stored: HashSet<String> = rows
        .iter()
        .filter_map(|r| r[0].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<String> = (0..CLIENTS)
        .flat_map(|c| (0..PER_CLIENT).map(move |i| (c, i)))
        .map(|(c, i)| format!("echo {}", marker(c, i)))
        .filter(|m| !stored.contains(m))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    assert_eq!(stored.len(), TOTAL);

    // Session counters moved in the same transactions as the events: a kill cannot split them.
    let skew = sqlite_rows(
        &db,
        "SELECT s.id, s.event_count, (SELECT count(*) FROM pending_messages p WHERE p.session_id = s.id)
         FROM sdk_sessions s WHERE s.id LIKE 'chaos-session-%'",
    );
    assert_eq!(skew.len(), CLIENTS);
    for row in &skew {
        assert_eq!(row[1], row[2], "session counter out of step: {row:?}");
    }

    // Deterministic redelivery, whatever the kills happened to hit: resending a slice of what is stored
    // is acknowledged and changes nothing.
    let http = http();
    for client in 0..4 {
        for i in (0..PER_CLIENT).step_by(25) {
            let r = http
                .post(worker.url("/hooks/PostToolUse"))
                .header("content-type", "application/json")
                .body(event(&template, client, i))
                .send()
                .expect("resend");
            assert!(r.status().is_success(), "resend answered {}", r.status());
        }
    }
    let count = |db: &std::path::Path| {
        sqlite_count(
            db,
            "SELECT count(*) FROM pending_messages WHERE session_id LIKE 'chaos-session-%'",
        )
    };
    assert_eq!(count(&db), TOTAL as i64, "a redelivery added a row");
    assert_eq!(integrity(&db), "ok");

    assert!(worker.stop().success(), "graceful stop after the chaos");
    assert_eq!(integrity(&db), "ok");
    assert_eq!(count(&db), TOTAL as i64);
    eprintln!(
        "chaos: {TOTAL} events acknowledged, {} retries after an ambiguous failure, {} refused connections, {:.1?}",
        tally.ambiguous.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        started.elapsed()
    );
}

/// A tmpfs of a fixed size mounted over a directory, unmounted on drop: a disk that really fills up.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs at {} failed ({}): the disk-full test needs root or CAP_SYS_ADMIN \
             (CI runs as root): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Writes zeros until the filesystem refuses: afterwards not one more page fits.
fn fill(path: &std::path::Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(28),
                    "filler stopped by {e}, not ENOSPC"
                );
                break;
            }
        }
    }
    // The last partial chunk may sit in the page cache only; tmpfs has no other place to put it.
    let _ = f.sync_all();
    written
}

fn big_event(template: &Value, n: usize) -> Vec<u8> {
    let mut e = template.clone();
    e["session_id"] = "full-session".into();
    e["tool_use_id"] = format!("toolu_full_{n}").into();
    e["tool_input"]["command"] = format!("echo full-marker-{n}").into();
    // 16 KiB of output per event, varied so no layer can make it small.
    e["tool_response"]["stdout"] = (0..2048)
        .map(|i| format!("{:07x} ", (n * 2048 + i) * 2_654_435_761 % 0xfff_ffff))
        .collect::<String>()
        .into();
    serde_json::to_vec(&e).expect("serialise")
}

fn stored_full_markers(db: &std::path::Path) -> Vec<(String, i64)> {
    sqlite_rows(
        db,
        "SELECT json_extract(payload, '$.tool_input.command'), count(*) FROM pending_messages
         WHERE session_id = 'full-session' GROUP BY 1",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].as_str().unwrap_or("").to_owned(),
            r[1].as_i64().unwrap_or(0),
        )
    })
    .collect()
}

#[test]
fn a_full_disk_gets_a_clear_error_never_a_false_ack_and_capture_resumes_after() {
    let template = fixtures()
        .into_iter()
        .find(|(name, _, _)| name == "PostToolUse.Bash.json")
        .map(|(_, _, json)| json)
        .expect("PostToolUse.Bash.json fixture");
    let sandbox = Sandbox::new();
    let _disk = Tmpfs::mount(&sandbox.data_dir(), "24m");
    // The mount hides the token the sandbox started with.
    sandbox.plant_token();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_EMBEDDER", "hash")]);
    let http = http();
    let post = |n: usize| {
        let r = http
            .post(worker.url("/hooks/PostToolUse"))
            .header("content-type", "application/json")
            .body(big_event(&template, n))
            .send()
            .expect("the worker answers while the disk is full");
        let status = r.status().as_u16();
        let text = r.text().expect("body");
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
        (status, json)
    };
    for n in 0..5 {
        assert_eq!(post(n).0, 200);
    }

    let filler = sandbox.data_dir().join("filler");
    let filled = fill(&filler);
    assert!(filled > 0);
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let mut n = 5;
    // SQLite may still fit a few events into WAL space it already owns; past that every write fails.
    while refused.len() < 20 {
        assert!(n < 2000, "never refused an event on a full disk");
        let (status, body) = post(n);
        match status {
            200 => acked.push(n),
            507 => {
                assert_eq!(body["error"], "disk_full", "{body}");
                assert!(
                    body["reason"]
                        .as_str()
                        .unwrap_or("")
                        .contains("Free some space"),
                    "{body}"
                );
                refused.push(n);
            }
            other => panic!("answer {other} on a full disk: {body}"),
        }
        n += 1;
    }
    let (status, _) = get_json(&worker, "/api/health");
    assert_eq!(status, 200, "the worker stays up on a full disk");
    eprintln!("acked on a full disk: {acked:?}; refused: {refused:?}");

    // What was acknowledged is stored; what was refused is not (the transaction rolled back).
    let db = sandbox.database();
    let stored = stored_full_markers(&db);
    let marker = |n: usize| format!("echo full-marker-{n}");
    for n in (0..5).chain(acked.iter().copied()) {
        assert!(
            stored.iter().any(|(m, c)| *m == marker(n) && *c == 1),
            "acknowledged event {n} is not stored once: {stored:?}"
        );
    }
    for n in &refused {
        assert!(
            !stored.iter().any(|(m, _)| *m == marker(*n)),
            "refused event {n} was stored"
        );
    }
    assert_eq!(
        integrity(&db),
        "ok",
        "a full disk must not corrupt the database"
    );

    // Space back: new events and the refused ones (redelivered, as a hook runner would) are stored.
    std::fs::remove_file(&filler).expect("free the space");
    for n in refused.iter().copied().chain(n..n + 5) {
        let (status, body) = post(n);
        assert_eq!(status, 200, "event {n} after space was freed: {body}");
    }
    let stored = stored_full_markers(&db);
    assert_eq!(
        stored.len(),
        5 + acked.len() + refused.len() + 5,
        "{stored:?}"
    );
    assert!(stored.iter().all(|(_, c)| *c == 1), "{stored:?}");
    assert!(
        worker.stop().success(),
        "graceful stop after the disk filled"
    );
    assert_eq!(integrity(&db), "ok");
    eprintln!(
        "disk full: filler {filled} bytes, {} events still fitted, {} refused with 507",
        acked.len(),
        refused.len()
    );
}

fn search_titles(worker: &Worker, query: &str) -> (u16, Value) {
    get_json(
        worker,
        &format!("/api/search?q={}&limit=5", query.replace(' ', "%20")),
    )
}

/// Overwrites bytes in the middle of a file in place (same length, no truncation): the kind of damage a
/// bad sector or a stray write does, which a length check cannot see.
fn scribble(path: &std::path::Path) {
    use std::io::{Seek, SeekFrom, Write};
    let len = std::fs::metadata(path).expect("metadata").len();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for scribbling");
    // Early in the file: the end holds Tantivy's footer, whose damage any open notices.
    let at = len / 4;
    let n = (len - at).min(8) as usize;
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&vec![0xA5; n]).expect("scribble");
}

fn tantivy_files(index: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(index.join("tantivy"))
        .expect("tantivy dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && name != "meta.json"
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corrupt_indexes_are_detected_at_start_rebuilt_from_sqlite_and_search_answers_throughout() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    wait_found(&worker, "queue retry", "src/queue/retry.rs");
    assert!(worker.stop().success());
    let index = sandbox.data_dir().join("index");

    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 5] = [
        ("segment bytes", |index| {
            for f in tantivy_files(index) {
                scribble(&f);
            }
        }),
        ("tantivy meta.json", |index| {
            std::fs::write(index.join("tantivy/meta.json"), b"{\"segments\": [garbage").unwrap()
        }),
        ("vector graph", |index| {
            scribble(&index.join("vectors/vectors.hnsw.graph"));
            std::fs::write(index.join("vectors/vectors.hnsw.data"), b"\x00\x01").unwrap();
        }),
        ("vector sidecar", |index| {
            std::fs::write(index.join("vectors/vectors.meta.json"), b"[1,2").unwrap()
        }),
        ("index stamp", |index| {
            std::fs::write(index.join("index.json"), b"\xff\xfe").unwrap()
        }),
    ];
    for (what, damage) in damages {
        damage(&index);
        let worker = Worker::start_with(&sandbox, SEARCH_ENV);
        // Right away, while the indexer refills from SQLite: answers, possibly with fewer results.
        let (status, answer) = search_titles(&worker, "auth login");
        assert_eq!(status, 200, "{what}: {answer}");
        let (_, health) = get_json(&worker, "/api/health");
        assert!(
            health["index"]["rebuild_reason"].is_string(),
            "{what} went unnoticed: {health}"
        );
        let reason = health["index"]["rebuild_reason"].as_str().unwrap_or("");
        eprintln!("{what}: {reason}");
        if what == "segment bytes" {
            // Only the checksum pass at open sees damage inside a segment.
            assert!(reason.contains("checksum mismatch"), "{reason}");
        }
        wait_found(&worker, "auth login", "src/auth/login.rs");
        wait_found(&worker, "api routes", "src/api/routes.rs");
        assert!(worker.stop().success(), "{what}");
    }
}

#[test]
fn damage_while_running_never_takes_the_worker_down_and_reindex_heals_it() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    wait_found(&worker, "queue retry", "src/queue/retry.rs");
    let index = sandbox.data_dir().join("index");
    for f in tantivy_files(&index) {
        scribble(&f);
    }
    for query in ["queue retry", "auth login", "\"fn handler\"", "routes"] {
        let (status, answer) = search_titles(&worker, query);
        assert!(
            status == 200 || (status == 500 && answer["error"] == "search_failed"),
            "{query}: {status} {answer}"
        );
    }
    let (status, _) = get_json(&worker, "/api/health");
    assert_eq!(status, 200, "the worker survives a damaged index");
    let r = http()
        .post(worker.url("/api/reindex"))
        .json(&serde_json::json!({}))
        .send()
        .expect("reindex");
    assert_eq!(r.status().as_u16(), 202);
    wait_found(&worker, "auth login", "src/auth/login.rs");
    wait_found(&worker, "queue retry", "src/queue/retry.rs");
    assert!(worker.stop().success());
}
