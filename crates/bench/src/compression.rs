//! Compression benchmarks: how fast the local rules are, how long a hook event waits before its
//! observation exists (through the real worker), and what the LLM path costs in tokens, with cache hits,
//! against a local server speaking Anthropic's wire format.

use crate::{claude_mem_bin, row, start_worker, write_json, Latency};
use anyhow::Context;
use claude_mem_core::compress::llm::LlmCompressor;
use claude_mem_core::compress::local::compress_events;
use claude_mem_core::compress::Compressor;
use claude_mem_core::model::{QueuedEvent, SessionContext};
use claude_mem_core::processor::{Processor, ProcessorConfig};
use claude_mem_core::{HookEvent, Store};
use claude_mem_llm::mock::{tool_reply, MockLlm, RecordedRequest};
use claude_mem_llm::{default_pricing, AnthropicClient, Usage};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Events for the local compressor throughput run.
    #[arg(long, default_value_t = 50_000)]
    local_events: usize,
    /// Tool events posted for the lag measurement.
    #[arg(long, default_value_t = 4000)]
    lag_events: usize,
    /// Posting rate for the lag measurement (events/s, all clients together).
    #[arg(long, default_value_t = 400)]
    lag_rate: u64,
    /// Minimum cacheable prefix the mock applies (tokens): 1024 for Sonnet/Opus; Haiku needs more.
    #[arg(long, default_value_t = 1024)]
    cache_min_tokens: u64,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct LocalThroughput {
    events: usize,
    observations: usize,
    seconds: f64,
    events_per_second: f64,
}

#[derive(Debug, Serialize)]
struct Lag {
    batch_linger_ms: i64,
    events: usize,
    rate_per_second: u64,
    observations: i64,
    lag: Latency,
}

#[derive(Debug, Serialize)]
struct LlmCost {
    session_events: usize,
    calls: i64,
    observations: i64,
    summaries: i64,
    tokens_per_observation: f64,
    input_tokens: i64,
    output_tokens: i64,
    cache_write_tokens: i64,
    cache_read_tokens: i64,
    cache_hit_ratio: f64,
    prefix_tokens_estimate: u64,
    cache_min_tokens: u64,
    cost_usd: f64,
    cost_per_observation_usd: f64,
}

#[derive(Debug, Serialize)]
struct PrivacyThroughput {
    input: &'static str,
    kib: usize,
    ms_per_pass: f64,
    mib_per_second: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    privacy: Vec<PrivacyThroughput>,
    local: LocalThroughput,
    lag_batched: Lag,
    lag_immediate: Lag,
    llm: LlmCost,
}

/// A realistic mix of a coding session's tool calls (edits, reads, tests, searches, noise).
fn session_events(session: &str, count: usize, first_id: i64) -> Vec<(String, Value)> {
    let cwd = "/home/dev/work/acme-api";
    let files = [
        "src/store/db.rs",
        "src/api/routes.rs",
        "src/auth/login.rs",
        "src/queue/worker.rs",
        "tests/api.rs",
    ];
    let mut out = Vec::with_capacity(count);
    let mut prompt = 0;
    for i in 0..count {
        let id = first_id + i as i64;
        let file = files[i % files.len()];
        let tool_use_id = format!("toolu_{session}_{id}");
        let (event, body) = match i % 10 {
            0 => {
                prompt += 1;
                (
                    "UserPromptSubmit",
                    json!({"prompt": format!("Refactor the retry logic in {file} and keep the tests green (step {prompt})")}),
                )
            }
            1 | 2 => (
                "PostToolUse",
                json!({"tool_name": "Read", "tool_use_id": tool_use_id, "tool_input": {"file_path": format!("{cwd}/{file}")},
                "tool_response": {"type": "text", "file": {"filePath": format!("{cwd}/{file}"), "content": "pub fn retry_with_backoff(attempts: u32) -> Duration {\n    Duration::from_millis(100 * 2u64.pow(attempts))\n}\n".repeat(20)}}}),
            ),
            3 => (
                "PostToolUse",
                json!({"tool_name": "Grep", "tool_use_id": tool_use_id, "tool_input": {"pattern": "retry_with_backoff", "path": format!("{cwd}/src")},
                "tool_response": {"filenames": [format!("{cwd}/{file}"), format!("{cwd}/src/queue/worker.rs")], "numFiles": 2}}),
            ),
            4 | 5 => (
                "PostToolUse",
                json!({"tool_name": "Edit", "tool_use_id": tool_use_id, "tool_input": {"file_path": format!("{cwd}/{file}"),
                "old_string": "Duration::from_millis(100 * 2u64.pow(attempts))", "new_string": format!("fn jittered_backoff_{id}(attempts: u32) -> Duration {{ base.saturating_mul(1 << attempts.min(10)) }}")},
                "tool_response": {"filePath": format!("{cwd}/{file}")}}),
            ),
            6 => (
                "PostToolUse",
                json!({"tool_name": "Bash", "tool_use_id": tool_use_id, "tool_input": {"command": "cargo test -p queue", "description": "Run the queue tests"},
                "tool_response": {"stdout": "running 14 tests\n..............\ntest result: ok. 14 passed; 0 failed; 0 ignored", "stderr": "", "interrupted": false}}),
            ),
            7 => (
                "PostToolUseFailure",
                json!({"tool_name": "Bash", "tool_use_id": tool_use_id, "tool_input": {"command": "cargo clippy -- -D warnings"},
                "error": "Exit code 101\nerror: this `if` statement can be collapsed\n --> src/queue/worker.rs:60:9"}),
            ),
            8 => (
                "PostToolUse",
                json!({"tool_name": "Bash", "tool_use_id": tool_use_id, "tool_input": {"command": "ls -la src"},
                "tool_response": {"stdout": "api auth queue store", "stderr": "", "interrupted": false}}),
            ),
            _ => (
                "Stop",
                json!({"stop_hook_active": false, "last_assistant_message": format!("Step {prompt} done: backoff is now jittered and capped.")}),
            ),
        };
        let mut body = body;
        body["session_id"] = json!(session);
        body["cwd"] = json!(cwd);
        body["hook_event_name"] = json!(event);
        out.push((event.to_owned(), body));
    }
    out
}

