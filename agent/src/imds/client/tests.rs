//! Unit tests of the IMDS client against a scripted local server.

use std::sync::atomic::AtomicUsize;

use super::*;
use crate::imds::test_server::{Reply, Seen, TestServer};

const TOKEN: &str = "AQAEAFTNrA4eEGx0AQgJ1arIq_Cc-t4tWt3fB0Hd8RKhXlKc5ccvhg==";

fn settings(server: &TestServer) -> ImdsSettings {
    let mut s = ImdsSettings::default().with_endpoint(server.url());
    s.retry_base = Duration::ZERO;
    s
}

fn client(server: &TestServer) -> ImdsClient {
    ImdsClient::from_settings(&settings(server)).unwrap()
}

fn token_reply(token: &str, ttl: Option<&str>) -> Reply {
    let headers = ttl
        .map(|t| vec![(TTL_HEADER, t.to_string())])
        .unwrap_or_default();
    Reply::With(200, headers, token.as_bytes().to_vec())
}

/// A well-behaved IMDSv2 service: one token, reads echo their path.
fn imds_v2(req: &Seen, _: usize) -> Reply {
    match (req.method.as_str(), req.header(TOKEN_HEADER)) {
        ("PUT", _) => token_reply(TOKEN, Some("21600")),
        ("GET", Some(TOKEN)) => Reply::ok(req.path.clone()),
        _ => Reply::status(401),
    }
}

fn count(server: &TestServer, method: &str) -> usize {
    server.seen().iter().filter(|s| s.method == method).count()
}

#[tokio::test]
async fn token_is_cached_and_shared_by_clones() {
    let server = TestServer::start(imds_v2).await;
    let client = client(&server);
    let other = client.clone();
    assert_eq!(
        client
            .get("/latest/meta-data/instance-id")
            .await
            .unwrap()
            .unwrap(),
        b"/latest/meta-data/instance-id"
    );
    assert!(other
        .get("latest/meta-data/ami-id")
        .await
        .unwrap()
        .is_some());
    assert!(client.get("/latest/meta-data/mac").await.unwrap().is_some());
    assert_eq!(
        server.lines(),
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/instance-id",
            "GET /latest/meta-data/ami-id",
            "GET /latest/meta-data/mac"
        ]
    );
    assert_eq!(server.seen()[0].header(TTL_HEADER), Some("21600"));
    assert_eq!(other.requests_made(), 4);
}

#[tokio::test]
async fn concurrent_callers_wait_on_one_token_fetch() {
    let server = TestServer::start(imds_v2).await;
    let client = client(&server);
    let reads = (0..16).map(|i| {
        let c = client.clone();
        async move { c.get(&format!("/latest/meta-data/{i}")).await }
    });
    for result in futures_join_all(reads).await {
        assert!(result.unwrap().is_some());
    }
    assert_eq!(count(&server, "PUT"), 1);
    assert_eq!(count(&server, "GET"), 16);
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn token_near_expiry_is_refreshed() {
    // A granted lifetime inside the refresh buffer is stale at once.
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("60")),
        _ => Reply::ok("x"),
    })
    .await;
    let client = client(&server);
    client.get("/a").await.unwrap();
    client.get("/b").await.unwrap();
    assert_eq!(
        server.lines(),
        [
            "PUT /latest/api/token",
            "GET /a",
            "PUT /latest/api/token",
            "GET /b"
        ]
    );
}

#[tokio::test]
async fn missing_ttl_header_falls_back_to_the_requested_ttl() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, None),
        _ => Reply::ok("x"),
    })
    .await;
    let client = client(&server);
    client.get("/a").await.unwrap();
    client.get("/b").await.unwrap();
    assert_eq!(count(&server, "PUT"), 1);
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once() {
    let puts = Arc::new(AtomicUsize::new(0));
    let p = puts.clone();
    let server = TestServer::start(move |req, _| match req.method.as_str() {
        "PUT" => {
            let n = p.fetch_add(1, Ordering::SeqCst);
            token_reply(&format!("token-{n}"), Some("21600"))
        }
        // The first token is refused (as after a service restart).
        _ if req.header(TOKEN_HEADER) == Some("token-0") => Reply::status(401),
        _ => Reply::ok("fine"),
    })
    .await;
    let client = client(&server);
    assert_eq!(client.get("/p").await.unwrap().unwrap(), b"fine");
    assert_eq!(
        server.lines(),
        [
            "PUT /latest/api/token",
            "GET /p",
            "PUT /latest/api/token",
            "GET /p"
        ]
    );
    assert_eq!(server.seen()[3].header(TOKEN_HEADER), Some("token-1"));
}

