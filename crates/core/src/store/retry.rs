//! Nothing parked forever: events the processor gave up on (`failed`, after `max_attempts`) are put back
//! in the queue by hand (`claude-mem retry`, `POST /api/admin/retry`, the viewer's Retry button) or when
//! the compressor's configuration changes (see [`crate::compress::fingerprint`]), and the worker's own
//! small key/value state that decides the latter.

use super::{Store, StoreError};
use crate::clock::now_ms;

/// `worker_meta` key of the fingerprint of the compressor configuration the parked events last failed
/// under (see [`crate::compress::fingerprint`]).
pub const COMPRESSOR_FINGERPRINT: &str = "compressor_fingerprint";

impl Store {
    /// Puts parked events back in the queue as if they had just arrived: `pending`, no attempts, due
    /// now. `None` requeues every parked event, `Some(id)` that one (only if it is parked). Returns how
    /// many were requeued; a second call finds nothing left to do (idempotent). Wakes the processor.
    pub async fn requeue_failed(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let n = self
            .write(move |conn| {
                Box::pin(async move {
                    let r = sqlx::query(
                        "UPDATE pending_messages SET state = 'pending', attempts = 0,
                             next_attempt_at = NULL, processed_at = NULL, last_error = NULL
                         WHERE state = 'failed' AND (?1 IS NULL OR id = ?1)",
                    )
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    Ok(r.rows_affected())
                })
            })
            .await?;
        if n > 0 {
            self.ingest_signal().notify_one();
            self.notify_change();
        }
        Ok(n)
    }

    /// How many events are parked.
    pub async fn parked_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM pending_messages WHERE state = 'failed'")
                .fetch_one(self.read_pool())
                .await?;
        Ok(n)
    }

    /// The queue state of one event (`pending`, `done`, `skipped`, `failed`), or None if there is no such
    /// event.
    pub async fn event_state(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT state FROM pending_messages WHERE id = ?1")
                .bind(id)
                .fetch_optional(self.read_pool())
                .await?;
        Ok(row.map(|(s,)| s))
    }

    /// A value of the worker's own state (`worker_meta`).
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM worker_meta WHERE key = ?1")
            .bind(key)
            .fetch_optional(self.read_pool())
            .await?;
        Ok(row.map(|(v,)| v))
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO worker_meta (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                         updated_at = excluded.updated_at",
                )
                .bind(&key)
                .bind(&value)
                .bind(now_ms())
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Compares the compressor configuration's fingerprint with the one stored at the last start and
    /// records the new one. When it changed (a new key, provider, model, base URL, language, mode or
    /// prompt), every parked event is requeued: they failed under a configuration that is gone, and the
    /// new one deserves a try. A store that never saw a fingerprint (first start) only records it.
    /// Returns how many events were requeued.
    pub async fn retry_parked_if_config_changed(
        &self,
        fingerprint: &str,
    ) -> Result<u64, StoreError> {
        let stored = self.meta(COMPRESSOR_FINGERPRINT).await?;
        let requeued = match stored.as_deref() {
            Some(old) if old != fingerprint => self.requeue_failed(None).await?,
            _ => 0,
        };
        if stored.as_deref() != Some(fingerprint) {
            self.set_meta(COMPRESSOR_FINGERPRINT, fingerprint).await?;
        }
        Ok(requeued)
    }
}
