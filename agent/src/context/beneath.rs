//! Files written beneath a root folder by handle, never by path.
//!
//! Every write opens the target's folder from an open handle on the root, one step at a
//! time, and then works on that folder's handle only: the temporary file is created in
//! it (`O_CREAT | O_EXCL | O_NOFOLLOW`, an unguessable name), its mode and owner are set
//! on the open file, and it is renamed within the same folder handle. Nothing is checked
//! by path and then opened by path, so a symbolic link put on the path during the run
//! is seen as a link, never followed by the kernel.
//!
//! Where the kernel has `openat2` (Linux 5.6), the folder is opened in one call with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`. When that fails (an
//! older kernel, a folder to create, or a symbolic link on the path), the folder is
//! reached by a walk: `openat(O_NOFOLLOW | O_DIRECTORY)` per component from the root's
//! handle, `mkdirat` for a missing one. The walk follows a link as a chroot would (an
//! absolute target starts again at the root), refuses a link that climbs above the root
//! and, in the spirit of the kernel's `protected_symlinks`, a link that the root's owner
//! (root on a real boot) does not own: a link another user planted in `/tmp`, or in
//! their own home on the way to `~/.ssh`, is never followed. This module never writes by
//! a path, and never lets the kernel follow a link for it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

use super::ContextError;

/// Links followed in one walk before giving up (the kernel's limit).
const MAX_HOPS: u32 = 40;

/// How a folder handle is opened: readable (so it can be synced and listed), never
/// through a link.
fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Take ownership of a descriptor a successful open call just returned.
fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was returned by a successful `open`-family call a moment ago and is
    // owned by nothing else, so this is its only owner and it is closed exactly once.
    #[allow(unsafe_code)]
    unsafe {
        OwnedFd::from_raw_fd(fd)
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(Errno) -> ContextError {
    let path = path.to_path_buf();
    move |errno| ContextError::Io {
        op,
        path,
        source: std::io::Error::from(errno),
    }
}

fn is_kind(st: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind
}

/// An open folder beneath the root, with its real path (for messages only).
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

/// What a new file gets: permission bits and owner, set on the open file.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileOptions {
    /// Permission bits (`0o644`); `None` keeps the private 0600 of a new temp file.
    pub mode: Option<u32>,
    /// `(uid, gid)`, set with `fchown` before the file is renamed into place.
    pub owner: Option<(u32, u32)>,
}

/// Split a real path into the part beneath `root` (no `..`, no root) and refuse others.
pub fn beneath(root: &Path, target: &Path) -> Result<PathBuf, ContextError> {
    let escapes = || ContextError::Escapes {
        path: target.to_path_buf(),
        root: root.to_path_buf(),
    };
    let rel = target.strip_prefix(root).map_err(|_| escapes())?;
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return Err(escapes()),
        }
    }
    Ok(out)
}

