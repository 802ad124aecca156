//! Turning the two signals into one relevance a caller can threshold.
//!
//! Every candidate is scored on both sides (a full-text hit gets its real cosine, a vector hit its real
//! lexical match), and each side is calibrated on a scale that does not depend on the other candidates:
//!
//! - **lexical**: the IDF-weighted share of the query's content words the memory contains
//!   (`TextIndex::coverage`): 1 means "contains what was asked"; a query whose informative words nothing
//!   contains stays low however its common words match. BM25 only breaks ties;
//! - **semantic**: how far the cosine stands above the query's background (its cosine with memories in
//!   general, [`Background`]) in standard deviations, mapped onto 0..1. Embedders differ in where their
//!   cosines sit (MiniLM's unrelated pairs around 0.1–0.3, the hashing fallback's near 0); the distance
//!   from the background travels between them.
//!
//! The relevance combines them as independent evidence, `1 − (1 − b·semantic)(1 − a·lexical)`, with
//! weights that move toward lexical for identifier-like or quoted queries. Min-max normalisation per query
//! (the old fusion) made the best hit 1.0 however poor it was, so nothing could ever be judged irrelevant.
//! Ties go to the newer memory.

use crate::vector_index::Background;
use crate::Mode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Fusion {
    Weighted { text: f32, vector: f32 },
    Rrf { k: f32 },
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Weighted {
            text: 0.3,
            vector: 0.7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: i64,
    /// Calibrated relevance in 0..1 (see the module docs); comparable across queries.
    pub score: f32,
    /// Lexical side: the share of the query the memory matches (0..1); `None` when no word matches.
    pub text_score: Option<f32>,
    /// Semantic side: the raw cosine similarity; `None` in text mode or without a stored vector.
    pub vector_score: Option<f32>,
}

/// The constants of the calibration, chosen on the tuning half of `tests/eval` (never the held-out half);
/// `claude-mem-bench search-eval` reports both halves.
pub mod calibration {
    /// Standard deviations above the background where semantic evidence starts, and where it is full.
    pub const Z_FLOOR: f32 = 2.0;
    pub const Z_FULL: f32 = 7.5;
    /// Without a background (fewer than 8 memories): raw cosine where evidence starts and is full.
    pub const COS_FLOOR: f32 = 0.25;
    pub const COS_FULL: f32 = 0.7;
    /// How much lexical evidence counts, for a natural-language query and for one made only of
    /// identifiers or quotes.
    pub const LEXICAL_PROSE: f32 = 0.6;
    pub const LEXICAL_CODE: f32 = 0.9;
    /// How much semantic evidence counts, likewise: an exact identifier is better judged by its letters.
    pub const SEMANTIC_PROSE: f32 = 1.0;
    pub const SEMANTIC_CODE: f32 = 0.8;
    /// Below this, hybrid and vector search return nothing: "nothing relevant" rather than noise.
    pub const MIN_SCORE: f32 = 0.3;
    /// Per-prompt recall's floor: higher, since its results are injected without being asked for.
    pub const RECALL_MIN_SCORE: f32 = 0.5;
    /// With the hashing fallback: the share its cosine gets in hybrid, and hybrid's floor (the lexical
    /// share of a query a memory must contain).
    pub const LEXICAL_EMBEDDER_SHARE: f32 = 0.05;
    pub const LEXICAL_EMBEDDER_MIN_SCORE: f32 = 0.1;
}

/// Lexical evidence: the IDF-weighted share of the query's words the memory contains; BM25 (as a share
/// of the query's reference score) only breaks ties between equal shares.
pub fn lexical(coverage: f32, bm25: Option<f32>, reference: f32) -> f32 {
    let tie_break = match bm25 {
        Some(s) if reference > 0.0 => (s / reference).clamp(0.0, 1.0),
        _ => 0.0,
    };
    (coverage.clamp(0.0, 1.0) * 0.999 + tie_break * 0.001).clamp(0.0, 1.0)
}

/// Semantic evidence: where the cosine stands against the query's background, 0..1.
pub fn semantic(cosine: Option<f32>, background: Option<Background>) -> f32 {
    use calibration::*;
    let Some(c) = cosine else { return 0.0 };
    let v = match background {
        Some(b) => ((c - b.mean) / b.std - Z_FLOOR) / (Z_FULL - Z_FLOOR),
        None => (c - COS_FLOOR) / (COS_FULL - COS_FLOOR),
    };
    v.clamp(0.0, 1.0)
}

/// Whether a query word names code: `snake_case`, `camelCase`, `path/to`, `file.rs`, `Type::method`,
/// `ERR_42`. People type those to find the exact thing, so such queries lean lexical.
fn looks_like_code(word: &str) -> bool {
    let inner_capital = word
        .char_indices()
        .skip(1)
        .any(|(i, c)| c.is_uppercase() && word[..i].chars().any(char::is_lowercase));
    let mixed_digits =
        word.chars().any(|c| c.is_ascii_digit()) && word.chars().any(char::is_alphabetic);
    inner_capital
        || mixed_digits
        || word.contains(['_', '/', '\\'])
        || word.contains("::")
        || word.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && (1..=5).contains(&b.len()) && b.chars().all(char::is_alphanumeric)
        })
}

