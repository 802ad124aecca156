//! The `claude-code` compressor through the real worker: the pinned Claude Code CLI (scripts/setup.sh
//! installs it into `tests/.claude-code/`) run headless by the worker, talking to the project's mock
//! Messages API (`ANTHROPIC_BASE_URL`, inherited by the CLI), with real hook payloads posted.
//!
//! - observations and summaries are made by `claude-code:haiku` and its calls land in `llm_usage`;
//! - the spawned session fires no hook at all, although claude-mem is installed in its HOME
//!   (`claude-mem install --mcp`) next to a hook of the user's own: the worker hears from no other
//!   session, the user's hook leaves no trace, and the CLI's debug log shows no hook run;
//! - a missing CLI, or one that hangs, leaves the batch to the local rules within
//!   `compression.request_timeout_ms`: nothing is parked, nothing is lost.
//!
//! Without the CLI the first test fails rather than skips, so a missing dependency cannot pass for green.

use claude_mem_e2e::*;
use claude_mem_llm::mock::{anthropic_message, anthropic_stream, MockLlm, MockReply};
use claude_mem_llm::Usage;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn write_executable(path: &Path, script: &str) {
    std::fs::write(path, script).expect("write script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// Every text block the request's user messages carry, joined.
fn user_text(body: &Value) -> String {
    let mut out = String::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        if m["role"] != "user" {
            continue;
        }
        match &m["content"] {
            Value::String(s) => out.push_str(s),
            blocks => {
                for b in blocks.as_array().into_iter().flatten() {
                    if let Some(t) = b["text"].as_str() {
                        out.push_str(t);
                        out.push('\n');
                    }
                }
            }
        }
    }
    out
}

/// The `<event id="N" …>` ids of the batch, as the LLM compressor renders them.
fn event_ids(text: &str) -> Vec<i64> {
    text.split("<event id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

/// The scripted model behind Claude Code: a `StructuredOutput` call that fits the schema it was given
/// (observations citing every event of the batch, or a summary), plain "OK" to anything else.
fn script(mock: &MockLlm) {
    let answers = Arc::new(AtomicUsize::new(0));
    mock.set_default(move |req| {
        let n = answers.fetch_add(1, Ordering::Relaxed);
        let model = req.model().unwrap_or("claude-mock");
        let usage = Usage {
            input_tokens: 1200,
            output_tokens: 150,
            ..Usage::default()
        };
        let tool = req.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == "StructuredOutput");
        let (content, stop) = match tool {
            Some(tool) => {
                let input = if tool["input_schema"]["properties"]["observations"].is_object() {
                    let ids = event_ids(&user_text(&req.body));
                    // Claude Code validates the tool input against the schema: take values it allows.
                    let item = &tool["input_schema"]["properties"]["observations"]["items"]["properties"];
                    let concept = item["concepts"]["items"]["enum"]
                        .get(0)
                        .cloned()
                        .unwrap_or(json!("testing"));
                    json!({"observations": [{
                        "type": "discovery",
                        "title": "Checked the shell in acme-api via Claude Code",
                        "subtitle": "claude-code compressor",
                        "narrative": "The session ran shell commands in acme-api; one failed with exit code 3.",
                        "facts": ["echo hello-from-tool printed hello-from-tool"],
                        "concepts": [concept],
                        "files_read": [], "files_modified": [],
                        "keywords": ["claude-code-compressor-marker"],
                        "source_event_ids": ids,
                    }]})
                } else {
                    json!({
                        "request": "run echo", "investigated": "the shell", "learned": "echo works",
                        "completed": "ran echo via the claude-code compressor", "next_steps": ""
                    })
                };
                (
                    json!([{"type": "tool_use", "id": format!("toolu_cc_{n:03}"),
                            "name": "StructuredOutput", "input": input}]),
                    "tool_use",
                )
            }
            None => (json!([{"type": "text", "text": "OK"}]), "end_turn"),
        };
        let message = anthropic_message(&format!("msg_cc_{n:03}"), model, content, stop, usage);
        if req.wants_stream() {
            anthropic_stream(&message)
        } else {
            MockReply::ok(message)
        }
    });
}

/// The worker's environment for a `claude-code` run; what the spawned CLI inherits from it.
fn worker_env(mock_url: &str, cli: &Path) -> Vec<(String, String)> {
    [
        ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
        ("CLAUDE_MEM_RETRY_BASE_MS", "0"),
        ("CLAUDE_MEM_EMBEDDER", "hash"),
        ("CLAUDE_MEM_COMPRESSOR", "claude-code"),
        ("CLAUDE_MEM_CLAUDE_CODE_PATH", &cli.to_string_lossy()),
        ("ANTHROPIC_BASE_URL", mock_url),
        ("ANTHROPIC_API_KEY", "sk-ant-test-000"),
        ("IS_SANDBOX", "1"),
        ("DISABLE_TELEMETRY", "1"),
        ("DISABLE_AUTOUPDATER", "1"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn start(sandbox: &Sandbox, env: &[(String, String)]) -> Worker {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Worker::start_with(sandbox, &env)
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Real payloads of one session (the failure fixture is moved into it), plus a test run that the local
/// rules, too, find worth a memory. Returns the session id.
fn post_session(worker: &Worker) -> String {
    let start = fixture("SessionStart.startup.json");
    let session = start["session_id"].as_str().expect("session id").to_owned();
    let mut failure = fixture("PostToolUseFailure.Bash.json");
    failure["session_id"] = json!(session);
    let mut test_run = fixture("PostToolUse.Bash.json");
    test_run["tool_use_id"] = json!("toolu_cc_e2e_cargo_test");
    test_run["tool_input"] =
        json!({"command": "cargo test -p acme-api", "description": "Run the tests"});
    test_run["tool_response"] = json!({"stdout": "test result: FAILED. 3 passed; 1 failed\n---- auth::refresh stdout ----\nassertion failed: token.expires_at > now", "stderr": "", "interrupted": false});
    let sequence = [
        ("SessionStart", start),
        ("UserPromptSubmit", fixture("UserPromptSubmit.json")),
        ("PostToolUse", fixture("PostToolUse.Bash.json")),
        ("PostToolUseFailure", failure),
        ("PostToolUse", test_run),
        ("Stop", fixture("Stop.json")),
    ];
    for (event, body) in sequence {
        let (status, answer) = post_hook(worker, event, body.to_string());
        assert_eq!(status, 200, "{event}: {answer}");
    }
    session
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn the_real_claude_code_cli_compresses_without_firing_any_hook() {
    let real_cli = claude_code_cli();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mock = rt.block_on(MockLlm::start()).expect("mock Messages API");
    script(&mock);
    let sandbox = Sandbox::new();
    let home = sandbox.home();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(
        home.join(".claude.json"),
        json!({"hasCompletedOnboarding": true}).to_string(),
    )
    .unwrap();
    // The CLI as the worker runs it, plus a debug log per run (Claude Code logs every hook it runs there).
    let logs = sandbox.dir.path().join("cli-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let wrapper = sandbox.dir.path().join("claude");
    write_executable(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$CLAUDE_MEM_INTERNAL $(pwd)\" >> '{logs}/runs.txt'\nexec '{cli}' \"$@\" --debug-file \"{logs}/debug-$$.log\"\n",
            logs = logs.display(),
            cli = real_cli.display()
        ),
    );
    let worker = start(&sandbox, &worker_env(&mock.base_url(), &wrapper));

    // claude-mem installed the way users install it, pointed at this worker, and a hook of the user's own.
    let out = sandbox
        .command()
        .args(["install", "--mcp"])
        .env("CLAUDE_MEM_PORT", worker.port.to_string())
        .output()
        .expect("claude-mem install");
    assert!(
        out.status.success(),
        "install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings_path = home.join(".claude/settings.json");
    let mut settings: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    let marker = sandbox.dir.path().join("user-hook-ran");
    let user_hook =
        json!({"hooks": [{"type": "command", "command": format!("touch '{}'", marker.display())}]});
    let hooks = settings["hooks"]
        .as_object_mut()
        .expect("install wrote a hooks object");
    assert!(hooks.contains_key("UserPromptSubmit"), "{hooks:?}");
    for event in ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"] {
        if let Some(groups) = hooks.entry(event).or_insert(json!([])).as_array_mut() {
            groups.push(user_hook.clone());
        }
    }
    std::fs::write(&settings_path, settings.to_string()).unwrap();

    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(
        health["processor"]["compressor"], "claude-code:haiku",
        "{health}"
    );

    let session = post_session(&worker);
    let health = worker.wait_until_processed(Duration::from_secs(240));
    let db = sandbox.database();
    if health["counts"]["failed"] != 0 {
        for r in mock.requests() {
            let last = r.body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .cloned();
            eprintln!(
                "mock request {} (tools: {}), last message: {}",
                r.path,
                r.body["tools"].as_array().map(|t| t.len()).unwrap_or(0),
                last.unwrap_or_default()
                    .to_string()
                    .chars()
                    .take(1500)
                    .collect::<String>()
            );
        }
    }
    assert_eq!(health["counts"]["failed"], 0, "{health}");
    let runs = std::fs::read_to_string(logs.join("runs.txt")).unwrap_or_default();
    assert!(!runs.is_empty(), "the worker never ran the CLI: {health}");
    for run in runs.lines() {
        assert!(
            run.starts_with("1 ") && run.ends_with("/data/claude-code-cwd"),
            "the CLI ran without the internal marker or outside its own directory: {run}"
        );
    }

    // Observations and the summary are Claude Code's, and every call is accounted for.
    let rows = sqlite_rows(&db, "SELECT compressor, title, model FROM observations");
    assert!(!rows.is_empty(), "no observation stored");
    for row in &rows {
        assert_eq!(row[0], "claude-code:haiku", "{rows:?}");
        assert_eq!(row[1], "Checked the shell in acme-api via Claude Code");
        assert!(
            row[2]
                .as_str()
                .unwrap_or("")
                .starts_with("claude-haiku-4-5"),
            "{rows:?}"
        );
    }
    let summaries = sqlite_rows(&db, "SELECT compressor, completed FROM session_summaries");
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(summaries[0][0], "claude-code:haiku");
    assert_eq!(summaries[0][1], "ran echo via the claude-code compressor");
    let usage = sqlite_rows(
        &db,
        "SELECT provider, model, purpose, input_tokens, output_tokens, cost_usd FROM llm_usage ORDER BY id",
    );
    // One call per batch of tool events (the posts may land in more than one batch) and one summary.
    let purposes: Vec<&str> = usage.iter().filter_map(|r| r[2].as_str()).collect();
    assert_eq!(
        purposes.iter().filter(|p| **p == "summary").count(),
        1,
        "{usage:?}"
    );
    assert!(purposes.contains(&"observation"), "{usage:?}");
    for row in &usage {
        assert_eq!(row[0], "claude-code");
        assert!(
            row[1].as_str().unwrap().starts_with("claude-haiku-4-5"),
            "{row:?}"
        );
        assert!(row[3].as_i64().unwrap() >= 1200, "{row:?}");
        assert!(row[4].as_i64().unwrap() >= 150, "{row:?}");
        assert!(row[5].as_f64().unwrap() > 0.0, "priced like Haiku: {row:?}");
    }
    let (_, costs) = get_json(&worker, "/api/costs?days=1");
    let by_provider = costs["report"]["by_provider"]
        .as_array()
        .expect("by_provider");
    assert!(
        by_provider
            .iter()
            .any(|g| g["key"] == "claude-code" && g["calls"] == usage.len()),
        "{costs}"
    );

    // What the model was offered: the structured-output tool only (no Bash, no claude-mem MCP tools), our
    // system prompt, and the events (sent on stdin, not argv).
    let requests: Vec<Value> = mock
        .requests()
        .into_iter()
        .filter(|r| r.is_anthropic())
        .map(|r| r.body)
        .collect();
    assert!(!requests.is_empty());
    for body in &requests {
        let tools: Vec<&str> = body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(
            tools.iter().all(|t| *t == "StructuredOutput"),
            "the compressor's session was offered tools: {tools:?}"
        );
    }
    assert!(requests.iter().any(|b| b["system"]
        .to_string()
        .contains("You are the memory of a coding assistant")));
    assert!(requests
        .iter()
        .any(|b| user_text(b).contains("hello-from-tool")));

    // No hook fired in the spawned sessions: the worker heard of one session only, the user's hook never
    // ran, nothing reached the worker from the compressor's directory, and the debug logs show no hook run.
    assert_eq!(
        sqlite_rows(&db, "SELECT id FROM sdk_sessions"),
        vec![vec![json!(session)]],
        "the worker heard from a session it did not get from the test"
    );
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages WHERE session_id <> (SELECT id FROM sdk_sessions LIMIT 1)"),
        0
    );
    assert!(
        !marker.exists(),
        "the user's own hook ran in the compressor's session"
    );
    let metrics = metrics_text(&worker);
    assert_eq!(
        metric(
            &metrics,
            "claude_mem_hook_events_skipped_total{reason=\"internal\"}"
        ),
        0.0,
        "hooks of the compressor's session reached the worker"
    );
    let mut debug_logs = 0;
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".log") {
            continue;
        }
        debug_logs += 1;
        let debug = std::fs::read_to_string(&path).unwrap();
        let ran: Vec<&str> = debug
            .lines()
            .filter(|l| {
                l.contains("hook_execution_start")
                    || l.contains("HTTP hook POST")
                    || l.contains("Hook output")
                    || (l.contains("\"Hook ") && l.contains(" success:"))
            })
            .collect();
        assert!(
            ran.is_empty(),
            "{} shows hooks running: {ran:?}",
            path.display()
        );
        assert!(
            !debug.contains("claude-mem mcp") && !debug.contains("MCP server \"claude-mem\""),
            "{} shows claude-mem's MCP server starting",
            path.display()
        );
    }
    assert_eq!(
        debug_logs,
        runs.lines().count(),
        "one debug log per CLI run"
    );
    drop(worker);
    drop(rt);
}

/// Starts a worker on `cli` with `request_timeout_ms`, posts the session, and returns how long until
/// nothing was pending, with the sandbox for inspection.
fn falls_back_to_local(cli: &Path, timeout_ms: u64) -> (Duration, Sandbox, Value) {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.data_dir()).unwrap();
    std::fs::write(
        sandbox.data_dir().join("settings.json"),
        json!({"compression": {"request_timeout_ms": timeout_ms}}).to_string(),
    )
    .unwrap();
    // Nothing listens here: were the CLI ever to get as far as the API, it would fail, not answer.
    let env = worker_env(&format!("http://127.0.0.1:{}", closed_port()), cli);
    let worker = start(&sandbox, &env);
    let started = Instant::now();
    post_session(&worker);
    let health = worker.wait_until_processed(Duration::from_secs(60));
    let elapsed = started.elapsed();
    drop(worker);
    (elapsed, sandbox, health)
}

fn assert_all_local(sandbox: &Sandbox, health: &Value) {
    let db = sandbox.database();
    assert_eq!(health["counts"]["failed"], 0, "{health}");
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM pending_messages WHERE state NOT IN ('done', 'skipped')"
        ),
        0
    );
    let observations = sqlite_rows(&db, "SELECT compressor FROM observations");
    assert!(
        !observations.is_empty(),
        "the local rules made nothing: {health}"
    );
    assert!(
        observations.iter().all(|r| r[0] == "local"),
        "{observations:?}"
    );
    let summaries = sqlite_rows(&db, "SELECT compressor FROM session_summaries");
    assert_eq!(summaries, vec![vec![json!("local")]]);
    assert_eq!(sqlite_count(&db, "SELECT COUNT(*) FROM llm_usage"), 0);
    assert!(
        health["processor"]["local_fallbacks"].as_u64().unwrap_or(0) >= 1,
        "{health}"
    );
    assert!(
        health["processor"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("compressor unavailable")),
        "{health}"
    );
}

#[test]
fn a_missing_cli_leaves_the_batch_to_the_local_rules_at_once() {
    let missing = std::env::temp_dir().join("claude-mem-e2e-no-such-dir/claude");
    let (elapsed, sandbox, health) = falls_back_to_local(&missing, 60_000);
    assert_all_local(&sandbox, &health);
    // Not a minute's timeout, not a retry backoff: at once.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn a_hanging_cli_is_killed_and_the_batch_compressed_locally_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let hanging = dir.path().join("claude");
    write_executable(
        &hanging,
        &format!(
            "#!/bin/sh\necho $$ >> '{}'\nexec sleep 300\n",
            pids.display()
        ),
    );
    let timeout_ms = 1500;
    let (elapsed, sandbox, health) = falls_back_to_local(&hanging, timeout_ms);
    assert_all_local(&sandbox, &health);
    let runs = std::fs::read_to_string(&pids).unwrap_or_default();
    assert!(!runs.is_empty(), "the worker never started the CLI");
    // One timeout for the observations, one for the summary (each waits at most the timeout), plus slack.
    let bound =
        Duration::from_millis(timeout_ms * runs.lines().count() as u64) + Duration::from_secs(10);
    assert!(
        elapsed < bound,
        "took {elapsed:?} for {} runs",
        runs.lines().count()
    );
    // Each timed-out CLI was killed, not left sleeping.
    #[cfg(target_os = "linux")]
    for pid in runs.lines() {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "the hanging CLI {pid} still runs: {stat}"
        );
    }
}

