//! The limits on one launch's processes and memory, through cgroups where this machine has
//! ones we may write, else through resource limits on the boot:
//! - processes: a pids cgroup (cgroup v2 with the pids controller, or the v1 pids
//!   hierarchy), else `RLIMIT_NPROC` (which the kernel does not apply to real root);
//! - memory: a memory cgroup (`memory.max` and `memory.swap.max` 0 on v2,
//!   `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes` on v1), which counts every
//!   process of the launch together and kills one at the limit, else `RLIMIT_DATA`, which
//!   bounds each process's heap on its own (an allocation past it fails).
//!
//! It creates the cgroups of one launch and removes them once the launch's processes are
//! gone. It writes nowhere else.

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

/// How a launch's memory was bounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MemoryLimit {
    /// A memory cgroup: all the launch's processes together, without swap.
    Cgroup { path: PathBuf, max: u64 },
    /// `RLIMIT_DATA` on each process of the boot (no memory cgroup on this machine).
    Rlimit { max: u64 },
}

/// Which cgroup hierarchy a folder belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// One cgroup folder of a launch; removed on drop.
#[derive(Debug)]
struct Group {
    dir: PathBuf,
    version: Version,
    /// `cgroup.procs`, open for the launch process to move itself in.
    procs: File,
}

impl Group {
    fn create(parent: &Path, launch: u32, version: Version) -> Option<Self> {
        let dir = parent.join(format!("strap-try-{}-{launch}", std::process::id()));
        if let Err(err) = std::fs::create_dir(&dir) {
            tracing::debug!("no cgroup at {}: {err}", dir.display());
            return None;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
        {
            Ok(procs) => Some(Self {
                dir,
                version,
                procs,
            }),
            Err(err) => {
                tracing::debug!("cannot use the cgroup {}: {err}", dir.display());
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }

    fn write(&self, file: &str, value: u64) -> std::io::Result<()> {
        std::fs::write(self.dir.join(file), value.to_string())
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // A memory cgroup may take a moment to let go after its last process is reaped.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if let Err(err) = std::fs::remove_dir(&self.dir) {
            tracing::warn!("cannot remove the cgroup {}: {err}", self.dir.display());
        }
    }
}

/// The cgroups of one launch: on cgroup v2 one folder for both limits, on v1 one per
/// hierarchy. Removed on drop.
#[derive(Debug, Default)]
pub struct LaunchCgroups {
    pids: Option<usize>,
    memory: Option<usize>,
    groups: Vec<Group>,
}

/// The controllers the v2 root enables for its children, if this is a v2 machine.
fn v2_controllers(root: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(root.join("cgroup.subtree_control")).ok()?;
    Some(text.split_whitespace().map(str::to_string).collect())
}

/// This process's cgroup in the v1 hierarchy of `controller`, from `/proc/self/cgroup`
/// (`4:memory:/a/b` gives `/a/b`).
fn own_v1_path(proc_cgroup: &str, controller: &str) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

/// The folders under which this process may create its cgroups (for leftovers).
fn parent_dirs() -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    let mut dirs = vec![root.to_path_buf(), root.join("pids"), root.join("memory")];
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if let Some(path) = own_v1_path(&own, "memory") {
        dirs.push(root.join("memory").join(path.trim_start_matches('/')));
    }
    dirs
}

impl LaunchCgroups {
    /// Create the cgroups of launch `launch`: `pids.max` = `max_pids`, and the memory
    /// limit `max_memory` bytes without swap. Either may be missing where this machine
    /// has no such cgroup we may write.
    pub fn create(launch: u32, max_pids: u64, max_memory: u64) -> Self {
        let root = Path::new(CGROUP_ROOT);
        let mut out = Self::default();
        if let Some(controllers) = v2_controllers(root) {
            let has = |c: &str| controllers.iter().any(|x| x == c);
            if !has("pids") && !has("memory") {
                return out;
            }
            let Some(group) = Group::create(root, launch, Version::V2) else {
                return out;
            };
            if has("pids") {
                match group.write("pids.max", max_pids) {
                    Ok(()) => out.pids = Some(0),
                    Err(err) => tracing::debug!("cannot set pids.max: {err}"),
                }
            }
            if has("memory") {
                let set = group.write("memory.max", max_memory).and_then(|()| {
                    match group.write("memory.swap.max", 0) {
                        // Without swap accounting there is no swap to limit.
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                        other => other,
                    }
                });
                match set {
                    Ok(()) => out.memory = Some(0),
                    Err(err) => tracing::debug!("cannot set memory.max: {err}"),
                }
            }
            if out.pids.is_some() || out.memory.is_some() {
                out.groups.push(group);
            }
            return out;
        }
        let pids_root = root.join("pids");
        if pids_root.join("cgroup.procs").exists() {
            if let Some(group) = Group::create(&pids_root, launch, Version::V1) {
                match group.write("pids.max", max_pids) {
                    Ok(()) => {
                        out.pids = Some(out.groups.len());
                        out.groups.push(group);
                    }
                    Err(err) => tracing::debug!("cannot set pids.max: {err}"),
                }
            }
        }
        let memory_root = root.join("memory");
        if memory_root.join("cgroup.procs").exists() {
            // Below this process's own memory cgroup, so the limits above it still hold.
            let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let parent = own_v1_path(&own, "memory")
                .map(|p| memory_root.join(p.trim_start_matches('/')))
                .filter(|p| p.is_dir())
                .unwrap_or(memory_root);
            if let Some(group) = Group::create(&parent, launch, Version::V1) {
                let set = group
                    .write("memory.limit_in_bytes", max_memory)
                    .and_then(|()| {
                        match group.write("memory.memsw.limit_in_bytes", max_memory) {
                            // Without swap accounting there is no swap to limit.
                            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                            other => other,
                        }
                    });
                match set {
                    Ok(()) => {
                        out.memory = Some(out.groups.len());
                        out.groups.push(group);
                    }
                    Err(err) => tracing::debug!("cannot set the v1 memory limit: {err}"),
                }
            }
        }
        out
    }

