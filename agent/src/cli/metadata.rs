//! `strap metadata get|dump`: read the instance's metadata through the IMDS client.

use std::process::ExitCode;

use clap::Subcommand;

use crate::context::Context;

/// Metadata subcommands.
#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Print one metadata path.
    Get {
        /// The path, relative to `/latest/meta-data/` or absolute (`/latest/dynamic/…`).
        path: String,
    },
}

/// Run a metadata subcommand.
pub async fn run(cmd: MetadataCommand, _ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        MetadataCommand::Get { .. } => anyhow::bail!("strap metadata get is not implemented yet"),
    }
}
