//! The mock's configuration: what instance it pretends to be and how its metadata service
//! is set up. Every value has a realistic default, so an empty YAML document (or
//! `Config::default()`) describes a plausible `m5.large` in `us-east-1`. This module only
//! parses and validates; it never starts anything or touches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Default listen address of the mock (the port other IMDS mocks use).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1338";

/// Largest user data EC2 accepts, in raw bytes (before base64).
pub const MAX_USER_DATA: usize = 16384;

/// Longest IMDSv2 token lifetime, in seconds.
pub const MAX_TOKEN_TTL: u64 = 21600;

/// Default lifetime of instance-profile credentials (6 h, as observed on EC2).
pub const DEFAULT_CREDENTIAL_LIFETIME_SECS: u64 = 6 * 3600;

/// Default lead time before expiry at which a new credential set is issued. EC2 promises at
/// least five minutes; an hour keeps clear of botocore's 17–25 minute extension window.
pub const DEFAULT_ROTATE_BEFORE_SECS: u64 = 3600;

/// `HttpTokens`: whether IMDSv1 (token-less) requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HttpTokens {
    /// IMDSv1 and IMDSv2 both work.
    #[default]
    Optional,
    /// Every request needs a valid session token.
    Required,
}

/// `HttpEndpoint`, `HttpProtocolIpv6` and `InstanceMetadataTags` are all `enabled|disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    Enabled,
    Disabled,
}

impl Toggle {
    /// Whether the toggle is `enabled`.
    pub fn is_enabled(self) -> bool {
        self == Toggle::Enabled
    }
}

/// The five `MetadataOptions` of the EC2 API, changeable at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataOptions {
    pub http_tokens: HttpTokens,
    /// IP TTL of token responses, 1..=64.
    pub http_put_response_hop_limit: u8,
    pub http_endpoint: Toggle,
    pub http_protocol_ipv6: Toggle,
    pub instance_metadata_tags: Toggle,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        Self {
            http_tokens: HttpTokens::Optional,
            http_put_response_hop_limit: 1,
            http_endpoint: Toggle::Enabled,
            http_protocol_ipv6: Toggle::Disabled,
            instance_metadata_tags: Toggle::Disabled,
        }
    }
}

/// A partial update of [`MetadataOptions`] (`ModifyInstanceMetadataOptions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataOptionsPatch {
    pub http_tokens: Option<HttpTokens>,
    pub http_put_response_hop_limit: Option<u8>,
    pub http_endpoint: Option<Toggle>,
    pub http_protocol_ipv6: Option<Toggle>,
    pub instance_metadata_tags: Option<Toggle>,
}

/// Timing of instance-profile credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialOptions {
    /// Lifetime of each credential set, seconds.
    pub lifetime_secs: u64,
    /// A new set is issued this many seconds before the current one expires.
    pub rotate_before_secs: u64,
    /// Serve `iam/security-credentials-extended/` (adds `AccountId`).
    pub extended: bool,
    /// Answer credential requests with this error `Code` instead (HTTP 200, as EC2 does),
    /// e.g. `AssumeRoleUnauthorizedAccess` when the role does not trust EC2.
    pub error_code: Option<String>,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        Self {
            lifetime_secs: DEFAULT_CREDENTIAL_LIFETIME_SECS,
            rotate_before_secs: DEFAULT_ROTATE_BEFORE_SECS,
            extended: true,
            error_code: None,
        }
    }
}

/// The container-credentials endpoints the mock also serves: ECS (`/v2/credentials/<id>`)
/// and EKS Pod Identity (`/v1/credentials`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerOptions {
    /// The task / pod role whose credentials they serve.
    pub role: String,
    /// The id in `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<id>`.
    pub credential_id: String,
    /// The token EKS Pod Identity expects in `Authorization` (the content of
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`).
    pub authorization_token: String,
}

impl Default for ContainerOptions {
    fn default() -> Self {
        Self {
            role: "ecs-task-role".into(),
            credential_id: "5c2f8e8e-3d4b-4f21-9a6e-2b8d4c1f7a90".into(),
            authorization_token: "mock-pod-identity-token".into(),
        }
    }
}

/// A fault injected on every request whose path starts with `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Path prefix the fault applies to (`/` for everything, `/latest/api/token`, …).
    pub path: String,
    /// Delay before answering, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction (0..=1) of requests answered with `error_status` instead.
    #[serde(default)]
    pub error_rate: f64,
    /// Status used for injected errors (default 503).
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    /// Fraction (0..=1) of requests whose connection is dropped without an answer.
    #[serde(default)]
    pub drop_rate: f64,
    /// Serve instance-profile credentials whose `Expiration` is already past.
    #[serde(default)]
    pub expired_credentials: bool,
}

