//! `claude-mem migrate --to postgres://` and `install --server`, against the real binary and a private
//! PostgreSQL server (`TempCluster`: Debian's `postgresql` package, started by the test itself).
//!
//! The migration copies a store the local worker really made (hooks → rule-based compressor →
//! observations), so every column the copy maps is one the app writes.

use claude_mem_e2e::*;
use claude_mem_team::migrate::server_session_id;
use claude_mem_team::pg_cluster::TempCluster;
use serde_json::{json, Value};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const FAST: &[(&str, &str)] = &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")];
const TABLES: &[&str] = &[
    "sdk_sessions",
    "user_prompts",
    "pending_messages",
    "observations",
    "session_summaries",
    "llm_usage",
];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A store made by the real worker: several sessions of prompts, tool events, stops and ends (the local
/// compressor turns them into observations and summaries), the captured fixtures, a saved memory, and
/// usage rows and a NUL character seeded directly (the local compressor records no usage).
fn seed(sandbox: &Sandbox, sessions: usize) {
    let worker = Worker::start_with(sandbox, FAST);
    for i in 0..sessions {
        let session = format!("mig-{i:03}");
        let cwd = if i % 2 == 0 {
            "/home/dev/work/acme-api"
        } else {
            "/home/dev/work/acme-web"
        };
        let word = ["quokka", "wombat", "numbat", "bilby", "dingo"][i % 5];
        let mut events = vec![(
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": cwd, "prompt": format!("fix the {word} parser, take {i}")}),
        )];
        for t in 0..3 {
            events.push((
                "PostToolUse",
                json!({"session_id": session, "cwd": cwd, "tool_name": "Edit",
                       "tool_use_id": format!("{session}-t{t}"),
                       "tool_input": {"file_path": format!("{cwd}/src/{word}_{t}.rs"),
                                      "old_string": "todo!()", "new_string": format!("parse_{word}_{t}()")},
                       "tool_response": {}}),
            ));
        }
        events.push((
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Bash",
                   "tool_use_id": format!("{session}-bash"),
                   "tool_input": {"command": format!("cargo test {word}")},
                   "tool_response": {"stdout": format!("test {word} ... ok"), "stderr": ""}}),
        ));
        events.push(("Stop", json!({"session_id": session, "cwd": cwd})));
        if i % 3 == 0 {
            events.push((
                "SessionEnd",
                json!({"session_id": session, "cwd": cwd, "reason": "exit"}),
            ));
        }
        for (event, body) in events {
            let (status, answer) = post_hook(&worker, event, body.to_string());
            assert_eq!(status, 200, "{answer}");
        }
    }
    for (_, event, body) in fixtures() {
        let (status, answer) = post_hook(&worker, &event, body.to_string());
        assert!(status == 200 || status == 202, "{event}: {status} {answer}");
    }
    let response = http()
        .post(worker.url("/api/memories"))
        .json(&json!({ "text": "Capybara migrations run nightly", "project": "acme-api" }))
        .send()
        .expect("POST memory");
    assert!(response.status().is_success());
    worker.wait_until_processed(Duration::from_secs(60));
    assert!(worker.stop().success());
    exec_sql(
        &sandbox.database(),
        &[
            "INSERT INTO llm_usage (session_id, project, provider, model, purpose, input_tokens, output_tokens, cost_usd, created_at)
             VALUES ('mig-000', 'acme-api', 'anthropic', 'claude-haiku', 'observation', 1200, 300, 0.0021, 1700000000000)",
            "INSERT INTO llm_usage (session_id, project, provider, model, purpose, input_tokens, output_tokens, cost_usd, created_at)
             VALUES (NULL, NULL, 'local', 'minilm', 'embedding', 50, 0, 0, 1700000000001)",
            "UPDATE observations SET narrative = narrative || char(0) || ' after a NUL' WHERE id = (SELECT MIN(id) FROM observations)",
        ],
    );
}

