//! Search benchmarks at scale: index build time and rate (hashing and MiniLM embedders), hybrid query
//! latency with the query's own embedding reported apart, embedding throughput, size on disk and memory.

use crate::{row, write_json, Latency};
use claude_mem_embed::{Embedder, HashEmbedder, MiniLm};
use claude_mem_search::{Doc, Filters, Fusion, Mode, SearchIndex, SearchRequest};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Observations to index.
    #[arg(long, default_value_t = 100_000)]
    docs: usize,
    /// Observations indexed with the real model (it is the slow part); 0 skips the model run.
    #[arg(long, default_value_t = 100_000)]
    model_docs: usize,
    #[arg(long, default_value_t = 300)]
    queries: usize,
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Also print/evaluate recall on tests/eval with this embedder.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the hashing embedder's index here and reuse it when it already holds `--docs` observations,
    /// so the query latency can be measured (or profiled) again without rebuilding.
    #[arg(long)]
    index_dir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Build {
    embedder: String,
    docs: usize,
    seconds: f64,
    docs_per_second: f64,
    index_mib: f64,
    rss_mib: f64,
    hybrid_search: Latency,
    /// Hybrid including the query's embedding (which overlaps the text search).
    hybrid_end_to_end: Latency,
    text_search: Latency,
    query_embedding: Latency,
    /// Share of the exact top 50 vector neighbours the HNSW graph returns (1.0 = exact).
    vector_recall_at_50: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    hashing: Build,
    model: Option<Build>,
    embed_sentences_per_second: Vec<(usize, f64)>,
}

const VERBS: [&str; 8] = [
    "Fixed",
    "Added",
    "Refactored",
    "Investigated",
    "Replaced",
    "Documented",
    "Removed",
    "Optimised",
];
const THINGS: [&str; 16] = [
    "retry backoff in the queue worker",
    "token refresh in the auth middleware",
    "pagination cursor in the orders API",
    "WAL checkpoint in the SQLite store",
    "flaky login test",
    "memory leak in the image cache",
    "CSV import of invoices",
    "rate limiter ordering",
    "Terraform VPC module",
    "React useAuth hook",
    "Kotlin Room migration",
    "Go CLI flag parsing",
    "Svelte timeline virtual list",
    "Airflow DAG retries",
    "HTTP client connection pool",
    "JSON schema validation",
];
const FILES: [&str; 12] = [
    "src/queue/worker.rs",
    "src/auth/middleware.rs",
    "src/api/orders.rs",
    "src/store/db.rs",
    "tests/login.rs",
    "web/src/hooks/useAuth.ts",
    "app/src/main/java/db/Migrations.kt",
    "cmd/kitectl/flags.go",
    "infra/vpc/main.tf",
    "viewer/src/Timeline.svelte",
    "dags/invoices.py",
    "src/http/pool.rs",
];
pub const PROJECTS: [&str; 7] = [
    "ledger-api",
    "atlas-web",
    "tidepool",
    "kitectl",
    "fieldnotes",
    "infra-platform",
    "trace-viewer",
];
const TYPES: [&str; 6] = [
    "bugfix",
    "feature",
    "refactor",
    "discovery",
    "decision",
    "change",
];

