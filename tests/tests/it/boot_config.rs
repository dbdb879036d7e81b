//! `strap run` end to end for the system-configuration modules (`set_passwords`,
//! `ca_certs`, `ntp`, `apt_configure`): the real binary booting under a temporary root
//! that looks like a distro (an os-release, sshd, chrony...), checking the files written
//! under the root, the commands recorded instead of run, and that passwords stay out of
//! every log and record.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use strap_e2e::{code, command, have_program, stderr};

/// A temporary root and its seed folder.
struct Machine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    seed: PathBuf,
}

impl Machine {
    fn new(user_data: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let seed = dir.path().join("seed");
        fs::create_dir_all(&root).unwrap();
        let doc = seed.join("latest/dynamic/instance-identity/document");
        fs::create_dir_all(doc.parent().unwrap()).unwrap();
        fs::write(
            &doc,
            r#"{"instanceId": "i-0sysconf000000001", "region": "eu-west-1"}"#,
        )
        .unwrap();
        let host = seed.join("latest/meta-data/local-hostname");
        fs::create_dir_all(host.parent().unwrap()).unwrap();
        fs::write(host, "ip-10-0-0-5.eu-west-1.compute.internal").unwrap();
        fs::write(seed.join("latest/user-data"), user_data).unwrap();
        Self {
            _dir: dir,
            root,
            seed,
        }
    }

