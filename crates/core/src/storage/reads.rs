//! The read (and user-edit) half of the storage contract: what the HTTP API, the viewer's live stream
//! and SessionStart recall ask of a backend. The laptop's SQLite [`Store`] and the team server's
//! PostgreSQL store (`claude-mem-team`, scoped to the caller's team) both implement it, so one set of
//! route handlers (`claude-mem-server`'s `api_routes`) serves both.
//!
//! A team backend answers only for the team of the request's token: an implementation handed no team
//! must refuse (`StoreError::Forbidden`), never answer for every team.

use super::StorageError;
use crate::store::Store;

use crate::model::{
    CostReport, ForgetReport, ForgetTarget, NewMemory, ObservationEdit, ObservationFilter,
    ObservationRow, ProjectRow, SessionRow, SessionSlice, StreamCursor, StreamPrompt, SummaryRow,
};
use async_trait::async_trait;
use tokio::sync::broadcast;

/// A session's first prompt and its newest summary's request (`None` when it has none), by session id.
pub type SessionTitleRow = (String, Option<String>, Option<String>);

#[async_trait]
pub trait MemoryReads: Send + Sync {
    async fn list_projects(&self) -> Result<Vec<ProjectRow>, StorageError>;
    /// Newest activity first.
    async fn list_sessions(
        &self,
        project: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionRow>, StorageError>;
    async fn get_session(&self, id: &str) -> Result<Option<SessionRow>, StorageError>;
    /// One page of a session (prompts, events and observations each sliced by `offset`/`limit`) with
    /// its totals and at most `summaries_limit` summaries, all read from one snapshot so the counts
    /// agree with the lists; `None` when there is no such session.
    async fn session_slice(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
        summaries_limit: i64,
    ) -> Result<Option<SessionSlice>, StorageError>;
    /// Newest first, paged by `before_id`.
    async fn list_observations(
        &self,
        filter: &ObservationFilter,
    ) -> Result<Vec<ObservationRow>, StorageError>;
    /// In id order; ids that do not exist (or are not the caller's) are left out.
    async fn get_observations(&self, ids: &[i64]) -> Result<Vec<ObservationRow>, StorageError>;
    async fn get_summaries(&self, ids: &[i64]) -> Result<Vec<SummaryRow>, StorageError>;
    async fn get_prompts(&self, ids: &[i64]) -> Result<Vec<StreamPrompt>, StorageError>;
    /// Newest first, paged by `before_id`.
    async fn list_prompts(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StorageError>;
    /// Newest first, paged by `before_id`.
    async fn list_summaries(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StorageError>;
    /// One row per id asked for, in that order, unknown sessions with no titles.
    async fn session_titles(&self, ids: &[String]) -> Result<Vec<SessionTitleRow>, StorageError>;
    async fn cost_report(
        &self,
        now_ms: i64,
        days: i64,
        project: Option<&str>,
    ) -> Result<CostReport, StorageError>;

    /// The newest ids now: where a new live-stream reader starts.
    async fn stream_head(&self) -> Result<StreamCursor, StorageError>;
    /// Oldest first, ids above `after_id`.
    async fn observations_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StorageError>;
    async fn summaries_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StorageError>;
    async fn prompts_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StorageError>;
    /// Fires after a commit this process made that readers may want; a backend shared by several
    /// processes cannot see the others' commits here, so readers also re-read on a timer.
    fn changes(&self) -> broadcast::Receiver<()>;

    /// SessionStart recall: a project's newest observations.
    async fn recent_project_observations(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StorageError>;
    /// A project's saved memories (`POST /api/memories`), newest first.
    async fn saved_memories(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StorageError>;
    async fn latest_summary(&self, project: &str) -> Result<Option<SummaryRow>, StorageError>;
    /// Ids of a project's newest observations that read or modified `file` (relative to the project).
    async fn recent_observation_ids_touching(
        &self,
        file: &str,
        project: &str,
        limit: usize,
    ) -> Result<Vec<i64>, StorageError>;

    /// The anchor and its neighbours in the same project; `None` when the anchor does not exist.
    async fn timeline_around(
        &self,
        anchor_id: i64,
        before: i64,
        after: i64,
    ) -> Result<Option<Vec<ObservationRow>>, StorageError>;
    /// The observation closest to `at_ms` (the first at or after it, else the last before it).
    async fn observation_near_time(
        &self,
        project: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<i64>, StorageError>;

    /// A note the user (or the model, through MCP) asked to keep, stored as an observation.
    async fn save_memory(&self, memory: NewMemory) -> Result<ObservationRow, StorageError>;
    async fn forget(&self, targets: Vec<ForgetTarget>) -> Result<ForgetReport, StorageError>;
    /// False when there is no such observation.
    async fn edit_observation(&self, id: i64, edit: ObservationEdit) -> Result<bool, StorageError>;
}

/// The SQLite store answers for everything on this machine.
#[async_trait]
impl MemoryReads for Store {
    async fn list_projects(&self) -> Result<Vec<ProjectRow>, StorageError> {
        Ok(Store::list_projects(self).await?)
    }
    async fn list_sessions(
        &self,
        project: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionRow>, StorageError> {
        Ok(Store::list_sessions(self, project, limit, offset).await?)
    }
    async fn get_session(&self, id: &str) -> Result<Option<SessionRow>, StorageError> {
        Ok(Store::get_session(self, id).await?)
    }
    async fn session_slice(
        &self,
        id: &str,
        limit: i64,
        offset: i64,
        summaries_limit: i64,
    ) -> Result<Option<SessionSlice>, StorageError> {
        Ok(Store::session_slice(self, id, limit, offset, summaries_limit).await?)
    }
    async fn list_observations(
        &self,
        filter: &ObservationFilter,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        Ok(Store::list_observations(self, filter).await?)
    }
    async fn get_observations(&self, ids: &[i64]) -> Result<Vec<ObservationRow>, StorageError> {
        Ok(Store::get_observations(self, ids).await?)
    }
    async fn get_summaries(&self, ids: &[i64]) -> Result<Vec<SummaryRow>, StorageError> {
        Ok(Store::get_summaries(self, ids).await?)
    }
    async fn get_prompts(&self, ids: &[i64]) -> Result<Vec<StreamPrompt>, StorageError> {
        Ok(Store::get_prompts(self, ids).await?)
    }
    async fn list_prompts(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StorageError> {
        Ok(Store::list_prompts(self, project, session_id, before_id, limit).await?)
    }
    async fn list_summaries(
        &self,
        project: Option<&str>,
        session_id: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StorageError> {
        Ok(Store::list_summaries(self, project, session_id, before_id, limit).await?)
    }
    async fn session_titles(&self, ids: &[String]) -> Result<Vec<SessionTitleRow>, StorageError> {
        Ok(Store::session_titles(self, ids).await?)
    }
    async fn cost_report(
        &self,
        now_ms: i64,
        days: i64,
        project: Option<&str>,
    ) -> Result<CostReport, StorageError> {
        Ok(Store::cost_report(self, now_ms, days, project).await?)
    }
    async fn stream_head(&self) -> Result<StreamCursor, StorageError> {
        Ok(Store::stream_head(self).await?)
    }
    async fn observations_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        Ok(Store::observations_after(self, after_id, limit).await?)
    }
    async fn summaries_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StorageError> {
        Ok(Store::summaries_after(self, after_id, limit).await?)
    }
    async fn prompts_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StreamPrompt>, StorageError> {
        Ok(Store::prompts_after(self, after_id, limit).await?)
    }
    fn changes(&self) -> broadcast::Receiver<()> {
        Store::changes(self)
    }
    async fn recent_project_observations(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        Ok(Store::recent_project_observations(self, project, limit).await?)
    }
    async fn saved_memories(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<ObservationRow>, StorageError> {
        Ok(Store::saved_memories(self, project, limit).await?)
    }
    async fn latest_summary(&self, project: &str) -> Result<Option<SummaryRow>, StorageError> {
        Ok(Store::latest_summary(self, project).await?)
    }
    async fn recent_observation_ids_touching(
        &self,
        file: &str,
        project: &str,
        limit: usize,
    ) -> Result<Vec<i64>, StorageError> {
        Ok(Store::recent_observation_ids_touching(self, file, project, limit).await?)
    }
    async fn timeline_around(
        &self,
        anchor_id: i64,
        before: i64,
        after: i64,
    ) -> Result<Option<Vec<ObservationRow>>, StorageError> {
        Ok(Store::timeline_around(self, anchor_id, before, after).await?)
    }
    async fn observation_near_time(
        &self,
        project: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        Ok(Store::observation_near_time(self, project, at_ms).await?)
    }
    async fn save_memory(&self, memory: NewMemory) -> Result<ObservationRow, StorageError> {
        Ok(Store::save_memory(self, memory).await?)
    }
    async fn forget(&self, targets: Vec<ForgetTarget>) -> Result<ForgetReport, StorageError> {
        Ok(Store::forget(self, targets).await?)
    }
    async fn edit_observation(&self, id: i64, edit: ObservationEdit) -> Result<bool, StorageError> {
        Ok(Store::edit_observation(self, id, edit).await?)
    }
}
