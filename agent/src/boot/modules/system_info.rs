//! The `system_info` keys the modules read from the merged config (the image's system
//! config under the user data's cloud-config), beside `default_user` ([`super::users`])
//! and `network.renderers` (`crate::net::config`): `ntp_client` (the client `ntp`
//! picks when its own `ntp_client` is absent or `auto`), `ssh_svcname` (the ssh service
//! `set_passwords` restarts) and `package_mirrors` (apt's mirrors when `apt.primary` and
//! `apt.security` give no `uri`, searched as cloud-init's `_get_package_mirror_info`
//! searches them).
//!
//! This file only reads and computes: a wrong type is an error naming the key
//! (`system_info.package_mirrors.0.failsafe.primary`), which the module reports before
//! going on with its default. It never looks a host name up itself: [`find_mirrors`]
//! asks the resolver its caller passes (the context's, on the real root only).

use std::collections::BTreeMap;

use crate::cloudconfig::{Node, Value};

use super::{wrong_type, ModuleError};

/// The key these settings live under.
pub const KEY: &str = "system_info";

fn system_info(config: &Node) -> Option<&Node> {
    config.get(KEY).filter(|n| n.as_map().is_some())
}

fn opt_string(key: &str, node: Option<&Node>) -> Result<Option<String>, ModuleError> {
    match node.filter(|n| !n.is_null()) {
        None => Ok(None),
        Some(n) => match &n.value {
            Value::Str(s) => Ok(Some(s.clone())),
            _ => Err(wrong_type(key, "a string", n)),
        },
    }
}

/// `system_info.ntp_client`: the client `ntp` uses when the module's own `ntp_client`
/// is absent or `auto`. `None` when absent or `auto` (pick the first installed one).
pub fn ntp_client(config: &Node) -> Result<Option<String>, ModuleError> {
    let Some(si) = system_info(config) else {
        return Ok(None);
    };
    let name = opt_string("system_info.ntp_client", si.get("ntp_client"))?;
    Ok(name.filter(|n| n != "auto"))
}

/// `system_info.ssh_svcname`: the ssh service's name, `None` when absent. It becomes an
/// argument of `systemctl`, so it must be one word that is not an option.
pub fn ssh_svcname(config: &Node) -> Result<Option<String>, ModuleError> {
    const SVC_KEY: &str = "system_info.ssh_svcname";
    let Some(si) = system_info(config) else {
        return Ok(None);
    };
    let Some(name) = opt_string(SVC_KEY, si.get("ssh_svcname"))? else {
        return Ok(None);
    };
    if name.is_empty()
        || name.starts_with('-')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ModuleError::Invalid {
            key: SVC_KEY.into(),
            message: format!("{name:?} is not a service name (one word, not starting with `-`)"),
        });
    }
    Ok(Some(name))
}

/// The `package_mirrors` entry for one architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorEntry {
    /// Its place in the list (for messages).
    pub index: usize,
    /// `failsafe`: mirror name (`primary`, `security`) → URI.
    pub failsafe: Vec<(String, String)>,
    /// `search`: mirror name → candidate templates, tried in order.
    pub search: Vec<(String, Vec<String>)>,
}

