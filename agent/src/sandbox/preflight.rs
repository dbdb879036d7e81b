//! Checks, before anything is started, that this machine has what the sandbox needs:
//! overlayfs, the namespaces, and either root or unprivileged user namespaces. Each
//! missing piece is named in the error. It only reads `/proc`; it changes nothing.

use std::path::Path;

use super::SandboxError;

/// How the sandbox gets its privileges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Running as root: mount, network and pid namespaces directly.
    Root,
    /// Not root: a user namespace mapping this user to root inside.
    Rootless,
}

/// Check the machine; return how the sandbox will run.
pub fn check() -> Result<Mode, SandboxError> {
    let root = nix::unistd::geteuid().is_root();
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let userns_max = read_number("/proc/sys/user/max_user_namespaces");
    let userns_clone = read_number("/proc/sys/kernel/unprivileged_userns_clone");
    let missing = missing_features(
        root,
        &filesystems,
        |ns| Path::new("/proc/self/ns").join(ns).exists(),
        userns_max,
        userns_clone,
    );
    if missing.is_empty() {
        Ok(if root { Mode::Root } else { Mode::Rootless })
    } else {
        Err(SandboxError::Unsupported {
            missing: missing.join(", "),
        })
    }
}

/// Mount points the sandbox replaces with its own (or that hold no system files).
const REPLACED_MOUNTS: [&str; 7] = ["/proc", "/sys", "/dev", "/run", "/tmp", "/mnt", "/media"];

/// Filesystems mounted below `/` that hold files the boot may need (`/home`, `/var` on
/// their own partitions, bind mounts): the overlay covers the root filesystem only, so the
/// sandbox sees their empty mount points. From `/proc/self/mountinfo`.
pub fn uncovered_mounts(mountinfo: &str) -> Vec<String> {
    let mut out: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .filter(|mount_point| *mount_point != "/")
        .filter(|mount_point| {
            !REPLACED_MOUNTS.iter().any(|r| {
                *mount_point == *r
                    || mount_point
                        .strip_prefix(r)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        })
        .map(|mount_point| mount_point.replace("\\040", " "))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Warn about the filesystems the sandbox will not see.
pub fn warn_uncovered_mounts() {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for mount_point in uncovered_mounts(&mountinfo) {
        tracing::warn!(
            "{mount_point} is a separate filesystem: the sandbox overlays only the root \
             filesystem and sees its mount point empty"
        );
    }
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The features that are missing, by name (empty: all there).
fn missing_features(
    root: bool,
    filesystems: &str,
    has_ns: impl Fn(&str) -> bool,
    userns_max: Option<u64>,
    userns_clone: Option<u64>,
) -> Vec<String> {
    let mut missing = Vec::new();
    let has_fs = |name: &str| {
        filesystems
            .lines()
            .any(|line| line.split_whitespace().last() == Some(name))
    };
    if !has_fs("overlay") {
        missing.push(
            "the overlay filesystem (not in /proc/filesystems; try `modprobe overlay`)".to_string(),
        );
    }
    if !has_fs("tmpfs") {
        missing.push("the tmpfs filesystem".to_string());
    }
    for ns in ["mnt", "net", "pid", "uts", "ipc"] {
        if !has_ns(ns) {
            missing.push(format!("{ns} namespaces (no /proc/self/ns/{ns})"));
        }
    }
    if !root {
        if !has_ns("user") {
            missing
                .push("user namespaces (no /proc/self/ns/user), needed when not root".to_string());
        } else if userns_max == Some(0) {
            missing.push(
                "user namespaces (user.max_user_namespaces is 0), needed when not root".to_string(),
            );
        } else if userns_clone == Some(0) {
            missing.push(
                "unprivileged user namespaces (kernel.unprivileged_userns_clone is 0), needed when not root"
                    .to_string(),
            );
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: &str = "nodev\tsysfs\nnodev\ttmpfs\nnodev\toverlay\n\text4\n";

    #[test]
    fn a_complete_machine_misses_nothing() {
        assert!(missing_features(true, FS, |_| true, None, None).is_empty());
        assert!(missing_features(false, FS, |_| true, Some(100), Some(1)).is_empty());
    }

    #[test]
    fn each_missing_feature_is_named() {
        let missing = missing_features(true, "nodev\ttmpfs\n", |ns| ns != "net", None, None);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("overlay"));
        assert!(missing[1].contains("net namespaces"));
    }

    #[test]
    fn filesystems_below_root_that_the_overlay_does_not_cover_are_named() {
        let mountinfo = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
22 27 0:21 / /proc rw,relatime - proc proc rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw
30 27 254:1 / /home rw,relatime - ext4 /dev/vdb rw
31 27 254:2 / /var/lib/docker rw,relatime - xfs /dev/vdc rw
32 27 0:40 / /run/user/0 rw,relatime - tmpfs tmpfs rw
33 27 0:41 / /mnt/data rw,relatime - ext4 /dev/vdd rw
34 27 0:42 / /proceeds rw,relatime - ext4 /dev/vde rw
";
        assert_eq!(
            uncovered_mounts(mountinfo),
            ["/home", "/proceeds", "/var/lib/docker"]
        );
    }

    #[test]
    fn rootless_needs_user_namespaces() {
        let missing = missing_features(false, FS, |_| true, Some(0), None);
        assert!(missing[0].contains("max_user_namespaces"), "{missing:?}");
        let missing = missing_features(false, FS, |_| true, Some(10), Some(0));
        assert!(
            missing[0].contains("unprivileged_userns_clone"),
            "{missing:?}"
        );
        // Root does not need them.
        assert!(missing_features(true, FS, |_| true, Some(0), Some(0)).is_empty());
    }
}
