//! The boot context: [`Boot`], everything a module may read and write while a boot runs,
//! and the few facts about the boot every module may ask for ([`epoch`], [`in_container`],
//! [`VERSION`]; an error on one line is [`super::records::error_chain`]). (Not to be confused with [`crate::context::Context`], the injected
//! environment, root and clock, which `Boot` carries as `ctx`.)
//!
//! A module reads the merged cloud-config ([`Boot::cfg`], `config`), the decoded `parts`,
//! the instance (`instance`, `instance_dir`, [`Boot::local_hostname`],
//! [`Boot::public_key`]), the image's system config (`system`), the boot's `paths` and
//! `opts`; it writes files through `ctx`, runs scripts through [`Boot::run_script`], and
//! reports through [`Boot::record`] (an item of the report), [`Boot::warn`] (a
//! recoverable problem), the event log `log` and the output log `out`. A module never
//! decides whether it is due and never marks itself done: the runner (`runner.rs`) does,
//! from the stage table (`stages.rs`). This file imports neither.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cloudconfig::Node;
use crate::context::{Context, ContextError};
use crate::userdata::Part;

use super::exec::{self, OutputLog, ScriptOutcome, ScriptSpec};
use super::frequency::Semaphores;
use super::paths::Paths;
use super::records::{EventLog, RecordError, Report, ReportItem};
use super::source::{self, Datasource, InstanceData};

/// strap's version, in banners and the final message.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the boot does when `power_state` asks for a power change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// Run `shutdown` (a real boot on `/`).
    Execute,
    /// Only record what would be run (tests, `--root`).
    DryRun,
}

/// Options of one boot.
#[derive(Clone, Debug)]
pub struct BootOptions {
    /// The state folder as a machine path (default `/var/lib/strap`).
    pub state_dir: Option<PathBuf>,
    /// Kill any one script after this long.
    pub part_timeout: Option<Duration>,
    /// Show script output and messages live on stderr.
    pub console: bool,
    /// What `power_state` does.
    pub power: PowerAction,
    /// How long to wait for the metadata service at the start: `None` takes the system
    /// config's `datasource.Ec2.max_wait` (default 120 s); a seed folder or the embedded
    /// service never waits.
    pub metadata_wait: Option<Duration>,
    /// Whether the source can be late (a metadata service at boot): only then is the
    /// first round trip repeated while the service is not up.
    pub wait_for_source: bool,
    /// Hold the config and final stages after the network stage until
    /// the runner's `release_final` is called (by `strap run --stage final`, from a unit ordered
    /// late in the boot as cloud-final.service is).
    pub hold_final: bool,
    /// Configure the network (`false` for a `--local` boot on this machine's own root:
    /// the embedded service's interfaces are not this machine's).
    pub network: bool,
}

impl Default for BootOptions {
    fn default() -> Self {
        Self {
            state_dir: None,
            part_timeout: None,
            console: true,
            power: PowerAction::DryRun,
            metadata_wait: None,
            wait_for_source: false,
            hold_final: false,
            network: true,
        }
    }
}

