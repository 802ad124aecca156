//! `claude-mem install` / `uninstall`: wire claude-mem into Claude Code's `~/.claude/settings.json`, and
//! with `--mcp` register the MCP server in `~/.claude.json` (user scope, what `claude mcp add -s user`
//! writes) for users who do not install the plugin.
//!
//! The user's file is theirs: every hook that is not ours is kept exactly, a timestamped backup is made
//! before any change (the newest three per file are kept), the file is replaced atomically with its
//! mode, indentation and final newline kept, and running install twice changes nothing. A file install
//! had to create (recorded in `<data dir>/install-created.json`) is removed by uninstall once nothing
//! but ours was in it, rather than left behind as `{}`.
//!
//! For the local worker every hook is the command `claude-mem hook <Event>`, which reads the worker's API
//! token from the data directory (0600) on each call, so the token is never copied into settings.json.
//!
//! `install --server URL --token T` points the hooks at a team server instead of the local worker: the
//! http hooks carry `Authorization: Bearer T` in their `headers`, and the server and token are kept in
//! `<data dir>/team-server.json` for the SessionStart command hook. Both files hold the token, so both
//! are written private (0600) from their first byte, and so are the settings backups. Installing without
//! `--server` (or uninstalling) removes `team-server.json`, going back to the local worker.

use crate::client_config::{team_server_path, TeamServer};
use anyhow::{bail, Context};
use claude_mem_core::{DataDir, Settings};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Claude Code settings file to edit (default: ~/.claude/settings.json).
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Show the resulting settings without writing them.
    #[arg(long)]
    dry_run: bool,
    /// Also register the `claude-mem mcp` server (search, timeline, get_observations, save_memory) in
    /// Claude Code's user configuration, ~/.claude.json.
    #[arg(long)]
    mcp: bool,
    /// Claude Code user configuration to register the MCP server in (default: ~/.claude.json).
    #[arg(long, requires = "mcp")]
    claude_json: Option<PathBuf>,
    /// Send the hooks to this team server (`https://team.example:443`) instead of the local worker.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Your API token on the team server (`cm_…`, from `claude-mem team add-user` or `migrate`); the
    /// environment variable keeps it out of the shell history.
    #[arg(long, env = "CLAUDE_MEM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Also run the worker as a systemd user service (`~/.config/systemd/user/claude-mem.service`,
    /// `claude-mem serve`, restarted on failure), enabled and started when systemctl is there.
    #[arg(long, conflicts_with = "server")]
    service: bool,
}

/// Our key under `mcpServers`; Claude Code shows it to the user and prefixes tool names with it (which is
/// how capture recognises, and skips, our own tools).
pub const MCP_SERVER_NAME: &str = claude_mem_core::capture::MCP_SERVER_NAME;

/// Claude Code's hook timeouts are in seconds. Ours answer in milliseconds; the margin covers a cold disk.
const HTTP_TIMEOUT_S: u64 = 5;
/// SessionEnd hooks share 1.5 s unless a hook asks for more; an explicit value keeps our summary trigger
/// from being cut off.
const SESSION_END_TIMEOUT_S: u64 = 5;
const SESSION_START_TIMEOUT_S: u64 = 10;

/// One hook we install: event, matcher (for events that take one) and the handler entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedHook {
    pub event: &'static str,
    pub matcher: Option<&'static str>,
    pub handler: Value,
}

/// The http plan: a command for SessionStart (Claude Code does not run http hooks there) and direct http
/// hooks for everything else. Used for team servers (`--server`, with [`with_token`]'s header); the local
/// worker gets [`planned_command_hooks`].
pub fn planned_hooks(exe: &str, worker_url: &str) -> Vec<PlannedHook> {
    let http = |event: &'static str, matcher: Option<&'static str>, timeout: u64| PlannedHook {
        event,
        matcher,
        handler: json!({"type": "http", "url": format!("{worker_url}/hooks/{event}"), "timeout": timeout}),
    };
    vec![
        PlannedHook {
            event: "SessionStart",
            matcher: Some("startup|resume|clear|compact"),
            handler: json!({
                "type": "command",
                "command": format!("{} hook SessionStart", shell_quote(exe)),
                "timeout": SESSION_START_TIMEOUT_S
            }),
        },
        http("UserPromptSubmit", None, HTTP_TIMEOUT_S),
        // File context: the memories about a file, before Claude reads or edits it.
        http("PreToolUse", Some("Read|Edit|MultiEdit"), HTTP_TIMEOUT_S),
        http("PostToolUse", Some("*"), HTTP_TIMEOUT_S),
        http("PostToolUseFailure", Some("*"), HTTP_TIMEOUT_S),
        http("Stop", None, HTTP_TIMEOUT_S),
        http("SubagentStop", None, HTTP_TIMEOUT_S),
        http("PreCompact", None, HTTP_TIMEOUT_S),
        http("SessionEnd", None, SESSION_END_TIMEOUT_S),
    ]
}

