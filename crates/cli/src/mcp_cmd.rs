//! `claude-mem mcp`: the MCP server Claude Code starts over stdio (registered by the plugin's `.mcp.json`
//! or by `claude-mem install --mcp`).
//!
//! stdout is the JSON-RPC channel, so this command prints nothing itself and logs to stderr only (Claude
//! Code keeps an MCP server's stderr in its own logs).

use anyhow::Context;
use tracing_subscriber::EnvFilter;

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Server to talk to (default: the team server of `install --server`, else the worker settings.json /
    /// CLAUDE_MEM_PORT point at), with the same token.
    #[arg(long)]
    worker_url: Option<String>,
    /// Project `save_memory` files notes under when the model names none (default: the git repository
    /// containing $CLAUDE_PROJECT_DIR or the current directory).
    #[arg(long)]
    project: Option<String>,
}

pub fn run(args: McpArgs) -> anyhow::Result<()> {
    let level = if std::env::var_os("CLAUDE_MEM_DEBUG").is_some() {
        "debug"
    } else {
        "warn"
    };
    // A logger that is already set cannot happen here; if it did, losing logs beats refusing to serve.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();

    let (_, endpoint) = crate::client_config::resolve()?;
    let endpoint = match args.worker_url {
        Some(url) => claude_mem_api::Endpoint {
            base: url.trim_end_matches('/').to_owned(),
            ..endpoint
        },
        None => endpoint,
    };
    let default_project = match args.project {
        Some(p) => p,
        None => {
            let dir = std::env::var_os("CLAUDE_PROJECT_DIR")
                .map(std::path::PathBuf::from)
                .map_or_else(std::env::current_dir, Ok)
                .context("cannot read the current directory")?;
            claude_mem_core::project::project_from_cwd(&dir.to_string_lossy())
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(claude_mem_mcp::serve_stdio(claude_mem_mcp::Config {
        endpoint,
        default_project,
    }))?;
    Ok(())
}
