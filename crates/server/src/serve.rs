//! The HTTP server's own accept loop: limits and timeouts so that no client, idle or hostile, can hold
//! the worker (issue 18).
//!
//! - **Header read timeout**, which in hyper also bounds an idle keep-alive connection (waiting for the
//!   next request's head is reading a head): a connection that sends nothing is closed.
//! - **Body read timeout**: [`bounded_body`] reads the whole body under one deadline (408 past it) and
//!   refuses a `Content-Length` over the limit before reading a byte (413), both as JSON.
//! - **Write timeout**: a client that stops reading (an SSE reader that never drains its socket) makes
//!   no progress for [`Limits::write_timeout`] and its connection is dropped.
//! - **A connection cap** derived from the file limit. When it is reached, the oldest connection that
//!   is not in the middle of a request (idle, still sending its head or its body) is closed to make room,
//!   so a flood of idle or half-sent connections cannot keep a hook out: a hook's request is answered in
//!   milliseconds, and connections that are being answered are never the ones closed. Only when every
//!   connection is being answered does the loop stop accepting (the kernel's backlog holds the rest).
//! - **Graceful shutdown with a deadline**: on the signal the listener closes, connections not in a
//!   request are closed at once, the others get [`Limits::shutdown_grace`] to finish, and whatever is left
//!   then is dropped.

use crate::api_error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// The server's timeouts and caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head (or, on a kept-alive connection, the next one) must arrive within this.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this.
    pub body_timeout: Duration,
    /// A write that makes no progress for this long ends the connection.
    pub write_timeout: Duration,
    /// Open connections at most; past it the oldest one not being answered is closed.
    pub max_connections: usize,
    /// How long requests being answered get to finish after the shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    /// 10 s for a request head (and for an idle kept-alive connection), 30 s for a body, 30 s for a
    /// stalled write, half the file limit in connections (at most 1,024), 2 s of grace at shutdown. The
    /// environment can change them (`CLAUDE_MEM_HTTP_HEADER_TIMEOUT_MS`, `CLAUDE_MEM_HTTP_BODY_TIMEOUT_MS`,
    /// `CLAUDE_MEM_HTTP_WRITE_TIMEOUT_MS`, `CLAUDE_MEM_HTTP_MAX_CONNECTIONS`); a value that does not
    /// parse, or 0, keeps the default.
    fn default() -> Self {
        let ms =
            |name: &str, default: u64| Duration::from_millis(env_number(name).unwrap_or(default));
        Self {
            header_timeout: ms("CLAUDE_MEM_HTTP_HEADER_TIMEOUT_MS", 10_000),
            body_timeout: ms("CLAUDE_MEM_HTTP_BODY_TIMEOUT_MS", 30_000),
            write_timeout: ms("CLAUDE_MEM_HTTP_WRITE_TIMEOUT_MS", 30_000),
            max_connections: env_number("CLAUDE_MEM_HTTP_MAX_CONNECTIONS")
                .map(|n| n as usize)
                .unwrap_or_else(|| max_connections_for(open_files_limit())),
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
}

/// Half the file limit goes to connections (the rest is SQLite, the indexes, logs, the compressor's
/// children), at most 1,024.
pub fn max_connections_for(open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => (n / 2).clamp(16, 1024) as usize,
        None => 512,
    }
}

/// The soft `RLIMIT_NOFILE`, where the OS says it (Linux's /proc); elsewhere unknown.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// Marks a connection as being answered: set from the moment its request body has been read until the
/// response has been sent, so eviction never cuts a request the worker is acting on. It also remembers
/// whether the connection has ever been answered: a kept-alive client that sent whole requests (Claude
/// Code's hooks) is spared while idle connections that never did (a flood, a slow sender) are left to
/// close.
#[derive(Clone, Default)]
pub struct ConnBusy {
    in_flight: Arc<AtomicUsize>,
    served: Arc<AtomicBool>,
}

impl ConnBusy {
    fn enter(&self) -> BusyGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
        BusyGuard(self.in_flight.clone())
    }

    fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }

    fn has_served(&self) -> bool {
        self.served.load(Ordering::SeqCst)
    }
}

