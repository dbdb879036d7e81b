//! The records a boot leaves behind, in cloud-init's shapes where one exists:
//!
//! - the event log (`/var/log/strap.log`, 0600): `<time> - strap[LEVEL]: start: <stage>/<name>:
//!   …` and `finish: <stage>/<name>: SUCCESS|FAIL|WARN: …` lines, as cloud-init writes them;
//! - `/run/strap/status.json`: `{"v1": {"datasource", "stage", "<stage>": {"errors",
//!   "recoverable_errors", "start", "finished"}}}`, times in seconds since the epoch;
//! - `/run/strap/result.json`: `{"v1": {"datasource", "errors"}}`, written when the boot ends;
//! - `<state>/data/report.json` ([`Report`]), strap's own record of every part and module.
//!
//! `report.json` (read by `strap try` and `strap analyze`):
//!
//! ```json
//! {"version": 1, "instance_id": "i-…", "boot_id": "…", "datasource": "DataSourceEc2",
//!  "started": 1.0, "finished": 2.0, "imds_requests": 4,
//!  "imds_requests_before_first_script": 3,
//!  "stages": [{"name": "init-network", "start": 1.0, "finished": 1.5, "errors": []}],
//!  "items": [{"name": "config-runcmd", "kind": "module|part|script", "stage": "modules-config",
//!             "frequency": "once-per-instance", "status": "ran|skipped|failed",
//!             "reason": "why it was skipped or failed", "exit_code": 0,
//!             "start": 1.2, "duration": 0.01, "output_tail": ["last lines"]}]}
//! ```
//!
//! The JSON records are written with [`write_json`] (a spare file swapped in, so a reader
//! sees the old record or the new one) and read back with [`read_record`]; an error goes
//! into them on one line ([`error_chain`]). This file imports nothing else of the boot.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a part or module ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    Ran,
    Skipped,
    Failed,
}

/// One part, script or module of a boot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportItem {
    pub name: String,
    /// `module`, `part` (user-data consumption) or `script`.
    pub kind: String,
    pub stage: String,
    pub frequency: String,
    pub status: ItemStatus,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    pub start: f64,
    pub duration: f64,
    #[serde(default)]
    pub output_tail: Vec<String>,
}

/// One stage's times and errors.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub start: Option<f64>,
    pub finished: Option<f64>,
    pub errors: Vec<String>,
    pub recoverable_errors: BTreeMap<String, Vec<String>>,
}

/// `<state>/data/report.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub instance_id: String,
    pub boot_id: String,
    pub datasource: String,
    pub started: f64,
    pub finished: Option<f64>,
    pub imds_requests: u64,
    pub imds_requests_before_first_script: Option<u64>,
    pub stages: Vec<StageRecord>,
    pub items: Vec<ReportItem>,
    /// The process running the boot, so that a reader can tell a boot still going from
    /// one that was killed before it wrote `result.json`.
    #[serde(default)]
    pub process: Option<BootProcess>,
    /// Set when the user data changed since it was applied to this instance: what the
    /// boot found and did (`apply_changed_user_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data_changed: Option<String>,
}

/// A process, identified beyond its pid (pids are reused): pid and start time in clock
/// ticks since the kernel booted (`/proc/<pid>/stat`, field 22).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootProcess {
    pub pid: u32,
    pub start_ticks: u64,
}

impl BootProcess {
    /// This process.
    pub fn current() -> Option<Self> {
        let pid = std::process::id();
        Some(Self {
            pid,
            start_ticks: start_ticks(pid)?,
        })
    }

    /// Whether this process is still alive (same pid, same start time).
    pub fn alive(&self) -> bool {
        start_ticks(self.pid) == Some(self.start_ticks)
    }
}

