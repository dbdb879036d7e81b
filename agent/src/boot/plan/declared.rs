//! What the effective cloud-config declares, module by module, in a form that can be
//! compared and recorded: each module's slice of the config (its keys) and, for the
//! modules that own things on the machine, the resources (files, users, groups,
//! packages, scripts). The resources are read with the modules' own readers
//! (`write_files::decode_content`, `users::planned_users`, `packages::planned_packages`),
//! so the plan describes what the module would do, not a second reading of the config.

use std::collections::BTreeMap;

use crate::cloudconfig::Node;
use crate::userdata::content_type as ct;

use super::super::applied::{sha256, ModuleState, Resource};
use super::super::context::Boot;
use super::super::modules::{self, consume, packages, users, write_files};
use super::PlanError;

/// Whether a module's changes can be applied to the running machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Live {
    /// Applied by running the module again with the changed part of the config.
    Yes,
    /// Commands and scripts: run once; rerun only when asked (`--rerun MODULE`).
    OneShot,
    /// Not applied to a running machine, with the reason.
    No(&'static str),
}

/// One module as the plan sees it: its name (cloud-init's), the top-level keys it
/// reads, and whether it applies live.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub module: &'static str,
    pub keys: &'static [&'static str],
    pub live: Live,
}

const HOSTNAME_KEYS: &[&str] = &[
    "hostname",
    "fqdn",
    "prefer_fqdn_over_hostname",
    "preserve_hostname",
    "create_hostname_file",
];
const PACKAGE_KEYS: &[&str] = &[
    "packages",
    "package_update",
    "package_upgrade",
    "package_reboot_if_required",
    "apt_update",
    "apt_upgrade",
    "repo_update",
    "repo_upgrade",
    "repo_upgrade_exclude",
];
const SSH_KEYS: &[&str] = &[
    "ssh_authorized_keys",
    "disable_root",
    "disable_root_opts",
    "allow_public_ssh_keys",
    "ssh_keys",
    "ssh_genkeytypes",
    "ssh_deletekeys",
    "ssh_quiet_keygen",
    "ssh_publish_hostkeys",
];
/// The `ssh` keys that only concern authorized keys: those apply live.
pub const SSH_LIVE_KEYS: &[&str] = &[
    "ssh_authorized_keys",
    "disable_root",
    "disable_root_opts",
    "allow_public_ssh_keys",
];