/// The hooks for the local worker: every event through `claude-mem hook <Event>`, which reads the API
/// token from the data directory (0600) on each call. Claude Code's http hooks could only carry the
/// token as a literal header in settings.json (a file users share and sync) or from an environment
/// variable Claude Code would have to be started with; a command costs a process spawn and keeps the
/// secret where only its owner can read it. Matchers and timeouts are the http plan's.
pub fn planned_command_hooks(exe: &str) -> Vec<PlannedHook> {
    let exe = shell_quote(exe);
    planned_hooks(&exe, "http://unused")
        .into_iter()
        .map(|mut hook| {
            let timeout = hook.handler["timeout"].clone();
            hook.handler = json!({
                "type": "command",
                "command": format!("{exe} hook {}", hook.event),
                "timeout": timeout,
            });
            hook
        })
        .collect()
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether a handler entry is one of ours, from any earlier install (another port, another binary path).
pub fn is_ours(handler: &Value) -> bool {
    match handler.get("type").and_then(Value::as_str) {
        Some("command") => handler
            .get("command")
            .and_then(Value::as_str)
            .is_some_and(|c| {
                let mut words = c.split_whitespace();
                words.any(|w| w.trim_matches('\'').ends_with("claude-mem"))
                    && c.split_whitespace().any(|w| w == "hook")
            }),
        Some("http") => handler
            .get("url")
            .and_then(Value::as_str)
            .is_some_and(|url| is_worker_hook_url(url) || is_team_hook(url, handler)),
        _ => false,
    }
}

/// A hook `install --server` wrote: any `http(s)://…/hooks/<Event>` URL that carries a team token
/// (`Bearer cm_…`). The URL alone cannot tell, since a team server may have any name.
fn is_team_hook(url: &str, handler: &Value) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let event = rest.rsplit_once("/hooks/").map_or("", |(_, e)| e);
    let team_token = handler
        .get("headers")
        .and_then(|h| h.get("Authorization"))
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("Bearer cm_"));
    team_token && !event.is_empty() && event.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The settings with every hook's Authorization header masked: `--dry-run` shows the shape, not the
/// secret.
fn redacted(settings: &Value) -> Value {
    let mut copy = settings.clone();
    if let Some(Value::Object(hooks)) = copy.get_mut("hooks") {
        for groups in hooks.values_mut() {
            for group in groups.as_array_mut().into_iter().flatten() {
                let handlers = group.get_mut("hooks").and_then(Value::as_array_mut);
                for handler in handlers.into_iter().flatten() {
                    if let Some(auth) = handler
                        .get_mut("headers")
                        .and_then(|h| h.get_mut("Authorization"))
                    {
                        *auth = Value::String("Bearer <token>".into());
                    }
                }
            }
        }
    }
    copy
}

/// The team server's base URL as the hooks use it: http(s), no trailing slash, no query.
pub fn normalize_server_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("--server must be a URL such as https://team.example:443");
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['?', '#', ' ']) {
        bail!("--server must be an http:// or https:// URL without a query, got {url:?}");
    }
    Ok(url.to_owned())
}

fn is_worker_hook_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let Some((authority, path)) = rest.split_once('/') else {
        return false;
    };
    // Loopback, or an IP literal with a port: what `install` writes for a worker bound elsewhere.
    let host_ok = ["127.0.0.1:", "localhost:", "[::1]:"]
        .iter()
        .any(|h| authority.starts_with(h))
        || authority.rsplit_once(':').is_some_and(|(host, port)| {
            !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit())
                && host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok()
        });
    let event = path.strip_prefix("hooks/").unwrap_or("");
    host_ok && !event.is_empty() && event.chars().all(|c| c.is_ascii_alphanumeric())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    pub removed: usize,
    pub added: usize,
}

fn hooks_object(settings: &mut Value) -> anyhow::Result<&mut Map<String, Value>> {
    let Value::Object(root) = settings else {
        bail!("Claude Code settings must be a JSON object");
    };
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    match hooks {
        Value::Object(map) => Ok(map),
        _ => bail!("the \"hooks\" entry of Claude Code settings is not an object"),
    }
}

