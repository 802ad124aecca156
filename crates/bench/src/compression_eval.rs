//! `compression-eval` (issue 17): how well a compressor keeps what a person would want remembered.
//!
//! Replays the labelled corpus in `tests/fixtures/compression_corpus/` (recorded Claude Code hook payloads,
//! 2–4 key facts per session) through a real `claude-mem serve`, over the same HTTP endpoints Claude Code's
//! hooks use, then reads back what was stored through the API only. Nothing here knows how a compressor
//! works, so the same run measures any compressor before and after a change:
//!
//! - **key-fact coverage**: a fact is covered when all its distinctive terms appear (case-insensitively) in
//!   one observation of its session, in the title, narrative or facts; reported for observations alone
//!   and with the session's summaries (request, investigated, learned, completed, next steps) counted too;
//! - **cards per turn**: observations / user prompts;
//! - **retrieval**: each fact's paraphrase query through `GET /api/search` with default settings,
//!   restricted to the session's project; a hit is an observation of that session that covers the fact
//!   (MRR@10, R@5).
//!
//! Three splits, each reported on its own row and together as `all`: `tune` (look at its misses, tune on
//! it), `heldout` (reported, never tuned on; its misses were read once, so it is no longer unseen) and
//! `fresh` (written after that, the split nobody has read misses from). Misses are listed for `tune` only.

use crate::{claude_mem_bin, start_worker, write_json};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Results read per query: MRR is cut at this rank.
const K: usize = 10;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The corpus: a folder with `tune/`, `heldout/` and `fresh/` (default:
    /// tests/fixtures/compression_corpus). A split folder that is absent is skipped, so older corpora
    /// without `fresh/` still measure.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long)]
    json: Option<PathBuf>,
    /// all-MiniLM-L6-v2 files for the worker's embedder; `hash` (the default) for the hashing fallback.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// The claude-mem binary (default: beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// The compressor under test (`compression.provider`).
    #[arg(long, default_value = "local")]
    compressor: String,
    /// Only this split (`tune`, `heldout` or `fresh`); default all three.
    #[arg(long)]
    half: Option<String>,
    /// Post every recorded event, not only those the shipped plugin subscribes to
    /// (plugin/hooks/hooks.json; Claude Code fires PreToolUse too, but the plugin does not listen to it).
    #[arg(long)]
    all_events: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Fact {
    pub id: String,
    pub distinctive_terms: Vec<String>,
    pub query: String,
}

#[derive(Debug, Deserialize)]
struct SessionFile {
    id: String,
    facts: Vec<Fact>,
    hooks: Vec<Value>,
}

struct Session {
    id: String,
    half: String,
    session_id: String,
    facts: Vec<Fact>,
    hooks: Vec<Value>,
}

/// The corpus splits, in report order.
const HALVES: [&str; 3] = ["tune", "heldout", "fresh"];

fn load(corpus: &Path, only: Option<&str>) -> anyhow::Result<Vec<Session>> {
    let mut out = Vec::new();
    for half in HALVES {
        if only.is_some_and(|h| h != half) {
            continue;
        }
        let dir = corpus.join(half);
        if only.is_none() && !dir.exists() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.retain(|p| p.extension().is_some_and(|x| x == "json"));
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)?;
            let f: SessionFile = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            let session_id = f
                .hooks
                .first()
                .and_then(|h| h["session_id"].as_str())
                .with_context(|| format!("{}: no session_id in the first hook", path.display()))?
                .to_owned();
            out.push(Session {
                id: f.id,
                half: half.to_owned(),
                session_id,
                facts: f.facts,
                hooks: f.hooks,
            });
        }
    }
    if out.is_empty() {
        bail!("no sessions under {}", corpus.display());
    }
    Ok(out)
}

/// The events the shipped plugin registers for (what a real install delivers to the worker).
fn plugin_events() -> anyhow::Result<HashSet<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin/hooks/hooks.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    let hooks = v["hooks"]
        .as_object()
        .context("plugin hooks.json has no hooks")?;
    Ok(hooks.keys().cloned().collect())
}

/// Whether every term appears, case-insensitively, in `text` (already lowercased).
pub fn covers(text_lower: &str, terms: &[String]) -> bool {
    !terms.is_empty() && terms.iter().all(|t| text_lower.contains(&t.to_lowercase()))
}

