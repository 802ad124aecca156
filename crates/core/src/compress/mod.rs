//! Compression: raw hook events in, observations (short structured memories) and session summaries out.
//!
//! Every compressor sits behind [`Compressor`] so the processor does not care whether the local rules or
//! an LLM did the work; the processor owns retries, batching, budgets and the crash-safe bookkeeping.

pub mod claude_code;
pub mod fingerprint;
pub mod llm;
pub mod local;
pub mod select;
mod tool_event;

pub use tool_event::{tool_events, ToolEvent};

use crate::model::{ObservationDraft, QueuedEvent, SessionContext, SummaryDraft, UsageRecord};
use async_trait::async_trait;
use std::time::Duration;

/// The concepts a memory can be tagged with besides free keywords: what kind of knowledge it holds.
pub const CONCEPTS: [&str; 7] = [
    "how-it-works",
    "why-it-exists",
    "what-changed",
    "problem-solution",
    "gotcha",
    "pattern",
    "trade-off",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compressed {
    pub observations: Vec<ObservationDraft>,
    pub usage: Vec<UsageRecord>,
    /// e.g. `local` or `anthropic`.
    pub compressor: String,
    pub model: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summarized {
    pub summary: SummaryDraft,
    pub usage: Vec<UsageRecord>,
    pub compressor: String,
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompressError {
    /// Worth retrying later (rate limit, overload, network); `retry_after` when the provider said.
    #[error("temporary failure: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying the same input will fail the same way (bad request, unusable output).
    #[error("failure: {0}")]
    Permanent(String),
    /// The compressor cannot serve at all right now (its CLI is missing, or did not answer within
    /// `compression.request_timeout_ms`): the processor compresses this batch with the local rules at once
    /// instead of retrying or parking it.
    #[error("compressor unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Compressor: Send + Sync {
    /// Stored with every observation it makes.
    fn name(&self) -> &str;

    /// Observations for a batch of one session's events; events that deserve none are simply not cited.
    async fn compress(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
    ) -> Result<Compressed, CompressError>;

    /// A summary of one prompt's work (at Stop) or the session's (at SessionEnd).
    async fn summarize(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
        observations: &[ObservationDraft],
        last_assistant_message: Option<&str>,
    ) -> Result<Summarized, CompressError>;
}
