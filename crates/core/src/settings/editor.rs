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
    spec("log_level", Text, true, "Log filter: info, debug, or per module (claude_mem_server=trace)."),
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
    spec("context.file_context", Boolean, true, "Before Claude reads or edits a file, add the 1-3 memories that mention it (only when there are some)."),
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
    /// What the running worker uses when that is not `value`: an environment variable overrides the
    /// file, or the file was saved since the start and the key waits for a restart. Absent when the
    /// worker runs with the file's value. For secrets it is never a value: see `running_is_set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<Value>,
    /// For secrets: whether the running worker has one (from the file or the environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_is_set: Option<bool>,
    /// The environment variable that overrides this key in the running worker, when one is set: the
    /// page labels the field with it, since editing the file changes nothing while it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden_by: Option<&'static str>,
    /// Saved since the worker started and read only at start: the running worker does not use it yet.
    /// Set by the caller, who knows what the file said at the start (`None` here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_restart: Option<bool>,
}

/// Which environment variable overrides which key (`Settings::apply_env`); a test keeps the two in step.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("host", "CLAUDE_MEM_HOST"),
    ("port", "CLAUDE_MEM_PORT"),
    ("hook_timeout_ms", "CLAUDE_MEM_HOOK_TIMEOUT_MS"),
    ("log_level", "CLAUDE_MEM_LOG_LEVEL"),
    ("worker.autostart", "CLAUDE_MEM_AUTOSTART"),
    ("capture.skip_tools", "CLAUDE_MEM_SKIP_TOOLS"),
    ("capture.exclude", "CLAUDE_MEM_EXCLUDE"),
    ("compression.enabled", "CLAUDE_MEM_COMPRESSION_ENABLED"),
    ("compression.provider", "CLAUDE_MEM_COMPRESSOR"),
    ("compression.language", "CLAUDE_MEM_LANGUAGE"),
    ("compression.mode", "CLAUDE_MEM_COMPRESSION_MODE"),
    ("compression.anthropic_model", "CLAUDE_MEM_ANTHROPIC_MODEL"),
    ("compression.anthropic_api_key", "ANTHROPIC_API_KEY"),
    ("compression.openai_base_url", "CLAUDE_MEM_OPENAI_BASE_URL"),
    ("compression.openai_model", "CLAUDE_MEM_OPENAI_MODEL"),
    ("compression.openai_api_key", "CLAUDE_MEM_OPENAI_API_KEY"),
    (
        "compression.claude_code_path",
        "CLAUDE_MEM_CLAUDE_CODE_PATH",
    ),
    (
        "compression.claude_code_model",
        "CLAUDE_MEM_CLAUDE_CODE_MODEL",
    ),
    (
        "compression.daily_budget_usd",
        "CLAUDE_MEM_DAILY_BUDGET_USD",
    ),
    ("compression.batch_linger_ms", "CLAUDE_MEM_BATCH_LINGER_MS"),
    ("search.embedder", "CLAUDE_MEM_EMBEDDER"),
    ("search.model_download", "CLAUDE_MEM_MODEL_DOWNLOAD"),
    ("search.model_endpoint", "CLAUDE_MEM_MODEL_ENDPOINT"),
    ("context.budget_tokens", "CLAUDE_MEM_CONTEXT_BUDGET_TOKENS"),
    ("context.prompt_recall", "CLAUDE_MEM_PROMPT_RECALL"),
    ("context.file_context", "CLAUDE_MEM_FILE_CONTEXT"),
];

/// A number as a person wrote it. `f32` settings reach JSON through `f64`, so 0.3 became
/// 0.30000001192092896 on the page; a value an `f32` holds exactly is written with the `f32`'s
/// shortest form instead. `f64` values (0.1, 2.75) are left alone: they do not survive the round trip.
fn tidy_number(v: Value) -> Value {
    let Value::Number(n) = &v else { return v };
    let Some(f) = n.as_f64().filter(|_| n.is_f64()) else {
        return v;
    };
    let narrow = f as f32;
    if f64::from(narrow) != f || !narrow.is_finite() {
        return v;
    }
    narrow
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(v, Value::Number)
}

