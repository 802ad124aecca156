//! The LLM compressor: one structured-output call per batch of events (and one per summary), on any
//! [`StructuredLlm`] provider.
//!
//! The system prompt and tool schema never change, so they form a cacheable prefix (Anthropic's
//! `cache_control: ephemeral` is set by the client): after the first call of a session only the events
//! are paid at the full input price.

use super::local::clip;
use super::{CompressError, Compressed, Compressor, Summarized};
use crate::model::{
    ObservationDraft, ObservationType, QueuedEvent, SessionContext, SummaryDraft, UsageRecord,
};
use async_trait::async_trait;
use claude_mem_llm::{
    price_for, LlmError, Pricing, StructuredLlm, StructuredRequest, ToolSpec, Usage,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub const OBSERVATION_TOOL: &str = "record_observations";
pub const SUMMARY_TOOL: &str = "record_summary";

/// What the observation prompt opens with, whatever the mode.
const INTRO: &str = "You are the memory of a coding assistant. You watch what Claude Code did \
in a software project (tool calls: file reads and edits, shell commands and their output, searches, web \
lookups, MCP tools) and write short, durable memories (\"observations\") that will help a future session \
of the same project pick up the work without re-reading everything.

";

/// The built-in judgement of `compression.mode = code` (the default): how many observations, how long.
const CODE_GUIDE: &str = "Write observations the way a senior engineer writes a good commit message or \
engineering log entry:
- One observation per meaningful unit of work or discovery. Merge related events (several edits to one \
file for one purpose, a failing test followed by its fix) into one observation. Do not write one per event.
- Skip noise: listing directories, printing the working directory, reading a file without learning \
anything, trivial commands that succeeded, failed reads of files that do not exist. It is fine and \
expected to return an empty list when nothing in the batch is worth remembering.
";

/// `compression.mode = concise`: fewer, shorter memories.
const CONCISE_GUIDE: &str = "Write few, short observations, the way a busy engineer keeps a terse log:
- At most one or two observations per batch: merge everything that served one goal into one. Only work \
that changed the project, a decision, or a finding the next session would otherwise have to rediscover \
earns an observation.
- Skip noise and routine: listing directories, reading files, searches, passing test or lint runs, \
formatting. Returning an empty list is the common case.
- Keep it short: a title, a one-sentence narrative, at most three facts.
";

/// `compression.mode = verbose`: more detail, more facts.
const VERBOSE_GUIDE: &str = "Write detailed observations, the way an engineer keeps a thorough lab \
notebook:
- One observation per unit of work or discovery, including smaller findings (how a module is wired, what \
a command printed, which approach was tried and dropped). Merge only events that are one story.
- Skip only pure noise (listing directories, printing the working directory, failed reads of files that \
do not exist).
- Narratives of 3–6 sentences: what was done, why, how, and what was surprising. Up to 10 facts each: \
exact commands, error messages, versions, numbers, function and file names.
";

/// Field rules shared by every built-in mode.
const FIELDS: &str = "- `title`: at most 80 characters, specific and searchable (name the component, \
function or file), in the past tense for work done. Bad: \"Edited a file\". Good: \"Fixed off-by-one in \
Paginator::next_page cursor\".
- `subtitle`: one short line of extra context (at most 100 characters).
- `narrative`: 1–4 sentences: what was done or learned, why, and anything surprising. Mention the user's \
request when it explains the why.
- `facts`: short, self-contained, verifiable statements (file paths, function names, commands, error \
messages, versions, numbers). Each fact must make sense on its own.
- `files_read` / `files_modified`: paths relative to the project root when possible.
- `keywords`: identifiers and terms someone would search for (function, type, crate, command names) and \
the topics involved (authentication, caching, database-migration, build…).
- `source_event_ids`: the ids of the events the observation is based on (from the <event id=...> tags).
";

/// The contract every mode keeps, the custom one included: the vocabulary the schema enforces.
fn contract() -> String {
    format!(
        "- `type` is exactly one of: decision (a choice between alternatives, with the reason), bugfix (a \
defect found and fixed, with the cause), feature (new capability added), refactor (structure changed \
without behaviour change), discovery (something learned about the code, tools or environment: how \
something works, why a test fails, where a thing lives), change (other modifications: config, \
dependencies, docs, commits), security_alert (something that put the user at risk and needs a look: a \
secret that showed up in the input and had to be redacted, a risky command such as `curl … | sh`, \
`chmod 777`, disabling TLS or certificate checks, credentials committed or printed), security_note (a \
security-relevant fact worth knowing later with no harm done: how authentication works, where secrets \
are kept, which permissions a service needs).
- `concepts`: 0–3 of exactly these tags, for the kind of knowledge the observation holds: {}. how-it-works \
(how something works), why-it-exists (the reason behind a design or a piece of code), what-changed (a \
change worth knowing about), problem-solution (a problem and what solved it), gotcha (a trap the next \
session could fall into: surprising behaviour, a pitfall, a workaround that must stay; recall lists \
gotchas first), pattern (a convention or recurring approach of the codebase), trade-off (what was given \
up for what). Any other tag is dropped: put topics in `keywords`.
",
        super::CONCEPTS.join(", ")
    )
}

const SECRETS: &str = "Never copy secrets, tokens, passwords or keys into an observation, even if one \
slipped into the input; text like [REDACTED:...] marks a removed secret, keep it out of the memory (a \
security_alert may say that a secret of that kind was exposed and where, never its value). Be factual: \
never invent files, results or causes that the events do not show. Always answer by calling the tool.
";

/// The worked examples make the stable prefix (tools + system) longer than every current model's minimum
/// cacheable length (4,096 tokens for Haiku 4.5), so it is written to the cache once and then read at a
/// tenth of the input price, and they show the model the judgement we want.
const EXAMPLES: &str = include_str!("examples.md");

const SUMMARY_INTRO: &str = "You are the memory of a coding assistant. At the end of a turn of \
work in a software project you write a compact summary for the next session: what the user asked \
(request), what was looked at (investigated), what was learned (learned), what was finished (completed) \
and what is left or suggested next (next_steps).";

/// `compression.mode`: how much a memory says, or the user's own instructions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// The default: one observation per unit of work, for coding sessions.
    #[default]
    Code,
    /// Fewer, shorter observations.
    Concise,
    /// More observations, more detail and facts.
    Verbose,
    /// The text of `<data dir>/prompts/compression.md`, in place of the built-in guidance (the types,
    /// concepts, language and secrecy rules still apply).
    Custom(String),
}

