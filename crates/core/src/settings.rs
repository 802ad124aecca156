//! User settings: `settings.json` in the data directory, overridden by `CLAUDE_MEM_*` environment variables.
//!
//! Unknown keys are kept (a newer version may have written them, and a downgrade must not erase them), the
//! file is always rewritten atomically (a crash mid-write must never leave half a config), and every value is
//! validated up front so the worker refuses to start on nonsense instead of failing later.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

mod capture;
mod context;
mod editor;
mod keys;
mod ops;
pub use capture::{CaptureSettings, DEFAULT_SKIP_TOOLS};
pub use context::{ContextSettings, LiveContextSettings, FILE_CONTEXT_CHARS};
pub use editor::{apply_changes, fields, fields_running, humanize, lookup, FieldInfo};
pub use keys::{EnvOverride, FieldKind, SettingKey, KEYS};
pub use ops::{BackupSettings, RetentionSettings, SecuritySettings};

pub const DEFAULT_PORT: u16 = 37777;
pub const DEFAULT_HOST: &str = "127.0.0.1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the worker listens on. Anything but loopback exposes prompts and tool output to the network.
    pub host: String,
    /// Port of the worker; Claude Code's http hooks are pointed at it by `claude-mem install`.
    pub port: u16,
    /// Largest hook body accepted. Tool output (a big `Read`) can be large, but a runaway payload must not
    /// exhaust memory.
    pub max_body_bytes: usize,
    /// Total budget of the `claude-mem hook` command, connect to answer. Claude Code waits for it.
    pub hook_timeout_ms: u64,
    /// `tracing` filter for the worker's logs (`info`, `debug`, `claude_mem_server=trace`, …).
    pub log_level: String,
    /// How many daily log files are kept in `logs/`.
    pub log_retention_days: u32,
    /// What is never stored: tools whose calls make no memory.
    pub capture: CaptureSettings,
    /// How hook events become observations: which LLM (if any), batching, retries, budget, prices.
    pub compression: CompressionSettings,
    /// Embeddings and hybrid ranking.
    pub search: SearchSettings,
    /// What is recalled into Claude's context (SessionStart, optionally each prompt).
    pub context: ContextSettings,
    /// Rate limits and extra CORS origins.
    pub security: SecuritySettings,
    /// Scheduled backups.
    pub backup: BackupSettings,
    /// Scheduled pruning of old memories.
    pub retention: RetentionSettings,
    /// How the worker comes to be running (started by the SessionStart hook when none answers).
    pub worker: WorkerSettings,
    /// Keys this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            max_body_bytes: 8 * 1024 * 1024,
            hook_timeout_ms: 1000,
            log_level: "info".to_owned(),
            log_retention_days: 14,
            capture: CaptureSettings::default(),
            compression: CompressionSettings::default(),
            search: SearchSettings::default(),
            context: ContextSettings::default(),
            security: SecuritySettings::default(),
            backup: BackupSettings::default(),
            retention: RetentionSettings::default(),
            worker: WorkerSettings::default(),
            extra: Map::new(),
        }
    }
}

/// `worker.*`: how a worker comes to be running when none is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// The SessionStart hook starts a worker (detached: the desktop app headless, else `claude-mem
    /// serve`) when nothing answers on the port. On by default because a worker that is not running
    /// loses every event of the session; off for machines where a service manager (`claude-mem install
    /// --service`) or the user starts it, and in tests. `CLAUDE_MEM_AUTOSTART=0|1` overrides it.
    pub autostart: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            autostart: true,
            extra: Map::new(),
        }
    }
}

