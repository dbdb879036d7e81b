//! The metadata tree: building it from the configuration and runtime state, and resolving
//! a request path against it with IMDS's listing rules (children newline-separated, no
//! trailing newline, `/` after sub-trees; directories and leaves both answer with or
//! without a trailing slash; `public-keys/` lists `0=name`). Credentials are resolved by
//! the caller ([`Found::Dynamic`]) because they depend on the request and rotate.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::creds::{imds_json, info_document, timestamp, Profile};
use crate::runtime::{rebalance_document, spot_document, Runtime};

/// Every version `GET /` lists, oldest first.
pub const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2016-11-15",
    "2016-11-30",
    "2018-05-23",
    "2018-08-17",
    "2018-09-24",
    "2018-11-29",
    "2019-10-01",
    "2020-08-24",
    "2020-10-27",
    "2020-11-01",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "latest",
];

/// A dynamic leaf, resolved per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    /// `iam/security-credentials[-extended]/<role>`.
    RoleCredentials { extended: bool },
    /// `identity-credentials/ec2/security-credentials/ec2-instance`.
    IdentityCredentials,
    /// `dynamic/instance-identity/{signature,pkcs7,rsa2048}`.
    IdentitySignature(SignatureKind),
}

/// The signatures of the identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    Signature,
    Pkcs7,
    Rsa2048,
}

/// One node of the tree.
#[derive(Debug, Clone)]
pub enum Node {
    Dir(Vec<(String, Node)>),
    Leaf(Bytes),
    /// `public-keys/`: (name, key) pairs listed as `N=name`.
    Keys(Vec<(String, String)>),
    /// The user data (served as `application/octet-stream`).
    UserData(Bytes),
    Dynamic(Dynamic),
}

/// What a path resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A listing or a text leaf (`text/plain`).
    Text(Bytes),
    /// User data (`application/octet-stream`).
    UserData(Bytes),
    Dynamic(Dynamic),
}

/// The whole tree of one instance at one moment, plus when it must be rebuilt.
#[derive(Debug, Clone)]
pub struct Tree {
    root: Node,
    /// Rebuild once the clock reaches this (a scheduled notice appears).
    pub valid_until: Option<DateTime<Utc>>,
    /// `Last-Modified` of metadata answers: when the instance launched (HTTP date).
    pub last_modified: String,
    /// [`Tree::last_modified`] as a header value, built once per tree (not per answer).
    pub last_modified_header: Option<http::HeaderValue>,
}

fn leaf(v: impl Into<String>) -> Node {
    Node::Leaf(Bytes::from(v.into()))
}

fn dir(mut children: Vec<(&str, Node)>) -> Node {
    children.sort_by(|a, b| a.0.cmp(b.0));
    Node::Dir(
        children
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// Options the tree needs besides config and runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeOptions {
    /// Serve the identity document's signatures (when a signer is available).
    pub identity_signatures: bool,
}

/// `ec2.internal` in us-east-1, `<region>.compute.internal` elsewhere.
pub fn local_hostname(config: &Config) -> String {
    let ip = config.private_ip.replace('.', "-");
    if config.region == "us-east-1" {
        format!("ip-{ip}.ec2.internal")
    } else {
        format!("ip-{ip}.{}.compute.internal", config.region)
    }
}

/// Public DNS name for a public IP.
pub fn public_hostname(config: &Config, ip: &str) -> String {
    let ip = ip.replace('.', "-");
    let (domain, _) = partition(&config.region);
    if config.region == "us-east-1" {
        format!("ec2-{ip}.compute-1.{domain}")
    } else {
        format!("ec2-{ip}.{}.compute.{domain}", config.region)
    }
}

/// (domain, partition) of a region.
pub fn partition(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("amazonaws.com.cn", "aws-cn")
    } else if region.starts_with("us-gov-") {
        ("amazonaws.com", "aws-us-gov")
    } else {
        ("amazonaws.com", "aws")
    }
}

