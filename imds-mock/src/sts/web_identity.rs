//! `AssumeRoleWithWebIdentity`: the JWT-shaped token it accepts (signature not checked)
//! and the answer that reports the token's subject, audience and issuer.

use chrono::{DateTime, Utc};

use super::{
    assumed_role_user_xml, credentials_xml, validate_duration, validate_role_arn,
    validate_session_name, wrap, xml_escape, Params, StsError,
};
use crate::keys::KeyStore;

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

pub(super) fn assume_role_with_web_identity(
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
