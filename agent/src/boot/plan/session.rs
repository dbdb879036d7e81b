//! A plan's or an apply's view of the instance: the metadata fetched as a boot fetches
//! it, the new user data decoded and merged over the image's system config as a boot
//! merges it (but strictly: a part that does not decode, load or validate stops the
//! plan with its position), the record of what was applied, and a [`Boot`] over all of
//! it for the modules to run in.

use std::path::PathBuf;

use crate::cloudconfig::{self, Node, Value};
use crate::context::Context;
use crate::userdata::{self, content_type as ct};

use super::super::applied::{sha256, Applied, Loaded};
use super::super::context::{epoch, Boot, BootError, BootOptions};
use super::super::frequency::Semaphores;
use super::super::paths::Paths;
use super::super::records::{self, EventLog, StageRecord};
use super::super::source::{self, Datasource};
use super::{apply, compute, Plan, PlanError, PlanOptions};

/// Why a plan or apply could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    #[error("instance {0} has not booted with strap here (no {1}): run `strap run` first")]
    NeverBooted(String, PathBuf),
}

/// A plan, with what is needed to apply it.
pub struct Planned {
    pub plan: Plan,
    pub record: Applied,
    pub user_data_sha: String,
}

/// Open the instance, decode the user data, compute the plan, and hand the boot and the
/// plan to `then` (printing, or applying).
pub fn with_plan<T>(
    ctx: &Context,
    source: &dyn Datasource,
    opts: BootOptions,
    plan_opts: &PlanOptions,
    then: impl FnOnce(&mut Boot<'_>, Planned) -> Result<T, SessionError>,
) -> Result<T, SessionError> {
    let paths = Paths::resolve(ctx, opts.state_dir.as_deref()).map_err(BootError::from)?;
    let _lock = match super::super::lock::acquire(&paths) {
        Ok(lock) => Some(lock),
        Err(e @ super::super::lock::LockError::Held { .. }) => {
            return Err(BootError::Locked(e).into())
        }
        Err(_) => None,
    };
    let instance = source::fetch_instance(source).map_err(BootError::from)?;
    let instance_id = instance.instance_id.clone();
    let instance_dir = paths.instance_dir(&instance.instance_id);
    let loaded = Applied::load(&instance_dir, &instance.instance_id);
    if !instance_dir.is_dir() {
        return Err(SessionError::NeverBooted(
            instance.instance_id.clone(),
            instance_dir,
        ));
    }
    let clock = super::super::context::clock_fn(ctx, "%Y-%m-%d %H:%M:%S,%3f");
    let log = EventLog::open(&paths.root, &paths.log, clock.clone())
        .unwrap_or_else(|_| EventLog::discard(clock));
    let out_clock = super::super::context::clock_fn(ctx, "%Y-%m-%dT%H:%M:%S%.3fZ");
    let out = super::super::exec::OutputLog::open(
        &paths.root,
        &paths.output_log,
        opts.console,
        out_clock.clone(),
    )
    .unwrap_or_else(|_| super::super::exec::OutputLog::console_only(out_clock));
    let now = epoch(ctx.now());
    let mut report = records::read_report(&paths.report()).unwrap_or_default();
    report.stages.push(StageRecord {
        name: "apply".into(),
        start: Some(now),
        ..Default::default()
    });
    let sems = Semaphores {
        instance_sem: instance_dir.join("sem"),
        once_sem: paths.once_sem(),
        boot_id: super::super::context::boot_id(ctx),
        now,
    };
    let system = super::super::sysconfig::load(ctx);
    out.set_max_line(system.limits.max_log_line);
    let user_data_sha = sha256(instance.user_data.expose());
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
        config: Node::new(Value::Map(Vec::new())),
        parts: Vec::new(),
        stage: "apply".into(),
        instance_dir,
        new_instance: false,
        power_command: None,
        system,
        last_status: Vec::new(),
        lazy_hostname: None,
        lazy_public_key: None,
        applied: loaded.or_empty(&instance_id),
    };
    let (parts, config) = decode_strict(&boot)?;
    boot.parts = parts;
    boot.config = config;
    let plan = compute(&boot, &loaded, &user_data_sha, plan_opts)?;
    let record = loaded.or_empty(&boot.instance.instance_id);
    let record = Applied {
        identity: boot.instance.identity.clone(),
        ..record
    };
    then(
        &mut boot,
        Planned {
            plan,
            record,
            user_data_sha,
        },
    )
}

