//! The MCP tools and their arguments.
//!
//! Argument shapes are checked twice on purpose: the JSON schema (from `schemars`) tells the model what
//! to send, and serde rejects a wrong shape with JSON-RPC `invalid_params` before a tool runs; ranges and
//! empty strings are checked here and answered with an `isError` tool result whose text says what to fix,
//! so the model can correct itself (MCP 2025-11-25 asks for input validation errors to be tool errors).

use crate::format;
use claude_mem_api::wire::{NewMemory, SearchQuery, TimelineQuery};
use claude_mem_api::{ApiClient, ApiError};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, ErrorData, ServerHandler};
use schemars::JsonSchema;
use serde::Deserialize;

pub const MAX_SEARCH_LIMIT: u32 = 50;
pub const DEFAULT_SEARCH_LIMIT: u32 = 10;
pub const MAX_TIMELINE_SIDE: u32 = 50;
pub const DEFAULT_TIMELINE_SIDE: u32 = 5;
pub const MAX_IDS: usize = 20;
pub const MAX_MEMORY_CHARS: usize = 10_000;
/// Most memories one `forget` call deletes: a model forgetting more than this is doing something else.
pub const MAX_FORGET: usize = 50;

/// Observation types, as the compressor assigns them.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObservationKind {
    Decision,
    Bugfix,
    Feature,
    Refactor,
    Discovery,
    Change,
}

impl ObservationKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::Bugfix => "bugfix",
            Self::Feature => "feature",
            Self::Refactor => "refactor",
            Self::Discovery => "discovery",
            Self::Change => "change",
        }
    }
}

/// Which memories to search.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    /// What was done and learned: decisions, fixes, features, with files (the default).
    Observation,
    /// Session summaries: what a session asked for, investigated, learned, completed, left to do.
    Summary,
    /// What the user typed: their requests, in their own words.
    Prompt,
    /// All three, merged by relevance.
    All,
}

impl MemoryKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Observation => "observation",
            Self::Summary => "summary",
            Self::Prompt => "prompt",
            Self::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchOrder {
    /// Best match first (default).
    Relevance,
    /// Newest first among the relevant matches: "what was the latest on X".
    Newest,
}

