//! Memories a user asks to keep (`save_memory` in MCP, `POST /api/memories`): stored as observations so
//! search, context and the viewer treat them like any other, but written directly, without hook events or
//! a compressor.

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::model::NewMemory;
use crate::model::ObservationRow;
use sqlx::Connection;

/// The compressor name that marks a memory as saved by hand.
pub const MANUAL: &str = "manual";

/// Saved notes of a project hang off one synthetic session per project, since every observation belongs
/// to a session.
pub fn notes_session_id(project: &str) -> String {
    format!("notes:{project}")
}

impl Store {
    pub async fn save_memory(&self, m: NewMemory) -> Result<ObservationRow, StoreError> {
        let id = self
            .write(move |conn| {
                Box::pin(async move {
                    let now = now_ms();
                    let session = notes_session_id(&m.project);
                    let json =
                        |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
                    let mut tx = conn.begin().await?;
                    sqlx::query(
                        "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at)
                         VALUES (?1, ?2, ?3, ?3)
                         ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at",
                    )
                    .bind(&session)
                    .bind(&m.project)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO observations (session_id, project, type, title, narrative, concepts,
                             files_read, compressor, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                    )
                    .bind(&session)
                    .bind(&m.project)
                    .bind(m.kind.as_str())
                    .bind(&m.title)
                    .bind(&m.text)
                    .bind(json(&m.concepts))
                    .bind(json(&m.files))
                    .bind(MANUAL)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE sdk_sessions SET observation_count = observation_count + 1 WHERE id = ?1",
                    )
                    .bind(&session)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(id)
                })
            })
            .await?;
        self.observation_signal().notify_one();
        self.notify_change();
        self.get_observations(&[id])
            .await?
            .pop()
            .ok_or(StoreError::Closed)
    }
}
