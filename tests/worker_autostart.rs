//! Autostart (issue 19): a SessionStart hook that finds nothing on the port starts a detached worker,
//! within its budget; two at once start one; turned off, internal or team-bound, nothing starts.
//!
//! Workers started this way are not children of the test (the hook that spawned them has exited), so
//! [`Reaper`] finds them by their environment (this sandbox's data directory) in /proc and kills them,
//! on success and on failure alike.

use claude_mem_e2e::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hook budget the tests set (the default): the hook must return within it, plus process start-up.
const BUDGET_MS: u64 = 1000;
/// Spawning a debug binary on a busy 2-core machine; the budget is the hook's own time.
const STARTUP_SLACK: Duration = Duration::from_millis(1500);

/// `claude-mem serve` processes whose environment names this data directory (not zombies).
fn workers_of(data_dir: &Path) -> Vec<u32> {
    let needle = format!("CLAUDE_MEM_DATA_DIR={}", data_dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let proc = PathBuf::from(format!("/proc/{pid}"));
            let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'));
            let cmdline = std::fs::read(proc.join("cmdline")).unwrap_or_default();
            let serve = cmdline.split(|b| *b == 0).nth(1) == Some(b"serve".as_slice());
            let environ = std::fs::read(proc.join("environ")).unwrap_or_default();
            let ours = environ.split(|b| *b == 0).any(|kv| kv == needle.as_bytes());
            !zombie && serve && ours
        })
        .collect()
}