fn local_throughput(n: usize) -> LocalThroughput {
    let ctx = SessionContext {
        session_id: "bench".into(),
        project: "acme-api".into(),
        cwd: "/home/dev/work/acme-api".into(),
        prompts: (1..=1000)
            .map(|i| (i, format!("Refactor the retry logic (step {i})")))
            .collect(),
    };
    let events: Vec<QueuedEvent> = session_events("bench", n, 1)
        .into_iter()
        .enumerate()
        .filter(|(_, (e, _))| e.starts_with("PostToolUse"))
        .map(|(i, (event_name, payload))| QueuedEvent {
            id: i as i64 + 1,
            session_id: "bench".into(),
            tool_name: payload["tool_name"].as_str().map(str::to_owned),
            event_name,
            prompt_number: (i / 10) as i64 + 1,
            created_at: 0,
            attempts: 0,
            payload,
        })
        .collect();
    let start = Instant::now();
    let mut observations = 0;
    for chunk in events.chunks(20) {
        observations += compress_events(&ctx, chunk, &HashSet::new(), 0.3).len();
    }
    let seconds = start.elapsed().as_secs_f64();
    LocalThroughput {
        events: events.len(),
        observations,
        seconds,
        events_per_second: events.len() as f64 / seconds,
    }
}

/// Posts edits at a steady rate to a real worker and reads, from SQLite, how long each waited between
/// being stored and being compressed (both stamps from the worker's clock).
fn lag(bin: &std::path::Path, events: usize, rate: u64, linger_ms: i64) -> anyhow::Result<Lag> {
    let linger = linger_ms.to_string();
    let worker = start_worker(bin, &[("CLAUDE_MEM_BATCH_LINGER_MS", &linger)])?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let port = worker.port;
    rt.block_on(async move {
        let client = crate::client();
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let mut ticker = tokio::time::interval(interval);
        let mut inflight = tokio::task::JoinSet::new();
        for (i, (event, body)) in session_events("lag", events * 10 / 3, 1)
            .into_iter()
            .enumerate()
        {
            if i >= events * 10 / 3 {
                break;
            }
            ticker.tick().await;
            let client = client.clone();
            let url = format!("http://127.0.0.1:{port}/hooks/{event}");
            inflight.spawn(async move {
                let _ = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
            });
        }
        while inflight.join_next().await.is_some() {}
    });
    // Wait for the queue to drain.
    let deadline = Instant::now() + Duration::from_secs(120);
    let db = worker.db.clone();
    loop {
        let pending = rt.block_on(scalar(
            &db,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'pending'",
        ))?;
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let rows: Vec<(i64, String)> = rt.block_on(async {
        let mut conn = open(&db).await?;
        anyhow::Ok(
            sqlx::query_as("SELECT created_at, source_event_ids FROM observations")
                .fetch_all(&mut conn)
                .await?,
        )
    })?;
    let created: std::collections::HashMap<i64, i64> = rt.block_on(async {
        let mut conn = open(&db).await?;
        let v: Vec<(i64, i64)> = sqlx::query_as("SELECT id, created_at FROM pending_messages")
            .fetch_all(&mut conn)
            .await?;
        anyhow::Ok(v.into_iter().collect())
    })?;
    let mut samples = Vec::new();
    for (obs_at, ids) in &rows {
        let ids: Vec<i64> = serde_json::from_str(ids).unwrap_or_default();
        for id in ids {
            if let Some(at) = created.get(&id) {
                samples.push(Duration::from_millis((obs_at - at).max(0) as u64));
            }
        }
    }
    Ok(Lag {
        batch_linger_ms: linger_ms,
        events: created.len(),
        rate_per_second: rate,
        observations: rows.len() as i64,
        lag: Latency::from(samples),
    })
}

async fn open(db: &std::path::Path) -> anyhow::Result<sqlx::SqliteConnection> {
    use sqlx::ConnectOptions;
    Ok(sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await?)
}

async fn scalar(db: &std::path::Path, sql: &str) -> anyhow::Result<i64> {
    let mut conn = open(db).await?;
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await?;
    Ok(n)
}

/// The mock's accounting: ~4 characters per token; the system prompt and tool schema form the cached
/// prefix once it is long enough, and is read from cache on every later call within the TTL.
fn priced_reply(
    req: &RecordedRequest,
    cache_min: u64,
    seen_prefix: &Mutex<HashSet<String>>,
) -> claude_mem_llm::mock::MockReply {
    let prefix = format!("{}{}", req.body["tools"], req.body["system"]);
    let prefix_tokens = prefix.len() as u64 / 4;
    let user_tokens = req.user_prompt().unwrap_or_default().len() as u64 / 4;
    let mut usage = Usage {
        input_tokens: user_tokens,
        output_tokens: 0,
        cache_write_tokens: 0,
        cache_read_tokens: 0,
    };
    if prefix_tokens >= cache_min {
        let first = seen_prefix
            .lock()
            .map(|mut s| s.insert(prefix.clone()))
            .unwrap_or(true);
        if first {
            usage.cache_write_tokens = prefix_tokens;
        } else {
            usage.cache_read_tokens = prefix_tokens;
        }
    } else {
        usage.input_tokens += prefix_tokens;
    }
    let input = if req.tool_name() == Some("record_summary") {
        json!({"request": "Refactor the retry logic", "investigated": "src/queue/worker.rs and its tests",
               "learned": "clippy rejects the nested if", "completed": "backoff is jittered and capped", "next_steps": "collapse the if"})
    } else {
        let user = req.user_prompt().unwrap_or_default();
        let ids: Vec<i64> = user
            .split("<event id=\"")
            .skip(1)
            .filter_map(|r| r.split('"').next()?.parse().ok())
            .collect();
        // Roughly what a model writes: one observation per 3 events, ~80 output tokens each.
        let obs: Vec<Value> = ids.chunks(3).map(|c| json!({
            "type": "refactor", "title": "Made queue retry backoff jittered and capped",
            "subtitle": "src/queue/worker.rs", "narrative": "Replaced the unbounded exponential delay with a capped, jittered one; queue tests pass, clippy flagged a nested if.",
            "facts": ["retry delay capped at 2^10 × base", "14 queue tests pass"], "concepts": ["retry", "backoff"],
            "files_read": [], "files_modified": ["src/queue/worker.rs"], "keywords": ["retry_with_backoff"], "source_event_ids": c
        })).collect();
        json!({"observations": obs})
    };
    usage.output_tokens = input.to_string().len() as u64 / 4;
    tool_reply(req, input, usage)
}

fn llm_cost(cache_min: u64) -> anyhow::Result<LlmCost> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let dir = tempfile::tempdir()?;
        let store = Store::open(&dir.path().join("bench.db")).await?;
        let mock = MockLlm::start().await?;
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let s2 = seen.clone();
        mock.set_default(move |req| priced_reply(req, cache_min, &s2));
        let events = session_events("recorded", 300, 1);
        for (event, body) in &events {
            store
                .ingest(HookEvent::parse(event, body.to_string().as_bytes())?)
                .await?;
        }
        let client = AnthropicClient::new(
            &mock.base_url(),
            "sk-ant-bench",
            "claude-haiku-4-5",
            Duration::from_secs(10),
        )?;
        let llm: Arc<dyn Compressor> = Arc::new(LlmCompressor::new(
            Box::new(client),
            default_pricing(),
            4096,
            4000,
        ));
        let cfg = ProcessorConfig {
            linger_ms: 0,
            daily_budget_usd: 1000.0,
            ..Default::default()
        };
        let p = Arc::new(Processor::new(store.clone(), Some(llm), cfg));
        while p.clone().tick().await?.sessions > 0 {}
        let report = store
            .cost_report(claude_mem_core::clock::now_ms(), 1, None)
            .await?;
        let observations = {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM observations")
                .fetch_one(store.read_pool())
                .await?;
            n
        };
        let summaries = {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM session_summaries")
                .fetch_one(store.read_pool())
                .await?;
            n
        };
        let t = &report.today;
        let first = mock
            .requests()
            .first()
            .cloned()
            .context("no LLM call was made")?;
        let prefix_tokens =
            format!("{}{}", first.body["tools"], first.body["system"]).len() as u64 / 4;
        let all_tokens =
            t.input_tokens + t.output_tokens + t.cache_read_tokens + t.cache_write_tokens;
        Ok(LlmCost {
            session_events: events.len(),
            calls: t.calls,
            observations,
            summaries,
            tokens_per_observation: all_tokens as f64 / observations.max(1) as f64,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cache_write_tokens: t.cache_write_tokens,
            cache_read_tokens: t.cache_read_tokens,
            cache_hit_ratio: t.cache_hit_ratio(),
            prefix_tokens_estimate: prefix_tokens,
            cache_min_tokens: cache_min,
            cost_usd: t.cost_usd,
            cost_per_observation_usd: t.cost_usd / observations.max(1) as f64,
        })
    })
}

