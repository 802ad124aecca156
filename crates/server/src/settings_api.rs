//! `GET`/`PUT /api/settings`: the viewer's settings page.
//!
//! Changes are written to `settings.json` (validated first, atomically) and the live-applicable ones
//! (recall, the capture skip list) take effect at once; the answer lists the changed keys that need a restart. Environment
//! overrides still win at the next start, as they always do.

use crate::api_error::ApiError;
use crate::worker::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::settings::{apply_changes, fields};
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

pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let settings = file_settings(&state)?;
    Ok(Json(json!({
        "fields": fields(&settings),
        "path": state.data_dir.settings(),
    })))
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
            format!("expected an object of dotted keys to values: {e}"),
        )
    })?;
    // One writer at a time: two saves racing must not drop either's keys.
    let _guard = state.settings_lock.lock().await;
    let current = file_settings(&state)?;
    let (updated, restart_required) = apply_changes(&current, &changes).map_err(invalid)?;
    updated.save(&state.data_dir.settings()).map_err(invalid)?;
    state.set_context_settings(updated.context.clone());
    state.set_capture_settings(updated.capture.clone());
    tracing::info!(keys = ?changes.keys().map(|k| redacted(k)).collect::<Vec<_>>(), restart = ?restart_required, "settings changed");
    Ok(Json(json!({
        "fields": fields(&updated),
        "restart_required": restart_required,
    })))
}
