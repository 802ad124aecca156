//! The background processor: turns the durable queue into observations and summaries.
//!
//! It takes due events per session in batches, asks the compressor (the LLM while the daily budget lasts,
//! the local rules otherwise), and commits results and event states together (see `store::processing` for
//! why that makes a kill -9 harmless). Transient failures back off exponentially, honouring the provider's
//! retry-after; events that keep failing are parked as `failed` with their error instead of looping.

use crate::clock::now_ms;
use crate::compress::local::LocalCompressor;
use crate::compress::{tool_events, CompressError, Compressed, Compressor};
use crate::model::{ObservationDraft, QueuedEvent};
use crate::storage::Storage;
use crate::storage::StorageError;
use crate::store::{CompletedBatch, Store};
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

const DAY_MS: i64 = 86_400_000;

/// Observations committed by the processor (a Prometheus counter; the server's `/metrics` renders it).
pub const OBSERVATIONS_CREATED_TOTAL: &str = "claude_mem_observations_created_total";
/// Milliseconds from loading a session's batch to committing its results: the compressor's (LLM's)
/// time dominates it, which is what a "processing latency high" alert is after.
pub const OBSERVATIONS_PROCESSING_TIME_MS: &str = "claude_mem_observations_processing_time_ms";

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub batch_size: i64,
    pub linger_ms: i64,
    pub max_attempts: i64,
    pub retry_base_ms: i64,
    pub retry_max_ms: i64,
    pub daily_budget_usd: f64,
    pub summaries: bool,
    pub min_significance: f32,
    /// Sessions processed at the same time (LLM calls overlap; SQLite writes stay serial).
    pub concurrency: usize,
    /// `compression.language`: the language the local compressor writes in (`en`, `zh`; others → English).
    pub language: String,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            batch_size: 20,
            linger_ms: 1500,
            max_attempts: 5,
            retry_base_ms: 2000,
            retry_max_ms: 10 * 60 * 1000,
            daily_budget_usd: 1.0,
            summaries: true,
            min_significance: 0.3,
            concurrency: 4,
            language: "en".into(),
        }
    }
}

/// What `/api/health` and the viewer show about compression.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ProcessorStatus {
    /// The compressor in charge now (`local`, `anthropic:claude-haiku-4-5`, …).
    pub compressor: String,
    pub llm_configured: bool,
    pub budget_exhausted: bool,
    pub batches: u64,
    pub observations: u64,
    pub summaries: u64,
    pub retries: u64,
    pub parked: u64,
    /// Batches the local rules compressed because the LLM compressor was unavailable (its CLI missing or
    /// too slow).
    pub local_fallbacks: u64,
    #[schema(required = true)]
    pub last_error: Option<String>,
}

pub struct Processor {
    store: Arc<dyn Storage>,
    llm: Option<Arc<dyn Compressor>>,
    local: Arc<LocalCompressor>,
    cfg: ProcessorConfig,
    status: Mutex<ProcessorStatus>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub sessions: usize,
    pub observations: usize,
}

fn is_summary_trigger(e: &QueuedEvent) -> bool {
    match e.event_name.as_str() {
        // A Stop hook re-entered by another Stop hook is the same turn: no second summary.
        "Stop" => e.payload.get("stop_hook_active").and_then(|v| v.as_bool()) != Some(true),
        "SessionEnd" => true,
        _ => false,
    }
}

impl Processor {
    pub fn new(store: Store, llm: Option<Arc<dyn Compressor>>, cfg: ProcessorConfig) -> Self {
        Self::with_storage(Arc::new(store), llm, cfg)
    }

    /// A processor over any backend (the team server passes its PostgreSQL store).
    pub fn with_storage(
        store: Arc<dyn Storage>,
        llm: Option<Arc<dyn Compressor>>,
        cfg: ProcessorConfig,
    ) -> Self {
        let local = Arc::new(LocalCompressor::new(cfg.min_significance, &cfg.language));
        let status = ProcessorStatus {
            compressor: llm
                .as_ref()
                .map(|l| l.name().to_owned())
                .unwrap_or_else(|| local.name().to_owned()),
            llm_configured: llm.is_some(),
            ..Default::default()
        };
        Self {
            store,
            llm,
            local,
            cfg,
            status: Mutex::new(status),
        }
    }