fn default_error_status() -> u16 {
    503
}

/// Per-instance query throttling, as EC2 does it: over the rate, requests are dropped
/// (the real symptom is dropped packets and timeouts, never an HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Sustained requests per second.
    pub requests_per_sec: f64,
    /// Requests allowed in a burst above the rate.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_burst() -> u32 {
    10
}

/// A spot interruption notice (`spot/instance-action`, `spot/termination-time`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotConfig {
    /// `terminate`, `stop` or `hibernate`.
    #[serde(default = "default_spot_action")]
    pub action: String,
    /// Seconds after start-up at which the notice appears.
    #[serde(default)]
    pub delay_secs: u64,
}

fn default_spot_action() -> String {
    "terminate".into()
}

/// A scheduled maintenance event (`events/maintenance/scheduled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    /// `instance-reboot`, `system-reboot`, `system-maintenance`, `instance-retirement`,
    /// `instance-stop`.
    #[serde(default = "default_event_code")]
    pub code: String,
    #[serde(default = "default_event_description")]
    pub description: String,
    /// Seconds after start-up of `NotBefore`.
    #[serde(default = "default_event_not_before")]
    pub not_before_secs: u64,
    /// Length of the window, seconds.
    #[serde(default = "default_event_window")]
    pub window_secs: u64,
}

fn default_event_code() -> String {
    "system-reboot".into()
}
fn default_event_description() -> String {
    "scheduled reboot".into()
}
fn default_event_not_before() -> u64 {
    7 * 24 * 3600
}
fn default_event_window() -> u64 {
    1000
}

