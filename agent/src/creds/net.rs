//! The two network providers of the chain: container credentials (ECS relative URI,
//! EKS Pod Identity / `strap creds serve` full URI, with the allowed-host rules and the
//! authorization token) and the EC2 instance profile over IMDS (token, role name,
//! credentials, with each SDK's IMDSv1 fallback rule). Tokens and keys are never logged.

use std::net::IpAddr;
use std::time::Duration;

use super::env_vars::*;
use super::process::parse_time;
use super::{Credentials, Method, Outcome, Sdk};
use crate::context::Context;
use crate::secret::Secret;

/// Where ECS serves relative container-credential URIs.
pub const ECS_HOST: &str = "http://169.254.170.2";
/// The default instance-metadata endpoint.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The IPv6 instance-metadata endpoint (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`).
pub const IMDS_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";

/// The IMDS endpoint and where it came from: the variable, the profile's
/// `ec2_metadata_service_endpoint`, the mode (variable or `ec2_metadata_service_endpoint_mode`),
/// else the IPv4 default.
pub fn imds_endpoint(ctx: &Context, profile: Option<&super::profile::Profile>) -> (String, String) {
    if let Some(e) = ctx.var(AWS_EC2_METADATA_SERVICE_ENDPOINT) {
        return (e, AWS_EC2_METADATA_SERVICE_ENDPOINT.to_string());
    }
    if let Some(l) = profile.and_then(|p| p.located("ec2_metadata_service_endpoint")) {
        return (
            l.value.clone(),
            format!("ec2_metadata_service_endpoint at {}", l.at()),
        );
    }
    let mode = ctx.var(AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE).or_else(|| {
        profile
            .and_then(|p| p.get("ec2_metadata_service_endpoint_mode"))
            .map(str::to_string)
    });
    if mode.is_some_and(|m| m.eq_ignore_ascii_case("ipv6")) {
        return (IMDS_ENDPOINT_IPV6.to_string(), "endpoint mode IPv6".into());
    }
    (IMDS_ENDPOINT.to_string(), "the default".into())
}

/// Per-request timeout for IMDS (botocore's `metadata_service_timeout` default).
pub const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// Per-request timeout for the container endpoint (botocore's default).
pub const CONTAINER_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between IMDS attempts after a 5xx answer.
pub const IMDS_RETRY_DELAY: Duration = Duration::from_millis(50);

/// How many times each SDK tries an IMDS request that answers 5xx (botocore's
/// `metadata_service_num_attempts` default is 1; aws-config makes 4; Go's retryer 3).
fn imds_attempts(sdk: Sdk) -> u32 {
    match sdk {
        Sdk::Cli | Sdk::Botocore => 1,
        Sdk::Rust => 4,
        Sdk::Go => 3,
    }
}

/// Send a request, again after a 5xx answer, up to `attempts` times.
async fn send_retrying(
    attempts: u32,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut left = attempts.max(1);
    loop {
        left -= 1;
        let resp = build().send().await?;
        if resp.status().is_server_error() && left > 0 {
            tokio::time::sleep(IMDS_RETRY_DELAY).await;
            continue;
        }
        return Ok(resp);
    }
}

