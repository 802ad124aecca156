//! `GET /metrics`: the worker's figures in the Prometheus text format.
//!
//! Two sources feed one response:
//! - Event metrics (hook and search latency, tool events skipped, observations created, processing time) are recorded where
//!   things happen, through the `metrics` facade, into one process-wide Prometheus recorder. The facade's
//!   global recorder can be set only once per process, so it is installed once (a `OnceLock`) and every
//!   worker in the process (several in unit tests) shares its handle.
//! - Gauges that mirror the database (counts, tokens, cost, database size, vectors, queue depth) are read
//!   at scrape time from the scraping worker's own store and index and written into the response
//!   directly, never into the global recorder: they are true right after a restart, and two workers in
//!   one process never overwrite each other's figures.

use crate::api_error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use claude_mem_core::capture::SkipReason;
use claude_mem_search::Mode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

pub use claude_mem_core::processor::{OBSERVATIONS_CREATED_TOTAL, OBSERVATIONS_PROCESSING_TIME_MS};

pub const HOOK_LATENCY_MS: &str = "claude_mem_hook_latency_ms";
pub const SEARCH_LATENCY_MS: &str = "claude_mem_search_latency_ms";
pub const HOOK_EVENTS_SKIPPED_TOTAL: &str = "claude_mem_hook_events_skipped_total";
/// Hook events taken from the spool (`crate::spool_drain`) and committed (stored or found duplicate).
pub const SPOOL_DRAINED_TOTAL: &str = "claude_mem_spool_drained_total";
/// Spool entries that could never be stored, moved to `spool/quarantine/`.
pub const SPOOL_QUARANTINED_TOTAL: &str = "claude_mem_spool_quarantined_total";

/// The Prometheus text format, version 0.0.4: what Prometheus expects from a plain scrape.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets in milliseconds: a hook commit takes a few ms, a search tens, an LLM batch seconds.
const LATENCY_BUCKETS_MS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
    30_000.0, 60_000.0, 120_000.0,
];

/// Histograms sit in per-thread buckets until drained; draining on a timer keeps memory flat when
/// nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// A session counts as active while it has not ended and a hook arrived within this window: sessions
/// whose Claude Code crashed never send SessionEnd and would otherwise stay "active" forever.
pub const ACTIVE_WINDOW_MS: i64 = 3_600_000;

/// Hook events Claude Code sends. The endpoint accepts any well-formed name (new events must not break
/// capture), so anything else is labelled `other`: a client must not be able to grow the label set.
const KNOWN_HOOKS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "PermissionRequest",
    "Notification",
    "Stop",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PostCompact",
    "SessionEnd",
];

static EXPORTER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder on first use; later calls return the same handle. `None` when
/// something else in the process installed a recorder first: the event metrics then go there, and
/// `/metrics` still serves the database gauges.
pub fn install() -> Option<&'static PrometheusHandle> {
    EXPORTER
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Prefix("claude_mem_".into()), LATENCY_BUCKETS_MS)
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "latency buckets refused; histograms render as summaries");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = ::metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "another metrics recorder is installed; /metrics serves database gauges only");
                return None;
            }
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                // Scrapes drain the histograms too; only an unscraped worker's memory would creep.
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
            }
            Some(handle)
        })
        .as_ref()
}

/// Connections closed at the connection cap to make room (`crate::serve`).
pub const HTTP_CONNECTIONS_EVICTED_TOTAL: &str = "claude_mem_http_connections_evicted_total";

fn describe() {
    ::metrics::describe_histogram!(
        HOOK_LATENCY_MS,
        "Time to handle a Claude Code hook (validate, commit to the queue, recall), by event."
    );
    ::metrics::describe_histogram!(
        SEARCH_LATENCY_MS,
        "Time to answer GET /api/search, by strategy (hybrid, text, vector)."
    );
    ::metrics::describe_counter!(
        OBSERVATIONS_CREATED_TOTAL,
        "Observations committed by the processor since the worker started."
    );
    ::metrics::describe_histogram!(
        OBSERVATIONS_PROCESSING_TIME_MS,
        "Time from loading a session's batch to committing its observations and summary."
    );
    ::metrics::describe_counter!(
        HOOK_EVENTS_SKIPPED_TOTAL,
        "Hook events answered but not stored, by reason (own_tool: claude-mem's own MCP tools; skip_list: capture.skip_tools; internal: the claude-code compressor's own session)."
    );
    ::metrics::describe_counter!(
        HTTP_CONNECTIONS_EVICTED_TOTAL,
        "Connections not being answered (idle, or still sending a request) closed to make room at the connection cap."
    );
    ::metrics::describe_counter!(
        SPOOL_DRAINED_TOTAL,
        "Hook events a hook spooled while the worker did not answer, committed from the spool since the worker started."
    );
    ::metrics::describe_counter!(
        SPOOL_QUARANTINED_TOTAL,
        "Spool entries that could not be stored (corrupt, or refused) and were moved to spool/quarantine/."
    );
    // Present from the first scrape, so rate() has a starting point before the first observation.
    ::metrics::counter!(SPOOL_DRAINED_TOTAL).increment(0);
    ::metrics::counter!(SPOOL_QUARANTINED_TOTAL).increment(0);
    ::metrics::counter!(OBSERVATIONS_CREATED_TOTAL).increment(0);
    ::metrics::counter!(HTTP_CONNECTIONS_EVICTED_TOTAL).increment(0);
    for reason in SkipReason::ALL {
        ::metrics::counter!(HOOK_EVENTS_SKIPPED_TOTAL, "reason" => reason.label()).increment(0);
    }
}

