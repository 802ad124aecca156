//! Vectors that survive: the database holds every memory's embedding (`memory_vectors`, per embedder),
//! and the graphs under `index/` are a cache of it.
//!
//! - Indexing ([`index_page`]) reuses a stored vector instead of calling the model, and stores the
//!   vectors it did embed, so a reindex, a lost cursor or a rebuild costs no embedding.
//! - A graph that is missing, damaged or built for another embedder is rebuilt from the stored vectors
//!   at start ([`restore`]), before the first search, without the model.
//! - A new embedder embeds every memory in the background ([`Reembed`]) while the old embedder and its
//!   graphs keep serving; when every memory has a vector of the new one, graphs are built from them and
//!   swapped in at once.
//! - An index from before durable vectors gives its graph's vectors to the database once ([`seed`]).

use crate::search_index::{ReembedStatus, SearchIndex, EMBED_BATCH};
use crate::vector_index::{VectorIndex, VectorMeta};
use crate::{Doc, SearchError, Source};
use claude_mem_core::store::vectors::{round_trip, VectorEncoding};
use claude_mem_core::store::{Store, StoredVector};
use claude_mem_embed::Embedder;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Stored vectors read per query while rebuilding a graph: large enough that SQLite and the graph's
/// parallel insert run in long strides, small enough that a page (6 MiB of f32 at 384-d) is nothing
/// beside the graph it goes into.
const RESTORE_PAGE: i64 = 4096;
/// Memories read per step of a background re-embed: a few model batches, so a page queued behind it
/// waits seconds at most.
const REEMBED_PAGE: i64 = (EMBED_BATCH * 4) as i64;
/// Texts embedded between two writes of their vectors to the database while indexing: what a stop can
/// cost (about half a second of MiniLM on 2 cores), against one small transaction per 16 memories.
pub const STORE_EVERY: usize = EMBED_BATCH * 2;

fn join_error(e: tokio::task::JoinError) -> SearchError {
    SearchError::Vector(format!("a blocking indexing task failed: {e}"))
}

/// Stores vectors an embedder just made (keys, [`Source::key`]), one transaction per source.
pub async fn store_vectors(
    store: &Store,
    embedder: &str,
    encoding: VectorEncoding,
    vectors: Vec<(i64, Vec<f32>, VectorMeta)>,
) -> Result<(), SearchError> {
    let mut by_source: HashMap<Source, Vec<StoredVector>> = HashMap::new();
    for (key, vector, meta) in vectors {
        let Some((source, row_id)) = Source::of_key(key) else {
            continue;
        };
        by_source.entry(source).or_default().push(StoredVector {
            row_id,
            vector,
            project: meta.project,
            kind: meta.kind,
            created_at: meta.created_at,
        });
    }
    for (source, items) in by_source {
        store
            .put_vectors(embedder, encoding, source.as_str(), items)
            .await?;
    }
    Ok(())
}

/// The stored vectors of `embedder` for these documents (by key).
async fn stored_for(
    store: &Store,
    embedder: &dyn Embedder,
    docs: &[Doc],
) -> Result<HashMap<i64, Vec<f32>>, SearchError> {
    let mut rows: HashMap<Source, Vec<i64>> = HashMap::new();
    for d in docs {
        if let Some((source, row)) = Source::of_key(d.id) {
            rows.entry(source).or_default().push(row);
        }
    }
    let mut out = HashMap::with_capacity(docs.len());
    for (source, ids) in rows {
        for (row, v) in store
            .vectors_for(embedder.id(), embedder.dim(), source.as_str(), &ids)
            .await?
        {
            if let Some(key) = source.key(row) {
                out.insert(key, v);
            }
        }
    }
    Ok(out)
}

