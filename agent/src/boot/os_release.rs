//! The root's `/etc/os-release` and the distro family it names: read by the system config
//! (`sysconfig.rs`, for the built-in default user) and by the modules that write
//! distro-specific files (through `modules/system.rs`). It imports neither.

use crate::context::Context;

/// The root's `/etc/os-release`.
pub const OS_RELEASE: &str = "/etc/os-release";

/// A distro family, as the modules that write distro-specific files need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Debian, Ubuntu and their derivatives.
    Debian,
    /// RHEL, CentOS, Fedora, Amazon Linux, Rocky, Alma and their derivatives.
    Rhel,
    /// Anything else (or no `/etc/os-release`).
    Other,
}

/// What the root's `/etc/os-release` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID` (`ubuntu`, `debian`, `amzn`, `rhel`).
    pub id: String,
    /// `ID_LIKE`, split on spaces.
    pub id_like: Vec<String>,
    /// `VERSION_CODENAME` (`bookworm`, `jammy`).
    pub codename: Option<String>,
}

impl OsRelease {
    /// Parse the text of an os-release file (`KEY=value`, values optionally quoted).
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            match k.trim() {
                "ID" => out.id = v,
                "ID_LIKE" => out.id_like = v.split_whitespace().map(str::to_string).collect(),
                "VERSION_CODENAME" if !v.is_empty() => out.codename = Some(v),
                _ => {}
            }
        }
        out
    }

    /// Read the root's os-release (empty when it has none or it cannot be read).
    pub fn load(ctx: &Context) -> Self {
        ctx.path(OS_RELEASE)
            .ok()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|t| Self::parse(&t))
            .unwrap_or_default()
    }

    /// The distro family.
    pub fn family(&self) -> Family {
        let is = |names: &[&str]| {
            names.contains(&self.id.as_str())
                || self.id_like.iter().any(|l| names.contains(&l.as_str()))
        };
        if is(&["debian", "ubuntu"]) {
            Family::Debian
        } else if is(&[
            "rhel",
            "centos",
            "fedora",
            "amzn",
            "rocky",
            "almalinux",
            "ol",
        ]) {
            Family::Rhel
        } else {
            Family::Other
        }
    }
}
