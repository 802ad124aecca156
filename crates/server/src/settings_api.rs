//! `GET`/`PUT /api/settings`: the viewer's settings page.
//!
//! Changes are written to `settings.json` (validated first, atomically) and the live-applicable ones
//! (recall, the capture skip list, the log filter) take effect at once; the answer lists the changed keys
//! that need a restart (`POST /api/admin/restart`). Environment overrides still win, and the page says
//! so: each field carries what the running worker uses where that is not the file's value, and the
//! variable responsible.

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::settings::{apply_changes, fields_running, lookup};
use claude_mem_core::{Settings, SettingsError};
use serde_json::{json, Map, Value};

/// The file's settings as a start reads them: a key that is invalid there (the worker started with
/// its last good value) shows that value, and the next save writes it back, repairing the file.
fn file_settings(state: &AppState) -> Result<Settings, ApiError> {
    Ok(Settings::load_resilient(&state.data_dir.settings()).0)
}

fn invalid(e: SettingsError) -> ApiError {
    match e {
        // The same validation as at start (`Settings::validate`): what would not start is refused.
        // A reason echoes the value (and the key) it refuses: through the one redaction path, so a key
        // pasted into the wrong field is not sent back, logged or shown.
        SettingsError::Invalid { field, message } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_setting",
            redacted(&message),
        )
        .with_field(redacted(&field)),
        other => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "settings_unwritable",
            other.to_string(),
        ),
    }
}

fn redacted(s: &str) -> String {
    claude_mem_privacy::redactor().clean_str(s).0.into_owned()
}

/// The log filter applied since the start (`PUT` of `log_level`), process-wide like the logging itself.
static LIVE_LOG_LEVEL: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// What the worker runs with now: its start settings, with the sections applied live since.
fn running(state: &AppState) -> Settings {
    let mut s = (*state.settings).clone();
    s.context = state.context.get();
    s.capture = state
        .capture
        .read()
        .map(|c| c.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    if let Some(level) = LIVE_LOG_LEVEL.lock().ok().and_then(|l| l.clone()) {
        s.log_level = level;
    }
    s
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// The page: each field's file value, what runs where that differs and why (`running`,
/// `overridden_by`), the keys waiting for a restart, and whether this worker can restart itself.
fn page(state: &AppState, file: &Settings) -> Map<String, Value> {
    let mut fields = fields_running(file, &running(state), env);
    let at_start = serde_json::to_value(&*state.file_at_start).unwrap_or(Value::Null);
    let now = serde_json::to_value(file).unwrap_or(Value::Null);
    for f in &mut fields {
        if f.restart_required && lookup(&at_start, f.key) != lookup(&now, f.key) {
            f.pending_restart = Some(true);
        }
    }
    let pending: Vec<&str> = fields
        .iter()
        .filter(|f| f.pending_restart == Some(true) && f.overridden_by.is_none())
        .map(|f| f.key)
        .collect();
    let mut m = Map::new();
    m.insert("restart_pending".into(), json!(pending));
    m.insert("fields".into(), json!(fields));
    m.insert("path".into(), json!(state.data_dir.settings()));
    m.insert(
        "restart_available".into(),
        json!(state.restart.is_supervised()),
    );
    m
}

pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let settings = file_settings(&state)?;
    Ok(Json(Value::Object(page(&state, &settings))))
}

pub async fn put(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    let changes: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_setting",
            format!("The settings must be sent as an object of dotted keys to values ({e})."),
        )
    })?;
    // One writer at a time: two saves racing must not drop either's keys.
    let _guard = state.settings_lock.lock().await;
    let current = file_settings(&state)?;
    let (updated, restart_required) = apply_changes(&current, &changes).map_err(invalid)?;
    updated.save(&state.data_dir.settings()).map_err(invalid)?;
    // Live sections take the file's new values with the environment's overrides on top, as a start
    // would: a CLAUDE_MEM_CONTEXT_BUDGET_TOKENS must not be dropped because another key was saved.
    let mut effective = updated.clone();
    if effective.apply_env(env).is_err() {
        effective = updated.clone();
    }
    state.context.set(effective.context.clone());
    state.set_capture_settings(effective.capture.clone());
    if changes.contains_key("log_level") && running(&state).log_level != effective.log_level {
        match crate::logging::set_filter(&effective.log_level) {
            Ok(_) => {
                if let Ok(mut live) = LIVE_LOG_LEVEL.lock() {
                    *live = Some(effective.log_level.clone());
                }
            }
            Err(e) => tracing::warn!(error = %e, "the new log filter could not be applied"),
        }
    }
    tracing::info!(keys = ?changes.keys().map(|k| redacted(k)).collect::<Vec<_>>(), restart = ?restart_required, "settings changed");
    let mut answer = page(&state, &updated);
    answer.insert("restart_required".into(), json!(restart_required));
    Ok(Json(Value::Object(answer)))
}
