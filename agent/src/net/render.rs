//! Interface plans to the files of a renderer (pure: text in, text out), and the
//! `ip` commands that put a plan on a running interface:
//! - `networkd`: one `10-strap-<if>.network` per interface, matched by MAC, in
//!   `/run/systemd/network` (or `strap_net.networkd_dir`);
//! - `netplan`: `/etc/netplan/50-strap.yaml`, network config version 2 with
//!   `routing-policy`;
//! - `eni` (ifupdown): `/etc/network/interfaces.d/50-strap.cfg`, tables and rules through
//!   `up`/`down` commands;
//! - `network-manager`: `/etc/NetworkManager/system-connections/strap-<if>.nmconnection`,
//!   with `routeN_options=table=` and `routing-ruleN`;
//! - `iproute2`: no files; [`ip_commands`] only.
//!
//! Where a renderer cannot say something the plan has, the file says so in a comment:
//! only networkd can put the IPv6 default route learned from router advertisements
//! into the private table.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::model::{IfacePlan, Route};

/// The header of every file strap writes.
pub const HEADER: &str = "# Written by strap from the instance metadata; strap rewrites it at every boot.\n# Do not edit: set `strap_net` or `network` in /etc/cloud/cloud.cfg.d/ instead.\n";

/// A file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Machine path.
    pub path: String,
    pub contents: String,
    pub mode: u32,
}

