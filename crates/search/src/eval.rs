//! Retrieval quality on the labelled set in `tests/eval/`: recall@5 and MRR for text, vector and hybrid,
//! through the same `SearchIndex` the worker uses.

use crate::{Doc, Filters, Fusion, Mode, SearchError, SearchIndex};
use claude_mem_embed::Embedder;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct EvalObservation {
    id: i64,
    project: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    #[serde(default)]
    subtitle: String,
    #[serde(default)]
    narrative: String,
    #[serde(default)]
    facts: Vec<String>,
    #[serde(default)]
    concepts: Vec<String>,
    #[serde(default)]
    files_read: Vec<String>,
    #[serde(default)]
    files_modified: Vec<String>,
    #[serde(default)]
    keywords: Vec<String>,
    created_at: i64,
}

#[derive(Debug, Deserialize)]
pub struct EvalQuery {
    pub id: String,
    pub query: String,
    pub relevant: Vec<i64>,
    pub kind: String,
    #[serde(default)]
    pub project: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Metrics {
    pub recall_at_5: f64,
    pub mrr: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub observations: usize,
    pub queries: usize,
    pub embedder: String,
    pub text: Metrics,
    pub vector: Metrics,
    pub hybrid: Metrics,
    /// Hybrid per query kind (paraphrase, identifier, path, …).
    pub hybrid_by_kind: Vec<(String, Metrics)>,
    pub text_by_kind: Vec<(String, Metrics)>,
    pub vector_by_kind: Vec<(String, Metrics)>,
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, SearchError> {
    std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(SearchError::from))
        .collect()
}

pub fn load(dir: &Path) -> Result<(Vec<Doc>, Vec<EvalQuery>), SearchError> {
    let obs: Vec<EvalObservation> = read_jsonl(&dir.join("observations.jsonl"))?;
    let docs = obs
        .into_iter()
        .map(|o| {
            let mut files = o.files_modified;
            files.extend(o.files_read);
            Doc {
                id: o.id,
                project: o.project,
                kind: o.kind,
                created_at: o.created_at,
                title: o.title,
                subtitle: o.subtitle,
                narrative: o.narrative,
                facts: o.facts,
                concepts: o.concepts,
                keywords: o.keywords,
                files,
            }
        })
        .collect();
    Ok((docs, read_jsonl(&dir.join("queries.jsonl"))?))
}

fn score(ranked: &[i64], relevant: &[i64]) -> Metrics {
    let top5 = &ranked[..ranked.len().min(5)];
    let found = relevant.iter().filter(|r| top5.contains(r)).count();
    let rank = ranked.iter().position(|id| relevant.contains(id));
    Metrics {
        recall_at_5: found as f64 / relevant.len().max(1) as f64,
        mrr: rank.map(|r| 1.0 / (r as f64 + 1.0)).unwrap_or(0.0),
    }
}

fn mean(ms: &[Metrics]) -> Metrics {
    let n = ms.len().max(1) as f64;
    Metrics {
        recall_at_5: ms.iter().map(|m| m.recall_at_5).sum::<f64>() / n,
        mrr: ms.iter().map(|m| m.mrr).sum::<f64>() / n,
    }
}

/// Indexes the set in a scratch directory and scores every query in each mode.
pub fn evaluate(
    eval_dir: &Path,
    embedder: Arc<dyn Embedder>,
    fusion: Fusion,
) -> Result<EvalReport, SearchError> {
    let (docs, queries) = load(eval_dir)?;
    let scratch = tempfile::tempdir()?;
    let embedder_id = embedder.id().to_owned();
    let index = SearchIndex::open(scratch.path(), embedder, None, fusion)?;
    index.index(&docs)?;
    let mut per_mode: Vec<Vec<(String, Metrics)>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for q in &queries {
        let filters = Filters {
            project: q.project.clone(),
            ..Default::default()
        };
        for (slot, mode) in [Mode::Text, Mode::Vector, Mode::Hybrid]
            .into_iter()
            .enumerate()
        {
            let hits = index.search(&q.query, mode, &filters, 10)?.hits;
            let ranked: Vec<i64> = hits.iter().map(|h| h.id).collect();
            per_mode[slot].push((q.kind.clone(), score(&ranked, &q.relevant)));
        }
    }
    let by_kind = |rows: &[(String, Metrics)]| {
        let mut kinds: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
        kinds.sort();
        kinds.dedup();
        kinds
            .into_iter()
            .map(|k| {
                let ms: Vec<Metrics> = rows
                    .iter()
                    .filter(|(kk, _)| *kk == k)
                    .map(|(_, m)| m.clone())
                    .collect();
                (k, mean(&ms))
            })
            .collect::<Vec<_>>()
    };
    let all =
        |rows: &[(String, Metrics)]| mean(&rows.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    Ok(EvalReport {
        observations: docs.len(),
        queries: queries.len(),
        embedder: embedder_id,
        text: all(&per_mode[0]),
        vector: all(&per_mode[1]),
        hybrid: all(&per_mode[2]),
        text_by_kind: by_kind(&per_mode[0]),
        vector_by_kind: by_kind(&per_mode[1]),
        hybrid_by_kind: by_kind(&per_mode[2]),
    })
}
