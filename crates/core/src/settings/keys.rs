//! Every settings key in one table: its dotted name, the environment variable that overrides it, its
//! kind, whether the running worker applies it without a restart, a sentence for people, and whether
//! the viewer's settings page edits it.
//!
//! It exists so that a key is described once. The `CLAUDE_MEM_*` overrides ([`Settings::apply_env`]),
//! the viewer's field list (`GET`/`PUT /api/settings`, [`super::fields`]) and the "overridden by"
//! label ([`super::fields_running`]) all read this table; before, they were three lists (an `if let`
//! ladder, the editor's specs and a key-to-variable map) kept in step by hand and by a test. A test
//! checks that the table names exactly the keys the settings structs serialize, so a key cannot be
//! added to a struct and forgotten here, or misspelt here. Value checks stay in the structs'
//! `validate`: the table says how a value is spelt, not whether it is acceptable.
//!
//! [`Settings::apply_env`]: super::Settings::apply_env

use serde::Serialize;
use serde_json::Value;

/// How a value is written, in the file, on the page and in its environment variable.
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
    /// A list of strings (the viewer edits it as comma-separated text; a variable is comma-separated).
    List,
    /// A JSON object (`compression.pricing`): the file only.
    Object,
}

/// Whether and how an environment variable overrides a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvOverride {
    /// The file (or the default) only.
    Never,
    /// The variable's value, trimmed, read as the key's kind: a number, `true`/`false`, text, or a
    /// comma-separated list (blank items dropped). Text is taken as it is, even empty.
    Var(&'static str),
    /// A boolean that also takes `1`/`0`, `yes`/`no`, `on`/`off`, in any case: what people type in a
    /// unit file or a shell profile.
    Switch(&'static str),
    /// A secret the variable supplies only when the file has none (a key in the file wins) and the
    /// variable is not blank.
    Fallback(&'static str),
}

impl EnvOverride {
    pub const fn var(self) -> Option<&'static str> {
        match self {
            EnvOverride::Never => None,
            EnvOverride::Var(v) | EnvOverride::Switch(v) | EnvOverride::Fallback(v) => Some(v),
        }
    }
}

/// One row of [`KEYS`].
#[derive(Debug, Clone, Copy)]
pub struct SettingKey {
    /// Dotted path in `settings.json` (`compression.batch_size`).
    pub key: &'static str,
    pub env: EnvOverride,
    pub kind: FieldKind,
    /// The choices of an `Enum`; for `Text`, suggestions (free text is still accepted).
    pub options: &'static [&'static str],
    /// Applied by the running worker at once; otherwise saved and used from the next start.
    pub live: bool,
    /// Shown and editable on the viewer's settings page; the others are set in the file or the
    /// environment.
    pub editable: bool,
    pub description: &'static str,
}

impl SettingKey {
    const fn env(self, var: &'static str) -> Self {
        SettingKey {
            env: EnvOverride::Var(var),
            ..self
        }
    }

    const fn switch(self, var: &'static str) -> Self {
        SettingKey {
            env: EnvOverride::Switch(var),
            ..self
        }
    }

    const fn fallback(self, var: &'static str) -> Self {
        SettingKey {
            env: EnvOverride::Fallback(var),
            ..self
        }
    }

