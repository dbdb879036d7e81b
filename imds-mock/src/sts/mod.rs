//! The mock's STS, query protocol (`POST /` with a form body `Action=…&Version=2011-06-15`,
//! XML answers), as aws-sdk-sts, botocore and the AWS CLI speak it: `GetCallerIdentity`,
//! `AssumeRole` and `AssumeRoleWithWebIdentity`, with AWS's XML shapes, error documents
//! and status codes. It is a pure function over a request, a [`KeyStore`] and the time; the
//! server routes requests here and writes the [`StsResponse`] back.
//!
//! [`crate::sts_error`] holds AWS's error codes, statuses and documents (re-exported here,
//! as sigv4's verification answers with them too); `web_identity` the
//! `AssumeRoleWithWebIdentity` token rules.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;

use crate::keys::{IssuedKey, KeyStore};
use crate::sigv4::{self, SignedRequest};

#[cfg(test)]
mod tests;
mod web_identity;

pub use crate::sts_error::{xml_escape, StsError, API_VERSION, XML_NAMESPACE};
use web_identity::assume_role_with_web_identity;
pub use web_identity::{parse_web_identity_token, WebIdentityClaims};

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
