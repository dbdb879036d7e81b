//! `disk_setup` and `fs_setup` entries as cloud-init reads them, and their device names
//! through the alias function (`device_aliases`, the block-device-mapping).

use crate::cloudconfig::{Node, Value};

use super::super::super::scalar_text;

/// How a disk is to be partitioned.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// `false`, absent or an empty list: not partitioned.
    Off,
    /// `true`: one partition over the whole disk.
    Whole,
    /// `remove`: the filesystems and the partition table are wiped.
    Remove,
    /// Partitions by percentage of the disk, each with an optional type.
    Parts(Vec<Part>),
}

/// One partition of a `layout` list.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub percent: f64,
    /// The type as written (`82`, `8300`); `None` for a bare percentage.
    pub kind: Option<String>,
}

/// A partition table type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Mbr,
    Gpt,
}

/// One `disk_setup` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskEntry {
    /// The key as written (`ephemeral0`, `my_alias`, `/dev/xvdb`).
    pub name: String,
    /// The device it stands for.
    pub device: String,
    pub table: Table,
    pub layout: Layout,
    pub overwrite: bool,
}

/// One `fs_setup` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsEntry {
    pub label: Option<String>,
    pub filesystem: Option<String>,
    pub device: Option<String>,
    /// `partition` as cloud-init's `str()` makes it (default `any`).
    pub partition: String,
    pub overwrite: bool,
    pub replace_fs: Option<String>,
    pub extra_opts: Vec<String>,
    pub cmd: Option<String>,
}

fn flag(key: &str, node: Option<&Node>) -> Result<bool, String> {
    match node.map(|n| &n.value) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("`{key}` must be true or false")),
    }
}

fn percent(node: &Node) -> Option<f64> {
    match &node.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Read a `layout`.
pub fn parse_layout(key: &str, node: Option<&Node>) -> Result<Layout, String> {
    let Some(node) = node else {
        return Ok(Layout::Off);
    };
    match &node.value {
        Value::Null | Value::Bool(false) => Ok(Layout::Off),
        Value::Bool(true) => Ok(Layout::Whole),
        Value::Str(s) if s.eq_ignore_ascii_case("remove") => Ok(Layout::Remove),
        Value::Seq(items) if items.is_empty() => Ok(Layout::Off),
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let bad = || format!("`{key}.{i}` must be a percentage or [percentage, type]");
                match &item.value {
                    Value::Seq(pair) if pair.len() == 2 => Ok(Part {
                        percent: percent(&pair[0]).ok_or_else(bad)?,
                        kind: Some(scalar_text(&pair[1]).ok_or_else(bad)?),
                    }),
                    _ => Ok(Part {
                        percent: percent(item).ok_or_else(bad)?,
                        kind: None,
                    }),
                }
            })
            .collect::<Result<_, _>>()
            .map(Layout::Parts),
        _ => Err(format!("`{key}` must be true, false, remove or a list")),
    }
}

/// Read one `disk_setup` entry (its device not yet resolved).
pub fn parse_disk(name: &str, node: &Node) -> Result<DiskEntry, String> {
    let key = format!("disk_setup.{name}");
    if node.as_map().is_none() {
        return Err(format!("Invalid disk definition for {name}"));
    }
    let table = match node.get("table_type").and_then(scalar_text).as_deref() {
        None | Some("mbr") => Table::Mbr,
        Some("gpt") => Table::Gpt,
        Some(other) => return Err(format!("`{key}.table_type`: unknown table type `{other}`")),
    };
    Ok(DiskEntry {
        name: name.to_string(),
        device: name.to_string(),
        table,
        layout: parse_layout(&format!("{key}.layout"), node.get("layout"))?,
        overwrite: flag(&format!("{key}.overwrite"), node.get("overwrite"))?,
    })
}

/// Read one `fs_setup` entry (its device not yet resolved).
pub fn parse_fs(i: usize, node: &Node) -> Result<FsEntry, String> {
    let key = format!("fs_setup.{i}");
    if node.as_map().is_none() {
        return Err(format!(
            "Invalid file system definition: `{key}` is not a mapping"
        ));
    }
    let text = |k: &str| node.get(k).filter(|n| !n.is_null()).and_then(scalar_text);
    let extra_opts = match node.get("extra_opts").map(|n| &n.value) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Str(s)) => s.split_whitespace().map(String::from).collect(),
        Some(Value::Seq(items)) => items
            .iter()
            .map(|n| scalar_text(n).ok_or_else(|| format!("`{key}.extra_opts` must be strings")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("`{key}.extra_opts` must be a list of strings")),
    };
    let cmd = match node.get("cmd").map(|n| &n.value) {
        None | Some(Value::Null) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(Value::Seq(items)) => Some(
            items
                .iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Some(_) => return Err(format!("`{key}.cmd` must be a string")),
    };
    let partition = match node.get("partition") {
        None => "any".to_string(),
        Some(n) if n.is_null() => "None".to_string(),
        Some(n) => {
            scalar_text(n).ok_or_else(|| format!("`{key}.partition` must be text or a number"))?
        }
    };
    Ok(FsEntry {
        label: text("label"),
        filesystem: text("filesystem"),
        device: text("device"),
        partition,
        overwrite: flag(&format!("{key}.overwrite"), node.get("overwrite"))?,
        replace_fs: text("replace_fs"),
        extra_opts,
        cmd,
    })
}

/// cloud-init's `update_disk_setup_devices`: each key through the alias function; a
/// renamed entry moves to the end (a Python dict's reinsertion) and replaces an entry
/// already named as its device.
pub fn resolve_disks(
    entries: Vec<DiskEntry>,
    to_device: &mut dyn FnMut(&str) -> Option<String>,
) -> Vec<DiskEntry> {
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    let mut out: Vec<(String, DiskEntry)> =
        entries.into_iter().map(|e| (e.name.clone(), e)).collect();
    for name in names {
        let Some(dev) = to_device(&name).filter(|d| *d != name) else {
            continue;
        };
        let Some(at) = out.iter().position(|(k, _)| *k == name) else {
            continue;
        };
        let (_, mut entry) = out.remove(at);
        out.retain(|(k, _)| *k != dev);
        entry.device = dev.clone();
        out.push((dev, entry));
    }
    out.into_iter().map(|(_, e)| e).collect()
}

/// cloud-init's `update_fs_setup_devices`: `name.N` is the alias function's device of
/// `name` and partition N (the partition key then loses to N).
pub fn resolve_fs(entry: &mut FsEntry, to_device: &mut dyn FnMut(&str) -> Option<String>) {
    let Some(orig) = entry.device.clone() else {
        return;
    };
    let (dev, part) = match orig.rsplit_once('.') {
        Some((d, p)) => (d.to_string(), Some(p.to_string())),
        None => (orig.clone(), None),
    };
    if let Some(found) = to_device(&dev) {
        entry.device = Some(found);
    }
    if let Some(part) = part {
        entry.partition = part;
    }
}
