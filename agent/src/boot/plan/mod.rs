//! `strap plan` and `strap apply`: changed user data, compared with what strap applied to
//! this instance ([`record`]), shown as a plan of changes and applied to the running
//! machine with the boot's own modules.
//!
//! - [`declared`]: what the effective config declares, per module (its config slice and
//!   the files, users, groups, packages and scripts it owns);
//! - [`super::applied`]: `<instance>/applied.json`, written by every boot and after every
//!   apply step;
//! - this file: the comparison ([`compute`]) into a [`Plan`] with a stable JSON form;
//! - [`render`]: the plan as text;
//! - [`apply`]: carrying a plan out, module by module, in the boot's order.
//!
//! Which modules apply live, which are one-shot (rerun only when asked) and which cannot
//! be applied to a running machine is the table [`declared::SPECS`].

pub mod apply;
pub mod declared;
pub mod render;
pub mod session;
pub mod track;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::applied::{self as record, Loaded};
use super::applied::{ModuleState, Resource};
use super::context::Boot;
use declared::{Live, Spec};

/// The plan's JSON format version.
pub const PLAN_VERSION: u32 = 1;

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The new user data does not decode.
    #[error("the user data does not decode: {message}")]
    Decode { message: String },
    /// A part does not load or validate.
    #[error("{part}{}: {message}", position(*line, *column))]
    Invalid {
        part: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" line {l} column {c}"),
        (Some(l), None) => format!(" line {l}"),
        _ => String::new(),
    }
}

/// What kind of change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Change,
    Remove,
}

/// One change of a module (its `Debug` leaves out the diff: file content is user data).
#[derive(Clone, Serialize, Deserialize)]
pub struct Change {
    pub op: Op,
    /// `file /etc/x`, `user alice`, `key hostname`.
    pub resource: String,
    /// What changes: `mode 0644 → 0600`, `content`, `ssh_authorized_keys +1`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The unified diff of a text file's content (the file on disk → the new content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Why applying it would overwrite something strap did not write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// For a removal: whether `apply` removes it (`--prune`, and strap made it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change")
            .field("op", &self.op)
            .field("resource", &self.resource)
            .field("details", &self.details.len())
            .field("diff", &self.diff.as_ref().map(String::len))
            .field("conflict", &self.conflict.is_some())
            .finish()
    }
}

/// What `apply` does with a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The module runs again with the changed part of the config.
    Apply,
    /// A one-shot module asked for with `--rerun`.
    Rerun,
    /// A one-shot module not asked for: nothing runs.
    NotRerun,
    /// A module that cannot change a running machine: nothing runs.
    NotLive,
}

/// One module of a plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModulePlan {
    pub module: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last apply of this module failed (it is tried again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed: Option<String>,
    pub changes: Vec<Change>,
    /// The state apply records once the module succeeded.
    #[serde(skip)]
    pub declared: ModuleState,
}

impl ModulePlan {
    /// Whether `apply` runs anything for it.
    pub fn runs(&self) -> bool {
        matches!(self.action, Action::Apply | Action::Rerun)
    }
}

/// Counts for the summary line.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub change: usize,
    pub remove: usize,
    /// Removals left for `--prune` (or not strap's).
    pub not_removed: usize,
    pub not_rerun: usize,
    pub not_live: usize,
    pub conflicts: usize,
}

/// A plan: what `apply` would do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub instance_id: String,
    /// The user data differs from the one last applied as a whole.
    pub user_data_changed: bool,
    pub warnings: Vec<String>,
    pub modules: Vec<ModulePlan>,
    pub summary: Summary,
}

impl Plan {
    /// Whether there is anything to show (exit code 2 of `strap plan`).
    pub fn has_changes(&self) -> bool {
        !self.modules.is_empty()
    }

    /// The changes `apply` would refuse without `--force`.
    pub fn conflicts(&self) -> Vec<String> {
        self.modules
            .iter()
            .filter(|m| m.runs())
            .flat_map(|m| {
                m.changes.iter().filter_map(move |c| {
                    let applies = c.op != Op::Remove || c.prune == Some(true);
                    match (&c.conflict, applies) {
                        (Some(why), true) => Some(format!("{}: {}: {why}", m.module, c.resource)),
                        _ => None,
                    }
                })
            })
            .collect()
    }
}

