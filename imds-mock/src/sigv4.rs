//! Verification of AWS Signature Version 4 on requests to the mock's STS: the
//! `Authorization` header form and the presigned query-string form. It rebuilds the
//! canonical request and string to sign from what arrived on the wire, derives the signing
//! key from the secret of the issued key the request names, and compares signatures in
//! constant time. It owns no state and never logs secrets; the caller supplies the key
//! store and the clock.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::keys::{IssuedKey, KeyStore};
use crate::sts::StsError;

/// The only signing algorithm accepted (SigV4a is not supported).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);

/// The longest lifetime of a presigned URL (`X-Amz-Expires`), as AWS allows: 7 days.
pub const MAX_PRESIGN_EXPIRES_SECS: i64 = 604_800;

/// The `x-amz-date` format: `20150830T123600Z`.
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The payload-hash marker that tells the verifier the body was not hashed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// An incoming HTTP request as the verifier needs it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as it arrived on the wire (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without the leading `?` (empty when none).
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// What the `Credential=` scope of a signature names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    /// `yyyymmdd`.
    pub date: String,
    pub region: String,
    pub service: String,
}

/// The authentication parameters of a request, from the header or the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AuthParams {
    scope: CredentialScope,
    signed_headers: Vec<String>,
    signature: String,
    /// The request timestamp as sent (`x-amz-date` or `X-Amz-Date`).
    amz_date: String,
    /// The session token as sent, if any.
    security_token: Option<String>,
    /// `Some(expires)` for the presigned form.
    presign_expires: Option<i64>,
}

/// Verify the SigV4 signature of an STS request (scope service `sts`, any region) and
/// return the issued key that signed it.
pub fn verify(
    req: &SignedRequest<'_>,
    store: &dyn KeyStore,
    now: DateTime<Utc>,
) -> Result<IssuedKey, StsError> {
    verify_for_service(req, store, now, "sts")
}

/// Whether a request carries SigV4 authentication at all (header or presigned query).
pub fn is_signed(req: &SignedRequest<'_>) -> bool {
    req.headers.contains_key(http::header::AUTHORIZATION)
        || query_pairs(req.query)
            .iter()
            .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Algorithm")
}

/// Verify a SigV4 signature whose scope must name `service` (any region).
pub fn verify_for_service(
    req: &SignedRequest<'_>,
    store: &dyn KeyStore,
    now: DateTime<Utc>,
    service: &str,
) -> Result<IssuedKey, StsError> {
    let auth = auth_params(req)?;

    if auth.scope.service != service {
        return Err(StsError::SignatureDoesNotMatch {
            reason: format!("Credential should be scoped to correct service: '{service}'. "),
        });
    }
    let date = parse_amz_date(&auth.amz_date)?;
    check_time(&auth, date, now)?;
    if auth.scope.date != date.format("%Y%m%d").to_string() {
        return Err(StsError::SignatureDoesNotMatch {
            reason: format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                auth.scope.date,
                date.format("%Y%m%d"),
                auth.amz_date
            ),
        });
    }

    let key = store
        .lookup(&auth.scope.access_key_id)
        .ok_or(StsError::InvalidClientTokenId)?;
    check_session_token(&key, auth.security_token.as_deref())?;
    if key.expiration <= now {
        return Err(StsError::ExpiredToken);
    }

    let payload_hash = payload_hash(req, &auth)?;
    let canonical = canonical_request(req, &auth, &payload_hash);
    let to_sign = string_to_sign(&auth.amz_date, &auth.scope, &canonical);
    let expected = hex::encode(sign(
        &signing_key(&key.secret_access_key, &auth.scope),
        to_sign.as_bytes(),
    ));
    let given = auth.signature.to_ascii_lowercase();
    if expected.as_bytes().ct_eq(given.as_bytes()).into() {
        Ok(key)
    } else {
        Err(StsError::SignatureDoesNotMatch {
            reason: String::new(),
        })
    }
}

