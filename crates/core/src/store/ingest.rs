//! The single writer: group commit of hook events into `pending_messages`, `sdk_sessions` and
//! `user_prompts`.
//!
//! Every event is applied in the same transaction as the session and prompt rows it implies, so a crash
//! leaves either all of an event or none of it. A batch that hits an error is rolled back and replayed one
//! event per transaction, so one bad event cannot take its neighbours down with it.

use super::{StoreError, WriteFn, WriteJob};
use crate::clock::now_ms;
use crate::hook_event::HookEvent;
use serde::Serialize;
use sqlx::{Connection, SqliteConnection};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};

/// Upper bound on events per transaction: keeps one commit's latency small under a burst.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IngestOutcome {
    /// Newly written.
    Stored { event_id: i64, prompt_number: i64 },
    /// Already stored earlier under the same event key; nothing changed.
    Duplicate { event_id: i64 },
}

type Reply = oneshot::Sender<Result<IngestOutcome, StoreError>>;

pub(super) async fn writer_loop(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<WriteJob>,
    ingested: Arc<Notify>,
) {
    let mut batch: Vec<(Box<HookEvent>, Reply)> = Vec::new();
    let mut shutdown: Option<oneshot::Sender<()>> = None;
    while shutdown.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut next = Some(first);
        let mut other: Option<WriteFn> = None;
        while let Some(job) = next.take() {
            match job {
                WriteJob::Ingest(event, reply) => batch.push((event, reply)),
                WriteJob::Run(f) => {
                    // Keep FIFO order: commit the ingest batch gathered so far, then run this.
                    other = Some(f);
                    break;
                }
                WriteJob::Shutdown(done) => {
                    shutdown = Some(done);
                    break;
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            if commit_batch(&mut conn, std::mem::take(&mut batch)).await {
                ingested.notify_one();
            }
        }
        if let Some(f) = other {
            f(&mut conn).await;
        }
    }
    rx.close();
    // Anything that raced in behind the shutdown request is still committed: it was accepted.
    while let Ok(job) = rx.try_recv() {
        match job {
            WriteJob::Ingest(event, reply) => {
                commit_batch(&mut conn, vec![(event, reply)]).await;
            }
            WriteJob::Run(f) => f(&mut conn).await,
            WriteJob::Shutdown(_) => {}
        }
    }
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
    {
        tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the writer connection failed");
    }
    if let Some(done) = shutdown {
        let _ = done.send(());
    }
}

/// Returns whether any new event was stored (so the processor has work).
async fn commit_batch(conn: &mut SqliteConnection, batch: Vec<(Box<HookEvent>, Reply)>) -> bool {
    match try_batch(conn, &batch).await {
        Ok(outcomes) => {
            let stored = outcomes
                .iter()
                .any(|o| matches!(o, IngestOutcome::Stored { .. }));
            for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
            stored
        }
        Err(e) if batch.len() == 1 => {
            tracing::error!(error = %e, "storing a hook event failed");
            if let Some((_, reply)) = batch.into_iter().next() {
                let _ = reply.send(Err(e));
            }
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch failed; retrying its events one by one");
            let mut stored = false;
            for (event, reply) in batch {
                let one = [(event, reply)];
                let result = try_batch(conn, &one).await.map(|mut o| o.remove(0));
                stored |= matches!(result, Ok(IngestOutcome::Stored { .. }));
                let [(_, reply)] = one;
                let _ = reply.send(result);
            }
            stored
        }
    }
}

async fn try_batch(
    conn: &mut SqliteConnection,
    batch: &[(Box<HookEvent>, Reply)],
) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut tx = conn.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (event, _) in batch {
        outcomes.push(apply(&mut tx, event).await?);
    }
    tx.commit()
        .await
        .map_err(|e| StoreError::Commit(e.to_string()))?;
    Ok(outcomes)
}

async fn apply(
    conn: &mut SqliteConnection,
    event: &HookEvent,
) -> Result<IngestOutcome, StoreError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sdk_sessions (id, project, cwd, transcript_path, started_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&event.session_id)
    .bind(&event.project)
    .bind(&event.cwd)
    .bind(&event.transcript_path)
    .bind(now)
    .execute(&mut *conn)
    .await?;

    let is_prompt = event.prompt.is_some();
    // The prompt number is the session's count after this event: tool events belong to the prompt before
    // them. The WHERE clause disambiguates INSERT … SELECT from the upsert clause.
    let inserted: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO pending_messages
             (event_key, session_id, event_name, tool_name, prompt_number, payload, created_at)
         SELECT ?1, ?2, ?3, ?4, prompt_count + ?5, ?6, ?7 FROM sdk_sessions WHERE id = ?2
         ON CONFLICT (event_key) DO NOTHING
         RETURNING id, prompt_number",
    )
    .bind(&event.event_key)
    .bind(&event.session_id)
    .bind(&event.event_name)
    .bind(&event.tool_name)
    .bind(i64::from(is_prompt))
    .bind(event.payload_json())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;

    let Some((event_id, prompt_number)) = inserted else {
        let (event_id,): (i64,) =
            sqlx::query_as("SELECT id FROM pending_messages WHERE event_key = ?1")
                .bind(&event.event_key)
                .fetch_one(&mut *conn)
                .await?;
        return Ok(IngestOutcome::Duplicate { event_id });
    };

    let ended = event.event_name == "SessionEnd";
    sqlx::query(
        "UPDATE sdk_sessions SET
             last_seen_at = ?2,
             event_count = event_count + 1,
             prompt_count = prompt_count + ?3,
             cwd = CASE WHEN cwd = '' THEN ?4 ELSE cwd END,
             transcript_path = COALESCE(transcript_path, ?5),
             status = CASE WHEN ?6 THEN 'ended' WHEN ?7 THEN 'active' ELSE status END,
             ended_at = CASE WHEN ?6 THEN ?2 WHEN ?7 THEN NULL ELSE ended_at END,
             end_reason = CASE WHEN ?6 THEN ?8 WHEN ?7 THEN NULL ELSE end_reason END
         WHERE id = ?1",
    )
    .bind(&event.session_id)
    .bind(now)
    .bind(i64::from(is_prompt))
    .bind(&event.cwd)
    .bind(&event.transcript_path)
    .bind(ended)
    // A resumed session comes back to life.
    .bind(event.event_name == "SessionStart")
    .bind(&event.end_reason)
    .execute(&mut *conn)
    .await?;

    if let Some(text) = &event.prompt {
        sqlx::query(
            "INSERT INTO user_prompts (session_id, prompt_number, prompt_id, text, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&event.session_id)
        .bind(prompt_number)
        .bind(&event.prompt_id)
        .bind(text)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(IngestOutcome::Stored {
        event_id,
        prompt_number,
    })
}