/// The share (0..1) of `query`'s words that are code or quoted: how far the weights move from prose
/// toward code.
pub fn lexical_lean(query: &str) -> f32 {
    let mut words = 0usize;
    let mut code = 0usize;
    for (i, part) in query.split('"').enumerate() {
        let quoted = i % 2 == 1;
        for w in part.split_whitespace() {
            let w = w.trim_matches(|c: char| {
                matches!(
                    c,
                    ',' | ';' | '?' | '!' | '(' | ')' | '`' | '\'' | '.' | ':'
                )
            });
            if w.is_empty() {
                continue;
            }
            words += 1;
            if quoted || looks_like_code(w) {
                code += 1;
            }
        }
    }
    if words == 0 {
        return 0.0;
    }
    code as f32 / words as f32
}

/// One candidate with both sides filled in as far as they exist.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Candidate {
    pub id: i64,
    pub bm25: Option<f32>,
    /// IDF-weighted share of the query's content words the memory contains (0..1).
    pub coverage: f32,
    pub cosine: Option<f32>,
}

/// What the calibration needs to know about the query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QueryScale {
    pub reference: f32,
    pub background: Option<Background>,
    /// Share of the query's words that are code or quoted ([`lexical_lean`]).
    pub lean: f32,
    /// Whether the embedder's cosine carries meaning ([`claude_mem_embed::Embedder::semantic`]).
    pub semantic: bool,
}