/// Field 22 of `/proc/<pid>/stat` (after the parenthesised command name, which may hold
/// spaces).
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")": state is field 3, so starttime (22) is the 20th word.
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Report {
    /// All errors of all stages.
    pub fn errors(&self) -> Vec<String> {
        self.stages.iter().flat_map(|s| s.errors.clone()).collect()
    }

    /// The current stage record (the last one).
    pub fn stage_mut(&mut self) -> Option<&mut StageRecord> {
        self.stages.last_mut()
    }

    /// `status.json` in cloud-init's v1 shape; `running` names the running stage.
    pub fn status_json(&self, running: Option<&str>) -> serde_json::Value {
        let mut v1 = serde_json::Map::new();
        v1.insert("datasource".into(), self.datasource.clone().into());
        v1.insert(
            "stage".into(),
            running.map_or(serde_json::Value::Null, |s| s.into()),
        );
        for stage in STATUS_STAGES {
            let rec = self.stages.iter().find(|s| status_key(&s.name) == *stage);
            let value = match rec {
                Some(r) => serde_json::json!({
                    "errors": r.errors,
                    "recoverable_errors": r.recoverable_errors,
                    "start": r.start,
                    "finished": r.finished,
                }),
                None => serde_json::json!({
                    "errors": [], "recoverable_errors": {}, "start": null, "finished": null
                }),
            };
            v1.insert((*stage).into(), value);
        }
        let mut doc = serde_json::json!({ "v1": v1 });
        if let Some(p) = self.process {
            // Beside cloud-init's `v1`, which readers of its shape look at.
            doc["strap"] = serde_json::json!({"pid": p.pid, "start_ticks": p.start_ticks});
        }
        if let Some(changed) = &self.user_data_changed {
            doc["strap"]["user_data_changed"] = changed.clone().into();
        }
        doc
    }

    /// `result.json` in cloud-init's v1 shape.
    pub fn result_json(&self) -> serde_json::Value {
        serde_json::json!({"v1": {"datasource": self.datasource, "errors": self.errors()}})
    }
}

/// The stage keys of status.json.
pub const STATUS_STAGES: &[&str] = &["init-local", "init", "modules-config", "modules-final"];

/// The status.json key of a stage name (`init-network` is `init`).
pub fn status_key(stage: &str) -> &str {
    if stage == "init-network" {
        "init"
    } else {
        stage
    }
}

/// The event log, `/var/log/strap.log`.
#[derive(Clone)]
pub struct EventLog {
    file: Arc<Mutex<Option<File>>>,
    clock: Arc<dyn Fn() -> String + Send + Sync>,
}

impl EventLog {
    /// Append to `path` beneath `root` (created 0600).
    pub fn open(
        root: &Path,
        path: &Path,
        clock: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> std::io::Result<Self> {
        let file = open_log(root, path)?;
        Ok(Self {
            file: Arc::new(Mutex::new(Some(file))),
            clock,
        })
    }

    /// A log that writes nowhere.
    pub fn discard(clock: Arc<dyn Fn() -> String + Send + Sync>) -> Self {
        Self {
            file: Arc::new(Mutex::new(None)),
            clock,
        }
    }

    /// One line at a level (`DEBUG`, `INFO`, `WARNING`, `ERROR`).
    pub fn line(&self, level: &str, message: &str) {
        let text = format!("{} - strap[{level}]: {message}\n", (self.clock)());
        if let Ok(mut guard) = self.file.lock() {
            if let Some(file) = guard.as_mut() {
                let _ = file.write_all(text.as_bytes());
            }
        }
    }
}

/// Largest record (`status.json`, `report.json`, …) strap reads.
pub const MAX_RECORD: u64 = 16 * 1024 * 1024;
/// Most of the event log `strap analyze` reads (its end).
pub const MAX_LOG_READ: u64 = 64 * 1024 * 1024;

pub use crate::context::read_regular;

/// Read `report.json`.
pub fn read_report(path: &Path) -> Option<Report> {
    serde_json::from_value(read_record(path)?).ok()
}

/// Open a log beneath `root` for appending, creating it (mode 0600) and its folder when
/// missing, by its folder's handle (never through a link).
pub fn open_log(root: &Path, path: &Path) -> std::io::Result<std::fs::File> {
    use nix::fcntl::OFlag;
    crate::context::open_in_folders(
        root,
        path,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT,
        0o600,
    )
    .map(|(_, file)| file)
    .map_err(into_io)
}

/// A context error as the I/O error it carries (else as an error of its own text).
fn into_io(err: crate::context::ContextError) -> std::io::Error {
    match err {
        crate::context::ContextError::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }
}

/// Whether a write failed because its file system is full (`ENOSPC`, or `EDQUOT` for a
/// quota), which a person must fix before a boot can go on.
pub fn disk_full(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// `": the disk is full, …"` after an error's own text when `err` is [`disk_full`], else
/// nothing: said on the console and in the records, where a person looks first.
pub fn disk_full_note(err: &std::io::Error) -> &'static str {
    if disk_full(err) {
        ": the disk is full; free some space and run `strap run` again"
    } else {
        ""
    }
}

/// Whether the file system holding `path` has no space left for an ordinary user.
pub fn no_space_left(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path).is_ok_and(|st| st.blocks_available() == 0)
}

