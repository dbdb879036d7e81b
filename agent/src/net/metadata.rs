//! The network interfaces as the instance metadata describes them, under
//! `meta-data/network/interfaces/macs/<mac>/`: one [`Eni`] per MAC, parsed and checked.
//! This module only names the paths and parses the answers; the caller fetches them (the
//! boot through its datasource, `strap net` through the IMDS client) in three parallel
//! rounds: the listing of `macs/`, each interface's own listing, and the [`LEAVES`] it
//! has (4 requests for a plain ENI, 5 with its listing).

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use super::addr::{Cidr, CidrError};

/// The listing of every interface's MAC.
pub const MACS_PATH: &str = "/latest/meta-data/network/interfaces/macs/";

/// The leaves read for each interface (those its listing has).
pub const LEAVES: &[&str] = &[
    "device-number",
    "network-card",
    "interface-id",
    "local-ipv4s",
    "subnet-ipv4-cidr-block",
    "ipv6s",
    "subnet-ipv6-cidr-blocks",
    "ipv4-prefix",
    "ipv6-prefix",
];

/// The MACs of a `macs/` listing (entries end with `/`), lower-cased and checked.
pub fn parse_macs(listing: &str) -> Result<Vec<String>, MetadataError> {
    let mut out = Vec::new();
    for line in listing.lines() {
        let mac = line.trim().trim_end_matches('/');
        if mac.is_empty() {
            continue;
        }
        let mac = mac.to_ascii_lowercase();
        if !is_mac(&mac) {
            return Err(MetadataError::Malformed {
                mac: mac.clone(),
                leaf: "macs/".into(),
                message: format!("`{mac}` is not a MAC address"),
            });
        }
        out.push(mac);
    }
    Ok(out)
}

/// Whether a string is a lower- or upper-case colon-separated MAC.
pub fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What is wrong with an interface's metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A leaf does not parse.
    #[error("interface {mac}: metadata `{leaf}` is malformed: {message}")]
    Malformed {
        mac: String,
        leaf: String,
        message: String,
    },
    /// The interface lists IPv4 addresses but not the subnet they belong to.
    #[error(
        "interface {mac}: the metadata lists IPv4 addresses ({addresses}) but no `subnet-ipv4-cidr-block`, so their prefix length and the subnet's gateway are unknown; the interface is left alone"
    )]
    NoSubnet { mac: String, addresses: String },
    /// The interface has no address at all.
    #[error("interface {mac}: the metadata lists neither `local-ipv4s` nor `ipv6s`; the interface is left alone")]
    NoAddresses { mac: String },
    /// The interface has no device number.
    #[error("interface {mac}: the metadata has no `device-number`; the interface is left alone")]
    NoDeviceNumber { mac: String },
}

/// One elastic network interface, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eni {
    pub mac: String,
    pub device_number: u32,
    /// `network-card`: served only on multi-card instance types.
    pub network_card: Option<u32>,
    pub interface_id: Option<String>,
    /// `local-ipv4s`, the interface's primary private address first.
    pub ipv4s: Vec<Ipv4Addr>,
    pub subnet_ipv4: Option<Cidr>,
    /// `ipv6s`.
    pub ipv6s: Vec<IpAddr>,
    pub subnet_ipv6: Vec<Cidr>,
    /// Delegated prefixes (`ipv4-prefix`, `ipv6-prefix`).
    pub prefixes: Vec<Cidr>,
}

