//! `package_update_upgrade_install`: `package_update` (or Amazon's `repo_update`),
//! `package_upgrade` (or Amazon's `repo_upgrade`: `none`, `security`, `bugfix` or `all`,
//! with `repo_upgrade_exclude`, as yum's and dnf's `--security`, `--bugfix` and
//! `--exclude=`), then `packages`, with whichever manager the
//! machine has (apt-get, dnf, yum, apk, zypper) and cloud-init's flags. Under a
//! `--root` other than `/` nothing is installed: the module says what would be run and
//! skips, unless `STRAP_PACKAGE_MANAGER` names a program to run instead. With apt, as in
//! cloud-init 25, the packages apt does not know (`apt-cache pkgnames`, beside the
//! manager) are left out of the install, which installs the others, and the module then
//! fails naming them (cloud-init 22.4 and strap before failed the whole install).

use std::ffi::OsString;

use crate::cloudconfig::{Node, Value};

use super::super::context::Boot;
use super::super::exec::{self, ScriptSpec};
use super::consume::describe;
use super::{scalar_text, truthy, wrong_type, ModuleError, Outcome};

/// A package manager program to use instead of the detected one (also under `--root`);
/// its flags follow its name (`apt-get` style unless the name says dnf, yum, apk or
/// zypper).
pub const ENV_PACKAGE_MANAGER: &str = "STRAP_PACKAGE_MANAGER";

/// The package managers strap knows, in the order they are looked for.
const MANAGERS: &[&str] = &["apt-get", "dnf", "yum", "apk", "zypper"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Apt,
    Dnf,
    Yum,
    Apk,
    Zypper,
}

fn kind_of(program: &str) -> Kind {
    let base = program.rsplit('/').next().unwrap_or(program);
    if base.contains("dnf") {
        Kind::Dnf
    } else if base.contains("yum") {
        Kind::Yum
    } else if base.contains("apk") {
        Kind::Apk
    } else if base.contains("zypper") {
        Kind::Zypper
    } else {
        Kind::Apt
    }
}

fn command(program: &str, kind: Kind, action: &str, pkgs: &[String]) -> Vec<String> {
    let mut argv = vec![program.to_string()];
    let (verb, extra): (&str, Vec<&str>) = match (kind, action) {
        (Kind::Apt, a) => (
            match a {
                "update" => "update",
                "upgrade" => "dist-upgrade",
                "remove" => "remove",
                _ => "install",
            },
            vec![
                "--option=Dpkg::Options::=--force-confold",
                "--option=Dpkg::options::=--force-unsafe-io",
                "--assume-yes",
                "--quiet",
            ],
        ),
        (Kind::Dnf, a) | (Kind::Yum, a) => (
            match a {
                "update" => "makecache",
                "upgrade" => "upgrade",
                "remove" => "remove",
                _ => "install",
            },
            if kind == Kind::Yum {
                vec!["-t", "-y"]
            } else {
                vec!["-y"]
            },
        ),
        (Kind::Apk, a) => (
            match a {
                "update" => "update",
                "upgrade" => "upgrade",
                "remove" => "del",
                _ => "add",
            },
            vec![],
        ),
        (Kind::Zypper, a) => (
            match a {
                "update" => "refresh",
                "upgrade" => "update",
                "remove" => "remove",
                _ => "install",
            },
            vec!["--non-interactive"],
        ),
    };
    argv.extend(extra.into_iter().map(str::to_string));
    argv.push(verb.to_string());
    argv.extend(pkgs.iter().cloned());
    argv
}

/// `packages` items as `name`, `name=version` (apt, apk, zypper) or `name-version` (dnf, yum).
fn package_names(boot: &Boot<'_>, kind: Kind) -> Result<Vec<String>, ModuleError> {
    let Some(node) = boot.cfg("packages") else {
        return Ok(Vec::new());
    };
    let items = node
        .as_seq()
        .ok_or_else(|| wrong_type("packages", "a list of packages", node))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        out.extend(names_of(i, item, kind)?);
    }
    Ok(out)
}

