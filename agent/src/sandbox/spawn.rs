//! What runs between `fork` and `exec` for each process of the sandbox: leaving the host's
//! namespaces, the user-namespace id maps, the parent-death signal, joining the cgroups,
//! and for pid 1 of a launch mounting its `/proc`, entering its own user namespace (as
//! root), moving into the overlay with `pivot_root`, and dropping capabilities (see
//! [`boot_pre_exec`]). Everything these closures touch is prepared before the fork: after
//! it they only make system calls, which is all that is safe in the child of a threaded
//! process.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
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
/// pid 1), and the cgroups whose `cgroup.procs` files are open as `cgroup_procs`.
pub fn launch_pre_exec(
    cgroup_procs: Vec<RawFd>,
) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    let parent = nix::unistd::getpid();
    move || {
        die_with_parent(parent)?;
        for fd in &cgroup_procs {
            // SAFETY: `fd` is open for writing in the parent, which keeps it open until the
            // child has started; writing "0" moves the calling process into the cgroup.
            #[allow(unsafe_code)]
            let written = unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) };
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

/// Capabilities the boot keeps (numbers from `linux/capability.h`); every other one is
/// dropped from its bounding set. What configuring a machine from the inside needs:
/// owning, reading and writing any file (`CHOWN` 0, `DAC_OVERRIDE` 1, `FOWNER` 3,
/// `FSETID` 4), signalling its own processes (`KILL` 5), running commands as the users it
/// creates (`SETGID` 6, `SETUID` 7, `SETPCAP` 8 to drop capabilities further), binding low
/// ports and `ping` (`NET_BIND_SERVICE` 10, `NET_RAW` 13), PAM's audit records of
/// `useradd` and `chpasswd` (`AUDIT_WRITE` 29), and file capabilities that packages set
/// (`SETFCAP` 31).
const KEPT_CAPABILITIES: [libc::c_ulong; 12] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 29, 31];
/// `CAP_SYS_ADMIN`: kept only inside a user namespace, where it acts on the sandbox's own
/// namespaces (the boot sets the hostname, `hostname NAME`) and on nothing of the host.
const CAP_SYS_ADMIN: libc::c_ulong = 21;
/// The highest capability number tried; the kernel refuses the first past its own last.
const CAP_LAST_TRIED: libc::c_ulong = 63;

/// How the boot is confined, besides the overlay it is moved into.
pub struct BootConfinement {
    /// `RLIMIT_NPROC`, where there is no pids cgroup.
    pub nproc_limit: Option<u64>,
    /// `RLIMIT_DATA` (bytes), where there is no memory cgroup.
    pub data_limit: Option<u64>,
    /// Root mode: make a user namespace, and write to this pipe `1` when it was made, `0`
    /// when the kernel refused one. Rootless mode: `None`, the sandbox is in one already.
    pub user_namespace: Option<OwnedFd>,
}

/// The id map of the boot's user namespace: every id to itself, so files keep their
/// owners and the boot's root is root on the overlay, with capabilities over its own
/// namespaces only.
const IDENTITY_MAP: &[u8] = b"0 0 4294967295\n";

/// `/proc/<pid>/<file>` with a NUL, in `out`, without allocating; its length.
fn proc_path(out: &mut [u8; 48], pid: &[u8], file: &[u8]) -> Option<usize> {
    let parts: [&[u8]; 5] = [b"/proc/", pid, b"/", file, b"\0"];
    let mut len = 0;
    for part in parts {
        out.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    Some(len)
}

/// Write `data` to the file whose NUL-terminated path is `path` (no allocation).
fn write_raw_path(path: &[u8], data: &[u8]) -> bool {
    // SAFETY: `path` ends with a NUL (see `proc_path`); the descriptor is closed below.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let written = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        written == data.len() as isize
    }
}