/// An observation's title, narrative and facts, lowercased.
fn observation_text(o: &Value) -> String {
    let mut s = String::new();
    for key in ["title", "narrative"] {
        s.push_str(o[key].as_str().unwrap_or(""));
        s.push('\n');
    }
    for f in o["facts"].as_array().into_iter().flatten() {
        s.push_str(f.as_str().unwrap_or(""));
        s.push('\n');
    }
    s.to_lowercase()
}

fn summary_text(o: &Value) -> String {
    let mut s = String::new();
    for key in [
        "request",
        "investigated",
        "learned",
        "completed",
        "next_steps",
    ] {
        s.push_str(o[key].as_str().unwrap_or(""));
        s.push('\n');
    }
    s.to_lowercase()
}

#[derive(Debug, Serialize)]
struct FactResult {
    id: String,
    distinctive_terms: Vec<String>,
    query: String,
    covered: bool,
    covered_incl_summaries: bool,
    /// Rank (1-based) of the first covering observation of this session in the search results; null
    /// when none is in the top 10.
    rank: Option<usize>,
}

#[derive(Debug, Serialize)]
struct SessionResult {
    id: String,
    half: String,
    session_id: String,
    project: String,
    prompts: usize,
    observations: usize,
    summaries: usize,
    cards_per_turn: f64,
    titles: Vec<String>,
    /// Each observation's type, title, narrative and facts: what coverage was judged on, so a miss can be
    /// read in the JSON without a second run.
    cards: Vec<Value>,
    facts: Vec<FactResult>,
}

#[derive(Debug, Serialize)]
struct Totals {
    half: String,
    sessions: usize,
    facts: usize,
    turns: usize,
    observations: usize,
    summaries: usize,
    cards_per_turn: f64,
    coverage: f64,
    coverage_incl_summaries: f64,
    mrr_at_10: f64,
    recall_at_5: f64,
}

impl Totals {
    fn of(half: &str, sessions: &[&SessionResult]) -> Self {
        let facts: Vec<&FactResult> = sessions.iter().flat_map(|s| &s.facts).collect();
        let n = facts.len().max(1) as f64;
        let turns: usize = sessions.iter().map(|s| s.prompts).sum();
        let observations: usize = sessions.iter().map(|s| s.observations).sum();
        Self {
            half: half.to_owned(),
            sessions: sessions.len(),
            facts: facts.len(),
            turns,
            observations,
            summaries: sessions.iter().map(|s| s.summaries).sum(),
            cards_per_turn: observations as f64 / turns.max(1) as f64,
            coverage: facts.iter().filter(|f| f.covered).count() as f64 / n,
            coverage_incl_summaries: facts.iter().filter(|f| f.covered_incl_summaries).count()
                as f64
                / n,
            mrr_at_10: facts
                .iter()
                .filter_map(|f| f.rank)
                .map(|r| 1.0 / r as f64)
                .sum::<f64>()
                / n,
            recall_at_5: facts
                .iter()
                .filter(|f| f.rank.is_some_and(|r| r <= 5))
                .count() as f64
                / n,
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    compressor: String,
    embedder: String,
    corpus: String,
    events_posted: usize,
    events_not_subscribed: usize,
    events_failed: i64,
    search_limit: usize,
    totals: Vec<Totals>,
    sessions: Vec<SessionResult>,
    seconds: f64,
}

async fn get(client: &reqwest::Client, url: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
    let r = client.get(url).query(query).send().await?;
    let status = r.status();
    let body: Value = r.json().await?;
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}: {body}");
    }
    Ok(body)
}

/// Posts every session's hooks in order; returns (posted, left out because the plugin does not listen).
async fn replay(
    client: &reqwest::Client,
    base: &str,
    sessions: &[Session],
    events: Option<&HashSet<String>>,
) -> anyhow::Result<(usize, usize)> {
    let (mut posted, mut left) = (0, 0);
    for s in sessions {
        for h in &s.hooks {
            let event = h["hook_event_name"]
                .as_str()
                .with_context(|| format!("{}: a hook without hook_event_name", s.id))?;
            if events.is_some_and(|e| !e.contains(event)) {
                left += 1;
                continue;
            }
            let r = client
                .post(format!("{base}/hooks/{event}"))
                .json(h)
                .send()
                .await?;
            let status = r.status();
            let body = r.text().await?;
            if !status.is_success() {
                bail!("{}: POST /hooks/{event}: HTTP {status}: {body}", s.id);
            }
            posted += 1;
        }
    }
    Ok((posted, left))
}