/// Indexes a page of documents: vectors stored for the current embedder are reused, the rest are
/// embedded a few at a time and stored as they are made (so a stop, [`SearchError::Cancelled`],
/// abandons at most [`STORE_EVERY`] texts of work), then the page is indexed. Returns how many were
/// embedded.
pub async fn index_page(
    index: &Arc<SearchIndex>,
    store: &Store,
    docs: Vec<Doc>,
    cancel: Arc<AtomicBool>,
) -> Result<usize, SearchError> {
    if docs.is_empty() {
        return Ok(0);
    }
    let embedder = index.embedder();
    let encoding = index.vector_encoding();
    let mut stored = stored_for(store, embedder.as_ref(), &docs).await?;
    // Vectors the graph already holds need neither the database nor the model.
    let missing: Vec<Doc> = docs
        .iter()
        .filter(|d| !stored.contains_key(&d.id) && !index.has_vector(d.id))
        .cloned()
        .collect();
    let mut embedded = 0;
    for chunk in missing.chunks(STORE_EVERY) {
        let (model, flag, texts) = (embedder.clone(), cancel.clone(), chunk.to_vec());
        let fresh = tokio::task::spawn_blocking(move || embed_all(model.as_ref(), &texts, &flag))
            .await
            .map_err(join_error)??;
        index.count_embedded(fresh.len());
        embedded += fresh.len();
        for (key, v, _) in &fresh {
            stored.insert(*key, round_trip(encoding, v));
        }
        store_vectors(store, embedder.id(), encoding, fresh).await?;
    }
    let worker = index.clone();
    let model = embedder.clone();
    // Everything has a vector now; a document the graph lost meanwhile is embedded here and stored.
    let late =
        tokio::task::spawn_blocking(move || worker.index_docs(&docs, &stored, &model, &cancel))
            .await
            .map_err(join_error)??;
    embedded += late.len();
    store_vectors(store, embedder.id(), encoding, late).await?;
    Ok(embedded)
}

/// Reads every stored vector of `embedder` for `source`, page by page, into `sink` (run on the
/// blocking pool: it inserts into a graph).
async fn each_stored_page(
    store: &Store,
    embedder: &dyn Embedder,
    source: Source,
    sink: impl FnMut(Vec<(i64, Vec<f32>, VectorMeta)>) -> Result<(), SearchError> + Send + 'static,
) -> Result<(), SearchError> {
    let mut after = 0;
    // Reading the next page overlaps inserting this one: the sink travels to the blocking task and back.
    let mut sink = Some(sink);
    let mut pending: Option<tokio::task::JoinHandle<Result<_, SearchError>>> = None;
    loop {
        let page = store
            .stored_vectors(
                embedder.id(),
                embedder.dim(),
                source.as_str(),
                after,
                RESTORE_PAGE,
            )
            .await?;
        if let Some(task) = pending.take() {
            sink = Some(task.await.map_err(join_error)??);
        }
        let Some(last) = page.last().map(|v| v.row_id) else {
            return Ok(());
        };
        after = last;
        let items: Vec<(i64, Vec<f32>, VectorMeta)> = page
            .into_iter()
            .filter_map(|v| {
                Some((
                    source.key(v.row_id)?,
                    v.vector,
                    VectorMeta {
                        project: v.project,
                        kind: v.kind,
                        created_at: v.created_at,
                    },
                ))
            })
            .collect();
        let Some(mut into) = sink.take() else {
            return Err(SearchError::Vector(
                "the graph rebuild lost its sink".into(),
            ));
        };
        pending = Some(tokio::task::spawn_blocking(move || {
            into(items)?;
            Ok(into)
        }));
    }
}

/// Builds a graph of `source` from the vectors stored for `embedder`, without touching any index:
/// what a background switch swaps in, and what the benchmark times.
pub async fn build_graph(
    store: &Store,
    embedder: &dyn Embedder,
    source: Source,
    capacity: usize,
) -> Result<VectorIndex, SearchError> {
    let graph = Arc::new(std::sync::Mutex::new(VectorIndex::new(
        embedder.dim(),
        capacity,
    )));
    let into = graph.clone();
    each_stored_page(store, embedder, source, move |items| {
        into.lock()
            .map_err(|_| SearchError::Vector("lock poisoned".into()))?
            .insert(items)
            .map(|_| ())
    })
    .await?;
    let graph = Arc::try_unwrap(graph)
        .map_err(|_| SearchError::Vector("the graph is still shared".into()))?;
    graph
        .into_inner()
        .map_err(|_| SearchError::Vector("lock poisoned".into()))
}

