//! Retrieval quality on the labelled set in `tests/eval/`, through the same `SearchIndex` the worker uses:
//! recall@1/5 and MRR per mode and per query kind, how often a question nothing answers comes back empty,
//! and how often per-prompt recall injects for unrelated and related prompts. Every figure is reported per
//! half: constants are chosen on `tune`, and `heldout` says whether they generalise.

use crate::{Doc, Filters, Fusion, Mode, SearchError, SearchIndex, SearchRequest};
use claude_mem_embed::Embedder;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Results scored per query, as a user's first page shows them.
const PAGE: usize = 10;
/// Memories per-prompt recall injects at most (the worker's default `prompt_recall_limit`).
const RECALL_LIMIT: usize = 3;

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
    /// Empty for a negative: nothing stored answers it.
    pub relevant: Vec<i64>,
    pub kind: String,
    #[serde(default)]
    pub project: Option<String>,
    /// `tune` or `heldout`.
    #[serde(default)]
    pub half: String,
}

/// A prompt typed into Claude Code, for per-prompt recall.
#[derive(Debug, Deserialize)]
pub struct EvalPrompt {
    pub id: String,
    pub project: String,
    pub prompt: String,
    /// Whether a stored memory of this project helps with it.
    pub related: bool,
    #[serde(default)]
    pub relevant: Vec<i64>,
    #[serde(default)]
    pub half: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Metrics {
    pub queries: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub mrr: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: String,
    /// Queries with an answer.
    pub overall: Metrics,
    pub by_kind: Vec<(String, Metrics)>,
    /// Share of negative queries (nothing stored answers them) that returned no result at all.
    pub negatives_empty: f64,
    pub negatives: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RecallReport {
    pub unrelated: usize,
    /// Share of unrelated prompts for which recall injected nothing.
    pub unrelated_silent: f64,
    pub related: usize,
    /// Share of related prompts for which recall injected something.
    pub related_injected: f64,
    /// Share of related prompts for which recall injected at least one of the labelled memories.
    pub related_hit: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HalfReport {
    /// `tune`, `heldout` or `all`.
    pub half: String,
    pub modes: Vec<ModeReport>,
    pub prompt_recall: RecallReport,
}

impl HalfReport {
    pub fn mode(&self, mode: &str) -> Option<&ModeReport> {
        self.modes.iter().find(|m| m.mode == mode)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub observations: usize,
    pub queries: usize,
    pub prompts: usize,
    pub embedder: String,
    pub fusion: Fusion,
    pub halves: Vec<HalfReport>,
}

impl EvalReport {
    pub fn half(&self, half: &str) -> Option<&HalfReport> {
        self.halves.iter().find(|h| h.half == half)
    }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, SearchError> {
    std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(SearchError::from))
        .collect()
}

/// An evaluation set: memories, labelled queries, and labelled prompts (empty without `prompts.jsonl`).
pub type EvalSet = (Vec<Doc>, Vec<EvalQuery>, Vec<EvalPrompt>);

/// The observations and queries of an evaluation set, and its prompts when it has `prompts.jsonl`.
pub fn load(dir: &Path) -> Result<EvalSet, SearchError> {
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
    let prompts_path = dir.join("prompts.jsonl");
    let prompts = if prompts_path.exists() {
        read_jsonl(&prompts_path)?
    } else {
        Vec::new()
    };
    Ok((docs, read_jsonl(&dir.join("queries.jsonl"))?, prompts))
}

/// The set loaded and indexed in a scratch directory (kept alive by the returned guard).
fn indexed(
    eval_dir: &Path,
    embedder: Arc<dyn Embedder>,
    fusion: Fusion,
) -> Result<(tempfile::TempDir, SearchIndex, EvalSet), SearchError> {
    let set = load(eval_dir)?;
    let scratch = tempfile::tempdir()?;
    let index = SearchIndex::open(scratch.path(), embedder, None, fusion)?;
    index.index(&set.0)?;
    Ok((scratch, index, set))
}

fn score(ranked: &[i64], relevant: &[i64]) -> Metrics {
    let top = |n: usize| &ranked[..ranked.len().min(n)];
    let recall = |n: usize| {
        relevant.iter().filter(|r| top(n).contains(r)).count() as f64 / relevant.len().max(1) as f64
    };
    let rank = ranked.iter().position(|id| relevant.contains(id));
    Metrics {
        queries: 1,
        recall_at_1: recall(1),
        recall_at_5: recall(5),
        mrr: rank.map(|r| 1.0 / (r as f64 + 1.0)).unwrap_or(0.0),
    }
}

fn mean<'a>(ms: impl Iterator<Item = &'a Metrics>) -> Metrics {
    let ms: Vec<&Metrics> = ms.collect();
    let n = ms.len().max(1) as f64;
    Metrics {
        queries: ms.len(),
        recall_at_1: ms.iter().map(|m| m.recall_at_1).sum::<f64>() / n,
        recall_at_5: ms.iter().map(|m| m.recall_at_5).sum::<f64>() / n,
        mrr: ms.iter().map(|m| m.mrr).sum::<f64>() / n,
    }
}

/// One query's outcome in one mode.
struct Row<'a> {
    query: &'a EvalQuery,
    ranked: Vec<i64>,
}

fn mode_report(mode: &str, rows: &[&Row<'_>]) -> ModeReport {
    let positives: Vec<(&str, Metrics)> = rows
        .iter()
        .filter(|r| !r.query.relevant.is_empty())
        .map(|r| (r.query.kind.as_str(), score(&r.ranked, &r.query.relevant)))
        .collect();
    let mut kinds: Vec<&str> = positives.iter().map(|(k, _)| *k).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let by_kind = kinds
        .into_iter()
        .map(|k| {
            let m = mean(positives.iter().filter(|(kk, _)| *kk == k).map(|(_, m)| m));
            (k.to_owned(), m)
        })
        .collect();
    let negatives: Vec<&&Row<'_>> = rows
        .iter()
        .filter(|r| r.query.relevant.is_empty())
        .collect();
    let empty = negatives.iter().filter(|r| r.ranked.is_empty()).count();
    ModeReport {
        mode: mode.to_owned(),
        overall: mean(positives.iter().map(|(_, m)| m)),
        by_kind,
        negatives_empty: empty as f64 / negatives.len().max(1) as f64,
        negatives: negatives.len(),
    }
}

fn recall_report(outcomes: &[(&EvalPrompt, Vec<i64>)]) -> RecallReport {
    let unrelated: Vec<_> = outcomes.iter().filter(|(p, _)| !p.related).collect();
    let related: Vec<_> = outcomes.iter().filter(|(p, _)| p.related).collect();
    let share = |n: usize, of: usize| n as f64 / of.max(1) as f64;
    RecallReport {
        unrelated: unrelated.len(),
        unrelated_silent: share(
            unrelated.iter().filter(|(_, ids)| ids.is_empty()).count(),
            unrelated.len(),
        ),
        related: related.len(),
        related_injected: share(
            related.iter().filter(|(_, ids)| !ids.is_empty()).count(),
            related.len(),
        ),
        related_hit: share(
            related
                .iter()
                .filter(|(p, ids)| ids.iter().any(|id| p.relevant.contains(id)))
                .count(),
            related.len(),
        ),
    }
}

/// Indexes the set in a scratch directory and scores every query in each mode (each with its default
/// floor, as a user gets them) and every prompt through per-prompt recall.
pub fn evaluate(
    eval_dir: &Path,
    embedder: Arc<dyn Embedder>,
    fusion: Fusion,
) -> Result<EvalReport, SearchError> {
    let embedder_id = embedder.id().to_owned();
    let (_scratch, index, (docs, queries, prompts)) = indexed(eval_dir, embedder, fusion)?;
    const MODES: [(&str, Mode); 3] = [
        ("text", Mode::Text),
        ("vector", Mode::Vector),
        ("hybrid", Mode::Hybrid),
    ];
    let mut rows: Vec<Vec<Row<'_>>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for q in &queries {
        let filters = Filters {
            project: q.project.clone(),
            ..Default::default()
        };
        for (slot, (_, mode)) in MODES.iter().enumerate() {
            let hits = index
                .search(&SearchRequest::new(&q.query, *mode, &filters, PAGE))?
                .hits;
            rows[slot].push(Row {
                query: q,
                ranked: hits.iter().map(|h| h.id).collect(),
            });
        }
    }
    let mut recalls: Vec<(&EvalPrompt, Vec<i64>)> = Vec::new();
    for p in &prompts {
        let filters = Filters {
            project: Some(p.project.clone()),
            ..Default::default()
        };
        let hits = index
            .search(&SearchRequest::recall(&p.prompt, &filters, RECALL_LIMIT))?
            .hits;
        recalls.push((p, hits.iter().map(|h| h.id).collect()));
    }
    let halves = ["tune", "heldout", "all"]
        .into_iter()
        .map(|half| {
            let keep = |h: &str| half == "all" || h == half;
            let modes = MODES
                .iter()
                .enumerate()
                .map(|(slot, (name, _))| {
                    let in_half: Vec<&Row<'_>> =
                        rows[slot].iter().filter(|r| keep(&r.query.half)).collect();
                    mode_report(name, &in_half)
                })
                .collect();
            let in_half: Vec<(&EvalPrompt, Vec<i64>)> = recalls
                .iter()
                .filter(|(p, _)| keep(&p.half))
                .map(|(p, ids)| (*p, ids.clone()))
                .collect();
            HalfReport {
                half: half.to_owned(),
                modes,
                prompt_recall: recall_report(&in_half),
            }
        })
        .collect();
    Ok(EvalReport {
        observations: docs.len(),
        queries: queries.len(),
        prompts: prompts.len(),
        embedder: embedder_id,
        fusion,
        halves,
    })
}

/// One query's or prompt's hybrid candidates with their labels, for choosing calibration constants
/// offline (`claude-mem-bench search-eval --candidates FILE`). Only the tuning half may inform them.
#[derive(Debug, Serialize)]
struct CandidateRow<'a> {
    id: &'a str,
    half: &'a str,
    kind: &'a str,
    query: &'a str,
    /// Labelled relevant ids (empty for a negative or an unrelated prompt).
    relevant: &'a [i64],
    scale: crate::fusion::QueryScale,
    candidates: Vec<crate::fusion::Candidate>,
}

/// Writes every query's and prompt's hybrid candidate pool as JSON lines to `out`.
pub fn export_candidates(
    eval_dir: &Path,
    embedder: Arc<dyn Embedder>,
    out: &Path,
) -> Result<usize, SearchError> {
    let (_scratch, index, (_, queries, prompts)) = indexed(eval_dir, embedder, Fusion::default())?;
    let mut lines = Vec::new();
    let pool = crate::CANDIDATE_POOL;
    for q in &queries {
        let filters = Filters {
            project: q.project.clone(),
            ..Default::default()
        };
        let pooled = index.candidates(&q.query, Mode::Hybrid, &filters, pool)?;
        lines.push(serde_json::to_string(&CandidateRow {
            id: &q.id,
            half: &q.half,
            kind: &q.kind,
            query: &q.query,
            relevant: &q.relevant,
            scale: pooled.scale,
            candidates: pooled.candidates,
        })?);
    }
    for p in &prompts {
        let filters = Filters {
            project: Some(p.project.clone()),
            ..Default::default()
        };
        let pooled = index.candidates(&p.prompt, Mode::Hybrid, &filters, pool)?;
        lines.push(serde_json::to_string(&CandidateRow {
            id: &p.id,
            half: &p.half,
            kind: if p.related {
                "prompt_related"
            } else {
                "prompt_unrelated"
            },
            query: &p.prompt,
            relevant: &p.relevant,
            scale: pooled.scale,
            candidates: pooled.candidates,
        })?);
    }
    std::fs::write(out, lines.join("\n") + "\n")?;
    Ok(lines.len())
}
