//! The configuration-management hand-offs of the final stage, as cloud-init 25 runs them:
//! `salt_minion` (install the minion, write its `minion` and `grains` files and key
//! pair, then run it as a daemon or, masterless, once with `salt-call`) and `ansible`
//! (install ansible from the distro or pip, run `ansible-galaxy` actions, `ansible-pull`,
//! and the controller's clones and playbooks). Each module first computes its steps from
//! the config alone ([`salt_steps`], [`ansible_steps`]), so the steps can be compared
//! with cloud-init's; the files are written under the root, and the commands run only on
//! the real root (recorded under `--root`, as the other system modules do). A missing
//! tool is named with the package that provides it.

use crate::cloudconfig::{Node, Value};

pub mod chef;
pub mod puppet;

pub use chef::chef;
pub use puppet::puppet;

use super::super::context::Boot;
use super::super::os_release::{Family, OsRelease};
use super::{scalar_text, string_list, system, wrong_type, ModuleError, Outcome};

/// One step of a hand-off, in the order cloud-init takes them. Its `Debug` leaves out
/// the text of a secret file.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// Install packages with the distro's package manager.
    Install(Vec<String>),
    /// Install the first of `candidates` the package manager can install (at `version`
    /// when set); under `--root` the first is recorded.
    InstallOne {
        candidates: Vec<String>,
        version: Option<String>,
    },
    /// Create a folder (mode) under the root; with an owner (a user of the root, group
    /// `root`), its owner and mode are set when it exists already too.
    Folder {
        path: String,
        mode: u32,
        owner: Option<String>,
    },
    /// Write a file under the root; `secret` keeps its contents out of every record.
    Write {
        path: String,
        text: String,
        mode: u32,
        secret: bool,
        owner: Option<String>,
    },
    /// Move a file aside (`puppet.conf` to `puppet.conf.old`) when it exists.
    Rename { from: String, to: String },
    /// Remove a file under the root when it exists.
    Remove { path: String },
    /// A symbolic link `link` → `target` under the root.
    Link { target: String, link: String },
    /// Run a command on the machine (`cwd` when set).
    Run {
        argv: Vec<String>,
        cwd: Option<String>,
    },
    /// `systemctl ACTION UNIT` for the first of `units` that takes it (a warning when
    /// none does); under `--root` the first is recorded.
    Service { action: String, units: Vec<String> },
    /// Fetch an installer script with `curl` (`retries` times more on failure) into a
    /// private temporary folder as `name`, and run it with `args`.
    Installer {
        url: String,
        retries: u32,
        name: String,
        args: Vec<String>,
    },
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Install(p) => f.debug_tuple("Install").field(p).finish(),
            Step::InstallOne {
                candidates,
                version,
            } => f
                .debug_struct("InstallOne")
                .field("candidates", candidates)
                .field("version", version)
                .finish(),
            Step::Folder { path, mode, owner } => f
                .debug_struct("Folder")
                .field("path", path)
                .field("mode", &format_args!("{mode:o}"))
                .field("owner", owner)
                .finish(),
            Step::Write {
                path,
                text,
                mode,
                secret,
                owner,
            } => f
                .debug_struct("Write")
                .field("path", path)
                .field(
                    "text",
                    if *secret {
                        &"(secret)" as &dyn std::fmt::Debug
                    } else {
                        text
                    },
                )
                .field("mode", &format_args!("{mode:o}"))
                .field("owner", owner)
                .finish(),
            Step::Rename { from, to } => f
                .debug_struct("Rename")
                .field("from", from)
                .field("to", to)
                .finish(),
            Step::Remove { path } => f.debug_struct("Remove").field("path", path).finish(),
            Step::Link { target, link } => f
                .debug_struct("Link")
                .field("target", target)
                .field("link", link)
                .finish(),
            Step::Run { argv, cwd } => f
                .debug_struct("Run")
                .field("argv", argv)
                .field("cwd", cwd)
                .finish(),
            Step::Service { action, units } => f
                .debug_struct("Service")
                .field("action", action)
                .field("units", units)
                .finish(),
            Step::Installer {
                url,
                retries,
                name,
                args,
            } => f
                .debug_struct("Installer")
                .field("url", url)
                .field("retries", retries)
                .field("name", name)
                .field("args", args)
                .finish(),
        }
    }
}

