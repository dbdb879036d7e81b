//! `apt_configure` (the `apt` key), for Debian-family roots only: extra `sources`
//! (`/etc/apt/sources.list.d/NAME.list`, with their `key` as armored text in
//! `/etc/apt/trusted.gpg.d/NAME.asc`), `proxy`/`http_proxy`/`https_proxy`/`ftp_proxy`
//! (`/etc/apt/apt.conf.d/90cloud-init-aptproxy`), `conf`
//! (`/etc/apt/apt.conf.d/94cloud-init-config`), `primary`/`security` mirrors (their `uri`,
//! or the first of their `search`/`search_dns` candidates that resolves
//! ([`find_mirror`]), replaces the distro's archive and security URIs in
//! `/etc/apt/sources.list`, unless `preserve_sources_list`), a `sources_list` template,
//! `disable_suites` and `debconf_selections`. Without a mirror there, they come from the image's
//! `system_info.package_mirrors` (its `search` candidates looked up on the real root
//! only, else its `failsafe` ones; [`system_info::find_mirrors`]), then from strap's
//! defaults for the distro ([`default_mirrors`]); only the first two replace the
//! distro's URIs.
//!
//! In `source` lines and `sources_list`, `$MIRROR`/`$PRIMARY` (the primary mirror),
//! `$SECURITY`, `$RELEASE` (the root's `VERSION_CODENAME`) and `$KEY_FILE` (the source's
//! key file) are replaced. Fetching keys by `keyid` from a keyserver needs the network
//! and is refused with a warning (give the key's text as `key`); `ppa:` sources go to
//! `add-apt-repository` on the real machine only and are recorded under `--root`.
//! The deprecated top-level keys (`apt_sources`, `apt_preserve_sources_list`, …) are
//! read as `apt` ([`legacy`]).

use std::collections::BTreeMap;

use crate::cloudconfig::{Node, Value};
use crate::secret::Secret;

pub mod legacy;

use super::super::context::Boot;
use super::system::{self, Family, OsRelease};
use super::system_info;
use super::{wrong_type, ModuleError, Outcome};

/// The main sources list.
pub const SOURCES_LIST: &str = "/etc/apt/sources.list";
/// Where extra sources go when their file name is relative.
pub const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
/// Keys apt trusts for every source.
pub const TRUSTED_DIR: &str = "/etc/apt/trusted.gpg.d";
/// Keys referenced by one source only (`signed-by=$KEY_FILE`).
pub const SIGNED_BY_DIR: &str = "/etc/apt/cloud-init.gpg.d";
/// The proxy settings file (cloud-init's name).
pub const PROXY_FILE: &str = "/etc/apt/apt.conf.d/90cloud-init-aptproxy";
/// The `conf` file (cloud-init's name).
pub const CONF_FILE: &str = "/etc/apt/apt.conf.d/94cloud-init-config";

/// One `sources` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub source: Option<String>,
    pub key: Option<String>,
    pub keyid: Option<String>,
    /// A machine path ending in `.list`.
    pub filename: String,
    pub append: bool,
}

/// A `primary`/`security` entry for this machine's architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    pub uri: Option<String>,
    /// `search`: URIs tried in order when there is no `uri`; the first whose host
    /// resolves is the mirror.
    pub search: Vec<String>,
    /// `search_dns`: then `http://DISTRO-mirror.DOMAIN/DISTRO` (`security-mirror` for
    /// `security`) in the instance's domain, `.localdomain` and no domain.
    pub search_dns: bool,
}

/// Which of the two mirrors an entry configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorKind {
    Primary,
    Security,
}

impl MirrorKind {
    /// The key under `apt`.
    pub fn key(self) -> &'static str {
        match self {
            MirrorKind::Primary => "primary",
            MirrorKind::Security => "security",
        }
    }
}

/// The URIs a mirror entry without `uri` tries, in order, as cloud-init's `get_mirror`
/// tries them: its `search` list, then, with `search_dns`, `http://DISTRO-mirror` (or
/// `-security-mirror`) in the domain of `fqdn`, in `.localdomain` and bare, each with
/// the path `/DISTRO`. `distro` is the root's `ID` (`debian`, `ubuntu`).
pub fn search_candidates(
    m: &Mirror,
    kind: MirrorKind,
    fqdn: Option<&str>,
    distro: &str,
) -> Vec<String> {
    let mut out = m.search.clone();
    if m.search_dns {
        let name = match kind {
            MirrorKind::Primary => "mirror",
            MirrorKind::Security => "security-mirror",
        };
        let mut domains = Vec::new();
        if let Some((_, domain)) = fqdn.and_then(|f| f.split_once('.')) {
            if !domain.is_empty() {
                domains.push(format!(".{domain}"));
            }
        }
        domains.extend([".localdomain".to_string(), String::new()]);
        for d in domains {
            out.push(format!("http://{distro}-{name}{d}/{distro}"));
        }
    }
    out
}

/// The mirror an entry gives: its `uri`, else the first of its
/// [`search_candidates`] whose host `resolves` accepts (an IP address always does).
pub fn find_mirror(
    m: &Mirror,
    kind: MirrorKind,
    fqdn: Option<&str>,
    distro: &str,
    mut resolves: impl FnMut(&str) -> bool,
) -> Option<String> {
    if let Some(uri) = &m.uri {
        return Some(uri.clone());
    }
    first_resolving(search_candidates(m, kind, fqdn, distro), &mut resolves)
}

