//! `claude-mem export` / `import` against the real binary: an export imported into a fresh data
//! directory is an exact copy and searchable, importing twice adds nothing, bad files are refused whole,
//! and the original (TypeScript) claude-mem's database is recognised, left untouched by the worker, and
//! imported.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

const FAST: &[(&str, &str)] = &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")];
const TABLES: &[&str] = &[
    "sdk_sessions",
    "user_prompts",
    "pending_messages",
    "observations",
    "session_summaries",
    "llm_usage",
];

fn cli(sandbox: &Sandbox, port: &str, args: &[&str]) -> Output {
    sandbox
        .command()
        .env("CLAUDE_MEM_PORT", port)
        .args(args)
        .output()
        .expect("run claude-mem")
}

fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn table_rows(db: &Path, table: &str) -> Vec<Vec<Value>> {
    sqlite_rows(db, &format!("SELECT * FROM {table} ORDER BY rowid"))
}

fn search_titles(worker: &Worker, q: &str) -> Vec<String> {
    let (status, answer) = get_json(worker, &format!("/api/search?q={q}&mode=text&limit=20"));
    assert_eq!(status, 200, "{answer}");
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["observation"]["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn wait_found(worker: &Worker, q: &str, expect: &str) {
    let start = Instant::now();
    while !search_titles(worker, q).iter().any(|t| t.contains(expect)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{q:?} never found {expect:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sessions with prompts, hook events, observations and summaries (the local compressor makes them), and a
/// saved memory; the worker is stopped on return.
fn seed(sandbox: &Sandbox) {
    let worker = Worker::start_with(sandbox, FAST);
    for (session, file, word) in [
        ("s-one", "src/quokka.rs", "quokka"),
        ("s-two", "src/wombat.rs", "wombat"),
    ] {
        let cwd = "/home/dev/work/acme-api";
        let events = [
            (
                "UserPromptSubmit",
                json!({"session_id": session, "cwd": cwd, "prompt": format!("fix the {word} parser")}),
            ),
            (
                "PostToolUse",
                json!({"session_id": session, "cwd": cwd, "tool_name": "Edit", "tool_use_id": format!("{session}-t1"),
                "tool_input": {"file_path": format!("{cwd}/{file}"), "old_string": "todo!()", "new_string": format!("parse_{word}()")},
                "tool_response": {}}),
            ),
            ("Stop", json!({"session_id": session, "cwd": cwd})),
        ];
        for (event, body) in events {
            let (status, answer) = post_hook(&worker, event, body.to_string());
            assert_eq!(status, 200, "{answer}");
        }
    }
    let response = http()
        .post(worker.url("/api/memories"))
        .json(&json!({ "text": "Capybara migrations run nightly", "project": "acme-api" }))
        .send()
        .expect("POST memory");
    assert!(response.status().is_success());
    worker.wait_until_processed(Duration::from_secs(30));
    assert!(worker.stop().success());
}

#[test]
fn export_then_import_is_an_exact_searchable_copy_and_importing_twice_adds_nothing() {
    let source = Sandbox::new();
    seed(&source);
    let port = closed_port().to_string();
    let file = source.dir.path().join("memories.jsonl");
    ok(cli(
        &source,
        &port,
        &["export", "--out", file.to_str().expect("utf-8")],
    ));
    let text = std::fs::read_to_string(&file).expect("export");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("header")).expect("JSON");
    assert_eq!(header["format"], "claude-mem-export");
    assert_eq!(header["version"], 1);
    assert!(header["app_version"].is_string() && header["exported_at"].is_i64());
    let db = source.database();
    for table in TABLES {
        let n = sqlite_count(&db, &format!("SELECT COUNT(*) FROM {table}"));
        assert_eq!(header["tables"][table], n, "{table} count in {header}");
        let in_file = lines
            .clone()
            .filter(|l| serde_json::from_str::<Value>(l).expect("row JSON")["table"] == *table)
            .count();
        assert_eq!(in_file as i64, n, "{table} lines");
    }
    assert!(sqlite_count(&db, "SELECT COUNT(*) FROM observations") >= 3);
    assert!(sqlite_count(&db, "SELECT COUNT(*) FROM pending_messages") >= 6);

    let target = Sandbox::new();
    let first = ok(cli(
        &target,
        &port,
        &["import", file.to_str().expect("utf-8"), "--json"],
    ));
    let report: Value = serde_json::from_str(&first).expect("report JSON");
    assert!(report["observation_ids"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    for table in TABLES {
        assert_eq!(
            table_rows(&db, table),
            table_rows(&target.database(), table),
            "{table} differs after import"
        );
    }
    let again: Value = serde_json::from_str(&ok(cli(
        &target,
        &port,
        &["import", file.to_str().expect("utf-8"), "--json"],
    )))
    .expect("report JSON");
    for (table, t) in again["tables"].as_object().expect("tables") {
        assert_eq!(t["inserted"], 0, "{table} grew on re-import: {again}");
    }
    for table in TABLES {
        assert_eq!(
            table_rows(&db, table),
            table_rows(&target.database(), table)
        );
    }

    let worker = Worker::start_with(&target, FAST);
    wait_found(&worker, "quokka", "quokka");
    wait_found(&worker, "capybara", "Capybara");
}

#[test]
fn a_project_export_holds_only_that_project() {
    let source = Sandbox::new();
    seed(&source);
    let port = closed_port().to_string();
    let out = ok(cli(&source, &port, &["export", "--project", "nowhere"]));
    let header: Value = serde_json::from_str(out.lines().next().expect("header")).expect("JSON");
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    assert_eq!(header["tables"]["observations"], 0);
}

#[test]
fn bad_files_are_refused_whole_with_a_clear_reason() {
    let sandbox = Sandbox::new();
    let port = closed_port().to_string();
    let dir = sandbox.dir.path();
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let cases = [
        (write("v99.jsonl", "{\"format\":\"claude-mem-export\",\"version\":99}\n"), "version 99"),
        (write("other.jsonl", "{\"format\":\"something-else\",\"version\":1}\n"), "not a claude-mem export"),
        (write("garbage.jsonl", "hello\n"), "not a claude-mem export"),
        (write("empty.jsonl", ""), "not a claude-mem export"),
        (
            write(
                "badline.jsonl",
                "{\"format\":\"claude-mem-export\",\"version\":1}\n{\"table\":\"observations\"}\n",
            ),
            "line 2",
        ),
        (
            write(
                "badtable.jsonl",
                "{\"format\":\"claude-mem-export\",\"version\":1}\n{\"table\":\"secrets\",\"row\":{\"id\":1}}\n",
            ),
            "secrets",
        ),
    ];
    for (path, expect) in &cases {
        let err = failed(cli(
            &sandbox,
            &port,
            &["import", path.to_str().expect("utf-8")],
        ));
        assert!(err.contains(expect), "{}: {err}", path.display());
    }
    // A row the schema rejects (an unknown observation type) after good rows: nothing is kept.
    let partial = write(
        "partial.jsonl",
        &[
            json!({"format": "claude-mem-export", "version": 1}).to_string(),
            json!({"table": "sdk_sessions", "row": {"id": "s-x", "project": "p", "started_at": 1, "last_seen_at": 1}}).to_string(),
            json!({"table": "observations", "row": {"id": 1, "session_id": "s-x", "project": "p", "type": "gossip",
                "title": "t", "compressor": "local", "created_at": 1}}).to_string(),
        ]
        .join("\n"),
    );
    let err = failed(cli(
        &sandbox,
        &port,
        &["import", partial.to_str().expect("utf-8")],
    ));
    assert!(err.contains("line 3"), "{err}");
    assert_eq!(
        sqlite_count(&sandbox.database(), "SELECT COUNT(*) FROM sdk_sessions"),
        0
    );
    let err = failed(cli(
        &sandbox,
        &port,
        &["import", dir.join("missing.jsonl").to_str().expect("utf-8")],
    ));
    assert!(err.contains("cannot open"), "{err}");
}

/// The original claude-mem's tables, as its `src/services/sqlite/schema.sql` creates them.
const ORIGINAL_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS schema_versions (
      id INTEGER PRIMARY KEY,
      version INTEGER UNIQUE NOT NULL,
      applied_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS sdk_sessions (
      id                  INTEGER PRIMARY KEY AUTOINCREMENT,
      content_session_id  TEXT    UNIQUE NOT NULL,
      memory_session_id   TEXT    UNIQUE,
      project             TEXT    NOT NULL,
      platform_source     TEXT    NOT NULL DEFAULT 'claude',
      user_prompt         TEXT,
      started_at          TEXT    NOT NULL,
      started_at_epoch    INTEGER NOT NULL,
      completed_at        TEXT,
      completed_at_epoch  INTEGER,
      status              TEXT    NOT NULL DEFAULT 'active'
                                  CHECK(status IN ('active', 'completed', 'failed')),
      worker_port         INTEGER,
      prompt_counter      INTEGER DEFAULT 0,
      custom_title        TEXT
    )",
    "CREATE TABLE IF NOT EXISTS observations (
      id                   INTEGER PRIMARY KEY AUTOINCREMENT,
      memory_session_id    TEXT    NOT NULL,
      project              TEXT    NOT NULL,
      text                 TEXT,
      type                 TEXT    NOT NULL,
      title                TEXT,
      subtitle             TEXT,
      facts                TEXT,
      narrative            TEXT,
      concepts             TEXT,
      files_read           TEXT,
      files_modified       TEXT,
      prompt_number        INTEGER,
      discovery_tokens     INTEGER DEFAULT 0,
      content_hash         TEXT,
      agent_type           TEXT,
      agent_id             TEXT,
      merged_into_project  TEXT,
      generated_by_model   TEXT,
      metadata             TEXT,
      created_at           TEXT    NOT NULL,
      created_at_epoch     INTEGER NOT NULL,
      FOREIGN KEY(memory_session_id) REFERENCES sdk_sessions(memory_session_id)
        ON DELETE CASCADE ON UPDATE CASCADE,
      UNIQUE(memory_session_id, content_hash)
    )",
    "CREATE TABLE IF NOT EXISTS session_summaries (
      id                   INTEGER PRIMARY KEY AUTOINCREMENT,
      memory_session_id    TEXT    NOT NULL,
      project              TEXT    NOT NULL,
      request              TEXT,
      investigated         TEXT,
      learned              TEXT,
      completed            TEXT,
      next_steps           TEXT,
      files_read           TEXT,
      files_edited         TEXT,
      notes                TEXT,
      prompt_number        INTEGER,
      discovery_tokens     INTEGER DEFAULT 0,
      merged_into_project  TEXT,
      created_at           TEXT    NOT NULL,
      created_at_epoch     INTEGER NOT NULL,
      FOREIGN KEY(memory_session_id) REFERENCES sdk_sessions(memory_session_id)
        ON DELETE CASCADE ON UPDATE CASCADE
    )",
    "CREATE TABLE IF NOT EXISTS pending_messages (
      id                       INTEGER PRIMARY KEY AUTOINCREMENT,
      session_db_id            INTEGER NOT NULL,
      content_session_id       TEXT    NOT NULL,
      tool_use_id              TEXT,
      message_type             TEXT    NOT NULL
                                       CHECK(message_type IN ('observation', 'summarize')),
      tool_name                TEXT,
      tool_input               TEXT,
      tool_response            TEXT,
      cwd                      TEXT,
      last_user_message        TEXT,
      last_assistant_message   TEXT,
      prompt_number            INTEGER,
      status                   TEXT    NOT NULL DEFAULT 'pending'
                                       CHECK(status IN ('pending', 'processing')),
      created_at_epoch         INTEGER NOT NULL,
      agent_type               TEXT,
      agent_id                 TEXT,
      FOREIGN KEY (session_db_id) REFERENCES sdk_sessions(id) ON DELETE CASCADE
    )",
    "CREATE TABLE IF NOT EXISTS user_prompts (
      id                 INTEGER PRIMARY KEY AUTOINCREMENT,
      content_session_id TEXT    NOT NULL,
      prompt_number      INTEGER NOT NULL,
      prompt_text        TEXT    NOT NULL,
      created_at         TEXT    NOT NULL,
      created_at_epoch   INTEGER NOT NULL,
      FOREIGN KEY(content_session_id) REFERENCES sdk_sessions(content_session_id) ON DELETE CASCADE
    )",
];

const ORIGINAL_ROWS: &[&str] = &[
    "INSERT INTO schema_versions (version, applied_at) VALUES (35, '2026-01-01T00:00:00Z')",
    "INSERT INTO sdk_sessions (content_session_id, memory_session_id, project, started_at, started_at_epoch,
         completed_at, completed_at_epoch, status, prompt_counter)
     VALUES ('cc-1111', 'mem-1111', 'legacy-app', '2026-01-05T10:00:00Z', 1767607200000,
         '2026-01-05T11:00:00Z', 1767610800000, 'completed', 2)",
    "INSERT INTO observations (memory_session_id, project, text, type, title, subtitle, facts, narrative,
         concepts, files_read, files_modified, prompt_number, created_at, created_at_epoch)
     VALUES ('mem-1111', 'legacy-app', NULL, 'bugfix', 'Fixed the narwhal cache eviction', 'LRU off by one',
         '[\"evicted one entry too many\"]', 'The narwhal cache evicted its newest entry.', '[\"caching\"]',
         '[\"src/cache.ts\"]', '[\"src/cache.ts\"]', 1, '2026-01-05T10:10:00Z', 1767607800000)",
    "INSERT INTO observations (memory_session_id, project, text, type, title, created_at, created_at_epoch)
     VALUES ('mem-1111', 'legacy-app', 'Pelican deploys need the staging flag', 'gotcha', NULL,
         '2026-01-05T10:20:00Z', 1767608400000)",
    "INSERT INTO session_summaries (memory_session_id, project, request, investigated, learned, completed,
         next_steps, notes, prompt_number, created_at, created_at_epoch)
     VALUES ('mem-1111', 'legacy-app', 'fix the cache', 'cache.ts', 'off by one', 'fixed', 'add a test',
         'ask about TTL', 2, '2026-01-05T11:00:00Z', 1767610800000)",
    "INSERT INTO user_prompts (content_session_id, prompt_number, prompt_text, created_at, created_at_epoch)
     VALUES ('cc-1111', 1, 'why does the cache drop entries?', '2026-01-05T10:00:00Z', 1767607200000)",
    "INSERT INTO user_prompts (content_session_id, prompt_number, prompt_text, created_at, created_at_epoch)
     VALUES ('cc-1111', 2, 'write the fix', '2026-01-05T10:30:00Z', 1767609000000)",
    "INSERT INTO pending_messages (session_db_id, content_session_id, message_type, created_at_epoch)
     VALUES (1, 'cc-1111', 'observation', 1767607200000)",
];

