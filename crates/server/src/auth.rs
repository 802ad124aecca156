//! Who may talk to the worker: its user, and nobody else.
//!
//! Loopback is not a trust boundary: every local Unix user, and every web page the user's browser shows,
//! can reach 127.0.0.1. So every route that reads or changes memory wants the per-user secret:
//!
//! - **The API token.** 32 random bytes (hex) in `<data>/api-token`, mode 0600, made atomically at the
//!   first start. The user's own tools read the file and send `Authorization: Bearer <token>`: the hook
//!   command, the MCP server, the CLI, the desktop app. Another Unix user cannot read it.
//! - **The viewer's cookie.** A browser cannot read files, so it gets in the way Jupyter's users do:
//!   `claude-mem open` asks the worker (with the token) for a one-time code (`POST /api/auth/code`, valid
//!   [`CODE_TTL`], single use) and opens `http://127.0.0.1:PORT/?code=…`; the worker swaps the code for an
//!   `HttpOnly; SameSite=Strict; Path=/` session cookie and redirects to `/`. The cookie's value is derived
//!   from the token (a SHA-256 of it under a fixed label), so it survives worker restarts and dies with the
//!   token. A cookie is only honoured from the worker's own pages (`Sec-Fetch-Site` `same-origin` or
//!   `none` when the browser sends it): pages on other localhost ports are "same site" for cookies.
//!
//! Open without either: `GET /api/health` (only `status` and `version`, which the desktop app and
//! `doctor` use to recognise a worker on the port) and the viewer's static files (code, no data). A viewer
//! page without the cookie is a short page that says to run `claude-mem open`. `/metrics` wants the token
//! (Prometheus: `authorization: {credentials_file: …/api-token}`): its labels name projects and models.
//!
//! A request with a valid bearer token is also marked [`Authenticated`], which lets the Host check (a
//! defence against DNS rebinding, a browser attack) accept any name: a browser page cannot know the
//! token. A cookie never lifts the Host check.

use crate::api_error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use claude_mem_core::{DataDir, Settings};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Environment variable that supplies the token to clients whose data directory is not the worker's
/// (a hook on another machine, a container).
pub const TOKEN_ENV: &str = "CLAUDE_MEM_API_TOKEN";
/// The viewer's session cookie.
pub const SESSION_COOKIE: &str = "claude_mem_session";
/// `POST` with the token: a one-time code for the browser (`{"code", "path", "expires_in"}`).
pub const CODE_PATH: &str = "/api/auth/code";
/// How long a one-time code may wait to be used.
pub const CODE_TTL: Duration = Duration::from_secs(120);
/// Codes outstanding at once; minting more drops the oldest.
const MAX_CODES: usize = 32;

/// Reads the token file, creating it (0600) with a fresh random token when it does not exist yet.
///
/// Atomic: the token is written to a private temporary file and hard-linked into place, so a reader never
/// sees a half-written token and two starts racing agree on one token (the loser reads the winner's).
pub fn load_or_create_token(data_dir: &DataDir) -> io::Result<String> {
    let path = data_dir.api_token();
    if let Some(token) = read_token(&path)? {
        make_private(&path);
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no OS randomness: {e}")))?;
    let token = hex::encode(bytes);
    let tmp = path.with_file_name(format!(".api-token.{}.{}", std::process::id(), &token[..8]));
    write_private(&tmp, token.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", tmp.display())))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created the API token");
            Ok(token)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_token(&path)?
            .ok_or_else(|| io::Error::other(format!("{} exists but is empty", path.display()))),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", path.display()),
        )),
    }
}

/// The token in `path`, if the file exists and is not empty. A directory (or anything unreadable) in its
/// place is an error that names the path.
pub fn read_token(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot read the API token {}: {e}", path.display()),
        )),
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

