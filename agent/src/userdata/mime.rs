//! MIME messages as Python's `email` package (compat32 policy) reads them, which is
//! what cloud-init uses: header parsing and folding, `Content-Type` parameters,
//! multipart boundaries (preamble, epilogue, missing close boundary), nested multiparts
//! flattened to their leaves in order, `Content-Transfer-Encoding` (base64,
//! quoted-printable) undone, and `make-mime`'s writer. Pure functions over text, no I/O.

use base64::Engine as _;

/// A leaf (non-multipart) part of a message.
#[derive(Clone, Debug, Default)]
pub struct Leaf {
    /// Headers in order, names as written, values unfolded only of their leading blanks.
    pub headers: Vec<(String, String)>,
    /// The body as it stands in the message (transfer encoding not undone).
    pub body: String,
    /// How deep in nested multiparts this part sat (0 for a non-multipart message).
    pub depth: usize,
}

/// Why a message could not be flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MimeLimit {
    /// Multiparts nest deeper than allowed.
    TooDeep { max: usize },
    /// More parts than allowed.
    TooManyParts { max: usize },
}

impl Leaf {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The bare content type, lower-cased; `text/plain` when absent or malformed.
    pub fn content_type(&self) -> String {
        content_type_of(&self.headers)
    }

    /// A parameter of a header (`charset` of `Content-Type`), unquoted.
    pub fn param(&self, header_name: &str, param: &str) -> Option<String> {
        self.header(header_name).and_then(|v| param_of(v, param))
    }

    /// The filename: `Content-Disposition`'s `filename`, else `Content-Type`'s `name`,
    /// trimmed; `None` when absent or empty.
    pub fn filename(&self) -> Option<String> {
        self.param("content-disposition", "filename")
            .or_else(|| self.param("content-type", "name"))
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
    }

    /// The payload with its `Content-Transfer-Encoding` undone.
    pub fn decoded_body(&self) -> Vec<u8> {
        let cte = self
            .header("content-transfer-encoding")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match cte.as_str() {
            "base64" => decode_base64_lenient(self.body.as_bytes()),
            "quoted-printable" => decode_quoted_printable(self.body.as_bytes()),
            _ => self.body.as_bytes().to_vec(),
        }
    }
}

/// The first header of that name (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn content_type_of(headers: &[(String, String)]) -> String {
    let Some(value) = header(headers, "content-type") else {
        return "text/plain".into();
    };
    let bare = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if bare.matches('/').count() == 1 {
        bare
    } else {
        "text/plain".into()
    }
}

/// Split a header value on `;` outside quotes, as `email.message._parseparam` does.
fn split_params(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// One parameter of a header value, unquoted (RFC 2231 `name*=charset''value` too).
pub fn param_of(value: &str, wanted: &str) -> Option<String> {
    let params = split_params(value);
    let mut extended = None;
    for p in params.iter().skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim();
        if k == wanted {
            return Some(unquote(v));
        }
        if extended.is_none() && k == format!("{wanted}*") {
            let raw = unquote(v);
            // charset'language'percent-encoded
            let text = raw.splitn(3, '\'').nth(2).unwrap_or(&raw).to_string();
            extended = Some(percent_decode(&text));
        }
    }
    extended
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1]
            .replace("\\\\", "\\")
            .replace("\\\"", "\"")
    } else if v.len() >= 2 && v.starts_with('<') && v.ends_with('>') {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Lines with their endings (`\r\n`, `\r` or `\n`), as the feed parser splits them.
fn lines_keep_ends(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..=i]);
                start = i + 1;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') {
                    i + 1
                } else {
                    i
                };
                out.push(&text[start..=end]);
                i = end;
                start = end + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn strip_eol(line: &str) -> &str {
    line.strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .or_else(|| line.strip_suffix('\r'))
        .unwrap_or(line)
}

/// Whether a line may start or continue a header block (`email.feedparser.headerRE`).
fn is_header_line(line: &str) -> bool {
    if line.starts_with("From ") || line.starts_with(' ') || line.starts_with('\t') {
        return true;
    }
    for b in line.bytes() {
        match b {
            b':' => return true,
            0x21..=0x39 | 0x3b..=0x7e => {}
            _ => return false,
        }
    }
    false
}

/// Split a message into its headers and body.
fn split_headers(text: &str) -> (Vec<(String, String)>, String) {
    let lines = lines_keep_ends(text);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body_start = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if !is_header_line(line) {
            // A blank line ends the headers and is dropped; any other line starts the body.
            body_start = if strip_eol(line).is_empty() && line.len() > strip_eol(line).len() {
                i + 1
            } else {
                i
            };
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
                let trimmed = value.trim_end_matches(['\r', '\n']).len();
                value.truncate(trimmed);
            }
            continue;
        }
        if line.starts_with("From ") {
            continue;
        }
        let Some(colon) = line.find(':') else {
            continue;
        };
        if colon == 0 {
            continue;
        }
        let name = line[..colon].to_string();
        let value = line[colon + 1..]
            .trim_start_matches([' ', '\t'])
            .trim_end_matches(['\r', '\n'])
            .to_string();
        headers.push((name, value));
    }
    let body: String = lines[body_start.min(lines.len())..].concat();
    (headers, body)
}

