//! The worker: the store plus the HTTP listener, started the same way by `claude-mem serve` and by the
//! desktop app.

use crate::api_error::{method_not_allowed, not_found};
use crate::local_guard::{is_loopback_host, require_local, AllowedHosts};
use crate::{api, context_api, hooks, indexer, memories_api, search_api, settings_api, stream};
use crate::{auth, cors, rate_limit};
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use claude_mem_core::capture::SkipReason;
use claude_mem_core::processor::Processor;
use claude_mem_core::settings::{CaptureSettings, ContextSettings};
use claude_mem_core::HookEvent;
use claude_mem_core::{DataDir, Settings, Store, StoreError};
use claude_mem_search::{embedder_from_settings, Fusion, SearchIndex};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub data_dir: Arc<DataDir>,
    pub started: Instant,
    /// Absent only in tests that exercise the HTTP layer alone.
    pub processor: Option<Arc<Processor>>,
    pub search: Option<Arc<SearchIndex>>,
    /// The embedding model's download and switch, for `/api/health` (`crate::model_fetch`).
    pub model: Arc<crate::model_fetch::ModelFetch>,
    /// Recall settings: the viewer changes them without a restart.
    pub context: Arc<std::sync::RwLock<ContextSettings>>,
    /// What capture leaves out (`capture.skip_tools`): the viewer changes it without a restart.
    pub capture: Arc<std::sync::RwLock<CaptureSettings>>,
    /// Capture paused (from the tray): hooks are acknowledged and dropped, so Claude Code carries on and
    /// nothing of that stretch is kept.
    pub capture_paused: Arc<std::sync::atomic::AtomicBool>,
    /// Serialises settings.json read-modify-write.
    pub settings_lock: Arc<tokio::sync::Mutex<()>>,
    /// Flips to true when the worker stops, ending long-lived responses (the live stream) so a graceful
    /// shutdown does not wait on them forever.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    shutdown_tx: Arc<tokio::sync::watch::Sender<bool>>,
    /// `POST /api/admin/restart` ends this worker's run; its runner starts the next (`crate::restart`).
    pub restart: Arc<crate::restart::RestartSignal>,
    /// settings.json as this worker found it at its start: a key saved differently since waits for a
    /// restart, while one that differs from what runs without having changed was set at the start
    /// (the command line's `--port`, the environment).
    pub file_at_start: Arc<Settings>,
}

