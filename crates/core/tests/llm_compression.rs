//! The LLM compressor and the processor against a local server speaking the Anthropic and OpenAI wire
//! formats: the exact requests we send, usage and cost accounting, and the failure modes.

use claude_mem_core::compress::llm::{
    Instructions, LlmCompressor, Mode, OBSERVATION_TOOL, SUMMARY_TOOL,
};
use claude_mem_core::compress::Compressor;
use claude_mem_core::model::{QueuedEvent, SessionContext};
use claude_mem_core::processor::{Processor, ProcessorConfig};
use claude_mem_core::{HookEvent, Store};
use claude_mem_llm::mock::{anthropic_error, tool_reply, MockLlm, MockReply, RecordedRequest};
use claude_mem_llm::{default_pricing, AnthropicClient, OpenAiClient, Usage};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sk-ant-test-key-not-real";

fn event_ids(req: &RecordedRequest) -> Vec<i64> {
    let user = req.user_prompt().unwrap_or_default();
    user.split("<event id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

/// Answers like a model would: one observation citing every event it was shown, or a summary.
fn model_like(req: &RecordedRequest) -> MockReply {
    let usage = Usage {
        input_tokens: 900,
        output_tokens: 120,
        cache_write_tokens: 0,
        cache_read_tokens: 2100,
    };
    if req.tool_name() == Some(SUMMARY_TOOL) {
        return tool_reply(
            req,
            json!({"request": "fix login", "investigated": "auth.rs", "learned": "empty password panicked",
                   "completed": "guard added", "next_steps": "add a test"}),
            usage,
        );
    }
    let ids = event_ids(req);
    tool_reply(
        req,
        json!({"observations": [{
            "type": "bugfix", "title": "Guarded empty password in login()",
            "subtitle": "src/auth.rs", "narrative": "login() panicked on an empty password; now it returns an error.",
            "facts": ["login() returned Err(Empty) for \"\""], "concepts": ["Authentication", "Gotcha", "trade off"],
            "files_read": [], "files_modified": ["src/auth.rs"], "keywords": ["login"],
            "source_event_ids": ids
        }]}),
        usage,
    )
}

fn events(n: i64) -> Vec<QueuedEvent> {
    (1..=n)
        .map(|id| QueuedEvent {
            id,
            session_id: "s".into(),
            event_name: "PostToolUse".into(),
            tool_name: Some("Edit".into()),
            prompt_number: 1,
            created_at: 0,
            attempts: 0,
            payload: json!({"tool_name": "Edit", "tool_use_id": format!("t{id}"),
                "tool_input": {"file_path": "/w/app/src/auth.rs", "old_string": "x", "new_string": format!("y{id}")}}),
        })
        .collect()
}

fn ctx() -> SessionContext {
    SessionContext {
        session_id: "s".into(),
        project: "app".into(),
        cwd: "/w/app".into(),
        prompts: vec![(1, "fix the login panic".into())],
    }
}

fn anthropic(mock: &MockLlm) -> LlmCompressor {
    let client = AnthropicClient::new(
        &mock.base_url(),
        KEY,
        "claude-haiku-4-5",
        Duration::from_secs(5),
    )
    .unwrap();
    LlmCompressor::new(Box::new(client), default_pricing(), 2048, 4000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_request_is_batched_cached_and_priced() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(model_like);
    let out = anthropic(&mock).compress(&ctx(), &events(3)).await.unwrap();

    let requests = mock.requests();
    assert_eq!(requests.len(), 1, "three events, one call");
    let req = &requests[0];
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.headers.get("x-api-key").map(String::as_str), Some(KEY));
    assert_eq!(
        req.headers.get("anthropic-version").map(String::as_str),
        Some("2023-06-01")
    );
    let body = &req.body;
    assert_eq!(body["model"], "claude-haiku-4-5");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 2048);
    assert_eq!(
        body["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert!(body["system"][0]["text"]
        .as_str()
        .unwrap()
        .contains("observations"));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": OBSERVATION_TOOL})
    );
    assert_eq!(body["tools"][0]["name"], OBSERVATION_TOOL);
    assert_eq!(
        body["tools"][0]["input_schema"]["properties"]["observations"]["type"],
        "array"
    );
    assert_eq!(event_ids(req), [1, 2, 3]);
    assert!(req.user_prompt().unwrap().contains("fix the login panic"));

    assert_eq!(out.observations.len(), 1);
    let o = &out.observations[0];
    assert_eq!(o.title, "Guarded empty password in login()");
    assert_eq!(o.source_event_ids, [1, 2, 3]);
    // Concepts are a fixed vocabulary: known ones are normalised, a topic moves to the keywords.
    assert_eq!(o.concepts, ["gotcha", "trade-off"]);
    assert_eq!(o.keywords, ["login", "authentication"]);
    assert_eq!(o.input_tokens, 3000);
    assert_eq!(o.output_tokens, 120);
    assert_eq!(out.compressor, "anthropic:claude-haiku-4-5");
    let u = &out.usage[0];
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.cache_read_tokens),
        (900, 120, 2100)
    );
    // Haiku 4.5: $1 in, $5 out, $0.10 cache read per million.
    let expected = (900.0 * 1.0 + 120.0 * 5.0 + 2100.0 * 0.10) / 1e6;
    assert!(
        (u.cost_usd - expected).abs() < 1e-12,
        "{} vs {expected}",
        u.cost_usd
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_compatible_request_has_the_same_schema() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(model_like);
    let client = OpenAiClient::new(
        &mock.openai_base_url(),
        None,
        "llama3.1:8b",
        Duration::from_secs(5),
    )
    .unwrap();
    let c = LlmCompressor::new(Box::new(client), default_pricing(), 2048, 4000);
    let out = c.compress(&ctx(), &events(2)).await.unwrap();
    let req = &mock.requests()[0];
    assert!(req.path.ends_with("/chat/completions"), "{}", req.path);
    assert!(!req.headers.contains_key("authorization"));
    assert_eq!(req.body["tools"][0]["function"]["name"], OBSERVATION_TOOL);
    assert_eq!(
        req.body["tool_choice"]["function"]["name"],
        OBSERVATION_TOOL
    );
    assert_eq!(out.observations[0].source_event_ids, [1, 2]);
    assert_eq!(out.usage[0].cost_usd, 0.0, "local models are free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tool_output_is_a_permanent_failure() {
    let mock = MockLlm::start().await.unwrap();
    mock.push_reply(MockReply::ok(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "I'd rather chat."}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 5}
    })));
    mock.push_reply(tool_reply(
        &dummy_request(),
        json!({"observations": "not a list"}),
        Usage::default(),
    ));
    let c = anthropic(&mock);
    for _ in 0..2 {
        let err = c.compress(&ctx(), &events(1)).await.unwrap_err();
        assert!(
            matches!(err, claude_mem_core::compress::CompressError::Permanent(_)),
            "{err:?}"
        );
    }
}

