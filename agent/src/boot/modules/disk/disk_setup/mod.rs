//! `disk_setup` (once per instance): partition tables (`disk_setup`) and filesystems
//! (`fs_setup`), as cloud-init 25's cc_disk_setup makes them, before `mounts`.
//!
//! Device names go through `device_aliases` and the instance's `block-device-mapping`
//! (`ephemeral0`, `swap`, `ebsN`, with EC2's `sd` → `xvd`/`vd` remapping), as cloud-init's
//! `alias_to_device`. What is on a disk (its partitions, their types, a filesystem and
//! its label, its size) is read from the [`MachineView`]: `/sys/block`, `/sys/class/block`
//! and udev's database (`/run/udev/data/b<major>:<minor>`, what `lsblk` reads), after
//! `udevadm settle`. A disk that already holds partitions or a filesystem is left alone
//! unless `overwrite: true`; a device whose filesystem and label already match is not
//! formatted again.
//!
//! The commands are computed from the config and the view alone ([`plan_disk`],
//! [`plan_fs`]), so they can be compared with cloud-init's: `sfdisk --force` (MBR, the
//! table on its input) or `sgdisk -Z`/`-n`/`-t` (GPT), then `partprobe` (or `blockdev
//! --rereadpt`) between `udevadm settle`s; `mkfs.<fs>` (or `mkswap`) with the label, the
//! force flag and `extra_opts`, or `cmd` through `sh -c`. They run only on a real boot;
//! otherwise the outcome lists them, and later entries see the partitions and
//! filesystems the earlier ones would have made. A missing program fails its entry with
//! the package that has it; the other entries still run.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::process::{Command, Stdio};

use crate::cloudconfig::Value;

use super::super::super::context::Boot;
use super::super::{scalar_text, wrong_type, ModuleError, Outcome};
use super::devices::{has_spare_disk, is_meta_device_name, mapped_device};
use super::{dry_run_reason, have_program, run_on_machine, MachineView, Ran};

mod config;
mod plan;
mod probe;

pub use config::*;
pub use plan::*;
pub use probe::*;

/// Run one step on the machine.
fn run_step(boot: &Boot<'_>, view: &MachineView, step: &Step) -> Result<(), String> {
    match step {
        Step::Run {
            argv,
            input,
            must_succeed,
        } => {
            let ran = match input {
                None => run_on_machine(boot, "disk_setup", argv),
                Some(text) => run_with_input(argv, text),
            };
            if !ran.success() {
                let why = format!("`{}` failed ({})", step.shown(), ran.describe());
                if *must_succeed {
                    return Err(why);
                }
                boot.log.line("WARNING", &format!("disk_setup: {why}"));
            }
            Ok(())
        }
        Step::ZeroEnds(dev) => zero_ends(&view.path(dev))
            .map_err(|e| format!("cannot wipe the partition table of {dev}: {e}")),
    }
}

/// `sfdisk` reads its table on standard input.
fn run_with_input(argv: &[String], input: &str) -> Ran {
    let Some((program, args)) = argv.split_first() else {
        return Ran::default();
    };
    let child = Command::new(program)
        .args(args)
        .env("LANG", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Ran {
                exit_code: None,
                tail: vec![format!("cannot start: {e}")],
            }
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) => Ran {
            exit_code: out.status.code(),
            tail: String::from_utf8_lossy(&out.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&out.stdout).lines())
                .map(String::from)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .take(10)
                .rev()
                .collect(),
        },
        Err(e) => Ran {
            exit_code: None,
            tail: vec![format!("cannot wait: {e}")],
        },
    }
}

/// Zeros over the first and last MiB (MBR and both GPT copies).
fn zero_ends(path: &std::path::Path) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    let zeros = vec![0u8; 1 << 20];
    f.write_all(&zeros)?;
    f.seek(SeekFrom::End(-(1 << 20)))?;
    f.write_all(&zeros)?;
    f.sync_all()
}

use super::device_aliases as aliases;

/// `disk_setup` (both `disk_setup` and `fs_setup`).
pub fn disk_setup(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let disks_node = boot.cfg("disk_setup").cloned();
    let fs_node = boot.cfg("fs_setup").cloned();
    if disks_node.is_none() && fs_node.is_none() {
        return Ok(Outcome::Skipped("no disk_setup or fs_setup".into()));
    }
    let mut failures = Vec::new();
    let mut disks = Vec::new();
    match disks_node.as_ref().map(|n| &n.value) {
        None => {}
        Some(Value::Map(entries)) => {
            for (k, v) in entries {
                let name = scalar_text(k).unwrap_or_default();
                match parse_disk(&name, v) {
                    Ok(e) => disks.push(e),
                    Err(e) => failures.push(format!("disk_setup `{name}`: {e}")),
                }
            }
        }
        Some(_) => {
            if let Some(n) = &disks_node {
                return Err(wrong_type("disk_setup", "a mapping", n));
            }
        }
    }
    let mut fss = Vec::new();
    match fs_node.as_ref().map(|n| &n.value) {
        None => {}
        Some(Value::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                match parse_fs(i, item) {
                    Ok(e) => fss.push((i, e)),
                    Err(e) => failures.push(format!("fs_setup.{i}: {e}")),
                }
            }
        }
        Some(_) => {
            if let Some(n) = &fs_node {
                return Err(wrong_type("fs_setup", "a list", n));
            }
        }
    }
    let attempted = disks.len() + fss.len() + failures.len();
    let view = MachineView::from_ctx(boot.ctx);
    let dry = dry_run_reason(boot, &view);
    let aliases = aliases(boot);
    let spare = (boot.on_real_root() || !view.is_system()) && has_spare_disk(&view);
    let src = boot.source;
    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    let mut to_device = |cand: &str| -> Option<String> {
        let alias = aliases.get(cand).cloned();
        let name = alias.clone().unwrap_or_else(|| cand.to_string());
        let meta = if spare && is_meta_device_name(&name) {
            mapped_device(src, &name, &view, &mut cache)
        } else {
            None
        };
        meta.or(alias)
    };
    let disks = resolve_disks(disks, &mut to_device);
    for (_, e) in fss.iter_mut() {
        resolve_fs(e, &mut to_device);
    }

    let on_path = |p: &str| have_program(boot, p);
    let any = |p: &str| p != "mkfs.swap";
    let has: &Has<'_> = if dry.is_some() { &any } else { &on_path };
    let fss: Vec<FsEntry> = fss.into_iter().map(|(_, e)| e).collect();
    let done = apply(&disks, &fss, &view, dry.as_deref(), has, &mut |step| {
        run_step(boot, &view, step)
    });
    failures.extend(done.failures);
    let (lines, ran_any) = (done.lines, done.ran_any);
    for line in &lines {
        boot.log.line("INFO", &format!("disk_setup: {line}"));
    }
    if !failures.is_empty() {
        for f in &failures {
            boot.log.line("WARNING", &format!("disk_setup: {f}"));
        }
        return Err(ModuleError::Entries {
            attempted,
            failures,
        });
    }
    if let Some(reason) = dry {
        return Ok(Outcome::Skipped(format!("{reason}: {}", lines.join("; "))));
    }
    if !ran_any {
        return Ok(Outcome::Skipped(lines.join("; ")));
    }
    Ok(Outcome::Ran {
        exit_code: Some(0),
        tail: lines,
    })
}

