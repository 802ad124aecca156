//! `claude-mem-bench locomo`: retrieval on the public LoCoMo conversations (issue 16), measured the way a
//! default user meets search. Each conversation is one project; every turn is saved as one memory through
//! a real `claude-mem serve` (`POST /api/memories`, no title, like most saves), and every question with
//! evidence is asked through `GET /api/search`. A question's relevant memories are the turns its
//! `evidence` names; the scores are evidence recall@5 and @10 and NDCG@10 (binary relevance), overall and
//! per LoCoMo category, for the text, vector and default (hybrid) modes, next to plain BM25 (Tantivy's
//! default tokenizer, lowercased, no stemming, one field) over the same turns in-process.
//!
//! The dataset (CC BY-NC) is never part of the repository: `--data` points at the unpacked
//! `locomo10.zip` of snap-research/locomo (a folder of `NN.json` files) or at a `locomo10.json` array.

use crate::{claude_mem_bin, start_worker, write_json};
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The unpacked LoCoMo data: a folder of conversation files (`locomo10_v2/*.json`) or one
    /// `locomo10.json`. Never inside the repository (CC BY-NC).
    #[arg(long)]
    data: PathBuf,
    /// all-MiniLM-L6-v2 files for the worker (default: ../shared/models/all-MiniLM-L6-v2); `hash` for the
    /// hashing fallback, what users without the model get.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The claude-mem binary (default: beside this one).
    #[arg(long)]
    bin: Option<PathBuf>,
}

/// LoCoMo's question categories, named as the dataset's own evaluation code treats them (multi-answer F1
/// for 1, the "not mentioned" check for 5; its tables list them 4, 1, 2, 3, 5).
pub const CATEGORIES: [(u8, &str); 5] = [
    (1, "multi-hop"),
    (2, "temporal"),
    (3, "open-domain"),
    (4, "single-hop"),
    (5, "adversarial"),
];

const ADVERSARIAL: u8 = 5;
/// Cut-offs of the scores; the searches ask for the larger.
const K_SMALL: usize = 5;
const K: usize = 10;
/// Concurrent search clients: enough to keep the worker's two-core blocking pool busy.
const CLIENTS: usize = 4;

#[derive(Debug, Clone)]
struct Turn {
    dia_id: String,
    /// What is saved: `Speaker: text [shares <caption>]`.
    text: String,
}

#[derive(Debug, Clone)]
struct Question {
    conversation: usize,
    question: String,
    category: u8,
    /// Canonical `D<session>:<turn>` ids, each once, all present in the conversation.
    evidence: Vec<String>,
}

#[derive(Debug)]
struct Conversation {
    project: String,
    turns: Vec<Turn>,
}

/// What the evidence lists held and what became of it (see [`parse_evidence`]).
#[derive(Debug, Default, Clone, Serialize)]
struct EvidenceAudit {
    questions: usize,
    /// Questions scored: at least one evidence id resolves to a turn.
    scored: usize,
    /// Questions with an empty evidence list (nothing to retrieve), left out.
    no_evidence: usize,
    /// Questions whose ids all failed to resolve, left out.
    no_valid_evidence: usize,
    /// Entries holding several ids (`"D8:6; D9:17"`, `"D9:1 D4:4 D4:6"`), split.
    entries_split: usize,
    /// Ids written irregularly but unambiguous (`D:11:26`, `D30:05`), normalised.
    ids_normalised: usize,
    /// Pieces that are no id at all (`"D"`), dropped.
    ids_malformed: usize,
    /// Well-formed ids naming no turn of the conversation, dropped.
    ids_unknown: usize,
}

/// `D<session>:<turn>` with the numbers as integers; `D:11:26`, `D30:05` and `(D1:3)` are read as
/// `D11:26`, `D30:5` and `D1:3`. Returns the canonical id and whether it had to be normalised.
fn canonical_id(raw: &str) -> Option<(String, bool)> {
    let piece = raw.trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace());
    let rest = piece.strip_prefix('D')?;
    let rest_clean = rest.strip_prefix(':').unwrap_or(rest);
    let (session, turn) = rest_clean.split_once(':')?;
    if session.is_empty()
        || turn.is_empty()
        || !session.bytes().all(|b| b.is_ascii_digit())
        || !turn.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (s, t): (u32, u32) = (session.parse().ok()?, turn.parse().ok()?);
    let id = format!("D{s}:{t}");
    let normalised = id != raw;
    Some((id, normalised))
}

