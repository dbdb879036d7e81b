//! `puppet`, as cloud-init 25's `cc_puppet` runs it: install the agent (distro packages,
//! `puppet-agent` then `puppet`, or puppetlabs' all-in-one installer script), find its
//! files (`puppet config print` on the real root once it is installed; the packages'
//! defaults under `--root`), merge `conf` into `puppet.conf` (the previous file kept as
//! `puppet.conf.old`; `ca_cert` into the SSL folder), write `csr_attributes` as YAML,
//! enable the service, run `puppet agent` once when asked, and start the service. The
//! steps are computed from the config and the [`PuppetMachine`] alone, so that a test
//! compares them with cloud-init's.

use crate::cloudconfig::{Node, Value};

use super::super::super::context::Boot;
use super::super::{hostname, scalar_text, system, truthy, wrong_type, ModuleError, Outcome};
use super::{carry_out, python_str, yaml_dump, Step};

/// puppetlabs' installer script, cloud-init's `AIO_INSTALL_URL`.
pub const AIO_INSTALL_URL: &str =
    "https://raw.githubusercontent.com/puppetlabs/install-puppet/main/install.sh";

/// The packages tried in turn when `package_name` is not set (and the service units).
const PACKAGE_NAMES: [&str; 2] = ["puppet-agent", "puppet"];

/// The agent binary of the all-in-one install.
const AIO_BIN: &str = "/opt/puppetlabs/bin/puppet";

/// `puppet`'s settings, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PuppetConfig {
    pub install: bool,
    pub version: Option<String>,
    pub collection: Option<String>,
    /// `packages` or `aio`; another value is warned about and installs nothing.
    pub install_type: String,
    pub cleanup: bool,
    pub exec: bool,
    pub start_service: bool,
    pub aio_install_url: String,
    pub package_name: Option<String>,
    pub conf_file: Option<String>,
    pub ssl_dir: Option<String>,
    pub csr_attributes_path: Option<String>,
    pub exec_args: Vec<String>,
}

impl PuppetConfig {
    /// Read the `puppet` mapping.
    pub fn parse(cfg: &Node) -> Result<Self, ModuleError> {
        if !matches!(cfg.value, Value::Map(_) | Value::Null) {
            return Err(wrong_type("puppet", "a mapping", cfg));
        }
        let text = |key: &str| -> Result<Option<String>, ModuleError> {
            match cfg.get(key) {
                None => Ok(None),
                Some(n) => scalar_text(n)
                    .or_else(|| n.is_null().then(|| "None".to_string()))
                    .map(Some)
                    .ok_or_else(|| wrong_type(&format!("puppet.{key}"), "a string", n)),
            }
        };
        let install_type = text("install_type")?.unwrap_or_else(|| "packages".into());
        let exec_args = match cfg.get("exec_args") {
            None => vec!["--test".to_string()],
            Some(n) => match &n.value {
                Value::Seq(items) => items.iter().map(python_str).collect(),
                Value::Str(s) => s.split_whitespace().map(String::from).collect(),
                _ => vec!["--test".to_string()],
            },
        };
        Ok(Self {
            install: truthy(cfg.get("install"), true),
            version: text("version")?,
            collection: text("collection")?,
            cleanup: truthy(cfg.get("cleanup"), true),
            exec: truthy(cfg.get("exec"), false),
            start_service: truthy(cfg.get("start_service"), true),
            aio_install_url: text("aio_install_url")?.unwrap_or_else(|| AIO_INSTALL_URL.into()),
            package_name: text("package_name")?,
            conf_file: text("conf_file")?,
            ssl_dir: text("ssl_dir")?,
            csr_attributes_path: text("csr_attributes_path")?,
            exec_args,
            install_type,
        })
    }

    fn aio(&self) -> bool {
        self.install_type == "aio"
    }

    /// The `puppet` the agent runs as: the all-in-one's full path, else from PATH.
    pub fn bin(&self) -> &'static str {
        if self.aio() {
            AIO_BIN
        } else {
            "puppet"
        }
    }

    /// The owner of the SSL folder and CA certificate.
    fn user(&self) -> &'static str {
        if self.aio() {
            "root"
        } else {
            "puppet"
        }
    }

    /// Whether the install type is one cloud-init knows (else it warns and does not run
    /// the agent).
    pub fn known_install_type(&self) -> bool {
        matches!(self.install_type.as_str(), "packages" | "aio")
    }

    /// The install steps (none with `install: false`).
    pub fn install_steps(&self) -> Vec<Step> {
        if !self.install || !self.known_install_type() {
            return Vec::new();
        }
        if self.aio() {
            let mut args = Vec::new();
            if let Some(v) = &self.version {
                args.extend(["-v".to_string(), v.clone()]);
            }
            if let Some(c) = &self.collection {
                args.extend(["-c".to_string(), c.clone()]);
            }
            if self.cleanup {
                args.push("--cleanup".into());
            }
            return vec![Step::Installer {
                url: self.aio_install_url.clone(),
                retries: 5,
                name: "puppet-install".into(),
                args,
            }];
        }
        let candidates = match &self.package_name {
            Some(name) => vec![name.clone()],
            None => PACKAGE_NAMES.iter().map(|s| s.to_string()).collect(),
        };
        vec![Step::InstallOne {
            candidates,
            version: self.version.clone(),
        }]
    }
}

