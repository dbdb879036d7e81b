//! The two network providers as the AWS SDK for JavaScript v3 runs them, read from
//! `@aws-sdk/credential-provider-http` (`fromHttp`), `@smithy/credential-provider-imds`
//! (`fromContainerMetadata`, `fromInstanceMetadata`) and `credential-provider-node`'s
//! `remoteProvider`:
//!
//! - container: `fromHttp` (the relative URI first; plain http only to loopback or the
//!   ECS/EKS hosts; the token file, re-read each attempt and sent untrimmed, beats the
//!   token variable; four attempts one second apart, any failure retried; the answer
//!   must carry `AccessKeyId`, `SecretAccessKey`, `Token` and an RFC 3339 `Expiration`),
//!   then once more through `fromContainerMetadata` (only `localhost`/`127.0.0.1` for a
//!   full URI, the token variable only, one attempt);
//! - IMDS: the endpoint from `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the profile's
//!   `ec2_metadata_service_endpoint` with its path dropped, else the mode (`IPv4`/`IPv6`,
//!   exact case); one attempt per request with a one-second timeout
//!   (`AWS_METADATA_SERVICE_TIMEOUT`/`…_NUM_ATTEMPTS` are not read); a failed token
//!   request other than a 400 reads without a token unless `AWS_EC2_METADATA_V1_DISABLED`
//!   or `ec2_metadata_v1_disabled` holds anything but `false`; the whole role listing,
//!   trimmed, is the role name.
//!
//! What stops the SDK's chain (an error without `tryNextLink`) is a provider error here;
//! what lets it go on is "not loaded". Tokens and keys are never logged.

use std::time::Duration;

use super::env_vars::*;
use super::net::ECS_HOST;
use super::process::parse_time;
use super::{Credentials, Method, Outcome};
use crate::context::Context;
use crate::imds::settings::{
    IPV4_ENDPOINT, IPV6_ENDPOINT, PROFILE_ENDPOINT, PROFILE_ENDPOINT_MODE,
};
use crate::imds::{ImdsClient, ImdsError, ImdsSettings, V1Fallback};
use crate::secret::Secret;

/// `fromHttp` and `fromContainerMetadata`'s timeout, and IMDS's (`DEFAULT_TIMEOUT`).
pub const JS_TIMEOUT: Duration = Duration::from_secs(1);
/// `fromHttp` retries this many times after the first attempt.
pub const JS_CONTAINER_RETRIES: u32 = 3;
/// `fromHttp` waits this long between attempts.
pub const JS_CONTAINER_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Whether a variable turns something off the JS way: set, not empty, not `false`.
pub fn js_flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "false")
}

/// Whether `fromHttp` accepts this host for plain http (`checkUrl`).
fn http_host_allowed(host: &str) -> bool {
    if [
        "169.254.170.2",
        "169.254.170.23",
        "[fd00:ec2::23]",
        "[::1]",
        "localhost",
    ]
    .contains(&host)
    {
        return true;
    }
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts[0] == "127"
        && parts[1..]
            .iter()
            .all(|p| p.parse::<u16>().is_ok_and(|n| n <= 255))
}

/// The container URL `fromHttp` asks, and the one `fromContainerMetadata` would ask
/// after it (or why it would stop). `Err` when the chain stops at once.
pub struct ContainerPlan {
    /// `fromHttp`'s URL (already checked).
    pub http: String,
    /// `fromContainerMetadata`'s URL, or the error it stops the chain with.
    pub metadata: Result<String, String>,
}

