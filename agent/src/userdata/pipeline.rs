//! The decoding pipeline itself (`UserDataProcessor` in cloud-init): blob → message →
//! leaves → sniffed, expanded and attached parts, then launch-index filtering, template
//! rendering and the warnings cloud-init's handlers would give.

use std::future::Future;
use std::io::Read as _;
use std::pin::Pin;

use base64::Engine as _;

use super::{
    archive, content_type as ct, detect, include, mime, template, Action, DecodeOptions, Decoded,
    Part, UserDataError,
};

/// Declared types whose payload is gunzipped and then sniffed (`DECOMP_TYPES`).
const DECOMP_TYPES: &[&str] = &[
    "application/gzip",
    "application/gzip-compressed",
    "application/gzipped",
    "application/x-compress",
    "application/x-compressed",
    "application/x-gunzip",
    "application/x-gzip",
    "application/x-gzip-compressed",
];

/// How far into a blob `MIME-Version:` is looked for.
const MIME_WINDOW: usize = 4096;

/// A leaf before sniffing: its declared type, decoded payload and kept headers.
struct Source {
    content_type: String,
    payload: Vec<u8>,
    /// Text parts decode with `surrogateescape` in cloud-init, so they always sniff.
    text: bool,
    filename: Option<String>,
    launch_index: Option<String>,
    merge_how: Option<String>,
    /// Where it came from, for errors (`user data`, `include <url>`) and its leaf number.
    origin: String,
}

struct Run<'a> {
    opts: &'a DecodeOptions,
    parts: Vec<Part>,
    warnings: Vec<String>,
    total_bytes: usize,
    /// The include URLs being expanded, outermost first.
    chain: Vec<String>,
    /// Limits gone past (the parts skipped), in order, each once.
    errors: Vec<String>,
    /// Include URLs fetched so far (cache hits included).
    fetches: usize,
    /// When the include fetches must be over ([`super::Limits::include_time`]; `None`
    /// when that is too far away to be told).
    include_deadline: Option<std::time::Instant>,
    /// Set once the part cap is reached: later parts are dropped without a new error.
    parts_full: bool,
}

type Boxed<'a> = Pin<Box<dyn Future<Output = Result<(), UserDataError>> + Send + 'a>>;

pub(super) async fn decode(raw: &[u8], opts: &DecodeOptions) -> Result<Decoded, UserDataError> {
    let blob = if opts.ec2_base64 {
        maybe_b64decode(raw)
    } else {
        raw.to_vec()
    };
    let mut run = Run {
        opts,
        parts: Vec::new(),
        warnings: Vec::new(),
        total_bytes: 0,
        chain: Vec::new(),
        errors: Vec::new(),
        fetches: 0,
        include_deadline: std::time::Instant::now().checked_add(opts.limits.include_time),
        parts_full: false,
    };
    run.process_blob(blob, "user data".into(), 0).await?;
    let Run {
        mut parts,
        mut warnings,
        mut errors,
        ..
    } = run;
    if let Some(wanted) = opts.launch_index {
        parts.retain(|p| match &p.launch_index {
            None => true,
            Some(idx) => idx.trim().parse::<i64>().ok() == Some(wanted),
        });
    }
    if let Some(data) = &opts.instance_data {
        parts = render_templates(parts, data, &opts.limits, &mut warnings, &mut errors);
    }
    for part in &parts {
        handler_warnings(part, &mut warnings);
    }
    // The caller logs the warnings (the boot as cloud-init's WARNINGs, inspect as data).
    tracing::debug!(
        parts = parts.len(),
        warnings = warnings.len(),
        "user data decoded"
    );
    Ok(Decoded {
        parts,
        warnings,
        errors,
    })
}

/// Longest include URL quoted in errors, warnings and part names, in characters.
const SHOWN_URL: usize = 256;

/// An include URL as errors and records quote it: cut at [`SHOWN_URL`] characters, so
/// a URL line of megabytes does not grow every message and record that names it.
fn shown(url: &str) -> String {
    match url.char_indices().nth(SHOWN_URL) {
        Some((at, _)) => format!("{}…", &url[..at]),
        None => url.to_string(),
    }
}

