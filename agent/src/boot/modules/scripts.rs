//! Running folders of scripts the way cloud-init's `runparts` does: names in byte order,
//! regular executable files only (others get a warning), each executed directly, a
//! failure recorded while the rest still run, the module failing at the end. Unlike
//! cloud-init each script has its own marker, written after it succeeded, so a boot
//! killed half-way through resumes with the first script that had not finished.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::super::context::{epoch, Boot};
use super::super::frequency::Frequency;
use super::super::records::{ItemStatus, ReportItem};
use super::consume::describe;
use super::{ModuleError, Outcome};

/// `scripts_per_{once,boot,instance}`: `<state>/scripts/<which>`.
pub fn per_dir(boot: &mut Boot<'_>, which: &str, freq: Frequency) -> Result<Outcome, ModuleError> {
    let dir = boot.paths.per_dir(which);
    let module = format!("scripts_{}", which.replace('-', "_"));
    run_dir(boot, &dir, &module, freq)
}

/// `scripts_user`: the instance's `scripts/` (user `#!` parts and `runcmd`).
pub fn scripts_user(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let dir = boot.instance_dir.join("scripts");
    run_dir(boot, &dir, "scripts_user", Frequency::PerInstance)
}

/// Run every script of a folder.
pub fn run_dir(
    boot: &mut Boot<'_>,
    dir: &Path,
    module: &str,
    freq: Frequency,
) -> Result<Outcome, ModuleError> {
    run_some(boot, dir, module, freq, None)
}

/// Run the named scripts of a folder (those whose marker is not set), as [`run_dir`]
/// runs them: `strap apply --rerun` after clearing their markers.
pub fn run_named(
    boot: &mut Boot<'_>,
    dir: &Path,
    module: &str,
    freq: Frequency,
    names: &[String],
) -> Result<Outcome, ModuleError> {
    run_some(boot, dir, module, freq, Some(names))
}

fn run_some(
    boot: &mut Boot<'_>,
    dir: &Path,
    module: &str,
    freq: Frequency,
    only: Option<&[String]>,
) -> Result<Outcome, ModuleError> {
    let mut names: Vec<std::ffi::OsString> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.file_name()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(ModuleError::Io {
                op: "list",
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    let mut attempted = 0;
    let mut failures = Vec::new();
    let mut first_failure: Option<(Option<i32>, Vec<String>)> = None;
    let mut last: Option<(Option<i32>, Vec<String>)> = None;
    let stage = boot.stage.clone();
    for name in names {
        let file = name.to_string_lossy().into_owned();
        if file.starts_with('.') || only.is_some_and(|names| !names.contains(&file)) {
            continue;
        }
        let path = dir.join(&name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let item_name = format!("{module}/{file}");
        let start = epoch(boot.ctx.now());
        if meta.permissions().mode() & 0o111 == 0 {
            boot.warn(&format!(
                "{item_name}: skipping {} as it is not executable",
                path.display()
            ));
            boot.record(item(
                &item_name,
                &stage,
                freq,
                ItemStatus::Skipped,
                Some("not executable".into()),
                None,
                start,
                0.0,
                Vec::new(),
            ));
            continue;
        }
        let marker = format!("{module}.{file}");
        if boot.sems.done(&marker, freq) {
            boot.record(item(
                &item_name,
                &stage,
                freq,
                ItemStatus::Skipped,
                Some(format!("already ran ({freq})")),
                None,
                start,
                0.0,
                Vec::new(),
            ));
            continue;
        }
        attempted += 1;
        let label = if module == "scripts_user" {
            file.clone()
        } else {
            item_name.clone()
        };
        match boot.run_script(&label, &path, None) {
            Ok(outcome) if outcome.success() => {
                if let Err(err) = boot.sems.mark(&marker, freq) {
                    boot.warn(&format!("{item_name}: cannot write its marker: {err}"));
                }
                boot.record(item(
                    &item_name,
                    &stage,
                    freq,
                    ItemStatus::Ran,
                    None,
                    outcome.exit_code,
                    start,
                    outcome.duration,
                    outcome.tail.clone(),
                ));
                last = Some((outcome.exit_code, outcome.tail));
            }
            Ok(outcome) => {
                let why = describe(&outcome);
                failures.push(format!("{file} ({why})"));
                boot.record(item(
                    &item_name,
                    &stage,
                    freq,
                    ItemStatus::Failed,
                    Some(why),
                    outcome.exit_code,
                    start,
                    outcome.duration,
                    outcome.tail.clone(),
                ));
                first_failure.get_or_insert((outcome.exit_code, outcome.tail));
            }
            Err(err) => {
                let why = err.to_string();
                boot.warn(&format!("{item_name}: {why}"));
                failures.push(format!("{file} ({why})"));
                boot.record(item(
                    &item_name,
                    &stage,
                    freq,
                    ItemStatus::Failed,
                    Some(why),
                    None,
                    start,
                    0.0,
                    Vec::new(),
                ));
                first_failure.get_or_insert((None, Vec::new()));
            }
        }
    }
    if let Some((exit_code, tail)) = first_failure {
        return Err(ModuleError::Scripts {
            failures,
            attempted,
            exit_code,
            tail,
        });
    }
    match last {
        Some((exit_code, tail)) => Ok(Outcome::Ran { exit_code, tail }),
        None if attempted == 0 => Ok(Outcome::Skipped(format!(
            "no scripts to run in {}",
            dir.display()
        ))),
        None => Ok(Outcome::ran()),
    }
}

#[allow(clippy::too_many_arguments)]
fn item(
    name: &str,
    stage: &str,
    freq: Frequency,
    status: ItemStatus,
    reason: Option<String>,
    exit_code: Option<i32>,
    start: f64,
    duration: f64,
    tail: Vec<String>,
) -> ReportItem {
    ReportItem {
        name: name.to_string(),
        kind: "script".into(),
        stage: stage.to_string(),
        frequency: freq.as_str().into(),
        status,
        reason,
        exit_code,
        start,
        duration,
        output_tail: tail,
    }
}
