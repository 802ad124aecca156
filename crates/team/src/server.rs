//! The team worker: Claude Code's hooks and the read API over the shared PostgreSQL store.
//!
//! Every replica is stateless apart from its vector graphs (derived from the table), so a load balancer
//! may send any request to any replica. Every request but `/api/health` carries a user's API token; the
//! token decides the team, and the team bounds everything the request can read or write.

use crate::pg_store::access_denied;
use crate::search::TeamSearch;
use crate::vectors::Vectors;
use crate::{Owner, PgStore, TeamError};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use claude_mem_core::compress::ObservationType;
use claude_mem_core::processor::Processor;
use claude_mem_core::store::ForgetTarget;
use claude_mem_core::store::ObservationRow;
use claude_mem_core::{DataDir, IngestOutcome, Settings, Storage};
use claude_mem_search::Mode;
use claude_mem_server::api_error::{method_not_allowed, ApiError};
use claude_mem_server::hooks::hook_answer;
use claude_mem_server::memories_api::{TimelineAt, TimelineQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// Longest search query accepted, as on the laptop.
const MAX_QUERY_BYTES: usize = 2000;
/// Longest line of one memory in the SessionStart block: titles and subtitles are short, but a runaway
/// one must not eat the context budget.
const MAX_CONTEXT_LINE: usize = 300;

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
    started: Instant,
}