/// Rebuilds the graphs lost at open (missing, damaged, another embedder's) from the stored vectors of
/// the current embedder, with no model call. A part with memories that have no stored vector (indexed
/// before durable vectors, or never by this embedder) is rewound, so the indexer goes over it again and
/// embeds only those. Returns how many vectors were restored.
pub async fn restore(index: &Arc<SearchIndex>, store: &Store) -> Result<u64, SearchError> {
    let embedder = index.embedder();
    let mut restored = 0u64;
    for source in index.take_lost() {
        let started = std::time::Instant::now();
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (worker, counted) = (index.clone(), count.clone());
        let read = each_stored_page(store, embedder.as_ref(), source, move |items| {
            let n = worker.restore_vectors(source, items)?;
            counted.fetch_add(n as u64, Ordering::Relaxed);
            Ok(())
        })
        .await;
        if let Err(e) = read {
            // Whatever could not be restored is indexed again (and embedded only where no stored
            // vector can be read): never an incomplete graph saved as if it were whole.
            index.rewind(source);
            index.record_error(&e);
            continue;
        }
        let n = count.load(Ordering::Relaxed);
        restored += n;
        tracing::info!(
            source = source.as_str(),
            vectors = n,
            seconds = started.elapsed().as_secs_f64(),
            "vector graph rebuilt from the database"
        );
        if index.has_vector_gap(source) {
            tracing::warn!(
                source = source.as_str(),
                "some memories have no stored vector: indexing them again"
            );
            index.rewind(source);
        }
    }
    Ok(restored)
}

/// Gives the database the vectors only the graphs hold (an index built before durable vectors), so
/// upgrading costs no embedding. Cheap when there is nothing to do: a count per source.
pub async fn seed(index: &Arc<SearchIndex>, store: &Store) -> Result<u64, SearchError> {
    let embedder = index.embedder();
    let mut seeded = 0u64;
    for source in Source::ALL {
        let in_graph = index.vector_count(source) as i64;
        if in_graph == 0 {
            continue;
        }
        let stored = store
            .count_vectors(embedder.id(), embedder.dim(), source.as_str())
            .await?;
        if stored >= in_graph {
            continue;
        }
        let worker = index.clone();
        let entries = tokio::task::spawn_blocking(move || worker.graph_entries(source))
            .await
            .map_err(join_error)??;
        let rows: Vec<i64> = entries
            .iter()
            .filter_map(|(key, _, _)| Source::of_key(*key).map(|(_, row)| row))
            .collect();
        let have = store
            .vectors_for(embedder.id(), embedder.dim(), source.as_str(), &rows)
            .await?;
        let missing: Vec<(i64, Vec<f32>, VectorMeta)> = entries
            .into_iter()
            .filter(|(key, _, _)| {
                Source::of_key(*key).is_some_and(|(_, row)| !have.contains_key(&row))
            })
            .collect();
        seeded += missing.len() as u64;
        for chunk in missing.chunks(RESTORE_PAGE as usize) {
            store_vectors(
                store,
                embedder.id(),
                index.vector_encoding(),
                chunk.to_vec(),
            )
            .await?;
        }
    }
    if seeded > 0 {
        tracing::info!(
            vectors = seeded,
            "stored the vector graph's vectors in the database"
        );
    }
    Ok(seeded)
}

/// One page of `source`'s rows past `after` as documents, with the highest id read.
pub async fn read_page(
    store: &Store,
    source: Source,
    after: i64,
    limit: i64,
) -> Result<(Vec<Doc>, Option<i64>), SearchError> {
    Ok(match source {
        Source::Observation => {
            let rows = store.observations_after(after, limit).await?;
            let last = rows.last().map(|r| r.id);
            (
                rows.iter().filter_map(Doc::from_observation).collect(),
                last,
            )
        }
        Source::Summary => {
            let rows = store.summaries_after(after, limit).await?;
            let last = rows.last().map(|r| r.id);
            (rows.iter().filter_map(Doc::from_summary).collect(), last)
        }
        Source::Prompt => {
            let rows = store.prompts_after(after, limit).await?;
            let last = rows.last().map(|r| r.id);
            (rows.iter().filter_map(Doc::from_prompt).collect(), last)
        }
    })
}

