//! The one injected context through which every side effect of the agent passes: the
//! process environment, the filesystem root that writes are confined to, the user's home
//! directory, the clock and host-name lookups. Product code never calls `std::env::var`,
//! `SystemTime::now`, the resolver or writes to an absolute path directly; it asks the
//! [`Context`]. Tests build a context with a fixed environment, a temporary root, a fixed
//! clock and a fixed set of resolvable names, so they run without touching the machine
//! or the network.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

pub mod beneath;

pub use beneath::{FileOptions, Folder};

/// Errors from confining a path to the root or writing a file through the context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A path is relative, or climbs out of the root with `..`.
    #[error("path {path} escapes the root {root}: use an absolute path without `..`")]
    Escapes { path: PathBuf, root: PathBuf },
    /// A component of the path under the root is a symbolic link pointing outside it.
    #[error("path {path} passes through the symbolic link {link}, which leaves the root {root}")]
    SymlinkEscape {
        path: PathBuf,
        link: PathBuf,
        root: PathBuf,
    },
    /// A component of the path is a symbolic link owned by someone other than the owner
    /// of the root (root on a real boot): another user may have planted it (in `/tmp`, in
    /// their home), so it is not followed.
    #[error("path {path} passes through the symbolic link {link}, owned by uid {owner} and not by the owner of the root: not followed")]
    UntrustedSymlink {
        path: PathBuf,
        link: PathBuf,
        owner: u32,
    },
    /// An I/O operation failed.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the environment comes from.
#[derive(Clone, Debug)]
enum EnvSource {
    /// The real process environment, read on each lookup.
    Process,
    /// A fixed map (tests, or an environment captured for a child process).
    Fixed(Arc<BTreeMap<String, String>>),
}

/// Where "now" comes from.
#[derive(Clone, Debug)]
enum ClockSource {
    System,
    Fixed(SystemTime),
}

/// Where host names are looked up.
#[derive(Clone, Debug)]
enum ResolverSource {
    /// The system's resolver (`getaddrinfo`).
    System,
    /// Exactly these names resolve (tests); no lookup leaves the process.
    Fixed(Arc<std::collections::BTreeSet<String>>),
}

/// The injected context: environment, filesystem root, home directory, clock and resolver.
#[derive(Clone, Debug)]
pub struct Context {
    env: EnvSource,
    root: PathBuf,
    home: Option<PathBuf>,
    clock: ClockSource,
    resolver: ResolverSource,
}