    /// The `cgroup.procs` files to move the launch process into.
    pub fn procs(&self) -> Vec<&File> {
        self.groups.iter().map(|g| &g.procs).collect()
    }

    /// The pids cgroup's folder, if there is one.
    pub fn pids_path(&self) -> Option<&Path> {
        self.pids.map(|i| self.groups[i].dir.as_path())
    }

    /// The memory cgroup's folder, if there is one.
    pub fn memory_path(&self) -> Option<&Path> {
        self.memory.map(|i| self.groups[i].dir.as_path())
    }

    /// How many times a fork was refused because the pids limit was reached.
    pub fn pids_refused(&self) -> u64 {
        self.pids
            .map(|i| parse_count(&self.groups[i].read("pids.events"), "max"))
            .unwrap_or(0)
    }

    /// The most memory the launch's processes used at once, where the kernel says.
    pub fn memory_peak(&self) -> Option<u64> {
        let group = &self.groups[self.memory?];
        let file = match group.version {
            Version::V2 => "memory.peak",
            Version::V1 => "memory.max_usage_in_bytes",
        };
        group.read(file).trim().parse().ok()
    }

    /// How many processes the kernel killed at the memory limit.
    pub fn oom_kills(&self) -> u64 {
        let Some(i) = self.memory else {
            return 0;
        };
        let group = &self.groups[i];
        let file = match group.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        parse_count(&group.read(file), "oom_kill")
    }

    /// Whether no process is left in the cgroups.
    pub fn is_empty(&self) -> bool {
        self.groups
            .iter()
            .all(|g| g.read("cgroup.procs").trim().is_empty())
    }
}

/// Remove the cgroups a killed sandbox process (`sandbox_pid`) left behind, once their
/// processes are gone (they are being killed; wait up to a second).
pub fn remove_leftover_cgroups(sandbox_pid: u32) {
    let prefix = format!("strap-try-{sandbox_pid}-");
    for parent in parent_dirs() {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
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
}

/// The count on the line `KEY N` of a cgroup events file (`pids.events`,
/// `memory.events`, v1's `memory.oom_control`).
fn parse_count(events: &str, key: &str) -> u64 {
    events
        .lines()
        .filter_map(|line| {
            let (k, n) = line.split_once(' ')?;
            (k == key).then_some(n)
        })
        .filter_map(|n| n.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_counts_are_read_by_key() {
        assert_eq!(parse_count("max 17\n", "max"), 17);
        assert_eq!(parse_count("max 0\n", "max"), 0);
        assert_eq!(parse_count("", "max"), 0);
        let v2 = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_count(v2, "oom_kill"), 1);
        assert_eq!(parse_count(v2, "max"), 12);
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(parse_count(v1, "oom_kill"), 3);
    }

    #[test]
    fn the_own_v1_cgroup_is_found_by_controller() {
        let text =
            "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n";
        assert_eq!(
            own_v1_path(text, "memory").as_deref(),
            Some("/process_api/abc")
        );
        assert_eq!(own_v1_path(text, "cpuacct").as_deref(), Some("/x"));
        assert_eq!(own_v1_path(text, "blkio"), None);
    }
}
