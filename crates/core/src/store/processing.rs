//! The processor's side of the queue: finding work, loading it, and committing its results.
//!
//! Crash safety comes from one rule: observations, the summary and the events' new state are written in a
//! single transaction. Killed before it, the events are still `pending` and are processed again; killed
//! after, they are `done` and never touched again. LLM usage is the one exception, recorded as soon as a
//! call returns, because the money was spent whether or not the results survive.

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::model::{ObservationDraft, QueuedEvent, SessionContext, SummaryDraft, UsageRecord};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use std::collections::{BTreeSet, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct ReadySession {
    pub session_id: String,
    pub pending: i64,
}

/// Everything one processing step produced, committed atomically by [`Store::complete_batch`].
#[derive(Debug, Clone, Default)]
pub struct CompletedBatch {
    pub session_id: String,
    pub project: String,
    pub compressor: String,
    pub model: Option<String>,
    pub observations: Vec<ObservationDraft>,
    /// Events that produced something or were consumed (prompts, stops).
    pub done: Vec<i64>,
    /// Events that deserved no memory.
    pub skipped: Vec<i64>,
    pub summary: Option<(i64, SummaryDraft, String, Option<String>)>,
}

type QueueRow = (i64, String, String, Option<String>, i64, i64, i64, String);

impl Store {
    /// Sessions with work that is due: a full batch, an old enough event (`linger_ms`), or a Stop/SessionEnd
    /// waiting (the user just finished a turn: summarise now).
    pub async fn ready_sessions(
        &self,
        now: i64,
        batch_size: i64,
        linger_ms: i64,
        limit: i64,
    ) -> Result<Vec<ReadySession>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT session_id, COUNT(*) AS n FROM pending_messages
             WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
             GROUP BY session_id
             HAVING n >= ?2 OR MIN(created_at) <= ?1 - ?3
                 OR SUM(event_name IN ('Stop', 'SessionEnd')) > 0
             ORDER BY MIN(id) LIMIT ?4",
        )
        .bind(now)
        .bind(batch_size)
        .bind(linger_ms)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(session_id, pending)| ReadySession {
                session_id,
                pending,
            })
            .collect())
    }

    /// When the next deferred event becomes due, for the processor's sleep.
    pub async fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        let (due,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(COALESCE(next_attempt_at, created_at)) FROM pending_messages WHERE state = 'pending'",
        )
        .fetch_one(self.read_pool())
        .await?;
        Ok(due)
    }

    /// The session's oldest due events, in arrival order.
    pub async fn load_batch(
        &self,
        session_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        let rows: Vec<QueueRow> = sqlx::query_as(
            "SELECT id, session_id, event_name, tool_name, prompt_number, created_at, attempts, payload
             FROM pending_messages
             WHERE session_id = ?1 AND state = 'pending'
               AND (next_attempt_at IS NULL OR next_attempt_at <= ?2)
             ORDER BY id LIMIT ?3",
        )
        .bind(session_id)
        .bind(now)
        .bind(limit)
        .fetch_all(self.read_pool())
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
                )| {
                    QueuedEvent {
                        id,
                        session_id,
                        event_name,
                        tool_name,
                        prompt_number,
                        created_at,
                        attempts,
                        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    }
                },
            )
            .collect())
    }

    /// The session's project, directory and the prompts numbered in `prompt_numbers` (a long session has
    /// hundreds; a batch needs one or two).
    pub async fn session_context(
        &self,
        session_id: &str,
        prompt_numbers: &BTreeSet<i64>,
    ) -> Result<SessionContext, StoreError> {
        let (project, cwd): (String, String) =
            sqlx::query_as("SELECT project, cwd FROM sdk_sessions WHERE id = ?1")
                .bind(session_id)
                .fetch_optional(self.read_pool())
                .await?
                .unwrap_or_default();
        let mut prompts = Vec::new();
        if !prompt_numbers.is_empty() {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT prompt_number, text FROM user_prompts WHERE session_id = ",
            );
            q.push_bind(session_id).push(" AND prompt_number IN (");
            let mut list = q.separated(", ");
            for n in prompt_numbers {
                list.push_bind(*n);
            }
            q.push(") ORDER BY prompt_number");
            prompts = q.build_query_as().fetch_all(self.read_pool()).await?;
        }
        Ok(SessionContext {
            session_id: session_id.to_owned(),
            project,
            cwd,
            prompts,
        })
    }

    /// Which of `tool_use_ids` (the calls a PostToolBatch repeats) were already processed as
    /// PostToolUse/PostToolUseFailure events, so they are not compressed twice.
    pub async fn processed_tool_use_ids(
        &self,
        session_id: &str,
        tool_use_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        if tool_use_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT event_key FROM pending_messages WHERE state != 'pending' AND event_key IN (",
        );
        let mut list = q.separated(", ");
        for id in tool_use_ids {
            for event in ["PostToolUse", "PostToolUseFailure"] {
                list.push_bind(format!("{event}:{session_id}:{id}"));
            }
        }
        q.push(")");
        let keys: Vec<(String,)> = q.build_query_as().fetch_all(self.read_pool()).await?;
        Ok(keys
            .into_iter()
            .filter_map(|(k,)| {
                ["PostToolUse", "PostToolUseFailure"]
                    .iter()
                    .find_map(|event| {
                        k.strip_prefix(&format!("{event}:{session_id}:"))
                            .map(str::to_owned)
                    })
            })
            .collect())
    }

    /// Observations already stored for one prompt of a session (for its summary).
    pub async fn prompt_observations(
        &self,
        session_id: &str,
        prompt_number: i64,
    ) -> Result<Vec<ObservationDraft>, StoreError> {
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT type, title, subtitle, narrative, facts, concepts, files_read, files_modified,
                    keywords, source_event_ids
             FROM observations WHERE session_id = ?1 AND prompt_number = ?2 ORDER BY id",
        )
        .bind(session_id)
        .bind(prompt_number)
        .fetch_all(self.read_pool())
        .await?;
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
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
                        kind: crate::model::ObservationType::parse(&kind)
                            .unwrap_or(crate::model::ObservationType::Discovery),
                        title,
                        subtitle,
                        narrative,
                        facts: list(&facts),
                        concepts: list(&concepts),
                        files_read: list(&read),
                        files_modified: list(&modified),
                        keywords: list(&keywords),
                        source_event_ids: serde_json::from_str(&ids).unwrap_or_default(),
                        prompt_number,
                        input_tokens: 0,
                        output_tokens: 0,
                    }
                },
            )
            .collect())
    }

    pub async fn has_summary(
        &self,
        session_id: &str,
        prompt_number: i64,
    ) -> Result<bool, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM session_summaries WHERE session_id = ?1 AND prompt_number = ?2",
        )
        .bind(session_id)
        .bind(prompt_number)
        .fetch_one(self.read_pool())
        .await?;
        Ok(n > 0)
    }

    /// Today's LLM spend (UTC day), for the daily budget.
    pub async fn spent_since_usd(&self, since_ms: i64) -> Result<f64, StoreError> {
        let (spent,): (Option<f64>,) =
            sqlx::query_as("SELECT SUM(cost_usd) FROM llm_usage WHERE created_at >= ?1")
                .bind(since_ms)
                .fetch_one(self.read_pool())
                .await?;
        Ok(spent.unwrap_or(0.0))
    }

    /// Records LLM calls right away: they cost money even if the batch is later retried.
    pub async fn record_usage(
        &self,
        session_id: &str,
        project: &str,
        usage: Vec<UsageRecord>,
    ) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        let session_id = session_id.to_owned();
        let project = project.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = conn.begin().await?;
                let now = now_ms();
                for u in usage {
                    sqlx::query(
                        "INSERT INTO llm_usage (session_id, project, provider, model, purpose,
                             input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .bind(&session_id)
                    .bind(&project)
                    .bind(&u.provider)
                    .bind(&u.model)
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
            })
        })
        .await
    }

    /// Puts events back for a later try, or parks them as `failed` once they reach `max_attempts`.
    /// Returns how many were parked.
    pub async fn defer_events(
        &self,
        ids: Vec<i64>,
        error: String,
        next_attempt_at: i64,
        max_attempts: i64,
    ) -> Result<u64, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = conn.begin().await?;
                let mut parked = 0;
                for id in ids {
                    let r = sqlx::query(
                        "UPDATE pending_messages SET
                             attempts = attempts + 1,
                             last_error = ?2,
                             next_attempt_at = ?3,
                             state = CASE WHEN attempts + 1 >= ?4 THEN 'failed' ELSE 'pending' END,
                             processed_at = CASE WHEN attempts + 1 >= ?4 THEN ?5 ELSE NULL END
                         WHERE id = ?1 AND state = 'pending'
                         RETURNING state",
                    )
                    .bind(id)
                    .bind(&error)
                    .bind(next_attempt_at)
                    .bind(max_attempts)
                    .bind(now_ms())
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = r {
                        use sqlx::Row;
                        if row.try_get::<String, _>(0).ok().as_deref() == Some("failed") {
                            parked += 1;
                        }
                    }
                }
                tx.commit().await?;
                Ok(parked)
            })
        })
        .await
    }

    /// Stores a batch's results and retires its events, all or nothing. Returns the new observation ids.
    /// Wakes the search indexer when new observations or a summary were committed.
    pub async fn complete_batch(&self, batch: CompletedBatch) -> Result<Vec<i64>, StoreError> {
        let summarized = batch.summary.is_some();
        let ids = self
            .write(move |conn| Box::pin(complete(conn, batch)))
            .await?;
        if !ids.is_empty() || summarized {
            self.observation_signal().notify_one();
        }
        self.notify_change();
        Ok(ids)
    }
}

