//! `disable_ec2_metadata` (cloud-init's cc_disable_ec2_metadata, config stage, always):
//! with `disable_ec2_metadata: true`, a route that refuses 169.254.169.254 is added
//! (`ip route add prohibit 169.254.169.254`, or `route add -host … reject` where only
//! `route` exists), so that nothing started after the boot can reach the metadata service.
//! On the real root the command runs; under `--root` it is recorded.

use super::super::context::Boot;
use super::{system, truthy, ModuleError, Outcome};

/// The command with `ip`.
pub const REJECT_WITH_IP: [&str; 5] = ["ip", "route", "add", "prohibit", "169.254.169.254"];
/// The command with `route` (net-tools).
pub const REJECT_WITH_ROUTE: [&str; 5] = ["route", "add", "-host", "169.254.169.254", "reject"];

/// `disable_ec2_metadata`.
pub fn disable_ec2_metadata(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    if !truthy(boot.cfg("disable_ec2_metadata"), false) {
        return Ok(Outcome::Skipped("disable_ec2_metadata is not true".into()));
    }
    let argv = if system::installed(boot.ctx, "ip") {
        REJECT_WITH_IP
    } else if system::installed(boot.ctx, "route") {
        REJECT_WITH_ROUTE
    } else {
        return Err(ModuleError::Command {
            command: REJECT_WITH_IP.join(" "),
            status: "neither `ip` nor `route` is installed: the route to the metadata service cannot be refused".into(),
        });
    };
    let argv: Vec<String> = argv.iter().map(|s| (*s).to_string()).collect();
    let recorded = system::run_or_record(boot, "disable_ec2_metadata", &argv, None)?;
    Ok(Outcome::Ran {
        exit_code: None,
        tail: recorded.into_iter().collect(),
    })
}
