//! The worker's HTTP face: Claude Code's hook endpoints and the REST API, on axum.
//!
//! The same router serves `claude-mem serve` and the desktop app, so everything a user can reach lives
//! here and nothing here knows about windows or trays.

pub mod admin_api;
pub mod api;
pub mod api_error;
pub mod api_state;
pub mod auth;
pub mod backup_schedule;
pub mod context_api;
pub mod cors;
pub mod forget_api;
pub mod history_api;
pub mod hooks;
pub mod indexer;
pub mod local_guard;
pub mod logging;
pub mod logs_api;
pub mod loopback;
pub mod maintenance;
pub mod memories_api;
pub mod metrics;
pub mod model_fetch;
pub mod model_status;
pub mod openapi;
pub mod rate_limit;
pub mod restart;
pub mod restart_signal;
pub mod retention;
pub mod routes;
pub mod search_api;
pub mod serve;
pub mod settings_api;
pub mod setup_api;
pub mod spool_drain;
pub mod state;
pub mod stream;
pub mod viewer;
pub mod worker;

pub use api_error::ApiError;
pub use state::AppState;
pub use worker::{Worker, WorkerError};