pub const EMBEDDERS: [&str; 4] = ["auto", "minilm", "hash", "openai"];
/// `search.model_download` values.
pub const MODEL_DOWNLOADS: [&str; 2] = ["auto", "off"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchSettings {
    /// `auto` (the local MiniLM model when installed, else hashing), `minilm`, `hash`, or `openai` (any
    /// OpenAI-compatible embeddings API). Changing it rebuilds the vector index.
    pub embedder: String,
    /// Where the all-MiniLM-L6-v2 files are; relative paths are inside the data directory.
    pub model_dir: String,
    /// `auto`: with `embedder = auto` and no model installed, the worker downloads all-MiniLM-L6-v2 in
    /// the background (pinned revision and SHA-256s) and switches to it; `off`: never touches the
    /// network for it (air-gapped machines, CI, tests), the hashing fallback stays until `claude-mem
    /// models download` or `models install`. `CLAUDE_MEM_MODEL_DOWNLOAD` overrides it.
    pub model_download: String,
    /// Where the model is downloaded from: a Hugging Face mirror's base URL. Empty: `HF_ENDPOINT`,
    /// else https://huggingface.co. `CLAUDE_MEM_MODEL_ENDPOINT` overrides it.
    pub model_endpoint: String,
    pub openai_base_url: String,
    pub openai_model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_api_key: Option<String>,
    /// Dimension of the OpenAI-compatible model's vectors (text-embedding-3-small: 1536).
    pub openai_dim: usize,
    /// `weighted` (normalised scores, `text_weight`/`vector_weight`) or `rrf` (reciprocal-rank fusion).
    pub fusion: String,
    pub text_weight: f32,
    pub vector_weight: f32,
    pub rrf_k: f32,
    /// How each memory's vector is kept in the database: `f32` (exact) or `int8` (one scale per vector,
    /// a quarter of the bytes). The graph is built from what is stored. `CLAUDE_MEM_VECTOR_ENCODING`
    /// overrides it.
    pub vector_encoding: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            embedder: "auto".into(),
            model_dir: "models/all-MiniLM-L6-v2".into(),
            model_download: "auto".into(),
            model_endpoint: String::new(),
            openai_base_url: "http://127.0.0.1:11434/v1".into(),
            openai_model: "nomic-embed-text".into(),
            openai_api_key: None,
            openai_dim: 768,
            fusion: "weighted".into(),
            text_weight: 0.3,
            vector_weight: 0.7,
            rrf_k: 60.0,
            vector_encoding: "f32".into(),
            extra: Map::new(),
        }
    }
}

impl SearchSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &str, message: String| {
            Err(SettingsError::Invalid {
                field: format!("search.{field}"),
                message,
            })
        };
        if crate::store::VectorEncoding::parse(&self.vector_encoding).is_none() {
            return invalid(
                "vector_encoding",
                format!("{:?} is not f32 or int8", self.vector_encoding),
            );
        }
        if !EMBEDDERS.contains(&self.embedder.as_str()) {
            return invalid(
                "embedder",
                format!("{:?} is not one of {EMBEDDERS:?}", self.embedder),
            );
        }
        if !MODEL_DOWNLOADS.contains(&self.model_download.as_str()) {
            return invalid(
                "model_download",
                format!(
                    "{:?} is not one of {MODEL_DOWNLOADS:?}",
                    self.model_download
                ),
            );
        }
        let endpoint = self.model_endpoint.trim();
        let url = endpoint.starts_with("http://") || endpoint.starts_with("https://");
        if !(endpoint.is_empty() || url) {
            return invalid(
                "model_endpoint",
                format!("{endpoint:?} is not an http:// or https:// URL (or empty)"),
            );
        }
        if !["weighted", "rrf"].contains(&self.fusion.as_str()) {
            return invalid(
                "fusion",
                format!("{:?} is not \"weighted\" or \"rrf\"", self.fusion),
            );
        }
        for (field, w) in [
            ("text_weight", self.text_weight),
            ("vector_weight", self.vector_weight),
        ] {
            if !(0.0..=1.0).contains(&w) {
                return invalid(field, format!("{w} is outside 0..=1"));
            }
        }
        if !(1.0..=1000.0).contains(&self.rrf_k) {
            return invalid("rrf_k", format!("{} is outside 1..=1000", self.rrf_k));
        }
        if !(8..=8192).contains(&self.openai_dim) {
            return invalid(
                "openai_dim",
                format!("{} is outside 8..=8192", self.openai_dim),
            );
        }
        Ok(())
    }

    /// The model directory, resolved against the data directory when relative.
    pub fn model_path(&self, data_dir: &std::path::Path) -> std::path::PathBuf {
        let p = std::path::Path::new(&self.model_dir);
        if p.is_absolute() {
            p.to_owned()
        } else {
            data_dir.join(p)
        }
    }
}

