//! `manifest.json`: what an archive holds and how to tell it is intact.

use crate::{sql_err, BackupError, Result};
use serde::{Deserialize, Serialize};
use sqlx::{ConnectOptions, Row, SqliteConnection};
use std::collections::BTreeMap;

/// Bumped when the archive layout changes in a way an older restore could misread.
pub const FORMAT_VERSION: u32 = 1;

pub(crate) const DERIVED_NOTE: &str = "The search indexes (full text and vectors) are not in this \
archive: they are derived from the database and are rebuilt from it on the first start after a restore.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The claude-mem version that made the backup.
    pub app_version: String,
    /// The newest applied database migration in the snapshot.
    pub schema_version: i64,
    /// Made by the worker's daily schedule (pruned by `backup.keep`) rather than by hand.
    #[serde(default)]
    pub scheduled: bool,
    /// Rows per table in the snapshot, checked again after extraction.
    pub tables: BTreeMap<String, i64>,
    pub files: Vec<FileEntry>,
    pub note: String,
}

/// The newest migration this build knows: a snapshot from a newer schema cannot be opened by it.
pub(crate) fn known_schema_version() -> i64 {
    sqlx::migrate!("../core/migrations")
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Opens a snapshot read-only; nothing in it is changed by reading it.
pub(crate) async fn open_read_only(path: &std::path::Path) -> Result<SqliteConnection> {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(sql_err(format!("cannot open {}", path.display())))
}

pub(crate) async fn schema_version(conn: &mut SqliteConnection) -> Result<i64> {
    let has_table: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(sql_err("cannot read the schema"))?;
    if has_table == 0 {
        return Err(BackupError::Verify(
            "the database has no migration table: it is not a claude-mem database".into(),
        ));
    }
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1",
    )
    .fetch_one(&mut *conn)
    .await
    .map(|v| v.unwrap_or(0))
    .map_err(sql_err("cannot read the schema version"))
}

pub(crate) async fn table_counts(conn: &mut SqliteConnection) -> Result<BTreeMap<String, i64>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_err("cannot list the tables"))?;
    let mut counts = BTreeMap::new();
    for name in names {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
        let n: i64 = sqlx::query_scalar(&sql)
            .fetch_one(&mut *conn)
            .await
            .map_err(sql_err(format!("cannot count the rows of {name}")))?;
        counts.insert(name, n);
    }
    Ok(counts)
}

pub(crate) async fn integrity_check(conn: &mut SqliteConnection) -> Result<()> {
    let rows = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| BackupError::Verify(format!("integrity check could not run: {e}")))?;
    let messages: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .collect();
    if messages.len() == 1 && messages[0] == "ok" {
        Ok(())
    } else {
        let shown: Vec<&str> = messages.iter().take(5).map(String::as_str).collect();
        Err(BackupError::Verify(format!(
            "the database fails PRAGMA integrity_check: {}",
            shown.join("; ")
        )))
    }
}