/// The whole configuration. YAML keys are the field names.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// A second, IPv6 address to listen on (the `[fd00:ec2::254]` endpoint; e.g. `[::1]:0`).
    /// Requests arriving over IPv6 are answered only while `http_protocol_ipv6` is enabled;
    /// otherwise their connection is dropped, as the real endpoint is unreachable.
    pub listen_ipv6: Option<String>,
    /// Where the token key (and other state that must survive a restart) lives.
    pub state_dir: Option<PathBuf>,
    /// Answer like real IMDS with `Connection: close` (set `false` for keep-alive).
    pub connection_close: bool,

    // --- MetadataOptions
    pub http_tokens: HttpTokens,
    pub http_put_response_hop_limit: u8,
    pub http_endpoint: Toggle,
    pub http_protocol_ipv6: Toggle,
    pub instance_metadata_tags: Toggle,

    // --- the instance
    pub instance_id: String,
    pub ami_id: String,
    pub ami_launch_index: u32,
    pub instance_type: String,
    pub architecture: String,
    pub instance_life_cycle: String,
    pub region: String,
    /// Defaults to `<region>a`.
    pub availability_zone: Option<String>,
    pub availability_zone_id: String,
    pub account_id: String,
    pub reservation_id: String,
    pub private_ip: String,
    /// Public IPv4 (changes on stop/start unless `elastic_ip` is set); `None` = no public IP.
    pub public_ip: Option<String>,
    pub elastic_ip: Option<String>,
    pub ipv6: Option<String>,
    pub mac: String,
    pub interface_id: String,
    pub subnet_id: String,
    pub subnet_cidr: String,
    /// More private IPv4 addresses of the primary interface (after `private_ip`).
    pub secondary_private_ips: Vec<String>,
    /// More IPv6 addresses of the primary interface (after `ipv6`).
    pub ipv6s: Vec<String>,
    /// Delegated prefixes of the primary interface (`ipv4-prefix`, `ipv6-prefix`).
    pub ipv4_prefixes: Vec<String>,
    pub ipv6_prefixes: Vec<String>,
    /// The primary interface's network card (`network-card` is served only when some
    /// interface is on a card other than 0: a multi-card instance type).
    pub network_card: u32,
    /// More interfaces attached at launch (the primary is the top-level keys).
    pub network_interfaces: Vec<InterfaceConfig>,
    /// How long an interface attached through the control API takes to appear in the
    /// metadata (EC2: up to 30 s).
    pub eni_propagation_delay_secs: u64,
    pub vpc_id: String,
    pub vpc_cidr: String,
    /// Security groups: name → id.
    pub security_groups: BTreeMap<String, String>,
    /// Key pairs: name → OpenSSH public key.
    pub public_keys: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Autoscaling target lifecycle state (`InService`, …); `None` = not in an ASG.
    pub autoscaling_lifecycle_state: Option<String>,

    // --- user data
    /// User data; a string in YAML (use `user_data_file` for binary data).
    #[serde(
        serialize_with = "serialize_user_data",
        deserialize_with = "deserialize_user_data"
    )]
    pub user_data: Option<Vec<u8>>,
    /// Read user data from this file at start-up (takes precedence over `user_data`).
    pub user_data_file: Option<PathBuf>,

    // --- IAM
    /// Instance-profile role name; `None` = no instance profile.
    pub role: Option<String>,
    pub credentials: CredentialOptions,
    pub container: ContainerOptions,

    // --- events and faults
    pub spot: Option<SpotConfig>,
    pub rebalance_delay_secs: Option<u64>,
    pub maintenance_events: Vec<EventConfig>,
    pub faults: Vec<Fault>,
    /// Drop requests over this rate (`None`: no throttling).
    pub throttle: Option<Throttle>,
    /// Drop requests over this rate per network interface, as EC2 drops an ENI's
    /// packets to the metadata service over 1024 per second (`None`: no limit). A
    /// request counts against the interface one of whose private addresses it comes
    /// from, else against the primary (the one the default route leaves by).
    pub interface_throttle: Option<Throttle>,
}

/// An elastic network interface beyond the primary (`network_interfaces`, or the body
/// of `POST /_mock/network-interfaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    pub mac: String,
    /// Default: `eni-` and 17 hex digits derived from the MAC.
    #[serde(default)]
    pub interface_id: Option<String>,
    pub device_number: u32,
    #[serde(default)]
    pub network_card: u32,
    /// Default: derived from the subnet.
    #[serde(default)]
    pub subnet_id: Option<String>,
    pub subnet_cidr: String,
    /// The interface's private IPv4 addresses, its primary first (may be empty on an
    /// IPv6-only subnet).
    #[serde(default)]
    pub private_ips: Vec<String>,
    #[serde(default)]
    pub ipv6s: Vec<String>,
    /// Default: the /64 of the first IPv6 address.
    #[serde(default)]
    pub subnet_ipv6_cidr: Option<String>,
    #[serde(default)]
    pub ipv4_prefixes: Vec<String>,
    #[serde(default)]
    pub ipv6_prefixes: Vec<String>,
    /// Default: the instance's.
    #[serde(default)]
    pub security_groups: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub public_ip: Option<String>,
    /// Control API only: overrides `eni_propagation_delay_secs` for this attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_secs: Option<u64>,
}

impl InterfaceConfig {
    /// The interface id, given or derived from the MAC.
    pub fn id(&self) -> String {
        self.interface_id.clone().unwrap_or_else(|| {
            let hex: String = self.mac.chars().filter(|c| *c != ':').collect();
            format!("eni-0{:0>16}", &hex[hex.len().saturating_sub(16)..])
        })
    }
}

/// An IPv4 CIDR as (network, length).
pub fn parse_v4_cidr(text: &str) -> Option<(u32, u8)> {
    let (a, l) = text.split_once('/')?;
    let a: std::net::Ipv4Addr = a.parse().ok()?;
    let l: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0);
    Some((u32::from(a) & mask, l))
}

