//! Read-side queries behind the REST API. They run on the read pool, beside the writer (WAL).

use super::observations::{observations_page_on, summaries_on};
use super::{Store, StoreError};
use crate::model::{EventRow, HealthCounts, ProjectRow, PromptRow, SessionRow, SessionSlice};
use serde_json::Value;
use sqlx::SqliteExecutor;

const SESSION_COLUMNS: &str =
    "id, project, cwd, transcript_path, started_at, last_seen_at, ended_at, \
     end_reason, status, event_count, prompt_count, observation_count";

impl Store {
    /// Every project with its counts, most recently active first. Read from the sessions' running
    /// counters, so it costs one pass over sessions, not over observations.
    pub async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT project AS name, COUNT(*) AS sessions,
                    COALESCE(SUM(prompt_count), 0) AS prompts,
                    COALESCE(SUM(observation_count), 0) AS observations,
                    MAX(last_seen_at) AS last_activity_at
             FROM sdk_sessions GROUP BY project ORDER BY last_activity_at DESC, name",
        )
        .fetch_all(self.read_pool())
        .await?)
    }

    /// Most recently active first; `project` filters when given.
    pub async fn list_sessions(
        &self,
        project: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sdk_sessions
             WHERE (?1 IS NULL OR project = ?1)
             ORDER BY last_seen_at DESC, id LIMIT ?2 OFFSET ?3"
        );
        Ok(sqlx::query_as(&sql)
            .bind(project)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.read_pool())
            .await?)
    }

    pub async fn get_session(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        session_on(self.read_pool(), id).await
    }

    pub async fn session_prompts(&self, id: &str) -> Result<Vec<PromptRow>, StoreError> {
        prompts_page_on(self.read_pool(), id, -1, 0).await
    }

    /// The session's captured hook events in arrival order, payloads parsed back to JSON.
    pub async fn session_events(&self, id: &str) -> Result<Vec<EventRow>, StoreError> {
        events_page_on(self.read_pool(), id, -1, 0).await
    }

    /// One page of a session (each list sliced by `offset`/`limit`, -1: all) and at most
    /// `summaries_limit` of its summaries, read in one read transaction: WAL gives it one snapshot, so
    /// the totals and the session's counters agree with the lists while the processor writes.
    pub async fn session_slice(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
        summaries_limit: i64,
    ) -> Result<Option<SessionSlice>, StoreError> {
        let mut tx = self.read_pool().begin().await?;
        let Some(session) = session_on(&mut *tx, id).await? else {
            return Ok(None);
        };
        let totals = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM pending_messages WHERE session_id = ?1) AS events,
                    (SELECT COUNT(*) FROM user_prompts WHERE session_id = ?1) AS prompts,
                    (SELECT COUNT(*) FROM observations WHERE session_id = ?1) AS observations",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let prompts = prompts_page_on(&mut *tx, id, limit, offset).await?;
        let events = events_page_on(&mut *tx, id, limit, offset).await?;
        let observations = observations_page_on(&mut *tx, id, limit, offset).await?;
        let summaries = summaries_on(&mut *tx, None, Some(id), None, summaries_limit).await?;
        tx.commit().await?;
        Ok(Some(SessionSlice {
            session,
            totals,
            prompts,
            events,
            observations,
            summaries,
        }))
    }

    pub async fn health_counts(&self) -> Result<HealthCounts, StoreError> {
        let (sessions, events, pending, failed, prompts, observations): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT
                   (SELECT COUNT(*) FROM sdk_sessions),
                   (SELECT COUNT(*) FROM pending_messages),
                   (SELECT COUNT(*) FROM pending_messages WHERE state IN ('pending', 'processing')),
                   (SELECT COUNT(*) FROM pending_messages WHERE state = 'failed'),
                   (SELECT COUNT(*) FROM user_prompts),
                   (SELECT COUNT(*) FROM observations)",
        )
        .fetch_one(self.read_pool())
        .await?;
        Ok(HealthCounts {
            sessions,
            events,
            pending,
            failed,
            prompts,
            observations,
        })
    }
}

async fn session_on<'e>(
    e: impl SqliteExecutor<'e>,
    id: &str,
) -> Result<Option<SessionRow>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sdk_sessions WHERE id = ?1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(e).await?)
}

/// One page of the session's prompts in order (`limit` -1: all).
async fn prompts_page_on<'e>(
    e: impl SqliteExecutor<'e>,
    id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<PromptRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT prompt_number, prompt_id, text, created_at FROM user_prompts
         WHERE session_id = ?1 ORDER BY prompt_number, id LIMIT ?2 OFFSET ?3",
    )
    .bind(id)
    .bind(limit)
    .bind(offset)
    .fetch_all(e)
    .await?)
}

/// One page of the session's hook events in arrival order (`limit` -1: all), payloads parsed back
/// to JSON.
async fn events_page_on<'e>(
    e: impl SqliteExecutor<'e>,
    id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<EventRow>, StoreError> {
    type Raw = (i64, String, Option<String>, i64, String, i64, i64, String);
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT id, event_name, tool_name, prompt_number, state, attempts, created_at, payload
         FROM pending_messages WHERE session_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3",
    )
    .bind(id)
    .bind(limit)
    .bind(offset)
    .fetch_all(e)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, event_name, tool_name, prompt_number, state, attempts, created_at, payload)| {
                EventRow {
                    id,
                    event_name,
                    tool_name,
                    prompt_number,
                    state,
                    attempts,
                    created_at,
                    payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
                }
            },
        )
        .collect())
}
