//! `strap plan` and `strap apply` end to end, under temporary roots: a first boot, then
//! changed user data planned (text snapshot and JSON), applied (the result on disk), and
//! planned again (no changes); a killed apply resumed; bad input; the boot noticing the
//! change by itself.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use strap_e2e::{code, command, stderr, stdout};

use super::boot::{filter, Machine};

const FIRST: &str = r#"#cloud-config
hostname: web1
write_files:
  - path: /etc/app.conf
    content: |
      a=1
      b=2
  - path: /etc/keep.conf
    content: keep
users:
  - name: alice
    ssh_authorized_keys: [ssh-ed25519 AAAAkey1 alice@one]
runcmd:
  - echo first >> "$STRAP_ROOT/ran"
"#;

/// strap with the seed as the source and the machine's root.
fn strap(m: &Machine, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command("strap");
    cmd.args(args)
        .arg("--seed")
        .arg(&m.seed)
        .arg("--root")
        .arg(&m.root)
        .env("STRAP_BOOT_ID", &m.boot_id);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn plan_json(m: &Machine, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", "--json"];
    args.extend_from_slice(extra);
    let out = strap(m, &args, &[]);
    assert!(matches!(code(&out), 0 | 2), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The module entry of a JSON plan.
fn module<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == name)
        .unwrap_or_else(|| panic!("no module {name} in {plan}"))
}

fn booted(user_data: &str) -> Machine {
    let m = Machine::new(user_data);
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    m
}

fn assert_no_changes(m: &Machine) {
    let out = strap(m, &["plan"], &[]);
    assert_eq!(
        code(&out),
        0,
        "a second plan shows no changes:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
}

/// A package manager that logs its arguments to `pm.log` beside the root and exits with
/// the status in `pm.status` (0 when missing), or kills strap when that says `kill`.
fn stub_package_manager(m: &Machine) -> String {
    let dir = m.root.parent().unwrap();
    let pm = dir.join("apt-get");
    fs::write(
        &pm,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\nst=$(cat {status} 2>/dev/null || echo 0)\n[ \"$st\" = kill ] && kill -9 $PPID\nexit $st\n",
            log = dir.join("pm.log").display(),
            status = dir.join("pm.status").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&pm, fs::Permissions::from_mode(0o755)).unwrap();
    pm.display().to_string()
}

#[test]
fn unchanged_user_data_plans_nothing_and_applies_nothing() {
    let m = booted(FIRST);
    assert_no_changes(&m);
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Nothing to apply"),
        "{}",
        stdout(&out)
    );
    let record: serde_json::Value =
        serde_json::from_str(&m.read("/var/lib/strap/instances/i-0aaaaaaaaaaaaaaa1/applied.json"))
            .unwrap();
    assert_eq!(record["version"], 1);
    let mode = fs::metadata(m.path("/var/lib/strap/instances/i-0aaaaaaaaaaaaaaa1/applied.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the record may hold passwords");
    let files = &record["modules"]["write_files"]["state"]["resources"];
    assert_eq!(files[0]["path"], "/etc/app.conf");
    assert_eq!(files[0]["created"], true, "{files}");
}

#[test]
fn files_added_changed_and_chmoded() {
    let m = booted(FIRST);
    m.set_user_data(&FIRST.replace(
        "  - path: /etc/app.conf\n    content: |\n      a=1\n      b=2\n",
        "  - path: /etc/app.conf\n    permissions: '0600'\n    content: |\n      a=1\n      b=3\n  - path: /etc/new.conf\n    content: new\n",
    ));
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    insta::assert_snapshot!("plan_files", filter(&stdout(&out), &m));
    let plan = plan_json(&m, &[]);
    assert_eq!(plan["user_data_changed"], true);
    let wf = module(&plan, "write_files");
    assert_eq!(wf["action"], "apply");
    let changes = wf["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{wf}");
    assert_eq!(changes[0]["op"], "change");
    assert_eq!(changes[0]["resource"], "file /etc/app.conf");
    assert_eq!(changes[0]["details"][1], "mode 0644 → 0600");
    assert!(changes[0]["diff"].as_str().unwrap().contains("-b=2\n+b=3"));
    assert_eq!(changes[1]["op"], "create");
    assert_eq!(plan["summary"]["create"], 1);
    assert_eq!(plan["summary"]["change"], 1);

    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(m.read("/etc/app.conf"), "a=1\nb=3\n");
    assert_eq!(m.read("/etc/new.conf"), "new");
    let mode = fs::metadata(m.path("/etc/app.conf"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_no_changes(&m);
    // The apply is in the records: strap.log, status --long, analyze.
    assert!(m
        .read("/var/log/strap.log")
        .contains("finish: apply/config-write_files: SUCCESS"));
    let long = m.strap(&["status", "--long"]);
    assert!(
        stdout(&long).contains("applied: [write_files]"),
        "{}",
        stdout(&long)
    );
    let analyze = m.strap(&["analyze"]);
    assert!(
        stdout(&analyze).contains("apply/config-write_files"),
        "{}",
        stdout(&analyze)
    );
}

#[test]
fn users_added_keyed_and_pruned() {
    let m = booted(FIRST);
    m.set_user_data(&FIRST.replace(
        "    ssh_authorized_keys: [ssh-ed25519 AAAAkey1 alice@one]\n",
        "    ssh_authorized_keys: [ssh-ed25519 AAAAkey1 alice@one, ssh-ed25519 AAAAkey2 alice@two]\n  - name: bob\n",
    ));
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    insta::assert_snapshot!("plan_users", filter(&stdout(&out), &m));
    let plan = plan_json(&m, &[]);
    let ug = module(&plan, "users_groups");
    assert_eq!(ug["changes"][0]["resource"], "user alice");
    assert_eq!(ug["changes"][0]["details"][0], "ssh_authorized_keys +1");
    assert_eq!(ug["changes"][1]["op"], "create");
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        m.read("/etc/passwd").contains("\nbob:x:"),
        "{}",
        m.read("/etc/passwd")
    );
    let keys = m.read("/home/alice/.ssh/authorized_keys");
    assert_eq!(keys.matches("AAAAkey1").count(), 1, "{keys}");
    assert_eq!(keys.matches("AAAAkey2").count(), 1, "{keys}");
    assert_no_changes(&m);

    // bob goes away: without --prune the plan says so and leaves him.
    m.set_user_data(&FIRST.replace(
        "    ssh_authorized_keys: [ssh-ed25519 AAAAkey1 alice@one]\n",
        "    ssh_authorized_keys: [ssh-ed25519 AAAAkey1 alice@one, ssh-ed25519 AAAAkey2 alice@two]\n",
    ));
    let plan = plan_json(&m, &[]);
    let removal = &module(&plan, "users_groups")["changes"][0];
    assert_eq!(removal["op"], "remove");
    assert_eq!(removal["prune"], false);
    let plan = plan_json(&m, &["--prune"]);
    assert_eq!(module(&plan, "users_groups")["changes"][0]["prune"], true);
    let out = strap(&m, &["apply", "--yes", "--prune"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    for file in ["/etc/passwd", "/etc/shadow", "/etc/group"] {
        assert!(!m.read(file).contains("bob:"), "{file}: {}", m.read(file));
    }
    assert!(m.read("/etc/passwd").contains("alice:"));
    assert_no_changes(&m);
}

#[test]
fn a_user_strap_did_not_make_is_never_pruned_and_one_removed_by_hand_comes_back() {
    let m = Machine::new(FIRST);
    m.write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ncarol:x:1500:1500::/home/carol:/bin/sh\n",
    );
    m.write("/etc/group", "root:x:0:\ncarol:x:1500:\n");
    m.set_user_data(&FIRST.replace("  - name: alice\n", "  - name: carol\n  - name: alice\n"));
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    m.set_user_data(FIRST);
    let out = strap(&m, &["apply", "--yes", "--prune"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("was there before strap: never removed"),
        "{}",
        stdout(&out)
    );
    assert!(
        m.read("/etc/passwd").contains("carol:"),
        "carol predates strap"
    );

    // alice removed by hand: the plan creates her again.
    let passwd = m.read("/etc/passwd");
    let without: String = passwd
        .lines()
        .filter(|l| !l.starts_with("alice:"))
        .map(|l| format!("{l}\n"))
        .collect();
    m.write("/etc/passwd", &without);
    let plan = plan_json(&m, &[]);
    let c = &module(&plan, "users_groups")["changes"][0];
    assert_eq!(c["op"], "create");
    assert!(
        c["details"][0]
            .as_str()
            .unwrap()
            .contains("removed by hand"),
        "{c}"
    );
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(m.read("/etc/passwd").contains("alice:"));
    assert_no_changes(&m);
}

#[test]
fn a_package_added_with_a_stub_manager_and_a_failure_retried() {
    let m = booted(FIRST);
    let pm = stub_package_manager(&m);
    let dir = m.root.parent().unwrap().to_path_buf();
    m.set_user_data(&format!("{FIRST}packages: [jq]\n").replace("b=2", "b=5"));
    fs::write(dir.join("pm.status"), "100").unwrap();
    let out = strap(&m, &["apply", "--yes"], &[("STRAP_PACKAGE_MANAGER", &pm)]);
    assert_eq!(
        code(&out),
        1,
        "a failed step fails the apply: {}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("package_update_upgrade_install"),
        "{}",
        stdout(&out)
    );
    // The file step succeeded and is recorded: only the packages are left.
    assert_eq!(m.read("/etc/app.conf"), "a=1\nb=5\n");
    let plan = plan_json(&m, &[]);
    let modules: Vec<&str> = plan["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["package_update_upgrade_install"], "{plan}");
    assert!(
        module(&plan, "package_update_upgrade_install")["last_failed"]
            .as_str()
            .unwrap()
            .contains("install jq")
    );
    fs::write(dir.join("pm.status"), "0").unwrap();
    fs::remove_file(dir.join("pm.log")).unwrap();
    let out = strap(&m, &["apply", "--yes"], &[("STRAP_PACKAGE_MANAGER", &pm)]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let log = fs::read_to_string(dir.join("pm.log")).unwrap();
    assert!(log.lines().last().unwrap().ends_with("install jq"), "{log}");
    assert_no_changes(&m);
}

#[test]
fn a_killed_apply_resumes_where_it_stopped() {
    let m = booted(FIRST);
    let pm = stub_package_manager(&m);
    let dir = m.root.parent().unwrap().to_path_buf();
    m.set_user_data(
        &format!("{FIRST}packages: [jq]\n").replace("hostname: web1", "hostname: web2"),
    );
    fs::write(dir.join("pm.status"), "kill").unwrap();
    let out = strap(&m, &["apply", "--yes"], &[("STRAP_PACKAGE_MANAGER", &pm)]);
    assert_ne!(code(&out), 0, "killed: {}", stderr(&out));
    // The steps before the kill (the hostname) are recorded; the packages are not.
    assert_eq!(m.read("/etc/hostname").trim(), "web2");
    let plan = plan_json(&m, &[]);
    assert_eq!(plan["modules"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(
        plan["modules"][0]["module"],
        "package_update_upgrade_install"
    );
    fs::write(dir.join("pm.status"), "0").unwrap();
    let out = strap(&m, &["apply", "--yes"], &[("STRAP_PACKAGE_MANAGER", &pm)]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("1 module applied"),
        "{}",
        stdout(&out)
    );
    assert_no_changes(&m);
}

#[test]
fn passwords_never_reach_the_plan() {
    // No default user in this root: `password` is a warning (a degraded boot).
    let m = Machine::new(&format!(
        "{}password: old-secret-1\nchpasswd: {{expire: false}}\n",
        FIRST.replace("users:\n", "users:\n  - default\n")
    ));
    assert!(matches!(code(&m.run()), 0 | 2));
    m.set_user_data(&format!(
        "{}password: new-secret-2\nchpasswd: {{expire: false}}\n",
        FIRST.replace("users:\n", "users:\n  - default\n").replace(
            "  - name: alice\n",
            "  - name: alice\n    plain_text_passwd: new-secret-3\n"
        )
    ));
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let text = stdout(&out);
    let json = stdout(&strap(&m, &["plan", "--json"], &[]));
    for secret in ["old-secret-1", "new-secret-2", "new-secret-3"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!json.contains(secret), "{json}");
    }
    assert!(
        text.contains("~ key password: (secret) → (secret)"),
        "{text}"
    );
    assert!(text.contains("plain_text_passwd (secret)"), "{text}");
}

#[test]
fn a_hostname_change_is_applied() {
    let m = booted(FIRST);
    assert_eq!(m.read("/etc/hostname").trim(), "web1");
    m.set_user_data(&FIRST.replace("hostname: web1", "hostname: web2"));
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2);
    insta::assert_snapshot!("plan_hostname", filter(&stdout(&out), &m));
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(m.read("/etc/hostname").trim(), "web2");
    assert_no_changes(&m);
}

#[test]
fn runcmd_changes_rerun_only_when_asked() {
    let m = booted(FIRST);
    assert_eq!(m.ran(), ["first"]);
    m.set_user_data(&FIRST.replace("echo first", "echo second"));
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2);
    insta::assert_snapshot!("plan_runcmd", filter(&stdout(&out), &m));
    let plan = plan_json(&m, &[]);
    assert_eq!(module(&plan, "runcmd")["action"], "not-rerun");
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(m.ran(), ["first"], "not rerun without --rerun");
    // The new runcmd is recorded as applied without running, as a boot would leave it.
    assert_no_changes(&m);
    // --rerun still runs it (what changed, or all of it).
    let plan = plan_json(&m, &["--rerun", "runcmd"]);
    assert_eq!(module(&plan, "runcmd")["action"], "rerun");
    let out = strap(&m, &["apply", "--yes", "--rerun", "runcmd"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(m.ran(), ["first", "second"]);
    assert_no_changes(&m);
    // A reboot does not run it a third time.
    let mut m = m;
    m.reboot();
    assert_eq!(code(&m.run()), 0);
    assert_eq!(m.ran(), ["first", "second"]);
}

#[test]
fn a_file_changed_by_hand_is_a_conflict_until_forced() {
    let m = booted(FIRST);
    m.write("/etc/app.conf", "a=1\nb=2\nmine=1\n");
    m.set_user_data(&FIRST.replace("b=2", "b=9"));
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out).contains("! conflict: changed by hand since strap wrote it"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("-mine=1"),
        "the diff is against the file on disk: {}",
        stdout(&out)
    );
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("pass --force"), "{}", stderr(&out));
    assert_eq!(
        m.read("/etc/app.conf"),
        "a=1\nb=2\nmine=1\n",
        "nothing applied"
    );
    let out = strap(&m, &["apply", "--yes", "--force"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(m.read("/etc/app.conf"), "a=1\nb=9\n");
    assert_no_changes(&m);
}

#[test]
fn user_data_that_does_not_load_fails_the_plan_with_its_position() {
    let m = booted(FIRST);
    m.set_user_data("#cloud-config\nwrite_files:\n  - path: /x\n    content: [a\n");
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("part-001 line 5 column 1"),
        "{}",
        stderr(&out)
    );
    m.set_user_data("#cloud-config\nwrite_files: 3\n");
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("line 2 column 14: write_files: 3 is not of type 'array'"),
        "{}",
        stderr(&out)
    );
    // A user-data file for the last instance, without a metadata source.
    let file = m.root.parent().unwrap().join("new.txt");
    fs::write(&file, FIRST.replace("web1", "web7")).unwrap();
    let out = command("strap")
        .args(["plan", "--root"])
        .arg(&m.root)
        .arg("--user-data")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("~ key hostname: \"web1\" → \"web7\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn corrupt_or_newer_records_fall_back_to_everything_new() {
    let m = booted(FIRST);
    let record = "/var/lib/strap/instances/i-0aaaaaaaaaaaaaaa1/applied.json";
    m.write(record, "{not json");
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out).contains("warning: the record of what was applied"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("+ file /etc/app.conf"),
        "{}",
        stdout(&out)
    );
    m.write(
        record,
        r#"{"version": 99, "instance_id": "i-0aaaaaaaaaaaaaaa1"}"#,
    );
    let plan = plan_json(&m, &[]);
    assert!(
        plan["warnings"][0]
            .as_str()
            .unwrap()
            .contains("format version 99"),
        "{plan}"
    );
    // Applying rebuilds the record.
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_no_changes(&m);
}

#[test]
fn the_boot_reports_changed_user_data_and_applies_it_when_configured() {
    let mut m = booted(FIRST);
    m.set_user_data(&FIRST.replace("hostname: web1", "hostname: web2"));
    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "the user data changed since it was applied to this instance: 0 to create, 1 to change"
        ),
        "{}",
        stderr(&out)
    );
    let status = m.strap(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert!(
        status["user_data_changed"]
            .as_str()
            .unwrap()
            .contains("see `strap plan`"),
        "{status}"
    );
    assert_eq!(
        m.read("/etc/hostname").trim(),
        "web1",
        "plan only, by default"
    );

    m.write(
        "/etc/cloud/cloud.cfg.d/90-apply.cfg",
        "apply_changed_user_data: apply\n",
    );
    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.read("/etc/hostname").trim(), "web2", "applied at boot");
    let long = m.strap(&["status", "--long"]);
    assert!(
        stdout(&long).contains("applied at boot (apply_changed_user_data: apply)"),
        "{}",
        stdout(&long)
    );
    assert_no_changes(&m);
}

#[test]
fn disk_setup_and_fs_setup_are_planned_as_disks_and_filesystems() {
    let m = Machine::new("#cloud-config\nusers: []\n");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    m.set_user_data(
        "#cloud-config\nusers: []\ndisk_setup:\n  ephemeral0: {table_type: gpt, layout: [[50, 82], 50], overwrite: false}\nfs_setup:\n  - {device: ephemeral0, partition: auto, filesystem: xfs, label: data, extra_opts: [-K]}\n  - {device: /dev/xvdc, partition: none, filesystem: ext4}\n",
    );
    let plan = plan_json(&m, &[]);
    let disk = module(&plan, "disk_setup");
    assert_eq!(disk["action"], "not-live", "{disk}");
    let changes: Vec<String> = disk["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}: {}",
                c["op"].as_str().unwrap(),
                c["resource"].as_str().unwrap(),
                c["details"][0].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            "create disk ephemeral0: table gpt, layout [[50, 82], 50]",
            "create filesystem ephemeral0: xfs, label data, extra_opts -K",
            "create filesystem /dev/xvdc: ext4",
        ],
        "{disk}"
    );
}

/// A file whose content comes from a `source` is known by its source: the plan does not
/// fetch, the record holds what the boot wrote, a new mode is no conflict, a new URI is
/// a change fetched when applied, and a change by hand is still seen.
#[test]
fn a_file_from_a_source_is_planned_by_its_source() {
    let with = |uri: &str, mode: &str| {
        format!(
            "#cloud-config\nwrite_files:\n  - path: /etc/fetched\n    permissions: '{mode}'\n    source: {{uri: '{uri}?sig=topsecret'}}\n"
        )
    };
    let m = Machine::new(&with("file:///srv/src.txt", "0644"));
    m.write("/srv/src.txt", "from the source\n");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_no_changes(&m);
    let record = m.read("/var/lib/strap/instances/i-0aaaaaaaaaaaaaaa1/applied.json");
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let file = &record["modules"]["write_files"]["state"]["resources"][0];
    assert_eq!(file["sha256"], strap_sha256(b"from the source\n"), "{file}");
    assert_eq!(file["source_uri"], "file:///srv/src.txt", "{file}");

    // A new mode only: no conflict with the fetched content.
    m.set_user_data(&with("file:///srv/src.txt", "0600"));
    let plan = plan_json(&m, &[]);
    let change = &module(&plan, "write_files")["changes"][0];
    assert_eq!(
        change["details"],
        serde_json::json!(["mode 0644 → 0600"]),
        "{change}"
    );
    assert!(change["conflict"].is_null(), "{change}");
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_no_changes(&m);

    // A new URI: fetched when applied.
    m.write("/srv/other.txt", "from the other source\n");
    m.set_user_data(&with("file:///srv/other.txt", "0600"));
    let out = strap(&m, &["plan"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("content from file:///srv/other.txt (fetched when applied)"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("topsecret"), "{}", stdout(&out));
    let out = strap(&m, &["apply", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(m.read("/etc/fetched"), "from the other source\n");
    assert_no_changes(&m);

    // Changed by hand, then a new mode: a conflict, as for any file.
    m.write("/etc/fetched", "edited\n");
    m.set_user_data(&with("file:///srv/other.txt", "0640"));
    let plan = plan_json(&m, &[]);
    let change = &module(&plan, "write_files")["changes"][0];
    assert!(change["conflict"].is_string(), "{change}");
}

/// `sha256:<hex>`, as the record writes it (coreutils' `sha256sum` computes it).
fn strap_sha256(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}
