//! Each replica's vectors: embedding work shared through the table, and a nearest-neighbour index per
//! team that every replica derives from the table on its own.
//!
//! The table is the record of truth (`observations.embedding REAL[]`), so replicas never talk to each
//! other: whichever replica claims an unembedded row (`FOR UPDATE SKIP LOCKED`) embeds it once for all,
//! and the trigger's `pg_notify` tells every replica to add it to its graph. Notifications are transient
//! (a dropped connection loses them), so a catch-up scan after every (re)connect, and now and then, adds
//! whatever was missed. It scans from a watermark: the lowest id still unembedded at an earlier scan,
//! below which nothing can newly appear, taken from a scan at least [`IN_FLIGHT_GRACE`] old because ids
//! are handed out before their transactions commit (a lower id can become visible after a higher one).
//!
//! Where the server has pgvector, the database keeps the HNSW index itself (`embedding_v vector(dim)`)
//! and no replica keeps a graph.

use crate::{PgStore, TeamError};
use claude_mem_core::{DataDir, Settings};
use claude_mem_search::vector_index::{Background, VectorIndex, VectorMeta};
use claude_mem_search::{Doc, Filters};
use serde::Serialize;
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The channel the migration's trigger notifies (payload: the observation id).
pub const CHANNEL: &str = "claude_mem_embedded";
/// Rows one replica claims per transaction: small enough that the row locks are short, large enough
/// that a model's batching pays.
const EMBED_BATCH: i64 = 32;
/// Rows per page when (re)building graphs, so a large table is never read into memory at once.
const LOAD_PAGE: i64 = 1000;
/// Nothing announces new observations (the processor may run on any replica), so an idle embedder looks
/// again this often; the partial index on unembedded rows makes the look cheap.
const IDLE_POLL: Duration = Duration::from_millis(300);
/// A catch-up scan this often even without a reconnect: a cheap bound on how long a lost notification
/// can hide a vector.
const RESYNC_EVERY: Duration = Duration::from_secs(30);
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long an observation id may stay allocated but uncommitted: a watermark is trusted only once it
/// is this old. Processing transactions last milliseconds; this is orders of magnitude beyond that.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(60);

/// The embedder, behind a closure: only its behaviour is needed here.
type EmbedFn = dyn Fn(&[&str]) -> Result<Vec<Vec<f32>>, String> + Send + Sync;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VectorMode {
    /// `real[]` in the table, an hnsw_rs graph per team in each replica.
    ReplicaHnsw,
    /// pgvector's own HNSW index in the database.
    Pgvector,
}

impl VectorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorMode::ReplicaHnsw => "replica-hnsw",
            VectorMode::Pgvector => "pgvector",
        }
    }
}

/// What `/api/health` shows about vectors.
#[derive(Debug, Clone, Serialize)]
pub struct VectorStatus {
    pub mode: VectorMode,
    pub embedder: String,
    pub dim: usize,
    /// Why the configured embedder is not the one in use, if it is not.
    pub fallback: Option<String>,
    /// Vectors in this replica's graphs (0 with pgvector: the database holds them).
    pub indexed: usize,
    pub teams: usize,
}

#[derive(Default)]
struct Graphs {
    by_team: HashMap<i64, VectorIndex>,
    /// Every observation id in any graph: notifications and catch-ups carry ids without teams.
    known: HashSet<i64>,
}

pub struct Vectors {
    pool: PgPool,
    embed: Arc<EmbedFn>,
    embedder_id: String,
    dim: usize,
    fallback: Option<String>,
    semantic: bool,
    mode: VectorMode,
    graphs: RwLock<Graphs>,
    watermarks: Mutex<Watermarks>,
}

/// A query's vector: made by [`Vectors::embed_query`] only, so a search embeds its query once.
pub struct QueryVector(Vec<f32>);

