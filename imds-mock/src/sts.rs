//! The mock's STS, query protocol (`POST /` with a form body `Action=…&Version=2011-06-15`,
//! XML answers), as aws-sdk-sts, botocore and the AWS CLI speak it: `GetCallerIdentity`,
//! `AssumeRole` and `AssumeRoleWithWebIdentity`, with AWS's XML shapes, error documents
//! and status codes. It is a pure function over a request, a [`KeyStore`] and the time; the
//! server routes requests here and writes the [`StsResponse`] back.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;

use crate::keys::{IssuedKey, KeyStore};
use crate::sigv4::{self, SignedRequest};

/// The query-protocol API version STS speaks.
pub const API_VERSION: &str = "2011-06-15";

/// The XML namespace of every STS response.
pub const XML_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The content type of every STS answer.
pub const CONTENT_TYPE: &str = "text/xml";

/// `DurationSeconds` bounds of `AssumeRole` and `AssumeRoleWithWebIdentity`.
pub const MIN_DURATION_SECS: u64 = 900;
pub const MAX_DURATION_SECS: u64 = 43_200;
/// The default session length when `DurationSeconds` is not given.
pub const DEFAULT_DURATION_SECS: u64 = 3_600;
/// A session assumed by a role session (role chaining) lasts at most one hour.
pub const ROLE_CHAINING_MAX_SECS: u64 = 3_600;
/// The longest inline session policy, in characters.
pub const MAX_POLICY_CHARS: usize = 2_048;

/// An error STS answers with: its code, HTTP status and message are AWS's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    #[error("request carries no authentication")]
    MissingAuthenticationToken,
    #[error("incomplete signature: {reason}")]
    IncompleteSignature { reason: String },
    #[error("the access key id or session token is not one the mock issued")]
    InvalidClientTokenId,
    #[error("signature does not match: {reason}")]
    SignatureDoesNotMatch { reason: String },
    #[error("the session token has expired")]
    ExpiredToken,
    #[error("the presigned request has expired")]
    RequestExpired,
    #[error("request has no action")]
    MissingAction,
    #[error("unknown action {action}")]
    InvalidAction { action: String },
    #[error("invalid request: {message}")]
    Validation { message: String },
    #[error("access denied: {message}")]
    AccessDenied { message: String },
    #[error("session policy too large")]
    PackedPolicyTooLarge,
    #[error("invalid web identity token: {message}")]
    InvalidIdentityToken { message: String },
    #[error("web identity token expired: {message}")]
    WebIdentityTokenExpired { message: String },
}

impl StsError {
    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingAuthenticationToken
            | Self::InvalidClientTokenId
            | Self::SignatureDoesNotMatch { .. }
            | Self::ExpiredToken
            | Self::AccessDenied { .. } => 403,
            Self::IncompleteSignature { .. }
            | Self::RequestExpired
            | Self::MissingAction
            | Self::InvalidAction { .. }
            | Self::Validation { .. }
            | Self::PackedPolicyTooLarge
            | Self::InvalidIdentityToken { .. }
            | Self::WebIdentityTokenExpired { .. } => 400,
        }
    }

    /// The `<Code>` of the error document.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature { .. } => "IncompleteSignature",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::ExpiredToken => "ExpiredToken",
            Self::RequestExpired => "RequestExpired",
            Self::MissingAction => "MissingAction",
            Self::InvalidAction { .. } => "InvalidAction",
            Self::Validation { .. } => "ValidationError",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            Self::InvalidIdentityToken { .. } => "InvalidIdentityToken",
            Self::WebIdentityTokenExpired { .. } => "ExpiredTokenException",
        }
    }

    /// The `<Message>` of the error document, worded as AWS words it.
    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => "Request is missing Authentication Token".into(),
            Self::IncompleteSignature { reason } => reason.trim_end().to_string(),
            Self::InvalidClientTokenId => {
                "The security token included in the request is invalid.".into()
            }
            Self::SignatureDoesNotMatch { reason } if !reason.is_empty() => {
                reason.trim_end().to_string()
            }
            Self::SignatureDoesNotMatch { .. } => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            Self::ExpiredToken => "The security token included in the request is expired".into(),
            Self::RequestExpired => "Request has expired.".into(),
            Self::MissingAction => "Missing Action".into(),
            Self::InvalidAction { action } => {
                format!("Could not find operation {action} for version {API_VERSION}")
            }
            Self::Validation { message }
            | Self::AccessDenied { message }
            | Self::InvalidIdentityToken { message }
            | Self::WebIdentityTokenExpired { message } => message.clone(),
            Self::PackedPolicyTooLarge => "Packed size of the session policies and session tags combined exceed the allowed limit.".into(),
        }
    }

    /// The query-protocol error document.
    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"{XML_NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.code(),
            xml_escape(&self.message())
        )
    }
}

