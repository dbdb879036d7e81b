//! The STS client the credential chain and `strap creds whoami` use: a SigV4 request
//! signer of our own (checked against the AWS documentation's published signatures),
//! the STS endpoint as the SDKs resolve it, and three query-protocol calls —
//! `GetCallerIdentity`, `AssumeRole` and `AssumeRoleWithWebIdentity` — whose XML answers
//! and error documents become typed values. It never logs secrets or tokens.
//!
//! - [`sigv4`]: the request signer.

pub mod sigv4;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::context::Context;
use crate::creds::Credentials;
use crate::secret::Secret;

/// `AWS_ENDPOINT_URL_STS`: the STS endpoint, beating every other setting.
pub const ENV_ENDPOINT_URL_STS: &str = "AWS_ENDPOINT_URL_STS";
/// `AWS_ENDPOINT_URL`: the endpoint for every service, STS included.
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`: `true` ignores the configured endpoints above.
pub const ENV_IGNORE_CONFIGURED_ENDPOINT_URLS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
/// Profile key for the endpoint of every service.
pub const PROFILE_ENDPOINT_URL: &str = "endpoint_url";
/// Profile key to ignore configured endpoints.
pub const PROFILE_IGNORE_CONFIGURED_ENDPOINT_URLS: &str = "ignore_configured_endpoint_urls";
/// The STS API version of the query protocol.
pub const API_VERSION: &str = "2011-06-15";
/// The SigV4 signing name of STS.
pub const SIGNING_NAME: &str = "sts";
/// Time one STS call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest STS answer read: its documents are a few KiB.
pub const MAX_STS_ANSWER: usize = 1 << 20;

/// Errors from STS calls, each naming the action and the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    /// STS answered with an error document (or a bare error status).
    #[error("sts {action} at {endpoint} failed with HTTP {status} {code}: {message}")]
    Service {
        action: &'static str,
        endpoint: String,
        status: u16,
        /// The STS error code (`AccessDenied`, `ExpiredToken`, `InvalidClientTokenId`…).
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The request could not be sent or its answer read.
    #[error(
        "cannot reach sts at {endpoint} for {action}: check the network, or AWS_ENDPOINT_URL_STS"
    )]
    Transport {
        action: &'static str,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer passed [`MAX_STS_ANSWER`]: not an STS endpoint.
    #[error("STS {action} at {endpoint} answered more than {max} bytes: that is not STS (check the endpoint)")]
    TooLarge {
        action: &'static str,
        endpoint: String,
        max: usize,
    },
    /// A 200 answer lacked a field or held one that does not parse.
    #[error(
        "sts {action} at {endpoint} answered without a valid {field}: is this an STS endpoint?"
    )]
    Parse {
        action: &'static str,
        endpoint: String,
        field: &'static str,
    },
    /// The configured endpoint is not an http(s) URL.
    #[error("invalid sts endpoint `{value}` from {source_name}: use a URL like https://sts.us-east-1.amazonaws.com")]
    InvalidEndpoint { value: String, source_name: String },
    /// No region to sign for or to build the regional endpoint from.
    #[error("no region for sts: set AWS_REGION or the profile's region")]
    NoRegion,
}

impl StsError {
    /// The STS error code, when STS sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The STS endpoint as the SDKs resolve it: `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the
/// profile's `endpoint_url` (`profile` returns a key of the selected profile), unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` / `ignore_configured_endpoint_urls` is true; else
/// the regional `https://sts.{region}.amazonaws.com`.
pub fn resolve_endpoint(
    ctx: &Context,
    region: &str,
    profile: &dyn Fn(&str) -> Option<String>,
) -> Result<String, StsError> {
    let is_true = |v: Option<String>| v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let ignore = match ctx.var(ENV_IGNORE_CONFIGURED_ENDPOINT_URLS) {
        Some(v) => is_true(Some(v)),
        None => is_true(profile(PROFILE_IGNORE_CONFIGURED_ENDPOINT_URLS)),
    };
    if !ignore {
        let configured = ctx
            .var(ENV_ENDPOINT_URL_STS)
            .map(|v| (v, format!("environment variable {ENV_ENDPOINT_URL_STS}")))
            .or_else(|| {
                ctx.var(ENV_ENDPOINT_URL)
                    .map(|v| (v, format!("environment variable {ENV_ENDPOINT_URL}")))
            })
            .or_else(|| {
                profile(PROFILE_ENDPOINT_URL)
                    .map(|v| (v, format!("profile key {PROFILE_ENDPOINT_URL}")))
            });
        if let Some((value, source_name)) = configured {
            let ok = reqwest::Url::parse(value.trim())
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if !ok {
                return Err(StsError::InvalidEndpoint { value, source_name });
            }
            return Ok(value.trim().to_string());
        }
    }
    if region.trim().is_empty() {
        return Err(StsError::NoRegion);
    }
    Ok(format!("https://sts.{}.amazonaws.com", region.trim()))
}

