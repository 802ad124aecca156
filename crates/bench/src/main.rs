//! `claude-mem-bench`: measures the worker the way Claude Code uses it, over real loopback HTTP against a
//! real `claude-mem serve` with its own SQLite file, and prints a table plus a JSON report.
//!
//! Build release first: `cargo build --release -p claude-mem -p claude-mem-bench`, then
//! `target/release/claude-mem-bench --json docs/bench/ingest.json`.

use anyhow::{bail, Context};
use clap::Parser;
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod backlog;
mod compression;
mod compression_eval;
mod context;
mod embed_ort;
mod locomo;
mod ops;
mod search;
mod team;
mod vectors;

#[derive(Debug, Parser)]
#[command(about = "Benchmarks of claude-mem; each prints a table and can write a JSON report")]
enum Bench {
    /// Hook round trips, concurrent ingest and the `claude-mem hook` process (issue: foundation).
    Ingest(Args),
    /// Local compressor throughput, hook-to-observation lag, LLM tokens and cache hits (issue: compression).
    Compression(compression::Args),
    /// Index build, hybrid query latency, embedding throughput, size and memory at scale (issue: search).
    Search(search::Args),
    /// SessionStart context builds at scale.
    Context(context::Args),
    /// Backup, verify, export, import and prune at scale.
    Ops(ops::Args),
    /// Team mode (PostgreSQL) side by side with the SQLite mode: hook ingest and search at scale.
    Team(team::Args),
    /// Evidence recall and NDCG of text, vector and hybrid search on the public LoCoMo conversations,
    /// next to plain BM25 (issue 16; the data is downloaded apart, never committed).
    Locomo(locomo::Args),
    /// Key-fact coverage, cards per turn and paraphrase retrieval of a compressor on the labelled corpus
    /// in tests/fixtures/compression_corpus, through a real worker (issue 17).
    CompressionEval(compression_eval::Args),
    /// Our MiniLM embedder against ONNX Runtime (and candle, the engine before) on the same texts and
    /// threads, back to back: texts/s at each batch size and the ratio (issue 22).
    EmbedVsOrt(embed_ort::Args),
    /// Durable vectors: graph rebuild from SQLite (vectors/s), bytes per memory and recall@10 of int8
    /// against f32 (issue 22).
    Vectors(vectors::Args),
    /// A burst of memories through `POST /api/memories` with MiniLM: worker peak RSS, SIGTERM time
    /// during the backlog and what a restart re-embeds (issue 22).
    Backlog(backlog::Args),
    /// Recall@5 and MRR of text, vector and hybrid search on tests/eval.
    SearchEval {
        /// all-MiniLM-L6-v2 files (default: ../shared/models/all-MiniLM-L6-v2); `hash` for the fallback.
        #[arg(long)]
        model_dir: Option<PathBuf>,
        #[arg(long)]
        rrf: bool,
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also write every query's hybrid candidates with their labels (JSON lines), for choosing the
        /// calibration constants on the tuning half.
        #[arg(long)]
        candidates: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct Args {
    /// The claude-mem binary (default: beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Sequential hook POSTs timed for the round-trip figure.
    #[arg(long, default_value_t = 5000)]
    round_trips: usize,
    /// Events sent by the concurrent clients.
    #[arg(long, default_value_t = 50_000)]
    ingest_events: usize,
    /// Concurrent clients for the ingest run.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Runs of the `claude-mem hook` process.
    #[arg(long, default_value_t = 300)]
    hook_runs: usize,
    /// Where to write the JSON report.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the processor off, to measure the capture path alone.
    #[arg(long)]
    capture_only: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    samples: usize,
    p50_ms: f64,
    p90_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
}

impl Latency {
    pub(crate) fn from(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let pick = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            ms(samples[i])
        };
        let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len().max(1) as f64;
        Self {
            samples: samples.len(),
            p50_ms: pick(0.50),
            p90_ms: pick(0.90),
            p95_ms: pick(0.95),
            p99_ms: pick(0.99),
            max_ms: samples.last().map(|d| ms(*d)).unwrap_or(0.0),
            mean_ms: mean,
        }
    }
}

#[derive(Debug, Serialize)]
struct Ingest {
    clients: usize,
    events: usize,
    seconds: f64,
    events_per_second: f64,
    errors: usize,
    rows_after: i64,
    lost: i64,
    latency: Latency,
}

#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    cores: usize,
    compression_running: bool,
    hook_round_trip: Latency,
    ingest: Ingest,
    hook_command_warm_worker: Latency,
    hook_command_no_worker: Latency,
}

