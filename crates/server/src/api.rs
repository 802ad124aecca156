//! The REST API under `/api`: health and the captured sessions.

use crate::api_error::ApiError;
use crate::api_state::{ApiState, Db};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_mem_core::model::ObservationType;
use claude_mem_core::model::{
    CostReport, EventRow, HealthCounts, ObservationFilter, ObservationRow, ProjectRow, PromptRow,
    SessionRow, SessionSlice, SessionTotals, SummaryRow,
};
use claude_mem_core::processor::ProcessorStatus;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use utoipa::{IntoParams, ToSchema};

/// `GET /api/health`: everything with the token or the viewer's cookie, only `status` and `version`
/// without (see `auth`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum HealthAnswer {
    Full(Box<Health>),
    Public(PublicHealth),
}

/// What `GET /api/health` tells a caller without the token (nothing more: `additionalProperties: false`
/// tells it apart from [`Health`]).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicHealth {
    pub status: String,
    pub version: String,
}

/// `GET /api/health` with the token, and `event: health` on the live stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `error` when the database cannot be written.
    pub status: String,
    pub writes: Writes,
    pub warnings: Vec<String>,
    pub version: String,
    pub pid: u32,
    pub uptime_seconds: u64,
    #[schema(value_type = String)]
    pub data_dir: PathBuf,
    #[schema(value_type = String)]
    pub database: PathBuf,
    pub counts: HealthCounts,
    #[schema(required = true)]
    pub processor: Option<ProcessorStatus>,
    /// The search index (`claude_mem_search::IndexStatus`); `null` when search is off.
    #[schema(required = true)]
    pub index: Option<claude_mem_search::IndexStatus>,
    pub model: crate::model_status::ModelStatus,
    pub capture: CaptureState,
    pub spool: SpoolStatus,
}

/// Whether the database takes writes: `busy` when the probe waited out another writer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Writes {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Hook events waiting in the spool, and entries set aside as unreadable.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpoolStatus {
    pub backlog: usize,
    pub quarantined: usize,
}

/// `GET`/`PUT /api/capture`, and `capture` in `/api/health`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureState {
    pub paused: bool,
}

/// Without the token or the viewer's cookie only `status` and `version` (see `auth`).
#[utoipa::path(get, path = "/api/health", tag = "worker",
    responses((status = 200, description = "The worker's state (only status and version without the token)", body = HealthAnswer)))]
pub async fn health(
    State(state): State<AppState>,
    authorized: Option<axum::Extension<crate::auth::Authorized>>,
) -> Result<Json<HealthAnswer>, ApiError> {
    if authorized.is_none() {
        return Ok(Json(HealthAnswer::Public(PublicHealth {
            status: "ok".into(),
            version: claude_mem_core::VERSION.into(),
        })));
    }
    Ok(Json(HealthAnswer::Full(Box::new(
        health_answer(&state).await?,
    ))))
}

/// [`health_answer`] as JSON: what the live stream pushes to the viewer.
pub async fn health_json(state: &AppState) -> Result<Value, ApiError> {
    Ok(serde_json::to_value(health_answer(state).await?).unwrap_or_default())
}

#[async_trait::async_trait]
impl crate::api_state::HealthProbe for AppState {
    async fn health_json(&self) -> Result<Value, ApiError> {
        health_json(self).await
    }
}

/// Also pushed to the viewer over the live stream.
pub async fn health_answer(state: &AppState) -> Result<Health, ApiError> {
    let counts = state.store.health_counts().await?;
    // A database that cannot be written loses every hook (they fail open): not ok, and why.
    let writes = match state
        .store
        .probe_write(std::time::Duration::from_secs(2))
        .await
    {
        // `Ok(false)`: the writer stayed busy beyond the wait, not a failure.
        Ok(written) => Writes {
            ok: true,
            busy: (!written).then_some(true),
            error: None,
        },
        Err(error) => Writes {
            ok: false,
            busy: None,
            error: Some(error),
        },
    };
    let mut warnings: Vec<String> = claude_mem_core::settings::load_warnings();
    if !writes.ok {
        warnings.insert(
            0,
            format!(
                "writes to the database fail: {}",
                writes.error.as_deref().unwrap_or("unknown error")
            ),
        );
    }
    Ok(Health {
        status: if writes.ok { "ok" } else { "error" }.into(),
        writes,
        warnings,
        version: claude_mem_core::VERSION.into(),
        pid: std::process::id(),
        uptime_seconds: state.started.elapsed().as_secs(),
        data_dir: state.data_dir.root().to_path_buf(),
        database: state.store.path().to_path_buf(),
        counts,
        processor: state.processor.as_ref().map(|p| p.status()),
        index: state.search.as_ref().map(|s| s.status()),
        model: state.model.status(),
        capture: CaptureState {
            paused: state.capture_paused.load(Ordering::Relaxed),
        },
        spool: spool_status(state),
    })
}

