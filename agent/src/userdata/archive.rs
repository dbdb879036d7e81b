//! `#cloud-config-archive`: a YAML list whose entries become parts (spec 1.6). Each
//! entry is a string (its content) or a mapping with `content`, `type`, `filename`,
//! `launch-index` and extra keys that act as MIME headers (`Merge-Type`). A missing type
//! is sniffed from the content (default `text/cloud-config`, `application/octet-stream`
//! for `!!binary`). Entries are not re-sniffed or expanded further. Pure, no I/O.

use base64::Engine as _;
use serde_yaml::Value;

use super::{content_type as ct, detect};

/// One archive entry, ready to be attached as a part.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    pub content_type: String,
    pub filename: Option<String>,
    pub launch_index: Option<String>,
    pub payload: Vec<u8>,
    /// Extra keys, as headers (`Merge-Type`).
    pub headers: Vec<(String, String)>,
}

/// Keys that are not copied as headers.
const RESERVED: &[&str] = &[
    "content",
    "filename",
    "type",
    "launch-index",
    "content-disposition",
    "number-attachments",
    "content-type",
];

/// The entries of an archive, and warnings for what was skipped; an archive nested too
/// deep, expanding to too many nodes or holding more than `max_entries` entries is
/// refused before it is loaded.
pub(super) fn explode(
    payload: &[u8],
    limits: &super::Limits,
) -> Result<(Vec<Entry>, Vec<String>), super::yamlguard::Refused> {
    let mut warnings = Vec::new();
    let text = match std::str::from_utf8(payload) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!(
                "cloud-config-archive is not valid UTF-8 at byte {}: no entries taken",
                e.valid_up_to()
            ));
            return Ok((Vec::new(), warnings));
        }
    };
    super::yamlguard::check(
        text,
        limits.yaml_max_depth,
        limits.yaml_max_nodes,
        limits.max_parts,
    )?;
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let at = e
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            warnings.push(format!(
                "failed loading cloud-config-archive yaml{at}: no entries taken"
            ));
            return Ok((Vec::new(), warnings));
        }
    };
    let items = match root {
        Value::Sequence(items) => items,
        Value::Null => return Ok((Vec::new(), warnings)),
        other => {
            warnings.push(format!(
                "cloud-config-archive must be a YAML list, not {}: no entries taken",
                kind(&other)
            ));
            return Ok((Vec::new(), warnings));
        }
    };
    let mut entries = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let map = match item {
            Value::String(s) => {
                let mut m = serde_yaml::Mapping::new();
                m.insert(Value::String("content".into()), Value::String(s));
                m
            }
            Value::Mapping(m) => m,
            other => {
                warnings.push(format!(
                    "cloud-config-archive entry {} is a {}, not a string or mapping: skipped",
                    i + 1,
                    kind(&other)
                ));
                continue;
            }
        };
        match entry(&map) {
            Ok(e) => entries.push(e),
            Err(why) => warnings.push(format!(
                "cloud-config-archive entry {}: {why}: skipped",
                i + 1
            )),
        }
    }
    Ok((entries, warnings))
}

fn entry(map: &serde_yaml::Mapping) -> Result<Entry, String> {
    let get = |key: &str| map.get(Value::String(key.into()));
    let (payload, binary) = match get("content") {
        None | Some(Value::Null) => (Vec::new(), false),
        Some(Value::String(s)) => (s.clone().into_bytes(), false),
        Some(v) => match binary(v) {
            Some(bytes) => (bytes, true),
            None => return Err(format!("content is a {}, not text", kind(v))),
        },
    };
    let declared = get("type").and_then(scalar).filter(|t| !t.is_empty());
    let content_type = match declared {
        Some(t) => t,
        None if binary => detect::sniff(&payload, false)
            .unwrap_or("application/octet-stream")
            .to_string(),
        None => detect::sniff(&payload, true)
            .unwrap_or(ct::CLOUD_CONFIG)
            .to_string(),
    };
    if !content_type.contains('/') {
        return Err(format!("type {content_type:?} is not a MIME type"));
    }
    let mut headers = Vec::new();
    for (k, v) in map {
        let Some(name) = k.as_str() else { continue };
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        if let Some(value) = scalar(v) {
            headers.push((name.to_string(), value));
        }
    }
    Ok(Entry {
        content_type,
        filename: get("filename").and_then(scalar),
        launch_index: get("launch-index").and_then(scalar),
        payload,
        headers,
    })
}

/// `!!binary` content.
fn binary(v: &Value) -> Option<Vec<u8>> {
    let Value::Tagged(tagged) = v else {
        return None;
    };
    if !tagged.tag.to_string().ends_with("binary") {
        return None;
    }
    let text: String = tagged.value.as_str()?.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A scalar as Python's `str()` prints it.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explode(payload: &[u8]) -> (Vec<Entry>, Vec<String>) {
        super::explode(payload, &super::super::Limits::default()).unwrap()
    }

    #[test]
    fn strings_and_mappings_become_entries() {
        let (entries, warnings) = explode(
            b"#cloud-config-archive\n- '#!/bin/sh\n\n  echo hi'\n- type: text/x-shellscript\n  filename: b.sh\n  content: echo\n- content: 'a: 1'\n  launch-index: 2\n  Merge-Type: list(append)\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].content_type, ct::SHELLSCRIPT);
        assert_eq!(entries[1].content_type, ct::SHELLSCRIPT);
        assert_eq!(entries[1].filename.as_deref(), Some("b.sh"));
        assert_eq!(entries[2].content_type, ct::CLOUD_CONFIG);
        assert_eq!(entries[2].launch_index.as_deref(), Some("2"));
        assert_eq!(
            entries[2].headers,
            [("Merge-Type".to_string(), "list(append)".to_string())]
        );
    }

    #[test]
    fn not_a_list_gives_nothing_and_a_warning() {
        let (entries, warnings) = explode(b"#cloud-config-archive\na: 1\n");
        assert!(entries.is_empty());
        assert_eq!(warnings.len(), 1);
        let (entries, warnings) = explode(b"- [unclosed\n");
        assert!(entries.is_empty());
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn odd_entries_are_skipped_with_a_warning() {
        let (entries, warnings) = explode(b"- 5\n- {type: bogus, content: x}\n- x\n");
        assert_eq!(entries.len(), 1);
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn a_million_entries_are_refused_before_they_are_loaded() {
        let text = "- a\n".repeat(1_000_000);
        let err = super::explode(text.as_bytes(), &super::super::Limits::default()).unwrap_err();
        assert_eq!(err.limit, "max_parts");
    }
}