pub struct TeamWorker {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: TeamState,
    vectors: Arc<Vectors>,
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
        Ok(Self {
            listener,
            local_addr,
            vectors,
            state: TeamState {
                store,
                search,
                processor,
                settings: Arc::new(settings),
                started: Instant::now(),
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
        let (stop, stopped) = tokio::sync::watch::channel(false);
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

fn router(state: TeamState) -> Router {
    Router::new()
        .route("/hooks/{event}", post(receive_hook))
        .route("/api/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/search", get(search))
        .route("/api/observations", get(list_observations))
        .route(
            "/api/observations/{id}",
            get(get_observation).delete(delete_observation),
        )
        .route("/api/timeline", get(timeline))
        .route("/api/memories", post(save_memory))
        .route("/api/forget", post(forget))
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
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                challenge(unauthorized(
                    "an API token is required: Authorization: Bearer <token> (`claude-mem team add-user` issues one)",
                ))
            })?;
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
        TeamError::Store(e) => store_error(e),
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

/// A refused write (another team's session) is the caller's fault: 403; the rest as on the laptop.
fn store_error(e: claude_mem_core::StoreError) -> ApiError {
    if let Some(reason) = access_denied(&e) {
        tracing::warn!(reason, "write refused");
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", reason);
    }
    ApiError::from(e)
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
    let project = parsed.project.clone();
    let team_id = owner.team_id;
    let user = owner.user.clone();
    let outcome = state
        .store
        .scoped(owner)
        .ingest(parsed)
        .await
        .map_err(store_error)?;
    match outcome {
        IngestOutcome::Stored { event_id, .. } => {
            tracing::debug!(event = %event_name, session = %session_id, user = %user, event_id, "hook event stored")
        }
        IngestOutcome::Duplicate { event_id } => {
            tracing::debug!(event = %event_name, session = %session_id, event_id, "duplicate hook event ignored")
        }
    }
    let context = if event_name == "SessionStart" {
        session_context(&state, team_id, &project).await
    } else {
        String::new()
    };
    claude_mem_server::metrics::record_hook(&event_name, started.elapsed());
    Ok(Json(hook_answer(&event_name, &context)))
}

/// The team's newest memories of this project, as a short markdown list. Errors give no context:
/// recall must never turn a session start into a failure.
async fn session_context(state: &TeamState, team_id: i64, project: &str) -> String {
    let settings = &state.settings.context;
    if !settings.enabled {
        return String::new();
    }
    let limit = i64::try_from(settings.max_observations).unwrap_or(40);
    let rows = match state
        .store
        .recent_observations(team_id, Some(project), limit)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the team session context");
            return String::new();
        }
    };
    render_context(project, &rows, settings.budget_tokens)
}

/// Newest first, stopping at the token budget (≈ 4 characters a token, as the laptop estimates).
fn render_context(project: &str, rows: &[ObservationRow], budget_tokens: usize) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let budget_chars = budget_tokens.saturating_mul(4);
    let mut out = format!(
        "# Team memory: {project}\n\nRecent observations from your team, newest first:\n\n"
    );
    for o in rows {
        let mut line = format!("- #{} [{}] {}", o.id, o.kind, o.title);
        if !o.subtitle.is_empty() {
            let _ = write!(line, ": {}", o.subtitle);
        }
        if line.len() > MAX_CONTEXT_LINE {
            let mut cut = MAX_CONTEXT_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        if out.len() + line.len() + 1 > budget_chars {
            break;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
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
    Ok(Json(json!({
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
    })))
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

/// The laptop's search parameters; the team server searches observations only (summaries and prompts
/// are not shared), so `kind` without `observation` finds nothing.
#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    project: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    strategy: Option<String>,
    /// The laptop API's name for `strategy`.
    mode: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "kind")]
    kinds: Option<String>,
    since: Option<String>,
    until: Option<String>,
    file: Option<String>,
    order: Option<String>,
    min_score: Option<f32>,
}

/// At most this many hits are ranked before filters and the offset apply (the laptop's candidate pool).
const RANKED_HITS: usize = 200;

/// Answers as the laptop does (`results[]` of `{kind, score, text_score, vector_score, observation}`), so
/// every client reads one shape.
async fn search(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let Query(q) = query?;
    let invalid = |reason: String| ApiError::bad_request("invalid_query", reason);
    let text = q.q.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(invalid("q must not be empty".into()));
    }
    if text.len() > MAX_QUERY_BYTES {
        return Err(invalid(format!("q is longer than {MAX_QUERY_BYTES} bytes")));
    }
    let mode = match q.strategy.as_deref().or(q.mode.as_deref()) {
        None => Mode::Hybrid,
        Some(m) => Mode::parse(m)
            .ok_or_else(|| invalid(format!("mode {m:?} is not hybrid, text or vector")))?,
    };
    let limit = q.limit.unwrap_or(20);
    if !(1..=RANKED_HITS).contains(&limit) {
        return Err(invalid(format!(
            "limit must be between 1 and {RANKED_HITS}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    if offset >= RANKED_HITS {
        return Err(invalid(format!("offset must be below {RANKED_HITS}")));
    }
    if let Some(t) = q.kind.as_deref() {
        if ObservationType::parse(t).is_none() {
            return Err(invalid(format!(
                "type {t:?} is not one of decision, bugfix, feature, refactor, discovery, change"
            )));
        }
    }
    // The laptop's reading of `kind`; a team shares observations only, so the others find nothing.
    let observations = claude_mem_server::search_api::parse_kinds(q.kinds.as_deref())
        .map_err(invalid)?
        .contains(&claude_mem_search::Source::Observation);
    let now = claude_mem_core::clock::now_ms();
    let instant = |name: &str, v: Option<&str>| -> Result<Option<i64>, ApiError> {
        v.map(|s| {
            claude_mem_server::search_api::parse_since(s, now).ok_or_else(|| {
                invalid(format!(
                    "{name} {s:?} is not epoch ms, YYYY-MM-DD, RFC 3339 or 30m/12h/7d/2w"
                ))
            })
        })
        .transpose()
    };
    let since = instant("since", q.since.as_deref())?;
    let until = instant("until", q.until.as_deref())?;
    let newest = match q.order.as_deref() {
        None | Some("relevance") => false,
        Some("newest") => true,
        Some(o) => return Err(invalid(format!("order {o:?} is not relevance or newest"))),
    };
    let min_score = q.min_score.unwrap_or(0.0);
    let file = q.file.as_deref().map(str::trim).filter(|f| !f.is_empty());
    let project = q.project.filter(|p| !p.trim().is_empty());
    let hits = if observations {
        state
            .search
            .search(owner.team_id, &text, project.as_deref(), mode, RANKED_HITS)
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
        .filter(|h| h.score >= min_score)
        .filter(|h| q.kind.as_deref().is_none_or(|t| h.observation.kind == t))
        .filter(|h| since.is_none_or(|s| h.observation.created_at >= s))
        .filter(|h| until.is_none_or(|u| h.observation.created_at <= u))
        .filter(|h| file.is_none_or(|f| touches(&h.observation, f)))
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

#[derive(Debug, Deserialize)]
struct ListQuery {
    project: Option<String>,
    limit: Option<i64>,
    before_id: Option<i64>,
}

/// Newest first, a page at a time (`next_before_id` as on the laptop).
async fn list_observations(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=claude_mem_server::api::MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "limit must be between 1 and {}",
                claude_mem_server::api::MAX_PAGE
            ),
        ));
    }
    let project = q.project.filter(|p| !p.trim().is_empty());
    let rows = state
        .store
        .observations_page(owner.team_id, project.as_deref(), q.before_id, limit)
        .await
        .map_err(api_error)?;
    let next_before_id = if rows.len() as i64 == limit {
        rows.last().map(|o| o.id)
    } else {
        None
    };
    Ok(Json(
        json!({ "observations": rows, "next_before_id": next_before_id }),
    ))
}

/// The laptop's `/api/timeline`, within the caller's team.
async fn timeline(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let (at, before, after) = q.checked()?;
    let anchor = match at {
        TimelineAt::Anchor(id) => Some(id),
        TimelineAt::Near { at_ms, project } => state
            .store
            .observation_near_time(owner.team_id, project.as_deref(), at_ms)
            .await
            .map_err(api_error)?,
    };
    let Some(anchor) = anchor else {
        return Ok(Json(json!({ "anchor": null, "observations": [] })));
    };
    let observations = state
        .store
        .timeline_around(owner.team_id, anchor, before, after)
        .await
        .map_err(api_error)?
        .ok_or_else(|| ApiError::not_found(format!("no observation {anchor}")))?;
    Ok(Json(
        json!({ "anchor": anchor, "observations": observations }),
    ))
}

/// The laptop's `POST /api/memories` (the same checks and redaction), filed under the caller.
async fn save_memory(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let memory = claude_mem_server::memories_api::memory_from_body(&body?)?;
    let saved = state
        .store
        .save_memory(&owner, memory)
        .await
        .map_err(api_error)?;
    ::metrics::counter!(claude_mem_core::processor::OBSERVATIONS_CREATED_TOTAL).increment(1);
    tracing::info!(id = saved.id, project = %saved.project, user = %owner.user, "memory saved");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": saved.id, "observation": saved })),
    ))
}

