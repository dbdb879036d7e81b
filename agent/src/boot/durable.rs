//! How the boot makes its files durable, with as few fsyncs as that takes.
//!
//! Every file is written atomically: a temporary file in the same folder, then a rename
//! over the target, so a reader (or a crash) sees the old contents or the new ones, never
//! a mix. Both go through the folder's handle, reached from the root's without following
//! a link out of it ([`crate::context::beneath`]). What differs is the flushing:
//!
//! - [`write`] is for files that matter on the machine and cannot be rebuilt (accounts,
//!   `/etc/hostname`, sudoers, keys, `write_files`, the instance id): the file's data is
//!   fsynced *before* the rename, so after a power loss the target is never empty or
//!   torn. The rename itself becomes durable when its folder is synced; instead of one
//!   folder fsync per file, the folder is remembered and [`sync_pending`] syncs each
//!   folder once at the end of a stage (a crash before that loses the rename, so the
//!   old file is seen, and the module's marker, written after it, is not durable either).
//! - [`write_rebuilt`] is for the boot's own copies that every boot rewrites from the
//!   metadata service before using them (the saved user data, the merged cloud-config,
//!   the stored parts, `boot-finished`): temp file and rename, no fsync, like
//!   cloud-init's own writes of the same files. After a power loss they may be empty;
//!   the next boot writes them again before anything reads them.
//!
//! [`write_all`] writes several files that matter together (the four account files):
//! each is still temp file → fsync → rename, but the fsyncs run at the same time, so the
//! file system can commit them in one journal transaction instead of one each.
//!
//! The pending folders are kept per thread (the boot runs on one thread).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::context::{ContextError, FileOptions, Staged};

thread_local! {
    static PENDING: RefCell<BTreeSet<PathBuf>> = const { RefCell::new(BTreeSet::new()) };
}

/// Write a file that matters: temp file, fsync, rename; its folder is synced by the next
/// [`sync_pending`]. `target` is a real path beneath `root` (see [`crate::context::beneath`]:
/// nothing is followed out of the root). Parent folders are created; `mode` sets the new
/// file's permissions.
pub fn write(
    root: &Path,
    target: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(), ContextError> {
    write_with(root, target, contents, FileOptions { mode, owner: None })
}

/// [`write`] with an owner too (set on the open temp file, before the rename).
pub fn write_with(
    root: &Path,
    target: &Path,
    contents: &[u8],
    opts: FileOptions,
) -> Result<(), ContextError> {
    let folder = crate::context::replace_file(root, target, contents, opts, true)?;
    PENDING.with(|p| p.borrow_mut().insert(folder.path().to_path_buf()));
    Ok(())
}

/// Write several files that matter: all temp files written, their fsyncs issued in
/// parallel, then each renamed into place (in the given order); folders are synced by the
/// next [`sync_pending`]. On an error, the files renamed before it stay, the others are
/// untouched, and the error names the file (its index in `files` is the first value).
pub fn write_all(
    root: &Path,
    files: &[(PathBuf, &[u8], Option<u32>)],
) -> Result<(), (usize, ContextError)> {
    let mut temps: Vec<Staged> = Vec::with_capacity(files.len());
    for (i, (target, contents, mode)) in files.iter().enumerate() {
        let opts = FileOptions {
            mode: *mode,
            owner: None,
        };
        match Staged::new(root, target, contents, opts) {
            Ok(staged) => temps.push(staged),
            Err(err) => {
                temps.into_iter().for_each(Staged::abandon);
                return Err((i, err));
            }
        }
    }
    let synced: Vec<Result<(), ContextError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = temps
            .iter()
            .map(|staged| {
                let sync = move || staged.sync();
                // No thread to spare: this file is synced here, after the others.
                crate::threads::scoped(scope, "sync", sync).map_err(|_| sync)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(ContextError::Io {
                        op: "sync",
                        path: PathBuf::new(),
                        source: std::io::Error::other("the sync thread stopped"),
                    })
                }),
                Err(sync) => sync(),
            })
            .collect()
    });
    if let Some(i) = synced.iter().position(Result::is_err) {
        temps.into_iter().for_each(Staged::abandon);
        let err = synced
            .into_iter()
            .nth(i)
            .and_then(Result::err)
            .unwrap_or(ContextError::Io {
                op: "sync",
                path: PathBuf::new(),
                source: std::io::Error::other("sync failed"),
            });
        return Err((i, err));
    }
    let mut temps = temps.into_iter();
    for (i, (_, contents, _)) in files.iter().enumerate() {
        let Some(staged) = temps.next() else { break };
        let folder = match staged.commit(contents, true) {
            Ok(folder) => folder,
            Err(err) => {
                temps.for_each(Staged::abandon);
                return Err((i, err));
            }
        };
        PENDING.with(|p| p.borrow_mut().insert(folder.path().to_path_buf()));
    }
    Ok(())
}

