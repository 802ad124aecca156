//! `claude-mem exclude add [PATH] | remove ENTRY | list`: the places claude-mem never records
//! (`capture.exclude`, see `claude_mem_core::capture`). With a worker running the change goes through it
//! (`PUT /api/settings`), so it applies at once; otherwise the settings file is edited and the next
//! worker reads it.

use crate::portability_cmd::{locate, running_worker, send_json};
use anyhow::{bail, Context};
use claude_mem_core::Settings;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum ExcludeCommand {
    /// Never record a folder (and everything under it), a glob or a project name. Without an argument:
    /// the repository (or folder) you are in.
    Add {
        /// A folder, a path glob (`~/clients/*`), or a project name or name glob (`acme-*`).
        entry: Option<String>,
    },
    /// Record a place again.
    Remove {
        /// The entry as `claude-mem exclude list` shows it.
        entry: String,
    },
    /// The excluded places.
    List,
}

pub fn run(cmd: ExcludeCommand) -> anyhow::Result<()> {
    let (dir, settings) = locate()?;
    let mut list = settings.capture.exclude.clone();
    match cmd {
        ExcludeCommand::List => {
            if list.is_empty() {
                println!("Nothing is excluded: every project is recorded.");
            }
            for entry in &list {
                println!("{entry}");
            }
            if std::env::var_os("CLAUDE_MEM_EXCLUDE").is_some() {
                println!("(set by CLAUDE_MEM_EXCLUDE, which overrides the settings file)");
            }
            return Ok(());
        }
        ExcludeCommand::Add { entry } => {
            let entry = match entry {
                Some(e) => normalize(&e)?,
                None => current_repository()?.to_string_lossy().into_owned(),
            };
            claude_mem_core::capture::exclude_glob(&entry)
                .with_context(|| format!("{entry:?} is not a valid path or glob"))?;
            if list.contains(&entry) {
                println!("{entry} is already excluded.");
                return Ok(());
            }
            list.push(entry.clone());
            save(&dir, list)?;
            println!(
                "Excluded {entry}: nothing there is recorded and no memory is injected there."
            );
        }
        ExcludeCommand::Remove { entry } => {
            let wanted = normalize(&entry).unwrap_or(entry.clone());
            let before = list.len();
            list.retain(|e| e != &entry && e != &wanted);
            if list.len() == before {
                bail!("{entry} is not excluded (see `claude-mem exclude list`)");
            }
            save(&dir, list)?;
            println!("{entry} is recorded again.");
        }
    }
    Ok(())
}

/// A relative folder becomes absolute (so it means the same from anywhere); globs, `~` paths and
/// project names are kept as typed.
fn normalize(entry: &str) -> anyhow::Result<String> {
    let entry = entry.trim();
    if entry.is_empty() {
        bail!("an empty entry would exclude nothing");
    }
    let globbed = entry.contains(['*', '?', '[', '{']);
    let is_path = entry.contains('/') || entry == "." || entry == "..";
    if globbed || !is_path || entry.starts_with('~') || Path::new(entry).is_absolute() {
        return Ok(entry.trim_end_matches('/').to_owned());
    }
    let absolute = std::env::current_dir()
        .context("cannot read the current directory")?
        .join(entry);
    Ok(absolute
        .canonicalize()
        .unwrap_or(absolute)
        .to_string_lossy()
        .into_owned())
}

/// The repository around the current directory (what a project is), else the directory itself.
fn current_repository() -> anyhow::Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    Ok(cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&cwd)
        .to_owned())
}

fn save(dir: &claude_mem_core::DataDir, list: Vec<String>) -> anyhow::Result<()> {
    let (settings, _) = Settings::load_effective_resilient(&dir.settings());
    if let Some(base) = running_worker(&settings) {
        send_json(
            "PUT",
            &base,
            "/api/settings",
            &json!({ "capture.exclude": list }),
        )?;
        return Ok(());
    }
    let path = dir.settings();
    let mut file = if path.exists() {
        Settings::load(&path)?
    } else {
        Settings::default()
    };
    file.capture.exclude = list;
    file.save(&path)?;
    Ok(())
}