/// The entry of `system_info.package_mirrors` for `arch` (dpkg's name, `amd64`), as
/// cloud-init's `_get_arch_package_mirror_info` picks it: the first whose `arches`
/// holds `arch`, else the last whose `arches` holds `default`. `None` when there is no
/// list or no entry fits.
pub fn package_mirrors(config: &Node, arch: &str) -> Result<Option<MirrorEntry>, ModuleError> {
    const MIRRORS_KEY: &str = "system_info.package_mirrors";
    let Some(list) = system_info(config)
        .and_then(|si| si.get("package_mirrors"))
        .filter(|n| !n.is_null())
    else {
        return Ok(None);
    };
    let items = list
        .as_seq()
        .ok_or_else(|| wrong_type(MIRRORS_KEY, "a list of mirror entries", list))?;
    let mut chosen = None;
    for (i, item) in items.iter().enumerate() {
        let key = format!("{MIRRORS_KEY}.{i}");
        if item.as_map().is_none() {
            return Err(wrong_type(&key, "a mapping", item));
        }
        let arches = match item.get("arches").map(|n| (n, &n.value)) {
            Some((_, Value::Seq(arches))) => arches
                .iter()
                .enumerate()
                .map(|(j, a)| {
                    a.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| wrong_type(&format!("{key}.arches.{j}"), "a string", a))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some((n, _)) => return Err(wrong_type(&format!("{key}.arches"), "a list", n)),
            None => {
                return Err(ModuleError::Invalid {
                    key,
                    message: "`arches` is required".into(),
                })
            }
        };
        if arches.iter().any(|a| a == arch) {
            chosen = Some((i, item));
            break;
        }
        if arches.iter().any(|a| a == "default") {
            chosen = Some((i, item));
        }
    }
    let Some((index, item)) = chosen else {
        return Ok(None);
    };
    let key = format!("{MIRRORS_KEY}.{index}");
    let mut entry = MirrorEntry {
        index,
        ..Default::default()
    };
    if let Some(fs) = item.get("failsafe").filter(|n| !n.is_null()) {
        let map = fs
            .as_map()
            .ok_or_else(|| wrong_type(&format!("{key}.failsafe"), "a mapping", fs))?;
        for (k, v) in map {
            let name = k.key_text();
            let field = format!("{key}.failsafe.{name}");
            let uri =
                opt_string(&field, Some(v))?.ok_or_else(|| wrong_type(&field, "a string", v))?;
            entry.failsafe.push((name, uri));
        }
    }
    if let Some(search) = item.get("search").filter(|n| !n.is_null()) {
        let map = search
            .as_map()
            .ok_or_else(|| wrong_type(&format!("{key}.search"), "a mapping", search))?;
        for (k, v) in map {
            let name = k.key_text();
            let field = format!("{key}.search.{name}");
            let candidates = match &v.value {
                Value::Null => Vec::new(),
                Value::Seq(c) => c
                    .iter()
                    .enumerate()
                    .map(|(j, t)| {
                        t.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| wrong_type(&format!("{field}.{j}"), "a string", t))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(wrong_type(&field, "a list of strings", v)),
            };
            entry.search.push((name, candidates));
        }
    }
    Ok(Some(entry))
}

/// Where the instance runs, for the `%(…)s` placeholders of mirror candidates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// `us-east-1b`.
    pub availability_zone: Option<String>,
    /// `us-east-1`.
    pub region: Option<String>,
}

/// Whether an availability zone has the shape of an EC2 one (`us-east-1b`,
/// `us-gov-west-1a`): cloud-init's `^[a-z][a-z]-(?:[a-z]+-)+[0-9][a-z]$`.
fn is_ec2_zone(az: &str) -> bool {
    if !az.is_ascii() {
        return false;
    }
    let b = az.as_bytes();
    let n = b.len();
    if n < 7 || !b[n - 1].is_ascii_lowercase() || !b[n - 2].is_ascii_digit() || b[n - 3] != b'-' {
        return false;
    }
    let mut parts = az[..n - 3].split('-');
    let head_ok = parts
        .next()
        .is_some_and(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_lowercase()));
    let mut middle = 0;
    for p in parts {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_lowercase()) {
            return false;
        }
        middle += 1;
    }
    head_ok && middle >= 1
}

/// The placeholders a placement fills, as cloud-init's: `availability_zone` and
/// `region` when known, `ec2_region` when the zone has an EC2 zone's shape (the zone
/// without its last letter; strap runs on EC2 only, where cloud-init allows it).
pub fn substitutions(p: &Placement) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(az) = p.availability_zone.as_deref().filter(|a| !a.is_empty()) {
        out.push(("availability_zone", az.to_string()));
        if is_ec2_zone(az) {
            out.push(("ec2_region", az[..az.len() - 1].to_string()));
        }
    }
    if let Some(region) = p.region.as_deref().filter(|r| !r.is_empty()) {
        out.push(("region", region.to_string()));
    }
    out
}

/// Fill `%(name)s` placeholders (and `%%`) as Python's `template % mapping` does.
/// `None` when a placeholder has no value (cloud-init skips the candidate) or the
/// template holds another `%` conversion, which strap does not format.
pub fn expand(template: &str, subst: &[(&str, String)]) -> Option<String> {
    super::percent_format(template, |name| {
        subst
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    })
    .ok()
}

