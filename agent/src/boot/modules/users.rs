//! `users_groups` and `ssh` (authorized keys): groups and users created with the
//! shadow tools (`groupadd`, `useradd`, `usermod`) on the real machine, and by editing
//! the root's `/etc/passwd`, `/etc/group`, `/etc/shadow` and `/etc/gshadow` directly
//! ([`super::accounts`]) under `--root`. Account lookups read the root's files.
//! The default user ([`default_user`]: `system_info.default_user` of the image's system
//! config, else the distro's `ec2-user`, `ubuntu` or `admin`) is created unless `users:`
//! leaves out `default`, and receives the EC2 key pair and the top-level
//! `ssh_authorized_keys`; the key pair is fetched only when someone will receive it.

use std::path::PathBuf;

use crate::cloudconfig::{Node, Value};
use crate::context::Context;

use super::super::context::Boot;
use super::super::sysconfig;
use super::accounts::Accounts;
use super::{scalar_text, string_list, truthy, wrong_type, ModuleError, Outcome};

/// The sudoers drop-in users' `sudo` rules go to (cloud-init's name, so an image
/// moving from cloud-init to strap keeps one file).
pub const SUDOERS_FILE: &str = "/etc/sudoers.d/90-cloud-init-users";

/// A line of `/etc/passwd`.
#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// A line of `/etc/group`.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub gid: u32,
}

/// A user in the root's `/etc/passwd`.
pub fn lookup_user(ctx: &Context, name: &str) -> Option<Account> {
    let root = || Account {
        name: "root".into(),
        uid: 0,
        gid: 0,
        home: "/root".into(),
    };
    let Some(text) = super::system::read_opt(ctx, "/etc/passwd").ok().flatten() else {
        // root is uid 0 on every system, even a fresh root without account files.
        return (name == "root").then(root);
    };
    let found = text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[0] == name).then(|| Account {
            name: f[0].to_string(),
            uid: f[2].parse().unwrap_or(0),
            gid: f[3].parse().unwrap_or(0),
            home: f[5].to_string(),
        })
    });
    found.or_else(|| (name == "root").then(root))
}

/// A group in the root's `/etc/group`.
pub fn lookup_group(ctx: &Context, name: &str) -> Option<Group> {
    let text = super::system::read_opt(ctx, "/etc/group")
        .ok()
        .flatten()
        .unwrap_or_default();
    let found = text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| Group {
            name: f[0].to_string(),
            gid: f[2].parse().unwrap_or(0),
        })
    });
    found.or_else(|| {
        (name == "root").then(|| Group {
            name: "root".into(),
            gid: 0,
        })
    })
}

/// The default user: who it is and what it gets unless its `users` entry says otherwise.
#[derive(Clone, Debug)]
pub struct DefaultUser {
    pub name: String,
    /// Supplementary groups, created when missing.
    pub groups: Vec<String>,
    /// The rest of `system_info.default_user` (shell, sudo, gecos, lock_passwd, …).
    pub node: Option<Node>,
}

/// The default user: `system_info.default_user` from the merged config (the image's
/// system config or the user data), else, for an image without a system config, the
/// distro's from `/etc/os-release` ([`sysconfig::builtin_default_user`]). `None` when
/// there is neither: a system config that names no default user, or a bare root.
pub fn default_user(boot: &Boot<'_>) -> Option<DefaultUser> {
    let configured = boot
        .cfg("system_info")
        .and_then(|s| s.get("default_user"))
        .filter(|n| !n.is_null());
    if let Some(du) = configured {
        let name = field(du, "name").and_then(scalar_text)?;
        let groups = field(du, "groups")
            .and_then(|g| string_list("system_info.default_user.groups", g, true).ok())
            .unwrap_or_default();
        // The groups travel as `groups` of the spec; the other keys are the entry's defaults.
        let rest = match &du.value {
            Value::Map(entries) => Node::new(Value::Map(
                entries
                    .iter()
                    .filter(|(k, _)| k.as_str().map(norm_key).as_deref() != Some("groups"))
                    .cloned()
                    .collect(),
            )),
            _ => Node::new(Value::Map(Vec::new())),
        };
        return Some(DefaultUser {
            name,
            groups,
            node: Some(rest),
        });
    }
    if boot.system.present() {
        return None;
    }
    sysconfig::builtin_default_user(boot.ctx).map(|(name, groups)| DefaultUser {
        name,
        groups,
        node: None,
    })
}

/// Run a shadow tool, with `--prefix` under a root.
fn shadow_tool(boot: &Boot<'_>, tool: &str, args: &[String]) -> Result<(), ModuleError> {
    boot.log
        .line("DEBUG", &format!("running {tool} {}", args.join(" ")));
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    super::run_tool(tool, &args).map(|_| ())
}

fn group_exists(boot: &Boot<'_>, accounts: Option<&Accounts<'_>>, name: &str) -> bool {
    match accounts {
        Some(a) => a.has_group(name),
        None => lookup_group(boot.ctx, name).is_some(),
    }
}

fn user_exists(boot: &Boot<'_>, accounts: Option<&Accounts<'_>>, name: &str) -> bool {
    match accounts {
        Some(a) => a.has_user(name),
        None => lookup_user(boot.ctx, name).is_some(),
    }
}

fn add_group(
    boot: &Boot<'_>,
    accounts: Option<&mut Accounts<'_>>,
    name: &str,
) -> Result<(), ModuleError> {
    match accounts {
        Some(a) => {
            a.add_group(name);
            Ok(())
        }
        None => shadow_tool(boot, "groupadd", &[name.to_string()]),
    }
}