/// What the server writes back for an STS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsResponse {
    pub status: u16,
    pub content_type: &'static str,
    /// Also sent as the `x-amzn-RequestId` header.
    pub request_id: String,
    pub body: String,
}

/// Whether a request is meant for STS: it names an `Action` in its query string or (for a
/// form POST) its body. The server uses this to route `POST /` here.
pub fn is_sts_request(req: &SignedRequest<'_>) -> bool {
    params(req).iter().any(|(k, _)| k == "Action")
}

/// Answer one STS request. `instance_id_for` names the instance a key was issued to
/// (instance-profile and instance-identity keys): that id is the session name those
/// principals show; for other keys (assumed roles) return `None` and the key's own
/// session name is used.
pub fn handle(
    req: &SignedRequest<'_>,
    store: &dyn KeyStore,
    instance_id_for: &dyn Fn(&IssuedKey) -> Option<String>,
    now: DateTime<Utc>,
) -> StsResponse {
    let request_id = new_request_id();
    let result = dispatch(req, store, instance_id_for, now, &request_id);
    match result {
        Ok(body) => StsResponse {
            status: 200,
            content_type: CONTENT_TYPE,
            request_id,
            body,
        },
        Err(err) => {
            tracing::debug!(
                code = err.code(),
                status = err.status(),
                "sts request rejected: {err}"
            );
            StsResponse {
                status: err.status(),
                content_type: CONTENT_TYPE,
                body: err.to_xml(&request_id),
                request_id,
            }
        }
    }
}

fn dispatch(
    req: &SignedRequest<'_>,
    store: &dyn KeyStore,
    instance_id_for: &dyn Fn(&IssuedKey) -> Option<String>,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<String, StsError> {
    let params = Params(params(req));
    let action = params.get("Action").ok_or(StsError::MissingAction)?;
    match action {
        "GetCallerIdentity" => {
            let caller = sigv4::verify(req, store, now)?;
            let session = session_name(&caller, instance_id_for);
            Ok(get_caller_identity_xml(&caller, &session, request_id))
        }
        "AssumeRole" => {
            let caller = sigv4::verify(req, store, now)?;
            let caller_session = session_name(&caller, instance_id_for);
            assume_role(&params, store, &caller, &caller_session, request_id)
        }
        "AssumeRoleWithWebIdentity" => {
            assume_role_with_web_identity(&params, store, now, request_id)
        }
        other => {
            // Unknown actions are still authenticated first, as AWS does.
            sigv4::verify(req, store, now)?;
            Err(StsError::InvalidAction {
                action: other.to_string(),
            })
        }
    }
}

/// Decoded request parameters, first occurrence wins.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The request parameters: the query string, then a form-encoded body.
fn params(req: &SignedRequest<'_>) -> Vec<(String, String)> {
    let mut out = sigv4::query_pairs(req.query);
    let is_form = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(!req.body.is_empty());
    if is_form {
        out.extend(sigv4::form_pairs(req.body, true));
    }
    out
}

fn session_name(key: &IssuedKey, instance_id_for: &dyn Fn(&IssuedKey) -> Option<String>) -> String {
    instance_id_for(key).unwrap_or_else(|| key.session_name.clone())
}

/// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role session.
pub fn assumed_role_arn(key: &IssuedKey, session: &str) -> String {
    format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        key.account_id,
        key.role_name(),
        session
    )
}

