//! Reading observations and summaries back (REST API, viewer, later the context builder and search).

use super::{Store, StoreError};
use crate::model::{ObservationFilter, ObservationRow, StreamCursor, StreamPrompt, SummaryRow};
use sqlx::SqliteExecutor;

/// A path as compared by [`path_matches`]: forward slashes, no surrounding blanks, no leading `./`.
fn normalize_path(p: &str) -> String {
    let mut p = p.trim().replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_owned();
    }
    p
}

/// Whether one of an observation's file lists (JSON arrays of paths) names `file` ([`path_matches`]).
fn touches(files_read: &str, files_modified: &str, file: &str) -> bool {
    [files_read, files_modified].into_iter().any(|list| {
        serde_json::from_str::<Vec<String>>(list)
            .unwrap_or_default()
            .iter()
            .any(|path| path_matches(path, file))
    })
}

/// Whether `stored` (a path an observation read or modified) is the file `wanted` names: the same path,
/// or one ends with the other at a `/`. So `db.rs`, `store/db.rs` and `/home/me/app/src/store/db.rs`
/// all name `src/store/db.rs` (observations keep paths relative to the project when they can, while a
/// user may paste an absolute one), but `b.rs` does not. Backslashes count as slashes.
pub fn path_matches(stored: &str, wanted: &str) -> bool {
    let (stored, wanted) = (normalize_path(stored), normalize_path(wanted));
    if stored.is_empty() || wanted.is_empty() {
        return false;
    }
    let ends_at_slash = |long: &str, short: &str| {
        long.strip_suffix(short)
            .is_some_and(|head| !head.is_empty() && (head.ends_with('/') || short.starts_with('/')))
    };
    stored == wanted || ends_at_slash(&stored, &wanted) || ends_at_slash(&wanted, &stored)
}

const OBSERVATION_COLUMNS: &str = "id, session_id, project, prompt_number, type, title, subtitle, \
    narrative, facts, concepts, files_read, files_modified, keywords, source_event_ids, input_tokens, \
    output_tokens, compressor, model, created_at";

fn observation_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ObservationRow, sqlx::Error> {
    use sqlx::Row;
    let list = |col: &str| -> Result<Vec<String>, sqlx::Error> {
        Ok(serde_json::from_str(&row.try_get::<String, _>(col)?).unwrap_or_default())
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
        facts: list("facts")?,
        concepts: list("concepts")?,
        files_read: list("files_read")?,
        files_modified: list("files_modified")?,
        keywords: list("keywords")?,
        source_event_ids: serde_json::from_str(&row.try_get::<String, _>("source_event_ids")?)
            .unwrap_or_default(),
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        compressor: row.try_get("compressor")?,
        model: row.try_get("model")?,
        created_at: row.try_get("created_at")?,
        author: None,
    })
}

