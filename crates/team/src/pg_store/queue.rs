//! The durable queue on PostgreSQL, shared by several replicas.
//!
//! Same semantics as the SQLite store (`claude_mem_core::store::{ingest, processing}`), plus what
//! sharing needs:
//! - ownership: an ingest acts for one user; a session belongs to the team that first wrote it and no
//!   other team may add to it; every row copies its session's team and user.
//! - claims: `ready_sessions` hands each due session to one replica (`FOR UPDATE SKIP LOCKED` and a
//!   lease), and `complete_batch` commits nothing when the events were finished elsewhere meanwhile (our
//!   lease ran out and another replica redid them), so no observation is ever stored twice.
//!
//! Lock order is always the session row first, then its events, so ingest, completion and deferral of
//! the same session cannot deadlock each other.

use super::{denied, pg_list, pg_text, PgStore, CLAIM_LEASE_MS};
use async_trait::async_trait;
use claude_mem_core::clock::now_ms;
use claude_mem_core::model::{
    ObservationDraft, ObservationType, QueuedEvent, SessionContext, UsageRecord,
};
use claude_mem_core::storage::StorageError;
use claude_mem_core::store::{CompletedBatch, ReadySession};
use claude_mem_core::{HookEvent, IngestOutcome, Storage};
use sqlx::types::Json;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use tokio::sync::Notify;

type QueueRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    serde_json::Value,
);