impl Eni {
    /// Parse an interface from its leaves (`leaf(name)` gives a leaf's text, `None`
    /// when the metadata does not have it).
    pub fn parse(mac: &str, leaf: impl Fn(&str) -> Option<String>) -> Result<Self, MetadataError> {
        let malformed = |name: &str, message: String| MetadataError::Malformed {
            mac: mac.to_string(),
            leaf: name.to_string(),
            message,
        };
        let number = |name: &str| -> Result<Option<u32>, MetadataError> {
            match leaf(name) {
                None => Ok(None),
                Some(t) if t.trim().is_empty() => Ok(None),
                Some(t) => t
                    .trim()
                    .parse::<u32>()
                    .map(Some)
                    .map_err(|_| malformed(name, format!("`{}` is not a number", t.trim()))),
            }
        };
        let lines = |name: &str| -> Vec<String> {
            leaf(name)
                .unwrap_or_default()
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        };
        let cidrs = |name: &str| -> Result<Vec<Cidr>, MetadataError> {
            lines(name)
                .iter()
                .map(|l| Cidr::parse(l).map_err(|e: CidrError| malformed(name, e.to_string())))
                .collect()
        };
        let device_number =
            number("device-number")?.ok_or_else(|| MetadataError::NoDeviceNumber {
                mac: mac.to_string(),
            })?;
        let network_card = number("network-card")?;
        let ipv4s = lines("local-ipv4s")
            .iter()
            .map(|l| {
                l.parse::<Ipv4Addr>()
                    .map_err(|_| malformed("local-ipv4s", format!("`{l}` is not an IPv4 address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ipv6s = lines("ipv6s")
            .iter()
            .map(|l| match l.parse::<IpAddr>() {
                Ok(a @ IpAddr::V6(_)) => Ok(a),
                _ => Err(malformed("ipv6s", format!("`{l}` is not an IPv6 address"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let subnet_ipv4 = cidrs("subnet-ipv4-cidr-block")?.into_iter().next();
        if let Some(s) = &subnet_ipv4 {
            if !s.is_v4() {
                return Err(malformed(
                    "subnet-ipv4-cidr-block",
                    format!("`{s}` is not an IPv4 prefix"),
                ));
            }
            for a in &ipv4s {
                if !s.contains(&IpAddr::V4(*a)) {
                    return Err(malformed(
                        "local-ipv4s",
                        format!("{a} is not inside the subnet {s}"),
                    ));
                }
            }
        }
        let subnet_ipv6 = cidrs("subnet-ipv6-cidr-blocks")?;
        if let Some(bad) = subnet_ipv6.iter().find(|c| c.is_v4()) {
            return Err(malformed(
                "subnet-ipv6-cidr-blocks",
                format!("`{bad}` is not an IPv6 prefix"),
            ));
        }
        let mut prefixes = cidrs("ipv4-prefix")?;
        if let Some(bad) = prefixes.iter().find(|c| !c.is_v4()) {
            return Err(malformed(
                "ipv4-prefix",
                format!("`{bad}` is not an IPv4 prefix"),
            ));
        }
        let v6_prefixes = cidrs("ipv6-prefix")?;
        if let Some(bad) = v6_prefixes.iter().find(|c| c.is_v4()) {
            return Err(malformed(
                "ipv6-prefix",
                format!("`{bad}` is not an IPv6 prefix"),
            ));
        }
        prefixes.extend(v6_prefixes);
        if !ipv4s.is_empty() && subnet_ipv4.is_none() {
            return Err(MetadataError::NoSubnet {
                mac: mac.to_string(),
                addresses: ipv4s
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if ipv4s.is_empty() && ipv6s.is_empty() {
            return Err(MetadataError::NoAddresses {
                mac: mac.to_string(),
            });
        }
        Ok(Self {
            mac: mac.to_string(),
            device_number,
            network_card,
            interface_id: leaf("interface-id")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            ipv4s,
            subnet_ipv4,
            ipv6s,
            subnet_ipv6,
            prefixes,
        })
    }

    /// The network card, 0 when the metadata has none (single-card types).
    pub fn card(&self) -> u32 {
        self.network_card.unwrap_or(0)
    }

    /// Whether this is the instance's primary interface (card 0, device 0).
    pub fn is_primary(&self) -> bool {
        self.card() == 0 && self.device_number == 0
    }

    /// The subnet's IPv4 gateway: EC2 reserves the subnet's first host address for the
    /// VPC router.
    pub fn gateway4(&self) -> Option<Ipv4Addr> {
        self.subnet_ipv4.as_ref().and_then(Cidr::first_host_v4)
    }

    /// How interfaces are ordered: network card, device number, MAC (as cloud-init).
    pub fn order_key(&self) -> (u32, u32, String) {
        (self.card(), self.device_number, self.mac.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn eni(leaves: &[(&str, &str)]) -> Result<Eni, MetadataError> {
        let map: BTreeMap<String, String> = leaves
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Eni::parse("0e:00:00:00:00:01", |k| map.get(k).cloned())
    }

    #[test]
    fn a_secondary_interface_parses_with_its_addresses_and_prefixes() {
        let e = eni(&[
            ("device-number", "1"),
            ("interface-id", "eni-1"),
            ("local-ipv4s", "10.0.2.10\n10.0.2.11"),
            ("subnet-ipv4-cidr-block", "10.0.2.0/24"),
            ("ipv6s", "2600:1f18::10"),
            ("subnet-ipv6-cidr-blocks", "2600:1f18::/64"),
            ("ipv4-prefix", "10.0.2.64/28"),
        ])
        .unwrap();
        assert_eq!(e.device_number, 1);
        assert_eq!(e.network_card, None);
        assert_eq!(e.ipv4s.len(), 2);
        assert_eq!(e.gateway4().unwrap().to_string(), "10.0.2.1");
        assert_eq!(e.prefixes[0].to_string(), "10.0.2.64/28");
        assert!(!e.is_primary());
    }

    #[test]
    fn bad_metadata_names_the_interface_and_the_leaf() {
        let err = eni(&[("device-number", "1"), ("local-ipv4s", "10.0.2.10")]).unwrap_err();
        assert!(matches!(err, MetadataError::NoSubnet { .. }), "{err}");
        assert!(err.to_string().contains("0e:00:00:00:00:01"));
        let err = eni(&[
            ("device-number", "1"),
            ("local-ipv4s", "10.0.2.300"),
            ("subnet-ipv4-cidr-block", "10.0.2.0/24"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("local-ipv4s"), "{err}");
        let err = eni(&[
            ("device-number", "1"),
            ("local-ipv4s", "10.0.3.1"),
            ("subnet-ipv4-cidr-block", "10.0.2.0/24"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("not inside the subnet"), "{err}");
        let err = eni(&[("device-number", "x")]).unwrap_err();
        assert!(err.to_string().contains("device-number"), "{err}");
        let err = eni(&[
            ("device-number", "1"),
            ("ipv6s", "2600::1"),
            ("ipv4-prefix", "10.0.2.64/33"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("ipv4-prefix"), "{err}");
        assert!(matches!(
            eni(&[("device-number", "1")]).unwrap_err(),
            MetadataError::NoAddresses { .. }
        ));
    }

    #[test]
    fn an_ipv6_only_interface_needs_no_ipv4_subnet() {
        let e = eni(&[
            ("device-number", "0"),
            ("ipv6s", "2600:1f18::10"),
            ("subnet-ipv6-cidr-blocks", "2600:1f18::/64"),
        ])
        .unwrap();
        assert!(e.ipv4s.is_empty());
        assert!(e.gateway4().is_none());
    }

    #[test]
    fn macs_listing_parses_and_rejects_garbage() {
        assert_eq!(
            parse_macs("0E:00:00:00:00:01/\n0e:00:00:00:00:02/\n").unwrap(),
            vec!["0e:00:00:00:00:01", "0e:00:00:00:00:02"]
        );
        assert!(parse_macs("not-a-mac/").is_err());
    }
}
