//! `growpart` (every boot): grow the partition under each entry of `growpart.devices`
//! (mount points or `/dev` paths, default `["/"]`) to fill its disk, with the `growpart`
//! program, as cloud-init's cc_growpart does: `mode: auto|growpart` (`off` or `false`
//! disables it), `/etc/growroot-disabled` in the root disables it unless
//! `ignore_growroot_disabled`. Each entry is resolved through the [`MachineView`]
//! (mountinfo → device → `/sys/class/block/<dev>/partition` → disk); an entry that does
//! not resolve to a partition (overlay, tmpfs, a whole disk, a container) is skipped with
//! its reason. `growpart --dry-run DISK N` runs first; exit 1 means there is nothing to
//! grow. Under `--root` nothing runs: the outcome says what would.

use crate::cloudconfig::{Node, Value};

use super::super::super::context::Boot;
use super::super::{scalar_text, wrong_type, ModuleError, Outcome};
use super::{
    dry_run_reason, have_program, mount_for, root_from_cmdline, run_on_machine, Exec, MachineView,
};

/// The file that disables growpart (in the root).
pub const GROWROOT_DISABLED: &str = "/etc/growroot-disabled";

/// Which resizer to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Any available (strap knows only `growpart`).
    Auto,
    /// `growpart` (cloud-guest-utils).
    Growpart,
    /// BSD `gpart` (not supported by strap).
    Gpart,
    /// Do nothing.
    Off,
}

/// The `growpart` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub devices: Vec<String>,
    pub ignore_growroot_disabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Auto,
            devices: vec!["/".into()],
            ignore_growroot_disabled: false,
        }
    }
}

const FALSE_STRINGS: &[&str] = &["off", "0", "no", "false"];

/// Read `growpart` (absent: the defaults). Returns the settings and deprecation notes.
pub fn parse(node: Option<&Node>) -> Result<(Config, Vec<String>), ModuleError> {
    let mut cfg = Config::default();
    let mut notes = Vec::new();
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok((cfg, notes));
    };
    if node.as_map().is_none() {
        return Err(wrong_type("growpart", "a mapping", node));
    }
    if let Some(mode) = node.get("mode").filter(|n| !n.is_null()) {
        cfg.mode = match &mode.value {
            Value::Bool(false) => {
                notes.push("growpart.mode: false is deprecated; use `off`".into());
                Mode::Off
            }
            Value::Str(_) | Value::Int(_) | Value::Bool(true) => {
                let text = scalar_text(mode).unwrap_or_default();
                match text.trim().to_ascii_lowercase().as_str() {
                    "auto" => Mode::Auto,
                    "growpart" => Mode::Growpart,
                    "gpart" => Mode::Gpart,
                    "off" => Mode::Off,
                    t if FALSE_STRINGS.contains(&t) => {
                        notes.push(format!("growpart.mode: `{text}` is deprecated; use `off`"));
                        Mode::Off
                    }
                    _ => {
                        return Err(ModuleError::Invalid {
                            key: "growpart.mode".into(),
                            message: format!(
                                "unknown resize mode `{text}`: use auto, growpart or off"
                            ),
                        })
                    }
                }
            }
            _ => return Err(wrong_type("growpart.mode", "a string", mode)),
        };
    }
    if let Some(devices) = node.get("devices") {
        cfg.devices = match &devices.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match &item.value {
                    Value::Str(s) => Ok(s.clone()),
                    _ => Err(wrong_type(
                        &format!("growpart.devices.{i}"),
                        "a string",
                        item,
                    )),
                })
                .collect::<Result<_, _>>()?,
            Value::Str(s) => vec![s.clone()],
            _ => return Err(wrong_type("growpart.devices", "a list of strings", devices)),
        };
    }
    if let Some(flag) = node.get("ignore_growroot_disabled") {
        cfg.ignore_growroot_disabled = match &flag.value {
            Value::Null => false,
            Value::Bool(b) => *b,
            _ => {
                return Err(wrong_type(
                    "growpart.ignore_growroot_disabled",
                    "a boolean",
                    flag,
                ))
            }
        };
    }
    Ok((cfg, notes))
}

/// What one `devices` entry resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A partition: its device, its disk and its number.
    Partition {
        device: String,
        disk: String,
        number: String,
    },
    /// Nothing to grow, and why.
    Skip(String),
}

