//! From the metadata's interfaces (or the user's network config) to a [`Decision`] per
//! interface: configured (with its [`IfacePlan`]) or left alone, and why.
//!
//! Numbering follows amazon-ec2-net-utils, so that an image switching from it keeps its
//! tables: for network card `c` and device number `d`, route metric `512 + 100c + d`,
//! private table `10000 + 100c + d`, and rule priority equal to the table. The primary
//! interface (card 0, device 0) gets DHCP and the default route in the main table and no
//! rules (so that containers behind a bridge keep working). Every other interface gets
//! its own table with a default route via the subnet's router (the subnet's first host
//! address on EC2) and the subnet routes, and a `from` rule for each of its addresses and
//! delegated prefixes. Secondary IPv4 addresses take the subnet's length; secondary IPv6
//! addresses are /128 (the first of each comes from DHCP).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;

use super::addr::Cidr;
use super::config::{LaterEnis, NetSettings, UserConfig};
use super::existing::Claims;
use super::machine::Inventory;
use super::metadata::{Eni, MetadataError};
use super::model::{IfacePlan, Origin, Route, Rule};

/// Base of the route metrics (amazon-ec2-net-utils' `metric_base`).
pub const METRIC_BASE: u32 = 512;
/// Base of the private tables and rule priorities (its `rule_base`).
pub const TABLE_BASE: u32 = 10000;

/// What strap does with one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// strap renders its configuration.
    Configured,
    /// strap does not touch it (another owner, or not selected).
    LeftAlone,
    /// Something is wrong; strap does not touch it.
    Error,
}

/// One interface's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub name: Option<String>,
    pub mac: Option<String>,
    pub interface_id: Option<String>,
    pub device_number: Option<u32>,
    pub network_card: Option<u32>,
    pub action: Action,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<IfacePlan>,
}

/// What the decisions are built from.
pub struct Inputs<'a> {
    /// Every MAC of the metadata with its parsed interface (or what was wrong).
    pub enis: Vec<(String, Result<Eni, MetadataError>)>,
    pub inventory: &'a Inventory,
    pub settings: &'a NetSettings,
    /// Interfaces other tools' files configure (for the chosen renderer).
    pub claims: &'a Claims,
    /// The MACs present at the instance's first boot; `None` on the first boot.
    pub launch_macs: Option<&'a [String]>,
    /// A container network plugin's config, when one is installed.
    pub cni: Option<String>,
    /// Interfaces the instance tag names (`strap_net.unmanaged_tag`).
    pub tag_unmanaged: Vec<String>,
    /// The user's network config, which replaces the metadata-derived one.
    pub user: Option<&'a UserConfig>,
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, post)) => {
            text.len() >= pre.len() + post.len() && text.starts_with(pre) && text.ends_with(post)
        }
    }
}

/// Numbers of an interface: (metric, table).
pub fn numbers(eni: &Eni) -> (u32, u32) {
    let n = 100 * eni.card() + eni.device_number;
    (METRIC_BASE + n, TABLE_BASE + n)
}

/// The configuration of one interface from its metadata.
pub fn eni_plan(eni: &Eni, name: String, name_assumed: bool, policy_routing: bool) -> IfacePlan {
    let (metric, table) = numbers(eni);
    let mut p = IfacePlan::new(
        name,
        Some(eni.mac.clone()),
        Origin::Metadata {
            interface_id: eni.interface_id.clone(),
            device_number: eni.device_number,
            network_card: eni.network_card,
        },
    );
    p.name_assumed = name_assumed;
    p.dhcp4 = !eni.ipv4s.is_empty();
    p.dhcp6 = !eni.ipv6s.is_empty();
    p.metric = Some(metric);
    if let (Some(first), Some(subnet)) = (eni.ipv4s.first(), eni.subnet_ipv4) {
        p.dhcp4_address = Some(Cidr::with_len(IpAddr::V4(*first), subnet.len));
        p.dhcp4_gateway = eni.gateway4();
        for a in eni.ipv4s.iter().skip(1) {
            p.addresses.push(Cidr::with_len(IpAddr::V4(*a), subnet.len));
        }
    }
    for a in eni.ipv6s.iter().skip(1) {
        p.addresses.push(Cidr::host(*a));
    }
    if eni.is_primary() || !policy_routing {
        return p;
    }
    if let (Some(gw), Some(subnet)) = (eni.gateway4(), eni.subnet_ipv4) {
        p.routes.push(Route {
            to: Cidr::with_len(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0),
            via: Some(IpAddr::V4(gw)),
            table: Some(table),
            metric: None,
        });
        p.routes.push(Route {
            to: subnet.network(),
            via: None,
            table: Some(table),
            metric: None,
        });
    }
    if p.dhcp6 {
        for s in &eni.subnet_ipv6 {
            p.routes.push(Route {
                to: s.network(),
                via: None,
                table: Some(table),
                metric: None,
            });
        }
        p.ra_table = Some(table);
    }
    let froms = eni
        .ipv4s
        .iter()
        .map(|a| Cidr::host(IpAddr::V4(*a)))
        .chain(eni.ipv6s.iter().map(|a| Cidr::host(*a)))
        .chain(eni.prefixes.iter().map(Cidr::network));
    for from in froms {
        p.rules.push(Rule {
            from,
            table,
            priority: table,
        });
    }
    p
}