#[tokio::test]
async fn a_second_401_is_an_error_without_more_retries() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("21600")),
        _ => Reply::status(401),
    })
    .await;
    let err = client(&server)
        .get("/latest/meta-data/x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImdsError::Status { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/latest/meta-data/x"), "{err}");
    assert_eq!(count(&server, "GET"), 2);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let server = TestServer::start(|req, n| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("21600")),
        _ if n <= 2 => Reply::status(503),
        _ => Reply::ok("up"),
    })
    .await;
    let client = client(&server);
    assert_eq!(client.get("/x").await.unwrap().unwrap(), b"up");
    assert_eq!(count(&server, "GET"), 3);
}

#[tokio::test]
async fn server_errors_give_up_after_the_configured_attempts() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("21600")),
        _ => Reply::status(500),
    })
    .await;
    let ctx = Context::fixed([("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3")], "/");
    let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
    s.retry_base = Duration::ZERO;
    let err = ImdsClient::from_settings(&s)
        .unwrap()
        .get("/x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImdsError::ServerError {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count(&server, "GET"), 3);
}

#[test]
fn backoff_doubles_and_is_capped() {
    let s = ImdsSettings {
        retry_base: Duration::from_millis(100),
        ..ImdsSettings::default()
    };
    let c = ImdsClient::from_settings(&s).unwrap();
    let d1 = c.backoff(1);
    let d3 = c.backoff(3);
    assert!(
        d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
        "{d1:?}"
    );
    assert!(
        d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
        "{d3:?}"
    );
    assert!(c.backoff(30) <= MAX_RETRY_DELAY);
    c.set_retry_base(Duration::ZERO);
    assert_eq!(c.backoff(5), Duration::ZERO);
}

#[tokio::test]
async fn no_retry_on_403_404_or_400() {
    let server = TestServer::start(|req, _| match (req.method.as_str(), req.path.as_str()) {
        ("PUT", _) => token_reply(TOKEN, Some("21600")),
        (_, "/forbidden") => Reply::status(403),
        (_, "/bad") => Reply::status(400),
        _ => Reply::status(404),
    })
    .await;
    let client = client(&server);
    assert_eq!(client.get("/missing").await.unwrap(), None);
    let err = client.get("/forbidden").await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(client.get("/bad").await.unwrap_err().status(), Some(400));
    assert_eq!(
        server.lines(),
        [
            "PUT /latest/api/token",
            "GET /missing",
            "GET /forbidden",
            "GET /bad"
        ]
    );
}