/// The rule: every entry is split on `;`, `,` and whitespace; each piece is read by [`canonical_id`];
/// pieces that are no id, or name no turn of the conversation, are dropped (and counted); duplicates are
/// kept once. A question is scored when at least one id remains.
fn parse_evidence(
    raw: &[String],
    known: &HashSet<String>,
    audit: &mut EvidenceAudit,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in raw {
        let pieces: Vec<&str> = entry
            .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .collect();
        if pieces.len() > 1 {
            audit.entries_split += 1;
        }
        for piece in pieces {
            match canonical_id(piece) {
                None => audit.ids_malformed += 1,
                Some((id, normalised)) => {
                    if normalised {
                        audit.ids_normalised += 1;
                    }
                    if !known.contains(&id) {
                        audit.ids_unknown += 1;
                    } else if !out.contains(&id) {
                        out.push(id);
                    }
                }
            }
        }
    }
    out
}

/// The conversations and their questions, in file order (conversations sorted by name).
fn load(
    data: &Path,
    audit: &mut EvidenceAudit,
) -> anyhow::Result<(Vec<Conversation>, Vec<Question>)> {
    let mut files: Vec<PathBuf> = if data.is_dir() {
        std::fs::read_dir(data)
            .with_context(|| format!("cannot read {}", data.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect()
    } else {
        vec![data.to_owned()]
    };
    files.sort();
    let mut samples: Vec<(String, Value)> = Vec::new();
    for file in &files {
        let value: Value = serde_json::from_slice(
            &std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
        )
        .with_context(|| format!("{} is not JSON", file.display()))?;
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("conversation")
            .to_owned();
        match value {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    samples.push((format!("{stem}-{i}"), item));
                }
            }
            other => samples.push((stem, other)),
        }
    }
    let mut conversations = Vec::new();
    let mut questions = Vec::new();
    for (name, sample) in samples {
        let name = sample["sample_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(name);
        // locomo10.json nests the sessions under "conversation"; the per-file layout has them on top.
        let dialog = sample.get("conversation").unwrap_or(&sample);
        let mut sessions: Vec<(u32, &Vec<Value>)> = dialog
            .as_object()
            .context("a conversation is not a JSON object")?
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("session_")?.parse::<u32>().ok()?;
                Some((n, v.as_array()?))
            })
            .collect();
        if sessions.is_empty() {
            continue;
        }
        sessions.sort_by_key(|(n, _)| *n);
        let mut turns = Vec::new();
        for (_, session) in sessions {
            for t in session {
                let (Some(dia), Some(speaker), Some(text)) = (
                    t["dia_id"].as_str(),
                    t["speaker"].as_str(),
                    t["text"].as_str(),
                ) else {
                    continue;
                };
                let Some((dia_id, _)) = canonical_id(dia) else {
                    continue;
                };
                let mut saved = format!("{speaker}: {}", text.trim());
                if let Some(caption) = t["blip_caption"].as_str().filter(|c| !c.trim().is_empty()) {
                    saved.push_str(&format!(" [shares {}]", caption.trim()));
                }
                turns.push(Turn {
                    dia_id,
                    text: saved,
                });
            }
        }
        let known: HashSet<String> = turns.iter().map(|t| t.dia_id.clone()).collect();
        let index = conversations.len();
        for qa in sample["qa"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let Some(question) = qa["question"].as_str() else {
                continue;
            };
            audit.questions += 1;
            let raw: Vec<String> = qa["evidence"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if raw.iter().all(|e| e.trim().is_empty()) {
                audit.no_evidence += 1;
                continue;
            }
            let evidence = parse_evidence(&raw, &known, audit);
            if evidence.is_empty() {
                audit.no_valid_evidence += 1;
                continue;
            }
            audit.scored += 1;
            questions.push(Question {
                conversation: index,
                question: question.to_owned(),
                category: qa["category"].as_u64().unwrap_or(0) as u8,
                evidence,
            });
        }
        conversations.push(Conversation {
            project: format!("locomo-{name}"),
            turns,
        });
    }
    if conversations.is_empty() {
        bail!(
            "no LoCoMo conversation in {} (expected locomo10_v2/*.json or locomo10.json)",
            data.display()
        );
    }
    Ok((conversations, questions))
}

