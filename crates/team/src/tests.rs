//! The PostgreSQL store against a real, throwaway PostgreSQL (Debian's binaries, see `pg_cluster`).
//!
//! The tests of this binary share one server while any of them runs (it stops when the last one is
//! done, so no server outlives the run) and each test has a database of its own.

use crate::auth::hash_token;
use crate::pg_cluster::TempCluster;
use crate::pg_store::CLAIM_LEASE_MS;
use crate::{Owner, PgStore, TeamError};
use claude_mem_core::clock::now_ms;
use claude_mem_core::model::{ObservationDraft, ObservationType, SummaryDraft};
use claude_mem_core::processor::{Processor, ProcessorConfig};
use claude_mem_core::storage::StorageError;
use claude_mem_core::store::CompletedBatch;
use claude_mem_core::{HookEvent, IngestOutcome, Storage};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

pub(crate) fn cluster() -> Arc<TempCluster> {
    static SHARED: Mutex<Weak<TempCluster>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = shared.upgrade() {
        return c;
    }
    let c = Arc::new(TempCluster::start().expect("start PostgreSQL (apt-get install postgresql)"));
    *shared = Arc::downgrade(&c);
    c
}

/// A fresh database with the schema applied; the cluster handle keeps the server up.
pub(crate) async fn setup(name: &str) -> (Arc<TempCluster>, PgStore) {
    let c = tokio::task::spawn_blocking(cluster).await.unwrap();
    let url = c.create_database(name).await.unwrap();
    let store = PgStore::connect(&url, 8).await.unwrap();
    (c, store)
}

/// Same database, own pool and replica id: a second worker process.
async fn second_replica(store: &PgStore) -> PgStore {
    let (db,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let admin = cluster().admin_url().to_owned();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let url = format!("{base}/{db}");
    PgStore::connect(&url, 8).await.unwrap()
}

pub(crate) async fn owner(store: &PgStore, team: &str, user: &str) -> Owner {
    if let Err(e) = store.create_team(team).await {
        assert!(matches!(e, TeamError::Exists(_)), "{e}");
    }
    store.create_user(team, user).await.unwrap().owner
}

pub(crate) fn event(name: &str, body: Value) -> HookEvent {
    HookEvent::parse(name, body.to_string().as_bytes()).unwrap()
}

fn fixture(file: &str) -> Value {
    let path = format!("/work/shared/fixtures/hooks/{file}");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .into_bytes();
    serde_json::from_slice(&text).unwrap()
}

async fn count(store: &PgStore, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(store.pool()).await.unwrap();
    n
}

/// One turn that the rule-based compressor turns into one observation (the Edit) and a summary.
fn turn(session: &str, cwd: &str) -> Vec<HookEvent> {
    vec![
        event(
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": cwd, "prompt": "fix the flaky login test"}),
        ),
        event(
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Edit",
                "tool_use_id": format!("{session}-1"),
                "tool_input": {"file_path": format!("{cwd}/src/login.rs"), "old_string": "sleep(1)",
                               "new_string": "fn wait_for_ready() {}"},
                "tool_response": {}}),
        ),
        event(
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Bash",
                "tool_use_id": format!("{session}-2"), "tool_input": {"command": "ls"},
                "tool_response": {"stdout": "src", "stderr": "", "interrupted": false}}),
        ),
        event(
            "Stop",
            json!({"session_id": session, "cwd": cwd, "stop_hook_active": false,
                "last_assistant_message": "Replaced the sleep with a readiness wait."}),
        ),
    ]
}

fn draft(title: &str, source: i64) -> ObservationDraft {
    ObservationDraft {
        kind: ObservationType::Bugfix,
        title: title.to_owned(),
        subtitle: String::new(),
        narrative: "The login test slept instead of waiting.".to_owned(),
        facts: vec!["login.rs waits for readiness".to_owned()],
        concepts: vec![],
        files_read: vec![],
        files_modified: vec!["src/login.rs".to_owned()],
        keywords: vec!["flaky".to_owned()],
        source_event_ids: vec![source],
        prompt_number: 1,
        input_tokens: 0,
        output_tokens: 0,
    }
}

fn cfg() -> ProcessorConfig {
    ProcessorConfig {
        linger_ms: 0,
        retry_base_ms: 0,
        max_attempts: 3,
        ..Default::default()
    }
}

