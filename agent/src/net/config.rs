//! What the image says about the network, from its system config (`/etc/cloud/cloud.cfg`
//! and `cloud.cfg.d/*.cfg`; user data cannot change the network, as in cloud-init) and a
//! seed's `network-config`:
//! - `network: {config: disabled}` turns network configuration off;
//! - a `network:` version 1 or 2 config replaces the metadata-derived one;
//! - `system_info.network.renderers` orders the renderers, as cloud-init's;
//! - `strap_net:` is strap's own: the renderer, which interfaces strap owns, what it
//!   leaves alone, policy routing.

use serde::Serialize;

use crate::cloudconfig::{Node, Value};

use super::addr::Cidr;
use super::model::{IfacePlan, Origin, Route, Rule};

/// An invalid network setting or user network config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: line {line}: `{key}`: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub line: usize,
    pub message: String,
}

/// The renderers cloud-init tries when the image does not say (its `DEFAULT_PRIORITY`,
/// the ones strap has).
pub const DEFAULT_RENDERERS: &[&str] =
    &["eni", "sysconfig", "netplan", "network-manager", "networkd"];

/// What ENIs attached after the instance's first boot get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LaterEnis {
    /// Configured, unless a container network plugin is installed (`/etc/cni/net.d`).
    Auto,
    /// Always configured.
    Manage,
    /// Never configured.
    Ignore,
}

/// Which interfaces strap owns (`strap_net.manage`); an interface matching any selector
/// is owned, and with no selector every interface is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selectors {
    pub device_numbers: Vec<u32>,
    pub macs: Vec<String>,
    pub interface_ids: Vec<String>,
    /// Driver names, `*` globs allowed (`ena`, `virtio*`).
    pub drivers: Vec<String>,
}

impl Selectors {
    /// Whether nothing is selected (everything is owned).
    pub fn is_empty(&self) -> bool {
        self.device_numbers.is_empty()
            && self.macs.is_empty()
            && self.interface_ids.is_empty()
            && self.drivers.is_empty()
    }
}

/// The network settings of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetSettings {
    /// `false` with `network: {config: disabled}`.
    pub enabled: bool,
    /// `strap_net.renderer`: forced.
    pub renderer: Option<String>,
    /// The order renderers are tried in.
    pub renderers: Vec<String>,
    pub manage: Selectors,
    /// Interfaces never touched: MACs, interface ids, device numbers or names.
    pub unmanaged: Vec<String>,
    pub later_enis: LaterEnis,
    /// Private tables and `from` rules for secondary interfaces.
    pub policy_routing: bool,
    /// Where networkd files go (`/run/systemd/network`; `/etc/systemd/network` to keep
    /// them across boots).
    pub networkd_dir: String,
    /// The instance tag (in `tags/instance/`) whose value lists interfaces to leave
    /// alone; read only when set (one more request).
    pub unmanaged_tag: Option<String>,
}

impl NetSettings {
    /// Whether a setting may name an interface by its id (`strap_net.manage.interface_ids`,
    /// an `unmanaged` entry, the `unmanaged_tag`), so that the boot must read the ids.
    pub fn selects_by_interface_id(&self) -> bool {
        !self.manage.interface_ids.is_empty()
            || !self.unmanaged.is_empty()
            || self.unmanaged_tag.is_some()
    }
}

impl Default for NetSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            renderer: None,
            renderers: DEFAULT_RENDERERS.iter().map(|s| (*s).to_string()).collect(),
            manage: Selectors::default(),
            unmanaged: Vec::new(),
            later_enis: LaterEnis::Auto,
            policy_routing: true,
            networkd_dir: "/run/systemd/network".into(),
            unmanaged_tag: None,
        }
    }
}

/// The renderers strap writes.
pub const KNOWN_RENDERERS: &[&str] = &["networkd", "netplan", "eni", "network-manager", "iproute2"];

fn err(file: &str, key: &str, node: &Node, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        key: key.to_string(),
        line: node.mark.line,
        message: message.into(),
    }
}