/// Every module the plan knows, in the boot's order (`boothooks` are the user data's
/// boothook parts, consumed at the start of `init-network`).
pub const SPECS: &[Spec] = &[
    Spec {
        module: "output",
        keys: &["output"],
        live: Live::No(
            "where a boot's stages send their output: the change takes effect at the next boot",
        ),
    },
    Spec {
        module: "boothooks",
        keys: &[],
        live: Live::OneShot,
    },
    Spec {
        module: "bootcmd",
        keys: &["bootcmd"],
        live: Live::OneShot,
    },
    Spec {
        module: "write_files",
        keys: &["write_files"],
        live: Live::Yes,
    },
    Spec {
        module: "growpart",
        keys: &["growpart"],
        live: Live::No("runs at every boot: the change takes effect at the next boot"),
    },
    Spec {
        module: "resizefs",
        keys: &["resize_rootfs"],
        live: Live::No("runs at every boot: the change takes effect at the next boot"),
    },
    Spec {
        module: "disk_setup",
        keys: &["disk_setup", "fs_setup", "device_aliases"],
        live: Live::No("partitions and filesystems are made once, before the disks are mounted"),
    },
    Spec {
        module: "mounts",
        keys: &["mounts", "mount_default_fields", "swap"],
        live: Live::Yes,
    },
    Spec {
        module: "set_hostname",
        keys: HOSTNAME_KEYS,
        live: Live::Yes,
    },
    Spec {
        module: "update_etc_hosts",
        keys: &["manage_etc_hosts", "hostname", "fqdn"],
        live: Live::Yes,
    },
    Spec {
        module: "ca_certs",
        keys: &["ca_certs", "ca-certs"],
        live: Live::Yes,
    },
    Spec {
        module: "users_groups",
        keys: &["users", "groups", "user"],
        live: Live::Yes,
    },
    Spec {
        module: "ssh",
        keys: SSH_KEYS,
        live: Live::Yes,
    },
    Spec {
        module: "ssh_import_id",
        keys: &["ssh_import_id"],
        live: Live::Yes,
    },
    Spec {
        module: "locale",
        keys: &["locale", "locale_configfile"],
        live: Live::Yes,
    },
    Spec {
        module: "set_passwords",
        keys: &["chpasswd", "password", "ssh_pwauth"],
        live: Live::Yes,
    },
    Spec {
        module: "apt_configure",
        keys: &[
            "apt",
            "apt_sources",
            "apt_mirror",
            "apt_mirror_search",
            "apt_mirror_search_dns",
            "apt_proxy",
            "apt_http_proxy",
            "apt_ftp_proxy",
            "apt_https_proxy",
            "apt_preserve_sources_list",
            "apt_custom_sources_list",
            "add_apt_repo_match",
        ],
        live: Live::Yes,
    },
    Spec {
        module: "yum_add_repo",
        keys: &["yum_repos", "yum_repo_dir"],
        live: Live::Yes,
    },
    Spec {
        module: "ntp",
        keys: &["ntp"],
        live: Live::Yes,
    },
    Spec {
        module: "timezone",
        keys: &["timezone"],
        live: Live::Yes,
    },
    Spec {
        module: "disable_ec2_metadata",
        keys: &["disable_ec2_metadata"],
        live: Live::Yes,
    },
    Spec {
        module: "runcmd",
        keys: &["runcmd"],
        live: Live::OneShot,
    },
    Spec {
        module: "package_update_upgrade_install",
        keys: PACKAGE_KEYS,
        live: Live::Yes,
    },
    Spec {
        module: "write_files_deferred",
        keys: &["write_files"],
        live: Live::Yes,
    },
    Spec {
        module: "puppet",
        keys: &["puppet"],
        live: Live::Yes,
    },
    Spec {
        module: "chef",
        keys: &["chef"],
        live: Live::Yes,
    },
    Spec {
        module: "ansible",
        keys: &["ansible"],
        live: Live::OneShot,
    },
    Spec {
        module: "salt_minion",
        keys: &["salt_minion"],
        live: Live::Yes,
    },
    Spec {
        module: "scripts_per_once",
        keys: &[],
        live: Live::OneShot,
    },
    Spec {
        module: "scripts_per_boot",
        keys: &[],
        live: Live::OneShot,
    },
    Spec {
        module: "scripts_per_instance",
        keys: &[],
        live: Live::OneShot,
    },
    Spec {
        module: "scripts_user",
        keys: &[],
        live: Live::OneShot,
    },
    Spec {
        module: "final_message",
        keys: &["final_message"],
        live: Live::No("printed at the end of every boot: the change shows at the next boot"),
    },
    Spec {
        module: "power_state_change",
        keys: &["power_state"],
        live: Live::No("would reboot or power off the running machine"),
    },
];

/// The spec of a module, by name.
pub fn spec(module: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.module == module)
}

/// What the boot's config declares for a module.
pub fn module_state(boot: &Boot<'_>, spec: &Spec) -> Result<ModuleState, PlanError> {
    let mut config = BTreeMap::new();
    // /etc/hosts is edited only with `manage_etc_hosts`: without it the hostname is not
    // this module's business.
    let keys = if spec.module == "update_etc_hosts"
        && !modules::truthy(boot.cfg("manage_etc_hosts"), false)
        && boot
            .cfg("manage_etc_hosts")
            .and_then(modules::scalar_text)
            .as_deref()
            != Some("localhost")
    {
        &[][..]
    } else {
        spec.keys
    };
    for key in keys {
        if let Some(node) = boot.cfg(key) {
            config.insert((*key).to_string(), node.to_json());
        }
    }
    let resources = match spec.module {
        "write_files" => files(boot, false)?,
        "write_files_deferred" => files(boot, true)?,
        "users_groups" => accounts(boot)?,
        "package_update_upgrade_install" => packages::planned_packages(boot)
            .map_err(|e| invalid("packages", &e))?
            .into_iter()
            .map(|name| Resource::Package {
                name,
                created: false,
            })
            .collect(),
        "disk_setup" => disks(boot)?,
        "boothooks" => scripts(boot, &[ct::BOOTHOOK]),
        "scripts_user" => scripts(boot, &[ct::SHELLSCRIPT, ct::POWERSHELL]),
        "scripts_per_once" => scripts(boot, &[ct::SHELLSCRIPT_PER_ONCE]),
        "scripts_per_boot" => scripts(boot, &[ct::SHELLSCRIPT_PER_BOOT]),
        "scripts_per_instance" => scripts(boot, &[ct::SHELLSCRIPT_PER_INSTANCE]),
        _ => Vec::new(),
    };
    Ok(ModuleState { config, resources })
}

