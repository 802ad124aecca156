//! What a team member's tools read and write beyond capture and search, matching the laptop store's
//! calls of the same names: a saved memory, a timeline around an observation, and paging.

use super::reads::{observation_from_row, OBSERVATION_COLUMNS};
use super::PgStore;
use crate::auth::Owner;
use crate::TeamError;
use claude_mem_core::model::{NewMemory, ObservationRow};

/// The compressor name of memories saved by hand (as on the laptop).
const MANUAL: &str = "manual";

impl PgStore {
    /// Stores a memory as the caller's observation, in the team's notes session for its project. The
    /// replicas' embed loop gives it a vector like any other row.
    pub async fn save_memory(
        &self,
        owner: &Owner,
        m: NewMemory,
    ) -> Result<ObservationRow, TeamError> {
        let now = claude_mem_core::clock::now_ms();
        // Session ids are global: the team's id keeps two teams' notes of one project apart.
        let session = format!("notes:{}:{}", owner.team_id, m.project);
        let json = |v: &Vec<String>| serde_json::to_value(v).unwrap_or_default();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO sdk_sessions (id, team_id, user_id, project, started_at, last_seen_at,
                 observation_count)
             VALUES ($1, $2, $3, $4, $5, $5, 1)
             ON CONFLICT (id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at,
                 observation_count = sdk_sessions.observation_count + 1
             WHERE sdk_sessions.team_id = EXCLUDED.team_id",
        )
        .bind(&session)
        .bind(owner.team_id)
        .bind(owner.user_id)
        .bind(&m.project)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "INSERT INTO observations (session_id, team_id, user_id, project, type, title, narrative,
                 concepts, files_read, compressor, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             RETURNING {OBSERVATION_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&session)
            .bind(owner.team_id)
            .bind(owner.user_id)
            .bind(&m.project)
            .bind(m.kind.as_str())
            .bind(&m.title)
            .bind(&m.text)
            .bind(sqlx::types::Json(json(&m.concepts)))
            .bind(sqlx::types::Json(json(&m.files)))
            .bind(MANUAL)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let saved = observation_from_row(&row)?;
        tx.commit().await?;
        self.notify_change();
        Ok(saved)
    }

    /// The anchor with up to `before` older and `after` newer observations of its project, oldest
    /// first; `None` when the team has no such observation.
    pub async fn timeline_around(
        &self,
        team_id: i64,
        anchor_id: i64,
        before: i64,
        after: i64,
    ) -> Result<Option<Vec<ObservationRow>>, TeamError> {
        let Some(anchor) = self.get_observations(team_id, &[anchor_id]).await?.pop() else {
            return Ok(None);
        };
        let side = |op: &str, order: &str| {
            format!(
                "SELECT {OBSERVATION_COLUMNS} FROM observations
                 WHERE team_id = $1 AND project = $2 AND id {op} $3 ORDER BY id {order} LIMIT $4"
            )
        };
        let older = sqlx::query(&side("<", "DESC"))
            .bind(team_id)
            .bind(&anchor.project)
            .bind(anchor_id)
            .bind(before)
            .fetch_all(self.pool())
            .await?;
        let newer = sqlx::query(&side(">", "ASC"))
            .bind(team_id)
            .bind(&anchor.project)
            .bind(anchor_id)
            .bind(after)
            .fetch_all(self.pool())
            .await?;
        let mut out = older
            .iter()
            .rev()
            .map(observation_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.push(anchor);
        for row in &newer {
            out.push(observation_from_row(row)?);
        }
        Ok(Some(out))
    }

    /// The team's observation closest after `at_ms` (else the last before it), optionally one project.
    pub async fn observation_near_time(
        &self,
        team_id: i64,
        project: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<i64>, TeamError> {
        let after: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM observations
             WHERE team_id = $1 AND ($2::text IS NULL OR project = $2) AND created_at >= $3
             ORDER BY created_at, id LIMIT 1",
        )
        .bind(team_id)
        .bind(project)
        .bind(at_ms)
        .fetch_optional(self.pool())
        .await?;
        if let Some((id,)) = after {
            return Ok(Some(id));
        }
        let before: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM observations
             WHERE team_id = $1 AND ($2::text IS NULL OR project = $2) AND created_at < $3
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(team_id)
        .bind(project)
        .bind(at_ms)
        .fetch_optional(self.pool())
        .await?;
        Ok(before.map(|(id,)| id))
    }
}
