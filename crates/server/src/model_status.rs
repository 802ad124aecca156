//! The embedding model's status as `/api/health` shows it under `model`: held in the worker's state
//! (`crate::state`), set at start from the settings, and updated by the background download
//! (`crate::model_fetch`).

use claude_mem_embed::MINILM_ID;
use serde::Serialize;
use std::sync::Mutex;

/// What `/api/health` shows under `model`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ModelStatus {
    /// `installed` (MiniLM in use), `downloading`, `installing`, `reembedding`, `failed`, `absent`
    /// (not installed, no download: `model_download = off` or not started by the product), or
    /// `not_used` (another embedder is configured).
    pub state: String,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Observations re-embedded with the model after the switch, out of all of them.
    pub reembed_done: u64,
    pub reembed_total: u64,
    /// Download attempts in this run.
    pub attempts: u32,
    /// Seconds until the next attempt, after a transient failure (counted down at each read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_s: Option<u64>,
    /// When the next attempt is due: what `retry_in_s` is computed from when the status is read, so
    /// the viewer's "retrying in …" counts down instead of repeating the delay set at the failure.
    #[serde(skip)]
    pub(crate) retry_at: Option<std::time::Instant>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// Where the model is fetched from, when a download is under way or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// The shared, lock-protected status.
#[derive(Debug, Default)]
pub struct ModelFetch {
    status: Mutex<ModelStatus>,
}

impl ModelFetch {
    /// The status before any download: whether the model is in use, or why not.
    pub fn new(state: &str) -> Self {
        Self {
            status: Mutex::new(ModelStatus {
                state: state.to_owned(),
                ..ModelStatus::default()
            }),
        }
    }

    pub fn status(&self) -> ModelStatus {
        let mut status = match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(at) = status.retry_at {
            let left = at.saturating_duration_since(std::time::Instant::now());
            // Rounded up: "retrying in 0 s" would read as "never" while the attempt is still ahead.
            status.retry_in_s = Some(left.as_secs() + u64::from(left.subsec_nanos() > 0));
        }
        status
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut ModelStatus)) {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

/// The state to show at start, before anything is downloaded.
pub fn initial_state(
    settings: &claude_mem_core::Settings,
    embedder_id: Option<&str>,
) -> &'static str {
    if embedder_id == Some(MINILM_ID) {
        "installed"
    } else if !["auto", "minilm"].contains(&settings.search.embedder.as_str()) {
        "not_used"
    } else {
        "absent"
    }
}
