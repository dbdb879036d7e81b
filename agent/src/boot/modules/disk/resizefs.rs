//! `resizefs` (every boot): grow the root filesystem to fill its (possibly just grown)
//! partition, as cloud-init's cc_resizefs does. `resize_rootfs: true` (default) runs the
//! resizer and waits, `noblock` starts it in the background, `false` disables it. The
//! command follows the type of the filesystem mounted on `/`: `resize2fs DEVICE` (ext*),
//! `xfs_growfs /`, `btrfs filesystem resize max /`, `growfs -y /` (ufs), `hammer2
//! growfs /`. A root that is not on a block device (overlay, tmpfs, a container) is
//! skipped with its reason; under `--root` nothing runs and the outcome says what would.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::cloudconfig::{Node, Value};

use super::super::super::context::Boot;
use super::super::{wrong_type, ModuleError, Outcome};
use super::{dry_run_reason, mount_for, root_from_cmdline, run_on_machine, MachineView};

/// What `resize_rootfs` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Do not resize.
    Off,
    /// Resize and wait.
    Block,
    /// Resize in the background.
    NoBlock,
}

/// Read `resize_rootfs` as cloud-init does (true, `"true"`, `"yes"`, `"on"`, `"1"`,
/// `"noblock"`; false and its spellings disable). Other values are errors.
pub fn parse(node: Option<&Node>) -> Result<Setting, ModuleError> {
    let Some(node) = node else {
        return Ok(Setting::Block);
    };
    let invalid = |text: String| ModuleError::Invalid {
        key: "resize_rootfs".into(),
        message: format!("`{text}` is not true, false or noblock"),
    };
    match &node.value {
        Value::Null => Ok(Setting::Block),
        Value::Bool(true) => Ok(Setting::Block),
        Value::Bool(false) => Ok(Setting::Off),
        Value::Int(1) => Ok(Setting::Block),
        Value::Int(0) => Ok(Setting::Off),
        Value::Int(i) => Err(invalid(i.to_string())),
        Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "noblock" => Ok(Setting::NoBlock),
            "true" | "1" | "on" | "yes" => Ok(Setting::Block),
            "false" | "0" | "off" | "no" | "" => Ok(Setting::Off),
            _ => Err(invalid(s.clone())),
        },
        _ => Err(wrong_type("resize_rootfs", "true, false or noblock", node)),
    }
}

/// What to do for the root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Run this command.
    Resize {
        argv: Vec<String>,
        fs_type: String,
        device: String,
    },
    /// Nothing to resize, and why.
    Skip(String),
}

/// Decide the resize command for `/` from the machine's mount table.
pub fn plan(view: &MachineView) -> Plan {
    let what = "/";
    let Some(mount) = view.mountinfo().and_then(|t| mount_for(what, &t)) else {
        return Plan::Skip(format!("could not determine the filesystem type of {what}"));
    };
    let fs_type = mount.fs_type.to_ascii_lowercase();
    if fs_type == "zfs" {
        return Plan::Skip("the root is a zfs dataset: strap does not grow zpools".into());
    }
    let container = view.in_container();
    let mut device = mount.device.clone();
    if device == "/dev/root" && !view.dev_exists(&device) && !container {
        match root_from_cmdline(&view.cmdline()) {
            Some(d) => device = d,
            None => return Plan::Skip("unable to find device '/dev/root'".into()),
        }
    }
    if device == "overlayroot" {
        return Plan::Skip("the root is an overlayroot: not resized".into());
    }
    if !device.starts_with("/dev/") {
        device = format!("/dev/{}", device.trim_start_matches('/'));
    }
    let info = format!(
        "dev={} mnt_point={} type={}",
        mount.device, mount.mount_point, mount.fs_type
    );
    if !view.dev_exists(&device) {
        let hint = if container { " in a container" } else { "" };
        return Plan::Skip(format!(
            "device {device} does not exist{hint}, cannot resize ({info})"
        ));
    }
    if !view.is_device(&device) {
        return Plan::Skip(format!(
            "{device} is not a block device, cannot resize ({info})"
        ));
    }
    let argv: Vec<&str> = if fs_type.starts_with("btrfs") {
        // A read-only root cannot be resized, but a writable snapper subvolume can.
        let read_only = mount.options.split(',').any(|o| o == "ro");
        if read_only && view.path("/.snapshots").is_dir() {
            vec!["btrfs", "filesystem", "resize", "max", "/.snapshots"]
        } else {
            vec!["btrfs", "filesystem", "resize", "max", what]
        }
    } else if fs_type.starts_with("ext") {
        vec!["resize2fs", &device]
    } else if fs_type.starts_with("xfs") {
        vec!["xfs_growfs", what]
    } else if fs_type.starts_with("ufs") {
        vec!["growfs", "-y", what]
    } else if fs_type.starts_with("hammer2") {
        vec!["hammer2", "growfs", what]
    } else {
        return Plan::Skip(format!(
            "not resizing unknown filesystem type {} for {what}",
            mount.fs_type
        ));
    };
    Plan::Resize {
        argv: argv.into_iter().map(String::from).collect(),
        fs_type: mount.fs_type,
        device,
    }
}

