//! OpenAI-compatible chat-completions client (`POST {base}/chat/completions`), for OpenAI itself
//! and the local or routed servers that copy its API (Ollama, vLLM, LM Studio, OpenRouter).

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};

use crate::transport::{endpoint_url, json_f32, snippet, HttpReply, Transport};
use crate::{LlmError, StructuredLlm, StructuredRequest, StructuredResponse, Usage};

const TEXT_SNIPPET_CHARS: usize = 200;

/// Forces a function call, and falls back to a JSON object in the message text because many
/// compatible servers (or the models behind them) ignore `tools` and answer in prose or fences.
pub struct OpenAiClient {
    transport: Transport,
    model: String,
}

impl OpenAiClient {
    /// `base_url` includes the API version segment, as these servers document it
    /// (`http://localhost:11434/v1`, `https://openrouter.ai/api/v1`). A missing or empty key
    /// sends no `Authorization` header at all, since local servers need none and some reject
    /// a bogus one.
    pub fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: &str,
        timeout: Duration,
    ) -> Result<Self, LlmError> {
        let model = model.trim();
        if model.is_empty() {
            return Err(LlmError::Config("model is empty".to_string()));
        }
        let endpoint = endpoint_url(base_url, "/chat/completions")?;
        let api_key = api_key.map(str::trim).filter(|k| !k.is_empty());
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                LlmError::Config(
                    "API key contains characters that cannot be sent in an HTTP header".to_string(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(OpenAiClient {
            transport: Transport::new(endpoint, timeout, headers, api_key)?,
            model: model.to_string(),
        })
    }

    fn request_body(&self, req: &StructuredRequest) -> Value {
        json!({
            "model": self.model,
            "temperature": json_f32(req.temperature),
            "max_tokens": req.max_tokens,
            "messages": [
                {"role": "system", "content": req.system},
                {"role": "user", "content": req.user},
            ],
            "tools": [{
                "type": "function",
                "function": {
                    "name": req.tool.name,
                    "description": req.tool.description,
                    "parameters": req.tool.input_schema,
                },
            }],
            "tool_choice": {"type": "function", "function": {"name": req.tool.name}},
        })
    }

    fn parse_reply(
        &self,
        req: &StructuredRequest,
        reply: &HttpReply,
    ) -> Result<StructuredResponse, LlmError> {
        let malformed = |msg: String| LlmError::MalformedOutput(self.transport.redact(&msg));
        // Same policy as the Anthropic client: a 2xx with a non-JSON body is malformed output.
        let body: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            malformed(format!(
                "response body is not valid JSON ({e}): {}",
                snippet(&String::from_utf8_lossy(&reply.body), TEXT_SNIPPET_CHARS)
            ))
        })?;
        let choice = body
            .pointer("/choices/0")
            .ok_or_else(|| malformed("response has no choices".to_string()))?;
        let finish_reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        // "length" means generation was cut off; a lenient parse of a truncated answer could
        // pick out an inner object and pass it off as the whole result.
        if finish_reason.as_deref() == Some("length") {
            return Err(malformed(format!(
                "output hit max_tokens ({}) before the `{}` tool input was complete",
                req.max_tokens, req.tool.name
            )));
        }
        let message = choice.get("message").unwrap_or(&Value::Null);
        let value = extract_tool_input(message, &req.tool.name).map_err(malformed)?;

        Ok(StructuredResponse {
            reported_cost_usd: None,
            value,
            usage: parse_usage(body.get("usage")),
            model: body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(&self.model)
                .to_string(),
            // Many compatible servers send no request-id header; their completion id (OpenRouter's
            // generation id, for one) is what their dashboards and support know the call by.
            request_id: reply
                .header("x-request-id")
                .or_else(|| body.get("id").and_then(Value::as_str).map(str::to_string)),
            stop_reason: finish_reason,
        })
    }
}

