//! The commands cloud-init 25's cc_disk_setup runs for an entry, computed from the entry
//! and the [`Probe`] alone: partition tables (`sfdisk`, `sgdisk`) and filesystems (`mkfs`).

use super::config::{DiskEntry, FsEntry, Layout, Table};
use super::probe::{base_name, BlockDev, Probe};

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run a command (`input` on its standard input); `must_succeed: false` only logs a
    /// failure (cloud-init's partition-table reread).
    Run {
        argv: Vec<String>,
        input: Option<String>,
        must_succeed: bool,
    },
    /// Write zeros over the first and last MiB of a device (the partition tables).
    ZeroEnds(String),
}

impl Step {
    fn run(argv: &[&str]) -> Self {
        Step::Run {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            input: None,
            must_succeed: true,
        }
    }

    /// The step as shown in an outcome: `sfdisk --force /dev/xvdb <<< ',,83'`.
    pub fn shown(&self) -> String {
        match self {
            Step::Run { argv, input, .. } => match input {
                Some(text) => format!(
                    "{} <<< '{}'",
                    argv.join(" "),
                    text.trim_end().replace('\n', "\\n")
                ),
                None => argv.join(" "),
            },
            Step::ZeroEnds(dev) => format!("zero the first and last MiB of {dev}"),
        }
    }
}

/// What an entry comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// Nothing to do, and why.
    Skip(String),
    /// These steps, on this device.
    Steps { device: String, steps: Vec<Step> },
}

/// Whether a program is available: `PATH` on a real boot; under a dry run every
/// program but `mkfs.swap` is taken as present (the commands are shown as they would
/// be on a machine with the usual tools).
pub type Has<'a> = dyn Fn(&str) -> bool + 'a;

pub(super) fn settle() -> Step {
    Step::run(&["udevadm", "settle"])
}

/// cloud-init's `read_parttbl`: settle, reread the table, settle.
fn reread(dev: &str, has: &Has<'_>) -> Vec<Step> {
    let probe = if has("partprobe") {
        vec!["partprobe".to_string(), dev.to_string()]
    } else {
        vec!["blockdev".into(), "--rereadpt".into(), dev.to_string()]
    };
    vec![
        settle(),
        Step::Run {
            argv: probe,
            input: None,
            must_succeed: false,
        },
        settle(),
    ]
}

/// sgdisk's short code of a GPT partition type GUID (the ones cloud-init's users write).
fn sgdisk_code(guid: &str) -> Option<&'static str> {
    const CODES: &[(&str, &str)] = &[
        ("0fc63daf-8483-4772-8e79-3d69d8477de4", "8300"),
        ("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "8200"),
        ("e6d6d379-f507-44c2-a23c-238f2a3df928", "8E00"),
        ("a19d880f-05fc-4d3b-a006-743f0f84911e", "FD00"),
        ("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "0700"),
        ("c12a7328-f81f-11d2-ba4b-00a0c93ec3b8", "EF00"),
        ("21686148-6449-6e6f-744e-656564454649", "EF02"),
        ("933ac7e1-2eb4-4f13-b844-0e14e2aef915", "8302"),
        ("4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "8304"),
        ("3b8f8425-20e0-4f3b-907f-1a25a76f98e8", "8306"),
    ];
    let guid = guid.to_ascii_lowercase();
    CODES.iter().find(|(g, _)| *g == guid).map(|(_, c)| *c)
}

/// The partition types found on a disk as cloud-init compares them with a layout: MBR
/// ids as `sfdisk -l` shows them (`83`), GPT codes as `sgdisk -p` (`8300` → `83`).
/// Extended partitions are left out for MBR.
pub fn found_layout(table: Table, parts: &[BlockDev]) -> Vec<String> {
    let mut out = Vec::new();
    for p in parts {
        let raw = p.part_type.to_ascii_lowercase();
        let mbr_id = raw.strip_prefix("0x").map(|h| h.to_string());
        match table {
            Table::Mbr => {
                if matches!(mbr_id.as_deref(), Some("5" | "f" | "85" | "0")) {
                    continue;
                }
                out.push(mbr_id.unwrap_or(raw));
            }
            Table::Gpt => {
                let code = match &mbr_id {
                    Some(h) => format!("{:0>2}00", h.to_ascii_uppercase()),
                    None => sgdisk_code(&raw).map(String::from).unwrap_or(raw),
                };
                let cleaned = match code.strip_suffix("00") {
                    Some(head) if code.len() == 4 => head.to_string(),
                    _ => code,
                };
                out.push(cleaned);
            }
        }
    }
    out
}

/// cloud-init's `check_partition_layout`: whether the disk already has the layout.
pub fn layout_matches(layout: &Layout, found: &[String]) -> bool {
    match layout {
        Layout::Whole => !found.is_empty(),
        Layout::Parts(parts) if parts.len() == found.len() => parts
            .iter()
            .zip(found)
            .all(|(p, f)| p.kind.as_ref().is_none_or(|k| k == f)),
        _ => false,
    }
}

fn part_size(size: f64, percent: f64) -> i64 {
    (size * (percent / 100.0)) as i64
}

/// cloud-init 25's `get_partition_mbr_layout`: `sfdisk`'s input (`,SIZE,TYPE` lines, the
/// last taking the rest of the disk). cloud-init 22.4 wrote `0,` for `layout: true`.
pub fn mbr_layout(size: f64, layout: &Layout) -> Result<String, String> {
    let parts = match layout {
        Layout::Whole => return Ok(",,83".into()),
        Layout::Parts(parts) if !parts.is_empty() => parts,
        _ => return Err("Partition layout is invalid".into()),
    };
    if parts.len() > 4 {
        return Err("Only simply partitioning is allowed.".into());
    }
    let lines: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let kind = p.kind.clone().unwrap_or_else(|| "83".into());
            if i + 1 == parts.len() {
                format!(",,{kind}")
            } else {
                format!(",{},{kind}", part_size(size, p.percent))
            }
        })
        .collect();
    Ok(lines.join("\n"))
}

