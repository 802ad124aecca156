//! Throughput of MiniLM on this machine: `cargo run --release -p claude-mem-embed --example
//! embed_speed [MODEL_DIR]`. Kept out of the tests because timings are machine-dependent.
//! `EMBED_THREADS=N` sets the threads per forward pass (default: the product's choice). The side by
//! side with ONNX Runtime is `scripts/bench/embed_vs_ort.sh` (claude-mem-bench embed-vs-ort).

use std::path::PathBuf;
use std::time::Instant;

use claude_mem_embed::{CandleMiniLm, Embedder, HashEmbedder, MiniLm};

const SAMPLES: [&str; 8] = [
    "Fixed off-by-one in Paginator::next_page",
    "the login page crashes when the password is empty",
    "src/store/db.rs",
    "Switched the SQLite journal mode to WAL to stop 'database is locked' errors",
    "userAccountId is null in getUserProfile() after the session cache expires",
    "Migrated the CI pipeline to GitHub Actions; the cargo registry is cached between runs now",
    "Decided to keep observations immutable and store corrections as new rows referencing the old one",
    "ran cargo test -p claude-mem-core: 212 passed, 0 failed",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("CLAUDE_MEM_MODEL_DIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/models/all-MiniLM-L6-v2")
        });
    let threads: Option<usize> = std::env::var("EMBED_THREADS")
        .ok()
        .and_then(|t| t.parse().ok());
    let t = Instant::now();
    let model = match threads {
        Some(n) => MiniLm::load_with_threads(&dir, n)?,
        None => MiniLm::load(&dir)?,
    };
    println!(
        "load: {:.0} ms ({}, {})",
        t.elapsed().as_secs_f64() * 1e3,
        dir.display(),
        model.engine()
    );

    let mut engines: Vec<(&str, Box<dyn Embedder>)> = vec![("minilm", Box::new(model))];
    if let Ok(m) = MiniLm::load_int8(&dir, threads.unwrap_or(2)) {
        engines.push(("int8", Box::new(m)));
    }
    if std::env::var_os("EMBED_CANDLE").is_some() {
        engines.push(("candle", Box::new(CandleMiniLm::load(&dir)?)));
    }
    engines.push(("hash-384", Box::new(HashEmbedder::new(384))));
    for (name, e) in &engines {
        for batch in [1usize, 16, 64] {
            let texts: Vec<&str> = SAMPLES.iter().copied().cycle().take(batch).collect();
            e.embed(&texts)?; // warm-up
            let rounds = (256 / batch).max(4);
            let t = Instant::now();
            for _ in 0..rounds {
                e.embed(&texts)?;
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{name:>8} batch {batch:>3}: {:>9.1} sentences/s ({:.2} ms per call)",
                (rounds * batch) as f64 / secs,
                secs * 1e3 / rounds as f64
            );
        }
    }
    Ok(())
}
