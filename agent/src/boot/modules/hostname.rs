//! `set_hostname` (once per instance) and `update_etc_hosts` (every boot): the hostname
//! from `fqdn`/`hostname` or the metadata's `local-hostname`, written to `/etc/hostname`
//! (and applied with `hostname` on a real boot); `/etc/hosts` managed when
//! `manage_etc_hosts` is `true` (rendered) or `localhost` (one line ensured).

use std::process::Command;

use super::super::context::Boot;
use super::{scalar_text, truthy, ModuleError, Outcome};

/// `(hostname, fqdn)` as cloud-init's `get_hostname_fqdn` resolves them.
pub fn resolve(boot: &mut Boot<'_>) -> Option<(String, String)> {
    let cfg_fqdn = boot.cfg("fqdn").and_then(scalar_text);
    let cfg_hostname = boot.cfg("hostname").and_then(scalar_text);
    names(cfg_fqdn, cfg_hostname, || boot.local_hostname())
}

/// `(hostname, fqdn)` from the config's `fqdn` and `hostname` and, when they do not
/// give both, the metadata's `local-hostname` (asked for only then), as cloud-init's
/// `get_hostname_fqdn` resolves them: `fqdn` wins (the hostname is then `hostname`, or
/// its first label); a `hostname` with a dot past its first character is both; a
/// `hostname` without one is the hostname, and the fqdn still comes from the metadata.
/// `None` when neither the config nor the metadata names the machine (cloud-init
/// would ask the running system).
pub fn names(
    cfg_fqdn: Option<String>,
    cfg_hostname: Option<String>,
    local_hostname: impl FnOnce() -> Option<String>,
) -> Option<(String, String)> {
    if let Some(fqdn) = cfg_fqdn {
        let short =
            cfg_hostname.unwrap_or_else(|| fqdn.split('.').next().unwrap_or(&fqdn).to_string());
        return Some((short, fqdn));
    }
    if let Some(h) = &cfg_hostname {
        if let Some(dot) = h.find('.').filter(|&i| i > 0) {
            return Some((h[..dot].to_string(), h.clone()));
        }
    }
    let from_metadata = local_hostname().map(|l| metadata_names(&l));
    match (cfg_hostname, from_metadata) {
        (Some(h), Some((_, fqdn))) => Some((h, fqdn)),
        (Some(h), None) => Some((h.clone(), h)),
        (None, found) => found,
    }
}

/// `(hostname, fqdn)` from the metadata's `local-hostname`, as cloud-init's
/// `DataSource.get_hostname` makes them: an IPv4 address becomes `ip-A-B-C-D`; the
/// domain is what follows the first label, and a `localdomain` one is dropped from the
/// fqdn.
fn metadata_names(local: &str) -> (String, String) {
    if local.parse::<std::net::Ipv4Addr>().is_ok() {
        let name = format!("ip-{}", local.replace('.', "-"));
        return (name.clone(), name);
    }
    match local.split_once('.') {
        Some((short, domain)) if domain != "localdomain" => {
            (short.to_string(), format!("{short}.{domain}"))
        }
        Some((short, _)) => (short.to_string(), short.to_string()),
        None => (local.to_string(), local.to_string()),
    }
}

/// `set_hostname`.
pub fn set_hostname(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    if truthy(boot.cfg("preserve_hostname"), false) {
        return Ok(Outcome::Skipped("preserve_hostname is set".into()));
    }
    let Some((short, fqdn)) = resolve(boot) else {
        return Ok(Outcome::Skipped(
            "no hostname in cloud-config or metadata".into(),
        ));
    };
    super::check_host_name("hostname", &short)?;
    super::check_host_name("fqdn", &fqdn)?;
    let name = if truthy(boot.cfg("prefer_fqdn_over_hostname"), false) {
        fqdn
    } else {
        short
    };
    if name == "localhost" {
        return Ok(Outcome::Skipped("the hostname is localhost".into()));
    }
    if truthy(boot.cfg("create_hostname_file"), true) {
        boot.ctx
            .path("/etc/hostname")
            .and_then(|p| {
                crate::boot::durable::write(
                    boot.ctx.root(),
                    &p,
                    format!("{name}\n").as_bytes(),
                    Some(0o644),
                )
            })
            .map_err(|source| ModuleError::Path {
                path: "/etc/hostname".into(),
                source,
            })?;
    }
    if boot.on_real_root() && crate::boot::context::in_container(boot.ctx) {
        // The container's runtime owns its UTS name (`--hostname`); a container usually
        // may not change it. /etc/hostname is written; the running name is left alone.
        boot.log.line(
            "INFO",
            &format!("set_hostname: in a container: wrote /etc/hostname ({name}); the running hostname is the container runtime's (--hostname)"),
        );
    } else if boot.on_real_root() {
        let status = Command::new("hostname").arg(&name).status();
        if !matches!(status, Ok(s) if s.success()) {
            return Err(ModuleError::Command {
                command: format!("hostname {name}"),
                status: format!("{status:?}"),
            });
        }
    }
    Ok(Outcome::ran())
}

