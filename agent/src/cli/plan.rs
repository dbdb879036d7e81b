//! `strap plan` and `strap apply`: argument parsing, the source of the new user data, the
//! confirmation, and output; the work is in [`crate::boot::plan`].

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::boot::plan::{self, apply, render, session};
use crate::boot::{self, Datasource};
use crate::context::Context;

// Where the new user data comes from, and where the machine is.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The metadata service (default: the SDKs' settings, then http://169.254.169.254).
    #[arg(long, value_name = "URL", conflicts_with_all = ["local", "user_data"])]
    pub imds: Option<String>,
    /// The user data of a `--local` boot: this file, served by the embedded metadata
    /// service (the same instance as `strap run --local`).
    #[arg(long, value_name = "USERDATA", conflicts_with = "user_data")]
    pub local: Option<PathBuf>,
    /// The embedded metadata service's configuration for `--local`.
    #[arg(long, value_name = "FILE", requires = "local")]
    pub mock_config: Option<PathBuf>,
    /// The new user data from this file, for the instance strap last booted here (no
    /// metadata request).
    #[arg(long, value_name = "USERDATA")]
    pub user_data: Option<PathBuf>,
    /// Read the metadata from a folder laid out like the metadata tree (as `strap run
    /// --seed`).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["imds", "local", "user_data"])]
    pub seed: Option<PathBuf>,
    /// The root the boot ran under.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The state folder, as a path on the (rooted) machine.
    #[arg(long, value_name = "DIR", default_value = boot::paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// One-shot modules to run again (comma-separated): runcmd, scripts_user, bootcmd,
    /// boothooks, scripts_per_instance, scripts_per_boot, scripts_per_once.
    #[arg(long, value_name = "MODULES", value_delimiter = ',')]
    pub rerun: Vec<String>,
    /// Remove what strap made and the new user data no longer declares (files unchanged
    /// since strap wrote them, users, groups, packages); never what was there before.
    #[arg(long)]
    pub prune: bool,
}

// Arguments of `strap plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

// Arguments of `strap apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Overwrite (or with --prune remove) files changed by hand since strap wrote them.
    #[arg(long)]
    pub force: bool,
    /// Print the plan and the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Exit status of `strap plan` when there are changes (as `terraform plan
/// -detailed-exitcode`).
pub const EXIT_CHANGES: u8 = 2;

/// The source of the new user data (and the embedded service to stop afterwards).
async fn open_source(
    ctx: &Context,
    args: &SourceArgs,
) -> anyhow::Result<(Box<dyn Datasource>, Option<imds_mock::RunningMock>)> {
    if let Some(file) = &args.user_data {
        let bytes = std::fs::read(file)
            .with_context(|| format!("cannot read the user data {}", file.display()))?;
        let paths = boot::Paths::resolve(ctx, Some(&args.state_dir))?;
        let source = session::RecordedSource::open(&paths, bytes)?;
        return Ok((Box::new(source), None));
    }
    if let Some(seed) = &args.seed {
        return Ok((Box::new(boot::SeedSource::new(seed)), None));
    }
    super::run::metadata_source(
        ctx,
        args.imds.as_deref(),
        args.local.as_deref(),
        args.mock_config.as_deref(),
    )
    .await
}

fn boot_options(args: &SourceArgs) -> boot::BootOptions {
    boot::BootOptions {
        state_dir: Some(args.state_dir.clone()),
        console: true,
        power: boot::PowerAction::DryRun,
        network: false,
        ..boot::BootOptions::default()
    }
}

fn plan_options(args: &SourceArgs) -> plan::PlanOptions {
    plan::PlanOptions {
        rerun: args.rerun.clone(),
        prune: args.prune,
    }
}

/// Open the source of the new user data, compute the plan and hand it, with the boot
/// context, to `then` on a blocking thread (the metadata client blocks), then stop the
/// embedded service.
async fn with_plan<T: Send + 'static>(
    ctx: &Context,
    args: &SourceArgs,
    then: impl FnOnce(&mut boot::context::Boot<'_>, session::Planned) -> Result<T, session::SessionError>
        + Send
        + 'static,
) -> anyhow::Result<T> {
    let (source, mock) = open_source(ctx, args).await?;
    let opts = boot_options(args);
    let plan_opts = plan_options(args);
    let boot_ctx = ctx.clone();
    let result = crate::threads::blocking("plan", move || {
        session::with_plan(&boot_ctx, source.as_ref(), opts, &plan_opts, then)
    })
    .await
    .context("the plan thread stopped")?;
    if let Some(mock) = mock {
        mock.shutdown().await;
    }
    Ok(result?)
}

/// `strap plan`.
pub async fn plan(args: PlanArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = super::run::rooted(ctx, args.source.root.as_deref(), false)?;
    let plan = with_plan(&ctx, &args.source, |_, planned| Ok(planned.plan)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", render::text(&plan));
    }
    Ok(ExitCode::from(if plan.has_changes() {
        EXIT_CHANGES
    } else {
        0
    }))
}

/// `strap apply`.
pub async fn apply(args: ApplyArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = super::run::rooted(ctx, args.source.root.as_deref(), false)?;
    if args.source.local.is_some() && ctx.root() == Path::new("/") {
        anyhow::bail!(
            "`--local` would apply the embedded service's user data to this machine itself; pass --root DIR (the root `strap run --local` booted)"
        );
    }
    let apply_opts = apply::ApplyOptions {
        force: args.force,
        prune: args.source.prune,
    };
    let (yes, json) = (args.yes, args.json);
    let (plan, outcome) = with_plan(&ctx, &args.source, move |boot, mut planned| {
        if !json {
            print!("{}", render::text(&planned.plan));
        }
        if !planned.plan.has_changes() {
            return Ok((planned.plan, None));
        }
        if !yes && !confirmed() {
            return Ok((planned.plan, None));
        }
        let outcome = apply::apply(
            boot,
            &planned.plan,
            &mut planned.record,
            &planned.user_data_sha,
            &apply_opts,
        )?;
        session::finish(boot, &outcome)?;
        Ok((planned.plan, Some(outcome)))
    })
    .await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "plan": plan, "outcome": outcome }))?
        );
    }
    let Some(outcome) = outcome else {
        if plan.has_changes() && !yes {
            anyhow::bail!("not applied: confirm with `yes`, or pass --yes");
        }
        if !json {
            println!("Nothing to apply.");
        }
        return Ok(ExitCode::SUCCESS);
    };
    for s in &outcome.skipped {
        crate::say!("strap: apply: skipped: {s}");
    }
    if !json {
        let n = outcome.applied.len();
        println!(
            "Apply: {n} module{} applied, {} failed.",
            if n == 1 { "" } else { "s" },
            outcome.failed.len()
        );
        for (module, why) in &outcome.failed {
            println!("  {module}: {why}");
        }
    }
    Ok(ExitCode::from(if outcome.failed.is_empty() {
        0
    } else {
        1
    }))
}

/// Ask on the terminal; anything but `yes` (or no terminal) declines.
fn confirmed() -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("\nApply these changes? Only 'yes' is accepted: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && line.trim() == "yes"
}
