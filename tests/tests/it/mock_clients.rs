//! Real AWS clients, unmodified, against the mock: aws-config's IMDS client, credential
//! providers and aws-sdk-sts in this process; the AWS CLI v2 (`/usr/bin/aws`) and
//! botocore as child processes with a clean environment. Peers that are not installed
//! are skipped with a message saying so.

use std::path::Path;
use std::process::Command;
use strap_e2e::{stderr, stdout};

use aws_credential_types::provider::ProvideCredentials;
use imds_mock::creds::Delivery;
use imds_mock::{Config, HttpTokens, RunningMock};

/// The AWS CLI v2 as Debian installs it (an `aws` earlier on PATH may be v1).
const AWS_CLI_V2: &str = "/usr/bin/aws";

/// The role the tests attach to the mock instance.
const ROLE: &str = "strap-test-role";

async fn start(tokens: HttpTokens) -> RunningMock {
    let config = Config {
        listen: "127.0.0.1:0".into(),
        http_tokens: tokens,
        role: Some(ROLE.into()),
        ..Config::default()
    };
    imds_mock::spawn(config).await.expect("mock starts")
}

fn imds_client(mock: &RunningMock) -> aws_config::imds::Client {
    aws_config::imds::Client::builder()
        .endpoint(mock.url())
        .expect("valid endpoint")
        .build()
}

#[tokio::test]
async fn aws_config_imds_client_reads_region_and_instance_id() {
    let mock = start(HttpTokens::Required).await;
    let client = imds_client(&mock);
    let config = mock.state().config();
    let region = client
        .get("/latest/meta-data/placement/region")
        .await
        .unwrap();
    assert_eq!(region.as_ref(), config.region);
    let id = client.get("/latest/meta-data/instance-id").await.unwrap();
    assert_eq!(id.as_ref(), mock.state().instance_id());

    let provider = aws_config::imds::region::ImdsRegionProvider::builder()
        .imds_client(client)
        .build();
    assert_eq!(
        provider.region().await.map(|r| r.to_string()),
        Some(config.region.clone())
    );
    // aws-config speaks IMDSv2 only: every request carried a token.
    let counts = mock.state().counts();
    assert_eq!(counts.imdsv1, 0, "{counts:?}");
    assert!(counts.imdsv2 >= 3, "{counts:?}");
    mock.shutdown().await;
}

async fn imds_provider_gets_the_served_credentials(tokens: HttpTokens) {
    let mock = start(tokens).await;
    let provider = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .imds_client(imds_client(&mock))
        .build();
    let creds = provider.provide_credentials().await.unwrap();
    let served = mock.state().credentials(Delivery::V2).unwrap();
    assert_eq!(creds.access_key_id(), served.access_key_id);
    assert_eq!(creds.secret_access_key(), served.secret_access_key);
    assert_eq!(creds.session_token(), Some(served.session_token.as_str()));
    assert!(creds.access_key_id().starts_with("ASIA"));
    let expiry = creds.expiry().expect("IMDS credentials expire");
    let expiry_secs = expiry
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(expiry_secs as i64, served.expiration.timestamp());
    mock.shutdown().await;
}

#[tokio::test]
async fn aws_config_imds_credentials_in_optional_mode() {
    imds_provider_gets_the_served_credentials(HttpTokens::Optional).await;
}

#[tokio::test]
async fn aws_config_imds_credentials_in_required_mode() {
    imds_provider_gets_the_served_credentials(HttpTokens::Required).await;
}

#[tokio::test]
async fn aws_config_imds_credentials_without_a_role_are_not_loaded() {
    let config = Config {
        listen: "127.0.0.1:0".into(),
        role: None,
        ..Config::default()
    };
    let mock = imds_mock::spawn(config).await.unwrap();
    let provider = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .imds_client(imds_client(&mock))
        .build();
    let err = provider.provide_credentials().await.unwrap_err();
    assert!(
        matches!(
            err,
            aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_)
        ),
        "{err:?}"
    );
    mock.shutdown().await;
}

