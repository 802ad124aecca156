//! Durable vectors against a real store: indexing stores each memory's vector once, a lost graph is
//! rebuilt from the database with no model call, and a switch to another embedder fills its own vectors
//! in the background while the old embedder keeps serving, then takes over in one step.

use claude_mem_core::store::Store;

use claude_mem_core::model::NewMemory;
use claude_mem_embed::{EmbedError, Embedder, HashEmbedder};
use claude_mem_search::durable::{self, Reembed};
use claude_mem_search::{Doc, Filters, Fusion, Mode, SearchIndex, SearchRequest, Source};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The hashing embedder under another id, counting the texts it embeds.
struct Counting {
    id: &'static str,
    inner: HashEmbedder,
    texts: AtomicUsize,
}

impl Counting {
    fn new(id: &'static str) -> Arc<Self> {
        Arc::new(Self {
            id,
            inner: HashEmbedder::new(384),
            texts: AtomicUsize::new(0),
        })
    }
}

impl Embedder for Counting {
    fn id(&self) -> &str {
        self.id
    }
    fn dim(&self) -> usize {
        384
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.texts.fetch_add(texts.len(), Ordering::Relaxed);
        self.inner.embed(texts)
    }
}

fn open(dir: &Path, embedder: Arc<Counting>) -> Arc<SearchIndex> {
    Arc::new(SearchIndex::open(dir, embedder, None, Fusion::default()).unwrap())
}

const NOTES: &[&str] = &[
    "retry backoff in the queue worker",
    "token refresh in the auth middleware",
    "pagination cursor in the orders API",
    "WAL checkpoint in the SQLite store",
];

async fn index_all(index: &Arc<SearchIndex>, store: &Store) {
    let (docs, last) = durable::read_page(store, Source::Observation, 0, 100)
        .await
        .unwrap();
    let never = Arc::new(AtomicBool::new(false));
    durable::index_page(index, store, docs, never)
        .await
        .unwrap();
    index.advance(Source::Observation, last.unwrap_or(0));
}

fn vector_hits(index: &SearchIndex, query: &str) -> Vec<i64> {
    let filters = Filters::default();
    let mut request = SearchRequest::new(query, Mode::Vector, &filters, 3);
    request.min_score = Some(0.0);
    index
        .search(&request)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_are_stored_restored_and_switched_without_embedding_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let mut ids = Vec::new();
    for text in NOTES {
        let saved = store
            .save_memory(NewMemory {
                project: "shop".into(),
                title: String::new(),
                text: (*text).into(),
                kind: claude_mem_core::model::ObservationType::Discovery,
                concepts: vec![],
                files: vec![],
            })
            .await
            .unwrap();
        ids.push(saved.id);
    }
    let index_dir = dir.path().join("index");

    // Indexed once: every vector embedded once and stored.
    let first = Counting::new("hash-a");
    let index = open(&index_dir, first.clone());
    index_all(&index, &store).await;
    assert_eq!(first.texts.load(Ordering::Relaxed), NOTES.len());
    assert_eq!(index.status().embedded, NOTES.len() as u64);
    assert_eq!(
        store
            .count_vectors("hash-a", 384, "observation")
            .await
            .unwrap(),
        NOTES.len() as i64
    );
    // Indexing the same rows again (a lost cursor, a reindex) takes the stored vectors.
    index.reset().unwrap();
    index_all(&index, &store).await;
    assert_eq!(first.texts.load(Ordering::Relaxed), NOTES.len());
    index.save().unwrap();
    drop(index);

    // The graph lost: rebuilt from the database, nothing embedded, search answers at once.
    std::fs::remove_dir_all(index_dir.join("vectors")).unwrap();
    let again = Counting::new("hash-a");
    let index = open(&index_dir, again.clone());
    assert!(index.status().rebuild_reason.is_some());
    assert_eq!(index.vector_count(Source::Observation), 0);
    assert_eq!(
        durable::restore(&index, &store).await.unwrap(),
        NOTES.len() as u64
    );
    assert_eq!(index.vector_count(Source::Observation), NOTES.len());
    assert!(!index.has_vector_gap(Source::Observation));
    assert_eq!(vector_hits(&index, "queue worker retry backoff")[0], ids[0]);
    // Only the query was embedded.
    assert_eq!(again.texts.load(Ordering::Relaxed), 1);
    assert_eq!(index.status().embedded, 0);

    // A switch to another embedder: the old one serves until every memory has a new vector.
    let next = Counting::new("hash-b");
    let cancel = Arc::new(AtomicBool::new(false));
    let mut reembed = Reembed::start(&index, &store, next.clone(), None)
        .await
        .unwrap();
    assert_eq!(index.status().reembed.unwrap().total, NOTES.len() as u64);
    let mut steps = 0;
    while !reembed.step(&index, &store, &cancel).await.unwrap() {
        assert_eq!(index.embedder().id(), "hash-a", "switched before the end");
        assert_eq!(vector_hits(&index, "auth middleware token")[0], ids[1]);
        steps += 1;
        assert!(steps < 100);
    }
    assert_eq!(next.texts.load(Ordering::Relaxed), NOTES.len());
    reembed.finish(&index, &store).await.unwrap();
    let status = index.status();
    assert_eq!(status.embedder, "hash-b");
    assert!(status.reembed.is_none());
    assert_eq!(index.vector_count(Source::Observation), NOTES.len());
    assert_eq!(vector_hits(&index, "orders API pagination")[0], ids[2]);
    // The old embedder's vectors are gone; the new one's are all there.
    assert_eq!(store.vector_storage("hash-a").await.unwrap().vectors, 0);
    assert_eq!(
        store.vector_storage("hash-b").await.unwrap().vectors,
        NOTES.len() as i64
    );
    index.save().unwrap();
    drop(index);

    // A restart with the new embedder loads what the switch saved.
    let last = Counting::new("hash-b");
    let index = open(&index_dir, last.clone());
    assert!(index.status().rebuild_reason.is_none());
    assert_eq!(durable::restore(&index, &store).await.unwrap(), 0);
    assert_eq!(index.vector_count(Source::Observation), NOTES.len());

    // A cancelled page indexes nothing and embeds nothing.
    let doc = Doc {
        id: 999,
        project: "shop".into(),
        kind: "discovery".into(),
        title: "never indexed".into(),
        ..Default::default()
    };
    let stop = AtomicBool::new(true);
    let embedder: Arc<dyn Embedder> = last.clone();
    let cancelled = index.index_docs(&[doc], &Default::default(), &embedder, &stop);
    assert!(matches!(
        cancelled,
        Err(claude_mem_search::SearchError::Cancelled)
    ));
    assert_eq!(index.vector_count(Source::Observation), NOTES.len());
    assert_eq!(last.texts.load(Ordering::Relaxed), 0);
}