/// Embeds `docs` with `embedder` in batches, checking `cancel` before each.
fn embed_all(
    embedder: &dyn Embedder,
    docs: &[Doc],
    cancel: &AtomicBool,
) -> Result<Vec<(i64, Vec<f32>, VectorMeta)>, SearchError> {
    let mut out = Vec::with_capacity(docs.len());
    for chunk in docs.chunks(EMBED_BATCH) {
        if cancel.load(Ordering::Acquire) {
            return Err(SearchError::Cancelled);
        }
        let texts: Vec<String> = chunk.iter().map(Doc::embedding_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = embedder
            .embed(&refs)
            .map_err(|e| SearchError::Embed(e.to_string()))?;
        if vectors.len() != chunk.len() {
            return Err(SearchError::Embed(format!(
                "{} vectors for {} texts",
                vectors.len(),
                chunk.len()
            )));
        }
        out.extend(chunk.iter().zip(vectors).map(|(d, v)| {
            (
                d.id,
                v,
                VectorMeta {
                    project: d.project.clone(),
                    kind: d.kind.clone(),
                    created_at: d.created_at,
                },
            )
        }));
    }
    Ok(out)
}

/// A switch to another embedder, done in the background by the indexer between its own pages: every
/// memory gets a vector of the new embedder in the database, then graphs are built from them and
/// swapped in ([`SearchIndex::adopt_embedder`]). Until then the old embedder and graphs serve. A
/// restart in the middle loses nothing: what was stored is not embedded again.
pub struct Reembed {
    embedder: Arc<dyn Embedder>,
    fallback: Option<String>,
    cursors: HashMap<Source, i64>,
    done: u64,
    total: u64,
}

impl Reembed {
    /// Starts a switch to `embedder`; progress shows under `/api/health`'s `index.reembed`.
    pub async fn start(
        index: &SearchIndex,
        store: &Store,
        embedder: Arc<dyn Embedder>,
        fallback: Option<String>,
    ) -> Result<Self, SearchError> {
        let total = store.memory_count().await?.max(0) as u64;
        let done = store.vector_storage(embedder.id()).await?.vectors.max(0) as u64;
        tracing::info!(
            from = index.embedder().id(),
            to = embedder.id(),
            memories = total,
            stored = done,
            "re-embedding every memory in the background; the current vectors serve until it is done"
        );
        let reembed = Self {
            embedder,
            fallback,
            cursors: HashMap::new(),
            done: done.min(total),
            total,
        };
        reembed.publish(index);
        Ok(reembed)
    }

    pub fn embedder_id(&self) -> &str {
        self.embedder.id()
    }

    fn publish(&self, index: &SearchIndex) {
        index.set_reembed(Some(ReembedStatus {
            embedder: self.embedder.id().to_owned(),
            done: self.done,
            total: self.total.max(self.done),
        }));
    }

    /// Embeds the next few memories that have no vector of the new embedder. `Ok(true)`: none is left.
    pub async fn step(
        &mut self,
        index: &Arc<SearchIndex>,
        store: &Store,
        cancel: &Arc<AtomicBool>,
    ) -> Result<bool, SearchError> {
        for source in Source::ALL {
            let after = self.cursors.get(&source).copied().unwrap_or(0);
            let (docs, last) = read_page(store, source, after, REEMBED_PAGE).await?;
            let Some(last) = last else {
                continue;
            };
            self.cursors.insert(source, last);
            let stored = stored_for(store, self.embedder.as_ref(), &docs).await?;
            let todo: Vec<Doc> = docs
                .into_iter()
                .filter(|d| !stored.contains_key(&d.id))
                .collect();
            if todo.is_empty() {
                return Ok(false);
            }
            let (model, flag) = (self.embedder.clone(), cancel.clone());
            let fresh =
                tokio::task::spawn_blocking(move || embed_all(model.as_ref(), &todo, &flag))
                    .await
                    .map_err(join_error)??;
            self.done += fresh.len() as u64;
            store_vectors(store, self.embedder.id(), index.vector_encoding(), fresh).await?;
            self.publish(index);
            return Ok(false);
        }
        Ok(true)
    }

    /// Builds the new embedder's graphs from its stored vectors and hands the index over; the old
    /// embedder's stored vectors are dropped.
    pub async fn finish(self, index: &Arc<SearchIndex>, store: &Store) -> Result<(), SearchError> {
        let mut graphs = HashMap::new();
        for source in Source::ALL {
            let capacity = index.vector_count(source);
            graphs.insert(
                source,
                build_graph(store, self.embedder.as_ref(), source, capacity).await?,
            );
        }
        let worker = index.clone();
        let (embedder, fallback) = (self.embedder.clone(), self.fallback.clone());
        tokio::task::spawn_blocking(move || worker.adopt_embedder(embedder, fallback, graphs))
            .await
            .map_err(join_error)??;
        let dropped = store.delete_vectors_except(self.embedder.id()).await?;
        tracing::info!(
            embedder = self.embedder.id(),
            dropped,
            "the new embedder's vectors serve now"
        );
        Ok(())
    }
}
