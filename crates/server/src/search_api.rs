//! `GET /api/search` and `POST /api/reindex`.

use crate::api_error::ApiError;
use crate::worker::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::compress::ObservationType;
use claude_mem_search::{Filters, Mode, SearchRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    mode: Option<String>,
    project: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Epoch milliseconds, or a duration back from now like `7d`, `12h`, `30m`.
    since: Option<String>,
    /// The end of the window, in the same forms as `since`.
    until: Option<String>,
    limit: Option<usize>,
    /// Hits to skip (paging through one ranking).
    offset: Option<usize>,
    /// Calibrated relevance (0..1) under which hits are dropped; default: the mode's floor.
    min_score: Option<f32>,
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

pub async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    let Query(q) = query?;
    let index = state.search.clone().ok_or_else(unavailable)?;
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
    let filters = Filters {
        project: q.project,
        kind,
        since_ms,
        until_ms,
    };
    let worker = Arc::clone(&index);
    let outcome = tokio::task::spawn_blocking(move || {
        worker.search(&SearchRequest {
            query: &text,
            mode,
            filters: &filters,
            limit,
            offset,
            min_score,
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
    let ids: Vec<i64> = outcome.hits.iter().map(|h| h.id).collect();
    let rows = state.store.get_observations(&ids).await?;
    let results: Vec<Value> = outcome
        .hits
        .iter()
        .filter_map(|h| {
            let o = rows.iter().find(|o| o.id == h.id)?;
            Some(json!({
                "score": h.score, "text_score": h.text_score, "vector_score": h.vector_score,
                "observation": o,
            }))
        })
        .collect();
    crate::metrics::record_search(mode, started.elapsed());
    Ok(Json(json!({
        "mode": mode,
        "results": results,
        "embed_ms": outcome.embed_ms,
        "search_ms": outcome.search_ms,
        "index": index.status(),
    })))
}

/// Drops the indexes and lets the indexer refill them from SQLite; progress is in `/api/health`.
pub async fn reindex(State(state): State<AppState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let index = state.search.clone().ok_or_else(unavailable)?;
    let worker = Arc::clone(&index);
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
    let total = state.store.max_observation_id().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "reindexing", "until_id": total, "index": index.status() })),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_accepts_epoch_and_durations() {
        assert_eq!(parse_since("1700000000000", 0), Some(1_700_000_000_000));
        assert_eq!(parse_since("7d", 10 * 86_400_000), Some(3 * 86_400_000));
        assert_eq!(parse_since("2h", 3 * 3_600_000), Some(3_600_000));
        assert_eq!(parse_since("soon", 0), None);
        assert_eq!(parse_since("5y", 0), None);
    }
}
