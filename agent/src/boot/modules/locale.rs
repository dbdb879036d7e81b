//! `locale` (and `locale_configfile`): the system locale, as cloud-init 22.4's
//! `cc_locale` sets it. On the Debian family the locale file (`/etc/default/locale`, or
//! `locale_configfile`) gets `LANG=` as `update-locale --locale-file=FILE LANG=…`
//! writes it (other variables kept, an incompatible `LANGUAGE` commented out), after
//! `locale-gen LOCALE` (not for `C`, `C.UTF-8`, `POSIX`); nothing is done when the file
//! exists and already says this locale. On the RHEL family `/etc/locale.conf` gets
//! `LANG=` (cloud-init ignores `locale_configfile` there, and so does strap). On the real
//! root `locale-gen` and `update-locale` run; under another `--root` the file is written
//! by strap and the commands are recorded. Other distros are skipped with the reason.
//! Without `locale` the module does nothing (cloud-init would set the system's current
//! locale, or `en_US.UTF-8` when there is none).

use super::super::context::Boot;
use super::system::{self, Family, OsRelease};
use super::{scalar_text, wrong_type, ModuleError, Outcome};

/// Debian's locale file.
pub const DEBIAN_LOCALE_FILE: &str = "/etc/default/locale";
/// systemd's locale file (the RHEL family).
pub const LOCALE_CONF: &str = "/etc/locale.conf";

/// Locales that need no generation.
const BUILT_IN: &[&str] = &["c", "c.utf-8", "posix"];

/// `locale`.
pub fn locale(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let Some(node) = boot.cfg("locale").cloned() else {
        return Ok(Outcome::Skipped("no `locale` in cloud-config".into()));
    };
    if matches!(node.value, crate::cloudconfig::Value::Bool(true)) {
        return Err(ModuleError::Invalid {
            key: "locale".into(),
            message: "`true` is not a locale name (false leaves the locale alone)".into(),
        });
    }
    // cloud-init reads it with get_cfg_option_str, then `util.is_false`.
    let locale = scalar_text(&node).ok_or_else(|| wrong_type("locale", "a locale name", &node))?;
    if ["false", "0", "off", "no"].contains(&locale.to_lowercase().as_str()) {
        return Ok(Outcome::Skipped(format!("locale is `{locale}`: disabled")));
    }
    if locale.is_empty() || locale.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        return Err(ModuleError::Invalid {
            key: "locale".into(),
            message: format!("`{locale}` is not a locale name"),
        });
    }
    let configfile = match boot.cfg("locale_configfile").cloned() {
        None => None,
        Some(n) => Some(
            n.as_str()
                .map(str::to_string)
                .ok_or_else(|| wrong_type("locale_configfile", "a path", &n))?,
        ),
    };
    match OsRelease::load(boot.ctx).family() {
        Family::Debian => debian(boot, &locale, configfile.as_deref()),
        Family::Rhel => {
            let current = system::read_opt(boot.ctx, LOCALE_CONF)?;
            let text = set_sysconfig(current.as_deref(), "LANG", &locale);
            if current.as_deref() != Some(text.as_str()) {
                system::write(boot.ctx, LOCALE_CONF, &text, 0o644)?;
            }
            Ok(Outcome::Ran {
                exit_code: None,
                tail: vec![format!("{LOCALE_CONF}: LANG={locale}")],
            })
        }
        Family::Other => Ok(Outcome::Skipped(
            "strap sets the locale on the Debian and RHEL families only".into(),
        )),
    }
}