/// `salt_minion`: the steps cloud-init 25's `cc_salt_minion` takes. `pki_exists` says
/// whether `<config_dir>/pki/minion` is a folder on the root (its default key folder;
/// else `<config_dir>/pki`).
pub fn salt_steps(cfg: &Node, pki_exists: impl Fn(&str) -> bool) -> Result<Vec<Step>, ModuleError> {
    if cfg.as_map().is_none() {
        return Err(wrong_type("salt_minion", "a mapping", cfg));
    }
    let text = |key: &str, default: &str| -> Result<String, ModuleError> {
        match cfg.get(key) {
            None
            | Some(Node {
                value: Value::Null, ..
            }) => Ok(default.to_string()),
            Some(n) => scalar_text(n)
                .ok_or_else(|| wrong_type(&format!("salt_minion.{key}"), "a string", n)),
        }
    };
    let pkg = text("pkg_name", "salt-minion")?;
    let conf_dir = text("config_dir", "/etc/salt")?;
    let service = text("service_name", "salt-minion")?;
    let mut steps = vec![
        Step::Install(vec![pkg]),
        Step::Folder {
            path: conf_dir.clone(),
            mode: 0o755,
            owner: None,
        },
    ];
    let conf = cfg.get("conf").filter(|n| !n.is_null());
    if let Some(conf) = conf {
        steps.push(Step::Write {
            path: format!("{conf_dir}/minion"),
            text: yaml_dump(&conf.to_json()),
            mode: 0o644,
            secret: false,
            owner: None,
        });
    }
    if let Some(grains) = cfg.get("grains") {
        steps.push(Step::Write {
            path: format!("{conf_dir}/grains"),
            text: yaml_dump(&grains.to_json()),
            mode: 0o644,
            secret: false,
            owner: None,
        });
    }
    if let (Some(public), Some(private)) = (cfg.get("public_key"), cfg.get("private_key")) {
        let default = format!("{conf_dir}/pki/minion");
        let default = if pki_exists(&default) {
            default
        } else {
            format!("{conf_dir}/pki")
        };
        let pki = text("pki_dir", &default)?;
        let key = |name: &str, node: &Node| {
            scalar_text(node)
                .ok_or_else(|| wrong_type(&format!("salt_minion.{name}"), "a string", node))
        };
        // cloud-init writes them under umask 077.
        steps.push(Step::Folder {
            path: pki.clone(),
            mode: 0o700,
            owner: None,
        });
        steps.push(Step::Write {
            path: format!("{pki}/minion.pub"),
            text: key("public_key", public)?,
            mode: 0o600,
            secret: false,
            owner: None,
        });
        steps.push(Step::Write {
            path: format!("{pki}/minion.pem"),
            text: key("private_key", private)?,
            mode: 0o600,
            secret: true,
            owner: None,
        });
    }
    let masterless = conf
        .and_then(|c| c.get("file_client"))
        .and_then(Node::as_str)
        == Some("local");
    let run = |argv: &[&str]| Step::Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: None,
    };
    if masterless {
        steps.push(run(&["systemctl", "disable", &service]));
        steps.push(run(&["systemctl", "stop", &service]));
        steps.push(run(&["salt-call", "--local", "state.apply"]));
    } else {
        steps.push(run(&["systemctl", "enable", &service]));
        steps.push(run(&["systemctl", "restart", &service]));
    }
    Ok(steps)
}

/// What ansible needs from the machine to plan its steps.
pub struct AnsibleMachine<'a> {
    /// Whether `ansible` is already installed (for the distro method: on PATH).
    pub installed: bool,
    /// The interpreter pip runs under (`python3`).
    pub python: &'a str,
    /// Whether that interpreter's stdlib is marked `EXTERNALLY-MANAGED` (PEP 668).
    pub externally_managed: bool,
    /// Whether pip is there for it (else the distro's pip package is installed first).
    pub has_pip: bool,
}