/// Removes every handler of ours; groups and events left empty by that are removed too.
pub fn remove_ours(settings: &mut Value) -> anyhow::Result<usize> {
    let had_hooks = settings.get("hooks").is_some();
    let hooks = hooks_object(settings)?;
    let mut removed = 0;
    for groups in hooks.values_mut() {
        let Value::Array(groups) = groups else {
            continue;
        };
        for group in groups.iter_mut() {
            if let Some(Value::Array(handlers)) = group.get_mut("hooks") {
                let before = handlers.len();
                handlers.retain(|h| !is_ours(h));
                removed += before - handlers.len();
            }
        }
        groups.retain(|g| !matches!(g.get("hooks"), Some(Value::Array(h)) if h.is_empty()));
    }
    hooks.retain(|_, groups| !matches!(groups, Value::Array(g) if g.is_empty()));
    if hooks.is_empty() && (removed > 0 || !had_hooks) {
        if let Value::Object(root) = settings {
            root.remove("hooks");
        }
    }
    Ok(removed)
}

/// Replaces whatever of ours is there with `plan`: idempotent, and it repairs a stale install.
pub fn merge_hooks(settings: &mut Value, plan: &[PlannedHook]) -> anyhow::Result<Changes> {
    let removed = remove_ours(settings)?;
    let hooks = hooks_object(settings)?;
    for hook in plan {
        let mut group = Map::new();
        if let Some(m) = hook.matcher {
            group.insert("matcher".into(), Value::String(m.into()));
        }
        group.insert("hooks".into(), Value::Array(vec![hook.handler.clone()]));
        match hooks
            .entry(hook.event)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(groups) => groups.push(Value::Object(group)),
            _ => bail!(
                "hooks.{} in Claude Code settings is not an array",
                hook.event
            ),
        }
    }
    Ok(Changes {
        removed,
        added: plan.len(),
    })
}

/// The `mcpServers` entry Claude Code starts us with: the same shape `claude mcp add` writes.
pub fn mcp_entry(exe: &str) -> Value {
    json!({"type": "stdio", "command": exe, "args": ["mcp"], "env": {}})
}

/// Whether an `mcpServers` entry starts this program (any install path), so uninstall never removes a
/// server the user named `claude-mem` for something else.
pub fn is_our_mcp_entry(entry: &Value) -> bool {
    entry
        .get("command")
        .and_then(Value::as_str)
        .and_then(|c| Path::new(c).file_stem())
        .is_some_and(|stem| stem == "claude-mem")
        && entry
            .get("args")
            .and_then(Value::as_array)
            .is_some_and(|a| a.first().and_then(Value::as_str) == Some("mcp"))
}

fn mcp_servers(config: &mut Value) -> anyhow::Result<&mut Map<String, Value>> {
    let Value::Object(root) = config else {
        bail!("Claude Code's configuration must be a JSON object");
    };
    match root
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(map) => Ok(map),
        _ => bail!("the \"mcpServers\" entry of Claude Code's configuration is not an object"),
    }
}

/// Puts our entry in `mcpServers`, replacing an older one (another binary path); every other key stays.
pub fn merge_mcp(config: &mut Value, exe: &str) -> anyhow::Result<()> {
    mcp_servers(config)?.insert(MCP_SERVER_NAME.into(), mcp_entry(exe));
    Ok(())
}

/// Removes our entry; returns whether there was one. An `mcpServers` left empty by that goes too.
pub fn remove_mcp(config: &mut Value) -> anyhow::Result<bool> {
    let Some(Value::Object(servers)) = config.get_mut("mcpServers") else {
        return Ok(false);
    };
    if !servers.get(MCP_SERVER_NAME).is_some_and(is_our_mcp_entry) {
        return Ok(false);
    }
    servers.remove(MCP_SERVER_NAME);
    if servers.is_empty() {
        if let Value::Object(root) = config {
            root.remove("mcpServers");
        }
    }
    Ok(true)
}

fn default_claude_json_path() -> anyhow::Result<PathBuf> {
    let base = directories::BaseDirs::new().context("cannot find the home directory")?;
    Ok(base.home_dir().join(".claude.json"))
}

