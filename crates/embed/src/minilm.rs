//! all-MiniLM-L6-v2 on CPU, reproducing the sentence-transformers pipeline of that model
//! (Transformer → mean pooling → Normalize) so vectors match what the rest of the ecosystem
//! computes for the same text.
//!
//! The forward pass is our own ([`crate::bert`]): about 3× faster than candle's BERT on the short
//! texts memories are (docs/BENCHMARKS.md, "Embeddings vs ONNX Runtime"), with the same vectors
//! (cosine ≥ 0.999 against [`crate::CandleMiniLm`], which is kept as the parity reference).

use std::path::{Path, PathBuf};

use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use crate::bert::{int8_supported, Bert, BertConfig, Isa, Precision};
use crate::CandleMiniLm;
use crate::{EmbedError, Embedder};

/// Id stamped into vector indexes built with this model.
pub const MINILM_ID: &str = "minilm-l6-v2";
/// Id of the opt-in int8 variant ([`MiniLm::load_int8`]): its vectors are close to the f32 ones
/// (cosine ≥ 0.99) but not the same, so an index must not mix the two.
pub const MINILM_INT8_ID: &str = "minilm-l6-v2-int8";
/// Output width of all-MiniLM-L6-v2; the hashing fallback uses the same width.
pub const MINILM_DIM: usize = 384;
/// sentence-transformers' `max_seq_length` for this model (its tokenizer.json says 128, which
/// sentence-transformers overrides; following tokenizer.json would silently change vectors of
/// long texts). Counts [CLS] and [SEP].
pub const MAX_TOKENS: usize = 256;

/// Files without which the model cannot run.
pub(crate) const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Texts per forward pass at most. Nothing is padded, so grouping costs no wasted work; the cap and
/// [`MAX_BATCH_TOKENS`] bound the activations (~17 KB per token) so a long backlog cannot balloon
/// the worker's memory.
const MAX_BATCH: usize = 32;
/// Tokens per forward pass at most (2,048 tokens ≈ 35 MB of activations).
const MAX_BATCH_TOKENS: usize = 2048;

/// Threads one forward pass uses when the caller does not say: the model is small enough that more
/// than four cores mostly wait on each other, and the worker has other work (search, SQLite).
const DEFAULT_MAX_THREADS: usize = 4;

/// Checks the model directory and reads its config.json; shared by both engines.
pub(crate) fn read_config<C: serde::de::DeserializeOwned>(
    model_dir: &Path,
) -> Result<C, EmbedError> {
    let missing: Vec<&str> = REQUIRED_FILES
        .iter()
        .copied()
        .filter(|f| !model_dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(EmbedError::ModelMissing(format!(
            "{} lacks {}",
            model_dir.display(),
            missing.join(", ")
        )));
    }
    let text = std::fs::read_to_string(model_dir.join("config.json"))
        .map_err(|e| EmbedError::Load(format!("config.json: {e}")))?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Load(format!("config.json: {e}")))
}

/// tokenizer.json with truncation at [`MAX_TOKENS`]; padded to each batch's longest text when
/// `pad_id` is given (candle's padded batches), else not padded at all.
pub(crate) fn load_tokenizer(
    model_dir: &Path,
    pad_id: Option<u32>,
) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = Tokenizer::from_file(model_dir.join("tokenizer.json"))
        .map_err(|e| EmbedError::Load(format!("tokenizer.json: {e}")))?;
    // tokenizer.json ships fixed 128-token padding: always replace it.
    let padding = pad_id.map(|pad_id| PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        direction: PaddingDirection::Right,
        pad_to_multiple_of: None,
        pad_id,
        pad_type_id: 0,
        pad_token: tokenizer
            .get_padding()
            .map(|p| p.pad_token.clone())
            .unwrap_or_else(|| "[PAD]".to_string()),
    });
    tokenizer.with_padding(padding);
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: MAX_TOKENS,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| EmbedError::Load(format!("tokenizer truncation: {e}")))?;
    Ok(tokenizer)
}

/// A loaded all-MiniLM-L6-v2. Immutable after load, so one instance can be shared across
/// threads behind an `Arc`.
pub struct MiniLm {
    engine: Engine,
    id: &'static str,
}

enum Engine {
    /// Our forward pass: x86-64 with AVX2+FMA or AVX-512.
    Own { model: Bert, tokenizer: Tokenizer },
    /// candle, on CPUs our kernels do not cover (e.g. aarch64), where its GEMM has NEON/SSE code;
    /// same vectors (the parity tests hold the two engines to each other).
    Candle(CandleMiniLm),
}

