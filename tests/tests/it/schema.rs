//! `strap userdata validate` against cloud-init's own validator on the keys of the
//! cloud-init modules strap does not run. `schema_oracle.py` builds the documents from
//! cloud-init 25's schema (22.4's when 25 is missing): each module-docs example of those
//! modules, and variants with a wrong value of each type, an unknown property or a value
//! outside an enum at each place, and each property of each key alone; the same for
//! the keys of the modules strap runs. For every document, cloud-init 25's errors
//! (path and message, word for word) must be strap's; for 22.4, where its schema has the
//! module, the places of its errors, but for the known differences below.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use strap_e2e::{cloud_inits, command, stderr, CloudInit};

/// Top-level keys of the modules below that strap runs by now: a document holding one
/// is judged the same, but not expected to name a key as not run (its other keys, such
/// as `mounts`, are run too).
const RUN_BY_STRAP: &[&str] = &[
    "ansible",
    "salt_minion",
    "puppet",
    "chef",
    "disk_setup",
    "fs_setup",
    "device_aliases",
];

/// cloud-init 25's modules (its schema's `$defs`) whose keys strap checks, and did not
/// run when this test was written (`RUN_BY_STRAP` names those it runs since).
const NOT_RUN_MODULES: &[&str] = &[
    "cc_ansible",
    "cc_apk_configure",
    "cc_apt_pipelining",
    "cc_byobu",
    "cc_chef",
    "cc_disk_setup",
    "cc_fan",
    "cc_grub_dpkg",
    "cc_install_hotplug",
    "cc_keyboard",
    "cc_landscape",
    "cc_lxd",
    "cc_mcollective",
    "cc_phone_home",
    "cc_puppet",
    "cc_resolv_conf",
    "cc_rh_subscription",
    "cc_rsyslog",
    "cc_salt_minion",
    "cc_scripts_vendor",
    "cc_seed_random",
    "cc_snap",
    "cc_spacewalk",
    "cc_ssh_authkey_fingerprints",
    "cc_ubuntu_autoinstall",
    "cc_ubuntu_drivers",
    "cc_ubuntu_pro",
    "cc_wireguard",
    "cc_zypper_add_repo",
    "reporting_config",
];

/// Known differences with 22.4: keys whose schema changed in 25 in a way the documents
/// show; strap follows 25 (each definition in `agent/src/cloudconfig/schema/not_run.rs`
/// says where 22.4 differs).
const CHANGED_SINCE_22_4: &[(&str, &str)] = &[
    (
        "chef",
        "25 adds `config_path` and an enum for `chef_license`",
    ),
    (
        "disk_setup",
        "25 takes the entries of a `[size, type]` layout as text too",
    ),
    ("grub_dpkg", "25 adds `grub-efi/install_devices`"),
    ("locale", "25 takes `false` (leave the locale alone)"),
    ("ntp", "25 adds `peers` and `allow`"),
    (
        "packages",
        "25 takes `{apt: [...]}` and `{snap: [...]}` entries",
    ),
    (
        "users",
        "25 takes `sudo` as a list and an empty `users` list",
    ),
    ("write_files", "25 adds `source`"),
    (
        "yum_repos",
        "25 takes `metalink` or `mirrorlist` in place of `baseurl`",
    ),
    (
        "landscape",
        "25 requires the client's `account_name` and `computer_title`",
    ),
    (
        "rh_subscription",
        "25 takes `org` as text (an integer is deprecated)",
    ),
    (
        "rsyslog",
        "25 adds `install_rsyslog`, `check_exe` and `packages`",
    ),
];

fn oracle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/schema_oracle.py")
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/data/cloud-init/module-docs")
}

