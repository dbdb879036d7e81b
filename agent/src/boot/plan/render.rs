//! A plan as text, in the boot's order: one block per module, `+` create, `~` change,
//! `-` remove, file diffs indented under their file, then one summary line.

use std::fmt::Write as _;

use super::{Action, Op, Plan};

/// The plan as `strap plan` prints it.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for w in &plan.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "instance {}: the user data {} since it was last applied",
        plan.instance_id,
        if plan.user_data_changed {
            "changed"
        } else {
            "did not change"
        }
    );
    if !plan.has_changes() {
        let _ = writeln!(
            out,
            "\nNo changes: the machine is as the user data declares."
        );
        return out;
    }
    for m in &plan.modules {
        let how = match m.action {
            Action::Apply => "applied live".to_string(),
            Action::Rerun => "rerun".to_string(),
            Action::NotRerun => "not rerun".to_string(),
            Action::NotLive => "not applied".to_string(),
        };
        let _ = writeln!(out, "\n{} ({how})", m.module);
        if let Some(reason) = &m.reason {
            let _ = writeln!(out, "  # {reason}");
        }
        if let Some(failed) = &m.last_failed {
            let _ = writeln!(out, "  # the last apply failed: {failed}; tried again");
        }
        for c in &m.changes {
            let sign = match c.op {
                Op::Create => "+",
                Op::Change => "~",
                Op::Remove => "-",
            };
            let mut line = format!("  {sign} {}", c.resource);
            if !c.details.is_empty() {
                line.push_str(": ");
                line.push_str(&c.details.join("; "));
            }
            let _ = writeln!(out, "{line}");
            if let Some(conflict) = &c.conflict {
                let _ = writeln!(out, "      ! conflict: {conflict}");
            }
            if let Some(diff) = &c.diff {
                for l in diff.lines() {
                    let _ = writeln!(out, "      {l}");
                }
            }
        }
    }
    let s = &plan.summary;
    let _ = write!(
        out,
        "\nPlan: {} to create, {} to change, {} to remove",
        s.create, s.change, s.remove
    );
    let mut extra = Vec::new();
    if s.not_removed > 0 {
        extra.push(format!("{} not removed (see --prune)", s.not_removed));
    }
    if s.not_rerun > 0 {
        extra.push(format!("{} one-shot not rerun", s.not_rerun));
    }
    if s.not_live > 0 {
        extra.push(format!("{} not applied to a running machine", s.not_live));
    }
    if s.conflicts > 0 {
        extra.push(format!("{} conflicts (apply needs --force)", s.conflicts));
    }
    if !extra.is_empty() {
        let _ = write!(out, "; {}", extra.join(", "));
    }
    out.push_str(".\n");
    out
}
