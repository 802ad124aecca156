//! The indexes together: opening (or deciding to rebuild), incremental indexing from SQLite, hybrid
//! queries, and the status `/api/health` reports.
//!
//! Each [`Source`] (observations, session summaries, prompts) has its own Tantivy index and vector graph
//! (a *part*): observations in `index/tantivy` and `index/vectors` as before, summaries and prompts in
//! `index/summaries/` and `index/prompts/`. Separate parts keep a search of observations exactly what it
//! was (same candidates, same IDF and background statistics), let `kind=` filter without spending the
//! candidate pool on other kinds, and calibrate each kind against its own kind. A search over several
//! kinds ranks each part and merges by the calibrated relevance, which is comparable across queries and
//! therefore across parts.

use crate::fusion::{calibration, lexical_lean, rank, Candidate, QueryScale};
use crate::text_index::TextIndex;
use crate::vector_index::{VectorIndex, VectorMeta};
use crate::{Doc, Filters, Fusion, Hit, Mode, SearchError, Source};
use claude_mem_core::store::vectors::{round_trip, VectorEncoding};
use claude_mem_embed::Embedder;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Bumped whenever what is indexed or how changes: a different stamp means rebuild (but see
/// [`UPGRADABLE_SCHEMA`]).
pub const SCHEMA_VERSION: u32 = 3;
/// Schema 2 indexed observations alone, exactly as schema 3 still indexes them. An index stamped 2 keeps
/// its observations and only gains empty summary and prompt parts, which the indexer fills from SQLite:
/// re-embedding every observation would cost hours of CPU with the local model on a large store and
/// change nothing.
const UPGRADABLE_SCHEMA: u32 = 2;
/// Searching observations only, the default.
const OBSERVATIONS: &[Source] = &[Source::Observation];

const STAMP: &str = "index.json";
/// The lock file a process holds while it has the index open.
const LOCK: &str = ".lock";
/// The text side of a query: BM25 hits best first, the query's reference score, milliseconds.
type TextSide = (Vec<(i64, f32)>, f32, f64);
/// The vector side: the query's vector, (id, cosine) best first, milliseconds embedding and searching.
type VectorSide = (Vec<f32>, Vec<(i64, f32)>, f64, f64);
/// Texts embedded per model call while indexing: the cancellation point of a backlog (a SIGTERM waits
/// for one batch at most, ~0.3 s with MiniLM on 2 cores) and what bounds the model's activations.
pub const EMBED_BATCH: usize = 8;
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
    /// Which kinds of memory to search (default: observations). Each is ranked in its own part and the
    /// rankings are merged by relevance; `filters.kind` (an observation type) leaves the other kinds out.
    pub sources: &'a [Source],
    /// Only these keys ([`Source::key`]), every one scored on both sides rather than drawn from a
    /// candidate pool (a narrow filter such as a file must not depend on what else ranks high). The
    /// caller has checked them against `filters` already: the vector side cannot.
    pub only: Option<&'a [i64]>,
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
            sources: OBSERVATIONS,
            only: None,
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
    /// The same for session summaries and prompts, each its own cursor (ids of different tables are
    /// unrelated). Absent from schema 2 stamps: nothing of theirs was indexed.
    #[serde(default)]
    last_indexed_summary_id: i64,
    #[serde(default)]
    last_indexed_prompt_id: i64,
}

/// `index` in `/api/health` and `/api/search` (described in the OpenAPI document: the viewer's type is
/// generated from it).
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct IndexStatus {
    /// `ready`, `indexing` (catching up after a start or a rebuild) or `failed`.
    pub state: String,
    /// Observations in the full-text index: what `doctor` and scripts compare with the observation
    /// count, so summaries and prompts are counted apart.
    pub documents: u64,
    /// Observation vectors.
    pub vectors: usize,
    pub last_indexed_id: i64,
    /// Session summaries indexed, and the highest summary id the indexer has passed.
    pub summaries: u64,
    pub last_indexed_summary_id: i64,
    /// User prompts indexed, and the highest prompt id the indexer has passed.
    pub prompts: u64,
    pub last_indexed_prompt_id: i64,
    pub embedder: String,
    /// Why the real model is not in use, when it is not.
    #[schema(required = true)]
    pub embedder_fallback: Option<String>,
    /// Why the indexes were rebuilt at start, if they were.
    #[schema(required = true)]
    pub rebuild_reason: Option<String>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// Memory texts this process has embedded with the model (queries excluded). Vectors stored in the
    /// database are reused instead, so a restart, a graph rebuild or a reindex adds nothing here.
    pub embedded: u64,
    /// Vectors put back into the graphs from the database (no model call) since the start.
    pub vectors_restored: u64,
    /// How new vectors are stored in the database: `f32` or `int8`.
    pub vector_encoding: String,
    /// A switch to another embedder under way: it embeds every memory in the background while the
    /// current embedder and its vectors keep serving, and takes over when it is done.
    #[schema(required = true)]
    pub reembed: Option<ReembedStatus>,
}

/// Progress of a background switch to another embedder.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReembedStatus {
    pub embedder: String,
    /// Memories (all sources) that have a vector of the new embedder.
    pub done: u64,
    pub total: u64,
}

