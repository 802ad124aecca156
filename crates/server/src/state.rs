//! What every handler and background job shares: [`AppState`], the worker's store, settings, search
//! index and live switches. Built by `crate::worker`, read by the route modules and the jobs; it names
//! no route and no job, so any of them can import it without a cycle.

use crate::model_status::ModelFetch;
use crate::restart_signal::RestartSignal;
use claude_mem_core::capture::SkipReason;
use claude_mem_core::processor::Processor;
use claude_mem_core::settings::{CaptureSettings, LiveContextSettings};
use claude_mem_core::{DataDir, HookEvent, Settings, Store};
use claude_mem_search::SearchIndex;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub data_dir: Arc<DataDir>,
    pub started: Instant,
    /// Absent only in tests that exercise the HTTP layer alone.
    pub processor: Option<Arc<Processor>>,
    pub search: Option<Arc<SearchIndex>>,
    /// The embedding model's download and switch, for `/api/health` (`crate::model_status`, updated by
    /// `crate::model_fetch`).
    pub model: Arc<ModelFetch>,
    /// Recall settings: the viewer changes them without a restart.
    pub context: LiveContextSettings,
    /// What capture leaves out (`capture.skip_tools`): the viewer changes it without a restart.
    pub capture: Arc<std::sync::RwLock<CaptureSettings>>,
    /// Capture paused (from the tray): hooks are acknowledged and dropped, so Claude Code carries on and
    /// nothing of that stretch is kept.
    pub capture_paused: Arc<std::sync::atomic::AtomicBool>,
    /// Serialises settings.json read-modify-write.
    pub settings_lock: Arc<tokio::sync::Mutex<()>>,
    /// Flips to true when the worker stops, ending long-lived responses (the live stream) so a graceful
    /// shutdown does not wait on them forever.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub(crate) shutdown_tx: Arc<tokio::sync::watch::Sender<bool>>,
    /// `POST /api/admin/restart` ends this worker's run; its runner starts the next (`crate::restart`).
    pub restart: Arc<RestartSignal>,
    /// settings.json as this worker found it at its start: a key saved differently since waits for a
    /// restart, while one that differs from what runs without having changed was set at the start
    /// (the command line's `--port`, the environment).
    pub file_at_start: Arc<Settings>,
}

impl AppState {
    /// Why `event` is not to be stored, if it is not (claude-mem's own tools, `capture.skip_tools`).
    pub fn skip_reason(&self, event: &HookEvent) -> Option<SkipReason> {
        match self.capture.read() {
            Ok(capture) => claude_mem_core::capture::skip_reason(&capture, event),
            // A writer panicked mid-swap: the own-tool rule still holds, the list is the last one set.
            Err(poisoned) => claude_mem_core::capture::skip_reason(&poisoned.into_inner(), event),
        }
    }

    pub fn set_capture_settings(&self, c: CaptureSettings) {
        if let Ok(mut guard) = self.capture.write() {
            *guard = c;
        }
    }
}
