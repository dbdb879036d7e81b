//! Section 9 of the credentials specification as a table: every row is one environment
//! and the winner (or the error) for the AWS CLI v2, botocore where it differs,
//! aws-sdk-rust and Go. IMDS and the container endpoint are a tiny replay server on
//! loopback; STS is a fake that names the role it assumed.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::secret::Secret;

/// A loopback HTTP server answering `(method, path)` with `(status, body)`; 404 otherwise.
pub(crate) struct Replay {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback HTTP server answering each request's `(method, path)` with `answer`'s
/// `(status, body)`; the connection closes after each answer.
pub(crate) async fn serve_with<F>(answer: F) -> Replay
where
    F: Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let mut parts = head.split_whitespace();
                let method = parts.next().unwrap_or("");
                let path = parts.next().unwrap_or("");
                let (status, body) = answer(method, path);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Replay { addr, task }
}

pub(crate) async fn replay(routes: Vec<(&str, &str, u16, String)>) -> Replay {
    let routes: BTreeMap<(String, String), (u16, String)> = routes
        .into_iter()
        .map(|(m, p, s, b)| ((m.to_string(), p.to_string()), (s, b)))
        .collect();
    serve_with(move |method, path| {
        routes
            .get(&(method.to_string(), path.to_string()))
            .cloned()
            .unwrap_or((404, "not found".into()))
    })
    .await
}

pub(crate) const ROLE_JSON: &str = r#"{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imdssecret","Token":"imdstoken","Expiration":"2030-01-01T00:00:00Z"}"#;

/// IMDS routes: the token answer's status, and whether a role is attached.
pub(crate) fn imds_routes(
    token_status: u16,
    role: bool,
) -> Vec<(&'static str, &'static str, u16, String)> {
    let mut r = vec![("PUT", "/latest/api/token", token_status, "tok".to_string())];
    if role {
        r.push((
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            200,
            "r1".into(),
        ));
        r.push((
            "GET",
            "/latest/meta-data/iam/security-credentials/r1",
            200,
            ROLE_JSON.into(),
        ));
    }
    r.push((
        "GET",
        "/creds",
        200,
        ROLE_JSON.replace("ASIAIMDS", "ASIACONT"),
    ));
    r
}

/// A fake STS: the access key names the operation and the role.
pub(crate) struct FakeSts;

impl StsApi for FakeSts {
    fn assume_role<'a>(&'a self, source: &'a Credentials, req: &'a RoleRequest) -> StsFuture<'a> {
        let role = req.role_arn.rsplit('/').next().unwrap_or("").to_string();
        let src = source.access_key_id.clone();
        Box::pin(async move { Ok(creds(&format!("ASIAROLE-{role}-FROM-{src}"))) })
    }
    fn assume_role_with_web_identity<'a>(
        &'a self,
        token: &'a str,
        req: &'a RoleRequest,
    ) -> StsFuture<'a> {
        let role = req.role_arn.rsplit('/').next().unwrap_or("").to_string();
        let ok = token == "jwt";
        Box::pin(async move {
            if ok {
                Ok(creds(&format!("ASIAWEB-{role}")))
            } else {
                Err("bad token".into())
            }
        })
    }
}

