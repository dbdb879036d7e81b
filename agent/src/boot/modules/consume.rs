//! Consuming the user data (every boot, as cloud-init does): decode it into parts, put
//! each part where it runs from (`#!` parts into the instance's `scripts/`, MIME
//! `per-*` script parts into `<state>/scripts/per-*`, boothooks into `boothooks/`), run
//! the boothooks with `INSTANCE_ID`, import `#systemd-userdata` parts' credentials
//! ([`super::credstore`]), and merge the cloud-config parts into the config the modules
//! read. Every part gets a `part` item in the report.

use crate::cloudconfig::{self, Node, Value};
use crate::userdata::{self, content_type as ct, Decoded};

use super::super::context::{epoch, Boot};
use super::super::frequency::Frequency;
use super::super::records::error_chain;
use super::super::records::{ItemStatus, ReportItem};

/// Decode raw user data into parts with the user-data decoder, templates rendered
/// against the instance data and include-once cached in the instance folder.
pub(crate) fn decode(boot: &Boot<'_>, raw: &[u8]) -> Result<Decoded, userdata::UserDataError> {
    let cache = boot
        .paths
        .state_machine
        .join("instances")
        .join(boot.instance.instance_id.replace('/', "_"))
        .join("data")
        .join("urlcache");
    let opts = userdata::DecodeOptions {
        instance_data: Some(super::super::state::instance_data(boot)),
        include: userdata::IncludeOptions {
            cache_dir: Some(cache),
            context: boot.ctx.clone(),
            ..Default::default()
        },
        limits: boot.system.limits,
        ..Default::default()
    };
    userdata::decode_blocking(raw, &opts)
}

/// The name a part is stored under (its filename's last component, cleaned).
pub fn clean_name(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('.') {
        format!("part{cleaned}")
    } else {
        cleaned
    }
}

/// Consume the user data: store parts, run boothooks, merge cloud-config.
pub fn consume(boot: &mut Boot<'_>) {
    let raw = boot.instance.user_data.expose().clone();
    let user_data_file = boot.instance_dir.join("user-data.txt");
    if let Err(err) =
        crate::boot::durable::write_rebuilt(&boot.paths.root, &user_data_file, &raw, Some(0o600))
    {
        boot.warn(&format!("cannot save the user data: {err}"));
    }
    let decoded = match decode(boot, &raw) {
        Ok(d) => d,
        Err(err) => {
            let msg = format!("user data: {}", error_chain(&err));
            boot.log.line("ERROR", &msg);
            if let Some(stage) = boot.report.stage_mut() {
                stage.errors.push(msg);
            }
            Decoded::default()
        }
    };
    for w in &decoded.warnings {
        boot.warn(w);
    }
    // A limit gone past skipped a part; the others run and the boot ends `error`.
    for e in &decoded.errors {
        let msg = format!("user data: {e}");
        boot.log.line("ERROR", &msg);
        boot.out.message(&msg);
        if let Some(stage) = boot.report.stage_mut() {
            stage.errors.push(msg);
        }
    }
    let stage = boot.stage.clone();
    let mut configs = Vec::new();
    for part in &decoded.parts {
        let start = epoch(boot.ctx.now());
        let name = clean_name(&part.filename);
        let (status, reason, freq) = match part.content_type.as_str() {
            ct::CLOUD_CONFIG => {
                let text = String::from_utf8_lossy(&part.payload);
                let limits = &boot.system.limits;
                match cloudconfig::load_limited(&text, limits.yaml_max_depth, limits.yaml_max_nodes)
                {
                    Ok(node) if node.is_null() => (
                        ItemStatus::Ran,
                        Some("empty cloud-config".to_string()),
                        Frequency::Always,
                    ),
                    Ok(node) if node.as_map().is_some() => {
                        configs.push((node, part.merge_how.clone()));
                        (ItemStatus::Ran, None, Frequency::Always)
                    }
                    Ok(_) => warned(
                        boot,
                        ItemStatus::Failed,
                        format!("{name}: cloud-config is not a mapping; ignored"),
                        Frequency::Always,
                    ),
                    // A bound gone past is an error of the boot, as the decoding's are;
                    // YAML that does not load is cloud-init's warning.
                    Err(err @ cloudconfig::CloudConfigError::Limit { .. }) => {
                        let msg = format!(
                            "user data: {name}: {}; the part is skipped",
                            error_chain(&err)
                        );
                        boot.log.line("ERROR", &msg);
                        boot.out.message(&msg);
                        if let Some(stage) = boot.report.stage_mut() {
                            stage.errors.push(msg.clone());
                        }
                        (ItemStatus::Failed, Some(msg), Frequency::Always)
                    }
                    Err(err) => warned(
                        boot,
                        ItemStatus::Failed,
                        format!("{name}: {}", error_chain(&err)),
                        Frequency::Always,
                    ),
                }
            }
            ct::SHELLSCRIPT
            | ct::POWERSHELL
            | ct::SHELLSCRIPT_PER_BOOT
            | ct::SHELLSCRIPT_PER_INSTANCE
            | ct::SHELLSCRIPT_PER_ONCE => match script_target(boot, part) {
                Some((path, payload, freq)) => store(boot, &path, &payload, freq),
                None => (ItemStatus::Skipped, None, Frequency::Always),
            },
            ct::BOOTHOOK => boothook(boot, &name, &part.payload),
            ct::SYSTEMD_USERDATA => credentials(boot, &name, &part.payload),
            other => warned(
                boot,
                ItemStatus::Skipped,
                format!("{name}: content type {other} is not handled; ignored"),
                Frequency::Always,
            ),
        };
        boot.record(ReportItem {
            name: format!("user-data/{name}"),
            kind: "part".into(),
            stage: stage.clone(),
            frequency: freq.as_str().into(),
            status,
            reason,
            exit_code: None,
            start,
            duration: epoch(boot.ctx.now()) - start,
            output_tail: Vec::new(),
        });
    }
    boot.parts = decoded.parts;
    let merged = cloudconfig::merge_all(&configs);
    for skipped in &merged.skipped {
        boot.warn(&format!("cloud-config merge: {}", error_chain(skipped)));
    }
    boot.config = merged.config;
    let text = serde_json::to_string_pretty(&boot.config.to_json()).unwrap_or_default();
    let file = boot.instance_dir.join("cloud-config.txt");
    if let Err(err) =
        crate::boot::durable::write_rebuilt(&boot.paths.root, &file, text.as_bytes(), Some(0o600))
    {
        boot.warn(&format!(
            "cannot save the merged cloud-config: {}",
            error_chain(&err)
        ));
    }
    check_schema(boot);
    // The image's system config sits under the user data's (cloud-config.txt above keeps
    // only the user data's, as cloud-init's does).
    for problem in boot.system.problems.clone() {
        boot.warn(&problem);
    }
    if let Some(system) = &boot.system.node {
        let files: Vec<String> = boot
            .system
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        boot.log.line(
            "DEBUG",
            &format!("system config read from {}", files.join(", ")),
        );
        let user = std::mem::replace(&mut boot.config, Node::new(Value::Null));
        boot.config = crate::boot::sysconfig::merge_under(user, system);
    }
}

