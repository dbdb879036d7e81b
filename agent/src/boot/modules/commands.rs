//! `bootcmd` (run early, every boot, through `/bin/sh`) and `runcmd` (written to the
//! instance's `scripts/runcmd`, run later by `scripts_user`), both through cloud-init's
//! `shellify`.

use super::super::context::Boot;
use super::consume::describe;
use super::{shellify, ModuleError, Outcome};

/// `bootcmd`: shellify, write to `/run/strap/tmp/bootcmd.sh`, run with `/bin/sh`.
pub fn bootcmd(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(node) = boot.cfg("bootcmd").cloned() else {
        return Ok(Outcome::Skipped("no `bootcmd` in cloud-config".into()));
    };
    let text = shellify("bootcmd", &node)?;
    let path = boot.paths.run.join("tmp").join("bootcmd.sh");
    crate::boot::durable::write(&boot.paths.root, &path, text.as_bytes(), Some(0o700)).map_err(
        |source| ModuleError::Path {
            path: path.display().to_string(),
            source,
        },
    )?;
    let outcome = boot
        .run_script("bootcmd", &path, Some("/bin/sh".into()))
        .map_err(|e| ModuleError::Scripts {
            failures: vec![format!("bootcmd: {e}")],
            attempted: 1,
            exit_code: None,
            tail: Vec::new(),
        })?;
    if outcome.success() {
        Ok(Outcome::Ran {
            exit_code: outcome.exit_code,
            tail: outcome.tail,
        })
    } else {
        Err(ModuleError::Scripts {
            failures: vec![format!("bootcmd: {}", describe(&outcome))],
            attempted: 1,
            exit_code: outcome.exit_code,
            tail: outcome.tail,
        })
    }
}

/// `runcmd`: shellify into the instance's `scripts/runcmd` (0700).
pub fn runcmd(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(node) = boot.cfg("runcmd").cloned() else {
        return Ok(Outcome::Skipped("no `runcmd` in cloud-config".into()));
    };
    let text = shellify("runcmd", &node)?;
    let path = boot.instance_dir.join("scripts").join("runcmd");
    crate::boot::durable::write(&boot.paths.root, &path, text.as_bytes(), Some(0o700)).map_err(
        |source| ModuleError::Path {
            path: path.display().to_string(),
            source,
        },
    )?;
    Ok(Outcome::ran())
}
