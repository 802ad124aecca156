//! A real HTTP server on `127.0.0.1` that speaks the Anthropic Messages and OpenAI
//! chat-completions wire formats, so tests (here and in other crates, including ones that point
//! a separate worker process at it) exercise the actual clients end to end without a network.
//!
//! The server runs as a task on the Tokio runtime that calls [`MockLlm::start`]. That runtime
//! must keep running while requests are expected: a test that blocks its thread (say, a
//! synchronous wait on a child process) on a current-thread runtime starves the server, so use
//! `#[tokio::test(flavor = "multi_thread")]` or async process APIs there. The server stops
//! when the last [`MockLlm`] handle is dropped.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::Usage;

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum MockReply {
    /// A JSON body with `content-type: application/json` plus `headers` (which may override the
    /// mock's own `request-id` / `x-request-id`).
    Json {
        status: u16,
        headers: Vec<(String, String)>,
        body: Value,
    },
    /// The body sent verbatim, still labelled `application/json`: for broken or truncated JSON
    /// and proxy-style HTML error pages.
    Raw { status: u16, body: String },
    /// A `text/event-stream` body, each `(event, data)` pair sent as one server-sent event: the
    /// Messages API's streaming answer (Claude Code asks for nothing else). See [`anthropic_stream`].
    Sse {
        status: u16,
        events: Vec<(String, Value)>,
    },
    /// Waits before answering, to trip client timeouts. If the client gives up first, the reply
    /// is never sent (but the request is still recorded).
    Delayed {
        delay: Duration,
        reply: Box<MockReply>,
    },
}

impl MockReply {
    /// HTTP 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    pub fn json(status: u16, body: Value) -> Self {
        MockReply::Json {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        MockReply::Raw {
            status,
            body: body.into(),
        }
    }

    /// This reply, sent after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        MockReply::Delayed {
            delay,
            reply: Box::new(self),
        }
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub path: String,
    /// Lowercased names; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The parsed JSON body; a body that is not JSON is kept as a string, an empty one as null.
    pub body: Value,
}

impl RecordedRequest {
    /// Whether this came in on the Anthropic route (else it is an OpenAI-style request).
    pub fn is_anthropic(&self) -> bool {
        self.path == "/v1/messages"
    }

    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// Whether the client asked for a streamed answer (`"stream": true`).
    pub fn wants_stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    /// The tool the client forced, from `tool_choice` (else the first declared tool), in
    /// either wire format.
    pub fn tool_name(&self) -> Option<&str> {
        let paths: [&str; 2] = if self.is_anthropic() {
            ["/tool_choice/name", "/tools/0/name"]
        } else {
            ["/tool_choice/function/name", "/tools/0/function/name"]
        };
        paths
            .iter()
            .find_map(|p| self.body.pointer(p).and_then(Value::as_str))
    }

    /// The system prompt in either wire format, so default-reply closures can echo from it.
    pub fn system_prompt(&self) -> Option<&str> {
        if self.is_anthropic() {
            match self.body.get("system") {
                Some(Value::String(s)) => Some(s),
                Some(blocks) => blocks.pointer("/0/text").and_then(Value::as_str),
                None => None,
            }
        } else {
            self.message_content("system")
        }
    }

    /// The (last) user message text in either wire format.
    pub fn user_prompt(&self) -> Option<&str> {
        self.message_content("user")
    }

    fn message_content(&self, role: &str) -> Option<&str> {
        let messages = self.body.get("messages")?.as_array()?;
        let message = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some(role))?;
        match message.get("content")? {
            Value::String(s) => Some(s),
            blocks => blocks.pointer("/0/text").and_then(Value::as_str),
        }
    }
}

type DefaultReply = Arc<dyn Fn(&RecordedRequest) -> MockReply + Send + Sync>;

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<MockReply>>,
    default: Mutex<Option<DefaultReply>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// Aborts the accept loop when the last handle goes away, so ports do not pile up across tests.
struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Handle to a running mock server; clones share the same server, script and request log.
#[derive(Clone)]
pub struct MockLlm {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _server: Arc<ServerTask>,
}