pub(crate) struct Worker {
    child: Child,
    pub(crate) port: u16,
    _data: tempfile::TempDir,
    pub(crate) db: PathBuf,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API token every benchmark worker starts with (planted in its data directory, which the worker
/// keeps), so the clients here can send it: the worker refuses memory routes without it.
pub(crate) const BENCH_TOKEN: &str =
    "be4c000000000000000000000000000000000000000000000000000000000be4c";

/// Writes [`BENCH_TOKEN`] as `dir`'s `api-token` (0600).
pub(crate) fn plant_token(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("api-token");
    std::fs::write(&path, BENCH_TOKEN)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// An HTTP client for the benchmark's workers: it sends [`BENCH_TOKEN`].
pub(crate) fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {BENCH_TOKEN}"))
            .expect("a valid header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap_or_default()
}

/// `claude-mem serve --port 0` on `data` with `env` on top of the benchmark defaults (warn logs, no
/// model download, no API key); returns the child and the port it printed.
pub(crate) fn spawn_serve(
    bin: &Path,
    data: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<(std::process::Child, u16)> {
    let mut child = Command::new(bin)
        .args(["serve", "--port", "0"])
        .env("CLAUDE_MEM_DATA_DIR", data)
        .env("CLAUDE_MEM_LOG_LEVEL", "warn")
        // A benchmark measures the embedder it asks for: no model download (and switch) mid-run.
        .env("CLAUDE_MEM_MODEL_DOWNLOAD", "off")
        .env_remove("ANTHROPIC_API_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no port in {line:?}"))?;
    Ok((child, port))
}

pub(crate) fn start_worker(bin: &Path, env: &[(&str, &str)]) -> anyhow::Result<Worker> {
    let data = tempfile::tempdir()?;
    plant_token(data.path())?;
    let (child, port) = spawn_serve(bin, data.path(), env)?;
    Ok(Worker {
        child,
        port,
        db: data.path().join("claude-mem.db"),
        _data: data,
    })
}

fn tool_event(session: &str, id: usize) -> String {
    serde_json::json!({
        "session_id": session,
        "transcript_path": format!("/home/dev/.claude/projects/-home-dev-work-acme-api/{session}.jsonl"),
        "cwd": "/home/dev/work/acme-api",
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": format!("cargo test -p store --test ingest_{id}"), "description": "Run the store tests"},
        "tool_response": {"stdout": "running 12 tests\n............\ntest result: ok. 12 passed; 0 failed", "stderr": "", "interrupted": false},
        "tool_use_id": format!("toolu_bench_{session}_{id:08}"),
        "duration_ms": 812
    })
    .to_string()
}

async fn round_trips(port: u16, n: usize) -> anyhow::Result<Latency> {
    let client = crate::client();
    let url = format!("http://127.0.0.1:{port}/hooks/PostToolUse");
    let mut samples = Vec::with_capacity(n);
    for i in 0..(n + 200) {
        let body = tool_event("bench-rt", i);
        let start = Instant::now();
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        r.bytes().await?;
        let took = start.elapsed();
        if !status.is_success() {
            bail!("round trip {i}: HTTP {status}");
        }
        if i >= 200 {
            samples.push(took); // the first 200 warm up the connection and the page cache
        }
    }
    Ok(Latency::from(samples))
}

async fn ingest(port: u16, events: usize, clients: usize) -> anyhow::Result<(f64, usize, Latency)> {
    ingest_to(&[port], None, "bench-ingest", events, clients).await
}

/// `events` PostToolUse hooks from `clients` concurrent clients, spread over `ports` (several replicas
/// behind what would be a load balancer), with a bearer token where the worker wants one.
pub(crate) async fn ingest_to(
    ports: &[u16],
    token: Option<String>,
    session_prefix: &str,
    events: usize,
    clients: usize,
) -> anyhow::Result<(f64, usize, Latency)> {
    let per_client = events / clients;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let port = ports[c % ports.len()];
        let token = token.clone();
        let session = format!("{session_prefix}-{}", c % 8);
        tasks.push(tokio::spawn(async move {
            let client = crate::client();
            let url = format!("http://127.0.0.1:{port}/hooks/PostToolUse");
            let mut errors = 0usize;
            let mut samples = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let body = tool_event(&session, c * per_client + i);
                let start = Instant::now();
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                samples.push(start.elapsed());
            }
            (errors, samples)
        }));
    }
    let mut errors = 0;
    let mut all = Vec::with_capacity(events);
    for t in tasks {
        let (e, s) = t.await?;
        errors += e;
        all.extend(s);
    }
    Ok((started.elapsed().as_secs_f64(), errors, Latency::from(all)))
}

async fn count_rows(db: &Path, session_prefix: &str) -> anyhow::Result<i64> {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await?;
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM pending_messages WHERE session_id LIKE ?1")
            .bind(format!("{session_prefix}%"))
            .fetch_one(&mut conn)
            .await?;
    Ok(n)
}

fn hook_process(bin: &Path, port: u16, runs: usize) -> anyhow::Result<Latency> {
    let data = tempfile::tempdir()?;
    plant_token(data.path())?;
    let mut samples = Vec::with_capacity(runs);
    for i in 0..(runs + 10) {
        let body = serde_json::json!({
            "session_id": "bench-hook",
            "cwd": "/home/dev/work/acme-api",
            "hook_event_name": "SessionStart",
            "source": format!("startup-{i}")
        })
        .to_string();
        let start = Instant::now();
        let mut child = Command::new(bin)
            .args(["hook", "SessionStart"])
            .env("CLAUDE_MEM_DATA_DIR", data.path())
            .env("CLAUDE_MEM_PORT", port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(body.as_bytes())?;
        let out = child.wait_with_output()?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!("hook exited with {}", out.status);
        }
        if i >= 10 {
            samples.push(took);
        }
    }
    Ok(Latency::from(samples))
}

pub(crate) fn row(name: &str, l: &Latency) {
    println!(
        "| {name:<34} | {:>7} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} |",
        l.samples, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.max_ms
    );
}

fn main() -> anyhow::Result<()> {
    match Bench::parse() {
        Bench::Ingest(args) => ingest_bench(args),
        Bench::Compression(args) => compression::run(args),
        Bench::Search(args) => search::run(args),
        Bench::Context(args) => context::run(args),
        Bench::Ops(args) => ops::run(args),
        Bench::Team(args) => team::run(args),
        Bench::Locomo(args) => locomo::run(args),
        Bench::CompressionEval(args) => compression_eval::run(args),
        Bench::EmbedVsOrt(args) => embed_ort::run(args),
        Bench::Vectors(args) => vectors::run(args),
        Bench::Backlog(args) => backlog::run(args),
        Bench::SearchEval {
            model_dir,
            rrf,
            json,
            candidates,
        } => search_eval(model_dir, rrf, json, candidates),
    }
}

/// The `claude-mem` binary beside this one unless given.
pub(crate) fn claude_mem_bin(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let bin = match given {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .context("bench directory")?
            .join("claude-mem"),
    };
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release -p claude-mem",
            bin.display()
        );
    }
    Ok(bin)
}

