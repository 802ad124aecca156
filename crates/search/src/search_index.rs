//! The two indexes together: opening (or deciding to rebuild), incremental indexing from SQLite,
//! hybrid queries, and the status `/api/health` reports.

use crate::text_index::TextIndex;
use crate::vector_index::{VectorIndex, VectorMeta};
use crate::{fuse, Doc, Filters, Fusion, Hit, Mode, SearchError};
use claude_mem_embed::Embedder;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Bumped whenever what is indexed or how changes: a different stamp means rebuild.
pub const SCHEMA_VERSION: u32 = 2;

/// (id, cosine) best first, then milliseconds spent embedding the query and searching the graph.
type VectorCandidates = (Vec<(i64, f32)>, f64, f64);
const STAMP: &str = "index.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Stamp {
    schema: u32,
    embedder: String,
    dim: usize,
    /// Highest observation id whose vectors are saved; the indexer resumes after it.
    last_indexed_id: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IndexStatus {
    /// `ready`, `indexing` (catching up after a start or a rebuild) or `failed`.
    pub state: String,
    pub documents: u64,
    pub vectors: usize,
    pub last_indexed_id: i64,
    pub embedder: String,
    /// Why the real model is not in use, when it is not.
    pub embedder_fallback: Option<String>,
    /// Why the indexes were rebuilt at start, if they were.
    pub rebuild_reason: Option<String>,
    pub last_error: Option<String>,
}

pub struct SearchIndex {
    dir: PathBuf,
    text: TextIndex,
    vectors: RwLock<VectorIndex>,
    embedder: Arc<dyn Embedder>,
    fusion: Fusion,
    status: Mutex<IndexStatus>,
    unsaved: Mutex<(usize, Instant)>,
}

/// Search results plus what the query's own embedding cost (reported apart from index time).
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    pub embed_ms: f64,
    pub search_ms: f64,
}

fn wipe(dir: &Path) -> Result<(), SearchError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

