//! `claude-mem install --service`: the worker as a systemd user service, for Linux machines where it
//! should run from login to logout whether or not a Claude Code session started it (autostart covers
//! the rest). `uninstall` removes the unit again.
//!
//! The unit runs this very binary's `serve` and is restarted on failure. systemctl is optional: where
//! it is missing (containers, CI, WSL without systemd) or cannot reach the user manager, the unit is
//! still written and the message says how to enable it; the hooks installed beside it work either way.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit's name under `~/.config/systemd/user/`.
pub const UNIT_NAME: &str = "claude-mem.service";
/// First line of every unit we write: uninstall removes only a file that carries it.
const MARKER: &str =
    "# Written by `claude-mem install --service`; `claude-mem uninstall` removes it.";
/// Environment the service passes on when the installing shell has it: the worker must serve the same
/// data directory (and address) the hooks use.
const PASSED_ENV: [&str; 3] = ["CLAUDE_MEM_DATA_DIR", "CLAUDE_MEM_PORT", "CLAUDE_MEM_HOST"];

/// `$XDG_CONFIG_HOME/systemd/user/claude-mem.service` (default `~/.config/…`), where `systemctl --user`
/// looks for units.
pub fn unit_path() -> anyhow::Result<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => directories::BaseDirs::new()
            .context("cannot find the home directory")?
            .home_dir()
            .join(".config"),
    };
    Ok(config.join("systemd").join("user").join(UNIT_NAME))
}

/// A word of a systemd command line: quoted when it holds anything but plain path characters, with
/// `%` (a specifier) doubled and `\` / `"` escaped.
fn systemd_word(s: &str) -> String {
    let escaped = s.replace('%', "%%");
    if escaped
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c))
    {
        escaped
    } else {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The unit file's text for `exe`, with `env` (name, value) pairs passed to the worker.
pub fn unit_text(exe: &Path, env: &[(String, String)]) -> String {
    let mut text = format!(
        "{MARKER}\n[Unit]\nDescription=claude-mem worker (persistent memory for Claude Code)\n\n\
         [Service]\nType=simple\nExecStart={} serve\nRestart=on-failure\nRestartSec=5\n",
        systemd_word(&exe.to_string_lossy())
    );
    for (name, value) in env {
        text.push_str(&format!(
            "Environment={}\n",
            systemd_word(&format!("{name}={value}"))
        ));
    }
    text.push_str("\n[Install]\nWantedBy=default.target\n");
    text
}

fn systemctl() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("systemctl"))
        .find(|p| p.is_file())
}

/// Runs `systemctl --user ARGS`; `Err` carries what it said, for the message.
fn run_systemctl(systemctl: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(systemctl)
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Writes the unit, then `daemon-reload` and `enable --now` when systemctl is there. Only writing the
/// unit can fail the command; systemctl's trouble is a message (the unit is there for later).
pub fn install(exe: &Path, dry_run: bool) -> anyhow::Result<()> {
    if !cfg!(target_os = "linux") {
        bail!("--service writes a systemd user unit, which is Linux only; elsewhere the desktop app starts at login");
    }
    let path = unit_path()?;
    let env: Vec<(String, String)> = PASSED_ENV
        .iter()
        .filter_map(|name| {
            let value = std::env::var(name).ok()?;
            let value = value.trim();
            (!value.is_empty()).then(|| ((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let text = unit_text(exe, &env);
    if dry_run {
        println!("{}:\n{text}", path.display());
        return Ok(());
    }
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        println!("systemd user unit already in {}", path.display());
    } else {
        // Not secret (no token: the worker reads its own), and systemd reads it as the user: 0644.
        claude_mem_core::paths::write_atomically_with_mode(&path, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote the systemd user unit {}", path.display());
    }
    let Some(systemctl) = systemctl() else {
        println!(
            "systemctl not found: the unit was not enabled. Where systemd runs, start it with \
             `systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}`; meanwhile \
             the SessionStart hook starts a worker when none runs"
        );
        return Ok(());
    };
    let enabled = run_systemctl(&systemctl, &["daemon-reload"])
        .and_then(|()| run_systemctl(&systemctl, &["enable", "--now", UNIT_NAME]));
    match enabled {
        Ok(()) => println!("enabled and started {UNIT_NAME} (systemctl --user status {UNIT_NAME})"),
        Err(e) => println!(
            "systemctl could not enable {UNIT_NAME} ({e}); the unit is written, enable it with \
             `systemctl --user enable --now {UNIT_NAME}` once the user manager runs"
        ),
    }
    Ok(())
}

/// Stops, disables and removes the unit `install --service` wrote; a unit without our marker (the
/// user's own) is left alone.
pub fn uninstall() -> anyhow::Result<()> {
    let path = unit_path()?;
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    if !text.starts_with(MARKER) {
        println!("left {} alone: claude-mem did not write it", path.display());
        return Ok(());
    }
    let systemctl = systemctl();
    if let Some(systemctl) = &systemctl {
        if let Err(e) = run_systemctl(systemctl, &["disable", "--now", UNIT_NAME]) {
            println!("systemctl could not disable {UNIT_NAME} ({e}); removing the unit anyway");
        }
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    if let Some(systemctl) = &systemctl {
        let _ = run_systemctl(systemctl, &["daemon-reload"]);
    }
    println!("removed the systemd user unit {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_this_binary_and_quotes_what_systemd_would_split() {
        let text = unit_text(
            Path::new("/opt/claude mem/claude-mem"),
            &[("CLAUDE_MEM_PORT".into(), "40123".into())],
        );
        assert!(text.starts_with(MARKER));
        assert!(text.contains("ExecStart=\"/opt/claude mem/claude-mem\" serve\n"));
        assert!(text.contains("Restart=on-failure\n"));
        assert!(text.contains("Environment=CLAUDE_MEM_PORT=40123\n"));
        assert!(text.contains("WantedBy=default.target"));
        assert_eq!(systemd_word("/usr/bin/claude-mem"), "/usr/bin/claude-mem");
        assert_eq!(systemd_word("/a/100%"), "/a/100%%");
        assert_eq!(systemd_word("X=a \"b\""), "\"X=a \\\"b\\\"\"");
    }
}
