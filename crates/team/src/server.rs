//! The team worker: Claude Code's hooks and the read API over the shared PostgreSQL store.
//!
//! Every replica is stateless apart from its vector graphs (derived from the table), so a load balancer
//! may send any request to any replica. Every request but `/api/health` carries a user's API token; the
//! token decides the team, and the team bounds everything the request can read or write.

use crate::search::TeamSearch;
use crate::vectors::Vectors;
use crate::{Owner, PgStore, TeamError};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use claude_mem_core::context::Lang;
use claude_mem_core::model::ObservationRow;
use claude_mem_core::processor::Processor;
use claude_mem_core::settings::LiveContextSettings;
use claude_mem_core::storage::SharedMemory;
use claude_mem_core::{DataDir, IngestOutcome, Settings, Storage};
use claude_mem_server::api_error::{method_not_allowed, ApiError};
use claude_mem_server::api_state::{ApiState, HealthProbe};
use claude_mem_server::auth::{bearer, cookie, cookie_context_ok, SESSION_COOKIE};
use claude_mem_server::context_api;
use claude_mem_server::hooks::hook_answer;
use claude_mem_server::routes::api_routes;
use claude_mem_server::search_api::{CheckedSearch, SearchQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;

/// What `claude-mem serve --database postgres://…` runs with.
#[derive(Debug, Clone)]
pub struct TeamConfig {
    pub database_url: String,
    /// Host/port, compression, embedder and search settings come from the usual settings file.
    pub settings: Settings,
    /// Where the embedding model and logs are (no database here).
    pub data_dir: DataDir,
    /// Pool size per replica.
    pub max_connections: u32,
}

#[derive(Clone)]
struct TeamState {
    store: PgStore,
    search: TeamSearch,
    processor: Arc<Processor>,
    settings: Arc<Settings>,
    context: LiveContextSettings,
    started: Instant,
    /// Flips when the server stops, ending live streams.
    shutdown: watch::Receiver<bool>,
}

pub struct TeamWorker {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: TeamState,
    vectors: Arc<Vectors>,
    stop: watch::Sender<bool>,
}

impl TeamWorker {
    /// Connects (migrating the schema), loads the embedder and binds the listener; serves nothing
    /// until [`TeamWorker::run`].
    pub async fn bind(config: TeamConfig) -> Result<Self, TeamError> {
        claude_mem_server::metrics::install();
        let TeamConfig {
            database_url,
            settings,
            data_dir,
            max_connections,
        } = config;
        let store = PgStore::connect(&database_url, max_connections).await?;
        let bound = async {
            let addr = format!("{}:{}", settings.host, settings.port);
            let listener = TcpListener::bind((settings.host.as_str(), settings.port))
                .await
                .map_err(|e| TeamError::Other(format!("cannot listen on {addr}: {e}")))?;
            let local_addr = listener
                .local_addr()
                .map_err(|e| TeamError::Other(format!("cannot listen on {addr}: {e}")))?;
            let llm = claude_mem_core::compress::select::llm_compressor_in(&settings, &data_dir)
                .map_err(|e| TeamError::Other(format!("cannot set up the compressor: {e}")))?;
            let vectors = Vectors::open(&store, &settings, &data_dir).await?;
            Ok::<_, TeamError>((listener, local_addr, llm, vectors))
        }
        .await;
        let (listener, local_addr, llm, vectors) = match bound {
            Ok(parts) => parts,
            Err(e) => {
                store.close().await;
                return Err(e);
            }
        };
        let processor = Arc::new(Processor::with_storage(
            Arc::new(store.clone()),
            llm,
            settings.compression.processor_config(),
        ));
        let search = TeamSearch::new(store.clone(), vectors.clone(), &settings.search);
        let (stop, stopped) = watch::channel(false);
        Ok(Self {
            listener,
            local_addr,
            vectors,
            stop,
            state: TeamState {
                store,
                search,
                processor,
                context: LiveContextSettings::new(settings.context.clone()),
                settings: Arc::new(settings),
                started: Instant::now(),
                shutdown: stopped,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn replica_id(&self) -> &str {
        self.state.store.replica_id()
    }

    /// Serves until `shutdown` resolves and in-flight requests finish, then stops the background work,
    /// hands this replica's claims back (so the others take its sessions at once) and closes the pool.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), TeamError> {
        let store = self.state.store.clone();
        let (stop, stopped) = (self.stop, self.state.shutdown.clone());
        let processor = self
            .state
            .settings
            .compression
            .enabled
            .then(|| tokio::spawn(self.state.processor.clone().run(stopped.clone())));
        let embedder = tokio::spawn(self.vectors.clone().embed_loop(stopped.clone()));
        let follower = tokio::spawn(self.vectors.clone().follow(stopped));
        tracing::info!(
            addr = %self.local_addr,
            replica = %store.replica_id(),
            vectors = self.vectors.mode().as_str(),
            "team worker listening"
        );
        // The laptop worker's accept loop: timeouts, a connection cap, a shutdown deadline.
        let app = router(self.state);
        // Stopping starts with the signal, not after the drain: live streams never finish on their own.
        let stop = Arc::new(stop);
        let stop_at_signal = Arc::clone(&stop);
        let shutdown = async move {
            shutdown.await;
            let _ = stop_at_signal.send(true);
        };
        let result = claude_mem_server::serve::serve(
            self.listener,
            app,
            claude_mem_server::serve::Limits::default(),
            shutdown,
        )
        .await;
        let _ = stop.send(true);
        if let Some(task) = processor {
            let _ = task.await;
        }
        let _ = embedder.await;
        let _ = follower.await;
        match store.release_all_claims().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "processing claims handed back"),
            Err(e) => tracing::warn!(error = %e, "cannot hand processing claims back; they expire"),
        }
        store.close().await;
        tracing::info!("team worker stopped");
        result.map_err(|e| TeamError::Other(format!("the HTTP server failed: {e}")))
    }
}

/// The team's own routes (hooks and search with a token, health without, metrics) and every route the
/// laptop serves over its store ([`api_routes`]), here over the caller's team-scoped store.
fn router(state: TeamState) -> Router {
    let shared = api_routes::<TeamState>().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        scope_to_caller,
    ));
    Router::new()
        .route("/hooks/{event}", post(receive_hook))
        .route("/api/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/search", get(search))
        .route(
            "/api/openapi.json",
            get(claude_mem_server::openapi::openapi_json),
        )
        .route(SIGN_IN_PATH, post(sign_in))
        .merge(laptop_only())
        .merge(shared)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            claude_mem_server::serve::BodyLimits::new(state.settings.max_body_bytes),
            claude_mem_server::serve::bounded_body,
        ))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Before a shared route: the caller's token decides the team, and the handler gets that team's store