/// The vector half of one query's ranking (see [`Vectors::rank_side`]).
#[derive(Debug, Default)]
pub struct VectorSide {
    /// The nearest observations: (id, cosine), best first.
    pub hits: Vec<(i64, f32)>,
    /// The cosine with each of the ids asked about that has a vector.
    pub similarities: Vec<(i64, f32)>,
    /// The query's cosine with the team's memories in general, where known.
    pub background: Option<Background>,
}

/// One embedded row as the graphs need it.
struct VectorRow {
    id: i64,
    team_id: i64,
    meta: VectorMeta,
    embedding: Vec<f32>,
}

/// Catch-up watermarks, trusted once older than [`IN_FLIGHT_GRACE`].
#[derive(Default)]
struct Watermarks {
    /// The newest trusted one: a scan starts here (0, a full scan, until one is old enough).
    settled: i64,
    /// Younger ones, oldest first.
    recent: VecDeque<(Instant, i64)>,
}

impl Watermarks {
    fn settled(&mut self, now: Instant) -> i64 {
        while let Some(&(at, floor)) = self.recent.front() {
            if now.saturating_duration_since(at) < IN_FLIGHT_GRACE {
                break;
            }
            self.settled = self.settled.max(floor);
            self.recent.pop_front();
        }
        self.settled
    }

    fn record(&mut self, at: Instant, floor: i64) {
        self.recent.push_back((at, floor));
    }
}

enum Feed {
    /// LISTEN is (again) in place: anything embedded before may have gone unnoticed.
    Listening,
    Embedded(i64),
}

impl Vectors {
    /// Loads the embedder (blocking: a model is read from disk) and picks the vector mode. The graphs
    /// are filled by [`Vectors::follow`], so a replica answers (with fewer vector hits) while it loads.
    pub async fn open(
        store: &PgStore,
        settings: &Settings,
        data_dir: &DataDir,
    ) -> Result<Arc<Self>, TeamError> {
        let settings = settings.clone();
        let root = data_dir.root().to_owned();
        let (embed, embedder_id, dim, semantic, fallback) =
            tokio::task::spawn_blocking(move || {
                let (embedder, fallback) =
                    claude_mem_search::embedder_from_settings(&settings, &root);
                let id = embedder.id().to_owned();
                let dim = embedder.dim();
                let semantic = embedder.semantic();
                let embed: Arc<EmbedFn> = Arc::new(move |texts: &[&str]| {
                    embedder.embed(texts).map_err(|e| e.to_string())
                });
                (embed, id, dim, semantic, fallback)
            })
            .await
            .map_err(|e| TeamError::Other(format!("loading the embedder failed: {e}")))?;
        if let Some(reason) = &fallback {
            tracing::warn!(reason = %reason, embedder = %embedder_id, "using the fallback embedder");
        }
        let pool = store.pool().clone();
        let mode = match enable_pgvector(&pool, dim, &embedder_id).await {
            Ok(true) => VectorMode::Pgvector,
            Ok(false) => VectorMode::ReplicaHnsw,
            Err(e) => {
                // pgvector is an optimisation: without it (no privilege, odd dimension) the table's
                // real[] still holds every vector.
                tracing::warn!(error = %e, "pgvector is present but unusable; keeping vectors in this replica");
                VectorMode::ReplicaHnsw
            }
        };
        tracing::info!(mode = mode.as_str(), embedder = %embedder_id, dim, "vectors ready");
        Ok(Arc::new(Self {
            pool,
            embed,
            embedder_id,
            dim,
            fallback,
            semantic,
            mode,
            graphs: RwLock::new(Graphs::default()),
            watermarks: Mutex::new(Watermarks::default()),
        }))
    }

    pub fn mode(&self) -> VectorMode {
        self.mode
    }

    pub fn embedder_id(&self) -> &str {
        &self.embedder_id
    }

    pub fn status(&self) -> VectorStatus {
        let (indexed, teams) = self
            .graphs
            .read()
            .map(|g| (g.known.len(), g.by_team.len()))
            .unwrap_or_default();
        VectorStatus {
            mode: self.mode,
            embedder: self.embedder_id.clone(),
            dim: self.dim,
            fallback: self.fallback.clone(),
            indexed,
            teams,
        }
    }