/// Deterministic, varied observations (a linear congruential walk over the vocabulary).
pub fn generate(n: usize) -> Vec<Doc> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |m: usize| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 33) as usize) % m
    };
    (0..n)
        .map(|i| {
            let thing = THINGS[next(THINGS.len())];
            let file = FILES[next(FILES.len())];
            let verb = VERBS[next(VERBS.len())];
            let ident = format!("{}_{}", thing.split(' ').next().unwrap_or("x").to_lowercase(), next(5000));
            Doc {
                id: i as i64 + 1,
                project: PROJECTS[next(PROJECTS.len())].into(),
                kind: TYPES[next(TYPES.len())].into(),
                created_at: 1_790_000_000_000 + i as i64 * 60_000,
                title: format!("{verb} {thing} ({file})"),
                subtitle: format!("touches {ident}"),
                narrative: format!(
                    "{verb} the {thing} because step {} kept failing under load; the change in {file} keeps {ident} \
                     bounded and the tests now pass.",
                    next(100)
                ),
                facts: vec![format!("{file}: {ident} returns early on empty input"), format!("{} tests pass", next(200))],
                concepts: vec![thing.rsplit(' ').next().unwrap_or("code").into()],
                keywords: vec![ident, file.rsplit('/').next().unwrap_or(file).into()],
                files: vec![file.into()],
            }
        })
        .collect()
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|it| {
            it.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn build(
    embedder: Arc<dyn Embedder>,
    docs: &[Doc],
    queries: usize,
    keep: Option<&Path>,
) -> anyhow::Result<Build> {
    let temp = tempfile::tempdir()?;
    let dir = keep.unwrap_or(temp.path());
    let id = embedder.id().to_owned();
    let index = SearchIndex::open(dir, embedder, None, Fusion::default())?;
    let start = Instant::now();
    let built = docs.last().map_or(0, |d| d.id);
    if index.last_indexed_id() != built {
        index.reset()?;
        for chunk in docs.chunks(1000) {
            index.index(chunk)?;
        }
        index.save()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut hybrid = Vec::new();
    let mut text = Vec::new();
    let mut embed = Vec::new();
    let mut end_to_end = Vec::new();
    let probes = [
        "retry backoff queue",
        "auth token refresh",
        "store db wal",
        "useAuth hook",
        "login test flaky",
        "why did the import of invoices fail",
        "vpc terraform module",
        "connection pool http client",
    ];
    let filters = Filters::default();
    for i in 0..queries {
        let q = probes[i % probes.len()];
        let wall = Instant::now();
        let out = index.search(&SearchRequest::new(q, Mode::Hybrid, &filters, 10))?;
        end_to_end.push(wall.elapsed());
        hybrid.push(Duration::from_secs_f64(out.search_ms.max(0.0) / 1000.0));
        embed.push(Duration::from_secs_f64(out.embed_ms / 1000.0));
        let t = index.search(&SearchRequest::new(q, Mode::Text, &filters, 10))?;
        text.push(Duration::from_secs_f64(t.search_ms.max(0.0) / 1000.0));
    }
    let recall = index.vector_recall(&probes, 50)?;
    Ok(Build {
        embedder: id,
        docs: docs.len(),
        seconds,
        docs_per_second: docs.len() as f64 / seconds,
        index_mib: dir_size(dir) as f64 / (1024.0 * 1024.0),
        rss_mib: rss_mib(),
        hybrid_search: Latency::from(hybrid),
        hybrid_end_to_end: Latency::from(end_to_end),
        text_search: Latency::from(text),
        query_embedding: Latency::from(embed),
        vector_recall_at_50: recall,
    })
}

fn print(b: &Build) {
    println!(
        "\n{}: {} docs in {:.1} s = {:.0} docs/s; index {:.1} MiB on disk; process RSS {:.0} MiB",
        b.embedder, b.docs, b.seconds, b.docs_per_second, b.index_mib, b.rss_mib
    );
    println!(
        "| query ({})                     | samples |  p50 ms  |  p90 ms  |  p95 ms  |  p99 ms  |  max ms  |",
        b.embedder
    );
    println!("|------------------------------------|---------|----------|----------|----------|----------|----------|");
    row("hybrid, excluding query embedding", &b.hybrid_search);
    row("hybrid, end to end", &b.hybrid_end_to_end);
    row("text only", &b.text_search);
    row("query embedding", &b.query_embedding);
    println!(
        "vector search recall@50 against exact search: {:.3}",
        b.vector_recall_at_50
    );
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let docs = generate(args.docs);
    eprintln!("hashing embedder, {} docs…", docs.len());
    let hashing = build(
        Arc::new(HashEmbedder::new(384)),
        &docs,
        args.queries,
        args.index_dir.as_deref(),
    )?;
    print(&hashing);
    let model_dir = args.model_dir.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/all-MiniLM-L6-v2")
    });
    let mut throughput = Vec::new();
    let model = if args.model_docs > 0 {
        let m = Arc::new(MiniLm::load(&model_dir)?);
        let sample: Vec<String> = docs.iter().take(256).map(Doc::embedding_text).collect();
        for batch in [1usize, 16, 64] {
            let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
            let start = Instant::now();
            let mut done = 0;
            for chunk in refs.chunks(batch) {
                m.embed(chunk)?;
                done += chunk.len();
                if start.elapsed().as_secs() >= 10 {
                    break;
                }
            }
            throughput.push((batch, done as f64 / start.elapsed().as_secs_f64()));
        }
        eprintln!("MiniLM embedder, {} docs…", args.model_docs.min(docs.len()));
        let b = build(
            m,
            &docs[..args.model_docs.min(docs.len())],
            args.queries,
            None,
        )?;
        print(&b);
        Some(b)
    } else {
        None
    };
    for (batch, rate) in &throughput {
        println!("MiniLM embedding, batch {batch}: {rate:.0} sentences/s");
    }
    let report = Report {
        hashing,
        model,
        embed_sentences_per_second: throughput,
    };
    if let Some(path) = args.json {
        write_json(&path, &report)?;
    }
    Ok(())
}
