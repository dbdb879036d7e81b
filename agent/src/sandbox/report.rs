//! The report of a `strap try`: per launch, the boot's outcome, each part and module as
//! the boot recorded it, and what changed on the machine. It is serialised as JSON between
//! the sandbox and the host (and for `--json`), and rendered as a table for people.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::limits::{MemoryLimit, PidsLimit};
use super::model::{is_boot_record, AccountChanges, ChangeKind, FileChange, PackageChange};
use super::preflight::Mode;

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TryReport {
    /// Whether the sandbox ran as root or through a user namespace.
    pub mode: Mode,
    /// The first boot, then each relaunch.
    pub launches: Vec<LaunchReport>,
    /// Where the upper layers were kept (`--keep`).
    pub kept: Option<PathBuf>,
}

impl TryReport {
    /// Whether every launch's boot ended well (exit 0, or "degraded done": warnings but no
    /// errors), no part or module failed, and no limit was hit.
    pub fn succeeded(&self) -> bool {
        self.launches.iter().all(|l| {
            let part_failed = l
                .parts
                .iter()
                .any(|p| p.status.as_deref() == Some("failed"));
            let degraded = l.outcome.exit_code == Some(crate::boot::status::EXIT_DEGRADED.into())
                && !l.outcome.timed_out
                && l.boot_status.as_ref().is_some_and(|s| s.errors.is_empty());
            (l.outcome.succeeded() || degraded)
                && !part_failed
                && l.limits.pids_refused == 0
                && l.limits.memory_killed == 0
                && !l.limits.upper_full
        })
    }
}

/// How the boot process ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootOutcome {
    /// Its exit status, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Killed at `--timeout`.
    pub timed_out: bool,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
    /// The last lines of its output (stdout and stderr).
    pub output_tail: String,
    /// It ran in a user namespace of its own (always, rootless; as root, where the
    /// kernel allows one).
    #[serde(default)]
    pub user_namespace: bool,
}

impl BootOutcome {
    /// Exited 0 and was not killed.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    fn describe(&self) -> String {
        let secs = self.duration_ms as f64 / 1000.0;
        if self.timed_out {
            format!("killed at the timeout after {secs:.2}s")
        } else if let Some(code) = self.exit_code {
            format!("exit {code} in {secs:.2}s")
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig} after {secs:.2}s")
        } else {
            format!("ended after {secs:.2}s")
        }
    }
}

/// One part or module, as the boot recorded it in its report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartRecord {
    pub name: String,
    /// `module`, `part` or `script`.
    pub kind: Option<String>,
    pub stage: Option<String>,
    pub frequency: Option<String>,
    /// `ran`, `skipped` or `failed`.
    pub status: Option<String>,
    /// Why it was skipped.
    pub reason: Option<String>,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<f64>,
    pub output_tail: Option<String>,
}

/// What the limits did during one launch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitReport {
    /// How the number of processes was bounded (none: real root without a pids cgroup).
    pub pids: Option<PidsLimit>,
    /// Forks refused because the pids limit was reached.
    pub pids_refused: u64,
    /// Bytes used in the upper layers' tmpfs, and its size.
    pub upper_used: u64,
    pub upper_size: u64,
    /// The upper layers' tmpfs is full: writes failed with "no space left".
    pub upper_full: bool,
    /// How the memory was bounded.
    #[serde(default)]
    pub memory: Option<MemoryLimit>,
    /// The most memory the launch used at once, bytes (from its memory cgroup).
    #[serde(default)]
    pub memory_peak: Option<u64>,
    /// Processes the kernel killed at the memory limit.
    #[serde(default)]
    pub memory_killed: u64,
}

/// One launch: the first boot (index 0) or a relaunch from the baked image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaunchReport {
    pub index: u32,
    /// The instance-id the metadata service gave this launch.
    pub instance_id: Option<String>,
    pub outcome: BootOutcome,
    /// Every part and module from the boot's `report.json`.
    pub parts: Vec<PartRecord>,
    /// For `--then`: what `strap apply --json` printed (`plan` and `outcome`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<serde_json::Value>,
    /// The boot's status (absent when it never wrote one).
    pub boot_status: Option<BootStatus>,
    /// Files added, changed and deleted, relative to the image the launch started from.
    pub files: Vec<FileChange>,
    pub accounts: AccountChanges,
    pub packages: Vec<PackageChange>,
    pub limits: LimitReport,
}

