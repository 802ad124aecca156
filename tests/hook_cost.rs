//! What claude-mem's hooks cost a real Claude Code session, per tool call: the command hooks
//! `claude-mem install` writes (`claude-mem hook <Event>`, a process per event) against Claude Code's
//! own http hooks posting straight to the worker (the plan `install_cmd::planned_hooks` still makes,
//! written here by hand with the token header), against no hooks at all.
//!
//! A measurement with a check: it prints a table and asserts that every tool call was stored in every
//! mode, never a timing. By default one short session per mode (CI runs it as a check that both hook
//! transports work with the real CLI); for figures, more and longer sessions:
//!
//! ```text
//! HOOK_COST_CALLS=20 HOOK_COST_RUNS=5 cargo test -p claude-mem-e2e --test hook_cost -- --nocapture
//! ```
//!
//! `HOOK_COST_CALLS` (default 2) Bash calls per session, `HOOK_COST_RUNS` (default 1) sessions per mode.

use claude_mem_e2e::*;
use claude_mem_llm::mock::{anthropic_message, anthropic_stream, MockLlm, MockReply};
use claude_mem_llm::Usage;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKER_ENV: &[(&str, &str)] = &[
    ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
    ("CLAUDE_MEM_EMBEDDER", "hash"),
    ("CLAUDE_MEM_COMPRESSOR", "local"),
];

/// Hooks a session runs besides one PostToolUse per tool call: SessionStart, UserPromptSubmit, Stop,
/// SessionEnd.
const FIXED_HOOKS: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The model runs `true` through Bash `calls` times, one call per turn, then answers.
fn script(mock: &MockLlm, calls: usize) {
    let n = Arc::new(AtomicUsize::new(0));
    mock.set_default(move |req| {
        let id = n.fetch_add(1, Ordering::Relaxed);
        let model = req.model().unwrap_or("claude-mock");
        let usage = Usage {
            input_tokens: 50,
            output_tokens: 10,
            ..Usage::default()
        };
        let main_loop = req.body["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "Bash"));
        let answered = req.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| m["content"].as_array().into_iter().flatten())
            .filter(|b| b["type"] == "tool_result")
            .count();
        let (content, stop) = if !main_loop {
            (json!([{"type": "text", "text": "OK"}]), "end_turn")
        } else if answered < calls {
            (
                json!([{"type": "tool_use", "id": format!("toolu_cost_{answered:03}"), "name": "Bash",
                    "input": {"command": "true", "description": "Nothing"}}]),
                "tool_use",
            )
        } else {
            (json!([{"type": "text", "text": "Done."}]), "end_turn")
        };
        let message = anthropic_message(&format!("msg_cost_{id:04}"), model, content, stop, usage);
        if req.wants_stream() {
            anthropic_stream(&message)
        } else {
            MockReply::ok(message)
        }
    });
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    None,
    Command,
    Http,
}

/// Claude Code's settings.json for `mode`.
fn install(sandbox: &Sandbox, worker: &Worker, mode: Mode) {
    let settings = sandbox.home().join(".claude/settings.json");
    let _ = std::fs::remove_file(&settings);
    match mode {
        Mode::None => {}
        Mode::Command => {
            let out = sandbox
                .command()
                .arg("install")
                .env("CLAUDE_MEM_PORT", worker.port.to_string())
                .output()
                .expect("claude-mem install");
            ok(out);
        }
        Mode::Http => {
            // The events, matchers and timeouts of `install_cmd::planned_hooks`, every one http.
            let plan = [
                ("SessionStart", Some("startup|resume|clear|compact"), 10),
                ("UserPromptSubmit", None, 5),
                ("PostToolUse", Some("*"), 5),
                ("PostToolUseFailure", Some("*"), 5),
                ("Stop", None, 5),
                ("SubagentStop", None, 5),
                ("PreCompact", None, 5),
                ("SessionEnd", None, 5),
            ];
            let mut hooks = serde_json::Map::new();
            for (event, matcher, timeout) in plan {
                let mut group = json!({"hooks": [{
                    "type": "http",
                    "url": format!("{}/hooks/{event}", worker.base),
                    "timeout": timeout,
                    "headers": {"Authorization": format!("Bearer {TEST_TOKEN}")},
                }]});
                if let Some(m) = matcher {
                    group["matcher"] = json!(m);
                }
                hooks.insert(event.to_owned(), json!([group]));
            }
            std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
            std::fs::write(&settings, json!({"hooks": hooks}).to_string()).unwrap();
        }
    }
}