fn v4_inside(ip: &str, cidr: (u32, u8)) -> bool {
    let Ok(a) = ip.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - u32::from(cidr.1)).unwrap_or(0);
    u32::from(a) & mask == cidr.0
}

fn v6_cidr_ok(text: &str) -> bool {
    text.split_once('/').is_some_and(|(a, l)| {
        a.parse::<std::net::Ipv6Addr>().is_ok() && l.parse::<u8>().is_ok_and(|l| l <= 128)
    })
}

/// Check one interface (`at` names it in messages: `network_interfaces[1]`).
pub fn check_interface(i: &InterfaceConfig, at: &str) -> Result<(), ConfigError> {
    let bad = |m: String| invalid("network_interfaces", format!("{at}: {m}"));
    if !is_mac(&i.mac) {
        return Err(bad(format!(
            "mac `{}` is not a lower-case colon-separated MAC",
            i.mac
        )));
    }
    let subnet = parse_v4_cidr(&i.subnet_cidr).ok_or_else(|| {
        bad(format!(
            "subnet_cidr `{}` is not an IPv4 CIDR",
            i.subnet_cidr
        ))
    })?;
    if i.private_ips.is_empty() && i.ipv6s.is_empty() {
        return Err(bad("needs private_ips or ipv6s".into()));
    }
    for (n, ip) in i.private_ips.iter().enumerate() {
        if !v4_inside(ip, subnet) {
            return Err(bad(format!(
                "private_ips[{n}] `{ip}` is not an IPv4 address inside {}",
                i.subnet_cidr
            )));
        }
    }
    for (n, ip) in i.ipv6s.iter().enumerate() {
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(format!("ipv6s[{n}] `{ip}` is not an IPv6 address")));
        }
    }
    if let Some(c) = &i.subnet_ipv6_cidr {
        if !v6_cidr_ok(c) {
            return Err(bad(format!("subnet_ipv6_cidr `{c}` is not an IPv6 CIDR")));
        }
    }
    for (n, p) in i.ipv4_prefixes.iter().enumerate() {
        match parse_v4_cidr(p) {
            Some((net, _)) if v4_inside(&std::net::Ipv4Addr::from(net).to_string(), subnet) => {}
            _ => {
                return Err(bad(format!(
                    "ipv4_prefixes[{n}] `{p}` is not an IPv4 CIDR inside {}",
                    i.subnet_cidr
                )))
            }
        }
    }
    for (n, p) in i.ipv6_prefixes.iter().enumerate() {
        if !v6_cidr_ok(p) {
            return Err(bad(format!("ipv6_prefixes[{n}] `{p}` is not an IPv6 CIDR")));
        }
    }
    Ok(())
}

impl Default for Config {
    fn default() -> Self {
        let mut security_groups = BTreeMap::new();
        security_groups.insert("default".into(), "sg-0a1b2c3d4e5f60718".into());
        Self {
            listen: DEFAULT_LISTEN.into(),
            listen_ipv6: None,
            state_dir: None,
            connection_close: true,
            http_tokens: HttpTokens::Optional,
            http_put_response_hop_limit: 1,
            http_endpoint: Toggle::Enabled,
            http_protocol_ipv6: Toggle::Disabled,
            instance_metadata_tags: Toggle::Disabled,
            instance_id: "i-0b22a22eec53b9321".into(),
            ami_id: "ami-0c55b159cbfafe1f0".into(),
            ami_launch_index: 0,
            instance_type: "m5.large".into(),
            architecture: "x86_64".into(),
            instance_life_cycle: "on-demand".into(),
            region: "us-east-1".into(),
            availability_zone: None,
            availability_zone_id: "use1-az4".into(),
            account_id: "123456789012".into(),
            reservation_id: "r-046cb3e5ee1ad2a5f".into(),
            private_ip: "172.31.24.117".into(),
            public_ip: Some("54.87.213.46".into()),
            elastic_ip: None,
            ipv6: None,
            mac: "0e:49:61:0f:c3:11".into(),
            interface_id: "eni-0f95d3625f5c521cc".into(),
            subnet_id: "subnet-0be9b61d7a4c2e915".into(),
            subnet_cidr: "172.31.16.0/20".into(),
            secondary_private_ips: Vec::new(),
            ipv6s: Vec::new(),
            ipv4_prefixes: Vec::new(),
            ipv6_prefixes: Vec::new(),
            network_card: 0,
            network_interfaces: Vec::new(),
            eni_propagation_delay_secs: 0,
            vpc_id: "vpc-0d1e2f3a4b5c6d7e8".into(),
            vpc_cidr: "172.31.0.0/16".into(),
            security_groups,
            public_keys: BTreeMap::new(),
            tags: BTreeMap::new(),
            autoscaling_lifecycle_state: None,
            user_data: None,
            user_data_file: None,
            role: None,
            credentials: CredentialOptions::default(),
            container: ContainerOptions::default(),
            spot: None,
            rebalance_delay_secs: None,
            maintenance_events: Vec::new(),
            faults: Vec::new(),
            throttle: None,
            interface_throttle: None,
        }
    }
}

