//! Team-mode errors: what a command or request can report to a person.

use claude_mem_core::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error(transparent)]
    Store(StorageError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("no team named {0:?}")]
    UnknownTeam(String),
    #[error("no user {user:?} in team {team:?}")]
    UnknownUser { team: String, user: String },
    #[error("{0} already exists")]
    Exists(String),
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// The caller may not do this (a session of another team, an ingest for nobody): HTTP 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Other(String),
}

/// A refusal raised inside the [`claude_mem_core::Storage`] trait (which can only return a
/// `StorageError`) comes back out as [`TeamError::Forbidden`], so callers match one variant for 403.
impl From<StorageError> for TeamError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Forbidden(message) => TeamError::Forbidden(message),
            e => TeamError::Store(e),
        }
    }
}
