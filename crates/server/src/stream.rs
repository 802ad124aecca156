//! `GET /api/stream`: the viewer's live feed as Server-Sent Events.
//!
//! Each reader keeps its own cursor (last observation, summary and prompt id) and reads what is new from
//! the store when it says something committed, so a slow reader never makes the worker buffer rows
//! and a reconnect resumes exactly where it left off: the cursor is the event id, which the browser
//! sends back as `Last-Event-ID`.

use crate::api_state::{ApiState, Db, HealthProbe};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use claude_mem_core::model::StreamCursor;
use claude_mem_core::storage::SharedMemory;
use futures_util::stream::{self, Stream};
use serde::Serialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// Rows read per table per wake-up; a reader far behind catches up over several reads.
const PAGE: i64 = 100;

/// `o.s.p`: the cursor as an event id.
fn encode(c: StreamCursor) -> String {
    format!("{}.{}.{}", c.observation, c.summary, c.prompt)
}

fn decode(s: &str) -> Option<StreamCursor> {
    let mut parts = s.trim().split('.').map(|p| p.parse::<i64>().ok());
    let c = StreamCursor {
        observation: parts.next()??,
        summary: parts.next()??,
        prompt: parts.next()??,
    };
    (parts.next().is_none() && c.observation >= 0 && c.summary >= 0 && c.prompt >= 0).then_some(c)
}

struct Reader {
    db: SharedMemory,
    health_probe: Arc<dyn HealthProbe>,
    cursor: StreamCursor,
    changes: broadcast::Receiver<()>,
    health: tokio::time::Interval,
    shutdown: tokio::sync::watch::Receiver<bool>,
    queued: VecDeque<Event>,
}

fn event<T: Serialize>(kind: &str, id: Option<String>, data: &T) -> Option<Event> {
    let mut e = Event::default().event(kind).json_data(data).ok()?;
    if let Some(id) = id {
        e = e.id(id);
    }
    Some(e)
}

impl Reader {
    /// Queues everything newer than the cursor; false when there was nothing.
    async fn read_new(&mut self) -> bool {
        let store = &self.db;
        let (obs, sums, prompts) = match tokio::try_join!(
            store.observations_after(self.cursor.observation, PAGE),
            store.summaries_after(self.cursor.summary, PAGE),
            store.prompts_after(self.cursor.prompt, PAGE),
        ) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "live stream read failed");
                return false;
            }
        };
        // Prompts first: in a session's story the prompt precedes what it caused.
        for p in &prompts {
            self.cursor.prompt = p.id;
            self.queued
                .extend(event("prompt", Some(encode(self.cursor)), p));
        }
        for o in &obs {
            self.cursor.observation = o.id;
            self.queued
                .extend(event("observation", Some(encode(self.cursor)), o));
        }
        for s in &sums {
            self.cursor.summary = s.id;
            self.queued
                .extend(event("summary", Some(encode(self.cursor)), s));
        }
        !self.queued.is_empty()
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Some((Ok(e), self));
            }
            if self.read_new().await {
                continue;
            }
            tokio::select! {
                changed = self.changes.recv() => {
                    if matches!(changed, Err(broadcast::error::RecvError::Closed)) {
                        return None;
                    }
                }
                _ = self.health.tick() => {
                    if let Ok(h) = self.health_probe.health_json().await {
                        self.queued.extend(event("health", None, &h));
                    }
                }
                _ = self.shutdown.changed() => return None,
            }
        }
    }
}

pub async fn stream(
    State(api): State<ApiState>,
    Db(db): Db,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(decode);
    let cursor = match resume {
        Some(c) => c,
        None => db.stream_head().await.unwrap_or_default(),
    };
    let mut health = tokio::time::interval(HEALTH_EVERY);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reader = Reader {
        changes: db.changes(),
        shutdown: api.shutdown.clone(),
        health_probe: api.health.clone(),
        db,
        cursor,
        health,
        queued: VecDeque::new(),
    };
    Sse::new(stream::unfold(reader, Reader::next)).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("ping"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_garbage_is_ignored() {
        let c = StreamCursor {
            observation: 12,
            summary: 3,
            prompt: 40,
        };
        assert_eq!(decode(&encode(c)), Some(c));
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "-1.0.0", "1..3"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