/// cloud-init's `get_partition_gpt_layout`: per partition its type and `start:end` for
/// `sgdisk -n` (`0:+SIZE`, the last `0:0`).
pub fn gpt_layout(size: f64, layout: &Layout) -> Vec<(Option<String>, String)> {
    let parts = match layout {
        Layout::Parts(parts) if !parts.is_empty() => parts,
        _ => return vec![(None, "0:0".into())],
    };
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let end = if i + 1 == parts.len() {
                "0".to_string()
            } else {
                format!("+{}", part_size(size, p.percent))
            };
            (p.kind.clone(), format!("0:{end}"))
        })
        .collect()
}

/// The commands that write a partition table of `size` sectors.
pub fn mkpart_steps(
    device: &str,
    table: Table,
    size: f64,
    layout: &Layout,
    has: &Has<'_>,
) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    match table {
        Table::Mbr => {
            let text = mbr_layout(size, layout)?;
            steps.push(Step::Run {
                argv: vec!["sfdisk".into(), "--force".into(), device.into()],
                input: Some(format!("{text}\n")),
                must_succeed: true,
            });
        }
        Table::Gpt => {
            steps.push(Step::run(&["sgdisk", "-Z", device]));
            for (i, (kind, span)) in gpt_layout(size, layout).into_iter().enumerate() {
                let n = i + 1;
                steps.push(Step::run(&["sgdisk", "-n", &format!("{n}:{span}"), device]));
                if let Some(kind) = kind {
                    let padded = format!("{kind:0<4}");
                    steps.push(Step::run(&[
                        "sgdisk",
                        "-t",
                        &format!("{n}:{padded}"),
                        device,
                    ]));
                }
            }
        }
    }
    steps.extend(reread(device, has));
    Ok(steps)
}

/// cloud-init's `mkpart` for one entry: what to run, or why nothing.
pub fn plan_disk(entry: &DiskEntry, probe: &Probe<'_>, has: &Has<'_>) -> Result<Planned, String> {
    if !probe.exists(&entry.device) {
        return Err(format!(
            "device {} did not exist and was not created with a udevadm settle",
            entry.device
        ));
    }
    let device = probe.realpath(&entry.device);
    if entry.layout == Layout::Off {
        return Ok(Planned::Skip(format!("{device}: not to be partitioned")));
    }
    let all = probe.enumerate(&device);
    let Some((disk, parts)) = all.split_first().filter(|(d, _)| d.kind == "disk") else {
        return Err(format!("Device {device} is not a disk device!"));
    };
    let mut steps = vec![settle()];
    if entry.layout == Layout::Remove {
        for d in all.iter().filter(|d| d.kind != "disk" && d.kind != "crypt") {
            steps.push(Step::run(&["wipefs", "--all", &format!("/dev/{}", d.name)]));
        }
        steps.push(Step::ZeroEnds(device.clone()));
        steps.extend(reread(&device, has));
        return Ok(Planned::Steps { device, steps });
    }
    let found = found_layout(entry.table, parts);
    if layout_matches(&entry.layout, &found) {
        return Ok(Planned::Skip(format!(
            "{device}: the partition layout matches"
        )));
    }
    if !entry.overwrite {
        if !parts.is_empty() {
            return Ok(Planned::Skip(format!(
                "{device} already has partitions (set overwrite: true to replace them)"
            )));
        }
        if !disk.fstype.is_empty() {
            return Ok(Planned::Skip(format!(
                "{device} already has a {} filesystem (set overwrite: true to replace it)",
                disk.fstype
            )));
        }
    }
    let size = probe
        .sectors(&device)
        .ok_or_else(|| format!("Failed to get {device} size"))?;
    steps.extend(mkpart_steps(
        &device,
        entry.table,
        size,
        &entry.layout,
        has,
    )?);
    Ok(Planned::Steps { device, steps })
}