/// (the laptop's handlers read it through `Db`); without a valid token, 401 and nothing is read.
async fn scope_to_caller(State(state): State<TeamState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let owner = match Authed::from_request_parts(&mut parts, &state).await {
        Ok(Authed(owner)) => owner,
        Err(refused) => return refused,
    };
    let db: SharedMemory = Arc::new(state.store.scoped(owner));
    parts.extensions.insert(db);
    next.run(Request::from_parts(parts, body)).await
}

impl FromRef<TeamState> for ApiState {
    fn from_ref(state: &TeamState) -> Self {
        ApiState {
            // No store for "everyone": each request brings its team's (scope_to_caller).
            db: None,
            settings: state.settings.clone(),
            context: state.context.clone(),
            search: None,
            search_reads_store: true,
            health: Arc::new(state.clone()),
            shutdown: state.shutdown.clone(),
        }
    }
}

/// The live stream's `health` event: what a probe without a token sees (no team's counts).
#[async_trait::async_trait]
impl HealthProbe for TeamState {
    async fn health_json(&self) -> Result<Value, ApiError> {
        Ok(health_answer(self, None))
    }
}

/// The caller, from `Authorization: Bearer <token>`. As an extractor it runs before the body is read,
/// so an unauthenticated hook is refused without storing or even parsing anything.
struct Authed(Owner);

fn unauthorized(reason: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", reason)
}

impl FromRequestParts<TeamState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &TeamState) -> Result<Self, Response> {
        let challenge = |e: ApiError| {
            let mut r = e.into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"claude-mem\""),
            );
            r
        };
        // The bearer token (hooks, CLI, MCP), else the viewer's cookie, which holds the same token and
        // counts only on the server's own pages (a cross-site request never carries it: SameSite).
        let token = match bearer(&parts.headers) {
            Some(t) if !t.is_empty() => t,
            _ => cookie(&parts.headers, SESSION_COOKIE)
                .filter(|t| !t.is_empty() && cookie_context_ok(&parts.headers))
                .ok_or_else(|| {
                    challenge(unauthorized(
                        "an API token is required: Authorization: Bearer <token> (`claude-mem team add-user` issues one)",
                    ))
                })?,
        };
        match state.store.authenticate(token).await {
            Ok(Some(owner)) => Ok(Authed(owner)),
            Ok(None) => Err(challenge(unauthorized("unknown or revoked API token"))),
            Err(e) => Err(api_error(e).into_response()),
        }
    }
}

