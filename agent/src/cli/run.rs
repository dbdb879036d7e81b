//! `strap run|clean|status|analyze|query`: the boot and its records. Argument parsing
//! and output only; the work is in [`crate::boot`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::boot::{self, source, Datasource, PowerAction};
use crate::context::Context;

// Arguments of `strap run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The metadata service (default: the SDKs' settings, then http://169.254.169.254).
    #[arg(long, value_name = "URL", conflicts_with_all = ["local", "seed"])]
    pub imds: Option<String>,
    /// Boot from this user-data file against built-in metadata, without a metadata service.
    #[arg(long, value_name = "USERDATA", conflicts_with = "seed")]
    pub local: Option<PathBuf>,
    /// The embedded metadata service's configuration for `--local` (imds-mock's YAML,
    /// see `imds-mock --print-config`).
    #[arg(long, value_name = "FILE", requires = "local")]
    pub mock_config: Option<PathBuf>,
    /// Read the metadata from a folder laid out like the metadata tree
    /// (`DIR/latest/user-data`, `DIR/latest/dynamic/instance-identity/document`).
    #[arg(long, value_name = "DIR")]
    pub seed: Option<PathBuf>,
    /// Confine every write to this folder (created if missing): the boot's whole effect
    /// lands under it.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// With `--local`, boot this machine itself (its `/`): without this, `--local` refuses
    /// a root that is, or resolves to, `/`, so that trying user data never reconfigures
    /// the machine by accident.
    #[arg(long, requires = "local")]
    pub on_this_machine: bool,
    /// The state folder, as a path on the (rooted) machine.
    #[arg(long, value_name = "DIR", default_value = boot::paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Wait at most this many seconds for the metadata service to answer at the start
    /// (default: the system config's `datasource.Ec2.max_wait`, else 120, as cloud-init).
    #[arg(long, value_name = "SECONDS", conflicts_with_all = ["local", "seed"])]
    pub metadata_wait: Option<f64>,
    /// Kill any single script that runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Split the boot between two units, as cloud-init's stages are: `init` runs the
    /// boot and holds its config and final stages after the network stage (files, users,
    /// ssh keys, hostname) until `final`, run later in the boot, releases them; `final`
    /// then waits for the boot to end and exits with its status. Without it the stages
    /// run one after the other.
    #[arg(long, value_enum, value_name = "STAGE", conflicts_with_all = ["local", "seed", "then"])]
    pub stage: Option<StageArg>,
    /// After the boot, replace strap with this command (a container entrypoint):
    /// `strap run --then -- CMD ARGS`.
    #[arg(long, requires = "command")]
    pub then: bool,
    /// The command for `--then`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `strap run --stage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StageArg {
    /// The boot, held after its network stage.
    Init,
    /// Release the held boot's config and final stages and wait for its end.
    Final,
}

// Where the records are (shared by clean, status, analyze, query).
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The root the boot ran under.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The state folder, as a path on the (rooted) machine.
    #[arg(long, value_name = "DIR", default_value = boot::paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

// Arguments of `strap clean`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Also remove the logs (and their rotated copies).
    #[arg(long)]
    pub logs: bool,
    /// Also remove `seed/` in the state folder.
    #[arg(long)]
    pub seed: bool,
    #[command(flatten)]
    pub at: RecordArgs,
}

// Arguments of `strap status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Wait until the boot has finished.
    #[arg(long)]
    pub wait: bool,
    /// Show errors, warnings and details.
    #[arg(long)]
    pub long: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub at: RecordArgs,
}

// Arguments of `strap analyze`: every boot's modules and scripts, slowest first (the
// earlier boots from strap.log, the last from report.json), then the last boot's stages.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Print the last boot's whole report (report.json) instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub at: RecordArgs,
}

// Arguments of `strap query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// A dotted key: `v1.instance_id`, `ds.meta_data.local_ipv4`.
    #[arg(required_unless_present_any = ["all", "list_keys"])]
    pub key: Option<String>,
    /// Print all the instance data.
    #[arg(long)]
    pub all: bool,
    /// List the keys under KEY (or the top level).
    #[arg(long)]
    pub list_keys: bool,
    #[command(flatten)]
    pub at: RecordArgs,
}

