//! `strap userdata inspect|validate|make-mime`: show, check and build user data.
//!
//! `inspect` prints the parts cloud-init would see (and what strap does with each);
//! `validate` checks the cloud-config parts (exit 0 valid, 1 invalid, 2 valid with
//! warnings); `make-mime` writes a multipart message as `cloud-init devel make-mime` does.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use sha2::Digest as _;

use crate::cloudconfig;
use crate::context::Context;
use crate::userdata::{self, content_type as ct, mime, DecodeOptions, Decoded, IncludeOptions};

/// EC2's limit on raw user data, in bytes (before base64).
pub const EC2_USER_DATA_LIMIT: usize = 16 * 1024;

/// Exit status of `validate` when the cloud-config is valid but has warnings.
pub const EXIT_VALID_WITH_WARNINGS: u8 = 2;

/// User-data subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum UserdataCommand {
    /// The flattened parts in order, with what strap will do with each.
    Inspect(InspectArgs),
    /// Check the cloud-config the user data holds (exit 0 valid, 1 invalid, 2 warnings).
    Validate(ValidateArgs),
    /// Build a multipart MIME message from files, as `cloud-init devel make-mime` does.
    MakeMime(MakeMimeArgs),
}

// How user data is read and decoded (shared by inspect and validate).
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The user-data file, or `-` for standard input.
    pub file: String,
    /// Keep only parts for this `ami-launch-index` (parts without one are kept).
    #[arg(long)]
    pub launch_index: Option<i64>,
    /// Instance data (JSON, as `instance-data.json`) to render `## template: jinja` parts.
    #[arg(long)]
    pub instance_data: Option<PathBuf>,
    /// Do not fetch `#include` URLs.
    #[arg(long)]
    pub no_include: bool,
    /// Retries of a failing `#include` fetch (cloud-init: 10, one second apart).
    #[arg(long, default_value_t = 0)]
    pub include_retries: u32,
}

// `strap userdata inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Print JSON: `{"parts": [{content_type, filename, bytes, sha256}], "warnings": []}`.
    #[arg(long)]
    pub json: bool,
}

// `strap userdata validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Print JSON: `{"valid", "problems": [{part, line, column, path, message, level}]}`
    /// (`path`: the key's dotted path as cloud-init prints it, or null).
    #[arg(long)]
    pub json: bool,
}

// `strap userdata make-mime`.
#[derive(Debug, Args)]
pub struct MakeMimeArgs {
    /// `FILE:TYPE` pairs; TYPE is short (`cloud-config`, `x-shellscript`) or full
    /// (`text/cloud-config`).
    #[arg(value_name = "FILE:TYPE")]
    pub parts: Vec<String>,
    /// Also accept `-a FILE:TYPE` as cloud-init does.
    #[arg(short = 'a', long = "attach", value_name = "FILE:TYPE")]
    pub attach: Vec<String>,
    /// List the content types cloud-init supports, short form.
    #[arg(short = 'l', long)]
    pub list_types: bool,
    /// Write parts of unknown content types anyway.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Gzip the message (cloud-init gunzips user data), to fit EC2's 16 KiB limit.
    #[arg(long)]
    pub gzip: bool,
}

/// Run a user-data subcommand.
pub async fn run(cmd: UserdataCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        UserdataCommand::Inspect(args) => inspect(args, ctx).await,
        UserdataCommand::Validate(args) => validate(args, ctx).await,
        UserdataCommand::MakeMime(args) => make_mime(args),
    }
}

fn read_input(file: &str) -> anyhow::Result<Vec<u8>> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading user data from standard input")?;
        Ok(buf)
    } else {
        std::fs::read(file).with_context(|| format!("reading user data from {file}"))
    }
}

