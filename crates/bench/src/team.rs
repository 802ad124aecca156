//! Team mode against the laptop mode, on the same machine and data: hook ingest over HTTP (one SQLite
//! worker; one and two PostgreSQL replicas), then the record of truth and search at scale (rows loaded,
//! vectors embedded and the search structures built, then hybrid and text query latency).
//!
//! PostgreSQL is a private server started for the run (`TempCluster::start_durable`: fsync and
//! synchronous commit on, as SQLite syncs its WAL), so both sides pay for durability.

use crate::search::generate;
use crate::{ingest_to, row, start_worker, write_json, Latency};
use anyhow::Context;
use claude_mem_core::{DataDir, Settings};
use claude_mem_embed::HashEmbedder;
use claude_mem_search::{Doc, Filters, Fusion, Mode, SearchIndex, SearchRequest};
use claude_mem_team::pg_cluster::TempCluster;
use claude_mem_team::search::TeamSearch;
use claude_mem_team::vectors::Vectors;
use claude_mem_team::PgStore;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The claude-mem binary (default: beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Observations for the full run (rows, embeddings, search structures, hybrid queries).
    #[arg(long, default_value_t = 100_000)]
    observations: usize,
    /// Observations for the large run on PostgreSQL (rows and full-text queries); 0 skips it.
    #[arg(long, default_value_t = 0)]
    large: usize,
    #[arg(long, default_value_t = 300)]
    queries: usize,
    /// Hook events for the ingest comparison; 0 skips it.
    #[arg(long, default_value_t = 20_000)]
    hook_events: usize,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Ingest {
    mode: String,
    events: usize,
    seconds: f64,
    events_per_second: f64,
    errors: usize,
    latency: Latency,
    /// PostgreSQL only: `pg_total_relation_size('pending_messages')` per stored event (payload as JSONB,
    /// indexes, TOAST), after `VACUUM ANALYZE`.
    bytes_per_event: Option<f64>,
    /// PostgreSQL only: transactions the database committed during the run (`pg_stat_database`
    /// `xact_commit`, every statement outside a transaction counts as one: the token look-up of each
    /// hook too) per event sent. One transaction per hook shows as about 2; group commit brings it
    /// towards 1 (the look-ups), which is how a run shows that hooks were grouped.
    commits_per_event: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Scale {
    mode: String,
    observations: usize,
    /// Rows into the record of truth (one transaction per 5,000).
    rows_seconds: f64,
    /// Embedding every row and building the vector structures (SQLite: Tantivy + hnsw_rs; PostgreSQL:
    /// the replicas' embed loop, then one replica's graph from the table).
    index_seconds: f64,
    hybrid: Option<Latency>,
    text: Latency,
    /// PostgreSQL only: `pg_total_relation_size('observations')` (rows, tsvector, GIN and other indexes,
    /// TOAST; embeddings too when they were computed), after `VACUUM ANALYZE`.
    table_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    cores: usize,
    embedder: &'static str,
    ingest: Vec<Ingest>,
    scale: Vec<Scale>,
}

const PROBES: [&str; 8] = [
    "retry backoff queue",
    "auth token refresh",
    "store db wal",
    "useAuth hook",
    "login test flaky",
    "why did the import of invoices fail",
    "vpc terraform module",
    "connection pool http client",
];

pub fn run(args: Args) -> anyhow::Result<()> {
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("bench binary has no directory")?
            .join("claude-mem"),
    };
    let cluster = TempCluster::start_durable().context("cannot start PostgreSQL")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut report = Report {
        version: env!("CARGO_PKG_VERSION"),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        embedder: "hash-384",
        ingest: Vec::new(),
        scale: Vec::new(),
    };
    if args.hook_events > 0 {
        report.ingest = rt.block_on(ingest_runs(&bin, &cluster, &args))?;
        print_ingest(&report.ingest);
    }
    let docs = generate(args.observations.max(args.large));
    let full = &docs[..args.observations];
    eprintln!("SQLite, {} observations…", full.len());
    report
        .scale
        .push(rt.block_on(sqlite_scale(full, args.queries))?);
    eprintln!("PostgreSQL, {} observations…", full.len());
    report
        .scale
        .push(rt.block_on(pg_scale(&cluster, "scale_full", full, args.queries, true))?);
    if args.large > 0 {
        eprintln!("PostgreSQL, {} observations (rows and text)…", args.large);
        report.scale.push(rt.block_on(pg_scale(
            &cluster,
            "scale_large",
            &docs[..args.large],
            args.queries,
            false,
        ))?);
    }
    print_scale(&report.scale);
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(())
}

async fn ingest_runs(
    bin: &std::path::Path,
    cluster: &TempCluster,
    args: &Args,
) -> anyhow::Result<Vec<Ingest>> {
    let mut out = Vec::new();
    // Capture alone on both sides: the processor would compete for the same two cores.
    let off = ("CLAUDE_MEM_COMPRESSION_ENABLED", "false");
    let hash = ("CLAUDE_MEM_SEARCH_EMBEDDER", "hash");
    {
        let worker = start_worker(bin, &[off, hash])?;
        let (secs, errors, lat) = ingest_to(
            &[worker.port],
            None,
            "bench-sqlite",
            args.hook_events,
            args.clients,
        )
        .await?;
        out.push(ingest_row(
            "sqlite, 1 worker",
            args.hook_events,
            secs,
            errors,
            lat,
        ));
    }
    for replicas in [1usize, 2] {
        let url = cluster
            .create_database(&format!("ingest_{replicas}"))
            .await?;
        let store = PgStore::connect(&url, 2).await?;
        store.create_team("bench").await?;
        let token = store.create_user("bench", "bench").await?.token;
        let commits_before = xact_commit(&store).await?;
        store.close().await;
        let env = [off, hash, ("CLAUDE_MEM_DATABASE_URL", url.as_str())];
        let workers = (0..replicas)
            .map(|_| start_worker(bin, &env))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ports: Vec<u16> = workers.iter().map(|w| w.port).collect();
        let (secs, errors, lat) = ingest_to(
            &ports,
            Some(token),
            "bench-pg",
            args.hook_events,
            args.clients,
        )
        .await?;
        drop(workers);
        let store = PgStore::connect(&url, 2).await?;
        sqlx::query("VACUUM ANALYZE pending_messages")
            .execute(store.pool())
            .await?;
        let (bytes, events): (i64, i64) = sqlx::query_as(
            "SELECT pg_total_relation_size('pending_messages'), (SELECT COUNT(*) FROM pending_messages)",
        )
        .fetch_one(store.pool())
        .await?;
        // The workers' backends report their counts as they exit, just after the workers did.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let commits = xact_commit(&store).await? - commits_before;
        store.close().await;
        let mut r = ingest_row(
            &format!("postgres, {replicas} replica(s)"),
            args.hook_events,
            secs,
            errors,
            lat,
        );
        r.bytes_per_event = Some(bytes as f64 / events.max(1) as f64);
        r.commits_per_event = Some(commits as f64 / args.hook_events.max(1) as f64);
        out.push(r);
    }
    Ok(out)
}

/// Transactions committed in the store's database so far. The statistics reach the shared view when a
/// backend goes idle or exits, so this is read once the workers are gone (their backends exited).
async fn xact_commit(store: &PgStore) -> anyhow::Result<i64> {
    // The counter of the previous statements of this connection is flushed before a new snapshot.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(store.pool())
        .await?;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(store.pool())
    .await?;
    Ok(n)
}

fn ingest_row(mode: &str, events: usize, seconds: f64, errors: usize, latency: Latency) -> Ingest {
    Ingest {
        mode: mode.into(),
        events,
        seconds,
        events_per_second: events as f64 / seconds,
        errors,
        latency,
        bytes_per_event: None,
        commits_per_event: None,
    }
}

async fn sqlite_scale(docs: &[Doc], queries: usize) -> anyhow::Result<Scale> {
    let n = docs.len();
    let dir = tempfile::tempdir()?;
    let store = claude_mem_core::Store::open(&dir.path().join("claude-mem.db")).await?;
    let started = Instant::now();
    crate::context::seed_docs(&store, docs).await?;
    let rows_seconds = started.elapsed().as_secs_f64();
    store.close().await;
    let index_dir = dir.path().join("index");
    let docs = docs.to_vec();
    let (index_seconds, index) = tokio::task::spawn_blocking(move || {
        let index = SearchIndex::open(
            &index_dir,
            Arc::new(HashEmbedder::new(384)),
            None,
            Fusion::default(),
        )?;
        let started = Instant::now();
        for chunk in docs.chunks(1000) {
            index.index(chunk)?;
        }
        index.save()?;
        anyhow::Ok((started.elapsed().as_secs_f64(), index))
    })
    .await??;
    let (hybrid, text) = tokio::task::spawn_blocking(move || {
        let mut hybrid = Vec::with_capacity(queries);
        let mut text = Vec::with_capacity(queries);
        for i in 0..queries {
            let q = PROBES[i % PROBES.len()];
            let t = Instant::now();
            index.search(&SearchRequest::new(
                q,
                Mode::Hybrid,
                &Filters::default(),
                10,
            ))?;
            hybrid.push(t.elapsed());
            let t = Instant::now();
            index.search(&SearchRequest::new(q, Mode::Text, &Filters::default(), 10))?;
            text.push(t.elapsed());
        }
        anyhow::Ok((hybrid, text))
    })
    .await??;
    Ok(Scale {
        mode: "sqlite (Tantivy + hnsw_rs)".into(),
        observations: n,
        rows_seconds,
        index_seconds,
        hybrid: Some(Latency::from(hybrid)),
        text: Latency::from(text),
        table_mib: None,
    })
}

async fn pg_scale(
    cluster: &TempCluster,
    db: &str,
    docs: &[Doc],
    queries: usize,
    with_vectors: bool,
) -> anyhow::Result<Scale> {
    let url = cluster.create_database(db).await?;
    let store = PgStore::connect(&url, 8).await?;
    store.create_team("bench").await?;
    let owner = store.create_user("bench", "bench").await?.owner;
    let started = Instant::now();
    load_rows(&store, owner.team_id, owner.user_id, docs).await?;
    let rows_seconds = started.elapsed().as_secs_f64();
    let data = tempfile::tempdir()?;
    let data_dir = DataDir::new(data.path().to_owned());
    let mut settings = Settings::default();
    settings.search.embedder = "hash".into();
    let vectors = Vectors::open(&store, &settings, &data_dir).await?;
    let started = Instant::now();
    if with_vectors {
        while vectors.embed_batch().await? > 0 {}
        vectors.catch_up().await?;
    }
    let index_seconds = started.elapsed().as_secs_f64();
    sqlx::query("VACUUM ANALYZE observations")
        .execute(store.pool())
        .await?;
    let (bytes,): (i64,) = sqlx::query_as("SELECT pg_total_relation_size('observations')")
        .fetch_one(store.pool())
        .await?;
    let search = TeamSearch::new(store.clone(), vectors, &settings.search);
    let mut hybrid = Vec::new();
    let mut text = Vec::with_capacity(queries);
    for i in 0..queries {
        let q = PROBES[i % PROBES.len()];
        if with_vectors {
            let t = Instant::now();
            search
                .search(owner.team_id, q, None, Mode::Hybrid, 10, None)
                .await?;
            hybrid.push(t.elapsed());
        }
        let t = Instant::now();
        search
            .search(owner.team_id, q, None, Mode::Text, 10, None)
            .await?;
        text.push(t.elapsed());
    }
    store.close().await;
    Ok(Scale {
        mode: if with_vectors {
            "postgres (tsvector/GIN + replica hnsw_rs)".into()
        } else {
            "postgres (tsvector/GIN only)".into()
        },
        observations: docs.len(),
        rows_seconds,
        index_seconds,
        hybrid: with_vectors.then(|| Latency::from(hybrid)),
        text: Latency::from(text),
        table_mib: Some(bytes as f64 / (1024.0 * 1024.0)),
    })
}

/// One session per project, then the observations 5,000 rows per statement (UNNEST of arrays), as a
/// bulk load or `claude-mem migrate` writes them.
async fn load_rows(
    store: &PgStore,
    team_id: i64,
    user_id: i64,
    docs: &[Doc],
) -> anyhow::Result<()> {
    let pool = store.pool();
    let mut projects: Vec<&str> = docs.iter().map(|d| d.project.as_str()).collect();
    projects.sort_unstable();
    projects.dedup();
    for p in &projects {
        sqlx::query(
            "INSERT INTO sdk_sessions (id, team_id, user_id, project, started_at, last_seen_at)
             VALUES ($1, $2, $3, $4, 0, 0)",
        )
        .bind(format!("bench-{p}"))
        .bind(team_id)
        .bind(user_id)
        .bind(p)
        .execute(pool)
        .await?;
    }
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    for chunk in docs.chunks(5000) {
        let sessions: Vec<String> = chunk
            .iter()
            .map(|d| format!("bench-{}", d.project))
            .collect();
        let projects: Vec<&str> = chunk.iter().map(|d| d.project.as_str()).collect();
        let kinds: Vec<&str> = chunk.iter().map(|d| d.kind.as_str()).collect();
        let titles: Vec<&str> = chunk.iter().map(|d| d.title.as_str()).collect();
        let subtitles: Vec<&str> = chunk.iter().map(|d| d.subtitle.as_str()).collect();
        let narratives: Vec<&str> = chunk.iter().map(|d| d.narrative.as_str()).collect();
        let facts: Vec<String> = chunk.iter().map(|d| json(&d.facts)).collect();
        let concepts: Vec<String> = chunk.iter().map(|d| json(&d.concepts)).collect();
        let keywords: Vec<String> = chunk.iter().map(|d| json(&d.keywords)).collect();
        let files: Vec<String> = chunk.iter().map(|d| json(&d.files)).collect();
        let created: Vec<i64> = chunk.iter().map(|d| d.created_at).collect();
        sqlx::query(
            "INSERT INTO observations (session_id, team_id, user_id, project, type, title, subtitle,
                 narrative, facts, concepts, keywords, files_modified, compressor, created_at)
             SELECT s, $1, $2, p, k, t, st, n, f::jsonb, c::jsonb, kw::jsonb, fm::jsonb, 'local', ca
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[])
                  AS u(s, p, k, t, st, n, f, c, kw, fm, ca)",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(&sessions)
        .bind(&projects)
        .bind(&kinds)
        .bind(&titles)
        .bind(&subtitles)
        .bind(&narratives)
        .bind(&facts)
        .bind(&concepts)
        .bind(&keywords)
        .bind(&files)
        .bind(&created)
        .execute(pool)
        .await?;
    }
    Ok(())
}

