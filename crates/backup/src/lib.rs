//! Backups of claude-mem's record of truth (the SQLite database) and verified restores.
//!
//! A backup is a snapshot taken with `VACUUM INTO` from a connection of its own: in WAL mode that is a
//! read transaction, so the worker keeps writing while it runs and the snapshot is still consistent.
//! The snapshot is packed with a manifest (versions, row counts, checksums) into a `.tar.gz`, whose own
//! checksum goes into a `.sha256` sidecar. The search indexes are not backed up: they are derived from
//! the database and rebuilt on the first start after a restore.
//!
//! Restores verify everything (sidecar, member checksums, `PRAGMA integrity_check`, row counts) before
//! touching the data directory, and then move the current data aside instead of deleting it.

mod create;
mod location;
mod manifest;
mod restore;

pub use create::{
    create_backup, newest_scheduled_ms, prune_scheduled, BackupReport, BackupRequest,
};
pub use location::{archive_name, archive_time_ms, is_archive_name, ArchiveRef, Location};
pub use manifest::{FileEntry, Manifest, FORMAT_VERSION};
pub use restore::{
    apply_restore, restore_limit, verify_archive, Restored, VerifiedBackup, MAX_BYTES_ENV,
};

use std::path::PathBuf;

/// The database's name inside an archive (the same as in the data directory).
pub const DB_MEMBER: &str = "claude-mem.db";
/// The manifest's name inside an archive.
pub const MANIFEST_MEMBER: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        source: sqlx::Error,
    },
    #[error("{context}: {source}")]
    Remote {
        context: String,
        source: object_store::Error,
    },
    #[error("invalid backup location {spec:?}: {reason}")]
    Location { spec: String, reason: String },
    #[error("there is no database to back up at {0} (has the worker ever run with this data directory?)")]
    NoDatabase(PathBuf),
    #[error("the backup is not trustworthy, nothing was changed: {0}")]
    Verify(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

pub(crate) fn sql_err(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Sqlite { context, source }
}

pub(crate) fn remote_err(
    context: impl Into<String>,
) -> impl FnOnce(object_store::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Remote { context, source }
}

/// Lowercase hex SHA-256 of a file, streamed (databases can be large).
pub fn sha256_file(path: &std::path::Path) -> Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).map_err(io_err(format!("cannot read {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io_err(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

#[cfg(test)]
mod tests;