/// The tool input from a chat-completions message: the named tool call if there is one (also
/// the legacy `function_call` form), else a JSON object found in the text content.
fn extract_tool_input(message: &Value, tool: &str) -> Result<Value, String> {
    let name_of = |call: &Value| {
        call.pointer("/function/name")
            .or_else(|| call.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut calls: Vec<&Value> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if let Some(legacy) = message.get("function_call").filter(|v| v.is_object()) {
        calls.push(legacy);
    }
    if !calls.is_empty() {
        let Some(call) = calls.iter().find(|c| name_of(c) == tool) else {
            return Err(format!(
                "model called tool `{}` instead of `{tool}`",
                name_of(calls[0])
            ));
        };
        let arguments = call
            .pointer("/function/arguments")
            .or_else(|| call.get("arguments"));
        return match arguments {
            // The spec says a JSON string; some servers (Ollama's native shape leaking through)
            // send the object itself.
            Some(Value::Object(_)) => Ok(arguments.cloned().unwrap_or_default()),
            Some(Value::String(s)) => extract_json_object(s).ok_or_else(|| {
                format!(
                    "`{tool}` arguments are not a JSON object: {:?}",
                    snippet(s, TEXT_SNIPPET_CHARS)
                )
            }),
            _ => Err(format!("`{tool}` tool call has no arguments")),
        };
    }

    let text = content_text(message.get("content"));
    if let Some(value) = extract_json_object(&text) {
        return Ok(value);
    }
    let refusal = message
        .get("refusal")
        .and_then(Value::as_str)
        .map(|r| format!("; refusal: {:?}", snippet(r, TEXT_SNIPPET_CHARS)))
        .unwrap_or_default();
    Err(format!(
        "no `{tool}` tool call and no JSON object in the content: {:?}{refusal}",
        snippet(&text, TEXT_SNIPPET_CHARS)
    ))
}

/// `content` is a string, or (newer servers) an array of typed parts of which only text counts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Finds the JSON object a model meant as its answer in free text: the whole text, else the
/// first fenced block that parses, else the value starting at the first `{` (trailing prose
/// allowed). Reasoning models' `<think>` sections are dropped first since they often contain
/// braces of their own. Deliberately not a scan for *any* parseable object: a broken outer
/// object must not be replaced by one of its inner objects.
fn extract_json_object(text: &str) -> Option<Value> {
    let text = strip_reasoning(text).trim();
    let as_object = |s: &str| {
        serde_json::from_str::<Value>(s.trim())
            .ok()
            .filter(Value::is_object)
    };
    if let Some(v) = as_object(text) {
        return Some(v);
    }
    if let Some(v) = fenced_blocks(text).into_iter().find_map(as_object) {
        return Some(v);
    }
    let start = text.find('{')?;
    let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
    match values.next() {
        Some(Ok(v)) if v.is_object() => Some(v),
        _ => None,
    }
}

fn strip_reasoning(text: &str) -> &str {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    // Some chat templates emit the opening tag themselves, so only the close tag is reliable.
    let after = match text.rfind(CLOSE) {
        Some(i) => &text[i + CLOSE.len()..],
        None => text,
    };
    // An unclosed <think> means the answer never started.
    match after.find(OPEN) {
        Some(i) => &after[..i],
        None => after,
    }
}

/// Bodies of ``` fenced blocks (any info string such as `json`).
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(newline) = after.find('\n') else {
            break;
        };
        let body = &after[newline + 1..];
        let Some(close) = body.find("```") else {
            break;
        };
        blocks.push(&body[..close]);
        rest = &body[close + 3..];
    }
    blocks
}