/// The context rooted at `root` (made absolute; created when `create`).
pub(super) fn rooted(ctx: &Context, root: Option<&Path>, create: bool) -> anyhow::Result<Context> {
    let Some(root) = root else {
        return Ok(ctx.clone());
    };
    if create {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the root {}", root.display()))?;
    }
    let abs = std::fs::canonicalize(root)
        .with_context(|| format!("the root {} does not exist", root.display()))?;
    Ok(ctx.clone().with_root(abs))
}

/// Start the embedded metadata service for `--local`: the mock's realistic defaults,
/// overridden by `--mock-config` (the mock's YAML), serving `user_data`.
async fn local_mock(
    user_data: &Path,
    config: Option<&Path>,
) -> anyhow::Result<imds_mock::RunningMock> {
    let raw = std::fs::read(user_data)
        .with_context(|| format!("cannot read the user data {}", user_data.display()))?;
    let mut cfg = match config {
        Some(path) => imds_mock::Config::from_file(path)
            .with_context(|| format!("cannot load the mock config {}", path.display()))?,
        None => imds_mock::Config::default(),
    };
    cfg.listen = "127.0.0.1:0".into();
    cfg.user_data = Some(raw);
    cfg.user_data_file = None;
    imds_mock::spawn(cfg)
        .await
        .context("cannot start the embedded metadata service")
}

/// systemd-imdsd, when its socket is there under the root and it says it is on EC2,
/// with a line for the boot log; its calls are bounded by the IMDS attempt timeout.
async fn imdsd(
    ctx: &Context,
    settings: &crate::imds::ImdsSettings,
) -> Option<(crate::imds::imdsd::Imdsd, String)> {
    use crate::imds::imdsd::{Imdsd, SOCKET, VENDOR_EC2};
    let socket = ctx.path(SOCKET).ok()?;
    if !socket.exists() {
        return None;
    }
    let timeout = settings
        .resolve_timeout()
        .ok()
        .flatten()
        .unwrap_or(crate::imds::settings::DEFAULT_ATTEMPT_TIMEOUT);
    let imdsd = Imdsd::new(&socket, timeout);
    match imdsd.vendor_info().await {
        Ok(info) if info.vendor.as_deref() == Some(VENDOR_EC2) => {
            Some((imdsd, format!("through systemd-imdsd ({SOCKET})")))
        }
        Ok(info) => {
            tracing::info!(
                "systemd-imdsd is there but serves vendor {:?}, not {VENDOR_EC2}: reading the metadata service directly",
                info.vendor
            );
            None
        }
        Err(err) => {
            tracing::warn!("{err}; reading the metadata service directly");
            None
        }
    }
}

