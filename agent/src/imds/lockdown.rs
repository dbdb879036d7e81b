//! systemd's locked-down IMDS route, and whether strap's sockets must carry its mark.
//!
//! With systemd v261+, `85-imds-early.network` can install a `prohibit` route to
//! 169.254.169.254 in the main table, a route to it in table `0x7FFF0815`, and a rule
//! `fwmark 0x7FFF0815 lookup 0x7FFF0815`: only sockets marked [`FWMARK`] (`SO_MARK`,
//! which needs `CAP_NET_ADMIN`) reach the service. This module owns deciding the mark:
//! [`STRAP_IMDS_FWMARK`](ENV_FWMARK) when set, else what the routing tables show
//! ([`detect`] reads them with `ip -j`; [`decide`] is the pure rule). It only reads the
//! tables, never changes them.

use std::net::Ipv4Addr;

use crate::context::Context;

/// The firewall mark systemd's lock-down lets through (`FirewallMark=0x7FFF0815`).
pub const FWMARK: u32 = 0x7FFF_0815;

/// `STRAP_IMDS_FWMARK`: `auto` (the default: mark when the tables show systemd's
/// lock-down), `on` (always mark with [`FWMARK`]), `off` (never mark), or a mark
/// (`0x…` or decimal) to use always.
pub const ENV_FWMARK: &str = "STRAP_IMDS_FWMARK";

/// The metadata service's IPv4 address, checked when the endpoint is not an IPv4 literal.
const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// What was found, and the mark to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockdown {
    /// The mark strap's IMDS sockets carry, if any.
    pub mark: Option<u32>,
    /// One line for the log and `strap metadata access`: what was found and why.
    pub how: String,
}

/// The tables as `ip -j` shows them, in short.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    /// A `prohibit` (or `blackhole`, `unreachable`) route to the address, in any table.
    pub refused: Option<String>,
    /// A rule matching [`FWMARK`], as `fwmark 0x7fff0815 lookup TABLE`.
    pub mark_rule: Option<String>,
}

/// The mark to use, from the override or the tables (`tables` is only called when
/// the override leaves it to detection).
pub fn decide(
    setting: Option<&str>,
    address: Ipv4Addr,
    tables: impl FnOnce() -> Result<Tables, String>,
) -> Lockdown {
    if let Some(value) = setting.map(str::trim).filter(|v| !v.is_empty()) {
        let lower = value.to_ascii_lowercase();
        match lower.as_str() {
            "auto" => {}
            "off" | "no" | "false" | "0" => {
                return Lockdown {
                    mark: None,
                    how: format!("direct: sockets not marked ({ENV_FWMARK}={value})"),
                }
            }
            "on" | "yes" | "true" => {
                return Lockdown {
                    mark: Some(FWMARK),
                    how: format!("marked: sockets carry fwmark {FWMARK:#x} ({ENV_FWMARK}={value})"),
                }
            }
            _ => {
                let parsed = match lower.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => lower.parse::<u32>().ok(),
                };
                return match parsed {
                    Some(mark) => Lockdown {
                        mark: Some(mark),
                        how: format!(
                            "marked: sockets carry fwmark {mark:#x} ({ENV_FWMARK}={value})"
                        ),
                    },
                    None => {
                        tracing::warn!(
                            "{ENV_FWMARK}={value} is not auto, on, off or a number; detecting from the routing tables"
                        );
                        decide(None, address, tables)
                    }
                };
            }
        }
    }
    let tables = match tables() {
        Ok(t) => t,
        Err(reason) => {
            return Lockdown {
                mark: None,
                how: format!("direct: cannot read the routing tables ({reason})"),
            }
        }
    };
    match (&tables.refused, &tables.mark_rule) {
        (Some(route), Some(rule)) => Lockdown {
            mark: Some(FWMARK),
            how: format!(
                "marked: systemd's IMDS lock-down found (`{route}`, `{rule}`), sockets carry fwmark {FWMARK:#x}"
            ),
        },
        (Some(route), None) => Lockdown {
            mark: None,
            how: format!(
                "direct, but `{route}` refuses {address} and no fwmark {FWMARK:#x} rule lets marked sockets through (disable_ec2_metadata?)"
            ),
        },
        (None, Some(rule)) => Lockdown {
            mark: None,
            how: format!("direct: systemd's unlocked IMDS table is there (`{rule}`), no route refuses {address}"),
        },
        (None, None) => Lockdown {
            mark: None,
            how: "direct: no IMDS lock-down in the routing tables".into(),
        },
    }
}

/// Read the override from `ctx` and, when it says `auto`, the machine's routing tables
/// for the endpoint's address (169.254.169.254 unless the endpoint is another IPv4
/// literal).
pub fn detect(ctx: &Context, endpoint: &str) -> Lockdown {
    let address = endpoint_address(endpoint).unwrap_or(IMDS_ADDRESS);
    let setting = ctx.var(ENV_FWMARK);
    let lockdown = decide(setting.as_deref(), address, || read_tables(address));
    tracing::debug!(mark = ?lockdown.mark, "IMDS access: {}", lockdown.how);
    lockdown
}

/// The IPv4 literal host of an `http://HOST[:PORT]` endpoint.
fn endpoint_address(endpoint: &str) -> Option<Ipv4Addr> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let host = rest.split(['/', ':']).next()?;
    host.parse().ok()
}

fn ip_json(args: &[&str]) -> Result<serde_json::Value, String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("`ip {}`: {e}", args.join(" ")))
}

