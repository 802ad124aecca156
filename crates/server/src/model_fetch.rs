//! "The model arrives by itself": with `search.embedder = auto`, `search.model_download = auto` and no
//! model installed, the worker downloads all-MiniLM-L6-v2 in the background (pinned revision and
//! SHA-256s, resumable: `claude_mem_embed::model_download`), installs it, and has the indexer switch
//! to it and re-embed every memory (`indexer::EmbedderSwitch`: in the background, the fallback's
//! vectors serving until every memory has a MiniLM vector in the database). Until then search runs on the hashing fallback, and nothing waits for the download:
//! start, hooks and search go on as before.
//!
//! Only the product's entry points (`claude-mem serve`, the desktop app) turn it on
//! ([`crate::worker::Worker::with_model_download`]), so a library user (the in-process tests, the
//! benchmarks) never reaches the network by accident; `CLAUDE_MEM_MODEL_DOWNLOAD=off` closes it for the
//! binary too (the e2e harness sets it).
//!
//! Offline, the attempt fails and is retried with a growing delay, a bounded number of times per run;
//! the `.part` files stay, so each retry (and the next start) resumes instead of starting over. Wrong
//! bytes (a checksum mismatch) are not retried: fetching them again would give the same.

use crate::indexer::EmbedderSwitch;
use crate::worker::AppState;
use claude_mem_embed::download::Progress;
use claude_mem_embed::model_download::{
    download_model, minilm_download_size, resolve_endpoint, ModelDownload,
};
use claude_mem_embed::{MiniLm, MINILM_ID};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Delays before the retries of a failed (transient) download: then it waits for the next start.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(30),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 60 * 60),
];

/// What `/api/health` shows under `model`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
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
    retry_at: Option<std::time::Instant>,
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

    fn update(&self, f: impl FnOnce(&mut ModelStatus)) {
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

/// Whether this worker should fetch the model: the product started it, the settings allow it, and
/// the index runs on the fallback.
pub fn wanted(state: &AppState) -> bool {
    let s = &state.settings.search;
    s.embedder == "auto"
        && s.model_download == "auto"
        && state
            .search
            .as_ref()
            .is_some_and(|index| index.embedder().id() != MINILM_ID)
}

/// Downloads, installs, and hands the model to the indexer; returns when the memories are
/// re-embedded, the attempts are spent, or the worker stops.
pub async fn run(
    state: AppState,
    switch: Arc<EmbedderSwitch>,
    mut shutdown: watch::Receiver<bool>,
) {
    let fetch = state.model.clone();
    let s = &state.settings.search;
    let endpoint = resolve_endpoint(
        None,
        &s.model_endpoint,
        std::env::var("HF_ENDPOINT").ok().as_deref(),
    );
    let model_dir = s.model_path(state.data_dir.root());
    let request = ModelDownload::new(endpoint.clone(), model_dir.clone());
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        fetch.update(|st| {
            *st = ModelStatus {
                state: "downloading".into(),
                bytes_total: minilm_download_size(),
                attempts: attempt,
                endpoint: Some(endpoint.clone()),
                last_error: st.last_error.take(),
                ..ModelStatus::default()
            };
        });
        let progress_to = fetch.clone();
        let mut progress = move |p: Progress| {
            progress_to.update(|st| {
                st.bytes_done = p.done;
                st.bytes_total = p.total;
            });
        };
        let result = tokio::select! {
            r = download_model(&request, &mut progress) => r,
            _ = shutdown.changed() => return,
        };
        let error = match result {
            Ok(_) => break,
            Err(e) => e,
        };
        let retry = error
            .is_transient()
            .then(|| RETRY_DELAYS.get(attempt as usize - 1).copied())
            .flatten();
        tracing::warn!(error = %error, attempt, retry_in_s = retry.map(|d| d.as_secs()), "the model download failed; search stays on the hashing fallback");
        fetch.update(|st| {
            st.state = "failed".into();
            st.last_error = Some(error.to_string());
            st.retry_in_s = retry.map(|d| d.as_secs());
            st.retry_at = retry.map(|d| std::time::Instant::now() + d);
        });
        let Some(delay) = retry else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }

    fetch.update(|st| {
        st.state = "installing".into();
        st.last_error = None;
        st.retry_in_s = None;
        st.retry_at = None;
    });
    let loaded = tokio::task::spawn_blocking(move || MiniLm::load(&model_dir)).await;
    let model = match loaded {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return fail(&fetch, e.to_string()),
        Err(e) => return fail(&fetch, e.to_string()),
    };
    let Some(index) = state.search.clone() else {
        // No index to switch (it failed to open): the next start loads the model.
        fetch.update(|st| st.state = "installed".into());
        return;
    };
    let total = state
        .store
        .health_counts()
        .await
        .map(|c| u64::try_from(c.observations).unwrap_or(0))
        .unwrap_or(0);
    fetch.update(|st| {
        st.state = "reembedding".into();
        st.reembed_total = total;
    });
    switch.request(Arc::new(model));
    tracing::info!(
        observations = total,
        "all-MiniLM-L6-v2 downloaded: re-embedding every memory"
    );
    let asked = std::time::Instant::now();
    loop {
        let status = index.status();
        // The indexer takes the switch between two pages (hashing pages are quick) and re-embeds in
        // the background: one that has not started after a minute failed to (its reason is the
        // index's last error).
        let reembedding = status.reembed.as_ref().filter(|r| r.embedder == MINILM_ID);
        if status.embedder != MINILM_ID
            && reembedding.is_none()
            && asked.elapsed() > Duration::from_secs(60)
        {
            let why = status
                .last_error
                .unwrap_or_else(|| "no reason given".into());
            return fail(
                &fetch,
                format!("the search index did not switch to the model: {why}"),
            );
        }
        let done = match reembedding {
            Some(r) => r.done,
            None if status.embedder == MINILM_ID => status.vectors as u64,
            None => 0,
        };
        // The re-embed counts every kind of memory, the total here observations: capped meanwhile.
        fetch.update(|st| {
            st.reembed_done = if reembedding.is_some() {
                done.min(st.reembed_total)
            } else {
                done
            }
        });
        if status.embedder == MINILM_ID && status.state == "ready" {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.changed() => return,
        }
    }
    fetch.update(|st| {
        st.state = "installed".into();
        st.reembed_total = st.reembed_total.max(st.reembed_done);
    });
    tracing::info!("semantic search is on (all-MiniLM-L6-v2)");
}

fn fail(fetch: &ModelFetch, error: String) {
    tracing::error!(error = %error, "the downloaded model is not in use");
    fetch.update(|st| {
        st.state = "failed".into();
        st.last_error = Some(error);
        st.retry_in_s = None;
        st.retry_at = None;
    });
}
