//! Forget and edit (issue 21): `DELETE /api/observations/{id}`, `/api/summaries/{id}`,
//! `/api/prompts/{id}`, `/api/sessions/{id}`, `/api/projects/{name}`; `POST /api/forget` for several
//! at once (the MCP `forget` tool, `claude-mem forget`); `PATCH /api/observations/{id}`; and sessions
//! that are not recorded: `POST /api/sessions/off` (the hook under `CLAUDE_MEM=off`, `/claude-mem:off`),
//! `GET /api/sessions/off`.
//!
//! A forget deletes from SQLite first (the record of truth, one transaction, vectors by trigger), then
//! from the search indexes, so the very next search cannot find it; context, exports and backups read
//! SQLite and never see it again. An edit rewrites the row and re-indexes its text.

use crate::admin_api::admin_error;
use crate::api_error::ApiError;
use crate::api_state::{ApiState, Db};
use crate::maintenance::{drop_from_indexes, index_imported, ImportedIds};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::model::{ForgetReport, ForgetTarget, ObservationEdit};
use claude_mem_core::storage::SharedMemory;
use claude_mem_core::store::OffHow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// At most this many targets in one `POST /api/forget`.
const MAX_TARGETS: usize = 1000;

/// Deletes `targets` everywhere; the answer counts what went and lists what was not there.
async fn forget_everywhere(
    api: &ApiState,
    db: &SharedMemory,
    targets: Vec<ForgetTarget>,
    reason: Option<&str>,
) -> Result<(ForgetReport, &'static str), ApiError> {
    let report = db.forget(targets).await?;
    let index = if api.search_reads_store {
        if report.total() > 0 {
            "deleted"
        } else {
            "unchanged"
        }
    } else {
        drop_from_indexes(
            api.search.as_ref(),
            &report.observation_ids,
            &report.summary_ids,
            &report.prompt_ids,
        )
        .await
        .map_err(admin_error)?
    };
    tracing::info!(
        deleted = report.total(),
        missing = report.missing.len(),
        reason = reason.unwrap_or(""),
        "memories forgotten"
    );
    Ok((report, index))
}

/// The answer of every forget: what went, per table, and what was not there.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForgetAnswer {
    /// Whether anything was deleted.
    pub forgotten: bool,
    /// Rows deleted per table.
    pub deleted: BTreeMap<String, u64>,
    /// Targets that named nothing (already gone, or never there).
    pub missing: Vec<ForgetTarget>,
    /// What happened to the search index: `deleted`, `unchanged` or `unavailable`.
    pub index: String,
}

fn answer(report: &ForgetReport, index: &str) -> Json<ForgetAnswer> {
    Json(ForgetAnswer {
        forgotten: report.total() > 0,
        deleted: report.deleted.clone(),
        missing: report.missing.clone(),
        index: index.to_owned(),
    })
}

/// One target from a path: 404 when it names nothing.
async fn forget_one(
    api: &ApiState,
    db: &SharedMemory,
    target: ForgetTarget,
) -> Result<Json<ForgetAnswer>, ApiError> {
    let (report, index) = forget_everywhere(api, db, vec![target.clone()], None).await?;
    if !report.missing.is_empty() {
        return Err(ApiError::not_found(match target {
            ForgetTarget::Observation(id) => format!("no observation {id}"),
            ForgetTarget::Summary(id) => format!("no summary {id}"),
            ForgetTarget::Prompt(id) => format!("no prompt {id}"),
            ForgetTarget::Session(id) => format!("no session {id:?}"),
            ForgetTarget::Project(name) => format!("no project {name:?}"),
        }));
    }
    Ok(answer(&report, index))
}

fn numeric(id: &str, what: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", format!("{id:?} is not {what} id")))
}

#[utoipa::path(delete, path = "/api/observations/{id}", tag = "memories",
    params(("id" = i64, Path, description = "Observation id")),
    responses((status = 200, description = "What was forgotten", body = ForgetAnswer),
        (status = 404, description = "No such observation")))]