/// One question's scores against one ranking.
#[derive(Debug, Clone, Copy, Default)]
struct Scored {
    recall_5: f64,
    recall_10: f64,
    ndcg_10: f64,
    empty: bool,
}

fn score(ranking: &[String], evidence: &[String]) -> Scored {
    let relevant: HashSet<&str> = evidence.iter().map(String::as_str).collect();
    let hits_at = |k: usize| {
        ranking
            .iter()
            .take(k)
            .filter(|d| relevant.contains(d.as_str()))
            .count() as f64
    };
    let dcg: f64 = ranking
        .iter()
        .take(K)
        .enumerate()
        .filter(|(_, d)| relevant.contains(d.as_str()))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(K))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    Scored {
        recall_5: hits_at(K_SMALL) / relevant.len() as f64,
        recall_10: hits_at(K) / relevant.len() as f64,
        ndcg_10: if ideal > 0.0 { dcg / ideal } else { 0.0 },
        empty: ranking.is_empty(),
    }
}

#[derive(Debug, Clone, Default, Serialize)]
struct Metrics {
    questions: usize,
    recall_at_5: f64,
    recall_at_10: f64,
    ndcg_at_10: f64,
    /// Share of questions answered with no result at all.
    empty: f64,
}

impl Metrics {
    fn of(scores: &[Scored]) -> Self {
        let n = scores.len().max(1) as f64;
        let mean = |f: fn(&Scored) -> f64| scores.iter().map(f).sum::<f64>() / n;
        Self {
            questions: scores.len(),
            recall_at_5: mean(|s| s.recall_5),
            recall_at_10: mean(|s| s.recall_10),
            ndcg_at_10: mean(|s| s.ndcg_10),
            empty: mean(|s| f64::from(u8::from(s.empty))),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct CategoryMetrics {
    category: u8,
    name: &'static str,
    #[serde(flatten)]
    metrics: Metrics,
}

#[derive(Debug, Clone, Serialize)]
struct ModeReport {
    /// `bm25` (the in-process baseline), `text`, `vector`, `hybrid` (all three with `min_score=0`) or
    /// `hybrid-default` (the call exactly as a user makes it, under the calibrated floor).
    mode: String,
    overall: Metrics,
    /// Categories 1-4: LoCoMo's QA scores usually leave the adversarial questions out.
    without_adversarial: Metrics,
    by_category: Vec<CategoryMetrics>,
}

impl ModeReport {
    fn of(mode: &str, questions: &[Question], scores: &[Scored]) -> Self {
        let by_category = CATEGORIES
            .iter()
            .map(|(c, name)| {
                let picked: Vec<Scored> = questions
                    .iter()
                    .zip(scores)
                    .filter(|(q, _)| q.category == *c)
                    .map(|(_, s)| *s)
                    .collect();
                CategoryMetrics {
                    category: *c,
                    name,
                    metrics: Metrics::of(&picked),
                }
            })
            .collect();
        let answerable: Vec<Scored> = questions
            .iter()
            .zip(scores)
            .filter(|(q, _)| q.category != ADVERSARIAL)
            .map(|(_, s)| *s)
            .collect();
        Self {
            mode: mode.to_owned(),
            overall: Metrics::of(scores),
            without_adversarial: Metrics::of(&answerable),
            by_category,
        }
    }

    fn category(&self, c: u8) -> Metrics {
        self.by_category
            .iter()
            .find(|m| m.category == c)
            .map(|m| m.metrics.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Serialize)]
struct Timings {
    /// Saving every turn through `POST /api/memories`.
    ingest_seconds: f64,
    /// From the last save until the worker's index had every memory (text and vectors).
    index_catch_up_seconds: f64,
    /// All searches through the API (four per question).
    search_seconds: f64,
    /// Building and querying the in-process BM25 baseline.
    bm25_seconds: f64,
    total_seconds: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    version: &'static str,
    /// What the worker reported in `/api/health` (`index.embedder`).
    embedder: String,
    conversations: usize,
    turns: usize,
    evidence: EvidenceAudit,
    /// Search calls used for the scores carry `min_score=0`, so the calibrated floor hides no rank;
    /// `hybrid-default` is the call without it.
    min_score: f32,
    limit: usize,
    modes: Vec<ModeReport>,
    timings: Timings,
}

/// In-process plain BM25 over the same turns: one text field, Tantivy's `default` tokenizer (split on
/// non-alphanumerics, lowercased, no stemming, no stopwords), one index for every conversation with the
/// conversation as a filter (like the worker's project filter), the question's distinct words OR-ed.
struct Bm25 {
    index: tantivy::Index,
    reader: tantivy::IndexReader,
    project: tantivy::schema::Field,
    text: tantivy::schema::Field,
}

impl Bm25 {
    fn build(conversations: &[Conversation]) -> anyhow::Result<(Self, Vec<String>)> {
        use tantivy::doc;
        use tantivy::schema::{Schema, FAST, STORED, STRING, TEXT};
        let mut builder = Schema::builder();
        let project = builder.add_text_field("project", STRING);
        let text = builder.add_text_field("text", TEXT);
        builder.add_u64_field("turn", FAST | STORED);
        let index = tantivy::Index::create_in_ram(builder.build());
        let turn = index.schema().get_field("turn")?;
        let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 50_000_000)?;
        let mut dia_ids = Vec::new();
        for c in conversations {
            for t in &c.turns {
                writer.add_document(doc!(
                    project => c.project.clone(),
                    text => t.text.clone(),
                    turn => dia_ids.len() as u64,
                ))?;
                dia_ids.push(t.dia_id.clone());
            }
        }
        writer.commit()?;
        let reader = index.reader()?;
        Ok((
            Self {
                index,
                reader,
                project,
                text,
            },
            dia_ids,
        ))
    }

    /// The top `K` turn numbers for `question` within `project`.
    fn search(&self, project: &str, question: &str) -> anyhow::Result<Vec<u64>> {
        use tantivy::collector::TopDocs;
        use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
        use tantivy::schema::IndexRecordOption;
        use tantivy::Term;
        let mut tokenizer = self.index.tokenizer_for_field(self.text)?;
        let mut stream = tokenizer.token_stream(question);
        let mut words: Vec<String> = Vec::new();
        while let Some(token) = stream.next() {
            if !words.contains(&token.text) {
                words.push(token.text.clone());
            }
        }
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let any_word: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|w| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.text, w),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect();
        let in_project: Box<dyn Query> = Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(
                Term::from_field_text(self.project, project),
                IndexRecordOption::Basic,
            )),
            0.0,
        ));
        let query = BooleanQuery::new(vec![
            (Occur::Must, in_project),
            (Occur::Must, Box::new(BooleanQuery::new(any_word))),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(K).order_by_score())?;
        let columns = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().u64("turn"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(top
            .into_iter()
            .filter_map(|(_, address)| {
                columns
                    .get(address.segment_ord as usize)
                    .and_then(|column| column.first(address.doc_id))
            })
            .collect())
    }
}

/// The calls made per question: label, `mode` and `min_score` parameters.
const CALLS: [(&str, Option<&str>, Option<&str>); 4] = [
    ("text", Some("text"), Some("0")),
    ("vector", Some("vector"), Some("0")),
    ("hybrid", None, Some("0")),
    ("hybrid-default", None, None),
];

async fn health(client: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    Ok(client
        .get(format!("{base}/api/health"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Saves every turn as an untitled memory of its conversation's project; returns memory id → dia id
/// per conversation and the highest id.
async fn ingest(
    client: &reqwest::Client,
    base: &str,
    conversations: &[Conversation],
) -> anyhow::Result<(Vec<HashMap<i64, String>>, i64)> {
    let mut maps = Vec::with_capacity(conversations.len());
    let mut last = 0;
    for c in conversations {
        let mut map = HashMap::with_capacity(c.turns.len());
        for t in &c.turns {
            let r = client
                .post(format!("{base}/api/memories"))
                .json(&serde_json::json!({ "text": t.text, "project": c.project }))
                .send()
                .await?;
            let status = r.status();
            let body: Value = r.json().await?;
            if !status.is_success() {
                bail!(
                    "saving {} of {}: HTTP {status}: {body}",
                    t.dia_id,
                    c.project
                );
            }
            let id = body["id"].as_i64().context("no id in the saved memory")?;
            map.insert(id, t.dia_id.clone());
            last = last.max(id);
        }
        maps.push(map);
    }
    Ok((maps, last))
}

/// Waits until the worker's index holds every memory up to `last` (text and vectors).
async fn wait_indexed(client: &reqwest::Client, base: &str, last: i64) -> anyhow::Result<Value> {
    let start = Instant::now();
    loop {
        let h = health(client, base).await?;
        let index = &h["index"];
        if index["state"] == "ready" && index["last_indexed_id"].as_i64().unwrap_or(0) >= last {
            return Ok(h);
        }
        if index["state"] == "failed" {
            bail!("the index failed: {index}");
        }
        if start.elapsed() > Duration::from_secs(3600) {
            bail!("the index did not catch up within an hour: {index}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every question through every call in [`CALLS`]; rankings as dia ids, per call, in question order.
async fn ask(
    client: &reqwest::Client,
    base: &str,
    conversations: &[Conversation],
    maps: Vec<HashMap<i64, String>>,
    questions: &[Question],
) -> anyhow::Result<Vec<Vec<Vec<String>>>> {
    let maps = std::sync::Arc::new(maps);
    let mut tasks = Vec::new();
    for worker in 0..CLIENTS {
        let client = client.clone();
        let base = base.to_owned();
        let maps = std::sync::Arc::clone(&maps);
        let mine: Vec<(usize, String, String, usize)> = questions
            .iter()
            .enumerate()
            .filter(|(i, _)| i % CLIENTS == worker)
            .map(|(i, q)| {
                (
                    i,
                    q.question.clone(),
                    conversations[q.conversation].project.clone(),
                    q.conversation,
                )
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut out: Vec<(usize, Vec<Vec<String>>)> = Vec::with_capacity(mine.len());
            for (i, question, project, conversation) in mine {
                let map = &maps[conversation];
                let mut per_call = Vec::with_capacity(CALLS.len());
                for (_, mode, min_score) in CALLS {
                    let limit = K.to_string();
                    let mut params: Vec<(&str, &str)> = vec![
                        ("q", question.as_str()),
                        ("project", project.as_str()),
                        ("limit", limit.as_str()),
                    ];
                    if let Some(m) = mode {
                        params.push(("mode", m));
                    }
                    if let Some(s) = min_score {
                        params.push(("min_score", s));
                    }
                    let r = client
                        .get(format!("{base}/api/search"))
                        .query(&params)
                        .send()
                        .await?;
                    let status = r.status();
                    let body: Value = r.json().await?;
                    if !status.is_success() {
                        bail!("search {question:?}: HTTP {status}: {body}");
                    }
                    let ranking: Vec<String> = body["results"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                        .iter()
                        .filter_map(|r| r["observation"]["id"].as_i64())
                        .map(|id| map.get(&id).cloned().unwrap_or_default())
                        .collect();
                    per_call.push(ranking);
                }
                out.push((i, per_call));
            }
            anyhow::Ok(out)
        }));
    }
    let mut by_call: Vec<Vec<Vec<String>>> = vec![vec![Vec::new(); questions.len()]; CALLS.len()];
    for t in tasks {
        for (i, per_call) in t.await?? {
            for (c, ranking) in per_call.into_iter().enumerate() {
                by_call[c][i] = ranking;
            }
        }
    }
    Ok(by_call)
}

fn pct(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

fn print(report: &Report) {
    let e = &report.evidence;
    println!(
        "LoCoMo retrieval: {} conversations, {} turns saved as memories, {} of {} questions scored \
         ({} without evidence, {} without a resolvable id); embedder {}; limit {}, min_score {} \
         (hybrid-default: no min_score)",
        report.conversations,
        report.turns,
        e.scored,
        e.questions,
        e.no_evidence,
        e.no_valid_evidence,
        report.embedder,
        report.limit,
        report.min_score
    );
    println!(
        "evidence ids: {} entries split, {} normalised, {} malformed and {} naming no turn dropped",
        e.entries_split, e.ids_normalised, e.ids_malformed, e.ids_unknown
    );
    println!(
        "\n| mode | questions | R@5 | R@10 | NDCG@10 | empty | R@5 / R@10 / NDCG@10 without adversarial |\n\
         |---|---|---|---|---|---|---|"
    );
    for m in &report.modes {
        let w = &m.without_adversarial;
        println!(
            "| {} | {} | {} | {} | {} | {} % | {} / {} / {} |",
            m.mode,
            m.overall.questions,
            pct(m.overall.recall_at_5),
            pct(m.overall.recall_at_10),
            pct(m.overall.ndcg_at_10),
            pct(m.overall.empty),
            pct(w.recall_at_5),
            pct(w.recall_at_10),
            pct(w.ndcg_at_10)
        );
    }
    type Pick = fn(&Metrics) -> f64;
    let metrics: [(&str, Pick); 3] = [
        ("R@5", |m| m.recall_at_5),
        ("R@10", |m| m.recall_at_10),
        ("NDCG@10", |m| m.ndcg_at_10),
    ];
    for (label, get) in metrics {
        print!("\n| {label} by category | n |");
        for m in &report.modes {
            print!(" {} |", m.mode);
        }
        print!("\n|---|---|");
        for _ in &report.modes {
            print!("---|");
        }
        println!();
        for (c, name) in CATEGORIES {
            let n = report.modes.first().map_or(0, |m| m.category(c).questions);
            print!("| {c} {name} | {n} |");
            for m in &report.modes {
                print!(" {} |", pct(get(&m.category(c))));
            }
            println!();
        }
    }
    if let Some(d) = report.modes.iter().find(|m| m.mode == "hybrid-default") {
        print!(
            "\ndefault search (hybrid, no min_score) returned nothing for {} % of questions;",
            pct(d.overall.empty)
        );
        for (c, name) in CATEGORIES {
            print!(" {name} {} %", pct(d.category(c).empty));
        }
        println!();
    }
    let t = &report.timings;
    println!(
        "\ntimes: ingest {:.1} s, index catch-up {:.1} s, searches {:.1} s, BM25 baseline {:.1} s, total {:.1} s",
        t.ingest_seconds, t.index_catch_up_seconds, t.search_seconds, t.bm25_seconds, t.total_seconds
    );
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let bin = claude_mem_bin(args.bin)?;
    let mut audit = EvidenceAudit::default();
    let (conversations, questions) = load(&args.data, &mut audit)?;
    let turns: usize = conversations.iter().map(|c| c.turns.len()).sum();
    eprintln!(
        "{} conversations, {turns} turns, {} questions scored of {}",
        conversations.len(),
        questions.len(),
        audit.questions
    );

    // The worker reads its embedder from settings; the environment overrides them. `minilm` (not
    // `auto`) so a model that fails to load is an error here instead of a silent fallback.
    let hash = args.model_dir.as_deref().and_then(Path::to_str) == Some("hash");
    let model_dir = if hash {
        None
    } else {
        let dir = args.model_dir.clone().unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/models/all-MiniLM-L6-v2")
        });
        Some(
            std::fs::canonicalize(&dir)
                .with_context(|| format!("no model at {}", dir.display()))?
                .to_string_lossy()
                .into_owned(),
        )
    };
    let mut env = vec![
        ("CLAUDE_MEM_COMPRESSION_ENABLED", "false"),
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

    let (embedder, maps, ingest_seconds, index_catch_up_seconds) = rt.block_on(async {
        let h = health(&client, &base).await?;
        if let Some(reason) = h["index"]["embedder_fallback"].as_str() {
            bail!("the worker fell back to hashing: {reason}");
        }
        eprintln!("worker on port {}; saving {turns} memories…", worker.port);
        let t = Instant::now();
        let (maps, last) = ingest(&client, &base, &conversations).await?;
        let ingest_seconds = t.elapsed().as_secs_f64();
        eprintln!("saved in {ingest_seconds:.1} s; waiting for the index…");
        let t = Instant::now();
        let h = wait_indexed(&client, &base, last).await?;
        let embedder = h["index"]["embedder"].as_str().unwrap_or("?").to_owned();
        anyhow::Ok((embedder, maps, ingest_seconds, t.elapsed().as_secs_f64()))
    })?;
    eprintln!(
        "indexed in {index_catch_up_seconds:.1} s ({embedder}); {} questions × {} searches…",
        questions.len(),
        CALLS.len()
    );
    let t = Instant::now();
    let by_call = rt.block_on(ask(&client, &base, &conversations, maps, &questions))?;
    let search_seconds = t.elapsed().as_secs_f64();
    drop(worker);

    let t = Instant::now();
    let (bm25, dia_ids) = Bm25::build(&conversations)?;
    let mut bm25_scores = Vec::with_capacity(questions.len());
    for q in &questions {
        let ranking: Vec<String> = bm25
            .search(&conversations[q.conversation].project, &q.question)?
            .into_iter()
            .map(|turn| dia_ids[turn as usize].clone())
            .collect();
        bm25_scores.push(score(&ranking, &q.evidence));
    }
    let bm25_seconds = t.elapsed().as_secs_f64();

    let mut modes = vec![ModeReport::of("bm25", &questions, &bm25_scores)];
    for ((label, _, _), rankings) in CALLS.iter().zip(&by_call) {
        let scores: Vec<Scored> = questions
            .iter()
            .zip(rankings)
            .map(|(q, r)| score(r, &q.evidence))
            .collect();
        modes.push(ModeReport::of(label, &questions, &scores));
    }
    let report = Report {
        version: env!("CARGO_PKG_VERSION"),
        embedder,
        conversations: conversations.len(),
        turns,
        evidence: audit,
        min_score: 0.0,
        limit: K,
        modes,
        timings: Timings {
            ingest_seconds,
            index_catch_up_seconds,
            search_seconds,
            bm25_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
        },
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
    fn evidence_ids_are_split_normalised_and_checked() {
        let known: HashSet<String> = ["D8:6", "D9:17", "D11:26", "D30:5", "D1:18"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut audit = EvidenceAudit::default();
        let raw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_evidence(&raw(&["D8:6; D9:17"]), &known, &mut audit),
            ["D8:6", "D9:17"]
        );
        assert_eq!(
            parse_evidence(
                &raw(&["D:11:26", "D30:05", "D", "D10:19", "D1:18", "(D1:18)"]),
                &known,
                &mut audit
            ),
            ["D11:26", "D30:5", "D1:18"]
        );
        assert_eq!(audit.entries_split, 1);
        assert_eq!(audit.ids_normalised, 3);
        assert_eq!(audit.ids_malformed, 1);
        assert_eq!(audit.ids_unknown, 1);
    }

    #[test]
    fn recall_and_ndcg() {
        let ev = vec!["D1:1".to_owned(), "D1:2".to_owned()];
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let perfect = score(&r(&["D1:1", "D1:2", "D1:3"]), &ev);
        assert_eq!(perfect.recall_5, 1.0);
        assert!((perfect.ndcg_10 - 1.0).abs() < 1e-12);
        let late = score(&r(&["a", "b", "c", "d", "e", "D1:2"]), &ev);
        assert_eq!(late.recall_5, 0.0);
        assert_eq!(late.recall_10, 0.5);
        let ideal = 1.0 + 1.0 / 3f64.log2();
        assert!((late.ndcg_10 - (1.0 / 7f64.log2()) / ideal).abs() < 1e-12);
        assert!(score(&[], &ev).empty);
    }
}