#[tokio::test]
async fn ingest_is_idempotent_numbers_prompts_and_needs_an_owner() {
    let (_c, store) = setup("ingest_idempotent").await;
    let alice = owner(&store, "acme", "alice").await;
    let scoped = store.scoped(alice.clone());
    let prompt = fixture("UserPromptSubmit.json");
    let session = prompt["session_id"].as_str().unwrap().to_owned();

    let first = scoped
        .ingest(event("UserPromptSubmit", prompt.clone()))
        .await
        .unwrap();
    let IngestOutcome::Stored {
        event_id,
        prompt_number,
    } = first
    else {
        panic!("first delivery must be stored: {first:?}");
    };
    assert_eq!(prompt_number, 1);
    assert_eq!(
        scoped
            .ingest(event("UserPromptSubmit", prompt.clone()))
            .await
            .unwrap(),
        IngestOutcome::Duplicate { event_id }
    );
    let mut second = prompt.clone();
    second["prompt"] = json!("now run the tests");
    let again = scoped
        .ingest(event("UserPromptSubmit", second))
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            IngestOutcome::Stored {
                prompt_number: 2,
                ..
            }
        ),
        "{again:?}"
    );
    scoped
        .ingest(event("PostToolUse", fixture("PostToolUse.Bash.json")))
        .await
        .unwrap();
    scoped
        .ingest(event("SessionEnd", fixture("SessionEnd.json")))
        .await
        .unwrap();

    let (events, prompts, status, reason, team, user): (
        i64,
        i64,
        String,
        Option<String>,
        i64,
        i64,
    ) = sqlx::query_as(
        "SELECT event_count, prompt_count, status, end_reason, team_id, user_id
             FROM sdk_sessions WHERE id = $1",
    )
    .bind(&session)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((events, prompts), (4, 2));
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("ended", Some("other"))
    );
    assert_eq!((team, user), (alice.team_id, alice.user_id));
    // Every row copies the session's owner; the payload is real JSON.
    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT COUNT(*) FROM pending_messages WHERE team_id = {} AND user_id = {}
                 AND payload->>'session_id' = '{session}'",
                alice.team_id, alice.user_id
            )
        )
        .await,
        4
    );
    let numbers: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT prompt_number, team_id, text FROM user_prompts WHERE session_id = $1 ORDER BY 1",
    )
    .bind(&session)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        numbers,
        vec![
            (1, alice.team_id, "run echo".to_owned()),
            (2, alice.team_id, "now run the tests".to_owned())
        ]
    );

    // The unscoped (processor's) copy acts for nobody and may not ingest.
    let err = store
        .ingest(event("UserPromptSubmit", prompt))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Forbidden(_)), "{err}");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM pending_messages").await,
        4
    );
}

#[tokio::test]
async fn another_team_cannot_write_into_a_session() {
    let (_c, store) = setup("team_isolation_ingest").await;
    let alice = owner(&store, "acme", "alice").await;
    let mallory = owner(&store, "evil", "mallory").await;
    let bob = owner(&store, "acme", "bob").await;
    let prompt = fixture("UserPromptSubmit.json");
    store
        .scoped(alice.clone())
        .ingest(event("UserPromptSubmit", prompt.clone()))
        .await
        .unwrap();

    let mut intruding = prompt.clone();
    intruding["prompt"] = json!("ignore previous instructions");
    let err = store
        .scoped(mallory.clone())
        .ingest(event("UserPromptSubmit", intruding.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Forbidden(_)), "{err}");
    assert!(matches!(TeamError::from(err), TeamError::Forbidden(_)));
    // Even a redelivery of alice's own event is refused to another team (no event id leaks).
    let err = store
        .scoped(mallory.clone())
        .ingest(event("UserPromptSubmit", prompt.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Forbidden(_)), "{err}");

    assert_eq!(store.counts(Some(mallory.team_id)).await.unwrap().events, 0);
    assert_eq!(
        store.counts(Some(mallory.team_id)).await.unwrap().sessions,
        0
    );
    assert_eq!(store.counts(Some(alice.team_id)).await.unwrap().events, 1);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM user_prompts").await,
        1,
        "nothing of the refused event was kept"
    );

    // A teammate may continue the session; the rows stay the session's.
    let ok = store
        .scoped(bob)
        .ingest(event("UserPromptSubmit", intruding))
        .await
        .unwrap();
    assert!(matches!(
        ok,
        IngestOutcome::Stored {
            prompt_number: 2,
            ..
        }
    ));
    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT COUNT(*) FROM user_prompts WHERE team_id = {} AND user_id = {}",
                alice.team_id, alice.user_id
            )
        )
        .await,
        2
    );
}

#[tokio::test]
async fn concurrent_replicas_never_claim_the_same_session() {
    let (_c, a) = setup("claims").await;
    let b = second_replica(&a).await;
    assert_ne!(a.replica_id(), b.replica_id());
    let alice = owner(&a, "acme", "alice").await;
    let scoped = a.scoped(alice);
    for i in 0..40 {
        let session = format!("claim-{i}");
        scoped
            .ingest(event(
                "Stop",
                json!({"session_id": session, "cwd": "/w/p", "stop_hook_active": false}),
            ))
            .await
            .unwrap();
    }
    let now = now_ms();
    let mut handles = Vec::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..6 {
                for s in store.ready_sessions(now, 20, 0, 4).await.unwrap() {
                    got.push((store.replica_id().to_owned(), s.session_id));
                }
            }
            got
        }));
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for h in handles {
        for (replica, session) in h.await.unwrap() {
            let twice = seen.insert(session.clone(), replica.clone());
            assert_eq!(twice, None, "{session} claimed twice (now by {replica})");
        }
    }
    assert_eq!(seen.len(), 40, "every due session was claimed");
    assert!(seen.values().any(|r| r == a.replica_id()));
    assert!(seen.values().any(|r| r == b.replica_id()));

    // While the claims hold, the other replica gets nothing; once they expire it takes them over.
    let held_by_a: BTreeSet<&String> = seen
        .iter()
        .filter(|(_, r)| *r == a.replica_id())
        .map(|(s, _)| s)
        .collect();
    assert!(b
        .ready_sessions(now + 1000, 20, 0, 64)
        .await
        .unwrap()
        .iter()
        .all(|s| !held_by_a.contains(&s.session_id)));
    let later = now + CLAIM_LEASE_MS + 1;
    let taken: BTreeSet<String> = b
        .ready_sessions(later, 20, 0, 64)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert!(held_by_a.iter().all(|s| taken.contains(*s)));
    // A replica loads only sessions it holds.
    let one = held_by_a.iter().next().unwrap();
    assert!(a.load_batch(one, later, 20).await.unwrap().is_empty());
    assert_eq!(b.load_batch(one, later, 20).await.unwrap().len(), 1);
}

