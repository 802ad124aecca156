//! `MemoryReads` on PostgreSQL: every read and edit answers for the caller's team only, a copy with no
//! team is refused, and paging and ordering are the SQLite store's (compared against a real one fed the
//! same data).

use crate::{Owner, PgStore};
use claude_mem_core::clock::now_ms;
use claude_mem_core::model::SessionTotals;
use claude_mem_core::model::{ForgetTarget, NewMemory, ObservationEdit, ObservationFilter};
use claude_mem_core::model::{ObservationDraft, ObservationType, SummaryDraft, UsageRecord};
use claude_mem_core::storage::MemoryReads;
use claude_mem_core::storage::StorageError;
use claude_mem_core::store::{CompletedBatch, Store};
use claude_mem_core::{IngestOutcome, Storage};
use serde_json::json;
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::TryRecvError;

use crate::tests::{event, owner, setup};

/// What one seeded session holds.
#[derive(Debug, Clone, Default)]
struct Seeded {
    events: Vec<i64>,
    observations: Vec<i64>,
}

/// One session of `project` with `prompts` prompts, a tool event, one observation per title (each
/// made from the tool event), a summary asking `request`, and one LLM call costing `cost`. Works on
/// any backend, so the SQLite store can be fed exactly the same.
async fn seed<S: Storage + ?Sized>(
    s: &S,
    session: &str,
    project: &str,
    prompts: usize,
    titles: &[&str],
    request: &str,
    cost: f64,
) -> Seeded {
    let cwd = format!("/w/{project}");
    let mut events = Vec::new();
    for i in 0..prompts {
        let e = event(
            "UserPromptSubmit",
            json!({"session_id": session, "cwd": cwd, "prompt": format!("{session} prompt {i}")}),
        );
        assert_eq!(e.project, project);
        match s.ingest(e).await.unwrap() {
            IngestOutcome::Stored { event_id, .. } => events.push(event_id),
            other => panic!("{other:?}"),
        }
    }
    let tool = event(
        "PostToolUse",
        json!({"session_id": session, "cwd": cwd, "tool_name": "Edit",
            "tool_use_id": format!("{session}-tool"),
            "tool_input": {"file_path": format!("{cwd}/src/login.rs"), "old_string": "a",
                           "new_string": "b"},
            "tool_response": {}}),
    );
    let tool_id = match s.ingest(tool).await.unwrap() {
        IngestOutcome::Stored { event_id, .. } => event_id,
        other => panic!("{other:?}"),
    };
    events.push(tool_id);
    let drafts = titles
        .iter()
        .map(|t| ObservationDraft {
            kind: ObservationType::Bugfix,
            title: (*t).to_owned(),
            subtitle: String::new(),
            narrative: format!("narrative of {t}"),
            facts: vec![format!("fact of {t}")],
            concepts: vec![],
            files_read: vec![],
            files_modified: vec!["src/login.rs".to_owned()],
            keywords: vec![],
            source_event_ids: vec![tool_id],
            prompt_number: 1,
            input_tokens: 0,
            output_tokens: 0,
        })
        .collect();
    let observations = s
        .complete_batch(CompletedBatch {
            session_id: session.to_owned(),
            project: project.to_owned(),
            compressor: "local".into(),
            model: None,
            observations: drafts,
            done: events.clone(),
            skipped: vec![],
            summary: Some((
                1,
                SummaryDraft {
                    request: request.to_owned(),
                    ..SummaryDraft::default()
                },
                "local".into(),
                None,
            )),
        })
        .await
        .unwrap();
    assert_eq!(observations.len(), titles.len());
    s.record_usage(
        session,
        project,
        vec![UsageRecord {
            provider: "anthropic".into(),
            model: format!("model-{project}"),
            purpose: "compress",
            input_tokens: 100,
            output_tokens: 10,
            cache_write_tokens: 0,
            cache_read_tokens: 0,
            cost_usd: cost,
        }],
    )
    .await
    .unwrap();
    Seeded {
        events,
        observations,
    }
}

fn memory(project: &str, title: &str) -> NewMemory {
    NewMemory {
        project: project.to_owned(),
        title: title.to_owned(),
        text: format!("text of {title}"),
        kind: ObservationType::Decision,
        concepts: vec![],
        files: vec!["src/login.rs".to_owned()],
    }
}

