//! Schema checks against cloud-init's own judgement: every module example of its docs
//! (copied under tests/data), and error cases whose expected paths and messages were
//! produced by cloud-init 25's validator (strict mode), whose `oneOf` reports the deepest failures.

use super::*;
use std::path::PathBuf;

fn examples() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloud-init/module-docs");
    let mut out = Vec::new();
    for module in std::fs::read_dir(&root).unwrap() {
        let module = module.unwrap().path();
        if !module.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&module).unwrap() {
            let file = file.unwrap().path();
            let name = format!(
                "{}/{}",
                module.file_name().unwrap().to_str().unwrap(),
                file.file_name().unwrap().to_str().unwrap()
            );
            out.push((name, std::fs::read_to_string(&file).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn every_module_example_is_valid() {
    let examples = examples();
    assert_eq!(examples.len(), 128);
    // The examples come from a cloud-init newer than 25.1, whose schema strap follows:
    // there `ansible.pull` became a list, `rh_subscription` gained new keys and `rpi`
    // (cc_raspberry_pi) was added, a top-level key 25.1's schema does not allow.
    let newer: &[(&str, &str)] = &[
        ("cc_ansible/example1.yaml", "ansible.pull"),
        ("cc_ansible/example2.yaml", "ansible.pull"),
        ("cc_rh_subscription/example2.yaml", "rh_subscription"),
        ("cc_rh_subscription/example3.yaml", "rh_subscription"),
        ("cc_raspberry_pi/example1.yaml", "rpi"),
        ("cc_raspberry_pi/example2.yaml", "rpi"),
        ("cc_raspberry_pi/example3.yaml", "rpi"),
        ("cc_raspberry_pi/example4.yaml", "rpi"),
        ("cc_raspberry_pi/example5.yaml", "rpi"),
    ];
    for (name, text) in &examples {
        let report = validate_text(text);
        match newer.iter().find(|(n, _)| n == name) {
            Some((_, path)) => {
                let paths: Vec<&str> = report.errors.iter().map(|e| e.path.as_str()).collect();
                assert_eq!(paths, vec![*path], "{name}");
            }
            None => assert!(report.is_valid(), "{name}: {:?}", report.errors),
        }
    }
}

#[test]
fn examples_of_modules_strap_runs_give_no_not_run_warning() {
    let run = [
        "cc_bootcmd",
        "cc_runcmd",
        "cc_write_files",
        "cc_users_groups",
        "cc_set_hostname",
        "cc_update_hostname",
        "cc_update_etc_hosts",
        "cc_timezone",
        "cc_final_message",
        "cc_power_state_change",
        "cc_ntp",
        "cc_growpart",
        "cc_resizefs",
        "cc_mounts",
        "cc_set_passwords",
        "cc_ssh_import_id",
        "cc_keys_to_console",
        "cc_disable_ec2_metadata",
        "cc_ca_certs",
        "cc_apt_configure",
        "cc_locale",
        "cc_yum_add_repo",
    ];
    let mut checked = 0;
    for (name, text) in examples() {
        if !run.iter().any(|m| name.starts_with(&format!("{m}/"))) {
            continue;
        }
        let report = validate_text(&text);
        let not_run: Vec<_> = report
            .warnings
            .iter()
            .filter(|w| w.message.contains("not run by strap"))
            // ssh_import_id is a users_groups example key strap leaves to cloud-init.
            .filter(|w| w.path != "ssh_import_id")
            .collect();
        assert!(not_run.is_empty(), "{name}: {not_run:?}");
        checked += 1;
    }
    assert!(checked >= 30, "{checked}");
}

#[test]
fn examples_of_other_modules_are_valid_with_a_warning() {
    let report = validate_text(
        &examples()
            .into_iter()
            .find(|(n, _)| n == "cc_keyboard/example1.yaml")
            .unwrap()
            .1,
    );
    assert!(report.is_valid());
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].path, "keyboard");
    assert_eq!(
        report.warnings[0].message,
        "valid for cloud-init, not run by strap (cloud-init module cc_keyboard)"
    );
}

#[test]
fn errors_match_cloud_init() {
    // (config, [(path, message)]) as cloud-init's validator reports them.
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("runcmd: 'echo hi'", &[("runcmd", "'echo hi' is not of type 'array'")]),
        ("runcmd: []", &[("runcmd", "[] is too short")]),
        ("runcmd: [1]", &[("runcmd.0", "1 is not of type 'array'"), ("runcmd.0", "1 is not of type 'null'"), ("runcmd.0", "1 is not of type 'string'")]),
        ("runcmd: [[ls, 1]]", &[("runcmd.0.1", "1 is not of type 'string'")]),
        ("bootcmd: [null]", &[("bootcmd.0", "None is not of type 'array'"), ("bootcmd.0", "None is not of type 'string'")]),
        ("write_files:\n- path: /x\n  permissions: 0644", &[("write_files.0.permissions", "420 is not of type 'string'")]),
        ("write_files:\n- content: x", &[("write_files.0", "'path' is a required property")]),
        ("write_files:\n- path: /x\n  encoding: zip\n  owner: 5\n  bogus: 1", &[("write_files.0", "Additional properties are not allowed ('bogus' was unexpected)"), ("write_files.0.encoding", "'zip' is not one of ['gz', 'gzip', 'gz+base64', 'gzip+base64', 'gz+b64', 'gzip+b64', 'b64', 'base64', 'text/plain']"), ("write_files.0.owner", "5 is not of type 'string'")]),
        ("write_files:\n- path: /x\n  content: !!binary aGk=\n  defer: yes", &[]),
        ("power_state: {mode: sleep}", &[("power_state.mode", "'sleep' is not one of ['poweroff', 'reboot', 'halt']")]),
        ("power_state: {delay: -1, mode: halt}", &[("power_state.delay", "-1 is less than the minimum of 0"), ("power_state.delay", "-1 is not of type 'string'"), ("power_state.delay", "-1 is not one of ['now']")]),
        ("power_state: {delay: '+5', mode: halt}", &[]),
        ("power_state: {delay: 'soon', mode: halt}", &[("power_state.delay", "'soon' does not match '^\\\\+?[0-9]+$'"), ("power_state.delay", "'soon' is not of type 'integer'"), ("power_state.delay", "'soon' is not one of ['now']")]),
        ("power_state: {delay: now}", &[("power_state", "'mode' is a required property")]),
        ("manage_etc_hosts: template", &[]),
        ("manage_etc_hosts: maybe", &[("manage_etc_hosts", "'maybe' is not one of ['template']"), ("manage_etc_hosts", "'maybe' is not one of [True, False, 'localhost']")]),
        ("users: [{name: a, uid: '5', sudo: false, lock-passwd: true}]", &[]),
        ("users: [{name: a, expiredate: 2012-09-01}]", &[("users.0.expiredate", "datetime.date(2012, 9, 1) is not of type 'string'")]),
        ("users: default", &[]),
        ("users: [{name: a, shell: 5}]", &[("users.0.shell", "5 is not of type 'string'")]),
        ("groups: [{g: [a]}, 5]", &[("groups.1", "5 is not of type 'string', 'object'")]),
        ("packages: [[a]]", &[("packages.0", "['a'] is not of type 'object'"), ("packages.0", "['a'] is not of type 'string'"), ("packages.0", "['a'] is too short")]),
        ("hostname: 5", &[("hostname", "5 is not of type 'string'")]),
        ("preserve_hostname: 'yes'", &[("preserve_hostname", "'yes' is not of type 'boolean'")]),
        ("ntp: {servers: [a, a]}", &[("ntp.servers", "['a', 'a'] has non-unique elements")]),
        ("ntp: {config: {}}", &[("ntp.config", "{} does not have enough properties")]),
        ("ntp: {foo: 1}", &[("ntp", "Additional properties are not allowed ('foo' was unexpected)")]),
        ("merge_how: [{name: list, settings: [append]}]", &[]),
        ("yum_repos: {epel: {baseurl: 'http://x', enabled: 1}}", &[("yum_repos.epel.enabled", "1 is not of type 'boolean'")]),
        // cloud-init 25 also takes `metalink` or `mirrorlist` for `baseurl` (an `anyOf`).
        ("yum_repos: {epel: {name: x}}", &[("yum_repos.epel", "'baseurl' is a required property"), ("yum_repos.epel", "{'name': 'x'} is not valid under any of the given schemas")]),
        ("yum_repos: {epel: {metalink: 'http://x'}}", &[]),
        ("yum_repos: {epel: {mirrorlist: 5}}", &[("yum_repos.epel.mirrorlist", "5 is not of type 'string'")]),
        ("yum_repos: {epel: {baseurl: 'http://x', gpg-check: 1, gpgcheck: [a]}}", &[("yum_repos.epel", "'gpg-check' does not match any of the regexes: '^[0-9a-zA-Z_]+$'"), ("yum_repos.epel.gpgcheck", "['a'] is not of type 'boolean'"), ("yum_repos.epel.gpgcheck", "['a'] is not of type 'integer'"), ("yum_repos.epel.gpgcheck", "['a'] is not of type 'string'")]),
        ("yum_repos: {'a/b': {baseurl: 'http://x'}}", &[]),
        ("yum_repos: {}", &[("yum_repos", "{} does not have enough properties")]),
        ("yum_repos: {ok: {baseurl: 5, failovermethod: priority, gpgcheck: true, priority: 3}}", &[("yum_repos.ok.baseurl", "5 is not of type 'string'")]),
        ("yum_repo_dir: 5", &[("yum_repo_dir", "5 is not of type 'string'")]),
        ("locale: [x]", &[("locale", "['x'] is not of type 'boolean'"), ("locale", "['x'] is not of type 'string'")]),
        ("ssh_authorized_keys: key", &[("ssh_authorized_keys", "'key' is not of type 'array'")]),
        ("ssh_keys: {rsa_private: x, foo: y}", &[("ssh_keys", "'foo' does not match any of the regexes: '^(ecdsa|ed25519|rsa)_(public|private|certificate)$'")]),
        ("timezone: [x]", &[("timezone", "['x'] is not of type 'string'")]),
        ("final_message: 5", &[("final_message", "5 is not of type 'string'")]),
        ("growpart: {mode: sideways}", &[("growpart.mode", "'sideways' is not one of ['auto', 'growpart', 'gpart', 'off']"), ("growpart.mode", "'sideways' is not one of [False]")]),
        ("growpart: {mode: false}", &[]),
        ("growpart: {devices: /}", &[("growpart.devices", "'/' is not of type 'array'")]),
        ("growpart: {foo: 1}", &[("growpart", "Additional properties are not allowed ('foo' was unexpected)")]),
        ("resize_rootfs: maybe", &[("resize_rootfs", "'maybe' is not one of [True, False, 'noblock']")]),
        ("resize_rootfs: noblock", &[]),
        ("mounts: [[sdb]]", &[]),
        ("mounts: []", &[("mounts", "[] is too short")]),
        ("mounts: [[sdb, /d, auto, d, 0, 2]]", &[("mounts.0.4", "0 is not of type 'string'"), ("mounts.0.5", "2 is not of type 'string'")]),
        ("mounts: [[a,b,c,d,e,f,g]]", &[("mounts.0", "['a', 'b', 'c', 'd', 'e', 'f', 'g'] is too long")]),
        ("mount_default_fields: [a]", &[("mount_default_fields", "['a'] is too short")]),
        ("swap: {size: lots}", &[("swap.size", "'lots' does not match '^([0-9]+)?\\\\.?[0-9]+[BKMGT]$'"), ("swap.size", "'lots' is not of type 'integer'"), ("swap.size", "'lots' is not one of ['auto']")]),
        ("swap: {size: 2G, maxsize: auto}", &[("swap.maxsize", "'auto' does not match '^([0-9]+)?\\\\.?[0-9]+[BKMGT]$'"), ("swap.maxsize", "'auto' is not of type 'integer'")]),
        ("swap: {size: .5G}", &[]),
        ("swap: {size: 1024}", &[]),
        ("swap: {filename: 5}", &[("swap.filename", "5 is not of type 'string'")]),
        ("chpasswd: {expire: 5}", &[("chpasswd.expire", "5 is not of type 'boolean'")]),
        ("chpasswd: {users: [{name: a}]}", &[("chpasswd.users.0", "'type' is a required property"), ("chpasswd.users.0", "{'name': 'a'} is not valid under any of the given schemas")]),
        ("ssh_pwauth: 5", &[("ssh_pwauth", "5 is not of type 'boolean'"), ("ssh_pwauth", "5 is not of type 'string'")]),
        ("ca_certs: {trusted: []}", &[("ca_certs.trusted", "[] is too short")]),
        ("apt: {sources: {s1: {source: 5}}}", &[("apt.sources.s1.source", "5 is not of type 'string'")]),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        let report = validate_text(text);
        let mut got: Vec<(String, String)> = report
            .errors
            .iter()
            .map(|p| (p.path.clone(), p.message.clone()))
            .collect();
        got.sort();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        if got != want {
            failures.push(format!("{text:?}\n want {want:?}\n got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn problems_carry_positions_and_paths() {
    let report =
        validate_text("#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 0644\n");
    assert_eq!(
        report.errors,
        vec![Problem {
            line: 4,
            column: 18,
            path: "write_files.0.permissions".into(),
            message: "420 is not of type 'string'".into(),
        }]
    );
    assert_eq!(
        report.errors[0].to_string(),
        "write_files.0.permissions: 420 is not of type 'string'"
    );
}

#[test]
fn unknown_keys_are_errors_deprecated_and_not_run_keys_warnings() {
    let report = validate_text(
        "manage_etc_hosts: template\nusers: default\nfoo: 1\nsnap: {commands: [x]}\nfan: {config: x, foo: 1}\n\
         merge_how: [{name: lst, settings: [append]}]\npackages: [{apt: [x]}, [a, b], c]\n",
    );
    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        vec![
            "manage_etc_hosts: 'template' is deprecated. Use true instead.",
            "users: 'default' is deprecated. Use a list of users.",
            "snap: valid for cloud-init, not run by strap (cloud-init module cc_snap)",
        ]
    );
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        vec![
            "foo: Additional properties are not allowed ('foo' was unexpected)",
            "fan: Additional properties are not allowed ('foo' was unexpected)",
            "merge_how.0.name: 'lst' is not one of ['list', 'dict', 'str']"
        ]
    );
    assert!(is_run_by_strap("runcmd") && !is_run_by_strap("snap") && is_known("snap"));
    assert!(!is_known("foo"));
    // cloud-init 22.4's schema has no rule for unknown top-level keys.
    let node = crate::cloudconfig::load("foo: 1\nruncmd: [ls]\n").unwrap();
    assert!(validate_with(&node, UnknownKeys::Allowed).is_valid());
    assert!(!validate_with(&node, UnknownKeys::Error).is_valid());
}

#[test]
fn documents_that_are_not_configs() {
    let report = validate_text("- a\n- b\n");
    assert!(!report.is_valid());
    assert!(report.errors[0].message.contains("is not of type 'object'"));
    let report = validate_text("a: [1\n");
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].path.starts_with("format-l"));
    assert!(report.errors[0]
        .message
        .starts_with("File is not valid YAML."));
}

