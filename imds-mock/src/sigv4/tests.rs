//! SigV4 verification against signatures computed elsewhere: the AWS test suite and
//! botocore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::canonical::{canonical_query, canonical_uri, percent_decode};
use super::*;
use crate::test_store::{make_key, signed_call, MemoryStore};

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

const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

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
    let req = signed_call(&key, GET_CALLER_IDENTITY, now);
    assert_eq!(verify_req(&req, &store, now).unwrap(), key);
}

#[test]
fn unknown_key_is_invalid_client_token_id() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let key = make_key("Role", "s", now, 3600);
    let req = signed_call(&key, GET_CALLER_IDENTITY, now);
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
    let mut req = signed_call(&key, GET_CALLER_IDENTITY, now);
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
    let req = signed_call(&forged, GET_CALLER_IDENTITY, now);
    let err = verify_req(&req, &store, now).unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    assert_eq!(err.status(), 403);
}

#[test]
fn expired_key_is_expired_token() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let key = store.add(make_key("Role", "s", now - Duration::hours(2), 3600));
    let req = signed_call(&key, GET_CALLER_IDENTITY, now);
    assert_eq!(verify_req(&req, &store, now), Err(StsError::ExpiredToken));
}

#[test]
fn clock_skew_over_fifteen_minutes_is_rejected_both_ways() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let key = store.add(make_key("Role", "s", now, 7200));
    let old = signed_call(&key, GET_CALLER_IDENTITY, now - Duration::minutes(16));
    let err = verify_req(&old, &store, now).unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    assert!(
        err.message().starts_with("Signature expired:"),
        "{}",
        err.message()
    );
    let future = signed_call(&key, GET_CALLER_IDENTITY, now + Duration::minutes(16));
    let err = verify_req(&future, &store, now).unwrap_err();
    assert!(
        err.message().starts_with("Signature not yet current:"),
        "{}",
        err.message()
    );
    let near = signed_call(&key, GET_CALLER_IDENTITY, now - Duration::minutes(14));
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

#[test]
fn content_sha256_must_match_the_body() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let key = store.add(make_key("Role", "s", now, 3600));
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "h")
        .header("x-amz-content-sha256", "0".repeat(64))
        .body(b"Action=GetCallerIdentity".to_vec())
        .unwrap();
    sign_request(&mut req, &key, "us-east-1", "sts", now);
    let err = verify_req(&req, &store, now).unwrap_err();
    assert!(
        err.message().contains("x-amz-content-sha256"),
        "{}",
        err.message()
    );
}

#[test]
fn unsupported_algorithm_and_mismatched_scope_date() {
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let store = MemoryStore::new(now);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-date",
        http::HeaderValue::from_static("20261127T120000Z"),
    );
    headers.insert(
        "authorization",
        http::HeaderValue::from_static("AWS4-ECDSA-P256-SHA256 Credential=ASIAX/20261127/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"),
    );
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: b"",
    };
    let err = verify(&req, &store, now).unwrap_err();
    assert_eq!(err.code(), "IncompleteSignature");
    assert!(err.message().contains("algorithm"), "{}", err.message());

    headers.insert(
        "authorization",
        http::HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=ASIAX/20261126/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"),
    );
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: b"",
    };
    let err = verify(&req, &store, now).unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    assert!(
        err.message()
            .starts_with("Date in Credential scope does not match"),
        "{}",
        err.message()
    );
}