    pub fn status(&self) -> ProcessorStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut ProcessorStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Runs until `shutdown` turns true. Work in flight is simply abandoned: uncommitted, it is redone.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.ingest_signal();
        loop {
            let report = tokio::select! {
                r = self.clone().tick() => r,
                _ = shutdown.changed() => break,
            };
            let worked = match report {
                Ok(r) => r.sessions > 0,
                Err(e) => {
                    tracing::error!(error = %e, "processing failed; retrying shortly");
                    false
                }
            };
            if *shutdown.borrow() {
                break;
            }
            if worked {
                continue;
            }
            let wait = match self.store.next_due_at().await {
                Ok(Some(due)) => Duration::from_millis(
                    (due + self.cfg.linger_ms - now_ms()).clamp(50, 5000) as u64,
                ),
                _ => Duration::from_secs(30),
            };
            tokio::select! {
                _ = signal.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
        }
        tracing::debug!("processor stopped");
    }

    /// One pass over the sessions that have due work.
    pub async fn tick(self: Arc<Self>) -> Result<TickReport, StorageError> {
        let ready = self
            .store
            .ready_sessions(now_ms(), self.cfg.batch_size, self.cfg.linger_ms, 64)
            .await?;
        let mut report = TickReport::default();
        let mut tasks = JoinSet::new();
        for session in ready {
            while tasks.len() >= self.cfg.concurrency.max(1) {
                if let Some(done) = tasks.join_next().await {
                    report.absorb(done);
                }
            }
            let me = self.clone();
            tasks.spawn(async move { me.process_session(&session.session_id).await });
        }
        while let Some(done) = tasks.join_next().await {
            report.absorb(done);
        }
        Ok(report)
    }

    async fn pick(&self) -> Result<Arc<dyn Compressor>, StorageError> {
        let Some(llm) = &self.llm else {
            return Ok(self.local.clone());
        };
        let now = now_ms();
        let spent = self
            .store
            .spent_since_usd(now - now.rem_euclid(DAY_MS))
            .await?;
        let exhausted = spent >= self.cfg.daily_budget_usd;
        let was = self.status().budget_exhausted;
        if exhausted && !was {
            tracing::warn!(
                spent_usd = spent,
                budget_usd = self.cfg.daily_budget_usd,
                "daily LLM budget reached: compressing locally until midnight UTC"
            );
        } else if !exhausted && was {
            tracing::info!("LLM budget available again");
        }
        self.update(|s| {
            s.budget_exhausted = exhausted;
            s.compressor = if exhausted {
                format!("{} (budget reached: {})", self.local.name(), llm.name())
            } else {
                llm.name().to_owned()
            };
        });
        Ok(if exhausted {
            self.local.clone()
        } else {
            llm.clone()
        })
    }

    fn backoff_ms(&self, attempts: i64, retry_after: Option<Duration>) -> i64 {
        let exp = self
            .cfg
            .retry_base_ms
            .saturating_mul(1_i64 << attempts.clamp(0, 20))
            .min(self.cfg.retry_max_ms);
        let hinted = retry_after.map(|d| d.as_millis() as i64).unwrap_or(0);
        exp.max(hinted)
    }

    /// The LLM compressor could not serve a batch, which the local rules take instead.
    fn fell_back(&self, reason: &str) {
        tracing::warn!(
            reason,
            "compressor unavailable: this batch is compressed locally"
        );
        self.update(|s| {
            s.local_fallbacks += 1;
            s.last_error = Some(format!("compressor unavailable: {reason}"));
        });
    }

