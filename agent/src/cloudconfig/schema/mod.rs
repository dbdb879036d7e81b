//! Checking a cloud-config against cloud-init's schema, as `cloud-init schema` judges it.
//! Keys of the modules strap runs are checked for type and value ([`defs`]); keys of
//! cloud-init modules strap does not run are checked the same way ([`not_run`]) and,
//! when valid, named with a warning; a top-level key cloud-init does not know is an error,
//! as cloud-init 25's schema has it (22.4's schema let it pass: [`UnknownKeys`]). It only
//! reads the tree and never fails: every finding is a [`Problem`] in the [`Report`],
//! located by line, column and dotted path.

mod defs;
mod eval;
mod not_run;

use super::{load, Node, Value};
use eval::{Walk, S};

/// One finding: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the offending value (0 when it has no position).
    pub line: usize,
    /// 1-based column of the offending value.
    pub column: usize,
    /// Dotted path of the value, as cloud-init prints it: `write_files.0.permissions`.
    pub path: String,
    /// What is wrong, in jsonschema's words where cloud-init uses them.
    pub message: String,
}

impl std::fmt::Display for Problem {
    /// `path: message`, as cloud-init's `SchemaProblem.format()`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The outcome of a validation: errors make the config invalid, warnings do not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Report {
    /// Whether `cloud-init schema` would print `Valid schema`.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// How strap treats a top-level key.
enum Key {
    /// A key of a module strap runs: checked.
    Run(&'static S),
    /// A key of a cloud-init module strap does not run: checked, then named as not run.
    NotRun(&'static str, &'static S),
    /// A key of the base configuration (module lists): checked, not a module.
    Base(&'static S),
}

/// The top-level keys strap runs, with their schema.
const RUN: &[(&str, S)] = &[
    ("bootcmd", defs::BOOTCMD),
    // Defined with the not-run keys' definitions (cloud-init 25's schema).
    ("ansible", not_run::ANSIBLE),
    ("salt_minion", not_run::SALT_MINION),
    ("puppet", not_run::PUPPET),
    ("chef", not_run::CHEF),
    ("runcmd", defs::RUNCMD),
    ("write_files", defs::WRITE_FILES),
    ("users", defs::USERS),
    ("user", defs::LEGACY_USER),
    ("groups", defs::GROUPS),
    ("ssh_authorized_keys", defs::SSH_AUTHORIZED_KEYS),
    ("hostname", defs::STRING),
    ("fqdn", defs::STRING),
    ("prefer_fqdn_over_hostname", defs::BOOLEAN),
    ("preserve_hostname", defs::BOOLEAN),
    ("create_hostname_file", defs::BOOLEAN),
    ("manage_etc_hosts", defs::MANAGE_ETC_HOSTS),
    ("timezone", defs::STRING),
    ("packages", defs::PACKAGES),
    ("package_update", defs::BOOLEAN),
    ("package_upgrade", defs::BOOLEAN),
    ("package_reboot_if_required", defs::BOOLEAN),
    ("apt_update", defs::DEPRECATED_APT_BOOL),
    ("apt_upgrade", defs::DEPRECATED_APT_BOOL),
    ("apt_reboot_if_required", defs::DEPRECATED_APT_BOOL),
    ("final_message", defs::STRING),
    ("power_state", defs::POWER_STATE),
    ("ntp", defs::NTP),
    ("growpart", defs::GROWPART),
    ("resize_rootfs", defs::RESIZE_ROOTFS),
    ("mounts", defs::MOUNTS),
    ("mount_default_fields", defs::MOUNT_DEFAULT_FIELDS),
    ("swap", defs::SWAP),
    ("disk_setup", not_run::DISK_SETUP),
    ("fs_setup", not_run::FS_SETUP),
    ("device_aliases", not_run::DEVICE_ALIASES),
    ("password", defs::STRING),
    ("chpasswd", defs::CHPASSWD),
    ("ssh_pwauth", defs::SSH_PWAUTH),
    ("ca_certs", defs::CA_CERTS),
    ("ca-certs", defs::CA_CERTS_HYPHEN),
    ("apt", defs::APT),
    ("ssh_import_id", defs::SSH_IMPORT_ID),
    ("ssh", defs::SSH_CONSOLE),
    ("ssh_fp_console_blacklist", defs::STRING_LIST),
    ("ssh_key_console_blacklist", defs::STRING_LIST),
    ("disable_ec2_metadata", defs::BOOLEAN),
    ("ssh_keys", defs::SSH_KEYS),
    ("ssh_deletekeys", defs::BOOLEAN),
    ("ssh_genkeytypes", defs::SSH_GENKEYTYPES),
    ("disable_root", defs::BOOLEAN),
    ("disable_root_opts", defs::STRING),
    ("allow_public_ssh_keys", defs::BOOLEAN),
    // strap's key generation never prints to the console: always quiet.
    ("ssh_quiet_keygen", defs::BOOLEAN),
    ("merge_how", defs::MERGE_HOW),
    ("merge_type", defs::MERGE_HOW),
    ("apply_changed_user_data", defs::APPLY_CHANGED_USER_DATA),
    ("output", defs::OUTPUT),
    ("locale", defs::LOCALE),
    ("locale_configfile", defs::STRING),
    ("yum_repos", defs::YUM_REPOS),
    ("yum_repo_dir", defs::STRING),
    // Amazon Linux's cloud-init (not upstream's schema).
    ("repo_update", defs::BOOLEAN),
    ("repo_upgrade", defs::REPO_UPGRADE),
    ("repo_upgrade_exclude", defs::STRING_LIST),
    // The deprecated apt keys, read as `apt`.
    ("apt_sources", defs::LEGACY_APT_SOURCES),
    ("apt_mirror", defs::LEGACY_APT_STRING),
    ("apt_mirror_search", defs::LEGACY_APT_STRINGS),
    ("apt_mirror_search_dns", defs::LEGACY_APT_BOOL),
    ("apt_proxy", defs::LEGACY_APT_STRING),
    ("apt_http_proxy", defs::LEGACY_APT_STRING),
    ("apt_ftp_proxy", defs::LEGACY_APT_STRING),
    ("apt_https_proxy", defs::LEGACY_APT_STRING),
    ("apt_preserve_sources_list", defs::LEGACY_APT_BOOL),
    ("apt_custom_sources_list", defs::LEGACY_APT_STRING),
    ("add_apt_repo_match", defs::LEGACY_APT_STRING),
];

const BASE: &[(&str, S)] = &[
    ("cloud_init_modules", defs::MODULE_LIST),
    ("cloud_config_modules", defs::MODULE_LIST),
    ("cloud_final_modules", defs::MODULE_LIST),
    ("launch-index", defs::INTEGER),
    ("system_info", defs::SYSTEM_INFO),
    // Listed by cloud-init 25 at the top with no schema (the version of a config).
    ("version", not_run::ANY),
];

/// Top-level keys of cloud-init modules strap does not run, with their module and their
/// schema, every one cloud-init 25's schema knows. `ssh_publish_hostkeys` belongs to a
/// module strap runs, but publishing host keys has nowhere to go on EC2 (as in
/// cloud-init's EC2 datasource); `migrate` is listed by cloud-init 25 with no schema.
const NOT_RUN: &[(&str, &str, S)] = &[
    ("apk_repos", "cc_apk_configure", not_run::APK_REPOS),
    (
        "apt_pipelining",
        "cc_apt_pipelining",
        not_run::APT_PIPELINING,
    ),
    (
        "authkey_hash",
        "cc_ssh_authkey_fingerprints",
        not_run::AUTHKEY_HASH,
    ),
    ("autoinstall", "cc_ubuntu_autoinstall", not_run::AUTOINSTALL),
    ("byobu_by_default", "cc_byobu", not_run::BYOBU_BY_DEFAULT),
    ("drivers", "cc_ubuntu_drivers", not_run::DRIVERS),
    ("fan", "cc_fan", not_run::FAN),
    ("grub-dpkg", "cc_grub_dpkg", not_run::GRUB_DPKG_HYPHENATED),
    ("grub_dpkg", "cc_grub_dpkg", not_run::GRUB_DPKG),
    ("keyboard", "cc_keyboard", not_run::KEYBOARD),
    ("landscape", "cc_landscape", not_run::LANDSCAPE),
    ("lxd", "cc_lxd", not_run::LXD),
    (
        "manage_resolv_conf",
        "cc_resolv_conf",
        not_run::MANAGE_RESOLV_CONF,
    ),
    ("mcollective", "cc_mcollective", not_run::MCOLLECTIVE),
    ("migrate", "cc_migrator", not_run::ANY),
    (
        "no_ssh_fingerprints",
        "cc_ssh_authkey_fingerprints",
        not_run::NO_SSH_FINGERPRINTS,
    ),
    ("phone_home", "cc_phone_home", not_run::PHONE_HOME),
    ("random_seed", "cc_seed_random", not_run::RANDOM_SEED),
    ("reporting", "reporting", not_run::REPORTING),
    ("resolv_conf", "cc_resolv_conf", not_run::RESOLV_CONF),
    (
        "rh_subscription",
        "cc_rh_subscription",
        not_run::RH_SUBSCRIPTION,
    ),
    ("rsyslog", "cc_rsyslog", not_run::RSYSLOG),
    ("snap", "cc_snap", not_run::SNAP),
    ("spacewalk", "cc_spacewalk", not_run::SPACEWALK),
    ("ssh_publish_hostkeys", "cc_ssh", defs::SSH_PUBLISH_HOSTKEYS),
    (
        "ubuntu_advantage",
        "cc_ubuntu_pro",
        not_run::UBUNTU_ADVANTAGE,
    ),
    ("ubuntu_pro", "cc_ubuntu_pro", not_run::UBUNTU_PRO),
    ("updates", "cc_install_hotplug", not_run::UPDATES),
    ("vendor_data", "cc_scripts_vendor", not_run::VENDOR_DATA),
    ("wireguard", "cc_wireguard", not_run::WIREGUARD),
    ("zypper", "cc_zypper_add_repo", not_run::ZYPPER),
];

fn classify(key: &str) -> Option<Key> {
    if let Some((_, s)) = RUN.iter().find(|(k, _)| *k == key) {
        return Some(Key::Run(s));
    }
    if let Some((_, s)) = BASE.iter().find(|(k, _)| *k == key) {
        return Some(Key::Base(s));
    }
    NOT_RUN
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, m, s)| Key::NotRun(m, s))
}

/// Whether strap runs the module that reads this top-level key.
pub fn is_run_by_strap(key: &str) -> bool {
    matches!(classify(key), Some(Key::Run(_)))
}

/// Whether cloud-init knows this top-level key (whether or not strap runs it).
pub fn is_known(key: &str) -> bool {
    classify(key).is_some()
}

/// How a top-level key cloud-init does not know is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownKeys {
    /// An error, "Additional properties are not allowed", as cloud-init 25 judges it
    /// (its schema closes the top level with `additionalProperties: false`).
    Error,
    /// Let pass, as cloud-init 22.4 does (its schema has no rule for them).
    Allowed,
}

