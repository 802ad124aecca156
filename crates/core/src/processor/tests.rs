use super::*;
use crate::compress::Summarized;
use crate::model::{SummaryDraft, UsageRecord};
use crate::HookEvent;
use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    (dir, store)
}

async fn ingest(store: &Store, event: &str, body: serde_json::Value) {
    store
        .ingest(HookEvent::parse(event, body.to_string().as_bytes()).unwrap())
        .await
        .unwrap();
}

async fn one_turn(store: &Store, session: &str) {
    let cwd = "/home/dev/work/acme-api";
    ingest(store, "UserPromptSubmit", serde_json::json!({"session_id": session, "cwd": cwd, "prompt": "fix the flaky login test"})).await;
    ingest(store, "PostToolUse", serde_json::json!({"session_id": session, "cwd": cwd, "tool_name": "Edit", "tool_use_id": format!("{session}-1"),
        "tool_input": {"file_path": format!("{cwd}/src/login.rs"), "old_string": "sleep(1)", "new_string": "fn wait_for_ready() {}"}, "tool_response": {}})).await;
    ingest(store, "PostToolUse", serde_json::json!({"session_id": session, "cwd": cwd, "tool_name": "Bash", "tool_use_id": format!("{session}-2"),
        "tool_input": {"command": "ls"}, "tool_response": {"stdout": "src", "stderr": "", "interrupted": false}})).await;
    ingest(store, "Stop", serde_json::json!({"session_id": session, "cwd": cwd, "stop_hook_active": false, "last_assistant_message": "Replaced the sleep with a readiness wait."})).await;
}

fn cfg() -> ProcessorConfig {
    ProcessorConfig {
        linger_ms: 0,
        retry_base_ms: 0,
        max_attempts: 3,
        ..Default::default()
    }
}

async fn count(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(store.read_pool())
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn local_processing_stores_observations_and_a_summary_once() {
    let (_d, store) = store().await;
    one_turn(&store, "s1").await;
    let p = Arc::new(Processor::new(store.clone(), None, cfg()));
    let report = p.clone().tick().await.unwrap();
    assert_eq!(report.observations, 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM observations").await, 1);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM session_summaries").await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'pending'"
        )
        .await,
        0
    );
    // The trivial `ls` made nothing and is marked so.
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'skipped'"
        )
        .await,
        1
    );
    let (title, compressor, prompt): (String, String, i64) =
        sqlx::query_as("SELECT title, compressor, prompt_number FROM observations")
            .fetch_one(store.read_pool())
            .await
            .unwrap();
    assert_eq!(
        (title.as_str(), compressor.as_str(), prompt),
        ("Changed wait_for_ready in src/login.rs", "local", 1)
    );
    let (request, completed): (String, String) =
        sqlx::query_as("SELECT request, completed FROM session_summaries")
            .fetch_one(store.read_pool())
            .await
            .unwrap();
    assert_eq!(request, "fix the flaky login test");
    assert!(completed.contains("readiness wait"), "{completed}");
    // Nothing left to do, nothing stored twice.
    let again = p.clone().tick().await.unwrap();
    assert_eq!(again, TickReport::default());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM observations").await, 1);
    assert_eq!(
        count(&store, "SELECT observation_count FROM sdk_sessions").await,
        1
    );
}

/// A compressor scripted per call: transient failures first, then local results with a price tag.
struct Scripted {
    calls: AtomicUsize,
    transient_failures: usize,
    permanent: bool,
    cost_per_call: f64,
}

#[async_trait]
impl Compressor for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn compress(
        &self,
        ctx: &crate::model::SessionContext,
        events: &[QueuedEvent],
    ) -> Result<Compressed, CompressError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.permanent {
            return Err(CompressError::Permanent("model returned garbage".into()));
        }
        if n < self.transient_failures {
            return Err(CompressError::Transient {
                message: "429 rate limited".into(),
                retry_after: None,
            });
        }
        let mut c = LocalCompressor::default().compress(ctx, events).await?;
        c.compressor = "scripted".into();
        c.usage = vec![UsageRecord {
            provider: "test".into(),
            model: "m".into(),
            purpose: "observation",
            input_tokens: 100,
            output_tokens: 10,
            cost_usd: self.cost_per_call,
            ..Default::default()
        }];
        Ok(c)
    }
    async fn summarize(
        &self,
        _: &crate::model::SessionContext,
        _: &[QueuedEvent],
        _: &[ObservationDraft],
        _: Option<&str>,
    ) -> Result<Summarized, CompressError> {
        Ok(Summarized {
            summary: SummaryDraft {
                request: "scripted".into(),
                ..Default::default()
            },
            compressor: "scripted".into(),
            ..Default::default()
        })
    }
}

