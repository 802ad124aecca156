//! Which compressor the worker uses, from settings: the one place that reads provider, keys and models.

use super::claude_code::{ClaudeCodeCompressor, CLIENT_TIMEOUT_GRACE};
use super::llm::{Instructions, LlmCompressor};
use super::Compressor;
use crate::paths::DataDir;
use crate::settings::Settings;
use claude_mem_llm::{claude_code, AnthropicClient, ClaudeCodeClient, OpenAiClient, StructuredLlm};
use std::sync::Arc;
use std::time::Duration;

/// [`llm_compressor_in`] the data directory `CLAUDE_MEM_DATA_DIR` (or `~/.claude-mem`) names.
pub fn llm_compressor(settings: &Settings) -> Result<Option<Arc<dyn Compressor>>, String> {
    let data_dir =
        DataDir::resolve().map_err(|e| format!("cannot locate the data directory: {e}"))?;
    llm_compressor_in(settings, &data_dir)
}

/// `Ok(None)` means the local rules only. An error is a configuration the user must fix (an explicit
/// `anthropic` provider without a key, a malformed URL, `compression.mode = custom` without its prompt
/// file in `data_dir`): better refused at start than silently local.
pub fn llm_compressor_in(
    settings: &Settings,
    data_dir: &DataDir,
) -> Result<Option<Arc<dyn Compressor>>, String> {
    let c = &settings.compression;
    let timeout = Duration::from_millis(c.request_timeout_ms);
    // Set when the user's own Claude Code CLI compresses: its compressor falls back to local per batch.
    let mut claude_code: Option<ClaudeCodeClient> = None;
    let mut use_claude_code = |cli: ClaudeCodeClient| -> Box<dyn StructuredLlm> {
        claude_code = Some(cli.clone());
        Box::new(cli)
    };
    let client: Box<dyn StructuredLlm> = match c.provider.as_str() {
        "local" => return Ok(None),
        "auto" | "anthropic" => match c.anthropic_key() {
            Some(key) => Box::new(
                AnthropicClient::new(&c.anthropic_base_url, key, &c.anthropic_model, timeout)
                    .map_err(|e| e.to_string())?,
            ),
            // No key: a logged-in Claude Code on this machine, else the local rules.
            None if c.provider == "auto" => {
                if claude_code_ready(c) {
                    use_claude_code(claude_code_client(c, data_dir)?)
                } else {
                    return Ok(None);
                }
            }
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
        // Explicit: built even when the CLI is missing now, so each batch falls back to local (and picks
        // the CLI up once it is installed) rather than the worker refusing to start.
        "claude-code" => use_claude_code(claude_code_client(c, data_dir)?),
        other => return Err(format!("unknown compression.provider {other:?}")),
    };
    let instructions = Instructions::from_settings(c, &data_dir.compression_prompt())?;
    let llm = LlmCompressor::new(client, c.pricing.clone(), c.max_tokens, c.max_event_chars)
        .with_instructions(&instructions);
    Ok(Some(match claude_code {
        Some(cli) => Arc::new(ClaudeCodeCompressor::new(llm, cli, timeout)),
        None => Arc::new(llm),
    }))
}

/// The `claude-code` client from settings: the CLI at `compression.claude_code_path` (empty: `claude` on
/// PATH), `compression.claude_code_model`, run in `<data dir>/claude-code-cwd`. Its own timeout is a
/// backstop a little past `request_timeout_ms`, which [`ClaudeCodeCompressor`] enforces.
fn claude_code_client(
    c: &crate::settings::CompressionSettings,
    data_dir: &DataDir,
) -> Result<ClaudeCodeClient, String> {
    let timeout = Duration::from_millis(c.request_timeout_ms) + CLIENT_TIMEOUT_GRACE;
    Ok(
        ClaudeCodeClient::new(&c.claude_code_path, &c.claude_code_model, timeout)
            .map_err(|e| e.to_string())?
            .with_cwd(data_dir.root().join(claude_code::INTERNAL_CWD_DIR)),
    )
}

/// Whether `auto` should use Claude Code: the CLI is there and has a login of its own. Judged from files
/// and the environment only ([`claude_code::has_login`]): no process is started and nothing goes over the
/// network, so a machine with the CLI but no login (a CI runner, a test sandbox) stays on the local rules.
pub fn claude_code_ready(c: &crate::settings::CompressionSettings) -> bool {
    claude_code::find_cli(&c.claude_code_path).is_some() && claude_code::has_login()
}
