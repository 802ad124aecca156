//! Recall into Claude's context: the SessionStart block (also previewable at `GET /api/context`) and the
//! optional per-prompt recall of UserPromptSubmit.

use crate::api_error::ApiError;
use crate::api_state::{ApiState, Db};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use claude_mem_core::context::{
    build_context, render_recall_in, ContextBlock, ContextRequest, ContextSource, Lang,
};
use claude_mem_core::settings::ContextSettings;
use claude_mem_core::storage::{MemoryReads, StorageError};
use claude_mem_core::{clock, HookEvent};
use claude_mem_search::{Filters, SearchRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

#[derive(Debug, Deserialize)]
pub struct ContextQuery {
    project: Option<String>,
    /// A working directory, resolved to its project the way hooks are (git root).
    cwd: Option<String>,
    session: Option<String>,
    source: Option<String>,
    budget: Option<usize>,
    /// Preview another `context.max_observations` than the saved one (the settings page, as it is edited).
    max_observations: Option<usize>,
}

/// `GET /api/context`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextPreview {
    pub context: ContextBlock,
    /// How long building it took.
    pub build_ms: f64,
}

/// `GET /api/context`: exactly what SessionStart would inject now, with its token count.
#[utoipa::path(get, path = "/api/context", tag = "memories",
    params(
        ("project" = Option<String>, Query),
        ("cwd" = Option<String>, Query, description = "A working directory, resolved to its project"),
        ("session" = Option<String>, Query),
        ("source" = Option<String>, Query, description = "startup, resume, compact or clear"),
        ("budget" = Option<u32>, Query, description = "Token budget"),
        ("max_observations" = Option<u32>, Query),
    ),
    responses((status = 200, description = "The SessionStart context as it would be injected now", body = ContextPreview),
        (status = 400, description = "No project, or a budget out of range")))]