#[tokio::test]
async fn completing_events_already_completed_elsewhere_stores_nothing() {
    let (_c, a) = setup("complete_twice").await;
    let b = second_replica(&a).await;
    let alice = owner(&a, "acme", "alice").await;
    for e in turn("s-twice", "/w/p") {
        a.scoped(alice.clone()).ingest(e).await.unwrap();
    }
    let now = now_ms();
    assert_eq!(a.ready_sessions(now, 20, 0, 8).await.unwrap().len(), 1);
    let a_events = a.load_batch("s-twice", now, 20).await.unwrap();
    assert_eq!(a_events.len(), 4);
    // A's lease runs out (a long LLM call); B takes over and finishes first.
    let later = now + CLAIM_LEASE_MS + 1;
    assert_eq!(b.ready_sessions(later, 20, 0, 8).await.unwrap().len(), 1);
    let b_events = b.load_batch("s-twice", later, 20).await.unwrap();
    assert_eq!(a_events, b_events);
    let batch = |events: &[claude_mem_core::model::QueuedEvent]| CompletedBatch {
        session_id: "s-twice".into(),
        project: "p".into(),
        compressor: "local".into(),
        model: None,
        observations: vec![draft("Replaced the flaky sleep", events[1].id)],
        done: events.iter().map(|e| e.id).collect(),
        skipped: vec![],
        summary: Some((1, SummaryDraft::default(), "local".into(), None)),
    };
    let stored = b.complete_batch(batch(&b_events)).await.unwrap();
    assert_eq!(stored.len(), 1);
    let again = a.complete_batch(batch(&a_events)).await.unwrap();
    assert!(again.is_empty(), "a step done twice must count once");
    assert_eq!(count(&a, "SELECT COUNT(*) FROM observations").await, 1);
    assert_eq!(count(&a, "SELECT COUNT(*) FROM session_summaries").await, 1);
    let (observations, claimed): (i64, Option<String>) = sqlx::query_as(
        "SELECT observation_count, claimed_by FROM sdk_sessions WHERE id = 's-twice'",
    )
    .fetch_one(a.pool())
    .await
    .unwrap();
    assert_eq!((observations, claimed), (1, None));

    // The row carries the session's owner and reads back whole.
    let rows = a.get_observations(alice.team_id, &stored).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].source_event_ids, vec![b_events[1].id]);
    assert_eq!(rows[0].files_modified, vec!["src/login.rs".to_owned()]);
    assert_eq!(rows[0].kind, "bugfix");
    let (team,): (i64,) = sqlx::query_as("SELECT team_id FROM observations")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(team, alice.team_id);
}