/// The agent's file locations (`puppet config print`, or the defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PuppetFiles {
    pub conf_file: String,
    pub ssl_dir: String,
    pub csr_attributes_path: String,
}

impl PuppetFiles {
    /// The packages' locations: puppetlabs' (`/etc/puppetlabs/puppet`) for the
    /// all-in-one install or where that folder exists, else the distributions'
    /// (`/etc/puppet`, SSL in `/var/lib/puppet/ssl`).
    pub fn defaults(puppetlabs: bool) -> Self {
        if puppetlabs {
            Self {
                conf_file: "/etc/puppetlabs/puppet/puppet.conf".into(),
                ssl_dir: "/etc/puppetlabs/puppet/ssl".into(),
                csr_attributes_path: "/etc/puppetlabs/puppet/csr_attributes.yaml".into(),
            }
        } else {
            Self {
                conf_file: "/etc/puppet/puppet.conf".into(),
                ssl_dir: "/var/lib/puppet/ssl".into(),
                csr_attributes_path: "/etc/puppet/csr_attributes.yaml".into(),
            }
        }
    }

    /// Read `puppet config print config ssldir csr_attributes` output (`name = value`
    /// lines) over `self`.
    pub fn with_printed(mut self, printed: &str) -> Self {
        for line in printed.lines() {
            let Some((name, value)) = line.split_once(" = ") else {
                continue;
            };
            let value = value.trim().to_string();
            match name.trim() {
                "config" => self.conf_file = value,
                "ssldir" => self.ssl_dir = value,
                "csr_attributes" => self.csr_attributes_path = value,
                _ => {}
            }
        }
        self
    }
}

/// What the configuration steps need from the machine.
pub struct PuppetMachine {
    pub files: PuppetFiles,
    /// The current `puppet.conf` (`None` when there is none).
    pub conf_text: Option<String>,
    pub instance_id: String,
    pub fqdn: String,
}

/// The steps after the install: files, service and agent run.
pub fn config_steps(
    cfg: &Node,
    pc: &PuppetConfig,
    machine: &PuppetMachine,
) -> Result<Vec<Step>, ModuleError> {
    let conf_path = pc
        .conf_file
        .clone()
        .unwrap_or_else(|| machine.files.conf_file.clone());
    let ssl_dir = pc
        .ssl_dir
        .clone()
        .unwrap_or_else(|| machine.files.ssl_dir.clone());
    let csr_path = pc
        .csr_attributes_path
        .clone()
        .unwrap_or_else(|| machine.files.csr_attributes_path.clone());
    let mut steps = Vec::new();
    if let Some(conf) = cfg.get("conf") {
        let sections = conf
            .as_map()
            .ok_or_else(|| wrong_type("puppet.conf", "a mapping", conf))?;
        let mut ini = Ini::parse(machine.conf_text.as_deref().unwrap_or_default());
        for (name, body) in sections {
            let section = name.key_text();
            if section == "ca_cert" {
                let cert = scalar_text(body)
                    .ok_or_else(|| wrong_type("puppet.conf.ca_cert", "a string", body))?;
                let owner = Some(pc.user().to_string());
                steps.push(Step::Folder {
                    path: ssl_dir.clone(),
                    mode: 0o771,
                    owner: owner.clone(),
                });
                steps.push(Step::Folder {
                    path: format!("{ssl_dir}/certs"),
                    mode: 0o755,
                    owner: owner.clone(),
                });
                steps.push(Step::Write {
                    path: format!("{ssl_dir}/certs/ca.pem"),
                    text: cert,
                    mode: 0o644,
                    secret: false,
                    owner,
                });
                continue;
            }
            let options = body
                .as_map()
                .ok_or_else(|| wrong_type(&format!("puppet.conf.{section}"), "a mapping", body))?;
            for (key, value) in options {
                let key = key.key_text();
                let mut value = python_str(value);
                if key == "certname" {
                    value = value
                        .replace("%f", &machine.fqdn)
                        .replace("%i", &machine.instance_id)
                        .to_lowercase();
                }
                ini.set(&section, &key, value);
            }
        }
        steps.push(Step::Rename {
            from: conf_path.clone(),
            to: format!("{conf_path}.old"),
        });
        steps.push(Step::Write {
            path: conf_path,
            text: ini.render(),
            mode: 0o644,
            secret: false,
            owner: None,
        });
    }
    if let Some(csr) = cfg.get("csr_attributes") {
        steps.push(Step::Write {
            path: csr_path,
            text: yaml_dump(&csr.to_json()),
            mode: 0o644,
            secret: false,
            owner: None,
        });
    }
    let service = |action: &str| Step::Service {
        action: action.into(),
        units: PACKAGE_NAMES
            .iter()
            .map(|n| format!("{n}.service"))
            .collect(),
    };
    if pc.start_service {
        steps.push(service("enable"));
    }
    if pc.exec && pc.known_install_type() {
        let mut argv = vec![pc.bin().to_string(), "agent".to_string()];
        argv.extend(pc.exec_args.iter().cloned());
        steps.push(Step::Run { argv, cwd: None });
    }
    if pc.start_service {
        steps.push(service("start"));
    }
    Ok(steps)
}

