//! `chef`, as cloud-init 25's `cc_chef` runs it at every boot: create chef's folders,
//! move the legacy cache and backup folders' files, write the validation key, render
//! `/etc/chef/client.rb` (the lines of cloud-init's `chef_client.rb.tmpl`) and
//! `firstboot.json`, install chef when `/usr/bin/chef-client` is missing (or
//! `force_install`) from packages, gems or the omnibus installer, then run
//! `chef-client` when installed that way or asked (`exec`), and delete the validation
//! key after it when asked. The steps are computed from the config and the
//! [`ChefMachine`] alone, so that a test compares them with cloud-init's.

use crate::cloudconfig::{Node, Value};

use super::super::super::context::{Boot, VERSION};
use super::super::{scalar_text, string_list, truthy, wrong_type, ModuleError, Outcome};
use super::{carry_out, python_str, Step};

/// The folders created when `directories` is not set (`/etc/chef` always is).
pub const CHEF_DIRS: [&str; 6] = [
    "/etc/chef",
    "/var/log/chef",
    "/var/lib/chef",
    "/var/chef/cache",
    "/var/chef/backup",
    "/var/run/chef",
];

/// Legacy folders whose files move to the new ones (cloud-init 25).
pub const MIGRATIONS: [(&str, &str); 2] = [
    ("/var/cache/chef", "/var/chef/cache"),
    ("/var/backups/chef", "/var/chef/backup"),
];

/// chef's omnibus installer, cloud-init's `OMNIBUS_URL`.
pub const OMNIBUS_URL: &str = "https://www.chef.io/chef/install.sh";
const VALIDATION_PEM: &str = "/etc/chef/validation.pem";
const FIRSTBOOT: &str = "/etc/chef/firstboot.json";
const CLIENT_RB: &str = "/etc/chef/client.rb";
/// The client cloud-init checks for and runs.
pub const CHEF_CLIENT: &str = "/usr/bin/chef-client";
const EXEC_DEFAULT_ARGS: [&str; 5] = ["-d", "-i", "1800", "-s", "20"];

/// One value of `client.rb`'s template.
#[derive(Clone, Debug, PartialEq)]
enum Param {
    Text(String),
    Flag(bool),
    Unset,
}

impl Param {
    fn truthy(&self) -> bool {
        match self {
            Param::Text(s) => !s.is_empty(),
            Param::Flag(b) => *b,
            Param::Unset => false,
        }
    }
}

/// The lines of `client.rb`, in the template's order: (parameter, how it is written).
/// `{}` is the value; `validation_key` is written when `validation_cert` is set.
const CLIENT_RB_LINES: [(&str, &str); 16] = [
    ("chef_license", "chef_license           \"{}\""),
    ("log_level", "log_level              {}"),
    ("ssl_verify_mode", "ssl_verify_mode        {}"),
    ("log_location", "log_location           \"{}\""),
    ("validation_name", "validation_client_name \"{}\""),
    ("validation_cert", "validation_key         \"{}\""),
    ("client_key", "client_key             \"{}\""),
    ("server_url", "chef_server_url        \"{}\""),
    ("environment", "environment            \"{}\""),
    ("node_name", "node_name              \"{}\""),
    ("json_attribs", "json_attribs           \"{}\""),
    ("file_cache_path", "file_cache_path        \"{}\""),
    ("file_backup_path", "file_backup_path       \"{}\""),
    ("pid_file", "pid_file               \"{}\""),
    ("show_time", "Chef::Log::Formatter.show_time = true"),
    (
        "encrypted_data_bag_secret",
        "encrypted_data_bag_secret \"{}\"",
    ),
];

/// The template's defaults (cloud-init's `CHEF_RB_TPL_DEFAULTS`).
const DEFAULTS: [(&str, Option<&str>); 12] = [
    ("ssl_verify_mode", Some(":verify_none")),
    ("log_level", Some(":info")),
    ("log_location", Some("/var/log/chef/client.log")),
    ("validation_key", Some(VALIDATION_PEM)),
    ("validation_cert", None),
    ("client_key", Some("/etc/chef/client.pem")),
    ("json_attribs", Some(FIRSTBOOT)),
    ("file_cache_path", Some("/var/chef/cache")),
    ("file_backup_path", Some("/var/chef/backup")),
    ("pid_file", Some("/var/run/chef/client.pid")),
    ("show_time", None),
    ("encrypted_data_bag_secret", None),
];

/// Parameters whose value is a path: their folders are created first.
const PATH_KEYS: [&str; 7] = [
    "log_location",
    "validation_key",
    "client_key",
    "file_cache_path",
    "json_attribs",
    "pid_file",
    "encrypted_data_bag_secret",
];

