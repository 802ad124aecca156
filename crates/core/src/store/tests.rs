use super::*;

fn event(name: &str, body: &str) -> HookEvent {
    HookEvent::parse(name, body.as_bytes()).unwrap()
}

#[tokio::test]
async fn events_sessions_and_prompts_are_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let start = event(
        "SessionStart",
        r#"{"session_id":"s1","cwd":"/w/app","source":"startup"}"#,
    );
    let prompt = event(
        "UserPromptSubmit",
        r#"{"session_id":"s1","cwd":"/w/app","prompt":"fix the bug"}"#,
    );
    let tool = event(
        "PostToolUse",
        r#"{"session_id":"s1","cwd":"/w/app","tool_name":"Read","tool_use_id":"t1","tool_input":{"file_path":"a.rs"}}"#,
    );
    assert!(matches!(
        store.ingest(start.clone()).await.unwrap(),
        IngestOutcome::Stored {
            prompt_number: 0,
            ..
        }
    ));
    assert!(matches!(
        store.ingest(prompt.clone()).await.unwrap(),
        IngestOutcome::Stored {
            prompt_number: 1,
            ..
        }
    ));
    let first = store.ingest(tool.clone()).await.unwrap();
    assert!(matches!(
        first,
        IngestOutcome::Stored {
            prompt_number: 1,
            ..
        }
    ));
    // Redelivery of every event is a no-op.
    for e in [start, prompt, tool] {
        assert!(matches!(
            store.ingest(e).await.unwrap(),
            IngestOutcome::Duplicate { .. }
        ));
    }
    let session = store.get_session("s1").await.unwrap().unwrap();
    assert_eq!(session.project, "app");
    assert_eq!(session.event_count, 3);
    assert_eq!(session.prompt_count, 1);
    let prompts = store.session_prompts("s1").await.unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].text, "fix the bug");
    let events = store.session_events("s1").await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].payload["tool_input"]["file_path"], "a.rs");
}

#[tokio::test]
async fn session_end_marks_the_session_and_resume_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    store
        .ingest(event(
            "SessionStart",
            r#"{"session_id":"s","source":"startup"}"#,
        ))
        .await
        .unwrap();
    store
        .ingest(event(
            "SessionEnd",
            r#"{"session_id":"s","reason":"logout"}"#,
        ))
        .await
        .unwrap();
    let s = store.get_session("s").await.unwrap().unwrap();
    assert_eq!(
        (s.status.as_str(), s.end_reason.as_deref()),
        ("ended", Some("logout"))
    );
    assert!(s.ended_at.is_some());
    store
        .ingest(event(
            "SessionStart",
            r#"{"session_id":"s","source":"resume"}"#,
        ))
        .await
        .unwrap();
    let s = store.get_session("s").await.unwrap().unwrap();
    assert_eq!(s.status, "active");
    assert_eq!(s.ended_at, None);
}

