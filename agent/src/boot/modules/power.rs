//! `power_state`: `mode` (poweroff, reboot, halt), `delay` (now, minutes, "+N"),
//! `message`, `condition` (true, false, a shell command or argv; exit 0 means go). The
//! command (`shutdown -P|-r|-H <when> [message]`) is run when the boot ends, and only on
//! a real boot ([`PowerAction::Execute`](super::super::context::PowerAction)); otherwise
//! it is recorded as what would run. A bad setting is a warning, as in cloud-init.

use std::process::Command;

use crate::cloudconfig::Value;

use super::super::context::Boot;
use super::{scalar_text, ModuleError, Outcome};

/// `power_state`: decide the command; the CLI runs it after the records are written.
pub fn power_state(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(node) = boot.cfg("power_state").cloned() else {
        return Ok(Outcome::Skipped("no `power_state` in cloud-config".into()));
    };
    let flag = match node.get("mode").and_then(scalar_text).as_deref() {
        Some("poweroff") => "-P",
        Some("reboot") => "-r",
        Some("halt") => "-H",
        other => {
            boot.warn(&format!(
                "power_state.mode: `{}` is not poweroff, reboot or halt; no power change",
                other.unwrap_or("")
            ));
            return Ok(Outcome::Skipped("invalid power_state.mode".into()));
        }
    };
    let when = match node.get("delay").map(|n| &n.value) {
        None | Some(Value::Null) => "now".to_string(),
        Some(Value::Int(m)) => format!("+{m}"),
        Some(_) => {
            let s = node.get("delay").and_then(scalar_text).unwrap_or_default();
            if s == "now" {
                s
            } else if let Ok(m) = s.trim_start_matches('+').parse::<u32>() {
                format!("+{m}")
            } else {
                boot.warn(&format!(
                    "power_state.delay: `{s}` is not now or a number of minutes; no power change"
                ));
                return Ok(Outcome::Skipped("invalid power_state.delay".into()));
            }
        }
    };
    let go = match node.get("condition").map(|n| &n.value) {
        None | Some(Value::Null) | Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) => false,
        Some(Value::Str(cmd)) => Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(boot.ctx.root())
            .status()
            .map(|s| s.code() == Some(0))
            .unwrap_or(false),
        Some(Value::Seq(words)) => {
            let argv: Vec<String> = words.iter().filter_map(scalar_text).collect();
            match argv.split_first() {
                Some((p, rest)) => Command::new(p)
                    .args(rest)
                    .current_dir(boot.ctx.root())
                    .status()
                    .map(|s| s.code() == Some(0))
                    .unwrap_or(false),
                None => false,
            }
        }
        Some(_) => {
            boot.warn("power_state.condition: not a boolean, command or list; no power change");
            false
        }
    };
    if !go {
        return Ok(Outcome::Skipped("power_state.condition is false".into()));
    }
    let mut argv = vec!["shutdown".to_string(), flag.to_string(), when];
    if let Some(msg) = node.get("message").and_then(scalar_text) {
        argv.push(msg);
    }
    boot.out
        .message(&format!("power_state: `{}` after the boot", argv.join(" ")));
    boot.power_command = Some(argv);
    Ok(Outcome::ran())
}