/// Make a user namespace for the boot with every id mapped to itself. Only a process
/// left in the parent namespace may write such a map (it needs `CAP_SETUID` there), so a
/// helper is forked first; it waits until this process has made its namespace, writes
/// the maps and exits. `Ok(false)`: the kernel refused a user namespace.
fn enter_user_namespace(proc_self: &CString) -> io::Result<bool> {
    // This process's pid in the host's /proc (still its /proc), not its pid 1 inside.
    let mut pid = [0u8; 16];
    // SAFETY: `proc_self` is NUL-terminated; `pid` is writable for its length.
    #[allow(unsafe_code)]
    let pid_len = unsafe { libc::readlink(proc_self.as_ptr(), pid.as_mut_ptr().cast(), 15) };
    if pid_len <= 0 {
        return Err(io::Error::last_os_error());
    }
    let pid = &pid[..pid_len as usize];
    let (mut uid_map, mut gid_map) = ([0u8; 48], [0u8; 48]);
    let too_long = || io::Error::from_raw_os_error(libc::ENAMETOOLONG);
    let uid_len = proc_path(&mut uid_map, pid, b"uid_map").ok_or_else(too_long)?;
    let gid_len = proc_path(&mut gid_map, pid, b"gid_map").ok_or_else(too_long)?;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors; every path below closes its ends.
    #[allow(unsafe_code)]
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        let helper = libc::fork();
        if helper < 0 {
            let err = io::Error::last_os_error();
            libc::close(read_end);
            libc::close(write_end);
            return Err(err);
        }
        if helper == 0 {
            // The helper: only system calls, then `_exit`.
            libc::close(write_end);
            let mut go = [0u8; 1];
            let read = libc::read(read_end, go.as_mut_ptr().cast(), 1);
            if read != 1 || go[0] != b'1' {
                libc::_exit(1);
            }
            let ok = write_raw_path(&uid_map[..uid_len], IDENTITY_MAP)
                && write_raw_path(&gid_map[..gid_len], IDENTITY_MAP);
            libc::_exit(if ok { 0 } else { 2 });
        }
        libc::close(read_end);
        let made = nix::sched::unshare(CloneFlags::CLONE_NEWUSER).is_ok();
        let go: &[u8; 1] = if made { b"1" } else { b"0" };
        libc::write(write_end, go.as_ptr().cast(), 1);
        libc::close(write_end);
        let mut status = 0;
        if libc::waitpid(helper, &mut status, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
        if !made {
            return Ok(false);
        }
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
    }
    Ok(true)
}

