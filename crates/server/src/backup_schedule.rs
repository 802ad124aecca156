//! The worker's daily backup (`backup.daily`): a snapshot to `backup.destination` once per interval,
//! keeping the newest `backup.keep` scheduled archives there.
//!
//! The clock is the destination itself: the next backup is due one interval after the newest scheduled
//! archive's time (in its name), so a worker restarted every few hours (the desktop app) neither skips
//! days nor makes a backup at every start. `CLAUDE_MEM_BACKUP_INTERVAL_SECS` shortens the interval for
//! tests and for operators who want more than one a day.

use claude_mem_backup::{
    create_backup, newest_scheduled_ms, prune_scheduled, BackupRequest, Location,
};
use claude_mem_core::settings::BackupSettings;
use claude_mem_core::DataDir;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const INTERVAL_ENV: &str = "CLAUDE_MEM_BACKUP_INTERVAL_SECS";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// After a failed backup (destination unreachable, disk full) the next try comes sooner than a day.
const RETRY: Duration = Duration::from_secs(10 * 60);

/// The interval between scheduled backups: a day, or `CLAUDE_MEM_BACKUP_INTERVAL_SECS` (at least 1).
pub fn interval() -> Duration {
    match std::env::var(INTERVAL_ENV) {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(secs) if secs >= 1 => Duration::from_secs(secs),
            _ => {
                tracing::warn!(value = %v, "{INTERVAL_ENV} is not a whole number of seconds ≥ 1; using a day");
                DAY
            }
        },
        Err(_) => DAY,
    }
}

/// Starts the schedule when `backup.daily` is on. The task ends when `stop` flips (or its sender is
/// gone), after finishing a backup already under way, so shutdown never leaves half an archive.
pub fn spawn(
    data_dir: Arc<DataDir>,
    settings: BackupSettings,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if !settings.daily {
        return None;
    }
    Some(tokio::spawn(run(data_dir, settings, interval(), stop)))
}

/// Sleeps for `d`; true when told to stop meanwhile.
async fn stopped_during(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

async fn run(
    data_dir: Arc<DataDir>,
    settings: BackupSettings,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let location = match Location::parse(&settings.destination, &data_dir.backups()) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "scheduled backups are off: the destination is unusable");
            return;
        }
    };
    let keep = usize::try_from(settings.keep).unwrap_or(usize::MAX).max(1);
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    tracing::info!(destination = %location.describe(), every_secs = interval.as_secs(), keep, "scheduled backups on");
    loop {
        if *stop.borrow() {
            return;
        }
        let wait_ms = match newest_scheduled_ms(&location).await {
            Ok(Some(newest)) => newest
                .saturating_add(interval_ms)
                .saturating_sub(claude_mem_core::clock::now_ms())
                .clamp(0, interval_ms),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the backup destination; trying later");
                if stopped_during(RETRY.min(interval), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        if wait_ms > 0 {
            if stopped_during(Duration::from_millis(wait_ms as u64), &mut stop).await {
                return;
            }
            continue;
        }
        if let Err(e) = backup_once(&data_dir, &location, keep).await {
            tracing::error!(error = %e, destination = %location.describe(), "scheduled backup failed");
            if stopped_during(RETRY.min(interval), &mut stop).await {
                return;
            }
        }
    }
}

async fn backup_once(
    data_dir: &DataDir,
    location: &Location,
    keep: usize,
) -> Result<(), claude_mem_backup::BackupError> {
    let database = data_dir.database();
    let report = create_backup(
        BackupRequest {
            database: &database,
            staging_root: data_dir.root(),
            location,
            scheduled: true,
        },
        &|step| tracing::debug!(step, "scheduled backup"),
    )
    .await?;
    tracing::info!(archive = %report.archive, size = report.size, "scheduled backup written");
    for name in prune_scheduled(location, keep).await? {
        tracing::info!(archive = %location.describe_member(&name), "old scheduled backup deleted");
    }
    Ok(())
}
