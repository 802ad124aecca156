//! Team search: PostgreSQL's full text and the vectors, ranked as the laptop ranks, always within one
//! team.
//!
//! The candidates are the union of both halves, each scored on both sides (its cosine, its share of
//! the query's words) and ranked by the calibrated relevance of `claude_mem_search::fusion::rank`,
//! which compares across queries, so the laptop's floor applies: a question nothing answers finds
//! nothing, instead of its least bad match looking confident.
//!
//! Both halves filter by team before ranking (the text query's WHERE, the per-team graph or the
//! pgvector query's WHERE), and the rows are fetched by team again, so no ranking path can return
//! another team's memory.

use crate::vectors::Vectors;
use crate::{PgStore, TeamError};
use claude_mem_core::model::ObservationRow;
use claude_mem_core::settings::SearchSettings;
use claude_mem_search::fusion::{lexical_lean, rank, Candidate, QueryScale};
use claude_mem_search::{calibration, Fusion, Hit, Mode};
use std::collections::HashMap;
use std::sync::Arc;

/// Each half returns this many candidates per wanted result.
const CANDIDATES_PER_RESULT: usize = 3;
const MIN_CANDIDATES: usize = 30;

#[derive(Debug, Clone)]
pub struct SearchHit {
    pub observation: ObservationRow,
    pub score: f32,
    pub text_score: Option<f32>,
    pub vector_score: Option<f32>,
}

#[derive(Clone)]
pub struct TeamSearch {
    store: PgStore,
    vectors: Arc<Vectors>,
    fusion: Fusion,
}

/// The same fusion settings as the laptop's index, so a team sees the ranking they know.
pub fn fusion_from_settings(s: &SearchSettings) -> Fusion {
    if s.fusion == "rrf" {
        Fusion::Rrf { k: s.rrf_k }
    } else {
        Fusion::Weighted {
            text: s.text_weight,
            vector: s.vector_weight,
        }
    }
}

impl TeamSearch {
    pub fn new(store: PgStore, vectors: Arc<Vectors>, settings: &SearchSettings) -> Self {
        Self {
            store,
            vectors,
            fusion: fusion_from_settings(settings),
        }
    }

    pub fn vectors(&self) -> &Arc<Vectors> {
        &self.vectors
    }

    /// Best first, at most `limit`, only `team_id`'s observations (and `project`'s, if given), ranked
    /// as the laptop ranks: every candidate (either half's) scored on both sides, the calibrated
    /// relevance of [`rank`], and the laptop's floor (hybrid and vector modes drop what is under
    /// [`calibration::MIN_SCORE`], or [`calibration::LEXICAL_EMBEDDER_MIN_SCORE`] in hybrid with an
    /// embedder that is not semantic; text mode drops only what matches nothing), so a query nothing
    /// answers finds nothing. `min_score`, when given, replaces that floor, as on the laptop.
    pub async fn search(
        &self,
        team_id: i64,
        query: &str,
        project: Option<&str>,
        mode: Mode,
        limit: usize,
        min_score: Option<f32>,
    ) -> Result<Vec<SearchHit>, TeamError> {
        let pool = (limit * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let use_text = mode != Mode::Vector;
        let use_vector = mode != Mode::Text && !query.trim().is_empty();
        // The query is embedded beside the full-text query, once for everything the vectors answer.
        let text = async {
            if !use_text {
                return Ok(Vec::new());
            }
            self.store
                .text_search(
                    team_id,
                    query,
                    project,
                    i64::try_from(pool).unwrap_or(i64::MAX),
                )
                .await
        };
        let embedded = async {
            if !use_vector {
                return Ok(None);
            }
            self.vectors.embed_query(query).await.map(Some)
        };
        let (text, embedded) = tokio::join!(text, embedded);
        let (text, embedded) = (text?, embedded?);

        let mut candidates: Vec<Candidate> = Vec::with_capacity(text.len() + pool);
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for &(id, score) in &text {
            seen.insert(id, candidates.len());
            candidates.push(Candidate {
                id,
                bm25: Some(score),
                coverage: 0.0,
                cosine: None,
            });
        }
        let mut background = None;
        if let Some(q) = &embedded {
            // Text-only hits get their real cosine too (hybrid), so agreement counts.
            let others: Vec<i64> = if mode == Mode::Hybrid {
                text.iter().map(|(id, _)| *id).collect()
            } else {
                Vec::new()
            };
            let side = self
                .vectors
                .rank_side(team_id, q, project, pool, &others)
                .await?;
            background = side.background;
            for (id, cosine) in side.similarities {
                if let Some(&at) = seen.get(&id) {
                    candidates[at].cosine = Some(cosine);
                }
            }
            for (id, cosine) in side.hits {
                match seen.get(&id) {
                    Some(&at) => candidates[at].cosine = Some(cosine),
                    None => {
                        seen.insert(id, candidates.len());
                        candidates.push(Candidate {
                            id,
                            bm25: None,
                            coverage: 0.0,
                            cosine: Some(cosine),
                        });
                    }
                }
            }
        }
        if use_text {
            // The lexical side of every candidate (vector-only hits included): its share of the query's
            // words, and its full-text score where it matches.
            let ids: Vec<i64> = candidates.iter().map(|c| c.id).collect();
            let evidence = self.store.text_evidence(team_id, query, &ids).await?;
            for c in &mut candidates {
                if let Some(&(coverage, bm25)) = evidence.get(&c.id) {
                    c.coverage = coverage.clamp(0.0, 1.0);
                    if c.bm25.is_none() {
                        c.bm25 = bm25;
                    }
                }
            }
        }
        let scale = QueryScale {
            // BM25 only breaks ties: the best candidate's is the reference.
            reference: candidates.iter().filter_map(|c| c.bm25).fold(0.0, f32::max),
            background,
            lean: lexical_lean(query),
            semantic: self.vectors.semantic(),
        };
        let floor = min_score.unwrap_or_else(|| floor(mode, scale.semantic));
        let hits: Vec<Hit> = rank(&candidates, scale, mode, self.fusion)
            .into_iter()
            .filter(|h| h.score >= floor && h.score > 0.0)
            .take(limit)
            .collect();

        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let mut rows: HashMap<i64, ObservationRow> = self
            .store
            .get_observations(team_id, &ids)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                rows.remove(&h.id).map(|observation| SearchHit {
                    observation,
                    score: h.score,
                    text_score: h.text_score,
                    vector_score: h.vector_score,
                })
            })
            .collect())
    }
}

/// The laptop's default floor (`SearchIndex::search`): under it a hit is noise, not an answer.
fn floor(mode: Mode, semantic: bool) -> f32 {
    match mode {
        Mode::Text => 0.0,
        Mode::Hybrid if !semantic => calibration::LEXICAL_EMBEDDER_MIN_SCORE,
        Mode::Hybrid | Mode::Vector => calibration::MIN_SCORE,
    }
}
