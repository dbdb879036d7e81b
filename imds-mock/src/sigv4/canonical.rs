//! The canonical forms of SigV4: canonical URI, query and headers, the string to sign,
//! the signing-key derivation, and the percent-encoding rules they use.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{AuthParams, CredentialScope, SignedRequest, ALGORITHM};

/// The canonical request of SigV4: method, canonical URI, canonical query, canonical
/// headers, signed headers and payload hash, one per line.
pub(super) fn canonical_request(
    req: &SignedRequest<'_>,
    auth: &AuthParams,
    payload_hash: &str,
) -> String {
    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in &auth.signed_headers {
        out.push_str(name);
        out.push(':');
        let values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&auth.signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

pub(super) fn string_to_sign(amz_date: &str, scope: &CredentialScope, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        scope.date,
        scope.region,
        scope.service,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

pub(super) fn sign(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here; an empty
    // result would only make the signature mismatch.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
pub(super) fn signing_key(secret: &str, scope: &CredentialScope) -> Vec<u8> {
    let k_date = sign(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = sign(&k_date, scope.region.as_bytes());
    let k_service = sign(&k_region, scope.service.as_bytes());
    sign(&k_service, b"aws4_request")
}

/// Trim a header value and collapse runs of spaces into one.
pub(super) fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical URI: the path normalised (no empty, `.` or `..` segments) and each byte
/// other than unreserved characters and `/` percent-encoded. The path arrives encoded
/// once, so this encodes it a second time, as SigV4 does for every service but S3.
pub(super) fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| uri_encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if segments.is_empty() {
        return out;
    }
    if path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query: each name and value decoded then encoded as RFC 3986 demands,
/// sorted by name then value, the signature parameter left out.
pub(super) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k, false)),
                uri_encode(&percent_decode(v, false)),
            )
        })
        .filter(|(k, _)| k != "X-Amz-Signature")
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encode every byte except the RFC 3986 unreserved characters.
pub(super) fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes (and `+` as a space when `plus_is_space`, for form bodies);
/// malformed escapes are kept as they are.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The query string as decoded `(name, value)` pairs, in order.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_pairs(query.as_bytes(), false)
}

/// A form body or query string as decoded `(name, value)` pairs, in order.
pub(crate) fn form_pairs(body: &[u8], plus_is_space: bool) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&percent_decode(k, plus_is_space)).into_owned(),
                String::from_utf8_lossy(&percent_decode(v, plus_is_space)).into_owned(),
            )
        })
        .collect()
}
