//! The STS client the credential chain and `strap creds whoami` use: a SigV4 request
//! signer of our own (checked against the AWS documentation's published signatures),
//! the STS endpoint as the SDKs resolve it, and three query-protocol calls —
//! `GetCallerIdentity`, `AssumeRole` and `AssumeRoleWithWebIdentity` — whose XML answers
//! and error documents become typed values. It never logs secrets or tokens.

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
    let text = resp.text().await.map_err(transport)?;
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

/// AWS Signature Version 4 for header-signed requests.
pub mod sigv4 {
    use chrono::{DateTime, Utc};
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    /// The algorithm name in the `Authorization` header and string to sign.
    pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

    /// What a request is signed with.
    pub struct Signer<'a> {
        pub access_key_id: &'a str,
        pub secret_access_key: &'a str,
        pub session_token: Option<&'a str>,
        pub region: &'a str,
        pub service: &'a str,
        pub time: DateTime<Utc>,
    }

    /// Percent-encode as SigV4 wants: everything but `A-Z a-z 0-9 - _ . ~`; `/` too
    /// unless `encode_slash` is false.
    pub fn uri_encode(s: &str, encode_slash: bool) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b'/' if !encode_slash => out.push('/'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    /// Hex SHA-256.
    pub fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length; the error branch cannot happen.
        let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
    pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        hmac(&k_service, b"aws4_request")
    }

    /// Hex HMAC-SHA256 of the string to sign under the signing key.
    pub fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
        hex::encode(hmac(key, string_to_sign.as_bytes()))
    }

    /// The canonical query string: pairs decoded, re-encoded, sorted.
    pub fn canonical_query(url: &reqwest::Url) -> String {
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (uri_encode(&k, true), uri_encode(&v, true)))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The `Host` header value the server will see: host, and the port when not the
    /// scheme's default.
    pub fn host_header(url: &reqwest::Url) -> String {
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// The canonical request and the signed-headers list for `headers` (lowercase names).
    pub fn canonical_request(
        method: &str,
        url: &reqwest::Url,
        headers: &[(String, String)],
        payload_hash: &str,
    ) -> (String, String) {
        let mut canon: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
                (k.to_ascii_lowercase(), value)
            })
            .collect();
        canon.sort();
        let signed = canon
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let header_block: String = canon.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let path = if url.path().is_empty() {
            "/"
        } else {
            url.path()
        };
        let request = format!(
            "{method}\n{path}\n{}\n{header_block}\n{signed}\n{payload_hash}",
            canonical_query(url)
        );
        (request, signed)
    }

    impl Signer<'_> {
        /// `20150830T123600Z`
        pub fn amz_date(&self) -> String {
            self.time.format("%Y%m%dT%H%M%SZ").to_string()
        }

        /// `20150830/us-east-1/iam/aws4_request`
        pub fn scope(&self) -> String {
            format!(
                "{}/{}/{}/aws4_request",
                self.time.format("%Y%m%d"),
                self.region,
                self.service
            )
        }

        /// The string to sign for a canonical request.
        pub fn string_to_sign(&self, canonical_request: &str) -> String {
            format!(
                "{ALGORITHM}\n{}\n{}\n{}",
                self.amz_date(),
                self.scope(),
                sha256_hex(canonical_request.as_bytes())
            )
        }

        /// Add `host`, `x-amz-date`, `x-amz-security-token` (with a session token) and
        /// `authorization` to `headers`, signing every header in the list.
        pub fn sign(
            &self,
            method: &str,
            url: &reqwest::Url,
            headers: &mut Vec<(String, String)>,
            body: &[u8],
        ) {
            headers.retain(|(k, _)| {
                !matches!(
                    k.to_ascii_lowercase().as_str(),
                    "host" | "x-amz-date" | "x-amz-security-token" | "authorization"
                )
            });
            headers.push(("host".into(), host_header(url)));
            headers.push(("x-amz-date".into(), self.amz_date()));
            if let Some(token) = self.session_token {
                headers.push(("x-amz-security-token".into(), token.to_string()));
            }
            let auth = self.authorization(method, url, headers, &sha256_hex(body));
            headers.push(("authorization".into(), auth));
        }

        /// The `Authorization` header value for a request with these headers (all signed).
        pub fn authorization(
            &self,
            method: &str,
            url: &reqwest::Url,
            headers: &[(String, String)],
            payload_hash: &str,
        ) -> String {
            let (canonical, signed) = canonical_request(method, url, headers, payload_hash);
            let key = signing_key(
                self.secret_access_key,
                &self.time.format("%Y%m%d").to_string(),
                self.region,
                self.service,
            );
            let signature = signature(&key, &self.string_to_sign(&canonical));
            format!(
                "{ALGORITHM} Credential={}/{}, SignedHeaders={signed}, Signature={signature}",
                self.access_key_id,
                self.scope()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::sigv4::*;
    use super::*;
    use crate::imds::test_server::{Reply, Seen, TestServer};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn doc_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    fn signer<'a>(service: &'a str, token: Option<&'a str>) -> Signer<'a> {
        Signer {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: SECRET,
            session_token: token,
            region: "us-east-1",
            service,
            time: doc_time(),
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // The AWS documentation's worked example (IAM ListUsers, 2015-08-30).
    #[test]
    fn documented_iam_list_users_example() {
        let url =
            reqwest::Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
                .unwrap();
        let headers = h(&[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
        ]);
        let (canonical, signed) = canonical_request("GET", &url, &headers, &sha256_hex(b""));
        assert_eq!(signed, "content-type;host;x-amz-date");
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(
            signer("iam", None).authorization("GET", &url, &headers, &sha256_hex(b"")),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    // The documentation's signing-key derivation example (2012-02-15).
    #[test]
    fn documented_signing_key_derivation() {
        assert_eq!(
            hex::encode(signing_key(SECRET, "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    // The published SigV4 test suite: get-vanilla and post-x-www-form-urlencoded.
    #[test]
    fn test_suite_get_vanilla_and_form_post() {
        let url = reqwest::Url::parse("https://example.amazonaws.com/").unwrap();
        let mut headers = Vec::new();
        signer("service", None).sign("GET", &url, &mut headers, b"");
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.ends_with("SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            "{auth}"
        );
        let mut headers = h(&[("Content-Type", "application/x-www-form-urlencoded")]);
        signer("service", None).sign("POST", &url, &mut headers, b"Param1=value1");
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.ends_with(
                "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
            ),
            "{auth}"
        );
    }

    #[test]
    fn session_token_is_signed_and_host_keeps_its_port() {
        let url = reqwest::Url::parse("http://127.0.0.1:8080/").unwrap();
        let mut headers = Vec::new();
        signer("sts", Some("TOKEN")).sign("POST", &url, &mut headers, b"x");
        assert!(headers.contains(&("host".into(), "127.0.0.1:8080".into())));
        assert!(headers.contains(&("x-amz-security-token".into(), "TOKEN".into())));
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            "{auth}"
        );
    }

    #[test]
    fn encoding_and_xml() {
        assert_eq!(uri_encode("a b/c~d*é", true), "a%20b%2Fc~d%2A%C3%A9");
        assert_eq!(uri_encode("a/b", false), "a/b");
        let doc = "<R xmlns=\"x\"><Arn>arn:a&amp;b</Arn><Empty/><Arn>second</Arn></R>";
        assert_eq!(xml_text(doc, "Arn").as_deref(), Some("arn:a&b"));
        assert_eq!(xml_text(doc, "Empty").as_deref(), Some(""));
        assert_eq!(xml_text(doc, "Missing"), None);
        assert_eq!(
            xml_text(doc, "R")
                .as_deref()
                .map(|s| s.starts_with("<Arn>")),
            Some(true)
        );
    }

    #[test]
    fn endpoint_resolution_order() {
        let none = |_: &str| None;
        let profile = |k: &str| (k == PROFILE_ENDPOINT_URL).then(|| "http://profile:1".to_string());
        let ctx = |vars: &[(&str, &str)]| Context::fixed(vars.iter().map(|(k, v)| (*k, *v)), "/");
        assert_eq!(
            resolve_endpoint(&ctx(&[]), "eu-west-1", &none).unwrap(),
            "https://sts.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            resolve_endpoint(&ctx(&[]), "x", &profile).unwrap(),
            "http://profile:1"
        );
        let both = ctx(&[
            (ENV_ENDPOINT_URL, "http://global:2"),
            (ENV_ENDPOINT_URL_STS, "http://sts:3"),
        ]);
        assert_eq!(
            resolve_endpoint(&both, "x", &profile).unwrap(),
            "http://sts:3"
        );
        let global = ctx(&[(ENV_ENDPOINT_URL, "http://global:2")]);
        assert_eq!(
            resolve_endpoint(&global, "x", &profile).unwrap(),
            "http://global:2"
        );
        let ignored = ctx(&[
            (ENV_ENDPOINT_URL, "http://global:2"),
            (ENV_IGNORE_CONFIGURED_ENDPOINT_URLS, "true"),
        ]);
        assert_eq!(
            resolve_endpoint(&ignored, "x", &profile).unwrap(),
            "https://sts.x.amazonaws.com"
        );
        assert!(matches!(
            resolve_endpoint(&ctx(&[]), "", &none),
            Err(StsError::NoRegion)
        ));
        let bad = ctx(&[(ENV_ENDPOINT_URL_STS, "not a url")]);
        let err = resolve_endpoint(&bad, "x", &none).unwrap_err().to_string();
        assert!(err.contains("AWS_ENDPOINT_URL_STS"), "{err}");
    }

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new(SECRET.into()),
            session_token: Some(Secret::new("SESSION".into())),
            expiration: None,
            account_id: None,
        }
    }

    /// An STS stand-in that checks the signature with the shared secret.
    fn verify(req: &Seen, port: u16) -> bool {
        let Some(auth) = req.header("authorization") else {
            return false;
        };
        let signed: Vec<&str> = auth
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .map(|s| s.split(';').collect())
            .unwrap_or_default();
        let headers: Vec<(String, String)> = signed
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    req.header(name).unwrap_or_default().to_string(),
                )
            })
            .collect();
        let date = req.header("x-amz-date").unwrap_or_default();
        let time = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        let s = Signer {
            access_key_id: "ASIAEXAMPLE",
            secret_access_key: SECRET,
            session_token: None,
            region: "us-east-1",
            service: "sts",
            time,
        };
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        signed.contains(&"x-amz-security-token")
            && req.header("x-amz-security-token") == Some("SESSION")
            && s.authorization("POST", &url, &headers, &sha256_hex(&req.body)) == auth
    }

    #[tokio::test]
    async fn get_caller_identity_signs_and_parses() {
        let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
        let p = port.clone();
        let server = TestServer::start(move |req, _| {
            let ok = verify(req, p.load(std::sync::atomic::Ordering::SeqCst));
            if ok && req.body.as_ref() == b"Action=GetCallerIdentity&Version=2011-06-15" {
                Reply::ok(
                    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>arn:aws:sts::123456789012:assumed-role/Role/i-0abc</Arn>\n    <UserId>AROAEXAMPLE:i-0abc</UserId>\n    <Account>123456789012</Account>\n  </GetCallerIdentityResult>\n</GetCallerIdentityResponse>",
                )
            } else {
                Reply::With(403, vec![], b"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>bad</Message></Error><RequestId>r-1</RequestId></ErrorResponse>".to_vec())
            }
        })
        .await;
        port.store(server.addr.port(), std::sync::atomic::Ordering::SeqCst);
        let http = reqwest::Client::new();
        let id = get_caller_identity(&http, &server.url(), "us-east-1", &creds())
            .await
            .unwrap();
        assert_eq!(id.account, "123456789012");
        assert_eq!(id.arn, "arn:aws:sts::123456789012:assumed-role/Role/i-0abc");
        assert_eq!(id.user_id, "AROAEXAMPLE:i-0abc");
        let seen = &server.seen()[0];
        assert_eq!(seen.method, "POST");
        assert_eq!(
            seen.header("content-type"),
            Some("application/x-www-form-urlencoded; charset=utf-8")
        );

        // A wrong secret fails the server's check: a typed error with the STS code.
        let mut wrong = creds();
        wrong.secret_access_key = Secret::new("nope".into());
        let err = get_caller_identity(&http, &server.url(), "us-east-1", &wrong)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
        assert!(
            matches!(err, StsError::Service { status: 403, ref request_id, .. } if request_id.as_deref() == Some("r-1"))
        );
        assert!(!format!("{err:?}").contains("nope"));
    }

    const ASSUMED: &str = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIANEW</AccessKeyId><SecretAccessKey>newsecret</SecretAccessKey><SessionToken>newtoken</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA1:s</AssumedRoleId><Arn>arn:aws:sts::210987654321:assumed-role/R/s</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>";

    #[tokio::test]
    async fn assume_role_sends_parameters_and_parses_credentials() {
        let server = TestServer::start(|_, _| Reply::ok(ASSUMED)).await;
        let http = reqwest::Client::new();
        let req = AssumeRoleRequest {
            role_arn: "arn:aws:iam::210987654321:role/R".into(),
            role_session_name: "my session".into(),
            duration_seconds: Some(900),
            external_id: Some("ext".into()),
        };
        let role = assume_role(&http, &server.url(), "us-east-1", &creds(), &req)
            .await
            .unwrap();
        assert_eq!(role.credentials.access_key_id, "ASIANEW");
        assert_eq!(role.credentials.secret_access_key.expose(), "newsecret");
        assert_eq!(role.credentials.account_id.as_deref(), Some("210987654321"));
        assert_eq!(
            role.credentials.expiration,
            Some(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap())
        );
        assert_eq!(role.assumed_role_id, "AROA1:s");
        let body = String::from_utf8(server.seen()[0].body.to_vec()).unwrap();
        assert_eq!(
            body,
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2FR&RoleSessionName=my%20session&DurationSeconds=900&ExternalId=ext"
        );
    }

    #[tokio::test]
    async fn web_identity_is_unsigned_and_errors_are_typed() {
        let server = TestServer::start(|req, n| {
            if n == 0 {
                Reply::ok(ASSUMED.replace("AssumeRole", "AssumeRoleWithWebIdentity"))
            } else {
                let _ = req;
                Reply::With(400, vec![], b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>expired</Message></Error></ErrorResponse>".to_vec())
            }
        })
        .await;
        let http = reqwest::Client::new();
        let token = Secret::new("eyJ.token".to_string());
        let role = assume_role_with_web_identity(
            &http,
            &server.url(),
            "arn:aws:iam::1:role/W",
            "s",
            &token,
            None,
        )
        .await
        .unwrap();
        assert_eq!(role.credentials.session_token.unwrap().expose(), "newtoken");
        let seen = &server.seen()[0];
        assert_eq!(seen.header("authorization"), None);
        assert!(String::from_utf8_lossy(&seen.body).contains("WebIdentityToken=eyJ.token"));
        let err =
            assume_role_with_web_identity(&http, &server.url(), "arn", "s", &token, Some(900))
                .await
                .unwrap_err();
        assert_eq!(err.code(), Some("InvalidIdentityToken"));
        assert!(
            err.to_string().contains("AssumeRoleWithWebIdentity"),
            "{err}"
        );
    }
}
