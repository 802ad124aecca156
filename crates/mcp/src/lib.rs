//! claude-mem's MCP server: `claude-mem mcp`, started by Claude Code over stdio.
//!
//! It is a thin client of the running worker's HTTP API (`search`, `timeline`, `get_observations`,
//! `save_memory`), so the one process that owns the database and indexes stays the only one touching
//! them. stdout carries the JSON-RPC stream: nothing else may ever be printed there, so logs go to
//! stderr only.

pub mod format;
pub mod server;

pub use claude_mem_api::{ApiClient, ApiError, Endpoint};
pub use server::MemoryServer;

use rmcp::ServiceExt;

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the MCP session could not start: {0}")]
    Initialize(String),
    #[error("the MCP session ended abnormally: {0}")]
    Session(String),
}

/// What the server needs to know at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the memories are: this machine's worker or the team server, with its token (the CLI's
    /// client configuration decides, the same one the hooks use).
    pub endpoint: Endpoint,
    /// Project that `save_memory` files notes under when the model names none: the one Claude Code
    /// runs in (it starts MCP servers in the project directory).
    pub default_project: String,
}

/// Serves one MCP session on stdin/stdout until the client closes it.
pub async fn serve_stdio(config: Config) -> Result<(), McpError> {
    let worker = ApiClient::new(config.endpoint)?;
    let server = MemoryServer::new(worker, config.default_project);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Initialize(e.to_string()))?;
    let reason = running
        .waiting()
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    tracing::debug!(?reason, "MCP session ended");
    Ok(())
}
