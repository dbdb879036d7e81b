//! `strap net`: every network interface configured from the instance metadata (or the
//! image's own network config), on the renderer the image has, without touching what
//! another owner has. Data flows one way:
//! [`metadata`] (the listing of `macs/`, then each interface's listing, then the leaves
//! those list, each round in parallel) → [`plan::decide`] with the machine's interfaces
//! ([`machine`]), the image's settings ([`config`]) and other tools' files
//! ([`existing`]) → a [`plan::Decision`] per interface → [`render`] (networkd, netplan, ifupdown, NetworkManager files, or `ip`
//! commands) → [`write`] (only strap's own files; stale ones removed) → the caller runs
//! the reload commands, on a real root only. The outcome is a [`NetReport`], kept in
//! `/run/strap/net.json` for `strap net show`.
//!
//! This module never fetches by itself: callers hand it a fetch function (the boot's
//! datasource, or the IMDS client), so it runs against a seed folder in tests.

pub mod addr;
pub mod config;
pub mod existing;
pub mod live;
pub mod machine;
pub mod metadata;
pub mod model;
pub mod plan;
pub mod render;

#[cfg(test)]
mod golden;

use std::time::Instant;

use serde::Serialize;

use crate::context::Context;

pub use config::NetSettings;
pub use plan::{Action, Decision};

/// Where the report of the last rendering is kept.
pub const REPORT_PATH: &str = "/run/strap/net.json";

/// Errors of network configuration.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The settings or the user's network config are invalid.
    #[error("invalid network config: {0}")]
    Config(#[from] config::ConfigError),
    /// The metadata could not be read.
    #[error("cannot read the network interfaces from the metadata at {path}: {message}")]
    Fetch { path: String, message: String },
    /// The metadata's listing is malformed.
    #[error(transparent)]
    Metadata(#[from] metadata::MetadataError),
    /// A forced renderer is not installed.
    #[error("the network renderer `{renderer}` is not installed under {root}: {missing}; install it or set strap_net.renderer to one the image has")]
    NotInstalled {
        renderer: String,
        root: String,
        missing: String,
    },
    /// No renderer of the list is installed.
    #[error("no network renderer is installed under {root} (tried {tried}); install systemd-networkd, netplan, ifupdown or NetworkManager, or set strap_net.renderer")]
    NoRenderer { root: String, tried: String },
    /// A file could not be written or removed.
    #[error("cannot {op} {path}: {message}")]
    File {
        op: &'static str,
        path: String,
        message: String,
    },
}

/// A fetch function: metadata paths in, one answer each (`Ok(None)`: not found).
pub type Fetch<'a> = &'a dyn Fn(&[String]) -> Vec<Result<Option<Vec<u8>>, String>>;

/// Every MAC of the metadata with its parsed interface (or what is wrong with it).
pub type Enis = Vec<(String, Result<metadata::Eni, metadata::MetadataError>)>;

/// How much of the interfaces' metadata [`fetch_enis`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every leaf each interface lists (what `strap net` shows): the `macs/` listing,
    /// each interface's listing, then its leaves.
    Full,
    /// At boot. With several interfaces, as [`Depth::Full`]. A lone interface is the
    /// primary (card 0, device 0): only the leaves its configuration uses are read, in
    /// one round and without its listing (`local-ipv4s`, `subnet-ipv4-cidr-block`,
    /// `ipv6s`; `interface-id` too when a setting selects interfaces by id).
    Boot { interface_id: bool },
}

/// The leaves a lone, primary interface is configured from (see [`Depth::Boot`]).
const PRIMARY_LEAVES: &[&str] = &["local-ipv4s", "subnet-ipv4-cidr-block", "ipv6s"];

