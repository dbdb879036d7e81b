//! Every environment variable the credential chain reads, declared once. Which SDK reads
//! which (and how) is the chain's business; these are only the names. The STS endpoint
//! variables are declared in [`super::sts`].

/// Static access key id (all SDKs).
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// Static secret access key (all SDKs).
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Session token for temporary keys (all SDKs).
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// Legacy session token name, read before `AWS_SESSION_TOKEN` by botocore and the CLI.
pub const AWS_SECURITY_TOKEN: &str = "AWS_SECURITY_TOKEN";
/// Expiry of the environment keys (botocore and the CLI only), ISO 8601.
pub const AWS_CREDENTIAL_EXPIRATION: &str = "AWS_CREDENTIAL_EXPIRATION";
/// Account id attached to the environment keys.
pub const AWS_ACCOUNT_ID: &str = "AWS_ACCOUNT_ID";
/// Legacy access key name the Go SDK falls back to.
pub const AWS_ACCESS_KEY: &str = "AWS_ACCESS_KEY";
/// Legacy secret key name the Go SDK falls back to.
pub const AWS_SECRET_KEY: &str = "AWS_SECRET_KEY";
/// Selected profile.
pub const AWS_PROFILE: &str = "AWS_PROFILE";
/// Selected profile, older name (botocore reads it first, the CLI second, Rust never).
pub const AWS_DEFAULT_PROFILE: &str = "AWS_DEFAULT_PROFILE";
/// Path of the shared config file (default `~/.aws/config`).
pub const AWS_CONFIG_FILE: &str = "AWS_CONFIG_FILE";
/// Path of the shared credentials file (default `~/.aws/credentials`).
pub const AWS_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
/// Home directory (first choice on every platform).
pub const HOME: &str = "HOME";
/// Home directory on Windows when `HOME` is unset.
pub const USERPROFILE: &str = "USERPROFILE";
/// Drive of the home directory on Windows (with `HOMEPATH`).
pub const HOMEDRIVE: &str = "HOMEDRIVE";
/// Path of the home directory on Windows (with `HOMEDRIVE`).
pub const HOMEPATH: &str = "HOMEPATH";
/// Web identity token file for AssumeRoleWithWebIdentity.
pub const AWS_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
/// Role to assume with the web identity token.
pub const AWS_ROLE_ARN: &str = "AWS_ROLE_ARN";
/// Session name for the web identity role.
pub const AWS_ROLE_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
/// Region for STS calls (first choice).
pub const AWS_REGION: &str = "AWS_REGION";
/// Region for STS calls (second choice).
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Container credentials path on 169.254.170.2 (ECS).
pub const AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// Container credentials full URL (EKS Pod Identity, `strap creds serve`).
pub const AWS_CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// Authorization header value for the container endpoint.
pub const AWS_CONTAINER_AUTHORIZATION_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
/// File holding the authorization header value (wins over the variable).
pub const AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
/// `true` (any case) turns the instance-metadata provider off.
pub const AWS_EC2_METADATA_DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
/// `true` forbids the IMDSv1 fallback.
pub const AWS_EC2_METADATA_V1_DISABLED: &str = "AWS_EC2_METADATA_V1_DISABLED";
/// Instance-metadata endpoint override (`http://127.0.0.1:1338`).
pub const AWS_EC2_METADATA_SERVICE_ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// `IPv4` (default) or `IPv6`: which default IMDS address to use.
pub const AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// Legacy EC2-tools credentials file (botocore and the CLI only).
pub const AWS_CREDENTIAL_FILE: &str = "AWS_CREDENTIAL_FILE";