    /// Embeds texts off the async runtime (model inference is blocking CPU work).
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, TeamError> {
        let embed = Arc::clone(&self.embed);
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embed(&refs)
        })
        .await
        .map_err(|e| TeamError::Other(format!("embedding task failed: {e}")))?
        .map_err(|e| TeamError::Other(format!("embedding failed: {e}")))
    }

    /// Whether the embedder's cosine carries meaning (the hashing fallback's only re-counts words):
    /// ranking calibrates and floors by it as the laptop does.
    pub fn semantic(&self) -> bool {
        self.semantic
    }

    /// The team's nearest observations to `query`: (id, cosine similarity), best first.
    pub async fn search(
        &self,
        team_id: i64,
        query: &str,
        project: Option<&str>,
        k: usize,
    ) -> Result<Vec<(i64, f32)>, TeamError> {
        let query = self.embed_query(query).await?;
        Ok(self.rank_side(team_id, &query, project, k, &[]).await?.hits)
    }

    /// Embeds a query, once for everything [`Vectors::rank_side`] derives from it (it may run beside
    /// the full-text half of a search).
    pub async fn embed_query(&self, query: &str) -> Result<QueryVector, TeamError> {
        let vector = self
            .embed(vec![query.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| TeamError::Other("the embedder returned no vector".into()))?;
        Ok(QueryVector(vector))
    }

    /// What ranking needs from the vectors for one query, all within `team_id`: its `k` nearest
    /// observations (of `project`, if given), its cosine with each of `others` (candidates the other
    /// half found; ids of other teams are absent), and its background (`None` with pgvector, or while
    /// the team's graph holds too few vectors).
    pub async fn rank_side(
        &self,
        team_id: i64,
        query: &QueryVector,
        project: Option<&str>,
        k: usize,
        others: &[i64],
    ) -> Result<VectorSide, TeamError> {
        let vector = &query.0;
        match self.mode {
            VectorMode::ReplicaHnsw => {
                let filters = Filters {
                    project: project.map(str::to_owned),
                    ..Default::default()
                };
                let graphs = self
                    .graphs
                    .read()
                    .map_err(|_| TeamError::Other("vector graph lock poisoned".into()))?;
                let Some(graph) = graphs.by_team.get(&team_id) else {
                    return Ok(VectorSide::default());
                };
                Ok(VectorSide {
                    hits: if k > 0 {
                        graph.search(vector, &filters, k)
                    } else {
                        Vec::new()
                    },
                    similarities: graph.similarities(vector, others),
                    background: graph.background(vector),
                })
            }
            VectorMode::Pgvector => {
                let hits = if k > 0 {
                    let rows = sqlx::query(
                        "SELECT id, (1 - (embedding_v <=> $1::real[]::vector))::real AS similarity
                         FROM observations
                         WHERE team_id = $2 AND embedder = $3 AND embedding_v IS NOT NULL
                           AND ($4::text IS NULL OR project = $4)
                         ORDER BY embedding_v <=> $1::real[]::vector
                         LIMIT $5",
                    )
                    .bind(vector)
                    .bind(team_id)
                    .bind(&self.embedder_id)
                    .bind(project)
                    .bind(i64::try_from(k).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await?;
                    similarity_rows(&rows)?
                } else {
                    Vec::new()
                };
                let similarities = if others.is_empty() {
                    Vec::new()
                } else {
                    let rows = sqlx::query(
                        "SELECT id, (1 - (embedding_v <=> $1::real[]::vector))::real AS similarity
                         FROM observations
                         WHERE team_id = $2 AND id = ANY($3) AND embedder = $4
                           AND embedding_v IS NOT NULL",
                    )
                    .bind(vector)
                    .bind(team_id)
                    .bind(others)
                    .bind(&self.embedder_id)
                    .fetch_all(&self.pool)
                    .await?;
                    similarity_rows(&rows)?
                };
                Ok(VectorSide {
                    hits,
                    similarities,
                    background: None,
                })
            }
        }
    }

    /// Embeds unembedded observations until shutdown, sharing the work with the other replicas.
    pub async fn embed_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pause = match self.embed_batch().await {
                Ok(0) => IDLE_POLL,
                Ok(n) => {
                    tracing::debug!(embedded = n, "observations embedded");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "embedding batch failed; retrying");
                    RETRY_AFTER
                }
            };
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Claims, embeds and stores one batch; the claim's row locks make other replicas skip these rows,
    /// and the commit releases them embedded (or, on failure, unembedded for a later try).
    pub async fn embed_batch(&self) -> Result<usize, TeamError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT id, title, subtitle, narrative, facts::text AS facts, keywords::text AS keywords
             FROM observations WHERE embedding IS NULL
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(EMBED_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut texts = Vec::with_capacity(rows.len());
        for r in &rows {
            ids.push(r.try_get::<i64, _>("id")?);
            let doc = Doc {
                title: r.try_get("title")?,
                subtitle: r.try_get("subtitle")?,
                narrative: r.try_get("narrative")?,
                facts: json_strings(&r.try_get::<String, _>("facts")?),
                keywords: json_strings(&r.try_get::<String, _>("keywords")?),
                ..Default::default()
            };
            texts.push(doc.embedding_text());
        }
        let vectors = self.embed(texts).await?;
        if vectors.len() != ids.len() {
            return Err(TeamError::Other(format!(
                "the embedder returned {} vectors for {} texts",
                vectors.len(),
                ids.len()
            )));
        }
        let update = match self.mode {
            VectorMode::ReplicaHnsw => {
                "UPDATE observations SET embedding = $1, embedder = $2 WHERE id = $3"
            }
            VectorMode::Pgvector => {
                "UPDATE observations SET embedding = $1, embedder = $2, embedding_v = $1::real[]::vector
                 WHERE id = $3"
            }
        };
        for (id, vector) in ids.iter().zip(&vectors) {
            sqlx::query(update)
                .bind(vector)
                .bind(&self.embedder_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ids.len())
    }

    /// Keeps this replica's graphs equal to the table until shutdown: LISTEN for new embeddings, catch
    /// up after every (re)connect and every [`RESYNC_EVERY`]. Nothing to do under pgvector.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if self.mode == VectorMode::Pgvector {
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        // A task of its own: `try_recv` is not documented cancel-safe, so it is never raced in a select.
        let listener = tokio::spawn(listen(self.pool.clone(), tx));
        let mut resync = tokio::time::interval(RESYNC_EVERY);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut catch_up = false;
            let mut ids = Vec::new();
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = resync.tick() => catch_up = true,
                feed = rx.recv() => match feed {
                    None => break,
                    Some(Feed::Listening) => catch_up = true,
                    Some(Feed::Embedded(id)) => {
                        ids.push(id);
                        // Drain what is already queued, so a burst costs one query.
                        while ids.len() < LOAD_PAGE as usize {
                            match rx.try_recv() {
                                Ok(Feed::Embedded(id)) => ids.push(id),
                                Ok(Feed::Listening) => catch_up = true,
                                Err(_) => break,
                            }
                        }
                    }
                },
            }
            if !ids.is_empty() {
                if let Err(e) = self.add_ids(&ids).await {
                    tracing::warn!(error = %e, "cannot add notified vectors; the next catch-up will");
                }
            }
            if catch_up {
                match self.catch_up().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(added = n, "vector graphs caught up with the table"),
                    Err(e) => tracing::warn!(error = %e, "vector catch-up failed; retrying later"),
                }
            }
        }
        listener.abort();
    }

    /// Adds every embedded row this replica's graphs lack, scanning from the watermark. Returns how many
    /// were added.
    pub async fn catch_up(self: &Arc<Self>) -> Result<usize, TeamError> {
        let started = Instant::now();
        let from = self
            .watermarks
            .lock()
            .map_err(|_| TeamError::Other("watermark lock poisoned".into()))?
            .settled(started);
        // Taken before the scan: every committed id below it was embedded before the scan began, so
        // this scan sees it; later scans may start there once no transaction can still be hiding a
        // lower id.
        let next_floor: i64 = sqlx::query_scalar(
            "SELECT COALESCE(
                 (SELECT MIN(id) FROM observations WHERE embedding IS NULL),
                 (SELECT COALESCE(MAX(id), 0) + 1 FROM observations))",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut after = from - 1;
        let mut added = 0;
        loop {
            let page: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM observations
                 WHERE id > $1 AND embedding IS NOT NULL AND embedder = $2
                 ORDER BY id LIMIT $3",
            )
            .bind(after)
            .bind(&self.embedder_id)
            .bind(LOAD_PAGE)
            .fetch_all(&self.pool)
            .await?;
            let Some(&last) = page.last() else { break };
            after = last;
            let missing: Vec<i64> = {
                let graphs = self
                    .graphs
                    .read()
                    .map_err(|_| TeamError::Other("vector graph lock poisoned".into()))?;
                page.into_iter()
                    .filter(|id| !graphs.known.contains(id))
                    .collect()
            };
            if !missing.is_empty() {
                added += self.add_ids(&missing).await?;
            }
        }
        self.watermarks
            .lock()
            .map_err(|_| TeamError::Other("watermark lock poisoned".into()))?
            .record(started, next_floor);
        Ok(added)
    }

    /// Fetches these observations' vectors and inserts those that are ours (this embedder, this
    /// dimension) into their teams' graphs. Returns how many were new.
    async fn add_ids(self: &Arc<Self>, ids: &[i64]) -> Result<usize, TeamError> {
        let rows = sqlx::query(
            "SELECT id, team_id, project, type, created_at, embedding FROM observations
             WHERE id = ANY($1) AND embedding IS NOT NULL AND embedder = $2",
        )
        .bind(ids)
        .bind(&self.embedder_id)
        .fetch_all(&self.pool)
        .await?;
        let mut batch = Vec::with_capacity(rows.len());
        for r in &rows {
            let embedding: Vec<f32> = r.try_get("embedding")?;
            if embedding.len() != self.dim {
                continue;
            }
            batch.push(VectorRow {
                id: r.try_get("id")?,
                team_id: r.try_get("team_id")?,
                meta: VectorMeta {
                    project: r.try_get("project")?,
                    kind: r.try_get("type")?,
                    created_at: r.try_get("created_at")?,
                },
                embedding,
            });
        }
        if batch.is_empty() {
            return Ok(0);
        }
        // Graph insertion is CPU work (parallel across cores for a page), so off the runtime; the write
        // lock is held only for it.
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.insert(batch))
            .await
            .map_err(|e| TeamError::Other(format!("vector graph task failed: {e}")))?
    }

    fn insert(&self, batch: Vec<VectorRow>) -> Result<usize, TeamError> {
        let mut graphs = self
            .graphs
            .write()
            .map_err(|_| TeamError::Other("vector graph lock poisoned".into()))?;
        let mut per_team: HashMap<i64, Vec<(i64, Vec<f32>, VectorMeta)>> = HashMap::new();
        for row in batch {
            if graphs.known.contains(&row.id) {
                continue;
            }
            per_team
                .entry(row.team_id)
                .or_default()
                .push((row.id, row.embedding, row.meta));
        }
        let mut added = 0;
        for (team_id, items) in per_team {
            let ids: Vec<i64> = items.iter().map(|(id, _, _)| *id).collect();
            let graph = graphs
                .by_team
                .entry(team_id)
                .or_insert_with(|| VectorIndex::new(self.dim, items.len()));
            added += graph
                .insert(items)
                .map_err(|e| TeamError::Other(format!("vector graph: {e}")))?;
            graphs.known.extend(ids);
        }
        Ok(added)
    }
}