/// Open `root` itself (given by the operator, so it may be a link) as a folder handle.
fn open_root(root: &Path) -> Result<(OwnedFd, FileStat), ContextError> {
    let fd = nix::fcntl::open(
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(own)
    .map_err(io_err("open the root", root))?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(io_err("stat the root", root))?;
    Ok((fd, st))
}

/// Open the folder `rel` beneath `root`, creating missing folders with `create` (a mode)
/// when given. `shown` is the path named in errors.
pub fn open_folder(
    root: &Path,
    rel: &Path,
    create: Option<u32>,
    shown: &Path,
) -> Result<Folder, ContextError> {
    let (root_fd, root_st) = open_root(root)?;
    if rel.as_os_str().is_empty() {
        return Ok(Folder {
            fd: root_fd,
            path: root.to_path_buf(),
        });
    }
    // One call where the kernel can do it: beneath the root, no link at all.
    let how = OpenHow::new().flags(dir_flags()).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    if let Ok(fd) = nix::fcntl::openat2(root_fd.as_raw_fd(), rel, how) {
        return Ok(Folder {
            fd: own(fd),
            path: root.join(rel),
        });
    }
    walk(root, root_fd, &root_st, rel, create, shown)
}

/// The component-by-component walk (see the module documentation).
fn walk(
    root: &Path,
    root_fd: OwnedFd,
    root_st: &FileStat,
    rel: &Path,
    create: Option<u32>,
    shown: &Path,
) -> Result<Folder, ContextError> {
    let mut stack: Vec<(OwnedFd, PathBuf)> = vec![(root_fd, root.to_path_buf())];
    let mut pending: Vec<OsString> = rel
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut hops = 0;
    let mut retries = 0;
    let mut last_link: Option<PathBuf> = None;
    while let Some(part) = pending.pop() {
        if part.is_empty() || part == "." {
            continue;
        }
        if part == ".." {
            if stack.len() == 1 {
                return Err(match last_link {
                    Some(link) => ContextError::SymlinkEscape {
                        path: shown.to_path_buf(),
                        link,
                        root: root.to_path_buf(),
                    },
                    None => ContextError::Escapes {
                        path: shown.to_path_buf(),
                        root: root.to_path_buf(),
                    },
                });
            }
            stack.pop();
            continue;
        }
        let (top, top_path) = stack.last().ok_or_else(|| ContextError::Escapes {
            path: shown.to_path_buf(),
            root: root.to_path_buf(),
        })?;
        let top = top.as_raw_fd();
        let here = top_path.join(&part);
        match nix::fcntl::openat(Some(top), part.as_os_str(), dir_flags(), Mode::empty()) {
            Ok(fd) => stack.push((own(fd), here)),
            Err(Errno::ENOENT) if create.is_some() && retries < 64 => {
                retries += 1;
                let mode = Mode::from_bits_truncate(create.unwrap_or(0o755));
                match nix::sys::stat::mkdirat(Some(top), part.as_os_str(), mode) {
                    Ok(()) | Err(Errno::EEXIST) => pending.push(part),
                    Err(e) => return Err(io_err("create folder", &here)(e)),
                }
            }
            Err(Errno::ELOOP | Errno::ENOTDIR) if retries < 64 => {
                retries += 1;
                let st = nix::sys::stat::fstatat(
                    Some(top),
                    part.as_os_str(),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(io_err("look at", &here))?;
                if !is_kind(&st, SFlag::S_IFLNK) {
                    if is_kind(&st, SFlag::S_IFDIR) {
                        // Swapped back to a folder meanwhile: open it again.
                        pending.push(part);
                        continue;
                    }
                    return Err(io_err("open folder", &here)(Errno::ENOTDIR));
                }
                if st.st_uid != root_st.st_uid {
                    return Err(ContextError::UntrustedSymlink {
                        path: shown.to_path_buf(),
                        link: here,
                        owner: st.st_uid,
                    });
                }
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(ContextError::SymlinkEscape {
                        path: shown.to_path_buf(),
                        link: here,
                        root: root.to_path_buf(),
                    });
                }
                let target = match nix::fcntl::readlinkat(Some(top), part.as_os_str()) {
                    Ok(t) => PathBuf::from(t),
                    // Not a link any more: look again.
                    Err(Errno::EINVAL) => {
                        pending.push(part);
                        continue;
                    }
                    Err(e) => return Err(io_err("read link", &here)(e)),
                };
                if target.is_absolute() {
                    stack.truncate(1);
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(p) => pending.push(p.to_owned()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
                last_link = Some(here);
            }
            Err(e) => return Err(io_err("open folder", &here)(e)),
        }
    }
    let (fd, path) = stack.pop().ok_or_else(|| ContextError::Escapes {
        path: shown.to_path_buf(),
        root: root.to_path_buf(),
    })?;
    Ok(Folder { fd, path })
}

/// When this process began writing: temp files older than this are a killed run's.
fn started() -> SystemTime {
    static STARTED: OnceLock<SystemTime> = OnceLock::new();
    *STARTED.get_or_init(SystemTime::now)
}

/// Where this process notes each folder it creates a temp file in, once per folder, so
/// that the next run can clean what a kill left behind ([`clean_journaled`]). Set by a
/// boot (and an apply) while it holds the state folder's lock; unset, nothing is noted.
static JOURNAL: std::sync::Mutex<Option<Journal>> = std::sync::Mutex::new(None);

struct Journal {
    file: File,
    noted: std::collections::HashSet<PathBuf>,
}

/// Longest journal read back: a boot writes into a few dozen folders.
const JOURNAL_CAP: u64 = 1 << 20;

/// Note the folders of this process's temp files in `journal` (appended, one real path
/// per line) from now on.
pub fn journal_temps(journal: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(journal)?;
    if let Ok(mut slot) = JOURNAL.lock() {
        *slot = Some(Journal {
            file,
            noted: Default::default(),
        });
    }
    Ok(())
}

/// Stop noting temp folders (the lock is about to be released).
pub fn end_journal() {
    if let Ok(mut slot) = JOURNAL.lock() {
        *slot = None;
    }
}

fn note_folder(path: &Path) {
    let Ok(mut slot) = JOURNAL.lock() else {
        return;
    };
    if let Some(journal) = slot.as_mut() {
        if journal.noted.insert(path.to_path_buf()) {
            let mut line = path.as_os_str().as_bytes().to_vec();
            line.push(b'\n');
            // A folder the journal could not note is cleaned when its target is
            // written again, as before.
            let _ = journal.file.write_all(&line);
        }
    }
}

/// Remove the temp files a killed run left in the folders its journal names: regular
/// files with strap's temp names (`.NAME.strap-` and 16 hex digits) older than this run,
/// never a link and never anything else; then empty the journal. Answers how many were
/// removed. A folder that is gone, or that is now a link, is skipped.
pub fn clean_journaled(journal: &Path) -> usize {
    let Ok(bytes) = super::read_regular(journal, JOURNAL_CAP, true) else {
        return 0;
    };
    let folders: std::collections::BTreeSet<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"/"))
        .collect();
    let mut removed = 0;
    for folder in folders {
        let path = Path::new(OsStr::from_bytes(folder));
        let Ok(fd) = nix::fcntl::open(path, dir_flags(), Mode::empty()) else {
            continue;
        };
        let dir = Folder {
            fd: own(fd),
            path: path.to_path_buf(),
        };
        removed += dir.remove_stale(is_any_temp_name);
    }
    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(journal) {
        let _ = file.set_len(0);
    }
    removed
}

/// Whether `name` is one of strap's temp names, whatever its target.
fn is_any_temp_name(name: &[u8]) -> bool {
    const SUFFIX: usize = ".strap-".len() + 16;
    name.len() > SUFFIX + 1
        && name.starts_with(b".")
        && name[name.len() - SUFFIX..].starts_with(b".strap-")
        && name[name.len() - 16..].iter().all(u8::is_ascii_hexdigit)
}

/// Whether `name` is a temp name for `target` (`.TARGET.strap-` and 16 hex digits).
pub fn is_temp_name(name: &[u8], target: &[u8]) -> bool {
    let prefix = [b".", target, b".strap-"].concat();
    name.len() == prefix.len() + 16
        && name.starts_with(&prefix)
        && name[prefix.len()..].iter().all(u8::is_ascii_hexdigit)
}

impl Folder {
    /// The folder's real path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new, empty temporary file in this folder for the file `name`: an unguessable
    /// name, `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600.
    pub fn create_temp(&self, name: &OsStr) -> Result<(File, OsString), ContextError> {
        use rand::Rng as _;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        note_folder(&self.path);
        let mut last = Errno::EEXIST;
        for _ in 0..8 {
            let suffix: u64 = rand::thread_rng().gen();
            let mut tmp = OsString::from(".");
            tmp.push(name);
            tmp.push(format!(".strap-{suffix:016x}"));
            match nix::fcntl::openat(
                Some(self.fd.as_raw_fd()),
                tmp.as_os_str(),
                flags,
                Mode::from_bits_truncate(0o600),
            ) {
                Ok(fd) => return Ok((File::from(own(fd)), tmp)),
                Err(Errno::EEXIST) => last = Errno::EEXIST,
                Err(e) => return Err(io_err("create", &self.path.join(&tmp))(e)),
            }
        }
        Err(io_err(
            "create a temporary file beside",
            &self.path.join(name),
        )(last))
    }

    /// Remove temp files for `name` left by a run that was killed before it renamed
    /// them: regular files only (a planted link is left alone), older than this run.
    pub fn clean_stale(&self, name: &OsStr) {
        self.remove_stale(|n| is_temp_name(n, name.as_bytes()));
    }

    /// Remove the regular files of this folder whose names `is_temp` accepts and that
    /// are older than this run; answers how many.
    fn remove_stale(&self, is_temp: impl Fn(&[u8]) -> bool) -> usize {
        let Ok(dup) = nix::unistd::dup(self.fd.as_raw_fd()) else {
            return 0;
        };
        let Ok(mut dir) = nix::dir::Dir::from_fd(dup) else {
            return 0;
        };
        let cutoff = started()
            .checked_sub(Duration::from_secs(2))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let cutoff = cutoff
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let stale: Vec<OsString> = dir
            .iter()
            .filter_map(Result::ok)
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
            .filter(|n| is_temp(n.as_bytes()))
            .collect();
        let mut removed = 0;
        for n in stale {
            let Ok(st) = nix::sys::stat::fstatat(
                Some(self.fd.as_raw_fd()),
                n.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) else {
                continue;
            };
            if is_kind(&st, SFlag::S_IFREG)
                && st.st_mtime < cutoff
                && nix::unistd::unlinkat(
                    Some(self.fd.as_raw_fd()),
                    n.as_os_str(),
                    nix::unistd::UnlinkatFlags::NoRemoveDir,
                )
                .is_ok()
            {
                removed += 1;
                tracing::debug!(
                    "removed {}: left by an earlier run",
                    self.path.join(n).display()
                );
            }
        }
        removed
    }

    /// Write `contents` into a new temp file for `name`, its mode and owner set on the
    /// open file. Answers the file (not yet synced) and its name in this folder.
    pub fn stage(
        &self,
        name: &OsStr,
        contents: &[u8],
        opts: FileOptions,
    ) -> Result<(File, OsString), ContextError> {
        self.clean_stale(name);
        let (mut file, tmp) = self.create_temp(name)?;
        let staged = (|| {
            let fd = file.as_raw_fd();
            let shown = self.path.join(&tmp);
            if let Some((uid, gid)) = opts.owner {
                nix::unistd::fchown(
                    fd,
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                )
                .map_err(io_err("change the owner of", &shown))?;
            }
            // After the owner: fchown clears setuid bits.
            if let Some(mode) = opts.mode {
                nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(mode & 0o7777))
                    .map_err(io_err("set permissions of", &shown))?;
            }
            file.write_all(contents).map_err(|source| ContextError::Io {
                op: "write",
                path: shown,
                source,
            })
        })();
        if let Err(err) = staged {
            self.remove(&tmp);
            return Err(err);
        }
        Ok((file, tmp))
    }

    /// Rename the temp file `tmp` over `name`, both in this folder. A target that is a
    /// mount point (a container runtime's `/etc/hosts`) is rewritten in place instead.
    pub fn commit(
        &self,
        tmp: &OsStr,
        name: &OsStr,
        contents: &[u8],
        sync: bool,
    ) -> Result<(), ContextError> {
        let fd = Some(self.fd.as_raw_fd());
        match nix::fcntl::renameat(fd, tmp, fd, name) {
            Ok(()) => Ok(()),
            Err(Errno::EBUSY) => {
                self.remove(tmp);
                self.rewrite_in_place(name, contents, sync)
            }
            Err(e) => {
                self.remove(tmp);
                Err(io_err("rename into place", &self.path.join(name))(e))
            }
        }
    }

    /// Truncate and rewrite an existing regular file (never through a link).
    fn rewrite_in_place(
        &self,
        name: &OsStr,
        contents: &[u8],
        sync: bool,
    ) -> Result<(), ContextError> {
        let shown = self.path.join(name);
        let mut file = self.open_regular(name, OFlag::O_WRONLY | OFlag::O_TRUNC, 0o644)?;
        let io = |source| ContextError::Io {
            op: "rewrite in place (a mount point)",
            path: shown.clone(),
            source,
        };
        file.write_all(contents).map_err(io)?;
        if sync {
            file.sync_all().map_err(io)?;
        }
        tracing::debug!("{} is a mount point: rewritten in place", shown.display());
        Ok(())
    }

    /// Open `name` in this folder with `flags` (never through a link, never blocking on a
    /// FIFO) and refuse anything but a regular file.
    pub fn open_regular(
        &self,
        name: &OsStr,
        flags: OFlag,
        mode: u32,
    ) -> Result<File, ContextError> {
        self.open_kind(name, flags, mode, &[SFlag::S_IFREG], "not a regular file")
            .map(File::from)
    }

    /// Open `name` with `flags`, never through a link and never blocking on a FIFO, and
    /// refuse it unless it is one of `kinds` (`refused` says what it should have been).
    fn open_kind(
        &self,
        name: &OsStr,
        flags: OFlag,
        mode: u32,
        kinds: &[SFlag],
        refused: &'static str,
    ) -> Result<OwnedFd, ContextError> {
        let shown = self.path.join(name);
        let fd = nix::fcntl::openat(
            Some(self.fd.as_raw_fd()),
            name,
            flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map(own)
        .map_err(io_err("open", &shown))?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(io_err("look at", &shown))?;
        if !kinds.iter().any(|k| is_kind(&st, *k)) {
            return Err(ContextError::Io {
                op: "open",
                path: shown,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, refused),
            });
        }
        Ok(fd)
    }

    /// Open `name` in this folder for writing with `flags`, never through a link, a
    /// regular file or a device (a console): a FIFO without a reader is refused rather
    /// than waited on. The handle blocks as usual afterwards.
    pub fn open_for_output(
        &self,
        name: &OsStr,
        flags: OFlag,
        mode: u32,
    ) -> Result<File, ContextError> {
        let shown = self.path.join(name);
        let fd = self.open_kind(
            name,
            flags,
            mode,
            &[SFlag::S_IFREG, SFlag::S_IFCHR],
            "not a regular file or a device",
        )?;
        let blocking = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(|bits| OFlag::from_bits_truncate(bits) & !OFlag::O_NONBLOCK)
            .and_then(|bits| {
                nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(bits))
            });
        blocking.map_err(io_err("open", &shown))?;
        Ok(File::from(fd))
    }

    /// Set the owner and then the mode of `name` in this folder, on an open handle.
    pub fn set_owner_mode(
        &self,
        file: &File,
        name: &OsStr,
        opts: FileOptions,
    ) -> Result<(), ContextError> {
        let shown = self.path.join(name);
        if let Some((uid, gid)) = opts.owner {
            nix::unistd::fchown(
                file.as_raw_fd(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(io_err("change the owner of", &shown))?;
        }
        if let Some(mode) = opts.mode {
            nix::sys::stat::fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode & 0o7777))
                .map_err(io_err("set permissions of", &shown))?;
        }
        Ok(())
    }

    /// Remove the file `name` from this folder; `Ok(false)` when it is not there.
    pub fn unlink(&self, name: &OsStr) -> Result<bool, ContextError> {
        match nix::unistd::unlinkat(
            Some(self.fd.as_raw_fd()),
            name,
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::ENOENT) => Ok(false),
            Err(e) => Err(ContextError::Io {
                op: "remove",
                path: self.path.join(name),
                source: std::io::Error::from(e),
            }),
        }
    }

    /// Swap `spare` and `name` in this folder in one step (`renameat2(RENAME_EXCHANGE)`),
    /// or rename `spare` over `name` where there is no `name` yet or the file system
    /// cannot exchange.
    pub fn exchange(&self, spare: &OsStr, name: &OsStr) -> Result<(), ContextError> {
        let fd = Some(self.fd.as_raw_fd());
        match rename_exchange(self.fd.as_raw_fd(), spare, name) {
            Ok(()) => Ok(()),
            Err(_) => nix::fcntl::renameat(fd, spare, fd, name)
                .map_err(io_err("rename into place", &self.path.join(name))),
        }
    }

    /// Make `name` in this folder a symbolic link to `target`, replacing what is there in
    /// one step: the link is made under an unguessable temp name (`symlinkat` never
    /// follows anything) and renamed over `name` within the folder.
    pub fn replace_symlink(&self, target: &Path, name: &OsStr) -> Result<(), ContextError> {
        use rand::Rng as _;
        let fd = self.fd.as_raw_fd();
        let suffix: u64 = rand::thread_rng().gen();
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".strap-{suffix:016x}"));
        note_folder(&self.path);
        nix::unistd::symlinkat(target, Some(fd), tmp.as_os_str())
            .map_err(io_err("create the symbolic link", &self.path.join(&tmp)))?;
        nix::fcntl::renameat(Some(fd), tmp.as_os_str(), Some(fd), name).map_err(|e| {
            self.remove(&tmp);
            io_err("replace", &self.path.join(name))(e)
        })
    }

    /// Remove `name` from this folder, quietly (a temp file being abandoned).
    pub fn remove(&self, name: &OsStr) {
        let _ = nix::unistd::unlinkat(
            Some(self.fd.as_raw_fd()),
            name,
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    }

    /// Make the folder's entries (a rename) durable.
    pub fn sync(&self) -> Result<(), ContextError> {
        nix::unistd::fsync(self.fd.as_raw_fd()).map_err(io_err("sync", &self.path))
    }

    /// The open folder itself, to set its owner and mode.
    pub fn set_own_owner_mode(&self, opts: FileOptions) -> Result<(), ContextError> {
        let fd = self.fd.as_raw_fd();
        if let Some((uid, gid)) = opts.owner {
            nix::unistd::fchown(
                fd,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(io_err("change the owner of", &self.path))?;
        }
        if let Some(mode) = opts.mode {
            nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(mode & 0o7777))
                .map_err(io_err("set permissions of", &self.path))?;
        }
        Ok(())
    }
}

