//! The `imds-mock` binary: the listening line, `--print-config`, configuration errors with
//! their line, requests over HTTP, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use strap_e2e::command;

/// Start the mock on port 0 with `args`; returns the child and its base URL host:port.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = command("imds-mock")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, addr)
}

fn http(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn mock_prints_listening_line_and_serves() {
    let (mut child, addr) = start(&["--role", "web-role"]);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(!addr.ends_with(":0"));
    let resp = http(
        &addr,
        "GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nweb-role"), "{resp}");
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("/latest/meta-data/iam/security-credentials/"),
        "request not logged: {err}"
    );
}

#[test]
fn mock_required_mode_refuses_v1() {
    let (mut child, addr) = start(&["--imdsv2", "required"]);
    let resp = http(&addr, "GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

#[test]
fn mock_print_config_is_yaml_that_loads_back() {
    let out = command("imds-mock")
        .args([
            "--print-config",
            "--role",
            "web",
            "--region",
            "eu-west-1",
            "--spot-action",
            "stop",
            "--spot-delay",
            "30",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("role: web"), "{yaml}");
    assert!(yaml.contains("region: eu-west-1"), "{yaml}");
    assert!(yaml.contains("listen: 127.0.0.1:1338"), "{yaml}");
    assert!(yaml.contains("action: stop"), "{yaml}");
    assert!(yaml.contains("delay_secs: 30"), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mock.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let again = command("imds-mock")
        .args(["--print-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(String::from_utf8(again.stdout).unwrap(), yaml);
}

#[test]
fn mock_bad_config_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "role: web\nregion: us-east-1\nhttp_tokens: sometimes\n",
    )
    .unwrap();
    let out = command("imds-mock")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http_tokens"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("bad.yaml"), "{err}");
}

#[test]
fn mock_bad_flag_value_is_refused() {
    let out = command("imds-mock")
        .args(["--print-config", "--spot-action", "explode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("explode"), "{err}");
}

#[test]
fn mock_oversized_user_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ud");
    std::fs::write(&file, vec![b'#'; 16385]).unwrap();
    let out = command("imds-mock")
        .arg("--user-data")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("16385 bytes"), "{err}");
}

#[test]
fn mock_example_configs_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mock");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = command("imds-mock")
                .arg("--print-config")
                .arg("--config")
                .arg(&path)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected sample configs in {}", dir.display());
}

// ---- real clients against the mock

/// aws-config (Rust SDK) reads region and instance-profile credentials over IMDSv2 from
/// the mock, then calls the mock's STS with them.
#[tokio::test]
async fn mock_serves_aws_sdk_rust_imds_and_sts() {
    use aws_credential_types::provider::ProvideCredentials;
    let mock = imds_mock::spawn(imds_mock::Config {
        listen: "127.0.0.1:0".into(),
        role: Some("web-role".into()),
        http_tokens: imds_mock::HttpTokens::Required,
        ..imds_mock::Config::default()
    })
    .await
    .unwrap();
    let client = aws_config::imds::Client::builder()
        .endpoint(mock.url())
        .unwrap()
        .build();
    let region = client
        .get("/latest/meta-data/placement/region")
        .await
        .unwrap();
    assert_eq!(region.as_ref(), "us-east-1");

    let provider = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .imds_client(client)
        .build();
    let creds = provider.provide_credentials().await.unwrap();
    let served = mock
        .state()
        .credentials(imds_mock::creds::Delivery::V2)
        .unwrap();
    assert_eq!(creds.access_key_id(), served.access_key_id);
    assert_eq!(creds.session_token(), Some(served.session_token.as_str()));

    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(provider)
        .endpoint_url(mock.url())
        .load()
        .await;
    let who = aws_sdk_sts::Client::new(&conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some(
            format!(
                "arn:aws:sts::123456789012:assumed-role/web-role/{}",
                mock.state().instance_id()
            )
            .as_str()
        )
    );
    assert_eq!(who.account(), Some("123456789012"));
    assert_eq!(
        mock.state().counts().imdsv1,
        0,
        "the Rust SDK never uses IMDSv1"
    );
    mock.shutdown().await;
}

/// The AWS CLI v2 finds region (from the AZ) and credentials in the mock and calls its STS.
#[tokio::test]
async fn mock_serves_aws_cli_v2() {
    let cli = std::env::var("STRAP_TEST_AWS_CLI").unwrap_or_else(|_| "/usr/bin/aws".into());
    let version = std::process::Command::new(&cli).arg("--version").output();
    let is_v2 =
        matches!(&version, Ok(o) if String::from_utf8_lossy(&o.stdout).starts_with("aws-cli/2"));
    if !is_v2 {
        eprintln!("skipping: AWS CLI v2 not found at {cli} (apt-get install awscli)");
        return;
    }
    let mock = imds_mock::spawn(imds_mock::Config {
        listen: "127.0.0.1:0".into(),
        role: Some("cli-role".into()),
        region: "eu-west-1".into(),
        ..imds_mock::Config::default()
    })
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = mock.url();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(&cli);
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        // `--endpoint-url` rather than AWS_ENDPOINT_URL_STS: CLI releases before 2.13 lack it.
        cmd.args([
            "sts",
            "get-caller-identity",
            "--output",
            "json",
            "--endpoint-url",
            &url,
        ])
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        // botocore appends `latest/api/token` to the endpoint as given.
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", format!("{url}/"))
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aws failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        v["Arn"],
        format!(
            "arn:aws:sts::123456789012:assumed-role/cli-role/{}",
            mock.state().instance_id()
        )
    );
    assert!(mock.state().counts().imdsv2 > 0, "the CLI used IMDSv2");
    mock.shutdown().await;
}

/// cloud-init's own EC2 crawler (its Python helpers) walks the mock's whole tree with the
/// version it prefers, reads user data and the identity document.
#[tokio::test]
async fn mock_crawled_by_cloud_init() {
    let python = "/usr/bin/python3";
    let probe = std::process::Command::new(python)
        .args(["-c", "import cloudinit.sources.helpers.ec2"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        eprintln!("skipping: cloud-init's Python modules not importable by {python} (apt-get install cloud-init)");
        return;
    }
    let mut config = imds_mock::Config {
        listen: "127.0.0.1:0".into(),
        role: Some("web".into()),
        user_data: Some(b"#cloud-config\nhostname: mock\n".to_vec()),
        instance_metadata_tags: imds_mock::Toggle::Enabled,
        ipv6: Some("2600:1f18:abcd:1234::5".into()),
        ..imds_mock::Config::default()
    };
    config.tags.insert("Name".into(), "web-1".into());
    config
        .public_keys
        .insert("deploy".into(), "ssh-ed25519 AAAAC3Nza deploy".into());
    let mock = imds_mock::spawn(config).await.unwrap();
    mock.state().schedule_spot("terminate", 0).unwrap();
    let script = r#"
import json, sys
from cloudinit.sources.helpers import ec2
url = sys.argv[1]
md = ec2.get_instance_metadata(api_version="2021-03-23", metadata_address=url, retries=0, timeout=5)
ud = ec2.get_instance_userdata(api_version="2021-03-23", metadata_address=url, retries=0, timeout=5)
ident = ec2.get_instance_identity(api_version="2021-03-23", metadata_address=url, retries=0, timeout=5)
print(json.dumps({"md": md, "ud": ud.decode() if isinstance(ud, bytes) else ud, "ident": ident}, default=str))
"#;
    let url = mock.url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-c", script, &url])
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let md = &v["md"];
    let cfg = mock.state().config();
    assert_eq!(md["instance-id"], cfg.instance_id.as_str(), "{md}");
    assert_eq!(md["placement"]["availability-zone"], "us-east-1a");
    assert_eq!(md["public-keys"]["deploy"], "ssh-ed25519 AAAAC3Nza deploy");
    assert_eq!(
        md["network"]["interfaces"]["macs"][&cfg.mac]["device-number"],
        "0"
    );
    assert_eq!(md["tags"]["instance"]["Name"], "web-1");
    assert_eq!(md["iam"]["info"]["Code"], "Success", "JSON leaves decoded");
    assert_eq!(md["spot"]["instance-action"]["action"], "terminate");
    assert_eq!(v["ud"], "#cloud-config\nhostname: mock\n");
    assert_eq!(
        v["ident"]["document"]["instanceId"],
        cfg.instance_id.as_str()
    );
    assert_eq!(
        mock.state().counts().not_found,
        0,
        "every crawled path existed"
    );
    mock.shutdown().await;
}
