//! Durable vectors (issue 22): how fast a vector graph is rebuilt from the vectors stored in SQLite (no
//! model call), what a stored vector costs per memory in f32 and int8, and what int8 costs in recall@10
//! against exact f32 search.
//!
//! `claude-mem-bench vectors --vectors 100000 --model-vectors 2000 --json docs/bench/vectors.json`:
//! 100K generated observations with hashing-embedder vectors (the model would take hours to embed them;
//! the rebuild never calls it) are written to a real store, then graphs are rebuilt from the f32 and the
//! int8 rows with the same code a worker runs at start; recall is measured on those and on MiniLM vectors
//! of `--model-vectors` observations.

use crate::search::generate;
use crate::write_json;
use claude_mem_core::store::vectors::{round_trip, VectorEncoding};
use claude_mem_core::store::{Store, StoredVector};
use claude_mem_embed::{EmbedError, Embedder, HashEmbedder, MiniLm};
use claude_mem_search::durable::build_graph;
use claude_mem_search::vector_index::{VectorIndex, VectorMeta};
use claude_mem_search::{Doc, Filters, Source};
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Observations (with hashing-embedder vectors) stored and rebuilt.
    #[arg(long, default_value_t = 100_000)]
    vectors: usize,
    /// Observations embedded with MiniLM for the recall comparison on real vectors; 0 skips it.
    #[arg(long, default_value_t = 2000)]
    model_vectors: usize,
    /// Queries per recall measurement (held-out observations' texts).
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// all-MiniLM-L6-v2 files (default: ../shared/models/all-MiniLM-L6-v2).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    #[arg(long)]
    json: Option<PathBuf>,
}

/// An embedder that only names vectors: the rebuild reads them by embedder id and dimension and must
/// never embed (it would panic the benchmark if it did).
struct Named {
    id: String,
    dim: usize,
}

impl Embedder for Named {
    fn id(&self) -> &str {
        &self.id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, _: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Err(EmbedError::Inference(
            "a rebuild from stored vectors called the model".into(),
        ))
    }
}

#[derive(Debug, Serialize)]
struct Rebuild {
    encoding: String,
    vectors: usize,
    /// Writing the vectors to SQLite (the indexer pays this per page, as it embeds).
    store_seconds: f64,
    /// Reading them back and building the graph: what a start with a lost graph costs.
    rebuild_seconds: f64,
    vectors_per_second: f64,
    /// The vector blob alone.
    blob_bytes_per_memory: f64,
    /// What the database file grew by per memory (row, key and index overhead included).
    db_bytes_per_memory: f64,
}

#[derive(Debug, Serialize)]
struct Recall {
    vectors: String,
    count: usize,
    queries: usize,
    /// Exact scan over int8 vectors against exact f32: what quantisation alone loses.
    int8_exact_recall_at_10: f64,
    /// The HNSW graph built from f32 vectors against exact f32 (the graph's own loss).
    f32_graph_recall_at_10: f64,
    /// The HNSW graph built from int8 vectors against exact f32: what a worker storing int8 serves.
    int8_graph_recall_at_10: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    rebuilds: Vec<Rebuild>,
    recall: Vec<Recall>,
}

fn db_bytes(path: &std::path::Path) -> u64 {
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(path.to_owned()) + size(PathBuf::from(format!("{}-wal", path.display())))
}