/// The privacy filter runs on every hook body before it is stored: its cost is paid on the hot path.
fn privacy_throughput() -> Vec<PrivacyThroughput> {
    let code = "fn tokenize(input: &str) -> Vec<Token> { let max_tokens = 4096; }\n\
                The author read https://example.com/docs?page=2 and src/auth/tokens.rs.\n\
                let token = next_token(); // basic idea\n"
        .repeat(8_000);
    let prose =
        "Plain prose without anything that looks sensitive at all, just words. ".repeat(15_000);
    let dirty = format!("{code}API_KEY=abc123\nAWS AKIA{}\n", "QWERTYUIOPASDFGH").repeat(2);
    [
        ("code", code),
        ("prose", prose),
        ("code with secrets", dirty),
    ]
    .into_iter()
    .map(|(input, text)| {
        let rounds = 20;
        let start = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(claude_mem_privacy::redactor().clean_str(&text));
        }
        let per_pass = start.elapsed().as_secs_f64() / rounds as f64;
        PrivacyThroughput {
            input,
            kib: text.len() / 1024,
            ms_per_pass: per_pass * 1000.0,
            mib_per_second: text.len() as f64 / per_pass / (1024.0 * 1024.0),
        }
    })
    .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bin = claude_mem_bin(args.bin)?;
    eprintln!("privacy filter…");
    let privacy = privacy_throughput();
    eprintln!("local compressor over {} events…", args.local_events);
    let local = local_throughput(args.local_events);
    eprintln!("lag with the default linger (1500 ms)…");
    let lag_batched = lag(&bin, args.lag_events, args.lag_rate, 1500)?;
    eprintln!("lag with linger 0…");
    let lag_immediate = lag(&bin, args.lag_events, args.lag_rate, 0)?;
    eprintln!("LLM path against the mock…");
    let llm = llm_cost(args.cache_min_tokens)?;
    let report = Report {
        privacy,
        local,
        lag_batched,
        lag_immediate,
        llm,
    };

    println!("\n| privacy filter input | KiB | ms/pass | MiB/s |\n|---|---|---|---|");
    for p in &report.privacy {
        println!(
            "| {} | {} | {:.2} | {:.0} |",
            p.input, p.kib, p.ms_per_pass, p.mib_per_second
        );
    }
    println!(
        "\nlocal compressor: {} tool events → {} observations in {:.3} s = {:.0} events/s",
        report.local.events,
        report.local.observations,
        report.local.seconds,
        report.local.events_per_second
    );
    println!("\n| hook → observation lag             | samples |  p50 ms  |  p90 ms  |  p95 ms  |  p99 ms  |  max ms  |");
    println!("|------------------------------------|---------|----------|----------|----------|----------|----------|");
    row(
        &format!(
            "linger 1500 ms, {} ev/s",
            report.lag_batched.rate_per_second
        ),
        &report.lag_batched.lag,
    );
    row(
        &format!("linger 0 ms, {} ev/s", report.lag_immediate.rate_per_second),
        &report.lag_immediate.lag,
    );
    let l = &report.llm;
    println!(
        "\nLLM (mock, Anthropic wire format): {} events → {} calls, {} observations, {} summaries\n\
         tokens/observation {:.0}; input {} output {} cache-write {} cache-read {}; cache hit ratio {:.2}\n\
         cached prefix ≈ {} tokens (cache minimum {}); cost ${:.4} = ${:.5}/observation (Haiku 4.5 prices)",
        l.session_events, l.calls, l.observations, l.summaries, l.tokens_per_observation, l.input_tokens,
        l.output_tokens, l.cache_write_tokens, l.cache_read_tokens, l.cache_hit_ratio, l.prefix_tokens_estimate,
        l.cache_min_tokens, l.cost_usd, l.cost_per_observation_usd
    );
    if let Some(path) = args.json {
        write_json(&path, &report)?;
    }
    Ok(())
}