/// `puppet.conf` as Python's `RawConfigParser` reads and writes it: sections and
/// options in order, option names lowercased, `key = value` lines, comments dropped.
#[derive(Debug, Default)]
pub struct Ini {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Ini {
    /// Read a file leniently (lines stripped of leading blanks, as cloud-init does;
    /// lines without `=` or `:` are skipped, a repeated option keeps its last value).
    pub fn parse(text: &str) -> Self {
        let mut ini = Ini::default();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.split_once(']')) {
                current = Some(name.0.to_string());
                ini.section(name.0);
                continue;
            }
            let Some(section) = &current else { continue };
            let at = line.find(['=', ':']);
            if let Some(at) = at {
                let (key, value) = (&line[..at], &line[at + 1..]);
                let section = section.clone();
                ini.set(&section, key.trim(), value.trim().to_string());
            }
        }
        ini
    }

    fn section(&mut self, name: &str) -> &mut Vec<(String, String)> {
        let at = match self.sections.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                self.sections.push((name.to_string(), Vec::new()));
                self.sections.len() - 1
            }
        };
        &mut self.sections[at].1
    }

    /// Set an option, creating its section at the end when new.
    pub fn set(&mut self, section: &str, key: &str, value: String) {
        let key = key.to_lowercase();
        let options = self.section(section);
        match options.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => options.push((key, value)),
        }
    }

    /// The file: `[DEFAULT]` first, each section followed by a blank line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let defaults = self.sections.iter().filter(|(n, _)| n == "DEFAULT");
        let others = self.sections.iter().filter(|(n, _)| n != "DEFAULT");
        for (name, options) in defaults.chain(others) {
            out.push_str(&format!("[{name}]\n"));
            for (k, v) in options {
                out.push_str(&format!("{k} = {}\n", v.replace('\n', "\n\t")));
            }
            out.push('\n');
        }
        out
    }
}

/// `puppet`.
pub fn puppet(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(cfg) = boot.cfg("puppet").cloned() else {
        return Ok(Outcome::Skipped("no `puppet` in cloud-config".into()));
    };
    let pc = PuppetConfig::parse(&cfg)?;
    let mut tail = Vec::new();
    if !pc.known_install_type() {
        let message = format!(
            "puppet: unknown install_type `{}`: nothing installed, the agent not run",
            pc.install_type
        );
        boot.warn(&message);
        tail.push(message);
    } else if !pc.install && pc.version.is_some() {
        tail.push("install is false: `version` ignored".into());
    }
    tail.extend(carry_out(boot, "puppet", &pc.install_steps())?);
    let puppetlabs = pc.aio()
        || boot
            .ctx
            .path("/etc/puppetlabs/puppet")
            .is_ok_and(|p| p.is_dir());
    let mut files = PuppetFiles::defaults(puppetlabs);
    // The agent knows its own files; it is asked only on the real machine (under
    // `--root` it is not the root's agent that would answer).
    let asks = pc.conf_file.is_none() || pc.ssl_dir.is_none() || pc.csr_attributes_path.is_none();
    if asks && boot.on_real_root() && program_on_root(boot, pc.bin()) {
        let args = ["config", "print", "config", "ssldir", "csr_attributes"];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        match super::super::run_tool(pc.bin(), &args) {
            Ok(out) => files = files.with_printed(&String::from_utf8_lossy(&out)),
            Err(err) => boot.log.line(
                "WARNING",
                &format!("puppet: {err}; using the default file locations"),
            ),
        }
    }
    let conf_path = pc.conf_file.clone().unwrap_or(files.conf_file.clone());
    let conf_text = if cfg.get("conf").is_some() {
        system::read_opt(boot.ctx, &conf_path)?
    } else {
        None
    };
    let fqdn = hostname::resolve(boot)
        .map(|(_, fqdn)| fqdn)
        .unwrap_or_else(|| "localhost".into());
    let machine = PuppetMachine {
        files,
        conf_text,
        instance_id: boot.instance.instance_id.clone(),
        fqdn,
    };
    let steps = config_steps(&cfg, &pc, &machine)?;
    tail.extend(carry_out(boot, "puppet", &steps)?);
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

/// Whether `program` (a name on PATH or a full path) is there.
fn program_on_root(boot: &Boot<'_>, program: &str) -> bool {
    if program.starts_with('/') {
        return system::installed(boot.ctx, program);
    }
    let path = boot.ctx.var("PATH");
    super::super::super::exec::on_path(path.as_deref(), program).is_some()
}

#[cfg(test)]
mod tests;