fn debian(
    boot: &mut Boot<'_>,
    locale: &str,
    configfile: Option<&str>,
) -> Result<Outcome, ModuleError> {
    let file = configfile.unwrap_or(DEBIAN_LOCALE_FILE);
    // As cloud-init: the system's locale comes from /etc/default/locale whatever the
    // file written; an unset one means the configuration is written again.
    let system_lang = system::read_opt(boot.ctx, DEBIAN_LOCALE_FILE)?
        .and_then(|t| shell_value(&t, "LANG"))
        .filter(|v| !v.is_empty());
    let exists = system::root_path(boot.ctx, file)?.exists();
    let current = system_lang.clone().unwrap_or_else(|| "en_US.UTF-8".into());
    let need = !exists || system_lang.is_none() || current.to_lowercase() != locale.to_lowercase();
    if !need {
        return Ok(Outcome::Skipped(format!(
            "{file} already sets LANG={locale}"
        )));
    }
    let mut tail = Vec::new();
    if !BUILT_IN.contains(&locale.to_lowercase().as_str()) {
        require(boot, "locale-gen")?;
        tail.extend(system::run_or_record(
            boot,
            "locale",
            &["locale-gen".into(), locale.into()],
            None,
        )?);
    }
    let argv = vec![
        "update-locale".to_string(),
        format!("--locale-file={file}"),
        format!("LANG={locale}"),
    ];
    if boot.on_real_root() {
        require(boot, "update-locale")?;
        system::run_or_record(boot, "locale", &argv, None)?;
    } else {
        let current = system::read_opt(boot.ctx, file)?;
        let text = update_locale(current.as_deref(), &[("LANG", locale)]);
        let mode = system::root_path(boot.ctx, file)?
            .metadata()
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
            .unwrap_or(0o644);
        system::write(boot.ctx, file, &text, mode)?;
        let line = format!("wrote {file} as `{}` would", argv.join(" "));
        boot.out.message(&format!("locale: {line}"));
        tail.push(line);
    }
    Ok(Outcome::Ran {
        exit_code: None,
        tail,
    })
}

/// A program of the `locales` package must be installed (on the real root).
fn require(boot: &Boot<'_>, program: &str) -> Result<(), ModuleError> {
    if !boot.on_real_root() || system::installed(boot.ctx, program) {
        return Ok(());
    }
    Err(ModuleError::Invalid {
        key: "locale".into(),
        message: format!("`{program}` is not installed: install the `locales` package"),
    })
}

/// A variable of a shell-style file (the last assignment wins), quotes removed.
fn shell_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
}

/// A line `NAME=…` (no leading space): its name and value.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once('=')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some((name, value))
}

