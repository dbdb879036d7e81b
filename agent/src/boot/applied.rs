//! What strap applied, and where that is recorded: `<instance>/applied.json`: what strap applied to this instance, module by module,
//! written by every boot (for the modules that ran) and by `strap apply` (after each step
//! that succeeded), so that a killed apply resumes where it stopped.
//!
//! ```json
//! {"version": 1, "strap_version": "0.1.0", "instance_id": "i-…",
//!  "user_data_sha256": "sha256:…", "updated": 1.0,
//!  "identity": {…the identity document…},
//!  "config": {…the effective cloud-config…},
//!  "modules": {"write_files": {"at": 1.0, "failed": null,
//!      "state": {"config": {"write_files": […]},
//!                "resources": [{"kind": "file", "path": "/etc/x", "sha256": "sha256:…",
//!                               "size": 3, "mode": 420, "owner": "root:root",
//!                               "append": false, "created": true}]}}}}
//! ```
//!
//! The other kinds of resources: `user`, `group`, `package`, `script`, and `disk` and
//! `filesystem` (`disk_setup`'s partition tables and `fs_setup`'s filesystems, never
//! removed by strap).
//!
//! `user_data_sha256` is the user data last applied as a whole (a new instance's first
//! boot, or an apply that finished); a boot of the same instance with other user data
//! leaves it, so the change is still seen. The file is 0600: the config slices may hold
//! passwords, as the instance's `cloud-config.txt` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The record format this strap reads and writes.
pub const RECORD_VERSION: u32 = 1;

/// The record file of an instance folder.
pub fn path(instance_dir: &Path) -> PathBuf {
    instance_dir.join("applied.json")
}

/// What was applied to one instance. Its `Debug` leaves out every config value (they
/// may hold passwords).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Applied {
    pub version: u32,
    pub strap_version: String,
    pub instance_id: String,
    /// The user data last applied as a whole.
    #[serde(default)]
    pub user_data_sha256: Option<String>,
    /// When the record last changed (seconds since the epoch).
    pub updated: f64,
    /// The identity document of the instance (for plans from a user-data file).
    #[serde(default)]
    pub identity: serde_json::Value,
    /// The effective cloud-config last applied as a whole: the user data's (templates
    /// rendered, parts merged) over the image's system config.
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleRecord>,
}

/// One module's last applied state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// When it was applied.
    pub at: f64,
    /// Set when the last attempt to apply a newer state failed (the state stays the one
    /// applied before): the next apply tries again.
    #[serde(default)]
    pub failed: Option<String>,
    pub state: ModuleState,
}

/// The record as found.
#[derive(Clone, Debug)]
pub enum Loaded {
    Found(Box<Applied>),
    /// No record: a boot by a strap without plans, or none yet.
    Missing,
    /// A record this strap cannot use, with the reason.
    Unusable(String),
}

impl Loaded {
    /// The record, or an empty one for this instance.
    pub fn or_empty(&self, instance_id: &str) -> Applied {
        match self {
            Loaded::Found(a) => (**a).clone(),
            _ => Applied::new(instance_id),
        }
    }

    /// Why everything is treated as new, when it is.
    pub fn problem(&self, file: &Path) -> Option<String> {
        match self {
            Loaded::Found(_) => None,
            Loaded::Missing => Some(format!(
                "no record of what was applied ({}): the boot that configured this instance predates it, so everything the user data declares is treated as new",
                file.display()
            )),
            Loaded::Unusable(why) => Some(format!(
                "the record of what was applied ({}) cannot be used ({why}): everything the user data declares is treated as new",
                file.display()
            )),
        }
    }
}

impl Applied {
    pub fn new(instance_id: &str) -> Self {
        Self {
            version: RECORD_VERSION,
            strap_version: env!("CARGO_PKG_VERSION").into(),
            instance_id: instance_id.into(),
            ..Default::default()
        }
    }

