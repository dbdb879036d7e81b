//! What a launch changed, read from its overlay's upper layer and compared with the image
//! it started from: files added, changed and deleted (overlay whiteouts), directories
//! replaced (opaque), users and groups added or removed, and dpkg packages installed,
//! upgraded or removed. It only reads; the layers are left as they are.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::model::{
    is_boot_record, AccountChanges, ChangeKind, FileChange, FileKind, PackageChange,
};
use super::{textdiff, SandboxError, DIFF_MAX_BYTES};

fn mode_string(meta: &std::fs::Metadata) -> String {
    format!("{:04o}", meta.mode() & 0o7777)
}

fn kind_of(meta: &std::fs::Metadata) -> FileKind {
    let ft = meta.file_type();
    if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether an upper-layer directory is opaque (hides the image's content below it).
fn is_opaque(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(cpath) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| {
            let Ok(cname) = std::ffi::CString::new(*name) else {
                return false;
            };
            let mut value = [0u8; 4];
            // SAFETY: both strings are NUL-terminated and `value` is writable for its length.
            #[allow(unsafe_code)]
            let n = unsafe {
                libc::lgetxattr(
                    cpath.as_ptr(),
                    cname.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            n >= 1 && value[0] == b'y'
        })
}

/// Every path the upper layer `upper` changes relative to the image `base`, sorted.
pub fn file_changes(
    upper: &Path,
    base: &Path,
    with_diff: bool,
) -> Result<Vec<FileChange>, SandboxError> {
    let mut out = Vec::new();
    walk(upper, base, Path::new("/"), with_diff, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(
    upper_dir: &Path,
    base_dir: &Path,
    machine_dir: &Path,
    with_diff: bool,
    out: &mut Vec<FileChange>,
) -> Result<(), SandboxError> {
    let entries =
        std::fs::read_dir(upper_dir).map_err(SandboxError::io("read folder", upper_dir))?;
    let mut names: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let upper = upper_dir.join(&name);
        let base = base_dir.join(&name);
        let machine = machine_dir.join(&name);
        let meta = std::fs::symlink_metadata(&upper).map_err(SandboxError::io("read", &upper))?;
        let old = std::fs::symlink_metadata(&base).ok();
        let path = machine.display().to_string();
        if is_whiteout(&meta) {
            out.push(FileChange {
                path,
                change: ChangeKind::Deleted,
                kind: old.as_ref().map(kind_of).unwrap_or(FileKind::Other),
                size: None,
                mode: None,
                owner: None,
                old_size: old.as_ref().map(|m| m.len()),
                old_mode: old.as_ref().map(mode_string),
                link_target: None,
                diff: None,
            });
            continue;
        }
        let kind = kind_of(&meta);
        let change = match (&old, kind) {
            (None, _) => Some(ChangeKind::Added),
            (Some(_), FileKind::Dir) if is_opaque(&upper) => Some(ChangeKind::Replaced),
            (Some(o), FileKind::Dir) if o.is_dir() => {
                // Copied up only because something below changed, unless its own
                // attributes did.
                (o.mode() != meta.mode() || o.uid() != meta.uid() || o.gid() != meta.gid())
                    .then_some(ChangeKind::Changed)
            }
            (Some(_), _) => Some(ChangeKind::Changed),
        };
        if let Some(change) = change {
            let link_target = (kind == FileKind::Symlink)
                .then(|| {
                    std::fs::read_link(&upper)
                        .ok()
                        .map(|t| t.display().to_string())
                })
                .flatten();
            // The boot's own records are in the report already; no diff for them.
            let diff = if with_diff && kind == FileKind::File && !is_boot_record(&path) {
                let old_file = old.as_ref().filter(|o| o.is_file()).map(|_| base.as_path());
                text_diff(old_file, &upper, &path)
            } else {
                None
            };
            out.push(FileChange {
                path,
                change,
                kind,
                size: (kind != FileKind::Dir).then_some(meta.len()),
                mode: Some(mode_string(&meta)),
                owner: Some(format!("{}:{}", meta.uid(), meta.gid())),
                old_size: old.as_ref().filter(|o| !o.is_dir()).map(|m| m.len()),
                old_mode: old.as_ref().map(mode_string),
                link_target,
                diff,
            });
        }
        if kind == FileKind::Dir {
            // Below an added or opaque directory nothing comes from the image.
            let base_below = if matches!(change, Some(ChangeKind::Added | ChangeKind::Replaced)) {
                Path::new("/nonexistent-strap-try-base").to_path_buf()
            } else {
                base.clone()
            };
            walk(&upper, &base_below, &machine, with_diff, out)?;
        }
    }
    Ok(())
}

/// Read a small text file; `None` when large, unreadable or binary.
fn small_text(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > DIFF_MAX_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

fn text_diff(old: Option<&Path>, new: &Path, machine: &str) -> Option<String> {
    let old_text = match old {
        Some(p) => small_text(p)?,
        None => String::new(),
    };
    let new_text = small_text(new)?;
    if old.is_none() && new_text.lines().count() > super::DIFF_MAX_NEW_LINES {
        // A long new file: its size says enough; `--keep` keeps it to read.
        return None;
    }
    let diff = textdiff::unified(&old_text, &new_text, machine, 3)?;
    (!diff.is_empty()).then_some(diff)
}

/// The content of a machine file as the launch left it: the upper layer's copy if it has
/// one (a whiteout means deleted), else the image's.
fn read_merged(upper: &Path, base: &Path, machine: &str) -> String {
    let rel = machine.trim_start_matches('/');
    let up = upper.join(rel);
    match std::fs::symlink_metadata(&up) {
        Ok(meta) if is_whiteout(&meta) => String::new(),
        Ok(_) => std::fs::read_to_string(&up).unwrap_or_default(),
        Err(_) => std::fs::read_to_string(base.join(rel)).unwrap_or_default(),
    }
}

/// The names in a colon-separated account file (`/etc/passwd`, `/etc/group`).
fn account_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect()
}

fn added_removed(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let before = account_names(before);
    let after = account_names(after);
    let added = after
        .iter()
        .filter(|n| !before.contains(n))
        .cloned()
        .collect();
    let removed = before
        .iter()
        .filter(|n| !after.contains(n))
        .cloned()
        .collect();
    (added, removed)
}

/// Users and groups the launch added or removed.
pub fn account_changes(upper: &Path, base: &Path) -> AccountChanges {
    let read_base =
        |p: &str| std::fs::read_to_string(base.join(p.trim_start_matches('/'))).unwrap_or_default();
    let (users_added, users_removed) = added_removed(
        &read_base("/etc/passwd"),
        &read_merged(upper, base, "/etc/passwd"),
    );
    let (groups_added, groups_removed) = added_removed(
        &read_base("/etc/group"),
        &read_merged(upper, base, "/etc/group"),
    );
    AccountChanges {
        users_added,
        users_removed,
        groups_added,
        groups_removed,
    }
}

/// Installed packages and their versions from a dpkg status file.
fn dpkg_installed(status: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let mut name = None;
        let mut version = String::new();
        let mut installed = false;
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(name), true) = (name, installed) {
            out.insert(name, version);
        }
    }
    out
}

/// Packages dpkg records as installed, upgraded or removed by the launch; empty where
/// the machine has no dpkg.
pub fn package_changes(upper: &Path, base: &Path) -> Vec<PackageChange> {
    const STATUS: &str = "/var/lib/dpkg/status";
    let before =
        dpkg_installed(&std::fs::read_to_string(base.join(&STATUS[1..])).unwrap_or_default());
    let after = dpkg_installed(&read_merged(upper, base, STATUS));
    diff_packages(&before, &after)
}

fn diff_packages(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<PackageChange> {
    let mut out = Vec::new();
    for (name, version) in after {
        match before.get(name) {
            None => out.push(PackageChange {
                name: name.clone(),
                change: "installed".into(),
                old_version: None,
                version: Some(version.clone()),
            }),
            Some(old) if old != version => out.push(PackageChange {
                name: name.clone(),
                change: "upgraded".into(),
                old_version: Some(old.clone()),
                version: Some(version.clone()),
            }),
            Some(_) => {}
        }
    }
    for (name, version) in before {
        if !after.contains_key(name) {
            out.push(PackageChange {
                name: name.clone(),
                change: "removed".into(),
                old_version: Some(version.clone()),
                version: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn upper_layer_walk_reports_added_changed_and_kept_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (upper, base) = (dir.path().join("upper"), dir.path().join("base"));
        fs::create_dir_all(base.join("etc")).unwrap();
        fs::write(base.join("etc/motd"), "hello\n").unwrap();
        fs::create_dir_all(upper.join("etc/app")).unwrap();
        fs::write(upper.join("etc/motd"), "hello\nworld\n").unwrap();
        fs::write(upper.join("etc/app/conf"), "a=1\n").unwrap();
        std::os::unix::fs::symlink("/etc/motd", upper.join("etc/link")).unwrap();
        let changes = file_changes(&upper, &base, true).unwrap();
        let paths: Vec<_> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.change))
            .collect();
        assert_eq!(
            paths,
            [
                ("/etc/app", ChangeKind::Added),
                ("/etc/app/conf", ChangeKind::Added),
                ("/etc/link", ChangeKind::Added),
                ("/etc/motd", ChangeKind::Changed),
            ]
        );
        let motd = &changes[3];
        assert_eq!((motd.old_size, motd.size), (Some(6), Some(12)));
        assert!(motd.diff.as_deref().unwrap().contains("+world"), "{motd:?}");
        assert_eq!(changes[2].link_target.as_deref(), Some("/etc/motd"));
    }

    #[test]
    fn accounts_are_compared_by_name() {
        let (added, removed) = added_removed(
            "root:x:0:0::/root:/bin/sh\nold:x:5:5::/:/bin/false\n",
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n",
        );
        assert_eq!(added, ["alice"]);
        assert_eq!(removed, ["old"]);
    }

    #[test]
    fn dpkg_status_diff_names_installed_upgraded_and_removed() {
        let before = dpkg_installed(
            "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 1\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n",
        );
        let after = dpkg_installed(
            "Package: a\nStatus: install ok installed\nVersion: 2\n\nPackage: c\nStatus: install ok installed\nVersion: 3\n",
        );
        let changes: Vec<_> = diff_packages(&before, &after)
            .into_iter()
            .map(|p| (p.name, p.change))
            .collect();
        assert_eq!(
            changes,
            [
                ("a".to_string(), "upgraded".to_string()),
                ("c".to_string(), "installed".to_string()),
                ("b".to_string(), "removed".to_string()),
            ]
        );
    }
}