    const fn options(self, options: &'static [&'static str]) -> Self {
        SettingKey { options, ..self }
    }

    /// The JSON value the variable's text `raw` gives this key, read as [`EnvOverride`] says; `None`
    /// when it leaves the key alone (a blank secret variable, or a secret the file already has).
    /// `current` is the key's value before. The error is the reason, without the variable's name.
    pub fn env_value(&self, raw: &str, current: Option<&Value>) -> Result<Option<Value>, String> {
        let v = raw.trim();
        if let EnvOverride::Fallback(_) = self.env {
            let has =
                current.is_some_and(|c| c.as_str().map_or(!c.is_null(), |s| !s.trim().is_empty()));
            return Ok((!has && !v.is_empty()).then(|| Value::String(v.to_owned())));
        }
        if let EnvOverride::Switch(_) = self.env {
            match v.to_ascii_lowercase().as_str() {
                "1" | "yes" | "on" => return Ok(Some(Value::Bool(true))),
                "0" | "no" | "off" => return Ok(Some(Value::Bool(false))),
                other => return parse_bool(other).map(Some),
            }
        }
        Ok(Some(match self.kind {
            FieldKind::Boolean => parse_bool(v)?,
            FieldKind::Integer => match v.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(e) => Value::from(v.parse::<u64>().map_err(|_| e.to_string())?),
            },
            FieldKind::Number => {
                let n = v.parse::<f64>().map_err(|e| e.to_string())?;
                serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{n} is not a finite number"))?
            }
            FieldKind::List => Value::from(super::CaptureSettings::parse_list(raw)),
            FieldKind::Text | FieldKind::Enum | FieldKind::Secret => Value::String(v.to_owned()),
            FieldKind::Object => return Err("cannot be set from the environment".into()),
        }))
    }
}

fn parse_bool(v: &str) -> Result<Value, String> {
    v.parse::<bool>()
        .map(Value::Bool)
        .map_err(|e| e.to_string())
}

/// Shown on the viewer's settings page.
const fn field(
    key: &'static str,
    kind: FieldKind,
    live: bool,
    description: &'static str,
) -> SettingKey {
    SettingKey {
        key,
        env: EnvOverride::Never,
        kind,
        options: &[],
        live,
        editable: true,
        description,
    }
}

/// Set in the file or the environment only.
const fn hidden(
    key: &'static str,
    kind: FieldKind,
    live: bool,
    description: &'static str,
) -> SettingKey {
    SettingKey {
        editable: false,
        ..field(key, kind, live, description)
    }
}

use FieldKind::*;

const LIVE: bool = true;
const RESTART: bool = false;