/// Checks the user data's merged cloud-config against the schema, as cloud-init does once
/// it has consumed the user data: a config that fails is still run, and the boot warns
/// (cloud-init 25 then calls its boot degraded). The warning names only the paths, never
/// the values (a password could be one), and points to `strap userdata validate`.
fn check_schema(boot: &mut Boot<'_>) {
    if boot.config.as_map().is_none() {
        return;
    }
    let compat = boot
        .system
        .node
        .as_ref()
        .and_then(|system| crate::boot::sysconfig::CloudInitCompat::of(system).ok())
        .unwrap_or_default();
    let unknown = match compat {
        crate::boot::sysconfig::CloudInitCompat::Current => cloudconfig::schema::UnknownKeys::Error,
        crate::boot::sysconfig::CloudInitCompat::V22 => cloudconfig::schema::UnknownKeys::Allowed,
    };
    let report = cloudconfig::schema::validate_with(&boot.config, unknown);
    if report.is_valid() {
        return;
    }
    let mut paths: Vec<&str> = report
        .errors
        .iter()
        .map(|p| {
            if p.path.is_empty() {
                "(top)"
            } else {
                p.path.as_str()
            }
        })
        .collect();
    paths.dedup();
    boot.warn(&format!(
        "cloud-config failed schema validation at {}; it runs anyway, as cloud-init runs it. \
         Run `strap userdata validate` on the user data for the details",
        paths.join(", ")
    ));
}

/// Where a script part is stored (the instance's `scripts/`, or `<state>/scripts/per-*`
/// for MIME per-frequency parts), its stored bytes and its frequency; `None` for a part
/// that is not a script.
fn script_target(
    boot: &Boot<'_>,
    part: &userdata::Part,
) -> Option<(std::path::PathBuf, Vec<u8>, Frequency)> {
    let name = clean_name(&part.filename);
    let per = |which: &str, freq| {
        Some((
            boot.paths.per_dir(which).join(&name),
            part.payload.clone(),
            freq,
        ))
    };
    match part.content_type.as_str() {
        ct::SHELLSCRIPT => Some((
            boot.instance_dir.join("scripts").join(&name),
            part.payload.clone(),
            Frequency::PerInstance,
        )),
        ct::POWERSHELL => {
            let file = if name.ends_with(".ps1") {
                name.clone()
            } else {
                format!("{name}.ps1")
            };
            Some((
                boot.instance_dir.join("scripts").join(file),
                strip_powershell_tags(&part.payload),
                Frequency::PerInstance,
            ))
        }
        ct::SHELLSCRIPT_PER_BOOT => per("per-boot", Frequency::PerBoot),
        ct::SHELLSCRIPT_PER_INSTANCE => per("per-instance", Frequency::PerInstance),
        ct::SHELLSCRIPT_PER_ONCE => per("per-once", Frequency::PerOnce),
        _ => None,
    }
}

