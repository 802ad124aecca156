//! `GET /api/timeline` (what happened around a memory or a date) and `POST /api/memories` (a note the
//! user asks to keep): the two MCP tools that are not plain search.

use crate::api_error::ApiError;
use crate::api_state::Db;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::model::ObservationType;
use claude_mem_core::model::{NewMemory, ObservationRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use claude_mem_core::limits::{check_list, MAX_TEXT_CHARS as MAX_MEMORY_CHARS, MAX_TITLE_CHARS};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// The observation to center on; or give `date`.
    anchor: Option<i64>,
    /// `YYYY-MM-DD`, RFC 3339 or epoch ms: centers on the observation nearest that time.
    date: Option<String>,
    /// With `date`: only this project's observations.
    project: Option<String>,
    /// Observations before the anchor, 0 to 50 (default 5).
    before: Option<i64>,
    /// Observations after the anchor, 0 to 50 (default 5).
    after: Option<i64>,
}

/// `GET /api/timeline`: the anchor's neighbours in time, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineAnswer {
    /// `null` when no observation is near `date`.
    #[schema(required = true)]
    pub anchor: Option<i64>,
    pub observations: Vec<ObservationRow>,
}

/// `POST /api/memories`: the note as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedMemory {
    pub id: i64,
    pub observation: ObservationRow,
}

/// Where a timeline is centred: an observation, or the one nearest a moment (of one project).
pub enum TimelineAt {
    Anchor(i64),
    Near { at_ms: i64, project: Option<String> },
}

impl TimelineQuery {
    /// The query checked, with its defaults: one reading for the laptop worker and the team server.
    pub fn checked(self) -> Result<(TimelineAt, i64, i64), ApiError> {
        let invalid = |reason: String| ApiError::bad_request("invalid_query", reason);
        let before = self.before.unwrap_or(5);
        let after = self.after.unwrap_or(5);
        for (name, n) in [("before", before), ("after", after)] {
            if !(0..=50).contains(&n) {
                return Err(invalid(format!("{name} must be between 0 and 50")));
            }
        }
        let at = match (self.anchor, self.date.as_deref()) {
            (Some(id), _) => TimelineAt::Anchor(id),
            (None, Some(date)) => TimelineAt::Near {
                at_ms: claude_mem_core::clock::parse_instant(date).ok_or_else(|| {
                    invalid(format!(
                        "date {date:?} is not YYYY-MM-DD, RFC 3339 or epoch ms"
                    ))
                })?,
                project: self.project,
            },
            (None, None) => {
                return Err(invalid(
                    "anchor (an observation id) or date is required".into(),
                ))
            }
        };
        Ok((at, before, after))
    }
}

#[utoipa::path(get, path = "/api/timeline", tag = "memories", params(TimelineQuery),
    responses((status = 200, description = "What happened around the anchor", body = TimelineAnswer),
        (status = 404, description = "No such anchor observation")))]
pub async fn timeline(
    Db(db): Db,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<TimelineAnswer>, ApiError> {
    let Query(q) = query?;
    let (at, before, after) = q.checked()?;
    let anchor = match at {
        TimelineAt::Anchor(id) => Some(id),
        TimelineAt::Near { at_ms, project } => {
            db.observation_near_time(project.as_deref(), at_ms).await?
        }
    };
    let Some(anchor) = anchor else {
        return Ok(Json(TimelineAnswer {
            anchor: None,
            observations: Vec::new(),
        }));
    };
    let mut observations = db
        .timeline_around(anchor, before, after)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no observation {anchor}")))?;
    for o in &mut observations {
        crate::search_api::cap_observation_lists(o);
    }
    Ok(Json(TimelineAnswer {
        anchor: Some(anchor),
        observations,
    }))
}

/// The body of `POST /api/memories`.
#[derive(Debug, Deserialize, ToSchema)]
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
#[utoipa::path(post, path = "/api/memories", tag = "memories", request_body = MemoryBody,
    responses((status = 201, description = "The memory, stored as an observation", body = SavedMemory),
        (status = 422, description = "An invalid memory")))]
pub async fn save(
    Db(db): Db,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SavedMemory>), ApiError> {
    let memory = memory_from_body(&body?)?;
    let saved = db.save_memory(memory).await?;
    ::metrics::counter!(claude_mem_core::processor::OBSERVATIONS_CREATED_TOTAL).increment(1);
    tracing::info!(id = saved.id, project = %saved.project, "memory saved");
    Ok((
        StatusCode::CREATED,
        Json(SavedMemory {
            id: saved.id,
            observation: saved,
        }),
    ))
}

/// A `POST /api/memories` body checked (sizes, type, non-empty text) and redacted, ready to store: one
/// definition for the laptop worker and the team server.
pub fn memory_from_body(body: &[u8]) -> Result<NewMemory, ApiError> {
    let m: MemoryBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_memory",
            format!("expected {{\"text\", \"title\"?, \"project\"?, \"type\"?}}: {e}"),
        )
    })?;
    let invalid =
        |reason: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_memory", reason);
    // Caps first (400: the request is too big, not malformed), so an oversized memory is refused whole
    // instead of stored and then served by every search that hits it.
    let too_large = |reason: String| ApiError::bad_request("memory_too_large", reason);
    check_list("files", &m.files).map_err(too_large)?;
    check_list("concepts", &m.concepts).map_err(too_large)?;
    if let Some(project) = m
        .project
        .as_deref()
        .filter(|p| p.chars().count() > MAX_TITLE_CHARS)
    {
        return Err(too_large(format!(
            "project is {} characters; at most {MAX_TITLE_CHARS} are accepted",
            project.chars().count()
        )));
    }
    let text = m.text.trim();
    if text.is_empty() {
        return Err(invalid("text must not be empty".into()));
    }
    if text.chars().count() > MAX_MEMORY_CHARS {
        return Err(too_large(format!(
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
    // Every field through the one redaction path (files and project included: a key pasted as a path
    // would otherwise be served by /api/observations and /api/search).
    let redactor = claude_mem_privacy::redactor();
    let clean = |s: &str| {
        let mut s = s.to_owned();
        redactor.clean_json_text(&mut s);
        s
    };
    Ok(NewMemory {
        project: clean(&project),
        title: clean(&title),
        text: clean(text),
        kind,
        concepts: m.concepts.iter().map(|c| clean(c)).collect(),
        files: m.files.iter().map(|f| clean(f)).collect(),
    })
}
