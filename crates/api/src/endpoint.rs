//! Where a client's requests go, and the one error type both clients report.

use std::fmt;

/// Which kind of server an [`Endpoint`] is: it decides what an error advises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This machine's worker (`claude-mem serve` or the desktop app), on loopback.
    Local,
    /// A team server (`claude-mem install --server URL --token T`).
    Team,
}

/// A server and the token to show it. Built once per process from the client configuration (the CLI's
/// `client_config`), so the hooks, `claude-mem mcp`, `search` and `doctor` all talk to the same place.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:37777` or `https://mem.example.com`.
    pub base: String,
    /// Sent as `Authorization: Bearer <token>` on every request.
    pub token: Option<String>,
    pub target: Target,
}

/// The token never reaches a log line through `{:?}`.
impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("target", &self.target)
            .finish()
    }
}

impl Endpoint {
    pub fn local(base: impl Into<String>, token: Option<String>) -> Self {
        Self::new(base, token, Target::Local)
    }

    pub fn team(base: impl Into<String>, token: Option<String>) -> Self {
        Self::new(base, token, Target::Team)
    }

    fn new(base: impl Into<String>, token: Option<String>, target: Target) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            token: token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            target,
        }
    }

    /// `127.0.0.1:37777`: what error messages show.
    pub fn address(&self) -> &str {
        self.base
            .strip_prefix("http://")
            .or_else(|| self.base.strip_prefix("https://"))
            .unwrap_or(&self.base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `Bearer <token>`, when there is a token.
    pub fn authorization(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// What a refused or failed call becomes, from the status and the body (`{error, reason}`).
    pub(crate) fn answer_error(&self, status: u16, endpoint: &str, text: &str) -> ApiError {
        let body: Option<serde_json::Value> = serde_json::from_str(text).ok();
        let field = |k: &str| {
            body.as_ref()
                .and_then(|b| b.get(k))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let code = field("error");
        let reason = field("reason");
        // The server's fallback route answers 404 "no such endpoint": it predates this call, which the
        // caller should hear instead of "not found" for an id that may well exist.
        if status == 404 && (code.is_none() || reason.as_deref() == Some("no such endpoint")) {
            return ApiError::MissingEndpoint {
                address: self.address().to_owned(),
                endpoint: endpoint.to_owned(),
            };
        }
        if status == 401 && self.target == Target::Team {
            return ApiError::Unauthorized {
                address: self.address().to_owned(),
                reason: reason.unwrap_or_else(|| "no token".into()),
            };
        }
        ApiError::Api {
            status,
            code: code.unwrap_or_else(|| "error".into()),
            reason: reason.unwrap_or_else(|| text.chars().take(200).collect()),
        }
    }

    pub(crate) fn unreachable(&self) -> ApiError {
        match self.target {
            Target::Local => ApiError::Unreachable {
                address: self.address().to_owned(),
            },
            Target::Team => ApiError::TeamUnreachable {
                address: self.address().to_owned(),
            },
        }
    }
}

/// Why a call gave no usable answer. The messages are read by people and by the model (through the MCP
/// tools), so they say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("claude-mem worker is not running on {address}; start it with `claude-mem serve`")]
    Unreachable { address: String },
    #[error(
        "the team server at {address} is not reachable; check the network, or `claude-mem doctor`"
    )]
    TeamUnreachable { address: String },
    #[error("the team server at {address} refused the token ({reason}); ask for a new one and run `claude-mem install --server URL --token T`")]
    Unauthorized { address: String, reason: String },
    #[error("the claude-mem server did not answer within {seconds} s")]
    Timeout { seconds: u64 },
    #[error("the claude-mem server refused the request ({status} {code}): {reason}")]
    Api {
        status: u16,
        code: String,
        reason: String,
    },
    #[error("the claude-mem server at {address} does not offer {endpoint} (HTTP 404); update and restart it")]
    MissingEndpoint { address: String, endpoint: String },
    #[error("the claude-mem server answered something unexpected: {0}")]
    BadAnswer(String),
}

impl ApiError {
    /// The HTTP status of a refused request (`None` for transport failures).
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Api { status, .. } => Some(*status),
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::MissingEndpoint { .. } => Some(404),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_drops_the_scheme_and_debug_hides_the_token() {
        let e = Endpoint::team("https://mem.example.com/", Some(" cm_secret ".into()));
        assert_eq!(e.address(), "mem.example.com");
        assert_eq!(e.authorization().as_deref(), Some("Bearer cm_secret"));
        assert!(!format!("{e:?}").contains("cm_secret"));
        assert_eq!(
            Endpoint::local("http://127.0.0.1:37777", Some("  ".into())).token,
            None
        );
    }

    #[test]
    fn errors_say_what_to_do_for_each_target() {
        let team = Endpoint::team("https://mem.example.com", None);
        let local = Endpoint::local("http://127.0.0.1:37777", None);
        assert!(team.unreachable().to_string().contains("team server"));
        assert!(local.unreachable().to_string().contains("claude-mem serve"));
        let e = team.answer_error(
            401,
            "/api/search",
            r#"{"error":"unauthorized","reason":"unknown or revoked API token"}"#,
        );
        assert!(e.to_string().contains("revoked"), "{e}");
        let e = local.answer_error(
            404,
            "/api/timeline",
            r#"{"error":"not_found","reason":"no such endpoint"}"#,
        );
        assert!(matches!(e, ApiError::MissingEndpoint { .. }), "{e}");
        let e = local.answer_error(
            404,
            "/api/observations/9",
            r#"{"error":"not_found","reason":"no observation 9"}"#,
        );
        assert_eq!(e.status(), Some(404));
        assert!(matches!(e, ApiError::Api { .. }), "{e}");
    }
}