/// One source's indexes.
struct Part {
    text: TextIndex,
    vectors: RwLock<VectorIndex>,
    /// Vectors changed since they were last saved: only changed graphs are dumped (a prompt must not
    /// cost rewriting the whole observation graph).
    dirty: AtomicBool,
}

impl Part {
    /// Where a source's indexes live under the index directory. Observations stay where schema 2 put
    /// them, so an upgrade keeps them.
    fn dir(root: &Path, source: Source) -> PathBuf {
        match source {
            Source::Observation => root.to_owned(),
            Source::Summary => root.join("summaries"),
            Source::Prompt => root.join("prompts"),
        }
    }

    /// Opens a part's indexes. A graph that cannot be loaded (missing, damaged, another dimension) is
    /// not an error: the part opens with an empty graph and the reason, and the graph is rebuilt from
    /// the vectors stored in the database ([`crate::durable::restore`]). Only an unreadable full-text
    /// index fails.
    fn open(
        root: &Path,
        source: Source,
        dim: usize,
    ) -> Result<(Self, Option<String>), SearchError> {
        let text = Self::open_text(root, source)?;
        let dir = Self::dir(root, source).join("vectors");
        let (vectors, lost) = match VectorIndex::load(&dir, dim) {
            Ok(v) => (v, None),
            Err(e) => (VectorIndex::new(dim, 0), Some(e.to_string())),
        };
        Ok((
            Self {
                text,
                vectors: RwLock::new(vectors),
                dirty: AtomicBool::new(lost.is_some()),
            },
            lost,
        ))
    }

    /// The full-text index kept, the graph emptied (vectors of another embedder): to be rebuilt from the
    /// vectors stored for the new one. Nothing is saved in the graph's place until then: a crash before
    /// the rebuilt graph is saved leaves no loadable graph, so the next start rebuilds it again instead
    /// of loading an empty one.
    fn keep_text(root: &Path, source: Source, dim: usize) -> Result<Self, SearchError> {
        let text = Self::open_text(root, source)?;
        wipe(&Self::dir(root, source).join("vectors"))?;
        Ok(Self {
            text,
            vectors: RwLock::new(VectorIndex::new(dim, 0)),
            dirty: AtomicBool::new(true),
        })
    }

    fn open_text(root: &Path, source: Source) -> Result<TextIndex, SearchError> {
        let dir = Self::dir(root, source);
        // Tantivy checks every file's checksum when it opens (`TextIndex::open_or_create`); a panic on a
        // file too damaged for even that is a rebuild too, not a dead worker.
        let tantivy = dir.join("tantivy");
        let text =
            std::panic::catch_unwind(|| TextIndex::open_or_create(&tantivy)).map_err(|_| {
                SearchError::Incompatible(format!(
                    "the full-text index in {} is damaged",
                    tantivy.display()
                ))
            })??;
        Ok(text)
    }

    /// Empty indexes, whatever was there before. The (empty) vectors are saved at once, so a stamp
    /// written next never points at a part whose files are missing.
    fn fresh(root: &Path, source: Source, dim: usize) -> Result<Self, SearchError> {
        let dir = Self::dir(root, source);
        wipe(&dir.join("tantivy"))?;
        wipe(&dir.join("vectors"))?;
        let vectors = VectorIndex::new(dim, 0);
        vectors.save(&dir.join("vectors"))?;
        Ok(Self {
            text: TextIndex::open_or_create(&dir.join("tantivy"))?,
            vectors: RwLock::new(vectors),
            dirty: AtomicBool::new(false),
        })
    }

    fn read_vectors(&self) -> Result<std::sync::RwLockReadGuard<'_, VectorIndex>, SearchError> {
        self.vectors
            .read()
            .map_err(|_| SearchError::Vector("lock poisoned".into()))
    }

    fn write_vectors(&self) -> Result<std::sync::RwLockWriteGuard<'_, VectorIndex>, SearchError> {
        self.vectors
            .write()
            .map_err(|_| SearchError::Vector("lock poisoned".into()))
    }

    fn vector_count(&self) -> usize {
        self.read_vectors().map(|v| v.len()).unwrap_or(0)
    }
}

pub struct SearchIndex {
    /// Held (an exclusive advisory lock on `index/.lock`) for as long as the index is open, so a
    /// worker and an offline `claude-mem reindex` never rebuild under each other.
    _lock: std::fs::File,
    dir: PathBuf,
    observations: Part,
    summaries: Part,
    prompts: Part,
    /// Swapped once at most in a worker's life: when the model arrives while it runs
    /// ([`SearchIndex::switch_embedder`]).
    embedder: RwLock<Arc<dyn Embedder>>,
    fusion: Fusion,
    status: Mutex<IndexStatus>,
    unsaved: Mutex<(usize, Instant)>,
    /// How vectors are stored in the database; the graph is given them as they read back, so a graph
    /// rebuilt from the database is the graph that was built live.
    encoding: VectorEncoding,
    /// Parts whose graph could not be loaded at open: [`crate::durable::restore`] rebuilds them from the
    /// stored vectors.
    lost: Mutex<Vec<Source>>,
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

/// Takes the index directory's lock, or says who has it.
fn lock_dir(dir: &Path) -> Result<std::fs::File, SearchError> {
    use fs4::fs_std::FileExt;
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    if !file.try_lock_exclusive()? {
        return Err(SearchError::InUse(dir.display().to_string()));
    }
    Ok(file)
}

/// One derived file (or group of files) `claude-mem doctor` checked: what, and what is wrong with it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileCheck {
    pub what: String,
    /// `None`: sound.
    pub problem: Option<String>,
}

