//! The image's own configuration: `/etc/cloud/cloud.cfg` and the `*.cfg` files of
//! `/etc/cloud/cloud.cfg.d/` under the root, read as cloud-init reads its system config,
//! so an image that moves from cloud-init to strap keeps its settings (the default user,
//! `disable_root`, `preserve_hostname`, …). The user data's cloud-config wins over it key
//! by key; mappings are merged all the way down (cloud-init's `mergemanydict`).
//!
//! An image without a system config gets strap's built-in defaults, which stand in for
//! the distro's packaged `cloud.cfg`: `users: [default]`, with the default user named
//! after `/etc/os-release` (see [`builtin_default_user`]). A root without
//! `/etc/os-release` either (a bare folder given to `--root`) has no distro, so it has no
//! default user; cloud-init without a system config has none either.

use std::path::{Path, PathBuf};

use crate::cloudconfig::{self, Node, Value};
use crate::context::Context;

use super::frequency::Frequency;
use super::os_release::{Family, OsRelease};

/// cloud-init's three module lists, one per stage. When the config has any of them, a
/// module runs only if one of them names it (strap keeps its own stage for it).
pub const MODULE_LISTS: [&str; 3] = [
    "cloud_init_modules",
    "cloud_config_modules",
    "cloud_final_modules",
];

/// What the config's module lists say of one module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// The config has no module list: every module runs.
    NoLists,
    /// There are lists and none names the module.
    Absent,
    /// Named, with the frequency the entry gives (`[ssh, always]`), if any.
    Listed(Option<Frequency>),
}

/// Look `module` (strap's name, `set_hostname`) up in the config's module lists, as
/// cloud-init reads them: a name or a `[name, frequency, …]` list, `-` and `_` alike, an
/// optional `cc_` prefix.
pub fn listing(config: &Node, module: &str) -> Listing {
    let norm = |s: &str| {
        let s = s.trim().replace('-', "_");
        s.strip_prefix("cc_").map(str::to_string).unwrap_or(s)
    };
    let mut any_list = false;
    for list in MODULE_LISTS {
        let Some(items) = config.get(list).and_then(Node::as_seq) else {
            continue;
        };
        any_list = true;
        for item in items {
            let (name, freq) = match &item.value {
                Value::Str(name) => (name.as_str(), None),
                Value::Seq(parts) => match parts.first().and_then(Node::as_str) {
                    Some(name) => (name, parts.get(1).and_then(Node::as_str)),
                    None => continue,
                },
                _ => continue,
            };
            if norm(name) == module {
                let freq = freq.and_then(|f| match f.trim() {
                    "always" => Some(Frequency::Always),
                    "once" => Some(Frequency::PerOnce),
                    "once-per-instance" | "instance" | "per-instance" => {
                        Some(Frequency::PerInstance)
                    }
                    _ => None,
                });
                return Listing::Listed(freq);
            }
        }
    }
    if any_list {
        Listing::Absent
    } else {
        Listing::NoLists
    }
}

/// The system-config key that keeps cloud-init 22.4's behaviour where strap follows
/// cloud-init 25 and images that still ship 22.x (Amazon Linux 2023 ships 22.2) have
/// users relying on the old one: `strap_cloud_init_compat: "22.4"`. The behaviours it
/// covers are listed in the book's "cloud-init 22.4 and 25" page.
pub const CLOUD_INIT_COMPAT_KEY: &str = "strap_cloud_init_compat";

/// Which cloud-init's behaviour strap follows where 22.4 and 25 differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CloudInitCompat {
    /// Today's cloud-init (25.x): the default.
    #[default]
    Current,
    /// cloud-init 22.4 (`strap_cloud_init_compat: "22.4"`, or any 22.x).
    V22,
}

/// A [`CLOUD_INIT_COMPAT_KEY`] value that names no version strap knows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "strap_cloud_init_compat: {value:?} (line {line}) is not \"22.4\" or \"25\"; following \
     cloud-init 25"
)]
pub struct CompatError {
    pub value: String,
    pub line: usize,
}