/// `ansible`: the steps cloud-init 25's `cc_ansible` takes (its version check of
/// `ansible-pull --version` aside). Commands for `run_user` go through `su - USER -c`.
pub fn ansible_steps(cfg: &Node, machine: &AnsibleMachine<'_>) -> Result<Vec<Step>, ModuleError> {
    if cfg.as_map().is_none_or(|m| m.is_empty()) {
        return Ok(Vec::new());
    }
    let invalid = |message: String| ModuleError::Invalid {
        key: "ansible".into(),
        message,
    };
    let text = |node: Option<&Node>, key: &str| -> Result<Option<String>, ModuleError> {
        match node {
            None
            | Some(Node {
                value: Value::Null, ..
            }) => Ok(None),
            Some(n) => scalar_text(n)
                .filter(|s| !s.is_empty())
                .map(Some)
                .ok_or_else(|| wrong_type(&format!("ansible.{key}"), "a string", n)),
        }
    };
    let method = text(cfg.get("install_method"), "install_method")?
        .ok_or_else(|| invalid("`install_method` is required (distro or pip)".into()))?;
    let package = text(cfg.get("package_name"), "package_name")?
        .ok_or_else(|| invalid("`package_name` is required".into()))?;
    let user = text(cfg.get("run_user"), "run_user")?;
    let pull = cfg.get("pull").filter(|n| !n.is_null());
    if let Some(pull) = pull {
        for key in ["url", "playbook_name"] {
            if text(pull.get(key), &format!("pull.{key}"))?.is_none() {
                return Err(invalid(format!("`pull.{key}` is required")));
            }
        }
    }
    let controller = cfg.get("setup_controller").filter(|n| !n.is_null());
    if let Some(c) = controller {
        let has = |k: &str| {
            c.get(k)
                .and_then(Node::as_seq)
                .is_some_and(|s| !s.is_empty())
        };
        if !has("repositories") && !has("run_ansible") {
            return Err(invalid(
                "`setup_controller` needs `repositories` or `run_ansible`".into(),
            ));
        }
    }
    let as_user = |argv: Vec<String>, cwd: Option<String>| -> Step {
        match &user {
            None => Step::Run { argv, cwd },
            Some(u) => {
                let dir = cwd.map(|d| format!("cd {d} && ")).unwrap_or_default();
                Step::Run {
                    argv: vec![
                        "su".into(),
                        "-".into(),
                        u.clone(),
                        "-c".into(),
                        format!("{dir}env PATH=$PATH {}", argv.join(" ")),
                    ],
                    cwd: None,
                }
            }
        }
    };
    let mut steps = Vec::new();
    match method.as_str() {
        "distro" => {
            if !machine.installed {
                steps.push(Step::Install(vec![package]));
            }
        }
        "pip" => {
            if !machine.has_pip {
                steps.push(Step::Install(vec!["python3-pip".into()]));
            }
            if !machine.installed {
                let mut pip: Vec<String> = [machine.python, "-m", "pip", "install"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if machine.externally_managed {
                    pip.push("--break-system-packages".into());
                }
                if user.is_some() {
                    pip.push("--user".into());
                }
                let mut upgrade = pip.clone();
                upgrade.extend(["--upgrade".to_string(), "pip".to_string()]);
                steps.push(as_user(upgrade, None));
                pip.push(package);
                steps.push(as_user(pip, None));
            }
        }
        other => {
            return Err(invalid(format!(
                "install_method `{other}` is neither distro nor pip"
            )))
        }
    }
    if let Some(galaxy) = cfg.get("galaxy").filter(|n| !n.is_null()) {
        for (i, action) in galaxy
            .get("actions")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let argv = string_list(&format!("ansible.galaxy.actions.{i}"), action, false)?;
            steps.push(as_user(argv, None));
        }
    }
    if let Some(pull) = pull {
        let mut argv = vec!["ansible-pull".to_string()];
        let mut playbook = String::new();
        for (k, v) in pull.as_map().unwrap_or_default() {
            let key = k.key_text();
            if key == "playbook_name" {
                playbook = scalar_text(v).unwrap_or_default();
                continue;
            }
            if let Some(arg) = flag(&key, v) {
                argv.push(arg);
            }
        }
        argv.push(playbook);
        steps.push(as_user(argv, None));
    }
    if let Some(c) = controller {
        for repo in c
            .get("repositories")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            let field = |k: &str| repo.get(k).and_then(scalar_text).unwrap_or_default();
            steps.push(as_user(
                vec!["git".into(), "clone".into(), field("source"), field("path")],
                None,
            ));
        }
        for run in c
            .get("run_ansible")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            let mut argv = vec!["ansible-playbook".to_string()];
            let mut dir = None;
            let mut name = String::new();
            let mut rest = Vec::new();
            for (k, v) in run.as_map().unwrap_or_default() {
                match k.key_text().as_str() {
                    "playbook_dir" => dir = scalar_text(v),
                    "playbook_name" => name = scalar_text(v).unwrap_or_default(),
                    key => {
                        // `ansible-playbook` takes every option with a value here.
                        if !matches!(v.value, Value::Bool(false)) {
                            rest.push(format!("--{}={}", key.replace('_', "-"), python_str(v)));
                        }
                    }
                }
            }
            argv.push(name);
            argv.extend(rest);
            steps.push(as_user(argv, dir));
        }
    }
    Ok(steps)
}

