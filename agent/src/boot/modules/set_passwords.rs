//! `set_passwords`: `password` (the default user's), `chpasswd` (`users` with a `type`
//! of `text`, `hash` or `RANDOM`; the deprecated `list` of `user:password` lines; `expire`,
//! true by default) and `ssh_pwauth` (sshd's `PasswordAuthentication`).
//!
//! Passwords are [`Secret`]s from the moment they are read: they never reach strap's
//! log, the output log, the report or `Debug` output. Plain-text passwords are hashed
//! here with SHA-512 crypt (`$6$`); under `--root` the hashes are written to the root's
//! `/etc/shadow` through [`Accounts`], on the real machine they are fed to `chpasswd -e`.
//! `RANDOM` passwords are made here and shown once, as cloud-init does, on the console
//! and in the output log (never in strap's log). `ssh_pwauth` edits the root's
//! `/etc/ssh/sshd_config` (or its `sshd_config.d/50-cloud-init.conf` when the main file
//! includes that folder) and restarts sshd only on the real machine (the unit
//! `system_info.ssh_svcname` names, else `ssh` on Debian and `sshd` elsewhere).

use crate::cloudconfig::{Node, Value};
use crate::secret::Secret;

use super::super::context::Boot;
use super::accounts::Accounts;
use super::system::{self, Family, OsRelease};
use super::{scalar_text, truthy, wrong_type, ModuleError, Outcome};

/// sshd's main configuration file.
pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// The drop-in written when `sshd_config` includes `sshd_config.d/*.conf`.
pub const SSHD_DROP_IN: &str = "/etc/ssh/sshd_config.d/50-cloud-init.conf";

/// The character classes of random passwords, as cloud-init 25 chooses them (Python's
/// `string.digits`, `ascii_lowercase`, `ascii_uppercase`, `punctuation`): one of each
/// class, so that password-quality rules accept the password, the rest from all four.
/// (cloud-init 22.4 took letters and digits without look-alikes, which `pam_pwquality`
/// policies asking for several classes refuse.)
const RANDOM_CLASSES: [&[u8]; 4] = [
    b"0123456789",
    b"abcdefghijklmnopqrstuvwxyz",
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
];

/// Length of a random password.
const RANDOM_LEN: usize = 20;

/// How a password is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Plain text, hashed before it is stored.
    Text,
    /// Already a crypt hash, stored as is.
    Hash,
    /// To be made up here and shown once.
    Random,
}

/// One password to set.
#[derive(Clone, Debug)]
pub struct Entry {
    pub user: String,
    pub kind: Kind,
    /// The plain text (`Text`, `Random` once made) or the hash (`Hash`).
    pub password: Secret<String>,
}

/// `ssh_pwauth`, read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwAuth {
    Yes,
    No,
    Unchanged,
}

/// What the module will do.
#[derive(Clone, Debug)]
pub struct Plan {
    pub entries: Vec<Entry>,
    pub expire: bool,
    pub pwauth: PwAuth,
    /// Deprecations and ignored values, for the boot's warnings.
    pub warnings: Vec<String>,
}

/// Whether a deprecated `list` password is a crypt hash, as cloud-init decides it:
/// `$` and an id among 1, 2a, 2y, 5, 6, then `$salt$hash` (both non-empty), no `:`.
pub fn looks_hashed(p: &str) -> bool {
    if p.contains(':') {
        return false;
    }
    let Some(rest) = p.strip_prefix('$') else {
        return false;
    };
    let Some(rest) = ["2a", "2y", "1", "5", "6"]
        .iter()
        .find_map(|id| rest.strip_prefix(id))
    else {
        return false;
    };
    // `(\$.+){2}`: a `$`, then a second `$` with at least one character on each side.
    rest.starts_with('$')
        && rest
            .char_indices()
            .skip(2)
            .any(|(i, c)| c == '$' && i + 1 < rest.len())
}

