//! `claude-mem doctor`: checks the installation end to end and says, for each problem, the one command or
//! setting that fixes it.
//!
//! Every check is independent and bounded (short timeouts, read-only), so doctor answers quickly on a
//! broken machine, which is when it is run. `fail` means memory does not work (exit code 1); `warn`
//! means it works, degraded or not yet started.

use crate::install_cmd::{default_settings_path, is_ours, planned_command_hooks};
use anyhow::Context;
use clap::Args;
use claude_mem_api::{Endpoint, Target};
use claude_mem_core::{DataDir, Settings};
use claude_mem_server::auth;
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON (`{"ok": bool, "checks": [...]}`) instead of a table.
    #[arg(long)]
    json: bool,
    /// Claude Code settings file to look for hooks in (default: ~/.claude/settings.json).
    #[arg(long)]
    settings: Option<PathBuf>,
}

/// A worker that takes longer than this to answer its health check is as good as down for hooks.
const WORKER_TIMEOUT: Duration = Duration::from_secs(3);
/// The API key check is one small GET; a slow network only earns a warning.
const API_TIMEOUT: Duration = Duration::from_secs(5);
const MIB: u64 = 1024 * 1024;
/// Below this the database and indexes may fail to grow (SQLite needs room for its WAL and checkpoints).
const DISK_FAIL_BYTES: u64 = 200 * MIB;
const DISK_WARN_BYTES: u64 = 2 * 1024 * MIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Ok,
        detail: detail.into(),
        hint: None,
    }
}

fn warn(name: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Warn,
        detail: detail.into(),
        hint: Some(hint.into()),
    }
}

fn fail(name: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Fail,
        detail: detail.into(),
        hint: Some(hint.into()),
    }
}

pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let data_dir = DataDir::resolve().context("cannot locate the data directory")?;
    let mut checks = Vec::new();
    // Read as the worker reads it: a bad key does not stop the worker (it keeps its last good value),
    // so it is a warning naming the key, not a failure.
    let (settings, problems) = Settings::load_effective_resilient(&data_dir.settings());
    if problems.is_empty() {
        let detail = if data_dir.settings().exists() {
            format!("{} is valid", data_dir.settings().display())
        } else {
            "defaults (no settings.json yet)".to_owned()
        };
        checks.push(ok("settings", detail));
    } else {
        checks.push(warn(
            "settings",
            problems.join("; "),
            format!(
                "fix {} (the worker runs with the last good value of each key named)",
                data_dir.settings().display()
            ),
        ));
    }
    let claude_settings = match args.settings {
        Some(p) => Some(p),
        None => default_settings_path().ok(),
    };
    let endpoint = crate::client_config::endpoint(&data_dir);
    if endpoint.target == Target::Team {
        // A team laptop: the memories, the model and the index are the team server's; this machine's
        // worker is not used (and advising `claude-mem install` would repoint the hooks to it).
        checks.push(check_team_server(&endpoint));
        checks.push(check_data_dir(&data_dir));
        checks.push(check_hooks(
            claude_settings.as_deref(),
            &settings,
            &endpoint,
        ));
    } else {
        let (worker_check, health) = check_worker(&settings, &data_dir);
        checks.push(worker_check);
        checks.push(check_data_dir(&data_dir));
        checks.push(check_hooks(
            claude_settings.as_deref(),
            &settings,
            &endpoint,
        ));
        checks.push(check_model(&settings, &data_dir));
        checks.push(check_index(health.as_ref(), &data_dir));
        if let Some(check) = check_index_files(health.is_some(), &data_dir) {
            checks.push(check);
        }
        checks.push(check_api_key(&settings));
    }
    checks.push(check_disk(&data_dir));

    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    // Written, not println!'d: `doctor | head` closing the pipe must not turn into a panic.
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let out = json!({"ok": failed == 0, "checks": checks});
        let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?);
    } else {
        let _ = write_table(&mut stdout, &checks);
    }
    drop(stdout);
    if failed > 0 {
        anyhow::bail!(
            "{failed} check{} failed",
            if failed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

fn write_table(out: &mut impl Write, checks: &[Check]) -> std::io::Result<()> {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        writeln!(out, "{status:<5} {:<width$}  {}", c.name, c.detail)?;
        if let Some(hint) = &c.hint {
            writeln!(out, "      {:<width$}  fix: {hint}", "")?;
        }
    }
    out.flush()
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Who answers on the worker's port: claude-mem (its health JSON, kept for the index check), nothing
/// (port free), or something else.
/// The team server of `install --server`, asked with the member's token: it answers, and knows the
/// token (its health then carries the team's counts).
fn check_team_server(endpoint: &Endpoint) -> Check {
    const NAME: &str = "team server";
    let reinstall =
        "claude-mem install --server URL --token T (with a token from `claude-mem team add-user`)";
    if endpoint.token.is_none() {
        return fail(
            NAME,
            format!("{} is configured without a token", endpoint.base),
            reinstall,
        );
    }
    let client = claude_mem_api::blocking::Client::new(endpoint.clone(), WORKER_TIMEOUT);
    match client.get("/api/health", None::<&()>) {
        Ok(health) if health.get("counts").is_some_and(|c| !c.is_null()) => ok(
            NAME,
            format!(
                "claude-mem {} at {} knows this token ({} observations in the team)",
                health["version"].as_str().unwrap_or("?"),
                endpoint.base,
                health["counts"]["observations"]
            ),
        ),
        Ok(_) => fail(
            NAME,
            format!("{} answers but does not accept this token", endpoint.base),
            reinstall,
        ),
        Err(e @ claude_mem_api::ApiError::Unauthorized { .. }) => {
            fail(NAME, e.to_string(), reinstall)
        }
        Err(e) => fail(
            NAME,
            e.to_string(),
            "check the URL in team-server.json (or CLAUDE_MEM_SERVER) and the network",
        ),
    }
}

fn check_worker(settings: &Settings, data_dir: &DataDir) -> (Check, Option<Value>) {
    const NAME: &str = "worker";
    let url = settings.worker_url();
    let mut request = agent(WORKER_TIMEOUT).get(&format!("{url}/api/health"));
    if let Some(token) = auth::client_token(data_dir) {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let mut response = match request.call() {
        Ok(r) => r,
        Err(e) => return (port_free_or_taken(settings, &url, &e.to_string()), None),
    };
    let status = response.status().as_u16();
    let body: Option<Value> = response
        .body_mut()
        .with_config()
        .limit(4 * MIB)
        .read_to_string()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    match (status, body) {
        (200, Some(health)) if health.get("counts").is_some() => {
            let version = health["version"].as_str().unwrap_or("?").to_owned();
            let pid = health["pid"].as_u64().unwrap_or(0);
            (
                ok(
                    NAME,
                    format!("claude-mem {version} answering at {url} (pid {pid})"),
                ),
                Some(health),
            )
        }
        // The public health: a claude-mem answers, but this user sent no token (none readable here).
        (200, Some(health)) if health.get("version").is_some() => (
            fail(
                NAME,
                format!(
                    "claude-mem {} answers at {url}, but no API token was found to talk to it",
                    health["version"].as_str().unwrap_or("?")
                ),
                format!(
                    "run doctor as the user that runs the worker (its {} is readable by that user only), or set {}",
                    data_dir.api_token().display(),
                    auth::TOKEN_ENV
                ),
            ),
            None,
        ),
        (401, Some(body)) if body["error"] == "unauthorized" => (
            fail(
                NAME,
                format!("the worker at {url} refuses this machine's token"),
                format!(
                    "set {} or copy the worker's {} here",
                    auth::TOKEN_ENV,
                    data_dir.api_token().display()
                ),
            ),
            None,
        ),
        (status, _) => (
            fail(
                NAME,
                format!("port {} answers HTTP {status}, but not as claude-mem", settings.port),
                "stop the program using that port, or give claude-mem another `port` in settings.json (then `claude-mem install` again)",
            ),
            None,
        ),
    }
}

fn port_free_or_taken(settings: &Settings, url: &str, error: &str) -> Check {
    const NAME: &str = "worker";
    let bind_host = match settings.host.as_str() {
        "localhost" => "127.0.0.1",
        h => h,
    };
    match std::net::TcpListener::bind((bind_host, settings.port)) {
        Ok(listener) => {
            drop(listener);
            warn(
                NAME,
                format!("not running; port {} is free", settings.port),
                "start it: open the claude-mem app, or run `claude-mem serve` (hooks are skipped while it is down)",
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => fail(
            NAME,
            format!(
                "port {} is taken by a program that does not answer HTTP ({error})",
                settings.port
            ),
            "stop that program, or give claude-mem another `port` in settings.json (then `claude-mem install` again)",
        ),
        Err(e) => warn(
            NAME,
            format!("not reachable at {url} ({error}); cannot test the port: {e}"),
            "check `host` in settings.json, then start the worker",
        ),
    }
}

/// The data directory and the files holding prompts and secrets must be private to the user.
fn check_data_dir(data_dir: &DataDir) -> Check {
    const NAME: &str = "data dir";
    let root = data_dir.root();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return warn(
                NAME,
                format!("{} does not exist yet", root.display()),
                "it is created (mode 0700) when the worker first starts",
            )
        }
        Err(e) => {
            return fail(
                NAME,
                format!("cannot read {}: {e}", root.display()),
                "check the path and its owner",
            )
        }
    };
    if !meta.is_dir() {
        return fail(
            NAME,
            format!("{} is not a directory", root.display()),
            "move it away, or point CLAUDE_MEM_DATA_DIR elsewhere",
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return fail(
                NAME,
                format!(
                    "{} is mode {mode:o}: other users can read your prompts",
                    root.display()
                ),
                format!(
                    "chmod 700 {} (the worker also fixes this when it starts)",
                    root.display()
                ),
            );
        }
        let loose: Vec<String> = data_dir
            .private_files()
            .into_iter()
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 != 0))
            .map(|p| p.display().to_string())
            .collect();
        if !loose.is_empty() {
            return fail(
                NAME,
                format!("readable by other users: {}", loose.join(", ")),
                format!(
                    "chmod 600 {} (the worker also fixes this when it starts)",
                    loose.join(" ")
                ),
            );
        }
    }
    ok(NAME, format!("{} is private (0700)", root.display()))
}

/// Are Claude Code's hooks pointed at this worker? Checked in the user settings file, or satisfied by
/// the claude-mem plugin.
fn check_hooks(path: Option<&Path>, settings: &Settings, endpoint: &Endpoint) -> Check {
    const NAME: &str = "hooks";
    let team = endpoint.target == Target::Team;
    let install = if team {
        "run `claude-mem install --server URL --token T`"
    } else {
        "run `claude-mem install`"
    };
    let Some(path) = path else {
        return warn(NAME, "cannot find the home directory", install);
    };
    let plan = planned_command_hooks("claude-mem");
    let value: Value = match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => json!({}),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return fail(
                    NAME,
                    format!("{} is not valid JSON: {e}", path.display()),
                    "fix the file (Claude Code ignores it as it is), then `claude-mem install`",
                )
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => {
            return fail(
                NAME,
                format!("cannot read {}: {e}", path.display()),
                "check the file's permissions",
            )
        }
    };
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    for hook in &plan {
        let ours: Vec<&Value> = value["hooks"][hook.event]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|group| group["hooks"].as_array())
            .flatten()
            .filter(|h| is_ours(h))
            .collect();
        if ours.is_empty() {
            missing.push(hook.event);
            continue;
        }
        // An http hook cannot carry the local API token (it lives in a 0600 file), so only the
        // command hook reaches the worker; a team's http hooks carry the member's token (older
        // `install --server`), which the team server takes.
        let current = ours.iter().any(|h| h["type"] == "command")
            || (team
                && ours
                    .iter()
                    .any(|h| h["headers"]["Authorization"].is_string()));
        if !current {
            stale.push(hook.event);
        }
    }
    if missing.len() == plan.len() {
        if plugin_installed(path) {
            return ok(NAME, "provided by the claude-mem Claude Code plugin");
        }
        return fail(
            NAME,
            format!("no claude-mem hooks in {}", path.display()),
            install,
        );
    }
    if !stale.is_empty() {
        return fail(
            NAME,
            format!(
                "hooks for {} are http hooks, which cannot send the API token to {} (they get 401)",
                stale.join(", "),
                settings.worker_url()
            ),
            format!("{install} again to repoint them"),
        );
    }
    if !missing.is_empty() {
        return fail(
            NAME,
            format!("missing hooks: {}", missing.join(", ")),
            install,
        );
    }
    let to = if team {
        format!(", sending to the team server {}", endpoint.base)
    } else {
        String::new()
    };
    ok(
        NAME,
        format!("{} hooks installed in {}{to}", plan.len(), path.display()),
    )
}

