//! `GET /api/setup`: the viewer's first-run checklist. Are Claude Code's hooks installed, has Claude Code
//! reached this worker, is the search model there (or downloading), does compression work?
//!
//! The same facts `claude-mem doctor` prints, from the worker's side: what a new user needs to know
//! before the first memory appears, each with the command that fixes it. The hook check reads Claude
//! Code's user settings the way `doctor` does (a `claude-mem … hook` command hook, or the plugin); the
//! others come from the worker's own state, so they need no guessing.

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Ok,
    /// Not done yet, nothing wrong (no session has started, the model is downloading).
    Pending,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub state: CheckState,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

fn check(id: &'static str, title: &'static str, state: CheckState, detail: String) -> Check {
    Check {
        id,
        title,
        state,
        detail,
        hint: None,
    }
}

/// Claude Code's user settings: `$CLAUDE_CONFIG_DIR/settings.json`, else `~/.claude/settings.json`.
fn claude_settings_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("settings.json"));
    }
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(PathBuf::from(home).join(".claude").join("settings.json"))
}

/// A `claude-mem … hook <Event>` command handler (what `claude-mem install` writes).
fn is_our_hook(handler: &Value) -> bool {
    handler["type"] == "command"
        && handler["command"].as_str().is_some_and(|c| {
            c.split_whitespace()
                .any(|w| w.trim_matches(['\'', '"']).ends_with("claude-mem"))
                && c.split_whitespace().any(|w| w == "hook")
        })
}

/// The events Claude Code must send for memories to form.
const NEEDED: [&str; 4] = ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"];

pub fn hooks_check(path: Option<&Path>) -> Check {
    let mut c = check(
        "hooks",
        "Claude Code hooks installed",
        CheckState::Fail,
        String::new(),
    );
    let install = Some(
        "run `claude-mem install` in a terminal, then start a new Claude Code session".to_owned(),
    );
    let Some(path) = path else {
        c.detail = "cannot find Claude Code's settings (no home directory)".into();
        c.hint = install;
        return c;
    };
    let plugin = path.parent().is_some_and(|dir| {
        ["plugins/installed_plugins.json", "plugins/config.json"]
            .iter()
            .any(|f| std::fs::read_to_string(dir.join(f)).is_ok_and(|t| t.contains("\"claude-mem")))
    });
    let value: Value = match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => json!({}),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                c.detail = format!(
                    "{} is not valid JSON ({e}): Claude Code ignores it",
                    path.display()
                );
                c.hint = Some("fix the file, then run `claude-mem install`".into());
                return c;
            }
        },
        Err(_) => json!({}),
    };
    let missing: Vec<&str> = NEEDED
        .iter()
        .copied()
        .filter(|event| {
            !value["hooks"][*event]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|group| group["hooks"].as_array())
                .flatten()
                .any(is_our_hook)
        })
        .collect();
    if missing.is_empty() {
        c.state = CheckState::Ok;
        c.detail = format!("in {}", path.display());
    } else if plugin && missing.len() == NEEDED.len() {
        c.state = CheckState::Ok;
        c.detail = "provided by the claude-mem Claude Code plugin".into();
    } else if missing.len() == NEEDED.len() {
        c.detail = format!("no claude-mem hooks in {}", path.display());
        c.hint = install;
    } else {
        c.state = CheckState::Warn;
        c.detail = format!("missing for {}", missing.join(", "));
        c.hint = install;
    }
    c
}