/// Write a file the next boot rewrites before reading it: temp file and rename, no fsync.
pub fn write_rebuilt(
    root: &Path,
    target: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(), ContextError> {
    // A boot of the same instance rewrites the same bytes: leave the file as it is.
    if unchanged(target, contents, mode) {
        return Ok(());
    }
    let opts = FileOptions { mode, owner: None };
    crate::context::replace_file(root, target, contents, opts, false).map(|_| ())
}

/// Whether `target` is a regular file holding exactly `contents` (and, when given, with
/// the permission bits `mode`).
fn unchanged(target: &Path, contents: &[u8], mode: Option<u32>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = fs::symlink_metadata(target) else {
        return false;
    };
    meta.is_file()
        && meta.len() == contents.len() as u64
        && mode.is_none_or(|m| meta.permissions().mode() & 0o7777 == m)
        && crate::context::read_regular(target, contents.len() as u64 + 1, false)
            .is_ok_and(|old| old == contents)
}

/// Sync every folder that got a [`write`] since the last call, once each. A folder that
/// cannot be opened (removed since) is skipped: there is nothing left to make durable.
pub fn sync_pending() {
    let dirs = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for dir in dirs {
        if let Ok(file) = fs::File::open(&dir) {
            if let Err(err) = file.sync_all() {
                tracing::warn!("cannot sync the folder {}: {err}", dir.display());
            }
        }
    }
}

/// The folders waiting for a sync on this thread (tests).
#[cfg(test)]
fn pending() -> Vec<PathBuf> {
    PENDING.with(|p| p.borrow().iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_replaces_atomically_and_defers_the_folder_sync() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("etc/hostname");
        write(dir.path(), &target, b"one\n", Some(0o640)).unwrap();
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o640
        );
        write(dir.path(), &target, b"two\n", None).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two\n");
        assert_eq!(pending(), vec![dir.path().join("etc")]);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path().join("etc")).unwrap().count(), 1);
        sync_pending();
        assert!(pending().is_empty());
    }

    #[test]
    fn rebuilt_files_are_not_queued_and_modes_apply() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/part-001");
        write_rebuilt(dir.path(), &target, b"#!/bin/sh\n", Some(0o700)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"#!/bin/sh\n");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(pending().is_empty());
    }

    #[test]
    fn write_all_replaces_every_file_and_queues_their_folder_once() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        write(dir.path(), &etc.join("passwd"), b"old\n", None).unwrap();
        sync_pending();
        let files = [
            (
                etc.join("passwd"),
                &b"root:x:0:0::/root:/bin/sh\n"[..],
                Some(0o644),
            ),
            (etc.join("shadow"), &b"root:*::::::\n"[..], Some(0o640)),
        ];
        write_all(dir.path(), &files).unwrap();
        assert_eq!(
            fs::read(etc.join("passwd")).unwrap(),
            b"root:x:0:0::/root:/bin/sh\n"
        );
        assert_eq!(fs::read(etc.join("shadow")).unwrap(), b"root:*::::::\n");
        assert_eq!(
            fs::metadata(etc.join("shadow"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
        assert_eq!(pending(), vec![etc.clone()]);
        assert_eq!(fs::read_dir(&etc).unwrap().count(), 2);
        sync_pending();
    }

    #[test]
    fn write_all_names_the_file_it_could_not_write_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let files = [
            (dir.path().join("a"), &b"a"[..], None),
            (blocker.join("b"), &b"b"[..], None),
        ];
        let (index, _) = write_all(dir.path(), &files).unwrap_err();
        assert_eq!(index, 1);
        assert!(!dir.path().join("a").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_removed_folder_is_skipped_by_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("gone");
        write(dir.path(), &sub.join("f"), b"x", None).unwrap();
        fs::remove_dir_all(&sub).unwrap();
        sync_pending();
        assert!(pending().is_empty());
    }
}