pub const PROVIDERS: [&str; 5] = ["auto", "local", "anthropic", "openai", "claude-code"];
/// `compression.mode` values.
pub const COMPRESSION_MODES: [&str; 4] = ["code", "concise", "verbose", "custom"];
/// Languages the local compressor's templates and the context block's fixed text are written in.
pub const LOCAL_LANGUAGES: [&str; 2] = ["en", "zh"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompressionSettings {
    /// Off: events are captured and kept pending, nothing is compressed until it is turned back on.
    pub enabled: bool,
    /// `auto` (Anthropic when an API key is set, else a logged-in Claude Code CLI, else local rules),
    /// `local`, `anthropic`, `openai` (any OpenAI-compatible server: Ollama, vLLM, LM Studio, OpenRouter)
    /// or `claude-code` (the user's own `claude` CLI, headless, on their Claude plan).
    pub provider: String,
    /// A Haiku-class model keeps per-observation cost around a tenth of a cent; Sonnet/Opus are selectable.
    pub anthropic_model: String,
    /// Change for a proxy or gateway.
    pub anthropic_base_url: String,
    /// Prefer the `ANTHROPIC_API_KEY` environment variable; a key here is stored in plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anthropic_api_key: Option<String>,
    pub openai_base_url: String,
    pub openai_model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_api_key: Option<String>,
    /// The `claude` CLI for the `claude-code` provider; empty: `claude` on PATH (or where its installers
    /// put it).
    pub claude_code_path: String,
    /// The model the `claude-code` provider asks for: an alias (`haiku`, `sonnet`) or a full model id.
    pub claude_code_model: String,
    pub max_tokens: u32,
    /// Events per LLM call: larger batches amortise the (cached) system prompt.
    pub batch_size: i64,
    /// How long a session's events may wait for more to join their batch.
    pub batch_linger_ms: i64,
    /// 0–1: tool events scoring below this make no observation (a plain `ls`, a read of a missing file).
    pub min_significance: f32,
    /// Tries before an event is parked as `failed`.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt (capped at 10 minutes), or longer if the provider asks.
    pub retry_base_ms: i64,
    /// Past this spend per UTC day the local compressor takes over until midnight.
    pub daily_budget_usd: f64,
    pub request_timeout_ms: u64,
    /// Write a summary at each Stop / SessionEnd.
    pub summaries: bool,
    /// Longest text of one event sent to the LLM; big tool outputs are cut to this.
    pub max_event_chars: usize,
    /// USD per million tokens by model id (longest prefix wins); models not listed cost 0.
    pub pricing: std::collections::BTreeMap<String, claude_mem_llm::Pricing>,
    /// The language observations, summaries and the context block's fixed text are written in: a BCP-47
    /// tag such as `en` or `zh`. LLM compressors write any language; the local rules' templates know
    /// [`LOCAL_LANGUAGES`] and fall back to English for the rest.
    pub language: String,
    /// How much a memory says: `code` (the default, for coding work), `concise`, `verbose`, or `custom`
    /// (the prompt in `<data dir>/prompts/compression.md` replaces the built-in instructions).
    pub mode: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for CompressionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            provider: "auto".into(),
            anthropic_model: "claude-haiku-4-5".into(),
            anthropic_base_url: "https://api.anthropic.com".into(),
            anthropic_api_key: None,
            openai_base_url: "http://127.0.0.1:11434/v1".into(),
            openai_model: "llama3.1:8b".into(),
            openai_api_key: None,
            claude_code_path: String::new(),
            claude_code_model: "haiku".into(),
            max_tokens: 4096,
            batch_size: 20,
            batch_linger_ms: 1500,
            min_significance: 0.3,
            max_attempts: 5,
            retry_base_ms: 2000,
            daily_budget_usd: 1.0,
            request_timeout_ms: 60_000,
            summaries: true,
            max_event_chars: 4000,
            pricing: claude_mem_llm::default_pricing(),
            language: "en".into(),
            mode: "code".into(),
            extra: Map::new(),
        }
    }
}