    fn file(&self, p: &str, text: &str) {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn run(&self) -> Output {
        command("strap")
            .arg("run")
            .arg("--seed")
            .arg(&self.seed)
            .arg("--root")
            .arg(&self.root)
            .env("STRAP_BOOT_ID", "boot-1")
            .output()
            .unwrap()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn read(&self, p: &str) -> String {
        fs::read_to_string(self.path(p)).unwrap_or_default()
    }

    fn item(&self, name: &str) -> serde_json::Value {
        let report: serde_json::Value =
            serde_json::from_str(&self.read("/var/lib/strap/data/report.json")).unwrap();
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no item {name} in the report"))
    }

    fn shadow(&self, user: &str) -> Vec<String> {
        self.read("/etc/shadow")
            .lines()
            .find(|l| l.starts_with(&format!("{user}:")))
            .unwrap_or_else(|| panic!("no shadow line for {user}"))
            .split(':')
            .map(str::to_string)
            .collect()
    }
}

/// Whether `hash` is the SHA-512 crypt of `password` (checked with `openssl passwd`).
fn crypt_matches(password: &str, hash: &str) -> Option<bool> {
    if !have_program("openssl") {
        eprintln!("skipping the hash check: openssl is not installed");
        return None;
    }
    let salt = hash.strip_prefix("$6$")?.split('$').next()?;
    // The password goes through stdin: a random one may begin with `-`, which
    // openssl would take for an option.
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, "-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl passwd failed");
    Some(String::from_utf8_lossy(&out.stdout).trim() == hash)
}

const PASSWORDS: &str = r#"#cloud-config
users: [default, {name: bob}, {name: carol}]
chpasswd:
  users:
    - {name: bob, password: Sup3rSecretText, type: text}
    - {name: carol, password: "$6$abc$MtSdWSZbhct2oe.SOqOUM2M/GA/uj5.vyVtJgRHgKi9uqXuWuJqOYE7H/YlsYGVg/YYzDV0xt3fEIwYt580.5."}
    - {name: ec2-user, type: RANDOM}
ssh_pwauth: true
"#;

#[test]
fn passwords_are_hashed_into_shadow_expired_and_never_logged() {
    let m = Machine::new(PASSWORDS);
    // An Amazon Linux image: its default user is ec2-user.
    m.file("/etc/os-release", "ID=amzn\n");
    m.file(
        "/etc/ssh/sshd_config",
        "Port 22\nPasswordAuthentication no\n",
    );
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let item = m.item("config-set_passwords");
    assert_eq!(item["status"], "ran", "{item}");
    assert_eq!(item["stage"], "modules-config");

    let bob = m.shadow("bob");
    assert!(bob[1].starts_with("$6$"), "{bob:?}");
    assert_eq!(
        bob[2], "0",
        "expire (the default) sets the last change to 0"
    );
    if let Some(ok) = crypt_matches("Sup3rSecretText", &bob[1]) {
        assert!(ok, "bob's hash does not verify: {}", bob[1]);
    }
    // A hash is stored as given.
    assert!(m.shadow("carol")[1].starts_with("$6$abc$MtSdWSZbhct2oe"));

    // The random password is shown once in the output log, and nowhere in strap.log.
    let output = m.read("/var/log/strap-output.log");
    let random = output
        .lines()
        .skip_while(|l| !l.contains("Set the following 'random' passwords"))
        .nth(1)
        .and_then(|l| l.strip_prefix("ec2-user:"))
        .unwrap_or_else(|| panic!("no random password in the output log:\n{output}"))
        .to_string();
    assert_eq!(random.len(), 20, "{random}");
    let ec2 = m.shadow("ec2-user");
    if let Some(ok) = crypt_matches(&random, &ec2[1]) {
        assert!(ok, "the random password does not match its hash");
    }

    // Plain-text passwords reach no log, record or console.
    let strap_log = m.read("/var/log/strap.log");
    assert!(strap_log.contains("set_passwords"), "{strap_log}");
    assert!(!strap_log.contains(&random));
    for (name, text) in [
        ("strap.log", strap_log.clone()),
        ("output log", output.clone()),
        ("report.json", m.read("/var/lib/strap/data/report.json")),
        ("status.json", m.read("/run/strap/status.json")),
        ("result.json", m.read("/run/strap/result.json")),
        ("stderr", stderr(&out)),
    ] {
        assert!(!text.is_empty(), "{name} is empty");
        assert!(!text.contains("Sup3rSecretText"), "password in {name}");
        assert!(!text.contains(&bob[1]), "bob's hash in {name}");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Sup3rSecretText"));

    // ssh_pwauth edits sshd_config; the restart is recorded, not run.
    assert_eq!(
        m.read("/etc/ssh/sshd_config"),
        "Port 22\nPasswordAuthentication yes\n"
    );
    let tail = item["output_tail"].to_string();
    assert!(
        tail.contains("would run `systemctl try-restart sshd`"),
        "{tail}"
    );

    // Per instance: a second boot of the same instance leaves the passwords alone.
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(m.item("config-set_passwords")["status"], "skipped");
    assert_eq!(m.shadow("bob")[1], bob[1]);
    assert_eq!(m.shadow("ec2-user")[1], ec2[1]);
}

#[test]
fn password_goes_to_the_default_user_and_sshd_drop_in_is_used() {
    let m = Machine::new(
        "#cloud-config\npassword: DefaultUserPw9\nchpasswd: {expire: false}\nssh_pwauth: false\n",
    );
    m.file("/etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n");
    m.file(
        "/etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\n",
    );
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let admin = m.shadow("admin");
    assert!(admin[1].starts_with("$6$"), "{admin:?}");
    assert_ne!(admin[2], "0", "expire: false keeps the password valid");
    if let Some(ok) = crypt_matches("DefaultUserPw9", &admin[1]) {
        assert!(ok);
    }
    // The main file is left alone; the drop-in gets the setting.
    assert!(m
        .read("/etc/ssh/sshd_config")
        .contains("PasswordAuthentication yes"));
    assert_eq!(
        m.read("/etc/ssh/sshd_config.d/50-cloud-init.conf"),
        "PasswordAuthentication no\n"
    );
    assert!(m.item("config-set_passwords")["output_tail"]
        .to_string()
        .contains("systemctl try-restart ssh`"));
}

#[test]
fn a_password_for_a_missing_user_fails_the_module_not_the_boot() {
    let m = Machine::new(
        "#cloud-config\nchpasswd:\n  users:\n    - {name: ghost, password: Xyz12345, type: text}\nruncmd:\n  - touch \"$STRAP_ROOT/ran\"\n",
    );
    let out = m.run();
    assert!(!out.status.success());
    let item = m.item("config-set_passwords");
    assert_eq!(item["status"], "failed");
    assert!(
        item["reason"].as_str().unwrap().contains("user ghost"),
        "{item}"
    );
    assert!(m.path("/ran").exists(), "runcmd still ran");
    assert!(!m.read("/var/log/strap.log").contains("Xyz12345"));
}

#[test]
fn bad_chpasswd_is_reported_with_its_key() {
    let m = Machine::new(
        "#cloud-config\nchpasswd:\n  users:\n    - {name: a, password: x, type: md5}\n",
    );
    let out = m.run();
    assert!(!out.status.success());
    let item = m.item("config-set_passwords");
    let reason = item["reason"].as_str().unwrap();
    assert!(reason.contains("chpasswd.users.0.type"), "{reason}");
}

const CERTS: &str = r#"#cloud-config
ca_certs:
  remove_defaults: true
  trusted:
    - |
      -----BEGIN CERTIFICATE-----
      MIIBfirst
      -----END CERTIFICATE-----
    - "-----BEGIN CERTIFICATE-----\nMIIBsecond\n-----END CERTIFICATE-----"
"#;

#[test]
fn ca_certs_on_debian_write_local_anchors_and_record_the_update() {
    let m = Machine::new(CERTS);
    m.file("/etc/os-release", "ID=ubuntu\nID_LIKE=debian\n");
    m.file(
        "/etc/ca-certificates.conf",
        "# header\nmozilla/A.crt\nmozilla/B.crt\n",
    );
    m.file(
        "/usr/local/share/ca-certificates/cloud-init-ca-cert-3.crt",
        "stale",
    );
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let item = m.item("config-ca_certs");
    assert_eq!(item["status"], "ran", "{item}");
    assert_eq!(item["stage"], "init-network");
    let dir = "/usr/local/share/ca-certificates";
    assert_eq!(
        m.read(&format!("{dir}/cloud-init-ca-cert-1.crt")),
        "-----BEGIN CERTIFICATE-----\nMIIBfirst\n-----END CERTIFICATE-----\n"
    );
    assert!(m
        .read(&format!("{dir}/cloud-init-ca-cert-2.crt"))
        .contains("MIIBsecond"));
    assert!(!m.path(&format!("{dir}/cloud-init-ca-cert-3.crt")).exists());
    assert_eq!(
        m.read("/etc/ca-certificates.conf"),
        "# header\n!mozilla/A.crt\n!mozilla/B.crt\n"
    );
    let tail = item["output_tail"].to_string();
    assert!(
        tail.contains("would run `update-ca-certificates`"),
        "{tail}"
    );
    assert!(
        tail.contains("would run `debconf-set-selections`"),
        "{tail}"
    );
    assert!(m
        .read("/var/log/strap-output.log")
        .contains("ca_certs: would run `update-ca-certificates` (not run under --root)"));
}

#[test]
fn ca_certs_on_rhel_use_the_trust_anchors() {
    let m = Machine::new("#cloud-config\nca-certs:\n  trusted: [\"-----BEGIN CERTIFICATE-----\\nMIIBrhel\\n-----END CERTIFICATE-----\\n\"]\n");
    m.file(
        "/etc/os-release",
        "ID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\n",
    );
    let out = m.run();
    // The deprecated spelling is a warning: the boot is degraded (2), not failed.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(m
        .read("/etc/pki/ca-trust/source/anchors/cloud-init-ca-cert-1.crt")
        .contains("MIIBrhel"));
    assert!(m.item("config-ca_certs")["output_tail"]
        .to_string()
        .contains("would run `update-ca-trust`"));
    let status = m.read("/run/strap/status.json");
    assert!(
        status.contains("the key `ca-certs` is deprecated"),
        "{status}"
    );
}

#[test]
fn ntp_configures_the_installed_client_and_records_the_restart() {
    let m = Machine::new(
        "#cloud-config\nntp:\n  servers: [ntp.example.com]\n  pools: [pool.example.com]\n  allow: [10.0.0.0/8]\n",
    );
    m.file("/etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n");
    m.file("/usr/sbin/chronyd", "");
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    let conf = m.read("/etc/chrony/chrony.conf");
    assert!(
        conf.contains(
            "pool pool.example.com iburst\nserver ntp.example.com iburst\nallow 10.0.0.0/8\n"
        ),
        "{conf}"
    );
    let item = m.item("config-ntp");
    assert_eq!(item["stage"], "modules-config");
    let tail = item["output_tail"].to_string();
    assert!(
        tail.contains("would run `systemctl enable chrony`"),
        "{tail}"
    );
    assert!(
        tail.contains("would run `systemctl reload-or-restart chrony`"),
        "{tail}"
    );
    assert!(!tail.contains("apt-get"), "chrony is installed: {tail}");
}

#[test]
fn ntp_auto_prefers_timesyncd_over_ntp_and_installs_chrony_when_none_is_there() {
    let m = Machine::new("#cloud-config\nntp: {}\n");
    m.file("/etc/os-release", "ID=ubuntu\nID_LIKE=debian\n");
    m.file("/lib/systemd/systemd-timesyncd", "");
    m.file("/usr/sbin/ntpd", "");
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        m.read("/etc/systemd/timesyncd.conf.d/cloud-init.conf"),
        "# Written by strap from the cloud-config `ntp` key.\n[Time]\nNTP=0.ubuntu.pool.ntp.org 1.ubuntu.pool.ntp.org 2.ubuntu.pool.ntp.org 3.ubuntu.pool.ntp.org\n"
    );
    assert!(!m.path("/etc/ntp.conf").exists());

