//! `claude-mem mcp` driven by the official Python MCP SDK (tests/mcp_client.py), against a real worker
//! seeded through its hook endpoints: the client Claude Code would be, over real stdio, with real
//! memories. Also `claude-mem install --mcp`, which registers the server in `~/.claude.json`.
//!
//! The Python `mcp` package is required (scripts/setup.sh installs it): without it these tests fail
//! rather than skip, so a missing dependency cannot pass for a green run.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const WORKER_ENV: &[(&str, &str)] = &[
    ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
    ("CLAUDE_MEM_EMBEDDER", "hash"),
    ("CLAUDE_MEM_COMPRESSOR", "local"),
];

const CWD: &str = "/home/dev/work/acme-api";

/// One edit in session `s1`: the local compressor turns it into one observation about `file`.
fn edit(id: &str, file: &str, new: &str, prompt: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "UserPromptSubmit",
            json!({"session_id": "s1", "cwd": CWD, "prompt": prompt}),
        ),
        (
            "PostToolUse",
            json!({"session_id": "s1", "cwd": CWD, "tool_name": "Edit", "tool_use_id": id,
            "tool_input": {"file_path": format!("{CWD}/{file}"), "old_string": "todo!()", "new_string": new},
            "tool_response": {}}),
        ),
    ]
}

/// Three observations, in order, and waits until all are searchable.
fn seeded_worker(sandbox: &Sandbox) -> Worker {
    let worker = Worker::start_with(sandbox, WORKER_ENV);
    for (i, (file, code, prompt)) in [
        (
            "src/api/routes.rs",
            "fn list_orders() {}",
            "add the orders route",
        ),
        (
            "src/store/db.rs",
            "fn open_pool_with_wal() {}",
            "enable WAL in the store",
        ),
        ("src/queue/retry.rs", "fn backoff() {}", "retry failed jobs"),
    ]
    .into_iter()
    .enumerate()
    {
        for (event, body) in edit(&format!("t{i}"), file, code, prompt) {
            assert_eq!(post_hook(&worker, event, body.to_string()).0, 200);
        }
        // Separate batches keep the observations in this order.
        worker.wait_until_processed(Duration::from_secs(20));
    }
    let start = Instant::now();
    loop {
        let (_, health) = get_json(&worker, "/api/health");
        if health["index"]["documents"] == 3 && health["index"]["prompts"] == 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never indexed 3 observations and their prompts: {health}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    worker
}

/// Runs tests/mcp_client.py against `claude-mem mcp` on `port`; returns its report.
fn run_client(sandbox: &Sandbox, port: u16, args: &[&str]) -> Value {
    mcp_client_report(sandbox, &[("CLAUDE_MEM_PORT", &port.to_string())], args)
}

fn text(call: &Value) -> &str {
    call["text"].as_str().unwrap_or("")
}

fn assert_ok(call: &Value, what: &str) {
    assert_eq!(call["kind"], "result", "{what}: {call:#}");
    assert_eq!(call["is_error"], false, "{what}: {call:#}");
}

/// An error the model can read: a JSON-RPC error or an `isError` result, never a dead session.
fn assert_tool_error(call: &Value, what: &str) -> String {
    let message = match call["kind"].as_str() {
        Some("jsonrpc_error") => call["message"].as_str().unwrap_or("").to_owned(),
        Some("result") if call["is_error"] == true => text(call).to_owned(),
        _ => panic!("{what}: expected an error, got {call:#}"),
    };
    assert!(!message.trim().is_empty(), "{what}: empty error message");
    message
}

#[test]
fn the_python_sdk_lists_searches_reads_and_survives_bad_arguments() {
    let sandbox = Sandbox::new();
    let worker = seeded_worker(&sandbox);
    let report = run_client(&sandbox, worker.port, &["--query", "open pool with wal"]);

    let init = &report["initialize"];
    assert_eq!(init["server_name"], "claude-mem", "{init}");
    assert_eq!(init["has_tools"], true, "{init}");

    let tools = report["tools"].as_object().expect("tools/list answered");
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "forget",
            "get_observations",
            "save_memory",
            "search",
            "timeline"
        ]
    );
    for (name, required) in [
        ("search", json!(["query"])),
        ("get_observations", json!(["ids"])),
        ("save_memory", json!(["text"])),
        ("timeline", json!([])),
        ("forget", json!(["reason"])),
    ] {
        assert_eq!(tools[name]["type"], "object", "{name}");
        assert_eq!(tools[name]["required"], required, "{name}");
    }
    assert!(tools["search"]["description"]
        .as_str()
        .unwrap()
        .contains("tokens"));

    let search = &report["calls"]["search"];
    assert_ok(search, "search");
    assert!(text(search).contains("src/store/db.rs"), "{search:#}");
    let id = report["seeded_id"].as_i64().expect("an id in the index");
    let first_line = text(search).lines().nth(1).unwrap_or("");
    assert!(
        first_line.starts_with(&format!("#{id} · change · ")),
        "{first_line}"
    );

    let (_, stored) = get_json(&worker, &format!("/api/observations/{id}"));
    let narrative = stored["observation"]["narrative"].as_str().unwrap();
    let details = &report["calls"]["get_observations"];
    assert_ok(details, "get_observations");
    assert!(text(details).contains(narrative), "{details:#}");
    assert!(text(details).contains("Files modified: src/store/db.rs"));
    assert!(text(details).contains("Not found: #999999"), "{details:#}");

    // kind=prompt: what the user typed, as a full line without an observation id.
    let prompts = &report["calls"]["search_prompts"];
    assert_ok(prompts, "search kind=prompt");
    assert!(
        text(prompts).contains("\nprompt · \"enable WAL in the store\" · session s1 · "),
        "{prompts:#}"
    );
    assert!(!text(prompts).contains("\n#"), "{prompts:#}");
    // kind=all: observations and prompts in one list.
    let all = &report["calls"]["search_all"];
    assert_ok(all, "search kind=all");
    assert!(text(all).contains(&format!("\n#{id} · ")), "{all:#}");
    assert!(text(all).contains("\nprompt · "), "{all:#}");
    // file=: only the observation that touched it.
    let by_file = &report["calls"]["search_file"];
    assert_ok(by_file, "search file=");
    assert!(text(by_file).starts_with("1 memories"), "{by_file:#}");
    assert!(text(by_file).contains("src/store/db.rs"), "{by_file:#}");
    // order=newest: the last seeded edit first.
    let newest = &report["calls"]["search_newest"];
    assert_ok(newest, "search order=newest");
    assert!(text(newest).contains("newest first"), "{newest:#}");
    let lines: Vec<&str> = text(newest).lines().skip(1).collect();
    assert!(lines[0].contains("src/queue/retry.rs"), "{newest:#}");
    assert!(lines[2].contains("src/api/routes.rs"), "{newest:#}");

    let bad = report["bad"].as_object().expect("bad-argument calls ran");
    for (label, call) in bad {
        assert_tool_error(call, label);
    }
    assert!(assert_tool_error(&bad["search_bad_order"], "order").contains("oldest"));
    assert!(
        assert_tool_error(&bad["search_summary_with_type"], "kind+type").contains("observation")
    );
    assert!(assert_tool_error(&bad["search_missing_query"], "missing").contains("query"));
    assert!(assert_tool_error(&bad["search_limit_500"], "limit").contains("limit"));
    assert!(assert_tool_error(&bad["get_observations_empty"], "ids").contains("ids"));
    assert!(assert_tool_error(&bad["search_wrong_type"], "type").contains("string"));
    assert!(assert_tool_error(&bad["save_memory_too_long"], "long").contains("10000"));

    let after = &report["calls"]["search_after_errors"];
    assert_ok(after, "search after the errors");
    assert!(text(after).contains(&format!("#{id} ")), "{after:#}");
}

