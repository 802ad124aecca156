//! The desktop app for real: under Xvfb with its own D-Bus session and a temp HOME, the app starts, its
//! in-process worker answers, and a screenshot of the screen shows the viewer window (kept as an artifact
//! in `target/app-gui/`). Also: `--headless` (and no display) runs the worker alone, and a second worker
//! on the same port attaches instead of failing.

use claude_mem_e2e::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn app_bin() -> PathBuf {
    let cli = bin();
    let app = cli.with_file_name(format!("claude-mem-app{}", std::env::consts::EXE_SUFFIX));
    assert!(
        app.exists(),
        "{} missing: cargo build --workspace --bins",
        app.display()
    );
    app
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_health(port: u16, deadline: Duration) -> Value {
    let start = Instant::now();
    loop {
        // The app's worker made its own token: the public health is what answers without it.
        if let Ok(r) = http_anonymous()
            .get(format!("http://127.0.0.1:{port}/api/health"))
            .send()
        {
            if let Ok(v) = r.json::<Value>() {
                return v;
            }
        }
        assert!(
            start.elapsed() < deadline,
            "worker on {port} never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/app-gui");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: scripts/setup.sh installs it (xvfb, dbus-x11)"
    );
}

#[test]
fn app_under_xvfb_starts_worker_and_shows_the_viewer() {
    require("xvfb-run");
    require("dbus-run-session");
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let shot = artifacts().join("app-window.png");
    let _ = std::fs::remove_file(&shot);
    // One shell inside Xvfb + a D-Bus session: start the app in its own process group, wait for the
    // worker, give the window time to render, grab the screen, stop the group.
    let script = r#"set -u
setsid "$APP" > "$HOME/app.log" 2>&1 &
pid=$!
for i in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/api/health" > "$HOME/health.json" || echo "no health" >&2
sleep 6
python3 -c 'import os,sys; from PIL import ImageGrab; ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).save(sys.argv[1])' "$SHOT"
kill -TERM -- -$pid 2>/dev/null; sleep 1; kill -KILL -- -$pid 2>/dev/null; true"#;
    let status = Command::new("xvfb-run")
        .args([
            "-a",
            "-s",
            "-screen 0 1280x800x24",
            "dbus-run-session",
            "--",
            "bash",
            "-c",
            script,
        ])
        .env("APP", app_bin())
        .env("PORT", port.to_string())
        .env("SHOT", &shot)
        .env("HOME", home.path())
        .env("CLAUDE_MEM_DATA_DIR", home.path().join(".claude-mem"))
        .env("CLAUDE_MEM_PORT", port.to_string())
        .env("CLAUDE_MEM_EMBEDDER", "hash")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .status()
        .expect("run xvfb-run");
    let log = std::fs::read_to_string(home.path().join("app.log")).unwrap_or_default();
    assert!(status.success(), "xvfb session failed: {log}");
    let health: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("health.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|_| panic!("the in-process worker never answered; app log:\n{log}"));
    assert_eq!(health["status"], "ok");
    assert!(
        !log.contains("no display"),
        "the app decided it was headless under Xvfb:\n{log}"
    );
    // Logs went to the data dir's rolling files too.
    let logs = std::fs::read_dir(home.path().join(".claude-mem/logs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(logs > 0, "no log file under ~/.claude-mem/logs");
    assert_screenshot_shows_a_window(&shot);
}

/// A blank Xvfb screen is one colour; the viewer window has text, a header and cards.
fn assert_screenshot_shows_a_window(shot: &Path) {
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys; from PIL import Image; im=Image.open(sys.argv[1]).convert('RGB'); \
             print(len(set(im.resize((320,200)).getdata())))",
        ])
        .arg(shot)
        .output()
        .expect("python3");
    let colours: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        colours > 50,
        "the screenshot looks empty ({colours} colours): {}",
        shot.display()
    );
}

#[test]
fn without_a_display_the_app_is_a_plain_worker_and_a_second_one_attaches() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let spawn = || {
        Command::new(app_bin())
            .env("HOME", home.path())
            .env("CLAUDE_MEM_DATA_DIR", home.path().join(".claude-mem"))
            .env("CLAUDE_MEM_PORT", port.to_string())
            .env("CLAUDE_MEM_EMBEDDER", "hash")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn app")
    };
    let mut first = spawn();
    let mut banner = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    assert!(banner.contains(&format!("127.0.0.1:{port}")), "{banner}");
    assert_eq!(wait_health(port, Duration::from_secs(20))["status"], "ok");

    // A second launch finds the port served by claude-mem and attaches (here: says so and exits 0).
    let second = spawn().wait_with_output().expect("second app");
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("already serves"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let pid = first.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = wait_with_deadline(&mut first, Duration::from_secs(20));
    assert!(status.success(), "graceful stop: {status:?}");
}

#[test]
fn help_and_version_print_and_start_nothing() {
    let home = tempfile::tempdir().unwrap();
    for (flag, expect) in [
        ("--help", "Usage: claude-mem-app"),
        ("-h", "Usage: claude-mem-app"),
        (
            "--version",
            concat!("claude-mem-app ", env!("CARGO_PKG_VERSION")),
        ),
    ] {
        let mut child = Command::new(app_bin())
            .arg(flag)
            .env("HOME", home.path())
            .env("CLAUDE_MEM_DATA_DIR", home.path().join(".claude-mem"))
            .env("CLAUDE_MEM_PORT", free_port().to_string())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn app");
        // A worker would keep running: the deadline is what makes "printed and exited" fail loudly.
        let status = wait_with_deadline(&mut child, Duration::from_secs(20));
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(status.success(), "{flag}: {status:?}");
        assert!(out.contains(expect), "{flag} printed {out:?}");
        assert!(!out.contains("listening"), "{flag} started a worker: {out}");
    }
    assert!(
        !home.path().join(".claude-mem").exists(),
        "--help/--version created the data directory"
    );
}
