//! `GET /api/search` and `POST /api/reindex`.
//!
//! Search covers observations by default, so clients written before summaries and prompts were
//! searchable keep getting the answer they expect (`results[].observation`, ids usable with
//! `/api/observations/{id}`). `kind=` asks for summaries, prompts, several kinds or `all`; every result
//! says its `kind` and carries the row under that name (`observation`, `summary` or `prompt`).

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::model::ObservationType;
use claude_mem_core::model::{ObservationRow, StreamPrompt, SummaryRow};
use claude_mem_search::{Filters, Hit, Mode, SearchRequest, Source, CANDIDATE_POOL};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for (at most 2000 bytes).
    #[param(required = true)]
    q: Option<String>,
    /// `hybrid` (default), `text` or `vector` (`strategy` is read as a synonym).
    #[serde(alias = "strategy")]
    mode: Option<String>,
    project: Option<String>,
    /// Observation type: decision, bugfix, feature, refactor, discovery or change.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// A date (`2026-11-01`), epoch milliseconds, or a duration back from now like `7d`, `12h`, `30m`.
    since: Option<String>,
    /// The end of the window, in the same forms as `since`.
    until: Option<String>,
    /// 1 to 200, default 20.
    limit: Option<usize>,
    /// Hits to skip (paging through one ranking), at most 10000.
    offset: Option<usize>,
    /// Calibrated relevance (0..1) under which hits are dropped; default: the mode's floor.
    min_score: Option<f32>,
    /// `observation` (default), `summary`, `prompt`, a comma-separated list of them, or `all`.
    #[serde(rename = "kind")]
    kinds: Option<String>,
    /// Only observations that read or modified this file (a path, or its trailing part).
    file: Option<String>,
    /// `relevance` (default) or `newest`.
    order: Option<String>,
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Best first: the ranking `offset` pages through.
    Relevance,
    /// Newest first among what is relevant enough (the floor still applies, so a common word does
    /// not turn search into a list of everything recent).
    Newest,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Order::Relevance => "relevance",
            Order::Newest => "newest",
        }
    }
}

/// The kinds `kind=` names, in [`Source::ALL`] order; the reason it is refused otherwise.
pub fn parse_kinds(value: Option<&str>) -> Result<Vec<Source>, String> {
    let Some(value) = value else {
        return Ok(vec![Source::Observation]);
    };
    let mut wanted = Vec::new();
    for part in value.split(',') {
        match part.trim().to_ascii_lowercase().as_str() {
            "all" | "any" => wanted.extend(Source::ALL),
            name => match Source::parse(name) {
                Some(source) => wanted.push(source),
                None => {
                    return Err(format!(
                        "kind {part:?} is not observation, summary, prompt or all"
                    ))
                }
            },
        }
    }
    Ok(Source::ALL
        .into_iter()
        .filter(|s| wanted.contains(s))
        .collect())
}

pub fn parse_since(s: &str, now_ms: i64) -> Option<i64> {
    let s = s.trim();
    if let Some(ms) = claude_mem_core::clock::parse_instant(s) {
        return Some(ms);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    Some(now_ms - n.checked_mul(unit_ms)?)
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "search_unavailable",
        "the search index is not open",
    )
}

/// `GET /api/search`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchAnswer {
    /// `hybrid`, `text` or `vector`.
    #[schema(value_type = String)]
    pub mode: Mode,
    /// The kinds searched: `observation`, `summary`, `prompt`.
    pub kinds: Vec<String>,
    /// `relevance` or `newest`.
    pub order: String,
    pub results: Vec<SearchResult>,
    pub embed_ms: f64,
    pub search_ms: f64,
    /// The search index (`claude_mem_search::IndexStatus`).
    pub index: claude_mem_search::IndexStatus,
}

/// One hit: `kind` says which row it carries, under that name.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SearchResult {
    Observation {
        #[serde(flatten)]
        scores: Scores,
        observation: FoundObservation,
    },
    Summary {
        #[serde(flatten)]
        scores: Scores,
        summary: SummaryRow,
    },
    Prompt {
        #[serde(flatten)]
        scores: Scores,
        prompt: StreamPrompt,
    },
}

/// A hit's relevance: calibrated `score` (0..1) and each side's own score (`null` when that side did
/// not match). Widened to f64 as the JSON always carried them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Scores {
    pub score: f64,
    #[schema(required = true)]
    pub text_score: Option<f64>,
    #[schema(required = true)]
    pub vector_score: Option<f64>,
}