fn creds(key: &str) -> Credentials {
    Credentials {
        access_key_id: key.into(),
        secret_access_key: Secret::new("s".into()),
        session_token: Some(Secret::new("t".into())),
        expiration: None,
        account_id: None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Imds {
    Off,
    Up,
    TokenForbidden,
    NoRole,
}

#[derive(Clone, Copy)]
struct Case {
    row: &'static str,
    env: &'static [(&'static str, &'static str)],
    config: Option<&'static str>,
    credentials: Option<&'static str>,
    /// Extra files: (path under the root, content).
    files: &'static [(&'static str, &'static str)],
    imds: Imds,
    profile: Option<&'static str>,
    probe: bool,
    /// Expectations: `method[/key[/token]]`, `!error substring`, or `-` for none.
    /// A trailing `+exp` asks for an expiration.
    cli: &'static str,
    botocore: Option<&'static str>,
    rust: &'static str,
    go: &'static str,
}

const BASE: Case = Case {
    row: "",
    env: &[],
    config: None,
    credentials: None,
    files: &[],
    imds: Imds::Off,
    profile: None,
    probe: false,
    cli: "-",
    botocore: None,
    rust: "-",
    go: "-",
};

const KEYS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIDENV"),
    ("AWS_SECRET_ACCESS_KEY", "envsecret"),
];
const K_DEFAULT: Option<&str> =
    Some("[default]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\n");
const K_DEV: Option<&str> = Some("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\n");

const CASES: &[Case] = &[
    Case { row: "1", ..BASE },
    Case { row: "2", imds: Imds::Up, cli: "iam-role/ASIAIMDS", rust: "iam-role/ASIAIMDS", go: "iam-role/ASIAIMDS", ..BASE },
    Case { row: "3", env: KEYS, cli: "env/AKIDENV", rust: "env/AKIDENV", go: "env/AKIDENV", ..BASE },
    Case {
        row: "4",
        env: &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_SESSION_TOKEN", "b"), ("AWS_SECURITY_TOKEN", "a")],
        cli: "env/AKIDENV/a", rust: "env/AKIDENV/b", go: "env/AKIDENV/b", ..BASE
    },
    Case {
        row: "5", env: &[("AWS_ACCESS_KEY_ID", "AKIDENV")], credentials: K_DEFAULT,
        cli: "!Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY",
        rust: "shared-credentials-file/AKIDCREDS", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case {
        row: "6", env: &[("AWS_SECRET_ACCESS_KEY", "x")], credentials: K_DEFAULT,
        cli: "shared-credentials-file/AKIDCREDS", rust: "shared-credentials-file/AKIDCREDS", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case {
        row: "7", env: &[("AWS_ACCESS_KEY_ID", " "), ("AWS_SECRET_ACCESS_KEY", " ")],
        config: Some("[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n"),
        cli: "env/ ", rust: "config-file/AKIDCONFIG", go: "env/ ", ..BASE
    },
    Case {
        row: "8", env: &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_PROFILE", "dev")], credentials: K_DEV,
        cli: "env/AKIDENV", rust: "env/AKIDENV", go: "env/AKIDENV", ..BASE
    },
    Case {
        row: "9", env: KEYS, credentials: K_DEV, profile: Some("dev"),
        cli: "shared-credentials-file/AKIDDEV", rust: "env/AKIDENV", go: "shared-credentials-file/AKIDDEV", ..BASE
    },
    Case {
        row: "10", env: &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_PROFILE", "nope")],
        cli: "!The config profile (nope) could not be found", rust: "env/AKIDENV", go: "!failed to get shared config profile, nope", ..BASE
    },
    Case {
        row: "11", env: &[("AWS_PROFILE", "nope")], imds: Imds::Up,
        cli: "!The config profile (nope) could not be found", rust: "iam-role/ASIAIMDS", go: "!failed to get shared config profile, nope", ..BASE
    },
    Case {
        row: "12", env: &[("AWS_DEFAULT_PROFILE", "nope")], imds: Imds::Up,
        cli: "!The config profile (nope) could not be found", rust: "iam-role/ASIAIMDS", go: "iam-role/ASIAIMDS", ..BASE
    },
    Case {
        row: "13", env: &[("AWS_DEFAULT_PROFILE", "a"), ("AWS_PROFILE", "b")],
        credentials: Some("[a]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n[b]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n"),
        cli: "shared-credentials-file/AKIDB", botocore: Some("shared-credentials-file/AKIDA"),
        rust: "shared-credentials-file/AKIDB", go: "shared-credentials-file/AKIDB", ..BASE
    },
    Case {
        row: "14", env: &[("AWS_PROFILE", "")], credentials: K_DEFAULT,
        cli: "!The config profile () could not be found", rust: "-", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case {
        row: "15", env: &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_PROFILE", "default")],
        cli: "!The config profile (default) could not be found", rust: "env/AKIDENV", go: "!failed to get shared config profile, default", ..BASE
    },
    Case {
        row: "16", credentials: K_DEFAULT, config: Some("[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n"),
        cli: "shared-credentials-file/AKIDCREDS", rust: "shared-credentials-file/AKIDCREDS", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case {
        row: "17", credentials: Some("[default]\naws_access_key_id = AKIDCREDS\n"), config: Some("[default]\naws_secret_access_key = s\n"),
        cli: "!Partial credentials found in shared-credentials-file", rust: "shared-credentials-file/AKIDCREDS",
        go: "!Partial credentials found in shared-credentials-file", ..BASE
    },
    Case {
        row: "18", config: Some("[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n"),
        cli: "config-file/AKIDCONFIG", rust: "config-file/AKIDCONFIG", go: "config-file/AKIDCONFIG", ..BASE
    },
    Case {
        row: "19", env: &[("AWS_PROFILE", "dev")], config: Some("[profile dev]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n"),
        cli: "config-file/AKIDCONFIG", rust: "config-file/AKIDCONFIG", go: "config-file/AKIDCONFIG", ..BASE
    },
    Case {
        row: "20", env: &[("AWS_PROFILE", "dev")], config: Some("[dev]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n"),
        cli: "!The config profile (dev) could not be found", rust: "-", go: "!failed to get shared config profile, dev", ..BASE
    },
    Case {
        row: "21", env: &[("AWS_PROFILE", "dev")], credentials: Some("[profile dev]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\n"),
        cli: "!The config profile (dev) could not be found", rust: "-", go: "!failed to get shared config profile, dev", ..BASE
    },
    Case {
        row: "22", config: Some("[default]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n[profile default]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n"),
        cli: "config-file/AKIDB", rust: "config-file/AKIDB", go: "config-file/AKIDB", ..BASE
    },
    Case {
        row: "23", config: Some("[profile default]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n[default]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n"),
        cli: "config-file/AKIDA", rust: "config-file/AKIDB", go: "config-file/AKIDB", ..BASE
    },
    Case {
        row: "24", config: Some("[default]\naws_access_key_id = AKIA1 # note\naws_secret_access_key = s\n"),
        cli: "config-file/AKIA1 # note", rust: "config-file/AKIA1", go: "config-file/AKIA1", ..BASE
    },
    Case {
        row: "25", config: Some("[default]\naws_access_key_id = AKIDCONFIG\n[default]\naws_secret_access_key = s\n"),
        cli: "!Unable to parse config file", rust: "config-file/AKIDCONFIG", go: "config-file/AKIDCONFIG", ..BASE
    },
    Case {
        row: "26", env: &[("AWS_PROFILE", "dev")], config: Some("[DEFAULT]\naws_access_key_id = AKIDDEF\naws_secret_access_key = s\n[profile dev]\n"),
        cli: "config-file/AKIDDEF", rust: "-", go: "-", ..BASE
    },
    Case {
        row: "27", env: &[("AWS_PROFILE", "p")],
        credentials: Some("[p]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\n"),
        config: Some(concat!("[profile p]\ncredential_process = ", r#"echo '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s"}'"#, "\n")),
        cli: "shared-credentials-file/AKIDCREDS", rust: "custom-process/AKIDPROC", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case {
        row: "28", env: &[("AWS_PROFILE", "p")],
        config: Some(concat!("[profile p]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\ncredential_process = ", r#"echo '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s"}'"#, "\n")),
        cli: "custom-process/AKIDPROC", rust: "custom-process/AKIDPROC", go: "config-file/AKIDCONFIG", ..BASE
    },
    Case {
        row: "29", env: &[("AWS_PROFILE", "p")],
        credentials: Some("[p]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\n"),
        config: Some("[profile p]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 111122223333\nsso_role_name = R\n"),
        cli: "!strap does not call the SSO portal", rust: "!strap does not call the SSO portal", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case {
        row: "30", env: &[("AWS_PROFILE", "p")],
        config: Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = b\n"),
        credentials: Some("[b]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n"),
        cli: "assume-role/ASIAROLE-R-FROM-AKIDB", rust: "assume-role/ASIAROLE-R-FROM-AKIDB", go: "assume-role/ASIAROLE-R-FROM-AKIDB", ..BASE
    },
    Case {
        row: "31", env: &[("AWS_PROFILE", "p")],
        config: Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = b\naws_access_key_id = AKIDP\naws_secret_access_key = s\n"),
        credentials: Some("[b]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n"),
        cli: "assume-role/ASIAROLE-R-FROM-AKIDB", rust: "assume-role/ASIAROLE-R-FROM-AKIDB", go: "assume-role/ASIAROLE-R-FROM-AKIDB", ..BASE
    },
    Case {
        row: "32", env: &[("AWS_PROFILE", "p")], imds: Imds::Up,
        config: Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\n"),
        cli: "!missing: source_profile or credential_source", rust: "!missing: source_profile or credential_source",
        go: "assume-role/ASIAROLE-R-FROM-ASIAIMDS", ..BASE
    },
    Case {
        row: "33", env: &[("AWS_PROFILE", "p")],
        config: Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = p\ncredential_source = Environment\n"),
        cli: "!contains both source_profile and credential_source", rust: "!contains both source_profile and credential_source",
        go: "!only one credential type", ..BASE
    },
    Case {
        row: "34", env: &[("AWS_PROFILE", "p")], imds: Imds::Up,
        config: Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\ncredential_source = Ec2InstanceMetadata\n"),
        cli: "assume-role/ASIAROLE-R-FROM-ASIAIMDS", rust: "assume-role/ASIAROLE-R-FROM-ASIAIMDS", go: "assume-role/ASIAROLE-R-FROM-ASIAIMDS", ..BASE
    },
    Case {
        row: "35", env: &[("AWS_PROFILE", "p")],
        config: Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\ncredential_source = environment\n"),
        cli: "!credential source \"environment\"", rust: "!credential_source Environment", go: "!credential source \"environment\"", ..BASE
    },
    Case {
        row: "36", env: &[("AWS_PROFILE", "p")], imds: Imds::Up,
        config: Some("[profile p]\ncredential_source = Environment\n"),
        cli: "iam-role/ASIAIMDS", rust: "!credential_source Environment", go: "!requires", ..BASE
    },
    Case {
        row: "37", env: &[("AWS_PROFILE", "p")], files: &[("/tok", "jwt")],
        config: Some("[profile p]\nweb_identity_token_file = /tok\nrole_arn = arn:aws:iam::1:role/W\n"),
        cli: "assume-role-with-web-identity/ASIAWEB-W", rust: "assume-role-with-web-identity/ASIAWEB-W", go: "assume-role-with-web-identity/ASIAWEB-W", ..BASE
    },
    Case {
        row: "38", env: &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/tok"), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/E")], files: &[("/tok", "jwt")],
        cli: "assume-role-with-web-identity/ASIAWEB-E", rust: "assume-role-with-web-identity/ASIAWEB-E", go: "assume-role-with-web-identity/ASIAWEB-E", ..BASE
    },
    Case {
        row: "39", env: &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/tok"), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/E"), ("AWS_PROFILE", "p")], files: &[("/tok", "jwt")],
        config: Some("[profile p]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = b\n"),
        credentials: Some("[b]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n"),
        cli: "assume-role/ASIAROLE-R-FROM-AKIDB", rust: "assume-role/ASIAROLE-R-FROM-AKIDB", go: "assume-role-with-web-identity/ASIAWEB-E", ..BASE
    },
    Case {
        row: "40", env: &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/tok"), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/E"), ("AWS_PROFILE", "p")], files: &[("/tok", "jwt")],
        credentials: Some("[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n"),
        cli: "assume-role-with-web-identity/ASIAWEB-E", rust: "shared-credentials-file/AKIDP", go: "assume-role-with-web-identity/ASIAWEB-E", ..BASE
    },
    Case {
        row: "41", env: &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/tok"), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/E")], files: &[("/tok", "jwt")], profile: Some("p"),
        credentials: Some("[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n"),
        cli: "shared-credentials-file/AKIDP", rust: "shared-credentials-file/AKIDP", go: "shared-credentials-file/AKIDP", ..BASE
    },
    Case {
        row: "42", env: &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/tok")], files: &[("/tok", "jwt")],
        cli: "!has no role ARN configured", rust: "-", go: "!the role ARN is not set", ..BASE
    },
    Case {
        row: "43", env: &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds")], imds: Imds::Up, probe: true,
        cli: "container-role", rust: "container-role", go: "container-role", ..BASE
    },
    Case {
        row: "44", env: &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"), ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost/x")], probe: true,
        cli: "container-role@169.254.170.2", rust: "container-role@169.254.170.2", go: "container-role@169.254.170.2", ..BASE
    },
    Case {
        row: "45", env: &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3/creds")],
        cli: "!Unsupported host '10.1.2.3'", rust: "!Unsupported host '10.1.2.3'", go: "!Unsupported host '10.1.2.3'", ..BASE
    },
    Case {
        row: "46", env: &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost:PORT/creds")], imds: Imds::NoRole,
        cli: "container-role/ASIACONT", rust: "container-role/ASIACONT", go: "container-role/ASIACONT", ..BASE
    },
    Case {
        row: "47", env: &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost:PORT/creds")], imds: Imds::NoRole, credentials: K_DEFAULT,
        cli: "shared-credentials-file/AKIDCREDS", rust: "shared-credentials-file/AKIDCREDS", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case { row: "48a", env: &[("AWS_EC2_METADATA_DISABLED", "TRUE")], imds: Imds::Up, ..BASE },
    Case {
        row: "48b", env: &[("AWS_EC2_METADATA_DISABLED", "1")], imds: Imds::Up,
        cli: "iam-role/ASIAIMDS", rust: "iam-role/ASIAIMDS", go: "iam-role/ASIAIMDS", ..BASE
    },
    Case {
        row: "49", imds: Imds::TokenForbidden,
        cli: "iam-role/ASIAIMDS", rust: "!IMDS is disabled", go: "iam-role/ASIAIMDS", ..BASE
    },
    Case {
        row: "50", env: &[("AWS_EC2_METADATA_V1_DISABLED", "true")], imds: Imds::TokenForbidden,
        cli: "!IMDSv1 has been disabled", rust: "!IMDS is disabled", go: "!IMDSv1 has been disabled", ..BASE
    },
    Case { row: "51", imds: Imds::NoRole, ..BASE },
    Case {
        row: "52a", env: &[("AWS_SHARED_CREDENTIALS_FILE", "~/alt")], files: &[("/home/alt", "[default]\naws_access_key_id = AKIDALT\naws_secret_access_key = s\n")],
        cli: "shared-credentials-file/AKIDALT", rust: "shared-credentials-file/AKIDALT", go: "-", ..BASE
    },
    Case {
        row: "52b", env: &[("AWS_SHARED_CREDENTIALS_FILE", "$HOME/alt")], files: &[("/home/alt", "[default]\naws_access_key_id = AKIDALT\naws_secret_access_key = s\n")],
        cli: "shared-credentials-file/AKIDALT", rust: "-", go: "-", ..BASE
    },
    Case { row: "53", env: &[("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")], ..BASE },
    Case {
        row: "54", env: &[("AWS_SHARED_CREDENTIALS_FILE", "")], credentials: K_DEFAULT,
        cli: "-", rust: "-", go: "shared-credentials-file/AKIDCREDS", ..BASE
    },
    Case {
        row: "55", env: &[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_CREDENTIAL_EXPIRATION", "2030-01-01T00:00:00Z")],
        cli: "env/AKIDENV+exp", rust: "env/AKIDENV", go: "env/AKIDENV", ..BASE
    },
    Case {
        row: "56", env: &[("AWS_ACCESS_KEY", "AKIDOLD"), ("AWS_SECRET_KEY", "x")],
        cli: "-", rust: "-", go: "env/AKIDOLD", ..BASE
    },
    Case {
        row: "57", config: Some(concat!("[default]\ncredential_process = ", r#"echo '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s"}' | cat"#, "\n")),
        cli: "!not valid credentials JSON", rust: "custom-process/AKIDPROC", go: "custom-process/AKIDPROC", ..BASE
    },
    Case {
        row: "58", config: Some(concat!("[default]\ncredential_process = ", r#"echo '{"Version": "1", "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s"}'"#, "\n")),
        cli: "!unsupported Version", rust: "!unsupported Version", go: "!unsupported Version", ..BASE
    },
    Case {
        row: "59", config: Some("[default]\ncredential_process = sh -c 'echo boom >&2; exit 1'\n"),
        cli: "!boom", rust: "!boom", go: "!boom", ..BASE
    },
    Case {
        row: "60", credentials: Some("[default]\nAWS_ACCESS_KEY_ID = AKIDUPPER\nAWS_SECRET_ACCESS_KEY = s\n"),
        cli: "shared-credentials-file/AKIDUPPER", rust: "shared-credentials-file/AKIDUPPER", go: "shared-credentials-file/AKIDUPPER", ..BASE
    },
];

fn check(row: &str, sdk: Sdk, e: &Explanation, want: &str) {
    let steps: Vec<String> = e
        .steps
        .iter()
        .map(|s| format!("{} {}: {}", s.provider, s.status.as_str(), s.detail))
        .collect();
    let ctx = format!("row {row} {sdk:?}: steps {steps:#?}");
    if let Some(err) = want.strip_prefix('!') {
        let got = e.error.as_ref().map(|x| x.to_string()).unwrap_or_default();
        assert!(
            e.selected.is_none(),
            "{ctx}: expected an error, got {:?}",
            e.verdict()
        );
        assert!(got.contains(err), "{ctx}: error {got:?} lacks {err:?}");
        assert_ne!(e.error, Some(ChainError::NoCredentials), "{ctx}");
        return;
    }
    if want == "-" {
        assert!(
            e.selected.is_none() && e.would.is_none(),
            "{ctx}: got {:?}",
            e.verdict()
        );
        assert_eq!(e.error, Some(ChainError::NoCredentials), "{ctx}");
        return;
    }
    let (want, exp) = match want.strip_suffix("+exp") {
        Some(w) => (w, true),
        None => (want, false),
    };
    if let Some((method, host)) = want.split_once('@') {
        assert_eq!(e.would.map(|m| m.as_str()), Some(method), "{ctx}");
        assert!(steps.iter().any(|s| s.contains(host)), "{ctx}");
        return;
    }
    let mut parts = want.split('/');
    let method = parts.next().unwrap_or_default();
    if let Some(m) = e.would {
        assert_eq!(m.as_str(), method, "{ctx}");
        return;
    }
    let Some((m, c)) = &e.selected else {
        panic!("{ctx}: expected {want}, got {:?}", e.verdict());
    };
    assert_eq!(m.as_str(), method, "{ctx}");
    if let Some(key) = parts.next() {
        assert_eq!(c.access_key_id, key, "{ctx}");
    }
    if let Some(token) = parts.next() {
        assert_eq!(
            c.session_token.as_ref().map(|t| t.expose().as_str()),
            Some(token),
            "{ctx}"
        );
    }
    if exp {
        assert!(c.expiration.is_some(), "{ctx}: no expiration");
    }
}

async fn run_case(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("home/.aws")).unwrap();
    if let Some(c) = case.config {
        std::fs::write(root.join("home/.aws/config"), c).unwrap();
    }
    if let Some(c) = case.credentials {
        std::fs::write(root.join("home/.aws/credentials"), c).unwrap();
    }
    for (path, content) in case.files {
        std::fs::write(root.join(path.trim_start_matches('/')), content).unwrap();
    }
    let server = match case.imds {
        Imds::Off => None,
        Imds::Up => Some(replay(imds_routes(200, true)).await),
        Imds::TokenForbidden => Some(replay(imds_routes(403, true)).await),
        Imds::NoRole => Some(replay(imds_routes(200, false)).await),
    };
    let mut env: Vec<(String, String)> = vec![
        ("HOME".into(), "/home".into()),
        ("PATH".into(), "/usr/bin:/bin".into()),
    ];
    match &server {
        None => env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into())),
        Some(s) => env.push((
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
            format!("http://{}/", s.addr),
        )),
    }
    let port = server
        .as_ref()
        .map(|s| s.addr.port().to_string())
        .unwrap_or_default();
    for (k, v) in case.env {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.replace("PORT", &port)));
    }
    let ctx = Context::fixed(env, root);
    let expectations = [
        (Sdk::Cli, case.cli),
        (Sdk::Botocore, case.botocore.unwrap_or(case.cli)),
        (Sdk::Rust, case.rust),
        (Sdk::Go, case.go),
    ];
    for (sdk, want) in expectations {
        let opts = Options {
            sdk: Some(sdk),
            profile: case.profile.map(str::to_string),
            probe: case.probe,
            sts: Some(Arc::new(FakeSts)),
            child_env: Vec::new(),
            rewrite: Vec::new(),
        };
        let e = resolve(&ctx, &opts).await;
        check(case.row, sdk, &e, want);
    }
}

#[tokio::test]
async fn every_row_of_the_precedence_table_for_every_sdk() {
    assert!(CASES.len() >= 60);
    for case in CASES {
        run_case(case).await;
    }
}

#[tokio::test]
async fn explanation_names_file_and_line_and_shadowed_providers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("home/.aws")).unwrap();
    std::fs::write(dir.path().join("home/.aws/credentials"), K_DEFAULT.unwrap()).unwrap();
    let mut env: Vec<(&str, &str)> = KEYS.to_vec();
    env.push(("HOME", "/home"));
    env.push(("AWS_EC2_METADATA_DISABLED", "true"));
    let ctx = Context::fixed(env, dir.path());
    let e = resolve(&ctx, &Options::default()).await;
    let step = |p: &str| e.steps.iter().find(|s| s.provider == p).unwrap();
    assert_eq!(step("env").status, Status::Selected);
    let shadowed = step("shared-credentials-file");
    assert_eq!(shadowed.status, Status::Shadowed);
    assert!(
        shadowed.detail.contains("/home/.aws/credentials:2"),
        "{}",
        shadowed.detail
    );
    assert!(
        shadowed.detail.contains("****************REDS"),
        "{}",
        shadowed.detail
    );
    assert_eq!(step("iam-role").status, Status::Skipped);
    assert!(step("iam-role")
        .detail
        .contains("AWS_EC2_METADATA_DISABLED"));
}