/// A team error as the API's JSON error; database trouble is the server's (503), never the caller's.
fn api_error(e: TeamError) -> ApiError {
    match e {
        TeamError::Store(e) => ApiError::from(e),
        TeamError::Invalid { what, reason } => {
            ApiError::bad_request("invalid_request", format!("invalid {what}: {reason}"))
        }
        e @ (TeamError::UnknownTeam(_) | TeamError::UnknownUser { .. }) => {
            ApiError::not_found(e.to_string())
        }
        TeamError::Forbidden(reason) => {
            tracing::warn!(reason = %reason, "request refused");
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", reason)
        }
        TeamError::Exists(what) => ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("{what} already exists"),
        ),
        e @ (TeamError::Database(_) | TeamError::Migrate(_)) => {
            tracing::error!(error = %e, "team database error");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                e.to_string(),
            )
        }
        TeamError::Other(reason) => {
            tracing::error!(error = %reason, "team worker error");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", reason)
        }
    }
}

async fn receive_hook(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    Path(event): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let parsed = claude_mem_server::hooks::parse_hook(&event, body)?;
    let event_name = parsed.event_name.clone();
    if let Some(reason) = claude_mem_core::capture::skip_reason(&state.settings.capture, &parsed) {
        claude_mem_server::hooks::skipped(&parsed, reason);
        claude_mem_server::metrics::record_hook(&event_name, started.elapsed());
        return Ok(Json(hook_answer(&event_name, "")));
    }
    let session_id = parsed.session_id.clone();
    let user = owner.user.clone();
    let scoped = state.store.scoped(owner);
    // Read before the event is stored: storing it moves the session's last activity to now.
    let resumed_after = context_api::resumed_after(&scoped, &parsed).await;
    let recall_for =
        matches!(event_name.as_str(), "SessionStart" | "PreToolUse").then(|| parsed.clone());
    let outcome = scoped.ingest(parsed).await.map_err(ApiError::from)?;
    match outcome {
        IngestOutcome::Stored { event_id, .. } => {
            tracing::debug!(event = %event_name, session = %session_id, user = %user, event_id, "hook event stored")
        }
        IngestOutcome::Duplicate { event_id } => {
            tracing::debug!(event = %event_name, session = %session_id, event_id, "duplicate hook event ignored")
        }
    }
    // The laptop's recall over the team's memories: ranked, with the last summary, resume-aware.
    let settings = state.context.get();
    let lang = Lang::from_settings(&state.settings);
    let context = match &recall_for {
        Some(event) if event_name == "SessionStart" => {
            context_api::session_start(&scoped, &settings, lang, event, resumed_after).await
        }
        Some(event) => context_api::file_context(&scoped, &settings, lang, event).await,
        None => String::new(),
    };
    claude_mem_server::metrics::record_hook(&event_name, started.elapsed());
    Ok(Json(hook_answer(&event_name, &context)))
}

/// Load balancers and readiness probes poll this without a token: they get a database ping (cheap at
/// any size, and a 503 when PostgreSQL is unreachable) and nothing about the teams' data. A caller with a
/// token also gets their own team's counts.
async fn health(
    State(state): State<TeamState>,
    caller: Result<Authed, Response>,
) -> Result<Json<Value>, ApiError> {
    let counts = match caller {
        Ok(Authed(owner)) => Some(
            state
                .store
                .counts(Some(owner.team_id))
                .await
                .map_err(api_error)?,
        ),
        Err(_) => {
            sqlx::query("SELECT 1")
                .execute(state.store.pool())
                .await
                .map_err(|e| api_error(TeamError::Database(e)))?;
            None
        }
    };
    Ok(Json(health_answer(&state, counts)))
}

/// `/api/health`'s body; the pid only for a member (with their team's counts).
fn health_answer(state: &TeamState, counts: Option<crate::pg_store::TeamCounts>) -> Value {
    json!({
        "status": "ok",
        "version": claude_mem_core::VERSION,
        "backend": state.processor_backend(),
        "replica": state.store.replica_id(),
        // Who runs where is for members only: a probe without a token learns the status and version.
        "pid": counts.as_ref().map(|_| std::process::id()),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "vectors": state.search.vectors().status(),
        "processor": state.processor.status(),
        "counts": counts,
    })
}