/// Parse a MIME message and return its leaves in order, nested multiparts flattened.
/// A multipart without a boundary, or whose first boundary never appears, has no
/// leaves (Python keeps it as an opaque container that cloud-init skips).
pub fn flatten(text: &str, max_depth: usize, max_parts: usize) -> Result<Vec<Leaf>, MimeLimit> {
    let mut leaves = Vec::new();
    walk(text, 0, false, max_depth, max_parts, &mut leaves)?;
    Ok(leaves)
}

fn walk(
    text: &str,
    depth: usize,
    in_digest: bool,
    max_depth: usize,
    max_parts: usize,
    leaves: &mut Vec<Leaf>,
) -> Result<(), MimeLimit> {
    if depth > max_depth {
        return Err(MimeLimit::TooDeep { max: max_depth });
    }
    let (mut headers, body) = split_headers(text);
    if in_digest && header(&headers, "content-type").is_none() {
        headers.push(("Content-Type".into(), "message/rfc822".into()));
    }
    let ctype = content_type_of(&headers);
    if !ctype.starts_with("multipart/") {
        if leaves.len() >= max_parts {
            return Err(MimeLimit::TooManyParts { max: max_parts });
        }
        leaves.push(Leaf {
            headers,
            body,
            depth,
        });
        return Ok(());
    }
    let Some(boundary) = header(&headers, "content-type")
        .and_then(|v| param_of(v, "boundary"))
        .map(|b| b.trim_end().to_string())
    else {
        return Ok(());
    };
    let digest = ctype == "multipart/digest";
    for part in split_multipart(&body, &boundary) {
        walk(&part, depth + 1, digest, max_depth, max_parts, leaves)?;
    }
    Ok(())
}