/// A command for an external client with nothing of the caller's AWS setup: HOME in a
/// temporary directory, no `AWS_*` variables, no proxies, plus `vars`.
fn clean_command(program: &str, home: &Path, vars: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for key in [
        "PATH",
        "LANG",
        "LC_ALL",
        "PYTHONPATH",
        "PYENV_ROOT",
        "PYENV_VERSION",
    ] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    // TMPDIR: the Python clients' temporary folders go with the test's home.
    cmd.env("HOME", home)
        .env("TMPDIR", home)
        .env("NO_PROXY", "127.0.0.1,localhost,169.254.169.254")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_PAGER", "");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn have_aws_cli_v2() -> bool {
    if !Path::new(AWS_CLI_V2).is_file() {
        eprintln!(
            "skipping: the AWS CLI v2 is not installed at {AWS_CLI_V2} (apt-get install awscli)"
        );
        return false;
    }
    let out = Command::new(AWS_CLI_V2).arg("--version").output();
    match out {
        Ok(out) if stdout(&out).starts_with("aws-cli/2") => true,
        _ => {
            eprintln!("skipping: {AWS_CLI_V2} is not the AWS CLI v2");
            false
        }
    }
}

/// Run the AWS CLI v2 with `args` under [`clean_command`] off the async runtime, assert
/// it succeeded and answer its JSON output.
async fn aws_cli_json(home: &Path, vars: &[(&str, String)], args: &[&str]) -> serde_json::Value {
    let mut cmd = clean_command(AWS_CLI_V2, home, vars);
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "aws {} failed: {}",
        args.join(" "),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const EXPORT_CREDENTIALS: &[&str] = &["configure", "export-credentials", "--format", "process"];

async fn aws_cli_exports_the_served_credentials(tokens: HttpTokens) {
    if !have_aws_cli_v2() {
        return;
    }
    let mock = start(tokens).await;
    let home = tempfile::tempdir().unwrap();
    // AWS CLI 2.9 appends `latest/api/token` to the endpoint as given: it needs the `/`.
    let url = format!("{}/", mock.url());
    let vars = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)];
    let doc = aws_cli_json(home.path(), &vars, EXPORT_CREDENTIALS).await;
    let served = mock.state().credentials(Delivery::V2).unwrap();
    assert_eq!(doc["AccessKeyId"], served.access_key_id.as_str());
    assert_eq!(doc["SecretAccessKey"], served.secret_access_key.as_str());
    assert_eq!(doc["SessionToken"], served.session_token.as_str());
    mock.shutdown().await;
}

#[tokio::test]
async fn aws_cli_v2_export_credentials_in_optional_mode() {
    aws_cli_exports_the_served_credentials(HttpTokens::Optional).await;
}

#[tokio::test]
async fn aws_cli_v2_export_credentials_in_required_mode() {
    aws_cli_exports_the_served_credentials(HttpTokens::Required).await;
}

/// Run a Python snippet with botocore importable, or `None` (after saying why) when it
/// is not.
fn python_with_botocore(home: &Path, vars: &[(&str, String)], script: &str) -> Option<String> {
    let probe = clean_command("python3", home, &[])
        .args(["-c", "import botocore"])
        .output();
    if !matches!(&probe, Ok(out) if out.status.success()) {
        eprintln!("skipping: python3 with botocore is not installed (pip install botocore)");
        return None;
    }
    let out = clean_command("python3", home, vars)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "botocore script failed: {}",
        stderr(&out)
    );
    Some(stdout(&out))
}

const BOTOCORE_CREDENTIALS: &str = r#"
import json, botocore.session
c = botocore.session.get_session().get_credentials()
print(json.dumps({"method": c.method, "AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key, "Token": c.token}))
"#;

#[tokio::test]
async fn botocore_reads_instance_profile_credentials() {
    for tokens in [HttpTokens::Optional, HttpTokens::Required] {
        let mock = start(tokens).await;
        let home = tempfile::tempdir().unwrap();
        let url = mock.url();
        let home_path = home.path().to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            python_with_botocore(
                &home_path,
                &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)],
                BOTOCORE_CREDENTIALS,
            )
        })
        .await
        .unwrap();
        let Some(out) = out else { return };
        let doc: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(doc["method"], "iam-role");
        let served = mock.state().credentials(Delivery::V2).unwrap();
        assert_eq!(
            doc["AccessKeyId"],
            served.access_key_id.as_str(),
            "{tokens:?}"
        );
        assert_eq!(doc["Token"], served.session_token.as_str(), "{tokens:?}");
        mock.shutdown().await;
    }
}

// ----- STS

