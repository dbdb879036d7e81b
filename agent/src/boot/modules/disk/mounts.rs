//! `mounts` (once per instance): writes the root's `/etc/fstab` from `mounts`,
//! `mount_default_fields` and `swap` (the merge is [`fstab`](super::fstab), device names
//! are resolved by [`devices`](super::devices)), makes the swap file
//! ([`swap`]) and creates the mount points in the root; `swapon -a`,
//! `mount -a` and `systemctl daemon-reload` run only on a real boot (otherwise they, and
//! the swap file's commands, are recorded in the outcome).
//!
//! Metadata names (`ephemeral0`, `ebs1`, `swap`, `ami`, `root`) are looked up in the
//! instance's `block-device-mapping` — only when the machine has a second disk of the
//! `sd`/`xvd`/`vd` family for it to be, so a boot without one makes no extra request,
//! and not under `--root` (the machine's disks are not the image's) unless
//! [`ENV_DISK_VIEW`](super::ENV_DISK_VIEW) stands for the machine.

use std::collections::HashMap;

use super::super::super::context::Boot;
use super::super::{ModuleError, Outcome};
use super::devices::{has_spare_disk, mapped_device, sanitize_devname};
use super::fstab::{default_fields, parse_default_fields, parse_mounts, plan, FSTAB};
use super::swap;
use super::{dry_run_reason, mount_points, run_on_machine, MachineView};
use crate::boot::sysconfig::CloudInitCompat;

fn systemd_root(boot: &Boot<'_>) -> bool {
    [
        "/run/systemd/system",
        "/usr/lib/systemd/systemd",
        "/lib/systemd/systemd",
    ]
    .iter()
    .any(|p| boot.ctx.path(p).is_ok_and(|p| p.exists()))
}

use super::device_aliases as aliases;

/// The swap file to list in fstab, after making it on a real boot. Lines of what was
/// done or would be done go to `report`.
fn setup_swap(
    boot: &mut Boot<'_>,
    view: &MachineView,
    cfg: &swap::Config,
    dry: Option<&str>,
    report: &mut Vec<String>,
) -> Option<String> {
    let in_root = match boot.ctx.path(&cfg.filename) {
        Ok(p) => p,
        Err(e) => {
            boot.warn(&format!("mounts: swap.filename: {e}"));
            return None;
        }
    };
    let avail = in_root.parent().and_then(swap::free_bytes);
    match swap::plan(cfg, view, in_root.exists(), avail) {
        swap::Plan::Skip(why) => {
            report.push(format!("swap: {why}"));
            None
        }
        swap::Plan::Keep(name) => {
            report.push(format!("swap: {name} exists; kept"));
            Some(name)
        }
        swap::Plan::Create { filename, mib, dd } => {
            if let Some(reason) = dry {
                let cmds: Vec<String> = swap::create_commands(&filename, mib, dd)
                    .iter()
                    .map(|c| format!("`{}`", c.join(" ")))
                    .collect();
                // fallocate, dd when it fails; or dd alone; then mkswap.
                let shown = match cmds.as_slice() {
                    [fallocate, _, mkswap] => {
                        format!("{fallocate} (`dd` when it fails), chmod 600, {mkswap}")
                    }
                    [maker, mkswap] => format!("{maker}, chmod 600, {mkswap}"),
                    other => other.join(", "),
                };
                report.push(format!("swap: {reason}: not created; would run {shown}"));
                return Some(filename);
            }
            let b: &Boot<'_> = boot;
            match swap::create(&filename, mib, dd, &mut |argv| {
                run_on_machine(b, "mounts", argv)
            }) {
                Ok(()) => {
                    report.push(format!("swap: created {filename} ({mib} MiB)"));
                    Some(filename)
                }
                Err(e) => {
                    boot.warn(&format!("mounts: failed to set up swap {filename}: {e}"));
                    None
                }
            }
        }
    }
}

/// Which cloud-init's behaviour the config asks for; a bad value is a warning.
fn compat(boot: &mut Boot<'_>) -> CloudInitCompat {
    match CloudInitCompat::of(&boot.config) {
        Ok(c) => c,
        Err(e) => {
            boot.warn(&format!("mounts: {e}"));
            CloudInitCompat::Current
        }
    }
}

