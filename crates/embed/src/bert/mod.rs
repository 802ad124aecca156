//! A dedicated forward pass for BERT-style sentence encoders (all-MiniLM-L6-v2: 6 layers, hidden
//! 384, 12 heads, GELU), returning mean-pooled, L2-normalised sentence vectors.
//!
//! It exists because a general tensor library spends most of its time outside the arithmetic on
//! inputs this small (10–30 tokens at batch 1): an allocation, a dispatch and a strided copy per op,
//! weights repacked on every matrix multiply, GELU and softmax through scalar libm calls. Here the
//! weights are packed once at load ([`kernels::PackedLinear`]), bias/GELU/residual are fused into the
//! matrix multiply, and sequences are never padded: every token-wise step (projections, feed-forward,
//! LayerNorm) runs over the batch's tokens packed end to end, and attention runs per sequence, so a
//! batch costs exactly the sum of its texts and a text's vector does not depend on its neighbours.

// Index loops mirror the register tiles (row r, lane j) the kernels are written around.
#![allow(clippy::needless_range_loop)]

mod int8;
pub(crate) mod kernels;

use int8::{linear_i8, quantize_rows, PackedLinearI8};
pub(crate) use kernels::Isa;
use kernels::{linear, Epilogue, PackedLinear};
use serde::Deserialize;

/// The fields of a Hugging Face BERT `config.json` this engine needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub(crate) type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub(crate) hidden_act: String,
    #[serde(default = "default_pos_type")]
    pub(crate) position_embedding_type: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".to_string()
}
fn default_pos_type() -> String {
    "absolute".to_string()
}

/// Arithmetic of the projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precision {
    F32,
    /// int8 weights and activations (AVX-512 VNNI) in the projections fed by a LayerNorm (q/k/v and
    /// the feed-forward's first); the rest stays f32.
    Int8,
}

/// One projection, packed for the precision it runs at.
enum Proj {
    F32(PackedLinear),
    Int8(PackedLinearI8),
}

impl Proj {
    fn new(w: &[f32], b: &[f32], n: usize, k: usize, precision: Precision) -> Option<Self> {
        match precision {
            Precision::F32 => PackedLinear::pack(w, b, n, k).map(Proj::F32),
            Precision::Int8 => PackedLinearI8::pack(w, b, n, k).map(Proj::Int8),
        }
    }

    fn n(&self) -> usize {
        match self {
            Proj::F32(p) => p.n,
            Proj::Int8(p) => p.n,
        }
    }
}

/// Scratch for int8 activations, reused across the projections of one forward pass.
#[derive(Default)]
struct QuantScratch {
    q: Vec<u8>,
    scales: Vec<f32>,
}

struct Layer {
    /// Query, key and value in one product (`hidden → 3·hidden`): one pass over the input, not three.
    qkv: Proj,
    attn_out: Proj,
    ln1: (Vec<f32>, Vec<f32>),
    ffn_in: Proj,
    ffn_out: Proj,
    ln2: (Vec<f32>, Vec<f32>),
}

/// A loaded encoder. Immutable after load; `embed` may be called from several threads at once.
pub(crate) struct Bert {
    hidden: usize,
    heads: usize,
    max_positions: usize,
    vocab: usize,
    eps: f32,
    word: Vec<f32>,
    position: Vec<f32>,
    /// Row 0 of the token-type table: every input here is a single segment.
    token_type0: Vec<f32>,
    emb_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    isa: Isa,
    threads: usize,
    /// Our own workers rather than rayon's global pool: the thread count is then exactly what the
    /// caller asked for, whatever else in the process uses rayon. `None` when single-threaded.
    pool: Option<rayon::ThreadPool>,
}

/// Weights by name from a safetensors file, as f32.
struct Weights<'a> {
    st: safetensors::SafeTensors<'a>,
    prefix: &'static str,
}

