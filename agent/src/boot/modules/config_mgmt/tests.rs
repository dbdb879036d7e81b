use super::*;

fn yaml(text: &str) -> Node {
    crate::cloudconfig::load(text).unwrap()
}

fn argv(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Run { argv, .. } => Some(argv.join(" ")),
            _ => None,
        })
        .collect()
}

#[test]
fn salt_masterless_runs_salt_call_and_keys_are_private() {
    let cfg = yaml(
        "conf: {file_client: local, master: salt.example}\ngrains: {role: [web, db]}\npublic_key: PUB\nprivate_key: PEM\n",
    );
    let steps = salt_steps(&cfg, |_| false).unwrap();
    assert_eq!(steps[0], Step::Install(vec!["salt-minion".into()]));
    assert_eq!(
        argv(&steps),
        [
            "systemctl disable salt-minion",
            "systemctl stop salt-minion",
            "salt-call --local state.apply"
        ]
    );
    let pem = steps
        .iter()
        .find_map(|s| match s {
            Step::Write {
                path, mode, secret, ..
            } if path.ends_with("minion.pem") => Some((path.clone(), *mode, *secret)),
            _ => None,
        })
        .unwrap();
    assert_eq!(pem, ("/etc/salt/pki/minion.pem".into(), 0o600, true));
    // The minion file reads back as the config it came from.
    let minion = steps
        .iter()
        .find_map(|s| match s {
            Step::Write { path, text, .. } if path == "/etc/salt/minion" => Some(text.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(yaml(&minion).to_json(), cfg.get("conf").unwrap().to_json());
    // With a daemon, and the default key folder present.
    let steps = salt_steps(&yaml("public_key: a\nprivate_key: b\n"), |d| {
        d == "/etc/salt/pki/minion"
    })
    .unwrap();
    assert_eq!(
        argv(&steps),
        [
            "systemctl enable salt-minion",
            "systemctl restart salt-minion"
        ]
    );
    assert!(steps.iter().any(
        |s| matches!(s, Step::Write { path, .. } if path == "/etc/salt/pki/minion/minion.pub")
    ));
}

#[test]
fn yaml_dump_reads_back_as_itself() {
    let doc = serde_json::json!({
        "a": "plain", "b": "needs: quoting # here", "c": ["x", 1, 2.5, true, null, {"d": []}],
        "e": {}, "f": "multi\nline", "yes": "no", "g": [[1, 2], {"h": "é"}]
    });
    assert_eq!(yaml(&yaml_dump(&doc)).to_json(), doc);
}

#[test]
fn ansible_pull_flags_and_user_commands_are_built_as_cloud_init_builds_them() {
    let cfg = yaml(
        "install_method: pip\npackage_name: ansible-core\nrun_user: ubuntu\ngalaxy:\n  actions: [[ansible-galaxy, collection, install, community.grafana]]\npull:\n  url: https://github.com/x/y.git\n  playbook_name: site.yml\n  diff: true\n  full: false\n  accept_host_key: true\n  checkout: main\n",
    );
    let machine = AnsibleMachine {
        installed: false,
        python: "python3",
        externally_managed: true,
        has_pip: true,
    };
    let steps = ansible_steps(&cfg, &machine).unwrap();
    assert_eq!(
        argv(&steps),
        [
            "su - ubuntu -c env PATH=$PATH python3 -m pip install --break-system-packages --user --upgrade pip",
            "su - ubuntu -c env PATH=$PATH python3 -m pip install --break-system-packages --user ansible-core",
            "su - ubuntu -c env PATH=$PATH ansible-galaxy collection install community.grafana",
            "su - ubuntu -c env PATH=$PATH ansible-pull --url=https://github.com/x/y.git --diff --accept-host-key --checkout=main site.yml",
        ]
    );
    for bad in [
        "package_name: a\n",
        "install_method: snap\npackage_name: a\n",
        "install_method: distro\npackage_name: a\npull: {url: x}\n",
        "install_method: distro\npackage_name: a\nsetup_controller: {}\n",
    ] {
        assert!(
            matches!(
                ansible_steps(&yaml(bad), &machine),
                Err(ModuleError::Invalid { .. })
            ),
            "{bad}"
        );
    }
}

/// cloud-init 25's `handle()` of each module with its distro, `subp` and file writes
/// replaced by recorders: the steps it takes, as `[kind, ...]` lists.
const ORACLE: &str = r#"
import json, sys, types
sys.modules.setdefault("pip", types.ModuleType("pip"))
from unittest import mock
from cloudinit.config import cc_salt_minion, cc_ansible
calls = []
def fake_subp(cmd, **kw):
    line = " ".join(cmd)
    if "--version" in line:
        return ("ansible-pull [core 2.14.3]\n", "")
    if "pip list" in line:
        # Installed once a pip install of something other than pip itself ran.
        done = any(c[0] == "run" and "pip install" in " ".join(c[1]) and not " ".join(c[1]).endswith("pip") for c in calls)
        return ("ansible" if done else "", "")
    if "getuserbase" in line:
        return ("", "")
    calls.append(["run", list(cmd)])
    return ("", "")
class Distro:
    pip_package_name = "python3-pip"
    def install_packages(self, pkgs): calls.append(["install", list(pkgs)])
    def manage_service(self, action, name): calls.append(["run", ["systemctl", action, name]])
    def do_as(self, command, user, cwd="", **kw):
        directory = f"cd {cwd} && " if cwd else ""
        return fake_subp(["su", "-", user, "-c", directory + "env PATH=$PATH " + " ".join(command)])
cloud = types.SimpleNamespace(distro=Distro())
out = []
for name, cfg in json.load(sys.stdin):
    calls.clear()
    with mock.patch("cloudinit.subp.subp", fake_subp), \
         mock.patch("cloudinit.subp.which", lambda *a, **k: "/usr/bin/ansible" if any(c[0] == "install" for c in calls) else None), \
         mock.patch("cloudinit.util.write_file", lambda p, c, *a, **k: calls.append(["write", p, c])), \
         mock.patch("cloudinit.util.ensure_dir", lambda p, *a, **k: calls.append(["dir", p])), \
         mock.patch("os.path.isdir", lambda p: False), \
         mock.patch("os.path.exists", lambda p: False), \
         mock.patch.object(cc_ansible, "sys", types.SimpleNamespace(executable="python3", stdout=sys.stdout)):
        try:
            {"salt_minion": cc_salt_minion, "ansible": cc_ansible}[name].handle(name, {name: cfg}, cloud, [])
        except ValueError as e:
            calls.append(["error"])
    out.append(list(calls))
print(json.dumps(out))
"#;

/// strap's steps in the oracle's shape; a written YAML file as the data it holds.
fn shape(steps: &[Step]) -> Vec<serde_json::Value> {
    steps
        .iter()
        .map(|s| match s {
            Step::Install(p) => serde_json::json!(["install", p]),
            Step::Folder { path, .. } => serde_json::json!(["dir", path]),
            Step::Write { path, text, .. } if text.starts_with("---\n") => {
                serde_json::json!(["write", path, yaml(text).to_json()])
            }
            Step::Write { path, text, .. } => serde_json::json!(["write", path, text]),
            Step::Run { argv, .. } => serde_json::json!(["run", argv]),
            other => panic!("unexpected step {other:?}"),
        })
        .collect()
}

#[test]
fn steps_match_cloud_init_25() {
    // cloud-init 22.4's modules took other arguments and ran salt as a service only:
    // the steps are cloud-init 25's.
    let Some(peer) = crate::cloud_init_peers::cloud_inits("cloudinit.config.cc_ansible")
        .into_iter()
        .find(|c| c.name == "25")
    else {
        eprintln!(
            "skipped: cloud-init 25 is not unpacked (run .ci/run, or set STRAP_TEST_CLOUD_INIT_25)"
        );
        return;
    };
    let cases: &[(&str, &str)] = &[
        ("salt_minion", "{}"),
        ("salt_minion", "{conf: {master: salt.example, log_level: debug}, grains: {role: web}}"),
        ("salt_minion", "{conf: {file_client: local}, public_key: PUB, private_key: PEM}"),
        ("salt_minion", "{pkg_name: salt, config_dir: /srv/salt, service_name: salt, public_key: a, private_key: b, pki_dir: /srv/pki}"),
        ("ansible", "{install_method: distro, package_name: ansible-core, pull: {url: 'https://x/y.git', playbook_name: site.yml}}"),
        ("ansible", "{install_method: distro, package_name: ansible, run_user: ubuntu, pull: {url: u, playbook_name: p.yml, diff: true, full: false, checkout: main}}"),
        ("ansible", "{install_method: pip, package_name: ansible-core, run_user: ubuntu, galaxy: {actions: [[ansible-galaxy, collection, install, community.general]]}}"),
        ("ansible", "{install_method: pip, package_name: ansible-core}"),
        ("ansible", "{install_method: distro, package_name: ansible, setup_controller: {repositories: [{path: /opt/r, source: 'https://x/r.git'}], run_ansible: [{playbook_dir: /opt/r, playbook_name: site.yml, inventory: hosts.ini, forks: 5}]}}"),
        ("ansible", "{install_method: snap, package_name: a}"),
    ];
    let input = serde_json::Value::Array(
        cases
            .iter()
            .map(|(m, c)| serde_json::json!([m, yaml(c).to_json()]))
            .collect(),
    );
    let out = peer.run(ORACLE, &input.to_string());
    let theirs: Vec<Vec<serde_json::Value>> = serde_json::from_str(&out).unwrap();
    let machine = AnsibleMachine {
        installed: false,
        python: "python3",
        externally_managed: false,
        has_pip: true,
    };
    for ((module, cfg), theirs) in cases.iter().zip(theirs) {
        let node = yaml(cfg);
        let ours = match *module {
            "salt_minion" => salt_steps(&node, |_| false).map(|s| shape(&s)),
            _ => ansible_steps(&node, &machine).map(|s| shape(&s)),
        };
        let ours = ours.unwrap_or_else(|_| vec![serde_json::json!(["error"])]);
        // cloud-init writes YAML it dumped itself: compare the data it holds.
        let theirs: Vec<serde_json::Value> = theirs
            .into_iter()
            .map(|c| match c.as_array().map(Vec::as_slice) {
                Some([kind, path, serde_json::Value::String(text)])
                    if kind == "write" && text.starts_with("---") =>
                {
                    serde_json::json!(["write", path, yaml(text).to_json()])
                }
                _ => c,
            })
            .collect();
        assert_eq!(ours, theirs, "{module}: {cfg}");
    }
}

#[test]
fn versions_and_providers_are_named_per_family() {
    assert_eq!(
        versioned(Family::Debian, "puppet-agent", Some("8.1")),
        "puppet-agent=8.1"
    );
    assert_eq!(
        versioned(Family::Rhel, "puppet-agent", Some("8.1")),
        "puppet-agent-8.1"
    );
    assert_eq!(versioned(Family::Rhel, "chef", None), "chef");
    assert_eq!(provider("curl", Family::Debian), Some("curl"));
    assert!(provider("/usr/bin/chef-client", Family::Rhel).is_some_and(|p| p.contains("omnibus")));
}