/// The names one `packages` item gives (a name, a `[name, version]` pair, or the
/// manager family's list of a `{apt: [...], snap: [...]}` mapping).
fn names_of(i: usize, item: &Node, kind: Kind) -> Result<Vec<String>, ModuleError> {
    let sep = if matches!(kind, Kind::Dnf | Kind::Yum) {
        "-"
    } else {
        "="
    };
    Ok(match &item.value {
        Value::Seq(pair) if pair.len() == 2 => {
            let name = scalar_text(&pair[0]).unwrap_or_default();
            let version = scalar_text(&pair[1]).unwrap_or_default();
            vec![format!("{name}{sep}{version}")]
        }
        Value::Map(_) => {
            let key = if kind == Kind::Apt { "apt" } else { "dnf" };
            item.get(key)
                .and_then(|n| n.as_seq())
                .map(|list| list.iter().filter_map(scalar_text).collect())
                .unwrap_or_default()
        }
        _ => vec![scalar_text(item)
            .ok_or_else(|| wrong_type(&format!("packages.{i}"), "a package name", item))?],
    })
}

/// The package manager: `STRAP_PACKAGE_MANAGER`, else the first of [`MANAGERS`] on
/// `PATH`, else apt-get; and whether it was injected.
fn manager(boot: &Boot<'_>) -> (String, Kind, bool) {
    let injected = boot.ctx.var(ENV_PACKAGE_MANAGER).filter(|s| !s.is_empty());
    let program = match &injected {
        Some(p) => p.clone(),
        None => {
            let path_var = boot.ctx.var("PATH");
            MANAGERS
                .iter()
                .find(|m| exec::on_path(path_var.as_deref(), m).is_some())
                .map(|m| (*m).to_string())
                .unwrap_or_else(|| "apt-get".into())
        }
    };
    let kind = kind_of(&program);
    (program, kind, injected.is_some())
}

/// The packages the config declares, as the module would install them.
pub fn planned_packages(boot: &Boot<'_>) -> Result<Vec<String>, ModuleError> {
    let (_, kind, _) = manager(boot);
    package_names(boot, kind)
}

/// The names one `packages` item gives, as [`planned_packages`] spells them (none for
/// an item that is not valid).
pub fn item_names(boot: &Boot<'_>, item: &Node) -> Vec<String> {
    let (_, kind, _) = manager(boot);
    names_of(0, item, kind).unwrap_or_default()
}

/// The packages dpkg says are installed in the root (none without dpkg's status file).
pub fn installed(ctx: &crate::context::Context) -> std::collections::BTreeSet<String> {
    let Some(text) = super::system::read_opt(ctx, "/var/lib/dpkg/status")
        .ok()
        .flatten()
    else {
        return Default::default();
    };
    text.split("\n\n")
        .filter(|stanza| {
            stanza
                .lines()
                .any(|l| l.starts_with("Status:") && l.ends_with(" installed"))
        })
        .filter_map(|stanza| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix("Package: "))
                .map(str::to_string)
        })
        .collect()
}

/// Remove packages strap installed (`strap apply --prune`), with the module's manager;
/// under `--root` without `STRAP_PACKAGE_MANAGER` only recorded.
pub fn remove(boot: &mut Boot<'_>, pkgs: &[String]) -> Result<Outcome, ModuleError> {
    let (program, kind, injected) = manager(boot);
    let names: Vec<String> = pkgs
        .iter()
        .map(|p| p.split('=').next().unwrap_or(p).to_string())
        .collect();
    run_steps(
        boot,
        injected,
        vec![command(&program, kind, "remove", &names)],
        None,
    )
}

/// The `apt-cache` that goes with an apt program: beside it when it is a path.
fn apt_cache_of(program: &str) -> String {
    match program.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/apt-cache"),
        None => "apt-cache".into(),
    }
}

/// The name apt looks a `packages` entry up by: without `=version`, a `/release`, and a
/// trailing `-` (do not install) or `^` (a task), as cloud-init 25 strips them.
fn apt_lookup_name(entry: &str) -> &str {
    let name = entry.split('=').next().unwrap_or(entry);
    let name = name.split('/').next().unwrap_or(name);
    name.trim_end_matches(['-', '^'])
}

/// Splits `pkgs` into those apt knows and those it does not, by `apt-cache pkgnames`;
/// everything is known when that cannot be asked.
fn apt_known(program: &str, pkgs: &[String]) -> (Vec<String>, Vec<String>) {
    let Ok(out) = super::run_tool(&apt_cache_of(program), &["pkgnames".as_ref()]) else {
        return (pkgs.to_vec(), Vec::new());
    };
    let text = String::from_utf8_lossy(&out);
    let names: std::collections::HashSet<&str> = text.lines().map(str::trim).collect();
    pkgs.iter()
        .cloned()
        .partition(|p| names.contains(apt_lookup_name(p)))
}

