//! Maintenance over HTTP: `POST /api/admin/prune`, `POST /api/admin/index`, `POST /api/admin/retry` and
//! `POST /api/admin/restart` (`crate::restart`).
//!
//! While the worker runs it holds the Tantivy writer lock, so a CLI cannot change the indexes itself; it
//! asks the worker. When no worker runs, the CLI calls the same functions ([`prune_everywhere`],
//! [`index_imported`], from `crate::maintenance`, re-exported here) on a store and an index it opened
//! itself, so both paths do exactly the same work.

use crate::api_error::ApiError;
use crate::maintenance::AdminError;
pub use crate::maintenance::{index_imported, prune_everywhere, ImportedIds};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use claude_mem_core::store::{PruneRequest, DAY_MS};
use serde::Deserialize;
use serde_json::{json, Value};

/// `{older_than_days}` or `{cutoff}` (epoch ms or a date), plus `project` and `dry_run`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneBody {
    older_than_days: Option<u32>,
    cutoff: Option<Value>,
    project: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("not the expected JSON: {e}")))
}

/// The cut-off a prune body asks for, checked: exactly one of the two forms, not in the future.
pub fn cutoff_of(
    older_than_days: Option<u32>,
    cutoff: Option<&Value>,
    now_ms: i64,
) -> Result<i64, String> {
    let at = match (older_than_days, cutoff) {
        (Some(_), Some(_)) => return Err("give older_than_days or cutoff, not both".into()),
        (None, None) => return Err("older_than_days or cutoff is required".into()),
        (Some(0), None) => return Err("older_than_days must be at least 1".into()),
        (Some(days), None) => now_ms - i64::from(days) * DAY_MS,
        (None, Some(Value::Number(n))) => n
            .as_i64()
            .ok_or_else(|| format!("cutoff {n} is not epoch milliseconds"))?,
        (None, Some(Value::String(s))) => {
            claude_mem_core::clock::parse_instant(s).ok_or_else(|| {
                format!("cutoff {s:?} is not a date (2026-01-31), RFC 3339 or epoch ms")
            })?
        }
        (None, Some(other)) => return Err(format!("cutoff {other} is not a date or epoch ms")),
    };
    if at > now_ms {
        return Err("the cutoff is in the future: that would delete everything".into());
    }
    Ok(at)
}

pub async fn prune(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let b: PruneBody = parse_json(body)?;
    let cutoff_ms = cutoff_of(
        b.older_than_days,
        b.cutoff.as_ref(),
        claude_mem_core::clock::now_ms(),
    )
    .map_err(|reason| ApiError::bad_request("invalid_body", reason))?;
    if b.project.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "project must not be empty",
        ));
    }
    let req = PruneRequest {
        cutoff_ms,
        project: b.project,
        dry_run: b.dry_run,
    };
    let outcome = prune_everywhere(&state.store, state.search.as_ref(), req)
        .await
        .map_err(admin_error)?;
    tracing::info!(
        deleted = outcome.report.total(),
        dry_run = outcome.report.dry_run,
        index = outcome.index,
        "prune"
    );
    Ok(Json(json!(outcome)))
}

/// Observation `ids` (the name older clients send), plus imported `summary_ids` and `prompt_ids`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexBody {
    ids: Vec<i64>,
    #[serde(default)]
    summary_ids: Vec<i64>,
    #[serde(default)]
    prompt_ids: Vec<i64>,
}

pub async fn index(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let b: IndexBody = parse_json(body)?;
    let Some(index) = state.search.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "the search index is not open",
        ));
    };
    let imported = ImportedIds {
        observations: &b.ids,
        summaries: &b.summary_ids,
        prompts: &b.prompt_ids,
    };
    let indexed = index_imported(&state.store, &index, imported)
        .await
        .map_err(admin_error)?;
    // New rows may want embeddings.
    state.store.observation_signal().notify_one();
    Ok(Json(json!({ "indexed": indexed, "index": index.status() })))
}