/// The interfaces of the metadata, each parsed or with what is wrong, plus the
/// interfaces named by the `unmanaged_tag` instance tag.
pub fn fetch_enis(
    fetch: Fetch<'_>,
    unmanaged_tag: Option<&str>,
    depth: Depth,
) -> Result<(Enis, Vec<String>), NetError> {
    let listing = fetch(&[metadata::MACS_PATH.to_string()]);
    let text = answer_text(metadata::MACS_PATH, listing.first())?.unwrap_or_default();
    let macs = metadata::parse_macs(&text)?;
    if let (Depth::Boot { interface_id }, [mac]) = (depth, macs.as_slice()) {
        return fetch_primary(fetch, mac, interface_id, unmanaged_tag);
    }
    // Second round: each interface's own listing, so that the third asks only for the
    // leaves it has (a plain ENI has 4 of the 9: no IPv6, prefixes or network card).
    let mut paths: Vec<String> = macs
        .iter()
        .map(|m| format!("{}{m}/", metadata::MACS_PATH))
        .collect();
    if let Some(tag) = unmanaged_tag {
        paths.push(format!("/latest/meta-data/tags/instance/{tag}"));
    }
    let listings = fetch(&paths);
    let mut wanted: Vec<(usize, &'static str)> = Vec::new();
    for (i, path) in paths.iter().enumerate().take(macs.len()) {
        // Detached between the two listings (no answer): it parses as an interface
        // without a device number, and is reported so.
        let present: Vec<String> = answer_text(path, listings.get(i))?
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().trim_end_matches('/').to_string())
            .collect();
        wanted.extend(
            metadata::LEAVES
                .iter()
                .filter(|leaf| present.iter().any(|p| p == *leaf))
                .map(|leaf| (i, *leaf)),
        );
    }
    let leaf_paths: Vec<String> = wanted
        .iter()
        .map(|(i, leaf)| format!("{}{}/{leaf}", metadata::MACS_PATH, macs[*i]))
        .collect();
    let answers = if leaf_paths.is_empty() {
        Vec::new()
    } else {
        fetch(&leaf_paths)
    };
    let mut leaves: Vec<std::collections::BTreeMap<&str, String>> =
        vec![std::collections::BTreeMap::new(); macs.len()];
    for (((i, leaf), path), answer) in wanted.iter().zip(&leaf_paths).zip(&answers) {
        if let Some(text) = answer_text(path, Some(answer))? {
            leaves[*i].insert(*leaf, text);
        }
    }
    let out = macs
        .iter()
        .zip(&leaves)
        .map(|(mac, l)| {
            (
                mac.clone(),
                metadata::Eni::parse(mac, |k| l.get(k).cloned()),
            )
        })
        .collect();
    let tag = tag_entries(listings.get(macs.len()).filter(|_| unmanaged_tag.is_some()));
    Ok((out, tag))
}

/// The text of one answer: `None` when the path is not found (or was not answered), a
/// failed fetch as [`NetError::Fetch`] naming the path.
fn answer_text(
    path: &str,
    answer: Option<&Result<Option<Vec<u8>>, String>>,
) -> Result<Option<String>, NetError> {
    match answer {
        Some(Ok(Some(b))) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
        Some(Ok(None)) | None => Ok(None),
        Some(Err(message)) => Err(NetError::Fetch {
            path: path.to_string(),
            message: message.clone(),
        }),
    }
}

