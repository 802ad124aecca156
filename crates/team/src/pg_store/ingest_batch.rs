//! Group commit of hook events on PostgreSQL.
//!
//! One transaction per hook left PostgreSQL's CPU spent on per-transaction and per-statement work (BEGIN,
//! four statements, COMMIT and its WAL flush for every event; issue 9). A replica now hands every
//! `ingest` call to one writer task, which takes whatever calls are waiting when it becomes free (up to
//! [`MAX_BATCH`], never waiting for more, so a lone hook is not delayed) and commits them in ONE
//! transaction of a fixed handful of set-wise statements (`UNNEST` arrays): the sessions' upsert, the
//! idempotency look-up, the events' insert, the sessions' update and the prompts' insert.
//!
//! Semantics are those of the one-event transaction ([`ingest_one`], still used for a batch of one and
//! as the fallback): the same rows, event ids in arrival order, per-session prompt numbering, a
//! duplicate event key answered with the stored id, a session of another team refused per event. A batch
//! that fails for any reason is rolled back and replayed one event per transaction, so a bad event fails
//! only its own caller.
//!
//! Two replicas on one database: the batch locks its session rows in id order (the upsert is sorted),
//! so two writers never wait on each other in a cycle; an event key inserted by the other replica
//! meanwhile under another session is caught (the insert returns fewer rows than expected) and sends the
//! batch down the one-by-one path, which answers it as today.

use super::{denied, pg_text, INGEST_CHANNEL};
use crate::auth::Owner;
use claude_mem_core::clock::now_ms;
use claude_mem_core::storage::StorageError;
use claude_mem_core::{HookEvent, IngestOutcome};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};

/// Upper bound on events per transaction: keeps one commit's latency (and the arrays bound to its
/// statements) small under a burst.
const MAX_BATCH: usize = 256;

/// Calls that may wait for the writer before `ingest` itself waits to hand its event over
/// (backpressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 4096;

type Reply = oneshot::Sender<Result<IngestOutcome, StorageError>>;

struct Job {
    owner: Owner,
    event: HookEvent,
    reply: Reply,
}

/// The handle every copy of a [`super::PgStore`] shares; the writer task ends when the last copy is
/// dropped (its channel closes).
#[derive(Clone)]
pub(super) struct IngestWriter {
    tx: mpsc::Sender<Job>,
}

impl IngestWriter {
    /// Starts the writer task on the current runtime.
    pub(super) fn spawn(pool: PgPool, signal: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(writer_loop(pool, signal, rx));
        Self { tx }
    }

    /// Queues `event` for the next group commit and waits for its own outcome. A caller that gives up
    /// after handing the event over (a hook client that disconnected) no longer rolls it back: it is
    /// committed with its batch, which a redelivery then finds as a duplicate.
    pub(super) async fn ingest(
        &self,
        owner: Owner,
        event: HookEvent,
    ) -> Result<IngestOutcome, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                owner,
                event,
                reply,
            })
            .await
            .map_err(|_| StorageError::Closed)?;
        answer.await.map_err(|_| StorageError::Closed)?
    }
}

async fn writer_loop(pool: PgPool, signal: Arc<Notify>, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if commit(&pool, std::mem::take(&mut batch)).await {
            signal.notify_one();
        }
    }
}

/// Commits `batch` and answers every caller; returns whether any event was newly stored (the processor
/// has work).
async fn commit(pool: &PgPool, batch: Vec<Job>) -> bool {
    if batch.len() > 1 {
        match try_batch(pool, &batch).await {
            Ok(outcomes) => {
                let stored = outcomes
                    .iter()
                    .any(|o| matches!(o, Ok(IngestOutcome::Stored { .. })));
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(outcome);
                }
                return stored;
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "ingest batch failed; storing its events one by one");
            }
        }
    }
    let mut stored = false;
    for job in batch {
        let result = ingest_one(pool, &job.owner, &job.event).await;
        if let Err(e) = &result {
            if !matches!(e, StorageError::Forbidden(_)) {
                tracing::error!(error = %e, session = %job.event.session_id, "storing a hook event failed");
            }
        }
        stored |= matches!(result, Ok(IngestOutcome::Stored { .. }));
        let _ = job.reply.send(result);
    }
    stored
}

/// What the batch decided for one event before the events' insert.
enum Plan {
    Refused(String),
    /// Stored before this batch (the id found by the look-up).
    Known(i64),
    /// The same key as the batch's event at this index (answered with its id).
    SameAs(usize),
    /// To insert, with its prompt number.
    New(i64),
}