// Debug output leaves out what may be secret: user data (it can hold passwords) and the
// container authorization token.
impl std::fmt::Debug for ContainerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerOptions")
            .field("role", &self.role)
            .field("credential_id", &self.credential_id)
            .field("authorization_token", &"** redacted **")
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("state_dir", &self.state_dir)
            .field("metadata_options", &self.metadata_options())
            .field("instance_id", &self.instance_id)
            .field("ami_id", &self.ami_id)
            .field("instance_type", &self.instance_type)
            .field("region", &self.region)
            .field("role", &self.role)
            .field(
                "user_data",
                &self
                    .user_data
                    .as_ref()
                    .map(|d| format!("** {} bytes redacted **", d.len())),
            )
            .field("user_data_file", &self.user_data_file)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

fn serialize_user_data<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        None => s.serialize_none(),
        Some(bytes) => s.serialize_some(&String::from_utf8_lossy(bytes)),
    }
}

fn deserialize_user_data<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.map(String::into_bytes))
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot read user data file {path}")]
    UserDataFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "user data is {size} bytes, over the {MAX_USER_DATA}-byte limit EC2 enforces; shorten \
         it or compress it with gzip"
    )]
    UserDataTooLarge { size: usize },
    #[error("invalid value for {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Parse a YAML document; `origin` names it in errors. Errors carry the line and
    /// column of the offending key, as serde_yaml reports them.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Read and parse a YAML file (not yet validated).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::from_yaml(&text, path)?;
        // A relative `user_data_file` is relative to the config file, not the caller's cwd.
        if let (Some(file), Some(dir)) = (&config.user_data_file, path.parent()) {
            if file.is_relative() {
                config.user_data_file = Some(dir.join(file));
            }
        }
        Ok(config)
    }

    /// The configuration as YAML (what `--print-config` prints).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// Read `user_data_file`, if set, into `user_data`.
    pub fn load_user_data_file(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.user_data_file {
            let bytes = std::fs::read(path).map_err(|source| ConfigError::UserDataFile {
                path: path.clone(),
                source,
            })?;
            self.user_data = Some(bytes);
        }
        Ok(())
    }

    /// The availability zone, `<region>a` unless configured.
    pub fn availability_zone(&self) -> String {
        self.availability_zone
            .clone()
            .unwrap_or_else(|| format!("{}a", self.region))
    }

    /// The metadata options as one value.
    pub fn metadata_options(&self) -> MetadataOptions {
        MetadataOptions {
            http_tokens: self.http_tokens,
            http_put_response_hop_limit: self.http_put_response_hop_limit,
            http_endpoint: self.http_endpoint,
            http_protocol_ipv6: self.http_protocol_ipv6,
            instance_metadata_tags: self.instance_metadata_tags,
        }
    }

    /// Check values EC2 itself would refuse.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_user_data(self.user_data.as_deref())?;
        check_hop_limit(self.http_put_response_hop_limit)?;
        if !is_instance_id(&self.instance_id) {
            return Err(invalid(
                "instance_id",
                format!("`{}` is not `i-` and 8 or 17 hex digits", self.instance_id),
            ));
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("account_id", "must be 12 digits".into()));
        }
        if !is_mac(&self.mac) {
            return Err(invalid(
                "mac",
                format!("`{}` is not a lower-case colon-separated MAC", self.mac),
            ));
        }
        if let Some(az) = &self.availability_zone {
            if !az.starts_with(&self.region) || az.len() != self.region.len() + 1 {
                return Err(invalid(
                    "availability_zone",
                    format!("`{az}` is not region `{}` plus one letter", self.region),
                ));
            }
        }
        if let Some(role) = &self.role {
            check_role_name(role)?;
        }
        for key in self.tags.keys() {
            check_tag_key(key)?;
        }
        check_role_name(&self.container.role)?;
        if self.container.authorization_token.is_empty() || self.container.credential_id.is_empty()
        {
            return Err(invalid(
                "container",
                "credential_id and authorization_token must not be empty".into(),
            ));
        }
        let c = &self.credentials;
        if c.lifetime_secs < 60 || c.rotate_before_secs >= c.lifetime_secs {
            return Err(invalid(
                "credentials",
                "lifetime_secs must be at least 60 and above rotate_before_secs".into(),
            ));
        }
        for fault in &self.faults {
            check_fault(fault)?;
        }
        if let Some(spot) = &self.spot {
            check_spot_action(&spot.action)?;
        }
        if let Some(t) = &self.throttle {
            check_throttle(t)?;
        }
        if let Some(t) = &self.interface_throttle {
            check_throttle(t)?;
        }
        self.check_interfaces(&self.network_interfaces)
    }

    /// Check the interfaces beyond the primary: each valid, MACs unique, device
    /// numbers unique per network card.
    pub fn check_interfaces(&self, all: &[InterfaceConfig]) -> Result<(), ConfigError> {
        let mut macs = vec![self.mac.clone()];
        let mut slots = vec![(self.network_card, 0u32)];
        for (n, i) in all.iter().enumerate() {
            let at = format!("network_interfaces[{n}]");
            check_interface(i, &at)?;
            if macs.contains(&i.mac) {
                return Err(invalid(
                    "network_interfaces",
                    format!("{at}: mac `{}` is already used by another interface", i.mac),
                ));
            }
            if slots.contains(&(i.network_card, i.device_number)) {
                return Err(invalid(
                    "network_interfaces",
                    format!(
                        "{at}: device_number {} on network_card {} is already taken",
                        i.device_number, i.network_card
                    ),
                ));
            }
            macs.push(i.mac.clone());
            slots.push((i.network_card, i.device_number));
        }
        Ok(())
    }
}

