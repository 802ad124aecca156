//! Refuses requests that did not come from this machine's own clients.
//!
//! Listening on loopback is not enough: a web page can make the browser POST to 127.0.0.1 (CSRF), and a
//! hostile DNS name can be rebound to 127.0.0.1 (DNS rebinding). Both are caught here: the `Host` must
//! name a loopback host and an `Origin`, when a browser sends one, must be a local page (or one the
//! operator listed in `security.cors_origins`). A request that carries the API token (see `auth`) may use
//! any Host: rebinding is a browser attack, and a browser page cannot know the token.

use crate::api_error::ApiError;
use crate::auth::Authenticated;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// Extra host names accepted besides loopback (the configured bind address when it is not loopback),
/// and extra browser origins (`security.cors_origins`).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(pub Vec<String>, pub Vec<String>);

fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_allowed(authority: &str, extra: &AllowedHosts) -> bool {
    let host = host_part(authority.trim());
    is_loopback_host(host) || extra.0.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// `Origin` values we serve: our own viewer pages and the desktop app's webview.
pub fn origin_allowed(origin: &str, extra: &AllowedHosts) -> bool {
    let trimmed = origin.trim_end_matches('/');
    if extra.1.iter().any(|o| o.trim_end_matches('/') == trimmed) {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    match scheme {
        "http" | "https" => host_allowed(authority, extra),
        "tauri" => authority == "localhost",
        _ => false,
    }
}

pub async fn require_local(
    State(extra): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let authenticated = request.extensions().get::<Authenticated>().is_some();
    if let Some(host) = headers.get(header::HOST).filter(|_| !authenticated) {
        let ok = host.to_str().is_ok_and(|h| host_allowed(h, &extra));
        if !ok {
            tracing::warn!(host = ?host, path = %request.uri().path(), "refused a request for a non-local Host");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "the Host header must name this machine (DNS rebinding protection)",
            )
            .into_response();
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| origin_allowed(o, &extra));
        if !ok {
            tracing::warn!(origin = ?origin, path = %request.uri().path(), "refused a cross-site request");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                "requests from other web sites are not accepted",
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let none = AllowedHosts::default();
        for ok in [
            "127.0.0.1:37777",
            "localhost",
            "LOCALHOST:1",
            "[::1]:37777",
            "127.8.9.1",
            "app.localhost",
        ] {
            assert!(host_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:37777",
            "192.168.1.2:37777",
            "localhost.evil.com",
            "[2001:db8::1]:80",
        ] {
            assert!(!host_allowed(bad, &none), "{bad}");
        }
        assert!(host_allowed(
            "10.0.0.5:37777",
            &AllowedHosts(vec!["10.0.0.5".into()], Vec::new())
        ));
    }

    #[test]
    fn origins() {
        let none = AllowedHosts::default();
        for ok in [
            "http://127.0.0.1:37777",
            "http://localhost:5173",
            "tauri://localhost",
            "http://tauri.localhost",
        ] {
            assert!(origin_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "https://evil.com",
            "null",
            "file://",
            "http://127.0.0.1.evil.com",
            "chrome-extension://abc",
        ] {
            assert!(!origin_allowed(bad, &none), "{bad}");
        }
        let dash = AllowedHosts(Vec::new(), vec!["https://dash.example.com".into()]);
        assert!(origin_allowed("https://dash.example.com", &dash));
        assert!(!origin_allowed("https://dash.example.com.evil", &dash));
    }
}