/// One session; its wall time and id.
fn run(sandbox: &Sandbox, worker: &Worker, mock: &MockLlm, tag: &str) -> (Duration, String) {
    let dir = sandbox.dir.path();
    let project = dir.join("work/acme-api");
    std::fs::create_dir_all(&project).unwrap();
    let stdout_file = dir.join(format!("{tag}.jsonl"));
    let start = Instant::now();
    let mut child = claude_code_session(
        sandbox,
        &project,
        worker.port,
        &mock.base_url(),
        "Run true a few times.",
    )
    .stdout(std::fs::File::create(&stdout_file).expect("stdout file"))
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn claude");
    let status = wait_with_deadline(&mut child, Duration::from_secs(300));
    let wall = start.elapsed();
    let stdout = std::fs::read_to_string(&stdout_file).unwrap_or_default();
    assert!(
        status.success(),
        "{tag}: claude exited with {status}: {stdout}"
    );
    let id = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["type"] == "system" && l["subtype"] == "init")
        .and_then(|l| l["session_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{tag}: no init line: {stdout}"));
    (wall, id)
}

/// The median: one session slowed by a busy machine must not move the figure.
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The floor under both, without Claude Code: one PostToolUse through `claude-mem hook` (a process)
/// and one straight POST (what an http hook does), `n` times each; medians in ms.
fn direct_costs(sandbox: &Sandbox, worker: &Worker, n: usize) -> (f64, f64) {
    let body = |i: usize| {
        json!({"session_id": "cost-direct", "cwd": "/w/acme-api", "hook_event_name": "PostToolUse",
            "tool_name": "Bash", "tool_use_id": format!("toolu_direct_{i}"),
            "tool_input": {"command": "true"}, "tool_response": {"stdout": ""}})
        .to_string()
    };
    let mut command = Vec::new();
    let mut http_ms = Vec::new();
    let client = http();
    for i in 0..n {
        let mut cmd = sandbox.command();
        cmd.env("CLAUDE_MEM_PORT", worker.port.to_string());
        let (out, took) = run_hook(cmd, "PostToolUse", &body(i));
        assert!(out.status.success());
        command.push(took.as_secs_f64() * 1000.0);
        let start = Instant::now();
        let status = client
            .post(worker.url("/hooks/PostToolUse"))
            .header("content-type", "application/json")
            .body(body(n + i))
            .send()
            .expect("POST hook")
            .status();
        assert!(status.is_success(), "{status}");
        http_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    (median(&command), median(&http_ms))
}

#[test]
fn command_hooks_against_http_hooks_per_tool_call() {
    let calls = env_usize("HOOK_COST_CALLS", 2);
    let runs = env_usize("HOOK_COST_RUNS", 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mock = rt.block_on(MockLlm::start()).expect("mock Messages API");
    script(&mock, calls);
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.home()).unwrap();
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({"hasCompletedOnboarding": true}).to_string(),
    )
    .unwrap();
    let worker = Worker::start_with(&sandbox, WORKER_ENV);
    // Warm-up: Claude Code's first start in a fresh HOME writes its files.
    install(&sandbox, &worker, Mode::None);
    run(&sandbox, &worker, &mock, "warmup");

    let modes = [Mode::None, Mode::Command, Mode::Http];
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    // Interleaved, so drift (a busy machine) spreads over every mode alike.
    for r in 0..runs {
        for (m, mode) in modes.iter().enumerate() {
            install(&sandbox, &worker, *mode);
            let (wall, id) = run(&sandbox, &worker, &mock, &format!("{mode:?}-{r}"));
            let stored = sqlite_count(
                &sandbox.database(),
                &format!(
                    "SELECT COUNT(*) FROM pending_messages WHERE session_id = '{id}' AND event_name = 'PostToolUse'"
                ),
            );
            let expect = if *mode == Mode::None { 0 } else { calls as i64 };
            assert_eq!(stored, expect, "{mode:?}: tool calls stored");
            walls[m].push(wall.as_secs_f64());
        }
    }
    let base = median(&walls[0]);
    println!("\nhook cost, real Claude Code {CLAUDE_CODE_VERSION}, {calls} Bash calls per session, {runs} sessions per mode (medians)");
    println!(
        "{:<8} {:>8} {:>18} {:>14}  sessions s",
        "hooks", "wall s", "per tool call ms", "per hook ms"
    );
    for (m, mode) in modes.iter().enumerate() {
        let wall = median(&walls[m]);
        // Each tool call brings one PostToolUse hook; the session's fixed hooks are spread over the
        // calls too. Per hook: over every hook the session ran.
        let per_call = (wall - base) * 1000.0 / calls as f64;
        let per_hook = (wall - base) * 1000.0 / (calls + FIXED_HOOKS) as f64;
        let list: Vec<String> = walls[m].iter().map(|w| format!("{w:.2}")).collect();
        println!(
            "{:<8} {:>8.2} {:>18.1} {:>14.1}  {}",
            format!("{mode:?}"),
            wall,
            per_call,
            per_hook,
            list.join(" ")
        );
    }
    let (command, http) = direct_costs(&sandbox, &worker, 30);
    println!(
        "without Claude Code, one PostToolUse (median of 30): `claude-mem hook` {command:.1} ms, a direct POST {http:.1} ms"
    );
}