/// The interface ids an `unmanaged_tag` answer names (comma- or space-separated).
fn tag_entries(answer: Option<&Result<Option<Vec<u8>>, String>>) -> Vec<String> {
    match answer {
        Some(Ok(Some(b))) => String::from_utf8_lossy(b)
            .split([',', ' ', '\n'])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// [`Depth::Boot`] with a lone interface: its leaves in one round, beside the tag.
fn fetch_primary(
    fetch: Fetch<'_>,
    mac: &str,
    interface_id: bool,
    unmanaged_tag: Option<&str>,
) -> Result<(Enis, Vec<String>), NetError> {
    let mut names: Vec<&'static str> = PRIMARY_LEAVES.to_vec();
    if interface_id {
        names.push("interface-id");
    }
    let mut paths: Vec<String> = names
        .iter()
        .map(|leaf| format!("{}{mac}/{leaf}", metadata::MACS_PATH))
        .collect();
    if let Some(tag) = unmanaged_tag {
        paths.push(format!("/latest/meta-data/tags/instance/{tag}"));
    }
    let answers = fetch(&paths);
    let mut leaves = std::collections::BTreeMap::new();
    // The only interface an instance has is its primary one.
    leaves.insert("device-number", "0".to_string());
    for ((leaf, path), answer) in names.iter().zip(&paths).zip(&answers) {
        if let Some(text) = answer_text(path, Some(answer))? {
            leaves.insert(*leaf, text);
        }
    }
    let eni = metadata::Eni::parse(mac, |k| leaves.get(k).cloned());
    let tag = tag_entries(answers.get(names.len()).filter(|_| unmanaged_tag.is_some()));
    Ok((vec![(mac.to_string(), eni)], tag))
}

fn found(ctx: &Context, dirs: &[&str], program: &str) -> bool {
    dirs.iter().any(|d| {
        ctx.path(format!("{d}/{program}"))
            .map(|p| p.is_file())
            .unwrap_or(false)
    })
}

fn file(ctx: &Context, path: &str) -> bool {
    ctx.path(path).map(|p| p.exists()).unwrap_or(false)
}

/// What a renderer lacks under the root (`None`: it is installed), checked as
/// cloud-init's `available()` checks (networkd also needs its daemon).
pub fn missing(ctx: &Context, renderer: &str) -> Option<String> {
    let sbin = ["/sbin", "/usr/sbin"];
    let all = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
    match renderer {
        "eni" => {
            for p in ["ifquery", "ifup", "ifdown"] {
                if !found(ctx, &sbin, p) {
                    return Some(format!("no {p} in /sbin or /usr/sbin"));
                }
            }
            (!file(ctx, "/etc/network/interfaces")).then(|| "no /etc/network/interfaces".into())
        }
        "netplan" => (!found(ctx, &["/usr/sbin", "/sbin", "/usr/bin"], "netplan"))
            .then(|| "no netplan in /usr/sbin or /sbin".into()),
        "network-manager" => {
            if !file(ctx, "/etc/NetworkManager/NetworkManager.conf") {
                return Some("no /etc/NetworkManager/NetworkManager.conf".into());
            }
            if !found(ctx, &all, "nmcli") {
                return Some("no nmcli".into());
            }
            None
        }
        "networkd" => {
            if !found(ctx, &all, "ip") {
                return Some("no ip".into());
            }
            if !found(ctx, &all, "systemctl") {
                return Some("no systemctl".into());
            }
            if !found(
                ctx,
                &["/usr/lib/systemd", "/lib/systemd"],
                "systemd-networkd",
            ) {
                return Some("no systemd-networkd in /usr/lib/systemd".into());
            }
            None
        }
        "iproute2" => (!found(ctx, &all, "ip")).then(|| "no ip".into()),
        "sysconfig" => Some("strap does not render sysconfig (RHEL ifcfg) files".into()),
        other => Some(format!("`{other}` is not a renderer strap knows")),
    }
}

/// The renderer to use and why.
pub fn choose_renderer(
    ctx: &Context,
    settings: &NetSettings,
) -> Result<(String, String), NetError> {
    let root = ctx.root().display().to_string();
    if let Some(r) = &settings.renderer {
        return match missing(ctx, r) {
            None => Ok((r.clone(), "strap_net.renderer".into())),
            Some(why) => Err(NetError::NotInstalled {
                renderer: r.clone(),
                root,
                missing: why,
            }),
        };
    }
    let mut skipped = Vec::new();
    for r in &settings.renderers {
        match missing(ctx, r) {
            None => {
                let mut why = format!("first installed of {}", settings.renderers.join(", "));
                if !skipped.is_empty() {
                    why.push_str(&format!(" ({})", skipped.join("; ")));
                }
                return Ok((r.clone(), why));
            }
            Some(m) => skipped.push(format!("{r}: {m}")),
        }
    }
    if ctx.root() != std::path::Path::new("/") {
        return Ok((
            "networkd".into(),
            format!(
                "assumed: no renderer is installed under {root} ({})",
                skipped.join("; ")
            ),
        ));
    }
    Err(NetError::NoRenderer {
        root,
        tried: skipped.join("; "),
    })
}

/// A container network plugin's config file under the root, if one is installed.
pub fn cni_config(ctx: &Context) -> Option<String> {
    let dir = ctx.path("/etc/cni/net.d").ok()?;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names.first().map(|n| format!("/etc/cni/net.d/{n}"))
}

/// What happened to a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    /// `written`, `unchanged` or `removed`.
    pub change: String,
    /// The interface it configures (`None` for a file of several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// The outcome of one rendering, kept for `strap net show`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetReport {
    /// `instance metadata`, `network config in <file>`, or `disabled (…)`.
    pub source: String,
    pub renderer: Option<String>,
    pub renderer_reason: String,
    pub root: String,
    pub machine_inspected: bool,
    pub interfaces: Vec<Decision>,
    pub files: Vec<FileChange>,
    /// Commands run (or, under `--root`, that would run).
    pub commands: Vec<String>,
    /// Whether `commands` ran (false under `--root`).
    pub applied: bool,
    pub problems: Vec<String>,
    /// Milliseconds spent deciding and rendering (fetching excluded).
    pub render_ms: f64,
}

impl NetReport {
    /// Whether something went wrong that the boot should warn about.
    pub fn degraded(&self) -> bool {
        !self.problems.is_empty() || self.interfaces.iter().any(|d| d.action == Action::Error)
    }
}

/// The inputs of a rendering besides the metadata.
pub struct Options<'a> {
    pub settings: &'a NetSettings,
    pub user: Option<&'a config::UserConfig>,
    /// MACs present at the instance's first boot (`None`: this is the first).
    pub launch_macs: Option<&'a [String]>,
    /// Configure only this interface (`strap net apply --interface`).
    pub only: Option<&'a str>,
    /// Write files (false for `strap net show`).
    pub write: bool,
}