    let m = Machine::new("#cloud-config\nntp: {servers: [10.1.1.1]}\n");
    m.file(
        "/etc/os-release",
        "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n",
    );
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(m
        .read("/etc/chrony.conf")
        .contains("server 10.1.1.1 iburst\n"));
    let tail = m.item("config-ntp")["output_tail"].to_string();
    assert!(
        tail.contains("install -y chrony` (not run under --root)"),
        "{tail}"
    );
    assert!(tail.contains("systemctl enable chronyd"), "{tail}");
}

#[test]
fn ntp_on_an_unknown_distro_writes_the_file_and_warns_about_the_missing_client() {
    let m = Machine::new("#cloud-config\nntp: {servers: [10.2.2.2]}\n");
    let out = m.run();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(m
        .read("/etc/chrony.conf")
        .contains("server 10.2.2.2 iburst\n"));
    let tail = m.item("config-ntp")["output_tail"].to_string();
    assert!(!tail.contains("install"), "{tail}");
    let status = m.read("/run/strap/status.json");
    assert!(status.contains("chrony is not installed"), "{status}");
}

#[test]
fn ntp_disabled_or_bad_writes_nothing() {
    let m = Machine::new("#cloud-config\nntp: {enabled: false, servers: [a]}\n");
    m.file("/usr/sbin/chronyd", "");
    assert!(m.run().status.success());
    assert_eq!(m.item("config-ntp")["status"], "skipped");
    assert!(!m.path("/etc/chrony.conf").exists());

    let m = Machine::new("#cloud-config\nntp: {ntp_client: mystery}\n");
    let out = m.run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let reason = m.item("config-ntp")["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("ntp.ntp_client") && reason.contains("mystery"),
        "{reason}"
    );
}

