//! The settings the AWS SDKs read to reach the metadata service, resolved the way they
//! resolve them: environment first, then the selected profile (fed in by the credential
//! code through [`ImdsSettings::apply_profile`]), then explicit overrides from the command
//! line. Values are kept raw with where they came from, and checked when a client is built
//! so that an error names the variable or profile key at fault.
//!
//! The settings also carry the rules that differ between the SDKs (attempts, timeout,
//! which token failures fall back to IMDSv1, retry delay, whether a failed connection is
//! retried), so that the credential chain can read the instance profile the way each SDK
//! does through the same client. Endpoint resolution lives here alone:
//! [`ImdsSettings::resolve_endpoint`] for a client, [`ImdsSettings::configured_endpoint`]
//! for showing the endpoint and where it came from.

use std::time::Duration;

use crate::context::Context;

use super::ImdsError;

/// `AWS_EC2_METADATA_DISABLED`: `true` (any case) turns IMDS access off entirely.
pub const ENV_DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
/// `AWS_EC2_METADATA_V1_DISABLED`: `true` forbids the IMDSv1 (tokenless) fallback.
pub const ENV_V1_DISABLED: &str = "AWS_EC2_METADATA_V1_DISABLED";
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT`: the endpoint URL (`http://127.0.0.1:1338`); beats
/// the endpoint mode.
pub const ENV_ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`: `IPv4` or `IPv6` (case-insensitive).
pub const ENV_ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// `AWS_METADATA_SERVICE_TIMEOUT`: seconds (may be fractional) to connect and per attempt.
pub const ENV_TIMEOUT: &str = "AWS_METADATA_SERVICE_TIMEOUT";
/// `AWS_METADATA_SERVICE_NUM_ATTEMPTS`: how many times a request is tried.
pub const ENV_NUM_ATTEMPTS: &str = "AWS_METADATA_SERVICE_NUM_ATTEMPTS";

/// Profile key for the endpoint URL.
pub const PROFILE_ENDPOINT: &str = "ec2_metadata_service_endpoint";
/// Profile key for the endpoint mode.
pub const PROFILE_ENDPOINT_MODE: &str = "ec2_metadata_service_endpoint_mode";
/// Profile key forbidding the IMDSv1 fallback.
pub const PROFILE_V1_DISABLED: &str = "ec2_metadata_v1_disabled";
/// Profile key for the timeout in seconds.
pub const PROFILE_TIMEOUT: &str = "metadata_service_timeout";
/// Profile key for the number of attempts.
pub const PROFILE_NUM_ATTEMPTS: &str = "metadata_service_num_attempts";

/// The IPv4 endpoint of the metadata service.
pub const IPV4_ENDPOINT: &str = "http://169.254.169.254";
/// The IPv6 endpoint of the metadata service (Nitro instances with IPv6 enabled).
pub const IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";
/// The path of the IMDSv2 session-token API.
pub const TOKEN_PATH: &str = "/latest/api/token";

/// Default connect timeout and per-attempt timeout when no timeout is configured.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default time one attempt may take when no timeout is configured: a slow first
/// response is tolerated, a dead endpoint is not (the connect timeout catches that).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of attempts per request (as aws-config).
pub const DEFAULT_NUM_ATTEMPTS: u32 = 4;
/// Default overall deadline for one call, retries and token fetch included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// The token lifetime the client asks for (the maximum, as the SDKs do).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(21600);
/// A cached token is replaced once it has less than this left to live.
pub const TOKEN_REFRESH_BUFFER: Duration = Duration::from_secs(120);
/// The first retry waits this long; each further retry doubles it.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(100);
/// No single retry waits longer than this.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// Which of the two link-local endpoints to use when none is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointMode {
    /// `http://169.254.169.254`
    Ipv4,
    /// `http://[fd00:ec2::254]`
    Ipv6,
}

impl EndpointMode {
    /// Parse `IPv4` / `IPv6` case-insensitively, as the SDKs do.
    pub fn parse(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("ipv4") {
            Some(Self::Ipv4)
        } else if value.eq_ignore_ascii_case("ipv6") {
            Some(Self::Ipv6)
        } else {
            None
        }
    }