impl Weights<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let full = format!("{}{name}", self.prefix);
        let t = self.st.tensor(&full).map_err(|e| format!("{full}: {e}"))?;
        if t.shape() != shape {
            return Err(format!("{full}: shape {:?}, expected {shape:?}", t.shape()));
        }
        match t.dtype() {
            safetensors::Dtype::F32 => Ok(t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()),
            other => Err(format!("{full}: dtype {other:?}, expected F32")),
        }
    }

    fn linear(&self, name: &str, n: usize, k: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
        Ok((
            self.get(&format!("{name}.weight"), &[n, k])?,
            self.get(&format!("{name}.bias"), &[n])?,
        ))
    }

    fn packed(&self, name: &str, n: usize, k: usize, precision: Precision) -> Result<Proj, String> {
        let (w, b) = self.linear(name, n, k)?;
        Proj::new(&w, &b, n, k, precision).ok_or_else(|| format!("{name}: cannot pack {n}×{k}"))
    }

    fn layer_norm(&self, name: &str, n: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
        Ok((
            self.get(&format!("{name}.weight"), &[n])?,
            self.get(&format!("{name}.bias"), &[n])?,
        ))
    }
}

impl Bert {
    /// Builds the encoder from `model.safetensors` bytes. `threads` ≥ 1 workers run each forward pass;
    /// `isa` comes from [`Isa::detect`] (callers without one use another engine); `Precision::Int8`
    /// needs [`int8_supported`].
    pub(crate) fn load(
        cfg: &BertConfig,
        safetensors: &[u8],
        threads: usize,
        isa: Isa,
        precision: Precision,
    ) -> Result<Self, String> {
        if precision == Precision::Int8 && !int8::supported() {
            return Err("int8 needs AVX-512 VNNI, which this CPU lacks".to_string());
        }
        let (h, heads, inter) = (
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.intermediate_size,
        );
        if cfg.hidden_act != "gelu" {
            return Err(format!(
                "hidden_act {:?} is not supported (gelu only)",
                cfg.hidden_act
            ));
        }
        if cfg.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type {:?} is not supported",
                cfg.position_embedding_type
            ));
        }
        if heads == 0
            || !h.is_multiple_of(heads)
            || !h.is_multiple_of(kernels::NR)
            || !inter.is_multiple_of(kernels::NR)
        {
            return Err(format!(
                "unsupported shape: hidden {h}, heads {heads}, intermediate {inter}"
            ));
        }
        if cfg.type_vocab_size == 0 {
            return Err("type_vocab_size is 0".to_string());
        }
        let st = safetensors::SafeTensors::deserialize(safetensors).map_err(|e| e.to_string())?;
        // Exports of a bare BertModel name tensors `embeddings.…`; those of a task model `bert.embeddings.…`.
        let prefix = if st.tensor("embeddings.word_embeddings.weight").is_ok() {
            ""
        } else {
            "bert."
        };
        let w = Weights { st, prefix };
        let word = w.get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
        let position = w.get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?;
        let mut token_type0 = w.get(
            "embeddings.token_type_embeddings.weight",
            &[cfg.type_vocab_size, h],
        )?;
        token_type0.truncate(h);
        let emb_ln = w.layer_norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (mut qkv_w, mut qkv_b) = w.linear(&format!("{p}.attention.self.query"), h, h)?;
            for part in ["key", "value"] {
                let (pw, pb) = w.linear(&format!("{p}.attention.self.{part}"), h, h)?;
                qkv_w.extend_from_slice(&pw);
                qkv_b.extend_from_slice(&pb);
            }
            layers.push(Layer {
                qkv: Proj::new(&qkv_w, &qkv_b, 3 * h, h, precision)
                    .ok_or_else(|| format!("{p}: cannot pack qkv"))?,
                // int8 only where the input is a LayerNorm output (bounded, no outliers): the
                // attention context and the GELU output quantised per token cost too much accuracy
                // (cosine 0.982 against f32 on a 3-token text with all four projections in int8).
                attn_out: w.packed(&format!("{p}.attention.output.dense"), h, h, Precision::F32)?,
                ln1: w.layer_norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                ffn_in: w.packed(&format!("{p}.intermediate.dense"), inter, h, precision)?,
                ffn_out: w.packed(&format!("{p}.output.dense"), h, inter, Precision::F32)?,
                ln2: w.layer_norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        let threads = threads.max(1);
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("minilm-{i}"))
                    .build()
                    .map_err(|e| format!("thread pool: {e}"))?,
            )
        } else {
            None
        };
        Ok(Self {
            hidden: h,
            heads,
            max_positions: cfg.max_position_embeddings,
            vocab: cfg.vocab_size,
            eps: cfg.layer_norm_eps as f32,
            word,
            position,
            token_type0,
            emb_ln,
            layers,
            isa,
            threads,
            pool,
        })
    }

    /// The kernel flavour picked for this CPU ("avx512", "avx2+fma", "baseline").
    pub(crate) fn isa(&self) -> &'static str {
        self.isa.name()
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// One vector per token sequence (ids including [CLS]/[SEP]), mean-pooled over all its tokens
    /// and L2-normalised. Sequences may differ in length; none is padded.
    pub(crate) fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, String> {
        for s in seqs {
            if s.len() > self.max_positions {
                return Err(format!(
                    "{} tokens exceed the model's {} positions",
                    s.len(),
                    self.max_positions
                ));
            }
            if let Some(bad) = s.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(format!("token id {bad} outside the vocabulary"));
            }
        }
        match &self.pool {
            Some(pool) => pool.install(|| self.forward(seqs)),
            None => self.forward(seqs),
        }
    }

    fn forward(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, String> {
        let h = self.hidden;
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        let mut offsets = Vec::with_capacity(seqs.len());
        let mut at = 0;
        for s in seqs {
            offsets.push((at, s.len()));
            at += s.len();
        }
        let inter = self.layers.first().map_or(0, |l| l.ffn_in.n());
        // Every activation of the pass, allocated once per call.
        let mut x = vec![0f32; tokens * h];
        let mut tmp = vec![0f32; tokens * h];
        let mut ctx = vec![0f32; tokens * h];
        let mut qkv = vec![0f32; tokens * 3 * h];
        let mut ffn = vec![0f32; tokens * inter];

        for (row, (pos, &id)) in x
            .chunks_exact_mut(h)
            .zip(seqs.iter().flat_map(|s| s.iter().enumerate()))
        {
            let word = &self.word[id as usize * h..(id as usize + 1) * h];
            let position = &self.position[pos * h..(pos + 1) * h];
            for (i, v) in row.iter_mut().enumerate() {
                *v = word[i] + position[i] + self.token_type0[i];
            }
        }
        layer_norm_rows(&mut x, h, &self.emb_ln, self.eps);

        let mut scratch = QuantScratch::default();
        for layer in &self.layers {
            self.project(
                &x,
                tokens,
                &layer.qkv,
                Epilogue::Bias,
                &mut qkv,
                &mut scratch,
            );
            self.attention(&qkv, &offsets, &mut ctx);
            let res = Epilogue::Residual(&x);
            self.project(&ctx, tokens, &layer.attn_out, res, &mut tmp, &mut scratch);
            layer_norm_rows(&mut tmp, h, &layer.ln1, self.eps);
            std::mem::swap(&mut x, &mut tmp);
            self.project(
                &x,
                tokens,
                &layer.ffn_in,
                Epilogue::Gelu,
                &mut ffn,
                &mut scratch,
            );
            let res = Epilogue::Residual(&x);
            self.project(&ffn, tokens, &layer.ffn_out, res, &mut tmp, &mut scratch);
            layer_norm_rows(&mut tmp, h, &layer.ln2, self.eps);
            std::mem::swap(&mut x, &mut tmp);
        }

        Ok(offsets
            .iter()
            .map(|&(start, len)| {
                let mut mean = vec![0f32; h];
                for row in x[start * h..(start + len) * h].chunks_exact(h) {
                    mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
                }
                if len > 0 {
                    let inv = 1.0 / len as f32;
                    mean.iter_mut().for_each(|m| *m *= inv);
                }
                crate::l2_normalize(&mut mean);
                mean
            })
            .collect())
    }

    /// `out = epilogue(x · Wᵀ + b)` at the projection's precision.
    fn project(
        &self,
        x: &[f32],
        rows: usize,
        w: &Proj,
        epi: Epilogue<'_>,
        out: &mut [f32],
        scratch: &mut QuantScratch,
    ) {
        match w {
            Proj::F32(w) => linear(self.isa, x, rows, w, epi, out, self.threads),
            Proj::Int8(w) => {
                quantize_rows(x, w.k, &mut scratch.q, &mut scratch.scales);
                linear_i8(&scratch.q, &scratch.scales, rows, w, epi, out, self.threads);
            }
        }
    }

    /// Multi-head self-attention over each sequence (no mask needed: nothing is padded). Work is cut
    /// into blocks of query rows — whole sequences when there are enough of them to keep every thread
    /// busy, else slices of one — each writing its own rows of `ctx`.
    fn attention(&self, qkv: &[f32], offsets: &[(usize, usize)], ctx: &mut [f32]) {
        let h = self.hidden;
        let split = if offsets.len() >= 2 * self.threads {
            1
        } else {
            self.threads
        };
        // (sequence start, sequence length, first query row, query rows), in row order.
        let mut tasks = Vec::new();
        for &(start, len) in offsets {
            let parts = split.min(len.max(1));
            for p in 0..parts {
                let (q0, q1) = (len * p / parts, len * (p + 1) / parts);
                if q1 > q0 {
                    tasks.push((start, len, q0, q1 - q0));
                }
            }
        }
        let mut jobs = Vec::with_capacity(tasks.len());
        let mut rest = ctx;
        for &(start, len, q0, rows) in &tasks {
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(rows * h);
            jobs.push((start, len, q0, mine));
            rest = tail;
        }
        let (isa, heads) = (self.isa, self.heads);
        let run = |(start, len, q0, out): (usize, usize, usize, &mut [f32])| {
            let seq = &qkv[start * 3 * h..(start + len) * 3 * h];
            attend(isa, seq, len, q0, out, h, heads);
        };
        if jobs.len() > 1 && self.pool.is_some() {
            use rayon::prelude::*;
            jobs.into_par_iter().for_each(run);
        } else {
            jobs.into_iter().for_each(run);
        }
    }
}

