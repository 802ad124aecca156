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
    /// The lexical evidence for ranking each of `ids` (of `team_id`; others' ids are absent): the
    /// share (0..1) of the query's content words the observation contains, and its `ts_rank_cd` where
    /// it matches the query as [`PgStore::text_search`] reads it (`None` where it does not). One round
    /// trip for every candidate.
    ///
    /// The words are the query's distinct lexemes under the same `english` configuration as
    /// `search_tsv` (stemmed, stop words dropped; `-excluded` words are not asked for), each weighing
    /// the same: unlike the laptop's share, it is not IDF-weighted (that would take a document count per
    /// word over the team's rows on every query).
    pub async fn text_evidence(
        &self,
        team_id: i64,
        query: &str,
        ids: &[i64],
    ) -> Result<HashMap<i64, (f32, Option<f32>)>, TeamError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let query = super::pg_text(query);
        let asked = asked_words(&query);
        let rows: Vec<(i64, f32, Option<f32>)> = sqlx::query_as(
            "WITH words AS (
                 SELECT DISTINCT w FROM unnest(tsvector_to_array(to_tsvector('english', $2))) AS w
             ), asked AS (SELECT count(*)::real AS n FROM words)
             SELECT o.id,
                    (CASE WHEN asked.n > 0
                          THEN (SELECT count(*) FROM words WHERE words.w = ANY(l.lexemes))::real / asked.n
                          ELSE 0 END)::real AS coverage,
                    (CASE WHEN o.search_tsv @@ websearch_to_tsquery('english', $3)
                          THEN ts_rank_cd(o.search_tsv, websearch_to_tsquery('english', $3)) END)::real
                        AS score
             FROM observations o
             CROSS JOIN asked
             CROSS JOIN LATERAL (SELECT tsvector_to_array(o.search_tsv) AS lexemes) l
             WHERE o.team_id = $1 AND o.id = ANY($4)",
        )
        .bind(team_id)
        .bind(&asked)
        .bind(query.as_ref())
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, coverage, score)| (id, (coverage, score)))
            .collect())
    }
}

/// The words a `websearch_to_tsquery` query asks for: all but those it excludes (`-word` outside
/// quotes); quotes dropped.
fn asked_words(query: &str) -> String {
    let mut words = Vec::new();
    for (i, part) in query.split('"').enumerate() {
        let quoted = i % 2 == 1;
        words.extend(
            part.split_whitespace()
                .filter(|w| quoted || !w.starts_with('-')),
        );
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::asked_words;

    #[test]
    fn excluded_words_are_not_asked_for() {
        assert_eq!(
            asked_words("\"readiness probe\" -frontend api"),
            "readiness probe api"
        );
        assert_eq!(asked_words("\"a -b\" -c"), "a -b");
        assert_eq!(asked_words("  "), "");
    }
}