fn entries_from_users(node: &Node) -> Result<Vec<Entry>, ModuleError> {
    let items = node
        .as_seq()
        .ok_or_else(|| wrong_type("chpasswd.users", "a list of users", node))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = |k: &str| format!("chpasswd.users.{i}{k}");
        if item.as_map().is_none() {
            return Err(wrong_type(
                &key(""),
                "a mapping with name and password",
                item,
            ));
        }
        let user = match item.get("name") {
            Some(n) => scalar_text(n).ok_or_else(|| wrong_type(&key(".name"), "a string", n))?,
            None => {
                return Err(ModuleError::Invalid {
                    key: key(""),
                    message: "`name` is required".into(),
                })
            }
        };
        let kind = match item.get("type").map(|t| (t, scalar_text(t))) {
            None => Kind::Hash,
            Some((_, Some(t))) if t == "hash" => Kind::Hash,
            Some((_, Some(t))) if t == "text" => Kind::Text,
            Some((_, Some(t))) if t == "RANDOM" => Kind::Random,
            Some((_, Some(t))) => {
                return Err(ModuleError::Invalid {
                    key: key(".type"),
                    message: format!("`{t}` is not text, hash or RANDOM"),
                })
            }
            Some((t, None)) => return Err(wrong_type(&key(".type"), "a string", t)),
        };
        let password = match (kind, item.get("password")) {
            (Kind::Random, _) => String::new(),
            (_, Some(p)) => {
                scalar_text(p).ok_or_else(|| wrong_type(&key(".password"), "a string", p))?
            }
            (_, None) => {
                return Err(ModuleError::Invalid {
                    key: key(""),
                    message: format!("`password` is required for user {user} (or type: RANDOM)"),
                })
            }
        };
        out.push(Entry {
            user,
            kind,
            password: Secret::new(password),
        });
    }
    Ok(out)
}

fn entry_from_line(key: &str, line: &str) -> Result<Entry, ModuleError> {
    let Some((user, p)) = line.split_once(':') else {
        return Err(ModuleError::Invalid {
            key: key.into(),
            message: "an entry must be `user:password` (no `:` found)".into(),
        });
    };
    let kind = if looks_hashed(p) {
        Kind::Hash
    } else if p == "R" || p == "RANDOM" {
        Kind::Random
    } else {
        Kind::Text
    };
    Ok(Entry {
        user: user.to_string(),
        kind,
        password: Secret::new(if kind == Kind::Random {
            String::new()
        } else {
            p.to_string()
        }),
    })
}

/// Read the module's keys. `default_user` receives the top-level `password`.
pub fn plan(config: &Node, default_user: Option<&str>) -> Result<Plan, ModuleError> {
    let get = |k: &str| config.get(k).filter(|n| !n.is_null());
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    let mut expire = true;
    if let Some(ch) = get("chpasswd") {
        if ch.as_map().is_none() {
            return Err(wrong_type("chpasswd", "a mapping", ch));
        }
        if let Some(users) = ch.get("users").filter(|n| !n.is_null()) {
            let given = entries_from_users(users)?;
            for (i, e) in given.iter().enumerate() {
                let p = e.password.expose();
                // The value itself is never shown: it may be a plain password.
                if e.kind == Kind::Hash && !looks_hashed(p) && !p.starts_with(['!', '*']) {
                    warnings.push(format!(
                        "chpasswd.users.{i}: the password of {} is stored as given (type hash) but does not look like a crypt hash; use `type: text` for a plain password",
                        e.user
                    ));
                }
            }
            entries.extend(given);
        }
        if let Some(list) = ch.get("list").filter(|n| !n.is_null()) {
            warnings.push("chpasswd.list is deprecated: use chpasswd.users".to_string());
            match &list.value {
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let key = format!("chpasswd.list.{i}");
                        let line = scalar_text(item)
                            .ok_or_else(|| wrong_type(&key, "a `user:password` string", item))?;
                        entries.push(entry_from_line(&key, &line)?);
                    }
                }
                Value::Str(text) => {
                    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
                        entries.push(entry_from_line(&format!("chpasswd.list.{i}"), line)?);
                    }
                }
                _ => {
                    return Err(wrong_type(
                        "chpasswd.list",
                        "a list of `user:password` strings",
                        list,
                    ))
                }
            }
        }
        if let Some(e) = ch.get("expire").filter(|n| !n.is_null()) {
            if !matches!(e.value, Value::Bool(_) | Value::Str(_) | Value::Int(_)) {
                return Err(wrong_type("chpasswd.expire", "a boolean", e));
            }
            expire = truthy(Some(e), true);
        }
    }
    if entries.is_empty() {
        if let Some(p) = get("password") {
            let text = scalar_text(p).ok_or_else(|| wrong_type("password", "a string", p))?;
            match default_user {
                Some(user) => entries.push(entry_from_line("password", &format!("{user}:{text}"))?),
                None => warnings.push(
                    "password: no default user to set it for (`users` leaves out `default`)"
                        .to_string(),
                ),
            }
        }
    }
    let pwauth = match get("ssh_pwauth").map(|n| &n.value) {
        None => PwAuth::Unchanged,
        Some(Value::Bool(true)) => PwAuth::Yes,
        Some(Value::Bool(false)) => PwAuth::No,
        Some(Value::Int(i)) => {
            if *i != 0 {
                PwAuth::Yes
            } else {
                PwAuth::No
            }
        }
        Some(Value::Str(s)) => {
            let lower = s.to_ascii_lowercase();
            match lower.as_str() {
                "true" | "yes" | "on" | "1" => PwAuth::Yes,
                "false" | "no" | "off" | "0" => PwAuth::No,
                "unchanged" => PwAuth::Unchanged,
                _ => {
                    warnings.push(format!(
                        "ssh_pwauth: `{s}` is not true, false or unchanged; sshd's PasswordAuthentication left unchanged"
                    ));
                    PwAuth::Unchanged
                }
            }
        }
        Some(_) => {
            return Err(match get("ssh_pwauth") {
                Some(node) => wrong_type("ssh_pwauth", "a boolean", node),
                None => ModuleError::Invalid {
                    key: "ssh_pwauth".into(),
                    message: "must be a boolean".into(),
                },
            });
        }
    };
    Ok(Plan {
        entries,
        expire,
        pwauth,
        warnings,
    })
}