/// `Bearer <token>` for [`client_token`], ready for an `Authorization` header.
pub fn client_authorization(data_dir: &DataDir) -> Option<String> {
    client_token(data_dir).map(|t| format!("Bearer {t}"))
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

/// A token file others could read (copied in, restored, edited) is made private again.
fn make_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the API token was readable by others; made it 0600 (delete it and restart to get a new one)");
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// What the auth middleware needs: the token, the cookie value derived from it, and the codes handed out.
#[derive(Clone)]
pub struct AuthConfig {
    token: Arc<str>,
    session: Arc<str>,
    codes: Arc<Mutex<HashMap<String, Instant>>>,
    /// The configured bind address when it is not loopback: a browser may sign in by that name too.
    bind_host: Option<Arc<str>>,
}

impl AuthConfig {
    /// Loads (or makes) the data directory's token. One that cannot be read fails closed: a random token
    /// nobody knows, so every request is refused rather than let in.
    pub fn for_worker(settings: &Settings, data_dir: &DataDir) -> Self {
        let token = load_or_create_token(data_dir).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the API token; refusing every client");
            random_hex()
        });
        let mut config = Self::with_token(&token);
        if !crate::loopback::is_loopback_host(&settings.host) {
            config.bind_host = Some(settings.host.as_str().into());
        }
        config
    }

    pub fn with_token(token: &str) -> Self {
        let session = hex::encode(Sha256::digest(
            format!("claude-mem viewer session\0{token}").as_bytes(),
        ));
        Self {
            token: token.into(),
            session: session.into(),
            codes: Arc::default(),
            bind_host: None,
        }
    }

    /// A fresh one-time code for the browser.
    pub fn mint_code(&self) -> String {
        let code = random_hex();
        let now = Instant::now();
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, expires| *expires > now);
        while codes.len() >= MAX_CODES {
            let Some(oldest) = codes
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(c, _)| c.clone())
            else {
                break;
            };
            codes.remove(&oldest);
        }
        codes.insert(code.clone(), now + CODE_TTL);
        code
    }

    /// Whether `code` was handed out, is unexpired and unused; it is used up either way.
    fn redeem(&self, code: &str) -> bool {
        let now = Instant::now();
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, expires| *expires > now);
        // Removal is by exact key; codes are random and single use, so a timing side channel on the map
        // lookup reveals nothing reusable.
        codes.remove(code).is_some()
    }

    fn token_ok(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.token.as_bytes()))
    }

    fn session_ok(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.session.as_bytes()))
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: a value derived from the clock and the pid is still unknown to a browser
        // page, but say so.
        tracing::error!("no OS randomness for a secret");
        let seed = format!("{:?}{}", Instant::now(), std::process::id());
        return hex::encode(Sha256::digest(seed.as_bytes()));
    }
    hex::encode(bytes)
}

/// A request that presented the right bearer token: the Host check lets it use any name.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated;

/// A request that may read and change memory (the token, or the viewer's cookie).
#[derive(Debug, Clone, Copy)]
pub struct Authorized;

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether a cookie may be honoured: browsers say where a request comes from, and only the worker's own
/// pages (or the user typing the address) count. Clients that do not send the header are not browsers
/// of this decade; the Origin check still covers them.
pub fn cookie_context_ok(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(site) => site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"),
    }
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

/// What a path needs.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Access {
    /// No secret: minimal health, the viewer's static files.
    Public,
    /// A viewer page: with the cookie the viewer, without it the page explaining `claude-mem open`.
    Page,
    /// Memory, hooks, settings, admin, metrics: the token or the cookie.
    Protected,
}

pub fn access(method: &Method, path: &str) -> Access {
    let read = method == Method::GET || method == Method::HEAD;
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if path == "/api/health" && read {
        return Access::Public;
    }
    if under("/api") || under("/hooks") || under("/metrics") || !read {
        return Access::Protected;
    }
    let last = path.rsplit('/').next().unwrap_or("");
    if last.contains('.') && last != "index.html" {
        Access::Public
    } else {
        Access::Page
    }
}

/// The bodies of a 401: JSON for the API, a short page for a browser.
fn unauthorized(reason: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", reason).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"claude-mem\""),
    );
    response
}

const SIGN_IN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>claude-mem: open the viewer from your terminal</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}
code{background:#f2f2f2;padding:.1em .3em;border-radius:3px}</style></head>
<body data-testid="sign-in"><h1>claude-mem</h1>
<p>__MESSAGE__</p>
<p>Run <code>claude-mem open</code> in a terminal (or use <em>Open viewer</em> in the claude-mem tray
menu). It opens this page with a one-time code that lets this browser in.</p>
<p>Your memories are private: only your own user account can read the key that lets a browser in, so
other people on this machine and other web pages cannot.</p>
</body></html>
"#;

fn sign_in_page(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SIGN_IN_PAGE.replace("__MESSAGE__", message),
    )
        .into_response()
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `?code=…` on a viewer page: a valid code becomes the cookie and a redirect to the same page without
/// the code (so it is not left in the history or bookmarked); an invalid one a page saying so.
fn swap_code(config: &AuthConfig, request: &Request, code: &str) -> Response {
    let path = request.uri().path();
    // The Host check has not run yet (it runs inside this layer): a cookie is only ever set for a
    // loopback name (or the configured bind address), never for a name rebound to us.
    let host_ok = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            crate::loopback::is_loopback_authority(h)
                || config.bind_host.as_deref().is_some_and(|bind| {
                    h.trim()
                        .rsplit_once(':')
                        .map_or(h.trim(), |(name, _)| name)
                        .trim_matches(['[', ']'])
                        .eq_ignore_ascii_case(bind)
                })
        });
    if !host_ok || !config.redeem(code) {
        return sign_in_page(
            "That link has been used already or has expired (links work once, for two minutes).",
        );
    }
    let location = if path.starts_with('/') && !path.starts_with("//") {
        path
    } else {
        "/"
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        config.session
    );
    let mut response = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location.to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    tracing::info!("a browser signed in with a one-time code");
    response
}

