//! HTTP plumbing shared by the provider clients: one POST with a deadline, and the mapping of
//! transport failures and HTTP statuses onto [`LlmError`], so both providers classify alike.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;
use serde_json::Value;

use crate::LlmError;

/// How much of a non-JSON error body (typically a proxy's HTML page) is worth keeping in an
/// error message.
const BODY_SNIPPET_CHARS: usize = 300;

/// What replaces the API key wherever it would otherwise leak into a message.
const REDACTED: &str = "[redacted]";

/// A pre-configured HTTP client bound to one endpoint.
pub(crate) struct Transport {
    client: reqwest::Client,
    endpoint: Url,
    /// The endpoint without credentials or query, safe to show in messages.
    display: String,
    /// Scrubbed from every message we build, in case a server or proxy echoes it back.
    secret: Option<String>,
}

/// A complete HTTP answer, body already read (the deadline covers the body too).
pub(crate) struct HttpReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn is_success(&self) -> bool {
        (200..=299).contains(&self.status)
    }

    /// An empty header counts as absent: proxies sometimes blank the ones they strip.
    pub fn header(&self, name: &str) -> Option<String> {
        header_str(&self.headers, name).filter(|v| !v.trim().is_empty())
    }
}

impl Transport {
    /// `headers` go on every request (auth, API version); mark secret values sensitive before
    /// passing them so they never show up in `Debug` output.
    pub fn new(
        endpoint: Url,
        timeout: Duration,
        headers: HeaderMap,
        secret: Option<&str>,
    ) -> Result<Self, LlmError> {
        if timeout.is_zero() {
            return Err(LlmError::Config(
                "timeout must be greater than zero".to_string(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .default_headers(headers)
            .user_agent(concat!("claude-mem/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build HTTP client: {}", chain(&e))))?;
        Ok(Transport {
            client,
            display: display_url(&endpoint),
            endpoint,
            secret: secret.filter(|s| !s.is_empty()).map(str::to_string),
        })
    }

    pub fn endpoint_display(&self) -> &str {
        &self.display
    }

    /// Sends `body` as JSON and reads the whole answer, whatever its status.
    pub async fn post_json(&self, body: &Value) -> Result<HttpReply, LlmError> {
        let resp = self
            .client
            .post(self.endpoint.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?
            .to_vec();
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }

    /// Replaces the API key in `text`. Applied to every message that leaves this crate because
    /// provider errors, proxies and URLs are all outside our control.
    pub fn redact(&self, text: &str) -> String {
        match &self.secret {
            Some(secret) => text.replace(secret.as_str(), REDACTED),
            None => text.to_string(),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            return LlmError::Timeout;
        }
        let what = if e.is_connect() {
            "cannot connect to"
        } else if e.is_body() || e.is_decode() {
            "error reading response from"
        } else if e.is_builder() {
            return LlmError::Config(self.redact(&format!(
                "cannot build request for {}: {}",
                self.display,
                chain(&e.without_url())
            )));
        } else {
            "request failed:"
        };
        // `without_url` because reqwest's message repeats the full URL, and a base URL may carry
        // credentials; `display` is the scrubbed form.
        LlmError::Network(self.redact(&format!(
            "{what} {}: {}",
            self.display,
            chain(&e.without_url())
        )))
    }

    /// Classifies a non-2xx answer. The provider's error body is parsed in either the Anthropic
    /// (`{"type":"error","error":{...}}`) or OpenAI (`{"error":{...}}`, `{"error":"..."}`,
    /// `{"message":...}`) shape, so the message says what the provider said.
    pub fn status_error(&self, reply: &HttpReply) -> LlmError {
        let info = parse_error_body(&reply.body);
        let status = reply.status;
        let request_id = reply
            .header("request-id")
            .or_else(|| reply.header("x-request-id"))
            .or(info.request_id.clone());
        let mut message = match &info.kind {
            Some(kind) => format!("{kind}: {}", info.message),
            None => info.message.clone(),
        };
        if message.is_empty() {
            message = format!("HTTP {status} with an empty body");
        }
        if let Some(id) = request_id {
            message.push_str(&format!(" (request-id: {id})"));
        }
        let message = self.redact(&message);
        let is_kind = |k: &str| info.kind.as_deref() == Some(k) || info.code.as_deref() == Some(k);

        if status == 529 || is_kind("overloaded_error") || is_kind("overloaded") {
            return LlmError::Overloaded {
                retry_after: retry_after(&reply.headers),
                message,
            };
        }
        match status {
            // An exhausted quota comes back as 429 from OpenAI, but waiting does not refill it;
            // treating it as rate limiting would retry forever.
            429 if is_kind("insufficient_quota") => LlmError::Auth(message),
            429 => LlmError::RateLimited {
                retry_after: retry_after(&reply.headers),
                message,
            },
            401..=403 => LlmError::Auth(message),
            408 => LlmError::Timeout,
            400..=499 => LlmError::BadRequest { status, message },
            _ => LlmError::Server { status, message },
        }
    }
}

/// Builds `{base_url}{path}`, tolerating a trailing slash on the base, and rejects what cannot
/// be a provider endpoint up front so misconfiguration surfaces at startup, not on first call.
pub(crate) fn endpoint_url(base_url: &str, path: &str) -> Result<Url, LlmError> {
    let base = base_url.trim().trim_end_matches('/');
    if base.is_empty() {
        return Err(LlmError::Config("base URL is empty".to_string()));
    }
    let parsed =
        Url::parse(base).map_err(|e| LlmError::Config(format!("invalid base URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(LlmError::Config(format!(
            "base URL must use http or https, not `{}`",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none() {
        return Err(LlmError::Config("base URL has no host".to_string()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(LlmError::Config(
            "base URL must not contain a query or fragment".to_string(),
        ));
    }
    Url::parse(&format!("{base}{path}"))
        .map_err(|e| LlmError::Config(format!("invalid endpoint URL: {e}")))
}

fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Both setters only fail for URLs that cannot have credentials, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The wait a 429/529 asks for. `retry-after-ms` (sent by OpenAI) is preferred for its
/// precision; `retry-after` may be integer or decimal seconds. The HTTP-date form is ignored:
/// it depends on clock agreement with the server, and the caller's own backoff is a fine
/// substitute.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let parse = |name: &str| header_str(headers, name).and_then(|v| v.trim().parse::<f64>().ok());
    parse("retry-after-ms")
        .and_then(|ms| seconds(ms / 1000.0))
        .or_else(|| parse("retry-after").and_then(seconds))
}

fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_finite() && secs >= 0.0 {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

/// `f32` goes through its shortest decimal form: converting it to `f64` directly would put
/// `0.20000000298023224` on the wire for a configured `0.2`.
pub(crate) fn json_f32(value: f32) -> Value {
    value
        .to_string()
        .parse::<f64>()
        .map(Value::from)
        .unwrap_or(Value::Null)
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Truncates on a character boundary so large bodies do not flood logs.
pub(crate) fn snippet(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// An error's message followed by its causes; reqwest's own message alone ("error sending
/// request") hides the useful part ("Connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[derive(Debug, Default, PartialEq)]
struct ErrorInfo {
    kind: Option<String>,
    code: Option<String>,
    message: String,
    request_id: Option<String>,
}

fn parse_error_body(body: &[u8]) -> ErrorInfo {
    let text = String::from_utf8_lossy(body);
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return ErrorInfo {
            message: snippet(&text, BODY_SNIPPET_CHARS),
            ..ErrorInfo::default()
        };
    };
    let str_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut info = ErrorInfo {
        request_id: str_of(v.get("request_id")),
        ..ErrorInfo::default()
    };
    match v.get("error") {
        Some(err @ Value::Object(_)) => {
            info.kind = str_of(err.get("type"));
            info.code = err.get("code").and_then(|c| match c {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            info.message = str_of(err.get("message")).unwrap_or_default();
        }
        Some(Value::String(s)) => info.message = s.clone(),
        _ => {
            info.kind = str_of(v.get("type")).filter(|t| t != "error");
            info.message = str_of(v.get("message"))
                .or_else(|| str_of(v.get("detail")))
                .unwrap_or_default();
        }
    }
    if info.message.is_empty() {
        info.message = snippet(&text, BODY_SNIPPET_CHARS);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn transport(secret: Option<&str>) -> Transport {
        Transport::new(
            endpoint_url("http://127.0.0.1:1", "/v1/messages").unwrap(),
            Duration::from_secs(1),
            HeaderMap::new(),
            secret,
        )
        .unwrap()
    }

    fn reply(status: u16, hdrs: &[(&str, &str)], body: &str) -> HttpReply {
        HttpReply {
            status,
            headers: headers(hdrs),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn retry_after_forms() {
        let s = |v: &str| retry_after(&headers(&[("retry-after", v)]));
        assert_eq!(s("7"), Some(Duration::from_secs(7)));
        assert_eq!(s(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(s("0"), Some(Duration::ZERO));
        assert_eq!(s("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(s("-3"), None);
        assert_eq!(s("NaN"), None);
        assert_eq!(s("inf"), None);
        assert_eq!(s("1e300"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7"), ("retry-after-ms", "250")])),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn endpoint_validation() {
        assert_eq!(
            endpoint_url("https://api.anthropic.com/", "/v1/messages")
                .unwrap()
                .as_str(),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            endpoint_url("http://localhost:11434/v1//", "/chat/completions")
                .unwrap()
                .as_str(),
            "http://localhost:11434/v1/chat/completions"
        );
        for bad in [
            "",
            "  ",
            "not a url",
            "ftp://host",
            "http://h/?k=v",
            "file:///tmp",
        ] {
            assert!(
                matches!(endpoint_url(bad, "/x"), Err(LlmError::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn display_hides_credentials() {
        let url = Url::parse("https://user:pw@example.com/v1/messages").unwrap();
        assert_eq!(display_url(&url), "https://example.com/v1/messages");
    }

    #[test]
    fn error_body_shapes() {
        let a = parse_error_body(
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"req_1"}"#,
        );
        assert_eq!(a.kind.as_deref(), Some("rate_limit_error"));
        assert_eq!(a.message, "slow down");
        assert_eq!(a.request_id.as_deref(), Some("req_1"));

        let o = parse_error_body(
            br#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
        );
        assert_eq!(o.code.as_deref(), Some("insufficient_quota"));
        assert_eq!(o.message, "quota");

        assert_eq!(
            parse_error_body(br#"{"error":"model not found"}"#).message,
            "model not found"
        );
        let vllm = parse_error_body(
            br#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#,
        );
        assert_eq!(vllm.kind.as_deref(), Some("BadRequestError"));
        assert_eq!(vllm.message, "bad");
        assert_eq!(
            parse_error_body(br#"{"detail":"Not Found"}"#).message,
            "Not Found"
        );

        let html = "<html>".to_string() + &"x".repeat(1000);
        let h = parse_error_body(html.as_bytes());
        assert!(h.message.starts_with("<html>"));
        assert!(h.message.chars().count() <= BODY_SNIPPET_CHARS + 1);
    }

    #[test]
    fn status_classification() {
        let t = transport(None);
        let c = |status: u16, body: &str| t.status_error(&reply(status, &[], body));
        assert!(matches!(c(429, "{}"), LlmError::RateLimited { .. }));
        assert!(matches!(
            c(
                429,
                r#"{"error":{"type":"insufficient_quota","message":"pay"}}"#
            ),
            LlmError::Auth(_)
        ));
        assert!(matches!(c(529, ""), LlmError::Overloaded { .. }));
        assert!(matches!(
            c(
                503,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#
            ),
            LlmError::Overloaded { .. }
        ));
        for s in [500, 502, 503, 504] {
            let e = c(s, "oops");
            assert!(matches!(e, LlmError::Server { status, .. } if status == s));
            assert!(e.is_transient());
        }
        for s in [401, 402, 403] {
            assert!(matches!(c(s, ""), LlmError::Auth(_)), "{s}");
        }
        for s in [400, 404, 405, 413, 422] {
            assert!(
                matches!(c(s, ""), LlmError::BadRequest { status, .. } if status == s),
                "{s}"
            );
        }
        assert_eq!(c(408, ""), LlmError::Timeout);
        let odd = c(302, "");
        assert!(matches!(odd, LlmError::Server { status: 302, .. }));
        assert!(!odd.is_transient());
    }

    #[test]
    fn status_message_carries_kind_and_request_id_but_not_secret() {
        let t = transport(Some("sk-secret-123"));
        let e = t.status_error(&reply(
            401,
            &[("request-id", "req_42")],
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-secret-123"}}"#,
        ));
        let LlmError::Auth(msg) = &e else {
            panic!("{e:?}")
        };
        assert!(msg.contains("authentication_error"), "{msg}");
        assert!(msg.contains("req_42"), "{msg}");
        assert!(!msg.contains("sk-secret-123"), "{msg}");
        assert!(!e.to_string().contains("sk-secret-123"));
    }

    #[test]
    fn f32_keeps_its_decimal_form() {
        assert_eq!(json_f32(0.2).to_string(), "0.2");
        assert_eq!(json_f32(0.0), serde_json::json!(0.0));
        assert_eq!(json_f32(f32::NAN), Value::Null);
    }

    #[test]
    fn snippet_truncates_on_char_boundary() {
        assert_eq!(snippet("  héllo  ", 10), "héllo");
        assert_eq!(snippet("héllo", 2), "hé…");
    }
}