/// The `dynamic/instance-identity/document`, consistent with meta-data.
pub fn identity_document(config: &Config, rt: &Runtime) -> String {
    let s = crate::creds::json_string;
    format!(
        "{{\n  \"accountId\" : {},\n  \"architecture\" : {},\n  \"availabilityZone\" : {},\n  \"billingProducts\" : null,\n  \"devpayProductCodes\" : null,\n  \"marketplaceProductCodes\" : null,\n  \"imageId\" : {},\n  \"instanceId\" : {},\n  \"instanceType\" : {},\n  \"kernelId\" : null,\n  \"pendingTime\" : {},\n  \"privateIp\" : {},\n  \"ramdiskId\" : null,\n  \"region\" : {},\n  \"version\" : \"2017-09-30\"\n}}",
        s(&config.account_id),
        s(&config.architecture),
        s(&config.availability_zone()),
        s(&config.ami_id),
        s(&config.instance_id),
        s(&config.instance_type),
        s(&timestamp(rt.launch_time)),
        s(&config.private_ip),
        s(&config.region),
    )
}

impl Tree {
    /// Build the tree for `config` and `rt` as seen at `now`.
    pub fn build(
        config: &Config,
        rt: &Runtime,
        profile: Option<&Profile>,
        now: DateTime<Utc>,
        opts: TreeOptions,
    ) -> Self {
        let meta = meta_data(config, rt, profile, now);
        let mut identity = vec![("document", leaf(identity_document(config, rt)))];
        if opts.identity_signatures {
            identity.push((
                "pkcs7",
                Node::Dynamic(Dynamic::IdentitySignature(SignatureKind::Pkcs7)),
            ));
            identity.push((
                "rsa2048",
                Node::Dynamic(Dynamic::IdentitySignature(SignatureKind::Rsa2048)),
            ));
            identity.push((
                "signature",
                Node::Dynamic(Dynamic::IdentitySignature(SignatureKind::Signature)),
            ));
        }
        let dynamic = dir(vec![
            ("fws", dir(vec![("instance-monitoring", leaf("disabled"))])),
            ("instance-identity", dir(identity)),
        ]);
        let mut top = vec![("dynamic", dynamic), ("meta-data", meta)];
        if let Some(ud) = &config.user_data {
            top.push(("user-data", Node::UserData(Bytes::from(ud.clone()))));
        }
        let last_modified = rt
            .launch_time
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        Self {
            root: dir(top),
            valid_until: rt.next_change(now),
            last_modified_header: http::HeaderValue::from_str(&last_modified).ok(),
            last_modified,
        }
    }