impl SearchOrder {
    fn as_str(self) -> &'static str {
        match self {
            Self::Relevance => "relevance",
            Self::Newest => "newest",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Full text and semantic vectors fused (best default).
    Hybrid,
    /// BM25 full text only: exact identifiers, paths, error messages.
    Text,
    /// Semantic similarity only: paraphrases.
    Vector,
}

impl SearchMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::Text => "text",
            Self::Vector => "vector",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchParams {
    /// What to look for: words, code identifiers, file paths or "quoted phrases".
    pub query: String,
    /// Only this project (the git repository's folder name). Omit to search every project.
    #[serde(default)]
    pub project: Option<String>,
    /// Only observations of this type.
    #[serde(default, rename = "type")]
    pub kind: Option<ObservationKind>,
    /// Which memories to search: observation (default), summary, prompt, or all of them. `type` and
    /// `file` apply to observations only.
    #[serde(default, rename = "kind")]
    pub memories: Option<MemoryKind>,
    /// Only observations that read or modified this file: a path or its trailing part (src/db.rs,
    /// db.rs; an absolute path finds the project-relative one).
    #[serde(default)]
    pub file: Option<String>,
    /// relevance (default: best first) or newest (newest first among relevant matches).
    #[serde(default)]
    pub order: Option<SearchOrder>,
    /// Only memories newer than this: a duration back from now (30m, 12h, 7d, 2w) or a UTC date
    /// (2026-11-01 or 2026-11-01T14:00).
    #[serde(default)]
    pub since: Option<String>,
    /// Only memories up to this moment, in the same forms as `since` (with both: a window).
    #[serde(default)]
    pub until: Option<String>,
    /// hybrid (default), text or vector.
    #[serde(default)]
    pub mode: Option<SearchMode>,
    /// Number of hits, 1 to 50 (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<u32>,
    /// Hits to skip: the next page of the same ranking (default 0).
    #[serde(default)]
    pub offset: Option<u32>,
    /// Relevance from 0 to 1 under which hits are left out (default: the worker's floor, 0.3 in hybrid
    /// and vector modes). Raise it for only strong matches; 0 lists everything that matched at all.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: Option<f32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TimelineParams {
    /// Observation id to center on (from search). Give this or `date`.
    #[serde(default)]
    pub anchor: Option<i64>,
    /// A UTC date or time to center on (2026-11-01, 2026-11-01T14:00). Give this or `anchor`.
    #[serde(default)]
    pub date: Option<String>,
    /// Only this project. Omit for every project.
    #[serde(default)]
    pub project: Option<String>,
    /// Memories before the anchor, 0 to 50 (default 5).
    #[serde(default)]
    #[schemars(range(max = 50))]
    pub before: Option<u32>,
    /// Memories after the anchor, 0 to 50 (default 5).
    #[serde(default)]
    #[schemars(range(max = 50))]
    pub after: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetObservationsParams {
    /// Observation ids from search or timeline (1 to 20).
    #[schemars(length(min = 1, max = 20))]
    pub ids: Vec<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SaveMemoryParams {
    /// The memory itself, self-contained (a future session reads it without this conversation):
    /// what was decided or learned, and why. At most 10,000 characters.
    pub text: String,
    /// A short title (under 80 characters); one is derived from the text when omitted.
    #[serde(default)]
    pub title: Option<String>,
    /// Project to file it under; defaults to the project of the directory Claude Code runs in.
    #[serde(default)]
    pub project: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForgetParams {
    /// Observation ids to forget (the `#12` of search, timeline and get_observations).
    #[serde(default)]
    pub ids: Vec<i64>,
    /// Session summary ids to forget.
    #[serde(default)]
    pub summary_ids: Vec<i64>,
    /// Prompt ids to forget.
    #[serde(default)]
    pub prompt_ids: Vec<i64>,
    /// Why, in the user's words or yours (kept in the worker's log, never stored as a memory).
    pub reason: String,
}

/// The MCP server: stateless apart from the worker client, so every call reads the worker's current
/// state (new memories are visible at once).
#[derive(Debug, Clone)]
pub struct MemoryServer {
    worker: ApiClient,
    default_project: String,
    tool_router: ToolRouter<Self>,
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn worker_error(e: &ApiError) -> CallToolResult {
    tracing::warn!(error = %e, "worker call failed");
    tool_error(e.to_string())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A date or time for the worker's `since` / `date`: the UTC forms models write without an offset
/// (`2026-11-01T14:00`, which RFC 3339 lacks) become epoch ms; anything else (durations, epoch ms,
/// RFC 3339) goes as given, and the worker's 400 reason tells the model what it accepts.
fn instant_for_worker(s: &str) -> String {
    claude_mem_api::clock::parse_utc(s).map_or_else(|| s.trim().to_owned(), |ms| ms.to_string())
}

#[tool_router]
impl MemoryServer {
    pub fn new(worker: ApiClient, default_project: impl Into<String>) -> Self {
        Self {
            worker,
            default_project: default_project.into(),
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Search claude-mem, the persistent memory of past Claude Code sessions (decisions, bug fixes, \
features, discoveries, with the files involved). Use it before re-investigating something that may have been done \
or decided before, or when the user refers to earlier work. Returns a compact index, about 50 tokens per hit: \
`#id · type · title · files · age`. Then call get_observations for the few ids worth reading in full \
(200-500 tokens each), or timeline to see what happened around one. Mode text suits exact identifiers and error \
strings; vector suits paraphrases; hybrid (default) both. kind=summary searches session summaries, kind=prompt what \
the user asked in earlier sessions, kind=all everything; file=<path> keeps observations that touched that file; \
order=newest lists the latest relevant memories first."
    )]
    async fn search(
        &self,
        Parameters(p): Parameters<SearchParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = p.query.trim();
        if query.is_empty() {
            return Ok(tool_error(
                "query must not be empty: give words, identifiers or file paths to look for",
            ));
        }
        let limit = p.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Ok(tool_error(format!(
                "limit must be between 1 and {MAX_SEARCH_LIMIT} (got {limit})"
            )));
        }
        let request = SearchQuery {
            q: query.to_owned(),
            mode: p.mode.map(|m| m.as_str().to_owned()),
            project: non_empty(p.project),
            kind: p.kind.map(|k| k.as_str().to_owned()),
            memories: p.memories.map(|k| k.as_str().to_owned()),
            file: non_empty(p.file),
            order: p.order.map(|o| o.as_str().to_owned()),
            since: non_empty(p.since).map(|s| instant_for_worker(&s)),
            until: non_empty(p.until).map(|s| instant_for_worker(&s)),
            limit,
            offset: p.offset,
            min_score: p.min_score,
        };
        match self.worker.search(&request).await {
            Ok(body) => Ok(CallToolResult::success(vec![ContentBlock::text(
                format::search_index(&body, query, claude_mem_api::clock::now_ms()),
            )])),
            Err(e) => Ok(worker_error(&e)),
        }
    }

    #[tool(
        description = "Show what happened around one memory or moment, in order: the memories just before and after an \
observation id (anchor, from search) or a UTC date. Use it to recover the sequence of work (what led to a fix, what \
followed a decision). Compact index lines, about 50 tokens each; read details with get_observations."
    )]
    async fn timeline(
        &self,
        Parameters(p): Parameters<TimelineParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let date = non_empty(p.date).map(|d| instant_for_worker(&d));
        if p.anchor.is_none() && date.is_none() {
            return Ok(tool_error(
                "give an anchor (an observation id from search) or a date (e.g. 2026-11-01)",
            ));
        }
        let before = p.before.unwrap_or(DEFAULT_TIMELINE_SIDE);
        let after = p.after.unwrap_or(DEFAULT_TIMELINE_SIDE);
        if before > MAX_TIMELINE_SIDE || after > MAX_TIMELINE_SIDE {
            return Ok(tool_error(format!(
                "before and after must be between 0 and {MAX_TIMELINE_SIDE}"
            )));
        }
        let request = TimelineQuery {
            anchor: p.anchor,
            date,
            project: non_empty(p.project),
            before,
            after,
        };
        match self.worker.timeline(&request).await {
            Ok(body) => Ok(CallToolResult::success(vec![ContentBlock::text(
                format::timeline(&body, claude_mem_api::clock::now_ms()),
            )])),
            Err(ApiError::Api { status: 404, .. }) if p.anchor.is_some() => {
                Ok(tool_error(format!(
                    "no observation #{} (use an id from search)",
                    p.anchor.unwrap_or_default()
                )))
            }
            Err(e) => Ok(worker_error(&e)),
        }
    }

    #[tool(
        description = "Read memories in full by id (ids from search or timeline, 1-20 per call): title, subtitle, \
narrative, facts, concepts, files, session and date, as compact markdown, about 200-500 tokens each. Fetch only the \
ones that look relevant from the index. Unknown ids are listed as not found."
    )]
    async fn get_observations(
        &self,
        Parameters(p): Parameters<GetObservationsParams>,
    ) -> Result<CallToolResult, ErrorData> {
        if p.ids.is_empty() || p.ids.len() > MAX_IDS {
            return Ok(tool_error(format!(
                "ids must hold 1 to {MAX_IDS} observation ids (got {})",
                p.ids.len()
            )));
        }
        let mut ids = p.ids;
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        let now = claude_mem_api::clock::now_ms();
        let mut entries = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.worker.observation(id).await {
                Ok(Some(o)) => entries.push(format::observation(&o, now)),
                Ok(None) => missing.push(format!("#{id}")),
                Err(e) => return Ok(worker_error(&e)),
            }
        }
        if entries.is_empty() {
            return Ok(tool_error(format!(
                "not found: {} (use ids from search or timeline)",
                missing.join(", ")
            )));
        }
        let mut text = entries.join("\n\n");
        if !missing.is_empty() {
            text.push_str(&format!("\n\nNot found: {}", missing.join(", ")));
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    #[tool(
        description = "Save a memory for future sessions: a decision and its reason, a hard-won fact, a user preference, \
a plan. Sessions are remembered automatically, so use this only for what must not be lost or was said rather than \
done. Write it self-contained. Filed under the current project unless `project` is given; searchable at once."
    )]
    async fn save_memory(
        &self,
        Parameters(p): Parameters<SaveMemoryParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let text = p.text.trim();
        if text.is_empty() {
            return Ok(tool_error(
                "text must not be empty: write the memory to save",
            ));
        }
        let chars = text.chars().count();
        if chars > MAX_MEMORY_CHARS {
            return Ok(tool_error(format!(
                "text is {chars} characters; at most {MAX_MEMORY_CHARS} fit in one memory, so split or shorten it"
            )));
        }
        let project = non_empty(p.project).unwrap_or_else(|| self.default_project.clone());
        let memory = NewMemory {
            text: text.to_owned(),
            title: non_empty(p.title),
            project: project.clone(),
        };
        match self.worker.save_memory(&memory).await {
            Ok(body) => {
                let id = body
                    .get("id")
                    .or_else(|| body.get("observation").and_then(|o| o.get("id")))
                    .and_then(serde_json::Value::as_i64);
                let title = body
                    .get("observation")
                    .and_then(|o| o.get("title"))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("");
                let saved = match id {
                    Some(id) => format!("Saved memory #{id} in project {project}"),
                    None => format!("Saved memory in project {project}"),
                };
                let text = if title.is_empty() {
                    saved
                } else {
                    format!("{saved}: {title}")
                };
                Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
            }
            Err(e) => Ok(worker_error(&e)),
        }
    }

