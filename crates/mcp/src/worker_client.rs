//! The worker's HTTP API, as the MCP tools need it.
//!
//! The worker owns the store and the indexes; the MCP server is one more client of `/api/…`, like the
//! `claude-mem search` command, so it never opens SQLite or Tantivy itself (two processes writing the
//! same index would corrupt it).

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Why a call to the worker gave no usable answer. The messages are read by the model, so they say what
/// to do next.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("claude-mem worker is not running on {address}; start it with `claude-mem serve`")]
    Unreachable { address: String },
    #[error("the claude-mem worker did not answer within {seconds} s")]
    Timeout { seconds: u64 },
    #[error("the claude-mem worker refused the request ({status} {code}): {reason}")]
    Api {
        status: u16,
        code: String,
        reason: String,
    },
    #[error("the claude-mem worker at {address} does not offer {endpoint} (HTTP 404); update and restart it")]
    MissingEndpoint { address: String, endpoint: String },
    #[error("the claude-mem worker answered something unexpected: {0}")]
    BadAnswer(String),
}

/// Query of `GET /api/search`; `None` fields are left out of the URL.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchQuery {
    pub q: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Which memories: `observation`, `summary`, `prompt` or `all` (the worker's `kind`).
    #[serde(rename = "kind", skip_serializing_if = "Option::is_none")]
    pub memories: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
}

/// Query of `GET /api/timeline`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimelineQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub before: u32,
    pub after: u32,
}

/// Body of `POST /api/memories`.
#[derive(Debug, Clone, Serialize)]
pub struct NewMemory {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub project: String,
}

/// A small async client; one per MCP server process (reqwest pools the loopback connection).
#[derive(Debug, Clone)]
pub struct WorkerClient {
    base: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl WorkerClient {
    /// `base` is the worker's URL, e.g. `http://127.0.0.1:37777` (from `Settings::worker_url`).
    pub fn new(base: impl Into<String>) -> Result<Self, WorkerError> {
        let timeout = Duration::from_secs(30);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(timeout)
            // The worker is on loopback: a system proxy must never see (or break) these requests.
            .no_proxy()
            .build()
            .map_err(|e| WorkerError::BadAnswer(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base: base.into().trim_end_matches('/').to_owned(),
            http,
            timeout,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every call (the worker's API token, see
    /// `claude_mem_server::auth`; the worker refuses memory routes without it).
    pub fn with_token(mut self, token: Option<&str>) -> Result<Self, WorkerError> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(self);
        };
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| {
                WorkerError::BadAnswer("the API token is not a valid header value".into())
            })?;
        value.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        self.http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(self.timeout)
            .no_proxy()
            .default_headers(headers)
            .build()
            .map_err(|e| WorkerError::BadAnswer(format!("cannot build the HTTP client: {e}")))?;
        Ok(self)
    }

    /// `127.0.0.1:37777`: what error messages show.
    pub fn address(&self) -> &str {
        self.base
            .strip_prefix("http://")
            .or_else(|| self.base.strip_prefix("https://"))
            .unwrap_or(&self.base)
    }

    pub async fn search(&self, query: &SearchQuery) -> Result<Value, WorkerError> {
        let request = self.http.get(self.url("/api/search")).query(query);
        self.send(request, "/api/search").await
    }

    pub async fn timeline(&self, query: &TimelineQuery) -> Result<Value, WorkerError> {
        let request = self.http.get(self.url("/api/timeline")).query(query);
        self.send(request, "/api/timeline").await
    }

    /// One observation, or `None` when the worker has no such id (not an error: the caller lists it).
    pub async fn observation(&self, id: i64) -> Result<Option<Value>, WorkerError> {
        let path = format!("/api/observations/{id}");
        let request = self.http.get(self.url(&path));
        match self.send(request, &path).await {
            Ok(mut body) => Ok(Some(body["observation"].take())),
            Err(WorkerError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn save_memory(&self, memory: &NewMemory) -> Result<Value, WorkerError> {
        let request = self.http.post(self.url("/api/memories")).json(memory);
        self.send(request, "/api/memories").await
    }

    /// `POST /api/forget`: `targets` as the worker reads them (`{"kind": "observation", "id": 12}`).
    pub async fn forget(&self, targets: &[Value], reason: &str) -> Result<Value, WorkerError> {
        let request = self
            .http
            .post(self.url("/api/forget"))
            .json(&serde_json::json!({ "targets": targets, "reason": reason }));
        self.send(request, "/api/forget").await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
    ) -> Result<Value, WorkerError> {
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return body.ok_or_else(|| {
                WorkerError::BadAnswer(format!("{endpoint} answered {status} with non-JSON"))
            });
        }
        let field = |k: &str| {
            body.as_ref()
                .and_then(|b| b.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let code = field("error");
        let reason = field("reason");
        // The worker's fallback route answers 404 "no such endpoint": the worker predates this tool, which
        // the model should hear instead of "not found" for an id that may well exist.
        if status == StatusCode::NOT_FOUND
            && (code.is_none() || reason.as_deref() == Some("no such endpoint"))
        {
            return Err(WorkerError::MissingEndpoint {
                address: self.address().to_owned(),
                endpoint: endpoint.to_owned(),
            });
        }
        Err(WorkerError::Api {
            status: status.as_u16(),
            code: code.unwrap_or_else(|| "error".into()),
            reason: reason.unwrap_or_else(|| text.chars().take(200).collect()),
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> WorkerError {
        if e.is_timeout() {
            WorkerError::Timeout {
                seconds: self.timeout.as_secs(),
            }
        } else if e.is_connect() {
            WorkerError::Unreachable {
                address: self.address().to_owned(),
            }
        } else {
            WorkerError::BadAnswer(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_drops_the_scheme() {
        let c = WorkerClient::new("http://127.0.0.1:37777/").unwrap();
        assert_eq!(c.address(), "127.0.0.1:37777");
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_as_a_stopped_worker() {
        // Bind then drop: the port is (almost certainly) closed right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = WorkerClient::new(format!("http://127.0.0.1:{port}")).unwrap();
        let err = c.observation(1).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not running on 127.0.0.1:"), "{text}");
        assert!(text.contains("claude-mem serve"), "{text}");
    }
}