/// Writes one observation row per doc (ids = doc ids) so stored vectors have memories to belong to.
async fn seed_observations(store: &Store, docs: &[Doc]) -> anyhow::Result<()> {
    let rows: Vec<(i64, String, String, String, i64)> = docs
        .iter()
        .map(|d| {
            (
                d.id,
                d.project.clone(),
                d.kind.clone(),
                d.title.clone(),
                d.created_at,
            )
        })
        .collect();
    store
        .write(move |conn| {
            Box::pin(async move {
                use sqlx::Connection;
                let mut tx = conn.begin().await?;
                sqlx::query(
                    "INSERT INTO sdk_sessions (id, project, started_at, last_seen_at) VALUES ('bench', 'bench', 0, 0)",
                )
                .execute(&mut *tx)
                .await?;
                for (id, project, kind, title, at) in &rows {
                    sqlx::query(
                        "INSERT INTO observations (id, session_id, project, type, title, compressor, created_at)
                         VALUES (?1, 'bench', ?2, ?3, ?4, 'bench', ?5)",
                    )
                    .bind(id)
                    .bind(project)
                    .bind(kind)
                    .bind(title)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            })
        })
        .await?;
    Ok(())
}

async fn checkpoint(store: &Store) -> anyhow::Result<()> {
    store
        .write(|conn| {
            Box::pin(async move {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await?;
    Ok(())
}

fn items(docs: &[Doc], vectors: &[Vec<f32>]) -> Vec<(i64, Vec<f32>, VectorMeta)> {
    docs.iter()
        .zip(vectors)
        .map(|(d, v)| {
            (
                d.id,
                v.clone(),
                VectorMeta {
                    project: d.project.clone(),
                    kind: d.kind.clone(),
                    created_at: d.created_at,
                },
            )
        })
        .collect()
}

fn exact_top(vectors: &[Vec<f32>], query: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(usize, f32)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i, v.iter().zip(query).map(|(a, b)| a * b).sum()))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored.into_iter().map(|(i, _)| i).collect()
}

/// Recall@10 of int8 (exact scan and graph) and of the f32 graph, against exact f32 search.
fn recall(
    name: &str,
    docs: &[Doc],
    vectors: &[Vec<f32>],
    queries: &[Vec<f32>],
    f32_graph: Option<&VectorIndex>,
    int8_graph: Option<&VectorIndex>,
) -> anyhow::Result<Recall> {
    const K: usize = 10;
    let int8: Vec<Vec<f32>> = vectors
        .iter()
        .map(|v| round_trip(VectorEncoding::Int8, v))
        .collect();
    let built_f32;
    let f32_graph = match f32_graph {
        Some(g) => g,
        None => {
            let mut g = VectorIndex::new(vectors[0].len(), vectors.len());
            g.insert(items(docs, vectors))?;
            built_f32 = g;
            &built_f32
        }
    };
    let built_int8;
    let int8_graph = match int8_graph {
        Some(g) => g,
        None => {
            let mut g = VectorIndex::new(vectors[0].len(), vectors.len());
            g.insert(items(docs, &int8))?;
            built_int8 = g;
            &built_int8
        }
    };
    let (mut scan, mut graph32, mut graph8) = (0.0, 0.0, 0.0);
    for q in queries {
        let truth: HashSet<i64> = exact_top(vectors, q, K)
            .into_iter()
            .map(|i| docs[i].id)
            .collect();
        let share = |found: &[i64]| {
            found.iter().filter(|id| truth.contains(id)).count() as f64 / truth.len() as f64
        };
        let int8_scan: Vec<i64> = exact_top(&int8, q, K)
            .into_iter()
            .map(|i| docs[i].id)
            .collect();
        scan += share(&int8_scan);
        let ids = |g: &VectorIndex| -> Vec<i64> {
            g.search(q, &Filters::default(), K)
                .into_iter()
                .map(|h| h.0)
                .collect()
        };
        graph32 += share(&ids(f32_graph));
        graph8 += share(&ids(int8_graph));
    }
    let n = queries.len().max(1) as f64;
    Ok(Recall {
        vectors: name.to_owned(),
        count: vectors.len(),
        queries: queries.len(),
        int8_exact_recall_at_10: scan / n,
        f32_graph_recall_at_10: graph32 / n,
        int8_graph_recall_at_10: graph8 / n,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let n = args.vectors;
    let all = generate(n + args.queries);
    let (docs, held_out) = all.split_at(n);
    let hashing = HashEmbedder::new(384);
    let started = Instant::now();
    let texts: Vec<String> = docs.iter().map(Doc::embedding_text).collect();
    let mut vectors = Vec::with_capacity(n);
    for chunk in texts.chunks(1024) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vectors.extend(hashing.embed(&refs)?);
    }
    let query_texts: Vec<String> = held_out.iter().map(Doc::embedding_text).collect();
    let query_refs: Vec<&str> = query_texts.iter().map(String::as_str).collect();
    let queries = hashing.embed(&query_refs)?;
    eprintln!(
        "{n} hashing vectors made in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let temp = tempfile::tempdir()?;
    let db = temp.path().join("bench.db");
    let mut rebuilds = Vec::new();
    let mut graphs = Vec::new();
    rt.block_on(async {
        let store = Store::open(&db).await?;
        seed_observations(&store, docs).await?;
        checkpoint(&store).await?;
        for encoding in [VectorEncoding::F32, VectorEncoding::Int8] {
            let named = Named {
                id: format!("bench-{}", encoding.as_str()),
                dim: 384,
            };
            let before = db_bytes(&db);
            let t = Instant::now();
            for (chunk_docs, chunk_vectors) in docs.chunks(4096).zip(vectors.chunks(4096)) {
                let rows = chunk_docs
                    .iter()
                    .zip(chunk_vectors)
                    .map(|(d, v)| StoredVector {
                        row_id: d.id,
                        vector: v.clone(),
                        project: d.project.clone(),
                        kind: d.kind.clone(),
                        created_at: d.created_at,
                    })
                    .collect();
                store
                    .put_vectors(&named.id, encoding, Source::Observation.as_str(), rows)
                    .await?;
            }
            let store_seconds = t.elapsed().as_secs_f64();
            checkpoint(&store).await?;
            let grown = db_bytes(&db).saturating_sub(before);
            let storage = store.vector_storage(&named.id).await?;
            eprintln!(
                "rebuilding a {n}-vector graph from {} rows…",
                encoding.as_str()
            );
            let t = Instant::now();
            let graph = build_graph(&store, &named, Source::Observation, n).await?;
            let rebuild_seconds = t.elapsed().as_secs_f64();
            anyhow::ensure!(graph.len() == n, "rebuilt {} of {n} vectors", graph.len());
            rebuilds.push(Rebuild {
                encoding: encoding.as_str().to_owned(),
                vectors: n,
                store_seconds,
                rebuild_seconds,
                vectors_per_second: n as f64 / rebuild_seconds,
                blob_bytes_per_memory: storage.bytes as f64 / storage.vectors.max(1) as f64,
                db_bytes_per_memory: grown as f64 / n as f64,
            });
            graphs.push(graph);
        }
        store.close().await;
        anyhow::Ok(())
    })?;

    let mut recalls = vec![recall(
        "hashing (384-d)",
        docs,
        &vectors,
        &queries,
        graphs.first(),
        graphs.get(1),
    )?];
    drop(graphs);
    drop(vectors);

    if args.model_vectors > 0 {
        let dir = args
            .model_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("../shared/models/all-MiniLM-L6-v2"));
        let model = Arc::new(MiniLm::load(&dir)?);
        let m = args.model_vectors.min(n);
        let docs = &docs[..m];
        eprintln!(
            "embedding {m} observations and {} queries with MiniLM…",
            held_out.len()
        );
        let texts: Vec<String> = docs.iter().map(Doc::embedding_text).collect();
        let mut vectors = Vec::with_capacity(m);
        for chunk in texts.chunks(8) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            vectors.extend(model.embed(&refs)?);
        }
        let mut queries = Vec::with_capacity(held_out.len());
        for chunk in query_refs.chunks(8) {
            queries.extend(model.embed(chunk)?);
        }
        recalls.push(recall(
            "all-MiniLM-L6-v2 (384-d)",
            docs,
            &vectors,
            &queries,
            None,
            None,
        )?);
    }

    println!(
        "\n| encoding | vectors | store | rebuild from SQLite | rate | blob bytes / memory | database bytes / memory |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rebuilds {
        println!(
            "| {} | {} | {:.1} s | {:.1} s | **{:.0} vectors/s** | {:.0} | {:.0} |",
            r.encoding,
            r.vectors,
            r.store_seconds,
            r.rebuild_seconds,
            r.vectors_per_second,
            r.blob_bytes_per_memory,
            r.db_bytes_per_memory
        );
    }
    println!("\n| vectors | count | queries | int8 exact scan | f32 graph | int8 graph | (recall@10 against exact f32) |");
    println!("|---|---|---|---|---|---|---|");
    for r in &recalls {
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.4} | |",
            r.vectors,
            r.count,
            r.queries,
            r.int8_exact_recall_at_10,
            r.f32_graph_recall_at_10,
            r.int8_graph_recall_at_10
        );
    }
    let report = Report {
        rebuilds,
        recall: recalls,
    };
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(())
}