async fn count(store: &PgStore, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(store.pool()).await.unwrap();
    n
}

async fn ids_of(store: &PgStore, sql: &str, team: i64) -> Vec<i64> {
    let rows: Vec<(i64,)> = sqlx::query_as(sql)
        .bind(team)
        .fetch_all(store.pool())
        .await
        .unwrap();
    rows.into_iter().map(|(id,)| id).collect()
}

/// Team B is seeded first (its ids are the smaller ones) and saves a memory last (the newest
/// observation is B's), so a read that forgot the team filter would answer with B's rows.
struct TwoTeams {
    store: PgStore,
    alice: Owner,
    bob: Owner,
    b1: Seeded,
    a1: Seeded,
}

async fn two_teams(store: PgStore) -> TwoTeams {
    let alice = owner(&store, "acme", "alice").await;
    let bob = owner(&store, "globex", "bob").await;
    let (a, b) = (store.scoped(alice.clone()), store.scoped(bob.clone()));
    let b1 = seed(
        &b,
        "b-1",
        "shared",
        3,
        &["B one", "B two"],
        "B request",
        5.0,
    )
    .await;
    seed(&b, "b-2", "bonly", 1, &["B only"], "B only request", 7.0).await;
    let a1 = seed(
        &a,
        "a-1",
        "shared",
        2,
        &["A one", "A two"],
        "A request",
        0.5,
    )
    .await;
    seed(
        &a,
        "a-2",
        "shared",
        1,
        &["A three"],
        "A second request",
        0.25,
    )
    .await;
    MemoryReads::save_memory(&a, memory("shared", "A memory"))
        .await
        .unwrap();
    MemoryReads::save_memory(&b, memory("shared", "B memory"))
        .await
        .unwrap();
    TwoTeams {
        store,
        alice,
        bob,
        b1,
        a1,
    }
}

