//! The async client of the worker's HTTP API (the MCP server's), over an [`Endpoint`]: the laptop's
//! worker on loopback, or a team server with the member's token.

use crate::endpoint::{ApiError, Endpoint, Target};
use crate::wire::{ForgetRequest, NewMemory, SearchQuery, TimelineQuery};
use serde_json::Value;
use std::time::Duration;

/// How long one call may take: searches on a big team server included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One per process (reqwest pools the connection).
#[derive(Debug, Clone)]
pub struct ApiClient {
    endpoint: Endpoint,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(endpoint: Endpoint) -> Result<Self, ApiError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(TIMEOUT);
        if endpoint.target == Target::Local {
            // The worker is on loopback: a system proxy must never see (or break) these requests. A
            // team server is reached the way the machine reaches anything else.
            builder = builder.no_proxy();
        }
        if let Some(auth) = endpoint.authorization() {
            let mut value = reqwest::header::HeaderValue::from_str(&auth).map_err(|_| {
                ApiError::BadAnswer("the API token is not a valid header value".into())
            })?;
            value.set_sensitive(true);
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        let http = builder
            .build()
            .map_err(|e| ApiError::BadAnswer(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { endpoint, http })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub async fn search(&self, query: &SearchQuery) -> Result<Value, ApiError> {
        let request = self.http.get(self.endpoint.url("/api/search")).query(query);
        self.send(request, "/api/search").await
    }

    pub async fn timeline(&self, query: &TimelineQuery) -> Result<Value, ApiError> {
        let request = self
            .http
            .get(self.endpoint.url("/api/timeline"))
            .query(query);
        self.send(request, "/api/timeline").await
    }

    /// One observation, or `None` when the server has no such id (not an error: the caller lists it).
    pub async fn observation(&self, id: i64) -> Result<Option<Value>, ApiError> {
        let path = format!("/api/observations/{id}");
        let request = self.http.get(self.endpoint.url(&path));
        match self.send(request, &path).await {
            Ok(mut body) => Ok(Some(body["observation"].take())),
            Err(ApiError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn save_memory(&self, memory: &NewMemory) -> Result<Value, ApiError> {
        let request = self
            .http
            .post(self.endpoint.url("/api/memories"))
            .json(memory);
        self.send(request, "/api/memories").await
    }

    pub async fn forget(&self, targets: &[Value], reason: &str) -> Result<Value, ApiError> {
        let request = self
            .http
            .post(self.endpoint.url("/api/forget"))
            .json(&ForgetRequest { targets, reason });
        self.send(request, "/api/forget").await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
    ) -> Result<Value, ApiError> {
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|_| {
                ApiError::BadAnswer(format!("{endpoint} answered {status} with non-JSON"))
            });
        }
        Err(self.endpoint.answer_error(status.as_u16(), endpoint, &text))
    }

    fn transport_error(&self, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            ApiError::Timeout {
                seconds: TIMEOUT.as_secs(),
            }
        } else if e.is_connect() {
            self.endpoint.unreachable()
        } else {
            ApiError::BadAnswer(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_reported_as_a_stopped_worker_or_an_unreachable_team_server() {
        // Bind then drop: the port is (almost certainly) closed right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let c = ApiClient::new(Endpoint::local(&base, None)).unwrap();
        let text = c.observation(1).await.unwrap_err().to_string();
        assert!(text.contains("not running on 127.0.0.1:"), "{text}");
        assert!(text.contains("claude-mem serve"), "{text}");
        let c = ApiClient::new(Endpoint::team(&base, Some("cm_x".into()))).unwrap();
        let text = c.observation(1).await.unwrap_err().to_string();
        assert!(text.contains("team server at 127.0.0.1:"), "{text}");
    }
}
