//! The HTTP API end to end, one suite over both backends: every body below runs unchanged against the
//! laptop worker (`claude-mem serve` on SQLite, the data directory's token) and the team worker (the
//! same binary with `CLAUDE_MEM_DATABASE_URL` on a private PostgreSQL, a user's `cm_…` token).
//!
//! Each body is one `fn(&Backend)`; [`both!`] makes a `…_sqlite` and a `…_postgres` test of it, so a
//! failure names the backend. The bodies compare shapes and values, not only status codes: a client
//! (the viewer, the MCP server, a script) must not be able to tell which backend answered. Nothing here
//! measures time: every wait polls until a deadline.

use claude_mem_e2e::team::{database, team_worker, user_token};
use claude_mem_e2e::*;
use claude_mem_team::pg_cluster::TempCluster;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

const PROJECT: &str = "p";
const CWD: &str = "/home/dev/work/p";
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// The team backend's database: the server goes away with it.
struct Team {
    _cluster: TempCluster,
    url: String,
}

/// A running worker of one backend and the token its user sends. Fields drop in order: the worker
/// stops before its database and its sandbox go.
struct Backend {
    kind: Kind,
    worker: Worker,
    token: String,
    team: Option<Team>,
    sandbox: Sandbox,
}

impl Backend {
    fn start(kind: Kind) -> Self {
        let sandbox = Sandbox::new();
        match kind {
            Kind::Sqlite => {
                // The team worker's settings: events compressed at once, the hashing embedder.
                let worker = Worker::start_with(&sandbox, SEARCH_ENV);
                let token = sandbox.token();
                Self {
                    kind,
                    worker,
                    token,
                    team: None,
                    sandbox,
                }
            }
            Kind::Postgres => {
                let (cluster, url) = database("api_backends");
                let token = user_token(&sandbox, &url, "acme", "alice", true);
                let worker = team_worker(&sandbox, &url);
                Self {
                    kind,
                    worker,
                    token,
                    team: Some(Team {
                        _cluster: cluster,
                        url,
                    }),
                    sandbox,
                }
            }
        }
    }

    /// Which store answers, from `/api/health`: the suite must never test one backend twice.
    fn assert_backend(&self) {
        let health = self.get("/api/health");
        match self.kind {
            Kind::Sqlite => assert!(
                health["database"]
                    .as_str()
                    .is_some_and(|d| d.ends_with("claude-mem.db")),
                "{health}"
            ),
            Kind::Postgres => assert_eq!(health["backend"], "postgres", "{health}"),
        }
    }

    /// A user of another team (team backend only).
    fn stranger_token(&self, team: &str, user: &str) -> String {
        let url = &self.team.as_ref().expect("a team backend").url;
        user_token(&self.sandbox, url, team, user, true)
    }

    /// `method path` with `token` (none: no Authorization header at all); the answer's status and JSON
    /// body (`null` when empty). A non-JSON body fails the test: every answer of the API is JSON.
    fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = http_anonymous().request(method.clone(), self.worker.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("{:?}: {method} {path}: {e}", self.kind));
        let status = response.status().as_u16();
        let text = response.text().expect("body");
        if text.is_empty() {
            return (status, Value::Null);
        }
        let json = serde_json::from_str(&text).unwrap_or_else(|_| {
            panic!(
                "{:?}: {method} {path} answered {status} with non-JSON: {text}",
                self.kind
            )
        });
        (status, json)
    }

    fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(Some(&self.token), method, path, body)
    }

    /// GET, expecting 200.
    fn get(&self, path: &str) -> Value {
        let (status, answer) = self.call(Method::GET, path, None);
        assert_eq!(status, 200, "{:?}: GET {path}: {answer}", self.kind);
        answer
    }

    /// A Claude Code hook, expecting 200.
    fn hook(&self, body: &Value) -> Value {
        let event = body["hook_event_name"].as_str().expect("hook_event_name");
        let (status, answer) = self.call(Method::POST, &format!("/hooks/{event}"), Some(body));
        assert_eq!(status, 200, "{:?}: {event}: {answer}", self.kind);
        answer
    }

    /// `POST /api/memories`, expecting 201; the stored observation.
    fn save_memory(&self, title: &str, text: &str) -> Value {
        let body = json!({"text": text, "title": title, "project": PROJECT, "type": "decision"});
        let (status, answer) = self.call(Method::POST, "/api/memories", Some(&body));
        assert_eq!(status, 201, "{:?}: {answer}", self.kind);
        let observation = answer["observation"].clone();
        assert_eq!(answer["id"], observation["id"], "{answer}");
        assert!(observation["id"].as_i64().is_some(), "{answer}");
        assert_eq!(observation["title"], title, "{answer}");
        assert_eq!(observation["project"], PROJECT, "{answer}");
        assert_eq!(observation["type"], "decision", "{answer}");
        assert_eq!(observation["compressor"], "manual", "{answer}");
        observation
    }
}

fn wait_for<T>(what: &str, probe: impl FnMut() -> Result<T, String>) -> T {
    poll(what, DEADLINE, Duration::from_millis(50), probe)
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|x| x["id"].as_i64().unwrap_or_else(|| panic!("no id: {x}")))
        .collect()
}

fn result_ids(answer: &Value) -> Vec<i64> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {answer}"))
        .iter()
        .filter_map(|x| x["observation"]["id"].as_i64())
        .collect()
}

/// An error answer: `status` and `{"error": code, "reason": text}`.
fn assert_error(answer: &(u16, Value), status: u16, code: &str, what: &str) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (status, Some(code)),
        "{what}: {}",
        answer.1
    );
    assert!(
        answer.1["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{what}: an error says why: {}",
        answer.1
    );
}

