//! `GET /metrics` on the real worker: the exposition parses, its figures agree with what SQLite holds,
//! the database gauges are still true after a restart, and the shipped Prometheus rules and Grafana
//! dashboard only reference metrics the worker really exports.

use claude_mem_e2e::*;
use claude_mem_llm::mock::{tool_reply, MockLlm};
use claude_mem_llm::Usage;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use yaml_rust2::{Yaml, YamlLoader};

/// Every metric name the issue promises, by the exact names users of the original expect.
const PROMISED: &[&str] = &[
    "claude_mem_hook_latency_ms",
    "claude_mem_observations_created_total",
    "claude_mem_observations_processing_time_ms",
    "claude_mem_search_latency_ms",
    "claude_mem_worker_uptime_seconds",
    "claude_mem_worker_memory_usage_mb",
    "claude_mem_db_size_mb",
    "claude_mem_sessions_total",
    "claude_mem_sessions_active",
    "claude_mem_tokens_used_total",
    "claude_mem_tokens_cost_usd",
    "claude_mem_observations_count",
    "claude_mem_vector_count",
    "claude_mem_queue_depth",
];

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader for the text format: a line it cannot read fails the test.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value on {line:?}"));
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value on {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels on {line:?}"));
                let labels = body
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair
                            .split_once('=')
                            .unwrap_or_else(|| panic!("bad label {pair:?} on {line:?}"));
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .unwrap_or_else(|| panic!("unquoted label {pair:?} on {line:?}"));
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                (name, labels)
            }
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name on {line:?}"
        );
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

/// The one sample named `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {labels:?} matches several series: {found:?}"
    );
    found.first().map(|s| s.value)
}

fn must(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(samples, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} not exported"))
}

fn scrape(worker: &Worker) -> (String, Vec<Sample>) {
    let response = http()
        .get(worker.url("/metrics"))
        .send()
        .expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().expect("metrics body");
    let samples = parse_exposition(&text);
    (content_type, samples)
}

fn sqlite_f64(db: &Path, sql: &str) -> f64 {
    sqlite_rows(db, sql)[0][0].as_f64().expect("number")
}