    async fn defer(
        &self,
        events: &[QueuedEvent],
        error: &CompressError,
    ) -> Result<(), StorageError> {
        let attempts = events.iter().map(|e| e.attempts).max().unwrap_or(0);
        let retry_after = match error {
            CompressError::Transient { retry_after, .. } => *retry_after,
            CompressError::Permanent(_) | CompressError::Unavailable(_) => None,
        };
        let delay = self.backoff_ms(attempts, retry_after);
        let parked = self
            .store
            .defer_events(
                events.iter().map(|e| e.id).collect(),
                error.to_string(),
                now_ms() + delay,
                self.cfg.max_attempts,
            )
            .await?;
        if parked > 0 {
            tracing::error!(error = %error, parked, "events failed too often and were parked");
        } else {
            tracing::warn!(error = %error, retry_in_ms = delay, "compression failed; will retry");
        }
        self.update(|s| {
            s.retries += 1;
            s.parked += parked;
            s.last_error = Some(error.to_string());
        });
        Ok(())
    }

    async fn process_session(&self, session_id: &str) -> Result<usize, StorageError> {
        let started = std::time::Instant::now();
        let mut events = self
            .store
            .load_batch(session_id, now_ms(), self.cfg.batch_size)
            .await?;
        // A turn's summary is written once that turn's events are in: stop the batch at the first trigger.
        if let Some(pos) = events.iter().position(is_summary_trigger) {
            events.truncate(pos + 1);
        }
        if events.is_empty() {
            self.store.release_session(session_id).await?;
            return Ok(0);
        }
        let prompt_numbers: BTreeSet<i64> = events.iter().map(|e| e.prompt_number).collect();
        let ctx = self
            .store
            .session_context(session_id, &prompt_numbers)
            .await?;
        let repeated: Vec<String> = events
            .iter()
            .filter(|e| e.event_name == "PostToolBatch")
            .filter_map(|e| e.payload.get("tool_calls")?.as_array().cloned())
            .flatten()
            .filter_map(|c| c.get("tool_use_id")?.as_str().map(str::to_owned))
            .collect();
        let seen = self
            .store
            .processed_tool_use_ids(session_id, &repeated)
            .await?;
        let tool_ids: HashSet<i64> = tool_events(&events, &seen)
            .iter()
            .map(|t| t.event_id)
            .collect();
        let tool_batch: Vec<QueuedEvent> = events
            .iter()
            .filter(|e| tool_ids.contains(&e.id))
            .cloned()
            .collect();

        let mut compressor = self.pick().await?;
        let compressed = if tool_batch.is_empty() {
            Compressed::default()
        } else {
            match compressor.compress(&ctx, &tool_batch).await {
                Ok(c) => c,
                // A compressor that cannot serve (CLI missing or too slow): this batch, summary included,
                // goes to the local rules now, so nothing waits on it or is parked.
                Err(CompressError::Unavailable(reason)) => {
                    self.fell_back(&reason);
                    compressor = self.local.clone();
                    match compressor.compress(&ctx, &tool_batch).await {
                        Ok(c) => c,
                        Err(e) => {
                            self.defer(&events, &e).await?;
                            return Ok(0);
                        }
                    }
                }
                Err(e) => {
                    self.defer(&events, &e).await?;
                    return Ok(0);
                }
            }
        };
        self.store
            .record_usage(session_id, &ctx.project, compressed.usage.clone())
            .await?;

        let cited: HashSet<i64> = compressed
            .observations
            .iter()
            .flat_map(|o| o.source_event_ids.iter().copied())
            .collect();
        let mut batch = CompletedBatch {
            session_id: session_id.to_owned(),
            project: ctx.project.clone(),
            compressor: if compressed.compressor.is_empty() {
                compressor.name().to_owned()
            } else {
                compressed.compressor.clone()
            },
            model: compressed.model.clone(),
            ..Default::default()
        };
        let mut deferred_trigger: Option<(QueuedEvent, CompressError)> = None;
        if let Some(trigger) = events.last().filter(|e| is_summary_trigger(e)) {
            match self
                .summarize(
                    &*compressor,
                    &ctx,
                    &events,
                    &compressed.observations,
                    trigger,
                )
                .await?
            {
                SummaryStep::Made(summary) => batch.summary = Some(summary),
                SummaryStep::NotNeeded => {}
                SummaryStep::Failed(e) => deferred_trigger = Some((trigger.clone(), e)),
            }
        }
        for e in &events {
            if deferred_trigger.as_ref().is_some_and(|(t, _)| t.id == e.id) {
                continue;
            }
            if tool_ids.contains(&e.id) && !cited.contains(&e.id) {
                batch.skipped.push(e.id);
            } else {
                batch.done.push(e.id);
            }
        }
        let made_summary = batch.summary.is_some();
        let count = compressed.observations.len();
        batch.observations = compressed.observations;
        let ids = self.store.complete_batch(batch).await?;
        metrics::counter!(OBSERVATIONS_CREATED_TOTAL).increment(ids.len() as u64);
        metrics::histogram!(OBSERVATIONS_PROCESSING_TIME_MS)
            .record(started.elapsed().as_secs_f64() * 1000.0);
        tracing::debug!(
            session = session_id,
            observations = ids.len(),
            events = events.len(),
            "batch compressed"
        );
        if let Some((trigger, e)) = deferred_trigger {
            self.defer(std::slice::from_ref(&trigger), &e).await?;
        }
        self.update(|s| {
            s.batches += 1;
            s.observations += count as u64;
            s.summaries += u64::from(made_summary);
        });
        Ok(count)
    }

