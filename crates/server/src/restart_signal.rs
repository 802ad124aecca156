//! The restart request a worker's state carries (`crate::state`): `POST /api/admin/restart` sets it, the
//! worker's run ends on it, and its runner (`crate::restart`) starts the next worker.

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Shared by a worker's state and whoever runs it: the API asks, the runner starts the next worker.
#[derive(Debug, Default)]
pub struct RestartSignal {
    requested: AtomicBool,
    /// Set by [`crate::restart::run_with_restarts`]: a worker nobody would start again (a test's, a benchmark's) must
    /// refuse to "restart" rather than simply stop.
    pub(crate) supervised: AtomicBool,
    notify: Notify,
}

impl RestartSignal {
    pub fn is_supervised(&self) -> bool {
        self.supervised.load(Ordering::SeqCst)
    }

    /// Asks the running worker to stop and its runner to start the next one.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    pub fn was_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves once a restart has been asked for.
    pub async fn requested(&self) {
        loop {
            let notified = self.notify.notified();
            if self.was_requested() {
                return;
            }
            notified.await;
        }
    }
}
