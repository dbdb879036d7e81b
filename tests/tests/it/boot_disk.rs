//! The disk modules of `strap run` (growpart, resizefs, mounts with swap) end to end:
//! the real binary under a temporary root, with the machine's kernel tables replaced by a
//! folder (`STRAP_DISK_VIEW`) so that device resolution is the same on every machine.
//! Nothing is ever run on the disks: under `--root` the modules record what they would.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;

use strap_e2e::{code, command, stdout};

struct Machine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    seed: PathBuf,
    view: PathBuf,
}

impl Machine {
    fn new(user_data: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let m = Self {
            root: dir.path().join("root"),
            seed: dir.path().join("seed"),
            view: dir.path().join("machine"),
            _dir: dir,
        };
        fs::create_dir_all(&m.root).unwrap();
        m.set_instance("i-0d15c0000000000001");
        fs::write(m.seed.join("latest/user-data"), user_data).unwrap();
        m.make_view();
        m
    }

    fn set_instance(&self, id: &str) {
        let doc = self.seed.join("latest/dynamic/instance-identity/document");
        fs::create_dir_all(doc.parent().unwrap()).unwrap();
        fs::write(
            doc,
            serde_json::json!({"instanceId": id, "region": "eu-west-1"}).to_string(),
        )
        .unwrap();
    }

