//! The `imds-mock` binary: the listening line, `--print-config`, configuration errors with
//! their line, requests over HTTP, and graceful shutdown on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use strap_e2e::{cloud_inits, command, spawn_mock, stderr};

/// Start the mock on port 0 with `args`; returns the child and its address host:port.
fn start(args: &[&str]) -> (Child, String) {
    let (child, url) = spawn_mock(args, Stdio::piped());
    let addr = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("unexpected url {url:?}"))
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

fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
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
    signal(&child, "-TERM");
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
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn mock_stops_on_ctrl_c() {
    let (mut child, addr) = start(&[]);
    let resp = http(
        &addr,
        "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    signal(&child, "-INT");
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGINT: {status:?}");
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
    assert!(out.status.success(), "{}", stderr(&out));
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
    let err = stderr(&out);
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
    let err = stderr(&out);
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
    let err = stderr(&out);
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
            assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected sample configs in {}", dir.display());
}

// ---- real clients against the mock (the AWS SDK for Rust, the AWS CLI and botocore are in
// `mock_clients.rs`)

/// cloud-init's own EC2 crawler (its Python helpers; each available cloud-init) walks
/// the mock's whole tree with the version it prefers, reads user data and the identity
/// document.
#[tokio::test]
async fn mock_crawled_by_cloud_init() {
    let peers = cloud_inits();
    if peers.is_empty() {
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
    for ci in peers {
        let version = ci.name;
        let url = mock.url();
        let out = tokio::task::spawn_blocking(move || {
            ci.python()
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
            "cloud-init {version}: {}",
            stderr(&out)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let md = &v["md"];
        let cfg = mock.state().config();
        assert_eq!(
            md["instance-id"],
            cfg.instance_id.as_str(),
            "cloud-init {version}: {md}"
        );
        assert_eq!(
            md["placement"]["availability-zone"], "us-east-1a",
            "cloud-init {version}"
        );
        assert_eq!(
            md["public-keys"]["deploy"], "ssh-ed25519 AAAAC3Nza deploy",
            "cloud-init {version}"
        );
        assert_eq!(
            md["network"]["interfaces"]["macs"][&cfg.mac]["device-number"], "0",
            "cloud-init {version}"
        );
        assert_eq!(
            md["tags"]["instance"]["Name"], "web-1",
            "cloud-init {version}"
        );
        assert_eq!(
            md["iam"]["info"]["Code"], "Success",
            "cloud-init {version}: JSON leaves decoded"
        );
        assert_eq!(
            md["spot"]["instance-action"]["action"], "terminate",
            "cloud-init {version}"
        );
        assert_eq!(
            v["ud"], "#cloud-config\nhostname: mock\n",
            "cloud-init {version}"
        );
        assert_eq!(
            v["ident"]["document"]["instanceId"],
            cfg.instance_id.as_str(),
            "cloud-init {version}"
        );
        assert_eq!(
            mock.state().counts().not_found,
            0,
            "cloud-init {version}: every crawled path existed"
        );
    }
    mock.shutdown().await;
}
