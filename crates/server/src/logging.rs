//! Worker logs: readable lines on stderr, and JSON lines in `<data dir>/logs/worker.log.YYYY-MM-DD`
//! (daily rotation, old files removed past the retention setting) so a user can send us a log.

use claude_mem_core::{DataDir, Settings};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log_level {level:?}: {message}")]
    Filter { level: String, message: String },
    #[error("cannot create the log directory {path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the log file: {0}")]
    File(String),
    #[error("logging was already initialised")]
    AlreadyInitialised,
}

type FilterHandle = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// The installed filter, so a `log_level` saved from the viewer applies at once instead of at the next
/// start.
static FILTER: std::sync::OnceLock<FilterHandle> = std::sync::OnceLock::new();

/// Replaces the running log filter. `Ok(false)` when this process did not install the logging (a test,
/// an embedding program): nothing to change, nothing wrong.
pub fn set_filter(level: &str) -> Result<bool, String> {
    let Some(handle) = FILTER.get() else {
        return Ok(false);
    };
    let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    handle.reload(filter).map_err(|e| e.to_string())?;
    Ok(true)
}

/// Keep the guard alive for the life of the process: dropping it flushes the file writer. Shared by
/// `claude-mem serve` and the desktop app, so both write the same files.
pub fn init(data_dir: &DataDir, settings: &Settings) -> Result<WorkerGuard, LoggingError> {
    let filter = EnvFilter::try_new(&settings.log_level).map_err(|e| LoggingError::Filter {
        level: settings.log_level.clone(),
        message: e.to_string(),
    })?;
    std::fs::create_dir_all(data_dir.logs()).map_err(|source| LoggingError::Dir {
        path: data_dir.logs(),
        source,
    })?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("worker.log")
        .max_log_files(settings.log_retention_days as usize)
        .build(data_dir.logs())
        .map_err(|e| LoggingError::File(e.to_string()))?;
    let (file_writer, guard) = tracing_appender::non_blocking(appender);
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let _ = FILTER.set(handle);
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
        .with(fmt::layer().json().with_writer(file_writer))
        .try_init()
        .map_err(|_| LoggingError::AlreadyInitialised)?;
    Ok(guard)
}