/// Plan the container requests from the environment, or the outcome when the SDK would
/// not send any: `NotLoaded` when neither variable is set.
pub fn container_plan(var: &dyn Fn(&str) -> Option<String>) -> Result<ContainerPlan, Outcome> {
    let nonempty = |k: &str| var(k).filter(|v| !v.is_empty());
    let rel = nonempty(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI);
    let full = nonempty(AWS_CONTAINER_CREDENTIALS_FULL_URI);
    let (raw, from) = match (&rel, &full) {
        (Some(r), _) => (format!("{ECS_HOST}{r}"), AWS_CONTAINER_CREDENTIALS_RELATIVE_URI),
        (None, Some(f)) => (f.clone(), AWS_CONTAINER_CREDENTIALS_FULL_URI),
        (None, None) => {
            return Err(Outcome::NotLoaded(format!(
                "No HTTP credential provider host provided: neither {AWS_CONTAINER_CREDENTIALS_RELATIVE_URI} nor {AWS_CONTAINER_CREDENTIALS_FULL_URI} is set"
            )))
        }
    };
    let url = reqwest::Url::parse(&raw).map_err(|e| {
        Outcome::InvalidConfiguration(format!("{from}: {raw:?} is not a URL ({e})"))
    })?;
    let host = url.host_str().unwrap_or_default().to_string();
    if url.scheme() != "https" && !http_host_allowed(&host) {
        // fromHttp refuses; fromContainerMetadata then accepts only these two hosts,
        // which fromHttp would have accepted: the chain stops.
        return Err(Outcome::InvalidConfiguration(format!(
            "{host} is not a valid container metadata service hostname ({from}={raw:?}): plain http is accepted only to loopback (127.0.0.0/8, [::1], localhost), 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]"
        )));
    }
    let metadata = match (&rel, &full) {
        (Some(r), _) => Ok(format!("http://169.254.170.2{r}")),
        _ if !["localhost", "127.0.0.1"].contains(&host.as_str()) => Err(format!(
            "{host} is not a valid container metadata service hostname ({AWS_CONTAINER_CREDENTIALS_FULL_URI}, fromContainerMetadata)"
        )),
        _ if url.scheme() != "http" => Err(format!(
            "{}: is not supported by fromContainerMetadata's node:http request",
            url.scheme()
        )),
        _ => Ok(url.to_string()),
    };
    Ok(ContainerPlan {
        http: url.to_string(),
        metadata,
    })
}

/// How one container attempt ended.
enum Attempt {
    Got(Credentials),
    /// A failure the SDK turns into a provider error that lets the chain go on.
    Soft(String),
    /// A raw error (unreadable token file, a body that is not JSON, a bad date): it
    /// stops the chain when it is the last attempt's.
    Hard(String),
}

/// The credentials JSON of the container endpoint and IMDS: four strings required.
/// `strict_date` is `fromHttp`'s RFC 3339 parse (a bad date is a raw error);
/// otherwise `new Date(…)` accepts anything.
fn parse_js_credentials(body: &[u8], strict_date: bool) -> Attempt {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Attempt::Hard(format!("SyntaxError: the body is not JSON ({e})")),
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let (Some(key), Some(secret), Some(token), Some(exp)) = (
        s("AccessKeyId"),
        s("SecretAccessKey"),
        s("Token"),
        s("Expiration"),
    ) else {
        return Attempt::Soft(
            "the response is not of the required format { AccessKeyId, SecretAccessKey, Token, Expiration } (all strings)".into(),
        );
    };
    let expiration = match parse_time(&exp, true) {
        Ok(t) => Some(t),
        Err(m) if strict_date => return Attempt::Hard(m),
        Err(_) => None,
    };
    Attempt::Got(Credentials {
        access_key_id: key,
        secret_access_key: Secret::new(secret),
        session_token: Some(Secret::new(token)),
        expiration,
        account_id: s("AccountId"),
    })
}

async fn get(url: &str, auth: Option<&str>) -> Result<(u16, Vec<u8>), String> {
    let client = reqwest::Client::builder()
        .timeout(JS_TIMEOUT)
        .connect_timeout(JS_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut req = client.get(url);
    if let Some(t) = auth {
        let value = reqwest::header::HeaderValue::from_str(t)
            .map_err(|_| "Invalid character in header content [\"Authorization\"]".to_string())?;
        req = req.header("Authorization", value);
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            e.to_string()
        }
    })?;
    let status = resp.status().as_u16();
    let body = crate::bounded::body(resp, super::net::MAX_CREDENTIALS_ANSWER)
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_vec()))
}

