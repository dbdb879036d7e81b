//! Carrying a [`Plan`] out on the machine: module by module in the boot's order, each
//! with the boot's own module code, given the config narrowed to what changed (the new
//! files only, the new or changed users only, the new packages only). After each module
//! that succeeded the record ([`Applied`]) is written, durably, so a killed apply resumes
//! with the first module it had not finished. One-shot modules run only when asked
//! (`--rerun`), through the same marker-guarded script runner as the boot, with the
//! changed scripts' markers cleared. `--prune` removes what strap made and the config no
//! longer declares (files unchanged since strap wrote them, users, groups, packages).

use std::collections::BTreeSet;

use crate::cloudconfig::{Node, Value};

use super::super::applied::{Applied, ModuleState, Resource};
use super::super::context::{epoch, Boot};
use super::super::frequency::Frequency;
use super::super::modules::{self, consume, packages, scripts, users, ModuleError, Outcome};
use super::super::records::error_chain;
use super::super::records::{ItemStatus, ReportItem};
use super::{Action, ModulePlan, Op, Plan};

/// How to apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Overwrite files changed by hand.
    pub force: bool,
    /// Remove what strap made and the config no longer declares.
    pub prune: bool,
}

/// Why an apply did not start or could not record its progress.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the plan has conflicts (files changed by hand since strap wrote them): {}; pass --force to overwrite them", .0.join("; "))]
    Conflicts(Vec<String>),
    #[error("cannot write the record of what was applied")]
    Record(#[source] crate::context::ContextError),
}

/// What an apply did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ApplyOutcome {
    /// Modules applied (or rerun) successfully.
    pub applied: Vec<String>,
    /// Modules that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Removals skipped, with the reason.
    pub skipped: Vec<String>,
}

/// Apply a plan. The boot's config is the new effective config; `record` is updated and
/// saved after each module.
pub fn apply(
    boot: &mut Boot<'_>,
    plan: &Plan,
    record: &mut Applied,
    user_data_sha: &str,
    opts: &ApplyOptions,
) -> Result<ApplyOutcome, ApplyError> {
    let conflicts = plan.conflicts();
    if !conflicts.is_empty() && !opts.force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let mut outcome = ApplyOutcome::default();
    let full = boot.config.clone();
    for m in &plan.modules {
        if !m.runs() {
            continue;
        }
        let start = epoch(boot.ctx.now());
        let timer = std::time::Instant::now();
        let name = format!("config-{}", m.module);
        boot.log.line(
            "INFO",
            &format!("start: apply/{name}: {} changes", m.changes.len()),
        );
        let existed = existing(boot, m);
        boot.config = narrowed(boot, m);
        let result = run_module(boot, m);
        boot.config = full.clone();
        let result = result.and_then(|o| {
            prune(boot, m, opts, &mut outcome.skipped)?;
            Ok(o)
        });
        let now = epoch(boot.ctx.now());
        let (status, reason, exit_code, tail) = match result {
            Ok(o) => {
                let pruned: BTreeSet<String> = m
                    .changes
                    .iter()
                    .filter(|c| c.op == Op::Remove && c.prune == Some(true))
                    .map(|c| c.resource.clone())
                    .collect();
                let state = recorded_state(&m.module, &m.declared, record, &existed, &pruned);
                let state = super::with_fetched(boot, state);
                record.set(&m.module, state, now);
                boot.log.line(
                    "INFO",
                    &format!("finish: apply/{name}: SUCCESS: applied {}", m.module),
                );
                outcome.applied.push(m.module.clone());
                match o {
                    Outcome::Ran { exit_code, tail } => (ItemStatus::Ran, None, exit_code, tail),
                    Outcome::Skipped(why) => (ItemStatus::Ran, Some(why), None, Vec::new()),
                }
            }
            Err(err) => {
                let msg = error_chain(&err);
                record.set_failed(&m.module, msg.clone(), now);
                boot.log
                    .line("WARNING", &format!("finish: apply/{name}: FAIL: {msg}"));
                boot.out
                    .message(&format!("apply: {} failed: {msg}", m.module));
                outcome.failed.push((m.module.clone(), msg.clone()));
                (ItemStatus::Failed, Some(msg), None, Vec::new())
            }
        };
        record
            .save(&boot.instance_dir)
            .map_err(ApplyError::Record)?;
        boot.record(ReportItem {
            name,
            kind: "apply".into(),
            stage: "apply".into(),
            frequency: "once".into(),
            status,
            reason,
            exit_code,
            start,
            duration: timer.elapsed().as_secs_f64(),
            output_tail: tail,
        });
    }
    // When nothing failed, the user data counts as applied: the modules that do not run
    // (one-shot not asked for, not live) take their new state without running, as a
    // boot of the same instance would leave them, so the next plan is empty.
    // `--rerun MODULE` still runs a one-shot module later.
    if outcome.failed.is_empty() {
        for m in plan.modules.iter().filter(|m| !m.runs()) {
            let now = epoch(boot.ctx.now());
            let state = recorded_state(
                &m.module,
                &m.declared,
                record,
                &BTreeSet::new(),
                &BTreeSet::new(),
            );
            record.set(&m.module, state, now);
            let why = m.reason.clone().unwrap_or_default();
            boot.log.line(
                "INFO",
                &format!(
                    "apply/config-{}: new config recorded, not run: {why}",
                    m.module
                ),
            );
            boot.record(ReportItem {
                name: format!("config-{}", m.module),
                kind: "apply".into(),
                stage: "apply".into(),
                frequency: "once".into(),
                status: ItemStatus::Skipped,
                reason: Some(format!("recorded, not run: {why}")),
                exit_code: None,
                start: now,
                duration: 0.0,
                output_tail: Vec::new(),
            });
        }
        record.user_data_sha256 = Some(user_data_sha.to_string());
        record.config = full.to_json();
        record.updated = epoch(boot.ctx.now());
        record
            .save(&boot.instance_dir)
            .map_err(ApplyError::Record)?;
    }
    Ok(outcome)
}