/// What [`apply`] did: a line per entry, the entries that failed, and whether anything
/// ran on the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub lines: Vec<String>,
    pub failures: Vec<String>,
    pub ran_any: bool,
}

/// Plan and run (`dry` is `None`) or record each `disk_setup` entry, then each `fs_setup`
/// entry, in cloud-init's order; `run` carries out one step on the machine. A failed
/// entry is noted and the next one goes on.
pub fn apply(
    disks: &[DiskEntry],
    fss: &[FsEntry],
    view: &MachineView,
    dry: Option<&str>,
    has: &Has<'_>,
    run: &mut dyn FnMut(&Step) -> Result<(), String>,
) -> Applied {
    let mut probe = Probe::new(view);
    let mut done = Applied::default();
    // A device udev has not made yet may appear once its events are handled.
    let settle_for =
        |dev: &str, probe: &Probe<'_>, run: &mut dyn FnMut(&Step) -> Result<(), String>| {
            if dry.is_none() && !probe.exists(dev) && has("udevadm") {
                let _ = run(&settle());
            }
        };
    for entry in disks {
        let what = format!("disk_setup `{}`", entry.name);
        settle_for(&entry.device, &probe, run);
        let planned = plan_disk(entry, &probe, has);
        let count = match &entry.layout {
            Layout::Whole => 1,
            Layout::Parts(p) => p.len(),
            _ => 0,
        };
        match execute(dry, has, &what, planned, &mut done, run) {
            Some(device) if dry.is_some() => probe.partitioned(&device, count),
            Some(_) => done.ran_any = true,
            None => {}
        }
    }
    for entry in fss {
        let what = match &entry.device {
            Some(d) => format!("fs_setup `{d}`"),
            None => "fs_setup".to_string(),
        };
        if let Some(dev) = &entry.device {
            settle_for(dev, &probe, run);
        }
        let planned = plan_fs(entry, &probe, has);
        if let Some(device) = execute(dry, has, &what, planned, &mut done, run) {
            done.ran_any |= dry.is_none();
            probe.formatted(
                &device,
                entry.filesystem.as_deref().unwrap_or_default(),
                entry.label.as_deref().unwrap_or_default(),
            );
        }
    }
    done
}

/// Run (or record) a planned entry; the device it worked on when it did.
fn execute(
    dry: Option<&str>,
    has: &Has<'_>,
    what: &str,
    planned: Result<Planned, String>,
    done: &mut Applied,
    run: &mut dyn FnMut(&Step) -> Result<(), String>,
) -> Option<String> {
    let (device, steps) = match planned {
        Err(e) => {
            done.failures.push(format!("{what}: {e}"));
            return None;
        }
        Ok(Planned::Skip(why)) => {
            done.lines.push(format!("{what}: skipped: {why}"));
            return None;
        }
        Ok(Planned::Steps { device, steps }) => (device, steps),
    };
    if dry.is_some() {
        let shown: Vec<String> = steps.iter().map(|s| format!("`{}`", s.shown())).collect();
        done.lines
            .push(format!("{what}: would run {}", shown.join(", ")));
        return Some(device);
    }
    // Every program first: a missing one fails the entry before anything has run.
    let missing = steps.iter().find_map(|s| match s {
        Step::Run { argv, .. } => argv.first().filter(|p| !has(p)),
        Step::ZeroEnds(_) => None,
    });
    if let Some(program) = missing {
        done.failures.push(format!(
            "{what}: {program} is not installed{}",
            package_hint(program)
        ));
        return None;
    }
    for step in &steps {
        if let Err(e) = run(step) {
            done.failures.push(format!("{what}: {e}"));
            return None;
        }
    }
    let last = steps
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Run {
                argv,
                must_succeed: true,
                ..
            } if argv.first().is_some_and(|p| p != "udevadm") => Some(s.shown()),
            _ => None,
        })
        .unwrap_or_default();
    done.lines
        .push(format!("{what}: done on {device} (`{last}`)"));
    Some(device)
}

#[cfg(test)]
mod tests;