fn ensure_group(
    boot: &Boot<'_>,
    accounts: Option<&mut Accounts<'_>>,
    name: &str,
) -> Result<(), ModuleError> {
    if group_exists(boot, accounts.as_deref(), name) {
        return Ok(());
    }
    add_group(boot, accounts, name)
}

/// A user entry, normalised.
struct UserSpec {
    name: String,
    node: Option<Node>,
    extra_groups: Vec<String>,
    is_default: bool,
}

fn norm_key(k: &str) -> String {
    k.replace('-', "_")
}

fn field<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    node.as_map()?.iter().find_map(|(k, v)| {
        (k.as_str().map(norm_key).as_deref() == Some(key) && !v.is_null()).then_some(v)
    })
}

fn user_specs(boot: &Boot<'_>) -> Result<Vec<UserSpec>, ModuleError> {
    let default = default_user(boot);
    // The deprecated `user:` key renames the default user (or makes one).
    let legacy = boot.cfg("user").map(|n| match &n.value {
        Value::Str(name) => Node::new(Value::Map(vec![(
            Node::new(Value::Str("name".into())),
            Node::new(Value::Str(name.clone())),
        )])),
        _ => n.clone(),
    });
    let default_spec = |entry: Option<Node>| -> Option<UserSpec> {
        let entry_name = entry
            .as_ref()
            .and_then(|e| field(e, "name"))
            .and_then(scalar_text)
            .filter(|n| n != "default");
        let name = entry_name.or_else(|| default.as_ref().map(|d| d.name.clone()))?;
        let base = default.as_ref().and_then(|d| d.node.clone());
        let node = match (entry, base) {
            (Some(e), Some(b)) => Some(sysconfig::merge_under(e, &b)),
            (e, b) => e.or(b),
        };
        Some(UserSpec {
            name,
            node,
            extra_groups: default
                .as_ref()
                .map(|d| d.groups.clone())
                .unwrap_or_default(),
            is_default: true,
        })
    };
    let Some(users) = boot.cfg("users") else {
        // Without `users`, strap's built-in defaults (no system config) list the default
        // user, as the distros' cloud.cfg do; a system config without `users` lists none.
        if boot.system.present() && legacy.is_none() {
            return Ok(Vec::new());
        }
        return Ok(default_spec(legacy).into_iter().collect());
    };
    let items = user_items(users)?;
    let mut specs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match &item.value {
            Value::Str(name) if name == "default" => specs.extend(default_spec(legacy.clone())),
            Value::Str(name) => specs.push(UserSpec {
                name: name.clone(),
                node: None,
                extra_groups: Vec::new(),
                is_default: false,
            }),
            Value::Map(_) => {
                let name = field(item, "name").and_then(scalar_text);
                match name {
                    None => specs.extend(default_spec(Some(item.clone()))),
                    Some(n) if n == "default" => specs.extend(default_spec(Some(item.clone()))),
                    Some(n) => specs.push(UserSpec {
                        name: n,
                        node: Some(item.clone()),
                        extra_groups: Vec::new(),
                        is_default: false,
                    }),
                }
            }
            _ => {
                return Err(wrong_type(
                    &format!("users.{i}"),
                    "a name or a mapping",
                    item,
                ))
            }
        }
    }
    Ok(specs)
}

/// The entries of `users` in the shapes cloud-init's `_normalize_users` takes: a list
/// whose items are names, comma-separated names, lists of whole names or mappings; one
/// comma-separated string; or a mapping of names to their entry (`{alice: {groups:
/// x}}`) or to a true value (`{alice: true}`; a false one leaves the user out). Names
/// come out one per item.
fn user_items(users: &Node) -> Result<Vec<Node>, ModuleError> {
    fn names(text: &str, out: &mut Vec<Node>) {
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.push(Node::new(Value::Str(name.to_string())));
        }
    }
    let mut out = Vec::new();
    match &users.value {
        Value::Str(s) => names(s, &mut out),
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                match &item.value {
                    Value::Str(s) => names(s, &mut out),
                    Value::Seq(list) => {
                        for (j, n) in list.iter().enumerate() {
                            let text = scalar_text(n).ok_or_else(|| {
                                wrong_type(&format!("users.{i}.{j}"), "a name", n)
                            })?;
                            // A list's names are taken whole (not split at commas).
                            if !text.is_empty() {
                                out.push(Node::new(Value::Str(text)));
                            }
                        }
                    }
                    _ => out.push(item.clone()),
                }
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let name = k.key_text();
                match &v.value {
                    Value::Map(fields) => {
                        let mut fields: Vec<(Node, Node)> = fields
                            .iter()
                            .filter(|(f, _)| f.as_str() != Some("name"))
                            .cloned()
                            .collect();
                        fields.push((
                            Node::new(Value::Str("name".into())),
                            Node::new(Value::Str(name)),
                        ));
                        out.push(Node::new(Value::Map(fields)));
                    }
                    // Python's `util.is_true`: `str(value)` is one of these.
                    Value::Bool(b) => {
                        if *b {
                            out.push(Node::new(Value::Str(name)));
                        }
                    }
                    Value::Int(i) => {
                        if *i == 1 {
                            out.push(Node::new(Value::Str(name)));
                        }
                    }
                    Value::Float(_) => {}
                    Value::Str(t) => {
                        if matches!(
                            t.trim().to_lowercase().as_str(),
                            "true" | "1" | "on" | "yes"
                        ) {
                            out.push(Node::new(Value::Str(name)));
                        }
                    }
                    _ => {
                        return Err(wrong_type(
                            &format!("users.{name}"),
                            "an entry (a mapping) or true",
                            v,
                        ))
                    }
                }
            }
        }
        _ => return Err(wrong_type("users", "a list", users)),
    }
    Ok(out)
}