/// One `fromHttp` attempt.
async fn http_attempt(ctx: &Context, url: &str) -> Attempt {
    let token = match ctx.var(AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) {
        Some(path) => match super::net::read_token_file(&super::files::real_path(ctx, &path)) {
            Ok(text) => Some(text),
            Err(e) => {
                return Attempt::Hard(format!(
                    "cannot read {AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE}={path}: {e}"
                ))
            }
        },
        None => ctx.var(AWS_CONTAINER_AUTHORIZATION_TOKEN),
    };
    if token.as_deref().is_some_and(|t| t.contains("\r\n")) {
        return Attempt::Soft("Authorization token contains invalid \\r\\n sequence".into());
    }
    match get(url, token.as_deref()).await {
        Ok((200, body)) => parse_js_credentials(&body, true),
        Ok((status, _)) => Attempt::Soft(format!("Server responded with status: {status}")),
        Err(e) => Attempt::Soft(e),
    }
}

/// Container credentials as `fromHttp`, then `fromContainerMetadata`, get them; `shown`
/// is the URL named in messages, `plan` the URLs actually asked.
pub async fn fetch_container(ctx: &Context, plan: &ContainerPlan) -> Outcome {
    let mut last = Attempt::Soft(String::new());
    for attempt in 0..=JS_CONTAINER_RETRIES {
        if attempt > 0 {
            tokio::time::sleep(JS_CONTAINER_RETRY_DELAY).await;
        }
        last = http_attempt(ctx, &plan.http).await;
        if let Attempt::Got(c) = last {
            return Outcome::Loaded(Method::ContainerRole, c);
        }
    }
    let http_failure = match last {
        Attempt::Hard(m) => {
            return Outcome::ProviderError(format!(
                "fromHttp {}: {m} (after {} attempts)",
                plan.http,
                JS_CONTAINER_RETRIES + 1
            ))
        }
        Attempt::Soft(m) => m,
        Attempt::Got(_) => String::new(),
    };
    let url = match &plan.metadata {
        Ok(u) => u,
        Err(m) => return Outcome::InvalidConfiguration(m.clone()),
    };
    let token = ctx.var(AWS_CONTAINER_AUTHORIZATION_TOKEN);
    let second = match get(url, token.as_deref()).await {
        Ok((200..=299, body)) => parse_js_credentials(&body, false),
        Ok((status, _)) => Attempt::Soft(format!("HTTP {status}")),
        Err(e) => Attempt::Soft(e),
    };
    match second {
        Attempt::Got(c) => Outcome::Loaded(Method::ContainerRole, c),
        Attempt::Hard(m) => Outcome::ProviderError(format!("fromContainerMetadata {url}: {m}")),
        Attempt::Soft(m) => Outcome::NotLoaded(format!(
            "fromHttp {}: {http_failure} (after {} attempts); fromContainerMetadata {url}: {m}",
            plan.http,
            JS_CONTAINER_RETRIES + 1
        )),
    }
}

/// The IMDS endpoint as the JS SDK picks it: `(base URL without its path, where from)`,
/// or the error that stops the chain.
pub fn imds_endpoint(
    var: &dyn Fn(&str) -> Option<String>,
    profile_key: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String), String> {
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let configured = nonempty(var(AWS_EC2_METADATA_SERVICE_ENDPOINT))
        .map(|u| (u, AWS_EC2_METADATA_SERVICE_ENDPOINT.to_string()))
        .or_else(|| {
            nonempty(profile_key(PROFILE_ENDPOINT))
                .map(|u| (u, format!("profile key {PROFILE_ENDPOINT}")))
        });
    let (raw, from) = match configured {
        Some(c) => c,
        None => {
            let mode = nonempty(var(AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE))
                .or_else(|| nonempty(profile_key(PROFILE_ENDPOINT_MODE)));
            return match mode.as_deref() {
                None | Some("IPv4") => Ok((IPV4_ENDPOINT.into(), "the default".into())),
                Some("IPv6") => Ok((IPV6_ENDPOINT.into(), "endpoint mode IPv6".into())),
                Some(other) => Err(format!(
                    "Unsupported endpoint mode: {other}. Select from IPv4,IPv6 (exact case)"
                )),
            };
        }
    };
    let url = reqwest::Url::parse(&raw).map_err(|e| format!("{from}={raw:?}: not a URL ({e})"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "{from}={raw:?}: Protocol \"{}:\" not supported (the SDK reads IMDS with node:http)",
            url.scheme()
        ));
    }
    let host = url.host_str().unwrap_or_default();
    let base = match url.port() {
        Some(p) => format!("http://{host}:{p}"),
        None => format!("http://{host}"),
    };
    Ok((base, from))
}