/// `/run/strap/apply.json`: the last apply since this boot, for `strap status --long`.
pub fn write_summary(
    boot: &Boot<'_>,
    outcome: &ApplyOutcome,
) -> Result<(), super::super::context::BootError> {
    super::super::records::write_json(
        &boot.paths.root,
        &boot.paths.run.join("apply.json"),
        &serde_json::json!({
            "finished": epoch(boot.ctx.now()),
            "applied": outcome.applied,
            "failed": outcome.failed,
            "skipped": outcome.skipped,
        }),
    )?;
    Ok(())
}

/// The ids of a module's changes of some kinds.
fn ids(m: &ModulePlan, ops: &[Op]) -> BTreeSet<String> {
    m.changes
        .iter()
        .filter(|c| ops.contains(&c.op))
        .map(|c| c.resource.clone())
        .collect()
}

/// Which of the resources to create are already on the machine (then strap did not make
/// them, and `--prune` never removes them).
fn existing(boot: &Boot<'_>, m: &ModulePlan) -> BTreeSet<String> {
    let creating = ids(m, &[Op::Create]);
    let machine = super::Machine::read(boot);
    m.declared
        .resources
        .iter()
        .filter(|r| creating.contains(&r.id()) && machine.has(boot, r))
        .map(Resource::id)
        .collect()
}

/// The state to record after a module succeeded: what it declares, each resource marked
/// as strap's when strap made it (now or before), plus what strap made that is no longer
/// declared and was not pruned (a later `--prune` still finds it).
pub fn recorded_state(
    module: &str,
    declared: &ModuleState,
    record: &Applied,
    existed: &BTreeSet<String>,
    pruned: &BTreeSet<String>,
) -> ModuleState {
    let before: Vec<Resource> = record
        .modules
        .get(module)
        .map(|r| r.state.resources.clone())
        .unwrap_or_default();
    let mut state = declared.clone();
    for r in &mut state.resources {
        let id = r.id();
        let was = before.iter().find(|b| b.id() == id);
        let created = match was {
            Some(b) => b.created(),
            None => !existed.contains(&id),
        };
        r.set_created(created);
    }
    let declared_ids: BTreeSet<String> = state.resources.iter().map(Resource::id).collect();
    for b in before {
        let id = b.id();
        if b.created() && !declared_ids.contains(&id) && !pruned.contains(&id) {
            state.resources.push(b);
        }
    }
    state
}

