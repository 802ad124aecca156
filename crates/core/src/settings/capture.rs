//! What capture leaves out: tools whose calls never become memories.

use super::SettingsError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the original claude-mem skipped too: bookkeeping, questions to the user and meta-tools, not work.
pub const DEFAULT_SKIP_TOOLS: [&str; 5] = [
    "TodoWrite",
    "AskUserQuestion",
    "ListMcpResourcesTool",
    "SlashCommand",
    "Skill",
];

/// Longest accepted entry: the same bound as a hook's `tool_name`.
const MAX_TOOL_NAME: usize = 256;
const MAX_ENTRIES: usize = 500;
const MAX_EXCLUDE_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureSettings {
    /// Tools whose calls are acknowledged and dropped, never stored: exact names, or a prefix ending in
    /// `*` (`mcp__github__*`). claude-mem's own MCP tools are skipped whatever this says.
    pub skip_tools: Vec<String>,
    /// Places never captured and never given context: a path (`~/clients/acme`, everything under it),
    /// a path glob (`~/clients/*`, `**/secret-*`), or a project name or name glob (`acme-*`, no `/`).
    /// Events there are acknowledged and dropped before anything is stored.
    pub exclude: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            skip_tools: DEFAULT_SKIP_TOOLS.iter().map(|t| (*t).to_owned()).collect(),
            exclude: Vec::new(),
            extra: Map::new(),
        }
    }
}

impl CaptureSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |message: String| {
            Err(SettingsError::Invalid {
                field: "capture.skip_tools".into(),
                message,
            })
        };
        if self.skip_tools.len() > MAX_ENTRIES {
            return invalid(format!(
                "{} entries, at most {MAX_ENTRIES}",
                self.skip_tools.len()
            ));
        }
        for tool in &self.skip_tools {
            if tool.is_empty() || tool.len() > MAX_TOOL_NAME {
                return invalid(format!(
                    "{tool:?} must be a tool name of 1 to {MAX_TOOL_NAME} characters"
                ));
            }
            if tool.chars().any(char::is_whitespace) {
                return invalid(format!(
                    "{tool:?} contains whitespace; tool names have none"
                ));
            }
            if tool.trim_end_matches('*').contains('*') || tool.ends_with("**") {
                return invalid(format!(
                    "{tool:?}: `*` may only end an entry (a prefix: `mcp__github__*`)"
                ));
            }
        }
        self.validate_exclude()
    }

    fn validate_exclude(&self) -> Result<(), SettingsError> {
        let invalid = |message: String| {
            Err(SettingsError::Invalid {
                field: "capture.exclude".into(),
                message,
            })
        };
        if self.exclude.len() > MAX_ENTRIES {
            return invalid(format!(
                "{} entries, at most {MAX_ENTRIES}",
                self.exclude.len()
            ));
        }
        for entry in &self.exclude {
            if entry.trim().is_empty() || entry.len() > MAX_EXCLUDE_LEN {
                return invalid(format!(
                    "{entry:?} must be a path, a glob or a project name of 1 to {MAX_EXCLUDE_LEN} characters"
                ));
            }
            if let Err(e) = crate::capture::exclude_glob(entry) {
                return invalid(format!("{entry:?} is not a valid glob: {e}"));
            }
        }
        Ok(())
    }

    /// The list from a comma-separated `CLAUDE_MEM_SKIP_TOOLS`: blanks around names and empty items
    /// are dropped, so `""` means "skip nothing but claude-mem's own tools".
    pub fn parse_list(value: &str) -> Vec<String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