    /// The endpoint URL for this mode.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::Ipv4 => IPV4_ENDPOINT,
            Self::Ipv6 => IPV6_ENDPOINT,
        }
    }
}

/// Looks a profile key up: its value and, when known, where it is written (`FILE:LINE`).
pub type LocatedLookup<'a> = &'a dyn Fn(&str) -> Option<(String, Option<String>)>;

/// Which failed token requests let a read go on without a token (IMDSv1), when the
/// fallback is allowed at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V1Fallback {
    /// A refusal (403, 404, 405) or a token request that timed out; anything else (400,
    /// 5xx after the retries, a refused connection) is an error.
    OnRefusal,
    /// Any answer but 200, and any failed token request except a refused connection
    /// (the service is not there at all): how botocore, the AWS CLI and the Go SDK read
    /// the instance profile.
    OnAnyFailure,
    /// Any failed token request except a 400 answer: how the AWS SDK for JavaScript v3
    /// reads the instance profile.
    UnlessBadRequest,
}

/// A raw setting and where it came from (`AWS_…` variable or profile key), for errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced {
    /// The value as written.
    pub value: String,
    /// `env AWS_…`, `profile key …` or `command line`.
    pub source: String,
}

impl Sourced {
    fn env(var: &str, value: String) -> Self {
        Self {
            value,
            source: format!("environment variable {var}"),
        }
    }

    fn profile(key: &str, value: String) -> Self {
        Self {
            value,
            source: format!("profile key {key}"),
        }
    }
}

/// How the client reaches IMDS: endpoint, IMDSv1 policy, timeouts and retries.
///
/// Build it with [`ImdsSettings::from_context`] (environment only), feed profile values
/// with [`ImdsSettings::apply_profile`], adjust fields, then make a client with
/// [`super::ImdsClient::from_settings`].
#[derive(Clone, Debug)]
pub struct ImdsSettings {
    /// `AWS_EC2_METADATA_DISABLED=true`: every request fails without touching the network.
    pub disabled: bool,
    /// An endpoint given on the command line (`--imds URL`); beats everything.
    pub endpoint_override: Option<String>,
    /// An endpoint mode given explicitly; beats the configured mode, not a configured
    /// endpoint.
    pub mode_override: Option<EndpointMode>,
    /// The configured endpoint (environment, then profile).
    pub endpoint: Option<Sourced>,
    /// The configured endpoint mode (environment, then profile).
    pub endpoint_mode: Option<Sourced>,
    /// Whether the selected behaviour may fall back to IMDSv1 when no token can be had:
    /// on for botocore, the AWS CLI and cloud-init, off for aws-sdk-rust.
    pub fallback_to_v1: bool,
    /// `AWS_EC2_METADATA_V1_DISABLED` / `ec2_metadata_v1_disabled`.
    pub v1_disabled: Option<Sourced>,
    /// `AWS_METADATA_SERVICE_TIMEOUT` / `metadata_service_timeout` (seconds).
    pub timeout: Option<Sourced>,
    /// `AWS_METADATA_SERVICE_NUM_ATTEMPTS` / `metadata_service_num_attempts`.
    pub num_attempts: Option<Sourced>,
    /// Overall deadline of one call, retries and token fetch included.
    pub deadline: Duration,
    /// The token lifetime to ask for.
    pub token_ttl: Duration,
    /// The first retry delay (doubled per retry, capped); zero in tests.
    pub retry_base: Duration,
    /// Whether each retry waits twice as long as the one before (with jitter), or every
    /// retry waits exactly [`Self::retry_base`].
    pub retry_doubles: bool,
    /// Whether a refused connection or a timed-out attempt is tried again (5xx answers
    /// always are, up to the attempts).
    pub retry_transport_errors: bool,
    /// Send requests out of this network interface (`SO_BINDTODEVICE`), so that a
    /// secondary ENI's requests count against its own packet budget, not the primary's.
    pub bind_interface: Option<String>,
    /// Give every socket this firewall mark (`SO_MARK`, needs `CAP_NET_ADMIN`): systemd's
    /// locked-down IMDS route (`85-imds-early.network`) lets only sockets marked
    /// [`super::lockdown::FWMARK`] reach the service. See [`super::lockdown::detect`].
    pub fwmark: Option<u32>,
    /// Which token failures fall back to IMDSv1 when [`Self::allows_v1`].
    pub v1_fallback: V1Fallback,
    /// A fixed number of attempts that beats the configured one (an SDK's own count).
    pub attempts_override: Option<u32>,
    /// A fixed connect and per-attempt timeout that beats the configured one.
    pub timeout_override: Option<Duration>,
    /// Whether a read (GET) is tried again on any answer but a 200 with a body, up to the
    /// attempts, as botocore's `IMDSFetcher` does (4xx and empty bodies included); when
    /// off, only 5xx answers are.
    pub retry_any_status: bool,
}