/// An observation found by search; `truncated` when its lists were cut to the caps.
#[derive(Debug, Serialize, ToSchema)]
pub struct FoundObservation {
    #[serde(flatten)]
    pub row: ObservationRow,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

/// A search request as every backend takes it: the query string's parameters checked once, here, so the
/// laptop and the team server refuse the same requests with the same reasons.
#[derive(Debug, Clone)]
pub struct CheckedSearch {
    pub text: String,
    pub mode: Mode,
    pub project: Option<String>,
    /// An observation type, lower case.
    pub kind: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
    pub offset: usize,
    pub min_score: Option<f32>,
    pub sources: Vec<Source>,
    pub file: Option<String>,
    pub newest: bool,
}

impl SearchQuery {
    pub fn checked(self) -> Result<CheckedSearch, ApiError> {
        let q = self;
        let text = q.q.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(ApiError::bad_request(
                "invalid_query",
                "q must not be empty",
            ));
        }
        if text.len() > 2000 {
            return Err(ApiError::bad_request(
                "invalid_query",
                "q is longer than 2000 bytes",
            ));
        }
        let mode = match q.mode.as_deref() {
            None => Mode::Hybrid,
            Some(m) => Mode::parse(m).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("mode {m:?} is not hybrid, text or vector"),
                )
            })?,
        };
        let kind = match q.kind {
            Some(k) => Some(
                ObservationType::parse(&k)
                    .ok_or_else(|| {
                        ApiError::bad_request("invalid_query", format!("unknown type {k:?}"))
                    })?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let instant = |name: &str, value: Option<&str>| -> Result<Option<i64>, ApiError> {
            value
                .map(|s| {
                    parse_since(s, claude_mem_core::clock::now_ms()).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("{name} {s:?} is not a date (2026-11-01), epoch ms, or a duration like 7d / 12h / 30m"),
                        )
                    })
                })
                .transpose()
        };
        let since_ms = instant("since", q.since.as_deref())?;
        let until_ms = instant("until", q.until.as_deref())?;
        if let (Some(since), Some(until)) = (since_ms, until_ms) {
            if since > until {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "since is after until: the window is empty",
                ));
            }
        }
        let limit = q.limit.unwrap_or(20);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "limit must be between 1 and 200",
            ));
        }
        let offset = q.offset.unwrap_or(0);
        if offset > 10_000 {
            return Err(ApiError::bad_request(
                "invalid_query",
                "offset must be at most 10000",
            ));
        }
        let min_score = match q.min_score {
            Some(m) if !(0.0..=1.0).contains(&m) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "min_score must be between 0 and 1",
                ))
            }
            other => other,
        };
        let sources = parse_kinds(q.kinds.as_deref())
            .map_err(|r| ApiError::bad_request("invalid_query", r))?;
        let file =
            match q.file.as_deref().map(str::trim) {
                Some("") => return Err(ApiError::bad_request(
                    "invalid_query",
                    "file must not be empty: give a path or its last part, like src/db.rs or db.rs",
                )),
                Some(f) if f.len() > 1000 => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        "file is longer than 1000 bytes",
                    ))
                }
                other => other.map(str::to_owned),
            };
        if !sources.contains(&Source::Observation) {
            // Both narrow observations only: asked of summaries or prompts alone they could only ever
            // answer nothing, which would look like "no match" rather than "wrong question".
            let narrowing = [("type", kind.is_some()), ("file", file.is_some())];
            if let Some((name, _)) = narrowing.iter().find(|(_, given)| *given) {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "{name} filters observations; add observation to kind (or use kind=all)"
                    ),
                ));
            }
        }
        let order = match q.order.as_deref().map(|o| o.trim().to_ascii_lowercase()) {
            None => Order::Relevance,
            Some(o) if o == "relevance" || o.is_empty() => Order::Relevance,
            Some(o) if o == "newest" => Order::Newest,
            Some(o) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("order {o:?} is not relevance or newest"),
                ))
            }
        };
        Ok(CheckedSearch {
            text,
            mode,
            project: q.project,
            kind,
            since_ms,
            until_ms,
            limit,
            offset,
            min_score,
            sources,
            file,
            newest: order == Order::Newest,
        })
    }
}

