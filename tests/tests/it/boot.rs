//! `strap run` end to end: the real binary booting under temporary roots, from a seed
//! folder (the metadata tree on disk), from `--local`, and from the real `imds-mock`:
//! every module, every frequency across simulated reboots (a new `STRAP_BOOT_ID`) and a
//! changed instance id, failures, crashes, and the records (`status`, `analyze`, `query`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What the network step costs on a one-interface instance: the `macs/` listing, then
/// the 3 leaves the lone (primary) interface is configured from, in one round
/// (addresses, subnet, IPv6 addresses).
const NET_ONE_ENI: u64 = 4;

use strap_e2e::{code, command, stderr, stdout, MockProcess};

/// A machine: a temporary root, and a seed folder for its metadata.
pub(crate) struct Machine {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) seed: PathBuf,
    pub(crate) boot_id: String,
}

impl Machine {
    pub(crate) fn new(user_data: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let seed = dir.path().join("seed");
        fs::create_dir_all(&root).unwrap();
        let m = Self {
            _dir: dir,
            root,
            seed,
            boot_id: "boot-1".into(),
        };
        m.set_instance("i-0aaaaaaaaaaaaaaa1");
        m.set_user_data(user_data);
        m
    }

    pub(crate) fn set_instance(&self, id: &str) {
        let doc = self.seed.join("latest/dynamic/instance-identity/document");
        fs::create_dir_all(doc.parent().unwrap()).unwrap();
        fs::write(
            &doc,
            serde_json::json!({
                "instanceId": id, "region": "eu-west-1", "availabilityZone": "eu-west-1a",
                "instanceType": "t3.micro", "imageId": "ami-0123", "privateIp": "10.0.0.5"
            })
            .to_string(),
        )
        .unwrap();
        let host = self.seed.join("latest/meta-data/local-hostname");
        fs::create_dir_all(host.parent().unwrap()).unwrap();
        fs::write(host, "ip-10-0-0-5.eu-west-1.compute.internal").unwrap();
    }

    pub(crate) fn set_user_data(&self, text: &str) {
        fs::create_dir_all(self.seed.join("latest")).unwrap();
        fs::write(self.seed.join("latest/user-data"), text).unwrap();
    }

    pub(crate) fn reboot(&mut self) {
        let n: u32 = self.boot_id.trim_start_matches("boot-").parse().unwrap();
        self.boot_id = format!("boot-{}", n + 1);
    }

    pub(crate) fn run_with(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = command("strap");
        cmd.arg("run")
            .arg("--seed")
            .arg(&self.seed)
            .arg("--root")
            .arg(&self.root)
            .args(extra)
            .env("STRAP_BOOT_ID", &self.boot_id);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    pub(crate) fn run(&self) -> Output {
        self.run_with(&[], &[])
    }

    pub(crate) fn strap(&self, args: &[&str]) -> Output {
        command("strap")
            .args(args)
            .arg("--root")
            .arg(&self.root)
            .output()
            .unwrap()
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    /// A file of the image (`/etc/os-release`, `/etc/cloud/cloud.cfg`).
    pub(crate) fn write(&self, p: &str, text: &str) {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    pub(crate) fn read(&self, p: &str) -> String {
        fs::read_to_string(self.path(p)).unwrap_or_default()
    }

    pub(crate) fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("/var/lib/strap/data/report.json")).unwrap()
    }

    pub(crate) fn item(&self, name: &str) -> serde_json::Value {
        self.report()["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no item {name} in the report"))
    }

    /// Lines a test's scripts appended to `$STRAP_ROOT/ran`.
    pub(crate) fn ran(&self) -> Vec<String> {
        self.read("/ran").lines().map(str::to_string).collect()
    }
}

/// Output with the temporary root and the dates filtered out, for snapshots.
pub(crate) fn filter(text: &str, m: &Machine) -> String {
    let root = m.root.display().to_string();
    text.replace(&root, "[ROOT]")
        .lines()
        .map(|l| {
            if l.starts_with("last_update: ") {
                "last_update: [DATE]".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const FREQUENCIES: &str = r#"#cloud-config
bootcmd:
  - echo bootcmd >> "$STRAP_ROOT/ran"
runcmd:
  - echo runcmd >> "$STRAP_ROOT/ran"
"#;

fn image_script(m: &Machine, which: &str) {
    let dir = m.path(&format!("/var/lib/strap/scripts/{which}"));
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join("10-record");
    fs::write(
        &p,
        format!("#!/bin/sh\necho {which} >> \"$STRAP_ROOT/ran\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn quick_start_example_boots_under_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/userdata/hello.yaml");
    let out = command("strap")
        .args(["run", "--local"])
        .arg(&example)
        .arg("--root")
        .arg(&root)
        .env("STRAP_BOOT_ID", "b1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("runcmd: hello from i-"), "{err}");
    assert!(err.contains("runcmd: motd: Booted by strap."), "{err}");
    assert_eq!(
        fs::read_to_string(root.join("etc/motd")).unwrap(),
        "Booted by strap.\n"
    );
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("demo:")), "{passwd}");
    let sudoers = fs::read_to_string(root.join("etc/sudoers.d/90-cloud-init-users")).unwrap();
    assert!(sudoers.contains("demo ALL=(ALL) NOPASSWD:ALL"));
    assert!(root.join("var/tmp/booted-at").is_file());
    use std::os::unix::fs::PermissionsExt;
    for log in ["var/log/strap.log", "var/log/strap-output.log"] {
        let mode = fs::metadata(root.join(log)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{log}");
    }
    let output_log = fs::read_to_string(root.join("var/log/strap-output.log")).unwrap();
    assert!(output_log.contains("Z runcmd: hello from"), "{output_log}");
    // Token, identity document and user data in one round trip, the hostname: 4.
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root.join("var/lib/strap/data/report.json")).unwrap(),
    )
    .unwrap();
    let before = report["imds_requests_before_first_script"]
        .as_u64()
        .unwrap();
    assert!(
        (3 + NET_ONE_ENI..=4 + NET_ONE_ENI).contains(&before),
        "{before} requests before the first script"
    );
}

#[test]
fn every_frequency_across_reboots_and_a_new_instance() {
    let mut m = Machine::new(FREQUENCIES);
    for which in ["per-boot", "per-instance", "per-once"] {
        image_script(&m, which);
    }
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        m.ran(),
        ["bootcmd", "per-once", "per-boot", "per-instance", "runcmd"]
    );

    // Run again in the same boot: nothing is due.
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.ran().len(), 5);
    assert_eq!(m.item("config-scripts_user")["status"], "skipped");

    // A reboot: per-boot work only.
    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.ran()[5..], ["bootcmd", "per-boot"]);

    // A new instance id (an image booted elsewhere): per-boot and per-instance work
    // again, not per-once.
    m.set_instance("i-0bbbbbbbbbbbbbbb2");
    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        m.ran()[7..],
        ["bootcmd", "per-boot", "per-instance", "runcmd"]
    );
    assert_eq!(
        m.read("/var/lib/strap/data/previous-instance-id"),
        "i-0aaaaaaaaaaaaaaa1\n"
    );
    assert_eq!(
        fs::read_link(m.path("/var/lib/strap/instance")).unwrap(),
        Path::new("instances/i-0bbbbbbbbbbbbbbb2")
    );
}

#[test]
fn a_failed_script_is_recorded_the_rest_runs_and_it_reruns_next_boot() {
    let m = Machine::new(
        "#cloud-config\nruncmd:\n  - echo runcmd >> \"$STRAP_ROOT/ran\"\n  - exit 3\nfinal_message: finished $version\n",
    );
    image_script(&m, "per-instance");
    let out = m.run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("finished 0.1.0"),
        "final_message still runs"
    );
    let item = m.item("scripts_user/runcmd");
    assert_eq!(item["status"], "failed");
    assert_eq!(item["exit_code"], 3);
    assert_eq!(m.item("config-scripts_user")["status"], "failed");

    let status = m.strap(&["status", "--long"]);
    assert_eq!(code(&status), 1);
    insta::assert_snapshot!("status_long_failed_script", filter(&stdout(&status), &m));

    // Same boot, run again: the per-instance script that succeeded does not rerun; the
    // failed runcmd has no marker and runs again.
    let out = m.run();
    assert_eq!(code(&out), 1);
    assert_eq!(m.ran(), ["per-instance", "runcmd", "runcmd"]);
}

#[test]
fn a_boot_killed_mid_script_resumes_without_rerunning_finished_work() {
    // The runcmd kills strap itself the first time, as a power loss would (and then
    // waits in its own process, which dies with strap: a `sleep` child left behind would
    // be ended by the next boot, with a warning).
    let m = Machine::new(
        "#cloud-config\nbootcmd:\n  - echo bootcmd >> \"$STRAP_ROOT/ran\"\nruncmd:\n  - echo runcmd >> \"$STRAP_ROOT/ran\"\n  - 'if [ ! -e \"$STRAP_ROOT/crashed\" ]; then touch \"$STRAP_ROOT/crashed\"; kill -9 $PPID; exec sleep 5; fi'\n  - echo after >> \"$STRAP_ROOT/ran\"\n",
    );
    image_script(&m, "per-instance");
    let out = m.run();
    assert_eq!(
        out.status.code(),
        None,
        "strap was killed: {}",
        stderr(&out)
    );
    assert_eq!(m.ran(), ["bootcmd", "per-instance", "runcmd"]);
    // The killed boot is not "running" for ever: its process is gone.
    let status = m.strap(&["status", "--long"]);
    assert_eq!(code(&status), 1, "{}", stdout(&status));
    let long = stdout(&status);
    assert!(
        long.starts_with("status: error\nextended_status: error - stopped\n"),
        "{long}"
    );
    assert!(long.contains("stopped during modules-final"), "{long}");
    // `status --wait` returns at once instead of waiting for a dead boot.
    let waited = m.strap(&["status", "--wait"]);
    assert_eq!(code(&waited), 1);

    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // bootcmd (same boot) and the per-instance script finished before the crash: not
    // again. runcmd was interrupted: it runs again, to its end.
    assert_eq!(
        m.ran(),
        ["bootcmd", "per-instance", "runcmd", "runcmd", "after"]
    );
    let status = m.strap(&["status"]);
    assert_eq!(stdout(&status).trim(), "status: done");
}