/// The mode of a new record (before the umask).
const RECORD_MODE: u32 = 0o644;

/// A record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}{}", disk_full_note(source))]
pub struct RecordError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Write a JSON record atomically: a reader sees the old record or the new one, never a
/// mix. Records are rewritten as the boot goes and are not worth an fsync each: the
/// markers, which decide what runs again, are synced.
pub fn write_json(root: &Path, path: &Path, value: &serde_json::Value) -> Result<(), RecordError> {
    write_record(root, path, &record_bytes(value))
}

/// A record's bytes (pretty JSON).
pub(super) fn record_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// The new contents go into a spare file beside the record (`.NAME.next`), which is then
/// swapped with the record in one step (`renameat2(RENAME_EXCHANGE)`): the spare keeps the
/// old contents and is rewritten in place next time. A record rewritten many times thus
/// uses two inodes and frees none (on an ext4 without a journal, freed inodes make every
/// later file creation slower for minutes). Where the file system cannot exchange, or on
/// the first write, a plain rename. A reader that opened the record just before a swap
/// and reads it only after the next write may see a torn file: readers retry a record
/// that does not parse ([`read_record`]). Everything goes through the folder's handle,
/// beneath `root`: a link planted under the spare's name is removed, never written
/// through.
pub(super) fn write_record(root: &Path, path: &Path, text: &[u8]) -> Result<(), RecordError> {
    use nix::fcntl::OFlag;
    use std::io::Write as _;
    let io = |source| RecordError {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().unwrap_or_default();
    let mut spare = std::ffi::OsString::from(".");
    spare.push(name);
    spare.push(".next");
    let spare_path = path.with_file_name(&spare);
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC;
    // Readable by everyone, as cloud-init's status.json is: `strap status` works for
    // any user (records hold no secret; the logs are 0600).
    let (folder, mut file) =
        match crate::context::open_in_folders(root, &spare_path, flags, RECORD_MODE) {
            Ok(opened) => opened,
            Err(crate::context::ContextError::Io { source, .. })
                if matches!(source.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENXIO))
                    || source.kind() == std::io::ErrorKind::InvalidInput =>
            {
                // Not a regular file (a link, a FIFO): not strap's spare; replace it.
                let (folder, _) = crate::context::beneath::folder_of(root, &spare_path)
                    .map_err(into_io)
                    .map_err(io)?;
                folder.unlink(&spare).map_err(into_io).map_err(io)?;
                let file = folder
                    .open_regular(&spare, flags | OFlag::O_EXCL, RECORD_MODE)
                    .map_err(into_io)
                    .map_err(io)?;
                (folder, file)
            }
            Err(err) => return Err(io(into_io(err))),
        };
    file.write_all(text).map_err(io)?;
    drop(file);
    folder.exchange(&spare, name).map_err(into_io).map_err(io)
}