/// `--key=value` as cloud-init builds it: `_` becomes `-`, `true` is a bare flag, `false`
/// is left out.
fn flag(key: &str, value: &Node) -> Option<String> {
    let key = key.replace('_', "-");
    match value.value {
        Value::Bool(false) => None,
        Value::Bool(true) => Some(format!("--{key}")),
        _ => Some(format!("--{key}={}", python_str(value))),
    }
}

/// A value as Python's `str()` prints it in an f-string (scalars as written).
fn python_str(node: &Node) -> String {
    match &node.value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        _ => scalar_text(node).unwrap_or_else(|| node.to_python_repr()),
    }
}

/// A YAML document of `value`, in block style, with `---` and `...` as cloud-init's
/// `safeyaml.dumps` frames it. Strings are double-quoted (JSON escapes are YAML
/// escapes), so any string reads back as itself.
pub fn yaml_dump(value: &serde_json::Value) -> String {
    let mut out = String::from("---\n");
    emit(value, 0, &mut out);
    out.push_str("...\n");
    out
}

fn scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(s.clone()).to_string(),
        serde_json::Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn emit(value: &serde_json::Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = scalar(&serde_json::Value::String(k.clone()));
                match v {
                    serde_json::Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        emit(v, indent + 4, out);
                    }
                    serde_json::Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        emit(v, indent + 4, out);
                    }
                    _ => out.push_str(&format!("{pad}{key}: {}\n", flow(v))),
                }
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for item in items {
                match item {
                    serde_json::Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}-\n"));
                        emit(item, indent + 4, out);
                    }
                    serde_json::Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}-\n"));
                        emit(item, indent + 4, out);
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", flow(item))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", flow(other))),
    }
}

/// An empty collection or a scalar, on one line.
fn flow(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(_) => "{}".into(),
        serde_json::Value::Array(_) => "[]".into(),
        other => scalar(other),
    }
}

