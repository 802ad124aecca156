//! `claude-mem backup` and `claude-mem restore`.
//!
//! Backups run beside a live worker (the snapshot is a read transaction); restores refuse to run while
//! one serves the configured port, because it would keep writing to the database being replaced.

use anyhow::{bail, Context};
use clap::Args;
use claude_mem_backup::{
    apply_restore, create_backup, verify_archive, ArchiveRef, BackupRequest, Location,
};
use claude_mem_core::{DataDir, Settings};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to put the archive: a directory, s3://bucket/prefix, gs://bucket/prefix or
    /// az://container/prefix (credentials from AWS_*, GOOGLE_*, AZURE_* variables). Default: the
    /// `backup.destination` setting, else the data directory's backups/.
    #[arg(long, value_name = "DIR|URL")]
    to: Option<String>,
    /// Print the report as JSON (and no progress).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive: a path, or an s3://, gs://, az:// URL.
    archive: String,
    /// Replace the current data without asking.
    #[arg(long)]
    yes: bool,
    /// Only fetch and verify the archive; change nothing.
    #[arg(long)]
    verify_only: bool,
    /// Print the outcome as JSON (and no progress).
    #[arg(long)]
    json: bool,
}

fn context() -> anyhow::Result<(DataDir, Settings)> {
    let dir = DataDir::resolve().context("cannot locate the data directory")?;
    let settings = Settings::load_effective(&dir.settings())?;
    Ok((dir, settings))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn progress(quiet: bool) -> impl Fn(&str) + Send + Sync {
    move |step: &str| {
        if !quiet {
            eprintln!("… {step}");
        }
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

fn rows_line(tables: &std::collections::BTreeMap<String, i64>) -> String {
    tables
        .iter()
        .filter(|(t, _)| !t.starts_with('_'))
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let (dir, settings) = context()?;
    let spec = args
        .to
        .clone()
        .unwrap_or_else(|| settings.backup.destination.clone());
    let location = Location::parse(&spec, &dir.backups())?;
    let report = runtime()?.block_on(create_backup(
        BackupRequest {
            database: &dir.database(),
            staging_root: dir.root(),
            location: &location,
            scheduled: false,
        },
        &progress(args.json),
    ))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "backup written: {} ({})",
        report.archive,
        human_size(report.size)
    );
    println!("  sha256 {} (in {})", report.sha256, report.checksum_file);
    println!(
        "  schema {}, rows: {}",
        report.manifest.schema_version,
        rows_line(&report.manifest.tables)
    );
    println!("  restore with: claude-mem restore {}", report.archive);
    Ok(())
}

/// A worker answering on the configured port: the restore must wait for it to stop.
fn running_worker(settings: &Settings) -> Option<String> {
    let url = settings.worker_url();
    let agent = crate::worker_auth::agent(Duration::from_secs(3));
    let mut response = agent.get(format!("{url}/api/health")).call().ok()?;
    let pid = response
        .body_mut()
        .read_json::<serde_json::Value>()
        .ok()
        .and_then(|h| h["pid"].as_u64());
    Some(match pid {
        Some(pid) => format!("{url} (pid {pid})"),
        None => url,
    })
}

fn refuse_if_running(settings: &Settings) -> anyhow::Result<()> {
    if let Some(worker) = running_worker(settings) {
        bail!(
            "a claude-mem worker is running at {worker}; it would keep writing to the database being \
             replaced. Stop it first (quit the desktop app from its tray menu, or stop `claude-mem \
             serve` with Ctrl-C or `kill <pid>`), then run the restore again. Nothing was changed."
        );
    }
    Ok(())
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} Pass --yes to restore without a prompt (stdin is not a terminal). Nothing was changed.");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let (dir, settings) = context()?;
    if !args.verify_only {
        refuse_if_running(&settings)?;
    }
    let archive = ArchiveRef::parse(&args.archive)?;
    dir.ensure()
        .with_context(|| format!("cannot create {}", dir.root().display()))?;
    let rt = runtime()?;
    let verified = rt.block_on(verify_archive(&archive, dir.root(), &progress(args.json)))?;
    let m = verified.manifest.clone();
    let summary = json!({
        "archive": verified.archive,
        "sha256": verified.sha256,
        "sidecar_checked": verified.sidecar_checked,
        "manifest": m,
    });
    if !args.json {
        println!(
            "verified {} (made {} by claude-mem {}, schema {}; checksum {})",
            verified.archive,
            m.created_at,
            m.app_version,
            m.schema_version,
            if verified.sidecar_checked {
                "matches its .sha256"
            } else {
                "not checked: no .sha256 beside it; every file matched the manifest"
            }
        );
        println!("  rows: {}", rows_line(&m.tables));
    }
    if args.verify_only {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        return Ok(());
    }
    if !args.yes && dir.database().exists() {
        let question = format!(
            "Replace the database in {}? The current one and the index are moved to {}/replaced-<time>/.",
            dir.root().display(),
            dir.root().display()
        );
        if !confirm(&question)? {
            bail!("restore cancelled; nothing was changed");
        }
    }
    // Verification can take a while on a big archive: look again right before touching anything.
    refuse_if_running(&settings)?;
    let restored = apply_restore(verified, &dir)?;
    if args.json {
        let mut out = summary;
        out["restored"] = serde_json::to_value(&restored)?;
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("restored into {}", restored.database.display());
    if let Some(aside) = &restored.replaced_dir {
        println!(
            "  the previous data ({}) is kept in {}",
            restored.moved.join(", "),
            aside.display()
        );
    }
    println!(
        "  the search index is rebuilt from the restored database when the worker next starts"
    );
    Ok(())
}
