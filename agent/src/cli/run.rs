//! `strap run|clean|status|analyze|query`: the boot and its records.

use std::process::ExitCode;

use clap::Args;

use crate::context::Context;

/// Arguments of `strap run`.
#[derive(Debug, Args)]
pub struct RunArgs {}
/// Arguments of `strap clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {}
/// Arguments of `strap status`.
#[derive(Debug, Args)]
pub struct StatusArgs {}
/// Arguments of `strap analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {}
/// Arguments of `strap query`.
#[derive(Debug, Args)]
pub struct QueryArgs {}

/// `strap run`.
pub async fn run(_args: RunArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("strap run is not implemented yet")
}
/// `strap clean`.
pub async fn clean(_args: CleanArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("strap clean is not implemented yet")
}
/// `strap status`.
pub async fn status(_args: StatusArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("strap status is not implemented yet")
}
/// `strap analyze`.
pub async fn analyze(_args: AnalyzeArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("strap analyze is not implemented yet")
}
/// `strap query`.
pub async fn query(_args: QueryArgs, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("strap query is not implemented yet")
}