/// Per-session totals of the batch's new events, applied with one UPDATE for all sessions.
#[derive(Default)]
struct SessionDelta {
    events: i64,
    prompts: i64,
    /// The first non-empty cwd (`cwd = CASE WHEN cwd = '' …` applied event by event keeps that one).
    cwd: Option<String>,
    /// The first transcript path (COALESCE applied event by event keeps that one).
    transcript_path: Option<String>,
    /// The last lifecycle event wins: Some(ended, reason).
    lifecycle: Option<(bool, Option<String>)>,
}

/// The whole batch in one transaction. `Ok` carries one result per job (refusals included); `Err` means
/// nothing was committed and the caller replays the jobs one by one.
async fn try_batch(
    pool: &PgPool,
    batch: &[Job],
) -> Result<Vec<Result<IngestOutcome, StorageError>>, StorageError> {
    let now = now_ms();
    let keys: Vec<String> = batch
        .iter()
        .map(|j| pg_text(&j.event.event_key).into_owned())
        .collect();
    let sessions: Vec<String> = batch
        .iter()
        .map(|j| pg_text(&j.event.session_id).into_owned())
        .collect();

    // 1. Every session of the batch, created by its first event's owner or locked when it exists, in id
    // order (so two replicas' batches cannot deadlock on each other's session rows).
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for (i, s) in sessions.iter().enumerate() {
        first_of.entry(s.as_str()).or_insert(i);
    }
    let mut firsts: Vec<usize> = first_of.values().copied().collect();
    firsts.sort_unstable();
    let (mut s_id, mut s_team, mut s_user, mut s_project, mut s_cwd, mut s_path) = (
        Vec::with_capacity(firsts.len()),
        Vec::with_capacity(firsts.len()),
        Vec::with_capacity(firsts.len()),
        Vec::with_capacity(firsts.len()),
        Vec::with_capacity(firsts.len()),
        Vec::with_capacity(firsts.len()),
    );
    for &i in &firsts {
        let Job { owner, event, .. } = &batch[i];
        s_id.push(sessions[i].clone());
        s_team.push(owner.team_id);
        s_user.push(owner.user_id);
        s_project.push(pg_text(&event.project).into_owned());
        s_cwd.push(pg_text(&event.cwd).into_owned());
        s_path.push(
            event
                .transcript_path
                .as_deref()
                .map(|p| pg_text(p).into_owned()),
        );
    }
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "INSERT INTO sdk_sessions
             (id, team_id, user_id, project, cwd, transcript_path, started_at, last_seen_at)
         SELECT id, team_id, user_id, project, cwd, transcript_path, $7, $7
         FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[])
              AS s(id, team_id, user_id, project, cwd, transcript_path)
         ORDER BY id
         ON CONFLICT (id) DO UPDATE SET last_seen_at = sdk_sessions.last_seen_at
         RETURNING id, team_id, user_id, prompt_count",
    )
    .bind(&s_id)
    .bind(&s_team)
    .bind(&s_user)
    .bind(&s_project)
    .bind(&s_cwd)
    .bind(&s_path)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    // (team, user, prompt count so far) per session.
    let mut owners: HashMap<String, (i64, i64, i64)> = rows
        .into_iter()
        .map(|(id, team, user, prompts)| (id, (team, user, prompts)))
        .collect();

    // 2. Which keys are stored already (the session locks above keep them from changing under us, but
    // for a key reused under another session, which step 3 catches).
    let known: HashMap<String, i64> =
        sqlx::query_as("SELECT event_key, id FROM pending_messages WHERE event_key = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

    // What each event becomes, in arrival order (prompt numbers as one-by-one would give them).
    let mut plans = Vec::with_capacity(batch.len());
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for (i, Job { owner, event, .. }) in batch.iter().enumerate() {
        let Some((team_id, _, prompt_count)) = owners.get_mut(&sessions[i]) else {
            return Err(StorageError::Backend(format!(
                "session {} missing from its own upsert",
                event.session_id
            )));
        };
        if *team_id != owner.team_id {
            tracing::warn!(
                session = %event.session_id,
                team = %owner.team,
                user = %owner.user,
                "refused an event for a session of another team"
            );
            plans.push(Plan::Refused(format!(
                "session {} belongs to another team",
                event.session_id
            )));
            continue;
        }
        if let Some(&id) = known.get(&keys[i]) {
            plans.push(Plan::Known(id));
        } else if let Some(&earlier) = accepted.get(keys[i].as_str()) {
            plans.push(Plan::SameAs(earlier));
        } else {
            accepted.insert(&keys[i], i);
            *prompt_count += i64::from(event.prompt.is_some());
            plans.push(Plan::New(*prompt_count));
        }
    }

    // 3. The new events, ids in arrival order (ORDER BY ord), so a session's queue keeps its order.
    let mut e_idx = Vec::new();
    let (mut e_key, mut e_session, mut e_team, mut e_user, mut e_name, mut e_tool, mut e_prompt) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut e_payload = Vec::new();
    let mut deltas: HashMap<&str, SessionDelta> = HashMap::new();
    let (mut p_session, mut p_team, mut p_user, mut p_number, mut p_id, mut p_text) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (i, plan) in plans.iter().enumerate() {
        let Plan::New(prompt_number) = *plan else {
            continue;
        };
        let event = &batch[i].event;
        let (team_id, user_id, _) = owners[&sessions[i]];
        e_idx.push(i);
        e_key.push(keys[i].as_str());
        e_session.push(sessions[i].as_str());
        e_team.push(team_id);
        e_user.push(user_id);
        e_name.push(event.event_name.as_str());
        e_tool.push(event.tool_name.as_deref().map(|t| pg_text(t).into_owned()));
        e_prompt.push(prompt_number);
        e_payload.push(super::queue::payload_text(event).into_owned());

        let d = deltas.entry(sessions[i].as_str()).or_default();
        d.events += 1;
        if d.cwd.is_none() && !event.cwd.is_empty() {
            d.cwd = Some(pg_text(&event.cwd).into_owned());
        }
        if d.transcript_path.is_none() {
            d.transcript_path = event
                .transcript_path
                .as_deref()
                .map(|p| pg_text(p).into_owned());
        }
        match event.event_name.as_str() {
            "SessionEnd" => {
                d.lifecycle = Some((
                    true,
                    event.end_reason.as_deref().map(|r| pg_text(r).into_owned()),
                ))
            }
            "SessionStart" => d.lifecycle = Some((false, None)),
            _ => {}
        }
        if let Some(prompt) = &event.prompt {
            d.prompts += 1;
            p_session.push(sessions[i].as_str());
            p_team.push(team_id);
            p_user.push(user_id);
            p_number.push(prompt_number);
            p_id.push(event.prompt_id.as_deref().map(|p| pg_text(p).into_owned()));
            p_text.push(pg_text(prompt).into_owned());
        }
    }

    let mut ids: HashMap<String, i64> = HashMap::new();
    if !e_idx.is_empty() {
        ids = sqlx::query_as(
            "INSERT INTO pending_messages (event_key, session_id, team_id, user_id, event_name,
                 tool_name, prompt_number, payload, created_at)
             SELECT k, s, t, u, n, tn, pn, p::jsonb, $9
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                         $7::bigint[], $8::text[])
                  WITH ORDINALITY AS e(k, s, t, u, n, tn, pn, p, ord)
             ORDER BY ord
             ON CONFLICT (event_key) DO NOTHING
             RETURNING event_key, id",
        )
        .bind(&e_key)
        .bind(&e_session)
        .bind(&e_team)
        .bind(&e_user)
        .bind(&e_name)
        .bind(&e_tool)
        .bind(&e_prompt)
        .bind(&e_payload)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        if ids.len() != e_idx.len() {
            // A key stored meanwhile by another replica under another session: one by one answers it.
            return Err(StorageError::Backend(format!(
                "{} of {} new events were already stored",
                e_idx.len() - ids.len(),
                e_idx.len()
            )));
        }
    }
    // Everyone's answer, settled before the commit so that nothing is committed that cannot be answered.
    let id_of = |key: &str| {
        ids.get(key).copied().ok_or_else(|| {
            StorageError::Backend(format!("event {key} missing from its own insert"))
        })
    };
    let mut outcomes: Vec<Result<IngestOutcome, StorageError>> = Vec::with_capacity(batch.len());
    for (i, plan) in plans.into_iter().enumerate() {
        outcomes.push(match plan {
            Plan::Refused(message) => Err(denied(message)),
            Plan::Known(event_id) => Ok(IngestOutcome::Duplicate { event_id }),
            Plan::New(prompt_number) => Ok(IngestOutcome::Stored {
                event_id: id_of(&keys[i])?,
                prompt_number,
            }),
            Plan::SameAs(earlier) => Ok(IngestOutcome::Duplicate {
                event_id: id_of(&keys[earlier])?,
            }),
        });
    }
    if !e_idx.is_empty() {
        // 4. Every touched session in one statement; the notification goes out on commit.
        let mut u_id = Vec::with_capacity(deltas.len());
        let (mut u_events, mut u_prompts, mut u_cwd, mut u_path, mut u_set, mut u_ended) = (
            Vec::with_capacity(deltas.len()),
            Vec::with_capacity(deltas.len()),
            Vec::with_capacity(deltas.len()),
            Vec::with_capacity(deltas.len()),
            Vec::with_capacity(deltas.len()),
            Vec::with_capacity(deltas.len()),
        );
        let mut u_reason = Vec::with_capacity(deltas.len());
        let mut touched: Vec<(&str, SessionDelta)> = deltas.into_iter().collect();
        touched.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (id, d) in touched {
            u_id.push(id);
            u_events.push(d.events);
            u_prompts.push(d.prompts);
            u_cwd.push(d.cwd.unwrap_or_default());
            u_path.push(d.transcript_path);
            u_set.push(d.lifecycle.is_some());
            let (ended, reason) = d.lifecycle.unwrap_or((false, None));
            u_ended.push(ended);
            u_reason.push(reason);
        }
        sqlx::query(
            "UPDATE sdk_sessions s SET
                 last_seen_at = $2,
                 event_count = s.event_count + u.n,
                 prompt_count = s.prompt_count + u.np,
                 cwd = CASE WHEN s.cwd = '' THEN u.cwd ELSE s.cwd END,
                 transcript_path = COALESCE(s.transcript_path, u.tp),
                 status = CASE WHEN u.set_status
                               THEN (CASE WHEN u.ended THEN 'ended' ELSE 'active' END)
                               ELSE s.status END,
                 ended_at = CASE WHEN u.set_status
                                 THEN (CASE WHEN u.ended THEN $2 ELSE NULL END)
                                 ELSE s.ended_at END,
                 end_reason = CASE WHEN u.set_status THEN u.reason ELSE s.end_reason END
             FROM UNNEST($1::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::bool[],
                         $8::bool[], $9::text[])
                  AS u(id, n, np, cwd, tp, set_status, ended, reason)
             WHERE s.id = u.id
             RETURNING pg_notify($10, s.id)",
        )
        .bind(&u_id)
        .bind(now)
        .bind(&u_events)
        .bind(&u_prompts)
        .bind(&u_cwd)
        .bind(&u_path)
        .bind(&u_set)
        .bind(&u_ended)
        .bind(&u_reason)
        .bind(INGEST_CHANNEL)
        .execute(&mut *tx)
        .await?;

        // 5. The prompts.
        if !p_session.is_empty() {
            sqlx::query(
                "INSERT INTO user_prompts
                     (session_id, team_id, user_id, prompt_number, prompt_id, text, created_at)
                 SELECT s, t, u, n, pid, txt, $7
                 FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                             $6::text[]) AS p(s, t, u, n, pid, txt)",
            )
            .bind(&p_session)
            .bind(&p_team)
            .bind(&p_user)
            .bind(&p_number)
            .bind(&p_id)
            .bind(&p_text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit()
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?;
    Ok(outcomes)
}

/// One event, one transaction: the session row is locked first, which serialises prompt numbering
/// across replicas the way SQLite's single writer does. A batch of one takes this path (fewer round
/// trips than the set-wise one), and so does every event of a batch that failed.
pub(super) async fn ingest_one(
    pool: &PgPool,
    owner: &Owner,
    event: &HookEvent,
) -> Result<IngestOutcome, StorageError> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    // Creates the session or, when it exists, locks its row (DO UPDATE takes the row lock, DO
    // NOTHING would not) and reads its owner and prompt count in the same round trip.
    let (team_id, user_id, prompt_count): (i64, i64, i64) = sqlx::query_as(
        "INSERT INTO sdk_sessions
             (id, team_id, user_id, project, cwd, transcript_path, started_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (id) DO UPDATE SET last_seen_at = sdk_sessions.last_seen_at
         RETURNING team_id, user_id, prompt_count",
    )
    .bind(pg_text(&event.session_id).as_ref())
    .bind(owner.team_id)
    .bind(owner.user_id)
    .bind(pg_text(&event.project).as_ref())
    .bind(pg_text(&event.cwd).as_ref())
    .bind(event.transcript_path.as_deref().map(pg_text).as_deref())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if team_id != owner.team_id {
        tracing::warn!(
            session = %event.session_id,
            team = %owner.team,
            user = %owner.user,
            "refused an event for a session of another team"
        );
        return Err(denied(format!(
            "session {} belongs to another team",
            event.session_id
        )));
    }
    let prompt_number = prompt_count + i64::from(event.prompt.is_some());
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO pending_messages (event_key, session_id, team_id, user_id, event_name,
             tool_name, prompt_number, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
         ON CONFLICT (event_key) DO NOTHING
         RETURNING id",
    )
    .bind(pg_text(&event.event_key).as_ref())
    .bind(pg_text(&event.session_id).as_ref())
    .bind(team_id)
    .bind(user_id)
    .bind(&event.event_name)
    .bind(event.tool_name.as_deref().map(pg_text).as_deref())
    .bind(prompt_number)
    .bind(super::queue::payload_text(event).as_ref())
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((event_id,)) = inserted else {
        let (event_id,): (i64,) =
            sqlx::query_as("SELECT id FROM pending_messages WHERE event_key = $1")
                .bind(pg_text(&event.event_key).as_ref())
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        return Ok(IngestOutcome::Duplicate { event_id });
    };
    let (set_status, ended, reason) = match event.event_name.as_str() {
        "SessionEnd" => (true, true, event.end_reason.as_deref().map(pg_text)),
        "SessionStart" => (true, false, None),
        _ => (false, false, None),
    };
    sqlx::query(
        "UPDATE sdk_sessions SET
             last_seen_at = $2,
             event_count = event_count + 1,
             prompt_count = prompt_count + $3,
             cwd = CASE WHEN cwd = '' THEN $4 ELSE cwd END,
             transcript_path = COALESCE(transcript_path, $5),
             status = CASE WHEN $6 THEN (CASE WHEN $7 THEN 'ended' ELSE 'active' END) ELSE status END,
             ended_at = CASE WHEN $6 THEN (CASE WHEN $7 THEN $2 ELSE NULL END) ELSE ended_at END,
             end_reason = CASE WHEN $6 THEN $8 ELSE end_reason END
         WHERE id = $1
         RETURNING pg_notify($9, id)",
    )
    .bind(pg_text(&event.session_id).as_ref())
    .bind(now)
    .bind(i64::from(event.prompt.is_some()))
    .bind(pg_text(&event.cwd).as_ref())
    .bind(event.transcript_path.as_deref().map(pg_text).as_deref())
    .bind(set_status)
    .bind(ended)
    .bind(reason.as_deref())
    // The notification is delivered on commit, to every replica (ours too, which is harmless).
    .bind(INGEST_CHANNEL)
    .execute(&mut *tx)
    .await?;
    if let Some(prompt) = &event.prompt {
        sqlx::query(
            "INSERT INTO user_prompts
                 (session_id, team_id, user_id, prompt_number, prompt_id, text, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(pg_text(&event.session_id).as_ref())
        .bind(team_id)
        .bind(user_id)
        .bind(prompt_number)
        .bind(event.prompt_id.as_deref().map(pg_text).as_deref())
        .bind(pg_text(prompt).as_ref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit()
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?;
    Ok(IngestOutcome::Stored {
        event_id,
        prompt_number,
    })
}

#[cfg(test)]
impl super::PgStore {
    /// Commits `items` as one group, exactly as the writer would had they arrived together (the writer
    /// itself groups whatever is waiting, which a test cannot force). `Err` is the batch's own failure,
    /// before any one-by-one fallback.
    pub(crate) async fn ingest_together(
        &self,
        items: Vec<(Owner, HookEvent)>,
    ) -> Result<Vec<Result<IngestOutcome, StorageError>>, StorageError> {
        let (batch, _answers) = jobs(items);
        try_batch(&self.pool, &batch).await
    }

    /// What the writer does with a group: the batch, or one by one when the batch fails.
    pub(crate) async fn ingest_group(
        &self,
        items: Vec<(Owner, HookEvent)>,
    ) -> Vec<Result<IngestOutcome, StorageError>> {
        let (batch, answers) = jobs(items);
        commit(&self.pool, batch).await;
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(answer.await.unwrap_or(Err(StorageError::Closed)));
        }
        out
    }
}

#[cfg(test)]
type Answer = oneshot::Receiver<Result<IngestOutcome, StorageError>>;

#[cfg(test)]
fn jobs(items: Vec<(Owner, HookEvent)>) -> (Vec<Job>, Vec<Answer>) {
    items
        .into_iter()
        .map(|(owner, event)| {
            let (reply, answer) = oneshot::channel();
            (
                Job {
                    owner,
                    event,
                    reply,
                },
                answer,
            )
        })
        .unzip()
}
