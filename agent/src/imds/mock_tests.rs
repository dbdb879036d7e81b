//! The client against the real mock, started in-process on 127.0.0.1:0.

use std::time::Duration;

use imds_mock::config::Fault;
use imds_mock::{Config, HttpTokens, RunningMock, Toggle};

use super::{ImdsClient, ImdsError, ImdsSettings};

async fn mock(config: Config) -> RunningMock {
    imds_mock::spawn(Config {
        listen: "127.0.0.1:0".into(),
        ..config
    })
    .await
    .unwrap()
}

fn client_for(mock: &RunningMock, v2_only: bool) -> ImdsClient {
    let mut s = ImdsSettings::default().with_endpoint(mock.url());
    s.retry_base = Duration::ZERO;
    if v2_only {
        s = s.v2_only();
    }
    ImdsClient::from_settings(&s).unwrap()
}

fn fault(path: &str, status: u16) -> Fault {
    Fault {
        path: path.into(),
        latency_ms: 0,
        error_rate: 1.0,
        error_status: status,
        drop_rate: 0.0,
        expired_credentials: false,
    }
}

#[tokio::test]
async fn required_mode_with_one_token() {
    let user_data = b"#cloud-config\n\xff\x00raw".to_vec();
    let mock = mock(Config {
        http_tokens: HttpTokens::Required,
        user_data: Some(user_data.clone()),
        ..Config::default()
    })
    .await;
    let client = client_for(&mock, true);
    assert_eq!(client.user_data().await.unwrap(), Some(user_data));
    let id = client
        .get_text("/latest/meta-data/instance-id")
        .await
        .unwrap();
    assert_eq!(id, Some(mock.state().instance_id()));
    assert_eq!(
        client.get("/latest/meta-data/no-such-thing").await.unwrap(),
        None
    );
    let counts = mock.state().counts();
    assert_eq!(counts.tokens, 1);
    assert_eq!(counts.imdsv1, 0);
    assert_eq!(client.requests_made(), 4);
    mock.shutdown().await;
}

#[tokio::test]
async fn expired_token_is_refreshed_after_a_401() {
    let mock = mock(Config::default()).await;
    let client = client_for(&mock, true);
    client
        .get("/latest/meta-data/ami-id")
        .await
        .unwrap()
        .unwrap();
    // The mock's clock jumps past the token's lifetime; the client still trusts it.
    mock.state().advance_clock(21_601);
    client
        .get("/latest/meta-data/ami-id")
        .await
        .unwrap()
        .unwrap();
    let counts = mock.state().counts();
    assert_eq!(counts.tokens, 2);
    assert_eq!(counts.unauthorized, 1);
    mock.shutdown().await;
}

#[tokio::test]
async fn v1_fallback_when_the_token_api_is_missing() {
    let mock = mock(Config::default()).await;
    mock.state()
        .set_faults(vec![fault("/latest/api/token", 404)])
        .unwrap();
    let client = client_for(&mock, false);
    assert!(client
        .get("/latest/meta-data/instance-id")
        .await
        .unwrap()
        .is_some());
    assert_eq!(mock.state().counts().imdsv1, 1);
    let err = client_for(&mock, true)
        .get("/latest/meta-data/instance-id")
        .await
        .unwrap_err();
    assert!(matches!(err, ImdsError::Token { status: 404, .. }), "{err}");
    mock.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let mock = mock(Config::default()).await;
    mock.state()
        .set_faults(vec![fault("/latest/meta-data/ami-id", 503)])
        .unwrap();
    let client = client_for(&mock, true);
    let err = client.get("/latest/meta-data/ami-id").await.unwrap_err();
    assert!(
        matches!(
            err,
            ImdsError::ServerError {
                status: 503,
                attempts: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(mock.state().counts().faults, 4);
    mock.shutdown().await;
}

#[tokio::test]
async fn disabled_endpoint_is_reported_once() {
    let mock = mock(Config {
        http_endpoint: Toggle::Disabled,
        ..Config::default()
    })
    .await;
    let err = client_for(&mock, true)
        .get("/latest/meta-data/")
        .await
        .unwrap_err();
    assert!(matches!(err, ImdsError::Token { status: 403, .. }), "{err}");
    let err = client_for(&mock, false)
        .get("/latest/meta-data/")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImdsError::Status { status: 403, .. }),
        "{err}"
    );
    assert_eq!(mock.state().counts().total, 3);
    mock.shutdown().await;
}

#[tokio::test]
async fn the_whole_tree_walks_with_every_listed_leaf_present() {
    let mock = mock(Config::default()).await;
    let client = client_for(&mock, true);
    let leaves = super::tree::walk(&client, "/latest/meta-data/", 8)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        leaves.get("instance-id").map(Vec::as_slice),
        Some(mock.state().instance_id().as_bytes())
    );
    assert!(
        leaves.contains_key("placement/region"),
        "{:?}",
        leaves.keys()
    );
    assert_eq!(mock.state().counts().not_found, 0);
    assert_eq!(mock.state().counts().tokens, 1);
    mock.shutdown().await;
}
