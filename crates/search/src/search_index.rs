//! The two indexes together: opening (or deciding to rebuild), incremental indexing from SQLite,
//! hybrid queries, and the status `/api/health` reports.

use crate::fusion::{calibration, lexical_lean, rank, Candidate, QueryScale};
use crate::text_index::TextIndex;
use crate::vector_index::{VectorIndex, VectorMeta};
use crate::{Doc, Filters, Fusion, Hit, Mode, SearchError};
use claude_mem_embed::Embedder;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Bumped whenever what is indexed or how changes: a different stamp means rebuild.
pub const SCHEMA_VERSION: u32 = 2;

const STAMP: &str = "index.json";
/// The text side of a query: BM25 hits best first, the query's reference score, milliseconds.
type TextSide = (Vec<(i64, f32)>, f32, f64);
/// The vector side: the query's vector, (id, cosine) best first, milliseconds embedding and searching.
type VectorSide = (Vec<f32>, Vec<(i64, f32)>, f64, f64);
/// Candidates each side contributes to a query: enough that a relevant memory one side ranks poorly can
/// still be lifted by the other, few enough that filling in the missing side stays under a millisecond.
pub const CANDIDATE_POOL: usize = 100;

/// One search: what to look for, how, and which page of the ranking to return.
#[derive(Debug, Clone, Copy)]
pub struct SearchRequest<'a> {
    pub query: &'a str,
    pub mode: Mode,
    pub filters: &'a Filters,
    pub limit: usize,
    pub offset: usize,
    /// Calibrated relevance (0..1) under which hits are dropped; `None`: the mode's default floor.
    pub min_score: Option<f32>,
}

impl<'a> SearchRequest<'a> {
    /// Per-prompt recall: a hybrid search in the prompt's project whose floor is
    /// [`calibration::RECALL_MIN_SCORE`], higher than search's, because what recall finds is injected
    /// unasked into every prompt: a miss costs little, noise costs tokens and attention each time.
    pub fn recall(prompt: &'a str, filters: &'a Filters, limit: usize) -> Self {
        Self {
            min_score: Some(calibration::RECALL_MIN_SCORE),
            ..Self::new(prompt, Mode::Hybrid, filters, limit)
        }
    }

    /// The first `limit` hits with the default floor.
    pub fn new(query: &'a str, mode: Mode, filters: &'a Filters, limit: usize) -> Self {
        Self {
            query,
            mode,
            filters,
            limit,
            offset: 0,
            min_score: None,
        }
    }
}

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

/// A query's candidates, filled in on both sides, with their calibration scale and what finding them
/// cost.
#[derive(Debug, Clone)]
pub struct Pooled {
    pub candidates: Vec<Candidate>,
    pub scale: QueryScale,
    pub embed_ms: f64,
    pub search_ms: f64,
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

    /// Embeds the query: the vector and the milliseconds it took.
    fn embed_query(&self, query: &str) -> Result<(Vec<f32>, f64), SearchError> {
        let t = Instant::now();
        let q = self
            .embedder
            .embed(&[query])
            .map_err(|e| SearchError::Embed(e.to_string()))?
            .pop()
            .unwrap_or_default();
        Ok((q, t.elapsed().as_secs_f64() * 1000.0))
    }