/// Makes `<body>_sqlite` and `<body>_postgres` tests of `fn body(&Backend)`.
macro_rules! both {
    ($body:ident) => {
        mod $body {
            #[test]
            fn sqlite() {
                let backend = super::Backend::start(super::Kind::Sqlite);
                backend.assert_backend();
                super::$body(&backend);
            }
            #[test]
            fn postgres() {
                let backend = super::Backend::start(super::Kind::Postgres);
                backend.assert_backend();
                super::$body(&backend);
            }
        }
    };
}

const PROMPT: &str = "make the flamingo ledger reconcile every night";
const EDITED: &str = "src/flamingo/ledger.rs";

/// One Claude Code session of project `p`: start, a prompt, an Edit and a Bash call, stop. Returns once
/// every event is handled: the session's observations are listed and none of its events is still open.
fn seed_session(b: &Backend, session: &str) -> Value {
    let base = json!({"session_id": session, "cwd": CWD,
        "transcript_path": format!("/home/dev/.claude/projects/p/{session}.jsonl")});
    let with = |extra: Value| {
        let mut v = base.clone();
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        v
    };
    let answer = b.hook(&with(
        json!({"hook_event_name": "SessionStart", "source": "startup"}),
    ));
    assert_eq!(
        answer["hookSpecificOutput"]["hookEventName"], "SessionStart",
        "{answer}"
    );
    assert!(
        answer["hookSpecificOutput"]["additionalContext"].is_string(),
        "{answer}"
    );
    let answer = b.hook(&with(
        json!({"hook_event_name": "UserPromptSubmit", "prompt": PROMPT}),
    ));
    assert!(answer.is_object(), "{answer}");
    let answer = b.hook(&with(json!({"hook_event_name": "PostToolUse",
        "tool_name": "Edit", "tool_use_id": format!("toolu_{session}_edit"),
        "tool_input": {"file_path": format!("{CWD}/{EDITED}"), "old_string": "todo!()",
                       "new_string": "fn reconcile_flamingo_ledger() {}"},
        "tool_response": {"filePath": format!("{CWD}/{EDITED}")}})));
    assert_eq!(answer, json!({}));
    let answer = b.hook(&with(json!({"hook_event_name": "PostToolUse",
        "tool_name": "Bash", "tool_use_id": format!("toolu_{session}_bash"),
        "tool_input": {"command": "cargo test -p ledger", "description": "Run the ledger tests"},
        "tool_response": {"stdout": "test result: ok. 3 passed; 0 failed", "stderr": "",
                          "interrupted": false, "isImage": false}})));
    assert_eq!(answer, json!({}));
    let answer = b.hook(&with(
        json!({"hook_event_name": "Stop", "stop_hook_active": false}),
    ));
    assert_eq!(answer, json!({}));

    wait_for(
        &format!("{:?}: session {session} processed", b.kind),
        || {
            // The session exists once its first hook is answered: anything but a 200 is an answer.
            let detail = b.get(&format!("/api/sessions/{session}"));
            let open: Vec<&Value> = detail["events"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter(|e| matches!(e["state"].as_str(), Some("pending" | "processing")))
                        .collect()
                })
                .unwrap_or_default();
            let edited = detail["observations"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|o| o["files_modified"].to_string().contains(EDITED))
            });
            if open.is_empty() && edited {
                Ok(detail)
            } else {
                Err(detail.to_string())
            }
        },
    )
}