/// The session token must be the one issued with the key; a key issued without one
/// (long-term) must not be sent with one.
fn check_session_token(key: &IssuedKey, sent: Option<&str>) -> Result<(), StsError> {
    let ok = match sent {
        Some(sent) => {
            !key.session_token.is_empty()
                && bool::from(sent.as_bytes().ct_eq(key.session_token.as_bytes()))
        }
        None => key.session_token.is_empty(),
    };
    if ok {
        Ok(())
    } else {
        Err(StsError::InvalidClientTokenId)
    }
}

fn check_time(auth: &AuthParams, date: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), StsError> {
    let fmt = |t: DateTime<Utc>| t.format(AMZ_DATE_FORMAT).to_string();
    if let Some(expires) = auth.presign_expires {
        if !(1..=MAX_PRESIGN_EXPIRES_SECS).contains(&expires) {
            return Err(StsError::IncompleteSignature {
                reason: format!(
                    "X-Amz-Expires must be between 1 and {MAX_PRESIGN_EXPIRES_SECS} seconds"
                ),
            });
        }
        if now > date + Duration::seconds(expires) {
            return Err(StsError::RequestExpired);
        }
        if date > now + MAX_CLOCK_SKEW {
            return Err(StsError::SignatureDoesNotMatch {
                reason: format!(
                    "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                    fmt(date),
                    fmt(now + MAX_CLOCK_SKEW),
                    fmt(now)
                ),
            });
        }
        return Ok(());
    }
    if date < now - MAX_CLOCK_SKEW {
        return Err(StsError::SignatureDoesNotMatch {
            reason: format!(
                "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                fmt(date),
                fmt(now - MAX_CLOCK_SKEW),
                fmt(now)
            ),
        });
    }
    if date > now + MAX_CLOCK_SKEW {
        return Err(StsError::SignatureDoesNotMatch {
            reason: format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                fmt(date),
                fmt(now + MAX_CLOCK_SKEW),
                fmt(now)
            ),
        });
    }
    Ok(())
}

fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, StsError> {
    NaiveDateTime::parse_from_str(value, AMZ_DATE_FORMAT)
        .map(|naive| Utc.from_utc_datetime(&naive))
        .or_else(|_| DateTime::parse_from_rfc2822(value).map(|t| t.with_timezone(&Utc)))
        .map_err(|_| StsError::IncompleteSignature {
            reason: format!("Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"),
        })
}

fn header_str<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Collect the authentication parameters from the `Authorization` header, or from the
/// query string for a presigned request.
fn auth_params(req: &SignedRequest<'_>) -> Result<AuthParams, StsError> {
    if let Some(value) = req.headers.get(http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| StsError::IncompleteSignature {
            reason: "Authorization header is not valid ASCII".into(),
        })?;
        return header_auth_params(value, req.headers);
    }
    let pairs = query_pairs(req.query);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("X-Amz-Signature").is_none() && get("X-Amz-Algorithm").is_none() {
        return Err(StsError::MissingAuthenticationToken);
    }
    let mut missing = Vec::new();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
        "X-Amz-Expires",
    ] {
        if get(name).is_none() {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(StsError::IncompleteSignature {
            reason: format!(
                "AWS query-string parameters missing: {}",
                missing.join(", ")
            ),
        });
    }
    let algorithm = get("X-Amz-Algorithm").unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(StsError::IncompleteSignature {
            reason: format!("Unsupported AWS 'algorithm': '{algorithm}'"),
        });
    }
    let expires = get("X-Amz-Expires").unwrap_or_default();
    let expires = expires
        .parse::<i64>()
        .map_err(|_| StsError::IncompleteSignature {
            reason: format!("X-Amz-Expires must be a number of seconds, got '{expires}'"),
        })?;
    Ok(AuthParams {
        scope: parse_scope(&get("X-Amz-Credential").unwrap_or_default())?,
        signed_headers: split_signed_headers(&get("X-Amz-SignedHeaders").unwrap_or_default()),
        signature: get("X-Amz-Signature").unwrap_or_default(),
        amz_date: get("X-Amz-Date").unwrap_or_default(),
        security_token: get("X-Amz-Security-Token"),
        presign_expires: Some(expires),
    })
}