/// The plugin keeps its own hooks file; Claude Code records installed plugins beside the settings.
fn plugin_installed(settings_path: &Path) -> bool {
    let Some(dir) = settings_path.parent() else {
        return false;
    };
    ["plugins/installed_plugins.json", "plugins/config.json"]
        .iter()
        .any(|f| std::fs::read_to_string(dir.join(f)).is_ok_and(|t| t.contains("\"claude-mem")))
}

fn check_model(settings: &Settings, data_dir: &DataDir) -> Check {
    const NAME: &str = "embedding model";
    let s = &settings.search;
    match s.embedder.as_str() {
        "hash" => return ok(NAME, "hashing embedder selected (no model needed)"),
        "openai" => {
            return ok(
                NAME,
                format!("OpenAI-compatible embeddings at {}", s.openai_base_url),
            )
        }
        _ => {}
    }
    let dir = s.model_path(data_dir.root());
    let missing: Vec<&str> = ["config.json", "tokenizer.json", "model.safetensors"]
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        return ok(NAME, format!("all-MiniLM-L6-v2 in {}", dir.display()));
    }
    let detail = format!("{} lacks {}", dir.display(), missing.join(", "));
    let hint = "`claude-mem models download` (offline: fetch sentence-transformers/all-MiniLM-L6-v2 elsewhere, then `claude-mem models install --from DIR`)";
    if s.embedder == "minilm" {
        fail(NAME, format!("{detail}: search has no vectors"), hint)
    } else {
        warn(
            NAME,
            format!("{detail}: search uses the hashing fallback (weaker)"),
            hint,
        )
    }
}

