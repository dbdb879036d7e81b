//! Real AWS clients, unmodified, against the mock: aws-config's IMDS client, credential
//! providers and aws-sdk-sts in this process; the AWS CLI v2 (`/usr/bin/aws`) and
//! botocore as child processes with a clean environment. Peers that are not installed
//! are skipped with a message saying so.

use std::path::Path;
use std::process::Command;

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
    cmd.env("HOME", home)
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
        Ok(out) if String::from_utf8_lossy(&out.stdout).starts_with("aws-cli/2") => true,
        _ => {
            eprintln!("skipping: {AWS_CLI_V2} is not the AWS CLI v2");
            false
        }
    }
}

async fn aws_cli_exports_the_served_credentials(tokens: HttpTokens) {
    if !have_aws_cli_v2() {
        return;
    }
    let mock = start(tokens).await;
    let home = tempfile::tempdir().unwrap();
    // AWS CLI 2.9 appends `latest/api/token` to the endpoint as given: it needs the `/`.
    let url = format!("{}/", mock.url());
    let out = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        move || {
            clean_command(
                AWS_CLI_V2,
                &home,
                &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)],
            )
            .args(["configure", "export-credentials", "--format", "process"])
            .output()
            .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "aws configure export-credentials failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
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