#[test]
fn the_original_claude_mem_database_is_left_untouched_then_imported_and_searchable() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.data_dir()).expect("data dir");
    let db = sandbox.database();
    let mut statements: Vec<&str> = ORIGINAL_DDL.to_vec();
    statements.extend_from_slice(ORIGINAL_ROWS);
    exec_sql(&db, &statements);
    let before = std::fs::read(&db).expect("read db");

    // The worker finds a foreign database where its own belongs: it refuses, says what to do, and
    // changes nothing.
    let port = closed_port().to_string();
    let err = failed(cli(&sandbox, &port, &["serve", "--port", "0"]));
    assert!(err.contains("original"), "{err}");
    assert!(err.contains("import --from-original"), "{err}");
    assert_eq!(
        std::fs::read(&db).expect("read db"),
        before,
        "the file was modified"
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'"
        ),
        0
    );

    let out = ok(cli(
        &sandbox,
        &port,
        &["import", "--from-original", db.to_str().expect("utf-8")],
    ));
    assert!(out.contains("observations"), "{out}");
    let aside: Vec<PathBuf> = std::fs::read_dir(sandbox.data_dir())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("claude-mem.db.original-")
                    && !n.ends_with("-wal")
                    && !n.ends_with("-shm")
            })
        })
        .collect();
    assert_eq!(aside.len(), 1, "the original is kept aside: {aside:?}");
    assert_eq!(
        std::fs::read(&aside[0]).expect("read"),
        before,
        "the backup is the original file"
    );

    let ours = sandbox.database();
    assert_eq!(sqlite_count(&ours, "SELECT COUNT(*) FROM observations"), 2);
    assert_eq!(
        sqlite_count(&ours, "SELECT COUNT(*) FROM session_summaries"),
        1
    );
    assert_eq!(sqlite_count(&ours, "SELECT COUNT(*) FROM user_prompts"), 2);
    assert_eq!(
        sqlite_count(&ours, "SELECT COUNT(*) FROM pending_messages"),
        0
    );
    let rows = sqlite_rows(
        &ours,
        "SELECT session_id, project, type, title, narrative, facts, created_at FROM observations ORDER BY created_at",
    );
    assert_eq!(
        rows[0],
        vec![
            json!("cc-1111"),
            json!("legacy-app"),
            json!("bugfix"),
            json!("Fixed the narwhal cache eviction"),
            json!("The narwhal cache evicted its newest entry."),
            json!("[\"evicted one entry too many\"]"),
            json!(1767607800000_i64)
        ]
    );
    assert_eq!(rows[1][2], json!("change"), "unknown types become change");
    assert_eq!(rows[1][3], json!("Pelican deploys need the staging flag"));

    // Again, from the kept copy: nothing new.
    let again: Value = serde_json::from_str(&ok(cli(
        &sandbox,
        &port,
        &[
            "import",
            "--from-original",
            aside[0].to_str().expect("utf-8"),
            "--json",
        ],
    )))
    .expect("JSON");
    for (table, counts) in again["tables"].as_object().expect("tables") {
        assert_eq!(counts[1], 0, "{table} grew: {again}");
    }
    assert_eq!(sqlite_count(&ours, "SELECT COUNT(*) FROM observations"), 2);

    let worker = Worker::start_with(&sandbox, FAST);
    wait_found(&worker, "narwhal", "narwhal");
    wait_found(&worker, "pelican", "Pelican");
}

#[test]
fn import_from_original_refuses_a_file_that_is_not_one() {
    let sandbox = Sandbox::new();
    let port = closed_port().to_string();
    let not_db = sandbox.dir.path().join("notes.txt");
    std::fs::write(&not_db, "just text, no tables here").expect("write");
    let err = failed(cli(
        &sandbox,
        &port,
        &["import", "--from-original", not_db.to_str().expect("utf-8")],
    ));
    assert!(err.contains("notes.txt"), "{err}");
    let err = failed(cli(&sandbox, &port, &["import"]));
    assert!(
        err.contains("--from-original") || err.contains("FILE"),
        "{err}"
    );
}
