//! Anthropic Messages API client (`POST /v1/messages`) with a forced tool call.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use crate::transport::{endpoint_url, json_f32, snippet, HttpReply, Transport};
use crate::{LlmError, StructuredLlm, StructuredRequest, StructuredResponse, Usage};

/// How much model text to quote when the model answered in prose instead of calling the tool.
const TEXT_SNIPPET_CHARS: usize = 200;

/// Calls Claude through the Messages API, forcing `tool_choice` so the answer is always a tool
/// input rather than prose.
pub struct AnthropicClient {
    transport: Transport,
    model: String,
}

impl AnthropicClient {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";
    /// The API version this client's request and response handling is written against.
    pub const API_VERSION: &'static str = "2023-06-01";

    /// `base_url` is the API root (`https://api.anthropic.com`); a trailing slash or a trailing
    /// `/v1` is tolerated because both are common copy-paste forms. `timeout` bounds the whole
    /// call, body included.
    pub fn new(
        base_url: &str,
        api_key: &str,
        model: &str,
        timeout: Duration,
    ) -> Result<Self, LlmError> {
        // Keys read from files or env often carry a trailing newline.
        let api_key = api_key.trim();
        if api_key.is_empty() {
            return Err(LlmError::Config("Anthropic API key is empty".to_string()));
        }
        let model = model.trim();
        if model.is_empty() {
            return Err(LlmError::Config("model is empty".to_string()));
        }
        let base = base_url.trim().trim_end_matches('/');
        let path = if base.ends_with("/v1") {
            "/messages"
        } else {
            "/v1/messages"
        };
        let endpoint = endpoint_url(base, path)?;

        let mut key = HeaderValue::from_str(api_key).map_err(|_| {
            LlmError::Config(
                "Anthropic API key contains characters that cannot be sent in an HTTP header"
                    .to_string(),
            )
        })?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", key);
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(Self::API_VERSION),
        );
        Ok(AnthropicClient {
            transport: Transport::new(endpoint, timeout, headers, Some(api_key))?,
            model: model.to_string(),
        })
    }

    fn request_body(&self, req: &StructuredRequest) -> Value {
        json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": json_f32(req.temperature),
            // The system prompt is the same for every observation of a session, so marking it
            // cacheable turns most of the input into cheap cache reads.
            "system": [{
                "type": "text",
                "text": req.system,
                "cache_control": {"type": "ephemeral"},
            }],
            "tools": [{
                "name": req.tool.name,
                "description": req.tool.description,
                "input_schema": req.tool.input_schema,
            }],
            "tool_choice": {"type": "tool", "name": req.tool.name},
            "messages": [{"role": "user", "content": req.user}],
        })
    }

    fn parse_reply(
        &self,
        req: &StructuredRequest,
        reply: &HttpReply,
    ) -> Result<StructuredResponse, LlmError> {
        let malformed = |msg: String| LlmError::MalformedOutput(self.transport.redact(&msg));
        // A 2xx whose body is not JSON is reported as malformed output rather than a server
        // error: the server claimed success, and retrying blindly on a broken proxy or a
        // truncated body is the caller's call, not a transient-by-default decision.
        let body: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            malformed(format!(
                "response body is not valid JSON ({e}): {}",
                snippet(&String::from_utf8_lossy(&reply.body), TEXT_SNIPPET_CHARS)
            ))
        })?;
        let stop_reason = body
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        let content = body
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("response has no content array".to_string()))?;

        // With a forced tool choice a complete answer ends with stop_reason "tool_use"; hitting
        // max_tokens means the tool input was cut off, even if what arrived happens to parse.
        if stop_reason.as_deref() == Some("max_tokens") {
            return Err(malformed(format!(
                "output hit max_tokens ({}) before the `{}` tool input was complete",
                req.max_tokens, req.tool.name
            )));
        }

        let block_type = |b: &Value| b.get("type").and_then(Value::as_str).map(str::to_string);
        let tool_uses: Vec<&Value> = content
            .iter()
            .filter(|b| block_type(b).as_deref() == Some("tool_use"))
            .collect();
        let block_name = |b: &Value| {
            b.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let Some(block) = tool_uses.iter().find(|b| block_name(b) == req.tool.name) else {
            if let Some(other) = tool_uses.first() {
                return Err(malformed(format!(
                    "model called tool `{}` instead of `{}`",
                    block_name(other),
                    req.tool.name
                )));
            }
            let text: Vec<&str> = content
                .iter()
                .filter(|b| block_type(b).as_deref() == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            return Err(malformed(format!(
                "no tool_use block in response (stop_reason {}); text: {:?}",
                stop_reason.as_deref().unwrap_or("none"),
                snippet(&text.join("\n"), TEXT_SNIPPET_CHARS)
            )));
        };
        let value = match block.get("input") {
            Some(input @ Value::Object(_)) => input.clone(),
            Some(other) => {
                return Err(malformed(format!(
                    "`{}` tool input is not a JSON object: {}",
                    req.tool.name,
                    snippet(&other.to_string(), TEXT_SNIPPET_CHARS)
                )))
            }
            None => {
                return Err(malformed(format!(
                    "`{}` tool_use block has no input",
                    req.tool.name
                )))
            }
        };

        Ok(StructuredResponse {
            reported_cost_usd: None,
            value,
            usage: parse_usage(body.get("usage")),
            model: body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(&self.model)
                .to_string(),
            request_id: reply.header("request-id"),
            stop_reason,
        })
    }
}

