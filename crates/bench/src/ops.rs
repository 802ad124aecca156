//! `claude-mem-bench ops`: the maintenance commands at scale, on a real SQLite file of N generated
//! observations: backup (snapshot + archive), verification before restore, JSON Lines export and import,
//! and prune (dry run, then a real one with its VACUUM).

use crate::context::seed;
use crate::write_json;
use claude_mem_backup::{create_backup, verify_archive, ArchiveRef, BackupRequest, Location};
use claude_mem_core::store::{parse_export, PruneRequest};
use claude_mem_core::Store;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    observations: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    observations: usize,
    database_mib: f64,
    seed_seconds: f64,
    backup_seconds: f64,
    archive_mib: f64,
    verify_seconds: f64,
    export_seconds: f64,
    export_mib: f64,
    export_rows: u64,
    import_seconds: f64,
    imported_rows: u64,
    prune_dry_run_seconds: f64,
    prune_seconds: f64,
    pruned_observations: u64,
    database_mib_after_prune: f64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn file_mib(path: &std::path::Path) -> f64 {
    mib(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("claude-mem.db");
        let store = Store::open(&db).await?;
        let t = Instant::now();
        seed(&store, args.observations).await?;
        let seed_seconds = t.elapsed().as_secs_f64();
        let database_mib = file_mib(&db) + file_mib(&dir.path().join("claude-mem.db-wal"));

        let backups = dir.path().join("backups");
        let location = Location::parse(&backups.to_string_lossy(), &backups)?;
        let quiet = |_: &str| {};
        let t = Instant::now();
        let backup = create_backup(
            BackupRequest {
                database: &db,
                staging_root: dir.path(),
                location: &location,
                scheduled: false,
            },
            &quiet,
        )
        .await?;
        let backup_seconds = t.elapsed().as_secs_f64();

        let archive = ArchiveRef::parse(&backups.join(&backup.name).to_string_lossy())?;
        let t = Instant::now();
        let verified = verify_archive(&archive, dir.path(), &quiet).await?;
        let verify_seconds = t.elapsed().as_secs_f64();
        drop(verified);

        let export_path = dir.path().join("export.jsonl");
        let t = Instant::now();
        let summary = {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&export_path)?);
            let summary = store.export_jsonl(None, &mut out).await?;
            std::io::Write::flush(&mut out)?;
            summary
        };
        let export_seconds = t.elapsed().as_secs_f64();
        let export_rows = summary.tables.values().sum::<u64>();

        let fresh = Store::open(&dir.path().join("imported.db")).await?;
        let t = Instant::now();
        let file = parse_export(std::io::BufReader::new(std::fs::File::open(&export_path)?))?;
        let imported = fresh.import_export(file).await?;
        let import_seconds = t.elapsed().as_secs_f64();
        fresh.close().await;

        // Half the observations are older than the median creation time of the generated data.
        let cutoff_ms = 1_790_000_000_000 + (args.observations as i64 / 2) * 60_000;
        let request = |dry_run| PruneRequest {
            cutoff_ms,
            project: None,
            dry_run,
        };
        let t = Instant::now();
        store.prune(request(true)).await?;
        let prune_dry_run_seconds = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let pruned = store.prune(request(false)).await?;
        let prune_seconds = t.elapsed().as_secs_f64();
        store.close().await;

        let report = Report {
            observations: args.observations,
            database_mib,
            seed_seconds,
            backup_seconds,
            archive_mib: mib(backup.size),
            verify_seconds,
            export_seconds,
            export_mib: file_mib(&export_path),
            export_rows,
            import_seconds,
            imported_rows: imported.inserted(),
            prune_dry_run_seconds,
            prune_seconds,
            pruned_observations: pruned.deleted.get("observations").copied().unwrap_or(0),
            database_mib_after_prune: file_mib(&db)
                + file_mib(&dir.path().join("claude-mem.db-wal")),
        };
        println!(
            "maintenance on {} observations ({:.0} MiB database)",
            report.observations, report.database_mib
        );
        println!("{:<34} {:>10}", "step", "seconds");
        let rows = [
            (
                format!("backup ({:.0} MiB archive)", report.archive_mib),
                report.backup_seconds,
            ),
            ("verify before restore".to_owned(), report.verify_seconds),
            (
                format!(
                    "export ({} rows, {:.0} MiB)",
                    report.export_rows, report.export_mib
                ),
                report.export_seconds,
            ),
            (
                format!("import ({} rows)", report.imported_rows),
                report.import_seconds,
            ),
            ("prune, dry run".to_owned(), report.prune_dry_run_seconds),
            (
                format!(
                    "prune {} + VACUUM (→ {:.0} MiB)",
                    report.pruned_observations, report.database_mib_after_prune
                ),
                report.prune_seconds,
            ),
        ];
        for (step, secs) in rows {
            println!("{step:<34} {secs:>10.2}");
        }
        if let Some(path) = &args.json {
            write_json(path, &report)?;
        }
        Ok(())
    })
}