#[test]
fn write_files_users_groups_keys_hostname_and_hosts() {
    let m = Machine::new(
        r#"#cloud-config
groups:
  - admins
users:
  - default
  - name: alice
    groups: admins
    ssh_authorized_keys: [ssh-ed25519 AAAAalice alice@laptop]
    lock_passwd: false
ssh_authorized_keys:
  - ssh-ed25519 AAAAtop top@x
manage_etc_hosts: true
write_files:
  - path: /etc/app/plain.conf
    content: "a=1\n"
  - path: /etc/app/secret
    content: aGVsbG8=
    encoding: b64
    permissions: '0600'
  - path: /home/alice/owned
    content: mine
    owner: alice:admins
    defer: true
  - path: /etc/app/plain.conf
    content: "b=2\n"
    append: true
"#,
    );
    // An Amazon Linux image without a system config: its default user is ec2-user.
    m.write("/etc/os-release", "NAME=\"Amazon Linux\"\nID=\"amzn\"\n");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.read("/etc/app/plain.conf"), "a=1\nb=2\n");
    assert_eq!(m.read("/etc/app/secret"), "hello");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::metadata(m.path("/etc/app/secret")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let passwd = m.read("/etc/passwd");
    let alice: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("alice:"))
        .unwrap()
        .split(':')
        .collect();
    assert!(
        passwd.lines().any(|l| l.starts_with("ec2-user:")),
        "{passwd}"
    );
    let group = m.read("/etc/group");
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("admins:") && l.ends_with("alice")),
        "{group}"
    );
    let owned = fs::metadata(m.path("/home/alice/owned")).unwrap();
    assert_eq!(owned.uid().to_string(), alice[2]);
    assert_eq!(
        m.read("/home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAalice alice@laptop\n"
    );
    assert!(m
        .read("/home/ec2-user/.ssh/authorized_keys")
        .contains("AAAAtop"));
    assert_eq!(m.read("/etc/hostname"), "ip-10-0-0-5\n");
    assert!(m
        .read("/etc/hosts")
        .contains("127.0.1.1 ip-10-0-0-5.eu-west-1.compute.internal ip-10-0-0-5"));
    let shadow = m.read("/etc/shadow");
    let ec2 = shadow.lines().find(|l| l.starts_with("ec2-user:")).unwrap();
    assert!(
        ec2.split(':').nth(1).unwrap().starts_with('!'),
        "the default user is locked: {ec2}"
    );
}

#[test]
fn bad_input_is_reported_with_its_module_and_the_rest_goes_on() {
    let m = Machine::new(
        r#"#cloud-config
users: []
runcmd: "echo not a list"
bootcmd:
  - echo bootcmd >> "$STRAP_ROOT/ran"
write_files:
  - path: /etc/../../escape
    content: x
  - path: /srv/owned
    content: x
    owner: nobody-yet
  - path: /srv/fine
    content: ok
timezone: Not/AZone
"#,
    );
    let out = m.run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(m.ran(), ["bootcmd"]);
    assert_eq!(m.read("/srv/fine"), "ok");
    let status = m.strap(&["status", "--long"]);
    let text = stdout(&status);
    assert!(
        text.contains(
            "runcmd: cloud-config key `runcmd` (line 3) must be a list of commands, not a string"
        ),
        "{text}"
    );
    assert!(
        text.contains("write_files.0: refused path /etc/../../escape"),
        "{text}"
    );
    assert!(
        text.contains("user `nobody-yet` does not exist (yet)") && text.contains("defer: true"),
        "{text}"
    );
    assert!(
        text.contains("timezone: cloud-config key `timezone`: unknown zone `Not/AZone`"),
        "{text}"
    );
    assert!(!m.root.parent().unwrap().join("escape").exists());
}