/// `resizefs`.
pub fn resizefs(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let setting = parse(boot.cfg("resize_rootfs"))?;
    if setting == Setting::Off {
        return Ok(Outcome::Skipped(
            "resizing disabled: resize_rootfs is false".into(),
        ));
    }
    let view = MachineView::from_ctx(boot.ctx);
    let (argv, fs_type) = match plan(&view) {
        Plan::Skip(why) => return Ok(Outcome::Skipped(why)),
        Plan::Resize { argv, fs_type, .. } => (argv, fs_type),
    };
    let shown = argv.join(" ");
    let background = if setting == Setting::NoBlock {
        " in the background"
    } else {
        ""
    };
    if let Some(reason) = dry_run_reason(boot, &view) {
        return Ok(Outcome::Skipped(format!(
            "{reason}: would run `{shown}`{background} ({fs_type} on /)"
        )));
    }
    boot.log.line(
        "INFO",
        &format!("resizefs: resizing / ({fs_type}) with `{shown}`{background}"),
    );
    if setting == Setting::NoBlock {
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("LANG", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| ModuleError::Command {
                command: shown.clone(),
                status: format!("cannot start: {e}"),
            })?;
        let line = format!(
            "resizing / ({fs_type}) in the background: `{shown}` (pid {})",
            child.id()
        );
        boot.out.message(&format!("resizefs: {line}"));
        return Ok(Outcome::Ran {
            exit_code: None,
            tail: vec![line],
        });
    }
    let ran = run_on_machine(boot, "resizefs", &argv);
    if !ran.success() {
        return Err(ModuleError::Command {
            command: shown,
            status: ran.describe(),
        });
    }
    Ok(Outcome::Ran {
        exit_code: Some(0),
        tail: ran.tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn view(mountinfo: &str, devs: &[&str]) -> (tempfile::TempDir, MachineView) {
        let dir = tempfile::tempdir().unwrap();
        let view = MachineView::at(dir.path());
        fs::create_dir_all(view.path("/proc/self")).unwrap();
        fs::create_dir_all(view.path("/dev")).unwrap();
        fs::write(view.path("/proc/self/mountinfo"), mountinfo).unwrap();
        fs::write(view.path("/proc/cmdline"), "root=/dev/xvda1 ro\n").unwrap();
        for d in devs {
            fs::write(view.path(d), "").unwrap();
        }
        (dir, view)
    }

    fn argv(plan: Plan) -> String {
        match plan {
            Plan::Resize { argv, .. } => argv.join(" "),
            Plan::Skip(why) => format!("skip: {why}"),
        }
    }

    #[test]
    fn the_command_follows_the_filesystem_type() {
        let cases = [
            ("ext4 /dev/vda1", "resize2fs /dev/vda1"),
            ("ext3 /dev/vda1", "resize2fs /dev/vda1"),
            ("xfs /dev/vda1", "xfs_growfs /"),
            ("btrfs /dev/vda1", "btrfs filesystem resize max /"),
            ("ufs /dev/vda1", "growfs -y /"),
        ];
        for (fs_dev, want) in cases {
            let (_d, v) = view(&format!("1 0 0:1 / / rw - {fs_dev} rw\n"), &["/dev/vda1"]);
            assert_eq!(argv(plan(&v)), want, "{fs_dev}");
        }
        let (_d, v) = view("1 0 0:1 / / ro - btrfs /dev/vda1 ro\n", &["/dev/vda1"]);
        fs::create_dir_all(v.path("/.snapshots")).unwrap();
        assert_eq!(argv(plan(&v)), "btrfs filesystem resize max /.snapshots");
    }

    #[test]
    fn roots_without_a_block_device_are_skipped_with_the_reason() {
        let (_d, v) = view("1 0 0:1 / / rw - overlay overlay rw\n", &[]);
        assert_eq!(
            argv(plan(&v)),
            "skip: device /dev/overlay does not exist, cannot resize (dev=overlay mnt_point=/ type=overlay)"
        );
        let (_d, v) = view("1 0 0:1 / / rw - vfat /dev/vda1 rw\n", &["/dev/vda1"]);
        assert_eq!(
            argv(plan(&v)),
            "skip: not resizing unknown filesystem type vfat for /"
        );
        let (_d, v) = view("1 0 0:1 / / rw - zfs rpool/ROOT rw\n", &[]);
        assert!(argv(plan(&v)).contains("zfs"));
        let (_d, v) = view("", &[]);
        assert_eq!(
            argv(plan(&v)),
            "skip: could not determine the filesystem type of /"
        );
    }

    #[test]
    fn dev_root_comes_from_the_kernel_command_line() {
        let (_d, v) = view("1 0 0:1 / / rw - ext4 /dev/root rw\n", &["/dev/xvda1"]);
        assert_eq!(argv(plan(&v)), "resize2fs /dev/xvda1");
    }

    #[test]
    fn settings_as_cloud_init_reads_them() {
        let p = |text: &str| parse(Some(&crate::cloudconfig::load(text).unwrap()));
        assert_eq!(parse(None).unwrap(), Setting::Block);
        assert_eq!(p("true").unwrap(), Setting::Block);
        assert_eq!(p("'yes'").unwrap(), Setting::Block);
        assert_eq!(p("noblock").unwrap(), Setting::NoBlock);
        assert_eq!(p("false").unwrap(), Setting::Off);
        assert_eq!(p("'off'").unwrap(), Setting::Off);
        assert_eq!(
            p("sometimes").unwrap_err().to_string(),
            "cloud-config key `resize_rootfs`: `sometimes` is not true, false or noblock"
        );
        assert!(p("[a]")
            .unwrap_err()
            .to_string()
            .contains("`resize_rootfs` (line 1) must be"));
    }
}