/// Hook events waiting in the spool (the worker was away when they came; `crate::spool_drain`) and
/// entries set aside as unreadable: a backlog that stays up means the drain is failing.
fn spool_status(state: &AppState) -> SpoolStatus {
    let spool = claude_mem_core::spool::Spool::in_data_dir(&state.data_dir);
    SpoolStatus {
        backlog: spool.backlog(),
        quarantined: spool.quarantined(),
    }
}

#[utoipa::path(get, path = "/api/capture", tag = "worker",
    responses((status = 200, description = "Whether capture is paused", body = CaptureState)))]
pub async fn capture(State(state): State<AppState>) -> Json<CaptureState> {
    Json(CaptureState {
        paused: state.capture_paused.load(Ordering::Relaxed),
    })
}

/// The body of `PUT /api/capture`.
pub type CaptureBody = CaptureState;

/// `PUT /api/capture {"paused": true|false}`: the tray's Pause/Resume.
#[utoipa::path(put, path = "/api/capture", tag = "worker", request_body = CaptureState,
    responses((status = 200, description = "Capture switched", body = CaptureState)))]
pub async fn set_capture(
    State(state): State<AppState>,
    body: Result<Json<CaptureBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CaptureState>, ApiError> {
    let Json(b) = body.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_capture",
            format!("expected {{\"paused\": true|false}}: {}", e.body_text()),
        )
    })?;
    state.capture_paused.store(b.paused, Ordering::Relaxed);
    tracing::info!(paused = b.paused, "capture switched");
    Ok(Json(CaptureState { paused: b.paused }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    project: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub const MAX_PAGE: i64 = 500;

/// `GET /api/projects`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectRow>,
}

/// `GET /api/projects`: every project with its session, prompt and observation counts and its last
/// activity, most recent first.
#[utoipa::path(get, path = "/api/projects", tag = "history",
    responses((status = 200, description = "Every project, most recently active first", body = ProjectList)))]
pub async fn list_projects(Db(db): Db) -> Result<Json<ProjectList>, ApiError> {
    let projects = db.list_projects().await?;
    Ok(Json(ProjectList { projects }))
}

/// `GET /api/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionRow>,
    pub limit: i64,
    pub offset: i64,
}

#[utoipa::path(get, path = "/api/sessions", tag = "history", params(SessionListQuery),
    responses((status = 200, description = "Sessions, most recent first", body = SessionList)))]
pub async fn list_sessions(
    Db(db): Db,
    query: Result<Query<SessionListQuery>, QueryRejection>,
) -> Result<Json<SessionList>, ApiError> {
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
    let sessions = db
        .list_sessions(q.project.as_deref(), limit, offset)
        .await?;
    Ok(Json(SessionList {
        sessions,
        limit,
        offset,
    }))
}

/// `GET /api/sessions/{id}`: one page of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDetail {
    pub session: SessionRow,
    pub prompts: Vec<PromptRow>,
    pub events: Vec<EventRow>,
    pub observations: Vec<ObservationRow>,
    pub summaries: Vec<SummaryRow>,
    pub page: SessionPage,
}

/// Where a page of `GET /api/sessions/{id}` is: each list is sliced by the same offset and limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub limit: i64,
    pub offset: i64,
    /// `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
    pub totals: SessionTotals,
}

/// `GET /api/sessions/{id}?limit=&offset=`: one page of the session's events (oldest first), prompts
/// (in order) and observations (newest first), each list sliced by the same `offset`/`limit` (default
/// [`SESSION_PAGE`], at most [`MAX_PAGE`]), with the totals and the next offset (`null` on the last
/// page). A 20k-event session used to be one 93 MB answer; now it is pages, and an event's payload over
/// [`MAX_EVENT_PAYLOAD_BYTES`] is replaced by a preview.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "history",
    params(("id" = String, Path, description = "Session id"), SessionPageQuery),
    responses((status = 200, description = "One page of the session", body = SessionDetail),
        (status = 404, description = "No such session")))]
