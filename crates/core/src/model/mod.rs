//! The domain: sessions, hook events, prompts, observations, summaries, usage, and the edits a user
//! asks for. Plain data at the bottom of core: the storage contract (`crate::storage`), both backends,
//! the processor, search and the HTTP API all speak these types, and none of them depends on a backend.

mod costs;
mod edits;
mod processing;
mod rows;

pub use costs::{CostGroup, CostReport, CostTotals};
pub use edits::{ForgetReport, ForgetTarget, NewMemory, ObservationEdit, OBSERVATION_TYPES};
pub use processing::{
    ObservationDraft, ObservationType, QueuedEvent, SessionContext, SummaryDraft, UsageRecord,
};
pub use rows::{
    EventRow, HealthCounts, ObservationFilter, ObservationRow, ProjectRow, PromptRow, SessionRow,
    SessionSlice, SessionTotals, StreamCursor, StreamPrompt, SummaryRow,
};