/// Every key, in the order the viewer lists the editable ones.
pub const KEYS: &[SettingKey] = &[
    field("port", Integer, RESTART, "Port the worker listens on; `claude-mem install` points Claude Code's hooks at it.").env("CLAUDE_MEM_PORT"),
    field("host", Text, RESTART, "Address the worker listens on. Anything but loopback exposes prompts and tool output to the network.").env("CLAUDE_MEM_HOST"),
    field("log_level", Text, LIVE, "Log filter: info, debug, or per module (claude_mem_server=trace).").env("CLAUDE_MEM_LOG_LEVEL"),
    field("log_retention_days", Integer, RESTART, "Daily log files kept in logs/."),
    field("hook_timeout_ms", Integer, RESTART, "Budget of the `claude-mem hook` command; Claude Code waits at most this long.").env("CLAUDE_MEM_HOOK_TIMEOUT_MS"),
    hidden("max_body_bytes", Integer, RESTART, "Largest hook body accepted: tool output can be large, but a runaway payload must not exhaust memory.").env("CLAUDE_MEM_MAX_BODY_BYTES"),
    field("worker.autostart", Boolean, LIVE, "Start a worker in the background when a Claude Code session starts and none is running. Off: you start it yourself (or a service does).").switch("CLAUDE_MEM_AUTOSTART"),
    field("capture.skip_tools", List, LIVE, "Tools whose calls are never captured (a trailing * matches a prefix: mcp__github__*). claude-mem's own MCP tools are always skipped.").env("CLAUDE_MEM_SKIP_TOOLS"),
    field("capture.exclude", List, LIVE, "Places never captured and never given context: a folder (everything under it), a path glob (~/clients/*) or a project name glob (acme-*).").env("CLAUDE_MEM_EXCLUDE"),
    field("compression.enabled", Boolean, RESTART, "Turn raw tool events into observations. Off: events are kept pending.").env("CLAUDE_MEM_COMPRESSION_ENABLED"),
    field("compression.provider", Enum, RESTART, "Who writes observations: auto (Anthropic when a key is set, else a logged-in Claude Code CLI, else local rules), local, anthropic, openai-compatible, or claude-code (your own `claude` CLI, on your Claude plan).").options(&super::PROVIDERS).env("CLAUDE_MEM_COMPRESSOR"),
    field("compression.language", Text, RESTART, "Language of observations, summaries and the SessionStart block's fixed text: a tag such as en, zh, ja or pt-BR. LLM compressors write any language; the local rules know en and zh (others fall back to English).").options(&super::LOCAL_LANGUAGES).env("CLAUDE_MEM_LANGUAGE"),
    field("compression.mode", Enum, RESTART, "How much a memory says: code (default), concise (fewer, shorter), verbose (more detail), or custom (your instructions in prompts/compression.md in the data directory).").options(&super::COMPRESSION_MODES).env("CLAUDE_MEM_COMPRESSION_MODE"),
    field("compression.anthropic_model", Text, RESTART, "Claude model for compression; a Haiku-class model keeps cost near a tenth of a cent per observation.").env("CLAUDE_MEM_ANTHROPIC_MODEL"),
    field("compression.anthropic_api_key", Secret, RESTART, "Anthropic API key (prefer the ANTHROPIC_API_KEY variable: a key here is stored in plain text).").fallback("ANTHROPIC_API_KEY"),
    hidden("compression.anthropic_base_url", Text, RESTART, "Base URL of the Anthropic API; change it for a proxy or gateway.").env("CLAUDE_MEM_ANTHROPIC_BASE_URL"),
    field("compression.openai_base_url", Text, RESTART, "Base URL of an OpenAI-compatible server (Ollama, vLLM, LM Studio, OpenRouter).").env("CLAUDE_MEM_OPENAI_BASE_URL"),
    field("compression.openai_model", Text, RESTART, "Model name on the OpenAI-compatible server.").env("CLAUDE_MEM_OPENAI_MODEL"),
    field("compression.openai_api_key", Secret, RESTART, "API key for the OpenAI-compatible server, if it needs one.").fallback("CLAUDE_MEM_OPENAI_API_KEY"),
    field("compression.claude_code_path", Text, RESTART, "The `claude` CLI the claude-code provider runs; empty: `claude` on PATH.").env("CLAUDE_MEM_CLAUDE_CODE_PATH"),
    field("compression.claude_code_model", Text, RESTART, "Model the claude-code provider asks Claude Code for (haiku, sonnet, or a full model id); its tokens count against your Claude plan.").env("CLAUDE_MEM_CLAUDE_CODE_MODEL"),
    field("compression.daily_budget_usd", Number, RESTART, "Spend per UTC day after which the local compressor takes over until midnight.").env("CLAUDE_MEM_DAILY_BUDGET_USD"),
    field("compression.batch_size", Integer, RESTART, "Events per LLM call: larger batches amortise the cached system prompt."),
    field("compression.batch_linger_ms", Integer, RESTART, "How long a session's events wait for more to join their batch.").env("CLAUDE_MEM_BATCH_LINGER_MS"),
    field("compression.min_significance", Number, RESTART, "0–1: tool events scoring below this make no observation."),
    field("compression.summaries", Boolean, RESTART, "Write a session summary at each Stop / SessionEnd."),
    hidden("compression.max_tokens", Integer, RESTART, "Most tokens one compression call may answer with."),
    hidden("compression.max_attempts", Integer, RESTART, "Tries before an event is parked as failed."),
    hidden("compression.retry_base_ms", Integer, RESTART, "First retry delay; doubles per attempt (capped at 10 minutes), or longer if the provider asks.").env("CLAUDE_MEM_RETRY_BASE_MS"),
    hidden("compression.request_timeout_ms", Integer, RESTART, "Longest wait for one LLM answer."),
    hidden("compression.max_event_chars", Integer, RESTART, "Longest text of one event sent to the LLM; big tool outputs are cut to this."),
    hidden("compression.pricing", Object, RESTART, "USD per million tokens by model id (longest prefix wins); models not listed cost 0."),
    field("search.embedder", Enum, RESTART, "Embeddings for vector search: auto (local MiniLM when installed, else hashing), minilm, hash, openai. Changing it rebuilds the index.").options(&super::EMBEDDERS).env("CLAUDE_MEM_EMBEDDER"),
    field("search.model_download", Enum, RESTART, "auto: download all-MiniLM-L6-v2 (87 MiB, pinned checksums) in the background when the embedder is auto and the model is missing, then switch to it; off: never (install it with `claude-mem models download` or `models install`).").options(&super::MODEL_DOWNLOADS).env("CLAUDE_MEM_MODEL_DOWNLOAD"),
    field("search.model_endpoint", Text, RESTART, "Where the model is downloaded from: a Hugging Face mirror's URL. Empty: HF_ENDPOINT, else https://huggingface.co.").env("CLAUDE_MEM_MODEL_ENDPOINT"),
    field("search.fusion", Enum, RESTART, "How text and vector results combine: weighted scores or reciprocal-rank fusion.").options(&["weighted", "rrf"]),
    field("search.text_weight", Number, RESTART, "Weight of full-text scores in weighted fusion (0–1)."),
    field("search.vector_weight", Number, RESTART, "Weight of vector similarity in weighted fusion (0–1)."),
    hidden("search.model_dir", Text, RESTART, "Where the all-MiniLM-L6-v2 files are; relative paths are inside the data directory.").env("CLAUDE_MEM_MODEL_DIR"),
    hidden("search.openai_base_url", Text, RESTART, "Base URL of the OpenAI-compatible embeddings API (embedder openai)."),
    hidden("search.openai_model", Text, RESTART, "Embeddings model on that server."),
    hidden("search.openai_api_key", Secret, RESTART, "API key for the embeddings server, if it needs one."),
    hidden("search.openai_dim", Integer, RESTART, "Dimension of that model's vectors (text-embedding-3-small: 1536)."),
    hidden("search.rrf_k", Number, RESTART, "The k of reciprocal-rank fusion."),
    hidden("search.vector_encoding", Enum, RESTART, "How each memory's vector is stored: f32 (exact) or int8 (a quarter of the bytes).").options(&["f32", "int8"]).env("CLAUDE_MEM_VECTOR_ENCODING"),
    field("context.enabled", Boolean, LIVE, "Inject recalled memories when a Claude Code session starts."),
    field("context.budget_tokens", Integer, LIVE, "Upper bound of the SessionStart block, in estimated tokens.").env("CLAUDE_MEM_CONTEXT_BUDGET_TOKENS"),
    field("context.max_observations", Integer, LIVE, "Most observations listed in the SessionStart index."),
    field("context.prompt_recall", Boolean, LIVE, "Also add a few relevant memories to each prompt (costs tokens on every prompt).").env("CLAUDE_MEM_PROMPT_RECALL"),
    field("context.file_context", Boolean, LIVE, "Before Claude reads or edits a file, add the 1-3 memories that mention it (only when there are some).").env("CLAUDE_MEM_FILE_CONTEXT"),
    field("context.prompt_recall_budget_tokens", Integer, LIVE, "Upper bound of the per-prompt recall, in estimated tokens."),
    hidden("context.prompt_recall_limit", Integer, LIVE, "Most memories one prompt's recall adds."),
    hidden("security.rate_limit_per_second", Integer, RESTART, "Requests per second each client address may make before getting 429."),
    hidden("security.rate_limit_burst", Integer, RESTART, "Requests a client may make at once above the steady rate."),
    hidden("security.rate_limit_loopback", Boolean, RESTART, "Also rate-limit loopback clients (this machine's hooks, CLI and viewer)."),
    hidden("security.cors_origins", List, RESTART, "Extra browser origins allowed to call the API (CORS)."),
    hidden("backup.daily", Boolean, RESTART, "Make a backup once a day while the worker runs."),
    hidden("backup.destination", Text, RESTART, "Where scheduled backups go: a directory, or an s3://, gs://, az:// URL; empty: backups/ in the data directory."),
    hidden("backup.keep", Integer, RESTART, "Scheduled backups kept at the destination; older ones are deleted."),
    hidden("retention.prune_daily", Boolean, RESTART, "Prune memories older than retention.older_than_days once a day while the worker runs."),
    hidden("retention.older_than_days", Integer, RESTART, "Age, in days, past which the daily job prunes memories."),
];

