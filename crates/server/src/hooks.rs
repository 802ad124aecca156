//! `POST /hooks/{EventName}`: where Claude Code's hooks land.
//!
//! The event is committed to the durable queue before the answer goes back, and the answer never waits
//! for anything slower than that commit (no LLM, no indexing): Claude Code waits on us. Tool events
//! capture leaves out (claude-mem's own MCP tools, `capture.skip_tools`) are answered the same way and
//! never stored.

use crate::api_error::ApiError;
use crate::context_api;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::Json;
use claude_mem_core::capture::SkipReason;
use claude_mem_core::context::Lang;
use claude_mem_core::{HookEvent, IngestOutcome};
use serde_json::{json, Value};
use tokio::sync::Notify;

/// Rung by every live hook that got through: the worker is answering again, so the spool drainer
/// (`crate::spool_drain`, which waits on it) takes in anything an earlier hook spooled. Process-wide
/// (several workers in one test process each drain their own directory; a wake-up that reaches the
/// wrong one costs one directory listing).
pub(crate) static GOT_THROUGH: Notify = Notify::const_new();

pub async fn receive_hook(
    State(state): State<AppState>,
    Path(event): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let answer = accept(&state, &event, body, Delivery::Live).await?;
    // A hook got through, so the worker is answering again: anything an earlier hook spooled can go in.
    GOT_THROUGH.notify_one();
    Ok(Json(answer))
}

/// How an event reached the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `POST /hooks/{event}`: Claude Code waits for the answer (recall for SessionStart and
    /// UserPromptSubmit).
    Live,
    /// Drained from the hook spool (`crate::spool_drain`): stored the same way, dated when the hook
    /// received it (Unix ms), but nobody reads an answer, so no recall runs.
    Spooled { received_at_ms: i64 },
}

/// The one ingest path for a hook event, live or spooled: parse (privacy filter included), the capture
/// pause, skip rules, the durable commit (idempotent on `event_key`), then recall for a live delivery.
/// Returns the answer for Claude Code once the event is committed (or deliberately not stored).
pub async fn accept(
    state: &AppState,
    event: &str,
    body: Result<Bytes, BytesRejection>,
    delivery: Delivery,
) -> Result<Value, ApiError> {
    let started = std::time::Instant::now();
    if state
        .capture_paused
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        tracing::debug!(event = %event, "capture paused: hook acknowledged and dropped");
        return Ok(hook_answer(event, ""));
    }
    let mut parsed = parse_hook(event, body)?;
    if let Delivery::Spooled { received_at_ms } = delivery {
        parsed.received_at_ms = Some(received_at_ms);
    }
    let event_name = parsed.event_name.clone();
    let session_id = parsed.session_id.clone();
    let skip = if state.store.is_session_off(&parsed.session_id) {
        Some(SkipReason::SessionOff)
    } else {
        state.skip_reason(&parsed)
    };
    if let Some(reason) = skip {
        skipped(&parsed, reason);
        if delivery == Delivery::Live {
            crate::metrics::record_hook(&event_name, started.elapsed());
        }
        return Ok(hook_answer(&event_name, ""));
    }
    if !parsed.privacy.is_clean() {
        tracing::info!(
            event = %event_name,
            session = %session_id,
            secrets = parsed.privacy.secrets,
            private_spans = parsed.privacy.private_spans,
            "privacy filter removed content before storage"
        );
    }
    let live = delivery == Delivery::Live;
    // Read before the event is stored: storing it moves the session's last activity to now.
    let resumed_after = if live {
        context_api::resumed_after(&state.store, &parsed).await
    } else {
        None
    };
    let recall_for = (live
        && matches!(
            event_name.as_str(),
            "SessionStart" | "UserPromptSubmit" | "PreToolUse"
        ))
    .then(|| parsed.clone());
    let outcome = state.store.ingest(parsed).await?;
    match outcome {
        IngestOutcome::Stored { event_id, .. } => {
            tracing::debug!(event = %event_name, session = %session_id, event_id, ?delivery, "hook event stored")
        }
        IngestOutcome::Duplicate { event_id } => {
            tracing::debug!(event = %event_name, session = %session_id, event_id, ?delivery, "duplicate hook event ignored")
        }
    }
    let context = match &recall_for {
        Some(event) if event_name == "SessionStart" => {
            context_api::session_start(
                &state.store,
                &state.context.get(),
                Lang::from_settings(&state.settings),
                event,
                resumed_after,
            )
            .await
        }
        Some(event) if event_name == "PreToolUse" => {
            context_api::file_context(
                &state.store,
                &state.context.get(),
                Lang::from_settings(&state.settings),
                event,
            )
            .await
        }
        Some(event) => context_api::prompt_recall(state, event).await,
        None => String::new(),
    };
    if live {
        crate::metrics::record_hook(&event_name, started.elapsed());
    }
    Ok(hook_answer(&event_name, &context))
}

/// A tool event capture leaves out: nothing is stored (it would never make a memory), the answer is the
/// usual one, and `/metrics` counts it. Shared with the team worker.
pub fn skipped(event: &HookEvent, reason: SkipReason) {
    tracing::debug!(
        event = %event.event_name,
        session = %event.session_id,
        tool = event.tool_name.as_deref().unwrap_or(""),
        reason = reason.label(),
        "tool event not captured"
    );
    crate::metrics::record_skipped(reason);
}

/// The request body as a hook event, or the 4xx to answer with (logged, since Claude Code never shows
/// it). Shared by the laptop worker and the team worker, so both refuse the same input the same way.
pub fn parse_hook(event: &str, body: Result<Bytes, BytesRejection>) -> Result<HookEvent, ApiError> {
    let body = body.map_err(|rejection| {
        let err = ApiError::from(rejection);
        tracing::warn!(event = %event, error = err.code, reason = %err.reason, "hook body refused");
        err
    })?;
    HookEvent::parse(event, &body).map_err(|e| {
        tracing::warn!(event = %event, error = e.code(), reason = %e, bytes = body.len(), "hook event refused");
        ApiError::from(e)
    })
}

/// What Claude Code reads back: recalled memories as `additionalContext` for SessionStart (always
/// present, possibly empty, so the command hook's output has one shape) and for UserPromptSubmit when
/// recall found something; an empty object (carry on) otherwise.
pub fn hook_answer(event_name: &str, context: &str) -> Value {
    match event_name {
        "SessionStart" => json!({
            "hookSpecificOutput": {
                "hookEventName": event_name,
                "additionalContext": context
            }
        }),
        "UserPromptSubmit" | "PreToolUse" if !context.is_empty() => json!({
            "hookSpecificOutput": {
                "hookEventName": event_name,
                "additionalContext": context
            }
        }),
        _ => json!({}),
    }
}