/// What the LLM is told to write, and in which language: the part of the system prompts that settings
/// change. The prompts stay fixed for a compressor's lifetime, so they remain a cacheable prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instructions {
    /// A BCP-47 tag (`en`, `zh`, `pt-BR`).
    pub language: String,
    pub mode: Mode,
}

impl Default for Instructions {
    fn default() -> Self {
        Self {
            language: "en".into(),
            mode: Mode::Code,
        }
    }
}

/// English names of common languages by primary subtag, for the prompt ("Chinese (zh)"); other tags are
/// named by the tag alone, which models understand too.
const LANGUAGE_NAMES: &[(&str, &str)] = &[
    ("ar", "Arabic"),
    ("bg", "Bulgarian"),
    ("ca", "Catalan"),
    ("cs", "Czech"),
    ("da", "Danish"),
    ("de", "German"),
    ("el", "Greek"),
    ("en", "English"),
    ("es", "Spanish"),
    ("fa", "Persian"),
    ("fi", "Finnish"),
    ("fr", "French"),
    ("he", "Hebrew"),
    ("hi", "Hindi"),
    ("hu", "Hungarian"),
    ("id", "Indonesian"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("ms", "Malay"),
    ("nb", "Norwegian"),
    ("nl", "Dutch"),
    ("no", "Norwegian"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ro", "Romanian"),
    ("ru", "Russian"),
    ("sk", "Slovak"),
    ("sv", "Swedish"),
    ("th", "Thai"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("vi", "Vietnamese"),
    ("zh", "Chinese"),
];

/// `zh` → `Chinese (zh)`, `pt-BR` → `Portuguese (pt-BR)`, `tlh` → `the language tagged "tlh"`.
pub fn language_name(tag: &str) -> String {
    let tag = tag.trim();
    let primary = tag
        .split(['-', '_'])
        .next()
        .unwrap_or(tag)
        .to_ascii_lowercase();
    match LANGUAGE_NAMES.iter().find(|(code, _)| *code == primary) {
        Some((_, name)) => format!("{name} ({tag})"),
        None => format!("the language tagged \"{tag}\" (BCP 47)"),
    }
}

impl Instructions {
    /// From `compression.language` and `compression.mode`. `custom` reads `prompt_file`
    /// (`<data dir>/prompts/compression.md`): a missing, unreadable or empty file is an error the user
    /// must fix, refused at start like any other configuration error.
    pub fn from_settings(
        c: &crate::settings::CompressionSettings,
        prompt_file: &std::path::Path,
    ) -> Result<Self, String> {
        let mode = match c.mode.as_str() {
            "code" => Mode::Code,
            "concise" => Mode::Concise,
            "verbose" => Mode::Verbose,
            "custom" => {
                let text = std::fs::read_to_string(prompt_file).map_err(|e| {
                    format!(
                        "compression.mode is \"custom\" but its prompt {} cannot be read ({e}); \
                         write your instructions there or choose another mode",
                        prompt_file.display()
                    )
                })?;
                if text.trim().is_empty() {
                    return Err(format!(
                        "compression.mode is \"custom\" but its prompt {} is empty; write your \
                         instructions there or choose another mode",
                        prompt_file.display()
                    ));
                }
                Mode::Custom(text.trim().to_owned())
            }
            other => return Err(format!("unknown compression.mode {other:?}")),
        };
        let language = match c.language.trim() {
            "" => "en".to_owned(),
            l => l.to_owned(),
        };
        Ok(Self { language, mode })
    }

    fn is_english(&self) -> bool {
        self.language
            .split(['-', '_'])
            .next()
            .is_some_and(|p| p.eq_ignore_ascii_case("en"))
    }

    /// The sentence that sets the output language.
    fn language_rule(&self, what: &str) -> String {
        if self.is_english() {
            return "Write in English.".into();
        }
        let name = language_name(&self.language);
        format!(
            "Write every {what} in {name}. Keep identifiers, file paths, commands, error messages, code and \
             quoted output verbatim, as they appear in the events; `type` and `concepts` stay the fixed \
             English values above."
        )
    }

    /// The observation system prompt.
    pub fn system_prompt(&self) -> String {
        let mut out = String::from(INTRO);
        match &self.mode {
            Mode::Code => out.push_str(CODE_GUIDE),
            Mode::Concise => out.push_str(CONCISE_GUIDE),
            Mode::Verbose => out.push_str(VERBOSE_GUIDE),
            Mode::Custom(text) => {
                out.push_str("The user's own instructions for what to remember:\n\n");
                out.push_str(text);
                out.push_str("\n\nWhatever they say, the record must follow these rules:\n");
            }
        }
        out.push_str(&contract());
        if !matches!(self.mode, Mode::Custom(_)) {
            out.push_str(FIELDS);
        }
        out.push('\n');
        out.push_str(SECRETS);
        out.push_str(&self.language_rule(
            "title, subtitle, narrative and fact (and the topic keywords that are plain words)",
        ));
        out.push_str("\n\n");
        if !matches!(self.mode, Mode::Custom(_)) {
            if !self.is_english() {
                out.push_str(
                    "The worked examples below are in English to show the judgement; your observations \
                     are written in the language above.\n\n",
                );
            }
            out.push_str(EXAMPLES);
        }
        out
    }

    /// The summary system prompt.
    pub fn summary_prompt(&self) -> String {
        let length = match self.mode {
            Mode::Concise => "Each field is at most one plain sentence",
            Mode::Verbose => "Each field is 2–5 plain sentences",
            _ => "Each field is 1–3 plain sentences",
        };
        let language = if self.is_english() {
            "in English".to_owned()
        } else {
            format!(
                "written in {} (identifiers, paths, commands and error messages kept verbatim)",
                language_name(&self.language)
            )
        };
        format!(
            "{SUMMARY_INTRO} {length}, specific (name files, functions, commands, errors), factual (only \
             what the material shows), {language}, with no secrets. Leave a field empty when there is \
             nothing to say. Always answer by calling the tool."
        )
    }
}

fn string_array() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

pub fn observation_tool() -> ToolSpec {
    let types: Vec<&str> = ObservationType::ALL.iter().map(|t| t.as_str()).collect();
    ToolSpec {
        name: OBSERVATION_TOOL.into(),
        description:
            "Record the observations worth remembering from this batch of events (possibly none)."
                .into(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "observations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {"type": "string", "enum": types},
                            "title": {"type": "string", "maxLength": 120},
                            "subtitle": {"type": "string"},
                            "narrative": {"type": "string"},
                            "facts": string_array(),
                            "concepts": {"type": "array", "items": {"type": "string", "enum": super::CONCEPTS}},
                            "files_read": string_array(),
                            "files_modified": string_array(),
                            "keywords": string_array(),
                            "source_event_ids": {"type": "array", "items": {"type": "integer"}}
                        },
                        "required": ["type", "title", "narrative", "source_event_ids"]
                    }
                }
            },
            "required": ["observations"]
        }),
    }
}

