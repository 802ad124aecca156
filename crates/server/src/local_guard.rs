//! Refuses requests that did not come from this machine's own clients.
//!
//! Listening on loopback is not enough: a web page can make the browser POST to 127.0.0.1 (CSRF), and a
//! hostile DNS name can be rebound to 127.0.0.1 (DNS rebinding). Both are caught here: the `Host` must be
//! present and name a loopback host, and an `Origin`, when a browser sends one, must be exactly the
//! worker's own (`http://127.0.0.1:PORT`, `http://localhost:PORT`, the port the request reached), the
//! desktop app's webview, or one the operator listed in `security.cors_origins` — a page on another
//! localhost port is another site. Requests with a body to the API and the hooks must say
//! `Content-Type: application/json`: a page can send `text/plain` without a CORS preflight, never JSON.
//! A request that carries the API token (see `auth`) may use any Host: rebinding is a browser attack, and
//! a browser page cannot know the token.

use crate::api_error::ApiError;
use crate::auth::Authenticated;
use crate::loopback::{host_part, is_loopback_host};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Extra host names accepted besides loopback (the configured bind address when it is not loopback),
/// and extra browser origins (`security.cors_origins`).
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(pub Vec<String>, pub Vec<String>);

fn host_allowed(authority: &str, extra: &AllowedHosts) -> bool {
    let host = host_part(authority.trim());
    is_loopback_host(host) || extra.0.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// The viewer served on the configured (non-loopback) bind address: its pages' origin is exactly
/// `http://` + the Host they reached.
fn bind_origin(origin: &str, host: Option<&str>, extra: &AllowedHosts) -> bool {
    host.is_some_and(|h| {
        let name = host_part(h.trim());
        extra.0.iter().any(|b| b.eq_ignore_ascii_case(name))
            && origin.trim_end_matches('/') == format!("http://{}", h.trim())
    })
}

/// Whether `content_type` is JSON (`application/json`, `application/…+json`, any parameters).
fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// Requests that send a body to the API or the hooks: everything but GET/HEAD/OPTIONS there, and
/// DELETE, which carries none (a page cannot send a DELETE across sites without a CORS preflight, which
/// the CORS layer answers only for the allowed origins, so it needs no content-type barrier).
fn needs_json(request: &Request) -> bool {
    let path = request.uri().path();
    let api = path.starts_with("/api/") || path.starts_with("/hooks/");
    api && !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
    )
}

pub async fn require_local(
    State(extra): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let authenticated = request.extensions().get::<Authenticated>().is_some();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !authenticated {
        // A missing Host is refused too: HTTP/1.1 clients always send one, and a check that a request can
        // skip by leaving the header out is no check.
        if !host.is_some_and(|h| host_allowed(h, &extra)) {
            tracing::warn!(host = ?headers.get(header::HOST), path = %request.uri().path(), "refused a request for a non-local Host");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "the Host header must name this machine (DNS rebinding protection)",
            )
            .into_response();
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| {
            crate::cors::cors_origin_allowed(o, host, &extra.1) || bind_origin(o, host, &extra)
        });
        if !ok {
            tracing::warn!(origin = ?origin, path = %request.uri().path(), "refused a cross-site request");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                "requests from other web sites (or other ports of this machine) are not accepted",
            )
            .into_response();
        }
    }
    if needs_json(&request) {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "send a JSON body with `Content-Type: application/json` (got {:?})",
                    if content_type.is_empty() {
                        "none"
                    } else {
                        content_type
                    }
                ),
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
    fn json_content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/json",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
        let lan = AllowedHosts(vec!["10.0.0.5".into()], Vec::new());
        assert!(bind_origin(
            "http://10.0.0.5:37777",
            Some("10.0.0.5:37777"),
            &lan
        ));
        assert!(!bind_origin(
            "http://10.0.0.5:8080",
            Some("10.0.0.5:37777"),
            &lan
        ));
        assert!(!bind_origin(
            "http://10.0.0.5:37777",
            Some("10.0.0.5:37777"),
            &AllowedHosts::default()
        ));
    }
}
