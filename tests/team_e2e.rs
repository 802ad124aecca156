//! Team mode end to end: the real `claude-mem serve --database postgres://…` against a private
//! PostgreSQL server, teams and tokens made by the real `claude-mem team` commands, real HTTP.
//!
//! Each test starts its own throwaway PostgreSQL (`TempCluster`), so the tests share nothing and the
//! server goes away with the test. Nothing here measures time: every wait polls until a deadline.

use claude_mem_e2e::team::{database, runtime, team_cli, team_worker, user_token};
use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const CWD: &str = "/home/dev/work/acme-api";
const PROJECT: &str = "acme-api";
const DEADLINE: Duration = Duration::from_secs(120);

/// Rows of a query run directly against the database (not through the API), as JSON values.
fn pg_rows(url: &str, sql: &str) -> Vec<Vec<Value>> {
    use sqlx::{Connection, Row};
    runtime().block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect(sql);
        let out = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        row.try_get::<i64, _>(i)
                            .map(Value::from)
                            .or_else(|_| row.try_get::<String, _>(i).map(Value::from))
                            .or_else(|_| row.try_get::<bool, _>(i).map(Value::from))
                            .unwrap_or(Value::Null)
                    })
                    .collect()
            })
            .collect();
        conn.close().await.expect("close");
        out
    })
}

fn pg_count(url: &str, sql: &str) -> i64 {
    pg_rows(url, sql)[0][0]
        .as_i64()
        .unwrap_or_else(|| panic!("{sql} gave no number"))
}

fn post(worker: &Worker, token: Option<&str>, event: &str, body: &Value) -> (u16, Value) {
    let mut request = http()
        .post(worker.url(&format!("/hooks/{event}")))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().expect("POST hook");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
    (status, json)
}

fn get(worker: &Worker, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut request = http().get(worker.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().expect("GET");
    let status = response.status().as_u16();
    (status, response.json().expect("JSON body"))
}

fn prompt(session: &str, text: &str) -> Value {
    json!({"session_id": session, "cwd": CWD, "hook_event_name": "UserPromptSubmit", "prompt": text})
}

/// An Edit of `file` introducing `symbol`: the local compressor makes one memory per edited file.
fn edit(session: &str, tool_use_id: &str, file: &str, symbol: &str) -> Value {
    json!({"session_id": session, "cwd": CWD, "hook_event_name": "PostToolUse",
        "tool_name": "Edit", "tool_use_id": tool_use_id,
        "tool_input": {"file_path": format!("{CWD}/{file}"), "old_string": "todo!()",
                       "new_string": format!("fn {symbol}() {{}}")},
        "tool_response": {}})
}

fn wait_for<T>(what: &str, probe: impl FnMut() -> Result<T, String>) -> T {
    poll(what, DEADLINE, Duration::from_millis(100), probe)
}

/// Every queued event handled and every observation embedded (read from the database).
fn wait_settled(url: &str) {
    wait_for("queue drained and observations embedded", || {
        let open = pg_count(
            url,
            "SELECT COUNT(*) FROM pending_messages WHERE state IN ('pending', 'processing')",
        );
        let unembedded = pg_count(
            url,
            "SELECT COUNT(*) FROM observations WHERE embedding IS NULL",
        );
        if open == 0 && unembedded == 0 {
            Ok(())
        } else {
            Err(format!(
                "{open} events open, {unembedded} observations unembedded"
            ))
        }
    });
}

fn result_ids(answer: &Value) -> Vec<i64> {
    answer["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["observation"]["id"].as_i64())
                .collect()
        })
        .unwrap_or_default()
}

fn search(worker: &Worker, token: &str, q: &str, strategy: &str) -> Value {
    let (status, answer) = get(
        worker,
        Some(token),
        &format!(
            "/api/search?q={}&strategy={strategy}&limit=10",
            q.replace(' ', "%20")
        ),
    );
    assert_eq!(status, 200, "{answer}");
    // The laptop's answer: `mode`, and `results[]` of `{kind, score, …, observation}`.
    assert_eq!(answer["mode"], strategy, "{answer}");
    answer
}

/// Waits until `strategy` search for `q` on `worker` returns `id`.
fn wait_found(worker: &Worker, token: &str, q: &str, strategy: &str, id: i64) -> Value {
    wait_for(&format!("{strategy} search {q:?} finds #{id}"), || {
        let answer = search(worker, token, q, strategy);
        if result_ids(&answer).contains(&id) {
            Ok(answer)
        } else {
            Err(answer.to_string())
        }
    })
}