/// The row of a dotted key.
pub fn key(name: &str) -> Option<&'static SettingKey> {
    KEYS.iter().find(|k| k.key == name)
}

#[cfg(test)]
mod tests {
    use super::super::{apply_changes, fields, lookup, Settings, SettingsError};
    use super::*;
    use std::collections::BTreeSet;

    /// Every secret set, so the serialized settings hold every key.
    fn full_tree() -> Value {
        let mut s = Settings::default();
        s.compression.anthropic_api_key = Some("a".into());
        s.compression.openai_api_key = Some("b".into());
        s.search.openai_api_key = Some("c".into());
        serde_json::to_value(&s).unwrap()
    }

    /// Walks the tree down to the table's keys: every leaf must lie under exactly one row.
    fn walk(node: &Value, path: &str, seen: &mut Vec<String>) {
        if key(path).is_some() {
            seen.push(path.to_owned());
            return;
        }
        match node {
            Value::Object(map) => {
                for (k, v) in map {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, &child, seen);
                }
            }
            _ => panic!("{path} is serialized by the settings but is no row of KEYS"),
        }
    }

    #[test]
    fn the_table_names_exactly_the_keys_the_settings_serialize() {
        let mut seen = Vec::new();
        walk(&full_tree(), "", &mut seen);
        let rows: Vec<String> = KEYS.iter().map(|k| k.key.to_owned()).collect();
        let unique: BTreeSet<&String> = rows.iter().collect();
        assert_eq!(unique.len(), rows.len(), "a key is listed twice");
        seen.sort();
        let mut want = rows;
        want.sort();
        assert_eq!(
            seen, want,
            "rows that name no serialized key, or keys without a row"
        );
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for row in KEYS {
            let value = lookup(&defaults, row.key);
            if row.kind == FieldKind::Secret {
                assert!(value.is_none(), "{}: a secret has no default", row.key);
                continue;
            }
            let value = value.unwrap_or_else(|| panic!("{} has no default", row.key));
            let fits = match row.kind {
                FieldKind::Number => value.is_number(),
                FieldKind::Integer => value.is_u64() || value.is_i64(),
                FieldKind::Boolean => value.is_boolean(),
                FieldKind::Text | FieldKind::Enum => value.is_string(),
                FieldKind::List => value.is_array(),
                FieldKind::Object => value.is_object(),
                FieldKind::Secret => unreachable!(),
            };
            assert!(
                fits,
                "{}: the default {value} is not a {:?}",
                row.key, row.kind
            );
            if row.kind == FieldKind::Enum {
                assert!(
                    row.options.iter().any(|o| Some(*o) == value.as_str()),
                    "{}: the default {value} is not one of its options",
                    row.key
                );
            }
        }
    }

    #[test]
    fn the_variables_are_the_ones_there_have_always_been() {
        let mut vars: Vec<&str> = KEYS.iter().filter_map(|k| k.env.var()).collect();
        let unique: BTreeSet<&str> = vars.iter().copied().collect();
        assert_eq!(unique.len(), vars.len(), "a variable overrides two keys");
        vars.sort_unstable();
        let mut want = vec![
            "ANTHROPIC_API_KEY",
            "CLAUDE_MEM_ANTHROPIC_BASE_URL",
            "CLAUDE_MEM_ANTHROPIC_MODEL",
            "CLAUDE_MEM_AUTOSTART",
            "CLAUDE_MEM_BATCH_LINGER_MS",
            "CLAUDE_MEM_CLAUDE_CODE_MODEL",
            "CLAUDE_MEM_CLAUDE_CODE_PATH",
            "CLAUDE_MEM_COMPRESSION_ENABLED",
            "CLAUDE_MEM_COMPRESSION_MODE",
            "CLAUDE_MEM_COMPRESSOR",
            "CLAUDE_MEM_CONTEXT_BUDGET_TOKENS",
            "CLAUDE_MEM_DAILY_BUDGET_USD",
            "CLAUDE_MEM_EMBEDDER",
            "CLAUDE_MEM_EXCLUDE",
            "CLAUDE_MEM_FILE_CONTEXT",
            "CLAUDE_MEM_HOOK_TIMEOUT_MS",
            "CLAUDE_MEM_HOST",
            "CLAUDE_MEM_LANGUAGE",
            "CLAUDE_MEM_LOG_LEVEL",
            "CLAUDE_MEM_MAX_BODY_BYTES",
            "CLAUDE_MEM_MODEL_DIR",
            "CLAUDE_MEM_MODEL_DOWNLOAD",
            "CLAUDE_MEM_MODEL_ENDPOINT",
            "CLAUDE_MEM_OPENAI_API_KEY",
            "CLAUDE_MEM_OPENAI_BASE_URL",
            "CLAUDE_MEM_OPENAI_MODEL",
            "CLAUDE_MEM_PORT",
            "CLAUDE_MEM_PROMPT_RECALL",
            "CLAUDE_MEM_RETRY_BASE_MS",
            "CLAUDE_MEM_SKIP_TOOLS",
            "CLAUDE_MEM_VECTOR_ENCODING",
        ];
        want.sort_unstable();
        assert_eq!(vars, want);
    }

    /// A value for `row`'s variable, as a person would type it, and the JSON it must become.
    fn sample(row: &SettingKey, defaults: &Value) -> (String, Value) {
        match row.kind {
            FieldKind::Boolean => {
                let flipped = lookup(defaults, row.key) != Some(&Value::Bool(true));
                (format!(" {flipped} "), Value::Bool(flipped))
            }
            FieldKind::Integer => (" 1234 ".into(), Value::from(1234)),
            FieldKind::Number => (" 0.5 ".into(), Value::from(0.5)),
            FieldKind::List => (
                " Read, ,mcp__x__* ".into(),
                serde_json::json!(["Read", "mcp__x__*"]),
            ),
            FieldKind::Enum => {
                let pick = row.options.iter().rev().find(|o| **o != "auto").unwrap();
                (format!(" {pick} "), Value::from(*pick))
            }
            FieldKind::Text | FieldKind::Secret => {
                (" some-value ".into(), Value::from("some-value"))
            }
            FieldKind::Object => unreachable!("no variable sets an object"),
        }
    }

    #[test]
    fn every_variable_round_trips_to_its_key() {
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for row in KEYS {
            let Some(var) = row.env.var() else { continue };
            let (raw, want) = sample(row, &defaults);
            assert_ne!(
                lookup(&defaults, row.key),
                Some(&want),
                "{var}: pick another sample"
            );
            let mut s = Settings::default();
            s.apply_env(|k| (k == var).then(|| raw.clone()))
                .unwrap_or_else(|e| panic!("{var}: {e}"));
            let after = serde_json::to_value(&s).unwrap();
            assert_eq!(lookup(&after, row.key), Some(&want), "{var} → {}", row.key);
            // Nothing else moved.
            let mut tree = after.clone();
            let default = lookup(&defaults, row.key).cloned().unwrap_or(Value::Null);
            super::super::editor::set_key(&mut tree, row.key, default).unwrap();
            assert_eq!(tree, defaults, "{var} changed more than {}", row.key);
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_variable() {
        for row in KEYS {
            let Some(var) = row.env.var() else { continue };
            if !matches!(
                row.kind,
                FieldKind::Integer | FieldKind::Number | FieldKind::Boolean
            ) {
                continue;
            }
            let mut s = Settings::default();
            let err = s
                .apply_env(|k| (k == var).then(|| "lots".to_owned()))
                .expect_err(var);
            assert!(
                matches!(&err, SettingsError::Env { var: v, value, .. } if v == var && value == "lots"),
                "{var}: {err}"
            );
            assert!(err.to_string().contains(var), "{err}");
            assert_eq!(
                s,
                Settings::default(),
                "{var}: a refused value is not applied"
            );
        }
        // The right kind but too large for the key: still the variable's fault.
        let err = Settings::default()
            .apply_env(|k| (k == "CLAUDE_MEM_PORT").then(|| "70000".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CLAUDE_MEM_PORT") && err.contains("too large"),
            "{err}"
        );
        let err = Settings::default()
            .apply_env(|k| (k == "CLAUDE_MEM_DAILY_BUDGET_USD").then(|| "inf".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CLAUDE_MEM_DAILY_BUDGET_USD"), "{err}");
        // Plain booleans take true/false only; CLAUDE_MEM_AUTOSTART also 0/1, on/off, yes/no.
        assert!(Settings::default()
            .apply_env(|k| (k == "CLAUDE_MEM_PROMPT_RECALL").then(|| "1".to_owned()))
            .is_err());
        let mut s = Settings::default();
        s.apply_env(|k| (k == "CLAUDE_MEM_AUTOSTART").then(|| " OFF ".to_owned()))
            .unwrap();
        assert!(!s.worker.autostart);
    }

    #[test]
    fn secret_variables_only_fill_a_key_the_file_lacks() {
        let env = |anthropic: &'static str, openai: &'static str| {
            move |k: &str| match k {
                "ANTHROPIC_API_KEY" => Some(anthropic.to_owned()),
                "CLAUDE_MEM_OPENAI_API_KEY" => Some(openai.to_owned()),
                _ => None,
            }
        };
        let mut s = Settings::default();
        s.apply_env(env(" sk-ant ", "  ")).unwrap();
        assert_eq!(s.compression.anthropic_api_key.as_deref(), Some("sk-ant"));
        assert_eq!(
            s.compression.openai_api_key, None,
            "a blank variable is no key"
        );
        let mut s = Settings::default();
        s.compression.anthropic_api_key = Some("from-file".into());
        s.compression.openai_api_key = Some("from-file".into());
        s.apply_env(env("sk-env", "sk-env")).unwrap();
        assert_eq!(
            s.compression.anthropic_api_key.as_deref(),
            Some("from-file")
        );
        assert_eq!(s.compression.openai_api_key.as_deref(), Some("from-file"));
        // A blank key in the file is no key: the variable supplies one.
        let mut s = Settings::default();
        s.compression.anthropic_api_key = Some(" ".into());
        s.apply_env(env("sk-env", "")).unwrap();
        assert_eq!(s.compression.anthropic_api_key.as_deref(), Some("sk-env"));
        // Text variables, unlike secrets, apply even when empty.
        let mut s = Settings::default();
        s.search.model_endpoint = "https://hf-mirror.com".into();
        s.apply_env(|k| (k == "CLAUDE_MEM_MODEL_ENDPOINT").then(String::new))
            .unwrap();
        assert_eq!(s.search.model_endpoint, "");
    }

    #[test]
    fn the_viewer_lists_the_same_fields_in_the_same_order() {
        let keys: Vec<&str> = fields(&Settings::default()).iter().map(|f| f.key).collect();
        assert_eq!(
            keys,
            [
                "port",
                "host",
                "log_level",
                "log_retention_days",
                "hook_timeout_ms",
                "worker.autostart",
                "capture.skip_tools",
                "capture.exclude",
                "compression.enabled",
                "compression.provider",
                "compression.language",
                "compression.mode",
                "compression.anthropic_model",
                "compression.anthropic_api_key",
                "compression.openai_base_url",
                "compression.openai_model",
                "compression.openai_api_key",
                "compression.claude_code_path",
                "compression.claude_code_model",
                "compression.daily_budget_usd",
                "compression.batch_size",
                "compression.batch_linger_ms",
                "compression.min_significance",
                "compression.summaries",
                "search.embedder",
                "search.model_download",
                "search.model_endpoint",
                "search.fusion",
                "search.text_weight",
                "search.vector_weight",
                "context.enabled",
                "context.budget_tokens",
                "context.max_observations",
                "context.prompt_recall",
                "context.file_context",
                "context.prompt_recall_budget_tokens",
            ]
        );
        // A key the page does not show is not one it can change.
        let changes = serde_json::json!({"max_body_bytes": 2048});
        let err = apply_changes(&Settings::default(), changes.as_object().unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a setting the viewer can change"),
            "{err}"
        );
    }
}