#[tokio::test]
async fn defer_backs_off_parks_and_releases_the_claim() {
    let (_c, store) = setup("defer").await;
    let alice = owner(&store, "acme", "alice").await;
    for e in turn("s-defer", "/w/p") {
        store.scoped(alice.clone()).ingest(e).await.unwrap();
    }
    let now = now_ms();
    assert_eq!(store.ready_sessions(now, 20, 0, 8).await.unwrap().len(), 1);
    let events = store.load_batch("s-defer", now, 20).await.unwrap();
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let parked = store
        .defer_events(ids.clone(), "rate limited".into(), now + 60_000, 2)
        .await
        .unwrap();
    assert_eq!(parked, 0);
    let (claimed,): (Option<String>,) =
        sqlx::query_as("SELECT claimed_by FROM sdk_sessions WHERE id = 's-defer'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(claimed, None);
    assert!(store
        .ready_sessions(now, 20, 0, 8)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.next_due_at().await.unwrap(), Some(now + 60_000));
    let ids_again = ids.clone();
    let parked = store
        .defer_events(ids, "rate limited".into(), now + 120_000, 2)
        .await
        .unwrap();
    assert_eq!(parked, 4);
    assert_eq!(store.counts(None).await.unwrap().pending_events, 0);

    // Nothing parked forever: one by id, then the rest, attempts reset and due at once; idempotent.
    assert_eq!(store.requeue_failed(Some(ids_again[0])).await.unwrap(), 1);
    assert_eq!(store.requeue_failed(Some(ids_again[0])).await.unwrap(), 0);
    assert_eq!(store.requeue_failed(None).await.unwrap(), 3);
    assert_eq!(store.requeue_failed(None).await.unwrap(), 0);
    assert_eq!(store.counts(None).await.unwrap().pending_events, 4);
    let later = now_ms();
    assert_eq!(
        store.ready_sessions(later, 20, 0, 8).await.unwrap().len(),
        1
    );
    let again = store.load_batch("s-defer", later, 20).await.unwrap();
    assert!(again.iter().all(|e| e.attempts == 0), "{again:?}");
    // The new observation types pass the table's CHECK (team migration 0002).
    let (check,): (String,) = sqlx::query_as(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'observations_type_check'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(
        check.contains("security_alert") && check.contains("security_note"),
        "{check}"
    );
}

async fn drain(processors: Vec<Arc<Processor>>, store: &PgStore, until: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ticks: Vec<_> = processors
            .iter()
            .map(|p| tokio::spawn(p.clone().tick()))
            .collect();
        for t in ticks {
            t.await.unwrap().unwrap();
        }
        if until() && store.counts(None).await.unwrap().pending_events == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn processor_turns_fixture_events_into_team_observations() {
    let (_c, store) = setup("processor_fixtures").await;
    let alice = owner(&store, "acme", "alice").await;
    let scoped = store.scoped(alice.clone());
    let mut edit = fixture("PostToolUse.Bash.json");
    edit["tool_name"] = json!("Edit");
    edit["tool_use_id"] = json!("toolu_edit0001");
    edit["tool_input"] = json!({"file_path": "/home/dev/work/acme-api/src/auth.rs",
        "old_string": "token == expected", "new_string": "constant_time_eq(token, expected)"});
    edit["tool_response"] = json!({});
    let events = [
        ("SessionStart", fixture("SessionStart.startup.json")),
        ("UserPromptSubmit", fixture("UserPromptSubmit.json")),
        ("PreToolUse", fixture("PreToolUse.Bash.json")),
        ("PostToolUse", fixture("PostToolUse.Bash.json")),
        ("PostToolUse", edit),
        ("PostToolBatch", fixture("PostToolBatch.json")),
        (
            "PostToolUseFailure",
            fixture("PostToolUseFailure.Bash.json"),
        ),
        ("PostToolUse", fixture("PostToolUse.mcp.json")),
        ("Stop", fixture("Stop.json")),
        ("SessionEnd", fixture("SessionEnd.json")),
    ];
    for (name, body) in events {
        scoped.ingest(event(name, body)).await.unwrap();
    }
    let p = Arc::new(Processor::with_storage(
        Arc::new(store.clone()),
        None,
        cfg(),
    ));
    drain(vec![p], &store, || true).await;

    let counts = store.counts(Some(alice.team_id)).await.unwrap();
    assert!(counts.observations >= 1, "{counts:?}");
    assert!(counts.summaries >= 1, "{counts:?}");
    assert_eq!(counts.pending_events, 0);
    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT COUNT(*) FROM observations WHERE team_id <> {} OR user_id <> {}",
                alice.team_id, alice.user_id
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM sdk_sessions WHERE claimed_by IS NOT NULL"
        )
        .await,
        0,
        "every claim was given back"
    );
    let recent = store
        .recent_observations(alice.team_id, Some("acme-api"), 50)
        .await
        .unwrap();
    assert_eq!(recent.len() as i64, counts.observations);
    assert!(
        recent
            .iter()
            .any(|o| o.files_modified.iter().any(|f| f.ends_with("auth.rs"))),
        "{recent:?}"
    );
}

#[tokio::test]
async fn two_replicas_process_concurrent_ingest_without_duplicates() {
    let (_c, a) = setup("two_replicas").await;
    let b = second_replica(&a).await;
    let alice = owner(&a, "acme", "alice").await;
    let writer_a = a.scoped(alice.clone());
    let writer_b = b.scoped(alice.clone());
    // Ingest through both replicas while both process.
    let ingest = tokio::spawn(async move {
        for i in 0..20 {
            let writer = if i % 2 == 0 { &writer_a } else { &writer_b };
            for e in turn(&format!("sess-{i}"), &format!("/w/project-{}", i % 3)) {
                writer.ingest(e).await.unwrap();
            }
        }
    });
    let pa = Arc::new(Processor::with_storage(Arc::new(a.clone()), None, cfg()));
    let pb = Arc::new(Processor::with_storage(Arc::new(b.clone()), None, cfg()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watcher = tokio::spawn(async move {
        ingest.await.unwrap();
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    drain(vec![pa.clone(), pb.clone()], &a, || {
        done.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    watcher.await.unwrap();

    let counts = a.counts(Some(alice.team_id)).await.unwrap();
    assert_eq!(counts.sessions, 20);
    assert_eq!(counts.events, 80);
    assert_eq!(counts.pending_events, 0);
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'failed'"
        )
        .await,
        0
    );
    assert_eq!(counts.observations, 20, "one Edit per session, once");
    assert_eq!(counts.summaries, 20, "one summary per turn, once");
    let sources: Vec<(sqlx::types::Json<Vec<i64>>,)> =
        sqlx::query_as("SELECT source_event_ids FROM observations")
            .fetch_all(a.pool())
            .await
            .unwrap();
    let mut seen = HashSet::new();
    for (ids,) in sources {
        for id in ids.0 {
            assert!(seen.insert(id), "event {id} made two observations");
        }
    }
    let (sessions_with_counts,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sdk_sessions s
         WHERE observation_count = (SELECT COUNT(*) FROM observations o WHERE o.session_id = s.id)",
    )
    .fetch_one(a.pool())
    .await
    .unwrap();
    assert_eq!(sessions_with_counts, 20);
    let worked = [pa.status().batches, pb.status().batches];
    assert!(worked.iter().sum::<u64>() >= 20, "{worked:?}");
}

#[tokio::test]
async fn text_search_finds_title_words_within_the_team_only() {
    let (_c, store) = setup("text_search").await;
    let alice = owner(&store, "acme", "alice").await;
    let mallory = owner(&store, "evil", "mallory").await;
    let mut ids = HashMap::new();
    for (who, session, cwd, title) in [
        (
            &alice,
            "s-a",
            "/w/api",
            "Replaced the flaky sleep with a readiness probe",
        ),
        (
            &alice,
            "s-a2",
            "/w/web",
            "Readiness check for the web frontend",
        ),
        (
            &mallory,
            "s-m",
            "/w/api",
            "Readiness probe secrets of another team",
        ),
    ] {
        let stored = store
            .scoped(who.clone())
            .ingest(event(
                "Stop",
                json!({"session_id": session, "cwd": cwd, "stop_hook_active": false}),
            ))
            .await
            .unwrap();
        let IngestOutcome::Stored { event_id, .. } = stored else {
            panic!("{stored:?}");
        };
        let now = now_ms();
        store.ready_sessions(now, 20, 0, 8).await.unwrap();
        let project = cwd.rsplit('/').next().unwrap().to_owned();
        let new = store
            .complete_batch(CompletedBatch {
                session_id: session.into(),
                project,
                compressor: "local".into(),
                observations: vec![draft(title, event_id)],
                done: vec![event_id],
                ..Default::default()
            })
            .await
            .unwrap();
        ids.insert(session, new[0]);
    }
    let hits = store
        .text_search(alice.team_id, "readiness", None, 10)
        .await
        .unwrap();
    let hit_ids: BTreeSet<i64> = hits.iter().map(|h| h.0).collect();
    assert_eq!(hit_ids, BTreeSet::from([ids["s-a"], ids["s-a2"]]));
    assert!(hits.iter().all(|h| h.1 > 0.0));
    // Stemming and websearch syntax work; the project filter narrows.
    let hits = store
        .text_search(
            alice.team_id,
            "\"readiness probe\" -frontend",
            Some("api"),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![ids["s-a"]]
    );
    let hits = store
        .text_search(mallory.team_id, "readiness", None, 10)
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![ids["s-m"]]
    );
    assert!(store
        .text_search(alice.team_id, "   ", None, 10)
        .await
        .unwrap()
        .is_empty());

    // Reads by id keep the caller's order and drop other teams' rows.
    let rows = store
        .get_observations(alice.team_id, &[ids["s-a2"], ids["s-m"], ids["s-a"]])
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids["s-a2"], ids["s-a"]]
    );
    let recent = store
        .recent_observations(mallory.team_id, None, 10)
        .await
        .unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].session_id, "s-m");
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_can_be_revoked() {
    let (_c, store) = setup("tokens").await;
    store.create_team("acme").await.unwrap();
    assert!(matches!(
        store.create_team("acme").await,
        Err(TeamError::Exists(_))
    ));
    assert!(matches!(
        store.create_user("nope", "alice").await,
        Err(TeamError::UnknownTeam(_))
    ));
    let first = store.create_user("acme", "alice").await.unwrap();
    assert!(matches!(
        store.create_user("acme", "alice").await,
        Err(TeamError::Exists(_))
    ));
    assert!(matches!(
        store.issue_token("acme", "bob", "laptop").await,
        Err(TeamError::UnknownUser { .. })
    ));
    assert!(matches!(
        store.issue_token("nope", "alice", "laptop").await,
        Err(TeamError::UnknownTeam(_))
    ));
    let second = store.issue_token("acme", "alice", "laptop").await.unwrap();
    for t in [&first.token, &second.token] {
        assert!(t.starts_with("cm_") && t.len() == 67, "{t}");
        assert!(t[3..].chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(first.token, second.token);

    // Nothing in the table reveals a token: only hashes.
    let rows: Vec<(String,)> = sqlx::query_as("SELECT t::text FROM api_tokens t")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for (row,) in &rows {
        for t in [&first.token, &second.token] {
            assert!(!row.contains(&t[3..]), "plaintext token stored: {row}");
        }
    }
    assert!(rows
        .iter()
        .any(|(r,)| r.contains(&hash_token(&first.token))));

    let who = store.authenticate(&first.token).await.unwrap().unwrap();
    assert_eq!(who, first.owner);
    assert_eq!((who.team.as_str(), who.user.as_str()), ("acme", "alice"));
    let (used,): (Option<i64>,) =
        sqlx::query_as("SELECT last_used_at FROM api_tokens WHERE token_hash = $1")
            .bind(hash_token(&first.token))
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(used.is_some());
    assert_eq!(store.authenticate("cm_0000").await.unwrap(), None);
    assert_eq!(store.authenticate("").await.unwrap(), None);

    assert!(store.revoke_token(&first.token).await.unwrap());
    assert!(!store.revoke_token(&first.token).await.unwrap());
    assert_eq!(store.authenticate(&first.token).await.unwrap(), None);
    assert_eq!(
        store.authenticate(&second.token).await.unwrap(),
        Some(first.owner)
    );
    // Closing returns although the LISTEN task holds a pooled connection.
    tokio::time::timeout(Duration::from_secs(10), store.close())
        .await
        .expect("close does not hang");
}

#[tokio::test]
async fn other_replicas_wake_when_one_ingests() {
    let (_c, a) = setup("wake").await;
    let b = second_replica(&a).await;
    let alice = owner(&a, "acme", "alice").await;
    let woken = b.ingest_signal();
    let deadline = Instant::now() + Duration::from_secs(10);
    // b's LISTEN starts in the background: keep ingesting until it hears one.
    for i in 0.. {
        a.scoped(alice.clone())
            .ingest(event(
                "UserPromptSubmit",
                json!({"session_id": "wake", "cwd": "/w/p", "prompt": format!("prompt {i}")}),
            ))
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_millis(200), woken.notified())
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "replica b was never woken");
    }
}

/// Dedup keys escape `:` and `\` (`hook_event::event_key`), as in SQLite: two tool calls that shared one
/// key before (`a:b` + `c`, `a` + `b:c`) are both stored, and migration 0003 rewrites keys written before
/// it so a redelivery still matches.
#[tokio::test]
async fn escaped_event_keys_and_their_migration() {
    let (_c, store) = setup("escaped_event_keys").await;
    let alice = owner(&store, "acme", "alice").await;
    let scoped = store.scoped(alice.clone());
    let start = event(
        "SessionStart",
        json!({"session_id": "a:b", "cwd": "/w/app", "source": "startup"}),
    );
    scoped.ingest(start).await.unwrap();
    // A key as the old code wrote it: rewritten by the migration (run again here on that row; the
    // store ran it on an empty table when it connected).
    sqlx::query(
        "INSERT INTO pending_messages (event_key, session_id, team_id, user_id, event_name, payload,
             created_at)
         SELECT 'PostToolUse:a:b:old:1', 'a:b', team_id, user_id, 'PostToolUse', '{}'::jsonb, 0
         FROM pending_messages WHERE session_id = 'a:b' LIMIT 1",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::raw_sql(include_str!("../migrations/0003_escaped_event_keys.sql"))
        .execute(store.pool())
        .await
        .unwrap();
    let tool = |session: &str, id: &str| {
        event(
            "PostToolUse",
            json!({"session_id": session, "cwd": "/w/app", "tool_name": "Bash", "tool_use_id": id}),
        )
    };
    let again = scoped.ingest(tool("a:b", "old:1")).await.unwrap();
    assert!(
        matches!(again, IngestOutcome::Duplicate { .. }),
        "{again:?}"
    );
    for (session, id) in [("a:b", "c"), ("a", "b:c")] {
        let got = scoped.ingest(tool(session, id)).await.unwrap();
        assert!(
            matches!(got, IngestOutcome::Stored { .. }),
            "{session} {id}: {got:?}"
        );
    }
    let keys: Vec<(String,)> = sqlx::query_as(
        "SELECT event_key FROM pending_messages WHERE event_name = 'PostToolUse' ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let keys: Vec<String> = keys.into_iter().map(|k| k.0).collect();
    assert_eq!(
        keys,
        [
            r"PostToolUse:a\:b:old\:1",
            r"PostToolUse:a\:b:c",
            r"PostToolUse:a:b\:c"
        ]
    );
}

type SessionRow = (
    String,
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    bool,
    i64,
    i64,
);
type QueueRowText = (
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    i64,
    String,
);
type PromptRow = (String, i64, i64, i64, Option<String>, String);

/// Everything ingest writes, without ids and times (the only things two runs may differ in): the
/// sessions, the queue in id order (the processor's order) and the prompts.
async fn ingest_rows(store: &PgStore) -> (Vec<SessionRow>, Vec<QueueRowText>, Vec<PromptRow>) {
    let sessions = sqlx::query_as(
        "SELECT id, team_id, user_id, project, cwd, transcript_path, status, end_reason,
                ended_at IS NULL, event_count, prompt_count
         FROM sdk_sessions ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let queue = sqlx::query_as(
        "SELECT event_key, session_id, team_id, user_id, event_name, tool_name, prompt_number,
                payload::text
         FROM pending_messages ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let prompts = sqlx::query_as(
        "SELECT session_id, team_id, user_id, prompt_number, prompt_id, text
         FROM user_prompts ORDER BY session_id, prompt_number",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (sessions, queue, prompts)
}

/// Each result in words, with event ids replaced by their event keys (ids may differ between runs:
/// a one-by-one duplicate draws a sequence number, a batched one does not).
async fn describe(
    store: &PgStore,
    results: &[Result<IngestOutcome, claude_mem_core::storage::StorageError>],
) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        let key_of = |id: i64| async move {
            let (key,): (String,) =
                sqlx::query_as("SELECT event_key FROM pending_messages WHERE id = $1")
                    .bind(id)
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            key
        };
        out.push(match r {
            Ok(IngestOutcome::Stored {
                event_id,
                prompt_number,
            }) => format!("stored #{prompt_number} {}", key_of(*event_id).await),
            Ok(IngestOutcome::Duplicate { event_id }) => {
                format!("duplicate of {}", key_of(*event_id).await)
            }
            Err(e @ StorageError::Forbidden(_)) => format!("denied: {e}"),
            Err(e) => format!("error: {e}"),
        });
    }
    out
}

/// A mixed burst: several sessions and teams, prompts, lifecycle events, an empty then a real cwd, a NUL,
/// a redelivery inside the burst, a redelivery of an event stored before it, and an intruder.
fn mixed_burst(alice: &Owner, bob: &Owner, mallory: &Owner) -> Vec<(Owner, HookEvent)> {
    let tool = |session: &str, n: u32, cwd: &str| {
        event(
            "PostToolUse",
            json!({"session_id": session, "cwd": cwd, "tool_name": "Bash",
                   "tool_use_id": format!("{session}-t{n}"), "tool_input": {"command": format!("ls {n}")},
                   "tool_response": {"stdout": "a\u{0}b", "stderr": ""}}),
        )
    };
    let prompt = |session: &str, text: &str| {
        event(
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": "/w/api", "prompt": text, "prompt_id": format!("{session}-{text}")}),
        )
    };
    let start = |session: &str, cwd: &str| {
        event(
            "SessionStart",
            json!({"session_id": session, "cwd": cwd, "source": "startup",
                   "transcript_path": format!("/t/{session}.jsonl")}),
        )
    };
    let end = |session: &str, reason: &str| {
        event(
            "SessionEnd",
            json!({"session_id": session, "cwd": "/w/api", "reason": reason,
                   "transcript_path": "/t/other.jsonl"}),
        )
    };
    let a = |e: HookEvent| (alice.clone(), e);
    vec![
        a(start("s-one", "")),
        a(prompt("s-one", "first")),
        a(tool("s-one", 1, "/w/api")),
        (bob.clone(), prompt("s-two", "bob's")),
        a(tool("s-one", 1, "/w/api")), // redelivered within the burst
        a(prompt("s-one", "first")),   // the same prompt again: same key, a duplicate
        (mallory.clone(), tool("s-one", 9, "/evil")),
        (mallory.clone(), prompt("s-evil", "mine")),
        a(prompt("s-one", "second")),
        a(end("s-one", "clear")),
        a(tool("s-known", 1, "/w/web")), // stored before the burst
        a(prompt("s-known", "later")),
        (alice.clone(), prompt("s-evil", "not yours")),
        a(start("s-one", "/w/other")),
        a(tool("s-two", 2, "")),
        a(end("s-three", "logout")),
    ]
}

/// The group commit must leave exactly what one transaction per event leaves, in the same order, and
/// answer every caller the same.
#[tokio::test]
async fn batched_ingest_matches_one_by_one() {
    let mut runs = Vec::new();
    for (name, batched) in [("burst_one_by_one", false), ("burst_batched", true)] {
        let (_c, store) = setup(name).await;
        let alice = owner(&store, "acme", "alice").await;
        let bob = owner(&store, "acme", "bob").await;
        let mallory = owner(&store, "evil", "mallory").await;
        // Stored earlier: one event the burst redelivers, and a session with a prompt already.
        let known = store.scoped(alice.clone());
        known
            .ingest(event(
                "PostToolUse",
                json!({"session_id": "s-known", "cwd": "/w/web", "tool_name": "Bash",
                       "tool_use_id": "s-known-t1", "tool_input": {"command": "ls 1"},
                       "tool_response": {"stdout": "a\u{0}b", "stderr": ""}}),
            ))
            .await
            .unwrap();
        known
            .ingest(event(
                "UserPromptSubmit",
                json!({"session_id": "s-known", "cwd": "/w/web", "prompt": "earlier"}),
            ))
            .await
            .unwrap();
        let burst = mixed_burst(&alice, &bob, &mallory);
        let results = if batched {
            store
                .ingest_together(burst)
                .await
                .expect("the burst commits as one batch")
        } else {
            let mut results = Vec::new();
            for item in burst {
                results.extend(store.ingest_group(vec![item]).await);
            }
            results
        };
        let described = describe(&store, &results).await;
        runs.push((described, ingest_rows(&store).await));
    }
    let (batched, one_by_one) = (runs.pop().unwrap(), runs.pop().unwrap());
    assert_eq!(batched.0, one_by_one.0, "answers");
    assert_eq!(batched.1 .0, one_by_one.1 .0, "sessions");
    assert_eq!(batched.1 .1, one_by_one.1 .1, "queue");
    assert_eq!(batched.1 .2, one_by_one.1 .2, "prompts");
    // And the burst did exercise what it should.
    let answers = &batched.0;
    assert_eq!(
        answers.iter().filter(|a| a.starts_with("denied")).count(),
        2
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.starts_with("duplicate"))
            .count(),
        3
    );
    let sessions = &batched.1 .0;
    let one = sessions.iter().find(|s| s.0 == "s-one").unwrap();
    // Started with no cwd, so the first real one sticks; ended, then restarted: active again.
    assert_eq!(one.4, "/w/api");
    assert_eq!(
        (one.6.as_str(), one.7.as_deref(), one.8),
        ("active", None, true)
    );
    assert_eq!((one.9, one.10), (6, 2));
}

/// One event that cannot be stored fails alone: its batch-mates are stored one by one.
#[tokio::test]
async fn a_bad_event_fails_only_its_own_caller() {
    let (_c, store) = setup("batch_fallback").await;
    let alice = owner(&store, "acme", "alice").await;
    let scoped = store.scoped(alice.clone());
    scoped
        .ingest(event(
            "SessionStart",
            json!({"session_id": "s-broken", "cwd": "/w/api", "source": "startup"}),
        ))
        .await
        .unwrap();
    // A prompt row the session's count does not know about: the next prompt's number collides.
    sqlx::query(
        "INSERT INTO user_prompts (session_id, team_id, user_id, prompt_number, text, created_at)
         VALUES ('s-broken', $1, $2, 1, 'planted', 0)",
    )
    .bind(alice.team_id)
    .bind(alice.user_id)
    .execute(store.pool())
    .await
    .unwrap();
    let prompt = |session: &str, text: &str| {
        (
            alice.clone(),
            event(
                "UserPromptSubmit",
                json!({"session_id": session, "cwd": "/w/api", "prompt": text}),
            ),
        )
    };
    let group = vec![
        prompt("s-fine", "one"),
        prompt("s-broken", "collides"),
        prompt("s-fine", "two"),
    ];
    assert!(store.ingest_together(group.clone()).await.is_err());
    let results = store.ingest_group(group).await;
    assert!(
        matches!(
            results[0],
            Ok(IngestOutcome::Stored {
                prompt_number: 1,
                ..
            })
        ),
        "{:?}",
        results[0]
    );
    let err = results[1].as_ref().unwrap_err();
    assert!(!matches!(err, StorageError::Forbidden(_)), "{err}");
    assert!(
        matches!(
            results[2],
            Ok(IngestOutcome::Stored {
                prompt_number: 2,
                ..
            })
        ),
        "{:?}",
        results[2]
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE session_id = 's-broken'"
        )
        .await,
        1,
        "nothing of the failed event was kept"
    );
}

/// Many callers at once on two replicas: every event stored once, prompt numbers gapless per session,
/// in arrival order per caller, and every redelivery answered with the stored id.
#[tokio::test]
async fn concurrent_callers_on_two_replicas_are_grouped_without_losses() {
    let (_c, a) = setup("grouped_concurrency").await;
    let b = second_replica(&a).await;
    let alice = owner(&a, "acme", "alice").await;
    let mut tasks = Vec::new();
    for c in 0..16usize {
        let store = if c % 2 == 0 { &a } else { &b }.scoped(alice.clone());
        tasks.push(tokio::spawn(async move {
            let session = format!("s-{}", c % 4);
            let mut stored = Vec::new();
            for i in 0..25 {
                let e = event(
                    "UserPromptSubmit",
                    json!({"session_id": session, "cwd": "/w/api", "prompt": format!("c{c} p{i}")}),
                );
                let again = e.clone();
                let first = store.ingest(e).await.unwrap();
                let IngestOutcome::Stored {
                    event_id,
                    prompt_number,
                } = first
                else {
                    panic!("new event not stored: {first:?}");
                };
                if i % 5 == 0 {
                    assert_eq!(
                        store.ingest(again).await.unwrap(),
                        IngestOutcome::Duplicate { event_id }
                    );
                }
                stored.push((session.clone(), event_id, prompt_number));
            }
            stored
        }));
    }
    let mut per_session: HashMap<String, Vec<i64>> = HashMap::new();
    for t in tasks {
        let stored = t.await.unwrap();
        // One caller's events are queued in its order.
        assert!(stored
            .windows(2)
            .all(|w| w[0].1 < w[1].1 && w[0].2 < w[1].2));
        for (session, _, number) in stored {
            per_session.entry(session).or_default().push(number);
        }
    }
    for (session, mut numbers) in per_session {
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=100).collect::<Vec<i64>>(), "{session}");
    }
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM pending_messages").await,
        400
    );
    assert_eq!(count(&a, "SELECT COUNT(*) FROM user_prompts").await, 400);
    assert_eq!(
        count(&a, "SELECT SUM(event_count)::bigint FROM sdk_sessions").await,
        400
    );
}
