//! What is on the disks, read from the [`MachineView`] (sysfs and udev's database, what
//! `lsblk` reads) as `lsblk` and `blkid` would report it, plus what earlier entries made
//! or, in a dry run, would have made.

use std::collections::HashMap;
use std::path::PathBuf;

use super::super::MachineView;

/// One block device as `lsblk --pairs --output NAME,TYPE,FSTYPE,LABEL` lists it, and the
/// partition type udev knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDev {
    pub name: String,
    /// `disk`, `part`, or another kernel type.
    pub kind: String,
    /// Empty when none, as lsblk prints it.
    pub fstype: String,
    pub label: String,
    /// udev's `ID_PART_ENTRY_TYPE`: `0x83` (MBR) or a GUID (GPT).
    pub part_type: String,
}

/// What is on the disks: the view, plus what earlier entries made or would have made.
pub struct Probe<'v> {
    view: &'v MachineView,
    /// Disks an earlier entry would have partitioned (not on a real run, where the
    /// kernel's tables show them): their new partitions.
    planned: HashMap<String, Vec<BlockDev>>,
    /// Devices an earlier entry formatted or would have: filesystem and label.
    formatted: HashMap<String, (String, String)>,
}

pub(super) fn base_name(dev: &str) -> &str {
    dev.rsplit('/').next().unwrap_or(dev)
}

/// The kernel's name of partition `n` of a disk (`xvdb1`, `nvme1n1p1`).
pub fn partition_name(disk: &str, n: usize) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