impl Store {
    pub async fn list_observations(
        &self,
        f: &ObservationFilter,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations
             WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR type = ?2)
               AND (?3 IS NULL OR session_id = ?3) AND (?4 IS NULL OR id < ?4)
             ORDER BY id DESC LIMIT ?5"
        );
        let rows = sqlx::query(&sql)
            .bind(&f.project)
            .bind(&f.kind)
            .bind(&f.session_id)
            .bind(f.before_id)
            .bind(f.limit)
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(observation_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// A project's newest observations, newest first (the context builder's candidates). Served by the
    /// (project, created_at) index, so the cost does not grow with the database.
    pub async fn recent_project_observations(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE project = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(project)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(observation_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// The project's memories saved by hand (`save_memory`), newest first. Recall lists them ahead of
    /// recent work however old they are, so they are read apart from the newest observations; they hang
    /// off the project's notes session, which the session index answers without a scan.
    pub async fn saved_memories(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE session_id = ?1 AND project = ?2
             ORDER BY id DESC LIMIT ?3"
        );
        let rows = sqlx::query(&sql)
            .bind(super::notes_session_id(project))
            .bind(project)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(observation_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Observations around `anchor_id` in its project, oldest first: `before` older ones, the anchor,
    /// `after` newer ones. None when the anchor does not exist.
    pub async fn timeline_around(
        &self,
        anchor_id: i64,
        before: i64,
        after: i64,
    ) -> Result<Option<Vec<ObservationRow>>, StoreError> {
        let Some(anchor) = self.get_observations(&[anchor_id]).await?.pop() else {
            return Ok(None);
        };
        let older_sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE project = ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3"
        );
        let newer_sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE project = ?1 AND id > ?2
             ORDER BY id LIMIT ?3"
        );
        let older = sqlx::query(&older_sql)
            .bind(&anchor.project)
            .bind(anchor_id)
            .bind(before)
            .fetch_all(self.read_pool())
            .await?;
        let newer = sqlx::query(&newer_sql)
            .bind(&anchor.project)
            .bind(anchor_id)
            .bind(after)
            .fetch_all(self.read_pool())
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

    /// The first observation of `project` (or of any project) created at or after `at_ms`, falling back
    /// to the newest one before it: the anchor of a timeline asked for by date.
    pub async fn observation_near_time(
        &self,
        project: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let after: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM observations WHERE (?1 IS NULL OR project = ?1) AND created_at >= ?2
             ORDER BY created_at, id LIMIT 1",
        )
        .bind(project)
        .bind(at_ms)
        .fetch_optional(self.read_pool())
        .await?;
        if let Some((id,)) = after {
            return Ok(Some(id));
        }
        let before: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM observations WHERE (?1 IS NULL OR project = ?1) AND created_at < ?2
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(project)
        .bind(at_ms)
        .fetch_optional(self.read_pool())
        .await?;
        Ok(before.map(|(id,)| id))
    }

    /// The project's most recent session summary.
    pub async fn latest_summary(&self, project: &str) -> Result<Option<SummaryRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, session_id, project, prompt_number, request, investigated, learned, completed,
                    next_steps, compressor, model, created_at
             FROM session_summaries WHERE project = ?1
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(project)
        .fetch_optional(self.read_pool())
        .await?)
    }

    /// The next observations after `after_id`, oldest first: how the search indexer catches up.
    pub async fn observations_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE id > ?1 ORDER BY id LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.read_pool())
            .await?;
        rows.iter()
            .map(observation_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    pub async fn max_observation_id(&self) -> Result<i64, StoreError> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM observations")
            .fetch_one(self.read_pool())
            .await?;
        Ok(max.unwrap_or(0))
    }

    pub async fn get_observations(&self, ids: &[i64]) -> Result<Vec<ObservationRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE id IN ({marks}) ORDER BY id"
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(self.read_pool()).await?;
        rows.iter()
            .map(observation_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Session summaries by id, in id order (search results that are summaries).
    pub async fn get_summaries(&self, ids: &[i64]) -> Result<Vec<SummaryRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT id, session_id, project, prompt_number, request, investigated, learned, completed,
                    next_steps, compressor, model, created_at
             FROM session_summaries WHERE id IN ({marks}) ORDER BY id"
        );
        let mut q = sqlx::query_as(&sql);
        for id in ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(self.read_pool()).await?)
    }

    /// User prompts by id with their session's project, in id order (search results that are prompts).
    pub async fn get_prompts(&self, ids: &[i64]) -> Result<Vec<StreamPrompt>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT p.id, p.session_id, s.project, p.prompt_number, p.text AS prompt, p.created_at
             FROM user_prompts p JOIN sdk_sessions s ON s.id = p.session_id
             WHERE p.id IN ({marks}) ORDER BY p.id"
        );
        let mut q = sqlx::query_as(&sql);
        for id in ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(self.read_pool()).await?)
    }

    /// Ids of the observations that read or modified `file` ([`path_matches`]) and pass the other
    /// filters, oldest first: what search's `file=` and file context restrict to. The filters are applied
    /// here because the vector side of a restricted search scores exactly these ids and cannot check them
    /// itself. The file's base name narrows the rows through `observation_files` (an index lookup, not a
    /// scan); the exact rule runs here.
    pub async fn observation_ids_touching(
        &self,
        file: &str,
        project: Option<&str>,
        kind: Option<&str>,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    ) -> Result<Vec<i64>, StoreError> {
        let wanted = normalize_path(file);
        let base = wanted.rsplit('/').next().unwrap_or_default();
        // The base name through its index (`observation_files`, kept by triggers), then the other
        // filters on those few rows.
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT o.id, o.files_read, o.files_modified
             FROM observation_files f JOIN observations o ON o.id = f.observation_id
             WHERE f.name = ?1
               AND (?2 IS NULL OR o.project = ?2) AND (?3 IS NULL OR o.type = ?3)
               AND (?4 IS NULL OR o.created_at >= ?4) AND (?5 IS NULL OR o.created_at <= ?5)
             ORDER BY o.id",
        )
        .bind(base)
        .bind(project)
        .bind(kind)
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, read, modified)| touches(read, modified, file))
            .map(|(id, _, _)| id)
            .collect())
    }

    /// The newest (at most `limit`) observations of `project` that read or modified `file`, newest
    /// first: file context's candidates. Walks the file-name index backwards and stops at `limit`, so a
    /// file hundreds of memories touched costs the same as one touched once.
    pub async fn recent_observation_ids_touching(
        &self,
        file: &str,
        project: &str,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let wanted = normalize_path(file);
        let base = wanted.rsplit('/').next().unwrap_or_default();
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT o.id, o.files_read, o.files_modified
             FROM observation_files f JOIN observations o ON o.id = f.observation_id
             WHERE f.name = ?1 AND o.project = ?2
             ORDER BY f.observation_id DESC
             LIMIT ?3",
        )
        .bind(base)
        .bind(project)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, read, modified)| touches(read, modified, file))
            .map(|(id, _, _)| id)
            .collect())
    }

    /// Summaries, newest first, optionally of one project or session and before an id (paging back).
    pub async fn list_summaries(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StoreError> {
        summaries_on(self.read_pool(), project, session_id, before_id, limit).await
    }

    /// What to call each session in a list: its first prompt and the request of its newest summary.
    pub async fn session_titles(
        &self,
        ids: &[String],
    ) -> Result<Vec<crate::storage::SessionTitleRow>, StoreError> {
        let ids_json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        Ok(sqlx::query_as(
            "SELECT j.value,
                    (SELECT p.text FROM user_prompts p WHERE p.session_id = j.value
                     ORDER BY p.prompt_number, p.id LIMIT 1),
                    (SELECT s.request FROM session_summaries s WHERE s.session_id = j.value
                     ORDER BY s.id DESC LIMIT 1)
             FROM json_each(?1) j ORDER BY j.key",
        )
        .bind(ids_json)
        .fetch_all(self.read_pool())
        .await?)
    }

    /// Prompts with their session's project, newest first, optionally of one project or session and
    /// before an id (paging back).
    pub async fn list_prompts(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.session_id, s.project, p.prompt_number, p.text AS prompt, p.created_at
             FROM user_prompts p JOIN sdk_sessions s ON s.id = p.session_id
             WHERE (?1 IS NULL OR s.project = ?1) AND (?2 IS NULL OR p.session_id = ?2)
               AND (?3 IS NULL OR p.id < ?3)
             ORDER BY p.id DESC LIMIT ?4",
        )
        .bind(project)
        .bind(session_id)
        .bind(before_id)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?)
    }
}