fn get_caller_identity_xml(key: &IssuedKey, session: &str, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{XML_NAMESPACE}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}:{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml_escape(&assumed_role_arn(key, session)),
        xml_escape(&key.role_id),
        xml_escape(session),
        xml_escape(&key.account_id)
    )
}

/// Validate `RoleArn`: `arn:aws:iam::<12 digits>:role/<path/>name`, 20 to 2048 characters.
fn validate_role_arn(value: Option<&str>) -> Result<String, StsError> {
    let arn = value.ok_or_else(|| StsError::Validation {
        message: "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null".into(),
    })?;
    let valid = (20..=2048).contains(&arn.len())
        && arn
            .strip_prefix("arn:")
            .and_then(|rest| {
                let parts: Vec<&str> = rest.splitn(5, ':').collect();
                match parts.as_slice() {
                    [_partition, "iam", "", account, resource]
                        if account.len() == 12
                            && account.bytes().all(|b| b.is_ascii_digit())
                            && resource.starts_with("role/")
                            && resource.len() > "role/".len() =>
                    {
                        Some(())
                    }
                    _ => None,
                }
            })
            .is_some();
    if valid {
        Ok(arn.to_string())
    } else {
        Err(StsError::Validation {
            message: format!("{arn} is invalid"),
        })
    }
}

/// Validate `RoleSessionName`: 2 to 64 characters of `[\w+=,.@-]`.
fn validate_session_name(value: Option<&str>) -> Result<String, StsError> {
    let name = value.ok_or_else(|| StsError::Validation {
        message: "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null".into(),
    })?;
    if !(2..=64).contains(&name.len()) {
        return Err(StsError::Validation {
            message: format!("1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64"),
        });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    {
        return Err(StsError::Validation {
            message: format!("1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"),
        });
    }
    Ok(name.to_string())
}

fn validate_duration(value: Option<&str>) -> Result<u64, StsError> {
    let Some(raw) = value else {
        return Ok(DEFAULT_DURATION_SECS);
    };
    let secs: i64 = raw.trim().parse().map_err(|_| StsError::Validation {
        message: format!(
            "Value ({raw}) for parameter DurationSeconds is invalid. Must be an integer."
        ),
    })?;
    if secs < MIN_DURATION_SECS as i64 {
        return Err(StsError::Validation {
            message: format!("1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION_SECS}"),
        });
    }
    if secs > MAX_DURATION_SECS as i64 {
        return Err(StsError::Validation {
            message: format!("1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION_SECS}"),
        });
    }
    Ok(secs as u64)
}

/// `PackedPolicySize`: the share (in percent) of the session-policy allowance a request's
/// inline policy uses, from its size with insignificant whitespace removed. AWS compresses
/// before measuring, so real values run lower; the bounds (present only with a policy,
/// over 100 rejected) are AWS's.
fn packed_policy_size(policy: &str) -> u64 {
    let mut compact = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for c in policy.chars() {
        if in_string {
            compact += 1;
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            compact += 1;
            in_string = c == '"';
        }
    }
    (compact as u64 * 100).div_ceil(MAX_POLICY_CHARS as u64)
}

fn assume_role(
    params: &Params,
    store: &dyn KeyStore,
    caller: &IssuedKey,
    caller_session: &str,
    request_id: &str,
) -> Result<String, StsError> {
    let role_arn = validate_role_arn(params.get("RoleArn"))?;
    let session = validate_session_name(params.get("RoleSessionName"))?;
    let duration = validate_duration(params.get("DurationSeconds"))?;
    let policy = params.get("Policy");
    if let Some(policy) = policy {
        if policy.chars().count() > MAX_POLICY_CHARS {
            return Err(StsError::Validation {
                message: format!("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to {MAX_POLICY_CHARS}"),
            });
        }
        if serde_json::from_str::<serde_json::Value>(policy).is_err() {
            return Err(StsError::Validation {
                message: "The policy is not in the valid JSON format.".into(),
            });
        }
    }
    let packed = policy.map(packed_policy_size);
    if packed.is_some_and(|p| p > 100) {
        return Err(StsError::PackedPolicyTooLarge);
    }
    let account = store.account_id();
    let in_account = role_arn
        .split(':')
        .nth(4)
        .is_some_and(|acct| acct == account);
    if !in_account {
        return Err(StsError::AccessDenied {
            message: format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                assumed_role_arn(caller, caller_session)
            ),
        });
    }
    // Every caller the mock knows is itself a role session, so this is role chaining.
    if duration > ROLE_CHAINING_MAX_SECS {
        return Err(StsError::Validation {
            message: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into(),
        });
    }
    let issued = store.issue(&role_arn, &session, duration);
    let mut result = String::new();
    result.push_str(&assumed_role_user_xml(&issued));
    result.push_str(&credentials_xml(&issued));
    if let Some(packed) = packed {
        result.push_str(&format!(
            "    <PackedPolicySize>{packed}</PackedPolicySize>\n"
        ));
    }
    Ok(wrap("AssumeRole", &result, request_id))
}

