//! What a boot records of what it applied: before a module runs, what the config
//! declares for it and which of those things are already on the machine; after it
//! succeeded, that state into the boot's [`Applied`] record (written at the end of each
//! stage). At the end of a boot of an instance that had already been configured, the
//! user data is compared with what was applied: the boot says so on the console and in
//! `status.json`, and with `apply_changed_user_data: apply` applies the plan.

use std::collections::BTreeSet;

use super::super::applied::{sha256, Applied, Loaded};
use super::super::context::{epoch, Boot};
use super::super::records::error_chain;
use super::apply::{self, ApplyOptions};
use super::declared;
use super::{compute, PlanOptions};

/// A module about to run: what it declares and what of it is already there.
pub struct Before {
    module: &'static str,
    state: crate::boot::applied::ModuleState,
    existed: BTreeSet<String>,
}

/// Note what a module declares before it runs (`None` for steps the plan does not know,
/// or a config the plan cannot read: the module reports that itself).
pub fn before(boot: &Boot<'_>, module: &str) -> Option<Before> {
    let spec = declared::spec(module)?;
    let state = declared::module_state(boot, spec).ok()?;
    let machine = super::Machine::read(boot);
    let existed = state
        .resources
        .iter()
        .filter(|r| machine.has(boot, r))
        .map(|r| r.id())
        .collect();
    Some(Before {
        module: spec.module,
        state,
        existed,
    })
}

/// The module succeeded: record its state.
pub fn succeeded(boot: &mut Boot<'_>, before: Before) {
    let now = epoch(boot.ctx.now());
    let state = apply::recorded_state(
        before.module,
        &before.state,
        &boot.applied,
        &before.existed,
        &BTreeSet::new(),
    );
    let state = super::with_fetched(boot, state);
    boot.applied.set(before.module, state, now);
}

/// The module failed: say so in the record (its state stays the one applied before).
pub fn failed(boot: &mut Boot<'_>, before: &Before, why: &str) {
    let now = epoch(boot.ctx.now());
    boot.applied.set_failed(before.module, why.to_string(), now);
}

/// The record a boot starts from: the instance's, or a new one for a new instance.
pub fn start(instance_dir: &std::path::Path, instance_id: &str, new_instance: bool) -> Applied {
    match Applied::load(instance_dir, instance_id) {
        Loaded::Found(a) if !new_instance => *a,
        _ => Applied::new(instance_id),
    }
}

/// After consuming the user data: a new instance's user data is the one applied as a
/// whole; the boothooks that ran are recorded.
pub fn consumed(boot: &mut Boot<'_>) {
    boot.applied.identity = boot.instance.identity.clone();
    if boot.new_instance
        || boot.applied.user_data_sha256.is_none() && boot.applied.modules.is_empty()
    {
        boot.applied.user_data_sha256 = Some(sha256(boot.instance.user_data.expose()));
        boot.applied.config = boot.config.to_json();
    }
    // Steps that are not modules of the stage table: the boothooks ran while the user
    // data was consumed, and `output` is read again at every stage.
    for step in ["boothooks", "output"] {
        if let Some(b) = before(boot, step) {
            succeeded(boot, b);
        }
    }
}

/// What the config's `apply_changed_user_data` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnChange {
    Off,
    Plan,
    Apply,
}

/// `apply_changed_user_data: off|plan|apply` (default `plan`); an unknown value is
/// `plan`, with a warning.
pub fn on_change(boot: &mut Boot<'_>) -> OnChange {
    let value = boot
        .cfg("apply_changed_user_data")
        .and_then(super::super::modules::scalar_text);
    match value.as_deref() {
        None | Some("plan") => OnChange::Plan,
        Some("off") | Some("false") | Some("False") => OnChange::Off,
        Some("apply") => OnChange::Apply,
        Some(other) => {
            boot.warn(&format!(
                "apply_changed_user_data: {other:?} is not off, plan or apply; using plan"
            ));
            OnChange::Plan
        }
    }
}

/// At the end of a boot: when the user data changed since it was applied, say so, and
/// apply it if the config asks.
pub fn at_end(boot: &mut Boot<'_>) {
    let sha = sha256(boot.instance.user_data.expose());
    if boot.new_instance || boot.applied.user_data_sha256.as_deref() == Some(sha.as_str()) {
        return;
    }
    let mode = on_change(boot);
    if mode == OnChange::Off {
        return;
    }
    let loaded = Loaded::Found(Box::new(boot.applied.clone()));
    let plan = match compute(boot, &loaded, &sha, &PlanOptions::default()) {
        Ok(p) => p,
        Err(err) => {
            boot.warn(&format!(
                "the user data changed since it was applied, and cannot be planned: {}",
                error_chain(&err)
            ));
            return;
        }
    };
    if !plan.has_changes() {
        boot.applied.user_data_sha256 = Some(sha);
        boot.applied.config = boot.config.to_json();
        return;
    }
    let s = &plan.summary;
    let line = format!(
        "the user data changed since it was applied to this instance: {} to create, {} to change, {} to remove, {} one-shot not rerun, {} not applied live",
        s.create, s.change, s.remove + s.not_removed, s.not_rerun, s.not_live
    );
    boot.out.message(&format!("strap: {line}"));
    boot.log.line("WARNING", &line);
    if mode == OnChange::Plan {
        boot.report.user_data_changed = Some(format!(
            "{line}; see `strap plan`, apply with `strap apply` (apply_changed_user_data: plan)"
        ));
        return;
    }
    let mut record = boot.applied.clone();
    match apply::apply(boot, &plan, &mut record, &sha, &ApplyOptions::default()) {
        Ok(outcome) => {
            if let Err(err) = apply::write_summary(boot, &outcome) {
                boot.warn(&format!("cannot record the apply: {}", error_chain(&err)));
            }
            let text = if outcome.failed.is_empty() {
                format!("{line}; applied at boot (apply_changed_user_data: apply)")
            } else {
                let failed: Vec<String> = outcome
                    .failed
                    .iter()
                    .map(|(m, why)| format!("{m}: {why}"))
                    .collect();
                boot.warn(&format!(
                    "applying the changed user data: {}",
                    failed.join("; ")
                ));
                format!("{line}; applied at boot with failures")
            };
            boot.report.user_data_changed = Some(text);
        }
        Err(err) => {
            boot.warn(&format!(
                "the changed user data was not applied: {}",
                error_chain(&err)
            ));
            boot.report.user_data_changed = Some(format!("{line}; not applied: {err}"));
        }
    }
    boot.applied = record;
}
