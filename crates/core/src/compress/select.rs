//! Which compressor the worker uses, from settings: the one place that reads provider, keys and models.

use super::llm::LlmCompressor;
use super::Compressor;
use crate::settings::Settings;
use claude_mem_llm::{AnthropicClient, OpenAiClient, StructuredLlm};
use std::sync::Arc;
use std::time::Duration;

/// `Ok(None)` means the local rules only. An error is a configuration the user must fix (an explicit
/// `anthropic` provider without a key, a malformed URL): better refused at start than silently local.
pub fn llm_compressor(settings: &Settings) -> Result<Option<Arc<dyn Compressor>>, String> {
    let c = &settings.compression;
    let timeout = Duration::from_millis(c.request_timeout_ms);
    let client: Box<dyn StructuredLlm> = match c.provider.as_str() {
        "local" => return Ok(None),
        "auto" | "anthropic" => match c.anthropic_key() {
            Some(key) => Box::new(
                AnthropicClient::new(&c.anthropic_base_url, key, &c.anthropic_model, timeout)
                    .map_err(|e| e.to_string())?,
            ),
            None if c.provider == "auto" => return Ok(None),
            None => return Err(
                "compression.provider is \"anthropic\" but no API key is set (ANTHROPIC_API_KEY)"
                    .into(),
            ),
        },
        "openai" => Box::new(
            OpenAiClient::new(
                &c.openai_base_url,
                c.openai_api_key.as_deref().filter(|k| !k.trim().is_empty()),
                &c.openai_model,
                timeout,
            )
            .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unknown compression.provider {other:?}")),
    };
    Ok(Some(Arc::new(LlmCompressor::new(
        client,
        c.pricing.clone(),
        c.max_tokens,
        c.max_event_chars,
    ))))
}