/// Carry out the steps: files under the root, commands on the real root (recorded under
/// `--root`). Answers the report lines.
fn carry_out(
    boot: &mut Boot<'_>,
    module: &str,
    steps: &[Step],
) -> Result<Vec<String>, ModuleError> {
    let family = OsRelease::load(boot.ctx).family();
    let mut tail = Vec::new();
    for step in steps {
        match step {
            Step::Install(packages) => {
                let argv = install_argv(boot, module, family, packages)?;
                tail.extend(system::run_or_record(boot, module, &argv, None)?);
            }
            Step::InstallOne {
                candidates,
                version,
            } => tail.extend(install_one(boot, module, family, candidates, version)?),
            Step::Folder { path, mode, owner } => {
                let real = system::root_path(boot.ctx, path)?;
                let as_path_error = |source| ModuleError::Path {
                    path: path.into(),
                    source,
                };
                let ids = owner_ids(boot, owner.as_deref());
                let opts = crate::context::FileOptions {
                    mode: Some(*mode),
                    owner: ids,
                };
                let folder = crate::context::create_folder(boot.ctx.root(), &real, opts)
                    .map_err(as_path_error)?;
                if owner.is_some() {
                    folder.set_own_owner_mode(opts).map_err(as_path_error)?;
                }
            }
            Step::Write {
                path,
                text,
                mode,
                owner,
                ..
            } => {
                match owner_ids(boot, owner.as_deref()) {
                    None => system::write(boot.ctx, path, text, *mode)?,
                    Some(ids) => {
                        let real = system::root_path(boot.ctx, path)?;
                        let opts = crate::context::FileOptions {
                            mode: Some(*mode),
                            owner: Some(ids),
                        };
                        crate::boot::durable::write_with(
                            boot.ctx.root(),
                            &real,
                            text.as_bytes(),
                            opts,
                        )
                        .map_err(|source| ModuleError::Path {
                            path: path.into(),
                            source,
                        })?;
                    }
                }
                tail.push(format!("wrote {path}"));
            }
            Step::Rename { from, to } => {
                let from_real = system::root_path(boot.ctx, from)?;
                let to_real = system::root_path(boot.ctx, to)?;
                if from_real.is_file() {
                    std::fs::rename(&from_real, &to_real).map_err(|source| ModuleError::Io {
                        op: "rename",
                        path: from_real.clone(),
                        source,
                    })?;
                    tail.push(format!("kept the previous {from} as {to}"));
                }
            }
            Step::Remove { path } => {
                if system::remove(boot.ctx, path)? {
                    tail.push(format!("removed {path}"));
                }
            }
            Step::Link { target, link } => {
                let real = system::root_path(boot.ctx, link)?;
                crate::context::replace_symlink(
                    boot.ctx.root(),
                    &real,
                    std::path::Path::new(target),
                )
                .map_err(|source| ModuleError::Path {
                    path: link.into(),
                    source,
                })?;
            }
            Step::Run { argv, cwd } => {
                let program = argv.first().map(String::as_str).unwrap_or_default();
                missing(boot, module, family, program)?;
                let line = match cwd {
                    Some(dir) if boot.on_real_root() => {
                        let mut wrapped = vec![
                            "sh".to_string(),
                            "-c".to_string(),
                            "cd \"$1\" && shift && exec \"$@\"".to_string(),
                            "sh".to_string(),
                            dir.clone(),
                        ];
                        wrapped.extend(argv.iter().cloned());
                        system::run_or_record(boot, module, &wrapped, None)?
                    }
                    Some(dir) => {
                        let mut shown = vec![format!("(in {dir})")];
                        shown.extend(argv.iter().cloned());
                        system::run_or_record(boot, module, &shown, None)?
                    }
                    None => system::run_or_record(boot, module, argv, None)?,
                };
                tail.extend(line);
            }
            Step::Service { action, units } => {
                if !boot.on_real_root() {
                    if let Some(unit) = units.first() {
                        let argv = ["systemctl", action, unit].map(String::from);
                        tail.extend(system::run_or_record(boot, module, &argv, None)?);
                    }
                    continue;
                }
                missing(boot, module, family, "systemctl")?;
                let done = units.iter().any(|unit| {
                    let argv = ["systemctl", action, unit].map(String::from);
                    system::run_or_record(boot, module, &argv, None).is_ok()
                });
                if !done {
                    let message = format!(
                        "{module}: could not {action} any of the units {}",
                        units.join(", ")
                    );
                    boot.warn(&message);
                    tail.push(message);
                }
            }
            Step::Installer {
                url,
                retries,
                name,
                args,
            } => tail.extend(run_installer(
                boot, module, family, url, *retries, name, args,
            )?),
        }
    }
    Ok(tail)
}

/// The package manager's command line for `packages`, or the error naming them.
fn install_argv(
    boot: &Boot<'_>,
    module: &str,
    family: Family,
    packages: &[String],
) -> Result<Vec<String>, ModuleError> {
    system::install_command(boot, family, packages).ok_or_else(|| ModuleError::Invalid {
        key: module.into(),
        message: format!(
            "strap does not know this distro's package manager; install {} first (e.g. in the image)",
            packages.join(" ")
        ),
    })
}

/// A package at a version, as the family's package manager spells it.
fn versioned(family: Family, name: &str, version: Option<&str>) -> String {
    match (version, family) {
        (None, _) => name.to_string(),
        (Some(v), Family::Rhel) => format!("{name}-{v}"),
        (Some(v), _) => format!("{name}={v}"),
    }
}

/// [`Step::InstallOne`]: the first candidate that installs.
fn install_one(
    boot: &Boot<'_>,
    module: &str,
    family: Family,
    candidates: &[String],
    version: &Option<String>,
) -> Result<Vec<String>, ModuleError> {
    let mut last = None;
    for name in candidates {
        let package = versioned(family, name, version.as_deref());
        let argv = install_argv(boot, module, family, std::slice::from_ref(&package))?;
        match system::run_or_record(boot, module, &argv, None) {
            Ok(line) => return Ok(line.into_iter().collect()),
            Err(err) => {
                boot.log.line(
                    "WARNING",
                    &format!("{module}: {package} did not install; trying the next"),
                );
                last = Some(err);
            }
        }
    }
    Err(ModuleError::Invalid {
        key: module.into(),
        message: match last {
            Some(err) => format!(
                "none of the packages {} installs (the last: {err}); install one first (e.g. in the image)",
                candidates.join(", ")
            ),
            None => "no package to install".into(),
        },
    })
}