/// The label for a hook event: its name when Claude Code defines it, `other` otherwise.
pub fn hook_label(event_name: &str) -> &'static str {
    KNOWN_HOOKS
        .iter()
        .find(|k| **k == event_name)
        .copied()
        .unwrap_or("other")
}

pub fn strategy_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Hybrid => "hybrid",
        Mode::Text => "text",
        Mode::Vector => "vector",
    }
}

pub fn record_hook(event_name: &str, elapsed: Duration) {
    ::metrics::histogram!(HOOK_LATENCY_MS, "hook_type" => hook_label(event_name))
        .record(elapsed.as_secs_f64() * 1000.0);
}

pub fn record_skipped(reason: SkipReason) {
    ::metrics::counter!(HOOK_EVENTS_SKIPPED_TOTAL, "reason" => reason.label()).increment(1);
}

pub fn record_spool_drained() {
    ::metrics::counter!(SPOOL_DRAINED_TOTAL).increment(1);
}

pub fn record_spool_quarantined() {
    ::metrics::counter!(SPOOL_QUARANTINED_TOTAL).increment(1);
}

pub fn record_search(mode: Mode, elapsed: Duration) {
    ::metrics::histogram!(SEARCH_LATENCY_MS, "strategy" => strategy_label(mode))
        .record(elapsed.as_secs_f64() * 1000.0);
}

/// Figures read from the database at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DbFigures {
    pub sessions: i64,
    pub sessions_active: i64,
    pub observations: i64,
    pub queue_depth: i64,
    pub tokens: i64,
    pub cost_usd: f64,
}

impl DbFigures {
    /// One statement on the read pool: counts over small tables and sums over `llm_usage` (one row per
    /// LLM call), so a scrape every 15 s costs little even on a years-old database.
    pub async fn read(state: &AppState) -> Result<Self, ApiError> {
        let active_since = claude_mem_core::clock::now_ms() - ACTIVE_WINDOW_MS;
        let (sessions, sessions_active, observations, queue_depth, tokens, cost_usd): (
            i64,
            i64,
            i64,
            i64,
            i64,
            f64,
        ) = sqlx::query_as(
            "SELECT
                   (SELECT COUNT(*) FROM sdk_sessions),
                   (SELECT COUNT(*) FROM sdk_sessions WHERE status = 'active' AND last_seen_at >= ?1),
                   (SELECT COUNT(*) FROM observations),
                   (SELECT COUNT(*) FROM pending_messages WHERE state IN ('pending', 'processing')),
                   (SELECT COALESCE(SUM(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens), 0)
                      FROM llm_usage),
                   (SELECT COALESCE(SUM(cost_usd), 0.0) FROM llm_usage)",
        )
        .bind(active_since)
        .fetch_one(state.store.read_pool())
        .await
        .map_err(claude_mem_core::StoreError::from)?;
        Ok(Self {
            sessions,
            sessions_active,
            observations,
            queue_depth,
            tokens,
            cost_usd,
        })
    }
}

/// The database file plus its write-ahead log: the WAL holds recent commits until a checkpoint and can
/// grow large under load, so leaving it out would under-report the disk used.
pub async fn db_size_bytes(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let mut total = 0;
    for path in [db.to_path_buf(), wal.into()] {
        if let Ok(meta) = tokio::fs::metadata(&path).await {
            total += meta.len();
        }
    }
    total
}

/// Appends one gauge in the text format. Non-finite values are written as 0: a NaN would make the
/// whole scrape unparseable for some consumers and carries no information here.
fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let value = if value.is_finite() { value } else { 0.0 };
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
    out.push('\n');
}

const MB: f64 = 1024.0 * 1024.0;