pub async fn delete_observation(
    State(api): State<ApiState>,
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Json<ForgetAnswer>, ApiError> {
    let id = numeric(&id, "an observation")?;
    forget_one(&api, &db, ForgetTarget::Observation(id)).await
}

#[utoipa::path(delete, path = "/api/summaries/{id}", tag = "history",
    params(("id" = i64, Path, description = "Summary id")),
    responses((status = 200, description = "What was forgotten", body = ForgetAnswer),
        (status = 404, description = "No such summary")))]
pub async fn delete_summary(
    State(api): State<ApiState>,
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Json<ForgetAnswer>, ApiError> {
    let id = numeric(&id, "a summary")?;
    forget_one(&api, &db, ForgetTarget::Summary(id)).await
}

#[utoipa::path(delete, path = "/api/prompts/{id}", tag = "history",
    params(("id" = i64, Path, description = "Prompt id")),
    responses((status = 200, description = "What was forgotten", body = ForgetAnswer),
        (status = 404, description = "No such prompt")))]
pub async fn delete_prompt(
    State(api): State<ApiState>,
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Json<ForgetAnswer>, ApiError> {
    let id = numeric(&id, "a prompt")?;
    forget_one(&api, &db, ForgetTarget::Prompt(id)).await
}

#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "history",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "What was forgotten", body = ForgetAnswer),
        (status = 404, description = "No such session")))]
pub async fn delete_session(
    State(api): State<ApiState>,
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Json<ForgetAnswer>, ApiError> {
    forget_one(&api, &db, ForgetTarget::Session(id)).await
}

#[utoipa::path(delete, path = "/api/projects/{name}", tag = "history",
    params(("name" = String, Path, description = "Project name")),
    responses((status = 200, description = "What was forgotten", body = ForgetAnswer),
        (status = 404, description = "No such project")))]
pub async fn delete_project(
    State(api): State<ApiState>,
    Db(db): Db,
    Path(name): Path<String>,
) -> Result<Json<ForgetAnswer>, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_id",
            "the project name is empty",
        ));
    }
    forget_one(&api, &db, ForgetTarget::Project(name)).await
}

/// `{"targets": [{"kind": "observation", "id": 12}, …], "reason": "…"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetBody {
    targets: Vec<ForgetTarget>,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/forget", tag = "memories", request_body = ForgetBody,
    responses((status = 200, description = "What was forgotten and what was not there", body = ForgetAnswer),
        (status = 400, description = "No targets, too many, or a malformed body")))]
pub async fn forget(
    State(api): State<ApiState>,
    Db(db): Db,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ForgetAnswer>, ApiError> {
    let body: ForgetBody = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "expected {{\"targets\": [{{\"kind\": \"observation\", \"id\": 12}}], \"reason\": \"…\"}} \
                 (kinds: observation, summary, prompt, session, project): {e}"
            ),
        )
    })?;
    if body.targets.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "no targets to forget",
        ));
    }
    if body.targets.len() > MAX_TARGETS {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!(
                "{} targets; at most {MAX_TARGETS} at once",
                body.targets.len()
            ),
        ));
    }
    let (report, index) =
        forget_everywhere(&api, &db, body.targets, body.reason.as_deref()).await?;
    Ok(answer(&report, index))
}

#[utoipa::path(patch, path = "/api/observations/{id}", tag = "memories",
    params(("id" = i64, Path, description = "Observation id")), request_body = ObservationEdit,
    responses((status = 200, description = "The edited observation", body = crate::api::ObservationAnswer),
        (status = 404, description = "No such observation")))]