#[tokio::test]
async fn concurrent_writers_share_commits_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = Store::open(&path).await.unwrap();
    let mut tasks = Vec::new();
    for client in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let body = format!(
                    r#"{{"session_id":"s{}","tool_name":"Bash","tool_use_id":"t{client}-{i}"}}"#,
                    client % 4
                );
                store.ingest(event("PostToolUse", &body)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    store.close().await;
    assert!(matches!(
        store
            .ingest(event("Stop", r#"{"session_id":"late"}"#))
            .await,
        Err(StoreError::Closed)
    ));
    // Reopen from disk: everything acknowledged is there, exactly once.
    let store = Store::open(&path).await.unwrap();
    let counts = store.health_counts().await.unwrap();
    assert_eq!(counts.events, 800);
    assert_eq!(counts.sessions, 4);
    let total: i64 = store
        .list_sessions(None, 100, 0)
        .await
        .unwrap()
        .iter()
        .map(|s| s.event_count)
        .sum();
    assert_eq!(total, 800);
}

#[tokio::test]
async fn one_batch_numbers_prompts_in_order_and_collapses_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let events = [
        event("UserPromptSubmit", r#"{"session_id":"s","prompt":"one"}"#),
        event(
            "PostToolUse",
            r#"{"session_id":"s","tool_name":"Bash","tool_use_id":"t1"}"#,
        ),
        event("UserPromptSubmit", r#"{"session_id":"s","prompt":"two"}"#),
        event(
            "PostToolUse",
            r#"{"session_id":"s","tool_name":"Bash","tool_use_id":"t1"}"#,
        ),
        event("SessionEnd", r#"{"session_id":"s","reason":"clear"}"#),
        event("Stop", r#"{"session_id":"other"}"#),
    ];
    let outcomes = store
        .write(move |conn| {
            Box::pin(async move {
                let refs: Vec<&HookEvent> = events.iter().collect();
                let mut tx = sqlx::Connection::begin(conn).await?;
                let out = ingest::apply_batch(&mut tx, &refs, 1).await?;
                tx.commit().await?;
                Ok(out)
            })
        })
        .await
        .unwrap();
    let prompts: Vec<i64> = outcomes
        .iter()
        .map(|o| match o {
            IngestOutcome::Stored { prompt_number, .. } => *prompt_number,
            IngestOutcome::Duplicate { .. } => -1,
        })
        .collect();
    assert_eq!(prompts, [1, 1, 2, -1, 2, 0]);
    let (
        IngestOutcome::Stored {
            event_id: first, ..
        },
        IngestOutcome::Duplicate { event_id: dup },
    ) = (outcomes[1], outcomes[3])
    else {
        panic!("{outcomes:?}")
    };
    assert_eq!(first, dup);
    let s = store.get_session("s").await.unwrap().unwrap();
    assert_eq!(
        (s.event_count, s.prompt_count, s.status.as_str()),
        (4, 2, "ended")
    );
    assert_eq!(store.session_prompts("s").await.unwrap().len(), 2);
    assert_eq!(
        store
            .get_session("other")
            .await
            .unwrap()
            .unwrap()
            .event_count,
        1
    );
}

#[test]
fn files_match_whole_paths_and_trailing_parts_at_slashes() {
    for (stored, wanted) in [
        ("src/store/db.rs", "src/store/db.rs"),
        ("src/store/db.rs", "store/db.rs"),
        ("src/store/db.rs", "db.rs"),
        ("src/store/db.rs", "./src/store/db.rs"),
        ("src/store/db.rs", "/home/me/app/src/store/db.rs"),
        ("src\\store\\db.rs", "store/db.rs"),
        ("/abs/src/db.rs", "/src/db.rs"),
    ] {
        assert!(path_matches(stored, wanted), "{stored} ~ {wanted}");
    }
    for (stored, wanted) in [
        ("src/store/db.rs", "b.rs"),
        ("src/store/db.rs", "store/db"),
        ("src/store/db.rs", "other/db.rs"),
        ("src/store/db.rs", ""),
        ("", "db.rs"),
        ("src/store/db.rs", "src/store/db.rs/more"),
    ] {
        assert!(!path_matches(stored, wanted), "{stored} !~ {wanted}");
    }
}

/// Two sessions in two projects: observations that read or modified files, a summary, prompts.
async fn searchable_rows(store: &Store) {
    store
        .write(|conn| {
            Box::pin(async move {
                for sql in [
                    "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at)
                     VALUES ('a', 'shop', 10, 10), ('b', 'blog', 10, 10)",
                    "INSERT INTO observations (id, session_id, project, type, title, files_read,
                         files_modified, compressor, created_at) VALUES
                     (1, 'a', 'shop', 'change', 'one', '[]', '[\"src/store/db.rs\"]', 'local', 100),
                     (2, 'a', 'shop', 'bugfix', 'two', '[\"src/store/db.rs\"]', '[]', 'local', 200),
                     (3, 'a', 'shop', 'change', 'three', '[\"src/store/mydb.rs\"]', '[]', 'local', 300),
                     (4, 'b', 'blog', 'change', 'four', '[]', '[\"C:\\\\src\\\\store\\\\db.rs\"]', 'local', 400)",
                    "INSERT INTO session_summaries (id, session_id, project, request, compressor, created_at)
                     VALUES (7, 'a', 'shop', 'fix the store', 'local', 150)",
                    "INSERT INTO user_prompts (id, session_id, prompt_number, text, created_at)
                     VALUES (5, 'a', 1, 'fix the store', 90), (6, 'b', 1, 'write a post', 500)",
                ] {
                    sqlx::query(sql).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn file_filters_and_lookups_by_id_for_search() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    searchable_rows(&store).await;
    let touching = |file: &'static str, project, kind, since, until| {
        let store = store.clone();
        async move {
            store
                .observation_ids_touching(file, project, kind, since, until)
                .await
                .unwrap()
        }
    };
    assert_eq!(touching("db.rs", None, None, None, None).await, [1, 2, 4]);
    assert_eq!(
        touching("store/db.rs", Some("shop"), None, None, None).await,
        [1, 2]
    );
    assert_eq!(
        touching("db.rs", None, Some("bugfix"), None, None).await,
        [2]
    );
    assert_eq!(
        touching("db.rs", None, None, Some(150), Some(400)).await,
        [2, 4]
    );
    assert_eq!(touching("mydb.rs", None, None, None, None).await, [3]);
    assert!(touching("b.rs", None, None, None, None).await.is_empty());
    assert!(touching("nothing.rs", None, None, None, None)
        .await
        .is_empty());

    let summaries = store.get_summaries(&[7, 99]).await.unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].request, "fix the store");
    let prompts = store.get_prompts(&[6, 5]).await.unwrap();
    let got: Vec<(i64, &str, &str)> = prompts
        .iter()
        .map(|p| (p.id, p.project.as_str(), p.prompt.as_str()))
        .collect();
    assert_eq!(
        got,
        [(5, "shop", "fix the store"), (6, "blog", "write a post")]
    );
    assert!(store.get_prompts(&[]).await.unwrap().is_empty());

    // Prune names every searchable row it deletes, so the indexes can forget them.
    let report = store
        .prune(PruneRequest {
            cutoff_ms: 160,
            project: None,
            dry_run: false,
        })
        .await
        .unwrap();
    assert_eq!(report.observation_ids, [1]);
    assert_eq!(report.summary_ids, [7]);
    assert_eq!(report.prompt_ids, [5]);
    store.close().await;
}

#[tokio::test]
async fn parked_events_are_requeued_all_or_one_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let e = event(
            "PostToolUse",
            &format!(
                r#"{{"session_id":"s1","cwd":"/w/app","tool_name":"Bash","tool_use_id":"t{i}","tool_input":{{"command":"make {i}"}}}}"#
            ),
        );
        match store.ingest(e).await.unwrap() {
            IngestOutcome::Stored { event_id, .. } => ids.push(event_id),
            other => panic!("{other:?}"),
        }
    }
    let due = |store: &Store| {
        let store = store.clone();
        async move { store.load_batch("s1", i64::MAX, 10).await.unwrap().len() }
    };
    // Two of them fail for good (max_attempts 1), one stays pending.
    let parked = store
        .defer_events(ids[..2].to_vec(), "bad key".into(), 0, 1)
        .await
        .unwrap();
    assert_eq!(parked, 2);
    assert_eq!(store.parked_count().await.unwrap(), 2);
    assert_eq!(due(&store).await, 1);
    assert_eq!(
        store.event_state(ids[0]).await.unwrap().as_deref(),
        Some("failed")
    );
    assert_eq!(store.event_state(9999).await.unwrap(), None);

    // One by id: only a parked one moves.
    assert_eq!(
        store.requeue_failed(Some(ids[2])).await.unwrap(),
        0,
        "not parked"
    );
    assert_eq!(store.requeue_failed(Some(ids[0])).await.unwrap(), 1);
    assert_eq!(
        store.requeue_failed(Some(ids[0])).await.unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(
        store.event_state(ids[0]).await.unwrap().as_deref(),
        Some("pending")
    );
    let batch = store.load_batch("s1", 0, 10).await.unwrap();
    let again = batch.iter().find(|e| e.id == ids[0]).expect("due at once");
    assert_eq!(again.attempts, 0, "attempts reset");

    // All of them.
    assert_eq!(store.requeue_failed(None).await.unwrap(), 1);
    assert_eq!(store.requeue_failed(None).await.unwrap(), 0);
    assert_eq!(store.parked_count().await.unwrap(), 0);
    assert_eq!(due(&store).await, 3);
}

#[tokio::test]
async fn a_changed_compressor_fingerprint_requeues_parked_events_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let e = event(
        "PostToolUse",
        r#"{"session_id":"s1","cwd":"/w/app","tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"make"}}"#,
    );
    let IngestOutcome::Stored { event_id: id, .. } = store.ingest(e).await.unwrap() else {
        panic!("not stored")
    };
    // First start: the fingerprint is only recorded.
    assert_eq!(store.retry_parked_if_config_changed("a").await.unwrap(), 0);
    store
        .defer_events(vec![id], "bad key".into(), 0, 1)
        .await
        .unwrap();
    assert_eq!(
        store.retry_parked_if_config_changed("a").await.unwrap(),
        0,
        "same config"
    );
    assert_eq!(store.parked_count().await.unwrap(), 1);
    assert_eq!(
        store.retry_parked_if_config_changed("b").await.unwrap(),
        1,
        "changed"
    );
    assert_eq!(store.parked_count().await.unwrap(), 0);
    assert_eq!(
        store.meta(COMPRESSOR_FINGERPRINT).await.unwrap().as_deref(),
        Some("b")
    );
    store
        .defer_events(vec![id], "still bad".into(), 0, 1)
        .await
        .unwrap();
    assert_eq!(store.retry_parked_if_config_changed("b").await.unwrap(), 0);
}

#[tokio::test]
async fn security_observation_types_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    store
        .ingest(event(
            "SessionStart",
            r#"{"session_id":"s1","cwd":"/w/app"}"#,
        ))
        .await
        .unwrap();
    let draft = |kind| crate::model::ObservationDraft {
        kind,
        title: format!("{kind:?}"),
        subtitle: String::new(),
        narrative: String::new(),
        facts: vec![],
        concepts: vec![],
        files_read: vec![],
        files_modified: vec![],
        keywords: vec![],
        source_event_ids: vec![],
        prompt_number: 0,
        input_tokens: 0,
        output_tokens: 0,
    };
    let ids = store
        .complete_batch(CompletedBatch {
            session_id: "s1".into(),
            project: "app".into(),
            compressor: "test".into(),
            observations: vec![
                draft(crate::model::ObservationType::SecurityAlert),
                draft(crate::model::ObservationType::SecurityNote),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let rows = store.get_observations(&ids).await.unwrap();
    let mut kinds: Vec<&str> = rows.iter().map(|o| o.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["security_alert", "security_note"]);
}

#[tokio::test]
async fn keys_that_used_to_collide_are_both_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let tool = |session: &str, id: &str| {
        let body = serde_json::json!({
            "session_id": session, "cwd": "/w/app", "tool_name": "Bash", "tool_use_id": id
        });
        event("PostToolUse", &body.to_string())
    };
    // Before the escaped key both were `PostToolUse:a:b:c`, and the second was dropped as a duplicate.
    let first = store.ingest(tool("a:b", "c")).await.unwrap();
    let second = store.ingest(tool("a", "b:c")).await.unwrap();
    assert!(matches!(first, IngestOutcome::Stored { .. }), "{first:?}");
    assert!(matches!(second, IngestOutcome::Stored { .. }), "{second:?}");
    // A redelivery is still a duplicate.
    assert!(matches!(
        store.ingest(tool("a", "b:c")).await.unwrap(),
        IngestOutcome::Duplicate { .. }
    ));
    assert_eq!(store.probe_write(Duration::from_secs(5)).await, Ok(true));
    store.close().await;
}

#[tokio::test]
async fn migration_0003_rewrites_old_keys_so_redeliveries_still_match() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = Store::open(&path).await.unwrap();
    for s in ["a:b", r"w\x", "plain"] {
        let body = serde_json::json!({"session_id": s, "cwd": "/w/app", "source": "startup"});
        store
            .ingest(event("SessionStart", &body.to_string()))
            .await
            .unwrap();
    }
    store.close().await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    // Keys as the old code wrote them (no escaping).
    for (key, session) in [
        ("PostToolUse:a:b:c:d", "a:b"),
        (r"PostToolUse:w\x:t\1", r"w\x"),
        ("PostToolUse:plain:t1", "plain"),
        ("Imported-elsewhere", "plain"),
    ] {
        sqlx::query(
            "INSERT INTO pending_messages (event_key, session_id, event_name, payload, created_at)
             VALUES (?1, ?2, 'PostToolUse', '{}', 0)",
        )
        .bind(key)
        .bind(session)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::raw_sql(include_str!("../../migrations/0003_escaped_event_keys.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT event_key FROM pending_messages WHERE event_name = 'PostToolUse' ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_eq!(
        keys,
        [
            crate::hook_event::event_key("PostToolUse", "a:b", "c:d"),
            crate::hook_event::event_key("PostToolUse", r"w\x", r"t\1"),
            "PostToolUse:plain:t1".to_owned(),
            "Imported-elsewhere".to_owned(),
        ]
    );
    assert_eq!(keys[0], r"PostToolUse:a\:b:c\:d");
    // The migrated store answers a redelivery of the old event as a duplicate.
    let store = Store::open(&path).await.unwrap();
    let body = serde_json::json!({
        "session_id": "a:b", "cwd": "/w/app", "tool_name": "Bash", "tool_use_id": "c:d"
    });
    assert!(matches!(
        store
            .ingest(event("PostToolUse", &body.to_string()))
            .await
            .unwrap(),
        IngestOutcome::Duplicate { .. }
    ));
    store.close().await;
}

#[tokio::test]
async fn a_lone_session_end_makes_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    // What `claude mcp list` fires: a SessionEnd of a session nothing else was ever heard of.
    let lone = event(
        "SessionEnd",
        r#"{"session_id":"mcp-list","cwd":"/w/app","reason":"other"}"#,
    );
    assert_eq!(
        store.ingest(lone.clone()).await.unwrap(),
        IngestOutcome::Duplicate { event_id: 0 }
    );
    assert!(store.get_session("mcp-list").await.unwrap().is_none());
    assert!(store.session_events("mcp-list").await.unwrap().is_empty());

    // A real session's end is stored, whether its start came earlier or in the same batch.
    store
        .ingest(event(
            "SessionStart",
            r#"{"session_id":"real","source":"startup"}"#,
        ))
        .await
        .unwrap();
    assert!(matches!(
        store
            .ingest(event(
                "SessionEnd",
                r#"{"session_id":"real","reason":"logout"}"#
            ))
            .await
            .unwrap(),
        IngestOutcome::Stored { .. }
    ));
    assert_eq!(
        store.get_session("real").await.unwrap().unwrap().status,
        "ended"
    );
    let batch = [
        event("Stop", r#"{"session_id":"same-batch"}"#),
        event(
            "SessionEnd",
            r#"{"session_id":"same-batch","reason":"clear"}"#,
        ),
        lone,
    ];
    let outcomes = store
        .write(move |conn| {
            Box::pin(async move {
                let refs: Vec<&HookEvent> = batch.iter().collect();
                let mut tx = sqlx::Connection::begin(conn).await?;
                let out = ingest::apply_batch(&mut tx, &refs, 1).await?;
                tx.commit().await?;
                Ok(out)
            })
        })
        .await
        .unwrap();
    assert!(matches!(outcomes[1], IngestOutcome::Stored { .. }));
    assert_eq!(outcomes[2], IngestOutcome::Duplicate { event_id: 0 });
    assert_eq!(store.session_events("same-batch").await.unwrap().len(), 2);
    assert!(store.get_session("mcp-list").await.unwrap().is_none());
}

#[tokio::test]
async fn events_received_earlier_keep_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    // Drained from the spool an hour after the hooks received them (a worker outage).
    let hour_ago = crate::clock::now_ms() - 3_600_000;
    let mut bodies = [
        (
            "SessionStart",
            r#"{"session_id":"late","cwd":"/w/app","source":"startup"}"#,
        ),
        (
            "UserPromptSubmit",
            r#"{"session_id":"late","cwd":"/w/app","prompt":"rename the flag"}"#,
        ),
        (
            "SessionEnd",
            r#"{"session_id":"late","cwd":"/w/app","reason":"exit"}"#,
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, body))| {
        let mut e = event(name, body);
        e.received_at_ms = Some(hour_ago + i as i64 * 1000);
        e
    });
    for e in bodies.by_ref() {
        store.ingest(e).await.unwrap();
    }
    let session = store.get_session("late").await.unwrap().unwrap();
    assert_eq!(session.started_at, hour_ago);
    assert_eq!(session.last_seen_at, hour_ago + 2000);
    assert_eq!(session.ended_at, Some(hour_ago + 2000));
    let prompts = store.session_prompts("late").await.unwrap();
    assert_eq!(prompts[0].created_at, hour_ago + 1000);
    let events = store.session_events("late").await.unwrap();
    let times: Vec<i64> = events.iter().map(|e| e.created_at).collect();
    assert_eq!(times, vec![hour_ago, hour_ago + 1000, hour_ago + 2000]);
}
