//! The AWS credential provider chain, resolved as the SDKs resolve it, and explained.
//! (Skeleton: [`Credentials`] is the contract between providers, STS and the CLI.)

pub mod serve;
pub mod sts;

use chrono::{DateTime, Utc};

use crate::secret::Secret;

/// One resolved set of AWS credentials. Secrets are redacted in `Debug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
    pub session_token: Option<Secret<String>>,
    pub expiration: Option<DateTime<Utc>>,
    pub account_id: Option<String>,
}
