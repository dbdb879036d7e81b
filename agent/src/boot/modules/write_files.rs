//! `write_files` (init stage) and `write_files_deferred` (final stage, entries with
//! `defer: true`): content (text, base64, gzip, `!!binary`), permissions (octal string
//! or number, default 0644), `owner` resolved in the root's `/etc/passwd` and
//! `/etc/group`, `append`, and `source` (cloud-init 25: `uri` and `headers`; the body
//! fetched, with retries, is the file's content, and `content` is used only when the
//! fetch fails; an entry with neither fails). Every path goes through the context, so
//! nothing is written outside `--root`. A bad entry is reported and the other entries
//! are still written. The URI's query (a presigned URL's signature) and the headers are
//! never logged.

use std::io::Read;

use base64::Engine;

use crate::cloudconfig::{Node, Value};

use super::super::context::Boot;
use super::users::{lookup_group, lookup_user};
use super::{scalar_text, truthy, wrong_type, ModuleError, Outcome};

/// `write_files` without the deferred entries.
pub fn write_files(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    run(boot, false)
}

/// The deferred entries of `write_files`.
pub fn write_files_deferred(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    run(boot, true)
}

fn run(boot: &mut Boot<'_>, deferred: bool) -> Result<Outcome, ModuleError> {
    let Some(node) = boot.cfg("write_files").cloned() else {
        return Ok(Outcome::Skipped("no `write_files` in cloud-config".into()));
    };
    let entries = node
        .as_seq()
        .ok_or_else(|| wrong_type("write_files", "a list of files", &node))?;
    let mut failures = Vec::new();
    let mut attempted = 0;
    for (i, entry) in entries.iter().enumerate() {
        if truthy(entry.get("defer"), false) != deferred {
            continue;
        }
        attempted += 1;
        if let Err(err) = write_entry(boot, i, entry) {
            let msg = format!(
                "write_files.{i}: {}",
                super::super::records::error_chain(&err)
            );
            boot.log.line("WARNING", &msg);
            failures.push(msg);
        }
    }
    if attempted == 0 {
        return Ok(Outcome::Skipped(if deferred {
            "no deferred entries".into()
        } else {
            "only deferred entries".into()
        }));
    }
    super::entries_outcome(Vec::new(), failures, attempted)
}

/// Decode an entry's content by its `encoding`.
pub fn decode_content(i: usize, entry: &Node) -> Result<Vec<u8>, ModuleError> {
    let raw: Vec<u8> = match entry.get("content").map(|n| &n.value) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Bytes(b)) => b.clone(),
        Some(_) => scalar_text(entry.get("content").unwrap_or(entry))
            .ok_or_else(|| {
                wrong_type(
                    &format!("write_files.{i}.content"),
                    "a string",
                    entry.get("content").unwrap_or(entry),
                )
            })?
            .into_bytes(),
    };
    let encoding = entry
        .get("encoding")
        .and_then(scalar_text)
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let key = format!("write_files.{i}.content");
    let b64 = |data: &[u8]| {
        let cleaned: Vec<u8> = data
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map_err(|e| ModuleError::Invalid {
                key: key.clone(),
                message: format!("not valid base64: {e}"),
            })
    };
    let gunzip = |data: &[u8]| {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut out)
            .map(|_| out)
            .map_err(|e| ModuleError::Invalid {
                key: key.clone(),
                message: format!("not valid gzip: {e}"),
            })
    };
    match encoding.as_str() {
        "gz" | "gzip" => gunzip(&raw),
        "gz+base64" | "gzip+base64" | "gz+b64" | "gzip+b64" => gunzip(&b64(&raw)?),
        "b64" | "base64" => b64(&raw),
        _ => Ok(raw),
    }
}

/// The mode of an entry (`'0644'`, `0o644`, 420), 0644 by default.
pub fn permissions(entry: &Node) -> Option<u32> {
    match entry.get("permissions").map(|n| &n.value) {
        None | Some(Value::Null) => Some(0o644),
        Some(Value::Int(i)) => u32::try_from(*i).ok(),
        Some(Value::Float(f)) if *f >= 0.0 => Some(*f as u32),
        Some(Value::Str(s)) => {
            let s = s.trim();
            let s = s.strip_prefix("0o").unwrap_or(s);
            u32::from_str_radix(s, 8).ok()
        }
        _ => None,
    }
}

/// One `write_files` entry as the module reads it (also what `strap plan` compares).
pub struct FileEntry {
    pub path: String,
    /// The decoded content.
    pub content: Vec<u8>,
    /// `None` when `permissions` cannot be read (the module then uses 0644).
    pub mode: Option<u32>,
    /// `user:group`, `root:root` by default.
    pub owner: String,
    pub append: bool,
}

/// Read entry `i`: `None` without a `path`, an error when its content does not decode.
pub fn read_entry(i: usize, entry: &Node) -> Result<Option<FileEntry>, ModuleError> {
    read_entry_with(i, entry, None)
}

