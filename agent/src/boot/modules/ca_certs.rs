//! `ca_certs` (and the deprecated `ca-certs`): `remove_defaults` and `trusted`
//! certificates, written where the root's distro family keeps local anchors, then the
//! trust store rebuilt.
//!
//! - Debian family (and any root without a known family): each certificate is
//!   `/usr/local/share/ca-certificates/cloud-init-ca-cert-N.crt` (N from 1), the store is
//!   rebuilt by `update-ca-certificates`; `remove_defaults` disables every certificate
//!   listed in `/etc/ca-certificates.conf` (a `!` before its line) and tells debconf not
//!   to trust new ones.
//! - RHEL family: `/etc/pki/ca-trust/source/anchors/cloud-init-ca-cert-N.crt`, rebuilt by
//!   `update-ca-trust`; `remove_defaults` empties the distro's bundle folder
//!   `/usr/share/pki/ca-trust-source/`.
//!
//! The file names are strap's (cloud-init's): a later run replaces them, and numbered
//! files beyond the new list are removed. The rebuild (and debconf) only runs on the real
//! machine; under `--root` it is recorded.

use crate::cloudconfig::{Node, Value};
use crate::secret::Secret;

use super::super::context::Boot;
use super::system::{self, Family, OsRelease};
use super::{scalar_text, wrong_type, ModuleError, Outcome};

/// Prefix of the certificate files this module owns.
pub const CERT_PREFIX: &str = "cloud-init-ca-cert-";

/// Debian's configuration of the system certificates.
pub const CA_CERTIFICATES_CONF: &str = "/etc/ca-certificates.conf";

/// Where a family keeps its local anchors, its update command, and what
/// `remove_defaults` touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The folder the certificate files go to.
    pub dir: &'static str,
    /// The command rebuilding the trust store.
    pub update: &'static str,
}

/// The layout of a family.
pub fn layout(family: Family) -> Layout {
    match family {
        Family::Rhel => Layout {
            dir: "/etc/pki/ca-trust/source/anchors",
            update: "update-ca-trust",
        },
        Family::Debian | Family::Other => Layout {
            dir: "/usr/local/share/ca-certificates",
            update: "update-ca-certificates",
        },
    }
}

/// The module's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub remove_defaults: bool,
    pub trusted: Vec<String>,
    pub warnings: Vec<String>,
}

/// Read `ca_certs` (or `ca-certs`) from the config; `None` when neither is there.
pub fn plan(config: &Node) -> Result<Option<Plan>, ModuleError> {
    let under = config.get("ca_certs").filter(|n| !n.is_null());
    let hyphen = config.get("ca-certs").filter(|n| !n.is_null());
    let mut out = Plan::default();
    let (key, node) = match (under, hyphen) {
        (None, None) => return Ok(None),
        (Some(n), None) => ("ca_certs", n),
        (None, Some(n)) => {
            out.warnings
                .push("the key `ca-certs` is deprecated: use `ca_certs`".into());
            ("ca-certs", n)
        }
        (Some(n), Some(_)) => {
            out.warnings.push(
                "both `ca_certs` and the deprecated `ca-certs` given: `ca-certs` ignored".into(),
            );
            ("ca_certs", n)
        }
    };
    if node.as_map().is_none() {
        return Err(wrong_type(key, "a mapping", node));
    }
    let flag = |name: &str| -> Result<Option<bool>, ModuleError> {
        match node.get(name).map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((n, _)) => Err(wrong_type(&format!("{key}.{name}"), "a boolean", n)),
        }
    };
    out.remove_defaults = match flag("remove-defaults")? {
        Some(b) => {
            out.warnings.push(format!(
                "the key `{key}.remove-defaults` is deprecated: use `{key}.remove_defaults`"
            ));
            b
        }
        None => flag("remove_defaults")?.unwrap_or(false),
    };
    if let Some(t) = node.get("trusted").filter(|n| !n.is_null()) {
        out.trusted = match &t.value {
            Value::Str(s) => vec![s.clone()],
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    scalar_text(item).ok_or_else(|| {
                        wrong_type(&format!("{key}.trusted.{i}"), "a PEM certificate", item)
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(wrong_type(
                    &format!("{key}.trusted"),
                    "a list of certificates",
                    t,
                ))
            }
        };
    }
    Ok(Some(out))
}

