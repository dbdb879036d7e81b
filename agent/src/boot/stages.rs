//! The stage table: the stages after `init-local`, their modules in cloud-init's order,
//! and each module's default frequency. The runner (`runner.rs`) walks it; modules
//! never import it (they are the table's entries, not its readers).

use super::context::Boot;
use super::frequency::Frequency;
use super::modules::{self, ModuleError, Outcome};

/// A module's work.
pub type ModuleFn = fn(&mut Boot<'_>) -> Result<Outcome, ModuleError>;

/// A module of a stage: its name (cloud-init's), default frequency and work.
pub type StageModule = (&'static str, Frequency, ModuleFn);

/// Steps that are not cloud-init modules (module lists never name them): the network,
/// and the redirect of each stage's output (`output`, applied as each stage starts).
pub const NOT_IN_MODULE_LISTS: &[&str] = &["network", "output"];

/// The stages after `init-local` and their modules, in cloud-init's order, each with its
/// default frequency (the config's module lists may choose which run and how often).
pub const STAGES: &[(&str, &[StageModule])] = &[
    (
        "init-network",
        &[
            ("bootcmd", Frequency::PerBoot, modules::commands::bootcmd),
            (
                "write_files",
                Frequency::PerInstance,
                modules::write_files::write_files,
            ),
            (
                "growpart",
                Frequency::Always,
                modules::disk::growpart::growpart,
            ),
            (
                "resizefs",
                Frequency::Always,
                modules::disk::resizefs::resizefs,
            ),
            (
                "disk_setup",
                Frequency::PerInstance,
                modules::disk::disk_setup::disk_setup,
            ),
            (
                "mounts",
                Frequency::PerInstance,
                modules::disk::mounts::mounts,
            ),
            (
                "set_hostname",
                Frequency::PerInstance,
                modules::hostname::set_hostname,
            ),
            (
                "update_etc_hosts",
                Frequency::PerBoot,
                modules::hostname::update_etc_hosts,
            ),
            (
                "ca_certs",
                Frequency::PerInstance,
                modules::ca_certs::ca_certs,
            ),
            (
                "users_groups",
                Frequency::PerInstance,
                modules::users::users_groups,
            ),
            ("ssh", Frequency::PerInstance, modules::users::ssh),
        ],
    ),
    (
        "modules-config",
        &[
            (
                "ssh_import_id",
                Frequency::PerInstance,
                modules::ssh_import_id::ssh_import_id,
            ),
            ("locale", Frequency::PerInstance, modules::locale::locale),
            (
                "set_passwords",
                Frequency::PerInstance,
                modules::set_passwords::set_passwords,
            ),
            (
                "apt_configure",
                Frequency::PerInstance,
                modules::apt_configure::apt_configure,
            ),
            (
                "yum_add_repo",
                Frequency::PerInstance,
                modules::yum_add_repo::yum_add_repo,
            ),
            ("ntp", Frequency::PerInstance, modules::ntp::ntp),
            (
                "timezone",
                Frequency::PerInstance,
                modules::timezone::timezone,
            ),
            (
                "disable_ec2_metadata",
                Frequency::Always,
                modules::disable_ec2_metadata::disable_ec2_metadata,
            ),
            ("runcmd", Frequency::PerInstance, modules::commands::runcmd),
        ],
    ),
    (
        "modules-final",
        &[
            (
                "package_update_upgrade_install",
                Frequency::PerInstance,
                modules::packages::packages,
            ),
            (
                "write_files_deferred",
                Frequency::PerInstance,
                modules::write_files::write_files_deferred,
            ),
            (
                "puppet",
                Frequency::PerInstance,
                modules::config_mgmt::puppet,
            ),
            ("chef", Frequency::Always, modules::config_mgmt::chef),
            (
                "ansible",
                Frequency::PerInstance,
                modules::config_mgmt::ansible,
            ),
            (
                "salt_minion",
                Frequency::PerInstance,
                modules::config_mgmt::salt_minion,
            ),
            ("scripts_per_once", Frequency::PerOnce, scripts_per_once),
            ("scripts_per_boot", Frequency::PerBoot, scripts_per_boot),
            (
                "scripts_per_instance",
                Frequency::PerInstance,
                scripts_per_instance,
            ),
            (
                "scripts_user",
                Frequency::PerInstance,
                modules::scripts::scripts_user,
            ),
            (
                "keys_to_console",
                Frequency::PerInstance,
                modules::keys_to_console::keys_to_console,
            ),
            (
                "final_message",
                Frequency::Always,
                modules::final_message::final_message,
            ),
            (
                "power_state_change",
                Frequency::PerInstance,
                modules::power::power_state,
            ),
        ],
    ),
];

fn scripts_per_once(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    modules::scripts::per_dir(boot, "per-once", Frequency::PerOnce)
}

fn scripts_per_boot(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    modules::scripts::per_dir(boot, "per-boot", Frequency::PerBoot)
}

fn scripts_per_instance(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    modules::scripts::per_dir(boot, "per-instance", Frequency::PerInstance)
}
