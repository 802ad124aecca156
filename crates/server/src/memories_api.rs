//! `GET /api/timeline` (what happened around a memory or a date) and `POST /api/memories` (a note the
//! user asks to keep): the two MCP tools that are not plain search.

use crate::api_error::ApiError;
use crate::worker::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::compress::ObservationType;
use claude_mem_core::store::NewMemory;
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_MEMORY_CHARS: usize = 10_000;
const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    anchor: Option<i64>,
    date: Option<String>,
    project: Option<String>,
    before: Option<i64>,
    after: Option<i64>,
}

pub async fn timeline(
    State(state): State<AppState>,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let before = q.before.unwrap_or(5);
    let after = q.after.unwrap_or(5);
    for (name, n) in [("before", before), ("after", after)] {
        if !(0..=50).contains(&n) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("{name} must be between 0 and 50"),
            ));
        }
    }
    let anchor = match (q.anchor, q.date.as_deref()) {
        (Some(id), _) => Some(id),
        (None, Some(date)) => {
            let at = claude_mem_core::clock::parse_instant(date).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("date {date:?} is not YYYY-MM-DD, RFC 3339 or epoch ms"),
                )
            })?;
            state
                .store
                .observation_near_time(q.project.as_deref(), at)
                .await?
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "anchor (an observation id) or date is required",
            ))
        }
    };
    let Some(anchor) = anchor else {
        return Ok(Json(json!({ "anchor": null, "observations": [] })));
    };
    let observations = state
        .store
        .timeline_around(anchor, before, after)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no observation {anchor}")))?;
    Ok(Json(
        json!({ "anchor": anchor, "observations": observations }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryBody {
    text: String,
    title: Option<String>,
    project: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    concepts: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
}

/// Stores a note as an observation. Secrets are redacted like everything else that is stored.
pub async fn save(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body?;
    let m: MemoryBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_memory",
            format!("expected {{\"text\", \"title\"?, \"project\"?, \"type\"?}}: {e}"),
        )
    })?;
    let invalid =
        |reason: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_memory", reason);
    let text = m.text.trim();
    if text.is_empty() {
        return Err(invalid("text must not be empty".into()));
    }
    if text.chars().count() > MAX_MEMORY_CHARS {
        return Err(invalid(format!(
            "text is longer than {MAX_MEMORY_CHARS} characters"
        )));
    }
    let kind = match m.kind.as_deref() {
        None => ObservationType::Discovery,
        Some(k) => ObservationType::parse(k).ok_or_else(|| {
            invalid(format!(
                "type {k:?} is not one of decision, bugfix, feature, refactor, discovery, change"
            ))
        })?,
    };
    let project = m
        .project
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let title = m
        .title
        .map(|t| t.trim().chars().take(MAX_TITLE_CHARS).collect::<String>())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| claude_mem_search::first_line_title(text));
    let redactor = claude_mem_privacy::redactor();
    let clean = |s: &str| redactor.clean_str(s).0.into_owned();
    let saved = state
        .store
        .save_memory(NewMemory {
            project,
            title: clean(&title),
            text: clean(text),
            kind,
            concepts: m.concepts.iter().map(|c| clean(c)).collect(),
            files: m.files,
        })
        .await?;
    ::metrics::counter!(claude_mem_core::processor::OBSERVATIONS_CREATED_TOTAL).increment(1);
    tracing::info!(id = saved.id, project = %saved.project, "memory saved");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": saved.id, "observation": saved })),
    ))
}