/// aws-sdk-sts pointed at the mock, signing with the instance-profile credentials that
/// aws-config's IMDS provider fetched.
fn sts_client(mock: &RunningMock) -> aws_sdk_sts::Client {
    let creds = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .imds_client(imds_client(mock))
        .build();
    sts_client_with(mock, creds)
}

fn sts_client_with(
    mock: &RunningMock,
    creds: impl aws_credential_types::provider::ProvideCredentials + 'static,
) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(
            mock.state().config().region,
        ))
        .endpoint_url(mock.url())
        .credentials_provider(creds)
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

fn instance_role_arn(mock: &RunningMock) -> String {
    let config = mock.state().config();
    format!(
        "arn:aws:sts::{}:assumed-role/{ROLE}/{}",
        config.account_id,
        mock.state().instance_id()
    )
}

#[tokio::test]
async fn aws_sdk_sts_get_caller_identity_names_the_instance_role() {
    let mock = start(HttpTokens::Required).await;
    let out = sts_client(&mock)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(out.arn(), Some(instance_role_arn(&mock).as_str()));
    assert_eq!(
        out.account(),
        Some(mock.state().config().account_id.as_str())
    );
    let user_id = out.user_id().unwrap();
    assert!(user_id.starts_with("AROA"), "{user_id}");
    assert!(
        user_id.ends_with(&format!(":{}", mock.state().instance_id())),
        "{user_id}"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn aws_sdk_sts_assume_role_gives_working_credentials() {
    let mock = start(HttpTokens::Required).await;
    let account = mock.state().config().account_id;
    let target = format!("arn:aws:iam::{account}:role/deployer");
    let out = sts_client(&mock)
        .assume_role()
        .role_arn(&target)
        .role_session_name("e2e-session")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let user = out.assumed_role_user().unwrap();
    let assumed_arn = format!("arn:aws:sts::{account}:assumed-role/deployer/e2e-session");
    assert_eq!(user.arn(), assumed_arn);
    assert!(user.assumed_role_id().ends_with(":e2e-session"));
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let lifetime = c.expiration().secs() - chrono_now_secs();
    assert!((850..=900).contains(&lifetime), "lifetime {lifetime}");

    // The issued credentials sign further calls as the assumed role.
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "assume-role",
    );
    let who = sts_client_with(&mock, creds)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(assumed_arn.as_str()));
    mock.shutdown().await;
}

fn chrono_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn aws_sdk_sts_sees_aws_error_codes() {
    use aws_sdk_sts::error::ProvideErrorMetadata;
    let mock = start(HttpTokens::Optional).await;
    let account = mock.state().config().account_id;
    // Role chaining is limited to one hour.
    let err = sts_client(&mock)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/deployer"))
        .role_session_name("too-long")
        .duration_seconds(7200)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");

    // Credentials the mock never issued.
    let forged = aws_credential_types::Credentials::new(
        "ASIAFORGEDFORGEDFORG",
        "x".repeat(40),
        Some("token".into()),
        None,
        "forged",
    );
    let err = sts_client_with(&mock, forged)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidClientTokenId"), "{err:?}");

    // The right key with the wrong secret.
    let served = mock.state().credentials(Delivery::V2).unwrap();
    let wrong = aws_credential_types::Credentials::new(
        served.access_key_id.clone(),
        "y".repeat(40),
        Some(served.session_token.clone()),
        None,
        "wrong",
    );
    let err = sts_client_with(&mock, wrong)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");

    // A key the mock issued that has since expired.
    let old = mock.state().expired_credentials().unwrap();
    let expired = aws_credential_types::Credentials::new(
        old.access_key_id.clone(),
        old.secret_access_key.clone(),
        Some(old.session_token.clone()),
        None,
        "expired",
    );
    let err = sts_client_with(&mock, expired)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ExpiredToken"), "{err:?}");
    mock.shutdown().await;
}

/// A JWT-shaped token (the mock does not check the signature part).
fn web_identity_token(subject: &str) -> String {
    use base64::Engine as _;
    let enc = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        enc(serde_json::json!({"alg": "RS256", "kid": "k1"})),
        enc(serde_json::json!({
            "sub": subject,
            "aud": "sts.amazonaws.com",
            "iss": "https://oidc.example.com/id/E2E",
            "exp": chrono_now_secs() + 3600,
        }))
    )
}