    /// Resolve a request path (`/latest/meta-data/...`). `None` is a 404.
    pub fn resolve(&self, path: &str) -> Option<Found> {
        let path = path.strip_prefix('/')?;
        if path.is_empty() {
            return Some(Found::Text(Bytes::from(VERSIONS.join("\n"))));
        }
        // Segments without empty ones, walked without collecting them.
        let mut segments = path.split('/').filter(|s| !s.is_empty()).peekable();
        let version = segments.next()?;
        if !VERSIONS.contains(&version) {
            return None;
        }
        if segments.peek().is_none() {
            // The version listing names its categories without a trailing slash.
            if let Node::Dir(children) = &self.root {
                let names: Vec<&str> = children.iter().map(|(n, _)| n.as_str()).collect();
                return Some(Found::Text(Bytes::from(names.join("\n"))));
            }
        }
        let mut node = &self.root;
        let mut keys_index: Option<&(String, String)> = None;
        while let Some(seg) = segments.next() {
            if let Some((_, key)) = keys_index {
                // Inside `public-keys/N/`: only `openssh-key`, and nothing below it.
                let last = segments.peek().is_none();
                return (seg == "openssh-key" && last)
                    .then(|| Found::Text(Bytes::from(key.clone())));
            }
            node = match node {
                Node::Dir(children) => &children.iter().find(|(name, _)| name == seg)?.1,
                Node::Keys(keys) => {
                    let n: usize = seg.parse().ok()?;
                    if seg != n.to_string() {
                        return None;
                    }
                    keys_index = Some(keys.get(n)?);
                    continue;
                }
                _ => return None,
            };
        }
        if keys_index.is_some() {
            return Some(Found::Text(Bytes::from_static(b"openssh-key")));
        }
        Some(match node {
            Node::Dir(children) => Found::Text(Bytes::from(
                children
                    .iter()
                    .map(|(name, n)| match n {
                        Node::Dir(_) | Node::Keys(_) => format!("{name}/"),
                        _ => name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
            Node::Keys(keys) => Found::Text(Bytes::from(
                keys.iter()
                    .enumerate()
                    .map(|(i, (name, _))| format!("{i}={name}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
            Node::Leaf(b) => Found::Text(b.clone()),
            Node::UserData(b) => Found::UserData(b.clone()),
            Node::Dynamic(d) => Found::Dynamic(*d),
        })
    }
}

fn meta_data(config: &Config, rt: &Runtime, profile: Option<&Profile>, now: DateTime<Utc>) -> Node {
    let mac = config.mac.clone();
    let local_host = local_hostname(config);
    let sg_names = config
        .security_groups
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let sg_ids = config
        .security_groups
        .values()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let (domain, partition_name) = partition(&config.region);

    let macs = interfaces_node(config, rt, now, &sg_names, &sg_ids);
    let public = rt.public_ip.clone().filter(|_| !rt.stopped);
    let (scheduled, history) = rt.event_documents(now);
    let mut events = vec![(
        "maintenance",
        dir(vec![
            ("history", leaf(history)),
            ("scheduled", leaf(scheduled)),
        ]),
    )];
    if let Some(at) = rt.rebalance_visible(now) {
        events.push((
            "recommendations",
            dir(vec![("rebalance", leaf(rebalance_document(at)))]),
        ));
    }

    let mut md = vec![
        ("ami-id", leaf(config.ami_id.clone())),
        (
            "ami-launch-index",
            leaf(config.ami_launch_index.to_string()),
        ),
        ("ami-manifest-path", leaf("(unknown)")),
        (
            "block-device-mapping",
            dir(vec![
                ("ami", leaf("/dev/xvda")),
                ("root", leaf("/dev/xvda")),
            ]),
        ),
        ("events", dir(events)),
        ("hostname", leaf(local_host.clone())),
        (
            "identity-credentials",
            dir(vec![(
                "ec2",
                dir(vec![
                    (
                        "info",
                        leaf(imds_json(&[
                            ("Code", "Success"),
                            ("LastUpdated", &timestamp(rt.launch_time)),
                            ("AccountId", &config.account_id),
                        ])),
                    ),
                    (
                        "security-credentials",
                        dir(vec![(
                            "ec2-instance",
                            Node::Dynamic(Dynamic::IdentityCredentials),
                        )]),
                    ),
                ]),
            )]),
        ),
        ("instance-action", leaf("none")),
        ("instance-id", leaf(config.instance_id.clone())),
        (
            "instance-life-cycle",
            leaf(config.instance_life_cycle.clone()),
        ),
        ("instance-type", leaf(config.instance_type.clone())),
        ("local-hostname", leaf(local_host)),
        ("local-ipv4", leaf(config.private_ip.clone())),
        ("mac", leaf(mac.clone())),
        (
            "network",
            dir(vec![("interfaces", dir(vec![("macs", macs)]))]),
        ),
        (
            "placement",
            dir(vec![
                ("availability-zone", leaf(config.availability_zone())),
                (
                    "availability-zone-id",
                    leaf(config.availability_zone_id.clone()),
                ),
                ("region", leaf(config.region.clone())),
            ]),
        ),
        ("profile", leaf("default-hvm")),
        ("reservation-id", leaf(config.reservation_id.clone())),
        ("security-groups", leaf(sg_names)),
        (
            "services",
            dir(vec![
                ("domain", leaf(domain)),
                ("partition", leaf(partition_name)),
            ]),
        ),
    ];
    if let Some(ip) = &public {
        md.push(("public-hostname", leaf(public_hostname(config, ip))));
        md.push(("public-ipv4", leaf(ip.clone())));
    }
    if let Some(v6) = &config.ipv6 {
        md.push(("ipv6", leaf(v6.clone())));
    }
    if !config.public_keys.is_empty() {
        md.push((
            "public-keys",
            Node::Keys(
                config
                    .public_keys
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        ));
    }
    if let Some(p) = profile {
        let mut iam = vec![
            ("info", leaf(info_document(p))),
            (
                "security-credentials",
                Node::Dir(vec![(
                    p.role_name.clone(),
                    Node::Dynamic(Dynamic::RoleCredentials { extended: false }),
                )]),
            ),
        ];
        if config.credentials.extended {
            iam.push((
                "security-credentials-extended",
                Node::Dir(vec![(
                    p.role_name.clone(),
                    Node::Dynamic(Dynamic::RoleCredentials { extended: true }),
                )]),
            ));
        }
        md.push(("iam", dir(iam)));
    }
    if let Some(spot) = rt.spot_visible(now) {
        md.push((
            "spot",
            dir(vec![
                ("instance-action", leaf(spot_document(spot))),
                ("termination-time", leaf(timestamp(spot.action_time))),
            ]),
        ));
    }
    if let Some(state) = &config.autoscaling_lifecycle_state {
        md.push((
            "autoscaling",
            dir(vec![("target-lifecycle-state", leaf(state.clone()))]),
        ));
    }
    if config.instance_metadata_tags.is_enabled() {
        let tags = config
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), leaf(v.clone())))
            .collect();
        md.push(("tags", dir(vec![("instance", Node::Dir(tags))])));
    }
    dir(md)
}

/// One interface as the tree shows it.
struct IfaceView {
    mac: String,
    interface_id: String,
    device_number: u32,
    network_card: u32,
    subnet_id: String,
    subnet_cidr: String,
    ipv4s: Vec<String>,
    ipv6s: Vec<String>,
    subnet_ipv6: Option<String>,
    ipv4_prefixes: Vec<String>,
    ipv6_prefixes: Vec<String>,
    sg_names: String,
    sg_ids: String,
    public_ip: Option<String>,
}

fn hostname_of(config: &Config, ip: &str) -> String {
    let ip = ip.replace('.', "-");
    if config.region == "us-east-1" {
        format!("ip-{ip}.ec2.internal")
    } else {
        format!("ip-{ip}.{}.compute.internal", config.region)
    }
}

/// `network/interfaces/macs/`: the primary, the interfaces attached at launch and those
/// attached since whose propagation delay has passed.
fn interfaces_node(
    config: &Config,
    rt: &Runtime,
    now: DateTime<Utc>,
    sg_names: &str,
    sg_ids: &str,
) -> Node {
    let mut views = vec![IfaceView {
        mac: config.mac.clone(),
        interface_id: config.interface_id.clone(),
        device_number: 0,
        network_card: config.network_card,
        subnet_id: config.subnet_id.clone(),
        subnet_cidr: config.subnet_cidr.clone(),
        ipv4s: std::iter::once(config.private_ip.clone())
            .chain(config.secondary_private_ips.iter().cloned())
            .collect(),
        ipv6s: config
            .ipv6
            .iter()
            .chain(config.ipv6s.iter())
            .cloned()
            .collect(),
        subnet_ipv6: config
            .ipv6
            .clone()
            .or_else(|| config.ipv6s.first().cloned())
            .map(|v| ipv6_prefix(&v, 64)),
        ipv4_prefixes: config.ipv4_prefixes.clone(),
        ipv6_prefixes: config.ipv6_prefixes.clone(),
        sg_names: sg_names.to_string(),
        sg_ids: sg_ids.to_string(),
        public_ip: rt.public_ip.clone().filter(|_| !rt.stopped),
    }];
    let extra = config.network_interfaces.iter().chain(
        rt.attached
            .iter()
            .filter(|a| a.visible_at <= now)
            .map(|a| &a.config),
    );
    for i in extra {
        let groups = i
            .security_groups
            .clone()
            .unwrap_or_else(|| config.security_groups.clone());
        views.push(IfaceView {
            mac: i.mac.clone(),
            interface_id: i.id(),
            device_number: i.device_number,
            network_card: i.network_card,
            subnet_id: i.subnet_id.clone().unwrap_or_else(|| {
                let digits: String = i.subnet_cidr.chars().filter(char::is_ascii_digit).collect();
                format!(
                    "subnet-0{:0>16}",
                    &digits[digits.len().saturating_sub(16)..]
                )
            }),
            subnet_cidr: i.subnet_cidr.clone(),
            ipv4s: i.private_ips.clone(),
            ipv6s: i.ipv6s.clone(),
            subnet_ipv6: i
                .subnet_ipv6_cidr
                .clone()
                .or_else(|| i.ipv6s.first().map(|v| ipv6_prefix(v, 64))),
            ipv4_prefixes: i.ipv4_prefixes.clone(),
            ipv6_prefixes: i.ipv6_prefixes.clone(),
            sg_names: groups.keys().cloned().collect::<Vec<_>>().join("\n"),
            sg_ids: groups.values().cloned().collect::<Vec<_>>().join("\n"),
            public_ip: i.public_ip.clone().filter(|_| !rt.stopped),
        });
    }
    let multi_card = views.iter().any(|v| v.network_card > 0);
    let mut macs: Vec<(String, Node)> = views
        .into_iter()
        .map(|v| {
            let mut iface = vec![
                ("device-number", leaf(v.device_number.to_string())),
                ("interface-id", leaf(v.interface_id.clone())),
                ("mac", leaf(v.mac.clone())),
                ("owner-id", leaf(config.account_id.clone())),
                ("security-group-ids", leaf(v.sg_ids.clone())),
                ("security-groups", leaf(v.sg_names.clone())),
                ("subnet-id", leaf(v.subnet_id.clone())),
                ("subnet-ipv4-cidr-block", leaf(v.subnet_cidr.clone())),
                ("vpc-id", leaf(config.vpc_id.clone())),
                ("vpc-ipv4-cidr-block", leaf(config.vpc_cidr.clone())),
                ("vpc-ipv4-cidr-blocks", leaf(config.vpc_cidr.clone())),
            ];
            if let Some(first) = v.ipv4s.first() {
                iface.push(("local-hostname", leaf(hostname_of(config, first))));
                iface.push(("local-ipv4s", leaf(v.ipv4s.join("\n"))));
            }
            if multi_card {
                iface.push(("network-card", leaf(v.network_card.to_string())));
            }
            if let (Some(ip), Some(first)) = (&v.public_ip, v.ipv4s.first()) {
                iface.push((
                    "ipv4-associations",
                    Node::Dir(vec![(ip.clone(), leaf(first.clone()))]),
                ));
                iface.push(("public-hostname", leaf(public_hostname(config, ip))));
                iface.push(("public-ipv4s", leaf(ip.clone())));
            }
            if !v.ipv6s.is_empty() {
                iface.push(("ipv6s", leaf(v.ipv6s.join("\n"))));
                if let Some(sub) = &v.subnet_ipv6 {
                    iface.push(("subnet-ipv6-cidr-blocks", leaf(sub.clone())));
                    let vpc = sub
                        .split('/')
                        .next()
                        .map(|a| ipv6_prefix(a, 56))
                        .unwrap_or_default();
                    iface.push(("vpc-ipv6-cidr-blocks", leaf(vpc)));
                }
            }
            if !v.ipv4_prefixes.is_empty() {
                iface.push(("ipv4-prefix", leaf(v.ipv4_prefixes.join("\n"))));
            }
            if !v.ipv6_prefixes.is_empty() {
                iface.push(("ipv6-prefix", leaf(v.ipv6_prefixes.join("\n"))));
            }
            (v.mac, dir(iface))
        })
        .collect();
    macs.sort_by(|a, b| a.0.cmp(&b.0));
    Node::Dir(macs)
}

/// The `/len` network of an IPv6 address, naively (keeps the first len/16 groups).
fn ipv6_prefix(addr: &str, len: u8) -> String {
    match addr.parse::<std::net::Ipv6Addr>() {
        Ok(a) => {
            let bits = u128::from(a);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            format!("{}/{len}", std::net::Ipv6Addr::from(bits & mask))
        }
        Err(_) => format!("{addr}/{len}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn tree(config: &Config) -> Tree {
        let rt = Runtime::new(config, now());
        let profile = config
            .role
            .as_deref()
            .map(|r| Profile::new(r, &config.account_id, now()));
        Tree::build(config, &rt, profile.as_ref(), now(), TreeOptions::default())
    }

    fn text(t: &Tree, path: &str) -> String {
        match t.resolve(path) {
            Some(Found::Text(b)) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn root_and_version_listings() {
        let t = tree(&Config::default());
        let root = text(&t, "/");
        assert!(root.ends_with("\nlatest"));
        assert!(root.contains("\n2009-04-04\n"));
        assert_eq!(text(&t, "/latest"), "dynamic\nmeta-data");
        assert_eq!(text(&t, "/latest/"), "dynamic\nmeta-data");
        assert!(t.resolve("/1999-01-01/meta-data/").is_none());
    }

    #[test]
    fn listings_have_no_trailing_newline_and_mark_dirs() {
        let t = tree(&Config::default());
        let md = text(&t, "/latest/meta-data/");
        assert!(!md.ends_with('\n'));
        assert!(md.lines().any(|l| l == "placement/"));
        assert!(md.lines().any(|l| l == "instance-id"));
        assert!(!md.lines().any(|l| l == "iam/"), "no profile, no iam/");
        assert_eq!(
            text(&t, "/latest/meta-data/placement"),
            text(&t, "/latest/meta-data/placement/")
        );
    }

    #[test]
    fn leaves_answer_with_a_trailing_slash() {
        let t = tree(&Config::default());
        assert_eq!(
            text(&t, "/latest/meta-data/placement/availability-zone/"),
            "us-east-1a"
        );
        assert_eq!(
            text(&t, "/2009-04-04/meta-data/instance-id"),
            "i-0b22a22eec53b9321"
        );
    }

    #[test]
    fn public_keys_use_index_equals_name() {
        let mut c = Config::default();
        c.public_keys
            .insert("my-key".into(), "ssh-ed25519 AAAA test".into());
        let t = tree(&c);
        assert_eq!(text(&t, "/latest/meta-data/public-keys/"), "0=my-key");
        assert_eq!(text(&t, "/latest/meta-data/public-keys/0/"), "openssh-key");
        assert_eq!(
            text(&t, "/latest/meta-data/public-keys/0/openssh-key"),
            "ssh-ed25519 AAAA test"
        );
        assert!(t.resolve("/latest/meta-data/public-keys/1/").is_none());
        assert!(t.resolve("/latest/meta-data/public-keys/00/").is_none());
        assert!(t.resolve("/latest/meta-data/public-keys/0/other").is_none());
        assert!(t
            .resolve("/latest/meta-data/public-keys/0/openssh-key/x")
            .is_none());
    }

    #[test]
    fn role_appears_under_iam() {
        let c = Config {
            role: Some("web".into()),
            ..Config::default()
        };
        let t = tree(&c);
        assert_eq!(
            text(&t, "/latest/meta-data/iam/security-credentials/"),
            "web"
        );
        assert_eq!(
            t.resolve("/latest/meta-data/iam/security-credentials/web"),
            Some(Found::Dynamic(Dynamic::RoleCredentials { extended: false }))
        );
        let info: serde_json::Value =
            serde_json::from_str(&text(&t, "/latest/meta-data/iam/info")).unwrap();
        assert_eq!(
            info["InstanceProfileArn"],
            "arn:aws:iam::123456789012:instance-profile/web"
        );
    }

    #[test]
    fn user_data_is_raw_and_listed_only_when_present() {
        let c = Config {
            user_data: Some(vec![0x1f, 0x8b, 0xff]),
            ..Config::default()
        };
        let t = tree(&c);
        assert_eq!(
            t.resolve("/latest/user-data"),
            Some(Found::UserData(Bytes::from_static(&[0x1f, 0x8b, 0xff])))
        );
        assert!(text(&t, "/latest").ends_with("user-data"));
        assert!(tree(&Config::default())
            .resolve("/latest/user-data")
            .is_none());
    }

    #[test]
    fn tags_behind_the_option() {
        let mut c = Config::default();
        c.tags.insert("Name".into(), "web-1".into());
        assert!(tree(&c)
            .resolve("/latest/meta-data/tags/instance")
            .is_none());
        c.instance_metadata_tags = crate::config::Toggle::Enabled;
        let t = tree(&c);
        assert_eq!(text(&t, "/latest/meta-data/tags/instance"), "Name");
        assert_eq!(text(&t, "/latest/meta-data/tags/instance/Name"), "web-1");
    }

    #[test]
    fn identity_document_agrees_with_meta_data() {
        let t = tree(&Config::default());
        let doc: serde_json::Value =
            serde_json::from_str(&text(&t, "/latest/dynamic/instance-identity/document")).unwrap();
        assert_eq!(doc["instanceId"], text(&t, "/latest/meta-data/instance-id"));
        assert_eq!(doc["privateIp"], text(&t, "/latest/meta-data/local-ipv4"));
        assert_eq!(
            doc["availabilityZone"],
            text(&t, "/latest/meta-data/placement/availability-zone")
        );
        assert_eq!(
            doc["region"],
            text(&t, "/latest/meta-data/placement/region")
        );
    }

    #[test]
    fn ipv6_prefixes() {
        assert_eq!(
            ipv6_prefix("2600:1f18:abcd:1234::5", 64),
            "2600:1f18:abcd:1234::/64"
        );
        assert_eq!(
            ipv6_prefix("2600:1f18:abcd:1234::5", 56),
            "2600:1f18:abcd:1200::/56"
        );
    }
}