/// `ssh_import_id` per user, as cloud-init reads it: the top-level list for the default
/// user, each other `users` entry's own list; duplicates dropped, users without ids left
/// out.
pub fn ssh_import_ids(boot: &Boot<'_>) -> Result<Vec<(String, Vec<String>)>, ModuleError> {
    let mut out = Vec::new();
    for spec in user_specs(boot)? {
        let node = if spec.is_default {
            boot.cfg("ssh_import_id")
        } else {
            spec.node.as_ref().and_then(|n| field(n, "ssh_import_id"))
        };
        let Some(node) = node else { continue };
        let key = if spec.is_default {
            "ssh_import_id".to_string()
        } else {
            format!("users.{}.ssh_import_id", spec.name)
        };
        let mut ids: Vec<String> = Vec::new();
        for id in string_list(&key, node, false)? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if !ids.is_empty() {
            out.push((spec.name, ids));
        }
    }
    Ok(out)
}

/// `groups` as cloud-init reads it (a comma string, a list of names or `{group: [members]}`
/// mappings, or one mapping): each group with its members.
pub fn group_entries(groups: &Node) -> Result<Vec<(String, Vec<String>)>, ModuleError> {
    Ok(match &groups.value {
        Value::Str(_) => string_list("groups", groups, true)?
            .into_iter()
            .map(|g| (g, Vec::new()))
            .collect(),
        Value::Seq(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match &item.value {
                    Value::Map(entries) => {
                        for (k, v) in entries {
                            let name = scalar_text(k).unwrap_or_default();
                            out.push((name, string_list(&format!("groups.{i}"), v, true)?));
                        }
                    }
                    _ => out.push((
                        scalar_text(item).ok_or_else(|| {
                            wrong_type(&format!("groups.{i}"), "a group name", item)
                        })?,
                        Vec::new(),
                    )),
                }
            }
            out
        }
        Value::Map(entries) => {
            let mut out = Vec::new();
            for (k, v) in entries {
                out.push((
                    scalar_text(k).unwrap_or_default(),
                    string_list("groups", v, true)?,
                ));
            }
            out
        }
        _ => return Err(wrong_type("groups", "a list of groups", groups)),
    })
}

/// `groups` keeping only the groups `keep` names, in the same shapes (`None` without
/// `groups`).
pub fn group_entries_narrowed(groups: Option<&Node>, keep: impl Fn(&str) -> bool) -> Option<Value> {
    let groups = groups?;
    let kept: Vec<Node> = match &groups.value {
        Value::Str(text) => {
            let names: Vec<&str> = text.split(',').map(str::trim).filter(|g| keep(g)).collect();
            return Some(Value::Str(names.join(", ")));
        }
        Value::Seq(items) => items
            .iter()
            .filter(|item| match &item.value {
                Value::Map(entries) => entries
                    .iter()
                    .any(|(k, _)| scalar_text(k).is_some_and(|n| keep(&n))),
                _ => scalar_text(item).is_some_and(|n| keep(&n)),
            })
            .cloned()
            .collect(),
        Value::Map(entries) => {
            return Some(Value::Map(
                entries
                    .iter()
                    .filter(|(k, _)| scalar_text(k).is_some_and(|n| keep(&n)))
                    .cloned()
                    .collect(),
            ))
        }
        _ => return None,
    };
    Some(Value::Seq(kept))
}

/// Each user the config declares (the default user resolved) with its entry as JSON,
/// hyphenated keys as underscores: what `strap plan` compares.
pub fn planned_users(boot: &Boot<'_>) -> Result<Vec<(String, serde_json::Value)>, ModuleError> {
    Ok(user_specs(boot)?
        .into_iter()
        .map(|spec| {
            let mut entry = serde_json::Map::new();
            if let Some(Value::Map(items)) = spec.node.as_ref().map(|n| &n.value) {
                for (k, v) in items {
                    if let Some(key) = k.as_str() {
                        entry.insert(norm_key(key), v.to_json());
                    }
                }
            }
            if !spec.extra_groups.is_empty() {
                entry.insert("default_groups".into(), spec.extra_groups.clone().into());
            }
            (spec.name, serde_json::Value::Object(entry))
        })
        .collect())
}

/// Remove a user strap created (`strap apply --prune`): `userdel` on the machine, the
/// account files edited under `--root`. Its home is left.
pub fn remove_user(boot: &Boot<'_>, name: &str) -> Result<(), ModuleError> {
    super::accounts::check_name(name).map_err(|m| ModuleError::Invalid {
        key: format!("users.{name}"),
        message: format!("the name {m}"),
    })?;
    if boot.on_real_root() {
        return shadow_tool(boot, "userdel", &[name.to_string()]);
    }
    let mut accounts = Accounts::load(boot.ctx)?;
    accounts.remove_user(name);
    accounts.save()
}

/// Remove a group strap created (`strap apply --prune`).
pub fn remove_group(boot: &Boot<'_>, name: &str) -> Result<(), ModuleError> {
    super::accounts::check_name(name).map_err(|m| ModuleError::Invalid {
        key: format!("groups.{name}"),
        message: format!("the name {m}"),
    })?;
    if boot.on_real_root() {
        return shadow_tool(boot, "groupdel", &[name.to_string()]);
    }
    let mut accounts = Accounts::load(boot.ctx)?;
    accounts.remove_group(name);
    accounts.save()
}