/// The parts of `scheme://[userinfo@]host[:port]rest`.
struct UrlParts<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (netloc, rest) = after.split_at(end);
    let hostport = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, tail) = v6.split_once(']')?;
        (h, tail.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    if host.is_empty() {
        return None;
    }
    Some(UrlParts {
        scheme,
        host,
        port,
        rest,
    })
}

/// The host a mirror URI names (lower case, without brackets), `None` when it names
/// none.
pub fn host_of(url: &str) -> Option<String> {
    split_url(url).map(|p| p.host.to_ascii_lowercase())
}

/// A mirror URI with its host made a valid DNS name, as cloud-init's
/// `_sanitize_mirror_url` makes it (an availability zone's odd characters become `-`,
/// each label loses its leading and trailing `-`); an IP address is left as it is.
/// `None` for a URI without a host, and for a host that is not ASCII (cloud-init would
/// IDNA-encode it; strap skips the candidate).
pub fn sanitize_mirror_url(url: &str) -> Option<String> {
    let parts = split_url(url)?;
    let host = parts.host.to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Some(url.to_string());
    }
    let labels: Vec<&str> = host.split('.').collect();
    let empty_inner = labels[..labels.len() - 1].iter().any(|l| l.is_empty());
    if !host.is_ascii() || empty_inner || labels.iter().any(|l| l.len() >= 64) {
        return None;
    }
    let clean: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean
        .split('.')
        .map(|l| l.trim_matches('-'))
        .collect::<Vec<_>>()
        .join(".");
    let port = parts.port.map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!(
        "{}://{clean}{port}{}",
        parts.scheme.to_ascii_lowercase(),
        parts.rest
    ))
}

