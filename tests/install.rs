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

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn install_keeps_the_files_mode_and_format_and_backups_do_not_pile_up() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let path = claude_settings(&sandbox);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // What Claude Code writes: JSON.stringify(settings, null, 2), no final newline, 0644.
    let original = serde_json::to_string_pretty(&foreign()).unwrap();
    std::fs::write(&path, &original).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    for round in 0..4 {
        ok(sandbox.command().arg("install").output().unwrap());
        assert_eq!(mode(&path), 0o644, "round {round}: install kept the mode");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\n  \"model\""),
            "two-space indent: {text:.40}"
        );
        assert!(!text.ends_with('\n'), "no final newline added");
        ok(sandbox.command().arg("uninstall").output().unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            original,
            "round {round}: uninstall gives back the very bytes"
        );
        assert_eq!(mode(&path), 0o644);
        assert!(
            backups(&sandbox) <= 3,
            "round {round}: {} backups",
            backups(&sandbox)
        );
    }
    assert_eq!(backups(&sandbox), 3);

    // A file with another indentation keeps it.
    let tabs = "{\n\t\"theme\": \"dark\"\n}\n";
    std::fs::write(&path, tabs).unwrap();
    ok(sandbox.command().arg("install").output().unwrap());
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("{\n\t\"theme\""));
    ok(sandbox.command().arg("uninstall").output().unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), tabs);
}

#[test]
fn files_install_created_are_removed_by_uninstall_and_a_team_token_stays_private() {
    let sandbox = Sandbox::new();
    let path = claude_settings(&sandbox);
    let claude_json = sandbox.home().join(".claude.json");
    ok(sandbox
        .command()
        .args(["install", "--mcp"])
        .output()
        .unwrap());
    // New files: settings.json as Claude Code would create it, ~/.claude.json private (the account).
    assert_eq!(mode(&path), 0o644);
    assert_eq!(mode(&claude_json), 0o600);
    assert!(sandbox.data_dir().join("install-created.json").exists());
    let out = ok(sandbox.command().arg("uninstall").output().unwrap());
    assert!(!path.exists(), "{out}");
    assert!(!claude_json.exists(), "{out}");
    assert!(!sandbox.data_dir().join("install-created.json").exists());
    assert_eq!(backups(&sandbox), 0);

    // A file the user had, even an empty object, stays.
    std::fs::write(&path, "{}\n").unwrap();
    ok(sandbox.command().arg("install").output().unwrap());
    ok(sandbox.command().arg("uninstall").output().unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");

    // A team's token stays out of settings.json: the command hooks read it from team-server.json,
    // which only this user can read.
    let out = sandbox
        .command()
        .args(["install", "--server", "https://team.example:443"])
        .env("CLAUDE_MEM_TOKEN", "cm_secret")
        .output()
        .unwrap();
    ok(out);
    assert!(!std::fs::read_to_string(&path)
        .unwrap()
        .contains("cm_secret"));
    let team_file = sandbox.data_dir().join("team-server.json");
    assert_eq!(mode(&team_file), 0o600);
    assert!(std::fs::read_to_string(&team_file)
        .unwrap()
        .contains("cm_secret"));
}

#[test]
fn the_install_port_is_the_one_every_client_reads() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    // The port is given to install only; the hook runs later without it (Claude Code's environment).
    let out = ok(sandbox
        .command()
        .env("CLAUDE_MEM_PORT", worker.port.to_string())
        .arg("install")
        .output()
        .unwrap());
    assert!(out.contains(&format!(":{}", worker.port)), "{out}");
    let saved = read(&sandbox.data_dir().join("settings.json"));
    assert_eq!(saved["port"], worker.port);
    let (output, _) = run_hook(
        sandbox.command(),
        "SessionStart",
        r#"{"session_id":"port-1","cwd":"/tmp/p","source":"startup"}"#,
    );
    let answer: Value = serde_json::from_str(&ok(output)).expect("the worker answered the hook");
    assert_eq!(
        answer["hookSpecificOutput"]["hookEventName"], "SessionStart",
        "{answer}"
    );
    // Install again without the variable: the saved port stays (it is the file's now).
    ok(sandbox.command().arg("install").output().unwrap());
    assert_eq!(
        read(&sandbox.data_dir().join("settings.json"))["port"],
        worker.port
    );
}

#[test]
fn install_service_writes_the_unit_and_uses_systemctl_when_there() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let unit = sandbox
        .home()
        .join(".config/systemd/user/claude-mem.service");
    // A systemctl that records what it was asked.
    let fake_bin = sandbox.dir.path().join("fake-bin");
    std::fs::create_dir_all(&fake_bin).unwrap();
    let calls = sandbox.dir.path().join("systemctl-calls");
    let script = fake_bin.join("systemctl");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = ok(sandbox
        .command()
        .env("PATH", &fake_bin)
        .env_remove("XDG_CONFIG_HOME")
        .env("CLAUDE_MEM_PORT", "40123")
        .args(["install", "--service"])
        .output()
        .unwrap());
    let text = std::fs::read_to_string(&unit).unwrap_or_else(|_| panic!("no unit: {out}"));
    let exe = bin().canonicalize().unwrap();
    assert!(
        text.contains(&format!("ExecStart={} serve\n", exe.display())),
        "{text}"
    );
    assert!(text.contains("Restart=on-failure\n"), "{text}");
    assert!(
        text.contains("Environment=CLAUDE_MEM_PORT=40123\n"),
        "{text}"
    );
    assert!(text.contains("WantedBy=default.target"), "{text}");
    let called = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        called,
        "--user daemon-reload\n--user enable --now claude-mem.service\n"
    );

    // No systemctl (containers, CI): the unit is written and that is said, not a failure.
    std::fs::remove_file(&unit).unwrap();
    let empty_bin = sandbox.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty_bin).unwrap();
    let out = ok(sandbox
        .command()
        .env("PATH", &empty_bin)
        .env_remove("XDG_CONFIG_HOME")
        .args(["install", "--service"])
        .output()
        .unwrap());
    assert!(out.contains("systemctl not found"), "{out}");
    assert!(unit.exists());

    // Uninstall disables and removes it.
    std::fs::remove_file(&calls).unwrap();
    ok(sandbox
        .command()
        .env("PATH", &fake_bin)
        .env_remove("XDG_CONFIG_HOME")
        .arg("uninstall")
        .output()
        .unwrap());
    assert!(!unit.exists());
    let called = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        called,
        "--user disable --now claude-mem.service\n--user daemon-reload\n"
    );
}

#[test]
fn a_fresh_worker_does_not_warn_about_files_it_just_created() {
    use std::io::BufRead;
    let sandbox = Sandbox::without_token();
    let mut child = sandbox
        .command()
        .args(["serve", "--port", "0"])
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(line.contains("listening"), "{line}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("readable by other"),
        "a fresh worker warned about its own files: {stderr}"
    );
    let log_dir = sandbox.data_dir().join("logs");
    for entry in std::fs::read_dir(&log_dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains("readable by other"), "{text}");
    }
}