/// How to plan.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// One-shot modules to run again (`runcmd`, `scripts_user`, …).
    pub rerun: Vec<String>,
    /// Remove what strap made and the config no longer declares.
    pub prune: bool,
}

/// Compare what the boot's config declares with what was applied.
pub fn compute(
    boot: &Boot<'_>,
    loaded: &Loaded,
    user_data_sha: &str,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let applied = loaded.or_empty(&boot.instance.instance_id);
    let mut warnings: Vec<String> = loaded
        .problem(&record::path(&boot.instance_dir))
        .into_iter()
        .collect();
    for asked in &opts.rerun {
        match declared::spec(asked) {
            Some(s) if s.live == Live::OneShot => {}
            _ => warnings.push(format!(
                "--rerun {asked}: not a one-shot module (those are: {})",
                one_shot_names().join(", ")
            )),
        }
    }
    let machine = Machine::read(boot);
    let mut modules = Vec::new();
    for spec in declared::SPECS {
        if !super::stages::NOT_IN_MODULE_LISTS.contains(&spec.module)
            && matches!(
                super::sysconfig::listing(&boot.config, spec.module),
                super::sysconfig::Listing::Absent
            )
        {
            continue;
        }
        let want = declared::module_state(boot, spec)?;
        let rec = applied.modules.get(spec.module);
        let empty = ModuleState::default();
        let have = rec.map_or(&empty, |r| &r.state);
        let changes = changes(boot, spec, &want, have, &machine, opts.prune);
        let last_failed = rec.and_then(|r| r.failed.clone());
        let asked = spec.live == Live::OneShot && opts.rerun.iter().any(|r| r == spec.module);
        if changes.is_empty() && last_failed.is_none() && !asked {
            continue;
        }
        let (action, reason) = action(spec, &changes, opts);
        modules.push(ModulePlan {
            module: spec.module.to_string(),
            action,
            reason,
            last_failed,
            changes,
            declared: want,
        });
    }
    let mut summary = Summary::default();
    for m in &modules {
        match m.action {
            Action::NotRerun => summary.not_rerun += 1,
            Action::NotLive => summary.not_live += 1,
            Action::Apply | Action::Rerun => {
                for c in &m.changes {
                    match (c.op, c.prune) {
                        (Op::Create, _) => summary.create += 1,
                        (Op::Change, _) => summary.change += 1,
                        (Op::Remove, Some(true)) => summary.remove += 1,
                        (Op::Remove, _) => summary.not_removed += 1,
                    }
                }
            }
        }
    }
    let mut plan = Plan {
        version: PLAN_VERSION,
        instance_id: boot.instance.instance_id.clone(),
        user_data_changed: applied.user_data_sha256.as_deref() != Some(user_data_sha),
        warnings,
        modules,
        summary,
    };
    plan.summary.conflicts = plan.conflicts().len();
    Ok(plan)
}

fn one_shot_names() -> Vec<&'static str> {
    declared::SPECS
        .iter()
        .filter(|s| s.live == Live::OneShot)
        .map(|s| s.module)
        .collect()
}

fn action(spec: &Spec, changes: &[Change], opts: &PlanOptions) -> (Action, Option<String>) {
    match spec.live {
        Live::Yes if spec.module == "ssh" => {
            let host_keys = changes.iter().any(|c| {
                c.resource
                    .strip_prefix("key ")
                    .is_some_and(|k| !declared::SSH_LIVE_KEYS.contains(&k))
            });
            if host_keys {
                (
                    Action::NotLive,
                    Some("host keys are made once per instance; changing them on a running machine would change its identity under its clients: the new settings take effect on a new instance".into()),
                )
            } else {
                (Action::Apply, None)
            }
        }
        Live::Yes => (Action::Apply, None),
        Live::OneShot if opts.rerun.iter().any(|r| r == spec.module) => {
            (Action::Rerun, Some("--rerun asked for it".into()))
        }
        Live::OneShot if spec.module == "boothooks" || spec.module == "bootcmd" || spec.module == "scripts_per_boot" => (
            Action::NotRerun,
            Some(format!(
                "runs at every boot: the new version runs at the next boot; pass --rerun {} to run it now",
                spec.module
            )),
        ),
        Live::OneShot => (
            Action::NotRerun,
            Some(format!(
                "ran once for this instance; not run again unless asked (--rerun {})",
                spec.module
            )),
        ),
        Live::No(why) => (Action::NotLive, Some(why.to_string())),
    }
}