const APT: &str = r#"#cloud-config
apt:
  primary:
    - arches: [default]
      uri: http://mirror.example.com/debian
  security:
    - arches: [default]
      uri: http://security.example.com/debian-security
  disable_suites: [backports]
  proxy: http://proxy.example.com:3128
  https_proxy: http://proxy.example.com:3129
  conf: |
    APT::Get::Assume-Yes "true";
  sources:
    docker:
      source: deb [signed-by=$KEY_FILE] https://download.docker.com/linux/debian $RELEASE stable
      key: |
        -----BEGIN PGP PUBLIC KEY BLOCK-------
        dockerkey
        -----END PGP PUBLIC KEY BLOCK-------
    internal:
      source: deb $MIRROR $RELEASE internal
      key: "-----BEGIN PGP PUBLIC KEY BLOCK-------\ninternalkey\n-----END PGP PUBLIC KEY BLOCK-------"
    fetched:
      keyid: 0EBFCD88
      source: deb http://fetched.example.com $RELEASE main
    deadsnakes:
      source: ppa:deadsnakes/ppa
"#;

#[test]
fn apt_sources_keys_proxy_and_mirrors_on_debian() {
    let m = Machine::new(APT);
    m.file("/etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n");
    m.file(
        "/etc/apt/sources.list",
        "deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-backports main\ndeb http://deb.debian.org/debian-security bookworm-security main\ndeb http://other.example.org/repo stable main\n",
    );
    m.file("/etc/apt/apt.conf.d/90cloud-init-aptproxy", "stale");
    let out = m.run();
    // The keyid that is not fetched is a warning: degraded.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let item = m.item("config-apt_configure");
    assert_eq!(item["status"], "ran", "{item}");
    assert_eq!(item["stage"], "modules-config");
    assert_eq!(
        m.read("/etc/apt/sources.list"),
        "deb http://mirror.example.com/debian bookworm main\n# suite disabled by strap: deb http://mirror.example.com/debian bookworm-backports main\ndeb http://security.example.com/debian-security bookworm-security main\ndeb http://other.example.org/repo stable main\n"
    );
    assert_eq!(
        m.read("/etc/apt/sources.list.d/docker.list"),
        "deb [signed-by=/etc/apt/cloud-init.gpg.d/docker.asc] https://download.docker.com/linux/debian bookworm stable\n"
    );
    assert!(m
        .read("/etc/apt/cloud-init.gpg.d/docker.asc")
        .contains("dockerkey"));
    assert_eq!(
        m.read("/etc/apt/sources.list.d/internal.list"),
        "deb http://mirror.example.com/debian bookworm internal\n"
    );
    assert_eq!(
        m.read("/etc/apt/trusted.gpg.d/internal.asc"),
        "-----BEGIN PGP PUBLIC KEY BLOCK-------\ninternalkey\n-----END PGP PUBLIC KEY BLOCK-------\n"
    );
    // keyid: the source is written, the key is not fetched, and the warning says why.
    assert!(m
        .read("/etc/apt/sources.list.d/fetched.list")
        .contains("fetched.example.com"));
    assert!(!m.path("/etc/apt/trusted.gpg.d/fetched.asc").exists());
    let status = m.read("/run/strap/status.json");
    assert!(status.contains("keyid 0EBFCD88 not fetched"), "{status}");
    assert_eq!(
        m.read("/etc/apt/apt.conf.d/90cloud-init-aptproxy"),
        "Acquire::http::Proxy \"http://proxy.example.com:3128\";\nAcquire::https::Proxy \"http://proxy.example.com:3129\";\n"
    );
    assert_eq!(
        m.read("/etc/apt/apt.conf.d/94cloud-init-config"),
        "APT::Get::Assume-Yes \"true\";\n"
    );
    let tail = item["output_tail"].to_string();
    assert!(
        tail.contains("would run `add-apt-repository --no-update ppa:deadsnakes/ppa`"),
        "{tail}"
    );
}