pub fn summary_tool() -> ToolSpec {
    let text = json!({"type": "string"});
    ToolSpec {
        name: SUMMARY_TOOL.into(),
        description: "Record the summary of this turn of work.".into(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "request": text, "investigated": text, "learned": text, "completed": text, "next_steps": text
            },
            "required": ["request", "investigated", "learned", "completed", "next_steps"]
        }),
    }
}

pub struct LlmCompressor {
    client: Box<dyn StructuredLlm>,
    name: String,
    pricing: BTreeMap<String, Pricing>,
    max_tokens: u32,
    max_event_chars: usize,
    /// Built once from [`Instructions`]: a fixed prefix is what prompt caching needs.
    system_prompt: String,
    summary_prompt: String,
}

impl LlmCompressor {
    pub fn new(
        client: Box<dyn StructuredLlm>,
        pricing: BTreeMap<String, Pricing>,
        max_tokens: u32,
        max_event_chars: usize,
    ) -> Self {
        let name = format!("{}:{}", client.provider(), client.model());
        let instructions = Instructions::default();
        Self {
            client,
            name,
            pricing,
            max_tokens,
            max_event_chars,
            system_prompt: instructions.system_prompt(),
            summary_prompt: instructions.summary_prompt(),
        }
    }

    /// Writes in `instructions`' language and mode instead of English `code` (the default of [`new`]).
    ///
    /// [`new`]: LlmCompressor::new
    pub fn with_instructions(mut self, instructions: &Instructions) -> Self {
        self.system_prompt = instructions.system_prompt();
        self.summary_prompt = instructions.summary_prompt();
        self
    }