/// The default user's name when `users` includes it.
pub fn configured_default_user(boot: &Boot<'_>) -> Option<String> {
    user_specs(boot)
        .ok()?
        .into_iter()
        .find(|s| s.is_default)
        .map(|s| s.name)
}

/// `groups` then `users`.
pub fn users_groups(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let specs = user_specs(boot)?;
    if specs.is_empty() && boot.cfg("groups").is_none() {
        return Ok(Outcome::Skipped(
            "no groups, no users and no default user".into(),
        ));
    }
    let mut accounts = if boot.on_real_root() {
        None
    } else {
        Some(Accounts::load(boot.ctx)?)
    };
    let mut failures = Vec::new();
    let mut attempted = 0;
    if let Some(groups) = boot.cfg("groups").cloned() {
        let items = group_entries(&groups)?;
        for (group, members) in items {
            attempted += 1;
            if let Some((name, why)) = std::iter::once(&group)
                .chain(&members)
                .find_map(|n| super::accounts::check_name(n).err().map(|m| (n, m)))
            {
                failures.push(format!("group {group:?}: the name {name:?} {why}"));
                continue;
            }
            if group_exists(boot, accounts.as_ref(), &group) {
                boot.warn(&format!(
                    "groups: group {group} already exists; left as it is"
                ));
            } else if let Err(e) = add_group(boot, accounts.as_mut(), &group) {
                failures.push(format!("group {group}: {e}"));
                continue;
            }
            for member in members {
                if !user_exists(boot, accounts.as_ref(), &member) {
                    boot.warn(&format!(
                        "groups: cannot add {member} to {group}: no such user"
                    ));
                    continue;
                }
                let res = match accounts.as_mut() {
                    Some(a) => {
                        a.add_member(&group, &member);
                        Ok(())
                    }
                    None => shadow_tool(
                        boot,
                        "usermod",
                        &["-a".into(), "-G".into(), group.clone(), member.clone()],
                    ),
                };
                if let Err(e) = res {
                    failures.push(format!("group {group} member {member}: {e}"));
                }
            }
        }
    }
    for spec in specs {
        attempted += 1;
        if let Err(e) = ensure_user(boot, accounts.as_mut(), &spec) {
            failures.push(format!(
                "user {}: {}",
                spec.name,
                super::super::records::error_chain(&e)
            ));
        }
    }
    if let Some(a) = accounts.as_mut() {
        a.save()?;
    }
    super::entries_outcome(Vec::new(), failures, attempted)
}

/// The fields of a `users` entry [`ensure_user`] applies to a user that exists already
/// (as cloud-init's users module does); the others count only when it creates the user.
pub const APPLIED_TO_EXISTING_USERS: &[&str] = &[
    "groups",
    "default_groups",
    "lock_passwd",
    "sudo",
    "ssh_authorized_keys",
    "ssh_import_id",
];

fn ensure_user(
    boot: &mut Boot<'_>,
    mut accounts: Option<&mut Accounts<'_>>,
    spec: &UserSpec,
) -> Result<(), ModuleError> {
    let empty = Node::new(Value::Map(Vec::new()));
    let node = spec.node.as_ref().unwrap_or(&empty);
    let key = |k: &str| format!("users.{}.{k}", spec.name);
    let mut groups = spec.extra_groups.clone();
    if let Some(g) = field(node, "groups") {
        groups.extend(string_list(&key("groups"), g, true)?);
    }
    check_user_entry(spec, node, &groups)?;
    let exists = user_exists(boot, accounts.as_deref(), &spec.name);
    if exists {
        // As cloud-init: an account that is already there (a disk booted again as a new
        // instance, an image that baked it) is not a problem. Its creation is skipped;
        // its groups, password lock, sudo rules and keys are still applied.
        boot.log.line(
            "INFO",
            &format!(
                "users: user {} already exists, skipping its creation; its groups, password lock, sudo rules and keys are applied",
                spec.name
            ),
        );
        if !groups.is_empty() {
            if truthy(field(node, "create_groups"), true) {
                for g in &groups {
                    ensure_group(boot, accounts.as_deref_mut(), g)?;
                }
            }
            match accounts.as_deref_mut() {
                Some(a) => {
                    for g in &groups {
                        a.add_member(g, &spec.name);
                    }
                }
                None => shadow_tool(
                    boot,
                    "usermod",
                    &[
                        "-a".into(),
                        "-G".into(),
                        groups.join(","),
                        spec.name.clone(),
                    ],
                )?,
            }
        }
    } else {
        if truthy(field(node, "create_groups"), true) {
            for g in &groups {
                ensure_group(boot, accounts.as_deref_mut(), g)?;
            }
        }
        if let Some(a) = accounts.as_deref_mut() {
            add_user_to_files(a, node, spec, &groups)?;
        } else {
            let mut args: Vec<String> = Vec::new();
            let opt = |name: &str| field(node, name).and_then(scalar_text);
            // Options in the order cloud-init adds them (sorted by key).
            let mut pairs: Vec<(&str, &str)> = vec![
                ("expiredate", "--expiredate"),
                ("gecos", "--comment"),
                ("homedir", "--home"),
                ("inactive", "--inactive"),
                ("passwd", "--password"),
                ("primary_group", "--gid"),
                ("selinux_user", "--selinux-user"),
                ("shell", "--shell"),
                ("uid", "--uid"),
            ];
            pairs.sort();
            for (k, flag) in pairs {
                if let Some(v) = opt(k) {
                    args.push(flag.into());
                    args.push(v);
                }
            }
            if spec.is_default && opt("shell").is_none() {
                args.push("--shell".into());
                args.push("/bin/bash".into());
            }
            if !groups.is_empty() {
                args.push("--groups".into());
                args.push(groups.join(","));
            }
            if truthy(field(node, "no_user_group"), false) {
                args.push("--no-user-group".into());
            }
            let system = truthy(field(node, "system"), false);
            if system {
                args.push("--system".into());
            }
            if truthy(field(node, "no_log_init"), false) {
                args.push("--no-log-init".into());
            }
            args.push(if system || truthy(field(node, "no_create_home"), false) {
                "-M".into()
            } else {
                "-m".into()
            });
            args.push(spec.name.clone());
            shadow_tool(boot, "useradd", &args)?;
        }
    }
    if let Some(hash) = field(node, "hashed_passwd").and_then(scalar_text) {
        match accounts.as_deref_mut() {
            Some(a) => a.set_password(&spec.name, &hash),
            None => shadow_tool(
                boot,
                "usermod",
                &["--password".into(), hash, spec.name.clone()],
            )?,
        }
    }
    if truthy(field(node, "lock_passwd"), true) {
        match accounts.as_deref_mut() {
            Some(a) => a.lock(&spec.name),
            None => shadow_tool(boot, "usermod", &["--lock".into(), spec.name.clone()])?,
        }
    }
    // Keys and file ownership below read the account files: write them first.
    if let Some(a) = accounts {
        a.save()?;
    }
    if let Some(sudo) = field(node, "sudo") {
        let rules = match &sudo.value {
            Value::Bool(false) => Vec::new(),
            _ => string_list(&key("sudo"), sudo, false)?,
        };
        if !rules.is_empty() {
            add_sudo_rules(boot, &spec.name, &rules)?;
        }
    } else if spec.is_default {
        add_sudo_rules(boot, &spec.name, &["ALL=(ALL) NOPASSWD:ALL".to_string()])?;
    }
    if let Some(keys) = field(node, "ssh_authorized_keys") {
        let keys = string_list(&key("ssh_authorized_keys"), keys, false)?;
        add_authorized_keys(boot, &spec.name, &keys, None)?;
    }
    Ok(())
}