/// A random password of cloud-init 25's classes and length: one character of each
/// class, the others from all of them, shuffled.
pub fn random_password() -> Secret<String> {
    use rand::seq::SliceRandom as _;
    let mut rng = rand::thread_rng();
    let all: Vec<u8> = RANDOM_CLASSES.concat();
    let mut chars: Vec<u8> = RANDOM_CLASSES
        .iter()
        .filter_map(|class| class.choose(&mut rng).copied())
        .collect();
    while chars.len() < RANDOM_LEN {
        if let Some(c) = all.choose(&mut rng) {
            chars.push(*c);
        }
    }
    chars.shuffle(&mut rng);
    Secret::new(chars.into_iter().map(char::from).collect())
}

/// SHA-512 crypt of a password (`$6$salt$hash`, a random salt).
pub fn hash_password(user: &str, password: &Secret<String>) -> Result<Secret<String>, ModuleError> {
    let params = sha_crypt::Sha512Params::new(sha_crypt::ROUNDS_DEFAULT).map_err(|e| {
        ModuleError::Invalid {
            key: "chpasswd".into(),
            message: format!("cannot hash the password of {user}: {e:?}"),
        }
    })?;
    sha_crypt::sha512_simple(password.expose(), &params)
        .map(Secret::new)
        .map_err(|e| ModuleError::Invalid {
            key: "chpasswd".into(),
            message: format!("cannot hash the password of {user}: {e:?}"),
        })
}

/// Set an option (`PasswordAuthentication`) in sshd config text as cloud-init does: every
/// line with that keyword (any case) gets the value, or a line is appended. Returns the new text
/// when it changed.
pub fn set_sshd_option(text: &str, key: &str, value: &str) -> Option<String> {
    let mut found = false;
    let mut changed = false;
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            lines.push(line.to_string());
            continue;
        }
        let (k, v) = match trimmed.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => match trimmed.split_once('=') {
                Some((k, v)) => (k, v.trim()),
                None => (trimmed, ""),
            },
        };
        if k.eq_ignore_ascii_case(key) {
            found = true;
            if v != value {
                changed = true;
                lines.push(format!("{k} {value}"));
                continue;
            }
        }
        lines.push(line.to_string());
    }
    if !found {
        changed = true;
        lines.push(format!("{key} {value}"));
    }
    changed.then(|| lines.join("\n") + "\n")
}