    #[tool(
        description = "Forget memories for good: deleted from the database, search and future context at once. Use it \
when the user asks you to forget something, or a memory is wrong or private. Give the ids (from search, timeline \
or get_observations) and the reason. At most 50 per call; whole sessions and projects are forgotten by the user \
in the viewer or with `claude-mem forget`, not here."
    )]
    async fn forget(
        &self,
        Parameters(p): Parameters<ForgetParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let reason = p.reason.trim();
        if reason.is_empty() {
            return Ok(tool_error(
                "reason must say why these memories are forgotten",
            ));
        }
        let targets: Vec<serde_json::Value> = [
            ("observation", &p.ids),
            ("summary", &p.summary_ids),
            ("prompt", &p.prompt_ids),
        ]
        .into_iter()
        .flat_map(|(kind, ids)| {
            ids.iter()
                .map(move |id| serde_json::json!({"kind": kind, "id": id}))
        })
        .collect();
        if targets.is_empty() || targets.len() > MAX_FORGET {
            return Ok(tool_error(format!(
                "give 1 to {MAX_FORGET} ids in ids, summary_ids or prompt_ids (got {})",
                targets.len()
            )));
        }
        match self.worker.forget(&targets, reason).await {
            Ok(body) => {
                let deleted: u64 = body["deleted"]
                    .as_object()
                    .map(|m| m.values().filter_map(serde_json::Value::as_u64).sum())
                    .unwrap_or(0);
                let missing = body["missing"].as_array().map_or(0, Vec::len);
                let mut text = format!(
                    "Forgot {} of {} memories (with what they were made from: {deleted} rows).",
                    targets.len() - missing,
                    targets.len()
                );
                if missing > 0 {
                    text.push_str(&format!(" {missing} were not found (already forgotten?)."));
                }
                Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
            }
            Err(e) => Ok(worker_error(&e)),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("claude-mem", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "claude-mem remembers past Claude Code sessions. Look things up progressively: search \
(compact index) → get_observations (full entries for chosen ids) → timeline (what happened around one). \
save_memory stores a note for future sessions; forget deletes memories the user wants gone.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_epoch_ms_and_the_rest_goes_to_the_worker() {
        assert_eq!(instant_for_worker("7d"), "7d");
        assert_eq!(instant_for_worker("1793000000000"), "1793000000000");
        assert_eq!(instant_for_worker("1970-01-02"), "86400000");
        assert_eq!(instant_for_worker("1970-01-01T01:00"), "3600000");
        assert_eq!(
            instant_for_worker(" 2026-11-01T13:00:00+01:00"),
            "2026-11-01T13:00:00+01:00"
        );
    }

    #[test]
    fn the_four_tools_have_schemas() {
        let server = MemoryServer::new(
            ApiClient::new(claude_mem_api::Endpoint::local("http://127.0.0.1:1", None)).unwrap(),
            "p",
        );
        let tools = server.tool_router.list_all();
        let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        for name in [
            "search",
            "timeline",
            "get_observations",
            "save_memory",
            "forget",
        ] {
            assert!(names.contains(&name.to_owned()), "{names:?}");
        }
        let search = tools.iter().find(|t| t.name == "search").unwrap();
        let schema = serde_json::to_value(&*search.input_schema).unwrap();
        assert_eq!(schema["required"], serde_json::json!(["query"]));
        assert_eq!(schema["properties"]["limit"]["maximum"], 50);
        // Which memories, which file, which order: described to the model with their choices.
        let text = schema.to_string();
        for part in [
            "\"kind\"",
            "\"file\"",
            "\"order\"",
            "\"prompt\"",
            "\"newest\"",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
    }
}