async fn complete(conn: &mut SqliteConnection, b: CompletedBatch) -> Result<Vec<i64>, StoreError> {
    let mut tx = conn.begin().await?;
    let now = now_ms();
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let mut ids = Vec::with_capacity(b.observations.len());
    for o in &b.observations {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO observations (session_id, project, prompt_number, type, title, subtitle,
                 narrative, facts, concepts, files_read, files_modified, keywords, source_event_ids,
                 input_tokens, output_tokens, compressor, model, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             RETURNING id",
        )
        .bind(&b.session_id)
        .bind(&b.project)
        .bind(o.prompt_number)
        .bind(o.kind.as_str())
        .bind(&o.title)
        .bind(&o.subtitle)
        .bind(&o.narrative)
        .bind(json(&o.facts))
        .bind(json(&o.concepts))
        .bind(json(&o.files_read))
        .bind(json(&o.files_modified))
        .bind(json(&o.keywords))
        .bind(serde_json::to_string(&o.source_event_ids).unwrap_or_else(|_| "[]".into()))
        .bind(o.input_tokens)
        .bind(o.output_tokens)
        .bind(&b.compressor)
        .bind(&b.model)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        ids.push(id);
    }
    if let Some((prompt_number, s, compressor, model)) = &b.summary {
        sqlx::query(
            "INSERT INTO session_summaries (session_id, project, prompt_number, request, investigated,
                 learned, completed, next_steps, compressor, model, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(&b.session_id)
        .bind(&b.project)
        .bind(prompt_number)
        .bind(&s.request)
        .bind(&s.investigated)
        .bind(&s.learned)
        .bind(&s.completed)
        .bind(&s.next_steps)
        .bind(compressor)
        .bind(model)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for (ids, state) in [(&b.done, "done"), (&b.skipped, "skipped")] {
        if ids.is_empty() {
            continue;
        }
        let mut q = QueryBuilder::<Sqlite>::new("UPDATE pending_messages SET state = ");
        q.push_bind(state)
            .push(", processed_at = ")
            .push_bind(now)
            .push(", last_error = NULL WHERE state = 'pending' AND id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push(")");
        q.build().execute(&mut *tx).await?;
    }
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE sdk_sessions SET observation_count = observation_count + ?2 WHERE id = ?1",
        )
        .bind(&b.session_id)
        .bind(ids.len() as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(ids)
}