/// The device under a `devices` entry: a `/dev` path as given, else the source of the
/// mount holding that path (`/dev/root` through the kernel's `root=`).
pub fn device_of(entry: &str, view: &MachineView) -> Result<String, String> {
    if entry.starts_with("/dev/") {
        return Ok(entry.to_string());
    }
    let text = view
        .mountinfo()
        .ok_or_else(|| "cannot read /proc/self/mountinfo".to_string())?;
    let mount = mount_for(entry, &text)
        .ok_or_else(|| format!("unable to convert to device: no mount found for {entry}"))?;
    if mount.device == "/dev/root" && !view.in_container() {
        return match root_from_cmdline(&view.cmdline()) {
            Some(dev) => Ok(dev),
            None if view.dev_exists("/dev/root") => Ok(mount.device),
            None => Err("unable to find device '/dev/root'".into()),
        };
    }
    if !mount.device.starts_with("/dev/") {
        return Err(format!(
            "{} is on {} `{}`, not on a block device",
            mount.mount_point, mount.fs_type, mount.device
        ));
    }
    Ok(mount.device)
}

/// Resolve one `devices` entry to a disk and partition number.
pub fn resolve(entry: &str, view: &MachineView) -> Target {
    let device = match device_of(entry, view) {
        Ok(d) => d,
        Err(why) => return Target::Skip(why),
    };
    if !view.dev_exists(&device) {
        let hint = if view.in_container() {
            " (in a container)"
        } else {
            ""
        };
        return Target::Skip(format!("device {device} does not exist{hint}"));
    }
    if !view.is_device(&device) {
        return Target::Skip(format!("{device} is not a block device"));
    }
    let real = view.dev_realpath(&device);
    if real.starts_with("/dev/dm-") {
        return Target::Skip(format!(
            "{device} is a mapped device ({real}): strap does not grow LVM or encrypted volumes"
        ));
    }
    let name = real.rsplit('/').next().unwrap_or(&real).to_string();
    let sys = view.path(&format!("/sys/class/block/{name}"));
    if !sys.exists() {
        return Target::Skip(format!("{device} has no /sys/class/block/{name}"));
    }
    let Ok(number) = std::fs::read_to_string(sys.join("partition")) else {
        return Target::Skip(format!("{device} is not a partition"));
    };
    let number = number.trim().to_string();
    // The partition's sysfs folder sits in its disk's folder (…/block/vda/vda1).
    let disk_dir = std::fs::canonicalize(&sys)
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    let Some(disk_dir) = disk_dir else {
        return Target::Skip(format!("cannot find the disk holding {device}"));
    };
    // By its major:minor in /dev/block when udev made the link, else by its name.
    let by_number = std::fs::read_to_string(disk_dir.join("dev"))
        .ok()
        .map(|mm| format!("/dev/block/{}", mm.trim()))
        .filter(|p| view.dev_exists(p))
        .map(|p| view.dev_realpath(&p));
    let disk = match by_number {
        Some(d) => d,
        None => match disk_dir.file_name() {
            Some(n) => format!("/dev/{}", n.to_string_lossy()),
            None => return Target::Skip(format!("cannot find the disk holding {device}")),
        },
    };
    Target::Partition {
        device,
        disk,
        number,
    }
}

/// How growing one partition went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grown {
    Changed,
    NoChange,
}

/// `growpart --dry-run DISK N`, then `growpart DISK N`; exit 1 from either means there
/// is nothing to grow (growpart's NOCHANGE).
pub fn grow(disk: &str, number: &str, exec: &mut Exec<'_>) -> Result<Grown, String> {
    let dry: Vec<String> = ["growpart", "--dry-run", disk, number]
        .map(String::from)
        .to_vec();
    let ran = exec(&dry);
    match ran.exit_code {
        Some(0) => {}
        Some(1) => return Ok(Grown::NoChange),
        _ => return Err(format!("`{}` failed ({})", dry.join(" "), ran.describe())),
    }
    let real: Vec<String> = ["growpart", disk, number].map(String::from).to_vec();
    let ran = exec(&real);
    match ran.exit_code {
        Some(0) => Ok(Grown::Changed),
        Some(1) => Ok(Grown::NoChange),
        _ => Err(format!("`{}` failed ({})", real.join(" "), ran.describe())),
    }
}

