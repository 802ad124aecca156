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
use crate::model_status::{ModelFetch, ModelStatus};
use crate::state::AppState;
use claude_mem_embed::download::Progress;
use claude_mem_embed::model_download::{
    download_model, minilm_download_size, resolve_endpoint, ModelDownload,
};
use claude_mem_embed::{MiniLm, MINILM_ID};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Delays before the retries of a failed (transient) download: then it waits for the next start.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_secs(30),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 60 * 60),
];

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
