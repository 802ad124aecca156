//! Worker logs: readable lines on stderr, and JSON lines in `<data dir>/logs/worker.log.YYYY-MM-DD`
//! (daily rotation, old files removed past the retention setting) so a user can send us a log.

use anyhow::Context;
use claude_mem_core::{DataDir, Settings};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Keep the guard alive for the life of the process: dropping it flushes the file writer.
pub fn init(data_dir: &DataDir, settings: &Settings) -> anyhow::Result<WorkerGuard> {
    let filter = EnvFilter::try_new(&settings.log_level)
        .with_context(|| format!("invalid log_level {:?}", settings.log_level))?;
    std::fs::create_dir_all(data_dir.logs())
        .with_context(|| format!("cannot create {}", data_dir.logs().display()))?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("worker.log")
        .max_log_files(settings.log_retention_days as usize)
        .build(data_dir.logs())
        .context("cannot open the log file")?;
    let (file_writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
        .with(fmt::layer().json().with_writer(file_writer))
        .try_init()
        .context("logging was already initialised")?;
    Ok(guard)
}
