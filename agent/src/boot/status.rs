//! `strap status`: the state of the current or last boot from `/run/strap/status.json`
//! and `result.json`, in cloud-init's words (`not started`, `running`, `done`, `error`)
//! and with its exit codes (0 done, 1 error, 2 degraded).

use std::collections::BTreeMap;
use std::path::Path;

use super::records::{BootProcess, STATUS_STAGES};

/// Exit status: healthy.
pub const EXIT_OK: u8 = 0;
/// Exit status: a stage had an error.
pub const EXIT_ERROR: u8 = 1;
/// Exit status: no error, but warnings (recoverable errors).
pub const EXIT_DEGRADED: u8 = 2;

/// What `strap status` reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Status {
    /// `not started`, `running`, `done`, `error`.
    pub status: String,
    /// `running`, `done`, `error - done`, `degraded done`, …
    pub extended_status: String,
    pub datasource: String,
    /// The running stage, if any.
    pub stage: Option<String>,
    /// Latest start or finish, RFC 2822.
    pub last_update: String,
    pub errors: Vec<String>,
    pub recoverable_errors: BTreeMap<String, Vec<String>>,
    /// Whether the boot is still going (or was killed before it ended).
    #[serde(skip)]
    pub running: bool,
    /// The user data changed since it was applied to this instance (what the boot found
    /// and did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data_changed: Option<String>,
    /// The last `strap apply` since this boot (`/run/strap/apply.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_apply: Option<serde_json::Value>,
}