/// The partition tables and filesystems `disk_setup` and `fs_setup` ask for, by the
/// names the config gives their devices.
fn disks(boot: &Boot<'_>) -> Result<Vec<Resource>, PlanError> {
    use modules::disk::disk_setup::{parse_disk, parse_fs, Layout, Table};
    let mut out = Vec::new();
    for (k, v) in boot
        .cfg("disk_setup")
        .and_then(Node::as_map)
        .unwrap_or_default()
    {
        let disk = parse_disk(&k.key_text(), v)
            .map_err(|e| at(v, &format!("disk_setup.{}: {e}", k.key_text())))?;
        let layout = match &disk.layout {
            Layout::Off => "false".to_string(),
            Layout::Whole => "true".to_string(),
            Layout::Remove => "remove".to_string(),
            Layout::Parts(parts) => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| match &p.kind {
                        Some(kind) => format!("[{}, {kind}]", p.percent),
                        None => p.percent.to_string(),
                    })
                    .collect();
                format!("[{}]", parts.join(", "))
            }
        };
        out.push(Resource::Disk {
            name: disk.name,
            table: match disk.table {
                Table::Mbr => "mbr",
                Table::Gpt => "gpt",
            }
            .into(),
            layout,
            overwrite: disk.overwrite,
        });
    }
    for (i, entry) in boot
        .cfg("fs_setup")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let fs = parse_fs(i, entry).map_err(|e| at(entry, &format!("fs_setup.{i}: {e}")))?;
        out.push(Resource::Filesystem {
            device: fs.device.unwrap_or_default(),
            partition: fs.partition,
            filesystem: fs.filesystem.unwrap_or_default(),
            label: fs.label,
            overwrite: fs.overwrite,
            replace_fs: fs.replace_fs,
            extra_opts: fs.extra_opts,
            cmd: fs.cmd,
        });
    }
    Ok(out)
}

fn invalid(key: &str, err: &modules::ModuleError) -> PlanError {
    PlanError::Invalid {
        part: "cloud-config".into(),
        line: None,
        column: None,
        message: format!("{key}: {}", super::super::records::error_chain(err)),
    }
}

fn files(boot: &Boot<'_>, deferred: bool) -> Result<Vec<Resource>, PlanError> {
    let Some(node) = boot.cfg("write_files") else {
        return Ok(Vec::new());
    };
    let Some(entries) = node.as_seq() else {
        return Err(at(node, "write_files is not a list of files"));
    };
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if modules::truthy(entry.get("defer"), false) != deferred {
            continue;
        }
        let file = write_files::read_entry(i, entry)
            .map_err(|e| at(entry, &format!("write_files.{i}: {e}")))?;
        let Some(file) = file else { continue };
        // A file from a `source` is known by its source: the plan does not fetch.
        let source = write_files::source(i, entry)
            .map_err(|e| at(entry, &format!("write_files.{i}: {e}")))?;
        let (digest, size, source_uri, source_sha256) = match source {
            Some(src) => (
                String::new(),
                0,
                Some(write_files::shown_uri(&src.uri)),
                Some(src.digest(&file.content)),
            ),
            None => (sha256(&file.content), file.content.len() as u64, None, None),
        };
        out.push(Resource::File {
            path: file.path,
            sha256: digest,
            size,
            mode: file.mode.unwrap_or(0o644) & 0o7777,
            owner: file.owner,
            append: file.append,
            created: false,
            source_uri,
            source_sha256,
        });
    }
    Ok(out)
}

fn at(node: &Node, message: &str) -> PlanError {
    PlanError::Invalid {
        part: "cloud-config".into(),
        line: Some(node.mark.line),
        column: Some(node.mark.column),
        message: message.to_string(),
    }
}

fn accounts(boot: &Boot<'_>) -> Result<Vec<Resource>, PlanError> {
    let mut out = Vec::new();
    if let Some(groups) = boot.cfg("groups") {
        for (name, members) in users::group_entries(groups).map_err(|e| invalid("groups", &e))? {
            out.push(Resource::Group {
                name,
                members,
                created: false,
            });
        }
    }
    for (name, spec) in users::planned_users(boot).map_err(|e| invalid("users", &e))? {
        out.push(Resource::User {
            name,
            spec,
            created: false,
        });
    }
    Ok(out)
}

fn scripts(boot: &Boot<'_>, types: &[&str]) -> Vec<Resource> {
    boot.parts
        .iter()
        .filter(|p| types.contains(&p.content_type.as_str()))
        .map(|p| Resource::Script {
            name: consume::clean_name(&p.filename),
            sha256: sha256(&p.payload),
        })
        .collect()
}