/// `update_etc_hosts`.
pub fn update_etc_hosts(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let mode = match boot.cfg("manage_etc_hosts").map(|n| &n.value) {
        None => return Ok(Outcome::Skipped("manage_etc_hosts is not set".into())),
        Some(crate::cloudconfig::Value::Bool(false)) => {
            return Ok(Outcome::Skipped("manage_etc_hosts is false".into()))
        }
        Some(crate::cloudconfig::Value::Bool(true)) => "template".to_string(),
        Some(_) => boot
            .cfg("manage_etc_hosts")
            .and_then(scalar_text)
            .unwrap_or_default(),
    };
    let Some((short, fqdn)) = resolve(boot) else {
        return Ok(Outcome::Skipped("no hostname to put in /etc/hosts".into()));
    };
    super::check_host_name("hostname", &short)?;
    super::check_host_name("fqdn", &fqdn)?;
    let path = boot
        .ctx
        .path("/etc/hosts")
        .map_err(|source| ModuleError::Path {
            path: "/etc/hosts".into(),
            source,
        })?;
    let text = match mode.as_str() {
        "template" | "true" => format!(
            "# Your system has configured 'manage_etc_hosts' as True.\n# As a result, if you wish for changes to this file to persist\n# then you will need to change the strap user data instead.\n127.0.1.1 {fqdn} {short}\n127.0.0.1 localhost\n\n# The following lines are desirable for IPv6 capable hosts\n::1 localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n"
        ),
        "localhost" => {
            let mut text = super::system::read_path(boot.ctx, "/etc/hosts", &path)?.unwrap_or_default();
            let line = format!("127.0.1.1 {fqdn} {short}");
            if !text.lines().any(|l| l.trim() == line) {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        }
        other => {
            return Err(ModuleError::Invalid {
                key: "manage_etc_hosts".into(),
                message: format!("`{other}` is not one of true, false, localhost"),
            })
        }
    };
    crate::boot::durable::write(boot.ctx.root(), &path, text.as_bytes(), Some(0o644)).map_err(
        |source| ModuleError::Path {
            path: "/etc/hosts".into(),
            source,
        },
    )?;
    Ok(Outcome::ran())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );

    /// The config's `fqdn` and `hostname` and the metadata's `local-hostname`; a case
    /// without a local-hostname that needs one is left out (cloud-init then asks the
    /// running system).
    const CASES: &[Case] = &[
        (None, None, Some("ip-10-0-0-5.eu-west-1.compute.internal")),
        (None, None, Some("ip-10-0-0-5.ec2.internal")),
        (None, None, Some("10.0.0.5")),
        (None, None, Some("myhost")),
        (None, None, Some("myhost.localdomain")),
        (None, Some("web"), Some("ip-10-0-0-5.ec2.internal")),
        (None, Some("web"), Some("10.1.2.3")),
        (None, Some("web"), Some("a.b.c.d.e")),
        (
            None,
            Some("web.example.com"),
            Some("ip-10-0-0-5.ec2.internal"),
        ),
        (None, Some("web.example.com"), None),
        (None, Some(".web"), Some("ip-10-0-0-5.ec2.internal")),
        (
            Some("web.example.com"),
            None,
            Some("ip-10-0-0-5.ec2.internal"),
        ),
        (Some("web.example.com"), Some("other"), None),
        (Some("single"), None, None),
    ];

    #[test]
    fn a_hostname_without_a_dot_keeps_the_metadata_fqdn() {
        let local = || Some("ip-10-0-0-5.ec2.internal".to_string());
        assert_eq!(
            names(None, Some("web".into()), local),
            Some(("web".into(), "ip-10-0-0-5.ec2.internal".into()))
        );
        assert_eq!(
            names(None, None, || Some("10.0.0.5".into())),
            Some(("ip-10-0-0-5".into(), "ip-10-0-0-5".into()))
        );
        assert_eq!(names(None, None, || None), None);
    }

    /// Both cloud-inits' `get_hostname_fqdn`, over their own `DataSource.get_hostname`
    /// holding the case's metadata.
    #[test]
    fn names_agree_with_cloud_inits_get_hostname_fqdn() {
        let script = crate::cloud_init_peers::CLOUD_STANDIN.to_string()
            + r#"
from cloudinit import util
out = []
for fqdn, hostname, local in json.load(sys.stdin):
    cfg = {k: v for k, v in (("fqdn", fqdn), ("hostname", hostname)) if v is not None}
    md = {"local-hostname": local} if local is not None else {}
    r = util.get_hostname_fqdn(cfg, Cloud(md))
    out.append([r.hostname, r.fqdn])
print(json.dumps(out))
"#;
        let input = serde_json::to_string(CASES).unwrap();
        let oracles = crate::cloud_init_peers::oracles(&script, &input);
        for (version, out) in oracles {
            let theirs: Vec<(String, String)> = serde_json::from_str(&out).unwrap();
            assert_eq!(theirs.len(), CASES.len());
            for (&(fqdn, hostname, local), want) in CASES.iter().zip(theirs) {
                let ours = names(fqdn.map(Into::into), hostname.map(Into::into), || {
                    local.map(Into::into)
                });
                assert_eq!(
                    ours,
                    Some(want),
                    "cloud-init {version}: fqdn {fqdn:?}, hostname {hostname:?}, local-hostname {local:?}"
                );
            }
        }
    }
}