/// Fetch the instance profile as `fromInstanceMetadata` does, from `base` (no path).
/// `v1_blocked` names what forbids reading without a token, if anything.
pub async fn fetch_imds(base: &str, v1_blocked: Option<String>) -> Outcome {
    let mut settings = ImdsSettings::default().with_endpoint(base);
    settings.timeout_override = Some(JS_TIMEOUT);
    settings.attempts_override = Some(1);
    settings.retry_transport_errors = false;
    settings.fallback_to_v1 = v1_blocked.is_none();
    settings.v1_fallback = V1Fallback::UnlessBadRequest;
    let client = match ImdsClient::from_settings(&settings) {
        Ok(c) => c,
        Err(e) => return Outcome::NotLoaded(format!("IMDS at {base}: {e}")),
    };
    let why = |e: &ImdsError| -> String {
        match e {
            ImdsError::Token { status: 400, .. } => {
                "EC2 Metadata token request returned error (HTTP 400)".to_string()
            }
            _ if v1_blocked.is_some()
                && matches!(
                    e,
                    ImdsError::Token { .. }
                        | ImdsError::Unreachable { .. }
                        | ImdsError::ServerError { .. }
                ) =>
            {
                format!(
                    "no IMDSv2 token ({e}) and the v1 fallback is blocked by {}",
                    v1_blocked.as_deref().unwrap_or_default()
                )
            }
            other => other.to_string(),
        }
    };
    let base_path = "/latest/meta-data/iam/security-credentials/";
    let role = match client.get_text(base_path).await {
        Ok(Some(text)) => text.trim().to_string(),
        Ok(None) => {
            return Outcome::NotLoaded(format!(
                "IMDS at {base} has no instance profile role ({base_path} answered 404)"
            ))
        }
        Err(e) => return Outcome::NotLoaded(format!("IMDS GET {base_path}: {}", why(&e))),
    };
    let path = format!("{base_path}{role}");
    match client.get(&path).await {
        Ok(Some(body)) => match parse_js_credentials(&body, false) {
            Attempt::Got(c) => Outcome::Loaded(Method::IamRole, c),
            Attempt::Soft(m) => Outcome::NotLoaded(format!("IMDS {path}: {m}")),
            Attempt::Hard(m) => Outcome::ProviderError(format!("IMDS {path}: {m}")),
        },
        Ok(None) => Outcome::NotLoaded(format!("IMDS GET {path} answered HTTP 404")),
        Err(e) => Outcome::NotLoaded(format!("IMDS GET {path}: {}", why(&e))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::imds::test_server::{Reply, TestServer};

    fn plan(vars: &[(&str, &str)]) -> Result<ContainerPlan, Outcome> {
        let env: BTreeMap<&str, &str> = vars.iter().copied().collect();
        container_plan(&|k| env.get(k).map(|s| s.to_string()))
    }

    #[test]
    fn container_urls_follow_from_http_then_from_container_metadata() {
        let p = plan(&[(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, "/v2/creds")]).unwrap();
        assert_eq!(p.http, "http://169.254.170.2/v2/creds");
        let p = plan(&[(AWS_CONTAINER_CREDENTIALS_FULL_URI, "http://127.0.0.2:9/x")]).unwrap();
        assert!(p.metadata.is_err());
        let p = plan(&[(AWS_CONTAINER_CREDENTIALS_FULL_URI, "http://127.0.0.1:9/x")]).unwrap();
        assert_eq!(p.metadata.unwrap(), "http://127.0.0.1:9/x");
        assert!(matches!(
            plan(&[(AWS_CONTAINER_CREDENTIALS_FULL_URI, "http://10.0.0.1/x")]),
            Err(Outcome::InvalidConfiguration(_))
        ));
        assert!(matches!(plan(&[]), Err(Outcome::NotLoaded(_))));
    }

    #[test]
    fn the_imds_endpoint_loses_its_path_and_the_mode_is_exact() {
        let none = |_: &str| None;
        let env = |k: &str| {
            (k == AWS_EC2_METADATA_SERVICE_ENDPOINT).then(|| "http://127.0.0.1:8/prefix/".into())
        };
        assert_eq!(imds_endpoint(&env, &none).unwrap().0, "http://127.0.0.1:8");
        let mode = |k: &str| (k == AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE).then(|| "ipv6".into());
        assert!(imds_endpoint(&mode, &none).is_err());
        assert_eq!(imds_endpoint(&none, &none).unwrap().0, IPV4_ENDPOINT);
    }

    #[test]
    fn flags_are_anything_but_false() {
        assert!(js_flag(Some("true")) && js_flag(Some("1")) && js_flag(Some("no")));
        assert!(!js_flag(Some("false")) && !js_flag(Some("")) && !js_flag(None));
    }

    const ROLE_JSON: &str = r#"{"AccessKeyId":"ASIAJS","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z"}"#;

    #[tokio::test]
    async fn imds_one_try_one_second_and_a_bad_body_stops() {
        let server = TestServer::start(|req, _| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", _) => Reply::ok("tok"),
            ("GET", "/latest/meta-data/iam/security-credentials/") => Reply::ok("r\n"),
            ("GET", _) => Reply::ok(ROLE_JSON),
            _ => Reply::status(404),
        })
        .await;
        let got = fetch_imds(&server.url(), None).await;
        assert!(
            matches!(&got, Outcome::Loaded(Method::IamRole, c) if c.access_key_id == "ASIAJS"),
            "{got:?}"
        );
        // A slow service: one second and no retry.
        let slow = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => Reply::ok("tok"),
            _ => Reply::Delayed(Duration::from_millis(1300), Box::new(Reply::ok("r"))),
        })
        .await;
        let got = fetch_imds(&slow.url(), None).await;
        assert!(matches!(got, Outcome::NotLoaded(_)), "{got:?}");
        assert_eq!(slow.lines().len(), 2);
        // A body that is not JSON stops the chain.
        let garbage = TestServer::start(|req, _| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", _) => Reply::ok("tok"),
            ("GET", "/latest/meta-data/iam/security-credentials/") => Reply::ok("r"),
            _ => Reply::ok("<html>"),
        })
        .await;
        let got = fetch_imds(&garbage.url(), None).await;
        assert!(matches!(got, Outcome::ProviderError(_)), "{got:?}");
        // A 400 on the token ends the provider; a 500 reads without a token unless
        // that is blocked.
        let v1 = |status: u16| {
            TestServer::start(
                move |req, _| match (req.method.as_str(), req.path.as_str()) {
                    ("PUT", _) => Reply::status(status),
                    ("GET", "/latest/meta-data/iam/security-credentials/") => Reply::ok("r"),
                    _ => Reply::ok(ROLE_JSON),
                },
            )
        };
        let s = v1(400).await;
        assert!(matches!(
            fetch_imds(&s.url(), None).await,
            Outcome::NotLoaded(_)
        ));
        let s = v1(500).await;
        assert!(matches!(
            fetch_imds(&s.url(), None).await,
            Outcome::Loaded(..)
        ));
        let got = fetch_imds(&s.url(), Some("AWS_EC2_METADATA_V1_DISABLED".into())).await;
        assert!(
            matches!(&got, Outcome::NotLoaded(m) if m.contains("blocked")),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_container_4xx_is_tried_four_times_then_moves_on() {
        let server = TestServer::start(|_, _| Reply::status(403)).await;
        let url = format!("{}/creds", server.url());
        let vars = [(AWS_CONTAINER_CREDENTIALS_FULL_URI, url.as_str())];
        let p = plan(&vars).unwrap();
        let ctx = Context::fixed(vars, "/");
        let got = fetch_container(&ctx, &p).await;
        assert!(
            matches!(&got, Outcome::NotLoaded(m) if m.contains("403")),
            "{got:?}"
        );
        // Four fromHttp attempts, then fromContainerMetadata's one.
        assert_eq!(server.lines().len(), 5);
    }
}
