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
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};

/// Upper bound on events per transaction: keeps one commit's latency small under a burst.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IngestOutcome {
    /// Newly written.
    Stored { event_id: i64, prompt_number: i64 },
    /// Already stored earlier under the same event key; nothing changed. Also the answer, with
    /// `event_id` 0, for an event deliberately not stored: a lone `SessionEnd` (see [`apply_batch`]).
    Duplicate { event_id: i64 },
}

type Reply = oneshot::Sender<Result<IngestOutcome, StoreError>>;

pub(super) async fn writer_loop(
    mut conn: SqliteConnection,
    options: SqliteConnectOptions,
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
        if !batch.is_empty() && commit_batch(&mut conn, &options, std::mem::take(&mut batch)).await
        {
            ingested.notify_one();
        }
        if let Some(f) = other {
            f(&mut conn).await;
            recover(&mut conn, &options, false).await;
        }
    }
    rx.close();
    // Anything that raced in behind the shutdown request is still committed: it was accepted.
    while let Ok(job) = rx.try_recv() {
        match job {
            WriteJob::Ingest(event, reply) => {
                commit_batch(&mut conn, &options, vec![(event, reply)]).await;
            }
            WriteJob::Run(f) => {
                f(&mut conn).await;
                recover(&mut conn, &options, false).await;
            }
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

/// Puts the writer connection back in a state sqlx and SQLite agree on after a failed write.
///
/// sqlx counts transaction depth itself. When SQLite ends a transaction on its own (it may on
/// SQLITE_FULL or an I/O error), the ROLLBACK sqlx sends when the `Transaction` drops fails, its count
/// stays up, and from then on every `begin()` is a SAVEPOINT and every `commit()` a RELEASE nested in a
/// transaction that never commits: events would be acknowledged that a restart loses (a full disk showed
/// it, tests/chaos_e2e.rs). A fresh connection is the one state both agree on: closing the old one rolls
/// back whatever it still held. `failed` forces that; otherwise it happens only when sqlx still counts a
/// transaction although no `Transaction` is alive here.
async fn recover(conn: &mut SqliteConnection, options: &SqliteConnectOptions, failed: bool) {
    // Runs the rollback a dropped `Transaction` queued, so the depth read below is current.
    let probe = sqlx::query("SELECT 1").execute(&mut *conn).await;
    if !failed && probe.is_ok() && !conn.is_in_transaction() {
        return;
    }
    match options.connect().await {
        Ok(fresh) => {
            let old = std::mem::replace(conn, fresh);
            if let Err(e) = old.close().await {
                tracing::warn!(error = %e, "closing the failed writer connection");
            }
            tracing::warn!("writer connection reopened after a failed write");
        }
        Err(e) => tracing::error!(error = %e, "cannot reopen the writer connection"),
    }
}

/// Returns whether any new event was stored (so the processor has work).
async fn commit_batch(
    conn: &mut SqliteConnection,
    options: &SqliteConnectOptions,
    batch: Vec<(Box<HookEvent>, Reply)>,
) -> bool {
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
            recover(conn, options, true).await;
            if let Some((_, reply)) = batch.into_iter().next() {
                let _ = reply.send(Err(e));
            }
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch failed; retrying its events one by one");
            recover(conn, options, true).await;
            let mut stored = false;
            for (event, reply) in batch {
                let one = [(event, reply)];
                let result = try_batch(conn, &one).await.map(|mut o| o.remove(0));
                if result.is_err() {
                    recover(conn, options, true).await;
                }
                stored |= matches!(result, Ok(IngestOutcome::Stored { .. }));
                let [(_, reply)] = one;
                let _ = reply.send(result);
            }
            stored
        }
    }
}

/// Applies a whole batch set-wise: a handful of statements per batch instead of several per event, which
/// is what makes group commit pay off (each sqlx round trip to SQLite costs tens of microseconds).
async fn try_batch(
    conn: &mut SqliteConnection,
    batch: &[(Box<HookEvent>, Reply)],
) -> Result<Vec<IngestOutcome>, StoreError> {
    let events: Vec<&HookEvent> = batch.iter().map(|(e, _)| e.as_ref()).collect();
    let mut tx = conn.begin().await?;
    let outcomes = apply_batch(&mut tx, &events, now_ms()).await?;
    tx.commit()
        .await
        .map_err(|e| StoreError::Commit(e.to_string()))?;
    Ok(outcomes)
}

/// Per-session changes a batch implies, applied with one UPDATE per session.
#[derive(Default)]
struct SessionDelta<'a> {
    events: i64,
    prompts: i64,
    prompt_count: i64,
    cwd: &'a str,
    transcript_path: Option<&'a str>,
    /// The last lifecycle event of the batch wins: Some(true) ended, Some(false) (re)started.
    ended: Option<(bool, Option<&'a str>)>,
    /// When the latest of the batch's new events of this session happened (see [`event_time`]).
    at: i64,
}

