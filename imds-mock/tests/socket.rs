//! The mock on a real socket (127.0.0.1:0): the embedding API, bad input on the wire (the
//! server answers like a web server and keeps serving), tokens across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use imds_mock::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    }
}

/// Send raw bytes, read the whole answer (the server closes the connection).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /latest/meta-data/instance-id` over a fresh connection.
async fn get_instance_id(addr: SocketAddr) -> String {
    raw(
        addr,
        b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

async fn get_ok(addr: SocketAddr) {
    let resp = get_instance_id(addr).await;
    assert!(
        status_line(&resp).contains("200"),
        "server stopped serving: {resp}"
    );
}

#[tokio::test]
async fn spawn_url_and_shutdown() {
    let mock = imds_mock::spawn(config()).await.unwrap();
    assert_ne!(mock.addr().port(), 0);
    assert_eq!(
        mock.url(),
        format!("http://127.0.0.1:{}", mock.addr().port())
    );
    let resp = get_instance_id(mock.addr()).await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("server: ec2ws"));
    assert!(resp.to_ascii_lowercase().contains("connection: close"));
    assert!(resp.ends_with(&mock.state().instance_id()));
    let addr = mock.addr();
    mock.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn bad_listen_address_is_an_error() {
    let err = imds_mock::spawn(Config {
        listen: "not-an-address".into(),
        ..Config::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not-an-address"), "{err}");
}

#[tokio::test]
async fn oversized_user_data_refused_at_spawn() {
    let err = imds_mock::spawn(Config {
        user_data: Some(vec![b'a'; 20_000]),
        ..config()
    })
    .await
    .unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("20000 bytes"), "{chain}");
}

#[tokio::test]
async fn malformed_requests_get_400_and_the_server_keeps_serving() {
    let mock = imds_mock::spawn(config()).await.unwrap();
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /latest/meta-data/ HTTP/9.9\r\n\r\n",
        b"GET /latest/meta-data/ HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ] {
        let resp = raw(mock.addr(), bad).await;
        assert!(
            resp.is_empty()
                || status_line(&resp).contains("400")
                || status_line(&resp).contains("505"),
            "{:?} -> {resp}",
            String::from_utf8_lossy(bad)
        );
        get_ok(mock.addr()).await;
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_get_431_and_the_server_keeps_serving() {
    let mock = imds_mock::spawn(config()).await.unwrap();
    let big = "a".repeat(64 * 1024);
    let req = format!("GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let resp = raw(mock.addr(), req.as_bytes()).await;
    assert!(status_line(&resp).contains("431"), "{}", status_line(&resp));
    get_ok(mock.addr()).await;
    mock.shutdown().await;
}

#[tokio::test]
async fn oversized_control_body_gets_413() {
    let mock = imds_mock::spawn(config()).await.unwrap();
    let body = "x".repeat(100 * 1024);
    let req = format!(
        "PUT /_mock/user-data HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let resp = raw(mock.addr(), req.as_bytes()).await;
    assert!(status_line(&resp).contains("413"), "{}", status_line(&resp));
    get_ok(mock.addr()).await;
    mock.shutdown().await;
}

#[tokio::test]
async fn token_put_over_the_wire_echoes_ttl() {
    let mock = imds_mock::spawn(Config {
        http_put_response_hop_limit: 2,
        ..config()
    })
    .await
    .unwrap();
    let resp = raw(
        mock.addr(),
        b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nx-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp
        .to_ascii_lowercase()
        .contains("x-aws-ec2-metadata-token-ttl-seconds: 21600"));
    let token = resp.rsplit("\r\n\r\n").next().unwrap();
    assert_eq!(token.len(), 56);
    mock.shutdown().await;
}

#[tokio::test]
async fn tokens_survive_a_restart_with_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        state_dir: Some(dir.path().to_path_buf()),
        ..config()
    };
    let first = imds_mock::spawn(cfg.clone()).await.unwrap();
    let token = first.state().issue_token(600);
    first.shutdown().await;
    let second = imds_mock::spawn(cfg).await.unwrap();
    let req = format!("GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nx-aws-ec2-metadata-token: {token}\r\n\r\n");
    let resp = raw(second.addr(), req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    second.shutdown().await;
}

#[tokio::test]
async fn keep_alive_when_configured() {
    let mock = imds_mock::spawn(Config {
        connection_close: false,
        ..config()
    })
    .await
    .unwrap();
    let mut s = TcpStream::connect(mock.addr()).await.unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn ipv6_endpoint_answers_only_when_enabled() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: no IPv6 loopback on this machine");
        return;
    }
    let mock = imds_mock::spawn(Config {
        listen_ipv6: Some("[::1]:0".into()),
        ..config()
    })
    .await
    .unwrap();
    let v6 = mock.addr_ipv6().unwrap();
    assert!(v6.is_ipv6());
    let resp = get_instance_id(v6).await;
    assert!(resp.is_empty(), "disabled IPv6 endpoint answered: {resp}");
    get_ok(mock.addr()).await;
    mock.state()
        .modify_options(imds_mock::config::MetadataOptionsPatch {
            http_protocol_ipv6: Some(imds_mock::Toggle::Enabled),
            ..Default::default()
        })
        .unwrap();
    let resp = get_instance_id(v6).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    mock.shutdown().await;
    assert!(
        TcpStream::connect(v6).await.is_err(),
        "IPv6 listener still open"
    );
}

#[tokio::test]
async fn dropped_connection_fault_closes_without_an_answer() {
    let mock = imds_mock::spawn(Config {
        faults: vec![imds_mock::config::Fault {
            path: "/latest/meta-data/placement".into(),
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            drop_rate: 1.0,
            expired_credentials: false,
        }],
        ..config()
    })
    .await
    .unwrap();
    let resp = raw(
        mock.addr(),
        b"GET /latest/meta-data/placement/region HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(resp.is_empty(), "answered: {resp}");
    get_ok(mock.addr()).await;
    assert_eq!(mock.state().counts().faults, 1);
    mock.shutdown().await;
}
