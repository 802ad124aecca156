//! Drains the hook spool (`claude_mem_core::spool`): events `claude-mem hook` could not deliver while
//! the worker was down, hung or restarting.
//!
//! The drainer runs once at start, then every [`INTERVAL`] and right after a live hook succeeds (a hook
//! getting through is the moment a backlog can go in). Each entry goes through the very path of
//! `POST /hooks/{event}` ([`crate::hooks::accept`]: parse and privacy filter, skip rules, the durable
//! commit) as [`Delivery::Spooled`], so no recall runs for an answer nobody reads. An entry is deleted
//! only after its commit; a crash in between redelivers it, and the store's dedup key (`event_key`,
//! derived from the filtered body, which the spool keeps exactly) answers the redelivery — or the live
//! copy a hung worker stored after all — as a duplicate. So every event is stored once.
//!
//! An entry that can never be stored (corrupt, or refused by the parse with a 4xx) is moved to
//! `spool/quarantine/` and logged; it never stops the others. A store failure (5xx) keeps the entry and
//! ends the round: the next round tries again. While capture is paused, nothing is drained: the
//! spooled events happened while the worker was away, not during the pause, so they wait for resume.

use crate::hooks::{self, Delivery};
use crate::state::AppState;
use axum::body::Bytes;
use claude_mem_core::spool::{Spool, SpoolError};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// How often the spool is looked at without a wake-up: hooks spool only while the worker does not
/// answer, so this only matters for a backlog left by a hook that gave up on a hung worker.
pub const INTERVAL: Duration = Duration::from_secs(3);

/// Asks the drainer to look at the spool now (cheap: it coalesces). Every successful live hook does
/// (`hooks::GOT_THROUGH`).
pub fn wake() {
    hooks::GOT_THROUGH.notify_one();
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Committed (stored, found duplicate, or skipped by the capture rules) and deleted.
    pub committed: usize,
    pub quarantined: usize,
    /// Left for a later round (unreadable for now, or the store failed).
    pub kept: usize,
}

/// Starts the drainer; it ends when `stop` turns true (the worker awaits it before closing the store).
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(state, stop))
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let round = drain_once(&state, &stop).await;
        if round != Drained::default() {
            tracing::info!(
                committed = round.committed,
                quarantined = round.quarantined,
                kept = round.kept,
                "hook spool drained"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = hooks::GOT_THROUGH.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// One pass over the spool, oldest entry first.
pub async fn drain_once(state: &AppState, stop: &watch::Receiver<bool>) -> Drained {
    let mut round = Drained::default();
    if state.capture_paused.load(Ordering::Relaxed) {
        return round;
    }
    let spool = Spool::in_data_dir(&state.data_dir);
    let pending = {
        let spool = spool.clone();
        tokio::task::spawn_blocking(move || spool.pending()).await
    };
    let paths = match pending {
        Ok(Ok(paths)) => paths,
        Ok(Err(e)) => {
            tracing::warn!(dir = %spool.dir().display(), error = %e, "cannot list the hook spool");
            return round;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the spool listing task failed");
            return round;
        }
    };
    for path in paths {
        if *stop.borrow() {
            break;
        }
        match drain_entry(state, &spool, path).await {
            Step::Committed => round.committed += 1,
            Step::Quarantined => round.quarantined += 1,
            Step::Kept => round.kept += 1,
            Step::StoreFailing => {
                round.kept += 1;
                break;
            }
        }
    }
    round
}

enum Step {
    Committed,
    Quarantined,
    Kept,
    StoreFailing,
}

async fn drain_entry(state: &AppState, spool: &Spool, path: PathBuf) -> Step {
    let read = {
        let spool = spool.clone();
        let path = path.clone();
        tokio::task::spawn_blocking(move || spool.read(&path)).await
    };
    let entry = match read {
        Ok(Ok(entry)) => entry,
        Ok(Err(SpoolError::Corrupt(reason))) => return quarantine(spool, path, &reason).await,
        Ok(Err(SpoolError::Io { source, .. })) if source.kind() == std::io::ErrorKind::NotFound => {
            // Another drainer (a second worker on this data directory) took it.
            return Step::Kept;
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read a spool entry; it stays for the next round");
            return Step::Kept;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the spool read task failed");
            return Step::Kept;
        }
    };
    let event = entry.event.clone();
    match hooks::accept(
        state,
        &event,
        Ok(Bytes::from(entry.body)),
        Delivery::Spooled {
            received_at_ms: entry.received_at_ms,
        },
    )
    .await
    {
        Ok(_) => {
            crate::metrics::record_spool_drained();
            let removed = {
                let spool = spool.clone();
                let path = path.clone();
                tokio::task::spawn_blocking(move || spool.remove(&path)).await
            };
            if let Ok(Err(e)) = removed {
                // Committed already: a second delivery is answered as a duplicate, so this costs nothing.
                tracing::warn!(file = %path.display(), error = %e, "cannot delete a drained spool entry");
            }
            tracing::debug!(event = %event, received_at_ms = entry.received_at_ms, "spooled hook event committed");
            Step::Committed
        }
        Err(e) if e.status.is_client_error() => {
            quarantine(spool, path, &format!("refused: {} ({})", e.reason, e.code)).await
        }
        Err(e) => {
            tracing::warn!(event = %event, error = e.code, reason = %e.reason, "cannot store a spooled hook event; it stays for the next round");
            Step::StoreFailing
        }
    }
}

async fn quarantine(spool: &Spool, path: PathBuf, reason: &str) -> Step {
    crate::metrics::record_spool_quarantined();
    let moved = {
        let spool = spool.clone();
        let path = path.clone();
        let reason = reason.to_owned();
        tokio::task::spawn_blocking(move || spool.quarantine(&path, &reason)).await
    };
    match moved {
        Ok(Ok(target)) => {
            tracing::warn!(file = %target.display(), reason, "spool entry quarantined");
        }
        Ok(Err(e)) => {
            tracing::error!(file = %path.display(), reason, error = %e, "cannot quarantine a spool entry");
        }
        Err(e) => tracing::error!(error = %e, "the spool quarantine task failed"),
    }
    Step::Quarantined
}
