//! The REST API under `/api`: health and the captured sessions.

use crate::api_error::ApiError;
use crate::worker::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_mem_core::compress::ObservationType;
use claude_mem_core::store::ObservationFilter;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

pub async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    health_json(&state).await.map(Json)
}

/// Also pushed to the viewer over the live stream.
pub async fn health_json(state: &AppState) -> Result<Value, ApiError> {
    let counts = state.store.health_counts().await?;
    Ok(json!({
        "status": "ok",
        "version": claude_mem_core::VERSION,
        "pid": std::process::id(),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "data_dir": state.data_dir.root(),
        "database": state.store.path(),
        "counts": counts,
        "processor": state.processor.as_ref().map(|p| p.status()),
        "index": state.search.as_ref().map(|s| s.status()),
        "capture": { "paused": state.capture_paused.load(Ordering::Relaxed) },
    }))
}

pub async fn capture(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "paused": state.capture_paused.load(Ordering::Relaxed) }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    paused: bool,
}

/// `PUT /api/capture {"paused": true|false}`: the tray's Pause/Resume.
pub async fn set_capture(
    State(state): State<AppState>,
    body: Result<Json<CaptureBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_capture",
            format!("expected {{\"paused\": true|false}}: {}", e.body_text()),
        )
    })?;
    state.capture_paused.store(b.paused, Ordering::Relaxed);
    tracing::info!(paused = b.paused, "capture switched");
    Ok(Json(json!({ "paused": b.paused })))
}

#[derive(Debug, Deserialize)]
pub struct SessionListQuery {
    project: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub const MAX_PAGE: i64 = 500;

/// `GET /api/projects`: every project with its session, prompt and observation counts and its last
/// activity, most recent first.
pub async fn list_projects(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let projects = state.store.list_projects().await?;
    Ok(Json(json!({ "projects": projects })))
}

pub async fn list_sessions(
    State(state): State<AppState>,
    query: Result<Query<SessionListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(50);
    let offset = q.offset.unwrap_or(0);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    if offset < 0 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "offset must not be negative",
        ));
    }
    let sessions = state
        .store
        .list_sessions(q.project.as_deref(), limit, offset)
        .await?;
    Ok(Json(
        json!({ "sessions": sessions, "limit": limit, "offset": offset }),
    ))
}

pub async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = state
        .store
        .get_session(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no session {id:?}")))?;
    let prompts = state.store.session_prompts(&id).await?;
    let events = state.store.session_events(&id).await?;
    let observations = state
        .store
        .list_observations(&ObservationFilter {
            session_id: Some(id.clone()),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let summaries = state.store.list_summaries(None, Some(&id), 1000).await?;
    Ok(Json(json!({
        "session": session,
        "prompts": prompts,
        "events": events,
        "observations": observations,
        "summaries": summaries,
    })))
}

#[derive(Debug, Deserialize)]
pub struct ObservationListQuery {
    project: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    session: Option<String>,
    #[serde(alias = "before")]
    before_id: Option<i64>,
    limit: Option<i64>,
}

fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(50);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ))
    }
}

/// Newest first; `before_id` continues a page (the viewer's infinite scroll).
pub async fn list_observations(
    State(state): State<AppState>,
    query: Result<Query<ObservationListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    if let Some(kind) = &q.kind {
        if ObservationType::parse(kind).is_none() {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown type {kind:?}; expected one of decision, bugfix, feature, refactor, discovery, change"),
            ));
        }
    }
    let filter = ObservationFilter {
        project: q.project,
        kind: q.kind.map(|k| k.to_ascii_lowercase()),
        session_id: q.session,
        before_id: q.before_id,
        limit: page_limit(q.limit)?,
    };
    let observations = state.store.list_observations(&filter).await?;
    let next_before_id = if observations.len() as i64 == filter.limit {
        observations.last().map(|o| o.id)
    } else {
        None
    };
    Ok(Json(
        json!({ "observations": observations, "next_before_id": next_before_id }),
    ))
}

pub async fn get_observation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request("invalid_id", format!("{id:?} is not an observation id"))
    })?;
    let mut found = state.store.get_observations(&[id]).await?;
    let observation = found
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no observation {id}")))?;
    Ok(Json(json!({ "observation": observation })))
}

#[derive(Debug, Deserialize)]
pub struct SummaryListQuery {
    project: Option<String>,
    session: Option<String>,
    limit: Option<i64>,
}

pub async fn list_summaries(
    State(state): State<AppState>,
    query: Result<Query<SummaryListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let summaries = state
        .store
        .list_summaries(
            q.project.as_deref(),
            q.session.as_deref(),
            page_limit(q.limit)?,
        )
        .await?;
    Ok(Json(json!({ "summaries": summaries })))
}

#[derive(Debug, Deserialize)]
pub struct CostQuery {
    days: Option<i64>,
    project: Option<String>,
}

/// Token and dollar totals (today, this month, per day / model / project) and the daily budget.
pub async fn costs(
    State(state): State<AppState>,
    query: Result<Query<CostQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "days must be between 1 and 366",
        ));
    }
    let report = state
        .store
        .cost_report(claude_mem_core::clock::now_ms(), days, q.project.as_deref())
        .await?;
    let budget = state.settings.compression.daily_budget_usd;
    let spent = report.today.cost_usd;
    Ok(Json(json!({
        "days": days,
        "project": q.project,
        "report": report,
        "budget": {
            "daily_usd": budget,
            "spent_today_usd": spent,
            "remaining_usd": (budget - spent).max(0.0),
            "exhausted": spent >= budget,
        },
    })))
}