impl Context {
    /// The real machine: the process environment, `/` as root, the real clock.
    pub fn system() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self {
            env: EnvSource::Process,
            root: PathBuf::from("/"),
            home,
            clock: ClockSource::System,
            resolver: ResolverSource::System,
        }
    }

    /// A context for tests: exactly the given variables, the given root, the real clock.
    /// `HOME` (or `USERPROFILE`) in `vars` sets the home directory.
    pub fn fixed<I, K, V>(vars: I, root: impl Into<PathBuf>) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let home = map
            .get("HOME")
            .or_else(|| map.get("USERPROFILE"))
            .map(PathBuf::from);
        Self {
            env: EnvSource::Fixed(Arc::new(map)),
            root: root.into(),
            home,
            clock: ClockSource::System,
            resolver: ResolverSource::Fixed(Arc::default()),
        }
    }

    /// The same context with writes confined under `root` instead.
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The same context with a fixed clock.
    pub fn with_fixed_time(mut self, now: SystemTime) -> Self {
        self.clock = ClockSource::Fixed(now);
        self
    }

    /// The same context with a fixed resolver: exactly `hosts` resolve (a fixed
    /// context starts with none).
    pub fn with_resolvable_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let set = hosts
            .into_iter()
            .map(|h| h.into().to_ascii_lowercase())
            .collect();
        self.resolver = ResolverSource::Fixed(Arc::new(set));
        self
    }

    /// Whether names are looked up in a fixed set (a test's) rather than by the system.
    pub fn resolver_is_fixed(&self) -> bool {
        matches!(self.resolver, ResolverSource::Fixed(_))
    }

    /// Whether a host name resolves to an address, as cloud-init's `is_resolvable`
    /// decides: an IP address needs no lookup; a name resolves when the system's
    /// resolver gives it an address that is not the one a redirecting DNS server gives
    /// to names that do not exist (`does-not-exist.example.com.`, `example.invalid.`).
    pub fn resolves(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_ok() {
            return true;
        }
        match &self.resolver {
            ResolverSource::Fixed(names) => names.contains(&host.to_ascii_lowercase()),
            ResolverSource::System => {
                let Some(first) = lookup(host).into_iter().next() else {
                    return false;
                };
                !redirect_addresses().contains(&first)
            }
        }
    }

    /// The same context with a different home directory.
    pub fn with_home(mut self, home: Option<PathBuf>) -> Self {
        self.home = home;
        self
    }

    /// One environment variable, `None` when unset or not valid UTF-8.
    pub fn var(&self, key: &str) -> Option<String> {
        match &self.env {
            EnvSource::Process => std::env::var(key).ok(),
            EnvSource::Fixed(map) => map.get(key).cloned(),
        }
    }

    /// Every environment variable, sorted by name.
    pub fn vars(&self) -> BTreeMap<String, String> {
        match &self.env {
            EnvSource::Process => std::env::vars().collect(),
            EnvSource::Fixed(map) => map.as_ref().clone(),
        }
    }

    /// The user's home directory, if known.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match self.clock {
            ClockSource::System => SystemTime::now(),
            ClockSource::Fixed(t) => t,
        }
    }

    /// The filesystem root that writes are confined to (`/` on a real boot).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Map an absolute machine path (`/etc/hosts`) to where it lives under the root,
    /// refusing paths that climb out with `..` and symbolic links (already on disk) that
    /// point outside the root. The path need not exist yet.
    pub fn path(&self, machine_path: impl AsRef<Path>) -> Result<PathBuf, ContextError> {
        let machine_path = machine_path.as_ref();
        let escapes = || ContextError::Escapes {
            path: machine_path.to_path_buf(),
            root: self.root.clone(),
        };
        if !machine_path.is_absolute() {
            return Err(escapes());
        }
        let mut rel = PathBuf::new();
        for component in machine_path.components() {
            match component {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(part) => rel.push(part),
                Component::ParentDir | Component::Prefix(_) => return Err(escapes()),
            }
        }
        if self.root == Path::new("/") {
            return Ok(Path::new("/").join(rel));
        }
        // Walk the path one component at a time, resolving symbolic links already on disk
        // as a chroot would: absolute targets restart at the root, `..` may not climb
        // above it.
        let mut resolved = self.root.clone();
        let mut hops = 0;
        let mut pending: Vec<std::ffi::OsString> = rel
            .components()
            .rev()
            .map(|c| c.as_os_str().to_owned())
            .collect();
        while let Some(part) = pending.pop() {
            if part == ".." {
                if resolved == self.root {
                    return Err(escapes());
                }
                resolved.pop();
                continue;
            }
            let candidate = resolved.join(&part);
            let Some(link_meta) = fs::symlink_metadata(&candidate)
                .ok()
                .filter(|m| m.file_type().is_symlink())
            else {
                resolved = candidate;
                continue;
            };
            {
                use std::os::unix::fs::MetadataExt as _;
                let root_owner = fs::metadata(&self.root).map(|m| m.uid()).unwrap_or(0);
                if link_meta.uid() != root_owner {
                    return Err(ContextError::UntrustedSymlink {
                        path: machine_path.to_path_buf(),
                        link: candidate,
                        owner: link_meta.uid(),
                    });
                }
            }
            hops += 1;
            let link_escape = || ContextError::SymlinkEscape {
                path: machine_path.to_path_buf(),
                link: candidate.clone(),
                root: self.root.clone(),
            };
            if hops > 40 {
                return Err(link_escape());
            }
            let target = fs::read_link(&candidate).map_err(|source| ContextError::Io {
                op: "read link",
                path: candidate.clone(),
                source,
            })?;
            if target.is_absolute() {
                resolved = self.root.clone();
            }
            // Check up front that the target's `..` parts stay inside the root, so the
            // error names the link rather than the path.
            let mut depth = resolved
                .strip_prefix(&self.root)
                .map(|p| p.components().count() as i64)
                .unwrap_or(0);
            for c in target.components() {
                match c {
                    Component::ParentDir => depth -= 1,
                    Component::Normal(_) => depth += 1,
                    _ => {}
                }
                if depth < 0 {
                    return Err(link_escape());
                }
            }
            for c in target.components().rev() {
                match c {
                    Component::Normal(p) => pending.push(p.to_owned()),
                    Component::ParentDir => pending.push("..".into()),
                    _ => {}
                }
            }
        }
        Ok(resolved)
    }

    /// Write a file that matters atomically: a temporary file in the same folder, fsync,
    /// then rename over the target. Parent folders are created. `mode` sets the
    /// permissions of the new file (Unix).
    pub fn write_atomic(
        &self,
        machine_path: impl AsRef<Path>,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<PathBuf, ContextError> {
        let target = self.path(machine_path)?;
        write_atomic_in(&self.root, &target, contents, mode)?;
        Ok(target)
    }
}

