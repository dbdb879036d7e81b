//! The client side of SigV4: signing a request the way an SDK does, for tests and tools
//! that need a signed request. The verifier never uses it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::canonical::{canonical_request, sign, signing_key, string_to_sign};
use super::{AuthParams, CredentialScope, SignedRequest, ALGORITHM, AMZ_DATE_FORMAT};
use crate::keys::IssuedKey;

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