#[test]
fn apt_is_for_debian_roots_and_preserves_sources_when_asked() {
    let m = Machine::new("#cloud-config\napt:\n  proxy: http://p:1\n");
    m.file("/etc/os-release", "ID=fedora\n");
    assert!(m.run().status.success());
    let item = m.item("config-apt_configure");
    assert_eq!(item["status"], "skipped");
    assert!(item["reason"].as_str().unwrap().contains("fedora"));
    assert!(!m.path("/etc/apt/apt.conf.d/90cloud-init-aptproxy").exists());

    let m = Machine::new(
        "#cloud-config\napt:\n  preserve_sources_list: true\n  primary: [{arches: [default], uri: 'http://m/ubuntu'}]\n  sources_list: |\n    deb $MIRROR $RELEASE main\n",
    );
    m.file(
        "/etc/os-release",
        "ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n",
    );
    m.file(
        "/etc/apt/sources.list",
        "deb http://archive.ubuntu.com/ubuntu noble main\n",
    );
    assert!(m.run().status.success());
    assert_eq!(
        m.read("/etc/apt/sources.list"),
        "deb http://archive.ubuntu.com/ubuntu noble main\n"
    );

    // Without preserve, a sources_list template is rendered.
    let m = Machine::new(
        "#cloud-config\napt:\n  primary: [{arches: [default], uri: 'http://m/ubuntu'}]\n  sources_list: |\n    deb $MIRROR $RELEASE main\n    deb $SECURITY $RELEASE-security main\n",
    );
    m.file(
        "/etc/os-release",
        "ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n",
    );
    assert!(m.run().status.success());
    assert_eq!(
        m.read("/etc/apt/sources.list"),
        "deb http://m/ubuntu noble main\ndeb http://m/ubuntu noble-security main\n"
    );
}