fn migrate_cmd(sandbox: &Sandbox, url: &str, team: &str, user: &str) -> Output {
    sandbox
        .command()
        .args([
            "migrate", "--to", url, "--team", team, "--user", user, "--json",
        ])
        .output()
        .expect("run claude-mem migrate")
}

fn sqlite_counts(db: &Path) -> BTreeMap<String, i64> {
    TABLES
        .iter()
        .map(|t| {
            (
                t.to_string(),
                sqlite_count(db, &format!("SELECT COUNT(*) FROM {t}")),
            )
        })
        .collect()
}

async fn pg_counts(pool: &PgPool, team_id: Option<i64>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for t in TABLES {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {t} WHERE team_id = $1 OR $1 IS NULL"
        ))
        .bind(team_id)
        .fetch_one(pool)
        .await
        .expect("count");
        out.insert(t.to_string(), n);
    }
    out
}

/// Observations by a key the copy must keep, each with its events named by `event_key` (ids differ
/// between the two databases; the keys must not).
type ObsKey = (String, i64, String, String, String, i64);

/// `team_id`: the saved-memories session is renamed per team on the server.
fn sqlite_observations(db: &Path, team_id: i64) -> BTreeMap<ObsKey, Vec<String>> {
    let keys: HashMap<i64, String> = sqlite_rows(db, "SELECT id, event_key FROM pending_messages")
        .into_iter()
        .map(|r| {
            (
                r[0].as_i64().expect("id"),
                r[1].as_str().expect("key").to_owned(),
            )
        })
        .collect();
    sqlite_rows(
        db,
        "SELECT session_id, created_at, type, title, narrative, prompt_number, source_event_ids FROM observations",
    )
    .into_iter()
    .map(|r| {
        let ids: Vec<i64> =
            serde_json::from_str(r[6].as_str().expect("ids")).expect("source_event_ids JSON");
        (
            (
                server_session_id(r[0].as_str().expect("session").to_owned(), team_id),
                r[1].as_i64().expect("created"),
                r[2].as_str().expect("type").to_owned(),
                r[3].as_str().expect("title").to_owned(),
                r[4].as_str().expect("narrative").replace('\0', ""),
                r[5].as_i64().expect("prompt"),
            ),
            ids.iter().map(|i| keys[i].clone()).collect(),
        )
    })
    .collect()
}

async fn pg_observations(pool: &PgPool, team_id: i64) -> BTreeMap<ObsKey, Vec<String>> {
    let keys: HashMap<i64, String> =
        sqlx::query_as::<_, (i64, String)>("SELECT id, event_key FROM pending_messages")
            .fetch_all(pool)
            .await
            .expect("events")
            .into_iter()
            .collect();
    let rows = sqlx::query(
        "SELECT session_id, created_at, type, title, narrative, prompt_number, source_event_ids,
                embedding IS NULL AS unembedded
           FROM observations WHERE team_id = $1",
    )
    .bind(team_id)
    .fetch_all(pool)
    .await
    .expect("observations");
    rows.iter()
        .map(|r| {
            assert!(r.get::<bool, _>("unembedded"), "embeddings are left NULL");
            let ids: Value = r.get("source_event_ids");
            let ids: Vec<String> = ids
                .as_array()
                .expect("array")
                .iter()
                .map(|i| keys[&i.as_i64().expect("id")].clone())
                .collect();
            (
                (
                    r.get("session_id"),
                    r.get("created_at"),
                    r.get("type"),
                    r.get("title"),
                    r.get("narrative"),
                    r.get("prompt_number"),
                ),
                ids,
            )
        })
        .collect()
}

