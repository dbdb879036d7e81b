//! Interfaces that other tools' files already configure, for the renderer strap writes
//! to: a networkd `.network` file that sorts before strap's (networkd uses the first file
//! that matches, so strap's would be silently ignored), a netplan file, an ifupdown
//! stanza or a NetworkManager profile naming the interface. strap leaves those alone and
//! says which file has them; it never edits another tool's file.

use std::path::Path;

use crate::context::Context;

/// How another tool's file picks interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The machine path of the file.
    pub file: String,
    /// MACs it matches (empty: any).
    pub macs: Vec<String>,
    /// Name globs it matches (empty: any).
    pub names: Vec<String>,
    /// Driver globs it matches (empty: any).
    pub drivers: Vec<String>,
}

/// Every claim found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims(pub Vec<Claim>);

fn glob_any(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| {
        let p = p.trim();
        match p.split_once('*') {
            None => p == text,
            Some((pre, post)) => {
                text.starts_with(pre)
                    && text.ends_with(post)
                    && text.len() >= pre.len() + post.len()
            }
        }
    })
}

impl Claims {
    /// The file that claims an interface, if one does.
    pub fn claimed_by(
        &self,
        name: &str,
        mac: Option<&str>,
        driver: Option<&str>,
    ) -> Option<String> {
        self.0
            .iter()
            .find(|c| {
                let mac_ok = c.macs.is_empty()
                    || mac.is_some_and(|m| c.macs.iter().any(|x| x.eq_ignore_ascii_case(m)));
                let name_ok = c.names.is_empty() || glob_any(&c.names, name);
                let driver_ok =
                    c.drivers.is_empty() || driver.is_some_and(|d| glob_any(&c.drivers, d));
                mac_ok && name_ok && driver_ok
            })
            .map(|c| c.file.clone())
    }
}

/// strap's own files (never claims).
pub fn is_strap_file(name: &str) -> bool {
    name.starts_with("10-strap-")
        || name == "50-strap.yaml"
        || name == "50-strap.cfg"
        || name.starts_with("strap-")
}

fn list(ctx: &Context, dir: &str, suffix: &str) -> Vec<(String, std::path::PathBuf)> {
    let Ok(path) = ctx.path(dir) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut out: Vec<(String, std::path::PathBuf)> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix) && !is_strap_file(n))
        .map(|n| (format!("{dir}/{n}"), path.join(&n)))
        .collect();
    out.sort();
    out
}

/// The claims for a renderer.
pub fn claims(ctx: &Context, renderer: &str) -> Claims {
    let mut out = Vec::new();
    match renderer {
        "networkd" => {
            for dir in [
                "/etc/systemd/network",
                "/run/systemd/network",
                "/usr/lib/systemd/network",
                "/lib/systemd/network",
            ] {
                for (shown, path) in list(ctx, dir, ".network") {
                    let name = shown.rsplit('/').next().unwrap_or_default();
                    // networkd uses the first matching file by name: only files sorting
                    // before strap's win over it.
                    if name >= "10-strap-" {
                        continue;
                    }
                    if let Some(c) = networkd_claim(&shown, &path) {
                        out.push(c);
                    }
                }
            }
        }
        "netplan" => {
            for dir in ["/etc/netplan", "/run/netplan", "/lib/netplan"] {
                for (shown, path) in list(ctx, dir, ".yaml") {
                    out.extend(netplan_claims(&shown, &path));
                }
            }
        }
        "eni" => {
            let mut files = vec![(
                "/etc/network/interfaces".to_string(),
                ctx.path("/etc/network/interfaces").ok(),
            )];
            files.extend(
                list(ctx, "/etc/network/interfaces.d", "")
                    .into_iter()
                    .map(|(s, p)| (s, Some(p))),
            );
            for (shown, path) in files {
                let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
                    continue;
                };
                for line in text.lines() {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    if let [kw, name, ..] = words.as_slice() {
                        if matches!(*kw, "iface" | "auto" | "allow-hotplug") && *name != "lo" {
                            out.push(Claim {
                                file: shown.clone(),
                                macs: vec![],
                                names: vec![(*name).to_string()],
                                drivers: vec![],
                            });
                        }
                    }
                }
            }
        }
        "network-manager" => {
            for dir in [
                "/etc/NetworkManager/system-connections",
                "/run/NetworkManager/system-connections",
            ] {
                for (shown, path) in list(ctx, dir, ".nmconnection") {
                    let Ok(text) = std::fs::read_to_string(&path) else {
                        continue;
                    };
                    let mut names = Vec::new();
                    let mut macs = Vec::new();
                    for line in text.lines() {
                        if let Some(v) = line.trim().strip_prefix("interface-name=") {
                            names.push(v.trim().to_string());
                        }
                        if let Some(v) = line.trim().strip_prefix("mac-address=") {
                            macs.push(v.trim().to_ascii_lowercase());
                        }
                    }
                    if !names.is_empty() || !macs.is_empty() {
                        out.push(Claim {
                            file: shown,
                            macs,
                            names,
                            drivers: vec![],
                        });
                    }
                }
            }
        }
        _ => {}
    }
    Claims(out)
}