/// The two guards behind the CLI flags: `claude-mem hook` under `CLAUDE_MEM_INTERNAL=1` forwards nothing,
/// and the worker stores nothing whose `cwd` is the compressor's own directory (an http hook would not
/// carry the variable).
#[test]
fn events_of_claude_mems_own_session_are_never_stored() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, &[("CLAUDE_MEM_EMBEDDER", "hash")]);
    let start = std::fs::read_to_string(fixtures_dir().join("SessionStart.startup.json")).unwrap();
    let mut cmd = sandbox.command();
    cmd.env("CLAUDE_MEM_PORT", worker.port.to_string())
        .env("CLAUDE_MEM_INTERNAL", "1");
    let (out, _) = run_hook(cmd, "SessionStart", &start);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let internal_cwd = sandbox.data_dir().join("claude-code-cwd");
    for name in [
        "SessionStart.startup.json",
        "UserPromptSubmit.json",
        "PostToolUse.Bash.json",
        "Stop.json",
    ] {
        let mut body = fixture(name);
        body["cwd"] = json!(internal_cwd.to_string_lossy());
        let event = body["hook_event_name"].as_str().unwrap().to_owned();
        let (status, _) = post_hook(&worker, &event, body.to_string());
        assert_eq!(status, 200, "{name}");
    }
    let db = sandbox.database();
    assert_eq!(sqlite_count(&db, "SELECT COUNT(*) FROM sdk_sessions"), 0);
    assert_eq!(
        sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages"),
        0
    );
    assert_eq!(
        metric(
            &metrics_text(&worker),
            "claude_mem_hook_events_skipped_total{reason=\"internal\"}"
        ),
        4.0
    );
    // The same hook from a project directory is stored as ever.
    let (out, _) = {
        let mut cmd = sandbox.command();
        cmd.env("CLAUDE_MEM_PORT", worker.port.to_string());
        run_hook(cmd, "SessionStart", &start)
    };
    assert!(out.status.success());
    assert_eq!(sqlite_count(&db, "SELECT COUNT(*) FROM sdk_sessions"), 1);
}