/// The file of one renderer for the plans.
pub fn files(renderer: &str, plans: &[&IfacePlan], networkd_dir: &str) -> Vec<RenderedFile> {
    match renderer {
        "networkd" => plans
            .iter()
            .map(|p| RenderedFile {
                path: format!(
                    "{}/10-strap-{}.network",
                    networkd_dir.trim_end_matches('/'),
                    p.name
                ),
                contents: networkd(p),
                mode: 0o644,
            })
            .collect(),
        "netplan" if !plans.is_empty() => vec![RenderedFile {
            path: "/etc/netplan/50-strap.yaml".into(),
            contents: netplan(plans),
            mode: 0o600,
        }],
        "eni" if !plans.is_empty() => vec![RenderedFile {
            path: "/etc/network/interfaces.d/50-strap.cfg".into(),
            contents: eni(plans),
            mode: 0o644,
        }],
        "network-manager" => plans
            .iter()
            .map(|p| RenderedFile {
                path: format!(
                    "/etc/NetworkManager/system-connections/strap-{}.nmconnection",
                    p.name
                ),
                contents: network_manager(p),
                mode: 0o600,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a machine path is one strap writes for a renderer (stale ones are removed).
pub fn is_own_path(renderer: &str, dir: &str, name: &str) -> bool {
    match renderer {
        "networkd" => name.starts_with("10-strap-") && name.ends_with(".network"),
        "netplan" => dir == "/etc/netplan" && name == "50-strap.yaml",
        "eni" => dir == "/etc/network/interfaces.d" && name == "50-strap.cfg",
        "network-manager" => name.starts_with("strap-") && name.ends_with(".nmconnection"),
        _ => false,
    }
}

/// The folders a renderer's files live in.
pub fn own_dirs(renderer: &str, networkd_dir: &str) -> Vec<String> {
    match renderer {
        "networkd" => vec![networkd_dir.trim_end_matches('/').to_string()],
        "netplan" => vec!["/etc/netplan".into()],
        "eni" => vec!["/etc/network/interfaces.d".into()],
        "network-manager" => vec!["/etc/NetworkManager/system-connections".into()],
        _ => Vec::new(),
    }
}

fn origin_comment(p: &IfacePlan) -> String {
    match &p.origin {
        super::model::Origin::Metadata {
            interface_id,
            device_number,
            network_card,
        } => format!(
            "# {}: {} device-number {}{}\n",
            p.name,
            interface_id.as_deref().unwrap_or("(no interface-id)"),
            device_number,
            network_card
                .map(|c| format!(" network-card {c}"))
                .unwrap_or_default()
        ),
        super::model::Origin::User { file } => {
            format!("# {}: from the network config in {file}\n", p.name)
        }
    }
}

/// A networkd `.network` file.
pub fn networkd(p: &IfacePlan) -> String {
    let mut s = String::from(HEADER);
    s.push_str(&origin_comment(p));
    s.push_str("\n[Match]\n");
    match &p.mac {
        Some(m) => {
            let _ = writeln!(s, "MACAddress={m}");
        }
        None => {
            let _ = writeln!(s, "Name={}", p.name);
        }
    }
    if let Some(mtu) = p.mtu {
        let _ = write!(s, "\n[Link]\nMTUBytes={mtu}\n");
    }
    s.push_str("\n[Network]\n");
    let dhcp = match (p.dhcp4, p.dhcp6) {
        (true, true) => "yes",
        (true, false) => "ipv4",
        (false, true) => "ipv6",
        (false, false) => "no",
    };
    let _ = writeln!(s, "DHCP={dhcp}");
    let _ = writeln!(s, "IPv6AcceptRA={}", if p.dhcp6 { "yes" } else { "no" });
    for a in &p.addresses {
        let _ = writeln!(s, "Address={a}");
    }
    for n in &p.nameservers {
        let _ = writeln!(s, "DNS={n}");
    }
    if !p.search.is_empty() {
        let _ = writeln!(s, "Domains={}", p.search.join(" "));
    }
    if let Some(m) = p.metric {
        if p.dhcp4 {
            let _ = write!(s, "\n[DHCPv4]\nRouteMetric={m}\nUseHostname=no\n");
        }
        if p.dhcp6 {
            let _ = write!(s, "\n[IPv6AcceptRA]\nRouteMetric={m}\n");
        }
    }
    for r in &p.routes {
        s.push_str("\n[Route]\n");
        if !r.is_default() || r.via.is_none() {
            let _ = writeln!(s, "Destination={}", r.to);
        }
        if let Some(v) = r.via {
            let _ = writeln!(s, "Gateway={v}");
        } else {
            s.push_str("Scope=link\n");
        }
        if let Some(t) = r.table {
            let _ = writeln!(s, "Table={t}");
        }
        if let Some(m) = r.metric {
            let _ = writeln!(s, "Metric={m}");
        }
    }
    if let Some(t) = p.ra_table {
        let _ = write!(s, "\n[Route]\nGateway=_ipv6ra\nTable={t}\n");
    }
    for r in &p.rules {
        let _ = write!(
            s,
            "\n[RoutingPolicyRule]\nFrom={}\nTable={}\nPriority={}\n",
            r.from, r.table, r.priority
        );
    }
    s
}

fn yaml_route(r: &Route) -> String {
    let mut parts = vec![format!(
        "to: {}",
        if r.is_default() {
            "default".to_string()
        } else {
            format!("\"{}\"", r.to)
        }
    )];
    if let Some(v) = r.via {
        parts.push(format!("via: \"{v}\""));
    } else {
        parts.push("scope: link".into());
    }
    if let Some(t) = r.table {
        parts.push(format!("table: {t}"));
    }
    if let Some(m) = r.metric {
        parts.push(format!("metric: {m}"));
    }
    format!("{{{}}}", parts.join(", "))
}

/// A netplan file (network config version 2).
pub fn netplan(plans: &[&IfacePlan]) -> String {
    let mut s = String::from(HEADER);
    s.push_str("network:\n  version: 2\n  ethernets:\n");
    for p in plans {
        let _ = writeln!(s, "    {}:", p.name);
        if let Some(m) = &p.mac {
            let _ = writeln!(s, "      match:\n        macaddress: \"{m}\"");
            if !p.name_assumed {
                let _ = writeln!(s, "      set-name: {}", p.name);
            }
        }
        let _ = writeln!(s, "      dhcp4: {}", p.dhcp4);
        if let (Some(m), true) = (p.metric, p.dhcp4) {
            let _ = writeln!(s, "      dhcp4-overrides:\n        route-metric: {m}");
        }
        let _ = writeln!(s, "      dhcp6: {}", p.dhcp6);
        if let (Some(m), true) = (p.metric, p.dhcp6) {
            let _ = writeln!(s, "      dhcp6-overrides:\n        route-metric: {m}");
        }
        if let Some(mtu) = p.mtu {
            let _ = writeln!(s, "      mtu: {mtu}");
        }
        if !p.addresses.is_empty() {
            s.push_str("      addresses:\n");
            for a in &p.addresses {
                let _ = writeln!(s, "        - \"{a}\"");
            }
        }
        if !p.nameservers.is_empty() || !p.search.is_empty() {
            s.push_str("      nameservers:\n");
            if !p.nameservers.is_empty() {
                let _ = writeln!(s, "        addresses: [{}]", p.nameservers.join(", "));
            }
            if !p.search.is_empty() {
                let _ = writeln!(s, "        search: [{}]", p.search.join(", "));
            }
        }
        if !p.routes.is_empty() {
            s.push_str("      routes:\n");
            for r in &p.routes {
                let _ = writeln!(s, "        - {}", yaml_route(r));
            }
        }
        if p.ra_table.is_some() {
            s.push_str("      # the IPv6 default route from router advertisements stays in the main table (netplan cannot move it)\n");
        }
        if !p.rules.is_empty() {
            s.push_str("      routing-policy:\n");
            for r in &p.rules {
                let _ = writeln!(
                    s,
                    "        - {{from: \"{}\", table: {}, priority: {}}}",
                    r.from, r.table, r.priority
                );
            }
        }
    }
    s
}

/// The `ip` arguments (after `ip`) that add a plan's static state to a running
/// interface: addresses, table routes and rules. `replace` makes routes and addresses
/// idempotent; rules are compared by the caller before they are added.
pub fn ip_static(p: &IfacePlan) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let dev = p.name.clone();
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let fam = |v4: bool| if v4 { "-4" } else { "-6" }.to_string();
    for a in &p.addresses {
        cmds.push(vec![
            fam(a.is_v4()),
            "addr".into(),
            "replace".into(),
            a.to_string(),
            "dev".into(),
            dev.clone(),
        ]);
    }
    for r in &p.routes {
        let mut c = vec![
            fam(r.to.is_v4()),
            "route".into(),
            "replace".into(),
            if r.is_default() {
                "default".into()
            } else {
                r.to.to_string()
            },
        ];
        if let Some(v) = r.via {
            c.extend(["via".into(), v.to_string()]);
        }
        c.extend(["dev".into(), dev.clone()]);
        if r.via.is_none() {
            c.extend(["scope".into(), "link".into()]);
        }
        if let Some(t) = r.table {
            c.extend(["table".into(), t.to_string()]);
        }
        if let Some(m) = r.metric {
            c.extend(["metric".into(), m.to_string()]);
        }
        cmds.push(c);
    }
    let rules = p
        .rules
        .iter()
        .map(|r| {
            vec![
                fam(r.from.is_v4()),
                "rule".into(),
                "add".into(),
                "from".into(),
                r.from.to_string(),
                "lookup".into(),
                r.table.to_string(),
                "priority".into(),
                r.priority.to_string(),
            ]
        })
        .collect();
    (cmds, rules)
}

/// The `ip` commands that configure a plan without DHCP (the iproute2 renderer): the
/// link up, the DHCP address and default route statically, then [`ip_static`].
pub fn ip_commands(p: &IfacePlan) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let dev = p.name.clone();
    let mut cmds = vec![vec![
        "link".into(),
        "set".into(),
        "dev".into(),
        dev.clone(),
        "up".into(),
    ]];
    if let (true, Some(a)) = (p.dhcp4, p.dhcp4_address) {
        cmds.push(vec![
            "-4".into(),
            "addr".into(),
            "replace".into(),
            a.to_string(),
            "dev".into(),
            dev.clone(),
        ]);
        if let Some(gw) = p.dhcp4_gateway {
            let mut c: Vec<String> = vec![
                "-4".into(),
                "route".into(),
                "replace".into(),
                "default".into(),
                "via".into(),
                gw.to_string(),
                "dev".into(),
                dev.clone(),
            ];
            if let Some(m) = p.metric {
                c.extend(["metric".into(), m.to_string()]);
            }
            cmds.push(c);
        }
    }
    let (more, rules) = ip_static(p);
    cmds.extend(more);
    (cmds, rules)
}

/// ifupdown stanzas.
pub fn eni(plans: &[&IfacePlan]) -> String {
    let mut s = String::from(HEADER);
    for p in plans {
        s.push('\n');
        s.push_str(&origin_comment(p));
        let _ = writeln!(s, "allow-hotplug {}", p.name);
        let v4: Vec<&super::addr::Cidr> = p.addresses.iter().filter(|a| a.is_v4()).collect();
        let static_first: Option<&super::addr::Cidr> =
            if p.dhcp4 { None } else { v4.first().copied() };
        match (p.dhcp4, static_first) {
            (true, _) => {
                let _ = writeln!(s, "iface {} inet dhcp", p.name);
                if let Some(m) = p.metric {
                    let _ = writeln!(s, "    metric {m}");
                }
            }
            (false, Some(a)) => {
                let _ = writeln!(s, "iface {} inet static\n    address {a}", p.name);
                if let Some(r) = p
                    .routes
                    .iter()
                    .find(|r| r.is_default() && r.to.is_v4() && r.table.is_none())
                {
                    if let Some(v) = r.via {
                        let _ = writeln!(s, "    gateway {v}");
                    }
                }
            }
            (false, None) => {
                let _ = writeln!(s, "iface {} inet manual", p.name);
            }
        }
        if let Some(mtu) = p.mtu {
            let _ = writeln!(s, "    mtu {mtu}");
        }
        if !p.nameservers.is_empty() {
            let _ = writeln!(s, "    dns-nameservers {}", p.nameservers.join(" "));
        }
        let (cmds, rules) = ip_static(p);
        for c in cmds.iter().chain(rules.iter()) {
            // the first static IPv4 address is the stanza's own.
            if static_first.is_some_and(|a| c.get(3) == Some(&a.to_string())) {
                continue;
            }
            if c.get(1).map(String::as_str) == Some("route")
                && c.get(3).map(String::as_str) == Some("default")
                && !c.contains(&"table".to_string())
            {
                continue;
            }
            let _ = writeln!(s, "    up ip {} || true", c.join(" "));
        }
        for r in &rules {
            let mut d = r.clone();
            d[2] = "del".into();
            let _ = writeln!(s, "    down ip {} || true", d.join(" "));
        }
        if p.dhcp6 {
            let _ = writeln!(s, "iface {} inet6 dhcp", p.name);
            if p.ra_table.is_some() {
                s.push_str("    # the IPv6 default route from router advertisements stays in the main table (ifupdown cannot move it)\n");
            }
        }
    }
    s
}

/// A stable UUID for a connection profile, from its interface's MAC or name.
fn uuid_for(key: &str) -> String {
    let h = Sha256::digest(format!("strap-net:{key}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// A NetworkManager keyfile.
pub fn network_manager(p: &IfacePlan) -> String {
    let mut s = String::from(HEADER);
    s.push_str(&origin_comment(p));
    let key = p.mac.clone().unwrap_or_else(|| p.name.clone());
    let _ = write!(
        s,
        "\n[connection]\nid=strap-{name}\nuuid={uuid}\ntype=ethernet\nautoconnect-priority=120\n",
        name = p.name,
        uuid = uuid_for(&key)
    );
    if p.mac.is_none() || !p.name_assumed {
        let _ = writeln!(s, "interface-name={}", p.name);
    }
    s.push_str("\n[ethernet]\n");
    if let Some(m) = &p.mac {
        let _ = writeln!(s, "mac-address={}", m.to_ascii_uppercase());
    }
    if let Some(mtu) = p.mtu {
        let _ = writeln!(s, "mtu={mtu}");
    }
    for v4 in [true, false] {
        let family = if v4 { "ipv4" } else { "ipv6" };
        let dhcp = if v4 { p.dhcp4 } else { p.dhcp6 };
        let addrs: Vec<_> = p.addresses.iter().filter(|a| a.is_v4() == v4).collect();
        let routes: Vec<_> = p.routes.iter().filter(|r| r.to.is_v4() == v4).collect();
        let rules: Vec<_> = p.rules.iter().filter(|r| r.from.is_v4() == v4).collect();
        let _ = writeln!(s, "\n[{family}]");
        let method = match (dhcp, addrs.is_empty()) {
            (true, _) => "auto",
            (false, false) => "manual",
            (false, true) => {
                if v4 {
                    "disabled"
                } else {
                    "ignore"
                }
            }
        };
        let _ = writeln!(s, "method={method}");
        if let (Some(m), true) = (p.metric, dhcp) {
            let _ = writeln!(s, "route-metric={m}");
        }
        for (i, a) in addrs.iter().enumerate() {
            let _ = writeln!(s, "address{}={a}", i + 1);
        }
        let dns: Vec<&String> = p
            .nameservers
            .iter()
            .filter(|n| n.contains(':') != v4)
            .collect();
        if !dns.is_empty() {
            let _ = writeln!(
                s,
                "dns={};",
                dns.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(";")
            );
        }
        for (i, r) in routes.iter().enumerate() {
            let n = i + 1;
            match r.via {
                Some(v) => {
                    let _ = writeln!(s, "route{n}={},{v}", r.to);
                }
                None => {
                    let _ = writeln!(s, "route{n}={}", r.to);
                }
            }
            let mut opts = Vec::new();
            if let Some(t) = r.table {
                opts.push(format!("table={t}"));
            }
            if let Some(m) = r.metric {
                opts.push(format!("metric={m}"));
            }
            if !opts.is_empty() {
                let _ = writeln!(s, "route{n}_options={}", opts.join(","));
            }
        }
        for (i, r) in rules.iter().enumerate() {
            let _ = writeln!(
                s,
                "routing-rule{}=priority {} from {} table {}",
                i + 1,
                r.priority,
                r.from,
                r.table
            );
        }
        if !v4 && p.ra_table.is_some() {
            s.push_str(
                "# the IPv6 default route from router advertisements stays in the main table\n",
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = uuid_for("0e:00:00:00:00:01");
        assert_eq!(a, uuid_for("0e:00:00:00:00:01"));
        assert_ne!(a, uuid_for("0e:00:00:00:00:02"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
    }
}