/// `{"all": true}` or `{"id": N}`: which parked events to retry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    all: Option<bool>,
    id: Option<i64>,
}

/// `POST /api/admin/retry`: puts parked (`failed`) events back in the queue, every one (`{"all": true}`)
/// or one (`{"id": N}`), with no attempts and due now, and wakes the processor. Answers
/// `{"requeued": n, "parked": left}`. Asking for an event that does not exist is a 404, for one that is
/// not parked a 409; retrying everything when nothing is parked requeues nothing (200, 0).
pub async fn retry(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let b: RetryBody = parse_json(body)?;
    let id = match (b.all, b.id) {
        (Some(true), None) => None,
        (None | Some(false), Some(id)) => Some(id),
        (Some(true), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give \"all\": true or \"id\", not both",
            ))
        }
        (Some(false), None) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "\"all\": false retries nothing; give \"all\": true or an \"id\"",
            ))
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "\"all\": true or \"id\" (a parked event's id) is required",
            ))
        }
    };
    if let Some(id) = id {
        match state.store.event_state(id).await?.as_deref() {
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_event",
                    format!("there is no event {id}"),
                ))
            }
            Some("failed") => {}
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_parked",
                    format!("event {id} is not parked (it is {other})"),
                ))
            }
        }
    }
    let requeued = state.store.requeue_failed(id).await?;
    let parked = state.store.parked_count().await?;
    tracing::info!(requeued, parked, ?id, "parked events requeued");
    Ok(Json(json!({ "requeued": requeued, "parked": parked })))
}

/// `POST /api/admin/restart`: the worker stops gracefully and starts again in the same process with
/// the settings re-read (`crate::restart`), answering 202 before it goes. Loopback only, whatever the
/// token: a restart drops every open connection, which a remote client (a team member, a dashboard)
/// has no business doing to this user's worker. 409 when nothing would start the worker again.
pub async fn restart(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    if !peer.is_some_and(|p| p.0.ip().is_loopback()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "loopback_only",
            "the worker can only be restarted from this machine",
        ));
    }
    if !state.restart.is_supervised() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_restart",
            "this worker was not started by `claude-mem serve` or the desktop app, so nothing would start it again; restart it the way it was started",
        ));
    }
    tracing::info!("restart requested over the API");
    // After the answer has left: the graceful stop lets this request finish first anyway, but a
    // moment's delay keeps the 202 from racing the listener's close.
    let signal = state.restart.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        signal.request();
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "restarting": true,
            "pid": std::process::id(),
            "uptime_seconds": state.started.elapsed().as_secs(),
        })),
    ))
}

pub(crate) fn admin_error(e: AdminError) -> ApiError {
    match e {
        AdminError::Store(e) => e.into(),
        AdminError::Index(reason) => {
            tracing::error!(%reason, "index maintenance failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "index_failed", reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cutoff_of;
    use serde_json::json;

    const NOW: i64 = 100 * 86_400_000;

    #[test]
    fn cutoff_takes_days_or_an_instant_but_not_both_nor_the_future() {
        assert_eq!(cutoff_of(Some(30), None, NOW), Ok(70 * 86_400_000));
        assert_eq!(cutoff_of(None, Some(&json!(5)), NOW), Ok(5));
        assert_eq!(
            cutoff_of(None, Some(&json!("1970-01-02")), NOW),
            Ok(86_400_000)
        );
        assert!(cutoff_of(Some(1), Some(&json!(5)), NOW).is_err());
        assert!(cutoff_of(None, None, NOW).is_err());
        assert!(cutoff_of(Some(0), None, NOW).is_err());
        assert!(cutoff_of(None, Some(&json!(NOW + 1)), NOW).is_err());
        assert!(cutoff_of(None, Some(&json!("soon")), NOW).is_err());
        assert!(cutoff_of(None, Some(&json!([1])), NOW).is_err());
    }
}
