use super::*;

fn yaml(text: &str) -> Node {
    crate::cloudconfig::load(text).unwrap()
}

fn machine(installed: bool) -> ChefMachine {
    ChefMachine {
        instance_id: "i-0123".into(),
        installed,
        validation_key_exists: false,
        has_gem: false,
        has_ruby: false,
        header: "# HEADER".into(),
    }
}

fn written(steps: &[Step], path: &str) -> Option<String> {
    steps.iter().find_map(|s| match s {
        Step::Write { path: p, text, .. } if p == path => Some(text.clone()),
        _ => None,
    })
}

#[test]
fn client_rb_has_the_template_lines_and_firstboot_the_run_list() {
    let cfg = yaml(
        "server_url: https://chef.example/organizations/acme\nvalidation_name: acme-validator\nvalidation_cert: |\n  -----BEGIN RSA PRIVATE KEY-----\nrun_list: ['recipe[apache2]', 'role[db]']\ninitial_attributes: {apache: {prefork: {maxclients: 100}}}\nchef_license: accept\nshow_time: false\nlog_level: null\n",
    );
    let (steps, warning) = chef_steps(&cfg, &machine(true)).unwrap();
    assert_eq!(warning, None);
    assert_eq!(
        written(&steps, "/etc/chef/client.rb").unwrap(),
        "# HEADER\nchef_license           \"accept\"\nssl_verify_mode        :verify_none\nlog_location           \"/var/log/chef/client.log\"\nvalidation_client_name \"acme-validator\"\nvalidation_key         \"/etc/chef/validation.pem\"\nclient_key             \"/etc/chef/client.pem\"\nchef_server_url        \"https://chef.example/organizations/acme\"\nenvironment            \"_default\"\nnode_name              \"i-0123\"\njson_attribs           \"/etc/chef/firstboot.json\"\nfile_cache_path        \"/var/chef/cache\"\nfile_backup_path       \"/var/chef/backup\"\npid_file               \"/var/run/chef/client.pid\"\n\n"
    );
    assert_eq!(
        written(&steps, "/etc/chef/firstboot.json").unwrap(),
        r#"{"run_list": ["recipe[apache2]", "role[db]"], "apache": {"prefork": {"maxclients": 100}}}"#
    );
    // The key is private (and out of `Debug`); installed and not asked to run: no
    // command.
    assert!(!format!("{steps:?}").contains("BEGIN RSA"));
    assert!(steps.iter().any(|s| matches!(
        s,
        Step::Write { path, mode: 0o600, secret: true, .. } if path == "/etc/chef/validation.pem"
    )));
    assert!(!steps.iter().any(|s| matches!(s, Step::Run { .. })));
}

#[test]
fn install_types_and_exec() {
    let base = "server_url: s\nvalidation_name: v\n";
    let runs = |extra: &str, installed: bool| -> Vec<String> {
        let (steps, _) = chef_steps(&yaml(&format!("{base}{extra}")), &machine(installed)).unwrap();
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Install(p) => Some(format!("install {}", p.join(" "))),
                Step::Run { argv, .. } => Some(argv.join(" ")),
                Step::Installer { url, args, .. } => Some(format!("{url} {}", args.join(" "))),
                Step::Remove { path } => Some(format!("rm {path}")),
                _ => None,
            })
            .collect()
    };
    assert_eq!(runs("", false), ["install chef"]);
    assert_eq!(
        runs("exec: true\ndelete_validation_post_exec: true\n", false),
        [
            "install chef",
            "/usr/bin/chef-client -d -i 1800 -s 20",
            "rm /etc/chef/validation.pem"
        ]
    );
    assert_eq!(
        runs("exec: true\n", true),
        ["/usr/bin/chef-client -d -i 1800 -s 20"]
    );
    assert_eq!(runs("force_install: true\n", true), ["install chef"]);
    assert_eq!(
        runs(
            "install_type: omnibus\nomnibus_version: '18.2'\nomnibus_url: https://o.example/i.sh\nexec: true\n",
            false
        ),
        [
            "https://o.example/i.sh -v 18.2",
            "/usr/bin/chef-client -d -i 1800 -s 20"
        ]
    );
    assert_eq!(
        runs("install_type: gems\nversion: '18.2'\n", false),
        [
            "install ruby1.8 ruby1.8-dev libopenssl-ruby1.8 rubygems1.8",
            "/usr/bin/gem install chef -v 18.2 --no-ri --no-rdoc --bindir /usr/bin -q",
            "/usr/bin/chef-client -d -i 1800 -s 20"
        ]
    );
    for bad in ["{validation_name: v}", "{server_url: s}", "[a]"] {
        assert!(chef_steps(&yaml(bad), &machine(true)).is_err(), "{bad}");
    }
    // `system` keeps the key file, and says so when it is missing.
    let (steps, warning) = chef_steps(
        &yaml(&format!("{base}validation_cert: system\n")),
        &machine(true),
    )
    .unwrap();
    assert!(warning.unwrap().contains("/etc/chef/validation.pem"));
    assert!(written(&steps, "/etc/chef/validation.pem").is_none());
    assert!(written(&steps, "/etc/chef/client.rb")
        .unwrap()
        .contains("validation_key         \"/etc/chef/validation.pem\""));
}

