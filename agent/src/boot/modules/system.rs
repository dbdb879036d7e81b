//! What the system-configuration modules (`set_passwords`, `ca_certs`, `ntp`,
//! `apt_configure`) share: the root's distro family from its `/etc/os-release`, reading
//! and writing files under the root, and the rule for commands that change the running
//! machine (restart a service, rebuild a trust store): they run only when the root is
//! the real machine (`/`); under any other `--root` they are recorded (a message in the
//! output log, a line in the module's report entry) and not run.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::context::Context;
use crate::secret::Secret;

use super::super::context::Boot;
pub use super::super::os_release::{Family, OsRelease, OS_RELEASE};
use super::ModuleError;

/// The root's path of a machine path, as a module error when it escapes.
pub fn root_path(ctx: &Context, machine: &str) -> Result<PathBuf, ModuleError> {
    ctx.path(machine).map_err(|source| ModuleError::Path {
        path: machine.into(),
        source,
    })
}

/// The most strap reads of a machine file it is about to edit (an account file, hosts,
/// fstab, a sudoers drop-in, `authorized_keys`): files this size are not configuration.
pub const READ_CAP: u64 = 64 << 20;

/// A file under the root, `None` when it does not exist. It is read by its folder's
/// handle, never through a link (one swapped in after the path was resolved is refused,
/// so a file outside the root is never copied into the one strap writes back), and only
/// when it is a regular file of at most [`READ_CAP`] bytes.
pub fn read_opt(ctx: &Context, machine: &str) -> Result<Option<String>, ModuleError> {
    let path = root_path(ctx, machine)?;
    read_path(ctx, machine, &path)
}

/// [`read_opt`] of a path already resolved under the root (`shown` names it in errors).
pub fn read_path(
    ctx: &Context,
    shown: &str,
    path: &std::path::Path,
) -> Result<Option<String>, ModuleError> {
    match crate::context::read_file(ctx.root(), path, READ_CAP) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| ModuleError::Io {
                op: "read",
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        Err(source) => Err(ModuleError::Path {
            path: shown.into(),
            source,
        }),
    }
}

/// Write a file under the root atomically and durably (parents created).
pub fn write(ctx: &Context, machine: &str, text: &str, mode: u32) -> Result<(), ModuleError> {
    let path = root_path(ctx, machine)?;
    crate::boot::durable::write(ctx.root(), &path, text.as_bytes(), Some(mode)).map_err(|source| {
        ModuleError::Path {
            path: machine.into(),
            source,
        }
    })
}

/// Remove a file under the root if it exists.
pub fn remove(ctx: &Context, machine: &str) -> Result<bool, ModuleError> {
    let path = root_path(ctx, machine)?;
    crate::context::remove_file(ctx.root(), &path).map_err(|source| ModuleError::Path {
        path: machine.into(),
        source,
    })
}

/// Whether a program is installed under the root: an absolute path is looked up as is,
/// a name in the usual binary folders of the root.
pub fn installed(ctx: &Context, program: &str) -> bool {
    let candidates: Vec<String> = if program.starts_with('/') {
        vec![program.to_string()]
    } else {
        [
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
            "/usr/local/sbin",
            "/usr/local/bin",
        ]
        .iter()
        .map(|d| format!("{d}/{program}"))
        .collect()
    };
    candidates
        .iter()
        .any(|c| ctx.path(c).map(|p| p.is_file()).unwrap_or(false))
}

/// The package manager command installing `packages` on a distro family (`dnf` or `yum`
/// on the RHEL family, `apt-get` on Debian's); `None` where strap knows no package
/// manager.
pub fn install_command(
    boot: &Boot<'_>,
    family: Family,
    packages: &[String],
) -> Option<Vec<String>> {
    let mut argv: Vec<String> = match family {
        Family::Rhel => {
            let path = boot.ctx.var("PATH");
            let dnf = super::super::exec::on_path(path.as_deref(), "dnf").is_some();
            vec![
                if dnf { "dnf" } else { "yum" }.into(),
                "install".into(),
                "-y".into(),
            ]
        }
        Family::Debian => vec![
            "apt-get".into(),
            "install".into(),
            "--assume-yes".into(),
            "--quiet".into(),
        ],
        Family::Other => return None,
    };
    argv.extend(packages.iter().cloned());
    Some(argv)
}

/// Run a command that changes the running machine, or record it.
///
/// On the real root the command runs (with `stdin` fed to it, never shown) and a
/// failure is an error naming the command. Under another root it is not run: the
/// returned line (`would run `...` (not run under --root)`) has been written to the
/// output log and belongs in the module's report entry.
pub fn run_or_record(
    boot: &Boot<'_>,
    module: &str,
    argv: &[String],
    stdin: Option<&Secret<String>>,
) -> Result<Option<String>, ModuleError> {
    let shown = argv.join(" ");
    if !boot.on_real_root() {
        let line = format!("would run `{shown}` (not run under --root)");
        boot.out.message(&format!("{module}: {line}"));
        boot.log.line("INFO", &format!("{module}: {line}"));
        return Ok(Some(line));
    }
    let Some((program, args)) = argv.split_first() else {
        return Ok(None);
    };
    boot.log
        .line("DEBUG", &format!("{module}: running {shown}"));
    let failed = |status: String| ModuleError::Command {
        command: shown.clone(),
        status,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.expose().as_bytes())
            .map_err(|e| failed(format!("cannot write its input: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(format!("cannot wait for it: {e}")))?;
    if out.status.success() {
        Ok(None)
    } else {
        Err(failed(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Test helper: the available cloud-inits that can import `module` (each missing one
/// named on stderr).
#[cfg(test)]
pub(crate) use crate::cloud_init_peers::cloud_inits;

/// Test helper: run a Python snippet under every available cloud-init, feeding `input`
/// on stdin: each version's name and output (none, with a message, when python3 or
/// cloud-init is missing).
#[cfg(test)]
pub(crate) use crate::cloud_init_peers::oracles as cloud_init_oracles;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_families() {
        let deb = OsRelease::parse("ID=debian\nVERSION_CODENAME=bookworm\n");
        assert_eq!(deb.family(), Family::Debian);
        assert_eq!(deb.codename.as_deref(), Some("bookworm"));
        let mint = OsRelease::parse("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n");
        assert_eq!(mint.family(), Family::Debian);
        let al = OsRelease::parse("ID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\n");
        assert_eq!(al.family(), Family::Rhel);
        assert_eq!(OsRelease::parse("ID=alpine\n").family(), Family::Other);
        assert_eq!(OsRelease::parse("").family(), Family::Other);
    }

    #[test]
    fn installed_looks_under_the_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), dir.path());
        assert!(!installed(&ctx, "chronyd"));
        std::fs::create_dir_all(dir.path().join("usr/sbin")).unwrap();
        std::fs::write(dir.path().join("usr/sbin/chronyd"), "").unwrap();
        assert!(installed(&ctx, "chronyd"));
        assert!(!installed(&ctx, "/lib/systemd/systemd-timesyncd"));
    }
}
