//! `claude-mem prune`.

use clap::Args;

#[derive(Debug, Args)]
pub struct PruneArgs {}

pub fn run(_args: PruneArgs) -> anyhow::Result<()> {
    anyhow::bail!("prune is not implemented yet")
}