fn text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(file: &str, key: &str, node: &Node) -> Result<Vec<String>, ConfigError> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .map(|i| text(i).ok_or_else(|| err(file, key, i, "must be a list of strings")))
            .collect(),
        Value::Str(s) => Ok(s
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()),
        Value::Null => Ok(Vec::new()),
        _ => Err(err(file, key, node, "must be a list")),
    }
}

fn boolean(file: &str, key: &str, node: &Node) -> Result<bool, ConfigError> {
    node.as_bool()
        .ok_or_else(|| err(file, key, node, "must be true or false"))
}

/// Read the settings from the system config (a merged mapping; `file` names it in
/// messages). The `network:` key itself is read by [`user_config`].
pub fn settings(system: Option<&Node>, file: &str) -> Result<NetSettings, ConfigError> {
    let mut out = NetSettings::default();
    let Some(system) = system else {
        return Ok(out);
    };
    if let Some(net) = system.get("network") {
        if net.get("config").and_then(Node::as_str) == Some("disabled") {
            out.enabled = false;
        }
    }
    if let Some(list) = system
        .get("system_info")
        .and_then(|s| s.get("network"))
        .and_then(|n| n.get("renderers"))
    {
        out.renderers = strings(file, "system_info.network.renderers", list)?;
    }
    let Some(own) = system.get("strap_net") else {
        return Ok(out);
    };
    let Some(entries) = own.as_map() else {
        if own.is_null() {
            return Ok(out);
        }
        return Err(err(file, "strap_net", own, "must be a mapping"));
    };
    for (k, v) in entries {
        let key = k.key_text();
        let full = format!("strap_net.{key}");
        match key.as_str() {
            "enabled" => out.enabled = boolean(file, &full, v)?,
            "renderer" => {
                let r = text(v).ok_or_else(|| err(file, &full, v, "must be a renderer name"))?;
                if !KNOWN_RENDERERS.contains(&r.as_str()) {
                    return Err(err(
                        file,
                        &full,
                        v,
                        format!("unknown renderer `{r}` (strap renders {})", KNOWN_RENDERERS.join(", ")),
                    ));
                }
                out.renderer = Some(r);
            }
            "manage" => {
                let Some(sel) = v.as_map() else {
                    return Err(err(file, &full, v, "must be a mapping of device_numbers, macs, interface_ids, drivers"));
                };
                for (sk, sv) in sel {
                    let skey = format!("{full}.{}", sk.key_text());
                    match sk.key_text().as_str() {
                        "device_numbers" => {
                            for s in strings(file, &skey, sv)? {
                                out.manage.device_numbers.push(s.parse().map_err(|_| {
                                    err(file, &skey, sv, format!("`{s}` is not a device number"))
                                })?);
                            }
                        }
                        "macs" => {
                            out.manage.macs = strings(file, &skey, sv)?
                                .into_iter()
                                .map(|m| m.to_ascii_lowercase())
                                .collect();
                        }
                        "interface_ids" => out.manage.interface_ids = strings(file, &skey, sv)?,
                        "drivers" => out.manage.drivers = strings(file, &skey, sv)?,
                        other => {
                            return Err(err(
                                file,
                                &skey,
                                sk,
                                format!("unknown selector `{other}` (device_numbers, macs, interface_ids, drivers)"),
                            ))
                        }
                    }
                }
            }
            "unmanaged" => out.unmanaged = strings(file, &full, v)?,
            "later_enis" => {
                out.later_enis = match text(v).as_deref() {
                    Some("auto") => LaterEnis::Auto,
                    Some("manage") => LaterEnis::Manage,
                    Some("ignore") => LaterEnis::Ignore,
                    _ => return Err(err(file, &full, v, "must be auto, manage or ignore")),
                }
            }
            "policy_routing" => out.policy_routing = boolean(file, &full, v)?,
            "networkd_dir" => {
                let d = text(v).ok_or_else(|| err(file, &full, v, "must be a path"))?;
                if !d.starts_with('/') {
                    return Err(err(file, &full, v, "must be an absolute path"));
                }
                out.networkd_dir = d;
            }
            "unmanaged_tag" => {
                out.unmanaged_tag = Some(text(v).ok_or_else(|| err(file, &full, v, "must be a tag key"))?)
            }
            other => {
                return Err(err(
                    file,
                    &full,
                    k,
                    format!("unknown key `{other}` (enabled, renderer, manage, unmanaged, later_enis, policy_routing, networkd_dir, unmanaged_tag)"),
                ))
            }
        }
    }
    Ok(out)
}

