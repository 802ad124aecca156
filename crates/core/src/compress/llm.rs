//! The LLM compressor: one structured-output call per batch of events (and one per summary), on any
//! [`StructuredLlm`] provider.
//!
//! The system prompt and tool schema never change, so they form a cacheable prefix (Anthropic's
//! `cache_control: ephemeral` is set by the client): after the first call of a session only the events
//! are paid at the full input price.

use super::local::clip;
use super::{
    CompressError, Compressed, Compressor, ObservationDraft, ObservationType, QueuedEvent,
    SessionContext, Summarized, SummaryDraft, UsageRecord,
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

/// The worked examples make the stable prefix (tools + system) longer than every current model's minimum
/// cacheable length (4,096 tokens for Haiku 4.5), so it is written to the cache once and then read at a
/// tenth of the input price, and they show the model the judgement we want.
pub const SYSTEM_PROMPT: &str = concat!("You are the memory of a coding assistant. You watch what Claude Code did \
in a software project (tool calls: file reads and edits, shell commands and their output, searches, web \
lookups, MCP tools) and write short, durable memories (\"observations\") that will help a future session \
of the same project pick up the work without re-reading everything.

Write observations the way a senior engineer writes a good commit message or engineering log entry:
- One observation per meaningful unit of work or discovery. Merge related events (several edits to one \
file for one purpose, a failing test followed by its fix) into one observation. Do not write one per event.
- Skip noise: listing directories, printing the working directory, reading a file without learning \
anything, trivial commands that succeeded, failed reads of files that do not exist. It is fine and \
expected to return an empty list when nothing in the batch is worth remembering.
- `type` is exactly one of: decision (a choice between alternatives, with the reason), bugfix (a defect \
found and fixed, with the cause), feature (new capability added), refactor (structure changed without \
behaviour change), discovery (something learned about the code, tools or environment: how something works, \
why a test fails, where a thing lives), change (other modifications: config, dependencies, docs, commits).
- `title`: at most 80 characters, specific and searchable (name the component, function or file), in the \
past tense for work done. Bad: \"Edited a file\". Good: \"Fixed off-by-one in Paginator::next_page cursor\".
- `subtitle`: one short line of extra context (at most 100 characters).
- `narrative`: 1–4 sentences: what was done or learned, why, and anything surprising. Mention the user's \
request when it explains the why.
- `facts`: short, self-contained, verifiable statements (file paths, function names, commands, error \
messages, versions, numbers). Each fact must make sense on its own.
- `concepts`: 1–5 lowercase tags for the topics involved (e.g. authentication, caching, testing, \
error-handling, database-migration, performance, build, dependencies). Add the tag gotcha when the \
observation warns of a trap the next session could fall into (surprising behaviour, a pitfall, a workaround \
that must stay): recall lists gotchas first.
- `files_read` / `files_modified`: paths relative to the project root when possible.
- `keywords`: identifiers and terms someone would search for (function, type, crate, command names).
- `source_event_ids`: the ids of the events the observation is based on (from the <event id=...> tags).

Never copy secrets, tokens, passwords or keys into an observation, even if one slipped into the input; \
text like [REDACTED:...] marks a removed secret, keep it out of the memory. Write in English. Be factual: \
never invent files, results or causes that the events do not show. Always answer by calling the tool.

", include_str!("examples.md"));

pub const SUMMARY_SYSTEM_PROMPT: &str = "You are the memory of a coding assistant. At the end of a turn of \
work in a software project you write a compact summary for the next session: what the user asked \
(request), what was looked at (investigated), what was learned (learned), what was finished (completed) \
and what is left or suggested next (next_steps). Each field is 1–3 plain sentences, specific (name files, \
functions, commands, errors), factual (only what the material shows), in English, with no secrets. Leave a \
field empty when there is nothing to say. Always answer by calling the tool.";

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
                            "concepts": string_array(),
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
}

impl LlmCompressor {
    pub fn new(
        client: Box<dyn StructuredLlm>,
        pricing: BTreeMap<String, Pricing>,
        max_tokens: u32,
        max_event_chars: usize,
    ) -> Self {
        let name = format!("{}:{}", client.provider(), client.model());
        Self {
            client,
            name,
            pricing,
            max_tokens,
            max_event_chars,
        }
    }

    fn usage_record(&self, model: &str, purpose: &'static str, u: &Usage) -> UsageRecord {
        let cost = price_for(&self.pricing, model)
            .or_else(|| price_for(&self.pricing, self.client.model()))
            .map(|p| p.cost_usd(u))
            .unwrap_or(0.0);
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
        out.push(ObservationDraft {
            kind,
            title,
            subtitle: text(item, "subtitle", 200),
            narrative: text(item, "narrative", 2000),
            facts: strings(item, "facts", 20, 300),
            concepts: strings(item, "concepts", 8, 40)
                .into_iter()
                .map(|c| c.to_lowercase())
                .collect(),
            files_read: strings(item, "files_read", 50, 300),
            files_modified: strings(item, "files_modified", 50, 300),
            keywords: strings(item, "keywords", 20, 80),
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
        let response = self.call(SYSTEM_PROMPT, user, observation_tool()).await?;
        let usage = self.usage_record(&response.model, "observation", &response.usage);
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
            .call(SUMMARY_SYSTEM_PROMPT, user, summary_tool())
            .await?;
        let usage = self.usage_record(&response.model, "summary", &response.usage);
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