impl CloudInitCompat {
    /// Reads [`CLOUD_INIT_COMPAT_KEY`] from the merged config: absent is the current
    /// behaviour; a value other than a 22.x or 25.x version is an error the caller
    /// reports (and then follows the current one).
    pub fn of(config: &Node) -> Result<Self, CompatError> {
        let Some(node) = config.get(CLOUD_INIT_COMPAT_KEY).filter(|n| !n.is_null()) else {
            return Ok(Self::Current);
        };
        let text = match &node.value {
            Value::Str(s) => s.trim().to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            _ => String::new(),
        };
        let major = text.split('.').next().unwrap_or("");
        match major {
            "22" => Ok(Self::V22),
            "25" => Ok(Self::Current),
            _ => Err(CompatError {
                value: text,
                line: node.mark.line,
            }),
        }
    }
}

/// The system config file.
pub const SYSTEM_CONFIG: &str = "/etc/cloud/cloud.cfg";
/// Its drop-in folder: `*.cfg` files, read in name order, later files winning.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/cloud/cloud.cfg.d";

/// The system config as read from the root.
#[derive(Clone, Debug, Default)]
pub struct SystemConfig {
    /// The merged files (a mapping), or `None` when the root has none.
    pub node: Option<Node>,
    /// The files read, in the order they were merged (machine paths).
    pub files: Vec<PathBuf>,
    /// Files that could not be used, with why (the boot warns about each).
    pub problems: Vec<String>,
    /// The bounds on user data: the defaults, changed by `strap_limits:`.
    pub limits: crate::userdata::Limits,
}

impl SystemConfig {
    /// Whether the image has a system config at all.
    pub fn present(&self) -> bool {
        self.node.is_some()
    }
}

/// Read the root's system config. Unreadable or malformed files are skipped and listed
/// in `problems` (with the file and line), as cloud-init skips a bad drop-in.
pub fn load(ctx: &Context) -> SystemConfig {
    let mut out = SystemConfig::default();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(main) = ctx.path(SYSTEM_CONFIG) {
        if main.is_file() {
            files.push((SYSTEM_CONFIG.to_string(), main));
        }
    }
    if let Ok(dir) = ctx.path(SYSTEM_CONFIG_DIR) {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".cfg"))
                .collect();
            names.sort();
            for name in names {
                files.push((format!("{SYSTEM_CONFIG_DIR}/{name}"), dir.join(&name)));
            }
        }
    }
    let mut merged: Option<Node> = None;
    for (shown, path) in files {
        match read_one(&path) {
            Ok(node) => {
                merged = Some(match merged {
                    Some(lower) => merge_under(node, &lower),
                    None => node,
                });
                out.files.push(PathBuf::from(shown));
            }
            Err(why) => out.problems.push(format!("system config {shown}: {why}")),
        }
    }
    if let Some(node) = &merged {
        let (limits, problems) = limits_of(node);
        out.limits = limits;
        out.problems.extend(problems);
    }
    out.node = merged;
    out
}

/// The user-data limits `strap_limits:` sets (`{max_parts: 200, include_time: 30}`),
/// over the defaults, and a problem for each key that is unknown or not a positive
/// integer (that key keeps its default).
pub fn limits_of(config: &Node) -> (crate::userdata::Limits, Vec<String>) {
    use crate::userdata::Limits;
    let mut limits = Limits::default();
    let mut problems = Vec::new();
    let Some(section) = config.get(Limits::CONFIG_KEY) else {
        return (limits, problems);
    };
    let Value::Map(entries) = &section.value else {
        problems.push(format!(
            "system config: {} must be a mapping of limits; the defaults apply",
            Limits::CONFIG_KEY
        ));
        return (limits, problems);
    };
    for (key, value) in entries {
        let key = key.as_str().unwrap_or("?");
        let number = match &value.value {
            Value::Int(n) => u64::try_from(*n).ok(),
            Value::Str(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        if !number.is_some_and(|n| limits.set(key, n)) {
            problems.push(format!(
                "system config: {}.{key}: not a known limit with a positive integer \
                 (known: {}); its default applies",
                Limits::CONFIG_KEY,
                Limits::KEYS.join(", ")
            ));
        }
    }
    (limits, problems)
}

fn read_one(path: &Path) -> Result<Node, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Node::new(Value::Map(Vec::new())));
    }
    let node = cloudconfig::yaml::load_bytes(&bytes).map_err(|e| {
        let mark = e.mark();
        format!("line {}, column {}: {e}", mark.line, mark.column)
    })?;
    match node.value {
        Value::Map(_) => Ok(node),
        Value::Null => Ok(Node::new(Value::Map(Vec::new()))),
        _ => Err("it is not a mapping of keys; ignored".into()),
    }
}