/// Who the credentials belong to (`GetCallerIdentity`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

/// What `AssumeRole` and `AssumeRoleWithWebIdentity` return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumedRole {
    /// The temporary credentials (with `account_id` taken from the role ARN).
    pub credentials: Credentials,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
    /// `AROA…:SESSION`.
    pub assumed_role_id: String,
}

/// The parameters of an `AssumeRole` call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssumeRoleRequest {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<u32>,
    pub external_id: Option<String>,
}

/// `GetCallerIdentity` signed with `creds`, at the current time.
pub async fn get_caller_identity(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    creds: &Credentials,
) -> Result<CallerIdentity, StsError> {
    get_caller_identity_at(http, endpoint, region, creds, Utc::now()).await
}

/// `GetCallerIdentity` signed as of `now`.
pub async fn get_caller_identity_at(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    creds: &Credentials,
    now: DateTime<Utc>,
) -> Result<CallerIdentity, StsError> {
    const ACTION: &str = "GetCallerIdentity";
    let body = query_body(ACTION, &[]);
    let xml = call(http, endpoint, ACTION, body, Some((region, creds, now))).await?;
    let field = |name: &'static str| {
        xml_text(&xml, name).ok_or(StsError::Parse {
            action: ACTION,
            endpoint: endpoint.to_string(),
            field: name,
        })
    };
    Ok(CallerIdentity {
        arn: field("Arn")?,
        user_id: field("UserId")?,
        account: field("Account")?,
    })
}

/// `AssumeRole` signed with the source credentials, at the current time.
pub async fn assume_role(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    source: &Credentials,
    request: &AssumeRoleRequest,
) -> Result<AssumedRole, StsError> {
    assume_role_at(http, endpoint, region, source, request, Utc::now()).await
}

/// `AssumeRole` signed as of `now`.
pub async fn assume_role_at(
    http: &reqwest::Client,
    endpoint: &str,
    region: &str,
    source: &Credentials,
    request: &AssumeRoleRequest,
    now: DateTime<Utc>,
) -> Result<AssumedRole, StsError> {
    const ACTION: &str = "AssumeRole";
    let duration = request.duration_seconds.map(|d| d.to_string());
    let mut params = vec![
        ("RoleArn", request.role_arn.as_str()),
        ("RoleSessionName", request.role_session_name.as_str()),
    ];
    if let Some(d) = &duration {
        params.push(("DurationSeconds", d));
    }
    if let Some(id) = &request.external_id {
        params.push(("ExternalId", id));
    }
    let body = query_body(ACTION, &params);
    let xml = call(http, endpoint, ACTION, body, Some((region, source, now))).await?;
    parse_assumed_role(&xml, ACTION, endpoint)
}

/// `AssumeRoleWithWebIdentity`: unsigned, authenticated by the OIDC token itself.
pub async fn assume_role_with_web_identity(
    http: &reqwest::Client,
    endpoint: &str,
    role_arn: &str,
    role_session_name: &str,
    web_identity_token: &Secret<String>,
    duration_seconds: Option<u32>,
) -> Result<AssumedRole, StsError> {
    const ACTION: &str = "AssumeRoleWithWebIdentity";
    let duration = duration_seconds.map(|d| d.to_string());
    let mut params = vec![
        ("RoleArn", role_arn),
        ("RoleSessionName", role_session_name),
        ("WebIdentityToken", web_identity_token.expose().as_str()),
    ];
    if let Some(d) = &duration {
        params.push(("DurationSeconds", d));
    }
    let body = query_body(ACTION, &params);
    let xml = call(http, endpoint, ACTION, body, None).await?;
    parse_assumed_role(&xml, ACTION, endpoint)
}

