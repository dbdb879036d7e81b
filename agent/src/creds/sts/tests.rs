//! Tests of the signer against the AWS documentation's published examples, and of the
//! STS calls against local servers.

use chrono::TimeZone;

use super::sigv4::*;
use super::*;
use crate::imds::test_server::{Reply, Seen, TestServer};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn doc_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
}

fn signer<'a>(service: &'a str, token: Option<&'a str>) -> Signer<'a> {
    Signer {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: SECRET,
        session_token: token,
        region: "us-east-1",
        service,
        time: doc_time(),
    }
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `authorization` header a signer added.
fn authorization(headers: &[(String, String)]) -> &str {
    &headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1
}

// The AWS documentation's worked example (IAM ListUsers, 2015-08-30).
#[test]
fn documented_iam_list_users_example() {
    let url = reqwest::Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
        .unwrap();
    let headers = h(&[
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("Host", "iam.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
    ]);
    let (canonical, signed) = canonical_request("GET", &url, &headers, &sha256_hex(b""));
    assert_eq!(signed, "content-type;host;x-amz-date");
    assert_eq!(
        sha256_hex(canonical.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    assert_eq!(
        hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
    assert_eq!(
        signer("iam", None).authorization("GET", &url, &headers, &sha256_hex(b"")),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

// The documentation's signing-key derivation example (2012-02-15).
#[test]
fn documented_signing_key_derivation() {
    assert_eq!(
        hex::encode(signing_key(SECRET, "20120215", "us-east-1", "iam")),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
}

// The published SigV4 test suite: get-vanilla and post-x-www-form-urlencoded.
#[test]
fn test_suite_get_vanilla_and_form_post() {
    let url = reqwest::Url::parse("https://example.amazonaws.com/").unwrap();
    let mut headers = Vec::new();
    signer("service", None).sign("GET", &url, &mut headers, b"");
    let auth = authorization(&headers);
    assert!(
        auth.ends_with("SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        "{auth}"
    );
    let mut headers = h(&[("Content-Type", "application/x-www-form-urlencoded")]);
    signer("service", None).sign("POST", &url, &mut headers, b"Param1=value1");
    let auth = authorization(&headers);
    assert!(
        auth.ends_with(
            "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        ),
        "{auth}"
    );
}

#[test]
fn session_token_is_signed_and_host_keeps_its_port() {
    let url = reqwest::Url::parse("http://127.0.0.1:8080/").unwrap();
    let mut headers = Vec::new();
    signer("sts", Some("TOKEN")).sign("POST", &url, &mut headers, b"x");
    assert!(headers.contains(&("host".into(), "127.0.0.1:8080".into())));
    assert!(headers.contains(&("x-amz-security-token".into(), "TOKEN".into())));
    let auth = authorization(&headers);
    assert!(
        auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
        "{auth}"
    );
}

#[test]
fn encoding_and_xml() {
    assert_eq!(uri_encode("a b/c~d*é", true), "a%20b%2Fc~d%2A%C3%A9");
    assert_eq!(uri_encode("a/b", false), "a/b");
    let doc = "<R xmlns=\"x\"><Arn>arn:a&amp;b</Arn><Empty/><Arn>second</Arn></R>";
    assert_eq!(xml_text(doc, "Arn").as_deref(), Some("arn:a&b"));
    assert_eq!(xml_text(doc, "Empty").as_deref(), Some(""));
    assert_eq!(xml_text(doc, "Missing"), None);
    assert_eq!(
        xml_text(doc, "R")
            .as_deref()
            .map(|s| s.starts_with("<Arn>")),
        Some(true)
    );
}

#[test]
fn endpoint_resolution_order() {
    let none = |_: &str| None;
    let profile = |k: &str| (k == PROFILE_ENDPOINT_URL).then(|| "http://profile:1".to_string());
    let ctx = |vars: &[(&str, &str)]| Context::fixed(vars.iter().map(|(k, v)| (*k, *v)), "/");
    assert_eq!(
        resolve_endpoint(&ctx(&[]), "eu-west-1", &none).unwrap(),
        "https://sts.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        resolve_endpoint(&ctx(&[]), "x", &profile).unwrap(),
        "http://profile:1"
    );
    let both = ctx(&[
        (ENV_ENDPOINT_URL, "http://global:2"),
        (ENV_ENDPOINT_URL_STS, "http://sts:3"),
    ]);
    assert_eq!(
        resolve_endpoint(&both, "x", &profile).unwrap(),
        "http://sts:3"
    );
    let global = ctx(&[(ENV_ENDPOINT_URL, "http://global:2")]);
    assert_eq!(
        resolve_endpoint(&global, "x", &profile).unwrap(),
        "http://global:2"
    );
    let ignored = ctx(&[
        (ENV_ENDPOINT_URL, "http://global:2"),
        (ENV_IGNORE_CONFIGURED_ENDPOINT_URLS, "true"),
    ]);
    assert_eq!(
        resolve_endpoint(&ignored, "x", &profile).unwrap(),
        "https://sts.x.amazonaws.com"
    );
    assert!(matches!(
        resolve_endpoint(&ctx(&[]), "", &none),
        Err(StsError::NoRegion)
    ));
    let bad = ctx(&[(ENV_ENDPOINT_URL_STS, "not a url")]);
    let err = resolve_endpoint(&bad, "x", &none).unwrap_err().to_string();
    assert!(err.contains("AWS_ENDPOINT_URL_STS"), "{err}");
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: Secret::new(SECRET.into()),
        session_token: Some(Secret::new("SESSION".into())),
        expiration: None,
        account_id: None,
    }
}

/// An STS stand-in that checks the signature with the shared secret.
fn verify(req: &Seen, port: u16) -> bool {
    let Some(auth) = req.header("authorization") else {
        return false;
    };
    let signed: Vec<&str> = auth
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .map(|s| s.split(';').collect())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = signed
        .iter()
        .map(|name| {
            (
                name.to_string(),
                req.header(name).unwrap_or_default().to_string(),
            )
        })
        .collect();
    let date = req.header("x-amz-date").unwrap_or_default();
    let time = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let s = Signer {
        access_key_id: "ASIAEXAMPLE",
        secret_access_key: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "sts",
        time,
    };
    let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    signed.contains(&"x-amz-security-token")
        && req.header("x-amz-security-token") == Some("SESSION")
        && s.authorization("POST", &url, &headers, &sha256_hex(&req.body)) == auth
}

#[tokio::test]
async fn get_caller_identity_signs_and_parses() {
    let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let p = port.clone();
    let server = TestServer::start(move |req, _| {
        let ok = verify(req, p.load(std::sync::atomic::Ordering::SeqCst));
        if ok && req.body.as_ref() == b"Action=GetCallerIdentity&Version=2011-06-15" {
            Reply::ok(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>arn:aws:sts::123456789012:assumed-role/Role/i-0abc</Arn>\n    <UserId>AROAEXAMPLE:i-0abc</UserId>\n    <Account>123456789012</Account>\n  </GetCallerIdentityResult>\n</GetCallerIdentityResponse>",
            )
        } else {
            Reply::With(403, vec![], b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>bad</Message></Error><RequestId>r-1</RequestId></ErrorResponse>".to_vec())
        }
    })
    .await;
    port.store(server.addr.port(), std::sync::atomic::Ordering::SeqCst);
    let http = reqwest::Client::new();
    let id = get_caller_identity(&http, &server.url(), "us-east-1", &creds())
        .await
        .unwrap();
    assert_eq!(id.account, "123456789012");
    assert_eq!(id.arn, "arn:aws:sts::123456789012:assumed-role/Role/i-0abc");
    assert_eq!(id.user_id, "AROAEXAMPLE:i-0abc");
    let seen = &server.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded; charset=utf-8")
    );

    // A wrong secret fails the server's check: a typed error with the STS code.
    let mut wrong = creds();
    wrong.secret_access_key = Secret::new("nope".into());
    let err = get_caller_identity(&http, &server.url(), "us-east-1", &wrong)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    assert!(
        matches!(err, StsError::Service { status: 403, ref request_id, .. } if request_id.as_deref() == Some("r-1"))
    );
    assert!(!format!("{err:?}").contains("nope"));
}

const ASSUMED: &str = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIANEW</AccessKeyId><SecretAccessKey>newsecret</SecretAccessKey><SessionToken>newtoken</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA1:s</AssumedRoleId><Arn>arn:aws:sts::210987654321:assumed-role/R/s</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>";

#[tokio::test]
async fn assume_role_sends_parameters_and_parses_credentials() {
    let server = TestServer::start(|_, _| Reply::ok(ASSUMED)).await;
    let http = reqwest::Client::new();
    let req = AssumeRoleRequest {
        role_arn: "arn:aws:iam::210987654321:role/R".into(),
        role_session_name: "my session".into(),
        duration_seconds: Some(900),
        external_id: Some("ext".into()),
    };
    let role = assume_role(&http, &server.url(), "us-east-1", &creds(), &req)
        .await
        .unwrap();
    assert_eq!(role.credentials.access_key_id, "ASIANEW");
    assert_eq!(role.credentials.secret_access_key.expose(), "newsecret");
    assert_eq!(role.credentials.account_id.as_deref(), Some("210987654321"));
    assert_eq!(
        role.credentials.expiration,
        Some(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap())
    );
    assert_eq!(role.assumed_role_id, "AROA1:s");
    let body = String::from_utf8(server.seen()[0].body.to_vec()).unwrap();
    assert_eq!(
        body,
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2FR&RoleSessionName=my%20session&DurationSeconds=900&ExternalId=ext"
    );
}

#[tokio::test]
async fn web_identity_is_unsigned_and_errors_are_typed() {
    let server = TestServer::start(|req, n| {
        if n == 0 {
            Reply::ok(ASSUMED.replace("AssumeRole", "AssumeRoleWithWebIdentity"))
        } else {
            let _ = req;
            Reply::With(400, vec![], b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>expired</Message></Error></ErrorResponse>".to_vec())
        }
    })
    .await;
    let http = reqwest::Client::new();
    let token = Secret::new("eyJ.token".to_string());
    let role = assume_role_with_web_identity(
        &http,
        &server.url(),
        "arn:aws:iam::1:role/W",
        "s",
        &token,
        None,
    )
    .await
    .unwrap();
    assert_eq!(role.credentials.session_token.unwrap().expose(), "newtoken");
    let seen = &server.seen()[0];
    assert_eq!(seen.header("authorization"), None);
    assert!(String::from_utf8_lossy(&seen.body).contains("WebIdentityToken=eyJ.token"));
    let err = assume_role_with_web_identity(&http, &server.url(), "arn", "s", &token, Some(900))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidIdentityToken"));
    assert!(
        err.to_string().contains("AssumeRoleWithWebIdentity"),
        "{err}"
    );
}

/// The calls against the mock's own STS implementation (an independent SigV4 verifier
/// and XML writer), served by a local server.
mod against_the_mock {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use imds_mock::keys::{IssuedKey, KeyStore};
    use imds_mock::sigv4::SignedRequest;

    use super::*;

    struct Store(Mutex<HashMap<String, IssuedKey>>);

    fn key(id: &str, role: &str, session: &str, hours: i64) -> IssuedKey {
        IssuedKey {
            access_key_id: id.into(),
            secret_access_key: format!("{id}-secret-0000000000000000000"),
            session_token: format!("{id}-token"),
            expiration: Utc::now() + chrono::Duration::hours(hours),
            issued: Utc::now(),
            role_arn: format!("arn:aws:iam::111122223333:role/{role}"),
            role_id: "AROAMOCKROLE00000001".into(),
            account_id: "111122223333".into(),
            session_name: session.into(),
        }
    }

    impl KeyStore for Store {
        fn lookup(&self, id: &str) -> Option<IssuedKey> {
            self.0.lock().unwrap().get(id).cloned()
        }
        fn issue(&self, role_arn: &str, session: &str, secs: u64) -> IssuedKey {
            let n = self.0.lock().unwrap().len();
            let role = role_arn.rsplit('/').next().unwrap_or("r");
            let mut k = key(&format!("ASIAISSUED{n:010}"), role, session, 0);
            k.role_arn = role_arn.into();
            k.expiration = Utc::now() + chrono::Duration::seconds(secs as i64);
            self.0
                .lock()
                .unwrap()
                .insert(k.access_key_id.clone(), k.clone());
            k
        }
        fn account_id(&self) -> String {
            "111122223333".into()
        }
    }

    async fn mock_sts() -> (TestServer, std::sync::Arc<Store>) {
        let store = std::sync::Arc::new(Store(Mutex::new(HashMap::new())));
        let instance = key(
            "ASIAINSTANCE00000001",
            "InstanceRole",
            "i-0123456789abcdef0",
            6,
        );
        store
            .0
            .lock()
            .unwrap()
            .insert(instance.access_key_id.clone(), instance);
        let s = store.clone();
        let server = TestServer::start(move |req, _| {
            let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
            let signed = SignedRequest {
                method: &req.method,
                path,
                query,
                headers: &req.headers,
                body: &req.body,
            };
            let instance_id = |k: &IssuedKey| {
                (k.access_key_id == "ASIAINSTANCE00000001")
                    .then(|| "i-0123456789abcdef0".to_string())
            };
            let resp = imds_mock::sts::handle(&signed, s.as_ref(), &instance_id, Utc::now());
            Reply::With(
                resp.status,
                vec![("content-type", resp.content_type.to_string())],
                resp.body.into_bytes(),
            )
        })
        .await;
        (server, store)
    }

    fn as_credentials(k: &IssuedKey) -> Credentials {
        Credentials {
            access_key_id: k.access_key_id.clone(),
            secret_access_key: Secret::new(k.secret_access_key.clone()),
            session_token: Some(Secret::new(k.session_token.clone())),
            expiration: Some(k.expiration),
            account_id: None,
        }
    }

    #[tokio::test]
    async fn caller_identity_then_assume_role_then_identity_again() {
        let (server, store) = mock_sts().await;
        let http = reqwest::Client::new();
        let instance = as_credentials(&store.lookup("ASIAINSTANCE00000001").unwrap());
        let id = get_caller_identity(&http, &server.url(), "eu-central-1", &instance)
            .await
            .unwrap();
        assert_eq!(
            id.arn,
            "arn:aws:sts::111122223333:assumed-role/InstanceRole/i-0123456789abcdef0"
        );
        assert_eq!(id.account, "111122223333");
        assert_eq!(id.user_id, "AROAMOCKROLE00000001:i-0123456789abcdef0");

        let req = AssumeRoleRequest {
            role_arn: "arn:aws:iam::111122223333:role/Deploy".into(),
            role_session_name: "deploy-session".into(),
            duration_seconds: Some(900),
            external_id: None,
        };
        let role = assume_role(&http, &server.url(), "eu-central-1", &instance, &req)
            .await
            .unwrap();
        assert_eq!(role.credentials.account_id.as_deref(), Some("111122223333"));
        assert!(role
            .assumed_role_arn
            .ends_with("assumed-role/Deploy/deploy-session"));
        let again = get_caller_identity(&http, &server.url(), "us-east-1", &role.credentials)
            .await
            .unwrap();
        assert_eq!(again.arn, role.assumed_role_arn);
    }

    #[tokio::test]
    async fn the_mock_rejects_a_wrong_secret_and_an_unknown_key() {
        let (server, store) = mock_sts().await;
        let http = reqwest::Client::new();
        let mut creds = as_credentials(&store.lookup("ASIAINSTANCE00000001").unwrap());
        creds.secret_access_key = Secret::new("wrong".into());
        let err = get_caller_identity(&http, &server.url(), "us-east-1", &creds)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err}");
        creds.access_key_id = "ASIANOBODY0000000000".into();
        let err = get_caller_identity(&http, &server.url(), "us-east-1", &creds)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidClientTokenId"), "{err}");
    }

    #[tokio::test]
    async fn web_identity_against_the_mock() {
        use base64::Engine as _;
        let (server, _) = mock_sts().await;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"sub":"system:serviceaccount:default:app"}"#),
            b64("sig")
        );
        let role = assume_role_with_web_identity(
            &reqwest::Client::new(),
            &server.url(),
            "arn:aws:iam::111122223333:role/Web",
            "web-session",
            &Secret::new(jwt),
            None,
        )
        .await
        .unwrap();
        assert!(
            role.assumed_role_arn
                .ends_with("assumed-role/Web/web-session"),
            "{}",
            role.assumed_role_arn
        );
        assert!(role.credentials.expiration.unwrap() > Utc::now());
    }
}

/// Credentials read through the IMDS client from a running mock, then used to sign STS
/// calls to the same mock.
mod against_a_running_mock {
    use super::*;
    use crate::imds::{ImdsClient, ImdsSettings};

    async fn instance_credentials(client: &ImdsClient) -> (String, Credentials) {
        let role = client
            .get_text("/latest/meta-data/iam/security-credentials/")
            .await
            .unwrap()
            .unwrap();
        let doc = client
            .get_text(&format!(
                "/latest/meta-data/iam/security-credentials/{role}"
            ))
            .await
            .unwrap()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let creds = Credentials {
            access_key_id: doc["AccessKeyId"].as_str().unwrap().into(),
            secret_access_key: Secret::new(doc["SecretAccessKey"].as_str().unwrap().into()),
            session_token: Some(Secret::new(doc["Token"].as_str().unwrap().into())),
            expiration: None,
            account_id: None,
        };
        (role, creds)
    }

    #[tokio::test]
    async fn instance_role_identity_and_assume_role() {
        let mock = imds_mock::spawn(imds_mock::Config {
            listen: "127.0.0.1:0".into(),
            role: Some("AppInstanceRole".into()),
            instance_id: "i-0fedcba987654321f".into(),
            ..imds_mock::Config::default()
        })
        .await
        .unwrap();
        let mut settings = ImdsSettings::default().with_endpoint(mock.url()).v2_only();
        settings.retry_base = std::time::Duration::ZERO;
        let client = ImdsClient::from_settings(&settings).unwrap();
        let (role, creds) = instance_credentials(&client).await;
        assert_eq!(role, "AppInstanceRole");

        let http = reqwest::Client::new();
        let id = get_caller_identity(&http, &mock.url(), "us-east-1", &creds)
            .await
            .unwrap();
        assert!(
            id.arn
                .ends_with(":assumed-role/AppInstanceRole/i-0fedcba987654321f"),
            "{}",
            id.arn
        );
        assert!(
            id.user_id.ends_with(":i-0fedcba987654321f"),
            "{}",
            id.user_id
        );

        let req = AssumeRoleRequest {
            role_arn: format!("arn:aws:iam::{}:role/Deployer", id.account),
            role_session_name: "strap-test".into(),
            duration_seconds: Some(900),
            external_id: None,
        };
        let assumed = assume_role(&http, &mock.url(), "us-east-1", &creds, &req)
            .await
            .unwrap();
        let again = get_caller_identity(&http, &mock.url(), "us-east-1", &assumed.credentials)
            .await
            .unwrap();
        assert_eq!(again.arn, assumed.assumed_role_arn);
        assert!(
            again.arn.ends_with(":assumed-role/Deployer/strap-test"),
            "{}",
            again.arn
        );

        // The mock refuses a tampered signature with STS's own code.
        let mut wrong = creds.clone();
        wrong.secret_access_key = Secret::new("tampered".into());
        let err = get_caller_identity(&http, &mock.url(), "us-east-1", &wrong)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err}");
        mock.shutdown().await;
    }
}