#[tokio::test]
async fn a_stalled_service_hits_the_deadline() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("21600")),
        _ => Reply::Hang,
    })
    .await;
    let ctx = Context::fixed(
        [
            ("AWS_METADATA_SERVICE_TIMEOUT", "0.05"),
            ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1000"),
        ],
        "/",
    );
    let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
    s.retry_base = Duration::ZERO;
    s.deadline = Duration::from_millis(300);
    let err = ImdsClient::from_settings(&s)
        .unwrap()
        .get("/slow")
        .await
        .unwrap_err();
    assert!(matches!(err, ImdsError::DeadlineExceeded { .. }), "{err}");
    assert!(err.to_string().contains("/slow"), "{err}");
    // Timeouts were retried before the deadline cut them off.
    assert!(count(&server, "GET") >= 2);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("21600")),
        _ => Reply::Hang,
    })
    .await;
    let ctx = Context::fixed(
        [
            ("AWS_METADATA_SERVICE_TIMEOUT", "0.05"),
            ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "2"),
        ],
        "/",
    );
    let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
    s.retry_base = Duration::ZERO;
    let err = ImdsClient::from_settings(&s)
        .unwrap()
        .get("/slow")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImdsError::Unreachable {
                attempts: 2,
                kind: "timed out",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count(&server, "GET"), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut s = ImdsSettings::default().with_endpoint(format!("http://{addr}"));
    s.retry_base = Duration::ZERO;
    let client = ImdsClient::from_settings(&s).unwrap();
    let err = client.get("/x").await.unwrap_err();
    assert!(
        matches!(err, ImdsError::Unreachable { attempts: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert_eq!(client.requests_made(), 4);
}

/// A service without the token API (404 on PUT) that serves tokenless reads.
fn imds_v1_only(req: &Seen, _: usize) -> Reply {
    match req.method.as_str() {
        "PUT" => Reply::status(404),
        _ if req.header(TOKEN_HEADER).is_none() => Reply::ok("v1"),
        _ => Reply::status(401),
    }
}

#[tokio::test]
async fn v1_fallback_where_allowed() {
    let server = TestServer::start(imds_v1_only).await;
    let client = client(&server);
    assert_eq!(client.get("/a").await.unwrap().unwrap(), b"v1");
    assert_eq!(client.get("/b").await.unwrap().unwrap(), b"v1");
    // The missing token API is remembered: one PUT.
    assert_eq!(
        server.lines(),
        ["PUT /latest/api/token", "GET /a", "GET /b"]
    );
}

#[tokio::test]
async fn v1_fallback_forbidden_by_behaviour() {
    let server = TestServer::start(imds_v1_only).await;
    let s = settings(&server).v2_only();
    let err = ImdsClient::from_settings(&s)
        .unwrap()
        .get("/a")
        .await
        .unwrap_err();
    assert!(matches!(err, ImdsError::Token { status: 404, .. }), "{err}");
    assert_eq!(server.lines(), ["PUT /latest/api/token"]);
}

#[tokio::test]
async fn v1_fallback_forbidden_by_setting() {
    let server = TestServer::start(imds_v1_only).await;
    let ctx = Context::fixed([("AWS_EC2_METADATA_V1_DISABLED", "true")], "/");
    let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
    s.retry_base = Duration::ZERO;
    let err = ImdsClient::from_settings(&s)
        .unwrap()
        .get("/a")
        .await
        .unwrap_err();
    assert!(matches!(err, ImdsError::V1Disabled { .. }), "{err}");
    assert!(
        err.to_string().contains("AWS_EC2_METADATA_V1_DISABLED"),
        "{err}"
    );
    assert_eq!(server.lines(), ["PUT /latest/api/token"]);
}

#[tokio::test]
async fn token_timeout_falls_back_to_v1_when_allowed() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => Reply::Hang,
        _ => Reply::ok("v1"),
    })
    .await;
    let ctx = Context::fixed(
        [
            ("AWS_METADATA_SERVICE_TIMEOUT", "0.05"),
            ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3"),
        ],
        "/",
    );
    let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
    s.retry_base = Duration::ZERO;
    let client = ImdsClient::from_settings(&s.clone()).unwrap();
    assert_eq!(client.get("/a").await.unwrap().unwrap(), b"v1");
    // One stalled token request, not three: the read goes on without a token.
    assert_eq!(server.lines(), ["PUT /latest/api/token", "GET /a"]);
    assert_eq!(server.seen()[1].header(TOKEN_HEADER), None);
    let err = ImdsClient::from_settings(&s.v2_only())
        .unwrap()
        .get("/a")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImdsError::Unreachable {
                kind: "timed out",
                ..
            }
        ),
        "{err}"
    );
    // An IMDSv2-only client retries the stalled token request.
    assert_eq!(count(&server, "PUT"), 4);
}