fn write_all(fd: RawFd, data: &[u8]) -> io::Result<()> {
    // SAFETY: `data` is valid for its length. A pipe write of at most PIPE_BUF bytes is
    // whole or fails.
    #[allow(unsafe_code)]
    let written = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if written != data.len() as isize {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Keep only `KEPT_CAPABILITIES` (and `CAP_SYS_ADMIN` when `keep_sys_admin`) in the
/// bounding set, empty the inheritable and ambient sets, and set `no_new_privs`. The exec
/// that follows gives the boot, as root, exactly the bounding set.
fn drop_capabilities(keep_sys_admin: bool) -> io::Result<()> {
    for cap in 0..=CAP_LAST_TRIED {
        if KEPT_CAPABILITIES.contains(&cap) || (keep_sys_admin && cap == CAP_SYS_ADMIN) {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                // Past this kernel's last capability.
                break;
            }
            return Err(err);
        }
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` and `data` are the structs the kernel expects for version 3 (two
    // data structs), valid for the duration of each call.
    #[allow(unsafe_code)]
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        for d in &mut data {
            d.inheritable = 0;
        }
        if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The type of `setrlimit`'s resource argument in the C library strap is built with.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn set_rlimit(resource: Resource, limit: u64) -> io::Result<()> {
    let rlim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: `rlim` is a valid, initialised struct for the duration of the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setrlimit(resource, &rlim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The set-up of the boot, pid 1 of the launch's pid namespace:
/// 1. mount its `/proc` and make `/proc/sys` read-only, from the sandbox's namespaces, so
///    that these mounts are locked for the boot's user namespace (it can neither remount
///    them writable nor mount another `/proc`);
/// 2. (root) a user namespace mapping every id to itself, and new mount, UTS and IPC
///    namespaces owned by it;
/// 3. `pivot_root` into the overlay and detach the old root: no path leads back to the
///    host's filesystem, whatever the boot `chroot`s or mounts;
/// 4. the capabilities of `KEPT_CAPABILITIES` only, `no_new_privs`, the rlimits where
///    there is no cgroup, and the seccomp filter.
pub fn boot_pre_exec(
    root: &Path,
    mut confinement: BootConfinement,
) -> io::Result<impl FnMut() -> io::Result<()> + Send + Sync + 'static> {
    let root_c = path_cstring(root)?;
    let proc_c = path_cstring(&root.join("proc"))?;
    let proc_type = cstring("proc")?;
    let slash = cstring("/")?;
    let dot = cstring(".")?;
    let proc_self = cstring("/proc/self")?;
    let read_only: Vec<CString> = PROC_READ_ONLY
        .iter()
        .map(|p| path_cstring(&root.join("proc").join(p)))
        .collect::<io::Result<_>>()?;
    let filter = super::seccomp::Filter::new();
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
        let in_user_namespace = match confinement.user_namespace.take() {
            Some(report) => {
                let made = enter_user_namespace(&proc_self)?;
                write_all(report.as_raw_fd(), if made { b"1" } else { b"0" })?;
                drop(report);
                // A change of credentials clears the parent-death signal: set it again.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                made
            }
            // Rootless: the whole sandbox is in a user namespace already.
            None => true,
        };
        nix::sched::unshare(
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC,
        )?;
        nix::mount::mount(
            None::<&std::ffi::CStr>,
            slash.as_c_str(),
            None::<&std::ffi::CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&std::ffi::CStr>,
        )?;
        // Mounts copied into a user namespace's mount namespace are locked, and
        // `pivot_root` refuses a locked new root: bind the overlay onto itself (its
        // submounts, `/proc/sys` read-only among them, stay locked).
        nix::mount::mount(
            Some(root_c.as_c_str()),
            root_c.as_c_str(),
            None::<&std::ffi::CStr>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&std::ffi::CStr>,
        )?;
        // The overlay becomes `/`; the old root, stacked on it by `pivot_root(".", ".")`,
        // is detached with everything below it. No mount point is left to remove.
        nix::unistd::chdir(root_c.as_c_str())?;
        nix::unistd::pivot_root(dot.as_c_str(), dot.as_c_str())?;
        nix::mount::umount2(dot.as_c_str(), nix::mount::MntFlags::MNT_DETACH)?;
        nix::unistd::chdir(slash.as_c_str())?;
        drop_capabilities(in_user_namespace)?;
        if let Some(limit) = confinement.nproc_limit {
            set_rlimit(libc::RLIMIT_NPROC, limit)?;
        }
        if let Some(limit) = confinement.data_limit {
            set_rlimit(libc::RLIMIT_DATA, limit)?;
        }
        if let Some(filter) = &filter {
            filter.install()?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_paths_are_built_with_their_nul_or_refused_when_too_long() {
        let mut out = [0u8; 48];
        let len = proc_path(&mut out, b"4242", b"uid_map").unwrap();
        assert_eq!(&out[..len], b"/proc/4242/uid_map\0");
        assert_eq!(proc_path(&mut out, &[b'9'; 40], b"gid_map"), None);
    }

    #[test]
    fn the_kept_capabilities_are_the_documented_ones() {
        // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
        // NET_RAW AUDIT_WRITE SETFCAP; never SYS_CHROOT (18), MKNOD (27),
        // DAC_READ_SEARCH (2), SYS_MODULE (16), SYS_RAWIO (17), SYS_PTRACE (19).
        let mask: u64 = KEPT_CAPABILITIES.iter().map(|c| 1u64 << c).sum();
        assert_eq!(mask, 0xa000_25fb);
        for dropped in [2, 16, 17, 18, 19, 22, 25, 27, 12, 33, 38, 39] {
            assert!(!KEPT_CAPABILITIES.contains(&dropped), "{dropped}");
        }
    }
}
