//! Retention: deleting memories older than a cut-off, then giving the space back (VACUUM).
//!
//! What goes: observations, summaries, prompts and processed hook events created before the cut, and
//! sessions last seen before it once nothing of theirs is left. Raw hook events are the most sensitive
//! rows (whole tool outputs), so a user pruning old data expects them gone too; events still pending or
//! in processing are kept, since they are work the worker has not done yet. `llm_usage` is kept: it
//! holds no memory content (model, tokens, dollars) and is the spending history budgets and cost reports
//! are checked against; its session link is cleared by the schema's `ON DELETE SET NULL`.
//!
//! A dry run runs the very same deletes inside a transaction and rolls it back, so the counts it reports
//! are exactly what a real run would delete.

use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, SqliteConnection};
use std::collections::BTreeMap;

/// One day in milliseconds, for callers turning `--older-than 90d` into a cut-off.
pub const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneRequest {
    /// Rows created before this instant (epoch ms) are deleted.
    pub cutoff_ms: i64,
    /// Only this project's rows; all projects when absent.
    pub project: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PruneReport {
    pub cutoff_ms: i64,
    pub project: Option<String>,
    pub dry_run: bool,
    /// Rows deleted (or, in a dry run, that would be) per table.
    pub deleted: BTreeMap<String, u64>,
    /// Deleted observation ids: the search indexes must forget them too.
    pub observation_ids: Vec<i64>,
    /// Deleted session summary and prompt ids, which the search indexes hold as well. Default empty so a
    /// report from an older worker still reads.
    #[serde(default)]
    pub summary_ids: Vec<i64>,
    #[serde(default)]
    pub prompt_ids: Vec<i64>,
    pub vacuumed: bool,
    /// Database file size (pages × page size) before and after; equal in a dry run.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl PruneReport {
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }
}

/// `(table, WHERE clause)` in delete order: children before the sessions they hang off. `?1` is the
/// cut-off, `?2` the project or NULL.
const DELETES: &[(&str, &str)] = &[
    (
        "observations",
        "created_at < ?1 AND (?2 IS NULL OR project = ?2)",
    ),
    (
        "session_summaries",
        "created_at < ?1 AND (?2 IS NULL OR project = ?2)",
    ),
    (
        "user_prompts",
        "created_at < ?1 AND (?2 IS NULL OR session_id IN (SELECT id FROM sdk_sessions WHERE project = ?2))",
    ),
    (
        "pending_messages",
        "created_at < ?1 AND state IN ('done', 'skipped', 'failed')
         AND (?2 IS NULL OR session_id IN (SELECT id FROM sdk_sessions WHERE project = ?2))",
    ),
    (
        "sdk_sessions",
        "last_seen_at < ?1 AND (?2 IS NULL OR project = ?2)
         AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.session_id = sdk_sessions.id)
         AND NOT EXISTS (SELECT 1 FROM session_summaries s WHERE s.session_id = sdk_sessions.id)
         AND NOT EXISTS (SELECT 1 FROM user_prompts p WHERE p.session_id = sdk_sessions.id)
         AND NOT EXISTS (SELECT 1 FROM pending_messages e WHERE e.session_id = sdk_sessions.id)",
    ),
];

async fn database_file_bytes(conn: &mut SqliteConnection) -> Result<u64, sqlx::Error> {
    let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await?;
    let (size,): (i64,) = sqlx::query_as("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    Ok(u64::try_from(pages * size).unwrap_or(0))
}

/// Runs the prune on `conn` (the store's writer, or a connection of its own in tests).
pub(crate) async fn prune_on(
    conn: &mut SqliteConnection,
    req: &PruneRequest,
) -> Result<PruneReport, StoreError> {
    let bytes_before = database_file_bytes(conn).await?;
    let mut report = PruneReport {
        cutoff_ms: req.cutoff_ms,
        project: req.project.clone(),
        dry_run: req.dry_run,
        bytes_before,
        bytes_after: bytes_before,
        ..PruneReport::default()
    };
    let mut tx = conn.begin().await?;
    // The searchable tables' ids, read before they go: the indexes must forget exactly these.
    for (table, filter) in &DELETES[..3] {
        let ids: Vec<(i64,)> = sqlx::query_as(&format!(
            "SELECT id FROM {table} WHERE {filter} ORDER BY id"
        ))
        .bind(req.cutoff_ms)
        .bind(&req.project)
        .fetch_all(&mut *tx)
        .await?;
        let ids = ids.into_iter().map(|(id,)| id).collect();
        match *table {
            "observations" => report.observation_ids = ids,
            "session_summaries" => report.summary_ids = ids,
            "user_prompts" => report.prompt_ids = ids,
            _ => {}
        }
    }
    for (table, filter) in DELETES {
        let done = sqlx::query(&format!("DELETE FROM {table} WHERE {filter}"))
            .bind(req.cutoff_ms)
            .bind(&req.project)
            .execute(&mut *tx)
            .await?;
        report
            .deleted
            .insert((*table).to_owned(), done.rows_affected());
    }
    if req.dry_run {
        tx.rollback().await?;
        return Ok(report);
    }
    tx.commit().await?;
    if report.total() > 0 {
        // Deleted rows only free pages inside the file; VACUUM rewrites it without them. In WAL mode the
        // rewritten pages land in the WAL, so a checkpoint is what shrinks the file on disk.
        sqlx::query("VACUUM").execute(&mut *conn).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await?;
        report.vacuumed = true;
    }
    report.bytes_after = database_file_bytes(conn).await?;
    Ok(report)
}

impl Store {
    /// Deletes (or, with `dry_run`, counts) everything older than the cut-off, then VACUUMs. Runs on the
    /// writer connection, so it never races the worker's own writes. The caller removes
    /// `observation_ids`, `summary_ids` and `prompt_ids` from the search indexes.
    pub async fn prune(&self, req: PruneRequest) -> Result<PruneReport, StoreError> {
        let report = self
            .write(move |conn| Box::pin(async move { prune_on(conn, &req).await }))
            .await?;
        if !report.dry_run && report.total() > 0 {
            self.notify_change();
        }
        Ok(report)
    }
}