/// [`read_entry`], with the content already fetched from the entry's `source`, if any.
fn read_entry_with(
    i: usize,
    entry: &Node,
    fetched: Option<Vec<u8>>,
) -> Result<Option<FileEntry>, ModuleError> {
    let Some(path) = entry.get("path").and_then(scalar_text) else {
        return Ok(None);
    };
    let content = match fetched {
        Some(body) => body,
        None => decode_content(i, entry)?,
    };
    Ok(Some(FileEntry {
        path,
        content,
        mode: permissions(entry),
        owner: entry
            .get("owner")
            .and_then(scalar_text)
            .unwrap_or_else(|| "root:root".into()),
        append: truthy(entry.get("append"), false),
    }))
}

/// The largest body a `source` may give.
const MAX_SOURCE_BYTES: usize = 64 << 20;

/// An entry's `source` (cloud-init 25).
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    /// Request headers, in the entry's order.
    pub headers: Vec<(String, String)>,
}

/// An entry's `source`; `None` when absent or its `uri` is empty.
pub fn source(i: usize, entry: &Node) -> Result<Option<Source>, ModuleError> {
    let Some(src) = entry.get("source").filter(|n| !n.is_null()) else {
        return Ok(None);
    };
    let key = format!("write_files.{i}.source");
    if src.as_map().is_none() {
        return Err(wrong_type(&key, "a mapping with `uri`", src));
    }
    let Some(uri) = src
        .get("uri")
        .and_then(scalar_text)
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    if let Some(h) = src.get("headers").filter(|n| !n.is_null()) {
        let map = h
            .as_map()
            .ok_or_else(|| wrong_type(&format!("{key}.headers"), "a mapping", h))?;
        for (k, v) in map {
            let value = scalar_text(v)
                .ok_or_else(|| wrong_type(&format!("{key}.headers"), "string values", v))?;
            headers.push((k.key_text(), value));
        }
    }
    Ok(Some(Source {
        uri: uri.trim().to_string(),
        headers,
    }))
}

impl Source {
    /// `sha256:…` of the source and the content an entry falls back on: what `strap plan`
    /// compares (it does not fetch).
    pub fn digest(&self, fallback: &[u8]) -> String {
        let mut text = Vec::new();
        for part in [self.uri.as_bytes(), b"\0"] {
            text.extend_from_slice(part);
        }
        for (k, v) in &self.headers {
            text.extend_from_slice(format!("{k}: {v}\n").as_bytes());
        }
        text.push(0);
        text.extend_from_slice(fallback);
        crate::boot::applied::sha256(&text)
    }
}

/// A URI as it may be logged: without its query and fragment (a presigned URL's
/// signature) and without user information.
pub fn shown_uri(uri: &str) -> String {
    let cut = uri.find(['?', '#']).map_or(uri, |at| &uri[..at]);
    match cut.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => cut.to_string(),
    }
}

/// The body of an entry's `source`: `Ok(None)` without one or when the fetch failed and
/// `content` stands in (with a warning); an error when it failed and there is no
/// `content`.
fn fetch_source(
    boot: &mut Boot<'_>,
    i: usize,
    entry: &Node,
) -> Result<Option<Vec<u8>>, ModuleError> {
    let Some(Source { uri, headers }) = source(i, entry)? else {
        return Ok(None);
    };
    // cloud-init 25's settings: three retries, three seconds apart.
    let opts = crate::userdata::IncludeOptions {
        retries: 3,
        retry_delay: std::time::Duration::from_secs(3),
        timeout: std::time::Duration::from_secs(30),
        context: boot.ctx.clone(),
        ..Default::default()
    };
    match crate::userdata::include::fetch_blocking(&uri, &headers, &opts, MAX_SOURCE_BYTES) {
        Ok(body) => Ok(Some(body)),
        Err(err) => {
            let shown = shown_uri(&uri);
            if entry.get("content").is_none_or(Node::is_null) {
                return Err(ModuleError::Invalid {
                    key: format!("write_files.{i}.source"),
                    message: format!("cannot fetch {shown}: {err}, and there is no `content`"),
                });
            }
            boot.warn(&format!(
                "write_files.{i}: cannot fetch {shown}: {err}; using `content` instead"
            ));
            Ok(None)
        }
    }
}

