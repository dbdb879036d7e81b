//! AWS Signature Version 4 for header-signed requests: canonical request, string to
//! sign, signing key and the `Authorization` header.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in the `Authorization` header and string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What a request is signed with.
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    pub time: DateTime<Utc>,
}

/// Percent-encode as SigV4 wants: everything but `A-Z a-z 0-9 - _ . ~`; `/` too
/// unless `encode_slash` is false.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; the error branch cannot happen.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Hex HMAC-SHA256 of the string to sign under the signing key.
pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// The canonical query string: pairs decoded, re-encoded, sorted.
pub fn canonical_query(url: &reqwest::Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k, true), uri_encode(&v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Host` header value the server will see: host, and the port when not the
/// scheme's default.
pub fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The canonical request and the signed-headers list for `headers` (lowercase names).
pub fn canonical_request(
    method: &str,
    url: &reqwest::Url,
    headers: &[(String, String)],
    payload_hash: &str,
) -> (String, String) {
    let mut canon: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), value)
        })
        .collect();
    canon.sort();
    let signed = canon
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let header_block: String = canon.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    let request = format!(
        "{method}\n{path}\n{}\n{header_block}\n{signed}\n{payload_hash}",
        canonical_query(url)
    );
    (request, signed)
}

impl Signer<'_> {
    /// `20150830T123600Z`
    pub fn amz_date(&self) -> String {
        self.time.format("%Y%m%dT%H%M%SZ").to_string()
    }

    /// `20150830/us-east-1/iam/aws4_request`
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.time.format("%Y%m%d"),
            self.region,
            self.service
        )
    }

    /// The string to sign for a canonical request.
    pub fn string_to_sign(&self, canonical_request: &str) -> String {
        format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            self.amz_date(),
            self.scope(),
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// Add `host`, `x-amz-date`, `x-amz-security-token` (with a session token) and
    /// `authorization` to `headers`, signing every header in the list.
    pub fn sign(
        &self,
        method: &str,
        url: &reqwest::Url,
        headers: &mut Vec<(String, String)>,
        body: &[u8],
    ) {
        headers.retain(|(k, _)| {
            !matches!(
                k.to_ascii_lowercase().as_str(),
                "host" | "x-amz-date" | "x-amz-security-token" | "authorization"
            )
        });
        headers.push(("host".into(), host_header(url)));
        headers.push(("x-amz-date".into(), self.amz_date()));
        if let Some(token) = self.session_token {
            headers.push(("x-amz-security-token".into(), token.to_string()));
        }
        let auth = self.authorization(method, url, headers, &sha256_hex(body));
        headers.push(("authorization".into(), auth));
    }

    /// The `Authorization` header value for a request with these headers (all signed).
    pub fn authorization(
        &self,
        method: &str,
        url: &reqwest::Url,
        headers: &[(String, String)],
        payload_hash: &str,
    ) -> String {
        let (canonical, signed) = canonical_request(method, url, headers, payload_hash);
        let key = signing_key(
            self.secret_access_key,
            &self.time.format("%Y%m%d").to_string(),
            self.region,
            self.service,
        );
        let signature = signature(&key, &self.string_to_sign(&canonical));
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={signed}, Signature={signature}",
            self.access_key_id,
            self.scope()
        )
    }
}
