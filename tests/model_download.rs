//! `claude-mem models download` and the worker's background fetch, against a local mirror of Hugging
//! Face (std TcpListener, the `{repo}/resolve/{revision}/{file}` layout) serving the shared copy of
//! all-MiniLM-L6-v2. The mirror can cut a response after N bytes, ignore `Range`, serve altered bytes,
//! and hold the weights back until the test lets them go. Nothing here reaches the internet.

use claude_mem_e2e::{get_json, store_memories, Sandbox, Worker};
use claude_mem_embed::model_download::{MINILM_FILES, MINILM_REPO, MINILM_REVISION};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const WEIGHTS: &str = "model.safetensors";

fn shared_model() -> PathBuf {
    let dir = std::env::var_os("CLAUDE_MEM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join(WEIGHTS).is_file(),
        "all-MiniLM-L6-v2 not found at {} (set CLAUDE_MEM_MODEL_DIR)",
        dir.display()
    );
    dir
}

fn weights_size() -> u64 {
    MINILM_FILES
        .iter()
        .find(|f| f.name == WEIGHTS)
        .map(|f| f.size)
        .expect("the weights are pinned")
}

/// One request the mirror answered.
#[derive(Debug, Clone)]
struct Served {
    path: String,
    range_start: Option<u64>,
    status: u16,
    body_bytes: u64,
}

#[derive(Default)]
struct Behaviour {
    /// Cut the next weights response after this many body bytes (once).
    cut_after: Mutex<Option<u64>>,
    ignore_range: AtomicBool,
    corrupt: AtomicBool,
    /// While false, weights requests wait.
    gate_open: Mutex<bool>,
    gate: Condvar,
    log: Mutex<Vec<Served>>,
}

struct Mirror {
    url: String,
    behaviour: Arc<Behaviour>,
}

impl Mirror {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mirror");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let behaviour = Arc::new(Behaviour {
            gate_open: Mutex::new(true),
            ..Behaviour::default()
        });
        let root = shared_model();
        let b = behaviour.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, root) = (b.clone(), root.clone());
                std::thread::spawn(move || serve(stream, &root, &b));
            }
        });
        Self { url, behaviour }
    }

    fn log(&self) -> Vec<Served> {
        self.behaviour.log.lock().unwrap().clone()
    }

    fn weights_requests(&self) -> Vec<Served> {
        self.log()
            .into_iter()
            .filter(|s| s.path.ends_with(WEIGHTS))
            .collect()
    }

    fn set_gate(&self, open: bool) {
        *self.behaviour.gate_open.lock().unwrap() = open;
        self.behaviour.gate.notify_all();
    }
}

