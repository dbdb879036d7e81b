//! `set_hostname` (once per instance) and `update_etc_hosts` (every boot): the hostname
//! from `fqdn`/`hostname` or the metadata's `local-hostname`, written to `/etc/hostname`
//! (and applied with `hostname` on a real boot); `/etc/hosts` managed when
//! `manage_etc_hosts` is `true` (rendered) or `localhost` (one line ensured).

use std::process::Command;

use super::super::context::Boot;
use super::{scalar_text, truthy, ModuleError, Outcome};

/// `(hostname, fqdn)` as cloud-init's `get_hostname_fqdn` resolves them.
pub fn resolve(boot: &mut Boot<'_>) -> Option<(String, String)> {
    let cfg_hostname = boot.cfg("hostname").and_then(scalar_text);
    if let Some(fqdn) = boot.cfg("fqdn").and_then(scalar_text) {
        let short =
            cfg_hostname.unwrap_or_else(|| fqdn.split('.').next().unwrap_or(&fqdn).to_string());
        return Some((short, fqdn));
    }
    if let Some(h) = cfg_hostname {
        if let Some((short, _)) = h.split_once('.') {
            return Some((short.to_string(), h.clone()));
        }
        return Some((h.clone(), h));
    }
    let local = boot.local_hostname()?;
    let short = local.split('.').next().unwrap_or(&local).to_string();
    Some((short, local))
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