/// What of the machine a plan, an apply or a boot's record looks at, each file read once:
/// the account names and the installed packages; files are looked at by path.
pub(super) struct Machine {
    passwd: BTreeSet<String>,
    group: BTreeSet<String>,
    packages: BTreeSet<String>,
}

impl Machine {
    pub(super) fn read(boot: &Boot<'_>) -> Self {
        let names = |file: &str| -> BTreeSet<String> {
            boot.ctx
                .path(file)
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|text| {
                    text.lines()
                        .filter_map(|l| l.split(':').next())
                        .filter(|n| !n.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            passwd: names("/etc/passwd"),
            group: names("/etc/group"),
            packages: super::modules::packages::installed(boot.ctx),
        }
    }

    /// Whether a resource is on the machine now.
    pub(super) fn has(&self, boot: &Boot<'_>, r: &Resource) -> bool {
        match r {
            Resource::File { path, .. } => boot
                .ctx
                .path(path)
                .is_ok_and(|p| std::fs::symlink_metadata(p).is_ok()),
            Resource::User { name, .. } => self.passwd.contains(name),
            Resource::Group { name, .. } => self.group.contains(name),
            Resource::Package { name, .. } => self
                .packages
                .contains(name.split('=').next().unwrap_or(name)),
            // Whether a disk holds the table or filesystem asked is the module's own
            // probe (sysfs, udev), not the plan's.
            Resource::Script { .. } | Resource::Disk { .. } | Resource::Filesystem { .. } => false,
        }
    }
}

/// A file as it is on disk.
pub struct OnDisk {
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// Read a file of the root as it is now (`None` when missing or not a regular file).
pub fn on_disk(boot: &Boot<'_>, path: &str) -> Option<OnDisk> {
    use std::os::unix::fs::PermissionsExt;
    let real = boot.ctx.path(path).ok()?;
    let bytes = crate::context::read_regular(&real, MAX_DIFFED_FILE, false).ok()?;
    let mode = std::fs::symlink_metadata(&real).ok()?.permissions().mode() & 0o7777;
    Some(OnDisk { bytes, mode })
}

/// The state a module leaves once it ran: its files from a `source` with the sha of
/// what was written.
pub fn with_fetched(boot: &Boot<'_>, mut state: ModuleState) -> ModuleState {
    for r in &mut state.resources {
        r.fill_fetched(|path| on_disk(boot, path).map(|d| d.bytes));
    }
    state
}

/// Largest file the plan reads to compare or diff.
const MAX_DIFFED_FILE: u64 = 8 * 1024 * 1024;

fn changes(
    boot: &Boot<'_>,
    spec: &Spec,
    want: &ModuleState,
    have: &ModuleState,
    machine: &Machine,
    prune: bool,
) -> Vec<Change> {
    let mut out = Vec::new();
    // Config keys the resources do not already describe.
    let resource_keys: &[&str] = match spec.module {
        "write_files" | "write_files_deferred" => &["write_files"],
        "users_groups" => &["users", "groups", "user"],
        "package_update_upgrade_install" => &["packages"],
        "disk_setup" => &["disk_setup", "fs_setup"],
        _ => &[],
    };
    let keys: BTreeSet<&String> = want.config.keys().chain(have.config.keys()).collect();
    for key in keys {
        if resource_keys.contains(&key.as_str()) {
            continue;
        }
        let (old, new) = (have.config.get(key), want.config.get(key));
        if old == new {
            continue;
        }
        let op = match (old, new) {
            (None, _) => Op::Create,
            (_, None) => Op::Remove,
            _ => Op::Change,
        };
        out.push(Change {
            op,
            resource: format!("key {key}"),
            details: vec![format!("{} → {}", shown(key, old), shown(key, new))],
            diff: None,
            conflict: None,
            // A key dropped from the config: the module runs with the new config.
            prune: None,
        });
    }
    let have_by_id: BTreeMap<String, &Resource> =
        have.resources.iter().map(|r| (r.id(), r)).collect();
    let want_ids: BTreeSet<String> = want.resources.iter().map(Resource::id).collect();
    for r in &want.resources {
        let id = r.id();
        match have_by_id.get(&id) {
            None => out.push(created(boot, r, machine)),
            Some(old) if !old.same_as(r) => out.push(changed(boot, old, r)),
            Some(old) => out.extend(drift(boot, old, machine)),
        }
    }
    for r in &have.resources {
        if want_ids.contains(&r.id()) {
            continue;
        }
        out.push(removed(boot, r, prune));
    }
    out
}

/// A value for the plan, secrets masked.
fn shown(key: &str, value: Option<&serde_json::Value>) -> String {
    let Some(value) = value else {
        return "(unset)".into();
    };
    if ["password", "chpasswd", "ssh_keys"].contains(&key) {
        return "(secret)".into();
    }
    let mut value = value.clone();
    for (top, path) in SECRET_FIELDS {
        if *top == key {
            mask(&mut value, path);
        }
    }
    let text = value.to_string();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Fields of the hand-offs' keys that hold keys or passwords: the validation key, the
/// minion's private key, and the CSR's custom attributes (the challenge password).
const SECRET_FIELDS: &[(&str, &[&str])] = &[
    ("chef", &["validation_cert"]),
    ("salt_minion", &["private_key"]),
    ("puppet", &["csr_attributes", "custom_attributes"]),
];

/// Replace the value at `path` (object keys) with `(secret)` when it is there.
fn mask(value: &mut serde_json::Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(inner) = value.get_mut(*first) else {
        return;
    };
    if rest.is_empty() {
        *inner = serde_json::Value::String("(secret)".into());
    } else {
        mask(inner, rest);
    }
}

fn new_change(op: Op, resource: String) -> Change {
    Change {
        op,
        resource,
        details: Vec::new(),
        diff: None,
        conflict: None,
        prune: None,
    }
}

fn created(boot: &Boot<'_>, r: &Resource, machine: &Machine) -> Change {
    let mut c = new_change(Op::Create, r.id());
    match r {
        Resource::File {
            path,
            sha256,
            size,
            mode,
            owner,
            append,
            source_uri,
            ..
        } => {
            match source_uri {
                Some(uri) => c.details.push(format!(
                    "content from {uri} (fetched when applied), mode {mode:04o}, owner {owner}"
                )),
                None => c
                    .details
                    .push(format!("{size} bytes, mode {mode:04o}, owner {owner}")),
            }
            if *append {
                c.details.push("appended to the file".into());
            }
            if let Some(disk) = on_disk(boot, path) {
                if source_uri.is_some() && !append {
                    c.details
                        .push("a file strap did not write is there: it is replaced".into());
                } else if &record::sha256(&disk.bytes) != sha256 && !append {
                    c.details
                        .push("a file strap did not write is there: it is replaced".into());
                    c.diff = file_diff(boot, path, &disk.bytes);
                }
            }
        }
        Resource::User { name, spec, .. } => {
            if machine.passwd.contains(name) {
                c.details.push(
                    "the user exists already: its keys, groups and sudo rules are applied".into(),
                );
            }
            c.details.extend(user_details(None, spec));
        }
        Resource::Group { name, members, .. } => {
            if machine.group.contains(name) {
                c.details.push("the group exists already".into());
            }
            if !members.is_empty() {
                c.details.push(format!("members {}", members.join(", ")));
            }
        }
        Resource::Disk { .. } | Resource::Filesystem { .. } => {
            c.details.push(disk_details(r));
        }
        Resource::Package { .. } | Resource::Script { .. } => {}
    }
    c
}

/// A `disk_setup` or `fs_setup` entry on one line.
fn disk_details(r: &Resource) -> String {
    match r {
        Resource::Disk {
            table,
            layout,
            overwrite,
            ..
        } => format!(
            "table {table}, layout {layout}{}",
            if *overwrite { ", overwrite" } else { "" }
        ),
        Resource::Filesystem {
            filesystem,
            label,
            overwrite,
            replace_fs,
            extra_opts,
            cmd,
            ..
        } => {
            let mut text = if filesystem.is_empty() {
                "(no filesystem)".to_string()
            } else {
                filesystem.clone()
            };
            if let Some(l) = label {
                text.push_str(&format!(", label {l}"));
            }
            if *overwrite {
                text.push_str(", overwrite");
            }
            if let Some(r) = replace_fs {
                text.push_str(&format!(", replace_fs {r}"));
            }
            if !extra_opts.is_empty() {
                text.push_str(&format!(", extra_opts {}", extra_opts.join(" ")));
            }
            if let Some(c) = cmd {
                text.push_str(&format!(", cmd {c}"));
            }
            text
        }
        _ => String::new(),
    }
}

fn changed(boot: &Boot<'_>, old: &Resource, new: &Resource) -> Change {
    let mut c = new_change(Op::Change, new.id());
    match (old, new) {
        (
            Resource::File {
                sha256: old_sha,
                mode: old_mode,
                owner: old_owner,
                source_sha256: old_source,
                ..
            },
            Resource::File {
                path,
                sha256,
                mode,
                owner,
                append,
                source_uri,
                source_sha256,
                ..
            },
        ) => {
            let disk = on_disk(boot, path);
            if let Some(uri) = source_uri {
                if old_source != source_sha256 {
                    c.details
                        .push(format!("content from {uri} (fetched when applied)"));
                }
            } else if old_sha != sha256 {
                c.details.push("content".into());
                if let Some(disk) = &disk {
                    c.diff = file_diff(boot, path, &disk.bytes);
                }
            }
            if old_mode != mode {
                c.details.push(format!("mode {old_mode:04o} → {mode:04o}"));
            }
            if old_owner != owner {
                c.details.push(format!("owner {old_owner} → {owner}"));
            }
            match &disk {
                None => c
                    .details
                    .push("missing on disk (removed by hand): written again".into()),
                Some(d)
                    if !append && !old_sha.is_empty() && &record::sha256(&d.bytes) != old_sha =>
                {
                    c.conflict = Some(
                        "changed by hand since strap wrote it: apply would overwrite those changes (use --force)"
                            .into(),
                    );
                }
                _ => {}
            }
        }
        (Resource::User { spec: old_spec, .. }, Resource::User { spec, .. }) => {
            for d in user_details(Some(old_spec), spec) {
                let field = d.split(' ').next().unwrap_or_default();
                if super::modules::users::APPLIED_TO_EXISTING_USERS.contains(&field) {
                    c.details.push(d);
                } else {
                    c.details.push(format!(
                        "{d} (not applied: the user exists, and only its groups, password lock, sudo rules and keys are)"
                    ));
                }
            }
        }
        (Resource::Group { members: old_m, .. }, Resource::Group { members, .. }) => {
            c.details.push(format!(
                "members [{}] → [{}]",
                old_m.join(", "),
                members.join(", ")
            ));
        }
        (Resource::Script { .. }, Resource::Script { .. }) => c.details.push("content".into()),
        (Resource::Disk { .. }, Resource::Disk { .. })
        | (Resource::Filesystem { .. }, Resource::Filesystem { .. }) => {
            c.details
                .push(format!("{} → {}", disk_details(old), disk_details(new)))
        }
        _ => {}
    }
    c
}

/// A declared resource whose config did not change but that is not as strap left it.
fn drift(boot: &Boot<'_>, r: &Resource, machine: &Machine) -> Option<Change> {
    match r {
        Resource::File {
            path,
            append: false,
            ..
        } if on_disk(boot, path).is_none() => {
            let mut c = new_change(Op::Create, r.id());
            c.details
                .push("removed by hand since strap wrote it: written again".into());
            Some(c)
        }
        Resource::User { name, .. } if !machine.passwd.contains(name) => {
            let mut c = new_change(Op::Create, r.id());
            c.details
                .push("removed by hand since strap applied it: created again".into());
            Some(c)
        }
        _ => None,
    }
}

fn removed(boot: &Boot<'_>, r: &Resource, prune: bool) -> Change {
    let mut c = new_change(Op::Remove, r.id());
    let ours = r.created();
    c.prune = Some(prune && ours);
    if !ours {
        c.details.push(
            match r {
                Resource::Script { .. } => "no longer in the user data (nothing to undo)",
                Resource::Disk { .. } | Resource::Filesystem { .. } => {
                    "no longer in the user data: strap never removes partitions or filesystems"
                }
                _ => "was there before strap: never removed",
            }
            .into(),
        );
    } else if !prune {
        c.details.push("strap made it: removed with --prune".into());
    }
    if let Resource::File { path, sha256, .. } = r {
        match on_disk(boot, path) {
            None => c.details.push("already gone from disk".into()),
            Some(d) if !sha256.is_empty() && &record::sha256(&d.bytes) != sha256 => {
                c.conflict = Some(
                    "changed by hand since strap wrote it: --prune leaves it unless --force".into(),
                );
            }
            Some(_) => {}
        }
    }
    c
}

fn user_details(old: Option<&serde_json::Value>, new: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let old = old.and_then(|v| v.as_object()).unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let (a, b) = (old.get(k), new.get(k));
        if a == b || k == "name" {
            continue;
        }
        let list = |v: Option<&serde_json::Value>| -> Option<Vec<String>> {
            match v {
                None => Some(Vec::new()),
                Some(serde_json::Value::Array(items)) => {
                    Some(items.iter().map(|i| i.to_string()).collect())
                }
                _ => None,
            }
        };
        let secret = k.contains("passw");
        match (list(a), list(b)) {
            (Some(x), Some(y)) if !secret => {
                let added = y.iter().filter(|i| !x.contains(i)).count();
                let gone = x.iter().filter(|i| !y.contains(i)).count();
                let mut d = k.to_string();
                if added > 0 {
                    d.push_str(&format!(" +{added}"));
                }
                if gone > 0 {
                    d.push_str(&format!(" -{gone}"));
                }
                out.push(d);
            }
            _ if secret => out.push(format!("{k} (secret)")),
            _ => out.push(format!("{k} {} → {}", shown(k, a), shown(k, b))),
        }
    }
    out
}

/// The diff of a text file on disk against the content the config declares.
fn file_diff(boot: &Boot<'_>, path: &str, disk: &[u8]) -> Option<String> {
    let content = declared_content(boot, path)?;
    let (Ok(old), Ok(new)) = (std::str::from_utf8(disk), std::str::from_utf8(&content)) else {
        return Some("binary content differs".into());
    };
    crate::textdiff::unified(old, new, path, 3)
}

/// The declared content of a `write_files` path (the last entry for it).
pub fn declared_content(boot: &Boot<'_>, path: &str) -> Option<Vec<u8>> {
    let entries = boot.cfg("write_files")?.as_seq()?;
    entries.iter().enumerate().rev().find_map(|(i, e)| {
        super::modules::write_files::read_entry(i, e)
            .ok()
            .flatten()
            .filter(|f| f.path == path)
            .map(|f| f.content)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_off_keys_are_shown_with_their_secrets_masked() {
        let chef = serde_json::json!({"server_url": "https://c", "validation_cert": "-----BEGIN RSA PRIVATE KEY-----"});
        let text = shown("chef", Some(&chef));
        assert!(
            text.contains("https://c") && text.contains("(secret)"),
            "{text}"
        );
        assert!(!text.contains("PRIVATE"), "{text}");
        let puppet = serde_json::json!({"csr_attributes": {"custom_attributes": {"1.2.840.113549.1.9.7": "pw"}, "extension_requests": {"pp_role": "web"}}});
        let text = shown("puppet", Some(&puppet));
        assert!(!text.contains("pw\"") && text.contains("pp_role"), "{text}");
        let salt = serde_json::json!({"private_key": "PEM", "public_key": "PUB"});
        assert!(!shown("salt_minion", Some(&salt)).contains("PEM"));
    }
}