fn assumed_role_user_xml(key: &IssuedKey) -> String {
    format!(
        "    <AssumedRoleUser>\n      <AssumedRoleId>{}:{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n",
        xml_escape(&key.role_id),
        xml_escape(&key.session_name),
        xml_escape(&assumed_role_arn(key, &key.session_name))
    )
}

fn credentials_xml(key: &IssuedKey) -> String {
    format!(
        "    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n",
        xml_escape(&key.access_key_id),
        xml_escape(&key.secret_access_key),
        xml_escape(&key.session_token),
        key.expiration.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

fn wrap(action: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{XML_NAMESPACE}\">\n  <{action}Result>\n{result}  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
    )
}

/// The claims of a web identity token that STS reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentityClaims {
    pub subject: String,
    pub audience: Option<String>,
    /// The issuer without its `https://` scheme.
    pub provider: Option<String>,
}

/// Accept a JWT-shaped token: three base64url parts, a JSON header with `alg`, a JSON
/// payload with a string `sub` and, if present, an `exp` in the future. The signature
/// is not checked (the mock has no identity provider keys).
pub fn parse_web_identity_token(
    token: &str,
    now: DateTime<Utc>,
) -> Result<WebIdentityClaims, StsError> {
    use base64::Engine as _;
    let invalid = || {
        StsError::InvalidIdentityToken {
        message: "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)".into(),
    }
    };
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(invalid());
    };
    if signature.is_empty() {
        return Err(invalid());
    }
    let decode = |part: &str| -> Result<serde_json::Value, StsError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| invalid())?;
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|_| invalid())
    };
    let header = decode(header)?;
    if !header.get("alg").is_some_and(|a| a.is_string()) {
        return Err(invalid());
    }
    let payload = decode(payload)?;
    let subject = payload
        .get("sub")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(invalid)?
        .to_string();
    if let Some(exp) = payload.get("exp").and_then(|e| e.as_i64()) {
        if exp <= now.timestamp() {
            let when = DateTime::<Utc>::from_timestamp(exp, 0).unwrap_or(now);
            return Err(StsError::WebIdentityTokenExpired {
                message: format!(
                    "Token expired: current date/time {} must be before the expiration date/time {}",
                    now.timestamp(),
                    when.timestamp()
                ),
            });
        }
    }
    let audience = match payload.get("aud") {
        Some(serde_json::Value::String(a)) => Some(a.clone()),
        Some(serde_json::Value::Array(items)) => {
            items.first().and_then(|a| a.as_str()).map(str::to_string)
        }
        _ => None,
    };
    let provider = payload.get("iss").and_then(|i| i.as_str()).map(|iss| {
        iss.trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_string()
    });
    Ok(WebIdentityClaims {
        subject,
        audience,
        provider,
    })
}