/// Most targets one `forget` takes, as on the laptop.
const MAX_FORGET_TARGETS: usize = 1000;

#[derive(Debug, Deserialize)]
struct ForgetBody {
    targets: Vec<ForgetTarget>,
    #[serde(default)]
    reason: Option<String>,
}

/// The laptop's `POST /api/forget` for what a team shares: observations. The answer has the laptop's
/// shape (`forgotten`, `deleted` per table, `missing` targets).
async fn forget(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: ForgetBody = serde_json::from_slice(&body?).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected {{\"targets\": [{{\"kind\": \"observation\", \"id\": 12}}], \"reason\": \"…\"}}: {e}"),
        )
    })?;
    if body.targets.is_empty() || body.targets.len() > MAX_FORGET_TARGETS {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("give 1 to {MAX_FORGET_TARGETS} targets"),
        ));
    }
    let mut ids = Vec::with_capacity(body.targets.len());
    for target in &body.targets {
        match target {
            ForgetTarget::Observation(id) => ids.push(*id),
            other => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!(
                        "{other:?}: a team server shares observations only; forget those by id"
                    ),
                ))
            }
        }
    }
    let gone = forget_ids(&state, &owner, &ids, body.reason.as_deref()).await?;
    Ok(Json(forget_answer(&ids, &gone)))
}

/// `DELETE /api/observations/{id}`: 404 when the team has no such observation.
async fn delete_observation(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", format!("{id:?} is not an id")))?;
    let gone = forget_ids(&state, &owner, &[id], None).await?;
    if gone.is_empty() {
        return Err(ApiError::not_found(format!("no observation {id}")));
    }
    Ok(Json(forget_answer(&[id], &gone)))
}

async fn forget_ids(
    state: &TeamState,
    owner: &Owner,
    ids: &[i64],
    reason: Option<&str>,
) -> Result<Vec<i64>, ApiError> {
    let gone = state
        .store
        .forget_observations(owner.team_id, ids)
        .await
        .map_err(api_error)?;
    tracing::info!(user = %owner.user, team = %owner.team, forgotten = gone.len(), reason = reason.unwrap_or(""), "memories forgotten");
    Ok(gone)
}

fn forget_answer(asked: &[i64], gone: &[i64]) -> Value {
    let missing: Vec<ForgetTarget> = asked
        .iter()
        .filter(|id| !gone.contains(id))
        .map(|id| ForgetTarget::Observation(*id))
        .collect();
    json!({
        "forgotten": !gone.is_empty(),
        "deleted": { "observations": gone.len() },
        "missing": missing,
        "index": "updated",
    })
}

/// Another team's id answers exactly like a missing one: 404, so ids reveal nothing across teams.
async fn get_observation(
    State(state): State<TeamState>,
    Authed(owner): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", format!("{id:?} is not an id")))?;
    let row = state
        .store
        .get_observations(owner.team_id, &[id])
        .await
        .map_err(api_error)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("no observation {id}")))?;
    Ok(Json(json!({ "observation": row })))
}

/// Unknown routes: JSON 404 (the team server has no viewer).
async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, title: &str) -> ObservationRow {
        ObservationRow {
            id,
            session_id: "s".into(),
            project: "p".into(),
            prompt_number: 1,
            kind: "change".into(),
            title: title.into(),
            subtitle: String::new(),
            narrative: String::new(),
            facts: vec![],
            concepts: vec![],
            files_read: vec![],
            files_modified: vec![],
            keywords: vec![],
            source_event_ids: vec![],
            input_tokens: 0,
            output_tokens: 0,
            compressor: "local".into(),
            model: None,
            created_at: 0,
            author: None,
        }
    }

    #[test]
    fn context_stays_within_budget_and_cuts_long_lines() {
        assert_eq!(render_context("p", &[], 2000), "");
        let long = "é".repeat(400);
        let rows: Vec<_> = (0..100).map(|i| row(i, &long)).collect();
        let text = render_context("p", &rows, 200);
        assert!(text.len() <= 800, "{}", text.len());
        assert!(text.contains("- #0 [change] "));
        assert!(text
            .lines()
            .all(|l| l.len() <= MAX_CONTEXT_LINE + '…'.len_utf8()));
    }
}