/// The boot's status as `strap status` reads it from `/run/strap`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootStatus {
    /// `running`, `done` or `error`.
    pub status: String,
    pub extended_status: String,
    pub errors: Vec<String>,
    pub recoverable_errors: std::collections::BTreeMap<String, Vec<String>>,
}

impl From<crate::boot::status::Status> for BootStatus {
    fn from(s: crate::boot::status::Status) -> Self {
        Self {
            status: s.status,
            extended_status: s.extended_status,
            errors: s.errors,
            recoverable_errors: s.recoverable_errors,
        }
    }
}

/// The parts, scripts and modules of a boot's `report.json`.
pub fn parse_boot_report(report: &crate::boot::Report) -> Vec<PartRecord> {
    report
        .items
        .iter()
        .map(|item| PartRecord {
            name: item.name.clone(),
            kind: Some(item.kind.clone()),
            stage: Some(item.stage.clone()),
            frequency: Some(item.frequency.clone()),
            status: Some(
                match item.status {
                    crate::boot::ItemStatus::Ran => "ran",
                    crate::boot::ItemStatus::Skipped => "skipped",
                    crate::boot::ItemStatus::Failed => "failed",
                }
                .to_string(),
            ),
            reason: item.reason.clone(),
            exit_code: item.exit_code.map(i64::from),
            duration_ms: Some(item.duration * 1000.0),
            output_tail: (!item.output_tail.is_empty()).then(|| item.output_tail.join("\n")),
        })
        .collect()
}

/// `1.5 GiB`, `12.0 KiB`, `10 B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn change_word(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Added => "added",
        ChangeKind::Changed => "changed",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Replaced => "replaced",
    }
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