/// `upper` with what `lower` adds: keys missing from `upper` are taken from `lower`, and
/// where both hold a mapping the two are merged the same way; any other value of `upper`
/// wins whole (lists are not concatenated).
pub fn merge_under(upper: Node, lower: &Node) -> Node {
    let (Value::Map(mut top), Value::Map(bottom)) = (upper.value.clone(), &lower.value) else {
        return upper;
    };
    for (k, v) in bottom {
        let pos = top.iter().position(|(tk, _)| tk.eq_value(k));
        match pos {
            Some(i) => {
                let (tk, tv) = top.remove(i);
                top.insert(i, (tk, merge_under(tv, v)));
            }
            None => top.push((k.clone(), v.clone())),
        }
    }
    Node {
        value: Value::Map(top),
        mark: upper.mark,
    }
}

/// The distro's default user when the image has no system config: its name and groups,
/// from the root's `/etc/os-release` (`ID=`), as the distros' packaged `cloud.cfg` set
/// them. `None` when the root has no `/etc/os-release` or it names no distro.
pub fn builtin_default_user(ctx: &Context) -> Option<(String, Vec<String>)> {
    let os = OsRelease::load(ctx);
    if os.id.is_empty() {
        return None;
    }
    let groups = |g: &[&str]| g.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    Some(match (os.id.as_str(), os.family()) {
        ("ubuntu", _) => ("ubuntu".into(), groups(&["adm", "sudo"])),
        (_, Family::Debian) => ("admin".into(), groups(&["adm", "sudo"])),
        _ => ("ec2-user".into(), groups(&["wheel", "adm"])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let ctx = Context::fixed(Vec::<(String, String)>::new(), dir.path());
        (dir, ctx)
    }

    #[test]
    fn cloud_init_compat_is_25_unless_the_config_says_22() {
        let of = |doc: &str| CloudInitCompat::of(&cloudconfig::load(doc).unwrap());
        assert_eq!(of("runcmd: [x]\n"), Ok(CloudInitCompat::Current));
        assert_eq!(
            of("strap_cloud_init_compat: '22.4'\n"),
            Ok(CloudInitCompat::V22)
        );
        assert_eq!(
            of("strap_cloud_init_compat: 22.2\n"),
            Ok(CloudInitCompat::V22)
        );
        assert_eq!(
            of("strap_cloud_init_compat: '25'\n"),
            Ok(CloudInitCompat::Current)
        );
        assert_eq!(
            of("strap_cloud_init_compat: null\n"),
            Ok(CloudInitCompat::Current)
        );
        let err = of("a: 1\nstrap_cloud_init_compat: 19.1\n").unwrap_err();
        assert_eq!(err.line, 2);
        let text = err.to_string();
        assert!(text.contains("line 2") && text.contains("19.1"), "{text}");
    }

    #[test]
    fn no_files_no_config() {
        let (_d, ctx) = ctx_with(&[]);
        let sys = load(&ctx);
        assert!(!sys.present());
        assert!(sys.files.is_empty());
        assert_eq!(builtin_default_user(&ctx), None);
    }

    #[test]
    fn drop_ins_override_in_name_order_and_merge_mappings() {
        let (_d, ctx) = ctx_with(&[
            (
                SYSTEM_CONFIG,
                "users: [default]\nsystem_info:\n  default_user:\n    name: admin\n    shell: /bin/bash\ndisable_root: true\n",
            ),
            (
                "/etc/cloud/cloud.cfg.d/50-a.cfg",
                "system_info:\n  default_user:\n    name: first\n",
            ),
            (
                "/etc/cloud/cloud.cfg.d/90-b.cfg",
                "system_info:\n  default_user:\n    name: second\ndisable_root: false\n",
            ),
            ("/etc/cloud/cloud.cfg.d/README", "not: read\n"),
        ]);
        let sys = load(&ctx);
        assert!(sys.problems.is_empty(), "{:?}", sys.problems);
        assert_eq!(sys.files.len(), 3);
        let node = sys.node.unwrap();
        let du = node
            .get("system_info")
            .unwrap()
            .get("default_user")
            .unwrap();
        assert_eq!(du.get("name").unwrap().as_str(), Some("second"));
        assert_eq!(du.get("shell").unwrap().as_str(), Some("/bin/bash"));
        assert_eq!(node.get("disable_root").unwrap().as_bool(), Some(false));
        assert!(node.get("not").is_none());
    }

    #[test]
    fn a_bad_drop_in_is_reported_and_skipped() {
        let (_d, ctx) = ctx_with(&[
            (SYSTEM_CONFIG, "preserve_hostname: true\n"),
            ("/etc/cloud/cloud.cfg.d/10-bad.cfg", "a: [1, 2\n"),
            ("/etc/cloud/cloud.cfg.d/20-list.cfg", "- 1\n- 2\n"),
        ]);
        let sys = load(&ctx);
        assert_eq!(sys.problems.len(), 2, "{:?}", sys.problems);
        assert!(sys.problems[0].contains("10-bad.cfg"));
        assert!(sys.problems[0].contains("line"));
        assert!(sys.problems[1].contains("not a mapping"));
        let node = sys.node.unwrap();
        assert_eq!(node.get("preserve_hostname").unwrap().as_bool(), Some(true));
    }

    #[test]
    fn user_data_wins_and_lists_are_replaced() {
        let lower = cloudconfig::yaml::load(
            "users: [default]\napt:\n  proxy: http://p\n  sources: {a: {source: x}}\n",
        )
        .unwrap();
        let upper =
            cloudconfig::yaml::load("users: [{name: demo}]\napt:\n  sources: {b: {source: y}}\n")
                .unwrap();
        let merged = merge_under(upper, &lower);
        let users = merged.get("users").unwrap().as_seq().unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].get("name").unwrap().as_str(), Some("demo"));
        let apt = merged.get("apt").unwrap();
        assert_eq!(apt.get("proxy").unwrap().as_str(), Some("http://p"));
        let sources = apt.get("sources").unwrap();
        assert!(sources.get("a").is_some() && sources.get("b").is_some());
    }

    #[test]
    fn builtin_default_user_follows_os_release() {
        for (text, want) in [
            ("ID=ubuntu\n", Some("ubuntu")),
            ("ID=debian\n", Some("admin")),
            (
                "ID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\n",
                Some("ec2-user"),
            ),
            ("ID=raspbian\nID_LIKE=debian\n", Some("admin")),
            ("NAME=nothing\n", None),
        ] {
            let (_d, ctx) = ctx_with(&[(super::super::modules::system::OS_RELEASE, text)]);
            assert_eq!(
                builtin_default_user(&ctx).map(|(n, _)| n).as_deref(),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn module_lists_name_modules_as_cloud_init_reads_them() {
        let cfg = cloudconfig::yaml::load(
            "cloud_init_modules: [write-files, cc_set_hostname, [ssh, always], 5]\ncloud_final_modules:\n - [scripts-user, once-per-instance]\n - [final-message]\n",
        )
        .unwrap();
        assert_eq!(listing(&cfg, "write_files"), Listing::Listed(None));
        assert_eq!(listing(&cfg, "set_hostname"), Listing::Listed(None));
        assert_eq!(
            listing(&cfg, "ssh"),
            Listing::Listed(Some(Frequency::Always))
        );
        assert_eq!(
            listing(&cfg, "scripts_user"),
            Listing::Listed(Some(Frequency::PerInstance))
        );
        assert_eq!(listing(&cfg, "final_message"), Listing::Listed(None));
        assert_eq!(listing(&cfg, "runcmd"), Listing::Absent);
        let none = cloudconfig::yaml::load("runcmd: [x]\n").unwrap();
        assert_eq!(listing(&none, "runcmd"), Listing::NoLists);
    }

    #[test]
    fn strap_limits_change_the_user_data_limits() {
        let (_d, ctx) = ctx_with(&[
            (SYSTEM_CONFIG, "strap_limits:\n  max_parts: 20\n"),
            (
                "/etc/cloud/cloud.cfg.d/90-limits.cfg",
                "strap_limits:\n  include_time: 30\n  max_decoded_bytes: -1\n  bogus: 3\n",
            ),
        ]);
        let sys = load(&ctx);
        assert_eq!(sys.limits.max_parts, 20);
        assert_eq!(sys.limits.include_time, std::time::Duration::from_secs(30));
        assert_eq!(
            sys.limits.max_bytes,
            crate::userdata::Limits::default().max_bytes
        );
        assert_eq!(sys.problems.len(), 2, "{:?}", sys.problems);
        assert!(sys.problems[0].contains("strap_limits.max_decoded_bytes"));
        assert!(sys.problems[1].contains("strap_limits.bogus"));
    }
}