/// cloud-init's `lookup_force_flag`.
pub fn force_flag(fs: &str) -> Option<&'static str> {
    let fs = fs.to_ascii_lowercase();
    if fs.contains("ext") {
        return Some("-F");
    }
    matches!(fs.as_str(), "btrfs" | "xfs" | "reiserfs" | "swap").then_some("-f")
}

/// The option that sets a filesystem's label: `-L`, as cloud-init passes it to every
/// mkfs, but `-n` for FAT (`mkfs.fat` has no `-L`) and `-l` for f2fs.
pub fn label_flag(fs: &str) -> &'static str {
    match fs.to_ascii_lowercase().as_str() {
        "vfat" | "fat" | "msdos" => "-n",
        "f2fs" => "-l",
        _ => "-L",
    }
}

/// The program that makes a filesystem: `mkfs.<fs>`, else `mk<fs>` (`mkswap`).
pub fn mkfs_program(fs: &str, has: &Has<'_>) -> Option<String> {
    [format!("mkfs.{fs}"), format!("mk{fs}")]
        .into_iter()
        .find(|p| has(p))
}

/// Python's `cmd % {"label": …, "filesystem": …, "device": …}` for `%(name)s` and `%%`.
pub fn format_cmd(
    cmd: &str,
    label: Option<&str>,
    fs: Option<&str>,
    device: &str,
) -> Result<String, String> {
    use crate::boot::modules::{percent_format, PercentError};
    percent_format(cmd, |name| match name {
        "label" => Some(label.unwrap_or("None")),
        "filesystem" => Some(fs.unwrap_or("None")),
        "device" => Some(device),
        _ => None,
    })
    .map_err(|e| match e {
        PercentError::Unsupported => {
            format!("cmd `{cmd}`: only %(label)s, %(filesystem)s, %(device)s and %% are understood")
        }
        PercentError::Unknown(other) => format!("cmd `{cmd}`: unknown name `{other}`"),
    })
}

/// cloud-init's `find_device_node`: the first device of a disk that matches the
/// filesystem (and label) asked for (`true`: reuse it), or the first partition without a
/// filesystem, or the disk itself when nothing on it is used.
pub fn find_device_node(
    all: &[BlockDev],
    device: &str,
    fs: Option<&str>,
    label: Option<&str>,
    label_match: bool,
    replace_fs: Option<&str>,
) -> Option<(String, bool)> {
    let label = label.unwrap_or("");
    let mut raw_used = false;
    for d in all {
        if !label_match && replace_fs.is_some_and(|r| d.fstype == r) {
            return Some((format!("/dev/{}", d.name), false));
        }
        if fs.is_some_and(|f| d.fstype == f) && (!label_match || d.label == label) {
            return Some((format!("/dev/{}", d.name), true));
        }
        if d.kind == "disk" || d.kind == "part" {
            if d.kind != "disk" || !d.fstype.is_empty() {
                raw_used = true;
            }
            if d.kind == "part" && d.fstype.is_empty() {
                return Some((format!("/dev/{}", d.name), false));
            }
        }
    }
    (!raw_used).then(|| (device.to_string(), false))
}

/// The `mkfs` command line cloud-init builds (the program by name).
pub fn mkfs_argv(
    program: &str,
    entry: &FsEntry,
    fs: &str,
    device: &str,
    device_is_disk: bool,
) -> Vec<String> {
    let mut argv = vec![program.to_string()];
    if let Some(label) = entry.label.as_deref().filter(|l| !l.is_empty()) {
        argv.push(label_flag(fs).into());
        argv.push(label.into());
    }
    if entry.overwrite || device_is_disk {
        if let Some(flag) = force_flag(fs) {
            argv.push(flag.into());
        }
    }
    argv.extend(entry.extra_opts.iter().cloned());
    argv.push(device.to_string());
    argv
}