/// The checks `useradd` makes on an entry, plus one for every value strap writes into a
/// line of its own (account files, sudoers, authorized_keys): no value may end its field
/// or line, so an entry never adds a line other than the one intended, and no name can
/// read as a tool's option.
fn check_user_entry(spec: &UserSpec, node: &Node, groups: &[String]) -> Result<(), ModuleError> {
    let invalid = |what: &str, message: String| ModuleError::Invalid {
        key: format!("users.{}.{what}", spec.name.escape_debug()),
        message,
    };
    super::accounts::check_name(&spec.name).map_err(|m| {
        invalid(
            "name",
            format!(
                "the user name {:?} {m}",
                spec.name.escape_debug().to_string()
            ),
        )
    })?;
    for g in groups {
        super::accounts::check_name(g)
            .map_err(|m| invalid("groups", format!("the group name {g:?} {m}")))?;
    }
    if let Some(g) = field(node, "primary_group").and_then(scalar_text) {
        super::accounts::check_name(&g)
            .map_err(|m| invalid("primary_group", format!("the group name {g:?} {m}")))?;
    }
    for what in [
        "gecos",
        "homedir",
        "shell",
        "passwd",
        "hashed_passwd",
        "selinux_user",
        "expiredate",
        "inactive",
        "uid",
    ] {
        if let Some(v) = field(node, what).and_then(scalar_text) {
            super::accounts::check_field(&v).map_err(|m| invalid(what, m))?;
            if v.starts_with('-') {
                return Err(invalid(
                    what,
                    "starts with `-`, which a tool would read as an option".into(),
                ));
            }
        }
    }
    if let Some(home) = field(node, "homedir").and_then(scalar_text) {
        if !home.starts_with('/') {
            return Err(invalid(
                "homedir",
                format!("`{home}` is not an absolute path"),
            ));
        }
    }
    let lines = |what: &str| -> Result<(), ModuleError> {
        let Some(n) = field(node, what) else {
            return Ok(());
        };
        if matches!(n.value, Value::Bool(_)) {
            return Ok(());
        }
        for (i, v) in string_list(&format!("users.{}.{what}", spec.name), n, false)?
            .iter()
            .enumerate()
        {
            if v.contains(['\n', '\r', '\0']) {
                return Err(invalid(
                    &format!("{what}.{i}"),
                    "holds a line break or NUL: each entry must be one line".into(),
                ));
            }
        }
        Ok(())
    };
    lines("sudo")?;
    lines("ssh_authorized_keys")
}