/// Waits until nothing is pending and the index holds every observation and summary.
async fn wait_settled(client: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    let start = Instant::now();
    let deadline = Duration::from_secs(600);
    loop {
        let h = get(client, &format!("{base}/api/health"), &[]).await?;
        if h["counts"]["pending"].as_i64() == Some(0) {
            break;
        }
        if start.elapsed() > deadline {
            bail!("events still pending after {deadline:?}: {h}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last_obs = get(
        client,
        &format!("{base}/api/observations"),
        &[("limit", "1")],
    )
    .await?["observations"][0]["id"]
        .as_i64()
        .unwrap_or(0);
    let last_sum = get(client, &format!("{base}/api/summaries"), &[("limit", "1")]).await?
        ["summaries"][0]["id"]
        .as_i64()
        .unwrap_or(0);
    loop {
        let h = get(client, &format!("{base}/api/health"), &[]).await?;
        let index = &h["index"];
        if index["state"] == "failed" {
            bail!("the index failed: {index}");
        }
        if index["state"] == "ready"
            && index["last_indexed_id"].as_i64().unwrap_or(0) >= last_obs
            // Workers from before summaries were indexed do not report this cursor.
            && index
                .get("last_indexed_summary_id")
                .and_then(Value::as_i64)
                .is_none_or(|id| id >= last_sum)
        {
            return Ok(h);
        }
        if start.elapsed() > deadline {
            bail!("the index did not catch up within {deadline:?}: {index}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn measure(
    client: &reqwest::Client,
    base: &str,
    s: &Session,
) -> anyhow::Result<SessionResult> {
    let detail = get(
        client,
        &format!("{base}/api/sessions/{}", s.session_id),
        &[],
    )
    .await?;
    let project = detail["session"]["project"]
        .as_str()
        .context("session without a project")?
        .to_owned();
    let prompts = detail["prompts"].as_array().map_or(0, Vec::len);
    let observations = detail["observations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let summaries = detail["summaries"].as_array().cloned().unwrap_or_default();
    let obs_texts: Vec<(i64, String)> = observations
        .iter()
        .map(|o| (o["id"].as_i64().unwrap_or(-1), observation_text(o)))
        .collect();
    let sum_texts: Vec<String> = summaries.iter().map(summary_text).collect();
    let limit = K.to_string();
    let mut facts = Vec::with_capacity(s.facts.len());
    for f in &s.facts {
        let covering: BTreeSet<i64> = obs_texts
            .iter()
            .filter(|(_, t)| covers(t, &f.distinctive_terms))
            .map(|(id, _)| *id)
            .collect();
        let covered = !covering.is_empty();
        let covered_incl_summaries =
            covered || sum_texts.iter().any(|t| covers(t, &f.distinctive_terms));
        let found = get(
            client,
            &format!("{base}/api/search"),
            &[
                ("q", f.query.as_str()),
                ("project", project.as_str()),
                ("limit", limit.as_str()),
            ],
        )
        .await?;
        let rank = found["results"]
            .as_array()
            .into_iter()
            .flatten()
            .take(K)
            .position(|r| {
                r["observation"]["id"]
                    .as_i64()
                    .is_some_and(|id| covering.contains(&id))
            })
            .map(|i| i + 1);
        facts.push(FactResult {
            id: f.id.clone(),
            distinctive_terms: f.distinctive_terms.clone(),
            query: f.query.clone(),
            covered,
            covered_incl_summaries,
            rank,
        });
    }
    Ok(SessionResult {
        id: s.id.clone(),
        half: s.half.clone(),
        session_id: s.session_id.clone(),
        project,
        prompts,
        observations: observations.len(),
        summaries: summaries.len(),
        cards_per_turn: observations.len() as f64 / prompts.max(1) as f64,
        titles: observations
            .iter()
            .map(|o| o["title"].as_str().unwrap_or("").to_owned())
            .collect(),
        cards: observations
            .iter()
            .map(|o| {
                serde_json::json!({
                    "type": o["type"],
                    "title": o["title"],
                    "narrative": o["narrative"],
                    "facts": o["facts"],
                })
            })
            .collect(),
        facts,
    })
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn print(report: &Report) {
    println!(
        "\ncompressor {}, embedder {}, {} events posted ({} not subscribed by the plugin), {} failed\n",
        report.compressor,
        report.embedder,
        report.events_posted,
        report.events_not_subscribed,
        report.events_failed
    );
    println!("| split | sessions | facts | turns | cards | cards/turn | coverage (obs) | coverage (+summaries) | MRR@10 | R@5 |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for t in &report.totals {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {:.3} | {:.3} |",
            t.half,
            t.sessions,
            t.facts,
            t.turns,
            t.observations,
            t.cards_per_turn,
            pct(t.coverage),
            pct(t.coverage_incl_summaries),
            t.mrr_at_10,
            t.recall_at_5
        );
    }
    let misses: Vec<String> = report
        .sessions
        .iter()
        .filter(|s| s.half == "tune")
        .flat_map(|s| {
            s.facts
                .iter()
                .filter(|f| !f.covered)
                .map(move |f| format!("  {}/{}: {:?}", s.id, f.id, f.distinctive_terms))
        })
        .collect();
    if !misses.is_empty() {
        println!(
            "\nuncovered tune facts ({}; heldout and fresh misses are in the JSON, not listed):",
            misses.len()
        );
        for m in misses {
            println!("{m}");
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let bin = claude_mem_bin(args.bin)?;
    let corpus = args.corpus.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/compression_corpus")
    });
    if let Some(h) = args.half.as_deref() {
        if !HALVES.contains(&h) {
            bail!("--half must be tune, heldout or fresh, not {h:?}");
        }
    }
    let sessions = load(&corpus, args.half.as_deref())?;
    let events = if args.all_events {
        None
    } else {
        Some(plugin_events()?)
    };

    let hash = match args.model_dir.as_deref().and_then(Path::to_str) {
        None | Some("hash") => true,
        Some(_) => false,
    };
    let model_dir = match (&args.model_dir, hash) {
        (Some(dir), false) => Some(
            std::fs::canonicalize(dir)
                .with_context(|| format!("no model at {}", dir.display()))?
                .to_string_lossy()
                .into_owned(),
        ),
        _ => None,
    };
    let mut env = vec![
        ("CLAUDE_MEM_COMPRESSION_ENABLED", "true"),
        ("CLAUDE_MEM_COMPRESSOR", args.compressor.as_str()),
        ("CLAUDE_MEM_EMBEDDER", if hash { "hash" } else { "minilm" }),
    ];
    if let Some(dir) = model_dir.as_deref() {
        env.push(("CLAUDE_MEM_MODEL_DIR", dir));
    }
    let worker = start_worker(&bin, &env)?;
    let base = format!("http://127.0.0.1:{}", worker.port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = crate::client();
    let (posted, left, health, results) = rt.block_on(async {
        let h = get(&client, &format!("{base}/api/health"), &[]).await?;
        if !hash {
            if let Some(reason) = h["index"]["embedder_fallback"].as_str() {
                bail!("the worker fell back to hashing: {reason}");
            }
        }
        eprintln!(
            "worker on port {}; replaying {} sessions…",
            worker.port,
            sessions.len()
        );
        let (posted, left) = replay(&client, &base, &sessions, events.as_ref()).await?;
        eprintln!("{posted} events posted; waiting for compression and indexing…");
        let health = wait_settled(&client, &base).await?;
        let mut results = Vec::with_capacity(sessions.len());
        for s in &sessions {
            results.push(measure(&client, &base, s).await?);
        }
        anyhow::Ok((posted, left, health, results))
    })?;
    drop(worker);

    let mut totals = Vec::new();
    for half in HALVES {
        let of: Vec<&SessionResult> = results.iter().filter(|s| s.half == half).collect();
        if !of.is_empty() {
            totals.push(Totals::of(half, &of));
        }
    }
    totals.push(Totals::of("all", &results.iter().collect::<Vec<_>>()));
    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        compressor: args.compressor,
        embedder: health["index"]["embedder"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
        corpus: corpus.display().to_string(),
        events_posted: posted,
        events_not_subscribed: left,
        events_failed: health["counts"]["failed"].as_i64().unwrap_or(0),
        search_limit: K,
        totals,
        sessions: results,
        seconds: started.elapsed().as_secs_f64(),
    };
    print(&report);
    if let Some(path) = args.json {
        write_json(&path, &report)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_needs_every_term_in_one_text() {
        let terms = vec!["LEEWAY_SECS".to_owned(), "tokens.rs".to_owned()];
        assert!(covers("set leeway_secs to 30 in tokens.rs", &terms));
        assert!(!covers("set leeway_secs to 30", &terms));
        assert!(!covers("anything", &[]));
        let o = serde_json::json!({"title": "Fixed refresh", "narrative": "in tokens.rs",
                                   "facts": ["LEEWAY_SECS = 30"], "subtitle": "ignored"});
        assert!(covers(&observation_text(&o), &terms));
    }
}
