//! Tests against the real all-MiniLM-L6-v2 files. The model is part of the project's shared
//! assets, so its absence is a failure here, not a skip: a silent skip would let the parity
//! check rot unnoticed.

use std::path::PathBuf;

use claude_mem_embed::{
    cosine, default_embedder, install_model, CandleMiniLm, EmbedError, Embedder, MiniLm,
    MAX_TOKENS, MINILM_DIM, MINILM_ID, MINILM_INT8_ID,
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

/// The product's engine against candle's BERT, which made every vector stored before the switch
/// (the id stayed `minilm-l6-v2`, so old and new vectors must be interchangeable): the reference
/// sentences (3 to 256 tokens, the last truncated), the benchmark's samples and edge cases, all at
/// once (batched, reordered) and one by one, with 1 and 2 threads.
#[test]
fn matches_candle_engine() {
    let candle = CandleMiniLm::load(&model_dir()).unwrap();
    let reference = reference();
    let mut texts: Vec<String> = reference.sentences.iter().map(|s| s.text.clone()).collect();
    texts.extend(
        [
            "",
            " ",
            "src/store/db.rs",
            "userAccountId is null in getUserProfile() after the session cache expires",
            "Ünïcödé, emoji 🚀 and CJK 漢字 in one note",
            "ran cargo test -p claude-mem-core: 212 passed, 0 failed",
        ]
        .map(String::from),
    );
    texts.push("a much longer memory about the build ".repeat(60)); // well past 256 tokens
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let want = candle.embed(&refs).unwrap();
    let mut worst = f32::MAX;
    for threads in [1, 2] {
        let ours = MiniLm::load_with_threads(&model_dir(), threads).unwrap();
        let batched = ours.embed(&refs).unwrap();
        assert_eq!(batched.len(), refs.len());
        for (i, (text, w)) in refs.iter().zip(&want).enumerate() {
            let single = ours.embed(&[text]).unwrap().remove(0);
            for v in [&batched[i], &single] {
                assert_eq!(v.len(), MINILM_DIM);
                let c = cosine(v, w);
                assert!(c >= 0.999, "text {i} ({threads} threads): cosine {c}");
                worst = worst.min(c);
            }
        }
    }
    eprintln!("worst cosine vs candle: {worst:.7}");
}

/// The opt-in int8 engine against candle's f32 vectors, and its refusal where the CPU cannot run it.
/// Measured: ≥ 0.997 on every text with words in it, but 0.986 on "ok" and 0.988 on "" (3 and 2
/// tokens) — short of the 0.99 parity bar, which is why int8 is not the default
/// (docs/BENCHMARKS.md). The
/// assertions pin what holds today so a regression shows: 0.98 for every text, 0.99 for texts of
/// more than 5 words.
#[test]
fn int8_close_to_f32_or_refused() {
    let ours = match MiniLm::load_int8(&model_dir(), 2) {
        Ok(m) => m,
        Err(EmbedError::Load(msg)) => {
            assert!(msg.contains("VNNI"), "{msg}");
            eprintln!("int8 not run: {msg}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(ours.id(), MINILM_INT8_ID);
    assert_eq!(ours.dim(), MINILM_DIM);
    let candle = CandleMiniLm::load(&model_dir()).unwrap();
    let reference = reference();
    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .chain([
            "",
            "src/store/db.rs",
            "Ünïcödé, emoji 🚀 and CJK 漢字 in one note",
        ])
        .collect();
    let want = candle.embed(&texts).unwrap();
    let got = ours.embed(&texts).unwrap();
    let mut worst = f32::MAX;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((norm(g) - 1.0).abs() < 1e-4);
        let c = cosine(g, w);
        let words = texts[i].split_whitespace().count();
        eprintln!(
            "int8 cos {c:.5} {:?}",
            texts[i].chars().take(50).collect::<String>()
        );
        assert!(c >= 0.98, "text {i}: cosine {c}");
        if words > 5 {
            assert!(c >= 0.99, "text {i}: cosine {c}");
        }
        worst = worst.min(c);
    }
    eprintln!("worst int8 cosine vs candle f32: {worst:.5}");
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