    /// The observation system prompt this compressor sends.
    pub fn system_prompt(&self) -> &str {
        &self.system_prompt
    }

    /// The summary system prompt this compressor sends.
    pub fn summary_prompt(&self) -> &str {
        &self.summary_prompt
    }

    /// The provider's own figure when it reports one (Claude Code), else tokens × `compression.pricing`.
    fn usage_record(
        &self,
        model: &str,
        purpose: &'static str,
        u: &Usage,
        reported_cost_usd: Option<f64>,
    ) -> UsageRecord {
        let cost = reported_cost_usd.unwrap_or_else(|| {
            price_for(&self.pricing, model)
                .or_else(|| price_for(&self.pricing, self.client.model()))
                .map(|p| p.cost_usd(u))
                .unwrap_or(0.0)
        });
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        UsageRecord {
            provider: self.client.provider().to_owned(),
            model: model.to_owned(),
            purpose,
            input_tokens: n(u.input_tokens),
            output_tokens: n(u.output_tokens),
            cache_write_tokens: n(u.cache_write_tokens),
            cache_read_tokens: n(u.cache_read_tokens),
            cost_usd: cost,
        }
    }

    async fn call(
        &self,
        system: &str,
        user: String,
        tool: ToolSpec,
    ) -> Result<claude_mem_llm::StructuredResponse, CompressError> {
        // Payloads were redacted at ingest; this second pass covers prompts and anything older.
        let (user, _) = claude_mem_privacy::redactor().clean_str(&user);
        let request = StructuredRequest {
            system: system.to_owned(),
            user: user.into_owned(),
            tool,
            max_tokens: self.max_tokens,
            temperature: 0.0,
        };
        self.client.call(&request).await.map_err(to_compress_error)
    }

