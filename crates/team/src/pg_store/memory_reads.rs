//! [`MemoryReads`] on PostgreSQL: what the shared HTTP route handlers, the viewer's live stream and
//! SessionStart recall read (and the edits a user makes), answered for ONE team.
//!
//! Every query filters on the team of the copy's owner ([`PgStore::scoped`]); a copy that acts for
//! nobody refuses with [`StorageError::Forbidden`] instead of answering for every team. Semantics (order,
//! paging, limits, `None` for missing) are those of the SQLite store's queries
//! (`claude_mem_core::store::{queries, observations, costs, memories, forget}`), translated:
//! - a negative `LIMIT` (SQLite: no limit) binds as `NULL` (PostgreSQL: no limit), a negative `OFFSET`
//!   as 0 (what SQLite does with it);
//! - text sort keys compare bytewise (`COLLATE "C"`), as SQLite's default collation does;
//! - file names are derived from the JSON file lists at query time (SQLite keeps an
//!   `observation_files` index table; the rule is the same: the part after the last `/`).

use super::reads::{observation_from_row, OBSERVATION_COLUMNS};
use super::session_slice::{session_on, session_slice, summaries_on};
use super::{denied, pg_text, PgStore};
use crate::TeamError;
use async_trait::async_trait;
use claude_mem_core::model::{
    CostGroup, CostReport, CostTotals, ForgetReport, ForgetTarget, NewMemory, ObservationEdit,
    ObservationFilter, ObservationRow, ProjectRow, SessionRow, SessionSlice, StreamCursor,
    StreamPrompt, SummaryRow,
};
use claude_mem_core::storage::StorageError;
use claude_mem_core::storage::{MemoryReads, SessionTitleRow};
use claude_mem_core::store::{day_and_month_start, path_matches};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::types::Json;
use sqlx::{Connection, FromRow, Postgres, Row};
use std::borrow::Cow;
use tokio::sync::broadcast;

pub(super) const SESSION_COLUMNS: &str =
    "id, project, cwd, transcript_path, started_at, last_seen_at, ended_at, \
     end_reason, status, event_count, prompt_count, observation_count";

pub(super) const SUMMARY_COLUMNS: &str =
    "id, session_id, project, prompt_number, request, investigated, learned, completed, \
     next_steps, compressor, model, created_at";

const PROMPT_COLUMNS: &str =
    "p.id, p.session_id, s.project, p.prompt_number, p.text AS prompt, p.created_at";

const COST_SUMS: &str = "COUNT(*) AS calls, \
    COALESCE(SUM(input_tokens), 0)::bigint AS input_tokens, \
    COALESCE(SUM(output_tokens), 0)::bigint AS output_tokens, \
    COALESCE(SUM(cache_write_tokens), 0)::bigint AS cache_write_tokens, \
    COALESCE(SUM(cache_read_tokens), 0)::bigint AS cache_read_tokens, \
    COALESCE(SUM(cost_usd), 0)::double precision AS cost_usd";

const DAY_MS: i64 = 86_400_000;

/// SQLite reads a negative LIMIT as "no limit"; PostgreSQL refuses it but reads NULL so.
pub(super) fn limit(n: i64) -> Option<i64> {
    (n >= 0).then_some(n)
}

/// SQLite reads a negative OFFSET as 0; PostgreSQL refuses it.
pub(super) fn offset(n: i64) -> i64 {
    n.max(0)
}

/// Text as stored (NUL became U+FFFD on the way in), so a filter finds what was written.
pub(super) fn text(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(pg_text)
}

/// The errors of the team's own helpers, back in the trait's type.
fn store_error(e: TeamError) -> StorageError {
    match e {
        TeamError::Store(e) => e,
        TeamError::Database(e) => StorageError::from(e),
        TeamError::Migrate(e) => StorageError::Backend(e.to_string()),
        TeamError::Forbidden(m) => StorageError::Forbidden(m),
        other => StorageError::Backend(other.to_string()),
    }
}

pub(super) fn observations(rows: &[PgRow]) -> Result<Vec<ObservationRow>, StorageError> {
    rows.iter()
        .map(observation_from_row)
        .collect::<Result<_, _>>()
        .map_err(StorageError::from)
}

/// A path as `path_matches` compares it: forward slashes, no surrounding blanks, no leading `./`.
fn normalize_path(p: &str) -> String {
    let mut p = p.trim().replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_owned();
    }
    p
}