fn assume_role_with_web_identity(
    params: &Params,
    store: &dyn KeyStore,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<String, StsError> {
    let role_arn = validate_role_arn(params.get("RoleArn"))?;
    let session = validate_session_name(params.get("RoleSessionName"))?;
    let token = params.get("WebIdentityToken").ok_or_else(|| StsError::Validation {
        message: "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null".into(),
    })?;
    let duration = validate_duration(params.get("DurationSeconds"))?;
    let claims = parse_web_identity_token(token, now)?;
    let issued = store.issue(&role_arn, &session, duration);
    let mut result = format!(
        "    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n",
        xml_escape(&claims.subject)
    );
    if let Some(audience) = &claims.audience {
        result.push_str(&format!(
            "    <Audience>{}</Audience>\n",
            xml_escape(audience)
        ));
    }
    result.push_str(&assumed_role_user_xml(&issued));
    result.push_str(&credentials_xml(&issued));
    let provider = params
        .get("ProviderId")
        .map(str::to_string)
        .or(claims.provider);
    if let Some(provider) = provider {
        result.push_str(&format!(
            "    <Provider>{}</Provider>\n",
            xml_escape(&provider)
        ));
    }
    Ok(wrap("AssumeRoleWithWebIdentity", &result, request_id))
}

/// A request id shaped like AWS's (a random UUID).
pub fn new_request_id() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        (b[8] & 0x3) | 0x8,
        &h[17..20],
        &h[20..32]
    )
}

