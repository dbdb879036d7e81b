//! The boot runner: one `strap run` from the first metadata request to the final
//! message. It owns the order of stages and modules (cloud-init's, spec 2.3 and 4.1),
//! asks [`frequency::Semaphores`](super::frequency::Semaphores) whether each piece of work
//! is due, runs it, marks it done only when it succeeded, and keeps the records up to
//! date after every step so that `strap status` is right even if the boot is killed.
//!
//! It builds the [`Boot`] context ([`super::context`]), walks the stage table
//! ([`super::stages`]) and writes the records ([`super::records`]); nothing it holds is
//! read by a module.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cloudconfig::Node;
use crate::context::Context;

use super::context::{boot_id, clock_fn, epoch, Boot, BootError, BootOptions, VERSION};
use super::exec::OutputLog;
use super::frequency::{Frequency, Semaphores};
use super::modules::{self, ModuleError, Outcome};
use super::paths::Paths;
use super::records::{
    error_chain, record_bytes, write_json, write_record, EventLog, ItemStatus, Report, ReportItem,
    StageRecord,
};
use super::source::{self, Datasource};
use super::stages::{NOT_IN_MODULE_LISTS, STAGES};
use super::state;

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
    let state_lock = match super::lock::acquire(&paths) {
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
    let log = EventLog::open(&paths.root, &paths.log, log_clock.clone()).unwrap_or_else(|err| {
        early_problems.push(format!(
            "cannot open the log {}: {err}",
            paths.log.display()
        ));
        EventLog::discard(log_clock)
    });
    let out_clock = clock_fn(ctx, "%Y-%m-%dT%H:%M:%S%.3fZ");
    let out = OutputLog::open(
        &paths.root,
        &paths.output_log,
        opts.console,
        out_clock.clone(),
    )
    .unwrap_or_else(|err| {
        early_problems.push(format!(
            "cannot open the output log {}: {err}",
            paths.output_log.display()
        ));
        OutputLog::console_only(out_clock)
    });
    early_problems.extend(lock_problem);
    if let Some(lock) = state_lock.as_ref().filter(|l| l.cleaned > 0) {
        log.line(
            "INFO",
            &format!(
                "removed {} temp file(s) an earlier, killed run left behind",
                lock.cleaned
            ),
        );
    }
    // This boot holds the lock: what a killed boot's part left running ends now, before
    // the part can be started again.
    if let Some(ended) = super::exec::end_leftover_group(&paths.running_part()) {
        early_problems.push(ended);
    }
    let started = epoch(ctx.now());
    let boot_id = boot_id(ctx);
    // A new boot starts with fresh run-time records (cloud-init's init-local does the same).
    for p in [
        paths.status(),
        paths.result(),
        release_file(&paths),
        paths.run.join("apply.json"),
    ] {
        let _ = crate::context::remove_file(&paths.root, &p);
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
    write_record(&paths.root, &paths.status(), &first_status)?;
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
    out.set_max_line(system.limits.max_log_line);
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
        // No thread to spare: the folders are made after the fetch.
        let layout = crate::threads::scoped(scope, "layout", || state::create_layout(&paths));
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
        let layout = match layout {
            Ok(handle) => handle.join(),
            Err(_) => Ok(state::create_layout(&paths)),
        };
        (fetched, layout)
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
    let applied =
        super::plan::track::start(&instance_dir, &instance.instance_id, tracked.new_instance);
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
        applied,
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
    if let Err(err) = &staged {
        // A boot that cannot write its records stops; say why where `strap status` looks
        // (status.json lives in /run, which usually still has room).
        let msg = format!("the boot stopped: {}", error_chain(err));
        let Boot {
            ctx,
            paths,
            log,
            report,
            ..
        } = &mut boot;
        fail_early(ctx, paths, log, report, msg);
    }
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
        if let Err(err) = write_json(&paths.root, &path, &value) {
            tracing::warn!("cannot record the failed boot in {}: {err}", path.display());
        }
    }
}

fn rfc2822(ctx: &Context) -> String {
    let t: chrono::DateTime<chrono::Utc> = ctx.now().into();
    t.to_rfc2822()
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
                super::plan::track::consumed(self);
                // The user data may say where this stage's output goes (cloud-init
                // re-reads `output` once it has the user data, too).
                modules::output::redirect_stage(self);
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
        self.out.set_redirect(None);
        super::plan::track::at_end(self);
        self.save_applied();
        self.report.finished = Some(epoch(self.ctx.now()));
        self.report.imds_requests = self.source.requests();
        self.save()?;
        write_json(
            &self.paths.root,
            &self.paths.result(),
            &self.report.result_json(),
        )?;
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
        // The config's `output` for this stage, before its banner (as cloud-init's
        // stages redirect before they print theirs).
        modules::output::redirect_stage(self);
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
        self.save_applied();
        // The renames of this stage's files become durable together (see `durable`).
        super::durable::sync_pending();
        let now = epoch(self.ctx.now());
        if let Some(stage) = self.report.stage_mut() {
            stage.finished = Some(now);
        }
        Ok(())
    }

    /// Write the record of what was applied (`<instance>/applied.json`); a failure is a
    /// warning: the next `strap plan` then treats what it misses as new.
    fn save_applied(&mut self) {
        if let Err(err) = self.applied.save_batched(&self.instance_dir) {
            self.warn(&format!(
                "cannot record what was applied in {}: {err}",
                super::applied::path(&self.instance_dir).display()
            ));
        }
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
            write_record(&self.paths.root, &self.paths.status(), &bytes)?;
            self.last_status = bytes;
        }
        Ok(())
    }

    fn save_report(&self) -> Result<(), BootError> {
        write_json(
            &self.paths.root,
            &self.paths.report(),
            &serde_json::to_value(&self.report).unwrap_or_default(),
        )?;
        Ok(())
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
        let tracking = super::plan::track::before(self, name);
        let result = body(self);
        let duration = timer.elapsed().as_secs_f64();
        if let Some(before) = tracking {
            match &result {
                Ok(_) => super::plan::track::succeeded(self, before),
                Err(err) => super::plan::track::failed(self, &before, &error_chain(err)),
            }
        }
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
}