/// Runs the oracle under a cloud-init's Python with `stdin`; its JSON answer.
fn ask(ci: &CloudInit, args: &[&str], stdin: &[u8]) -> serde_json::Value {
    use std::io::Write as _;
    let mut child = ci
        .python()
        .arg(oracle())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oracle under {}: {}",
        ci.name,
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What strap says of one document: its error paths, and how many keys it named as
/// valid for cloud-init and not run.
struct Verdict {
    paths: BTreeSet<String>,
    /// Each error's path and message.
    problems: BTreeSet<(String, String)>,
    named_not_run: usize,
}

fn strap_verdict(file: &Path) -> Verdict {
    let out = command("strap")
        .args(["-qq", "userdata", "validate", "--json"])
        .arg(file)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: {e}: {}", file.display(), stderr(&out)));
    let problems = doc["problems"].as_array().cloned().unwrap_or_default();
    let errors: BTreeSet<(String, String)> = problems
        .iter()
        .filter(|p| p["level"] == "error")
        .map(|p| {
            let text = |k: &str| p[k].as_str().unwrap_or("").to_string();
            (text("path"), text("message"))
        })
        .collect();
    let paths = errors.iter().map(|(path, _)| path.clone()).collect();
    let named_not_run = problems
        .iter()
        .filter(|p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("valid for cloud-init, not run by strap"))
        })
        .count();
    Verdict {
        paths,
        problems: errors,
        named_not_run,
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

fn is_prefix(short: &str, long: &str) -> bool {
    let (s, l) = (segments(short), segments(long));
    s.len() <= l.len() && s == l[..s.len()]
}

/// Known difference with 22.4: a `oneOf` no option matches is reported by 22.4 at the
/// `oneOf`'s own path, by 25 (and strap) at its deepest failures below it. The places
/// agree when each of 22.4's paths leads to one of strap's and each of strap's lies
/// below one of 22.4's.
fn same_places_as_22_4(theirs: &BTreeSet<String>, ours: &BTreeSet<String>) -> bool {
    theirs.iter().all(|t| ours.iter().any(|o| is_prefix(t, o)))
        && ours.iter().all(|o| theirs.iter().any(|t| is_prefix(t, o)))
}

fn top_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(['#', ' ', '-']) && l.contains(':'))
        .filter_map(|l| l.split(':').next().map(str::to_string))
        .collect()
}

#[test]
fn not_run_keys_are_judged_as_cloud_init_judges_them() {
    judged_as_cloud_init_judges(NOT_RUN_MODULES, true);
}

/// The same for the keys of the modules strap runs.
#[test]
fn run_keys_are_judged_as_cloud_init_judges_them() {
    judged_as_cloud_init_judges(RUN_MODULES, false);
}

/// cloud-init 25's modules whose keys strap runs.
const RUN_MODULES: &[&str] = &[
    "cc_apt_configure",
    "cc_bootcmd",
    "cc_ca_certs",
    "cc_disable_ec2_metadata",
    "cc_final_message",
    "cc_growpart",
    "cc_keys_to_console",
    "cc_locale",
    "cc_mounts",
    "cc_ntp",
    "cc_package_update_upgrade_install",
    "cc_power_state_change",
    "cc_resizefs",
    "cc_runcmd",
    "cc_set_hostname",
    "cc_set_passwords",
    "cc_ssh_import_id",
    "cc_ssh",
    "cc_timezone",
    "cc_update_etc_hosts",
    "cc_update_hostname",
    "cc_users_groups",
    "cc_write_files",
    "cc_yum_add_repo",
];