pub async fn setup(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut checks = vec![hooks_check(claude_settings_path().as_deref())];
    let counts = state.store.health_counts().await?;

    // Reached: an event arrived. Hooks find the worker through settings.json (and CLAUDE_MEM_PORT in
    // Claude Code's environment); a worker moved elsewhere by `--port` or the environment is missed.
    let mut reach = check(
        "reached",
        "Claude Code reaches the worker",
        CheckState::Pending,
        String::new(),
    );
    let file_port = claude_mem_core::Settings::load_resilient(&state.data_dir.settings())
        .0
        .port;
    let last = state.store.list_sessions(None, 1, 0).await?;
    if counts.events > 0 || counts.sessions > 0 {
        reach.state = CheckState::Ok;
        reach.detail = format!(
            "{} sessions and {} events received{}",
            counts.sessions,
            counts.events,
            last.first()
                .map(|s| format!(", the last from {}", s.project))
                .unwrap_or_default()
        );
    } else if file_port != state.settings.port {
        reach.state = CheckState::Warn;
        reach.detail = format!(
            "nothing has arrived, and hooks look for the worker on port {file_port} (settings.json) while it listens on {}",
            state.settings.port
        );
        reach.hint = Some("start the worker without --port / CLAUDE_MEM_PORT, or set the same port in settings.json".into());
    } else {
        reach.detail = "no hook event has arrived yet".into();
        reach.hint = Some("start a Claude Code session: its first prompt shows up in Live".into());
    }
    checks.push(reach);

    let model = serde_json::to_value(state.model.status()).unwrap_or(Value::Null);
    let embedder = state
        .search
        .as_ref()
        .map(|s| s.embedder().id().to_owned())
        .unwrap_or_default();
    let mut m = check("model", "Search model", CheckState::Warn, String::new());
    match model["state"].as_str().unwrap_or("") {
        "installed" => {
            m.state = CheckState::Ok;
            m.detail = format!("{embedder}: semantic search on");
        }
        "not_used" => {
            m.state = CheckState::Ok;
            m.detail = format!("{embedder} (configured in search.embedder)");
        }
        s @ ("downloading" | "installing" | "reembedding") => {
            m.state = CheckState::Pending;
            let done = model["bytes_done"].as_u64().unwrap_or(0);
            let total = model["bytes_total"].as_u64().unwrap_or(0).max(1);
            m.detail = if s == "downloading" {
                format!("downloading all-MiniLM-L6-v2 ({}%)", done * 100 / total)
            } else {
                format!("{s} all-MiniLM-L6-v2")
            };
        }
        "failed" => {
            m.state = CheckState::Warn;
            m.detail = format!(
                "the download failed: {}",
                model["last_error"].as_str().unwrap_or("unknown error")
            );
            m.hint = Some("run `claude-mem models download`".into());
        }
        _ => {
            m.detail = format!("not installed; search uses {embedder} (lexical, not semantic)");
            m.hint = Some("run `claude-mem models download`".into());
        }
    }
    checks.push(m);

    let processor = state
        .processor
        .as_ref()
        .map(|p| serde_json::to_value(p.status()).unwrap_or(Value::Null));
    let mut comp = check(
        "compressor",
        "Compression works",
        CheckState::Pending,
        String::new(),
    );
    let name = processor
        .as_ref()
        .and_then(|p| p["compressor"].as_str())
        .unwrap_or("local")
        .to_owned();
    let last_error = processor
        .as_ref()
        .and_then(|p| p["last_error"].as_str())
        .map(str::to_owned);
    if !state.settings.compression.enabled {
        comp.state = CheckState::Warn;
        comp.detail = "compression.enabled is off: events are kept, no memories are made".into();
        comp.hint = Some("turn compression.enabled on in Settings and restart the worker".into());
    } else if counts.failed > 0 {
        comp.state = CheckState::Fail;
        comp.detail = format!(
            "{} events could not be compressed with {name} and are parked{}",
            counts.failed,
            last_error.map(|e| format!(": {e}")).unwrap_or_default()
        );
        comp.hint = Some(
            "check the API key or provider in Settings, then Retry parked on the Health page"
                .into(),
        );
    } else if let Some(e) = last_error {
        comp.state = CheckState::Warn;
        comp.detail = format!("{name}: last error {e}");
    } else if counts.observations > 0 {
        comp.state = CheckState::Ok;
        comp.detail = format!("{name}: {} memories made", counts.observations);
    } else {
        comp.detail = format!("{name}: waiting for the first tool events");
    }
    checks.push(comp);

    let complete = checks.iter().all(|c| c.state == CheckState::Ok);
    Ok(Json(json!({
        "checks": checks,
        "complete": complete,
        // The viewer offers "Connect Claude Code" (POST /api/setup/connect) only where it can work.
        "can_connect": claude_mem_cli().is_some(),
    })))
}