pub(crate) fn write_json(path: &Path, report: &impl Serialize) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)? + "\n")?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn ingest_bench(args: Args) -> anyhow::Result<()> {
    let bin = claude_mem_bin(args.bin)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let enabled = if args.capture_only { "false" } else { "true" };
    let worker = start_worker(&bin, &[("CLAUDE_MEM_COMPRESSION_ENABLED", enabled)])?;
    eprintln!(
        "worker on port {}; {} round trips…",
        worker.port, args.round_trips
    );
    let rt_latency = rt.block_on(round_trips(worker.port, args.round_trips))?;
    eprintln!(
        "{} events from {} clients…",
        args.ingest_events, args.clients
    );
    let (seconds, errors, ingest_latency) =
        rt.block_on(ingest(worker.port, args.ingest_events, args.clients))?;
    let sent = (args.ingest_events / args.clients) * args.clients;
    let rows = rt.block_on(count_rows(&worker.db, "bench-ingest-"))?;
    let ingest = Ingest {
        clients: args.clients,
        events: sent,
        seconds,
        events_per_second: sent as f64 / seconds,
        errors,
        rows_after: rows,
        lost: sent as i64 - errors as i64 - rows,
        latency: ingest_latency,
    };
    eprintln!("{} hook process runs…", args.hook_runs);
    let hook_warm = hook_process(&bin, worker.port, args.hook_runs)?;
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let hook_dead = hook_process(&bin, dead_port, args.hook_runs.min(100))?;

    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        compression_running: !args.capture_only,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        hook_round_trip: rt_latency,
        ingest,
        hook_command_warm_worker: hook_warm,
        hook_command_no_worker: hook_dead,
    };
    println!("\n| measurement                        | samples |  p50 ms  |  p90 ms  |  p95 ms  |  p99 ms  |  max ms  |");
    println!("|------------------------------------|---------|----------|----------|----------|----------|----------|");
    row("hook POST round trip (keep-alive)", &report.hook_round_trip);
    row(
        &format!("ingest, {} concurrent clients", report.ingest.clients),
        &report.ingest.latency,
    );
    row(
        "`claude-mem hook` process, warm",
        &report.hook_command_warm_worker,
    );
    row(
        "`claude-mem hook` process, no worker",
        &report.hook_command_no_worker,
    );
    println!(
        "\nsustained ingest: {} events in {:.2} s = {:.0} events/s; errors {}, rows after {}, lost {}",
        report.ingest.events,
        report.ingest.seconds,
        report.ingest.events_per_second,
        report.ingest.errors,
        report.ingest.rows_after,
        report.ingest.lost
    );
    if let Some(path) = args.json {
        write_json(&path, &report)?;
    }
    if report.ingest.lost != 0 || report.ingest.errors != 0 {
        bail!(
            "ingest lost {} events ({} errors)",
            report.ingest.lost,
            report.ingest.errors
        );
    }
    Ok(())
}