/// Hooks in, then every history view of them: projects, sessions, one session, observations paged,
/// one observation, prompts, summaries, session titles, costs.
fn projects_sessions_and_observations(b: &Backend) {
    let session = "hist-s1";
    let detail = seed_session(b, session);

    // One session: its row, the prompt, the five events in order, its observations, one page.
    assert_eq!(detail["session"]["id"], session, "{detail}");
    assert_eq!(detail["session"]["project"], PROJECT, "{detail}");
    assert_eq!(detail["session"]["cwd"], CWD, "{detail}");
    assert_eq!(
        detail["session"]["transcript_path"],
        format!("/home/dev/.claude/projects/p/{session}.jsonl"),
        "{detail}"
    );
    let prompts = detail["prompts"].as_array().expect("prompts");
    assert_eq!(prompts.len(), 1, "{detail}");
    assert_eq!(prompts[0]["prompt_number"], 1, "{detail}");
    assert_eq!(prompts[0]["text"], PROMPT, "{detail}");
    let events: Vec<(&str, Option<&str>)> = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["event_name"].as_str().expect("event_name"),
                e["tool_name"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("SessionStart", None),
            ("UserPromptSubmit", None),
            ("PostToolUse", Some("Edit")),
            ("PostToolUse", Some("Bash")),
            ("Stop", None),
        ],
        "{detail}"
    );
    assert_eq!(
        detail["events"][1]["payload"]["prompt"], PROMPT,
        "events carry their payload: {detail}"
    );
    let session_obs = ids(&detail["observations"]);
    assert!(!session_obs.is_empty(), "{detail}");
    let totals = &detail["page"]["totals"];
    assert_eq!(
        (
            totals["events"].as_i64(),
            totals["prompts"].as_i64(),
            totals["observations"].as_i64()
        ),
        (Some(5), Some(1), Some(session_obs.len() as i64)),
        "{detail}"
    );
    assert_eq!(detail["page"]["next_offset"], Value::Null, "{detail}");
    assert!(detail["summaries"].is_array(), "{detail}");
    let n = session_obs.len() as i64;

    // The project, with its counts.
    let projects = b.get("/api/projects");
    let list = projects["projects"].as_array().expect("projects");
    assert_eq!(list.len(), 1, "{projects}");
    let p = &list[0];
    assert_eq!(p["name"], PROJECT, "{projects}");
    assert_eq!(
        (
            p["sessions"].as_i64(),
            p["prompts"].as_i64(),
            p["observations"].as_i64()
        ),
        (Some(1), Some(1), Some(n)),
        "{projects}"
    );
    assert!(
        p["last_activity_at"].as_i64().is_some_and(|t| t > 0),
        "{projects}"
    );

    // The sessions list.
    let sessions = b.get(&format!("/api/sessions?project={PROJECT}"));
    assert_eq!(
        (sessions["limit"].as_i64(), sessions["offset"].as_i64()),
        (Some(50), Some(0)),
        "{sessions}"
    );
    let rows = sessions["sessions"].as_array().expect("sessions");
    assert_eq!(rows.len(), 1, "{sessions}");
    let row = &rows[0];
    assert_eq!(row, &detail["session"], "the list's row is the detail's");
    assert_eq!(
        (
            row["event_count"].as_i64(),
            row["prompt_count"].as_i64(),
            row["observation_count"].as_i64()
        ),
        (Some(5), Some(1), Some(n)),
        "{sessions}"
    );
    let other = b.get("/api/sessions?project=elsewhere");
    assert_eq!(other["sessions"], json!([]), "{other}");
    assert_error(
        &b.call(Method::GET, "/api/sessions/no-such-session", None),
        404,
        "not_found",
        "unknown session",
    );

    // Observations, newest first, paged one at a time with before_id.
    let all = b.get(&format!("/api/observations?project={PROJECT}"));
    assert_eq!(all["next_before_id"], Value::Null, "{all}");
    let all_ids = ids(&all["observations"]);
    assert_eq!(
        all_ids.iter().collect::<BTreeSet<_>>(),
        session_obs.iter().collect::<BTreeSet<_>>(),
        "{all}"
    );
    assert!(
        all_ids.windows(2).all(|w| w[0] > w[1]),
        "newest first: {all}"
    );
    let mut paged: Vec<i64> = Vec::new();
    let mut path = format!("/api/observations?project={PROJECT}&limit=1");
    loop {
        let page = b.get(&path);
        let page_ids = ids(&page["observations"]);
        assert!(page_ids.len() <= 1, "{page}");
        paged.extend(&page_ids);
        match page["next_before_id"].as_i64() {
            Some(next) => {
                assert_eq!(
                    page_ids,
                    vec![next],
                    "a full page continues after its last row"
                );
                path = format!("/api/observations?project={PROJECT}&limit=1&before_id={next}");
            }
            None => break,
        }
        assert!(paged.len() <= all_ids.len(), "paging never ends: {paged:?}");
    }
    assert_eq!(paged, all_ids);
    let elsewhere = b.get("/api/observations?project=elsewhere");
    assert_eq!(
        elsewhere,
        json!({"observations": [], "next_before_id": null})
    );

    // One observation: the list's row, whole.
    let first = &all["observations"][0];
    let id = first["id"].as_i64().expect("id");
    let one = b.get(&format!("/api/observations/{id}"));
    assert_eq!(&one["observation"], first, "{one}");
    assert_eq!(one["observation"]["session_id"], session, "{one}");
    assert_eq!(one["observation"]["project"], PROJECT, "{one}");
    let edit_obs = all["observations"]
        .as_array()
        .expect("list")
        .iter()
        .find(|o| o["files_modified"].to_string().contains(EDITED))
        .unwrap_or_else(|| panic!("no observation of the edit: {all}"));
    assert!(
        edit_obs["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{edit_obs}"
    );

    // Prompts and summaries: `{prompts|summaries, next_before_id}`.
    let prompts = b.get(&format!("/api/prompts?project={PROJECT}"));
    assert_eq!(prompts["next_before_id"], Value::Null, "{prompts}");
    let list = prompts["prompts"].as_array().expect("prompts");
    assert_eq!(list.len(), 1, "{prompts}");
    assert_eq!(
        (
            &list[0]["session_id"],
            &list[0]["project"],
            &list[0]["prompt_number"],
            &list[0]["prompt"]
        ),
        (&json!(session), &json!(PROJECT), &json!(1), &json!(PROMPT)),
        "{prompts}"
    );
    assert!(list[0]["id"].as_i64().is_some(), "{prompts}");
    let summaries = b.get(&format!("/api/summaries?project={PROJECT}"));
    assert_eq!(summaries["next_before_id"], Value::Null, "{summaries}");
    // The Stop hook summed the session up (the local compressor: the prompt as its request).
    let list = summaries["summaries"].as_array().expect("summaries");
    assert_eq!(list.len(), 1, "{summaries}");
    assert_eq!(
        list[0], detail["summaries"][0],
        "the session's summary is the project's: {summaries}"
    );
    assert_eq!(list[0]["session_id"], session, "{summaries}");
    assert_eq!(list[0]["project"], PROJECT, "{summaries}");
    assert_eq!(list[0]["request"], PROMPT, "{summaries}");

    // Session titles: the first prompt; an unknown session has none.
    let titles = b.get(&format!(
        "/api/session-titles?ids={session},no-such-session"
    ));
    assert_eq!(
        titles["titles"][session],
        json!({"prompt": PROMPT, "summary": PROMPT}),
        "{titles}"
    );
    assert_eq!(
        titles["titles"]["no-such-session"]["prompt"],
        Value::Null,
        "{titles}"
    );

    // Costs: the local compressor spends nothing.
    let costs = b.get("/api/costs?days=7");
    assert_eq!(costs["days"], 7, "{costs}");
    assert_eq!(costs["project"], Value::Null, "{costs}");
    let budget = &costs["budget"];
    for field in ["daily_usd", "spent_today_usd", "remaining_usd"] {
        assert!(budget[field].is_number(), "{field}: {costs}");
    }
    assert_eq!(budget["spent_today_usd"].as_f64(), Some(0.0), "{costs}");
    assert_eq!(budget["exhausted"], false, "{costs}");
    for field in ["today", "month", "period"] {
        assert!(costs["report"][field].is_object(), "{field}: {costs}");
    }
    assert!(costs["report"]["by_day"].is_array(), "{costs}");
}
both!(projects_sessions_and_observations);