fn write_entry(boot: &mut Boot<'_>, i: usize, entry: &Node) -> Result<(), ModuleError> {
    let fetched = if entry.get("path").and_then(scalar_text).is_some() {
        fetch_source(boot, i, entry)?
    } else {
        None
    };
    let Some(FileEntry {
        path: path_text,
        content,
        mode,
        owner,
        append,
    }) = read_entry_with(i, entry, fetched)?
    else {
        boot.warn(&format!("write_files.{i}: no `path`; entry skipped"));
        return Ok(());
    };
    let mode = match mode {
        Some(m) => m,
        None => {
            boot.warn(&format!(
                "write_files.{i}.permissions: cannot read the mode; using 0644"
            ));
            0o644
        }
    };
    // Resolve the owner first: a missing user fails before anything is written.
    let mut ids = resolve_owner(boot, i, &owner)?;
    if ids.is_some() && !boot.on_real_root() && !nix::unistd::geteuid().is_root() {
        // An ordinary user cannot give files away: under --root the owner is noted only.
        boot.log.line(
            "INFO",
            &format!("write_files.{i}: owner {owner} not applied (not running as root)"),
        );
        ids = None;
    }
    let target = boot
        .ctx
        .path(&path_text)
        .map_err(|source| ModuleError::Path {
            path: path_text.clone(),
            source,
        })?;
    // Everything below goes through the folder's handle (see `context::beneath`): the
    // folders are made by the walk, the file is created beside its target and renamed,
    // its owner and mode are set on the open file, never by path.
    let as_path_error = |source| ModuleError::Path {
        path: path_text.clone(),
        source,
    };
    let root = boot.ctx.root();
    if let Some(parent) = target.parent() {
        let opts = crate::context::FileOptions {
            mode: None,
            owner: ids,
        };
        crate::context::create_folder(root, parent, opts).map_err(as_path_error)?;
    }
    let opts = crate::context::FileOptions {
        mode: Some(mode & 0o7777),
        owner: ids,
    };
    if append {
        crate::context::append_file(root, &target, &content, opts).map_err(as_path_error)?;
    } else {
        crate::boot::durable::write_with(root, &target, &content, opts).map_err(as_path_error)?;
    }
    Ok(())
}

/// `user:group` to ids in the root's account files; `None` to leave ownership alone.
fn resolve_owner(
    boot: &Boot<'_>,
    i: usize,
    owner: &str,
) -> Result<Option<(u32, u32)>, ModuleError> {
    let owner = owner.trim();
    if owner.is_empty() || owner == "-1" || owner.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (user, group) = owner.split_once(':').unwrap_or((owner, ""));
    let key = format!("write_files.{i}.owner");
    let account = lookup_user(boot.ctx, user).ok_or_else(|| ModuleError::Invalid {
        key: key.clone(),
        message: format!(
            "user `{user}` does not exist (yet): create it with `users:` and give this entry `defer: true`"
        ),
    })?;
    let gid = if group.is_empty() {
        account.gid
    } else {
        lookup_group(boot.ctx, group)
            .ok_or_else(|| ModuleError::Invalid {
                key,
                message: format!("group `{group}` does not exist"),
            })?
            .gid
    };
    Ok(Some((account.uid, gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_encodings_and_modes() {
        let n = crate::cloudconfig::load("- {content: aGk=, encoding: b64, permissions: '0600'}\n- {content: hi}\n- {permissions: '0o755'}\n").unwrap();
        let e = n.as_seq().unwrap();
        assert_eq!(decode_content(0, &e[0]).unwrap(), b"hi");
        assert_eq!(permissions(&e[0]), Some(0o600));
        assert_eq!(decode_content(1, &e[1]).unwrap(), b"hi");
        assert_eq!(permissions(&e[1]), Some(0o644));
        assert_eq!(decode_content(2, &e[2]).unwrap(), b"");
        assert_eq!(permissions(&e[2]), Some(0o755));
    }

    #[test]
    fn gzip_base64_content_is_unpacked() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"packed").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let n = crate::cloudconfig::load(&format!("content: {b64}\nencoding: gz+b64\n")).unwrap();
        assert_eq!(decode_content(0, &n).unwrap(), b"packed");
    }

    #[test]
    fn source_uris_are_shown_without_secrets() {
        assert_eq!(
            shown_uri("https://b.s3.amazonaws.com/k/f?X-Amz-Signature=abc"),
            "https://b.s3.amazonaws.com/k/f"
        );
        assert_eq!(shown_uri("https://u:p@h/x#frag"), "https://h/x");
        assert_eq!(shown_uri("https://h"), "https://h");
        assert_eq!(shown_uri("file:///etc/x"), "file:///etc/x");
    }

    #[test]
    fn a_source_needs_a_uri_and_string_headers() {
        let n = crate::cloudconfig::load(
            "- {path: /a, source: {uri: 'http://h/x', headers: {Authorization: t, X-N: 1}}}\n\
             - {path: /b, source: {uri: ''}}\n- {path: /c, source: x}\n",
        )
        .unwrap();
        let e = n.as_seq().unwrap();
        let Source { uri, headers } = source(0, &e[0]).unwrap().unwrap();
        assert_eq!(uri, "http://h/x");
        assert_eq!(
            headers,
            [
                ("Authorization".to_string(), "t".to_string()),
                ("X-N".to_string(), "1".to_string())
            ]
        );
        assert!(source(1, &e[1]).unwrap().is_none());
        assert!(source(2, &e[2]).is_err());
    }
}