#[tokio::test]
async fn aws_sdk_sts_assume_role_with_web_identity() {
    let mock = start(HttpTokens::Optional).await;
    let account = mock.state().config().account_id;
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(mock.url())
        .build();
    let sts = aws_sdk_sts::Client::from_conf(conf);
    let out = sts
        .assume_role_with_web_identity()
        .role_arn(format!("arn:aws:iam::{account}:role/web"))
        .role_session_name("pod")
        .web_identity_token(web_identity_token("system:serviceaccount:default:app"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some("system:serviceaccount:default:app")
    );
    assert_eq!(out.audience(), Some("sts.amazonaws.com"));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{account}:assumed-role/web/pod")
    );
    let err = sts
        .assume_role_with_web_identity()
        .role_arn(format!("arn:aws:iam::{account}:role/web"))
        .role_session_name("pod")
        .web_identity_token("not-a-jwt")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_identity_token_exception(), "{err:?}");
    mock.shutdown().await;
}

// ----- Clients configured from the environment, run in a child process

/// Set in a child copy of this test binary: which client [`child_client`] runs. The
/// child gets its whole configuration from environment variables, as real programs do,
/// without touching this process's environment.
const CHILD_CLIENT: &str = "STRAP_E2E_CHILD_CLIENT";

/// Set in the child: `host:port` that requests to the ECS agent address are sent to.
const CHILD_ECS_REDIRECT: &str = "STRAP_E2E_ECS_REDIRECT";

/// The line prefix the child prints its result after.
const CHILD_RESULT: &str = "CHILD-RESULT ";

/// Run [`child_client`] in a copy of this binary with `vars` as its only AWS settings;
/// its JSON result.
fn run_child(client: &str, home: &Path, vars: &[(&str, String)]) -> serde_json::Value {
    let exe = std::env::current_exe().unwrap();
    let mut all = vars.to_vec();
    all.push((CHILD_CLIENT, client.to_string()));
    let out = clean_command(exe.to_str().unwrap(), home, &all)
        .args([
            "--exact",
            "mock_clients::child_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = stdout(&out);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once(CHILD_RESULT).map(|(_, json)| json))
        .unwrap_or_else(|| {
            panic!(
                "child client {client} printed no result\nstdout:\n{stdout}\nstderr:\n{}",
                stderr(&out)
            )
        });
    serde_json::from_str(line).unwrap()
}

/// An HTTP client that sends requests for `http://169.254.170.2` (the ECS agent, which
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is relative to) to `to` instead.
fn redirecting_http_client(to: String) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_runtime_api::client::http::{
        http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

    #[derive(Debug)]
    struct Redirect {
        to: String,
        inner: SharedHttpConnector,
    }
    impl HttpConnector for Redirect {
        fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
            if let Some(rest) = request.uri().strip_prefix("http://169.254.170.2") {
                let uri = format!("http://{}{rest}", self.to);
                request.set_uri(uri).unwrap();
            }
            self.inner.call(request)
        }
    }
    let inner = aws_smithy_http_client::Builder::new().build_http();
    http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Redirect {
            to: to.clone(),
            inner: inner.http_connector(settings, components),
        })
    })
}

fn credentials_json(c: &aws_credential_types::Credentials) -> serde_json::Value {
    serde_json::json!({
        "AccessKeyId": c.access_key_id(),
        "SecretAccessKey": c.secret_access_key(),
        "Token": c.session_token(),
        "AccountId": c.account_id().map(|a| a.as_str().to_string()),
    })
}

/// The client side of [`run_child`]: does nothing unless started by it.
#[tokio::test]
#[ignore = "run by the tests below in a child process, with the environment they set"]
async fn child_client() {
    let Ok(client) = std::env::var(CHILD_CLIENT) else {
        return;
    };
    let result = match client.as_str() {
        // aws-config's default chain and region, STS from AWS_ENDPOINT_URL_STS.
        "default-chain-sts" => {
            let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let creds = conf
                .credentials_provider()
                .unwrap()
                .provide_credentials()
                .await
                .unwrap();
            let who = aws_sdk_sts::Client::new(&conf)
                .get_caller_identity()
                .send()
                .await
                .unwrap();
            serde_json::json!({
                "region": conf.region().map(|r| r.to_string()),
                "credentials": credentials_json(&creds),
                "Arn": who.arn(),
                "UserId": who.user_id(),
                "Account": who.account(),
            })
        }
        // aws-config's container provider, from AWS_CONTAINER_CREDENTIALS_*.
        "ecs" => {
            let mut provider_config = aws_config::provider_config::ProviderConfig::default();
            if let Ok(to) = std::env::var(CHILD_ECS_REDIRECT) {
                provider_config = provider_config.with_http_client(redirecting_http_client(to));
            }
            let provider = aws_config::ecs::EcsCredentialsProvider::builder()
                .configure(&provider_config)
                .build();
            match provider.provide_credentials().await {
                Ok(creds) => credentials_json(&creds),
                Err(e) => serde_json::json!({ "error": format!("{e:?}") }),
            }
        }
        other => panic!("unknown child client {other}"),
    };
    println!("{CHILD_RESULT}{result}");
}