pub struct BusyGuard(Arc<AtomicUsize>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Conn {
    busy: ConnBusy,
    kill: Arc<Notify>,
    killed: bool,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// By id, so by age: the first idle entry is the oldest idle connection.
    conns: BTreeMap<u64, Conn>,
}

impl Registry {
    /// Registers a new connection, the youngest so far; returns its id.
    fn add(&mut self, busy: ConnBusy, kill: Arc<Notify>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(
            id,
            Conn {
                busy,
                kill,
                killed: false,
            },
        );
        id
    }

    fn live(&self) -> usize {
        self.conns.values().filter(|c| !c.killed).count()
    }

    fn has_idle(&self) -> bool {
        self.conns.values().any(|c| !c.killed && !c.busy.is_busy())
    }

    /// Closes the oldest connection not being answered, taking one that never sent a whole request
    /// before one that did (a kept-alive client reusing it may be about to send the next); false when
    /// there is none.
    fn evict_oldest_idle(&mut self) -> bool {
        let idle = |c: &&Conn| !c.killed && !c.busy.is_busy();
        let oldest = |served: bool| {
            self.conns
                .iter()
                .find(|(_, c)| idle(c) && c.busy.has_served() == served)
                .map(|(id, _)| *id)
        };
        let victim = oldest(false).or_else(|| oldest(true));
        match victim.and_then(|id| self.conns.get_mut(&id)) {
            Some(c) => {
                c.killed = true;
                c.kill.notify_one();
                true
            }
            None => false,
        }
    }

    fn kill_where(&mut self, pred: impl Fn(&Conn) -> bool) {
        for c in self.conns.values_mut().filter(|c| !c.killed && pred(c)) {
            c.killed = true;
            c.kill.notify_one();
        }
    }
}

/// Removes the connection from the registry however its task ends (finished, killed, panicked).
struct Deregister {
    registry: Arc<Mutex<Registry>>,
    id: u64,
    freed: Arc<Notify>,
}

impl Drop for Deregister {
    fn drop(&mut self) {
        if let Ok(mut r) = self.registry.lock() {
            r.conns.remove(&self.id);
        }
        self.freed.notify_one();
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves; returns once every connection
/// has ended (within [`Limits::shutdown_grace`] plus a moment). Requests carry `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let freed = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tracing::debug!(?limits, "HTTP limits");
    tokio::pin!(shutdown);
    let mut last_accept_warning: Option<std::time::Instant> = None;
    'accept: loop {
        // Room for one more: below the cap, or an idle connection to close for it. Otherwise every
        // connection is being answered; wait for one to end (the backlog holds newcomers meanwhile).
        loop {
            let (live, idle) = {
                let r = registry.lock().expect("connection registry");
                (r.live(), r.has_idle())
            };
            if live < limits.max_connections || idle {
                break;
            }
            tokio::select! {
                _ = freed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = &mut shutdown => break 'accept,
            }
        }
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    if is_connection_error(&e) {
                        continue;
                    }
                    // Out of file descriptors (or another resource): make room and back off briefly
                    // instead of spinning.
                    let evicted = registry.lock().expect("connection registry").evict_oldest_idle();
                    if last_accept_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(error = %e, evicted, "cannot accept a connection");
                        last_accept_warning = Some(std::time::Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(if evicted { 5 } else { 50 })).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let kill = Arc::new(Notify::new());
        let busy = ConnBusy::default();
        let id = {
            let mut r = registry.lock().expect("connection registry");
            if r.live() >= limits.max_connections && r.evict_oldest_idle() {
                tracing::debug!(
                    max = limits.max_connections,
                    "connection cap reached: closed the oldest idle connection"
                );
                ::metrics::counter!(crate::metrics::HTTP_CONNECTIONS_EVICTED_TOTAL).increment(1);
            }
            r.add(busy.clone(), kill.clone())
        };
        let deregister = Deregister {
            registry: registry.clone(),
            id,
            freed: freed.clone(),
        };
        let service = app
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                req.extensions_mut().insert(busy.clone());
                req.map(Body::new)
            });
        let io = TokioIo::new(WriteTimeout::new(stream, limits.write_timeout));
        let conn = builder.serve_connection(io, TowerToHyperService::new(service));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _deregister = deregister;
            tokio::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(error = %e, "connection ended");
                        }
                        break;
                    }
                    _ = kill.notified() => break,
                    changed = stop.changed(), if !stopping => {
                        stopping = true;
                        if changed.is_ok() {
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    // Connections not in a request have nothing to finish; those in one get the grace period.
    let _ = stop_tx.send(true);
    registry
        .lock()
        .expect("connection registry")
        .kill_where(|c| !c.busy.is_busy());
    let deadline = tokio::time::Instant::now() + limits.shutdown_grace;
    let hard_deadline = deadline + Duration::from_millis(500);
    loop {
        let remaining = registry.lock().expect("connection registry").conns.len();
        if remaining == 0 {
            break;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let mut r = registry.lock().expect("connection registry");
            if r.conns.values().any(|c| !c.killed) {
                tracing::info!(
                    connections = remaining,
                    "shutdown deadline: dropping connections still open"
                );
                r.kill_where(|_| true);
            }
            if now >= hard_deadline {
                break;
            }
        }
        tokio::select! {
            _ = freed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    Ok(())
}

/// Errors that concern one connection only (it was reset before we took it): accept the next.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// A socket whose writes fail with `TimedOut` after making no progress for a while: the peer stopped
/// reading. Reads are bounded elsewhere (hyper's header timeout, [`bounded_body`]).
struct WriteTimeout {
    inner: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteTimeout {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    fn track<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match poll {
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    self.stalled = None;
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl AsyncRead for WriteTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.track(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.track(cx, poll)
    }
}

/// What [`bounded_body`] enforces.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl BodyLimits {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            timeout: Limits::default().body_timeout,
        }
    }
}

/// Middleware: refuses a declared `Content-Length` over the limit before reading anything (413), reads
/// the body whole under one deadline (408 past it), marks the connection as being answered until the
/// response is sent, and turns axum's plain-text rejections (a path that is not UTF-8, a malformed
/// query) into the API's JSON error shape.
pub async fn bounded_body(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared {
        if len > limits.max_bytes as u64 {
            return closing(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is {len} bytes; at most {} are accepted",
                    limits.max_bytes
                ),
            ));
        }
    }
    let (parts, body) = req.into_parts();
    let bytes =
        match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes))
            .await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                let too_large = e
                    .into_inner()
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                return closing(if too_large {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        format!("the body is over {} bytes", limits.max_bytes),
                    )
                } else {
                    ApiError::bad_request("unreadable_body", "the request body could not be read")
                });
            }
            Err(_) => {
                return closing(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        limits.timeout.as_secs()
                    ),
                ))
            }
        };
    let guard = parts.extensions.get::<ConnBusy>().map(ConnBusy::enter);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let response = json_rejection(response).await;
    match guard {
        Some(guard) => response.map(|body| {
            Body::new(Guarded {
                inner: body,
                _guard: guard,
            })
        }),
        None => response,
    }
}