fn attend(isa: Isa, seq: &[f32], len: usize, q0: usize, out: &mut [f32], h: usize, heads: usize) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` only comes from `Isa::detect` after checking the CPU.
        Isa::Avx512 => unsafe { attend_avx512(seq, len, q0, out, h, heads) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and FMA.
        Isa::Avx2Fma => unsafe { attend_avx2(seq, len, q0, out, h, heads) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => attend_generic(seq, len, q0, out, h, heads),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn attend_avx512(
    seq: &[f32],
    len: usize,
    q0: usize,
    out: &mut [f32],
    h: usize,
    heads: usize,
) {
    attend_generic(seq, len, q0, out, h, heads)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_avx2(seq: &[f32], len: usize, q0: usize, out: &mut [f32], h: usize, heads: usize) {
    attend_generic(seq, len, q0, out, h, heads)
}

/// softmax(q·kᵀ/√d)·v for query rows `q0..q0 + out.len()/h` of one sequence, all heads. `seq` holds
/// the sequence's fused q|k|v rows (`3h` wide). Per head, the keys are first copied transposed
/// (`d × len`) so each query's scores are `d` contiguous multiply-adds over the keys, and the
/// exponentials run as one vectorisable pass.
#[inline(always)]
fn attend_generic(seq: &[f32], len: usize, q0: usize, out: &mut [f32], h: usize, heads: usize) {
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut kt = vec![0f32; d * len];
    let mut scores = vec![0f32; len];
    for hd in 0..heads {
        let col = hd * d;
        for j in 0..len {
            let key = &seq[j * 3 * h + h + col..j * 3 * h + h + col + d];
            for (c, &kv) in key.iter().enumerate() {
                kt[c * len + j] = kv;
            }
        }
        for (i, o_row) in out.chunks_exact_mut(h).enumerate() {
            let qi = (q0 + i) * 3 * h + col;
            scores.fill(0.0);
            for (&qc, kt_row) in seq[qi..qi + d].iter().zip(kt.chunks_exact(len)) {
                let qc = qc * scale;
                for (s, &k) in scores.iter_mut().zip(kt_row) {
                    *s += qc * k;
                }
            }
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            scores.iter_mut().for_each(|s| *s = kernels::exp(*s - max));
            let inv = 1.0 / sum(&scores);
            let o = &mut o_row[col..col + d];
            o.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                let vj = j * 3 * h + 2 * h + col;
                let p = p * inv;
                for (ov, &vv) in o.iter_mut().zip(&seq[vj..vj + d]) {
                    *ov += p * vv;
                }
            }
        }
    }
}

/// Whether this CPU runs [`Precision::Int8`].
pub(crate) fn int8_supported() -> bool {
    int8::supported()
}

/// Sum with 16 independent partial sums, so it vectorises without reassociating one long sum.
#[inline(always)]
fn sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for l in 0..16 {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// In-place LayerNorm of each `h`-wide row: `(x - mean) / sqrt(var + eps) · γ + β`.
fn layer_norm_rows(x: &mut [f32], h: usize, (gamma, beta): &(Vec<f32>, Vec<f32>), eps: f32) {
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}