#[tokio::test]
async fn aws_config_default_chain_and_aws_endpoint_url_sts() {
    let mock = start(HttpTokens::Required).await;
    let home = tempfile::tempdir().unwrap();
    let vars = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", mock.url()),
        ("AWS_ENDPOINT_URL_STS", mock.url()),
    ];
    let path = home.path().to_path_buf();
    let doc = tokio::task::spawn_blocking(move || run_child("default-chain-sts", &path, &vars))
        .await
        .unwrap();
    let config = mock.state().config();
    assert_eq!(
        doc["region"],
        config.region.as_str(),
        "region from IMDS: {doc}"
    );
    let served = mock.state().credentials(Delivery::V2).unwrap();
    assert_eq!(
        doc["credentials"]["AccessKeyId"],
        served.access_key_id.as_str()
    );
    assert_eq!(doc["Arn"], instance_role_arn(&mock).as_str());
    assert_eq!(doc["Account"], config.account_id.as_str());
    mock.shutdown().await;
}

async fn container_credentials(vars: Vec<(&'static str, String)>) -> serde_json::Value {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().to_path_buf();
    tokio::task::spawn_blocking(move || run_child("ecs", &path, &vars))
        .await
        .unwrap()
}

#[tokio::test]
async fn aws_config_ecs_provider_with_a_relative_uri() {
    let mock = start(HttpTokens::Optional).await;
    let id = mock.state().config().container.credential_id;
    let doc = container_credentials(vec![
        (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            format!("/v2/credentials/{id}"),
        ),
        (CHILD_ECS_REDIRECT, mock.addr().to_string()),
    ])
    .await;
    let served = mock.state().container_credentials();
    assert_eq!(doc["AccessKeyId"], served.access_key_id.as_str(), "{doc}");
    assert_eq!(doc["Token"], served.session_token.as_str());
    assert_eq!(doc["AccountId"], served.account_id.as_str());

    // An id the agent does not know: the provider fails (and does not fall through).
    let doc = container_credentials(vec![
        (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/unknown".to_string(),
        ),
        (CHILD_ECS_REDIRECT, mock.addr().to_string()),
    ])
    .await;
    assert!(doc["error"].is_string(), "{doc}");
    mock.shutdown().await;
}

#[tokio::test]
async fn aws_config_ecs_provider_with_a_full_uri_and_token_file() {
    let mock = start(HttpTokens::Optional).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("eks-pod-identity-token");
    let token = mock.state().config().container.authorization_token;
    std::fs::write(&token_file, &token).unwrap();
    let full_uri = format!("{}/v1/credentials", mock.url());
    let doc = container_credentials(vec![
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri.clone()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
    ])
    .await;
    let served = mock.state().container_credentials();
    assert_eq!(doc["AccessKeyId"], served.access_key_id.as_str(), "{doc}");
    assert_eq!(doc["AccountId"], served.account_id.as_str());

    // A wrong token is refused, and the provider reports an error.
    std::fs::write(&token_file, "wrong-token").unwrap();
    let doc = container_credentials(vec![
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
    ])
    .await;
    assert!(doc["error"].is_string(), "{doc}");
    mock.shutdown().await;
}

#[tokio::test]
async fn aws_cli_v2_container_credentials_with_a_full_uri() {
    if !have_aws_cli_v2() {
        return;
    }
    let mock = start(HttpTokens::Optional).await;
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("token");
    let token = mock.state().config().container.authorization_token;
    std::fs::write(&token_file, &token).unwrap();
    // CLI 2.9 reads only AWS_CONTAINER_AUTHORIZATION_TOKEN; later ones prefer the file.
    let vars = [
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", token),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/v1/credentials", mock.url()),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
    ];
    let doc = aws_cli_json(home.path(), &vars, EXPORT_CREDENTIALS).await;
    let served = mock.state().container_credentials();
    assert_eq!(doc["AccessKeyId"], served.access_key_id.as_str());
    assert_eq!(doc["SessionToken"], served.session_token.as_str());
    mock.shutdown().await;
}