fn print_ingest(rows: &[Ingest]) {
    println!("\nHook ingest over HTTP (capture only):");
    println!("| mode                               | samples |  p50 ms  |  p90 ms  |  p95 ms  |  p99 ms  |  max ms  |");
    println!("|------------------------------------|---------|----------|----------|----------|----------|----------|");
    for r in rows {
        row(&r.mode, &r.latency);
    }
    for r in rows {
        println!(
            "{}: {} events in {:.1} s = {:.0} events/s, {} errors{}{}",
            r.mode,
            r.events,
            r.seconds,
            r.events_per_second,
            r.errors,
            r.bytes_per_event
                .map(|b| format!("; {b:.0} bytes per stored event"))
                .unwrap_or_default(),
            r.commits_per_event
                .map(|c| format!("; {c:.2} database commits per event"))
                .unwrap_or_default()
        );
    }
}

fn print_scale(rows: &[Scale]) {
    println!("\nAt scale (hashing embedder, 384-d):");
    for r in rows {
        println!(
            "\n{}: {} observations; rows {:.1} s ({:.0}/s); embeddings + search structures {:.1} s",
            r.mode,
            r.observations,
            r.rows_seconds,
            r.observations as f64 / r.rows_seconds,
            r.index_seconds
        );
        if let Some(mib) = r.table_mib {
            println!(
                "observations table with its indexes: {mib:.1} MiB ({:.0} bytes per observation)",
                mib * 1024.0 * 1024.0 / r.observations as f64
            );
        }
        println!("| query                              | samples |  p50 ms  |  p90 ms  |  p95 ms  |  p99 ms  |  max ms  |");
        println!("|------------------------------------|---------|----------|----------|----------|----------|----------|");
        if let Some(h) = &r.hybrid {
            row("hybrid, end to end", h);
        }
        row("text only, end to end", &r.text);
    }
}