    /// A Xen-style machine: root on /dev/xvda1 (ext4), a second disk xvdb (the
    /// instance store, `ephemeral0` in the metadata) and a third, xvdc, with one
    /// partition.
    fn make_view(&self) {
        let w = |p: &str, text: &str| {
            let p = self.view.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        w(
            "proc/self/mountinfo",
            "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
             27 1 202:1 / / rw,relatime - ext4 /dev/xvda1 rw,discard\n",
        );
        w("proc/cmdline", "root=LABEL=cloudimg-rootfs ro\n");
        w("proc/meminfo", "MemTotal:        1048576 kB\n");
        let devices = "sys/devices/vbd-51712/block";
        w(&format!("{devices}/xvda/dev"), "202:0\n");
        w(&format!("{devices}/xvda/xvda1/partition"), "1\n");
        fs::create_dir_all(self.view.join("sys/class/block")).unwrap();
        symlink(
            "../../devices/vbd-51712/block/xvda/xvda1",
            self.view.join("sys/class/block/xvda1"),
        )
        .unwrap();
        for p in [
            "sys/block/xvda/xvda1",
            "sys/block/xvdb",
            "sys/block/xvdc/xvdc1",
        ] {
            fs::create_dir_all(self.view.join(p)).unwrap();
        }
        for d in ["xvda", "xvda1", "xvdb", "xvdc", "xvdc1"] {
            w(&format!("dev/{d}"), "");
        }
        // The metadata maps ephemeral0 to sdb, which the kernel calls xvdb.
        let bdm = self.seed.join("latest/meta-data/block-device-mapping");
        fs::create_dir_all(&bdm).unwrap();
        fs::write(bdm.join("ephemeral0"), "sdb").unwrap();
        fs::write(bdm.join("root"), "/dev/sda1").unwrap();
    }

    fn run(&self, boot_id: &str) -> Output {
        command("strap")
            .arg("run")
            .arg("--seed")
            .arg(&self.seed)
            .arg("--root")
            .arg(&self.root)
            .env("STRAP_BOOT_ID", boot_id)
            .env("STRAP_DISK_VIEW", &self.view)
            .output()
            .unwrap()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn read(&self, p: &str) -> String {
        fs::read_to_string(self.path(p)).unwrap_or_default()
    }

    fn items(&self, name: &str) -> Vec<serde_json::Value> {
        let report: serde_json::Value =
            serde_json::from_str(&self.read("/var/lib/strap/data/report.json")).unwrap();
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["name"] == name)
            .cloned()
            .collect()
    }

    fn item(&self, name: &str) -> serde_json::Value {
        self.items(name)
            .pop()
            .unwrap_or_else(|| panic!("no item {name} in the report"))
    }

    fn status_long(&self) -> String {
        let out = command("strap")
            .args(["status", "--long", "--root"])
            .arg(&self.root)
            .output()
            .unwrap();
        stdout(&out)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const DISKS: &str = r#"#cloud-config
users: []
mounts:
  - [ xvdc, /data ]
  - [ "UUID=5e3c", /srv, xfs, "defaults,noatime", "0", "0" ]
  - [ "files:/export", /nfs, nfs ]
swap:
  filename: /swapfile
  size: 64M
"#;

const OLD_FSTAB: &str = "LABEL=cloudimg-rootfs\t/\text4\tdiscard,errors=remount-ro\t0 1\n\
/dev/xvdz\t/old\tauto\tdefaults,comment=cloudconfig\t0\t2\n\
# kept as it is\n";

#[test]
fn fstab_is_written_and_disk_commands_are_recorded_not_run() {
    let m = Machine::new(DISKS);
    fs::create_dir_all(m.path("/etc")).unwrap();
    fs::write(m.path("/etc/fstab"), OLD_FSTAB).unwrap();
    let out = m.run("b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let opts = "defaults,nobootwait,comment=cloudconfig";
    let want = format!(
        "LABEL=cloudimg-rootfs\t/\text4\tdiscard,errors=remount-ro\t0 1\n\
         # kept as it is\n\
         /dev/xvdc1\t/data\tauto\t{opts}\t0\t2\n\
         UUID=5e3c\t/srv\txfs\tdefaults,noatime,comment=cloudconfig\t0\t0\n\
         files:/export\t/nfs\tnfs\t{opts}\t0\t2\n\
         /dev/xvdb\t/mnt\tauto\t{opts}\t0\t2\n\
         /swapfile\tnone\tswap\tsw,comment=cloudconfig\t0\t0\n"
    );
    let fstab = m.read("/etc/fstab");
    assert_eq!(fstab, want);
    for dir in ["/data", "/srv", "/nfs", "/mnt"] {
        assert!(m.path(dir).is_dir(), "{dir}");
    }
    // Under --root the swap file is not made; the commands are recorded.
    assert!(!m.path("/swapfile").exists());
    let mounts = m.item("config-mounts");
    assert_eq!(mounts["status"], "ran", "{mounts}");
    assert_eq!(mounts["frequency"], "once-per-instance");
    let tail: Vec<String> = mounts["output_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    let tail = tail.join("\n");
    assert!(
        tail.contains("would run `fallocate -l 64M /swapfile` (`dd` when it fails), chmod 600, `mkswap /swapfile`"),
        "{tail}"
    );
    assert!(tail.contains("would run `swapon -a`, `mount -a`"), "{tail}");
    assert!(
        tail.contains("fstab: - /dev/xvdz /old auto defaults,comment=cloudconfig 0 2"),
        "{tail}"
    );

    // growpart and resizefs resolve the root through the machine's tables and say what
    // they would run.
    let grow = m.item("config-growpart");
    assert_eq!(grow["status"], "skipped");
    assert_eq!(grow["frequency"], "always");
    let root = m.root.display().to_string();
    assert_eq!(
        grow["reason"],
        format!("under --root {root}: /: would run `growpart --dry-run /dev/xvda 1` then `growpart /dev/xvda 1`")
    );
    let resize = m.item("config-resizefs");
    assert_eq!(resize["status"], "skipped");
    assert_eq!(
        resize["reason"],
        format!("under --root {root}: would run `resize2fs /dev/xvda1` (ext4 on /)")
    );
    assert!(m.status_long().contains("errors: []"));

    // A reboot: growpart and resizefs come again, mounts (per instance) does not.
    let out = m.run("b2");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.item("config-growpart")["status"], "skipped");
    assert_eq!(
        m.item("config-mounts")["reason"],
        "already ran (once-per-instance)"
    );
    // A new instance: mounts runs again and the fstab stays the same.
    m.set_instance("i-0d15c0000000000002");
    let out = m.run("b3");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.item("config-mounts")["status"], "ran");
    assert_eq!(m.read("/etc/fstab"), want);
    assert!(m.item("config-mounts")["output_tail"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "fstab: no changes"));
}

#[test]
fn bad_disk_settings_are_reported_with_module_and_key() {
    let m = Machine::new(
        "#cloud-config\nusers: []\ngrowpart:\n  mode: sideways\nresize_rootfs: false\nswap: [ /swapfile ]\nmounts:\n  - sdc\n",
    );
    let out = m.run("b1");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let status = m.status_long();
    assert!(
        status.contains("growpart: cloud-config key `growpart.mode`: unknown resize mode `sideways`: use auto, growpart or off"),
        "{status}"
    );
    assert!(
        status.contains("mounts: cloud-config key `swap` (line 6) must be a mapping, not a list"),
        "{status}"
    );
    assert_eq!(m.item("config-growpart")["status"], "failed");
    assert_eq!(m.item("config-mounts")["status"], "failed");
    assert_eq!(
        m.item("config-resizefs")["reason"],
        "resizing disabled: resize_rootfs is false"
    );
    assert!(!m.path("/etc/fstab").exists());
}

#[test]
fn growpart_respects_growroot_disabled_and_unresolvable_devices_are_skipped() {
    let m = Machine::new(
        "#cloud-config\nusers: []\ngrowpart:\n  devices: [/, /dev/xvdb, /dev/nvme9n1p1]\n",
    );
    fs::create_dir_all(m.path("/etc")).unwrap();
    fs::write(m.path("/etc/growroot-disabled"), "").unwrap();
    let out = m.run("b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        m.item("config-growpart")["reason"],
        "growpart disabled: /etc/growroot-disabled exists (set growpart.ignore_growroot_disabled to grow anyway)"
    );

    fs::remove_file(m.path("/etc/growroot-disabled")).unwrap();
    let out = m.run("b2");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reason = m.item("config-growpart")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("/: would run `growpart --dry-run /dev/xvda 1`"),
        "{reason}"
    );
    assert!(
        reason.contains("/dev/xvdb: skipped: /dev/xvdb has no /sys/class/block/xvdb"),
        "{reason}"
    );
    assert!(
        reason.contains("/dev/nvme9n1p1: skipped: device /dev/nvme9n1p1 does not exist"),
        "{reason}"
    );
}

#[test]
fn a_root_on_overlay_is_skipped_with_the_reason() {
    let m = Machine::new("#cloud-config\nusers: []\n");
    fs::write(
        m.view.join("proc/self/mountinfo"),
        "1 0 0:50 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n",
    )
    .unwrap();
    let out = m.run("b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reason = |n: &str| m.item(n)["reason"].as_str().unwrap().to_string();
    assert!(
        reason("config-growpart")
            .ends_with("/: skipped: / is on overlay `overlay`, not on a block device"),
        "{}",
        reason("config-growpart")
    );
    assert!(
        reason("config-resizefs").starts_with("device /dev/overlay does not exist"),
        "{}",
        reason("config-resizefs")
    );
    // No mounts config and an ephemeral disk: only the /mnt default is written.
    assert_eq!(
        m.read("/etc/fstab"),
        "/dev/xvdb\t/mnt\tauto\tdefaults,nobootwait,comment=cloudconfig\t0\t2\n"
    );
}

#[test]
fn validate_no_longer_says_the_disk_keys_are_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ud.yaml");
    fs::write(&file, DISKS.replace("users: []\n", "growpart: {mode: auto}\nresize_rootfs: noblock\nmount_default_fields: [None, None, auto, defaults, '0', '2']\n")).unwrap();
    let out = command("strap")
        .args(["userdata", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "{text}");
    assert!(!text.contains("not run by strap"), "{text}");
    assert!(Path::new(&file).is_file());
}

/// The default `/mnt` line takes the built-in options, as cloud-init 25 does, whatever
/// `mount_default_fields` says; `strap_cloud_init_compat: "22.4"` in the image's system
/// config gives it `mount_default_fields`' options, as cloud-init 22.4 did.
#[test]
fn the_mnt_default_follows_cloud_init_25_unless_the_image_asks_for_22_4() {
    let user_data = "#cloud-config\nusers: []\nmounts:\n  - [ xvdc, /data ]\n\
                     mount_default_fields: [null, null, auto, 'defaults,noexec', '0', '2']\n";
    let builtin = "defaults,nobootwait,comment=cloudconfig";
    let theirs = "defaults,noexec,comment=cloudconfig";
    for (compat, mnt) in [(None, builtin), (Some("\"22.4\""), theirs)] {
        let m = Machine::new(user_data);
        if let Some(value) = compat {
            fs::create_dir_all(m.path("/etc/cloud/cloud.cfg.d")).unwrap();
            fs::write(
                m.path("/etc/cloud/cloud.cfg.d/90-compat.cfg"),
                format!("strap_cloud_init_compat: {value}\n"),
            )
            .unwrap();
        }
        let out = m.run("b1");
        assert_eq!(code(&out), 0, "{compat:?}: {}", stderr(&out));
        assert_eq!(
            m.read("/etc/fstab"),
            format!(
                "/dev/xvdc1\t/data\tauto\t{theirs}\t0\t2\n/dev/xvdb\t/mnt\tauto\t{mnt}\t0\t2\n"
            ),
            "{compat:?}"
        );
    }
}

const PARTITIONS: &str = r#"#cloud-config
users: []
device_aliases:
  scratch: ephemeral0
disk_setup:
  scratch:
    table_type: gpt
    layout: [[50, 82], 50]
  /dev/xvdc:
    layout: true
fs_setup:
  - {label: swap, filesystem: swap, device: scratch.1}
  - {label: data, filesystem: ext4, device: scratch.2}
  - {label: logs, filesystem: xfs, device: /dev/xvdc, partition: auto}
  - {label: data, filesystem: ext4, device: scratch.2}
mounts:
  - [ xvdc, /logs ]
"#;

#[test]
fn disk_setup_records_its_commands_before_mounts() {
    let m = Machine::new(PARTITIONS);
    // The instance store is 1 GiB.
    fs::write(m.view.join("sys/block/xvdb/size"), "2097152\n").unwrap();
    let out = m.run("b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let item = m.item("config-disk_setup");
    assert_eq!(item["status"], "skipped", "{item}");
    assert_eq!(item["frequency"], "once-per-instance");
    let root = m.root.display().to_string();
    // `scratch` is `ephemeral0` through the block-device-mapping (sdb → xvdb); renamed,
    // it moves after /dev/xvdc, as in cloud-init. /dev/xvdc already has a partition.
    // The filesystems go on the partitions the table would make; the second `data`
    // entry finds the first's filesystem.
    let want = [
        format!("under --root {root}: disk_setup `/dev/xvdc`: skipped: /dev/xvdc: the partition layout matches"),
        "disk_setup `scratch`: would run `udevadm settle`, `sgdisk -Z /dev/xvdb`, \
         `sgdisk -n 1:0:+1048576 /dev/xvdb`, `sgdisk -t 1:8200 /dev/xvdb`, \
         `sgdisk -n 2:0:0 /dev/xvdb`, `udevadm settle`, `partprobe /dev/xvdb`, `udevadm settle`"
            .to_string(),
        "fs_setup `/dev/xvdb`: would run `udevadm settle`, `mkswap -L swap /dev/xvdb1`".to_string(),
        "fs_setup `/dev/xvdb`: would run `udevadm settle`, `mkfs.ext4 -L data /dev/xvdb2`".to_string(),
        "fs_setup `/dev/xvdc`: would run `udevadm settle`, `mkfs.xfs -L logs /dev/xvdc1`".to_string(),
        "fs_setup `/dev/xvdb`: skipped: /dev/xvdb2 already has the ext4 filesystem labelled data"
            .to_string(),
    ];
    assert_eq!(item["reason"], want.join("; "));

    // mounts still runs, after it.
    let mounts = m.item("config-mounts");
    assert_eq!(mounts["status"], "ran", "{mounts}");
    assert!(m.read("/etc/fstab").contains("/dev/xvdc1\t/logs\tauto"));
    let report: serde_json::Value =
        serde_json::from_str(&m.read("/var/lib/strap/data/report.json")).unwrap();
    let names: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(at("config-resizefs") < at("config-disk_setup"));
    assert!(at("config-disk_setup") < at("config-mounts"));
    assert!(m.status_long().contains("errors: []"));
}