/// A refusal as a sentence for the page and the CLI: "is outside 1..=3650" becomes "must be from 1 to
/// 3650", serde's "invalid value: integer `99999`, expected u16" becomes "99999 is too large …", a
/// trailing full stop is added.
pub fn humanize(message: &str) -> String {
    let mut out = message.trim().to_owned();
    if let Some((value, range)) = out.split_once(" is outside ") {
        if let Some((lo, hi)) = range.trim_end_matches('.').split_once("..=") {
            out = format!("{value} is out of range: use a number from {lo} to {hi}");
        }
    }
    if let Some(rest) = out.strip_prefix("invalid value: integer `") {
        if let Some((value, expected)) = rest.split_once("`, expected ") {
            let range = match expected.trim() {
                "u16" => Some((0u64, u64::from(u16::MAX))),
                "u32" => Some((0, u64::from(u32::MAX))),
                "u8" => Some((0, u64::from(u8::MAX))),
                t if t.starts_with('u') => Some((0, u64::MAX)),
                _ => None,
            };
            out = match range {
                Some((_, hi)) if value.starts_with('-') => {
                    format!("{value} is negative: use a number from 0 to {hi}")
                }
                Some((lo, hi)) => format!("{value} is too large: use a number from {lo} to {hi}"),
                None => format!("{value} is not accepted here ({expected})"),
            };
        }
    }
    if let Some(rest) = out.strip_prefix("invalid type: ") {
        out = format!("wrong kind of value: {rest}");
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    let mut chars = out.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() => {
            format!("{}{}", c.to_ascii_uppercase(), chars.as_str())
        }
        _ => out,
    }
}

/// The value at a dotted key (`compression.batch_size`) of a settings JSON tree.
pub fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
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
            let value = tidy_number(lookup(&current, s.key).cloned().unwrap_or(Value::Null));
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
                    tidy_number(lookup(&defaults, s.key).cloned().unwrap_or(Value::Null))
                },
                options: s.options,
                restart_required: !s.live,
                running: None,
                running_is_set: None,
                overridden_by: None,
                pending_restart: None,
            }
        })
        .collect()
}