/// When an event happened: when its hook received it (a spooled event drained later), never later than
/// now (a clock that moved backwards must not date an event in the future).
fn event_time(e: &HookEvent, now: i64) -> i64 {
    e.received_at_ms.map_or(now, |t| t.min(now))
}

enum Slot {
    Existing(i64),
    /// A lone SessionEnd: acknowledged, not stored.
    Dropped,
    New {
        row: usize,
    },
    SameAsEarlier {
        key: usize,
    },
}

/// Applies a batch of hook events in the caller's transaction.
///
/// A `SessionEnd` of a session the store has never seen, with no other event of that session in the
/// batch, is dropped (answered as [`IngestOutcome::Duplicate`] with id 0): `claude mcp list` / `claude
/// mcp get` and other short-lived Claude Code runs fire a lone SessionEnd, and storing it made a phantom
/// session with nothing in it. A real session always has an earlier event (SessionStart at least),
/// committed before its end arrives.
pub(super) async fn apply_batch(
    conn: &mut SqliteConnection,
    events: &[&HookEvent],
    now: i64,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let lone_ends = lone_session_ends(conn, events).await?;
    // 1. Sessions first (foreign keys), first occurrence wins for project/cwd.
    let mut sessions: HashMap<&str, SessionDelta> = HashMap::new();
    let mut session_order: Vec<&HookEvent> = Vec::new();
    for e in events {
        if lone_ends.contains(e.session_id.as_str()) {
            continue;
        }
        if !sessions.contains_key(e.session_id.as_str()) {
            sessions.insert(&e.session_id, SessionDelta::default());
            session_order.push(e);
        }
    }
    if session_order.is_empty() {
        // Nothing but lone SessionEnds: nothing to write.
        return Ok(events
            .iter()
            .map(|_| IngestOutcome::Duplicate { event_id: 0 })
            .collect());
    }
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO sdk_sessions (id, project, cwd, transcript_path, started_at, last_seen_at) ",
    );
    q.push_values(&session_order, |mut b, e| {
        b.push_bind(&e.session_id)
            .push_bind(&e.project)
            .push_bind(&e.cwd)
            .push_bind(&e.transcript_path)
            .push_bind(event_time(e, now))
            .push_bind(event_time(e, now));
    });
    q.push(" ON CONFLICT (id) DO NOTHING");
    q.build().execute(&mut *conn).await?;

    let mut q =
        QueryBuilder::<Sqlite>::new("SELECT id, prompt_count FROM sdk_sessions WHERE id IN (");
    let mut list = q.separated(", ");
    for e in &session_order {
        list.push_bind(&e.session_id);
    }
    q.push(")");
    let counts: Vec<(String, i64)> = q.build_query_as().fetch_all(&mut *conn).await?;
    for (id, count) in counts {
        if let Some(d) = sessions.get_mut(id.as_str()) {
            d.prompt_count = count;
        }
    }

    // 2. Which keys are already stored.
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT event_key, id FROM pending_messages WHERE event_key IN (",
    );
    let mut list = q.separated(", ");
    for e in events {
        list.push_bind(&e.event_key);
    }
    q.push(")");
    let existing: HashMap<String, i64> = q
        .build_query_as::<(String, i64)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();

    // 3. Number prompts and pick the rows to insert, in arrival order.
    let mut first_in_batch: HashMap<&str, usize> = HashMap::new();
    let mut slots = Vec::with_capacity(events.len());
    let mut rows: Vec<(usize, i64)> = Vec::new(); // (event index, prompt number)
    for (i, e) in events.iter().enumerate() {
        if lone_ends.contains(e.session_id.as_str()) {
            tracing::debug!(session = %e.session_id, "lone SessionEnd of an unknown session not stored");
            slots.push(Slot::Dropped);
            continue;
        }
        if let Some(id) = existing.get(&e.event_key) {
            slots.push(Slot::Existing(*id));
            continue;
        }
        if let Some(&earlier) = first_in_batch.get(e.event_key.as_str()) {
            slots.push(Slot::SameAsEarlier { key: earlier });
            continue;
        }
        first_in_batch.insert(&e.event_key, i);
        let Some(d) = sessions.get_mut(e.session_id.as_str()) else {
            continue;
        };
        d.events += 1;
        d.at = d.at.max(event_time(e, now));
        if e.prompt.is_some() {
            d.prompts += 1;
        }
        if d.cwd.is_empty() {
            d.cwd = &e.cwd;
        }
        if d.transcript_path.is_none() {
            d.transcript_path = e.transcript_path.as_deref();
        }
        match e.event_name.as_str() {
            "SessionEnd" => d.ended = Some((true, e.end_reason.as_deref())),
            "SessionStart" => d.ended = Some((false, None)),
            _ => {}
        }
        slots.push(Slot::New { row: rows.len() });
        rows.push((i, d.prompt_count + d.prompts));
    }

    // 4. Insert the new events.
    let mut ids_by_key: HashMap<String, i64> = HashMap::new();
    if !rows.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO pending_messages
                 (event_key, session_id, event_name, tool_name, prompt_number, payload, created_at) ",
        );
        q.push_values(&rows, |mut b, (i, prompt_number)| {
            let e = events[*i];
            b.push_bind(&e.event_key)
                .push_bind(&e.session_id)
                .push_bind(&e.event_name)
                .push_bind(&e.tool_name)
                .push_bind(*prompt_number)
                .push_bind(e.payload_json())
                .push_bind(event_time(e, now));
        });
        q.push(" RETURNING event_key, id");
        ids_by_key = q
            .build_query_as::<(String, i64)>()
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    }

    // 5. All sessions in one UPDATE … FROM (VALUES …): a batch from many sessions costs one statement.
    let changed: Vec<(&&str, &SessionDelta)> =
        sessions.iter().filter(|(_, d)| d.events > 0).collect();
    if !changed.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "WITH d(id, at, events, prompts, cwd, transcript_path, set_status, ended, reason) AS (",
        );
        q.push_values(&changed, |mut b, (id, d)| {
            let (set_status, ended, reason) = match d.ended {
                Some((ended, reason)) => (true, ended, reason),
                None => (false, false, None),
            };
            b.push_bind(**id)
                .push_bind(d.at)
                .push_bind(d.events)
                .push_bind(d.prompts)
                .push_bind(d.cwd)
                .push_bind(d.transcript_path)
                .push_bind(set_status)
                .push_bind(ended)
                .push_bind(reason);
        });
        q.push(
            ") UPDATE sdk_sessions SET last_seen_at = MAX(sdk_sessions.last_seen_at, d.at),
                 event_count = event_count + d.events,
                 prompt_count = prompt_count + d.prompts,
                 cwd = CASE WHEN sdk_sessions.cwd = '' THEN d.cwd ELSE sdk_sessions.cwd END,
                 transcript_path = COALESCE(sdk_sessions.transcript_path, d.transcript_path),
                 status = CASE WHEN d.set_status THEN (CASE WHEN d.ended THEN 'ended' ELSE 'active' END)
                          ELSE status END,
                 ended_at = CASE WHEN d.set_status THEN (CASE WHEN d.ended THEN d.at ELSE NULL END)
                          ELSE ended_at END,
                 end_reason = CASE WHEN d.set_status THEN d.reason ELSE end_reason END
             FROM d WHERE sdk_sessions.id = d.id",
            );
        q.build().execute(&mut *conn).await?;
    }

    // 6. Prompts.
    let prompts: Vec<&(usize, i64)> = rows
        .iter()
        .filter(|(i, _)| events[*i].prompt.is_some())
        .collect();
    if !prompts.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO user_prompts (session_id, prompt_number, prompt_id, text, created_at) ",
        );
        q.push_values(&prompts, |mut b, (i, n)| {
            let e = events[*i];
            b.push_bind(&e.session_id)
                .push_bind(*n)
                .push_bind(&e.prompt_id)
                .push_bind(e.prompt.as_deref().unwrap_or_default())
                .push_bind(event_time(e, now));
        });
        q.build().execute(&mut *conn).await?;
    }

    // 7. Answers, in request order.
    let id_of = |i: usize| ids_by_key.get(&events[i].event_key).copied().unwrap_or(0);
    Ok(slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Existing(event_id) => IngestOutcome::Duplicate { event_id },
            Slot::Dropped => IngestOutcome::Duplicate { event_id: 0 },
            Slot::SameAsEarlier { key } => IngestOutcome::Duplicate {
                event_id: id_of(key),
            },
            Slot::New { row } => IngestOutcome::Stored {
                event_id: id_of(rows[row].0),
                prompt_number: rows[row].1,
            },
        })
        .collect())
}

/// The sessions of `events` that have only SessionEnd events in the batch and no row in the store:
/// their events are dropped (see [`apply_batch`]).
async fn lone_session_ends<'e>(
    conn: &mut SqliteConnection,
    events: &[&'e HookEvent],
) -> Result<HashSet<&'e str>, StoreError> {
    let mut only_ends: HashMap<&str, bool> = HashMap::new();
    for e in events {
        let is_end = e.event_name == "SessionEnd";
        only_ends
            .entry(e.session_id.as_str())
            .and_modify(|all| *all &= is_end)
            .or_insert(is_end);
    }
    let candidates: Vec<&str> = only_ends
        .into_iter()
        .filter_map(|(id, all_ends)| all_ends.then_some(id))
        .collect();
    if candidates.is_empty() {
        return Ok(HashSet::new());
    }
    let mut q = QueryBuilder::<Sqlite>::new("SELECT id FROM sdk_sessions WHERE id IN (");
    let mut list = q.separated(", ");
    for id in &candidates {
        list.push_bind(*id);
    }
    q.push(")");
    let known: HashSet<String> = q
        .build_query_as::<(String,)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|id| !known.contains(*id))
        .collect())
}