/// Decide for every interface.
pub fn decide(inputs: &Inputs<'_>) -> Vec<Decision> {
    let mut out = Vec::new();
    let mut seen_macs = BTreeSet::new();
    if let Some(user) = inputs.user {
        for (i, plan) in user.interfaces.iter().enumerate() {
            let mut plan = plan.clone();
            let nic = plan.mac.as_deref().and_then(|m| inputs.inventory.by_mac(m));
            if let Some(m) = &plan.mac {
                seen_macs.insert(m.clone());
            }
            let mut d = Decision {
                name: Some(plan.name.clone()),
                mac: plan.mac.clone(),
                interface_id: None,
                device_number: None,
                network_card: None,
                action: Action::Configured,
                reason: format!(
                    "from the network config in {} (version {})",
                    user.file, user.version
                ),
                plan: None,
            };
            if let (Some(m), true, None) = (&plan.mac, inputs.inventory.inspected(), nic) {
                d.action = Action::Error;
                d.reason = format!(
                    "the network config in {} matches MAC {m}, which no interface of this machine has",
                    user.file
                );
            } else if let Some(file) = inputs.claims.claimed_by(
                &plan.name,
                plan.mac.as_deref(),
                nic.and_then(|n| n.driver.as_deref()),
            ) {
                d.action = Action::LeftAlone;
                d.reason = format!("configured by {file}, which another tool wrote and which wins over strap's file");
            } else {
                if let Some(n) = nic {
                    if plan.name.is_empty() {
                        plan.name = n.name.clone();
                    }
                }
                if plan.name.is_empty() {
                    plan.name = format!("eth{i}");
                }
                d.plan = Some(plan);
            }
            out.push(d);
        }
    } else {
        let mut enis: Vec<&(String, Result<Eni, MetadataError>)> = inputs.enis.iter().collect();
        enis.sort_by_key(|(mac, r)| match r {
            Ok(e) => (0, e.order_key()),
            Err(_) => (1, (0, 0, mac.clone())),
        });
        for (index, (mac, parsed)) in enis.iter().enumerate() {
            seen_macs.insert(mac.clone());
            out.push(decide_eni(inputs, index, mac, parsed));
        }
    }
    if let Inventory::Seen(nics) = inputs.inventory {
        for nic in nics
            .iter()
            .filter(|n| n.physical && !seen_macs.contains(&n.mac))
        {
            out.push(Decision {
                name: Some(nic.name.clone()),
                mac: Some(nic.mac.clone()),
                interface_id: None,
                device_number: None,
                network_card: None,
                action: Action::LeftAlone,
                reason: if inputs.user.is_some() {
                    "not in the network config".into()
                } else {
                    "this machine has it but the metadata does not list its MAC (not an ENI of this instance)".into()
                },
                plan: None,
            });
        }
    }
    out
}