/// Store a script part where it runs from, as the boot does; returns the stored file's
/// name (`strap apply --rerun` stores changed parts before running them).
pub(crate) fn store_part(
    boot: &Boot<'_>,
    part: &userdata::Part,
) -> Result<String, crate::context::ContextError> {
    let Some((path, payload, _)) = script_target(boot, part) else {
        return Ok(clean_name(&part.filename));
    };
    crate::boot::durable::write_rebuilt(&boot.paths.root, &path, &payload, Some(0o700))?;
    Ok(path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

fn strip_powershell_tags(payload: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(payload);
    let body = text
        .trim()
        .trim_start_matches("<powershell>")
        .trim_end_matches("</powershell>");
    body.trim().as_bytes().to_vec()
}

fn store(
    boot: &mut Boot<'_>,
    path: &std::path::Path,
    payload: &[u8],
    freq: Frequency,
) -> (ItemStatus, Option<String>, Frequency) {
    match crate::boot::durable::write_rebuilt(&boot.paths.root, path, payload, Some(0o700)) {
        Ok(()) => (
            ItemStatus::Ran,
            Some(format!("stored as {}", path.display())),
            freq,
        ),
        Err(err) => warned(
            boot,
            ItemStatus::Failed,
            format!("cannot store {}: {err}", path.display()),
            freq,
        ),
    }
}

/// Store and run a boothook (every boot; a failure is only a warning, as in cloud-init).
pub(crate) fn boothook(
    boot: &mut Boot<'_>,
    name: &str,
    payload: &[u8],
) -> (ItemStatus, Option<String>, Frequency) {
    let text = String::from_utf8_lossy(payload);
    let body = match text.split_once('\n') {
        Some((first, rest)) if first.trim_end().starts_with("#cloud-boothook") => rest.trim_start(),
        _ => text.trim_start(),
    };
    let path = boot.instance_dir.join("boothooks").join(name);
    if let Err(err) =
        crate::boot::durable::write_rebuilt(&boot.paths.root, &path, body.as_bytes(), Some(0o700))
    {
        return warned(
            boot,
            ItemStatus::Failed,
            format!("cannot store boothook {name}: {err}"),
            Frequency::PerBoot,
        );
    }
    // (write_rebuilt set the mode 0700 on the open file, or found it so.)
    let marker = format!("boothook.{name}");
    if boot.sems.done(&marker, Frequency::PerBoot) {
        return (
            ItemStatus::Skipped,
            Some("already ran this boot".into()),
            Frequency::PerBoot,
        );
    }
    let label = format!("boothook/{name}");
    match boot.run_script(&label, &path, None) {
        Ok(outcome) if outcome.success() => {
            let _ = boot.sems.mark(&marker, Frequency::PerBoot);
            (ItemStatus::Ran, None, Frequency::PerBoot)
        }
        Ok(outcome) => warned(
            boot,
            ItemStatus::Failed,
            format!("boothook {name} failed: {}", describe(&outcome)),
            Frequency::PerBoot,
        ),
        Err(err) => warned(
            boot,
            ItemStatus::Failed,
            format!("boothook {name}: {err}"),
            Frequency::PerBoot,
        ),
    }
}

/// Import a systemd user-data part's credentials (every boot: `/run` is emptied at each
/// boot); a part that does not parse fails, with its line and column, and imports nothing.
fn credentials(
    boot: &mut Boot<'_>,
    name: &str,
    payload: &[u8],
) -> (ItemStatus, Option<String>, Frequency) {
    use super::credstore::{self, CredstoreError};
    match credstore::import(boot.ctx, payload) {
        Ok(done) => {
            let line = done.describe();
            boot.log.line("INFO", &format!("{name}: {line}"));
            (ItemStatus::Ran, Some(line), Frequency::Always)
        }
        Err(CredstoreError::Invalid(err)) => {
            let (line, column) = err.position();
            warned(boot, ItemStatus::Failed, format!(
                "{name} line {line} column {column}: systemd user data rejected, no credential imported: {}",
                err.message()
            ), Frequency::Always)
        }
        Err(err) => warned(
            boot,
            ItemStatus::Failed,
            format!("{name}: {}", error_chain(&err)),
            Frequency::Always,
        ),
    }
}

/// "exit code 3", "timed out", "killed by a signal".
pub fn describe(outcome: &super::super::exec::ScriptOutcome) -> String {
    if outcome.timed_out {
        format!("timed out after {:.1}s and was killed", outcome.duration)
    } else {
        match outcome.exit_code {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".into(),
        }
    }
}

/// A part's outcome that is also a warning of the boot.
fn warned(
    boot: &mut Boot<'_>,
    status: ItemStatus,
    msg: String,
    freq: Frequency,
) -> (ItemStatus, Option<String>, Frequency) {
    boot.warn(&msg);
    (status, Some(msg), freq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("../x y.sh"), "x_y.sh");
        assert_eq!(clean_name("part-001"), "part-001");
    }
}
