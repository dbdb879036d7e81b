//! The router without a socket: one test per row of the IMDS status-code matrix, the
//! metadata crawl, credentials and the control API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use imds_mock::config::{Config, HttpTokens, Toggle};
use imds_mock::server::{HopLimit, NOT_FOUND_BODY, TTL_HEADER};
use imds_mock::{router, State};

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    hop_limit: Option<HopLimit>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn call_body(
    state: &State,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    let resp = router(state.clone(), req).await.expect("not dropped");
    let hop_limit = resp.extensions().get::<HopLimit>().copied();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
        hop_limit,
    }
}

async fn call(state: &State, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    call_body(state, method, path, headers, b"").await
}

/// A GET with the session token.
async fn get_v2(state: &State, path: &str, token: &str) -> Reply {
    call(state, "GET", path, &[("x-aws-ec2-metadata-token", token)]).await
}

/// A control-API call with a JSON body.
async fn control(state: &State, method: &str, path: &str, json: &str) -> Reply {
    call_body(state, method, path, &[], json.as_bytes()).await
}

async fn token(state: &State, ttl: &str) -> String {
    let r = call(state, "PUT", "/latest/api/token", &[(TTL_HEADER, ttl)]).await;
    assert_eq!(r.status, StatusCode::OK);
    r.text()
}

fn state(config: Config) -> State {
    State::new(config).unwrap()
}

/// A state whose identity-signing key is the test key (no RSA generation in tests).
fn state_with_test_key(config: Config) -> State {
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/identity-key.pem"),
        dir.join(imds_mock::identity::KEY_FILE),
    )
    .unwrap();
    State::new(Config {
        state_dir: Some(dir),
        ..config
    })
    .unwrap()
}

fn required() -> State {
    state(Config {
        http_tokens: HttpTokens::Required,
        role: Some("web".into()),
        ..Config::default()
    })
}

// ---- status-code matrix (one test per row)

#[tokio::test]
async fn get_with_valid_token_is_200_with_remaining_ttl() {
    let s = required();
    let t = token(&s, "21600").await;
    let r = get_v2(&s, "/latest/meta-data/instance-id", &t).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), s.instance_id());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("server"), Some("EC2ws"));
    assert_eq!(r.header(TTL_HEADER), Some("21600"));
    assert_eq!(r.header("accept-ranges"), Some("none"));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    s.advance_clock(100);
    let r = get_v2(&s, "/latest/meta-data/instance-id", &t).await;
    assert_eq!(r.header(TTL_HEADER), Some("21500"));
}

#[tokio::test]
async fn get_without_token_in_optional_mode_is_200_and_counted_as_v1() {
    let s = state(Config::default());
    let r = call(&s, "GET", "/latest/meta-data/instance-id", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(TTL_HEADER), None);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(s.counts().imdsv1, 1);
    assert_eq!(s.counts().imdsv2, 0);
}

#[tokio::test]
async fn unknown_path_is_404_with_the_exact_page() {
    let s = state(Config::default());
    let r = call(&s, "GET", "/latest/meta-data/nope", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.text(), NOT_FOUND_BODY);
    assert_eq!(r.body.len(), 339);
    assert_eq!(s.counts().not_found, 1);
}

#[tokio::test]
async fn token_authenticated_404_carries_the_ttl_header() {
    let s = required();
    let t = token(&s, "300").await;
    let r = get_v2(&s, "/latest/meta-data/spot/instance-action", &t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header(TTL_HEADER), Some("300"));
}

#[tokio::test]
async fn missing_token_in_required_mode_is_401_with_empty_body() {
    let s = required();
    let r = call(&s, "GET", "/latest/meta-data/instance-id", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.is_empty());
    assert_eq!(s.counts().unauthorized, 1);
}