/// Whether `line` is a boundary line for `sep` (`--boundary`), and if so whether it closes.
fn boundary_match(line: &str, sep: &str) -> Option<bool> {
    let rest = line.strip_prefix(sep)?;
    let (close, rest) = match rest.strip_prefix("--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    matches!(rest, "" | "\n" | "\r" | "\r\n").then_some(close)
}

/// The texts of a multipart body's parts: between boundary lines, the line ending before
/// each boundary belonging to the boundary. Consecutive boundary lines give no empty
/// part; a missing close boundary ends the last part at the end of the text.
fn split_multipart(body: &str, boundary: &str) -> Vec<String> {
    let sep = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut current: Option<String> = None;
    let mut started = false;
    for line in lines_keep_ends(body) {
        match boundary_match(line, &sep) {
            Some(close) => {
                if let Some(part) = current.take() {
                    parts.push(strip_final_eol(part));
                }
                if close && started {
                    return parts;
                }
                if !close {
                    started = true;
                }
            }
            None => {
                if started {
                    current.get_or_insert_with(String::new).push_str(line);
                }
            }
        }
    }
    if let Some(part) = current {
        parts.push(strip_final_eol(part));
    }
    parts
}

fn strip_final_eol(mut s: String) -> String {
    let keep = strip_eol(&s).len();
    s.truncate(keep);
    s
}

/// Base64 as Python's `email` decodes a part: line breaks and stray characters
/// ignored, missing padding tolerated; undecodable text is returned as it is.
pub fn decode_base64_lenient(body: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    // A lone trailing character cannot be decoded: drop it, as binascii does.
    let usable = if clean.len() % 4 == 1 {
        &clean[..clean.len() - 1]
    } else {
        &clean[..]
    };
    engine.decode(usable).unwrap_or_else(|_| body.to_vec())
}

/// Quoted-printable (`=XX`, soft line breaks `=\n`), invalid escapes kept literally.
pub fn decode_quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        match (body.get(i + 1), body.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) | (Some(b'\r'), _) => i += 2,
            (None, _) => i += 1,
            (Some(h), Some(l)) if hex_value(*h).is_some() && hex_value(*l).is_some() => {
                out.push(hex_value(*h).unwrap_or(0) * 16 + hex_value(*l).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

/// One part of a message to write (`make-mime`).
#[derive(Clone, Debug)]
pub struct OutPart {
    /// Full content type (`text/cloud-config`).
    pub content_type: String,
    /// Filename for `Content-Disposition`.
    pub filename: String,
    /// Payload (always written base64, as Python's `MIMEText` writes UTF-8 text).
    pub payload: Vec<u8>,
}

/// Write a `multipart/mixed` message as `cloud-init devel make-mime` does (Python's
/// `MIMEMultipart` holding one UTF-8 `MIMEText` per part). `boundary` is chosen by the
/// caller.
pub fn write_multipart(parts: &[OutPart], boundary: &str) -> String {
    let mut out =
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n");
    for part in parts {
        let charset = if std::str::from_utf8(&part.payload).is_ok() {
            "; charset=\"utf-8\""
        } else {
            ""
        };
        let filename = part.filename.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!(
            "--{boundary}\nContent-Type: {}{charset}\nMIME-Version: 1.0\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"{filename}\"\n\n",
            part.content_type
        ));
        let encoded = base64::engine::general_purpose::STANDARD.encode(&part.payload);
        for chunk in encoded.as_bytes().chunks(76) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!("--{boundary}--\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n--XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho 1\n\n--XX\nContent-Type: text/cloud-config\nContent-Disposition: attachment; filename=\"cc.yaml\"\n\n#cloud-config\na: 1\n--XX--\nepilogue\n";

    #[test]
    fn splits_parts_and_keeps_the_blank_line_before_a_boundary_only_once() {
        let leaves = flatten(TWO, 10, 100).unwrap();
        assert_eq!(leaves.len(), 2);
        assert_eq!(leaves[0].content_type(), "text/x-shellscript");
        assert_eq!(leaves[0].body, "#!/bin/sh\necho 1\n");
        assert_eq!(leaves[1].filename().as_deref(), Some("cc.yaml"));
        assert_eq!(leaves[1].body, "#cloud-config\na: 1");
    }

    #[test]
    fn crlf_messages_parse() {
        let crlf = TWO.replace('\n', "\r\n");
        let leaves = flatten(&crlf, 10, 100).unwrap();
        assert_eq!(leaves.len(), 2);
        assert_eq!(leaves[0].body, "#!/bin/sh\r\necho 1\r\n");
        assert_eq!(leaves[0].content_type(), "text/x-shellscript");
    }

    #[test]
    fn nested_multiparts_flatten_in_order() {
        let msg = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n--a\n\nthree\n--a--\n";
        let leaves = flatten(msg, 10, 100).unwrap();
        let bodies: Vec<_> = leaves.iter().map(|l| l.body.as_str()).collect();
        assert_eq!(bodies, ["one", "two", "three"]);
        assert_eq!(leaves[0].content_type(), "text/plain");
        assert!(matches!(
            flatten(msg, 1, 100),
            Err(MimeLimit::TooDeep { .. })
        ));
        assert!(matches!(
            flatten(msg, 10, 2),
            Err(MimeLimit::TooManyParts { .. })
        ));
    }

    #[test]
    fn missing_close_boundary_keeps_the_last_part() {
        let msg = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=a\n\n--a\n\none\n--a\n\ntwo\n";
        let bodies: Vec<_> = flatten(msg, 10, 100)
            .unwrap()
            .into_iter()
            .map(|l| l.body)
            .collect();
        assert_eq!(bodies, ["one", "two"]);
    }

    #[test]
    fn missing_start_boundary_or_boundary_param_gives_nothing() {
        let msg = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=a\n\n--b\n\none\n";
        assert!(flatten(msg, 10, 100).unwrap().is_empty());
        let msg = "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--a\n\none\n";
        assert!(flatten(msg, 10, 100).unwrap().is_empty());
    }

    #[test]
    fn folded_headers_and_parameters() {
        let msg = "MIME-Version: 1.0\nContent-Type: text/x-shellscript;\n name=\"run.sh\"\nContent-Transfer-Encoding: base64\n\nIyEvYmluL3No\nCmVjaG8gaGk=\n";
        let leaves = flatten(msg, 10, 100).unwrap();
        assert_eq!(leaves[0].content_type(), "text/x-shellscript");
        assert_eq!(leaves[0].filename().as_deref(), Some("run.sh"));
        assert_eq!(leaves[0].decoded_body(), b"#!/bin/sh\necho hi");
    }

    #[test]
    fn malformed_content_type_is_text_plain() {
        let msg = "MIME-Version: 1.0\nContent-Type: garbage\n\nbody";
        assert_eq!(
            flatten(msg, 10, 100).unwrap()[0].content_type(),
            "text/plain"
        );
    }

    #[test]
    fn quoted_printable() {
        assert_eq!(
            decode_quoted_printable(b"caf=C3=A9 =\nx=3D1 =zz"),
            "café x=1 =zz".as_bytes()
        );
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(decode_base64_lenient(b"aGk"), b"hi");
        assert_eq!(decode_base64_lenient(b"aG\n k=\n"), b"hi");
    }

    #[test]
    fn written_messages_read_back() {
        let parts = vec![
            OutPart {
                content_type: "text/cloud-config".into(),
                filename: "a.yaml".into(),
                payload: b"#cloud-config\na: 1\n".to_vec(),
            },
            OutPart {
                content_type: "text/x-shellscript".into(),
                filename: "b.sh".into(),
                payload: "#!/bin/sh\necho é\n".as_bytes().to_vec(),
            },
        ];
        let text = write_multipart(&parts, "===============123==");
        let leaves = flatten(&text, 10, 100).unwrap();
        assert_eq!(leaves.len(), 2);
        for (leaf, part) in leaves.iter().zip(&parts) {
            assert_eq!(leaf.content_type(), part.content_type);
            assert_eq!(leaf.filename().unwrap(), part.filename);
            assert_eq!(leaf.decoded_body(), part.payload);
        }
    }
}
