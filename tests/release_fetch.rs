//! Getting the binary without building it, against a local mirror of a release (`StaticMirror`, laid
//! out as `scripts/release.sh` lays one out: the binaries and their `SHA256SUMS`):
//!
//! - the plugin's launcher (`plugin/bin/claude-mem-launch`) on a machine without claude-mem: a hook is
//!   silent and instant, the event is kept, the pinned binary is fetched in the background and the event
//!   reaches the worker's spool; a binary whose SHA-256 is not the pinned one is refused and nothing is
//!   installed or lost; `--install` is the one-command install;
//! - `claude-mem update`: up to date, `--check`, a newer release installed after verification, a
//!   mismatching checksum refused with the old binary untouched, an untrusted origin refused.
//!
//! The real Claude Code session through the launcher is case (e) of claude_code_outage_e2e.

use claude_mem_e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The launcher of a plugin copy pinned to `sums`, run with no claude-mem on PATH.
fn launcher(sandbox: &Sandbox, plugin: &Path, mirror: &StaticMirror) -> Command {
    let mut cmd = Command::new(plugin.join("bin/claude-mem-launch"));
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", sandbox.home())
        .env("CLAUDE_MEM_DATA_DIR", sandbox.data_dir())
        .env("CLAUDE_MEM_AUTOSTART", "0")
        .env("CLAUDE_MEM_MODEL_DOWNLOAD", "off")
        .env("CLAUDE_MEM_RELEASE_BASE", &mirror.url);
    cmd
}

/// A real PostToolUse payload through the launcher's `hook PostToolUse`.
fn hook_via(cmd: Command) -> (std::process::Output, Duration) {
    let payload =
        std::fs::read_to_string(fixtures_dir().join("PostToolUse.Bash.json")).expect("fixture");
    run_hook(cmd, "PostToolUse", &payload)
}

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(what: &str, sandbox: &Sandbox, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}; launcher log: {}",
            std::fs::read_to_string(sandbox.data_dir().join("logs/launcher.log"))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_hook_without_the_binary_is_silent_keeps_the_event_and_fetches_the_pinned_release() {
    let mirror = StaticMirror::start();
    let sums = mirror.publish_release(VERSION);
    let sandbox = Sandbox::new();
    let plugin = plugin_copy(sandbox.dir.path(), Some((VERSION, &sums)));

    let (out, took) = hook_via(launcher(&sandbox, &plugin, &mirror));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    // It keeps the payload and leaves: the fetch runs detached (a generous bound for a loaded machine;
    // the fetch itself is not waited for).
    assert!(took < Duration::from_secs(2), "the hook took {took:?}");

    let installed = sandbox.data_dir().join("bin/claude-mem");
    let spool = sandbox.data_dir().join("spool");
    wait_for(
        "the binary was not installed and the event not spooled",
        &sandbox,
        || installed.is_file() && files_in(&spool.join("incoming"), "json").is_empty(),
    );
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(mirror.published(VERSION)).unwrap()
    );
    let spooled = files_in(&spool, "hook");
    assert_eq!(spooled.len(), 1, "{spooled:?}");

    // The worker stores it, once, from the spool.
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    wait_for("the spooled event was not stored", &sandbox, || {
        files_in(&spool, "hook").is_empty()
    });
    assert_eq!(
        sqlite_count(
            &sandbox.database(),
            "SELECT COUNT(*) FROM pending_messages WHERE event_name = 'PostToolUse'"
        ),
        1
    );
    drop(worker);

    // With the binary in place the launcher just runs it.
    let out = launcher(&sandbox, &plugin, &mirror)
        .arg("--version")
        .output()
        .expect("launcher --version");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("claude-mem"),
        "{out:?}"
    );
}

