//! `claude-mem export` and `claude-mem import` (a JSON Lines export, or the original claude-mem's
//! database).
//!
//! Both read and write SQLite directly, which is safe beside a running worker (WAL readers; the import is
//! one short write transaction). The search indexes belong to whoever holds them: a running worker is
//! asked over HTTP to index what the import added, otherwise the CLI opens them itself.

use anyhow::{bail, Context};
use claude_mem_core::store::{parse_export, ImportReport};
use claude_mem_core::{DataDir, Settings, Store};
use claude_mem_server::admin_api::ImportedIds;
use serde_json::{json, Value};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// File to write (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Only this project's sessions, memories, prompts, events and costs.
    #[arg(long)]
    project: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A file written by `claude-mem export`.
    #[arg(
        required_unless_present = "from_original",
        conflicts_with = "from_original"
    )]
    file: Option<PathBuf>,
    /// Import the original (TypeScript) claude-mem's SQLite database instead. Given this app's own
    /// database path, it is moved aside first (kept as a backup).
    #[arg(long, value_name = "PATH")]
    from_original: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn locate() -> anyhow::Result<(DataDir, Settings)> {
    let dir = DataDir::resolve().context("cannot locate the data directory")?;
    // The settings the worker would start with (a bad key keeps its last good value), so the CLI
    // talks to the port the worker listens on.
    let (settings, warnings) = Settings::load_effective_resilient(&dir.settings());
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok((dir, settings))
}

fn agent(timeout: Duration) -> ureq::Agent {
    crate::worker_auth::agent(timeout)
}

/// The worker's base URL when something answers `/api/health` there.
pub(crate) fn running_worker(settings: &Settings) -> Option<String> {
    let base = settings.worker_url();
    let response = agent(Duration::from_secs(2))
        .get(&format!("{base}/api/health"))
        .call()
        .ok()?;
    response.status().is_success().then_some(base)
}

/// GETs JSON from the worker; its `{error, reason}` becomes the error message.
pub(crate) fn get_json(base: &str, path: &str) -> anyhow::Result<Value> {
    let url = format!("{base}{path}");
    let sent = agent(Duration::from_secs(60)).get(&url).call();
    answer_of(base, sent)
}

/// POSTs JSON to the worker; its `{error, reason}` becomes the error message.
pub(crate) fn post_json(base: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
    send_json("POST", base, path, body)
}

/// [`post_json`] for any method with a body (`PUT`, `PATCH`, `DELETE`).
pub(crate) fn send_json(
    method: &str,
    base: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let url = format!("{base}{path}");
    let agent = agent(Duration::from_secs(600));
    let sent = match method {
        "PUT" => agent.put(&url).send_json(body),
        "PATCH" => agent.patch(&url).send_json(body),
        "DELETE" => agent.delete(&url).force_send_body().send_json(body),
        _ => agent.post(&url).send_json(body),
    };
    answer_of(base, sent)
}

/// The worker's JSON answer, or its `{error, reason}` as the error.
fn answer_of(
    base: &str,
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> anyhow::Result<Value> {
    let mut response = sent.with_context(|| format!("the worker at {base} stopped answering"))?;
    let status = response.status();
    let answer: Value = response
        .body_mut()
        .read_json()
        .with_context(|| format!("the worker answered {status} with something that is not JSON"))?;
    if !status.is_success() {
        bail!(
            "the worker refused: {}: {}",
            answer["error"].as_str().unwrap_or("error"),
            answer["reason"].as_str().unwrap_or("")
        );
    }
    Ok(answer)
}

pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let (dir, _) = locate()?;
    let db = dir.database();
    if !db.exists() {
        bail!("there is no database at {} to export", db.display());
    }
    runtime()?.block_on(async move {
        let store = Store::open(&db).await?;
        let result = match &args.out {
            Some(path) => {
                // Written beside the target and renamed: a failed export never leaves a truncated file
                // that looks complete.
                let tmp = path.with_extension("partial");
                // Private (0600) from its first byte: an export holds every prompt and memory.
                let file = claude_mem_core::paths::create_private(&tmp)
                    .with_context(|| format!("cannot create {}", tmp.display()))?;
                let mut out = BufWriter::new(file);
                let summary = store.export_jsonl(args.project.as_deref(), &mut out).await;
                drop(out);
                match summary {
                    Ok(s) => {
                        std::fs::rename(&tmp, path)
                            .with_context(|| format!("cannot write {}", path.display()))?;
                        Ok(s)
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        Err(e)
                    }
                }
            }
            None => {
                let mut out = BufWriter::new(std::io::stdout());
                store.export_jsonl(args.project.as_deref(), &mut out).await
            }
        };
        store.close().await;
        let summary = result?;
        let rows: u64 = summary.tables.values().sum();
        let detail: Vec<String> = summary
            .tables
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        let to = args
            .out
            .as_ref()
            .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
        eprintln!("exported {rows} rows to {to} ({})", detail.join(", "));
        anyhow::Ok(())
    })
}