/// A saved memory: in the timeline, readable, editable, deletable; `POST /api/forget` for several.
fn memories_and_timeline(b: &Backend) {
    let saved = b.save_memory(
        "Pelican smoke test gates every deploy",
        "Deploys must pass the pelican smoke test (scripts/smoke.sh) before prod.",
    );
    let id = saved["id"].as_i64().expect("id");

    let timeline = b.get(&format!("/api/timeline?anchor={id}"));
    assert_eq!(timeline["anchor"], id, "{timeline}");
    assert!(ids(&timeline["observations"]).contains(&id), "{timeline}");
    let created = saved["created_at"].as_i64().expect("created_at");
    let near = b.get(&format!("/api/timeline?date={created}&project={PROJECT}"));
    assert_eq!(
        near["anchor"], id,
        "the memory nearest its own time: {near}"
    );
    let empty = b.get(&format!("/api/timeline?date={created}&project=elsewhere"));
    assert_eq!(empty, json!({"anchor": null, "observations": []}));
    assert_error(
        &b.call(Method::GET, "/api/timeline?anchor=999999", None),
        404,
        "not_found",
        "timeline of a missing anchor",
    );

    let one = b.get(&format!("/api/observations/{id}"));
    assert_eq!(one["observation"], saved, "as stored: {one}");

    // Edit the title: the answer and every later read carry it.
    let (status, edited) = b.call(
        Method::PATCH,
        &format!("/api/observations/{id}"),
        Some(&json!({"title": "Pelican smoke test gates prod deploys"})),
    );
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["observation"]["id"], id, "{edited}");
    assert_eq!(
        edited["observation"]["title"], "Pelican smoke test gates prod deploys",
        "{edited}"
    );
    assert_eq!(
        edited["observation"]["narrative"], saved["narrative"],
        "only the title changed: {edited}"
    );
    let one = b.get(&format!("/api/observations/{id}"));
    assert_eq!(one["observation"], edited["observation"], "{one}");
    assert_error(
        &b.call(
            Method::PATCH,
            &format!("/api/observations/{id}"),
            Some(&json!({})),
        ),
        400,
        "invalid_edit",
        "an empty edit",
    );
    assert_error(
        &b.call(
            Method::PATCH,
            "/api/observations/999999",
            Some(&json!({"title": "x"})),
        ),
        404,
        "not_found",
        "editing a missing observation",
    );

    // Delete: gone from reads and the timeline; a second delete is a 404.
    let (status, deleted) = b.call(Method::DELETE, &format!("/api/observations/{id}"), None);
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["forgotten"], true, "{deleted}");
    assert_eq!(deleted["deleted"]["observations"], 1, "{deleted}");
    assert_eq!(deleted["missing"], json!([]), "{deleted}");
    assert!(deleted["index"].is_string(), "{deleted}");
    assert_error(
        &b.call(Method::GET, &format!("/api/observations/{id}"), None),
        404,
        "not_found",
        "a deleted observation",
    );
    assert_error(
        &b.call(Method::DELETE, &format!("/api/observations/{id}"), None),
        404,
        "not_found",
        "deleting twice",
    );
    assert_error(
        &b.call(Method::GET, &format!("/api/timeline?anchor={id}"), None),
        404,
        "not_found",
        "the timeline of a deleted observation",
    );

    // Forget several at once: what went, and what was not there.
    let a = b.save_memory(
        "Walrus cache is per tenant",
        "The walrus cache keys on the tenant id.",
    );
    let c = b.save_memory(
        "Walrus cache expires hourly",
        "The walrus cache entries live an hour.",
    );
    let (a, c) = (a["id"].as_i64().unwrap(), c["id"].as_i64().unwrap());
    let (status, forgot) = b.call(
        Method::POST,
        "/api/forget",
        Some(&json!({"targets": [{"kind": "observation", "id": a},
                                  {"kind": "observation", "id": 999999}],
                     "reason": "outdated"})),
    );
    assert_eq!(status, 200, "{forgot}");
    assert_eq!(forgot["forgotten"], true, "{forgot}");
    assert_eq!(forgot["deleted"]["observations"], 1, "{forgot}");
    assert_eq!(
        forgot["missing"],
        json!([{"kind": "observation", "id": 999999}]),
        "{forgot}"
    );
    assert!(forgot["index"].is_string(), "{forgot}");
    assert_eq!(
        b.call(Method::GET, &format!("/api/observations/{a}"), None)
            .0,
        404
    );
    let left = b.get(&format!("/api/observations?project={PROJECT}"));
    assert_eq!(ids(&left["observations"]), vec![c], "{left}");
    let (status, nothing) = b.call(
        Method::POST,
        "/api/forget",
        Some(&json!({"targets": [{"kind": "observation", "id": a}]})),
    );
    assert_eq!(status, 200, "{nothing}");
    assert_eq!(nothing["forgotten"], false, "{nothing}");
    assert_eq!(
        nothing["missing"],
        json!([{"kind": "observation", "id": a}]),
        "{nothing}"
    );
    assert_error(
        &b.call(Method::POST, "/api/forget", Some(&json!({"targets": []}))),
        400,
        "invalid_body",
        "forget nothing",
    );
    assert_error(
        &b.call(Method::POST, "/api/forget", Some(&json!({"ids": [a]}))),
        400,
        "invalid_body",
        "forget with the wrong shape",
    );
}
both!(memories_and_timeline);