/// An error answer after which the connection closes, so an unread body is never read.
fn closing(err: ApiError) -> Response {
    let mut response = err.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// axum answers extractor rejections (a path segment that is not UTF-8, a query that does not parse)
/// as `text/plain`; the API's clients branch on `{"error", "reason"}`.
async fn json_rejection(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text: Bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    let mut fixed = ApiError::new(
        status,
        code,
        String::from_utf8_lossy(&text).trim().to_owned(),
    )
    .into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

/// A response body that keeps its connection marked busy until it has been sent (or dropped).
struct Guarded {
    inner: Body,
    _guard: BusyGuard,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_cap_follows_the_file_limit() {
        assert_eq!(max_connections_for(Some(1024)), 512);
        assert_eq!(max_connections_for(Some(20)), 16);
        assert_eq!(max_connections_for(Some(1 << 20)), 1024);
        assert_eq!(max_connections_for(None), 512);
    }

    #[test]
    fn eviction_takes_the_oldest_idle_connection_and_never_a_busy_one() {
        let mut r = Registry::default();
        let busy = ConnBusy::default();
        let _g = busy.enter();
        for b in [busy.clone(), ConnBusy::default(), ConnBusy::default()] {
            r.add(b, Arc::new(Notify::new()));
        }
        assert!(r.evict_oldest_idle());
        assert!(!r.conns[&0].killed && r.conns[&1].killed && !r.conns[&2].killed);
        assert!(r.evict_oldest_idle());
        assert!(!r.evict_oldest_idle(), "only the busy one is left");
        assert_eq!(r.live(), 1);
    }

    #[test]
    fn eviction_spares_a_kept_alive_client_while_a_never_answered_connection_is_idle() {
        let mut r = Registry::default();
        let kept_alive = ConnBusy::default();
        drop(kept_alive.enter());
        for b in [kept_alive.clone(), ConnBusy::default(), ConnBusy::default()] {
            r.add(b, Arc::new(Notify::new()));
        }
        assert!(r.evict_oldest_idle() && r.conns[&1].killed && !r.conns[&0].killed);
        assert!(r.evict_oldest_idle() && r.conns[&2].killed && !r.conns[&0].killed);
        assert!(
            r.evict_oldest_idle() && r.conns[&0].killed,
            "then the served one"
        );
        assert!(!r.evict_oldest_idle());
    }
}
