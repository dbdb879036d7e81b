//! The instance-metadata (IMDS) client every part of the agent uses: IMDSv2 session
//! tokens cached and refreshed before expiry, retries with backoff inside a deadline,
//! IMDSv1 fallback only where allowed, and the SDKs' `AWS_EC2_METADATA_*` settings.
//! It never logs tokens or user data, and it knows nothing of what the metadata means:
//! callers (user data, boot, credentials) interpret the bytes.
//!
//! - [`settings`]: endpoint, IMDSv1 policy, timeouts, from environment and profile.
//! - [`client`]: the HTTP client, token cache and retry loop.
//! - [`tree`]: walking a metadata tree with bounded concurrency.
//! - [`lockdown`]: systemd's locked-down IMDS route, and the firewall mark it needs.
//! - [`imdsd`]: systemd-imdsd's Varlink API, the machine's own metadata service.

pub mod client;
pub mod imdsd;
pub mod lockdown;
pub mod settings;
pub mod tree;

#[cfg(test)]
mod mock_tests;
#[cfg(test)]
pub(crate) mod test_server;

pub use client::ImdsClient;
pub use settings::{EndpointChoice, EndpointMode, ImdsSettings, V1Fallback};

/// Errors from configuring or talking to the metadata service.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// `AWS_EC2_METADATA_DISABLED=true`.
    #[error("IMDS access is disabled by {var}=true: unset it to read instance metadata")]
    Disabled { var: &'static str },
    /// The configured endpoint is not a usable URL.
    #[error("invalid IMDS endpoint `{value}` from {source_name}: {reason}; use a URL like http://169.254.169.254")]
    InvalidEndpoint {
        value: String,
        source_name: String,
        reason: String,
    },
    /// The configured endpoint mode is neither IPv4 nor IPv6.
    #[error("`{value}` is not a valid endpoint mode (from {source_name}): use IPv4 or IPv6")]
    InvalidEndpointMode { value: String, source_name: String },
    /// A timeout or attempt count that is not a number in range.
    #[error("invalid value `{value}` for {source_name}: expected {expected}")]
    InvalidSetting {
        value: String,
        source_name: String,
        expected: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for IMDS")]
    Client(#[source] reqwest::Error),
    /// The token API refused to issue a token (400, 403, 404, 405, …) and IMDSv1 is not
    /// allowed, or the status (400) means the request itself is wrong.
    #[error("IMDSv2 token request to {url} failed with HTTP {status}: {hint}")]
    Token {
        url: String,
        status: u16,
        hint: &'static str,
    },
    /// No token could be had and the IMDSv1 fallback is forbidden.
    #[error("cannot read IMDS path {path}: no IMDSv2 token ({reason}) and the IMDSv1 fallback is disabled; allow it (unset AWS_EC2_METADATA_V1_DISABLED) or fix the token endpoint")]
    V1Disabled { path: String, reason: String },
    /// A metadata read answered with a status that is not retried (401 after a token
    /// refresh, 403, other 4xx).
    #[error("IMDS GET {path} failed with HTTP {status}: {hint}")]
    Status {
        path: String,
        status: u16,
        hint: &'static str,
    },
    /// Every attempt got a 5xx.
    #[error("IMDS {path} answered HTTP {status} on all {attempts} attempts: the metadata service is failing, retry later")]
    ServerError {
        path: String,
        status: u16,
        attempts: u32,
    },
    /// Every attempt failed to connect or timed out.
    #[error("cannot reach IMDS at {url} after {attempts} attempts ({kind}): is this an EC2 instance, or is --imds / AWS_EC2_METADATA_SERVICE_ENDPOINT right?")]
    Unreachable {
        url: String,
        attempts: u32,
        kind: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An answer larger than any metadata document: not what the service sends.
    #[error("IMDS {path} answered more than {max} bytes: that is not the metadata service (check --imds / AWS_EC2_METADATA_SERVICE_ENDPOINT)")]
    TooLarge { path: String, max: usize },
    /// A tree walk went past its bounds (a listing that never ends).
    #[error("the metadata tree under {root} {what}: that is not the metadata service (check --imds / AWS_EC2_METADATA_SERVICE_ENDPOINT)")]
    WalkTooLarge { root: String, what: String },
    /// A read of a tree walk was cancelled (the runtime is shutting down).
    #[error("walking the metadata tree under {root} was interrupted")]
    WalkCancelled { root: String },
    /// The call's overall deadline passed before it succeeded.
    #[error("IMDS {path} did not succeed within {deadline:?} ({attempts} attempts): the metadata service is slow or unreachable")]
    DeadlineExceeded {
        path: String,
        deadline: std::time::Duration,
        attempts: u32,
    },
}

impl ImdsError {
    /// The HTTP status this error carries, if it came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Token { status, .. }
            | Self::Status { status, .. }
            | Self::ServerError { status, .. } => Some(*status),
            _ => None,
        }
    }
}
