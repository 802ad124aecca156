//! What a storage backend can fail with, whichever backend it is: callers (the processor, the HTTP API)
//! branch on the kind — shutting down, disk full, refused, missing, invalid, or the backend's own
//! trouble — never on SQLite's or PostgreSQL's error types.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store is shutting down: nothing more is taken.
    #[error("the store is closed")]
    Closed,
    /// The disk holding the database is full: a retry cannot succeed until the user frees space.
    #[error("the disk holding the database is full: {0}")]
    DiskFull(String),
    /// The caller may not read or change this (another team's session, a request with no team).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request itself cannot be stored as it is.
    #[error("{0}")]
    Invalid(String),
    /// Anything else the backend reported (connection lost, a failed statement), with its text.
    #[error("storage error: {0}")]
    Backend(String),
}

impl StorageError {
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull(_))
    }
}

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => Self::Closed,
            full if full.is_disk_full() => Self::DiskFull(full.to_string()),
            other => Self::Backend(other.to_string()),
        }
    }
}

/// PostgreSQL's SQLSTATE for "disk full".
const PG_DISK_FULL: &str = "53100";

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.code().as_deref() == Some(PG_DISK_FULL) {
                return Self::DiskFull(e.to_string());
            }
        }
        StoreError::from(e).into()
    }
}