/// `/etc/ca-certificates.conf` with every enabled certificate disabled (`!` before it).
pub fn disable_all(conf: &str) -> String {
    conf.lines()
        .map(|l| {
            if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
                l.to_string()
            } else {
                format!("!{l}")
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// `ca_certs`.
pub fn ca_certs(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(mut plan) = plan(&boot.config)? else {
        return Ok(Outcome::Skipped("no `ca_certs` in cloud-config".into()));
    };
    for w in std::mem::take(&mut plan.warnings) {
        boot.warn(&format!("ca_certs: {w}"));
    }
    let family = OsRelease::load(boot.ctx).family();
    let lay = layout(family);
    let mut tail = Vec::new();
    if plan.remove_defaults {
        match family {
            Family::Rhel => {
                let dir = system::root_path(boot.ctx, "/usr/share/pki/ca-trust-source")?;
                empty_dir(&dir)?;
                tail.push(
                    "removed the default certificates of /usr/share/pki/ca-trust-source".into(),
                );
            }
            Family::Debian | Family::Other => {
                let conf = system::read_opt(boot.ctx, CA_CERTIFICATES_CONF)?.unwrap_or_default();
                system::write(boot.ctx, CA_CERTIFICATES_CONF, &disable_all(&conf), 0o644)?;
                tail.push(format!(
                    "disabled the default certificates in {CA_CERTIFICATES_CONF}"
                ));
                if family == Family::Debian {
                    let answer = Secret::new(
                        "ca-certificates ca-certificates/trust_new_crts select no\n".to_string(),
                    );
                    let argv = vec!["debconf-set-selections".to_string()];
                    if let Some(line) =
                        system::run_or_record(boot, "ca_certs", &argv, Some(&answer))?
                    {
                        tail.push(format!("{line} (trust_new_crts select no)"));
                    }
                }
            }
        }
    }
    for (i, cert) in plan.trusted.iter().enumerate() {
        let machine = format!("{}/{CERT_PREFIX}{}.crt", lay.dir, i + 1);
        let mut text = cert.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        system::write(boot.ctx, &machine, &text, 0o644)?;
    }
    remove_stale(boot, lay.dir, plan.trusted.len())?;
    if !plan.trusted.is_empty() {
        tail.push(format!(
            "wrote {} certificate(s) to {}/{CERT_PREFIX}N.crt",
            plan.trusted.len(),
            lay.dir
        ));
    }
    if let Some(line) = system::run_or_record(boot, "ca_certs", &[lay.update.to_string()], None)? {
        tail.push(line);
    }
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

/// Remove this module's numbered files beyond `count` (left by an earlier, longer list).
fn remove_stale(boot: &Boot<'_>, dir: &str, count: usize) -> Result<(), ModuleError> {
    let path = system::root_path(boot.ctx, dir)?;
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let n = name
            .strip_prefix(CERT_PREFIX)
            .and_then(|r| r.strip_suffix(".crt"))
            .and_then(|n| n.parse::<usize>().ok());
        if n.is_some_and(|n| n > count) {
            system::remove(boot.ctx, &format!("{dir}/{name}"))?;
        }
    }
    Ok(())
}

fn empty_dir(dir: &std::path::Path) -> Result<(), ModuleError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        let res = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        res.map_err(|source| ModuleError::Io {
            op: "remove",
            path: p.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        crate::cloudconfig::load(text).unwrap()
    }

    #[test]
    fn both_spellings_and_a_single_string_are_read() {
        assert_eq!(plan(&yaml("runcmd: []\n")).unwrap(), None);
        let p = plan(&yaml(
            "ca_certs:\n  remove_defaults: true\n  trusted:\n  - AAA\n  - |\n    BBB\n",
        ))
        .unwrap()
        .unwrap();
        assert!(p.remove_defaults);
        assert_eq!(p.trusted, vec!["AAA".to_string(), "BBB\n".to_string()]);
        assert!(p.warnings.is_empty());
        let p = plan(&yaml(
            "ca-certs:\n  remove-defaults: true\n  trusted: CCC\n",
        ))
        .unwrap()
        .unwrap();
        assert!(p.remove_defaults);
        assert_eq!(p.trusted, vec!["CCC".to_string()]);
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        let p = plan(&yaml(
            "ca_certs: {trusted: [A]}\nca-certs: {trusted: [B]}\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(p.trusted, vec!["A".to_string()]);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn bad_input_names_the_key() {
        for (text, key) in [
            ("ca_certs: [a]\n", "`ca_certs`"),
            (
                "ca_certs: {remove_defaults: maybe}\n",
                "`ca_certs.remove_defaults`",
            ),
            (
                "ca-certs: {remove-defaults: [1]}\n",
                "`ca-certs.remove-defaults`",
            ),
            ("ca_certs: {trusted: {a: b}}\n", "`ca_certs.trusted`"),
            ("ca_certs: {trusted: [[a]]}\n", "`ca_certs.trusted.0`"),
        ] {
            let err = plan(&yaml(text)).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn remove_defaults_disables_every_listed_certificate() {
        let conf = "# comment\nmozilla/A.crt\n!mozilla/B.crt\n\nmozilla/C.crt\n";
        assert_eq!(
            disable_all(conf),
            "# comment\n!mozilla/A.crt\n!mozilla/B.crt\n\n!mozilla/C.crt\n"
        );
    }

    #[test]
    fn layouts_per_family() {
        assert_eq!(layout(Family::Debian).update, "update-ca-certificates");
        assert_eq!(layout(Family::Rhel).dir, "/etc/pki/ca-trust/source/anchors");
        assert_eq!(layout(Family::Other), layout(Family::Debian));
    }
}