    /// Read an instance's record.
    pub fn load(instance_dir: &Path, instance_id: &str) -> Loaded {
        let file = path(instance_dir);
        let bytes = match crate::context::read_regular(&file, MAX_RECORD, false) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
            Err(e) => return Loaded::Unusable(e.to_string()),
        };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return Loaded::Unusable(format!("not valid JSON: {e}")),
        };
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(RECORD_VERSION) => {}
            Some(v) => {
                return Loaded::Unusable(format!(
                    "format version {v}; this strap reads version {RECORD_VERSION}"
                ))
            }
            None => return Loaded::Unusable("no format version".into()),
        }
        match serde_json::from_value::<Applied>(value) {
            Ok(a) if a.instance_id == instance_id => Loaded::Found(Box::new(a)),
            Ok(a) => Loaded::Unusable(format!(
                "it is the record of instance {}, not {instance_id}",
                a.instance_id
            )),
            Err(e) => Loaded::Unusable(format!("unexpected shape: {e}")),
        }
    }

    /// Write the record atomically and durably (temp file, fsync, rename, folder sync).
    pub fn save(&self, instance_dir: &Path) -> Result<(), crate::context::ContextError> {
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        crate::context::write_atomic(&path(instance_dir), &bytes, Some(0o600))
    }

    /// Write the record as a boot does: atomically, its folder synced with the stage's
    /// other files (see [`crate::boot::durable`]).
    pub fn save_batched(&self, instance_dir: &Path) -> Result<(), crate::context::ContextError> {
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        crate::boot::durable::write(Path::new("/"), &path(instance_dir), &bytes, Some(0o600))
    }

    /// Record a module's state as applied now.
    pub fn set(&mut self, module: &str, state: ModuleState, now: f64) {
        self.modules.insert(
            module.to_string(),
            ModuleRecord {
                at: now,
                failed: None,
                state,
            },
        );
        self.updated = now;
    }

    /// Record that applying a module failed (its applied state stays as it was).
    pub fn set_failed(&mut self, module: &str, error: String, now: f64) {
        let entry = self.modules.entry(module.to_string()).or_default();
        entry.failed = Some(error);
        self.updated = now;
    }
}

/// Largest record read.
const MAX_RECORD: u64 = 16 * 1024 * 1024;

/// A thing a module owns on the machine (its `Debug` is its id only: a user's entry may
/// hold a password).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Resource {
    /// A `write_files` entry.
    File {
        path: String,
        sha256: String,
        size: u64,
        mode: u32,
        owner: String,
        #[serde(default)]
        append: bool,
        /// strap made it: it was not there before (only those are pruned).
        #[serde(default)]
        created: bool,
        /// A file whose content comes from a `source`: the URI as it may be shown
        /// (without query or user information). Its content is fetched when the module
        /// runs: until then `sha256` is empty, and the record holds what was written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_uri: Option<String>,
        /// The digest of the source (URI, headers and `content` to fall back on): a new
        /// one is a change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_sha256: Option<String>,
    },
    /// A `users` entry (its normalised entry as JSON: keys, groups, sudo rules, shell…).
    User {
        name: String,
        spec: serde_json::Value,
        #[serde(default)]
        created: bool,
    },
    /// A `groups` entry with its members.
    Group {
        name: String,
        members: Vec<String>,
        #[serde(default)]
        created: bool,
    },
    /// A package of `packages` (`name`, `name=version`).
    Package {
        name: String,
        #[serde(default)]
        created: bool,
    },
    /// A user-data script or boothook part, by its stored name.
    Script { name: String, sha256: String },
    /// A `disk_setup` entry: the partition table asked of a disk (by its name in the
    /// config). strap never removes one.
    Disk {
        name: String,
        table: String,
        layout: String,
        overwrite: bool,
    },
    /// An `fs_setup` entry: the filesystem asked of a device or partition. strap never
    /// removes one.
    Filesystem {
        device: String,
        partition: String,
        filesystem: String,
        label: Option<String>,
        overwrite: bool,
        #[serde(default)]
        replace_fs: Option<String>,
        #[serde(default)]
        extra_opts: Vec<String>,
        #[serde(default)]
        cmd: Option<String>,
    },
}

impl Resource {
    /// `file /etc/x`, `user alice`…
    pub fn id(&self) -> String {
        match self {
            Resource::File { path, .. } => format!("file {path}"),
            Resource::User { name, .. } => format!("user {name}"),
            Resource::Group { name, .. } => format!("group {name}"),
            Resource::Package { name, .. } => format!("package {name}"),
            Resource::Script { name, .. } => format!("script {name}"),
            Resource::Disk { name, .. } => format!("disk {name}"),
            Resource::Filesystem {
                device, partition, ..
            } => match partition.as_str() {
                "any" | "auto" | "none" | "None" => format!("filesystem {device}"),
                p => format!("filesystem {device} partition {p}"),
            },
        }
    }

    /// Whether strap made it (files, users, groups, packages not there before it).
    pub fn created(&self) -> bool {
        match self {
            Resource::File { created, .. }
            | Resource::User { created, .. }
            | Resource::Group { created, .. }
            | Resource::Package { created, .. } => *created,
            Resource::Script { .. } | Resource::Disk { .. } | Resource::Filesystem { .. } => false,
        }
    }