/// The config a module runs with: the new config, with the keys the plan narrows (files,
/// users, groups, packages) holding only the entries that change.
fn narrowed(boot: &Boot<'_>, m: &ModulePlan) -> Node {
    let mut config = boot.config.clone();
    let touched = ids(m, &[Op::Create, Op::Change]);
    match m.module.as_str() {
        "write_files" | "write_files_deferred" => {
            filter_seq(&mut config, "write_files", |_, e| {
                e.get("path")
                    .and_then(modules::scalar_text)
                    .is_some_and(|p| touched.contains(&format!("file {p}")))
            });
        }
        "users_groups" => {
            let default = users::configured_default_user(boot);
            filter_seq(&mut config, "users", |_, e| {
                let name = match &e.value {
                    Value::Str(s) if s == "default" => default.clone(),
                    Value::Str(s) => Some(s.clone()),
                    Value::Map(_) => e
                        .get("name")
                        .and_then(modules::scalar_text)
                        .filter(|n| n != "default")
                        .or_else(|| default.clone()),
                    _ => None,
                };
                name.is_some_and(|n| touched.contains(&format!("user {n}")))
            });
            if let Some(Value::Str(list)) = config.get("users").map(|n| n.value.clone()) {
                let kept: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|n| touched.contains(&format!("user {n}")))
                    .collect();
                set_key(&mut config, "users", Value::Str(kept.join(", ")));
            }
            let groups = users::group_entries_narrowed(config.get("groups"), |g| {
                touched.contains(&format!("group {g}"))
            });
            if let Some(groups) = groups {
                set_key(&mut config, "groups", groups);
            }
        }
        "package_update_upgrade_install" => {
            let wanted: BTreeSet<String> = ids(m, &[Op::Create])
                .into_iter()
                .filter_map(|id| id.strip_prefix("package ").map(str::to_string))
                .collect();
            let names = |e: &Node| packages::item_names(boot, e);
            filter_seq(&mut config, "packages", |_, e| {
                names(e).iter().any(|n| wanted.contains(n))
            });
            // Index refreshes and upgrades run again only when their keys changed.
            let changed_keys = ids(m, &[Op::Create, Op::Change, Op::Remove]);
            for key in [
                "package_update",
                "package_upgrade",
                "apt_update",
                "apt_upgrade",
                "repo_update",
                "repo_upgrade",
            ] {
                if !changed_keys.contains(&format!("key {key}")) {
                    remove_key(&mut config, key);
                }
            }
        }
        _ => {}
    }
    config
}

fn filter_seq(config: &mut Node, key: &str, keep: impl Fn(usize, &Node) -> bool) {
    let Some(Value::Seq(items)) = config.get(key).map(|n| n.value.clone()) else {
        return;
    };
    let kept: Vec<Node> = items
        .into_iter()
        .enumerate()
        .filter(|(i, e)| keep(*i, e))
        .map(|(_, e)| e)
        .collect();
    set_key(config, key, Value::Seq(kept));
}

fn set_key(config: &mut Node, key: &str, value: Value) {
    if let Value::Map(entries) = &mut config.value {
        for (k, v) in entries.iter_mut() {
            if k.as_str() == Some(key) {
                v.value = value;
                return;
            }
        }
    }
}

fn remove_key(config: &mut Node, key: &str) {
    if let Value::Map(entries) = &mut config.value {
        entries.retain(|(k, _)| k.as_str() != Some(key));
    }
}

/// The module's own work, or the one-shot rerun.
fn run_module(boot: &mut Boot<'_>, m: &ModulePlan) -> Result<Outcome, ModuleError> {
    if m.action == Action::Rerun {
        return rerun(boot, m);
    }
    if m.module == "ssh" {
        // Only authorized keys apply live (host keys are per instance).
        return users::authorized_keys(boot);
    }
    let body = super::super::stages::STAGES
        .iter()
        .flat_map(|(_, list)| list.iter())
        .find(|(name, _, _)| *name == m.module)
        .map(|(_, _, body)| *body);
    match body {
        Some(body) => body(boot),
        None => Ok(Outcome::Skipped(format!("{}: nothing to run", m.module))),
    }
}