    fn render_event(&self, e: &QueuedEvent, out: &mut String) {
        let p = &e.payload;
        let mut body = serde_json::Map::new();
        for key in [
            "tool_name",
            "tool_input",
            "tool_response",
            "error",
            "tool_calls",
        ] {
            if let Some(v) = p.get(key) {
                body.insert(key.into(), v.clone());
            }
        }
        let text = clip(&Value::Object(body).to_string(), self.max_event_chars);
        let _ = writeln!(
            out,
            "<event id=\"{}\" hook=\"{}\" prompt=\"{}\">{}</event>",
            e.id, e.event_name, e.prompt_number, text
        );
    }

    fn context_header(ctx: &SessionContext, prompts: &BTreeSet<i64>, out: &mut String) {
        let _ = writeln!(
            out,
            "Project: {}\nWorking directory: {}",
            ctx.project, ctx.cwd
        );
        for n in prompts {
            if let Some(p) = ctx.prompt(*n) {
                let _ = writeln!(out, "User request #{n}: {}", clip(p, 2000));
            }
        }
    }
}

fn to_compress_error(e: LlmError) -> CompressError {
    if e.is_transient() {
        CompressError::Transient {
            retry_after: e.retry_after(),
            message: e.to_string(),
        }
    } else {
        CompressError::Permanent(e.to_string())
    }
}

fn strings(v: &Value, key: &str, max_items: usize, max_chars: usize) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| clip(s.trim(), max_chars))
                .filter(|s| !s.is_empty() && seen.insert(s.clone()))
                .take(max_items)
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str, max_chars: usize) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| clip(s.trim(), max_chars))
        .unwrap_or_default()
}

/// The [`super::CONCEPTS`] tag `tag` names, forgiving case, spaces, underscores and a few synonyms
/// (`Trade off`, `tradeoff`, `pitfall`), or None for a tag outside the vocabulary.
pub fn concept(tag: &str) -> Option<String> {
    let norm: String = tag
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .collect();
    let norm = match norm.as_str() {
        "tradeoff" | "tradeoffs" | "trade-offs" => "trade-off",
        "gotchas" | "pitfall" | "pitfalls" | "caveat" => "gotcha",
        "patterns" => "pattern",
        other => other,
    };
    super::CONCEPTS
        .iter()
        .find(|c| **c == norm)
        .map(|c| (*c).to_owned())
}

