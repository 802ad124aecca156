//! `claude-mem restart`: asks the running worker (`claude-mem serve` or the desktop app) to restart in its
//! own process with the settings saved since it started (`POST /api/admin/restart`), then waits until it
//! answers again — what the viewer's "Restart worker" does, for a terminal.

use crate::portability_cmd::{get_json, locate, post_json, running_worker};
use anyhow::{bail, Context};
use serde_json::json;
use std::time::{Duration, Instant};

/// How long a restarting worker may take to answer again (it reopens the store and the indexes).
const COME_BACK: Duration = Duration::from_secs(60);

pub fn run() -> anyhow::Result<()> {
    let (_, settings) = locate()?;
    let base = running_worker(&settings).context(
        "no worker is running on this machine's configured port; start one with `claude-mem serve` or the app",
    )?;
    let before = get_json(&base, "/api/health")?;
    let uptime_before = before["uptime_seconds"].as_u64().unwrap_or(0);
    post_json(&base, "/api/admin/restart", &json!({}))?;
    let asked = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(health) = get_json(&base, "/api/health") {
            let up = health["uptime_seconds"].as_u64().unwrap_or(u64::MAX);
            // Uptime started again: this is the new worker, not the old one still finishing.
            if up <= asked.elapsed().as_secs() && up < uptime_before + asked.elapsed().as_secs() + 1
            {
                println!(
                    "The worker restarted (pid {}) and answers at {base}.",
                    health["pid"]
                );
                return Ok(());
            }
        }
        if asked.elapsed() > COME_BACK {
            bail!(
                "the worker did not answer within {} s of the restart; see its log (claude-mem doctor)",
                COME_BACK.as_secs()
            );
        }
    }
}