#[tokio::test]
async fn aws_cli_v2_sts_get_caller_identity_with_region_from_imds() {
    if !have_aws_cli_v2() {
        return;
    }
    let mock = start(HttpTokens::Required).await;
    let home = tempfile::tempdir().unwrap();
    // No region configured: the CLI takes it from the availability zone in IMDS.
    let vars = [(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        format!("{}/", mock.url()),
    )];
    let url = mock.url();
    // CLI 2.9 predates AWS_ENDPOINT_URL_STS; --endpoint-url does the same.
    let args = [
        "sts",
        "get-caller-identity",
        "--output",
        "json",
        "--endpoint-url",
        &url,
    ];
    let doc = aws_cli_json(home.path(), &vars, &args).await;
    assert_eq!(doc["Arn"], instance_role_arn(&mock).as_str());
    assert_eq!(doc["Account"], mock.state().config().account_id.as_str());
    mock.shutdown().await;
}

const BOTOCORE_STS: &str = r#"
import json, botocore.session, urllib.request
s = botocore.session.get_session()
sts = s.create_client("sts", region_name="us-east-1")
who = sts.get_caller_identity()
url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="POST")
req = urllib.request.Request(url, method="POST", data=b"")
status = urllib.request.urlopen(req).status
url_get = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
status_get = urllib.request.urlopen(url_get).status
print(json.dumps({"Arn": who["Arn"], "presigned": url, "presigned_status": status, "presigned_get_status": status_get}))
"#;

#[tokio::test]
async fn botocore_sts_get_caller_identity_and_presigned_url() {
    let mock = start(HttpTokens::Optional).await;
    let home = tempfile::tempdir().unwrap();
    let vars = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", mock.url()),
        ("AWS_ENDPOINT_URL_STS", mock.url()),
    ];
    let path = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || python_with_botocore(&path, &vars, BOTOCORE_STS))
        .await
        .unwrap();
    let Some(out) = out else { return };
    let doc: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(doc["Arn"], instance_role_arn(&mock).as_str());
    // The presigned form (query-string SigV4) is verified too.
    assert!(doc["presigned"]
        .as_str()
        .unwrap()
        .contains("X-Amz-Signature="));
    assert_eq!(doc["presigned_status"], 200);
    // A presigned GET (as aws-iam-authenticator sends) reaches STS, not the IMDS listing.
    assert_eq!(doc["presigned_get_status"], 200);
    mock.shutdown().await;
}

// ----- Identity document signatures

#[tokio::test]
async fn identity_signatures_verify_with_openssl_and_the_published_certificate() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipping: openssl is not installed, cannot verify identity signatures");
        return;
    }
    let mock = start(HttpTokens::Required).await;
    let client = imds_client(&mock);
    let base = "/latest/dynamic/instance-identity";
    let document = client.get(&format!("{base}/document")).await.unwrap();
    let document = document.as_ref().to_string();
    let cert = reqwest::get(format!("{}/_mock/identity-certificate", mock.url()))
        .await
        .unwrap();
    assert!(cert.status().is_success(), "{}", cert.status());
    let cert = cert.text().await.unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE"), "{cert}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cert.pem"), &cert).unwrap();
    for name in ["pkcs7", "rsa2048"] {
        let body = client.get(&format!("{base}/{name}")).await.unwrap();
        let pem = format!(
            "-----BEGIN PKCS7-----\n{}\n-----END PKCS7-----\n",
            body.as_ref()
        );
        std::fs::write(d.join(name), pem).unwrap();
        let out = Command::new("openssl")
            .args(["smime", "-verify", "-inform", "PEM", "-noverify", "-in"])
            .arg(d.join(name))
            .arg("-certfile")
            .arg(d.join("cert.pem"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), document, "{name}");
    }
    mock.shutdown().await;
}