fn header_auth_params(value: &str, headers: &http::HeaderMap) -> Result<AuthParams, StsError> {
    let value = value.trim();
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(StsError::IncompleteSignature {
            reason: format!("Unsupported AWS 'algorithm': '{algorithm}'"),
        });
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if value.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let amz_date = header_str(headers, "x-amz-date").or_else(|| header_str(headers, "date"));
    if amz_date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        return Err(StsError::IncompleteSignature {
            reason: format!("{missing}Authorization={value}"),
        });
    }
    Ok(AuthParams {
        scope: parse_scope(credential.unwrap_or_default())?,
        signed_headers: split_signed_headers(signed.unwrap_or_default()),
        signature: signature.unwrap_or_default().to_string(),
        amz_date: amz_date.unwrap_or_default().to_string(),
        security_token: header_str(headers, "x-amz-security-token").map(str::to_string),
        presign_expires: None,
    })
}

fn parse_scope(credential: &str) -> Result<CredentialScope, StsError> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [akid, date, region, service, "aws4_request"]
            if !akid.is_empty() && !date.is_empty() && !region.is_empty() =>
        {
            Ok(CredentialScope {
                access_key_id: (*akid).to_string(),
                date: (*date).to_string(),
                region: (*region).to_string(),
                service: (*service).to_string(),
            })
        }
        _ => Err(StsError::IncompleteSignature {
            reason: format!("Credential should be scoped to a valid region, not '{credential}'. "),
        }),
    }
}