fn networkd_claim(shown: &str, path: &Path) -> Option<Claim> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_match = false;
    let mut c = Claim {
        file: shown.to_string(),
        macs: vec![],
        names: vec![],
        drivers: vec![],
    };
    let mut unknown = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_match = line == "[Match]";
            continue;
        }
        if !in_match || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let vals: Vec<String> = v
            .split_whitespace()
            .map(|s| s.trim_start_matches('!').to_string())
            .collect();
        match k.trim() {
            "MACAddress" | "PermanentMACAddress" => c
                .macs
                .extend(vals.into_iter().map(|m| m.to_ascii_lowercase())),
            "Name" | "OriginalName" => c.names.extend(vals),
            "Driver" => c.drivers.extend(vals),
            "Type" if vals.iter().all(|t| t == "ether") => {}
            // A match strap does not read (Path=, Type=wlan, Host=…): not an ENI's file
            // unless proven otherwise; it is left out rather than guessed at.
            _ => unknown = true,
        }
    }
    if unknown {
        return None;
    }
    Some(c)
}

fn netplan_claims(shown: &str, path: &Path) -> Vec<Claim> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(node) = crate::cloudconfig::yaml::load_bytes(&bytes) else {
        return Vec::new();
    };
    let Some(eths) = node
        .get("network")
        .and_then(|n| n.get("ethernets"))
        .and_then(|e| e.as_map())
    else {
        return Vec::new();
    };
    eths.iter()
        .map(|(k, v)| {
            let m = v.get("match");
            let mac = m
                .and_then(|m| m.get("macaddress"))
                .and_then(|x| x.as_str())
                .map(str::to_ascii_lowercase);
            let name = m
                .and_then(|m| m.get("name"))
                .and_then(|x| x.as_str())
                .map(str::to_string);
            let driver = m
                .and_then(|m| m.get("driver"))
                .and_then(|x| x.as_str())
                .map(str::to_string);
            let has_match = m.is_some();
            Claim {
                file: shown.to_string(),
                macs: mac.into_iter().collect(),
                names: match (name, has_match) {
                    (Some(n), _) => vec![n],
                    (None, false) => vec![k.key_text()],
                    (None, true) => vec![],
                },
                drivers: driver.into_iter().collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_networkd_files_claim_and_later_ones_do_not() {
        let root = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), root.path());
        let d = root.path().join("etc/systemd/network");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("05-eth1.network"),
            "[Match]\nName=eth1\n[Network]\nDHCP=no\n",
        )
        .unwrap();
        std::fs::write(
            d.join("80-ec2.network"),
            "[Match]\nDriver=ena\n[Network]\nDHCP=yes\n",
        )
        .unwrap();
        std::fs::write(d.join("10-strap-eth0.network"), "[Match]\nName=eth0\n").unwrap();
        let c = claims(&ctx, "networkd");
        assert_eq!(
            c.claimed_by("eth1", None, None).as_deref(),
            Some("/etc/systemd/network/05-eth1.network")
        );
        assert_eq!(c.claimed_by("eth0", None, Some("ena")), None);
    }

    #[test]
    fn netplan_ifupdown_and_nm_files_claim_their_interfaces() {
        let root = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), root.path());
        std::fs::create_dir_all(root.path().join("etc/netplan")).unwrap();
        std::fs::write(root.path().join("etc/netplan/50-cloud-init.yaml"), "network:\n  version: 2\n  ethernets:\n    ens5:\n      match: {macaddress: '0E:00:00:00:00:01'}\n      dhcp4: true\n").unwrap();
        assert!(claims(&ctx, "netplan")
            .claimed_by("x", Some("0e:00:00:00:00:01"), None)
            .is_some());
        assert!(claims(&ctx, "netplan")
            .claimed_by("x", Some("0e:00:00:00:00:02"), None)
            .is_none());
        std::fs::create_dir_all(root.path().join("etc/network")).unwrap();
        std::fs::write(
            root.path().join("etc/network/interfaces"),
            "auto lo\niface lo inet loopback\nallow-hotplug eth0\niface eth0 inet dhcp\n",
        )
        .unwrap();
        let c = claims(&ctx, "eni");
        assert!(c.claimed_by("eth0", None, None).is_some());
        assert!(c.claimed_by("eth1", None, None).is_none());
        std::fs::create_dir_all(root.path().join("etc/NetworkManager/system-connections")).unwrap();
        std::fs::write(
            root.path()
                .join("etc/NetworkManager/system-connections/Wired.nmconnection"),
            "[connection]\ninterface-name=eth1\n",
        )
        .unwrap();
        assert!(claims(&ctx, "network-manager")
            .claimed_by("eth1", None, None)
            .is_some());
    }
}
