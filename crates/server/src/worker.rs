//! The worker's lifecycle: [`Worker::bind`] opens the store and the search index and binds the
//! listener, [`Worker::run`] serves the router (`crate::routes`) with the background jobs beside it
//! (processor, indexer, model download, daily prune, backups, spool drain) until shutdown, then stops
//! them and closes the store. Started the same way by `claude-mem serve` and by the desktop app.

use crate::model_status::{initial_state, ModelFetch};
use crate::state::AppState;
use crate::{auth, indexer};
use claude_mem_core::processor::Processor;
use claude_mem_core::settings::LiveContextSettings;
use claude_mem_core::{DataDir, Settings, Store, StoreError};
use claude_mem_search::{embedder_from_settings, Fusion, SearchIndex};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS error is in the message and deliberately not a `source`: printed with its chain (`{:#}`)
    /// it appeared twice.
    #[error("cannot listen on {addr}: {error}{hint}")]
    Bind {
        addr: String,
        error: std::io::Error,
        hint: String,
    },
    /// A file in the data directory that the worker must make private or create (the database's WAL,
    /// settings, the API token), named, so a directory in the token's place or a file owned by another
    /// user is reported as what it is.
    #[error("cannot prepare {path}: {error}{hint}")]
    DataFile {
        path: std::path::PathBuf,
        error: std::io::Error,
        hint: String,
    },
    #[error("cannot set up the compressor: {0}")]
    Compressor(String),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
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
            return Err(WorkerError::DataFile {
                path,
                error: source,
                hint,
            });
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
                return Err(WorkerError::Bind {
                    addr,
                    error: source,
                    hint,
                });
            }
        };
        let local_addr = listener.local_addr().map_err(|error| WorkerError::Bind {
            addr,
            error,
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
        let model = Arc::new(ModelFetch::new(initial_state(
            &settings,
            embedder_id.as_deref(),
        )));
        let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
        Ok(Self {
            listener,
            local_addr,
            download_model: false,
            state: AppState {
                model,
                store,
                context: LiveContextSettings::new(settings.context.clone()),
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
        let app = crate::routes::router(self.state);
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
