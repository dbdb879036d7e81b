//! The two network providers of the chain: container credentials (ECS relative URI,
//! EKS Pod Identity / `strap creds serve` full URI, with the allowed-host rules and the
//! authorization token) and the EC2 instance profile (role name, then credentials). The
//! instance profile is read through the agent's one IMDS client, [`crate::imds`]: this
//! module only states each SDK's rules as [`ImdsSettings`] (attempts, timeout, IMDSv1
//! fallback, retry delay) and turns the client's errors into the chain's outcomes.
//! Tokens and keys are never logged.

use std::net::IpAddr;
use std::time::Duration;

use super::env_vars::*;
use super::process::parse_time;
use super::profile::Profile;
use super::{Credentials, Method, Outcome, Sdk};
use crate::context::Context;
use crate::imds::settings::{IPV4_ENDPOINT, IPV6_ENDPOINT, TOKEN_PATH};
use crate::imds::{ImdsClient, ImdsError, ImdsSettings, V1Fallback};
use crate::secret::Secret;

/// The largest answer read from a container credentials endpoint or IMDS credentials
/// path: a credentials document is well under 4 KiB.
pub const MAX_CREDENTIALS_ANSWER: usize = 64 << 10;

/// The largest authorization token file read (`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`):
/// EKS Pod Identity tokens are about 1 KiB.
pub const MAX_TOKEN_FILE: u64 = 64 << 10;

