//! What runs between `fork` and `exec` for each process of the sandbox: leaving the host's
//! namespaces, the user-namespace id maps, the parent-death signal, joining the pids
//! cgroup, and for pid 1 of a launch mounting its `/proc` and entering the overlay with
//! `chroot`. Everything these closures touch is prepared before the fork: after it they
//! only make system calls, which is all that is safe in the child of a threaded process.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use super::preflight::Mode;

fn cstring(text: &str) -> io::Result<CString> {
    CString::new(text)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

fn path_cstring(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

/// Die with the parent: SIGKILL when the process that started this one exits, so killing
/// any process of the sandbox tears down everything below it.
fn die_with_parent(parent: nix::unistd::Pid) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    if nix::unistd::getppid() != parent {
        // The parent is already gone: the signal will never come. (No allocation here:
        // a raw error, not a boxed one.)
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// Write `data` to the file `path` with plain system calls (no allocation).
fn write_file(path: &CString, data: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string; the descriptor is closed on every
    // path below; `data` is a valid slice for its length.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, data.as_ptr().cast(), data.len());
        let err = io::Error::last_os_error();
        libc::close(fd);
        if written < 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// The set-up of the sandbox process: new mount, network, UTS and IPC namespaces, and
/// for rootless mode a user namespace mapping the caller to root.
pub fn sandbox_pre_exec(
    mode: Mode,
) -> io::Result<impl FnMut() -> io::Result<()> + Send + Sync + 'static> {
    let parent = nix::unistd::getpid();
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let uid_map = format!("0 {uid} 1\n").into_bytes();
    let gid_map = format!("0 {gid} 1\n").into_bytes();
    let setgroups_path = cstring("/proc/self/setgroups")?;
    let uid_map_path = cstring("/proc/self/uid_map")?;
    let gid_map_path = cstring("/proc/self/gid_map")?;
    Ok(move || {
        die_with_parent(parent)?;
        // The host side ignores these while it waits; this process and those below it
        // must die of them.
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: setting a disposition to SIG_DFL is async-signal-safe and runs no code.
            #[allow(unsafe_code)]
            unsafe {
                nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl)?;
            }
        }
        let mut flags = CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC;
        if mode == Mode::Rootless {
            flags |= CloneFlags::CLONE_NEWUSER;
        }
        nix::sched::unshare(flags)?;
        if mode == Mode::Rootless {
            write_file(&setgroups_path, b"deny")?;
            write_file(&uid_map_path, &uid_map)?;
            write_file(&gid_map_path, &gid_map)?;
        }
        Ok(())
    })
}

/// The set-up of a launch process: a new pid namespace for its children (the boot is its
/// pid 1), and the pids cgroup whose `cgroup.procs` is open as `cgroup_procs`.
pub fn launch_pre_exec(
    cgroup_procs: Option<RawFd>,
) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    let parent = nix::unistd::getpid();
    move || {
        die_with_parent(parent)?;
        if let Some(fd) = cgroup_procs {
            // SAFETY: `fd` is open for writing in the parent, which keeps it open until the
            // child has started; writing "0" moves the calling process into the cgroup.
            #[allow(unsafe_code)]
            let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            if written < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        nix::sched::unshare(CloneFlags::CLONE_NEWPID)?;
        Ok(())
    }
}

/// Parts of the boot's `/proc` that act on the whole machine, made read-only.
const PROC_READ_ONLY: [&str; 2] = ["sys", "sysrq-trigger"];
/// Capabilities dropped from the boot's bounding set (numbers from
/// `linux/capability.h`): loading kernel modules (`CAP_SYS_MODULE`, 16), raw I/O on
/// devices (`CAP_SYS_RAWIO`, 17), setting the clock (`CAP_SYS_TIME`, 25).
const DROPPED_CAPABILITIES: [libc::c_ulong; 3] = [16, 17, 25];

/// The set-up of the boot, pid 1 of the launch's pid namespace: mount its `/proc`, enter
/// the overlay, and apply `RLIMIT_NPROC` when there is no pids cgroup.
pub fn boot_pre_exec(
    root: &Path,
    nproc_limit: Option<u64>,
) -> io::Result<impl FnMut() -> io::Result<()> + Send + Sync + 'static> {
    let root_c = path_cstring(root)?;
    let proc_c = path_cstring(&root.join("proc"))?;
    let proc_type = cstring("proc")?;
    let slash = cstring("/")?;
    let read_only: Vec<CString> = PROC_READ_ONLY
        .iter()
        .map(|p| path_cstring(&root.join("proc").join(p)))
        .collect::<io::Result<_>>()?;
    Ok(move || {
        // As pid 1 its parent is outside its namespace (getppid() is 0), so there is
        // nothing to compare; the launch process waits for it before exiting.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        nix::mount::mount(
            Some(proc_type.as_c_str()),
            proc_c.as_c_str(),
            Some(proc_type.as_c_str()),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&std::ffi::CStr>,
        )?;
        // Most of /proc/sys is global to the machine, not to a namespace: read-only.
        for path in &read_only {
            match nix::mount::mount(
                Some(path.as_c_str()),
                path.as_c_str(),
                None::<&std::ffi::CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&std::ffi::CStr>,
            ) {
                // Not every kernel has every entry (sysrq-trigger is optional).
                Err(nix::Error::ENOENT) => continue,
                other => other?,
            }
            nix::mount::mount(
                None::<&std::ffi::CStr>,
                path.as_c_str(),
                None::<&std::ffi::CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&std::ffi::CStr>,
            )?;
        }
        // Capabilities that act on the machine itself, not on a namespace.
        for cap in DROPPED_CAPABILITIES {
            // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        nix::unistd::chroot(root_c.as_c_str())?;
        nix::unistd::chdir(slash.as_c_str())?;
        if let Some(limit) = nproc_limit {
            let rlim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: `rlim` is a valid, initialised struct for the duration of the call.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &rlim) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    })
}