/// cloud-init 25 accepts the hyphenated spellings of user keys with a deprecation, and
/// `sudo` as one rule or a list of rules.
#[test]
fn hyphenated_user_keys_and_sudo_lists() {
    let report = validate_text(
        "users:\n  - name: a\n    ssh-authorized-keys: [ssh-ed25519 AAAA a@b]\n    \
         lock-passwd: false\n    sudo: ['ALL=(ALL) NOPASSWD:ALL', 'ALL=(ALL) ALL']\n  \
         - name: b\n    sudo: ALL=(ALL) ALL\n  - name: c\n    sudo: false\n",
    );
    assert!(report.is_valid(), "{:?}", report.errors);
    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].contains("users.0.ssh-authorized-keys"),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().all(|w| w.contains("deprecated")),
        "{warnings:?}"
    );
    // As cloud-init 25's schema has it: a list of rules may be empty or hold nulls.
    let report =
        validate_text("users:\n  - name: a\n    sudo: []\n  - name: b\n    sudo: [null]\n");
    assert!(report.is_valid(), "{:?}", report.errors);
    let report = validate_text("users:\n  - name: a\n    sudo: [1]\n");
    let errors: Vec<String> = report.errors.iter().map(|e| e.message.clone()).collect();
    assert!(
        errors.contains(&"1 is not of type 'string', 'null'".to_string()),
        "{errors:?}"
    );
}

