//! `strap net show` (what the last boot rendered per interface, or what it would render
//! now) and `strap net apply` (configure interfaces now: hotplug, refresh).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::boot::source::{Datasource, ImdsSource};
use crate::context::Context;
use crate::net::{self, config, Action, NetReport};

use super::metadata::EndpointArgs;

/// `strap net`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NetCommand {
    /// Per interface: what strap rendered and why, or why it left it alone.
    Show(ShowArgs),
    /// Configure interfaces now from the metadata (a hotplugged ENI, a refresh of
    /// secondary addresses); a second apply with the same metadata changes nothing.
    Apply(ApplyArgs),
}

// Arguments of `strap net show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The root the boot ran under.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Ask the metadata now and show what strap would render, instead of the last
    /// boot's record.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

// Arguments of `strap net apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Configure only this interface (a name, MAC or interface id); its metadata
    /// requests go out through it.
    #[arg(long, value_name = "IF")]
    pub interface: Option<String>,
    /// The renderer (default: as the boot chooses); `iproute2` writes no files and
    /// configures the interfaces with `ip` directly.
    #[arg(long, value_name = "RENDERER")]
    pub renderer: Option<String>,
    /// Wait at most this many seconds for the interface to appear in the metadata (a
    /// new ENI takes up to 30 s).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub wait: f64,
    /// Confine writes to this folder; nothing is applied to the running machine.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The state folder (where the instance's launch interfaces are recorded).
    #[arg(long, value_name = "DIR", default_value = crate::boot::paths::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Do nothing when this boot's network step (or an earlier apply) already decided
    /// the interface, or has not run: how the hotplug unit tells an interface present at
    /// boot, which udev also announces, from one attached later.
    #[arg(long, requires = "interface")]
    pub if_new: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

fn rooted(ctx: &Context, root: Option<&Path>) -> anyhow::Result<Context> {
    match root {
        None => Ok(ctx.clone()),
        Some(r) => {
            let abs = std::fs::canonicalize(r)
                .with_context(|| format!("the root {} does not exist", r.display()))?;
            Ok(ctx.clone().with_root(abs))
        }
    }
}

fn load_settings(
    ctx: &Context,
) -> anyhow::Result<(config::NetSettings, Option<config::UserConfig>)> {
    let system = crate::boot::sysconfig::load(ctx);
    let shown = if system.files.is_empty() {
        "the system config".to_string()
    } else {
        system
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let settings = config::settings(system.node.as_ref(), &shown)?;
    let user = config::user_config(system.node.as_ref().and_then(|n| n.get("network")), &shown)?;
    Ok((settings, user))
}

fn fetcher(
    source: &dyn Datasource,
) -> impl Fn(&[String]) -> Vec<Result<Option<Vec<u8>>, String>> + '_ {
    move |paths: &[String]| {
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        source
            .fetch(&refs)
            .into_iter()
            .map(|r| r.map_err(|e| crate::boot::records::error_chain(&e)))
            .collect()
    }
}