fn invalid(key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { key, message }
}

/// User data must fit EC2's 16 KB limit.
pub fn check_user_data(data: Option<&[u8]>) -> Result<(), ConfigError> {
    match data {
        Some(d) if d.len() > MAX_USER_DATA => Err(ConfigError::UserDataTooLarge { size: d.len() }),
        _ => Ok(()),
    }
}

/// Hop limit must be 1..=64.
pub fn check_hop_limit(limit: u8) -> Result<(), ConfigError> {
    if (1..=64).contains(&limit) {
        Ok(())
    } else {
        Err(invalid(
            "http_put_response_hop_limit",
            format!("{limit} is outside 1..=64"),
        ))
    }
}

/// IAM role names: 1–64 of `[A-Za-z0-9+=,.@_-]`.
pub fn check_role_name(role: &str) -> Result<(), ConfigError> {
    let ok = !role.is_empty()
        && role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "role",
            format!("`{role}` is not an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)"),
        ))
    }
}

/// Tag keys usable in instance metadata: letters, digits, `+ - = . , _ : @`, at most 128
/// characters, not `.`, `..` or `_index`.
pub fn check_tag_key(key: &str) -> Result<(), ConfigError> {
    let ok = !key.is_empty()
        && key.chars().count() <= 128
        && key != "."
        && key != ".."
        && key != "_index"
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || "+-=.,_:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "tags",
            format!(
                "key `{key}` cannot appear in instance metadata (letters, digits, + - = . , _ : @)"
            ),
        ))
    }
}

