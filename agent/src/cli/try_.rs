//! `strap try`: the boot in a throwaway overlay of this machine, with a report of what it
//! changed (a table, or `--json`). The same subcommand, with hidden flags, is also how the
//! sandbox starts its own inner processes (see `sandbox`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::context::Context;
use crate::sandbox::{self, Runner, TryOptions};

/// The variable naming the folder for the sandbox's temporary work folder (default
/// `/tmp`).
pub const TMPDIR_VAR: &str = "TMPDIR";
/// Exit status when the boot failed or hit a limit in the sandbox.
pub const EXIT_BOOT_FAILED: u8 = 2;

// Arguments of `strap try`.
#[derive(Debug, Args)]
pub struct TryArgs {
    /// The user-data file to boot with (script, cloud-config, MIME, …).
    #[arg(required_unless_present_any = ["internal_sandbox", "internal_launch"])]
    pub userdata: Option<PathBuf>,
    /// Keep the upper layer (every file the boot wrote, deletions as whiteouts) in DIR.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// The metadata service's configuration (the mock's YAML: instance type, role, tags…).
    #[arg(long, value_name = "MOCK_YAML")]
    pub config: Option<PathBuf>,
    /// Show a unified diff for each changed small text file.
    #[arg(long)]
    pub diff: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Kill the boot after this many seconds (per launch).
    #[arg(long, value_name = "SECS", default_value_t = sandbox::DEFAULT_TIMEOUT_SECS)]
    pub timeout: u64,
    /// Size of the tmpfs holding what the boot writes (bytes; K, M, G suffixes allowed).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "512M")]
    pub max_size: u64,
    /// Most processes and threads the boot may have at once.
    #[arg(long, value_name = "N", default_value_t = sandbox::DEFAULT_MAX_PIDS)]
    pub max_pids: u64,
    /// Most memory the boot may use, all its processes together, without swap (bytes;
    /// K, M, G suffixes allowed). A process past it is killed, and the report says so.
    #[arg(long, visible_alias = "memory", value_name = "BYTES", value_parser = parse_size, default_value = "1G")]
    pub max_memory: u64,
    /// After the first boot, bake its changes into the image and launch N new instances
    /// from it (default 1), each with a new instance-id. Put USERDATA first, or write
    /// `--relaunch=N`.
    #[arg(
        long,
        value_name = "N",
        num_args = 0..=1,
        default_missing_value = "1",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub relaunch: u32,
    /// After the first boot, plan and apply this changed user data to the same instance
    /// in the same sandbox (`strap apply --yes --user-data THEN`), and report the plan and
    /// what the apply really changed.
    #[arg(long, value_name = "USERDATA", conflicts_with = "relaunch")]
    pub then: Option<PathBuf>,
    /// What runs in the sandbox: the boot (`strap run`), or the user-data file executed
    /// as a plain script.
    #[arg(long, value_enum, default_value_t = RunnerArg::Boot, hide = true)]
    pub runner: RunnerArg,
    #[arg(long = "internal-sandbox", hide = true, value_name = "PLAN")]
    pub internal_sandbox: Option<PathBuf>,
    #[arg(long = "internal-launch", hide = true, value_name = "PLAN")]
    pub internal_launch: Option<PathBuf>,
    #[arg(long = "internal-launch-index", hide = true, default_value_t = 0)]
    pub internal_launch_index: u32,
    #[arg(long = "internal-nproc", hide = true)]
    pub internal_nproc: Option<u64>,
    #[arg(long = "internal-data-limit", hide = true)]
    pub internal_data_limit: Option<u64>,
}

/// `--runner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RunnerArg {
    Boot,
    Script,
}

/// Parse `512M`, `1G`, `4096`.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: {text:?}"))?;
    let mult: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("unknown size unit in {text:?} (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

/// `strap try`.
pub async fn run(args: TryArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    if let Some(plan) = &args.internal_sandbox {
        // On failure the message is in the work folder, and the host side prints it.
        return Ok(match sandbox::sandbox_main(plan).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(super::EXIT_ERROR),
        });
    }
    if let Some(plan) = &args.internal_launch {
        let rlimits = sandbox::BootRlimits {
            nproc: args.internal_nproc,
            data: args.internal_data_limit,
        };
        sandbox::launch_main(plan, args.internal_launch_index, rlimits).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let userdata = args.userdata.context("no user-data file given")?;
    let options = TryOptions {
        userdata,
        keep: args.keep,
        mock_config: args.config,
        diff: args.diff,
        timeout_secs: args.timeout,
        max_size: args.max_size,
        max_pids: args.max_pids,
        max_memory: args.max_memory,
        relaunch: args.relaunch,
        then: args.then,
        runner: match args.runner {
            RunnerArg::Boot => Runner::Boot,
            RunnerArg::Script => Runner::Script,
        },
    };
    let work_base = ctx
        .var(TMPDIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let exe = PathBuf::from("/proc/self/exe");
    let report = crate::threads::blocking("sandbox", move || {
        sandbox::try_userdata(&options, &exe, &work_base)
    })
    .await
    .context("the sandbox task failed")??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", sandbox::report::render_table(&report));
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BOOT_FAILED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
    }
}
