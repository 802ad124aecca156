//! The viewer (`frontend/dist`, embedded at build time by build.rs + rust-embed) served at `/`, so the
//! browser tab and the app window show the same page from the same origin as the API.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/viewer"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A GET that matched no API route: an embedded file, else `index.html` for paths without an
/// extension (the viewer routes in the hash, but a bookmarked path must still load it).
pub fn serve(uri: &Uri) -> Option<Response> {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path.starts_with("hooks/") || path == "metrics" {
        return None;
    }
    let (path, file) = match Assets::get(path).filter(|_| !path.is_empty()) {
        Some(f) => (path, f),
        None if !path.rsplit('/').next().unwrap_or("").contains('.') => {
            ("index.html", Assets::get("index.html")?)
        }
        None => return None,
    };
    // Hashed asset names never change content; index.html must always be revalidated to pick them up.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Some(
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CACHE_CONTROL, cache),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            file.data.into_owned(),
        )
            .into_response(),
    )
}