fn scripted(transient_failures: usize, permanent: bool, cost: f64) -> Arc<Scripted> {
    Arc::new(Scripted {
        calls: AtomicUsize::new(0),
        transient_failures,
        permanent,
        cost_per_call: cost,
    })
}

#[tokio::test]
async fn transient_failures_back_off_then_succeed_without_duplicates() {
    let (_d, store) = store().await;
    one_turn(&store, "s1").await;
    let llm = scripted(2, false, 0.0);
    let p = Arc::new(Processor::new(store.clone(), Some(llm.clone()), cfg()));
    p.clone().tick().await.unwrap();
    assert_eq!(
        count(&store, "SELECT MAX(attempts) FROM pending_messages").await,
        1
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM observations").await, 0);
    p.clone().tick().await.unwrap();
    p.clone().tick().await.unwrap();
    assert_eq!(llm.calls.load(Ordering::SeqCst), 3);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM observations").await, 1);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'pending'"
        )
        .await,
        0
    );
    assert_eq!(p.status().retries, 2);
}

#[tokio::test]
async fn backoff_grows_and_honours_retry_after() {
    let (_d, store) = store().await;
    let p = Processor::new(
        store,
        None,
        ProcessorConfig {
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            ..Default::default()
        },
    );
    assert_eq!(p.backoff_ms(0, None), 1000);
    assert_eq!(p.backoff_ms(3, None), 8000);
    assert_eq!(p.backoff_ms(30, None), 60_000);
    assert_eq!(p.backoff_ms(0, Some(Duration::from_secs(7))), 7000);
}

#[tokio::test]
async fn poison_events_are_parked_with_their_error() {
    let (_d, store) = store().await;
    one_turn(&store, "s1").await;
    let p = Arc::new(Processor::new(
        store.clone(),
        Some(scripted(0, true, 0.0)),
        cfg(),
    ));
    for _ in 0..5 {
        p.clone().tick().await.unwrap();
    }
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'failed'"
        )
        .await,
        4
    );
    let (err,): (String,) =
        sqlx::query_as("SELECT last_error FROM pending_messages WHERE state = 'failed' LIMIT 1")
            .fetch_one(store.read_pool())
            .await
            .unwrap();
    assert!(err.contains("model returned garbage"), "{err}");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM observations").await, 0);
    assert_eq!(p.status().parked, 4);
}

#[tokio::test]
async fn the_daily_budget_switches_to_local_and_says_so() {
    let (_d, store) = store().await;
    let llm = scripted(0, false, 0.6);
    let p = Arc::new(Processor::new(
        store.clone(),
        Some(llm.clone()),
        ProcessorConfig {
            daily_budget_usd: 1.0,
            ..cfg()
        },
    ));
    for s in ["a", "b", "c"] {
        one_turn(&store, s).await;
        p.clone().tick().await.unwrap();
    }
    assert_eq!(llm.calls.load(Ordering::SeqCst), 2);
    let compressors: Vec<(String,)> =
        sqlx::query_as("SELECT compressor FROM observations ORDER BY id")
            .fetch_all(store.read_pool())
            .await
            .unwrap();
    let names: Vec<&str> = compressors.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["scripted", "scripted", "local"]);
    assert!(p.status().budget_exhausted);
    assert!(p.status().compressor.contains("budget reached"));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM llm_usage").await, 2);
}

