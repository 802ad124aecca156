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
//!
//! Under `CLAUDE_MEM=off` (Claude Code started as `CLAUDE_MEM=off claude`) nothing of the session is sent:
//! the SessionStart hook only tells the worker the session's id (`POST /api/sessions/off`), so the viewer
//! lists it as not recorded.
//!
//! Silent is not lossy: when the local worker does not take the event (connection refused, a hung
//! worker past the budget, a 5xx, 408 or 429), the event is written to the spool
//! (`claude_mem_core::spool`, `<data dir>/spool/`) before the command exits, and the worker stores it
//! when it next runs. The budget covers the spool write too: the request gets the budget less
//! [`SPOOL_RESERVE`], and a connect gets at most [`CONNECT_TIMEOUT`] (the worker is on loopback: a
//! connect either succeeds at once or nothing listens), so a down worker costs milliseconds and a hung
//! one at most the budget — once: a hook that times out marks the worker unresponsive for a few seconds
//! (`Spool::mark_worker_unresponsive`), and the hooks after it give the worker [`UNRESPONSIVE_PROBE`]
//! instead of the budget, so a hung worker does not cost every tool call a second; the first answer
//! clears the mark. Events for a team server are not spooled: the local worker would drain them
//! into the local store, not the team's.

use crate::client_config::team_server;
use claude_mem_core::hook_event::normalize_event_name;
use claude_mem_core::{DataDir, Settings};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Claude Code's hook JSON is small, but tool output can be large; anything past this is not ours to read.
const MAX_STDIN_BYTES: u64 = 64 * 1024 * 1024;

/// A connect to the loopback worker succeeds in well under a millisecond or not at all; waiting longer
/// only spends the budget that the spool write needs.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// The request's whole budget after a hook found the worker unresponsive in the last few seconds
/// (`Spool::worker_unresponsive_recently`): a healthy worker answers a hook in milliseconds, a hung one
/// would otherwise cost every tool call the full budget.
const UNRESPONSIVE_PROBE: Duration = Duration::from_millis(25);
/// The request's budget for events whose answer carries nothing for Claude Code (everything but
/// SessionStart and UserPromptSubmit, which may get context back): the worker answers those once the
/// event is committed, in milliseconds even under load, and past this the spool takes the event
/// losslessly, so waiting the whole budget on a hung worker would buy nothing.
const ACK_ONLY_BUDGET: Duration = Duration::from_millis(300);
/// The request's budget for SessionStart and UserPromptSubmit, whose answer may carry context: a
/// healthy worker builds it in ~12 ms at p95 (docs/BENCHMARKS.md, recall), so past half a second it is
/// hung or starved, and a turn's whole hook cost (at most ~1 s with a hung worker: this wait once,
/// then short probes) matters more than one block of context. The event is spooled either way.
const CONTEXT_BUDGET: Duration = Duration::from_millis(500);
/// Kept out of the request's timeout so that a hung worker still leaves time to spool the event (a
/// parse, a small write and two fsyncs). Half the remaining budget at most, for tiny budgets.
const SPOOL_RESERVE: Duration = Duration::from_millis(150);

/// `CLAUDE_MEM=off` (or `0`, `false`, `no`) in Claude Code's environment: this session is not recorded.
pub const SESSION_ENV: &str = "CLAUDE_MEM";

fn session_off_env() -> bool {
    std::env::var(SESSION_ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "off" | "0" | "false" | "no"
        )
    })
}

/// Set (to Unix milliseconds) by the plugin's launcher when it hands over an event it kept while no
/// binary was installed yet: [`spool_at`] instead of a delivery.
pub const SPOOL_AT_ENV: &str = "CLAUDE_MEM_HOOK_SPOOL_AT_MS";

