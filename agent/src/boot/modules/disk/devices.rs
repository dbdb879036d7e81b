//! Device names of `mounts` entries, as cloud-init's cc_mounts resolves them: short
//! kernel names (`xvdb` → `/dev/xvdb`), `.N` partitions, a disk standing for its first
//! partition, `server:/path` network specs, `device_aliases`, and the metadata names
//! (`ephemeral0`, `ebsN`, `swap`, `ami`, `root`) through the instance's
//! `block-device-mapping` with EC2's `sd` → `xvd`/`vd` remapping. A name resolves only
//! to a device present in the [`MachineView`].

use std::collections::HashMap;

use super::MachineView;

/// `x?[shv]d[a-z][0-9]*` or `sr[0-9]+`: a kernel disk name given without `/dev/`.
pub fn is_short_device_name(name: &str) -> bool {
    if let Some(digits) = name.strip_prefix("sr") {
        return !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    }
    let rest = name.strip_prefix('x').unwrap_or(name);
    let b = rest.as_bytes();
    b.len() >= 3
        && matches!(b[0], b's' | b'h' | b'v')
        && b[1] == b'd'
        && b[2].is_ascii_lowercase()
        && b[3..].iter().all(u8::is_ascii_digit)
}

/// A name the metadata's block-device-mapping knows (`ami`, `root`, `swap`,
/// `ephemeralN`, `ebsN`).
pub fn is_meta_device_name(name: &str) -> bool {
    matches!(name, "ami" | "root" | "swap")
        || ((name.starts_with("ephemeral") || name.starts_with("ebs")) && !name.contains(':'))
}

/// cloud-init's `sanitize_devname`: the device a `mounts` name stands for, `None` when
/// there is none. `meta` maps a metadata name to a device path.
pub fn sanitize_devname(
    start: &str,
    view: &MachineView,
    aliases: &HashMap<String, String>,
    meta: &mut dyn FnMut(&str) -> Option<String>,
) -> Option<String> {
    let devname = if start == "ephemeral" {
        "ephemeral0"
    } else {
        start
    };
    // server:/path
    if start.len() > 1 && start[1..].contains(':') {
        return Some(start.to_string());
    }
    let (mut device, part) = match devname.rsplit_once('.') {
        Some((d, p)) => (d.to_string(), Some(p.to_string())),
        None => (devname.to_string(), None),
    };
    if let Some(alias) = aliases.get(&device) {
        device = alias.clone();
    }
    if is_meta_device_name(&device) {
        device = meta(&device)?;
        if !device.starts_with('/') {
            device = format!("/dev/{device}");
        }
    } else if is_short_device_name(start) {
        device = format!("/dev/{device}");
    }
    let exists = |p: &str| p.starts_with('/') && view.path(p).exists();
    let nth = |n: &str| {
        [n.to_string(), format!("p{n}"), format!("-part{n}")]
            .into_iter()
            .map(|suffix| format!("{device}{suffix}"))
            .find(|p| exists(p))
    };
    let partition = match &part {
        None => nth("1"),
        Some(n) => Some(nth(n)?),
    };
    let base = |p: &str| {
        let real = if p.starts_with('/') {
            view.dev_realpath(p)
        } else {
            p.to_string()
        };
        real.rsplit('/').next().unwrap_or("").to_string()
    };
    let mut sys = view.path(&format!("/sys/block/{}", base(&device)));
    if let Some(p) = &partition {
        sys = sys.join(base(p));
    }
    if sys.exists() {
        Some(partition.unwrap_or(device))
    } else {
        None
    }
}

/// Whether the machine has a disk besides the first of the `sd`/`xvd`/`vd` family, so a
/// metadata name could map to something.
pub fn has_spare_disk(view: &MachineView) -> bool {
    view.disks()
        .iter()
        .filter(|d| {
            let base = d.trim_end_matches(|c: char| c.is_ascii_digit());
            is_short_device_name(base) || base.starts_with("vtb")
        })
        .count()
        >= 2
}

