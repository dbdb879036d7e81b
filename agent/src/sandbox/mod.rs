//! `strap try`: the boot run on a throwaway overlay of this machine, and a report of what
//! it changed.
//!
//! Three processes, each the same `strap` binary in a different role:
//! - the **host** side ([`try_userdata`]) checks the kernel features, writes a plan into a
//!   temporary work folder and starts the sandbox process in new mount, network, UTS and
//!   IPC namespaces (and a user namespace when not root);
//! - the **sandbox** process ([`sandbox_main`]) makes every mount private, mounts a
//!   size-limited tmpfs for the upper layers and an overlay over the root filesystem, gives
//!   the overlay fresh `/proc`, `/dev`, `/sys`, `/tmp` and `/run`, puts 169.254.169.254 on
//!   `lo` and serves the metadata there, then runs each launch and records what changed;
//! - the **launch** process ([`launch_main`]) starts the boot as pid 1 of a new pid
//!   namespace, in the launch's cgroups (pids, memory), bounded by the timeout. When pid 1
//!   dies the kernel kills everything left in its namespace, and the mount and network
//!   namespaces die with the sandbox process: nothing is left behind on the host.
//!
//! The **boot** itself is confined before it execs (`spawn::boot_pre_exec`):
//! - its `/proc` is mounted, and `/proc/sys` and `/proc/sysrq-trigger` made read-only,
//!   from the sandbox's namespaces, so these mounts are locked for the boot;
//! - as root it makes a user namespace mapping every id to itself (a helper left in the
//!   parent namespace writes the map), then new mount, UTS and IPC namespaces owned by it:
//!   the capabilities it keeps act on these namespaces, not on the host's. Rootless, the
//!   whole sandbox is in a user namespace already;
//! - it binds the overlay onto itself, `pivot_root`s into it and detaches the old root
//!   (`umount2(MNT_DETACH)`): no mount of the host's root filesystem is left to walk back
//!   to with `..`, a deeper `chroot` or `/proc/PID/root`. The overlay is `nodev`;
//! - its bounding set keeps only `CHOWN`, `DAC_OVERRIDE`, `FOWNER`, `FSETID` (own, read and
//!   write any file of the overlay), `KILL`, `SETUID`, `SETGID`, `SETPCAP` (run commands as
//!   the users it creates, and drop capabilities further), `NET_BIND_SERVICE`, `NET_RAW`
//!   (low ports, `ping`), `AUDIT_WRITE` (PAM in `useradd` and `chpasswd`), `SETFCAP`
//!   (packages that set file capabilities), and `SYS_ADMIN` only inside its own user
//!   namespace (`hostname NAME` needs it over the UTS namespace). Everything else goes,
//!   among them `SYS_CHROOT`, `MKNOD`, `DAC_READ_SEARCH` (`open_by_handle_at`),
//!   `SYS_MODULE`, `SYS_RAWIO`, `SYS_PTRACE`, `SYS_BOOT`, `SYS_TIME`, `NET_ADMIN`,
//!   `MAC_ADMIN`, `BPF` and `PERFMON`. The inheritable and ambient sets are emptied and
//!   `no_new_privs` is set, so no setuid program or file capability gives any back;
//! - `RLIMIT_NPROC` and `RLIMIT_DATA` where there is no pids or memory cgroup;
//! - last, a seccomp filter (`seccomp`) refusing file handles, `kexec`, modules, `bpf`,
//!   `perf_event_open`, the keyring, `userfaultfd`, `io_uring`, the clock and new user
//!   namespaces. It is a deny list: everything else the capabilities allow, the boot
//!   may call.
//!
//! This module never writes to the host outside its temporary work folder and the folder
//! given to `--keep`, and never changes the host's mounts, network or hostname.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod changes;
mod inner;
mod limits;
mod metadata;
mod model;
mod mounts;
mod net;
mod preflight;
pub mod report;
mod seccomp;
mod spawn;
use crate::textdiff;

pub use inner::{
    launch_main, sandbox_main, BootRlimits, LAUNCH_FLAG, LAUNCH_INDEX_FLAG, SANDBOX_FLAG,
};
pub use report::{LaunchReport, TryReport};

