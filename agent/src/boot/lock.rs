//! One boot at a time per state folder: an exclusive `flock` on `<state>/strap.lock`
//! (or `/run/strap/strap.lock` where the state folder cannot hold it, as on a read-only
//! root), held for the whole boot and released when the process ends, however it ends.
//! The holder's pid is in the file, so a second `strap run` names it. The holder also
//! takes over what a killed holder left: the temp files of writes it never renamed,
//! found through the journal of folders beside the lock (`temp-folders`), which the new
//! holder then keeps in turn. This module only takes and describes the lock; the runner
//! decides what a held lock means.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::paths::Paths;

/// The lock file's name, in the state folder.
pub const LOCK_FILE: &str = "strap.lock";

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("another strap run ({holder}) is using the state folder (lock {path}); wait for it with `strap status --wait`, or stop it")]
    Held { path: PathBuf, holder: String },
    /// No lock file could be opened or locked at all.
    #[error("cannot lock {path}")]
    Unavailable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The journal of the folders the holder made temp files in, beside the lock file.
pub const TEMP_JOURNAL: &str = "temp-folders";

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StateLock {
    _lock: Flock<fs::File>,
    pub path: PathBuf,
    /// Temp files a killed holder left, removed when the lock was taken.
    pub cleaned: usize,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        crate::context::beneath::end_journal();
    }
}

/// Open (creating it and its folders) the lock file beneath the root, by handle.
fn open(root: &Path, path: &Path) -> std::io::Result<fs::File> {
    use nix::fcntl::OFlag;
    crate::context::open_in_folders(root, path, OFlag::O_RDWR | OFlag::O_CREAT, 0o644)
        .map(|(_, file)| file)
        .map_err(|err| match err {
            crate::context::ContextError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        })
}

fn holder(path: &Path) -> String {
    let pid = crate::context::read_regular(path, 64, false).unwrap_or_default();
    let pid = String::from_utf8_lossy(&pid);
    let pid = pid.trim();
    if pid.is_empty() {
        return "pid unknown".into();
    }
    let cmd = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if cmd.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid}: {cmd}")
    }
}

/// Take the boot's lock without waiting.
pub fn acquire(paths: &Paths) -> Result<StateLock, LockError> {
    let first = paths.state.join(LOCK_FILE);
    let (file, path) = match open(&paths.root, &first) {
        Ok(f) => (f, first),
        Err(_) => {
            let fallback = paths.run.join(LOCK_FILE);
            match open(&paths.root, &fallback) {
                Ok(f) => (f, fallback),
                Err(source) => {
                    return Err(LockError::Unavailable {
                        path: fallback,
                        source,
                    })
                }
            }
        }
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            let _ = lock.set_len(0);
            let _ = writeln!(lock, "{}", std::process::id());
            let journal = path.with_file_name(TEMP_JOURNAL);
            let cleaned = crate::context::beneath::clean_journaled(&journal);
            // Without a journal (a read-only state folder), a killed write's temp file
            // is still removed when its target is written again.
            let _ = crate::context::beneath::journal_temps(&journal);
            Ok(StateLock {
                _lock: lock,
                path,
                cleaned,
            })
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(LockError::Held {
            holder: holder(&path),
            path,
        }),
        Err((_, errno)) => Err(LockError::Unavailable {
            path,
            source: std::io::Error::from(errno),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    #[test]
    fn a_second_boot_is_refused_and_told_who_holds_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), dir.path());
        let paths = Paths::resolve(&ctx, None).unwrap();
        let held = acquire(&paths).unwrap();
        assert_eq!(
            fs::read_to_string(&held.path).unwrap().trim(),
            std::process::id().to_string()
        );
        // flock locks belong to the open file: a second open in this process conflicts
        // as another process's would.
        let err = acquire(&paths).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id()))
                && text.contains("strap status --wait"),
            "{text}"
        );
        drop(held);
        acquire(&paths).unwrap();
    }
}