fn search_eval(
    model_dir: Option<PathBuf>,
    rrf: bool,
    json: Option<PathBuf>,
    candidates: Option<PathBuf>,
) -> anyhow::Result<()> {
    use claude_mem_embed::{Embedder, HashEmbedder, MiniLm};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let embedder: std::sync::Arc<dyn Embedder> = match model_dir.as_deref().and_then(Path::to_str) {
        Some("hash") => std::sync::Arc::new(HashEmbedder::new(384)),
        _ => std::sync::Arc::new(MiniLm::load(
            &model_dir.unwrap_or_else(|| root.join("../shared/models/all-MiniLM-L6-v2")),
        )?),
    };
    let fusion = if rrf {
        claude_mem_search::Fusion::Rrf { k: 60.0 }
    } else {
        claude_mem_search::Fusion::default()
    };
    if let Some(path) = candidates {
        let n = claude_mem_search::eval::export_candidates(
            &root.join("tests/eval"),
            std::sync::Arc::clone(&embedder),
            &path,
        )?;
        eprintln!("{n} candidate pools written to {}", path.display());
    }
    let r = claude_mem_search::eval::evaluate(&root.join("tests/eval"), embedder, fusion)?;
    println!(
        "{} observations, {} queries, {} prompts; embedder {}; fusion {:?}",
        r.observations, r.queries, r.prompts, r.embedder, r.fusion
    );
    for half in &r.halves {
        println!("\n### {} half\n", half.half);
        println!(
            "| mode | queries | R@1 | R@5 | MRR | negatives empty |\n|---|---|---|---|---|---|"
        );
        for m in &half.modes {
            println!(
                "| {} | {} | {:.3} | {:.3} | {:.3} | {:.0} % of {} |",
                m.mode,
                m.overall.queries,
                m.overall.recall_at_1,
                m.overall.recall_at_5,
                m.overall.mrr,
                m.negatives_empty * 100.0,
                m.negatives
            );
        }
        println!("\n| kind | n | text R@5 / MRR | vector R@5 / MRR | hybrid R@5 / MRR |\n|---|---|---|---|---|");
        if let (Some(t), Some(v), Some(h)) =
            (half.mode("text"), half.mode("vector"), half.mode("hybrid"))
        {
            for (kind, hm) in &h.by_kind {
                let find = |m: &claude_mem_search::eval::ModeReport| {
                    m.by_kind
                        .iter()
                        .find(|(k, _)| k == kind)
                        .map(|(_, x)| x.clone())
                        .unwrap_or_default()
                };
                let (tm, vm) = (find(t), find(v));
                println!(
                    "| {kind} | {} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} / {:.3} |",
                    hm.queries,
                    tm.recall_at_5,
                    tm.mrr,
                    vm.recall_at_5,
                    vm.mrr,
                    hm.recall_at_5,
                    hm.mrr
                );
            }
        }
        let p = &half.prompt_recall;
        println!(
            "\nprompt recall: {} unrelated prompts, {:.0} % silent; {} related, {:.0} % injected, {:.0} % with a labelled memory",
            p.unrelated,
            p.unrelated_silent * 100.0,
            p.related,
            p.related_injected * 100.0,
            p.related_hit * 100.0
        );
    }
    if let Some(path) = json {
        write_json(&path, &r)?;
    }
    Ok(())
}
