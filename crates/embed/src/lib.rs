//! Text embeddings for claude-mem's hybrid (full-text + vector) memory search.
//!
//! Three interchangeable [`Embedder`]s exist because the product must keep working in every
//! install: [`MiniLm`] is the quality default and runs fully offline once the model files are
//! on disk (our own BERT forward pass; [`CandleMiniLm`] is the candle-based one it replaced, kept as
//! its parity reference); [`HashEmbedder`] keeps vector search meaningful (lexical, identifier-aware) when they
//! are not; [`OpenAiEmbedder`] lets users who already run an embedding server use it instead.
//! Every embedder returns unit-length vectors so callers can rank by plain dot product.

mod bert;
pub mod download;
mod hash;
mod install;
mod minilm;
mod minilm_candle;
pub mod model_download;
mod openai;

use std::path::Path;

pub use hash::HashEmbedder;
pub use install::install_model;
pub use minilm::{MiniLm, MAX_TOKENS, MINILM_DIM, MINILM_ID, MINILM_INT8_ID};
pub use minilm_candle::CandleMiniLm;
pub use openai::OpenAiEmbedder;

/// A text-to-vector model. Object-safe so the server can pick one at start-up.
pub trait Embedder: Send + Sync {
    /// Stable id stamped into indexes, e.g. "minilm-l6-v2" or "hash-384"; a change triggers a reindex.
    fn id(&self) -> &str;
    fn dim(&self) -> usize;
    /// Whether similar vectors mean similar meaning. The hashing fallback's vectors only share words and
    /// word pieces, so search must not treat its cosine as independent (semantic) evidence.
    fn semantic(&self) -> bool {
        true
    }
    /// L2-normalised vectors, one per text, same order. Blocking CPU work; callers run it off the async runtime.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Failures are split by what the caller can do about them: a missing model means "fall back
/// or install", a load error means "the files are corrupt", HTTP errors may be transient.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedding model missing: {0}")]
    ModelMissing(String),
    #[error("failed to load embedding model: {0}")]
    Load(String),
    #[error("embedding inference failed: {0}")]
    Inference(String),
    #[error("embedding request failed: {0}")]
    Http(String),
    #[error("unexpected embedding response: {0}")]
    BadResponse(String),
}

/// Loads MiniLm from `model_dir` when the files are there, else the hashing fallback (384-d, same as MiniLM so switching is a dim-compatible rebuild); returns also a human-readable reason when falling back (for /api/health).
pub fn default_embedder(model_dir: &Path) -> (Box<dyn Embedder>, Option<String>) {
    match MiniLm::load(model_dir) {
        Ok(model) => (Box::new(model), None),
        Err(err) => {
            let fallback = HashEmbedder::new(MINILM_DIM);
            let reason = format!(
                "{err}; using the lexical hashing fallback ({}) — get the model with \
                 `claude-mem models download` (or `claude-mem models install --from DIR` offline) \
                 for semantic search",
                fallback.id()
            );
            tracing::warn!(model_dir = %model_dir.display(), "{reason}");
            (Box::new(fallback), Some(reason))
        }
    }
}

/// Cosine similarity; defined as 0 when either vector has zero length (rather than NaN) so a
/// degenerate vector ranks last instead of poisoning a sort.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += f64::from(x) * f64::from(y);
        na += f64::from(x) * f64::from(x);
        nb += f64::from(y) * f64::from(y);
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

/// Scales `v` to unit length in place; a zero vector is left as is (there is no direction to keep).
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-2.0, 0.0]) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn normalize_unit_and_zero() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 3];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
    }
}
