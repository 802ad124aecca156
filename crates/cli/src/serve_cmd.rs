//! `claude-mem serve`: the worker alone, for machines without a display; with `--database
//! postgres://…`, a replica of a team server.

use anyhow::{bail, Context};
use claude_mem_core::{DataDir, Settings};
use claude_mem_server::Worker;
use claude_mem_team::{TeamConfig, TeamWorker};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (overrides settings.json and CLAUDE_MEM_PORT; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on (overrides settings.json and CLAUDE_MEM_HOST).
    #[arg(long)]
    host: Option<String>,
    /// A team server's PostgreSQL database (postgres://…): serve the team worker on it instead of the
    /// local SQLite store. Several replicas may share one database.
    #[arg(long, env = "CLAUDE_MEM_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// Database connections per replica (team mode).
    #[arg(long, default_value_t = 16)]
    db_pool: u32,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = DataDir::resolve().context("cannot locate the data directory")?;
    data_dir.ensure().with_context(|| {
        format!(
            "cannot prepare the data directory {}",
            data_dir.root().display()
        )
    })?;
    let settings_path = data_dir.settings();
    if !settings_path.exists() {
        // Written once so users can see (and edit) every setting with its default.
        Settings::default()
            .save(&settings_path)
            .context("cannot write default settings")?;
    }
    // Whatever the file says, the worker starts: a key that is wrong keeps its last good value (or its
    // default) and is named in the log and in /api/health.
    let (mut settings, warnings) = Settings::load_effective_resilient(&settings_path);
    if warnings.is_empty() {
        if let Err(e) = Settings::remember_last_good(&settings_path) {
            eprintln!("claude-mem: cannot keep a copy of the good settings: {e}");
        }
    }
    let (port_given, host_given) = (args.port.is_some(), args.host.is_some());
    if let Some(port) = args.port {
        // `--port 0` (a free port) is for tests and scripts that read the first line; the file may not
        // say 0, since hooks would post to it.
        settings.port = port;
    }
    if let Some(host) = args.host {
        let mut check = settings.clone();
        check.host = host;
        check.port = check.port.max(1);
        check.validate()?;
        settings.host = check.host;
    }
    let _log_guard = claude_mem_server::logging::init(&data_dir, &settings)?;
    for w in &warnings {
        tracing::warn!("{w}");
        eprintln!("claude-mem: {w}");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("claude-mem-worker")
        .build()
        .context("cannot start the async runtime")?;
    if let Some(url) = args.database.filter(|u| !u.trim().is_empty()) {
        if !claude_mem_team::is_postgres_url(&url) {
            bail!("--database must be a postgres:// (or postgresql://) URL; without it the local SQLite store is used");
        }
        let config = TeamConfig {
            database_url: url,
            settings,
            data_dir,
            max_connections: args.db_pool,
        };
        return runtime.block_on(async move {
            let worker = TeamWorker::bind(config)
                .await
                .context("cannot start the team worker")?;
            // The same first line as the local worker, so scripts and tests wait for either alike.
            println!(
                "claude-mem worker listening on http://{}",
                worker.local_addr()
            );
            std::io::stdout().flush().ok();
            worker.run(shutdown_signal()).await?;
            anyhow::Ok(())
        });
    }
    runtime.block_on(async move {
        let worker = match Worker::bind(data_dir.clone(), settings.clone()).await {
            // The product's worker fetches the embedding model when it is missing (search.model_download).
            Ok(worker) => worker.with_model_download(),
            // Two starts at once (autostart from two sessions, the service and the app): the port is
            // the lock, and the one that lost it has nothing to do. Only a worker answering with this
            // data directory's token counts; anything else on the port is still an error.
            Err(claude_mem_server::WorkerError::Bind { error, .. })
                if error.kind() == std::io::ErrorKind::AddrInUse
                    && our_worker_answers(&settings, &data_dir) =>
            {
                let url = settings.worker_url();
                tracing::info!(%url, "another claude-mem worker already serves this port; exiting");
                eprintln!(
                    "claude-mem: another claude-mem worker already serves {url}; nothing to do"
                );
                return anyhow::Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // Machine-readable first line: scripts and tests wait for it (and learn the port with --port 0).
        println!(
            "claude-mem worker listening on http://{}",
            worker.local_addr()
        );
        std::io::stdout().flush().ok();
        // `POST /api/admin/restart` starts the worker again in this process with the settings re-read;
        // `--host`/`--port` keep applying (a `--port 0` keeps the port it got).
        let reload = move |previous: std::net::SocketAddr| {
            let (mut next, _) = Settings::load_effective_resilient(&settings_path);
            if port_given {
                next.port = previous.port();
            }
            if host_given {
                next.host = previous.ip().to_string();
            }
            next
        };
        claude_mem_server::restart::run_with_restarts(worker, data_dir, reload, shutdown_signal())
            .await?;
        anyhow::Ok(())
    })
}

/// Whether a claude-mem worker of this user (it accepts this data directory's API token) answers on the
/// configured port: its full `/api/health` has `counts`, the public one only `version`.
fn our_worker_answers(settings: &Settings, data_dir: &DataDir) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&format!("{}/api/health", settings.worker_url()));
    if let Some(auth) = crate::worker_auth::authorization(Some(data_dir)) {
        request = request.header("authorization", &auth);
    }
    let Ok(mut response) = request.call() else {
        return false;
    };
    response.status().as_u16() == 200
        && response
            .body_mut()
            .read_json::<serde_json::Value>()
            .is_ok_and(|health| health.get("counts").is_some())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