fn install_mcp(path: &Path, exe: &str, dry_run: bool) -> anyhow::Result<()> {
    let (mut value, original) = read_settings(path)?;
    let before = value.clone();
    merge_mcp(&mut value, exe)?;
    if dry_run {
        println!(
            "{}: mcpServers.{MCP_SERVER_NAME} = {}",
            path.display(),
            serde_json::to_string(&value["mcpServers"][MCP_SERVER_NAME])?
        );
        return Ok(());
    }
    if value == before {
        println!(
            "claude-mem MCP server already registered in {}",
            path.display()
        );
        return Ok(());
    }
    write_installed(path, &value, original.as_deref(), NEW_CLAUDE_JSON_MODE)?;
    println!(
        "registered the claude-mem MCP server in {} (Claude Code starts `{exe} mcp`)",
        path.display()
    );
    Ok(())
}

fn uninstall_mcp(path: &Path) -> anyhow::Result<()> {
    let (mut value, original) = read_settings(path)?;
    if original.is_none() || !remove_mcp(&mut value)? {
        return Ok(());
    }
    write_uninstalled(path, &value, original.as_deref())?;
    println!("removed the claude-mem MCP server from {}", path.display());
    Ok(())
}

pub(crate) fn default_settings_path() -> anyhow::Result<PathBuf> {
    let base = directories::BaseDirs::new().context("cannot find the home directory")?;
    Ok(base.home_dir().join(".claude").join("settings.json"))
}

fn read_settings(path: &Path) -> anyhow::Result<(Value, Option<String>)> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok((json!({}), Some(text))),
        Ok(text) => {
            let value: Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not valid JSON; fix it first (nothing was changed)",
                    path.display()
                )
            })?;
            if !value.is_object() {
                bail!(
                    "{} is not a JSON object; nothing was changed",
                    path.display()
                );
            }
            Ok((value, Some(text)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((json!({}), None)),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Backups of one file kept beside it: every install and uninstall makes one, and they must not pile up.
const BACKUPS_KEPT: usize = 3;

/// Copies the current file aside before the first byte changes, then drops all but the newest
/// [`BACKUPS_KEPT`] of that file's backups. Private, since an earlier install may have put a token in
/// it.
fn backup(path: &Path, original: &str) -> anyhow::Result<PathBuf> {
    let stamp = claude_mem_core::clock::now_ms();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("settings.json");
    let backup = path.with_file_name(format!("{name}.claude-mem-backup-{stamp}"));
    write_private(&backup, original.as_bytes())
        .with_context(|| format!("cannot write the backup {}", backup.display()))?;
    prune_backups(path, name);
    Ok(backup)
}

/// Deletes the oldest backups of `name` beyond [`BACKUPS_KEPT`] (by the stamp in the name). Best effort:
/// a backup that cannot be deleted costs disk space, not the install.
fn prune_backups(path: &Path, name: &str) {
    let prefix = format!("{name}.claude-mem-backup-");
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut backups: Vec<(i64, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let file_name = e.file_name();
            let stamp = file_name.to_str()?.strip_prefix(&prefix)?.parse().ok()?;
            Some((stamp, e.path()))
        })
        .collect();
    backups.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
    for (_, old) in backups.into_iter().skip(BACKUPS_KEPT) {
        if let Err(e) = std::fs::remove_file(&old) {
            eprintln!(
                "claude-mem: cannot remove the old backup {}: {e}",
                old.display()
            );
        }
    }
}

/// Replaces `path` atomically with a file that is 0600 from its creation (no window in which the
/// umask's mode exposes a token): for the files that hold one (team-server.json, backups).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    claude_mem_core::paths::write_atomically_with_mode(path, bytes, 0o600)
}

/// What a new `~/.claude/settings.json` gets: what Claude Code itself creates it with under the usual
/// umask (it holds no secret of ours: the local hooks are commands that read the token elsewhere).
const NEW_SETTINGS_MODE: u32 = 0o644;
/// What a new `~/.claude.json` gets: it is where Claude Code keeps the user's account, so private.
const NEW_CLAUDE_JSON_MODE: u32 = 0o600;

/// Whether any hook carries an `Authorization` header (`install --server`): then the file is private
/// whatever its mode was, since it holds the user's team token.
fn holds_token(value: &Value) -> bool {
    let Some(Value::Object(hooks)) = value.get("hooks") else {
        return false;
    };
    hooks
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|group| group.get("hooks")?.as_array())
        .flatten()
        .any(|h| {
            h.get("headers")
                .and_then(|x| x.get("Authorization"))
                .is_some()
        })
}

/// The indentation the file already uses (Claude Code writes two spaces; a user may have chosen
/// tabs or four), so a rewrite changes only what we changed.
fn indent_of(original: Option<&str>) -> String {
    original
        .and_then(|text| text.lines().nth(1))
        .map(|line| {
            line.chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect::<String>()
        })
        .filter(|indent| !indent.is_empty())
        .unwrap_or_else(|| "  ".to_owned())
}

