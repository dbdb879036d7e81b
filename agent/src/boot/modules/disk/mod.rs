//! The disk modules of the init stage — `growpart`, `resizefs`, `disk_setup` (partitions
//! and filesystems) and `mounts` (with swap) —
//! and what they share: a [`MachineView`] of the kernel's tables (`/proc/self/mountinfo`,
//! `/sys/class/block`, `/dev`, `/proc/swaps`, `/proc/meminfo`, `/proc/cmdline`) that tests
//! replace with a folder, the mountinfo lookup cloud-init does, and one way to run or
//! merely record a command.
//!
//! These modules change the real machine (partition tables, filesystems, swap, mounts), so
//! they only run commands on a real boot (`--root /`) with the real view. Under another
//! root, or with an injected view, they say in their outcome what would be run, and
//! `mounts` still writes the root's `/etc/fstab`.

pub mod devices;
pub mod disk_setup;
pub mod fstab;
pub mod growpart;
pub mod mounts;
pub mod resizefs;
pub mod swap;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::context::Context;

use super::super::context::Boot;
use super::super::exec::{self, ScriptSpec};

/// A folder laid out like the machine's kernel tables (`proc/self/mountinfo`,
/// `proc/cmdline`, `proc/meminfo`, `proc/swaps`, `sys/class/block`, `sys/block`, `dev/`)
/// that the disk modules read instead of the machine's. With it set, no disk command is
/// run, even on `--root /` (tests, rehearsals).
pub const ENV_DISK_VIEW: &str = "STRAP_DISK_VIEW";

/// Where the disk modules read the machine's kernel tables from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineView {
    /// `/` on the machine; another folder in tests.
    base: PathBuf,
}

impl MachineView {
    /// The machine itself.
    pub fn system() -> Self {
        Self { base: "/".into() }
    }