/// What Debian's `update-locale --locale-file=FILE NAME=VALUE…` writes, given the
/// file's text (`None`: it does not exist). Every assignment is commented out, then the
/// first commented line of each variable (those of the file and those given) becomes
/// its value, or it is appended; a `LANGUAGE` that does not fit the message locale is
/// commented out (its sanity check).
pub fn update_locale(current: Option<&str>, set: &[(&str, &str)]) -> String {
    let mut vars: Vec<(String, String)> = Vec::new();
    let put = |vars: &mut Vec<(String, String)>, k: &str, v: &str| match vars
        .iter_mut()
        .find(|(name, _)| name == k)
    {
        Some(slot) => slot.1 = v.to_string(),
        None => vars.push((k.to_string(), v.to_string())),
    };
    let mut lines: Vec<String> = match current {
        None => vec!["#  File generated by update-locale".into()],
        Some(text) => {
            for line in text.lines() {
                if let Some((k, v)) = assignment(line) {
                    put(&mut vars, k, v);
                }
            }
            text.lines()
                .map(|l| {
                    let body = l.trim_start();
                    if assignment(body).is_some() {
                        format!("#{l}")
                    } else {
                        l.to_string()
                    }
                })
                .collect()
        }
    };
    for (k, v) in set {
        put(&mut vars, k, v);
    }
    for (k, v) in &vars {
        let commented = lines.iter_mut().find(|l| {
            l.strip_prefix('#')
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix(k.as_str()))
                .is_some_and(|rest| rest.starts_with('='))
        });
        match commented {
            Some(line) => *line = format!("{k}={v}"),
            None => lines.push(format!("{k}={v}")),
        }
    }
    if let Some((_, language)) = vars.iter().find(|(k, _)| k == "LANGUAGE") {
        let unquote = |s: &str| s.replace(['"', '\''], "");
        let language = unquote(language);
        let language = language
            .split(['.', ':', '_'])
            .next()
            .unwrap_or("")
            .to_string();
        let msg = ["LANG", "LC_MESSAGES", "LC_ALL"]
            .iter()
            .rev()
            .find_map(|name| vars.iter().find(|(k, _)| k == name))
            .map(|(_, v)| unquote(v));
        if let Some(msg) = msg {
            if !msg.starts_with(&language)
                && msg != "C"
                && msg != "POSIX"
                && language != "C"
                && language != "POSIX"
            {
                for l in &mut lines {
                    if l.trim_start().starts_with("LANGUAGE=") {
                        *l = format!("#{l}");
                    }
                }
            }
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A sysconfig-style file with `key` set (the RHEL family's `/etc/locale.conf`): the
/// key's line replaced, or appended; a new file gets strap's header.
pub fn set_sysconfig(current: Option<&str>, key: &str, value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.@:/+-,".contains(c));
    let line = if plain {
        format!("{key}={value}")
    } else {
        format!("{key}='{value}'")
    };
    let mut lines: Vec<String> = match current {
        Some(text) => text.lines().map(str::to_string).collect(),
        None => vec![format!(
            "# Created by strap v. {}",
            super::super::context::VERSION
        )],
    };
    let at = lines
        .iter()
        .position(|l| assignment(l.trim_start()).is_some_and(|(k, _)| k == key));
    match at {
        Some(i) => lines[i] = line,
        None => lines.push(line),
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_locale_writes_as_debian_does() {
        assert_eq!(
            update_locale(None, &[("LANG", "C.UTF-8")]),
            "#  File generated by update-locale\nLANG=C.UTF-8\n"
        );
        assert_eq!(
            update_locale(
                Some("LANGUAGE=en_US:en\n# c\nLANG=C\n"),
                &[("LANG", "en_GB.UTF-8")]
            ),
            "LANGUAGE=en_US:en\n# c\nLANG=en_GB.UTF-8\n"
        );
        assert_eq!(
            update_locale(
                Some("LANGUAGE=en_US:en\n# c\nLANG=C\n"),
                &[("LANG", "de_DE.UTF-8")]
            ),
            "#LANGUAGE=en_US:en\n# c\nLANG=de_DE.UTF-8\n"
        );
        assert_eq!(
            update_locale(Some("# LANG=x\nLC_ALL=C"), &[("LANG", "fr_FR.UTF-8")]),
            "LANG=fr_FR.UTF-8\nLC_ALL=C\n"
        );
    }

    /// The installed `update-locale` (Debian's `locales`) as the peer, on the locales
    /// every system has.
    #[test]
    fn update_locale_agrees_with_the_installed_tool() {
        let tool = std::path::Path::new("/usr/sbin/update-locale");
        if !tool.is_file() {
            return eprintln!(
                "skipping: /usr/sbin/update-locale is not installed (apt-get install locales)"
            );
        }
        let cases: &[(Option<&str>, &str)] = &[
            (None, "C.UTF-8"),
            (Some("LANG=POSIX\n"), "C.UTF-8"),
            (
                Some("# comment\n  LC_TIME=C\nLANGUAGE=de:en\nLANG=C\n"),
                "C.UTF-8",
            ),
            (Some("LANG=C\nLANG=POSIX\n# LANG=x\n"), "C"),
            (Some("LC_ALL=C"), "POSIX"),
        ];
        for (current, lang) in cases {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("locale");
            if let Some(text) = current {
                std::fs::write(&file, text).unwrap();
            }
            let out = std::process::Command::new(tool)
                .arg(format!("--locale-file={}", file.display()))
                .arg(format!("LANG={lang}"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let theirs = std::fs::read_to_string(&file).unwrap();
            assert_eq!(
                update_locale(*current, &[("LANG", lang)]),
                theirs,
                "{current:?} {lang}"
            );
        }
    }

    #[test]
    fn sysconfig_sets_one_key() {
        assert!(set_sysconfig(None, "LANG", "de_DE.UTF-8").ends_with("\nLANG=de_DE.UTF-8\n"));
        assert_eq!(
            set_sysconfig(Some("LC_CTYPE=C\n# x\nLANG=C\n"), "LANG", "en_US.UTF-8"),
            "LC_CTYPE=C\n# x\nLANG=en_US.UTF-8\n"
        );
        assert_eq!(set_sysconfig(Some(""), "LANG", "a b"), "LANG='a b'\n");
    }

    #[test]
    fn shell_values() {
        assert_eq!(
            shell_value("A=1\nLANG=\"x\"\n", "LANG").as_deref(),
            Some("x")
        );
        assert_eq!(shell_value("LANGUAGE=x\n", "LANG"), None);
    }
}