/// `useradd` through the account files (under `--root`).
fn add_user_to_files(
    a: &mut Accounts<'_>,
    node: &Node,
    spec: &UserSpec,
    groups: &[String],
) -> Result<(), ModuleError> {
    let opt = |name: &str| field(node, name).and_then(scalar_text);
    let key = |k: &str| format!("users.{}.{k}", spec.name);
    let uid = match opt("uid") {
        Some(u) => Some(u.parse::<u32>().map_err(|_| ModuleError::Invalid {
            key: key("uid"),
            message: format!("`{u}` is not a user id"),
        })?),
        None => None,
    };
    let gid = match opt("primary_group") {
        Some(g) => Some(a.add_group(&g)),
        None if truthy(field(node, "no_user_group"), false) => Some(100),
        None => None,
    };
    let home = opt("homedir").unwrap_or_else(|| format!("/home/{}", spec.name));
    let default_shell = if spec.is_default {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    let shell = opt("shell").unwrap_or_else(|| default_shell.to_string());
    let create_home =
        !(truthy(field(node, "system"), false) || truthy(field(node, "no_create_home"), false));
    a.add_user(
        &spec.name,
        uid,
        gid,
        &opt("gecos").unwrap_or_default(),
        &home,
        &shell,
        opt("passwd").as_deref(),
        create_home,
    )?;
    for g in groups {
        a.add_member(g, &spec.name);
    }
    Ok(())
}

fn add_sudo_rules(boot: &Boot<'_>, user: &str, rules: &[String]) -> Result<(), ModuleError> {
    let path = boot
        .ctx
        .path(SUDOERS_FILE)
        .map_err(|source| ModuleError::Path {
            path: SUDOERS_FILE.into(),
            source,
        })?;
    let mut text = super::system::read_path(boot.ctx, SUDOERS_FILE, &path)?
        .unwrap_or_else(|| "# Created by strap v. boot on first boot.\n".to_string());
    let mut changed = false;
    for rule in rules {
        super::one_line(&format!("users.{user}.sudo"), rule)?;
    }
    for rule in rules {
        let line = format!("{user} {rule}");
        if !text.lines().any(|l| l == line) {
            text.push_str(&format!("\n# User rules for {user}\n{line}\n"));
            changed = true;
        }
    }
    if changed {
        check_sudoers(boot, user, &text)?;
        crate::boot::durable::write(boot.ctx.root(), &path, text.as_bytes(), Some(0o440)).map_err(
            |source| ModuleError::Path {
                path: SUDOERS_FILE.into(),
                source,
            },
        )?;
    }
    Ok(())
}

/// How long `visudo -c` may take on the drop-in.
const VISUDO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Check the sudoers drop-in strap is about to write with `visudo -c` (read from its
/// stdin, so nothing is written first), where visudo exists: a rule sudo would refuse
/// makes sudo refuse the whole file, and every rule in it. Only visudo's own
/// `stdin:LINE:COLUMN: message` lines are quoted: it echoes the lines of files the
/// drop-in includes, which may be secret. Without visudo the file is written unchecked,
/// as cloud-init writes it.
fn check_sudoers(boot: &Boot<'_>, user: &str, text: &str) -> Result<(), ModuleError> {
    use std::io::Write as _;
    let path_var = boot.ctx.var("PATH");
    let Some(visudo) = crate::boot::exec::on_path(path_var.as_deref(), "visudo") else {
        boot.log.line(
            "DEBUG",
            "visudo not found: the sudoers drop-in is not checked",
        );
        return Ok(());
    };
    let rejected = |message: String| ModuleError::Invalid {
        key: format!("users.{user}.sudo"),
        message,
    };
    let mut child = std::process::Command::new(&visudo)
        .args(["-c", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| rejected(format!("cannot run {} -c: {e}", visudo.display())))?;
    let stdin = child.stdin.take();
    let stderr_pipe = child.stderr.take();
    let (status, stderr) = std::thread::scope(|scope| {
        // visudo's stderr is drained beside the wait, so a long one never blocks it.
        let drain = stderr_pipe.map(|mut pipe| {
            crate::threads::scoped(scope, "visudo-stderr", move || {
                use std::io::Read as _;
                let mut kept = Vec::new();
                let _ = pipe.by_ref().take(64 * 1024).read_to_end(&mut kept);
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
                kept
            })
        });
        if let Some(mut stdin) = stdin {
            // A visudo that stops reading early ends with its verdict; the write's
            // error is not the point.
            let _ = stdin.write_all(text.as_bytes());
        }
        let deadline = std::time::Instant::now() + VISUDO_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let stderr = match drain {
            Some(Ok(handle)) => handle.join().unwrap_or_default(),
            _ => Vec::new(),
        };
        (status, stderr)
    });
    let Some(status) = status else {
        return Err(rejected(format!(
            "visudo -c did not answer within {} s; the drop-in is not written",
            VISUDO_TIMEOUT.as_secs()
        )));
    };
    if status.success() {
        return Ok(());
    }
    let found: Vec<String> = String::from_utf8_lossy(&stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("stdin:"))
        .map(|l| format!("{}{l}", SUDOERS_FILE.to_owned() + ":"))
        .take(5)
        .collect();
    Err(rejected(format!(
        "visudo -c rejects the sudoers drop-in ({}); it is left as it was",
        if found.is_empty() {
            format!("{status}")
        } else {
            found.join("; ")
        }
    )))
}

/// Add keys to a user's `~/.ssh/authorized_keys` (existing lines kept), `prefix` before
/// each key (root's `disable_root_opts`).
pub fn add_authorized_keys(
    boot: &Boot<'_>,
    user: &str,
    keys: &[String],
    prefix: Option<&str>,
) -> Result<(), ModuleError> {
    if keys.is_empty() {
        return Ok(());
    }
    let account = lookup_user(boot.ctx, user).ok_or_else(|| ModuleError::Invalid {
        key: "ssh_authorized_keys".into(),
        message: format!("user `{user}` does not exist"),
    })?;
    let home = if account.home.is_empty() {
        format!("/home/{user}")
    } else {
        account.home.clone()
    };
    let ssh_dir_machine = PathBuf::from(&home).join(".ssh");
    let file_machine = ssh_dir_machine.join("authorized_keys");
    let shown = file_machine.display().to_string();
    let file = boot
        .ctx
        .path(&file_machine)
        .map_err(|source| ModuleError::Path {
            path: shown.clone(),
            source,
        })?;
    for key in keys {
        super::one_line(&format!("users.{user}.ssh_authorized_keys"), key)?;
    }
    if let Some(p) = prefix {
        super::one_line("disable_root_opts", p)?;
    }
    let mut text = super::system::read_path(boot.ctx, &shown, &file)?.unwrap_or_default();
    for key in keys {
        let line = match prefix {
            Some(p) => format!("{p} {}", key.trim()),
            None => key.trim().to_string(),
        };
        if !text.lines().any(|l| l == line) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
        }
    }
    // The folder and the file are the user's: owner and mode set on their handles, and
    // no link the user owns is followed on the way (see `context::beneath`).
    // An ordinary user (under --root) cannot give files away: they stay theirs.
    let owner = nix::unistd::geteuid()
        .is_root()
        .then_some((account.uid, account.gid));
    let as_path_error = |source| ModuleError::Path {
        path: shown.clone(),
        source,
    };
    if let Some(dir) = file.parent() {
        let opts = crate::context::FileOptions {
            mode: Some(0o700),
            owner,
        };
        let folder =
            crate::context::create_folder(boot.ctx.root(), dir, opts).map_err(as_path_error)?;
        if let Err(err) = folder.set_own_owner_mode(opts) {
            tracing::debug!("{err}");
        }
    }
    let opts = crate::context::FileOptions {
        mode: Some(0o600),
        owner,
    };
    crate::boot::durable::write_with(boot.ctx.root(), &file, text.as_bytes(), opts)
        .map_err(as_path_error)?;
    Ok(())
}

/// `ssh`: host keys (see [`host_keys`]), then the EC2 key pair and the top-level
/// `ssh_authorized_keys` for the default user, and for root behind `disable_root_opts`
/// when `disable_root` (the default).
pub fn ssh(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let host_keys = host_keys(boot)?;
    let outcome = authorized_keys(boot)?;
    match (outcome, host_keys) {
        (Outcome::Skipped(_), true) => Ok(Outcome::ran()),
        (other, _) => Ok(other),
    }
}

/// Host key types `ssh_keys` may supply (cloud-init 25's list: `dsa_*` entries are
/// skipped as unrecognized, as OpenSSH no longer loads DSA keys; 22.4 still wrote them).
const HOST_KEY_TYPES: [&str; 3] = ["rsa", "ecdsa", "ed25519"];

/// Host keys, on a new instance, where sshd is installed (the root has `/etc/ssh`):
/// `ssh_deletekeys` (default true) removes `/etc/ssh/ssh_host_*key*`; then either the keys
/// `ssh_keys` supplies are written ([`supplied_host_keys`]), or `ssh-keygen` makes one key
/// per `ssh_genkeytypes` (default rsa, ecdsa, ed25519). Returns whether keys were made.
fn host_keys(boot: &mut Boot<'_>) -> Result<bool, ModuleError> {
    let dir = boot
        .ctx
        .path("/etc/ssh")
        .map_err(|source| ModuleError::Path {
            path: "/etc/ssh".into(),
            source,
        })?;
    if !dir.is_dir() {
        return Ok(false);
    }
    if truthy(boot.cfg("ssh_deletekeys"), true) {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("ssh_host_") && name.contains("key") {
                    let _ = crate::context::remove_file(boot.ctx.root(), &e.path());
                }
            }
        }
    }
    if let Some(node) = boot.cfg("ssh_keys").cloned() {
        return supplied_host_keys(boot, &node);
    }
    let types = match boot.cfg("ssh_genkeytypes").cloned() {
        Some(node) => string_list("ssh_genkeytypes", &node, false)?,
        None => vec!["rsa".into(), "ecdsa".into(), "ed25519".into()],
    };
    let mut made = false;
    for t in types {
        let file = dir.join(format!("ssh_host_{t}_key"));
        if file.exists() {
            continue;
        }
        super::run_tool(
            "ssh-keygen",
            &[
                "-q".as_ref(),
                "-t".as_ref(),
                t.as_ref(),
                "-N".as_ref(),
                "".as_ref(),
                "-f".as_ref(),
                file.as_os_str(),
            ],
        )?;
        made = true;
    }
    Ok(made)
}