/// Escape text for an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An in-memory [`KeyStore`] for unit tests.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod test_store {
    use std::sync::Mutex;

    use chrono::{DateTime, Duration, Utc};
    use rand::distributions::{Alphanumeric, DistString};
    use rand::Rng;

    use crate::keys::{IssuedKey, KeyStore};

    pub(crate) const ACCOUNT: &str = "123456789012";

    pub(crate) struct MemoryStore {
        pub(crate) keys: Mutex<Vec<IssuedKey>>,
        pub(crate) now: DateTime<Utc>,
    }

    impl MemoryStore {
        pub(crate) fn new(now: DateTime<Utc>) -> Self {
            Self {
                keys: Mutex::new(Vec::new()),
                now,
            }
        }

        pub(crate) fn add(&self, key: IssuedKey) -> IssuedKey {
            self.keys.lock().unwrap().push(key.clone());
            key
        }
    }

    pub(crate) fn make_key(role: &str, session: &str, now: DateTime<Utc>, secs: i64) -> IssuedKey {
        let mut rng = rand::thread_rng();
        let upper: String = (0..16)
            .map(|_| {
                let chars = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
                chars[rng.gen_range(0..chars.len())] as char
            })
            .collect();
        IssuedKey {
            access_key_id: format!("ASIA{upper}"),
            secret_access_key: Alphanumeric.sample_string(&mut rng, 40),
            session_token: Alphanumeric.sample_string(&mut rng, 300),
            expiration: now + Duration::seconds(secs),
            issued: now,
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
            role_id: format!("AROA{}", &upper[..12]),
            account_id: ACCOUNT.into(),
            session_name: session.into(),
        }
    }

    impl KeyStore for MemoryStore {
        fn lookup(&self, access_key_id: &str) -> Option<IssuedKey> {
            self.keys
                .lock()
                .unwrap()
                .iter()
                .find(|k| k.access_key_id == access_key_id)
                .cloned()
        }

        fn issue(&self, role_arn: &str, session_name: &str, duration_secs: u64) -> IssuedKey {
            let role = role_arn.rsplit('/').next().unwrap_or("role");
            let mut key = make_key(role, session_name, self.now, duration_secs as i64);
            key.role_arn = role_arn.to_string();
            self.add(key)
        }

        fn account_id(&self) -> String {
            ACCOUNT.into()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::test_store::{make_key, MemoryStore, ACCOUNT};
    use super::*;
    use base64::Engine as _;

    fn signed_call(key: &IssuedKey, body: &str, now: DateTime<Utc>) -> http::Request<Vec<u8>> {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "127.0.0.1:1338")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body.as_bytes().to_vec())
            .unwrap();
        crate::sigv4::sign_request(&mut req, key, "us-east-1", "sts", now);
        req
    }

    fn call(req: &http::Request<Vec<u8>>, store: &MemoryStore, now: DateTime<Utc>) -> StsResponse {
        let signed = SignedRequest {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
            headers: req.headers(),
            body: req.body(),
        };
        handle(
            &signed,
            store,
            &|k: &IssuedKey| {
                (k.role_name() == "InstanceRole").then(|| "i-0123456789abcdef0".to_string())
            },
            now,
        )
    }

    fn element<'a>(xml: &'a str, name: &str) -> &'a str {
        let open = format!("<{name}>");
        let start = xml
            .find(&open)
            .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
            + open.len();
        let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
        &xml[start..end]
    }

    #[test]
    fn get_caller_identity_of_an_instance_role() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let key = store.add(make_key("InstanceRole", "ignored", now, 3600));
        let resp = call(
            &signed_call(&key, "Action=GetCallerIdentity&Version=2011-06-15", now),
            &store,
            now,
        );
        assert_eq!((resp.status, resp.content_type), (200, "text/xml"));
        assert!(resp.body.starts_with(&format!(
            "<GetCallerIdentityResponse xmlns=\"{XML_NAMESPACE}\">"
        )));
        assert_eq!(
            element(&resp.body, "Arn"),
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/InstanceRole/i-0123456789abcdef0")
        );
        assert_eq!(
            element(&resp.body, "UserId"),
            format!("{}:i-0123456789abcdef0", key.role_id)
        );
        assert_eq!(element(&resp.body, "Account"), ACCOUNT);
        assert_eq!(element(&resp.body, "RequestId"), resp.request_id);
    }

    #[test]
    fn errors_are_query_protocol_documents() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let stranger = make_key("Role", "s", now, 3600);
        let resp = call(
            &signed_call(
                &stranger,
                "Action=GetCallerIdentity&Version=2011-06-15",
                now,
            ),
            &store,
            now,
        );
        assert_eq!(resp.status, 403);
        assert!(resp
            .body
            .starts_with(&format!("<ErrorResponse xmlns=\"{XML_NAMESPACE}\">")));
        assert_eq!(element(&resp.body, "Type"), "Sender");
        assert_eq!(element(&resp.body, "Code"), "InvalidClientTokenId");
        assert_eq!(element(&resp.body, "RequestId"), resp.request_id);

        let key = store.add(make_key("Role", "s", now, 3600));
        let resp = call(
            &signed_call(&key, "Action=Frobnicate&Version=2011-06-15", now),
            &store,
            now,
        );
        assert_eq!(
            (resp.status, element(&resp.body, "Code")),
            (400, "InvalidAction")
        );
        let resp = call(&signed_call(&key, "Version=2011-06-15", now), &store, now);
        assert_eq!(
            (resp.status, element(&resp.body, "Code")),
            (400, "MissingAction")
        );
    }

    #[test]
    fn assume_role_issues_a_new_key_that_itself_verifies() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let caller = store.add(make_key("InstanceRole", "x", now, 3600));
        let role = format!("arn:aws:iam::{ACCOUNT}:role/Target");
        let body = format!("Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=deploy&DurationSeconds=900", role.replace(':', "%3A").replace('/', "%2F"));
        let resp = call(&signed_call(&caller, &body, now), &store, now);
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            element(&resp.body, "Arn"),
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/Target/deploy")
        );
        assert!(element(&resp.body, "AssumedRoleId").ends_with(":deploy"));
        assert!(!resp.body.contains("PackedPolicySize"));
        let akid = element(&resp.body, "AccessKeyId");
        let issued = store.lookup(akid).expect("issued key is in the store");
        assert_eq!(element(&resp.body, "SessionToken"), issued.session_token);
        assert_eq!(
            element(&resp.body, "Expiration"),
            issued.expiration.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        // The new credentials are accepted by GetCallerIdentity.
        let resp = call(
            &signed_call(&issued, "Action=GetCallerIdentity&Version=2011-06-15", now),
            &store,
            now,
        );
        assert_eq!(
            element(&resp.body, "Arn"),
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/Target/deploy")
        );
    }

    #[test]
    fn assume_role_validates_its_parameters() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let caller = store.add(make_key("InstanceRole", "x", now, 3600));
        let arn = format!("arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2FTarget");
        let cases = [
            (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=s&DurationSeconds=900"), 400, "ValidationError"),
            (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&DurationSeconds=899"), 400, "ValidationError"),
            (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&DurationSeconds=43201"), 400, "ValidationError"),
            (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&DurationSeconds=7200"), 400, "ValidationError"),
            ("Action=AssumeRole&RoleSessionName=ok".to_string(), 400, "ValidationError"),
            ("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A999999999999%3Arole%2FX&RoleSessionName=ok".to_string(), 403, "AccessDenied"),
            (format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&Policy=%7Bnot"), 400, "ValidationError"),
        ];
        for (body, status, code) in cases {
            let resp = call(&signed_call(&caller, &body, now), &store, now);
            assert_eq!(
                (resp.status, element(&resp.body, "Code")),
                (status, code),
                "{body}"
            );
        }
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let encoded: String = policy.bytes().map(|b| format!("%{b:02X}")).collect();
        let body = format!("Action=AssumeRole&RoleArn={arn}&RoleSessionName=ok&Policy={encoded}");
        let resp = call(&signed_call(&caller, &body, now), &store, now);
        assert_eq!(resp.status, 200, "{}", resp.body);
        let packed: u64 = element(&resp.body, "PackedPolicySize").parse().unwrap();
        assert!((1..=100).contains(&packed));
    }

    fn jwt(payload: serde_json::Value) -> String {
        let enc = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2ln",
            enc(&serde_json::json!({"alg": "RS256", "typ": "JWT"})),
            enc(&payload)
        )
    }

    #[test]
    fn assume_role_with_web_identity_is_unsigned_and_reports_the_subject() {
        let now = Utc::now();
        let store = MemoryStore::new(now);
        let token = jwt(
            serde_json::json!({"sub": "system:serviceaccount:ns:sa", "aud": "sts.amazonaws.com", "iss": "https://oidc.example.com/id/ABC", "exp": now.timestamp() + 600}),
        );
        let body = format!("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2FWeb&RoleSessionName=web&WebIdentityToken={token}");
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
            .unwrap();
        let resp = call(&req, &store, now);
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            element(&resp.body, "SubjectFromWebIdentityToken"),
            "system:serviceaccount:ns:sa"
        );
        assert_eq!(element(&resp.body, "Audience"), "sts.amazonaws.com");
        assert_eq!(element(&resp.body, "Provider"), "oidc.example.com/id/ABC");
        assert!(store.lookup(element(&resp.body, "AccessKeyId")).is_some());

        for bad in ["not-a-jwt", "a.b.c", &jwt(serde_json::json!({"aud": "x"}))] {
            let body = format!("Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2FWeb&RoleSessionName=web&WebIdentityToken={bad}");
            let req = http::Request::builder()
                .method("POST")
                .uri("/")
                .body(body.into_bytes())
                .unwrap();
            let resp = call(&req, &store, now);
            assert_eq!(
                (resp.status, element(&resp.body, "Code")),
                (400, "InvalidIdentityToken"),
                "{bad}"
            );
        }
        let expired = jwt(serde_json::json!({"sub": "x", "exp": now.timestamp() - 1}));
        assert_eq!(
            parse_web_identity_token(&expired, now).unwrap_err().code(),
            "ExpiredTokenException"
        );
    }

    #[test]
    fn request_ids_look_like_uuids_and_differ() {
        let a = new_request_id();
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, new_request_id());
    }

    #[test]
    fn xml_escape_escapes_markup() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
