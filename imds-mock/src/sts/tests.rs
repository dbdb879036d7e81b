//! STS answers for signed and unsigned requests: shapes, codes and validation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::test_store::{make_key, signed_call, MemoryStore, ACCOUNT};
use base64::Engine as _;

fn call(req: &http::Request<Vec<u8>>, store: &MemoryStore, now: DateTime<Utc>) -> StsResponse {
    let signed = SignedRequest {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query().unwrap_or(""),
        headers: req.headers(),
        body: req.body(),
    };
    handle(
        &signed,
        store,
        &|k: &IssuedKey| {
            (k.role_name() == "InstanceRole").then(|| "i-0123456789abcdef0".to_string())
        },
        now,
    )
}

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    &xml[start..end]
}

#[test]
fn get_caller_identity_of_an_instance_role() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let key = store.add(make_key("InstanceRole", "ignored", now, 3600));
    let resp = call(
        &signed_call(&key, "Action=GetCallerIdentity&Version=2011-06-15", now),
        &store,
        now,
    );
    assert_eq!((resp.status, resp.content_type), (200, "text/xml"));
    assert!(resp.body.starts_with(&format!(
        "<GetCallerIdentityResponse xmlns=\"{XML_NAMESPACE}\">"
    )));
    assert_eq!(
        element(&resp.body, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/InstanceRole/i-0123456789abcdef0")
    );
    assert_eq!(
        element(&resp.body, "UserId"),
        format!("{}:i-0123456789abcdef0", key.role_id)
    );
    assert_eq!(element(&resp.body, "Account"), ACCOUNT);
    assert_eq!(element(&resp.body, "RequestId"), resp.request_id);
}

#[test]
fn errors_are_query_protocol_documents() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let stranger = make_key("Role", "s", now, 3600);
    let resp = call(
        &signed_call(
            &stranger,
            "Action=GetCallerIdentity&Version=2011-06-15",
            now,
        ),
        &store,
        now,
    );
    assert_eq!(resp.status, 403);
    assert!(resp
        .body
        .starts_with(&format!("<ErrorResponse xmlns=\"{XML_NAMESPACE}\">")));
    assert_eq!(element(&resp.body, "Type"), "Sender");
    assert_eq!(element(&resp.body, "Code"), "InvalidClientTokenId");
    assert_eq!(element(&resp.body, "RequestId"), resp.request_id);

    let key = store.add(make_key("Role", "s", now, 3600));
    let resp = call(
        &signed_call(&key, "Action=Frobnicate&Version=2011-06-15", now),
        &store,
        now,
    );
    assert_eq!(
        (resp.status, element(&resp.body, "Code")),
        (400, "InvalidAction")
    );
    let resp = call(&signed_call(&key, "Version=2011-06-15", now), &store, now);
    assert_eq!(
        (resp.status, element(&resp.body, "Code")),
        (400, "MissingAction")
    );
}

#[test]
fn assume_role_issues_a_new_key_that_itself_verifies() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let caller = store.add(make_key("InstanceRole", "x", now, 3600));
    let role = format!("arn:aws:iam::{ACCOUNT}:role/Target");
    let body = format!("Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=deploy&DurationSeconds=900", role.replace(':', "%3A").replace('/', "%2F"));
    let resp = call(&signed_call(&caller, &body, now), &store, now);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        element(&resp.body, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/Target/deploy")
    );
    assert!(element(&resp.body, "AssumedRoleId").ends_with(":deploy"));
    assert!(!resp.body.contains("PackedPolicySize"));
    let akid = element(&resp.body, "AccessKeyId");
    let issued = store.lookup(akid).expect("issued key is in the store");
    assert_eq!(element(&resp.body, "SessionToken"), issued.session_token);
    assert_eq!(
        element(&resp.body, "Expiration"),
        issued.expiration.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    // The new credentials are accepted by GetCallerIdentity.
    let resp = call(
        &signed_call(&issued, "Action=GetCallerIdentity&Version=2011-06-15", now),
        &store,
        now,
    );
    assert_eq!(
        element(&resp.body, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/Target/deploy")
    );
}

#[test]
fn assume_role_validates_its_parameters() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let caller = store.add(make_key("InstanceRole", "x", now, 3600));
    let arn = format!("arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2FTarget");
    let cases = [
        (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=s&DurationSeconds=900"), 400, "ValidationError"),
        (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&DurationSeconds=899"), 400, "ValidationError"),
        (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&DurationSeconds=43201"), 400, "ValidationError"),
        (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&DurationSeconds=7200"), 400, "ValidationError"),
        ("Action=AssumeRole&RoleSessionName=ok".to_string(), 400, "ValidationError"),
        ("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A999999999999%3Arole%2FX&RoleSessionName=ok".to_string(), 403, "AccessDenied"),
        (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&Policy=%7Bnot"), 400, "ValidationError"),
    ];
    for (body, status, code) in cases {
        let resp = call(&signed_call(&caller, &body, now), &store, now);
        assert_eq!(
            (resp.status, element(&resp.body, "Code")),
            (status, code),
            "{body}"
        );
    }
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let encoded: String = policy.bytes().map(|b| format!("%{b:02X}")).collect();
    let body = format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&Policy={encoded}");
    let resp = call(&signed_call(&caller, &body, now), &store, now);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let packed: u64 = element(&resp.body, "PackedPolicySize").parse().unwrap();
    assert!((1..=100).contains(&packed));
}

fn jwt(payload: serde_json::Value) -> String {
    let enc = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        enc(&serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        enc(&payload)
    )
}

#[test]
fn assume_role_with_web_identity_is_unsigned_and_reports_the_subject() {
    let now = Utc::now();
    let store = MemoryStore::new(now);
    let token = jwt(
        serde_json::json!({"sub": "system:serviceaccount:ns:sa", "aud": "sts.amazonaws.com", "iss": "https://oidc.example.com/id/ABC", "exp": now.timestamp() + 600}),
    );
    let body = format!("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2FWeb&RoleSessionName=web&WebIdentityToken={token}");
    let req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .unwrap();
    let resp = call(&req, &store, now);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        element(&resp.body, "SubjectFromWebIdentityToken"),
        "system:serviceaccount:ns:sa"
    );
    assert_eq!(element(&resp.body, "Audience"), "sts.amazonaws.com");
    assert_eq!(element(&resp.body, "Provider"), "oidc.example.com/id/ABC");
    assert!(store.lookup(element(&resp.body, "AccessKeyId")).is_some());

    for bad in ["not-a-jwt", "a.b.c", &jwt(serde_json::json!({"aud": "x"}))] {
        let body = format!("Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2FWeb&RoleSessionName=web&WebIdentityToken={bad}");
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .body(body.into_bytes())
            .unwrap();
        let resp = call(&req, &store, now);
        assert_eq!(
            (resp.status, element(&resp.body, "Code")),
            (400, "InvalidIdentityToken"),
            "{bad}"
        );
    }
    let expired = jwt(serde_json::json!({"sub": "x", "exp": now.timestamp() - 1}));
    assert_eq!(
        parse_web_identity_token(&expired, now).unwrap_err().code(),
        "ExpiredTokenException"
    );
}

#[test]
fn request_ids_look_like_uuids_and_differ() {
    let a = new_request_id();
    assert_eq!(a.len(), 36);
    assert_eq!(a.matches('-').count(), 4);
    assert_ne!(a, new_request_id());
}

#[test]
fn xml_escape_escapes_markup() {
    assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
}