/// `output`: each stage's output also goes where the config says, as cloud-init's
/// stages redirect theirs: bootcmd runs in the init stage, runcmd (a script) in the
/// final stage; `| tee -a FILE` is that file; other commands are recorded under --root.
#[test]
fn output_sends_each_stage_where_the_config_says() {
    let m = Machine::new(
        "#cloud-config\noutput:\n  init: ['>> /var/log/init.out', '> /var/log/init.err']\n  \
         config: '| logger -t cloud-init'\n  all: '| tee -a /var/log/cloud-init-output.log'\n\
         bootcmd: ['echo boot-out; echo boot-err >&2']\nruncmd: ['echo final-out']\n",
    );
    m.file("/var/log/init.err", "old\n");
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(m.read("/var/log/init.out"), "boot-out\n");
    assert_eq!(m.read("/var/log/init.err"), "boot-err\n", "truncated first");
    let all = m.read("/var/log/cloud-init-output.log");
    assert!(all.contains("running 'modules-final'"), "{all}");
    assert!(all.contains("\nfinal-out\n"), "{all}");
    assert!(
        !all.contains("boot-out") && !all.contains("modules-config"),
        "{all}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(m.path("/var/log/cloud-init-output.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // strap's own output log still has everything, with its labels.
    let own = m.read("/var/log/strap-output.log");
    assert!(
        own.contains("boot-out") && own.contains("final-out"),
        "{own}"
    );
    assert!(
        own.contains("output: would pipe the config stage's output to `logger -t cloud-init` (not run under --root)"),
        "{own}"
    );
}

#[test]
fn bad_output_is_a_warning_and_the_boot_goes_on() {
    let m = Machine::new("#cloud-config\noutput: {all: [5]}\nruncmd: ['echo still']\n");
    let out = m.run();
    // A warning: the boot is degraded, not failed.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(m.read("/var/log/strap-output.log").contains("still"));
    let log = m.read("/var/log/strap.log");
    assert!(
        log.contains("output redirection for the final stage: cloud-config key `output.all`"),
        "{log}"
    );
}

/// `locale` on Debian: the locale file written as `update-locale` writes it, the
/// commands recorded under --root; on RHEL `/etc/locale.conf`; `false` leaves it alone.
#[test]
fn locale_on_debian_rhel_and_disabled() {
    let m = Machine::new("#cloud-config\nlocale: de_DE.UTF-8\n");
    m.file("/etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n");
    m.file("/etc/default/locale", "LANG=C.UTF-8\nLC_TIME=C\n");
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        m.read("/etc/default/locale"),
        "LANG=de_DE.UTF-8\nLC_TIME=C\n"
    );
    let item = m.item("config-locale");
    assert_eq!(item["stage"], "modules-config");
    let tail = item["output_tail"].to_string();
    assert!(
        tail.contains("would run `locale-gen de_DE.UTF-8` (not run under --root)"),
        "{tail}"
    );
    assert!(
        tail.contains("wrote /etc/default/locale as `update-locale --locale-file=/etc/default/locale LANG=de_DE.UTF-8` would"),
        "{tail}"
    );

    // locale_configfile, and a locale that needs no generation.
    let m =
        Machine::new("#cloud-config\nlocale: C.UTF-8\nlocale_configfile: /etc/alternate/locale\n");
    m.file("/etc/os-release", "ID=ubuntu\nID_LIKE=debian\n");
    assert!(m.run().status.success());
    assert_eq!(
        m.read("/etc/alternate/locale"),
        "#  File generated by update-locale\nLANG=C.UTF-8\n"
    );
    assert!(!m.item("config-locale")["output_tail"]
        .to_string()
        .contains("locale-gen"));

    let m = Machine::new("#cloud-config\nlocale: en_GB.UTF-8\n");
    m.file(
        "/etc/os-release",
        "ID=amzn\nID_LIKE=\"centos rhel fedora\"\n",
    );
    m.file("/etc/locale.conf", "LANG=en_US.UTF-8\n");
    assert!(m.run().status.success());
    assert_eq!(m.read("/etc/locale.conf"), "LANG=en_GB.UTF-8\n");

    let m = Machine::new("#cloud-config\nlocale: false\n");
    m.file("/etc/os-release", "ID=debian\n");
    assert!(m.run().status.success());
    assert_eq!(m.item("config-locale")["status"], "skipped");
    assert!(!m.path("/etc/default/locale").exists());
}

