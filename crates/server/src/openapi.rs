//! `GET /api/openapi.json`: the OpenAPI document of the worker's API, derived from the types the
//! handlers return (`#[utoipa::path]` on each handler, `ToSchema` on its answer and on the store's rows),
//! so it cannot drift from what they send. `frontend/src/lib/openapi.json` is this document checked in:
//! the viewer's TypeScript types are generated from it (`npm run gen:api`), and
//! `crates/server/tests/openapi.rs` fails when the two differ.
//!
//! Routes whose handlers still build their answers with `json!` (the laptop's settings, setup, logs,
//! sessions-off and admin routes, and the live stream's events) are listed with their parameters and an untyped (`{}`) answer, from the
//! doc-only functions in [`untyped`], until their answers get types of their own.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "claude-mem worker API",
        description = "The claude-mem worker's HTTP API (127.0.0.1:37777). Every route but `GET /api/health` needs the API token (`Authorization: Bearer`) or the viewer's session cookie.",
        license(name = "MIT"),
    ),
    paths(
        crate::api::health,
        crate::search_api::search,
        crate::api::list_observations,
        crate::api::get_observation,
        crate::memories_api::timeline,
        crate::memories_api::save,
        crate::api::list_projects,
        crate::api::list_sessions,
        crate::api::get_session,
        crate::history_api::summaries,
        crate::history_api::prompts,
        crate::history_api::session_titles,
        crate::api::costs,
        crate::api::capture,
        crate::api::set_capture,
        crate::search_api::reindex,
        openapi_json,
        crate::forget_api::delete_observation,
        crate::forget_api::edit_observation,
        crate::forget_api::delete_summary,
        crate::forget_api::delete_prompt,
        crate::forget_api::delete_session,
        crate::forget_api::delete_project,
        crate::forget_api::forget,
        crate::context_api::preview,
        untyped::sessions_off,
        untyped::setup,
        untyped::setup_connect,
        untyped::logs,
        untyped::settings,
        untyped::save_settings,
        untyped::admin_restart,
        untyped::admin_retry,
        untyped::stream,
    ),
    tags(
        (name = "worker", description = "The worker itself: health, capture, costs"),
        (name = "memories", description = "Observations, search, timeline, notes"),
        (name = "history", description = "Projects, sessions, prompts and summaries"),
        (name = "untyped", description = "Routes whose answers are not typed yet"),
    )
)]
struct ApiDoc;

/// The document. Its `info.version` is the API's (`1`), not the build's.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // The version of the API, not of the build: the checked-in copy must not change at each release.
    doc.info.version = "1".into();
    doc
}

/// The document as the checked-in `frontend/src/lib/openapi.json` holds it: pretty JSON, a newline at
/// the end.
pub fn document_json() -> String {
    let mut text =
        serde_json::to_string_pretty(&document()).expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "worker",
    responses((status = 200, description = "This document", body = serde_json::Value)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// Doc-only functions for the routes whose handlers still answer `serde_json::Value`: their paths and
/// parameters, with an untyped answer. Never called.
#[allow(dead_code)]
mod untyped {
    type Untyped = serde_json::Value;

    #[utoipa::path(get, path = "/api/sessions/off", tag = "untyped",
        responses((status = 200, description = "Sessions not recorded", body = Untyped)))]
    pub async fn sessions_off() {}

    #[utoipa::path(get, path = "/api/setup", tag = "untyped",
        responses((status = 200, description = "The first-run checklist", body = Untyped)))]
    pub async fn setup() {}

    #[utoipa::path(post, path = "/api/setup/connect", tag = "untyped",
        responses((status = 200, description = "The checklist after `claude-mem install`", body = Untyped)))]
    pub async fn setup_connect() {}

    #[utoipa::path(get, path = "/api/logs", tag = "untyped",
        params(
            ("level" = Option<String>, Query, description = "The quietest level shown: trace, debug, info, warn or error"),
            ("limit" = Option<u32>, Query, description = "Lines at most"),
        ),
        responses((status = 200, description = "Recent log lines, newest first", body = Untyped)))]
    pub async fn logs() {}

    #[utoipa::path(get, path = "/api/settings", tag = "untyped",
        responses((status = 200, description = "Every setting with its value", body = Untyped)))]
    pub async fn settings() {}

    #[utoipa::path(put, path = "/api/settings", tag = "untyped",
        request_body(content = Untyped, description = "The keys to change"),
        responses((status = 200, description = "The settings after the change", body = Untyped)))]
    pub async fn save_settings() {}

    #[utoipa::path(post, path = "/api/admin/restart", tag = "untyped",
        responses((status = 202, description = "The worker restarts", body = Untyped)))]
    pub async fn admin_restart() {}

    #[utoipa::path(post, path = "/api/admin/retry", tag = "untyped",
        request_body(content = Untyped, description = "`{\"all\": true}` or `{\"id\": N}`"),
        responses((status = 200, description = "Requeued and still parked events", body = Untyped)))]
    pub async fn admin_retry() {}

    #[utoipa::path(get, path = "/api/stream", tag = "untyped",
        responses((status = 200, description = "Server-sent events: observation, summary, prompt, health", content_type = "text/event-stream", body = String)))]
    pub async fn stream() {}
}