#[test]
fn migrate_copies_the_store_once_remaps_event_ids_and_refuses_another_teams_sessions() {
    let sandbox = Sandbox::new();
    seed(&sandbox, 8);
    let db = sandbox.database();
    let local = sqlite_counts(&db);
    for t in TABLES {
        assert!(local[*t] > 0, "the seed must fill {t}: {local:?}");
    }
    assert!(local["observations"] >= 8, "{local:?}");

    let cluster = TempCluster::start().expect("start PostgreSQL (apt-get install postgresql)");
    let rt = rt();
    let url = rt
        .block_on(cluster.create_database("migrate_main"))
        .expect("create database");

    let first: Value =
        serde_json::from_str(&ok(migrate_cmd(&sandbox, &url, "acme", "alice"))).expect("JSON");
    assert_eq!(first["created_team"], true, "{first}");
    assert_eq!(first["created_user"], true, "{first}");
    let token = first["token"]
        .as_str()
        .expect("a new user's token")
        .to_owned();
    assert!(token.starts_with("cm_"), "{token}");
    for t in TABLES {
        assert_eq!(first["tables"][t]["source"], local[*t], "{t}: {first}");
        assert_eq!(first["tables"][t]["inserted"], local[*t], "{t}: {first}");
        assert_eq!(first["tables"][t]["skipped"], 0, "{t}: {first}");
    }
    let team_id = first["owner"]["team_id"].as_i64().expect("team id");
    let user_id = first["owner"]["user_id"].as_i64().expect("user id");

    // The local side, read before the async block (the SQLite helpers run their own runtime).
    let local_observations = sqlite_observations(&db, team_id);
    let local_events: BTreeMap<String, (String, Value)> = sqlite_rows(
        &db,
        "SELECT event_key, session_id, payload FROM pending_messages",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].as_str().expect("key").to_owned(),
            (
                r[1].as_str().expect("session").to_owned(),
                serde_json::from_str(r[2].as_str().expect("payload")).expect("payload JSON"),
            ),
        )
    })
    .collect();
    let local_prompts: Vec<(String, i64, String)> = sqlite_rows(
        &db,
        "SELECT session_id, prompt_number, text FROM user_prompts ORDER BY session_id, prompt_number",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].as_str().expect("s").to_owned(),
            r[1].as_i64().expect("n"),
            r[2].as_str().expect("t").to_owned(),
        )
    })
    .collect();
    let local_titles: Vec<String> = sqlite_rows(
        &db,
        "SELECT learned || '|' || completed FROM session_summaries ORDER BY session_id, created_at",
    )
    .into_iter()
    .map(|r| r[0].as_str().expect("summary").to_owned())
    .collect();
    rt.block_on(async {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("connect");
        assert_eq!(pg_counts(&pool, Some(team_id)).await, local);
        // Rows carry the owner.
        for t in &TABLES[..5] {
            let foreign: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM {t} WHERE team_id <> $1 OR user_id <> $2"
            ))
            .bind(team_id)
            .bind(user_id)
            .fetch_one(&pool)
            .await
            .expect("owner check");
            assert_eq!(foreign, 0, "{t}");
        }
        // Same observations, and each one's events are the same events (by key) after remapping.
        assert_eq!(pg_observations(&pool, team_id).await, local_observations);
        let pg_events: BTreeMap<String, (String, Value)> =
            sqlx::query_as::<_, (String, String, Value)>(
                "SELECT event_key, session_id, payload FROM pending_messages",
            )
            .fetch_all(&pool)
            .await
            .expect("events")
            .into_iter()
            .map(|(k, s, p)| (k, (s, p)))
            .collect();
        assert_eq!(pg_events, local_events);
        let pg_prompts: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT session_id, prompt_number, text FROM user_prompts ORDER BY session_id, prompt_number",
        )
        .fetch_all(&pool)
        .await
        .expect("prompts");
        assert_eq!(pg_prompts, local_prompts);
        let pg_titles: Vec<String> = sqlx::query_scalar(
            "SELECT learned || '|' || completed FROM session_summaries ORDER BY session_id, created_at",
        )
        .fetch_all(&pool)
        .await
        .expect("summaries");
        assert_eq!(pg_titles, local_titles);
        // The saved memories' session is the team's own, so another team's same-named project cannot
        // collide with it.
        let notes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sdk_sessions WHERE id = $1")
            .bind(format!("notes:t{team_id}:acme-api"))
            .fetch_one(&pool)
            .await
            .expect("notes session");
        assert_eq!(notes, 1);
        // The copied rows are searchable with PostgreSQL's own full text.
        let hits: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM observations WHERE search_tsv @@ websearch_to_tsquery('english', 'capybara')",
        )
        .fetch_one(&pool)
        .await
        .expect("tsv");
        assert_eq!(hits, 1);
        // Only the hash of the printed token is stored.
        let stored: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_tokens t JOIN users u ON u.id = t.user_id
              WHERE u.name = 'alice' AND t.token_hash = encode(sha256($1::bytea), 'hex')",
        )
        .bind(token.as_bytes())
        .fetch_one(&pool)
        .await
        .expect("token");
        assert_eq!(stored, 1);
        pool.close().await;
    });

    // Twice: nothing new, no second token.
    let second: Value =
        serde_json::from_str(&ok(migrate_cmd(&sandbox, &url, "acme", "alice"))).expect("JSON");
    assert_eq!(second["created_user"], false, "{second}");
    assert!(second.get("token").is_none(), "{second}");
    for t in TABLES {
        assert_eq!(second["tables"][t]["inserted"], 0, "{t}: {second}");
        assert_eq!(second["tables"][t]["skipped"], local[*t], "{t}: {second}");
    }

    // Another team cannot take these sessions: a clear error, and nothing written (not even the team).
    let before = rt.block_on(async {
        let pool = PgPool::connect(&url).await.expect("connect");
        let c = pg_counts(&pool, None).await;
        pool.close().await;
        c
    });
    let out = migrate_cmd(&sandbox, &url, "beta", "bob");
    assert!(!out.status.success(), "another team must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another team") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    rt.block_on(async {
        let pool = PgPool::connect(&url).await.expect("connect");
        assert_eq!(pg_counts(&pool, None).await, before);
        let teams: Vec<String> = sqlx::query_scalar("SELECT name FROM teams ORDER BY name")
            .fetch_all(&pool)
            .await
            .expect("teams");
        assert_eq!(teams, vec!["acme".to_owned()]);
        pool.close().await;
    });

    // The text report (what a person reads) shows the per-table counts and never a token it did not make.
    let text = ok(sandbox
        .command()
        .args(["migrate", "--to", &url, "--team", "acme", "--user", "alice"])
        .output()
        .expect("migrate"));
    assert!(text.contains("observations"), "{text}");
    assert!(!text.contains("cm_"), "{text}");
}