/// What Amazon Linux's `repo_upgrade` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoUpgrade {
    /// `none` (or false): no upgrade.
    No,
    /// `all` (or true): every update.
    All,
    /// `security` or `bugfix`: yum's and dnf's option for those updates only.
    Level(&'static str),
}

/// Read `repo_upgrade`: `none`, `security`, `bugfix`, `all`, or a boolean.
pub fn repo_upgrade(node: &Node) -> Result<RepoUpgrade, String> {
    match &node.value {
        Value::Bool(true) => return Ok(RepoUpgrade::All),
        Value::Bool(false) | Value::Null => return Ok(RepoUpgrade::No),
        _ => {}
    }
    let text = scalar_text(node).unwrap_or_default();
    match text.trim().to_lowercase().as_str() {
        "none" | "false" | "off" | "no" => Ok(RepoUpgrade::No),
        "all" | "true" => Ok(RepoUpgrade::All),
        "security" => Ok(RepoUpgrade::Level("--security")),
        "bugfix" => Ok(RepoUpgrade::Level("--bugfix")),
        _ => Err(format!(
            "`{text}` is not one of none, security, bugfix, all"
        )),
    }
}

/// `package_update_upgrade_install`.
pub fn packages(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let update = truthy(boot.cfg("package_update"), false)
        || truthy(boot.cfg("apt_update"), false)
        || truthy(boot.cfg("repo_update"), false);
    let full_upgrade =
        truthy(boot.cfg("package_upgrade"), false) || truthy(boot.cfg("apt_upgrade"), false);
    let upgrade = if full_upgrade {
        RepoUpgrade::All
    } else {
        match boot.cfg("repo_upgrade").map(repo_upgrade).transpose() {
            Ok(level) => level.unwrap_or(RepoUpgrade::No),
            Err(message) => {
                boot.warn(&format!("repo_upgrade: {message}; no upgrade"));
                RepoUpgrade::No
            }
        }
    };
    let excluded = match boot.cfg("repo_upgrade_exclude") {
        None => Vec::new(),
        Some(n) => super::string_list("repo_upgrade_exclude", n, false)?,
    };
    let (program, kind, injected) = manager(boot);
    let pkgs = package_names(boot, kind)?;
    if !update && upgrade == RepoUpgrade::No && pkgs.is_empty() {
        return Ok(Outcome::Skipped(
            "no package_update, package_upgrade or packages".into(),
        ));
    }
    let mut steps = Vec::new();
    // Installing implies refreshing the index first, as cloud-init does.
    if update || !pkgs.is_empty() {
        steps.push(command(&program, kind, "update", &[]));
    }
    if upgrade != RepoUpgrade::No {
        let mut step = command(&program, kind, "upgrade", &[]);
        // Amazon Linux's levels and exclusions are yum's and dnf's options.
        if matches!(kind, Kind::Dnf | Kind::Yum) {
            if let RepoUpgrade::Level(flag) = upgrade {
                step.push(flag.into());
            }
            if !full_upgrade {
                step.extend(excluded.iter().map(|p| format!("--exclude={p}")));
            }
        }
        steps.push(step);
    }
    // apt's install comes last, once the index is fresh, with the names it knows.
    let mut apt_install = None;
    if !pkgs.is_empty() {
        if kind == Kind::Apt {
            apt_install = Some((program.clone(), pkgs));
        } else {
            steps.push(command(&program, kind, "install", &pkgs));
        }
    }
    run_steps(boot, injected, steps, apt_install)
}