#[tokio::test]
async fn required_mode_needs_a_token() {
    // HttpTokens=required: tokenless reads get 401.
    let required = |req: &Seen, _: usize| match (req.method.as_str(), req.header(TOKEN_HEADER)) {
        ("PUT", _) => token_reply(TOKEN, Some("21600")),
        ("GET", Some(TOKEN)) => Reply::ok("v2"),
        _ => Reply::status(401),
    };
    let server = TestServer::start(required).await;
    assert_eq!(client(&server).get("/a").await.unwrap().unwrap(), b"v2");
    assert!(server
        .seen()
        .iter()
        .all(|s| s.method == "PUT" || s.header(TOKEN_HEADER) == Some(TOKEN)));

    // A token API that answers 405 leaves only IMDSv1, which a required-mode
    // service refuses: the error says so after one fresh try.
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => Reply::status(405),
        _ => Reply::status(401),
    })
    .await;
    let err = client(&server).get("/a").await.unwrap_err();
    assert!(err.to_string().contains("requires IMDSv2"), "{err}");
    assert_eq!(count(&server, "GET"), 2);
}

#[tokio::test]
async fn disabled_endpoint() {
    // HttpEndpoint=disabled: 403 on the token API is final for an IMDSv2-only client.
    let server = TestServer::start(|_, _| Reply::status(403)).await;
    let err = ImdsClient::from_settings(&settings(&server).v2_only())
        .unwrap()
        .get("/a")
        .await
        .unwrap_err();
    assert!(matches!(err, ImdsError::Token { status: 403, .. }), "{err}");
    assert!(err.to_string().contains("HttpEndpoint=disabled"), "{err}");
    assert_eq!(server.lines(), ["PUT /latest/api/token"]);

    // AWS_EC2_METADATA_DISABLED: no request at all.
    let ctx = Context::fixed([("AWS_EC2_METADATA_DISABLED", "true")], "/");
    let client = ImdsClient::with_endpoint(&ctx, &server.url()).unwrap();
    let err = client.user_data().await.unwrap_err();
    assert!(matches!(err, ImdsError::Disabled { .. }), "{err}");
    assert_eq!(client.requests_made(), 0);
    assert_eq!(server.lines().len(), 1);
}

#[tokio::test]
async fn user_data_is_raw_bytes() {
    let raw: Vec<u8> = vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, b'\n', 0x00];
    let body = raw.clone();
    let server = TestServer::start(
        move |req, _| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", _) => token_reply(TOKEN, Some("21600")),
            (_, "/latest/user-data") => Reply::ok(body.clone()),
            _ => Reply::status(404),
        },
    )
    .await;
    assert_eq!(client(&server).user_data().await.unwrap(), Some(raw));
}

#[tokio::test]
async fn listings_split_on_newlines() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("21600")),
        _ => Reply::ok("ami-id\nblock-device-mapping/\nplacement/"),
    })
    .await;
    assert_eq!(
        client(&server)
            .list("/latest/meta-data/")
            .await
            .unwrap()
            .unwrap(),
        ["ami-id", "block-device-mapping/", "placement/"]
    );
}

#[tokio::test]
async fn tokens_never_reach_debug_or_errors() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => token_reply(TOKEN, Some("21600")),
        _ => Reply::status(401),
    })
    .await;
    let client = client(&server);
    let err = client.get("/a").await.unwrap_err();
    for text in [format!("{client:?}"), format!("{err:?}"), err.to_string()] {
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[tokio::test]
async fn any_failure_rule_reads_without_a_token_after_a_400_or_5xx() {
    for status in [400, 500] {
        let server = TestServer::start(move |req, _| match req.method.as_str() {
            "PUT" => Reply::status(status),
            _ if req.header(TOKEN_HEADER).is_none() => Reply::ok("v1"),
            _ => Reply::status(401),
        })
        .await;
        let mut s = settings(&server);
        s.attempts_override = Some(2);
        // The default rule: a 400 or a lasting 5xx from the token API is an error.
        let err = ImdsClient::from_settings(&s)
            .unwrap()
            .get("/a")
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status), "{err}");
        s.v1_fallback = V1Fallback::OnAnyFailure;
        let client = ImdsClient::from_settings(&s).unwrap();
        assert_eq!(client.get("/a").await.unwrap().unwrap(), b"v1");
        let puts = if status == 500 { 2 } else { 1 };
        assert_eq!(count(&server, "PUT"), 2 * puts, "status {status}");
    }
}

