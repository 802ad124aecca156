//! Every HTTP route, and the layers around them: [`router`] puts the route modules (`api`, `hooks`,
//! `*_api`, `stream`, `metrics`) behind the request limits (`serve`), the local guard, the token check
//! and the rate limit. Only the worker (and tests) build it; no route module imports it.

use crate::api_error::{method_not_allowed, not_found};
use crate::api_state::ApiState;
use crate::local_guard::{require_local, AllowedHosts};
use crate::loopback::is_loopback_host;
use crate::state::AppState;
use crate::{api, context_api, hooks, memories_api, search_api, settings_api, stream};
use crate::{auth, cors, rate_limit};
use axum::extract::DefaultBodyLimit;
use axum::extract::FromRef;
use axum::routing::{delete, get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

pub fn router(state: AppState) -> Router {
    let mut extra = AllowedHosts::default();
    if !is_loopback_host(&state.settings.host) {
        extra.0.push(state.settings.host.clone());
    }
    extra.1 = state.settings.security.cors_origins.clone();
    let cors = cors::layer(&state.settings.security.cors_origins);
    let auth = auth::AuthConfig::for_worker(&state.settings, &state.data_dir);
    let limit = rate_limit::RateLimit::new(&state.settings.security);
    Router::new()
        .route("/hooks/{event}", post(hooks::receive_hook))
        .route("/api/health", get(api::health))
        .route("/api/openapi.json", get(crate::openapi::openapi_json))
        .route(auth::CODE_PATH, post(auth::mint_code))
        .route("/metrics", get(crate::metrics::metrics))
        .route(
            "/api/projects/{name}/rename",
            post(crate::forget_api::rename_project),
        )
        .route(
            "/api/sessions/off",
            get(crate::forget_api::sessions_off).post(crate::forget_api::session_off),
        )
        .route("/api/logs", get(crate::logs_api::logs))
        .route("/api/setup", get(crate::setup_api::setup))
        .route("/api/setup/connect", post(crate::setup_api::connect))
        .route("/api/admin/restart", post(crate::admin_api::restart))
        .route("/api/search", get(search_api::search))
        .route("/api/reindex", post(search_api::reindex))
        .route("/api/admin/prune", post(crate::admin_api::prune))
        .route("/api/admin/index", post(crate::admin_api::index))
        .route("/api/admin/retry", post(crate::admin_api::retry))
        .route("/api/capture", get(api::capture).put(api::set_capture))
        .route(
            "/api/settings",
            get(settings_api::get).put(settings_api::put),
        )
        .merge(api_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Innermost: Content-Length and body deadline, JSON rejections (crate::serve).
        .layer(axum::middleware::from_fn_with_state(
            crate::serve::BodyLimits::new(state.settings.max_body_bytes),
            crate::serve::bounded_body,
        ))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        // Outermost last: rate limit, then the token or the viewer's cookie (auth), then Host, exact
        // Origin and JSON content type (local guard), then CORS (which answers preflights only for
        // origins the guard let through).
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(extra, require_local))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            rate_limit::limit,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The routes every backend serves with the same handlers and the same JSON: the laptop worker over its
/// SQLite store, the team server over PostgreSQL scoped to the caller's team (`claude-mem-team`). Their
/// handlers read the caller's store through [`crate::api_state::Db`] and nothing backend-specific.
pub fn api_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ApiState: FromRef<S>,
{
    Router::new()
        .route("/api/projects", get(api::list_projects))
        .route("/api/sessions", get(api::list_sessions))
        .route(
            "/api/sessions/{id}",
            get(api::get_session).delete(crate::forget_api::delete_session),
        )
        .route("/api/observations", get(api::list_observations))
        .route(
            "/api/observations/{id}",
            get(api::get_observation)
                .delete(crate::forget_api::delete_observation)
                .patch(crate::forget_api::edit_observation),
        )
        .route(
            "/api/summaries/{id}",
            delete(crate::forget_api::delete_summary),
        )
        .route(
            "/api/prompts/{id}",
            delete(crate::forget_api::delete_prompt),
        )
        .route(
            "/api/projects/{name}",
            delete(crate::forget_api::delete_project),
        )
        .route("/api/forget", post(crate::forget_api::forget))
        .route("/api/summaries", get(crate::history_api::summaries))
        .route("/api/prompts", get(crate::history_api::prompts))
        .route(
            "/api/session-titles",
            get(crate::history_api::session_titles),
        )
        .route("/api/costs", get(api::costs))
        .route("/api/context", get(context_api::preview))
        .route("/api/timeline", get(memories_api::timeline))
        .route("/api/memories", post(memories_api::save))
        .route("/api/stream", get(stream::stream))
}

#[cfg(test)]
mod tests {
    use super::api_routes;
    use crate::api_error::ApiError;
    use crate::api_state::{ApiState, HealthProbe};
    use async_trait::async_trait;
    use axum::body::Body;
    use axum::http::Request;
    use axum::http::StatusCode;
    use claude_mem_core::Settings;
    use serde_json::Value;
    use std::sync::Arc;
    use tower::ServiceExt;

    struct Quiet;

    #[async_trait]
    impl HealthProbe for Quiet {
        async fn health_json(&self) -> Result<Value, ApiError> {
            Ok(Value::Null)
        }
    }

    /// A team server's state: no store of its own. A shared route reached without a caller's store
    /// (an auth layer left off by mistake) must refuse, not answer from somewhere.
    #[tokio::test]
    async fn a_shared_route_without_a_callers_store_is_refused() {
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let state = ApiState {
            db: None,
            settings: Arc::new(Settings::default()),
            context: Default::default(),
            search: None,
            search_reads_store: true,
            health: Arc::new(Quiet),
            shutdown,
        };
        let app = api_routes::<ApiState>().with_state(state);
        for path in [
            "/api/projects",
            "/api/sessions",
            "/api/observations",
            "/api/costs",
            "/api/stream",
            "/api/context?project=p",
        ] {
            let response = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
    }
}