/// Decide and render (and, with `opts.write`, write the files). Reload commands are
/// listed in the report for the caller to run.
pub fn render_all(
    ctx: &Context,
    enis: Vec<(String, Result<metadata::Eni, metadata::MetadataError>)>,
    tag_unmanaged: Vec<String>,
    opts: &Options<'_>,
) -> Result<NetReport, NetError> {
    let timer = Instant::now();
    let (renderer, renderer_reason) = choose_renderer(ctx, opts.settings)?;
    let inventory = machine::inventory(ctx);
    let claims = existing::claims(ctx, &renderer);
    let inputs = plan::Inputs {
        enis,
        inventory: &inventory,
        settings: opts.settings,
        claims: &claims,
        launch_macs: opts.launch_macs,
        cni: cni_config(ctx),
        tag_unmanaged,
        user: opts.user,
    };
    let mut decisions = plan::decide(&inputs);
    // netplan and ifupdown keep every interface in one file: it is rendered whole.
    let all_plans: Vec<model::IfacePlan> =
        decisions.iter().filter_map(|d| d.plan.clone()).collect();
    if let Some(only) = opts.only {
        decisions.retain(|d| {
            d.name.as_deref() == Some(only)
                || d.mac
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(only))
                || d.interface_id.as_deref() == Some(only)
        });
    }
    let mut report = NetReport {
        source: match opts.user {
            Some(u) => format!("network config in {}", u.file),
            None => "instance metadata".into(),
        },
        renderer: Some(renderer.clone()),
        renderer_reason,
        root: ctx.root().display().to_string(),
        machine_inspected: inventory.inspected(),
        ..Default::default()
    };
    let plans: Vec<&model::IfacePlan> = decisions.iter().filter_map(|d| d.plan.as_ref()).collect();
    let every: Vec<&model::IfacePlan> = all_plans.iter().collect();
    let mut files = render::files(&renderer, &every, &opts.settings.networkd_dir);
    if opts.only.is_some() && matches!(renderer.as_str(), "networkd" | "network-manager") {
        files.retain(|f| interface_of(&f.path, &plans).is_some());
    }
    if opts.write {
        report.files = write(
            ctx,
            &renderer,
            &opts.settings.networkd_dir,
            &files,
            opts.only.is_some(),
        )?;
        let bus = Bus {
            system_bus: file(ctx, SYSTEM_BUS_SOCKET),
            wait_online: ["/usr/lib/systemd", "/lib/systemd"]
                .into_iter()
                .map(|d| format!("{d}/systemd-networkd-wait-online"))
                .find(|p| file(ctx, p)),
        };
        report.commands = reload_commands(&renderer, &report.files, &plans, &bus);
    } else {
        report.files = files
            .iter()
            .map(|f| FileChange {
                path: f.path.clone(),
                change: "would write".into(),
                interface: interface_of(&f.path, &plans),
            })
            .collect();
    }
    report.interfaces = decisions;
    report.render_ms = timer.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

fn interface_of(path: &str, plans: &[&model::IfacePlan]) -> Option<String> {
    plans
        .iter()
        .find(|p| {
            path.ends_with(&format!("-{}.network", p.name))
                || path.ends_with(&format!("-{}.nmconnection", p.name))
        })
        .map(|p| p.name.clone())
}