/// [`fields`] of the file, each labelled with what the running worker actually uses where that
/// differs (`running`), and with the environment variable responsible (`overridden_by`, looked up
/// through `env` so tests need not touch the process environment). A page that showed the file alone
/// said "port 37777" while the worker listened elsewhere.
pub fn fields_running(
    file: &Settings,
    running: &Settings,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<FieldInfo> {
    let now = to_value(running);
    fields(file)
        .into_iter()
        .map(|mut f| {
            let used = tidy_number(lookup(&now, f.key).cloned().unwrap_or(Value::Null));
            let var = ENV_OVERRIDES
                .iter()
                .find(|(key, _)| *key == f.key)
                .map(|(_, var)| *var)
                .filter(|var| env(var).is_some_and(|v| !v.trim().is_empty()));
            if f.kind == Secret {
                let used_set = !used.is_null();
                if Some(used_set) != f.is_set {
                    f.running_is_set = Some(used_set);
                }
                // A key in the file wins over ANTHROPIC_API_KEY / CLAUDE_MEM_OPENAI_API_KEY.
                f.overridden_by = var.filter(|_| f.is_set == Some(false) && used_set);
            } else {
                let differs = used != f.value;
                if differs {
                    f.running = Some(used);
                }
                f.overridden_by = var.filter(|_| differs);
            }
            f
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
            message: humanize(&message),
        };
        let spec = SPECS
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| invalid(format!("{key} is not a setting the viewer can change")))?;
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
            let wanted = match spec.kind {
                Number => "a number",
                Integer => "a whole number",
                Boolean => "on or off (true or false)",
                Text | Enum | Secret => "text",
                List => "a list of names",
            };
            return Err(invalid(format!("{new} is not {wanted}")));
        }
        if spec.kind == Enum && !spec.options.iter().any(|o| Some(*o) == new.as_str()) {
            return Err(invalid(format!(
                "{new} is not one of {}",
                spec.options.join(", ")
            )));
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
    let updated: Settings = serde_json::from_value(root).map_err(|e| {
        // serde names the value, not the key: the key is the changed one whose value it names, else
        // the first changed one.
        let text = e.to_string();
        let field = changes
            .iter()
            .find(|(_, v)| text.contains(&format!("`{v}`")))
            .or_else(|| changes.iter().next())
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        SettingsError::Invalid {
            field,
            message: humanize(text.split(" at line ").next().unwrap_or(&text)),
        }
    })?;
    updated.validate().map_err(|e| match e {
        SettingsError::Invalid { field, message } => SettingsError::Invalid {
            field,
            message: humanize(&message),
        },
        other => other,
    })?;
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
    fn f32_values_show_as_written() {
        let all = fields(&Settings::default());
        let get = |k: &str| all.iter().find(|f| f.key == k).unwrap().clone();
        assert_eq!(get("compression.min_significance").value, json!(0.3));
        assert_eq!(get("compression.min_significance").default, json!(0.3));
        assert_eq!(get("search.text_weight").value, json!(0.3));
        assert_eq!(get("search.vector_weight").value, json!(0.7));
        // f64 values are not squeezed through f32.
        let mut s = Settings::default();
        s.compression.daily_budget_usd = 0.1;
        let f = fields(&s);
        let budget = f
            .iter()
            .find(|f| f.key == "compression.daily_budget_usd")
            .unwrap();
        assert_eq!(budget.value, json!(0.1));
    }

    #[test]
    fn refusals_read_as_sentences() {
        let refuse = |v: Value| match apply_changes(&Settings::default(), &changes(v.clone())) {
            Err(SettingsError::Invalid { field, message }) => (field, message),
            other => panic!("{v}: {other:?}"),
        };
        let (field, msg) = refuse(json!({"port": 99999}));
        assert_eq!(field, "port");
        assert_eq!(msg, "99999 is too large: use a number from 0 to 65535.");
        let (_, msg) = refuse(json!({"log_retention_days": 0}));
        assert_eq!(msg, "0 is out of range: use a number from 1 to 3650.");
        let (_, msg) = refuse(json!({"log_retention_days": -3}));
        assert!(msg.starts_with("-3 is negative"), "{msg}");
        let (_, msg) = refuse(json!({"search.embedder": "word2vec"}));
        assert_eq!(
            msg,
            "\"word2vec\" is not one of auto, minilm, hash, openai."
        );
        let (_, msg) = refuse(json!({"port": "eighty"}));
        assert_eq!(msg, "\"eighty\" is not a whole number.");
        let (field, msg) = refuse(json!({"log_level": "verbose!!"}));
        assert_eq!(field, "log_level");
        assert!(msg.starts_with("\"verbose!!\" is not a log level"), "{msg}");
        for (_, m) in [refuse(json!({"port": 0})), refuse(json!({"nope": 1}))] {
            assert!(!m.contains("..=") && !m.contains("expected u"), "{m}");
            assert!(m.ends_with('.'), "{m}");
        }
    }

    #[test]
    fn running_values_and_environment_overrides_are_labelled() {
        let file = Settings::default();
        let mut running = file.clone();
        let env: std::collections::HashMap<&str, &str> = [
            ("CLAUDE_MEM_PORT", "41234"),
            ("ANTHROPIC_API_KEY", "sk-ant-env"),
            ("CLAUDE_MEM_LOG_LEVEL", "info"),
        ]
        .into_iter()
        .collect();
        let lookup = |k: &str| env.get(k).map(|v| v.to_string());
        running.apply_env(lookup).unwrap();
        running.hook_timeout_ms = 2500; // saved since the start, waiting for a restart
        let all = fields_running(&file, &running, lookup);
        let get = |k: &str| all.iter().find(|f| f.key == k).unwrap().clone();
        let port = get("port");
        assert_eq!(
            (port.value.clone(), port.running.clone()),
            (json!(37777), Some(json!(41234)))
        );
        assert_eq!(port.overridden_by, Some("CLAUDE_MEM_PORT"));
        let key = get("compression.anthropic_api_key");
        assert_eq!((key.is_set, key.running_is_set), (Some(false), Some(true)));
        assert_eq!(key.overridden_by, Some("ANTHROPIC_API_KEY"));
        assert_eq!(key.value, Value::Null, "never a secret's value");
        let pending = get("hook_timeout_ms");
        assert_eq!(pending.running, Some(json!(2500)));
        assert_eq!(pending.overridden_by, None);
        // Set, but to what the file says: nothing to label.
        let level = get("log_level");
        assert_eq!((level.running, level.overridden_by), (None, None));
        assert_eq!(
            get("compression.min_significance").running,
            None,
            "no f32 noise either"
        );
    }

    #[test]
    fn every_override_variable_changes_its_key() {
        for (key, var) in ENV_OVERRIDES {
            let spec = SPECS
                .iter()
                .find(|s| s.key == *key)
                .unwrap_or_else(|| panic!("{key} is no field"));
            let value = match spec.kind {
                // The opposite of the default, in the spelling every boolean variable takes.
                Boolean => (lookup(&to_value(&Settings::default()), key)
                    != Some(&Value::Bool(true)))
                .to_string(),
                Integer | Number => "1234".to_owned(),
                List => "OnlyThis".to_owned(),
                Enum => spec
                    .options
                    .iter()
                    .rev()
                    .find(|o| **o != "auto")
                    .unwrap_or(&"x")
                    .to_string(),
                _ => match *key {
                    "host" => "::1".to_owned(),
                    k if k.contains("url") => "http://example.test/v1".to_owned(),
                    _ => "override".to_owned(),
                },
            };
            let mut s = Settings::default();
            s.apply_env(|k| (k == *var).then(|| value.clone())).unwrap();
            let before = to_value(&Settings::default());
            let after = to_value(&s);
            assert_ne!(
                lookup(&before, key),
                lookup(&after, key),
                "{var} does not change {key}"
            );
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