    /// A folder standing for the machine (tests).
    pub fn at(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// The view a boot uses: [`ENV_DISK_VIEW`] when set, else the machine.
    pub fn from_ctx(ctx: &Context) -> Self {
        match ctx.var(ENV_DISK_VIEW).filter(|s| !s.is_empty()) {
            Some(dir) => Self::at(dir),
            None => Self::system(),
        }
    }

    /// Whether this is the machine's own view (commands may run).
    pub fn is_system(&self) -> bool {
        self.base == Path::new("/")
    }

    /// A machine path (`/proc/swaps`) inside the view.
    pub fn path(&self, machine_path: &str) -> PathBuf {
        self.base.join(machine_path.trim_start_matches('/'))
    }

    fn read(&self, machine_path: &str) -> Option<String> {
        std::fs::read_to_string(self.path(machine_path)).ok()
    }

    /// `/proc/self/mountinfo`.
    pub fn mountinfo(&self) -> Option<String> {
        self.read("/proc/self/mountinfo")
    }

    /// `/proc/cmdline`.
    pub fn cmdline(&self) -> String {
        self.read("/proc/cmdline").unwrap_or_default()
    }

    /// `/proc/swaps`, `None` when the kernel has none.
    pub fn swaps(&self) -> Option<String> {
        self.read("/proc/swaps")
    }

    /// `MemTotal` of `/proc/meminfo` in bytes.
    pub fn mem_total(&self) -> Option<u64> {
        let text = self.read("/proc/meminfo")?;
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "MemTotal:" {
                return None;
            }
            let value: u64 = words.next()?.parse().ok()?;
            let unit = match words.next() {
                None | Some("B") => 1,
                Some("kB") => 1 << 10,
                Some("mB") => 1 << 20,
                Some("gB") => 1 << 30,
                Some(_) => return None,
            };
            Some(value * unit)
        })
    }

    /// Whether a `/dev/...` path exists in the view (symbolic links followed).
    pub fn dev_exists(&self, dev: &str) -> bool {
        self.path(dev).exists()
    }

    /// A `/dev/...` path with its symbolic links resolved inside the view
    /// (`/dev/disk/by-label/root` → `/dev/vda1`); the path itself when it does not
    /// resolve.
    pub fn dev_realpath(&self, dev: &str) -> String {
        let inside = self.path(dev);
        match std::fs::canonicalize(&inside) {
            Ok(real) => {
                let base = std::fs::canonicalize(&self.base).unwrap_or_else(|_| self.base.clone());
                match real.strip_prefix(&base) {
                    Ok(rel) => format!("/{}", rel.display()),
                    Err(_) => real.display().to_string(),
                }
            }
            Err(_) => dev.to_string(),
        }
    }

    /// Whether a device node is a block or character device. In a view other than the
    /// machine's, any existing file counts (tests cannot create device nodes).
    pub fn is_device(&self, dev: &str) -> bool {
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(self.path(dev)) {
            Ok(m) if self.is_system() => {
                m.file_type().is_block_device() || m.file_type().is_char_device()
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Names under `/sys/block` (whole disks).
    pub fn disks(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("/sys/block"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Whether the machine's `/` seems to be a container's (then a missing device is
    /// expected, not a problem).
    pub fn in_container(&self) -> bool {
        self.path("/run/systemd/container").exists()
            || self.path("/.dockerenv").exists()
            || self.path("/run/.containerenv").exists()
    }
}

/// Where a path is mounted, as cloud-init's `get_mount_info` finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount source (`/dev/vda1`, `overlay`, `tmpfs`, `/dev/root`).
    pub device: String,
    /// The filesystem type (`ext4`, `xfs`, `overlay`).
    pub fs_type: String,
    /// The mount point holding the path.
    pub mount_point: String,
    /// The per-mount options (`rw,relatime`).
    pub options: String,
}

/// Undo mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        if bytes[i] == b'\\' && digits.is_some_and(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
        {
            let v = digits
                .unwrap_or_default()
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount holding `path` in a mountinfo text: the deepest mount point that is a
/// prefix of the path, the last such line winning (a later mount over the same point
/// hides the earlier). `None` when no line matches, or when any line is malformed (as
/// cloud-init: a wrong answer is worse than none).
pub fn mount_for(path: &str, mountinfo: &str) -> Option<MountInfo> {
    let want: Vec<&str> = path.split('/').filter(|e| !e.is_empty()).collect();
    let mut best: Option<(usize, MountInfo)> = None;
    for line in mountinfo.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 10 {
            return None;
        }
        let point = unescape(parts[4]);
        let elems: Vec<&str> = point.split('/').filter(|e| !e.is_empty()).collect();
        if elems.len() > want.len() || elems[..] != want[..elems.len()] {
            continue;
        }
        if best.as_ref().is_some_and(|(depth, _)| *depth > elems.len()) {
            continue;
        }
        let dash = parts.iter().position(|p| *p == "-")?;
        let fs_type = parts.get(dash + 1)?;
        let device = parts.get(dash + 2)?;
        best = Some((
            elems.len(),
            MountInfo {
                device: unescape(device),
                fs_type: (*fs_type).to_string(),
                mount_point: point.clone(),
                options: parts[5].to_string(),
            },
        ));
    }
    best.map(|(_, m)| m)
}

/// Every mount point in a mountinfo text.
pub fn mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(unescape))
        .collect()
}

/// The device named by `root=` on a kernel command line, as cloud-init maps it
/// (`LABEL=x` → `/dev/disk/by-label/x`, `UUID=X` → `/dev/disk/by-uuid/x`, `sda1` →
/// `/dev/sda1`).
pub fn root_from_cmdline(cmdline: &str) -> Option<String> {
    let found = cmdline
        .split_whitespace()
        .find_map(|t| t.strip_prefix("root="))?;
    Some(if found.starts_with("/dev/") {
        found.to_string()
    } else if let Some(label) = found.strip_prefix("LABEL=") {
        format!("/dev/disk/by-label/{label}")
    } else if let Some(uuid) = found.strip_prefix("UUID=") {
        format!("/dev/disk/by-uuid/{}", uuid.to_lowercase())
    } else if let Some(uuid) = found.strip_prefix("PARTUUID=") {
        format!("/dev/disk/by-partuuid/{}", uuid.to_lowercase())
    } else {
        format!("/dev/{found}")
    })
}

/// How a command ended (or why it could not start).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// The exit code; `None` when killed or not started.
    pub exit_code: Option<i32>,
    /// The last lines of its output, or why it could not start.
    pub tail: Vec<String>,
}

impl Ran {
    /// Exit 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// `exit code N` / `killed` / the start error, for messages.
    pub fn describe(&self) -> String {
        match self.exit_code {
            Some(c) => format!("exit code {c}"),
            None => self
                .tail
                .last()
                .cloned()
                .unwrap_or_else(|| "killed by a signal".into()),
        }
    }
}

/// Runs one command line: the boot's runner on a real boot, a fake in tests.
pub type Exec<'a> = dyn FnMut(&[String]) -> Ran + 'a;

/// Whether the disk modules may run commands: a real boot (`--root /`), with the
/// machine's own view, not as process 1 (a container's or a `strap try` sandbox's init,
/// whose swap and mounts are not the machine's to change). Otherwise the reason they
/// only record.
pub fn dry_run_reason(boot: &Boot<'_>, view: &MachineView) -> Option<String> {
    if !boot.on_real_root() {
        Some(format!("under --root {}", boot.ctx.root().display()))
    } else if !view.is_system() {
        Some(format!("{ENV_DISK_VIEW} is set"))
    } else if std::process::id() == 1 {
        Some("running as process 1 (a container or sandbox)".into())
    } else {
        None
    }
}

/// Run a command on the machine through the boot's output log (`LANG=C`, the boot's
/// script environment and part timeout).
pub fn run_on_machine(boot: &Boot<'_>, label: &str, argv: &[String]) -> Ran {
    let mut env = boot.script_env();
    env.push(("LANG".into(), "C".into()));
    let spec = ScriptSpec {
        label: label.to_string(),
        path: argv.first().map(PathBuf::from).unwrap_or_default(),
        interpreter: None,
        env,
        cwd: boot.ctx.root().to_path_buf(),
        timeout: boot.opts.part_timeout,
        group_record: Some(boot.paths.running_part()),
    };
    let os: Vec<OsString> = argv.iter().map(OsString::from).collect();
    match exec::run_command(&spec, &os, &boot.out) {
        Ok(o) => Ran {
            exit_code: if o.timed_out { None } else { o.exit_code },
            tail: o.tail,
        },
        Err(e) => Ran {
            exit_code: None,
            tail: vec![format!("cannot start: {e}")],
        },
    }
}

/// `device_aliases` (a `disk_setup` key, read by `mounts` too) as a map; anything else
/// is ignored.
pub fn device_aliases(boot: &Boot<'_>) -> std::collections::HashMap<String, String> {
    boot.cfg("device_aliases")
        .and_then(crate::cloudconfig::Node::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((super::scalar_text(k)?, super::scalar_text(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a program is on the boot's PATH.
pub fn have_program(boot: &Boot<'_>, program: &str) -> bool {
    let path_var = boot.ctx.var("PATH");
    exec::on_path(path_var.as_deref(), program).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw,discard
28 27 254:16 / /data rw - xfs /dev/vdb rw
29 28 0:40 / /data/my\\040dir rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_the_deepest_mount_holding_a_path() {
        let root = mount_for("/", MOUNTINFO).unwrap();
        assert_eq!(root.device, "/dev/vda1");
        assert_eq!(root.fs_type, "ext4");
        assert_eq!(root.mount_point, "/");
        let data = mount_for("/data/x/y", MOUNTINFO).unwrap();
        assert_eq!(
            (data.device.as_str(), data.mount_point.as_str()),
            ("/dev/vdb", "/data")
        );
        let spaced = mount_for("/data/my dir", MOUNTINFO).unwrap();
        assert_eq!(spaced.fs_type, "tmpfs");
        assert_eq!(spaced.mount_point, "/data/my dir");
        assert_eq!(mount_for("/proc/1", MOUNTINFO).unwrap().fs_type, "proc");
        assert_eq!(mount_for("/procx", MOUNTINFO).unwrap().device, "/dev/vda1");
    }

    #[test]
    fn a_later_mount_over_the_same_point_wins_and_bad_lines_give_nothing() {
        let text = "1 0 0:1 / / rw - ext4 /dev/vda1 rw\n2 1 0:2 / / rw - overlay overlay rw\n";
        assert_eq!(mount_for("/", text).unwrap().fs_type, "overlay");
        assert_eq!(mount_for("/", "1 0 0:1 / / rw - ext4\n"), None);
        assert_eq!(mount_for("/", "1 0 0:1 / / rw x y z w\n"), None);
        assert_eq!(mount_for("/", ""), None);
    }

    #[test]
    fn root_device_from_the_kernel_command_line() {
        assert_eq!(
            root_from_cmdline("ro root=LABEL=cloudimg-rootfs quiet").as_deref(),
            Some("/dev/disk/by-label/cloudimg-rootfs")
        );
        assert_eq!(
            root_from_cmdline("root=UUID=ABC-1").as_deref(),
            Some("/dev/disk/by-uuid/abc-1")
        );
        assert_eq!(
            root_from_cmdline("root=xvda1").as_deref(),
            Some("/dev/xvda1")
        );
        assert_eq!(
            root_from_cmdline("root=/dev/sda2 ro").as_deref(),
            Some("/dev/sda2")
        );
        assert_eq!(root_from_cmdline("quiet"), None);
    }

    #[test]
    fn meminfo_and_links_inside_a_view() {
        let dir = tempfile::tempdir().unwrap();
        let view = MachineView::at(dir.path());
        std::fs::create_dir_all(view.path("/proc")).unwrap();
        std::fs::write(
            view.path("/proc/meminfo"),
            "MemFree: 1 kB\nMemTotal:  2048 kB\n",
        )
        .unwrap();
        assert_eq!(view.mem_total(), Some(2048 * 1024));
        std::fs::create_dir_all(view.path("/dev/disk/by-label")).unwrap();
        std::fs::write(view.path("/dev/vda1"), "").unwrap();
        std::os::unix::fs::symlink("../../vda1", view.path("/dev/disk/by-label/root")).unwrap();
        assert_eq!(view.dev_realpath("/dev/disk/by-label/root"), "/dev/vda1");
        assert_eq!(view.dev_realpath("/dev/nope"), "/dev/nope");
        assert!(view.is_device("/dev/vda1") && !view.is_device("/dev/vdz"));
        assert!(!view.is_system() && MachineView::system().is_system());
    }
}