/// Read a token file: a regular file of at most [`MAX_TOKEN_FILE`] bytes (never a device
/// or a FIFO, which would be read without end or waited on).
pub fn read_token_file(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = crate::context::read_regular(path, MAX_TOKEN_FILE, false)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
/// Where ECS serves relative container-credential URIs.
pub const ECS_HOST: &str = "http://169.254.170.2";
/// Per-request timeout for IMDS (botocore's `metadata_service_timeout` default).
pub const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// Per-request timeout for the container endpoint (botocore's default).
pub const CONTAINER_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between IMDS attempts after a 5xx answer (aws-sdk-rust and Go; botocore does
/// not pause).
pub const IMDS_RETRY_DELAY: Duration = Duration::from_millis(50);

/// How many times each SDK tries an IMDS request when nothing is configured
/// (botocore's `metadata_service_num_attempts` default is 1; aws-config makes 4; Go's
/// retryer 3).
fn imds_attempts(sdk: Sdk) -> u32 {
    match sdk {
        Sdk::Cli | Sdk::Botocore => 1,
        Sdk::Rust => 4,
        Sdk::Go => 3,
        // The JS SDK's IMDS client is creds::net_js; it makes one attempt.
        Sdk::Js => 1,
    }
}

/// How `sdk` reaches IMDS for the instance profile, as settings of the agent's IMDS
/// client: the `AWS_EC2_METADATA_*` variables, then the selected `profile`'s keys, then
/// the SDK's own rules.
///
/// botocore and the AWS CLI (`IMDSFetcher`) take the timeout and the number of attempts
/// from `AWS_METADATA_SERVICE_TIMEOUT` / `metadata_service_timeout` and
/// `AWS_METADATA_SERVICE_NUM_ATTEMPTS` / `metadata_service_num_attempts` (defaults 1 s and
/// 1), use the timeout to connect and to read, and try a read again at once on any answer
/// but a 200 with a body, a timeout or a failed connection. aws-sdk-rust and Go use a
/// fixed one-second timeout and their own attempt counts, retry only 5xx answers (after a
/// fixed pause) and not a failed connection. aws-sdk-rust never reads without a token;
/// the others read without one whenever the token request fails, unless the service is
/// not there at all or `AWS_EC2_METADATA_V1_DISABLED` / `ec2_metadata_v1_disabled`
/// forbids it.
pub fn imds_settings(ctx: &Context, sdk: Sdk, profile: Option<&Profile>) -> ImdsSettings {
    let mut settings = ImdsSettings::from_context(ctx);
    if let Some(profile) = profile {
        settings.apply_profile_at(&|key| {
            profile
                .located(key)
                .map(|l| (l.value.clone(), Some(l.at())))
        });
    }
    if sdk.is_botocore_family() {
        if settings.timeout.is_none() {
            settings.timeout_override = Some(IMDS_TIMEOUT);
        }
        if settings.num_attempts.is_none() {
            settings.attempts_override = Some(imds_attempts(sdk));
        }
        settings.retry_base = Duration::ZERO;
        settings.retry_doubles = false;
        settings.retry_transport_errors = true;
        settings.retry_any_status = true;
    } else {
        settings.timeout_override = Some(IMDS_TIMEOUT);
        settings.attempts_override = Some(imds_attempts(sdk));
        settings.retry_base = IMDS_RETRY_DELAY;
        settings.retry_doubles = false;
        settings.retry_transport_errors = false;
    }
    if sdk == Sdk::Rust {
        settings.fallback_to_v1 = false;
    } else {
        settings.v1_fallback = V1Fallback::OnAnyFailure;
    }
    settings
}

/// The container-credentials URL the environment configures, or why not.
pub fn container_uri(var: &dyn Fn(&str) -> Option<String>, sdk: Sdk) -> Result<String, Outcome> {
    let present = |k: &str| match var(k) {
        Some(v) if sdk == Sdk::Go && v.is_empty() => None,
        other => other,
    };
    if let Some(rel) = present(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) {
        if sdk == Sdk::Rust && !rel.starts_with('/') {
            return Err(Outcome::InvalidConfiguration(format!(
                "{AWS_CONTAINER_CREDENTIALS_RELATIVE_URI}={rel:?} is not a path starting with '/'"
            )));
        }
        return Ok(format!("{ECS_HOST}{rel}"));
    }
    let Some(full) = present(AWS_CONTAINER_CREDENTIALS_FULL_URI) else {
        return Err(Outcome::NotLoaded(format!(
            "No environment variables were set to configure ECS provider: neither {AWS_CONTAINER_CREDENTIALS_RELATIVE_URI} nor {AWS_CONTAINER_CREDENTIALS_FULL_URI} is set"
        )));
    };
    let url = reqwest::Url::parse(&full).map_err(|_| {
        Outcome::InvalidConfiguration(format!(
            "{AWS_CONTAINER_CREDENTIALS_FULL_URI}={full:?}: URI did not specify a host"
        ))
    })?;
    let Some(host) = url.host_str() else {
        return Err(Outcome::InvalidConfiguration(format!(
            "{AWS_CONTAINER_CREDENTIALS_FULL_URI}={full:?}: URI did not specify a host"
        )));
    };
    if url.scheme() == "https" {
        return Ok(full);
    }
    if url.scheme() != "http" || !allowed_http_host(host) {
        return Err(Outcome::InvalidConfiguration(format!(
            "Unsupported host '{host}' in {AWS_CONTAINER_CREDENTIALS_FULL_URI}={full:?}: plain http is allowed only to loopback, 169.254.170.2, 169.254.170.23, fd00:ec2::23 or localhost; use https or one of those"
        )));
    }
    Ok(full)
}

/// The hosts a plain-http full URI may name.
fn allowed_http_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare == "localhost" {
        return true;
    }
    match bare.parse::<IpAddr>() {
        Ok(ip) => {
            ip.is_loopback()
                || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"]
                    .iter()
                    .any(|a| a.parse::<IpAddr>().ok() == Some(ip))
        }
        Err(_) => false,
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Parse the JSON both the container endpoint and IMDS return.
pub fn parse_role_credentials(body: &[u8], source: &str) -> Result<Credentials, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("{source} returned a body that is not JSON ({e})"))?;
    if let Some(code) = v.get("Code").and_then(|c| c.as_str()) {
        if code != "Success" {
            return Err(format!("{source} returned Code {code:?}"));
        }
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let (Some(access_key_id), Some(secret)) = (s("AccessKeyId"), s("SecretAccessKey")) else {
        return Err(format!(
            "{source} returned JSON without AccessKeyId and SecretAccessKey"
        ));
    };
    let expiration = match s("Expiration") {
        Some(e) => Some(parse_time(&e, true).map_err(|m| format!("{source}: {m}"))?),
        None => None,
    };
    Ok(Credentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: s("Token").or_else(|| s("SessionToken")).map(Secret::new),
        expiration,
        account_id: s("AccountId"),
    })
}

/// Fetch container credentials from `uri`.
pub async fn fetch_container(ctx: &Context, uri: &str) -> Outcome {
    let token = match ctx.var(AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) {
        Some(path) => match read_token_file(&super::files::real_path(ctx, &path)) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => {
                return Outcome::ProviderError(format!(
                    "cannot read {AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE}={path}: {e}"
                ))
            }
        },
        None => ctx.var(AWS_CONTAINER_AUTHORIZATION_TOKEN),
    };
    if token.as_deref().is_some_and(|t| t.contains(['\r', '\n'])) {
        return Outcome::InvalidConfiguration(
            "the container authorization token contains a line break".into(),
        );
    }
    let client = match http_client(CONTAINER_TIMEOUT) {
        Ok(c) => c,
        Err(e) => return Outcome::ProviderError(e),
    };
    let mut req = client.get(uri);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::ProviderError(format!(
                "cannot reach the container endpoint {uri}: {}",
                short(&e)
            ))
        }
    };
    let status = resp.status();
    let body = match crate::bounded::body(resp, MAX_CREDENTIALS_ANSWER).await {
        Ok(body) => body,
        Err(e @ crate::bounded::BodyError::TooLarge { .. }) => {
            return Outcome::ProviderError(format!("the container endpoint {uri}: {e}"))
        }
        Err(_) => Default::default(),
    };
    if !status.is_success() {
        return Outcome::ProviderError(format!(
            "the container endpoint {uri} answered HTTP {}",
            status.as_u16()
        ));
    }
    match parse_role_credentials(&body, uri) {
        Ok(c) => Outcome::Loaded(Method::ContainerRole, c),
        Err(e) => Outcome::ProviderError(e),
    }
}

fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.to_string()
    }
}

/// What went wrong in a way the chain reports as "cannot reach": `timed out`,
/// `connection failed`, or the error itself.
fn transport_kind(e: &ImdsError) -> String {
    match e {
        ImdsError::Unreachable { kind, source, .. } if *kind == "request failed" => {
            source.to_string()
        }
        ImdsError::Unreachable { kind, .. } => (*kind).to_string(),
        ImdsError::DeadlineExceeded { .. } => "timed out".to_string(),
        other => other.to_string(),
    }
}

/// Fetch the instance profile's credentials over IMDS as `sdk` does, with the settings
/// [`imds_settings`] made for it.
pub async fn fetch_imds(sdk: Sdk, settings: &ImdsSettings) -> Outcome {
    let choice = settings.configured_endpoint();
    let configured = choice.url != IPV4_ENDPOINT && choice.url != IPV6_ENDPOINT;
    if sdk.is_botocore_family() && configured && !choice.url.ends_with('/') {
        // botocore appends `latest/api/token` to the configured endpoint as is.
        return Outcome::ProviderError(format!(
            "Invalid endpoint EC2 Instance Metadata endpoint: {}latest/api/token (from {}): end the endpoint with '/'",
            choice.url, choice.origin
        ));
    }
    let endpoint = choice.url.trim_end_matches('/').to_string();
    let unreachable = |kind: String| {
        Outcome::NotLoaded(format!(
            "cannot reach IMDS at {endpoint} ({kind}); set {AWS_EC2_METADATA_DISABLED}=true off EC2"
        ))
    };
    // The endpoint shown is the endpoint used, whatever the mode says.
    let client = match ImdsClient::from_settings(&settings.clone().with_endpoint(&choice.url)) {
        Ok(c) => c,
        Err(e) => return unreachable(e.to_string()),
    };
    let token_url = format!("{endpoint}{TOKEN_PATH}");
    // A failure of the token request, whichever read met it.
    let token_failure = |e: &ImdsError| -> Option<Outcome> {
        match e {
            ImdsError::V1Disabled { .. } => Some(Outcome::ProviderError(format!(
                "Unable to retrieve token for use in IMDSv2 call and IMDSv1 has been disabled ({endpoint})"
            ))),
            ImdsError::Token { status: 403, .. } => Some(Outcome::ProviderError(format!(
                "request forbidden: IMDS is disabled (PUT {token_url} answered 403)"
            ))),
            ImdsError::Token { status, .. } => Some(Outcome::ProviderError(format!(
                "PUT {token_url} answered HTTP {status}"
            ))),
            ImdsError::ServerError { path, status, .. } if path == TOKEN_PATH => Some(
                Outcome::ProviderError(format!("PUT {token_url} answered HTTP {status}")),
            ),
            ImdsError::Unreachable { url, .. } if *url == token_url => {
                Some(unreachable(transport_kind(e)))
            }
            ImdsError::DeadlineExceeded { path, .. } if path == TOKEN_PATH => {
                Some(unreachable(transport_kind(e)))
            }
            _ => None,
        }
    };
    let base = "/latest/meta-data/iam/security-credentials/";
    let role = match client.get_text(base).await {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Outcome::NotLoaded(format!(
                "IMDS at {endpoint} has no instance profile role ({base} answered 404)"
            ))
        }
        Err(e) => {
            return token_failure(&e).unwrap_or_else(|| match e.status() {
                Some(status) => {
                    Outcome::NotLoaded(format!("IMDS GET {base} answered HTTP {status}"))
                }
                None => unreachable(transport_kind(&e)),
            })
        }
    };
    let Some(role) = role.lines().next().map(str::trim).filter(|r| !r.is_empty()) else {
        return Outcome::NotLoaded(format!("IMDS at {endpoint} lists no instance profile role"));
    };
    let path = format!("{base}{role}");
    match client.get(&path).await {
        Ok(Some(body)) => match parse_role_credentials(&body, &format!("IMDS {path}")) {
            Ok(c) => Outcome::Loaded(Method::IamRole, c),
            Err(e) if sdk.is_botocore_family() => Outcome::NotLoaded(e),
            Err(e) => Outcome::ProviderError(e),
        },
        Ok(None) => Outcome::NotLoaded(format!("IMDS GET {path} answered HTTP 404")),
        Err(e) => token_failure(&e).unwrap_or_else(|| match e.status() {
            Some(status) => Outcome::NotLoaded(format!("IMDS GET {path} answered HTTP {status}")),
            None => Outcome::NotLoaded(format!("IMDS GET {path}: {}", transport_kind(&e))),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::imds::test_server::{Reply, TestServer};

    #[test]
    fn every_case_of_the_shared_container_uri_tests_passes() {
        let text = include_str!("../../tests/data/aws-sdk/ecs-tests.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        for t in doc["tests"].as_array().unwrap() {
            let name = t["docs"].as_str().unwrap();
            let env: BTreeMap<String, String> = serde_json::from_value(t["env"].clone()).unwrap();
            let var = |k: &str| env.get(k).cloned();
            let got = container_uri(&var, Sdk::Rust);
            if let Some(want) = t["result"]["Ok"].as_str() {
                assert_eq!(got.as_deref().ok(), Some(want), "{name}");
            } else {
                let want = t["result"]["ErrorContains"].as_str().unwrap();
                let msg = match got {
                    Err(Outcome::NotLoaded(m)) | Err(Outcome::InvalidConfiguration(m)) => m,
                    other => panic!("{name}: {other:?}"),
                };
                assert!(msg.contains(want), "{name}: {msg}");
            }
        }
    }

    #[test]
    fn plain_http_to_other_hosts_is_refused() {
        let env: BTreeMap<&str, &str> =
            [(AWS_CONTAINER_CREDENTIALS_FULL_URI, "http://10.1.2.3/creds")].into();
        let var = |k: &str| env.get(k).map(|s| s.to_string());
        match container_uri(&var, Sdk::Cli) {
            Err(Outcome::InvalidConfiguration(m)) => {
                assert!(m.contains("Unsupported host '10.1.2.3'"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn role_credentials_json_is_parsed_and_garbage_refused() {
        let c = parse_role_credentials(
            br#"{"Code":"Success","AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z"}"#,
            "x",
        )
        .unwrap();
        assert_eq!(c.access_key_id, "ASIA1");
        assert!(c.session_token.is_some());
        assert!(parse_role_credentials(b"{not json", "IMDS /x")
            .unwrap_err()
            .contains("IMDS /x"));
    }

    #[test]
    fn imds_endpoint_from_variable_profile_or_mode() {
        use crate::creds::profile::{parse, Dialect, FileKind};
        let set = parse(
            "[default]\nec2_metadata_service_endpoint = http://10.0.0.1/\n[profile six]\nec2_metadata_service_endpoint_mode = IPv6\n",
            std::path::Path::new("/c"),
            FileKind::Config,
            Dialect::Spec,
        )
        .unwrap();
        let endpoint = |ctx: &Context, p| {
            let choice = imds_settings(ctx, Sdk::Cli, p).configured_endpoint();
            (choice.url, choice.origin)
        };
        let ctx = Context::fixed(Vec::<(String, String)>::new(), "/");
        let (e, from) = endpoint(&ctx, set.get("default"));
        assert_eq!(e, "http://10.0.0.1/");
        assert!(from.contains("/c:2"), "{from}");
        assert_eq!(endpoint(&ctx, set.get("six")).0, IPV6_ENDPOINT);
        assert_eq!(endpoint(&ctx, None).0, IPV4_ENDPOINT);
        let ctx = Context::fixed([(AWS_EC2_METADATA_SERVICE_ENDPOINT, "http://x/")], "/");
        assert_eq!(endpoint(&ctx, set.get("default")).0, "http://x/");
    }

    #[test]
    fn each_sdk_rule_is_a_setting() {
        let ctx = Context::fixed(
            [
                ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "9"),
                ("AWS_METADATA_SERVICE_TIMEOUT", "30"),
            ],
            "/",
        );
        for (sdk, attempts, timeout) in [
            (Sdk::Cli, 9, 30),
            (Sdk::Botocore, 9, 30),
            (Sdk::Rust, 4, 1),
            (Sdk::Go, 3, 1),
        ] {
            let s = imds_settings(&ctx, sdk, None);
            assert_eq!(s.resolve_num_attempts().unwrap(), attempts, "{sdk:?}");
            assert_eq!(
                s.resolve_timeout().unwrap(),
                Some(Duration::from_secs(timeout)),
                "{sdk:?}"
            );
            assert_eq!(
                s.retry_transport_errors,
                sdk.is_botocore_family(),
                "{sdk:?}"
            );
            assert_eq!(s.retry_any_status, sdk.is_botocore_family(), "{sdk:?}");
            assert!(!s.retry_doubles, "{sdk:?}");
            assert_eq!(s.allows_v1(), sdk != Sdk::Rust, "{sdk:?}");
        }
        assert_eq!(
            imds_settings(&ctx, Sdk::Go, None).v1_fallback,
            V1Fallback::OnAnyFailure
        );
        // Nothing configured: botocore's defaults, one attempt of one second.
        let bare = Context::fixed(Vec::<(String, String)>::new(), "/");
        let s = imds_settings(&bare, Sdk::Botocore, None);
        assert_eq!(s.resolve_num_attempts().unwrap(), 1);
        assert_eq!(s.resolve_timeout().unwrap(), Some(IMDS_TIMEOUT));
    }

    #[test]
    fn the_profile_sets_botocore_timeout_and_attempts() {
        use crate::creds::profile::{parse, Dialect, FileKind};
        let set = parse(
            "[default]\nmetadata_service_timeout = 3\nmetadata_service_num_attempts = 2\n",
            std::path::Path::new("/c"),
            FileKind::Config,
            Dialect::Botocore,
        )
        .unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), "/");
        let s = imds_settings(&ctx, Sdk::Cli, set.get("default"));
        assert_eq!(s.resolve_num_attempts().unwrap(), 2);
        assert_eq!(s.resolve_timeout().unwrap(), Some(Duration::from_secs(3)));
    }

    /// A role-credentials server: token, role name, then the credentials, each answer
    /// given by `creds(n)` for the n-th GET of the credentials (from 0).
    async fn role_server(creds: impl Fn(usize) -> Reply + Send + Sync + 'static) -> TestServer {
        let gets = std::sync::atomic::AtomicUsize::new(0);
        TestServer::start(
            move |req, _| match (req.method.as_str(), req.path.as_str()) {
                ("PUT", _) => Reply::ok("token"),
                ("GET", "/latest/meta-data/iam/security-credentials/") => Reply::ok("r"),
                ("GET", "/latest/meta-data/iam/security-credentials/r") => {
                    creds(gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
                }
                _ => Reply::status(404),
            },
        )
        .await
    }

    const ROLE_JSON: &str = r#"{"Code":"Success","AccessKeyId":"ASIAROLE","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z"}"#;

    async fn fetch_with(server: &TestServer, sdk: Sdk, vars: &[(&str, &str)]) -> Outcome {
        let endpoint = format!("{}/", server.url());
        let mut all = vec![(AWS_EC2_METADATA_SERVICE_ENDPOINT, endpoint.as_str())];
        all.extend_from_slice(vars);
        let ctx = Context::fixed(all, "/");
        fetch_imds(sdk, &imds_settings(&ctx, sdk, None)).await
    }

    #[tokio::test]
    async fn botocore_waits_as_long_as_the_configured_timeout() {
        let server = role_server(|_| {
            Reply::Delayed(Duration::from_millis(1300), Box::new(Reply::ok(ROLE_JSON)))
        })
        .await;
        for sdk in [Sdk::Cli, Sdk::Botocore] {
            let got = fetch_with(&server, sdk, &[("AWS_METADATA_SERVICE_TIMEOUT", "3")]).await;
            assert!(
                matches!(&got, Outcome::Loaded(Method::IamRole, c) if c.access_key_id == "ASIAROLE"),
                "{sdk:?}: {got:?}"
            );
        }
        // The default second is too short for this service.
        let got = fetch_with(&server, Sdk::Cli, &[]).await;
        assert!(
            matches!(&got, Outcome::NotLoaded(m) if m.contains("timed out")),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn botocore_retries_a_500_on_the_credentials_when_asked_to() {
        let flaky = || {
            role_server(|n| {
                if n == 0 {
                    Reply::status(500)
                } else {
                    Reply::ok(ROLE_JSON)
                }
            })
        };
        let server = flaky().await;
        let got = fetch_with(
            &server,
            Sdk::Botocore,
            &[("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "2")],
        )
        .await;
        assert!(
            matches!(got, Outcome::Loaded(Method::IamRole, _)),
            "{got:?}"
        );
        let creds_gets = server.lines().iter().filter(|l| l.ends_with("/r")).count();
        assert_eq!(creds_gets, 2);
        // One attempt (the default): the 500 ends the provider.
        let server = flaky().await;
        let got = fetch_with(&server, Sdk::Cli, &[]).await;
        assert!(
            matches!(&got, Outcome::NotLoaded(m) if m.contains("500")),
            "{got:?}"
        );
        // botocore retries any answer but 200, and an empty body, not only 5xx.
        let server = role_server(|n| match n {
            0 => Reply::status(403),
            1 => Reply::ok(""),
            _ => Reply::ok(ROLE_JSON),
        })
        .await;
        let got = fetch_with(
            &server,
            Sdk::Cli,
            &[("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3")],
        )
        .await;
        assert!(
            matches!(got, Outcome::Loaded(Method::IamRole, _)),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_container_endpoint_or_token_file_without_end_is_refused_at_its_cap() {
        let server =
            TestServer::start(|_, _| Reply::ok(vec![b'{'; MAX_CREDENTIALS_ANSWER + 1])).await;
        let ctx = Context::fixed(Vec::<(String, String)>::new(), "/");
        let uri = format!("{}/creds", server.url());
        match fetch_container(&ctx, &uri).await {
            Outcome::ProviderError(e) => {
                assert!(e.contains("larger than 65536 bytes"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let err = read_token_file(std::path::Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    }
}
