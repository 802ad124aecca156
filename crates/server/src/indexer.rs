//! Keeps the search indexes in step with SQLite: after every commit of new observations, summaries or
//! prompts (and at start, to catch up after a crash, a rebuild or an upgrade) it indexes what is past
//! each source's last indexed id. Every source has its own cursor because the three tables number their
//! rows independently. Observations go first: recall and the default search read them. Embedding is CPU
//! work, so it runs on the blocking pool, never on the request path.

use claude_mem_core::{Store, StoreError};
use claude_mem_embed::Embedder;
use claude_mem_search::{Doc, SearchIndex, Source};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// An embedder that became available while the worker runs (the downloaded model), waiting for the
/// indexer to switch to it. The indexer does the switch itself, between two pages, because it is the
/// only task that stores vectors: nothing embedded with the old model can land after the reset.
#[derive(Default)]
pub struct EmbedderSwitch {
    pending: Mutex<Option<Arc<dyn Embedder>>>,
    wake: Notify,
}

impl EmbedderSwitch {
    /// Asks the indexer to switch to `embedder` and re-embed everything.
    pub fn request(&self, embedder: Arc<dyn Embedder>) {
        match self.pending.lock() {
            Ok(mut p) => *p = Some(embedder),
            Err(poisoned) => *poisoned.into_inner() = Some(embedder),
        }
        self.wake.notify_one();
    }

    fn take(&self) -> Option<Arc<dyn Embedder>> {
        match self.pending.lock() {
            Ok(mut p) => p.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}

/// Switches the index to a requested embedder, if one is waiting (on the blocking pool: the reset
/// writes files).
async fn switch_if_requested(index: &Arc<SearchIndex>, switch: &EmbedderSwitch) {
    let Some(embedder) = switch.take() else {
        return;
    };
    let worker = index.clone();
    match tokio::task::spawn_blocking(move || worker.switch_embedder(embedder, None)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => index.record_error(&e),
        Err(e) => tracing::error!(error = %e, "switching embedders panicked"),
    }
}

const PAGE: i64 = 256;

/// One page of rows to index.
struct Page {
    source: Source,
    docs: Vec<Doc>,
    /// Rows read: more than `docs` when some ids cannot be keyed.
    read: usize,
    /// The highest id read: the cursor moves past it even if that row could not become a document.
    last: i64,
}

/// The next page to index: the first source with rows past its cursor.
async fn next_page(store: &Store, index: &SearchIndex) -> Result<Option<Page>, StoreError> {
    for source in Source::ALL {
        let after = index.last_indexed(source);
        let (docs, read, last): (Vec<Doc>, usize, Option<i64>) = match source {
            Source::Observation => {
                let rows = store.observations_after(after, PAGE).await?;
                let docs = rows.iter().filter_map(Doc::from_observation).collect();
                (docs, rows.len(), rows.last().map(|r| r.id))
            }
            Source::Summary => {
                let rows = store.summaries_after(after, PAGE).await?;
                let docs = rows.iter().filter_map(Doc::from_summary).collect();
                (docs, rows.len(), rows.last().map(|r| r.id))
            }
            Source::Prompt => {
                let rows = store.prompts_after(after, PAGE).await?;
                let docs = rows.iter().filter_map(Doc::from_prompt).collect();
                (docs, rows.len(), rows.last().map(|r| r.id))
            }
        };
        if let Some(last) = last {
            return Ok(Some(Page {
                source,
                docs,
                read,
                last,
            }));
        }
    }
    Ok(None)
}

/// Indexes everything past the cursors, then marks the index ready and saves it: an offline
/// `claude-mem reindex`, with no worker (and no indexer task) running. `progress` sees each source's
/// cursor after each page.
pub async fn catch_up(
    store: &Store,
    index: &Arc<SearchIndex>,
    mut progress: impl FnMut(Source, i64),
) -> Result<(), String> {
    while let Some(Page {
        source, docs, last, ..
    }) = next_page(store, index).await.map_err(|e| e.to_string())?
    {
        let worker = index.clone();
        tokio::task::spawn_blocking(move || worker.index(&docs))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        index.advance(source, last);
        progress(source, last);
    }
    index.set_state("ready");
    index.save().map_err(|e| e.to_string())
}

pub async fn run(
    store: Store,
    index: Arc<SearchIndex>,
    switch: Arc<EmbedderSwitch>,
    mut shutdown: watch::Receiver<bool>,
) {
    let signal = store.observation_signal();
    loop {
        switch_if_requested(&index, &switch).await;
        let page = match next_page(&store, &index).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "indexer cannot read the store");
                None
            }
        };
        let Some(Page {
            source,
            docs,
            read,
            last,
        }) = page
        else {
            if index.status().state != "ready" {
                index.set_state("ready");
                if let Err(e) = index.save() {
                    index.record_error(&e);
                }
                let status = index.status();
                tracing::info!(
                    documents = status.documents,
                    summaries = status.summaries,
                    prompts = status.prompts,
                    "search indexes are up to date"
                );
            }
            tokio::select! {
                _ = signal.notified() => continue,
                _ = switch.wake.notified() => continue,
                _ = tokio::time::sleep(Duration::from_secs(30)) => continue,
                _ = shutdown.changed() => break,
            }
        };
        if docs.len() < read {
            tracing::warn!(
                source = source.as_str(),
                skipped = read - docs.len(),
                through = last,
                "rows whose ids no index key can hold were not indexed"
            );
        }
        let worker = index.clone();
        let result = tokio::task::spawn_blocking(move || worker.index(&docs)).await;
        match result {
            Ok(Ok(())) => index.advance(source, last),
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