async fn decode_input(args: &DecodeArgs, ctx: &Context) -> anyhow::Result<Decoded> {
    let raw = read_input(&args.file)?;
    let instance_data =
        match &args.instance_data {
            Some(path) => {
                let text = std::fs::read(path)
                    .with_context(|| format!("reading instance data from {}", path.display()))?;
                Some(serde_json::from_slice(&text).with_context(|| {
                    format!("instance data {} is not valid JSON", path.display())
                })?)
            }
            None => None,
        };
    let opts = DecodeOptions {
        launch_index: args.launch_index,
        instance_data,
        include: IncludeOptions {
            enabled: !args.no_include,
            retries: args.include_retries,
            context: ctx.clone(),
            ..IncludeOptions::default()
        },
        ..DecodeOptions::default()
    };
    userdata::decode(&raw, &opts)
        .await
        .with_context(|| format!("decoding user data from {}", args.file))
}

/// `strap userdata inspect`.
pub async fn inspect(args: InspectArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let decoded = decode_input(&args.decode, ctx).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let parts: Vec<_> = decoded
            .parts
            .iter()
            .map(|p| {
                let mut item = serde_json::json!({
                    "content_type": p.content_type,
                    "filename": p.filename,
                    "bytes": p.payload.len(),
                    "sha256": hex::encode(sha2::Sha256::digest(&p.payload)),
                });
                if let Some(names) = credential_names(p) {
                    item["credentials"] = serde_json::json!(names);
                }
                item
            })
            .collect();
        let doc = serde_json::json!({
            "parts": parts,
            "warnings": decoded.warnings,
            "errors": decoded.errors,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        write!(out, "{}", inspect_table(&decoded))?;
    }
    // A limit gone past: the parts shown are what a boot would run, and it would end
    // `error`.
    if decoded.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// A systemd user-data part's credentials as `NAME (kind)`, values never shown; `None`
/// for other parts and for parts that do not parse (`validate` says why).
fn credential_names(part: &userdata::Part) -> Option<Vec<String>> {
    if part.content_type != ct::SYSTEMD_USERDATA {
        return None;
    }
    let doc = userdata::systemd::parse(&part.payload).ok()?;
    Some(
        doc.credentials
            .iter()
            .map(|c| format!("{} ({})", c.name, c.store()))
            .collect(),
    )
}

/// The human table of `inspect`.
pub fn inspect_table(decoded: &Decoded) -> String {
    let mut rows = vec![[
        "#".to_string(),
        "CONTENT-TYPE".to_string(),
        "FILENAME".to_string(),
        "BYTES".to_string(),
        "WHAT / WHEN".to_string(),
    ]];
    for (i, p) in decoded.parts.iter().enumerate() {
        rows.push([
            (i + 1).to_string(),
            p.content_type.clone(),
            p.filename.clone(),
            p.payload.len().to_string(),
            match credential_names(p) {
                Some(names) if !names.is_empty() => {
                    format!("{}: {}", p.disposition().describe(), names.join(", "))
                }
                _ => p.disposition().describe().to_string(),
            },
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if decoded.parts.is_empty() {
        out.push_str("(no parts)\n");
    }
    if !decoded.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for w in &decoded.warnings {
            out.push_str(&format!("  {w}\n"));
        }
    }
    if !decoded.errors.is_empty() {
        out.push_str("\nerrors (parts skipped):\n");
        for e in &decoded.errors {
            out.push_str(&format!("  {e}\n"));
        }
    }
    out
}

/// One problem found by `validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub part: String,
    pub line: usize,
    pub column: usize,
    /// The dotted path of a schema problem (`write_files.0.permissions`).
    pub path: Option<String>,
    pub message: String,
    /// `false` for a warning.
    pub error: bool,
}

impl Problem {
    fn level(&self) -> &'static str {
        if self.error {
            "error"
        } else {
            "warning"
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "part": self.part,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "level": self.level(),
        })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} line {} column {}: ",
            self.level(),
            self.part,
            self.line,
            self.column
        )?;
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// `strap userdata validate`.
pub async fn validate(args: ValidateArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let decoded = decode_input(&args.decode, ctx).await?;
    let problems = validate_decoded(&decoded);
    let mut out = std::io::stdout().lock();
    let errors = problems.iter().filter(|p| p.error).count();
    let warnings = problems.len() - errors;
    if args.json {
        let doc = serde_json::json!({
            "valid": errors == 0,
            "problems": problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(if errors > 0 {
            ExitCode::FAILURE
        } else if warnings > 0 {
            ExitCode::from(EXIT_VALID_WITH_WARNINGS)
        } else {
            ExitCode::SUCCESS
        });
    }
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    let configs = decoded
        .parts
        .iter()
        .filter(|p| p.content_type == ct::CLOUD_CONFIG)
        .count();
    if errors > 0 {
        writeln!(
            out,
            "Invalid cloud-config {}: {errors} error(s), {warnings} warning(s)",
            args.decode.file
        )?;
        return Ok(ExitCode::FAILURE);
    }
    if warnings > 0 {
        writeln!(
            out,
            "Valid cloud-config {} with {warnings} warning(s)",
            args.decode.file
        )?;
        return Ok(ExitCode::from(EXIT_VALID_WITH_WARNINGS));
    }
    let systemd_parts = decoded
        .parts
        .iter()
        .filter(|p| p.content_type == ct::SYSTEMD_USERDATA)
        .count();
    let systemd_note = if systemd_parts > 0 {
        format!(", {systemd_parts} systemd user-data part(s)")
    } else {
        String::new()
    };
    writeln!(
        out,
        "Valid cloud-config {} ({configs} cloud-config part(s){systemd_note})",
        args.decode.file
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Check every cloud-config part against the cloud-config schema (YAML syntax, types,
/// values, unknown keys). Decoding warnings become warnings of the user data.
pub fn validate_decoded(decoded: &Decoded) -> Vec<Problem> {
    let mut problems: Vec<Problem> = decoded
        .warnings
        .iter()
        .map(|w| Problem {
            part: "user data".into(),
            line: 1,
            column: 1,
            path: None,
            message: w.clone(),
            error: false,
        })
        .chain(decoded.errors.iter().map(|e| Problem {
            part: "user data".into(),
            line: 1,
            column: 1,
            path: None,
            message: e.clone(),
            error: true,
        }))
        .collect();
    for part in &decoded.parts {
        let at = |line: usize, column: usize, message: String, error: bool| Problem {
            part: part.filename.clone(),
            line,
            column,
            path: None,
            message,
            error,
        };
        if part.content_type == ct::SYSTEMD_USERDATA {
            match userdata::systemd::parse(&part.payload) {
                Ok(doc) if !doc.has_credentials_key => problems.push(at(
                    1,
                    1,
                    format!(
                        "systemd user data without `{}`: nothing to import",
                        userdata::systemd::CREDENTIALS_KEY
                    ),
                    false,
                )),
                Ok(_) => {}
                Err(e) => {
                    let (line, column) = e.position();
                    problems.push(at(line, column, e.message(), true));
                }
            }
            continue;
        }
        if part.content_type != ct::CLOUD_CONFIG {
            continue;
        }
        let doc = match cloudconfig::load_bytes(&part.payload) {
            Ok(doc) => doc,
            Err(e) => {
                let m = e.mark();
                problems.push(at(m.line, m.column, format!("not valid YAML: {e}"), true));
                continue;
            }
        };
        if doc.is_null() {
            problems.push(at(1, 1, "empty cloud-config".into(), false));
            continue;
        }
        let report = cloudconfig::schema::validate(&doc);
        for (list, error) in [(report.errors, true), (report.warnings, false)] {
            for p in list {
                problems.push(Problem {
                    path: Some(p.path),
                    ..at(p.line, p.column, p.message, error)
                });
            }
        }
    }
    problems
}

/// The content types `make-mime` knows, full form, sorted.
pub fn known_types() -> Vec<&'static str> {
    let mut types = vec![
        ct::INCLUDE,
        ct::INCLUDE_ONCE,
        ct::SHELLSCRIPT,
        ct::CLOUD_CONFIG,
        ct::PART_HANDLER,
        ct::BOOTHOOK,
        ct::CLOUD_CONFIG_ARCHIVE,
        ct::CLOUD_CONFIG_JSONP,
        ct::JINJA,
        ct::SHELLSCRIPT_PER_BOOT,
        ct::SHELLSCRIPT_PER_INSTANCE,
        ct::SHELLSCRIPT_PER_ONCE,
        ct::SYSTEMD_USERDATA,
    ];
    types.sort_unstable();
    types
}

/// `cloud-config` → `text/cloud-config`; full types are kept (lower-cased).
pub fn full_type(short: &str) -> String {
    let t = short.trim().to_ascii_lowercase();
    if t.contains('/') {
        t
    } else {
        format!("text/{t}")
    }
}

/// A boundary like Python's (`===============<19 digits>==`), derived from the content so
/// that the same inputs give the same message.
fn boundary_for(parts: &[mime::OutPart]) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.content_type.as_bytes());
        h.update([0]);
        h.update(p.filename.as_bytes());
        h.update([0]);
        h.update(&p.payload);
    }
    let digest = h.finalize();
    let mut n: u64 = 0;
    for b in &digest[..8] {
        n = (n << 8) | u64::from(*b);
    }
    format!("==============={:019}==", n % 10_000_000_000_000_000_000)
}

/// `strap userdata make-mime`.
pub fn make_mime(args: MakeMimeArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.list_types {
        for t in known_types() {
            writeln!(out, "{}", t.trim_start_matches("text/"))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let specs: Vec<&String> = args.attach.iter().chain(&args.parts).collect();
    if specs.is_empty() {
        anyhow::bail!("no parts given: pass FILE:TYPE pairs, e.g. config.yaml:cloud-config script.sh:x-shellscript");
    }
    let known = known_types();
    let mut parts = Vec::new();
    let mut unknown = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let Some((file, ty)) = spec.rsplit_once(':') else {
            anyhow::bail!(
                "invalid part {spec:?}: expected FILE:TYPE, e.g. config.yaml:cloud-config"
            );
        };
        let payload =
            std::fs::read(file).with_context(|| format!("reading part {} from {file}", i + 1))?;
        let content_type = full_type(ty);
        if !known.contains(&content_type.as_str()) {
            unknown.push(format!(
                "content type {content_type:?} for attachment {} may be incorrect!",
                i + 1
            ));
        }
        parts.push(mime::OutPart {
            content_type,
            filename: file.to_string(),
            payload,
        });
    }
    if !unknown.is_empty() {
        for u in &unknown {
            if args.force {
                tracing::warn!("{u}");
            } else {
                tracing::error!("{u}");
            }
        }
        if !args.force {
            anyhow::bail!(
                "invalid content types: list them with --list-types, or override with --force"
            );
        }
    }
    let message = mime::write_multipart(&parts, &boundary_for(&parts));
    let bytes = if args.gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(message.as_bytes())?;
        enc.finish()?
    } else {
        message.into_bytes()
    };
    if bytes.len() > EC2_USER_DATA_LIMIT {
        if args.gzip {
            tracing::warn!(
                "the gzipped message is {} bytes, over EC2's {EC2_USER_DATA_LIMIT}-byte user-data limit: move content behind an #include URL",
                bytes.len()
            );
        } else {
            tracing::warn!(
                "the message is {} bytes, over EC2's {EC2_USER_DATA_LIMIT}-byte user-data limit: add --gzip to compress it (cloud-init and strap gunzip user data)",
                bytes.len()
            );
        }
    }
    out.write_all(&bytes)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userdata::Part;

    fn part(ct: &str, payload: &str) -> Part {
        Part {
            content_type: ct.into(),
            filename: "part-001".into(),
            payload: payload.as_bytes().to_vec(),
            ..Part::default()
        }
    }

    #[test]
    fn validate_finds_type_errors_with_positions() {
        let decoded = Decoded {
            parts: vec![part(
                ct::CLOUD_CONFIG,
                "#cloud-config\nruncmd: echo hi\npackages: [a]\n",
            )],
            warnings: vec![],
            errors: vec![],
        };
        let problems = validate_decoded(&decoded);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].error);
        assert_eq!((problems[0].line, problems[0].column), (2, 9));
        assert!(problems[0].message.contains("is not of type 'array'"));
        assert_eq!(problems[0].path.as_deref(), Some("runcmd"));
        assert_eq!(
            problems[0].to_json()["message"],
            "'echo hi' is not of type 'array'"
        );
        assert!(problems[0]
            .to_string()
            .ends_with("line 2 column 9: runcmd: 'echo hi' is not of type 'array'"));
    }

    #[test]
    fn validate_reports_yaml_errors_and_unknown_keys() {
        let decoded = Decoded {
            parts: vec![
                part(ct::CLOUD_CONFIG, "#cloud-config\na: [\n"),
                part(ct::CLOUD_CONFIG, "#cloud-config\nnot_a_key: 1\n"),
                part(ct::SHELLSCRIPT, "#!/bin/sh\n"),
            ],
            warnings: vec![],
            errors: vec![],
        };
        let problems = validate_decoded(&decoded);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].error && problems[0].message.contains("not valid YAML"));
        // An unknown top-level key is an error, as cloud-init 25's schema has it.
        assert!(problems[1].error && problems[1].message.contains("not_a_key"));
    }

    #[test]
    fn validate_checks_systemd_userdata_parts() {
        let problems = validate_decoded(&Decoded {
            parts: vec![
                part(
                    ct::SYSTEMD_USERDATA,
                    "#systemd-userdata\n{\"systemd.credentials\": [\n {\"name\": \"a/b\", \"text\": \"x\"}]}",
                ),
                part(ct::SYSTEMD_USERDATA, "{\"other\": 1}"),
                part(
                    ct::SYSTEMD_USERDATA,
                    "{\"systemd.credentials\": [{\"name\": \"ok\", \"data\": \"eA==\"}]}",
                ),
            ],
            warnings: vec![],
            errors: vec![],
        });
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].error);
        assert_eq!(problems[0].line, 3);
        assert!(
            problems[0].message.contains("contains `/`"),
            "{}",
            problems[0]
        );
        assert!(!problems[1].error);
        assert!(problems[1].message.contains("nothing to import"));
        let table = inspect_table(&Decoded {
            parts: vec![part(
                ct::SYSTEMD_USERDATA,
                "{\"systemd.credentials\": [{\"name\": \"db.pw\", \"text\": \"hunter2\"}]}",
            )],
            warnings: vec![],
            errors: vec![],
        });
        assert!(table.contains("systemd credentials: written to /run/credstore in init, every boot: db.pw (/run/credstore)"), "{table}");
        assert!(!table.contains("hunter2"));
    }

    #[test]
    fn short_types_expand() {
        assert_eq!(full_type("cloud-config"), "text/cloud-config");
        assert_eq!(full_type("text/x-shellscript"), "text/x-shellscript");
        assert!(known_types().contains(&"text/x-shellscript-per-boot"));
    }

    #[test]
    fn inspect_table_lists_parts_and_warnings() {
        let decoded = Decoded {
            parts: vec![part(ct::SHELLSCRIPT, "#!/bin/sh\n")],
            warnings: vec!["w1".into()],
            errors: vec![],
        };
        let table = inspect_table(&decoded);
        assert!(table.contains("text/x-shellscript  part-001  10"));
        assert!(table.contains("once per instance"));
        assert!(table.ends_with("warnings:\n  w1\n"));
    }
}
