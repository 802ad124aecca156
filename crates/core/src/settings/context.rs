//! What SessionStart injects, and whether prompts get recall too.

use super::SettingsError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::{Arc, RwLock};

/// The recall settings a running server answers with, shared by its handlers: the laptop's viewer
/// changes them without a restart, so each request reads the current ones.
#[derive(Debug, Clone, Default)]
pub struct LiveContextSettings(Arc<RwLock<ContextSettings>>);

impl LiveContextSettings {
    pub fn new(settings: ContextSettings) -> Self {
        Self(Arc::new(RwLock::new(settings)))
    }

    /// The current settings (the defaults if a writer panicked mid-update).
    pub fn get(&self) -> ContextSettings {
        self.0.read().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn set(&self, settings: ContextSettings) {
        if let Ok(mut guard) = self.0.write() {
            *guard = settings;
        }
    }
}

/// The most characters file context adds before one Read or Edit (~150 tokens).
pub const FILE_CONTEXT_CHARS: usize = 600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextSettings {
    /// Inject recalled memories when a session starts. Off leaves capture running but adds nothing to
    /// Claude's context.
    pub enabled: bool,
    /// Upper bound on the SessionStart block, in (estimated) tokens. It is paid on every session start,
    /// so it is kept small: details are fetched on demand through the MCP tools.
    pub budget_tokens: usize,
    /// Most observations listed in the index, whatever the budget.
    pub max_observations: usize,
    /// Also recall a few memories relevant to each prompt (UserPromptSubmit). Off by default: it spends
    /// tokens on every prompt.
    pub prompt_recall: bool,
    pub prompt_recall_budget_tokens: usize,
    pub prompt_recall_limit: usize,
    /// Before Claude reads or edits a file, add the 1–3 memories that mention it (PreToolUse). Small
    /// (at most [`FILE_CONTEXT_CHARS`]) and only when something is remembered about that file.
    pub file_context: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ContextSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            budget_tokens: 2000,
            max_observations: 40,
            prompt_recall: false,
            prompt_recall_budget_tokens: 300,
            prompt_recall_limit: 3,
            file_context: true,
            extra: Map::new(),
        }
    }
}

impl ContextSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &str, message: String| {
            Err(SettingsError::Invalid {
                field: format!("context.{field}"),
                message,
            })
        };
        if !(200..=50_000).contains(&self.budget_tokens) {
            return invalid(
                "budget_tokens",
                format!("{} is outside 200..=50000", self.budget_tokens),
            );
        }
        if !(1..=500).contains(&self.max_observations) {
            return invalid(
                "max_observations",
                format!("{} is outside 1..=500", self.max_observations),
            );
        }
        if !(50..=5_000).contains(&self.prompt_recall_budget_tokens) {
            return invalid(
                "prompt_recall_budget_tokens",
                format!("{} is outside 50..=5000", self.prompt_recall_budget_tokens),
            );
        }
        if !(1..=20).contains(&self.prompt_recall_limit) {
            return invalid(
                "prompt_recall_limit",
                format!("{} is outside 1..=20", self.prompt_recall_limit),
            );
        }
        Ok(())
    }
}
