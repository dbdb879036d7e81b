//! Account files under a `--root`: `/etc/passwd`, `/etc/group`, `/etc/shadow` and
//! `/etc/gshadow` edited directly, as `useradd --prefix` would, so that a boot under a
//! temporary root creates its users without the shadow tools (which need root and cost a
//! process each). On the real machine (`/`) the shadow tools are used instead.

use crate::context::Context;

use super::ModuleError;

/// First id given to a new user or group, as `login.defs` `UID_MIN`/`GID_MIN`.
pub const FIRST_ID: u32 = 1000;

/// The account files, loaded from a root.
pub struct Accounts<'c> {
    ctx: &'c Context,
    passwd: String,
    group: String,
    shadow: String,
    gshadow: String,
    /// The files as loaded or last saved, to write only what changed.
    saved: [String; 4],
    /// The shadow tools' lock (`/etc/.pwd.lock`), held from load to drop.
    _lock: Option<std::fs::File>,
}

/// How long to wait for the shadow tools' lock, as their `lckpwdf` does.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Take the shadow tools' lock on the root's account files (`/etc/.pwd.lock`, a write
/// lock on the whole file, as `lckpwdf` takes it: `useradd`, `passwd`, `vipw` wait for
/// strap's edit and strap for theirs), waiting up to `wait`. An open-file-description
/// lock, so that it conflicts with `lckpwdf`'s and with another of strap's own.
pub fn lock_account_files(
    ctx: &Context,
    wait: std::time::Duration,
) -> Result<std::fs::File, ModuleError> {
    use std::os::fd::AsRawFd;
    let path = ctx
        .path("/etc/.pwd.lock")
        .map_err(|source| ModuleError::Path {
            path: "/etc/.pwd.lock".into(),
            source,
        })?;
    let io = |source| ModuleError::Io {
        op: "lock",
        path: path.clone(),
        source,
    };
    let file = crate::context::open_file(ctx.root(), &path, 0o600).map_err(|source| {
        ModuleError::Path {
            path: "/etc/.pwd.lock".into(),
            source,
        }
    })?;
    let whole = nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    let start = std::time::Instant::now();
    loop {
        match nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_OFD_SETLK(&whole)) {
            Ok(_) => return Ok(file),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES)
                if start.elapsed() < wait =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => {
                return Err(io(std::io::Error::other(format!(
                    "another program is editing the account files (it holds this lock); waited {:.0} s",
                    wait.as_secs_f64()
                ))))
            }
            Err(e) => return Err(io(std::io::Error::from(e))),
        }
    }
}

fn read(ctx: &Context, file: &str) -> Result<String, ModuleError> {
    let path = ctx.path(file).map_err(|source| ModuleError::Path {
        path: file.into(),
        source,
    })?;
    Ok(super::system::read_path(ctx, file, &path)?.unwrap_or_default())
}

/// Longest user or group name `useradd` takes (the utmp name field).
pub const NAME_MAX: usize = 32;

/// A user or group name as shadow's `useradd`/`groupadd` accept it: letters, digits, `_`,
/// `.` and `-` (not first), an optional `$` at the end, not only digits, not `.` or `..`,
/// at most [`NAME_MAX`] bytes. A name that fails says why.
pub fn check_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let body = name.strip_suffix('$').unwrap_or(name);
    let ok_first = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
    let ok_rest = |c: u8| ok_first(c) || c == b'-';
    if name.is_empty() {
        return Err("is empty".into());
    }
    if bytes.len() > NAME_MAX {
        return Err(format!("is longer than {NAME_MAX} bytes"));
    }
    if name == "." || name == ".." {
        return Err("is `.` or `..`".into());
    }
    match body.as_bytes().split_first() {
        Some((first, rest)) if ok_first(*first) && rest.iter().all(|c| ok_rest(*c)) => {}
        _ => {
            return Err(
                "may hold only letters, digits, `_`, `.` and `-` (not first), and a `$` at the end, as useradd requires"
                    .into(),
            )
        }
    }
    if body.bytes().all(|c| c.is_ascii_digit()) {
        return Err("is only digits (it would read as an id)".into());
    }
    Ok(())
}