/// `ssh_keys`: `<type>_private`, `<type>_public` and `<type>_certificate` written to
/// `/etc/ssh/ssh_host_<type>_key`, `.pub` and `-cert.pub` (mode 0600, as cloud-init writes
/// them); a certificate becomes sshd's `HostCertificate`; a private key given without its
/// public key gets one from `ssh-keygen -y`. Other entries are skipped with a warning (the
/// `-sk` types as unsupported). No other key type is generated, as in cloud-init.
fn supplied_host_keys(boot: &mut Boot<'_>, node: &Node) -> Result<bool, ModuleError> {
    let entries = node
        .as_map()
        .ok_or_else(|| wrong_type("ssh_keys", "a mapping", node))?;
    let mut given: Vec<String> = Vec::new();
    for (k, v) in entries {
        let key = k.key_text();
        let known = key.rsplit_once('_').filter(|(t, kind)| {
            HOST_KEY_TYPES.contains(t) && ["private", "public", "certificate"].contains(kind)
        });
        let Some((key_type, kind)) = known else {
            let reason = if key.starts_with("ecdsa-sk_") || key.starts_with("ed25519-sk_") {
                "unsupported"
            } else {
                "unrecognized"
            };
            boot.warn(&format!("ssh: skipping {reason} ssh_keys entry `{key}`"));
            continue;
        };
        let text =
            scalar_text(v).ok_or_else(|| wrong_type(&format!("ssh_keys.{key}"), "a string", v))?;
        let file = match kind {
            "private" => format!("/etc/ssh/ssh_host_{key_type}_key"),
            "public" => format!("/etc/ssh/ssh_host_{key_type}_key.pub"),
            _ => format!("/etc/ssh/ssh_host_{key_type}_key-cert.pub"),
        };
        super::system::write(boot.ctx, &file, &text, 0o600)?;
        if kind == "certificate" {
            super::set_passwords::update_sshd_config(boot, "HostCertificate", &file)?;
        }
        given.push(key);
    }
    for key_type in HOST_KEY_TYPES {
        let has = |kind: &str| given.iter().any(|g| *g == format!("{key_type}_{kind}"));
        if !has("private") || has("public") {
            continue;
        }
        let private =
            super::system::root_path(boot.ctx, &format!("/etc/ssh/ssh_host_{key_type}_key"))?;
        let stdout = super::run_tool(
            "ssh-keygen",
            &["-y".as_ref(), "-f".as_ref(), private.as_os_str()],
        )?;
        let public = format!(
            "{} root@localhost\n",
            String::from_utf8_lossy(&stdout).trim()
        );
        super::system::write(
            boot.ctx,
            &format!("/etc/ssh/ssh_host_{key_type}_key.pub"),
            &public,
            0o644,
        )?;
    }
    Ok(!given.is_empty())
}