#[tokio::test]
async fn any_failure_rule_still_honours_v1_disabled() {
    let server = TestServer::start(|req, _| match req.method.as_str() {
        "PUT" => Reply::status(500),
        _ => Reply::ok("v1"),
    })
    .await;
    let ctx = Context::fixed([("AWS_EC2_METADATA_V1_DISABLED", "true")], "/");
    let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
    s.retry_base = Duration::ZERO;
    s.attempts_override = Some(1);
    s.v1_fallback = V1Fallback::OnAnyFailure;
    let err = ImdsClient::from_settings(&s)
        .unwrap()
        .get("/a")
        .await
        .unwrap_err();
    assert!(matches!(err, ImdsError::V1Disabled { .. }), "{err}");
    assert_eq!(server.lines(), ["PUT /latest/api/token"]);
}

#[tokio::test]
async fn transport_retries_can_be_turned_off() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut s = ImdsSettings::default().with_endpoint(&url).v2_only();
    s.retry_base = Duration::ZERO;
    s.attempts_override = Some(4);
    s.retry_transport_errors = false;
    let client = ImdsClient::from_settings(&s).unwrap();
    let err = client.get("/a").await.unwrap_err();
    assert!(
        matches!(err, ImdsError::Unreachable { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(client.requests_made(), 1);
}

#[test]
fn fixed_retry_delay_does_not_double() {
    let s = ImdsSettings {
        retry_base: Duration::from_millis(50),
        retry_doubles: false,
        ..ImdsSettings::default()
    };
    let client = ImdsClient::from_settings(&s).unwrap();
    for attempt in 1..5 {
        assert_eq!(client.backoff(attempt), Duration::from_millis(50));
    }
}

/// The marked transport (hyper's connector, `SO_MARK` before connect) behaves as the
/// plain one: token, reads, 404, 401 refresh, timeouts and refused connections. Setting
/// a mark needs `CAP_NET_ADMIN`; without it the test says so and stops.
#[tokio::test]
async fn the_marked_transport_behaves_as_the_plain_one() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: SO_MARK needs root (CAP_NET_ADMIN)");
        return;
    }
    let server = TestServer::start(|req, _| match (req.method.as_str(), req.path.as_str()) {
        ("PUT", _) => token_reply(TOKEN, Some("21600")),
        ("GET", "/missing") => Reply::status(404),
        ("GET", "/slow") => Reply::Hang,
        ("GET", _) if req.header(TOKEN_HEADER) == Some(TOKEN) => Reply::ok(req.path.clone()),
        _ => Reply::status(401),
    })
    .await;
    let mut s = settings(&server).with_fwmark(Some(super::super::lockdown::FWMARK));
    s.timeout_override = Some(Duration::from_millis(100));
    s.attempts_override = Some(2);
    let client = ImdsClient::from_settings(&s).unwrap();
    assert_eq!(client.fwmark(), Some(0x7FFF_0815));
    assert!(format!("{client:?}").contains("fwmark"));
    assert_eq!(client.get("/a").await.unwrap().unwrap(), b"/a");
    assert_eq!(client.get("/missing").await.unwrap(), None);
    let err = client.get("/slow").await.unwrap_err();
    assert!(
        matches!(
            err,
            ImdsError::Unreachable {
                kind: "timed out",
                attempts: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count(&server, "PUT"), 1);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut s = ImdsSettings::default()
        .with_endpoint(format!("http://{addr}"))
        .with_fwmark(Some(1));
    s.retry_base = Duration::ZERO;
    let err = ImdsClient::from_settings(&s)
        .unwrap()
        .get("/x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImdsError::Unreachable {
                kind: "connection failed",
                ..
            }
        ),
        "{err}"
    );
}
