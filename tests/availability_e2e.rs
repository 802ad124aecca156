//! Availability: nothing on disk that claude-mem derived or the user edited can stop the worker, and
//! what it writes stays private. Real binary, real files, real HTTP.
//!
//! - every index file truncated (and the vector manifest deleted or garbled) in turn: the worker starts,
//!   rebuilds from SQLite and answers search; `doctor` names the damage; `reindex` heals it offline;
//! - settings: what would not start is refused by `PUT /api/settings` (400, the key named); a bad
//!   `settings.json` at start keeps the last good values and `/api/health` names the key;
//! - file modes after a settings PUT and an export; a fresh data directory logs no permission warnings;
//! - a read-only database: `/api/health` says so; a root-owned one: the start error says who owns it.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every non-empty file under the index directory but the lock files, sorted.
fn index_files(index: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !name.ends_with(".lock") && std::fs::metadata(&p).is_ok_and(|m| m.len() > 0) {
                    out.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(index, &mut out);
    out.sort();
    out
}

/// `truncate -s -100` (or to half, for a file under 200 bytes).
fn truncate(path: &Path) {
    let len = std::fs::metadata(path).expect("metadata").len();
    let to = if len >= 200 { len - 100 } else { len / 2 };
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open")
        .set_len(to)
        .expect("truncate");
}

fn run_cli(sandbox: &Sandbox, args: &[&str]) -> (bool, String) {
    let out = sandbox
        .command()
        .args(args)
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .output()
        .expect("run claude-mem");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_index_file_truncated_in_turn_means_a_rebuild_never_an_exit() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    wait_found(&worker, "queue retry", "src/queue/retry.rs");
    assert!(worker.stop().success());
    let index = sandbox.data_dir().join("index");
    let first = index_files(&index);
    assert!(
        first
            .iter()
            .any(|p| p.ends_with("vectors/vectors.hnsw.data")),
        "{first:?}"
    );
    let mut round = 0;
    loop {
        // Listed again each round: a rebuild writes new segment names.
        let files = index_files(&index);
        let Some(victim) = files.get(round) else {
            break;
        };
        let name = victim.strip_prefix(&index).unwrap().display().to_string();
        truncate(victim);
        let worker = Worker::start_with(&sandbox, SEARCH_ENV);
        let (status, health) = get_json(&worker, "/api/health");
        assert_eq!(status, 200, "{name}: {health}");
        eprintln!(
            "truncated {name}: {}",
            health["index"]["rebuild_reason"]
                .as_str()
                .unwrap_or("(loaded)")
        );
        assert!(
            health["index"]["rebuild_reason"].is_string(),
            "truncated {name} went unnoticed: {health}"
        );
        wait_found(&worker, "auth login", "src/auth/login.rs");
        wait_found(&worker, "api routes", "src/api/routes.rs");
        assert!(worker.stop().success(), "{name}");
        round += 1;
    }
    assert!(round >= first.len().min(10), "only {round} files damaged");

    // The manifest itself: garbled, then deleted together with a truncated data file.
    let manifest = index.join("vectors/vectors.manifest.json");
    std::fs::write(
        &manifest,
        b"{\"version\": 1, \"files\": {\"vectors.meta.json\": 7",
    )
    .unwrap();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    let (_, health) = get_json(&worker, "/api/health");
    assert!(
        health["index"]["rebuild_reason"]
            .as_str()
            .is_some_and(|r| r.contains("manifest")),
        "{health}"
    );
    wait_found(&worker, "queue retry", "src/queue/retry.rs");
    assert!(worker.stop().success());
    std::fs::remove_file(&manifest).unwrap();
    truncate(&index.join("vectors/vectors.hnsw.data"));
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    wait_found(&worker, "auth login", "src/auth/login.rs");
    assert!(worker.stop().success());
}

#[test]
fn doctor_sees_a_damaged_index_and_reindex_heals_it_with_the_worker_stopped() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    wait_found(&worker, "queue retry", "src/queue/retry.rs");
    assert!(worker.stop().success());
    let (_, report) = run_cli(&sandbox, &["doctor"]);
    assert!(report.contains("index files"), "{report}");

    let data = sandbox.data_dir().join("index/vectors/vectors.hnsw.data");
    truncate(&data);
    let (healthy, report) = run_cli(&sandbox, &["doctor"]);
    assert!(!healthy, "doctor says ok on a truncated index: {report}");
    assert!(report.contains("vectors.hnsw.data"), "{report}");

    let (reindexed, out) = run_cli(&sandbox, &["reindex"]);
    assert!(reindexed, "offline reindex failed: {out}");
    assert!(out.contains("reindexed: 3 documents"), "{out}");
    let (_, report) = run_cli(&sandbox, &["doctor"]);
    let line = report
        .lines()
        .find(|l| l.contains("index files"))
        .unwrap_or_default()
        .to_owned();
    assert!(!line.contains("vectors.hnsw.data"), "{report}");

    // The worker loads what reindex built, without a rebuild of its own.
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    let (_, health) = get_json(&worker, "/api/health");
    assert!(health["index"]["rebuild_reason"].is_null(), "{health}");
    wait_found(&worker, "auth login", "src/auth/login.rs");
    // While a worker has the index, an offline reindex cannot run beside it: it goes through the worker.
    assert!(worker.stop().success());
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn settings_that_would_stop_the_worker_are_refused_and_a_bad_file_keeps_the_last_good_values() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let settings = sandbox.data_dir().join("settings.json");
    assert_eq!(mode(&settings), 0o600, "written private from the start");
    for (body, key) in [
        (json!({"log_level": "x=nope"}), "log_level"),
        (json!({"port": 0}), "port"),
        (
            json!({"compression.openai_base_url": "http://"}),
            "compression.openai_base_url",
        ),
    ] {
        let r = http()
            .put(worker.url("/api/settings"))
            .json(&body)
            .send()
            .expect("PUT");
        let status = r.status().as_u16();
        let answer: Value = r.json().expect("JSON");
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], key, "{answer}");
        assert!(
            answer["reason"].is_string() || answer["message"].is_string(),
            "{answer}"
        );
    }
    let r = http()
        .put(worker.url("/api/settings"))
        .json(&json!({"log_level": "info", "log_retention_days": 9}))
        .send()
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(mode(&settings), 0o600, "a PUT keeps settings.json private");
    assert!(worker.stop().success());

    // The start after that PUT kept a copy of the good file.
    let worker = Worker::start(&sandbox);
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["warnings"], json!([]), "{health}");
    assert!(worker.stop().success());
    let last_good = sandbox.data_dir().join("settings.json.last-good");
    assert_eq!(mode(&last_good), 0o600);

    let mut file: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    file["log_level"] = json!("x=nope");
    file["port"] = json!(0);
    file["log_retention_days"] = json!("nine");
    std::fs::write(&settings, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let worker = Worker::start(&sandbox);
    let (status, health) = get_json(&worker, "/api/health");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok", "{health}");
    let warnings = health["warnings"].to_string();
    for key in ["log_level", "port", "log_retention_days"] {
        assert!(
            warnings.contains(&format!("setting {key}")),
            "{key}: {warnings}"
        );
    }
    // The settings page shows the values the worker runs with (the last good ones).
    let (_, page) = get_json(&worker, "/api/settings");
    let value = |key: &str| {
        page["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["key"] == key))
            .map(|f| f["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(value("log_retention_days"), json!(9), "{page}");
    assert_eq!(value("log_level"), json!("info"), "{page}");
    assert!(worker.stop().success());
    // doctor says the same: a warning naming the keys, not "the worker refuses to start".
    let (_, report) = run_cli(&sandbox, &["doctor"]);
    assert!(report.contains("setting log_level"), "{report}");

    // Not JSON at all: still starts.
    std::fs::write(&settings, "{ \"port\": ").unwrap();
    let worker = Worker::start(&sandbox);
    let (_, health) = get_json(&worker, "/api/health");
    assert!(
        health["warnings"].to_string().contains("settings.json"),
        "{health}"
    );
    assert!(worker.stop().success());
}

#[test]
fn exports_and_fresh_data_directories_are_private_and_quiet() {
    let sandbox = Sandbox::without_token();
    let out = sandbox
        .command()
        .args(["serve", "--port", "0"])
        .env("CLAUDE_MEM_LOG_LEVEL", "warn")
        .env("CLAUDE_MEM_COMPRESSION_ENABLED", "false")
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = out.id();
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let output = out.wait_with_output().expect("wait");
    let logs = String::from_utf8_lossy(&output.stderr).into_owned()
        + &std::fs::read_dir(sandbox.data_dir().join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>();
    assert!(
        !logs.contains("readable by other users"),
        "a fresh data directory warned about its own files: {logs}"
    );
    let data = sandbox.data_dir();
    assert_eq!(mode(&data), 0o700);
    for f in ["claude-mem.db", "settings.json"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }

    let target = sandbox.dir.path().join("export.jsonl");
    std::fs::write(&target, "old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, text) = run_cli(&sandbox, &["export", "--out", target.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert_eq!(mode(&target), 0o600, "an export holds every memory");
}

/// A user that is not root (root writes through any mode): `nobody`.
const NOBODY: &str = "65534";

fn chown_nobody(path: &Path) {
    let ok = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}"), path.to_str().unwrap()])
        .status()
        .expect("chown")
        .success();
    assert!(ok);
}

/// `claude-mem serve` as `nobody`: (banner line or None, stderr after exit if it exited).
fn serve_as_nobody(sandbox: &Sandbox) -> (std::process::Child, Option<String>) {
    use std::io::BufRead;
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ])
    .arg(bin())
    .args(["serve", "--port", "0"])
    .env("CLAUDE_MEM_DATA_DIR", sandbox.data_dir())
    .env("HOME", sandbox.home())
    .env("CLAUDE_MEM_LOG_LEVEL", "warn")
    .env("CLAUDE_MEM_COMPRESSION_ENABLED", "false")
    .env("CLAUDE_MEM_EMBEDDER", "hash")
    .env_remove("CLAUDE_MEM_PORT")
    .env_remove("CLAUDE_MEM_HOST")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("setpriv");
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ = stdout.read_line(&mut line);
    std::mem::forget(stdout);
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .map(str::to_owned)
        .filter(|b| b.starts_with("http"));
    (child, base)
}

fn can_switch_user() -> bool {
    Command::new("setpriv")
        .args([&format!("--reuid={NOBODY}"), "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_read_only_database_makes_health_not_ok_and_a_root_owned_one_is_named() {
    if !can_switch_user() {
        eprintln!("skipped: cannot run a process as another user here");
        return;
    }
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.home()).unwrap();
    std::fs::set_permissions(sandbox.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown_nobody(sandbox.dir.path());
    // A first start as nobody makes the database.
    let (mut child, base) = serve_as_nobody(&sandbox);
    assert!(base.is_some(), "nobody could not start a worker");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    wait_with_deadline(&mut child, Duration::from_secs(20));
    let db = sandbox.database();
    assert_eq!(std::fs::metadata(&db).unwrap().uid(), 65534);

    // Read-only (0400: already private, so the start leaves the mode alone).
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
    let (mut child, base) = serve_as_nobody(&sandbox);
    match base {
        Some(base) => {
            let health: Value = http()
                .get(format!("{base}/api/health"))
                .send()
                .expect("health")
                .json()
                .expect("JSON");
            eprintln!("read-only database, health: {}", health["warnings"]);
            assert_ne!(health["status"], "ok", "{health}");
            assert_eq!(health["writes"]["ok"], false, "{health}");
            assert!(
                health["warnings"].to_string().contains("read-only"),
                "the cause is named: {health}"
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        None => {
            let out = child.wait_with_output().expect("wait");
            let err = String::from_utf8_lossy(&out.stderr);
            eprintln!("read-only database, start refused: {err}");
            assert!(err.contains("read-only"), "{err}");
        }
    }

    // Owned by root: the error says so (not "cannot create the data directory").
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _ = Command::new("chown")
        .args(["0:0", db.to_str().unwrap()])
        .status();
    let (mut child, base) = serve_as_nobody(&sandbox);
    match base {
        Some(base) => {
            let health: Value = http()
                .get(format!("{base}/api/health"))
                .send()
                .expect("health")
                .json()
                .expect("JSON");
            eprintln!("root-owned database, health: {}", health["warnings"]);
            assert_eq!(health["writes"]["ok"], false, "{health}");
            assert!(
                health["warnings"].to_string().contains("owned by uid 0"),
                "{health}"
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        None => {
            let out = child.wait_with_output().expect("wait");
            let err = String::from_utf8_lossy(&out.stderr);
            eprintln!("root-owned database, start refused: {err}");
            assert!(err.contains("owned by uid 0"), "{err}");
            assert!(!err.contains("cannot create"), "{err}");
        }
    }
}

#[test]
fn an_api_token_directory_and_a_busy_port_are_named_as_such() {
    let sandbox = Sandbox::without_token();
    std::fs::create_dir_all(sandbox.data_dir().join("api-token")).unwrap();
    let out = sandbox
        .command()
        .args(["serve", "--port", "0", "--host", "0.0.0.0"])
        .env("CLAUDE_MEM_COMPRESSION_ENABLED", "false")
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .stdin(Stdio::null())
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(err.contains("api-token"), "{err}");
        assert!(err.contains("is a directory"), "{err}");
        assert!(!err.contains("cannot create the data directory"), "{err}");
    }

    // A port something else holds: the hint names that port, not 37777.
    let sandbox = Sandbox::new();
    let foreign = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = foreign.local_addr().expect("addr").port();
    let out = sandbox
        .command()
        .args(["serve", "--port", &port.to_string()])
        .env("CLAUDE_MEM_COMPRESSION_ENABLED", "false")
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .stdin(Stdio::null())
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!(":{port}/api/health")), "{err}");
    // The default port must not be named; a bare "37777" can turn up by chance in a temp path or pid.
    assert!(!err.contains(":37777/"), "{err}");

    // A port this user's own worker holds is not an error: the second start steps aside (two
    // SessionStart hooks may race to start a worker).
    let worker = Worker::start(&sandbox);
    let out = sandbox
        .command()
        .args(["serve", "--port", &worker.port.to_string()])
        .env("CLAUDE_MEM_COMPRESSION_ENABLED", "false")
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .stdin(Stdio::null())
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("already serves"), "{err}");
    assert!(worker.stop().success());
}
