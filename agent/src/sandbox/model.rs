//! What a launch changed, as data: the changed paths, accounts and packages that
//! `changes.rs` reads from the upper layer and `report.rs` shows, and which paths are the
//! boot's own records. Both import it; it imports neither.

use serde::{Deserialize, Serialize};

/// How a path changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
    /// A directory deleted and made again: nothing below it comes from the image.
    Replaced,
}

/// What kind of file a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One changed path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// The absolute path on the machine.
    pub path: String,
    pub change: ChangeKind,
    pub kind: FileKind,
    /// Size in bytes now (absent when deleted).
    pub size: Option<u64>,
    /// Permission bits now, octal (`0644`).
    pub mode: Option<String>,
    /// Owner now, `uid:gid`.
    pub owner: Option<String>,
    /// Size before, when it existed.
    pub old_size: Option<u64>,
    /// Permission bits before, when it existed.
    pub old_mode: Option<String>,
    /// Where a symbolic link points.
    pub link_target: Option<String>,
    /// A unified diff, for small text files when asked.
    pub diff: Option<String>,
}

/// Accounts added and removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChanges {
    pub users_added: Vec<String>,
    pub users_removed: Vec<String>,
    pub groups_added: Vec<String>,
    pub groups_removed: Vec<String>,
}

/// A package change seen in dpkg's status file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChange {
    pub name: String,
    /// `installed`, `upgraded` or `removed`.
    pub change: String,
    pub old_version: Option<String>,
    pub version: Option<String>,
}

/// Whether a path is one of the boot's own records (state folder, logs), folded into one
/// line of the table.
pub fn is_boot_record(path: &str) -> bool {
    let state = super::BOOT_STATE_DIR;
    path == state
        || path
            .strip_prefix(state)
            .is_some_and(|rest| rest.starts_with('/'))
        || super::BOOT_LOGS.contains(&path)
}