/// A new session of the project starts with its memories, and `GET /api/context` previews that block.
fn session_start_context(b: &Backend) {
    let start = |session: &str, cwd: &str| -> String {
        let answer = b.hook(&json!({"session_id": session, "cwd": cwd,
            "hook_event_name": "SessionStart", "source": "startup"}));
        assert_eq!(
            answer["hookSpecificOutput"]["hookEventName"], "SessionStart",
            "{answer}"
        );
        answer["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap_or_else(|| panic!("no additionalContext: {answer}"))
            .to_owned()
    };
    assert_eq!(start("ctx-empty", CWD), "", "nothing to recall yet");
    let preview = b.get(&format!("/api/context?project={PROJECT}"));
    assert_eq!(preview["context"]["text"], "", "{preview}");

    let memory = b.save_memory(
        "Ledger reconciliation runs at 02:00 UTC",
        "The flamingo ledger reconciles nightly at 02:00 UTC; never schedule migrations then.",
    );
    let id = memory["id"].as_i64().expect("id");
    let context = start("ctx-2", CWD);
    assert!(
        context.contains("Ledger reconciliation runs at 02:00 UTC"),
        "the memory is in the block: {context}"
    );
    assert!(context.contains(PROJECT), "{context}");

    let preview = b.get(&format!("/api/context?project={PROJECT}&session=ctx-3"));
    let block = &preview["context"];
    assert_eq!(block["text"], context.as_str(), "preview = injection");
    assert_eq!(block["project"], PROJECT, "{preview}");
    assert!(
        block["observation_ids"]
            .as_array()
            .is_some_and(|ids| ids.contains(&json!(id))),
        "{preview}"
    );
    assert!(block["tokens"].as_u64().is_some_and(|t| t > 0), "{preview}");
    let by_cwd = b.get(&format!("/api/context?cwd={CWD}&session=ctx-3"));
    assert_eq!(by_cwd["context"]["text"], context.as_str(), "{by_cwd}");

    // Another project recalls none of it.
    assert_eq!(start("ctx-other", "/home/dev/work/elsewhere"), "");
    let other = b.get("/api/context?project=elsewhere");
    assert_eq!(other["context"]["text"], "", "{other}");
    assert_error(
        &b.call(Method::GET, "/api/context", None),
        400,
        "invalid_query",
        "context without a project",
    );
}
both!(session_start_context);

/// An open `GET /api/stream` (with `token`) and its reader.
struct Stream {
    reader: BufReader<reqwest::blocking::Response>,
}

impl Stream {
    fn open(b: &Backend, token: &str) -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let response = client
            .get(b.worker.url("/api/stream"))
            .bearer_auth(token)
            .send()
            .expect("GET /api/stream");
        assert_eq!(response.status().as_u16(), 200, "{:?}", b.kind);
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("content-type")
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            reader: BufReader::new(response),
        }
    }

    /// The next `observation` event's (id, data); other events (health, prompts) are skipped.
    fn next_observation(&mut self) -> (String, Value) {
        let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .reader
                .read_line(&mut line)
                .expect("the stream stays open");
            assert!(n > 0, "the stream ended");
            let l = line.trim_end_matches(['\r', '\n']);
            if let Some(v) = l.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = l.strip_prefix("id:") {
                id = v.trim().to_owned();
            } else if let Some(v) = l.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if l.is_empty() {
                if event == "observation" {
                    let json = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("observation data is JSON ({e}): {data}"));
                    return (id, json);
                }
                event.clear();
                id.clear();
                data.clear();
            }
        }
    }
}

/// The live stream pushes a memory saved after it opened.
fn live_stream(b: &Backend) {
    let mut stream = Stream::open(b, &b.token);
    let saved = b.save_memory(
        "Heron queue drains oldest first",
        "The heron queue drains oldest first so retries never starve.",
    );
    let (cursor, pushed) = stream.next_observation();
    assert_eq!(pushed, saved, "the stream carries the row as stored");
    assert!(!cursor.is_empty(), "each event has an id to resume from");
    let second = b.save_memory(
        "Heron queue retries back off",
        "Retries in the heron queue back off exponentially.",
    );
    let (next_cursor, pushed) = stream.next_observation();
    assert_eq!(pushed["id"], second["id"], "{pushed}");
    assert_ne!(next_cursor, cursor);
}
both!(live_stream);