/// `mounts`.
pub fn mounts(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let systemd = systemd_root(boot);
    let defaults = parse_default_fields(boot.cfg("mount_default_fields"), systemd)?;
    let (entries, warnings) = parse_mounts(boot.cfg("mounts"))?;
    let swap_cfg = swap::parse(boot.cfg("swap"))?;
    for w in warnings {
        boot.warn(&format!("mounts: {w}"));
    }
    let view = MachineView::from_ctx(boot.ctx);
    let dry = dry_run_reason(boot, &view);
    let fstab = boot.ctx.path(FSTAB).map_err(|source| ModuleError::Path {
        path: FSTAB.into(),
        source,
    })?;
    let old = super::super::system::read_path(boot.ctx, FSTAB, &fstab)?;
    let mut report = Vec::new();
    let swap_file = match &swap_cfg {
        Some(cfg) => setup_swap(boot, &view, cfg, dry.as_deref(), &mut report),
        None => None,
    };
    let aliases = aliases(boot);
    // Under another root the machine's disks say nothing about the image's, unless a
    // view stands for the machine.
    let spare = (boot.on_real_root() || !view.is_system()) && has_spare_disk(&view);
    let src = boot.source;
    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    let mut meta = |name: &str| -> Option<String> {
        if !spare {
            return None;
        }
        mapped_device(src, name, &view, &mut cache)
    };
    // The default `/mnt` line takes the built-in options (cloud-init 25); 22.4 took
    // `mount_default_fields`' (kept with `strap_cloud_init_compat: "22.4"`).
    let mnt_options = match compat(boot) {
        CloudInitCompat::V22 => defaults[3].clone(),
        CloudInitCompat::Current => default_fields(systemd)[3].clone(),
    };
    let plan = plan(
        entries,
        &defaults,
        mnt_options.as_deref(),
        old.as_deref(),
        swap_file.as_deref(),
        &mut |name| sanitize_devname(name, &view, &aliases, &mut meta),
    );
    for note in &plan.notes {
        boot.log.line("DEBUG", &format!("mounts: {note}"));
    }
    let Some(text) = &plan.text else {
        let mut why = vec!["no modifications to /etc/fstab needed".to_string()];
        why.extend(report);
        return Ok(Outcome::Skipped(why.join("; ")));
    };
    crate::boot::durable::write(boot.ctx.root(), &fstab, text.as_bytes(), Some(0o644)).map_err(
        |source| ModuleError::Path {
            path: FSTAB.into(),
            source,
        },
    )?;
    let mounted = view
        .mountinfo()
        .map(|t| mount_points(&t))
        .unwrap_or_default();
    let mut need_mount_all = !plan.changes.is_empty();
    for d in &plan.dirs {
        match boot.ctx.path(d) {
            Ok(p) => {
                let opts = crate::context::FileOptions::default();
                if let Err(e) = crate::context::create_folder(boot.ctx.root(), &p, opts) {
                    boot.warn(&format!("mounts: cannot create mount point {d}: {e}"));
                }
            }
            Err(e) => boot.warn(&format!("mounts: mount point {d}: {e}")),
        }
        if !mounted.iter().any(|m| m == d) {
            need_mount_all = true;
        }
    }
    let mut activate: Vec<Vec<String>> = Vec::new();
    if plan.needswap {
        activate.push(vec!["swapon".into(), "-a".into()]);
    }
    if need_mount_all {
        activate.push(vec!["mount".into(), "-a".into()]);
        if systemd {
            activate.push(vec!["systemctl".into(), "daemon-reload".into()]);
        }
    }
    report.extend(plan.changes.iter().map(|c| format!("fstab: {c}")));
    if plan.changes.is_empty() {
        report.push("fstab: no changes".into());
    }
    if let Some(reason) = &dry {
        if !activate.is_empty() {
            let shown: Vec<String> = activate
                .iter()
                .map(|c| format!("`{}`", c.join(" ")))
                .collect();
            report.push(format!("{reason}: would run {}", shown.join(", ")));
        }
    } else {
        for cmd in &activate {
            let ran = run_on_machine(boot, "mounts", cmd);
            if ran.success() {
                report.push(format!("ran `{}`", cmd.join(" ")));
            } else {
                boot.warn(&format!(
                    "mounts: activate mounts: `{}` failed ({})",
                    cmd.join(" "),
                    ran.describe()
                ));
            }
        }
    }
    for line in &report {
        boot.log.line("INFO", &format!("mounts: {line}"));
    }
    Ok(Outcome::Ran {
        exit_code: None,
        tail: report,
    })
}