/// The mirrors an entry gives: its `failsafe` ones, each replaced by the first `search`
/// candidate of the same name that fills its placeholders from `placement` and whose
/// URI `resolves` accepts (cloud-init's `search_for_mirror`, called with the whole
/// URI).
pub fn find_mirrors(
    entry: &MirrorEntry,
    placement: &Placement,
    mut resolves: impl FnMut(&str) -> bool,
) -> BTreeMap<String, String> {
    let subst = substitutions(placement);
    let mut out: BTreeMap<String, String> = entry.failsafe.iter().cloned().collect();
    for (name, candidates) in &entry.search {
        let found = candidates
            .iter()
            .filter_map(|t| expand(t, &subst))
            .filter_map(|u| sanitize_mirror_url(&u))
            .find(|u| resolves(u));
        if let Some(url) = found {
            out.insert(name.clone(), url);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        crate::cloudconfig::load(text).unwrap()
    }

    const UBUNTU: &str = "system_info:\n  package_mirrors:\n    - arches: [i386, amd64]\n      failsafe:\n        primary: http://archive.ubuntu.com/ubuntu\n        security: http://security.ubuntu.com/ubuntu\n      search:\n        primary:\n          - http://%(ec2_region)s.ec2.archive.ubuntu.com/ubuntu/\n          - http://%(availability_zone)s.clouds.archive.ubuntu.com/ubuntu/\n          - http://%(region)s.clouds.archive.ubuntu.com/ubuntu/\n        security: []\n    - arches: [arm64, armel, armhf]\n      failsafe:\n        primary: http://ports.ubuntu.com/ubuntu-ports\n        security: http://ports.ubuntu.com/ubuntu-ports\n      search:\n        primary:\n          - http://%(ec2_region)s.ec2.ports.ubuntu.com/ubuntu-ports/\n        security: []\n    - arches: [default]\n      failsafe:\n        primary: http://ports.ubuntu.com/ubuntu-ports\n        security: http://ports.ubuntu.com/ubuntu-ports\n";

    fn placement(az: &str, region: &str) -> Placement {
        Placement {
            availability_zone: Some(az.into()),
            region: Some(region.into()),
        }
    }

    #[test]
    fn ntp_client_and_ssh_svcname_are_read() {
        assert_eq!(ntp_client(&yaml("runcmd: []\n")).unwrap(), None);
        assert_eq!(
            ntp_client(&yaml("system_info: {ntp_client: auto}\n")).unwrap(),
            None
        );
        assert_eq!(
            ntp_client(&yaml("system_info: {ntp_client: ntp}\n")).unwrap(),
            Some("ntp".into())
        );
        assert_eq!(
            ssh_svcname(&yaml("system_info: {ssh_svcname: sshd.service}\n")).unwrap(),
            Some("sshd.service".into())
        );
        assert_eq!(ssh_svcname(&yaml("system_info: {}\n")).unwrap(), None);
    }

    #[test]
    fn bad_input_names_the_key() {
        for (text, key) in [
            (
                "system_info: {ntp_client: [a]}\n",
                "`system_info.ntp_client`",
            ),
            (
                "system_info: {ssh_svcname: 3}\n",
                "`system_info.ssh_svcname`",
            ),
            (
                "system_info: {ssh_svcname: '--now'}\n",
                "`system_info.ssh_svcname`",
            ),
            (
                "system_info: {ssh_svcname: 'ssh d'}\n",
                "`system_info.ssh_svcname`",
            ),
        ] {
            let cfg = yaml(text);
            let err = ntp_client(&cfg)
                .and_then(|_| ssh_svcname(&cfg))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        for (text, key) in [
            ("package_mirrors: {a: b}", "`system_info.package_mirrors`"),
            ("package_mirrors: [a]", "`system_info.package_mirrors.0`"),
            (
                "package_mirrors: [{failsafe: {}}]",
                "`system_info.package_mirrors.0`",
            ),
            (
                "package_mirrors: [{arches: amd64}]",
                "`system_info.package_mirrors.0.arches`",
            ),
            (
                "package_mirrors: [{arches: [[amd64]]}]",
                "`system_info.package_mirrors.0.arches.0`",
            ),
            (
                "package_mirrors: [{arches: [default], failsafe: [x]}]",
                "`system_info.package_mirrors.0.failsafe`",
            ),
            (
                "package_mirrors: [{arches: [default], failsafe: {primary: [x]}}]",
                "`system_info.package_mirrors.0.failsafe.primary`",
            ),
            (
                "package_mirrors: [{arches: [arm64]}, {arches: [default], search: {primary: x}}]",
                "`system_info.package_mirrors.1.search.primary`",
            ),
            (
                "package_mirrors: [{arches: [amd64], search: {primary: [{a: b}]}}]",
                "`system_info.package_mirrors.0.search.primary.0`",
            ),
        ] {
            let err = package_mirrors(&yaml(&format!("system_info: {{{text}}}\n")), "amd64")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn the_entry_follows_the_arch_else_the_last_default() {
        let cfg = yaml(UBUNTU);
        assert_eq!(package_mirrors(&cfg, "amd64").unwrap().unwrap().index, 0);
        assert_eq!(package_mirrors(&cfg, "arm64").unwrap().unwrap().index, 1);
        assert_eq!(package_mirrors(&cfg, "riscv64").unwrap().unwrap().index, 2);
        let two = yaml("system_info:\n  package_mirrors:\n    - {arches: [default], failsafe: {primary: http://a}}\n    - {arches: [default], failsafe: {primary: http://b}}\n    - {arches: [s390x]}\n");
        let e = package_mirrors(&two, "amd64").unwrap().unwrap();
        assert_eq!(e.failsafe, vec![("primary".into(), "http://b".into())]);
        assert_eq!(
            package_mirrors(&yaml("system_info: {}\n"), "amd64").unwrap(),
            None
        );
        let none = yaml("system_info: {package_mirrors: [{arches: [s390x]}]}\n");
        assert_eq!(package_mirrors(&none, "amd64").unwrap(), None);
    }

    #[test]
    fn the_entry_matches_cloud_inits_get_arch_package_mirror_info() {
        let lists = [
            serde_json::json!([{"arches": ["i386", "amd64"]}, {"arches": ["arm64", "armhf"]}, {"arches": ["default"]}]),
            serde_json::json!([{"arches": ["default"]}, {"arches": ["default"]}, {"arches": ["s390x"]}]),
            serde_json::json!([{"arches": ["default"]}, {"arches": ["amd64"]}, {"arches": ["amd64"]}]),
            serde_json::json!([{"arches": ["s390x"]}]),
        ];
        let arches = ["amd64", "arm64", "riscv64"];
        let script = r#"
import sys, json
from cloudinit.distros import _get_arch_package_mirror_info
lists, arches = json.load(sys.stdin)
print(json.dumps([[None if (e := _get_arch_package_mirror_info(l, a)) is None
                   else next(i for i, x in enumerate(l) if x is e) for a in arches] for l in lists]))
"#;
        let input = serde_json::json!([lists, arches]).to_string();
        for (version, out) in crate::cloud_init_peers::oracles(script, &input) {
            let want: Vec<Vec<Option<usize>>> = serde_json::from_str(&out).unwrap();
            for (list, theirs) in lists.iter().zip(want) {
                let cfg = yaml(&format!("system_info:\n  package_mirrors: {list}\n"));
                for (arch, theirs) in arches.iter().zip(theirs) {
                    let ours = package_mirrors(&cfg, arch).unwrap().map(|e| e.index);
                    assert_eq!(ours, theirs, "cloud-init {version}: {arch} in {list}");
                }
            }
        }
    }

    #[test]
    fn placeholders_follow_the_placement() {
        let s = substitutions(&placement("eu-west-1a", "eu-west-1"));
        assert_eq!(
            s,
            vec![
                ("availability_zone", "eu-west-1a".to_string()),
                ("ec2_region", "eu-west-1".to_string()),
                ("region", "eu-west-1".to_string())
            ]
        );
        // A Local Zone is not shaped like an EC2 zone: no ec2_region.
        let lz = substitutions(&placement("us-west-2-lax-1a", "us-west-2"));
        assert!(lz.iter().all(|(k, _)| *k != "ec2_region"), "{lz:?}");
        assert!(substitutions(&Placement::default()).is_empty());
        assert_eq!(
            expand("http://%(region)s.x/%%/", &s).as_deref(),
            Some("http://eu-west-1.x/%/")
        );
        assert_eq!(expand("http://%(nothing)s.x/", &s), None);
        assert_eq!(expand("http://%s.x/", &s), None);
    }

    #[test]
    fn mirror_urls_are_sanitized_as_cloud_init_does() {
        for (url, want) in [
            (
                "http://EU_West.Example.com/ubuntu/",
                Some("http://eu-west.example.com/ubuntu/"),
            ),
            ("http://-a-.b_/x", Some("http://a.b/x")),
            ("https://u:p@host:8080/p?q", Some("https://host:8080/p?q")),
            ("http://10.0.0.1/ubuntu", Some("http://10.0.0.1/ubuntu")),
            ("archive.ubuntu.com/ubuntu", None),
            ("http:///ubuntu", None),
            ("http://bücher.example/", None),
        ] {
            assert_eq!(sanitize_mirror_url(url).as_deref(), want, "{url}");
        }
        assert_eq!(host_of("http://[::1]:80/x").as_deref(), Some("::1"));
    }

    #[test]
    fn the_first_candidate_that_resolves_wins_else_the_failsafe() {
        let amd = package_mirrors(&yaml(UBUNTU), "amd64").unwrap().unwrap();
        let here = placement("eu-west-1a", "eu-west-1");
        let only = |hosts: &'static [&'static str]| {
            move |url: &str| host_of(url).is_some_and(|h| hosts.contains(&h.as_str()))
        };
        let m = find_mirrors(&amd, &here, only(&["eu-west-1.ec2.archive.ubuntu.com"]));
        assert_eq!(
            m["primary"],
            "http://eu-west-1.ec2.archive.ubuntu.com/ubuntu/"
        );
        assert_eq!(m["security"], "http://security.ubuntu.com/ubuntu");
        let m = find_mirrors(&amd, &here, only(&["eu-west-1.clouds.archive.ubuntu.com"]));
        assert_eq!(
            m["primary"],
            "http://eu-west-1.clouds.archive.ubuntu.com/ubuntu/"
        );
        let m = find_mirrors(&amd, &here, |_| false);
        assert_eq!(m["primary"], "http://archive.ubuntu.com/ubuntu");
        // No placement: every candidate has a placeholder left, none is tried.
        let mut asked = 0;
        let m = find_mirrors(&amd, &Placement::default(), |_| {
            asked += 1;
            true
        });
        assert_eq!(
            (asked, m["primary"].as_str()),
            (0, "http://archive.ubuntu.com/ubuntu")
        );
    }

    #[test]
    fn the_search_matches_cloud_inits_get_package_mirror_info() {
        // cloud-init's own function, fed the same entry, the same placement (a fake
        // data source) and a mirror_filter that resolves the same hosts.
        let script = r#"
import sys, json
from urllib.parse import urlsplit
from cloudinit.distros import _get_package_mirror_info
class DS:
    def __init__(self, az, region):
        self.availability_zone = az
        self.region = region
        self.platform_type = "ec2"
out = []
for case in json.load(sys.stdin):
    hosts = set(case["hosts"])
    def only(cands):
        for c in cands or []:
            if urlsplit(c).hostname in hosts:
                return c
        return None
    ds = DS(case["az"], case["region"])
    out.append(_get_package_mirror_info(case["entry"], data_source=ds, mirror_filter=only))
print(json.dumps(out))
"#;
        let entry = serde_json::json!({
            "arches": ["amd64"],
            "failsafe": {"primary": "http://archive.ubuntu.com/ubuntu", "security": "http://security.ubuntu.com/ubuntu"},
            "search": {
                "primary": [
                    "http://%(ec2_region)s.ec2.archive.ubuntu.com/ubuntu/",
                    "http://%(availability_zone)s.clouds.archive.ubuntu.com/ubuntu/",
                    "http://%(region)s.clouds.archive.ubuntu.com/ubuntu/",
                    "http://mirror.example.com/ubuntu/"
                ],
                "security": ["http://%(region)s.security.example.com/ubuntu/", "HTTP://Sec_Mirror.example.com:8080/u"]
            }
        });
        let cases = [
            (
                "eu-west-1a",
                "eu-west-1",
                vec!["eu-west-1.ec2.archive.ubuntu.com"],
            ),
            (
                "eu-west-1a",
                "eu-west-1",
                vec![
                    "eu-west-1a.clouds.archive.ubuntu.com",
                    "eu-west-1.clouds.archive.ubuntu.com",
                ],
            ),
            (
                "us-west-2-lax-1a",
                "us-west-2",
                vec![
                    "us-west-2-lax-1a.ec2.archive.ubuntu.com",
                    "us-west-2.clouds.archive.ubuntu.com",
                ],
            ),
            (
                "us-east-1b",
                "us-east-1",
                vec!["mirror.example.com", "sec-mirror.example.com"],
            ),
            (
                "ap_south_1a",
                "ap-south-1",
                vec![
                    "ap-south-1a.clouds.archive.ubuntu.com",
                    "ap-south-1.security.example.com",
                ],
            ),
            ("", "", vec!["mirror.example.com"]),
            ("eu-west-1a", "eu-west-1", vec![]),
        ];
        let input: Vec<serde_json::Value> = cases
            .iter()
            .map(|(az, region, hosts)| {
                serde_json::json!({"az": az, "region": region, "hosts": hosts, "entry": entry})
            })
            .collect();
        let mirrors = yaml(&format!("system_info:\n  package_mirrors: [{entry}]\n"));
        let ours_entry = package_mirrors(&mirrors, "amd64").unwrap().unwrap();
        let oracles =
            crate::cloud_init_peers::oracles(script, &serde_json::Value::Array(input).to_string());
        for (version, out) in oracles {
            let want: Vec<BTreeMap<String, String>> = serde_json::from_str(&out).unwrap();
            for ((az, region, hosts), theirs) in cases.iter().zip(want) {
                let place = Placement {
                    availability_zone: Some(az.to_string()).filter(|a| !a.is_empty()),
                    region: Some(region.to_string()).filter(|r| !r.is_empty()),
                };
                let ours = find_mirrors(&ours_entry, &place, |url| {
                    host_of(url).is_some_and(|h| hosts.contains(&h.as_str()))
                });
                assert_eq!(ours, theirs, "cloud-init {version}: {az} {hosts:?}");
            }
        }
    }
}