#[utoipa::path(get, path = "/api/search", tag = "memories", params(SearchQuery),
    responses((status = 200, description = "Hits, best (or newest) first", body = SearchAnswer),
        (status = 400, description = "An invalid query"),
        (status = 503, description = "The search index is not open")))]
pub async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let started = std::time::Instant::now();
    let Query(q) = query?;
    let index = state.search.clone().ok_or_else(unavailable)?;
    let CheckedSearch {
        text,
        mode,
        project,
        kind,
        since_ms,
        until_ms,
        limit,
        offset,
        min_score,
        sources,
        file,
        newest,
    } = q.checked()?;
    let order = if newest {
        Order::Newest
    } else {
        Order::Relevance
    };
    // `file=` restricts to the observations that touched it (checked against every other filter here,
    // since the vector side of a restricted search cannot check them).
    let only: Option<Vec<i64>> = match &file {
        Some(f) => Some(
            state
                .store
                .observation_ids_touching(
                    f,
                    project.as_deref(),
                    kind.as_deref(),
                    since_ms,
                    until_ms,
                )
                .await?
                .into_iter()
                .filter_map(|id| Source::Observation.key(id))
                .collect(),
        ),
        None => None,
    };
    let filters = Filters {
        project,
        kind,
        since_ms,
        until_ms,
    };
    // Newest first reorders everything relevant enough, so the index returns all of it (each kind's
    // whole pool) and the page is cut after sorting by time.
    let (fetch_limit, fetch_offset) = match order {
        Order::Relevance => (limit, offset),
        Order::Newest => (CANDIDATE_POOL.max(offset + limit) * sources.len(), 0),
    };
    let worker = Arc::clone(&index);
    let searched = sources.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        worker.search(&SearchRequest {
            query: &text,
            mode,
            filters: &filters,
            limit: fetch_limit,
            offset: fetch_offset,
            min_score,
            sources: &searched,
            only: only.as_deref(),
        })
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "search_failed",
            e.to_string(),
        )
    })?
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "search_failed",
            e.to_string(),
        )
    })?;
    let mut results = load_results(&state.store, &outcome.hits).await?;
    if order == Order::Newest {
        // Newest first; the same instant falls back to the higher key, i.e. the later row.
        results.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.key.cmp(&a.key)));
        results = results.into_iter().skip(offset).take(limit).collect();
    }
    let results: Vec<SearchResult> = results.into_iter().map(|r| r.result).collect();
    crate::metrics::record_search(mode, started.elapsed());
    Ok(Json(SearchAnswer {
        mode,
        kinds: sources.iter().map(|s| s.as_str().to_owned()).collect(),
        order: order.as_str().to_owned(),
        results,
        embed_ms: outcome.embed_ms,
        search_ms: outcome.search_ms,
        index: index.status(),
    }))
}

/// One search result, ready to serialise, with what ordering by time needs.
struct Loaded {
    key: i64,
    created_at: i64,
    result: SearchResult,
}

/// A row found by search, before its scores are attached.
enum Row {
    Observation(FoundObservation),
    Summary(SummaryRow),
    Prompt(StreamPrompt),
}

/// The rows behind `hits`, in the hits' order, each as `{kind, score, text_score, vector_score, <kind>:
/// row}`. A hit whose row is gone (deleted since it was indexed) is left out.
async fn load_results(
    store: &claude_mem_core::Store,
    hits: &[Hit],
) -> Result<Vec<Loaded>, ApiError> {
    let mut ids: HashMap<Source, Vec<i64>> = HashMap::new();
    for h in hits {
        if let Some((source, id)) = Source::of_key(h.id) {
            ids.entry(source).or_default().push(id);
        }
    }
    let ids_of = |s: Source| ids.get(&s).map(Vec::as_slice).unwrap_or_default();
    let mut rows: HashMap<i64, (i64, Row)> = HashMap::new();
    for mut o in store.get_observations(ids_of(Source::Observation)).await? {
        if let Some(key) = Source::Observation.key(o.id) {
            // A row stored before the caps (or by a compressor) can hold any number of files: every
            // search that hits it would carry them all. Lists are cut to the caps, and say so.
            let cut = cap_observation_lists(&mut o);
            let created_at = o.created_at;
            let row = Row::Observation(FoundObservation {
                row: o,
                truncated: cut.then_some(true),
            });
            rows.insert(key, (created_at, row));
        }
    }
    for s in store.get_summaries(ids_of(Source::Summary)).await? {
        if let Some(key) = Source::Summary.key(s.id) {
            rows.insert(key, (s.created_at, Row::Summary(s)));
        }
    }
    for p in store.get_prompts(ids_of(Source::Prompt)).await? {
        if let Some(key) = Source::Prompt.key(p.id) {
            rows.insert(key, (p.created_at, Row::Prompt(p)));
        }
    }
    Ok(hits
        .iter()
        .filter_map(|h| {
            let (created_at, row) = rows.remove(&h.id)?;
            let scores = Scores {
                score: f64::from(h.score),
                text_score: h.text_score.map(f64::from),
                vector_score: h.vector_score.map(f64::from),
            };
            let result = match row {
                Row::Observation(observation) => SearchResult::Observation {
                    scores,
                    observation,
                },
                Row::Summary(summary) => SearchResult::Summary { scores, summary },
                Row::Prompt(prompt) => SearchResult::Prompt { scores, prompt },
            };
            Some(Loaded {
                key: h.id,
                created_at,
                result,
            })
        })
        .collect())
}

