//! The `claude-code` compressor: the [`LlmCompressor`] (same prompt, schema, parsing and validation as for
//! the Anthropic API) on a [`ClaudeCodeClient`], which runs the user's own `claude` CLI headless.
//!
//! What it adds is availability: a CLI that is not installed, or one that does not answer within
//! `compression.request_timeout_ms`, is [`CompressError::Unavailable`], on which the processor compresses
//! the batch with the local rules at once instead of retrying it. The timeout is enforced here (the
//! client's own, a little longer, is only a backstop) so that the distinction never depends on error text.
//! API errors the CLI reports (rate limits, overload, login) keep their usual classification.

use super::llm::LlmCompressor;
use super::{CompressError, Compressed, Compressor, Summarized};
use crate::model::{ObservationDraft, QueuedEvent, SessionContext};
use async_trait::async_trait;
use claude_mem_llm::ClaudeCodeClient;
use std::future::Future;
use std::time::Duration;

/// How much longer than ours the client's own timeout is: ours must fire first.
pub const CLIENT_TIMEOUT_GRACE: Duration = Duration::from_secs(5);

pub struct ClaudeCodeCompressor {
    inner: LlmCompressor,
    client: ClaudeCodeClient,
    timeout: Duration,
}

impl ClaudeCodeCompressor {
    /// `inner` must have been built on (a clone of) `client`; `timeout` is `request_timeout_ms`.
    pub fn new(inner: LlmCompressor, client: ClaudeCodeClient, timeout: Duration) -> Self {
        Self {
            inner,
            client,
            timeout,
        }
    }

    async fn guarded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, CompressError>>,
    ) -> Result<T, CompressError> {
        if self.client.resolve_program().is_none() {
            return Err(CompressError::Unavailable(format!(
                "the Claude Code CLI was not found (compression.claude_code_path, or `claude` on PATH); \
                 {what} made by the local rules"
            )));
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            // Dropping the call's future drops the child process, which kill_on_drop ends.
            Err(_) => Err(CompressError::Unavailable(format!(
                "the Claude Code CLI did not answer within {} ms; {what} made by the local rules",
                self.timeout.as_millis()
            ))),
        }
    }
}

#[async_trait]
impl Compressor for ClaudeCodeCompressor {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn compress(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
    ) -> Result<Compressed, CompressError> {
        self.guarded("observations", self.inner.compress(ctx, events))
            .await
    }

    async fn summarize(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
        observations: &[ObservationDraft],
        last_assistant_message: Option<&str>,
    ) -> Result<Summarized, CompressError> {
        self.guarded(
            "summary",
            self.inner
                .summarize(ctx, events, observations, last_assistant_message),
        )
        .await
    }
}
