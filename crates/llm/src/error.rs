use std::time::Duration;

/// Why a single structured call failed, classified so the caller's retry loop can decide from
/// the variant alone (never by matching message text).
///
/// Messages carry the provider's own explanation (and its request id when it sent one) but are
/// scrubbed of the API key, because they end up in logs and in the UI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// HTTP 429. `retry_after` comes from the `retry-after` / `retry-after-ms` headers so the
    /// caller can honour the provider's own backoff instead of guessing.
    #[error("rate limited: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// HTTP 529 or an `overloaded_error` body: the provider is shedding load, not failing.
    #[error("provider overloaded: {message}")]
    Overloaded {
        retry_after: Option<Duration>,
        message: String,
    },
    /// A 5xx (transient), or a status this crate has no better category for (not transient).
    #[error("server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// The configured timeout elapsed (connecting, waiting, or reading the body), or the
    /// server answered 408.
    #[error("request timed out")]
    Timeout,
    /// The request never got an HTTP answer: connection refused, DNS, TLS, reset.
    #[error("network error: {0}")]
    Network(String),
    /// 401/403, and account problems that retrying cannot fix (402, exhausted quota).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// 400/404/413/422 and other 4xx: the same request will fail the same way.
    #[error("bad request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
    /// The API answered 2xx but not with a usable tool input: no tool call, wrong tool, input
    /// that is not a JSON object, output cut off at `max_tokens`, or a body that is not JSON.
    /// Not transient by itself; a caller may still choose to re-ask once.
    #[error("malformed model output: {0}")]
    MalformedOutput(String),
    /// The client could not be built from its settings (bad base URL, empty key or model).
    #[error("configuration error: {0}")]
    Config(String),
}

impl LlmError {
    /// Whether the same request may succeed if sent again later.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::RateLimited { .. }
            | LlmError::Overloaded { .. }
            | LlmError::Timeout
            | LlmError::Network(_) => true,
            LlmError::Server { status, .. } => (500..=599).contains(status),
            LlmError::Auth(_)
            | LlmError::BadRequest { .. }
            | LlmError::MalformedOutput(_)
            | LlmError::Config(_) => false,
        }
    }

    /// The wait the provider asked for, when it asked for one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. }
            | LlmError::Overloaded { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_classification() {
        let transient = [
            LlmError::RateLimited {
                retry_after: None,
                message: String::new(),
            },
            LlmError::Overloaded {
                retry_after: None,
                message: String::new(),
            },
            LlmError::Server {
                status: 503,
                message: String::new(),
            },
            LlmError::Timeout,
            LlmError::Network(String::new()),
        ];
        for e in &transient {
            assert!(e.is_transient(), "{e:?}");
        }
        let permanent = [
            LlmError::Server {
                status: 302,
                message: String::new(),
            },
            LlmError::Auth(String::new()),
            LlmError::BadRequest {
                status: 400,
                message: String::new(),
            },
            LlmError::MalformedOutput(String::new()),
            LlmError::Config(String::new()),
        ];
        for e in &permanent {
            assert!(!e.is_transient(), "{e:?}");
        }
    }

    #[test]
    fn retry_after_only_from_backpressure_variants() {
        let d = Some(Duration::from_secs(3));
        assert_eq!(
            LlmError::RateLimited {
                retry_after: d,
                message: String::new()
            }
            .retry_after(),
            d
        );
        assert_eq!(
            LlmError::Overloaded {
                retry_after: d,
                message: String::new()
            }
            .retry_after(),
            d
        );
        assert_eq!(LlmError::Timeout.retry_after(), None);
    }
}