/// `yum_repos` on Amazon Linux: one `.repo` file per repository as cloud-init writes
/// it, an existing file kept, a repository without `baseurl`, `metalink` or `mirrorlist`
/// skipped with a warning; on Debian nothing is written.
#[test]
fn yum_repos_write_repo_files_on_the_rhel_family() {
    let m = Machine::new(
        "#cloud-config\nyum_repos:\n  my epel:\n    name: Extra Packages\n    \
         baseurl: http://download.example.com/epel/$releasever/$basearch\n    \
         enabled: true\n    gpgcheck: false\n    Skip-If-Unavailable: 1\n  \
         kept:\n    baseurl: http://k\n  nourl:\n    name: x\n  \
         meta:\n    metalink: https://m/metalink?repo=x\n",
    );
    m.file(
        "/etc/os-release",
        "ID=amzn\nID_LIKE=\"centos rhel fedora\"\n",
    );
    m.file(
        "/etc/yum.repos.d/kept.repo",
        "[kept]\nbaseurl = http://old\n",
    );
    let out = m.run();
    // The repository without baseurl is a warning: degraded.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let repo = m.read("/etc/yum.repos.d/my-epel.repo");
    let (header, body) = repo.split_once('\n').unwrap();
    assert!(header.starts_with("# Created by strap v. "), "{header}");
    assert_eq!(
        body,
        "[my-epel]\nname = Extra Packages\nbaseurl = http://download.example.com/epel/$releasever/$basearch\n\
         enabled = 1\ngpgcheck = 0\nskip_if_unavailable = 1\n\n"
    );
    assert_eq!(
        m.read("/etc/yum.repos.d/kept.repo"),
        "[kept]\nbaseurl = http://old\n"
    );
    assert!(!m.path("/etc/yum.repos.d/nourl.repo").exists());
    // A metalink (or mirrorlist) stands for the baseurl, as in cloud-init 25.
    assert!(m
        .read("/etc/yum.repos.d/meta.repo")
        .contains("\nmetalink = https://m/metalink?repo=x\n"));
    let item = m.item("config-yum_add_repo");
    assert_eq!(item["stage"], "modules-config");
    let log = m.read("/var/log/strap.log");
    assert!(
        log.contains(
            "yum_repos.nourl (line 11): no `baseurl`, `metalink` or `mirrorlist`; repository skipped"
        ),
        "{log}"
    );

    let m =
        Machine::new("#cloud-config\nyum_repos: {a: {baseurl: http://a}}\nyum_repo_dir: /etc/r\n");
    m.file("/etc/os-release", "ID=debian\n");
    assert!(m.run().status.success());
    let item = m.item("config-yum_add_repo");
    assert_eq!(item["status"], "skipped");
    assert!(item["reason"].as_str().unwrap().contains("debian"));
    assert!(!m.path("/etc/r/a.repo").exists());
}

/// Amazon Linux's `repo_update`/`repo_upgrade`: the index refreshed, then only the
/// security updates, without the excluded packages (a fake `dnf` records its arguments).
#[test]
fn amazon_repo_upgrade_security_with_exclusions() {
    let m = Machine::new(
        "#cloud-config\nrepo_update: true\nrepo_upgrade: security\nrepo_upgrade_exclude: [kernel, 'nvidia*']\n",
    );
    m.file("/etc/os-release", "ID=amzn\nID_LIKE=\"fedora\"\n");
    let bin = m._dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = m._dir.path().join("dnf.log");
    let dnf = bin.join("dnf");
    fs::write(
        &dnf,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&dnf, fs::Permissions::from_mode(0o755)).unwrap();
    let out = command("strap")
        .arg("run")
        .arg("--seed")
        .arg(&m.seed)
        .arg("--root")
        .arg(&m.root)
        .env("STRAP_BOOT_ID", "boot-1")
        .env("STRAP_PACKAGE_MANAGER", &dnf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "-y makecache\n-y upgrade --security --exclude=kernel --exclude=nvidia*\n"
    );
}