/// Spot actions EC2 sends.
pub fn check_spot_action(action: &str) -> Result<(), ConfigError> {
    if ["terminate", "stop", "hibernate"].contains(&action) {
        Ok(())
    } else {
        Err(invalid(
            "spot.action",
            format!("`{action}` is not terminate, stop or hibernate"),
        ))
    }
}

/// A throttle needs a positive rate.
pub fn check_throttle(t: &Throttle) -> Result<(), ConfigError> {
    if t.requests_per_sec.is_finite() && t.requests_per_sec > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            "throttle.requests_per_sec",
            format!("{} is not a positive rate", t.requests_per_sec),
        ))
    }
}

/// Rates are fractions; statuses real HTTP statuses.
pub fn check_fault(fault: &Fault) -> Result<(), ConfigError> {
    if !fault.path.starts_with('/') {
        return Err(invalid(
            "faults.path",
            format!("`{}` must start with /", fault.path),
        ));
    }
    for (rate, name) in [
        (fault.error_rate, "error_rate"),
        (fault.drop_rate, "drop_rate"),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(invalid("faults", format!("{name} {rate} is outside 0..=1")));
        }
    }
    if !(400..=599).contains(&fault.error_status) {
        return Err(invalid(
            "faults.error_status",
            format!("{} is not a 4xx or 5xx status", fault.error_status),
        ));
    }
    Ok(())
}

fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 17 || hex.len() == 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn is_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts.iter().all(|p| {
            p.len() == 2
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        Config::default().validate().unwrap();
        assert_eq!(Config::default().availability_zone(), "us-east-1a");
    }

    #[test]
    fn empty_yaml_is_the_default() {
        assert_eq!(
            Config::from_yaml("", Path::new("x.yaml")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn user_data_is_a_yaml_string() {
        let c =
            Config::from_yaml("user_data: |\n  #!/bin/sh\n  echo hi\n", Path::new("x")).unwrap();
        assert_eq!(c.user_data.as_deref(), Some(&b"#!/bin/sh\necho hi\n"[..]));
    }

    #[test]
    fn oversized_user_data_names_the_size() {
        let c = Config {
            user_data: Some(vec![b'a'; MAX_USER_DATA + 1]),
            ..Config::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("16385 bytes"), "{err}");
        let c = Config {
            user_data: Some(vec![b'a'; MAX_USER_DATA]),
            ..Config::default()
        };
        c.validate().unwrap();
    }

    #[test]
    fn unknown_key_error_has_a_line() {
        let err = Config::from_yaml("role: web\nbogus_key: 1\n", Path::new("m.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus_key"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("m.yaml"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        for yaml in [
            "http_tokens: sometimes",
            "http_put_response_hop_limit: 0",
            "instance_id: x-123",
            "mac: 0E:49:61:0F:C3:11",
            "role: 'a b'",
            "tags: {'a b': c}",
            "credentials: {lifetime_secs: 100, rotate_before_secs: 200}",
            "faults: [{path: x}]",
            "spot: {action: explode}",
        ] {
            let res = Config::from_yaml(yaml, Path::new("x")).and_then(|c| c.validate());
            assert!(res.is_err(), "{yaml} was accepted");
        }
    }

    #[test]
    fn user_data_file_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ud.sh"), b"#!/bin/sh\n").unwrap();
        let file = dir.path().join("mock.yaml");
        std::fs::write(&file, "user_data_file: ud.sh\n").unwrap();
        let mut c = Config::from_file(&file).unwrap();
        c.load_user_data_file().unwrap();
        assert_eq!(c.user_data.as_deref(), Some(&b"#!/bin/sh\n"[..]));
    }

    #[test]
    fn debug_redacts_user_data_and_tokens() {
        let c = Config {
            user_data: Some(b"password: hunter2".to_vec()),
            ..Config::default()
        };
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains(&c.container.authorization_token), "{text}");
        assert!(text.contains("17 bytes redacted"), "{text}");
    }

    #[test]
    fn print_config_round_trips() {
        let c = Config {
            role: Some("web".into()),
            user_data: Some(b"#cloud-config\n".to_vec()),
            ..Config::default()
        };
        let back = Config::from_yaml(&c.to_yaml(), Path::new("x")).unwrap();
        assert_eq!(back, c);
    }
}