fn split_signed_headers(value: &str) -> Vec<String> {
    value
        .split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The payload hash that goes into the canonical request: the body's SHA-256, or
/// `UNSIGNED-PAYLOAD` when the client said so in a signed `x-amz-content-sha256`.
fn payload_hash(req: &SignedRequest<'_>, auth: &AuthParams) -> Result<String, StsError> {
    let computed = hex::encode(Sha256::digest(req.body));
    match header_str(req.headers, "x-amz-content-sha256") {
        Some(UNSIGNED_PAYLOAD) => Ok(UNSIGNED_PAYLOAD.to_string()),
        Some(sent) if auth.presign_expires.is_none() && !sent.eq_ignore_ascii_case(&computed) => {
            Err(StsError::SignatureDoesNotMatch {
                reason:
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
            })
        }
        _ => Ok(computed),
    }
}

/// The canonical request of SigV4: method, canonical URI, canonical query, canonical
/// headers, signed headers and payload hash, one per line.
fn canonical_request(req: &SignedRequest<'_>, auth: &AuthParams, payload_hash: &str) -> String {
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

fn string_to_sign(amz_date: &str, scope: &CredentialScope, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        scope.date,
        scope.region,
        scope.service,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

fn sign(key: &[u8], data: &[u8]) -> Vec<u8> {
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
fn signing_key(secret: &str, scope: &CredentialScope) -> Vec<u8> {
    let k_date = sign(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = sign(&k_date, scope.region.as_bytes());
    let k_service = sign(&k_region, scope.service.as_bytes());
    sign(&k_service, b"aws4_request")
}

/// Trim a header value and collapse runs of spaces into one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical URI: the path normalised (no empty, `.` or `..` segments) and each byte
/// other than unreserved characters and `/` percent-encoded. The path arrives encoded
/// once, so this encodes it a second time, as SigV4 does for every service but S3.
fn canonical_uri(path: &str) -> String {
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
fn canonical_query(query: &str) -> String {
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
fn uri_encode(bytes: &[u8]) -> String {
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

/// Sign a request with the Authorization-header form, as a client would, for tests and
/// tools that need a signed request. Adds `x-amz-date`, the session token and
/// `authorization` to the request; every header present before the call is signed (set
/// `host` first).
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    key: &IssuedKey,
    region: &str,
    service: &str,
    now: DateTime<Utc>,
) {
    let amz_date = now.format(AMZ_DATE_FORMAT).to_string();
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let (headers, body) = {
        let headers = request.headers_mut();
        if let Ok(v) = http::HeaderValue::from_str(&amz_date) {
            headers.insert("x-amz-date", v);
        }
        if !key.session_token.is_empty() {
            if let Ok(v) = http::HeaderValue::from_str(&key.session_token) {
                headers.insert("x-amz-security-token", v);
            }
        }
        (headers.clone(), request.body().clone())
    };
    let mut signed: Vec<String> = headers.keys().map(|k| k.as_str().to_string()).collect();
    signed.sort();
    signed.dedup();
    let auth = AuthParams {
        scope: CredentialScope {
            access_key_id: key.access_key_id.clone(),
            date: now.format("%Y%m%d").to_string(),
            region: region.to_string(),
            service: service.to_string(),
        },
        signed_headers: signed,
        signature: String::new(),
        amz_date: amz_date.clone(),
        security_token: None,
        presign_expires: None,
    };
    let req = SignedRequest {
        method: &method,
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let canonical = canonical_request(&req, &auth, &hex::encode(Sha256::digest(&body)));
    let to_sign = string_to_sign(&amz_date, &auth.scope, &canonical);
    let signature = hex::encode(sign(
        &signing_key(&key.secret_access_key, &auth.scope),
        to_sign.as_bytes(),
    ));
    let value = format!(
        "{ALGORITHM} Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={signature}",
        key.access_key_id,
        auth.scope.date,
        region,
        service,
        auth.signed_headers.join(";")
    );
    if let Ok(v) = http::HeaderValue::from_str(&value) {
        request.headers_mut().insert(http::header::AUTHORIZATION, v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::sts::test_store::{make_key, MemoryStore};

    /// The credentials and time of the AWS SigV4 test suite (AWS General Reference,
    /// "Signature Version 4 test suite"): every expected signature below is copied from
    /// its `.authz` files, computed by AWS, not by this code.
    const SUITE_KEY: &str = "AKIDEXAMPLE";
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn suite_now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    fn suite_store() -> MemoryStore {
        let store = MemoryStore::new(suite_now());
        let mut key = make_key("suite", "suite", suite_now(), 3600);
        key.access_key_id = SUITE_KEY.into();
        key.secret_access_key = SUITE_SECRET.into();
        key.session_token = String::new();
        store.add(key);
        store
    }

    fn suite_headers(
        extra: &[(&'static str, &'static str)],
        signed: &str,
        sig: &str,
    ) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "host",
            http::HeaderValue::from_static("example.amazonaws.com"),
        );
        headers.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20150830T123600Z"),
        );
        for (k, v) in extra {
            headers.insert(*k, http::HeaderValue::from_static(v));
        }
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={sig}"
        );
        headers.insert("authorization", http::HeaderValue::from_str(&auth).unwrap());
        headers
    }

    fn check(
        method: &str,
        query: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<IssuedKey, StsError> {
        let req = SignedRequest {
            method,
            path: "/",
            query,
            headers,
            body,
        };
        verify_for_service(&req, &suite_store(), suite_now(), "service")
    }

    #[test]
    fn suite_get_vanilla() {
        let h = suite_headers(
            &[],
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
        assert_eq!(check("GET", "", &h, b"").unwrap().access_key_id, SUITE_KEY);
    }

    #[test]
    fn suite_post_vanilla() {
        let h = suite_headers(
            &[],
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        );
        assert!(check("POST", "", &h, b"").is_ok());
        // The same signature does not hold for another method.
        assert!(matches!(
            check("GET", "", &h, b""),
            Err(StsError::SignatureDoesNotMatch { .. })
        ));
    }

    #[test]
    fn suite_post_x_www_form_urlencoded() {
        let h = suite_headers(
            &[("content-type", "application/x-www-form-urlencoded")],
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        );
        assert!(check("POST", "", &h, b"Param1=value1").is_ok());
        // A tampered body breaks the signature.
        assert!(matches!(
            check("POST", "", &h, b"Param1=value2"),
            Err(StsError::SignatureDoesNotMatch { .. })
        ));
    }

    #[test]
    fn suite_get_header_value_trim() {
        let h = suite_headers(
            &[
                ("my-header1", " value1 "),
                ("my-header2", " \"a   b   c\" "),
            ],
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        );
        assert!(check("GET", "", &h, b"").is_ok());
    }

    #[test]
    fn suite_get_vanilla_query_order_key_case() {
        let h = suite_headers(
            &[],
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        );
        assert!(check("GET", "Param2=value2&Param1=value1", &h, b"").is_ok());
    }

    #[test]
    fn suite_signature_compares_case_insensitively_but_not_loosely() {
        let upper = "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31";
        assert!(check(
            "GET",
            "",
            &suite_headers(&[], "host;x-amz-date", upper),
            b""
        )
        .is_ok());
        let short = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3";
        assert!(check(
            "GET",
            "",
            &suite_headers(&[], "host;x-amz-date", short),
            b""
        )
        .is_err());
    }

    fn signed(store: &MemoryStore, key: &IssuedKey, now: DateTime<Utc>) -> http::Request<Vec<u8>> {
        let _ = store;
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "127.0.0.1:1338")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(b"Action=GetCallerIdentity&Version=2011-06-15".to_vec())
            .unwrap();
        sign_request(&mut req, key, "us-east-1", "sts", now);
        req
    }

    fn verify_req(
        req: &http::Request<Vec<u8>>,
        store: &MemoryStore,
        now: DateTime<Utc>,
    ) -> Result<IssuedKey, StsError> {
        verify(
            &SignedRequest {
                method: req.method().as_str(),
                path: req.uri().path(),
                query: req.uri().query().unwrap_or(""),
                headers: req.headers(),
                body: req.body(),
            },
            store,
            now,
        )
    }

    #[test]
    fn issued_key_with_token_verifies() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = store.add(make_key("Role", "i-0123456789abcdef0", now, 3600));
        let req = signed(&store, &key, now);
        assert_eq!(verify_req(&req, &store, now).unwrap(), key);
    }

    #[test]
    fn unknown_key_is_invalid_client_token_id() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = make_key("Role", "s", now, 3600);
        let req = signed(&store, &key, now);
        assert_eq!(
            verify_req(&req, &store, now),
            Err(StsError::InvalidClientTokenId)
        );
    }

    #[test]
    fn wrong_or_missing_session_token_is_invalid_client_token_id() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = store.add(make_key("Role", "s", now, 3600));
        let mut req = signed(&store, &key, now);
        req.headers_mut().insert(
            "x-amz-security-token",
            http::HeaderValue::from_static("forged"),
        );
        assert_eq!(
            verify_req(&req, &store, now),
            Err(StsError::InvalidClientTokenId)
        );
        req.headers_mut().remove("x-amz-security-token");
        assert_eq!(
            verify_req(&req, &store, now),
            Err(StsError::InvalidClientTokenId)
        );
    }

    #[test]
    fn wrong_secret_is_signature_does_not_match() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = store.add(make_key("Role", "s", now, 3600));
        let mut forged = key.clone();
        forged.secret_access_key = "x".repeat(40);
        let req = signed(&store, &forged, now);
        let err = verify_req(&req, &store, now).unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        assert_eq!(err.status(), 403);
    }

    #[test]
    fn expired_key_is_expired_token() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = store.add(make_key("Role", "s", now - Duration::hours(2), 3600));
        let req = signed(&store, &key, now);
        assert_eq!(verify_req(&req, &store, now), Err(StsError::ExpiredToken));
    }

    #[test]
    fn clock_skew_over_fifteen_minutes_is_rejected_both_ways() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = store.add(make_key("Role", "s", now, 7200));
        let old = signed(&store, &key, now - Duration::minutes(16));
        let err = verify_req(&old, &store, now).unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        assert!(
            err.message().starts_with("Signature expired:"),
            "{}",
            err.message()
        );
        let future = signed(&store, &key, now + Duration::minutes(16));
        let err = verify_req(&future, &store, now).unwrap_err();
        assert!(
            err.message().starts_with("Signature not yet current:"),
            "{}",
            err.message()
        );
        let near = signed(&store, &key, now - Duration::minutes(14));
        assert!(verify_req(&near, &store, now).is_ok());
    }

    #[test]
    fn missing_and_incomplete_authorization() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let headers = http::HeaderMap::new();
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            verify(&req, &store, now),
            Err(StsError::MissingAuthenticationToken)
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "authorization",
            http::HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIAX/20150830/us-east-1/sts/aws4_request",
            ),
        );
        headers.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20150830T123600Z"),
        );
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let err = verify(&req, &store, now).unwrap_err();
        assert_eq!((err.code(), err.status()), ("IncompleteSignature", 400));
        assert!(err.message().contains("'Signature'"), "{}", err.message());
    }

    #[test]
    fn scope_must_name_sts_and_match_the_date() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = store.add(make_key("Role", "s", now, 3600));
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "h")
            .body(Vec::new())
            .unwrap();
        sign_request(&mut req, &key, "us-east-1", "iam", now);
        let err = verify_req(&req, &store, now).unwrap_err();
        assert!(
            err.message().contains("correct service"),
            "{}",
            err.message()
        );
    }

    /// Requests signed by botocore 1.43 (`SigV4Auth` and `SigV4QueryAuth`, clock frozen at
    /// 2026-11-27T12:00:00Z) for an STS session key: an independent signer's output.
    fn botocore_store() -> (MemoryStore, DateTime<Utc>) {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let store = MemoryStore::new(now);
        let mut key = make_key("Role", "s", now, 3600);
        key.access_key_id = "ASIAQEXAMPLEKEY12345".into();
        key.secret_access_key = "9drTJvcXLB89EXAMPLEKEYabcdefghijklmnopqr".into();
        key.session_token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN/with+chars=".into();
        store.add(key);
        (store, now)
    }

    #[test]
    fn botocore_header_signature_with_session_token() {
        let (store, now) = botocore_store();
        let mut headers = http::HeaderMap::new();
        for (k, v) in [
            ("host", "127.0.0.1:1338"),
            ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("x-amz-date", "20261127T120000Z"),
            ("x-amz-security-token", "IQoJb3JpZ2luX2VjEXAMPLETOKEN/with+chars="),
            ("content-length", "43"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=ASIAQEXAMPLEKEY12345/20261127/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=7dec61cd83464ed0be75913a1688e7bd2a1c9dfd7e287e39de3bb55d35a81f9c"),
        ] {
            headers.insert(k, http::HeaderValue::from_static(v));
        }
        let body = b"Action=GetCallerIdentity&Version=2011-06-15";
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        assert_eq!(
            verify(&req, &store, now).unwrap().access_key_id,
            "ASIAQEXAMPLEKEY12345"
        );
        let req = SignedRequest {
            body: b"Action=AssumeRole&Version=2011-06-15",
            ..req
        };
        assert!(verify(&req, &store, now).is_err());
    }

    #[test]
    fn botocore_presigned_url() {
        let (store, now) = botocore_store();
        let query = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAQEXAMPLEKEY12345%2F20261127%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261127T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLETOKEN%2Fwith%2Bchars%3D&X-Amz-Signature=2c03fc361f20ac70e7b29f50c9f66af1c92be7bae4e5c5bbd733abd4c43e4c25";
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("127.0.0.1:1338"));
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query,
            headers: &headers,
            body: b"",
        };
        assert!(is_signed(&req));
        assert_eq!(
            verify(&req, &store, now).unwrap().access_key_id,
            "ASIAQEXAMPLEKEY12345"
        );
        // Past X-Amz-Expires (60 s) the URL is refused.
        let later = now + Duration::seconds(61);
        assert_eq!(verify(&req, &store, later), Err(StsError::RequestExpired));
        // Another host breaks the signature.
        let mut other = http::HeaderMap::new();
        other.insert("host", http::HeaderValue::from_static("127.0.0.1:1339"));
        let req = SignedRequest {
            headers: &other,
            ..req
        };
        assert!(matches!(
            verify(&req, &store, now),
            Err(StsError::SignatureDoesNotMatch { .. })
        ));
    }

    #[test]
    fn canonical_uri_normalises_and_double_encodes() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a/./b/../c/"), "/a/c/");
        assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query("b=2&a=%7e&a=1&c"), "a=1&a=~&b=2&c=");
        assert_eq!(canonical_query("k=a b"), "k=a%20b");
    }

    #[test]
    fn percent_decode_handles_edges() {
        assert_eq!(percent_decode("a%2Fb+c%", true), b"a/b c%");
        assert_eq!(percent_decode("%zz%4", false), b"%zz%4");
    }
}
