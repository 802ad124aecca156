//! The REST API under `/api`: health and the captured sessions.

use crate::api_error::ApiError;
use crate::worker::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let counts = state.store.health_counts().await?;
    Ok(Json(json!({
        "status": "ok",
        "version": claude_mem_core::VERSION,
        "pid": std::process::id(),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "data_dir": state.data_dir.root(),
        "database": state.store.path(),
        "counts": counts,
    })))
}

#[derive(Debug, Deserialize)]
pub struct SessionListQuery {
    project: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub const MAX_PAGE: i64 = 500;

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
    Ok(Json(
        json!({ "session": session, "prompts": prompts, "events": events }),
    ))
}
