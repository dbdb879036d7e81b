//! Where a boot keeps its state, logs and records: the machine paths (declared once
//! here), resolved under the context's root when the boot starts. The layout mirrors
//! cloud-init's `/var/lib/cloud` so that people who know one find their way in the other:
//!
//! ```text
//! <state>/instance -> instances/<iid>      the current instance
//! <state>/instances/<iid>/sem/             per-instance and per-boot markers
//! <state>/instances/<iid>/scripts/         user `#!` parts and runcmd (scripts_user)
//! <state>/instances/<iid>/boothooks/       `#cloud-boothook` parts
//! <state>/instances/<iid>/user-data.txt    the raw user data (0600)
//! <state>/instances/<iid>/cloud-config.txt the merged cloud-config
//! <state>/instances/<iid>/boot-finished    written by final_message
//! <state>/scripts/per-{boot,instance,once} image scripts and MIME per-* parts
//! <state>/sem/                             per-once markers (`<name>.once`)
//! <state>/data/                            instance-id, previous-instance-id, report.json
//! /run/strap/                              status.json, result.json, instance-data.json
//! /var/log/strap.log, strap-output.log     the log and the scripts' output (0600)
//! ```

use std::path::{Path, PathBuf};

use crate::context::{Context, ContextError};

/// Default state folder (like cloud-init's `/var/lib/cloud`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/strap";
/// Run-time records (tmpfs on a real machine): status, result, instance data.
pub const RUN_DIR: &str = "/run/strap";
/// strap's own log: events `start:`/`finish:` in cloud-init's format.
pub const LOG_FILE: &str = "/var/log/strap.log";
/// The output of every script, line by line with timestamps.
pub const OUTPUT_LOG_FILE: &str = "/var/log/strap-output.log";
/// Where the kernel publishes the current boot's id (read from the real machine).
pub const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// Overrides the kernel boot id (tests simulate a reboot by changing it).
pub const ENV_BOOT_ID: &str = "STRAP_BOOT_ID";

/// The resolved (real, on-disk) paths of one boot's state and records.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The state folder as the machine sees it (`/var/lib/strap`).
    pub state_machine: PathBuf,
    /// The state folder on disk (under the root).
    pub state: PathBuf,
    /// `/run/strap` on disk.
    pub run: PathBuf,
    /// `/var/log/strap.log` on disk.
    pub log: PathBuf,
    /// `/var/log/strap-output.log` on disk.
    pub output_log: PathBuf,
    /// The root every path above lives beneath (`/` on a real boot): writes never leave it.
    pub root: PathBuf,
}

impl Paths {
    /// Resolve the layout under the context's root; `state_dir` is a machine path.
    pub fn resolve(ctx: &Context, state_dir: Option<&Path>) -> Result<Self, ContextError> {
        let state_machine = state_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        Ok(Self {
            state: ctx.path(&state_machine)?,
            state_machine,
            run: ctx.path(RUN_DIR)?,
            log: ctx.path(LOG_FILE)?,
            output_log: ctx.path(OUTPUT_LOG_FILE)?,
            root: ctx.root().to_path_buf(),
        })
    }

    /// `instances/<iid>` (with `/` in the id replaced by `_`, as cloud-init does).
    pub fn instance_dir(&self, instance_id: &str) -> PathBuf {
        self.state
            .join("instances")
            .join(instance_id.replace('/', "_"))
    }
    /// The `instance` symlink.
    pub fn instance_link(&self) -> PathBuf {
        self.state.join("instance")
    }
    /// `data/`.
    pub fn data(&self) -> PathBuf {
        self.state.join("data")
    }
    /// `sem/` (per-once markers).
    pub fn once_sem(&self) -> PathBuf {
        self.state.join("sem")
    }
    /// `scripts/per-boot` etc.
    pub fn per_dir(&self, which: &str) -> PathBuf {
        self.state.join("scripts").join(which)
    }
    /// `data/report.json`, the strap-specific record of every part and module.
    pub fn report(&self) -> PathBuf {
        self.data().join("report.json")
    }
    /// `<run>/part.pgid`: the process group of the script running now (pid and start
    /// time of its leader), removed when it ends.
    pub fn running_part(&self) -> PathBuf {
        self.run.join("part.pgid")
    }
    /// `/run/strap/status.json`.
    pub fn status(&self) -> PathBuf {
        self.run.join("status.json")
    }
    /// `/run/strap/result.json`.
    pub fn result(&self) -> PathBuf {
        self.run.join("result.json")
    }
    /// `/run/strap/instance-data.json`.
    pub fn instance_data(&self) -> PathBuf {
        self.run.join("instance-data.json")
    }
}