/// Writes one event from stdin to the spool, dated `at_ms` (when Claude Code sent it), without
/// contacting the worker: the worker drains it like any spooled event, in arrival order. Unlike a live
/// hook this reports failure (exit 1) — its caller is the launcher, which keeps its copy until the
/// spool has the event.
pub fn spool_at(event: Option<&str>, at_ms: &str) -> std::process::ExitCode {
    use std::process::ExitCode;
    let fail = |why: String| {
        eprintln!("claude-mem hook: {why}");
        ExitCode::FAILURE
    };
    let Some(received_at_ms) = at_ms.trim().parse::<i64>().ok().filter(|ms| *ms > 0) else {
        return fail(format!(
            "{SPOOL_AT_ENV}={at_ms:?} is not a time in Unix milliseconds"
        ));
    };
    let Some(event) = event else {
        return fail("no event name given".into());
    };
    let event = match normalize_event_name(event) {
        Ok(event) => event,
        Err(e) => return fail(e.to_string()),
    };
    let data_dir = match DataDir::resolve() {
        Ok(dir) => dir,
        Err(e) => return fail(format!("no data directory: {e}")),
    };
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_STDIN_BYTES)
        .read_to_end(&mut body)
    {
        return fail(format!("cannot read stdin: {e}"));
    }
    let spool = claude_mem_core::spool::Spool::in_data_dir(&data_dir);
    match spool_entry(&spool, &event, &body, received_at_ms) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(e),
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
    let received_at_ms = claude_mem_core::clock::now_ms();
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

    let team = team_server(data_dir.as_ref());
    if session_off_env() {
        // The user started Claude Code with CLAUDE_MEM=off: nothing of this session is sent. The worker
        // only hears its id once (SessionStart), so the viewer can show it as not recorded.
        if event == "SessionStart" && team.is_none() {
            let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Some(session) = payload["session_id"].as_str() {
                let mut request = hook_agent(ACK_ONLY_BUDGET)
                    .post(&format!("{}/api/sessions/off", settings.worker_url()))
                    .header("content-type", "application/json");
                if let Some(auth) = crate::worker_auth::authorization(data_dir.as_ref()) {
                    request = request.header("authorization", &auth);
                }
                let body = serde_json::json!({
                    "session_id": session,
                    "cwd": payload["cwd"].as_str().unwrap_or(""),
                    "how": "env",
                });
                let _ = request.send(body.to_string().as_bytes());
            }
        }
        return Ok(Some("{}".to_owned()));
    }
    crate::worker_start::on_hook(
        &event,
        &settings,
        data_dir.as_ref(),
        team.is_some(),
        started + budget,
    );
    let remaining = budget
        .checked_sub(started.elapsed())
        .filter(|d| !d.is_zero())
        .ok_or("budget spent reading stdin")?;
    // Only the local worker drains the spool (see the module doc).
    let spool = match (&team, &data_dir) {
        (None, Some(dir)) => Some(claude_mem_core::spool::Spool::in_data_dir(dir)),
        _ => None,
    };
    let wary = spool
        .as_ref()
        .is_some_and(|s| s.worker_unresponsive_recently());
    let mut request_budget = remaining.saturating_sub(SPOOL_RESERVE.min(remaining / 2));
    request_budget = request_budget.min(
        if matches!(event.as_str(), "SessionStart" | "UserPromptSubmit") {
            CONTEXT_BUDGET
        } else {
            ACK_ONLY_BUDGET
        },
    );
    if wary {
        request_budget = request_budget.min(UNRESPONSIVE_PROBE);
    }
    let agent = hook_agent(request_budget);
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
    let undelivered = |reason: String| match &spool {
        Some(spool) => spool_event(spool, &event, &body, received_at_ms, reason),
        None => reason,
    };
    let mut response = match request.send(&body[..]) {
        Ok(response) => response,
        Err(e) => {
            if let (ureq::Error::Timeout(_), Some(spool)) = (&e, &spool) {
                let _ = spool.mark_worker_unresponsive();
            }
            return Err(undelivered(format!("worker unreachable at {url}: {e}")));
        }
    };
    if wary {
        if let Some(spool) = &spool {
            spool.clear_worker_unresponsive();
        }
    }
    let status = response.status();
    let text = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_string();
    if !status.is_success() {
        let reason = format!("worker answered {status}: {}", text.unwrap_or_default());
        return Err(if worth_retrying(status.as_u16()) {
            undelivered(reason)
        } else {
            reason
        });
    }
    // A success status is sent after the commit: the event is stored even if the answer is lost.
    let text = text.map_err(|e| format!("unreadable answer: {e}"))?;
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

/// The hook's HTTP client: the whole request within `budget`, a connect within [`CONNECT_TIMEOUT`]
/// (or the budget, if shorter), every status an answer (the caller decides what a 5xx means).
fn hook_agent(budget: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(budget))
        .timeout_connect(Some(CONNECT_TIMEOUT.min(budget)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Whether an answer means the worker did not take the event but would later: it is failing or busy
/// (5xx: starting, disk full, store error), timed the body out (408), or is shedding load (429). Any
/// other 4xx is a refusal of this very event (bad JSON, no token, too large) that a retry would repeat.
fn worth_retrying(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// Writes the event the worker did not take to the spool; returns `reason` with what became of it (for
/// `CLAUDE_MEM_DEBUG`). The body is privacy-filtered first, the same parse the worker runs, so nothing
/// unfiltered reaches the disk; a body the worker would refuse anyway is not spooled.
fn spool_event(
    spool: &claude_mem_core::spool::Spool,
    event: &str,
    body: &[u8],
    received_at_ms: i64,
    reason: String,
) -> String {
    match spool_entry(spool, event, body, received_at_ms) {
        Ok(path) => format!("{reason}; spooled to {}", path.display()),
        Err(e) => format!("{reason}; {e}"),
    }
}

/// Parses (with the privacy filter) and writes one spool entry.
fn spool_entry(
    spool: &claude_mem_core::spool::Spool,
    event: &str,
    body: &[u8],
    received_at_ms: i64,
) -> Result<PathBuf, String> {
    let parsed = claude_mem_core::HookEvent::parse(event, body)
        .map_err(|e| format!("not spooled, the worker would refuse it: {e}"))?;
    let entry = claude_mem_core::spool::Entry {
        event: parsed.event_name.clone(),
        received_at_ms,
        body: parsed.payload_json().as_bytes().to_vec(),
    };
    spool
        .write(&entry)
        .map_err(|e| format!("could not spool the event: {e}"))
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