/// Decode and merge the boot's user data as the boot does, failing on the first part
/// that does not decode, load or validate.
pub fn decode_strict(boot: &Boot<'_>) -> Result<(Vec<userdata::Part>, Node), PlanError> {
    let raw = boot.instance.user_data.expose().clone();
    let decoded =
        super::super::modules::consume::decode(boot, &raw).map_err(|e| PlanError::Decode {
            message: super::super::records::error_chain(&e),
        })?;
    let mut configs = Vec::new();
    for part in &decoded.parts {
        if part.content_type != ct::CLOUD_CONFIG {
            continue;
        }
        let text = String::from_utf8_lossy(&part.payload);
        let report = cloudconfig::schema::validate_text(&text);
        if let Some(p) = report.errors.first() {
            return Err(PlanError::Invalid {
                part: part.filename.clone(),
                line: Some(p.line),
                column: Some(p.column),
                message: if p.path.is_empty() || p.path.starts_with("format-l") {
                    p.message.clone()
                } else {
                    format!("{}: {}", p.path, p.message)
                },
            });
        }
        let limits = &boot.system.limits;
        if let Ok(node) =
            cloudconfig::load_limited(&text, limits.yaml_max_depth, limits.yaml_max_nodes)
        {
            if node.as_map().is_some() {
                configs.push((node, part.merge_how.clone()));
            }
        }
    }
    let merged = cloudconfig::merge_all(&configs);
    if let Some(err) = merged.skipped.first() {
        return Err(PlanError::Invalid {
            part: "cloud-config".into(),
            line: None,
            column: None,
            message: super::super::records::error_chain(err),
        });
    }
    let config = match &boot.system.node {
        Some(system) => super::super::sysconfig::merge_under(merged.config, system),
        None => merged.config,
    };
    Ok((decoded.parts, config))
}

/// Finish an apply's records: the report's apply stage, the event log line.
pub fn finish(boot: &mut Boot<'_>, outcome: &apply::ApplyOutcome) -> Result<(), BootError> {
    let now = epoch(boot.ctx.now());
    if let Some(stage) = boot.report.stage_mut() {
        stage.finished = Some(now);
        for (module, why) in &outcome.failed {
            stage.errors.push(format!("apply {module}: {why}"));
        }
        if !outcome.skipped.is_empty() {
            stage
                .recoverable_errors
                .entry("WARNING".into())
                .or_default()
                .extend(outcome.skipped.iter().cloned());
        }
    }
    records::write_json(
        &boot.paths.root,
        &boot.paths.report(),
        &serde_json::to_value(&boot.report).unwrap_or_default(),
    )?;
    apply::write_summary(boot, outcome)?;
    Ok(())
}

/// The last booted instance as recorded in the state folder, with user data from a file
/// (`strap plan --user-data FILE`): no metadata request is made.
pub struct RecordedSource {
    identity: Vec<u8>,
    user_data: Vec<u8>,
}

impl RecordedSource {
    /// The instance of `<state>/data/instance-id`, its identity document from its record.
    pub fn open(paths: &Paths, user_data: Vec<u8>) -> Result<Self, SessionError> {
        let id_file = paths.data().join("instance-id");
        let id = std::fs::read_to_string(&id_file)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SessionError::NeverBooted("(none)".into(), id_file.clone()))?;
        let identity = match Applied::load(&paths.instance_dir(&id), &id) {
            Loaded::Found(a) if a.identity.is_object() => a.identity.clone(),
            _ => serde_json::json!({ "instanceId": id }),
        };
        Ok(Self {
            identity: serde_json::to_vec(&identity).unwrap_or_default(),
            user_data,
        })
    }
}

impl Datasource for RecordedSource {
    fn name(&self) -> String {
        "DataSourceEc2".into()
    }

    fn fetch(&self, paths: &[&str]) -> Vec<Result<Option<Vec<u8>>, source::SourceError>> {
        paths
            .iter()
            .map(|p| {
                Ok(match *p {
                    source::IDENTITY_PATH => Some(self.identity.clone()),
                    source::USER_DATA_PATH => Some(self.user_data.clone()),
                    _ => None,
                })
            })
            .collect()
    }

    fn requests(&self) -> u64 {
        0
    }

    fn location(&self) -> String {
        "the state folder's record of the last instance".into()
    }
}
