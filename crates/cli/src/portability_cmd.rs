//! `claude-mem export` and `claude-mem import`.

use clap::Args;

#[derive(Debug, Args)]
pub struct ExportArgs {}

#[derive(Debug, Args)]
pub struct ImportArgs {}

pub fn export(_args: ExportArgs) -> anyhow::Result<()> {
    anyhow::bail!("export is not implemented yet")
}

pub fn import(_args: ImportArgs) -> anyhow::Result<()> {
    anyhow::bail!("import is not implemented yet")
}
