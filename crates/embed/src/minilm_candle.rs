//! all-MiniLM-L6-v2 through candle's BERT: the product's embedder until the dedicated engine in
//! [`crate::bert`] replaced it. Kept as the parity reference (its vectors are what indexes built
//! before the switch hold, so the new engine is tested against it) and as the "before" of
//! `claude-mem-bench embed-vs-ort`.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::minilm::{load_tokenizer, read_config, MINILM_DIM, MINILM_ID};
use crate::{l2_normalize, EmbedError, Embedder};

/// Texts per forward pass. Bounded because activations grow with batch × longest² (attention): at 32 the
/// worker peaked at 316 MiB while indexing, over the 300 MiB budget, and on 2 cores batching buys nothing
/// (17 sentences/s at batch 1, 15 at 16; docs/BENCHMARKS.md).
const MAX_BATCH: usize = 8;

/// all-MiniLM-L6-v2 on candle. Immutable after load, so one instance can be shared across
/// threads behind an `Arc`.
pub struct CandleMiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl CandleMiniLm {
    pub fn load(model_dir: &Path) -> Result<Self, EmbedError> {
        let config: Config = read_config(model_dir)?;
        if config.hidden_size != MINILM_DIM {
            return Err(EmbedError::Load(format!(
                "config.json: hidden_size {} is not {MINILM_DIM}; not all-MiniLM-L6-v2",
                config.hidden_size
            )));
        }

        let pad_id = u32::try_from(config.pad_token_id)
            .map_err(|e| EmbedError::Load(format!("config.json: pad_token_id: {e}")))?;
        let tokenizer = load_tokenizer(model_dir, Some(pad_id))?;

        let device = Device::Cpu;
        // Read into memory rather than mmap: mmap needs `unsafe` and its safety depends on
        // nobody rewriting the file (e.g. `models install`) while we run; 90 MB is affordable.
        let weights = std::fs::read(model_dir.join("model.safetensors"))
            .map_err(|e| EmbedError::Load(format!("model.safetensors: {e}")))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| EmbedError::Load(format!("model.safetensors: {e}")))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| EmbedError::Load(format!("model.safetensors: {e}")))?;

        Ok(Self {
            model,
            tokenizer,
            device,
        })
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let infer = |e: candle_core::Error| EmbedError::Inference(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Inference(format!("tokenize: {e}")))?;
        let batch = encodings.len();
        let seq = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        for enc in &encodings {
            if enc.get_ids().len() != seq {
                return Err(EmbedError::Inference(
                    "tokenizer returned ragged batch".to_string(),
                ));
            }
            ids.extend_from_slice(enc.get_ids());
            mask.extend_from_slice(enc.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (batch, seq), &self.device).map_err(infer)?;
        let mask = Tensor::from_vec(mask, (batch, seq), &self.device).map_err(infer)?;
        let type_ids = ids.zeros_like().map_err(infer)?;

        let hidden = self
            .model
            .forward(&ids, &type_ids, Some(&mask))
            .map_err(infer)?; // (batch, seq, dim)

        // Mean over real tokens only: padding positions still get hidden states and must not
        // dilute the average, or a text's vector would depend on its batch neighbours.
        let mask = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(infer)?; // (batch, seq, 1)
        let summed = hidden
            .broadcast_mul(&mask)
            .and_then(|h| h.sum(1))
            .map_err(infer)?; // (batch, dim)
        let counts = mask.sum(1).map_err(infer)?; // (batch, 1)
        let mean = summed.broadcast_div(&counts).map_err(infer)?;
        let mut rows = mean.to_vec2::<f32>().map_err(infer)?;
        rows.iter_mut().for_each(|r| l2_normalize(r));
        Ok(rows)
    }
}

impl Embedder for CandleMiniLm {
    fn id(&self) -> &str {
        MINILM_ID
    }

    fn dim(&self) -> usize {
        MINILM_DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Batch texts of similar length together so padding (wasted attention work) stays
        // small, then put the vectors back in the caller's order. Byte length is a cheap,
        // good-enough proxy for token count.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(MAX_BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = self.embed_batch(&batch)?;
            if vectors.len() != chunk.len() {
                return Err(EmbedError::Inference(format!(
                    "model returned {} vectors for {} texts",
                    vectors.len(),
                    chunk.len()
                )));
            }
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