/// The folder of `target` (a real path beneath `root`), created when missing, and the
/// file name in it.
pub fn folder_of(root: &Path, target: &Path) -> Result<(Folder, OsString), ContextError> {
    let rel = beneath(root, target)?;
    let name = rel
        .file_name()
        .map(OsStr::to_owned)
        .ok_or_else(|| ContextError::Escapes {
            path: target.to_path_buf(),
            root: root.to_path_buf(),
        })?;
    let parent = rel.parent().unwrap_or(Path::new(""));
    let folder = open_folder(root, parent, Some(0o755), target)?;
    Ok((folder, name))
}

/// `renameat2(RENAME_EXCHANGE)` of two names in one folder.
#[cfg(target_env = "gnu")]
fn rename_exchange(fd: RawFd, a: &OsStr, b: &OsStr) -> nix::Result<()> {
    nix::fcntl::renameat2(
        Some(fd),
        a,
        Some(fd),
        b,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    )
}

/// `renameat2(RENAME_EXCHANGE)` of two names in one folder, by its system call (the C
/// library of a static build may not wrap it).
#[cfg(not(target_env = "gnu"))]
fn rename_exchange(fd: RawFd, a: &OsStr, b: &OsStr) -> nix::Result<()> {
    let a = std::ffi::CString::new(a.as_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    let b = std::ffi::CString::new(b.as_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: both names are NUL-terminated strings that outlive the call, and `fd` is
    // an open folder.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            fd,
            a.as_ptr(),
            fd,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}
