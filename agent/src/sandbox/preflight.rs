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
