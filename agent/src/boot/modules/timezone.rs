//! `timezone`: the zone must exist in the root's `/usr/share/zoneinfo` (or, for a root
//! without zone data, the machine's); writes `/etc/timezone` and points the
//! `/etc/localtime` symlink at the zone.

use std::path::Path;

use super::super::context::Boot;
use super::{scalar_text, wrong_type, ModuleError, Outcome};

/// The zone database.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";

/// `timezone`.
pub fn timezone(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(node) = boot.cfg("timezone").cloned() else {
        return Ok(Outcome::Skipped("no `timezone` in cloud-config".into()));
    };
    let tz = scalar_text(&node).ok_or_else(|| wrong_type("timezone", "a zone name", &node))?;
    if tz.contains("..") || tz.starts_with('/') {
        return Err(ModuleError::Invalid {
            key: "timezone".into(),
            message: format!("`{tz}` is not a zone name"),
        });
    }
    let zone_machine = format!("{ZONEINFO}/{tz}");
    let in_root = boot
        .ctx
        .path(&zone_machine)
        .map_err(|source| ModuleError::Path {
            path: zone_machine.clone(),
            source,
        })?;
    let root_has_db = boot.ctx.path(ZONEINFO).map(|p| p.is_dir()).unwrap_or(false);
    let exists = if root_has_db {
        in_root.is_file()
    } else {
        Path::new(&zone_machine).is_file()
    };
    if !exists {
        return Err(ModuleError::Invalid {
            key: "timezone".into(),
            message: format!("unknown zone `{tz}`: {zone_machine} does not exist"),
        });
    }
    boot.ctx
        .path("/etc/timezone")
        .and_then(|p| {
            crate::boot::durable::write(
                boot.ctx.root(),
                &p,
                format!("{tz}\n").as_bytes(),
                Some(0o644),
            )
        })
        .map_err(|source| ModuleError::Path {
            path: "/etc/timezone".into(),
            source,
        })?;
    let localtime = boot
        .ctx
        .path("/etc/localtime")
        .map_err(|source| ModuleError::Path {
            path: "/etc/localtime".into(),
            source,
        })?;
    crate::context::replace_symlink(boot.ctx.root(), &localtime, Path::new(&zone_machine))
        .map_err(|source| ModuleError::Path {
            path: "/etc/localtime".into(),
            source,
        })?;
    Ok(Outcome::ran())
}