/// The id of the (single) observation that edited `file`.
fn observation_of(url: &str, file: &str) -> i64 {
    let sql = format!(
        "SELECT id FROM observations WHERE files_modified @> '[\"{file}\"]'::jsonb ORDER BY id"
    );
    let rows = pg_rows(url, &sql);
    assert_eq!(rows.len(), 1, "one observation edits {file}: {rows:?}");
    rows[0][0].as_i64().expect("id")
}

#[test]
fn hooks_become_searchable_team_memories_and_need_a_token() {
    let (_cluster, url) = database("team_path");
    let sandbox = Sandbox::new();
    let token = user_token(&sandbox, &url, "acme", "alice", true);
    let worker = team_worker(&sandbox, &url);

    let (status, health) = get(&worker, None, "/api/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["backend"], "postgres");
    assert_eq!(health["vectors"]["mode"], "replica-hnsw");
    assert!(
        health["replica"].as_str().is_some_and(|r| !r.is_empty()),
        "{health}"
    );

    // No token, a malformed header, an unknown token: refused before anything is stored.
    let event = edit("team-s1", "toolu_nope", "src/nope.rs", "never_stored");
    let (status, answer) = post(&worker, None, "PostToolUse", &event);
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("unauthorized")),
        "{answer}"
    );
    let wrong = format!("cm_{}", "0".repeat(64));
    let (status, answer) = post(&worker, Some(&wrong), "PostToolUse", &event);
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("unauthorized")),
        "{answer}"
    );
    let response = http()
        .post(worker.url("/hooks/PostToolUse"))
        .header("authorization", format!("Basic {token}"))
        .body(event.to_string())
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 401);
    for path in [
        "/api/search?q=x",
        "/api/observations",
        "/api/observations/1",
    ] {
        let (status, answer) = get(&worker, Some(&wrong), path);
        assert_eq!(status, 401, "{path}: {answer}");
    }
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM pending_messages"), 0);
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM sdk_sessions"), 0);

    // Claude Code's captured payloads, every one accepted with the token.
    for (file, event, body) in fixtures() {
        let (status, answer) = post(&worker, Some(&token), &event, &body);
        assert_eq!(status, 200, "{file}: {answer}");
        if event == "SessionStart" {
            assert!(
                answer["hookSpecificOutput"]["additionalContext"].is_string(),
                "{file}: {answer}"
            );
        }
    }
    let stored = pg_count(&url, "SELECT COUNT(*) FROM pending_messages");
    assert!(stored >= 10, "fixtures stored: {stored}");
    // A redelivered event is stored once.
    let (_, first, body) = fixtures().into_iter().next().expect("a fixture");
    assert_eq!(post(&worker, Some(&token), &first, &body).0, 200);
    assert_eq!(
        pg_count(&url, "SELECT COUNT(*) FROM pending_messages"),
        stored
    );

    for body in [
        prompt("team-s1", "make the flamingo ledger reconcile every night"),
        edit(
            "team-s1",
            "toolu_f1",
            "src/flamingo/ledger.rs",
            "reconcile_flamingo_ledger",
        ),
    ] {
        let event = body["hook_event_name"].as_str().expect("name").to_owned();
        assert_eq!(post(&worker, Some(&token), &event, &body).0, 200);
    }
    wait_settled(&url);
    let id = observation_of(&url, "src/flamingo/ledger.rs");
    assert_eq!(
        pg_count(&url, &format!("SELECT COUNT(*) FROM observations WHERE id = {id} AND team_id = (SELECT id FROM teams WHERE name = 'acme')")),
        1
    );

    for strategy in ["text", "hybrid"] {
        let answer = wait_found(&worker, &token, "flamingo ledger", strategy, id);
        let hit = &answer["results"][0];
        assert_eq!(hit["kind"], "observation", "{answer}");
        assert_eq!(hit["observation"]["id"], id, "{answer}");
        assert_eq!(
            hit["observation"]["files_modified"][0], "src/flamingo/ledger.rs",
            "{answer}"
        );
        assert!(hit["score"].as_f64().is_some_and(|s| s > 0.0), "{answer}");
    }
    wait_found(&worker, &token, "reconcile flamingo ledger", "vector", id);
    let (status, answer) = get(
        &worker,
        Some(&token),
        "/api/search?q=flamingo&strategy=psychic",
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_query"))
    );
    // Filters are checked and applied, as on the laptop.
    for bad in ["since=garbage", "type=poem", "kind=diary", "order=random"] {
        let (status, answer) = get(
            &worker,
            Some(&token),
            &format!("/api/search?q=flamingo&{bad}"),
        );
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_query")),
            "{bad}: {answer}"
        );
    }
    let (_, answer) = get(
        &worker,
        Some(&token),
        "/api/search?q=flamingo%20ledger&mode=text&since=1d",
    );
    assert!(result_ids(&answer).contains(&id), "{answer}");
    let (_, answer) = get(
        &worker,
        Some(&token),
        "/api/search?q=flamingo%20ledger&mode=text&until=1d",
    );
    assert!(result_ids(&answer).is_empty(), "until a day ago: {answer}");
    let (_, answer) = get(
        &worker,
        Some(&token),
        "/api/search?q=flamingo%20ledger&mode=text&file=ledger.rs",
    );
    assert!(result_ids(&answer).contains(&id), "{answer}");
    let (_, answer) = get(
        &worker,
        Some(&token),
        "/api/search?q=flamingo%20ledger&mode=text&file=other.rs",
    );
    assert!(result_ids(&answer).is_empty(), "{answer}");
    let (_, answer) = get(
        &worker,
        Some(&token),
        "/api/search?q=flamingo%20ledger&mode=text&kind=prompt",
    );
    assert!(
        result_ids(&answer).is_empty(),
        "prompts are not shared: {answer}"
    );

    let (status, list) = get(
        &worker,
        Some(&token),
        &format!("/api/observations?project={PROJECT}"),
    );
    assert_eq!(status, 200, "{list}");
    assert!(
        list["observations"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["id"] == id)),
        "{list}"
    );
    let (status, one) = get(&worker, Some(&token), &format!("/api/observations/{id}"));
    assert_eq!(
        (status, one["observation"]["id"].as_i64()),
        (200, Some(id)),
        "{one}"
    );
    let (status, _) = get(&worker, Some(&token), "/api/observations/999999");
    assert_eq!(status, 404);

    // A new session of the project starts with the team's memories.
    let start = json!({"session_id": "team-s2", "cwd": CWD, "hook_event_name": "SessionStart", "source": "startup"});
    let (status, answer) = post(&worker, Some(&token), "SessionStart", &start);
    assert_eq!(status, 200, "{answer}");
    let context = answer["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .expect("additionalContext");
    assert!(context.contains("src/flamingo/ledger.rs"), "{context}");

    wait_settled(&url);
    let (_, anonymous) = get(&worker, None, "/api/health");
    assert!(anonymous["counts"].is_null(), "{anonymous}");
    assert!(anonymous["pid"].is_null(), "{anonymous}");
    let (_, health) = get(&worker, Some(&token), "/api/health");
    assert_eq!(health["counts"]["pending_events"], 0, "{health}");
    assert!(
        health["counts"]["observations"]
            .as_i64()
            .is_some_and(|n| n >= 1),
        "{health}"
    );
    assert!(
        health["vectors"]["indexed"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{health}"
    );
    // The laptop's scrape-time gauges, which the shipped alert rules read, from PostgreSQL.
    let scrape = http()
        .get(worker.url("/metrics"))
        .send()
        .expect("GET /metrics")
        .text()
        .expect("metrics text");
    let gauge = |name: &str| -> f64 {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{scrape}"))
    };
    assert_eq!(gauge("claude_mem_queue_depth"), 0.0);
    assert!(gauge("claude_mem_observations_count") >= 1.0);
    assert!(gauge("claude_mem_db_size_mb") > 1.0, "PostgreSQL's size");
    assert!(gauge("claude_mem_tokens_cost_usd") >= 0.0);
    assert!(gauge("claude_mem_vector_count") >= 1.0);
    assert!(gauge("claude_mem_sessions_total") >= 1.0);
    assert!(worker.stop().success());
}

#[test]
fn two_replicas_share_one_database_without_duplicates_or_losses() {
    const THREADS: usize = 16;
    const PER_THREAD: usize = 8;
    let (_cluster, url) = database("team_replicas");
    let sandbox1 = Sandbox::new();
    let sandbox2 = Sandbox::new();
    let token = user_token(&sandbox1, &url, "acme", "alice", true);
    let worker1 = team_worker(&sandbox1, &url);

    // Alone, replica 1 embeds this one itself.
    for body in [
        prompt("seed", "teach the pelican scheduler to back off"),
        edit(
            "seed",
            "toolu_seed",
            "src/pelican/scheduler.rs",
            "pelican_backoff_scheduler",
        ),
    ] {
        let event = body["hook_event_name"].as_str().expect("name").to_owned();
        assert_eq!(post(&worker1, Some(&token), &event, &body).0, 200);
    }
    wait_settled(&url);
    let seed = observation_of(&url, "src/pelican/scheduler.rs");

    let worker2 = team_worker(&sandbox2, &url);
    let workers = [&worker1, &worker2];
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let token = token.as_str();
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            // Four sessions, each fed by four threads through both replicas.
                            let body = edit(
                                &format!("conc-{}", t % 4),
                                &format!("toolu_{t}_{i}"),
                                &format!("src/conc/mod_{t}_{i}.rs"),
                                &format!("handler_{t}_{i}"),
                            );
                            post(workers[(t + i) % 2], Some(token), "PostToolUse", &body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    assert_eq!(answers.len(), THREADS * PER_THREAD);
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
    }

    // Each event stored exactly once.
    let per_key = pg_rows(
        &url,
        "SELECT payload->>'tool_use_id', COUNT(*) FROM pending_messages
         WHERE session_id LIKE 'conc-%' GROUP BY 1",
    );
    assert_eq!(per_key.len(), THREADS * PER_THREAD, "{per_key:?}");
    assert!(per_key.iter().all(|r| r[1] == 1), "{per_key:?}");

    // Everything processed, by one replica or the other, and nothing twice.
    wait_settled(&url);
    let states = pg_rows(
        &url,
        "SELECT state, COUNT(*) FROM pending_messages GROUP BY state ORDER BY state",
    );
    assert!(
        states.iter().all(|r| r[0] == "done" || r[0] == "skipped"),
        "{states:?}"
    );
    let repeated = pg_rows(
        &url,
        "SELECT e, COUNT(*) FROM observations, jsonb_array_elements(source_event_ids) e
         GROUP BY e HAVING COUNT(*) > 1",
    );
    assert!(
        repeated.is_empty(),
        "events in several observations: {repeated:?}"
    );
    let covered = pg_count(
        &url,
        "SELECT COUNT(DISTINCT e) FROM observations, jsonb_array_elements(source_event_ids) e
         WHERE session_id LIKE 'conc-%'",
    );
    assert_eq!(
        covered,
        (THREADS * PER_THREAD) as i64,
        "every edit became part of a memory"
    );
    // The local rules make one memory per piece of work, not per call: every edited file is in
    // exactly one memory's files, whichever replica wrote it.
    let files = pg_rows(
        &url,
        "SELECT f, COUNT(*) FROM observations, jsonb_array_elements_text(files_modified) f
         WHERE session_id LIKE 'conc-%' GROUP BY f",
    );
    assert_eq!(files.len(), THREADS * PER_THREAD, "{files:?}");
    assert!(
        files.iter().all(|r| r[1] == 1),
        "a file in several memories: {files:?}"
    );

    // Both replicas' graphs hold every vector, whichever replica embedded it.
    let total = pg_count(&url, "SELECT COUNT(*) FROM observations");
    for (n, worker) in workers.iter().enumerate() {
        wait_for(
            &format!("replica {} indexes all {total} vectors", n + 1),
            || {
                let (_, health) = get(worker, None, "/api/health");
                if health["vectors"]["indexed"].as_i64() == Some(total) {
                    Ok(())
                } else {
                    Err(health.to_string())
                }
            },
        );
    }
    // Replica 2 finds what replica 1 embedded before it started, and both find the concurrent ones.
    wait_found(
        &worker2,
        &token,
        "pelican backoff scheduler",
        "vector",
        seed,
    );
    wait_found(
        &worker2,
        &token,
        "pelican backoff scheduler",
        "hybrid",
        seed,
    );
    let last = observation_of(&url, "src/conc/mod_15_7.rs");
    wait_found(&worker1, &token, "handler_15_7", "hybrid", last);
    wait_found(&worker2, &token, "handler_15_7", "hybrid", last);

    let (_, h1) = get(&worker1, None, "/api/health");
    let (_, h2) = get(&worker2, None, "/api/health");
    assert_ne!(h1["replica"], h2["replica"]);
    assert!(worker2.stop().success());
    assert!(worker1.stop().success());
    assert_eq!(
        pg_count(
            &url,
            "SELECT COUNT(*) FROM sdk_sessions WHERE claimed_by IS NOT NULL"
        ),
        0,
        "a clean shutdown hands claims back"
    );
}

#[test]
fn teams_cannot_see_or_write_each_others_memories() {
    let (_cluster, url) = database("team_isolation");
    let sandbox = Sandbox::new();
    let red = user_token(&sandbox, &url, "red", "rita", true);
    let blue = user_token(&sandbox, &url, "blue", "bob", true);
    let worker = team_worker(&sandbox, &url);

    for (token, session, file, symbol, words) in [
        (
            &blue,
            "blue-s1",
            "src/zeppelin/hangar.rs",
            "moor_zeppelin_hangar",
            "moor the zeppelin",
        ),
        (
            &red,
            "red-s1",
            "src/walrus/tusk.rs",
            "polish_walrus_tusk",
            "polish the walrus",
        ),
    ] {
        for body in [
            prompt(session, words),
            edit(session, &format!("toolu_{session}"), file, symbol),
        ] {
            let event = body["hook_event_name"].as_str().expect("name").to_owned();
            assert_eq!(post(&worker, Some(token), &event, &body).0, 200);
        }
    }
    wait_settled(&url);
    let blue_id = observation_of(&url, "src/zeppelin/hangar.rs");
    let red_id = observation_of(&url, "src/walrus/tusk.rs");
    // Blue finds its own memory, so red finding nothing below is isolation, not an empty index.
    for strategy in ["text", "vector", "hybrid"] {
        wait_found(&worker, &blue, "moor zeppelin hangar", strategy, blue_id);
        wait_found(&worker, &red, "polish walrus tusk", strategy, red_id);
    }
    for strategy in ["text", "vector", "hybrid"] {
        let answer = search(&worker, &red, "moor zeppelin hangar", strategy);
        assert!(
            !result_ids(&answer).contains(&blue_id),
            "{strategy}: {answer}"
        );
        let answer = search(&worker, &blue, "polish walrus tusk", strategy);
        assert!(
            !result_ids(&answer).contains(&red_id),
            "{strategy}: {answer}"
        );
    }
    let (status, list) = get(&worker, Some(&red), "/api/observations?limit=500");
    assert_eq!(status, 200);
    let seen: HashSet<i64> = list["observations"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|o| o["id"].as_i64())
        .collect();
    assert!(seen.contains(&red_id) && !seen.contains(&blue_id), "{list}");
    let (status, answer) = get(&worker, Some(&red), &format!("/api/observations/{blue_id}"));
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("not_found")),
        "{answer}"
    );
    assert_eq!(
        get(
            &worker,
            Some(&blue),
            &format!("/api/observations/{blue_id}")
        )
        .0,
        200
    );

    // Red writing into blue's session is refused and stores nothing.
    let events_per_session = || -> HashMap<String, i64> {
        pg_rows(
            &url,
            "SELECT session_id, COUNT(*) FROM pending_messages GROUP BY session_id",
        )
        .into_iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or("").to_owned(),
                r[1].as_i64().unwrap_or(0),
            )
        })
        .collect()
    };
    let before = events_per_session();
    let intrusion = edit(
        "blue-s1",
        "toolu_intruder",
        "src/zeppelin/hangar.rs",
        "sabotage",
    );
    let (status, answer) = post(&worker, Some(&red), "PostToolUse", &intrusion);
    assert_eq!(
        (status, answer["error"].as_str()),
        (403, Some("forbidden")),
        "{answer}"
    );
    let (status, _) = post(
        &worker,
        Some(&red),
        "UserPromptSubmit",
        &prompt("blue-s1", "hijack"),
    );
    assert_eq!(status, 403);
    let after = events_per_session();
    assert_eq!(before, after);
    let red_team = pg_count(&url, "SELECT id FROM teams WHERE name = 'red'");
    assert_eq!(
        pg_count(&url, &format!("SELECT COUNT(*) FROM pending_messages WHERE session_id = 'blue-s1' AND team_id = {red_team}")),
        0
    );

    // A revoked token stops working at once.
    let out = team_cli(&sandbox, &url, &["revoke", &red]);
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(get(&worker, Some(&red), "/api/observations").0, 401);
    assert_eq!(get(&worker, Some(&blue), "/api/observations").0, 200);
    let failed = sandbox
        .command()
        .args(["team", "revoke", &red, "--database", &url])
        .output()
        .expect("run");
    assert!(!failed.status.success(), "revoking twice must fail");
}