    async fn summarize(
        &self,
        compressor: &dyn Compressor,
        ctx: &crate::model::SessionContext,
        events: &[QueuedEvent],
        new_observations: &[ObservationDraft],
        trigger: &QueuedEvent,
    ) -> Result<SummaryStep, StorageError> {
        if !self.cfg.summaries {
            return Ok(SummaryStep::NotNeeded);
        }
        let prompt = trigger.prompt_number;
        if self.store.has_summary(&trigger.session_id, prompt).await? {
            // SessionEnd after the turn's Stop already summarised it.
            return Ok(SummaryStep::NotNeeded);
        }
        let mut observations = self
            .store
            .prompt_observations(&trigger.session_id, prompt)
            .await?;
        observations.extend(
            new_observations
                .iter()
                .filter(|o| o.prompt_number == prompt)
                .cloned(),
        );
        let prompt_events: Vec<QueuedEvent> = events
            .iter()
            .filter(|e| e.prompt_number == prompt)
            .cloned()
            .collect();
        if observations.is_empty() && ctx.prompt(prompt).is_none() {
            return Ok(SummaryStep::NotNeeded);
        }
        let last_message = trigger
            .payload
            .get("last_assistant_message")
            .and_then(|v| v.as_str());
        let mut summarized = compressor
            .summarize(ctx, &prompt_events, &observations, last_message)
            .await;
        if let Err(CompressError::Unavailable(reason)) = &summarized {
            self.fell_back(reason);
            summarized = self
                .local
                .summarize(ctx, &prompt_events, &observations, last_message)
                .await;
        }
        match summarized {
            Ok(s) => {
                self.store
                    .record_usage(&trigger.session_id, &ctx.project, s.usage.clone())
                    .await?;
                Ok(SummaryStep::Made((
                    prompt,
                    s.summary,
                    s.compressor,
                    s.model,
                )))
            }
            Err(e) => Ok(SummaryStep::Failed(e)),
        }
    }
}

enum SummaryStep {
    Made((i64, crate::model::SummaryDraft, String, Option<String>)),
    NotNeeded,
    Failed(CompressError),
}

impl TickReport {
    fn absorb(&mut self, done: Result<Result<usize, StorageError>, tokio::task::JoinError>) {
        match done {
            Ok(Ok(n)) => {
                self.sessions += 1;
                self.observations += n;
            }
            Ok(Err(e)) => tracing::error!(error = %e, "processing a session failed"),
            Err(e) => tracing::error!(error = %e, "a processing task panicked"),
        }
    }
}

#[cfg(test)]
mod tests;