#[tokio::test]
async fn assume_role_loops_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("home/.aws")).unwrap();
    std::fs::write(
        dir.path().join("home/.aws/config"),
        "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = a\n",
    )
    .unwrap();
    let ctx = Context::fixed(
        [
            ("HOME", "/home"),
            ("AWS_PROFILE", "a"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        dir.path(),
    );
    for sdk in [Sdk::Cli, Sdk::Rust, Sdk::Go] {
        let opts = Options {
            sdk: Some(sdk),
            sts: Some(Arc::new(FakeSts)),
            ..Options::default()
        };
        let e = resolve(&ctx, &opts).await;
        let msg = e.error.map(|x| x.to_string()).unwrap_or_default();
        assert!(
            msg.contains("infinite loop") && msg.contains("a -> b -> a"),
            "{sdk:?}: {msg}"
        );
    }
}

#[tokio::test]
async fn secrets_never_reach_debug_output_or_details() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::fixed(
        [
            ("AWS_ACCESS_KEY_ID", "AKIDSECRETKEYID1234"),
            ("AWS_SECRET_ACCESS_KEY", "VERYSECRETVALUE"),
            ("AWS_SESSION_TOKEN", "VERYSECRETTOKEN"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        dir.path(),
    );
    let e = resolve(&ctx, &Options::default()).await;
    let debug = format!("{e:?}");
    assert!(e.selected.is_some());
    for secret in ["VERYSECRETVALUE", "VERYSECRETTOKEN"] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug");
    }
    // The access key id is masked wherever the chain describes it.
    assert!(!e.steps.iter().any(|s| s.detail.contains("AKIDSECRETKEYID")));
    assert!(e
        .steps
        .iter()
        .any(|s| s.detail.contains("****************1234")));
}

#[test]
fn parse_differences_name_the_sdks_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("home/.aws")).unwrap();
    std::fs::write(
        dir.path().join("home/.aws/config"),
        "[default]\nregion = us-east-1 # main\naws_secret_access_key = x ; y\n",
    )
    .unwrap();
    let ctx = Context::fixed([("HOME", "/home")], dir.path());
    let d = parse_differences(&ctx, "default");
    let region = d.iter().find(|l| l.contains("region")).unwrap();
    assert!(
        region.contains("botocore/CLI reads \"us-east-1 # main\" at /home/.aws/config:2"),
        "{region}"
    );
    assert!(
        region.contains("aws-sdk-rust reads \"us-east-1\""),
        "{region}"
    );
    let secret = d
        .iter()
        .find(|l| l.contains("aws_secret_access_key"))
        .unwrap();
    assert!(
        !secret.contains("x ; y") && !secret.contains("\"x\""),
        "{secret}"
    );
}