/// Polls until the search index has caught up with every observation SQLite holds.
fn wait_indexed(worker: &Worker, db: &Path, deadline: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (_, health) = get_json(worker, "/api/health");
        let max_id = sqlite_count(db, "SELECT COALESCE(MAX(id), 0) FROM observations");
        if health["index"]["last_indexed_id"].as_i64() == Some(max_id)
            && health["index"]["state"] == "ready"
        {
            return health;
        }
        assert!(
            start.elapsed() < deadline,
            "index never caught up with observation {max_id}: {health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const ACTIVE_SESSIONS: &str = "SELECT COUNT(*) FROM sdk_sessions WHERE status = 'active' \
     AND last_seen_at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 3600000";

#[test]
fn metrics_agree_with_sqlite_and_survive_a_restart() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mock = rt.block_on(MockLlm::start()).expect("mock LLM");
    mock.set_default(|req| {
        let usage = Usage {
            input_tokens: 700,
            output_tokens: 60,
            cache_write_tokens: 1200,
            cache_read_tokens: 300,
        };
        let input = if req.tool_name() == Some("record_summary") {
            json!({"request": "run the fixtures", "investigated": "", "learned": "metrics", "completed": "", "next_steps": ""})
        } else {
            json!({"observations": [{"type": "discovery", "title": "Fixture tool batch observed",
                   "narrative": "The worker compressed a batch of captured tool calls.", "source_event_ids": []}]})
        };
        tool_reply(req, input, usage)
    });
    let sandbox = Sandbox::new();
    let base_url = mock.base_url();
    let worker = Worker::start_with(
        &sandbox,
        &[
            ("CLAUDE_MEM_COMPRESSOR", "anthropic"),
            (
                "ANTHROPIC_API_KEY",
                "sk-ant-api03-metricstestkeymetricstestkeymetricstest-AAAA",
            ),
            ("CLAUDE_MEM_ANTHROPIC_BASE_URL", base_url.as_str()),
            ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
            ("CLAUDE_MEM_RETRY_BASE_MS", "0"),
        ],
    );
    let db = sandbox.database();

    let mut posted: BTreeMap<String, f64> = BTreeMap::new();
    for (name, event, payload) in fixtures() {
        let (status, answer) = post_hook(&worker, &event, payload.to_string());
        assert_eq!(status, 200, "{name}: {answer}");
        *posted.entry(event).or_default() += 1.0;
    }
    worker.wait_until_processed(Duration::from_secs(30));
    let health = wait_indexed(&worker, &db, Duration::from_secs(30));
    for mode in ["hybrid", "text", "vector"] {
        let (status, answer) = get_json(&worker, &format!("/api/search?q=fixture&mode={mode}"));
        assert_eq!(status, 200, "{mode}: {answer}");
    }
    // A refused search is not a search: only answered ones are timed.
    assert_eq!(get_json(&worker, "/api/search?q=x&mode=psychic").0, 400);

    // The main file only grows here (nothing vacuums), so its size now bounds the scraped figure below.
    let main_file_mb = std::fs::metadata(&db).expect("db file").len() as f64 / 1048576.0;
    let (content_type, samples) = scrape(&worker);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type:?}"
    );

    // Hooks: one latency sample per hook answered, labelled with its event.
    assert!(
        posted.len() >= 5,
        "the fixtures cover many events: {posted:?}"
    );
    for (event, n) in &posted {
        let labels = [("hook_type", event.as_str())];
        assert_eq!(
            must(&samples, "claude_mem_hook_latency_ms_count", &labels),
            *n,
            "{event}"
        );
        let le_inf = [("hook_type", event.as_str()), ("le", "+Inf")];
        assert_eq!(
            must(&samples, "claude_mem_hook_latency_ms_bucket", &le_inf),
            *n
        );
        assert!(must(&samples, "claude_mem_hook_latency_ms_sum", &labels) > 0.0);
    }
    let hook_types: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.name == "claude_mem_hook_latency_ms_count")
        .filter_map(|s| s.labels.get("hook_type").map(String::as_str))
        .collect();
    let expected: BTreeSet<&str> = posted.keys().map(String::as_str).collect();
    assert_eq!(hook_types, expected);

    for strategy in ["hybrid", "text", "vector"] {
        assert_eq!(
            must(
                &samples,
                "claude_mem_search_latency_ms_count",
                &[("strategy", strategy)]
            ),
            1.0,
            "{strategy}"
        );
    }

    // Compression: the counter and the gauge both equal what SQLite holds (a fresh database, so
    // everything in it was made by this process).
    let observations = sqlite_count(&db, "SELECT COUNT(*) FROM observations");
    assert!(observations > 0, "the LLM path made observations");
    assert_eq!(
        must(&samples, "claude_mem_observations_count", &[]),
        observations as f64
    );
    assert_eq!(
        must(&samples, "claude_mem_observations_created_total", &[]),
        observations as f64
    );
    assert!(
        must(
            &samples,
            "claude_mem_observations_processing_time_ms_count",
            &[]
        ) >= 1.0
    );
    assert_eq!(
        must(&samples, "claude_mem_queue_depth", &[]),
        sqlite_count(
            &db,
            "SELECT COUNT(*) FROM pending_messages WHERE state IN ('pending', 'processing')"
        ) as f64
    );

    let sessions = sqlite_count(&db, "SELECT COUNT(*) FROM sdk_sessions");
    assert!(sessions >= 2);
    assert_eq!(
        must(&samples, "claude_mem_sessions_total", &[]),
        sessions as f64
    );
    let active = sqlite_count(&db, ACTIVE_SESSIONS);
    assert!(active >= 1, "the fixtures' sessions were just seen");
    assert_eq!(
        must(&samples, "claude_mem_sessions_active", &[]),
        active as f64
    );

    let tokens = sqlite_count(
        &db,
        "SELECT SUM(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens) FROM llm_usage",
    );
    assert!(tokens > 0);
    assert_eq!(
        must(&samples, "claude_mem_tokens_used_total", &[]),
        tokens as f64
    );
    let cost = sqlite_f64(&db, "SELECT SUM(cost_usd) FROM llm_usage");
    assert!(cost > 0.0, "the default model is priced");
    let exported_cost = must(&samples, "claude_mem_tokens_cost_usd", &[]);
    assert!(
        (exported_cost - cost).abs() <= 1e-9 * cost,
        "{exported_cost} vs {cost}"
    );

    let vectors = health["index"]["vectors"].as_f64().expect("vector count");
    assert!(vectors > 0.0);
    assert_eq!(must(&samples, "claude_mem_vector_count", &[]), vectors);

    let db_mb = must(&samples, "claude_mem_db_size_mb", &[]);
    assert!(
        db_mb >= main_file_mb && db_mb < 1024.0,
        "{db_mb} MiB vs {main_file_mb} MiB"
    );
    assert!(must(&samples, "claude_mem_worker_memory_usage_mb", &[]) > 1.0);
    assert!(must(&samples, "claude_mem_worker_uptime_seconds", &[]) > 0.0);

    // Every promised name is there, and the shipped dashboards and alerts use nothing else.
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for name in PROMISED {
        assert!(
            names.iter().any(|n| n == name
                || n.strip_prefix(name)
                    .is_some_and(|rest| ["_bucket", "_sum", "_count"].contains(&rest))),
            "{name} is not exported: {names:?}"
        );
    }
    for (file, referenced) in deploy_references() {
        for name in referenced {
            assert!(
                names.contains(name.as_str()),
                "{file} uses {name}, which /metrics does not export"
            );
        }
    }

    // After a restart the event metrics start over, the database gauges do not.
    assert!(worker.stop().success());
    let worker = Worker::start(&sandbox);
    let start = Instant::now();
    let samples = loop {
        let (_, samples) = scrape(&worker);
        if value(&samples, "claude_mem_vector_count", &[]) == Some(vectors) {
            break samples;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "vectors never came back after the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        must(&samples, "claude_mem_observations_count", &[]),
        observations as f64
    );
    assert_eq!(
        must(&samples, "claude_mem_observations_created_total", &[]),
        0.0
    );
    assert_eq!(
        must(&samples, "claude_mem_sessions_total", &[]),
        sessions as f64
    );
    assert_eq!(
        must(&samples, "claude_mem_tokens_used_total", &[]),
        tokens as f64
    );
    assert!((must(&samples, "claude_mem_tokens_cost_usd", &[]) - cost).abs() <= 1e-9 * cost);
    assert!(!samples
        .iter()
        .any(|s| s.name.starts_with("claude_mem_hook_latency_ms")));
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.remove(0)
}

