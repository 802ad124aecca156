//! Memory the user controls (issue 21), against the real worker and CLI: excluded places are never
//! recorded and never given context, whether the exclusion was made with the worker running (it applies
//! at once) or before it started.

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "/srv/clients/acme";

fn events_at(sandbox: &Sandbox, cwd_prefix: &str) -> i64 {
    sqlite_count(
        &sandbox.database(),
        &format!(
            "SELECT COUNT(*) FROM pending_messages WHERE json_extract(payload, '$.cwd') LIKE '{cwd_prefix}%'"
        ),
    )
}

/// A small working session in `cwd`: a prompt, an edit, a stop.
fn session(worker: &Worker, id: &str, cwd: &str) {
    for (event, body) in [
        (
            "SessionStart",
            json!({"session_id": id, "cwd": cwd, "source": "startup"}),
        ),
        (
            "UserPromptSubmit",
            json!({"session_id": id, "cwd": cwd, "prompt": "rotate the acme billing webhook secret"}),
        ),
        (
            "PostToolUse",
            json!({"session_id": id, "cwd": cwd, "tool_name": "Edit", "tool_use_id": format!("{id}-1"),
            "tool_input": {"file_path": format!("{cwd}/billing/webhook.rs"), "old_string": "v1", "new_string": "v2"},
            "tool_response": {"success": true}}),
        ),
        (
            "Stop",
            json!({"session_id": id, "cwd": cwd, "stop_hook_active": false}),
        ),
    ] {
        let (status, answer) = post_hook(worker, event, body.to_string());
        assert_eq!(status, 200, "{event}: {answer}");
    }
}

/// The CLI, pointed at this worker's port.
fn cli(sandbox: &Sandbox, worker: &Worker) -> std::process::Command {
    let mut cmd = sandbox.command();
    cmd.env("CLAUDE_MEM_PORT", worker.port.to_string());
    cmd
}

fn context_at(worker: &Worker, id: &str, cwd: &str) -> String {
    let (status, answer) = post_hook(
        worker,
        "SessionStart",
        json!({"session_id": id, "cwd": cwd, "source": "startup"}).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    answer["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_excluded_place_is_never_recorded_and_never_given_context() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);

    // Recorded before the exclusion: a memory exists for the project.
    session(&worker, "before", SECRET);
    worker.wait_until_processed(Duration::from_secs(30));
    assert!(events_at(&sandbox, SECRET) > 0);
    assert!(
        context_at(&worker, "probe-1", SECRET).contains("webhook"),
        "the project's memory should be recalled before it is excluded"
    );

    // Excluded through the CLI while the worker runs: applies at once.
    let out = cli(&sandbox, &worker)
        .args(["exclude", "add", SECRET])
        .output()
        .unwrap();
    let text = ok(out);
    assert!(text.contains("Excluded"), "{text}");
    let stored_before = events_at(&sandbox, SECRET);
    session(&worker, "during", &format!("{SECRET}/web"));
    assert_eq!(
        events_at(&sandbox, SECRET),
        stored_before,
        "an event in an excluded place was stored"
    );
    assert_eq!(
        context_at(&worker, "probe-2", SECRET),
        "",
        "context was injected in an excluded place"
    );
    // Other places are untouched.
    session(&worker, "elsewhere", "/srv/clients/globex");
    assert!(events_at(&sandbox, "/srv/clients/globex") > 0);
    let listed = ok(cli(&sandbox, &worker)
        .args(["exclude", "list"])
        .output()
        .unwrap());
    assert_eq!(listed.trim(), SECRET);
    let (_, settings) = get_json(&worker, "/api/settings");
    assert!(settings.to_string().contains(SECRET), "{settings}");

    // Removed: recorded again.
    ok(cli(&sandbox, &worker)
        .args(["exclude", "remove", SECRET])
        .output()
        .unwrap());
    session(&worker, "after", SECRET);
    assert!(events_at(&sandbox, SECRET) > stored_before);
    let out = cli(&sandbox, &worker)
        .args(["exclude", "remove", SECRET])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "removing what is not excluded must fail"
    );
}

#[test]
fn an_exclusion_made_offline_holds_when_the_worker_starts() {
    let sandbox = Sandbox::new();
    // A project-name glob, written to the settings file with no worker running.
    ok(sandbox
        .command()
        .args(["exclude", "add", "acme*"])
        .output()
        .unwrap());
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.data_dir().join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file["capture"]["exclude"], json!(["acme*"]));
    let bad = sandbox
        .command()
        .args(["exclude", "add", "[unclosed"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    session(&worker, "s1", SECRET);
    session(&worker, "s2", "/srv/clients/globex");
    assert_eq!(events_at(&sandbox, SECRET), 0);
    assert!(events_at(&sandbox, "/srv/clients/globex") > 0);
    let metrics = metrics_text(&worker);
    assert!(
        metrics.contains("reason=\"excluded\""),
        "excluded events are counted: {metrics}"
    );
}

/// Ids of observations a search for `q` returns in `mode` (no floor: every candidate).
fn hits(worker: &Worker, q: &str, mode: &str) -> Vec<i64> {
    let (status, answer) = get_json(
        worker,
        &format!("/api/search?q={q}&mode={mode}&min_score=0&limit=50&kind=observation"),
    );
    assert_eq!(status, 200, "{answer}");
    answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["observation"]["id"].as_i64())
        .collect()
}

fn observation_about(worker: &Worker, word: &str) -> i64 {
    wait_found(worker, word, word);
    let (_, answer) = get_json(worker, &format!("/api/search?q={word}&limit=5"));
    answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| {
            r["observation"]["title"]
                .as_str()
                .is_some_and(|t| t.contains(word))
        })
        .and_then(|r| r["observation"]["id"].as_i64())
        .unwrap_or_else(|| panic!("no observation about {word}: {answer}"))
}

