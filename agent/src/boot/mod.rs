//! The boot: what `strap run` does with an instance's user data, in cloud-init's order,
//! and the records it leaves. Data flows one way: a [`source::Datasource`] gives the
//! identity and user data, [`modules::consume`] turns the user data into stored parts and
//! a merged cloud-config, and [`runner`] runs the stages and their modules (the table in
//! [`stages`]), asking [`frequency`] whether each piece of work is due and writing
//! [`records`] as it goes. A module sees the boot only through [`context::Boot`]: the
//! runner imports the modules, never the other way round.
//! `status`, `analyze` and `query` read those records back. Every file the boot writes
//! goes through the [`Context`](crate::context::Context), so a whole boot runs under
//! `--root DIR` without touching the machine; scripts themselves run on the machine,
//! with the root as their working folder and in `$STRAP_ROOT`.
//!
//! Stages and modules (frequency), in order:
//! - `init-local`: the identity document, the user data and the local hostname, in
//!   parallel;
//! - `init-network`: `network` (per boot: [`crate::net`], every interface from the
//!   metadata), user-data consumption and boothooks (per boot), `bootcmd` (per boot),
//!   `write_files`, `growpart` and `resizefs` (always), `mounts`, `set_hostname`,
//!   `update_etc_hosts` (per boot), `ca_certs`, `users_groups`, `ssh`;
//! - `modules-config`: `ssh_import_id`, `set_passwords`, `apt_configure`, `ntp`,
//!   `timezone`, `disable_ec2_metadata` (always), `runcmd` (writes `scripts/runcmd`);
//! - `modules-final`: `package_update_upgrade_install`, `write_files_deferred`,
//!   `scripts_per_once` (once), `scripts_per_boot` (per boot), `scripts_per_instance`,
//!   `scripts_user`, `keys_to_console`, `final_message` (always), `power_state_change`.
//!
//! Under systemd the boot is two units: `strap run --stage init` reports ready to systemd
//! ([`notify`]) after `init-network` and holds, and `strap run --stage final`, started
//! after `multi-user.target`, releases `modules-config` and `modules-final`. At boot the
//! first metadata round trip waits for a late service ([`source::fetch_instance_waiting`]).
//!
//! The merged cloud-config is the user data's over the image's system config
//! ([`sysconfig`]: `/etc/cloud/cloud.cfg` and its drop-ins).
//!
//! Unlike cloud-init, a marker is written only after its work succeeded (see
//! [`frequency`]), and each script has its own marker.
//!
//! The shape of `<state>/data/report.json` is documented in [`records`].

pub mod analyze;
pub mod applied;
pub mod context;
pub mod durable;
pub mod exec;
pub mod frequency;
pub mod lock;
pub mod modules;
pub mod notify;
pub mod os_release;
pub mod paths;
pub mod plan;
pub mod query;
pub mod records;
pub mod runner;
pub mod source;
pub mod stages;
pub mod state;
pub mod status;
pub mod sysconfig;

pub use context::{BootError, BootOptions, PowerAction};
pub use frequency::Frequency;
pub use paths::Paths;
pub use records::{ItemStatus, Report, ReportItem};
pub use runner::{run_boot, BootSummary};
pub use source::{Datasource, ImdsSource, InstanceData, SeedSource};