#[tokio::test]
async fn session_end_after_stop_does_not_summarise_twice() {
    let (_d, store) = store().await;
    one_turn(&store, "s1").await;
    ingest(
        &store,
        "SessionEnd",
        serde_json::json!({"session_id": "s1", "reason": "logout"}),
    )
    .await;
    let p = Arc::new(Processor::new(store.clone(), None, cfg()));
    p.clone().tick().await.unwrap();
    p.clone().tick().await.unwrap();
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM session_summaries").await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'pending'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_late_post_tool_batch_does_not_repeat_processed_calls() {
    let (_d, store) = store().await;
    let cwd = "/home/dev/work/acme-api";
    let edit = serde_json::json!({"tool_name": "Edit", "tool_use_id": "call-1",
        "tool_input": {"file_path": format!("{cwd}/src/a.rs"), "old_string": "a", "new_string": "fn b() {}"}, "tool_response": "ok"});
    let mut post = edit.clone();
    post["session_id"] = "s".into();
    post["cwd"] = cwd.into();
    ingest(&store, "PostToolUse", post).await;
    let p = Arc::new(Processor::new(store.clone(), None, cfg()));
    p.clone().tick().await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM observations").await, 1);
    ingest(
        &store,
        "PostToolBatch",
        serde_json::json!({"session_id": "s", "cwd": cwd, "tool_calls": [edit]}),
    )
    .await;
    p.clone().tick().await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM observations").await, 1);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'pending'"
        )
        .await,
        0
    );
}

/// A compressor that cannot serve (the claude-code CLI missing or too slow), for observations or only for
/// the summary.
struct Unavailable {
    summary_only: bool,
    calls: AtomicUsize,
}

#[async_trait]
impl Compressor for Unavailable {
    fn name(&self) -> &str {
        "claude-code:haiku"
    }
    async fn compress(
        &self,
        ctx: &crate::model::SessionContext,
        events: &[QueuedEvent],
    ) -> Result<Compressed, CompressError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.summary_only {
            let mut c = LocalCompressor::default().compress(ctx, events).await?;
            c.compressor = "claude-code:haiku".into();
            return Ok(c);
        }
        Err(CompressError::Unavailable("the CLI was not found".into()))
    }
    async fn summarize(
        &self,
        _: &crate::model::SessionContext,
        _: &[QueuedEvent],
        _: &[ObservationDraft],
        _: Option<&str>,
    ) -> Result<Summarized, CompressError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(CompressError::Unavailable(
            "the CLI did not answer in time".into(),
        ))
    }
}

#[tokio::test]
async fn an_unavailable_compressor_leaves_the_batch_to_the_local_rules_at_once() {
    for summary_only in [false, true] {
        let (_d, store) = store().await;
        one_turn(&store, "s1").await;
        let llm = Arc::new(Unavailable {
            summary_only,
            calls: AtomicUsize::new(0),
        });
        let p = Arc::new(Processor::new(store.clone(), Some(llm.clone()), cfg()));
        let report = p.clone().tick().await.unwrap();
        assert_eq!(report.observations, 1, "summary_only={summary_only}");
        // No retry, no parking: everything is done in the one pass.
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM pending_messages WHERE state NOT IN ('done', 'skipped') OR attempts > 0"
            )
            .await,
            0
        );
        let (obs_by,): (String,) = sqlx::query_as("SELECT compressor FROM observations")
            .fetch_one(store.read_pool())
            .await
            .unwrap();
        let (summary_by,): (String,) = sqlx::query_as("SELECT compressor FROM session_summaries")
            .fetch_one(store.read_pool())
            .await
            .unwrap();
        let expected_obs = if summary_only {
            "claude-code:haiku"
        } else {
            "local"
        };
        assert_eq!(
            (obs_by.as_str(), summary_by.as_str()),
            (expected_obs, "local")
        );
        // Fallen back for the observations: the summary went straight to the local rules too.
        let calls = llm.calls.load(Ordering::SeqCst);
        assert_eq!(calls, if summary_only { 2 } else { 1 });
        let status = p.status();
        assert_eq!(
            (status.local_fallbacks, status.retries, status.parked),
            (1, 0, 0)
        );
        assert!(status
            .last_error
            .is_some_and(|e| e.contains("compressor unavailable")));
    }
}
