//! What the routes both backends serve ([`crate::routes::api_routes`]) need: the caller's store
//! ([`Db`]), settings, and the few live pieces the laptop worker and the team server both have.
//!
//! The laptop worker builds an [`ApiState`] from its `AppState` and answers every request from its one
//! SQLite store. The team server has no store for "everyone": its auth layer puts the caller's
//! team-scoped store into the request ([`Db`] finds it there), and a request that reaches a shared
//! route without one is refused, so a route can never read across teams by forgetting a filter.

use crate::api_error::ApiError;
use crate::state::AppState;
use async_trait::async_trait;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use claude_mem_core::settings::LiveContextSettings;
use claude_mem_core::storage::SharedMemory;
use claude_mem_core::Settings;
use claude_mem_search::SearchIndex;
use serde_json::Value;
use std::sync::Arc;

/// The live-stream's periodic `health` event: each backend says what it is (the laptop's `AppState`
/// answers with `crate::api::health_json`).
#[async_trait]
pub trait HealthProbe: Send + Sync {
    async fn health_json(&self) -> Result<Value, ApiError>;
}

#[derive(Clone)]
pub struct ApiState {
    /// The store for requests that bring none: the laptop's. `None` on a team server.
    pub db: Option<SharedMemory>,
    pub settings: Arc<Settings>,
    /// Recall settings (the laptop's viewer changes them without a restart).
    pub context: LiveContextSettings,
    /// The laptop's Tantivy + vector index, which forget and edit keep in step; the team server's
    /// search reads PostgreSQL and needs no telling.
    pub search: Option<Arc<SearchIndex>>,
    /// The team server's search reads the tables themselves: what a forget deletes is gone from search
    /// once committed, with no index to update.
    pub search_reads_store: bool,
    pub health: Arc<dyn HealthProbe>,
    /// Flips to true when the server stops, ending the live stream.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl FromRef<AppState> for ApiState {
    fn from_ref(state: &AppState) -> Self {
        ApiState {
            db: Some(Arc::new(state.store.clone())),
            settings: state.settings.clone(),
            context: state.context.clone(),
            search: state.search.clone(),
            search_reads_store: false,
            health: Arc::new(state.clone()),
            shutdown: state.shutdown.clone(),
        }
    }
}

/// The store this request may use: the one its auth layer scoped to the caller (a team server puts it
/// in the request's extensions), else the server's own (the laptop's).
pub struct Db(pub SharedMemory);

impl<S> FromRequestParts<S> for Db
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(db) = parts.extensions.get::<SharedMemory>() {
            return Ok(Db(db.clone()));
        }
        ApiState::from_ref(state).db.map(Db).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "an API token is required: Authorization: Bearer <token>",
            )
        })
    }
}
