//! A real Claude Code session: the pinned CLI (scripts/setup.sh installs it into `tests/.claude-code/`),
//! talking to a scripted model (the mock Messages API, streaming), with claude-mem wired in the two ways
//! users do — `claude-mem install --mcp`, and the plugin (`--plugin-dir`) — and the real worker behind it.
//!
//! The model runs a Bash command, then calls claude-mem's own `search` tool, then answers. Claude Code runs
//! our hooks and our MCP server for real; afterwards the worker must hold the session and the Bash call
//! (compressed into an observation), and nothing at all of the search call: a lookup in memory is not
//! work to remember (issue 16). Claude Code's debug log must show no hook error.
//!
//! Without the CLI this test fails rather than skips, so a missing dependency cannot pass for a green run.

use claude_mem_e2e::*;
use claude_mem_llm::mock::{anthropic_message, anthropic_stream, MockLlm, MockReply};
use claude_mem_llm::Usage;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WORKER_ENV: &[(&str, &str)] = &[
    ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
    ("CLAUDE_MEM_EMBEDDER", "hash"),
    ("CLAUDE_MEM_COMPRESSOR", "local"),
];

const BASH_ID: &str = "toolu_e2e_bash_01";
const SEARCH_ID: &str = "toolu_e2e_search_01";
/// What the model runs: harmless in the session's own project directory, and worth an observation.
const BASH_COMMAND: &str = "mkdir -p notes && touch notes/wal-decision.md";
const PROMPT: &str = "Start a notes folder, then look up what we decided about WAL mode.";