fn touches(files_read: &[String], files_modified: &[String], file: &str) -> bool {
    files_read
        .iter()
        .chain(files_modified)
        .any(|path| path_matches(path, file))
}

/// Deletes the team's rows of `table` matching `filter` (`$1` the team, `$2` the key) and counts them
/// in the report, as the SQLite `forget` does (an entry even when nothing went).
async fn delete<T>(
    conn: &mut PgConnection,
    report: &mut ForgetReport,
    table: &str,
    filter: &str,
    team_id: i64,
    key: T,
) -> Result<u64, sqlx::Error>
where
    T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
{
    let done = sqlx::query(&format!(
        "DELETE FROM {table} WHERE team_id = $1 AND {filter}"
    ))
    .bind(team_id)
    .bind(key)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    *report.deleted.entry(table.to_owned()).or_default() += done;
    Ok(done)
}

async fn ids_of(
    conn: &mut PgConnection,
    sql: &str,
    team_id: i64,
    key: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(sql)
        .bind(team_id)
        .bind(key)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// One session of the team: its memories, prompts and events, then the session itself. Another team's
/// session deletes nothing (every child row carries its session's team) and reads as missing.
async fn forget_session(
    conn: &mut PgConnection,
    report: &mut ForgetReport,
    team_id: i64,
    session: &str,
) -> Result<bool, sqlx::Error> {
    report.observation_ids.extend(
        ids_of(
            conn,
            "SELECT id FROM observations WHERE team_id = $1 AND session_id = $2",
            team_id,
            session,
        )
        .await?,
    );
    report.summary_ids.extend(
        ids_of(
            conn,
            "SELECT id FROM session_summaries WHERE team_id = $1 AND session_id = $2",
            team_id,
            session,
        )
        .await?,
    );
    report.prompt_ids.extend(
        ids_of(
            conn,
            "SELECT id FROM user_prompts WHERE team_id = $1 AND session_id = $2",
            team_id,
            session,
        )
        .await?,
    );
    for table in [
        "observations",
        "session_summaries",
        "user_prompts",
        "pending_messages",
    ] {
        delete(
            conn,
            report,
            table,
            "session_id = $2",
            team_id,
            session.to_owned(),
        )
        .await?;
    }
    Ok(delete(
        conn,
        report,
        "sdk_sessions",
        "id = $2",
        team_id,
        session.to_owned(),
    )
    .await?
        > 0)
}

async fn forget_on(
    conn: &mut PgConnection,
    team_id: i64,
    targets: &[ForgetTarget],
) -> Result<ForgetReport, sqlx::Error> {
    let mut report = ForgetReport::default();
    let mut tx = conn.begin().await?;
    for target in targets {
        let found = match target {
            ForgetTarget::Observation(id) => {
                let sources: Option<(Json<serde_json::Value>,)> = sqlx::query_as(
                    "SELECT source_event_ids FROM observations WHERE team_id = $1 AND id = $2",
                )
                .bind(team_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                match sources {
                    None => false,
                    Some((Json(sources),)) => {
                        let events: Vec<i64> = serde_json::from_value(sources).unwrap_or_default();
                        delete(
                            &mut tx,
                            &mut report,
                            "observations",
                            "id = $2",
                            team_id,
                            *id,
                        )
                        .await?;
                        report.observation_ids.push(*id);
                        // Its raw events, once finished (work still queued is not ours to drop).
                        if !events.is_empty() {
                            delete(
                                &mut tx,
                                &mut report,
                                "pending_messages",
                                "id = ANY($2) AND state IN ('done', 'skipped', 'failed')",
                                team_id,
                                events,
                            )
                            .await?;
                        }
                        true
                    }
                }
            }
            ForgetTarget::Summary(id) => {
                let n = delete(
                    &mut tx,
                    &mut report,
                    "session_summaries",
                    "id = $2",
                    team_id,
                    *id,
                )
                .await?;
                if n > 0 {
                    report.summary_ids.push(*id);
                }
                n > 0
            }
            ForgetTarget::Prompt(id) => {
                let n = delete(
                    &mut tx,
                    &mut report,
                    "user_prompts",
                    "id = $2",
                    team_id,
                    *id,
                )
                .await?;
                if n > 0 {
                    report.prompt_ids.push(*id);
                }
                n > 0
            }
            ForgetTarget::Session(session) => {
                forget_session(&mut tx, &mut report, team_id, &pg_text(session)).await?
            }
            ForgetTarget::Project(project) => {
                let project = pg_text(project);
                let sessions: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM sdk_sessions WHERE team_id = $1 AND project = $2 ORDER BY id",
                )
                .bind(team_id)
                .bind(project.as_ref())
                .fetch_all(&mut *tx)
                .await?;
                for (session,) in &sessions {
                    forget_session(&mut tx, &mut report, team_id, session).await?;
                }
                // Memories filed under the project from sessions of another (saved memories).
                report.observation_ids.extend(
                    ids_of(
                        &mut tx,
                        "SELECT id FROM observations WHERE team_id = $1 AND project = $2",
                        team_id,
                        &project,
                    )
                    .await?,
                );
                report.summary_ids.extend(
                    ids_of(
                        &mut tx,
                        "SELECT id FROM session_summaries WHERE team_id = $1 AND project = $2",
                        team_id,
                        &project,
                    )
                    .await?,
                );
                for table in ["observations", "session_summaries"] {
                    delete(
                        &mut tx,
                        &mut report,
                        table,
                        "project = $2",
                        team_id,
                        project.clone().into_owned(),
                    )
                    .await?;
                }
                !sessions.is_empty()
            }
        };
        if !found {
            report.missing.push(target.clone());
        }
    }
    tx.commit().await?;
    for ids in [
        &mut report.observation_ids,
        &mut report.summary_ids,
        &mut report.prompt_ids,
    ] {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(report)
}

impl PgStore {
    /// The team this copy answers for; a copy that acts for nobody must not answer at all.
    fn reads_team(&self) -> Result<i64, StorageError> {
        self.owner().map(|o| o.team_id).ok_or_else(|| {
            denied(
                "this request acts for no team: a team server answers only for the caller's team",
            )
        })
    }

    async fn cost_totals(
        &self,
        team_id: i64,
        since: i64,
        project: Option<&str>,
    ) -> Result<CostTotals, StorageError> {
        let sql = format!(
            "SELECT {COST_SUMS} FROM llm_usage
             WHERE team_id = $1 AND created_at >= $2 AND ($3::text IS NULL OR project = $3)"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team_id)
            .bind(since)
            .bind(text(project))
            .fetch_one(self.pool())
            .await?)
    }

    async fn cost_groups(
        &self,
        team_id: i64,
        key_sql: &str,
        since: i64,
        project: Option<&str>,
    ) -> Result<Vec<CostGroup>, StorageError> {
        let sql = format!(
            "SELECT ({key_sql}) COLLATE \"C\" AS key, {COST_SUMS} FROM llm_usage
             WHERE team_id = $1 AND created_at >= $2 AND ($3::text IS NULL OR project = $3)
             GROUP BY 1 ORDER BY 1"
        );
        let rows = sqlx::query(&sql)
            .bind(team_id)
            .bind(since)
            .bind(text(project))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(CostGroup {
                    key: row.try_get::<Option<String>, _>("key")?.unwrap_or_default(),
                    totals: CostTotals::from_row(row)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StorageError::from)
    }
}

#[async_trait]
impl MemoryReads for PgStore {
    async fn list_projects(&self) -> Result<Vec<ProjectRow>, StorageError> {
        let team = self.reads_team()?;
        Ok(sqlx::query_as(
            "SELECT project AS name, COUNT(*) AS sessions,
                    COALESCE(SUM(prompt_count), 0)::bigint AS prompts,
                    COALESCE(SUM(observation_count), 0)::bigint AS observations,
                    MAX(last_seen_at) AS last_activity_at
             FROM sdk_sessions WHERE team_id = $1
             GROUP BY project ORDER BY last_activity_at DESC, project COLLATE \"C\"",
        )
        .bind(team)
        .fetch_all(self.pool())
        .await?)
    }

    async fn list_sessions(
        &self,
        project: Option<&str>,
        limit_n: i64,
        offset_n: i64,
    ) -> Result<Vec<SessionRow>, StorageError> {
        let team = self.reads_team()?;
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sdk_sessions
             WHERE team_id = $1 AND ($2::text IS NULL OR project = $2)
             ORDER BY last_seen_at DESC, id COLLATE \"C\" LIMIT $3 OFFSET $4"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team)
            .bind(text(project))
            .bind(limit(limit_n))
            .bind(offset(offset_n))
            .fetch_all(self.pool())
            .await?)
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRow>, StorageError> {
        session_on(self.pool(), self.reads_team()?, id).await
    }

    async fn session_slice(
        &self,
        id: &str,
        limit_n: i64,
        offset_n: i64,
        summaries_limit: i64,
    ) -> Result<Option<SessionSlice>, StorageError> {
        let team = self.reads_team()?;
        session_slice(self.pool(), team, id, limit_n, offset_n, summaries_limit).await
    }

    async fn list_observations(
        &self,
        f: &ObservationFilter,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        let team = self.reads_team()?;
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations
             WHERE team_id = $1 AND ($2::text IS NULL OR project = $2) AND ($3::text IS NULL OR type = $3)
               AND ($4::text IS NULL OR session_id = $4) AND ($5::bigint IS NULL OR id < $5)
             ORDER BY id DESC LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(team)
            .bind(text(f.project.as_deref()))
            .bind(text(f.kind.as_deref()))
            .bind(text(f.session_id.as_deref()))
            .bind(f.before_id)
            .bind(limit(f.limit))
            .fetch_all(self.pool())
            .await?;
        observations(&rows)
    }

    async fn get_observations(&self, ids: &[i64]) -> Result<Vec<ObservationRow>, StorageError> {
        let team = self.reads_team()?;
        let mut rows = PgStore::get_observations(self, team, ids)
            .await
            .map_err(store_error)?;
        // The trait's order is the ids' (as SQLite's `ORDER BY id`), not the order asked.
        rows.sort_by_key(|o| o.id);
        Ok(rows)
    }

    async fn get_summaries(&self, ids: &[i64]) -> Result<Vec<SummaryRow>, StorageError> {
        let team = self.reads_team()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM session_summaries
             WHERE team_id = $1 AND id = ANY($2) ORDER BY id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team)
            .bind(ids)
            .fetch_all(self.pool())
            .await?)
    }

    async fn get_prompts(&self, ids: &[i64]) -> Result<Vec<StreamPrompt>, StorageError> {
        let team = self.reads_team()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {PROMPT_COLUMNS}
             FROM user_prompts p JOIN sdk_sessions s ON s.id = p.session_id
             WHERE p.team_id = $1 AND p.id = ANY($2) ORDER BY p.id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team)
            .bind(ids)
            .fetch_all(self.pool())
            .await?)
    }

    async fn list_prompts(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit_n: i64,
    ) -> Result<Vec<StreamPrompt>, StorageError> {
        let team = self.reads_team()?;
        let sql = format!(
            "SELECT {PROMPT_COLUMNS}
             FROM user_prompts p JOIN sdk_sessions s ON s.id = p.session_id
             WHERE p.team_id = $1 AND ($2::text IS NULL OR s.project = $2)
               AND ($3::text IS NULL OR p.session_id = $3) AND ($4::bigint IS NULL OR p.id < $4)
             ORDER BY p.id DESC LIMIT $5"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team)
            .bind(text(project))
            .bind(text(session_id))
            .bind(before_id)
            .bind(limit(limit_n))
            .fetch_all(self.pool())
            .await?)
    }

    async fn list_summaries(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit_n: i64,
    ) -> Result<Vec<SummaryRow>, StorageError> {
        let team = self.reads_team()?;
        summaries_on(self.pool(), team, project, session_id, before_id, limit_n).await
    }

    async fn session_titles(&self, ids: &[String]) -> Result<Vec<SessionTitleRow>, StorageError> {
        let team = self.reads_team()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let stored: Vec<String> = ids.iter().map(|id| pg_text(id).into_owned()).collect();
        // One row per id asked for (duplicates too), in that order; another team's session has no
        // titles here.
        let titles: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT (SELECT p.text FROM user_prompts p WHERE p.team_id = $2 AND p.session_id = j.id
                     ORDER BY p.prompt_number, p.id LIMIT 1),
                    (SELECT s.request FROM session_summaries s WHERE s.team_id = $2 AND s.session_id = j.id
                     ORDER BY s.id DESC LIMIT 1)
             FROM unnest($1::text[]) WITH ORDINALITY AS j(id, ord) ORDER BY j.ord",
        )
        .bind(&stored)
        .bind(team)
        .fetch_all(self.pool())
        .await?;
        Ok(ids
            .iter()
            .cloned()
            .zip(titles)
            .map(|(id, (prompt, request))| (id, prompt, request))
            .collect())
    }

    async fn cost_report(
        &self,
        now_ms: i64,
        days: i64,
        project: Option<&str>,
    ) -> Result<CostReport, StorageError> {
        let team = self.reads_team()?;
        let (day_start, month_start) = day_and_month_start(now_ms);
        let since = day_start - (days.max(1) - 1) * DAY_MS;
        let period = self.cost_totals(team, since, project).await?;
        Ok(CostReport {
            today: self.cost_totals(team, day_start, project).await?,
            month: self.cost_totals(team, month_start, project).await?,
            cache_hit_ratio: period.cache_hit_ratio(),
            period,
            by_day: self
                .cost_groups(
                    team,
                    "to_char(to_timestamp((created_at / 1000)::double precision) AT TIME ZONE 'UTC', \
                     'YYYY-MM-DD')",
                    since,
                    project,
                )
                .await?,
            by_model: self.cost_groups(team, "model", since, project).await?,
            by_project: self
                .cost_groups(team, "COALESCE(project, '')", since, project)
                .await?,
            by_provider: self.cost_groups(team, "provider", since, project).await?,
        })
    }

    async fn stream_head(&self) -> Result<StreamCursor, StorageError> {
        let team = self.reads_team()?;
        let (observation, summary, prompt): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM observations WHERE team_id = $1),
                    (SELECT COALESCE(MAX(id), 0) FROM session_summaries WHERE team_id = $1),
                    (SELECT COALESCE(MAX(id), 0) FROM user_prompts WHERE team_id = $1)",
        )
        .bind(team)
        .fetch_one(self.pool())
        .await?;
        Ok(StreamCursor {
            observation,
            summary,
            prompt,
        })
    }

    async fn observations_after(
        &self,
        after_id: i64,
        limit_n: i64,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        let team = self.reads_team()?;
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations
             WHERE team_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(team)
            .bind(after_id)
            .bind(limit(limit_n))
            .fetch_all(self.pool())
            .await?;
        observations(&rows)
    }

    async fn summaries_after(
        &self,
        after_id: i64,
        limit_n: i64,
    ) -> Result<Vec<SummaryRow>, StorageError> {
        let team = self.reads_team()?;
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM session_summaries
             WHERE team_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team)
            .bind(after_id)
            .bind(limit(limit_n))
            .fetch_all(self.pool())
            .await?)
    }

    async fn prompts_after(
        &self,
        after_id: i64,
        limit_n: i64,
    ) -> Result<Vec<StreamPrompt>, StorageError> {
        let team = self.reads_team()?;
        let sql = format!(
            "SELECT {PROMPT_COLUMNS}
             FROM user_prompts p JOIN sdk_sessions s ON s.id = p.session_id
             WHERE p.team_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team)
            .bind(after_id)
            .bind(limit(limit_n))
            .fetch_all(self.pool())
            .await?)
    }

    /// Commits of this process only; the stream readers also poll for the other replicas'.
    fn changes(&self) -> broadcast::Receiver<()> {
        self.changes.subscribe()
    }

    async fn recent_project_observations(
        &self,
        project: &str,
        limit_n: i64,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        let team = self.reads_team()?;
        let project = pg_text(project);
        self.recent_observations(team, Some(&project), limit(limit_n).unwrap_or(i64::MAX))
            .await
            .map_err(store_error)
    }

    async fn saved_memories(
        &self,
        project: &str,
        limit_n: i64,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        let team = self.reads_team()?;
        // The team's notes session of the project, as `PgStore::save_memory` names it.
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations
             WHERE team_id = $1 AND session_id = $2 AND project = $3
             ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(team)
            .bind(pg_text(&format!("notes:{team}:{project}")).as_ref())
            .bind(pg_text(project).as_ref())
            .bind(limit(limit_n))
            .fetch_all(self.pool())
            .await?;
        observations(&rows)
    }

    async fn latest_summary(&self, project: &str) -> Result<Option<SummaryRow>, StorageError> {
        let team = self.reads_team()?;
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM session_summaries
             WHERE team_id = $1 AND project = $2
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        Ok(sqlx::query_as(&sql)
            .bind(team)
            .bind(pg_text(project).as_ref())
            .fetch_optional(self.pool())
            .await?)
    }

    async fn recent_observation_ids_touching(
        &self,
        file: &str,
        project: &str,
        limit_n: usize,
    ) -> Result<Vec<i64>, StorageError> {
        let team = self.reads_team()?;
        let wanted = normalize_path(file);
        let base = wanted.rsplit('/').next().unwrap_or_default().to_owned();
        // The base-name narrowing SQLite does through `observation_files` (the part after the last
        // '/', backslashes as '/'), on the team's rows of the project; the exact rule runs here.
        let rows: Vec<(i64, Json<serde_json::Value>, Json<serde_json::Value>)> = sqlx::query_as(
            "SELECT o.id, o.files_read, o.files_modified FROM observations o
             WHERE o.team_id = $1 AND o.project = $2
               AND EXISTS (
                   SELECT 1 FROM jsonb_array_elements(
                       (CASE WHEN jsonb_typeof(o.files_read) = 'array' THEN o.files_read ELSE '[]' END)
                       || (CASE WHEN jsonb_typeof(o.files_modified) = 'array' THEN o.files_modified
                           ELSE '[]' END)) f
                   WHERE jsonb_typeof(f) = 'string'
                     AND regexp_replace(replace(f #>> '{}', '\\', '/'), '^.*/', '') = $3)
             ORDER BY o.id DESC LIMIT $4",
        )
        .bind(team)
        .bind(pg_text(project).as_ref())
        .bind(pg_text(&base).as_ref())
        .bind(i64::try_from(limit_n).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        let list =
            |v: serde_json::Value| -> Vec<String> { serde_json::from_value(v).unwrap_or_default() };
        Ok(rows
            .into_iter()
            .filter_map(|(id, Json(read), Json(modified))| {
                touches(&list(read), &list(modified), file).then_some(id)
            })
            .collect())
    }

    async fn timeline_around(
        &self,
        anchor_id: i64,
        before: i64,
        after: i64,
    ) -> Result<Option<Vec<ObservationRow>>, StorageError> {
        let team = self.reads_team()?;
        PgStore::timeline_around(
            self,
            team,
            anchor_id,
            limit(before).unwrap_or(i64::MAX),
            limit(after).unwrap_or(i64::MAX),
        )
        .await
        .map_err(store_error)
    }

    async fn observation_near_time(
        &self,
        project: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        let team = self.reads_team()?;
        PgStore::observation_near_time(self, team, text(project).as_deref(), at_ms)
            .await
            .map_err(store_error)
    }

    async fn save_memory(&self, memory: NewMemory) -> Result<ObservationRow, StorageError> {
        let Some(owner) = self.owner() else {
            return Err(denied(
                "saving a memory needs an owner: this request acts for no team",
            ));
        };
        let owner = owner.clone();
        PgStore::save_memory(self, &owner, memory)
            .await
            .map_err(store_error)
    }

    async fn forget(&self, targets: Vec<ForgetTarget>) -> Result<ForgetReport, StorageError> {
        let team = self.reads_team()?;
        let mut conn = self.pool().acquire().await?;
        let report = forget_on(&mut conn, team, &targets).await?;
        if report.total() > 0 {
            self.notify_change();
        }
        Ok(report)
    }

    async fn edit_observation(&self, id: i64, edit: ObservationEdit) -> Result<bool, StorageError> {
        let team = self.reads_team()?;
        let facts = edit
            .facts
            .as_ref()
            .map(|f| Json(f.iter().map(|s| pg_text(s)).collect::<Vec<_>>()));
        let done = sqlx::query(
            "UPDATE observations SET title = COALESCE($3, title),
                 narrative = COALESCE($4, narrative), facts = COALESCE($5, facts),
                 type = COALESCE($6, type)
             WHERE team_id = $1 AND id = $2",
        )
        .bind(team)
        .bind(id)
        .bind(edit.title.as_deref().map(str::trim).map(pg_text).as_deref())
        .bind(edit.narrative.as_deref().map(pg_text).as_deref())
        .bind(facts)
        .bind(edit.kind.as_deref())
        .execute(self.pool())
        .await?;
        let changed = done.rows_affected() > 0;
        if changed {
            self.notify_change();
        }
        Ok(changed)
    }
}