/// `compression.provider = auto` with no API key: a Claude Code CLI that is found *and* logged in is
/// chosen; the same CLI without a login leaves the local rules in charge (a CI runner or a test sandbox
/// never drifts onto the CLI). Judged from files only, so a stand-in executable does for the CLI.
#[test]
fn auto_picks_a_logged_in_claude_code_and_stays_local_without_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let cli = dir.path().join("claude");
    write_executable(&cli, "#!/bin/sh\nexit 0\n");
    let compressor_with = |logged_in: bool| {
        let sandbox = Sandbox::new();
        if logged_in {
            let config = sandbox.home().join(".claude");
            std::fs::create_dir_all(&config).unwrap();
            std::fs::write(
                config.join(".credentials.json"),
                json!({"claudeAiOauth": {"accessToken": "sk-ant-oat01-test"}}).to_string(),
            )
            .unwrap();
        }
        let env = [
            ("CLAUDE_MEM_EMBEDDER", "hash"),
            ("CLAUDE_MEM_COMPRESSOR", "auto"),
            ("ANTHROPIC_API_KEY", ""),
            ("CLAUDE_CODE_OAUTH_TOKEN", ""),
            ("CLAUDE_CONFIG_DIR", ""),
            ("CLAUDE_MEM_CLAUDE_CODE_PATH", &cli.to_string_lossy()),
        ];
        let worker = Worker::start_with(&sandbox, &env);
        let (status, health) = get_json(&worker, "/api/health");
        assert_eq!(status, 200, "{health}");
        health["processor"]["compressor"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(compressor_with(false), "local");
    assert_eq!(compressor_with(true), "claude-code:haiku");
}
