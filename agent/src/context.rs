//! The one injected context through which every side effect of the agent passes: the
//! process environment, the filesystem root that writes are confined to, the user's home
//! directory and the clock. Product code never calls `std::env::var`, `SystemTime::now`
//! or writes to an absolute path directly; it asks the [`Context`]. Tests build a context
//! with a fixed environment, a temporary root and a fixed clock, so they run without
//! touching the machine.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

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

/// The injected context: environment, filesystem root, home directory and clock.
#[derive(Clone, Debug)]
pub struct Context {
    env: EnvSource,
    root: PathBuf,
    home: Option<PathBuf>,
    clock: ClockSource,
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
            let is_link = fs::symlink_metadata(&candidate)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if !is_link {
                resolved = candidate;
                continue;
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
        write_atomic(&target, contents, mode)?;
        Ok(target)
    }
}

/// Write `contents` to the real path `target` atomically (temp file, fsync, rename),
/// then sync the folder so the rename itself is durable.
pub fn write_atomic(target: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), ContextError> {
    let dir = replace_file(target, contents, mode, true)?;
    if let Ok(dir_file) = fs::File::open(&dir) {
        let _ = dir_file.sync_all();
    }
    Ok(())
}

/// Replace `target` by a temporary file holding `contents`, renamed into place; with
/// `sync`, the temporary file is fsynced before the rename (so the target is the old or
/// the new contents after a power loss, never empty). Answers the folder, whose own sync
/// (making the rename durable) is left to the caller.
pub fn replace_file(
    target: &Path,
    contents: &[u8],
    mode: Option<u32>,
    sync: bool,
) -> Result<PathBuf, ContextError> {
    let (file, tmp, dir) = write_temp(target, contents, mode)?;
    if sync {
        file.sync_all().map_err(|source| ContextError::Io {
            op: "sync",
            path: tmp.clone(),
            source,
        })?;
    }
    drop(file);
    if let Err(source) = fs::rename(&tmp, target) {
        let _ = fs::remove_file(&tmp);
        // A file that is a mount point (a container runtime bind-mounts /etc/hostname,
        // /etc/hosts and /etc/resolv.conf) cannot be renamed over: it is rewritten in
        // place, as the runtime expects.
        if source.raw_os_error() == Some(nix::libc::EBUSY) {
            rewrite_in_place(target, contents, sync)?;
            return Ok(dir);
        }
        return Err(ContextError::Io {
            op: "rename into place",
            path: target.to_path_buf(),
            source,
        });
    }
    Ok(dir)
}

/// Truncate and rewrite an existing regular file without following a symlink.
fn rewrite_in_place(target: &Path, contents: &[u8], sync: bool) -> Result<(), ContextError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |op: &'static str| {
        let path = target.to_path_buf();
        move |source| ContextError::Io { op, path, source }
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(target)
        .map_err(io("rewrite in place (a mount point)"))?;
    file.write_all(contents)
        .map_err(io("rewrite in place (a mount point)"))?;
    if sync {
        file.sync_all().map_err(io("sync"))?;
    }
    tracing::debug!("{} is a mount point: rewritten in place", target.display());
    Ok(())
}

/// The first half of an atomic write: create the folder of `target` and a temporary file
/// beside it holding `contents` (with `mode`, when given). Answers the open file (not yet
/// synced), its path and the folder; the caller syncs and renames it.
pub fn write_temp(
    target: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(fs::File, PathBuf, PathBuf), ContextError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError::Io { op, path, source }
    };
    let dir = target.parent().unwrap_or(Path::new(".")).to_path_buf();
    fs::create_dir_all(&dir).map_err(io("create folder", &dir))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let (mut file, tmp) = create_temp(&dir, &name)?;
    if let Some(mode) = mode {
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io("set permissions of", &tmp))?;
    }
    file.write_all(contents).map_err(io("write", &tmp))?;
    Ok((file, tmp, dir))
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

/// A new, empty temporary file in `dir` for a file named `name`: an unguessable name
/// (`.NAME.strap-` and 16 random hex digits), created with `O_CREAT | O_EXCL |
/// O_NOFOLLOW` and mode 0600, so that nothing planted in the folder beforehand (a file or
/// a symbolic link, under any name) is ever opened or written through. Its mode is set
/// later on the open file, never by path.
pub fn create_temp(dir: &Path, name: &str) -> Result<(fs::File, PathBuf), ContextError> {
    use rand::Rng as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut last = None;
    for _ in 0..8 {
        let suffix: u64 = rand::thread_rng().gen();
        let tmp = dir.join(format!(".{name}.strap-{suffix:016x}"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(file) => return Ok((file, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((tmp, e)),
            Err(source) => {
                return Err(ContextError::Io {
                    op: "create",
                    path: tmp,
                    source,
                })
            }
        }
    }
    let (path, source) = last.unwrap_or_else(|| {
        (
            dir.join(name),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        )
    });
    Err(ContextError::Io {
        op: "create a temporary file beside",
        path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            write_atomic(&root.join("etc/hostname"), b"new\n", Some(0o644)).unwrap();
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
    fn temp_names_are_not_guessable() {
        let dir = tempfile::tempdir().unwrap();
        let (_a, first) = create_temp(dir.path(), "f").unwrap();
        let (_b, second) = create_temp(dir.path(), "f").unwrap();
        assert_ne!(first, second);
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".f.strap-") && name.len() == ".f.strap-".len() + 16);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&first).unwrap().permissions().mode() & 0o777;
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
        let res = write_atomic(&target, b"new\n", Some(0o644));
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
}
