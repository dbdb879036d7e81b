//! Golden files: every metadata shape through every renderer, compared with
//! `agent/src/net/golden/<shape>.<renderer>`. `STRAP_UPDATE_GOLDEN=1 cargo test -p strap
//! --lib net::golden` rewrites them (review the diff before committing).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::config::NetSettings;
use super::existing::Claims;
use super::machine::Inventory;
use super::metadata::{Eni, MetadataError};
use super::plan::{decide, Action, Inputs};
use super::render;

type Shape = Vec<(&'static str, Vec<(&'static str, &'static str)>)>;

fn primary() -> (&'static str, Vec<(&'static str, &'static str)>) {
    (
        "0e:49:61:0f:c3:11",
        vec![
            ("device-number", "0"),
            ("interface-id", "eni-0f95d3625f5c521cc"),
            ("local-ipv4s", "10.0.1.17"),
            ("subnet-ipv4-cidr-block", "10.0.1.0/24"),
        ],
    )
}

fn second(
    extra: &[(&'static str, &'static str)],
) -> (&'static str, Vec<(&'static str, &'static str)>) {
    let mut v = vec![
        ("device-number", "1"),
        ("interface-id", "eni-0a1b2c3d4e5f60002"),
        ("local-ipv4s", "10.0.2.10"),
        ("subnet-ipv4-cidr-block", "10.0.2.0/24"),
    ];
    for (k, val) in extra {
        v.retain(|(x, _)| x != k);
        v.push((k, val));
    }
    ("0e:49:61:0f:c3:22", v)
}

fn shapes() -> Vec<(&'static str, Shape, bool)> {
    vec![
        ("one-eni", vec![primary()], false),
        ("two-enis", vec![primary(), second(&[])], false),
        (
            "two-cards",
            vec![
                {
                    let (m, mut v) = primary();
                    v.push(("network-card", "0"));
                    (m, v)
                },
                second(&[("network-card", "1"), ("device-number", "0")]),
            ],
            false,
        ),
        (
            "secondary-ipv4",
            vec![
                {
                    let (m, mut v) = primary();
                    v.retain(|(k, _)| *k != "local-ipv4s");
                    v.push(("local-ipv4s", "10.0.1.17\n10.0.1.18"));
                    (m, v)
                },
                second(&[("local-ipv4s", "10.0.2.10\n10.0.2.11\n10.0.2.12")]),
            ],
            false,
        ),
        (
            "ipv6-only",
            vec![
                (
                    "0e:49:61:0f:c3:11",
                    vec![
                        ("device-number", "0"),
                        ("interface-id", "eni-0f95d3625f5c521cc"),
                        ("ipv6s", "2600:1f18:abcd:1::17"),
                        ("subnet-ipv6-cidr-blocks", "2600:1f18:abcd:1::/64"),
                    ],
                ),
                (
                    "0e:49:61:0f:c3:22",
                    vec![
                        ("device-number", "1"),
                        ("interface-id", "eni-0a1b2c3d4e5f60002"),
                        ("ipv6s", "2600:1f18:abcd:2::10\n2600:1f18:abcd:2::11"),
                        ("subnet-ipv6-cidr-blocks", "2600:1f18:abcd:2::/64"),
                    ],
                ),
            ],
            false,
        ),
        (
            "prefixes",
            vec![
                primary(),
                second(&[
                    ("ipv4-prefix", "10.0.2.64/28"),
                    ("ipv6s", "2600:1f18:abcd:2::10"),
                    ("subnet-ipv6-cidr-blocks", "2600:1f18:abcd:2::/64"),
                    ("ipv6-prefix", "2600:1f18:abcd:2:1::/80"),
                ]),
            ],
            false,
        ),
        ("cni-owned", vec![primary(), second(&[])], true),
    ]
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/net/golden")
}

/// Render a shape with a renderer to one text (files separated by their path).
fn render_shape(shape: &Shape, cni: bool, renderer: &str) -> String {
    let enis: Vec<(String, Result<Eni, MetadataError>)> = shape
        .iter()
        .map(|(mac, leaves)| {
            let map: BTreeMap<&str, &str> = leaves.iter().copied().collect();
            (
                (*mac).to_string(),
                Eni::parse(mac, |k| map.get(k).map(|v| (*v).to_string())),
            )
        })
        .collect();
    let launch = vec!["0e:49:61:0f:c3:11".to_string()];
    let settings = NetSettings::default();
    let claims = Claims::default();
    let inputs = Inputs {
        enis,
        inventory: &Inventory::NotInspected,
        settings: &settings,
        claims: &claims,
        launch_macs: cni.then_some(launch.as_slice()),
        cni: cni.then(|| "/etc/cni/net.d/10-aws.conflist".to_string()),
        tag_unmanaged: Vec::new(),
        user: None,
    };
    let decisions = decide(&inputs);
    let mut out = String::new();
    for d in &decisions {
        out.push_str(&format!(
            "## {} {}: {:?}: {}\n",
            d.name.as_deref().unwrap_or("-"),
            d.mac.as_deref().unwrap_or("-"),
            d.action,
            d.reason
        ));
    }
    let plans: Vec<_> = decisions
        .iter()
        .filter(|d| d.action == Action::Configured)
        .filter_map(|d| d.plan.as_ref())
        .collect();
    if renderer == "iproute2" {
        for p in &plans {
            let (cmds, rules) = render::ip_commands(p);
            for c in cmds.iter().chain(rules.iter()) {
                out.push_str(&format!("ip {}\n", c.join(" ")));
            }
        }
        return out;
    }
    for f in render::files(renderer, &plans, "/run/systemd/network") {
        out.push_str(&format!(
            "==> {} (mode {:o})\n{}",
            f.path, f.mode, f.contents
        ));
    }
    out
}

#[test]
fn every_shape_renders_as_its_golden_file_on_every_renderer() {
    let update = std::env::var("STRAP_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let dir = golden_dir();
    let mut mismatches = Vec::new();
    for (name, shape, cni) in shapes() {
        for renderer in ["networkd", "netplan", "eni", "network-manager", "iproute2"] {
            let got = render_shape(&shape, cni, renderer);
            let path = dir.join(format!("{name}.{renderer}"));
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want != got {
                mismatches.push(format!(
                    "{}:\n--- want\n{want}\n--- got\n{got}",
                    path.display()
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_netplan_rendering_parses_back_as_the_same_interfaces() {
    for (name, shape, cni) in shapes() {
        let text = render_shape(&shape, cni, "netplan");
        let Some(start) = text.find("network:") else {
            continue;
        };
        let node = crate::cloudconfig::yaml::load(&text[start..]).unwrap();
        let back = super::config::user_config(Some(&node), name)
            .unwrap()
            .unwrap();
        let configured = text
            .lines()
            .filter(|l| l.starts_with("## ") && l.contains("Configured"))
            .count();
        assert_eq!(back.interfaces.len(), configured, "{name}");
    }
}

#[test]
fn networkd_is_reloaded_over_the_bus_or_restarted_through_systemd_before_it() {
    use super::model::{IfacePlan, Origin};
    use super::{reload_commands, Bus, FileChange};
    let plan = |name: &str, assumed: bool| {
        let mut p = IfacePlan::new(
            name.into(),
            None,
            Origin::User {
                file: "test".into(),
            },
        );
        p.name_assumed = assumed;
        p
    };
    let (ens5, eth1) = (plan("ens5", false), plan("eth1", true));
    let plans = [&ens5, &eth1];
    let changed = |name: &str, change: &str| FileChange {
        path: format!("/run/systemd/network/10-strap-{name}.network"),
        change: change.into(),
        interface: Some(name.into()),
    };
    let files = [changed("ens5", "written"), changed("eth1", "written")];
    let on_bus = Bus {
        system_bus: true,
        wait_online: Some("/lib/systemd/systemd-networkd-wait-online".into()),
    };
    assert_eq!(
        reload_commands("networkd", &files, &plans, &on_bus),
        ["networkctl reload", "networkctl reconfigure ens5 eth1"]
    );
    let early = Bus {
        system_bus: false,
        ..on_bus
    };
    assert_eq!(
        reload_commands("networkd", &files, &plans, &early),
        [
            "systemctl try-restart systemd-networkd.service",
            "/lib/systemd/systemd-networkd-wait-online --timeout=30 --operational-state=routable --interface=ens5"
        ],
        "only interfaces whose names were seen are waited for"
    );
    let unchanged = [changed("ens5", "unchanged")];
    assert!(reload_commands("networkd", &unchanged, &plans, &early).is_empty());
}

/// A metadata tree of the given interfaces, as the service lists them.
fn metadata_tree(
    enis: &[(&'static str, Vec<(&'static str, &'static str)>)],
) -> BTreeMap<String, String> {
    let macs = super::metadata::MACS_PATH;
    let mut tree: BTreeMap<String, String> = BTreeMap::new();
    let listing: Vec<String> = enis.iter().map(|(mac, _)| format!("{mac}/")).collect();
    tree.insert(macs.into(), listing.join("\n"));
    for (mac, leaves) in enis {
        let mut listing: Vec<&str> = leaves.iter().map(|(k, _)| *k).collect();
        listing.extend([
            "mac",
            "owner-id",
            "security-group-ids",
            "subnet-id",
            "vpc-id",
        ]);
        tree.insert(format!("{macs}{mac}/"), listing.join("\n"));
        for (k, v) in leaves {
            tree.insert(format!("{macs}{mac}/{k}"), (*v).into());
        }
    }
    tree
}

type Rounds = std::rc::Rc<std::cell::RefCell<Vec<Vec<String>>>>;
type Answers = Vec<Result<Option<Vec<u8>>, String>>;

/// Fetches from `tree`, recording the paths asked in each round.
fn recording_fetch(
    tree: &BTreeMap<String, String>,
) -> (Rounds, impl Fn(&[String]) -> Answers + '_) {
    let asked: Rounds = Rounds::default();
    let rounds = asked.clone();
    let fetch = move |paths: &[String]| -> Answers {
        rounds.borrow_mut().push(paths.to_vec());
        paths
            .iter()
            .map(|p| Ok(tree.get(p).map(|v| v.clone().into_bytes())))
            .collect()
    };
    (asked, fetch)
}

fn sizes(asked: &Rounds) -> Vec<usize> {
    asked.borrow().iter().map(Vec::len).collect()
}

#[test]
fn each_interface_costs_its_listing_and_the_leaves_it_has() {
    let tree = metadata_tree(&[primary(), second(&[("ipv6s", "2600:1f18::10")])]);
    let (asked, fetch) = recording_fetch(&tree);
    let (enis, tag) = super::fetch_enis(&fetch, None, super::Depth::Full).unwrap();
    assert!(tag.is_empty());
    assert_eq!(enis.len(), 2);
    let second = enis[1].1.as_ref().unwrap();
    assert_eq!(second.device_number, 1);
    assert_eq!(second.ipv6s.len(), 1);
    assert_eq!(
        sizes(&asked),
        [1, 2, 4 + 5],
        "the listing, two interface listings, then only the leaves they list"
    );
    // At boot, two interfaces are read as fully.
    let (asked, fetch) = recording_fetch(&tree);
    let boot = super::Depth::Boot {
        interface_id: false,
    };
    let (at_boot, _) = super::fetch_enis(&fetch, None, boot).unwrap();
    assert_eq!(sizes(&asked), [1, 2, 9]);
    assert_eq!(format!("{at_boot:?}"), format!("{enis:?}"));
}

#[test]
fn at_boot_a_lone_primary_interface_costs_one_round_of_the_leaves_it_is_configured_from() {
    let macs = super::metadata::MACS_PATH;
    let (mac, leaves) = primary();
    let mut leaves: Vec<(&str, &str)> = leaves
        .into_iter()
        .map(|(k, v)| {
            if k == "local-ipv4s" {
                (k, "10.0.1.17\n10.0.1.18")
            } else {
                (k, v)
            }
        })
        .collect();
    leaves.extend([
        ("ipv6s", "2600:1f18::17"),
        ("subnet-ipv6-cidr-blocks", "2600:1f18::/64"),
    ]);
    let tree = metadata_tree(&[(mac, leaves)]);
    let (full, _) = super::fetch_enis(&recording_fetch(&tree).1, None, super::Depth::Full).unwrap();
    let full_eni = full[0].1.as_ref().unwrap();

    let (asked, fetch) = recording_fetch(&tree);
    let boot = super::Depth::Boot {
        interface_id: false,
    };
    let (enis, tag) = super::fetch_enis(&fetch, None, boot).unwrap();
    assert!(tag.is_empty());
    let leaf_paths: Vec<String> = ["local-ipv4s", "subnet-ipv4-cidr-block", "ipv6s"]
        .iter()
        .map(|l| format!("{macs}{mac}/{l}"))
        .collect();
    assert_eq!(
        *asked.borrow(),
        [vec![macs.to_string()], leaf_paths],
        "the listing, then three leaves in one round: no interface listing, no device number"
    );
    let eni = enis[0].1.as_ref().unwrap();
    assert!(eni.is_primary());
    assert_eq!(eni.interface_id, None);
    // The primary is configured as it is with every leaf read; only the comment naming
    // its interface id differs.
    let plan = |e: &Eni| {
        let mut p = super::plan::eni_plan(e, "ens5".into(), false, true);
        p.origin = super::model::Origin::User {
            file: String::new(),
        };
        p
    };
    assert_eq!(plan(eni), plan(full_eni));
    assert_eq!(plan(eni).addresses.len(), 1, "the secondary IPv4 address");
    assert!(plan(eni).dhcp6);

    // A setting naming interfaces by id, and the tag, ride in the same round.
    let (asked, fetch) = recording_fetch(&tree);
    let boot = super::Depth::Boot { interface_id: true };
    let (enis, _) = super::fetch_enis(&fetch, Some("strap-unmanaged"), boot).unwrap();
    assert_eq!(sizes(&asked), [1, 5]);
    assert_eq!(
        enis[0].1.as_ref().unwrap().interface_id.as_deref(),
        Some("eni-0f95d3625f5c521cc")
    );
}
