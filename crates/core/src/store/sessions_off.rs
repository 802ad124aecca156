//! Sessions that are not recorded (issue 21: `CLAUDE_MEM=off`, `/claude-mem:off`). Turning a session off
//! forgets what was already stored of it and remembers only its id, so events that still arrive for it
//! are dropped before the queue. The ids are cached in memory: every hook asks, and a database read per
//! hook would cost the ingest path more than the check is worth.

use super::forget::forget_on;
use super::{Store, StoreError};
use crate::model::{ForgetReport, ForgetTarget};
use serde::Serialize;

/// How a session was turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffHow {
    /// `CLAUDE_MEM=off` in Claude Code's environment (the hooks saw it).
    Env,
    /// `/claude-mem:off` or `claude-mem session off`.
    Command,
    /// Another API client (the viewer).
    Api,
}

impl OffHow {
    pub fn as_str(self) -> &'static str {
        match self {
            OffHow::Env => "env",
            OffHow::Command => "command",
            OffHow::Api => "api",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "env" => Some(OffHow::Env),
            "command" => Some(OffHow::Command),
            "api" => Some(OffHow::Api),
            _ => None,
        }
    }
}

/// A session that is not recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OffSession {
    pub session_id: String,
    pub project: String,
    pub cwd: String,
    pub how: String,
    pub at: i64,
}

impl Store {
    /// Loads the ids of sessions turned off (at open).
    pub(super) async fn load_sessions_off(&self) -> Result<(), StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as("SELECT session_id FROM sessions_off")
            .fetch_all(self.read_pool())
            .await?;
        if let Ok(mut off) = self.inner.sessions_off.write() {
            off.extend(ids.into_iter().map(|(id,)| id));
        }
        Ok(())
    }

    /// Whether events of `session_id` are to be dropped.
    pub fn is_session_off(&self, session_id: &str) -> bool {
        self.inner
            .sessions_off
            .read()
            .map(|off| off.contains(session_id))
            .unwrap_or(false)
    }

    /// Turns `session_id` off: remembered as not recorded, and whatever was already stored of it is
    /// forgotten (the caller drops the returned ids from the search indexes). Idempotent.
    pub async fn turn_session_off(
        &self,
        session_id: &str,
        project: &str,
        cwd: &str,
        how: OffHow,
    ) -> Result<ForgetReport, StoreError> {
        let (id, project, cwd) = (session_id.to_owned(), project.to_owned(), cwd.to_owned());
        let report = self
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO sessions_off (session_id, project, cwd, how, at)
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (session_id) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(&project)
                    .bind(&cwd)
                    .bind(how.as_str())
                    .bind(crate::clock::now_ms())
                    .execute(&mut *conn)
                    .await?;
                    Ok(forget_on(conn, &[ForgetTarget::Session(id)]).await?)
                })
            })
            .await?;
        if let Ok(mut off) = self.inner.sessions_off.write() {
            off.insert(session_id.to_owned());
        }
        self.notify_change();
        Ok(report)
    }

    /// The sessions not recorded, newest first.
    pub async fn sessions_off(&self, limit: i64) -> Result<Vec<OffSession>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT session_id, project, cwd, how, at FROM sessions_off ORDER BY at DESC LIMIT ?1",
        )
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?)
    }
}