impl TeamState {
    fn processor_backend(&self) -> &'static str {
        Storage::backend(&self.store)
    }
}

/// Prometheus text: the hook, search and processor series this replica recorded, then the laptop's
/// scrape-time gauges read from PostgreSQL (the whole server's, all teams: this is the operator's view),
/// so the shipped alert rules on queue depth, database size and cost fire for a team server too.
async fn metrics(State(state): State<TeamState>) -> Response {
    let Some(handle) = claude_mem_server::metrics::install() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "another metrics recorder is installed in this process",
        )
        .into_response();
    };
    let figures = match db_figures(&state).await {
        Ok(f) => f,
        Err(e) => return api_error(e).into_response(),
    };
    let mut body = handle.render();
    if !body.is_empty() && !body.ends_with("\n\n") {
        body.push('\n');
    }
    let (db, db_bytes) = figures;
    body.push_str(&claude_mem_server::metrics::render_gauges(
        &db,
        state.started.elapsed(),
        memory_stats::memory_stats().map(|m| m.physical_mem as u64),
        db_bytes,
        Some(state.search.vectors().status().indexed),
    ));
    (
        [(
            header::CONTENT_TYPE,
            claude_mem_server::metrics::CONTENT_TYPE,
        )],
        body,
    )
        .into_response()
}

/// The laptop's `DbFigures` over the PostgreSQL tables, and the database's size: one statement.
async fn db_figures(
    state: &TeamState,
) -> Result<(claude_mem_server::metrics::DbFigures, u64), TeamError> {
    let active_since =
        claude_mem_core::clock::now_ms() - claude_mem_server::metrics::ACTIVE_WINDOW_MS;
    let row: (i64, i64, i64, i64, i64, f64, i64) = sqlx::query_as(
        "SELECT
               (SELECT COUNT(*) FROM sdk_sessions),
               (SELECT COUNT(*) FROM sdk_sessions WHERE status = 'active' AND last_seen_at >= $1),
               (SELECT COUNT(*) FROM observations),
               (SELECT COUNT(*) FROM pending_messages WHERE state IN ('pending', 'processing')),
               (SELECT COALESCE(SUM(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens), 0)::bigint
                  FROM llm_usage),
               (SELECT COALESCE(SUM(cost_usd), 0.0)::float8 FROM llm_usage),
               pg_database_size(current_database())",
    )
    .bind(active_since)
    .fetch_one(state.store.pool())
    .await?;
    let (sessions, sessions_active, observations, queue_depth, tokens, cost_usd, bytes) = row;
    Ok((
        claude_mem_server::metrics::DbFigures {
            sessions,
            sessions_active,
            observations,
            queue_depth,
            tokens,
            cost_usd,
        },
        u64::try_from(bytes).unwrap_or(0),
    ))
}

/// At most this many hits are ranked before filters and the offset apply (the laptop's candidate pool).
const RANKED_HITS: usize = 200;

/// The laptop's `/api/search`: the same parameters, checked by the same code
/// (`search_api::SearchQuery::checked`), and the laptop's `results[]` of `{kind, score, text_score,
/// vector_score, observation}`, so every client reads one shape. A team shares observations only:
/// `kind=summary` or `prompt` finds nothing here.
async fn search(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let Query(q) = query?;
    let CheckedSearch {
        text,
        mode,
        project,
        kind,
        since_ms,
        until_ms,
        limit,
        offset,
        min_score,
        sources,
        file,
        newest,
    } = q.checked()?;
    let observations = sources.contains(&claude_mem_search::Source::Observation);
    let project = project.filter(|p| !p.trim().is_empty());
    let hits = if observations {
        state
            .search
            .search(
                owner.team_id,
                &text,
                project.as_deref(),
                mode,
                RANKED_HITS,
                min_score,
            )
            .await
            .map_err(api_error)?
    } else {
        Vec::new()
    };
    // The laptop's file matching (`db.rs`, `store/db.rs` or an absolute path name `src/store/db.rs`).
    let touches = |o: &ObservationRow, f: &str| {
        o.files_read
            .iter()
            .chain(&o.files_modified)
            .any(|p| claude_mem_core::store::path_matches(p, f))
    };
    let mut kept: Vec<_> = hits
        .into_iter()
        .filter(|h| kind.as_deref().is_none_or(|t| h.observation.kind == t))
        .filter(|h| since_ms.is_none_or(|s| h.observation.created_at >= s))
        .filter(|h| until_ms.is_none_or(|u| h.observation.created_at <= u))
        .filter(|h| file.as_deref().is_none_or(|f| touches(&h.observation, f)))
        .collect();
    if newest {
        kept.sort_by(|a, b| {
            (b.observation.created_at, b.observation.id)
                .cmp(&(a.observation.created_at, a.observation.id))
        });
    }
    let results: Vec<Value> = kept
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|h| {
            json!({
                "kind": "observation",
                "score": h.score, "text_score": h.text_score, "vector_score": h.vector_score,
                "observation": h.observation,
            })
        })
        .collect();
    claude_mem_server::metrics::record_search(mode, started.elapsed());
    Ok(Json(json!({
        "mode": mode,
        "kinds": if observations { vec!["observation"] } else { vec![] },
        "order": if newest { "newest" } else { "relevance" },
        "results": results,
        "team": owner.team,
        "search_ms": started.elapsed().as_secs_f64() * 1000.0,
    })))
}

