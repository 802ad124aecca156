//! claude-mem's wire: what every client of the worker's HTTP API shares.
//!
//! The laptop worker and the team server answer the same API, so a client needs to know only where to
//! send (an [`Endpoint`]: base URL, token, and whether it is a team server, which changes what an error
//! tells the user) and what to send (the request types in [`wire`]). The MCP server uses the async
//! [`ApiClient`]; the CLI uses the [`blocking::Client`]. This crate has no database, model or LLM code,
//! so a client that depends on it carries none of them.

pub mod blocking;
pub mod client;
pub mod clock;
pub mod endpoint;
pub mod wire;

pub use client::ApiClient;
pub use endpoint::{ApiError, Endpoint, Target};