/// Writes `value` to `path` (a backup of `original` first): the existing file's mode, indentation and
/// final newline are kept; a new file gets `new_mode`; a file holding a token is always 0600.
fn write_settings(
    path: &Path,
    value: &Value,
    original: Option<&str>,
    new_mode: u32,
) -> anyhow::Result<()> {
    use serde::Serialize;
    let indent = indent_of(original);
    let mut bytes = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut bytes,
        serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes()),
    );
    value.serialize(&mut ser)?;
    if original.is_none_or(|o| o.ends_with('\n')) {
        bytes.push(b'\n');
    }
    if let Some(original) = original {
        let backup = backup(path, original)?;
        println!("backup: {}", backup.display());
    }
    let mode = if holds_token(value) {
        0o600
    } else {
        existing_mode(path).unwrap_or(new_mode)
    };
    claude_mem_core::paths::write_atomically_with_mode(path, &bytes, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(unix)]
fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::metadata(path).ok()?.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn existing_mode(_path: &Path) -> Option<u32> {
    None
}

/// In the data directory: the Claude Code files `install` created (they did not exist before), so
/// that `uninstall` removes them again instead of leaving a `{}` behind.
const CREATED_FILES: &str = "install-created.json";

fn created_record() -> Option<PathBuf> {
    Some(DataDir::resolve().ok()?.root().join(CREATED_FILES))
}