/// The index files on disk against their manifests and checksums (what a start checks before loading
/// them). `None` when there is no index yet. With the worker up a save may be under way, so a mismatch
/// is a warning there; with it down it is a failure (the next start rebuilds, at a cost).
fn check_index_files(worker_up: bool, data_dir: &DataDir) -> Option<Check> {
    const NAME: &str = "index files";
    let dir = data_dir.index();
    if !dir.exists() {
        return None;
    }
    let checks = claude_mem_search::check_files(&dir);
    let bad: Vec<String> = checks
        .iter()
        .filter_map(|c| c.problem.as_ref().map(|p| format!("{}: {p}", c.what)))
        .collect();
    if bad.is_empty() {
        return Some(ok(
            NAME,
            format!("{} checked against their manifests", checks.len()),
        ));
    }
    let hint =
        "run `claude-mem reindex` (works with the worker stopped), or restart the worker: it \
                rebuilds damaged indexes from SQLite";
    let detail = bad.join("; ");
    // An index from before manifests is checked record by record at the next start and gets them then.
    let only_unvouched = checks
        .iter()
        .filter_map(|c| c.problem.as_deref())
        .all(|p| p.starts_with("no vectors.manifest.json"));
    Some(if worker_up || only_unvouched {
        warn(NAME, detail, hint)
    } else {
        fail(NAME, detail, hint)
    })
}

/// With the worker up, its own index status; with it down, the index stamp against the database.
fn check_index(health: Option<&Value>, data_dir: &DataDir) -> Check {
    const NAME: &str = "search index";
    let reindex = "run `claude-mem reindex` (or restart the worker: it rebuilds what is missing)";
    if let Some(health) = health {
        let index = &health["index"];
        if index.is_null() {
            return fail(
                NAME,
                "the worker runs without a search index",
                format!("see {} for why, then {reindex}", data_dir.logs().display()),
            );
        }
        let observations = health["counts"]["observations"].as_i64().unwrap_or(0);
        let documents = index["documents"].as_i64().unwrap_or(0);
        let state = index["state"].as_str().unwrap_or("?");
        if state == "failed" || index["last_error"].is_string() {
            return fail(
                NAME,
                format!(
                    "state {state}: {}",
                    index["last_error"].as_str().unwrap_or("unknown error")
                ),
                reindex,
            );
        }
        if documents < observations {
            return warn(
                NAME,
                format!("{state}: {documents} of {observations} observations indexed"),
                "wait for the indexer to catch up; if the gap stays, run `claude-mem reindex`",
            );
        }
        return ok(
            NAME,
            format!("{state}: {documents} documents, {observations} observations"),
        );
    }
    let stamp: Option<Value> = std::fs::read_to_string(data_dir.index().join("index.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let indexed = stamp
        .as_ref()
        .and_then(|s| s["last_indexed_id"].as_i64())
        .unwrap_or(0);
    let db = data_dir.database();
    if !db.exists() {
        return ok(NAME, "nothing stored yet");
    }
    match newest_observation(&db) {
        Ok(0) => ok(NAME, "no observations yet"),
        Ok(newest) if stamp.is_none() => warn(
            NAME,
            format!("no index for {newest} observations (worker down)"),
            reindex,
        ),
        Ok(newest) if indexed < newest => warn(
            NAME,
            format!("indexed up to observation {indexed} of {newest} (worker down)"),
            "start the worker: it indexes the rest at start",
        ),
        Ok(newest) => ok(
            NAME,
            format!("indexed up to observation {newest} (worker down)"),
        ),
        Err(e) => fail(
            NAME,
            format!("cannot read {}: {e}", db.display()),
            "restore the database from a backup (`claude-mem restore`)",
        ),
    }
}

/// The newest observation id, read without writing anything (the worker is down; a doctor must not
/// create or migrate a database).
fn newest_observation(db: &Path) -> anyhow::Result<i64> {
    use sqlx::ConnectOptions;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await?;
        let newest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM observations")
            .fetch_one(&mut conn)
            .await?;
        Ok(newest)
    })
}