/// The deprecated `apt_sources` and `apt_preserve_sources_list` are applied as `apt`
/// (cloud-init converts them): sources without `filename` share
/// `cloud_config_sources.list`, and a deprecation warning says to use `apt`.
#[test]
fn legacy_apt_keys_are_applied_as_apt() {
    let m = Machine::new(
        "#cloud-config\napt_preserve_sources_list: true\napt_mirror: http://m/debian\napt_sources:\n  \
         - source: deb http://a.example/debian $RELEASE main\n  \
         - source: deb http://b.example/debian $RELEASE main\n  \
         - source: deb http://c.example/debian $RELEASE main\n    filename: c.list\n",
    );
    m.file("/etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n");
    m.file(
        "/etc/apt/sources.list",
        "deb http://deb.debian.org/debian bookworm main\n",
    );
    let out = m.run();
    // The deprecation is a warning: degraded.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(
        m.read("/etc/apt/sources.list.d/cloud_config_sources.list"),
        "deb http://a.example/debian bookworm main\ndeb http://b.example/debian bookworm main\n"
    );
    assert_eq!(
        m.read("/etc/apt/sources.list.d/c.list"),
        "deb http://c.example/debian bookworm main\n"
    );
    assert_eq!(
        m.read("/etc/apt/sources.list"),
        "deb http://deb.debian.org/debian bookworm main\n",
        "preserved"
    );
    let log = m.read("/var/log/strap.log");
    assert!(
        log.contains("deprecated apt keys apt_sources, apt_mirror, apt_preserve_sources_list converted to `apt`"),
        "{log}"
    );
}

/// A server answering 200 with `body` to requests that carry `header`, 403 to others.
fn server_wanting(header: &'static str, body: &'static [u8]) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let (status, body) = if request.contains(&header.to_ascii_lowercase()) {
                ("200 OK", body)
            } else {
                ("403 Forbidden", &b""[..])
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body);
        }
    });
    format!("http://{addr}")
}

/// `write_files` entries with a `source` (cloud-init 25): the body fetched with the
/// entry's headers is the content; a fetch that fails falls back to `content` with a
/// warning, or fails the entry when there is none; the URI's query never reaches the
/// logs.
#[test]
fn write_files_source_is_fetched_with_headers_and_falls_back_to_content() {
    let url = server_wanting("x-token: t1", b"fetched body\n");
    let m = Machine::new(&format!(
        r#"#cloud-config
write_files:
  - path: /etc/fetched
    source:
      uri: {url}/f?X-Amz-Signature=topsecret
      headers: {{X-Token: t1}}
    content: not this
  - path: /etc/local
    source: {{uri: 'file:///srv/src.txt'}}
  - path: /etc/fallback
    source: {{uri: 'file:///srv/missing?sig=topsecret'}}
    content: inline
  - path: /etc/nothing
    source: {{uri: 'file:///srv/missing'}}
  - path: /etc/refused
    source: {{uri: '{url}/f'}}
    content: fallback
"#
    ));
    m.file("/srv/src.txt", "from the root\n");
    let out = m.run();
    let log = m.read("/var/log/strap.log");
    // The entry with nothing to write fails the module (the others are written).
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(m.read("/etc/fetched"), "fetched body\n", "{log}");
    assert_eq!(m.read("/etc/local"), "from the root\n");
    assert_eq!(m.read("/etc/fallback"), "inline");
    assert!(!m.path("/etc/nothing").exists());
    // Without the header the server refuses: the content stands in.
    assert_eq!(m.read("/etc/refused"), "fallback");
    assert!(
        log.contains("write_files.2: cannot fetch file:///srv/missing: reading /srv/missing:")
            && log.contains("using `content` instead"),
        "{log}"
    );
    assert!(
        log.contains("write_files.3") && log.contains("there is no `content`"),
        "{log}"
    );
    assert!(log.contains("HTTP status 403"), "{log}");
    for record in ["/var/log/strap.log", "/var/lib/strap/data/report.json"] {
        assert!(!m.read(record).contains("topsecret"), "{record}");
    }
}