/// `output` as today's cloud-init's schema has it (22.4's schema does not check it).
#[test]
fn output_stages_and_targets() {
    let ok = validate_text(
        "output:\n  all: '| tee -a /var/log/cloud-init-output.log'\n  init: ['>> /a', null]\n  \
         config: {output: '> /b', error: '&1'}\n  final: [/c]\n",
    );
    assert!(ok.is_valid() && ok.warnings.is_empty(), "{ok:?}");
    assert!(is_run_by_strap("output"));
    let errors = |t: &str| -> Vec<String> {
        validate_text(t)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        errors("output: {all: 5}"),
        vec![
            "output.all: 5 is not of type 'string'",
            "output.all: 5 is not of type 'array'",
            "output.all: 5 is not of type 'object'"
        ]
    );
    assert_eq!(
        errors("output: {later: x}"),
        vec!["output: Additional properties are not allowed ('later' was unexpected)"]
    );
    assert_eq!(
        errors("output: '>> /x'"),
        vec!["output: '>> /x' is not of type 'object'"]
    );
}

/// Keys of modules strap does not run, judged as cloud-init 25 judges them (the
/// expected paths and messages are its validator's); a valid one is named as not run.
#[test]
fn not_run_keys_match_cloud_init_25() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("yum_repos: {x: {baseurl: 'http://x', enabled: 1}}", &[("yum_repos.x.enabled", "1 is not of type 'boolean'")]),
        ("keyboard: {layout: 5}", &[("keyboard.layout", "5 is not of type 'string'")]),
        ("keyboard: {model: pc105}", &[("keyboard", "'layout' is a required property")]),
        ("apt_pipelining: maybe", &[("apt_pipelining", "'maybe' is not of type 'boolean'"), ("apt_pipelining", "'maybe' is not of type 'integer'"), ("apt_pipelining", "'maybe' is not one of ['none', 'unchanged']"), ("apt_pipelining", "'maybe' is not one of ['os']")]),
        ("apt_pipelining: none", &[]),
        ("chef: {foo: 1}", &[("chef", "Additional properties are not allowed ('foo' was unexpected)")]),
        ("chef: {chef_license: yes-please}", &[("chef.chef_license", "'yes-please' is not one of ['accept', 'accept-silent', 'accept-no-persist']")]),
        ("reporting: {a: {type: log, level: BAD}}", &[("reporting.a.type", "'log' is not one of ['hyperv']"), ("reporting.a.type", "'log' is not one of ['print']"), ("reporting.a.type", "'log' is not one of ['webhook']")]),
        ("reporting: {a: {type: webhook}}", &[("reporting.a", "'endpoint' is a required property")]),
        ("reporting: {a: {type: webhook, endpoint: 'http://x', timeout: -1}}", &[("reporting.a.type", "'webhook' is not one of ['hyperv']"), ("reporting.a.type", "'webhook' is not one of ['log']"), ("reporting.a.type", "'webhook' is not one of ['print']")]),
        ("reporting: {a: {type: nope}}", &[("reporting.a.type", "'nope' is not one of ['hyperv']"), ("reporting.a.type", "'nope' is not one of ['log']"), ("reporting.a.type", "'nope' is not one of ['print']"), ("reporting.a.type", "'nope' is not one of ['webhook']")]),
        ("disk_setup: {/dev/sdb: {table_type: gpt, layout: [[50, x], [50, [1]]]}}", &[("disk_setup./dev/sdb.layout.1.1", "[1] is not of type 'integer'"), ("disk_setup./dev/sdb.layout.1.1", "[1] is not valid under any of the given schemas")]),
        ("ansible: {setup_controller: {run_ansible: [{timeout: -0.5, forks: 2.5}]}}", &[("ansible.setup_controller.run_ansible.0.timeout", "-0.5 is less than the minimum of 0")]),
        ("lxd: {bridge: {mode: new, mtu: -2}}", &[("lxd.bridge.mtu", "-2 is less than the minimum of -1")]),
        ("landscape: {client: {account_name: a}}", &[("landscape.client", "'computer_title' is a required property")]),
        ("ubuntu_pro: {enable: [esm], features: {disable_auto_attach: 1}}", &[("ubuntu_pro.features.disable_auto_attach", "1 is not of type 'boolean'")]),
        ("rsyslog: {remotes: {a: 5}, configs: [{content: x}, 5]}", &[("rsyslog.configs.1", "5 is not of type 'object'"), ("rsyslog.configs.1", "5 is not of type 'string'")]),
        ("snap: {commands: {}}", &[("snap.commands", "{} does not have enough properties")]),
        ("snap: {assertions: [a, a]}", &[("snap.assertions", "['a', 'a'] has non-unique elements")]),
        ("wireguard: {interfaces: [{name: wg0}]}", &[]),
        ("salt_minion: {grains: 5}", &[("salt_minion.grains", "5 is not of type 'object'")]),
        ("launch-index: x", &[("launch-index", "'x' is not of type 'integer'")]),
        ("system_info: {distro: debian}", &[]),
        ("migrate: [anything]", &[]),
        ("grub-dpkg: {enabled: true}", &[]),
        ("spacewalk: {server: 5}", &[("spacewalk.server", "5 is not of type 'string'")]),
        ("phone_home: {url: 'http://x', post: [pub_key_dsa]}", &[("phone_home.post.0", "'pub_key_dsa' is not one of ['pub_key_rsa', 'pub_key_ecdsa', 'pub_key_ed25519', 'instance_id', 'hostname', 'fqdn']")]),
        ("puppet: {csr_attributes: {custom_attributes: 5}}", &[("puppet.csr_attributes.custom_attributes", "5 is not of type 'object'")]),
        ("fs_setup: [{device: /dev/sdb, filesystem: ext4, partition: 1.5}]", &[("fs_setup.0.partition", "1.5 is not of type 'string'"), ("fs_setup.0.partition", "1.5 is not of type 'string', 'integer'"), ("fs_setup.0.partition", "1.5 is not one of ['auto', 'any', 'none']")]),
        ("zypper: {repos: [{id: a}]}", &[("zypper.repos.0", "'baseurl' is a required property")]),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        let report = validate_text(text);
        let mut got: Vec<(String, String)> = report
            .errors
            .iter()
            .map(|p| (p.path.clone(), p.message.clone()))
            .collect();
        got.sort();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        if got != want {
            failures.push(format!("{text:?}\n want {want:?}\n got  {got:?}"));
        }
        let named = report.warnings.iter().any(|w| {
            w.message
                .starts_with("valid for cloud-init, not run by strap")
        });
        let base = ["launch-index", "system_info"]
            .iter()
            .any(|k| text.starts_with(k));
        if named != (want.is_empty() && !base) {
            failures.push(format!("{text:?}: named as not run: {named}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The `date` format against the Python cloud-init runs under: jsonschema checks it
/// with `datetime.date.fromisoformat`.
#[test]
fn dates_are_what_pythons_fromisoformat_accepts() {
    let cases = [
        "2024-02-29",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "0000-01-01",
        "0001-01-01",
        "9999-12-31",
        "20240229",
        "20230229",
        "2024-0229",
        "202402-29",
        "2026-W53",
        "2025-W53",
        "2020-W53-7",
        "2026W531",
        "2026W53",
        "2026-W01-0",
        "2026-W01-8",
        "2026-W00",
        "2024W011",
        "2024-W1",
        "2024-1-01",
        "24-01-01",
        "2024-01-01T00",
        "2024-01-01 ",
        " 2024-01-01",
        "２０２４-01-01",
        "2024-1-1",
        "not-a-choice",
        "",
        "2024",
        "2024-01",
        "2024-001",
    ];
    let script = "import datetime, json, sys\nout = []\nfor s in json.load(sys.stdin):\n    try:\n        out.append(bool(s.isascii() and datetime.date.fromisoformat(s)))\n    except ValueError:\n        out.append(False)\nprint(json.dumps(out))\n";
    let python = crate::cloud_init_peers::PYTHON;
    let Ok(mut child) = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        return eprintln!("skipping: {python} is not installed");
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases[..]).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let theirs: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    for (case, want) in cases.iter().zip(theirs) {
        assert_eq!(defs::is_iso_date(case), want, "{case:?}");
    }
}
