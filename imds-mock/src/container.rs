//! Container credentials as the two agents that serve them answer: the ECS agent's
//! `/v2/credentials/<id>` (what `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` points at) and the
//! EKS Pod Identity agent's `/v1/credentials` (what `AWS_CONTAINER_CREDENTIALS_FULL_URI`
//! points at, guarded by the `Authorization` token from
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`). Pure functions from the request path and
//! headers and an issued key to a response; the server owns which key is current.

use chrono::SecondsFormat;
use subtle::ConstantTimeEq;

use crate::keys::IssuedKey;

/// The ECS agent's credentials path prefix (followed by the credential id).
pub const ECS_PATH_PREFIX: &str = "/v2/credentials";

/// The EKS Pod Identity agent's credentials path.
pub const EKS_PATH: &str = "/v1/credentials";

/// The content type of a credentials document.
pub const JSON: &str = "application/json";

/// The content type of the EKS agent's plain-text errors (Go's `http.Error`).
pub const TEXT: &str = "text/plain; charset=utf-8";

/// What the server writes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Which container agent a path belongs to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerEndpoint {
    Ecs,
    EksPodIdentity,
}

/// Classify a request path (without query) as one of the container endpoints.
pub fn endpoint_for(path: &str) -> Option<ContainerEndpoint> {
    if path == EKS_PATH {
        Some(ContainerEndpoint::EksPodIdentity)
    } else if path == ECS_PATH_PREFIX || path.starts_with("/v2/credentials/") {
        Some(ContainerEndpoint::Ecs)
    } else {
        None
    }
}

/// The ECS form: `GET /v2/credentials/<id>`. `credential_id` is the id the mock handed out
/// (the tail of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`); another or no id gets the ECS
/// agent's 400 JSON error.
pub fn ecs_credentials(path: &str, credential_id: &str, key: &IssuedKey) -> ContainerResponse {
    let id = path
        .strip_prefix(ECS_PATH_PREFIX)
        .map(|rest| rest.trim_start_matches('/'))
        .unwrap_or("");
    if id.is_empty() {
        return ecs_error(
            "NoIdInRequest",
            "CredentialsV2Request: No Credential ID in the request",
        );
    }
    if !bool::from(id.as_bytes().ct_eq(credential_id.as_bytes())) {
        return ecs_error(
            "InvalidIdInRequest",
            "CredentialsV2Request: Credentials not found",
        );
    }
    let body = serde_json::json!({
        "RoleArn": key.role_arn,
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key,
        "Token": key.session_token,
        "Expiration": key.expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
        "AccountId": key.account_id,
    });
    ContainerResponse {
        status: 200,
        content_type: JSON,
        body: body.to_string(),
    }
}

fn ecs_error(code: &str, message: &str) -> ContainerResponse {
    ContainerResponse {
        status: 400,
        content_type: JSON,
        body: serde_json::json!({ "code": code, "message": message }).to_string(),
    }
}

/// The EKS Pod Identity form: `GET /v1/credentials` with `Authorization: <token>`. No or
/// an empty token is 401, a token other than `expected_token` is 403.
pub fn eks_pod_identity_credentials(
    headers: &http::HeaderMap,
    expected_token: &str,
    key: &IssuedKey,
) -> ContainerResponse {
    let sent = headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if sent.is_empty() {
        return text_error(401, "Service account token cannot be empty");
    }
    if !bool::from(sent.ct_eq(expected_token.as_bytes())) {
        return text_error(403, "Service account token is not valid for this pod");
    }
    let body = serde_json::json!({
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key,
        "Token": key.session_token,
        "AccountId": key.account_id,
        "Expiration": key.expiration.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    });
    ContainerResponse {
        status: 200,
        content_type: JSON,
        body: body.to_string(),
    }
}

fn text_error(status: u16, message: &str) -> ContainerResponse {
    ContainerResponse {
        status,
        content_type: TEXT,
        body: format!("{message}\n"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::test_store::make_key;
    use chrono::{TimeZone, Utc};

    fn key() -> IssuedKey {
        make_key(
            "TaskRole",
            "task",
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            3600,
        )
    }

    #[test]
    fn paths_are_classified() {
        assert_eq!(
            endpoint_for("/v1/credentials"),
            Some(ContainerEndpoint::EksPodIdentity)
        );
        assert_eq!(
            endpoint_for("/v2/credentials/abc"),
            Some(ContainerEndpoint::Ecs)
        );
        assert_eq!(
            endpoint_for("/v2/credentials"),
            Some(ContainerEndpoint::Ecs)
        );
        assert_eq!(endpoint_for("/latest/meta-data/"), None);
        assert_eq!(endpoint_for("/v2/credentialsX"), None);
    }

    #[test]
    fn ecs_document_has_every_field_clients_read() {
        let key = key();
        let resp = ecs_credentials("/v2/credentials/1f2e", "1f2e", &key);
        assert_eq!((resp.status, resp.content_type), (200, "application/json"));
        let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(doc["RoleArn"], key.role_arn.as_str());
        assert_eq!(doc["AccessKeyId"], key.access_key_id.as_str());
        assert_eq!(doc["SecretAccessKey"], key.secret_access_key.as_str());
        assert_eq!(doc["Token"], key.session_token.as_str());
        assert_eq!(doc["AccountId"], key.account_id.as_str());
        assert_eq!(doc["Expiration"], "2026-01-02T04:04:05Z");
    }

    #[test]
    fn ecs_rejects_missing_and_unknown_ids() {
        let key = key();
        for (path, code) in [
            ("/v2/credentials", "NoIdInRequest"),
            ("/v2/credentials/", "NoIdInRequest"),
            ("/v2/credentials/other", "InvalidIdInRequest"),
        ] {
            let resp = ecs_credentials(path, "1f2e", &key);
            assert_eq!(resp.status, 400, "{path}");
            let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
            assert_eq!(doc["code"], code, "{path}");
            assert!(!resp.body.contains(&key.secret_access_key));
        }
    }

    #[test]
    fn eks_requires_the_configured_token() {
        let key = key();
        let mut headers = http::HeaderMap::new();
        assert_eq!(
            eks_pod_identity_credentials(&headers, "tok", &key).status,
            401
        );
        headers.insert("authorization", http::HeaderValue::from_static("nope"));
        let resp = eks_pod_identity_credentials(&headers, "tok", &key);
        assert_eq!((resp.status, resp.content_type), (403, TEXT));
        assert!(!resp.body.contains(&key.access_key_id));
        headers.insert("authorization", http::HeaderValue::from_static("tok"));
        let resp = eks_pod_identity_credentials(&headers, "tok", &key);
        assert_eq!((resp.status, resp.content_type), (200, JSON));
        let doc: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(doc["AccessKeyId"], key.access_key_id.as_str());
        assert_eq!(doc["Token"], key.session_token.as_str());
        assert_eq!(doc["AccountId"], key.account_id.as_str());
        assert_eq!(doc["Expiration"], "2026-01-02T04:04:05Z");
        assert!(doc.get("RoleArn").is_none());
    }
}
