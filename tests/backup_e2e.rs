//! Backups and restores through the real binary: a snapshot taken while hooks keep arriving restores
//! to the same rows and stays searchable; tampered archives and running workers are refused without
//! touching the data; an S3 round trip against a real S3-compatible server (moto); the worker's
//! schedule keeps only the newest `backup.keep` archives.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FAST: &[(&str, &str)] = &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")];

/// A port nothing listens on, so a restore's "is a worker running?" probe never meets a developer's
/// real worker on 37777.
fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run claude-mem")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn backup(sandbox: &Sandbox, to: &str, env: &[(&str, &str)]) -> Value {
    let mut cmd = sandbox.command();
    cmd.args(["backup", "--to", to, "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(cmd);
    assert!(out.status.success(), "backup failed: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

fn restore(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = sandbox.command();
    cmd.arg("restore")
        .args(args)
        .env("CLAUDE_MEM_PORT", closed_port().to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

fn save_memory(worker: &Worker, text: &str) {
    let response = http()
        .post(worker.url("/api/memories"))
        .json(&json!({ "text": text, "project": "acme" }))
        .send()
        .expect("POST /api/memories");
    assert!(response.status().is_success(), "{:?}", response.text());
}

fn search_titles(worker: &Worker, query: &str) -> Vec<String> {
    let (status, answer) = get_json(worker, &format!("/api/search?q={query}&limit=10"));
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

fn wait_found(worker: &Worker, query: &str, expect: &str) {
    let start = Instant::now();
    while !search_titles(worker, query)
        .iter()
        .any(|t| t.contains(expect))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{query:?} never found {expect:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every file and directory under `dir` (relative), with each file's bytes: "untouched" means equal.
fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("prefix").to_owned();
            if path.is_dir() {
                out.push((rel, Vec::new()));
                walk(root, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn replaced_dirs(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data)
        .expect("read data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("replaced-"))
        })
        .collect()
}

#[test]
fn a_backup_taken_while_hooks_arrive_restores_to_the_same_rows_and_stays_searchable() {
    let source = Sandbox::new();
    let worker = Worker::start_with(&source, FAST);
    save_memory(&worker, "Zanzibar ledger reconciliation runs nightly");

    // Hooks keep arriving from another thread while the backup runs.
    let base = worker.base.clone();
    let poster = std::thread::spawn(move || {
        let client = http();
        let mut failures = Vec::new();
        for i in 0..300 {
            let body = json!({
                "session_id": format!("busy-{}", i % 7),
                "cwd": "/home/dev/work/acme",
                "hook_event_name": "UserPromptSubmit",
                "prompt": format!("prompt number {i} about the ledger"),
            });
            match client
                .post(format!("{base}/hooks/UserPromptSubmit"))
                .json(&body)
                .send()
            {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => failures.push(format!("{i}: {}", r.status())),
                Err(e) => failures.push(format!("{i}: {e}")),
            }
        }
        failures
    });
    let start = Instant::now();
    while sqlite_count(&source.database(), "SELECT COUNT(*) FROM user_prompts") < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "hooks are not arriving"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dest = source.dir.path().join("archives");
    let report = backup(&source, dest.to_str().expect("utf-8"), &[]);
    let failures = poster.join().expect("poster thread");
    assert!(
        failures.is_empty(),
        "hooks failed during the backup: {failures:?}"
    );

    let manifest = &report["manifest"];
    let tables = manifest["tables"].as_object().expect("tables");
    let prompts = tables["user_prompts"].as_i64().expect("count");
    assert!(prompts >= 20, "the snapshot predates the hooks: {manifest}");
    assert!(tables["observations"].as_i64() >= Some(1), "{manifest}");
    let archive = report["archive"].as_str().expect("archive").to_owned();
    let name = report["name"].as_str().expect("name");
    assert!(
        name.starts_with("claude-mem-backup-") && name.ends_with(".tar.gz"),
        "{name}"
    );
    assert!(Path::new(&archive).is_file());
    let sidecar = std::fs::read_to_string(format!("{archive}.sha256")).expect("sidecar");
    assert_eq!(
        sidecar.split_whitespace().next(),
        report["sha256"].as_str(),
        "{sidecar}"
    );
    assert!(manifest["note"].as_str().unwrap_or("").contains("rebuilt"));
    drop(worker);

    let verified = restore(&source, &[&archive, "--verify-only"], &[]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("matches its .sha256"),
        "{}",
        text(&verified)
    );

    let fresh = Sandbox::new();
    let out = restore(&fresh, &[&archive, "--yes", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let outcome: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(outcome["restored"]["replaced_dir"].is_null(), "{outcome}");
    for (table, count) in tables {
        let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
        assert_eq!(
            sqlite_count(&fresh.database(), &sql),
            count.as_i64().expect("count"),
            "{table}"
        );
    }

    let restored = Worker::start_with(&fresh, FAST);
    wait_found(&restored, "zanzibar", "Zanzibar ledger");
}

#[test]
fn a_tampered_archive_is_refused_and_the_current_data_is_untouched() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, FAST);
    save_memory(&worker, "Quokka cache warms on boot");
    let dest = sandbox.dir.path().join("archives");
    let report = backup(&sandbox, dest.to_str().expect("utf-8"), &[]);
    worker.stop();
    let archive = PathBuf::from(report["archive"].as_str().expect("archive"));
    let before = snapshot_tree(&sandbox.data_dir());

    // One byte changed inside the archive: the sidecar catches it.
    let mut bytes = std::fs::read(&archive).expect("archive");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&archive, &bytes).expect("tamper");
    let out = restore(&sandbox, &[archive.to_str().expect("utf-8"), "--yes"], &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not trustworthy") && err.contains("SHA-256"),
        "{}",
        text(&out)
    );
    assert_eq!(snapshot_tree(&sandbox.data_dir()), before);

    // Without its sidecar the damage is still caught (gzip's CRC, the manifest's checksums).
    std::fs::remove_file(format!("{}.sha256", archive.display())).expect("rm sidecar");
    let out = restore(&sandbox, &[archive.to_str().expect("utf-8"), "--yes"], &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not trustworthy"),
        "{}",
        text(&out)
    );
    assert_eq!(snapshot_tree(&sandbox.data_dir()), before);
    assert!(replaced_dirs(&sandbox.data_dir()).is_empty());

    // A path that is not there, and garbage: clear errors, non-zero exit.
    let out = restore(
        &sandbox,
        &["/nonexistent/claude-mem-backup.tar.gz", "--yes"],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no backup archive at"),
        "{}",
        text(&out)
    );
    let out = restore(&sandbox, &["ftp://host/x.tar.gz", "--yes"], &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unsupported scheme"),
        "{}",
        text(&out)
    );
    assert_eq!(snapshot_tree(&sandbox.data_dir()), before);
}

#[test]
fn restore_refuses_while_the_worker_runs() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, FAST);
    save_memory(&worker, "Pelican deploys need a green canary");
    let dest = sandbox.dir.path().join("archives");
    let report = backup(&sandbox, dest.to_str().expect("utf-8"), &[]);
    let archive = report["archive"].as_str().expect("archive");

    let port = worker.port.to_string();
    let out = restore(&sandbox, &[archive, "--yes"], &[("CLAUDE_MEM_PORT", &port)]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("worker is running"), "{}", text(&out));
    assert!(err.contains("Stop it first"), "{}", text(&out));
    assert!(replaced_dirs(&sandbox.data_dir()).is_empty());
    // The worker carries on with its data.
    wait_found(&worker, "pelican", "Pelican deploys");
    let (status, _) = get_json(&worker, "/api/health");
    assert_eq!(status, 200);
}

/// `python3 -m moto.server` on a free port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Self {
        let port = closed_port().to_string();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (moto is installed by scripts/setup.sh: pip install 'moto[server]')");
        let mut moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto's server exited ({status}); install it with pip install 'moto[server]'"
                );
            }
            if http().get(&moto.endpoint).send().is_ok() {
                return moto;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto's server did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn s3_round_trip_through_an_s3_compatible_server() {
    let moto = Moto::start();
    let bucket = "claude-mem-backups";
    let created = http()
        .put(format!("{}/{bucket}", moto.endpoint))
        .send()
        .expect("create bucket");
    assert!(created.status().is_success(), "{:?}", created.text());
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];

    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, FAST);
    save_memory(&worker, "Narwhal migrations lock the table briefly");
    let report = backup(&sandbox, &format!("s3://{bucket}/team/laptop"), &env);
    let url = report["archive"].as_str().expect("archive").to_owned();
    let name = report["name"].as_str().expect("name").to_owned();
    assert_eq!(url, format!("s3://{bucket}/team/laptop/{name}"));
    let listing = http()
        .get(format!(
            "{}/{bucket}?list-type=2&prefix=team/laptop/",
            moto.endpoint
        ))
        .send()
        .expect("list bucket")
        .text()
        .expect("listing");
    assert!(
        listing.contains(&format!("<Key>team/laptop/{name}</Key>")),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("<Key>team/laptop/{name}.sha256</Key>")),
        "{listing}"
    );

    // Memories made after the backup are in the current index; a restore must not keep that index.
    save_memory(&worker, "Wombat feature flag retired");
    wait_found(&worker, "wombat", "Wombat feature");
    worker.stop();

    let out = restore(&sandbox, &[&url, "--yes"], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("matches its .sha256"),
        "{}",
        text(&out)
    );
    let aside = replaced_dirs(&sandbox.data_dir());
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].join("claude-mem.db").is_file());
    assert!(aside[0].join("index").is_dir());
    assert_eq!(
        sqlite_count(
            &aside[0].join("claude-mem.db"),
            "SELECT COUNT(*) FROM observations"
        ),
        2
    );

    let restored = Worker::start_with(&sandbox, FAST);
    wait_found(&restored, "narwhal", "Narwhal migrations");
    // The index was built afresh from the restored database: one memory, not the two it replaced.
    let start = Instant::now();
    let index = loop {
        let (_, health) = get_json(&restored, "/api/health");
        if health["index"]["state"] == "ready" {
            break health["index"].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{health}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(index["documents"], 1, "{index}");
    assert_eq!(index["last_indexed_id"], 1, "{index}");
    assert!(
        !search_titles(&restored, "wombat")
            .iter()
            .any(|t| t.contains("Wombat")),
        "the index of the replaced data was reused"
    );
    // Memories made after the restore reuse the replaced data's ids and are still found.
    save_memory(&restored, "Ibis tokens rotate hourly");
    wait_found(&restored, "ibis", "Ibis tokens");

    // A missing object: a clear error, nothing changed.
    let before = sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM observations");
    let out = restore(
        &sandbox,
        &[
            &format!("s3://{bucket}/team/laptop/nope.tar.gz"),
            "--verify-only",
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no backup archive at"),
        "{}",
        text(&out)
    );
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM observations"),
        before
    );
}

#[test]
fn the_schedule_keeps_the_newest_scheduled_backups() {
    let sandbox = Sandbox::new();
    let dest = sandbox.dir.path().join("scheduled");
    std::fs::create_dir_all(&dest).expect("dest");
    // Old scheduled archives (pruned) and one made by hand (never pruned).
    let old = [
        "claude-mem-backup-20200101-000000-scheduled.tar.gz",
        "claude-mem-backup-20200102-000000-scheduled.tar.gz",
        "claude-mem-backup-20200103-000000-scheduled.tar.gz",
    ];
    for name in old {
        std::fs::write(dest.join(name), b"old").expect("seed");
        std::fs::write(dest.join(format!("{name}.sha256")), b"old").expect("seed");
    }
    let manual = "claude-mem-backup-20190101-000000.tar.gz";
    std::fs::write(dest.join(manual), b"by hand").expect("seed");
    std::fs::create_dir_all(sandbox.data_dir()).expect("data dir");
    std::fs::write(
        sandbox.data_dir().join("settings.json"),
        serde_json::to_vec(&json!({
            "backup": { "daily": true, "keep": 2, "destination": dest.to_str().expect("utf-8") }
        }))
        .expect("json"),
    )
    .expect("settings");

    let worker = Worker::start_with(
        &sandbox,
        &[
            ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
            ("CLAUDE_MEM_BACKUP_INTERVAL_SECS", "1"),
        ],
    );
    save_memory(&worker, "Heron retries back off exponentially");
    let scheduled = |dest: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dest)
            .expect("read dest")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with("-scheduled.tar.gz"))
            .collect();
        names.sort();
        names
    };
    // Two backups made by this worker, and the old ones gone.
    let start = Instant::now();
    loop {
        let names = scheduled(&dest);
        let new = names.iter().filter(|n| !n.contains("-2020")).count();
        if new >= 2 && names.iter().all(|n| !n.contains("-2020")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "schedule did not run: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(worker.stop().success());

    let names = scheduled(&dest);
    assert_eq!(names.len(), 2, "{names:?}");
    for name in &names {
        assert!(dest.join(format!("{name}.sha256")).is_file(), "{name}");
    }
    for name in old {
        assert!(!dest.join(format!("{name}.sha256")).exists(), "{name}");
    }
    assert_eq!(
        std::fs::read(dest.join(manual)).expect("manual"),
        b"by hand"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&dest)
        .expect("read dest")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let newest = dest.join(names.last().expect("newest"));
    let out = restore(
        &sandbox,
        &[newest.to_str().expect("utf-8"), "--verify-only", "--json"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let verified: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(verified["manifest"]["scheduled"], true, "{verified}");
    assert_eq!(verified["sidecar_checked"], true, "{verified}");
}