/// Forwards notifications to [`Vectors::follow`], reconnecting as needed; ends when `follow` does or
/// the pool closes.
async fn listen(pool: PgPool, tx: mpsc::UnboundedSender<Feed>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the notification listener; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot LISTEN for new embeddings; retrying");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        }
        if tx.send(Feed::Listening).is_err() {
            return;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match n.payload().parse::<i64>() {
                    Ok(id) => {
                        if tx.send(Feed::Embedded(id)).is_err() {
                            return;
                        }
                    }
                    Err(_) => tracing::warn!(payload = n.payload(), "odd notification ignored"),
                },
                // The connection dropped and was re-established (LISTEN included): notifications in
                // between are lost, so the follower catches up.
                Ok(None) => {
                    if tx.send(Feed::Listening).is_err() {
                        return;
                    }
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "notification listener failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// pgvector, if the server has it: the extension, a `vector(dim)` column beside `embedding`, its HNSW
/// index, and a backfill of what the table already holds. False when the extension is not available.
async fn enable_pgvector(pool: &PgPool, dim: usize, embedder: &str) -> Result<bool, TeamError> {
    let available: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
    )
    .fetch_one(pool)
    .await?;
    if !available {
        return Ok(false);
    }
    let dim_i32 = i32::try_from(dim)
        .map_err(|_| TeamError::Other(format!("embedding dimension {dim} is too large")))?;
    let mut tx = pool.begin().await?;
    // Replicas starting together would race on CREATE EXTENSION / ADD COLUMN.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('claude_mem_pgvector'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "ALTER TABLE observations ADD COLUMN IF NOT EXISTS embedding_v vector({dim_i32})"
    ))
    .execute(&mut *tx)
    .await?;
    // An existing column keeps its dimension: another embedder's vectors cannot share it.
    let typmod: i32 = sqlx::query_scalar(
        "SELECT atttypmod FROM pg_attribute
         WHERE attrelid = 'observations'::regclass AND attname = 'embedding_v'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if typmod != dim_i32 {
        tx.rollback().await?;
        return Err(TeamError::Other(format!(
            "observations.embedding_v holds {typmod}-dimensional vectors, the embedder makes {dim}"
        )));
    }
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS idx_observations_embedding_v
         ON observations USING hnsw (embedding_v vector_cosine_ops)",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE observations SET embedding_v = embedding::vector
         WHERE embedding IS NOT NULL AND embedding_v IS NULL AND embedder = $1
           AND cardinality(embedding) = $2",
    )
    .bind(embedder)
    .bind(dim_i32)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// `(id, similarity)` rows.
fn similarity_rows(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<(i64, f32)>, TeamError> {
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("similarity")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(TeamError::from)
}

/// A JSONB array of strings as text; anything else reads as empty (it only feeds the embedding text).
fn json_strings(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_is_trusted_only_once_in_flight_ids_have_committed() {
        let mut w = Watermarks::default();
        let t0 = Instant::now();
        assert_eq!(w.settled(t0), 0);
        w.record(t0, 10);
        w.record(t0 + Duration::from_secs(5), 20);
        // Young watermarks are not trusted yet: a lower id may still be uncommitted.
        assert_eq!(w.settled(t0 + Duration::from_secs(30)), 0);
        assert_eq!(w.settled(t0 + IN_FLIGHT_GRACE), 10);
        assert_eq!(w.settled(t0 + IN_FLIGHT_GRACE + Duration::from_secs(5)), 20);
        // Never moves back.
        w.record(t0 + Duration::from_secs(6), 15);
        assert_eq!(w.settled(t0 + 2 * IN_FLIGHT_GRACE), 20);
    }

    /// `n` observations of team `team` (created with its user and session if new), unembedded.
    async fn seed(pool: &PgPool, team: i64, first: i64, n: i64) {
        sqlx::query(
            "INSERT INTO teams (id, name, created_at) VALUES ($1, 't' || $1, 0) ON CONFLICT DO NOTHING",
        )
        .bind(team)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO users (id, team_id, name, created_at) VALUES ($1, $1, 'u', 0)
             ON CONFLICT DO NOTHING",
        )
        .bind(team)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO sdk_sessions (id, team_id, user_id, project, started_at, last_seen_at)
             VALUES ('s' || $1, $1, $1, 'p', 0, 0) ON CONFLICT DO NOTHING",
        )
        .bind(team)
        .execute(pool)
        .await
        .unwrap();
        for i in first..first + n {
            sqlx::query(
                "INSERT INTO observations (id, session_id, team_id, user_id, project, type, title,
                     keywords, compressor, created_at)
                 VALUES ($1, 's' || $2, $2, $2, 'p', 'change', $3, $4, 'local', 0)",
            )
            .bind(i)
            .bind(team)
            .bind(format!("Edited src/module_{i}.rs"))
            .bind(sqlx::types::Json(vec![format!("symbol{i}")]))
            .execute(pool)
            .await
            .unwrap();
        }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(60), "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Two replicas embed concurrently (each row once), each graph gets the other's vectors through
    /// NOTIFY, a replica that missed every notification catches up from the table, and graphs are
    /// per team.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_share_embedding_and_every_graph_gets_every_vector() {
        let cluster = tokio::task::spawn_blocking(crate::pg_cluster::TempCluster::start)
            .await
            .unwrap()
            .expect("start PostgreSQL (apt-get install postgresql)");
        let url = cluster.create_database("vectors_replicas").await.unwrap();
        let (one, two, three) = (
            PgStore::connect(&url, 4).await.unwrap(),
            PgStore::connect(&url, 4).await.unwrap(),
            PgStore::connect(&url, 4).await.unwrap(),
        );
        seed(one.pool(), 1, 1, 60).await;
        seed(one.pool(), 2, 1000, 5).await;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(dir.path());
        let mut settings = Settings::default();
        settings.search.embedder = "hash".into();
        let a = Vectors::open(&one, &settings, &data_dir).await.unwrap();
        let b = Vectors::open(&two, &settings, &data_dir).await.unwrap();
        let c = Vectors::open(&three, &settings, &data_dir).await.unwrap();
        assert_eq!(a.mode(), VectorMode::ReplicaHnsw);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(a.clone().follow(stopped.clone()));
        tokio::spawn(b.clone().follow(stopped.clone()));
        // Both followers listen before any embedding is committed.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let mut embedded = 0;
        loop {
            let (x, y) = tokio::join!(a.embed_batch(), b.embed_batch());
            let (x, y) = (x.unwrap(), y.unwrap());
            if x + y == 0 {
                break;
            }
            embedded += x + y;
        }
        assert_eq!(embedded, 65, "every row embedded exactly once");
        for v in [&a, &b] {
            until("every graph holds every vector", || {
                v.status().indexed == 65
            })
            .await;
            assert_eq!(v.status().teams, 2);
        }

        // Replica c followed nothing: one catch-up brings it level, a second finds nothing new.
        assert_eq!(c.catch_up().await.unwrap(), 65);
        assert_eq!(c.catch_up().await.unwrap(), 0);
        seed(one.pool(), 1, 100, 3).await;
        assert_eq!(a.embed_batch().await.unwrap(), 3);
        assert_eq!(c.catch_up().await.unwrap(), 3);
        until("notified", || b.status().indexed == 68).await;

        let hits = b
            .search(1, "Edited src/module_100.rs symbol100", None, 5)
            .await
            .unwrap();
        assert_eq!(hits.first().map(|h| h.0), Some(100), "{hits:?}");
        let other = b
            .search(2, "Edited src/module_100.rs symbol100", None, 10)
            .await
            .unwrap();
        assert!(other.iter().all(|(id, _)| *id >= 1000), "{other:?}");
        let none = b.search(1, "module", Some("elsewhere"), 10).await.unwrap();
        assert!(none.is_empty());
        let _ = stop.send(true);
    }

    #[test]
    fn json_lists_read_leniently() {
        assert_eq!(json_strings(r#"["a","b"]"#), vec!["a", "b"]);
        assert!(json_strings("{}").is_empty());
        assert!(json_strings("not json").is_empty());
    }
}
