//! Read-side queries behind the REST API. They run on the read pool, beside the writer (WAL).

use super::{Store, StoreError};
use crate::model::{EventRow, HealthCounts, ProjectRow, PromptRow, SessionRow};
use serde_json::Value;

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
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sdk_sessions WHERE id = ?1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.read_pool())
            .await?)
    }

    pub async fn session_prompts(&self, id: &str) -> Result<Vec<PromptRow>, StoreError> {
        self.session_prompts_page(id, -1, 0).await
    }

    /// One page of the session's prompts in order (`limit` -1: all).
    pub async fn session_prompts_page(
        &self,
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
        .fetch_all(self.read_pool())
        .await?)
    }

    /// How many events, prompts and observations the session has (for paging through them).
    pub async fn session_totals(&self, id: &str) -> Result<(i64, i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM pending_messages WHERE session_id = ?1),
                    (SELECT COUNT(*) FROM user_prompts WHERE session_id = ?1),
                    (SELECT COUNT(*) FROM observations WHERE session_id = ?1)",
        )
        .bind(id)
        .fetch_one(self.read_pool())
        .await?)
    }

    /// The session's captured hook events in arrival order, payloads parsed back to JSON.
    pub async fn session_events(&self, id: &str) -> Result<Vec<EventRow>, StoreError> {
        self.session_events_page(id, -1, 0).await
    }

    /// One page of [`Self::session_events`] (`limit` -1: all).
    pub async fn session_events_page(
        &self,
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
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    event_name,
                    tool_name,
                    prompt_number,
                    state,
                    attempts,
                    created_at,
                    payload,
                )| {
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