/// OpenAI's `prompt_tokens` includes cached tokens; they are subtracted so `input_tokens` means
/// uncached input for every provider (see [`Usage`]). These APIs report no cache writes.
fn parse_usage(usage: Option<&Value>) -> Usage {
    let field = |path: &str| {
        usage
            .and_then(|u| u.pointer(path))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let prompt = field("/prompt_tokens");
    let cached = field("/prompt_tokens_details/cached_tokens");
    Usage {
        input_tokens: prompt.saturating_sub(cached),
        output_tokens: field("/completion_tokens"),
        cache_write_tokens: 0,
        cache_read_tokens: cached,
    }
}

impl fmt::Debug for OpenAiClient {
    // Hand-written so the key can never reach logs through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("endpoint", &self.transport.endpoint_display())
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl StructuredLlm for OpenAiClient {
    fn provider(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn call(&self, req: &StructuredRequest) -> Result<StructuredResponse, LlmError> {
        let reply = self.transport.post_json(&self.request_body(req)).await?;
        if !reply.is_success() {
            let err = self.transport.status_error(&reply);
            tracing::debug!(model = %self.model, status = reply.status, error = %err, "openai call failed");
            return Err(err);
        }
        let resp = self.parse_reply(req, &reply)?;
        tracing::debug!(
            model = %resp.model,
            request_id = resp.request_id.as_deref().unwrap_or(""),
            input_tokens = resp.usage.input_tokens,
            output_tokens = resp.usage.output_tokens,
            cache_read_tokens = resp.usage.cache_read_tokens,
            "openai call ok"
        );
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{openai_error, openai_tool_call, MockLlm, MockReply};
    use crate::ToolSpec;

    const KEY: &str = "sk-or-test-abcdef987654";

    fn request() -> StructuredRequest {
        StructuredRequest {
            system: "Extract observations.".to_string(),
            user: "Edited src/main.rs".to_string(),
            tool: ToolSpec {
                name: "record_observation".to_string(),
                description: "Record one observation".to_string(),
                input_schema: json!({"type": "object", "properties": {"title": {"type": "string"}}}),
            },
            max_tokens: 512,
            temperature: 0.0,
        }
    }

    fn client(mock: &MockLlm, key: Option<&str>) -> OpenAiClient {
        OpenAiClient::new(
            &mock.openai_base_url(),
            key,
            "gpt-4o-mini",
            Duration::from_secs(10),
        )
        .unwrap()
    }

    /// A success whose assistant message is `message`.
    fn chat_reply(message: Value, finish_reason: &str) -> MockReply {
        MockReply::ok(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "qwen2.5:7b",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        }))
    }

    fn content_reply(content: &str) -> MockReply {
        chat_reply(json!({"role": "assistant", "content": content}), "stop")
    }

    #[tokio::test]
    async fn sends_exact_request_with_bearer() {
        let mock = MockLlm::start().await.unwrap();
        client(&mock, Some(KEY)).call(&request()).await.unwrap();
        let r = &mock.requests()[0];
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(r.headers["authorization"], format!("Bearer {KEY}"));
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(
            r.body,
            json!({
                "model": "gpt-4o-mini",
                "temperature": 0.0,
                "max_tokens": 512,
                "messages": [
                    {"role": "system", "content": "Extract observations."},
                    {"role": "user", "content": "Edited src/main.rs"},
                ],
                "tools": [{
                    "type": "function",
                    "function": {
                        "name": "record_observation",
                        "description": "Record one observation",
                        "parameters": {"type": "object", "properties": {"title": {"type": "string"}}},
                    },
                }],
                "tool_choice": {"type": "function", "function": {"name": "record_observation"}},
            })
        );
        assert_eq!(r.system_prompt(), Some("Extract observations."));
        assert_eq!(r.user_prompt(), Some("Edited src/main.rs"));
    }

    #[tokio::test]
    async fn no_authorization_without_key() {
        let mock = MockLlm::start().await.unwrap();
        client(&mock, None).call(&request()).await.unwrap();
        client(&mock, Some("  ")).call(&request()).await.unwrap();
        // Servers mounted without /v1 are reached at /chat/completions.
        OpenAiClient::new(&mock.base_url(), None, "llama3", Duration::from_secs(10))
            .unwrap()
            .call(&request())
            .await
            .unwrap();
        let reqs = mock.requests();
        assert_eq!(reqs.len(), 3);
        assert!(reqs
            .iter()
            .all(|r| !r.headers.contains_key("authorization")));
        assert_eq!(reqs[2].path, "/chat/completions");
    }

    #[tokio::test]
    async fn parses_arguments_string_and_cached_tokens() {
        let mock = MockLlm::start().await.unwrap();
        let usage = Usage {
            input_tokens: 300,
            output_tokens: 40,
            cache_write_tokens: 0,
            cache_read_tokens: 1024,
        };
        let body = openai_tool_call(
            "gpt-4o-mini-2024-07-18",
            "record_observation",
            &json!({"title": "x"}),
            usage,
        );
        assert!(body
            .pointer("/choices/0/message/tool_calls/0/function/arguments")
            .unwrap()
            .is_string());
        assert_eq!(body["usage"]["prompt_tokens"], json!(1324));
        mock.push_reply(MockReply::Json {
            status: 200,
            headers: vec![("x-request-id".to_string(), "req_oa_1".to_string())],
            body,
        });
        let resp = client(&mock, Some(KEY)).call(&request()).await.unwrap();
        assert_eq!(resp.value, json!({"title": "x"}));
        assert_eq!(resp.usage, usage);
        assert_eq!(resp.model, "gpt-4o-mini-2024-07-18");
        assert_eq!(resp.request_id.as_deref(), Some("req_oa_1"));
        assert_eq!(resp.stop_reason.as_deref(), Some("tool_calls"));
    }

    #[tokio::test]
    async fn usage_from_raw_fields() {
        let mock = MockLlm::start().await.unwrap();
        let mut body = openai_tool_call("m", "record_observation", &json!({}), Usage::default());
        body["usage"] = json!({
            "prompt_tokens": 2000, "completion_tokens": 30, "total_tokens": 2030,
            "prompt_tokens_details": {"cached_tokens": 1536},
        });
        mock.push_reply(MockReply::ok(body.clone()));
        body["usage"] =
            json!({"prompt_tokens": 70, "completion_tokens": 7, "prompt_tokens_details": null});
        mock.push_reply(MockReply::ok(body.clone()));
        body.as_object_mut().unwrap().remove("usage");
        mock.push_reply(MockReply::ok(body));
        let c = client(&mock, None);
        let u = |i, o, r| Usage {
            input_tokens: i,
            output_tokens: o,
            cache_write_tokens: 0,
            cache_read_tokens: r,
        };
        assert_eq!(c.call(&request()).await.unwrap().usage, u(464, 30, 1536));
        assert_eq!(c.call(&request()).await.unwrap().usage, u(70, 7, 0));
        assert_eq!(c.call(&request()).await.unwrap().usage, u(0, 0, 0));
    }

    #[tokio::test]
    async fn content_fallbacks() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(content_reply(
            "Here you go:\n```json\n{\"title\": \"fenced\"}\n```\nAnything else?",
        ));
        mock.push_reply(content_reply("{\"title\": \"plain\"}"));
        mock.push_reply(content_reply(
            "<think>maybe {\"title\": \"wrong\"}</think>\n{\"title\": \"after think\"} done",
        ));
        mock.push_reply(chat_reply(
            json!({"role": "assistant", "content": [{"type": "text", "text": "{\"title\": \"parts\"}"}]}),
            "stop",
        ));
        let c = client(&mock, None);
        for (n, expected) in ["fenced", "plain", "after think", "parts"]
            .iter()
            .enumerate()
        {
            let resp = c.call(&request()).await.unwrap();
            assert_eq!(resp.value, json!({"title": expected}));
            assert_eq!(resp.request_id, Some(format!("req_mock_{:04}", n + 1)));
            assert_eq!(resp.model, "qwen2.5:7b");
        }
    }

    #[tokio::test]
    async fn request_id_falls_back_to_completion_id() {
        let mock = MockLlm::start().await.unwrap();
        let MockReply::Json { status, body, .. } = content_reply("{}") else {
            unreachable!()
        };
        // A blank header stands in for a server that sends none.
        mock.push_reply(MockReply::Json {
            status,
            headers: vec![("x-request-id".to_string(), String::new())],
            body,
        });
        let resp = client(&mock, None).call(&request()).await.unwrap();
        assert_eq!(resp.request_id.as_deref(), Some("chatcmpl-1"));
    }

    #[tokio::test]
    async fn unusable_answers_are_malformed() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(content_reply("I'd rather not."));
        mock.push_reply(content_reply("[1, 2, 3]"));
        mock.push_reply(chat_reply(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "record_observation", "arguments": "{\"title\": "}}
            ]}),
            "tool_calls",
        ));
        mock.push_reply(MockReply::ok(openai_tool_call(
            "m",
            "other",
            &json!({}),
            Usage::default(),
        )));
        mock.push_reply(MockReply::ok(json!({"choices": []})));
        mock.push_reply(MockReply::raw(200, "not json"));
        let c = client(&mock, None);
        for needle in [
            "I'd rather not.",
            "no JSON object",
            "not a JSON object",
            "`other`",
            "no choices",
            "not valid JSON",
        ] {
            let e = c.call(&request()).await.unwrap_err();
            assert!(
                matches!(&e, LlmError::MalformedOutput(m) if m.contains(needle)),
                "{needle}: {e:?}"
            );
        }
    }

    #[tokio::test]
    async fn length_finish_is_malformed_even_if_parseable() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(content_reply("{\"outer\": {\"inner\": 1}, \"cut"));
        mock.push_reply(chat_reply(
            json!({"role": "assistant", "content": "{\"outer\": {\"inner\": 1}, \"cut"}),
            "length",
        ));
        let c = client(&mock, None);
        // Without the finish reason the broken outer object must not be replaced by its inner one.
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::MalformedOutput(m) if m.contains("no JSON object")),
            "{e:?}"
        );
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::MalformedOutput(m) if m.contains("max_tokens") && m.contains("512")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn object_arguments_and_legacy_function_call() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(chat_reply(
            json!({"role": "assistant", "tool_calls": [
                {"function": {"name": "record_observation", "arguments": {"title": "obj"}}}
            ]}),
            "tool_calls",
        ));
        mock.push_reply(chat_reply(
            json!({"role": "assistant", "function_call": {"name": "record_observation", "arguments": "{\"title\":\"legacy\"}"}}),
            "function_call",
        ));
        let c = client(&mock, None);
        assert_eq!(
            c.call(&request()).await.unwrap().value,
            json!({"title": "obj"})
        );
        assert_eq!(
            c.call(&request()).await.unwrap().value,
            json!({"title": "legacy"})
        );
    }

    #[tokio::test]
    async fn status_classification_and_key_hiding() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(MockReply::Json {
            status: 429,
            headers: vec![("retry-after".to_string(), "3".to_string())],
            body: openai_error("rate_limit_exceeded", "Rate limit reached"),
        });
        mock.push_reply(MockReply::json(
            429,
            openai_error("insufficient_quota", "You exceeded your current quota"),
        ));
        mock.push_reply(MockReply::json(503, json!({"error": "model is loading"})));
        mock.push_reply(MockReply::json(
            401,
            openai_error(
                "invalid_api_key",
                &format!("Incorrect API key provided: {KEY}"),
            ),
        ));
        mock.push_reply(MockReply::json(
            404,
            json!({"error": "model 'llama9' not found"}),
        ));
        let c = client(&mock, Some(KEY));

        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::RateLimited { message, .. } if message.contains("Rate limit reached")),
            "{e:?}"
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let e = c.call(&request()).await.unwrap_err();
        assert!(matches!(e, LlmError::Auth(_)), "{e:?}");
        assert!(!e.is_transient());
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::Server { status: 503, message } if message.contains("loading")),
            "{e:?}"
        );
        assert!(e.is_transient());
        let e = c.call(&request()).await.unwrap_err();
        assert!(matches!(e, LlmError::Auth(_)), "{e:?}");
        assert!(!format!("{e} {e:?}").contains(KEY));
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::BadRequest { status: 404, message } if message.contains("llama9")),
            "{e:?}"
        );
        assert!(!format!("{c:?}").contains(KEY));
    }

    #[tokio::test]
    async fn timeout_and_refused() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(MockReply::ok(json!({})).delayed(Duration::from_secs(5)));
        let c = OpenAiClient::new(
            &mock.openai_base_url(),
            None,
            "m",
            Duration::from_millis(200),
        )
        .unwrap();
        assert_eq!(c.call(&request()).await.unwrap_err(), LlmError::Timeout);

        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = OpenAiClient::new(
            &format!("http://127.0.0.1:{port}/v1"),
            Some(KEY),
            "m",
            Duration::from_secs(5),
        )
        .unwrap();
        let e = c.call(&request()).await.unwrap_err();
        assert!(
            matches!(&e, LlmError::Network(m) if !m.contains(KEY)),
            "{e:?}"
        );
        assert!(e.is_transient());
    }

    #[test]
    fn config_errors() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            OpenAiClient::new("localhost:11434", None, "m", t),
            Err(LlmError::Config(_))
        ));
        assert!(matches!(
            OpenAiClient::new("http://localhost:11434/v1", None, " ", t),
            Err(LlmError::Config(_))
        ));
        let c = OpenAiClient::new("http://localhost:11434/v1", None, "llama3.2", t).unwrap();
        assert_eq!((c.provider(), c.model()), ("openai", "llama3.2"));
    }

    #[test]
    fn json_extraction() {
        let obj = |s: &str| extract_json_object(s);
        assert_eq!(obj(" {\"a\":1} "), Some(json!({"a": 1})));
        assert_eq!(obj("```\n{\"a\":1}\n```"), Some(json!({"a": 1})));
        assert_eq!(
            obj("```json\n[1]\n```\n```json\n{\"a\":2}\n```"),
            Some(json!({"a": 2}))
        );
        assert_eq!(obj("```json {\"a\":3}```"), Some(json!({"a": 3})));
        assert_eq!(
            obj("Sure! {\"a\": {\"b\": 4}} Hope this helps {x}"),
            Some(json!({"a": {"b": 4}}))
        );
        assert_eq!(obj("reasoning...</think>{\"a\":5}"), Some(json!({"a": 5})));
        assert_eq!(obj("<think>{\"a\":6} still thinking"), None);
        assert_eq!(obj("{\"a\": {\"b\": 1},}"), None);
        assert_eq!(obj(""), None);
        assert_eq!(obj("no braces"), None);
    }
}
