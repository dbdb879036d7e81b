//! Verification of AWS Signature Version 4 on requests to the mock's STS: the
//! `Authorization` header form and the presigned query-string form. It rebuilds the
//! canonical request and string to sign from what arrived on the wire, derives the signing
//! key from the secret of the issued key the request names, and compares signatures in
//! constant time. It owns no state and never logs secrets; the caller supplies the key
//! store and the clock.
//!
//! `canonical` builds the canonical request and derives the signing key; `signer` is
//! the client side (signing requests for tests and tools).

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::keys::{IssuedKey, KeyStore};
use crate::sts_error::StsError;

mod canonical;
mod signer;
#[cfg(test)]
mod tests;

use canonical::{canonical_request, sign, signing_key, string_to_sign};
pub(crate) use canonical::{form_pairs, query_pairs};
pub use signer::sign_request;

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

/// Verify the SigV4 signature of an STS request (scope service `sts`, a region the store
/// accepts) and
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

/// Verify a SigV4 signature whose scope must name `service` and a region the store
/// accepts ([`KeyStore::regions`]).
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
    let regions = store.regions();
    if !regions.is_empty() && !regions.contains(&auth.scope.region) {
        return Err(StsError::SignatureDoesNotMatch {
            reason: format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.scope.region
            ),
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
    } else if date < now - MAX_CLOCK_SKEW {
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
