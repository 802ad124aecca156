//! Which embedder the worker uses, from settings. Falling back is never silent: the reason travels to
//! `/api/health` and the viewer.

use claude_mem_core::Settings;
use claude_mem_embed::{default_embedder, Embedder, HashEmbedder, MiniLm, OpenAiEmbedder};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Dimension of the hashing fallback: the same as MiniLM, so switching between them needs no resizing.
pub const HASH_DIM: usize = 384;

/// (embedder, why the preferred one is not in use). Loading the model is blocking work (~100 ms).
pub fn embedder_from_settings(
    settings: &Settings,
    data_dir: &Path,
) -> (Arc<dyn Embedder>, Option<String>) {
    let s = &settings.search;
    let model_dir = s.model_path(data_dir);
    match s.embedder.as_str() {
        "hash" => (Arc::new(HashEmbedder::new(HASH_DIM)), None),
        "minilm" => match MiniLm::load(&model_dir) {
            Ok(m) => (Arc::new(m), None),
            Err(e) => (
                Arc::new(HashEmbedder::new(HASH_DIM)),
                Some(format!(
                    "MiniLM could not be loaded from {}: {e}",
                    model_dir.display()
                )),
            ),
        },
        "openai" => match OpenAiEmbedder::new(
            &s.openai_base_url,
            s.openai_api_key.as_deref(),
            &s.openai_model,
            s.openai_dim,
            Duration::from_secs(30),
        ) {
            Ok(e) => (Arc::new(e), None),
            Err(e) => (
                Arc::new(HashEmbedder::new(HASH_DIM)),
                Some(format!("embeddings API not usable: {e}")),
            ),
        },
        _ => {
            let (e, reason) = default_embedder(&model_dir);
            (Arc::from(e), reason)
        }
    }
}