/// The endpoint as configured, before it is checked, and where it came from (for
/// `strap creds explain` and errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointChoice {
    /// The URL as written (a trailing `/` kept).
    pub url: String,
    /// `command line`, `environment variable …`, `profile key … at FILE:LINE`,
    /// `endpoint mode IPv6` or `the default`.
    pub origin: String,
}

impl Default for ImdsSettings {
    fn default() -> Self {
        Self {
            disabled: false,
            endpoint_override: None,
            mode_override: None,
            endpoint: None,
            endpoint_mode: None,
            fallback_to_v1: true,
            v1_disabled: None,
            timeout: None,
            num_attempts: None,
            deadline: DEFAULT_DEADLINE,
            token_ttl: DEFAULT_TOKEN_TTL,
            retry_base: DEFAULT_RETRY_BASE,
            retry_doubles: true,
            retry_transport_errors: true,
            bind_interface: None,
            fwmark: None,
            v1_fallback: V1Fallback::OnRefusal,
            attempts_override: None,
            timeout_override: None,
            retry_any_status: false,
        }
    }
}

/// Whether a setting's text means true (`true` in any case, as the SDKs read it).
fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

impl ImdsSettings {
    /// The settings from the environment alone (profile values come later through
    /// [`Self::apply_profile`]). IMDSv1 fallback is allowed, as in botocore and the CLI.
    pub fn from_context(ctx: &Context) -> Self {
        let var = |name: &str| ctx.var(name).map(|v| Sourced::env(name, v));
        Self {
            disabled: ctx.var(ENV_DISABLED).is_some_and(|v| is_true(&v)),
            endpoint: var(ENV_ENDPOINT),
            endpoint_mode: var(ENV_ENDPOINT_MODE),
            v1_disabled: var(ENV_V1_DISABLED),
            timeout: var(ENV_TIMEOUT),
            num_attempts: var(ENV_NUM_ATTEMPTS),
            ..Self::default()
        }
    }

    /// Fill in what the environment left unset from the selected profile (`get` returns
    /// a key's value in that profile). The environment keeps precedence.
    pub fn apply_profile(&mut self, get: &dyn Fn(&str) -> Option<String>) {
        self.apply_profile_at(&|key| get(key).map(|v| (v, None)));
    }

    /// As [`Self::apply_profile`], with `get` also saying where the key is written
    /// (`FILE:LINE`), so that the source of a value names it.
    pub fn apply_profile_at(&mut self, get: LocatedLookup<'_>) {
        let fill = |slot: &mut Option<Sourced>, key: &str| {
            if slot.is_none() {
                *slot = get(key).map(|(v, at)| {
                    let mut sourced = Sourced::profile(key, v);
                    if let Some(at) = at {
                        sourced.source = format!("{} at {at}", sourced.source);
                    }
                    sourced
                });
            }
        };
        fill(&mut self.endpoint, PROFILE_ENDPOINT);
        fill(&mut self.endpoint_mode, PROFILE_ENDPOINT_MODE);
        fill(&mut self.v1_disabled, PROFILE_V1_DISABLED);
        fill(&mut self.timeout, PROFILE_TIMEOUT);
        fill(&mut self.num_attempts, PROFILE_NUM_ATTEMPTS);
    }