/// Print one line on stderr in a single `write`, so that whoever reads the pipe (a
/// container runtime's log, a serial console) never sees the line cut in pieces nor
/// another thread's output inside it: `eprintln!` writes each piece of its format
/// apart. [`say!`](crate::say) formats and calls this.
pub fn say(line: &str) {
    let _ = say_to(&mut std::io::stderr().lock(), line);
}

fn say_to(out: &mut impl Write, line: &str) -> std::io::Result<()> {
    let mut whole = String::with_capacity(line.len() + 1);
    whole.push_str(line);
    whole.push('\n');
    out.write_all(whole.as_bytes())
}

/// Write `contents` to the real path `target` atomically, resolved beneath `/` (no
/// absolute link, nothing in a public folder that someone else planted): strap's own
/// records, whose paths come from its configuration. See [`write_atomic_in`].
pub fn write_atomic(target: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), ContextError> {
    write_atomic_in(Path::new("/"), target, contents, mode)
}

/// Write `contents` to the real path `target` (beneath `root`) atomically: temp file,
/// fsync, rename, then a sync of the folder so the rename itself is durable.
pub fn write_atomic_in(
    root: &Path,
    target: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(), ContextError> {
    let opts = FileOptions { mode, owner: None };
    let folder = replace_file(root, target, contents, opts, true)?;
    let _ = folder.sync();
    Ok(())
}

/// Replace `target` (a real path beneath `root`) by a temporary file holding `contents`,
/// renamed into place within the folder's handle (see [`beneath`]); with `sync`, the
/// temporary file is fsynced before the rename (so the target is the old or the new
/// contents after a power loss, never empty). Missing folders are created. Answers the
/// open folder, whose own sync (making the rename durable) is left to the caller.
pub fn replace_file(
    root: &Path,
    target: &Path,
    contents: &[u8],
    opts: FileOptions,
    sync: bool,
) -> Result<Folder, ContextError> {
    let staged = Staged::new(root, target, contents, opts)?;
    if sync {
        staged.sync()?;
    }
    staged.commit(contents, sync)
}

/// A temporary file written and waiting to be renamed over its target: the first half
/// of an atomic write, for callers that sync several files together.
#[derive(Debug)]
pub struct Staged {
    file: fs::File,
    folder: Folder,
    tmp: std::ffi::OsString,
    name: std::ffi::OsString,
}

impl Staged {
    /// Open the folder of `target` beneath `root` (creating it), and write `contents`
    /// into a new temp file there with the mode and owner of `opts`.
    pub fn new(
        root: &Path,
        target: &Path,
        contents: &[u8],
        opts: FileOptions,
    ) -> Result<Self, ContextError> {
        let (folder, name) = beneath::folder_of(root, target)?;
        let (file, tmp) = folder.stage(&name, contents, opts)?;
        Ok(Self {
            file,
            folder,
            tmp,
            name,
        })
    }

    /// Flush the temp file's data to disk.
    pub fn sync(&self) -> Result<(), ContextError> {
        self.file.sync_all().map_err(|source| ContextError::Io {
            op: "sync",
            path: self.folder.path().join(&self.tmp),
            source,
        })
    }

    /// The real path of the target (for messages).
    pub fn target(&self) -> PathBuf {
        self.folder.path().join(&self.name)
    }

    /// Rename the temp file over the target; answers the folder (to sync).
    pub fn commit(self, contents: &[u8], sync: bool) -> Result<Folder, ContextError> {
        drop(self.file);
        self.folder.commit(&self.tmp, &self.name, contents, sync)?;
        Ok(self.folder)
    }

    /// Remove the temp file; the target is left as it was.
    pub fn abandon(self) {
        drop(self.file);
        self.folder.remove(&self.tmp);
    }
}

/// Append `contents` to `target` (a real path beneath `root`), creating it (and its
/// folders) when missing: opened by the folder's handle, never through a link, a regular
/// file only; the mode and owner of `opts` are set on the open file, then it is synced.
pub fn append_file(
    root: &Path,
    target: &Path,
    contents: &[u8],
    opts: FileOptions,
) -> Result<(), ContextError> {
    let (folder, name) = beneath::folder_of(root, target)?;
    let flags =
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_APPEND | nix::fcntl::OFlag::O_CREAT;
    let mut file = folder.open_regular(&name, flags, opts.mode.unwrap_or(0o644))?;
    let io = |op: &'static str| {
        let path = folder.path().join(&name);
        move |source| ContextError::Io { op, path, source }
    };
    file.write_all(contents).map_err(io("append to"))?;
    folder.set_owner_mode(&file, &name, opts)?;
    file.sync_all().map_err(io("sync"))?;
    Ok(())
}