impl MockLlm {
    /// Binds `127.0.0.1:0` and serves on the current Tokio runtime.
    pub async fn start() -> std::io::Result<MockLlm> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/v1/messages", post(handle))
            .route("/v1/chat/completions", post(handle))
            .route("/chat/completions", post(handle))
            .fallback(unknown_route)
            // Prompts with large tool outputs must not be cut off by axum's 2 MB default.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "mock LLM server stopped");
            }
        });
        Ok(MockLlm {
            shared,
            addr,
            _server: Arc::new(ServerTask(task)),
        })
    }

    /// `http://127.0.0.1:PORT`: the Anthropic base URL, and an OpenAI base URL for servers
    /// mounted at the root (`/chat/completions`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`, the usual OpenAI-compatible base URL.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// Queues a reply; queued replies are used first, in order, on any route.
    pub fn push_reply(&self, reply: MockReply) {
        lock(&self.shared.replies).push_back(reply);
    }

    /// Replaces the reply used when the queue is empty (the built-in one is [`tool_reply`] with
    /// an empty input object).
    pub fn set_default(&self, f: impl Fn(&RecordedRequest) -> MockReply + Send + Sync + 'static) {
        *lock(&self.shared.default) = Some(Arc::new(f));
    }

    /// Every request received so far, in arrival order, unknown routes included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }
}

impl fmt::Debug for MockLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockLlm")
            .field("addr", &self.addr)
            .field("queued_replies", &lock(&self.shared.replies).len())
            .field("requests", &lock(&self.shared.requests).len())
            .finish()
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable and the
/// panic is reported there.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn record(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (RecordedRequest, usize) {
    let mut recorded_headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded_headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    let request = RecordedRequest {
        path: uri.path().to_string(),
        headers: recorded_headers,
        body,
    };
    let mut requests = lock(&shared.requests);
    requests.push(request.clone());
    (request, requests.len())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request, number) = record(&shared, &uri, &headers, &body);
    let queued = lock(&shared.replies).pop_front();
    let reply = match queued {
        Some(reply) => reply,
        None => {
            // Cloned out so a slow or re-entrant closure never runs under the lock.
            let default = lock(&shared.default).clone();
            match default {
                Some(f) => f(&request),
                None => tool_reply(
                    &request,
                    json!({}),
                    Usage {
                        input_tokens: 100,
                        output_tokens: 20,
                        ..Usage::default()
                    },
                ),
            }
        }
    };
    render(reply, number).await
}

async fn unknown_route(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request, number) = record(&shared, &uri, &headers, &body);
    let message = format!("mock LLM has no route {}", request.path);
    render(
        MockReply::json(404, anthropic_error("not_found_error", &message)),
        number,
    )
    .await
}

async fn render(mut reply: MockReply, number: usize) -> Response {
    let mut content_type = "application/json";
    let (status, extra_headers, body) = loop {
        match reply {
            MockReply::Delayed { delay, reply: next } => {
                tokio::time::sleep(delay).await;
                reply = *next;
            }
            MockReply::Json {
                status,
                headers,
                body,
            } => break (status, headers, body.to_string()),
            MockReply::Raw { status, body } => break (status, Vec::new(), body),
            MockReply::Sse { status, events } => {
                content_type = "text/event-stream";
                let body = events
                    .iter()
                    .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
                    .collect();
                break (status, Vec::new(), body);
            }
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&format!("req_mock_{number:04}")) {
        headers.insert("request-id", id.clone());
        headers.insert("x-request-id", id);
    }
    for (name, value) in extra_headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => tracing::warn!(%name, "mock LLM skipped an invalid scripted header"),
        }
    }
    (status, headers, body).into_response()
}

/// A successful tool call in the wire format of `request`'s route, with the tool and model it
/// asked for; the building block for [`MockLlm::set_default`] closures.
pub fn tool_reply(request: &RecordedRequest, input: Value, usage: Usage) -> MockReply {
    let model = request.model().unwrap_or("mock-model");
    let tool = request.tool_name().unwrap_or("tool");
    if request.is_anthropic() {
        MockReply::ok(anthropic_tool_use(model, tool, input, usage))
    } else {
        MockReply::ok(openai_tool_call(model, tool, &input, usage))
    }
}

/// A Messages API success body whose only content block is a `tool_use` of `tool_name`.
pub fn anthropic_tool_use(model: &str, tool_name: &str, input: Value, usage: Usage) -> Value {
    json!({
        "id": "msg_mock_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{
            "type": "tool_use",
            "id": "toolu_mock_01",
            "name": tool_name,
            "input": input,
        }],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens,
        },
    })
}

/// A Messages API success body with any `content` blocks (text, `tool_use`, …) and `stop_reason`
/// (`end_turn`, `tool_use`); `id` should differ per answer, since a client may merge answers that
/// share one.
pub fn anthropic_message(
    id: &str,
    model: &str,
    content: Value,
    stop_reason: &str,
    usage: Usage,
) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens,
        },
    })
}