#[test]
fn a_forgotten_memory_is_gone_from_every_store_at_once_and_stays_gone() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    worker.wait_until_processed(Duration::from_secs(30));
    let login = observation_about(&worker, "login");
    let routes = observation_about(&worker, "routes");
    let db = sandbox.database();
    let vectors_of = |id: i64| {
        sqlite_count(
            &db,
            &format!("SELECT COUNT(*) FROM memory_vectors WHERE source = 'observation' AND row_id = {id}"),
        )
    };
    for mode in ["text", "vector", "hybrid"] {
        assert!(hits(&worker, "login", mode).contains(&login), "{mode}");
    }
    let (_, context) = get_json(&worker, "/api/context?project=acme-api");
    assert!(context.to_string().contains("login.rs"), "{context}");

    let out = cli(&sandbox, &worker)
        .args(["forget", &login.to_string(), "--reason", "private"])
        .output()
        .unwrap();
    let said = ok(out);
    assert!(said.contains("Forgot 1 of 1"), "{said}");

    // At once: SQLite (the row and the events it was made from), vectors, every search mode, context.
    assert_eq!(
        sqlite_count(
            &db,
            &format!("SELECT COUNT(*) FROM observations WHERE id = {login}")
        ),
        0
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM pending_messages WHERE payload LIKE '%login.rs%'"
        ),
        0,
        "the raw events keep the forgotten memory's text"
    );
    assert_eq!(vectors_of(login), 0);
    assert!(
        vectors_of(routes) > 0,
        "the other memories keep their vectors"
    );
    for mode in ["text", "vector", "hybrid"] {
        assert!(!hits(&worker, "login", mode).contains(&login), "{mode}");
    }
    assert!(hits(&worker, "routes", "text").contains(&routes));
    let (_, context) = get_json(&worker, "/api/context?project=acme-api");
    assert!(!context.to_string().contains("login.rs"), "{context}");
    let (status, _) = get_json(&worker, &format!("/api/observations/{login}"));
    assert_eq!(status, 404);
    // An export made afterwards.
    let export = sandbox.dir.path().join("export.jsonl");
    ok(cli(&sandbox, &worker)
        .args(["export", "--out", export.to_str().unwrap()])
        .output()
        .unwrap());
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(!exported.contains("login.rs"), "the export still has it");
    assert!(exported.contains("routes.rs"));

    // Still gone after a restart (the vector graph reloaded) and after a full reindex.
    drop(worker);
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    for mode in ["text", "vector", "hybrid"] {
        assert!(
            !hits(&worker, "login", mode).contains(&login),
            "{mode} after a restart"
        );
    }
    let reindex = http()
        .post(worker.url("/api/reindex"))
        .json(&json!({}))
        .send()
        .expect("reindex");
    assert!(reindex.status().is_success(), "{:?}", reindex.text());
    wait_found(&worker, "routes", "routes");
    for mode in ["text", "vector", "hybrid"] {
        assert!(
            !hits(&worker, "login", mode).contains(&login),
            "{mode} after reindex"
        );
    }

    // Forgetting again: nothing there, said plainly.
    let again = cli(&sandbox, &worker)
        .args(["forget", &login.to_string()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not found"));
}

#[test]
fn an_edit_is_searchable_at_once_and_bad_edits_are_refused() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    worker.wait_until_processed(Duration::from_secs(30));
    let retry = observation_about(&worker, "retry");
    let said = ok(cli(&sandbox, &worker)
        .args([
            "edit",
            &retry.to_string(),
            "--title",
            "Backoff with jitter for the payment queue",
            "--fact",
            "retries back off exponentially with full jitter",
            "--type",
            "decision",
        ])
        .output()
        .unwrap());
    assert!(said.contains("decision"), "{said}");
    assert!(hits(&worker, "jitter", "text").contains(&retry));
    let (_, answer) = get_json(&worker, &format!("/api/observations/{retry}"));
    assert_eq!(answer["observation"]["type"], "decision");
    assert_eq!(
        answer["observation"]["facts"],
        json!(["retries back off exponentially with full jitter"])
    );

    let patch = |body: Value| {
        let r = http()
            .patch(worker.url(&format!("/api/observations/{retry}")))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    for bad in [
        json!({"type": "gossip"}),
        json!({"title": " "}),
        json!({}),
        json!({"colour": "red"}),
    ] {
        let (status, answer) = patch(bad.clone());
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(
            answer["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{answer}"
        );
    }
    let r = http()
        .patch(worker.url("/api/observations/999999"))
        .json(&json!({"title": "x"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = http()
        .delete(worker.url("/api/observations/abc"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn sessions_and_projects_are_forgotten_whole() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    session(&worker, "other-1", "/srv/clients/globex");
    worker.wait_until_processed(Duration::from_secs(30));
    let db = sandbox.database();
    let rows = |session: &str| {
        [
            "observations",
            "user_prompts",
            "pending_messages",
            "session_summaries",
            "sdk_sessions",
        ]
        .iter()
        .map(|t| {
            let col = if *t == "sdk_sessions" {
                "id"
            } else {
                "session_id"
            };
            sqlite_count(
                &db,
                &format!("SELECT COUNT(*) FROM {t} WHERE {col} = '{session}'"),
            )
        })
        .sum::<i64>()
    };
    assert!(rows("idx-1") > 0);
    let r = http()
        .delete(worker.url("/api/sessions/idx-1"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(rows("idx-1"), 0);
    assert!(rows("idx-0") > 0, "other sessions are kept");
    let r = http()
        .delete(worker.url("/api/sessions/idx-1"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // A whole project: every session of it, nothing of the others; the CLI asks for --yes.
    let refused = cli(&sandbox, &worker)
        .args(["forget", "--project", "acme-api"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(rows("idx-0") > 0);
    ok(cli(&sandbox, &worker)
        .args(["forget", "--project", "acme-api", "--yes"])
        .output()
        .unwrap());
    assert_eq!(rows("idx-0") + rows("idx-2"), 0);
    assert!(rows("other-1") > 0);
    assert!(hits(&worker, "handler", "text").is_empty());
    let (_, projects) = get_json(&worker, "/api/projects");
    assert!(!projects.to_string().contains("acme-api"), "{projects}");
}

fn pre_read(worker: &Worker, cwd: &str, file: &str) -> Value {
    let (status, answer) = post_hook(
        worker,
        "PreToolUse",
        json!({"session_id": "reader", "cwd": cwd, "tool_name": "Read", "tool_use_id": format!("r-{file}"),
            "tool_input": {"file_path": format!("{cwd}/{file}")}})
        .to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

#[test]
fn reading_a_remembered_file_brings_its_memories_and_nothing_else_does() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    worker.wait_until_processed(Duration::from_secs(30));
    let cwd = "/home/dev/work/acme-api";
    let answer = pre_read(&worker, cwd, "src/auth/login.rs");
    assert_eq!(answer["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    let context = answer["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap_or_default();
    assert!(context.contains("login.rs"), "{answer}");
    assert!(
        !context.contains("routes.rs"),
        "only the file's memories: {context}"
    );
    assert!(context.len() <= 600, "{} characters", context.len());
    // Never a decision about the tool: no permission fields.
    assert!(answer["hookSpecificOutput"]
        .get("permissionDecision")
        .is_none());
    // A file nothing mentions, or another project: nothing.
    assert_eq!(pre_read(&worker, cwd, "README.md"), json!({}));
    assert_eq!(
        pre_read(&worker, "/home/dev/work/other", "src/auth/login.rs"),
        json!({})
    );
    // Turned off: nothing.
    let r = http()
        .put(worker.url("/api/settings"))
        .json(&json!({"context.file_context": false}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text());
    assert_eq!(pre_read(&worker, cwd, "src/auth/login.rs"), json!({}));
}

#[test]
fn projects_are_listed_renamed_and_merged_with_their_search() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, SEARCH_ENV);
    store_memories(&worker);
    session(&worker, "old-1", "/srv/legacy/acme-api-old");
    worker.wait_until_processed(Duration::from_secs(30));
    let listed = ok(cli(&sandbox, &worker).arg("projects").output().unwrap());
    assert!(
        listed.contains("acme-api ") && listed.contains("acme-api-old"),
        "{listed}"
    );

    // Merging into an existing name needs `merge`; a plain rename refuses it.
    let clash = http()
        .post(worker.url("/api/projects/acme-api-old/rename"))
        .json(&json!({"to": "acme-api"}))
        .send()
        .unwrap();
    assert_eq!(clash.status().as_u16(), 409);
    ok(cli(&sandbox, &worker)
        .args(["projects", "merge", "acme-api-old", "acme-api"])
        .output()
        .unwrap());
    let db = sandbox.database();
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM sdk_sessions WHERE project = 'acme-api-old'"
        ),
        0
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM sdk_sessions WHERE project = 'acme-api'"
        ),
        4
    );
    // Search by the new project finds the merged memory once the index is rebuilt.
    let start = std::time::Instant::now();
    loop {
        let (_, answer) = get_json(
            &worker,
            "/api/search?q=webhook&project=acme-api&min_score=0",
        );
        if answer["results"].as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(cli(&sandbox, &worker)
        .args(["projects", "rename", "acme-api", "acme"])
        .output()
        .unwrap());
    let listed = ok(cli(&sandbox, &worker)
        .args(["projects", "list"])
        .output()
        .unwrap());
    assert!(
        listed.starts_with("acme ") && !listed.contains("acme-api"),
        "{listed}"
    );
    let missing = cli(&sandbox, &worker)
        .args(["projects", "rename", "nowhere", "x"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}