/// EC2's "maybe base64": a blob that is entirely valid, padded base64 is decoded once
/// more; anything else (line breaks included) is kept as it is.
pub(super) fn maybe_b64decode(raw: &[u8]) -> Vec<u8> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    engine.decode(raw).unwrap_or_else(|_| raw.to_vec())
}

/// Why a gunzip failed.
pub(super) enum Gunzip {
    Invalid(String),
    TooLarge,
}

/// Gunzip a whole body (all members), refusing to grow past `max` bytes.
pub(super) fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, Gunzip> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(data);
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    decoder
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Gunzip::Invalid(e.to_string()))?;
    if out.len() > max {
        return Err(Gunzip::TooLarge);
    }
    Ok(out)
}

fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
}

impl Run<'_> {
    fn max_bytes(&self) -> usize {
        self.opts.limits.max_bytes
    }

    /// `convert_string` then `_process_msg`: one blob (the user data or an include body).
    fn process_blob(&mut self, blob: Vec<u8>, origin: String, depth: usize) -> Boxed<'_> {
        Box::pin(async move {
            let blob = match gunzip(&blob, self.max_bytes()) {
                Ok(inflated) => inflated,
                Err(Gunzip::Invalid(_)) => blob,
                Err(Gunzip::TooLarge) => {
                    return self.over_limit(UserDataError::TooLarge {
                        part: origin,
                        max: self.max_bytes(),
                        limit: "max_decoded_bytes",
                    })
                }
            };
            let window = &blob[..blob.len().min(MIME_WINDOW)];
            let is_mime = window
                .windows(b"mime-version:".len())
                .any(|w| w.eq_ignore_ascii_case(b"mime-version:"));
            let sources = if is_mime {
                match self.mime_sources(&blob, &origin, depth) {
                    Err(err) if err.is_limit() => return self.over_limit(err),
                    other => other?,
                }
            } else {
                vec![Source {
                    content_type: ct::NOT_MULTIPART.into(),
                    payload: blob,
                    text: true,
                    filename: None,
                    launch_index: None,
                    merge_how: None,
                    origin,
                }]
            };
            for source in sources {
                self.process_source(source, depth).await?;
            }
            Ok(())
        })
    }

    fn mime_sources(
        &mut self,
        blob: &[u8],
        origin: &str,
        depth: usize,
    ) -> Result<Vec<Source>, UserDataError> {
        let text = std::str::from_utf8(blob).map_err(|e| UserDataError::MimeNotUtf8 {
            part: origin.to_string(),
            offset: e.valid_up_to(),
        })?;
        let limits = self.opts.limits;
        let room = limits.max_depth.saturating_sub(depth);
        let leaves = mime::flatten(text, room, limits.max_parts).map_err(|e| match e {
            mime::MimeLimit::TooDeep { .. } => UserDataError::TooDeep {
                part: origin.to_string(),
                max: limits.max_depth,
            },
            mime::MimeLimit::TooManyParts { max } => UserDataError::TooManyParts {
                part: origin.to_string(),
                max,
            },
        })?;
        if leaves.is_empty() {
            self.warnings.push(format!(
                "{origin}: MIME multipart message has no parts (missing boundary parameter, or its first boundary never appears)"
            ));
        }
        let mut sources = Vec::with_capacity(leaves.len());
        for (i, leaf) in leaves.into_iter().enumerate() {
            let origin = format!("{origin}, MIME part {}", i + 1);
            let content_type = leaf.content_type();
            let text = is_text(&content_type);
            let mut payload = leaf.decoded_body();
            if text {
                let (converted, warning) =
                    transcode(payload, leaf.param("content-type", "charset").as_deref());
                payload = converted;
                if let Some(warning) = warning {
                    self.warnings.push(format!("{origin}: {warning}"));
                }
            }
            let merge_how = leaf
                .header("merge-type")
                .or_else(|| leaf.header("x-merge-type"))
                .map(str::to_string);
            sources.push(Source {
                filename: leaf.filename(),
                launch_index: leaf.header("launch-index").map(str::to_string),
                merge_how,
                content_type,
                payload,
                text,
                origin,
            });
        }
        Ok(sources)
    }

    async fn process_source(&mut self, mut src: Source, depth: usize) -> Result<(), UserDataError> {
        if DECOMP_TYPES.contains(&src.content_type.as_str()) {
            match gunzip(&src.payload, self.max_bytes()) {
                Ok(inflated) => {
                    src.payload = inflated;
                    src.content_type = ct::PLAIN.into();
                    src.text = false;
                    // Only the filename and Launch-Index survive decompression.
                    src.merge_how = None;
                }
                Err(Gunzip::TooLarge) => {
                    return self.over_limit(UserDataError::TooLarge {
                        part: src.origin,
                        max: self.max_bytes(),
                        limit: "max_decoded_bytes",
                    })
                }
                Err(Gunzip::Invalid(reason)) => {
                    let err = UserDataError::Gzip {
                        part: src.origin,
                        content_type: src.content_type,
                        bytes: src.payload.len(),
                        reason,
                    };
                    return self.handle_error(err);
                }
            }
        }
        let declared = src.content_type.as_str();
        let sniffed = match declared {
            ct::PLAIN | ct::NOT_MULTIPART => detect::sniff_with_powershell(&src.payload, src.text)
                .or_else(|| super::systemd::sniff(&src.payload).then_some(ct::SYSTEMD_USERDATA)),
            ct::SHELLSCRIPT => detect::sniff(&src.payload, src.text),
            _ => None,
        };
        if let Some(found) = sniffed {
            src.content_type = found.to_string();
        }
        match src.content_type.as_str() {
            ct::INCLUDE | ct::INCLUDE_ONCE => self.do_include(&src, depth).await,
            ct::CLOUD_CONFIG_ARCHIVE => {
                let (entries, warnings) = match archive::explode(&src.payload, &self.opts.limits) {
                    Ok(exploded) => exploded,
                    Err(refused) => {
                        return self.over_limit(UserDataError::Yaml {
                            part: format!("{} (#cloud-config-archive)", src.origin),
                            what: refused.what,
                            limit: refused.limit,
                        })
                    }
                };
                self.warnings
                    .extend(warnings.into_iter().map(|w| format!("{}: {w}", src.origin)));
                for e in entries {
                    let merge_how = super::mime::header(&e.headers, "merge-type")
                        .or_else(|| super::mime::header(&e.headers, "x-merge-type"))
                        .map(str::to_string);
                    self.attach(Source {
                        content_type: e.content_type,
                        payload: e.payload,
                        text: true,
                        filename: e.filename,
                        launch_index: e.launch_index,
                        merge_how,
                        origin: src.origin.clone(),
                    })?;
                }
                Ok(())
            }
            _ => self.attach(src),
        }
    }

    async fn do_include(&mut self, src: &Source, depth: usize) -> Result<(), UserDataError> {
        for inc in include::urls(&src.payload) {
            if !self.opts.include.enabled {
                self.warnings.push(format!(
                    "{} line {}: include {} not fetched (includes are off)",
                    src.origin,
                    inc.line,
                    shown(&inc.url)
                ));
                continue;
            }
            if self.chain.contains(&inc.url) {
                return Err(UserDataError::IncludeLoop {
                    part: src.origin.clone(),
                    line: inc.line,
                    url: shown(&inc.url),
                    chain: self
                        .chain
                        .iter()
                        .map(|u| shown(u))
                        .collect::<Vec<_>>()
                        .join(" -> "),
                });
            }
            if depth + 1 > self.opts.limits.max_depth {
                self.over_limit(UserDataError::TooDeep {
                    part: format!("{} line {}", src.origin, inc.line),
                    max: self.opts.limits.max_depth,
                })?;
                continue;
            }
            let limits = self.opts.limits;
            if self.fetches >= limits.max_include_fetches {
                self.over_limit(UserDataError::TooManyFetches {
                    part: src.origin.clone(),
                    line: inc.line,
                    url: shown(&inc.url),
                    max: limits.max_include_fetches,
                })?;
                continue;
            }
            self.fetches += 1;
            let time_over = || UserDataError::IncludeTime {
                part: src.origin.clone(),
                line: inc.line,
                url: shown(&inc.url),
                secs: limits.include_time.as_secs(),
            };
            let left = match self.include_deadline {
                Some(deadline) => deadline.checked_duration_since(std::time::Instant::now()),
                None => Some(std::time::Duration::MAX),
            };
            let Some(left) = left.filter(|left| !left.is_zero()) else {
                self.over_limit(time_over())?;
                continue;
            };
            let max = limits.max_include_bytes.min(self.max_bytes());
            let fetched =
                tokio::time::timeout(left, include::fetch(&inc, &self.opts.include, max)).await;
            let Ok(fetched) = fetched else {
                self.over_limit(time_over())?;
                continue;
            };
            match fetched {
                Ok(body) => {
                    self.chain.push(inc.url.clone());
                    let result = self
                        .process_blob(body, format!("include {}", shown(&inc.url)), depth + 1)
                        .await;
                    self.chain.pop();
                    result?;
                }
                Err(include::FetchError::TooLarge { max }) => {
                    self.over_limit(UserDataError::TooLarge {
                        part: format!(
                            "{} line {}: include {}",
                            src.origin,
                            inc.line,
                            shown(&inc.url)
                        ),
                        max,
                        limit: if max == limits.max_include_bytes {
                            "max_include_bytes"
                        } else {
                            "max_decoded_bytes"
                        },
                    })?;
                }
                Err(source) => {
                    let err = UserDataError::Include {
                        part: src.origin.clone(),
                        line: inc.line,
                        url: shown(&inc.url),
                        attempts: self.opts.include.retries + 1,
                        source: Box::new(source),
                    };
                    self.handle_error(err)?;
                }
            }
        }
        Ok(())
    }

    /// A limit gone past: the error is kept (once) and decoding goes on without the
    /// part. Always `Ok`; the `Result` lets callers return it.
    fn over_limit(&mut self, err: UserDataError) -> Result<(), UserDataError> {
        let text = err.to_string();
        tracing::debug!("{text}");
        if !self.errors.contains(&text) {
            self.errors.push(text);
        }
        Ok(())
    }

    /// cloud-init's `_handle_error`: an error, or a warning when the feature is off.
    fn handle_error(&mut self, err: UserDataError) -> Result<(), UserDataError> {
        if self.opts.error_on_failure {
            return Err(err);
        }
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.warnings.push(text);
        Ok(())
    }

    /// `_attach_part`: number the part, settle its filename and launch index.
    fn attach(&mut self, src: Source) -> Result<(), UserDataError> {
        let limits = self.opts.limits;
        if self.parts_full {
            return Ok(());
        }
        if self.parts.len() >= limits.max_parts {
            self.parts_full = true;
            return self.over_limit(UserDataError::TooManyParts {
                part: src.origin,
                max: limits.max_parts,
            });
        }
        if self.total_bytes.saturating_add(src.payload.len()) > limits.max_bytes {
            return self.over_limit(UserDataError::TooLarge {
                part: src.origin,
                max: limits.max_bytes,
                limit: "max_decoded_bytes",
            });
        }
        self.total_bytes = self.total_bytes.saturating_add(src.payload.len());
        let number = self.parts.len() + 1;
        let launch_index = src.launch_index.or_else(|| {
            (src.content_type == ct::CLOUD_CONFIG)
                .then(|| payload_launch_index(&src.payload, &limits))
                .flatten()
        });
        self.parts.push(Part {
            filename: src.filename.unwrap_or_else(|| format!("part-{number:03}")),
            content_type: src.content_type,
            payload: src.payload,
            merge_how: src.merge_how,
            launch_index,
        });
        Ok(())
    }
}