impl Store {
    /// The newest ids now: where a new live-stream reader starts (history comes from the REST API).
    pub async fn stream_head(&self) -> Result<StreamCursor, StoreError> {
        let (observation, summary, prompt): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM observations),
                    (SELECT COALESCE(MAX(id), 0) FROM session_summaries),
                    (SELECT COALESCE(MAX(id), 0) FROM user_prompts)",
        )
        .fetch_one(self.read_pool())
        .await?;
        Ok(StreamCursor {
            observation,
            summary,
            prompt,
        })
    }

    pub async fn summaries_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, session_id, project, prompt_number, request, investigated, learned, completed,
                    next_steps, compressor, model, created_at
             FROM session_summaries WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?)
    }

    pub async fn prompts_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.session_id, s.project, p.prompt_number, p.text AS prompt, p.created_at
             FROM user_prompts p JOIN sdk_sessions s ON s.id = p.session_id
             WHERE p.id > ?1 ORDER BY p.id LIMIT ?2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await?)
    }
}

/// One page of a session's observations, newest first.
pub(super) async fn observations_page_on<'e>(
    e: impl SqliteExecutor<'e>,
    session_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<ObservationRow>, StoreError> {
    let sql = format!(
        "SELECT {OBSERVATION_COLUMNS} FROM observations WHERE session_id = ?1
         ORDER BY id DESC LIMIT ?2 OFFSET ?3"
    );
    let rows = sqlx::query(&sql)
        .bind(session_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(e)
        .await?;
    rows.iter()
        .map(observation_from_row)
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// Summaries newest first, filtered by project and session, paged by `before_id`.
pub(super) async fn summaries_on<'e>(
    e: impl SqliteExecutor<'e>,
    project: Option<&str>,
    session_id: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<SummaryRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, session_id, project, prompt_number, request, investigated, learned, completed,
                next_steps, compressor, model, created_at
         FROM session_summaries
         WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR session_id = ?2)
           AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4",
    )
    .bind(project)
    .bind(session_id)
    .bind(before_id)
    .bind(limit)
    .fetch_all(e)
    .await?)
}
