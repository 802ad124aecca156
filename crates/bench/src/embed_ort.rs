//! `embed-vs-ort`: our MiniLM embedder side by side with ONNX Runtime on the same texts, batch sizes
//! and thread count (issue 22). Both run in one process tree, back to back, `--repeats` times, so the
//! ratio holds even when the machine is busy; the candle engine the product used before runs too, as
//! the "before".
//!
//! The ONNX Runtime side is `scripts/bench/ort_embed.py` under a Python that has `onnxruntime`,
//! `tokenizers` and `numpy` (`scripts/bench/embed_vs_ort.sh` makes that venv); the product itself
//! never uses onnxruntime.

use crate::write_json;
use anyhow::{bail, Context};
use claude_mem_embed::{cosine, CandleMiniLm, Embedder, MiniLm};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The `embed_speed` example's texts (crates/embed/examples/embed_speed.rs), which the figures
/// were taken on; 10–24 tokens each with [CLS] and [SEP].
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

#[derive(Debug, clap::Args)]
pub struct Args {
    /// all-MiniLM-L6-v2 with its ONNX export in onnx/model.onnx.
    #[arg(long, default_value = "../shared/models/all-MiniLM-L6-v2")]
    model_dir: PathBuf,
    /// A Python with onnxruntime, tokenizers and numpy (scripts/bench/embed_vs_ort.sh makes one).
    #[arg(long, default_value = "target/ort-venv/bin/python")]
    python: PathBuf,
    #[arg(long, default_value = "scripts/bench/ort_embed.py")]
    script: PathBuf,
    /// Threads for every engine (candle reads RAYON_NUM_THREADS, which is set to this).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Texts per `embed` call.
    #[arg(long, value_delimiter = ',', default_value = "1,8,40")]
    batches: Vec<usize>,
    /// The eight samples are repeated this many times (the figures: 5, i.e. 40 texts).
    #[arg(long, default_value_t = 5)]
    copies: usize,
    /// Timed passes over the texts per batch size and run.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Back-to-back runs of all engines.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Leave out candle (the slow "before"), e.g. for a quick check.
    #[arg(long)]
    no_candle: bool,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Timing {
    batch: usize,
    texts: usize,
    seconds: f64,
    texts_per_second: f64,
}

#[derive(Debug, Deserialize)]
struct OrtOut {
    engine: String,
    results: Vec<Timing>,
    #[serde(default)]
    vectors: Option<Vec<Vec<f32>>>,
}

#[derive(Debug, Serialize)]
struct EngineRuns {
    engine: String,
    /// One entry per batch size: texts/s of every run, and their median.
    batches: Vec<BatchRuns>,
}

#[derive(Debug, Serialize)]
struct BatchRuns {
    batch: usize,
    texts_per_second: Vec<f64>,
    median: f64,
}

#[derive(Debug, Serialize)]
struct Ratios {
    /// ours ÷ ONNX Runtime at batch 1, per run.
    batch1: Vec<f64>,
    /// ours' best batch ÷ ONNX Runtime's best batch, per run.
    best: Vec<f64>,
    batch1_median: f64,
    best_median: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    texts: usize,
    threads: usize,
    rounds: usize,
    repeats: usize,
    /// Our f32 engine (the product's default), then the int8 variant where the CPU has AVX-512 VNNI,
    /// then candle (the engine before), then ONNX Runtime.
    engines: Vec<EngineRuns>,
    ours_vs_ort: Ratios,
    int8_vs_ort: Option<Ratios>,
    candle_vs_ort: Option<Ratios>,
    /// Lowest cosine over the texts between our f32 vectors and each other engine's.
    min_cosine_vs_candle: Option<f32>,
    min_cosine_vs_ort: f32,
    min_cosine_int8_vs_f32: Option<f32>,
}

fn time_engine(
    e: &dyn Embedder,
    texts: &[&str],
    batch: usize,
    rounds: usize,
) -> anyhow::Result<f64> {
    let chunks: Vec<&[&str]> = texts.chunks(batch.max(1)).collect();
    for c in &chunks {
        e.embed(c)?; // warm-up
    }
    let t = Instant::now();
    for _ in 0..rounds {
        for c in &chunks {
            e.embed(c)?;
        }
    }
    Ok((rounds * texts.len()) as f64 / t.elapsed().as_secs_f64())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn runs(engine: String, batches: &[usize], per_run: &[Vec<f64>]) -> EngineRuns {
    EngineRuns {
        engine,
        batches: batches
            .iter()
            .enumerate()
            .map(|(i, &batch)| {
                let tps: Vec<f64> = per_run.iter().map(|r| r[i]).collect();
                BatchRuns {
                    batch,
                    median: median(&tps),
                    texts_per_second: tps,
                }
            })
            .collect(),
    }
}

fn ratios(ours: &[Vec<f64>], ort: &[Vec<f64>]) -> Ratios {
    let best = |r: &Vec<f64>| r.iter().copied().fold(0.0, f64::max);
    let batch1: Vec<f64> = ours.iter().zip(ort).map(|(o, r)| o[0] / r[0]).collect();
    let best: Vec<f64> = ours
        .iter()
        .zip(ort)
        .map(|(o, r)| best(o) / best(r))
        .collect();
    Ratios {
        batch1_median: median(&batch1),
        best_median: median(&best),
        batch1,
        best,
    }
}

fn run_ort(args: &Args, texts_file: &std::path::Path, vectors: bool) -> anyhow::Result<OrtOut> {
    let batches: Vec<String> = args.batches.iter().map(|b| b.to_string()).collect();
    let mut cmd = Command::new(&args.python);
    cmd.arg(&args.script)
        .arg("--model-dir")
        .arg(&args.model_dir)
        .arg("--texts")
        .arg(texts_file)
        .args(["--threads", &args.threads.to_string()])
        .args(["--batches", &batches.join(",")])
        .args(["--rounds", &args.rounds.to_string()]);
    if vectors {
        cmd.arg("--vectors");
    }
    let out = cmd.output().with_context(|| {
        format!(
            "cannot run {} (make the venv with scripts/bench/embed_vs_ort.sh)",
            args.python.display()
        )
    })?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            args.script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let parsed: OrtOut = serde_json::from_slice(&out.stdout).context("ort_embed.py output")?;
    if parsed.results.len() != args.batches.len() {
        bail!("ort_embed.py returned {} timings", parsed.results.len());
    }
    Ok(parsed)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.batches.is_empty() || args.batches[0] != 1 {
        bail!("--batches must start with 1 (the batch-1 ratio is the headline)");
    }
    // candle sizes its matmul parallelism from RAYON_NUM_THREADS (else the core count); set before
    // any thread exists.
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    let owned: Vec<&str> = SAMPLES
        .iter()
        .copied()
        .cycle()
        .take(SAMPLES.len() * args.copies)
        .collect();
    let texts = owned.as_slice();
    let tmp = tempfile::tempdir()?;
    let texts_file = tmp.path().join("texts.json");
    std::fs::write(&texts_file, serde_json::to_string(texts)?)?;

    let ours = MiniLm::load_with_threads(&args.model_dir, args.threads)?;
    let mut engines: Vec<(String, Box<dyn Embedder>)> = Vec::new();
    engines.push((format!("ours f32 ({})", ours.engine()), Box::new(ours)));
    let int8 = match MiniLm::load_int8(&args.model_dir, args.threads) {
        Ok(m) => {
            engines.push((format!("ours int8 ({})", m.engine()), Box::new(m)));
            Some(engines.len() - 1)
        }
        Err(e) => {
            eprintln!("no int8 run: {e}");
            None
        }
    };
    let candle = if args.no_candle {
        None
    } else {
        let c = CandleMiniLm::load(&args.model_dir)?;
        engines.push(("candle 0.11 BERT (before)".to_string(), Box::new(c)));
        Some(engines.len() - 1)
    };

    // per_engine[e][run][batch index] = texts/s
    let mut per_engine: Vec<Vec<Vec<f64>>> = vec![Vec::new(); engines.len()];
    let mut ort_runs = Vec::new();
    let mut ort_engine = String::new();
    let mut ort_vectors = None;
    for rep in 0..args.repeats {
        for (e, (_, engine)) in engines.iter().enumerate() {
            let mut row = Vec::new();
            for &b in &args.batches {
                row.push(time_engine(engine.as_ref(), texts, b, args.rounds)?);
            }
            per_engine[e].push(row);
        }
        let ort = run_ort(&args, &texts_file, rep == 0)?;
        ort_engine = ort.engine;
        if ort.vectors.is_some() {
            ort_vectors = ort.vectors;
        }
        ort_runs.push(ort.results.iter().map(|t| t.texts_per_second).collect());
        eprintln!("run {}/{} done", rep + 1, args.repeats);
    }

    let vectors: Vec<Vec<Vec<f32>>> = engines
        .iter()
        .map(|(_, e)| e.embed(texts))
        .collect::<Result<_, _>>()?;
    let min_cos = |a: &[Vec<f32>], b: &[Vec<f32>]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| cosine(x, y))
            .fold(f32::MAX, f32::min)
    };
    let ort_vectors = ort_vectors.context("ort_embed.py returned no vectors")?;
    if ort_vectors.len() != texts.len() {
        bail!("ort_embed.py returned {} vectors", ort_vectors.len());
    }
    let mut runs_out: Vec<EngineRuns> = engines
        .iter()
        .zip(&per_engine)
        .map(|((name, _), r)| runs(name.clone(), &args.batches, r))
        .collect();
    runs_out.push(runs(ort_engine, &args.batches, &ort_runs));
    let report = Report {
        texts: texts.len(),
        threads: args.threads,
        rounds: args.rounds,
        repeats: args.repeats,
        ours_vs_ort: ratios(&per_engine[0], &ort_runs),
        int8_vs_ort: int8.map(|i| ratios(&per_engine[i], &ort_runs)),
        candle_vs_ort: candle.map(|i| ratios(&per_engine[i], &ort_runs)),
        min_cosine_vs_candle: candle.map(|i| min_cos(&vectors[0], &vectors[i])),
        min_cosine_vs_ort: min_cos(&vectors[0], &ort_vectors),
        min_cosine_int8_vs_f32: int8.map(|i| min_cos(&vectors[0], &vectors[i])),
        engines: runs_out,
    };