/// Search finds a saved memory by a word of it, with the laptop's answer shape.
fn search(b: &Backend) {
    let saved = b.save_memory(
        "Quokka exporter batches uploads",
        "The zanzibarquokka exporter batches uploads in groups of 500.",
    );
    let id = saved["id"].as_i64().expect("id");
    let answer = wait_for(&format!("{:?}: search finds #{id}", b.kind), || {
        let (status, answer) = b.call(
            Method::GET,
            &format!("/api/search?q=zanzibarquokka&project={PROJECT}"),
            None,
        );
        if status != 200 {
            return Err(format!("{status}: {answer}"));
        }
        if result_ids(&answer).contains(&id) {
            Ok(answer)
        } else {
            Err(answer.to_string())
        }
    });
    assert_eq!(answer["mode"], "hybrid", "{answer}");
    assert!(answer["kinds"].is_array(), "{answer}");
    assert_eq!(answer["order"], "relevance", "{answer}");
    let hit = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["observation"]["id"] == id)
        .expect("the hit");
    assert_eq!(hit["kind"], "observation", "{answer}");
    assert!(hit["score"].as_f64().is_some_and(|s| s > 0.0), "{answer}");
    assert_eq!(
        hit["observation"]["title"], "Quokka exporter batches uploads",
        "{answer}"
    );
    for mode in ["text", "vector"] {
        let answer = wait_for(&format!("{:?}: {mode} search finds #{id}", b.kind), || {
            let answer = b.get(&format!(
                "/api/search?q=zanzibarquokka%20exporter&project={PROJECT}&mode={mode}"
            ));
            if result_ids(&answer).contains(&id) {
                Ok(answer)
            } else {
                Err(answer.to_string())
            }
        });
        assert_eq!(answer["mode"], mode, "{answer}");
    }
    let elsewhere = b.get("/api/search?q=zanzibarquokka&project=elsewhere");
    assert!(!result_ids(&elsewhere).contains(&id), "{elsewhere}");
    assert_error(
        &b.call(Method::GET, "/api/search", None),
        400,
        "invalid_query",
        "search without q",
    );
}
both!(search);

/// A question nothing answers finds nothing on either backend (relevance is calibrated, with a floor),
/// in every mode, while a word of a memory still finds it.
fn search_finds_nothing_for_a_question_nothing_answers(b: &Backend) {
    let mut saved = Vec::new();
    for (title, text) in [
        (
            "Pelican cache evicts by size",
            "The pelican cache evicts the largest entries first when full.",
        ),
        (
            "Walrus scheduler runs nightly",
            "The walrus scheduler runs the compaction job every night at two.",
        ),
        (
            "Otter importer skips duplicates",
            "The otter importer skips rows whose checksum it has seen.",
        ),
    ] {
        saved.push(b.save_memory(title, text)["id"].as_i64().expect("id"));
    }
    // Every memory is searchable (embedded too: vector mode finds the last one saved).
    let otter = "The%20otter%20importer%20skips%20rows%20whose%20checksum%20it%20has%20seen";
    for mode in ["hybrid", "vector"] {
        wait_for(
            &format!("{:?}: {mode} search finds the otter", b.kind),
            || {
                let answer = b.get(&format!(
                    "/api/search?q={otter}&project={PROJECT}&mode={mode}"
                ));
                if result_ids(&answer).first() == Some(&saved[2]) {
                    Ok(())
                } else {
                    Err(answer.to_string())
                }
            },
        );
    }
    for mode in ["", "&mode=hybrid", "&mode=vector", "&mode=text"] {
        let answer = b.get(&format!(
            "/api/search?q=zzqxjv%20nonexistentterm&project={PROJECT}{mode}"
        ));
        assert_eq!(
            answer["results"],
            json!([]),
            "{:?} {mode}: {answer}",
            b.kind
        );
    }
    let answer = b.get(&format!(
        "/api/search?q=walrus%20scheduler&project={PROJECT}"
    ));
    assert_eq!(
        result_ids(&answer).first(),
        Some(&saved[1]),
        "{:?}: {answer}",
        b.kind
    );
}
both!(search_finds_nothing_for_a_question_nothing_answers);

