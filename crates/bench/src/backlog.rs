//! A burst of memories with the model active (issue 22): a real `claude-mem serve` with MiniLM takes
//! `--memories` notes through `POST /api/memories` from concurrent clients, and the worker's peak RSS is
//! sampled from `/proc` while it embeds the backlog; then a second burst is stopped with SIGTERM in the
//! middle of its backlog (time to exit), and a restart on the same data shows what the stop left to
//! embed.
//!
//! `target/release/claude-mem-bench backlog --memories 1000 --json docs/bench/backlog.json`

use crate::{claude_mem_bin, client, plant_token, write_json};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The claude-mem binary (default: beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// all-MiniLM-L6-v2 files (default: ../shared/models/all-MiniLM-L6-v2).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Memories per burst.
    #[arg(long, default_value_t = 1000)]
    memories: usize,
    /// Concurrent clients posting them.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

struct Served {
    child: Child,
    port: u16,
    peak_kib: Arc<AtomicU64>,
    stop_sampling: Arc<AtomicBool>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop_sampling.store(true, Ordering::Release);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process's high-water mark of resident memory (VmHWM), in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn serve(bin: &Path, data: &Path, model: &Path) -> anyhow::Result<Served> {
    let model = model.to_string_lossy();
    let (child, port) = crate::spawn_serve(
        bin,
        data,
        &[
            ("CLAUDE_MEM_EMBEDDER", "minilm"),
            ("CLAUDE_MEM_MODEL_DIR", &model),
        ],
    )?;
    let (peak_kib, stop_sampling) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let (peak, stop, pid) = (peak_kib.clone(), stop_sampling.clone(), child.id());
    std::thread::spawn(move || {
        while !stop.load(Ordering::Acquire) {
            match vm_hwm_kib(pid) {
                Some(kib) => {
                    peak.fetch_max(kib, Ordering::AcqRel);
                }
                None => break,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    Ok(Served {
        child,
        port,
        peak_kib,
        stop_sampling,
    })
}

async fn health(port: u16) -> anyhow::Result<Value> {
    Ok(client()
        .get(format!("http://127.0.0.1:{port}/api/health"))
        .send()
        .await?
        .json()
        .await?)
}

async fn burst(port: u16, memories: usize, clients: usize, tag: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, tag) = (next.clone(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let http = client();
            loop {
                let i = next.fetch_add(1, Ordering::AcqRel) as usize;
                if i >= memories {
                    return anyhow::Ok(());
                }
                let thing = crate::search::generate(i + 1).pop().unwrap_or_default();
                let body = json!({
                    "title": format!("{} ({tag} {i})", thing.title),
                    "text": format!("{} {}", thing.narrative, thing.facts.join(". ")),
                    "project": thing.project,
                });
                let r = http
                    .post(format!("http://127.0.0.1:{port}/api/memories"))
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    r.status().as_u16() == 201,
                    "POST /api/memories: {}",
                    r.status()
                );
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn wait_until(
    port: u16,
    deadline: Duration,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    loop {
        let h = health(port).await?;
        if done(&h) {
            return Ok(h);
        }
        anyhow::ensure!(start.elapsed() < deadline, "gave up waiting: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm_and_time(served: &mut Served) -> anyhow::Result<f64> {
    let pid = served.child.id().to_string();
    let started = Instant::now();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    loop {
        if served.child.try_wait()?.is_some() {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[derive(Debug, Serialize)]
struct Report {
    memories: usize,
    clients: usize,
    /// Burst 1, embedded to the end.
    burst_post_seconds: f64,
    backlog_seconds: f64,
    texts_per_second: f64,
    peak_rss_mib: f64,
    /// Burst 2 (fresh data), SIGTERM while its backlog is being embedded.
    embedded_at_sigterm: u64,
    sigterm_exit_seconds: f64,
    peak_rss_mib_burst_2: f64,
    /// The restart after it: vectors stored before the stop are not embedded again.
    stored_at_sigterm: u64,
    embedded_after_restart: u64,
    resume_seconds: f64,
    peak_rss_mib_resume: f64,
}

fn count_stored(db: &Path) -> anyhow::Result<u64> {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg("SELECT COUNT(*) FROM memory_vectors")
        .output();
    if let Ok(out) = out {
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?);
        }
    }
    // No sqlite3 CLI: through sqlx, read-only.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM memory_vectors")
            .fetch_one(&mut conn)
            .await?;
        Ok(n.max(0) as u64)
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bin = claude_mem_bin(args.bin.clone())?;
    let model = args
        .model_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("../shared/models/all-MiniLM-L6-v2"));
    let rt = tokio::runtime::Runtime::new()?;
    let n = args.memories;
    let mib = |kib: u64| kib as f64 / 1024.0;

    // Burst 1: posted, then embedded to the end; peak RSS over all of it.
    let data = tempfile::tempdir()?;
    plant_token(data.path())?;
    let served = serve(&bin, data.path(), &model)?;
    let port = served.port;
    let (post_seconds, backlog_seconds) = rt.block_on(async {
        let started = Instant::now();
        let post = burst(port, n, args.clients, "a").await?;
        wait_until(port, Duration::from_secs(3600), |h| {
            h["index"]["vectors"] == n as u64 && h["index"]["state"] == "ready"
        })
        .await?;
        anyhow::Ok((post, started.elapsed().as_secs_f64()))
    })?;
    let peak = mib(served.peak_kib.load(Ordering::Acquire));
    eprintln!("burst 1: posted in {post_seconds:.1} s, embedded in {backlog_seconds:.1} s, peak RSS {peak:.0} MiB");
    drop(served);

    // Burst 2 on fresh data: SIGTERM in the middle of the backlog.
    let data = tempfile::tempdir()?;
    plant_token(data.path())?;
    let mut served = serve(&bin, data.path(), &model)?;
    let port = served.port;
    let at_stop = rt.block_on(async {
        burst(port, n, args.clients, "b").await?;
        let h = wait_until(port, Duration::from_secs(600), |h| {
            h["index"]["embedded"].as_u64().unwrap_or(0) >= (n as u64 / 10).max(1)
        })
        .await?;
        anyhow::Ok(h["index"]["embedded"].as_u64().unwrap_or(0))
    })?;
    let sigterm = sigterm_and_time(&mut served)?;
    let peak_2 = mib(served.peak_kib.load(Ordering::Acquire));
    drop(served);
    let stored = count_stored(&data.path().join("claude-mem.db"))?;
    eprintln!("burst 2: SIGTERM after {at_stop} embedded: exited in {sigterm:.3} s; {stored} vectors stored");

    // The restart finishes the backlog.
    let served = serve(&bin, data.path(), &model)?;
    let port = served.port;
    let (embedded_after, resume_seconds) = rt.block_on(async {
        let started = Instant::now();
        let h = wait_until(port, Duration::from_secs(3600), |h| {
            h["index"]["vectors"] == n as u64 && h["index"]["state"] == "ready"
        })
        .await?;
        anyhow::Ok((
            h["index"]["embedded"].as_u64().unwrap_or(0),
            started.elapsed().as_secs_f64(),
        ))
    })?;
    let peak_resume = mib(served.peak_kib.load(Ordering::Acquire));
    drop(served);

    let report = Report {
        memories: n,
        clients: args.clients,
        burst_post_seconds: post_seconds,
        backlog_seconds,
        texts_per_second: n as f64 / backlog_seconds,
        peak_rss_mib: peak,
        embedded_at_sigterm: at_stop,
        sigterm_exit_seconds: sigterm,
        peak_rss_mib_burst_2: peak_2,
        stored_at_sigterm: stored,
        embedded_after_restart: embedded_after,
        resume_seconds,
        peak_rss_mib_resume: peak_resume,
    };
    println!(
        "\n| {n} memories, MiniLM, {} clients | figure |",
        args.clients
    );
    println!("|---|---|");
    println!(
        "| burst posted (POST /api/memories) | {:.1} s |",
        report.burst_post_seconds
    );
    println!(
        "| backlog embedded and indexed | {:.1} s ({:.0} memories/s) |",
        report.backlog_seconds, report.texts_per_second
    );
    println!(
        "| worker peak RSS (VmHWM) | **{:.0} MiB** |",
        report.peak_rss_mib
    );
    println!(
        "| SIGTERM during the backlog → exit | **{:.2} s** (after {} embedded) |",
        report.sigterm_exit_seconds, report.embedded_at_sigterm
    );
    println!(
        "| restart: stored before the stop / embedded after it | {} / {} (resumed in {:.1} s, peak {:.0} MiB) |",
        report.stored_at_sigterm,
        report.embedded_after_restart,
        report.resume_seconds,
        report.peak_rss_mib_resume
    );
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(())
}