/// `strap run`.
pub async fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.root.as_deref(), true)?;
    if args.local.is_some() && ctx.root() == Path::new("/") && !args.on_this_machine {
        let how = match &args.root {
            None => "no --root was given".to_string(),
            Some(r) if r == Path::new("/") => "--root is /".to_string(),
            Some(r) => format!("--root {} resolves to /", r.display()),
        };
        anyhow::bail!(
            "`--local` would boot this machine itself ({how}): its hostname, users, files and services would change; pass --root DIR to keep the boot in a folder, or --on-this-machine if that is what you want"
        );
    }
    if args.stage == Some(StageArg::Final) {
        return release_and_wait(&ctx, &args.state_dir).await;
    }
    let (source, mock) = match &args.seed {
        Some(seed) => (
            Box::new(source::SeedSource::new(seed)) as Box<dyn Datasource>,
            None,
        ),
        None => {
            metadata_source(
                &ctx,
                args.imds.as_deref(),
                args.local.as_deref(),
                args.mock_config.as_deref(),
            )
            .await?
        }
    };
    let real = ctx.root() == Path::new("/") && args.local.is_none();
    let opts = boot::BootOptions {
        state_dir: Some(args.state_dir.clone()),
        part_timeout: args.timeout.map(Duration::from_secs_f64),
        console: true,
        power: if real {
            PowerAction::Execute
        } else {
            PowerAction::DryRun
        },
        metadata_wait: args
            .metadata_wait
            .map(|s| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)),
        wait_for_source: args.seed.is_none() && args.local.is_none(),
        hold_final: args.stage == Some(StageArg::Init),
        network: !(args.local.is_some() && ctx.root() == Path::new("/")),
    };
    let boot_ctx = ctx.clone();
    let power = opts.power;
    let result = crate::threads::blocking("boot", move || {
        boot::run_boot(&boot_ctx, source.as_ref(), opts)
    })
    .await
    .context("the boot thread stopped")?;
    if let Some(mock) = mock {
        mock.shutdown().await;
    }
    // Under systemd (Type=notify) the unit must hear READY even when the boot stopped
    // before its network stage ended; the exit status then tells how it went.
    boot::notify::ready(&ctx, "boot ended before its network stage finished");
    let code = match &result {
        Ok(summary) => {
            let items = &summary.report.items;
            let count = |s| items.iter().filter(|i| i.status == s).count();
            let st = boot::status::read(&boot::Paths::resolve(&ctx, Some(&args.state_dir))?.run);
            crate::say!(
                "strap: boot {} ({} ran, {} skipped, {} failed); see `strap status --long`",
                st.extended_status,
                count(boot::ItemStatus::Ran),
                count(boot::ItemStatus::Skipped),
                count(boot::ItemStatus::Failed),
            );
            if let Some(cmd) = &summary.power_command {
                if power == PowerAction::Execute {
                    let status = std::process::Command::new(&cmd[0]).args(&cmd[1..]).status();
                    if !matches!(status, Ok(s) if s.success()) {
                        tracing::error!("power_state: `{}` failed: {status:?}", cmd.join(" "));
                    }
                } else {
                    crate::say!(
                        "strap: power_state would run `{}` (not on a --root or --local boot)",
                        cmd.join(" ")
                    );
                }
            }
            st.exit_code()
        }
        Err(err) => {
            crate::say!("error: {err}");
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                crate::say!("caused by: {cause}");
                source = cause.source();
            }
            boot::status::EXIT_ERROR
        }
    };
    if args.then {
        return exec_then(&args.command);
    }
    Ok(ExitCode::from(code))
}

/// The metadata service a boot (or a plan) reads: the embedded one serving `local`'s
/// user data, or the service at `imds` (default: the SDKs' settings), reached the way
/// this machine allows (systemd's locked-down route, systemd-imdsd).
pub(super) async fn metadata_source(
    ctx: &Context,
    imds: Option<&str>,
    local: Option<&Path>,
    mock_config: Option<&Path>,
) -> anyhow::Result<(Box<dyn Datasource>, Option<imds_mock::RunningMock>)> {
    let mock = match local {
        Some(local) => Some(local_mock(local, mock_config).await?),
        None => None,
    };
    let endpoint = mock
        .as_ref()
        .map(|m| m.url())
        .or_else(|| imds.map(str::to_string));
    let mut settings = crate::imds::ImdsSettings::from_context(ctx);
    if let Some(url) = &endpoint {
        settings = settings.with_endpoint(url.clone());
    }
    // The embedded mock is on loopback: no route to look at.
    let access = if mock.is_none() {
        let found = crate::imds::lockdown::detect(ctx, &settings.configured_endpoint().url);
        settings = settings.with_fwmark(found.mark);
        found.how
    } else {
        "direct: the embedded metadata service".to_string()
    };
    let client = crate::imds::ImdsClient::from_settings(&settings)
        .context("cannot set up the metadata client")?;
    let source = source::ImdsSource::new(client, tokio::runtime::Handle::current());
    // systemd-imdsd first, when it runs and speaks for EC2; `--imds URL` forces
    // direct access.
    let imdsd = if mock.is_none() && imds.is_none() {
        imdsd(ctx, &settings).await
    } else {
        None
    };
    let source: Box<dyn Datasource> = Box::new(match imdsd {
        Some((imdsd, note)) => source
            .through_imdsd(imdsd)
            .with_access(format!("{note}; else {access}")),
        None => source.with_access(access),
    });
    Ok((source, mock))
}