/// The report as tables for people.
pub fn render_table(report: &TryReport) -> String {
    let mut out = String::new();
    for launch in &report.launches {
        let title = if launch.index == 0 {
            "first boot".to_string()
        } else if launch.apply.is_some() {
            "then".to_string()
        } else {
            format!("relaunch {}", launch.index)
        };
        let what = if launch.apply.is_some() {
            "apply"
        } else {
            "boot"
        };
        let _ = writeln!(
            out,
            "{title}: instance {}, {what} {}",
            opt(&launch.instance_id),
            launch.outcome.describe()
        );
        if let Some(apply) = &launch.apply {
            match serde_json::from_value::<crate::boot::plan::Plan>(apply["plan"].clone()) {
                Ok(plan) => {
                    let _ = writeln!(out, "the plan:");
                    for line in crate::boot::plan::render::text(&plan).lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                }
                Err(_) => {
                    let _ = writeln!(out, "the plan: not readable (see the output below)");
                }
            }
            let _ = writeln!(out, "what the apply changed:");
        }
        if let Some(status) = &launch.boot_status {
            let _ = writeln!(out, "boot status: {}", status.extended_status);
            for error in &status.errors {
                let _ = writeln!(out, "  error: {error}");
            }
        }
        let started = launch.outcome.exit_code.is_some() || launch.outcome.signal.is_some();
        if report.mode == Mode::Root && started && !launch.outcome.user_namespace {
            let _ = writeln!(
                out,
                "note: the kernel refused the boot a user namespace: it ran without SYS_ADMIN \
                 (the hostname cannot be set)"
            );
        }
        let limits = &launch.limits;
        if launch.outcome.timed_out {
            let _ = writeln!(out, "limit: the boot was killed at the timeout");
        }
        if limits.pids_refused > 0 {
            let _ = writeln!(
                out,
                "limit: {} forks refused at the pids limit",
                limits.pids_refused
            );
        }
        if limits.memory_killed > 0 {
            let max = match &limits.memory {
                Some(MemoryLimit::Cgroup { max, .. } | MemoryLimit::Rlimit { max }) => {
                    human_size(*max)
                }
                None => "-".into(),
            };
            let _ = writeln!(
                out,
                "limit: {} process(es) killed at the memory limit ({max})",
                limits.memory_killed
            );
        }
        match (&limits.memory, limits.memory_peak) {
            (Some(MemoryLimit::Cgroup { max, .. }), Some(peak)) => {
                let _ = writeln!(
                    out,
                    "memory: peak {} of {}",
                    human_size(peak),
                    human_size(*max)
                );
            }
            (Some(MemoryLimit::Rlimit { max }), _) => {
                let _ = writeln!(
                    out,
                    "memory: no memory cgroup here; each process limited to {} of heap (RLIMIT_DATA)",
                    human_size(*max)
                );
            }
            _ => {}
        }
        if limits.upper_full {
            let _ = writeln!(
                out,
                "limit: the upper layer is full ({} of {})",
                human_size(limits.upper_used),
                human_size(limits.upper_size)
            );
        }
        if !launch.parts.is_empty() {
            let rows: Vec<[String; 7]> = launch
                .parts
                .iter()
                .map(|part| {
                    [
                        part.name.clone(),
                        opt(&part.stage).to_string(),
                        opt(&part.frequency).to_string(),
                        opt(&part.status).to_string(),
                        part.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
                        part.duration_ms
                            .map_or_else(|| "-".into(), |ms| format!("{:.3}s", ms / 1000.0)),
                        part.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let header = [
                "PART/MODULE",
                "STAGE",
                "FREQUENCY",
                "STATUS",
                "EXIT",
                "TIME",
                "NOTE",
            ]
            .map(str::to_string);
            let mut widths = [0usize; 7];
            for row in std::iter::once(&header).chain(&rows) {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            out.push('\n');
            for row in std::iter::once(&header).chain(&rows) {
                let line = format!(
                    "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:>w4$}  {:>w5$}  {}",
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4],
                    row[5],
                    row[6],
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2],
                    w3 = widths[3],
                    w4 = widths[4],
                    w5 = widths[5],
                );
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
        let _ = writeln!(
            out,
            "\n{:<9} {:<8} {:<5} {:>10}  PATH",
            "CHANGE", "TYPE", "MODE", "SIZE"
        );
        if launch.files.is_empty() {
            let _ = writeln!(out, "(no files changed)");
        }
        let (records, files): (Vec<&FileChange>, Vec<&FileChange>) =
            launch.files.iter().partition(|f| is_boot_record(&f.path));
        for file in files {
            let kind = format!("{:?}", file.kind).to_lowercase();
            let size = file.size.map(human_size).unwrap_or_else(|| "-".into());
            let mut path = file.path.clone();
            if let Some(target) = &file.link_target {
                path.push_str(" -> ");
                path.push_str(target);
            }
            let _ = writeln!(
                out,
                "{:<9} {:<8} {:<5} {:>10}  {path}",
                change_word(file.change),
                kind,
                opt(&file.mode),
                size
            );
            if let Some(diff) = &file.diff {
                for line in diff.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        if !records.is_empty() {
            let _ = writeln!(
                out,
                "(and {} paths of the boot's own state and logs under {} and /var/log; see --json)",
                records.len(),
                super::BOOT_STATE_DIR
            );
        }
        let acc = &launch.accounts;
        for (label, names) in [
            ("users added", &acc.users_added),
            ("users removed", &acc.users_removed),
            ("groups added", &acc.groups_added),
            ("groups removed", &acc.groups_removed),
        ] {
            if !names.is_empty() {
                let _ = writeln!(out, "{label}: {}", names.join(", "));
            }
        }
        for pkg in &launch.packages {
            let _ = writeln!(
                out,
                "package {}: {} {}",
                pkg.change,
                pkg.name,
                pkg.version
                    .as_deref()
                    .or(pkg.old_version.as_deref())
                    .unwrap_or("")
            );
        }
        if !launch.outcome.output_tail.is_empty() {
            let _ = writeln!(out, "\noutput (last lines):");
            for line in launch.outcome.output_tail.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        out.push('\n');
    }
    if let Some(kept) = &report.kept {
        let _ = writeln!(out, "upper layer kept in {}", kept.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_report_items_become_parts() {
        let report: crate::boot::Report = serde_json::from_value(serde_json::json!({
            "version": 1, "instance_id": "i-1", "boot_id": "b", "datasource": "DataSourceEc2",
            "started": 1.0, "finished": 2.0, "imds_requests": 3,
            "imds_requests_before_first_script": 2, "stages": [],
            "items": [
                {"name": "part-001", "kind": "script", "stage": "modules-final",
                 "frequency": "once-per-instance", "status": "ran", "exit_code": 0,
                 "start": 1.5, "duration": 0.25, "output_tail": ["hi", "there"]},
                {"name": "scripts_per_once", "kind": "module", "stage": "modules-final",
                 "frequency": "once", "status": "skipped", "reason": "already ran once",
                 "start": 1.8, "duration": 0.0}
            ]
        }))
        .unwrap();
        let parts = parse_boot_report(&report);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].exit_code, Some(0));
        assert_eq!(parts[0].duration_ms, Some(250.0));
        assert_eq!(parts[0].output_tail.as_deref(), Some("hi\nthere"));
        assert_eq!(parts[1].status.as_deref(), Some("skipped"));
        assert_eq!(parts[1].reason.as_deref(), Some("already ran once"));
    }

    #[test]
    fn the_table_names_each_change_and_limit() {
        let report = TryReport {
            mode: Mode::Root,
            kept: None,
            launches: vec![LaunchReport {
                apply: None,
                index: 0,
                instance_id: Some("i-0abc".into()),
                outcome: BootOutcome {
                    exit_code: None,
                    signal: Some(9),
                    timed_out: true,
                    duration_ms: 2000,
                    output_tail: "working\n".into(),
                    user_namespace: true,
                },
                parts: vec![],
                boot_status: None,
                files: vec![FileChange {
                    path: "/etc/motd".into(),
                    change: ChangeKind::Changed,
                    kind: super::super::model::FileKind::File,
                    size: Some(2048),
                    mode: Some("0644".into()),
                    owner: Some("0:0".into()),
                    old_size: Some(10),
                    old_mode: Some("0644".into()),
                    link_target: None,
                    diff: None,
                }],
                accounts: AccountChanges {
                    users_added: vec!["alice".into()],
                    ..Default::default()
                },
                packages: vec![],
                limits: LimitReport {
                    memory: Some(MemoryLimit::Cgroup {
                        path: "/sys/fs/cgroup/strap-try-1-0".into(),
                        max: 1 << 30,
                    }),
                    memory_peak: Some(300 << 20),
                    memory_killed: 1,
                    ..LimitReport::default()
                },
            }],
        };
        let table = render_table(&report);
        assert!(
            table.contains("limit: 1 process(es) killed at the memory limit (1.0 GiB)"),
            "{table}"
        );
        assert!(
            table.contains("memory: peak 300.0 MiB of 1.0 GiB"),
            "{table}"
        );
        assert!(
            table.contains("first boot: instance i-0abc, boot killed at the timeout"),
            "{table}"
        );
        assert!(
            table.contains("changed   file     0644     2.0 KiB  /etc/motd"),
            "{table}"
        );
        assert!(table.contains("users added: alice"), "{table}");
        assert!(!report.succeeded());
    }

    #[test]
    fn the_boots_own_records_are_recognised() {
        assert!(is_boot_record("/var/lib/strap"));
        assert!(is_boot_record("/var/lib/strap/data/report.json"));
        assert!(is_boot_record("/var/log/strap.log"));
        assert!(!is_boot_record("/var/lib/strapped"));
        assert!(!is_boot_record("/etc/passwd"));
    }

    #[test]
    fn a_failed_part_or_a_limit_fails_the_try() {
        let launch = |status: &str, exit: i32, full: bool| LaunchReport {
            apply: None,
            index: 0,
            instance_id: None,
            outcome: BootOutcome {
                exit_code: Some(exit),
                ..BootOutcome::default()
            },
            parts: vec![PartRecord {
                name: "p".into(),
                status: Some(status.into()),
                ..PartRecord::default()
            }],
            boot_status: Some(BootStatus {
                status: "done".into(),
                ..BootStatus::default()
            }),
            files: vec![],
            accounts: AccountChanges::default(),
            packages: vec![],
            limits: LimitReport {
                upper_full: full,
                ..LimitReport::default()
            },
        };
        let report = |l| TryReport {
            mode: Mode::Root,
            launches: vec![l],
            kept: None,
        };
        assert!(report(launch("ran", 0, false)).succeeded());
        assert!(
            report(launch("ran", 2, false)).succeeded(),
            "degraded done is done"
        );
        assert!(!report(launch("failed", 2, false)).succeeded());
        assert!(!report(launch("ran", 1, false)).succeeded());
        assert!(!report(launch("ran", 0, true)).succeeded());
    }
}