/// The ids of every tool call that already has its result in the conversation.
fn answered_tool_calls(request: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for message in request["messages"].as_array().into_iter().flatten() {
        for block in message["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" {
                if let Some(id) = block["tool_use_id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        }
    }
    ids
}

/// The scripted model. Stateless (each answer follows from the conversation Claude Code sends), so
/// retries and side requests cannot throw it off: Bash first, then claude-mem's search, then a final
/// answer. A request without the Bash tool (anything but the main loop) gets a plain "OK".
fn script(mock: &MockLlm, search_tool: &str) {
    let search_tool = search_tool.to_owned();
    let answers = Arc::new(AtomicUsize::new(0));
    mock.set_default(move |req| {
        let n = answers.fetch_add(1, Ordering::Relaxed);
        let model = req.model().unwrap_or("claude-mock");
        let usage = Usage {
            input_tokens: 50,
            output_tokens: 10,
            ..Usage::default()
        };
        let tools: Vec<&str> = req.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let answered = answered_tool_calls(&req.body);
        let (content, stop) = if !tools.contains(&"Bash") {
            (json!([{"type": "text", "text": "OK"}]), "end_turn")
        } else if !answered.iter().any(|id| id == BASH_ID) {
            (
                json!([{"type": "tool_use", "id": BASH_ID, "name": "Bash",
                    "input": {"command": BASH_COMMAND, "description": "Create the notes folder"}}]),
                "tool_use",
            )
        } else if !answered.iter().any(|id| id == SEARCH_ID) {
            (
                json!([{"type": "tool_use", "id": SEARCH_ID, "name": search_tool,
                    "input": {"query": "WAL mode decision"}}]),
                "tool_use",
            )
        } else {
            (
                json!([{"type": "text", "text": "The notes folder is ready; memory had nothing on WAL yet."}]),
                "end_turn",
            )
        };
        // Claude Code merges answers that share an id: each gets its own.
        let message = anthropic_message(&format!("msg_e2e_{n:03}"), model, content, stop, usage);
        if req.wants_stream() {
            anthropic_stream(&message)
        } else {
            MockReply::ok(message)
        }
    });
}

/// One `claude -p` run in `project`, confined to the sandbox's HOME; returns the stream-json lines and
/// the debug log.
fn run_claude(
    sandbox: &Sandbox,
    worker: &Worker,
    mock: &MockLlm,
    project: &Path,
    extra_args: &[&str],
) -> (Vec<Value>, String) {
    let dir = sandbox.dir.path();
    let debug_file = dir.join("claude-debug.log");
    let stdout_file = dir.join("claude-stdout.jsonl");
    let stderr_file = dir.join("claude-stderr.txt");
    let mut child = claude_code_session(sandbox, project, worker.port, &mock.base_url(), PROMPT)
        .arg("--debug-file")
        .arg(&debug_file)
        .args(extra_args)
        .stdout(std::fs::File::create(&stdout_file).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
        .spawn()
        .expect("spawn claude");
    let status = wait_with_deadline(&mut child, Duration::from_secs(180));
    let stdout = std::fs::read_to_string(&stdout_file).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    let debug = std::fs::read_to_string(&debug_file).unwrap_or_default();
    assert!(
        status.success(),
        "claude exited with {status}\nstderr: {stderr}\nstdout: {stdout}\ndebug tail: {}",
        tail(&debug, 4000)
    );
    let lines = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (lines, debug)
}

fn tail(text: &str, bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The detector against lines Claude Code 2.1.197 really wrote (a hook to a closed port, a command hook
/// exiting 1, an http hook answering non-JSON), and against its lines for hooks that went well.
#[test]
fn hook_errors_are_recognised_in_claude_codes_debug_log() {
    let bad = [
        r#"2026-12-02T21:12:51.767Z [ERROR] Hooks: HTTP hook error: connect ECONNREFUSED 127.0.0.1:1"#,
        r#"2026-12-02T21:12:51.768Z [DEBUG] "Hook UserPromptSubmit (UserPromptSubmit) error:\nconnect ECONNREFUSED 127.0.0.1:1""#,
        r#"2026-12-02T21:12:51.907Z [DEBUG] "Hook Stop (Stop) error:\nbad\n""#,
        r#"2026-12-02T21:12:51.938Z [DEBUG] "HTTP hook must return JSON, but got non-JSON response body: event: message_start""#,
        r#"2026-12-02T21:12:51.938Z [ERROR] "SessionEnd:other [http://127.0.0.1:38112/nope] failed to run: HTTP hook must return JSON""#,
    ];
    let good = [
        r#"2026-12-02T21:12:35.983Z [WARN] [3P telemetry] Event dropped (no event logger initialized): hook_execution_start"#,
        r#"2026-12-02T21:12:36.374Z [DEBUG] Hooks: HTTP hook POST to http://127.0.0.1:35787/hooks/UserPromptSubmit"#,
        r#"2026-12-02T21:12:36.421Z [DEBUG] Hooks: HTTP hook response status 200, body length 2"#,
        r#"2026-12-02T21:12:37.179Z [DEBUG] "Hook PostToolUse:mcp__claude-mem__search (PostToolUse) success:\n{}""#,
        r#"2026-12-02T21:12:36.248Z [DEBUG] Successfully parsed and validated hook JSON output"#,
    ];
    let log = [bad.as_slice(), good.as_slice()].concat().join("\n");
    assert_eq!(claude_code_hook_errors(&log), bad);
}

/// Runs one session with claude-mem registered by `setup`, and checks what the worker kept.
fn session_leaves_no_trace_of_the_search(
    search_tool: &str,
    setup: impl FnOnce(&Sandbox, &Worker) -> Vec<String>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mock = rt.block_on(MockLlm::start()).expect("mock Messages API");
    script(&mock, search_tool);
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, WORKER_ENV);
    std::fs::create_dir_all(sandbox.home()).unwrap();
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({"hasCompletedOnboarding": true}).to_string(),
    )
    .unwrap();
    let extra_args = setup(&sandbox, &worker);
    let project = sandbox.dir.path().join("work/acme-api");
    std::fs::create_dir_all(&project).unwrap();

    let extra: Vec<&str> = extra_args.iter().map(String::as_str).collect();
    let (lines, debug) = run_claude(&sandbox, &worker, &mock, &project, &extra);

    // Claude Code connected our MCP server, offered its tools to the model, and ran the script through.
    let init = lines
        .iter()
        .find(|l| l["type"] == "system" && l["subtype"] == "init")
        .unwrap_or_else(|| panic!("no init line: {lines:?}"));
    let session_id = init["session_id"].as_str().expect("session id").to_owned();
    assert!(
        init["mcp_servers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["status"] == "connected"),
        "claude-mem's MCP server did not connect: {}",
        init["mcp_servers"]
    );
    let main_requests: Vec<Value> = mock
        .requests()
        .into_iter()
        .filter(|r| r.is_anthropic())
        .map(|r| r.body)
        .filter(|b| {
            b["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["name"] == "Bash"))
        })
        .collect();
    assert!(
        main_requests.iter().all(|b| b["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == search_tool)),
        "the model was not offered {search_tool}"
    );
    let result = lines.last().expect("stream-json output");
    assert_eq!(result["type"], "result", "{result}");
    assert_eq!(result["is_error"], false, "{result}");
    let tool_results: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "user")
        .flat_map(|l| l["message"]["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_result")
        .collect();
    for id in [BASH_ID, SEARCH_ID] {
        let r = tool_results
            .iter()
            .find(|b| b["tool_use_id"] == id)
            .unwrap_or_else(|| panic!("no result for {id}: {tool_results:?}"));
        assert_ne!(r["is_error"], true, "{id} failed: {r}");
    }
    let errors = claude_code_hook_errors(&debug);
    assert!(
        errors.is_empty(),
        "Claude Code logged hook errors:\n{}",
        errors.join("\n")
    );
    // Every hook of the turn ran and Claude Code read its answer as a success — the skipped search too.
    for hook in [
        "SessionStart:startup (SessionStart)".to_owned(),
        "UserPromptSubmit (UserPromptSubmit)".to_owned(),
        "PostToolUse:Bash (PostToolUse)".to_owned(),
        format!("PostToolUse:{search_tool} (PostToolUse)"),
        "Stop (Stop)".to_owned(),
    ] {
        assert!(
            debug.contains(&format!("\"Hook {hook} success:")),
            "no successful {hook} hook in Claude Code's debug log:\n{}",
            tail(&debug, 6000)
        );
    }

    // The worker: the session, its prompt and the Bash call, compressed; nothing of the search.
    worker.wait_until_processed(Duration::from_secs(30));
    let db = sandbox.database();
    let sessions = sqlite_rows(&db, "SELECT id, project FROM sdk_sessions");
    assert_eq!(sessions, vec![vec![json!(session_id), json!("acme-api")]]);
    let stored: Vec<Vec<Value>> = sqlite_rows(
        &db,
        "SELECT id, event_name, tool_name, payload FROM pending_messages ORDER BY id",
    );
    let names: Vec<&str> = stored.iter().map(|r| r[1].as_str().unwrap()).collect();
    for expected in ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"] {
        assert!(names.contains(&expected), "no {expected} stored: {names:?}");
    }
    let bash = stored
        .iter()
        .find(|r| r[2] == "Bash")
        .unwrap_or_else(|| panic!("the Bash call was not captured: {names:?}"));
    assert!(bash[3].as_str().unwrap().contains(BASH_ID));
    for row in &stored {
        let tool = row[2].as_str().unwrap_or("");
        assert!(
            !tool.contains("claude-mem") && !row[3].as_str().unwrap().contains(SEARCH_ID),
            "the search call was stored: {row:?}"
        );
    }
    let observations = sqlite_rows(&db, "SELECT title, source_event_ids FROM observations");
    assert!(
        observations.iter().any(|o| {
            serde_json::from_str::<Vec<Value>>(o[1].as_str().unwrap())
                .unwrap()
                .contains(&bash[0])
        }),
        "the Bash call made no observation: {observations:?}"
    );
    assert!(
        observations
            .iter()
            .all(|o| !o[0].as_str().unwrap().contains("claude-mem")),
        "an observation of claude-mem's own tool: {observations:?}"
    );

    // The search really reached the worker, and its PostToolUse was counted as skipped.
    let metrics = metrics_text(&worker);
    // Summed over label sets: `claude_mem_search_latency_ms_count{strategy="…"}`.
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    assert!(
        value("claude_mem_search_latency_ms_count{") >= 1.0,
        "the MCP search never reached the worker:\n{metrics}"
    );
    assert!(
        value("claude_mem_hook_events_skipped_total{reason=\"own_tool\"}") >= 1.0,
        "no own-tool event was skipped:\n{metrics}"
    );
}

/// `claude-mem install --mcp`: hooks in `~/.claude/settings.json`, the server in `~/.claude.json`, so the
/// model sees `mcp__claude-mem__search`.
#[test]
fn installed_session_keeps_bash_and_drops_its_own_search() {
    session_leaves_no_trace_of_the_search("mcp__claude-mem__search", |sandbox, worker| {
        let out = sandbox
            .command()
            .args(["install", "--mcp"])
            .env("CLAUDE_MEM_PORT", worker.port.to_string())
            .output()
            .expect("claude-mem install");
        ok(out);
        Vec::new()
    });
}

/// The plugin (`plugin/`, loaded with `--plugin-dir`), its hooks pointed at this worker's port: the
/// model sees `mcp__plugin_claude-mem_claude-mem__search`.
#[test]
fn plugin_session_keeps_bash_and_drops_its_own_search() {
    session_leaves_no_trace_of_the_search(
        "mcp__plugin_claude-mem_claude-mem__search",
        |sandbox, _worker| {
            let copy = plugin_copy(sandbox.dir.path(), None);
            vec!["--plugin-dir".into(), copy.to_string_lossy().into_owned()]
        },
    );
}
