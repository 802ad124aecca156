//! Search through the real worker: a new memory is findable within a second of being stored, the
//! indexes rebuild themselves when corrupt or built by another embedder, and the CLI talks to it.
//! Session summaries and prompts are searchable too (`kind=`), observations can be narrowed to a file
//! (`file=`) and results listed newest first (`order=newest`).

use claude_mem_e2e::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const FAST: &[(&str, &str)] = &[("CLAUDE_MEM_BATCH_LINGER_MS", "0")];

fn model_dir() -> PathBuf {
    std::env::var_os("CLAUDE_MEM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/all-MiniLM-L6-v2")
        })
}

fn edit(
    session: &str,
    id: &str,
    file: &str,
    new: &str,
    prompt: &str,
) -> Vec<(&'static str, Value)> {
    let cwd = "/home/dev/work/acme-api";
    vec![
        (
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": cwd, "prompt": prompt}),
        ),
        (
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Edit", "tool_use_id": id,
            "tool_input": {"file_path": format!("{cwd}/{file}"), "old_string": "todo!()", "new_string": new},
            "tool_response": {}}),
        ),
    ]
}

fn search(worker: &Worker, query: &str) -> (u16, Value) {
    let url = format!("/api/search?q={}&limit=5", query.replace(' ', "%20"));
    get_json(worker, &url)
}