/// The number of a partition named after its disk (`xvdb2`, `nvme1n1p2`).
fn partition_number(disk: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(disk)?;
    let digits = if disk.ends_with(|c: char| c.is_ascii_digit()) {
        rest.strip_prefix('p')?
    } else {
        rest
    };
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

impl<'v> Probe<'v> {
    pub fn new(view: &'v MachineView) -> Self {
        Self {
            view,
            planned: HashMap::new(),
            formatted: HashMap::new(),
        }
    }

    fn is_planned(&self, name: &str) -> bool {
        self.planned.values().flatten().any(|p| p.name == name)
    }

    /// Whether a `/dev` path exists (or an earlier entry would have made it).
    pub fn exists(&self, dev: &str) -> bool {
        self.view.dev_exists(dev) || self.is_planned(base_name(dev))
    }

    /// Whether a `/dev` path is a block device (or would be).
    pub fn is_block(&self, dev: &str) -> bool {
        self.view.is_device(dev) || self.is_planned(base_name(dev))
    }

    /// A `/dev` path with its links resolved in the view.
    pub fn realpath(&self, dev: &str) -> String {
        if self.view.dev_exists(dev) {
            self.view.dev_realpath(dev)
        } else {
            dev.to_string()
        }
    }

    fn sys_dir(&self, name: &str) -> Option<PathBuf> {
        for p in [
            format!("/sys/class/block/{name}"),
            format!("/sys/block/{name}"),
        ] {
            let p = self.view.path(&p);
            if p.is_dir() {
                return Some(p);
            }
        }
        std::fs::read_dir(self.view.path("/sys/block"))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join(name))
            .find(|p| p.is_dir())
    }

    /// udev's properties of a device (`E:KEY=VALUE` lines of its database entry).
    fn udev(&self, name: &str) -> HashMap<String, String> {
        let Some(dev) = self
            .sys_dir(name)
            .and_then(|d| std::fs::read_to_string(d.join("dev")).ok())
        else {
            return HashMap::new();
        };
        let db = self.view.path(&format!("/run/udev/data/b{}", dev.trim()));
        std::fs::read_to_string(db)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("E:")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn kind(&self, name: &str) -> String {
        if self.view.path(&format!("/sys/block/{name}")).is_dir() {
            "disk".into()
        } else if self.is_planned(name)
            || self.sys_dir(name).is_some_and(|d| {
                d.join("partition").is_file()
                    || d.parent().and_then(|p| p.file_name()).is_some_and(|disk| {
                        partition_number(&disk.to_string_lossy(), name).is_some()
                    })
            })
        {
            "part".into()
        } else {
            String::new()
        }
    }

    pub(super) fn block_dev(&self, name: &str) -> BlockDev {
        if let Some(p) = self.planned.values().flatten().find(|p| p.name == name) {
            let mut p = p.clone();
            if let Some((fs, label)) = self.formatted.get(name) {
                (p.fstype, p.label) = (fs.clone(), label.clone());
            }
            return p;
        }
        let udev = self.udev(name);
        let get = |k: &str| udev.get(k).cloned().unwrap_or_default();
        let (fstype, label) = match self.formatted.get(name) {
            Some((fs, label)) => (fs.clone(), label.clone()),
            None if self.planned.contains_key(name) => Default::default(),
            None => (get("ID_FS_TYPE"), get("ID_FS_LABEL")),
        };
        BlockDev {
            name: name.to_string(),
            kind: self.kind(name),
            fstype,
            label,
            part_type: get("ID_PART_ENTRY_TYPE"),
        }
    }

    /// The partitions of a disk, in partition order.
    fn partitions(&self, disk: &str) -> Vec<BlockDev> {
        if let Some(parts) = self.planned.get(disk) {
            return parts.iter().map(|p| self.block_dev(&p.name)).collect();
        }
        let mut found: Vec<(u32, String)> =
            std::fs::read_dir(self.view.path(&format!("/sys/block/{disk}")))
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter_map(|e| {
                            let name = e.file_name().to_string_lossy().into_owned();
                            let number = std::fs::read_to_string(e.path().join("partition"))
                                .ok()
                                .and_then(|n| n.trim().parse().ok())
                                .or_else(|| partition_number(disk, &name))?;
                            Some((number, name))
                        })
                        .collect()
                })
                .unwrap_or_default();
        found.sort();
        found.into_iter().map(|(_, n)| self.block_dev(&n)).collect()
    }

    /// `lsblk DEVICE`: the device, then its partitions.
    pub fn enumerate(&self, dev: &str) -> Vec<BlockDev> {
        let name = base_name(dev);
        let first = self.block_dev(name);
        let parts = if first.kind == "disk" {
            self.partitions(name)
        } else {
            Vec::new()
        };
        std::iter::once(first).chain(parts).collect()
    }

    /// `blkid DEVICE`: label and filesystem type, `None` when absent.
    pub fn check_fs(&self, dev: &str) -> (Option<String>, Option<String>) {
        let d = self.block_dev(base_name(&self.realpath(dev)));
        let some = |s: String| (!s.is_empty()).then_some(s);
        (some(d.label), some(d.fstype))
    }

    /// The size of a disk in its logical sectors, as a fraction (cloud-init's
    /// `blockdev --getsize64` / `blockdev --getss`).
    pub fn sectors(&self, dev: &str) -> Option<f64> {
        let name = base_name(dev);
        let read = |p: &str| {
            std::fs::read_to_string(self.view.path(&format!("/sys/block/{name}/{p}")))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        let bytes = read("size")? * 512;
        let sector = read("queue/logical_block_size").unwrap_or(512).max(1);
        Some(bytes as f64 / sector as f64)
    }

    /// Note that an entry made (or would make) these partitions on a disk.
    pub fn partitioned(&mut self, disk: &str, count: usize) {
        let name = base_name(disk).to_string();
        let parts = (1..=count)
            .map(|n| BlockDev {
                name: partition_name(&name, n),
                kind: "part".into(),
                ..BlockDev::default()
            })
            .collect();
        self.formatted.retain(|k, _| !k.starts_with(&name));
        self.planned.insert(name, parts);
    }

    /// Note that an entry made (or would make) a filesystem on a device.
    pub fn formatted(&mut self, dev: &str, fstype: &str, label: &str) {
        self.formatted.insert(
            base_name(dev).to_string(),
            (fstype.to_string(), label.to_string()),
        );
    }
}