/// Errors that stop a boot before or outside its modules (module failures do not: they
/// are recorded and the boot goes on).
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// A state or record path is unusable.
    #[error("cannot use the state folder")]
    Paths(#[from] ContextError),
    /// The metadata source failed.
    #[error("cannot read the instance's metadata")]
    Source(#[from] source::SourceError),
    /// Another boot holds the state folder.
    #[error(transparent)]
    Locked(super::lock::LockError),
    /// A record or state file could not be written.
    #[error("cannot {op} {path}{}", super::records::disk_full_note(source))]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<RecordError> for BootError {
    fn from(err: RecordError) -> Self {
        BootError::Io {
            op: "write",
            path: err.path,
            source: err.source,
        }
    }
}

/// A boot in progress: everything modules read and write goes through it.
pub struct Boot<'a> {
    pub ctx: &'a Context,
    pub paths: Paths,
    pub source: &'a dyn Datasource,
    pub instance: InstanceData,
    pub sems: Semaphores,
    pub out: OutputLog,
    pub log: EventLog,
    pub report: Report,
    pub opts: BootOptions,
    /// The merged cloud-config (an empty map when there is none).
    pub config: Node,
    /// The decoded user-data parts.
    pub parts: Vec<Part>,
    /// The current stage's name.
    pub stage: String,
    /// The instance folder on disk.
    pub instance_dir: PathBuf,
    /// Whether this boot is the first for this instance id.
    pub new_instance: bool,
    /// Set by power_state.
    pub power_command: Option<Vec<String>>,
    /// The image's system config (`/etc/cloud/cloud.cfg`), merged under `config`.
    pub system: super::sysconfig::SystemConfig,
    /// status.json as last written: it is rewritten only when it changes (the runner's).
    pub(super) last_status: Vec<u8>,
    /// The local hostname, once asked for ([`Boot::local_hostname`]).
    pub(super) lazy_hostname: Option<Option<String>>,
    /// The public key, once asked for ([`Boot::public_key`]).
    pub(super) lazy_public_key: Option<Option<String>>,
    /// What was applied to this instance, kept up to date as modules succeed
    /// (`<instance>/applied.json`, see [`super::applied`]).
    pub(super) applied: super::applied::Applied,
}

/// A clock for the logs' timestamps, in a `strftime` format, from the context's clock.
pub fn clock_fn(
    ctx: &Context,
    fmt: &'static str,
) -> std::sync::Arc<dyn Fn() -> String + Send + Sync> {
    let ctx = ctx.clone();
    std::sync::Arc::new(move || {
        let t: chrono::DateTime<chrono::Utc> = ctx.now().into();
        t.format(fmt).to_string()
    })
}

/// Seconds since the epoch of a time.
pub fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whether strap runs in a container: `$container` (set by podman, systemd-nspawn, LXC),
/// or the files podman and docker leave at the top of the container's root.
pub fn in_container(ctx: &Context) -> bool {
    ctx.var("container").is_some_and(|v| !v.is_empty())
        || std::path::Path::new("/run/.containerenv").exists()
        || std::path::Path::new("/.dockerenv").exists()
}