/// `strap run --stage final`: release the held boot, wait for it to end, exit with its
/// status (0 done, 2 degraded, 1 error). A boot that is not running (it ended, or
/// stopped) is not waited for.
async fn release_and_wait(ctx: &Context, state_dir: &Path) -> anyhow::Result<ExitCode> {
    let paths = boot::Paths::resolve(ctx, Some(state_dir))?;
    let mut st = boot::status::read(&paths.run);
    if st.running {
        boot::runner::release_final(&paths)?;
        tracing::info!("released the config and final stages; waiting for the boot to end");
        while st.running {
            tokio::time::sleep(Duration::from_millis(100)).await;
            st = boot::status::read(&paths.run);
        }
    } else {
        tracing::info!(
            "no boot is running (status: {}): nothing to release",
            st.status
        );
    }
    crate::say!("strap: boot {}", st.extended_status);
    Ok(ExitCode::from(st.exit_code()))
}

/// Replace this process with the main command (container entrypoint).
fn exec_then(command: &[String]) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let Some((program, rest)) = command.split_first() else {
        anyhow::bail!("--then needs a command after `--`");
    };
    let err = std::process::Command::new(program).args(rest).exec();
    Err(anyhow::Error::new(err).context(format!("cannot execute {program}")))
}

/// `strap clean`.
pub async fn clean(args: CleanArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.at.root.as_deref(), false)?;
    let paths = boot::Paths::resolve(&ctx, Some(&args.at.state_dir))?;
    let removed = boot::state::clean(
        &paths,
        boot::state::CleanOptions {
            logs: args.logs,
            seed: args.seed,
        },
    )?;
    for p in removed {
        tracing::info!("removed {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `strap status`.
pub async fn status(args: StatusArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.at.root.as_deref(), false)?;
    let paths = boot::Paths::resolve(&ctx, Some(&args.at.state_dir))?;
    let mut st = boot::status::read(&paths.run);
    if args.wait {
        while st.status == "not started" || st.running {
            eprint!(".");
            tokio::time::sleep(Duration::from_millis(250)).await;
            st = boot::status::read(&paths.run);
        }
        eprintln!();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
    } else if args.long {
        print!("{}", st.long());
    } else {
        println!("status: {}", st.status);
    }
    Ok(ExitCode::from(st.exit_code()))
}

/// `strap analyze`.
pub async fn analyze(args: AnalyzeArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.at.root.as_deref(), false)?;
    let paths = boot::Paths::resolve(&ctx, Some(&args.at.state_dir))?;
    let report = boot::records::read_report(&paths.report()).with_context(|| {
        format!(
            "no boot report at {}: run `strap run` first",
            paths.report().display()
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        // Earlier boots from the event log (it may have been cleaned: then only the last).
        let log = boot::records::read_regular(&paths.log, boot::records::MAX_LOG_READ, true)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let boots = boot::analyze::boots_from_log(&log);
        print!("{}", boot::analyze::blame_all(&boots, &report));
    }
    Ok(ExitCode::SUCCESS)
}

/// `strap query`.
pub async fn query(args: QueryArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.at.root.as_deref(), false)?;
    let paths = boot::Paths::resolve(&ctx, Some(&args.at.state_dir))?;
    let file = paths.instance_data();
    let text = std::fs::read(&file).with_context(|| {
        format!(
            "no instance data at {}: run `strap run` first",
            file.display()
        )
    })?;
    let doc: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    let value = match &args.key {
        Some(key) => boot::query::lookup(&doc, key)
            .with_context(|| format!("no key `{key}` in the instance data (try --list-keys)"))?,
        None => &doc,
    };
    if args.list_keys {
        for k in boot::query::keys(value) {
            println!("{k}");
        }
    } else {
        println!("{}", boot::query::render(value));
    }
    Ok(ExitCode::SUCCESS)
}
