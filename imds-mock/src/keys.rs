//! Credentials the mock has issued (instance profile, container, STS), as the STS and
//! container endpoints look them up. The issuing side (the instance-profile store) and the
//! verifying side (STS, SigV4) meet here.

use chrono::{DateTime, Utc};

/// One set of temporary credentials the mock issued.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// `ASIA…`, 20 characters.
    pub access_key_id: String,
    /// 40 characters.
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
    /// When this key was issued (`LastUpdated`).
    pub issued: DateTime<Utc>,
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub role_arn: String,
    /// `AROA…` unique role id.
    pub role_id: String,
    pub account_id: String,
    /// The session name: the instance id for an instance profile, the given
    /// `RoleSessionName` for AssumeRole.
    pub session_name: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

impl IssuedKey {
    /// The role's name, the last segment of its ARN.
    pub fn role_name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn)
    }
}

/// What STS and the container endpoints need from the server's state.
pub trait KeyStore: Send + Sync {
    /// The issued key with this access key id, expired or not (the caller checks expiry).
    fn lookup(&self, access_key_id: &str) -> Option<IssuedKey>;
    /// Issue and remember new temporary credentials for a role (AssumeRole and friends).
    fn issue(&self, role_arn: &str, session_name: &str, duration_secs: u64) -> IssuedKey;
    /// The account id the mock's principals live in.
    fn account_id(&self) -> String;
    /// The regions a signature's scope may name (empty: any), as an STS endpoint
    /// accepts only its own region's.
    fn regions(&self) -> Vec<String> {
        Vec::new()
    }
}