impl Boot<'_> {
    /// Add an item to the report.
    pub fn record(&mut self, item: ReportItem) {
        self.report.items.push(item);
    }

    /// A recoverable problem: logged, shown, and counted (the boot ends "degraded").
    pub fn warn(&mut self, message: &str) {
        tracing::warn!("{message}");
        self.log.line("WARNING", message);
        if let Some(stage) = self.report.stage_mut() {
            stage
                .recoverable_errors
                .entry("WARNING".into())
                .or_default()
                .push(message.to_string());
        }
    }

    /// Environment for scripts: `HOME` (cloud-init leaves it unset under systemd, a
    /// frequent complaint), `INSTANCE_ID`, `STRAP_ROOT`.
    pub fn script_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if self.ctx.var("HOME").is_none() {
            env.push(("HOME".to_string(), "/root".to_string()));
        }
        if self.ctx.var("PATH").is_none() {
            env.push((
                "PATH".to_string(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ));
        }
        env.push(("INSTANCE_ID".to_string(), self.instance.instance_id.clone()));
        env.push((
            "STRAP_ROOT".to_string(),
            self.ctx.root().display().to_string(),
        ));
        env
    }

    /// Run one script, counting metadata requests made before the first.
    pub fn run_script(
        &mut self,
        label: &str,
        path: &Path,
        interpreter: Option<PathBuf>,
    ) -> Result<ScriptOutcome, exec::ExecError> {
        if self.report.imds_requests_before_first_script.is_none() {
            let n = self.source.requests();
            self.report.imds_requests_before_first_script = Some(n);
            self.log.line(
                "INFO",
                &format!("{n} metadata requests before the first script ({label})"),
            );
        }
        let spec = ScriptSpec {
            label: label.to_string(),
            path: path.to_path_buf(),
            interpreter,
            env: self.script_env(),
            cwd: self.ctx.root().to_path_buf(),
            timeout: self.opts.part_timeout,
            group_record: Some(self.paths.running_part()),
        };
        exec::run_script(&spec, &self.out)
    }

    /// The metadata local-hostname (read with the user data in the first round trip; a
    /// failed read is warned about when a module first asks for it).
    pub fn local_hostname(&mut self) -> Option<String> {
        if self.lazy_hostname.is_none() {
            let value = match self.instance.local_hostname.clone() {
                Ok(v) => v,
                Err(err) => {
                    self.warn(&format!("cannot read the local hostname: {err}"));
                    None
                }
            };
            self.lazy_hostname = Some(value);
        }
        self.lazy_hostname.clone().flatten()
    }

    /// The EC2 key pair's public key (fetched once, when first needed).
    pub fn public_key(&mut self) -> Option<String> {
        if self.lazy_public_key.is_none() {
            let value = match source::fetch_text(self.source, source::PUBLIC_KEY_PATH) {
                Ok(v) => v.filter(|s| !s.is_empty()),
                Err(err) => {
                    self.warn(&format!("cannot read the instance's public key: {err}"));
                    None
                }
            };
            self.lazy_public_key = Some(value);
        }
        self.lazy_public_key.clone().flatten()
    }

    /// A cloud-config key of the merged config.
    pub fn cfg(&self, key: &str) -> Option<&Node> {
        self.config.get(key).filter(|n| !n.is_null())
    }

    /// Whether writes go to the real machine (root `/`).
    pub fn on_real_root(&self) -> bool {
        self.ctx.root() == Path::new("/")
    }

    /// Whether host names are looked up (package mirror searches): on the real root, or
    /// where the context's resolver is a fixed set of names (tests). Under `--root` the
    /// host's resolver says nothing about the instance's network.
    pub fn looks_up_names(&self) -> bool {
        self.on_real_root() || self.ctx.resolver_is_fixed()
    }
}

/// The boot id that per-boot work is keyed on: `STRAP_BOOT_ID`, else the kernel's boot
/// id (`/proc/sys/kernel/random/boot_id`). Inside a container the kernel's boot id is the
/// host's and does not change when the container restarts, so there the start time of
/// the container's PID 1 (which changes at every start of the container) is added.
pub fn boot_id(ctx: &Context) -> String {
    if let Some(id) = ctx.var(super::paths::ENV_BOOT_ID).filter(|s| !s.is_empty()) {
        return id;
    }
    let kernel = std::fs::read_to_string(super::paths::BOOT_ID_FILE)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let pid1_start = if in_container(ctx) {
        std::fs::read_to_string("/proc/1/stat")
            .ok()
            .and_then(|stat| pid1_start_time(&stat))
    } else {
        None
    };
    compose_boot_id(&kernel, pid1_start)
}

/// The boot id from the kernel's and, in a container, PID 1's start time (clock ticks
/// since the kernel booted).
pub fn compose_boot_id(kernel: &str, pid1_start: Option<u64>) -> String {
    match pid1_start {
        Some(t) => format!("{kernel}+pid1-{t}"),
        None => kernel.to_string(),
    }
}

/// Field 22 of `/proc/PID/stat` (`starttime`), read after the command name, which may
/// hold spaces and parentheses.
pub fn pid1_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; starttime is field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod boot_id_tests {
    use super::*;
    use crate::boot::paths;

    #[test]
    fn pid1_start_time_is_field_22_even_with_odd_names() {
        let stat = "1 (my (odd) init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 100 200";
        assert_eq!(pid1_start_time(stat), Some(987654));
        assert_eq!(pid1_start_time("garbage"), None);
        assert_eq!(compose_boot_id("k", Some(5)), "k+pid1-5");
        assert_eq!(compose_boot_id("k", None), "k");
    }

    #[test]
    fn the_override_wins() {
        let ctx = Context::fixed([(paths::ENV_BOOT_ID, "b7"), ("container", "podman")], "/");
        assert_eq!(boot_id(&ctx), "b7");
    }
}
