//! The viewer's Chromium suite (`frontend/e2e/run.mjs`) against a team server: a private PostgreSQL
//! (`TempCluster`), a team and a user made by the real `claude-mem team` commands, the real
//! `claude-mem serve` with `CLAUDE_MEM_DATABASE_URL`, and the suite in team mode (`E2E_TEAM_TOKEN`):
//! the browser signs in through the team's form, the suite seeds through `/hooks` with the user's bearer
//! token and runs every check that applies to a team server (the laptop-only ones are listed as N/A).
//!
//! Needs what `scripts/setup.sh` installs (PostgreSQL, Debian's chromium, node) and the viewer's
//! `npm ci` (scripts/test.sh runs it before `cargo test`): a missing one fails the test, naming the fix.
//! The viewer the team server serves is the one embedded in the binary: after changing `frontend/src`,
//! `npm run build` then `cargo build -p claude-mem --bin claude-mem`.

use claude_mem_e2e::team::{database, team_worker, user_token};
use claude_mem_e2e::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole suite in team mode takes well under a minute; this only stops a hung browser.
const SUITE_DEADLINE: Duration = Duration::from_secs(300);

fn frontend() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../frontend")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What the suite needs besides the binary: missing, the test fails and says how to get it (CI has all
/// of it; a skip would let the viewer's team mode rot unnoticed).
fn require_prerequisites() {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(node, "node is missing: scripts/setup.sh installs it");
    assert!(
        chromium().is_file(),
        "{} is missing: scripts/setup.sh installs Debian's chromium (or set CHROMIUM)",
        chromium().display()
    );
    let playwright = frontend().join("node_modules/playwright-core");
    assert!(
        playwright.is_dir(),
        "{} is missing: run `npm ci` in frontend/ (scripts/test.sh does, before cargo test)",
        playwright.display()
    );
}

#[test]
fn viewer_suite_passes_against_a_team_server() {
    require_prerequisites();
    let sandbox = Sandbox::new();
    let (_cluster, url) = database("viewer_team");
    let token = user_token(&sandbox, &url, "acme", "ann", true);
    // Another team on the same server: its memory must never reach this team's viewer.
    let rival = user_token(&sandbox, &url, "rivals", "bob", true);
    let worker = team_worker(&sandbox, &url);
    let (status, health) = get_json(&worker, "/api/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["backend"], "postgres", "{health}");
    // The page a signed-in browser gets (the cookie holds the token) must be the built viewer, not the
    // notice a binary built before `npm run build` embeds.
    let index = http_anonymous()
        .get(worker.url("/"))
        .header("cookie", format!("claude_mem_session={token}"))
        .send()
        .and_then(|r| r.text())
        .expect("GET / with the cookie");
    assert!(
        index.contains("claude-mem-viewer"),
        "the binary embeds no viewer: `npm run build` in frontend/, then `cargo build -p claude-mem --bin claude-mem`:\n{index}"
    );

    let out_dir = tempfile::tempdir().expect("tempdir");
    let log_path = out_dir.path().join("e2e.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut suite = Command::new("node");
    suite
        .arg("e2e/run.mjs")
        .current_dir(frontend())
        .env("VIEWER_URL", &worker.base)
        .env("E2E_TEAM_TOKEN", &token)
        .env("E2E_TEAM_OTHER_TOKEN", &rival)
        .env("E2E_STRICT", "1")
        .env("CLAUDE_MEM_BIN", bin())
        .env("CLAUDE_MEM_FIXTURES", fixtures_dir())
        .env("CHROMIUM", chromium())
        // The team's pages are not the documentation's screenshots.
        .env("SCREENSHOTS_DIR", "")
        .env_remove("E2E_MODE")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("log file")))
        .stderr(Stdio::from(log));
    let started = Instant::now();
    let mut child = suite.spawn().expect("run node e2e/run.mjs");
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() > SUITE_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!("{output}");
    println!(
        "viewer suite against the team server: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let status =
        status.unwrap_or_else(|| panic!("the suite ran past {SUITE_DEADLINE:?}:\n{output}"));
    assert!(
        status.success(),
        "the viewer's suite failed against the team server ({status}); screenshots of failures in \
         frontend/e2e/artifacts/team/:\n{output}"
    );
    // Every check that applies ran and passed; the laptop-only ones were named as such.
    assert!(output.contains("mode=team"), "{output}");
    assert!(
        output.contains("N/A"),
        "laptop-only checks listed: {output}"
    );
    assert!(!output.contains("FAIL "), "{output}");
}