/// cloud-init's `handle()` of `cc_chef` with its distro, `subp`, downloads and file
/// writes replaced by recorders: the steps it takes, as `[kind, ...]` lists. Its own
/// template renders `client.rb` (found beside the `cloudinit` package it imports).
const ORACLE: &str = r##"
import inspect, json, logging, os, pathlib, sys, types
from unittest import mock
import cloudinit
from cloudinit.config import cc_chef
TEMPLATE = str(pathlib.Path(cloudinit.__file__).parents[5] / "etc/cloud/templates/chef_client.rb.tmpl")
def fake_subp(*a, **kw):
    return record_run(kw.get("args") or a[0])
class Distro:
    def install_packages(self, pkgs): calls.append(["install", list(pkgs)])
    def get_tmp_exec_path(self): return "/TMP"
cloud = types.SimpleNamespace(
    distro=Distro(),
    get_template_filename=lambda name: TEMPLATE,
    datasource=types.SimpleNamespace(get_instance_id=lambda: "i-0123"),
)
takes_log = len(inspect.signature(cc_chef.handle).parameters) == 5
out = []
for cfg, installed in json.load(sys.stdin):
    calls.clear()
    with mock.patch("cloudinit.subp.subp", fake_subp), \
         mock.patch("cloudinit.subp.is_exe", lambda p: installed), \
         mock.patch("cloudinit.util.write_file", write), \
         mock.patch("cloudinit.util.make_header", lambda *a, **k: "# HEADER"), \
         mock.patch("cloudinit.util.ensure_dir", lambda p, *a, **k: calls.append(["dir", p])), \
         mock.patch("cloudinit.util.ensure_dirs", lambda ds, *a, **k: [calls.append(["dir", d]) for d in sorted(ds)]), \
         mock.patch("cloudinit.util.sym_link", lambda s, d, *a, **k: calls.append(["link", s, d])), \
         mock.patch("cloudinit.temp_utils.tempdir", TempDir), \
         mock.patch("cloudinit.url_helper.readurl", lambda url, retries=0, **k: (calls.append(["fetch", url, retries]), types.SimpleNamespace(contents=b"#!/bin/sh\n"))[1]), \
         mock.patch("os.path.exists", lambda p: False), \
         mock.patch("os.path.isfile", lambda p: p == "/etc/chef/validation.pem"), \
         mock.patch("os.unlink", lambda p: calls.append(["remove", p])):
        try:
            if takes_log:
                cc_chef.handle("chef", {"chef": cfg}, cloud, logging.getLogger(), [])
            else:
                cc_chef.handle("chef", {"chef": cfg}, cloud, [])
        except KeyError:
            calls[:] = [["error"]]
    out.append(list(calls))
print(json.dumps(out))
"##;