impl SearchIndex {
    /// Opens the indexes under `dir`, rebuilding from scratch (empty, to be filled from SQLite by the
    /// indexer) when they are missing, corrupt, or stamped by another schema or embedder.
    pub fn open(
        dir: &Path,
        embedder: Arc<dyn Embedder>,
        embedder_fallback: Option<String>,
        fusion: Fusion,
    ) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let (embedder_id, dim) = (embedder.id().to_owned(), embedder.dim());
        let want = |last| Stamp {
            schema: SCHEMA_VERSION,
            embedder: embedder_id.clone(),
            dim,
            last_indexed_id: last,
        };
        let stamp: Option<Stamp> = std::fs::read(dir.join(STAMP))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut reason = match &stamp {
            None => Some("no index yet".to_owned()),
            Some(s) if s.schema != SCHEMA_VERSION => {
                Some(format!("index schema {} → {SCHEMA_VERSION}", s.schema))
            }
            Some(s) if s.embedder != embedder.id() || s.dim != embedder.dim() => Some(format!(
                "embedder {} ({}d) → {} ({}d)",
                s.embedder,
                s.dim,
                embedder.id(),
                embedder.dim()
            )),
            Some(_) => None,
        };
        let opened = if reason.is_none() {
            match (
                TextIndex::open_or_create(&dir.join("tantivy")),
                VectorIndex::load(&dir.join("vectors"), embedder.dim()),
            ) {
                (Ok(t), Ok(v)) => Some((t, v)),
                (Err(e), _) | (_, Err(e)) => {
                    reason = Some(format!("index unreadable: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let (text, vectors, last) = match opened {
            Some((t, v)) => (t, v, stamp.map(|s| s.last_indexed_id).unwrap_or(0)),
            None => {
                tracing::warn!(
                    reason = reason.as_deref().unwrap_or(""),
                    "rebuilding the search indexes from SQLite"
                );
                wipe(&dir.join("tantivy"))?;
                wipe(&dir.join("vectors"))?;
                (
                    TextIndex::open_or_create(&dir.join("tantivy"))?,
                    VectorIndex::new(embedder.dim(), 0),
                    0,
                )
            }
        };
        let index = Self {
            status: Mutex::new(IndexStatus {
                state: "indexing".into(),
                documents: text.num_docs(),
                vectors: vectors.len(),
                last_indexed_id: last,
                embedder: embedder.id().to_owned(),
                embedder_fallback,
                rebuild_reason: reason,
                last_error: None,
            }),
            dir: dir.to_owned(),
            text,
            vectors: RwLock::new(vectors),
            embedder,
            fusion,
            unsaved: Mutex::new((0, Instant::now())),
        };
        index.write_stamp(want(last))?;
        Ok(index)
    }

    fn write_stamp(&self, stamp: Stamp) -> Result<(), SearchError> {
        let tmp = self.dir.join(format!("{STAMP}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&stamp)?)?;
        std::fs::rename(tmp, self.dir.join(STAMP))?;
        Ok(())
    }

    pub fn status(&self) -> IndexStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    pub fn last_indexed_id(&self) -> i64 {
        self.status().last_indexed_id
    }

    fn update(&self, f: impl FnOnce(&mut IndexStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    pub fn set_state(&self, state: &str) {
        self.update(|s| s.state = state.to_owned());
    }

    pub fn record_error(&self, e: &SearchError) {
        tracing::error!(error = %e, "indexing failed");
        self.update(|s| s.last_error = Some(e.to_string()));
    }

    /// Indexes documents (ids ascending) in both indexes. Blocking: embedding is CPU work.
    pub fn index(&self, docs: &[Doc]) -> Result<(), SearchError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.text.add(docs)?;
        self.text.commit()?;
        let texts: Vec<String> = docs.iter().map(Doc::embedding_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut vectors = Vec::with_capacity(docs.len());
        for chunk in refs.chunks(32) {
            vectors.extend(
                self.embedder
                    .embed(chunk)
                    .map_err(|e| SearchError::Embed(e.to_string()))?,
            );
        }
        let items = docs
            .iter()
            .zip(vectors)
            .map(|(d, v)| {
                (
                    d.id,
                    v,
                    VectorMeta {
                        project: d.project.clone(),
                        kind: d.kind.clone(),
                        created_at: d.created_at,
                    },
                )
            })
            .collect();
        let count = {
            let mut guard = self
                .vectors
                .write()
                .map_err(|_| SearchError::Vector("lock poisoned".into()))?;
            guard.insert(items)?;
            guard.len()
        };
        let last = docs.iter().map(|d| d.id).max().unwrap_or(0);
        self.update(|s| {
            s.documents = self.text.num_docs();
            s.vectors = count;
            s.last_indexed_id = s.last_indexed_id.max(last);
        });
        let due = {
            let mut u = self
                .unsaved
                .lock()
                .map_err(|_| SearchError::Vector("lock poisoned".into()))?;
            u.0 += docs.len();
            u.0 >= 2000 || u.1.elapsed().as_secs() >= 30
        };
        if due {
            self.save()?;
        }
        Ok(())
    }

    /// Persists the vectors and the stamp (the text index commits on every batch).
    pub fn save(&self) -> Result<(), SearchError> {
        {
            let guard = self
                .vectors
                .read()
                .map_err(|_| SearchError::Vector("lock poisoned".into()))?;
            guard.save(&self.dir.join("vectors"))?;
        }
        self.write_stamp(Stamp {
            schema: SCHEMA_VERSION,
            embedder: self.embedder.id().to_owned(),
            dim: self.embedder.dim(),
            last_indexed_id: self.last_indexed_id(),
        })?;
        if let Ok(mut u) = self.unsaved.lock() {
            *u = (0, Instant::now());
        }
        Ok(())
    }

    /// Forgets everything; the indexer then refills from SQLite (`claude-mem reindex`).
    pub fn reset(&self) -> Result<(), SearchError> {
        self.text.clear()?;
        {
            let mut guard = self
                .vectors
                .write()
                .map_err(|_| SearchError::Vector("lock poisoned".into()))?;
            *guard = VectorIndex::new(self.embedder.dim(), 0);
        }
        self.update(|s| {
            s.last_indexed_id = 0;
            s.documents = 0;
            s.vectors = 0;
            s.state = "indexing".into();
            s.rebuild_reason = Some("requested".into());
        });
        self.save()
    }

    pub fn delete(&self, id: i64) -> Result<(), SearchError> {
        self.delete_many(&[id])
    }

    /// Forgets these memories in both indexes with a single Tantivy commit (a commit per id made pruning
    /// thousands of memories take minutes). The vectors are tombstoned: the graph cannot unlink nodes, so
    /// many deletions are better served by a rebuild.
    pub fn delete_many(&self, ids: &[i64]) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        for id in ids {
            self.text.delete(*id)?;
        }
        self.text.commit()?;
        let count = match self.vectors.write() {
            Ok(mut v) => {
                for id in ids {
                    v.delete(*id);
                }
                v.len()
            }
            Err(_) => return Err(SearchError::Vector("lock poisoned".into())),
        };
        self.update(|s| {
            s.documents = self.text.num_docs();
            s.vectors = count;
        });
        Ok(())
    }

    /// Share of the exact top `k` neighbours the graph returns, averaged over `queries`: how much the
    /// approximate vector search gives up for its speed.
    pub fn vector_recall(&self, queries: &[&str], k: usize) -> Result<f64, SearchError> {
        let guard = self
            .vectors
            .read()
            .map_err(|_| SearchError::Vector("lock poisoned".into()))?;
        let mut sum = 0.0;
        let mut n = 0usize;
        for q in queries {
            let v = self
                .embedder
                .embed(&[q])
                .map_err(|e| SearchError::Embed(e.to_string()))?
                .pop()
                .unwrap_or_default();
            let exact: HashSet<i64> = guard.exact_search(&v, k).into_iter().map(|h| h.0).collect();
            if exact.is_empty() {
                continue;
            }
            let found = guard
                .search(&v, &Filters::default(), k)
                .into_iter()
                .filter(|h| exact.contains(&h.0))
                .count();
            sum += found as f64 / exact.len() as f64;
            n += 1;
        }
        Ok(if n == 0 { 1.0 } else { sum / n as f64 })
    }

    /// Nearest stored vectors to the embedded query, with the milliseconds spent embedding and searching.
    fn vector_candidates(
        &self,
        query: &str,
        mode: Mode,
        filters: &Filters,
        candidates: usize,
    ) -> Result<VectorCandidates, SearchError> {
        if mode == Mode::Text || query.trim().is_empty() {
            return Ok((Vec::new(), 0.0, 0.0));
        }
        let t = Instant::now();
        let q = self
            .embedder
            .embed(&[query])
            .map_err(|e| SearchError::Embed(e.to_string()))?
            .pop()
            .unwrap_or_default();
        let embed_ms = t.elapsed().as_secs_f64() * 1000.0;
        let guard = self
            .vectors
            .read()
            .map_err(|_| SearchError::Vector("lock poisoned".into()))?;
        let t = Instant::now();
        let hits = guard.search(&q, filters, candidates);
        Ok((hits, embed_ms, t.elapsed().as_secs_f64() * 1000.0))
    }

    /// `mode` picks the candidate sources; hybrid fuses both. Blocking (the query is embedded).
    pub fn search(
        &self,
        query: &str,
        mode: Mode,
        filters: &Filters,
        limit: usize,
    ) -> Result<SearchOutcome, SearchError> {
        let candidates = (limit * 3).max(30);
        // Text and vector candidates are independent: fetched side by side, a hybrid query costs the
        // slower of the two rather than their sum.
        let (text, vector) = rayon::join(
            || {
                let t = Instant::now();
                let hits = if mode == Mode::Vector {
                    Ok(Vec::new())
                } else {
                    self.text.search(query, filters, candidates)
                };
                (hits, t.elapsed().as_secs_f64() * 1000.0)
            },
            || self.vector_candidates(query, mode, filters, candidates),
        );
        let (text, text_ms) = (text.0?, text.1);
        let (vector, embed_ms, vector_ms) = vector?;
        let fuse_started = Instant::now();
        let hits = match mode {
            Mode::Hybrid => fuse(&text, &vector, self.fusion, limit),
            Mode::Text => fuse(
                &text,
                &[],
                Fusion::Weighted {
                    text: 1.0,
                    vector: 0.0,
                },
                limit,
            ),
            Mode::Vector => fuse(
                &[],
                &vector,
                Fusion::Weighted {
                    text: 0.0,
                    vector: 1.0,
                },
                limit,
            ),
        };
        // What the query costs when its embedding is free (cached, or computed elsewhere): the slower
        // candidate source plus fusion.
        let search_ms = text_ms.max(vector_ms) + fuse_started.elapsed().as_secs_f64() * 1000.0;
        Ok(SearchOutcome {
            hits,
            embed_ms,
            search_ms,
        })
    }
}