/// Documents built from `modules`' schemas and examples, judged by strap and by each
/// cloud-init; with `not_run`, strap must also name a key of each valid one as not run.
fn judged_as_cloud_init_judges(modules: &[&str], not_run: bool) {
    let cis = cloud_inits();
    let Some(generator) = cis.iter().find(|c| c.name == "25").or(cis.first()) else {
        eprintln!("skipped: no cloud-init to compare with");
        return;
    };
    if generator.name != "25" {
        eprintln!(
            "documents built from cloud-init {}'s schema",
            generator.name
        );
    }
    let examples = examples_dir();
    let mut args = vec!["generate", examples.to_str().unwrap()];
    args.extend(modules);
    let docs: Vec<String> = serde_json::from_value(ask(generator, &args, b"")).unwrap();
    assert!(docs.len() > 1000, "only {} documents", docs.len());

    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = docs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let file = tmp.path().join(format!("{i:05}.yaml"));
            std::fs::write(&file, text).unwrap();
            file
        })
        .collect();
    // Two at a time: strap starts in milliseconds, the documents are many.
    let half = files.len().div_ceil(2);
    let ours: Vec<Verdict> = std::thread::scope(|s| {
        let workers: Vec<_> = files
            .chunks(half)
            .map(|chunk| s.spawn(|| chunk.iter().map(|f| strap_verdict(f)).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut failures = Vec::new();
    for (text, verdict) in docs.iter().zip(&ours) {
        let only_run_keys = top_keys(text)
            .iter()
            .any(|k| RUN_BY_STRAP.contains(&k.as_str()));
        if not_run && verdict.paths.is_empty() && verdict.named_not_run == 0 && !only_run_keys {
            failures.push(format!("strap did not name a key as not run:\n{text}"));
        }
    }

    let input = serde_json::to_vec(&docs).unwrap();
    for ci in &cis {
        let answers = ask(ci, &["judge"], &input);
        let answers = answers.as_array().unwrap();
        assert_eq!(answers.len(), docs.len());
        let (mut compared, mut invalid) = (0, 0);
        for ((text, verdict), answer) in docs.iter().zip(&ours).zip(answers) {
            let theirs: BTreeSet<String> = serde_json::from_value(answer["paths"].clone()).unwrap();
            let same = if ci.name == "22.4" {
                // 22.4 accepts a key its schema does not have unchecked.
                if answer["known"] != true
                    || top_keys(text)
                        .iter()
                        .any(|k| CHANGED_SINCE_22_4.iter().any(|(c, _)| c == k))
                {
                    continue;
                }
                same_places_as_22_4(&theirs, &verdict.paths)
            } else {
                // cloud-init 25: the same errors, word for word.
                let said: BTreeSet<(String, String)> =
                    serde_json::from_value(answer["problems"].clone()).unwrap();
                said == verdict.problems
            };
            compared += 1;
            invalid += usize::from(!theirs.is_empty());
            if !same {
                failures.push(format!(
                    "cloud-init {}: {}, strap: {:?}\n{text}",
                    ci.name, answer["problems"], verdict.problems
                ));
            }
        }
        eprintln!(
            "cloud-init {}: {compared} documents compared, {invalid} invalid",
            ci.name
        );
        assert!(
            compared > 500 && invalid > 300,
            "{} {compared} {invalid}",
            ci.name
        );
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every top-level key each cloud-init's schema knows is known to strap: run, not run or
/// base configuration, never "Additional properties are not allowed".
#[test]
fn every_key_cloud_init_knows_is_classified() {
    let cis = cloud_inits();
    if cis.is_empty() {
        eprintln!("skipped: no cloud-init to compare with");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for ci in &cis {
        let keys: Vec<String> = serde_json::from_value(ask(ci, &["keys"], b"")).unwrap();
        assert!(keys.len() > 80, "{}: {} keys", ci.name, keys.len());
        let mut text = String::from("#cloud-config\n");
        for key in &keys {
            text.push_str(&format!("'{key}': null\n"));
        }
        let file = tmp.path().join(format!("keys-{}.yaml", ci.name));
        std::fs::write(&file, text).unwrap();
        let out = command("strap")
            .args(["-qq", "userdata", "validate", "--json"])
            .arg(&file)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let unknown: Vec<&str> = doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| {
                p["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Additional properties are not allowed"))
                    && p["path"]
                        .as_str()
                        .is_some_and(|p| keys.iter().any(|k| k == p))
            })
            .filter_map(|p| p["path"].as_str())
            .collect();
        assert!(unknown.is_empty(), "cloud-init {}: {unknown:?}", ci.name);
    }
}