/// `growpart`.
pub fn growpart(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let (cfg, notes) = parse(boot.cfg("growpart"))?;
    for note in notes {
        boot.warn(&format!("growpart: {note}"));
    }
    if cfg.mode == Mode::Off {
        return Ok(Outcome::Skipped("growpart disabled: mode off".into()));
    }
    if cfg.mode == Mode::Gpart {
        return Err(ModuleError::Invalid {
            key: "growpart.mode".into(),
            message: "gpart (BSD) is not supported by strap: use auto or growpart".into(),
        });
    }
    if !cfg.ignore_growroot_disabled && boot.ctx.path(GROWROOT_DISABLED).is_ok_and(|p| p.is_file())
    {
        return Ok(Outcome::Skipped(format!(
            "growpart disabled: {GROWROOT_DISABLED} exists (set growpart.ignore_growroot_disabled to grow anyway)"
        )));
    }
    if cfg.devices.is_empty() {
        return Ok(Outcome::Skipped("growpart: empty device list".into()));
    }
    let view = MachineView::from_ctx(boot.ctx);
    let dry = dry_run_reason(boot, &view);
    if dry.is_none() && !have_program(boot, "growpart") {
        if cfg.mode == Mode::Growpart {
            return Err(ModuleError::Invalid {
                key: "growpart.mode".into(),
                message:
                    "growpart is not installed (package cloud-guest-utils or cloud-utils-growpart)"
                        .into(),
            });
        }
        return Ok(Outcome::Skipped(
            "no resizer available: growpart is not installed".into(),
        ));
    }
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut grown = 0;
    for entry in &cfg.devices {
        match resolve(entry, &view) {
            Target::Skip(why) => lines.push(format!("{entry}: skipped: {why}")),
            Target::Partition { disk, number, .. } => {
                if dry.is_some() {
                    lines.push(format!(
                        "{entry}: would run `growpart --dry-run {disk} {number}` then `growpart {disk} {number}`"
                    ));
                    continue;
                }
                let b: &Boot<'_> = boot;
                match grow(&disk, &number, &mut |argv| {
                    run_on_machine(b, "growpart", argv)
                }) {
                    Ok(Grown::Changed) => {
                        grown += 1;
                        lines.push(format!("{entry}: changed ({disk}, {number})"));
                    }
                    Ok(Grown::NoChange) => {
                        grown += 1;
                        lines.push(format!("{entry}: no change necessary ({disk}, {number})"));
                    }
                    Err(e) => failures.push(format!("growpart.devices `{entry}`: {e}")),
                }
            }
        }
    }
    for line in &lines {
        boot.log.line("INFO", &format!("growpart: {line}"));
    }
    if !failures.is_empty() {
        return Err(ModuleError::Entries {
            attempted: cfg.devices.len(),
            failures,
        });
    }
    if let Some(reason) = dry {
        return Ok(Outcome::Skipped(format!("{reason}: {}", lines.join("; "))));
    }
    if grown == 0 {
        return Ok(Outcome::Skipped(lines.join("; ")));
    }
    Ok(Outcome::Ran {
        exit_code: Some(0),
        tail: lines,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Ran;
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    fn yaml(text: &str) -> Node {
        crate::cloudconfig::load(text).unwrap()
    }

    /// A machine view with a virtio disk `vda` (partitions vda1, vda15) and a whole-disk
    /// `vdb`, mounted as the given mountinfo says.
    fn machine(dir: &Path, mountinfo: &str) -> MachineView {
        let view = MachineView::at(dir);
        let w = |p: &str, text: &str| {
            let p = view.path(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        w("/proc/self/mountinfo", mountinfo);
        w("/proc/cmdline", "ro root=LABEL=cloudimg-rootfs\n");
        let pci = "/sys/devices/pci0000:00/0000:00:04.0/virtio1/block";
        w(&format!("{pci}/vda/dev"), "253:0\n");
        w(&format!("{pci}/vda/vda1/partition"), "1\n");
        w(&format!("{pci}/vda/vda15/partition"), "15\n");
        w(&format!("{pci}/vdb/dev"), "253:16\n");
        fs::create_dir_all(view.path("/sys/class/block")).unwrap();
        for (name, rel) in [
            ("vda", "vda"),
            ("vda1", "vda/vda1"),
            ("vda15", "vda/vda15"),
            ("vdb", "vdb"),
        ] {
            symlink(
                format!("../../devices/pci0000:00/0000:00:04.0/virtio1/block/{rel}"),
                view.path(&format!("/sys/class/block/{name}")),
            )
            .unwrap();
        }
        for dev in ["vda", "vda1", "vda15", "vdb"] {
            w(&format!("/dev/{dev}"), "");
        }
        fs::create_dir_all(view.path("/dev/disk/by-label")).unwrap();
        symlink(
            "../../vda1",
            view.path("/dev/disk/by-label/cloudimg-rootfs"),
        )
        .unwrap();
        fs::create_dir_all(view.path("/dev/block")).unwrap();
        symlink("../vda", view.path("/dev/block/253:0")).unwrap();
        view
    }

    const EXT4_ROOT: &str = "27 1 253:1 / / rw,relatime - ext4 /dev/vda1 rw\n\
                             28 27 253:16 / /data rw - xfs /dev/vdb rw\n\
                             29 27 0:5 / /run rw - tmpfs tmpfs rw\n";

    #[test]
    fn resolves_mount_points_and_dev_paths_to_disk_and_partition() {
        let dir = tempfile::tempdir().unwrap();
        let view = machine(dir.path(), EXT4_ROOT);
        let want = |device: &str, number: &str| Target::Partition {
            device: device.into(),
            disk: "/dev/vda".into(),
            number: number.into(),
        };
        assert_eq!(resolve("/", &view), want("/dev/vda1", "1"));
        assert_eq!(resolve("/etc", &view), want("/dev/vda1", "1"));
        assert_eq!(resolve("/dev/vda15", &view), want("/dev/vda15", "15"));
        assert_eq!(
            resolve("/dev/disk/by-label/cloudimg-rootfs", &view),
            want("/dev/disk/by-label/cloudimg-rootfs", "1")
        );
    }

    #[test]
    fn entries_that_are_not_partitions_are_skipped_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let view = machine(dir.path(), EXT4_ROOT);
        let skip = |entry: &str| match resolve(entry, &view) {
            Target::Skip(why) => why,
            t => panic!("{entry}: {t:?}"),
        };
        assert_eq!(skip("/data"), "/dev/vdb is not a partition");
        assert_eq!(
            skip("/run/x"),
            "/run is on tmpfs `tmpfs`, not on a block device"
        );
        assert_eq!(skip("/dev/vdz1"), "device /dev/vdz1 does not exist");
        let dir = tempfile::tempdir().unwrap();
        let view = machine(
            dir.path(),
            "1 0 0:50 / / rw - overlay overlay rw,lowerdir=/x\n",
        );
        assert_eq!(
            resolve("/", &view),
            Target::Skip("/ is on overlay `overlay`, not on a block device".into())
        );
        fs::write(view.path("/proc/self/mountinfo"), "garbage\n").unwrap();
        assert_eq!(
            resolve("/", &view),
            Target::Skip("unable to convert to device: no mount found for /".into())
        );
    }

    #[test]
    fn dev_root_is_found_through_the_kernel_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let view = machine(dir.path(), "1 0 253:1 / / rw - ext4 /dev/root rw\n");
        assert_eq!(
            device_of("/", &view).unwrap(),
            "/dev/disk/by-label/cloudimg-rootfs"
        );
        assert!(matches!(resolve("/", &view), Target::Partition { number, .. } if number == "1"));
    }

    #[test]
    fn dry_run_first_and_exit_one_is_no_change() {
        let mut calls = Vec::new();
        let mut codes = vec![0, 0];
        let mut exec = |argv: &[String]| {
            calls.push(argv.join(" "));
            Ran {
                exit_code: Some(codes.remove(0)),
                tail: Vec::new(),
            }
        };
        assert_eq!(grow("/dev/vda", "1", &mut exec), Ok(Grown::Changed));
        assert_eq!(
            calls,
            ["growpart --dry-run /dev/vda 1", "growpart /dev/vda 1"]
        );

        let mut calls = 0;
        let mut exec = |_: &[String]| {
            calls += 1;
            Ran {
                exit_code: Some(1),
                tail: vec!["NOCHANGE: partition 1 is size 2. it cannot be grown".into()],
            }
        };
        assert_eq!(grow("/dev/vda", "1", &mut exec), Ok(Grown::NoChange));
        assert_eq!(calls, 1);

        let mut exec = |argv: &[String]| Ran {
            exit_code: Some(if argv.len() == 4 { 0 } else { 2 }),
            tail: Vec::new(),
        };
        assert_eq!(
            grow("/dev/vda", "1", &mut exec),
            Err("`growpart /dev/vda 1` failed (exit code 2)".into())
        );
    }

    #[test]
    fn settings_defaults_and_bad_input() {
        assert_eq!(parse(None).unwrap().0, Config::default());
        let (cfg, notes) = parse(Some(&yaml(
            "mode: growpart\ndevices: [/, /dev/vdb1]\nignore_growroot_disabled: true\n",
        )))
        .unwrap();
        assert_eq!(cfg.mode, Mode::Growpart);
        assert_eq!(cfg.devices, ["/", "/dev/vdb1"]);
        assert!(cfg.ignore_growroot_disabled && notes.is_empty());
        let (cfg, notes) = parse(Some(&yaml("mode: false\n"))).unwrap();
        assert_eq!(cfg.mode, Mode::Off);
        assert_eq!(notes.len(), 1);
        assert_eq!(
            parse(Some(&yaml("mode: 'off'\n"))).unwrap().0.mode,
            Mode::Off
        );
        assert!(parse(Some(&yaml("devices: null\n")))
            .unwrap()
            .0
            .devices
            .is_empty());

        let err = |text: &str| parse(Some(&yaml(text))).unwrap_err().to_string();
        assert_eq!(
            err("[a]"),
            "cloud-config key `growpart` (line 1) must be a mapping, not a list"
        );
        assert!(err("mode: sideways").contains("`growpart.mode`: unknown resize mode `sideways`"));
        assert!(err("devices: [/, 5]").contains("`growpart.devices.1`"));
        assert!(err("devices: {a: b}").contains("`growpart.devices`"));
        assert!(
            err("ignore_growroot_disabled: 'yes'").contains("`growpart.ignore_growroot_disabled`")
        );
    }
}