/// A text part's payload under its declared charset, and a warning when the label is
/// unknown or does not fit the bytes. cloud-init ignores the label (it decodes every
/// text part as UTF-8 and writes the part's bytes), and user data often declares
/// `us-ascii` over UTF-8 text, so the bytes are never re-encoded on the label's word
/// alone: UTF-8 text (ASCII included) is kept as it is, whatever the label says (with a
/// warning when the label names another charset; silently under an ASCII label, which the
/// common AWS template puts on every part). Only
/// bytes that are not UTF-8 and decode cleanly in a known declared charset (latin-1
/// text declared `iso-8859-1`, UTF-16 declared `utf-16le`) are converted to UTF-8, with
/// a warning, since neither cloud-init nor strap could read them as YAML otherwise.
/// Anything else keeps its bytes, with a warning.
fn transcode(payload: Vec<u8>, charset: Option<&str>) -> (Vec<u8>, Option<String>) {
    let Some(label) = charset.map(str::trim) else {
        return (payload, None);
    };
    // The label is user data: quote a bounded, printable form of it.
    let shown: String = label
        .chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    // encoding_rs reads ASCII labels as windows-1252; non-ASCII bytes under an ASCII label
    // mean the label is wrong, not that the bytes are windows-1252.
    let ascii = [
        "us-ascii",
        "ascii",
        "ansi_x3.4-1968",
        "iso646-us",
        "us",
        "646",
    ]
    .iter()
    .any(|a| label.eq_ignore_ascii_case(a));
    let encoding = if ascii {
        Some(encoding_rs::UTF_8)
    } else {
        encoding_rs::Encoding::for_label(label.as_bytes())
    };
    let utf16 = encoding.is_some_and(|e| e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
    let is_utf8 = std::str::from_utf8(&payload).is_ok();
    if is_utf8 && !utf16 {
        let warning = match encoding {
            _ if payload.is_ascii() => None,
            Some(e) if e == encoding_rs::UTF_8 && !ascii => None,
            // The common AWS MIME template labels every part us-ascii, whatever it holds:
            // UTF-8 under an ASCII label is kept, and is no reason to degrade a boot.
            Some(_) if ascii => {
                tracing::debug!(
                    "a part declares charset \"{shown}\" but holds UTF-8 text; kept as UTF-8"
                );
                None
            }
            None => Some(format!(
                "unknown charset \"{shown}\"; the part holds UTF-8 text and is kept as it is"
            )),
            Some(_) => Some(format!(
                "declares charset \"{shown}\" but holds UTF-8 text; kept as UTF-8 \
                 (declare charset=\"utf-8\")"
            )),
        };
        return (payload, warning);
    }
    let Some(encoding) = encoding else {
        return (
            payload,
            Some(format!(
                "unknown charset \"{shown}\" and the bytes are not UTF-8; kept as they are"
            )),
        );
    };
    if encoding == encoding_rs::UTF_8 {
        return (
            payload,
            Some(format!(
                "declares charset \"{shown}\" but the bytes are not valid UTF-8; kept as \
                 they are"
            )),
        );
    }
    let (text, had_errors) = encoding.decode_without_bom_handling(&payload);
    if had_errors {
        return (
            payload,
            Some(format!(
                "the bytes do not fit the declared charset \"{shown}\"; kept as they are"
            )),
        );
    }
    let text = text.into_owned().into_bytes();
    (
        text,
        Some(format!(
            "converted from charset \"{shown}\" to UTF-8 (cloud-init would keep the bytes; \
             save the part as UTF-8 to silence this)"
        )),
    )
}

/// A `launch-index:` key in a cloud-config payload, as an integer string. Only a
/// payload that names the key is loaded, and only once [`super::yamlguard`] finds it
/// within the YAML limits (the cloud-config loader reports the rest).
fn payload_launch_index(payload: &[u8], limits: &super::Limits) -> Option<String> {
    let text = std::str::from_utf8(payload).ok()?;
    if !text.contains("launch-index") {
        return None;
    }
    super::yamlguard::check(
        text,
        limits.yaml_max_depth,
        limits.yaml_max_nodes,
        usize::MAX,
    )
    .ok()?;
    let value: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    match value.get("launch-index")? {
        serde_yaml::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .map(|i| i.to_string()),
        serde_yaml::Value::String(s) => s.trim().parse::<i64>().ok().map(|i| i.to_string()),
        serde_yaml::Value::Bool(b) => Some(i64::from(*b).to_string()),
        _ => None,
    }
}

/// Render `## template: jinja` parts; what renders to something unsupported is dropped.
fn render_templates(
    parts: Vec<Part>,
    data: &serde_json::Value,
    limits: &super::Limits,
    warnings: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Vec<Part> {
    let context = template::jinja_context(data);
    let mut out = Vec::with_capacity(parts.len());
    for mut part in parts {
        if part.content_type != ct::JINJA {
            out.push(part);
            continue;
        }
        let budget = template::Budget {
            fuel: limits.jinja_fuel,
            max_output: limits.jinja_max_output,
        };
        match template::render_with(&part.payload, &context, budget) {
            Ok(rendered) => {
                for name in &rendered.missing {
                    warnings.push(format!(
                        "Could not render jinja template variables in file '{}': '{name}'",
                        part.filename
                    ));
                }
                let payload = rendered.text.into_bytes();
                match detect::sniff(&payload, true) {
                    Some(t @ (ct::CLOUD_CONFIG | ct::SHELLSCRIPT | ct::BOOTHOOK)) => {
                        part.content_type = t.to_string();
                        part.payload = payload;
                        out.push(part);
                    }
                    other => warnings.push(format!(
                        "Ignoring jinja template for {}. Could not find supported sub-handler for type {}",
                        part.filename,
                        other.unwrap_or("None")
                    )),
                }
            }
            // A bound gone past is an error of the boot, as for the other limits; a
            // template that fails otherwise is dropped with cloud-init's warning.
            Err(e @ template::TemplateError::Limit { .. }) => {
                errors.push(format!("{}: {e}; the part is skipped", part.filename))
            }
            Err(e) => warnings.push(format!(
                "Ignoring jinja template for {}. Failed to render template. {}",
                part.filename,
                e.cloud_init_text()
            )),
        }
    }
    out
}

/// The warnings cloud-init's handler walk gives for a part, plus strap's own hints.
fn handler_warnings(part: &Part, warnings: &mut Vec<String>) {
    match part.disposition().action {
        Action::Ignore if !part.payload.is_empty() => {
            let start = detect::first_line(&part.payload);
            let mut w = if part.content_type == ct::NOT_MULTIPART {
                format!(
                    "Unhandled non-multipart ({}) userdata: '{start}...'",
                    part.content_type
                )
            } else {
                format!(
                    "Unhandled unknown content-type ({}) userdata: '{start}...'",
                    part.content_type
                )
            };
            if part.payload.starts_with("\u{feff}".as_bytes()) {
                w.push_str(" (it starts with a UTF-8 byte order mark: save it without one)");
            } else if part.content_type == ct::NOT_MULTIPART {
                w.push_str(" (start scripts with #! and cloud-config with #cloud-config)");
            }
            warnings.push(w);
        }
        Action::Refuse => warnings.push(format!(
            "{}: {} parts are not supported by strap and are skipped",
            part.filename, part.content_type
        )),
        Action::RunScript | Action::RunScriptByFrequency if !part.payload.starts_with(b"#!") => {
            warnings.push(format!(
                "{}: script does not start with #! (leading whitespace or no interpreter line): it will fail with 'Exec format error'",
                part.filename
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_urls_are_cut_where_they_are_quoted() {
        assert_eq!(shown("http://a/b"), "http://a/b");
        let long = format!("http://a/{}", "é".repeat(10_000));
        assert_eq!(shown(&long).chars().count(), SHOWN_URL + 1);
    }

    #[test]
    fn maybe_b64_decodes_only_whole_padded_base64() {
        assert_eq!(
            maybe_b64decode(b"IyEvYmluL3NoCmVjaG8gaGk="),
            b"#!/bin/sh\necho hi"
        );
        assert_eq!(
            maybe_b64decode(b"IyEvYmluL3No\nCmVjaG8gaGk="),
            b"IyEvYmluL3No\nCmVjaG8gaGk="
        );
        assert_eq!(maybe_b64decode(b"#!/bin/sh"), b"#!/bin/sh");
        assert_eq!(maybe_b64decode(b"aGk"), b"aGk");
        // cloud-init's odd side effect: a short word is base64 too.
        assert_eq!(maybe_b64decode(b"test"), [0xb5, 0xeb, 0x2d]);
    }

    #[test]
    fn gunzip_caps_and_failures() {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'a'; 1000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 1000).ok().unwrap().len(), 1000);
        assert!(matches!(gunzip(&gz, 999), Err(Gunzip::TooLarge)));
        assert!(matches!(
            gunzip(&gz[..gz.len() - 4], 2000),
            Err(Gunzip::Invalid(_))
        ));
        assert!(matches!(gunzip(b"plain", 2000), Err(Gunzip::Invalid(_))));
    }

    #[test]
    fn declared_charsets_never_corrupt_utf8() {
        let cafe = "echo café # コメント\n".as_bytes();
        // The AWS MIME template declares us-ascii over UTF-8 text: kept, and no warning
        // (every part of that template says us-ascii, whatever it holds).
        for label in ["us-ascii", "US-ASCII"] {
            assert_eq!(
                transcode(cafe.to_vec(), Some(label)),
                (cafe.to_vec(), None),
                "{label}"
            );
        }
        // A label naming another charset over UTF-8 text: kept, with a warning.
        for label in ["iso-8859-1", "windows-1252", "latin1"] {
            let (out, warning) = transcode(cafe.to_vec(), Some(label));
            assert_eq!(out, cafe, "{label}");
            assert!(warning.is_some_and(|w| w.contains("UTF-8")), "{label}");
        }
        assert_eq!(
            transcode(cafe.to_vec(), Some("UTF-8")),
            (cafe.to_vec(), None)
        );
        assert_eq!(transcode(cafe.to_vec(), None), (cafe.to_vec(), None));
        assert_eq!(
            transcode(b"echo hi".to_vec(), Some("us-ascii")),
            (b"echo hi".to_vec(), None)
        );
        let (out, warning) = transcode(cafe.to_vec(), Some("x-klingon"));
        assert_eq!(out, cafe);
        assert!(warning.is_some_and(|w| w.contains("unknown charset")));
    }

    #[test]
    fn declared_charsets_that_fit_are_converted_with_a_warning() {
        let (out, warning) = transcode(b"caf\xe9".to_vec(), Some("iso-8859-1"));
        assert_eq!(out, "café".as_bytes());
        assert!(warning.is_some_and(|w| w.contains("converted")));
        let utf16: Vec<u8> = "café".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(transcode(utf16, Some("utf-16le")).0, "café".as_bytes());
        // Bytes that fit neither UTF-8 nor the label are kept, with a warning.
        for label in ["us-ascii", "utf-8", "x-unknown", "shift_jis"] {
            let bytes = b"caf\xe9\xff\xff".to_vec();
            let (out, warning) = transcode(bytes.clone(), Some(label));
            assert_eq!(out, bytes, "{label}");
            assert!(warning.is_some(), "{label}");
        }
        assert_eq!(
            transcode(b"caf\xe9".to_vec(), None),
            (b"caf\xe9".to_vec(), None)
        );
    }

    #[test]
    fn launch_index_from_payload() {
        assert_eq!(
            payload_launch_index(
                b"#cloud-config\nlaunch-index: 1\n",
                &super::super::Limits::default()
            )
            .as_deref(),
            Some("1")
        );
        assert_eq!(
            payload_launch_index(b"#cloud-config\na: 1\n", &super::super::Limits::default()),
            None
        );
    }
}
