//! `claude-mem-bench context`: SessionStart context builds against a real SQLite file holding N
//! observations (generated like the search benchmark's), spread over the same projects.

use crate::search::{generate, PROJECTS};
use crate::{write_json, Latency};
use claude_mem_core::context::{build_context, ContextRequest, ContextSource};
use claude_mem_core::Store;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    observations: usize,
    #[arg(long, default_value_t = 500)]
    builds: usize,
    #[arg(long, default_value_t = 2000)]
    budget: usize,
    /// File-context lookups (PreToolUse before a Read/Edit) to time, over the generated files.
    #[arg(long, default_value_t = 500)]
    file_lookups: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    observations: usize,
    projects: usize,
    budget_tokens: usize,
    seed_seconds: f64,
    build: Latency,
    mean_tokens: f64,
    max_tokens: usize,
    mean_listed: f64,
    file_context: Latency,
    /// Share of file-context lookups that found memories (the generated files are all remembered).
    file_context_hit_rate: f64,
}

pub(crate) async fn seed(store: &Store, n: usize) -> anyhow::Result<()> {
    seed_docs(store, &generate(n)).await
}

/// Sessions per project with a summary each, then the observations, in one transaction.
pub(crate) async fn seed_docs(
    store: &Store,
    docs: &[claude_mem_search::Doc],
) -> anyhow::Result<()> {
    let docs = docs.to_vec();
    store
        .write(move |conn| {
            Box::pin(async move {
                use sqlx::Connection;
                let mut tx = conn.begin().await?;
                for p in PROJECTS {
                    sqlx::query(
                        "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at) VALUES (?1, ?2, 0, 0)",
                    )
                    .bind(format!("bench-{p}"))
                    .bind(p)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO session_summaries (session_id, project, request, completed, next_steps,
                             compressor, created_at)
                         VALUES (?1, ?2, 'Make the importer idempotent', 'Keyed every row by its source id',
                             'Backfill keys for old imports', 'local', 1790000000000)",
                    )
                    .bind(format!("bench-{p}"))
                    .bind(p)
                    .execute(&mut *tx)
                    .await?;
                }
                for d in &docs {
                    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_default();
                    sqlx::query(
                        "INSERT INTO observations (session_id, project, type, title, subtitle, narrative, facts,
                             concepts, files_modified, keywords, compressor, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'local', ?11)",
                    )
                    .bind(format!("bench-{}", d.project))
                    .bind(&d.project)
                    .bind(&d.kind)
                    .bind(&d.title)
                    .bind(&d.subtitle)
                    .bind(&d.narrative)
                    .bind(json(&d.facts))
                    .bind(json(&d.concepts))
                    .bind(json(&d.files))
                    .bind(json(&d.keywords))
                    .bind(d.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            })
        })
        .await?;
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&dir.path().join("bench.db")).await?;
        let start = Instant::now();
        seed(&store, args.observations).await?;
        let seed_seconds = start.elapsed().as_secs_f64();
        let now_ms = 1_790_000_000_000 + args.observations as i64 * 60_000;
        let mut times = Vec::with_capacity(args.builds);
        let mut tokens = Vec::with_capacity(args.builds);
        let mut listed = Vec::with_capacity(args.builds);
        for i in 0..args.builds {
            let req = ContextRequest {
                project: PROJECTS[i % PROJECTS.len()].into(),
                session_id: Some(format!("new-{i}")),
                source: ContextSource::Startup,
                resumed_after_ms: None,
                budget_tokens: args.budget,
                max_observations: 40,
                now_ms,
                language: Default::default(),
            };
            let t = Instant::now();
            let block = build_context(&store, &req).await?;
            times.push(t.elapsed());
            tokens.push(block.tokens);
            listed.push(block.observation_ids.len());
        }
        // File context before a Read: an absolute path under the project, one generated file each time.
        let docs = generate(args.observations.min(20_000));
        let mut file_times = Vec::with_capacity(args.file_lookups);
        let mut hits = 0usize;
        for i in 0..args.file_lookups {
            let d = &docs[(i * 7919) % docs.len().max(1)];
            let Some(file) = d.files.first() else { continue };
            let cwd = format!("/home/dev/{}", d.project);
            let t = Instant::now();
            let text = claude_mem_core::context::file_context(
                &store,
                &d.project,
                &cwd,
                &format!("{cwd}/{file}"),
                Default::default(),
                now_ms,
            )
            .await?;
            file_times.push(t.elapsed());
            hits += usize::from(!text.is_empty());
        }
        store.close().await;
        let report = Report {
            observations: args.observations,
            projects: PROJECTS.len(),
            budget_tokens: args.budget,
            seed_seconds,
            build: Latency::from(times),
            mean_tokens: tokens.iter().sum::<usize>() as f64 / tokens.len().max(1) as f64,
            max_tokens: tokens.iter().copied().max().unwrap_or(0),
            mean_listed: listed.iter().sum::<usize>() as f64 / listed.len().max(1) as f64,
            file_context_hit_rate: hits as f64 / file_times.len().max(1) as f64,
            file_context: Latency::from(file_times),
        };
        println!(
            "context builds over {} observations in {} projects (budget {} tokens): mean {:.0} tokens (max {}), {:.1} observations listed",
            report.observations, report.projects, report.budget_tokens, report.mean_tokens, report.max_tokens, report.mean_listed
        );
        println!("| measurement                        | samples |  p50 ms  |  p90 ms  |  p95 ms  |  p99 ms  |  max ms  |");
        println!("|------------------------------------|---------|----------|----------|----------|----------|----------|");
        crate::row("SessionStart context build", &report.build);
        crate::row("file context (PreToolUse Read)", &report.file_context);
        println!(
            "file context found memories for {:.0} % of lookups",
            report.file_context_hit_rate * 100.0
        );
        if let Some(path) = &args.json {
            write_json(path, &report)?;
        }
        Ok(())
    })
}
