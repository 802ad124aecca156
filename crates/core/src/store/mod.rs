//! The SQLite store: the record of truth.
//!
//! One connection writes, fed by a channel, and commits whatever has queued up in a single transaction
//! (group commit): under load many hook events share one commit, which is what lets a single SQLite file
//! take thousands of durable events per second while every caller still waits for its own commit.
//! Reads go through a small pool; WAL lets them run beside the writer.

mod costs;
mod export;
mod forget;
mod ingest;
mod memories;
mod observations;
mod processing;
mod prune;
mod queries;
mod retry;
mod sessions_off;
pub mod vectors;

pub use costs::day_and_month_start;
pub use export::{
    parse_export, ExportFile, ExportSummary, ImportReport, PortabilityError, TableImport,
    EXPORT_FORMAT, EXPORT_VERSION,
};
pub use ingest::IngestOutcome;
pub use memories::{notes_session_id, MANUAL};
pub use observations::path_matches;
pub use processing::{CompletedBatch, ReadySession};
pub use prune::{PruneReport, PruneRequest, DAY_MS};
pub use retry::COMPRESSOR_FINGERPRINT;
pub use sessions_off::{OffHow, OffSession};
pub use vectors::{StoredVector, VectorEncoding, VectorStorage};

use crate::hook_event::HookEvent;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;
use sqlx::SqliteConnection;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, Notify};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("the store is closed")]
    Closed,
    /// The file is another program's database (the original claude-mem's, usually): migrating it
    /// would damage it, so nothing was changed.
    #[error("{path} is not a database of this claude-mem: {detail}")]
    Foreign { path: PathBuf, detail: String },
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database (or its directory) cannot be written by the user running claude-mem: named with
    /// the real cause (another owner, a read-only mode or file system) instead of SQLite's wording.
    #[error("cannot open the database {path} for writing: {detail}")]
    Unwritable { path: PathBuf, detail: String },
}

/// SQLite's primary result code for "database or disk is full" (also what its VFS reports for ENOSPC).
const SQLITE_FULL: i64 = 13;
const ENOSPC: i32 = 28;

fn io_is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(ENOSPC)
}

fn sqlx_is_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            // Extended result codes keep the primary code in the low byte.
            .is_some_and(|c| c & 0xff == SQLITE_FULL),
        sqlx::Error::Io(io) => io_is_disk_full(io),
        _ => false,
    }
}

impl StoreError {
    /// Whether the write failed because the disk holding the database is full: callers answer that
    /// with a clear "free some space" instead of a generic storage error, since retrying cannot help
    /// until the user acts.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Database(e) => sqlx_is_disk_full(e),
            Self::Migrate(sqlx::migrate::MigrateError::Execute(e)) => sqlx_is_disk_full(e),
            // The commit's sqlx error was flattened to text on the way here.
            Self::Commit(text) => text.contains("database or disk is full"),
            Self::Io { source, .. } => io_is_disk_full(source),
            _ => false,
        }
    }
}

pub(crate) enum WriteJob {
    Ingest(
        Box<HookEvent>,
        oneshot::Sender<Result<IngestOutcome, StoreError>>,
    ),
    /// Any other write, run on the writer connection between ingest batches (no lock contention).
    Run(WriteFn),
    /// Queued behind every earlier write, so the writer drains before it closes.
    Shutdown(oneshot::Sender<()>),
}

pub(crate) type WriteFn = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection) -> Pin<Box<dyn Future<Output = ()> + Send + 'c>>
        + Send,
>;

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    read: SqlitePool,
    sender: mpsc::Sender<WriteJob>,
    ingested: Arc<Notify>,
    observed: Arc<Notify>,
    changes: broadcast::Sender<()>,
    /// Ids of sessions that are not recorded (`sessions_off`), asked on every hook.
    sessions_off: std::sync::RwLock<std::collections::HashSet<String>>,
}

fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL: a commit survives a crash or kill -9 of the process (the WAL is written before
        // the answer); only an OS crash or power loss can lose the last commits.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .pragma("temp_store", "memory")
        .log_statements(tracing::log::LevelFilter::Trace)
}

/// Looks at an existing file read-only before anything writes to it: migrations (and the WAL switch)
/// must never touch another program's database.
async fn refuse_foreign(path: &Path) -> Result<(), StoreError> {
    use crate::legacy_import::{detect, DatabaseKind};
    let detail = match detect(path).await? {
        DatabaseKind::Empty | DatabaseKind::Ours => return Ok(()),
        DatabaseKind::Original => format!(
            "it belongs to the original (TypeScript) claude-mem. Nothing was changed. Stop the original \
             claude-mem, then run `claude-mem import --from-original {}`: it moves the file aside (kept as \
             a backup) and imports its memories into a new database",
            path.display()
        ),
        DatabaseKind::Unknown(tables) => format!(
            "it holds other tables ({}). Nothing was changed; move it away or set CLAUDE_MEM_DATA_DIR",
            tables.join(", ")
        ),
    };
    Err(StoreError::Foreign {
        path: path.to_owned(),
        detail,
    })
}

/// Creates a missing database file private (0600) before SQLite does: SQLite creates it, and later its
/// WAL and shared-memory files, with the mode of the database file, so they are private from the
/// start instead of being made private (and reported as loose) afterwards.
fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => {
            let hint = path
                .parent()
                .map(|d| crate::paths::io_hint(d, &source))
                .unwrap_or_default();
            Err(StoreError::Unwritable {
                path: path.to_owned(),
                detail: format!("{source}{hint}"),
            })
        }
    }
}

