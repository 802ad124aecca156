//! Keeps the search indexes in step with SQLite: after every commit of new observations (and at start,
//! to catch up after a crash or a rebuild) it indexes what is past the last indexed id. Embedding is CPU
//! work, so it runs on the blocking pool, never on the request path.

use claude_mem_core::Store;
use claude_mem_search::{Doc, SearchIndex};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const PAGE: i64 = 256;

pub async fn run(store: Store, index: Arc<SearchIndex>, mut shutdown: watch::Receiver<bool>) {
    let signal = store.observation_signal();
    loop {
        let after = index.last_indexed_id();
        let page = match store.observations_after(after, PAGE).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "indexer cannot read observations");
                Vec::new()
            }
        };
        if page.is_empty() {
            if index.status().state != "ready" {
                index.set_state("ready");
                if let Err(e) = index.save() {
                    index.record_error(&e);
                }
                tracing::info!(
                    documents = index.status().documents,
                    "search indexes are up to date"
                );
            }
            tokio::select! {
                _ = signal.notified() => continue,
                _ = tokio::time::sleep(Duration::from_secs(30)) => continue,
                _ = shutdown.changed() => break,
            }
        }
        let docs: Vec<Doc> = page.iter().map(Doc::from).collect();
        let worker = index.clone();
        let result = tokio::task::spawn_blocking(move || worker.index(&docs)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                index.record_error(&e);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "indexing task panicked");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        if *shutdown.borrow() {
            break;
        }
    }
    if let Err(e) = index.save() {
        index.record_error(&e);
    }
}
