//! `strap try`: the boot in a throwaway overlay of this machine, with a report.

use std::process::ExitCode;

use clap::Args;

use crate::context::Context;

/// Arguments of `strap try`.
#[derive(Debug, Args)]
pub struct TryArgs {
    /// The user-data file to boot with.
    pub userdata: std::path::PathBuf,
}

/// `strap try`.
pub async fn run(_args: TryArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("strap try is not implemented yet")
}