#[test]
fn a_binary_that_is_not_the_pinned_one_is_refused_and_the_event_kept() {
    let mirror = StaticMirror::start();
    let sums = mirror.publish_release(VERSION);
    let sandbox = Sandbox::new();
    let plugin = plugin_copy(sandbox.dir.path(), Some((VERSION, &sums)));
    // The mirror now serves other bytes under the pinned name.
    for entry in std::fs::read_dir(mirror.dir.path()).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("claude-mem-")
        {
            std::fs::write(entry.path(), b"#!/bin/sh\necho pwned\n").unwrap();
        }
    }
    let (out, _) = hook_via(launcher(&sandbox, &plugin, &mirror));
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{out:?}"
    );
    let log = sandbox.data_dir().join("logs/launcher.log");
    wait_for("the mismatch was not reported", &sandbox, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("refused"))
    });
    let bin_dir = sandbox.data_dir().join("bin");
    let left: Vec<_> = std::fs::read_dir(&bin_dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "something was installed: {left:?}");
    assert_eq!(
        files_in(&sandbox.data_dir().join("spool/incoming"), "json").len(),
        1,
        "the event must be kept for the next try"
    );

    // A user-facing command says why and fails.
    let out = launcher(&sandbox, &plugin, &mirror)
        .arg("--install")
        .output()
        .expect("launcher --install");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SHA-256"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_one_command_install_fetches_and_verifies() {
    let mirror = StaticMirror::start();
    let sums = mirror.publish_release(VERSION);
    let sandbox = Sandbox::new();
    let plugin = plugin_copy(sandbox.dir.path(), Some((VERSION, &sums)));
    // As the README runs it: the script on stdin of `sh -s -- --install`.
    let out = launcher(&sandbox, &plugin, &mirror)
        .args(["--install"])
        .output()
        .expect("install");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("claude-mem install"), "{stdout}");
    let installed = sandbox.data_dir().join("bin/claude-mem");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(mirror.published(VERSION)).unwrap()
    );
    let piped = Command::new("sh")
        .args(["-s", "--", "--install"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", sandbox.home())
        .env("CLAUDE_MEM_DATA_DIR", sandbox.data_dir())
        .env("CLAUDE_MEM_RELEASE_BASE", &mirror.url)
        .stdin(std::fs::File::open(plugin.join("bin/claude-mem-launch")).unwrap())
        .output()
        .expect("sh -s");
    assert!(piped.status.success(), "{piped:?}");
    assert!(String::from_utf8_lossy(&piped.stdout).contains(&installed.display().to_string()));
}

fn update(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    sandbox
        .command()
        .arg("update")
        .args(args)
        .output()
        .expect("claude-mem update")
}

/// A stand-in for an older installed binary that `update --to` replaces.
fn old_binary(sandbox: &Sandbox) -> PathBuf {
    let path = sandbox.dir.path().join("installed/claude-mem");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"#!/bin/sh\necho claude-mem 0.0.1\n").unwrap();
    path
}

#[test]
fn update_installs_a_newer_verified_release_and_nothing_else() {
    let sandbox = Sandbox::new();

    // The same version: up to date, nothing fetched.
    let same = StaticMirror::start();
    same.publish_release(VERSION);
    let out = update(&sandbox, &["--from", &same.url]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("up to date"),
        "{out:?}"
    );

    // A newer one: --check says so and changes nothing; then it is installed.
    let newer = StaticMirror::start();
    newer.publish_release("99.0.0");
    let dest = old_binary(&sandbox);
    let before = std::fs::read(&dest).unwrap();
    let to = dest.to_string_lossy().into_owned();
    let out = update(&sandbox, &["--from", &newer.url, "--check", "--to", &to]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("99.0.0 is available"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), before);

    let out = update(&sandbox, &["--from", &newer.url, "--to", &to]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("to 99.0.0"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(newer.published("99.0.0")).unwrap()
    );
    assert!(!dest.with_file_name("claude-mem.new").exists());

    // Altered bytes under a pinned sum: refused, the installed binary untouched, nothing left behind.
    let dest = old_binary(&sandbox);
    let before = std::fs::read(&dest).unwrap();
    for entry in std::fs::read_dir(newer.dir.path()).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("claude-mem-99.0.0-")
        {
            std::fs::write(entry.path(), b"junk").unwrap();
        }
    }
    let out = update(&sandbox, &["--from", &newer.url, "--to", &to]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SHA-256"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), before);
    assert!(!dest.with_file_name("claude-mem.new").exists());
    assert!(!dest.with_file_name("claude-mem.new.part").exists());

    // Plain http off loopback is not a trusted origin.
    let out = update(
        &sandbox,
        &["--from", "http://example.com/releases", "--to", &to],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("https"),
        "{out:?}"
    );
}