/// A user network config, parsed: the interfaces it configures, by name or MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig {
    pub file: String,
    pub version: u8,
    pub interfaces: Vec<IfacePlan>,
}

/// The user's network config from a `network:` node (system config) or a seed's
/// `network-config` document (which may hold `network:` or be the config itself).
/// `Ok(None)` when there is none (or only `config: disabled`).
pub fn user_config(node: Option<&Node>, file: &str) -> Result<Option<UserConfig>, ConfigError> {
    let Some(node) = node else { return Ok(None) };
    let node = node.get("network").unwrap_or(node);
    if node.is_null() {
        return Ok(None);
    }
    let Some(map) = node.as_map() else {
        return Err(err(file, "network", node, "must be a mapping"));
    };
    if node.get("config").and_then(Node::as_str) == Some("disabled") {
        return Ok(None);
    }
    let version = match node.get("version") {
        None => {
            // Only keys strap does not render: no user config.
            if map.is_empty() {
                return Ok(None);
            }
            return Err(err(file, "network.version", node, "is missing (1 or 2)"));
        }
        Some(v) => match v.as_int() {
            Some(1) => 1,
            Some(2) => 2,
            _ => return Err(err(file, "network.version", v, "must be 1 or 2")),
        },
    };
    let interfaces = if version == 2 {
        v2(node, file)?
    } else {
        v1(node, file)?
    };
    Ok(Some(UserConfig {
        file: file.to_string(),
        version,
        interfaces,
    }))
}

fn cidr(file: &str, key: &str, node: &Node) -> Result<Cidr, ConfigError> {
    let t = text(node).ok_or_else(|| err(file, key, node, "must be an address"))?;
    Cidr::parse(&t).map_err(|e| err(file, key, node, e.to_string()))
}

fn ip(file: &str, key: &str, node: &Node) -> Result<std::net::IpAddr, ConfigError> {
    let t = text(node).ok_or_else(|| err(file, key, node, "must be an address"))?;
    t.parse()
        .map_err(|_| err(file, key, node, format!("`{t}` is not an IP address")))
}

fn uint(file: &str, key: &str, node: &Node) -> Result<u32, ConfigError> {
    node.as_int()
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| err(file, key, node, "must be a non-negative number"))
}

const V2_UNSUPPORTED: &[&str] = &["bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs"];

