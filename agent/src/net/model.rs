//! The network configuration strap renders, independent of any renderer: per interface,
//! how it is matched, DHCP, static addresses, routes (in the main or a private table) and
//! policy rules. Built from the metadata ([`super::plan`]) or from the user's own network
//! config ([`super::config`]); written by [`super::render`].

use serde::Serialize;

use super::addr::Cidr;

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Destination (`0.0.0.0/0` for a default route).
    pub to: Cidr,
    /// Next hop; `None` for a route on the link.
    pub via: Option<std::net::IpAddr>,
    /// Routing table; `None` for the main table.
    pub table: Option<u32>,
    pub metric: Option<u32>,
}

impl Route {
    /// Whether it is a default route.
    pub fn is_default(&self) -> bool {
        self.to.len == 0
    }
}

/// One policy rule: traffic `from` an address or prefix looks up `table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub from: Cidr,
    pub table: u32,
    pub priority: u32,
}

/// Where an interface's configuration came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// The instance metadata.
    Metadata {
        interface_id: Option<String>,
        device_number: u32,
        network_card: Option<u32>,
    },
    /// The user's network config (system config or seed).
    User { file: String },
}

/// The configuration of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IfacePlan {
    /// The OS name (or, when the machine was not inspected, an assumed one).
    pub name: String,
    /// Whether `name` is assumed rather than seen on the machine.
    pub name_assumed: bool,
    /// The MAC it is matched by (`None`: matched by name).
    pub mac: Option<String>,
    pub origin: Origin,
    pub dhcp4: bool,
    pub dhcp6: bool,
    /// Metric of the routes DHCP and router advertisements install.
    pub metric: Option<u32>,
    /// The address DHCP hands out (the interface's primary private IPv4, with the
    /// subnet's length), for renderers without DHCP (iproute2).
    pub dhcp4_address: Option<Cidr>,
    /// The gateway DHCP hands out (the subnet's router).
    pub dhcp4_gateway: Option<std::net::Ipv4Addr>,
    /// Static addresses (secondary private IPv4s, secondary IPv6s).
    pub addresses: Vec<Cidr>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
    /// The private table that the IPv6 default route learned from router
    /// advertisements goes into (networkd only: `Gateway=_ipv6ra`).
    pub ra_table: Option<u32>,
    pub mtu: Option<u32>,
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
}

impl IfacePlan {
    /// An interface with nothing configured yet.
    pub fn new(name: String, mac: Option<String>, origin: Origin) -> Self {
        Self {
            name,
            name_assumed: false,
            mac,
            origin,
            dhcp4: false,
            dhcp6: false,
            metric: None,
            dhcp4_address: None,
            dhcp4_gateway: None,
            addresses: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            ra_table: None,
            mtu: None,
            nameservers: Vec::new(),
            search: Vec::new(),
        }
    }

    /// The private table of this interface, if it has one.
    pub fn table(&self) -> Option<u32> {
        self.rules
            .first()
            .map(|r| r.table)
            .or(self.ra_table)
            .or_else(|| self.routes.iter().find_map(|r| r.table))
    }
}