/// The EC2 datasource's `device_name_to_device`: the mapped device if it exists, else
/// the `sd` name remapped to `vd`/`xvd`/`vtb`; `ephemeral0` only when it exists.
/// The machine's device for the block-device-mapping entry `name` (`ephemeral0`,
/// `swap`), asked of the metadata once per name (`cache`) and found as
/// [`ec2_device`] finds it.
pub fn mapped_device(
    src: &dyn crate::boot::source::Datasource,
    name: &str,
    view: &MachineView,
    cache: &mut HashMap<String, Option<String>>,
) -> Option<String> {
    cache
        .entry(name.to_string())
        .or_insert_with(|| {
            let path = format!("/latest/meta-data/block-device-mapping/{name}");
            crate::boot::source::fetch_text(src, &path)
                .ok()
                .flatten()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .and_then(|mapped| ec2_device(name, &mapped, view))
        })
        .clone()
}

pub fn ec2_device(name: &str, mapped: &str, view: &MachineView) -> Option<String> {
    let found = if mapped.starts_with('/') {
        mapped.to_string()
    } else {
        format!("/dev/{mapped}")
    };
    if view.dev_exists(&found) {
        return Some(found);
    }
    let short = found.rsplit('/').next().unwrap_or("");
    if let Some(rest) = short.strip_prefix("sd") {
        for to in ["vd", "xvd", "vtb"] {
            let cand = format!("/dev/{to}{rest}");
            if view.dev_exists(&cand) {
                return Some(cand);
            }
        }
    }
    if name == "ephemeral0" {
        return None;
    }
    Some(mapped.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_resolve_in_the_machine_view() {
        let dir = tempfile::tempdir().unwrap();
        let view = MachineView::at(dir.path());
        for p in [
            "/dev/xvdb",
            "/dev/xvdc",
            "/dev/xvdc1",
            "/dev/nvme1n1",
            "/dev/nvme1n1p2",
        ] {
            std::fs::create_dir_all(view.path("/dev")).unwrap();
            std::fs::write(view.path(p), "").unwrap();
        }
        for p in [
            "/sys/block/xvdb",
            "/sys/block/xvdc/xvdc1",
            "/sys/block/nvme1n1/nvme1n1p2",
        ] {
            std::fs::create_dir_all(view.path(p)).unwrap();
        }
        let none = HashMap::new();
        let mut meta = |n: &str| (n == "ephemeral0").then(|| "/dev/xvdb".to_string());
        let mut s = |n: &str| sanitize_devname(n, &view, &none, &mut meta);
        assert_eq!(s("xvdb").as_deref(), Some("/dev/xvdb"));
        // A disk with a first partition stands for that partition.
        assert_eq!(s("xvdc").as_deref(), Some("/dev/xvdc1"));
        assert_eq!(s("/dev/nvme1n1.2").as_deref(), Some("/dev/nvme1n1p2"));
        assert_eq!(s("ephemeral").as_deref(), Some("/dev/xvdb"));
        assert_eq!(s("ephemeral1"), None);
        assert_eq!(s("sdz"), None);
        assert_eq!(s("UUID=abc"), None);
        assert_eq!(
            s("fileserver:/export").as_deref(),
            Some("fileserver:/export")
        );
        let aliases = HashMap::from([("scratch".to_string(), "/dev/xvdb".to_string())]);
        assert_eq!(
            sanitize_devname("scratch", &view, &aliases, &mut |_| None).as_deref(),
            Some("/dev/xvdb")
        );
        assert!(is_short_device_name("xvda1") && is_short_device_name("sr0"));
        assert!(!is_short_device_name("nvme0n1") && !is_short_device_name("sd"));
    }

    #[test]
    fn ec2_names_are_remapped_to_the_kernels() {
        let dir = tempfile::tempdir().unwrap();
        let view = MachineView::at(dir.path());
        std::fs::create_dir_all(view.path("/dev")).unwrap();
        std::fs::write(view.path("/dev/xvdb"), "").unwrap();
        assert_eq!(
            ec2_device("ephemeral0", "sdb", &view).as_deref(),
            Some("/dev/xvdb")
        );
        assert_eq!(ec2_device("ephemeral0", "sdc", &view), None);
        assert_eq!(ec2_device("ebs1", "sdf", &view).as_deref(), Some("sdf"));
    }
}
