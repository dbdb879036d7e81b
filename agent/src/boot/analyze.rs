//! `strap analyze`: time per stage and per module or script of the last boot, slowest
//! first, like `cloud-init analyze blame`, read from `report.json`.

use super::records::Report;

/// The blame table: items slowest first, then the stages and the total.
pub fn blame(report: &Report) -> String {
    let mut items: Vec<_> = report
        .items
        .iter()
        .filter(|i| i.kind != "part" || i.duration > 0.0)
        .collect();
    items.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.name.cmp(&b.name)));
    let mut s = String::from("-- Boot Record 01 --\n");
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