pub async fn get_session(
    Db(db): Db,
    Path(id): Path<String>,
    query: Result<Query<SessionPageQuery>, QueryRejection>,
) -> Result<Json<SessionDetail>, ApiError> {
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
    let slice = db
        .session_slice(&id, limit, offset, MAX_PAGE)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no session {id:?}")))?;
    let SessionSlice {
        session,
        totals,
        prompts,
        mut events,
        mut observations,
        summaries,
    } = slice;
    for e in &mut events {
        bound_payload(&mut e.payload);
    }
    for o in &mut observations {
        crate::search_api::cap_observation_lists(o);
    }
    let end = offset + limit;
    let more = end < totals.events.max(totals.prompts).max(totals.observations);
    Ok(Json(SessionDetail {
        session,
        prompts,
        events,
        observations,
        summaries,
        page: SessionPage {
            limit,
            offset,
            next_offset: if more { Some(end) } else { None },
            totals,
        },
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ObservationListQuery {
    project: Option<String>,
    /// Observation type: decision, bugfix, feature, refactor, discovery or change.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only this session's observations.
    session: Option<String>,
    /// Continue a page: observations older than this id (`before` is accepted too).
    #[serde(alias = "before")]
    before_id: Option<i64>,
    /// 1 to 500, default 50.
    limit: Option<i64>,
}

/// `GET /api/observations`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObservationPage {
    pub observations: Vec<ObservationRow>,
    /// Where the next page starts; `null` when this one was the last.
    #[schema(required = true)]
    pub next_before_id: Option<i64>,
}

/// `GET /api/observations/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObservationAnswer {
    pub observation: ObservationRow,
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
#[utoipa::path(get, path = "/api/observations", tag = "memories", params(ObservationListQuery),
    responses((status = 200, description = "A page of observations, newest first", body = ObservationPage)))]
pub async fn list_observations(
    Db(db): Db,
    query: Result<Query<ObservationListQuery>, QueryRejection>,
) -> Result<Json<ObservationPage>, ApiError> {
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
    let mut observations = db.list_observations(&filter).await?;
    // Lists of older rows cut to the caps, as in search results: a page stays a page.
    for o in &mut observations {
        crate::search_api::cap_observation_lists(o);
    }
    let next_before_id = if observations.len() as i64 == filter.limit {
        observations.last().map(|o| o.id)
    } else {
        None
    };
    Ok(Json(ObservationPage {
        observations,
        next_before_id,
    }))
}

#[utoipa::path(get, path = "/api/observations/{id}", tag = "memories",
    params(("id" = i64, Path, description = "Observation id")),
    responses((status = 200, description = "The observation", body = ObservationAnswer),
        (status = 404, description = "No such observation")))]
pub async fn get_observation(
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Json<ObservationAnswer>, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request("invalid_id", format!("{id:?} is not an observation id"))
    })?;
    let mut found = db.get_observations(&[id]).await?;
    let observation = found
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no observation {id}")))?;
    Ok(Json(ObservationAnswer { observation }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    /// The period, 1 to 366 days back (default 30).
    days: Option<i64>,
    project: Option<String>,
}

/// `GET /api/costs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostsAnswer {
    pub days: i64,
    #[schema(required = true)]
    pub project: Option<String>,
    pub report: CostReport,
    pub budget: Budget,
}

/// The daily LLM budget and what is left of it today.
#[derive(Debug, Serialize, ToSchema)]
pub struct Budget {
    pub daily_usd: f64,
    pub spent_today_usd: f64,
    pub remaining_usd: f64,
    pub exhausted: bool,
}

/// Token and dollar totals (today, this month, per day / model / project) and the daily budget.
#[utoipa::path(get, path = "/api/costs", tag = "worker", params(CostQuery),
    responses((status = 200, description = "LLM usage and the budget", body = CostsAnswer)))]
pub async fn costs(
    State(api): State<ApiState>,
    Db(db): Db,
    query: Result<Query<CostQuery>, QueryRejection>,
) -> Result<Json<CostsAnswer>, ApiError> {
    let Query(q) = query?;
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "days must be between 1 and 366",
        ));
    }
    let report = db
        .cost_report(claude_mem_core::clock::now_ms(), days, q.project.as_deref())
        .await?;
    let budget = api.settings.compression.daily_budget_usd;
    let spent = report.today.cost_usd;
    Ok(Json(CostsAnswer {
        days,
        project: q.project,
        report,
        budget: Budget {
            daily_usd: budget,
            spent_today_usd: spent,
            remaining_usd: (budget - spent).max(0.0),
            exhausted: spent >= budget,
        },
    }))
}