/// Kills every worker of the sandbox when dropped (also when an assertion failed).
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in workers_of(&self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// A hook command with autostart on, pointed at `port`, with no display (so the worker is `claude-mem
/// serve` even where the desktop app is built beside it).
fn hook_command(sandbox: &Sandbox, port: u16) -> Command {
    let mut cmd = sandbox.command();
    cmd.env("CLAUDE_MEM_AUTOSTART", "1")
        .env("CLAUDE_MEM_PORT", port.to_string())
        .env("CLAUDE_MEM_HOOK_TIMEOUT_MS", BUDGET_MS.to_string())
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .env("CLAUDE_MEM_LOG_LEVEL", "warn")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("CLAUDE_MEM_INTERNAL")
        .env_remove("CLAUDE_MEM_SERVER")
        .env_remove("CLAUDE_MEM_TOKEN");
    cmd
}

const START: &str = r#"{"session_id":"auto-1","cwd":"/tmp/autostart-project","source":"startup","hook_event_name":"SessionStart"}"#;

/// Runs the hook as Claude Code does and returns (exit success, time until it exited). Fails if its
/// stdout is not closed soon after it exits: a worker holding the hook's pipe would block Claude Code.
fn run_session_start(mut cmd: Command) -> (bool, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .args(["hook", "SessionStart"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hook");
    feed_stdin(&mut child, START.as_bytes());
    let mut stdout = child.stdout.take().expect("stdout");
    let status = wait_with_deadline(&mut child, Duration::from_secs(20));
    let took = started.elapsed();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(3)).is_ok(),
        "the hook's stdout stayed open after it exited: the worker inherited it"
    );
    (status.success(), took)
}

/// Polls the open `/api/health` until it answers 200 (or `deadline` passes).
fn health_ok(port: u16, deadline: Duration) -> bool {
    let client = http_anonymous();
    let start = Instant::now();
    while start.elapsed() < deadline {
        let answered = client
            .get(format!("http://127.0.0.1:{port}/api/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200);
        if answered {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn nothing_listens(port: u16) -> bool {
    matches!(
        std::net::TcpStream::connect(("127.0.0.1", port)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

#[test]
fn session_start_with_nothing_on_the_port_starts_one_detached_worker() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper(sandbox.data_dir());
    let port = closed_port();
    assert!(nothing_listens(port));

    let (success, took) = run_session_start(hook_command(&sandbox, port));
    assert!(success);
    assert!(
        took < Duration::from_millis(BUDGET_MS) + STARTUP_SLACK,
        "the hook took {took:?}, past its budget of {BUDGET_MS} ms"
    );
    assert!(
        health_ok(port, Duration::from_secs(30)),
        "no worker answered /api/health on port {port}; autostart.log: {}",
        std::fs::read_to_string(sandbox.data_dir().join("logs/autostart.log")).unwrap_or_default()
    );
    let workers = workers_of(&sandbox.data_dir());
    assert_eq!(workers.len(), 1, "{workers:?}");
    // The lock file records the start it made.
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.data_dir().join("autostart.lock")).expect("lock file"),
    )
    .expect("lock record");
    assert_eq!(record["pid"].as_u64(), Some(u64::from(workers[0])));

    // A worker that answers is left alone: the next session start makes no second one.
    let (success, _) = run_session_start(hook_command(&sandbox, port));
    assert!(success);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(workers_of(&sandbox.data_dir()), workers);
}

#[test]
fn two_session_starts_at_once_end_with_one_worker() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper(sandbox.data_dir());
    let port = closed_port();
    let hooks: Vec<_> = (0..2)
        .map(|_| {
            let cmd = hook_command(&sandbox, port);
            std::thread::spawn(move || run_session_start(cmd))
        })
        .collect();
    for h in hooks {
        let (success, took) = h.join().expect("hook thread");
        assert!(success);
        assert!(
            took < Duration::from_millis(BUDGET_MS) + STARTUP_SLACK,
            "{took:?}"
        );
    }
    assert!(health_ok(port, Duration::from_secs(30)));
    // Long enough for a second worker to have been spawned, opened the store and lost the bind.
    std::thread::sleep(Duration::from_secs(2));
    let log = std::fs::read_to_string(sandbox.data_dir().join("logs/autostart.log"))
        .expect("autostart.log");
    assert_eq!(
        log.matches("claude-mem worker listening on").count(),
        1,
        "one worker started: {log}"
    );
    // A second worker would have lost the bind: said so (`already serves`) or failed (`in use`).
    assert!(
        !log.contains("already serves") && !log.to_lowercase().contains("in use"),
        "a second worker was spawned: {log}"
    );
    assert_eq!(workers_of(&sandbox.data_dir()).len(), 1);
}

#[test]
fn autostart_off_internal_or_team_bound_starts_nothing() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper(sandbox.data_dir());
    let port = closed_port();
    let off = {
        let mut c = hook_command(&sandbox, port);
        c.env("CLAUDE_MEM_AUTOSTART", "0");
        c
    };
    let internal = {
        let mut c = hook_command(&sandbox, port);
        c.env("CLAUDE_MEM_INTERNAL", "1");
        c
    };
    let team = {
        let mut c = hook_command(&sandbox, port);
        c.env(
            "CLAUDE_MEM_SERVER",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .env("CLAUDE_MEM_TOKEN", "cm_test");
        c
    };
    // The harness's default: every other test runs with autostart off.
    let harness_default = {
        let mut c = sandbox.command();
        c.env("CLAUDE_MEM_PORT", port.to_string())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        c
    };
    for (name, cmd) in [
        ("off", off),
        ("internal", internal),
        ("team", team),
        ("harness default", harness_default),
    ] {
        let (success, took) = run_session_start(cmd);
        assert!(success, "{name}");
        assert!(
            took < Duration::from_millis(BUDGET_MS) + STARTUP_SLACK,
            "{name}: {took:?}"
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(nothing_listens(port), "a worker was started");
    assert!(workers_of(&sandbox.data_dir()).is_empty());
    assert!(!sandbox.data_dir().join("autostart.lock").exists());
}

#[test]
fn a_second_serve_on_a_port_our_worker_holds_exits_quietly() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    let started = Instant::now();
    let out = sandbox
        .command()
        .args(["serve", "--port", &worker.port.to_string()])
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .stdin(Stdio::null())
        .output()
        .expect("second serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("already serves"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // Anything else on the port is still an error: nothing of ours answers there.
    let foreign = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = foreign.local_addr().expect("addr").port();
    let out = sandbox
        .command()
        .args(["serve", "--port", &port.to_string()])
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .stdin(Stdio::null())
        .output()
        .expect("serve on a foreign port");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