/// The first URI whose host `resolves` accepts.
fn first_resolving(
    candidates: Vec<String>,
    resolves: &mut impl FnMut(&str) -> bool,
) -> Option<String> {
    candidates
        .into_iter()
        .find(|u| system_info::host_of(u).is_some_and(|h| resolves(&h)))
}

/// The module's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub preserve_sources_list: bool,
    pub primary: Option<Mirror>,
    pub security: Option<Mirror>,
    pub sources_list: Option<String>,
    pub disable_suites: Vec<String>,
    pub sources: Vec<Source>,
    /// `Acquire::...::Proxy` lines, in cloud-init's order.
    pub proxy_lines: Vec<String>,
    pub conf: Option<String>,
    pub debconf: Vec<String>,
    pub warnings: Vec<String>,
}

/// The machine's architecture as dpkg names it.
pub fn dpkg_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "powerpc64" => "ppc64el",
        other => other,
    }
}

fn opt_text(key: &str, node: Option<&Node>) -> Result<Option<String>, ModuleError> {
    match node.filter(|n| !n.is_null()) {
        None => Ok(None),
        Some(n) => match &n.value {
            Value::Str(s) => Ok(Some(s.clone())),
            _ => Err(wrong_type(key, "a string", n)),
        },
    }
}

fn opt_bool(key: &str, node: Option<&Node>, default: bool) -> Result<bool, ModuleError> {
    match node.filter(|n| !n.is_null()) {
        None => Ok(default),
        Some(n) => n.as_bool().ok_or_else(|| wrong_type(key, "a boolean", n)),
    }
}

fn mirror(key: &str, node: &Node, arch: &str) -> Result<Mirror, ModuleError> {
    let items = node
        .as_seq()
        .ok_or_else(|| wrong_type(key, "a list of mirrors with arches", node))?;
    let mut chosen: Option<(usize, &Node)> = None;
    let mut default: Option<(usize, &Node)> = None;
    for (i, item) in items.iter().enumerate() {
        if item.as_map().is_none() {
            return Err(wrong_type(&format!("{key}.{i}"), "a mapping", item));
        }
        let arches = match item.get("arches") {
            Some(a) => super::string_list(&format!("{key}.{i}.arches"), a, false)?,
            None => {
                return Err(ModuleError::Invalid {
                    key: format!("{key}.{i}"),
                    message: "`arches` is required".into(),
                })
            }
        };
        if chosen.is_none() && arches.iter().any(|a| a == arch) {
            chosen = Some((i, item));
        }
        // cloud-init keeps the last entry for `default`.
        if arches.iter().any(|a| a == "default") {
            default = Some((i, item));
        }
    }
    let Some((i, item)) = chosen.or(default) else {
        return Ok(Mirror::default());
    };
    let search = match item.get("search") {
        Some(n) if n.as_seq().is_some() => {
            super::string_list(&format!("{key}.{i}.search"), n, false)?
        }
        Some(n) if !n.is_null() => {
            return Err(wrong_type(
                &format!("{key}.{i}.search"),
                "a list of URIs",
                n,
            ))
        }
        _ => Vec::new(),
    };
    Ok(Mirror {
        uri: opt_text(&format!("{key}.{i}.uri"), item.get("uri"))?,
        search,
        search_dns: opt_bool(
            &format!("{key}.{i}.search_dns"),
            item.get("search_dns"),
            false,
        )?,
    })
}

