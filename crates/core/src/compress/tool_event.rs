//! One shape for a tool call, whichever hook reported it (PostToolUse, PostToolUseFailure, or one entry of
//! PostToolBatch), so compressors write their rules once.

use crate::model::QueuedEvent;
use serde_json::Value;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq)]
pub struct ToolEvent<'a> {
    pub event_id: i64,
    pub prompt_number: i64,
    pub tool_name: &'a str,
    pub tool_use_id: Option<&'a str>,
    pub input: &'a Value,
    /// `tool_response` (object for Bash, string in PostToolBatch, array for MCP); Null on failure.
    pub response: &'a Value,
    /// PostToolUseFailure's `error`.
    pub error: Option<&'a str>,
}

impl ToolEvent<'_> {
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self.response.get("interrupted").and_then(Value::as_bool) == Some(true)
    }

    pub fn input_str(&self, key: &str) -> Option<&str> {
        self.input.get(key).and_then(Value::as_str)
    }

    /// The response as text: Bash stdout+stderr, MCP text blocks, or the raw string.
    pub fn response_text(&self) -> String {
        match self.response {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            Value::Object(map) => {
                let mut out = String::new();
                for key in ["stdout", "stderr", "content", "output", "result"] {
                    if let Some(s) = map.get(key).and_then(Value::as_str) {
                        if !s.is_empty() {
                            if !out.is_empty() {
                                out.push('\n');
                            }
                            out.push_str(s);
                        }
                    }
                }
                out
            }
            _ => String::new(),
        }
    }
}

/// The tool calls in `events`, in order. PostToolBatch repeats calls that PostToolUse already reported:
/// those (same `tool_use_id`, in this batch or in `already_seen`) are left out so nothing is counted twice.
pub fn tool_events<'a>(
    events: &'a [QueuedEvent],
    already_seen: &HashSet<String>,
) -> Vec<ToolEvent<'a>> {
    const NULL: &Value = &Value::Null;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for e in events {
        if matches!(e.event_name.as_str(), "PostToolUse" | "PostToolUseFailure") {
            if let Some(id) = e.payload.get("tool_use_id").and_then(Value::as_str) {
                seen.insert(id);
            }
        }
    }
    for e in events {
        match e.event_name.as_str() {
            "PostToolUse" | "PostToolUseFailure" => {
                let Some(tool_name) = e.payload.get("tool_name").and_then(Value::as_str) else {
                    continue;
                };
                out.push(ToolEvent {
                    event_id: e.id,
                    prompt_number: e.prompt_number,
                    tool_name,
                    tool_use_id: e.payload.get("tool_use_id").and_then(Value::as_str),
                    input: e.payload.get("tool_input").unwrap_or(NULL),
                    response: e.payload.get("tool_response").unwrap_or(NULL),
                    error: e.payload.get("error").and_then(Value::as_str),
                });
            }
            "PostToolBatch" => {
                let calls = e.payload.get("tool_calls").and_then(Value::as_array);
                for call in calls.into_iter().flatten() {
                    let Some(tool_name) = call.get("tool_name").and_then(Value::as_str) else {
                        continue;
                    };
                    let id = call.get("tool_use_id").and_then(Value::as_str);
                    if id.is_some_and(|id| seen.contains(id) || already_seen.contains(id)) {
                        continue;
                    }
                    out.push(ToolEvent {
                        event_id: e.id,
                        prompt_number: e.prompt_number,
                        tool_name,
                        tool_use_id: id,
                        input: call.get("tool_input").unwrap_or(NULL),
                        response: call.get("tool_response").unwrap_or(NULL),
                        error: call.get("error").and_then(Value::as_str),
                    });
                }
            }
            _ => {}
        }
    }
    out
}
