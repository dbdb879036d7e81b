//! `strap userdata inspect|validate|make-mime`: show, check and build user data.

use std::process::ExitCode;

use clap::Subcommand;

use crate::context::Context;

/// User-data subcommands.
#[derive(Debug, Subcommand)]
pub enum UserdataCommand {
    /// The flattened parts in order, with what strap will do with each.
    Inspect {
        /// The user-data file, or `-` for standard input.
        file: String,
    },
}

/// Run a user-data subcommand.
pub async fn run(cmd: UserdataCommand, _ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        UserdataCommand::Inspect { .. } => {
            anyhow::bail!("strap userdata inspect is not implemented yet")
        }
    }
}