#[tokio::test]
async fn invalid_or_expired_token_is_401_in_both_modes() {
    for mode in [HttpTokens::Optional, HttpTokens::Required] {
        let s = state(Config {
            http_tokens: mode,
            ..Config::default()
        });
        let bad = get_v2(&s, "/latest/meta-data/", "garbage").await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{mode:?}");
        let t = token(&s, "1").await;
        s.advance_clock(1);
        let expired = get_v2(&s, "/latest/meta-data/", &t).await;
        assert_eq!(expired.status, StatusCode::UNAUTHORIZED, "{mode:?}");
    }
}

#[tokio::test]
async fn token_from_another_mock_is_401() {
    let other = token(&state(Config::default()), "60").await;
    let s = state(Config::default());
    let r = get_v2(&s, "/latest/meta-data/", &other).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_ttls_are_400() {
    let s = state(Config::default());
    for ttl in [
        "0",
        "21601",
        "-1",
        "abc",
        "",
        "1.5",
        " ",
        "99999999999999999999",
    ] {
        let r = call(&s, "PUT", "/latest/api/token", &[(TTL_HEADER, ttl)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "ttl {ttl:?}");
    }
    let r = call(&s, "PUT", "/latest/api/token", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "missing ttl");
    for ttl in ["1", "21600"] {
        let r = call(&s, "PUT", "/latest/api/token", &[(TTL_HEADER, ttl)]).await;
        assert_eq!(r.status, StatusCode::OK, "ttl {ttl}");
        assert_eq!(r.header(TTL_HEADER), Some(ttl), "ttl is echoed");
        assert_eq!(r.body.len(), 56);
    }
}

#[tokio::test]
async fn token_put_with_x_forwarded_for_is_403() {
    let s = state(Config::default());
    let r = call(
        &s,
        "PUT",
        "/latest/api/token",
        &[(TTL_HEADER, "60"), ("x-forwarded-for", "10.0.0.1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn token_put_on_a_dated_path_is_403() {
    let s = state(Config::default());
    for path in [
        "/2021-03-23/api/token",
        "/2009-04-04/api/token",
        "/2030-01-01/api/token",
    ] {
        let r = call(&s, "PUT", path, &[(TTL_HEADER, "60")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn disabled_endpoint_is_403_everywhere() {
    let s = state(Config {
        http_endpoint: Toggle::Disabled,
        ..Config::default()
    });
    for (method, path) in [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/"),
        ("GET", "/"),
    ] {
        let r = call(&s, method, path, &[(TTL_HEADER, "60")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    // The control API still works, and turning the endpoint back on restores service.
    let r = control(
        &s,
        "PUT",
        "/_mock/metadata-options",
        r#"{"http_endpoint": "enabled"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/", &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let s = state(Config::default());
    for method in ["POST", "DELETE", "PATCH", "PUT"] {
        let r = call(&s, method, "/latest/meta-data/instance-id", &[]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    for method in ["GET", "POST", "DELETE", "HEAD"] {
        let r = call(&s, method, "/latest/api/token", &[]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} token");
        assert_eq!(r.header("allow"), Some("PUT"));
    }
}

#[tokio::test]
async fn head_has_length_and_no_body() {
    let s = state(Config::default());
    let r = call(&s, "HEAD", "/latest/meta-data/instance-id", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("19"));
}

#[tokio::test]
async fn injected_5xx_and_drops() {
    let s = state(Config::default());
    let faults =
        r#"[{"path": "/latest/meta-data/placement", "error_rate": 1.0, "error_status": 503}]"#;
    let r = call_body(&s, "PUT", "/_mock/faults", &[], faults.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/placement/region", &[])
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/instance-id", &[])
            .await
            .status,
        StatusCode::OK
    );
    let drop = r#"[{"path": "/", "drop_rate": 1.0}]"#;
    call_body(&s, "PUT", "/_mock/faults", &[], drop.as_bytes()).await;
    let req = Request::get("/latest/meta-data/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(router(s.clone(), req).await.is_err());
    assert_eq!(s.counts().faults, 2);
    call(&s, "DELETE", "/_mock/faults", &[]).await;
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/", &[]).await.status,
        StatusCode::OK
    );
}

// ---- hop limit and connection

#[tokio::test]
async fn token_response_carries_the_hop_limit() {
    let s = state(Config {
        http_put_response_hop_limit: 2,
        ..Config::default()
    });
    let r = call(&s, "PUT", "/latest/api/token", &[(TTL_HEADER, "60")]).await;
    assert_eq!(r.hop_limit, Some(HopLimit(2)));
    assert_eq!(r.header("connection"), Some("close"));
    let r = call(&s, "GET", "/latest/meta-data/", &[]).await;
    assert_eq!(r.hop_limit, None, "only the token response is hop-limited");
}

// ---- listings, tree, user data

#[tokio::test]
async fn dated_prefixes_serve_the_tree() {
    let s = state(Config::default());
    for v in [
        "2021-03-23",
        "2018-09-24",
        "2016-09-02",
        "2009-04-04",
        "latest",
    ] {
        let r = call(&s, "GET", &format!("/{v}/meta-data/instance-id"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{v}");
        assert_eq!(r.text(), s.instance_id());
    }
    let root = call(&s, "GET", "/", &[]).await.text();
    assert!(root.lines().last() == Some("latest"));
}

#[tokio::test]
async fn user_data_is_octet_stream_and_404_when_absent() {
    let s = state(Config::default());
    assert_eq!(
        call(&s, "GET", "/latest/user-data", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let gz = [0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe];
    let r = call_body(&s, "PUT", "/_mock/user-data", &[], &gz).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&s, "GET", "/latest/user-data", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(&r.body[..], &gz);
    let big = vec![b'x'; 16385];
    let r = call_body(&s, "PUT", "/_mock/user-data", &[], &big).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("16385 bytes"), "{}", r.text());
}

/// Walk every listed child from `/latest/meta-data/` and `/latest/dynamic/`; each answers 200.
async fn crawl(s: &State, token: &str) -> Vec<(String, String)> {
    let mut leaves = Vec::new();
    let mut todo = vec![
        "/latest/meta-data/".to_string(),
        "/latest/dynamic/".to_string(),
    ];
    let mut seen = BTreeSet::new();
    while let Some(dir) = todo.pop() {
        let r = get_v2(s, &dir, token).await;
        assert_eq!(r.status, StatusCode::OK, "listing {dir}");
        let text = r.text();
        assert!(!text.ends_with('\n'), "{dir} ends with a newline");
        for line in text.lines() {
            assert!(!line.is_empty(), "{dir} has an empty line");
            let name = line.split_once('=').map_or(line, |(i, _)| i);
            let child = if line.contains('=') {
                format!("{dir}{name}/")
            } else {
                format!("{dir}{name}")
            };
            assert!(seen.insert(child.clone()), "{child} listed twice");
            if child.ends_with('/') {
                todo.push(child);
            } else {
                let r = get_v2(s, &child, token).await;
                assert_eq!(r.status, StatusCode::OK, "leaf {child}");
                assert_eq!(r.header("content-type"), Some("text/plain"), "{child}");
                leaves.push((child, r.text()));
            }
        }
    }
    leaves
}

#[tokio::test]
async fn crawl_every_listed_child_answers_200() {
    let mut config = Config {
        role: Some("web".into()),
        instance_metadata_tags: Toggle::Enabled,
        ipv6: Some("2600:1f18:abcd:1234::5".into()),
        autoscaling_lifecycle_state: Some("InService".into()),
        ..Config::default()
    };
    config.tags.insert("Name".into(), "web-1".into());
    config
        .public_keys
        .insert("my-key".into(), "ssh-ed25519 AAAAC3Nza test".into());
    let s = state(config);
    s.schedule_spot("stop", 0).unwrap();
    s.schedule_rebalance(0);
    s.schedule_event("system-reboot", "scheduled reboot", 3600, 600);
    let t = token(&s, "21600").await;
    let leaves = crawl(&s, &t).await;
    let get = |p: &str| {
        leaves
            .iter()
            .find(|(path, _)| path == p)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{p} not crawled"))
    };
    for must in [
        "/latest/meta-data/iam/security-credentials/web",
        "/latest/meta-data/iam/security-credentials-extended/web",
        "/latest/meta-data/iam/info",
        "/latest/meta-data/public-keys/0/openssh-key",
        "/latest/meta-data/spot/instance-action",
        "/latest/meta-data/spot/termination-time",
        "/latest/meta-data/events/recommendations/rebalance",
        "/latest/meta-data/events/maintenance/scheduled",
        "/latest/meta-data/events/maintenance/history",
        "/latest/meta-data/autoscaling/target-lifecycle-state",
        "/latest/meta-data/tags/instance/Name",
        "/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance",
        "/latest/meta-data/identity-credentials/ec2/info",
        "/latest/meta-data/ipv6",
        "/latest/dynamic/fws/instance-monitoring",
        "/latest/dynamic/instance-identity/signature",
        "/latest/dynamic/instance-identity/pkcs7",
        "/latest/dynamic/instance-identity/rsa2048",
    ] {
        get(must);
    }
    let mac = get("/latest/meta-data/mac");
    for child in [
        "device-number",
        "interface-id",
        "local-ipv4s",
        "subnet-ipv4-cidr-block",
        "vpc-id",
        "ipv6s",
        "public-ipv4s",
        "security-group-ids",
    ] {
        get(&format!(
            "/latest/meta-data/network/interfaces/macs/{mac}/{child}"
        ));
    }
    // The identity document agrees with meta-data.
    let doc: serde_json::Value =
        serde_json::from_str(&get("/latest/dynamic/instance-identity/document")).unwrap();
    assert_eq!(doc["instanceId"], get("/latest/meta-data/instance-id"));
    assert_eq!(doc["imageId"], get("/latest/meta-data/ami-id"));
    assert_eq!(doc["instanceType"], get("/latest/meta-data/instance-type"));
    assert_eq!(doc["privateIp"], get("/latest/meta-data/local-ipv4"));
    assert_eq!(
        doc["availabilityZone"],
        get("/latest/meta-data/placement/availability-zone")
    );
    assert_eq!(doc["region"], get("/latest/meta-data/placement/region"));
    assert_eq!(
        doc["accountId"],
        get(&format!(
            "/latest/meta-data/network/interfaces/macs/{mac}/owner-id"
        ))
    );
    // Every JSON-looking leaf parses.
    for (path, body) in &leaves {
        if body.starts_with('{') || body.starts_with('[') {
            serde_json::from_str::<serde_json::Value>(body)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
}

#[tokio::test]
async fn crawl_of_a_minimal_instance_lists_nothing_absent() {
    let s = state_with_test_key(Config {
        public_ip: None,
        ..Config::default()
    });
    let t = token(&s, "60").await;
    let leaves = crawl(&s, &t).await;
    for absent in [
        "iam/",
        "spot/",
        "tags/",
        "public-ipv4",
        "public-keys/",
        "ipv6",
    ] {
        assert!(
            !leaves
                .iter()
                .any(|(p, _)| p.starts_with(&format!("/latest/meta-data/{absent}"))),
            "{absent} listed"
        );
        let r = call(&s, "GET", &format!("/latest/meta-data/{absent}"), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{absent}");
    }
}

// ---- credentials

#[tokio::test]
async fn credentials_have_seven_fields_and_differ_by_delivery() {
    let s = state(Config {
        role: Some("web".into()),
        ..Config::default()
    });
    let path = "/latest/meta-data/iam/security-credentials/web";
    let v1: serde_json::Value =
        serde_json::from_slice(&call(&s, "GET", path, &[]).await.body).unwrap();
    let t = token(&s, "60").await;
    let v2: serde_json::Value = serde_json::from_slice(&get_v2(&s, path, &t).await.body).unwrap();
    assert_eq!(v2.as_object().unwrap().len(), 7);
    assert_eq!(v2["Code"], "Success");
    assert_eq!(v2["Type"], "AWS-HMAC");
    assert!(v2["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_ne!(v1["AccessKeyId"], v2["AccessKeyId"]);
    let exp = v2["Expiration"].as_str().unwrap();
    assert!(exp.ends_with('Z') && !exp.contains('.'), "{exp}");
    let exp: chrono::DateTime<chrono::Utc> = exp.parse().unwrap();
    let last: chrono::DateTime<chrono::Utc> = v2["LastUpdated"].as_str().unwrap().parse().unwrap();
    assert_eq!((exp - last).num_seconds(), 6 * 3600);
    // the listing body is exactly the role name
    assert_eq!(
        call(
            &s,
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            &[]
        )
        .await
        .text(),
        "web"
    );
}

#[tokio::test]
async fn role_attach_detach_via_control_api() {
    let s = state(Config::default());
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/iam/", &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let r = call_body(&s, "PUT", "/_mock/role", &[], br#"{"role": "deployer"}"#).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/iam/security-credentials", &[])
            .await
            .text(),
        "deployer"
    );
    call(&s, "DELETE", "/_mock/role", &[]).await;
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/iam/info", &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn expired_credentials_fault() {
    let s = state(Config {
        role: Some("web".into()),
        ..Config::default()
    });
    let f = r#"[{"path": "/latest/meta-data/iam/", "expired_credentials": true}]"#;
    call_body(&s, "PUT", "/_mock/faults", &[], f.as_bytes()).await;
    let v: serde_json::Value = serde_json::from_slice(
        &call(
            &s,
            "GET",
            "/latest/meta-data/iam/security-credentials/web",
            &[],
        )
        .await
        .body,
    )
    .unwrap();
    let exp: chrono::DateTime<chrono::Utc> = v["Expiration"].as_str().unwrap().parse().unwrap();
    assert!(exp < s.now());
}

// ---- control API

#[tokio::test]
async fn control_api_options_launch_stop_start_and_counts() {
    let s = state(Config::default());
    let r = control(
        &s,
        "PUT",
        "/_mock/metadata-options",
        r#"{"http_tokens": "required", "http_put_response_hop_limit": 3}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(s.options().http_tokens, HttpTokens::Required);
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = control(
        &s,
        "PUT",
        "/_mock/metadata-options",
        r#"{"http_put_response_hop_limit": 65}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = control(&s, "PUT", "/_mock/metadata-options", r#"{"bogus": 1}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let old = s.instance_id();
    let r = call(&s, "POST", "/_mock/launch", &[]).await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_ne!(v["instance_id"], old.as_str());

    assert_eq!(
        call(&s, "POST", "/_mock/stop", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&s, "POST", "/_mock/stop", &[]).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        call(&s, "POST", "/_mock/start", &[]).await.status,
        StatusCode::OK
    );

    let counts: serde_json::Value =
        serde_json::from_slice(&call(&s, "GET", "/_mock/requests", &[]).await.body).unwrap();
    assert_eq!(counts["unauthorized"], 1);
    assert_eq!(counts["total"], 1, "control requests are not counted");
    assert_eq!(
        call(&s, "GET", "/_mock/nope", &[]).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn control_api_schedules_notices() {
    let s = state(Config::default());
    let r = control(
        &s,
        "POST",
        "/_mock/spot",
        r#"{"action": "hibernate", "delay_secs": 60}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/spot/instance-action", &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    call_body(&s, "POST", "/_mock/clock", &[], br#"{"advance_secs": 60}"#).await;
    let r = call(&s, "GET", "/latest/meta-data/spot/instance-action", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["action"], "hibernate");

    let r = control(
        &s,
        "POST",
        "/_mock/events",
        r#"{"code": "instance-stop", "not_before_secs": 3600}"#,
    )
    .await;
    let id = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sched = call(
        &s,
        "GET",
        "/latest/meta-data/events/maintenance/scheduled",
        &[],
    )
    .await
    .text();
    assert!(
        sched.contains(&id) && sched.contains("instance-stop"),
        "{sched}"
    );
    assert_eq!(
        call(&s, "DELETE", &format!("/_mock/events/{id}"), &[])
            .await
            .status,
        StatusCode::OK
    );
    let hist = call(
        &s,
        "GET",
        "/latest/meta-data/events/maintenance/history",
        &[],
    )
    .await
    .text();
    assert!(hist.contains("[Canceled]"), "{hist}");

    assert_eq!(
        call_body(&s, "POST", "/_mock/spot", &[], br#"{"action": "explode"}"#)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call_body(&s, "POST", "/_mock/spot", &[], b"{not json")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn tags_are_live() {
    let s = state(Config {
        instance_metadata_tags: Toggle::Enabled,
        ..Config::default()
    });
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/tags/instance", &[])
            .await
            .text(),
        ""
    );
    control(&s, "PUT", "/_mock/tags", r#"{"Name": "a", "Env": "prod"}"#).await;
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/tags/instance", &[])
            .await
            .text(),
        "Env\nName"
    );
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/tags/instance/Env", &[])
            .await
            .text(),
        "prod"
    );
    let r = call_body(&s, "PUT", "/_mock/tags", &[], br#"{"a b": "x"}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

// ---- identity signatures, STS, container credentials

#[tokio::test]
async fn identity_signature_verifies_with_the_published_certificate() {
    let s = state_with_test_key(Config::default());
    let doc = call(&s, "GET", "/latest/dynamic/instance-identity/document", &[])
        .await
        .body;
    let sig = call(
        &s,
        "GET",
        "/latest/dynamic/instance-identity/signature",
        &[],
    )
    .await;
    assert_eq!(sig.status, StatusCode::OK);
    let pem = call(&s, "GET", "/_mock/identity-certificate", &[]).await;
    assert_eq!(pem.status, StatusCode::OK);
    assert!(pem.text().starts_with("-----BEGIN CERTIFICATE-----"));
    // The same document signs to the same signature (cached, deterministic PKCS#1 v1.5).
    let again = call(
        &s,
        "GET",
        "/latest/dynamic/instance-identity/signature",
        &[],
    )
    .await;
    assert_eq!(sig.body, again.body);
    assert!(!doc.is_empty());
    // A new instance has a new document and so a new signature.
    s.launch_new_instance();
    let other = call(
        &s,
        "GET",
        "/latest/dynamic/instance-identity/signature",
        &[],
    )
    .await;
    assert_ne!(sig.body, other.body);
}

#[tokio::test]
async fn sts_get_caller_identity_with_instance_credentials() {
    let s = state(Config {
        role: Some("web".into()),
        ..Config::default()
    });
    let key = s.credentials(imds_mock::creds::Delivery::V2).unwrap();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15".to_vec();
    let mut req = Request::post("/")
        .header("host", "127.0.0.1")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
        .unwrap();
    imds_mock::sigv4::sign_request(&mut req, &key, "us-east-1", "sts", s.now());
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, Full::new(Bytes::from(body)));
    let resp = router(s.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let xml = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let arn = format!(
        "arn:aws:sts::123456789012:assumed-role/web/{}",
        s.instance_id()
    );
    assert!(xml.contains(&arn), "{xml}");

    // An unsigned STS request is refused as AWS refuses it.
    let r = call_body(&s, "POST", "/", &[], b"Action=GetCallerIdentity").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // A signature made for another region than the endpoint's is refused too.
    let mut req = Request::post("/")
        .header("host", "127.0.0.1")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(b"Action=GetCallerIdentity&Version=2011-06-15".to_vec())
        .unwrap();
    imds_mock::sigv4::sign_request(&mut req, &key, "ap-south-2", "sts", s.now());
    let (parts, body) = req.into_parts();
    let resp = router(
        s.clone(),
        Request::from_parts(parts, Full::new(Bytes::from(body))),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let xml = resp.into_body().collect().await.unwrap().to_bytes();
    let xml = String::from_utf8_lossy(&xml);
    assert!(
        xml.contains("SignatureDoesNotMatch") && xml.contains("not &apos;ap-south-2&apos;"),
        "{xml}"
    );
}

#[tokio::test]
async fn container_endpoints() {
    let s = state(Config::default());
    let c = s.config().container;
    let r = call(
        &s,
        "GET",
        &format!("/v2/credentials/{}", c.credential_id),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["RoleArn"], "arn:aws:iam::123456789012:role/ecs-task-role");
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(
        call(&s, "GET", "/v2/credentials/wrong", &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&s, "GET", "/v1/credentials", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&s, "GET", "/v1/credentials", &[("authorization", "nope")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = call(
        &s,
        "GET",
        "/v1/credentials",
        &[("authorization", &c.authorization_token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v2: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v2["AccessKeyId"], v["AccessKeyId"],
        "same container role, same current key"
    );
    assert_eq!(v2["AccountId"], "123456789012");
}

async fn caller_identity(s: &State, key: &imds_mock::keys::IssuedKey) -> (StatusCode, String) {
    let mut req = Request::post("/")
        .header("host", "127.0.0.1")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(b"Action=GetCallerIdentity&Version=2011-06-15".to_vec())
        .unwrap();
    imds_mock::sigv4::sign_request(&mut req, key, "us-east-1", "sts", s.now());
    let (parts, body) = req.into_parts();
    let resp = router(
        s.clone(),
        Request::from_parts(parts, Full::new(Bytes::from(body))),
    )
    .await
    .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn rotated_keys_stay_valid_at_sts_until_they_expire() {
    let s = state(Config {
        role: Some("web".into()),
        ..Config::default()
    });
    let path = "/latest/meta-data/iam/security-credentials/web";
    let t = token(&s, "21600").await;
    let first: serde_json::Value =
        serde_json::from_slice(&get_v2(&s, path, &t).await.body).unwrap();
    let old =
        imds_mock::keys::KeyStore::lookup(&s, first["AccessKeyId"].as_str().unwrap()).unwrap();

    // Five hours on: inside the rotation window (1 h before the 6 h expiry).
    control(&s, "POST", "/_mock/clock", r#"{"advance_secs": 18000}"#).await;
    let t = token(&s, "21600").await;
    let second: serde_json::Value =
        serde_json::from_slice(&get_v2(&s, path, &t).await.body).unwrap();
    assert_ne!(first["AccessKeyId"], second["AccessKeyId"], "rotated");
    let (status, xml) = caller_identity(&s, &old).await;
    assert_eq!(status, StatusCode::OK, "old key still valid: {xml}");

    // Past the old key's expiry: STS refuses it, the new one works.
    control(&s, "POST", "/_mock/clock", r#"{"advance_secs": 3601}"#).await;
    let (status, xml) = caller_identity(&s, &old).await;
    assert_ne!(status, StatusCode::OK);
    assert!(xml.contains("ExpiredToken"), "{xml}");
    let new =
        imds_mock::keys::KeyStore::lookup(&s, second["AccessKeyId"].as_str().unwrap()).unwrap();
    assert_eq!(caller_identity(&s, &new).await.0, StatusCode::OK);
}

#[tokio::test]
async fn throttling_drops_requests_over_the_burst() {
    let s = state(Config::default());
    let r = control(
        &s,
        "PUT",
        "/_mock/throttle",
        r#"{"requests_per_sec": 0.001, "burst": 3}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut answered = 0;
    let mut dropped = 0;
    for _ in 0..5 {
        let req = Request::get("/latest/meta-data/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        match router(s.clone(), req).await {
            Ok(_) => answered += 1,
            Err(_) => dropped += 1,
        }
    }
    assert_eq!((answered, dropped), (3, 2));
    assert_eq!(
        call(&s, "DELETE", "/_mock/throttle", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&s, "GET", "/latest/meta-data/", &[]).await.status,
        StatusCode::OK
    );
    let r = control(&s, "PUT", "/_mock/throttle", r#"{"requests_per_sec": 0}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn credential_error_document_is_served_with_200() {
    let s = state(Config {
        role: Some("web".into()),
        ..Config::default()
    });
    let r = call_body(&s, "PUT", "/_mock/credential-error", &[], b"{}").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = call(
        &s,
        "GET",
        "/latest/meta-data/iam/security-credentials/web",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["Code"], "AssumeRoleUnauthorizedAccess");
    assert!(v["Message"].as_str().unwrap().contains("web"));
    assert!(v.get("AccessKeyId").is_none());
    call(&s, "DELETE", "/_mock/credential-error", &[]).await;
    let r = call(
        &s,
        "GET",
        "/latest/meta-data/iam/security-credentials/web",
        &[],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["Code"], "Success");
}

#[tokio::test]
async fn each_interface_has_its_own_rate_and_requests_count_against_their_source() {
    use imds_mock::server::PeerAddr;
    let yaml = "network_interfaces:\n  - mac: 0e:49:61:0f:c3:22\n    device_number: 1\n    subnet_cidr: 10.0.2.0/24\n    private_ips: [10.0.2.10]\n";
    let s = state(serde_yaml::from_str(yaml).unwrap());
    let r = control(
        &s,
        "PUT",
        "/_mock/interface-throttle",
        r#"{"requests_per_sec": 0.001, "burst": 2}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let from = |ip: &str| {
        let mut req = Request::get("/latest/meta-data/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr(format!("{ip}:40000").parse().unwrap()));
        req
    };
    let mut answered = std::collections::BTreeMap::new();
    for ip in [
        "127.0.0.1",
        "10.0.2.10",
        "127.0.0.1",
        "10.0.2.10",
        "127.0.0.1",
        "10.0.2.10",
    ] {
        let ok = router(s.clone(), from(ip)).await.is_ok();
        *answered.entry(ip).or_insert(0) += u32::from(ok);
    }
    // Two each: the primary's budget (any other source) and the secondary's are apart.
    assert_eq!(answered["127.0.0.1"], 2, "{answered:?}");
    assert_eq!(answered["10.0.2.10"], 2, "{answered:?}");
    call(&s, "DELETE", "/_mock/interface-throttle", &[]).await;
    assert!(router(s.clone(), from("10.0.2.10")).await.is_ok());
}

#[tokio::test]
async fn no_web_page_can_drive_the_control_api() {
    let s = state(Config::default());
    let id = |s: &State| s.config().instance_id.clone();
    let before = id(&s);
    // What a page on another origin can send without a preflight: a form or text/plain
    // POST (its Origin says where it comes from), or a no-cors POST with no body.
    let refused: [(&[(&str, &str)], StatusCode); 5] = [
        (
            &[("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &[("content-type", "application/x-www-form-urlencoded")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &[("content-type", "multipart/form-data; boundary=x")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &[
                ("host", "127.0.0.1:1338"),
                ("origin", "https://evil.example"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (&[("sec-fetch-site", "cross-site")], StatusCode::FORBIDDEN),
    ];
    for (headers, status) in refused {
        let r = call(&s, "POST", "/_mock/launch", headers).await;
        assert_eq!(r.status, status, "{headers:?}: {}", r.text());
        assert!(
            r.text().contains("refused") || r.text().contains("may not"),
            "{}",
            r.text()
        );
    }
    assert_eq!(id(&s), before, "no refused request launched an instance");
    // curl, scripts and the mock's own page (same origin) still can.
    for headers in [
        &[][..],
        &[("content-type", "application/json")][..],
        &[
            ("host", "127.0.0.1:1338"),
            ("origin", "http://127.0.0.1:1338"),
        ][..],
    ] {
        let r = call(&s, "POST", "/_mock/launch", headers).await;
        assert_eq!(r.status, StatusCode::OK, "{headers:?}: {}", r.text());
    }
    assert_ne!(id(&s), before);
    // A raw user-data PUT keeps any type (a browser cannot PUT without a preflight).
    let r = call_body(
        &s,
        "PUT",
        "/_mock/user-data",
        &[("content-type", "text/plain")],
        b"#!/bin/sh\n",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
