//! `strap metadata get|dump` against the real `imds-mock` binary, and the
//! container-credentials server of `strap creds serve` read by real AWS clients.

use std::process::{Command, Stdio};

use strap_e2e::{command, stderr, MockProcess};

/// An `imds-mock` process on 127.0.0.1:0 with quiet logs, killed when dropped.
struct Mock;

impl Mock {
    fn start(args: &[&str]) -> MockProcess {
        let mut all = vec!["-q"];
        all.extend_from_slice(args);
        MockProcess::start(all, Stdio::inherit())
    }
}

fn strap(args: &[&str]) -> Command {
    let mut cmd = command("strap");
    cmd.args(args);
    cmd
}

fn run(cmd: &mut Command) -> (bool, Vec<u8>, String) {
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    (out.status.success(), out.stdout, err)
}

#[test]
fn get_prints_the_raw_value() {
    let mock = Mock::start(&[
        "--instance-id",
        "i-0123456789abcdef0",
        "--region",
        "eu-west-3",
    ]);
    let (ok, out, err) = run(&mut strap(&[
        "metadata",
        "get",
        "instance-id",
        "--imds",
        &mock.url,
    ]));
    assert!(ok, "{err}");
    assert_eq!(out, b"i-0123456789abcdef0");
    let (ok, out, err) = run(&mut strap(&[
        "metadata",
        "get",
        "/latest/meta-data/placement/region",
        "--imds",
        &mock.url,
    ]));
    assert!(ok, "{err}");
    assert_eq!(out, b"eu-west-3");
}

#[test]
fn get_follows_the_sdk_endpoint_variable_and_required_mode() {
    let mock = Mock::start(&[
        "--imdsv2",
        "required",
        "--instance-id",
        "i-0feedfacecafe0001",
    ]);
    let (ok, out, err) = run(strap(&["metadata", "get", "instance-id"])
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &mock.url));
    assert!(ok, "{err}");
    assert_eq!(out, b"i-0feedfacecafe0001");
}

#[test]
fn get_follows_the_selected_profile() {
    let mock = Mock::start(&["--instance-id", "i-0abcabcabcabcabc0"]);
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[default]\nec2_metadata_service_endpoint = http://127.0.0.1:9\n\n\
             [profile dev]\nec2_metadata_service_endpoint = {}\n",
            mock.url
        ),
    )
    .unwrap();
    let (ok, out, err) = run(strap(&["metadata", "get", "instance-id"])
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "dev"));
    assert!(ok, "{err}");
    assert_eq!(out, b"i-0abcabcabcabcabc0");
    // The environment beats the profile.
    let (ok, _, err) = run(strap(&["metadata", "get", "instance-id"])
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "dev")
        .env("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"));
    assert!(!ok);
    assert!(err.contains("http://127.0.0.1:9"), "{err}");
}

#[test]
fn get_of_a_missing_path_exits_1_with_a_message() {
    let mock = Mock::start(&[]);
    let (ok, out, err) = run(&mut strap(&[
        "metadata",
        "get",
        "no-such-thing",
        "--imds",
        &mock.url,
    ]));
    assert!(!ok);
    assert!(out.is_empty());
    assert!(
        err.contains("no metadata at /latest/meta-data/no-such-thing"),
        "{err}"
    );
}

#[test]
fn user_data_comes_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("user-data");
    let raw: Vec<u8> = [b"#!/bin/sh\necho hi\n".as_slice(), &[0x00, 0xff, 0xfe]].concat();
    std::fs::write(&file, &raw).unwrap();
    let mock = Mock::start(&["--user-data", file.to_str().unwrap()]);
    let (ok, out, err) = run(&mut strap(&[
        "metadata",
        "get",
        "/latest/user-data",
        "--imds",
        &mock.url,
    ]));
    assert!(ok, "{err}");
    assert_eq!(out, raw);
}

#[test]
fn disabled_imds_is_refused_without_a_request() {
    let (ok, _, err) = run(strap(&[
        "metadata",
        "get",
        "instance-id",
        "--imds",
        "http://127.0.0.1:9",
    ])
    .env("AWS_EC2_METADATA_DISABLED", "true"));
    assert!(!ok);
    assert!(err.contains("AWS_EC2_METADATA_DISABLED"), "{err}");
}

#[test]
fn unreachable_endpoint_names_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, _, err) = run(strap(&["metadata", "get", "instance-id", "--imds", &url])
        .env("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1"));
    assert!(!ok);
    assert!(err.contains(&url), "{err}");
}