impl PgStore {
    async fn release_claims_of_events(
        &self,
        conn: &mut sqlx::PgConnection,
        ids: &[i64],
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE sdk_sessions SET claimed_by = NULL, claimed_until = NULL
             WHERE claimed_by = $1
               AND id IN (SELECT DISTINCT session_id FROM pending_messages WHERE id = ANY($2))",
        )
        .bind(&*self.replica)
        .bind(ids)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn release(&self, session_id: &str) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE sdk_sessions SET claimed_by = NULL, claimed_until = NULL
             WHERE id = $1 AND claimed_by = $2",
        )
        .bind(session_id)
        .bind(&*self.replica)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Storage for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    /// Hands the event to this replica's group-commit writer (`ingest_batch.rs`): events arriving
    /// together share one transaction, each caller still gets its own outcome or error.
    async fn ingest(&self, event: HookEvent) -> Result<IngestOutcome, StorageError> {
        let Some(owner) = &self.owner else {
            return Err(denied(
                "ingest needs an owner: this PgStore copy acts for nobody (use PgStore::scoped)",
            ));
        };
        let outcome = self.writer.ingest(owner.clone(), event).await?;
        if matches!(outcome, IngestOutcome::Stored { .. }) {
            // A new prompt (and the session's counters) for this process's live readers.
            self.notify_change();
        }
        Ok(outcome)
    }

    fn ingest_signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    /// Claims up to `limit` due sessions for this replica in one statement: rows another replica is
    /// claiming right now are skipped (SKIP LOCKED), and rows already claimed fail the lease test, which
    /// PostgreSQL re-checks on the newest row version before locking. Live claims of this replica are
    /// skipped too: they are in flight here, and a second task on the same session would process its
    /// events twice.
    async fn ready_sessions(
        &self,
        now: i64,
        batch_size: i64,
        linger_ms: i64,
        limit: i64,
    ) -> Result<Vec<ReadySession>, StorageError> {
        let mut rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "WITH due AS (
                 SELECT session_id, COUNT(*) AS n, MIN(id) AS first_id
                 FROM pending_messages
                 WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
                 GROUP BY session_id
                 HAVING COUNT(*) >= $2 OR MIN(created_at) <= $1 - $3
                     OR bool_or(event_name IN ('Stop', 'SessionEnd'))
             ),
             picked AS (
                 SELECT s.id, due.n, due.first_id
                 FROM sdk_sessions s JOIN due ON due.session_id = s.id
                 WHERE s.claimed_by IS NULL OR s.claimed_until <= $1
                 ORDER BY due.first_id
                 LIMIT $4
                 FOR UPDATE OF s SKIP LOCKED
             )
             UPDATE sdk_sessions s SET claimed_by = $5, claimed_until = $6
             FROM picked WHERE s.id = picked.id
             RETURNING s.id, picked.n, picked.first_id",
        )
        .bind(now)
        .bind(batch_size)
        .bind(linger_ms)
        .bind(limit)
        .bind(&*self.replica)
        .bind(now + CLAIM_LEASE_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.sort_by_key(|r| r.2);
        Ok(rows
            .into_iter()
            .map(|(session_id, pending, _)| ReadySession {
                session_id,
                pending,
            })
            .collect())
    }

    async fn next_due_at(&self) -> Result<Option<i64>, StorageError> {
        let (due,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(COALESCE(next_attempt_at, created_at)) FROM pending_messages WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(due)
    }

    /// Only from a session this replica holds: a session whose lease ran out and was taken over loads
    /// nothing here.
    async fn load_batch(
        &self,
        session_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<QueuedEvent>, StorageError> {
        let rows: Vec<QueueRow> = sqlx::query_as(
            "SELECT p.id, p.session_id, p.event_name, p.tool_name, p.prompt_number, p.created_at,
                    p.attempts, p.payload
             FROM pending_messages p JOIN sdk_sessions s ON s.id = p.session_id
             WHERE p.session_id = $1 AND s.claimed_by = $4 AND p.state = 'pending'
               AND (p.next_attempt_at IS NULL OR p.next_attempt_at <= $2)
             ORDER BY p.id LIMIT $3",
        )
        .bind(session_id)
        .bind(now)
        .bind(limit)
        .bind(&*self.replica)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    session_id,
                    event_name,
                    tool_name,
                    prompt_number,
                    created_at,
                    attempts,
                    payload,
                )| QueuedEvent {
                    id,
                    session_id,
                    event_name,
                    tool_name,
                    prompt_number,
                    created_at,
                    attempts,
                    payload,
                },
            )
            .collect())
    }

    async fn session_context(
        &self,
        session_id: &str,
        prompt_numbers: &BTreeSet<i64>,
    ) -> Result<SessionContext, StorageError> {
        let (project, cwd): (String, String) =
            sqlx::query_as("SELECT project, cwd FROM sdk_sessions WHERE id = $1")
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or_default();
        let mut prompts = Vec::new();
        if !prompt_numbers.is_empty() {
            let numbers: Vec<i64> = prompt_numbers.iter().copied().collect();
            prompts = sqlx::query_as(
                "SELECT prompt_number, text FROM user_prompts
                 WHERE session_id = $1 AND prompt_number = ANY($2) ORDER BY prompt_number",
            )
            .bind(session_id)
            .bind(&numbers)
            .fetch_all(&self.pool)
            .await?;
        }
        Ok(SessionContext {
            session_id: session_id.to_owned(),
            project,
            cwd,
            prompts,
        })
    }

    async fn processed_tool_use_ids(
        &self,
        session_id: &str,
        tool_use_ids: &[String],
    ) -> Result<HashSet<String>, StorageError> {
        if tool_use_ids.is_empty() {
            return Ok(HashSet::new());
        }
        const EVENTS: [&str; 2] = ["PostToolUse", "PostToolUseFailure"];
        let keys: Vec<String> = tool_use_ids
            .iter()
            .flat_map(|id| {
                EVENTS
                    .iter()
                    .map(move |event| format!("{event}:{session_id}:{id}"))
            })
            .collect();
        let found: Vec<(String,)> = sqlx::query_as(
            "SELECT event_key FROM pending_messages WHERE state != 'pending' AND event_key = ANY($1)",
        )
        .bind(&keys)
        .fetch_all(&self.pool)
        .await?;
        Ok(found
            .into_iter()
            .filter_map(|(k,)| {
                EVENTS.iter().find_map(|event| {
                    k.strip_prefix(&format!("{event}:{session_id}:"))
                        .map(str::to_owned)
                })
            })
            .collect())
    }

    async fn prompt_observations(
        &self,
        session_id: &str,
        prompt_number: i64,
    ) -> Result<Vec<ObservationDraft>, StorageError> {
        type L = Json<Vec<String>>;
        type Row = (
            String,
            String,
            String,
            String,
            L,
            L,
            L,
            L,
            L,
            Json<Vec<i64>>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT type, title, subtitle, narrative, facts, concepts, files_read, files_modified,
                    keywords, source_event_ids
             FROM observations WHERE session_id = $1 AND prompt_number = $2 ORDER BY id",
        )
        .bind(session_id)
        .bind(prompt_number)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    kind,
                    title,
                    subtitle,
                    narrative,
                    facts,
                    concepts,
                    read,
                    modified,
                    keywords,
                    ids,
                )| {
                    ObservationDraft {
                        kind: ObservationType::parse(&kind).unwrap_or(ObservationType::Discovery),
                        title,
                        subtitle,
                        narrative,
                        facts: facts.0,
                        concepts: concepts.0,
                        files_read: read.0,
                        files_modified: modified.0,
                        keywords: keywords.0,
                        source_event_ids: ids.0,
                        prompt_number,
                        input_tokens: 0,
                        output_tokens: 0,
                    }
                },
            )
            .collect())
    }

    async fn has_summary(
        &self,
        session_id: &str,
        prompt_number: i64,
    ) -> Result<bool, StorageError> {
        let (found,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM session_summaries WHERE session_id = $1 AND prompt_number = $2)",
        )
        .bind(session_id)
        .bind(prompt_number)
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }

    /// Server-wide: the daily budget is the server's, whichever team spent it.
    async fn spent_since_usd(&self, since_ms: i64) -> Result<f64, StorageError> {
        let (spent,): (Option<f64>,) =
            sqlx::query_as("SELECT SUM(cost_usd) FROM llm_usage WHERE created_at >= $1")
                .bind(since_ms)
                .fetch_one(&self.pool)
                .await?;
        Ok(spent.unwrap_or(0.0))
    }

    async fn record_usage(
        &self,
        session_id: &str,
        project: &str,
        usage: Vec<UsageRecord>,
    ) -> Result<(), StorageError> {
        if usage.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for u in usage {
            sqlx::query(
                "INSERT INTO llm_usage (session_id, team_id, project, provider, model, purpose,
                     input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd,
                     created_at)
                 VALUES ($1, (SELECT team_id FROM sdk_sessions WHERE id = $1), $2, $3, $4, $5, $6, $7,
                         $8, $9, $10, $11)",
            )
            .bind(session_id)
            .bind(pg_text(project).as_ref())
            .bind(pg_text(&u.provider).as_ref())
            .bind(pg_text(&u.model).as_ref())
            .bind(u.purpose)
            .bind(u.input_tokens)
            .bind(u.output_tokens)
            .bind(u.cache_write_tokens)
            .bind(u.cache_read_tokens)
            .bind(u.cost_usd)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn defer_events(
        &self,
        ids: Vec<i64>,
        error: String,
        next_attempt_at: i64,
        max_attempts: i64,
    ) -> Result<u64, StorageError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        self.release_claims_of_events(&mut tx, &ids).await?;
        let states: Vec<(String,)> = sqlx::query_as(
            "UPDATE pending_messages SET
                 attempts = attempts + 1,
                 last_error = $2,
                 next_attempt_at = $3,
                 state = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE 'pending' END,
                 processed_at = CASE WHEN attempts + 1 >= $4 THEN $5 ELSE NULL END
             WHERE id = ANY($1) AND state = 'pending'
             RETURNING state",
        )
        .bind(&ids)
        .bind(pg_text(&error).as_ref())
        .bind(next_attempt_at)
        .bind(max_attempts)
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(states.iter().filter(|(s,)| s == "failed").count() as u64)
    }

    async fn complete_batch(&self, b: CompletedBatch) -> Result<Vec<i64>, StorageError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let Some((team_id, user_id)): Option<(i64, i64)> =
            sqlx::query_as("SELECT team_id, user_id FROM sdk_sessions WHERE id = $1 FOR UPDATE")
                .bind(&b.session_id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            // The session was deleted (pruned) under us: nothing left to complete.
            return Ok(Vec::new());
        };

        // Retire the events first: if another replica already did, this step was done twice and only
        // the first may count.
        let mut expected = 0u64;
        let mut retired = 0u64;
        for (ids, state) in [(&b.done, "done"), (&b.skipped, "skipped")] {
            let unique: BTreeSet<i64> = ids.iter().copied().collect();
            if unique.is_empty() {
                continue;
            }
            let unique: Vec<i64> = unique.into_iter().collect();
            expected += unique.len() as u64;
            retired += sqlx::query(
                "UPDATE pending_messages SET state = $1, processed_at = $2, last_error = NULL
                 WHERE id = ANY($3) AND session_id = $4 AND state = 'pending'",
            )
            .bind(state)
            .bind(now)
            .bind(&unique)
            .bind(&b.session_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if retired < expected {
            tx.rollback().await?;
            tracing::warn!(
                session = %b.session_id,
                expected,
                retired,
                "events were already completed by another replica; discarding this result"
            );
            self.release(&b.session_id).await?;
            return Ok(Vec::new());
        }

        let mut ids = Vec::with_capacity(b.observations.len());
        for o in &b.observations {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO observations (session_id, team_id, user_id, project, prompt_number, type,
                     title, subtitle, narrative, facts, concepts, files_read, files_modified, keywords,
                     source_event_ids, input_tokens, output_tokens, compressor, model, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                         $18, $19, $20)
                 RETURNING id",
            )
            .bind(&b.session_id)
            .bind(team_id)
            .bind(user_id)
            .bind(pg_text(&b.project).as_ref())
            .bind(o.prompt_number)
            .bind(o.kind.as_str())
            .bind(pg_text(&o.title).as_ref())
            .bind(pg_text(&o.subtitle).as_ref())
            .bind(pg_text(&o.narrative).as_ref())
            .bind(pg_list(&o.facts))
            .bind(pg_list(&o.concepts))
            .bind(pg_list(&o.files_read))
            .bind(pg_list(&o.files_modified))
            .bind(pg_list(&o.keywords))
            .bind(Json(&o.source_event_ids))
            .bind(o.input_tokens)
            .bind(o.output_tokens)
            .bind(pg_text(&b.compressor).as_ref())
            .bind(b.model.as_deref().map(pg_text).as_deref())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        if let Some((prompt_number, s, compressor, model)) = &b.summary {
            sqlx::query(
                "INSERT INTO session_summaries (session_id, team_id, user_id, project, prompt_number,
                     request, investigated, learned, completed, next_steps, compressor, model, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&b.session_id)
            .bind(team_id)
            .bind(user_id)
            .bind(pg_text(&b.project).as_ref())
            .bind(prompt_number)
            .bind(pg_text(&s.request).as_ref())
            .bind(pg_text(&s.investigated).as_ref())
            .bind(pg_text(&s.learned).as_ref())
            .bind(pg_text(&s.completed).as_ref())
            .bind(pg_text(&s.next_steps).as_ref())
            .bind(pg_text(compressor).as_ref())
            .bind(model.as_deref().map(pg_text).as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE sdk_sessions SET
                 observation_count = observation_count + $2,
                 claimed_by = CASE WHEN claimed_by = $3 THEN NULL ELSE claimed_by END,
                 claimed_until = CASE WHEN claimed_by = $3 THEN NULL ELSE claimed_until END
             WHERE id = $1",
        )
        .bind(&b.session_id)
        .bind(ids.len() as i64)
        .bind(&*self.replica)
        .execute(&mut *tx)
        .await?;
        tx.commit()
            .await
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        // New observations or a summary (or only retired events: the session's counts moved).
        self.notify_change();
        Ok(ids)
    }

    async fn release_session(&self, session_id: &str) -> Result<(), StorageError> {
        self.release(session_id).await
    }

    /// Across every team: an operator's action (the team server has no retry endpoint). Requeued events
    /// are due at once, so whichever replica polls first claims their sessions.
    async fn requeue_failed(&self, id: Option<i64>) -> Result<u64, StorageError> {
        let r = sqlx::query(
            "UPDATE pending_messages SET state = 'pending', attempts = 0,
                 next_attempt_at = NULL, processed_at = NULL, last_error = NULL
             WHERE state = 'failed' AND ($1::BIGINT IS NULL OR id = $1)",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() > 0 {
            self.signal.notify_one();
        }
        Ok(r.rows_affected())
    }
}

/// The payload as stored: the received text unless it holds an escaped NUL, which `jsonb` rejects (then
/// the NULs become U+FFFD, the rest unchanged).
pub(super) fn payload_text(event: &HookEvent) -> std::borrow::Cow<'_, str> {
    let text = event.payload_json();
    if !text.contains("\\u0000") {
        return std::borrow::Cow::Borrowed(text);
    }
    fn clean(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
            serde_json::Value::Array(items) => items.iter_mut().for_each(clean),
            serde_json::Value::Object(map) => map.values_mut().for_each(clean),
            _ => {}
        }
    }
    let mut value = serde_json::Value::Object(event.payload.clone());
    clean(&mut value);
    std::borrow::Cow::Owned(serde_json::to_string(&value).unwrap_or_else(|_| "{}".to_owned()))
}
