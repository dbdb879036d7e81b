//! Instance identity on disk: `data/instance-id` and `previous-instance-id`, the
//! `instance` symlink, the instance folder, `/run/strap/instance-data.json`, and
//! `strap clean`. A new instance is one whose id differs from `data/instance-id` (or
//! has none): it gets a fresh `sem/`, so its per-instance work runs again, while
//! per-once markers in `<state>/sem` stay.

use std::path::Path;

use super::context::{Boot, BootError};
use super::paths::Paths;
use super::records::write_json;

/// What [`reflect_instance`] found.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// No previous instance id, or a different one.
    pub new_instance: bool,
    /// The previous instance id, when there was one.
    pub previous: Option<String>,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BootError {
    let path = path.to_path_buf();
    move |source| BootError::Io { op, path, source }
}

/// `mkdir -p` beneath the root (see [`crate::context::beneath`]).
fn create_folder(paths: &Paths, dir: &Path) -> Result<(), BootError> {
    crate::context::create_folder(&paths.root, dir, crate::context::FileOptions::default())
        .map(drop)
        .map_err(|e| BootError::Io {
            op: "create",
            path: dir.to_path_buf(),
            source: match e {
                crate::context::ContextError::Io { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            },
        })
}

/// Create the state folders every boot needs, whatever the instance: `data/`,
/// `instances/` and the `scripts/per-*` folders (made empty, so that an image builder or a
/// script of this boot can drop scripts into them).
pub fn create_layout(paths: &Paths) -> Result<(), BootError> {
    let mut dirs = vec![paths.data(), paths.state.join("instances")];
    dirs.extend(
        ["per-boot", "per-instance", "per-once"]
            .into_iter()
            .map(|which| paths.per_dir(which)),
    );
    for p in dirs {
        create_folder(paths, &p)?;
    }
    Ok(())
}

/// Record the current instance id, point `instance` at its folder, create its folders.
pub fn reflect_instance(paths: &Paths, instance_id: &str) -> Result<Tracked, BootError> {
    let data = paths.data();
    create_folder(paths, &data)?;
    let id_file = data.join("instance-id");
    let previous = std::fs::read_to_string(&id_file)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let new_instance = previous.as_deref() != Some(instance_id);
    // The instance folder's own folders (sem/, scripts/, boothooks/, data/) and the
    // per-once sem/ are made by the first file written into them; the boot made the
    // rest of the layout ([`create_layout`]) while its first requests were in flight.
    let dir = paths.instance_dir(instance_id);
    create_folder(paths, &dir)?;
    if new_instance {
        if let Some(prev) = &previous {
            crate::boot::durable::write(
                &paths.root,
                &data.join("previous-instance-id"),
                format!("{prev}\n").as_bytes(),
                Some(0o644),
            )
            .map_err(|e| BootError::Io {
                op: "write",
                path: data.join("previous-instance-id"),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        crate::boot::durable::write(
            &paths.root,
            &id_file,
            format!("{instance_id}\n").as_bytes(),
            Some(0o644),
        )
        .map_err(|e| BootError::Io {
            op: "write",
            path: id_file.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    // The symlink is relative so that it stays right under any root.
    let link = paths.instance_link();
    let target = Path::new("instances").join(instance_id.replace('/', "_"));
    if std::fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
        crate::context::replace_symlink(&paths.root, &link, &target).map_err(|e| {
            BootError::Io {
                op: "replace the symlink",
                path: link.clone(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
    }
    Ok(Tracked {
        new_instance,
        previous,
    })
}

/// Write `/run/strap/instance-data.json` (world-readable: no user data).
pub fn write_instance_data(boot: &Boot<'_>) -> Result<(), BootError> {
    write_json(
        &boot.paths.root,
        &boot.paths.instance_data(),
        &instance_data(boot),
    )?;
    Ok(())
}

/// The instance data in cloud-init's shape: `v1` keys (also aliased at the top level)
/// and `ds`; templates and `strap query` read it.
pub fn instance_data(boot: &Boot<'_>) -> serde_json::Value {
    let i = &boot.instance;
    let region = i.region.clone().unwrap_or_default();
    let cloud_id = if region.starts_with("cn-") {
        "aws-china"
    } else if region.starts_with("us-gov-") {
        "aws-gov"
    } else {
        "aws"
    };
    let v1 = serde_json::json!({
        "availability_zone": i.availability_zone,
        "availability-zone": i.availability_zone,
        "cloud_id": cloud_id,
        "cloud_name": "aws",
        "cloud-name": "aws",
        "instance_id": i.instance_id,
        "instance-id": i.instance_id,
        "instance_type": i.instance_type,
        "image_id": i.image_id,
        "platform": "ec2",
        "region": i.region,
        "subplatform": format!("metadata ({})", boot.source.location()),
        "machine": std::env::consts::ARCH,
        "variant": "linux",
    });
    let mut doc = serde_json::json!({
        "_doc": "strap instance data: the metadata strap booted from (no user data).",
        "v1": v1,
        "ds": {
            "dynamic": {"instance-identity": {"document": i.identity}},
            "meta-data": {
                "instance-id": i.instance_id,
                "placement": {"availability-zone": i.availability_zone, "region": i.region},
                "instance-type": i.instance_type,
                "ami-id": i.image_id,
                "local-ipv4": i.private_ip,
            },
        },
        "sensitive_keys": [],
        "base64_encoded_keys": [],
    });
    if let (Some(obj), Some(v1)) = (doc.as_object_mut(), v1.as_object()) {
        for (k, v) in v1 {
            obj.insert(k.clone(), v.clone());
        }
    }
    doc
}

/// What `strap clean` removes.
#[derive(Clone, Copy, Debug, Default)]
pub struct CleanOptions {
    /// Also the logs.
    pub logs: bool,
    /// Also `seed/`.
    pub seed: bool,
}

/// `strap clean`: everything under the state folder except `seed/` (unless asked), the
/// run-time records, and with `logs` the logs. Returns what was removed.
pub fn clean(paths: &Paths, opts: CleanOptions) -> Result<Vec<std::path::PathBuf>, BootError> {
    let mut removed = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&paths.state) {
        for entry in entries.flatten() {
            let p = entry.path();
            if !opts.seed && entry.file_name() == "seed" {
                continue;
            }
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                std::fs::remove_dir_all(&p).map_err(io("remove", &p))?;
            } else {
                std::fs::remove_file(&p).map_err(io("remove", &p))?;
            }
            removed.push(p);
        }
    }
    if paths.run.exists() {
        std::fs::remove_dir_all(&paths.run).map_err(io("remove", &paths.run))?;
        removed.push(paths.run.clone());
    }
    if opts.logs {
        for log in [&paths.log, &paths.output_log] {
            let dir = log.parent().unwrap_or(Path::new("/"));
            let name = log
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    // The log and its rotated copies (strap.log.1, strap.log.2.gz).
                    if file == name || file.starts_with(&format!("{name}.")) {
                        let p = entry.path();
                        std::fs::remove_file(&p).map_err(io("remove", &p))?;
                        removed.push(p);
                    }
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    #[test]
    fn new_and_same_instance_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), dir.path());
        let paths = Paths::resolve(&ctx, None).unwrap();
        assert!(reflect_instance(&paths, "i-1").unwrap().new_instance);
        assert!(!reflect_instance(&paths, "i-1").unwrap().new_instance);
        let t = reflect_instance(&paths, "i-2").unwrap();
        assert!(t.new_instance);
        assert_eq!(t.previous.as_deref(), Some("i-1"));
        assert_eq!(
            std::fs::read_link(paths.instance_link()).unwrap(),
            Path::new("instances/i-2")
        );
        std::fs::create_dir_all(paths.state.join("seed")).unwrap();
        clean(&paths, CleanOptions::default()).unwrap();
        assert!(paths.state.join("seed").exists());
        assert!(!paths.state.join("instances").exists());
    }
}
