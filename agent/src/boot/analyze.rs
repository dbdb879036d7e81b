//! `strap analyze`: time per module or script of every boot, slowest first, like
//! `cloud-init analyze blame`: the earlier boots from the event log (`strap.log`, whose
//! `start:`/`finish:` lines have millisecond times, as cloud-init's analyze reads its
//! own log), the last one from `report.json` (microseconds, every script), then the last
//! boot's stages and total.

use super::records::Report;

/// One boot's items from the event log: `(stage/name, seconds, status suffix)`.
pub type LogBoot = Vec<(String, f64, &'static str)>;

/// The boots in an event log, oldest first; a boot starts at its `running 'init-local'`
/// line. Lines that do not parse are skipped.
pub fn boots_from_log(text: &str) -> Vec<LogBoot> {
    let mut boots: Vec<LogBoot> = Vec::new();
    let mut started: Vec<(String, f64)> = Vec::new();
    for line in text.lines() {
        let Some((stamp, rest)) = line.split_once(" - strap[") else {
            continue;
        };
        let Some((_, msg)) = rest.split_once("]: ") else {
            continue;
        };
        let Some(t) = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S,%3f")
            .ok()
            .map(|t| t.and_utc().timestamp_micros() as f64 / 1e6)
        else {
            continue;
        };
        if msg.starts_with("strap v. ") && msg.ends_with("running 'init-local'") {
            boots.push(Vec::new());
            started.clear();
        } else if let Some(what) = msg.strip_prefix("start: ") {
            if let Some((name, _)) = what.split_once(": ") {
                started.push((name.to_string(), t));
            }
        } else if let Some(what) = msg.strip_prefix("finish: ") {
            let Some((name, result)) = what.split_once(": ") else {
                continue;
            };
            let Some(pos) = started.iter().rposition(|(n, _)| n == name) else {
                continue;
            };
            let (_, t0) = started.remove(pos);
            let status = if result.starts_with("FAIL") {
                " FAILED"
            } else if result.contains(" skipped") {
                " skipped"
            } else {
                ""
            };
            if let Some(boot) = boots.last_mut() {
                boot.push((name.to_string(), (t - t0).max(0.0), status));
            }
        }
    }
    boots
}

/// The blame of every boot: the event log's earlier boots (`log`, as read by
/// [`boots_from_log`]; its last boot is the report's and is left out), then the last
/// boot from its report.
pub fn blame_all(log: &[LogBoot], report: &Report) -> String {
    let earlier = log.len().saturating_sub(1);
    let mut s = String::new();
    for (i, boot) in log.iter().take(earlier).enumerate() {
        let mut items: Vec<&(String, f64, &str)> = boot.iter().collect();
        items.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        s.push_str(&format!("-- Boot Record {:02} --\n", i + 1));
        for (name, secs, status) in items {
            s.push_str(&format!(
                "{:>15} ({name}){status}\n",
                format!("{secs:08.5}s")
            ));
        }
        s.push('\n');
    }
    s.push_str(&blame_numbered(report, earlier + 1));
    s
}

/// The blame table of the last boot: items slowest first, then the stages and the total.
pub fn blame(report: &Report) -> String {
    blame_numbered(report, 1)
}

fn blame_numbered(report: &Report, number: usize) -> String {
    let mut items: Vec<_> = report
        .items
        .iter()
        .filter(|i| i.kind != "part" || i.duration > 0.0)
        .collect();
    items.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.name.cmp(&b.name)));
    let mut s = format!("-- Boot Record {number:02} --\n");
    for i in items {
        let status = match i.status {
            super::records::ItemStatus::Ran => "",
            super::records::ItemStatus::Skipped => " skipped",
            super::records::ItemStatus::Failed => " FAILED",
        };
        s.push_str(&format!(
            "{:>15} ({}/{}){status}\n",
            format!("{:08.5}s", i.duration),
            i.stage,
            i.name
        ));
    }
    s.push_str("\n-- Stages --\n");
    let mut total = 0.0;
    for st in &report.stages {
        let d = match (st.start, st.finished) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        total += d;
        s.push_str(&format!("{:>15} {}\n", format!("{d:08.5}s"), st.name));
    }
    s.push_str(&format!("\nTotal Time: {total:.5} seconds\n"));
    if let Some(n) = report.imds_requests_before_first_script {
        s.push_str(&format!("Metadata requests before the first script: {n}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
2026-11-27 10:00:00,000 - strap[INFO]: strap v. 0.1.0 running 'init-local'
2026-11-27 10:00:00,010 - strap[DEBUG]: start: init-network/config-bootcmd: running config-bootcmd with frequency per-boot
2026-11-27 10:00:00,250 - strap[DEBUG]: finish: init-network/config-bootcmd: SUCCESS: config-bootcmd ran successfully
2026-11-27 10:00:00,250 - strap[DEBUG]: start: init-network/config-write_files: running config-write_files with frequency once-per-instance
2026-11-27 10:00:00,251 - strap[DEBUG]: finish: init-network/config-write_files: SUCCESS: config-write_files skipped: no `write_files` in cloud-config
2026-11-27 10:00:00,300 - strap[DEBUG]: start: modules-final/config-scripts_user: running config-scripts_user with frequency once-per-instance
2026-11-27 10:00:01,300 - strap[WARNING]: finish: modules-final/config-scripts_user: FAIL: running config-scripts_user failed: 1 of 1 scripts failed
not a log line
2026-11-27 10:05:00,000 - strap[INFO]: strap v. 0.1.0 running 'init-local'
2026-11-27 10:05:00,010 - strap[DEBUG]: start: init-network/config-bootcmd: running config-bootcmd with frequency per-boot
2026-11-27 10:05:00,020 - strap[DEBUG]: finish: init-network/config-bootcmd: SUCCESS: config-bootcmd ran successfully
";

    #[test]
    fn boots_are_read_from_the_event_log() {
        let boots = boots_from_log(LOG);
        assert_eq!(boots.len(), 2);
        let first = &boots[0];
        assert_eq!(first.len(), 3);
        assert_eq!(first[0].0, "init-network/config-bootcmd");
        assert!((first[0].1 - 0.24).abs() < 1e-6, "{}", first[0].1);
        assert_eq!(first[1].2, " skipped");
        assert_eq!(first[2].2, " FAILED");
        assert!((first[2].1 - 1.0).abs() < 1e-6);
        assert_eq!(boots[1].len(), 1);
    }

    #[test]
    fn earlier_boots_come_from_the_log_and_the_last_from_the_report() {
        let boots = boots_from_log(LOG);
        let report = Report::default();
        let text = blame_all(&boots, &report);
        let first = text.find("-- Boot Record 01 --").unwrap();
        let second = text.find("-- Boot Record 02 --").unwrap();
        assert!(first < second);
        // Slowest first in the earlier boot.
        let scripts = text
            .find("(modules-final/config-scripts_user) FAILED")
            .unwrap();
        let bootcmd = text.find("(init-network/config-bootcmd)").unwrap();
        assert!(scripts < bootcmd && bootcmd < second, "{text}");
        assert!(
            text.contains("00.24000s (init-network/config-bootcmd)"),
            "{text}"
        );
        assert!(!text.contains("-- Boot Record 03 --"));
    }
}