#[test]
fn dump_walks_the_whole_tree() {
    let mock = Mock::start(&[
        "--instance-id",
        "i-0aaaabbbbccccdddd",
        "--region",
        "ap-south-1",
    ]);
    let (ok, out, err) = run(&mut strap(&[
        "metadata", "dump", "--json", "--imds", &mock.url,
    ]));
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["instance-id"], "i-0aaaabbbbccccdddd");
    assert_eq!(doc["placement"]["region"], "ap-south-1");
    assert!(doc["placement"]["availability-zone"]
        .as_str()
        .unwrap()
        .starts_with("ap-south-1"));

    let (ok, out, err) = run(&mut strap(&["metadata", "dump", "--imds", &mock.url]));
    assert!(ok, "{err}");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "instance-id: i-0aaaabbbbccccdddd"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "placement/region: ap-south-1"),
        "{text}"
    );

    // One read at a time gives the same tree.
    let (ok, serial, err) = run(&mut strap(&[
        "metadata",
        "dump",
        "--concurrency",
        "1",
        "--imds",
        &mock.url,
    ]));
    assert!(ok, "{err}");
    assert_eq!(String::from_utf8(serial).unwrap(), text);
}

mod serve {
    use std::process::Command;

    use strap::context::Context;
    use strap::creds::serve::{source_fn, CredentialServer, ServeOptions, SourceError};
    use strap::creds::Credentials;
    use strap::secret::Secret;
    use strap_e2e::{stderr, stdout};

    fn fixed_credentials() -> Credentials {
        Credentials {
            access_key_id: "ASIASERVEDKEY0000001".into(),
            secret_access_key: Secret::new("servedSecretKey/0000000000000000000000000".into()),
            session_token: Some(Secret::new("servedSessionToken".into())),
            expiration: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            account_id: Some("123456789012".into()),
        }
    }

    async fn server() -> CredentialServer {
        let source = source_fn(|| async { Ok::<_, SourceError>(fixed_credentials()) });
        CredentialServer::bind(
            &Context::fixed(Vec::<(String, String)>::new(), "/"),
            source,
            ServeOptions::default(),
        )
        .await
        .unwrap()
    }

    /// A client process with only the container variables and a fresh HOME.
    fn client(program: &str, server: &CredentialServer, home: &std::path::Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("TMPDIR", home)
            .env("AWS_CONFIG_FILE", home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "127.0.0.1");
        for (k, v) in server.exports() {
            cmd.env(k, v);
        }
        cmd
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn aws_cli_v2_reads_the_served_credentials() {
        let aws = "/usr/bin/aws";
        if !std::path::Path::new(aws).exists() {
            eprintln!("skipped: AWS CLI v2 not found at {aws} (apt-get install awscli)");
            return;
        }
        let server = server().await;
        let home = tempfile::tempdir().unwrap();
        let mut cmd = client(aws, &server, home.path());
        cmd.args(["configure", "export-credentials", "--format", "process"]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stderr = stderr(&out);
        if stderr.contains("Invalid choice") {
            eprintln!("skipped: this AWS CLI lacks `configure export-credentials`");
            return;
        }
        assert!(out.status.success(), "{stderr}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["AccessKeyId"], "ASIASERVEDKEY0000001");
        assert_eq!(doc["SessionToken"], "servedSessionToken");
        server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn botocore_reads_the_served_credentials_as_container_role() {
        let python = "python3";
        let script = "import botocore.session as s\n\
                      c = s.Session().get_credentials()\n\
                      print(c.method, c.access_key, c.token)";
        let probe = Command::new(python)
            .args(["-c", "import botocore"])
            .output();
        if !matches!(probe, Ok(ref o) if o.status.success()) {
            eprintln!("skipped: botocore is not importable (pip install botocore)");
            return;
        }
        let server = server().await;
        let home = tempfile::tempdir().unwrap();
        let mut cmd = client(python, &server, home.path());
        cmd.args(["-c", script]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            "container-role ASIASERVEDKEY0000001 servedSessionToken"
        );
        server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_wrong_token_gets_nothing() {
        let server = server().await;
        let resp = reqwest::Client::new()
            .get(server.url())
            .header("authorization", "not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        let body = resp.text().await.unwrap();
        assert!(!body.contains("ASIASERVEDKEY"), "{body}");
        server.shutdown().await;
    }
}
