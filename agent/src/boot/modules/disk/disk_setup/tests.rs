use super::*;
use crate::cloudconfig::Node;
use std::fs;
use std::path::Path;

/// One block device of a test machine.
#[derive(Clone)]
struct Dev {
    name: &'static str,
    parent: Option<&'static str>,
    fstype: &'static str,
    label: &'static str,
    part_type: &'static str,
}

fn disk(name: &'static str) -> Dev {
    Dev {
        name,
        parent: None,
        fstype: "",
        label: "",
        part_type: "",
    }
}

fn part(name: &'static str, parent: &'static str) -> Dev {
    Dev {
        parent: Some(parent),
        part_type: "0x83",
        ..disk(name)
    }
}

fn with_fs(mut d: Dev, fstype: &'static str, label: &'static str) -> Dev {
    d.fstype = fstype;
    d.label = label;
    d
}

/// Disks are 1 GiB (2097152 sectors of 512 bytes).
fn machine(dir: &Path, devs: &[Dev]) -> MachineView {
    let view = MachineView::at(dir);
    let w = |p: &str, text: &str| {
        let p = view.path(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    };
    for (i, d) in devs.iter().enumerate() {
        let sys = match d.parent {
            None => format!("/sys/block/{}", d.name),
            Some(p) => format!("/sys/block/{p}/{}", d.name),
        };
        let number = format!("202:{}", i * 16);
        w(&format!("{sys}/dev"), &format!("{number}\n"));
        match d.parent {
            None => w(&format!("{sys}/size"), "2097152\n"),
            Some(_) => {
                let digits =
                    d.name.len() - d.name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                w(
                    &format!("{sys}/partition"),
                    &format!("{}\n", &d.name[d.name.len() - digits..]),
                )
            }
        }
        w(&format!("/dev/{}", d.name), "");
        let mut db = String::new();
        for (k, v) in [
            ("ID_FS_TYPE", d.fstype),
            ("ID_FS_LABEL", d.label),
            ("ID_PART_ENTRY_TYPE", d.part_type),
        ] {
            if !v.is_empty() {
                db.push_str(&format!("E:{k}={v}\n"));
            }
        }
        w(&format!("/run/udev/data/b{number}"), &db);
    }
    view
}

fn yaml(text: &str) -> Node {
    crate::cloudconfig::load(text).unwrap()
}

fn fs_entry(text: &str) -> FsEntry {
    parse_fs(0, &yaml(text)).unwrap()
}

fn disk_entry(device: &str, text: &str) -> DiskEntry {
    parse_disk(device, &yaml(text)).unwrap()
}

fn all(p: &str) -> bool {
    p != "mkfs.swap"
}

fn shown(planned: Result<Planned, String>) -> String {
    match planned {
        Ok(Planned::Steps { steps, .. }) => steps
            .iter()
            .map(Step::shown)
            .collect::<Vec<_>>()
            .join(" | "),
        Ok(Planned::Skip(why)) => format!("skip: {why}"),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn layouts_as_cloud_init_computes_them() {
    let size = 2097152.0;
    let parts = |t: &str| parse_layout("l", Some(&yaml(t))).unwrap();
    assert_eq!(mbr_layout(size, &Layout::Whole).unwrap(), ",,83");
    assert_eq!(
        mbr_layout(size, &parts("[33, [66, 82]]")).unwrap(),
        ",692060,83\n,,82"
    );
    assert_eq!(
        mbr_layout(size, &parts("[10, 10, 10, 10, 60]")).unwrap_err(),
        "Only simply partitioning is allowed."
    );
    assert_eq!(
        gpt_layout(size, &parts("[[50, 82], 50]")),
        [
            (Some("82".to_string()), "0:+1048576".to_string()),
            (None, "0:0".to_string())
        ]
    );
    assert_eq!(
        gpt_layout(size, &Layout::Whole),
        [(None, "0:0".to_string())]
    );
    assert_eq!(parts("false"), Layout::Off);
    assert_eq!(parts("[]"), Layout::Off);
    assert_eq!(parts("Remove"), Layout::Remove);
    assert!(parse_layout("l", Some(&yaml("sometimes"))).is_err());
    assert!(parse_layout("l", Some(&yaml("[[1, 2, 3]]"))).is_err());
}

#[test]
fn an_empty_disk_is_partitioned_and_a_used_one_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let view = machine(
        dir.path(),
        &[
            disk("xvdb"),
            disk("xvdc"),
            part("xvdc1", "xvdc"),
            with_fs(disk("xvdd"), "xfs", ""),
        ],
    );
    let probe = Probe::new(&view);
    let plan = |dev: &str, text: &str| shown(plan_disk(&disk_entry(dev, text), &probe, &all));
    assert_eq!(
        plan("/dev/xvdb", "{layout: true}"),
        "udevadm settle | sfdisk --force /dev/xvdb <<< ',,83' | udevadm settle | partprobe /dev/xvdb | udevadm settle"
    );
    assert_eq!(
        plan("/dev/xvdb", "{table_type: gpt, layout: [[50, 82], 50]}"),
        "udevadm settle | sgdisk -Z /dev/xvdb | sgdisk -n 1:0:+1048576 /dev/xvdb | sgdisk -t 1:8200 /dev/xvdb | sgdisk -n 2:0:0 /dev/xvdb | udevadm settle | partprobe /dev/xvdb | udevadm settle"
    );
    // The layout already matches: nothing, even with overwrite.
    assert_eq!(
        plan("/dev/xvdc", "{layout: true, overwrite: true}"),
        "skip: /dev/xvdc: the partition layout matches"
    );
    assert_eq!(
        plan("/dev/xvdc", "{layout: [50, 50]}"),
        "skip: /dev/xvdc already has partitions (set overwrite: true to replace them)"
    );
    assert!(plan("/dev/xvdc", "{layout: [50, 50], overwrite: true}")
        .contains("sfdisk --force /dev/xvdc <<< ',1048576,83\\n,,83'"));
    assert_eq!(
        plan("/dev/xvdd", "{layout: true}"),
        "skip: /dev/xvdd already has a xfs filesystem (set overwrite: true to replace it)"
    );
    assert_eq!(
        plan("/dev/xvdc1", "{layout: true}"),
        "error: Device /dev/xvdc1 is not a disk device!"
    );
    assert_eq!(
        plan("/dev/xvdb", "{layout: false}"),
        "skip: /dev/xvdb: not to be partitioned"
    );
    assert!(
        plan("/dev/xvdz", "{layout: true}").starts_with("error: device /dev/xvdz did not exist")
    );
    assert_eq!(
        plan("/dev/xvdc", "{layout: remove}"),
        "udevadm settle | wipefs --all /dev/xvdc1 | zero the first and last MiB of /dev/xvdc | udevadm settle | partprobe /dev/xvdc | udevadm settle"
    );
    let no_partprobe = |p: &str| p != "partprobe";
    assert!(shown(plan_disk(
        &disk_entry("/dev/xvdb", "{layout: true}"),
        &probe,
        &no_partprobe
    ))
    .contains("blockdev --rereadpt /dev/xvdb"));
}

#[test]
fn filesystems_go_where_cloud_init_puts_them() {
    let dir = tempfile::tempdir().unwrap();
    let view = machine(
        dir.path(),
        &[
            disk("xvdb"),
            disk("xvdc"),
            part("xvdc1", "xvdc"),
            with_fs(part("xvdc2", "xvdc"), "ext4", "data"),
            disk("nvme1n1"),
            part("nvme1n1p1", "nvme1n1"),
        ],
    );
    let probe = Probe::new(&view);
    let plan = |text: &str| shown(plan_fs(&fs_entry(text), &probe, &all));
    // A whole disk gets the force flag; a partition only with overwrite.
    assert_eq!(
        plan("{device: /dev/xvdb, filesystem: xfs, label: scratch, partition: none}"),
        "udevadm settle | mkfs.xfs -L scratch -f /dev/xvdb"
    );
    assert_eq!(
        plan("{device: /dev/xvdc, filesystem: ext4, partition: 1, extra_opts: [-E, lazy_itable_init=1]}"),
        "udevadm settle | mkfs.ext4 -E lazy_itable_init=1 /dev/xvdc1"
    );
    assert_eq!(
        plan("{device: /dev/xvdc, filesystem: ext4, label: data, partition: 2}"),
        "skip: /dev/xvdc2 already has the ext4 filesystem labelled data"
    );
    assert_eq!(
        plan("{device: /dev/xvdc, filesystem: ext4, label: data, partition: 2, overwrite: true}"),
        "udevadm settle | mkfs.ext4 -L data -F /dev/xvdc2"
    );
    // auto and any walk the disk in order: a free partition before the match is
    // taken (as cloud-init's find_device_node); a match before any free one is kept.
    assert_eq!(
        plan("{device: /dev/xvdc, filesystem: ext4, label: data, partition: auto}"),
        "udevadm settle | mkfs.ext4 -L data /dev/xvdc1"
    );
    let mut probe = Probe::new(&view);
    probe.formatted("/dev/xvdc1", "xfs", "");
    assert_eq!(
        shown(plan_fs(
            &fs_entry("{device: /dev/xvdc, filesystem: ext4, label: data, partition: auto}"),
            &probe,
            &all
        )),
        "skip: /dev/xvdc2 already has the ext4 filesystem labelled data (partition: auto)"
    );
    let probe = Probe::new(&view);
    assert_eq!(
        plan("{device: /dev/xvdc, filesystem: xfs, label: logs}"),
        "udevadm settle | mkfs.xfs -L logs /dev/xvdc1"
    );
    assert_eq!(
        plan("{device: /dev/xvdc, filesystem: xfs, partition: any, replace_fs: ext4}"),
        "udevadm settle | mkfs.xfs /dev/xvdc1"
    );
    // nvme partitions take a `p` (cloud-init 25).
    assert_eq!(
        plan("{device: /dev/nvme1n1, filesystem: swap, label: swap, partition: 1}"),
        "udevadm settle | mkswap -L swap /dev/nvme1n1p1"
    );
    assert_eq!(
        plan("{device: /dev/xvdb, filesystem: vfat, label: EFI, partition: none}"),
        "udevadm settle | mkfs.vfat -n EFI /dev/xvdb"
    );
    assert_eq!(
        plan("{device: /dev/xvdb, label: x, partition: none, cmd: 'mkfs -t %(filesystem)s -L %(label)s %(device)s %%'}"),
        "udevadm settle | sh -c mkfs -t None -L x /dev/xvdb %"
    );
    assert_eq!(
        plan("{device: /dev/xvdc, filesystem: ext4, partition: 7}"),
        "skip: /dev/xvdc7 does not exist or is not a block device"
    );
    assert_eq!(
        plan("{device: /dev/xvdb, partition: none}"),
        "error: No way to create filesystem 'None'. fs_type or fs_cmd must be set."
    );
    let none = |_: &str| false;
    assert_eq!(
        shown(plan_fs(
            &fs_entry("{device: /dev/xvdb, filesystem: xfs, partition: none}"),
            &probe,
            &none
        )),
        "error: cannot create a xfs filesystem: mkfs.xfs is not installed (package xfsprogs)"
    );
}

#[test]
fn a_dry_run_sees_what_earlier_entries_would_have_made() {
    let dir = tempfile::tempdir().unwrap();
    let view = machine(dir.path(), &[disk("xvdb")]);
    let mut probe = Probe::new(&view);
    let entry = fs_entry("{device: /dev/xvdb, filesystem: ext4, label: data, partition: 1}");
    assert!(shown(plan_fs(&entry, &probe, &all)).starts_with("skip: /dev/xvdb1 does not exist"));
    probe.partitioned("/dev/xvdb", 2);
    assert_eq!(
        shown(plan_fs(&entry, &probe, &all)),
        "udevadm settle | mkfs.ext4 -L data /dev/xvdb1"
    );
    probe.formatted("/dev/xvdb1", "ext4", "data");
    assert!(shown(plan_fs(&entry, &probe, &all)).starts_with("skip: /dev/xvdb1 already has"));
    let auto = fs_entry("{device: /dev/xvdb, filesystem: xfs}");
    assert_eq!(
        shown(plan_fs(&auto, &probe, &all)),
        "udevadm settle | mkfs.xfs /dev/xvdb2"
    );
}

#[test]
fn aliases_and_dotted_names_as_cloud_init_resolves_them() {
    let entries = vec![
        disk_entry("/dev/xvdb", "{layout: true}"),
        disk_entry("my_alias", "{layout: [50, 50]}"),
        disk_entry("/dev/xvdc", "{layout: false}"),
    ];
    let mut to = |n: &str| match n {
        "my_alias" => Some("/dev/xvdc".to_string()),
        _ => None,
    };
    let out = resolve_disks(entries, &mut to);
    let names: Vec<(&str, &str)> = out
        .iter()
        .map(|e| (e.name.as_str(), e.device.as_str()))
        .collect();
    assert_eq!(
        names,
        [("/dev/xvdb", "/dev/xvdb"), ("my_alias", "/dev/xvdc")]
    );
    let mut e = fs_entry("{device: my_alias.2, partition: auto, filesystem: ext4}");
    resolve_fs(&mut e, &mut to);
    assert_eq!(
        (e.device.as_deref(), e.partition.as_str()),
        (Some("/dev/xvdc"), "2")
    );
    let mut e = fs_entry("{device: /dev/xvdb.1, filesystem: ext4}");
    resolve_fs(&mut e, &mut to);
    assert_eq!(
        (e.device.as_deref(), e.partition.as_str()),
        (Some("/dev/xvdb.1"), "1")
    );
    assert_eq!(fs_entry("{partition: null}").partition, "None");
    assert_eq!(fs_entry("{}").partition, "any");
    assert_eq!(
        format_cmd("a %(x)s", None, None, "d").unwrap_err(),
        "cmd `a %(x)s`: unknown name `x`"
    );
    assert!(format_cmd("a %s", None, None, "d").is_err());
}

#[test]
fn found_layouts_read_like_sfdisk_and_sgdisk() {
    let p = |t: &str| BlockDev {
        part_type: t.into(),
        ..BlockDev::default()
    };
    let parts = [p("0x83"), p("0x82"), p("0x5")];
    assert_eq!(found_layout(Table::Mbr, &parts), ["83", "82"]);
    let gpt = [
        p("0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
        p("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"),
    ];
    assert_eq!(found_layout(Table::Gpt, &gpt), ["83", "82"]);
    assert_eq!(found_layout(Table::Gpt, &parts[..1]), ["83"]);
    let want = parse_layout("l", Some(&yaml("[50, [50, 82]]"))).unwrap();
    assert!(layout_matches(&want, &found_layout(Table::Gpt, &gpt)));
    assert!(!layout_matches(&want, &["83".into(), "83".into()]));
    assert!(!layout_matches(&Layout::Whole, &[]));
}

/// The cloud-inits to compare with: Debian 12's 22.4 (the system's) and 25 (unpacked
/// where `STRAP_TEST_CLOUD_INIT_25` or the CI's cache says), each when importable.
fn cloud_inits() -> Vec<(&'static str, Option<String>)> {
    let newer = std::env::var("STRAP_TEST_CLOUD_INIT_25").unwrap_or_else(|_| {
        "/var/cache/strap-ci/cloud-init-25/usr/lib/python3/dist-packages".into()
    });
    [("22.4", None), ("25", Some(newer))]
        .into_iter()
        .filter(|(name, path)| {
            let mut cmd = std::process::Command::new("/usr/bin/python3");
            cmd.args(["-c", "import cloudinit.config.cc_disk_setup"]);
            if let Some(p) = path {
                cmd.env("PYTHONPATH", p);
            }
            let ok = cmd.output().is_ok_and(|o| o.status.success());
            if !ok {
                eprintln!("skipped for cloud-init {name}: not importable");
            }
            ok
        })
        .collect()
}

fn ask_cloud_init(
    pythonpath: &Option<String>,
    cases: &serde_json::Value,
) -> Vec<serde_json::Value> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloud-init/disk_setup_oracle.py");
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    if let Some(p) = pythonpath {
        cmd.env("PYTHONPATH", p);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// strap's commands in the oracle's form: those that change the disk.
fn changing(planned: Result<Planned, String>) -> serde_json::Value {
    let steps = match planned {
        Err(_) => return serde_json::json!({"error": true}),
        Ok(Planned::Skip(_)) => Vec::new(),
        Ok(Planned::Steps { steps, .. }) => steps,
    };
    let cmds: Vec<serde_json::Value> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Run { argv, input, .. } => {
                let p = argv[0].as_str();
                if p == "udevadm" || p == "partprobe" || argv.iter().any(|a| a == "--rereadpt") {
                    return None;
                }
                let mut v: Vec<serde_json::Value> =
                    argv.iter().map(|a| a.as_str().into()).collect();
                if let Some(text) = input {
                    v.push(serde_json::json!({"input": text}));
                }
                Some(v.into())
            }
            Step::ZeroEnds(_) => None,
        })
        .collect();
    serde_json::json!({"commands": cmds})
}

#[test]
fn commands_are_cloud_init_s() {
    let peers = cloud_inits();
    if peers.is_empty() {
        eprintln!("skipped: no cloud-init to compare with");
        return;
    }
    let a = vec![disk("xvdb")];
    let b = vec![
        disk("xvdc"),
        part("xvdc1", "xvdc"),
        with_fs(part("xvdc2", "xvdc"), "ext4", "data"),
    ];
    let c = vec![disk("nvme1n1"), part("nvme1n1p1", "nvme1n1")];
    let d = vec![with_fs(disk("xvdd"), "xfs", "")];
    // (machine, kind, device for mkpart, config, the oldest cloud-init that agrees)
    let cases: Vec<(&[Dev], &str, &str, &str, &str)> = vec![
        (&a, "mkfs", "", "{device: /dev/xvdb, filesystem: xfs, label: scratch, partition: none}", "22.4"),
        (&a, "mkfs", "", "{device: /dev/xvdb, filesystem: ext4, label: data}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: ext4, partition: 1, extra_opts: [-E, lazy_itable_init=1]}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: ext4, label: data, partition: 2}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: ext4, label: data, partition: 2, overwrite: true}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: ext4, label: data, partition: auto}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: ext4, partition: any}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: xfs, partition: any, replace_fs: ext4}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: btrfs, label: b, partition: none, overwrite: true}", "22.4"),
        (&b, "mkfs", "", "{device: /dev/xvdc, filesystem: ext4, partition: 7}", "25"),
        (&c, "mkfs", "", "{device: /dev/nvme1n1, filesystem: swap, label: swap, partition: 1}", "25"),
        (&a, "mkfs", "", "{device: /dev/xvdb, label: x, partition: none, cmd: 'mkfs -t %(filesystem)s -L %(label)s %(device)s'}", "22.4"),
        (&d, "mkfs", "", "{device: /dev/xvdd, filesystem: xfs}", "22.4"),
        (&d, "mkfs", "", "{device: /dev/xvdd, filesystem: ext4, partition: none}", "22.4"),
        (&a, "mkfs", "", "{device: /dev/xvdb, partition: none}", "22.4"),
        (&a, "mkpart", "/dev/xvdb", "{layout: true}", "25"),
        (&a, "mkpart", "/dev/xvdb", "{layout: [33, [66, 82]]}", "25"),
        (&a, "mkpart", "/dev/xvdb", "{table_type: gpt, layout: [[50, 82], 50]}", "22.4"),
        (&a, "mkpart", "/dev/xvdb", "{table_type: gpt, layout: [25, 25, [50, 8e00]]}", "22.4"),
        (&a, "mkpart", "/dev/xvdb", "{table_type: gpt, layout: true}", "22.4"),
        (&a, "mkpart", "/dev/xvdb", "{layout: [10, 10, 10, 10, 60]}", "22.4"),
        (&b, "mkpart", "/dev/xvdc", "{layout: [50, 50]}", "22.4"),
        (&b, "mkpart", "/dev/xvdc", "{layout: [50, 50, 50]}", "22.4"),
        (&b, "mkpart", "/dev/xvdc", "{layout: [50, 50, 50], overwrite: true}", "25"),
        (&b, "mkpart", "/dev/xvdc", "{table_type: gpt, layout: [[50, 83], [50, 82]]}", "22.4"),
        (&b, "mkpart", "/dev/xvdc", "{table_type: gpt, layout: [[50, 83], [50, 82]], overwrite: true}", "22.4"),
        (&d, "mkpart", "/dev/xvdd", "{layout: true}", "22.4"),
    ];
    let mut questions = Vec::new();
    let mut ours = Vec::new();
    for (devs, kind, device, config, _) in &cases {
        let dir = tempfile::tempdir().unwrap();
        let view = machine(dir.path(), devs);
        let probe = Probe::new(&view);
        let node = yaml(config);
        let json_devs: Vec<serde_json::Value> = devs
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name,
                    "type": if d.parent.is_some() { "part" } else { "disk" },
                    "parent": d.parent,
                    "fstype": d.fstype,
                    "label": d.label,
                    "mbr_id": d.part_type.trim_start_matches("0x"),
                })
            })
            .collect();
        let cfg = node.to_json();
        if *kind == "mkfs" {
            ours.push(changing(plan_fs(
                &parse_fs(0, &node).unwrap(),
                &probe,
                &all,
            )));
            questions.push(serde_json::json!({"kind": "mkfs", "cfg": cfg, "devices": json_devs}));
        } else {
            let entry = parse_disk(device, &node).unwrap();
            ours.push(changing(plan_disk(&entry, &probe, &all)));
            questions.push(serde_json::json!({
                "kind": "mkpart", "device": device, "definition": cfg,
                "devices": json_devs, "bytes": 1u64 << 30,
            }));
        }
    }
    let questions = serde_json::Value::Array(questions);
    let mut failures = Vec::new();
    for (name, path) in &peers {
        let answers = ask_cloud_init(path, &questions);
        for (((_, _, _, config, since), ours), theirs) in cases.iter().zip(&ours).zip(&answers) {
            if *name == "22.4" && *since == "25" {
                continue;
            }
            let same = match (ours.get("error"), theirs.get("error")) {
                (Some(_), Some(_)) => true,
                _ => ours == theirs,
            };
            if !same {
                failures.push(format!(
                    "cloud-init {name}, {config}:\n  strap: {ours}\n  cloud-init: {theirs}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_real_run_runs_each_step_and_a_failed_entry_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let view = machine(dir.path(), &[disk("xvdb"), disk("xvdc")]);
    let disks = vec![
        disk_entry("/dev/xvdb", "{layout: true}"),
        disk_entry("/dev/xvdc", "{table_type: gpt, layout: true}"),
    ];
    let fss = vec![
        fs_entry("{device: /dev/xvdb, partition: 1, filesystem: ext4, label: data}"),
        fs_entry("{device: /dev/xvdb, partition: 1, filesystem: ext4, label: data}"),
        fs_entry("{device: /dev/xvdc, partition: none, filesystem: xfs}"),
    ];
    let mut ran = Vec::new();
    // sfdisk makes the partition the kernel then shows; sgdisk is not installed.
    let has = |p: &str| p != "sgdisk" && p != "partprobe";
    let done = apply(&disks, &fss, &view, None, &has, &mut |step| {
        ran.push(step.shown());
        if matches!(step, Step::Run { argv, .. } if argv[0] == "sfdisk") {
            fs::create_dir_all(dir.path().join("sys/block/xvdb/xvdb1")).unwrap();
            fs::write(dir.path().join("dev/xvdb1"), "").unwrap();
        }
        if step.shown().starts_with("mkfs.xfs") {
            return Err("`mkfs.xfs -f /dev/xvdc` failed (exit code 1)".into());
        }
        Ok(())
    });
    assert_eq!(
        ran,
        [
            "udevadm settle",
            "sfdisk --force /dev/xvdb <<< ',,83'",
            "udevadm settle",
            "blockdev --rereadpt /dev/xvdb",
            "udevadm settle",
            "udevadm settle",
            "mkfs.ext4 -L data /dev/xvdb1",
            "udevadm settle",
            "mkfs.xfs -f /dev/xvdc",
        ]
    );
    assert_eq!(
        done.failures,
        [
            "disk_setup `/dev/xvdc`: sgdisk is not installed (package gdisk)",
            "fs_setup `/dev/xvdc`: `mkfs.xfs -f /dev/xvdc` failed (exit code 1)",
        ]
    );
    assert_eq!(
        done.lines,
        [
            "disk_setup `/dev/xvdb`: done on /dev/xvdb (`sfdisk --force /dev/xvdb <<< ',,83'`)",
            "fs_setup `/dev/xvdb`: done on /dev/xvdb1 (`mkfs.ext4 -L data /dev/xvdb1`)",
            "fs_setup `/dev/xvdb`: skipped: /dev/xvdb1 already has the ext4 filesystem labelled data",
        ]
    );
    assert!(done.ran_any);
}