/// The laptop's routes that change the worker itself (its settings file, capture switch, logs, setup,
/// admin jobs): on a team server those are the operator's (the server's settings file and environment),
/// so a member is told so instead of "no such endpoint".
fn laptop_only() -> Router<TeamState> {
    async fn operators_only() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_only",
            "a team server's settings, capture, logs and maintenance are its operator's (the server's \
             settings file and environment); members read and edit memories only",
        )
    }
    let refused = || axum::routing::any(operators_only);
    [
        "/api/settings",
        "/api/capture",
        "/api/logs",
        "/api/setup",
        "/api/setup/connect",
        "/api/reindex",
        "/api/admin/{action}",
        "/api/sessions/off",
        "/api/projects/{name}/rename",
        "/api/auth/code",
    ]
    .into_iter()
    .fold(Router::new(), |router, path| router.route(path, refused()))
}

/// Where the sign-in form posts a member's token.
const SIGN_IN_PATH: &str = "/api/auth/session";

const SIGN_IN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>claude-mem team: sign in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}
input{font:inherit;width:100%;padding:.4em;margin:.5em 0;box-sizing:border-box}
button{font:inherit;padding:.4em 1.2em}</style></head>
<body data-testid="team-sign-in"><h1>claude-mem team</h1>
<p>__MESSAGE__</p>
<form method="post" action="/api/auth/session">
<label for="token">Your API token (<code>claude-mem team add-user</code> printed it)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>
"#;

fn sign_in_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SIGN_IN_PAGE.replace("__MESSAGE__", message),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// The sign-in form's `token=…` (or JSON `{"token": …}`): a valid token becomes an HttpOnly,
/// SameSite=Strict cookie and a redirect to the viewer. The cookie holds the token itself, so every
/// replica checks it against the database as it checks a bearer token, and revoking the token (or
/// removing the user) signs the browser out everywhere.
async fn sign_in(
    State(state): State<TeamState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form: Option<SignIn> = if json {
        serde_json::from_slice(&body).ok()
    } else {
        serde_urlencoded::from_bytes(&body).ok()
    };
    let Some(token) = form
        .map(|f| f.token.trim().to_owned())
        .filter(|t| !t.is_empty())
    else {
        return sign_in_page(StatusCode::BAD_REQUEST, "Paste your API token to sign in.");
    };
    match state.store.authenticate(&token).await {
        Ok(Some(owner)) => {
            tracing::info!(user = %owner.user, team = %owner.team, "a browser signed in");
            let secure = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.eq_ignore_ascii_case("https"));
            let cookie = format!(
                "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{}",
                if secure { "; Secure" } else { "" }
            );
            let mut response = (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
            )
                .into_response();
            if let Ok(value) = header::HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(None) => sign_in_page(
            StatusCode::UNAUTHORIZED,
            "That token is unknown or revoked. Ask your team's administrator for a new one.",
        ),
        Err(e) => api_error(e).into_response(),
    }
}

/// Unknown routes: for a browser's GET the viewer (the sign-in form until it has the cookie), else a
/// JSON 404.
async fn not_found(
    State(state): State<TeamState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let page = matches!(
        claude_mem_server::auth::access(&method, uri.path()),
        claude_mem_server::auth::Access::Page
    );
    if page {
        let signed_in = match cookie(&headers, SESSION_COOKIE) {
            Some(token) => matches!(state.store.authenticate(token).await, Ok(Some(_))),
            None => false,
        };
        if !signed_in {
            return sign_in_page(
                StatusCode::UNAUTHORIZED,
                "Sign in to see your team's memories.",
            );
        }
    }
    claude_mem_server::api_error::not_found(method, uri).await
}
