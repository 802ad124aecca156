//! The blocking client of the worker's HTTP API (the CLI's), over the same [`Endpoint`] as the async one:
//! status codes are answers, the token goes on every request, and a refusal becomes the server's
//! `{error, reason}` as an [`ApiError`].

use crate::endpoint::{ApiError, Endpoint, Target};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    agent: ureq::Agent,
    timeout: Duration,
}

impl Client {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false);
        if endpoint.target == Target::Local {
            // Loopback only: a system proxy must never see these requests.
            config = config.proxy(None);
        }
        Self {
            endpoint,
            agent: config.build().into(),
            timeout,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET path` (with the query already in it, or serialised from `query`).
    pub fn get(&self, path: &str, query: Option<&impl Serialize>) -> Result<Value, ApiError> {
        let mut request = self.agent.get(self.endpoint.url(path));
        if let Some(query) = query {
            for (k, v) in pairs(query)? {
                request = request.query(k, v);
            }
        }
        if let Some(auth) = self.endpoint.authorization() {
            request = request.header("authorization", &auth);
        }
        self.answer(path, request.call())
    }

    /// `POST`, `PUT`, `PATCH` or `DELETE` with a JSON body.
    pub fn send(&self, method: &str, path: &str, body: &Value) -> Result<Value, ApiError> {
        let url = self.endpoint.url(path);
        let auth = self.endpoint.authorization();
        let with_auth = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| match &auth {
            Some(a) => r.header("authorization", a),
            None => r,
        };
        let sent = match method {
            "PUT" => with_auth(self.agent.put(&url)).send_json(body),
            "PATCH" => with_auth(self.agent.patch(&url)).send_json(body),
            "DELETE" => with_auth(self.agent.delete(&url).force_send_body()).send_json(body),
            _ => with_auth(self.agent.post(&url)).send_json(body),
        };
        self.answer(path, sent)
    }

    fn answer(
        &self,
        path: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ApiError> {
        let mut response = sent.map_err(|e| match e {
            ureq::Error::Timeout(_) => ApiError::Timeout {
                seconds: self.timeout.as_secs(),
            },
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                self.endpoint.unreachable()
            }
            other => ApiError::BadAnswer(other.to_string()),
        })?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ApiError::BadAnswer(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|_| {
                ApiError::BadAnswer(format!("{path} answered {status} with non-JSON"))
            });
        }
        Err(self.endpoint.answer_error(status.as_u16(), path, &text))
    }
}

/// A query struct's fields as `(name, value)` pairs, the way `reqwest`'s `.query` sends them.
fn pairs(query: &impl Serialize) -> Result<Vec<(String, String)>, ApiError> {
    let value = serde_json::to_value(query).map_err(|e| ApiError::BadAnswer(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(ApiError::BadAnswer("a query must be a struct".into()));
    };
    Ok(map
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_unreachable_for_the_right_target() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let c = Client::new(Endpoint::local(&base, None), Duration::from_secs(2));
        let e = c.get("/api/health", None::<&()>).unwrap_err();
        assert!(matches!(e, ApiError::Unreachable { .. }), "{e}");
        let c = Client::new(Endpoint::team(&base, None), Duration::from_secs(2));
        let e = c.get("/api/health", None::<&()>).unwrap_err();
        assert!(matches!(e, ApiError::TeamUnreachable { .. }), "{e}");
    }

    #[test]
    fn query_pairs_skip_unset_fields() {
        let q = crate::wire::SearchQuery {
            q: "a b".into(),
            limit: 3,
            min_score: Some(0.5),
            ..Default::default()
        };
        let p = pairs(&q).unwrap();
        assert_eq!(
            p,
            vec![
                ("q".into(), "a b".into()),
                ("limit".into(), "3".into()),
                ("min_score".into(), "0.5".into())
            ]
        );
    }
}