    /// Use this endpoint whatever the environment and profile say (`--imds URL`).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint_override = Some(endpoint.into());
        self
    }

    /// Send requests out of this interface.
    pub fn through_interface(mut self, interface: impl Into<String>) -> Self {
        self.bind_interface = Some(interface.into());
        self
    }

    /// Mark every socket with `mark` (`SO_MARK`), or none.
    pub fn with_fwmark(mut self, mark: Option<u32>) -> Self {
        self.fwmark = mark;
        self
    }

    /// Behave as aws-sdk-rust: IMDSv2 only, never fall back to IMDSv1.
    pub fn v2_only(mut self) -> Self {
        self.fallback_to_v1 = false;
        self
    }

    /// Whether requests without a token are allowed when no token can be had.
    pub fn allows_v1(&self) -> bool {
        self.fallback_to_v1 && !self.v1_disabled.as_ref().is_some_and(|s| is_true(&s.value))
    }

    /// The endpoint base URL, without a trailing `/`: the explicit override, else the
    /// configured endpoint, else the explicit or configured mode, else IPv4.
    pub fn resolve_endpoint(&self) -> Result<String, ImdsError> {
        let choice = self.choose_endpoint(false)?;
        validate_endpoint(&choice.url, &choice.origin)
    }

    /// The endpoint as the credential chain shows it: chosen as [`Self::resolve_endpoint`]
    /// chooses, but unchecked, and an unrecognised mode reads as the IPv4 default rather
    /// than an error (the chain reports a bad endpoint when it is used).
    pub fn configured_endpoint(&self) -> EndpointChoice {
        match self.choose_endpoint(true) {
            Ok(choice) => choice,
            Err(_) => EndpointChoice {
                url: IPV4_ENDPOINT.to_string(),
                origin: "the default".to_string(),
            },
        }
    }

    /// Override, endpoint, mode, default; with `lenient`, a mode that is neither IPv4 nor
    /// IPv6 reads as the default.
    fn choose_endpoint(&self, lenient: bool) -> Result<EndpointChoice, ImdsError> {
        if let Some(endpoint) = &self.endpoint_override {
            return Ok(EndpointChoice {
                url: endpoint.clone(),
                origin: "command line".to_string(),
            });
        }
        if let Some(endpoint) = &self.endpoint {
            return Ok(EndpointChoice {
                url: endpoint.value.clone(),
                origin: endpoint.source.clone(),
            });
        }
        let mode = match (self.mode_override, &self.endpoint_mode) {
            (Some(mode), _) => Some(mode),
            (None, Some(raw)) => match EndpointMode::parse(raw.value.trim()) {
                Some(mode) => Some(mode),
                None if lenient => None,
                None => {
                    return Err(ImdsError::InvalidEndpointMode {
                        value: raw.value.clone(),
                        source_name: raw.source.clone(),
                    })
                }
            },
            (None, None) => None,
        };
        Ok(match mode {
            Some(EndpointMode::Ipv6) => EndpointChoice {
                url: IPV6_ENDPOINT.to_string(),
                origin: "endpoint mode IPv6".to_string(),
            },
            Some(EndpointMode::Ipv4) | None => EndpointChoice {
                url: IPV4_ENDPOINT.to_string(),
                origin: "the default".to_string(),
            },
        })
    }

    /// The URL of the token API at the resolved endpoint.
    pub fn token_url(&self) -> Result<String, ImdsError> {
        Ok(format!("{}{TOKEN_PATH}", self.resolve_endpoint()?))
    }

    /// The configured timeout: connect timeout and per-attempt timeout.
    pub fn resolve_timeout(&self) -> Result<Option<Duration>, ImdsError> {
        if let Some(timeout) = self.timeout_override {
            return Ok(Some(timeout));
        }
        let Some(raw) = &self.timeout else {
            return Ok(None);
        };
        match raw.value.trim().parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 3600.0 => {
                Ok(Some(Duration::from_secs_f64(secs)))
            }
            _ => Err(ImdsError::InvalidSetting {
                value: raw.value.clone(),
                source_name: raw.source.clone(),
                expected: "a number of seconds greater than 0",
            }),
        }
    }

    /// The configured number of attempts, at least 1.
    pub fn resolve_num_attempts(&self) -> Result<u32, ImdsError> {
        if let Some(n) = self.attempts_override {
            return Ok(n.max(1));
        }
        let Some(raw) = &self.num_attempts else {
            return Ok(DEFAULT_NUM_ATTEMPTS);
        };
        match raw.value.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ImdsError::InvalidSetting {
                value: raw.value.clone(),
                source_name: raw.source.clone(),
                expected: "a whole number of attempts, 1 or more",
            }),
        }
    }
}

