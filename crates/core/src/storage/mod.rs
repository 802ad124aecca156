//! The storage contract the worker's write path and processor run against, so the same processor drives
//! the embedded SQLite store and the team server's PostgreSQL store (`claude-mem-team`).
//!
//! [`Storage`] is the durable queue and what a processing step commits: everything whose correctness
//! under crashes and concurrency matters. [`MemoryReads`] is what the HTTP API, the live stream and
//! recall read (and the user's edits), so one set of route handlers serves both backends. Both speak
//! the domain's types (`crate::model`) and fail with [`StorageError`], never a backend's own error.
//! Search stays backend-specific: each answers it with its own engine (Tantivy + hnsw_rs here,
//! tsvector + pgvector/hnsw_rs there).

use crate::model::{ObservationDraft, QueuedEvent, SessionContext, UsageRecord};
use crate::store::{CompletedBatch, ReadySession, Store};
use crate::{HookEvent, IngestOutcome};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use tokio::sync::Notify;

mod error;
mod reads;
pub use error::StorageError;
pub use reads::{MemoryReads, SessionTitleRow};

/// Everything a worker asks of its backend: the durable queue and processing ([`Storage`]) and the
/// reads and user edits behind the HTTP API ([`MemoryReads`]).
pub trait Memory: Storage + MemoryReads {}
impl<T: Storage + MemoryReads + ?Sized> Memory for T {}

/// The backend as route handlers hold it: the laptop's store, or a team store scoped to one caller.
pub type SharedMemory = Arc<dyn Memory>;

#[async_trait]
pub trait Storage: Send + Sync {
    /// `sqlite` or `postgres`, for logs and `/api/health`.
    fn backend(&self) -> &'static str;

    /// Commits one hook event to the durable queue (idempotent on the event's key).
    async fn ingest(&self, event: HookEvent) -> Result<IngestOutcome, StorageError>;

    /// Wakes the processor when new work may be due.
    fn ingest_signal(&self) -> Arc<Notify>;

    /// Sessions with due work, claimed for this process: a backend shared by several processes must hand
    /// each session to one of them at a time (PostgreSQL: `FOR UPDATE SKIP LOCKED` plus a lease).
    async fn ready_sessions(
        &self,
        now: i64,
        batch_size: i64,
        linger_ms: i64,
        limit: i64,
    ) -> Result<Vec<ReadySession>, StorageError>;

    async fn next_due_at(&self) -> Result<Option<i64>, StorageError>;

    async fn load_batch(
        &self,
        session_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<QueuedEvent>, StorageError>;

    async fn session_context(
        &self,
        session_id: &str,
        prompt_numbers: &BTreeSet<i64>,
    ) -> Result<SessionContext, StorageError>;

    async fn processed_tool_use_ids(
        &self,
        session_id: &str,
        tool_use_ids: &[String],
    ) -> Result<HashSet<String>, StorageError>;

    async fn prompt_observations(
        &self,
        session_id: &str,
        prompt_number: i64,
    ) -> Result<Vec<ObservationDraft>, StorageError>;

    async fn has_summary(&self, session_id: &str, prompt_number: i64)
        -> Result<bool, StorageError>;

    async fn spent_since_usd(&self, since_ms: i64) -> Result<f64, StorageError>;

    async fn record_usage(
        &self,
        session_id: &str,
        project: &str,
        usage: Vec<UsageRecord>,
    ) -> Result<(), StorageError>;

    /// Backs events off (or parks them after `max_attempts`); releases the session's claim. Returns how
    /// many were parked.
    async fn defer_events(
        &self,
        ids: Vec<i64>,
        error: String,
        next_attempt_at: i64,
        max_attempts: i64,
    ) -> Result<u64, StorageError>;

    /// Commits a step's observations, summary and event states atomically; releases the session's claim.
    /// Returns the new observation ids. A backend shared by several processes must commit nothing when
    /// the events were already completed elsewhere (an expired claim), so no step is stored twice.
    async fn complete_batch(&self, batch: CompletedBatch) -> Result<Vec<i64>, StorageError>;

    /// Puts parked (`failed`) events back in the queue with no attempts, due now: every parked event
    /// (`None`) or one (`Some(id)`, only if it is parked). Returns how many were requeued; calling it
    /// again requeues nothing more. Wakes the processor.
    async fn requeue_failed(&self, id: Option<i64>) -> Result<u64, StorageError>;

    /// Gives a claimed session back without doing anything (the batch turned out empty).
    async fn release_session(&self, _session_id: &str) -> Result<(), StorageError> {
        Ok(())
    }
}

/// The embedded store is used by one process, so a claim is implicit: the processor runs one task per
/// session.
#[async_trait]
impl Storage for Store {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn ingest(&self, event: HookEvent) -> Result<IngestOutcome, StorageError> {
        Ok(Store::ingest(self, event).await?)
    }
    fn ingest_signal(&self) -> Arc<Notify> {
        Store::ingest_signal(self)
    }
    async fn ready_sessions(
        &self,
        now: i64,
        batch_size: i64,
        linger_ms: i64,
        limit: i64,
    ) -> Result<Vec<ReadySession>, StorageError> {
        Ok(Store::ready_sessions(self, now, batch_size, linger_ms, limit).await?)
    }
    async fn next_due_at(&self) -> Result<Option<i64>, StorageError> {
        Ok(Store::next_due_at(self).await?)
    }
    async fn load_batch(
        &self,
        session_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<QueuedEvent>, StorageError> {
        Ok(Store::load_batch(self, session_id, now, limit).await?)
    }
    async fn session_context(
        &self,
        session_id: &str,
        prompt_numbers: &BTreeSet<i64>,
    ) -> Result<SessionContext, StorageError> {
        Ok(Store::session_context(self, session_id, prompt_numbers).await?)
    }
    async fn processed_tool_use_ids(
        &self,
        session_id: &str,
        tool_use_ids: &[String],
    ) -> Result<HashSet<String>, StorageError> {
        Ok(Store::processed_tool_use_ids(self, session_id, tool_use_ids).await?)
    }
    async fn prompt_observations(
        &self,
        session_id: &str,
        prompt_number: i64,
    ) -> Result<Vec<ObservationDraft>, StorageError> {
        Ok(Store::prompt_observations(self, session_id, prompt_number).await?)
    }
    async fn has_summary(
        &self,
        session_id: &str,
        prompt_number: i64,
    ) -> Result<bool, StorageError> {
        Ok(Store::has_summary(self, session_id, prompt_number).await?)
    }
    async fn spent_since_usd(&self, since_ms: i64) -> Result<f64, StorageError> {
        Ok(Store::spent_since_usd(self, since_ms).await?)
    }
    async fn record_usage(
        &self,
        session_id: &str,
        project: &str,
        usage: Vec<UsageRecord>,
    ) -> Result<(), StorageError> {
        Ok(Store::record_usage(self, session_id, project, usage).await?)
    }
    async fn defer_events(
        &self,
        ids: Vec<i64>,
        error: String,
        next_attempt_at: i64,
        max_attempts: i64,
    ) -> Result<u64, StorageError> {
        Ok(Store::defer_events(self, ids, error, next_attempt_at, max_attempts).await?)
    }
    async fn complete_batch(&self, batch: CompletedBatch) -> Result<Vec<i64>, StorageError> {
        Ok(Store::complete_batch(self, batch).await?)
    }
    async fn requeue_failed(&self, id: Option<i64>) -> Result<u64, StorageError> {
        Ok(Store::requeue_failed(self, id).await?)
    }
}
