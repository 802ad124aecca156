//! LLM clients for claude-mem.
//!
//! The worker turns captured tool events into structured observations by forcing the model to
//! "call" a tool whose input schema is the observation shape. Every provider is reduced to that
//! one operation ([`StructuredLlm::call`]), so the worker never sees wire formats.
//!
//! Besides the HTTP APIs, [`ClaudeCodeClient`] runs the user's own `claude` CLI headless, so a Claude
//! subscription without an API key can compress too.
//!
//! Calls are single-shot on purpose: retry and backoff policy lives with the caller (it knows the
//! queue, the budget and whether the user is waiting), so this crate's job is to classify every
//! failure precisely ([`LlmError::is_transient`], [`LlmError::retry_after`]) instead of hiding it
//! behind its own retry loop.

mod anthropic;
pub mod claude_code;
mod error;
#[cfg(any(test, feature = "mock-server"))]
pub mod mock;
mod openai;
mod pricing;
mod transport;

use std::sync::Arc;

pub use anthropic::AnthropicClient;
pub use claude_code::ClaudeCodeClient;
pub use error::LlmError;
pub use openai::OpenAiClient;
pub use pricing::{default_pricing, price_for, Pricing};

/// The tool the model is forced to call; its input schema is the shape of the structured output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the tool input (an `"type": "object"` schema; providers reject anything else).
    pub input_schema: serde_json::Value,
}

/// One structured-output call: a system prompt, a user message and the tool to fill in.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredRequest {
    pub system: String,
    pub user: String,
    pub tool: ToolSpec,
    pub max_tokens: u32,
    pub temperature: f32,
}

/// Token counts of one call, normalised across providers.
///
/// `input_tokens` is always the *uncached* input: Anthropic reports it that way, and the
/// OpenAI-compatible client subtracts cached tokens from `prompt_tokens` so that pricing and
/// budgets mean the same thing whichever provider served the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_read_tokens: u64,
}

impl Usage {
    /// Every token the call consumed, cached or not; what context-size budgets care about.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_write_tokens)
            .saturating_add(self.cache_read_tokens)
    }
}

impl std::ops::AddAssign for Usage {
    /// Lets callers keep running totals per session or per day without field-by-field code.
    fn add_assign(&mut self, rhs: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(rhs.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(rhs.output_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(rhs.cache_write_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(rhs.cache_read_tokens);
    }
}

/// A successful structured call.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredResponse {
    /// The tool input the model produced; always a JSON object.
    pub value: serde_json::Value,
    pub usage: Usage,
    /// The model as reported by the API, which may be a dated snapshot of the configured alias;
    /// pricing and audit records want the exact one.
    pub model: String,
    /// The provider's request id, for support tickets and log correlation.
    pub request_id: Option<String>,
    pub stop_reason: Option<String>,
    /// What the provider itself says the call cost (Claude Code's `total_cost_usd`); APIs that only
    /// report tokens leave it `None` and the call is priced from `compression.pricing`.
    pub reported_cost_usd: Option<f64>,
}

/// A provider that can fill in a tool input in one call.
///
/// Object-safe so the worker can hold a `Box<dyn StructuredLlm>` / `Arc<dyn StructuredLlm>`
/// chosen from settings at runtime, and tests can substitute their own implementation.
#[async_trait::async_trait]
pub trait StructuredLlm: Send + Sync {
    /// Short provider name for logs and usage records (`"anthropic"`, `"openai"`).
    fn provider(&self) -> &str;
    /// The configured model id (the API may report a more specific one in the response).
    fn model(&self) -> &str;
    /// One attempt, no retries; see [`LlmError`] for how failures are classified.
    async fn call(&self, req: &StructuredRequest) -> Result<StructuredResponse, LlmError>;
}

#[async_trait::async_trait]
impl<T: StructuredLlm + ?Sized> StructuredLlm for Arc<T> {
    fn provider(&self) -> &str {
        (**self).provider()
    }
    fn model(&self) -> &str {
        (**self).model()
    }
    async fn call(&self, req: &StructuredRequest) -> Result<StructuredResponse, LlmError> {
        (**self).call(req).await
    }
}

#[async_trait::async_trait]
impl<T: StructuredLlm + ?Sized> StructuredLlm for Box<T> {
    fn provider(&self) -> &str {
        (**self).provider()
    }
    fn model(&self) -> &str {
        (**self).model()
    }
    async fn call(&self, req: &StructuredRequest) -> Result<StructuredResponse, LlmError> {
        (**self).call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_accumulates_and_totals() {
        let mut u = Usage {
            input_tokens: 1,
            output_tokens: 2,
            cache_write_tokens: 3,
            cache_read_tokens: 4,
        };
        u += u;
        assert_eq!(
            u,
            Usage {
                input_tokens: 2,
                output_tokens: 4,
                cache_write_tokens: 6,
                cache_read_tokens: 8
            }
        );
        assert_eq!(u.total_tokens(), 20);
    }
}
