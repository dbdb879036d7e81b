//! The limit on how many processes one launch may have: a pids cgroup where this machine
//! has one we may write (cgroup v2 with the pids controller, or the v1 pids hierarchy),
//! else `RLIMIT_NPROC` (which the kernel does not apply to real root). It creates one
//! cgroup per launch and removes it once the launch's processes are gone.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where cgroups are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How a launch's process count was bounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PidsLimit {
    /// A pids cgroup with `pids.max` set.
    Cgroup { path: PathBuf, max: u64 },
    /// `RLIMIT_NPROC` on the boot.
    Rlimit { max: u64 },
}

/// A pids cgroup for one launch; removed on drop.
#[derive(Debug)]
pub struct PidsCgroup {
    dir: PathBuf,
    /// `cgroup.procs`, open for the launch process to move itself in.
    pub procs: File,
}

/// The folder under which this process may create a pids cgroup, if any.
fn parent_dir() -> Option<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    let v1 = root.join("pids");
    if v1.join("cgroup.procs").exists() {
        return Some(v1);
    }
    let controllers = std::fs::read_to_string(root.join("cgroup.subtree_control")).ok()?;
    controllers
        .split_whitespace()
        .any(|c| c == "pids")
        .then(|| root.to_path_buf())
}

impl PidsCgroup {
    /// Create `strap-try-<pid>-<launch>` with `pids.max` = `max`, or `None` when this
    /// machine has no pids cgroup we may write.
    pub fn create(launch: u32, max: u64) -> Option<Self> {
        let dir = parent_dir()?.join(format!("strap-try-{}-{launch}", std::process::id()));
        if let Err(err) = std::fs::create_dir(&dir) {
            tracing::debug!("no pids cgroup at {}: {err}", dir.display());
            return None;
        }
        let set_up = || -> std::io::Result<File> {
            std::fs::write(dir.join("pids.max"), max.to_string())?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        };
        match set_up() {
            Ok(procs) => Some(Self { dir, procs }),
            Err(err) => {
                tracing::debug!("cannot use the pids cgroup {}: {err}", dir.display());
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }

    /// The cgroup's folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// How many times a fork was refused because the limit was reached.
    pub fn times_limited(&self) -> u64 {
        let events = std::fs::read_to_string(self.dir.join("pids.events")).unwrap_or_default();
        parse_max_events(&events)
    }

    /// Whether no process is left in the cgroup.
    pub fn is_empty(&self) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|procs| procs.trim().is_empty())
            .unwrap_or(true)
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir(&self.dir) {
            tracing::warn!("cannot remove the cgroup {}: {err}", self.dir.display());
        }
    }
}

/// Remove the pids cgroups a killed sandbox process (`sandbox_pid`) left behind, once
/// their processes are gone (they are being killed; wait up to a second).
pub fn remove_leftover_cgroups(sandbox_pid: u32) {
    let Some(parent) = parent_dir() else {
        return;
    };
    let prefix = format!("strap-try-{sandbox_pid}-");
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let dir = entry.path();
        for _ in 0..100 {
            if std::fs::remove_dir(&dir).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// The `max` count of `pids.events`.
fn parse_max_events(events: &str) -> u64 {
    events
        .lines()
        .filter_map(|line| line.strip_prefix("max "))
        .filter_map(|n| n.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_events_max_is_read() {
        assert_eq!(parse_max_events("max 17\n"), 17);
        assert_eq!(parse_max_events("max 0\n"), 0);
        assert_eq!(parse_max_events(""), 0);
    }
}
