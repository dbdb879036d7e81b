//! `strap run|clean|status|analyze|query`: the boot and its records. Argument parsing
//! and output only; the work is in [`crate::boot`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::boot::{self, source, Datasource, PowerAction};
use crate::context::Context;

/// Arguments of `strap run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The metadata service (default: the SDKs' settings, then http://169.254.169.254).
    #[arg(long, value_name = "URL", conflicts_with_all = ["local", "seed"])]
    pub imds: Option<String>,
    /// Boot from this user-data file against built-in metadata, without a metadata service.
    #[arg(long, value_name = "USERDATA", conflicts_with = "seed")]
    pub local: Option<PathBuf>,
    /// Settings for the built-in metadata of `--local` (a JSON file: `instance_id`,
    /// `region`, `availability_zone`, `instance_type`, `image_id`, `local_hostname`,
    /// `public_key`).
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
    /// The state folder, as a path on the (rooted) machine.
    #[arg(long, value_name = "DIR", default_value = boot::paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Kill any single script that runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// After the boot, replace strap with this command (a container entrypoint):
    /// `strap run --then -- CMD ARGS`.
    #[arg(long, requires = "command")]
    pub then: bool,
    /// The command for `--then`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Where the records are (shared by clean, status, analyze, query).
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The root the boot ran under.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The state folder, as a path on the (rooted) machine.
    #[arg(long, value_name = "DIR", default_value = boot::paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

/// Arguments of `strap clean`.
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

/// Arguments of `strap status`.
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

/// Arguments of `strap analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Print the whole report (report.json) instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub at: RecordArgs,
}

/// Arguments of `strap query`.
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

fn rooted(ctx: &Context, root: Option<&Path>, create: bool) -> anyhow::Result<Context> {
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

/// Built-in metadata for `--local`: realistic defaults, overridden by `--mock-config`.
fn local_source(user_data: &Path, config: Option<&Path>) -> anyhow::Result<source::MemorySource> {
    let raw = std::fs::read(user_data)
        .with_context(|| format!("cannot read the user data {}", user_data.display()))?;
    let mut settings = serde_json::json!({
        "instance_id": "i-0123456789abcdef0",
        "region": "us-east-1",
        "availability_zone": "us-east-1a",
        "instance_type": "t3.micro",
        "image_id": "ami-0123456789abcdef0",
        "private_ip": "172.31.16.10",
        "local_hostname": "ip-172-31-16-10.ec2.internal",
        "public_key": null,
    });
    if let Some(path) = config {
        let text = std::fs::read(path)
            .with_context(|| format!("cannot read the mock config {}", path.display()))?;
        let over: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("the mock config {} is not a JSON object", path.display()))?;
        if let (Some(base), Some(over)) = (settings.as_object_mut(), over.as_object()) {
            for (k, v) in over {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    let s = |k: &str| settings[k].as_str().unwrap_or_default().to_string();
    let doc = serde_json::json!({
        "accountId": "123456789012",
        "architecture": "x86_64",
        "availabilityZone": s("availability_zone"),
        "imageId": s("image_id"),
        "instanceId": s("instance_id"),
        "instanceType": s("instance_type"),
        "pendingTime": "2026-01-01T00:00:00Z",
        "privateIp": s("private_ip"),
        "region": s("region"),
        "version": "2017-09-30",
    });
    let mut entries = BTreeMap::new();
    entries.insert(
        source::IDENTITY_PATH.to_string(),
        doc.to_string().into_bytes(),
    );
    entries.insert(source::USER_DATA_PATH.to_string(), raw);
    entries.insert(
        source::INSTANCE_ID_PATH.to_string(),
        s("instance_id").into_bytes(),
    );
    entries.insert(
        source::LOCAL_HOSTNAME_PATH.to_string(),
        s("local_hostname").into_bytes(),
    );
    if let Some(key) = settings["public_key"].as_str() {
        entries.insert(source::PUBLIC_KEY_PATH.to_string(), key.as_bytes().to_vec());
    }
    Ok(source::MemorySource::new("DataSourceLocal", entries))
}

/// `strap run`.
pub async fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.root.as_deref(), true)?;
    let source: Box<dyn Datasource> = if let Some(local) = &args.local {
        Box::new(local_source(local, args.mock_config.as_deref())?)
    } else if let Some(seed) = &args.seed {
        Box::new(source::SeedSource::new(seed))
    } else {
        let client = match &args.imds {
            Some(url) => crate::imds::ImdsClient::with_endpoint(&ctx, url),
            None => crate::imds::ImdsClient::from_context(&ctx),
        }
        .context("cannot set up the metadata client")?;
        Box::new(source::ImdsSource::new(
            client,
            tokio::runtime::Handle::current(),
        ))
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
    };
    let boot_ctx = ctx.clone();
    let power = opts.power;
    let result =
        tokio::task::spawn_blocking(move || boot::run_boot(&boot_ctx, source.as_ref(), opts))
            .await
            .context("the boot thread stopped")?;
    let code = match &result {
        Ok(summary) => {
            let items = &summary.report.items;
            let count = |s| items.iter().filter(|i| i.status == s).count();
            let st = boot::status::read(&boot::Paths::resolve(&ctx, Some(&args.state_dir))?.run);
            eprintln!(
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
                    eprintln!(
                        "strap: power_state would run `{}` (not on a --root or --local boot)",
                        cmd.join(" ")
                    );
                }
            }
            st.exit_code()
        }
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                eprintln!("caused by: {cause}");
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
        print!("{}", boot::analyze::blame(&report));
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
