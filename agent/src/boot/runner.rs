//! The boot runner: one `strap run` from the first metadata request to the final
//! message. It owns the order of stages and modules (cloud-init's, spec 2.3 and 4.1),
//! asks [`frequency::Semaphores`](super::frequency::Semaphores) whether each piece of work
//! is due, runs it, marks it done only when it succeeded, and keeps the records up to
//! date after every step so that `strap status` is right even if the boot is killed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cloudconfig::Node;
use crate::context::{Context, ContextError};
use crate::userdata::Part;

use super::exec::{self, OutputLog, ScriptOutcome, ScriptSpec};
use super::frequency::{Frequency, Semaphores};
use super::modules::{self, ModuleError, Outcome};
use super::paths::{self, Paths};
use super::records::{EventLog, ItemStatus, Report, ReportItem, StageRecord};
use super::source::{self, Datasource, InstanceData};
use super::state;

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
    /// [`release_final`] is called (by `strap run --stage final`, from a unit ordered
    /// late in the boot as cloud-final.service is).
    pub hold_final: bool,
    /// Configure the network (`false` for a `--local` boot on this machine's own root:
    /// the embedded service's interfaces are not this machine's).
    pub network: bool,
}

/// The file whose appearance releases a held boot's config and final stages.
pub fn release_file(paths: &Paths) -> PathBuf {
    paths.run.join("final.go")
}

