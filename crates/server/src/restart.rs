//! `POST /api/admin/restart`: the worker starts over in the same process, so settings that are read at
//! start (the compressor, the embedder, batching, the address) take effect without a terminal.
//!
//! Why in-process and not a re-exec: the same code then serves `claude-mem serve` and the desktop app,
//! where re-executing would restart the whole GUI (window, tray) to apply a batch size; the process id,
//! the log writer, the terminal or service manager that started it, and the address `--port 0` picked
//! all stay as they are. A restart is the same graceful stop as Ctrl-C (in-flight requests finish,
//! every acknowledged event is on disk, the store is closed), then a fresh [`Worker::bind`] with the
//! settings re-read from the file and the environment. If the new address cannot be bound, the old one
//! is used again, so a restart never leaves the user without a worker.

use crate::worker::{Worker, WorkerError};
use claude_mem_core::{DataDir, Settings};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// Runs `first`, and after each `POST /api/admin/restart` a new worker bound with `reload(previous
/// address)`'s settings, until `shutdown` resolves. `reload` is where the host applies what it
/// overrides (the CLI's `--port`, the app keeping its window's address).
pub async fn run_with_restarts(
    first: Worker,
    data_dir: DataDir,
    reload: impl Fn(SocketAddr) -> Settings + Send,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let download_model = first.downloads_model();
    let mut worker = first;
    loop {
        let signal = worker.state().restart.clone();
        signal.supervised.store(true, Ordering::SeqCst);
        let previous = worker.local_addr();
        let mut stop = stop_rx.clone();
        worker
            .run(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await?;
        if !signal.was_requested() || *stop_rx.borrow() {
            return Ok(());
        }
        let settings = reload(previous);
        tracing::info!(addr = %previous, "restarting the worker");
        let next = rebind(&data_dir, settings, previous).await?;
        worker = if download_model {
            next.with_model_download()
        } else {
            next
        };
        tracing::info!(addr = %worker.local_addr(), "worker restarted");
    }
}

/// Binds with `settings`; when their address is taken or refused, the previous address (a few tries:
/// the old listener may take a moment to be released).
async fn rebind(
    data_dir: &DataDir,
    settings: Settings,
    previous: SocketAddr,
) -> Result<Worker, WorkerError> {
    let mut last = match Worker::bind(data_dir.clone(), settings.clone()).await {
        Ok(w) => return Ok(w),
        Err(e @ WorkerError::Bind { .. }) => e,
        Err(e) => return Err(e),
    };
    let mut fallback = settings;
    fallback.host = previous.ip().to_string();
    fallback.port = previous.port();
    for attempt in 0..20 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match Worker::bind(data_dir.clone(), fallback.clone()).await {
            Ok(w) => {
                tracing::warn!(error = %last, addr = %previous, "the new address is not available; the worker stays where it was");
                return Ok(w);
            }
            Err(e @ WorkerError::Bind { .. }) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn ask(app: &axum::Router, token: &str, peer: &str) -> (StatusCode, serde_json::Value) {
        let mut req = Request::post("/api/admin/restart")
            .header("host", "127.0.0.1:37777")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from("{}"))
            .unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    /// Only this machine may restart the worker, and only a worker someone runs again may "restart"
    /// (the supervised path, through `claude-mem serve`, is tests/restart_e2e.rs).
    #[tokio::test]
    async fn restart_is_loopback_only_and_needs_a_runner() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(dir.path().join("data"));
        let mut settings = Settings {
            port: 0,
            ..Settings::default()
        };
        settings.search.embedder = "hash".into();
        settings.search.model_download = "off".into();
        settings.compression.provider = "local".into();
        let worker = Worker::bind(data_dir.clone(), settings).await.unwrap();
        let token = crate::auth::load_or_create_token(&data_dir).unwrap();
        let state = worker.state().clone();
        let app = crate::routes::router(state.clone());

        let (status, body) = ask(&app, &token, "192.0.2.7:40000").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"], "loopback_only");

        let (status, body) = ask(&app, &token, "127.0.0.1:40000").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "cannot_restart");
        assert!(!state.restart.was_requested());

        state.restart.supervised.store(true, Ordering::SeqCst);
        let (status, body) = ask(&app, &token, "[::1]:40000").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        tokio::time::timeout(Duration::from_secs(5), state.restart.requested())
            .await
            .expect("the restart is signalled");
        state.store.close().await;
    }
}
