//! `claude-mem install` / `uninstall` on a temporary HOME that already has other tools' hooks.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::path::Path;

fn claude_settings(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.home().join(".claude/settings.json")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn backups(sandbox: &Sandbox) -> usize {
    std::fs::read_dir(sandbox.home().join(".claude"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("claude-mem-backup")
        })
        .count()
}

fn foreign() -> Value {
    json!({
        "model": "claude-opus-4-8",
        "permissions": {"allow": ["Bash(npm test)"]},
        "hooks": {
            "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "npx prettier --write"}]}],
            "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo welcome"}]}],
            "Notification": [{"hooks": [{"type": "command", "command": "notify-send claude"}]}]
        }
    })
}

#[test]
fn install_merges_idempotently_and_uninstall_restores() {
    let sandbox = Sandbox::new();
    let path = claude_settings(&sandbox);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&foreign()).unwrap()).unwrap();

    let out = sandbox.command().arg("install").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(backups(&sandbox), 1);
    let installed = read(&path);
    assert_eq!(installed["model"], "claude-opus-4-8");
    assert_eq!(installed["permissions"], foreign()["permissions"]);
    assert_eq!(
        installed["hooks"]["Notification"],
        foreign()["hooks"]["Notification"]
    );
    assert_eq!(
        installed["hooks"]["PostToolUse"][0],
        foreign()["hooks"]["PostToolUse"][0]
    );
    assert_eq!(
        installed["hooks"]["SessionStart"][0],
        foreign()["hooks"]["SessionStart"][0]
    );

    let ours_start = &installed["hooks"]["SessionStart"][1]["hooks"][0];
    assert_eq!(ours_start["type"], "command");
    let command = ours_start["command"].as_str().unwrap();
    assert!(command.ends_with(" hook SessionStart"), "{command}");
    assert!(Path::new(
        command
            .trim_end_matches(" hook SessionStart")
            .trim_matches('\'')
    )
    .exists());
    let ours_tool = &installed["hooks"]["PostToolUse"][1];
    assert_eq!(ours_tool["matcher"], "*");
    // Every hook is the command: it reads the API token from the data directory (0600), which an
    // http hook could only carry as a literal in this shared file.
    assert_eq!(ours_tool["hooks"][0]["type"], "command");
    assert!(ours_tool["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .ends_with(" hook PostToolUse"));
    assert!(!installed.to_string().contains("Bearer"));
    for event in [
        "UserPromptSubmit",
        "PostToolUseFailure",
        "Stop",
        "SessionEnd",
    ] {
        assert_eq!(
            installed["hooks"][event][0]["hooks"][0]["type"], "command",
            "{event}"
        );
    }
    assert!(
        installed["hooks"]["SessionEnd"][0]["hooks"][0]["timeout"]
            .as_u64()
            .unwrap()
            >= 2
    );

    // Again: nothing changes, no new backup.
    let out = sandbox.command().arg("install").output().unwrap();
    assert!(out.status.success());
    assert_eq!(read(&path), installed);
    assert_eq!(backups(&sandbox), 1);

    let out = sandbox.command().arg("uninstall").output().unwrap();
    assert!(out.status.success());
    assert_eq!(read(&path), foreign());
    assert_eq!(backups(&sandbox), 2);
    let out = sandbox.command().arg("uninstall").output().unwrap();
    assert!(out.status.success());
    assert_eq!(read(&path), foreign());
}

#[test]
fn install_uses_the_configured_port_and_creates_a_missing_file() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", "40123")
        .arg("install")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = read(&claude_settings(&sandbox));
    // The command finds the worker (port included) from the data directory's settings when it runs.
    let stop = &installed["hooks"]["Stop"][0]["hooks"][0];
    assert_eq!(stop["type"], "command", "{stop}");
    assert!(stop["command"].as_str().unwrap().ends_with(" hook Stop"));
    assert_eq!(backups(&sandbox), 0);
}

#[test]
fn a_broken_settings_file_is_refused_and_left_untouched() {
    let sandbox = Sandbox::new();
    let path = claude_settings(&sandbox);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{ \"hooks\": [oops").unwrap();
    let out = sandbox.command().arg("install").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not valid JSON"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{ \"hooks\": [oops"
    );
    assert_eq!(backups(&sandbox), 0);
}