/// [`Step::Installer`]: `curl` the script into a private folder of `/var/tmp`, run it,
/// remove the folder.
fn run_installer(
    boot: &Boot<'_>,
    module: &str,
    family: Family,
    url: &str,
    retries: u32,
    name: &str,
    args: &[String],
) -> Result<Vec<String>, ModuleError> {
    let fetch = |script: &str| -> Vec<String> {
        [
            "curl",
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--retry",
            &retries.to_string(),
            "--output",
            script,
            url,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |script: &str| -> Vec<String> {
        std::iter::once(script.to_string())
            .chain(args.iter().cloned())
            .collect()
    };
    if !boot.on_real_root() {
        let script = format!("/var/tmp/strap-{module}-XXXX/{name}");
        let mut tail = Vec::new();
        tail.extend(system::run_or_record(boot, module, &fetch(&script), None)?);
        tail.extend(system::run_or_record(boot, module, &run(&script), None)?);
        return Ok(tail);
    }
    missing(boot, module, family, "curl")?;
    let dir = std::path::PathBuf::from(format!(
        "/var/tmp/strap-{module}-{:016x}",
        rand::random::<u64>()
    ));
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|source| ModuleError::Io {
                op: "create",
                path: dir.clone(),
                source,
            })?;
    }
    let script = dir.join(name).to_string_lossy().into_owned();
    let result = (|| {
        system::run_or_record(boot, module, &fetch(&script), None)?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).map_err(
                |source| ModuleError::Io {
                    op: "make executable",
                    path: script.clone().into(),
                    source,
                },
            )?;
        }
        system::run_or_record(boot, module, &run(&script), None)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|_| vec![format!("ran the installer from {url}")])
}

/// The ids of `user` and group `root` in the root's account files, when strap may give
/// files away (running as root); `None` (and a line in the log) otherwise.
fn owner_ids(boot: &Boot<'_>, user: Option<&str>) -> Option<(u32, u32)> {
    let user = user?;
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let account = super::users::lookup_user(boot.ctx, user);
    let group = super::users::lookup_group(boot.ctx, "root");
    match (account, group) {
        (Some(a), Some(g)) => Some((a.uid, g.gid)),
        _ => {
            boot.log.line(
                "INFO",
                &format!("user {user} or group root does not exist: owner left alone"),
            );
            None
        }
    }
}

/// On the real root, the error naming the package to install when `program` is missing.
fn missing(
    boot: &Boot<'_>,
    module: &str,
    family: Family,
    program: &str,
) -> Result<(), ModuleError> {
    if !boot.on_real_root() || program_found(boot, program) {
        return Ok(());
    }
    Err(ModuleError::Invalid {
        key: module.into(),
        message: format!(
            "`{program}` is not installed{}",
            provider(program, family)
                .map(|p| format!("; install the package {p}"))
                .unwrap_or_default()
        ),
    })
}

fn program_found(boot: &Boot<'_>, program: &str) -> bool {
    if program.starts_with('/') {
        return system::installed(boot.ctx, program);
    }
    let path = boot.ctx.var("PATH");
    super::super::exec::on_path(path.as_deref(), program).is_some()
}

/// The package that provides a program the hand-offs run.
fn provider(program: &str, family: Family) -> Option<&'static str> {
    Some(match (program, family) {
        ("salt-call", _) => "salt-minion",
        ("ansible-pull" | "ansible-playbook" | "ansible-galaxy", Family::Rhel) => "ansible-core",
        ("ansible-pull" | "ansible-playbook" | "ansible-galaxy", _) => "ansible",
        ("git", _) => "git",
        ("su", Family::Rhel) => "util-linux",
        ("su", _) => "util-linux (login on older releases)",
        ("python3", _) => "python3-pip",
        ("curl", _) => "curl",
        ("systemctl", _) => "systemd",
        ("puppet" | "/opt/puppetlabs/bin/puppet", _) => {
            "puppet-agent (or set `puppet.install: true`)"
        }
        ("/usr/bin/chef-client", _) => "chef (or set `chef.install_type: omnibus`)",
        ("/usr/bin/gem", Family::Rhel) => "rubygems",
        ("/usr/bin/gem", _) => "ruby",
        _ => return None,
    })
}

