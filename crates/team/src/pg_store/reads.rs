//! Team-scoped reads of observations: every query takes the caller's team, so another team's rows are
//! never even candidates.

use super::PgStore;
use crate::TeamError;
use claude_mem_core::model::ObservationRow;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;
use std::collections::HashMap;

/// How many of the newest full-text matches are ranked per query.
pub const RANKED_MATCHES: i64 = 2_000;

pub(crate) const OBSERVATION_COLUMNS: &str =
    "id, session_id, project, prompt_number, type, title, \
    subtitle, narrative, facts, concepts, files_read, files_modified, keywords, source_event_ids, \
    input_tokens, output_tokens, compressor, model, created_at, \
    (SELECT u.name FROM users u WHERE u.id = observations.user_id) AS author";

/// Lists are lenient like the SQLite reader: a malformed array reads as empty rather than failing the
/// whole page.
pub(crate) fn observation_from_row(row: &PgRow) -> Result<ObservationRow, sqlx::Error> {
    let list = |col: &str| -> Vec<String> {
        row.try_get::<Json<Vec<String>>, _>(col)
            .map(|j| j.0)
            .unwrap_or_default()
    };
    Ok(ObservationRow {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        project: row.try_get("project")?,
        prompt_number: row.try_get("prompt_number")?,
        kind: row.try_get("type")?,
        title: row.try_get("title")?,
        subtitle: row.try_get("subtitle")?,
        narrative: row.try_get("narrative")?,
        facts: list("facts"),
        concepts: list("concepts"),
        files_read: list("files_read"),
        files_modified: list("files_modified"),
        keywords: list("keywords"),
        source_event_ids: row
            .try_get::<Json<Vec<i64>>, _>("source_event_ids")
            .map(|j| j.0)
            .unwrap_or_default(),
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        compressor: row.try_get("compressor")?,
        model: row.try_get("model")?,
        created_at: row.try_get("created_at")?,
        author: row.try_get("author")?,
    })
}

impl PgStore {
    /// Observations of `team_id` among `ids`, in the order of `ids` (others' ids are silently absent).
    pub async fn get_observations(
        &self,
        team_id: i64,
        ids: &[i64],
    ) -> Result<Vec<ObservationRow>, TeamError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE team_id = $1 AND id = ANY($2)"
        );
        let rows = sqlx::query(&sql)
            .bind(team_id)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        let mut by_id: HashMap<i64, ObservationRow> = rows
            .iter()
            .map(|r| observation_from_row(r).map(|o| (o.id, o)))
            .collect::<Result<_, _>>()?;
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Newest first, optionally one project.
    pub async fn recent_observations(
        &self,
        team_id: i64,
        project: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, TeamError> {
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations
             WHERE team_id = $1 AND ($2::text IS NULL OR project = $2)
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(team_id)
            .bind(project)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(observation_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Full-text hits (id, ts_rank_cd score), best first among the newest [`RANKED_MATCHES`] matches: `websearch_to_tsquery('english', query)`
    /// against the GIN-indexed `search_tsv`, limited to the team (and project).
    pub async fn text_search(
        &self,
        team_id: i64,
        query: &str,
        project: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(i64, f32)>, TeamError> {
        let query = super::pg_text(query);
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        // Only the newest matches are ranked: `ts_rank_cd` has no index, so ranking every match of a
        // common word costs in proportion to the table (~0.9 s at a million rows); memories are worth more
        // the newer they are, so the cap loses little.
        let hits: Vec<(i64, f32)> = sqlx::query_as(
            "WITH matches AS (
                 SELECT o.id, o.search_tsv
                 FROM observations o, websearch_to_tsquery('english', $2) q
                 WHERE o.team_id = $1 AND ($3::text IS NULL OR o.project = $3) AND o.search_tsv @@ q
                 ORDER BY o.id DESC LIMIT $5
             )
             SELECT m.id, ts_rank_cd(m.search_tsv, websearch_to_tsquery('english', $2)) AS score
             FROM matches m
             ORDER BY score DESC, m.id DESC LIMIT $4",
        )
        .bind(team_id)
        .bind(query.as_ref())
        .bind(project)
        .bind(limit)
        .bind(RANKED_MATCHES)
        .fetch_all(&self.pool)
        .await?;
        Ok(hits)
    }
}