/// `set_passwords`.
pub fn set_passwords(boot: &mut Boot<'_>) -> Result<Outcome, ModuleError> {
    let default_user = super::users::configured_default_user(boot);
    let mut plan = plan(&boot.config, default_user.as_deref())?;
    for w in std::mem::take(&mut plan.warnings) {
        boot.warn(&format!("set_passwords: {w}"));
    }
    if plan.entries.is_empty() && plan.pwauth == PwAuth::Unchanged {
        return Ok(Outcome::Skipped(
            "no password, chpasswd or ssh_pwauth to apply".into(),
        ));
    }
    let mut tail = Vec::new();
    let mut failures = Vec::new();
    let attempted = plan.entries.len() + usize::from(plan.pwauth != PwAuth::Unchanged);
    if !plan.entries.is_empty() {
        apply_passwords(boot, &mut plan, &mut tail, &mut failures)?;
    }
    if plan.pwauth != PwAuth::Unchanged {
        match apply_pwauth(boot, plan.pwauth) {
            Ok(Some(line)) => tail.push(line),
            Ok(None) => {}
            Err(e) => failures.push(format!(
                "ssh_pwauth: {}",
                super::super::records::error_chain(&e)
            )),
        }
    }
    super::entries_outcome(tail, failures, attempted)
}

fn apply_passwords(
    boot: &mut Boot<'_>,
    plan: &mut Plan,
    tail: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> Result<(), ModuleError> {
    let mut random_lines = Vec::new();
    for e in plan.entries.iter_mut().filter(|e| e.kind == Kind::Random) {
        e.password = random_password();
        random_lines.push(format!("{}:{}", e.user, e.password.expose()));
    }
    let names: Vec<&str> = plan.entries.iter().map(|e| e.user.as_str()).collect();
    boot.log.line(
        "DEBUG",
        &format!(
            "set_passwords: setting the password of {}",
            names.join(", ")
        ),
    );
    // Hash every password that is not one already.
    let mut hashed: Vec<(String, Secret<String>)> = Vec::new();
    for e in &plan.entries {
        let hash = match e.kind {
            Kind::Hash => e.password.clone(),
            Kind::Text | Kind::Random => hash_password(&e.user, &e.password)?,
        };
        hashed.push((e.user.clone(), hash));
    }
    let mut done: Vec<String> = Vec::new();
    if boot.on_real_root() {
        let input = Secret::new(
            hashed
                .iter()
                .map(|(u, h)| format!("{u}:{}\n", h.expose()))
                .collect::<String>(),
        );
        match system::run_or_record(
            boot,
            "set_passwords",
            &["chpasswd".into(), "-e".into()],
            Some(&input),
        ) {
            Ok(_) => done.extend(hashed.iter().map(|(u, _)| u.clone())),
            Err(e) => failures.push(super::super::records::error_chain(&e)),
        }
        if plan.expire {
            for user in &done {
                let argv = vec!["passwd".into(), "--expire".into(), user.clone()];
                if let Err(e) = system::run_or_record(boot, "set_passwords", &argv, None) {
                    failures.push(super::super::records::error_chain(&e));
                }
            }
        }
    } else {
        let mut accounts = Accounts::load(boot.ctx)?;
        for (user, hash) in &hashed {
            if accounts.password_field(user).is_none() {
                failures.push(format!(
                    "user {user}: not in the root's /etc/shadow (create it with `users`)"
                ));
                continue;
            }
            accounts.set_password(user, hash.expose());
            if plan.expire {
                accounts.expire(user);
            }
            done.push(user.clone());
        }
        accounts.save()?;
    }
    if !done.is_empty() {
        tail.push(format!(
            "set the password of {}{}",
            done.join(", "),
            if plan.expire { " (expired)" } else { "" }
        ));
    }
    if !random_lines.is_empty() {
        // Shown once, as cloud-init does: the console and the output log, not strap.log.
        boot.out.message(&format!(
            "Set the following 'random' passwords\n{}",
            random_lines.join("\n")
        ));
    }
    Ok(())
}

/// Apply `ssh_pwauth`; returns the recorded restart under `--root`.
fn apply_pwauth(boot: &mut Boot<'_>, pwauth: PwAuth) -> Result<Option<String>, ModuleError> {
    let value = if pwauth == PwAuth::Yes { "yes" } else { "no" };
    let target = match update_sshd_config(boot, "PasswordAuthentication", value)? {
        SshdUpdate::NoSshd => {
            boot.warn(&format!(
                "set_passwords: ssh_pwauth ignored: sshd is not installed (no {SSHD_CONFIG})"
            ));
            return Ok(None);
        }
        SshdUpdate::Unchanged(target) => {
            boot.log.line(
                "DEBUG",
                &format!("set_passwords: PasswordAuthentication already {value} in {target}"),
            );
            return Ok(None);
        }
        SshdUpdate::Changed(target) => target,
    };
    let service = ssh_service(boot);
    // try-restart: a stopped sshd stays stopped, as cloud-init leaves it.
    let argv = vec!["systemctl".into(), "try-restart".into(), service.clone()];
    let recorded = system::run_or_record(boot, "set_passwords", &argv, None)?;
    Ok(Some(match recorded {
        Some(line) => format!("PasswordAuthentication {value} in {target}; {line}"),
        None => format!("PasswordAuthentication {value} in {target}; restarted {service}"),
    }))
}

/// The ssh service's unit: `system_info.ssh_svcname` when the config sets it (a wrong
/// value is a warning naming the key), else `ssh` on Debian-family roots and `sshd`
/// elsewhere.
pub fn ssh_service(boot: &mut Boot<'_>) -> String {
    let fallback = || match OsRelease::load(boot.ctx).family() {
        Family::Debian => "ssh".to_string(),
        _ => "sshd".to_string(),
    };
    match super::system_info::ssh_svcname(&boot.config) {
        Ok(Some(name)) => name,
        Ok(None) => fallback(),
        Err(e) => {
            let name = fallback();
            boot.warn(&format!(
                "set_passwords: {}; restarting {name}",
                super::super::records::error_chain(&e)
            ));
            name
        }
    }
}

/// The line rule for an sshd option strap writes: a one-word name, a value on one line.
pub fn check_sshd_option(key: &str, value: &str) -> Result<(), ModuleError> {
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ModuleError::Invalid {
            key: "sshd_config".into(),
            message: format!("{key:?} is not an sshd option name (letters and digits only)"),
        });
    }
    super::one_line(&format!("sshd_config {key}"), value)
}

