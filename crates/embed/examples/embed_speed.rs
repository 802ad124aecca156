//! Throughput of MiniLM on this machine: `cargo run --release -p claude-mem-embed --example
//! embed_speed [MODEL_DIR]`. Kept out of the tests because timings are machine-dependent.

use std::path::PathBuf;
use std::time::Instant;

use claude_mem_embed::{Embedder, HashEmbedder, MiniLm};

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
    let t = Instant::now();
    let model = MiniLm::load(&dir)?;
    println!(
        "load: {:.0} ms ({})",
        t.elapsed().as_secs_f64() * 1e3,
        dir.display()
    );

    let hash = HashEmbedder::new(384);
    for (name, e) in [("minilm", &model as &dyn Embedder), ("hash-384", &hash)] {
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