#[tokio::test]
async fn every_read_answers_for_the_callers_team_only() {
    let (_c, store) = setup("memory_reads_team_only").await;
    let t = two_teams(store).await;
    let a = t.store.scoped(t.alice.clone());
    let team_a = t.alice.team_id;
    let a_obs = ids_of(
        &t.store,
        "SELECT id FROM observations WHERE team_id = $1 ORDER BY id",
        team_a,
    )
    .await;
    let b_obs = ids_of(
        &t.store,
        "SELECT id FROM observations WHERE team_id = $1 ORDER BY id",
        t.bob.team_id,
    )
    .await;
    assert_eq!((a_obs.len(), b_obs.len()), (4, 4));
    let is_a = |session: &str| {
        session.starts_with("a-") || session.starts_with(&format!("notes:{team_a}:"))
    };

    // Projects and sessions.
    let projects = a.list_projects().await.unwrap();
    assert_eq!(projects.len(), 1, "{projects:?}");
    assert_eq!(projects[0].name, "shared");
    assert_eq!(projects[0].sessions, 3, "a-1, a-2 and the notes session");
    assert_eq!(projects[0].prompts, 3);
    assert_eq!(projects[0].observations, 4);
    let sessions = a.list_sessions(None, 50, 0).await.unwrap();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    assert!(sessions.iter().all(|s| is_a(&s.id)), "{sessions:?}");
    assert!(a
        .list_sessions(Some("bonly"), 50, 0)
        .await
        .unwrap()
        .is_empty());
    assert!(a.get_session("b-1").await.unwrap().is_none());
    assert_eq!(a.get_session("a-1").await.unwrap().unwrap().prompt_count, 2);
    assert!(a.session_slice("b-1", -1, 0, 10).await.unwrap().is_none());
    let all = a.session_slice("a-1", -1, 0, 10).await.unwrap().unwrap();
    assert_eq!(
        all.totals,
        SessionTotals {
            events: 3,
            prompts: 2,
            observations: 2
        }
    );
    assert_eq!(all.prompts.len(), 2);
    assert_eq!(
        all.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        t.a1.events
    );
    assert_eq!(all.events[0].payload["prompt"], "a-1 prompt 0");
    assert!(all.summaries.iter().all(|s| s.session_id == "a-1"));
    let page = a.session_slice("a-1", 1, 1, 10).await.unwrap().unwrap();
    assert_eq!(page.observations.len(), 1);
    assert_eq!(
        page.observations[0].id, t.a1.observations[0],
        "newest first, offset 1"
    );
    assert_eq!(page.totals, all.totals, "totals do not depend on the page");

    // Observations, summaries, prompts.
    let listed = a
        .list_observations(&ObservationFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut listed_ids: Vec<i64> = listed.iter().map(|o| o.id).collect();
    listed_ids.reverse();
    assert_eq!(listed_ids, a_obs);
    let everything: Vec<i64> = b_obs.iter().chain(&a_obs).rev().copied().collect();
    let got = MemoryReads::get_observations(&a, &everything)
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|o| o.id).collect::<Vec<_>>(),
        a_obs,
        "id order, A only"
    );
    let all_summaries = ids_of(&t.store, "SELECT id FROM session_summaries WHERE $1 > 0", 1).await;
    let summaries = a.get_summaries(&all_summaries).await.unwrap();
    assert_eq!(summaries.len(), 2);
    assert!(summaries.iter().all(|s| is_a(&s.session_id)));
    let all_prompts = ids_of(&t.store, "SELECT id FROM user_prompts WHERE $1 > 0", 1).await;
    let prompts = a.get_prompts(&all_prompts).await.unwrap();
    assert_eq!(prompts.len(), 3);
    assert!(prompts.iter().all(|p| is_a(&p.session_id)));
    let listed = a.list_prompts(None, None, None, 100).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|p| is_a(&p.session_id)));
    assert!(a
        .list_prompts(None, Some("b-1"), None, 100)
        .await
        .unwrap()
        .is_empty());
    let listed = a
        .list_summaries(Some("shared"), None, None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| is_a(&s.session_id)));

    // Titles: one row per id asked for, in that order; another team's session has none.
    let titles = a
        .session_titles(&["b-1".into(), "a-1".into(), "nope".into(), "a-1".into()])
        .await
        .unwrap();
    assert_eq!(
        titles,
        vec![
            ("b-1".into(), None, None),
            (
                "a-1".into(),
                Some("a-1 prompt 0".into()),
                Some("A request".into())
            ),
            ("nope".into(), None, None),
            (
                "a-1".into(),
                Some("a-1 prompt 0".into()),
                Some("A request".into())
            ),
        ]
    );

    // Costs.
    let report = a.cost_report(now_ms(), 7, None).await.unwrap();
    assert_eq!(report.period.calls, 2);
    assert!((report.period.cost_usd - 0.75).abs() < 1e-9, "{report:?}");
    assert_eq!(report.today, report.period);
    assert_eq!(report.period.input_tokens, 200);
    assert_eq!(
        report
            .by_project
            .iter()
            .map(|g| g.key.as_str())
            .collect::<Vec<_>>(),
        ["shared"]
    );
    assert_eq!(
        report
            .by_model
            .iter()
            .map(|g| g.key.as_str())
            .collect::<Vec<_>>(),
        ["model-shared"]
    );
    assert_eq!(report.by_day.len(), 1);
    assert_eq!(report.by_day[0].key.len(), "YYYY-MM-DD".len());
    assert_eq!(report.by_provider[0].totals.calls, 2);
    assert_eq!(
        a.cost_report(now_ms(), 7, Some("bonly"))
            .await
            .unwrap()
            .period
            .calls,
        0
    );

    // The live stream.
    let head = a.stream_head().await.unwrap();
    assert_eq!(head.observation, *a_obs.last().unwrap());
    assert!(
        head.observation < *b_obs.last().unwrap(),
        "B saved the newest memory"
    );
    assert_eq!(
        head.summary,
        *ids_of(
            &t.store,
            "SELECT id FROM session_summaries WHERE team_id = $1 ORDER BY id",
            team_a
        )
        .await
        .last()
        .unwrap()
    );
    let after: Vec<i64> = a
        .observations_after(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(after, a_obs);
    assert_eq!(
        a.observations_after(a_obs[1], 1).await.unwrap()[0].id,
        a_obs[2]
    );
    assert!(a
        .summaries_after(0, 100)
        .await
        .unwrap()
        .iter()
        .all(|s| is_a(&s.session_id)));
    assert_eq!(a.summaries_after(0, 100).await.unwrap().len(), 2);
    let prompts_after = a.prompts_after(0, 100).await.unwrap();
    assert_eq!(prompts_after.len(), 3);
    assert!(prompts_after.iter().all(|p| is_a(&p.session_id)));

    // Recall.
    let recent = a.recent_project_observations("shared", 100).await.unwrap();
    assert_eq!(recent.len(), 4);
    assert!(recent.iter().all(|o| is_a(&o.session_id)));
    let saved = a.saved_memories("shared", 10).await.unwrap();
    assert_eq!(
        saved.iter().map(|o| o.title.as_str()).collect::<Vec<_>>(),
        ["A memory"]
    );
    assert_eq!(saved[0].author.as_deref(), Some("alice"));
    let latest = a.latest_summary("shared").await.unwrap().unwrap();
    assert!(is_a(&latest.session_id), "{latest:?}");
    assert!(a.latest_summary("bonly").await.unwrap().is_none());
    let touching = a
        .recent_observation_ids_touching("src/login.rs", "shared", 100)
        .await
        .unwrap();
    let mut expected = a_obs.clone();
    expected.reverse();
    assert_eq!(
        touching, expected,
        "newest first, A's only (its memory too)"
    );
    assert_eq!(
        a.recent_observation_ids_touching("/home/me/shared/src/login.rs", "shared", 2)
            .await
            .unwrap(),
        expected[..2]
    );
    assert!(a
        .recent_observation_ids_touching("src/other.rs", "shared", 100)
        .await
        .unwrap()
        .is_empty());

    // Timeline.
    assert!(MemoryReads::timeline_around(&a, b_obs[0], 5, 5)
        .await
        .unwrap()
        .is_none());
    let timeline = MemoryReads::timeline_around(&a, a_obs[1], 5, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timeline.iter().map(|o| o.id).collect::<Vec<_>>(), a_obs);
    assert_eq!(
        MemoryReads::observation_near_time(&a, None, 0)
            .await
            .unwrap(),
        Some(a_obs[0])
    );
    assert_eq!(
        MemoryReads::observation_near_time(&a, Some("bonly"), 0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        MemoryReads::observation_near_time(&a, None, i64::MAX)
            .await
            .unwrap(),
        Some(*a_obs.last().unwrap())
    );
    let _ = &t.b1;
}

#[tokio::test]
async fn a_store_acting_for_no_team_is_refused() {
    let (_c, store) = setup("memory_reads_no_team").await;
    let t = two_teams(store).await;
    let s = &t.store;
    assert!(s.owner().is_none());
    fn forbidden<T: std::fmt::Debug>(what: &str, r: Result<T, StorageError>) {
        match r {
            Err(StorageError::Forbidden(m)) => {
                assert!(!m.is_empty());
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    let obs = t.b1.observations.clone();
    forbidden("list_projects", s.list_projects().await);
    forbidden("list_sessions", s.list_sessions(None, 10, 0).await);
    forbidden("get_session", s.get_session("b-1").await);
    forbidden("session_slice", s.session_slice("b-1", -1, 0, 10).await);
    forbidden(
        "list_observations",
        s.list_observations(&ObservationFilter {
            limit: 10,
            ..Default::default()
        })
        .await,
    );
    forbidden(
        "get_observations",
        MemoryReads::get_observations(s, &obs).await,
    );
    forbidden("get_summaries", s.get_summaries(&[1]).await);
    forbidden("get_prompts", s.get_prompts(&[1]).await);
    forbidden("list_prompts", s.list_prompts(None, None, None, 10).await);
    forbidden(
        "list_summaries",
        s.list_summaries(None, None, None, 10).await,
    );
    forbidden("session_titles", s.session_titles(&["b-1".into()]).await);
    forbidden("cost_report", s.cost_report(now_ms(), 7, None).await);
    forbidden("stream_head", s.stream_head().await);
    forbidden("observations_after", s.observations_after(0, 10).await);
    forbidden("summaries_after", s.summaries_after(0, 10).await);
    forbidden("prompts_after", s.prompts_after(0, 10).await);
    forbidden(
        "recent_project_observations",
        s.recent_project_observations("shared", 10).await,
    );
    forbidden("saved_memories", s.saved_memories("shared", 10).await);
    forbidden("latest_summary", s.latest_summary("shared").await);
    forbidden(
        "recent_observation_ids_touching",
        s.recent_observation_ids_touching("src/login.rs", "shared", 10)
            .await,
    );
    forbidden(
        "timeline_around",
        MemoryReads::timeline_around(s, obs[0], 1, 1).await,
    );
    forbidden(
        "observation_near_time",
        MemoryReads::observation_near_time(s, None, 0).await,
    );
    forbidden(
        "save_memory",
        MemoryReads::save_memory(s, memory("shared", "nobody's")).await,
    );
    forbidden(
        "forget",
        s.forget(vec![ForgetTarget::Observation(obs[0])]).await,
    );
    forbidden(
        "edit_observation",
        s.edit_observation(
            obs[0],
            ObservationEdit {
                title: Some("hijacked".into()),
                ..Default::default()
            },
        )
        .await,
    );
    // Ingest refuses the same way (no more disguised database error).
    let e = s
        .ingest(event(
            "UserPromptSubmit",
            json!({"session_id": "x", "cwd": "/w/x", "prompt": "hi"}),
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Forbidden(_)), "{e:?}");
    // Nothing was touched.
    assert_eq!(count(s, "SELECT COUNT(*) FROM observations").await, 8);
    assert_eq!(
        count(
            s,
            "SELECT COUNT(*) FROM observations WHERE title = 'hijacked'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn writes_stay_within_the_team_and_announce_changes() {
    let (_c, store) = setup("memory_reads_writes").await;
    let t = two_teams(store).await;
    let a = t.store.scoped(t.alice.clone());
    let team_b = t.bob.team_id;
    let b_state = |store: PgStore| async move {
        let mut out = BTreeMap::new();
        for table in [
            "sdk_sessions",
            "observations",
            "session_summaries",
            "user_prompts",
            "pending_messages",
        ] {
            out.insert(
                table,
                count(
                    &store,
                    &format!("SELECT COUNT(*) FROM {table} WHERE team_id = {team_b}"),
                )
                .await,
            );
        }
        let titles: Vec<(String, String)> = sqlx::query_as(
            "SELECT title, narrative FROM observations WHERE team_id = $1 ORDER BY id",
        )
        .bind(team_b)
        .fetch_all(store.pool())
        .await
        .unwrap();
        (out, titles)
    };
    let before = b_state(t.store.clone()).await;
    assert_eq!(before.0["observations"], 4);

    // save_memory announces itself.
    let mut rx = a.changes();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let saved = MemoryReads::save_memory(&a, memory("shared", "another A memory"))
        .await
        .unwrap();
    assert_eq!(rx.try_recv(), Ok(()));
    assert_eq!(
        saved.session_id,
        format!("notes:{}:shared", t.alice.team_id)
    );

    // Nothing of B's can be forgotten or edited through A.
    let b_obs = t.b1.observations[0];
    let (b_summary,): (i64,) =
        sqlx::query_as("SELECT id FROM session_summaries WHERE session_id = 'b-1'")
            .fetch_one(t.store.pool())
            .await
            .unwrap();
    let (b_prompt,): (i64,) =
        sqlx::query_as("SELECT MIN(id) FROM user_prompts WHERE session_id = 'b-1'")
            .fetch_one(t.store.pool())
            .await
            .unwrap();
    let targets = vec![
        ForgetTarget::Observation(b_obs),
        ForgetTarget::Summary(b_summary),
        ForgetTarget::Prompt(b_prompt),
        ForgetTarget::Session("b-1".into()),
        ForgetTarget::Project("bonly".into()),
        ForgetTarget::Session(format!("notes:{team_b}:shared")),
    ];
    let report = a.forget(targets.clone()).await.unwrap();
    assert_eq!(report.total(), 0, "{report:?}");
    assert_eq!(report.missing, targets);
    assert!(report.observation_ids.is_empty() && report.summary_ids.is_empty());
    assert!(report.prompt_ids.is_empty());
    let edit = ObservationEdit {
        title: Some("  hijacked  ".into()),
        narrative: Some("rewritten".into()),
        facts: Some(vec!["new fact".into()]),
        kind: Some("decision".into()),
    };
    assert!(!a.edit_observation(b_obs, edit.clone()).await.unwrap());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "nothing changed");
    assert_eq!(b_state(t.store.clone()).await, before);

    // The team's own rows: edited and forgotten, with what they were made from.
    let a_obs = t.a1.observations[0];
    assert!(a.edit_observation(a_obs, edit).await.unwrap());
    assert_eq!(rx.try_recv(), Ok(()));
    let edited = MemoryReads::get_observations(&a, &[a_obs])
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(edited.title, "hijacked");
    assert_eq!(edited.narrative, "rewritten");
    assert_eq!(edited.facts, ["new fact"]);
    assert_eq!(edited.kind, "decision");

    let report = a
        .forget(vec![ForgetTarget::Observation(a_obs)])
        .await
        .unwrap();
    assert!(report.missing.is_empty());
    assert_eq!(report.observation_ids, [a_obs]);
    assert_eq!(report.deleted["observations"], 1);
    // Its source (the tool event, done) went with it.
    assert_eq!(report.deleted["pending_messages"], 1);
    assert_eq!(rx.try_recv(), Ok(()));
    assert!(MemoryReads::get_observations(&a, &[a_obs])
        .await
        .unwrap()
        .is_empty());

    let report = a
        .forget(vec![ForgetTarget::Session("a-1".into())])
        .await
        .unwrap();
    assert_eq!(report.deleted["sdk_sessions"], 1);
    assert_eq!(report.deleted["observations"], 1);
    assert_eq!(report.deleted["session_summaries"], 1);
    assert_eq!(report.deleted["user_prompts"], 2);
    assert_eq!(report.deleted["pending_messages"], 2);
    assert_eq!(report.prompt_ids.len(), 2);

    // A's "shared" project goes whole (its notes session too); B's project of the same name stays.
    let report = a
        .forget(vec![
            ForgetTarget::Project("shared".into()),
            ForgetTarget::Summary(1_000_000),
        ])
        .await
        .unwrap();
    assert_eq!(report.missing, [ForgetTarget::Summary(1_000_000)]);
    assert_eq!(report.deleted["sdk_sessions"], 2, "{report:?}");
    assert_eq!(report.deleted["observations"], 3, "a-2's and two memories");
    assert!(a.list_projects().await.unwrap().is_empty());
    assert_eq!(
        count(
            &t.store,
            &format!(
                "SELECT COUNT(*) FROM sdk_sessions WHERE team_id = {}",
                t.alice.team_id
            )
        )
        .await,
        0
    );
    assert_eq!(b_state(t.store.clone()).await, before);
}

/// The same data in a SQLite store and in one team of a PostgreSQL store that also holds another
/// team's interleaved rows: pages (by `before_id` and `limit`) hold the same rows in the same order.
#[tokio::test]
async fn paging_and_order_match_the_sqlite_store() {
    let (_c, store) = setup("memory_reads_paging").await;
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let alice = owner(&store, "acme", "alice").await;
    let bob = owner(&store, "globex", "bob").await;
    let (a, b) = (store.scoped(alice), store.scoped(bob));
    let titles: Vec<String> = (0..4).map(|i| format!("obs {i}")).collect();
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    for i in 0..5 {
        let (session, project) = (format!("s-{i}"), if i % 2 == 0 { "even" } else { "odd" });
        seed(
            &lite,
            &session,
            project,
            2,
            &titles,
            &format!("req {i}"),
            0.1,
        )
        .await;
        seed(&a, &session, project, 2, &titles, &format!("req {i}"), 0.1).await;
        // Another team's rows between A's: paging must skip them, not count them.
        seed(&b, &format!("b-{i}"), project, 1, &titles[..1], "b", 0.1).await;
        // Sessions sort by their last activity (ms): keep the two stores' orders free of ties.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    // Observations: walk pages of 3 backwards on both and compare (session, title) at every step.
    for filter in [
        (None, None, None),
        (Some("odd"), None, None),
        (None, Some("bugfix"), Some("s-2")),
    ] {
        let (mut lite_before, mut pg_before) = (None, None);
        let mut pages = 0;
        loop {
            let f = |before| ObservationFilter {
                project: filter.0.map(str::to_owned),
                kind: filter.1.map(str::to_owned),
                session_id: filter.2.map(str::to_owned),
                before_id: before,
                limit: 3,
            };
            let l = lite.list_observations(&f(lite_before)).await.unwrap();
            let p = MemoryReads::list_observations(&a, &f(pg_before))
                .await
                .unwrap();
            assert_eq!(
                l.iter()
                    .map(|o| (o.session_id.clone(), o.title.clone()))
                    .collect::<Vec<_>>(),
                p.iter()
                    .map(|o| (o.session_id.clone(), o.title.clone()))
                    .collect::<Vec<_>>(),
                "{filter:?} page {pages}"
            );
            assert!(p.windows(2).all(|w| w[0].id > w[1].id), "newest first");
            pages += 1;
            if l.is_empty() {
                break;
            }
            lite_before = l.last().map(|o| o.id);
            pg_before = p.last().map(|o| o.id);
        }
        assert!(pages > 1, "{filter:?}");
    }
    let everything = MemoryReads::list_observations(
        &a,
        &ObservationFilter {
            limit: -1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        everything.len(),
        20,
        "a negative limit is no limit, as in SQLite"
    );

    // Prompts and summaries the same way.
    for (project, session) in [(None, None), (Some("even"), None), (None, Some("s-3"))] {
        let (mut lb, mut pb) = (None, None);
        loop {
            let l = lite.list_prompts(project, session, lb, 2).await.unwrap();
            let p = MemoryReads::list_prompts(&a, project, session, pb, 2)
                .await
                .unwrap();
            assert_eq!(
                l.iter()
                    .map(|x| (x.session_id.clone(), x.prompt.clone(), x.project.clone()))
                    .collect::<Vec<_>>(),
                p.iter()
                    .map(|x| (x.session_id.clone(), x.prompt.clone(), x.project.clone()))
                    .collect::<Vec<_>>(),
                "prompts {project:?} {session:?}"
            );
            if l.is_empty() {
                break;
            }
            lb = l.last().map(|x| x.id);
            pb = p.last().map(|x| x.id);
        }
        let (mut lb, mut pb) = (None, None);
        loop {
            let l = lite.list_summaries(project, session, lb, 2).await.unwrap();
            let p = MemoryReads::list_summaries(&a, project, session, pb, 2)
                .await
                .unwrap();
            assert_eq!(
                l.iter()
                    .map(|x| (x.session_id.clone(), x.request.clone()))
                    .collect::<Vec<_>>(),
                p.iter()
                    .map(|x| (x.session_id.clone(), x.request.clone()))
                    .collect::<Vec<_>>(),
                "summaries {project:?} {session:?}"
            );
            if l.is_empty() {
                break;
            }
            lb = l.last().map(|x| x.id);
            pb = p.last().map(|x| x.id);
        }
    }

    // Sessions by offset, prompts and events of a session by offset, and the timeline.
    for (limit, offset) in [(2, 0), (2, 2), (2, 4), (-1, 1)] {
        let l = lite.list_sessions(None, limit, offset).await.unwrap();
        let p = MemoryReads::list_sessions(&a, None, limit, offset)
            .await
            .unwrap();
        assert_eq!(
            l.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            p.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            "sessions {limit} {offset}"
        );
        let l = MemoryReads::session_slice(&lite, "s-1", limit, offset, 10)
            .await
            .unwrap()
            .unwrap();
        let p = MemoryReads::session_slice(&a, "s-1", limit, offset, 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(l.totals, p.totals);
        assert_eq!(
            l.prompts
                .iter()
                .map(|x| (x.prompt_number, x.text.clone()))
                .collect::<Vec<_>>(),
            p.prompts
                .iter()
                .map(|x| (x.prompt_number, x.text.clone()))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            l.observations
                .iter()
                .map(|x| x.title.clone())
                .collect::<Vec<_>>(),
            p.observations
                .iter()
                .map(|x| x.title.clone())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            l.events
                .iter()
                .map(|x| (x.event_name.clone(), x.state.clone()))
                .collect::<Vec<_>>(),
            p.events
                .iter()
                .map(|x| (x.event_name.clone(), x.state.clone()))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            l.summaries
                .iter()
                .map(|x| x.request.clone())
                .collect::<Vec<_>>(),
            p.summaries
                .iter()
                .map(|x| x.request.clone())
                .collect::<Vec<_>>()
        );
    }
    let l_anchor = lite
        .list_observations(&ObservationFilter {
            session_id: Some("s-2".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id;
    let p_anchor = MemoryReads::list_observations(
        &a,
        &ObservationFilter {
            session_id: Some("s-2".into()),
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap()[0]
        .id;
    let l = lite.timeline_around(l_anchor, 3, 2).await.unwrap().unwrap();
    let p = MemoryReads::timeline_around(&a, p_anchor, 3, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        l.iter()
            .map(|o| (o.session_id.clone(), o.title.clone()))
            .collect::<Vec<_>>(),
        p.iter()
            .map(|o| (o.session_id.clone(), o.title.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(p.len(), 6);
}