/// Write the rendered files (only those whose contents change) and remove strap's stale
/// files of the renderer (not when configuring a single interface).
pub fn write(
    ctx: &Context,
    renderer: &str,
    networkd_dir: &str,
    files: &[render::RenderedFile],
    single: bool,
) -> Result<Vec<FileChange>, NetError> {
    let mut out = Vec::new();
    let plans_names = |p: &str| {
        p.rsplit('/')
            .next()
            .and_then(|n| {
                n.strip_prefix("10-strap-")
                    .or_else(|| n.strip_prefix("strap-"))
            })
            .map(|n| {
                n.trim_end_matches(".network")
                    .trim_end_matches(".nmconnection")
                    .to_string()
            })
    };
    for f in files {
        let target = ctx.path(&f.path).map_err(|e| NetError::File {
            op: "resolve",
            path: f.path.clone(),
            message: e.to_string(),
        })?;
        let same = std::fs::read(&target)
            .map(|old| old == f.contents.as_bytes())
            .unwrap_or(false);
        if !same {
            ctx.write_atomic(&f.path, f.contents.as_bytes(), Some(f.mode))
                .map_err(|e| NetError::File {
                    op: "write",
                    path: f.path.clone(),
                    message: e.to_string(),
                })?;
        }
        out.push(FileChange {
            path: f.path.clone(),
            change: if same { "unchanged" } else { "written" }.into(),
            interface: plans_names(&f.path),
        });
    }
    if single {
        return Ok(out);
    }
    for dir in render::own_dirs(renderer, networkd_dir) {
        let Ok(path) = ctx.path(&dir) else { continue };
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let machine = format!("{dir}/{name}");
            if !render::is_own_path(renderer, &dir, &name)
                || files.iter().any(|f| f.path == machine)
            {
                continue;
            }
            std::fs::remove_file(path.join(&name)).map_err(|e| NetError::File {
                op: "remove",
                path: machine.clone(),
                message: e.to_string(),
            })?;
            out.push(FileChange {
                path: machine.clone(),
                change: "removed".into(),
                interface: plans_names(&machine),
            });
        }
    }
    Ok(out)
}

/// The system bus's socket: `networkctl` and `nmcli` talk to their daemons over it.
pub const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// What the reload commands can use on the machine.
#[derive(Debug, Clone, Default)]
pub struct Bus {
    /// Whether the system bus is up. At boot strap's network stage runs before
    /// `sysinit.target`, so before D-Bus: there `networkctl` cannot reach networkd.
    pub system_bus: bool,
    /// networkd's `systemd-networkd-wait-online`, when installed.
    pub wait_online: Option<String>,
}

/// The commands that make a renderer take up changed files. networkd without the
/// system bus is restarted through systemd's own socket (its restart keeps the running
/// configuration: `RestartKillSignal=SIGUSR2`), then strap waits, bounded, for the
/// interfaces it configured to be routable, so the modules after it have the network.
pub fn reload_commands(
    renderer: &str,
    files: &[FileChange],
    plans: &[&model::IfacePlan],
    bus: &Bus,
) -> Vec<String> {
    let changed: Vec<&FileChange> = files.iter().filter(|f| f.change != "unchanged").collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = changed.iter().filter_map(|f| f.interface.clone()).collect();
    let up: Vec<&String> = names
        .iter()
        .filter(|n| plans.iter().any(|p| &p.name == *n))
        .collect();
    match renderer {
        "networkd" if !bus.system_bus => {
            let mut c = vec!["systemctl try-restart systemd-networkd.service".to_string()];
            if let Some(wait) = &bus.wait_online {
                let known: Vec<&String> = up
                    .iter()
                    .copied()
                    .filter(|n| plans.iter().any(|p| &p.name == *n && !p.name_assumed))
                    .collect();
                if !known.is_empty() {
                    c.push(format!(
                        "{wait} --timeout=30 --operational-state=routable {}",
                        known
                            .iter()
                            .map(|n| format!("--interface={n}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ));
                }
            }
            c
        }
        "networkd" => {
            let mut c = vec!["networkctl reload".to_string()];
            if !up.is_empty() {
                c.push(format!(
                    "networkctl reconfigure {}",
                    up.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
                ));
            }
            c
        }
        "netplan" => vec!["netplan apply".into()],
        "eni" => plans.iter().map(|p| format!("ifup {}", p.name)).collect(),
        "network-manager" => {
            let mut c = vec!["nmcli connection reload".to_string()];
            for n in &up {
                c.push(format!("nmcli connection up strap-{n}"));
            }
            c
        }
        _ => Vec::new(),
    }
}