/// Turns the tool input into drafts, keeping only what is well-formed: the model's output is input too.
pub fn parse_observations(
    value: &Value,
    events: &[QueuedEvent],
) -> Result<Vec<ObservationDraft>, CompressError> {
    let items = value
        .get("observations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            CompressError::Permanent("tool input has no \"observations\" array".into())
        })?;
    let batch_ids: BTreeSet<i64> = events.iter().map(|e| e.id).collect();
    let prompt_of = |id: i64| events.iter().find(|e| e.id == id).map(|e| e.prompt_number);
    let mut out = Vec::new();
    for item in items {
        let title = text(item, "title", 120);
        if title.is_empty() {
            continue;
        }
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .and_then(ObservationType::parse)
            .unwrap_or(ObservationType::Discovery);
        let mut ids: Vec<i64> = item
            .get("source_event_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| {
                        v.as_i64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    })
                    .filter(|id| batch_ids.contains(id))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            // The model forgot to cite: the memory came from this batch, so it cites the batch.
            ids = batch_ids.iter().copied().collect();
        }
        let prompt_number = ids
            .iter()
            .filter_map(|id| prompt_of(*id))
            .max()
            .unwrap_or(0);
        // Concepts are a fixed vocabulary; anything else the model tagged is a topic, kept searchable
        // among the keywords rather than failing the batch.
        let mut concepts = Vec::new();
        let mut keywords = strings(item, "keywords", 20, 80);
        for tag in strings(item, "concepts", 8, 40) {
            match concept(&tag) {
                Some(c) if !concepts.contains(&c) => concepts.push(c),
                Some(_) => {}
                None => {
                    let topic = tag.to_lowercase();
                    if keywords.len() < 20
                        && !keywords.iter().any(|k| k.eq_ignore_ascii_case(&topic))
                    {
                        keywords.push(topic);
                    }
                }
            }
        }
        out.push(ObservationDraft {
            kind,
            title,
            subtitle: text(item, "subtitle", 200),
            narrative: text(item, "narrative", 2000),
            facts: strings(item, "facts", 20, 300),
            concepts,
            files_read: strings(item, "files_read", 50, 300),
            files_modified: strings(item, "files_modified", 50, 300),
            keywords,
            source_event_ids: ids,
            prompt_number,
            input_tokens: 0,
            output_tokens: 0,
        });
    }
    Ok(out)
}

#[async_trait]
impl Compressor for LlmCompressor {
    fn name(&self) -> &str {
        &self.name
    }

    async fn compress(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
    ) -> Result<Compressed, CompressError> {
        let prompts: BTreeSet<i64> = events.iter().map(|e| e.prompt_number).collect();
        let mut user = String::new();
        Self::context_header(ctx, &prompts, &mut user);
        let _ = writeln!(user, "\nEvents ({}):", events.len());
        for e in events {
            self.render_event(e, &mut user);
        }
        let response = self
            .call(&self.system_prompt, user, observation_tool())
            .await?;
        let usage = self.usage_record(
            &response.model,
            "observation",
            &response.usage,
            response.reported_cost_usd,
        );
        let mut observations = parse_observations(&response.value, events)?;
        // Attribute the call's tokens evenly so each memory carries what it cost to make.
        let n = observations.len().max(1) as i64;
        for o in &mut observations {
            o.input_tokens =
                (usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens) / n;
            o.output_tokens = usage.output_tokens / n;
        }
        Ok(Compressed {
            observations,
            usage: vec![usage],
            compressor: self.name.clone(),
            model: Some(response.model),
        })
    }

    async fn summarize(
        &self,
        ctx: &SessionContext,
        events: &[QueuedEvent],
        observations: &[ObservationDraft],
        last_assistant_message: Option<&str>,
    ) -> Result<Summarized, CompressError> {
        let prompts: BTreeSet<i64> = events
            .iter()
            .map(|e| e.prompt_number)
            .chain(observations.iter().map(|o| o.prompt_number))
            .collect();
        let mut user = String::new();
        Self::context_header(ctx, &prompts, &mut user);
        let _ = writeln!(user, "\nObservations recorded during this turn:");
        for o in observations {
            let _ = writeln!(
                user,
                "- [{}] {}: {}",
                o.kind.as_str(),
                o.title,
                clip(&o.narrative, 400)
            );
        }
        if let Some(m) = last_assistant_message {
            let _ = writeln!(user, "\nThe assistant's final message:\n{}", clip(m, 3000));
        }
        let response = self
            .call(&self.summary_prompt, user, summary_tool())
            .await?;
        let usage = self.usage_record(
            &response.model,
            "summary",
            &response.usage,
            response.reported_cost_usd,
        );
        let v = &response.value;
        Ok(Summarized {
            summary: SummaryDraft {
                request: text(v, "request", 1000),
                investigated: text(v, "investigated", 1000),
                learned: text(v, "learned", 1000),
                completed: text(v, "completed", 1000),
                next_steps: text(v, "next_steps", 1000),
            },
            usage: vec![usage],
            compressor: self.name.clone(),
            model: Some(response.model),
        })
    }
}