/// The rules first: with no rule for the mark (nearly every machine) the routes are not
/// read, so a boot runs `ip` once.
fn read_tables(address: Ipv4Addr) -> Result<Tables, String> {
    let rules = ip_json(&["-j", "-4", "rule", "show"])?;
    let no_routes = serde_json::Value::Array(Vec::new());
    if parse_tables(&no_routes, &rules, address)
        .mark_rule
        .is_none()
    {
        return Ok(Tables::default());
    }
    let routes = ip_json(&["-j", "-4", "route", "show", "table", "all"])?;
    Ok(parse_tables(&routes, &rules, address))
}

/// The pure half of [`detect`]: `ip -j -4 route show table all` and `ip -j -4 rule show`.
pub fn parse_tables(
    routes: &serde_json::Value,
    rules: &serde_json::Value,
    address: Ipv4Addr,
) -> Tables {
    let text =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let want = address.to_string();
    let refused = routes.as_array().into_iter().flatten().find_map(|r| {
        let kind = text(r, "type")?;
        let dst = text(r, "dst")?;
        let refuses = matches!(kind.as_str(), "prohibit" | "blackhole" | "unreachable");
        let same = dst == want || dst == format!("{want}/32");
        (refuses && same).then(|| match text(r, "table") {
            Some(table) => format!("{kind} {dst} table {table}"),
            None => format!("{kind} {dst}"),
        })
    });
    let mark_rule = rules.as_array().into_iter().flatten().find_map(|r| {
        let mark = text(r, "fwmark")?;
        let value = mark.split('/').next().unwrap_or_default();
        let parsed = match value.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => value.parse().ok(),
        };
        if parsed != Some(FWMARK) {
            return None;
        }
        let table = r
            .get("table")
            .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_string))
            .unwrap_or_else(|| "?".into());
        Some(format!("fwmark {mark} lookup {table}"))
    });
    Tables { refused, mark_rule }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tables(refused: bool, rule: bool) -> Tables {
        Tables {
            refused: refused.then(|| "prohibit 169.254.169.254".to_string()),
            mark_rule: rule.then(|| "fwmark 0x7fff0815 lookup 2147420181".to_string()),
        }
    }

    #[test]
    fn systemds_tables_are_recognised() {
        // As `ip -j` prints what 85-imds-early.network installs.
        let routes = json!([
            {"dst": "default", "gateway": "10.0.0.1", "dev": "ens5", "flags": []},
            {"type": "prohibit", "dst": "169.254.169.254", "flags": []},
            {"dst": "169.254.169.254", "table": "2147420181", "dev": "ens5", "scope": "link", "flags": []},
            {"type": "local", "dst": "127.0.0.1", "table": "local", "dev": "lo", "flags": []}
        ]);
        let rules = json!([
            {"priority": 0, "src": "all", "table": "local"},
            {"priority": 1000, "src": "all", "fwmark": "0x7fff0815", "table": "2147420181"},
            {"priority": 32766, "src": "all", "table": "main"}
        ]);
        let t = parse_tables(&routes, &rules, IMDS_ADDRESS);
        assert_eq!(t.refused.as_deref(), Some("prohibit 169.254.169.254"));
        assert_eq!(
            t.mark_rule.as_deref(),
            Some("fwmark 0x7fff0815 lookup 2147420181")
        );
        let other = parse_tables(
            &routes,
            &json!([{"fwmark": "0x1", "table": "5"}]),
            IMDS_ADDRESS,
        );
        assert_eq!(other.mark_rule, None);
        let masked = parse_tables(
            &json!([]),
            &json!([{"fwmark": "0x7fff0815/0xffffffff", "table": "9"}]),
            IMDS_ADDRESS,
        );
        assert!(masked.mark_rule.is_some());
    }

    #[test]
    fn the_mark_follows_the_tables_unless_overridden() {
        let a = IMDS_ADDRESS;
        assert_eq!(
            decide(None, a, || Ok(tables(true, true))).mark,
            Some(FWMARK)
        );
        assert_eq!(
            decide(Some("auto"), a, || Ok(tables(true, true))).mark,
            Some(FWMARK)
        );
        assert_eq!(decide(None, a, || Ok(tables(false, true))).mark, None);
        let blocked = decide(None, a, || Ok(tables(true, false)));
        assert_eq!(blocked.mark, None);
        assert!(blocked.how.contains("refuses"), "{}", blocked.how);
        assert_eq!(decide(None, a, || Ok(tables(false, false))).mark, None);
        let unreadable = decide(None, a, || Err("cannot run ip".into()));
        assert!(unreadable.how.contains("cannot run ip"));
        // Overrides never read the tables.
        let never = || -> Result<Tables, String> { Err("read".into()) };
        assert_eq!(decide(Some("off"), a, never).mark, None);
        assert_eq!(decide(Some("ON"), a, never).mark, Some(FWMARK));
        assert_eq!(decide(Some("0x10"), a, never).mark, Some(16));
        assert_eq!(decide(Some("42"), a, never).mark, Some(42));
        assert_eq!(
            decide(Some("bogus"), a, || Ok(tables(true, true))).mark,
            Some(FWMARK)
        );
    }

    #[test]
    fn endpoint_addresses() {
        assert_eq!(
            endpoint_address("http://169.254.169.254"),
            Some(IMDS_ADDRESS)
        );
        assert_eq!(
            endpoint_address("http://10.1.2.3:8080/x"),
            Some(Ipv4Addr::new(10, 1, 2, 3))
        );
        assert_eq!(endpoint_address("http://[fd00:ec2::254]"), None);
        assert_eq!(endpoint_address("http://localhost:1"), None);
    }
}