/// Checks the index files under `dir` the way a start does, reading them without taking the lock or
/// changing anything (a running worker may hold it): the stamp, each part's vector files against their
/// manifest, and each Tantivy index's checksums. A damaged file is what the worker rebuilds at its
/// next start; `claude-mem reindex` rebuilds now.
pub fn check_files(dir: &Path) -> Vec<FileCheck> {
    let mut checks = Vec::new();
    let stamp = std::fs::read(dir.join(STAMP))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Stamp>(&b).map_err(|e| e.to_string()));
    checks.push(FileCheck {
        what: STAMP.to_owned(),
        problem: stamp.err(),
    });
    for source in Source::ALL {
        let part = Part::dir(dir, source);
        let vectors = part.join("vectors");
        let problem = match crate::vector_index::verify_files(&vectors) {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "no {} (written by an older version, or lost)",
                crate::vector_index::MANIFEST
            )),
            Err(e) => Some(e.to_string()),
        };
        checks.push(FileCheck {
            what: format!("{} vectors", source.as_str()),
            problem,
        });
        let tantivy = part.join("tantivy");
        let problem = std::panic::catch_unwind(|| -> Result<(), String> {
            let index = tantivy::Index::open_in_dir(&tantivy).map_err(|e| e.to_string())?;
            let damaged = index.validate_checksum().map_err(|e| e.to_string())?;
            if damaged.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "checksum mismatch in {}",
                    damaged
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        })
        .unwrap_or_else(|_| Err("the full-text index is damaged".into()))
        .err();
        checks.push(FileCheck {
            what: format!("{} full text", source.as_str()),
            problem,
        });
    }
    checks
}