#[test]
fn timeline_and_save_memory_go_through_the_worker() {
    let sandbox = Sandbox::new();
    let worker = seeded_worker(&sandbox);
    let report = run_client(
        &sandbox,
        worker.port,
        &[
            "--query",
            "open pool with wal",
            "--note-word",
            "quokkacache",
        ],
    );
    let calls = &report["calls"];
    let id = report["seeded_id"].as_i64().expect("search found the seed");

    let timeline = &calls["timeline"];
    assert_ok(timeline, "timeline");
    let lines: Vec<&str> = text(timeline).lines().skip(1).collect();
    assert_eq!(
        lines.len(),
        3,
        "one before, the anchor, one after: {timeline:#}"
    );
    assert!(lines[1].starts_with(&format!("> #{id} ")), "{timeline:#}");
    assert!(lines[0].contains("src/api/routes.rs"), "{timeline:#}");
    assert!(lines[2].contains("src/queue/retry.rs"), "{timeline:#}");
    assert!(assert_tool_error(&calls["timeline_unknown_anchor"], "anchor").contains("999999"));
    assert_ok(&calls["timeline_by_date"], "timeline by date");
    assert!(text(&calls["timeline_by_date"]).contains("src/api/routes.rs"));

    let saved = &calls["save_memory"];
    assert_ok(saved, "save_memory");
    let saved_id = report["saved_id"]
        .as_i64()
        .expect("save_memory names the id");
    let found = &calls["search_saved"];
    assert_ok(found, "search for the saved note");
    assert!(text(found).contains(&format!("#{saved_id} ")), "{found:#}");
    let (status, stored) = get_json(&worker, &format!("/api/observations/{saved_id}"));
    assert_eq!(status, 200, "{stored}");
    // No project given: the MCP server's working directory decides.
    assert_eq!(stored["observation"]["project"], "mcp-proj", "{stored}");
    assert!(stored["observation"]["narrative"]
        .as_str()
        .unwrap_or("")
        .contains("quokkacache"));

    // A second note, saved and forgotten through the tools: gone from search and the store.
    let regret = report["regret_id"]
        .as_i64()
        .expect("the second save_memory names its id");
    let forgot = &calls["forget"];
    assert_ok(forgot, "forget");
    assert!(text(forgot).contains("Forgot 1 of 1"), "{forgot:#}");
    assert!(
        !text(&calls["search_forgotten"]).contains(&format!("#{regret} ")),
        "{:#}",
        calls["search_forgotten"]
    );
    let (status, _) = get_json(&worker, &format!("/api/observations/{regret}"));
    assert_eq!(status, 404);
    assert_eq!(
        get_json(&worker, &format!("/api/observations/{saved_id}")).0,
        200
    );
    let bad = &report["bad"];
    assert!(assert_tool_error(&bad["forget_no_reason"], "no reason").contains("reason"));
    assert!(assert_tool_error(&bad["forget_nothing"], "no ids").contains("1 to 50"));
    assert!(assert_tool_error(&bad["forget_too_many"], "too many").contains("1 to 50"));
}