/// Anthropic's `input_tokens` already excludes cache reads and writes; the cache fields are
/// absent or null when caching did not apply, which counts as zero.
fn parse_usage(usage: Option<&Value>) -> Usage {
    let field = |name: &str| {
        usage
            .and_then(|u| u.get(name))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Usage {
        input_tokens: field("input_tokens"),
        output_tokens: field("output_tokens"),
        cache_write_tokens: field("cache_creation_input_tokens"),
        cache_read_tokens: field("cache_read_input_tokens"),
    }
}

impl fmt::Debug for AnthropicClient {
    // Hand-written so the key can never reach logs through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicClient")
            .field("endpoint", &self.transport.endpoint_display())
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl StructuredLlm for AnthropicClient {
    fn provider(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn call(&self, req: &StructuredRequest) -> Result<StructuredResponse, LlmError> {
        let reply = self.transport.post_json(&self.request_body(req)).await?;
        if !reply.is_success() {
            let err = self.transport.status_error(&reply);
            tracing::debug!(model = %self.model, status = reply.status, error = %err, "anthropic call failed");
            return Err(err);
        }
        let resp = self.parse_reply(req, &reply)?;
        tracing::debug!(
            model = %resp.model,
            request_id = resp.request_id.as_deref().unwrap_or(""),
            input_tokens = resp.usage.input_tokens,
            output_tokens = resp.usage.output_tokens,
            cache_read_tokens = resp.usage.cache_read_tokens,
            cache_write_tokens = resp.usage.cache_write_tokens,
            "anthropic call ok"
        );
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{anthropic_error, anthropic_tool_use, MockLlm, MockReply};
    use crate::ToolSpec;

    const KEY: &str = "sk-ant-test-0123456789";

    fn request() -> StructuredRequest {
        StructuredRequest {
            system: "You turn tool events into observations.".to_string(),
            user: "Tool: Bash\nInput: cargo test".to_string(),
            tool: ToolSpec {
                name: "record_observation".to_string(),
                description: "Record one observation".to_string(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"title": {"type": "string"}},
                    "required": ["title"],
                }),
            },
            max_tokens: 1024,
            temperature: 0.0,
        }
    }

    fn client(mock: &MockLlm) -> AnthropicClient {
        client_with_timeout(mock, Duration::from_secs(10))
    }

    fn client_with_timeout(mock: &MockLlm, timeout: Duration) -> AnthropicClient {
        AnthropicClient::new(&mock.base_url(), KEY, "claude-haiku-4-5", timeout).unwrap()
    }

    fn reply(status: u16, body: Value) -> MockReply {
        MockReply::json(status, body)
    }

    #[tokio::test]
    async fn sends_exact_request() {
        let mock = MockLlm::start().await.unwrap();
        let c = client(&mock);
        let resp = c.call(&request()).await.unwrap();
        assert_eq!(resp.value, json!({}));

        let reqs = mock.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.headers["x-api-key"], KEY);
        assert_eq!(r.headers["anthropic-version"], "2023-06-01");
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(!r.headers.contains_key("authorization"));
        assert_eq!(
            r.body,
            json!({
                "model": "claude-haiku-4-5",
                "max_tokens": 1024,
                "temperature": 0.0,
                "system": [{
                    "type": "text",
                    "text": "You turn tool events into observations.",
                    "cache_control": {"type": "ephemeral"},
                }],
                "tools": [{
                    "name": "record_observation",
                    "description": "Record one observation",
                    "input_schema": {
                        "type": "object",
                        "properties": {"title": {"type": "string"}},
                        "required": ["title"],
                    },
                }],
                "tool_choice": {"type": "tool", "name": "record_observation"},
                "messages": [{"role": "user", "content": "Tool: Bash\nInput: cargo test"}],
            })
        );
        assert_eq!(
            r.system_prompt(),
            Some("You turn tool events into observations.")
        );
        assert_eq!(r.user_prompt(), Some("Tool: Bash\nInput: cargo test"));
    }

    #[tokio::test]
    async fn base_url_forms_are_tolerated() {
        let mock = MockLlm::start().await.unwrap();
        for base in [
            mock.base_url() + "/",
            mock.base_url() + "/v1",
            mock.base_url() + "/v1/",
        ] {
            let c = AnthropicClient::new(&base, KEY, "m", Duration::from_secs(10)).unwrap();
            c.call(&request()).await.unwrap();
        }
        assert!(mock.requests().iter().all(|r| r.path == "/v1/messages"));
        assert_eq!(mock.requests().len(), 3);
    }

    #[tokio::test]
    async fn temperature_is_sent_in_decimal_form() {
        let mock = MockLlm::start().await.unwrap();
        let mut req = request();
        req.temperature = 0.2;
        client(&mock).call(&req).await.unwrap();
        assert_eq!(mock.requests()[0].body["temperature"], json!(0.2));
    }

    #[tokio::test]
    async fn parses_value_usage_model_and_request_id() {
        let mock = MockLlm::start().await.unwrap();
        let usage = Usage {
            input_tokens: 12,
            output_tokens: 345,
            cache_write_tokens: 1500,
            cache_read_tokens: 2048,
        };
        let mut body = anthropic_tool_use(
            "claude-haiku-4-5-20251001",
            "record_observation",
            json!({"title": "tests pass"}),
            usage,
        );
        // A text preamble before the tool call is allowed.
        body["content"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"type": "text", "text": "Let me record that."}));
        mock.push_reply(MockReply::Json {
            status: 200,
            headers: vec![("request-id".to_string(), "req_011abc".to_string())],
            body,
        });
        let resp = client(&mock).call(&request()).await.unwrap();
        assert_eq!(resp.value, json!({"title": "tests pass"}));
        assert_eq!(resp.usage, usage);
        assert_eq!(resp.model, "claude-haiku-4-5-20251001");
        assert_eq!(resp.request_id.as_deref(), Some("req_011abc"));
        assert_eq!(resp.stop_reason.as_deref(), Some("tool_use"));
    }

    #[tokio::test]
    async fn null_or_absent_cache_fields_count_as_zero() {
        let mock = MockLlm::start().await.unwrap();
        let mut body = anthropic_tool_use("m", "record_observation", json!({}), Usage::default());
        body["usage"] = json!({
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": null,
            "cache_read_input_tokens": null,
        });
        mock.push_reply(reply(200, body.clone()));
        body["usage"] = json!({"input_tokens": 11, "output_tokens": 6});
        mock.push_reply(reply(200, body));
        let c = client(&mock);
        assert_eq!(
            c.call(&request()).await.unwrap().usage,
            Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            }
        );
        assert_eq!(
            c.call(&request()).await.unwrap().usage,
            Usage {
                input_tokens: 11,
                output_tokens: 6,
                ..Usage::default()
            }
        );
    }

    #[tokio::test]
    async fn default_mock_reply_usage() {
        let mock = MockLlm::start().await.unwrap();
        let resp = client(&mock).call(&request()).await.unwrap();
        assert_eq!(
            resp.usage,
            Usage {
                input_tokens: 100,
                output_tokens: 20,
                ..Usage::default()
            }
        );
        assert_eq!(resp.model, "claude-haiku-4-5");
    }

    #[tokio::test]
    async fn rate_limited_with_retry_after() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(MockReply::Json {
            status: 429,
            headers: vec![("retry-after".to_string(), "7".to_string())],
            body: anthropic_error(
                "rate_limit_error",
                "Number of request tokens has exceeded your rate limit",
            ),
        });
        mock.push_reply(MockReply::Json {
            status: 429,
            headers: vec![("retry-after".to_string(), "2.5".to_string())],
            body: anthropic_error("rate_limit_error", "slow down"),
        });
        mock.push_reply(MockReply::Json {
            status: 429,
            headers: vec![(
                "retry-after".to_string(),
                "Wed, 21 Oct 2015 07:28:00 GMT".to_string(),
            )],
            body: anthropic_error("rate_limit_error", "slow down"),
        });
        let c = client(&mock);

        let e = c.call(&request()).await.unwrap_err();
        match &e {
            LlmError::RateLimited {
                retry_after,
                message,
            } => {
                assert_eq!(*retry_after, Some(Duration::from_secs(7)));
                assert!(message.contains("rate_limit_error"), "{message}");
                assert!(message.contains("exceeded your rate limit"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_transient());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

        let e = c.call(&request()).await.unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_millis(2500)));

        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(
                e,
                LlmError::RateLimited {
                    retry_after: None,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn overloaded_is_transient() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(reply(
            529,
            anthropic_error("overloaded_error", "Overloaded"),
        ));
        let e = client(&mock).call(&request()).await.unwrap_err();
        assert!(matches!(e, LlmError::Overloaded { .. }), "{e:?}");
        assert!(e.is_transient());
    }

    #[tokio::test]
    async fn server_errors_are_transient() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(reply(
            500,
            anthropic_error("api_error", "Internal server error"),
        ));
        mock.push_reply(MockReply::raw(502, "<html><body>Bad Gateway</body></html>"));
        let c = client(&mock);
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::Server { status: 500, message } if message.contains("Internal server error")),
            "{e:?}"
        );
        assert!(e.is_transient());
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::Server { status: 502, message } if message.contains("Bad Gateway")),
            "{e:?}"
        );
        assert!(e.is_transient());
    }

    #[tokio::test]
    async fn auth_error_is_permanent_and_hides_key() {
        let mock = MockLlm::start().await.unwrap();
        // A hostile or careless proxy echoing the key back must not leak it into our messages.
        mock.push_reply(reply(
            401,
            anthropic_error("authentication_error", &format!("invalid x-api-key: {KEY}")),
        ));
        mock.push_reply(reply(403, anthropic_error("permission_error", "no access")));
        let c = client(&mock);
        let e = c.call(&request()).await.unwrap_err();
        assert!(matches!(e, LlmError::Auth(_)), "{e:?}");
        assert!(!e.is_transient());
        assert!(!e.to_string().contains(KEY), "{e}");
        assert!(!format!("{e:?}").contains(KEY), "{e:?}");
        assert!(e.to_string().contains("authentication_error"));
        let e = c.call(&request()).await.unwrap_err();
        assert!(matches!(e, LlmError::Auth(_)), "{e:?}");
        assert!(!format!("{c:?}").contains(KEY));
    }

    #[tokio::test]
    async fn client_errors_are_bad_requests() {
        let mock = MockLlm::start().await.unwrap();
        for (status, kind) in [
            (400, "invalid_request_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
        ] {
            mock.push_reply(reply(status, anthropic_error(kind, "nope")));
        }
        let c = client(&mock);
        for expected in [400, 404, 413, 422] {
            let e = c.call(&request()).await.unwrap_err();
            assert!(
                matches!(&e, LlmError::BadRequest { status, message } if *status == expected && message.contains("nope")),
                "{e:?}"
            );
            assert!(!e.is_transient());
        }
    }

    #[tokio::test]
    async fn text_only_answer_is_malformed() {
        let mock = MockLlm::start().await.unwrap();
        let mut body = anthropic_tool_use("m", "record_observation", json!({}), Usage::default());
        body["content"] = json!([{"type": "text", "text": "I cannot do that."}]);
        body["stop_reason"] = json!("end_turn");
        mock.push_reply(reply(200, body));
        let e = client(&mock).call(&request()).await.unwrap_err();
        match &e {
            LlmError::MalformedOutput(m) => {
                assert!(m.contains("no tool_use"), "{m}");
                assert!(m.contains("I cannot do that."), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!e.is_transient());
    }

    #[tokio::test]
    async fn wrong_tool_or_non_object_input_is_malformed() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(reply(
            200,
            anthropic_tool_use("m", "other_tool", json!({}), Usage::default()),
        ));
        mock.push_reply(reply(
            200,
            anthropic_tool_use(
                "m",
                "record_observation",
                json!("a string"),
                Usage::default(),
            ),
        ));
        let c = client(&mock);
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::MalformedOutput(m) if m.contains("other_tool")),
            "{e:?}"
        );
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::MalformedOutput(m) if m.contains("not a JSON object")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn max_tokens_truncation_is_malformed() {
        let mock = MockLlm::start().await.unwrap();
        let mut body = anthropic_tool_use(
            "m",
            "record_observation",
            json!({"title": "par"}),
            Usage::default(),
        );
        body["stop_reason"] = json!("max_tokens");
        mock.push_reply(reply(200, body.clone()));
        body["content"] = json!([]);
        mock.push_reply(reply(200, body));
        let c = client(&mock);
        for _ in 0..2 {
            let e = c.call(&request()).await.unwrap_err();
            assert!(
                matches!(&e, LlmError::MalformedOutput(m) if m.contains("max_tokens") && m.contains("1024")),
                "{e:?}"
            );
        }
    }

    /// A 2xx with a body that is not JSON is MalformedOutput (see `parse_reply`), not Server.
    #[tokio::test]
    async fn invalid_json_body_is_malformed() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(MockReply::raw(
            200,
            r#"{"id":"msg_1","content":[{"type":"tool_"#,
        ));
        mock.push_reply(reply(200, json!({"unexpected": true})));
        let c = client(&mock);
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::MalformedOutput(m) if m.contains("not valid JSON")),
            "{e:?}"
        );
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::MalformedOutput(m) if m.contains("content")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn slow_server_times_out() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(MockReply::ok(json!({})).delayed(Duration::from_secs(5)));
        let c = client_with_timeout(&mock, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let e = c.call(&request()).await.unwrap_err();
        assert_eq!(e, LlmError::Timeout);
        assert!(e.is_transient());
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn connection_refused_is_network() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = AnthropicClient::new(
            &format!("http://127.0.0.1:{port}"),
            KEY,
            "m",
            Duration::from_secs(5),
        )
        .unwrap();
        let e = c.call(&request()).await.unwrap_err();
        match &e {
            LlmError::Network(m) => {
                assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}");
                assert!(!m.contains(KEY));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_transient());
    }

    #[test]
    fn config_errors() {
        let t = Duration::from_secs(1);
        let cfg = |r: Result<AnthropicClient, LlmError>| matches!(r, Err(LlmError::Config(_)));
        assert!(cfg(AnthropicClient::new(
            "https://api.anthropic.com",
            "  ",
            "m",
            t
        )));
        assert!(cfg(AnthropicClient::new(
            "https://api.anthropic.com",
            KEY,
            "",
            t
        )));
        assert!(cfg(AnthropicClient::new("api.anthropic.com", KEY, "m", t)));
        assert!(cfg(AnthropicClient::new(
            "https://api.anthropic.com",
            KEY,
            "m",
            Duration::ZERO
        )));
        let bad_key = AnthropicClient::new("https://api.anthropic.com", "sk-ant\u{7}x", "m", t);
        assert!(cfg(bad_key));
        let ok = AnthropicClient::new(
            "https://api.anthropic.com",
            " sk-ant-k\n",
            "claude-sonnet-4-5",
            t,
        )
        .unwrap();
        assert_eq!(ok.provider(), "anthropic");
        assert_eq!(ok.model(), "claude-sonnet-4-5");
    }

    #[tokio::test]
    async fn usable_as_trait_object() {
        let mock = MockLlm::start().await.unwrap();
        let llm: std::sync::Arc<dyn StructuredLlm> = std::sync::Arc::new(client(&mock));
        assert_eq!(llm.provider(), "anthropic");
        assert!(llm.call(&request()).await.is_ok());
    }
}