    println!(
        "\nMiniLM texts/s, {} texts ({} distinct), {} threads, {} runs back to back",
        report.texts,
        SAMPLES.len(),
        report.threads,
        report.repeats
    );
    println!(
        "| {:<40} | {:>5} | {:<26} | {:>8} |",
        "engine", "batch", "texts/s per run", "median"
    );
    println!("|{:-<42}|{:-<7}|{:-<28}|{:-<10}|", "", "", "", "");
    for e in &report.engines {
        for b in &e.batches {
            let per: Vec<String> = b
                .texts_per_second
                .iter()
                .map(|v| format!("{v:.1}"))
                .collect();
            println!(
                "| {:<40} | {:>5} | {:<26} | {:>8.1} |",
                e.engine,
                b.batch,
                per.join(" "),
                b.median
            );
        }
    }
    let show = |name: &str, r: &Ratios| {
        let f = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{name}: batch 1 {:.2}x ({}), best batch {:.2}x ({})",
            r.batch1_median,
            f(&r.batch1),
            r.best_median,
            f(&r.best)
        );
    };
    show("ours f32 / ONNX Runtime", &report.ours_vs_ort);
    if let Some(r) = &report.int8_vs_ort {
        show("ours int8 / ONNX Runtime", r);
    }
    if let Some(r) = &report.candle_vs_ort {
        show("candle / ONNX Runtime (before)", r);
    }
    if let Some(c) = report.min_cosine_vs_candle {
        println!("min cosine ours f32 vs candle: {c:.6}");
    }
    println!(
        "min cosine ours f32 vs ONNX Runtime: {:.6}",
        report.min_cosine_vs_ort
    );
    if let Some(c) = report.min_cosine_int8_vs_f32 {
        println!("min cosine ours int8 vs ours f32: {c:.6}");
    }
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(())
}