/// A field of an account line (gecos, home, shell, password hash): nothing that ends the
/// field or the line (`:`, a newline, NUL), so no entry can add a line or a field of
/// its own.
pub fn check_field(value: &str) -> Result<(), String> {
    match value
        .chars()
        .find(|c| matches!(c, ':' | '\n' | '\r' | '\0'))
    {
        Some(c) => Err(format!(
            "holds {c:?}, which would end the field or the line of the account file"
        )),
        None => Ok(()),
    }
}

fn next_id(text: &str) -> u32 {
    text.lines()
        .filter_map(|l| l.split(':').nth(2)?.parse::<u32>().ok())
        .filter(|id| (FIRST_ID..60000).contains(id))
        .max()
        .map_or(FIRST_ID, |m| m + 1)
}

/// An account file without the entry of `name` (its first field).
fn without_entry(text: &str, name: &str) -> String {
    text.lines()
        .filter(|l| l.split(':').next() != Some(name))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
}

impl<'c> Accounts<'c> {
    /// Load the files of the context's root.
    pub fn load(ctx: &'c Context) -> Result<Self, ModuleError> {
        // A read-only root cannot be edited anyway (the error comes at the write), and a
        // root without /etc has no account files for another program to edit.
        let lock = match lock_account_files(ctx, LOCK_WAIT) {
            Ok(lock) => Some(lock),
            Err(ModuleError::Path {
                source: crate::context::ContextError::Io { source, .. },
                ..
            }) if matches!(
                source.raw_os_error(),
                Some(nix::libc::EROFS | nix::libc::ENOENT)
            ) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        let passwd = read(ctx, "/etc/passwd")?;
        let group = read(ctx, "/etc/group")?;
        let shadow = read(ctx, "/etc/shadow")?;
        let gshadow = read(ctx, "/etc/gshadow")?;
        let saved = [
            passwd.clone(),
            group.clone(),
            shadow.clone(),
            gshadow.clone(),
        ];
        Ok(Self {
            ctx,
            passwd,
            group,
            shadow,
            gshadow,
            saved,
            _lock: lock,
        })
    }

    fn has(text: &str, name: &str) -> bool {
        text.lines().any(|l| l.split(':').next() == Some(name))
    }

    fn gid_of(&self, name: &str) -> Option<u32> {
        self.group.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[0] == name)
                .then(|| f[2].parse().ok())
                .flatten()
        })
    }

    /// `groupadd NAME`; returns the gid.
    pub fn add_group(&mut self, name: &str) -> u32 {
        if let Some(gid) = self.gid_of(name) {
            return gid;
        }
        let gid = next_id(&self.group);
        push_line(&mut self.group, &format!("{name}:x:{gid}:"));
        push_line(&mut self.gshadow, &format!("{name}:!::"));
        gid
    }

    /// `usermod -a -G GROUP USER`.
    pub fn add_member(&mut self, group: &str, user: &str) {
        let edit = |text: &str| -> String {
            text.lines()
                .map(|l| {
                    let mut f: Vec<String> = l.split(':').map(str::to_string).collect();
                    if f.first().map(String::as_str) == Some(group) && f.len() >= 4 {
                        let last = f.len() - 1;
                        let mut members: Vec<&str> =
                            f[last].split(',').filter(|m| !m.is_empty()).collect();
                        if !members.contains(&user) {
                            members.push(user);
                        }
                        f[last] = members.join(",");
                    }
                    f.join(":") + "\n"
                })
                .collect()
        };
        self.group = edit(&self.group);
        self.gshadow = edit(&self.gshadow);
    }

    /// `useradd`: a user (with its own group unless `gid` is given), its home (`-m`).
    #[allow(clippy::too_many_arguments)]
    pub fn add_user(
        &mut self,
        name: &str,
        uid: Option<u32>,
        gid: Option<u32>,
        gecos: &str,
        home: &str,
        shell: &str,
        password: Option<&str>,
        create_home: bool,
    ) -> Result<(u32, u32), ModuleError> {
        // The entry point checked these; the files are never edited with a bad one.
        let invalid = |what: &str, message: String| ModuleError::Invalid {
            key: format!("users.{name}.{what}"),
            message,
        };
        check_name(name).map_err(|m| invalid("name", format!("the name {m}")))?;
        for (what, value) in [
            ("gecos", gecos),
            ("homedir", home),
            ("shell", shell),
            ("passwd", password.unwrap_or_default()),
        ] {
            check_field(value).map_err(|m| invalid(what, m))?;
        }
        let uid = uid.unwrap_or_else(|| next_id(&self.passwd));
        let gid = match gid {
            Some(g) => g,
            None => self.add_group(name),
        };
        push_line(
            &mut self.passwd,
            &format!("{name}:x:{uid}:{gid}:{gecos}:{home}:{shell}"),
        );
        let days = self
            .ctx
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86400);
        push_line(
            &mut self.shadow,
            &format!("{name}:{}:{days}:0:99999:7:::", password.unwrap_or("!")),
        );
        if create_home {
            let dir = self.ctx.path(home).map_err(|source| ModuleError::Path {
                path: home.into(),
                source,
            })?;
            // Made by the walk beneath the root; a new home gets its owner and mode on
            // its handle (an existing one is left as it is, as `useradd -m` does).
            let opts = crate::context::FileOptions {
                mode: Some(0o750),
                owner: nix::unistd::geteuid().is_root().then_some((uid, gid)),
            };
            crate::context::create_folder(self.ctx.root(), &dir, opts).map_err(|source| {
                ModuleError::Path {
                    path: home.into(),
                    source,
                }
            })?;
        }
        Ok((uid, gid))
    }

    /// Set a user's password hash (`usermod --password`).
    pub fn set_password(&mut self, user: &str, hash: &str) {
        self.edit_shadow(user, |_| hash.to_string());
    }

    /// `usermod --lock`: `!` before the password hash.
    pub fn lock(&mut self, user: &str) {
        self.edit_shadow(user, |old| {
            if old.starts_with('!') {
                old.to_string()
            } else {
                format!("!{old}")
            }
        });
    }

    /// `passwd --expire`: the last change date (third field of `/etc/shadow`) becomes 0,
    /// so the password must be changed at the next login.
    pub fn expire(&mut self, user: &str) {
        self.shadow = self
            .shadow
            .lines()
            .map(|l| {
                let mut fields: Vec<String> = l.split(':').map(str::to_string).collect();
                if fields.first().map(String::as_str) == Some(user) && fields.len() > 2 {
                    fields[2] = "0".into();
                }
                fields.join(":") + "\n"
            })
            .collect();
    }

    /// The password field of a user's `/etc/shadow` line (a hash, `!`, `*`).
    pub fn password_field(&self, user: &str) -> Option<&str> {
        self.shadow.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(user)).then(|| f.next()).flatten()
        })
    }

    fn edit_shadow(&mut self, user: &str, f: impl Fn(&str) -> String) {
        self.shadow = self
            .shadow
            .lines()
            .map(|l| {
                let mut fields: Vec<String> = l.split(':').map(str::to_string).collect();
                if fields.first().map(String::as_str) == Some(user) && fields.len() > 1 {
                    fields[1] = f(&fields[1]);
                }
                fields.join(":") + "\n"
            })
            .collect();
    }

    /// `userdel NAME`: its `passwd` and `shadow` lines, its membership of every group,
    /// and its own group when no one else is in it (`USERGROUPS_ENAB`).
    pub fn remove_user(&mut self, name: &str) {
        let own_gid = self.passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == name).then(|| f[3].to_string())
        });
        self.passwd = without_entry(&self.passwd, name);
        self.shadow = without_entry(&self.shadow, name);
        let strip_member = |text: &str| -> String {
            text.lines()
                .map(|l| {
                    let mut f: Vec<String> = l.split(':').map(str::to_string).collect();
                    if f.len() >= 4 {
                        let last = f.len() - 1;
                        let members: Vec<&str> = f[last]
                            .split(',')
                            .filter(|m| !m.is_empty() && *m != name)
                            .collect();
                        f[last] = members.join(",");
                    }
                    f.join(":") + "\n"
                })
                .collect()
        };
        self.group = strip_member(&self.group);
        self.gshadow = strip_member(&self.gshadow);
        let own_group_empty = self.group.lines().any(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.len() >= 4 && f[0] == name && Some(f[2]) == own_gid.as_deref() && f[3].is_empty()
        });
        if own_group_empty {
            self.remove_group(name);
        }
    }

    /// `groupdel NAME`.
    pub fn remove_group(&mut self, name: &str) {
        self.group = without_entry(&self.group, name);
        self.gshadow = without_entry(&self.gshadow, name);
    }

    /// Whether a group exists.
    pub fn has_group(&self, name: &str) -> bool {
        Self::has(&self.group, name)
    }

    /// Whether a user exists.
    pub fn has_user(&self, name: &str) -> bool {
        Self::has(&self.passwd, name)
    }

    /// Write back the files that changed (atomically, shadow files 0640).
    pub fn save(&mut self) -> Result<(), ModuleError> {
        let current = [
            self.passwd.clone(),
            self.group.clone(),
            self.shadow.clone(),
            self.gshadow.clone(),
        ];
        // The changed files are written together: their fsyncs share a journal commit.
        let mut names = Vec::new();
        let mut files = Vec::new();
        for (i, (file, mode)) in [
            ("/etc/passwd", 0o644),
            ("/etc/group", 0o644),
            ("/etc/shadow", 0o640),
            ("/etc/gshadow", 0o640),
        ]
        .into_iter()
        .enumerate()
        {
            let text = &current[i];
            if *text == self.saved[i] && !text.is_empty() {
                continue;
            }
            let target = self.ctx.path(file).map_err(|source| ModuleError::Path {
                path: file.into(),
                source,
            })?;
            names.push(file);
            files.push((target, text.as_bytes(), Some(mode)));
        }
        crate::boot::durable::write_all(self.ctx.root(), &files).map_err(|(i, source)| {
            ModuleError::Path {
                path: names.get(i).copied().unwrap_or("/etc/passwd").into(),
                source,
            }
        })?;
        self.saved = current;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_are_written_as_useradd_would() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), dir.path());
        let mut a = Accounts::load(&ctx).unwrap();
        let admins = a.add_group("admins");
        let (uid, gid) = a
            .add_user(
                "alice",
                None,
                None,
                "Alice",
                "/home/alice",
                "/bin/sh",
                None,
                true,
            )
            .unwrap();
        a.add_member("admins", "alice");
        a.lock("alice");
        a.save().unwrap();
        assert_eq!(admins, 1000);
        assert_eq!((uid, gid), (1000, 1001));
        let passwd = std::fs::read_to_string(dir.path().join("etc/passwd")).unwrap();
        assert_eq!(passwd, "alice:x:1000:1001:Alice:/home/alice:/bin/sh\n");
        let group = std::fs::read_to_string(dir.path().join("etc/group")).unwrap();
        assert!(group.contains("admins:x:1000:alice\n") && group.contains("alice:x:1001:\n"));
        let shadow = std::fs::read_to_string(dir.path().join("etc/shadow")).unwrap();
        assert!(
            shadow.starts_with("alice:!!:") || shadow.starts_with("alice:!:"),
            "{shadow}"
        );
        assert!(dir.path().join("home/alice").is_dir());
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    #[test]
    fn a_second_editor_waits_for_the_lock_and_then_gives_up_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let ctx = Context::fixed::<_, &str, &str>([], dir.path());
        let held = lock_account_files(&ctx, LOCK_WAIT).unwrap();
        let err = lock_account_files(&ctx, std::time::Duration::from_millis(100)).unwrap_err();
        assert!(err.to_string().contains(".pwd.lock"), "{err}");
        assert!(
            super::super::super::records::error_chain(&err).contains("another program is editing"),
            "{err}"
        );
        drop(held);
        assert!(lock_account_files(&ctx, std::time::Duration::ZERO).is_ok());
    }
}