/// Release the config and final stages of a boot held after its network stage.
pub fn release_final(paths: &Paths) -> Result<(), BootError> {
    let path = release_file(paths);
    crate::context::write_atomic(&path, b"go\n", Some(0o600)).map_err(|e| BootError::Io {
        op: "write",
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })
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
    #[error("cannot {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The summary a finished boot returns.
#[derive(Clone, Debug)]
pub struct BootSummary {
    pub report: Report,
    /// The power change that would be (or was) run.
    pub power_command: Option<Vec<String>>,
}

impl BootSummary {
    /// No stage had an error.
    pub fn ok(&self) -> bool {
        self.report.errors().is_empty()
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
    /// status.json as last written: it is rewritten only when it changes.
    last_status: Vec<u8>,
    lazy_hostname: Option<Option<String>>,
    lazy_public_key: Option<Option<String>>,
}

/// Seconds since the epoch of a time.
pub fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The boot id that per-boot work is keyed on: `STRAP_BOOT_ID`, else the kernel's boot
/// id (`/proc/sys/kernel/random/boot_id`). Inside a container the kernel's boot id is the
/// host's and does not change when the container restarts, so there the start time of
/// the container's PID 1 (which changes at every start of the container) is added.
pub fn boot_id(ctx: &Context) -> String {
    if let Some(id) = ctx.var(paths::ENV_BOOT_ID).filter(|s| !s.is_empty()) {
        return id;
    }
    let kernel = std::fs::read_to_string(paths::BOOT_ID_FILE)
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

/// Whether strap runs in a container: `$container` (set by podman, systemd-nspawn, LXC),
/// or the files podman and docker leave at the top of the container's root.
pub fn in_container(ctx: &Context) -> bool {
    ctx.var("container").is_some_and(|v| !v.is_empty())
        || std::path::Path::new("/run/.containerenv").exists()
        || std::path::Path::new("/.dockerenv").exists()
}

fn clock_fn(ctx: &Context, fmt: &'static str) -> Arc<dyn Fn() -> String + Send + Sync> {
    let ctx = ctx.clone();
    Arc::new(move || {
        let t: chrono::DateTime<chrono::Utc> = ctx.now().into();
        t.format(fmt).to_string()
    })
}

/// Run a whole boot against a metadata source.
pub fn run_boot(
    ctx: &Context,
    source: &dyn Datasource,
    opts: BootOptions,
) -> Result<BootSummary, BootError> {
    let paths = Paths::resolve(ctx, opts.state_dir.as_deref())?;
    // One boot at a time per state folder: a second one would run once-per-instance
    // parts again while the first still runs them.
    let mut lock_problem = None;
    let _lock = match super::lock::acquire(&paths) {
        Ok(lock) => Some(lock),
        Err(e @ super::lock::LockError::Held { .. }) => return Err(BootError::Locked(e)),
        Err(e) => {
            lock_problem = Some(format!("{}: {}", e, error_chain(&e)));
            None
        }
    };
    // A log that cannot be opened (a read-only /var) does not stop the boot before it
    // has recorded why it fails: the run-time records in /run still say so.
    let mut early_problems = Vec::new();
    let log_clock = clock_fn(ctx, "%Y-%m-%d %H:%M:%S,%3f");
    let log = EventLog::open(&paths.log, log_clock.clone()).unwrap_or_else(|err| {
        early_problems.push(format!(
            "cannot open the log {}: {err}",
            paths.log.display()
        ));
        EventLog::discard(log_clock)
    });
    let out_clock = clock_fn(ctx, "%Y-%m-%dT%H:%M:%S%.3fZ");
    let out =
        OutputLog::open(&paths.output_log, opts.console, out_clock.clone()).unwrap_or_else(|err| {
            early_problems.push(format!(
                "cannot open the output log {}: {err}",
                paths.output_log.display()
            ));
            OutputLog::console_only(out_clock)
        });
    early_problems.extend(lock_problem);
    let started = epoch(ctx.now());
    let boot_id = boot_id(ctx);
    // A new boot starts with fresh run-time records (cloud-init's init-local does the same).
    for p in [paths.status(), paths.result(), release_file(&paths)] {
        let _ = std::fs::remove_file(p);
    }
    let mut report = Report {
        version: 1,
        boot_id: boot_id.clone(),
        datasource: source.name(),
        started,
        process: super::records::BootProcess::current(),
        ..Default::default()
    };
    report.stages.push(StageRecord {
        name: "init-local".into(),
        start: Some(started),
        ..Default::default()
    });
    let first_status = record_bytes(&report.status_json(Some("init-local")));
    write_record(&paths.status(), &first_status)?;
    out.message(&format!(
        "strap v. {VERSION} running 'init-local' at {}.",
        rfc2822(ctx)
    ));
    log.line("INFO", &format!("strap v. {VERSION} running 'init-local'"));
    if let Some(access) = source.access() {
        tracing::info!("IMDS access: {access}");
        log.line(
            "INFO",
            &format!("IMDS access ({}): {access}", source.location()),
        );
    }

    // The system config is read before the first request: it says how long to wait.
    let system = super::sysconfig::load(ctx);
    let wait = if opts.wait_for_source {
        let (from_config, problem) = source::MetadataWait::from_system_config(system.node.as_ref());
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
            log.line("WARNING", &problem);
        }
        match opts.metadata_wait {
            Some(max) => source::MetadataWait::up_to(max),
            None => from_config,
        }
    } else {
        source::MetadataWait::up_to(Duration::ZERO)
    };
    // The state folders do not depend on the instance: they are made while the first
    // metadata requests are in flight.
    let (fetched, layout) = std::thread::scope(|scope| {
        let layout = scope.spawn(|| state::create_layout(&paths));
        let mut waiting = |line: &str| {
            tracing::warn!("{line}");
            log.line("WARNING", line);
            out.log_only(line);
            super::notify::notify(
                ctx,
                &format!("STATUS=waiting for the metadata service: {line}"),
            );
        };
        let fetched =
            source::fetch_instance_waiting(source, wait, &mut waiting, &std::thread::sleep);
        (fetched, layout.join())
    });
    for problem in &early_problems {
        tracing::warn!("{problem}");
        if let Some(stage) = report.stage_mut() {
            stage
                .recoverable_errors
                .entry("WARNING".into())
                .or_default()
                .push(problem.clone());
        }
    }
    let layout = match layout {
        Ok(result) => result,
        Err(_) => Err(BootError::Io {
            op: "create the state folders in",
            path: paths.state.clone(),
            source: std::io::Error::other("the thread creating them stopped"),
        }),
    };
    if let Err(err) = layout {
        let msg = format!(
            "state folder {}: {}",
            paths.state.display(),
            error_chain(&err)
        );
        fail_early(ctx, &paths, &log, &mut report, msg);
        return Err(err);
    }
    let instance = match fetched {
        Ok(i) => i,
        Err(err) => {
            let msg = format!("datasource {}: {err}", source.name());
            fail_early(ctx, &paths, &log, &mut report, msg);
            return Err(err.into());
        }
    };
    report.instance_id = instance.instance_id.clone();
    let tracked = state::reflect_instance(&paths, &instance.instance_id)?;
    let instance_dir = paths.instance_dir(&instance.instance_id);
    let sems = Semaphores {
        instance_sem: instance_dir.join("sem"),
        once_sem: paths.once_sem(),
        boot_id,
        now: started,
    };
    let mut boot = Boot {
        ctx,
        paths,
        source,
        instance,
        sems,
        out,
        log,
        report,
        opts,
        config: Node::new(crate::cloudconfig::Value::Map(Vec::new())),
        parts: Vec::new(),
        stage: "init-local".into(),
        instance_dir,
        new_instance: tracked.new_instance,
        power_command: None,
        system,
        last_status: first_status,
        lazy_hostname: None,
        lazy_public_key: None,
    };
    boot.log.line(
        "INFO",
        &format!(
            "instance {} ({})",
            boot.instance.instance_id,
            if boot.new_instance {
                "new instance"
            } else {
                "same instance"
            }
        ),
    );
    state::write_instance_data(&boot)?;
    let staged = boot.stages();
    // Folders still waiting for a sync (a stage that stopped early) are synced anyway.
    super::durable::sync_pending();
    staged?;
    let power_command = boot.power_command.clone();
    Ok(BootSummary {
        report: boot.report,
        power_command,
    })
}

/// Record a boot that stops before its modules: the error in the log and in every record
/// that can still be written (status.json and result.json live in /run, which stays
/// writable when the state folder is not).
fn fail_early(ctx: &Context, paths: &Paths, log: &EventLog, report: &mut Report, msg: String) {
    log.line("ERROR", &msg);
    tracing::error!("{msg}");
    if let Some(stage) = report.stage_mut() {
        stage.errors.push(msg);
        stage.finished = Some(epoch(ctx.now()));
    }
    report.finished = Some(epoch(ctx.now()));
    for (path, value) in [
        (paths.status(), report.status_json(None)),
        (paths.result(), report.result_json()),
        (
            paths.report(),
            serde_json::to_value(&*report).unwrap_or_default(),
        ),
    ] {
        if let Err(err) = write_json(&path, &value) {
            tracing::warn!("cannot record the failed boot in {}: {err}", path.display());
        }
    }
}

fn rfc2822(ctx: &Context) -> String {
    let t: chrono::DateTime<chrono::Utc> = ctx.now().into();
    t.to_rfc2822()
}

/// Write a JSON record atomically: a reader sees the old record or the new one, never a
/// mix. Records are rewritten as the boot goes and are not worth an fsync each: the
/// markers, which decide what runs again, are synced.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), BootError> {
    write_record(path, &record_bytes(value))
}

/// A record's bytes (pretty JSON).
fn record_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// The new contents go into a spare file beside the record (`.NAME.next`), which is then
/// swapped with the record in one step (`renameat2(RENAME_EXCHANGE)`): the spare keeps the
/// old contents and is rewritten in place next time. A record rewritten many times thus
/// uses two inodes and frees none (on an ext4 without a journal, freed inodes make every
/// later file creation slower for minutes). Where the file system cannot exchange, or on
/// the first write, a plain rename. A reader that opened the record just before a swap
/// and reads it only after the next write may see a torn file: readers retry a record
/// that does not parse ([`read_record`]).
fn write_record(path: &Path, text: &[u8]) -> Result<(), BootError> {
    let io = |source| BootError::Io {
        op: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spare = path.with_file_name(format!(".{name}.next"));
    std::fs::write(&spare, text).map_err(io)?;
    let swapped = nix::fcntl::renameat2(
        None,
        &spare,
        None,
        path,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    );
    match swapped {
        Ok(()) => Ok(()),
        // No record yet, or a file system without the exchange.
        Err(_) => std::fs::rename(&spare, path).map_err(io),
    }
}

/// Read a JSON record written by [`write_json`], retrying briefly when it does not parse
/// (a reader that raced a rewrite); `None` when it is missing or stays unreadable.
pub fn read_record(path: &Path) -> Option<serde_json::Value> {
    for attempt in 0..3 {
        let bytes = super::records::read_regular(path, super::records::MAX_RECORD, false).ok()?;
        if let Ok(v) = serde_json::from_slice(&bytes) {
            return Some(v);
        }
        if attempt < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    None
}

/// A module's work.
pub type ModuleFn = fn(&mut Boot<'_>) -> Result<Outcome, ModuleError>;

/// A module of a stage: its name (cloud-init's), default frequency and work.
pub type StageModule = (&'static str, Frequency, ModuleFn);

/// Steps that are not cloud-init modules (module lists never name them).
pub const NOT_IN_MODULE_LISTS: &[&str] = &["network"];

/// The stages after `init-local` and their modules, in cloud-init's order, each with its
/// default frequency (the config's module lists may choose which run and how often).
pub const STAGES: &[(&str, &[StageModule])] = &[
    (
        "init-network",
        &[
            ("bootcmd", Frequency::PerBoot, modules::commands::bootcmd),
            (
                "write_files",
                Frequency::PerInstance,
                modules::write_files::write_files,
            ),
            (
                "growpart",
                Frequency::Always,
                modules::disk::growpart::growpart,
            ),
            (
                "resizefs",
                Frequency::Always,
                modules::disk::resizefs::resizefs,
            ),
            (
                "mounts",
                Frequency::PerInstance,
                modules::disk::mounts::mounts,
            ),
            (
                "set_hostname",
                Frequency::PerInstance,
                modules::hostname::set_hostname,
            ),
            (
                "update_etc_hosts",
                Frequency::PerBoot,
                modules::hostname::update_etc_hosts,
            ),
            (
                "ca_certs",
                Frequency::PerInstance,
                modules::ca_certs::ca_certs,
            ),
            (
                "users_groups",
                Frequency::PerInstance,
                modules::users::users_groups,
            ),
            ("ssh", Frequency::PerInstance, modules::users::ssh),
        ],
    ),
    (
        "modules-config",
        &[
            (
                "ssh_import_id",
                Frequency::PerInstance,
                modules::ssh_import_id::ssh_import_id,
            ),
            (
                "set_passwords",
                Frequency::PerInstance,
                modules::set_passwords::set_passwords,
            ),
            (
                "apt_configure",
                Frequency::PerInstance,
                modules::apt_configure::apt_configure,
            ),
            ("ntp", Frequency::PerInstance, modules::ntp::ntp),
            (
                "timezone",
                Frequency::PerInstance,
                modules::timezone::timezone,
            ),
            (
                "disable_ec2_metadata",
                Frequency::Always,
                modules::disable_ec2_metadata::disable_ec2_metadata,
            ),
            ("runcmd", Frequency::PerInstance, modules::commands::runcmd),
        ],
    ),
    (
        "modules-final",
        &[
            (
                "package_update_upgrade_install",
                Frequency::PerInstance,
                modules::packages::packages,
            ),
            (
                "write_files_deferred",
                Frequency::PerInstance,
                modules::write_files::write_files_deferred,
            ),
            ("scripts_per_once", Frequency::PerOnce, scripts_per_once),
            ("scripts_per_boot", Frequency::PerBoot, scripts_per_boot),
            (
                "scripts_per_instance",
                Frequency::PerInstance,
                scripts_per_instance,
            ),
            (
                "scripts_user",
                Frequency::PerInstance,
                modules::scripts::scripts_user,
            ),
            (
                "keys_to_console",
                Frequency::PerInstance,
                modules::keys_to_console::keys_to_console,
            ),
            (
                "final_message",
                Frequency::Always,
                modules::final_message::final_message,
            ),
            (
                "power_state_change",
                Frequency::PerInstance,
                modules::power::power_state,
            ),
        ],
    ),
];

fn scripts_per_once(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    modules::scripts::per_dir(boot, "per-once", Frequency::PerOnce)
}

fn scripts_per_boot(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    modules::scripts::per_dir(boot, "per-boot", Frequency::PerBoot)
}

fn scripts_per_instance(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    modules::scripts::per_dir(boot, "per-instance", Frequency::PerInstance)
}

impl Boot<'_> {
    fn stages(&mut self) -> Result<(), BootError> {
        for (stage, list) in STAGES {
            self.begin_stage(stage)?;
            if *stage == "init-network" {
                // The network is configured first (cloud-init renders it before any user
                // data runs), then the user data (and its boothooks) is consumed.
                self.module("network", Frequency::PerBoot, modules::network::network)?;
                modules::consume::consume(self);
            }
            for (name, freq, body) in *list {
                self.module(name, *freq, body)?;
            }
            self.end_stage()?;
            if *stage == "init-network" {
                // Files, users, ssh keys and the hostname exist: units ordered after
                // strap.service may start while the config and final stages run.
                self.save_status(Some(stage))?;
                if self.opts.hold_final {
                    super::notify::ready(
                        self.ctx,
                        "network stage done; the config and final stages wait for strap-final.service",
                    );
                    self.wait_for_release();
                } else {
                    super::notify::ready(
                        self.ctx,
                        "network stage done; running the config and final stages",
                    );
                }
            }
        }
        self.report.finished = Some(epoch(self.ctx.now()));
        self.report.imds_requests = self.source.requests();
        self.save()?;
        write_json(&self.paths.result(), &self.report.result_json())?;
        Ok(())
    }

    /// Wait for `strap run --stage final` (or any [`release_final`]).
    fn wait_for_release(&mut self) {
        let go = release_file(&self.paths);
        self.log.line(
            "INFO",
            "network stage done; the config and final stages wait for `strap run --stage final` (strap-final.service)",
        );
        while !go.exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&go);
        super::notify::notify(self.ctx, "STATUS=running the config and final stages");
    }

    fn begin_stage(&mut self, name: &str) -> Result<(), BootError> {
        let now = epoch(self.ctx.now());
        if let Some(prev) = self.report.stage_mut() {
            if prev.finished.is_none() {
                prev.finished = Some(now);
            }
        }
        self.stage = name.to_string();
        self.report.stages.push(StageRecord {
            name: name.into(),
            start: Some(now),
            ..Default::default()
        });
        self.out.message(&format!(
            "strap v. {VERSION} running '{name}' at {}.",
            rfc2822(self.ctx)
        ));
        self.log
            .line("INFO", &format!("strap v. {VERSION} running '{name}'"));
        // report.json is written before the final stage (its scripts are what most often
        // hang or get killed) and at the end; status.json at every stage.
        if name == "modules-final" {
            self.save_running()
        } else {
            self.save_status(Some(name))
        }
    }

    /// Close the current stage. The records are not written here: every call is followed
    /// at once by the next stage's `begin_stage` or by the boot's final `save`, which
    /// write them (one write instead of two).
    fn end_stage(&mut self) -> Result<(), BootError> {
        // The renames of this stage's files become durable together (see `durable`).
        super::durable::sync_pending();
        let now = epoch(self.ctx.now());
        if let Some(stage) = self.report.stage_mut() {
            stage.finished = Some(now);
        }
        Ok(())
    }

    /// Write status.json (stage running) and report.json.
    fn save_running(&mut self) -> Result<(), BootError> {
        let stage = self.stage.clone();
        self.save_status(Some(&stage))?;
        self.save_report()
    }

    fn save(&mut self) -> Result<(), BootError> {
        self.save_status(None)?;
        self.save_report()
    }

    /// status.json, when it differs from what was last written (a module that ran
    /// without a warning or an error leaves it as it was).
    fn save_status(&mut self, running: Option<&str>) -> Result<(), BootError> {
        let bytes = record_bytes(&self.report.status_json(running));
        if bytes != self.last_status {
            write_record(&self.paths.status(), &bytes)?;
            self.last_status = bytes;
        }
        Ok(())
    }

    fn save_report(&self) -> Result<(), BootError> {
        write_json(
            &self.paths.report(),
            &serde_json::to_value(&self.report).unwrap_or_default(),
        )
    }

    /// Run one module if due, record it, mark it done on success.
    fn module(
        &mut self,
        name: &str,
        freq: Frequency,
        body: impl FnOnce(&mut Self) -> Result<Outcome, ModuleError>,
    ) -> Result<(), BootError> {
        let full = format!("config-{name}");
        let stage = self.stage.clone();
        let start = epoch(self.ctx.now());
        let timer = Instant::now();
        // `network` is strap's own step, not a cloud-init module: module lists do not
        // name it, and it runs whatever they say.
        let listing = if NOT_IN_MODULE_LISTS.contains(&name) {
            super::sysconfig::Listing::NoLists
        } else {
            super::sysconfig::listing(&self.config, name)
        };
        let freq = match listing {
            super::sysconfig::Listing::Absent => {
                self.log.line(
                    "DEBUG",
                    &format!("{full}: not in the config's module lists, skipping"),
                );
                self.record(ReportItem {
                    name: full,
                    kind: "module".into(),
                    stage,
                    frequency: freq.as_str().into(),
                    status: ItemStatus::Skipped,
                    reason: Some(
                        "not in the config's module lists (cloud_init_modules, cloud_config_modules, cloud_final_modules)"
                            .into(),
                    ),
                    exit_code: None,
                    start,
                    duration: 0.0,
                    output_tail: Vec::new(),
                });
                return Ok(());
            }
            super::sysconfig::Listing::Listed(Some(listed)) => listed,
            _ => freq,
        };
        if self.sems.done(&full, freq) {
            self.log
                .line("DEBUG", &format!("{full}: already ran ({freq}), skipping"));
            self.record(ReportItem {
                name: full,
                kind: "module".into(),
                stage,
                frequency: freq.as_str().into(),
                status: ItemStatus::Skipped,
                reason: Some(format!("already ran ({freq})")),
                exit_code: None,
                start,
                duration: 0.0,
                output_tail: Vec::new(),
            });
            // Records are rewritten when something changed, and at every stage boundary.
            return Ok(());
        }
        self.log.line(
            "DEBUG",
            &format!("start: {stage}/{full}: running {full} with frequency {freq}"),
        );
        let result = body(self);
        let duration = timer.elapsed().as_secs_f64();
        let (status, reason, exit_code, tail) = match result {
            Ok(Outcome::Ran { tail, exit_code }) => {
                if let Err(err) = self.sems.mark(&full, freq) {
                    self.warn(&format!("{full}: cannot write its marker: {err}"));
                }
                self.log.line(
                    "DEBUG",
                    &format!("finish: {stage}/{full}: SUCCESS: {full} ran successfully"),
                );
                (ItemStatus::Ran, None, exit_code, tail)
            }
            Ok(Outcome::Skipped(why)) => {
                self.log.line(
                    "DEBUG",
                    &format!("finish: {stage}/{full}: SUCCESS: {full} skipped: {why}"),
                );
                (ItemStatus::Skipped, Some(why), None, Vec::new())
            }
            Err(err) => {
                let msg = error_chain(&err);
                self.log.line(
                    "WARNING",
                    &format!("finish: {stage}/{full}: FAIL: running {full} failed: {msg}"),
                );
                tracing::error!("{stage}/{name}: {msg}");
                self.out.log_only(&format!("{name} failed: {msg}"));
                if let Some(s) = self.report.stage_mut() {
                    s.errors.push(format!("{name}: {msg}"));
                }
                let (code, tail) = match &err {
                    ModuleError::Scripts {
                        exit_code, tail, ..
                    } => (*exit_code, tail.clone()),
                    _ => (None, Vec::new()),
                };
                (ItemStatus::Failed, Some(msg), code, tail)
            }
        };
        self.record(ReportItem {
            name: full,
            kind: "module".into(),
            stage,
            frequency: freq.as_str().into(),
            status,
            reason,
            exit_code,
            start,
            duration,
            output_tail: tail,
        });
        // status.json follows every change of the boot's state; report.json (every item)
        // is written at each stage boundary, at the end, and after a failure.
        match status {
            ItemStatus::Skipped => Ok(()),
            ItemStatus::Ran => {
                let stage = self.stage.clone();
                self.save_status(Some(&stage))
            }
            ItemStatus::Failed => self.save_running(),
        }
    }

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
}

/// An error and its causes on one line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        msg.push_str(": ");
        msg.push_str(&cause.to_string());
        source = cause.source();
    }
    msg
}

#[cfg(test)]
mod boot_id_tests {
    use super::*;

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

#[cfg(test)]
mod record_tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_rewritten_record_keeps_two_inodes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/status.json");
        let mut inodes = std::collections::BTreeSet::new();
        for i in 0..5 {
            write_json(&path, &serde_json::json!({ "n": i })).unwrap();
            inodes.insert(std::fs::metadata(&path).unwrap().ino());
            assert_eq!(read_record(&path).unwrap()["n"], i);
        }
        // The record and its spare take turns: no new inode after the second write
        // (where the file system can exchange two names in one step).
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let exchange =
            nix::fcntl::renameat2(None, &a, None, &b, nix::fcntl::RenameFlags::RENAME_EXCHANGE);
        if exchange.is_ok() {
            assert!(inodes.len() <= 2, "{inodes:?}");
        } else {
            eprintln!("this file system cannot exchange names: records are renamed over");
        }
        let spare = dir.path().join("run/.status.json.next");
        assert!(spare.is_file());
    }

    #[test]
    fn a_record_that_does_not_parse_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "{\"half\": ").unwrap();
        assert!(read_record(&path).is_none());
        assert!(read_record(&dir.path().join("missing.json")).is_none());
    }
}