fn created_files() -> Vec<String> {
    created_record()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Adds or removes `path` in the record; best effort (losing it only leaves a `{}` file behind).
fn set_created(path: &Path, created: bool) {
    let Some(record) = created_record() else {
        return;
    };
    let key = path.to_string_lossy().into_owned();
    let mut files = created_files();
    files.retain(|f| *f != key);
    if created {
        files.push(key);
    }
    let result = if files.is_empty() {
        match std::fs::remove_file(&record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    } else {
        serde_json::to_vec_pretty(&files)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_private(&record, &bytes))
    };
    if let Err(e) = result {
        eprintln!("claude-mem: cannot update {}: {e}", record.display());
    }
}

/// Whether `install` created `path` (see [`CREATED_FILES`]).
fn created_by_us(path: &Path) -> bool {
    created_files().contains(&path.to_string_lossy().into_owned())
}

/// Writes what install produced; a file that did not exist is recorded as ours to remove later.
fn write_installed(
    path: &Path,
    value: &Value,
    original: Option<&str>,
    new_mode: u32,
) -> anyhow::Result<()> {
    write_settings(path, value, original, new_mode)?;
    if original.is_none() {
        set_created(path, true);
    }
    Ok(())
}

/// Writes what uninstall left; a file install created that now holds nothing is removed instead (there
/// is nothing of the user's in it to back up).
fn write_uninstalled(path: &Path, value: &Value, original: Option<&str>) -> anyhow::Result<()> {
    let empty = value.as_object().is_some_and(Map::is_empty);
    if empty && created_by_us(path) {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
        set_created(path, false);
        println!("removed {} (install had created it)", path.display());
        return Ok(());
    }
    write_settings(path, value, original, NEW_SETTINGS_MODE)
}

pub fn install(args: InstallArgs) -> anyhow::Result<()> {
    let path = match args.settings {
        Some(p) => p,
        None => default_settings_path()?,
    };
    let exe = std::env::current_exe().context("cannot locate the claude-mem binary")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let data_dir = DataDir::resolve().context("cannot locate the data directory")?;
    if let Some(server) = &args.server {
        let token = args
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .context("--server needs --token (or CLAUDE_MEM_TOKEN): the team server refuses hooks without one")?;
        let server = normalize_server_url(server)?;
        // Command hooks, as for the local worker: the hook command reads the server and token from
        // team-server.json (0600), so the token stays out of settings.json, and a team server that
        // cannot be reached costs the session nothing visible (an unreachable http hook is shown to the
        // user as an error).
        let plan = planned_command_hooks(&exe.to_string_lossy());
        install_hooks(&path, &plan, &server, args.dry_run)?;
        if !args.dry_run {
            save_team_server(&data_dir, &server, token)?;
        }
        if args.mcp {
            // `claude-mem mcp` reads team-server.json like the hooks: its tools search the team's
            // memories with this token.
            let claude_json = match args.claude_json.clone() {
                Some(p) => p,
                None => default_claude_json_path()?,
            };
            install_mcp(&claude_json, &exe.to_string_lossy(), args.dry_run)?;
        }
        return Ok(());
    }
    if args.token.is_some() && std::env::var_os("CLAUDE_MEM_TOKEN").is_none() {
        bail!("--token goes with --server (the team server's URL)");
    }
    if !args.dry_run {
        forget_team_server(&data_dir)?;
    }
    let settings = Settings::load_effective(&data_dir.settings())?;
    let worker = settings.worker_url();
    if !args.dry_run {
        persist_address(&data_dir, &settings)?;
    }
    // The hook command reads the API token itself; making it now means hooks work from the first event
    // even before the worker's first start.
    if claude_mem_server::auth::client_token(&data_dir).is_none() {
        data_dir
            .ensure()
            .with_context(|| format!("cannot create {}", data_dir.root().display()))?;
        claude_mem_server::auth::load_or_create_token(&data_dir)
            .context("cannot create the API token")?;
    }
    let plan = planned_command_hooks(&exe.to_string_lossy());

    install_hooks(&path, &plan, &worker, args.dry_run)?;
    if args.mcp {
        let claude_json = match args.claude_json {
            Some(p) => p,
            None => default_claude_json_path()?,
        };
        install_mcp(&claude_json, &exe.to_string_lossy(), args.dry_run)?;
    }
    if args.service {
        crate::service::install(&exe, args.dry_run)?;
    }
    Ok(())
}

/// `CLAUDE_MEM_PORT=N claude-mem install` (or `CLAUDE_MEM_HOST`) must mean what it says for every
/// client, but Claude Code starts the hook command, the MCP server and the worker with its own
/// environment, which may not have the variable: they all read `<data dir>/settings.json`. So an
/// address the environment sets at install time is written there, and every client reads one port.
fn persist_address(data_dir: &DataDir, effective: &Settings) -> anyhow::Result<()> {
    let path = data_dir.settings();
    let mut file = Settings::load(&path)?;
    if file.port == effective.port && file.host == effective.host {
        return Ok(());
    }
    file.port = effective.port;
    file.host.clone_from(&effective.host);
    data_dir
        .ensure()
        .with_context(|| format!("cannot create {}", data_dir.root().display()))?;
    file.save(&path)?;
    println!(
        "saved the worker's address ({}) to {}: the hooks, the MCP server and the worker read it there",
        effective.worker_url(),
        path.display()
    );
    Ok(())
}

/// Keeps the server and token where the SessionStart command hook finds them (0600: it holds the token).
fn save_team_server(data_dir: &DataDir, server: &str, token: &str) -> anyhow::Result<()> {
    data_dir
        .ensure()
        .with_context(|| format!("cannot create {}", data_dir.root().display()))?;
    let path = team_server_path(data_dir);
    let record = TeamServer {
        server: server.to_owned(),
        token: Some(token.to_owned()),
    };
    let mut text = serde_json::to_string_pretty(&record)?;
    text.push('\n');
    write_private(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "the SessionStart hook reads the server and token from {}",
        path.display()
    );
    Ok(())
}

/// Back to the local worker: the command hook must not keep sending to the team server.
fn forget_team_server(data_dir: &DataDir) -> anyhow::Result<()> {
    let path = team_server_path(data_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            println!(
                "removed {} (hooks go to the local worker again)",
                path.display()
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

fn install_hooks(
    path: &Path,
    plan: &[PlannedHook],
    worker: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    let (mut value, original) = read_settings(path)?;
    let before = value.clone();
    let changes = merge_hooks(&mut value, plan)?;
    if dry_run {
        println!("{}", serde_json::to_string_pretty(&redacted(&value))?);
        return Ok(());
    }
    if value == before {
        println!("claude-mem hooks already installed in {}", path.display());
        return Ok(());
    }
    write_installed(path, &value, original.as_deref(), NEW_SETTINGS_MODE)?;
    println!(
        "installed {} claude-mem hooks in {} (worker: {worker}){}",
        changes.added,
        path.display(),
        if changes.removed > 0 {
            format!("; replaced {} older ones", changes.removed)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Removes the hooks, and the MCP server from `~/.claude.json` when `install --mcp` put it there.
pub fn uninstall(settings: Option<PathBuf>) -> anyhow::Result<()> {
    let path = match settings {
        Some(p) => p,
        None => default_settings_path()?,
    };
    uninstall_hooks(&path)?;
    if let Ok(data_dir) = DataDir::resolve() {
        forget_team_server(&data_dir)?;
    }
    if cfg!(target_os = "linux") {
        crate::service::uninstall()?;
    }
    // Without a home directory there is no ~/.claude.json to clean; the hooks part already ran.
    if let Ok(claude_json) = default_claude_json_path() {
        // Claude Code's own file: if it is unreadable now, the hooks are still gone and that is what
        // most users ran uninstall for; say what was left instead of failing.
        if let Err(e) = uninstall_mcp(&claude_json) {
            eprintln!(
                "claude-mem: left {} unchanged: {e:#}",
                claude_json.display()
            );
        }
    }
    Ok(())
}

fn uninstall_hooks(path: &Path) -> anyhow::Result<()> {
    let (mut value, original) = read_settings(path)?;
    if original.is_none() {
        println!("{} does not exist; nothing to remove", path.display());
        return Ok(());
    }
    let removed = remove_ours(&mut value)?;
    if removed == 0 {
        println!("no claude-mem hooks in {}", path.display());
        return Ok(());
    }
    write_uninstalled(path, &value, original.as_deref())?;
    println!("removed {removed} claude-mem hooks from {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Vec<PlannedHook> {
        planned_hooks("/usr/bin/claude-mem", "http://127.0.0.1:37777")
    }

    #[test]
    fn install_is_idempotent_and_keeps_foreign_hooks() {
        let foreign = json!({"type": "command", "command": "prettier --write"});
        let mut s = json!({
            "model": "opus",
            "hooks": {"PostToolUse": [{"matcher": "Edit", "hooks": [foreign.clone()]}]}
        });
        merge_hooks(&mut s, &plan()).unwrap();
        let once = s.clone();
        let again = merge_hooks(&mut s, &plan()).unwrap();
        assert_eq!(s, once);
        assert_eq!(again.removed, plan().len());
        assert_eq!(s["model"], "opus");
        assert_eq!(s["hooks"]["PostToolUse"][0]["hooks"][0], foreign);
        assert_eq!(s["hooks"]["PostToolUse"].as_array().unwrap().len(), 2);
        let start = &s["hooks"]["SessionStart"][0];
        assert_eq!(start["hooks"][0]["type"], "command");
        assert_eq!(
            start["hooks"][0]["command"],
            "/usr/bin/claude-mem hook SessionStart"
        );
        assert_eq!(
            s["hooks"]["SessionEnd"][0]["hooks"][0]["timeout"],
            SESSION_END_TIMEOUT_S
        );
        assert_eq!(
            s["hooks"]["Stop"][0]["hooks"][0]["url"],
            "http://127.0.0.1:37777/hooks/Stop"
        );
    }

    #[test]
    fn reinstall_on_another_port_replaces_the_old_hooks() {
        let mut s = json!({});
        merge_hooks(&mut s, &plan()).unwrap();
        merge_hooks(
            &mut s,
            &planned_hooks("/opt/claude-mem", "http://127.0.0.1:40000"),
        )
        .unwrap();
        assert_eq!(s["hooks"]["Stop"].as_array().unwrap().len(), 1);
        assert_eq!(
            s["hooks"]["Stop"][0]["hooks"][0]["url"],
            "http://127.0.0.1:40000/hooks/Stop"
        );
    }

    #[test]
    fn uninstall_restores_the_foreign_configuration() {
        let original = json!({
            "hooks": {
                "Stop": [{"hooks": [{"type": "http", "url": "https://example.com/hooks/Stop"}]}],
                "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}]
            }
        });
        let mut s = original.clone();
        merge_hooks(&mut s, &plan()).unwrap();
        assert_eq!(remove_ours(&mut s).unwrap(), plan().len());
        assert_eq!(s, original);
        let mut empty = json!({"theme": "dark"});
        merge_hooks(&mut empty, &plan()).unwrap();
        remove_ours(&mut empty).unwrap();
        assert_eq!(empty, json!({"theme": "dark"}));
    }

    #[test]
    fn paths_with_spaces_are_quoted() {
        let p = planned_hooks("/home/a b/claude-mem", "http://127.0.0.1:1");
        let cmd = p[0].handler["command"].as_str().unwrap();
        assert_eq!(cmd, "'/home/a b/claude-mem' hook SessionStart");
        assert!(is_ours(&p[0].handler));
        assert!(!is_ours(
            &json!({"type": "command", "command": "other-tool hook x"})
        ));
    }

    #[test]
    fn mcp_registration_is_idempotent_and_keeps_other_servers() {
        let other = json!({"type": "stdio", "command": "npx", "args": ["other-server"]});
        let mut c = json!({"numStartups": 3, "mcpServers": {"other": other.clone()}});
        let original = c.clone();
        merge_mcp(&mut c, "/usr/bin/claude-mem").unwrap();
        let once = c.clone();
        merge_mcp(&mut c, "/usr/bin/claude-mem").unwrap();
        assert_eq!(c, once);
        assert_eq!(c["mcpServers"]["claude-mem"]["args"], json!(["mcp"]));
        assert_eq!(c["mcpServers"]["other"], other);
        assert!(remove_mcp(&mut c).unwrap());
        assert_eq!(c, original);
        assert!(!remove_mcp(&mut c).unwrap());
        let mut fresh = json!({});
        merge_mcp(&mut fresh, "/opt/claude-mem").unwrap();
        assert!(remove_mcp(&mut fresh).unwrap());
        assert_eq!(fresh, json!({}));
    }

    #[test]
    fn a_foreign_server_named_claude_mem_is_not_removed() {
        let mut c = json!({"mcpServers": {"claude-mem": {"command": "node", "args": ["mem.js"]}}});
        assert!(!remove_mcp(&mut c).unwrap());
        assert!(merge_mcp(&mut json!({"mcpServers": []}), "/x/claude-mem").is_err());
    }

    /// Hooks as older installs wrote them for a remote worker or a team server: http, with the token in
    /// a header. Installs now write command hooks, but must still recognise and replace these.
    fn with_token(mut plan: Vec<PlannedHook>, token: &str) -> Vec<PlannedHook> {
        for hook in &mut plan {
            if hook.handler["type"] == "http" {
                hook.handler["headers"] = json!({"Authorization": format!("Bearer {token}")});
            }
        }
        plan
    }

    #[test]
    fn a_remote_worker_gets_the_token_header_and_is_still_recognised_as_ours() {
        let plan = with_token(
            planned_hooks("/usr/bin/claude-mem", "http://10.1.2.3:37777"),
            "abc",
        );
        let stop = &plan.iter().find(|h| h.event == "Stop").unwrap().handler;
        assert_eq!(stop["headers"]["Authorization"], "Bearer abc");
        assert!(plan[0].handler.get("headers").is_none());
        let mut s = json!({});
        merge_hooks(&mut s, &plan).unwrap();
        assert_eq!(remove_ours(&mut s).unwrap(), plan.len());
        assert!(!is_ours(
            &json!({"type": "http", "url": "http://example.com:80/hooks/Stop"})
        ));
    }

    #[test]
    fn older_team_http_hooks_are_ours_redacted_and_replaced_by_command_hooks() {
        let server = normalize_server_url("https://team.example:443/").unwrap();
        assert_eq!(server, "https://team.example:443");
        let team_plan = with_token(planned_hooks("/usr/bin/claude-mem", &server), "cm_abc");
        let stop = &team_plan
            .iter()
            .find(|h| h.event == "Stop")
            .unwrap()
            .handler;
        assert_eq!(stop["url"], "https://team.example:443/hooks/Stop");
        assert_eq!(stop["headers"]["Authorization"], "Bearer cm_abc");
        let foreign = json!({"type": "http", "url": "https://team.example:443/hooks/Stop"});
        let mut s = json!({"hooks": {"Stop": [{"hooks": [foreign.clone()]}]}});
        merge_hooks(&mut s, &team_plan).unwrap();
        assert!(!s.to_string().contains("<token>"));
        let shown = redacted(&s).to_string();
        assert!(!shown.contains("cm_abc") && shown.contains("Bearer <token>"));
        // Installing again (team or local: both write command hooks) replaces the old team hooks,
        // token and all; the foreign one stays.
        merge_hooks(&mut s, &planned_command_hooks("/usr/bin/claude-mem")).unwrap();
        assert!(!s.to_string().contains("cm_abc"));
        assert_eq!(s["hooks"]["Stop"][0]["hooks"][0], foreign);
        assert!(normalize_server_url("team.example").is_err());
        assert!(normalize_server_url("ftp://team.example").is_err());
        assert!(normalize_server_url("https://team.example/?x=1").is_err());
    }

    #[test]
    fn a_non_object_hooks_entry_is_an_error_not_a_crash() {
        let mut s = json!({"hooks": [1, 2]});
        assert!(merge_hooks(&mut s, &plan()).is_err());
        let mut s = json!([]);
        assert!(merge_hooks(&mut s, &plan()).is_err());
    }
}
