//! The AWS credential provider chain, resolved as the SDKs resolve it, and explained.
//!
//! [`chain::resolve`] walks the providers in the order of one SDK ([`Sdk`]: the AWS CLI v2
//! by default, botocore, aws-sdk-rust, the Go SDK v2, the AWS SDK for JavaScript v3) and
//! returns an [`Explanation`]:
//! every provider with its status and reason, and the selected credentials. Providers
//! fail in three kinds, as in aws-config ([`Outcome`]): not loaded (try the next),
//! invalid configuration and provider error (stop). This module never logs a secret:
//! keys and tokens are [`Secret`]s and shown masked.

use chrono::{DateTime, Utc};

use crate::secret::Secret;

pub mod chain;
pub mod env_vars;
pub mod export;
pub mod files;
pub mod net;
pub mod net_js;
pub mod process;
pub mod profile;
pub mod profile_js;
pub mod serve;
pub mod sts;
pub mod sts_bridge;

/// One resolved set of AWS credentials. Secrets are redacted in `Debug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
    pub session_token: Option<Secret<String>>,
    pub expiration: Option<DateTime<Utc>>,
    pub account_id: Option<String>,
}

/// Whose rules the chain follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sdk {
    /// The AWS CLI v2 (reference semantics).
    Cli,
    /// botocore / boto3.
    Botocore,
    /// aws-sdk-rust (aws-config).
    Rust,
    /// The Go SDK v2.
    Go,
    /// The AWS SDK for JavaScript v3 in Node.js (`fromNodeProviderChain`).
    Js,
}

impl Sdk {
    /// Every SDK strap models, in the order `explain` compares them.
    pub const ALL: [Sdk; 5] = [Sdk::Cli, Sdk::Botocore, Sdk::Rust, Sdk::Go, Sdk::Js];

    /// The CLI and botocore share a chain; they differ in a few settings.
    pub fn is_botocore_family(self) -> bool {
        matches!(self, Sdk::Cli | Sdk::Botocore)
    }

    /// How this SDK parses the profile files.
    pub fn dialect(self) -> profile::Dialect {
        match self {
            Sdk::Cli | Sdk::Botocore => profile::Dialect::Botocore,
            Sdk::Rust => profile::Dialect::Spec,
            Sdk::Go => profile::Dialect::Go,
            Sdk::Js => profile::Dialect::Js,
        }
    }

    /// The name used on the command line (`--sdk cli`).
    pub fn as_str(self) -> &'static str {
        match self {
            Sdk::Cli => "cli",
            Sdk::Botocore => "botocore",
            Sdk::Rust => "rust",
            Sdk::Go => "go",
            Sdk::Js => "js",
        }
    }

    /// The release whose behaviour this mode models (read from its source).
    pub fn models(self) -> &'static str {
        match self {
            Sdk::Cli => "the AWS CLI v2 (aws-cli branch v2 @ 73fb33bb, checked against Debian's 2.9.19)",
            Sdk::Botocore => "botocore (develop @ 0e6e2404, checked against 1.43.11)",
            Sdk::Rust => "aws-sdk-rust's aws-config (1.13.0 as tested)",
            Sdk::Go => "aws-sdk-go-v2 config (as vendored by moby/moby)",
            Sdk::Js => "@aws-sdk/credential-providers 3.1178.0 (credential-provider-node 3.972, @smithy/core 3.41, @smithy/credential-provider-imds 4.5)",
        }
    }
}

impl std::str::FromStr for Sdk {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cli" => Ok(Sdk::Cli),
            "botocore" => Ok(Sdk::Botocore),
            "rust" => Ok(Sdk::Rust),
            "go" => Ok(Sdk::Go),
            "js" => Ok(Sdk::Js),
            _ => Err(format!(
                "unknown SDK {s:?}: use cli, botocore, rust, go or js"
            )),
        }
    }
}

/// How the credentials were obtained: botocore's `Credentials.method` strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Env,
    SharedCredentialsFile,
    ConfigFile,
    CustomProcess,
    ContainerRole,
    IamRole,
    AssumeRole,
    AssumeRoleWithWebIdentity,
    Sso,
    Login,
}

impl Method {
    /// botocore's method string (`aws configure list` TYPE column).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Env => "env",
            Method::SharedCredentialsFile => "shared-credentials-file",
            Method::ConfigFile => "config-file",
            Method::CustomProcess => "custom-process",
            Method::ContainerRole => "container-role",
            Method::IamRole => "iam-role",
            Method::AssumeRole => "assume-role",
            Method::AssumeRoleWithWebIdentity => "assume-role-with-web-identity",
            Method::Sso => "sso",
            Method::Login => "login",
        }
    }
}

/// What one provider of the chain did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It supplied the credentials.
    Selected,
    /// It had nothing (the reason says why): the chain tried the next.
    Skipped,
    /// It would have supplied credentials, but an earlier provider won.
    Shadowed,
    /// It stopped the chain with an error.
    Error,
    /// The chain stopped before reaching it.
    NotReached,
}

impl Status {
    /// Lowercase name for tables and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Selected => "selected",
            Status::Skipped => "skipped",
            Status::Shadowed => "shadowed",
            Status::Error => "error",
            Status::NotReached => "not-reached",
        }
    }
}

/// A provider's result, in aws-config's three kinds plus success.
#[derive(Debug)]
pub enum Outcome {
    /// Credentials were found.
    Loaded(Method, Credentials),
    /// Nothing configured here: try the next provider.
    NotLoaded(String),
    /// Configured wrongly: the chain stops.
    InvalidConfiguration(String),
    /// Configured, but fetching failed: the chain stops.
    ProviderError(String),
}

/// One provider's line in the explanation.
#[derive(Clone, Debug)]
pub struct Step {
    /// The provider, named by its botocore method string (`env`, `iam-role`, …).
    pub provider: &'static str,
    pub status: Status,
    /// The reason, naming variables, files and lines. Never a secret.
    pub detail: String,
    /// How long this provider took (the IMDS and container probes are the slow ones).
    pub elapsed: std::time::Duration,
}

/// The chain's verdict.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub sdk: Sdk,
    /// The profile in use and where its name came from (`AWS_PROFILE`, `--profile`, …).
    pub profile: String,
    pub profile_source: Option<String>,
    pub steps: Vec<Step>,
    pub selected: Option<(Method, Credentials)>,
    /// In probe mode: the provider that would be asked (nothing was fetched).
    pub would: Option<Method>,
    /// Why the chain stopped without credentials (an error, or nothing found).
    pub error: Option<ChainError>,
}

/// Why the chain produced no credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// No provider had credentials.
    #[error("no credentials found: every provider was tried (run `strap creds explain` to see why each was skipped)")]
    NoCredentials,
    /// A provider found a wrong configuration.
    #[error("invalid configuration in {provider}: {message}")]
    InvalidConfiguration {
        provider: &'static str,
        message: String,
    },
    /// A provider failed to fetch credentials.
    #[error("{provider} failed: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
}
