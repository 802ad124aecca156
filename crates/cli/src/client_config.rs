//! One client configuration for everything on this machine that talks to claude-mem: the hooks,
//! `claude-mem mcp`, `search`, `doctor` and the other commands that call the API. After `claude-mem
//! install --server URL --token T` they all go to the team server with the member's token; otherwise to
//! this machine's worker with its API token. Nothing falls back from one to the other: a team member's
//! memory must never land in whatever worker happens to answer on the local port.

use claude_mem_api::Endpoint;
use claude_mem_core::{DataDir, Settings};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The team server's base URL (`https://team.example:443`), overriding `team-server.json`.
pub(crate) const SERVER_ENV: &str = "CLAUDE_MEM_SERVER";
/// The user's team token (`cm_…`), overriding `team-server.json`.
pub(crate) const TOKEN_ENV: &str = "CLAUDE_MEM_TOKEN";
/// In the data directory: where `install --server` keeps the server and token for the hook command.
pub(crate) const TEAM_SERVER_FILE: &str = "team-server.json";

/// A laptop's connection to a team server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TeamServer {
    /// Base URL, no trailing slash.
    pub server: String,
    pub token: Option<String>,
}

pub(crate) fn team_server_path(data_dir: &DataDir) -> PathBuf {
    data_dir.root().join(TEAM_SERVER_FILE)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The team server to send hooks to, if this machine uses one: the environment first (a token there
/// without a server keeps the file's server), then the file.
pub(crate) fn team_server(data_dir: Option<&DataDir>) -> Option<TeamServer> {
    let file = data_dir.and_then(|dir| {
        let text = std::fs::read_to_string(team_server_path(dir)).ok()?;
        serde_json::from_str::<TeamServer>(&text).ok()
    });
    let env_token = non_empty_env(TOKEN_ENV);
    match non_empty_env(SERVER_ENV) {
        Some(server) => Some(TeamServer {
            server: server.trim_end_matches('/').to_owned(),
            token: env_token.or_else(|| file.and_then(|f| f.token)),
        }),
        None => file.map(|f| TeamServer {
            server: f.server.trim_end_matches('/').to_owned(),
            token: env_token.or(f.token),
        }),
    }
}

/// Where this machine's API calls go: the team server when one is configured, else the local worker
/// (the port read the way the worker and the hooks read it, so all agree even with a bad settings key).
pub(crate) fn endpoint(data_dir: &DataDir) -> Endpoint {
    match team_server(Some(data_dir)) {
        Some(team) => Endpoint::team(team.server, team.token),
        None => {
            let (settings, _) = Settings::load_effective_resilient(&data_dir.settings());
            Endpoint::local(
                settings.worker_url(),
                claude_mem_server::auth::client_token(data_dir),
            )
        }
    }
}

/// [`endpoint`] for the data directory this process uses.
pub(crate) fn resolve() -> anyhow::Result<(DataDir, Endpoint)> {
    use anyhow::Context;
    let dir = DataDir::resolve().context("cannot locate the data directory")?;
    let endpoint = endpoint(&dir);
    Ok((dir, endpoint))
}
