//! Editing settings from the viewer (`GET`/`PUT /api/settings`): a described list of fields, and
//! changes addressed by dotted key, validated as a whole before anything is written.
//!
//! The list is explicit rather than derived from the structs so each field carries a sentence a user
//! understands and an honest flag for whether the running worker picks it up without a restart.

use super::{Settings, SettingsError};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Number,
    Integer,
    Boolean,
    #[serde(rename = "string")]
    Text,
    Enum,
    Secret,
    /// A list of strings (the viewer edits it as comma-separated text).
    List,
}

struct Spec {
    key: &'static str,
    kind: FieldKind,
    options: &'static [&'static str],
    /// Applied by the running worker at once; otherwise saved and used from the next start.
    live: bool,
    description: &'static str,
}

const fn spec(key: &'static str, kind: FieldKind, live: bool, description: &'static str) -> Spec {
    Spec {
        key,
        kind,
        options: &[],
        live,
        description,
    }
}

use FieldKind::*;

const SPECS: &[Spec] = &[
    spec("port", Integer, false, "Port the worker listens on; `claude-mem install` points Claude Code's hooks at it."),
    spec("host", Text, false, "Address the worker listens on. Anything but loopback exposes prompts and tool output to the network."),
    spec("log_level", Text, false, "Log filter: info, debug, or per module (claude_mem_server=trace)."),
    spec("log_retention_days", Integer, false, "Daily log files kept in logs/."),
    spec("hook_timeout_ms", Integer, false, "Budget of the `claude-mem hook` command; Claude Code waits at most this long."),
    spec("worker.autostart", Boolean, true, "Start a worker in the background when a Claude Code session starts and none is running. Off: you start it yourself (or a service does)."),
    spec("capture.skip_tools", List, true, "Tools whose calls are never captured (a trailing * matches a prefix: mcp__github__*). claude-mem's own MCP tools are always skipped."),
    spec("capture.exclude", List, true, "Places never captured and never given context: a folder (everything under it), a path glob (~/clients/*) or a project name glob (acme-*)."),
    spec("compression.enabled", Boolean, false, "Turn raw tool events into observations. Off: events are kept pending."),
    Spec { key: "compression.provider", kind: Enum, options: &super::PROVIDERS, live: false, description: "Who writes observations: auto (Anthropic when a key is set, else a logged-in Claude Code CLI, else local rules), local, anthropic, openai-compatible, or claude-code (your own `claude` CLI, on your Claude plan)." },
    Spec { key: "compression.language", kind: Text, options: &super::LOCAL_LANGUAGES, live: false, description: "Language of observations, summaries and the SessionStart block's fixed text: a tag such as en, zh, ja or pt-BR. LLM compressors write any language; the local rules know en and zh (others fall back to English)." },
    Spec { key: "compression.mode", kind: Enum, options: &super::COMPRESSION_MODES, live: false, description: "How much a memory says: code (default), concise (fewer, shorter), verbose (more detail), or custom (your instructions in prompts/compression.md in the data directory)." },
    spec("compression.anthropic_model", Text, false, "Claude model for compression; a Haiku-class model keeps cost near a tenth of a cent per observation."),
    spec("compression.anthropic_api_key", Secret, false, "Anthropic API key (prefer the ANTHROPIC_API_KEY variable: a key here is stored in plain text)."),
    spec("compression.openai_base_url", Text, false, "Base URL of an OpenAI-compatible server (Ollama, vLLM, LM Studio, OpenRouter)."),
    spec("compression.openai_model", Text, false, "Model name on the OpenAI-compatible server."),
    spec("compression.openai_api_key", Secret, false, "API key for the OpenAI-compatible server, if it needs one."),
    spec("compression.claude_code_path", Text, false, "The `claude` CLI the claude-code provider runs; empty: `claude` on PATH."),
    spec("compression.claude_code_model", Text, false, "Model the claude-code provider asks Claude Code for (haiku, sonnet, or a full model id); its tokens count against your Claude plan."),
    spec("compression.daily_budget_usd", Number, false, "Spend per UTC day after which the local compressor takes over until midnight."),
    spec("compression.batch_size", Integer, false, "Events per LLM call: larger batches amortise the cached system prompt."),
    spec("compression.batch_linger_ms", Integer, false, "How long a session's events wait for more to join their batch."),
    spec("compression.min_significance", Number, false, "0–1: tool events scoring below this make no observation."),
    spec("compression.summaries", Boolean, false, "Write a session summary at each Stop / SessionEnd."),
    Spec { key: "search.embedder", kind: Enum, options: &super::EMBEDDERS, live: false, description: "Embeddings for vector search: auto (local MiniLM when installed, else hashing), minilm, hash, openai. Changing it rebuilds the index." },
    Spec { key: "search.model_download", kind: Enum, options: &super::MODEL_DOWNLOADS, live: false, description: "auto: download all-MiniLM-L6-v2 (87 MiB, pinned checksums) in the background when the embedder is auto and the model is missing, then switch to it; off: never (install it with `claude-mem models download` or `models install`)." },
    spec("search.model_endpoint", Text, false, "Where the model is downloaded from: a Hugging Face mirror's URL. Empty: HF_ENDPOINT, else https://huggingface.co."),
    Spec { key: "search.fusion", kind: Enum, options: &["weighted", "rrf"], live: false, description: "How text and vector results combine: weighted scores or reciprocal-rank fusion." },
    spec("search.text_weight", Number, false, "Weight of full-text scores in weighted fusion (0–1)."),
    spec("search.vector_weight", Number, false, "Weight of vector similarity in weighted fusion (0–1)."),
    spec("context.enabled", Boolean, true, "Inject recalled memories when a Claude Code session starts."),
    spec("context.budget_tokens", Integer, true, "Upper bound of the SessionStart block, in estimated tokens."),
    spec("context.max_observations", Integer, true, "Most observations listed in the SessionStart index."),
    spec("context.prompt_recall", Boolean, true, "Also add a few relevant memories to each prompt (costs tokens on every prompt)."),
    spec("context.prompt_recall_budget_tokens", Integer, true, "Upper bound of the per-prompt recall, in estimated tokens."),
];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldInfo {
    pub key: &'static str,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    pub description: &'static str,
    /// Secrets are write-only: always null here, with `is_set` telling whether one is stored.
    pub value: Value,
    pub default: Value,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub options: &'static [&'static str],
    pub restart_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_set: Option<bool>,
}

fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(root, |v, part| v.get(part))
}

fn to_value(s: &Settings) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// Every editable field with its current value (secrets masked).
pub fn fields(settings: &Settings) -> Vec<FieldInfo> {
    let current = to_value(settings);
    let defaults = to_value(&Settings::default());
    SPECS
        .iter()
        .map(|s| {
            let value = lookup(&current, s.key).cloned().unwrap_or(Value::Null);
            let secret = s.kind == Secret;
            FieldInfo {
                key: s.key,
                kind: s.kind,
                description: s.description,
                is_set: secret.then(|| !value.is_null()),
                value: if secret { Value::Null } else { value },
                default: if secret {
                    Value::Null
                } else {
                    lookup(&defaults, s.key).cloned().unwrap_or(Value::Null)
                },
                options: s.options,
                restart_required: !s.live,
            }
        })
        .collect()
}

/// `settings` with `changes` (dotted key → new value; null clears a secret) applied and validated.
/// Returns the new settings and the changed keys that only take effect after a restart.
pub fn apply_changes(
    settings: &Settings,
    changes: &Map<String, Value>,
) -> Result<(Settings, Vec<String>), SettingsError> {
    let mut root = to_value(settings);
    let mut restart = Vec::new();
    for (key, new) in changes {
        let invalid = |message: String| SettingsError::Invalid {
            field: key.clone(),
            message,
        };
        let spec = SPECS
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| invalid("is not a setting the viewer can change".into()))?;
        let ok = match (spec.kind, new) {
            (Number, Value::Number(_)) => true,
            (Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Boolean, Value::Bool(_)) => true,
            (Text | Enum, Value::String(_)) => true,
            (Secret, Value::String(_) | Value::Null) => true,
            (List, Value::Array(items)) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            return Err(invalid(format!(
                "expected a {}, got {new}",
                serde_json::to_string(&spec.kind)
                    .unwrap_or_default()
                    .trim_matches('"')
            )));
        }
        if spec.kind == Enum && !spec.options.iter().any(|o| Some(*o) == new.as_str()) {
            return Err(invalid(format!("{new} is not one of {:?}", spec.options)));
        }
        let (parent_path, leaf) = key.rsplit_once('.').unwrap_or(("", key.as_str()));
        let parent = if parent_path.is_empty() {
            Some(&mut root)
        } else {
            parent_path
                .split('.')
                .try_fold(&mut root, |v, part| v.get_mut(part))
        };
        let Some(Value::Object(map)) = parent else {
            return Err(invalid("has no place in the settings file".into()));
        };
        let before = map.get(leaf).cloned().unwrap_or(Value::Null);
        let value = match new {
            Value::String(s) if spec.kind == Secret && s.trim().is_empty() => Value::Null,
            Value::String(s) if spec.kind == Secret => Value::String(s.trim().to_owned()),
            v => v.clone(),
        };
        if value.is_null() {
            map.remove(leaf);
        } else {
            map.insert(leaf.to_owned(), value.clone());
        }
        if before != value && !spec.live {
            restart.push(key.clone());
        }
    }
    let updated: Settings = serde_json::from_value(root).map_err(|e| SettingsError::Invalid {
        field: changes.keys().next().cloned().unwrap_or_default(),
        message: e.to_string(),
    })?;
    updated.validate()?;
    Ok((updated, restart))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changes(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn every_field_resolves_to_a_value_in_the_defaults() {
        let all = fields(&Settings::default());
        assert_eq!(all.len(), SPECS.len());
        for f in &all {
            if f.kind != FieldKind::Secret {
                assert!(!f.value.is_null(), "{} has no value", f.key);
                assert_eq!(f.value, f.default, "{}", f.key);
            }
        }
    }

    #[test]
    fn secrets_are_write_only() {
        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"compression.anthropic_api_key": "sk-ant-test"})),
        )
        .unwrap();
        assert_eq!(
            s.compression.anthropic_api_key.as_deref(),
            Some("sk-ant-test")
        );
        assert_eq!(restart, vec!["compression.anthropic_api_key"]);
        let f = fields(&s);
        let key = f
            .iter()
            .find(|f| f.key == "compression.anthropic_api_key")
            .unwrap();
        assert_eq!(key.value, Value::Null);
        assert_eq!(key.is_set, Some(true));
        let (cleared, _) =
            apply_changes(&s, &changes(json!({"compression.anthropic_api_key": null}))).unwrap();
        assert_eq!(cleared.compression.anthropic_api_key, None);
    }

    #[test]
    fn live_fields_need_no_restart_and_bad_values_name_their_field() {
        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"context.budget_tokens": 1200, "compression.daily_budget_usd": 2.5})),
        )
        .unwrap();
        assert_eq!(s.context.budget_tokens, 1200);
        assert_eq!(s.compression.daily_budget_usd, 2.5);
        assert_eq!(restart, vec!["compression.daily_budget_usd"]);

        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"capture.skip_tools": ["Read", "mcp__github__*"]})),
        )
        .unwrap();
        assert_eq!(s.capture.skip_tools, ["Read", "mcp__github__*"]);
        assert!(restart.is_empty());
        let field = fields(&s)
            .into_iter()
            .find(|f| f.key == "capture.skip_tools")
            .unwrap();
        assert_eq!(field.kind, FieldKind::List);
        assert_eq!(field.value, json!(["Read", "mcp__github__*"]));
        assert_eq!(field.default, json!(super::super::DEFAULT_SKIP_TOOLS));

        for (bad, field) in [
            (
                json!({"capture.skip_tools": "TodoWrite"}),
                "capture.skip_tools",
            ),
            (json!({"capture.skip_tools": [1]}), "capture.skip_tools"),
            (json!({"capture.skip_tools": ["a b"]}), "capture.skip_tools"),
            (json!({"port": "eighty"}), "port"),
            (json!({"port": 1.5}), "port"),
            (json!({"context.budget_tokens": 5}), "context.budget_tokens"),
            (json!({"search.embedder": "word2vec"}), "search.embedder"),
            (json!({"nope": 1}), "nope"),
        ] {
            match apply_changes(&Settings::default(), &changes(bad.clone())) {
                Err(SettingsError::Invalid { field: f, .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn language_and_mode_are_editable_and_checked() {
        let (s, restart) = apply_changes(
            &Settings::default(),
            &changes(json!({"compression.language": "zh-CN", "compression.mode": "concise"})),
        )
        .unwrap();
        assert_eq!(s.compression.language_code(), "zh");
        assert_eq!(s.compression.mode, "concise");
        assert_eq!(restart.len(), 2, "the compressor is built at start");
        let language = fields(&s)
            .into_iter()
            .find(|f| f.key == "compression.language")
            .unwrap();
        assert_eq!(language.options, ["en", "zh"], "suggestions for free text");
        assert!(apply_changes(&s, &changes(json!({"compression.mode": "loud"}))).is_err());
        assert!(apply_changes(&s, &changes(json!({"compression.language": "zh CN!"}))).is_err());
    }
}