pub async fn edit_observation(
    State(api): State<ApiState>,
    Db(db): Db,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crate::api::ObservationAnswer>, ApiError> {
    let id = numeric(&id, "an observation")?;
    let edit: ObservationEdit = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected any of title, narrative, facts (a list of strings), type: {e}"),
        )
    })?;
    if let Some(problem) = edit.problem() {
        return Err(ApiError::bad_request("invalid_edit", problem));
    }
    if !db.edit_observation(id, edit).await? {
        return Err(ApiError::not_found(format!("no observation {id}")));
    }
    // The text index takes the new words now; the vector keeps the old embedding until the next
    // rebuild (the graph cannot replace a point).
    if let Some(index) = &api.search {
        index_imported(
            db.as_ref(),
            index,
            ImportedIds {
                observations: &[id],
                ..ImportedIds::default()
            },
        )
        .await
        .map_err(admin_error)?;
    }
    let observation = db
        .get_observations(&[id])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no observation {id}")))?;
    tracing::info!(id, "observation edited");
    Ok(Json(crate::api::ObservationAnswer { observation }))
}

/// `{"session_id": "…", "cwd": "…", "how": "env" | "command" | "api"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionOffBody {
    session_id: String,
    #[serde(default)]
    cwd: String,
    #[serde(default)]
    how: Option<String>,
}

/// Turns a session off: what was stored of it is forgotten (indexes included) and whatever still
/// arrives for it is dropped.
pub async fn session_off(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: SessionOffBody = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected {{\"session_id\": \"…\", \"cwd\": \"…\"}}: {e}"),
        )
    })?;
    let session = body.session_id.trim();
    if session.is_empty() || session.len() > 256 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "session_id must be 1 to 256 characters",
        ));
    }
    let how = match body.how.as_deref() {
        None => OffHow::Api,
        Some(text) => OffHow::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_body",
                format!("how {text:?} is not env, command or api"),
            )
        })?,
    };
    let project = claude_mem_core::project::project_from_cwd(&body.cwd);
    let report = state
        .store
        .turn_session_off(session, &project, &body.cwd, how)
        .await?;
    let index = drop_from_indexes(
        state.search.as_ref(),
        &report.observation_ids,
        &report.summary_ids,
        &report.prompt_ids,
    )
    .await
    .map_err(admin_error)?;
    tracing::info!(
        session,
        how = how.as_str(),
        forgotten = report.total(),
        "session not recorded"
    );
    Ok(Json(json!({
        "session_id": session,
        "recorded": false,
        "deleted": report.deleted,
        "index": index,
    })))
}

/// The sessions that are not recorded, newest first (the viewer shows them as such).
pub async fn sessions_off(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let sessions = state.store.sessions_off(500).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

/// `{"to": "new-name", "merge": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    to: String,
    #[serde(default)]
    merge: bool,
}

/// `POST /api/projects/{name}/rename`: files a project's history under another name (or merges it into
/// an existing project with `merge: true`), then rebuilds the search indexes, whose documents carry the
/// project (from the stored vectors: no model call).
pub async fn rename_project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: RenameBody = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected {{\"to\": \"name\", \"merge\": false}}: {e}"),
        )
    })?;
    let to = body.to.trim();
    if to.is_empty() || to.len() > 256 || to == name {
        return Err(ApiError::bad_request(
            "invalid_body",
            "to must be a different project name of 1 to 256 characters",
        ));
    }
    let projects = state.store.list_projects().await?;
    if !projects.iter().any(|p| p.name == name) {
        return Err(ApiError::not_found(format!("no project {name:?}")));
    }
    if projects.iter().any(|p| p.name == to) && !body.merge {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "project_exists",
            format!("project {to:?} exists: merge into it with \"merge\": true"),
        ));
    }
    let moved = state.store.rename_project(&name, to).await?;
    if let Some(index) = state.search.clone() {
        crate::search_api::rebuild(&state, &index).await?;
    }
    tracing::info!(from = %name, to, moved, "project renamed");
    Ok(Json(
        json!({ "from": name, "to": to, "moved": moved, "index": "rebuilding" }),
    ))
}
