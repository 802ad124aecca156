//! `claude-mem mcp`: the MCP server Claude Code starts over stdio (registered by the plugin's `.mcp.json`
//! or by `claude-mem install --mcp`).
//!
//! stdout is the JSON-RPC channel, so this command prints nothing itself and logs to stderr only (Claude
//! Code keeps an MCP server's stderr in its own logs).

use anyhow::Context;
use claude_mem_core::{DataDir, Settings};
use tracing_subscriber::EnvFilter;

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Worker to talk to (default: the one settings.json / CLAUDE_MEM_PORT point at).
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

    let data_dir = DataDir::resolve().context("cannot locate the data directory")?;
    let worker_url = match args.worker_url {
        Some(url) => url,
        // Read the way the hook command and the worker read it (a bad key keeps its last good value),
        // so all three agree on the port even when settings.json has a mistake in it.
        None => Settings::load_effective_resilient(&data_dir.settings())
            .0
            .worker_url(),
    };
    let token = claude_mem_server::auth::client_token(&data_dir);
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
        worker_url,
        default_project,
        token,
    }))?;
    Ok(())
}