/// Why the database at `path` cannot be written, when that explains a failed open: the file or its
/// directory (where SQLite keeps the WAL) owned by another user or read-only. `None`: it can.
fn unwritable(path: &Path) -> Option<StoreError> {
    #[cfg(unix)]
    {
        let cannot_write = |p: &Path| {
            let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
                return false;
            };
            // SAFETY: a valid NUL-terminated path; access has no other preconditions.
            unsafe { libc::access(c.as_ptr(), libc::W_OK) != 0 }
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
        for p in [path, dir] {
            if p.exists() && cannot_write(p) {
                let meta = std::fs::metadata(p).ok();
                let mut hint = crate::paths::permission_hint(p, meta.as_ref());
                if hint.is_empty() {
                    hint = format!(" ({} is on a read-only file system)", p.display());
                }
                return Some(StoreError::Unwritable {
                    path: path.to_owned(),
                    detail: format!("{} is not writable{hint}", p.display()),
                });
            }
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        refuse_foreign(path).await?;
        create_private(path)?;
        let options = connect_options(path);
        let opened = async {
            let mut write_conn = options.clone().connect().await?;
            sqlx::migrate!("./migrations").run(&mut write_conn).await?;
            Ok::<_, StoreError>(write_conn)
        }
        .await;
        let write_conn = match opened {
            Ok(c) => c,
            Err(e) => return Err(unwritable(path).unwrap_or(e)),
        };
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        let (sender, rx) = mpsc::channel(4096);
        let ingested = Arc::new(Notify::new());
        tokio::spawn(ingest::writer_loop(
            write_conn,
            options,
            rx,
            ingested.clone(),
        ));
        let store = Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                read,
                sender,
                ingested,
                observed: Arc::new(Notify::new()),
                changes: broadcast::channel(16).0,
                sessions_off: Default::default(),
            }),
        };
        store.load_sessions_off().await?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn read_pool(&self) -> &SqlitePool {
        &self.inner.read
    }

    /// Durably records a hook event. Returns once the event is committed (or known to be a duplicate).
    pub async fn ingest(&self, event: HookEvent) -> Result<IngestOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let prompt = event.prompt.is_some();
        self.inner
            .sender
            .send(WriteJob::Ingest(Box::new(event), reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        let outcome = answer.await.map_err(|_| StoreError::Closed)??;
        if matches!(outcome, IngestOutcome::Stored { .. }) {
            self.notify_change();
            if prompt {
                // A stored prompt is searchable too: the indexer picks it up now, not at its next poll.
                self.observation_signal().notify_one();
            }
        }
        Ok(outcome)
    }

    /// Woken after every commit that stored new events: the processor waits on it instead of polling.
    pub fn ingest_signal(&self) -> Arc<Notify> {
        self.inner.ingested.clone()
    }

    /// Ticks after any commit a live view shows (prompts, observations, summaries, saved memories). A tick
    /// carries no data: subscribers read what is new from their own cursor, so a lagging one only skips
    /// wake-ups, never rows.
    pub fn changes(&self) -> broadcast::Receiver<()> {
        self.inner.changes.subscribe()
    }

    pub(crate) fn notify_change(&self) {
        let _ = self.inner.changes.send(());
    }

    /// Woken after new searchable rows are committed (observations, summaries, prompts): the search
    /// indexer waits on it.
    pub fn observation_signal(&self) -> Arc<Notify> {
        self.inner.observed.clone()
    }

    /// Runs `f` on the single writer connection and returns its result. `f` opens its own transaction
    /// when it needs one.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut SqliteConnection,
            )
                -> Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: WriteFn = Box::new(move |conn| {
            Box::pin(async move {
                let _ = reply.send(f(conn).await);
            })
        });
        self.inner
            .sender
            .send(WriteJob::Run(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Whether a write can commit right now: a transaction that writes a row and rolls back, on the
    /// writer connection (between batches, like any write), so a database that became read-only, a
    /// file owned by another user or a full disk shows in `/api/health` instead of only in each failing
    /// hook. `Ok(false)`: the writer is busy beyond `wait` (not a failure); `Err`: the reason.
    pub async fn probe_write(&self, wait: Duration) -> Result<bool, String> {
        let probe = self.write(|conn| {
            Box::pin(async move {
                // An sqlx transaction, not a raw SAVEPOINT: sqlx counts transaction depth itself, and
                // the writer's recovery after a failed write (a full disk ends SQLite's transaction
                // behind its back) relies on that count to notice a transaction left open.
                use sqlx::Connection;
                let mut tx = conn.begin().await?;
                let wrote = sqlx::query(
                    "INSERT OR REPLACE INTO worker_meta (key, value, updated_at) VALUES ('health_probe', '1', 0)",
                )
                .execute(&mut *tx)
                .await;
                let _ = tx.rollback().await;
                wrote?;
                Ok(())
            })
        });
        match tokio::time::timeout(wait, probe).await {
            Err(_) => Ok(false),
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) => Err(match unwritable(self.path()) {
                Some(why) => why.to_string(),
                None => e.to_string(),
            }),
        }
    }

    /// Lets queued writes commit, then closes the database cleanly (the WAL is checkpointed).
    /// Writes that arrive afterwards fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self
            .inner
            .sender
            .send(WriteJob::Shutdown(done))
            .await
            .is_ok()
        {
            let _ = closed.await;
        }
        self.inner.read.close().await;
    }
}

#[cfg(test)]
mod tests;
