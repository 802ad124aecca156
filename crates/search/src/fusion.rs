//! Fusing the two candidate lists. BM25 scores are unbounded and cosine similarities live in [-1, 1], so
//! they are min-max normalised per query before weighting; reciprocal-rank fusion ignores scores entirely
//! and is the robust alternative. Ties (common when a memory is found by one side only) go to the newer
//! memory.

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
    pub score: f32,
    pub text_score: Option<f32>,
    pub vector_score: Option<f32>,
}

fn normalise(list: &[(i64, f32)]) -> HashMap<i64, f32> {
    let (min, max) = list.iter().fold((f32::MAX, f32::MIN), |(lo, hi), (_, s)| {
        (lo.min(*s), hi.max(*s))
    });
    list.iter()
        .map(|(id, s)| {
            let n = if max > min {
                (s - min) / (max - min)
            } else {
                1.0
            };
            (*id, n)
        })
        .collect()
}

/// Combines best-first lists. Ties go to the newer memory: observation ids are assigned in creation order.
pub fn fuse(text: &[(i64, f32)], vector: &[(i64, f32)], fusion: Fusion, limit: usize) -> Vec<Hit> {
    let mut hits: HashMap<i64, Hit> = HashMap::new();
    for (id, s) in text {
        hits.entry(*id)
            .or_insert(Hit {
                id: *id,
                score: 0.0,
                text_score: None,
                vector_score: None,
            })
            .text_score = Some(*s);
    }
    for (id, s) in vector {
        hits.entry(*id)
            .or_insert(Hit {
                id: *id,
                score: 0.0,
                text_score: None,
                vector_score: None,
            })
            .vector_score = Some(*s);
    }
    match fusion {
        Fusion::Weighted {
            text: wt,
            vector: wv,
        } => {
            let nt = normalise(text);
            let nv = normalise(vector);
            for h in hits.values_mut() {
                h.score = wt * nt.get(&h.id).copied().unwrap_or(0.0)
                    + wv * nv.get(&h.id).copied().unwrap_or(0.0);
            }
        }
        Fusion::Rrf { k } => {
            for (rank, (id, _)) in text.iter().enumerate() {
                if let Some(h) = hits.get_mut(id) {
                    h.score += 1.0 / (k + rank as f32 + 1.0);
                }
            }
            for (rank, (id, _)) in vector.iter().enumerate() {
                if let Some(h) = hits.get_mut(id) {
                    h.score += 1.0 / (k + rank as f32 + 1.0);
                }
            }
        }
    }
    let mut out: Vec<Hit> = hits.into_values().collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| b.id.cmp(&a.id)));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_prefers_agreement_and_breaks_ties_by_recency() {
        let text = [(1, 12.0), (2, 6.0), (3, 1.0)];
        let vector = [(2, 0.9), (4, 0.8), (1, 0.2)];
        let hits = fuse(&text, &vector, Fusion::default(), 10);
        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids[0], 2, "{hits:?}");
        assert_eq!(hits.len(), 4);
        // Equal scores: newest first.
        let tie = fuse(&[(1, 1.0), (5, 1.0)], &[], Fusion::default(), 2);
        assert_eq!(tie[0].id, 5);
    }

    #[test]
    fn rrf_uses_ranks_only() {
        let hits = fuse(
            &[(1, 100.0), (2, 1.0)],
            &[(2, 0.99), (1, 0.1)],
            Fusion::Rrf { k: 60.0 },
            5,
        );
        assert!((hits[0].score - hits[1].score).abs() < 1e-6);
    }
}