/// What [`update_sshd_config`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum SshdUpdate {
    /// The root has no `/etc/ssh/sshd_config`.
    NoSshd,
    /// The file (named) already had the value.
    Unchanged(&'static str),
    /// The file (named) was written.
    Changed(&'static str),
}

/// Set one sshd option as cloud-init does: in `sshd_config`, or in its
/// `sshd_config.d/50-cloud-init.conf` drop-in (created 0600) when the main file includes
/// that folder. The main file keeps its mode. The option and its value must each stay
/// one line, and the option one word: sshd reads a newline as a new option of its own.
pub fn update_sshd_config(
    boot: &mut Boot<'_>,
    key: &str,
    value: &str,
) -> Result<SshdUpdate, ModuleError> {
    check_sshd_option(key, value)?;
    let Some(main) = system::read_opt(boot.ctx, SSHD_CONFIG)? else {
        return Ok(SshdUpdate::NoSshd);
    };
    let includes = main
        .lines()
        .any(|l| l.starts_with(&format!("Include {SSHD_CONFIG}.d/*.conf")));
    let (target, text) = if includes {
        (
            SSHD_DROP_IN,
            system::read_opt(boot.ctx, SSHD_DROP_IN)?.unwrap_or_default(),
        )
    } else {
        (SSHD_CONFIG, main)
    };
    let Some(new) = set_sshd_option(&text, key, value) else {
        return Ok(SshdUpdate::Unchanged(target));
    };
    let mode = if includes {
        0o600
    } else {
        system::root_path(boot.ctx, target)
            .ok()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0o644, |m| {
                std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
            })
    };
    system::write(boot.ctx, target, &new, mode)?;
    Ok(SshdUpdate::Changed(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        crate::cloudconfig::load(text).unwrap()
    }

    #[test]
    fn sshd_options_stay_one_line() {
        assert!(check_sshd_option("PasswordAuthentication", "no").is_ok());
        assert!(check_sshd_option("HostCertificate", "/etc/ssh/ssh_host_rsa_key-cert.pub").is_ok());
        for (key, value) in [
            ("HostCertificate", "/x\nPermitRootLogin yes"),
            ("HostCertificate", "/x\rPermitRootLogin yes"),
            ("HostCertificate", "/x\0"),
            ("Permit RootLogin", "yes"),
            ("Match", "\nUser x"),
            ("", "yes"),
        ] {
            assert!(
                matches!(
                    check_sshd_option(key, value),
                    Err(ModuleError::Invalid { .. })
                ),
                "{key:?} {value:?}"
            );
        }
    }

    #[test]
    fn hashed_passwords_are_recognised_as_cloud_init_does() {
        assert!(looks_hashed("$6$salt$hashhash"));
        assert!(looks_hashed("$1$a$b"));
        assert!(looks_hashed("$2y$10$abc"));
        assert!(!looks_hashed("$6$salt$"));
        assert!(!looks_hashed("$6$$"));
        assert!(!looks_hashed("$7$salt$hash"));
        assert!(!looks_hashed("plain"));
        assert!(!looks_hashed("$6$a:b$c"));
    }

    #[test]
    fn users_list_and_deprecated_list_are_read() {
        let p = plan(
            &yaml(
                "chpasswd:\n  expire: false\n  users:\n    - {name: a, password: pw1, type: text}\n    - {name: b, password: $6$s$h}\n    - {name: c, type: RANDOM}\n  list:\n    - d:$6$x$y\n    - e:R\n    - f:plain\npassword: ignored\n",
            ),
            Some("ubuntu"),
        )
        .unwrap();
        let kinds: Vec<(&str, Kind)> = p
            .entries
            .iter()
            .map(|e| (e.user.as_str(), e.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("a", Kind::Text),
                ("b", Kind::Hash),
                ("c", Kind::Random),
                ("d", Kind::Hash),
                ("e", Kind::Random),
                ("f", Kind::Text)
            ]
        );
        assert!(!p.expire);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        // A plain password given as a hash is warned about, without showing it.
        let p = plan(
            &yaml("chpasswd: {users: [{name: a, password: NotAHash1}]}\n"),
            None,
        )
        .unwrap();
        assert_eq!(p.entries[0].kind, Kind::Hash);
        assert!(
            p.warnings[0].contains("chpasswd.users.0"),
            "{:?}",
            p.warnings
        );
        assert!(!p.warnings[0].contains("NotAHash1"));
        // A multi-line string list.
        let p = plan(&yaml("chpasswd:\n  list: |\n    a:one\n    b:two\n"), None).unwrap();
        assert_eq!(p.entries.len(), 2);
        assert!(p.expire);
    }

    #[test]
    fn password_goes_to_the_default_user() {
        let p = plan(&yaml("password: s3cret\nssh_pwauth: true\n"), Some("admin")).unwrap();
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].user, "admin");
        assert_eq!(p.entries[0].kind, Kind::Text);
        assert_eq!(p.pwauth, PwAuth::Yes);
        let p = plan(&yaml("password: s3cret\n"), None).unwrap();
        assert!(p.entries.is_empty());
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(
            plan(&yaml("ssh_pwauth: unchanged\n"), None).unwrap().pwauth,
            PwAuth::Unchanged
        );
        assert_eq!(
            plan(&yaml("ssh_pwauth: 'no'\n"), None).unwrap().pwauth,
            PwAuth::No
        );
    }

    #[test]
    fn bad_input_names_the_key() {
        let cases = [
            ("chpasswd: [a]\n", "`chpasswd`"),
            ("chpasswd: {users: {a: b}}\n", "`chpasswd.users`"),
            ("chpasswd: {users: [{password: x}]}\n", "`chpasswd.users.0`"),
            ("chpasswd: {users: [{name: a}]}\n", "`chpasswd.users.0`"),
            (
                "chpasswd: {users: [{name: a, password: x, type: md5}]}\n",
                "`chpasswd.users.0.type`",
            ),
            ("chpasswd: {users: [a]}\n", "`chpasswd.users.0`"),
            ("chpasswd: {list: [nocolon]}\n", "`chpasswd.list.0`"),
            ("chpasswd: {list: {a: b}}\n", "`chpasswd.list`"),
            ("chpasswd: {expire: [1]}\n", "`chpasswd.expire`"),
            ("password: [a]\n", "`password`"),
            ("ssh_pwauth: [a]\n", "`ssh_pwauth`"),
        ];
        for (text, key) in cases {
            let err = plan(&yaml(text), Some("u")).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let p = plan(&yaml("password: Hunter2Pass\n"), Some("u")).unwrap();
        assert!(!format!("{p:?}").contains("Hunter2Pass"));
        let h = hash_password("u", &Secret::new("Hunter2Pass".into())).unwrap();
        assert!(!format!("{h:?}").contains("$6$"));
        assert!(h.expose().starts_with("$6$"));
        assert!(sha_crypt::sha512_check("Hunter2Pass", h.expose()).is_ok());
    }

    #[test]
    fn random_passwords_hold_every_class() {
        let a = random_password();
        assert_eq!(a.expose().len(), RANDOM_LEN);
        let all = RANDOM_CLASSES.concat();
        assert!(a.expose().bytes().all(|b| all.contains(&b)));
        for class in RANDOM_CLASSES {
            assert!(a.expose().bytes().any(|b| class.contains(&b)));
        }
        assert_ne!(a.expose(), random_password().expose());
    }

    #[test]
    fn sshd_option_is_set_on_every_line_or_appended() {
        let text = "# comment\nPort 22\npasswordauthentication no\nMatch User x\n  PasswordAuthentication no\n";
        let out = set_sshd_option(text, "PasswordAuthentication", "yes").unwrap();
        assert_eq!(
            out,
            "# comment\nPort 22\npasswordauthentication yes\nMatch User x\nPasswordAuthentication yes\n"
        );
        assert_eq!(set_sshd_option(&out, "PasswordAuthentication", "yes"), None);
        assert_eq!(
            set_sshd_option("Port 22\n", "PasswordAuthentication", "no").unwrap(),
            "Port 22\nPasswordAuthentication no\n"
        );
    }

    #[test]
    fn sshd_edits_and_hash_detection_match_cloud_init() {
        let configs = [
            "Port 22\nPasswordAuthentication no\n",
            "# PasswordAuthentication yes\nUsePAM yes\n",
            "passwordauthentication yes\nMatch User x\nPasswordAuthentication no\n",
            "PasswordAuthentication=no\nX11Forwarding yes\n",
            "",
        ];
        let script = r#"
import sys, json
from cloudinit import ssh_util
import re, string
cases = json.load(sys.stdin)
out = []
for text, value in cases["sshd"]:
    lines = ssh_util.parse_ssh_config_lines(text.splitlines())
    changed = ssh_util.update_ssh_config_lines(lines, {"PasswordAuthentication": value})
    out.append("\n".join(str(l) for l in lines) + "\n" if changed else None)
prog = re.compile(r"\$(1|2a|2y|5|6)(\$.+){2}")
hashed = [prog.match(p) is not None and ":" not in p for p in cases["hashes"]]
classes = [string.digits, string.ascii_lowercase, string.ascii_uppercase, string.punctuation]
print(json.dumps({"sshd": out, "hashed": hashed, "classes": classes}))
"#;
        let hashes = [
            "$6$salt$hashhash",
            "$1$a$b",
            "$2y$10$abc",
            "$6$salt$",
            "$6$$",
            "$7$salt$hash",
            "plain",
            "$6$a:b$c",
            "$5$x$y$z",
            "$2a$",
            "$6$a$$",
        ];
        let mut sshd = Vec::new();
        for c in configs {
            for v in ["yes", "no"] {
                sshd.push((c, v));
            }
        }
        let input = serde_json::json!({"sshd": sshd, "hashes": hashes}).to_string();
        for (version, out) in system::cloud_init_oracles(script, &input) {
            let want: serde_json::Value = serde_json::from_str(&out).unwrap();
            for (i, (text, value)) in sshd.iter().enumerate() {
                let ours = set_sshd_option(text, "PasswordAuthentication", value);
                let theirs = want["sshd"][i].as_str().map(str::to_string);
                assert_eq!(ours, theirs, "cloud-init {version}: {text:?} -> {value}");
            }
            for (i, h) in hashes.iter().enumerate() {
                let theirs = want["hashed"][i].as_bool().unwrap();
                assert_eq!(looks_hashed(h), theirs, "cloud-init {version}: {h}");
            }
            // 22.4's PW_SET (letters and digits without look-alikes) is gone: strap
            // follows 25's `rand_user_password`, whose classes Python's `string` holds.
            let classes: Vec<&[u8]> = want["classes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().as_bytes())
                .collect();
            assert_eq!(classes, RANDOM_CLASSES, "cloud-init {version}");
        }
    }
}
