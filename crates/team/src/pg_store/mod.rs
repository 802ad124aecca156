//! The PostgreSQL store: the team server's record of truth, shared by every worker replica.
//!
//! Replicas hold no state of their own beyond caches: the queue, the processing claims and the
//! idempotency keys all live in the database, so a replica can be killed or added at any time. The
//! write path ([`claude_mem_core::Storage`], in `queue.rs`) mirrors the SQLite store semantic for
//! semantic; the reads here are team-scoped by construction (every query takes the team id).

mod ingest_batch;
mod member_api;
mod memory_reads;
#[cfg(test)]
mod memory_reads_tests;
mod queue;
mod reads;
mod session_slice;

use crate::auth::Owner;
use crate::TeamError;
use claude_mem_core::storage::StorageError;
use serde::Serialize;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

/// The channel a replica announces newly queued events on (payload: the session id), so the other
/// replicas' processors wake at once instead of at their next idle poll.
pub const INGEST_CHANNEL: &str = "claude_mem_ingest";

/// How long a processing claim holds: long enough for a slow LLM call, short enough that a killed
/// replica's sessions are taken over within a couple of minutes.
pub const CLAIM_LEASE_MS: i64 = 120_000;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Set on a per-request copy ([`PgStore::scoped`]); ingest needs it, the processor's copy has none.
    owner: Option<Owner>,
    /// Names this process in processing claims (`claimed_by`).
    replica: Arc<str>,
    signal: Arc<Notify>,
    /// Group commit of this replica's hook events (`ingest_batch.rs`), shared by every copy.
    writer: ingest_batch::IngestWriter,
    /// The LISTEN task; aborted by [`PgStore::close`] or when the last copy is dropped.
    listener: Arc<ListenerTask>,
    /// Fires after this process committed rows a reader may want (`MemoryReads::changes`): new events,
    /// observations and summaries, saved memories, forgets and edits. Shared by every copy.
    changes: broadcast::Sender<()>,
}

struct ListenerTask(Option<JoinHandle<()>>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Per-team (or whole-server when `team_id` is None) counts for `/api/health`, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TeamCounts {
    pub sessions: i64,
    pub events: i64,
    pub pending_events: i64,
    pub observations: i64,
    pub embedded: i64,
    pub summaries: i64,
}

/// A request refused for lack of rights: a session id that belongs to another team, an ingest through
/// a copy that acts for nobody, a read with no team to answer for. The HTTP layers answer 403.
fn denied(message: impl Into<String>) -> StorageError {
    StorageError::Forbidden(message.into())
}

/// PostgreSQL text cannot hold NUL (SQLite can): a tool's binary output would otherwise fail the whole
/// event, so NUL becomes U+FFFD.
pub(crate) fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn pg_list(v: &[String]) -> sqlx::types::Json<Vec<Cow<'_, str>>> {
    sqlx::types::Json(v.iter().map(|s| pg_text(s)).collect())
}

/// `hostname-pid-random`: readable in `claimed_by` (which pod holds a session) and unique even when
/// two replicas share a host and a recycled pid.
fn new_replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "replica".to_owned());
    let mut random = [0u8; 4];
    if let Err(e) = getrandom::fill(&mut random) {
        tracing::warn!(error = %e, "no OS randomness for the replica id; using the clock");
        random = (claude_mem_core::clock::now_ms() as u32).to_le_bytes();
    }
    format!("{host}-{}-{}", std::process::id(), hex::encode(random))
}

/// Wakes this replica's processor when any replica queued events. Reconnects on its own (PgListener
/// does on the next `recv`); a wake-up lost meanwhile only costs the processor's idle poll.
async fn listen(pool: PgPool, signal: Arc<Notify>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "cannot LISTEN for ingest notifications; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(INGEST_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN {INGEST_CHANNEL} failed; retrying");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(_) => signal.notify_one(),
                Err(e) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::debug!(error = %e, "ingest listener lost its connection");
                    // Anything missed while disconnected may be due now.
                    signal.notify_one();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

impl PgStore {
    /// Connects (pool of `max_connections`) and applies the migrations in `crates/team/migrations`
    /// (sqlx's migrator takes an advisory lock, so replicas starting together are safe).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, TeamError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let signal = Arc::new(Notify::new());
        let task = tokio::spawn(listen(pool.clone(), signal.clone()));
        let writer = ingest_batch::IngestWriter::spawn(pool.clone(), signal.clone());
        let replica: Arc<str> = new_replica_id().into();
        tracing::info!(replica = %replica, "connected to the team database");
        Ok(Self {
            pool,
            owner: None,
            replica,
            signal,
            writer,
            listener: Arc::new(ListenerTask(Some(task))),
            changes: broadcast::channel(16).0,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn replica_id(&self) -> &str {
        &self.replica
    }

    /// Tells this process's live readers (`MemoryReads::changes`) that something was committed; no
    /// reader listening is fine.
    pub(crate) fn notify_change(&self) {
        let _ = self.changes.send(());
    }

    pub fn owner(&self) -> Option<&Owner> {
        self.owner.as_ref()
    }

    /// A copy that ingests as `owner` (cheap: the pool is shared).
    pub fn scoped(&self, owner: Owner) -> PgStore {
        PgStore {
            owner: Some(owner),
            ..self.clone()
        }
    }

    pub async fn close(&self) {
        if let Some(task) = &self.listener.0 {
            task.abort();
        }
        self.pool.close().await
    }

    /// Gives back every claim this replica holds: a replica shutting down cleanly lets the others take
    /// its sessions at once instead of after the lease.
    pub async fn release_all_claims(&self) -> Result<u64, TeamError> {
        let r = sqlx::query(
            "UPDATE sdk_sessions SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1",
        )
        .bind(&*self.replica)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn counts(&self, team_id: Option<i64>) -> Result<TeamCounts, TeamError> {
        let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT
                 (SELECT COUNT(*) FROM sdk_sessions WHERE $1::bigint IS NULL OR team_id = $1),
                 (SELECT COUNT(*) FROM pending_messages WHERE $1::bigint IS NULL OR team_id = $1),
                 (SELECT COUNT(*) FROM pending_messages
                   WHERE state = 'pending' AND ($1::bigint IS NULL OR team_id = $1)),
                 (SELECT COUNT(*) FROM observations WHERE $1::bigint IS NULL OR team_id = $1),
                 (SELECT COUNT(*) FROM observations
                   WHERE embedding IS NOT NULL AND ($1::bigint IS NULL OR team_id = $1)),
                 (SELECT COUNT(*) FROM session_summaries WHERE $1::bigint IS NULL OR team_id = $1)",
        )
        .bind(team_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(TeamCounts {
            sessions: row.0,
            events: row.1,
            pending_events: row.2,
            observations: row.3,
            embedded: row.4,
            summaries: row.5,
        })
    }
}