/// IMDSv2 token lifetime asked for.
pub const IMDS_TOKEN_TTL: &str = "21600";

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
        Some(path) => match std::fs::read_to_string(super::files::real_path(ctx, &path)) {
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
    let body = resp.bytes().await.unwrap_or_default();
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

/// Whether `AWS_EC2_METADATA_DISABLED` turns IMDS off (`true`, any case).
pub fn imds_disabled(ctx: &Context) -> bool {
    ctx.var(AWS_EC2_METADATA_DISABLED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Fetch the instance profile's credentials over IMDS as `sdk` does.
pub async fn fetch_imds(
    ctx: &Context,
    sdk: Sdk,
    v1_disabled_by_profile: bool,
    (endpoint, from): (String, String),
) -> Outcome {
    let configured = endpoint != IMDS_ENDPOINT && endpoint != IMDS_ENDPOINT_IPV6;
    if sdk.is_botocore_family() && configured && !endpoint.ends_with('/') {
        // botocore appends `latest/api/token` to the configured endpoint as is.
        return Outcome::ProviderError(format!(
            "Invalid endpoint EC2 Instance Metadata endpoint: {endpoint}latest/api/token (from {from}): end the endpoint with '/'"
        ));
    }
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let client = match http_client(IMDS_TIMEOUT) {
        Ok(c) => c,
        Err(e) => return Outcome::ProviderError(e),
    };
    let v1_disabled = v1_disabled_by_profile
        || ctx
            .var(AWS_EC2_METADATA_V1_DISABLED)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let token_url = format!("{endpoint}/latest/api/token");
    let attempts = imds_attempts(sdk);
    let token = send_retrying(attempts, || {
        client
            .put(&token_url)
            .header("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL)
    })
    .await;
    let token: Option<Secret<String>> = match token {
        Ok(r) if r.status().is_success() => r.text().await.ok().map(Secret::new),
        Ok(r) => {
            let code = r.status().as_u16();
            if sdk == Sdk::Rust {
                return if code == 403 {
                    Outcome::ProviderError(format!(
                        "request forbidden: IMDS is disabled (PUT {token_url} answered 403)"
                    ))
                } else {
                    Outcome::ProviderError(format!("PUT {token_url} answered HTTP {code}"))
                };
            }
            None
        }
        Err(e) => {
            if sdk == Sdk::Rust {
                return Outcome::NotLoaded(format!(
                    "cannot reach IMDS at {endpoint} ({}); set {AWS_EC2_METADATA_DISABLED}=true off EC2",
                    short(&e)
                ));
            }
            if e.is_connect() && !v1_disabled {
                return Outcome::NotLoaded(format!(
                    "cannot reach IMDS at {endpoint} (connection failed); set {AWS_EC2_METADATA_DISABLED}=true off EC2"
                ));
            }
            None
        }
    };
    if token.is_none() && v1_disabled {
        return Outcome::ProviderError(format!(
            "Unable to retrieve token for use in IMDSv2 call and IMDSv1 has been disabled ({endpoint})"
        ));
    }
    let get = |path: String| {
        let url = format!("{endpoint}{path}");
        let token = token.clone();
        let client = client.clone();
        send_retrying(attempts, move || {
            let mut req = client.get(&url);
            if let Some(t) = &token {
                req = req.header("x-aws-ec2-metadata-token", t.expose().as_str());
            }
            req
        })
    };
    let base = "/latest/meta-data/iam/security-credentials/".to_string();
    let role = match get(base.clone()).await {
        Ok(r) if r.status().as_u16() == 404 => {
            return Outcome::NotLoaded(format!(
                "IMDS at {endpoint} has no instance profile role ({base} answered 404)"
            ))
        }
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        Ok(r) => {
            return Outcome::NotLoaded(format!(
                "IMDS GET {base} answered HTTP {}",
                r.status().as_u16()
            ))
        }
        Err(e) => {
            return Outcome::NotLoaded(format!(
            "cannot reach IMDS at {endpoint} ({}); set {AWS_EC2_METADATA_DISABLED}=true off EC2",
            short(&e)
        ))
        }
    };
    let Some(role) = role.lines().next().map(str::trim).filter(|r| !r.is_empty()) else {
        return Outcome::NotLoaded(format!("IMDS at {endpoint} lists no instance profile role"));
    };
    let path = format!("{base}{role}");
    match get(path.clone()).await {
        Ok(r) if r.status().is_success() => {
            let body = r.bytes().await.unwrap_or_default();
            match parse_role_credentials(&body, &format!("IMDS {path}")) {
                Ok(c) => Outcome::Loaded(Method::IamRole, c),
                Err(e) if sdk.is_botocore_family() => Outcome::NotLoaded(e),
                Err(e) => Outcome::ProviderError(e),
            }
        }
        Ok(r) => Outcome::NotLoaded(format!(
            "IMDS GET {path} answered HTTP {}",
            r.status().as_u16()
        )),
        Err(e) => Outcome::NotLoaded(format!("IMDS GET {path}: {}", short(&e))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

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
        let ctx = Context::fixed(Vec::<(String, String)>::new(), "/");
        let (e, from) = imds_endpoint(&ctx, set.get("default"));
        assert_eq!(e, "http://10.0.0.1/");
        assert!(from.contains("/c:2"), "{from}");
        assert_eq!(imds_endpoint(&ctx, set.get("six")).0, IMDS_ENDPOINT_IPV6);
        assert_eq!(imds_endpoint(&ctx, None).0, IMDS_ENDPOINT);
        let ctx = Context::fixed([(AWS_EC2_METADATA_SERVICE_ENDPOINT, "http://x/")], "/");
        assert_eq!(imds_endpoint(&ctx, set.get("default")).0, "http://x/");
    }
}