fn v2(node: &Node, file: &str) -> Result<Vec<IfacePlan>, ConfigError> {
    for kind in V2_UNSUPPORTED {
        if let Some(v) = node.get(kind) {
            return Err(err(
                file,
                &format!("network.{kind}"),
                v,
                "is not rendered by strap yet (ethernets only)",
            ));
        }
    }
    let mut out = Vec::new();
    let Some(eths) = node.get("ethernets") else {
        return Ok(out);
    };
    let Some(entries) = eths.as_map() else {
        return Err(err(
            file,
            "network.ethernets",
            eths,
            "must be a mapping of interfaces",
        ));
    };
    for (k, v) in entries {
        let id = k.key_text();
        let base = format!("network.ethernets.{id}");
        let mut name = id.clone();
        let mut mac = None;
        if let Some(m) = v.get("match") {
            if let Some(mv) = m.get("macaddress") {
                let t = text(mv).unwrap_or_default().to_ascii_lowercase();
                if !super::metadata::is_mac(&t) {
                    return Err(err(
                        file,
                        &format!("{base}.match.macaddress"),
                        mv,
                        format!("`{t}` is not a MAC address"),
                    ));
                }
                mac = Some(t);
            }
            if let Some(nv) = m.get("name") {
                name = text(nv).unwrap_or(name);
            }
        }
        if let Some(sn) = v.get("set-name") {
            name = text(sn).unwrap_or(name);
        }
        let mut plan = IfacePlan::new(
            name,
            mac,
            Origin::User {
                file: file.to_string(),
            },
        );
        let Some(keys) = v.as_map() else {
            return Err(err(file, &base, v, "must be a mapping"));
        };
        for (kk, vv) in keys {
            let key = format!("{base}.{}", kk.key_text());
            match kk.key_text().as_str() {
                "match" | "set-name" => {}
                "dhcp4" => plan.dhcp4 = boolean(file, &key, vv)?,
                "dhcp6" => plan.dhcp6 = boolean(file, &key, vv)?,
                "dhcp4-overrides" | "dhcp6-overrides" => {
                    if let Some(m) = vv.get("route-metric") {
                        plan.metric = Some(uint(file, &format!("{key}.route-metric"), m)?);
                    }
                }
                "addresses" => {
                    for a in vv.as_seq().unwrap_or_default() {
                        plan.addresses.push(cidr(file, &key, a)?);
                    }
                }
                "gateway4" | "gateway6" => {
                    let via = ip(file, &key, vv)?;
                    let to = if via.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
                    plan.routes.push(Route {
                        to: Cidr::parse(to).map_err(|e| err(file, &key, vv, e.to_string()))?,
                        via: Some(via),
                        table: None,
                        metric: None,
                    });
                }
                "routes" => {
                    for r in vv.as_seq().unwrap_or_default() {
                        let to_node = r
                            .get("to")
                            .ok_or_else(|| err(file, &key, r, "a route needs `to`"))?;
                        let to = match text(to_node).as_deref() {
                            Some("default") => Cidr::parse(
                                if r.get("via").and_then(text).is_some_and(|v| v.contains(':')) {
                                    "::/0"
                                } else {
                                    "0.0.0.0/0"
                                },
                            )
                            .map_err(|e| err(file, &key, r, e.to_string()))?,
                            _ => cidr(file, &format!("{key}.to"), to_node)?,
                        };
                        plan.routes.push(Route {
                            to,
                            via: r
                                .get("via")
                                .map(|n| ip(file, &format!("{key}.via"), n))
                                .transpose()?,
                            table: r
                                .get("table")
                                .map(|n| uint(file, &format!("{key}.table"), n))
                                .transpose()?,
                            metric: r
                                .get("metric")
                                .map(|n| uint(file, &format!("{key}.metric"), n))
                                .transpose()?,
                        });
                    }
                }
                "routing-policy" => {
                    for r in vv.as_seq().unwrap_or_default() {
                        let from = r.get("from").ok_or_else(|| {
                            err(file, &key, r, "strap renders rules with `from` only")
                        })?;
                        let table = r
                            .get("table")
                            .ok_or_else(|| err(file, &key, r, "a rule needs `table`"))?;
                        let table = uint(file, &format!("{key}.table"), table)?;
                        plan.rules.push(Rule {
                            from: cidr(file, &format!("{key}.from"), from)?,
                            table,
                            priority: r
                                .get("priority")
                                .map(|n| uint(file, &format!("{key}.priority"), n))
                                .transpose()?
                                .unwrap_or(table),
                        });
                    }
                }
                "mtu" => plan.mtu = Some(uint(file, &key, vv)?),
                "nameservers" => {
                    if let Some(a) = vv.get("addresses") {
                        plan.nameservers = strings(file, &format!("{key}.addresses"), a)?;
                    }
                    if let Some(s) = vv.get("search") {
                        plan.search = strings(file, &format!("{key}.search"), s)?;
                    }
                }
                "accept-ra" | "critical" | "dhcp-identifier" | "optional" | "wakeonlan" => {}
                other => {
                    return Err(err(
                        file,
                        &key,
                        kk,
                        format!("`{other}` is not rendered by strap yet"),
                    ))
                }
            }
        }
        out.push(plan);
    }
    Ok(out)
}