/// Every key that reaches the template.
const TEMPLATE_KEYS: [&str; 17] = [
    "ssl_verify_mode",
    "log_level",
    "log_location",
    "validation_key",
    "validation_cert",
    "client_key",
    "json_attribs",
    "file_cache_path",
    "file_backup_path",
    "pid_file",
    "show_time",
    "encrypted_data_bag_secret",
    "server_url",
    "node_name",
    "environment",
    "validation_name",
    "chef_license",
];

/// What the steps need from the machine.
pub struct ChefMachine {
    pub instance_id: String,
    /// `/usr/bin/chef-client` is there.
    pub installed: bool,
    /// The validation key file exists (for `validation_cert: system` and
    /// `delete_validation_post_exec`).
    pub validation_key_exists: bool,
    /// `/usr/bin/gem` and `/usr/bin/ruby` exist.
    pub has_gem: bool,
    pub has_ruby: bool,
    /// The first line of `client.rb`.
    pub header: String,
}

/// A value as cloud-init's `get_cfg_option_str` reads it.
fn text(cfg: &Node, key: &str) -> Result<Option<String>, ModuleError> {
    match cfg.get(key) {
        None => Ok(None),
        Some(n) if n.is_null() => Ok(Some("None".into())),
        Some(n) => scalar_text(n)
            .map(Some)
            .ok_or_else(|| wrong_type(&format!("chef.{key}"), "a string", n)),
    }
}