#[test]
fn a_stopped_worker_is_a_clear_tool_error() {
    let sandbox = Sandbox::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let report = run_client(&sandbox, port, &["--scenario", "down"]);
    for call in ["search", "get_observations"] {
        let message = assert_tool_error(&report["calls"][call], call);
        assert!(
            message.contains(&format!("not running on 127.0.0.1:{port}"))
                && message.contains("claude-mem serve"),
            "{message}"
        );
    }
}

fn claude_json_backups(home: &Path) -> usize {
    std::fs::read_dir(home)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".claude.json.claude-mem-backup")
        })
        .count()
}

#[test]
fn install_mcp_registers_the_server_in_claude_json_and_uninstall_removes_it() {
    let sandbox = Sandbox::new();
    let path = sandbox.home().join(".claude.json");
    std::fs::create_dir_all(sandbox.home()).unwrap();
    let original = json!({
        "numStartups": 12,
        "projects": {"/home/dev/work/acme-api": {"allowedTools": ["Bash(npm test)"]}},
        "mcpServers": {"github": {"type": "stdio", "command": "npx", "args": ["-y", "github-mcp"]}}
    });
    std::fs::write(&path, serde_json::to_string_pretty(&original).unwrap()).unwrap();

    let out = sandbox
        .command()
        .args(["install", "--mcp"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ours = &installed["mcpServers"]["claude-mem"];
    assert_eq!(ours["args"], json!(["mcp"]), "{installed:#}");
    let command = Path::new(ours["command"].as_str().unwrap());
    assert!(command.is_absolute() && command.exists(), "{ours}");
    assert_eq!(
        installed["mcpServers"]["github"],
        original["mcpServers"]["github"]
    );
    assert_eq!(installed["projects"], original["projects"]);
    assert_eq!(installed["numStartups"], 12);
    assert_eq!(claude_json_backups(&sandbox.home()), 1);
    // The hooks went in as before.
    assert!(sandbox.home().join(".claude/settings.json").exists());

    // Again: nothing changes, no new backup.
    let out = sandbox
        .command()
        .args(["install", "--mcp"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("already registered"));
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(again, installed);
    assert_eq!(claude_json_backups(&sandbox.home()), 1);

    let out = sandbox.command().arg("uninstall").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(restored, original);

    // A machine that never ran Claude Code: the file is created, nothing to back up.
    let fresh = Sandbox::new();
    let out = fresh.command().args(["install", "--mcp"]).output().unwrap();
    assert!(out.status.success());
    let created: Value =
        serde_json::from_str(&std::fs::read_to_string(fresh.home().join(".claude.json")).unwrap())
            .unwrap();
    assert_eq!(created["mcpServers"]["claude-mem"]["args"], json!(["mcp"]));
    assert_eq!(claude_json_backups(&fresh.home()), 0);

    // A broken ~/.claude.json is refused and left as it was.
    std::fs::write(fresh.home().join(".claude.json"), "{oops").unwrap();
    let out = fresh.command().args(["install", "--mcp"]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(fresh.home().join(".claude.json")).unwrap(),
        "{oops"
    );
}
