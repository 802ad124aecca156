//! Store-and-index maintenance that runs outside any request as well as inside one: the prune
//! (`POST /api/admin/prune`, the daily prune in `crate::retention`, `claude-mem prune`), dropping
//! forgotten memories from the search indexes (`crate::forget_api`), and indexing what an import
//! inserted (`POST /api/admin/index`, `claude-mem import`). The store is the record of truth and
//! commits first; the indexes follow. Nothing here knows about HTTP.

use claude_mem_core::store::{PruneReport, PruneRequest};
use claude_mem_core::Store;
use claude_mem_search::{Doc, SearchIndex, Source};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct PruneOutcome {
    #[serde(flatten)]
    pub report: PruneReport,
    /// What happened to the search indexes: `deleted`, `unchanged` or `unavailable`.
    pub index: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] claude_mem_core::storage::StorageError),
    #[error("search index: {0}")]
    Index(String),
}

impl From<claude_mem_core::StoreError> for AdminError {
    fn from(e: claude_mem_core::StoreError) -> Self {
        Self::Store(e.into())
    }
}

/// Prunes SQLite, then makes the indexes forget the pruned memories. Deleted vectors stay in the graph as
/// tombstones (searches skip them) until `claude-mem reindex`: rebuilding on every prune would re-embed
/// everything that is left, hours of CPU with the local model on a large store.
/// The store is the record of truth and commits first: an index failure leaves extra index entries,
/// which search drops because their rows are gone, and `claude-mem reindex` clears.
pub async fn prune_everywhere(
    store: &Store,
    index: Option<&Arc<SearchIndex>>,
    req: PruneRequest,
) -> Result<PruneOutcome, AdminError> {
    let report = store.prune(req).await?;
    let index_state = if report.dry_run {
        "unchanged"
    } else {
        drop_from_indexes(
            index,
            &report.observation_ids,
            &report.summary_ids,
            &report.prompt_ids,
        )
        .await?
    };
    Ok(PruneOutcome {
        report,
        index: index_state,
    })
}

/// Makes the search indexes forget deleted observations, summaries and prompts (after a prune or a
/// forget): text documents deleted and committed, vectors tombstoned until the next rebuild (which reads
/// only what SQLite still holds). Returns what became of the indexes, for the answer.
pub async fn drop_from_indexes(
    index: Option<&Arc<SearchIndex>>,
    observations: &[i64],
    summaries: &[i64],
    prompts: &[i64],
) -> Result<&'static str, AdminError> {
    let keys: Vec<i64> = [
        (Source::Observation, observations),
        (Source::Summary, summaries),
        (Source::Prompt, prompts),
    ]
    .into_iter()
    .flat_map(|(source, ids)| ids.iter().filter_map(move |id| source.key(*id)))
    .collect();
    match index {
        _ if keys.is_empty() => Ok("unchanged"),
        None => Ok("unavailable"),
        Some(index) => {
            let index = Arc::clone(index);
            tokio::task::spawn_blocking(move || {
                index.delete_many(&keys)?;
                index.save()
            })
            .await
            .map_err(|e| AdminError::Index(e.to_string()))?
            .map_err(|e| AdminError::Index(e.to_string()))?;
            Ok("deleted")
        }
    }
}

/// Ids an import inserted, per searchable table.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportedIds<'a> {
    pub observations: &'a [i64],
    pub summaries: &'a [i64],
    pub prompts: &'a [i64],
}

impl ImportedIds<'_> {
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty() && self.summaries.is_empty() && self.prompts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.observations.len() + self.summaries.len() + self.prompts.len()
    }
}

/// Indexes imported rows the indexer would miss: those at or below the id it has already passed in
/// their table (an import keeps free ids, which may lie below it). Newer ones are left to the indexer
/// (a running worker wakes it): indexing them here could move its mark past rows it has not seen yet.
/// Returns how many were indexed here.
pub async fn index_imported(
    store: &dyn claude_mem_core::storage::MemoryReads,
    index: &Arc<SearchIndex>,
    imported: ImportedIds<'_>,
) -> Result<usize, AdminError> {
    let behind = |source: Source, ids: &[i64]| -> Vec<i64> {
        let passed = index.last_indexed(source);
        ids.iter().copied().filter(|id| *id <= passed).collect()
    };
    let mut done = 0;
    for source in Source::ALL {
        let ids = match source {
            Source::Observation => behind(source, imported.observations),
            Source::Summary => behind(source, imported.summaries),
            Source::Prompt => behind(source, imported.prompts),
        };
        for chunk in ids.chunks(256) {
            let mut docs: Vec<Doc> = match source {
                Source::Observation => store
                    .get_observations(chunk)
                    .await?
                    .iter()
                    .filter_map(Doc::from_observation)
                    .collect(),
                Source::Summary => store
                    .get_summaries(chunk)
                    .await?
                    .iter()
                    .filter_map(Doc::from_summary)
                    .collect(),
                Source::Prompt => store
                    .get_prompts(chunk)
                    .await?
                    .iter()
                    .filter_map(Doc::from_prompt)
                    .collect(),
            };
            docs.sort_by_key(|d| d.id);
            done += docs.len();
            let worker = Arc::clone(index);
            tokio::task::spawn_blocking(move || worker.index(&docs))
                .await
                .map_err(|e| AdminError::Index(e.to_string()))?
                .map_err(|e| AdminError::Index(e.to_string()))?;
        }
    }
    if done > 0 {
        let worker = Arc::clone(index);
        tokio::task::spawn_blocking(move || worker.save())
            .await
            .map_err(|e| AdminError::Index(e.to_string()))?
            .map_err(|e| AdminError::Index(e.to_string()))?;
    }
    Ok(done)
}