/// A teammate's laptop after `claude-mem install --server URL --token T --mcp`: `search`, `doctor` and
/// the MCP server (driven by the official Python SDK client, as Claude Code would) all talk to the team
/// server with that token, answer with the teammate's memories, and never touch a stranger's worker
/// listening on the local port.
#[test]
fn a_members_search_doctor_and_mcp_tools_use_the_team_server_only() {
    let (_cluster, url) = database("members");
    let admin = Sandbox::new();
    let bob = user_token(&admin, &url, "acme", "bob", true);
    let alice = user_token(&admin, &url, "acme", "alice", false);
    let worker = team_worker(&admin, &url);
    for body in [
        prompt(
            "member-s1",
            "make the flamingo ledger reconcile every night",
        ),
        edit(
            "member-s1",
            "toolu_m1",
            "src/flamingo/ledger.rs",
            "reconcile_flamingo_ledger",
        ),
    ] {
        let event = body["hook_event_name"].as_str().expect("name").to_owned();
        assert_eq!(post(&worker, Some(&bob), &event, &body).0, 200);
    }
    wait_settled(&url);
    let bobs = observation_of(&url, "src/flamingo/ledger.rs");
    wait_found(&worker, &bob, "flamingo ledger", "text", bobs);

    // Alice's laptop: a stranger's server on the port her own worker would use.
    let laptop = Sandbox::new();
    let decoy = Decoy::start();
    let decoy_port = decoy.port.to_string();
    let team_url = worker.url("");
    let team_url = team_url.trim_end_matches('/');
    ok(laptop
        .command()
        .env("CLAUDE_MEM_PORT", &decoy_port)
        .args(["install", "--mcp", "--server", team_url, "--token", &alice])
        .output()
        .expect("install --server"));

    let out = ok(laptop
        .command()
        .env("CLAUDE_MEM_PORT", &decoy_port)
        .args(["search", "flamingo ledger", "--mode", "text", "--json"])
        .output()
        .expect("search"));
    let answer: Value = serde_json::from_str(&out).expect("search --json prints JSON");
    assert_eq!(result_ids(&answer), vec![bobs], "{answer}");
    // Every team observation says who recorded it.
    assert_eq!(
        answer["results"][0]["observation"]["author"], "bob",
        "{answer}"
    );

    let out = laptop
        .command()
        .env("CLAUDE_MEM_PORT", &decoy_port)
        .args(["doctor", "--json"])
        .output()
        .expect("doctor");
    let report: Value = serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON");
    assert!(out.status.success(), "{report:#}");
    let checks = report["checks"].as_array().expect("checks");
    let team_check = checks
        .iter()
        .find(|c| c["name"] == "team server")
        .unwrap_or_else(|| panic!("no team server check: {report:#}"));
    assert_eq!(team_check["status"], "ok", "{report:#}");
    assert!(
        checks.iter().all(|c| c["name"] != "worker"),
        "doctor checked the local worker: {report:#}"
    );

    // The MCP server: every tool answers from the team, forget included.
    let report = mcp_client_report(
        &laptop,
        &[("CLAUDE_MEM_PORT", &decoy_port)],
        &["--query", "flamingo ledger", "--note-word", "pelicanledger"],
    );
    let calls = &report["calls"];
    let text = |name: &str| calls[name]["text"].as_str().unwrap_or("").to_owned();
    let ok_call = |name: &str| {
        assert_eq!(calls[name]["kind"], "result", "{name}: {:#}", calls[name]);
        assert_eq!(calls[name]["is_error"], false, "{name}: {:#}", calls[name]);
    };
    for name in [
        "search",
        "get_observations",
        "timeline",
        "save_memory",
        "search_saved",
        "save_regret",
        "forget",
        "search_forgotten",
    ] {
        ok_call(name);
    }
    assert!(text("forget").starts_with("Forgot 1 of 1"), "{report:#}");
    let regret = report["regret_id"].as_i64().expect("the second note's id");
    assert!(
        !text("search_forgotten").contains(&format!("#{regret} ")),
        "{report:#}"
    );
    assert_eq!(
        pg_count(
            &url,
            &format!("SELECT COUNT(*) FROM observations WHERE id = {regret}")
        ),
        0
    );
    assert_eq!(report["seeded_id"], bobs, "{report:#}");
    assert!(
        text("search").contains("src/flamingo/ledger.rs"),
        "{report:#}"
    );
    assert!(
        text("get_observations").contains("src/flamingo/ledger.rs"),
        "{report:#}"
    );
    assert!(
        text("timeline").contains(&format!("> #{bobs} ")),
        "{report:#}"
    );
    let saved = report["saved_id"].as_i64().expect("save_memory gave an id");
    assert!(
        text("search_saved").contains(&format!("#{saved} ")),
        "{report:#}"
    );
    let (_, note) = get(&worker, Some(&bob), &format!("/api/observations/{saved}"));
    assert_eq!(note["observation"]["author"], "alice", "{note}");
    // The note is Alice's, in the team's store, and Bob finds it.
    assert_eq!(
        pg_rows(
            &url,
            &format!("SELECT u.name FROM observations o JOIN users u ON u.id = o.user_id WHERE o.id = {saved}")
        ),
        vec![vec![json!("alice")]]
    );
    wait_found(&worker, &bob, "pelicanledger cache", "text", saved);

    assert_eq!(decoy.hits(), 0, "something was sent to the local port");

    // Alice's laptop is lost: an administrator finds her token by user and label and revokes it by id.
    let users: Value = serde_json::from_str(&team_cli(
        &admin,
        &url,
        &["users", "--team", "acme", "--json"],
    ))
    .expect("users --json");
    let count = |name: &str| {
        users
            .as_array()
            .and_then(|u| u.iter().find(|u| u["name"] == name))
            .map(|u| (u["live_tokens"].clone(), u["observations"].clone()))
    };
    // Alice saved two notes through MCP and forgot the second.
    assert_eq!(count("alice"), Some((json!(1), json!(1))), "{users:#}");
    assert_eq!(count("bob").map(|c| c.0), Some(json!(1)), "{users:#}");
    let tokens: Value = serde_json::from_str(&team_cli(
        &admin,
        &url,
        &["tokens", "--team", "acme", "--user", "alice", "--json"],
    ))
    .expect("tokens --json");
    assert!(
        !tokens.to_string().contains(&alice),
        "a token's text is never listed"
    );
    let id = tokens[0]["id"].as_i64().expect("token id");
    team_cli(&admin, &url, &["revoke", "--id", &id.to_string()]);
    let refused = laptop
        .command()
        .env("CLAUDE_MEM_PORT", &decoy_port)
        .args(["search", "flamingo ledger", "--mode", "text"])
        .output()
        .expect("search");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("refused the token"),
        "{said}"
    );
    // Removing a user revokes what is left; their memories stay the team's.
    team_cli(
        &admin,
        &url,
        &["remove-user", "--team", "acme", "--user", "bob"],
    );
    let (status, _) = get(&worker, Some(&bob), "/api/observations");
    assert_eq!(status, 401);
    assert_eq!(
        pg_count(
            &url,
            &format!("SELECT COUNT(*) FROM observations WHERE id = {bobs}")
        ),
        1
    );
    // A member forgets as on the laptop, within the team: one observation by id, then a whole project.
    let carol = user_token(&admin, &url, "acme", "carol", false);
    let delete = |id: i64| {
        http()
            .delete(worker.url(&format!("/api/observations/{id}")))
            .bearer_auth(&carol)
            .send()
            .expect("DELETE")
            .status()
            .as_u16()
    };
    assert_eq!(delete(bobs), 200);
    assert_eq!(delete(bobs), 404);
    let response = http()
        .post(worker.url("/api/forget"))
        .bearer_auth(&carol)
        .json(&json!({"targets": [{"kind": "project", "id": PROJECT}], "reason": "x"}))
        .send()
        .expect("POST /api/forget");
    let status = response.status().as_u16();
    let answer: Value = response.json().expect("JSON");
    assert_eq!(
        (status, answer["forgotten"].as_bool()),
        (200, Some(true)),
        "{answer}"
    );
    assert_eq!(
        pg_count(
            &url,
            &format!("SELECT COUNT(*) FROM observations WHERE project = '{PROJECT}'")
        ),
        0
    );
    assert_eq!(decoy.hits(), 0, "something was sent to the local port");
    assert!(worker.stop().success());
}
