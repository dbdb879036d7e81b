//! `strap creds …`: explain, export, serve and whoami over the credential chain.

use std::process::ExitCode;

use clap::Subcommand;

use crate::context::Context;

/// Credential subcommands.
#[derive(Debug, Subcommand)]
pub enum CredsCommand {
    /// Every provider of the chain in order, with its status and the reason.
    Explain,
}

/// Run a credential subcommand.
pub async fn run(cmd: CredsCommand, _ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        CredsCommand::Explain => anyhow::bail!("strap creds explain is not implemented yet"),
    }
}