fn launch_macs(ctx: &Context, state_dir: &Path) -> Option<Vec<String>> {
    let paths = crate::boot::Paths::resolve(ctx, Some(state_dir)).ok()?;
    let text = std::fs::read_to_string(
        paths
            .instance_link()
            .join(crate::boot::modules::network::LAUNCH_MACS),
    )
    .ok()?;
    Some(
        text.lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

/// `strap net`.
pub async fn run(cmd: NetCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        NetCommand::Show(args) => show(args, ctx).await,
        NetCommand::Apply(args) => apply(args, ctx).await,
    }
}

async fn show(args: ShowArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.root.as_deref())?;
    let report: NetReport = if args.live {
        let client = args.endpoint.client(&ctx)?;
        let (settings, user) = load_settings(&ctx)?;
        let launch = launch_macs(&ctx, Path::new(crate::boot::paths::DEFAULT_STATE_DIR));
        let source = ImdsSource::new(client, tokio::runtime::Handle::current());
        let c = ctx.clone();
        crate::threads::blocking("network", move || -> anyhow::Result<NetReport> {
            let fetch = fetcher(&source);
            let (enis, tag) = if user.is_some() {
                (Vec::new(), Vec::new())
            } else {
                net::fetch_enis(&fetch, settings.unmanaged_tag.as_deref(), net::Depth::Full)?
            };
            let opts = net::Options {
                settings: &settings,
                user: user.as_ref(),
                launch_macs: launch.as_deref(),
                only: None,
                write: false,
            };
            Ok(net::render_all(&c, enis, tag, &opts)?)
        })
        .await
        .context("the network rendering stopped")??
    } else {
        let path = ctx.path(net::REPORT_PATH)?;
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "no network record at {} (has a boot run here? `strap net show --live` asks the metadata now)",
                path.display()
            )
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a network record", path.display()))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&value)?);
            return Ok(ExitCode::SUCCESS);
        }
        return print_value(&value, true);
    };
    let value = serde_json::to_value(&report)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_value(&value, false)
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The table of a report (from its JSON, so a record of an older strap still prints);
/// `from_record` when it is the boot's.
fn print_value(v: &serde_json::Value, from_record: bool) -> anyhow::Result<ExitCode> {
    let mut rows = vec![[
        "INTERFACE".to_string(),
        "MAC".into(),
        "ENI".into(),
        "CARD/DEV".into(),
        "ACTION".into(),
        "METRIC".into(),
        "TABLE".into(),
        "ADDRESSES".into(),
        "RULES".into(),
    ]];
    let empty = Vec::new();
    let interfaces = v["interfaces"].as_array().unwrap_or(&empty);
    let mut reasons = Vec::new();
    let mut errors = false;
    for d in interfaces {
        let plan = &d["plan"];
        let mut addrs: Vec<String> = Vec::new();
        if let Some(a) = plan["dhcp4_address"].as_str() {
            addrs.push(format!("{a} (dhcp)"));
        }
        for a in plan["addresses"].as_array().unwrap_or(&empty) {
            addrs.push(cell(a));
        }
        if plan["dhcp6"].as_bool() == Some(true) {
            addrs.push("dhcp6".into());
        }
        let table = plan["rules"]
            .as_array()
            .and_then(|r| r.first())
            .map(|r| cell(&r["table"]))
            .or_else(|| plan["ra_table"].as_u64().map(|t| t.to_string()))
            .unwrap_or_else(|| {
                if plan.is_null() {
                    "-".into()
                } else {
                    "main".into()
                }
            });
        let card = match (&d["network_card"], &d["device_number"]) {
            (serde_json::Value::Null, serde_json::Value::Null) => "-".into(),
            (c, n) => format!(
                "{}/{}",
                if c.is_null() { "0".into() } else { cell(c) },
                cell(n)
            ),
        };
        if d["action"].as_str() == Some("error") {
            errors = true;
        }
        rows.push([
            cell(&d["name"]),
            cell(&d["mac"]),
            cell(&d["interface_id"]),
            card,
            cell(&d["action"]),
            cell(&plan["metric"]),
            table,
            if addrs.is_empty() {
                "-".into()
            } else {
                addrs.join(", ")
            },
            plan["rules"]
                .as_array()
                .map_or("-".into(), |r| r.len().to_string()),
        ]);
        reasons.push(format!(
            "{}: {}",
            cell(&d["name"]).replace('-', &cell(&d["mac"])),
            cell(&d["reason"])
        ));
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    println!();
    // The boot reads no more than it configures from: an instance's one interface is
    // the primary, and its ENI id is not read unless a setting names interfaces by id.
    let unread = interfaces
        .iter()
        .any(|d| d["interface_id"].is_null() && d["mac"].is_string() && d["action"] != "error");
    if from_record && interfaces.len() == 1 && unread {
        println!(
            "ENI, CARD/DEV: not read at boot for an instance's one interface (the primary); `strap net show --live` reads them"
        );
    }
    println!("source: {}", cell(&v["source"]));
    println!(
        "renderer: {} ({})",
        cell(&v["renderer"]),
        cell(&v["renderer_reason"])
    );
    if v["machine_inspected"].as_bool() == Some(false) {
        println!("machine: not inspected (no sys/class/net under the root): names are assumed");
    }
    for r in reasons {
        println!("  {r}");
    }
    for f in v["files"].as_array().unwrap_or(&empty) {
        println!("file: {} {}", cell(&f["change"]), cell(&f["path"]));
    }
    let applied = v["applied"].as_bool() == Some(true);
    for c in v["commands"].as_array().unwrap_or(&empty) {
        println!("{}: {}", if applied { "ran" } else { "not run" }, cell(c));
    }
    for p in v["problems"].as_array().unwrap_or(&empty) {
        println!("problem: {}", cell(p));
    }
    Ok(if errors {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn apply(args: ApplyArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let ctx = rooted(ctx, args.root.as_deref())?;
    let (mut settings, user) = load_settings(&ctx)?;
    if let Some(r) = &args.renderer {
        if !config::KNOWN_RENDERERS.contains(&r.as_str()) {
            anyhow::bail!(
                "unknown renderer `{r}` (strap renders {})",
                config::KNOWN_RENDERERS.join(", ")
            );
        }
        settings.renderer = Some(r.clone());
    }
    let mut settings_imds = super::metadata::settings_with_profile(&ctx);
    if let Some(url) = &args.endpoint.imds {
        settings_imds = settings_imds.with_endpoint(url.clone());
    }
    // The interface's own requests go out through it, to spend its packet budget.
    let inventory = net::machine::inventory(&ctx);
    let nic = args.interface.as_deref().and_then(|i| {
        inventory
            .by_name(i)
            .or_else(|| inventory.by_mac(i))
            .cloned()
    });
    if let (Some(n), true) = (&nic, ctx.root() == Path::new("/")) {
        settings_imds = settings_imds.through_interface(n.name.clone());
    }
    if !settings.enabled {
        tracing::info!(
            "network configuration is disabled (network: {{config: disabled}} in the system config); nothing to do"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let recorded = read_record(&ctx);
    if args.if_new {
        let iface = args.interface.as_deref().unwrap_or_default();
        let mac = nic.as_ref().map(|n| n.mac.as_str());
        let Some(record) = recorded.as_ref() else {
            tracing::info!(
                "no network record of this boot ({}): the boot's network step has not configured the network, so interface {iface} is left to it (--if-new)",
                net::REPORT_PATH
            );
            return Ok(ExitCode::SUCCESS);
        };
        if let Some(d) = decided(record, iface, mac) {
            tracing::info!(
                "interface {iface} was already decided ({}) by this boot's network step or an earlier apply; nothing to do (--if-new)",
                d["action"].as_str().unwrap_or("-")
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    // Through the interface first; where the metadata service cannot be reached through
    // it (no address yet, or a network that does not route it), through the default route.
    let bound = settings_imds
        .bind_interface
        .is_some()
        .then(|| crate::imds::ImdsClient::from_settings(&settings_imds))
        .transpose()?
        .map(|c| ImdsSource::new(c, tokio::runtime::Handle::current()));
    settings_imds.bind_interface = None;
    let client = crate::imds::ImdsClient::from_settings(&settings_imds)?;
    let source = ImdsSource::new(client, tokio::runtime::Handle::current());
    let launch = launch_macs(&ctx, &args.state_dir);
    let real = ctx.root() == Path::new("/");
    let only = args.interface.clone();
    let wait = Duration::try_from_secs_f64(args.wait.max(0.0)).unwrap_or(Duration::from_secs(30));
    let want_mac = nic.as_ref().map(|n| n.mac.clone()).or_else(|| {
        only.clone()
            .filter(|i| net::metadata::is_mac(i))
            .map(|m| m.to_ascii_lowercase())
    });
    let c = ctx.clone();
    let (report, changes) = crate::threads::blocking(
        "network",
        move || -> anyhow::Result<(NetReport, Vec<String>)> {
            let fetch = fetcher(&source);
            let through = bound.as_ref().map(|b| fetcher(b));
            let mut use_bound = through.is_some();
            let started = Instant::now();
            let (enis, tag) = loop {
                let (enis, tag) = if user.is_some() {
                    (Vec::new(), Vec::new())
                } else {
                    let tag = settings.unmanaged_tag.as_deref();
                    match through.as_ref().filter(|_| use_bound) {
                        Some(f) => match net::fetch_enis(f, tag, net::Depth::Full) {
                            Err(e @ net::NetError::Fetch { .. }) => {
                                tracing::warn!(
                                    "{e}; asking through the default route instead of the interface"
                                );
                                use_bound = false;
                                net::fetch_enis(&fetch, tag, net::Depth::Full)?
                            }
                            other => other?,
                        },
                        None => net::fetch_enis(&fetch, tag, net::Depth::Full)?,
                    }
                };
                let listed = want_mac
                    .as_ref()
                    .is_none_or(|m| enis.iter().any(|(x, _)| x == m));
                if listed || started.elapsed() >= wait {
                    if !listed {
                        tracing::warn!(
                            "interface {} is still not in the metadata after {:.0} s",
                            want_mac.as_deref().unwrap_or("-"),
                            wait.as_secs_f64()
                        );
                    }
                    break (enis, tag);
                }
                tracing::info!(
                    "waiting for interface {} to appear in the metadata",
                    want_mac.as_deref().unwrap_or("-")
                );
                std::thread::sleep(Duration::from_millis(500));
            };
            let opts = net::Options {
                settings: &settings,
                user: user.as_ref(),
                launch_macs: launch.as_deref(),
                only: only.as_deref(),
                write: true,
            };
            let mut report = net::render_all(&c, enis, tag, &opts)?;
            let mut changes = Vec::new();
            if real {
                for cmd in &report.commands {
                    let argv: Vec<&str> = cmd.split_whitespace().collect();
                    let Some((program, rest)) = argv.split_first() else {
                        continue;
                    };
                    let out = std::process::Command::new(program).args(rest).output();
                    match out {
                        Ok(o) if o.status.success() => changes.push(cmd.clone()),
                        Ok(o) => report.problems.push(format!(
                            "`{cmd}` failed: {}",
                            String::from_utf8_lossy(&o.stderr).trim()
                        )),
                        Err(e) => report.problems.push(format!("cannot run `{cmd}`: {e}")),
                    }
                }
                if report.renderer.as_deref() == Some("iproute2") {
                    for d in &report.interfaces {
                        if let Some(p) = &d.plan {
                            match net::live::reconcile(&net::live::SystemIp, p, true) {
                                Ok(done) => changes.extend(done),
                                Err(e) => report.problems.push(format!("{}: {e}", p.name)),
                            }
                        }
                    }
                }
                report.applied = report.problems.is_empty();
            }
            Ok((report, changes))
        },
    )
    .await
    .context("the network configuration stopped")??;
    save_record(&ctx, recorded, &report, args.interface.is_some());
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["changes"] = serde_json::json!(changes);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let code = print_value(&serde_json::to_value(&report)?, false)?;
        if changes.is_empty() {
            println!("changes: none");
        }
        for c in &changes {
            println!("changed: {c}");
        }
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    let bad =
        !report.problems.is_empty() || report.interfaces.iter().any(|d| d.action == Action::Error);
    Ok(if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The last network record (`/run/strap/net.json`), if there is a readable one.
fn read_record(ctx: &Context) -> Option<serde_json::Value> {
    let path = ctx.path(net::REPORT_PATH).ok()?;
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The record's decision for an interface, by name or MAC.
fn decided<'a>(
    record: &'a serde_json::Value,
    iface: &str,
    mac: Option<&str>,
) -> Option<&'a serde_json::Value> {
    record["interfaces"].as_array()?.iter().find(|d| {
        d["name"].as_str() == Some(iface)
            || d["mac"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case(iface) || Some(m) == mac)
    })
}

/// Keep what an apply did in the network record, for `strap net show`: the whole record
/// after a full apply; after a single interface's, its decision and files merged into
/// the boot's record.
fn save_record(
    ctx: &Context,
    previous: Option<serde_json::Value>,
    report: &NetReport,
    single: bool,
) {
    let Ok(mut new) = serde_json::to_value(report) else {
        return;
    };
    if let (true, Some(mut old)) = (single, previous) {
        let mut merge =
            |key: &str, same: &dyn Fn(&serde_json::Value, &serde_json::Value) -> bool| {
                let fresh = new[key].as_array().cloned().unwrap_or_default();
                let mut kept: Vec<serde_json::Value> = old[key]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|o| !fresh.iter().any(|n| same(o, n)))
                    .collect();
                kept.extend(fresh);
                new[key] = serde_json::Value::Array(kept);
            };
        merge("interfaces", &|a, b| {
            (a["mac"].is_string() && a["mac"] == b["mac"])
                || (a["name"].is_string() && a["name"] == b["name"])
        });
        merge("files", &|a, b| a["path"] == b["path"]);
        old["interfaces"] = new["interfaces"].take();
        old["files"] = new["files"].take();
        for key in ["commands", "applied", "problems", "render_ms"] {
            old[key] = new[key].take();
        }
        new = old;
    }
    let bytes = serde_json::to_vec_pretty(&new).unwrap_or_default();
    let written = ctx
        .path(net::REPORT_PATH)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            crate::boot::durable::write(ctx.root(), &p, &bytes, Some(0o644))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        tracing::warn!(
            "cannot keep the network record in {}: {e}",
            net::REPORT_PATH
        );
    }
}
