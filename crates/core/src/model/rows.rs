//! What the storage answers: the rows of sessions, prompts, hook events, observations and summaries
//! as every reader (API, recall, search, export) sees them, whichever backend holds them.

use serde::Serialize;
use serde_json::Value;

/// One project as `GET /api/projects` lists it: what a picker needs to show and sort.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ProjectRow {
    pub name: String,
    pub sessions: i64,
    pub prompts: i64,
    pub observations: i64,
    /// Epoch ms of the last event in any of its sessions.
    pub last_activity_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionRow {
    pub id: String,
    pub project: String,
    pub cwd: String,
    #[schema(required = true)]
    pub transcript_path: Option<String>,
    pub started_at: i64,
    pub last_seen_at: i64,
    #[schema(required = true)]
    pub ended_at: Option<i64>,
    #[schema(required = true)]
    pub end_reason: Option<String>,
    pub status: String,
    pub event_count: i64,
    pub prompt_count: i64,
    pub observation_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PromptRow {
    pub prompt_number: i64,
    #[schema(required = true)]
    pub prompt_id: Option<String>,
    pub text: String,
    pub created_at: i64,
}

// A row where the payload column is JSON (PostgreSQL's JSONB). SQLite stores the payload as text and
// parses it itself, keeping a payload that is not JSON as a string. (A plain comment: a doc comment
// would become the API schema's description.)
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EventRow {
    pub id: i64,
    pub event_name: String,
    #[schema(required = true)]
    pub tool_name: Option<String>,
    pub prompt_number: i64,
    pub state: String,
    pub attempts: i64,
    pub created_at: i64,
    pub payload: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HealthCounts {
    pub sessions: i64,
    pub events: i64,
    pub pending: i64,
    pub failed: i64,
    pub prompts: i64,
    pub observations: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ObservationRow {
    pub id: i64,
    pub session_id: String,
    pub project: String,
    pub prompt_number: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub subtitle: String,
    pub narrative: String,
    pub facts: Vec<String>,
    pub concepts: Vec<String>,
    pub files_read: Vec<String>,
    pub files_modified: Vec<String>,
    pub keywords: Vec<String>,
    pub source_event_ids: Vec<i64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub compressor: String,
    #[schema(required = true)]
    pub model: Option<String>,
    pub created_at: i64,
    /// Who recorded it: the member's user name on a team server; absent on a laptop (one user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SummaryRow {
    pub id: i64,
    pub session_id: String,
    pub project: String,
    pub prompt_number: i64,
    pub request: String,
    pub investigated: String,
    pub learned: String,
    pub completed: String,
    pub next_steps: String,
    pub compressor: String,
    #[schema(required = true)]
    pub model: Option<String>,
    pub created_at: i64,
}

/// Filters for listing observations; `before_id` pages backwards (newest first).
#[derive(Debug, Clone, Default)]
pub struct ObservationFilter {
    pub project: Option<String>,
    pub kind: Option<String>,
    pub session_id: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A prompt as the live stream shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StreamPrompt {
    pub id: i64,
    pub session_id: String,
    pub project: String,
    pub prompt_number: i64,
    pub prompt: String,
    pub created_at: i64,
}

/// Where a live-stream reader is: the last observation, summary and prompt ids it has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCursor {
    pub observation: i64,
    pub summary: i64,
    pub prompt: i64,
}

/// How many hook events, prompts and observations a session has: what paging through it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionTotals {
    pub events: i64,
    pub prompts: i64,
    pub observations: i64,
}

/// One page of a session read from one snapshot of the database, so its totals and counters count
/// exactly the rows its lists were cut from even while the processor is writing that session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSlice {
    pub session: SessionRow,
    pub totals: SessionTotals,
    /// In order, sliced by the page's offset and limit.
    pub prompts: Vec<PromptRow>,
    /// Oldest first, sliced by the page's offset and limit.
    pub events: Vec<EventRow>,
    /// Newest first, sliced by the page's offset and limit.
    pub observations: Vec<ObservationRow>,
    /// Newest first, at most the asked number (not paged).
    pub summaries: Vec<SummaryRow>,
}