fn v1(node: &Node, file: &str) -> Result<Vec<IfacePlan>, ConfigError> {
    let mut out = Vec::new();
    let Some(items) = node.get("config").and_then(Node::as_seq) else {
        return Err(err(
            file,
            "network.config",
            node,
            "version 1 needs a `config` list",
        ));
    };
    let mut dns: Vec<String> = Vec::new();
    let mut search: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let base = format!("network.config[{i}]");
        let kind = item.get("type").and_then(text).unwrap_or_default();
        match kind.as_str() {
            "physical" => {
                let name = item.get("name").and_then(text).ok_or_else(|| {
                    err(
                        file,
                        &format!("{base}.name"),
                        item,
                        "a physical interface needs `name`",
                    )
                })?;
                let mac = match item.get("mac_address") {
                    Some(m) => {
                        let t = text(m).unwrap_or_default().to_ascii_lowercase();
                        if !super::metadata::is_mac(&t) {
                            return Err(err(
                                file,
                                &format!("{base}.mac_address"),
                                m,
                                format!("`{t}` is not a MAC address"),
                            ));
                        }
                        Some(t)
                    }
                    None => None,
                };
                let mut plan = IfacePlan::new(
                    name,
                    mac,
                    Origin::User {
                        file: file.to_string(),
                    },
                );
                if let Some(m) = item.get("mtu") {
                    plan.mtu = Some(uint(file, &format!("{base}.mtu"), m)?);
                }
                for (j, s) in item
                    .get("subnets")
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let sb = format!("{base}.subnets[{j}]");
                    match s.get("type").and_then(text).as_deref() {
                        Some("dhcp") | Some("dhcp4") => plan.dhcp4 = true,
                        Some("dhcp6") | Some("ipv6_dhcpv6-stateful") | Some("ipv6_slaac") => {
                            plan.dhcp6 = true
                        }
                        Some("static") | Some("static6") => {
                            let a = s.get("address").ok_or_else(|| {
                                err(file, &sb, s, "a static subnet needs `address`")
                            })?;
                            let mut c = cidr(file, &format!("{sb}.address"), a)?;
                            if let Some(mask) = s.get("netmask").and_then(text) {
                                let m: std::net::Ipv4Addr = mask.parse().map_err(|_| {
                                    err(
                                        file,
                                        &format!("{sb}.netmask"),
                                        s,
                                        format!("`{mask}` is not a netmask"),
                                    )
                                })?;
                                let bits = u32::from(m);
                                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                                    return Err(err(
                                        file,
                                        &format!("{sb}.netmask"),
                                        s,
                                        format!("`{mask}` is not a netmask"),
                                    ));
                                }
                                c.len = u8::try_from(bits.leading_ones()).unwrap_or(32);
                            }
                            plan.addresses.push(c);
                            if let Some(g) = s.get("gateway") {
                                let via = ip(file, &format!("{sb}.gateway"), g)?;
                                plan.routes.push(Route {
                                    to: Cidr::parse(if via.is_ipv4() {
                                        "0.0.0.0/0"
                                    } else {
                                        "::/0"
                                    })
                                    .map_err(|e| err(file, &sb, g, e.to_string()))?,
                                    via: Some(via),
                                    table: None,
                                    metric: None,
                                });
                            }
                            if let Some(d) = s.get("dns_nameservers") {
                                plan.nameservers.extend(strings(
                                    file,
                                    &format!("{sb}.dns_nameservers"),
                                    d,
                                )?);
                            }
                        }
                        other => {
                            return Err(err(
                                file,
                                &format!("{sb}.type"),
                                s,
                                format!(
                                    "subnet type `{}` is not rendered by strap",
                                    other.unwrap_or("(none)")
                                ),
                            ))
                        }
                    }
                }
                out.push(plan);
            }
            "nameserver" => {
                if let Some(a) = item.get("address") {
                    dns.extend(strings(file, &format!("{base}.address"), a)?);
                }
                if let Some(s) = item.get("search") {
                    search.extend(strings(file, &format!("{base}.search"), s)?);
                }
            }
            "" => return Err(err(file, &format!("{base}.type"), item, "is missing")),
            other => {
                return Err(err(
                    file,
                    &format!("{base}.type"),
                    item,
                    format!("`{other}` is not rendered by strap yet (physical, nameserver)"),
                ))
            }
        }
    }
    for plan in &mut out {
        if plan.nameservers.is_empty() {
            plan.nameservers = dns.clone();
        }
        if plan.search.is_empty() {
            plan.search = search.clone();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudconfig::yaml::load;

    #[test]
    fn strap_net_settings_are_read_and_checked() {
        let n = load("strap_net:\n  renderer: netplan\n  manage:\n    device_numbers: [0, 1]\n  unmanaged: [eni-0abc]\n  later_enis: ignore\nsystem_info:\n  network:\n    renderers: [networkd]\n").unwrap();
        let s = settings(Some(&n), "cloud.cfg").unwrap();
        assert_eq!(s.renderer.as_deref(), Some("netplan"));
        assert_eq!(s.manage.device_numbers, vec![0, 1]);
        assert_eq!(s.unmanaged, vec!["eni-0abc"]);
        assert_eq!(s.later_enis, LaterEnis::Ignore);
        assert_eq!(s.renderers, vec!["networkd"]);
        let n = load("strap_net:\n  renderer: wicked\n").unwrap();
        let e = settings(Some(&n), "cloud.cfg").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unknown renderer `wicked`"), "{e}");
        let n = load("network:\n  config: disabled\n").unwrap();
        assert!(!settings(Some(&n), "x").unwrap().enabled);
    }

    #[test]
    fn a_v2_config_becomes_interfaces_and_errors_give_the_line() {
        let n = load("network:\n  version: 2\n  ethernets:\n    eth0:\n      match: {macaddress: '0E:00:00:00:00:01'}\n      set-name: eth0\n      dhcp4: true\n      addresses: [10.0.0.5/24]\n      routes:\n        - {to: 10.9.0.0/16, via: 10.0.0.1, table: 200}\n      routing-policy:\n        - {from: 10.0.0.5/32, table: 200}\n").unwrap();
        let u = user_config(Some(&n), "99.cfg").unwrap().unwrap();
        let eth0 = &u.interfaces[0];
        assert_eq!(eth0.mac.as_deref(), Some("0e:00:00:00:00:01"));
        assert!(eth0.dhcp4);
        assert_eq!(eth0.routes[0].table, Some(200));
        assert_eq!(eth0.rules[0].priority, 200);
        let n = load(
            "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [10.0.0.500/24]\n",
        )
        .unwrap();
        let e = user_config(Some(&n), "99.cfg").unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.to_string().contains("99.cfg"));
        let n = load("network:\n  version: 3\n").unwrap();
        assert!(user_config(Some(&n), "x").is_err());
        let n = load("network:\n  version: 2\n  bonds: {}\n").unwrap();
        assert!(user_config(Some(&n), "x")
            .unwrap_err()
            .to_string()
            .contains("bonds"));
        let n = load("network:\n  config: disabled\n").unwrap();
        assert_eq!(user_config(Some(&n), "x").unwrap(), None);
    }

    #[test]
    fn a_v1_config_becomes_interfaces() {
        let n = load("version: 1\nconfig:\n  - type: physical\n    name: eth0\n    mac_address: 0e:00:00:00:00:01\n    subnets:\n      - type: static\n        address: 192.168.1.10\n        netmask: 255.255.255.0\n        gateway: 192.168.1.1\n  - type: nameserver\n    address: [192.168.1.2]\n").unwrap();
        let u = user_config(Some(&n), "network-config").unwrap().unwrap();
        let eth0 = &u.interfaces[0];
        assert_eq!(eth0.addresses[0].to_string(), "192.168.1.10/24");
        assert_eq!(eth0.routes[0].via.unwrap().to_string(), "192.168.1.1");
        assert_eq!(eth0.nameservers, vec!["192.168.1.2"]);
        let n = load("version: 1\nconfig:\n  - type: bond\n    name: bond0\n").unwrap();
        let e = user_config(Some(&n), "network-config").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
    }
}
