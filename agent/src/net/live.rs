//! Put a plan on a running interface with `ip`, idempotently: what the interface already
//! has (read with `ip -j`) is left as is, what is missing is added, and strap's own rules
//! and addresses that the metadata no longer lists are removed. A second run with the
//! same metadata changes nothing. Used by `strap net apply` (hotplug, refresh) and by the
//! `iproute2` renderer; the commands go through an [`Ip`] so tests can fake them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::addr::Cidr;
use super::model::IfacePlan;

/// Runs `ip` with arguments and answers its standard output.
pub trait Ip {
    /// Run `ip ARGS`.
    fn run(&self, args: &[String]) -> Result<String, String>;
}

/// The real `ip`.
pub struct SystemIp;

impl Ip for SystemIp {
    fn run(&self, args: &[String]) -> Result<String, String> {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`ip {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_string()).collect()
}

fn json(ip: &dyn Ip, args: &[&str]) -> Result<Vec<Value>, String> {
    let text = ip.run(&s(args))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => Ok(a),
        _ => Err(format!("`ip {}` did not answer JSON", args.join(" "))),
    }
}

/// The addresses an interface has: (address/len, dynamic).
fn addresses(ip: &dyn Ip, dev: &str) -> Result<Vec<(Cidr, bool)>, String> {
    let mut out = Vec::new();
    for link in json(ip, &["-j", "addr", "show", "dev", dev])? {
        for a in link["addr_info"].as_array().cloned().unwrap_or_default() {
            if a["scope"].as_str() != Some("global") {
                continue;
            }
            let (Some(local), Some(len)) = (a["local"].as_str(), a["prefixlen"].as_u64()) else {
                continue;
            };
            if let Ok(c) = Cidr::parse(&format!("{local}/{len}")) {
                out.push((c, a["dynamic"].as_bool().unwrap_or(false)));
            }
        }
    }
    Ok(out)
}

fn table_of(v: &Value) -> Option<u32> {
    match &v["table"] {
        Value::String(t) => t.parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

/// The rules of one family: (from, table, priority).
fn rules(ip: &dyn Ip, family: &str) -> Result<Vec<(Cidr, u32, u32)>, String> {
    let mut out = Vec::new();
    for r in json(ip, &[family, "-j", "rule", "show"])? {
        let (Some(src), Some(table), Some(prio)) =
            (r["src"].as_str(), table_of(&r), r["priority"].as_u64())
        else {
            continue;
        };
        let text = match r["srclen"].as_u64() {
            Some(len) => format!("{src}/{len}"),
            None => src.to_string(),
        };
        if let Ok(c) = Cidr::parse(&text) {
            out.push((c, table, u32::try_from(prio).unwrap_or(u32::MAX)));
        }
    }
    Ok(out)
}

/// Reconcile one interface; `static_dhcp` also sets the address and default route DHCP
/// would give (the iproute2 renderer). Answers the changes made (empty: nothing to do).
pub fn reconcile(ip: &dyn Ip, p: &IfacePlan, static_dhcp: bool) -> Result<Vec<String>, String> {
    let dev = p.name.as_str();
    let mut changes = Vec::new();
    let run = |args: Vec<String>, changes: &mut Vec<String>| -> Result<(), String> {
        ip.run(&args)?;
        changes.push(format!("ip {}", args.join(" ")));
        Ok(())
    };
    let link = json(ip, &["-j", "link", "show", "dev", dev])?;
    let up = link
        .first()
        .and_then(|l| l["flags"].as_array())
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("UP")));
    if !up {
        run(s(&["link", "set", "dev", dev, "up"]), &mut changes)?;
    }
    let have = addresses(ip, dev)?;
    let mut want: Vec<Cidr> = p.addresses.clone();
    if static_dhcp && p.dhcp4 {
        want.extend(p.dhcp4_address);
    }
    for a in &want {
        if !have.iter().any(|(h, _)| h == a) {
            let fam = if a.is_v4() { "-4" } else { "-6" };
            run(
                s(&[fam, "addr", "add", &a.to_string(), "dev", dev]),
                &mut changes,
            )?;
        }
    }
    // Static addresses strap once added that the metadata no longer lists: inside one
    // of the interface's subnets, not from DHCP, not wanted.
    let subnets: Vec<Cidr> = want
        .iter()
        .chain(p.dhcp4_address.iter())
        .map(Cidr::network)
        .collect();
    let keep: BTreeSet<Cidr> = want.iter().copied().chain(p.dhcp4_address).collect();
    for (h, dynamic) in &have {
        if !dynamic
            && !keep.contains(h)
            && subnets
                .iter()
                .any(|s| s.len == h.len && s.contains(&h.addr))
        {
            let fam = if h.is_v4() { "-4" } else { "-6" };
            run(
                s(&[fam, "addr", "del", &h.to_string(), "dev", dev]),
                &mut changes,
            )?;
        }
    }
    if static_dhcp && p.dhcp4 {
        if let Some(gw) = p.dhcp4_gateway {
            let routes = json(ip, &["-4", "-j", "route", "show", "default", "dev", dev])?;
            let metric = p.metric.unwrap_or(0);
            let present = routes.iter().any(|r| {
                r["gateway"].as_str() == Some(gw.to_string().as_str())
                    && r["metric"].as_u64().unwrap_or(0) == u64::from(metric)
            });
            if !present {
                let mut c = s(&[
                    "-4",
                    "route",
                    "replace",
                    "default",
                    "via",
                    &gw.to_string(),
                    "dev",
                    dev,
                ]);
                if let Some(m) = p.metric {
                    c.extend(s(&["metric", &m.to_string()]));
                }
                run(c, &mut changes)?;
            }
        }
    }
    for r in &p.routes {
        let fam = if r.to.is_v4() { "-4" } else { "-6" };
        let table = r
            .table
            .map(|t| t.to_string())
            .unwrap_or_else(|| "main".into());
        let dst = if r.is_default() {
            "default".to_string()
        } else {
            r.to.to_string()
        };
        // A table that does not exist yet has no routes (`ip` fails on it).
        let existing = json(
            ip,
            &[fam, "-j", "route", "show", "table", &table, "dev", dev],
        )
        .unwrap_or_default();
        let present = existing.iter().any(|e| {
            let d = e["dst"].as_str().unwrap_or_default();
            let same_dst = d == dst || Cidr::parse(d).ok() == Some(r.to);
            let same_via =
                e["gateway"].as_str().map(str::to_string) == r.via.map(|v| v.to_string());
            same_dst && same_via
        });
        if !present {
            let mut c = s(&[fam, "route", "replace", &dst]);
            if let Some(v) = r.via {
                c.extend(s(&["via", &v.to_string()]));
            }
            c.extend(s(&["dev", dev]));
            if r.via.is_none() {
                c.extend(s(&["scope", "link"]));
            }
            c.extend(s(&["table", &table]));
            if let Some(m) = r.metric {
                c.extend(s(&["metric", &m.to_string()]));
            }
            run(c, &mut changes)?;
        }
    }
    let tables: BTreeSet<u32> = p.rules.iter().map(|r| r.table).collect();
    for fam in ["-4", "-6"] {
        let v4 = fam == "-4";
        let have = rules(ip, fam)?;
        for r in p.rules.iter().filter(|r| r.from.is_v4() == v4) {
            if !have
                .iter()
                .any(|(f, t, pr)| *f == r.from && *t == r.table && *pr == r.priority)
            {
                run(
                    s(&[
                        fam,
                        "rule",
                        "add",
                        "from",
                        &r.from.to_string(),
                        "lookup",
                        &r.table.to_string(),
                        "priority",
                        &r.priority.to_string(),
                    ]),
                    &mut changes,
                )?;
            }
        }
        // strap's rules point at the interface's table with its priority; those whose
        // source the metadata no longer lists go.
        for (f, t, pr) in &have {
            if tables.contains(t) && *pr == *t && !p.rules.iter().any(|r| r.from == *f) {
                run(
                    s(&[
                        fam,
                        "rule",
                        "del",
                        "from",
                        &f.to_string(),
                        "lookup",
                        &t.to_string(),
                        "priority",
                        &pr.to_string(),
                    ]),
                    &mut changes,
                )?;
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A fake `ip` over a tiny state: addresses and rules, as `ip -j` prints them.
    #[derive(Default)]
    struct Fake {
        addrs: RefCell<Vec<String>>,
        rules: RefCell<Vec<(String, u32)>>,
        routes: RefCell<Vec<String>>,
        calls: RefCell<Vec<String>>,
    }

    impl Ip for Fake {
        fn run(&self, args: &[String]) -> Result<String, String> {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            self.calls.borrow_mut().push(a.join(" "));
            match a.as_slice() {
                ["-j", "link", ..] => Ok(r#"[{"flags":["UP"]}]"#.into()),
                ["-j", "addr", ..] => {
                    let infos: Vec<String> = self
                        .addrs
                        .borrow()
                        .iter()
                        .map(|x| {
                            let (l, n) = x.split_once('/').unwrap();
                            format!(r#"{{"local":"{l}","prefixlen":{n},"scope":"global"}}"#)
                        })
                        .collect();
                    Ok(format!(r#"[{{"addr_info":[{}]}}]"#, infos.join(",")))
                }
                [_, "addr", "add", x, ..] => {
                    self.addrs.borrow_mut().push((*x).to_string());
                    Ok(String::new())
                }
                [_, "addr", "del", x, ..] => {
                    self.addrs.borrow_mut().retain(|y| y != x);
                    Ok(String::new())
                }
                [fam, "-j", "rule", "show"] => {
                    let v: Vec<String> = self
                        .rules
                        .borrow()
                        .iter()
                        .filter(|(f, _)| f.contains(':') == (*fam == "-6"))
                        .map(|(f, t)| format!(r#"{{"priority":{t},"src":"{f}","table":"{t}"}}"#))
                        .collect();
                    Ok(format!("[{}]", v.join(",")))
                }
                [_, "rule", "add", "from", f, "lookup", t, ..] => {
                    self.rules
                        .borrow_mut()
                        .push(((*f).trim_end_matches("/32").to_string(), t.parse().unwrap()));
                    Ok(String::new())
                }
                [_, "rule", "del", "from", f, ..] => {
                    let f = f.trim_end_matches("/32").to_string();
                    self.rules.borrow_mut().retain(|(x, _)| *x != f);
                    Ok(String::new())
                }
                [_, "-j", "route", "show", ..] => {
                    Ok(format!("[{}]", self.routes.borrow().join(",")))
                }
                [_, "route", "replace", dst, rest @ ..] => {
                    let via = rest.iter().position(|x| *x == "via").map(|i| rest[i + 1]);
                    let metric = rest
                        .iter()
                        .position(|x| *x == "metric")
                        .map_or("0", |i| rest[i + 1]);
                    let r = match via {
                        Some(v) => {
                            format!(r#"{{"dst":"{dst}","gateway":"{v}","metric":{metric}}}"#)
                        }
                        None => format!(r#"{{"dst":"{dst}"}}"#),
                    };
                    self.routes.borrow_mut().push(r);
                    Ok(String::new())
                }
                _ => Ok(String::new()),
            }
        }
    }

    fn plan() -> IfacePlan {
        use crate::net::metadata::Eni;
        let leaves = [
            ("device-number", "1"),
            ("local-ipv4s", "10.0.2.10\n10.0.2.11"),
            ("subnet-ipv4-cidr-block", "10.0.2.0/24"),
        ];
        let e = Eni::parse("0e:00:00:00:00:02", |k| {
            leaves
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        })
        .unwrap();
        crate::net::plan::eni_plan(&e, "eth1".into(), false, true)
    }

    #[test]
    fn a_second_reconcile_changes_nothing_and_stale_state_is_removed() {
        let ip = Fake::default();
        let p = plan();
        let first = reconcile(&ip, &p, true).unwrap();
        assert!(
            first.iter().any(|c| c.contains("addr add 10.0.2.11/24")),
            "{first:?}"
        );
        assert!(
            first
                .iter()
                .any(|c| c.contains("rule add from 10.0.2.10/32 lookup 10001")),
            "{first:?}"
        );
        let second = reconcile(&ip, &p, true).unwrap();
        assert!(second.is_empty(), "{second:?}");
        // The metadata drops the secondary address: its address and rule go.
        let mut fewer = p.clone();
        fewer.addresses.clear();
        fewer.rules.retain(|r| r.from.to_string() != "10.0.2.11/32");
        let third = reconcile(&ip, &fewer, true).unwrap();
        assert!(
            third.iter().any(|c| c.contains("addr del 10.0.2.11/24")),
            "{third:?}"
        );
        assert!(
            third
                .iter()
                .any(|c| c.contains("rule del from 10.0.2.11/32")),
            "{third:?}"
        );
        assert!(reconcile(&ip, &fewer, true).unwrap().is_empty());
    }
}