impl SearchIndex {
    /// Opens the indexes under `dir`, rebuilding from scratch (empty, to be filled from SQLite by the
    /// indexer) when they are missing, corrupt, or stamped by another schema or embedder. A schema 2
    /// index keeps its observations and gains empty summary and prompt parts.
    pub fn open(
        dir: &Path,
        embedder: Arc<dyn Embedder>,
        embedder_fallback: Option<String>,
        fusion: Fusion,
    ) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let dim = embedder.dim();
        let stamp: Option<Stamp> = std::fs::read(dir.join(STAMP))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut reason = match &stamp {
            None => Some("no index yet".to_owned()),
            Some(s) if s.schema != SCHEMA_VERSION && s.schema != UPGRADABLE_SCHEMA => {
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
        let upgrading = reason.is_none()
            && stamp
                .as_ref()
                .is_some_and(|s| s.schema == UPGRADABLE_SCHEMA);
        // Another embedder's stamp on a current schema: the full-text indexes do not depend on the
        // embedder and are kept; only the graphs are rebuilt, from the vectors stored for this embedder.
        let embedder_changed = reason.is_some()
            && stamp.as_ref().is_some_and(|s| {
                s.schema == SCHEMA_VERSION && (s.embedder != embedder.id() || s.dim != dim)
            });
        let mut lost: Vec<Source> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        let opened = if reason.is_none() || embedder_changed {
            let mut open_part = |source: Source| -> Result<Part, SearchError> {
                if embedder_changed {
                    lost.push(source);
                    return Part::keep_text(dir, source, dim);
                }
                if upgrading && source != Source::Observation {
                    return Part::fresh(dir, source, dim);
                }
                let (part, problem) = Part::open(dir, source, dim)?;
                if let Some(problem) = problem {
                    lost.push(source);
                    problems.push(format!("{} vectors: {problem}", source.as_str()));
                }
                Ok(part)
            };
            let parts = (|| -> Result<(Part, Part, Part), SearchError> {
                Ok((
                    open_part(Source::Observation)?,
                    open_part(Source::Summary)?,
                    open_part(Source::Prompt)?,
                ))
            })();
            match parts {
                Ok(parts) => Some(parts),
                Err(e) => {
                    lost.clear();
                    reason = Some(format!("index unreadable: {e}"));
                    None
                }
            }
        } else {
            None
        };
        if !problems.is_empty() && reason.is_none() {
            reason = Some(format!(
                "index unreadable: {}; the graphs are rebuilt from the vectors in the database",
                problems.join("; ")
            ));
        }
        if embedder_changed && !lost.is_empty() {
            if let Some(r) = reason.as_mut() {
                r.push_str(": full text kept, vectors from the database or embedded anew");
            }
        }
        let (parts, stamp) = match opened {
            Some(parts) => {
                let mut stamp = stamp.unwrap_or_else(|| Stamp {
                    schema: SCHEMA_VERSION,
                    embedder: embedder.id().to_owned(),
                    dim,
                    last_indexed_id: 0,
                    last_indexed_summary_id: 0,
                    last_indexed_prompt_id: 0,
                });
                stamp.embedder = embedder.id().to_owned();
                stamp.dim = dim;
                if upgrading {
                    reason = Some(format!(
                        "index schema {UPGRADABLE_SCHEMA} → {SCHEMA_VERSION}: summaries and prompts \
                         are indexed from SQLite, observations are kept"
                    ));
                    tracing::info!("adding summaries and prompts to the search indexes");
                    stamp.last_indexed_summary_id = 0;
                    stamp.last_indexed_prompt_id = 0;
                }
                (parts, stamp)
            }
            None => {
                tracing::warn!(
                    reason = reason.as_deref().unwrap_or(""),
                    "rebuilding the search indexes from SQLite"
                );
                let parts = (
                    Part::fresh(dir, Source::Observation, dim)?,
                    Part::fresh(dir, Source::Summary, dim)?,
                    Part::fresh(dir, Source::Prompt, dim)?,
                );
                let stamp = Stamp {
                    schema: SCHEMA_VERSION,
                    embedder: embedder.id().to_owned(),
                    dim,
                    last_indexed_id: 0,
                    last_indexed_summary_id: 0,
                    last_indexed_prompt_id: 0,
                };
                (parts, stamp)
            }
        };
        let (observations, summaries, prompts) = parts;
        let index = Self {
            _lock: lock,
            status: Mutex::new(IndexStatus {
                state: "indexing".into(),
                documents: observations.text.num_docs(),
                vectors: observations.vector_count(),
                last_indexed_id: stamp.last_indexed_id,
                summaries: summaries.text.num_docs(),
                last_indexed_summary_id: stamp.last_indexed_summary_id,
                prompts: prompts.text.num_docs(),
                last_indexed_prompt_id: stamp.last_indexed_prompt_id,
                embedder: embedder.id().to_owned(),
                embedder_fallback,
                rebuild_reason: reason,
                last_error: None,
                vector_encoding: VectorEncoding::default().as_str().to_owned(),
                ..IndexStatus::default()
            }),
            dir: dir.to_owned(),
            observations,
            summaries,
            prompts,
            embedder: RwLock::new(embedder),
            fusion,
            unsaved: Mutex::new((0, Instant::now())),
            encoding: VectorEncoding::default(),
            lost: Mutex::new(lost),
        };
        index.write_stamp(Stamp {
            schema: SCHEMA_VERSION,
            ..stamp
        })?;
        Ok(index)
    }

    fn part(&self, source: Source) -> &Part {
        match source {
            Source::Observation => &self.observations,
            Source::Summary => &self.summaries,
            Source::Prompt => &self.prompts,
        }
    }

    fn write_stamp(&self, stamp: Stamp) -> Result<(), SearchError> {
        claude_mem_core::paths::write_atomically(
            &self.dir.join(STAMP),
            &serde_json::to_vec_pretty(&stamp)?,
        )?;
        Ok(())
    }

    pub fn status(&self) -> IndexStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The embedder in use now (a clone of the handle: a switch may replace it at any time).
    pub fn embedder(&self) -> Arc<dyn Embedder> {
        match self.embedder.read() {
            Ok(e) => e.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the embedder and empties every part, as a start with another embedder's stamp would
    /// (the same rebuild: the indexer refills from SQLite past the reset cursors). For the worker that
    /// was running on the hashing fallback when the model finished downloading. The caller must be
    /// the indexer task (or hold it off): a page embedded with the old embedder and stored after the
    /// reset would mix two vector spaces. The dimension must stay the same, so a query embedded just
    /// before the switch still fits the graph it searches.
    pub fn switch_embedder(
        &self,
        embedder: Arc<dyn Embedder>,
        fallback: Option<String>,
    ) -> Result<(), SearchError> {
        let old = self.embedder();
        if old.dim() != embedder.dim() {
            return Err(SearchError::Vector(format!(
                "cannot switch from {} ({}d) to {} ({}d) while running",
                old.id(),
                old.dim(),
                embedder.id(),
                embedder.dim()
            )));
        }
        let reason = format!("embedder {} → {}", old.id(), embedder.id());
        tracing::info!(
            from = old.id(),
            to = embedder.id(),
            "switching embedders: re-embedding every memory"
        );
        let id = embedder.id().to_owned();
        match self.embedder.write() {
            Ok(mut e) => *e = embedder,
            Err(poisoned) => *poisoned.into_inner() = embedder,
        }
        self.reset()?;
        self.update(|s| {
            s.embedder = id;
            s.embedder_fallback = fallback;
            s.rebuild_reason = Some(reason);
        });
        Ok(())
    }

    /// The highest observation id the indexer has passed.
    pub fn last_indexed_id(&self) -> i64 {
        self.status().last_indexed_id
    }

    /// The highest row id of `source` the indexer has passed: it resumes after it.
    pub fn last_indexed(&self, source: Source) -> i64 {
        let s = self.status();
        match source {
            Source::Observation => s.last_indexed_id,
            Source::Summary => s.last_indexed_summary_id,
            Source::Prompt => s.last_indexed_prompt_id,
        }
    }

    fn update(&self, f: impl FnOnce(&mut IndexStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Moves `source`'s cursor to at least `id`: the indexer passes a page whose rows could not all be
    /// indexed (ids no key can hold) without reading it again and again.
    pub fn advance(&self, source: Source, id: i64) {
        self.update(|s| {
            let cursor = match source {
                Source::Observation => &mut s.last_indexed_id,
                Source::Summary => &mut s.last_indexed_summary_id,
                Source::Prompt => &mut s.last_indexed_prompt_id,
            };
            *cursor = (*cursor).max(id);
        });
    }

    /// Re-reads every part's document and vector counts into the status.
    fn refresh_counts(&self) {
        let (documents, vectors) = (
            self.observations.text.num_docs(),
            self.observations.vector_count(),
        );
        let (summaries, prompts) = (self.summaries.text.num_docs(), self.prompts.text.num_docs());
        self.update(|s| {
            s.documents = documents;
            s.vectors = vectors;
            s.summaries = summaries;
            s.prompts = prompts;
        });
    }

    pub fn set_state(&self, state: &str) {
        self.update(|s| s.state = state.to_owned());
    }

    pub fn record_error(&self, e: &SearchError) {
        tracing::error!(error = %e, "indexing failed");
        self.update(|s| s.last_error = Some(e.to_string()));
    }

    /// Indexes documents (ids ascending within each source) in their source's indexes; each `Doc::id` is
    /// a key ([`Source::key`]), and one that no source made is skipped. Blocking: embedding is CPU work.
    /// Embeds every document whose vector is not in the graph yet; the worker's indexer goes through
    /// [`crate::durable::index_page`] instead, which reuses and stores vectors in the database.
    pub fn index(&self, docs: &[Doc]) -> Result<(), SearchError> {
        if docs.is_empty() {
            return Ok(());
        }
        let embedder = self.embedder();
        self.index_docs(docs, &HashMap::new(), &embedder, &AtomicBool::new(false))?;
        self.save_if_due(docs.len())
    }

    /// Saves when 2,000 documents or 30 s have gone by since the last save: the graph dump is the
    /// expensive part, so it is not paid per page.
    pub fn save_if_due(&self, indexed: usize) -> Result<(), SearchError> {
        let due = {
            let mut u = self
                .unsaved
                .lock()
                .map_err(|_| SearchError::Vector("lock poisoned".into()))?;
            u.0 += indexed;
            u.0 >= 2000 || u.1.elapsed().as_secs() >= 30
        };
        if due {
            self.save()?;
        }
        Ok(())
    }

    /// Indexes `docs` with `embedder` (which must be the index's own: a page embedded by an embedder
    /// that was switched away meanwhile is refused). Vectors come from the graph when it has them, then
    /// from `stored` (by key: vectors read from the database), and only the rest are embedded, in
    /// batches of [`EMBED_BATCH`] with `cancel` checked before each, so a shutdown abandons a backlog
    /// within one batch (nothing is indexed then: the cursor stays and the page is done again, with
    /// whatever vectors were stored). Returns the vectors it embedded, for the caller to store.
    pub fn index_docs(
        &self,
        docs: &[Doc],
        stored: &HashMap<i64, Vec<f32>>,
        embedder: &Arc<dyn Embedder>,
        cancel: &AtomicBool,
    ) -> Result<Vec<(i64, Vec<f32>, VectorMeta)>, SearchError> {
        let source_of = |d: &Doc| Source::of_key(d.id).map(|(s, _)| s);
        let first = docs.first().and_then(source_of);
        if let Some(source) = first.filter(|_| docs.iter().all(|d| source_of(d) == first)) {
            // The indexer's case: one source per page, no copies.
            return self.index_part(source, docs, stored, embedder, cancel);
        }
        let mut fresh = Vec::new();
        for source in Source::ALL {
            let mine: Vec<Doc> = docs
                .iter()
                .filter(|d| source_of(d) == Some(source))
                .cloned()
                .collect();
            fresh.extend(self.index_part(source, &mine, stored, embedder, cancel)?);
        }
        let foreign = docs.iter().filter(|d| source_of(d).is_none()).count();
        if foreign > 0 {
            tracing::warn!(
                foreign,
                "documents whose key names no source were not indexed"
            );
        }
        Ok(fresh)
    }

    /// Indexes one source's documents in its part and moves its cursor past them (see
    /// [`SearchIndex::index_docs`]).
    fn index_part(
        &self,
        source: Source,
        docs: &[Doc],
        stored: &HashMap<i64, Vec<f32>>,
        embedder: &Arc<dyn Embedder>,
        cancel: &AtomicBool,
    ) -> Result<Vec<(i64, Vec<f32>, VectorMeta)>, SearchError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let part = self.part(source);
        let meta = |d: &Doc| VectorMeta {
            project: d.project.clone(),
            kind: d.kind.clone(),
            created_at: d.created_at,
        };
        let present: HashSet<i64> = {
            let graph = part.read_vectors()?;
            docs.iter()
                .filter(|d| graph.contains(d.id))
                .map(|d| d.id)
                .collect()
        };
        let missing: Vec<&Doc> = docs
            .iter()
            .filter(|d| !present.contains(&d.id) && !stored.contains_key(&d.id))
            .collect();
        // Embedding first: it is the slow, cancellable step, and nothing is indexed until it is done.
        let mut fresh: Vec<(i64, Vec<f32>, VectorMeta)> = Vec::with_capacity(missing.len());
        for chunk in missing.chunks(EMBED_BATCH) {
            if cancel.load(Ordering::Acquire) {
                return Err(SearchError::Cancelled);
            }
            let texts: Vec<String> = chunk.iter().map(|d| d.embedding_text()).collect();
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
            self.update(|s| s.embedded += chunk.len() as u64);
            fresh.extend(chunk.iter().zip(vectors).map(|(d, v)| (d.id, v, meta(d))));
        }
        if self.embedder().id() != embedder.id() {
            return Err(SearchError::Incompatible(format!(
                "embedded with {}, but the index switched to {}",
                embedder.id(),
                self.embedder().id()
            )));
        }
        part.text.add(docs)?;
        part.text.commit()?;
        let embedded: HashMap<i64, &Vec<f32>> = fresh.iter().map(|(id, v, _)| (*id, v)).collect();
        let items: Vec<(i64, Vec<f32>, VectorMeta)> = docs
            .iter()
            .filter(|d| !present.contains(&d.id))
            .filter_map(|d| {
                let v = match stored.get(&d.id) {
                    Some(v) => v.clone(),
                    None => round_trip(self.encoding, embedded.get(&d.id)?),
                };
                Some((d.id, v, meta(d)))
            })
            .collect();
        if !items.is_empty() {
            part.write_vectors()?.insert(items)?;
            part.dirty.store(true, Ordering::Release);
        }
        let last = docs
            .iter()
            .filter_map(|d| Source::of_key(d.id))
            .map(|(_, id)| id)
            .max()
            .unwrap_or(0);
        self.refresh_counts();
        self.advance(source, last);
        Ok(fresh)
    }

    /// How vectors are stored in the database (and therefore what the graph is given). Set once,
    /// before the index is shared.
    pub fn set_vector_encoding(&mut self, encoding: VectorEncoding) {
        self.encoding = encoding;
        self.update(|s| s.vector_encoding = encoding.as_str().to_owned());
    }

    pub fn vector_encoding(&self) -> VectorEncoding {
        self.encoding
    }

    /// The parts whose graph was lost at open (each asked for once): to be rebuilt from stored vectors.
    pub fn take_lost(&self) -> Vec<Source> {
        self.lost
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Puts vectors read from the database into `source`'s graph (ids already there are skipped):
    /// a graph rebuilt without the model. Returns how many went in.
    pub fn restore_vectors(
        &self,
        source: Source,
        items: Vec<(i64, Vec<f32>, VectorMeta)>,
    ) -> Result<usize, SearchError> {
        let part = self.part(source);
        let n = part.write_vectors()?.insert(items)?;
        if n > 0 {
            part.dirty.store(true, Ordering::Release);
        }
        self.refresh_counts();
        self.update(|s| s.vectors_restored += n as u64);
        Ok(n)
    }

    /// Whether `source` has full-text documents its graph has no vector for (memories whose vectors were
    /// never stored: indexed before durable vectors, or by another embedder).
    pub fn has_vector_gap(&self, source: Source) -> bool {
        let part = self.part(source);
        (part.vector_count() as u64) < part.text.num_docs()
    }

    /// Moves `source`'s cursor back to the start: the indexer goes over its rows again, which re-adds
    /// their text (an upsert), skips vectors the graph has and embeds only the missing ones.
    pub fn rewind(&self, source: Source) {
        self.update(|s| match source {
            Source::Observation => s.last_indexed_id = 0,
            Source::Summary => s.last_indexed_summary_id = 0,
            Source::Prompt => s.last_indexed_prompt_id = 0,
        });
        self.set_state("indexing");
    }

    /// Whether the graph of the key's source has a live vector for it.
    pub fn has_vector(&self, key: i64) -> bool {
        let Some((source, _)) = Source::of_key(key) else {
            return false;
        };
        self.part(source)
            .read_vectors()
            .map(|g| g.contains(key))
            .unwrap_or(false)
    }

    /// Counts texts embedded for this index outside [`SearchIndex::index_docs`] (the durable indexer
    /// embeds ahead of indexing, to store vectors as it goes).
    pub fn count_embedded(&self, texts: usize) {
        self.update(|s| s.embedded += texts as u64);
    }

    /// Live vectors in `source`'s graph.
    pub fn vector_count(&self, source: Source) -> usize {
        self.part(source).vector_count()
    }

    /// Live vectors of `source`'s graph with their metadata (see [`VectorIndex::entries`]).
    pub fn graph_entries(
        &self,
        source: Source,
    ) -> Result<Vec<(i64, Vec<f32>, VectorMeta)>, SearchError> {
        Ok(self.part(source).read_vectors()?.entries())
    }

    /// Records the progress of a background switch to another embedder (`None`: none under way).
    pub fn set_reembed(&self, reembed: Option<ReembedStatus>) {
        self.update(|s| s.reembed = reembed);
    }

    /// Hands the index to `embedder` with graphs built from its stored vectors, all at once: the
    /// end of a background switch, during which the old embedder and its graphs served. The graphs
    /// are swapped under their write locks, so a search sees either the old pair or the new one (a
    /// query embedded just before the swap may be searched in the new graph once; with equal
    /// dimensions that is a slightly off ranking, with others an empty vector side).
    pub fn adopt_embedder(
        &self,
        embedder: Arc<dyn Embedder>,
        fallback: Option<String>,
        mut graphs: HashMap<Source, VectorIndex>,
    ) -> Result<(), SearchError> {
        let old = self.embedder().id().to_owned();
        let id = embedder.id().to_owned();
        {
            let mut guards = [
                self.observations.write_vectors()?,
                self.summaries.write_vectors()?,
                self.prompts.write_vectors()?,
            ];
            match self.embedder.write() {
                Ok(mut e) => *e = embedder.clone(),
                Err(poisoned) => *poisoned.into_inner() = embedder.clone(),
            }
            for (guard, source) in guards.iter_mut().zip(Source::ALL) {
                **guard = graphs
                    .remove(&source)
                    .unwrap_or_else(|| VectorIndex::new(embedder.dim(), 0));
            }
        }
        for source in Source::ALL {
            self.part(source).dirty.store(true, Ordering::Release);
        }
        self.refresh_counts();
        self.update(|s| {
            s.embedder = id.clone();
            s.embedder_fallback = fallback;
            s.reembed = None;
            s.rebuild_reason = Some(format!(
                "embedder {old} → {id}: re-embedded in the background"
            ));
        });
        tracing::info!(from = %old, to = %id, "switched embedders");
        self.save()
    }

    /// Persists the vectors that changed and the stamp (the text indexes commit on every batch).
    pub fn save(&self) -> Result<(), SearchError> {
        for source in Source::ALL {
            let part = self.part(source);
            if part.dirty.swap(false, Ordering::AcqRel) {
                let saved = part
                    .read_vectors()
                    .and_then(|v| v.save(&Part::dir(&self.dir, source).join("vectors")));
                if let Err(e) = saved {
                    part.dirty.store(true, Ordering::Release);
                    return Err(e);
                }
            }
        }
        let status = self.status();
        let embedder = self.embedder();
        self.write_stamp(Stamp {
            schema: SCHEMA_VERSION,
            embedder: embedder.id().to_owned(),
            dim: embedder.dim(),
            last_indexed_id: status.last_indexed_id,
            last_indexed_summary_id: status.last_indexed_summary_id,
            last_indexed_prompt_id: status.last_indexed_prompt_id,
        })?;
        if let Ok(mut u) = self.unsaved.lock() {
            *u = (0, Instant::now());
        }
        Ok(())
    }

    /// Forgets everything; the indexer then refills from SQLite (`claude-mem reindex`).
    pub fn reset(&self) -> Result<(), SearchError> {
        for source in Source::ALL {
            let part = self.part(source);
            part.text.clear()?;
            *part.write_vectors()? = VectorIndex::new(self.embedder().dim(), 0);
            part.dirty.store(true, Ordering::Release);
        }
        self.update(|s| {
            s.last_indexed_id = 0;
            s.last_indexed_summary_id = 0;
            s.last_indexed_prompt_id = 0;
            s.documents = 0;
            s.vectors = 0;
            s.summaries = 0;
            s.prompts = 0;
            s.state = "indexing".into();
            s.rebuild_reason = Some("requested".into());
        });
        self.save()
    }

    /// Forgets one memory by its key.
    pub fn delete(&self, key: i64) -> Result<(), SearchError> {
        self.delete_many(&[key])
    }

    /// Forgets these memories (keys, [`Source::key`]; an observation's key is its id) in their indexes
    /// with a single Tantivy commit per source (a commit per id made pruning thousands of memories take
    /// minutes). The vectors are tombstoned: the graph cannot unlink nodes, so many deletions are better
    /// served by a rebuild.
    pub fn delete_many(&self, keys: &[i64]) -> Result<(), SearchError> {
        if keys.is_empty() {
            return Ok(());
        }
        for source in Source::ALL {
            let mine: Vec<i64> = keys
                .iter()
                .copied()
                .filter(|k| Source::of_key(*k).is_some_and(|(s, _)| s == source))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let part = self.part(source);
            for key in &mine {
                part.text.delete(*key)?;
            }
            part.text.commit()?;
            {
                let mut vectors = part.write_vectors()?;
                for key in &mine {
                    vectors.delete(*key);
                }
            }
            part.dirty.store(true, Ordering::Release);
        }
        self.refresh_counts();
        Ok(())
    }

    /// Share of the exact top `k` neighbours the graph returns, averaged over `queries`: how much the
    /// approximate vector search gives up for its speed (measured on the observations).
    pub fn vector_recall(&self, queries: &[&str], k: usize) -> Result<f64, SearchError> {
        let guard = self.observations.read_vectors()?;
        let mut sum = 0.0;
        let mut n = 0usize;
        for q in queries {
            let v = self
                .embedder()
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
            .embedder()
            .embed(&[query])
            .map_err(|e| SearchError::Embed(e.to_string()))?
            .pop()
            .unwrap_or_default();
        Ok((q, t.elapsed().as_secs_f64() * 1000.0))
    }

    /// Both sides' candidates for `query` among the observations (up to `pool` each), every one filled
    /// in on both sides in hybrid mode, with what calibrating them needs. `search` ranks these; the
    /// evaluation exports them.
    pub fn candidates(
        &self,
        query: &str,
        mode: Mode,
        filters: &Filters,
        pool: usize,
    ) -> Result<Pooled, SearchError> {
        self.candidates_in(&self.observations, query, mode, filters, pool, None, None)
    }

    /// [`SearchIndex::candidates`] in one part. With `only`, the candidates are exactly those keys that
    /// match at all (each side scores them directly instead of drawing its best `pool`); with
    /// `embedded`, the query's vector computed once for several parts.
    #[allow(clippy::too_many_arguments)]
    fn candidates_in(
        &self,
        part: &Part,
        query: &str,
        mode: Mode,
        filters: &Filters,
        pool: usize,
        only: Option<&[i64]>,
        embedded: Option<&(Vec<f32>, f64)>,
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
                let hits = match only {
                    Some(keys) => part.text.score_ids(query, filters, keys)?,
                    None => part.text.search(query, filters, pool)?,
                };
                let reference = part.text.reference(query);
                Ok((hits, reference, t.elapsed().as_secs_f64() * 1000.0))
            },
            || -> Result<VectorSide, SearchError> {
                if !use_vector {
                    return Ok((Vec::new(), Vec::new(), 0.0, 0.0));
                }
                let (q, embed_ms) = match embedded {
                    Some((q, _)) => (q.clone(), 0.0),
                    None => self.embed_query(query)?,
                };
                let t = Instant::now();
                let hits = match only {
                    Some(keys) => {
                        let mut hits = part.read_vectors()?.similarities(&q, keys);
                        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
                        hits
                    }
                    None => part.read_vectors()?.search(&q, filters, pool),
                };
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
            let guard = part.read_vectors()?;
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
            for (id, s) in part.text.score_ids(query, filters, &missing)? {
                if let Some(at) = seen.get(&id) {
                    candidates[*at].bm25 = Some(s);
                }
            }
        }
        if use_text {
            let ids: Vec<i64> = candidates.iter().map(|c| c.id).collect();
            let shares = part.text.coverage(query, &ids)?;
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
                semantic: self.embedder().semantic(),
            },
            embed_ms,
            search_ms: text_ms.max(vector_ms) + fill_started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Ranks memories for `request.query`. Each side contributes a fixed pool of candidates (never
    /// derived from `limit`, so a longer page only shows more of the same ranking), every candidate is
    /// scored on both sides, and hits under the floor (`min_score`, default
    /// [`calibration::MIN_SCORE`] in hybrid and vector modes, none in text mode) are dropped. Several
    /// sources are ranked apart and merged by relevance (hit ids are then keys, [`Source::key`]).
    /// Blocking (the query is embedded).
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchOutcome, SearchError> {
        let SearchRequest {
            query,
            mode,
            filters,
            limit,
            offset,
            min_score,
            sources,
            only,
        } = *request;
        let pool = CANDIDATE_POOL.max(offset + limit);
        // Each source once, in a fixed order (ties in the merge go to the earlier one).
        let wanted: Vec<Source> = Source::ALL
            .into_iter()
            .filter(|s| sources.contains(s))
            .collect();
        let several = wanted.len() > 1;
        // One embedding serves every part (with one part, it is computed beside the text side instead).
        let embedded = if several && mode != Mode::Text && !query.trim().is_empty() {
            Some(self.embed_query(query)?)
        } else {
            None
        };
        let mut embed_ms = embedded.as_ref().map_or(0.0, |e| e.1);
        let mut search_ms = 0.0;
        let mut hits: Vec<Hit> = Vec::new();
        for source in wanted {
            let keys: Option<Vec<i64>> = only.map(|keys| {
                keys.iter()
                    .copied()
                    .filter(|k| Source::of_key(*k).is_some_and(|(s, _)| s == source))
                    .collect()
            });
            if keys.as_ref().is_some_and(Vec::is_empty) {
                continue;
            }
            let pooled = self.candidates_in(
                self.part(source),
                query,
                mode,
                filters,
                pool,
                keys.as_deref(),
                embedded.as_ref(),
            )?;
            let (candidates, scale) = (pooled.candidates, pooled.scale);
            let rank_started = Instant::now();
            let floor = min_score.unwrap_or(match mode {
                Mode::Text => 0.0,
                Mode::Hybrid if !scale.semantic => calibration::LEXICAL_EMBEDDER_MIN_SCORE,
                Mode::Hybrid | Mode::Vector => calibration::MIN_SCORE,
            });
            hits.extend(
                rank(&candidates, scale, mode, self.fusion)
                    .into_iter()
                    .filter(|h| h.score >= floor && h.score > 0.0),
            );
            embed_ms += pooled.embed_ms;
            // What the query costs when its embedding is free (cached, or computed elsewhere): the
            // slower candidate source, filling in the other sides, and ranking.
            search_ms += pooled.search_ms + rank_started.elapsed().as_secs_f64() * 1000.0;
        }
        if several {
            // Relevance is calibrated per query, not per candidate set, so it compares across parts. A
            // stable sort keeps each part's own order among equal scores.
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        Ok(SearchOutcome {
            hits: hits.into_iter().skip(offset).take(limit).collect(),
            embed_ms,
            search_ms,
        })
    }
}