#[tokio::test]
async fn imds_down_or_broken_json_moves_on_in_botocore_and_stops_in_rust() {
    let broken = replay(vec![
        ("PUT", "/latest/api/token", 200, "tok".to_string()),
        (
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            200,
            "r1".into(),
        ),
        (
            "GET",
            "/latest/meta-data/iam/security-credentials/r1",
            200,
            "{not json".into(),
        ),
    ])
    .await;
    // A port nothing listens on: bind, note the address, close.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for (addr, rust_stops) in [(broken.addr, true), (down, false)] {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("http://{addr}/");
        let ctx = Context::fixed(
            [("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str())],
            dir.path(),
        );
        let cli = resolve(&ctx, &Options::default()).await;
        assert_eq!(
            cli.error,
            Some(ChainError::NoCredentials),
            "{addr}: {:?}",
            cli.steps
        );
        let imds = cli.steps.iter().find(|s| s.provider == "iam-role").unwrap();
        assert!(
            imds.detail.contains(&addr.to_string()) || imds.detail.contains("/r1"),
            "{}",
            imds.detail
        );
        let rust = resolve(
            &ctx,
            &Options {
                sdk: Some(Sdk::Rust),
                ..Options::default()
            },
        )
        .await;
        let stopped = !matches!(rust.error, Some(ChainError::NoCredentials));
        assert!(rust.selected.is_none());
        assert_eq!(stopped, rust_stops, "{addr}: {:?}", rust.error);
    }
}