#[test]
fn a_hanging_script_is_killed_at_its_timeout() {
    let m = Machine::new("#!/bin/sh\necho started\nsleep 60\n");
    let out = m.run_with(&["--timeout", "1"], &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let item = m.item("scripts_user/part-001");
    assert_eq!(item["status"], "failed");
    assert!(
        item["reason"].as_str().unwrap().contains("timed out"),
        "{item}"
    );
    assert_eq!(item["output_tail"][0], "started");
}

#[test]
fn a_script_without_shebang_gets_a_clear_message() {
    let m = Machine::new("#cloud-config\nusers: []\n");
    let dir = m.path("/var/lib/strap/scripts/per-boot");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("noshebang"), "echo hi\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("noshebang"), fs::Permissions::from_mode(0o755)).unwrap();
    let out = m.run();
    assert_eq!(code(&out), 1);
    let item = m.item("scripts_per_boot/noshebang");
    assert!(
        item["reason"].as_str().unwrap().contains("has no #! line"),
        "{item}"
    );
}

#[test]
fn an_existing_user_is_not_a_warning_and_still_gets_its_groups_sudo_and_keys() {
    // As cloud-init: a disk booted again as a new instance has its users already.
    let m = Machine::new(
        "#cloud-config\nusers:\n  - name: bob\n    groups: [docker]\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    ssh_authorized_keys: [ssh-ed25519 AAAAbob bob@laptop]\n",
    );
    fs::create_dir_all(m.path("/etc")).unwrap();
    fs::write(
        m.path("/etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1500:1500::/home/bob:/bin/sh\n",
    )
    .unwrap();
    fs::write(m.path("/etc/group"), "root:x:0:\nbob:x:1500:\n").unwrap();
    fs::write(m.path("/etc/shadow"), "root:*:1::::::\nbob:*:1::::::\n").unwrap();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = m.strap(&["status", "--json"]);
    assert_eq!(code(&status), 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(json["extended_status"], "done", "{json}");
    assert!(m
        .read("/var/log/strap.log")
        .contains("strap[INFO]: users: user bob already exists, skipping its creation"));
    assert!(
        m.read("/etc/group")
            .lines()
            .any(|l| l.starts_with("docker:") && l.ends_with(":bob")),
        "{}",
        m.read("/etc/group")
    );
    assert_eq!(
        m.read("/etc/passwd")
            .lines()
            .filter(|l| l.starts_with("bob:"))
            .count(),
        1
    );
    assert!(m
        .read("/etc/sudoers.d/90-cloud-init-users")
        .contains("bob ALL=(ALL) NOPASSWD:ALL"));
    assert!(m
        .read("/home/bob/.ssh/authorized_keys")
        .contains("ssh-ed25519 AAAAbob bob@laptop"));
}

/// As cloud-init 25: hyphenated user keys are read (deprecated), `sudo` may be a list of
/// rules, one sudoers line each.
#[test]
fn hyphenated_user_keys_and_a_list_of_sudo_rules_are_applied() {
    let m = Machine::new(
        "#cloud-config\nusers:\n  - name: bob\n    lock-passwd: true\n    sudo: ['ALL=(ALL) NOPASSWD:/usr/bin/apt', 'ALL=(ALL) ALL']\n    ssh-authorized-keys: [ssh-ed25519 AAAAbob bob@laptop]\n",
    );
    fs::create_dir_all(m.path("/etc")).unwrap();
    fs::write(
        m.path("/etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1500:1500::/home/bob:/bin/sh\n",
    )
    .unwrap();
    fs::write(m.path("/etc/group"), "root:x:0:\nbob:x:1500:\n").unwrap();
    fs::write(m.path("/etc/shadow"), "root:*:1::::::\nbob:*:1::::::\n").unwrap();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sudoers = m.read("/etc/sudoers.d/90-cloud-init-users");
    assert!(
        sudoers.contains("bob ALL=(ALL) NOPASSWD:/usr/bin/apt\n")
            && sudoers.contains("bob ALL=(ALL) ALL\n"),
        "{sudoers}"
    );
    assert!(m
        .read("/home/bob/.ssh/authorized_keys")
        .contains("ssh-ed25519 AAAAbob bob@laptop"));
}

/// `users` as a mapping of names (cloud-init's `_normalize_users` takes it) and a list
/// with comma-separated names: each named user is made; a false value leaves one out.
#[test]
fn users_as_a_mapping_and_comma_separated_names_are_made() {
    let m = Machine::new(
        "#cloud-config\nusers:\n  alice: {shell: /bin/sh, sudo: 'ALL=(ALL) ALL'}\n  bob: true\n  carol: false\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let passwd = m.read("/etc/passwd");
    assert!(
        passwd.contains("\nalice:") || passwd.starts_with("alice:"),
        "{passwd}"
    );
    assert!(passwd.contains("\nbob:"), "{passwd}");
    assert!(!passwd.contains("carol:"), "{passwd}");
    assert!(m
        .read("/etc/sudoers.d/90-cloud-init-users")
        .contains("alice ALL=(ALL) ALL\n"));

    let m = Machine::new("#cloud-config\nusers: ['dave, erin', [frank]]\n");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let passwd = m.read("/etc/passwd");
    for name in ["dave", "erin", "frank"] {
        assert!(passwd.contains(&format!("{name}:x:")), "{name}: {passwd}");
    }
}

#[test]
fn packages_under_a_root_say_what_would_run_and_a_failing_manager_fails_the_module() {
    let m = Machine::new(
        "#cloud-config\nusers: []\npackages: [jq, [curl, '7.0']]\nruncmd: [echo done]\n",
    );
    let out = m.run_with(&[], &[("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let item = m.item("config-package_update_upgrade_install");
    assert_eq!(item["status"], "skipped");
    assert!(
        item["reason"].as_str().unwrap().contains("install jq curl"),
        "{item}"
    );

    let m = Machine::new(
        "#cloud-config\nusers: []\npackages: [jq]\nruncmd: [\"echo after >> $STRAP_ROOT/ran\"]\n",
    );
    let fake = m.root.parent().unwrap().join("apt-get");
    fs::write(&fake, "#!/bin/sh\necho \"apt $*\"\n[ \"$1\" = update ] || [ \"$5\" = update ] && exit 0\nexit 100\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let out = m.run_with(&[], &[("STRAP_PACKAGE_MANAGER", fake.to_str().unwrap())]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let item = m.item("config-package_update_upgrade_install");
    assert_eq!(item["status"], "failed");
    assert!(
        item["reason"].as_str().unwrap().contains("install jq"),
        "{item}"
    );
    assert_eq!(
        m.ran(),
        ["after"],
        "scripts still run after a package failure"
    );
}

/// With apt, the packages `apt-cache pkgnames` does not list are left out of the install
/// and the others installed, as cloud-init 25 does; the module then fails naming them.
#[test]
fn apt_installs_the_packages_it_knows_and_fails_naming_the_others() {
    use std::os::unix::fs::PermissionsExt;
    let m =
        Machine::new("#cloud-config\nusers: []\npackages: [jq, nosuchpkg, [curl, '7.0'], task^]\n");
    let bin = m.root.parent().unwrap().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = m.root.parent().unwrap().join("apt.log");
    let scripts = [
        (
            "apt-get",
            format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
        ),
        (
            "apt-cache",
            "#!/bin/sh\nprintf 'curl\\njq\\ntask\\n'\n".to_string(),
        ),
    ];
    for (name, text) in scripts {
        let path = bin.join(name);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let apt_get = bin.join("apt-get");
    let out = m.run_with(&[], &[("STRAP_PACKAGE_MANAGER", apt_get.to_str().unwrap())]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let calls = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(lines[0].ends_with(" update"), "{calls}");
    assert!(lines[1].ends_with(" install jq curl=7.0 task^"), "{calls}");
    let item = m.item("config-package_update_upgrade_install");
    assert_eq!(item["status"], "failed");
    assert!(
        item["reason"]
            .as_str()
            .unwrap()
            .contains("apt does not know nosuchpkg"),
        "{item}"
    );
}

#[test]
fn query_analyze_clean_and_then() {
    let mut m = Machine::new("#!/bin/sh\necho hi\n");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let q = m.strap(&["query", "v1.instance_id"]);
    assert_eq!(stdout(&q).trim(), "i-0aaaaaaaaaaaaaaa1");
    let q = m.strap(&["query", "ds.dynamic.instance_identity.document.region"]);
    assert_eq!(stdout(&q).trim(), "eu-west-1");
    let q = m.strap(&["query", "ds.meta_data.local_ipv4"]);
    assert_eq!(stdout(&q).trim(), "10.0.0.5");

    let a = m.strap(&["analyze"]);
    let text = stdout(&a);
    assert!(
        text.contains("(modules-final/scripts_user/part-001)"),
        "{text}"
    );
    assert!(text.contains("Total Time:"), "{text}");
    // A second boot: analyze shows both, the earlier one from the event log.
    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let a = m.strap(&["analyze"]);
    let text = stdout(&a);
    let (first, second) = text.split_once("-- Boot Record 02 --").unwrap();
    assert!(first.starts_with("-- Boot Record 01 --\n"), "{text}");
    assert!(
        first.contains("(init-network/config-bootcmd) skipped"),
        "{text}"
    );
    assert!(
        second.contains("(init-network/config-bootcmd) skipped"),
        "{text}"
    );
    assert!(!text.contains("-- Boot Record 03 --"), "{text}");

    fs::create_dir_all(m.path("/var/lib/strap/seed")).unwrap();
    let c = m.strap(&["clean", "--logs"]);
    assert_eq!(code(&c), 0, "{}", stderr(&c));
    assert!(m.path("/var/lib/strap/seed").is_dir());
    assert!(!m.path("/var/lib/strap/instances").exists());
    assert!(!m.path("/var/log/strap.log").exists());
    assert_eq!(stdout(&m.strap(&["status"])).trim(), "status: not started");

    // After clean the instance is new again; --then runs the main process afterwards.
    let out = m.run_with(
        &["--then", "--", "sh", "-c", "echo main process; exit 7"],
        &[],
    );
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert_eq!(stdout(&out), "main process\n");
    assert!(stderr(&out).contains("part-001: hi"));
}

#[test]
fn boothooks_run_every_boot_with_instance_id() {
    let mut m = Machine::new(
        "#cloud-boothook\n#!/bin/sh\necho \"hook $INSTANCE_ID\" >> \"$STRAP_ROOT/ran\"\n",
    );
    assert_eq!(code(&m.run()), 0);
    assert_eq!(code(&m.run()), 0);
    m.reboot();
    assert_eq!(code(&m.run()), 0);
    assert_eq!(
        m.ran(),
        ["hook i-0aaaaaaaaaaaaaaa1", "hook i-0aaaaaaaaaaaaaaa1"]
    );
}

#[test]
fn final_message_and_power_state_are_recorded_not_executed() {
    let m = Machine::new(
        "#cloud-config\nusers: []\nfinal_message: \"up $UPTIME, v$version\"\npower_state:\n  mode: poweroff\n  delay: 5\n  message: bye\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("power_state would run `shutdown -P +5 bye`"),
        "{err}"
    );
    assert!(err.contains(", v0.1.0"), "{err}");
    let finished = m.read("/var/lib/strap/instance/boot-finished");
    assert!(finished.ends_with(" - v. 0.1.0\n"), "{finished}");
}

/// The real `imds-mock` binary on a free port, stopped when dropped.
struct Mock {
    _process: MockProcess,
    url: String,
    _dir: tempfile::TempDir,
}

impl Mock {
    fn start(user_data: &str, extra_yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ud = dir.path().join("user-data");
        fs::write(&ud, user_data).unwrap();
        let cfg = dir.path().join("mock.yaml");
        fs::write(
            &cfg,
            format!("instance_id: i-0abc0000000000001\nregion: eu-west-1\n{extra_yaml}"),
        )
        .unwrap();
        let args = [
            "-c".as_ref(),
            cfg.as_os_str(),
            "--user-data".as_ref(),
            ud.as_os_str(),
        ];
        let process = MockProcess::start(args, std::process::Stdio::null());
        Self {
            url: process.url.clone(),
            _process: process,
            _dir: dir,
        }
    }

    /// A control-API call (`POST /_mock/launch`), answering the body.
    fn control(&self, method: &str, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out
    }
}

fn boot_against(mock: &Mock, root: &Path, boot_id: &str) -> Output {
    command("strap")
        .args(["run", "--imds", &mock.url, "--root"])
        .arg(root)
        .env("STRAP_BOOT_ID", boot_id)
        .env("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3")
        .output()
        .unwrap()
}

const MOCK_USER_DATA: &str =
    "#cloud-config\nusers: []\nruncmd:\n  - echo \"runcmd $INSTANCE_ID\" >> \"$STRAP_ROOT/ran\"\n";

#[test]
fn boots_from_the_real_mock_and_reruns_per_instance_work_on_a_new_instance() {
    let mock = Mock::start(MOCK_USER_DATA, "");
    let dir = tempfile::tempdir().unwrap();
    let out = boot_against(&mock, dir.path(), "b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ran = || fs::read_to_string(dir.path().join("ran")).unwrap_or_default();
    assert_eq!(ran(), "runcmd i-0abc0000000000001\n");
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join("var/lib/strap/data/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["datasource"], "DataSourceEc2");
    assert!(
        report["imds_requests_before_first_script"]
            .as_u64()
            .unwrap()
            <= 4 + NET_ONE_ENI,
        "{report}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/hostname")).unwrap(),
        "ip-172-31-16-10\n".replace("172-31-16-10", &hostname_ip(dir.path()))
    );

    // A reboot of the same instance: nothing per-instance runs.
    let out = boot_against(&mock, dir.path(), "b2");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ran().lines().count(), 1);

    // The image launched as a new instance: runcmd runs again, with the new id.
    let launched = mock.control("POST", "/_mock/launch", "");
    let out = boot_against(&mock, dir.path(), "b3");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines: Vec<String> = ran().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let new_id = lines[1].trim_start_matches("runcmd ");
    assert_ne!(new_id, "i-0abc0000000000001");
    assert!(launched.contains(new_id), "{launched}");
}

/// The hostname's IP part as the mock serves it (`ip-10-0-0-5` → `10-0-0-5`).
fn hostname_ip(root: &Path) -> String {
    let doc: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root.join("run/strap/instance-data.json")).unwrap(),
    )
    .unwrap();
    doc["ds"]["meta-data"]["local-ipv4"]
        .as_str()
        .unwrap()
        .replace('.', "-")
}

#[test]
fn a_slow_metadata_service_only_makes_the_boot_slower() {
    let mock = Mock::start(
        MOCK_USER_DATA,
        "faults:\n  - path: /\n    latency_ms: 200\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = boot_against(&mock, dir.path(), "b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(dir.path().join("ran").is_file());
}

#[test]
fn failing_metadata_paths_fail_or_degrade_the_boot_as_they_matter() {
    // No user data at all (500 on every attempt): the boot cannot start; status says error.
    let mock = Mock::start(
        MOCK_USER_DATA,
        "faults:\n  - path: /latest/user-data\n    error_rate: 1.0\n    error_status: 500\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = boot_against(&mock, dir.path(), "b1");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read the instance's metadata"),
        "{}",
        stderr(&out)
    );
    let status = command("strap")
        .args(["status", "--long", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&status), 1);
    assert!(
        stdout(&status).contains("/latest/user-data"),
        "{}",
        stdout(&status)
    );
    assert!(!dir.path().join("ran").exists());

    // The hostname's connection dropped every time: a warning, the rest runs.
    let mock = Mock::start(
        MOCK_USER_DATA,
        "faults:\n  - path: /latest/meta-data/local-hostname\n    drop_rate: 1.0\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = boot_against(&mock, dir.path(), "b1");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(dir.path().join("ran").is_file());
    assert!(!dir.path().join("etc/hostname").exists());
}

#[test]
fn a_token_invalidated_mid_boot_is_refreshed() {
    if !strap_e2e::have_program("curl") {
        eprintln!("skipping: curl is not installed (the boot script uses it to relaunch the mock)");
        return;
    }
    // bootcmd relaunches the instance, which invalidates every token; the default user's
    // key pair is read afterwards (users_groups) with a token the service no longer
    // accepts, so the client must drop it, fetch a new one and read again.
    let mock = Mock::start("", "");
    let user_data = format!(
        "#cloud-config\nbootcmd:\n  - curl -s -X POST {}/_mock/launch >/dev/null\nruncmd:\n  - echo ok >> \"$STRAP_ROOT/ran\"\n",
        mock.url
    );
    mock.control("PUT", "/_mock/user-data", &user_data);
    let dir = tempfile::tempdir().unwrap();
    // A Debian image: its default user (admin) receives the key pair.
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/os-release"), "ID=debian\n").unwrap();
    let out = boot_against(&mock, dir.path(), "b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read_to_string(dir.path().join("ran")).unwrap(), "ok\n");
    // The stale token was refused once and a second token was issued.
    let counts = mock.control("GET", "/_mock/requests", "");
    let body = &counts[counts.find("\r\n\r\n").map_or(0, |i| i + 4)..];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(json["unauthorized"].as_u64().unwrap() >= 1, "{json}");
    assert!(json["tokens"].as_u64().unwrap() >= 2, "{json}");
}

/// Durations (`00.01234s`, `0.12345 seconds`) and dates replaced, so output can be
/// compared as a snapshot.
fn filter_times(text: &str) -> String {
    text.lines()
        .map(|l| {
            let words: Vec<String> = l
                .split(' ')
                .map(|w| {
                    let digits = w.trim_end_matches('s');
                    if !w.is_empty()
                        && digits.contains('.')
                        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                    {
                        "[T]".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            let l = words.join(" ");
            match (l.find(" at "), l.find("+0000")) {
                (Some(a), Some(b)) if b > a => format!("{} at [DATE]{}", &l[..a], &l[b + 5..]),
                _ => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn analyze_and_console_output_snapshots() {
    let m = Machine::new(
        "#cloud-config\nusers: []\nbootcmd: [echo early]\nruncmd: [echo late]\nfinal_message: done\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    insta::assert_snapshot!("console_output", filter_times(&filter(&stderr(&out), &m)));

    let a = m.strap(&["analyze"]);
    assert_eq!(code(&a), 0);
    let text = filter_times(&stdout(&a));
    // Blame lines are ordered by duration, which varies: compare them as a sorted set.
    let (blame, rest) = text.split_once("\n\n").unwrap();
    let mut lines: Vec<&str> = blame.lines().collect();
    lines[1..].sort();
    insta::assert_snapshot!("analyze_blame", format!("{}\n\n{rest}", lines.join("\n")));
}

#[test]
fn mime_parts_and_jinja_templates_go_where_they_run() {
    let mime = "Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n--XX\nContent-Type: text/x-shellscript-per-boot; charset=\"us-ascii\"\nContent-Disposition: attachment; filename=\"every-boot.sh\"\n\n#!/bin/sh\necho per-boot >> \"$STRAP_ROOT/ran\"\n--XX\nContent-Type: text/jinja2; charset=\"us-ascii\"\n\n## template: jinja\n#cloud-config\nusers: []\nruncmd:\n  - echo \"id {{ v1.instance_id }} in {{ v1.region }}\" >> \"$STRAP_ROOT/ran\"\n--XX--\n";
    let mut m = Machine::new(mime);
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.ran(), ["per-boot", "id i-0aaaaaaaaaaaaaaa1 in eu-west-1"]);
    assert!(m
        .path("/var/lib/strap/scripts/per-boot/every-boot.sh")
        .is_file());
    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.ran()[2..], ["per-boot"]);
    let wait = m.strap(&["status", "--wait"]);
    assert_eq!(code(&wait), 0);
    assert_eq!(stdout(&wait).trim(), "status: done");
}

#[test]
fn a_full_disk_fails_the_entry_not_the_boot() {
    let big = "x".repeat(256 * 1024);
    let m = Machine::new(&format!(
        "#cloud-config\nusers: []\nwrite_files:\n  - path: /srv/full/big\n    content: {big}\n  - path: /etc/small\n    content: fits\nruncmd:\n  - echo after >> \"$STRAP_ROOT/ran\"\n"
    ));
    let full = m.path("/srv/full");
    fs::create_dir_all(&full).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let out = m.run();
    let _ = std::process::Command::new("umount").arg(&full).status();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(m.read("/etc/small"), "fits");
    assert_eq!(m.ran(), ["after"]);
    let status = stdout(&m.strap(&["status", "--long"]));
    assert!(
        status.contains("write_files.0") && status.contains("/srv/full/big"),
        "{status}"
    );
}

#[test]
fn ssh_host_keys_are_made_once_per_instance_where_sshd_is_installed() {
    if !strap_e2e::have_program("ssh-keygen") {
        eprintln!("skipping: ssh-keygen is not installed");
        return;
    }
    let mut m = Machine::new("#cloud-config\nusers: []\nssh_genkeytypes: [ed25519]\n");
    fs::create_dir_all(m.path("/etc/ssh")).unwrap();
    fs::write(m.path("/etc/ssh/ssh_host_rsa_key"), "baked into the image").unwrap();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !m.path("/etc/ssh/ssh_host_rsa_key").exists(),
        "old keys deleted"
    );
    let key = m.read("/etc/ssh/ssh_host_ed25519_key.pub");
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    // Same instance, next boot: the keys stay.
    m.reboot();
    assert_eq!(code(&m.run()), 0);
    assert_eq!(m.read("/etc/ssh/ssh_host_ed25519_key.pub"), key);
}

#[test]
fn the_quick_start_works_for_an_ordinary_user() {
    let is_root = fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root || !strap_e2e::have_program("setpriv") {
        eprintln!("skipping: needs root and setpriv to run strap as an ordinary user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let example = dir.path().join("hello.yaml");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/userdata/hello.yaml"),
        &example,
    )
    .unwrap();
    fs::set_permissions(&example, fs::Permissions::from_mode(0o644)).unwrap();
    let root = dir.path().join("demo");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(strap_e2e::bin("strap"))
        .args(["run", "--local"])
        .arg(&example)
        .arg("--root")
        .arg(&root)
        .env("STRAP_BOOT_ID", "b1")
        .output()
        .unwrap();
    if stderr(&out).contains("Permission denied") && !root.exists() {
        eprintln!("skipping: the strap binary is not reachable for an ordinary user here");
        return;
    }
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("demo:x:1000:"), "{passwd}");
    assert_eq!(
        fs::read_to_string(root.join("etc/motd")).unwrap(),
        "Booted by strap.\n"
    );
}

/// As cloud-init does once it has the user data, the boot checks the merged cloud-config
/// against the schema and runs it anyway. A key cloud-init 25 does not know fails that
/// check: a warning naming the path (never the value), the boot degraded; an image that
/// keeps cloud-init 22.4's behaviour lets it pass, as 22.4's schema did.
#[test]
fn a_config_that_fails_the_schema_runs_with_a_warning_naming_only_paths() {
    let user_data = "#cloud-config\nusers: []\ntypo_key: s3cr3t-value\nruncmd:\n  - [sh, -c, 'echo ran >> $STRAP_ROOT/ran']\nkeyboard: {layout: 5}\n";
    for compat in [None, Some("22.4")] {
        let m = Machine::new(user_data);
        if let Some(v) = compat {
            m.write(
                "/etc/cloud/cloud.cfg.d/90-compat.cfg",
                &format!("strap_cloud_init_compat: \"{v}\"\n"),
            );
        }
        let out = m.run();
        // Degraded either way: `keyboard.layout: 5` is an error for both cloud-inits.
        assert_eq!(code(&out), 2, "{compat:?}: {}", stderr(&out));
        assert_eq!(m.ran(), vec!["ran"], "{compat:?}: the config still runs");
        let log = m.read("/var/log/strap.log");
        let line = log
            .lines()
            .find(|l| l.contains("failed schema validation"))
            .unwrap_or_else(|| panic!("{compat:?}: no schema warning in {log}"));
        assert!(line.contains("keyboard.layout"), "{line}");
        assert_eq!(
            line.contains("typo_key"),
            compat.is_none(),
            "{compat:?}: {line}"
        );
        assert!(
            !log.contains("s3cr3t") && !stderr(&out).contains("s3cr3t"),
            "{log}"
        );
    }
}

#[test]
fn the_images_system_config_names_the_default_user_and_user_data_wins_over_it() {
    let m = Machine::new(
        "#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAAtop top@x]\npreserve_hostname: false\n",
    );
    // What an image that ran cloud-init keeps: its cloud.cfg and a drop-in.
    m.write("/etc/os-release", "ID=debian\n");
    m.write(
        "/etc/cloud/cloud.cfg",
        "users: [default]\npreserve_hostname: true\nsystem_info:\n  default_user:\n    name: cloudy\n    groups: [wheel]\n    shell: /bin/zsh\n    sudo: false\n",
    );
    m.write(
        "/etc/cloud/cloud.cfg.d/99-local.cfg",
        "system_info:\n  default_user:\n    gecos: Cloud User\n",
    );
    m.write("/etc/cloud/cloud.cfg.d/50-broken.cfg", "users: [default\n");
    let out = m.run();
    // The broken drop-in is a warning: the boot is degraded, not failed.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let passwd = m.read("/etc/passwd");
    let cloudy: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("cloudy:"))
        .unwrap_or_else(|| panic!("no cloudy in {passwd}"))
        .split(':')
        .collect();
    assert_eq!(cloudy[4], "Cloud User");
    assert_eq!(cloudy[6], "/bin/zsh");
    assert!(!passwd.contains("admin:"), "{passwd}");
    assert!(m
        .read("/etc/group")
        .lines()
        .any(|l| l.starts_with("wheel:") && l.ends_with("cloudy")));
    assert!(m
        .read("/home/cloudy/.ssh/authorized_keys")
        .contains("AAAAtop"));
    // `sudo: false` from the system config: no rule for the default user.
    assert!(!m
        .read("/etc/sudoers.d/90-cloud-init-users")
        .contains("cloudy"));
    // preserve_hostname: true in the system config, false in the user data: set.
    assert_eq!(m.read("/etc/hostname"), "ip-10-0-0-5\n");
    let log = m.read("/var/log/strap.log");
    assert!(log.contains("50-broken.cfg"), "{log}");
}

/// An image's cloud.cfg with the `system_info` keys the modules read.
const SYSTEM_INFO_CFG: &str = r#"system_info:
  ntp_client: ntp
  ssh_svcname: openssh-server
  package_mirrors:
    - arches: [default]
      failsafe:
        primary: http://failsafe.example/debian
        security: http://failsafe.example/debian-security
      search:
        primary: ["http://%(ec2_region)s.mirror.example/debian/"]
        security: []
"#;

const SYSTEM_INFO_USER_DATA: &str = "#cloud-config\nssh_pwauth: true\nntp: {servers: [ntp.example]}\napt:\n  sources:\n    extra: {source: 'deb $MIRROR $RELEASE main'}\n";

fn system_info_machine(cloud_cfg: &str) -> Machine {
    let m = Machine::new(SYSTEM_INFO_USER_DATA);
    m.write("/etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n");
    m.write(
        "/etc/apt/sources.list",
        "deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian-security bookworm-security main\n",
    );
    m.write("/etc/ssh/sshd_config", "PasswordAuthentication no\n");
    m.write("/etc/cloud/cloud.cfg", cloud_cfg);
    m
}

#[test]
fn the_images_system_info_names_the_ntp_client_the_ssh_service_and_the_apt_mirrors() {
    let m = system_info_machine(SYSTEM_INFO_CFG);
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // ntp_client: ntp, though the module says nothing of its client.
    assert!(m
        .read("/etc/ntp.conf")
        .contains("server ntp.example iburst"));
    assert!(!m.path("/etc/chrony/chrony.conf").exists());
    // ssh_svcname: the unit set_passwords restarts.
    let tail = m.item("config-set_passwords")["output_tail"].to_string();
    assert!(
        tail.contains("would run `systemctl try-restart openssh-server`"),
        "{tail}"
    );
    // package_mirrors: under --root no name is looked up, the failsafe mirrors are used
    // for $MIRROR and in place of the distro's URIs, and the log says why.
    assert_eq!(
        m.read("/etc/apt/sources.list"),
        "deb http://failsafe.example/debian bookworm main\ndeb http://failsafe.example/debian-security bookworm-security main\n"
    );
    assert_eq!(
        m.read("/etc/apt/sources.list.d/extra.list"),
        "deb http://failsafe.example/debian bookworm main\n"
    );
    let log = m.read("/var/log/strap.log");
    assert!(
        log.contains("system_info.package_mirrors.0: mirror names are not looked up under --root"),
        "{log}"
    );
}

#[test]
fn wrong_types_in_system_info_are_warnings_naming_the_key_and_the_defaults_apply() {
    let m = system_info_machine(
        "system_info:\n  ntp_client: [ntp]\n  ssh_svcname: 22\n  package_mirrors:\n    - arches: [default]\n      failsafe: {primary: [http://x]}\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let log = m.read("/var/log/strap.log");
    for key in [
        "`system_info.ntp_client`",
        "`system_info.ssh_svcname`",
        "`system_info.package_mirrors.0.failsafe.primary`",
    ] {
        assert!(log.contains(key), "{key}: {log}");
    }
    // The defaults: chrony on Debian, the `ssh` unit, deb.debian.org left as it is.
    assert!(m
        .read("/etc/chrony/chrony.conf")
        .contains("server ntp.example iburst"));
    let tail = m.item("config-set_passwords")["output_tail"].to_string();
    assert!(
        tail.contains("would run `systemctl try-restart ssh`"),
        "{tail}"
    );
    assert!(m
        .read("/etc/apt/sources.list")
        .starts_with("deb http://deb.debian.org/debian bookworm main\n"));
    assert_eq!(
        m.read("/etc/apt/sources.list.d/extra.list"),
        "deb http://deb.debian.org/debian bookworm main\n"
    );
}

#[test]
fn a_bare_root_has_no_default_user_and_does_not_fetch_the_key_pair() {
    let mock = Mock::start("#!/bin/sh\necho hi >> \"$STRAP_ROOT/ran\"\n", "");
    let dir = tempfile::tempdir().unwrap();
    let out = boot_against(&mock, dir.path(), "b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read_to_string(dir.path().join("ran")).unwrap(), "hi\n");
    assert!(!dir.path().join("etc/passwd").exists());
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join("var/lib/strap/data/report.json")).unwrap(),
    )
    .unwrap();
    // token, identity document, user data, local hostname.
    assert_eq!(
        report["imds_requests_before_first_script"],
        4 + NET_ONE_ENI,
        "{report}"
    );
    let ssh = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "config-ssh")
        .unwrap();
    assert_eq!(ssh["status"], "skipped");
    assert!(ssh["reason"].as_str().unwrap().contains("no default user"));

    // The same image with a distro: the default user and its key pair, one more request.
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/os-release"), "ID=ubuntu\n").unwrap();
    let out = boot_against(&mock, dir.path(), "b1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let passwd = fs::read_to_string(dir.path().join("etc/passwd")).unwrap();
    assert!(passwd.contains("ubuntu:"), "{passwd}");
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join("var/lib/strap/data/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        report["imds_requests_before_first_script"],
        5 + NET_ONE_ENI,
        "{report}"
    );
}

#[test]
fn without_a_default_user_root_gets_the_keys_only_when_it_may_log_in() {
    let m = Machine::new(
        "#cloud-config\ndisable_root: false\nssh_authorized_keys: [ssh-ed25519 AAAAroot r@x]\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        m.read("/root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAroot r@x\n"
    );
}

#[test]
fn the_system_configs_module_lists_choose_the_modules_and_their_frequency() {
    let mut m = Machine::new(
        "#cloud-config\nbootcmd:\n  - echo bootcmd >> \"$STRAP_ROOT/ran\"\nruncmd:\n  - echo runcmd >> \"$STRAP_ROOT/ran\"\nfinal_message: bye\n",
    );
    m.write(
        "/etc/cloud/cloud.cfg",
        "cloud_init_modules:\n - bootcmd\ncloud_config_modules: []\ncloud_final_modules:\n - scripts-user\n - [final-message, once]\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.ran(), ["bootcmd"]);
    let runcmd = m.item("config-runcmd");
    assert_eq!(runcmd["status"], "skipped");
    assert!(runcmd["reason"].as_str().unwrap().contains("module lists"));
    assert_eq!(m.item("config-final_message")["status"], "ran");
    assert_eq!(m.item("config-final_message")["frequency"], "once");

    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.ran(), ["bootcmd", "bootcmd"]);
    // `[final-message, once]`: not again, although strap's own frequency is always.
    assert_eq!(m.item("config-final_message")["status"], "skipped");
}

#[test]
fn the_example_image_config_names_every_module_and_its_default_user() {
    let m = Machine::new("#!/bin/sh\necho hi >> \"$STRAP_ROOT/ran\"\n");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/image/cloud.cfg");
    m.write(
        "/etc/cloud/cloud.cfg",
        &fs::read_to_string(example).unwrap(),
    );
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.ran(), ["hi"]);
    assert!(m.read("/etc/passwd").contains("admin:"));
    // Every module of the boot is in the example's lists: none was left out for that.
    let report = m.report();
    let left_out: Vec<&serde_json::Value> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["reason"]
                .as_str()
                .is_some_and(|r| r.contains("module lists"))
        })
        .collect();
    assert!(
        left_out.is_empty(),
        "not in examples/image/cloud.cfg: {left_out:?}"
    );
}

#[test]
fn supplied_host_keys_replace_the_images_and_nothing_is_generated() {
    if !strap_e2e::have_program("ssh-keygen") {
        eprintln!("skipping: ssh-keygen is not installed (apt-get install openssh-client)");
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("k");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let private = fs::read_to_string(&key).unwrap();
    let indented: String = private.lines().map(|l| format!("    {l}\n")).collect();
    let m = Machine::new(&format!(
        "#cloud-config\nssh_keys:\n  ed25519_private: |\n{indented}  rsa_certificate: ssh-rsa-cert-v01@openssh.com AAAAcert host\n  ed25519-sk_private: nope\n"
    ));
    // A baked image: sshd installed, an old host key, sshd reading its drop-in folder.
    m.write(
        "/etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n",
    );
    m.write("/etc/ssh/ssh_host_rsa_key", "old baked key\n");
    let out = m.run();
    // The `-sk` entry is a warning: degraded.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        !m.path("/etc/ssh/ssh_host_rsa_key").exists(),
        "ssh_deletekeys"
    );
    assert!(
        !m.path("/etc/ssh/ssh_host_ecdsa_key").exists(),
        "nothing generated"
    );
    use std::os::unix::fs::PermissionsExt;
    let written = m.path("/etc/ssh/ssh_host_ed25519_key");
    assert_eq!(fs::read_to_string(&written).unwrap(), private);
    assert_eq!(
        fs::metadata(&written).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The public key derived as cloud-init derives it: `ssh-keygen -y`, then root@localhost.
    let derived = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    let public = String::from_utf8_lossy(&derived.stdout);
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    assert_eq!(
        m.read("/etc/ssh/ssh_host_ed25519_key.pub"),
        format!("{} root@localhost\n", public.trim())
    );
    assert_eq!(
        m.read("/etc/ssh/ssh_host_rsa_key-cert.pub"),
        "ssh-rsa-cert-v01@openssh.com AAAAcert host"
    );
    assert_eq!(
        m.read("/etc/ssh/sshd_config.d/50-cloud-init.conf"),
        "HostCertificate /etc/ssh/ssh_host_rsa_key-cert.pub\n"
    );
    let log = m.read("/var/log/strap.log");
    assert!(
        log.contains("unsupported ssh_keys entry `ed25519-sk_private`"),
        "{log}"
    );
    // The private key is written where it belongs and nowhere else.
    let secret_line = private.lines().nth(1).unwrap();
    for record in [
        "/var/log/strap.log",
        "/var/log/strap-output.log",
        "/var/lib/strap/data/report.json",
        "/run/strap/status.json",
    ] {
        assert!(!m.read(record).contains(secret_line), "{record}");
    }
}

#[test]
fn ssh_import_id_and_disable_ec2_metadata_say_what_they_would_run() {
    let m = Machine::new(
        "#cloud-config\nusers:\n  - default\n  - name: bob\n    ssh_import_id: [lp:bob]\n  - name: carol\nssh_import_id: [gh:alice, gh:alice, lp:alice]\ndisable_ec2_metadata: true\n",
    );
    m.write("/etc/os-release", "ID=ubuntu\n");
    m.write("/usr/bin/ssh-import-id", "#!/bin/sh\n");
    m.write("/usr/sbin/ip", "#!/bin/sh\n");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let import = m.item("config-ssh_import_id");
    assert_eq!(import["status"], "ran", "{import}");
    let tail: Vec<&str> = import["output_tail"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert_eq!(
        tail,
        [
            "would run `sudo --preserve-env=https_proxy -Hu ubuntu ssh-import-id gh:alice lp:alice` (not run under --root)",
            "would run `sudo --preserve-env=https_proxy -Hu bob ssh-import-id lp:bob` (not run under --root)",
        ]
    );
    let route = m.item("config-disable_ec2_metadata");
    assert_eq!(
        route["output_tail"][0],
        "would run `ip route add prohibit 169.254.169.254` (not run under --root)"
    );

    // An image without ssh-import-id: a warning, nothing imported; with only `route`,
    // net-tools' form of the rule.
    let m = Machine::new(
        "#cloud-config\nusers: [default]\nssh_import_id: [gh:alice]\ndisable_ec2_metadata: true\n",
    );
    m.write("/etc/os-release", "ID=ubuntu\n");
    m.write("/sbin/route", "#!/bin/sh\n");
    let out = m.run();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(m.item("config-ssh_import_id")["status"], "skipped");
    assert!(m
        .read("/var/log/strap.log")
        .contains("ssh-import-id is not installed"));
    assert_eq!(
        m.item("config-disable_ec2_metadata")["output_tail"][0],
        "would run `route add -host 169.254.169.254 reject` (not run under --root)"
    );
}

#[test]
fn host_key_fingerprints_and_keys_go_to_the_console() {
    if !strap_e2e::have_program("ssh-keygen") {
        eprintln!("skipping: ssh-keygen is not installed (apt-get install openssh-client)");
        return;
    }
    let m = Machine::new(
        "#cloud-config\nssh_genkeytypes: [ed25519, ecdsa]\nssh_key_console_blacklist: [ecdsa-sha2-nistp256]\n",
    );
    fs::create_dir_all(m.path("/etc/ssh")).unwrap();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let console = stderr(&out);
    let block = |begin: &str, end: &str| -> Vec<String> {
        let start = console
            .find(begin)
            .unwrap_or_else(|| panic!("{begin}: {console}"));
        let rest = &console[start + begin.len()..];
        let stop = rest.find(end).unwrap();
        rest[..stop]
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let fingerprints = block(
        "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
        "-----END SSH HOST KEY FINGERPRINTS-----",
    );
    assert_eq!(fingerprints.len(), 2, "{fingerprints:?}");
    assert!(fingerprints
        .iter()
        .any(|l| l.contains("SHA256:") && l.ends_with("(ED25519)")));
    assert!(fingerprints.iter().any(|l| l.ends_with("(ECDSA)")));
    let keys = block(
        "-----BEGIN SSH HOST KEY KEYS-----",
        "-----END SSH HOST KEY KEYS-----",
    );
    // The blacklisted type is fingerprinted but its key is not shown.
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(
        format!("{}\n", keys[0]),
        m.read("/etc/ssh/ssh_host_ed25519_key.pub")
    );
    assert!(m
        .read("/var/log/strap-output.log")
        .contains("-----BEGIN SSH HOST KEY KEYS-----"));

    // Turned off.
    let m = Machine::new("#cloud-config\nssh:\n  emit_keys_to_console: false\n");
    fs::create_dir_all(m.path("/etc/ssh")).unwrap();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("SSH HOST KEY"));
    assert_eq!(m.item("config-keys_to_console")["status"], "skipped");
}

/// Every file under `dir` but the credential stores and the saved copy of the user data
/// itself (`instances/*/user-data.txt`, mode 0600, as cloud-init keeps it), as text.
fn all_text_outside_credstore(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "credstore" || name == "credstore.encrypted" || name == "user-data.txt" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push_str(&String::from_utf8_lossy(&fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn systemd_userdata_credentials_are_imported_and_never_logged() {
    use std::os::unix::fs::PermissionsExt;
    // "czNjcjN0LWRhdGEtdmFsdWU=" is base64 of "s3cr3t-data-value".
    let m = Machine::new(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n#systemd-userdata\n{\"systemd.credentials\": [\n  {\"name\": \"db.password\", \"text\": \"s3cr3t-text-value\"},\n  {\"name\": \"tls.key\", \"data\": \"czNjcjN0LWRhdGEtdmFsdWU=\"},\n  {\"name\": \"vault.token\", \"encrypted\": \"AAECAw==\"}\n]}\n--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho script >> \"$STRAP_ROOT/ran\"\n--b--\n",
    );
    // systemd-imds got there first with one of them.
    m.write("/run/credstore/db.password", "s3cr3t-text-value");
    let out = m.run_with(&["-v"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(m.read("/run/credstore/tls.key"), "s3cr3t-data-value");
    assert_eq!(m.read("/run/credstore/db.password"), "s3cr3t-text-value");
    assert_eq!(
        fs::read(m.path("/run/credstore.encrypted/vault.token")).unwrap(),
        [0, 1, 2, 3]
    );
    let mode = |p: &str| fs::metadata(m.path(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("/run/credstore/tls.key"), 0o400);
    assert_eq!(mode("/run/credstore.encrypted"), 0o700);
    assert_eq!(m.ran(), ["script"]);
    let item = m.item("user-data/part-001");
    assert_eq!(item["status"], "ran");
    let reason = item["reason"].as_str().unwrap();
    assert!(
        reason.contains("imported 2 credential(s) (tls.key, vault.token)")
            && reason.contains("1 already imported (db.password)"),
        "{reason}"
    );
    // Neither value is in the console, the logs, the records or the stored state.
    let mut seen = stdout(&out) + &stderr(&out);
    seen.push_str(&all_text_outside_credstore(&m.root));
    assert!(seen.contains("tls.key"));
    assert!(!seen.contains("s3cr3t-text-value"));
    assert!(!seen.contains("s3cr3t-data-value"));

    // Next boot: nothing written twice, the boot still done.
    let mut m = m;
    m.reboot();
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reason = m.item("user-data/part-001")["reason"].clone();
    assert!(
        reason.as_str().unwrap().contains("3 already imported"),
        "{reason}"
    );
}

#[test]
fn a_bad_systemd_userdata_part_degrades_the_boot_and_the_rest_runs() {
    let m = Machine::new(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n#systemd-userdata\n{\"systemd.credentials\": [\n  {\"name\": \"good\", \"text\": \"x\"},\n  {\"name\": \"../escape\", \"text\": \"y\"}\n]}\n--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho script >> \"$STRAP_ROOT/ran\"\n--b--\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(m.ran(), ["script"]);
    assert!(!m.path("/run/credstore/good").exists());
    assert!(!m.path("/run/escape").exists());
    let item = m.item("user-data/part-001");
    assert_eq!(item["status"], "failed");
    let reason = item["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("part-001 line 4 column ")
            && reason.contains("credential name \"../escape\" contains `/`"),
        "{reason}"
    );
    let status = stdout(&m.strap(&["status", "--long"]));
    assert!(status.contains("systemd user data rejected"), "{status}");
}

#[test]
fn a_local_boot_of_the_example_with_cloud_config_and_systemd_userdata_parts() {
    use std::os::unix::fs::PermissionsExt;
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/userdata/systemd-credentials.mime");
    let root = tempfile::tempdir().unwrap();
    let out = command("strap")
        .args(["run", "--local"])
        .arg(&example)
        .arg("--root")
        .arg(root.path())
        .env("STRAP_BOOT_ID", "b1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let conf = fs::read_to_string(root.path().join("etc/app/app.conf")).unwrap();
    assert!(
        conf.contains("password_file=/run/credstore/db.password"),
        "{conf}"
    );
    let cred = root.path().join("run/credstore/db.password");
    assert_eq!(fs::read_to_string(&cred).unwrap(), "example-only-password");
    assert_eq!(
        fs::read_to_string(root.path().join("run/credstore/app.token")).unwrap(),
        "example-only-token"
    );
    assert_eq!(
        fs::metadata(&cred).unwrap().permissions().mode() & 0o777,
        0o400
    );
    let mut seen = stdout(&out) + &stderr(&out);
    for log in ["var/log/strap.log", "var/log/strap-output.log"] {
        seen.push_str(&fs::read_to_string(root.path().join(log)).unwrap_or_default());
    }
    assert!(!seen.contains("example-only-password"), "{seen}");
}

#[test]
fn account_fields_cannot_inject_lines_into_the_roots_account_files() {
    // Each entry tries to add a uid-0 line with no password: through the name, a field,
    // a group, a sudo rule. The good user beside them is still created.
    let m = Machine::new(
        "#cloud-config\nusers:\n  - name: \"evil\\nroot2::0:0::/root:/bin/sh\"\n  - name: \"bob:x:0:0::/:/bin/sh\"\n  - name: -oops\n  - name: mallory\n    gecos: \"x\\nroot3::0:0::/root:/bin/sh\"\n  - name: trudy\n    groups: [\"wheel\\nroot4::0:\"]\n  - name: eve\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\\nALL ALL=(ALL) NOPASSWD:ALL\"\n  - name: alice\ngroups:\n  - \"ops:x:0:\"\n",
    );
    let out = m.run();
    assert_eq!(
        code(&out),
        1,
        "the bad entries fail the module: {}",
        stderr(&out)
    );
    let passwd = m.read("/etc/passwd");
    let shadow = m.read("/etc/shadow");
    let group = m.read("/etc/group");
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        assert_eq!(
            f.len(),
            7,
            "a passwd line with other than 7 fields: {line:?}"
        );
        assert_ne!(f[2], "0", "no uid-0 line was added: {passwd}");
    }
    for name in [
        "root2", "root3", "root4", "bob", "evil", "-oops", "mallory", "trudy", "ops",
    ] {
        assert!(
            !passwd
                .lines()
                .chain(shadow.lines())
                .chain(group.lines())
                .any(|l| l.starts_with(&format!("{name}:"))),
            "{name} is in the account files:\n{passwd}\n{group}"
        );
    }
    assert!(passwd.lines().any(|l| l.starts_with("alice:")), "{passwd}");
    let sudoers = m.read("/etc/sudoers.d/90-cloud-init-users");
    assert!(!sudoers.contains("ALL ALL="), "{sudoers}");
    let errors = m.strap(&["status", "--long"]);
    let text = stdout(&errors);
    assert!(
        text.contains("as useradd requires") && text.contains("would end the field or the line"),
        "{text}"
    );
}

#[test]
fn temp_files_a_killed_boot_left_are_removed_by_the_next_run() {
    let mut m = Machine::new(
        "#cloud-config\nhostname: web1\nwrite_files:\n  - path: /opt/app/app.conf\n    content: x\n",
    );
    assert_eq!(code(&m.run()), 0);
    // What a boot killed between creating a temp file and renaming it leaves behind;
    // beside it, files that only look alike, and a link under a temp name.
    let outside = m.root.parent().unwrap().join("outside");
    fs::write(&outside, "untouched\n").unwrap();
    let stale = [
        "/etc/.hostname.strap-0123456789abcdef",
        "/opt/app/.app.conf.strap-fedcba9876543210",
    ];
    let kept = [
        "/etc/.hostname.strap-notahexsuffix00",
        "/opt/app/app.conf.strap-0123456789abcdef",
    ];
    for p in stale.iter().chain(kept.iter()) {
        m.write(p, "half-written");
    }
    let link = m.path("/etc/.hosts.strap-00000000000000aa");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    for p in stale.iter().chain(kept.iter()) {
        let out = Command::new("touch")
            .args(["-h", "-d", "2 minutes ago"])
            .arg(m.path(p))
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    m.reboot();
    assert_eq!(code(&m.run()), 0);
    for p in stale {
        assert!(!m.path(p).exists(), "{p} was left");
    }
    for p in kept {
        assert!(m.path(p).exists(), "{p} was removed");
    }
    assert!(link.symlink_metadata().is_ok(), "the link is left alone");
    assert_eq!(fs::read_to_string(&outside).unwrap(), "untouched\n");
    assert!(
        m.read("/var/log/strap.log")
            .contains("removed 2 temp file(s) an earlier, killed run left behind"),
        "{}",
        m.read("/var/log/strap.log")
    );
}

#[test]
fn strap_never_writes_its_own_records_through_links_planted_in_the_root() {
    // An image tree whose strap folders hold links out of it: under the record names,
    // the spare of a record, the lock, the output log and a user data `output` target.
    let m = Machine::new(
        "#cloud-config\noutput: {all: '>> /var/log/app-boot.log'}\nruncmd: [echo hi]\n",
    );
    let outside = m.root.parent().unwrap().join("outside");
    fs::write(&outside, "untouched\n").unwrap();
    for p in [
        "/run/strap/status.json",
        "/run/strap/.result.json.next",
        "/var/lib/strap/strap.lock",
        "/var/lib/strap/data/.report.json.next",
        "/var/log/strap-output.log",
        "/var/log/app-boot.log",
    ] {
        let link = m.path(p);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, &link).unwrap();
    }
    let out = m.run();
    assert_eq!(fs::read_to_string(&outside).unwrap(), "untouched\n");
    let status = m.strap(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap_or_default();
    assert!(
        json["extended_status"].is_string(),
        "the boot still recorded its status: {}\n{}",
        stdout(&status),
        stderr(&out)
    );
    // Each link is still a link, or was replaced by a regular file: never followed.
    for p in ["/run/strap/status.json", "/var/lib/strap/data/report.json"] {
        let meta = m.path(p).symlink_metadata().unwrap();
        assert!(meta.is_file(), "{p} is a regular file now");
    }
}

#[test]
fn salt_minion_and_ansible_are_configured_and_their_commands_recorded_under_root() {
    let m = Machine::new(
        "#cloud-config\nsalt_minion:\n  conf: {master: salt.example}\n  grains: {role: web}\n  public_key: PUBKEY\n  private_key: PRIVATE-KEY-never-logged\nansible:\n  install_method: distro\n  package_name: ansible-core\n  pull: {url: 'https://git.example/site.git', playbook_name: site.yml}\n",
    );
    m.write("/etc/os-release", "ID=debian\nVERSION_ID=12\n");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(m
        .read("/etc/salt/minion")
        .contains("\"master\": \"salt.example\""));
    assert!(m.read("/etc/salt/grains").contains("\"role\": \"web\""));
    let pem = m.path("/etc/salt/pki/minion.pem");
    assert_eq!(
        fs::read_to_string(&pem).unwrap(),
        "PRIVATE-KEY-never-logged"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(&pem).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let log = m.read("/var/log/strap-output.log");
    for line in [
        "salt_minion: would run `apt-get install --assume-yes --quiet salt-minion` (not run under --root)",
        "salt_minion: would run `systemctl restart salt-minion` (not run under --root)",
        "ansible: would run `apt-get install --assume-yes --quiet ansible-core` (not run under --root)",
        "ansible: would run `ansible-pull --url=https://git.example/site.git site.yml` (not run under --root)",
    ] {
        assert!(log.contains(line), "{line}\n{log}");
    }
    let mut seen = stdout(&out) + &stderr(&out) + &log;
    seen.push_str(&m.read("/var/log/strap.log"));
    seen.push_str(&m.read("/var/lib/strap/data/report.json"));
    assert!(!seen.contains("PRIVATE-KEY-never-logged"));
}

#[test]
fn a_sudo_rule_visudo_refuses_is_never_written() {
    if !strap_e2e::have_program("visudo") {
        eprintln!("skipped: visudo is not on PATH (apt-get install sudo)");
        return;
    }
    // A broken rule would make sudo refuse the whole drop-in, and every user's rules.
    let m = Machine::new(
        "#cloud-config\nusers:\n  - name: bob\n    sudo: \"ALL=(ALL NOPASSWD:ALL\"\n  - name: alice\n    sudo: \"ALL=(ALL) ALL\"\n",
    );
    let out = m.run();
    assert_eq!(
        code(&out),
        1,
        "the bad rule fails the module: {}",
        stderr(&out)
    );
    let sudoers = m.read("/etc/sudoers.d/90-cloud-init-users");
    assert!(!sudoers.contains("bob "), "{sudoers}");
    assert!(sudoers.contains("alice ALL=(ALL) ALL\n"), "{sudoers}");
    let text = stdout(&m.strap(&["status", "--long"]));
    assert!(
        text.contains("users.bob.sudo")
            && text.contains(
                "visudo -c rejects the sudoers drop-in (/etc/sudoers.d/90-cloud-init-users:"
            ),
        "{text}"
    );
}

#[test]
fn hostnames_and_keys_cannot_add_lines_to_hosts_or_authorized_keys() {
    let m = Machine::new(
        "#cloud-config\nmanage_etc_hosts: true\nhostname: \"web1\\n10.6.6.6 bank.example\"\nusers:\n  - name: alice\n    ssh_authorized_keys: [\"ssh-ed25519 AAAAgood alice\", \"ssh-ed25519 AAAAx\\ncommand=\\\"evil\\\" ssh-rsa AAAAbad\"]\n",
    );
    let out = m.run();
    assert_eq!(
        code(&out),
        1,
        "the bad values fail their modules: {}",
        stderr(&out)
    );
    let hosts = m.read("/etc/hosts");
    assert!(!hosts.contains("bank.example"), "{hosts}");
    assert!(
        !m.read("/etc/hostname").contains("bank"),
        "{}",
        m.read("/etc/hostname")
    );
    let keys = m.read("/home/alice/.ssh/authorized_keys");
    assert!(
        !keys.contains("AAAAbad") && !keys.contains("evil"),
        "{keys}"
    );
    let text = stdout(&m.strap(&["status", "--long"]));
    assert!(text.contains("users.alice.ssh_authorized_keys.1"), "{text}");
    assert!(
        text.contains("which /etc/hosts would read as a new field or line"),
        "{text}"
    );
}

#[test]
fn a_second_boot_on_the_same_state_folder_is_refused_and_names_the_first() {
    // The first boot's part waits for the test's word, so the second surely meets it.
    let m = Machine::new(
        "#!/bin/sh\ni=0\nwhile [ ! -e \"$STRAP_ROOT/go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\necho once >> \"$STRAP_ROOT/ran\"\n",
    );
    let mut first = command("strap")
        .arg("run")
        .arg("--seed")
        .arg(&m.seed)
        .arg("--root")
        .arg(&m.root)
        .env("STRAP_BOOT_ID", &m.boot_id)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = m.path("/var/lib/strap/strap.lock");
    let pid = first.id().to_string();
    let mut waited = 0;
    while fs::read_to_string(&lock).unwrap_or_default().trim() != pid && waited < 200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        waited += 1;
    }
    let second = m.run();
    fs::write(m.path("/go"), "").unwrap();
    let first_status = first.wait().unwrap();
    assert!(first_status.success());
    assert_eq!(code(&second), 1, "{}", stderr(&second));
    let err = stderr(&second);
    assert!(
        err.contains("another strap run") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    assert_eq!(m.ran(), ["once"], "the part ran once");
    // Once the first has ended, the next boot takes the lock.
    assert_eq!(code(&m.run()), 0);
}

#[test]
fn a_local_boot_refuses_to_reconfigure_this_machine_unless_asked() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/userdata/hello.yaml");
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("looks-like-a-folder");
    std::os::unix::fs::symlink("/", &link).unwrap();
    for root in [None, Some(Path::new("/")), Some(link.as_path())] {
        let mut cmd = command("strap");
        cmd.args(["run", "--local"]).arg(&example);
        if let Some(r) = root {
            cmd.arg("--root").arg(r);
        }
        let out = cmd.output().unwrap();
        assert_eq!(code(&out), 1, "{root:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("would boot this machine itself") && err.contains("--on-this-machine"),
            "{root:?}: {err}"
        );
    }
}

/// Every file under `dir` (nothing is expected there).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn write_files_through_planted_links_never_leave_the_root() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let m = Machine::new(
        "#cloud-config\nwrite_files:\n  - path: /srv/up/x\n    content: escaped\n  - path: /srv/slash/etc/motd\n    content: inside\n  - path: /srv/log\n    content: appended\n    append: true\n  - path: /tmp/cache/passwd\n    content: planted\n  - path: /etc/issue\n    content: fine\n",
    );
    let outside = m.root.parent().unwrap().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("log"), "kept\n").unwrap();
    fs::create_dir_all(m.path("/srv")).unwrap();
    fs::create_dir_all(m.path("/etc")).unwrap();
    symlink("../../outside", m.path("/srv/up")).unwrap();
    symlink("/", m.path("/srv/slash")).unwrap();
    symlink(outside.join("log"), m.path("/srv/log")).unwrap();
    // A guess at a temp name, planted in the target's folder.
    symlink(
        outside.join("issue"),
        m.path("/etc/.issue.strap-0000000000000000"),
    )
    .unwrap();
    // Another user's link in a public folder (only root can plant one for someone else).
    use std::os::unix::fs::MetadataExt;
    let as_root = fs::metadata(&m.root).unwrap().uid() == 0;
    fs::create_dir_all(m.path("/tmp")).unwrap();
    fs::set_permissions(m.path("/tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir_all(m.path("/etc/real")).unwrap();
    symlink("/etc/real", m.path("/tmp/cache")).unwrap();
    if as_root {
        std::os::unix::fs::lchown(m.path("/tmp/cache"), Some(4242), Some(4242)).unwrap();
    }
    let out = m.run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(m.read("/etc/motd"), "inside", "a link to / is the root's /");
    assert_eq!(m.read("/etc/issue"), "fine");
    assert_eq!(fs::read_to_string(outside.join("log")).unwrap(), "kept\n");
    let escaped: Vec<_> = files_under(&outside)
        .into_iter()
        .filter(|p| !p.ends_with("log"))
        .collect();
    assert!(escaped.is_empty(), "written outside the root: {escaped:?}");
    let text = stdout(&m.strap(&["status", "--long"]));
    assert!(
        text.contains("write_files.0")
            && text.contains("/srv/up/x")
            && text.contains("leaves the root"),
        "{text}"
    );
    // An absolute link is read inside the root, as a chroot would: the append lands there.
    let inside = m.root.join(outside.strip_prefix("/").unwrap()).join("log");
    assert_eq!(fs::read_to_string(inside).unwrap(), "appended");
    if as_root {
        assert!(
            text.contains("write_files.3") && text.contains("owned by uid 4242"),
            "{text}"
        );
        assert!(!m.path("/etc/real/passwd").exists());
    }
}

#[test]
fn write_files_raced_by_a_link_swapped_into_the_path_never_leave_the_root() {
    use std::sync::atomic::{AtomicBool, Ordering};
    // Trials: each a fresh machine whose /srv/race flips between a folder and links out
    // of the root while the boot writes 150 files into it.
    let mut entries = String::from("#cloud-config\nwrite_files:\n");
    for i in 0..150 {
        entries.push_str(&format!(
            "  - path: /srv/race/sub/f{i}\n    content: x\n  - path: /srv/race/f{i}\n    content: y\n    append: true\n"
        ));
    }
    for trial in 0..4 {
        let m = Machine::new(&entries);
        let outside = m.root.parent().unwrap().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(m.path("/srv")).unwrap();
        let race = m.path("/srv/race");
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let links = [PathBuf::from("../../outside"), outside.clone()];
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let _ = fs::remove_dir_all(&race);
                    let _ = fs::remove_file(&race);
                    if i % 2 == 0 {
                        let _ = fs::create_dir_all(race.join("sub"));
                    } else {
                        let _ = std::os::unix::fs::symlink(&links[i / 2 % 2], &race);
                    }
                    i += 1;
                }
            });
            let out = m.run();
            stop.store(true, Ordering::Relaxed);
            assert!(code(&out) <= 1, "trial {trial}: {}", stderr(&out));
        });
        let escaped = files_under(&outside);
        assert!(
            escaped.is_empty(),
            "trial {trial}: written outside: {escaped:?}"
        );
    }
}

#[test]
fn a_users_link_in_their_home_does_not_send_their_keys_into_roots() {
    // bob (uid 1500) points ~/.ssh at root's folder: strap, as root, must not follow it
    // to write authorized_keys there and give it to bob.
    use std::os::unix::fs::MetadataExt;
    let m = Machine::new(
        "#cloud-config\nusers:\n  - name: bob\n    ssh_authorized_keys: [ssh-ed25519 AAAAbob bob@laptop]\n",
    );
    if fs::metadata(&m.root).unwrap().uid() != 0 {
        eprintln!("skipping: a link owned by someone else needs root to plant");
        return;
    }
    fs::create_dir_all(m.path("/etc")).unwrap();
    fs::write(
        m.path("/etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1500:1500::/home/bob:/bin/sh\n",
    )
    .unwrap();
    fs::write(m.path("/etc/group"), "root:x:0:\nbob:x:1500:\n").unwrap();
    fs::write(m.path("/etc/shadow"), "root:*:1::::::\nbob:*:1::::::\n").unwrap();
    fs::create_dir_all(m.path("/root/.ssh")).unwrap();
    fs::create_dir_all(m.path("/home/bob")).unwrap();
    std::os::unix::fs::symlink("/root/.ssh", m.path("/home/bob/.ssh")).unwrap();
    std::os::unix::fs::lchown(m.path("/home/bob/.ssh"), Some(1500), Some(1500)).unwrap();
    let out = m.run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(!m.path("/root/.ssh/authorized_keys").exists());
    assert_eq!(fs::metadata(m.path("/root/.ssh")).unwrap().uid(), 0);
    let text = stdout(&m.strap(&["status", "--long"]));
    assert!(
        text.contains("/home/bob/.ssh/authorized_keys") && text.contains("owned by uid 1500"),
        "{text}"
    );
}
