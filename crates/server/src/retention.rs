//! The daily prune (`retention.prune_daily`): once when the worker starts, then every 24 hours while it
//! runs. Starting with a run matters for the desktop app, which may never stay up a whole day; a run
//! with nothing old to delete costs a few indexed queries and no VACUUM.

use crate::maintenance::prune_everywhere;
use claude_mem_core::settings::RetentionSettings;
use claude_mem_core::store::{PruneRequest, DAY_MS};
use claude_mem_core::Store;
use claude_mem_search::SearchIndex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// One scheduled prune: everything older than `older_than_days`, all projects.
pub async fn prune_once(
    store: &Store,
    index: Option<&Arc<SearchIndex>>,
    settings: &RetentionSettings,
) {
    let req = PruneRequest {
        cutoff_ms: claude_mem_core::clock::now_ms() - i64::from(settings.older_than_days) * DAY_MS,
        project: None,
        dry_run: false,
    };
    match prune_everywhere(store, index, req).await {
        Ok(o) if o.report.total() > 0 => tracing::info!(
            deleted = ?o.report.deleted,
            bytes_before = o.report.bytes_before,
            bytes_after = o.report.bytes_after,
            index = o.index,
            older_than_days = settings.older_than_days,
            "scheduled prune"
        ),
        Ok(_) => tracing::debug!("scheduled prune: nothing to delete"),
        Err(e) => tracing::error!(error = %e, "scheduled prune failed"),
    }
}

/// Runs until `shutdown` flips; returns at once when the daily prune is off.
pub async fn run(
    store: Store,
    index: Option<Arc<SearchIndex>>,
    settings: RetentionSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    if !settings.prune_daily {
        return;
    }
    loop {
        if *shutdown.borrow() {
            break;
        }
        prune_once(&store, index.as_ref(), &settings).await;
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn seed(store: &Store, created_at: i64, title: &str) {
        let title = title.to_owned();
        store
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at)
                         VALUES ('s-' || ?1, 'p', ?1, ?1)",
                    )
                    .bind(created_at)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO observations (session_id, project, type, title, compressor, created_at)
                         VALUES ('s-' || ?1, 'p', 'change', ?2, 'local', ?1)",
                    )
                    .bind(created_at)
                    .bind(title)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await
            .expect("seed");
    }

    #[tokio::test]
    async fn the_daily_job_prunes_at_start_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db.sqlite"))
            .await
            .expect("open");
        let now = claude_mem_core::clock::now_ms();
        seed(&store, now - 400 * DAY_MS, "old").await;
        seed(&store, now - DAY_MS, "recent").await;
        let (stop, stopped) = watch::channel(false);
        let settings = RetentionSettings {
            prune_daily: true,
            older_than_days: 30,
            ..RetentionSettings::default()
        };
        let job = tokio::spawn(run(store.clone(), None, settings, stopped));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM observations")
                .fetch_one(store.read_pool())
                .await
                .expect("count");
            if n == 1 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never pruned");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (title,): (String,) = sqlx::query_as("SELECT title FROM observations")
            .fetch_one(store.read_pool())
            .await
            .expect("row");
        assert_eq!(title, "recent");
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(10), job)
            .await
            .expect("the job ends on shutdown")
            .expect("no panic");
        store.close().await;
    }

    #[tokio::test]
    async fn off_means_no_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db.sqlite"))
            .await
            .expect("open");
        seed(&store, 1_000, "ancient").await;
        let (_stop, stopped) = watch::channel(false);
        run(store.clone(), None, RetentionSettings::default(), stopped).await;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM observations")
            .fetch_one(store.read_pool())
            .await
            .expect("count");
        assert_eq!(n, 1);
        store.close().await;
    }
}
