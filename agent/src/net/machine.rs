//! The network interfaces this machine has (`/sys/class/net` under the root): name, MAC,
//! driver, and whether it is a device at all (veths, bridges and the loopback have no
//! `device` link). Under `--root DIR` without a `DIR/sys/class/net`, the machine is not
//! inspected and every interface of the metadata is taken as present.

use std::path::Path;

use serde::Serialize;

use crate::context::Context;

/// One interface of the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub driver: Option<String>,
    /// Backed by a device (an ENI, a virtio NIC), not a virtual link.
    pub physical: bool,
}

/// What is known of the machine's interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inventory {
    /// Read from `/sys/class/net`.
    Seen(Vec<Nic>),
    /// Not inspected (a `--root` without `sys/class/net`): names are assumed.
    NotInspected,
}

impl Inventory {
    /// The interface with this MAC.
    pub fn by_mac(&self, mac: &str) -> Option<&Nic> {
        match self {
            Inventory::Seen(nics) => nics.iter().find(|n| n.mac.eq_ignore_ascii_case(mac)),
            Inventory::NotInspected => None,
        }
    }

    /// The interface with this name.
    pub fn by_name(&self, name: &str) -> Option<&Nic> {
        match self {
            Inventory::Seen(nics) => nics.iter().find(|n| n.name == name),
            Inventory::NotInspected => None,
        }
    }

    /// Whether the machine was inspected.
    pub fn inspected(&self) -> bool {
        matches!(self, Inventory::Seen(_))
    }
}

/// Read the root's `/sys/class/net`.
pub fn inventory(ctx: &Context) -> Inventory {
    let Ok(dir) = ctx.path("/sys/class/net") else {
        return Inventory::NotInspected;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Inventory::NotInspected;
    };
    let mut nics = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if let Some(nic) = read_nic(&name, &path) {
            nics.push(nic);
        }
    }
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    Inventory::Seen(nics)
}

fn read_nic(name: &str, path: &Path) -> Option<Nic> {
    let mac = std::fs::read_to_string(path.join("address"))
        .ok()?
        .trim()
        .to_ascii_lowercase();
    let device = path.join("device");
    let physical = std::fs::symlink_metadata(&device).is_ok();
    let driver = std::fs::read_link(device.join("driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    Some(Nic {
        name: name.to_string(),
        mac,
        driver,
        physical,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_are_read_from_the_roots_sys_class_net() {
        let root = tempfile::tempdir().unwrap();
        let ctx = Context::fixed(Vec::<(String, String)>::new(), root.path());
        assert_eq!(inventory(&ctx), Inventory::NotInspected);
        let eth0 = root.path().join("sys/class/net/eth0");
        std::fs::create_dir_all(eth0.join("device")).unwrap();
        std::fs::write(eth0.join("address"), "0E:49:61:0F:C3:11\n").unwrap();
        std::os::unix::fs::symlink("../../bus/drivers/ena", eth0.join("device/driver")).unwrap();
        let lo = root.path().join("sys/class/net/lo");
        std::fs::create_dir_all(&lo).unwrap();
        std::fs::write(lo.join("address"), "00:00:00:00:00:00\n").unwrap();
        let inv = inventory(&ctx);
        let nic = inv.by_mac("0e:49:61:0f:c3:11").unwrap();
        assert_eq!(nic.name, "eth0");
        assert_eq!(nic.driver.as_deref(), Some("ena"));
        assert!(nic.physical);
        assert!(!inv.by_name("lo").unwrap().physical);
    }
}