fn titles(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["observation"]["title"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls until `query` finds a title containing `expect`; returns how long that took.
fn wait_found(worker: &Worker, query: &str, expect: &str, deadline: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (status, answer) = search(worker, query);
        assert_eq!(status, 200, "{answer}");
        if titles(&answer).iter().any(|t| t.contains(expect)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < deadline,
            "{query:?} never found {expect:?}: {answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_new_memory_is_searchable_right_after_it_is_stored() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, FAST);
    for (event, body) in edit(
        "s1",
        "t1",
        "src/store/db.rs",
        "fn open_pool_with_wal() {}",
        "enable WAL in the store",
    ) {
        assert_eq!(post_hook(&worker, event, body.to_string()).0, 200);
    }
    wait_found(
        &worker,
        "store db",
        "src/store/db.rs",
        Duration::from_secs(10),
    );
    let (_, answer) = search(&worker, "open pool with wal");
    assert_eq!(
        answer["results"][0]["observation"]["files_modified"][0],
        "src/store/db.rs"
    );
    for mode in ["text", "vector", "hybrid"] {
        let (status, a) = get_json(&worker, &format!("/api/search?q=store&mode={mode}"));
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["mode"], mode);
    }
    let (_, filtered) = get_json(&worker, "/api/search?q=store&project=elsewhere");
    assert_eq!(filtered["results"].as_array().unwrap().len(), 0);
    // A time window: the memory is in one that ends in a day, and in none that ended in 2020, on both
    // sides of a hybrid query.
    for mode in ["text", "vector", "hybrid"] {
        let count = |window: &str| {
            let (status, a) = get_json(
                &worker,
                &format!("/api/search?q=open%20pool%20with%20wal&mode={mode}&min_score=0&{window}"),
            );
            assert_eq!(status, 200, "{a}");
            a["results"].as_array().unwrap().len()
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let tomorrow = now_ms + 86_400_000;
        assert!(count(&format!("until={tomorrow}")) >= 1, "{mode}");
        assert_eq!(count("until=2020-01-01"), 0, "{mode}");
        assert_eq!(count("since=2020-01-01&until=2020-12-31"), 0, "{mode}");
    }
    let (_, health) = get_json(&worker, "/api/health");
    assert_eq!(health["index"]["documents"], 1);
    assert!(health["index"]["embedder"].is_string());
}

#[test]
fn bad_search_requests_get_reasons() {
    let sandbox = Sandbox::new();
    let worker = Worker::start(&sandbox);
    for (path, code) in [
        ("/api/search", "invalid_query"),
        ("/api/search?q=x&mode=psychic", "invalid_query"),
        ("/api/search?q=x&type=poem", "invalid_query"),
        ("/api/search?q=x&since=whenever", "invalid_query"),
        ("/api/search?q=x&limit=0", "invalid_query"),
        ("/api/search?q=x&min_score=1.5", "invalid_query"),
        ("/api/search?q=x&min_score=NaN", "invalid_query"),
        ("/api/search?q=x&offset=-1", "invalid_query"),
        ("/api/search?q=x&offset=20000", "invalid_query"),
        ("/api/search?q=x&until=whenever", "invalid_query"),
        (
            "/api/search?q=x&since=2026-11-02&until=2026-11-01",
            "invalid_query",
        ),
        ("/api/search?q=x&kind=poem", "invalid_query"),
        ("/api/search?q=x&kind=summary,", "invalid_query"),
        ("/api/search?q=x&kind=", "invalid_query"),
        ("/api/search?q=x&order=oldest", "invalid_query"),
        ("/api/search?q=x&file=", "invalid_query"),
        ("/api/search?q=x&file=%20%20", "invalid_query"),
        ("/api/search?q=x&kind=summary&type=bugfix", "invalid_query"),
        (
            "/api/search?q=x&kind=prompt&file=src/db.rs",
            "invalid_query",
        ),
    ] {
        let (status, answer) = get_json(&worker, path);
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(code)),
            "{path}: {answer}"
        );
        assert!(
            !answer["reason"].as_str().unwrap_or("").is_empty(),
            "{path}: a reason says what to fix: {answer}"
        );
    }
    let (_, answer) = get_json(&worker, "/api/search?q=x&kind=poem");
    assert!(
        answer["reason"].as_str().unwrap().contains("poem"),
        "{answer}"
    );
    let (_, answer) = get_json(&worker, "/api/search?q=x&kind=summary&type=bugfix");
    assert!(
        answer["reason"].as_str().unwrap().contains("type"),
        "{answer}"
    );
    let (_, answer) = get_json(&worker, "/api/search?q=x&order=oldest");
    assert!(
        answer["reason"].as_str().unwrap().contains("newest"),
        "{answer}"
    );
}

const KINDS_ENV: &[(&str, &str)] = &[
    ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
    ("CLAUDE_MEM_EMBEDDER", "hash"),
    ("CLAUDE_MEM_COMPRESSOR", "local"),
];

/// `GET` `path` until `done` accepts the answer (indexing is asynchronous); returns that answer.
fn poll(worker: &Worker, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, answer) = get_json(worker, path);
        assert_eq!(status, 200, "{path}: {answer}");
        if done(&answer) {
            return answer;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{path} never gave the expected answer: {answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn results(answer: &Value) -> Vec<Value> {
    answer["results"].as_array().cloned().unwrap_or_default()
}

fn kinds(answer: &Value) -> Vec<String> {
    results(answer)
        .iter()
        .map(|r| r["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Three sessions: s1 teaches the quokka parser (an edit, then a Stop whose summary says "zeppelin"),
/// s2 speeds up the invoice renderer, s3 touches the quokka parser again, last. Returns once every
/// observation, summary and prompt is indexed.
fn seed_sessions(worker: &Worker) {
    let cwd = "/home/dev/work/acme-api";
    let sessions = [
        (
            "s1",
            "teach the quokka parser about trailing commas",
            "src/parser/quokka.rs",
        ),
        (
            "s2",
            "speed up the invoice renderer",
            "src/invoice/render.rs",
        ),
        ("s3", "another quokka parser tweak", "src/parser/quokka.rs"),
    ];
    for (i, (session, prompt, file)) in sessions.into_iter().enumerate() {
        for (event, body) in edit(session, &format!("t{i}"), file, "fn parse() {}", prompt) {
            assert_eq!(post_hook(worker, event, body.to_string()).0, 200);
        }
        if session == "s1" {
            let stop = json!({"session_id": "s1", "cwd": cwd,
                "last_assistant_message": "Done: the zeppelin tokenizer now accepts trailing commas."});
            assert_eq!(post_hook(worker, "Stop", stop.to_string()).0, 200);
        }
        // One batch at a time keeps the creation order the sessions are listed in.
        worker.wait_until_processed(Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(5));
    }
    poll(worker, "/api/health", |h| {
        let index = &h["index"];
        index["state"] == "ready"
            && index["documents"] == 3
            && index["summaries"] == 1
            && index["prompts"] == 3
    });
}

#[test]
fn summaries_and_prompts_are_searchable_and_kind_file_order_filter_them() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, KINDS_ENV);
    seed_sessions(&worker);

    // The default is observations, in the shape clients have always read.
    let (_, default) = get_json(&worker, "/api/search?q=quokka%20parser&mode=text");
    assert_eq!(kinds(&default), ["observation", "observation"], "{default}");
    assert_eq!(default["kinds"], json!(["observation"]));
    assert_eq!(default["order"], "relevance");
    for r in results(&default) {
        assert!(r["observation"]["title"].is_string(), "{r}");
        assert!(r["summary"].is_null() && r["prompt"].is_null(), "{r}");
    }

    // kind=prompt finds what the user typed, with its session and project.
    let (_, prompts) = get_json(
        &worker,
        "/api/search?q=trailing%20commas&kind=prompt&mode=text",
    );
    assert_eq!(kinds(&prompts), ["prompt"], "{prompts}");
    let p = &results(&prompts)[0]["prompt"];
    assert_eq!(p["prompt"], "teach the quokka parser about trailing commas");
    assert_eq!(
        (p["session_id"].as_str(), p["project"].as_str()),
        (Some("s1"), Some("acme-api"))
    );
    assert!(p["id"].is_i64() && p["created_at"].is_i64(), "{p}");
    // Hybrid (the default mode) finds it too.
    let (_, hybrid) = get_json(&worker, "/api/search?q=trailing%20commas&kind=prompt");
    assert_eq!(
        kinds(&hybrid).first().map(String::as_str),
        Some("prompt"),
        "{hybrid}"
    );

    // kind=summary finds a session summary by what only the summary says.
    let (_, summaries) = get_json(&worker, "/api/search?q=zeppelin&kind=summary&mode=text");
    assert_eq!(kinds(&summaries), ["summary"], "{summaries}");
    let s = &results(&summaries)[0]["summary"];
    assert_eq!(s["session_id"], "s1");
    assert!(s["completed"].as_str().unwrap().contains("zeppelin"), "{s}");
    assert_eq!(
        s["request"],
        "teach the quokka parser about trailing commas"
    );
    // ...which no observation or prompt says.
    for kind in ["observation", "prompt"] {
        let (_, none) = get_json(
            &worker,
            &format!("/api/search?q=zeppelin&kind={kind}&mode=text"),
        );
        assert!(results(&none).is_empty(), "{kind}: {none}");
    }

    // kind=all mixes the three, merged best first.
    let (_, all) = get_json(&worker, "/api/search?q=quokka%20parser&kind=all&mode=text");
    let mut seen = kinds(&all);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["observation", "prompt", "summary"], "{all}");
    assert_eq!(all["kinds"], json!(["observation", "summary", "prompt"]));
    let scores: Vec<f64> = results(&all)
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // A list of kinds works as well.
    let (_, two) = get_json(
        &worker,
        "/api/search?q=quokka%20parser&kind=summary,prompt&mode=text",
    );
    assert!(kinds(&two).iter().all(|k| k != "observation"), "{two}");
    assert!(!results(&two).is_empty());

    // file= keeps observations that touched the file: by full path, trailing part or absolute path.
    for file in [
        "src/parser/quokka.rs",
        "parser/quokka.rs",
        "quokka.rs",
        "/home/dev/work/acme-api/src/parser/quokka.rs",
    ] {
        let (status, a) = get_json(&worker, &format!("/api/search?q=src&mode=text&file={file}"));
        assert_eq!(status, 200, "{a}");
        let files: Vec<String> = results(&a)
            .iter()
            .map(|r| {
                r["observation"]["files_modified"][0]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        assert_eq!(
            files,
            ["src/parser/quokka.rs", "src/parser/quokka.rs"],
            "{file}: {a}"
        );
    }
    let (_, render) = get_json(&worker, "/api/search?q=src&mode=text&file=render.rs");
    assert_eq!(results(&render).len(), 1, "{render}");
    // Not a component of any path, and not a real file: nothing.
    for file in ["uokka.rs", "nothing.rs"] {
        let (_, none) = get_json(&worker, &format!("/api/search?q=src&mode=text&file={file}"));
        assert!(results(&none).is_empty(), "{file}: {none}");
    }
    // With kind=all the file narrows to observations; in hybrid and vector modes too.
    for mode in ["text", "hybrid", "vector"] {
        let (_, a) = get_json(
            &worker,
            &format!(
                "/api/search?q=quokka%20parser&kind=all&mode={mode}&min_score=0&file=render.rs"
            ),
        );
        assert!(kinds(&a).iter().all(|k| k == "observation"), "{mode}: {a}");
        assert!(
            results(&a)
                .iter()
                .all(|r| r["observation"]["files_modified"][0] == "src/invoice/render.rs"),
            "{mode}: {a}"
        );
    }

    // order=newest lists the relevant ones by time, newest first, across kinds.
    let newest = get_json(
        &worker,
        "/api/search?q=quokka%20parser&kind=all&mode=text&order=newest",
    )
    .1;
    assert_eq!(newest["order"], "newest");
    let times: Vec<i64> = results(&newest)
        .iter()
        .map(|r| {
            r[r["kind"].as_str().unwrap()]["created_at"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(times.len() >= 4, "{newest}");
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let obs_newest = get_json(
        &worker,
        "/api/search?q=quokka%20parser&mode=text&order=newest",
    )
    .1;
    let ids: Vec<i64> = results(&obs_newest)
        .iter()
        .map(|r| r["observation"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{obs_newest}");
    assert!(ids[0] > ids[1], "the later edit (s3) first: {ids:?}");
    // Paging cuts the time-ordered list.
    let page = get_json(
        &worker,
        "/api/search?q=quokka%20parser&kind=all&mode=text&order=newest&limit=2&offset=1",
    )
    .1;
    let page_times: Vec<i64> = results(&page)
        .iter()
        .map(|r| {
            r[r["kind"].as_str().unwrap()]["created_at"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(page_times, times[1..3], "{page}");

    // The CLI passes the same parameters.
    let cli = |args: &[&str]| {
        sandbox
            .command()
            .env("CLAUDE_MEM_PORT", worker.port.to_string())
            .arg("search")
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&[
        "trailing commas",
        "--kind",
        "prompt",
        "--mode",
        "text",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kinds(&answer), ["prompt"], "{answer}");
    let table = cli(&[
        "quokka parser",
        "--kind",
        "all",
        "--mode",
        "text",
        "--order",
        "newest",
    ]);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let table = String::from_utf8_lossy(&table.stdout);
    for expected in [
        "summary",
        "prompt",
        "another quokka parser tweak",
        "teach the quokka parser",
    ] {
        assert!(table.contains(expected), "{expected} missing:\n{table}");
    }
    let out = cli(&["src", "--file", "render.rs", "--mode", "text", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results(&answer).len(), 1, "{answer}");
    let bad = cli(&["x", "--kind", "poem"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("poem"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let bad = cli(&["x", "--order", "sideways"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("newest"));

    // Pruning forgets summaries and prompts in the indexes as well as observations.
    let cutoff = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let pruned: Value = http()
        .post(worker.url("/api/admin/prune"))
        .json(&json!({ "cutoff": cutoff }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(pruned["index"], "deleted", "{pruned}");
    assert_eq!(
        pruned["summary_ids"].as_array().map(Vec::len),
        Some(1),
        "{pruned}"
    );
    assert_eq!(
        pruned["prompt_ids"].as_array().map(Vec::len),
        Some(3),
        "{pruned}"
    );
    let (_, health) = get_json(&worker, "/api/health");
    let index = &health["index"];
    assert_eq!(
        (&index["documents"], &index["summaries"], &index["prompts"]),
        (&json!(0), &json!(0), &json!(0)),
        "{health}"
    );
    let (_, gone) = get_json(
        &worker,
        "/api/search?q=quokka%20zeppelin&kind=all&mode=text",
    );
    assert!(results(&gone).is_empty(), "{gone}");
}

#[test]
fn an_index_from_before_summaries_and_prompts_catches_up_on_restart() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, KINDS_ENV);
    seed_sessions(&worker);
    assert!(worker.stop().success());

    // What a schema 2 install left: observations indexed, no summary or prompt indexes or cursors.
    let index = sandbox.data_dir().join("index");
    let stamp_path = index.join("index.json");
    let mut stamp: Value = serde_json::from_slice(&std::fs::read(&stamp_path).unwrap()).unwrap();
    assert_eq!(stamp["schema"], 3, "{stamp}");
    assert_eq!(stamp["last_indexed_prompt_id"], 3, "{stamp}");
    stamp["schema"] = json!(2);
    let fields = stamp.as_object_mut().unwrap();
    fields.remove("last_indexed_summary_id");
    fields.remove("last_indexed_prompt_id");
    std::fs::write(&stamp_path, stamp.to_string()).unwrap();
    std::fs::remove_dir_all(index.join("summaries")).unwrap();
    std::fs::remove_dir_all(index.join("prompts")).unwrap();

    let worker = Worker::start_with(&sandbox, KINDS_ENV);
    let (_, health) = get_json(&worker, "/api/health");
    assert!(
        health["index"]["rebuild_reason"]
            .as_str()
            .unwrap_or("")
            .contains("observations are kept"),
        "{health}"
    );
    // Observations were not re-indexed: they answer at once.
    assert_eq!(health["index"]["documents"], 3, "{health}");
    poll(
        &worker,
        "/api/search?q=zeppelin&kind=summary&mode=text",
        |a| kinds(a) == ["summary"],
    );
    poll(
        &worker,
        "/api/search?q=trailing%20commas&kind=prompt&mode=text",
        |a| kinds(a) == ["prompt"],
    );
    let health = poll(&worker, "/api/health", |h| h["index"]["state"] == "ready");
    let index = &health["index"];
    assert_eq!(
        (
            &index["summaries"],
            &index["prompts"],
            &index["last_indexed_prompt_id"]
        ),
        (&json!(1), &json!(3), &json!(3)),
        "{health}"
    );
    // A plain restart keeps all three: nothing to rebuild.
    assert!(worker.stop().success());
    let worker = Worker::start_with(&sandbox, KINDS_ENV);
    let (_, health) = get_json(&worker, "/api/health");
    assert!(health["index"]["rebuild_reason"].is_null(), "{health}");
    assert_eq!(health["index"]["prompts"], 3, "{health}");
}

#[test]
fn corrupt_indexes_are_rebuilt_and_search_keeps_answering() {
    let sandbox = Sandbox::new();
    let worker = Worker::start_with(&sandbox, FAST);
    for (i, file) in [
        "src/api/routes.rs",
        "src/auth/login.rs",
        "src/queue/retry.rs",
    ]
    .iter()
    .enumerate()
    {
        for (event, body) in edit("s", &format!("t{i}"), file, "fn handler() {}", "work") {
            post_hook(&worker, event, body.to_string());
        }
    }
    wait_found(
        &worker,
        "queue retry",
        "src/queue/retry.rs",
        Duration::from_secs(10),
    );
    assert!(worker.stop().success());
    let index = sandbox.data_dir().join("index");
    std::fs::write(index.join("vectors/vectors.hnsw.graph"), b"\x00garbage").unwrap();
    for entry in std::fs::read_dir(index.join("tantivy")).unwrap().flatten() {
        std::fs::write(entry.path(), b"garbage").unwrap();
    }
    let worker = Worker::start_with(&sandbox, FAST);
    let (_, health) = get_json(&worker, "/api/health");
    let reason = health["index"]["rebuild_reason"].as_str().unwrap_or("");
    assert!(reason.contains("unreadable"), "{health}");
    wait_found(
        &worker,
        "auth login",
        "src/auth/login.rs",
        Duration::from_secs(20),
    );
    let health = worker.wait_until_processed(Duration::from_secs(5));
    assert_eq!(health["index"]["documents"], 3, "{health}");
}

#[test]
fn switching_the_embedder_rebuilds_the_vectors_and_the_cli_searches() {
    let sandbox = Sandbox::new();
    let hashed = Worker::start_with(&sandbox, &[FAST[0], ("CLAUDE_MEM_EMBEDDER", "hash")]);
    for (event, body) in edit(
        "s",
        "t1",
        "web/src/hooks/useAuth.ts",
        "export function useAuth() {}",
        "the login page forgets the session",
    ) {
        post_hook(&hashed, event, body.to_string());
    }
    wait_found(&hashed, "use auth", "useAuth", Duration::from_secs(10));
    let (_, health) = get_json(&hashed, "/api/health");
    assert_eq!(health["index"]["embedder"], "hash-384");
    assert!(hashed.stop().success());

    let model = model_dir();
    let model = model.to_str().unwrap();
    let real = Worker::start_with(
        &sandbox,
        &[
            FAST[0],
            ("CLAUDE_MEM_EMBEDDER", "minilm"),
            ("CLAUDE_MEM_MODEL_DIR", model),
        ],
    );
    let (_, health) = get_json(&real, "/api/health");
    assert!(
        health["index"]["rebuild_reason"]
            .as_str()
            .unwrap_or("")
            .contains("embedder"),
        "{health}"
    );
    assert!(health["index"]["embedder_fallback"].is_null(), "{health}");
    // A paraphrase only the semantic model can connect to the memory. It is a loose one (relevance ~0.2,
    // under the default floor of 0.3), so the floor is lowered: what is tested is that the rebuilt vectors
    // connect it at all.
    let took = wait_found(
        &real,
        "user gets logged out&mode=vector&min_score=0.1",
        "useAuth",
        Duration::from_secs(30),
    );
    assert!(took < Duration::from_secs(30));

    let out = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", real.port.to_string())
        .args(["search", "use auth hook", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(titles(&answer)[0].contains("useAuth"));
    let table = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", real.port.to_string())
        .args(["search", "useAuth"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("web/src/hooks/useAuth.ts")
            || String::from_utf8_lossy(&table.stdout).contains("useAuth")
    );
    let reindex = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", real.port.to_string())
        .arg("reindex")
        .output()
        .unwrap();
    assert!(
        reindex.status.success(),
        "{}",
        String::from_utf8_lossy(&reindex.stderr)
    );
    assert!(
        String::from_utf8_lossy(&reindex.stdout).contains("reindexed: 1 documents"),
        "{}",
        String::from_utf8_lossy(&reindex.stdout)
    );
    let down = sandbox
        .command()
        .env("CLAUDE_MEM_PORT", "1")
        .args(["search", "x"])
        .output()
        .unwrap();
    assert!(!down.status.success());
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(
        said.contains("not running on 127.0.0.1:1") && said.contains("claude-mem serve"),
        "{said}"
    );
}