/// Read a JSON record written by [`write_json`], retrying briefly when it does not parse
/// (a reader that raced a rewrite); `None` when it is missing or stays unreadable.
pub fn read_record(path: &Path) -> Option<serde_json::Value> {
    for attempt in 0..3 {
        let bytes = read_regular(path, MAX_RECORD, false).ok()?;
        if let Ok(v) = serde_json::from_slice(&bytes) {
            return Some(v);
        }
        if attempt < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    None
}

/// An error and its causes on one line, as the records (log lines, report reasons, stage
/// errors) hold it.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        msg.push_str(": ");
        msg.push_str(&cause.to_string());
        source = cause.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_from_regular_files_only_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        // A character device (or a FIFO) in a record's place is refused at once.
        let fifo = dir.path().join("status.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read_regular(&fifo, MAX_RECORD, false).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let zero = read_regular(Path::new("/dev/zero"), MAX_RECORD, false).unwrap_err();
        assert!(zero.to_string().contains("not a regular file"), "{zero}");
        // A record over the cap is refused; a log is read from its end.
        let big = dir.path().join("big");
        std::fs::write(&big, b"0123456789").unwrap();
        assert!(read_regular(&big, 4, false).is_err());
        assert_eq!(read_regular(&big, 4, true).unwrap(), b"6789");
        assert_eq!(read_regular(&big, 64, false).unwrap(), b"0123456789");
    }

    #[test]
    fn status_json_has_every_stage_in_cloud_init_shape() {
        let report = Report {
            datasource: "DataSourceEc2".into(),
            stages: vec![StageRecord {
                name: "init-network".into(),
                start: Some(1.0),
                finished: Some(2.0),
                errors: vec!["bootcmd: failed".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = report.status_json(Some("modules-config"));
        assert_eq!(v["v1"]["stage"], "modules-config");
        assert_eq!(v["v1"]["init"]["errors"][0], "bootcmd: failed");
        assert!(v["v1"]["modules-final"]["start"].is_null());
        assert_eq!(report.result_json()["v1"]["errors"][0], "bootcmd: failed");
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_rewritten_record_keeps_two_inodes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/status.json");
        let mut inodes = std::collections::BTreeSet::new();
        for i in 0..5 {
            write_json(dir.path(), &path, &serde_json::json!({ "n": i })).unwrap();
            inodes.insert(std::fs::metadata(&path).unwrap().ino());
            assert_eq!(read_record(&path).unwrap()["n"], i);
        }
        // The record and its spare take turns: no new inode after the second write
        // (where the file system can exchange two names in one step).
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let exchange =
            nix::fcntl::renameat2(None, &a, None, &b, nix::fcntl::RenameFlags::RENAME_EXCHANGE);
        if exchange.is_ok() {
            assert!(inodes.len() <= 2, "{inodes:?}");
        } else {
            eprintln!("this file system cannot exchange names: records are renamed over");
        }
        let spare = dir.path().join("run/.status.json.next");
        assert!(spare.is_file());
    }

    #[test]
    fn records_and_logs_are_never_written_through_a_planted_link() {
        // The spare of a record, the record itself, a log: each replaced by a link to a
        // file outside the root. The outside file stays as it was.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "untouched\n").unwrap();
        std::fs::create_dir_all(root.join("run/strap")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("run/strap/.status.json.next")).unwrap();
        write_json(
            &root,
            &root.join("run/strap/status.json"),
            &serde_json::json!({"a": 1}),
        )
        .unwrap();
        assert_eq!(
            read_record(&root.join("run/strap/status.json")).unwrap()["a"],
            1
        );
        // Readable by any user, as before (`strap status` as an ordinary user).
        let mode = std::fs::metadata(root.join("run/strap/status.json"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o044, 0o044, "{mode:o}");
        std::os::unix::fs::symlink(&outside, root.join("run/strap/result.json")).unwrap();
        write_json(
            &root,
            &root.join("run/strap/result.json"),
            &serde_json::json!({"b": 2}),
        )
        .unwrap();
        assert!(!root
            .join("run/strap/result.json")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::create_dir_all(root.join("var/log")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("var/log/strap.log")).unwrap();
        assert!(open_log(&root, &root.join("var/log/strap.log")).is_err());
        // A folder on the way that is a link out of the root: followed as a chroot
        // would follow it, so the record lands inside the root.
        std::os::unix::fs::symlink(dir.path(), root.join("var/lib")).unwrap();
        write_json(&root, &root.join("var/lib/x.json"), &serde_json::json!({})).unwrap();
        assert!(!dir.path().join("x.json").exists());
        assert!(root
            .join(dir.path().strip_prefix("/").unwrap())
            .join("x.json")
            .is_file());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched\n");
    }

    #[test]
    fn a_record_that_does_not_parse_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "{\"half\": ").unwrap();
        assert!(read_record(&path).is_none());
        assert!(read_record(&dir.path().join("missing.json")).is_none());
    }
}