/// `salt_minion`.
pub fn salt_minion(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(cfg) = boot.cfg("salt_minion").cloned() else {
        return Ok(Outcome::Skipped("no `salt_minion` in cloud-config".into()));
    };
    let ctx = boot.ctx;
    let steps = salt_steps(&cfg, |dir| {
        ctx.path(dir).map(|p| p.is_dir()).unwrap_or(false)
    })?;
    let tail = carry_out(boot, "salt_minion", &steps)?;
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

/// `ansible`.
pub fn ansible(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(cfg) = boot.cfg("ansible").cloned() else {
        return Ok(Outcome::Skipped("no `ansible` in cloud-config".into()));
    };
    let user = cfg.get("run_user").and_then(scalar_text);
    let installed = system::installed(boot.ctx, "ansible")
        || user
            .as_deref()
            .is_some_and(|u| system::installed(boot.ctx, &format!("/home/{u}/.local/bin/ansible")));
    let externally_managed = boot
        .ctx
        .path("/usr/lib")
        .ok()
        .and_then(|lib| std::fs::read_dir(lib).ok())
        .is_some_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("python3.")
                    && e.path().join("EXTERNALLY-MANAGED").is_file()
            })
        });
    let has_pip = [
        "/usr/lib/python3/dist-packages/pip",
        "/usr/lib/python3/site-packages/pip",
    ]
    .iter()
    .any(|p| boot.ctx.path(p).is_ok_and(|p| p.is_dir()));
    let machine = AnsibleMachine {
        installed,
        python: "python3",
        externally_managed,
        has_pip,
    };
    let steps = ansible_steps(&cfg, &machine)?;
    if steps.is_empty() {
        return Ok(Outcome::Skipped("`ansible` is empty".into()));
    }
    let tail = carry_out(boot, "ansible", &steps)?;
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

#[cfg(test)]
mod tests;

/// What the puppet and chef oracle scripts share, put before each: `calls`, the
/// recording of commands (`record_run`, with the private temp folder's `/TMP/` prefix
/// dropped from the program), of file writes outside it (`write`) and a `TempDir` that
/// makes no folder.
#[cfg(test)]
fn oracle_script(script: &str) -> String {
    const RECORDERS: &str = r#"
calls = []
def record_run(argv):
    argv = list(argv)
    if argv[0].startswith("/TMP/"):
        argv[0] = argv[0][len("/TMP/"):]
    calls.append(["run", argv])
    return ("", "")
class TempDir:
    def __init__(self, *a, **k): pass
    def __enter__(self): return "/TMP"
    def __exit__(self, *a): return False
def write(p, c, *a, **k):
    if not p.startswith("/TMP/"):
        calls.append(["write", p, c.decode() if isinstance(c, bytes) else c])
"#;
    format!("{RECORDERS}{script}")
}

/// The steps every module's oracle test compares in the same shape as the fake
/// `subp`, file writes and downloads of cloud-init's `handle()` record them:
/// `["dir", path]`, `["write", path, text]`, `["run", argv]`, `["fetch", url, retries]`…
/// `None` for a step whose shape is the module's own (installs).
#[cfg(test)]
fn oracle_shape(step: &Step) -> Option<Vec<serde_json::Value>> {
    use serde_json::json;
    Some(match step {
        Step::Folder { path, .. } => vec![json!(["dir", path])],
        Step::Write { path, text, .. } => vec![json!(["write", path, text])],
        Step::Rename { from, to } => vec![json!(["rename", from, to])],
        Step::Link { target, link } => vec![json!(["link", target, link])],
        Step::Remove { path } => vec![json!(["remove", path])],
        Step::Run { argv, .. } => vec![json!(["run", argv])],
        Step::Service { action, units } => {
            vec![json!(["run", ["systemctl", action, units.first()]])]
        }
        Step::Installer {
            url,
            retries,
            name,
            args,
        } => {
            let mut argv = vec![name.clone()];
            argv.extend(args.iter().cloned());
            vec![json!(["fetch", url, retries]), json!(["run", argv])]
        }
        _ => return None,
    })
}