/// `Action=…&Version=…&k=v…`, form-encoded as RFC 3986 (spaces as `%20`).
fn query_body(action: &str, params: &[(&str, &str)]) -> String {
    let mut body = format!("Action={action}&Version={API_VERSION}");
    for (k, v) in params {
        body.push('&');
        body.push_str(&sigv4::uri_encode(k, true));
        body.push('=');
        body.push_str(&sigv4::uri_encode(v, true));
    }
    body
}

/// POST a query-protocol body, signed when `signing` is given; the XML on 200, a typed
/// error otherwise.
async fn call(
    http: &reqwest::Client,
    endpoint: &str,
    action: &'static str,
    body: String,
    signing: Option<(&str, &Credentials, DateTime<Utc>)>,
) -> Result<String, StsError> {
    let url = reqwest::Url::parse(endpoint).map_err(|_| StsError::InvalidEndpoint {
        value: endpoint.to_string(),
        source_name: "the caller".to_string(),
    })?;
    let mut headers = vec![(
        "content-type".to_string(),
        "application/x-www-form-urlencoded; charset=utf-8".to_string(),
    )];
    if let Some((region, creds, now)) = signing {
        if region.trim().is_empty() {
            return Err(StsError::NoRegion);
        }
        let signer = sigv4::Signer {
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: creds.session_token.as_ref().map(|t| t.expose().as_str()),
            region: region.trim(),
            service: SIGNING_NAME,
            time: now,
        };
        signer.sign("POST", &url, &mut headers, body.as_bytes());
    }
    let mut req = http.post(url.clone()).timeout(DEFAULT_TIMEOUT).body(body);
    for (k, v) in &headers {
        if k != "host" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let transport = |source| StsError::Transport {
        action,
        endpoint: endpoint.to_string(),
        source,
    };
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let text = match crate::bounded::text(resp, MAX_STS_ANSWER).await {
        Ok(text) => text,
        Err(crate::bounded::BodyError::Read(source)) => return Err(transport(source)),
        Err(crate::bounded::BodyError::TooLarge { max }) => {
            return Err(StsError::TooLarge {
                action,
                endpoint: endpoint.to_string(),
                max,
            })
        }
    };
    if status == 200 {
        return Ok(text);
    }
    let code = xml_text(&text, "Code").unwrap_or_else(|| format!("HTTP{status}"));
    let message = xml_text(&text, "Message").unwrap_or_else(|| "no error document".to_string());
    Err(StsError::Service {
        action,
        endpoint: endpoint.to_string(),
        status,
        code,
        message,
        request_id: xml_text(&text, "RequestId"),
    })
}

fn parse_assumed_role(
    xml: &str,
    action: &'static str,
    endpoint: &str,
) -> Result<AssumedRole, StsError> {
    let field = |name: &'static str| {
        xml_text(xml, name).ok_or(StsError::Parse {
            action,
            endpoint: endpoint.to_string(),
            field: name,
        })
    };
    let expiration = DateTime::parse_from_rfc3339(&field("Expiration")?)
        .map_err(|_| StsError::Parse {
            action,
            endpoint: endpoint.to_string(),
            field: "Expiration",
        })?
        .with_timezone(&Utc);
    let arn = field("Arn")?;
    let account_id = arn
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    Ok(AssumedRole {
        credentials: Credentials {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: Secret::new(field("SecretAccessKey")?),
            session_token: Some(Secret::new(field("SessionToken")?)),
            expiration: Some(expiration),
            account_id,
        },
        assumed_role_id: field("AssumedRoleId")?,
        assumed_role_arn: arn,
    })
}

/// The text of the first `<name>` element (attributes allowed), entities decoded.
pub fn xml_text(doc: &str, name: &str) -> Option<String> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut from = 0;
    while let Some(at) = doc[from..].find(&open) {
        let start = from + at + open.len();
        let rest = &doc[start..];
        match rest.chars().next() {
            Some('>') => {
                let body = &rest[1..];
                let end = body.find(&close)?;
                return Some(xml_unescape(body[..end].trim()));
            }
            Some(c) if c.is_whitespace() => {
                let gt = rest.find('>')?;
                if rest[..gt].ends_with('/') {
                    return Some(String::new());
                }
                let body = &rest[gt + 1..];
                let end = body.find(&close)?;
                return Some(xml_unescape(body[..end].trim()));
            }
            Some('/') if rest.starts_with("/>") => return Some(String::new()),
            _ => from = start,
        }
    }
    None
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#xA;", "\n")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests;