/// Read the `apt` key; `None` when absent. `arch` picks the mirror entries.
pub fn plan(config: &Node, arch: &str) -> Result<Option<Plan>, ModuleError> {
    // The deprecated top-level keys, as `apt`.
    let converted = legacy::convert(config)?;
    let (config, legacy_warnings) = match &converted {
        Some((c, w)) => (c, w.clone()),
        None => (config, Vec::new()),
    };
    let Some(apt) = config.get("apt").filter(|n| !n.is_null()) else {
        return Ok(None);
    };
    if apt.as_map().is_none() {
        return Err(wrong_type("apt", "a mapping", apt));
    }
    let mut out = Plan {
        preserve_sources_list: opt_bool(
            "apt.preserve_sources_list",
            apt.get("preserve_sources_list"),
            false,
        )?,
        sources_list: opt_text("apt.sources_list", apt.get("sources_list"))?,
        conf: opt_text("apt.conf", apt.get("conf"))?,
        warnings: legacy_warnings,
        ..Default::default()
    };
    if let Some(p) = apt.get("primary").filter(|n| !n.is_null()) {
        out.primary = Some(mirror("apt.primary", p, arch)?);
    }
    if let Some(s) = apt.get("security").filter(|n| !n.is_null()) {
        out.security = Some(mirror("apt.security", s, arch)?);
    }
    if let Some(d) = apt.get("disable_suites").filter(|n| !n.is_null()) {
        if d.as_seq().is_none() {
            return Err(wrong_type("apt.disable_suites", "a list of suites", d));
        }
        out.disable_suites = super::string_list("apt.disable_suites", d, false)?;
    }
    for (name, line) in [
        ("proxy", "Acquire::http::Proxy"),
        ("http_proxy", "Acquire::http::Proxy"),
        ("ftp_proxy", "Acquire::ftp::Proxy"),
        ("https_proxy", "Acquire::https::Proxy"),
    ] {
        if let Some(v) = opt_text(&format!("apt.{name}"), apt.get(name))? {
            out.proxy_lines.push(format!("{line} \"{v}\";"));
        }
    }
    if let Some(d) = apt.get("debconf_selections").filter(|n| !n.is_null()) {
        let entries = d
            .as_map()
            .ok_or_else(|| wrong_type("apt.debconf_selections", "a mapping", d))?;
        for (k, v) in entries {
            let key = format!("apt.debconf_selections.{}", k.key_text());
            out.debconf
                .push(opt_text(&key, Some(v))?.ok_or_else(|| wrong_type(&key, "a string", v))?);
        }
    }
    if apt.get("add_apt_repo_match").is_some() {
        out.warnings
            .push("apt.add_apt_repo_match is not supported: `ppa:` sources are matched".into());
    }
    if let Some(s) = apt.get("sources").filter(|n| !n.is_null()) {
        let entries = s
            .as_map()
            .ok_or_else(|| wrong_type("apt.sources", "a mapping of sources", s))?;
        for (k, v) in entries {
            let name = k.key_text();
            let key = |f: &str| format!("apt.sources.{name}{f}");
            if v.as_map().is_none() {
                return Err(wrong_type(&key(""), "a mapping", v));
            }
            let mut filename =
                opt_text(&key(".filename"), v.get("filename"))?.unwrap_or_else(|| name.clone());
            if filename.split('/').any(|p| p == "..") || filename.is_empty() {
                return Err(ModuleError::Invalid {
                    key: key(".filename"),
                    message: format!("`{filename}` is not a usable file name"),
                });
            }
            if !filename.starts_with('/') {
                filename = format!("{SOURCES_DIR}/{filename}");
            }
            if !filename.ends_with(".list") {
                filename.push_str(".list");
            }
            out.sources.push(Source {
                source: opt_text(&key(".source"), v.get("source"))?,
                key: opt_text(&key(".key"), v.get("key"))?,
                keyid: opt_text(&key(".keyid"), v.get("keyid"))?,
                append: opt_bool(&key(".append"), v.get("append"), true)?,
                filename,
                name,
            });
        }
    }
    Ok(Some(out))
}

/// Replace `$NAME` and `${NAME}` for the given names (others are left as they are).
pub fn substitute(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    let mut sorted: Vec<&(&str, &str)> = vars.iter().collect();
    // Longer names first, so `$PRIMARY` is not read as a shorter name's prefix.
    sorted.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, v) in sorted {
        out = out.replace(&format!("${{{k}}}"), v);
        out = out.replace(&format!("${k}"), v);
    }
    out
}

/// The distro's default mirrors (primary, security).
pub fn default_mirrors(os_id: &str, arch: &str) -> (String, String) {
    let ubuntu = os_id == "ubuntu";
    if ubuntu && !matches!(arch, "amd64" | "i386") {
        let ports = "http://ports.ubuntu.com/ubuntu-ports".to_string();
        return (ports.clone(), ports);
    }
    if ubuntu {
        return (
            "http://archive.ubuntu.com/ubuntu".into(),
            "http://security.ubuntu.com/ubuntu".into(),
        );
    }
    (
        "http://deb.debian.org/debian".into(),
        "http://deb.debian.org/debian-security".into(),
    )
}

