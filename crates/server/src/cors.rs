//! CORS: which web pages may read the API's answers.
//!
//! The viewer is served by the worker itself, so most calls are same-origin and need none of this. The
//! allow-list covers the other names of the same worker (`localhost` vs `127.0.0.1`), the desktop app's
//! webview, and the origins an operator adds in `security.cors_origins` (a dashboard elsewhere). Foreign
//! origins never reach this layer: the local guard refuses them first with a 403.

use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::Method;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The desktop app's webview origins (Tauri on macOS/Linux and on Windows).
const TAURI_ORIGINS: [&str; 2] = ["tauri://localhost", "http://tauri.localhost"];

/// Whether `origin` may read answers to a request addressed to `host` (the request's Host header, which
/// carries the port the client reached us on: with `--port 0` it is only known per request).
pub fn cors_origin_allowed(origin: &str, host: Option<&str>, extra: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    if TAURI_ORIGINS.contains(&origin) || extra.iter().any(|o| o.trim_end_matches('/') == origin) {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    // The port the request reached (none: the scheme's default, 80).
    let port = match host.rsplit_once(':') {
        Some((_, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => format!(":{p}"),
        _ => String::new(),
    };
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| origin == format!("http://{name}{port}"))
}

pub fn layer(extra_origins: &[String]) -> CorsLayer {
    let extra: Arc<[String]> = extra_origins.into();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, parts: &Parts| {
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok());
                origin
                    .to_str()
                    .is_ok_and(|o| cors_origin_allowed(o, host, &extra))
            },
        ))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_tauri_and_configured_origins_only() {
        let extra = vec!["https://dash.example.com".to_owned()];
        let host = Some("127.0.0.1:41234");
        for ok in [
            "http://127.0.0.1:41234",
            "http://localhost:41234",
            "tauri://localhost",
            "http://tauri.localhost",
            "https://dash.example.com",
        ] {
            assert!(cors_origin_allowed(ok, host, &extra), "{ok}");
        }
        for bad in [
            "http://localhost:5173",
            "https://evil.example",
            "http://127.0.0.1:41235",
            "null",
        ] {
            assert!(!cors_origin_allowed(bad, host, &extra), "{bad}");
        }
        assert!(!cors_origin_allowed("http://127.0.0.1:41234", None, &[]));
        assert!(cors_origin_allowed(
            "http://localhost",
            Some("localhost"),
            &[]
        ));
        assert!(!cors_origin_allowed(
            "http://localhost:8080",
            Some("localhost"),
            &[]
        ));
        assert!(!cors_origin_allowed(
            "http://localhost",
            Some("[::1]:80"),
            &[]
        ));
    }
}