fn code_answer(config: &AuthConfig) -> Response {
    let code = config.mint_code();
    let body = serde_json::json!({
        "code": code,
        "path": format!("/?code={code}"),
        "expires_in": CODE_TTL.as_secs(),
    });
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

pub async fn require_token(
    State(config): State<AuthConfig>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let presented = bearer(headers);
    let token_ok = presented.is_some_and(|t| config.token_ok(t));
    let cookie_valid =
        !token_ok && cookie(headers, SESSION_COOKIE).is_some_and(|c| config.session_ok(c));
    let cookie_ok = cookie_valid && cookie_context_ok(headers);
    let path = request.uri().path().to_owned();
    let kind = access(request.method(), &path);

    if kind == Access::Page {
        if let Some(code) = request.uri().query().and_then(|q| query_param(q, "code")) {
            let code = code.to_owned();
            return swap_code(&config, &request, &code);
        }
    }
    if token_ok {
        request.extensions_mut().insert(Authenticated);
        request.extensions_mut().insert(Authorized);
        request.extensions_mut().insert(config.clone());
        return next.run(request).await;
    }
    if cookie_ok {
        request.extensions_mut().insert(Authorized);
        return next.run(request).await;
    }
    if cookie_valid && kind == Access::Page {
        // A signed-in browser following a link from another page of this host: the page is the viewer's
        // shell, which holds no data; its own API calls are same-origin and carry the cookie.
        return next.run(request).await;
    }
    if is_preflight(&request) {
        return next.run(request).await;
    }
    if presented.is_some() {
        // A client that sends a token means to be let in: a wrong one is refused even where no token is
        // needed, so a stale or foreign token shows up at once (doctor, the tray) instead of as a
        // half-empty answer.
        return unauthorized("the bearer token is wrong");
    }
    match kind {
        Access::Public => next.run(request).await,
        Access::Page => sign_in_page("This browser is not signed in to your claude-mem viewer."),
        Access::Protected => {
            tracing::debug!(path = %path, "refused a request without a token");
            unauthorized("send `Authorization: Bearer <token>` (the token is in the data directory's api-token file, readable by its owner only); in a browser, run `claude-mem open`")
        }
    }
}

/// `POST /api/auth/code` (the token only, not the cookie): a one-time code for the browser. The auth
/// layer hands the handler its configuration with a token-bearing request.
pub async fn mint_code(
    config: Option<axum::Extension<AuthConfig>>,
    authenticated: Option<axum::Extension<Authenticated>>,
) -> Response {
    match (config, authenticated) {
        (Some(axum::Extension(config)), Some(_)) => code_answer(&config),
        _ => unauthorized("one-time codes are handed out for the API token only"),
    }
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
    fn cookies_and_queries() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; claude_mem_session=xyz".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(query_param("x=1&code=abc", "code"), Some("abc"));
        assert_eq!(query_param("codex=1", "code"), None);
    }

    #[test]
    fn what_each_path_needs() {
        let get = Method::GET;
        assert_eq!(access(&get, "/api/health"), Access::Public);
        assert_eq!(access(&Method::POST, "/api/health"), Access::Protected);
        assert_eq!(access(&get, "/api/observations"), Access::Protected);
        assert_eq!(access(&get, "/api"), Access::Protected);
        assert_eq!(access(&get, "/metrics"), Access::Protected);
        assert_eq!(access(&Method::POST, "/hooks/Stop"), Access::Protected);
        assert_eq!(access(&get, "/assets/index-abc.js"), Access::Public);
        assert_eq!(access(&get, "/favicon.svg"), Access::Public);
        assert_eq!(access(&get, "/"), Access::Page);
        assert_eq!(access(&get, "/index.html"), Access::Page);
        assert_eq!(access(&get, "/sessions"), Access::Page);
        assert_eq!(access(&Method::POST, "/"), Access::Protected);
    }

    #[test]
    fn codes_work_once() {
        let config = AuthConfig::with_token("t");
        let code = config.mint_code();
        assert!(config.redeem(&code));
        assert!(!config.redeem(&code));
        assert!(!config.redeem("nope"));
        for _ in 0..100 {
            config.mint_code();
        }
        assert!(config.codes.lock().unwrap().len() <= MAX_CODES);
    }

    #[test]
    fn cookie_only_from_own_pages() {
        let mut h = HeaderMap::new();
        assert!(cookie_context_ok(&h));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(cookie_context_ok(&h));
        h.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(!cookie_context_ok(&h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!cookie_context_ok(&h));
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
            std::fs::set_permissions(dir.api_token(), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            assert_eq!(load_or_create_token(&dir).unwrap(), first);
            let mode = std::fs::metadata(dir.api_token())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("api-token")]);
    }

    #[test]
    fn a_directory_in_the_tokens_place_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        std::fs::create_dir(dir.api_token()).unwrap();
        let err = load_or_create_token(&dir).unwrap_err().to_string();
        assert!(err.contains("api-token"), "{err}");
    }
}
