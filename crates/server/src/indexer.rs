//! Keeps the search indexes in step with SQLite: after every commit of new observations, summaries or
//! prompts (and at start, to catch up after a crash, a rebuild or an upgrade) it indexes what is past
//! each source's last indexed id. Every source has its own cursor because the three tables number their
//! rows independently. Observations go first: recall and the default search read them. Embedding is CPU
//! work, so it runs on the blocking pool, never on the request path.

use claude_mem_core::{Store, StoreError};
use claude_mem_embed::Embedder;
use claude_mem_search::durable::{self, Reembed};
use claude_mem_search::{Doc, SearchError, SearchIndex, Source};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// An embedder that became available while the worker runs (the downloaded model), waiting for the
/// indexer to switch to it. The indexer does the switch itself, between two pages, because it is the
/// only task that stores vectors: it embeds every memory with the new embedder in the background
/// ([`Reembed`]) while the old one keeps serving, and swaps both at once when done.
#[derive(Default)]
pub struct EmbedderSwitch {
    pending: Mutex<Option<Arc<dyn Embedder>>>,
    wake: Notify,
}

impl EmbedderSwitch {
    /// Asks the indexer to switch to `embedder`, re-embedding in the background.
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

/// The next page to index: the first source with rows past its cursor. The database is the queue
/// between the store and the embedder: however long the backlog, one page of documents is in memory
/// at a time, and a burst of stores only makes the indexer's next pages longer to reach.
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

/// Rebuilds graphs that could not be loaded from the vectors stored in the database (no model call),
/// before anything searches them: the worker calls it once the index is open, `catch_up` first thing.
pub async fn restore(store: &Store, index: &Arc<SearchIndex>) {
    match durable::restore(index, store).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(vectors = n, "vector graphs rebuilt from stored vectors"),
        Err(e) => index.record_error(&e),
    }
}

/// Indexes everything past the cursors, then marks the index ready and saves it: an offline
/// `claude-mem reindex`, with no worker (and no indexer task) running. `progress` sees each source's
/// cursor after each page. Stored vectors are reused: a reindex embeds only memories that have none.
pub async fn catch_up(
    store: &Store,
    index: &Arc<SearchIndex>,
    mut progress: impl FnMut(Source, i64),
) -> Result<(), String> {
    restore(store, index).await;
    let never = Arc::new(AtomicBool::new(false));
    while let Some(Page {
        source, docs, last, ..
    }) = next_page(store, index).await.map_err(|e| e.to_string())?
    {
        let n = docs.len();
        durable::index_page(index, store, docs, never.clone())
            .await
            .map_err(|e| e.to_string())?;
        index.advance(source, last);
        index.save_if_due(n).map_err(|e| e.to_string())?;
        progress(source, last);
    }
    index.set_state("ready");
    index.save().map_err(|e| e.to_string())
}

/// Waits `delay`, or less if the worker stops; true when it stops.
async fn pause(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

pub async fn run(
    store: Store,
    index: Arc<SearchIndex>,
    switch: Arc<EmbedderSwitch>,
    mut shutdown: watch::Receiver<bool>,
) {
    let signal = store.observation_signal();
    // Raised when the worker stops: the page being embedded is abandoned within one model batch
    // instead of holding the shutdown for the rest of the page.
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let (cancel, mut stop) = (cancel.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
            cancel.store(true, Ordering::Release);
        });
    }
    // An index from before durable vectors hands its vectors to the database once.
    if let Err(e) = durable::seed(&index, &store).await {
        index.record_error(&e);
    }
    let mut reembed: Option<Reembed> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Some(embedder) = switch.take() {
            if embedder.id() == index.embedder().id() {
                reembed = None;
                index.set_reembed(None);
            } else {
                match Reembed::start(&index, &store, embedder, None).await {
                    Ok(r) => reembed = Some(r),
                    Err(e) => index.record_error(&e),
                }
            }
        }
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
            // Caught up: a switch under way gets the time.
            if let Some(mut r) = reembed.take() {
                match r.step(&index, &store, &cancel).await {
                    Ok(false) => reembed = Some(r),
                    Ok(true) => {
                        if let Err(e) = r.finish(&index, &store).await {
                            index.record_error(&e);
                        }
                    }
                    Err(SearchError::Cancelled) => break,
                    Err(e) => {
                        index.record_error(&e);
                        reembed = Some(r);
                        if pause(Duration::from_secs(5), &mut shutdown).await {
                            break;
                        }
                    }
                }
                continue;
            }
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
        let n = docs.len();
        match durable::index_page(&index, &store, docs, cancel.clone()).await {
            Ok(_) => {
                index.advance(source, last);
                if let Err(e) = index.save_if_due(n) {
                    index.record_error(&e);
                }
            }
            Err(SearchError::Cancelled) => break,
            Err(e) => {
                index.record_error(&e);
                if pause(Duration::from_secs(5), &mut shutdown).await {
                    break;
                }
            }
        }
    }
    if let Err(e) = index.save() {
        index.record_error(&e);
    }
}
