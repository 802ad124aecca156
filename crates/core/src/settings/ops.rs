//! Operations settings: who may reach the worker, and the maintenance it does on its own (backups,
//! retention).

use super::SettingsError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

fn invalid(field: &str, message: String) -> Result<(), SettingsError> {
    Err(SettingsError::Invalid {
        field: field.to_owned(),
        message,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecuritySettings {
    /// Requests per second each client address may make before getting 429. Hooks arrive in bursts
    /// (a busy session, several sessions at once), so the default is far above what Claude Code sends and
    /// only stops a runaway or hostile client.
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once above the steady rate.
    pub rate_limit_burst: u32,
    /// Also limit loopback clients. Off by default: they are this machine's own Claude Code hooks, CLI
    /// and viewer, a 429 to a hook is a memory lost, and a local process needs no HTTP to do harm.
    pub rate_limit_loopback: bool,
    /// Extra browser origins allowed to call the API (CORS), e.g. a dashboard on another port. The
    /// viewer's own origin and the desktop app's need no entry.
    pub cors_origins: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            rate_limit_per_second: 1000,
            rate_limit_burst: 5000,
            rate_limit_loopback: false,
            cors_origins: Vec::new(),
            extra: Map::new(),
        }
    }
}

impl SecuritySettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if self.rate_limit_per_second == 0 {
            return invalid(
                "security.rate_limit_per_second",
                "must be at least 1".into(),
            );
        }
        if self.rate_limit_burst == 0 {
            return invalid("security.rate_limit_burst", "must be at least 1".into());
        }
        for origin in &self.cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return invalid(
                    "security.cors_origins",
                    format!("{origin:?} is not an http(s) origin"),
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupSettings {
    /// Make a backup once a day while the worker runs.
    pub daily: bool,
    /// Where scheduled backups go: a directory, or `s3://`, `gs://`, `az://` URLs. Empty means the data
    /// directory's `backups/`.
    pub destination: String,
    /// How many scheduled backups are kept at the destination; older ones are deleted.
    pub keep: u32,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            daily: false,
            destination: String::new(),
            keep: 7,
            extra: Map::new(),
        }
    }
}

impl BackupSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=365).contains(&self.keep) {
            return invalid("backup.keep", format!("{} is outside 1..=365", self.keep));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Prune memories older than `older_than_days` once a day while the worker runs.
    pub prune_daily: bool,
    /// Age, in days, past which memories are pruned by the daily job.
    pub older_than_days: u32,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            prune_daily: false,
            older_than_days: 365,
            extra: Map::new(),
        }
    }
}

impl RetentionSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=36_500).contains(&self.older_than_days) {
            return invalid(
                "retention.older_than_days",
                format!("{} is outside 1..=36500", self.older_than_days),
            );
        }
        Ok(())
    }
}