pub async fn preview(
    State(api): State<ApiState>,
    Db(db): Db,
    query: Result<Query<ContextQuery>, QueryRejection>,
) -> Result<Json<ContextPreview>, ApiError> {
    let Query(q) = query?;
    let project = match (q.project, q.cwd) {
        (Some(p), _) if !p.trim().is_empty() => p,
        (_, Some(cwd)) if !cwd.trim().is_empty() => {
            claude_mem_core::project::project_from_cwd(&cwd)
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "project (or cwd) is required",
            ))
        }
    };
    let settings = api.context.get();
    let budget = q.budget.unwrap_or(settings.budget_tokens);
    if !(100..=50_000).contains(&budget) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "budget must be between 100 and 50000 tokens",
        ));
    }
    let max_observations = q.max_observations.unwrap_or(settings.max_observations);
    if !(1..=500).contains(&max_observations) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "max_observations must be between 1 and 500",
        ));
    }
    let source = ContextSource::parse(q.source.as_deref().unwrap_or("startup"));
    let resumed_after_ms = match (&q.session, source) {
        (Some(id), ContextSource::Resume) => db.get_session(id).await?.map(|s| s.last_seen_at),
        _ => None,
    };
    let started = Instant::now();
    let block = build_context(
        db.as_ref(),
        &ContextRequest {
            project,
            session_id: q.session,
            source,
            resumed_after_ms,
            budget_tokens: budget,
            max_observations,
            now_ms: clock::now_ms(),
            language: Lang::from_settings(&api.settings),
        },
    )
    .await?;
    Ok(Json(ContextPreview {
        context: block,
        build_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}

/// Before a SessionStart is stored: when the resumed session was last active (its earlier injection is
/// still in the conversation).
pub async fn resumed_after(db: &dyn MemoryReads, event: &HookEvent) -> Option<i64> {
    if event.event_name != "SessionStart" || source_of(event) != ContextSource::Resume {
        return None;
    }
    match db.get_session(&event.session_id).await {
        Ok(session) => session.map(|s| s.last_seen_at),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the resumed session");
            None
        }
    }
}

fn source_of(event: &HookEvent) -> ContextSource {
    ContextSource::parse(
        event
            .payload
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("startup"),
    )
}

/// The SessionStart block for `event`. Errors are logged and give no context: recall must never turn
/// a session start into a failure.
pub async fn session_start(
    db: &dyn MemoryReads,
    settings: &ContextSettings,
    lang: Lang,
    event: &HookEvent,
    resumed_after_ms: Option<i64>,
) -> String {
    if !settings.enabled {
        return String::new();
    }
    let started = Instant::now();
    let request = ContextRequest {
        project: event.project.clone(),
        session_id: Some(event.session_id.clone()),
        source: source_of(event),
        resumed_after_ms,
        budget_tokens: settings.budget_tokens,
        max_observations: settings.max_observations,
        now_ms: clock::now_ms(),
        language: lang,
    };
    let result: Result<ContextBlock, StorageError> = build_context(db, &request).await;
    match result {
        Ok(block) => {
            tracing::info!(
                project = %block.project,
                session = %event.session_id,
                source = ?block.source,
                tokens = block.tokens,
                observations = block.observation_ids.len(),
                build_ms = started.elapsed().as_secs_f64() * 1000.0,
                "context injected"
            );
            block.text
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the session context");
            String::new()
        }
    }
}

/// File context: before Claude reads or edits a file (PreToolUse for Read, Edit, MultiEdit), the memories
/// that mention it (`claude_mem_core::context::file_context`); nothing when none do or
/// `context.file_context` is off.
pub async fn file_context(
    db: &dyn MemoryReads,
    settings: &ContextSettings,
    lang: Lang,
    event: &HookEvent,
) -> String {
    if !settings.file_context
        || !matches!(
            event.tool_name.as_deref(),
            Some("Read" | "Edit" | "MultiEdit")
        )
    {
        return String::new();
    }
    let Some(path) = event
        .payload
        .get("tool_input")
        .and_then(|i| i.get("file_path"))
        .and_then(Value::as_str)
    else {
        return String::new();
    };
    match claude_mem_core::context::file_context(
        db,
        &event.project,
        &event.cwd,
        path,
        lang,
        clock::now_ms(),
    )
    .await
    {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(error = %e, "file context lookup failed");
            String::new()
        }
    }
}

/// A few memories relevant to the prompt, or nothing (setting off, no index, nothing relevant enough).
pub async fn prompt_recall(state: &AppState, event: &HookEvent) -> String {
    let settings = state.context.get();
    let (Some(index), Some(prompt)) = (state.search.clone(), event.prompt.clone()) else {
        return String::new();
    };
    if !settings.prompt_recall || prompt.trim().len() < 8 {
        return String::new();
    }
    let filters = Filters {
        project: Some(event.project.clone()),
        ..Default::default()
    };
    let limit = settings.prompt_recall_limit;
    let worker = Arc::clone(&index);
    let query: String = prompt.chars().take(1000).collect();
    // Gated by the calibrated relevance alone (SearchRequest::recall): a common word shared with a
    // memory no longer lowers the bar.
    let hits = tokio::task::spawn_blocking(move || {
        worker.search(&SearchRequest::recall(&query, &filters, limit))
    })
    .await;
    let ids: Vec<i64> = match hits {
        Ok(Ok(outcome)) => outcome.hits.iter().map(|h| h.id).collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "prompt recall search failed");
            return String::new();
        }
        Err(e) => {
            tracing::warn!(error = %e, "prompt recall search panicked");
            return String::new();
        }
    };
    let rows = match state.store.get_observations(&ids).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "prompt recall lookup failed");
            return String::new();
        }
    };
    // Keep the search's order.
    let ordered: Vec<_> = ids
        .iter()
        .filter_map(|id| rows.iter().find(|o| o.id == *id).cloned())
        .collect();
    render_recall_in(
        Lang::from_settings(&state.settings),
        &ordered,
        settings.prompt_recall_budget_tokens,
        clock::now_ms(),
    )
}
