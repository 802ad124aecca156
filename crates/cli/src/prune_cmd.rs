//! `claude-mem prune --older-than 90d`: deletes old memories from SQLite and the search indexes.
//!
//! With a worker running, the worker does it (it holds the index writer); otherwise the CLI opens the
//! store and the indexes itself and runs the very same code.

use crate::portability_cmd::{locate, post_json, running_worker, runtime};
use anyhow::{bail, Context};
use claude_mem_core::store::PruneRequest;
use claude_mem_core::Store;
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Age past which memories go: a number and a unit, h (hours), d (days) or w (weeks): 90d, 12w, 36h.
    #[arg(long, value_name = "AGE")]
    older_than: String,
    /// Only this project's memories (default: all projects).
    #[arg(long)]
    project: Option<String>,
    /// Show what would be deleted, per table, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `90d` → milliseconds. Months and years are left out on purpose: their length varies.
pub fn parse_age(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} has no unit: write 90d, 12w or 36h"))?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} does not start with a number: write 90d, 12w or 36h"))?;
    if n == 0 {
        return Err("the age must be more than zero".into());
    }
    let unit_ms: i64 = match unit {
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => {
            return Err(format!(
                "unknown unit {other:?}: use h (hours), d (days) or w (weeks)"
            ))
        }
    };
    n.checked_mul(unit_ms)
        .ok_or_else(|| format!("{s:?} is too long ago"))
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

fn print_report(outcome: &Value, older_than: &str) {
    let dry = outcome["dry_run"].as_bool().unwrap_or(false);
    let cutoff = outcome["cutoff_ms"].as_i64().unwrap_or(0);
    let scope = outcome["project"]
        .as_str()
        .map_or_else(|| "all projects".to_owned(), |p| format!("project {p}"));
    println!(
        "{} older than {older_than} (before {}), {scope}:",
        if dry { "Would delete" } else { "Deleted" },
        claude_mem_core::clock::format_utc(cutoff)
    );
    if let Some(tables) = outcome["deleted"].as_object() {
        for (table, n) in tables {
            println!("  {table:<18} {n:>8}");
        }
    }
    if dry {
        println!("Dry run: nothing was changed.");
        return;
    }
    let before = outcome["bytes_before"].as_u64().unwrap_or(0);
    let after = outcome["bytes_after"].as_u64().unwrap_or(0);
    if outcome["vacuumed"].as_bool().unwrap_or(false) {
        println!("Database vacuumed: {} → {}.", mb(before), mb(after));
    }
    match outcome["index"].as_str() {
        Some("deleted") => println!("Search index: the deleted memories are gone from it."),
        Some("unavailable") => {
            println!("Search index: not open; run `claude-mem reindex` once the worker runs.")
        }
        _ => {}
    }
}

pub fn run(args: PruneArgs) -> anyhow::Result<()> {
    let age = parse_age(&args.older_than).map_err(anyhow::Error::msg)?;
    if args.project.as_deref().is_some_and(|p| p.trim().is_empty()) {
        bail!("--project must not be empty");
    }
    let cutoff_ms = claude_mem_core::clock::now_ms() - age;
    let (dir, settings) = locate()?;
    let outcome: Value = if let Some(base) = running_worker(&settings) {
        post_json(
            &base,
            "/api/admin/prune",
            &json!({ "cutoff": cutoff_ms, "project": args.project, "dry_run": args.dry_run }),
        )?
    } else {
        let db = dir.database();
        if !db.exists() {
            bail!("there is no database at {} to prune", db.display());
        }
        let req = PruneRequest {
            cutoff_ms,
            project: args.project.clone(),
            dry_run: args.dry_run,
        };
        runtime()?.block_on(async {
            let store = Store::open(&db).await?;
            // A dry run touches nothing, so it needs no index (nor the time to load the model).
            let index = if args.dry_run {
                None
            } else {
                match claude_mem_server::worker::open_search(&settings, &dir).await {
                    Ok(i) => Some(i),
                    Err(e) => {
                        eprintln!("warning: cannot open the search index ({e})");
                        None
                    }
                }
            };
            let outcome =
                claude_mem_server::admin_api::prune_everywhere(&store, index.as_ref(), req).await;
            if let Some(index) = &index {
                if let Err(e) = index.save() {
                    eprintln!(
                        "warning: cannot save the search index ({e}); run `claude-mem reindex`"
                    );
                }
            }
            store.close().await;
            let outcome = outcome.context("prune failed")?;
            anyhow::Ok(serde_json::to_value(&outcome)?)
        })?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print_report(&outcome, &args.older_than);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages_take_hours_days_and_weeks_only() {
        assert_eq!(parse_age("36h"), Ok(36 * 3_600_000));
        assert_eq!(parse_age("90d"), Ok(90 * 86_400_000));
        assert_eq!(parse_age("2w"), Ok(14 * 86_400_000));
        for bad in [
            "90",
            "d",
            "0d",
            "6m",
            "1y",
            "-3d",
            "9999999999999999999d",
            "1.5d",
        ] {
            assert!(parse_age(bad).is_err(), "{bad} should be refused");
        }
    }
}