/// Run package manager steps, then apt's install of the packages it knows, if any (or,
/// under `--root` without an injected manager, say what would run and skip).
fn run_steps(
    boot: &mut Boot<'_>,
    injected: bool,
    mut steps: Vec<Vec<String>>,
    apt_install: Option<(String, Vec<String>)>,
) -> Result<Outcome, ModuleError> {
    if !injected && !boot.on_real_root() {
        if let Some((program, pkgs)) = &apt_install {
            steps.push(command(program, Kind::Apt, "install", pkgs));
        }
        let plan: Vec<String> = steps.iter().map(|s| s.join(" ")).collect();
        for line in &plan {
            boot.out.message(&format!(
                "packages: would run `{line}` (not run under --root)"
            ));
        }
        return Ok(Outcome::Skipped(format!(
            "under --root {}: would run {}",
            boot.ctx.root().display(),
            plan.join("; ")
        )));
    }
    let mut env = boot.script_env();
    env.push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
    let mut failures = Vec::new();
    let mut last_tail = Vec::new();
    let mut attempted = steps.len();
    let mut steps: Vec<Option<Vec<String>>> = steps.into_iter().map(Some).collect();
    // The install is decided after the steps before it (the index update) have run.
    if apt_install.is_some() {
        attempted += 1;
        steps.push(None);
    }
    for step in steps {
        let step = match step {
            Some(step) => step,
            None => {
                let Some((program, pkgs)) = &apt_install else {
                    continue;
                };
                let (known, unknown) = apt_known(program, pkgs);
                if !unknown.is_empty() {
                    failures.push(format!(
                        "apt does not know {} (left out of the install)",
                        unknown.join(", ")
                    ));
                }
                if known.is_empty() {
                    continue;
                }
                command(program, Kind::Apt, "install", &known)
            }
        };
        let shown = step.join(" ");
        let spec = ScriptSpec {
            label: "packages".into(),
            path: step[0].clone().into(),
            interpreter: None,
            env: env.clone(),
            cwd: boot.ctx.root().to_path_buf(),
            timeout: boot.opts.part_timeout,
            group_record: Some(boot.paths.running_part()),
        };
        let argv: Vec<OsString> = step.iter().map(OsString::from).collect();
        match exec::run_command(&spec, &argv, &boot.out) {
            Ok(o) if o.success() => last_tail = o.tail,
            Ok(o) => {
                failures.push(format!("`{shown}` ({})", describe(&o)));
                last_tail = o.tail;
            }
            Err(e) => failures.push(format!("`{shown}` ({e})")),
        }
    }
    if failures.is_empty() {
        Ok(Outcome::Ran {
            exit_code: Some(0),
            tail: last_tail,
        })
    } else {
        Err(ModuleError::Scripts {
            failures,
            attempted,
            exit_code: None,
            tail: last_tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_looks_names_up_as_cloud_init_25_does() {
        assert_eq!(apt_lookup_name("curl=7.0"), "curl");
        assert_eq!(apt_lookup_name("nginx/bookworm-backports"), "nginx");
        assert_eq!(apt_lookup_name("lamp-server^"), "lamp-server");
        assert_eq!(apt_lookup_name("exim4-"), "exim4");
        assert_eq!(apt_cache_of("/usr/bin/apt-get"), "/usr/bin/apt-cache");
        assert_eq!(apt_cache_of("apt-get"), "apt-cache");
    }

    #[test]
    fn repo_upgrade_levels() {
        let level = |yaml: &str| {
            let cfg = crate::cloudconfig::load(&format!("repo_upgrade: {yaml}\n")).unwrap();
            repo_upgrade(cfg.get("repo_upgrade").unwrap())
        };
        assert_eq!(level("security"), Ok(RepoUpgrade::Level("--security")));
        assert_eq!(level("bugfix"), Ok(RepoUpgrade::Level("--bugfix")));
        assert_eq!(level("all"), Ok(RepoUpgrade::All));
        assert_eq!(level("true"), Ok(RepoUpgrade::All));
        assert_eq!(level("none"), Ok(RepoUpgrade::No));
        assert_eq!(level("false"), Ok(RepoUpgrade::No));
        assert!(level("critical").unwrap_err().contains("not one of"));
    }

    #[test]
    fn commands_use_each_managers_flags() {
        assert_eq!(
            command("apt-get", Kind::Apt, "install", &["jq".into()]).join(" "),
            "apt-get --option=Dpkg::Options::=--force-confold --option=Dpkg::options::=--force-unsafe-io --assume-yes --quiet install jq"
        );
        assert_eq!(
            command("dnf", Kind::Dnf, "update", &[]).join(" "),
            "dnf -y makecache"
        );
        assert_eq!(
            command("yum", Kind::Yum, "upgrade", &[]).join(" "),
            "yum -t -y upgrade"
        );
        assert_eq!(kind_of("/usr/bin/zypper"), Kind::Zypper);
    }
}
