//! The command line: argument definitions (clap), logging set-up, and one `run` per
//! subcommand that calls the library and prints data to stdout. Diagnostics go to stderr
//! through `tracing`. This is the only module that uses `anyhow`: it is the binary's
//! front end, kept in the library so that it can be tested and so that completions and
//! the man page are generated from the same definition.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::context::Context;

pub mod creds;
pub mod docs;
pub mod metadata;
pub mod net;
pub mod plan;
pub mod run;
pub mod try_;
pub mod userdata;

/// strap: boot a cloud instance from its user data, fast, and explain its AWS credentials.
#[derive(Debug, Parser)]
#[command(name = "strap", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (repeat for more: -v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output on stderr (-q errors only, -qq nothing).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. Each one's arguments are defined when it is the one being parsed
/// (`defer`, here and on the nested subcommand enums): a run builds the definition of its
/// own subcommand only, not of all of them (`--help`, completions, the man page and the
/// book's reference build the whole tree). A deferred definition is applied after the
/// variant's own, so the argument structs carry `//` comments, not doc comments: a doc
/// comment there would replace the variant's line in the help (the reference pages'
/// test, `cli::docs`, catches it).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Boot this instance from its user data: stages, modules, frequencies, records.
    Run(run::RunArgs),
    /// Reset strap's state so the next boot runs as a first boot (like `cloud-init clean`).
    Clean(run::CleanArgs),
    /// Show the status of the current or last boot (exit 0 done, 1 error, 2 degraded).
    Status(run::StatusArgs),
    /// Time per module and script of every boot, slowest first, and the last boot's stages.
    Analyze(run::AnalyzeArgs),
    /// Compare changed user data with what strap applied to this instance, and show the
    /// changes a `strap apply` would make (exit 0 no changes, 2 changes, 1 error).
    Plan(plan::PlanArgs),
    /// Apply changed user data to this running instance, module by module, as planned.
    Apply(plan::ApplyArgs),
    /// Print a value of the instance data (`v1.instance_id`, `ds.meta_data.…`).
    Query(run::QueryArgs),
    /// Resolve, explain, export and serve AWS credentials.
    #[command(subcommand)]
    Creds(creds::CredsCommand),
    /// Read the instance's metadata.
    #[command(subcommand)]
    Metadata(metadata::MetadataCommand),
    /// The network: every interface from the metadata, what strap rendered and why.
    #[command(subcommand)]
    Net(net::NetCommand),
    /// Inspect, validate and build user data.
    #[command(subcommand)]
    Userdata(userdata::UserdataCommand),
    /// Run user data on a throwaway overlay of this machine and report what it changed.
    Try(try_::TryArgs),
    /// Print shell completions for strap.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print strap's man page (roff).
    Man,
}

/// Exit status for usage and runtime errors not otherwise mapped.
pub const EXIT_ERROR: u8 = 1;

/// Parse the command line, set up logging, run, and map errors to an exit status.
pub fn main() -> ExitCode {
    default_sigpipe();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let ctx = Context::system();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            crate::say!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(dispatch(cli, &ctx)) {
        Ok(code) => code,
        Err(err) => {
            crate::say!("error: {err}");
            for cause in err.chain().skip(1) {
                crate::say!("caused by: {cause}");
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Run one parsed command line against a context. Each subcommand's future is boxed, so
/// a run holds its own subcommand's state only, not room for the largest of them all.
pub async fn dispatch(cli: Cli, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => Box::pin(run::run(args, ctx)).await,
        Command::Clean(args) => Box::pin(run::clean(args, ctx)).await,
        Command::Status(args) => Box::pin(run::status(args, ctx)).await,
        Command::Analyze(args) => Box::pin(run::analyze(args, ctx)).await,
        Command::Query(args) => Box::pin(run::query(args, ctx)).await,
        Command::Plan(args) => Box::pin(plan::plan(args, ctx)).await,
        Command::Apply(args) => Box::pin(plan::apply(args, ctx)).await,
        Command::Creds(cmd) => Box::pin(creds::run(cmd, ctx)).await,
        Command::Metadata(cmd) => Box::pin(metadata::run(cmd, ctx)).await,
        Command::Net(cmd) => Box::pin(net::run(cmd, ctx)).await,
        Command::Userdata(cmd) => Box::pin(userdata::run(cmd, ctx)).await,
        Command::Try(args) => Box::pin(try_::run(args, ctx)).await,
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "strap", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            man.render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Output piped into a program that stops reading (`strap plan | head`) ends strap
/// quietly, as it does any Unix tool, instead of a panic of `println!` on `EPIPE`: the
/// Rust runtime ignores `SIGPIPE`, this restores the default.
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL installs
    // no handler code.
    #[allow(unsafe_code)]
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Logs go to stderr; `-v`/`-q` set the level, `RUST_LOG` overrides it.
fn init_logging(verbose: u8, quiet: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match (verbose, quiet) {
        (_, q) if q >= 2 => "off",
        (_, 1) => "error",
        (0, _) => "warn",
        (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only on a terminal: under systemd stderr is the journal and the console.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
