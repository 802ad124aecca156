//! The REST API under `/api`: health and the captured sessions.

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_mem_core::compress::ObservationType;
use claude_mem_core::store::ObservationFilter;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// Without the token or the viewer's cookie only `status` and `version` (see `auth`).
pub async fn health(
    State(state): State<AppState>,
    authorized: Option<axum::Extension<crate::auth::Authorized>>,
) -> Result<Json<Value>, ApiError> {
    if authorized.is_none() {
        return Ok(Json(crate::auth::public_health()));
    }
    health_json(&state).await.map(Json)
}

/// Also pushed to the viewer over the live stream.
pub async fn health_json(state: &AppState) -> Result<Value, ApiError> {
    let counts = state.store.health_counts().await?;
    // A database that cannot be written loses every hook (they fail open): not ok, and why.
    let writes = match state
        .store
        .probe_write(std::time::Duration::from_secs(2))
        .await
    {
        Ok(true) => json!({ "ok": true }),
        Ok(false) => json!({ "ok": true, "busy": true }),
        Err(error) => json!({ "ok": false, "error": error }),
    };
    let writable = writes["ok"] == json!(true);
    let mut warnings: Vec<String> = claude_mem_core::settings::load_warnings();
    if !writable {
        warnings.insert(
            0,
            format!(
                "writes to the database fail: {}",
                writes["error"].as_str().unwrap_or("unknown error")
            ),
        );
    }
    Ok(json!({
        "status": if writable { "ok" } else { "error" },
        "writes": writes,
        "warnings": warnings,
        "version": claude_mem_core::VERSION,
        "pid": std::process::id(),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "data_dir": state.data_dir.root(),
        "database": state.store.path(),
        "counts": counts,
        "processor": state.processor.as_ref().map(|p| p.status()),
        "index": state.search.as_ref().map(|s| s.status()),
        "model": state.model.status(),
        "capture": { "paused": state.capture_paused.load(Ordering::Relaxed) },
        "spool": spool_status(state),
    }))
}

/// Hook events waiting in the spool (the worker was away when they came; `crate::spool_drain`) and
/// entries set aside as unreadable: a backlog that stays up means the drain is failing.
fn spool_status(state: &AppState) -> Value {
    let spool = claude_mem_core::spool::Spool::in_data_dir(&state.data_dir);
    json!({ "backlog": spool.backlog(), "quarantined": spool.quarantined() })
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

/// `GET /api/sessions/{id}?limit=&offset=`: one page of the session's events (oldest first), prompts
/// (in order) and observations (newest first), each list sliced by the same `offset`/`limit` (default
/// [`SESSION_PAGE`], at most [`MAX_PAGE`]), with the totals and the next offset (`null` on the last
/// page). A 20k-event session used to be one 93 MB answer; now it is pages, and an event's payload over
/// [`MAX_EVENT_PAYLOAD_BYTES`] is replaced by a preview.
pub async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<SessionPageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(SESSION_PAGE);
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
    let session = state
        .store
        .get_session(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no session {id:?}")))?;
    let (events_total, prompts_total, observations_total) = state.store.session_totals(&id).await?;
    let prompts = state.store.session_prompts_page(&id, limit, offset).await?;
    let mut events = state.store.session_events_page(&id, limit, offset).await?;
    for e in &mut events {
        bound_payload(&mut e.payload);
    }
    let mut observations = state
        .store
        .session_observations_page(&id, limit, offset)
        .await?;
    for o in &mut observations {
        crate::search_api::cap_observation_lists(o);
    }
    let summaries = state
        .store
        .list_summaries(None, Some(&id), None, MAX_PAGE)
        .await?;
    let end = offset + limit;
    let more = end < events_total.max(prompts_total).max(observations_total);
    Ok(Json(json!({
        "session": session,
        "prompts": prompts,
        "events": events,
        "observations": observations,
        "summaries": summaries,
        "page": {
            "limit": limit,
            "offset": offset,
            "next_offset": if more { Some(end) } else { None },
            "totals": {
                "events": events_total,
                "prompts": prompts_total,
                "observations": observations_total,
            },
        },
    })))
}

#[derive(Debug, Deserialize)]
pub struct SessionPageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Items per list in one page of `GET /api/sessions/{id}` when the client does not say.
pub const SESSION_PAGE: i64 = 100;
/// An event payload larger than this (as JSON text) is answered as a preview.
pub const MAX_EVENT_PAYLOAD_BYTES: usize = 16 * 1024;

/// Replaces a payload over [`MAX_EVENT_PAYLOAD_BYTES`] by `{"truncated": true, "bytes", "preview"}`.
fn bound_payload(payload: &mut Value) {
    let text = payload.to_string();
    if text.len() <= MAX_EVENT_PAYLOAD_BYTES {
        return;
    }
    let mut cut = MAX_EVENT_PAYLOAD_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    *payload = json!({ "truncated": true, "bytes": text.len(), "preview": &text[..cut] });
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

pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
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
    let mut observations = state.store.list_observations(&filter).await?;
    // Lists of older rows cut to the caps, as in search results: a page stays a page.
    for o in &mut observations {
        crate::search_api::cap_observation_lists(o);
    }
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