/// A minimal HTTP server for one request: returns what it received (request line, headers, body) and
/// answers `answer`.
fn one_request_server(answer: &'static str) -> (u16, std::thread::JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("length");
                }
            }
            head.push_str(&line);
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).expect("body");
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .expect("answer");
        (head, String::from_utf8(body).expect("utf-8 body"))
    });
    (port, handle)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn install_against_a_team_server_keeps_the_token_private_and_the_hook_sends_the_bearer() {
    let sandbox = Sandbox::new();
    let settings = sandbox.home().join(".claude").join("settings.json");
    let team_file = sandbox.data_dir().join("team-server.json");
    let token = "cm_0123456789abcdef";

    // A dry run shows the hooks but not the token.
    let dry = ok(sandbox
        .command()
        .args([
            "install",
            "--server",
            "https://team.example:443/",
            "--token",
            token,
            "--dry-run",
        ])
        .output()
        .expect("install --dry-run"));
    assert!(dry.contains(" hook Stop"), "{dry}");
    assert!(!dry.contains(token), "{dry}");
    assert!(!settings.exists() && !team_file.exists());

    let out = ok(sandbox
        .command()
        .args([
            "install",
            "--server",
            "https://team.example:443/",
            "--token",
            token,
        ])
        .output()
        .expect("install"));
    assert!(
        !out.contains(token),
        "the token is never printed back: {out}"
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).expect("settings")).expect("JSON");
    // Command hooks for every event, as for the local worker: they read the server and token from
    // team-server.json, so settings.json never holds the token.
    let hooks = written["hooks"].as_object().expect("hooks");
    for (event, groups) in hooks {
        let handler = &groups[0]["hooks"][0];
        assert_eq!(handler["type"], "command", "{event}: {handler}");
        let command = handler["command"].as_str().expect("command");
        assert!(command.ends_with(&format!("hook {event}")), "{command}");
    }
    assert!(hooks.len() >= 8, "{written}");
    assert!(!written.to_string().contains(token), "{written}");
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(&team_file).expect("team-server.json"))
            .expect("JSON");
    assert_eq!(record["server"], "https://team.example:443");
    assert_eq!(record["token"], token);
    #[cfg(unix)]
    {
        assert_eq!(mode(&team_file), 0o600, "team-server.json holds the token");
    }
    // Installing again is a no-op; --server without a token is refused.
    let again = ok(sandbox
        .command()
        .args([
            "install",
            "--server",
            "https://team.example:443",
            "--token",
            token,
        ])
        .output()
        .expect("install"));
    assert!(again.contains("already installed"), "{again}");
    let refused = sandbox
        .command()
        .args(["install", "--server", "https://team.example:443"])
        .env_remove("CLAUDE_MEM_TOKEN")
        .output()
        .expect("install");
    assert!(!refused.status.success());

    // The command hook with the server and token in its environment sends the bearer header.
    let fixture =
        std::fs::read_to_string(fixtures_dir().join("SessionStart.startup.json")).expect("fixture");
    let context = r#"{"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":"team memories"}}"#;
    let (port, server) = one_request_server(context);
    let mut cmd = sandbox.command();
    cmd.env("CLAUDE_MEM_SERVER", format!("http://127.0.0.1:{port}"))
        .env("CLAUDE_MEM_TOKEN", "cm_from_env");
    let (out, _) = run_hook(cmd, "SessionStart", &fixture);
    assert!(out.status.success());
    let (head, body) = server.join().expect("server thread");
    assert!(
        head.starts_with("POST /hooks/SessionStart HTTP/1.1"),
        "{head}"
    );
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("authorization: Bearer cm_from_env")),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("body"),
        serde_json::from_str::<Value>(&fixture).expect("fixture")
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), context);

    // Without the environment, the file `install --server` wrote is what the command hook follows.
    let (port, server) = one_request_server("{}");
    ok(sandbox
        .command()
        .args([
            "install",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--token",
            "cm_from_file",
        ])
        .output()
        .expect("install"));
    let (out, _) = run_hook(sandbox.command(), "SessionStart", &fixture);
    // The server's empty answer is passed on as `{}` (what an http hook gave Claude Code).
    assert!(out.status.success() && out.stdout == b"{}", "{out:?}");
    let (head, _) = server.join().expect("server thread");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("authorization: Bearer cm_from_file")),
        "{head}"
    );

    // Server down: silent, exit 0, within the budget (fail open).
    let mut cmd = sandbox.command();
    cmd.env(
        "CLAUDE_MEM_SERVER",
        format!("http://127.0.0.1:{}", closed_port()),
    )
    .env("CLAUDE_MEM_TOKEN", token);
    let (out, took) = run_hook(cmd, "SessionStart", &fixture);
    assert!(out.status.success(), "{:?}", out.status);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    // Back to the local worker: the team hooks and the token file go.
    ok(sandbox
        .command()
        .env("CLAUDE_MEM_PORT", closed_port().to_string())
        .arg("install")
        .output()
        .expect("install"));
    assert!(!team_file.exists());
    let text = std::fs::read_to_string(&settings).expect("settings");
    assert!(
        !text.contains("cm_from_file") && text.contains(" hook Stop"),
        "{text}"
    );
    ok(sandbox
        .command()
        .args([
            "install",
            "--server",
            "https://team.example:443",
            "--token",
            token,
        ])
        .output()
        .expect("install"));
    ok(sandbox
        .command()
        .arg("uninstall")
        .output()
        .expect("uninstall"));
    assert!(!team_file.exists());
    // The first install created the settings file, so uninstall removes it with the token in it.
    assert!(
        !settings.exists(),
        "uninstall left the settings file install created: {:?}",
        std::fs::read_to_string(&settings)
    );
}
