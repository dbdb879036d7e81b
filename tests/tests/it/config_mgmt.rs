//! `strap run` end to end for the `puppet` and `chef` hand-offs under `--root`: the files
//! written under the root, the commands recorded (not run), and the validation key kept
//! out of every log and record.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use strap_e2e::{code, stderr, stdout};

use crate::boot::Machine;

#[test]
fn puppet_writes_its_files_and_records_its_commands_under_root() {
    let m = Machine::new(
        "#cloud-config\nfqdn: web1.example.com\npuppet:\n  conf:\n    agent: {server: puppet.example, certname: '%i.%f'}\n    ca_cert: |\n      -----BEGIN CERTIFICATE-----\n      MIIB\n      -----END CERTIFICATE-----\n  csr_attributes:\n    extension_requests: {pp_role: web}\n  exec: true\n",
    );
    m.write("/etc/os-release", "ID=debian\nVERSION_ID=13\n");
    m.write(
        "/etc/puppet/puppet.conf",
        "[main]\n  ssldir = /var/lib/puppet/ssl\n[agent]\nserver = old.example\n",
    );
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        m.read("/etc/puppet/puppet.conf"),
        "[main]\nssldir = /var/lib/puppet/ssl\n\n[agent]\nserver = puppet.example\ncertname = i-0aaaaaaaaaaaaaaa1.web1.example.com\n\n"
    );
    assert!(m
        .read("/etc/puppet/puppet.conf.old")
        .contains("old.example"));
    assert_eq!(
        m.read("/var/lib/puppet/ssl/certs/ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    );
    let ssl = fs::metadata(m.path("/var/lib/puppet/ssl")).unwrap();
    assert_eq!(ssl.permissions().mode() & 0o777, 0o771);
    assert!(m
        .read("/etc/puppet/csr_attributes.yaml")
        .contains("\"pp_role\": \"web\""));
    let log = m.read("/var/log/strap-output.log");
    for line in [
        "puppet: would run `apt-get install --assume-yes --quiet puppet-agent` (not run under --root)",
        "puppet: would run `systemctl enable puppet-agent.service` (not run under --root)",
        "puppet: would run `puppet agent --test` (not run under --root)",
        "puppet: would run `systemctl start puppet-agent.service` (not run under --root)",
    ] {
        assert!(log.contains(line), "{line}\n{log}");
    }
}

#[test]
fn chef_renders_client_rb_and_keeps_the_validation_key_private_under_root() {
    let m = Machine::new(
        "#cloud-config\nchef:\n  install_type: omnibus\n  omnibus_version: '18.2'\n  server_url: https://chef.example/organizations/acme\n  validation_name: acme-validator\n  validation_cert: VALIDATION-KEY-never-logged\n  run_list: ['recipe[apache2]']\n  initial_attributes: {apache: {keepalive: false}}\n  exec: true\n",
    );
    m.write("/etc/os-release", "ID=debian\nVERSION_ID=13\n");
    m.write("/var/cache/chef/cookbook.tgz", "legacy");
    let out = m.run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let client = m.read("/etc/chef/client.rb");
    for line in [
        "chef_server_url        \"https://chef.example/organizations/acme\"\n",
        "validation_client_name \"acme-validator\"\n",
        "validation_key         \"/etc/chef/validation.pem\"\n",
        "node_name              \"i-0aaaaaaaaaaaaaaa1\"\n",
        "file_cache_path        \"/var/chef/cache\"\n",
    ] {
        assert!(client.contains(line), "{line}\n{client}");
    }
    assert!(client.starts_with("# Created by strap v. "), "{client}");
    assert_eq!(
        m.read("/etc/chef/firstboot.json"),
        r#"{"run_list": ["recipe[apache2]"], "apache": {"keepalive": false}}"#
    );
    let pem = m.path("/etc/chef/validation.pem");
    assert_eq!(
        fs::read_to_string(&pem).unwrap(),
        "VALIDATION-KEY-never-logged"
    );
    assert_eq!(
        fs::metadata(&pem).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for dir in [
        "/var/log/chef",
        "/var/lib/chef",
        "/var/chef/backup",
        "/var/run/chef",
    ] {
        assert!(m.path(dir).is_dir(), "{dir}");
    }
    // cloud-init 25 moves the legacy cache's files.
    assert_eq!(m.read("/var/chef/cache/cookbook.tgz"), "legacy");
    let log = m.read("/var/log/strap-output.log");
    for line in [
        "chef: would run `curl --fail --silent --show-error --location --retry 5 --output /var/tmp/strap-chef-XXXX/chef-omnibus-install https://www.chef.io/chef/install.sh` (not run under --root)",
        "chef: would run `/var/tmp/strap-chef-XXXX/chef-omnibus-install -v 18.2` (not run under --root)",
        "chef: would run `/usr/bin/chef-client -d -i 1800 -s 20` (not run under --root)",
    ] {
        assert!(log.contains(line), "{line}\n{log}");
    }
    let mut seen = stdout(&out) + &stderr(&out) + &log;
    seen.push_str(&m.read("/var/log/strap.log"));
    seen.push_str(&m.read("/var/lib/strap/data/report.json"));
    assert!(!seen.contains("VALIDATION-KEY-never-logged"));
}

#[test]
fn chef_and_puppet_with_wrong_types_are_named_with_line_and_column() {
    let m = Machine::new(
        "#cloud-config\npuppet:\n  exec: maybe\nchef:\n  server_url: s\n  validation_name: v\n  run_list: recipe[a]\n",
    );
    let out = strap_e2e::command("strap")
        .args(["userdata", "validate"])
        .arg(m.seed.join("latest/user-data"))
        .output()
        .unwrap();
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("line 3 column 9: puppet.exec: 'maybe' is not of type 'boolean'"),
        "{text}"
    );
    assert!(
        text.contains("line 7 column 13: chef.run_list: 'recipe[a]' is not of type 'array'"),
        "{text}"
    );
    assert!(!text.contains("not run by strap"), "{text}");
}