impl AppState {
    pub fn context_settings(&self) -> ContextSettings {
        self.context.read().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn set_context_settings(&self, c: ContextSettings) {
        if let Ok(mut guard) = self.context.write() {
            *guard = c;
        }
    }

    /// Why `event` is not to be stored, if it is not (claude-mem's own tools, `capture.skip_tools`).
    pub fn skip_reason(&self, event: &HookEvent) -> Option<SkipReason> {
        match self.capture.read() {
            Ok(capture) => claude_mem_core::capture::skip_reason(&capture, event),
            // A writer panicked mid-swap: the own-tool rule still holds, the list is the last one set.
            Err(poisoned) => claude_mem_core::capture::skip_reason(&poisoned.into_inner(), event),
        }
    }

    pub fn set_capture_settings(&self, c: CaptureSettings) {
        if let Ok(mut guard) = self.capture.write() {
            *guard = c;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        addr: String,
        source: std::io::Error,
        hint: String,
    },
    /// A file in the data directory that the worker must make private or create (the database's WAL,
    /// settings, the API token), named, so a directory in the token's place or a file owned by another
    /// user is reported as what it is.
    #[error("cannot prepare {path}: {source}{hint}")]
    DataFile {
        path: std::path::PathBuf,
        source: std::io::Error,
        hint: String,
    },
    #[error("cannot set up the compressor: {0}")]
    Compressor(String),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

pub fn router(state: AppState) -> Router {
    let mut extra = AllowedHosts::default();
    if !is_loopback_host(&state.settings.host) {
        extra.0.push(state.settings.host.clone());
    }
    extra.1 = state.settings.security.cors_origins.clone();
    let cors = cors::layer(&state.settings.security.cors_origins);
    let auth = auth::AuthConfig::for_worker(&state.settings, &state.data_dir);
    let limit = rate_limit::RateLimit::new(&state.settings.security);
    Router::new()
        .route("/hooks/{event}", post(hooks::receive_hook))
        .route("/api/health", get(api::health))
        .route(auth::CODE_PATH, post(auth::mint_code))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/api/projects", get(api::list_projects))
        .route("/api/sessions", get(api::list_sessions))
        .route(
            "/api/sessions/{id}",
            get(api::get_session).delete(crate::forget_api::delete_session),
        )
        .route("/api/observations", get(api::list_observations))
        .route(
            "/api/observations/{id}",
            get(api::get_observation)
                .delete(crate::forget_api::delete_observation)
                .patch(crate::forget_api::edit_observation),
        )
        .route(
            "/api/summaries/{id}",
            delete(crate::forget_api::delete_summary),
        )
        .route(
            "/api/prompts/{id}",
            delete(crate::forget_api::delete_prompt),
        )
        .route(
            "/api/projects/{name}",
            delete(crate::forget_api::delete_project),
        )
        .route(
            "/api/projects/{name}/rename",
            post(crate::forget_api::rename_project),
        )
        .route("/api/forget", post(crate::forget_api::forget))
        .route(
            "/api/sessions/off",
            get(crate::forget_api::sessions_off).post(crate::forget_api::session_off),
        )
        .route("/api/summaries", get(crate::history_api::summaries))
        .route("/api/prompts", get(crate::history_api::prompts))
        .route("/api/logs", get(crate::logs_api::logs))
        .route("/api/setup", get(crate::setup_api::setup))
        .route("/api/setup/connect", post(crate::setup_api::connect))
        .route(
            "/api/session-titles",
            get(crate::history_api::session_titles),
        )
        .route("/api/admin/restart", post(crate::admin_api::restart))
        .route("/api/costs", get(api::costs))
        .route("/api/search", get(search_api::search))
        .route("/api/reindex", post(search_api::reindex))
        .route("/api/admin/prune", post(crate::admin_api::prune))
        .route("/api/admin/index", post(crate::admin_api::index))
        .route("/api/admin/retry", post(crate::admin_api::retry))
        .route("/api/context", get(context_api::preview))
        .route("/api/timeline", get(memories_api::timeline))
        .route("/api/memories", post(memories_api::save))
        .route("/api/stream", get(stream::stream))
        .route("/api/capture", get(api::capture).put(api::set_capture))
        .route(
            "/api/settings",
            get(settings_api::get).put(settings_api::put),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Innermost: Content-Length and body deadline, JSON rejections (crate::serve).
        .layer(axum::middleware::from_fn_with_state(
            crate::serve::BodyLimits::new(state.settings.max_body_bytes),
            crate::serve::bounded_body,
        ))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        // Outermost last: rate limit, then the token or the viewer's cookie (auth), then Host, exact
        // Origin and JSON content type (local guard), then CORS (which answers preflights only for
        // origins the guard let through).
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(extra, require_local))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            rate_limit::limit,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

pub struct Worker {
    listener: TcpListener,
    state: AppState,
    local_addr: SocketAddr,
    /// Fetch the embedding model in the background when it is missing ([`Worker::with_model_download`]).
    download_model: bool,
}

impl Worker {
    /// Opens the store and binds the listener; the worker serves nothing until [`Worker::run`].
    pub async fn bind(data_dir: DataDir, settings: Settings) -> Result<Self, WorkerError> {
        data_dir.ensure().map_err(|source| WorkerError::DataDir {
            path: data_dir.root().to_owned(),
            source,
        })?;
        // Before anything runs: the processor may commit observations as soon as the worker starts.
        crate::metrics::install();
        let store = Store::open(&data_dir.database()).await?;
        // SQLite created the database and its WAL under the umask; make them private, and make the token
        // remote clients need before the first request can arrive.
        let secured = data_dir
            .secure_files()
            .map_err(|source| (data_dir.root().to_owned(), source))
            .and_then(|_| {
                // Every client needs it, loopback included (see `auth`).
                auth::load_or_create_token(&data_dir)
                    .map(|_| ())
                    .map_err(|source| (data_dir.api_token(), source))
            });
        if let Err((path, source)) = secured {
            store.close().await;
            let hint = claude_mem_core::paths::io_hint(&path, &source);
            return Err(WorkerError::DataFile { path, source, hint });
        }
        let addr = format!("{}:{}", settings.host, settings.port);
        let listener = match TcpListener::bind((settings.host.as_str(), settings.port)).await {
            Ok(l) => l,
            Err(source) => {
                store.close().await;
                let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
                    format!(
                        " (is another claude-mem worker already running? `curl {}/api/health`)",
                        settings.worker_url()
                    )
                } else {
                    String::new()
                };
                return Err(WorkerError::Bind { addr, source, hint });
            }
        };
        let local_addr = listener.local_addr().map_err(|source| WorkerError::Bind {
            addr,
            source,
            hint: String::new(),
        })?;
        let llm = match claude_mem_core::compress::select::llm_compressor_in(&settings, &data_dir) {
            Ok(llm) => llm,
            Err(e) => {
                store.close().await;
                return Err(WorkerError::Compressor(e));
            }
        };
        retry_if_compressor_changed(&store, &settings, &data_dir, llm.as_deref()).await;
        let search = match open_search(&settings, &data_dir).await {
            Ok(index) => {
                // Graphs that could not be loaded are rebuilt from the stored vectors before the first
                // request, so search answers at once and without the model.
                indexer::restore(&store, &index).await;
                Some(index)
            }
            Err(e) => {
                // Search is derived and optional: capture and compression go on without it.
                tracing::error!(error = %e, "search index unavailable");
                None
            }
        };
        let processor = Arc::new(Processor::new(
            store.clone(),
            llm,
            settings.compression.processor_config(),
        ));
        let embedder_id = search.as_ref().map(|s| s.embedder().id().to_owned());
        let model = Arc::new(crate::model_fetch::ModelFetch::new(
            crate::model_fetch::initial_state(&settings, embedder_id.as_deref()),
        ));
        let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
        Ok(Self {
            listener,
            local_addr,
            download_model: false,
            state: AppState {
                model,
                store,
                context: Arc::new(std::sync::RwLock::new(settings.context.clone())),
                capture: Arc::new(std::sync::RwLock::new(settings.capture.clone())),
                settings_lock: Arc::new(tokio::sync::Mutex::new(())),
                capture_paused: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                shutdown,
                shutdown_tx: Arc::new(shutdown_tx),
                restart: Arc::default(),
                file_at_start: Arc::new(Settings::load_resilient(&data_dir.settings()).0),
                settings: Arc::new(settings),
                data_dir: Arc::new(data_dir),
                started: Instant::now(),
                processor: Some(processor),
                search,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Lets this worker download the embedding model in the background when `search.embedder` and
    /// `search.model_download` are `auto` and the model is missing (`crate::model_fetch`). Opt-in, and
    /// only the product's entry points (`claude-mem serve`, the desktop app) opt in: a worker built by
    /// a test or a benchmark must never reach the network on its own.
    pub fn with_model_download(mut self) -> Self {
        self.download_model = true;
        self
    }

    /// Whether [`Worker::with_model_download`] was asked for: a restarted worker asks again.
    pub fn downloads_model(&self) -> bool {
        self.download_model
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then closes the store so every
    /// acknowledged event is on disk and the WAL is checkpointed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), WorkerError> {
        let store = self.state.store.clone();
        let (stop_processor, stopped) = tokio::sync::watch::channel(false);
        let processor = self
            .state
            .processor
            .clone()
            .filter(|_| self.state.settings.compression.enabled)
            .map(|p| tokio::spawn(p.run(stopped)));
        let switch = Arc::new(indexer::EmbedderSwitch::default());
        let indexer = self.state.search.clone().map(|index| {
            tokio::spawn(indexer::run(
                store.clone(),
                index,
                switch.clone(),
                stop_processor.subscribe(),
            ))
        });
        let model_fetch =
            (self.download_model && crate::model_fetch::wanted(&self.state)).then(|| {
                tokio::spawn(crate::model_fetch::run(
                    self.state.clone(),
                    switch,
                    stop_processor.subscribe(),
                ))
            });
        let retention = tokio::spawn(crate::retention::run(
            store.clone(),
            self.state.search.clone(),
            self.state.settings.retention.clone(),
            stop_processor.subscribe(),
        ));
        let backups = crate::backup_schedule::spawn(
            self.state.data_dir.clone(),
            self.state.settings.backup.clone(),
            stop_processor.subscribe(),
        );
        // Events hooks spooled while this worker was down go in now, and whenever a hook gets through.
        let spool = crate::spool_drain::spawn(self.state.clone(), stop_processor.subscribe());
        tracing::info!(addr = %self.local_addr, database = %store.path().display(), "worker listening");
        let end_streams = self.state.shutdown_tx.clone();
        let restart = self.state.restart.clone();
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                () = restart.requested() => {}
            }
            let _ = end_streams.send(true);
        };
        // Timeouts, a connection cap and a shutdown deadline (crate::serve); requests carry ConnectInfo.
        let app = router(self.state);
        let result = crate::serve::serve(
            self.listener,
            app,
            crate::serve::Limits::default(),
            shutdown,
        )
        .await;
        let _ = stop_processor.send(true);
        if let Some(task) = processor {
            let _ = task.await;
        }
        if let Some(task) = indexer {
            let _ = task.await;
        }
        let _ = retention.await;
        if let Some(task) = model_fetch {
            let _ = task.await;
        }
        let _ = spool.await;
        if let Some(task) = backups {
            let _ = task.await;
        }
        store.close().await;
        tracing::info!("worker stopped");
        result.map_err(WorkerError::Serve)
    }
}

/// Events parked under another compressor configuration get a new try with this one (see
/// [`claude_mem_core::compress::fingerprint`]). Compression settings apply at start, so this is where
/// a changed configuration takes effect; a failure here is logged and costs nothing else.
async fn retry_if_compressor_changed(
    store: &Store,
    settings: &Settings,
    data_dir: &DataDir,
    llm: Option<&dyn claude_mem_core::compress::Compressor>,
) {
    let compressor = llm.map_or(claude_mem_core::compress::local::NAME, |c| c.name());
    let custom = (settings.compression.mode == "custom")
        .then(|| std::fs::read_to_string(data_dir.compression_prompt()).ok())
        .flatten();
    let fingerprint = claude_mem_core::compress::fingerprint::fingerprint(
        settings,
        compressor,
        custom.as_deref(),
    );
    match store.retry_parked_if_config_changed(&fingerprint).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            requeued = n,
            compressor,
            "the compressor configuration changed: parked events are retried"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot compare the compressor configuration"),
    }
}

/// Loads the embedder (blocking: the model is read from disk) and opens or rebuilds the indexes.
pub async fn open_search(
    settings: &Settings,
    data_dir: &DataDir,
) -> Result<Arc<SearchIndex>, String> {
    let settings = settings.clone();
    let root = data_dir.root().to_owned();
    let dir = data_dir.index();
    tokio::task::spawn_blocking(move || {
        let (embedder, fallback) = embedder_from_settings(&settings, &root);
        if let Some(reason) = &fallback {
            tracing::warn!(reason = %reason, embedder = embedder.id(), "using the fallback embedder");
        }
        let s = &settings.search;
        let fusion = if s.fusion == "rrf" {
            Fusion::Rrf { k: s.rrf_k }
        } else {
            Fusion::Weighted { text: s.text_weight, vector: s.vector_weight }
        };
        let encoding = claude_mem_core::store::VectorEncoding::parse(&s.vector_encoding).unwrap_or_default();
        SearchIndex::open(&dir, embedder, fallback, fusion)
            .map(|mut index| {
                index.set_vector_encoding(encoding);
                Arc::new(index)
            })
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}