fn dummy_request() -> RecordedRequest {
    RecordedRequest {
        path: "/v1/messages".into(),
        headers: Default::default(),
        body: json!({"model": "claude-haiku-4-5", "tools": [{"name": OBSERVATION_TOOL}]}),
    }
}

async fn ingest(store: &Store, event: &str, body: Value) {
    store
        .ingest(HookEvent::parse(event, body.to_string().as_bytes()).unwrap())
        .await
        .unwrap();
}

async fn scalar(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(store.read_pool())
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_overload_back_off_then_usage_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(model_like);
    mock.push_reply(MockReply::Json {
        status: 429,
        headers: vec![("retry-after".into(), "7".into())],
        body: anthropic_error("rate_limit_error", "slow down"),
    });
    mock.push_reply(MockReply::json(
        529,
        anthropic_error("overloaded_error", "Overloaded"),
    ));

    ingest(
        &store,
        "UserPromptSubmit",
        json!({"session_id": "s", "cwd": "/w/app", "prompt": "fix the login panic"}),
    )
    .await;
    ingest(&store, "PostToolUse", json!({"session_id": "s", "cwd": "/w/app", "tool_name": "Edit", "tool_use_id": "t1",
        "tool_input": {"file_path": "/w/app/src/auth.rs", "old_string": "a", "new_string": "b"}, "tool_response": {}})).await;
    ingest(&store, "Stop", json!({"session_id": "s", "cwd": "/w/app", "stop_hook_active": false, "last_assistant_message": "Done."})).await;

    let llm: Arc<dyn Compressor> = Arc::new(anthropic(&mock));
    let cfg = ProcessorConfig {
        linger_ms: 0,
        retry_base_ms: 0,
        ..Default::default()
    };
    let p = Arc::new(Processor::new(store.clone(), Some(llm), cfg));

    let before = claude_mem_core::clock::now_ms();
    p.clone().tick().await.unwrap();
    let next = scalar(&store, "SELECT MIN(next_attempt_at) FROM pending_messages").await;
    assert!(
        next >= before + 7000,
        "retry-after honoured: next attempt {next} vs {before}"
    );
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM observations").await, 0);
    // Pretend the seven seconds passed.
    sqlx::query("UPDATE pending_messages SET next_attempt_at = 0")
        .execute(store.read_pool())
        .await
        .unwrap();
    p.clone().tick().await.unwrap(); // 529 overloaded
    assert_eq!(
        scalar(&store, "SELECT MAX(attempts) FROM pending_messages").await,
        2
    );
    sqlx::query("UPDATE pending_messages SET next_attempt_at = 0")
        .execute(store.read_pool())
        .await
        .unwrap();
    p.clone().tick().await.unwrap(); // success: observation + summary

    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM observations").await, 1);
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM session_summaries").await,
        1
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM pending_messages WHERE state = 'pending'"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM llm_usage").await,
        2,
        "one observation call, one summary call"
    );
    assert_eq!(
        scalar(&store, "SELECT SUM(cache_read_tokens) FROM llm_usage").await,
        4200
    );
    let (compressor, model): (String, String) =
        sqlx::query_as("SELECT compressor, model FROM observations")
            .fetch_one(store.read_pool())
            .await
            .unwrap();
    assert_eq!(
        (compressor.as_str(), model.as_str()),
        ("anthropic:claude-haiku-4-5", "claude-haiku-4-5")
    );
    let report = store
        .cost_report(claude_mem_core::clock::now_ms(), 30, None)
        .await
        .unwrap();
    assert_eq!(report.today.calls, 2);
    assert!(report.today.cost_usd > 0.0);
    assert_eq!(report.by_model[0].key, "claude-haiku-4-5");
    assert!(report.cache_hit_ratio > 0.6);
    // Requests: 429, 529, then the batch and the summary. Every one carried the cached system prompt.
    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests
        .iter()
        .all(|r| r.body["system"][0]["cache_control"]["type"] == "ephemeral"));
    assert_eq!(requests[3].tool_name(), Some(SUMMARY_TOOL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_and_mode_change_the_prompts_and_the_schema_lists_types_and_concepts() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(model_like);
    let zh = Instructions {
        language: "zh".into(),
        mode: Mode::Concise,
    };
    let c = anthropic(&mock).with_instructions(&zh);
    let out = c.compress(&ctx(), &events(2)).await.unwrap();
    c.summarize(&ctx(), &events(2), &out.observations, None)
        .await
        .unwrap();
    let requests = mock.requests();
    let system = |i: usize| {
        requests[i].body["system"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (obs, sum) = (system(0), system(1));
    assert!(
        obs.contains("Write every title") && obs.contains("in Chinese (zh)"),
        "{obs}"
    );
    assert!(
        obs.contains("Keep identifiers, file paths, commands"),
        "{obs}"
    );
    assert!(!obs.contains("Write in English."));
    assert!(
        obs.contains("At most one or two observations per batch"),
        "concise guidance"
    );
    assert!(sum.contains("written in Chinese (zh)"), "{sum}");
    assert!(sum.contains("at most one plain sentence"), "{sum}");
    // The schema and the prompt name the new types and the concept vocabulary.
    let item = &requests[0].body["tools"][0]["input_schema"]["properties"]["observations"]["items"];
    let types = item["properties"]["type"]["enum"].to_string();
    assert!(
        types.contains("security_alert") && types.contains("security_note"),
        "{types}"
    );
    assert_eq!(
        item["properties"]["concepts"]["items"]["enum"],
        json!(claude_mem_core::compress::CONCEPTS)
    );
    assert!(obs.contains("security_alert (something that put the user at risk"));
    assert!(obs.contains("how-it-works, why-it-exists"));

    // The default stays English code mode.
    let en = Instructions::default();
    assert!(en.system_prompt().contains("Write in English."));
    assert!(en
        .system_prompt()
        .contains("One observation per meaningful unit of work"));
    assert!(en.summary_prompt().contains("in English"));
    let verbose = Instructions {
        language: "en".into(),
        mode: Mode::Verbose,
    };
    assert!(verbose.system_prompt().contains("Up to 10 facts"));
    assert_ne!(verbose.system_prompt(), en.system_prompt());
}

#[test]
fn a_custom_prompt_comes_from_its_file_and_a_missing_or_empty_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prompts").join("compression.md");
    let mut settings = claude_mem_core::Settings::default();
    settings.compression.mode = "custom".into();
    settings.compression.language = "ja".into();
    let err = Instructions::from_settings(&settings.compression, &file).unwrap_err();
    assert!(
        err.contains("compression.md") && err.contains("custom"),
        "{err}"
    );
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "  \n").unwrap();
    let err = Instructions::from_settings(&settings.compression, &file).unwrap_err();
    assert!(err.contains("empty"), "{err}");
    std::fs::write(&file, "Remember only decisions about the API.\n").unwrap();
    let i = Instructions::from_settings(&settings.compression, &file).unwrap();
    let prompt = i.system_prompt();
    assert!(
        prompt.contains("Remember only decisions about the API."),
        "{prompt}"
    );
    assert!(prompt.contains("in Japanese (ja)"), "{prompt}");
    assert!(prompt.contains("security_note"), "the contract stays");
    assert!(
        !prompt.contains("## Worked examples"),
        "custom replaces the built-in guidance"
    );

    // The worker refuses to start with it missing, like any other configuration error.
    let empty = tempfile::tempdir().unwrap();
    settings.compression.provider = "anthropic".into();
    settings.compression.anthropic_api_key = Some(KEY.into());
    let err = claude_mem_core::compress::select::llm_compressor_in(
        &settings,
        &claude_mem_core::DataDir::new(empty.path()),
    )
    .err()
    .expect("refused");
    assert!(err.contains("compression.md"), "{err}");
}