/// Our metric names in a PromQL expression (`claude_mem_…`; `up` and node_exporter's are not ours).
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("claude_mem_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

fn alert_rules() -> Vec<(String, String)> {
    let doc = yaml(&deploy_dir().join("prometheus/alerts.yml"));
    let groups = doc["groups"].as_vec().expect("groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_vec().expect("rules").iter())
        .map(|r| {
            (
                r["alert"].as_str().expect("alert name").to_owned(),
                r["expr"].as_str().expect("expr").to_owned(),
            )
        })
        .collect()
}

fn dashboard_exprs() -> Vec<String> {
    let path = deploy_dir().join("grafana/claude-mem-dashboard.json");
    let dash: Value = serde_json::from_str(&read(&path)).expect("dashboard is JSON");
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dash["panels"].as_array().expect("panels").iter().collect();
    while let Some(panel) = stack.pop() {
        if let Some(inner) = panel["panels"].as_array() {
            stack.extend(inner);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(target["expr"].as_str().expect("target expr").to_owned());
        }
    }
    out
}

/// (file, the `claude_mem_` series names its queries use).
fn deploy_references() -> Vec<(&'static str, BTreeSet<String>)> {
    let alerts = alert_rules()
        .iter()
        .flat_map(|(_, e)| metric_names(e))
        .collect();
    let dashboard = dashboard_exprs()
        .iter()
        .flat_map(|e| metric_names(e))
        .collect();
    vec![("alerts.yml", alerts), ("the Grafana dashboard", dashboard)]
}

#[test]
fn deploy_files_cover_the_promised_alerts_and_metrics() {
    let rules = alert_rules();
    let by_name: BTreeMap<&str, &str> = rules
        .iter()
        .map(|(n, e)| (n.as_str(), e.as_str()))
        .collect();
    assert_eq!(by_name.len(), rules.len(), "alert names are unique");
    let expect = |name: &str, needle: &str| {
        let expr = by_name
            .get(name)
            .unwrap_or_else(|| panic!("alert {name} missing"));
        assert!(expr.contains(needle), "{name}: {expr}");
    };
    expect("ClaudeMemWorkerDown", "up{job=\"claude-mem\"}");
    expect(
        "ClaudeMemProcessingLatencyHigh",
        "claude_mem_observations_processing_time_ms_bucket",
    );
    expect("ClaudeMemDiskSpaceLow", "node_filesystem_avail_bytes");
    expect("ClaudeMemDatabaseLarge", "claude_mem_db_size_mb");
    expect("ClaudeMemTokenCostHigh", "claude_mem_tokens_cost_usd");

    let prometheus = yaml(&deploy_dir().join("prometheus/prometheus.yml"));
    let rule_files: Vec<&str> = prometheus["rule_files"]
        .as_vec()
        .expect("rule_files")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(rule_files, ["alerts.yml"]);
    let jobs = prometheus["scrape_configs"]
        .as_vec()
        .expect("scrape_configs");
    let ours = jobs
        .iter()
        .find(|j| j["job_name"].as_str() == Some("claude-mem"))
        .expect("a claude-mem job, the name the alerts select");
    assert_eq!(ours["metrics_path"].as_str(), Some("/metrics"));
    assert_eq!(
        ours["static_configs"][0]["targets"][0].as_str(),
        Some("127.0.0.1:37777")
    );

    // Every promised metric is on the dashboard.
    let used: BTreeSet<String> = dashboard_exprs()
        .iter()
        .flat_map(|e| metric_names(e))
        .collect();
    for name in PROMISED {
        assert!(
            used.iter().any(|u| u == name
                || u.strip_prefix(name)
                    .is_some_and(|rest| ["_bucket", "_sum", "_count"].contains(&rest))),
            "the dashboard has no panel for {name}"
        );
    }
}