/// Check an endpoint URL: no characters a URI cannot hold, `http` or `https`, a host.
/// Returns it without a trailing `/` (a path prefix is kept).
fn validate_endpoint(raw: &str, source: &str) -> Result<String, ImdsError> {
    let invalid = |reason: String| ImdsError::InvalidEndpoint {
        value: raw.to_string(),
        source_name: source.to_string(),
        reason,
    };
    if let Some((at, c)) = raw.char_indices().find(|(_, c)| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
    }) {
        return Err(invalid(format!("invalid uri character {c:?} at byte {at}")));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| invalid(format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme `{}` is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_string()));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(vars: &[(&str, &str)]) -> Context {
        Context::fixed(vars.iter().map(|(k, v)| (*k, *v)), "/")
    }

    #[test]
    fn env_beats_profile_per_key() {
        let mut s = ImdsSettings::from_context(&ctx(&[(ENV_ENDPOINT, "http://env:1")]));
        s.apply_profile(&|key| match key {
            PROFILE_ENDPOINT => Some("http://profile:2".into()),
            PROFILE_NUM_ATTEMPTS => Some("7".into()),
            _ => None,
        });
        assert_eq!(s.resolve_endpoint().unwrap(), "http://env:1");
        assert_eq!(s.resolve_num_attempts().unwrap(), 7);
        assert_eq!(
            s.num_attempts.unwrap().source,
            "profile key metadata_service_num_attempts"
        );
    }

    #[test]
    fn v1_policy() {
        assert!(ImdsSettings::from_context(&ctx(&[])).allows_v1());
        assert!(!ImdsSettings::from_context(&ctx(&[])).v2_only().allows_v1());
        assert!(!ImdsSettings::from_context(&ctx(&[(ENV_V1_DISABLED, "TRUE")])).allows_v1());
        assert!(ImdsSettings::from_context(&ctx(&[(ENV_V1_DISABLED, "false")])).allows_v1());
    }

    #[test]
    fn disabled_only_by_true() {
        assert!(ImdsSettings::from_context(&ctx(&[(ENV_DISABLED, "True")])).disabled);
        assert!(!ImdsSettings::from_context(&ctx(&[(ENV_DISABLED, "1")])).disabled);
    }

    #[test]
    fn bad_numbers_name_their_source() {
        let s = ImdsSettings::from_context(&ctx(&[(ENV_TIMEOUT, "soon"), (ENV_NUM_ATTEMPTS, "0")]));
        let e = s.resolve_timeout().unwrap_err().to_string();
        assert!(
            e.contains("AWS_METADATA_SERVICE_TIMEOUT") && e.contains("soon"),
            "{e}"
        );
        let e = s.resolve_num_attempts().unwrap_err().to_string();
        assert!(e.contains("AWS_METADATA_SERVICE_NUM_ATTEMPTS"), "{e}");
        let s = ImdsSettings::from_context(&ctx(&[(ENV_TIMEOUT, "0.25")]));
        assert_eq!(
            s.resolve_timeout().unwrap(),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn configured_endpoint_says_where_it_came_from() {
        let mut s = ImdsSettings::from_context(&ctx(&[(ENV_ENDPOINT_MODE, "IPv6")]));
        assert_eq!(
            s.configured_endpoint(),
            EndpointChoice {
                url: IPV6_ENDPOINT.into(),
                origin: "endpoint mode IPv6".into()
            }
        );
        s.apply_profile_at(&|key| {
            (key == PROFILE_ENDPOINT).then(|| ("http://10.0.0.1/".into(), Some("/c:2".into())))
        });
        let choice = s.configured_endpoint();
        assert_eq!(choice.url, "http://10.0.0.1/");
        assert_eq!(
            choice.origin,
            "profile key ec2_metadata_service_endpoint at /c:2"
        );
        assert_eq!(s.resolve_endpoint().unwrap(), "http://10.0.0.1");
        // An unknown mode: an error when resolving, the default when only shown.
        let s = ImdsSettings::from_context(&ctx(&[(ENV_ENDPOINT_MODE, "IPv5")]));
        assert!(s.resolve_endpoint().is_err());
        assert_eq!(s.configured_endpoint().url, IPV4_ENDPOINT);
    }

    #[test]
    fn overrides_beat_configured_attempts_and_timeout() {
        let mut s =
            ImdsSettings::from_context(&ctx(&[(ENV_TIMEOUT, "9"), (ENV_NUM_ATTEMPTS, "7")]));
        s.attempts_override = Some(0);
        s.timeout_override = Some(Duration::from_secs(1));
        assert_eq!(s.resolve_num_attempts().unwrap(), 1);
        assert_eq!(s.resolve_timeout().unwrap(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn endpoint_keeps_a_path_prefix_and_rejects_other_schemes() {
        let s = ImdsSettings::default().with_endpoint("http://127.0.0.1:9/prefix/");
        assert_eq!(
            s.token_url().unwrap(),
            "http://127.0.0.1:9/prefix/latest/api/token"
        );
        let s = ImdsSettings::default().with_endpoint("ftp://x");
        assert!(s
            .resolve_endpoint()
            .unwrap_err()
            .to_string()
            .contains("ftp"));
    }
}

/// The AWS SDKs' shared endpoint-resolution cases, one per entry of the data file.
#[cfg(test)]
mod conformance {
    use super::*;

    const CASES: &str = include_str!("../../tests/data/aws-sdk/imds-endpoint-tests.json");

    /// The `[default]` section of a config file, enough for these cases.
    fn default_profile(text: &str) -> Vec<(String, String)> {
        let mut in_default = false;
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_default = line == "[default]";
            } else if let (true, Some((k, v))) = (in_default, line.split_once('=')) {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        out
    }

    #[test]
    fn endpoint_conformance_cases() {
        let doc: serde_json::Value = serde_json::from_str(CASES).unwrap();
        let cases = doc["tests"].as_array().unwrap();
        assert!(cases.len() >= 14);
        for case in cases {
            let docs = case["docs"].as_str().unwrap();
            let env: Vec<(String, String)> = case["env"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let ctx = Context::fixed(env.clone(), "/");
            let mut settings = ImdsSettings::from_context(&ctx);
            if let Some((_, file)) = env.iter().find(|(k, _)| k == "AWS_CONFIG_FILE") {
                let text = case["fs"][file.as_str()].as_str().unwrap_or("");
                let profile = default_profile(text);
                settings.apply_profile(&|key| {
                    profile
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.clone())
                });
            }
            if let Some(endpoint) = case["endpoint_override"].as_str() {
                settings = settings.with_endpoint(endpoint);
            }
            if let Some(mode) = case["mode_override"].as_str() {
                settings.mode_override = Some(EndpointMode::parse(mode).unwrap());
            }
            let got = settings.token_url();
            match (&case["result"]["Ok"], &case["result"]["Err"]) {
                (serde_json::Value::String(want), _) => {
                    assert_eq!(
                        got.as_deref().ok(),
                        Some(want.as_str()),
                        "case `{docs}`: {got:?}"
                    );
                }
                (_, serde_json::Value::String(want)) => {
                    let err = got.expect_err(docs).to_string();
                    assert!(
                        err.contains(want.as_str()),
                        "case `{docs}`: `{err}` lacks `{want}`"
                    );
                }
                _ => panic!("case `{docs}` has no result"),
            }
        }
    }
}