/// Cuts an observation's lists to [`claude_mem_core::limits`]; true when something was cut.
pub fn cap_observation_lists(o: &mut claude_mem_core::model::ObservationRow) -> bool {
    use claude_mem_core::limits::cap_list;
    let mut cut = cap_list("files_read", &mut o.files_read);
    cut |= cap_list("files_modified", &mut o.files_modified);
    cut |= cap_list("facts", &mut o.facts);
    cut |= cap_list("concepts", &mut o.concepts);
    cut |= cap_list("keywords", &mut o.keywords);
    cut
}

/// `POST /api/reindex`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReindexAnswer {
    /// `reindexing`.
    pub status: String,
    /// The highest observation id the rebuild will reach.
    pub until_id: i64,
    /// The search index (`claude_mem_search::IndexStatus`).
    pub index: claude_mem_search::IndexStatus,
}

/// Drops the indexes and lets the indexer refill them from SQLite; progress is in `/api/health`.
#[utoipa::path(post, path = "/api/reindex", tag = "memories",
    responses((status = 202, description = "The rebuild started", body = ReindexAnswer),
        (status = 503, description = "The search index is not open")))]
pub async fn reindex(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<ReindexAnswer>), ApiError> {
    let index = state.search.clone().ok_or_else(unavailable)?;
    rebuild(&state, &index).await?;
    let total = state.store.max_observation_id().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReindexAnswer {
            status: "reindexing".into(),
            until_id: total,
            index: index.status(),
        }),
    ))
}

/// Empties the search index and wakes the indexer, which rebuilds it from SQLite in the background
/// (from the stored vectors: no model call for what is already embedded).
pub async fn rebuild(
    state: &AppState,
    index: &Arc<claude_mem_search::SearchIndex>,
) -> Result<(), ApiError> {
    let worker = Arc::clone(index);
    tokio::task::spawn_blocking(move || worker.reset())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reindex_failed",
                e.to_string(),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reindex_failed",
                e.to_string(),
            )
        })?;
    state.store.observation_signal().notify_one();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn kinds_parse_lists_and_all_in_a_fixed_order() {
        use super::parse_kinds;
        use claude_mem_search::Source;
        assert_eq!(parse_kinds(None).unwrap(), [Source::Observation]);
        assert_eq!(parse_kinds(Some("all")).unwrap(), Source::ALL);
        assert_eq!(
            parse_kinds(Some("prompt, Summary")).unwrap(),
            [Source::Summary, Source::Prompt]
        );
        assert_eq!(
            parse_kinds(Some("prompts,prompt")).unwrap(),
            [Source::Prompt]
        );
        assert!(parse_kinds(Some("poem")).unwrap_err().contains("poem"));
        assert!(parse_kinds(Some("")).is_err());
        assert!(parse_kinds(Some("summary,")).is_err());
    }

    #[test]
    fn since_accepts_epoch_and_durations() {
        assert_eq!(parse_since("1700000000000", 0), Some(1_700_000_000_000));
        assert_eq!(parse_since("7d", 10 * 86_400_000), Some(3 * 86_400_000));
        assert_eq!(parse_since("2h", 3 * 3_600_000), Some(3_600_000));
        assert_eq!(parse_since("soon", 0), None);
        assert_eq!(parse_since("5y", 0), None);
    }
}