/// The folder holding `target` (a real path beneath `root`), opened without creating
/// it, and the target's name in it; `Ok(None)` when the folder is not there.
fn existing_folder_of(
    root: &Path,
    target: &Path,
) -> Result<Option<(Folder, std::ffi::OsString)>, ContextError> {
    let rel = beneath::beneath(root, target)?;
    let name = rel.file_name().ok_or_else(|| ContextError::Escapes {
        path: target.to_path_buf(),
        root: root.to_path_buf(),
    })?;
    let parent = rel.parent().unwrap_or(Path::new(""));
    match beneath::open_folder(root, parent, None, target) {
        Ok(folder) => Ok(Some((folder, name.to_owned()))),
        Err(err) if not_found(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

fn not_found(err: &ContextError) -> bool {
    matches!(err, ContextError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// Remove the file `target` (a real path beneath `root`) by its folder's handle, never
/// following a link out of the root; `Ok(false)` when it is not there.
pub fn remove_file(root: &Path, target: &Path) -> Result<bool, ContextError> {
    match existing_folder_of(root, target)? {
        Some((folder, name)) => folder.unlink(&name),
        None => Ok(false),
    }
}

/// Make `link` (a real path beneath `root`, its folders created) a symbolic link to
/// `target`, replacing it in one step, by its folder's handle.
pub fn replace_symlink(root: &Path, link: &Path, target: &Path) -> Result<(), ContextError> {
    let (folder, name) = beneath::folder_of(root, link)?;
    folder.replace_symlink(target, &name)
}

/// Open the regular file `target` beneath `root` with `flags` (creating it, `mode`, with
/// `O_CREAT`), by its folder's handle, creating its folders first: a log or a lock file
/// of strap's own. Answers the folder too.
pub fn open_in_folders(
    root: &Path,
    target: &Path,
    flags: nix::fcntl::OFlag,
    mode: u32,
) -> Result<(Folder, std::fs::File), ContextError> {
    let rel = beneath::beneath(root, target)?;
    let name = rel.file_name().ok_or_else(|| ContextError::Escapes {
        path: target.to_path_buf(),
        root: root.to_path_buf(),
    })?;
    let dir = target.parent().unwrap_or(root);
    let folder = create_folder(root, dir, FileOptions::default())?;
    let file = folder.open_regular(name, flags, mode)?;
    Ok((folder, file))
}

/// Open (creating it, `mode`, when missing) the regular file `target` beneath `root` for
/// writing, by its folder's handle: a lock file, say. Its folder must exist.
pub fn open_file(root: &Path, target: &Path, mode: u32) -> Result<std::fs::File, ContextError> {
    let (folder, name) = existing_folder_of(root, target)?.ok_or_else(|| ContextError::Io {
        op: "open the folder of",
        path: target.to_path_buf(),
        source: std::io::Error::from_raw_os_error(nix::libc::ENOENT),
    })?;
    folder.open_regular(
        &name,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CREAT,
        mode,
    )
}

/// Read the regular file `target` (a real path beneath `root`, as [`Context::path`]
/// answers it) by its folder's handle: no link is followed, out of the root or at all,
/// so a link swapped in after the path was resolved is refused, and a device or FIFO is
/// never read. At most `cap` bytes; a larger file is refused. `Ok(None)` when the file
/// or its folder is not there.
pub fn read_file(root: &Path, target: &Path, cap: u64) -> Result<Option<Vec<u8>>, ContextError> {
    use std::io::Read as _;
    let Some((folder, name)) = existing_folder_of(root, target)? else {
        return Ok(None);
    };
    let file = match folder.open_regular(&name, nix::fcntl::OFlag::O_RDONLY, 0) {
        Ok(file) => file,
        Err(err) if not_found(&err) => return Ok(None),
        Err(err) => return Err(err),
    };
    let io = |source: std::io::Error| ContextError::Io {
        op: "read",
        path: target.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("more than {cap} bytes"),
        )));
    }
    Ok(Some(bytes))
}

/// `mkdir -p` of the real path `dir` beneath `root`, through the same walk (no link is
/// followed out of the root); a folder this call creates last gets `opts` (owner, then
/// mode) on its handle. Answers the open folder.
pub fn create_folder(root: &Path, dir: &Path, opts: FileOptions) -> Result<Folder, ContextError> {
    let rel = beneath::beneath(root, dir)?;
    match beneath::open_folder(root, &rel, None, dir) {
        Ok(folder) => Ok(folder),
        Err(ContextError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let folder = beneath::open_folder(root, &rel, Some(0o755), dir)?;
            folder.set_own_owner_mode(opts)?;
            Ok(folder)
        }
        Err(err) => Err(err),
    }
}

/// Read a record or log: a regular file only (a device or FIFO put in its place is
/// refused, never read until memory runs out), at most `cap` bytes: the last `cap` with
/// `tail`, else a larger file is refused.
pub fn read_regular(path: &Path, cap: u64, tail: bool) -> std::io::Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _};
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    if meta.len() > cap {
        if !tail {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!(
                    "{} is {} bytes, more than {cap}",
                    path.display(),
                    meta.len()
                ),
            ));
        }
        file.seek(std::io::SeekFrom::Start(meta.len() - cap))?;
    }
    let mut out = Vec::new();
    file.take(cap).read_to_end(&mut out)?;
    Ok(out)
}