impl CompressionSettings {
    pub fn processor_config(&self) -> crate::processor::ProcessorConfig {
        crate::processor::ProcessorConfig {
            batch_size: self.batch_size,
            linger_ms: self.batch_linger_ms,
            max_attempts: self.max_attempts,
            retry_base_ms: self.retry_base_ms,
            daily_budget_usd: self.daily_budget_usd,
            summaries: self.summaries,
            min_significance: self.min_significance,
            language: self.language_code(),
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &str, message: String| {
            Err(SettingsError::Invalid {
                field: format!("compression.{field}"),
                message,
            })
        };
        if !PROVIDERS.contains(&self.provider.as_str()) {
            return invalid(
                "provider",
                format!("{:?} is not one of {PROVIDERS:?}", self.provider),
            );
        }
        for (field, url) in [
            ("anthropic_base_url", &self.anthropic_base_url),
            ("openai_base_url", &self.openai_base_url),
        ] {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            let Some(rest) = rest else {
                return invalid(
                    field,
                    format!("{url:?} must start with http:// or https://"),
                );
            };
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return invalid(field, format!("{url:?} is not a URL with a host"));
            }
        }
        if self.claude_code_model.trim().is_empty()
            || self.claude_code_model.chars().any(char::is_whitespace)
        {
            return invalid(
                "claude_code_model",
                format!(
                    "{:?} is not a model alias or id such as \"haiku\"",
                    self.claude_code_model
                ),
            );
        }
        if !(64..=128_000).contains(&self.max_tokens) {
            return invalid(
                "max_tokens",
                format!("{} is outside 64..=128000", self.max_tokens),
            );
        }
        if !(1..=500).contains(&self.batch_size) {
            return invalid(
                "batch_size",
                format!("{} is outside 1..=500", self.batch_size),
            );
        }
        if !(0..=3_600_000).contains(&self.batch_linger_ms) {
            return invalid(
                "batch_linger_ms",
                format!("{} is outside 0..=3600000", self.batch_linger_ms),
            );
        }
        if !(0.0..=1.0).contains(&self.min_significance) {
            return invalid(
                "min_significance",
                format!("{} is outside 0..=1", self.min_significance),
            );
        }
        if !(1..=100).contains(&self.max_attempts) {
            return invalid(
                "max_attempts",
                format!("{} is outside 1..=100", self.max_attempts),
            );
        }
        if !(0..=3_600_000).contains(&self.retry_base_ms) {
            return invalid(
                "retry_base_ms",
                format!("{} is outside 0..=3600000", self.retry_base_ms),
            );
        }
        if !(self.daily_budget_usd >= 0.0 && self.daily_budget_usd.is_finite()) {
            return invalid("daily_budget_usd", "must be a non-negative number".into());
        }
        if !(100..=600_000).contains(&self.request_timeout_ms) {
            return invalid(
                "request_timeout_ms",
                format!("{} is outside 100..=600000", self.request_timeout_ms),
            );
        }
        if !(200..=200_000).contains(&self.max_event_chars) {
            return invalid(
                "max_event_chars",
                format!("{} is outside 200..=200000", self.max_event_chars),
            );
        }
        if !COMPRESSION_MODES.contains(&self.mode.as_str()) {
            return invalid(
                "mode",
                format!("{:?} is not one of {COMPRESSION_MODES:?}", self.mode),
            );
        }
        let lang = self.language.trim();
        if lang.is_empty()
            || lang.len() > 35
            || !lang
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return invalid(
                "language",
                format!(
                    "{:?} is not a language tag such as \"en\" or \"zh\"",
                    self.language
                ),
            );
        }
        for (model, p) in &self.pricing {
            let all = [
                p.input_per_mtok,
                p.output_per_mtok,
                p.cache_write_per_mtok,
                p.cache_read_per_mtok,
            ];
            if all.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return invalid(
                    "pricing",
                    format!("prices for {model:?} must be non-negative numbers"),
                );
            }
        }
        Ok(())
    }

    /// The primary language subtag, lowercased (`zh-CN` → `zh`): what the local templates switch on.
    pub fn language_code(&self) -> String {
        let lang = self.language.trim();
        lang.split(['-', '_'])
            .next()
            .unwrap_or(lang)
            .to_ascii_lowercase()
    }

    /// The Anthropic key in effect: settings first, then `ANTHROPIC_API_KEY`.
    pub fn anthropic_key(&self) -> Option<&str> {
        self.anthropic_api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid settings JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid setting {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("environment variable {var}={value:?} is invalid: {message}")]
    Env {
        var: String,
        value: String,
        message: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Settings {
    /// Reads `path`; a missing file means all defaults. Does not apply environment overrides.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let settings: Settings =
            serde_json::from_str(&text).map_err(|source| SettingsError::Parse {
                path: path.to_owned(),
                source,
            })?;
        settings.validate()?;
        Ok(settings)
    }

    /// `settings.json.last-good` beside `path`: the last file a start found valid.
    pub fn last_good_path(path: &Path) -> PathBuf {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "settings.json".into());
        path.with_file_name(format!("{name}.last-good"))
    }

    /// Reads `path` the way a start must: whatever the file holds, the answer is valid settings. A key
    /// whose value is refused (a wrong type, a value out of range, a log filter that does not parse)
    /// keeps its value from `settings.json.last-good` (else its default), key by key, so one bad key
    /// costs only that key; a file that is not JSON at all is replaced by the last good one whole. The
    /// second value says, one line per key, what was wrong and what is used instead (empty: the file
    /// was fine). Nothing is written: see [`Settings::remember_last_good`].
    pub fn load_resilient(path: &Path) -> (Self, Vec<String>) {
        if let Ok(s) = Self::load(path) {
            return (s, Vec::new());
        }
        let mut warnings = Vec::new();
        let base = Self::load(&Self::last_good_path(path)).ok();
        let fallback_name = if base.is_some() {
            "the last good value"
        } else {
            "the default"
        };
        let base = base.unwrap_or_default();
        let file: Value = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(Value::Object(o)) => Value::Object(o),
            Ok(_) => {
                warnings.push(format!(
                    "{} is not a JSON object; every setting uses {fallback_name}",
                    path.display()
                ));
                return (base, warnings);
            }
            Err(e) => {
                warnings.push(format!(
                    "{} cannot be read as settings JSON ({e}); every setting uses {fallback_name}",
                    path.display()
                ));
                return (base, warnings);
            }
        };
        let mut merged = serde_json::to_value(&base).unwrap_or(Value::Object(Map::new()));
        let mut leaves = Vec::new();
        collect_leaves(&file, &mut Vec::new(), &mut leaves);
        for (key, value) in leaves {
            let mut candidate = merged.clone();
            set_leaf(&mut candidate, &key, value.clone());
            let checked = serde_json::from_value::<Settings>(candidate.clone())
                .map_err(|e| e.to_string())
                .and_then(|s| s.validate().map_err(|e| e.to_string()));
            match checked {
                Ok(()) => merged = candidate,
                Err(e) => warnings.push(format!(
                    "setting {} = {value} in {} is invalid ({e}); using {fallback_name}",
                    key.join("."),
                    path.display()
                )),
            }
        }
        let settings = serde_json::from_value::<Settings>(merged)
            .ok()
            .filter(|s| s.validate().is_ok())
            .unwrap_or(base);
        (settings, warnings)
    }

    /// [`Settings::load_resilient`], then the `CLAUDE_MEM_*` overrides; an override that is refused is
    /// left out (and reported) rather than stopping the start. What a worker starts with.
    pub fn load_effective_resilient(path: &Path) -> (Self, Vec<String>) {
        let (settings, mut warnings) = Self::load_resilient(path);
        let mut with_env = settings.clone();
        let applied = with_env
            .apply_env(|var| std::env::var(var).ok())
            .and_then(|()| with_env.validate());
        let settings = match applied {
            Ok(()) => with_env,
            Err(e) => {
                warnings.push(format!(
                    "{e}; the environment's overrides are ignored until it is fixed"
                ));
                settings
            }
        };
        set_load_warnings(&warnings);
        (settings, warnings)
    }

    /// Keeps a copy of a valid `path` as `settings.json.last-good` (0600: it may hold API keys), for the
    /// next start that finds the file broken. Does nothing when the file is invalid or the copy is the
    /// same.
    pub fn remember_last_good(path: &Path) -> std::io::Result<()> {
        if Self::load(path).is_err() {
            return Ok(());
        }
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(());
        };
        let copy = Self::last_good_path(path);
        if std::fs::read(&copy).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        crate::paths::write_atomically_with_mode(&copy, &bytes, 0o600)
    }

    /// What the worker actually runs with: the file, then `CLAUDE_MEM_*` overrides, validated.
    pub fn load_effective(path: &Path) -> Result<Self, SettingsError> {
        let mut settings = Self::load(path)?;
        settings.apply_env(|var| std::env::var(var).ok())?;
        settings.validate()?;
        Ok(settings)
    }

    /// Environment overrides, read through `lookup` so tests need not mutate the process environment.
    /// Every variable of [`KEYS`] that is set is read as its row says ([`SettingKey::env_value`]) and
    /// put at its key with the setter the viewer's edits use. A value of the wrong type is refused,
    /// naming the variable, and leaves the settings with the overrides before it in the table applied;
    /// whether a value is acceptable is [`Settings::validate`]'s to say, as for the file.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), SettingsError> {
        let mut tree: Option<Value> = None;
        for row in KEYS {
            let Some(var) = row.env.var() else { continue };
            let Some(raw) = lookup(var) else { continue };
            let root = tree.get_or_insert_with(|| serde_json::to_value(&*self).unwrap_or_default());
            let refused = |message: String| SettingsError::Env {
                var: var.to_owned(),
                value: raw.clone(),
                message,
            };
            let Some(value) = row
                .env_value(&raw, editor::lookup(root, row.key))
                .map_err(refused)?
            else {
                continue;
            };
            let mut candidate = root.clone();
            editor::set_key(&mut candidate, row.key, value).map_err(refused)?;
            // Checked one variable at a time, so the error names the variable and not just a value.
            *self = serde_json::from_value(candidate.clone())
                .map_err(|e| refused(humanize(&e.to_string())))?;
            *root = candidate;
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &str, message: String| {
            Err(SettingsError::Invalid {
                field: field.to_owned(),
                message,
            })
        };
        if self.host.parse::<IpAddr>().is_err() && self.host != "localhost" {
            return invalid(
                "host",
                format!("{:?} is not an IP address or \"localhost\"", self.host),
            );
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            return invalid(
                "max_body_bytes",
                format!("{} is outside 1024..=67108864", self.max_body_bytes),
            );
        }
        if !(50..=60_000).contains(&self.hook_timeout_ms) {
            return invalid(
                "hook_timeout_ms",
                format!("{} is outside 50..=60000", self.hook_timeout_ms),
            );
        }
        if self.port == 0 {
            // 0 would listen on a random port while hooks keep posting to :0.
            return invalid("port", "0 is outside 1..=65535".into());
        }
        if self.log_level.trim().is_empty() {
            return invalid("log_level", "must not be empty".into());
        }
        if let Err(message) = check_log_filter(&self.log_level) {
            return invalid("log_level", message);
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return invalid(
                "log_level",
                format!(
                    "{:?} is not a log filter such as \"info\" or \"claude_mem_server=debug\": {e}",
                    self.log_level
                ),
            );
        }
        if !(1..=3650).contains(&self.log_retention_days) {
            return invalid(
                "log_retention_days",
                format!("{} is outside 1..=3650", self.log_retention_days),
            );
        }
        self.capture.validate()?;
        self.compression.validate()?;
        self.context.validate()?;
        self.security.validate()?;
        self.backup.validate()?;
        self.retention.validate()?;
        self.search.validate()
    }

    /// Validates, then replaces `path` atomically (temp file in the same directory, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        self.validate()?;
        let write_err = |source| SettingsError::Write {
            path: path.to_owned(),
            source,
        };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| write_err(e.into()))?;
        text.push('\n');
        write_atomically(path, text.as_bytes()).map_err(write_err)
    }

    /// The loopback URL hooks and the CLI use to reach the worker.
    pub fn worker_url(&self) -> String {
        let host = match self.host.as_str() {
            "0.0.0.0" | "localhost" => "127.0.0.1",
            "::" => "::1",
            other => other,
        };
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("http://[{v6}]:{}", self.port),
            _ => format!("http://{host}:{}", self.port),
        }
    }
}