/// The scrape-time gauges, rendered.
pub fn render_gauges(
    db: &DbFigures,
    uptime: Duration,
    rss_bytes: Option<u64>,
    db_bytes: u64,
    vectors: Option<usize>,
) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "claude_mem_worker_uptime_seconds",
        "Seconds since this worker started.",
        uptime.as_secs_f64(),
    );
    if let Some(rss) = rss_bytes {
        gauge(
            &mut out,
            "claude_mem_worker_memory_usage_mb",
            "Resident memory of the worker process, in MiB.",
            rss as f64 / MB,
        );
    }
    gauge(
        &mut out,
        "claude_mem_db_size_mb",
        "Size of the database (the SQLite file and its write-ahead log, or the PostgreSQL database), in MiB.",
        db_bytes as f64 / MB,
    );
    gauge(
        &mut out,
        "claude_mem_sessions_total",
        "Claude Code sessions in the database.",
        db.sessions as f64,
    );
    gauge(
        &mut out,
        "claude_mem_sessions_active",
        "Sessions not ended that sent a hook within the last hour.",
        db.sessions_active as f64,
    );
    gauge(
        &mut out,
        "claude_mem_observations_count",
        "Observations in the database.",
        db.observations as f64,
    );
    gauge(
        &mut out,
        "claude_mem_queue_depth",
        "Hook events waiting to be compressed (pending or processing).",
        db.queue_depth as f64,
    );
    gauge(
        &mut out,
        "claude_mem_tokens_used_total",
        "LLM tokens used for compression, all time (input, output and prompt-cache tokens).",
        db.tokens as f64,
    );
    gauge(
        &mut out,
        "claude_mem_tokens_cost_usd",
        "What compression's LLM calls cost, all time, in US dollars.",
        db.cost_usd,
    );
    if let Some(vectors) = vectors {
        gauge(
            &mut out,
            "claude_mem_vector_count",
            "Vectors in the semantic search index.",
            vectors as f64,
        );
    }
    out
}

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let db = DbFigures::read(&state).await?;
    let db_bytes = db_size_bytes(state.store.path()).await;
    let rss = memory_stats::memory_stats().map(|m| m.physical_mem as u64);
    let vectors = state.search.as_ref().map(|s| s.status().vectors);
    let mut body = install().map(PrometheusHandle::render).unwrap_or_default();
    if !body.is_empty() && !body.ends_with("\n\n") {
        body.push('\n');
    }
    body.push_str(&render_gauges(
        &db,
        state.started.elapsed(),
        rss,
        db_bytes,
        vectors,
    ));
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_labels_are_bounded() {
        assert_eq!(hook_label("PostToolUse"), "PostToolUse");
        assert_eq!(hook_label("SessionStart"), "SessionStart");
        assert_eq!(hook_label("FutureEvent2"), "other");
        assert_eq!(hook_label(""), "other");
    }

    #[test]
    fn gauges_render_in_the_text_format() {
        let db = DbFigures {
            sessions: 3,
            sessions_active: 1,
            observations: 12,
            queue_depth: 2,
            tokens: 4_400,
            cost_usd: 0.0125,
        };
        let text = render_gauges(
            &db,
            Duration::from_millis(1_500),
            Some(3 * 1024 * 1024),
            1024 * 1024 / 2,
            Some(12),
        );
        for line in [
            "# TYPE claude_mem_observations_count gauge",
            "claude_mem_observations_count 12",
            "claude_mem_sessions_total 3",
            "claude_mem_sessions_active 1",
            "claude_mem_queue_depth 2",
            "claude_mem_tokens_used_total 4400",
            "claude_mem_tokens_cost_usd 0.0125",
            "claude_mem_worker_uptime_seconds 1.5",
            "claude_mem_worker_memory_usage_mb 3",
            "claude_mem_db_size_mb 0.5",
            "claude_mem_vector_count 12",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        // Every sample line is `name value` with a value Prometheus parses.
        for l in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (_, v) = l.split_once(' ').unwrap_or_default();
            assert!(v.parse::<f64>().is_ok_and(f64::is_finite), "{l}");
        }
    }

    #[test]
    fn absent_figures_are_left_out_and_nan_becomes_zero() {
        let db = DbFigures {
            cost_usd: f64::NAN,
            ..Default::default()
        };
        let text = render_gauges(&db, Duration::ZERO, None, 0, None);
        assert!(!text.contains("claude_mem_vector_count"));
        assert!(!text.contains("claude_mem_worker_memory_usage_mb"));
        assert!(text.lines().any(|l| l == "claude_mem_tokens_cost_usd 0"));
    }

    #[test]
    fn installing_twice_shares_one_recorder() {
        let first = install().map(|h| h as *const PrometheusHandle);
        let second = install().map(|h| h as *const PrometheusHandle);
        assert!(
            first.is_some(),
            "the first install in this process succeeds"
        );
        assert_eq!(first, second);
        record_hook("PostToolUse", Duration::from_millis(3));
        let text = install().map(PrometheusHandle::render).unwrap_or_default();
        assert!(
            text.contains("claude_mem_hook_latency_ms_bucket{hook_type=\"PostToolUse\""),
            "{text}"
        );
    }
}