/// Whether a sources.list URI is a distro archive (a host under ubuntu.com or
/// debian.org), whose URI `primary`/`security` replace.
fn is_distro_uri(uri: &str) -> bool {
    let host = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    ["ubuntu.com", "debian.org"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// The fields of a one-line-style source: (type, options, uri, suite, rest).
fn split_source(line: &str) -> Option<(&str, Option<&str>, &str, &str, &str)> {
    let t = line.trim_start();
    let (kind, rest) = t.split_once(char::is_whitespace)?;
    if kind != "deb" && kind != "deb-src" {
        return None;
    }
    let rest = rest.trim_start();
    let (opts, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (o, after) = r.split_once(']')?;
        (Some(o), after.trim_start())
    } else {
        (None, rest)
    };
    let (uri, rest) = rest.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let (suite, comps) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Some((kind, opts, uri, suite, comps.trim_start()))
}

/// `sources.list` with the distro archive URIs replaced: security suites
/// (`*-security`, `*/updates`) by `security`, the others by `primary`.
pub fn replace_uris(text: &str, primary: Option<&str>, security: Option<&str>) -> String {
    text.lines()
        .map(|line| {
            let Some((kind, opts, uri, suite, comps)) = split_source(line) else {
                return line.to_string();
            };
            if !is_distro_uri(uri) {
                return line.to_string();
            }
            let is_security = suite.ends_with("-security") || suite.ends_with("/updates");
            let new = if is_security { security } else { primary };
            let Some(new) = new else {
                return line.to_string();
            };
            let opts = opts.map(|o| format!("[{o}] ")).unwrap_or_default();
            format!("{kind} {opts}{new} {suite} {comps}")
                .trim_end()
                .to_string()
        })
        .map(|l| l + "\n")
        .collect()
}

/// `sources.list` with the lines of the disabled suites commented out (aliases
/// `updates`, `backports`, `security`, `proposed`, `release` as cloud-init reads them).
pub fn disable_suites(text: &str, suites: &[String], release: &str) -> String {
    let wanted: Vec<String> = suites
        .iter()
        .map(|s| {
            let s = match s.as_str() {
                "updates" => "$RELEASE-updates",
                "backports" => "$RELEASE-backports",
                "security" => "$RELEASE-security",
                "proposed" => "$RELEASE-proposed",
                "release" => "$RELEASE",
                other => other,
            };
            substitute(s, &[("RELEASE", release)])
        })
        .collect();
    text.lines()
        .map(|line| match split_source(line) {
            Some((_, _, _, suite, _)) if wanted.iter().any(|w| w == suite) => {
                format!("# suite disabled by strap: {line}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// Whether a source goes to `add-apt-repository` (cloud-init's default match,
/// `^[\w-]+:\w`: `ppa:owner/name`, `cloud-archive:...`).
pub fn is_repo_shortcut(source: &str) -> bool {
    let Some((head, tail)) = source.split_once(':') else {
        return false;
    };
    !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && tail
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

fn key_name(source: &Source) -> String {
    let base = source
        .filename
        .rsplit('/')
        .next()
        .unwrap_or(&source.filename);
    base.strip_suffix(".list").unwrap_or(base).to_string()
}

/// The mirrors of the image's `system_info.package_mirrors` for `arch` (name → URI,
/// `primary` and `security` among them): the entry's `search` candidates, filled from
/// the instance's placement, are looked up on the real root only; under `--root` its
/// `failsafe` ones are used (the log says so). A wrong type is a warning naming the
/// key, and no mirror comes from there.
fn system_mirrors(boot: &mut Boot<'_>, arch: &str) -> BTreeMap<String, String> {
    let entry = match system_info::package_mirrors(&boot.config, arch) {
        Ok(Some(entry)) => entry,
        Ok(None) => return BTreeMap::new(),
        Err(e) => {
            boot.warn(&format!(
                "apt_configure: {}; using the distro's default mirrors",
                super::super::records::error_chain(&e)
            ));
            return BTreeMap::new();
        }
    };
    let key = format!("system_info.package_mirrors.{}", entry.index);
    let placement = system_info::Placement {
        availability_zone: boot.instance.availability_zone.clone(),
        region: boot.instance.region.clone(),
    };
    let found = if boot.looks_up_names() {
        let ctx = boot.ctx;
        system_info::find_mirrors(&entry, &placement, |url| {
            system_info::host_of(url).is_some_and(|h| ctx.resolves(&h))
        })
    } else {
        if entry.search.iter().any(|(_, c)| !c.is_empty()) {
            boot.log.line(
                "INFO",
                &format!(
                    "apt_configure: {key}: mirror names are not looked up under --root; using its failsafe mirrors"
                ),
            );
        }
        system_info::find_mirrors(&entry, &placement, |_| false)
    };
    let shown: Vec<String> = found.iter().map(|(k, v)| format!("{k} {v}")).collect();
    boot.log.line(
        "DEBUG",
        &format!("apt_configure: mirrors from {key}: {}", shown.join(", ")),
    );
    found
}

/// The mirror `apt.primary` or `apt.security` gives ([`find_mirror`]). Its search
/// candidates are looked up on the real root (or through a test's fixed resolver) only;
/// under `--root` the log says they were not, and the mirror comes from elsewhere.
/// `search_dns` names the domain of the metadata's `local-hostname`, as cloud-init's
/// does (it reads the `apt` key for `fqdn`, which holds none).
fn user_mirror(boot: &mut Boot<'_>, m: &Mirror, kind: MirrorKind, distro: &str) -> Option<String> {
    let key = format!("apt.{}", kind.key());
    if m.uri.is_some() {
        return m.uri.clone();
    }
    let fqdn = if m.search_dns {
        super::hostname::names(None, None, || boot.local_hostname()).map(|(_, fqdn)| fqdn)
    } else {
        None
    };
    let candidates = search_candidates(m, kind, fqdn.as_deref(), distro);
    if candidates.is_empty() {
        return None;
    }
    if !boot.looks_up_names() {
        boot.log.line(
            "INFO",
            &format!(
                "apt_configure: {key}: mirror names are not looked up under --root; {} candidates not tried",
                candidates.len()
            ),
        );
        return None;
    }
    let ctx = boot.ctx;
    let tried = format!(
        "{} candidates ({})",
        candidates.len(),
        candidates.join(", ")
    );
    let found = first_resolving(candidates, &mut |h| ctx.resolves(h));
    let said = match &found {
        Some(uri) => format!("apt_configure: {key}: {uri} resolves"),
        None => format!("apt_configure: {key}: none of the {tried} resolves"),
    };
    boot.log.line("INFO", &said);
    found
}

/// `apt_configure`.
pub fn apt_configure(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let arch = dpkg_arch();
    let Some(mut plan) = plan(&boot.config, arch)? else {
        return Ok(Outcome::Skipped("no `apt` in cloud-config".into()));
    };
    let os = OsRelease::load(boot.ctx);
    if os.family() != Family::Debian {
        return Ok(Outcome::Skipped(format!(
            "`apt` applies to Debian-family roots; this root is `{}`",
            if os.id.is_empty() {
                "unknown (no /etc/os-release)"
            } else {
                &os.id
            }
        )));
    }
    for w in std::mem::take(&mut plan.warnings) {
        boot.warn(&format!("apt_configure: {w}"));
    }
    let release = os.codename.clone().unwrap_or_default();
    let (default_primary, default_security) = default_mirrors(&os.id, arch);
    let user_primary = plan
        .primary
        .as_ref()
        .and_then(|m| user_mirror(boot, m, MirrorKind::Primary, &os.id));
    // cloud-init: `security` falls back to `primary`'s mirror.
    let user_security = plan
        .security
        .as_ref()
        .and_then(|m| user_mirror(boot, m, MirrorKind::Security, &os.id))
        .or_else(|| user_primary.clone());
    let user_asked = user_primary.is_some() || user_security.is_some();
    // Then the image's `system_info.package_mirrors`, then strap's defaults.
    let system = if user_primary.is_none() || user_security.is_none() {
        system_mirrors(boot, arch)
    } else {
        BTreeMap::new()
    };
    let primary_uri = user_primary.or_else(|| system.get("primary").cloned());
    let security_uri = user_security.or_else(|| system.get("security").cloned());
    let mirror = primary_uri.clone().unwrap_or(default_primary);
    let security = security_uri.clone().unwrap_or(default_security);
    let mut tail = Vec::new();

    // sources.list: a template, or the distro URIs replaced, then disabled suites.
    if !plan.preserve_sources_list {
        let vars = [
            ("MIRROR", mirror.as_str()),
            ("PRIMARY", mirror.as_str()),
            ("SECURITY", security.as_str()),
            ("RELEASE", release.as_str()),
        ];
        let current = system::read_opt(boot.ctx, SOURCES_LIST)?;
        let mut text = match (&plan.sources_list, &current) {
            (Some(t), _) => Some(substitute(t, &vars)),
            (None, Some(c)) if primary_uri.is_some() || security_uri.is_some() => Some(
                replace_uris(c, primary_uri.as_deref(), security_uri.as_deref()),
            ),
            (None, None) if !user_asked => None,
            (None, None) if primary_uri.is_some() || security_uri.is_some() => {
                boot.warn(&format!(
                    "apt_configure: no {SOURCES_LIST} to point at apt.primary/apt.security (deb822 .sources files are not edited)"
                ));
                None
            }
            _ => None,
        };
        if !plan.disable_suites.is_empty() {
            let base = text.clone().or(current.clone());
            text = base.map(|t| disable_suites(&t, &plan.disable_suites, &release));
        }
        if let Some(t) = text {
            if current.as_deref() != Some(t.as_str()) {
                system::write(boot.ctx, SOURCES_LIST, &t, 0o644)?;
                tail.push(format!("wrote {SOURCES_LIST}"));
            }
        }
    }

    // Extra sources and their keys.
    let mut failures = Vec::new();
    for src in &plan.sources {
        let signed_by = src
            .source
            .as_deref()
            .is_some_and(|s| s.contains("$KEY_FILE"));
        let key_file = format!(
            "{}/{}.asc",
            if signed_by {
                SIGNED_BY_DIR
            } else {
                TRUSTED_DIR
            },
            key_name(src)
        );
        match (&src.key, &src.keyid) {
            (Some(k), _) => {
                let mut k = k.clone();
                if !k.ends_with('\n') {
                    k.push('\n');
                }
                system::write(boot.ctx, &key_file, &k, 0o644)?;
                tail.push(format!("key of {} in {key_file}", src.name));
            }
            (None, Some(id)) => boot.warn(&format!(
                "apt_configure: apt.sources.{}: keyid {id} not fetched (strap does not fetch keys from a keyserver); give the key's text as `key`",
                src.name
            )),
            (None, None) => {}
        }
        let Some(line) = &src.source else {
            continue;
        };
        let line = substitute(
            line,
            &[
                ("MIRROR", mirror.as_str()),
                ("PRIMARY", mirror.as_str()),
                ("SECURITY", security.as_str()),
                ("RELEASE", release.as_str()),
                ("KEY_FILE", key_file.as_str()),
            ],
        );
        if is_repo_shortcut(&line) {
            let argv = vec![
                "add-apt-repository".to_string(),
                "--no-update".to_string(),
                line.clone(),
            ];
            match system::run_or_record(boot, "apt_configure", &argv, None) {
                Ok(Some(rec)) => tail.push(rec),
                Ok(None) => tail.push(format!("added {line}")),
                Err(e) => failures.push(format!(
                    "apt.sources.{}: {}",
                    src.name,
                    super::super::records::error_chain(&e)
                )),
            }
            continue;
        }
        let existing = if src.append {
            system::read_opt(boot.ctx, &src.filename)?.unwrap_or_default()
        } else {
            String::new()
        };
        // Appending a line already there (a new instance of the same image) is skipped.
        if src.append && existing.lines().any(|l| l == line) {
            continue;
        }
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        text.push('\n');
        system::write(boot.ctx, &src.filename, &text, 0o644)?;
        tail.push(format!("source {} in {}", src.name, src.filename));
    }

    // Proxy and conf: written when given, removed when not.
    if plan.proxy_lines.is_empty() {
        system::remove(boot.ctx, PROXY_FILE)?;
    } else {
        system::write(
            boot.ctx,
            PROXY_FILE,
            &(plan.proxy_lines.join("\n") + "\n"),
            0o644,
        )?;
        tail.push(format!("wrote {PROXY_FILE}"));
    }
    match &plan.conf {
        Some(c) => {
            system::write(boot.ctx, CONF_FILE, c, 0o644)?;
            tail.push(format!("wrote {CONF_FILE}"));
        }
        None => {
            system::remove(boot.ctx, CONF_FILE)?;
        }
    }
    if !plan.debconf.is_empty() {
        let mut input = plan.debconf.join("\n");
        if !input.ends_with('\n') {
            input.push('\n');
        }
        let argv = vec!["debconf-set-selections".to_string()];
        match system::run_or_record(boot, "apt_configure", &argv, Some(&Secret::new(input))) {
            Ok(Some(rec)) => tail.push(rec),
            Ok(None) => {}
            Err(e) => failures.push(format!(
                "apt.debconf_selections: {}",
                super::super::records::error_chain(&e)
            )),
        }
    }
    let attempted = plan.sources.len() + usize::from(!plan.debconf.is_empty());
    super::entries_outcome(tail, failures, attempted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        crate::cloudconfig::load(text).unwrap()
    }

    #[test]
    fn mirror_search_tries_the_list_then_the_dns_names() {
        let p = plan(
            &yaml("apt:\n  primary:\n    - {arches: [default], search: ['http://a.example/d', 'http://10.0.0.9/d'], search_dns: true}\n  security:\n    - {arches: [default], search_dns: true}\n"),
            "amd64",
        )
        .unwrap()
        .unwrap();
        let primary = p.primary.unwrap();
        let security = p.security.unwrap();
        assert_eq!(
            search_candidates(
                &primary,
                MirrorKind::Primary,
                Some("ip-1.ec2.internal"),
                "debian"
            ),
            [
                "http://a.example/d",
                "http://10.0.0.9/d",
                "http://debian-mirror.ec2.internal/debian",
                "http://debian-mirror.localdomain/debian",
                "http://debian-mirror/debian",
            ]
        );
        assert_eq!(
            search_candidates(&security, MirrorKind::Security, Some("web"), "ubuntu"),
            [
                "http://ubuntu-security-mirror.localdomain/ubuntu",
                "http://ubuntu-security-mirror/ubuntu",
            ]
        );
        let none = |_: &str| false;
        assert_eq!(
            find_mirror(&primary, MirrorKind::Primary, None, "debian", none),
            None
        );
        let only_ip = |h: &str| h.parse::<std::net::IpAddr>().is_ok();
        assert_eq!(
            find_mirror(&primary, MirrorKind::Primary, None, "debian", only_ip).as_deref(),
            Some("http://10.0.0.9/d")
        );
    }

    /// Both cloud-inits' `get_mirror`, their name lookups answered from the case's
    /// hosts and their host names from the case's metadata.
    #[test]
    fn mirrors_agree_with_cloud_inits_get_mirror() {
        let script = crate::cloud_init_peers::CLOUD_STANDIN.to_string()
            + r#"
from urllib.parse import urlsplit
from cloudinit import util
from cloudinit.config import cc_apt_configure as apt
out = []
for case in json.load(sys.stdin):
    hosts = set(case["hosts"])
    util.is_resolvable_url = lambda u: urlsplit(u).hostname in hosts
    cloud = Cloud({"local-hostname": case["local"]}, case["distro"])
    out.append([apt.get_mirror(case["apt"], k, "amd64", cloud) for k in ("primary", "security")])
print(json.dumps(out))
"#;
        let search = serde_json::json!({
            "primary": [
                {"arches": ["arm64"], "uri": "http://arm.example/debian"},
                {"arches": ["default"], "search": ["http://first.example/debian", "http://second.example/debian/"], "search_dns": true},
                {"arches": ["default"], "search": ["http://later.example/debian"]}
            ],
            "security": [{"arches": ["amd64"], "search_dns": true}]
        });
        let uri_wins = serde_json::json!({
            "primary": [{"arches": ["amd64"], "uri": "http://given.example/debian", "search": ["http://first.example/debian"]}],
            "security": [{"arches": ["arm64"], "uri": "http://arm.example/debian"}]
        });
        let ec2 = "ip-10-0-0-5.ec2.internal";
        let cases: Vec<(&serde_json::Value, &str, &str, Vec<&str>)> = vec![
            (
                &search,
                ec2,
                "debian",
                vec!["second.example", "later.example"],
            ),
            (
                &search,
                ec2,
                "debian",
                vec![
                    "debian-mirror.ec2.internal",
                    "debian-security-mirror.localdomain",
                ],
            ),
            (
                &search,
                ec2,
                "ubuntu",
                vec!["ubuntu-mirror", "ubuntu-security-mirror.ec2.internal"],
            ),
            (
                &search,
                "10.0.0.5",
                "debian",
                vec!["debian-mirror", "debian-security-mirror"],
            ),
            (&search, "web", "debian", vec!["debian-mirror.localdomain"]),
            (&search, ec2, "debian", vec!["later.example"]),
            (&uri_wins, ec2, "debian", vec!["first.example"]),
        ];
        let input: Vec<serde_json::Value> = cases
            .iter()
            .map(|(apt, local, distro, hosts)| {
                serde_json::json!({"apt": apt, "local": local, "distro": distro, "hosts": hosts})
            })
            .collect();
        let oracles =
            crate::cloud_init_peers::oracles(&script, &serde_json::Value::Array(input).to_string());
        for (version, out) in oracles {
            let theirs: Vec<[Option<String>; 2]> = serde_json::from_str(&out).unwrap();
            for ((apt, local, distro, hosts), want) in cases.iter().zip(theirs) {
                let p = plan(&yaml(&format!("apt: {apt}\n")), "amd64")
                    .unwrap()
                    .unwrap();
                let fqdn =
                    crate::boot::modules::hostname::names(None, None, || Some(local.to_string()))
                        .map(|(_, f)| f);
                let ours = [
                    (&p.primary, MirrorKind::Primary),
                    (&p.security, MirrorKind::Security),
                ]
                .map(|(m, kind)| {
                    m.as_ref().and_then(|m| {
                        find_mirror(m, kind, fqdn.as_deref(), distro, |h| hosts.contains(&h))
                    })
                });
                assert_eq!(
                    ours, want,
                    "cloud-init {version}: {local} {distro} {hosts:?}"
                );
            }
        }
    }

    /// The whole module in a boot, its names looked up through a fixed resolver: the
    /// primary from `search`, the security mirror from `search_dns` in the domain of the
    /// metadata's local-hostname.
    #[test]
    fn a_boot_takes_the_mirrors_its_searches_find() {
        use crate::boot::{run_boot, BootOptions, SeedSource};
        let root = tempfile::tempdir().unwrap();
        let seed = tempfile::tempdir().unwrap();
        let put = |dir: &std::path::Path, path: &str, text: &str| {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        };
        put(
            root.path(),
            "etc/os-release",
            "ID=debian\nVERSION_CODENAME=bookworm\n",
        );
        put(
            root.path(),
            "etc/apt/sources.list",
            "deb http://deb.debian.org/debian bookworm main\ndeb http://security.debian.org/debian-security bookworm-security main\n",
        );
        put(
            seed.path(),
            "latest/meta-data/instance-id",
            "i-0123456789abcdef0",
        );
        put(
            seed.path(),
            "latest/meta-data/local-hostname",
            "ip-10-0-0-5.ec2.internal",
        );
        put(
            seed.path(),
            "latest/user-data",
            "#cloud-config\napt:\n  primary:\n    - arches: [default]\n      search: [http://gone.example/debian, http://near.example/debian]\n  security:\n    - arches: [default]\n      search_dns: true\n",
        );
        let ctx = crate::context::Context::fixed(Vec::<(String, String)>::new(), root.path())
            .with_resolvable_hosts(["near.example", "debian-security-mirror.ec2.internal"]);
        let opts = BootOptions {
            console: false,
            network: false,
            ..BootOptions::default()
        };
        run_boot(&ctx, &SeedSource::new(seed.path()), opts).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.path().join("etc/apt/sources.list")).unwrap(),
            "deb http://near.example/debian bookworm main\ndeb http://debian-security-mirror.ec2.internal/debian bookworm-security main\n"
        );
    }

    #[test]
    fn sources_mirrors_and_proxies_are_read() {
        let p = plan(
            &yaml(
                "apt:\n  primary:\n    - {arches: [arm64], uri: 'http://arm.example/ubuntu'}\n    - {arches: [default], uri: 'http://mirror.example/ubuntu'}\n  proxy: http://p:3128\n  https_proxy: http://s:3128\n  sources:\n    docker:\n      source: deb [signed-by=$KEY_FILE] https://download.docker.com/linux/debian $RELEASE stable\n      key: KEYTEXT\n    extra.list:\n      source: deb $MIRROR $RELEASE main\n      filename: /etc/apt/sources.list.d/other\n      append: false\n",
            ),
            "amd64",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            p.primary.unwrap().uri.as_deref(),
            Some("http://mirror.example/ubuntu")
        );
        assert_eq!(p.security, None);
        assert_eq!(
            p.proxy_lines,
            vec![
                "Acquire::http::Proxy \"http://p:3128\";".to_string(),
                "Acquire::https::Proxy \"http://s:3128\";".to_string()
            ]
        );
        assert_eq!(p.sources[0].filename, "/etc/apt/sources.list.d/docker.list");
        assert!(p.sources[0].append);
        assert_eq!(p.sources[1].filename, "/etc/apt/sources.list.d/other.list");
        assert!(!p.sources[1].append);
        let arm = plan(
            &yaml("apt:\n  primary:\n    - {arches: [arm64], uri: 'http://arm.example/ubuntu'}\n    - {arches: [default], uri: 'http://x'}\n"),
            "arm64",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            arm.primary.unwrap().uri.as_deref(),
            Some("http://arm.example/ubuntu")
        );
    }

    #[test]
    fn bad_input_names_the_key() {
        for (text, key) in [
            ("apt: [a]\n", "`apt`"),
            (
                "apt: {preserve_sources_list: 3}\n",
                "`apt.preserve_sources_list`",
            ),
            ("apt: {primary: {uri: x}}\n", "`apt.primary`"),
            ("apt: {primary: [{uri: x}]}\n", "`apt.primary.0`"),
            (
                "apt: {security: [{arches: [default], uri: [x]}]}\n",
                "`apt.security.0.uri`",
            ),
            ("apt: {sources: [a]}\n", "`apt.sources`"),
            ("apt: {sources: {s1: x}}\n", "`apt.sources.s1`"),
            (
                "apt: {sources: {s1: {source: [x]}}}\n",
                "`apt.sources.s1.source`",
            ),
            (
                "apt: {sources: {s1: {filename: ../../etc/passwd}}}\n",
                "`apt.sources.s1.filename`",
            ),
            (
                "apt: {sources: {s1: {append: maybe}}}\n",
                "`apt.sources.s1.append`",
            ),
            ("apt: {proxy: [x]}\n", "`apt.proxy`"),
            ("apt: {disable_suites: updates}\n", "`apt.disable_suites`"),
            (
                "apt: {debconf_selections: {a: [1]}}\n",
                "`apt.debconf_selections.a`",
            ),
        ] {
            let err = plan(&yaml(text), "amd64").unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn substitution_replaces_known_names_only() {
        let vars = [
            ("MIRROR", "http://m"),
            ("RELEASE", "bookworm"),
            ("KEY_FILE", "/k.asc"),
        ];
        assert_eq!(
            substitute(
                "deb [signed-by=$KEY_FILE] $MIRROR ${RELEASE}-updates main $OTHER",
                &vars
            ),
            "deb [signed-by=/k.asc] http://m bookworm-updates main $OTHER"
        );
    }

    #[test]
    fn distro_uris_are_replaced_and_others_kept() {
        let text = "# comment\ndeb http://deb.debian.org/debian bookworm main\ndeb-src [arch=amd64] http://deb.debian.org/debian bookworm main\ndeb http://security.debian.org/debian-security bookworm-security main\ndeb https://download.example.com/repo stable main\n";
        let out = replace_uris(
            text,
            Some("http://m/debian"),
            Some("http://s/debian-security"),
        );
        assert_eq!(
            out,
            "# comment\ndeb http://m/debian bookworm main\ndeb-src [arch=amd64] http://m/debian bookworm main\ndeb http://s/debian-security bookworm-security main\ndeb https://download.example.com/repo stable main\n"
        );
        let only_primary = replace_uris(text, Some("http://m/debian"), None);
        assert!(
            only_primary.contains("http://security.debian.org/debian-security bookworm-security")
        );
    }

    #[test]
    fn suites_are_disabled_by_alias() {
        let text = "deb http://m jammy main\ndeb http://m jammy-updates main\ndeb http://m jammy-backports main\n";
        let out = disable_suites(
            text,
            &["updates".into(), "$RELEASE-backports".into()],
            "jammy",
        );
        assert_eq!(
            out,
            "deb http://m jammy main\n# suite disabled by strap: deb http://m jammy-updates main\n# suite disabled by strap: deb http://m jammy-backports main\n"
        );
    }

    #[test]
    fn ppa_shortcuts_are_recognised() {
        assert!(is_repo_shortcut("ppa:deadsnakes/ppa"));
        assert!(is_repo_shortcut("cloud-archive:zed"));
        assert!(!is_repo_shortcut("deb http://x y main"));
        assert!(!is_repo_shortcut("deb [signed-by=/k] http://x y"));
    }

    #[test]
    fn default_mirrors_per_distro() {
        assert_eq!(
            default_mirrors("debian", "amd64").0,
            "http://deb.debian.org/debian"
        );
        assert_eq!(
            default_mirrors("ubuntu", "amd64").1,
            "http://security.ubuntu.com/ubuntu"
        );
        assert!(default_mirrors("ubuntu", "arm64").0.contains("ports"));
    }

    #[test]
    fn disabled_suites_match_cloud_init() {
        let text = "# header\ndeb http://m jammy main\ndeb [ arch=amd64 ] http://m jammy-updates main\ndeb-src http://m jammy-backports main\ndeb http://m jammy-security main\ndeb http://m jammy-proposed main\n";
        let cases: Vec<Vec<&str>> = vec![
            vec!["updates"],
            vec!["backports", "security"],
            vec!["$RELEASE", "proposed"],
            vec!["release"],
            vec!["mysuite"],
        ];
        let script = r#"
import sys, json
from cloudinit.config.cc_apt_configure import disable_suites
cases = json.load(sys.stdin)
print(json.dumps([disable_suites(c, cases["text"], "jammy") for c in cases["cases"]]))
"#;
        let input = serde_json::json!({"text": text, "cases": cases}).to_string();
        for (version, out) in system::cloud_init_oracles(script, &input) {
            let want: Vec<String> = serde_json::from_str(&out).unwrap();
            for (case, theirs) in cases.iter().zip(want) {
                let suites: Vec<String> = case.iter().map(|s| s.to_string()).collect();
                let ours = disable_suites(text, &suites, "jammy");
                assert_eq!(
                    ours,
                    theirs.replace("disabled by cloud-init", "disabled by strap"),
                    "cloud-init {version}: {case:?}"
                );
            }
        }
    }
}
