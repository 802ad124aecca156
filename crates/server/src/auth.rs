//! The bearer token required from clients on other machines.
//!
//! On loopback (the default) the Host/Origin guard is enough: only this machine can connect. Bound to
//! another address, anyone on the network could read every prompt, so the worker then demands
//! `Authorization: Bearer <token>` from every peer that is not loopback. The token is made once (32 random
//! bytes, hex) and kept in `<data>/api-token`, mode 0600, so the user's own tools (hook command,
//! installer) can read it and nobody else can.

use crate::api_error::ApiError;
use crate::local_guard::is_loopback_host;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use claude_mem_core::{DataDir, Settings};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Environment variable that supplies the token to clients whose data directory is not the worker's
/// (a hook on another machine).
pub const TOKEN_ENV: &str = "CLAUDE_MEM_API_TOKEN";

/// Whether the worker, listening on `host`, demands the token from non-loopback peers.
pub fn token_required(host: &str) -> bool {
    !is_loopback_host(host)
}

/// Reads the token file, creating it (0600) with a fresh random token when it does not exist yet.
pub fn load_or_create_token(data_dir: &DataDir) -> io::Result<String> {
    let path = data_dir.api_token();
    if let Some(token) = read_token(&path)? {
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no OS randomness: {e}")))?;
    let token = hex::encode(bytes);
    write_private(&path, token.as_bytes())?;
    tracing::info!(path = %path.display(), "created the API token for non-loopback clients");
    Ok(token)
}

/// The token in `path`, if the file exists and is not empty.
pub fn read_token(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The token a client should send: `$CLAUDE_MEM_API_TOKEN`, else the data directory's token file.
pub fn client_token(data_dir: &DataDir) -> Option<String> {
    std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .or_else(|| read_token(&data_dir.api_token()).ok().flatten())
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Private from the first byte: no window in which the umask's mode exposes the token.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// What the auth middleware needs: the expected token, or none when the worker is loopback-only.
#[derive(Clone, Default)]
pub struct AuthConfig {
    token: Option<Arc<str>>,
}

impl AuthConfig {
    /// Loopback-only workers need no token; others load (or make) it. A token that cannot be read fails
    /// closed: a random one nobody knows, so remote peers are refused rather than let in.
    pub fn for_worker(settings: &Settings, data_dir: &DataDir) -> Self {
        if !token_required(&settings.host) {
            return Self::default();
        }
        let token = load_or_create_token(data_dir).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the API token; refusing every non-loopback client");
            let mut bytes = [0u8; 32];
            let _ = getrandom::fill(&mut bytes);
            hex::encode(bytes)
        });
        Self {
            token: Some(token.into()),
        }
    }

    pub fn with_token(token: &str) -> Self {
        Self {
            token: Some(token.into()),
        }
    }
}

/// Marks a request that presented the right token, so the Host check (a defence against DNS rebinding
/// from browsers, which cannot know the token) lets remote clients use whatever name they reach us by.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// A CORS preflight carries no credentials by design and returns no data, so it is let through to the
/// CORS layer, which answers it.
fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

pub async fn require_token(
    State(config): State<AuthConfig>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(expected) = &config.token else {
        return next.run(request).await;
    };
    // Without the peer address (a router driven in-process) the request is treated as remote.
    let loopback_peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback());
    let presented = bearer(request.headers());
    let valid = presented.is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected.as_bytes())));
    if valid {
        request.extensions_mut().insert(Authenticated);
    } else if !loopback_peer && !is_preflight(&request) {
        let reason = if presented.is_some() {
            "the bearer token is wrong"
        } else {
            "this worker accepts remote clients only with `Authorization: Bearer <token>` (the token is in the data directory's api-token file)"
        };
        tracing::warn!(path = %request.uri().path(), "refused a remote request without a valid token");
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", reason).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn the_token_is_made_once_and_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        let first = load_or_create_token(&dir).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(load_or_create_token(&dir).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.api_token())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!token_required("127.0.0.1"));
        assert!(!token_required("localhost"));
        assert!(token_required("0.0.0.0"));
        assert!(token_required("192.168.1.4"));
    }
}
