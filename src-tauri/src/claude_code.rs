//! The tray's "Connect Claude Code": the same code as `claude-mem install` / `uninstall`, by running the
//! `claude-mem` CLI the package installs beside the app. One implementation of the settings merge (with
//! its backups, modes and formatting rules) is worth more than saving a process start on a click.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The `claude-mem` CLI the app runs (beside the app's binary, else on PATH): the worker's own lookup.
pub fn cli_path() -> Option<PathBuf> {
    claude_mem_server::setup_api::claude_mem_cli()
}

/// Claude Code's user settings, where `install` writes the hooks.
fn settings_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| Path::new(&home).join(".claude").join("settings.json"))
}

/// Whether Claude Code's settings hold claude-mem's hooks: a `claude-mem … hook <Event>` command, or an
/// http hook to a `/hooks/<Event>` endpoint (a team server).
pub fn has_our_hooks(settings: &Value) -> bool {
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else {
        return false;
    };
    hooks
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|group| group.get("hooks").and_then(Value::as_array))
        .flatten()
        .any(|handler| {
            let command = handler.get("command").and_then(Value::as_str).unwrap_or("");
            let url = handler.get("url").and_then(Value::as_str).unwrap_or("");
            (command.contains("claude-mem") && command.contains(" hook "))
                || url.contains("/hooks/")
        })
}

/// Whether Claude Code is connected now (no settings file: not connected).
pub fn connected() -> bool {
    settings_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|v| has_our_hooks(&v))
}

/// Runs `claude-mem install --mcp` (connect) or `uninstall`, as the viewer's checklist does.
pub fn set_connected(cli: &Path, connect: bool) -> Result<(), String> {
    claude_mem_server::setup_api::connect_claude_code(cli, connect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn our_hooks_are_recognised_and_others_are_not() {
        let ours = json!({"hooks": {"PostToolUse": [{"hooks": [
            {"type": "command", "command": "/usr/bin/claude-mem hook PostToolUse"}]}]}});
        assert!(has_our_hooks(&ours));
        let team = json!({"hooks": {"Stop": [{"hooks": [
            {"type": "http", "url": "https://team.example/hooks/Stop"}]}]}});
        assert!(has_our_hooks(&team));
        let theirs = json!({"hooks": {"PostToolUse": [{"matcher": "Bash", "hooks": [
            {"type": "command", "command": "prettier --write"}]}]}, "model": "opus"});
        assert!(!has_our_hooks(&theirs));
        assert!(!has_our_hooks(&json!({})));
        assert!(!has_our_hooks(&json!({"hooks": "nonsense"})));
    }
}
