//! `claude-mem hook <event>`: the command hook Claude Code runs for every event (`install` and the
//! plugin register it). It forwards stdin to the worker with the API token from the data directory
//! (`Authorization: Bearer`, see `claude_mem_server::auth`) and prints the answer Claude Code should read.
//! Http hooks could only carry the token as a literal in a shared settings file, hence a command.
//!
//! It fails open, always: worker down, slow, or answering garbage, the command prints nothing and exits 0
//! within its budget, so a memory problem never blocks or pollutes a coding session. Set
//! `CLAUDE_MEM_DEBUG=1` to see why it stayed silent. Under `CLAUDE_MEM_INTERNAL=1` (set on the Claude Code
//! CLI the `claude-code` compressor runs) it drops the event without a word.
//!
//! On a laptop configured against a team server (`claude-mem install --server URL --token T`), the event
//! goes to that server with the user's token instead of to the local worker. The server and token come
//! from `CLAUDE_MEM_SERVER` / `CLAUDE_MEM_TOKEN` when set, else from `<data dir>/team-server.json` (mode
//! 0600), which `install --server` writes: Claude Code starts hooks with its own environment, so the file
//! is what makes the setting stick.

use claude_mem_core::hook_event::normalize_event_name;
use claude_mem_core::{DataDir, Settings};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Claude Code's hook JSON is small, but tool output can be large; anything past this is not ours to read.
const MAX_STDIN_BYTES: u64 = 64 * 1024 * 1024;

/// The team server's base URL (`https://team.example:443`), overriding `team-server.json`.
pub(crate) const SERVER_ENV: &str = "CLAUDE_MEM_SERVER";
/// The user's team token (`cm_…`), overriding `team-server.json`.
pub(crate) const TOKEN_ENV: &str = "CLAUDE_MEM_TOKEN";
/// In the data directory: where `install --server` keeps the server and token for the hook command.
pub(crate) const TEAM_SERVER_FILE: &str = "team-server.json";

/// A laptop's connection to a team server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TeamServer {
    /// Base URL, no trailing slash.
    pub server: String,
    pub token: Option<String>,
}

pub(crate) fn team_server_path(data_dir: &DataDir) -> PathBuf {
    data_dir.root().join(TEAM_SERVER_FILE)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The team server to send hooks to, if this machine uses one: the environment first (a token there
/// without a server keeps the file's server), then the file.
pub(crate) fn team_server(data_dir: Option<&DataDir>) -> Option<TeamServer> {
    let file = data_dir.and_then(|dir| {
        let text = std::fs::read_to_string(team_server_path(dir)).ok()?;
        serde_json::from_str::<TeamServer>(&text).ok()
    });
    let env_token = non_empty_env(TOKEN_ENV);
    match non_empty_env(SERVER_ENV) {
        Some(server) => Some(TeamServer {
            server: server.trim_end_matches('/').to_owned(),
            token: env_token.or_else(|| file.and_then(|f| f.token)),
        }),
        None => file.map(|f| TeamServer {
            server: f.server.trim_end_matches('/').to_owned(),
            token: env_token.or(f.token),
        }),
    }
}

pub fn run(event: Option<&str>) {
    match forward(event) {
        Ok(Some(output)) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(output.as_bytes());
            let _ = stdout.flush();
        }
        Ok(None) => {}
        Err(reason) => {
            if std::env::var_os("CLAUDE_MEM_DEBUG").is_some() {
                eprintln!("claude-mem hook: {reason}");
            }
        }
    }
}

fn forward(event: Option<&str>) -> Result<Option<String>, String> {
    // Claude Code run by claude-mem itself (the claude-code compressor): its events are never ours to
    // store, and forwarding them would feed the memory its own compression sessions.
    if std::env::var(claude_mem_core::capture::INTERNAL_ENV).is_ok_and(|v| v.trim() == "1") {
        return Ok(None);
    }
    let started = Instant::now();
    let data_dir = DataDir::resolve().ok();
    let settings = data_dir
        .as_ref()
        // The worker starts whatever the file says (a bad key keeps its last good value); the hook must
        // post where that worker listens, so it reads the file the same way.
        .map(|dir| Settings::load_effective_resilient(&dir.settings()).0)
        .unwrap_or_else(|| {
            let mut s = Settings::default();
            let _ = s.apply_env(|v| std::env::var(v).ok());
            s
        });
    let budget = Duration::from_millis(settings.hook_timeout_ms);

    let body = read_stdin_within(budget)?;
    let event = match event {
        Some(name) => normalize_event_name(name).map_err(|e| e.to_string())?,
        None => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("hook_event_name")?.as_str().map(str::to_owned))
            .ok_or("no event name given and none in the payload")?,
    };

    let remaining = budget
        .checked_sub(started.elapsed())
        .filter(|d| !d.is_zero())
        .ok_or("budget spent reading stdin")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(remaining))
        .http_status_as_error(false)
        .build()
        .into();
    let team = team_server(data_dir.as_ref());
    let base = match &team {
        Some(t) => t.server.clone(),
        None => settings.worker_url(),
    };
    let url = format!("{base}/hooks/{event}");
    let mut request = agent.post(&url).header("content-type", "application/json");
    if let Some(token) = team.as_ref().and_then(|t| t.token.as_deref()) {
        request = request.header("authorization", &format!("Bearer {token}"));
    } else if team.is_none() {
        // The worker wants the API token on every hook, loopback included (one small file read).
        // Without one the request still goes: the worker's 401 is reported like any other failure.
        if let Some(auth) = crate::worker_auth::authorization(data_dir.as_ref()) {
            request = request.header("authorization", &auth);
        }
    }
    let mut response = request
        .send(&body[..])
        .map_err(|e| format!("worker unreachable at {url}: {e}"))?;
    let status = response.status();
    let text = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("unreadable answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("worker answered {status}: {text}"));
    }
    // Only a JSON object is passed on: anything else could be read by Claude Code as plain context.
    match serde_json::from_str::<Value>(&text) {
        // An empty answer is passed on as `{}`, what Claude Code read from the http hooks before: a
        // command hook with no output is logged as plain text, not as a hook that answered.
        Ok(Value::Object(map)) if map.is_empty() => Ok(Some("{}".to_owned())),
        Ok(Value::Object(map)) => Ok(Some(Value::Object(map).to_string())),
        _ => Err(format!(
            "worker answered something that is not a JSON object: {text:.200}"
        )),
    }
}

/// Reads all of stdin, but gives up at the deadline: a stdin that never closes must not hang Claude Code.
fn read_stdin_within(budget: Duration) -> Result<Vec<u8>, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let result = std::io::stdin()
            .lock()
            .take(MAX_STDIN_BYTES)
            .read_to_end(&mut buf)
            .map(|_| buf);
        let _ = tx.send(result);
    });
    match rx.recv_timeout(budget) {
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) => Err(format!("cannot read stdin: {e}")),
        Err(_) => Err("stdin did not close within the budget".into()),
    }
}
