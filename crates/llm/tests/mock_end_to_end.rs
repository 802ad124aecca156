//! Uses the mock only through the public API, the way other crates' tests will.
#![cfg(feature = "mock-server")]

use std::time::Duration;

use claude_mem_llm::mock::{tool_reply, MockLlm, MockReply};
use claude_mem_llm::{
    default_pricing, price_for, AnthropicClient, LlmError, OpenAiClient, StructuredLlm,
    StructuredRequest, ToolSpec, Usage,
};
use serde_json::json;

fn request(user: &str) -> StructuredRequest {
    StructuredRequest {
        system: "sys".to_string(),
        user: user.to_string(),
        tool: ToolSpec {
            name: "record_observation".to_string(),
            description: "d".to_string(),
            input_schema: json!({"type": "object"}),
        },
        max_tokens: 256,
        temperature: 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_providers_against_one_mock_with_echo_default() {
    let mock = MockLlm::start().await.unwrap();
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        cache_write_tokens: 0,
        cache_read_tokens: 40,
    };
    mock.set_default(move |req| {
        tool_reply(
            req,
            json!({"title": req.user_prompt().unwrap_or_default()}),
            usage,
        )
    });
    let clients: Vec<Box<dyn StructuredLlm>> = vec![
        Box::new(
            AnthropicClient::new(
                &mock.base_url(),
                "k",
                "claude-haiku-4-5",
                Duration::from_secs(5),
            )
            .unwrap(),
        ),
        Box::new(
            OpenAiClient::new(
                &mock.openai_base_url(),
                None,
                "gpt-4o-mini",
                Duration::from_secs(5),
            )
            .unwrap(),
        ),
    ];
    let table = default_pricing();
    for llm in &clients {
        let resp = llm.call(&request(llm.provider())).await.unwrap();
        assert_eq!(resp.value, json!({"title": llm.provider()}));
        assert_eq!(resp.usage, usage);
        assert!(
            price_for(&table, &resp.model)
                .unwrap()
                .cost_usd(&resp.usage)
                > 0.0
        );
    }
    let paths: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/messages", "/v1/chat/completions"]);

    // Scripted replies take precedence over the default.
    mock.push_reply(MockReply::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
    ));
    let err = clients[0].call(&request("x")).await.unwrap_err();
    assert!(matches!(err, LlmError::Overloaded { .. }), "{err:?}");
    assert!(err.is_transient());
}