    pub(super) fn set_created(&mut self, value: bool) {
        match self {
            Resource::File { created, .. }
            | Resource::User { created, .. }
            | Resource::Group { created, .. }
            | Resource::Package { created, .. } => *created = value,
            Resource::Script { .. } | Resource::Disk { .. } | Resource::Filesystem { .. } => {}
        }
    }

    /// Equal as declared (whether strap made it does not count).
    pub fn same_as(&self, other: &Resource) -> bool {
        let mut a = self.clone();
        let mut b = other.clone();
        a.set_created(false);
        b.set_created(false);
        // Two files from a source are the same while their source is: the content is
        // known once fetched (the record's), not as declared.
        for r in [&mut a, &mut b] {
            if let Resource::File {
                sha256,
                size,
                source_sha256: Some(_),
                ..
            } = r
            {
                sha256.clear();
                *size = 0;
            }
        }
        a == b
    }

    /// A file from a source with its content not yet known: set it from what was
    /// written (`written` reads a machine path). Other resources are left as they are.
    pub fn fill_fetched(&mut self, written: impl FnOnce(&str) -> Option<Vec<u8>>) {
        if let Resource::File {
            path,
            sha256: digest,
            size,
            append: false,
            source_sha256: Some(_),
            ..
        } = self
        {
            if digest.is_empty() {
                if let Some(bytes) = written(path) {
                    *digest = sha256(&bytes);
                    *size = bytes.len() as u64;
                }
            }
        }
    }
}

/// What the config declares for one module (its `Debug` names the keys, not their
/// values).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModuleState {
    /// The module's keys of the effective config, as JSON (only the keys present).
    pub config: BTreeMap<String, serde_json::Value>,
    /// What it owns, in the config's order.
    #[serde(default)]
    pub resources: Vec<Resource>,
}

impl ModuleState {
    /// Equal as declared.
    pub fn same_as(&self, other: &ModuleState) -> bool {
        self.config == other.config
            && self.resources.len() == other.resources.len()
            && self
                .resources
                .iter()
                .zip(&other.resources)
                .all(|(a, b)| a.same_as(b))
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl std::fmt::Debug for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applied")
            .field("version", &self.version)
            .field("instance_id", &self.instance_id)
            .field("user_data_sha256", &self.user_data_sha256)
            .field("modules", &self.modules)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resource({})", self.id())
    }
}

impl std::fmt::Debug for ModuleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleState")
            .field("keys", &self.config.keys().collect::<Vec<_>>())
            .field("resources", &self.resources)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_and_filesystems_are_recorded_and_never_strap_s_to_remove() {
        let disk = Resource::Disk {
            name: "ephemeral0".into(),
            table: "gpt".into(),
            layout: "true".into(),
            overwrite: false,
        };
        let fs = Resource::Filesystem {
            device: "/dev/xvdb".into(),
            partition: "1".into(),
            filesystem: "ext4".into(),
            label: Some("data".into()),
            overwrite: false,
            replace_fs: None,
            extra_opts: Vec::new(),
            cmd: None,
        };
        let json = serde_json::to_value([&disk, &fs]).unwrap();
        assert_eq!(json[0]["kind"], "disk");
        assert_eq!(json[1]["kind"], "filesystem");
        let back: Vec<Resource> = serde_json::from_value(json).unwrap();
        assert_eq!(back, [disk.clone(), fs.clone()]);
        assert_eq!(fs.id(), "filesystem /dev/xvdb partition 1");
        assert!(!disk.created() && !fs.created());
        // The options may be left out.
        let old: Resource = serde_json::from_str(
            r#"{"kind":"filesystem","device":"/dev/xvdc","partition":"any","filesystem":"xfs","label":null,"overwrite":true}"#,
        )
        .unwrap();
        assert_eq!(old.id(), "filesystem /dev/xvdc");
    }

    #[test]
    fn debug_output_never_shows_config_values() {
        let mut applied = Applied::new("i-1");
        let mut config = BTreeMap::new();
        config.insert("password".to_string(), serde_json::json!("hunter2-secret"));
        applied.config = serde_json::json!({"password": "hunter2-secret"});
        applied.set(
            "set_passwords",
            ModuleState {
                config,
                resources: vec![Resource::User {
                    name: "alice".into(),
                    spec: serde_json::json!({"plain_text_passwd": "hunter2-secret"}),
                    created: true,
                }],
            },
            1.0,
        );
        let shown = format!("{applied:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("password") && shown.contains("user alice"),
            "{shown}"
        );
    }
}
