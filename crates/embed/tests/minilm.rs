//! Tests against the real all-MiniLM-L6-v2 files. The model is part of the project's shared
//! assets, so its absence is a failure here, not a skip: a silent skip would let the parity
//! check rot unnoticed.

use std::path::PathBuf;

use claude_mem_embed::{
    cosine, default_embedder, install_model, EmbedError, Embedder, MiniLm, MAX_TOKENS, MINILM_DIM,
    MINILM_ID,
};
use serde::Deserialize;

fn model_dir() -> PathBuf {
    let dir = std::env::var_os("CLAUDE_MEM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/models/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("model.safetensors").is_file(),
        "all-MiniLM-L6-v2 not found at {} (set CLAUDE_MEM_MODEL_DIR)",
        dir.display()
    );
    dir
}

fn load() -> MiniLm {
    MiniLm::load(&model_dir()).unwrap()
}

#[derive(Deserialize)]
struct Reference {
    max_tokens: usize,
    dim: usize,
    sentences: Vec<RefSentence>,
}

#[derive(Deserialize)]
struct RefSentence {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/embeddings/minilm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn matches_independent_reference() {
    let model = load();
    let reference = reference();
    assert_eq!(reference.dim, MINILM_DIM);
    assert_eq!(reference.max_tokens, MAX_TOKENS);
    // The fixture must exercise truncation, or the 256-token limit is untested.
    assert!(reference.sentences.iter().any(|s| s.tokens == MAX_TOKENS));
    assert!(reference
        .sentences
        .iter()
        .any(|s| s.tokens > 128 && s.tokens < MAX_TOKENS));

    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    // All at once (padded batches, reordered by length) and one by one (no padding) must both
    // match: padding must not leak into the mean.
    let batched = model.embed(&texts).unwrap();
    let mut worst = f32::MAX;
    for (s, v) in reference.sentences.iter().zip(&batched) {
        let single = model.embed(&[s.text.as_str()]).unwrap().remove(0);
        let c_batch = cosine(v, &s.embedding);
        let c_single = cosine(&single, &s.embedding);
        let max_diff = v
            .iter()
            .chain(&single)
            .zip(s.embedding.iter().chain(&s.embedding))
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let shown: String = s.text.chars().take(60).collect();
        eprintln!("cos {c_batch:.7}/{c_single:.7} max |diff| {max_diff:.1e}  {shown:?}");
        assert!(c_batch >= 0.99 && c_single >= 0.99, "{:?}", s.text);
        worst = worst.min(c_batch).min(c_single);
    }
    eprintln!("worst cosine vs reference: {worst:.7}");
}

#[test]
fn shape_norm_and_semantics() {
    let model = load();
    assert_eq!(model.id(), MINILM_ID);
    assert_eq!(model.dim(), 384);
    let texts = [
        "the login page crashes when the password is empty",
        "Login fails with an empty password field",
        "How do I bake sourdough bread at home?",
        "",
    ];
    let v = model.embed(&texts).unwrap();
    assert_eq!(v.len(), texts.len());
    for x in &v {
        assert_eq!(x.len(), 384);
        assert!((norm(x) - 1.0).abs() < 1e-4);
    }
    let similar = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    assert!(similar > 0.6, "{similar}");
    assert!(similar > unrelated + 0.4, "{similar} vs {unrelated}");
    assert!(model.embed(&[]).unwrap().is_empty());
}

#[test]
fn long_batches_keep_order() {
    let model = load();
    // More texts than one internal batch, lengths shuffled, so reordering is exercised.
    let texts: Vec<String> = (0..40)
        .map(|i| format!("note {i}: {}", "word ".repeat((i * 7) % 12)))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let all = model.embed(&refs).unwrap();
    for i in [0, 13, 33, 39] {
        let one = model.embed(&[refs[i]]).unwrap().remove(0);
        assert!(cosine(&all[i], &one) > 0.9999, "text {i}");
    }
}

#[test]
fn default_embedder_uses_model_when_present() {
    let (e, reason) = default_embedder(&model_dir());
    assert_eq!(e.id(), MINILM_ID);
    assert!(reason.is_none());
}

#[test]
fn default_embedder_falls_back_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    let (e, reason) = default_embedder(&missing);
    assert_eq!(e.id(), "hash-384");
    assert_eq!(e.dim(), MINILM_DIM);
    let reason = reason.unwrap();
    assert!(reason.contains("no-such-model"), "{reason}");
    assert!(reason.contains("model.safetensors"), "{reason}");
    assert_eq!(e.embed(&["still works"]).unwrap()[0].len(), 384);

    // Files present but corrupt: also a fallback, with the load error as reason.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::write(corrupt.join(f), b"not a model").unwrap();
    }
    let (e, reason) = default_embedder(&corrupt);
    assert_eq!(e.id(), "hash-384");
    assert!(reason.unwrap().contains("failed to load"));
}

#[test]
fn install_copies_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("models/all-MiniLM-L6-v2");
    install_model(&model_dir(), &to).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "tokenizer_config.json",
        "1_Pooling/config.json",
    ] {
        assert!(to.join(f).is_file(), "{f} not installed");
    }
    let installed = MiniLm::load(&to).unwrap();
    let a = installed.embed(&["src/store/db.rs"]).unwrap();
    let b = load().embed(&["src/store/db.rs"]).unwrap();
    assert!(cosine(&a[0], &b[0]) > 0.99999);
    // Installing again over an existing (read-only-copied) install works.
    install_model(&model_dir(), &to).unwrap();
}

#[test]
fn install_rejects_incomplete_source() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("partial");
    std::fs::create_dir(&from).unwrap();
    std::fs::copy(model_dir().join("config.json"), from.join("config.json")).unwrap();
    std::fs::copy(
        model_dir().join("tokenizer.json"),
        from.join("tokenizer.json"),
    )
    .unwrap();
    let to = dir.path().join("dest");
    match install_model(&from, &to) {
        Err(EmbedError::ModelMissing(msg)) => assert!(msg.contains("model.safetensors"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(!to.exists(), "nothing may be written for a broken source");
}
