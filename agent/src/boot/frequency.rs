//! Frequencies and their markers ("semaphores"). A marker records that a piece of work
//! **succeeded** at a given frequency; it is written atomically *after* the work, never
//! before (cloud-init writes it before, so a crash or reboot mid-module leaves the work
//! marked done: canonical/cloud-init#3284, #5699). Work that failed or was interrupted
//! has no marker and runs again on the next `strap run`. A marker is only "done" when it
//! has content, so one left empty by a power loss means "run again".
//!
//! - `always`: no marker, runs on every `strap run`;
//! - `per-boot`: `instances/<iid>/sem/<name>.boot` holding the kernel boot id;
//! - `once-per-instance`: `instances/<iid>/sem/<name>`;
//! - `once`: `sem/<name>.once`, kept across instance ids.

use std::path::PathBuf;

use crate::context::ContextError;

/// How often a module or part runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Frequency {
    /// Every `strap run`.
    Always,
    /// Once per kernel boot.
    PerBoot,
    /// Once per instance id.
    PerInstance,
    /// Once, ever (survives a new instance id).
    PerOnce,
}

impl Frequency {
    /// The name cloud-init uses (`once-per-instance`), or `per-boot` for strap's own.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Always => "always",
            Frequency::PerBoot => "per-boot",
            Frequency::PerInstance => "once-per-instance",
            Frequency::PerOnce => "once",
        }
    }
}

impl std::fmt::Display for Frequency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The markers of one boot: where they live and what the current boot is.
#[derive(Clone, Debug)]
pub struct Semaphores {
    /// `instances/<iid>/sem`.
    pub instance_sem: PathBuf,
    /// `sem` (per-once).
    pub once_sem: PathBuf,
    /// The kernel boot id.
    pub boot_id: String,
    /// Seconds since the epoch, for marker contents.
    pub now: f64,
}

impl Semaphores {
    /// The marker file for a name at a frequency (`None` for always).
    pub fn marker(&self, name: &str, freq: Frequency) -> Option<PathBuf> {
        let name = name.replace(['-', '/'], "_");
        match freq {
            Frequency::Always => None,
            Frequency::PerBoot => Some(self.instance_sem.join(format!("{name}.boot"))),
            Frequency::PerInstance => Some(self.instance_sem.join(name)),
            Frequency::PerOnce => Some(self.once_sem.join(format!("{name}.once"))),
        }
    }

    /// Whether the work already succeeded at this frequency.
    pub fn done(&self, name: &str, freq: Frequency) -> bool {
        let Some(path) = self.marker(name, freq) else {
            return false;
        };
        match freq {
            Frequency::PerBoot => std::fs::read_to_string(&path)
                .map(|text| text.lines().next().map(str::trim) == Some(self.boot_id.as_str()))
                .unwrap_or(false),
            // An empty marker (a crash between creating and filling it) is not done.
            _ => std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() > 0),
        }
    }

    /// Forget that the work succeeded, so that it runs again (`strap apply --rerun`).
    pub fn clear(&self, name: &str, freq: Frequency) -> Result<(), ContextError> {
        match self.marker(name, freq) {
            Some(path) => crate::context::remove_file(std::path::Path::new("/"), &path).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Record that the work succeeded (atomically).
    pub fn mark(&self, name: &str, freq: Frequency) -> Result<(), ContextError> {
        let Some(path) = self.marker(name, freq) else {
            return Ok(());
        };
        let body = match freq {
            Frequency::PerBoot => format!(
                "{}\n{}: {:.3}\n",
                self.boot_id,
                std::process::id(),
                self.now
            ),
            _ => format!("{}: {:.3}\n", std::process::id(), self.now),
        };
        // Temp file then rename, without an fsync: after a power loss the marker is
        // either missing or empty, and both mean "not done", so the work runs again.
        let opts = crate::context::FileOptions {
            mode: Some(0o644),
            owner: None,
        };
        crate::context::replace_file(
            std::path::Path::new("/"),
            &path,
            body.as_bytes(),
            opts,
            false,
        )
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sems(dir: &std::path::Path, boot: &str) -> Semaphores {
        Semaphores {
            instance_sem: dir.join("instances/i-1/sem"),
            once_sem: dir.join("sem"),
            boot_id: boot.into(),
            now: 1.0,
        }
    }

    #[test]
    fn markers_follow_their_frequency() {
        let dir = tempfile::tempdir().unwrap();
        let s = sems(dir.path(), "boot-a");
        for f in [
            Frequency::PerBoot,
            Frequency::PerInstance,
            Frequency::PerOnce,
        ] {
            assert!(!s.done("config-runcmd", f));
            s.mark("config-runcmd", f).unwrap();
            assert!(s.done("config-runcmd", f));
        }
        assert!(!s.done("x", Frequency::Always));
        assert!(s
            .marker("config-runcmd", Frequency::PerInstance)
            .unwrap()
            .ends_with("sem/config_runcmd"));
        // A reboot: per-boot work runs again, the rest does not.
        let rebooted = sems(dir.path(), "boot-b");
        assert!(!rebooted.done("config-runcmd", Frequency::PerBoot));
        assert!(rebooted.done("config-runcmd", Frequency::PerInstance));
        // A new instance: per-instance work runs again, per-once does not.
        let mut other = sems(dir.path(), "boot-b");
        other.instance_sem = dir.path().join("instances/i-2/sem");
        assert!(!other.done("config-runcmd", Frequency::PerInstance));
        assert!(other.done("config-runcmd", Frequency::PerOnce));
    }
}