/// strap's steps in the oracle's shape.
fn shape(steps: &[Step]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::Install(p) => out.push(serde_json::json!(["install", p])),
            other => out.extend(
                super::super::oracle_shape(other)
                    .unwrap_or_else(|| panic!("unexpected step {other:?}")),
            ),
        }
    }
    out
}

#[test]
fn steps_match_cloud_init() {
    let peers = crate::cloud_init_peers::cloud_inits("cloudinit.config.cc_chef");
    let base =
        "server_url: 'https://chef.example/organizations/acme', validation_name: acme-validator";
    let cases: Vec<(String, bool, bool)> = [
        // (config, chef-client installed, 22.4 takes it: `config_path` is 25's)
        ("", true, true),
        ("validation_cert: \"-----BEGIN RSA PRIVATE KEY-----\\nMII\\n\", run_list: ['recipe[a]', 'role[b]'], initial_attributes: {a: {b: 1}, c: [x, y]}", true, true),
        ("validation_cert: system, validation_key: /srv/v.pem, node_name: web1, environment: prod, chef_license: accept-silent, show_time: false, log_level: ':debug', ssl_verify_mode: ':verify_peer'", true, true),
        ("directories: [/srv/chef, /srv/chef/log], file_cache_path: /srv/cache, log_location: /srv/log/c.log, pid_file: null, encrypted_data_bag_secret: /etc/chef/secret, firstboot_path: ''", true, true),
        ("config_path: /srv/client.rb, json_attribs: /srv/fb.json, file_backup_path: /srv/backup", true, false),
        ("exec: true", true, true),
        ("exec: true, delete_validation_post_exec: true", false, true),
        ("force_install: true", true, true),
        ("install_type: omnibus, omnibus_url: 'https://o.example/install.sh', omnibus_url_retries: 2, omnibus_version: '18.2', exec: true", false, true),
        ("install_type: omnibus", false, true),
        ("install_type: gems, version: '18.2'", false, true),
        ("install_type: gems, exec: false", false, true),
    ]
    .iter()
    .map(|(extra, installed, old)| {
        let sep = if extra.is_empty() { "" } else { ", " };
        (format!("{{{base}{sep}{extra}}}"), *installed, *old)
    })
    .chain([
        ("{validation_name: v}".to_string(), true, true),
        ("{server_url: s}".to_string(), true, true),
    ])
    .collect();
    for peer in peers {
        let cases: Vec<&(String, bool, bool)> = cases
            .iter()
            .filter(|c| peer.name != "22.4" || c.2)
            .collect();
        let input = serde_json::Value::Array(
            cases
                .iter()
                .map(|(c, installed, _)| serde_json::json!([yaml(c).to_json(), installed]))
                .collect(),
        );
        let mut out = peer.run(&super::super::oracle_script(ORACLE), &input.to_string());
        if peer.name == "22.4" {
            // 22.4's cache and backup folders were /var/cache/chef and
            // /var/backups/chef; 25 moved them (and moves their files): read them as 25's.
            out = out
                .replace("/var/cache/chef", "/var/chef/cache")
                .replace("/var/backups/chef", "/var/chef/backup")
                .replace(r#"["dir", "/var/cache"]"#, r#"["dir", "/var/chef"]"#);
        }
        let theirs: Vec<Vec<serde_json::Value>> = serde_json::from_str(&out).unwrap();
        for ((cfg, installed, _), theirs) in cases.iter().zip(theirs) {
            let mut ours = match chef_steps(&yaml(cfg), &machine(*installed)) {
                Ok((steps, _)) => shape(&steps),
                Err(_) => vec![serde_json::json!(["error"])],
            };
            // A deliberate difference: without `omnibus_url_retries` cloud-init reads 0
            // (`get_cfg_option_int`'s default), never its documented 5; strap retries 5
            // times.
            if !cfg.contains("omnibus_url_retries") {
                for step in &mut ours {
                    if step[0] == "fetch" && step[2] == 5 {
                        step[2] = 0.into();
                    }
                }
            }
            assert_eq!(ours, theirs, "cloud-init {}: chef: {cfg}", peer.name);
        }
    }
}
