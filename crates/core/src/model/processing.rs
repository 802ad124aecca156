//! What processing reads and writes: queued hook events and the session they belong to, the
//! observation and summary drafts a compressor makes, and the LLM usage it records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of memory the viewer, search filters and context builder group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObservationType {
    Decision,
    Bugfix,
    Feature,
    Refactor,
    Discovery,
    Change,
    /// Something that put the user at risk and needs a look: a secret that had to be redacted, a risky
    /// command (`curl | sh`, `chmod 777`, TLS checks turned off).
    #[serde(rename = "security_alert")]
    SecurityAlert,
    /// A security-relevant fact worth knowing later (how auth works, where secrets live) with no harm done.
    #[serde(rename = "security_note")]
    SecurityNote,
}

impl ObservationType {
    pub const ALL: [ObservationType; 8] = [
        Self::Decision,
        Self::Bugfix,
        Self::Feature,
        Self::Refactor,
        Self::Discovery,
        Self::Change,
        Self::SecurityAlert,
        Self::SecurityNote,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Bugfix => "bugfix",
            Self::Feature => "feature",
            Self::Refactor => "refactor",
            Self::Discovery => "discovery",
            Self::Change => "change",
            Self::SecurityAlert => "security_alert",
            Self::SecurityNote => "security_note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// An observation before it has an id: what a compressor produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationDraft {
    #[serde(rename = "type")]
    pub kind: ObservationType,
    pub title: String,
    #[serde(default)]
    pub subtitle: String,
    #[serde(default)]
    pub narrative: String,
    #[serde(default)]
    pub facts: Vec<String>,
    #[serde(default)]
    pub concepts: Vec<String>,
    #[serde(default)]
    pub files_read: Vec<String>,
    #[serde(default)]
    pub files_modified: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `pending_messages.id`s this memory was made from; ties it to a prompt number and makes reprocessing
    /// after a crash detectable.
    #[serde(default)]
    pub source_event_ids: Vec<i64>,
    /// Prompt the observation belongs to (the highest of its source events).
    #[serde(default)]
    pub prompt_number: i64,
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryDraft {
    pub request: String,
    pub investigated: String,
    pub learned: String,
    pub completed: String,
    pub next_steps: String,
}

/// One event from the durable queue, as compressors see it (payload already privacy-filtered).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent {
    pub id: i64,
    pub session_id: String,
    pub event_name: String,
    pub tool_name: Option<String>,
    pub prompt_number: i64,
    pub created_at: i64,
    /// Earlier failed tries; drives the backoff.
    pub attempts: i64,
    pub payload: Value,
}

/// What a compressor knows about the session besides the batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionContext {
    pub session_id: String,
    pub project: String,
    pub cwd: String,
    /// The user's prompts so far, oldest first: (prompt number, text).
    pub prompts: Vec<(i64, String)>,
}

impl SessionContext {
    pub fn prompt(&self, number: i64) -> Option<&str> {
        self.prompts
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, t)| t.as_str())
    }
}

/// Tokens of one LLM call; the processor prices and records it in `llm_usage`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageRecord {
    pub provider: String,
    pub model: String,
    pub purpose: &'static str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_read_tokens: i64,
    pub cost_usd: f64,
}