fn serve(mut stream: TcpStream, root: &Path, b: &Behaviour) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let mut range_start = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range:") {
            range_start = v
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.trim_end_matches('-').parse::<u64>().ok());
        }
    }
    let prefix = format!("/{MINILM_REPO}/resolve/{MINILM_REVISION}/");
    let file = path
        .strip_prefix(&prefix)
        .filter(|f| !f.contains(".."))
        .map(|f| root.join(f));
    let Some(bytes) = file.and_then(|f| std::fs::read(f).ok()) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        record(b, path, range_start, 404, 0);
        return;
    };
    let weights = path.ends_with(WEIGHTS);
    let mut bytes = bytes;
    if weights {
        let mut open = b.gate_open.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while !*open && Instant::now() < deadline {
            open = b
                .gate
                .wait_timeout(open, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        drop(open);
        if b.corrupt.load(Ordering::SeqCst) {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
        }
    }
    let total = bytes.len() as u64;
    let start = range_start.filter(|_| !b.ignore_range.load(Ordering::SeqCst));
    let (status, head, body) = match start {
        Some(s) if s >= total => (416, format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\n"), &bytes[..0]),
        Some(s) => (
            206,
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{total}\r\nContent-Length: {}\r\n",
                total - 1,
                total - s
            ),
            &bytes[s as usize..],
        ),
        None => (200, format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n"), &bytes[..]),
    };
    let cut = if weights {
        b.cut_after.lock().unwrap().take()
    } else {
        None
    };
    let head = format!("{head}Accept-Ranges: bytes\r\nConnection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let send = cut.map_or(body.len(), |n| (n as usize).min(body.len()));
    let mut sent = 0usize;
    for chunk in body[..send].chunks(64 * 1024) {
        if stream.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    record(b, path, range_start, status, sent as u64);
}

fn record(b: &Behaviour, path: String, range_start: Option<u64>, status: u16, body_bytes: u64) {
    b.log.lock().unwrap().push(Served {
        path,
        range_start,
        status,
        body_bytes,
    });
}

fn model_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.data_dir().join("models/all-MiniLM-L6-v2")
}

fn staging_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.data_dir().join("models/.all-MiniLM-L6-v2.download")
}

fn download(sandbox: &Sandbox, mirror: &Mirror, extra: &[&str]) -> Output {
    sandbox
        .command()
        .args(["models", "download", "--endpoint", &mirror.url])
        .args(extra)
        .output()
        .expect("run claude-mem models download")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_installed_and_pinned(sandbox: &Sandbox) {
    let dir = model_dir(sandbox);
    claude_mem_embed::MiniLm::load(&dir).expect("the installed model loads");
    let digest = claude_mem_embed::download::sha256_file(&dir.join(WEIGHTS)).expect("hash");
    let pinned = MINILM_FILES.iter().find(|f| f.name == WEIGHTS).unwrap();
    assert_eq!(
        digest, pinned.sha256,
        "the installed weights are the pinned ones"
    );
}

#[test]
fn a_fresh_download_installs_a_model_the_worker_uses() {
    let sandbox = Sandbox::new();
    let mirror = Mirror::start();
    let started = Instant::now();
    let out = download(&sandbox, &mirror, &[]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("installed all-MiniLM-L6-v2"),
        "{}",
        text(&out)
    );
    eprintln!(
        "downloaded and installed {} bytes in {took:?}",
        weights_size()
    );
    assert_installed_and_pinned(&sandbox);
    assert!(
        !staging_dir(&sandbox).exists(),
        "the download directory is removed"
    );
    let log = mirror.log();
    assert_eq!(
        log.len(),
        MINILM_FILES.len(),
        "one request per file: {log:?}"
    );
    assert!(log
        .iter()
        .all(|s| s.status == 200 && s.range_start.is_none()));

    // Again: the installed files match the pins, nothing is fetched.
    let again = download(&sandbox, &mirror, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already installed"));
    assert_eq!(mirror.log().len(), MINILM_FILES.len());

    let worker = Worker::start(&sandbox);
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["index"]["embedder"], "minilm-l6-v2", "{health}");
    assert_eq!(health["index"]["embedder_fallback"], Value::Null);
    assert_eq!(health["model"]["state"], "installed", "{health}");
}

#[test]
fn a_cut_download_resumes_with_a_range_request() {
    let sandbox = Sandbox::new();
    let mirror = Mirror::start();
    let size = weights_size();
    let cut = 30 * 1024 * 1024;
    *mirror.behaviour.cut_after.lock().unwrap() = Some(cut);
    let first = download(&sandbox, &mirror, &[]);
    assert!(
        !first.status.success(),
        "a cut body is an error: {}",
        text(&first)
    );
    assert!(
        !model_dir(&sandbox).join(WEIGHTS).exists(),
        "nothing installed"
    );
    let part = staging_dir(&sandbox).join(format!("{WEIGHTS}.part"));
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(kept > 0 && kept <= cut, "the partial file is kept: {kept}");

    let second = download(&sandbox, &mirror, &[]);
    assert!(second.status.success(), "{}", text(&second));
    assert_installed_and_pinned(&sandbox);
    let weights = mirror.weights_requests();
    assert_eq!(weights.len(), 2, "{weights:?}");
    assert_eq!(weights[0].range_start, None);
    assert_eq!(
        weights[1].range_start,
        Some(kept),
        "resumed where the file stopped"
    );
    assert_eq!(weights[1].status, 206);
    let served: u64 = weights.iter().map(|s| s.body_bytes).sum();
    assert!(
        served < 2 * size,
        "{served} bytes served for a {size}-byte file"
    );
    assert_eq!(
        weights[1].body_bytes,
        size - kept,
        "only the missing bytes were fetched again"
    );
}

#[test]
fn a_server_that_ignores_range_restarts_the_file_cleanly() {
    let sandbox = Sandbox::new();
    let mirror = Mirror::start();
    *mirror.behaviour.cut_after.lock().unwrap() = Some(10 * 1024 * 1024);
    assert!(!download(&sandbox, &mirror, &[]).status.success());
    mirror.behaviour.ignore_range.store(true, Ordering::SeqCst);
    let second = download(&sandbox, &mirror, &[]);
    assert!(second.status.success(), "{}", text(&second));
    assert_installed_and_pinned(&sandbox);
    let weights = mirror.weights_requests();
    assert_eq!(weights.len(), 2, "{weights:?}");
    assert!(weights[1].range_start.is_some(), "it asked for the rest");
    assert_eq!(
        weights[1].status, 200,
        "and got the whole file, which replaced the part"
    );
}

#[test]
fn a_second_download_of_the_same_model_waits_its_turn() {
    let sandbox = Sandbox::new();
    let mirror = Mirror::start();
    mirror.set_gate(false);
    let mut first = sandbox
        .command()
        .args(["models", "download", "--endpoint", &mirror.url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the first download");
    let start = Instant::now();
    while mirror.log().len() < MINILM_FILES.len() - 1 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        mirror.log().len(),
        MINILM_FILES.len() - 1,
        "the small files are in, the weights held"
    );
    let second = download(&sandbox, &mirror, &[]);
    assert!(!second.status.success(), "{}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains("another download of the model is under way"),
        "{}",
        text(&second)
    );
    mirror.set_gate(true);
    let status = claude_mem_e2e::wait_with_deadline(&mut first, Duration::from_secs(120));
    assert!(status.success());
    assert_installed_and_pinned(&sandbox);
}

#[test]
fn altered_bytes_are_refused_and_an_installed_model_stays() {
    let sandbox = Sandbox::new();
    let mirror = Mirror::start();
    mirror.behaviour.corrupt.store(true, Ordering::SeqCst);
    let out = download(&sandbox, &mirror, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(WEIGHTS)
            && stderr.contains("SHA-256")
            && stderr.contains("nothing was installed"),
        "{}",
        text(&out)
    );
    assert!(!model_dir(&sandbox).exists(), "nothing installed");
    let part = staging_dir(&sandbox).join(format!("{WEIGHTS}.part"));
    assert!(!part.exists(), "the bad file is deleted");
    assert!(!staging_dir(&sandbox).join(WEIGHTS).exists());

    // A working install, then a forced download of bad bytes: the install is untouched.
    let install = sandbox
        .command()
        .args(["models", "install", "--from"])
        .arg(shared_model())
        .output()
        .expect("models install");
    assert!(install.status.success(), "{}", text(&install));
    let forced = download(&sandbox, &mirror, &["--force"]);
    assert!(!forced.status.success(), "{}", text(&forced));
    assert!(String::from_utf8_lossy(&forced.stderr).contains("SHA-256"));
    assert_installed_and_pinned(&sandbox);
}

#[test]
fn the_worker_downloads_in_the_background_and_re_embeds_what_it_had() {
    let sandbox = Sandbox::new();
    let mirror = Mirror::start();
    mirror.set_gate(false);
    let worker = Worker::start_with(
        &sandbox,
        &[
            ("CLAUDE_MEM_MODEL_DOWNLOAD", "auto"),
            ("CLAUDE_MEM_MODEL_ENDPOINT", &mirror.url),
            ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
        ],
    );
    let health = wait_health(&worker, Duration::from_secs(30), |h| {
        h["model"]["state"] == "downloading"
    });
    assert_eq!(
        health["index"]["embedder"], "hash-384",
        "the fallback serves meanwhile: {health}"
    );

    // Memories stored while the weights are held back: indexed with the fallback first.
    store_memories(&worker);
    worker.wait_until_processed(Duration::from_secs(30));
    let health = wait_health(&worker, Duration::from_secs(30), |h| {
        h["counts"]["observations"].as_u64().unwrap_or(0) >= 3
            && h["index"]["vectors"] == h["counts"]["observations"]
    });
    assert_eq!(health["model"]["state"], "downloading", "{health}");
    assert_eq!(health["index"]["embedder"], "hash-384");
    let observations = health["counts"]["observations"].as_u64().unwrap();

    mirror.set_gate(true);
    let health = wait_health(&worker, Duration::from_secs(240), |h| {
        h["model"]["state"] == "installed" || h["model"]["state"] == "failed"
    });
    let model = &health["model"];
    assert_eq!(model["state"], "installed", "{health}");
    assert_eq!(model["bytes_done"], model["bytes_total"]);
    assert_eq!(model["reembed_done"], observations, "{health}");
    assert_eq!(model["reembed_total"], observations);
    let index = &health["index"];
    assert_eq!(index["embedder"], "minilm-l6-v2", "{health}");
    assert_eq!(index["embedder_fallback"], Value::Null);
    assert_eq!(index["vectors"], observations);
    assert_eq!(index["state"], "ready");
    assert!(model_dir(&sandbox).join(WEIGHTS).is_file());

    // Every memory has a MiniLM vector: a vector-only search for its own title finds it first.
    let (_, list) = get_json(&worker, "/api/observations?limit=50");
    let rows = list["observations"]
        .as_array()
        .or_else(|| list.as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(rows.len() as u64, observations, "{list}");
    for row in rows {
        let title = row["title"].as_str().expect("title");
        let q: String = title
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
            .collect();
        let (status, found) = get_json(
            &worker,
            &format!(
                "/api/search?mode=vector&min_score=0&limit=3&q={}",
                q.split_whitespace().collect::<Vec<_>>().join("%20")
            ),
        );
        assert_eq!(status, 200, "{found}");
        assert_eq!(
            found["results"][0]["observation"]["id"], row["id"],
            "{title:?}: {found}"
        );
    }

    // The next start finds the model installed: nothing more is fetched.
    let before = mirror.log().len();
    worker.stop();
    let worker = Worker::start_with(
        &sandbox,
        &[
            ("CLAUDE_MEM_MODEL_DOWNLOAD", "auto"),
            ("CLAUDE_MEM_MODEL_ENDPOINT", &mirror.url),
        ],
    );
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["index"]["embedder"], "minilm-l6-v2", "{health}");
    assert_eq!(health["model"]["state"], "installed");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(mirror.log().len(), before);
}

#[test]
fn offline_the_worker_keeps_the_fallback_and_says_when_it_retries() {
    let sandbox = Sandbox::new();
    let endpoint = format!("http://127.0.0.1:{}", claude_mem_e2e::closed_port());
    let started = Instant::now();
    let worker = Worker::start_with(
        &sandbox,
        &[
            ("CLAUDE_MEM_MODEL_DOWNLOAD", "auto"),
            ("CLAUDE_MEM_MODEL_ENDPOINT", &endpoint),
        ],
    );
    let health = wait_health(&worker, Duration::from_secs(30), |h| {
        h["model"]["state"] == "failed"
    });
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the start did not wait for the network"
    );
    let model = &health["model"];
    assert!(
        model["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach")),
        "{health}"
    );
    // The first retry is 30 s after the failure, counted down at each read.
    assert!(
        model["retry_in_s"]
            .as_u64()
            .is_some_and(|s| (20..=30).contains(&s)),
        "a transient failure is retried: {health}"
    );
    assert_eq!(model["attempts"], 1);
    assert_eq!(health["index"]["embedder"], "hash-384");
    assert!(health["index"]["embedder_fallback"]
        .as_str()
        .is_some_and(|r| r.contains("claude-mem models download")));
    assert!(!model_dir(&sandbox).join(WEIGHTS).exists());
    // Hooks and search go on meanwhile.
    store_memories(&worker);
    worker.wait_until_processed(Duration::from_secs(30));
    let (status, _) = get_json(&worker, "/api/search?q=login");
    assert_eq!(status, 200);
}

#[test]
fn with_downloads_off_the_worker_never_asks() {
    let sandbox = Sandbox::new();
    let mirror = Mirror::start();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_MODEL_ENDPOINT", &mirror.url)]);
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["model"]["state"], "absent", "{health}");
    std::thread::sleep(Duration::from_secs(1));
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["model"]["state"], "absent", "{health}");
    assert!(mirror.log().is_empty(), "the harness keeps downloads off");
}

fn wait_health(worker: &Worker, deadline: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (_, health) = get_json(worker, "/api/health");
        if done(&health) {
            return health;
        }
        assert!(
            start.elapsed() < deadline,
            "not reached within {deadline:?}: {health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