/// cloud-init 25's `mkfs` for one entry: what to run, or why nothing.
pub fn plan_fs(entry: &FsEntry, probe: &Probe<'_>, has: &Has<'_>) -> Result<Planned, String> {
    let Some(given) = entry.device.as_deref() else {
        return Err("no device".into());
    };
    if !probe.exists(given) {
        return Err(format!(
            "device {given} did not exist and was not created with a udevadm settle"
        ));
    }
    let mut device = probe.realpath(given);
    let fs = entry.filesystem.as_deref();
    let label = entry.label.as_deref();
    let partition = entry.partition.as_str();
    let lower = partition.to_ascii_lowercase();
    if partition.is_empty() || partition.bytes().all(|b| b.is_ascii_digit()) {
        if !partition.is_empty() {
            if device.ends_with(|c: char| c.is_ascii_digit()) {
                device.push('p');
            }
            device.push_str(partition);
            if !probe.is_block(&device) {
                return Ok(Planned::Skip(format!(
                    "{device} does not exist or is not a block device"
                )));
            }
        }
        let (have_label, have_fs) = probe.check_fs(&device);
        if have_label.as_deref() == label && have_fs.as_deref() == fs && !entry.overwrite {
            return Ok(Planned::Skip(format!(
                "{device} already has the {} filesystem{}",
                fs.unwrap_or("asked for"),
                label.map(|l| format!(" labelled {l}")).unwrap_or_default()
            )));
        }
    } else if lower == "auto" || lower == "any" {
        let all = probe.enumerate(&device);
        match find_device_node(
            &all,
            &device,
            fs,
            label,
            lower == "auto",
            entry.replace_fs.as_deref(),
        ) {
            Some((found, true)) => {
                return Ok(Planned::Skip(format!(
                    "{found} already has the {} filesystem{} (partition: {partition})",
                    fs.unwrap_or_default(),
                    label.map(|l| format!(" labelled {l}")).unwrap_or_default()
                )))
            }
            Some((found, false)) => device = found,
            None => {
                return Ok(Planned::Skip(format!(
                    "no device on {device} is free for the filesystem (partition: {partition})"
                )))
            }
        }
    } else if lower != "none" {
        return Ok(Planned::Skip(format!(
            "partition `{partition}` is not auto, any, none or a number"
        )));
    }
    let argv = match (&entry.cmd, fs) {
        (Some(cmd), _) => vec![
            "sh".to_string(),
            "-c".to_string(),
            format_cmd(cmd, label, fs, &device)?,
        ],
        (None, Some(fs)) => {
            let program = mkfs_program(fs, has).ok_or_else(|| {
                format!(
                    "cannot create a {fs} filesystem: mkfs.{fs} is not installed{}",
                    package_hint(&format!("mkfs.{fs}"))
                )
            })?;
            let is_disk = probe.block_dev(base_name(&device)).kind == "disk";
            mkfs_argv(&program, entry, fs, &device, is_disk)
        }
        (None, None) => {
            return Err(format!(
                "No way to create filesystem '{}'. fs_type or fs_cmd must be set.",
                label.unwrap_or("None")
            ))
        }
    };
    Ok(Planned::Steps {
        device,
        steps: vec![
            settle(),
            Step::Run {
                argv,
                input: None,
                must_succeed: true,
            },
        ],
    })
}

/// ` (package X)` or ` (package X on Debian, Y on RHEL)` for a program strap may run.
pub fn package_hint(program: &str) -> String {
    let (debian, rhel) = match program {
        "sfdisk" => ("fdisk", "util-linux"),
        "sgdisk" => ("gdisk", "gdisk"),
        "partprobe" => ("parted", "parted"),
        "udevadm" => ("udev", "systemd-udev"),
        "wipefs" | "blockdev" | "mkswap" | "mkfs.swap" => ("util-linux", "util-linux"),
        "mkfs.ext2" | "mkfs.ext3" | "mkfs.ext4" => ("e2fsprogs", "e2fsprogs"),
        "mkfs.xfs" => ("xfsprogs", "xfsprogs"),
        "mkfs.btrfs" => ("btrfs-progs", "btrfs-progs"),
        "mkfs.vfat" | "mkfs.fat" | "mkfs.msdos" => ("dosfstools", "dosfstools"),
        "mkfs.ntfs" => ("ntfs-3g", "ntfsprogs"),
        "mkfs.f2fs" => ("f2fs-tools", "f2fs-tools"),
        "mkfs.reiserfs" => ("reiserfsprogs", "reiserfs-utils"),
        _ => return String::new(),
    };
    if debian == rhel {
        format!(" (package {debian})")
    } else {
        format!(" (package {debian} on Debian, {rhel} on RHEL)")
    }
}
