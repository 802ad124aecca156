//! `claude-mem backup` and `claude-mem restore`.

use clap::Args;

#[derive(Debug, Args)]
pub struct BackupArgs {}

#[derive(Debug, Args)]
pub struct RestoreArgs {}

pub fn backup(_args: BackupArgs) -> anyhow::Result<()> {
    anyhow::bail!("backup is not implemented yet")
}

pub fn restore(_args: RestoreArgs) -> anyhow::Result<()> {
    anyhow::bail!("restore is not implemented yet")
}
