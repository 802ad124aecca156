//! Team search: PostgreSQL's full text fused with the vectors, always within one team.
//!
//! Both halves filter by team before ranking (the text query's WHERE, the per-team graph or the
//! pgvector query's WHERE), and the rows are fetched by team again, so no ranking path can return
//! another team's memory.

use crate::vectors::Vectors;
use crate::{PgStore, TeamError};
use claude_mem_core::model::ObservationRow;
use claude_mem_core::settings::SearchSettings;
use claude_mem_search::{fuse, Fusion, Hit, Mode};
use std::collections::HashMap;
use std::sync::Arc;

/// Each half returns this many candidates per wanted result: fusion needs overlap to agree on.
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

    /// Best first, at most `limit`, only `team_id`'s observations (and `project`'s, if given).
    pub async fn search(
        &self,
        team_id: i64,
        query: &str,
        project: Option<&str>,
        mode: Mode,
        limit: usize,
    ) -> Result<Vec<SearchHit>, TeamError> {
        let candidates = (limit * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let text = async {
            if mode == Mode::Vector {
                return Ok(Vec::new());
            }
            self.store
                .text_search(
                    team_id,
                    query,
                    project,
                    i64::try_from(candidates).unwrap_or(i64::MAX),
                )
                .await
        };
        let vector = async {
            if mode == Mode::Text {
                return Ok(Vec::new());
            }
            self.vectors
                .search(team_id, query, project, candidates)
                .await
        };
        let (text, vector) = tokio::join!(text, vector);
        let (text, vector) = (text?, vector?);
        let hits: Vec<Hit> = match mode {
            Mode::Text => single(&text, limit, true),
            Mode::Vector => single(&vector, limit, false),
            Mode::Hybrid => fuse(&text, &vector, self.fusion, limit),
        };
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

/// One half's list as hits, its own score kept as the score.
fn single(list: &[(i64, f32)], limit: usize, text: bool) -> Vec<Hit> {
    list.iter()
        .take(limit)
        .map(|&(id, score)| Hit {
            id,
            score,
            text_score: text.then_some(score),
            vector_score: (!text).then_some(score),
        })
        .collect()
}
