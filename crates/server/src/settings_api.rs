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

fn file_settings(state: &AppState) -> Result<Settings, ApiError> {
    Settings::load(&state.data_dir.settings()).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "settings_unreadable",
            e.to_string(),
        )
    })
}

fn invalid(e: SettingsError) -> ApiError {
    match e {
        SettingsError::Invalid { field, message } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_setting", message)
                .with_field(field)
        }
        other => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "settings_unwritable",
            other.to_string(),
        ),
    }
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
            StatusCode::UNPROCESSABLE_ENTITY,
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
    tracing::info!(keys = ?changes.keys().collect::<Vec<_>>(), restart = ?restart_required, "settings changed");
    Ok(Json(json!({
        "fields": fields(&updated),
        "restart_required": restart_required,
    })))
}