impl MiniLm {
    /// Loads the model with up to [`DEFAULT_MAX_THREADS`] threads per forward pass (fewer on
    /// smaller machines).
    pub fn load(model_dir: &Path) -> Result<Self, EmbedError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(DEFAULT_MAX_THREADS);
        Self::load_with_threads(model_dir, threads)
    }

    /// Loads the model with exactly `threads` (≥ 1) threads per forward pass.
    pub fn load_with_threads(model_dir: &Path, threads: usize) -> Result<Self, EmbedError> {
        Self::load_precision(model_dir, threads, Precision::F32)
    }

    /// The int8 variant (id [`MINILM_INT8_ID`]): about twice as fast, on CPUs with AVX-512 VNNI only
    /// (an error elsewhere). Not the default: its vectors differ slightly from every f32 engine's.
    pub fn load_int8(model_dir: &Path, threads: usize) -> Result<Self, EmbedError> {
        if !int8_supported() {
            return Err(EmbedError::Load(
                "int8 MiniLM needs AVX-512 VNNI, which this CPU lacks".to_string(),
            ));
        }
        Self::load_precision(model_dir, threads, Precision::Int8)
    }

    fn load_precision(
        model_dir: &Path,
        threads: usize,
        precision: Precision,
    ) -> Result<Self, EmbedError> {
        let config: BertConfig = read_config(model_dir)?;
        if config.hidden_size != MINILM_DIM {
            return Err(EmbedError::Load(format!(
                "config.json: hidden_size {} is not {MINILM_DIM}; not all-MiniLM-L6-v2",
                config.hidden_size
            )));
        }
        if config.max_position_embeddings < MAX_TOKENS {
            return Err(EmbedError::Load(format!(
                "config.json: {} positions, fewer than {MAX_TOKENS}",
                config.max_position_embeddings
            )));
        }
        let Some(isa) = Isa::detect() else {
            return Ok(Self {
                engine: Engine::Candle(CandleMiniLm::load(model_dir)?),
                id: MINILM_ID,
            });
        };
        let tokenizer = load_tokenizer(model_dir, None)?;
        let path = |f: &str| -> PathBuf { model_dir.join(f) };
        // Read into memory rather than mmap: mmap needs `unsafe` and its safety depends on
        // nobody rewriting the file (e.g. `models install`) while we run. The bytes are dropped
        // once the weights are unpacked.
        let bytes = std::fs::read(path("model.safetensors"))
            .map_err(|e| EmbedError::Load(format!("model.safetensors: {e}")))?;
        let model = Bert::load(&config, &bytes, threads, isa, precision)
            .map_err(|e| EmbedError::Load(format!("model.safetensors: {e}")))?;
        Ok(Self {
            engine: Engine::Own { model, tokenizer },
            id: match precision {
                Precision::F32 => MINILM_ID,
                Precision::Int8 => MINILM_INT8_ID,
            },
        })
    }

    /// Which kernels run on this CPU ("avx512", "avx2+fma" or "baseline") and with how many threads:
    /// for benchmark reports.
    pub fn engine(&self) -> String {
        match &self.engine {
            Engine::Own { model, .. } => format!(
                "{}{} x{}",
                model.isa(),
                if self.id == MINILM_INT8_ID {
                    "+vnni int8"
                } else {
                    ""
                },
                model.threads()
            ),
            Engine::Candle(_) => "candle".to_string(),
        }
    }
}

impl Embedder for MiniLm {
    fn id(&self) -> &str {
        self.id
    }

    fn dim(&self) -> usize {
        MINILM_DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (model, tokenizer) = match &self.engine {
            Engine::Own { model, tokenizer } => (model, tokenizer),
            Engine::Candle(c) => return c.embed(texts),
        };
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Inference(format!("tokenize: {e}")))?;
        if encodings.len() != texts.len() {
            return Err(EmbedError::Inference(format!(
                "tokenizer returned {} encodings for {} texts",
                encodings.len(),
                texts.len()
            )));
        }
        // Group texts of similar length (attention cost grows with length², and a forward pass is
        // cheapest when its work splits evenly), bounded by MAX_BATCH / MAX_BATCH_TOKENS; vectors go
        // back in the caller's order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < order.len() && end - start < MAX_BATCH {
                let len = encodings[order[end]].get_ids().len();
                if end > start && tokens + len > MAX_BATCH_TOKENS {
                    break;
                }
                tokens += len;
                end += 1;
            }
            let chunk = &order[start..end];
            let seqs: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            let vectors = model.embed(&seqs).map_err(EmbedError::Inference)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
            start = end;
        }
        Ok(out)
    }
}
