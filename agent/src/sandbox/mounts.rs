//! The mounts of the sandbox, all made inside its own mount namespace after every mount
//! has been made private, so none of them propagates to the host: the tmpfs holding the
//! upper layers, a read-only bind of the bare root filesystem (the lower layer), the
//! overlays, and the fresh `/dev`, `/tmp`, `/run` and `/sys` each launch gets. `/proc` is
//! mounted by the boot itself, as pid 1 of its pid namespace (see `spawn`).

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::SandboxError;

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &str,
) -> Result<(), SandboxError> {
    nix::mount::mount(source, target, fstype, flags, data).map_err(|source| SandboxError::Mount {
        what: what.to_string(),
        target: target.to_path_buf(),
        source,
    })
}

fn mkdir(path: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir_all(path).map_err(SandboxError::io("create folder", path))
}

/// Make every mount of this (new) mount namespace private, so nothing done here reaches
/// the host.
pub fn make_private() -> Result<(), SandboxError> {
    mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
        "private propagation",
    )
}

/// A tmpfs of at most `size` bytes on `target`.
pub fn tmpfs(target: &Path, size: Option<u64>, mode: &str) -> Result<(), SandboxError> {
    mkdir(target)?;
    let data = match size {
        Some(size) => format!("size={size},mode={mode}"),
        None => format!("mode={mode}"),
    };
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&data),
        "tmpfs",
    )
}

/// The root filesystem alone (without the mounts on top of it), read-only, on `target`:
/// exactly what an overlay over `/` sees as its lower layer.
pub fn bind_root_readonly(target: &Path) -> Result<(), SandboxError> {
    mkdir(target)?;
    mount(Some("/"), target, None, MsFlags::MS_BIND, None, "bind of /")?;
    mount(
        None,
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None,
        "read-only remount of the bind of /",
    )
}

fn lowerdir(lowers: &[PathBuf]) -> String {
    lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// A writable overlay on `target`: `lowers` (topmost first), `upper` and `work`.
pub fn overlay(
    target: &Path,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    userxattr: bool,
) -> Result<(), SandboxError> {
    mkdir(target)?;
    mkdir(upper)?;
    mkdir(work)?;
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir(lowers),
        upper.display(),
        work.display()
    );
    if userxattr {
        data.push_str(",userxattr");
    }
    // No device node on the overlay opens a device: the boot's `/dev` is its own.
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::MS_NODEV,
        Some(&data),
        "overlay",
    )
}

/// A read-only overlay of `lowers` (topmost first) on `target`: the image a relaunch
/// starts from, to compare its changes against.
pub fn readonly_overlay(
    target: &Path,
    lowers: &[PathBuf],
    userxattr: bool,
) -> Result<(), SandboxError> {
    mkdir(target)?;
    if lowers.len() == 1 {
        mount(
            lowers[0].to_str(),
            target,
            None,
            MsFlags::MS_BIND,
            None,
            "bind of the image",
        )?;
        return Ok(());
    }
    let mut data = format!("lowerdir={}", lowerdir(lowers));
    if userxattr {
        data.push_str(",userxattr");
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(&data),
        "read-only overlay",
    )
}

/// Detach `target` and everything mounted below it.
pub fn detach(target: &Path) -> Result<(), SandboxError> {
    nix::mount::umount2(target, MntFlags::MNT_DETACH).map_err(|source| SandboxError::Mount {
        what: "unmount".to_string(),
        target: target.to_path_buf(),
        source,
    })
}

/// Device nodes bound from the host into the sandbox's fresh `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Give the overlay at `root` what a booted machine has besides its disk: a minimal
/// `/dev`, empty `/tmp` and `/run`, a read-only `/sys`, and the strap binary at
/// `SANDBOX_RUN_DIR/strap`. `/proc` is left to the boot (pid 1).
pub fn prepare_root(root: &Path, exe: &Path) -> Result<PathBuf, SandboxError> {
    let dev = root.join("dev");
    tmpfs(&dev, Some(16 * 1024 * 1024), "755")?;
    for name in DEVICES {
        let node = dev.join(name);
        std::fs::File::create(&node).map_err(SandboxError::io("create", &node))?;
        let host = Path::new("/dev").join(name);
        if host.exists() {
            mount(
                host.to_str(),
                &node,
                None,
                MsFlags::MS_BIND,
                None,
                "bind of a device",
            )?;
        }
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let path = dev.join(link);
        std::os::unix::fs::symlink(target, &path)
            .map_err(SandboxError::io("create link", &path))?;
    }
    let pts = dev.join("pts");
    mkdir(&pts)?;
    // A private pty instance; not fatal where the kernel refuses it.
    if let Err(err) = mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
        "devpts",
    ) {
        tracing::debug!("no /dev/pts in the sandbox: {err}");
    }
    tmpfs(&dev.join("shm"), Some(64 * 1024 * 1024), "1777")?;
    tmpfs(&root.join("tmp"), None, "1777")?;
    tmpfs(&root.join("run"), None, "755")?;
    let sys = root.join("sys");
    mkdir(&sys)?;
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if let Err(err) = mount(Some("sysfs"), &sys, Some("sysfs"), ro, None, "sysfs") {
        tracing::debug!("no /sys in the sandbox: {err}");
    }
    let run_dir = root.join(super::SANDBOX_RUN_DIR.trim_start_matches('/'));
    mkdir(&run_dir)?;
    let strap = run_dir.join("strap");
    std::fs::File::create(&strap).map_err(SandboxError::io("create", &strap))?;
    mount(
        exe.to_str(),
        &strap,
        None,
        MsFlags::MS_BIND,
        None,
        "bind of the strap binary",
    )?;
    mount(
        None,
        &strap,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None,
        "read-only remount of the strap binary",
    )?;
    Ok(run_dir)
}