/// The compressor's API key, checked with one cheap authenticated GET.
fn check_api_key(settings: &Settings) -> Check {
    const NAME: &str = "api key";
    let c = &settings.compression;
    let anthropic = c.anthropic_key();
    let (provider, base, key) =
        match c.provider.as_str() {
            "local" => return ok(NAME, "local compressor selected (no API key needed)"),
            "claude-code" => return ok(NAME, "claude-code selected: the CLI's own login is used"),
            "openai" => (
                "OpenAI-compatible server",
                format!("{}/models", c.openai_base_url.trim_end_matches('/')),
                c.openai_api_key.clone(),
            ),
            "anthropic" if anthropic.is_none() => {
                return fail(
                    NAME,
                    "provider is anthropic but no API key is set",
                    "export ANTHROPIC_API_KEY, or set compression.provider to \"local\"",
                )
            }
            _ => match anthropic {
                Some(key) => (
                    "Anthropic",
                    format!("{}/v1/models", c.anthropic_base_url.trim_end_matches('/')),
                    Some(key.to_owned()),
                ),
                None if claude_mem_core::compress::select::claude_code_ready(c) => return ok(
                    NAME,
                    "no API key: your logged-in Claude Code CLI compresses (on your Claude plan)",
                ),
                None => return ok(NAME, "no API key: the local compressor makes observations"),
            },
        };
    let mut request = agent(API_TIMEOUT).get(&base);
    if let Some(key) = &key {
        request = if provider == "Anthropic" {
            request
                .header("x-api-key", key)
                .header("anthropic-version", "2023-06-01")
        } else {
            request.header("authorization", &format!("Bearer {key}"))
        };
    }
    match request.call() {
        Ok(r) if r.status().is_success() => ok(NAME, format!("{provider} accepted the key")),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => fail(
            NAME,
            format!("{provider} rejected the key (HTTP {})", r.status().as_u16()),
            if provider == "Anthropic" {
                "set a valid ANTHROPIC_API_KEY (or compression.anthropic_api_key); until then events wait as pending"
            } else {
                "set a valid compression.openai_api_key"
            },
        ),
        Ok(r) => warn(
            NAME,
            format!(
                "{base} answered HTTP {}; the key is untested",
                r.status().as_u16()
            ),
            "check the base URL in settings.json",
        ),
        Err(e) => warn(
            NAME,
            format!("cannot reach {base}: {e}"),
            "check the network or proxy; compression retries with backoff meanwhile",
        ),
    }
}

fn check_disk(data_dir: &DataDir) -> Check {
    const NAME: &str = "disk space";
    // The data directory may not exist yet: measure the filesystem it will be created on.
    let mut path = data_dir.root();
    while !path.exists() {
        match path.parent() {
            Some(parent) => path = parent,
            None => break,
        }
    }
    match fs4::available_space(path) {
        Ok(free) if free < DISK_FAIL_BYTES => fail(
            NAME,
            format!("{} MiB free on {}", free / MIB, path.display()),
            "free some space: the database cannot grow and backups fail",
        ),
        Ok(free) if free < DISK_WARN_BYTES => warn(
            NAME,
            format!("{} MiB free on {}", free / MIB, path.display()),
            "free some space before the database and indexes need it",
        ),
        Ok(free) => ok(
            NAME,
            format!(
                "{:.1} GiB free on {}",
                free as f64 / (1024.0 * MIB as f64),
                path.display()
            ),
        ),
        Err(e) => warn(
            NAME,
            format!("cannot measure free space on {}: {e}", path.display()),
            "check the data directory's filesystem",
        ),
    }
}