impl Status {
    /// The exit code for this status.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            EXIT_ERROR
        } else if !self.recoverable_errors.is_empty() {
            EXIT_DEGRADED
        } else {
            EXIT_OK
        }
    }

    /// The `--long` table.
    pub fn long(&self) -> String {
        let mut s = format!(
            "status: {}\nextended_status: {}\nboot_status_code: enabled\nlast_update: {}\ndetail: {}\n",
            self.status, self.extended_status, self.last_update, self.datasource
        );
        if self.errors.is_empty() {
            s.push_str("errors: []\n");
        } else {
            s.push_str("errors:\n");
            for e in &self.errors {
                s.push_str(&format!("\t- {e}\n"));
            }
        }
        if self.recoverable_errors.is_empty() {
            s.push_str("recoverable_errors: {}\n");
        } else {
            s.push_str("recoverable_errors:\n");
            for (level, msgs) in &self.recoverable_errors {
                s.push_str(&format!("{level}:\n"));
                for m in msgs {
                    s.push_str(&format!("\t- {m}\n"));
                }
            }
        }
        if let Some(changed) = &self.user_data_changed {
            s.push_str(&format!("user_data_changed: {changed}\n"));
        }
        if let Some(apply) = &self.last_apply {
            let list = |key: &str| -> String {
                apply[key]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| match i {
                                serde_json::Value::String(t) => t.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            let when = apply["finished"]
                .as_f64()
                .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
                .map(|t| t.to_rfc2822())
                .unwrap_or_default();
            s.push_str(&format!(
                "apply: {when}\n\tapplied: [{}]\n\tfailed: [{}]\n\tskipped: [{}]\n",
                list("applied"),
                list("failed"),
                list("skipped")
            ));
        }
        s
    }
}

/// Read the status from the run folder (on disk).
pub fn read(run_dir: &Path) -> Status {
    let status_json = super::records::read_record(&run_dir.join("status.json"));
    let result_exists = run_dir.join("result.json").is_file();
    let Some(doc) = status_json else {
        return Status {
            status: "not started".into(),
            extended_status: "not started".into(),
            datasource: String::new(),
            stage: None,
            last_update: String::new(),
            errors: Vec::new(),
            recoverable_errors: BTreeMap::new(),
            running: false,
            user_data_changed: None,
            last_apply: super::records::read_record(&run_dir.join("apply.json")),
        };
    };
    let v1 = &doc["v1"];
    let mut errors = Vec::new();
    let mut recoverable: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut latest: f64 = 0.0;
    for stage in STATUS_STAGES {
        let s = &v1[*stage];
        if let Some(list) = s["errors"].as_array() {
            errors.extend(list.iter().filter_map(|e| e.as_str().map(str::to_string)));
        }
        if let Some(map) = s["recoverable_errors"].as_object() {
            for (level, msgs) in map {
                let entry = recoverable.entry(level.clone()).or_default();
                if let Some(list) = msgs.as_array() {
                    entry.extend(list.iter().filter_map(|e| e.as_str().map(str::to_string)));
                }
            }
        }
        for key in ["start", "finished"] {
            if let Some(t) = s[key].as_f64() {
                latest = latest.max(t);
            }
        }
    }
    recoverable.retain(|_, v| !v.is_empty());
    let mut running = !result_exists;
    // No result.json yet, and the process that wrote status.json is gone: the boot was
    // killed (or crashed) and is not running any more.
    let owner: Option<BootProcess> = serde_json::from_value(doc["strap"].clone()).ok();
    if running && owner.is_some_and(|p| !p.alive()) {
        running = false;
        let stage = v1["stage"].as_str().unwrap_or("its start");
        let pid = owner.map_or(0, |p| p.pid);
        // A boot that could not write its records stops; the disk says why.
        errors.push(if super::records::no_space_left(run_dir) {
            format!(
                "the boot (pid {pid}) stopped during {stage} before it finished: the disk holding {} is full; free some space and run `strap run` again",
                run_dir.display()
            )
        } else {
            format!(
                "the boot (pid {pid}) stopped during {stage} before it finished (killed, or the machine went down); `strap run` resumes it"
            )
        });
    }
    let base = if running {
        "running"
    } else if result_exists {
        "done"
    } else {
        "stopped"
    };
    let (status, extended) = if !errors.is_empty() {
        ("error".to_string(), format!("error - {base}"))
    } else if !recoverable.is_empty() {
        (base.to_string(), format!("degraded {base}"))
    } else {
        (base.to_string(), base.to_string())
    };
    let last_update = chrono::DateTime::from_timestamp(latest as i64, 0)
        .map(|t| t.to_rfc2822())
        .unwrap_or_default();
    Status {
        status,
        extended_status: extended,
        datasource: v1["datasource"].as_str().unwrap_or_default().to_string(),
        stage: v1["stage"].as_str().map(str::to_string),
        last_update,
        errors,
        recoverable_errors: recoverable,
        running,
        user_data_changed: doc["strap"]["user_data_changed"]
            .as_str()
            .map(str::to_string),
        last_apply: super::records::read_record(&run_dir.join("apply.json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::records::{Report, StageRecord};

    #[test]
    fn reads_states_and_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).status, "not started");
        let mut report = Report {
            datasource: "DataSourceEc2".into(),
            stages: vec![StageRecord {
                name: "init-network".into(),
                start: Some(1.0),
                ..Default::default()
            }],
            ..Default::default()
        };
        std::fs::write(
            dir.path().join("status.json"),
            report.status_json(Some("init-network")).to_string(),
        )
        .unwrap();
        let s = read(dir.path());
        assert_eq!((s.status.as_str(), s.exit_code()), ("running", EXIT_OK));
        report.stages[0]
            .recoverable_errors
            .insert("WARNING".into(), vec!["w".into()]);
        std::fs::write(
            dir.path().join("status.json"),
            report.status_json(None).to_string(),
        )
        .unwrap();
        std::fs::write(dir.path().join("result.json"), "{}").unwrap();
        let s = read(dir.path());
        assert_eq!(
            (s.extended_status.as_str(), s.exit_code()),
            ("degraded done", EXIT_DEGRADED)
        );
        report.stages[0].errors.push("bootcmd: failed".into());
        std::fs::write(
            dir.path().join("status.json"),
            report.status_json(None).to_string(),
        )
        .unwrap();
        let s = read(dir.path());
        assert_eq!(
            (s.extended_status.as_str(), s.exit_code()),
            ("error - done", EXIT_ERROR)
        );
        assert!(s.long().contains("errors:\n\t- bootcmd: failed\n"));
    }

    #[test]
    fn a_boot_whose_process_is_gone_is_an_error_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let mut report = Report {
            datasource: "DataSourceEc2".into(),
            stages: vec![StageRecord {
                name: "modules-final".into(),
                start: Some(1.0),
                ..Default::default()
            }],
            process: BootProcess::current(),
            ..Default::default()
        };
        let write = |r: &Report| {
            std::fs::write(
                dir.path().join("status.json"),
                r.status_json(Some("modules-final")).to_string(),
            )
            .unwrap()
        };
        // This process is alive: running.
        write(&report);
        let s = read(dir.path());
        assert!(s.running);
        assert_eq!(s.status, "running");
        // A process that has exited: stopped, an error, and the stage named.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        report.process = Some(BootProcess {
            pid,
            start_ticks: 1,
        });
        write(&report);
        let s = read(dir.path());
        assert!(!s.running);
        assert_eq!(
            (s.status.as_str(), s.extended_status.as_str(), s.exit_code()),
            ("error", "error - stopped", EXIT_ERROR)
        );
        assert!(
            s.errors[0].contains("stopped during modules-final"),
            "{:?}",
            s.errors
        );
    }
}