/// The system resolver's addresses for a name (empty when it has none).
fn lookup(host: &str) -> Vec<std::net::IpAddr> {
    use std::net::ToSocketAddrs as _;
    (host, 0)
        .to_socket_addrs()
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

/// The addresses a redirecting DNS server gives to names that cannot exist, looked up
/// once per process (cloud-init's `_DNS_REDIRECT_IP`).
fn redirect_addresses() -> &'static [std::net::IpAddr] {
    static BAD: std::sync::OnceLock<Vec<std::net::IpAddr>> = std::sync::OnceLock::new();
    BAD.get_or_init(|| {
        ["does-not-exist.example.com.", "example.invalid."]
            .iter()
            .flat_map(|name| lookup(name))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that counts its `write` calls: a log collector reading a pipe sees one
    /// read per write at worst, so a line written in pieces can reach it in pieces.
    struct Writes(Vec<Vec<u8>>);
    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_for_stderr_is_one_write_where_writeln_makes_many() {
        let (status, ran) = ("done", 7);
        let mut pieces = Writes(Vec::new());
        writeln!(pieces, "strap: boot {status} ({ran} ran)").unwrap();
        assert!(pieces.0.len() > 1, "the hazard this guards against");
        let mut whole = Writes(Vec::new());
        say_to(&mut whole, &format!("strap: boot {status} ({ran} ran)")).unwrap();
        assert_eq!(whole.0, vec![b"strap: boot done (7 ran)\n".to_vec()]);
    }

    #[test]
    fn a_fixed_context_resolves_only_the_names_it_is_given() {
        let ctx = Context::fixed(Vec::<(String, String)>::new(), "/nowhere");
        assert!(!ctx.resolves("archive.ubuntu.com"));
        assert!(ctx.resolves("10.0.0.1") && ctx.resolves("[::1]"));
        let ctx = ctx.with_resolvable_hosts(["Mirror.Example.com"]);
        assert!(ctx.resolves("mirror.example.com"));
        assert!(!ctx.resolves("other.example.com"));
    }

    #[test]
    fn a_symlink_planted_under_a_temp_name_is_never_written_through() {
        // The temp name strap used to use, and a guess at any name: neither is opened.
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(&outside, "untouched\n").unwrap();
        let planted = [
            format!(".hostname.tmp-{}", std::process::id()),
            ".hostname.strap-0000000000000000".to_string(),
        ];
        for name in &planted {
            std::os::unix::fs::symlink(&outside, root.join("etc").join(name)).unwrap();
        }
        for _ in 0..50 {
            write_atomic_in(&root, &root.join("etc/hostname"), b"new\n", Some(0o644)).unwrap();
        }
        assert_eq!(fs::read_to_string(&outside).unwrap(), "untouched\n");
        assert_eq!(
            fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "new\n"
        );
        let mut left: Vec<String> = fs::read_dir(root.join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec!["hostname".to_string()];
        want.extend(planted.iter().cloned());
        want.sort();
        assert_eq!(left, want, "no temp file is left behind");
    }

    #[test]
    fn a_file_read_before_an_edit_is_never_read_through_a_link_or_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("shadow"));
        fs::create_dir_all(root.join("etc/sudoers.d")).unwrap();
        fs::write(&outside, "secret\n").unwrap();
        fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        assert_eq!(
            read_file(&root, &root.join("etc/hosts"), 1024).unwrap(),
            Some(b"127.0.0.1 localhost\n".to_vec())
        );
        assert_eq!(
            read_file(&root, &root.join("etc/missing"), 1024).unwrap(),
            None
        );
        assert_eq!(
            read_file(&root, &root.join("nowhere/x"), 1024).unwrap(),
            None
        );
        // A link swapped in after the path was resolved: refused, whatever it points to.
        let link = root.join("etc/sudoers.d/90-cloud-init-users");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(read_file(&root, &link, 1024).is_err());
        nix::unistd::mkfifo(&root.join("etc/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(read_file(&root, &root.join("etc/fifo"), 1024).is_err());
        fs::write(root.join("etc/big"), vec![b'x'; 2048]).unwrap();
        assert!(read_file(&root, &root.join("etc/big"), 1024).is_err());
        assert!(read_file(&root, &root.join("etc/big"), 2048)
            .unwrap()
            .is_some());
    }

    #[test]
    fn temp_names_are_not_guessable() {
        let dir = tempfile::tempdir().unwrap();
        let folder = beneath::open_folder(dir.path(), Path::new(""), None, dir.path()).unwrap();
        let (_a, first) = folder.create_temp("f".as_ref()).unwrap();
        let (_b, second) = folder.create_temp("f".as_ref()).unwrap();
        assert_ne!(first, second);
        let name = first.to_string_lossy().into_owned();
        assert!(name.starts_with(".f.strap-") && name.len() == ".f.strap-".len() + 16);
        assert!(beneath::is_temp_name(first.as_encoded_bytes(), b"f"));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join(&first))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(
            mode, 0o600,
            "private until its mode is set on the open file"
        );
    }

    #[test]
    fn a_file_that_is_a_mount_point_is_rewritten_in_place() {
        // As a container runtime's /etc/hostname: a file bind-mounted over another.
        let dir = tempfile::tempdir().unwrap();
        let (host, target) = (dir.path().join("host"), dir.path().join("hostname"));
        fs::write(&host, "old\n").unwrap();
        fs::write(&target, "").unwrap();
        let flags = nix::mount::MsFlags::MS_BIND;
        if let Err(err) = nix::mount::mount(Some(&host), &target, None::<&str>, flags, None::<&str>)
        {
            eprintln!("skipping: cannot bind-mount here ({err})");
            return;
        }
        let res = write_atomic_in(dir.path(), &target, b"new\n", Some(0o644));
        let _ = nix::mount::umount(&target);
        res.unwrap();
        assert_eq!(fs::read_to_string(&host).unwrap(), "new\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp file left: {names:?}");
    }

    #[test]
    fn fixed_env_is_isolated() {
        let ctx = Context::fixed([("AWS_PROFILE", "dev"), ("HOME", "/home/u")], "/tmp/x");
        assert_eq!(ctx.var("AWS_PROFILE").as_deref(), Some("dev"));
        assert_eq!(ctx.var("PATH"), None);
        assert_eq!(ctx.home(), Some(Path::new("/home/u")));
    }

    #[test]
    fn paths_are_confined_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), dir.path());
        assert_eq!(
            ctx.path("/etc/hosts").unwrap(),
            dir.path().join("etc/hosts")
        );
        assert!(matches!(
            ctx.path("/etc/../../x"),
            Err(ContextError::Escapes { .. })
        ));
        assert!(matches!(
            ctx.path("etc/hosts"),
            Err(ContextError::Escapes { .. })
        ));
    }

    #[test]
    fn symlinks_resolve_inside_the_root_and_escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("real/up")).unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), root);
        assert_eq!(ctx.path("/abs/f").unwrap(), root.join("real/f"));
        assert!(matches!(
            ctx.path("/real/up/etc/passwd"),
            Err(ContextError::SymlinkEscape { .. })
        ));
    }

    #[test]
    fn atomic_write_sets_mode_and_content() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), dir.path());
        let p = ctx
            .write_atomic("/var/log/x.log", b"hi", Some(0o600))
            .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hi");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    fn root_and_outside() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        (dir, root, outside)
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_symlink_at_any_component_never_leads_out_of_the_root() {
        use std::os::unix::fs::symlink;
        let (_dir, root, outside) = root_and_outside();
        // Every component of /etc/app/conf/f in turn is a link climbing out.
        let parts = ["etc", "etc/app", "etc/app/conf"];
        for (i, at) in parts.iter().enumerate() {
            let _ = fs::remove_dir_all(root.join("etc"));
            fs::create_dir_all(root.join(at)).unwrap();
            fs::remove_dir(root.join(at)).unwrap();
            let up = "../".repeat(i + 2) + "outside";
            symlink(&up, root.join(at)).unwrap();
            let target = root.join("etc/app/conf/f");
            // Unresolved: the walk refuses it, naming the link.
            let err = write_atomic_in(&root, &target, b"x", None).unwrap_err();
            assert!(
                matches!(&err, ContextError::SymlinkEscape { link, .. } if link == &root.join(at)),
                "{at}: {err}"
            );
            let err = append_file(&root, &target, b"x", FileOptions::default()).unwrap_err();
            assert!(matches!(err, ContextError::SymlinkEscape { .. }), "{err}");
            let err = create_folder(&root, &root.join("etc/app/conf/d"), FileOptions::default());
            assert!(matches!(err, Err(ContextError::SymlinkEscape { .. })));
            // Through the context: refused before anything is opened.
            let ctx = Context::fixed(Vec::<(String, String)>::new(), &root);
            let err = ctx.write_atomic("/etc/app/conf/f", b"x", None).unwrap_err();
            assert!(err
                .to_string()
                .contains(&root.join(at).display().to_string()));
        }
        assert!(entries(&outside).is_empty(), "nothing is written outside");
    }

    #[test]
    fn an_absolute_link_or_a_link_to_slash_stays_inside_the_root() {
        use std::os::unix::fs::symlink;
        let (_dir, root, outside) = root_and_outside();
        symlink("/", root.join("slash")).unwrap();
        symlink(&outside, root.join("abs")).unwrap();
        write_atomic_in(&root, &root.join("slash/etc/x"), b"1", None).unwrap();
        assert_eq!(fs::read(root.join("etc/x")).unwrap(), b"1");
        write_atomic_in(&root, &root.join("abs/y"), b"2", None).unwrap();
        // The absolute target is read inside the root, as a chroot would.
        let inside = root.join(outside.strip_prefix("/").unwrap()).join("y");
        assert_eq!(fs::read(inside).unwrap(), b"2");
        assert!(entries(&outside).is_empty());
    }

    #[test]
    fn a_link_someone_else_owns_is_not_followed() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: giving a link away needs root");
            return;
        }
        let (_dir, root, _outside) = root_and_outside();
        let tmp = root.join("tmp");
        fs::create_dir(&tmp).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).unwrap();
        // Another user's link in a public folder, pointing somewhere that matters.
        symlink("/etc", tmp.join("cache")).unwrap();
        std::os::unix::fs::lchown(tmp.join("cache"), Some(4242), Some(4242)).unwrap();
        let err = write_atomic_in(&root, &tmp.join("cache/passwd"), b"x", None).unwrap_err();
        assert!(
            matches!(err, ContextError::UntrustedSymlink { owner: 4242, .. }),
            "{err}"
        );
        let ctx = Context::fixed(Vec::<(String, String)>::new(), &root);
        assert!(matches!(
            ctx.path("/tmp/cache/passwd"),
            Err(ContextError::UntrustedSymlink { .. })
        ));
        assert!(!root.join("etc/passwd").exists());
    }

    #[test]
    fn a_folder_swapped_for_a_link_during_the_run_is_never_written_through() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (_dir, root, outside) = root_and_outside();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), &root);
        let stop = AtomicBool::new(false);
        let swapped = root.join("etc/app");
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // Swap etc/app between a folder and links out of the root, as fast as it
                // can, until the writer is done.
                let targets = [PathBuf::from("../../outside"), outside.clone()];
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let _ = fs::remove_dir_all(&swapped);
                    let _ = fs::remove_file(&swapped);
                    if i % 2 == 0 {
                        let _ = fs::create_dir(&swapped);
                    } else {
                        let _ = std::os::unix::fs::symlink(&targets[i / 2 % 2], &swapped);
                    }
                    i += 1;
                }
            });
            let mut written = 0;
            for n in 0..600 {
                let name = format!("f{}", n % 7);
                let target = swapped.join(&name);
                written += usize::from(write_atomic_in(&root, &target, b"x", None).is_ok());
                let _ = append_file(&root, &target, b"+", FileOptions::default());
                let _ = create_folder(&root, &swapped.join("d"), FileOptions::default());
                let _ = ctx.write_atomic(format!("/etc/app/{name}"), b"y", None);
            }
            stop.store(true, Ordering::Relaxed);
            assert!(
                written > 0,
                "the race let some writes through the real folder"
            );
        });
        assert!(
            entries(&outside).is_empty(),
            "written outside: {:?}",
            entries(&outside)
        );
    }

    #[test]
    fn append_refuses_a_link_or_a_fifo_in_place_of_the_file() {
        let (_dir, root, outside) = root_and_outside();
        fs::write(outside.join("log"), "kept\n").unwrap();
        std::os::unix::fs::symlink(outside.join("log"), root.join("etc/log")).unwrap();
        let opts = FileOptions::default();
        assert!(append_file(&root, &root.join("etc/log"), b"x", opts).is_err());
        nix::unistd::mkfifo(&root.join("etc/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(append_file(&root, &root.join("etc/fifo"), b"x", opts).is_err());
        assert_eq!(fs::read_to_string(outside.join("log")).unwrap(), "kept\n");
        append_file(&root, &root.join("etc/new"), b"a", opts).unwrap();
        append_file(&root, &root.join("etc/new"), b"b", opts).unwrap();
        assert_eq!(fs::read(root.join("etc/new")).unwrap(), b"ab");
    }

    #[test]
    fn temp_files_a_killed_run_left_are_removed_on_the_next_write() {
        let (_dir, root, outside) = root_and_outside();
        let etc = root.join("etc");
        let stale = etc.join(".hostname.strap-0123456789abcdef");
        let fresh = etc.join(".hostname.strap-fedcba9876543210");
        let planted = etc.join(".hostname.strap-00000000000000aa");
        let other = etc.join(".hosts.strap-0123456789abcdef");
        for f in [&stale, &other] {
            let file = fs::File::create(f).unwrap();
            let old = SystemTime::now() - std::time::Duration::from_secs(3600);
            file.set_modified(old).unwrap();
        }
        fs::write(&fresh, "").unwrap();
        std::os::unix::fs::symlink(outside.join("x"), &planted).unwrap();
        write_atomic_in(&root, &etc.join("hostname"), b"h\n", None).unwrap();
        assert!(
            !stale.exists(),
            "an old temp file of the same target is removed"
        );
        assert!(
            fresh.exists(),
            "one of this run (maybe being written) is kept"
        );
        assert!(
            fs::symlink_metadata(&planted).is_ok(),
            "a link is left alone"
        );
        assert!(
            other.exists(),
            "another target's temp files wait for its own write"
        );
        assert!(entries(&outside).is_empty());
    }

    #[test]
    fn owner_and_mode_are_set_on_the_open_file() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (_dir, root, _outside) = root_and_outside();
        let me = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let opts = FileOptions {
            mode: Some(0o4750),
            owner: Some(me),
        };
        let folder = replace_file(&root, &root.join("etc/tool"), b"x", opts, true).unwrap();
        folder.sync().unwrap();
        let meta = fs::metadata(root.join("etc/tool")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o4750);
        assert_eq!((meta.uid(), meta.gid()), me);
        let made = create_folder(
            &root,
            &root.join("home/u/.ssh"),
            FileOptions {
                mode: Some(0o700),
                owner: Some(me),
            },
        )
        .unwrap();
        assert_eq!(made.path(), root.join("home/u/.ssh"));
        let meta = fs::metadata(root.join("home/u/.ssh")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    }
}