/// Authorized keys for the default user (and root behind `disable_root_opts`); also what
/// `strap apply` runs of `ssh` (host keys are per instance).
pub fn authorized_keys(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let mut keys = Vec::new();
    if let Some(node) = boot.cfg("ssh_authorized_keys").cloned() {
        keys.extend(string_list("ssh_authorized_keys", &node, false)?);
    }
    let disable_root = truthy(boot.cfg("disable_root"), true);
    // Without a default user the keys go to root only where root may log in with them
    // (`disable_root: false`). cloud-init would also write them to root's file behind a
    // command that refuses the login; strap leaves that out, and so does not fetch the
    // key pair for nobody.
    let user = match configured_default_user(boot) {
        Some(user) => user,
        None if !disable_root => "root".to_string(),
        None => {
            if !keys.is_empty() {
                boot.warn("ssh: ssh_authorized_keys given but there is no default user and disable_root is true; they were not installed");
            }
            return Ok(Outcome::Skipped(
                "no default user to receive the keys (and disable_root is true)".into(),
            ));
        }
    };
    if truthy(boot.cfg("allow_public_ssh_keys"), true) {
        if let Some(k) = boot.public_key() {
            keys.insert(0, k);
        }
    }
    if keys.is_empty() {
        return Ok(Outcome::Skipped(
            "no keys from metadata or cloud-config".into(),
        ));
    }
    add_authorized_keys(boot, &user, &keys, None)?;
    if user != "root" && disable_root && lookup_user(boot.ctx, "root").is_some() {
        let opts = boot
            .cfg("disable_root_opts")
            .and_then(scalar_text)
            .unwrap_or_else(|| {
                format!(
                    "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command=\"echo 'Please login as the user \\\"{user}\\\" rather than the user \\\"root\\\".';echo;sleep 10;exit 142\""
                )
            });
        add_authorized_keys(boot, "root", &keys, Some(&opts))?;
    }
    Ok(Outcome::ran())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names `user_items` gives, in order (`default` for a mapping without one).
    fn item_names(text: &str) -> Result<Vec<String>, String> {
        let cfg = crate::cloudconfig::load(text).unwrap();
        let users = cfg.get("users").unwrap();
        let items = user_items(users).map_err(|e| e.to_string())?;
        Ok(items
            .iter()
            .map(|i| match &i.value {
                Value::Str(s) => s.clone(),
                _ => field(i, "name")
                    .and_then(scalar_text)
                    .unwrap_or_else(|| "default".into()),
            })
            .collect())
    }

    const SHAPES: &[&str] = &[
        "users: [default, alice]\n",
        "users: 'alice, bob,,carol '\n",
        "users: ['alice,bob', [carol, 'dave, erin'], {name: frank, groups: x}, {gecos: g}]\n",
        "users: {alice: {groups: x}, bob: true, carol: false, dave: 'yes', erin: 1, fred: 2, gina: 'no', hal: 1.0, ian: ' On '}\n",
        "users: {alice: {name: other, shell: /bin/sh}}\n",
    ];

    #[test]
    fn a_mapping_of_users_names_them_by_key() {
        assert_eq!(
            item_names(SHAPES[3]).unwrap(),
            ["alice", "bob", "dave", "erin", "ian"]
        );
        assert_eq!(item_names(SHAPES[4]).unwrap(), ["alice"]);
        let err = item_names("users: {alice: [x]}\n").unwrap_err();
        assert!(err.contains("users.alice"), "{err}");
    }

    /// Both cloud-inits' `_normalize_users`, with a default user named `default` (it
    /// moves that one last: the names are compared sorted).
    #[test]
    fn user_shapes_agree_with_cloud_inits_normalize_users() {
        let script = r#"
import json, sys, yaml
from cloudinit.distros import ug_util
out = []
for text in json.load(sys.stdin):
    users = ug_util._normalize_users(yaml.safe_load(text)["users"], {"name": "default"})
    out.append(sorted(users.keys()))
print(json.dumps(out))
"#;
        let input = serde_json::to_string(SHAPES).unwrap();
        for (version, out) in crate::cloud_init_peers::oracles(script, &input) {
            let theirs: Vec<Vec<String>> = serde_json::from_str(&out).unwrap();
            for (text, want) in SHAPES.iter().zip(theirs) {
                let mut ours = item_names(text).unwrap();
                ours.sort();
                assert_eq!(ours, want, "cloud-init {version}: {text}");
            }
        }
    }
}