/// `message` (a whole Messages API body, as [`anthropic_message`] makes) as the stream the API sends
/// for it: `message_start` (no content yet), then per block `content_block_start`, one delta
/// (`text_delta`, or `input_json_delta` carrying a tool's whole input) and `content_block_stop`, then
/// `message_delta` with the stop reason and output tokens, and `message_stop`.
pub fn anthropic_stream(message: &Value) -> MockReply {
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    if let Some(usage) = start.get_mut("usage") {
        usage["output_tokens"] = json!(1);
    }
    let mut events = vec![(
        "message_start".to_owned(),
        json!({"type": "message_start", "message": start}),
    )];
    let blocks = message["content"].as_array().cloned().unwrap_or_default();
    for (index, block) in blocks.iter().enumerate() {
        let (empty, delta) = match block["type"].as_str() {
            Some("text") => (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            ),
            Some("tool_use") => (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            ),
            Some("thinking") => (
                json!({"type": "thinking", "thinking": ""}),
                json!({"type": "thinking_delta", "thinking": block["thinking"]}),
            ),
            _ => (block.clone(), Value::Null),
        };
        events.push((
            "content_block_start".to_owned(),
            json!({"type": "content_block_start", "index": index, "content_block": empty}),
        ));
        if !delta.is_null() {
            events.push((
                "content_block_delta".to_owned(),
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        events.push((
            "content_block_stop".to_owned(),
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push((
        "message_delta".to_owned(),
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": null},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        }),
    ));
    events.push(("message_stop".to_owned(), json!({"type": "message_stop"})));
    MockReply::Sse {
        status: 200,
        events,
    }
}

/// A chat-completions success body with one tool call of `tool_name` (arguments as a JSON
/// string, as OpenAI sends them). `prompt_tokens` is `input + cache_read`, because OpenAI counts
/// cached tokens inside it, so the client's parse gives back exactly `usage`.
pub fn openai_tool_call(model: &str, tool_name: &str, input: &Value, usage: Usage) -> Value {
    let prompt_tokens = usage.input_tokens.saturating_add(usage.cache_read_tokens);
    json!({
        "id": "chatcmpl-mock-01",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": "call_mock_01",
                    "type": "function",
                    "function": {"name": tool_name, "arguments": input.to_string()},
                }],
            },
            "finish_reason": "tool_calls",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": prompt_tokens.saturating_add(usage.output_tokens),
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        },
    })
}

/// An Anthropic error body (`kind` like `rate_limit_error`, `overloaded_error`).
pub fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// An OpenAI error body (`kind` like `rate_limit_exceeded`, `insufficient_quota`), used as both
/// `type` and `code` the way OpenAI fills them.
pub fn openai_error(kind: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": kind}})
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, body: Value) -> (u16, HeaderMap, Value) {
        let resp = reqwest::Client::new()
            .post(url)
            .header("X-Custom", "Yes")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    #[tokio::test]
    async fn built_in_defaults_per_route() {
        let mock = MockLlm::start().await.unwrap();
        let (status, headers, body) = post(
            &format!("{}/v1/messages", mock.base_url()),
            json!({"model": "claude-x", "tool_choice": {"type": "tool", "name": "t1"}}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(headers["request-id"], "req_mock_0001");
        assert_eq!(
            body,
            anthropic_tool_use(
                "claude-x",
                "t1",
                json!({}),
                Usage {
                    input_tokens: 100,
                    output_tokens: 20,
                    ..Usage::default()
                }
            )
        );

        for path in ["/v1/chat/completions", "/chat/completions"] {
            let (status, _, body) = post(
                &format!("{}{path}", mock.base_url()),
                json!({"model": "llama", "tools": [{"type": "function", "function": {"name": "t2"}}]}),
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(body["model"], "llama");
            assert_eq!(
                body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
                "t2"
            );
            assert_eq!(
                body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
                "{}"
            );
            assert_eq!(body["usage"]["prompt_tokens"], 100);
            assert_eq!(body["usage"]["completion_tokens"], 20);
        }

        let reqs = mock.requests();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0].headers["x-custom"], "Yes");
        assert!(reqs[0].is_anthropic() && !reqs[1].is_anthropic());
        assert_eq!(reqs[1].tool_name(), Some("t2"));
    }

    #[tokio::test]
    async fn queue_is_fifo_then_custom_default() {
        let mock = MockLlm::start().await.unwrap();
        let url = format!("{}/v1/messages", mock.base_url());
        mock.push_reply(MockReply::Json {
            status: 429,
            headers: vec![("retry-after".into(), "7".into())],
            body: anthropic_error("rate_limit_error", "slow"),
        });
        mock.push_reply(MockReply::raw(502, "<html>bad gateway</html>"));
        let handle = mock.clone();
        handle.set_default(|req| {
            let echoed = req.user_prompt().unwrap_or_default().to_uppercase();
            tool_reply(req, json!({"echo": echoed}), Usage::default())
        });
        let body = json!({"model": "m", "tool_choice": {"type": "tool", "name": "t"},
            "messages": [{"role": "user", "content": "hello"}]});

        let (status, headers, b) = post(&url, body.clone()).await;
        assert_eq!(
            (status, &headers["retry-after"]),
            (429, &HeaderValue::from_static("7"))
        );
        assert_eq!(b["error"]["type"], "rate_limit_error");
        let (status, _, b) = post(&url, body.clone()).await;
        assert_eq!((status, b), (502, json!("<html>bad gateway</html>")));
        let (status, _, b) = post(&url, body).await;
        assert_eq!(status, 200);
        assert_eq!(b["content"][0]["input"], json!({"echo": "HELLO"}));
        assert_eq!(mock.requests().len(), 3);
    }

    /// Reads a `text/event-stream` body back into a message the way a streaming client does.
    fn reassemble(text: &str) -> Value {
        let mut message = Value::Null;
        let mut partial: BTreeMap<usize, String> = BTreeMap::new();
        for frame in text.split("\n\n").filter(|f| !f.is_empty()) {
            let mut lines = frame.lines();
            let event = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data: Value =
                serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap())
                    .unwrap();
            assert_eq!(data["type"], event);
            let index = data["index"].as_u64().unwrap_or(0) as usize;
            match event {
                "message_start" => message = data["message"].clone(),
                "content_block_start" => message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(data["content_block"].clone()),
                "content_block_delta" => match data["delta"]["type"].as_str().unwrap() {
                    "text_delta" => {
                        let block = &mut message["content"][index];
                        block["text"] = json!(format!(
                            "{}{}",
                            block["text"].as_str().unwrap(),
                            data["delta"]["text"].as_str().unwrap()
                        ));
                    }
                    "input_json_delta" => partial
                        .entry(index)
                        .or_default()
                        .push_str(data["delta"]["partial_json"].as_str().unwrap()),
                    other => panic!("unexpected delta {other}"),
                },
                "content_block_stop" => {
                    if let Some(json) = partial.remove(&index) {
                        message["content"][index]["input"] = serde_json::from_str(&json).unwrap();
                    }
                }
                "message_delta" => {
                    message["stop_reason"] = data["delta"]["stop_reason"].clone();
                    message["usage"]["output_tokens"] = data["usage"]["output_tokens"].clone();
                }
                "message_stop" => {}
                other => panic!("unexpected event {other}"),
            }
        }
        message
    }

    #[tokio::test]
    async fn streams_a_message_as_server_sent_events() {
        let mock = MockLlm::start().await.unwrap();
        let message = anthropic_message(
            "msg_stream_1",
            "claude-x",
            json!([
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls -la"}},
            ]),
            "tool_use",
            Usage {
                input_tokens: 12,
                output_tokens: 7,
                ..Usage::default()
            },
        );
        mock.set_default(move |req| {
            assert!(req.wants_stream());
            anthropic_stream(&message)
        });
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/messages?beta=true", mock.base_url()))
            .json(&json!({"model": "claude-x", "stream": true, "messages": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/event-stream");
        let text = resp.text().await.unwrap();
        assert!(text.starts_with("event: message_start\ndata: {"), "{text}");
        let expected = anthropic_message(
            "msg_stream_1",
            "claude-x",
            json!([
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls -la"}},
            ]),
            "tool_use",
            Usage {
                input_tokens: 12,
                output_tokens: 7,
                ..Usage::default()
            },
        );
        assert_eq!(reassemble(&text), expected);
        assert!(mock.requests()[0].is_anthropic());
    }

    #[tokio::test]
    async fn unknown_routes_are_recorded_and_404() {
        let mock = MockLlm::start().await.unwrap();
        mock.push_reply(MockReply::ok(json!({"kept": true})));
        let (status, _, body) = post(&format!("{}/v2/nope", mock.base_url()), json!({})).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["type"], "not_found_error");
        assert_eq!(mock.requests()[0].path, "/v2/nope");
        // The scripted reply was not consumed by the stray request.
        let (_, _, body) = post(&format!("{}/v1/messages", mock.base_url()), json!({})).await;
        assert_eq!(body, json!({"kept": true}));
    }

    #[tokio::test]
    async fn stops_when_last_handle_dropped() {
        let mock = MockLlm::start().await.unwrap();
        let url = format!("{}/v1/messages", mock.base_url());
        drop(mock);
        tokio::task::yield_now().await;
        let result = reqwest::Client::new()
            .post(&url)
            .json(&json!({}))
            .send()
            .await;
        assert!(result.is_err());
    }
}
