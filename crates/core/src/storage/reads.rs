//! The read (and user-edit) half of the storage contract: what the HTTP API, the viewer's live stream
//! and SessionStart recall ask of a backend. The laptop's SQLite [`Store`] and the team server's
//! PostgreSQL store (`claude-mem-team`, scoped to the caller's team) both implement it, so one set of
//! route handlers (`claude-mem-server`'s `api_routes`) serves both.
//!
//! A team backend answers only for the team of the request's token: an implementation handed no team
//! must refuse (`StoreError::Forbidden`), never answer for every team.

use crate::store::{Store, StoreError};

use crate::model::{
    CostReport, EventRow, ForgetReport, ForgetTarget, NewMemory, ObservationEdit,
    ObservationFilter, ObservationRow, ProjectRow, PromptRow, SessionRow, StreamCursor,
    StreamPrompt, SummaryRow,
};
use async_trait::async_trait;
use tokio::sync::broadcast;

/// A session's first prompt and its newest summary's request (`None` when it has none), by session id.
pub type SessionTitleRow = (String, Option<String>, Option<String>);

#[async_trait]
pub trait MemoryReads: Send + Sync {
    async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError>;
    /// Newest activity first.
    async fn list_sessions(
        &self,
        project: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionRow>, StoreError>;
    async fn get_session(&self, id: &str) -> Result<Option<SessionRow>, StoreError>;
    /// (hook events, prompts, observations) of one session.
    async fn session_totals(&self, id: &str) -> Result<(i64, i64, i64), StoreError>;
    async fn session_prompts_page(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<PromptRow>, StoreError>;
    async fn session_events_page(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<EventRow>, StoreError>;
    /// A session's observations, newest first, sliced by `offset`/`limit`.
    async fn session_observations_page(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ObservationRow>, StoreError>;
    /// Newest first, paged by `before_id`.
    async fn list_observations(
        &self,
        filter: &ObservationFilter,
    ) -> Result<Vec<ObservationRow>, StoreError>;
    /// In id order; ids that do not exist (or are not the caller's) are left out.
    async fn get_observations(&self, ids: &[i64]) -> Result<Vec<ObservationRow>, StoreError>;
    async fn get_summaries(&self, ids: &[i64]) -> Result<Vec<SummaryRow>, StoreError>;
    async fn get_prompts(&self, ids: &[i64]) -> Result<Vec<StreamPrompt>, StoreError>;
    /// Newest first, paged by `before_id`.
    async fn list_prompts(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StoreError>;
    /// Newest first, paged by `before_id`.
    async fn list_summaries(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StoreError>;
    /// One row per id asked for, in that order, unknown sessions with no titles.
    async fn session_titles(&self, ids: &[String]) -> Result<Vec<SessionTitleRow>, StoreError>;
    async fn cost_report(
        &self,
        now_ms: i64,
        days: i64,
        project: Option<&str>,
    ) -> Result<CostReport, StoreError>;

    /// The newest ids now: where a new live-stream reader starts.
    async fn stream_head(&self) -> Result<StreamCursor, StoreError>;
    /// Oldest first, ids above `after_id`.
    async fn observations_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError>;
    async fn summaries_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StoreError>;
    async fn prompts_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StoreError>;
    /// Fires after a commit this process made that readers may want; a backend shared by several
    /// processes cannot see the others' commits here, so readers also re-read on a timer.
    fn changes(&self) -> broadcast::Receiver<()>;

    /// SessionStart recall: a project's newest observations.
    async fn recent_project_observations(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError>;
    /// A project's saved memories (`POST /api/memories`), newest first.
    async fn saved_memories(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError>;
    async fn latest_summary(&self, project: &str) -> Result<Option<SummaryRow>, StoreError>;
    /// Ids of a project's newest observations that read or modified `file` (relative to the project).
    async fn recent_observation_ids_touching(
        &self,
        file: &str,
        project: &str,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError>;

    /// The anchor and its neighbours in the same project; `None` when the anchor does not exist.
    async fn timeline_around(
        &self,
        anchor_id: i64,
        before: i64,
        after: i64,
    ) -> Result<Option<Vec<ObservationRow>>, StoreError>;
    /// The observation closest to `at_ms` (the first at or after it, else the last before it).
    async fn observation_near_time(
        &self,
        project: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// A note the user (or the model, through MCP) asked to keep, stored as an observation.
    async fn save_memory(&self, memory: NewMemory) -> Result<ObservationRow, StoreError>;
    async fn forget(&self, targets: Vec<ForgetTarget>) -> Result<ForgetReport, StoreError>;
    /// False when there is no such observation.
    async fn edit_observation(&self, id: i64, edit: ObservationEdit) -> Result<bool, StoreError>;
}

/// The SQLite store answers for everything on this machine.
#[async_trait]
impl MemoryReads for Store {
    async fn list_projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
        Store::list_projects(self).await
    }
    async fn list_sessions(
        &self,
        project: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        Store::list_sessions(self, project, limit, offset).await
    }
    async fn get_session(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        Store::get_session(self, id).await
    }
    async fn session_totals(&self, id: &str) -> Result<(i64, i64, i64), StoreError> {
        Store::session_totals(self, id).await
    }
    async fn session_prompts_page(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<PromptRow>, StoreError> {
        Store::session_prompts_page(self, id, limit, offset).await
    }
    async fn session_events_page(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        Store::session_events_page(self, id, limit, offset).await
    }
    async fn session_observations_page(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        Store::session_observations_page(self, id, limit, offset).await
    }
    async fn list_observations(
        &self,
        filter: &ObservationFilter,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        Store::list_observations(self, filter).await
    }
    async fn get_observations(&self, ids: &[i64]) -> Result<Vec<ObservationRow>, StoreError> {
        Store::get_observations(self, ids).await
    }
    async fn get_summaries(&self, ids: &[i64]) -> Result<Vec<SummaryRow>, StoreError> {
        Store::get_summaries(self, ids).await
    }
    async fn get_prompts(&self, ids: &[i64]) -> Result<Vec<StreamPrompt>, StoreError> {
        Store::get_prompts(self, ids).await
    }
    async fn list_prompts(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StoreError> {
        Store::list_prompts(self, project, session_id, before_id, limit).await
    }
    async fn list_summaries(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StoreError> {
        Store::list_summaries(self, project, session_id, before_id, limit).await
    }
    async fn session_titles(&self, ids: &[String]) -> Result<Vec<SessionTitleRow>, StoreError> {
        Store::session_titles(self, ids).await
    }
    async fn cost_report(
        &self,
        now_ms: i64,
        days: i64,
        project: Option<&str>,
    ) -> Result<CostReport, StoreError> {
        Store::cost_report(self, now_ms, days, project).await
    }
    async fn stream_head(&self) -> Result<StreamCursor, StoreError> {
        Store::stream_head(self).await
    }
    async fn observations_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        Store::observations_after(self, after_id, limit).await
    }
    async fn summaries_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StoreError> {
        Store::summaries_after(self, after_id, limit).await
    }
    async fn prompts_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StoreError> {
        Store::prompts_after(self, after_id, limit).await
    }
    fn changes(&self) -> broadcast::Receiver<()> {
        Store::changes(self)
    }
    async fn recent_project_observations(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        Store::recent_project_observations(self, project, limit).await
    }
    async fn saved_memories(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StoreError> {
        Store::saved_memories(self, project, limit).await
    }
    async fn latest_summary(&self, project: &str) -> Result<Option<SummaryRow>, StoreError> {
        Store::latest_summary(self, project).await
    }
    async fn recent_observation_ids_touching(
        &self,
        file: &str,
        project: &str,
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        Store::recent_observation_ids_touching(self, file, project, limit).await
    }
    async fn timeline_around(
        &self,
        anchor_id: i64,
        before: i64,
        after: i64,
    ) -> Result<Option<Vec<ObservationRow>>, StoreError> {
        Store::timeline_around(self, anchor_id, before, after).await
    }
    async fn observation_near_time(
        &self,
        project: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        Store::observation_near_time(self, project, at_ms).await
    }
    async fn save_memory(&self, memory: NewMemory) -> Result<ObservationRow, StoreError> {
        Store::save_memory(self, memory).await
    }
    async fn forget(&self, targets: Vec<ForgetTarget>) -> Result<ForgetReport, StoreError> {
        Store::forget(self, targets).await
    }
    async fn edit_observation(&self, id: i64, edit: ObservationEdit) -> Result<bool, StoreError> {
        Store::edit_observation(self, id, edit).await
    }
}