/// Where the metadata service answers inside the sandbox, as on EC2.
pub const IMDS_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 169, 254);
/// The port of the metadata service inside the sandbox.
pub const IMDS_PORT: u16 = 80;
/// Inside the sandbox: the folder (on the fresh `/run` tmpfs, so never in the report)
/// that holds the strap binary and the user data.
pub const SANDBOX_RUN_DIR: &str = "/run/strap-try";
/// The changed user data of `--then`, in [`SANDBOX_RUN_DIR`].
pub const THEN_USER_DATA: &str = "user-data-then";
/// Default `--max-size`: the size of the tmpfs holding the upper layers.
pub const DEFAULT_MAX_SIZE: u64 = 512 * 1024 * 1024;
/// Default `--timeout`, in seconds, per launch.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Default limit on the number of processes and threads of one launch.
pub const DEFAULT_MAX_PIDS: u64 = 512;
/// Default `--max-memory`: the memory one launch may use, all its processes together.
pub const DEFAULT_MAX_MEMORY: u64 = 1024 * 1024 * 1024;
/// New text files up to this many lines are shown whole (as a diff) with `--diff`.
pub const DIFF_MAX_NEW_LINES: usize = 10;
/// Changed text files up to this size get a unified diff with `--diff`.
pub const DIFF_MAX_BYTES: u64 = 64 * 1024;
/// The boot's state folder, inside the sandbox.
pub const BOOT_STATE_DIR: &str = "/var/lib/strap";
/// The boot's logs, inside the sandbox.
pub const BOOT_LOGS: [&str; 2] = ["/var/log/strap.log", "/var/log/strap-output.log"];
/// The boot's record of every part and module, inside the sandbox.
pub const BOOT_REPORT_PATH: &str = "/var/lib/strap/data/report.json";
/// The boot's run folder (`status.json`, `result.json`), inside the sandbox.
pub const BOOT_RUN_DIR: &str = "/run/strap";

/// What runs inside the sandbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// `strap run`: the whole boot, user data from the metadata service.
    #[default]
    Boot,
    /// The user-data file itself, executed directly (a plain script): the sandbox
    /// without the boot, for scripts and for measuring the sandbox alone.
    Script,
}

/// Options of one `strap try`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TryOptions {
    /// The user-data file.
    pub userdata: PathBuf,
    /// Keep the upper layer(s) in this folder.
    pub keep: Option<PathBuf>,
    /// The metadata service's configuration (YAML), if any.
    pub mock_config: Option<PathBuf>,
    /// Unified diffs of small changed text files.
    pub diff: bool,
    /// Seconds each launch may run.
    pub timeout_secs: u64,
    /// Bytes the upper layers may hold.
    pub max_size: u64,
    /// Processes and threads one launch may have at once.
    pub max_pids: u64,
    /// Bytes of memory one launch may use (all its processes together, without swap).
    pub max_memory: u64,
    /// New instances launched from the baked image after the first boot.
    pub relaunch: u32,
    /// Changed user data planned and applied to the same instance after the first boot.
    #[serde(default)]
    pub then: Option<PathBuf>,
    /// What runs inside.
    pub runner: Runner,
}

/// Errors of `strap try`.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A kernel feature the sandbox needs is missing or not allowed.
    #[error("this machine cannot run a sandbox: {missing}; run the boot against a folder instead with `strap run --local --root DIR`")]
    Unsupported { missing: String },
    /// A mount inside the sandbox failed.
    #[error("mount {what} on {target} failed")]
    Mount {
        what: String,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    /// Configuring the sandbox's network failed.
    #[error("network set-up inside the sandbox failed: {step}")]
    Network {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A file operation failed.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Starting a process of the sandbox failed.
    #[error("cannot start the {role} process")]
    Spawn {
        role: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The sandbox process failed; its message is in `message`.
    #[error("the sandbox failed: {message}")]
    Sandbox { message: String },
    /// The metadata service could not be configured or started.
    #[error("metadata service: {message}")]
    Metadata { message: String },
    /// The plan or result file between the processes could not be read or written.
    #[error("{op} {path}")]
    Json {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl SandboxError {
    fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { op, path, source }
    }
}

/// Run `strap try` from the host side: check the machine, start the sandbox, wait for it
/// and return its report. `exe` is the strap binary to run in the sandbox's roles
/// (normally `/proc/self/exe`); the work folder is made in `work_base` and removed after.
pub fn try_userdata(
    options: &TryOptions,
    exe: &Path,
    work_base: &Path,
) -> Result<TryReport, SandboxError> {
    let mode = preflight::check()?;
    preflight::warn_uncovered_mounts();
    inner::run_host(options, exe, mode, work_base)
}