    fn read_vectors(&self) -> Result<std::sync::RwLockReadGuard<'_, VectorIndex>, SearchError> {
        self.vectors
            .read()
            .map_err(|_| SearchError::Vector("lock poisoned".into()))
    }

    /// Both sides' candidates for `query` (up to `pool` each), every one filled in on both sides in
    /// hybrid mode, with what calibrating them needs. `search` ranks these; the evaluation exports them.
    pub fn candidates(
        &self,
        query: &str,
        mode: Mode,
        filters: &Filters,
        pool: usize,
    ) -> Result<Pooled, SearchError> {
        let use_text = mode != Mode::Vector;
        let use_vector = mode != Mode::Text && !query.trim().is_empty();
        // Text and vector candidates are independent: fetched side by side, a hybrid query costs the
        // slower of the two rather than their sum.
        let (text, vector) = rayon::join(
            || -> Result<TextSide, SearchError> {
                if !use_text {
                    return Ok((Vec::new(), 0.0, 0.0));
                }
                let t = Instant::now();
                let hits = self.text.search(query, filters, pool)?;
                let reference = self.text.reference(query);
                Ok((hits, reference, t.elapsed().as_secs_f64() * 1000.0))
            },
            || -> Result<VectorSide, SearchError> {
                if !use_vector {
                    return Ok((Vec::new(), Vec::new(), 0.0, 0.0));
                }
                let (q, embed_ms) = self.embed_query(query)?;
                let t = Instant::now();
                let hits = self.read_vectors()?.search(&q, filters, pool);
                Ok((q, hits, embed_ms, t.elapsed().as_secs_f64() * 1000.0))
            },
        );
        let (text, reference, text_ms) = text?;
        let (query_vector, vector, embed_ms, vector_ms) = vector?;
        let fill_started = Instant::now();
        let mut candidates: Vec<Candidate> = Vec::with_capacity(text.len() + vector.len());
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for (id, s) in &text {
            seen.insert(*id, candidates.len());
            candidates.push(Candidate {
                id: *id,
                bm25: Some(*s),
                coverage: 0.0,
                cosine: None,
            });
        }
        for (id, c) in &vector {
            match seen.get(id) {
                Some(at) => candidates[*at].cosine = Some(*c),
                None => {
                    seen.insert(*id, candidates.len());
                    candidates.push(Candidate {
                        id: *id,
                        bm25: None,
                        coverage: 0.0,
                        cosine: Some(*c),
                    });
                }
            }
        }
        let mut background = None;
        if mode == Mode::Hybrid || mode == Mode::Vector {
            let guard = self.read_vectors()?;
            background = guard.background(&query_vector);
            if mode == Mode::Hybrid {
                // The other side of one-sided candidates: real cosines for text-only hits...
                let missing: Vec<i64> = candidates
                    .iter()
                    .filter(|c| c.cosine.is_none())
                    .map(|c| c.id)
                    .collect();
                for (id, c) in guard.similarities(&query_vector, &missing) {
                    if let Some(at) = seen.get(&id) {
                        candidates[*at].cosine = Some(c);
                    }
                }
            }
        }
        if mode == Mode::Hybrid {
            // ...and real BM25 for vector-only hits (absent: no query word matches).
            let missing: Vec<i64> = candidates
                .iter()
                .filter(|c| c.bm25.is_none())
                .map(|c| c.id)
                .collect();
            for (id, s) in self.text.score_ids(query, filters, &missing)? {
                if let Some(at) = seen.get(&id) {
                    candidates[*at].bm25 = Some(s);
                }
            }
        }
        if use_text {
            let ids: Vec<i64> = candidates.iter().map(|c| c.id).collect();
            let shares = self.text.coverage(query, &ids)?;
            for c in &mut candidates {
                c.coverage = shares.get(&c.id).copied().unwrap_or(0.0).min(1.0);
            }
        }
        Ok(Pooled {
            candidates,
            scale: QueryScale {
                reference,
                background,
                lean: lexical_lean(query),
                semantic: self.embedder.semantic(),
            },
            embed_ms,
            search_ms: text_ms.max(vector_ms) + fill_started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Ranks memories for `request.query`. Each side contributes a fixed pool of candidates (never
    /// derived from `limit`, so a longer page only shows more of the same ranking), every candidate is
    /// scored on both sides, and hits under the floor (`min_score`, default
    /// [`calibration::MIN_SCORE`] in hybrid and vector modes, none in text mode) are dropped.
    /// Blocking (the query is embedded).
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchOutcome, SearchError> {
        let SearchRequest {
            query,
            mode,
            filters,
            limit,
            offset,
            min_score,
        } = *request;
        let pool = CANDIDATE_POOL.max(offset + limit);
        let pooled = self.candidates(query, mode, filters, pool)?;
        let (candidates, scale) = (pooled.candidates, pooled.scale);
        let rank_started = Instant::now();
        let floor = min_score.unwrap_or(match mode {
            Mode::Text => 0.0,
            Mode::Hybrid if !scale.semantic => calibration::LEXICAL_EMBEDDER_MIN_SCORE,
            Mode::Hybrid | Mode::Vector => calibration::MIN_SCORE,
        });
        let hits: Vec<Hit> = rank(&candidates, scale, mode, self.fusion)
            .into_iter()
            .filter(|h| h.score >= floor && h.score > 0.0)
            .skip(offset)
            .take(limit)
            .collect();
        // What the query costs when its embedding is free (cached, or computed elsewhere): the slower
        // candidate source, filling in the other sides, and ranking.
        Ok(SearchOutcome {
            hits,
            embed_ms: pooled.embed_ms,
            search_ms: pooled.search_ms + rank_started.elapsed().as_secs_f64() * 1000.0,
        })
    }
}