/// Levels a log filter may name, quietest last.
pub const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Checks a `log_level` more strictly than `tracing`'s parser, which takes almost any word as a module
/// name: "verbose!!" parses as "everything in a module called verbose!!", so the worker started and
/// logged nothing at all. Each comma-separated part must be a level (`info`) or `module=level`
/// (`claude_mem_server=debug`, optionally with a `[span]`); the error is a sentence a user can act on.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    let levels = LOG_LEVELS.join(", ");
    let is_level = |s: &str| LOG_LEVELS.contains(&s.trim().to_ascii_lowercase().as_str());
    for part in filter.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.rsplit_once('=') {
            None if is_level(part) => {}
            None => {
                return Err(format!(
                    "{part:?} is not a log level: use one of {levels}, or module=level such as claude_mem_server=debug"
                ))
            }
            Some((target, level)) => {
                if !is_level(level) {
                    return Err(format!(
                        "{level:?} in {part:?} is not a log level: use one of {levels}"
                    ));
                }
                let module = target.split('[').next().unwrap_or("").trim();
                let name_ok = module
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'));
                if module.is_empty() && !target.trim_start().starts_with('[') || !name_ok {
                    return Err(format!(
                        "{target:?} in {part:?} is not a module name such as claude_mem_server"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The problems the last [`Settings::load_effective_resilient`] found (what `/api/health` reports).
static LOAD_WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn set_load_warnings(warnings: &[String]) {
    if let Ok(mut w) = LOAD_WARNINGS.lock() {
        *w = warnings.to_vec();
    }
}

/// What was wrong with the settings this process started with, one line per key (empty: nothing).
pub fn load_warnings() -> Vec<String> {
    LOAD_WARNINGS.lock().map(|w| w.clone()).unwrap_or_default()
}

fn collect_leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                path.push(k.clone());
                collect_leaves(v, path, out);
                path.pop();
            }
        }
        other => out.push((path.clone(), other.clone())),
    }
}

fn set_leaf(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        node = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert(last.clone(), value);
    }
}