/// The `claude-mem` CLI: this very binary when it is the CLI (`claude-mem serve`), else the one beside it
/// (the desktop package puts both in /usr/bin), else the first on PATH. Connecting Claude Code runs its
/// `install`, so there is one implementation of the settings merge (backups, modes, formatting).
pub fn claude_mem_cli() -> Option<PathBuf> {
    let name = format!("claude-mem{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe().ok();
    if let Some(exe) = exe
        .as_ref()
        .filter(|e| e.file_name().is_some_and(|n| n == name.as_str()))
    {
        return Some(exe.clone());
    }
    let beside = exe
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&name))
                .find(|p| p.is_file())
        })
    })
}

/// Runs `claude-mem install --mcp` (connect) or `uninstall`; the error is the CLI's own message.
pub fn connect_claude_code(cli: &Path, connect: bool) -> Result<(), String> {
    let out = if connect {
        std::process::Command::new(cli)
            .args(["install", "--mcp"])
            .output()
    } else {
        std::process::Command::new(cli).arg("uninstall").output()
    }
    .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
    let verb = if connect { "install" } else { "uninstall" };
    if out.status.success() {
        tracing::info!(verb, cli = %cli.display(), "Claude Code connection changed");
        Ok(())
    } else {
        Err(format!(
            "claude-mem {verb} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `POST /api/setup/connect`: the first-run checklist's "Connect Claude Code" — what `claude-mem install
/// --mcp` does (hooks in `~/.claude/settings.json`, the MCP server in `~/.claude.json`). Loopback only:
/// it edits this user's Claude Code settings.
pub async fn connect(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
) -> Result<Json<Value>, ApiError> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    if !peer.is_some_and(|p| p.0.ip().is_loopback()) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "loopback_only",
            "Claude Code can only be connected from this machine",
        ));
    }
    let cli = claude_mem_cli().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no_cli",
            "the claude-mem command is not installed beside the worker or on PATH",
        )
    })?;
    tokio::task::spawn_blocking(move || connect_claude_code(&cli, true))
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "connect_failed",
                e.to_string(),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "connect_failed",
                e,
            )
        })?;
    setup(State(state)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_found_in_claude_code_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert_eq!(hooks_check(Some(&path)).state, CheckState::Fail, "no file");
        let hook = |cmd: &str| json!([{"hooks": [{"type": "command", "command": cmd}]}]);
        let mut all = serde_json::Map::new();
        for e in NEEDED {
            all.insert(e.into(), hook(&format!("/usr/bin/claude-mem hook {e}")));
        }
        std::fs::write(&path, json!({"hooks": all}).to_string()).unwrap();
        assert_eq!(hooks_check(Some(&path)).state, CheckState::Ok);
        all.remove("Stop");
        std::fs::write(&path, json!({"hooks": all}).to_string()).unwrap();
        let partial = hooks_check(Some(&path));
        assert_eq!(partial.state, CheckState::Warn);
        assert!(partial.detail.contains("Stop"), "{}", partial.detail);
        std::fs::write(&path, "{ nope").unwrap();
        assert_eq!(hooks_check(Some(&path)).state, CheckState::Fail);
        std::fs::write(&path, "{}").unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::fs::write(
            dir.path().join("plugins/installed_plugins.json"),
            r#"{"claude-mem@x": {}}"#,
        )
        .unwrap();
        assert_eq!(hooks_check(Some(&path)).state, CheckState::Ok, "the plugin");
    }
}
