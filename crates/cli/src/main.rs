//! `claude-mem`: the headless worker, Claude Code's hook client and the installer.
//!
//! `hook` runs inside every Claude Code session, so it is dispatched before anything heavy (no async
//! runtime, no logging setup): its cost is paid on every prompt.

mod backup_cmd;
mod client_config;
mod doctor_cmd;
mod exclude_cmd;
mod forget_cmd;
mod hook_cmd;
mod install_cmd;
mod mcp_cmd;
mod migrate_cmd;
mod open_cmd;
mod portability_cmd;
mod prune_cmd;
mod restart_cmd;
mod retry_cmd;
mod search_cmd;
mod serve_cmd;
mod service;
mod team_cmd;
mod update_cmd;
mod worker_auth;
mod worker_start;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "claude-mem",
    version,
    about = "Persistent memory for Claude Code"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the worker without a GUI (servers, CI, machines without a display).
    Serve(serve_cmd::ServeArgs),
    /// Forward one Claude Code hook event (JSON on stdin) to the worker. Never fails: Claude Code must not
    /// be blocked by its memory.
    Hook {
        /// Event name, e.g. `session-start` or `SessionStart`; defaults to the payload's `hook_event_name`.
        event: Option<String>,
    },
    /// Add claude-mem's hooks to Claude Code's settings (other hooks are kept; a backup is written first).
    Install(install_cmd::InstallArgs),
    /// Serve claude-mem's MCP tools (search, timeline, get_observations, save_memory) on stdio, for
    /// Claude Code; the worker must be running.
    Mcp(mcp_cmd::McpArgs),
    /// Open the viewer in your browser, signed in with a one-time link (`--print` shows the link).
    Open(open_cmd::OpenArgs),
    /// Search your memories (hybrid full text + vectors) through the running worker.
    Search(search_cmd::SearchArgs),
    /// Rebuild the search indexes from SQLite, with progress.
    Reindex,
    /// Manage the local embedding model.
    #[command(subcommand)]
    Models(search_cmd::ModelsCommand),
    /// Remove claude-mem's hooks from Claude Code's settings, leaving every other hook as it was.
    Uninstall {
        /// Claude Code settings file to edit (default: ~/.claude/settings.json).
        #[arg(long)]
        settings: Option<PathBuf>,
    },
    /// Snapshot the database (consistent while the worker runs) into a .tar.gz with a manifest and
    /// checksums, in a directory or object storage.
    Backup(backup_cmd::BackupArgs),
    /// Verify a backup, then restore it; the current data is kept aside, not deleted.
    Restore(backup_cmd::RestoreArgs),
    /// Write every table as versioned JSON Lines.
    Export(portability_cmd::ExportArgs),
    /// Read a JSON Lines export, or the database of the original (TypeScript) claude-mem.
    Import(portability_cmd::ImportArgs),
    /// Delete memories older than a given age, from SQLite and the indexes.
    Prune(prune_cmd::PruneArgs),
    /// Put events that failed compression and were parked back in the queue (e.g. after fixing the API
    /// key): all of them, or one by id.
    Retry(retry_cmd::RetryArgs),
    /// Check the installation and say how to fix what is wrong.
    Doctor(doctor_cmd::DoctorArgs),
    /// Copy this machine's memories into a team server's PostgreSQL database (safe to repeat).
    Migrate(migrate_cmd::MigrateArgs),
    /// Manage a team server's teams, users and API tokens (on its PostgreSQL database).
    #[command(subcommand)]
    Team(team_cmd::TeamCommand),
    /// Forget memories for good (database, search index, future context): observation ids, `summary:ID`,
    /// `prompt:ID`, `session:ID`, or `--project NAME --yes`.
    Forget(forget_cmd::ForgetArgs),
    /// Correct an observation: title, narrative, facts or type.
    Edit(forget_cmd::EditArgs),
    /// Projects: list them (the default), `rename OLD NEW`, `merge FROM INTO`.
    Projects {
        #[command(subcommand)]
        cmd: Option<forget_cmd::ProjectsCommand>,
    },
    /// Sessions: `off ID` stops recording one (what `/claude-mem:off` runs), `list-off` lists them.
    #[command(subcommand)]
    Session(forget_cmd::SessionCommand),
    /// Places claude-mem never records (folders, globs, project names): add, remove, list.
    #[command(subcommand)]
    Exclude(exclude_cmd::ExcludeCommand),
    /// Restart the running worker in its process, applying settings saved since it started.
    Restart,
    /// Replace this binary with the newest release for this platform (checksum-verified).
    Update(update_cmd::UpdateArgs),
    /// Start a worker in the background if none answers on the configured port (what the SessionStart
    /// hook does; the plugin's launcher calls it after fetching the binary).
    #[command(hide = true)]
    StartWorker,
}

fn main() -> ExitCode {
    // Parse by hand first for the hot path: clap costs little, but `hook` must not even risk a usage
    // error exit code.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("hook") {
        // The plugin's launcher hands over events it kept while it fetched this binary: they go
        // straight to the spool, dated when Claude Code sent them (see `hook_cmd::spool_at`).
        if let Some(at) = std::env::var_os(hook_cmd::SPOOL_AT_ENV) {
            return hook_cmd::spool_at(args.get(2).map(String::as_str), &at.to_string_lossy());
        }
        hook_cmd::run(args.get(2).map(String::as_str));
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_cmd::run(args),
        Command::Hook { event } => {
            hook_cmd::run(event.as_deref());
            Ok(())
        }
        Command::Install(args) => install_cmd::install(args),
        Command::Uninstall { settings } => install_cmd::uninstall(settings),
        Command::Mcp(args) => mcp_cmd::run(args),
        Command::Open(args) => open_cmd::run(args),
        Command::Search(args) => search_cmd::search(args),
        Command::Reindex => search_cmd::reindex(),
        Command::Models(cmd) => search_cmd::models(cmd),
        Command::Backup(args) => backup_cmd::backup(args),
        Command::Restore(args) => backup_cmd::restore(args),
        Command::Export(args) => portability_cmd::export(args),
        Command::Import(args) => portability_cmd::import(args),
        Command::Prune(args) => prune_cmd::run(args),
        Command::Retry(args) => retry_cmd::run(args),
        Command::Doctor(args) => doctor_cmd::run(args),
        Command::Migrate(args) => migrate_cmd::run(args),
        Command::Team(cmd) => team_cmd::run(cmd),
        Command::Update(args) => update_cmd::run(args),
        Command::Restart => restart_cmd::run(),
        Command::Exclude(cmd) => exclude_cmd::run(cmd),
        Command::Forget(args) => forget_cmd::forget(args),
        Command::Edit(args) => forget_cmd::edit(args),
        Command::Session(cmd) => forget_cmd::session(cmd),
        Command::Projects { cmd } => forget_cmd::projects(cmd),
        Command::StartWorker => {
            worker_start::start_if_down();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("claude-mem: {e:#}");
            ExitCode::FAILURE
        }
    }
}