/// Replaces `path` atomically, keeping its mode (a new file is 0600): [`crate::paths::write_atomically`].
pub use crate::paths::write_atomically;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(&dir.path().join("settings.json")).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.port, 37777);
    }

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"port": 40000, "future_feature": {"on": true}}"#).unwrap();
        let s = Settings::load(&path).unwrap();
        assert_eq!(s.port, 40000);
        s.save(&path).unwrap();
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(raw["future_feature"]["on"], Value::Bool(true));
        assert_eq!(raw["port"], 40000);
        assert_eq!(raw["host"], "127.0.0.1");
    }

    #[test]
    fn wrong_types_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"port": "high"}"#).unwrap();
        assert!(matches!(
            Settings::load(&path),
            Err(SettingsError::Parse { .. })
        ));
        std::fs::write(&path, r#"{"host": "not an address"}"#).unwrap();
        assert!(matches!(
            Settings::load(&path),
            Err(SettingsError::Invalid { field, .. }) if field == "host"
        ));
        std::fs::write(&path, r#"{"hook_timeout_ms": 0}"#).unwrap();
        assert!(Settings::load(&path).is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let env: HashMap<&str, &str> = [("CLAUDE_MEM_PORT", "41000"), ("CLAUDE_MEM_HOST", "::1")]
            .into_iter()
            .collect();
        let mut s = Settings::default();
        s.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.port, 41000);
        assert_eq!(s.worker_url(), "http://[::1]:41000");
        let bad: HashMap<&str, &str> = [("CLAUDE_MEM_PORT", "seventy")].into_iter().collect();
        let err = s
            .apply_env(|k| bad.get(k).map(|v| v.to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("CLAUDE_MEM_PORT"));
    }

    #[test]
    fn skip_tools_default_to_the_originals_and_are_validated() {
        let s = Settings::default();
        assert_eq!(s.capture.skip_tools, DEFAULT_SKIP_TOOLS);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(
            &path,
            r#"{"capture": {"skip_tools": ["Read", "mcp__github__*"]}}"#,
        )
        .unwrap();
        assert_eq!(
            Settings::load(&path).unwrap().capture.skip_tools,
            ["Read", "mcp__github__*"]
        );
        for bad in [
            r#"[""]"#,
            r#"["Todo Write"]"#,
            r#"["mcp__*__x"]"#,
            r#"["a**"]"#,
        ] {
            std::fs::write(&path, format!(r#"{{"capture": {{"skip_tools": {bad}}}}}"#)).unwrap();
            assert!(
                matches!(Settings::load(&path), Err(SettingsError::Invalid { field, .. }) if field == "capture.skip_tools"),
                "{bad}"
            );
        }
        std::fs::write(&path, r#"{"capture": {"skip_tools": "TodoWrite"}}"#).unwrap();
        assert!(matches!(
            Settings::load(&path),
            Err(SettingsError::Parse { .. })
        ));

        let mut s = Settings::default();
        s.apply_env(|k| (k == "CLAUDE_MEM_SKIP_TOOLS").then(|| " Read, ,Grep ".to_owned()))
            .unwrap();
        assert_eq!(s.capture.skip_tools, ["Read", "Grep"]);
        s.apply_env(|k| (k == "CLAUDE_MEM_SKIP_TOOLS").then(String::new))
            .unwrap();
        assert!(s.capture.skip_tools.is_empty());
    }

    #[test]
    fn log_filters_ports_and_urls_are_validated() {
        let field_of = |s: &Settings| match s.validate() {
            Err(SettingsError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let s = Settings {
            log_level: "x=nope".into(),
            ..Default::default()
        };
        assert_eq!(field_of(&s), "log_level");
        let s = Settings {
            port: 0,
            ..Default::default()
        };
        assert_eq!(field_of(&s), "port");
        let mut s = Settings::default();
        s.compression.openai_base_url = "http://".into();
        assert_eq!(field_of(&s), "compression.openai_base_url");
        let s = Settings {
            log_level: "info,claude_mem_server=debug".into(),
            ..Default::default()
        };
        assert!(s.validate().is_ok());
        // tracing takes these as module names and the worker then logs nothing: refused, with a sentence.
        for bad in [
            "verbose!!",
            "verbose",
            "info,chatty",
            "claude_mem_server=loud",
            "=info",
        ] {
            let s = Settings {
                log_level: bad.into(),
                ..Default::default()
            };
            match s.validate() {
                Err(SettingsError::Invalid { field, message }) => {
                    assert_eq!(field, "log_level", "{bad}");
                    assert!(
                        message.contains("log level") || message.contains("module"),
                        "{bad}: {message}"
                    );
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        for good in [
            "WARN",
            "off",
            "claude_mem_server::worker=trace,warn",
            "tower_http[request]=debug",
        ] {
            assert_eq!(check_log_filter(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn a_bad_key_at_start_keeps_the_last_good_value_and_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"port": 40001, "log_level": "debug"}"#).unwrap();
        Settings::remember_last_good(&path).unwrap();
        std::fs::write(
            &path,
            r#"{"port": 0, "log_level": "x=nope", "hook_timeout_ms": 900, "context": {"budget_tokens": "lots"}}"#,
        )
        .unwrap();
        assert!(Settings::load(&path).is_err());
        let (s, warnings) = Settings::load_resilient(&path);
        assert_eq!(s.port, 40001, "the last good port");
        assert_eq!(s.log_level, "debug");
        assert_eq!(s.hook_timeout_ms, 900, "good keys still apply");
        assert_eq!(
            s.context.budget_tokens,
            Settings::default().context.budget_tokens
        );
        let all = warnings.join("\n");
        for key in [
            "setting port",
            "setting log_level",
            "setting context.budget_tokens",
        ] {
            assert!(all.contains(key), "{key} not named in {all}");
        }
        assert_eq!(warnings.len(), 3, "{all}");
        // Not JSON at all: the last good file whole.
        std::fs::write(&path, "{ not json").unwrap();
        let (s, warnings) = Settings::load_resilient(&path);
        assert_eq!((s.port, warnings.len()), (40001, 1));
        // No last good copy: defaults for the bad key.
        std::fs::remove_file(Settings::last_good_path(&path)).unwrap();
        std::fs::write(&path, r#"{"port": 0}"#).unwrap();
        assert_eq!(Settings::load_resilient(&path).0.port, DEFAULT_PORT);
    }

    #[test]
    fn save_is_atomic_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/settings.json");
        Settings::default().save(&path).unwrap();
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("settings.json")]);
    }

    #[test]
    fn autostart_is_on_by_default_and_the_environment_turns_it_off() {
        assert!(Settings::default().worker.autostart);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"worker": {"autostart": false, "future": 1}}"#).unwrap();
        let s = Settings::load(&path).unwrap();
        assert!(!s.worker.autostart);
        assert_eq!(s.worker.extra["future"], 1, "unknown worker keys are kept");
        for (value, want) in [("0", false), ("off", false), ("1", true), ("true", true)] {
            let mut s = Settings::default();
            s.worker.autostart = !want;
            s.apply_env(|k| (k == "CLAUDE_MEM_AUTOSTART").then(|| value.to_owned()))
                .unwrap();
            assert_eq!(s.worker.autostart, want, "{value}");
        }
        let err = Settings::default()
            .apply_env(|k| (k == "CLAUDE_MEM_AUTOSTART").then(|| "maybe".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("CLAUDE_MEM_AUTOSTART"), "{err}");
        let changes = serde_json::json!({"worker.autostart": false});
        let (edited, restart) =
            apply_changes(&Settings::default(), changes.as_object().unwrap()).unwrap();
        assert!(!edited.worker.autostart);
        assert!(restart.is_empty(), "the hook reads it on every run");
    }

    #[test]
    fn model_download_settings_validate_and_take_the_environment() {
        let s = Settings::default();
        assert_eq!(
            (
                s.search.model_download.as_str(),
                s.search.model_endpoint.as_str()
            ),
            ("auto", "")
        );
        let mut s = Settings::default();
        s.apply_env(|k| match k {
            "CLAUDE_MEM_MODEL_DOWNLOAD" => Some(" off ".to_owned()),
            "CLAUDE_MEM_MODEL_ENDPOINT" => Some("https://hf-mirror.com".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.search.model_download, "off");
        assert_eq!(s.search.model_endpoint, "https://hf-mirror.com");
        s.validate().unwrap();
        s.search.model_download = "sometimes".into();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("search.model_download"), "{err}");
        s.search.model_download = "auto".into();
        s.search.model_endpoint = "hf-mirror.com".into();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("search.model_endpoint"), "{err}");
        let changes = serde_json::json!({"search.model_download": "off"});
        let (edited, restart) =
            apply_changes(&Settings::default(), changes.as_object().unwrap()).unwrap();
        assert_eq!(edited.search.model_download, "off");
        assert_eq!(restart, vec!["search.model_download".to_owned()]);
    }
}