/// Makes the search indexes take in imported observations, summaries and prompts: through the worker
/// when one runs, else by opening them here. Returns a line for the user.
fn index_imported(
    settings: &Settings,
    dir: &DataDir,
    worker: Option<&str>,
    ids: ImportedIds<'_>,
    store: &Store,
    rt: &tokio::runtime::Runtime,
) -> String {
    if ids.is_empty() {
        return "search index: nothing new".into();
    }
    if let Some(base) = worker {
        // Only observation ids when there is nothing else: a worker older than summary and prompt
        // search refuses fields it does not know.
        let mut body = json!({ "ids": ids.observations });
        if !ids.summaries.is_empty() || !ids.prompts.is_empty() {
            body["summary_ids"] = json!(ids.summaries);
            body["prompt_ids"] = json!(ids.prompts);
        }
        return match post_json(base, "/api/admin/index", &body) {
            Ok(_) => "search index: the running worker is indexing the imported memories".into(),
            Err(e) => format!("warning: {e:#}; run `claude-mem reindex`"),
        };
    }
    rt.block_on(async {
        match claude_mem_server::worker::open_search(settings, dir).await {
            Ok(index) => {
                match claude_mem_server::admin_api::index_imported(store, &index, ids).await {
                    Ok(n) => {
                        let _ = index.save();
                        format!(
                            "search index: {n} indexed now, {} when the worker next starts",
                            ids.len().saturating_sub(n)
                        )
                    }
                    Err(e) => format!("warning: search index not updated ({e}); run `claude-mem reindex`"),
                }
            }
            Err(e) => format!("warning: cannot open the search index ({e}); run `claude-mem reindex` once the worker runs"),
        }
    })
}

/// A name beside `db` for the original's database moved aside.
fn aside_name(db: &Path) -> PathBuf {
    let stamp = claude_mem_core::clock::format_utc(claude_mem_core::clock::now_ms())
        .replace(" UTC", "")
        .replace([' ', ':'], "-");
    let mut candidate = db.with_file_name(format!("claude-mem.db.original-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = db.with_file_name(format!("claude-mem.db.original-{stamp}-{n}"));
        n += 1;
    }
    candidate
}

/// Moves the original's database (and its WAL and shared-memory files, which belong to it by name)
/// out of our database's place.
fn move_aside(db: &Path, settings: &Settings) -> anyhow::Result<PathBuf> {
    if let Some(base) = running_worker(settings) {
        bail!(
            "something answers at {base}: stop the running claude-mem (the original's worker writes to \
             {}) and run this again",
            db.display()
        );
    }
    let to = aside_name(db);
    std::fs::rename(db, &to)
        .with_context(|| format!("cannot move {} to {}", db.display(), to.display()))?;
    for suffix in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            let target = PathBuf::from(format!("{}{suffix}", to.display()));
            std::fs::rename(&from, &target)
                .with_context(|| format!("cannot move {}", from.display()))?;
        }
    }
    Ok(to)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    let (dir, settings) = locate()?;
    dir.ensure()
        .with_context(|| format!("cannot create {}", dir.root().display()))?;
    let db = dir.database();
    let rt = runtime()?;
    if let Some(original) = args.from_original {
        let mut source = original.clone();
        if same_file(&original, &db) {
            let kind = rt.block_on(claude_mem_core::legacy_import::detect(&db))?;
            if kind == claude_mem_core::legacy_import::DatabaseKind::Original {
                source = move_aside(&db, &settings)?;
                eprintln!(
                    "moved the original claude-mem's database to {} (kept as a backup)",
                    source.display()
                );
            }
        }
        let worker = running_worker(&settings);
        let store = rt.block_on(Store::open(&db))?;
        let report = rt.block_on(store.import_original(&source));
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                rt.block_on(store.close());
                return Err(e.into());
            }
        };
        let index_line = index_imported(
            &settings,
            &dir,
            worker.as_deref(),
            ImportedIds {
                observations: &report.observation_ids,
                ..ImportedIds::default()
            },
            &store,
            &rt,
        );
        rt.block_on(store.close());
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "imported the original claude-mem's database {}:",
                source.display()
            );
            for (table, (read, inserted)) in &report.tables {
                println!("  {table:<18} {inserted:>7} new of {read:>7} read");
            }
            println!("{index_line}");
        }
        return Ok(());
    }
    let Some(path) = args.file else {
        bail!("give a file written by `claude-mem export`, or --from-original PATH");
    };
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let parsed = parse_export(BufReader::new(file))
        .with_context(|| format!("cannot import {}", path.display()))?;
    let worker = running_worker(&settings);
    let store = rt.block_on(Store::open(&db))?;
    let report: anyhow::Result<ImportReport> = rt
        .block_on(store.import_export(parsed))
        .with_context(|| format!("nothing was imported from {}", path.display()));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            rt.block_on(store.close());
            return Err(e);
        }
    };
    let index_line = index_imported(
        &settings,
        &dir,
        worker.as_deref(),
        ImportedIds {
            observations: &report.observation_ids,
            summaries: &report.summary_ids,
            prompts: &report.prompt_ids,
        },
        &store,
        &rt,
    );
    rt.block_on(store.close());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("imported {}:", path.display());
        for (table, t) in &report.tables {
            println!(
                "  {table:<18} {:>7} new, {:>7} already there{}",
                t.inserted,
                t.skipped,
                if t.remapped > 0 {
                    format!(", {} under new ids", t.remapped)
                } else {
                    String::new()
                }
            );
        }
        println!("{index_line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aside_name_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("claude-mem.db");
        let first = aside_name(&db);
        assert!(first
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("claude-mem.db.original-")));
        std::fs::write(&first, b"x").expect("write");
        assert_ne!(aside_name(&db), first);
    }
}