/// Validates a loaded cloud-config as cloud-init 25 does.
pub fn validate(node: &Node) -> Report {
    validate_with(node, UnknownKeys::Error)
}

/// Validates a loaded cloud-config, judging unknown top-level keys as `unknown` says.
pub fn validate_with(node: &Node, unknown: UnknownKeys) -> Report {
    let mut report = Report::default();
    let Value::Map(entries) = &node.value else {
        report.errors.push(Problem {
            line: node.mark.line,
            column: node.mark.column,
            path: String::new(),
            message: format!(
                "{} is not of type 'object'; a cloud-config must be a mapping of keys",
                node.to_python_repr()
            ),
        });
        return report;
    };
    let mut walk = Walk {
        errors: &mut report.errors,
        warnings: &mut report.warnings,
    };
    for (k, v) in entries {
        let key = k.key_text();
        let at = |message: String| Problem {
            line: k.mark.line,
            column: k.mark.column,
            path: key.clone(),
            message,
        };
        match k.as_str().and_then(classify) {
            Some(Key::Run(schema)) | Some(Key::Base(schema)) => {
                schema.check(v, &key, &mut walk);
            }
            Some(Key::NotRun(module, schema)) => {
                if schema.check(v, &key, &mut walk) {
                    walk.warnings.push(at(format!(
                        "valid for cloud-init, not run by strap (cloud-init module {module})"
                    )));
                }
            }
            None => {
                if unknown == UnknownKeys::Error {
                    walk.errors.push(at(format!(
                        "Additional properties are not allowed ({} was unexpected)",
                        k.to_python_repr()
                    )));
                }
            }
        }
    }
    for list in [&mut report.errors, &mut report.warnings] {
        list.sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
        list.dedup();
    }
    report
}

/// Loads and validates a cloud-config text. YAML that does not load is one error,
/// at its position, with the path `format-l<line>.c<column>` as cloud-init prints it.
pub fn validate_text(text: &str) -> Report {
    match load(text) {
        Ok(node) => validate(&node),
        Err(e) => {
            let mark = e.mark();
            Report {
                errors: vec![Problem {
                    line: mark.line,
                    column: mark.column,
                    path: format!("format-l{}.c{}", mark.line, mark.column),
                    message: format!("File is not valid YAML. {e}"),
                }],
                warnings: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