/// The template's parameters (cloud-init's `get_template_params`).
fn params(cfg: &Node, iid: &str) -> Result<Vec<(&'static str, Param)>, ModuleError> {
    let mut params: Vec<(&'static str, Param)> = DEFAULTS
        .iter()
        .map(|(k, v)| {
            let p = match (*k, v) {
                ("show_time", _) => Param::Flag(true),
                (_, Some(v)) => Param::Text(v.to_string()),
                (_, None) => Param::Unset,
            };
            (*k, p)
        })
        .collect();
    let mut set = |key: &'static str, value: Param| match params.iter_mut().find(|(k, _)| *k == key)
    {
        Some(slot) => slot.1 = value,
        None => params.push((key, value)),
    };
    for key in TEMPLATE_KEYS {
        let Some(node) = cfg.get(key) else { continue };
        let value = if node.is_null() {
            Param::Unset
        } else if key == "show_time" {
            Param::Flag(truthy(Some(node), false))
        } else {
            Param::Text(text(cfg, key)?.unwrap_or_default())
        };
        set(key, value);
    }
    let required = |key: &str| -> Result<Param, ModuleError> {
        let node = cfg.get(key).ok_or_else(|| ModuleError::Invalid {
            key: "chef".into(),
            message: format!("`{key}` is required"),
        })?;
        Ok(match &node.value {
            Value::Null => Param::Unset,
            _ => Param::Text(python_str(node)),
        })
    };
    set(
        "node_name",
        Param::Text(text(cfg, "node_name")?.unwrap_or_else(|| iid.to_string())),
    );
    set(
        "environment",
        Param::Text(text(cfg, "environment")?.unwrap_or_else(|| "_default".into())),
    );
    set("server_url", required("server_url")?);
    set("validation_name", required("validation_name")?);
    Ok(params)
}

/// `client.rb`, as cloud-init's template renders it.
fn render_client_rb(header: &str, params: &[(&'static str, Param)]) -> String {
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or(Param::Unset)
    };
    let mut out = format!("{header}\n");
    for (key, line) in CLIENT_RB_LINES {
        if !get(key).truthy() {
            continue;
        }
        // The template writes the key's path when a validation certificate is given.
        let value = match get(if key == "validation_cert" {
            "validation_key"
        } else {
            key
        }) {
            Param::Text(s) => s,
            Param::Flag(b) => if b { "True" } else { "False" }.into(),
            Param::Unset => "None".into(),
        };
        out.push_str(&line.replace("{}", &value));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A value as Python's `json.dumps` writes it (`", "` and `": "` separators, ASCII).
pub fn py_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => crate::pyjson::string(s),
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(py_json).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", crate::pyjson::string(k), py_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        serde_json::Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// The steps of `chef` (the legacy folders' migration aside: it depends on what is in
/// them, see [`chef`]), and a warning when `validation_cert: system` names a key file
/// that is not there.
pub fn chef_steps(
    cfg: &Node,
    machine: &ChefMachine,
) -> Result<(Vec<Step>, Option<String>), ModuleError> {
    if cfg.as_map().is_none() {
        return Err(wrong_type("chef", "a mapping", cfg));
    }
    // Checked first: cloud-init fails on a missing one after writing the folders.
    let params = params(cfg, &machine.instance_id)?;
    let folder = |path: &str| Step::Folder {
        path: path.to_string(),
        mode: 0o755,
        owner: None,
    };
    let mut steps = Vec::new();
    let dirs = match cfg.get("directories") {
        Some(n) if !n.is_null() => string_list("chef.directories", n, false)?,
        _ => Vec::new(),
    };
    let dirs: Vec<String> = if dirs.is_empty() {
        CHEF_DIRS.iter().map(|s| s.to_string()).collect()
    } else {
        dirs
    };
    for d in dirs.iter().map(String::as_str).chain(["/etc/chef"]) {
        steps.push(folder(d));
    }
    let vkey = text(cfg, "validation_key")?.unwrap_or_else(|| VALIDATION_PEM.into());
    let vcert = text(cfg, "validation_cert")?.filter(|c| !c.is_empty() && c != "None");
    let mut warning = None;
    if let Some(cert) = &vcert {
        if cert != "system" {
            steps.push(Step::Write {
                path: vkey.clone(),
                text: cert.clone(),
                mode: 0o600,
                secret: true,
                owner: None,
            });
        } else if !machine.validation_key_exists {
            warning = Some(format!(
                "chef: validation_cert is `system`, but the key {vkey} does not exist"
            ));
        }
    }
    let config_path = text(cfg, "config_path")?.unwrap_or_else(|| CLIENT_RB.into());
    let mut parents: Vec<String> = params
        .iter()
        .filter(|(k, v)| PATH_KEYS.contains(k) && v.truthy())
        .filter_map(|(_, v)| match v {
            Param::Text(p) => Some(
                std::path::Path::new(p)
                    .parent()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            _ => None,
        })
        .collect();
    parents.sort();
    parents.dedup();
    steps.extend(parents.iter().filter(|p| !p.is_empty()).map(|p| folder(p)));
    steps.push(Step::Write {
        path: config_path,
        text: render_client_rb(&machine.header, &params),
        mode: 0o644,
        secret: false,
        owner: None,
    });
    let firstboot = text(cfg, "firstboot_path")?.unwrap_or_else(|| FIRSTBOOT.into());
    if !firstboot.is_empty() {
        let mut initial = serde_json::Map::new();
        if let Some(run_list) = cfg.get("run_list") {
            initial.insert("run_list".into(), run_list.to_json());
        }
        if let Some(attrs) = cfg.get("initial_attributes") {
            let map = attrs
                .as_map()
                .ok_or_else(|| wrong_type("chef.initial_attributes", "a mapping", attrs))?;
            for (k, v) in map {
                initial.insert(k.key_text(), v.to_json());
            }
        }
        steps.push(Step::Write {
            path: firstboot,
            text: py_json(&serde_json::Value::Object(initial)),
            mode: 0o644,
            secret: false,
            owner: None,
        });
    }
    let force = truthy(cfg.get("force_install"), false);
    let run = if !machine.installed || force {
        install_steps(cfg, machine, &mut steps)?
    } else {
        truthy(cfg.get("exec"), false)
    };
    if run {
        let mut argv = vec![CHEF_CLIENT.to_string()];
        match cfg.get("exec_arguments").map(|n| &n.value) {
            Some(Value::Seq(items)) => argv.extend(items.iter().map(python_str)),
            Some(Value::Str(s)) => argv.push(s.clone()),
            _ => argv.extend(EXEC_DEFAULT_ARGS.iter().map(|s| s.to_string())),
        }
        steps.push(Step::Run { argv, cwd: None });
        if truthy(cfg.get("delete_validation_post_exec"), false) {
            steps.push(Step::Remove {
                path: VALIDATION_PEM.into(),
            });
        }
    }
    Ok((steps, warning))
}

/// The install steps of `install_type`; answers whether chef-client runs after them.
fn install_steps(
    cfg: &Node,
    machine: &ChefMachine,
    steps: &mut Vec<Step>,
) -> Result<bool, ModuleError> {
    let install_type = text(cfg, "install_type")?.unwrap_or_else(|| "packages".into());
    let exec = |default| truthy(cfg.get("exec"), default);
    Ok(match install_type.as_str() {
        "gems" => {
            let ruby = text(cfg, "ruby_version")?.unwrap_or_else(|| "1.8".into());
            let mut packages = vec![format!("ruby{ruby}"), format!("ruby{ruby}-dev")];
            if ruby == "1.8" {
                packages.extend(["libopenssl-ruby1.8".into(), "rubygems1.8".into()]);
            }
            steps.push(Step::Install(packages));
            if !machine.has_gem {
                steps.push(Step::Link {
                    target: format!("/usr/bin/gem{ruby}"),
                    link: "/usr/bin/gem".into(),
                });
            }
            if !machine.has_ruby {
                steps.push(Step::Link {
                    target: format!("/usr/bin/ruby{ruby}"),
                    link: "/usr/bin/ruby".into(),
                });
            }
            let mut argv: Vec<String> =
                vec!["/usr/bin/gem".into(), "install".into(), "chef".into()];
            if let Some(v) = text(cfg, "version")?.filter(|v| !v.is_empty()) {
                argv.push(format!("-v {v}"));
            }
            argv.extend(
                ["--no-ri", "--no-rdoc", "--bindir", "/usr/bin", "-q"]
                    .iter()
                    .map(|s| s.to_string()),
            );
            steps.push(Step::Run { argv, cwd: None });
            exec(true)
        }
        "packages" => {
            steps.push(Step::Install(vec!["chef".into()]));
            exec(false)
        }
        "omnibus" => {
            let url = text(cfg, "omnibus_url")?.unwrap_or_else(|| OMNIBUS_URL.into());
            let retries = match cfg.get("omnibus_url_retries") {
                None => 5,
                Some(n) => n
                    .as_int()
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(|| wrong_type("chef.omnibus_url_retries", "a whole number", n))?,
            };
            let args = match text(cfg, "omnibus_version")? {
                Some(v) => vec!["-v".to_string(), v],
                None => Vec::new(),
            };
            steps.push(Step::Installer {
                url,
                retries,
                name: "chef-omnibus-install".into(),
                args,
            });
            exec(false)
        }
        other => {
            return Err(ModuleError::Invalid {
                key: "chef.install_type".into(),
                message: format!("`{other}` is none of packages, gems, omnibus"),
            })
        }
    })
}

/// Move the legacy folders' files into the new ones (a name already there stays; a new
/// folder `directories` did not create is left alone).
fn migrate(boot: &Boot<'_>) -> Result<Vec<String>, ModuleError> {
    let mut moved = Vec::new();
    for (old, new) in MIGRATIONS {
        // Folders only, never through a link (one could point out of the root).
        let is_folder =
            |p: &std::path::Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        let from = super::system::root_path(boot.ctx, old)?;
        let to = super::system::root_path(boot.ctx, new)?;
        if !is_folder(&from) || !is_folder(&to) {
            // Nothing to move, or `directories` left the new folder out.
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        for entry in entries.flatten() {
            let target = to.join(entry.file_name());
            if target.symlink_metadata().is_ok() {
                continue;
            }
            std::fs::rename(entry.path(), &target).map_err(|source| ModuleError::Io {
                op: "move",
                path: entry.path(),
                source,
            })?;
            moved.push(format!(
                "moved {old}/{} to {new}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    Ok(moved)
}

/// `chef`.
pub fn chef(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(cfg) = boot.cfg("chef").cloned() else {
        return Ok(Outcome::Skipped("no `chef` in cloud-config".into()));
    };
    let exists = |p: &str| boot.ctx.path(p).is_ok_and(|p| p.exists());
    let vkey = text(&cfg, "validation_key")?.unwrap_or_else(|| VALIDATION_PEM.into());
    let now: chrono::DateTime<chrono::Utc> = boot.ctx.now().into();
    let machine = ChefMachine {
        instance_id: boot.instance.instance_id.clone(),
        installed: super::system::installed(boot.ctx, CHEF_CLIENT),
        validation_key_exists: exists(&vkey),
        has_gem: exists("/usr/bin/gem"),
        has_ruby: exists("/usr/bin/ruby"),
        header: format!("# Created by strap v. {VERSION} on {}", now.to_rfc2822()),
    };
    let (steps, warning) = chef_steps(&cfg, &machine)?;
    if let Some(warning) = warning {
        boot.warn(&warning);
    }
    // The folders first, as cloud-init creates them before it moves the legacy files.
    let split = steps
        .iter()
        .position(|s| !matches!(s, Step::Folder { .. }))
        .unwrap_or(steps.len());
    let mut tail = carry_out(boot, "chef", &steps[..split])?;
    tail.extend(migrate(boot)?);
    tail.extend(carry_out(boot, "chef", &steps[split..])?);
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

#[cfg(test)]
mod tests;
