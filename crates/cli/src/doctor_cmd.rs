//! `claude-mem doctor`.

use clap::Args;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub fn run(_args: DoctorArgs) -> anyhow::Result<()> {
    anyhow::bail!("doctor is not implemented yet")
}
