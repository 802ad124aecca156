//! The worker inside the app process: the same `Worker` as `claude-mem serve`, on its own runtime thread
//! so the GUI's event loop and the HTTP server never wait on each other. When the port is already served
//! by another claude-mem (a `serve` started earlier, another user session), the app attaches to it.

use claude_mem_core::{DataDir, Settings};
use claude_mem_server::{Worker, WorkerError};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error("the worker thread stopped before it was ready")]
    Vanished,
}

pub enum Hosted {
    Own {
        url: String,
        stop: Option<oneshot::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    },
    /// Another claude-mem already serves the port; the app only shows it.
    Attached { url: String },
}

impl Hosted {
    pub fn url(&self) -> &str {
        match self {
            Hosted::Own { url, .. } | Hosted::Attached { url } => url,
        }
    }

    /// Stops an owned worker gracefully (every acknowledged event is on disk when this returns).
    pub fn stop(&mut self) {
        if let Hosted::Own { stop, thread, .. } = self {
            if let Some(tx) = stop.take() {
                let _ = tx.send(());
            }
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Whether `url` answers like a claude-mem worker.
pub fn is_claude_mem(url: &str) -> bool {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(800)))
        .build()
        .new_agent();
    agent
        .get(format!("{url}/api/health"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_json::<serde_json::Value>().ok())
        .is_some_and(|h| h.get("version").is_some() && h.get("status").is_some())
}

pub fn start(data_dir: DataDir, settings: Settings) -> Result<Hosted, HostError> {
    let url = settings.worker_url();
    let settings_path = data_dir.settings();
    let rebind_dir = data_dir.clone();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<String, WorkerError>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("claude-mem-worker")
        .build()
        .map_err(HostError::Runtime)?;
    let thread = std::thread::Builder::new()
        .name("claude-mem-worker-host".into())
        .spawn(move || {
            runtime.block_on(async move {
                let worker = match Worker::bind(data_dir, settings).await {
                    // The product's worker fetches the embedding model when it is missing.
                    Ok(w) => w.with_model_download(),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(format!("http://{}", worker.local_addr())));
                // `POST /api/admin/restart` starts the worker again on this thread with the settings
                // re-read, at the same address: the window and the tray keep the URL they have.
                let reload = move |previous: std::net::SocketAddr| {
                    let (mut next, _) = Settings::load_effective_resilient(&settings_path);
                    next.host = previous.ip().to_string();
                    next.port = previous.port();
                    next
                };
                let stop = async move {
                    let _ = stop_rx.await;
                };
                if let Err(e) =
                    claude_mem_server::restart::run_with_restarts(worker, rebind_dir, reload, stop)
                        .await
                {
                    tracing::error!(error = %e, "the worker stopped with an error");
                }
            });
        })
        .map_err(HostError::Runtime)?;
    match ready_rx.recv() {
        Ok(Ok(bound)) => {
            tracing::info!(url = %bound, "worker started in the app");
            Ok(Hosted::Own {
                url: bound,
                stop: Some(stop_tx),
                thread: Some(thread),
            })
        }
        Ok(Err(e @ WorkerError::Bind { .. })) if is_claude_mem(&url) => {
            tracing::info!(url = %url, reason = %e, "another claude-mem serves the port; attaching to it");
            let _ = thread.join();
            Ok(Hosted::Attached { url })
        }
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e.into())
        }
        Err(_) => Err(HostError::Vanished),
    }
}
