//! The labelled evaluation set (tests/eval): hybrid search must beat full text alone and vectors alone,
//! with the real all-MiniLM-L6-v2 model.

use claude_mem_embed::MiniLm;
use claude_mem_search::eval::evaluate;
use claude_mem_search::Fusion;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn model_dir() -> PathBuf {
    std::env::var_os("CLAUDE_MEM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/all-MiniLM-L6-v2")
        })
}

#[test]
fn hybrid_beats_text_and_vector_alone() {
    let eval = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/eval");
    let model =
        MiniLm::load(&model_dir()).expect("all-MiniLM-L6-v2 must be available (shared/models)");
    let report = evaluate(&eval, Arc::new(model), Fusion::default()).unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert!(report.observations >= 200 && report.queries >= 50);
    for (name, m) in [("text", &report.text), ("vector", &report.vector)] {
        assert!(
            report.hybrid.recall_at_5 > m.recall_at_5,
            "hybrid recall@5 {} ≤ {name} {}",
            report.hybrid.recall_at_5,
            m.recall_at_5
        );
        assert!(
            report.hybrid.mrr > m.mrr,
            "hybrid MRR {} ≤ {name} {}",
            report.hybrid.mrr,
            m.mrr
        );
    }
}