/// Run a one-shot module again: its changed or new scripts (stored again, markers
/// cleared), or its commands.
fn rerun(boot: &mut Boot<'_>, m: &ModulePlan) -> Result<Outcome, ModuleError> {
    let mut touched: BTreeSet<String> = ids(m, &[Op::Create, Op::Change])
        .into_iter()
        .filter_map(|id| id.strip_prefix("script ").map(str::to_string))
        .collect();
    if m.changes.is_empty() {
        // Asked for without a change: every script of the module runs again.
        touched = m
            .declared
            .resources
            .iter()
            .filter_map(|r| match r {
                Resource::Script { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
    }
    let parts: Vec<_> = boot
        .parts
        .iter()
        .filter(|p| touched.contains(&consume::clean_name(&p.filename)))
        .cloned()
        .collect();
    match m.module.as_str() {
        "bootcmd" => modules::commands::bootcmd(boot),
        "runcmd" => {
            modules::commands::runcmd(boot)?;
            let dir = boot.instance_dir.join("scripts");
            clear(boot, "scripts_user.runcmd", Frequency::PerInstance)?;
            scripts::run_named(
                boot,
                &dir,
                "scripts_user",
                Frequency::PerInstance,
                &["runcmd".into()],
            )
        }
        "boothooks" => {
            let mut failures = Vec::new();
            for part in &parts {
                let name = consume::clean_name(&part.filename);
                clear(boot, &format!("boothook.{name}"), Frequency::PerBoot)?;
                let (status, reason, _) = consume::boothook(boot, &name, &part.payload);
                if status == ItemStatus::Failed {
                    failures.push(reason.unwrap_or(name));
                }
            }
            modules::entries_outcome(Vec::new(), failures, parts.len())
        }
        "scripts_user" | "scripts_per_once" | "scripts_per_boot" | "scripts_per_instance" => {
            let (dir, freq) = match m.module.as_str() {
                "scripts_user" => (boot.instance_dir.join("scripts"), Frequency::PerInstance),
                "scripts_per_once" => (boot.paths.per_dir("per-once"), Frequency::PerOnce),
                "scripts_per_boot" => (boot.paths.per_dir("per-boot"), Frequency::PerBoot),
                _ => (boot.paths.per_dir("per-instance"), Frequency::PerInstance),
            };
            let mut names = Vec::new();
            for part in &parts {
                let file = consume::store_part(boot, part).map_err(|source| ModuleError::Path {
                    path: part.filename.clone(),
                    source,
                })?;
                clear(boot, &format!("{}.{file}", m.module), freq)?;
                names.push(file);
            }
            scripts::run_named(boot, &dir, &m.module, freq, &names)
        }
        other => Ok(Outcome::Skipped(format!("{other}: nothing to rerun"))),
    }
}

/// Remove a marker, so that its work runs again.
fn clear(boot: &Boot<'_>, name: &str, freq: Frequency) -> Result<(), ModuleError> {
    boot.sems
        .clear(name, freq)
        .map_err(|source| ModuleError::Path {
            path: format!("the marker of {name}"),
            source,
        })
}

/// `--prune`: remove what strap made and the module no longer declares.
fn prune(
    boot: &mut Boot<'_>,
    m: &ModulePlan,
    opts: &ApplyOptions,
    skipped: &mut Vec<String>,
) -> Result<(), ModuleError> {
    let record_before: Vec<&super::Change> = m
        .changes
        .iter()
        .filter(|c| c.op == Op::Remove && c.prune == Some(true))
        .collect();
    let mut packages_gone = Vec::new();
    for c in record_before {
        if let Some(path) = c.resource.strip_prefix("file ") {
            if c.conflict.is_some() && !opts.force {
                skipped.push(format!(
                    "{path}: changed by hand since strap wrote it; left (--force removes it)"
                ));
                continue;
            }
            let real = boot.ctx.path(path).map_err(|source| ModuleError::Path {
                path: path.to_string(),
                source,
            })?;
            let removed =
                crate::context::remove_file(boot.ctx.root(), &real).map_err(|source| {
                    ModuleError::Path {
                        path: path.to_string(),
                        source,
                    }
                })?;
            if removed {
                boot.log.line("INFO", &format!("apply: removed {path}"));
            }
        } else if let Some(name) = c.resource.strip_prefix("user ") {
            users::remove_user(boot, name)?;
        } else if let Some(name) = c.resource.strip_prefix("group ") {
            users::remove_group(boot, name)?;
        } else if let Some(name) = c.resource.strip_prefix("package ") {
            packages_gone.push(name.to_string());
        }
    }
    if !packages_gone.is_empty() {
        packages::remove(boot, &packages_gone)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, created: bool) -> Resource {
        Resource::File {
            path: path.into(),
            sha256: "sha256:0".into(),
            size: 0,
            mode: 0o644,
            owner: "root:root".into(),
            append: false,
            created,
            source_uri: None,
            source_sha256: None,
        }
    }

    #[test]
    fn what_strap_made_stays_strap_s_and_what_was_there_never_becomes_so() {
        let mut record = Applied::new("i-1");
        record.set(
            "write_files",
            ModuleState {
                config: Default::default(),
                resources: vec![file("/a", true), file("/gone", true), file("/old", false)],
            },
            1.0,
        );
        let declared = ModuleState {
            config: Default::default(),
            resources: vec![
                file("/a", false),
                file("/new", false),
                file("/there", false),
            ],
        };
        let existed: BTreeSet<String> = ["file /there".to_string()].into();
        let state = recorded_state(
            "write_files",
            &declared,
            &record,
            &existed,
            &BTreeSet::new(),
        );
        let created: Vec<(String, bool)> = state
            .resources
            .iter()
            .map(|r| (r.id(), r.created()))
            .collect();
        assert_eq!(
            created,
            [
                ("file /a".to_string(), true),
                ("file /new".to_string(), true),
                ("file /there".to_string(), false),
                // strap's, no longer declared, not pruned: kept for a later --prune
                ("file /gone".to_string(), true),
            ]
        );
        let pruned: BTreeSet<String> = ["file /gone".to_string()].into();
        let state = recorded_state("write_files", &declared, &record, &existed, &pruned);
        assert_eq!(state.resources.len(), 3, "a pruned file leaves the record");
    }
}