fn decide_eni(
    inputs: &Inputs<'_>,
    index: usize,
    mac: &str,
    parsed: &Result<Eni, MetadataError>,
) -> Decision {
    let nic = inputs.inventory.by_mac(mac);
    let mut d = Decision {
        name: nic.map(|n| n.name.clone()),
        mac: Some(mac.to_string()),
        interface_id: None,
        device_number: None,
        network_card: None,
        action: Action::LeftAlone,
        reason: String::new(),
        plan: None,
    };
    let eni = match parsed {
        Ok(e) => e,
        Err(e) => {
            d.action = Action::Error;
            d.reason = e.to_string();
            return d;
        }
    };
    d.interface_id = eni.interface_id.clone();
    d.device_number = Some(eni.device_number);
    d.network_card = eni.network_card;
    let s = inputs.settings;
    if inputs.inventory.inspected() && nic.is_none() {
        d.action = Action::Error;
        d.reason = format!(
            "the metadata lists interface {mac}{} but this machine has no interface with that MAC (still attaching, or detached)",
            eni.interface_id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default()
        );
        return d;
    }
    let names: Vec<String> = [
        Some(mac.to_string()),
        eni.interface_id.clone(),
        Some(eni.device_number.to_string()),
        nic.map(|n| n.name.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(hit) = s
        .unmanaged
        .iter()
        .find(|u| names.iter().any(|n| n.eq_ignore_ascii_case(u)))
    {
        d.reason = format!("listed in strap_net.unmanaged (`{hit}`)");
        return d;
    }
    if let Some(hit) = inputs
        .tag_unmanaged
        .iter()
        .find(|u| names.iter().any(|n| n.eq_ignore_ascii_case(u)))
    {
        d.reason = format!(
            "named by the instance tag {} (`{hit}`)",
            s.unmanaged_tag.as_deref().unwrap_or("-")
        );
        return d;
    }
    let sel = &s.manage;
    if !sel.is_empty() {
        let driver = nic.and_then(|n| n.driver.clone());
        let hit = sel.device_numbers.contains(&eni.device_number)
            || sel.macs.iter().any(|m| m == mac)
            || eni
                .interface_id
                .as_ref()
                .is_some_and(|id| sel.interface_ids.contains(id))
            || driver
                .as_deref()
                .is_some_and(|dr| sel.drivers.iter().any(|g| glob(g, dr)));
        if !hit {
            d.reason = "not selected by strap_net.manage".into();
            return d;
        }
    }
    if let Some(launch) = inputs.launch_macs {
        if !eni.is_primary() && !launch.iter().any(|m| m == mac) {
            match (s.later_enis, &inputs.cni) {
                (LaterEnis::Ignore, _) => {
                    d.reason = "attached after the instance's first boot, and strap_net.later_enis is `ignore`".into();
                    return d;
                }
                (LaterEnis::Auto, Some(cni)) => {
                    d.reason = format!(
                        "attached after the instance's first boot while a container network plugin is installed ({cni}): left to it (strap_net.later_enis: manage to configure it)"
                    );
                    return d;
                }
                _ => {}
            }
        }
    }
    let (name, assumed) = match nic {
        Some(n) => (n.name.clone(), false),
        None => (format!("eth{index}"), true),
    };
    if let Some(file) =
        inputs
            .claims
            .claimed_by(&name, Some(mac), nic.and_then(|n| n.driver.as_deref()))
    {
        d.reason = format!(
            "configured by {file}, which another tool wrote and which wins over strap's file"
        );
        return d;
    }
    d.name = Some(name.clone());
    d.action = Action::Configured;
    d.reason = if eni.is_primary() {
        "the primary interface: DHCP, default route in the main table".into()
    } else if s.policy_routing {
        let (metric, table) = numbers(eni);
        format!("secondary interface: metric {metric}, table {table}, rules for its addresses")
    } else {
        "secondary interface (strap_net.policy_routing is off: no table or rules)".into()
    };
    if assumed {
        d.reason
            .push_str("; name assumed (the machine's interfaces were not inspected under --root)");
    }
    d.plan = Some(eni_plan(eni, name, assumed, s.policy_routing));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::existing::Claims;
    use std::collections::BTreeMap;

    fn eni(mac: &str, leaves: &[(&str, &str)]) -> (String, Result<Eni, MetadataError>) {
        let map: BTreeMap<String, String> = leaves
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        (mac.to_string(), Eni::parse(mac, |k| map.get(k).cloned()))
    }

    fn two() -> Vec<(String, Result<Eni, MetadataError>)> {
        vec![
            eni(
                "0e:00:00:00:00:02",
                &[
                    ("device-number", "1"),
                    ("interface-id", "eni-2"),
                    ("local-ipv4s", "10.0.2.10\n10.0.2.11"),
                    ("subnet-ipv4-cidr-block", "10.0.2.0/24"),
                    ("ipv4-prefix", "10.0.2.64/28"),
                ],
            ),
            eni(
                "0e:00:00:00:00:01",
                &[
                    ("device-number", "0"),
                    ("interface-id", "eni-1"),
                    ("local-ipv4s", "10.0.1.17"),
                    ("subnet-ipv4-cidr-block", "10.0.1.0/24"),
                ],
            ),
        ]
    }

    fn inputs<'a>(
        enis: Vec<(String, Result<Eni, MetadataError>)>,
        inv: &'a Inventory,
        s: &'a NetSettings,
        claims: &'a Claims,
    ) -> Inputs<'a> {
        Inputs {
            enis,
            inventory: inv,
            settings: s,
            claims,
            launch_macs: None,
            cni: None,
            tag_unmanaged: Vec::new(),
            user: None,
        }
    }

    #[test]
    fn secondary_interfaces_get_a_table_and_rules_and_the_primary_none() {
        let s = NetSettings::default();
        let c = Claims::default();
        let ds = decide(&inputs(two(), &Inventory::NotInspected, &s, &c));
        assert_eq!(ds.len(), 2);
        let p0 = ds[0].plan.as_ref().unwrap();
        assert_eq!(p0.name, "eth0");
        assert!(p0.rules.is_empty() && p0.routes.is_empty());
        assert_eq!(p0.metric, Some(512));
        let p1 = ds[1].plan.as_ref().unwrap();
        assert_eq!(p1.metric, Some(513));
        assert_eq!(p1.addresses[0].to_string(), "10.0.2.11/24");
        assert_eq!(p1.routes[0].via.unwrap().to_string(), "10.0.2.1");
        assert_eq!(p1.routes[0].table, Some(10001));
        let froms: Vec<String> = p1.rules.iter().map(|r| r.from.to_string()).collect();
        assert_eq!(froms, vec!["10.0.2.10/32", "10.0.2.11/32", "10.0.2.64/28"]);
        assert!(p1.rules.iter().all(|r| r.priority == 10001));
    }

    #[test]
    fn unmanaged_later_and_foreign_interfaces_are_left_alone_with_a_reason() {
        let s = NetSettings {
            unmanaged: vec!["eni-2".into()],
            ..Default::default()
        };
        let c = Claims::default();
        let ds = decide(&inputs(two(), &Inventory::NotInspected, &s, &c));
        assert_eq!(ds[1].action, Action::LeftAlone);
        assert!(
            ds[1].reason.contains("strap_net.unmanaged"),
            "{}",
            ds[1].reason
        );

        let s = NetSettings::default();
        let launch = vec!["0e:00:00:00:00:01".to_string()];
        let mut i = inputs(two(), &Inventory::NotInspected, &s, &c);
        i.launch_macs = Some(&launch);
        i.cni = Some("/etc/cni/net.d/10-aws.conflist".into());
        let ds = decide(&i);
        assert_eq!(ds[0].action, Action::Configured);
        assert_eq!(ds[1].action, Action::LeftAlone);
        assert!(
            ds[1].reason.contains("container network plugin"),
            "{}",
            ds[1].reason
        );
        i.cni = None;
        assert_eq!(decide(&i)[1].action, Action::Configured);

        let inv = Inventory::Seen(vec![
            crate::net::machine::Nic {
                name: "ens5".into(),
                mac: "0e:00:00:00:00:01".into(),
                driver: Some("ena".into()),
                physical: true,
            },
            crate::net::machine::Nic {
                name: "ens9".into(),
                mac: "0e:00:00:00:00:99".into(),
                driver: Some("ena".into()),
                physical: true,
            },
        ]);
        let ds = decide(&inputs(two(), &inv, &s, &c));
        assert_eq!(ds[0].plan.as_ref().unwrap().name, "ens5");
        assert_eq!(ds[1].action, Action::Error);
        assert!(
            ds[1].reason.contains("no interface with that MAC"),
            "{}",
            ds[1].reason
        );
        assert_eq!(ds[2].name.as_deref(), Some("ens9"));
        assert!(
            ds[2].reason.contains("metadata does not list"),
            "{}",
            ds[2].reason
        );
    }

    #[test]
    fn manage_selectors_choose_the_interfaces() {
        let s = NetSettings {
            manage: crate::net::config::Selectors {
                device_numbers: vec![0],
                ..Default::default()
            },
            ..Default::default()
        };
        let c = Claims::default();
        let ds = decide(&inputs(two(), &Inventory::NotInspected, &s, &c));
        assert_eq!(ds[0].action, Action::Configured);
        assert_eq!(ds[1].action, Action::LeftAlone);
        assert!(glob("virtio*", "virtio_net") && !glob("ena", "enax"));
    }
}