/// Bad input answers the same status and error code on both backends.
fn bad_input(b: &Backend) {
    let cases: &[(Method, &str, Option<Value>, u16, &str)] = &[
        (
            Method::GET,
            "/api/observations?limit=garbage",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/observations?limit=0",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/observations?type=poem",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/observations/abc",
            None,
            400,
            "invalid_id",
        ),
        (
            Method::GET,
            "/api/observations/999999",
            None,
            404,
            "not_found",
        ),
        (Method::GET, "/api/timeline", None, 400, "invalid_query"),
        (
            Method::GET,
            "/api/timeline?anchor=x",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/timeline?anchor=1&before=99",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::POST,
            "/api/memories",
            Some(json!({})),
            422,
            "invalid_memory",
        ),
        (
            Method::POST,
            "/api/memories",
            Some(json!({"text": "   "})),
            422,
            "invalid_memory",
        ),
        (
            Method::POST,
            "/api/memories",
            Some(json!({"text": "x", "type": "poem"})),
            422,
            "invalid_memory",
        ),
        (
            Method::GET,
            "/api/sessions?limit=garbage",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/prompts?limit=9999",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/summaries?before_id=x",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/api/session-titles",
            None,
            400,
            "invalid_query",
        ),
        (Method::GET, "/api/costs?days=0", None, 400, "invalid_query"),
        (
            Method::GET,
            "/api/search?q=x&mode=psychic",
            None,
            400,
            "invalid_query",
        ),
        (
            Method::POST,
            "/api/forget",
            Some(json!({})),
            400,
            "invalid_body",
        ),
        (Method::GET, "/api/no-such-route", None, 404, "not_found"),
        (
            Method::POST,
            "/api/no-such-route",
            Some(json!({})),
            404,
            "not_found",
        ),
    ];
    // Every case is tried, then every mismatch reported at once.
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|(method, path, body, status, code)| {
            let (got, answer) = b.call(method.clone(), path, body.as_ref());
            let reason = answer["reason"].as_str().is_some_and(|r| !r.is_empty());
            (got != *status || answer["error"] != *code || !reason).then(|| {
                format!("{method} {path}: want {status} {code:?} with a reason, got {got} {answer}")
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{:?}:\n{}",
        b.kind,
        mismatches.join("\n")
    );
    // A wrong method on a known route is a JSON 405.
    let (status, answer) = b.call(Method::PUT, "/api/observations", Some(&json!({})));
    assert_eq!(status, 405, "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
}
both!(bad_input);

/// Every route of the suite, as a client without a token would call it.
fn every_route(id: i64) -> Vec<(Method, String, Option<Value>)> {
    let get = |p: String| (Method::GET, p, None);
    vec![
        get("/api/projects".into()),
        get(format!("/api/sessions?project={PROJECT}")),
        get("/api/sessions/hist-s1".into()),
        get(format!("/api/observations?project={PROJECT}")),
        get(format!("/api/observations/{id}")),
        get(format!("/api/prompts?project={PROJECT}")),
        get(format!("/api/summaries?project={PROJECT}")),
        get("/api/session-titles?ids=hist-s1".into()),
        get("/api/costs?days=7".into()),
        get(format!("/api/timeline?anchor={id}")),
        get(format!("/api/context?project={PROJECT}")),
        get(format!("/api/search?q=flamingo&project={PROJECT}")),
        get("/api/stream".into()),
        (
            Method::POST,
            "/api/memories".into(),
            Some(json!({"text": "never stored", "project": PROJECT})),
        ),
        (
            Method::PATCH,
            format!("/api/observations/{id}"),
            Some(json!({"title": "never"})),
        ),
        (Method::DELETE, format!("/api/observations/{id}"), None),
        (
            Method::POST,
            "/api/forget".into(),
            Some(json!({"targets": [{"kind": "observation", "id": id}]})),
        ),
        (
            Method::POST,
            "/hooks/UserPromptSubmit".into(),
            Some(json!({"session_id": "anon", "cwd": CWD,
                "hook_event_name": "UserPromptSubmit", "prompt": "never stored"})),
        ),
    ]
}

/// Without a token (or with a made-up one) every route is a 401, and nothing changed.
fn requests_without_a_token_are_refused(b: &Backend) {
    let saved = b.save_memory("Kept safe", "Nobody without the token may touch this.");
    let id = saved["id"].as_i64().expect("id");
    let made_up = format!("cm_{}", "0".repeat(64));
    let mut mismatches = Vec::new();
    for token in [None, Some(made_up.as_str())] {
        for (method, path, body) in every_route(id) {
            let (status, answer) = b.call_as(token, method.clone(), &path, body.as_ref());
            if status != 401 || answer["error"] != "unauthorized" {
                mismatches.push(format!(
                    "{method} {path} with {token:?}: want 401 unauthorized, got {status} {answer}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{:?}:\n{}",
        b.kind,
        mismatches.join("\n")
    );
    let one = b.get(&format!("/api/observations/{id}"));
    assert_eq!(one["observation"], saved, "{one}");
    let all = b.get("/api/observations");
    assert_eq!(ids(&all["observations"]), vec![id], "{all}");
    let prompts = b.get("/api/prompts");
    assert_eq!(prompts["prompts"], json!([]), "{prompts}");
}
both!(requests_without_a_token_are_refused);

/// Team only: another team's token sees nothing of this team, through any route.
#[test]
fn another_teams_token_sees_nothing_postgres() {
    let b = Backend::start(Kind::Postgres);
    b.assert_backend();
    seed_session(&b, "hist-s1");
    let saved = b.save_memory(
        "Flamingo ledger is append only",
        "The flamingo ledger is append only; corrections are new rows.",
    );
    let id = saved["id"].as_i64().expect("id");
    wait_for("search finds the memory", || {
        let answer = b.get(&format!(
            "/api/search?q=flamingo%20ledger&project={PROJECT}"
        ));
        if result_ids(&answer).contains(&id) {
            Ok(())
        } else {
            Err(answer.to_string())
        }
    });
    let blue = b.stranger_token("blue", "bob");
    let as_blue = |method: Method, path: &str, body: Option<&Value>| {
        b.call_as(Some(&blue), method, path, body)
    };
    let ok = |path: &str| {
        let (status, answer) = as_blue(Method::GET, path, None);
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    };
    assert_eq!(ok("/api/projects"), json!({"projects": []}));
    assert_eq!(
        ok(&format!("/api/sessions?project={PROJECT}"))["sessions"],
        json!([])
    );
    assert_error(
        &as_blue(Method::GET, "/api/sessions/hist-s1", None),
        404,
        "not_found",
        "another team's session",
    );
    assert_eq!(
        ok("/api/observations"),
        json!({"observations": [], "next_before_id": null})
    );
    assert_error(
        &as_blue(Method::GET, &format!("/api/observations/{id}"), None),
        404,
        "not_found",
        "another team's observation",
    );
    assert_eq!(
        ok("/api/prompts"),
        json!({"prompts": [], "next_before_id": null})
    );
    assert_eq!(
        ok("/api/summaries"),
        json!({"summaries": [], "next_before_id": null})
    );
    let titles = ok("/api/session-titles?ids=hist-s1");
    assert_eq!(
        titles["titles"]["hist-s1"]["prompt"],
        Value::Null,
        "{titles}"
    );
    assert_error(
        &as_blue(Method::GET, &format!("/api/timeline?anchor={id}"), None),
        404,
        "not_found",
        "another team's timeline",
    );
    let context = ok(&format!("/api/context?project={PROJECT}"));
    assert_eq!(context["context"]["text"], "", "{context}");
    let found = ok(&format!(
        "/api/search?q=flamingo%20ledger&project={PROJECT}"
    ));
    assert_eq!(result_ids(&found), Vec::<i64>::new(), "{found}");
    let found = ok("/api/search?q=flamingo%20ledger");
    assert_eq!(result_ids(&found), Vec::<i64>::new(), "{found}");
    // Writes to another team's rows name nothing.
    assert_error(
        &as_blue(
            Method::PATCH,
            &format!("/api/observations/{id}"),
            Some(&json!({"title": "hijacked"})),
        ),
        404,
        "not_found",
        "editing another team's observation",
    );
    assert_error(
        &as_blue(Method::DELETE, &format!("/api/observations/{id}"), None),
        404,
        "not_found",
        "deleting another team's observation",
    );
    let (status, forgot) = as_blue(
        Method::POST,
        "/api/forget",
        Some(&json!({"targets": [{"kind": "observation", "id": id}]})),
    );
    assert_eq!(
        (status, &forgot["forgotten"]),
        (200, &json!(false)),
        "{forgot}"
    );
    // A SessionStart of blue's own in the same project recalls nothing of acme's.
    let (status, answer) = as_blue(
        Method::POST,
        "/hooks/SessionStart",
        Some(&json!({"session_id": "blue-s1", "cwd": CWD,
            "hook_event_name": "SessionStart", "source": "startup"})),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["hookSpecificOutput"]["additionalContext"], "",
        "{answer}"
    );

    // The live stream: blue's reader gets blue's memory and never acme's, saved just before it.
    let mut stream = Stream::open(&b, &blue);
    b.save_memory(
        "Acme only",
        "Nothing of this reaches another team's stream.",
    );
    let (status, blues) = as_blue(
        Method::POST,
        "/api/memories",
        Some(&json!({"text": "Blue's own note about pipelines.", "project": PROJECT})),
    );
    assert_eq!(status, 201, "{blues}");
    let (_, pushed) = stream.next_observation();
    assert_eq!(pushed["id"], blues["id"], "blue's stream: {pushed}");

    // Acme still has everything, and blue's note is not acme's.
    let one = b.get(&format!("/api/observations/{id}"));
    assert_eq!(one["observation"], saved, "{one}");
    assert_error(
        &b.call(
            Method::GET,
            &format!("/api/observations/{}", blues["id"]),
            None,
        ),
        404,
        "not_found",
        "blue's note seen by acme",
    );
    // Each team's sessions of the shared project name are its own (saved notes file under a notes
    // session of the project, on both backends).
    let session_ids = |answer: &Value| -> Vec<String> {
        answer["sessions"]
            .as_array()
            .unwrap_or_else(|| panic!("no sessions: {answer}"))
            .iter()
            .map(|s| s["id"].as_str().expect("session id").to_owned())
            .collect()
    };
    let acme = session_ids(&b.get(&format!("/api/sessions?project={PROJECT}")));
    assert!(
        acme.contains(&"hist-s1".to_owned()) && !acme.contains(&"blue-s1".to_owned()),
        "{acme:?}"
    );
    let blues_sessions = session_ids(&ok(&format!("/api/sessions?project={PROJECT}")));
    assert!(
        blues_sessions.contains(&"blue-s1".to_owned())
            && !blues_sessions.contains(&"hist-s1".to_owned()),
        "{blues_sessions:?}"
    );
    let projects = ok("/api/projects");
    assert_eq!(projects["projects"][0]["name"], PROJECT, "{projects}");
    assert_eq!(
        (
            projects["projects"][0]["sessions"].as_u64(),
            projects["projects"][0]["observations"].as_u64(),
            projects["projects"][0]["prompts"].as_u64()
        ),
        (Some(blues_sessions.len() as u64), Some(1), Some(0)),
        "blue counts only its own: {projects}"
    );
    let mine = ok(&format!("/api/observations?project={PROJECT}"));
    assert_eq!(
        ids(&mine["observations"]),
        vec![blues["id"].as_i64().unwrap()]
    );
}

/// The laptop's own worker routes (settings file, capture switch, logs, setup, maintenance) are the
/// operator's on a team server: a member is told so (403 `operator_only`), not "no such endpoint", and
/// nothing changes.
#[test]
fn worker_routes_are_the_operators_on_a_team_server_postgres() {
    let b = Backend::start(Kind::Postgres);
    b.assert_backend();
    for (method, path, body) in [
        (Method::GET, "/api/settings", None),
        (
            Method::PUT,
            "/api/settings",
            Some(json!({"context.budget_tokens": 100})),
        ),
        (Method::GET, "/api/capture", None),
        (Method::PUT, "/api/capture", Some(json!({"paused": true}))),
        (Method::GET, "/api/logs", None),
        (Method::GET, "/api/setup", None),
        (Method::POST, "/api/admin/restart", Some(json!({}))),
        (Method::POST, "/api/admin/retry", Some(json!({"all": true}))),
        (Method::POST, "/api/reindex", Some(json!({}))),
        (Method::GET, "/api/sessions/off", None),
    ] {
        let answer = b.call(method.clone(), path, body.as_ref());
        assert_error(&answer, 403, "operator_only", &format!("{method} {path}"));
    }
    // Still serving.
    let (status, health) = b.call(Method::GET, "/api/health", None);
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health}"
    );
}