/// Scores and orders every candidate, best first (nothing is cut: the caller applies the floor and the
/// page). `Weighted` orders by the calibrated relevance; `Rrf` orders by reciprocal rank over the two
/// sides' own orders but still reports the calibrated relevance, so a floor means the same in both.
pub fn rank(candidates: &[Candidate], scale: QueryScale, mode: Mode, fusion: Fusion) -> Vec<Hit> {
    let mut hits: Vec<Hit> = candidates
        .iter()
        .map(|c| {
            let l = lexical(c.coverage, c.bm25, scale.reference);
            let v = semantic(c.cosine, scale.background);
            let score = match mode {
                Mode::Text => l,
                Mode::Vector => v,
                // The hashing fallback's cosine re-counts the same words the lexical side already
                // counted: blending it in as independent evidence lost to full text alone on the
                // evaluation, so it only orders memories the words rank alike.
                Mode::Hybrid if !scale.semantic => {
                    l * (1.0 - calibration::LEXICAL_EMBEDDER_SHARE)
                        + v * calibration::LEXICAL_EMBEDDER_SHARE
                }
                Mode::Hybrid => {
                    use calibration::*;
                    let a = LEXICAL_PROSE + (LEXICAL_CODE - LEXICAL_PROSE) * scale.lean;
                    let b = SEMANTIC_PROSE + (SEMANTIC_CODE - SEMANTIC_PROSE) * scale.lean;
                    // Either side alone can make a memory relevant, agreement makes it more so, and
                    // hybrid never scores a memory below its (weighted) semantic evidence alone: a
                    // missing word cannot sink a good paraphrase.
                    1.0 - (1.0 - b * v) * (1.0 - a * l)
                }
            };
            Hit {
                id: c.id,
                score,
                text_score: (c.bm25.is_some() || c.coverage > 0.0).then_some(l),
                vector_score: c.cosine,
            }
        })
        .collect();
    let by_newest = |a: &Hit, b: &Hit| b.id.cmp(&a.id);
    match (fusion, mode) {
        (Fusion::Rrf { k }, Mode::Hybrid) => {
            let order = |key: &dyn Fn(&Candidate) -> Option<f32>| -> HashMap<i64, usize> {
                let mut list: Vec<(i64, f32)> = candidates
                    .iter()
                    .filter_map(|c| Some((c.id, key(c)?)))
                    .collect();
                list.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
                list.iter()
                    .enumerate()
                    .map(|(rank, (id, _))| (*id, rank))
                    .collect()
            };
            let text = order(&|c| c.bm25);
            let vector = order(&|c| c.cosine);
            let rrf = |id: i64| -> f32 {
                [&text, &vector]
                    .iter()
                    .filter_map(|ranks| ranks.get(&id))
                    .map(|r| 1.0 / (k + *r as f32 + 1.0))
                    .sum()
            };
            hits.sort_by(|a, b| {
                rrf(b.id)
                    .total_cmp(&rrf(a.id))
                    .then_with(|| by_newest(a, b))
            });
        }
        _ => hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| by_newest(a, b))),
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64, coverage: f32, cosine: f32) -> Candidate {
        Candidate {
            id,
            bm25: (coverage > 0.0).then_some(coverage * 10.0),
            coverage,
            cosine: Some(cosine),
        }
    }

    fn scale(lean: f32) -> QueryScale {
        QueryScale {
            reference: 10.0,
            background: Some(Background {
                mean: 0.1,
                std: 0.05,
            }),
            lean,
            semantic: true,
        }
    }

    #[test]
    fn relevance_is_bounded_and_either_side_alone_can_carry_a_memory() {
        // 1: full lexical match, background cosine; 2: strong paraphrase, no shared word; 3: neither.
        let cands = [
            candidate(1, 1.0, 0.1),
            candidate(2, 0.0, 0.5),
            candidate(3, 0.1, 0.12),
        ];
        let hits = rank(&cands, scale(0.0), Mode::Hybrid, Fusion::default());
        assert!(
            hits.iter().all(|h| (0.0..=1.0).contains(&h.score)),
            "{hits:?}"
        );
        let score = |id| hits.iter().find(|h| h.id == id).unwrap().score;
        assert!(score(1) >= calibration::MIN_SCORE && score(2) >= calibration::MIN_SCORE);
        assert!(score(3) < calibration::MIN_SCORE, "{hits:?}");
        // Hybrid never rates a memory below its semantic evidence alone.
        let vector = rank(&cands, scale(0.0), Mode::Vector, Fusion::default());
        for v in vector {
            assert!(score(v.id) >= v.score - 1e-6);
        }
    }

    #[test]
    fn identifier_queries_lean_lexical() {
        assert_eq!(lexical_lean("why did the sync stall"), 0.0);
        assert_eq!(lexical_lean("retry_with_backoff"), 1.0);
        assert_eq!(lexical_lean("\"line number\" parse"), 2.0 / 3.0);
        assert!(lexical_lean("src/store/db.rs crash") > 0.4);
        // An exact name with a middling cosine beats a near paraphrase more often when the query is code.
        let cands = [candidate(1, 1.0, 0.2), candidate(2, 0.0, 0.4)];
        let prose = rank(&cands, scale(0.0), Mode::Hybrid, Fusion::default());
        let code = rank(&cands, scale(1.0), Mode::Hybrid, Fusion::default());
        let margin = |hits: &[Hit]| {
            hits.iter().find(|h| h.id == 1).unwrap().score
                - hits.iter().find(|h| h.id == 2).unwrap().score
        };
        assert!(margin(&code) > margin(&prose));
    }
}
