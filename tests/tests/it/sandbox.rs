//! `strap try`: user data run on a throwaway overlay of this machine. These tests need
//! root (or unprivileged user namespaces) and overlayfs; they skip with a message
//! otherwise. Each checks the report and that the host is unchanged: no file, user,
//! hostname, mount, cgroup or process left behind.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use strap_e2e::{command, have_program, stderr, stdout};

/// Why this machine cannot run the sandbox, if it cannot.
fn unavailable() -> Option<String> {
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.lines().any(|l| l.ends_with("overlay")) {
        return Some("no overlay filesystem".into());
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root {
        return Some("not running as root".into());
    }
    let probe = std::process::Command::new("unshare")
        .args(["-m", "-n", "-u", "true"])
        .status();
    match probe {
        Ok(s) if s.success() => None,
        Ok(_) => Some("namespaces are not allowed here (unshare -m -n -u failed)".into()),
        // No unshare(1) to probe with: let strap try itself find out.
        Err(_) => None,
    }
}

macro_rules! require_sandbox {
    () => {
        if let Some(why) = unavailable() {
            eprintln!("skipping: strap try cannot run here: {why}");
            return;
        }
    };
}

/// A user-data script in a temporary folder.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(script: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("user-data"), script).unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `strap try --json <user-data> ARGS`, work folder under this case's `tmp/`.
    fn run(&self, args: &[&str]) -> (Output, Value) {
        let out = command("strap")
            .arg("try")
            .arg(self.path("user-data"))
            .arg("--json")
            .args(args)
            .env("TMPDIR", self.path("tmp"))
            .output()
            .unwrap();
        let stdout = stdout(&out);
        let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}); status {:?}\nstdout: {stdout}\nstderr: {}",
                out.status,
                stderr(&out)
            )
        });
        self.assert_cleaned_up();
        (out, report)
    }

    /// The work folder is gone and nothing of the sandbox is mounted or running.
    fn assert_cleaned_up(&self) {
        let left: Vec<_> = std::fs::read_dir(self.path("tmp")).unwrap().collect();
        assert!(left.is_empty(), "work folder left behind: {left:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains("strap-try"),
            "a sandbox mount is visible on the host:\n{mounts}"
        );
    }
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}{}x{nanos}", std::process::id())
}

fn launch(report: &Value, i: usize) -> &Value {
    &report["launches"][i]
}

fn change<'a>(launch: &'a Value, path: &str) -> Option<&'a Value> {
    launch["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[test]
fn a_script_changes_only_the_overlay_and_the_report_says_what_changed() {
    require_sandbox!();
    let user = unique("u").chars().take(24).collect::<String>();
    let marker = unique("/etc/strap-e2e-");
    let host_name = hostname();
    let script = format!(
        "#!/bin/sh\nset -e\necho written > {marker}\necho extra >> /etc/hosts\nrm -f /etc/issue.net\n\
         useradd --no-create-home {user}\nhostname sandboxed-{user}\necho hello from the sandbox\n\
         if echo 1 > /proc/sys/vm/swappiness 2>/dev/null; then echo proc-sys=writable; else echo proc-sys=read-only; fi\n\
         if [ -f /var/lib/dpkg/status ]; then printf '\\nPackage: strap-e2e-fake\\nStatus: install ok installed\\nVersion: 1.2-3\\n' >> /var/lib/dpkg/status; fi\n"
    );
    let case = Case::new(&script);
    let had_issue_net = Path::new("/etc/issue.net").exists();
    let (out, report) = case.run(&["--runner", "script", "--diff"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = launch(&report, 0);
    assert_eq!(first["outcome"]["exit_code"], 0, "{first:#}");
    let output = first["outcome"]["output_tail"].as_str().unwrap();
    assert!(output.contains("hello from the sandbox"), "{output}");
    assert!(output.contains("proc-sys=read-only"), "{output}");

    let added = change(first, &marker).expect("the new file is reported");
    assert_eq!(added["change"], "added");
    assert_eq!(added["size"], 8);
    assert_eq!(added["mode"], "0644");
    let hosts = change(first, "/etc/hosts").expect("/etc/hosts is reported");
    assert_eq!(hosts["change"], "changed");
    assert!(
        hosts["diff"].as_str().unwrap().contains("+extra"),
        "{hosts:#}"
    );
    if had_issue_net {
        assert_eq!(
            change(first, "/etc/issue.net").unwrap()["change"],
            "deleted"
        );
    }
    assert!(change(first, "/etc/passwd").is_some());
    assert_eq!(first["accounts"]["users_added"], serde_json::json!([user]));
    if Path::new("/var/lib/dpkg/status").exists() {
        let packages = &first["packages"];
        assert_eq!(
            packages,
            &serde_json::json!([{"name": "strap-e2e-fake", "change": "installed",
                                 "old_version": null, "version": "1.2-3"}]),
            "{first:#}"
        );
    }

    // The host is untouched.
    assert!(!Path::new(&marker).exists(), "{marker} reached the host");
    assert_eq!(Path::new("/etc/issue.net").exists(), had_issue_net);
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!passwd.contains(&user), "the user reached the host");
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    assert!(
        !hosts.lines().any(|l| l == "extra"),
        "/etc/hosts changed on the host"
    );
    assert_eq!(hostname(), host_name, "the hostname changed on the host");
}

#[test]
fn scripts_reach_the_metadata_service_on_the_real_address_and_nothing_else() {
    require_sandbox!();
    if !have_program("curl") {
        eprintln!("skipping: curl is not installed (apt-get install -y curl)");
        return;
    }
    let script = "#!/bin/sh\n\
        T=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)\n\
        ID=$(curl -sS -H \"X-aws-ec2-metadata-token: $T\" http://169.254.169.254/latest/meta-data/instance-id)\n\
        echo \"$ID\" > /etc/instance-id-seen\n\
        echo \"iid=$ID\"\n\
        if curl -sS -m 5 http://192.0.2.1/ >/dev/null 2>&1; then echo network=reachable; else echo network=unreachable; fi\n";
    let case = Case::new(script);
    let (out, report) = case.run(&["--runner", "script"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = launch(&report, 0);
    let id = first["instance_id"].as_str().unwrap();
    assert!(id.starts_with("i-"), "{first:#}");
    let output = first["outcome"]["output_tail"].as_str().unwrap();
    assert!(output.contains(&format!("iid={id}")), "{output}");
    assert!(output.contains("network=unreachable"), "{output}");
    assert_eq!(
        change(first, "/etc/instance-id-seen").unwrap()["size"],
        id.len() + 1
    );
}

#[test]
fn a_script_that_runs_for_ever_is_killed_at_the_timeout_with_its_children() {
    require_sandbox!();
    let marker = format!("{}", 4_000_000 + std::process::id() % 1_000_000);
    let script = format!(
        "#!/bin/sh\nsleep {marker} &\nsetsid sleep {marker} &\nwhile true; do sleep 1; done\n"
    );
    let case = Case::new(&script);
    let (out, report) = case.run(&["--runner", "script", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(2), "a killed boot is a failed try");
    assert_eq!(launch(&report, 0)["outcome"]["timed_out"], true);
    let left = processes_with(&format!("sleep {marker}"));
    assert!(left.is_empty(), "processes outlived the sandbox: {left:?}");
}

#[test]
fn a_script_that_fills_the_disk_is_bounded_by_max_size() {
    require_sandbox!();
    let case = Case::new(
        "#!/bin/sh\ndd if=/dev/zero of=/var/tmp/strap-e2e-fill bs=1M count=64 2>&1\necho dd=$?\n",
    );
    let (out, report) = case.run(&["--runner", "script", "--max-size", "8M"]);
    assert_eq!(out.status.code(), Some(2));
    let first = launch(&report, 0);
    assert_eq!(first["limits"]["upper_full"], true, "{first:#}");
    assert!(first["outcome"]["output_tail"]
        .as_str()
        .unwrap()
        .contains("No space left"));
    let size = change(first, "/var/tmp/strap-e2e-fill").unwrap()["size"]
        .as_u64()
        .unwrap();
    assert!(size <= 8 << 20, "{size}");
    assert!(!Path::new("/var/tmp/strap-e2e-fill").exists());
}

#[test]
fn a_fork_bomb_is_bounded_by_the_pids_limit() {
    require_sandbox!();
    let case = Case::new("#!/bin/sh\nb() { b | b & }\nb\nsleep 1\necho survived\n");
    let (out, report) = case.run(&["--runner", "script", "--timeout", "20", "--max-pids", "32"]);
    let first = launch(&report, 0);
    match first["limits"]["pids"]["kind"].as_str() {
        Some("cgroup") => {
            assert!(
                first["limits"]["pids_refused"].as_u64().unwrap() > 0,
                "{first:#}"
            );
            assert_eq!(out.status.code(), Some(2));
            let cgroup = first["limits"]["pids"]["path"].as_str().unwrap();
            assert!(!Path::new(cgroup).exists(), "cgroup {cgroup} left behind");
        }
        other => eprintln!("no pids cgroup here ({other:?}); only the timeout bounds the bomb"),
    }
}

#[test]
fn keep_leaves_the_upper_layer_with_whiteouts() {
    require_sandbox!();
    let case = Case::new("#!/bin/sh\necho kept > /etc/strap-e2e-kept\nrm -f /etc/hostname\n");
    let keep = case.path("keep");
    let (out, report) = case.run(&["--runner", "script", "--keep", keep.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(report["kept"], keep.to_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(keep.join("etc/strap-e2e-kept")).unwrap(),
        "kept\n"
    );
    if Path::new("/etc/hostname").exists() {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::symlink_metadata(keep.join("etc/hostname")).unwrap();
        assert!(
            meta.file_type().is_char_device() && meta.rdev() == 0,
            "not a whiteout"
        );
        assert!(Path::new("/etc/hostname").exists());
    }
}

#[test]
fn a_missing_user_data_file_is_an_error_naming_it() {
    let out = command("strap")
        .args(["try", "/nonexistent/strap-e2e-user-data"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr(&out);
    // Either the machine cannot run a sandbox (and says what is missing), or the file is
    // named.
    assert!(
        stderr.contains("/nonexistent/strap-e2e-user-data")
            || stderr.contains("strap run --local --root DIR"),
        "{stderr}"
    );
}

fn part<'a>(launch: &'a Value, name: &str) -> &'a Value {
    launch["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no part {name} in {:#}", launch["parts"]))
}

#[test]
fn the_boot_runs_cloud_config_and_the_report_lists_its_parts_and_changes() {
    require_sandbox!();
    let user = unique("d").chars().take(24).collect::<String>();
    let config = format!(
        "#cloud-config\nwrite_files:\n  - path: /etc/strap-e2e-app.conf\n    content: |\n      port=8080\n\
         users:\n  - name: {user}\nruncmd:\n  - echo runcmd ran > /var/tmp/strap-e2e-runcmd\n"
    );
    let case = Case::new(&config);
    let (out, report) = case.run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = launch(&report, 0);
    assert_eq!(first["boot_status"]["status"], "done", "{first:#}");
    assert_eq!(part(first, "config-write_files")["status"], "ran");
    assert_eq!(part(first, "scripts_user/runcmd")["exit_code"], 0);
    assert_eq!(part(first, "config-bootcmd")["status"], "skipped");
    assert!(part(first, "config-bootcmd")["reason"]
        .as_str()
        .unwrap()
        .contains("bootcmd"));
    assert_eq!(
        change(first, "/etc/strap-e2e-app.conf").unwrap()["change"],
        "added"
    );
    assert_eq!(
        change(first, "/var/tmp/strap-e2e-runcmd").unwrap()["size"],
        11
    );
    let id = first["instance_id"].as_str().unwrap();
    assert!(change(
        first,
        &format!("/var/lib/strap/instances/{id}/sem/config_runcmd")
    )
    .is_some());
    assert!(first["accounts"]["users_added"]
        .as_array()
        .unwrap()
        .contains(&Value::from(user.clone())));
    assert!(!Path::new("/etc/strap-e2e-app.conf").exists());
    assert!(!std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .contains(&user));
}

#[test]
fn then_plans_and_applies_changed_user_data_to_the_same_instance_and_the_plan_was_honest() {
    require_sandbox!();
    let user = unique("t").chars().take(24).collect::<String>();
    let old = "#cloud-config\nusers: []\nwrite_files:\n  - path: /etc/strap-e2e-then.conf\n    content: |\n      mode=one\n\
        runcmd:\n  - echo first >> /var/tmp/strap-e2e-then\n";
    let case = Case::new(old);
    let new = format!(
        "#cloud-config\nusers:\n  - name: {user}\nwrite_files:\n  - path: /etc/strap-e2e-then.conf\n    permissions: '0600'\n    content: |\n      mode=two\n\
         runcmd:\n  - echo second >> /var/tmp/strap-e2e-then\n"
    );
    std::fs::write(case.path("new"), new).unwrap();
    let then = case.path("new").display().to_string();
    let (out, report) = case.run(&["--then", &then]);
    assert!(out.status.success(), "{}", stderr(&out));
    let launches = report["launches"].as_array().unwrap();
    assert_eq!(launches.len(), 2, "{report:#}");
    let (first, applied) = (&launches[0], &launches[1]);
    assert_eq!(
        first["instance_id"], applied["instance_id"],
        "the same instance"
    );
    // The plan: the file changes (content and mode), the user is new, runcmd is not rerun.
    let plan = &applied["apply"]["plan"];
    let modules: Vec<&str> = plan["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    assert_eq!(
        modules,
        ["write_files", "users_groups", "runcmd"],
        "{plan:#}"
    );
    assert_eq!(plan["modules"][2]["action"], "not-rerun");
    assert_eq!(
        applied["apply"]["outcome"]["applied"],
        serde_json::json!(["write_files", "users_groups"])
    );
    // What really changed matches it: the file, the user, and no second runcmd.
    let file = change(applied, "/etc/strap-e2e-then.conf").unwrap();
    assert_eq!(file["change"], "changed");
    assert_eq!(file["mode"], "0600");
    assert_eq!(
        applied["accounts"]["users_added"],
        serde_json::json!([user])
    );
    assert!(
        change(applied, "/var/tmp/strap-e2e-then").is_none(),
        "runcmd was not rerun"
    );
    assert_eq!(part(applied, "config-write_files")["status"], "ran");
    // The table shows the plan, then the change.
    let out = command("strap")
        .arg("try")
        .arg(case.path("user-data"))
        .args(["--then", &then])
        .env("TMPDIR", case.path("tmp"))
        .output()
        .unwrap();
    let table = stdout(&out);
    assert!(table.contains("then: instance"), "{table}");
    assert!(
        table.contains("    ~ file /etc/strap-e2e-then.conf: content; mode 0644 → 0600"),
        "{table}"
    );
    assert!(table.contains("what the apply changed:"), "{table}");
    assert!(!Path::new("/etc/strap-e2e-then.conf").exists());
}

#[test]
fn a_relaunch_reruns_per_instance_work_and_not_per_once_work() {
    require_sandbox!();
    let config = "#cloud-config\nwrite_files:\n\
        \x20 - path: /var/lib/strap/scripts/per-once/once.sh\n    permissions: '0755'\n    content: |\n      #!/bin/sh\n      echo once >> /var/tmp/strap-e2e-once\n\
        \x20 - path: /var/lib/strap/scripts/per-instance/inst.sh\n    permissions: '0755'\n    content: |\n      #!/bin/sh\n      echo instance >> /var/tmp/strap-e2e-instance\n\
        runcmd:\n  - echo runcmd >> /var/tmp/strap-e2e-runcmd\n";
    let case = Case::new(config);
    let (out, report) = case.run(&["--relaunch", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let launches = report["launches"].as_array().unwrap();
    assert_eq!(launches.len(), 3);
    let ids: Vec<&str> = launches
        .iter()
        .map(|l| l["instance_id"].as_str().unwrap())
        .collect();
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );

    let first = &launches[0];
    assert_eq!(part(first, "scripts_per_once/once.sh")["status"], "ran");
    assert_eq!(part(first, "scripts_per_instance/inst.sh")["status"], "ran");
    assert_eq!(change(first, "/var/tmp/strap-e2e-once").unwrap()["size"], 5);
    for (n, relaunch) in launches.iter().enumerate().skip(1) {
        let per_once = part(relaunch, "config-scripts_per_once");
        assert_eq!(per_once["status"], "skipped", "{relaunch:#}");
        assert!(
            per_once["reason"].as_str().unwrap().contains("already ran"),
            "{per_once}"
        );
        assert_eq!(
            part(relaunch, "scripts_per_instance/inst.sh")["status"],
            "ran"
        );
        assert_eq!(part(relaunch, "config-runcmd")["status"], "ran");
        // Changes are relative to the baked image: the per-once log is not touched, the
        // per-instance and runcmd logs grow by one line each launch.
        assert!(
            change(relaunch, "/var/tmp/strap-e2e-once").is_none(),
            "{relaunch:#}"
        );
        let inst = change(relaunch, "/var/tmp/strap-e2e-instance").unwrap();
        assert_eq!(inst["change"], "changed");
        assert_eq!(inst["size"], 9 * (n + 1));
        assert_eq!(inst["old_size"], 9 * n);
        let sem = format!("/var/lib/strap/instances/{}/sem/config_runcmd", ids[n]);
        assert!(change(relaunch, &sem).is_some(), "{relaunch:#}");
    }
}

#[test]
fn without_root_it_works_through_a_user_namespace_or_says_what_is_missing() {
    use std::os::unix::process::CommandExt;
    require_sandbox!();
    let case = Case::new("#!/bin/sh\necho rootless > /etc/strap-e2e-rootless\n");
    use std::os::unix::fs::PermissionsExt;
    for p in [
        case.dir.path().to_path_buf(),
        case.path("tmp"),
        case.path("user-data"),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let out = command("strap")
        .arg("try")
        .arg(case.path("user-data"))
        .args(["--runner", "script", "--json"])
        .env("TMPDIR", case.path("tmp"))
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stderr = stderr(&out);
    if out.status.success() {
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["mode"], "rootless");
        assert!(change(launch(&report, 0), "/etc/strap-e2e-rootless").is_some());
    } else {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("this machine cannot run a sandbox: "),
            "{stderr}"
        );
        assert!(stderr.contains("strap run --local --root DIR"), "{stderr}");
    }
    assert!(!Path::new("/etc/strap-e2e-rootless").exists());
    case.assert_cleaned_up();
}

#[test]
fn the_mock_configuration_sets_the_instance_the_sandbox_pretends_to_be() {
    require_sandbox!();
    if !have_program("curl") {
        eprintln!("skipping: curl is not installed (apt-get install -y curl)");
        return;
    }
    let case = Case::new(
        "#!/bin/sh\n\
         echo \"v1=$(curl -s -o /dev/null -w '%{http_code}' http://169.254.169.254/latest/meta-data/instance-type)\"\n\
         T=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)\n\
         echo \"type=$(curl -sS -H \"X-aws-ec2-metadata-token: $T\" http://169.254.169.254/latest/meta-data/instance-type)\"\n",
    );
    let config = case.path("mock.yaml");
    std::fs::write(&config, "instance_type: m7g.large\nhttp_tokens: required\n").unwrap();
    let (out, report) = case.run(&["--runner", "script", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let output = launch(&report, 0)["outcome"]["output_tail"]
        .as_str()
        .unwrap();
    assert!(
        output.contains("v1=401"),
        "IMDSv1 refused when tokens are required: {output}"
    );
    assert!(output.contains("type=m7g.large"), "{output}");

    // A bad configuration is an error that names the file, printed once.
    std::fs::write(&config, "instance_typo: x\n").unwrap();
    let out = command("strap")
        .arg("try")
        .arg(case.path("user-data"))
        .args(["--runner", "script", "--config", config.to_str().unwrap()])
        .env("TMPDIR", case.path("tmp"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr(&out);
    assert!(
        stderr.contains("mock.yaml") && stderr.contains("instance_typo"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    case.assert_cleaned_up();
}

#[test]
fn ctrl_c_tears_the_sandbox_down_and_cleans_up() {
    use std::os::unix::process::CommandExt;
    require_sandbox!();
    let marker = format!("{}", 5_000_000 + std::process::id() % 1_000_000);
    let case = Case::new(&format!(
        "#!/bin/sh\nsleep {marker} &\necho started\nwhile true; do sleep 1; done\n"
    ));
    let child = command("strap")
        .arg("try")
        .arg(case.path("user-data"))
        .args(["--runner", "script"])
        .env("TMPDIR", case.path("tmp"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait until the script has started: its output reaches the launch log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let started = loop {
        let logs = std::fs::read_dir(case.path("tmp"))
            .unwrap()
            .flatten()
            .map(|work| work.path().join("launch-0.log"))
            .any(|log| std::fs::read_to_string(log).is_ok_and(|t| t.contains("started")));
        if logs || std::time::Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(started, "the script never started");
    let sandbox_pid = *children_of(child.id())
        .first()
        .expect("the sandbox process");
    // Ctrl-C: SIGINT to the whole process group.
    let pgid = format!("-{}", child.id());
    let kill = std::process::Command::new("kill")
        .args(["-INT", "--", &pgid])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr(&out);
    assert!(stderr.contains("interrupted"), "{stderr}");
    case.assert_cleaned_up();
    let left = processes_with(&format!("sleep {marker}"));
    assert!(left.is_empty(), "processes outlived the sandbox: {left:?}");
    // The v1 memory cgroup is made below this process's own.
    let own_memory = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
        .map(|p| format!("/sys/fs/cgroup/memory{}", p.trim_end_matches('/')));
    let parents = [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/memory",
    ]
    .map(String::from)
    .into_iter()
    .chain(own_memory);
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        let prefix = format!("strap-try-{sandbox_pid}-");
        let left: Vec<_> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .collect();
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}

/// The children of process `pid` (of all its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    out
}

#[test]
fn disk_modules_in_the_sandbox_write_fstab_in_the_overlay_and_run_nothing() {
    require_sandbox!();
    let swapfile = format!("/var/tmp/{}.swap", unique("swap"));
    let case = Case::new(&format!(
        "#cloud-config\nmounts:\n  - [ \"UUID=5e3c\", /srv/strap-e2e-data ]\nswap:\n  filename: {swapfile}\n  size: 1M\n"
    ));
    let host_fstab = std::fs::read("/etc/fstab").ok();
    let host_swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    let (out, report) = case.run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = launch(&report, 0);
    // The boot is process 1 of the sandbox: disk commands are recorded, not run.
    let grow = part(first, "config-growpart");
    assert_eq!(grow["status"], "skipped", "{grow:#}");
    assert!(grow["reason"]
        .as_str()
        .unwrap()
        .starts_with("running as process 1"));
    let mounts = part(first, "config-mounts");
    assert_eq!(mounts["status"], "ran", "{mounts:#}");
    assert!(change(first, "/etc/fstab").is_some(), "{first:#}");
    assert!(change(first, &swapfile).is_none(), "{first:#}");
    // The host is untouched.
    assert_eq!(std::fs::read("/etc/fstab").ok(), host_fstab);
    assert_eq!(
        std::fs::read_to_string("/proc/swaps").unwrap_or_default(),
        host_swaps
    );
    assert!(!Path::new(&swapfile).exists());
    assert!(!Path::new("/srv/strap-e2e-data").exists());
}

/// The classic ways out of a container, as user data: each must leave the folder `@HOST@`
/// of the host (mode 0777) empty, and the capabilities they need must be gone. Writes
/// that succeed land in the overlay's copy of that folder.
const ESCAPES: &str = r#"#!/usr/bin/env python3
import ctypes, ctypes.util, os, stat, subprocess
HOST = "@HOST@"
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

def attempt(name, fn):
    try:
        fn()
        print(name + "=done")
    except Exception as e:
        print(name + "=refused (" + str(e) + ")")

def write_host(path, tag):
    with open(os.path.join(path, "escaped-" + tag), "w") as f:
        f.write("out\n")

# 1. chroot-in-chroot: chroot deeper, then walk .. past the old root.
def chroot_escape():
    os.makedirs("/tmp/deeper", exist_ok=True)
    keep = os.open("/", os.O_RDONLY)
    os.chroot("/tmp/deeper")
    os.fchdir(keep)
    for _ in range(256):
        os.chdir("..")
    os.chroot(".")
    write_host(HOST, "chroot")
attempt("chroot", chroot_escape)

# 2. Walking .. from the root, without chroot.
def dotdot():
    os.chdir("/")
    for _ in range(256):
        os.chdir("..")
    write_host("." + HOST, "dotdot")
attempt("dotdot", dotdot)

# 3. The root of every process this sandbox sees.
def proc_roots():
    for pid in os.listdir("/proc"):
        if pid.isdigit() and os.path.isdir("/proc/%s/root%s" % (pid, HOST)):
            write_host("/proc/%s/root%s" % (pid, HOST), "proc-root-" + pid)
            return
    raise OSError("no process root shows the host folder")
attempt("proc-root", proc_roots)

# 4. open_by_handle_at (the "shocker" escape) through the host-backed strap binary.
class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]
def by_handle():
    fh = FileHandle(128, 0)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, b"/run/strap-try/strap", ctypes.byref(fh),
                              ctypes.byref(mount_id), 0) != 0:
        raise OSError(ctypes.get_errno(), "name_to_handle_at")
    mfd = os.open("/run/strap-try/strap", os.O_RDONLY)
    if libc.open_by_handle_at(mfd, ctypes.byref(fh), os.O_RDONLY) < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("open_by_handle_at", by_handle)

# 5. The host's disk: a device node for it, or a devtmpfs that has one.
def mknod_disk():
    os.mknod("/hostdisk", stat.S_IFBLK | 0o600, os.makedev(@MAJOR@, @MINOR@))
    os.makedirs("/mnt/hostdisk", exist_ok=True)
    if libc.mount(b"/hostdisk", b"/mnt/hostdisk", b"@FSTYPE@", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")
    write_host("/mnt/hostdisk" + HOST, "disk")
attempt("mknod", mknod_disk)
def devtmpfs():
    os.makedirs("/mnt/devs", exist_ok=True)
    if libc.mount(b"none", b"/mnt/devs", b"devtmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("devtmpfs", devtmpfs)

# 6. /proc/sys: core_pattern runs a program on the host; the read-only mount must hold.
# (The value written is the one read, so a sandbox that does not hold changes nothing.)
def rewrite(path):
    with open(path) as f:
        value = f.read()
    with open(path, "w") as f:
        f.write(value)
def core_pattern():
    rewrite("/proc/sys/kernel/core_pattern")
attempt("core_pattern", core_pattern)
def remount_proc_sys():
    MS_REMOUNT, MS_BIND = 32, 4096
    if libc.mount(None, b"/proc/sys", None, MS_REMOUNT | MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("remount-proc-sys", remount_proc_sys)
def umount_proc_sys():
    if libc.umount2(b"/proc/sys", 2) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("umount-proc-sys", umount_proc_sys)
def new_proc():
    os.makedirs("/mnt/proc", exist_ok=True)
    if libc.mount(b"proc", b"/mnt/proc", b"proc", 0, None) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    rewrite("/mnt/proc/sys/kernel/core_pattern")
attempt("new-proc", new_proc)

# 7. nsenter into pid 1's namespaces (pid 1 is this boot: nothing above it to enter).
def nsenter():
    r = subprocess.run(["nsenter", "-t", "1", "-m", "-p", "-u", "-n", "/bin/sh", "-c",
                        "echo out > " + HOST + "/escaped-nsenter"], capture_output=True)
    if r.returncode != 0:
        raise OSError(r.returncode, r.stderr.decode().strip())
attempt("nsenter", nsenter)

# 8. A nested user namespace (every capability again, over namespaces of its own) and the
# kernel keyring (not namespaced).
def nested_userns():
    if libc.unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("nested-userns", nested_userns)
def keyring():
    import platform
    nr = {"x86_64": 248, "aarch64": 217}[platform.machine()]
    if libc.syscall(nr, b"user", b"strap-e2e", b"x", 1, -3) < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("add_key", keyring)
print("seccomp: " + [l for l in open("/proc/self/status") if l.startswith("Seccomp:")][0].strip())
print("status: " + [l for l in open("/proc/self/status") if l.startswith("CapBnd")][0].strip())
print("nnp: " + [l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0].strip())
"#;

/// The major and minor device numbers and the type of the host's root filesystem.
fn root_device() -> (u32, u32, String) {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata("/").unwrap().dev();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let fstype = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .and_then(|l| l.split(" - ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("ext4")
        .to_string();
    (
        ((dev >> 8) & 0xfff) as u32 | ((dev >> 32) & !0xfff) as u32,
        (dev & 0xff) as u32 | ((dev >> 12) & !0xff) as u32,
        fstype,
    )
}

#[test]
fn the_classic_escapes_leave_the_host_untouched() {
    require_sandbox!();
    if !have_program("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    // A folder of the host, writable by anyone, outside /tmp (the sandbox's /tmp is its
    // own tmpfs, which would make a write there prove nothing).
    let host = tempfile::Builder::new()
        .prefix("strap-e2e-escape-")
        .tempdir_in("/var/tmp")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(host.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (major, minor, fstype) = root_device();
    let script = ESCAPES
        .replace("@HOST@", host.path().to_str().unwrap())
        .replace("@MAJOR@", &major.to_string())
        .replace("@MINOR@", &minor.to_string())
        .replace("@FSTYPE@", &fstype);
    let case = Case::new(&script);
    let (out, report) = case.run(&["--runner", "script", "--timeout", "60"]);
    let first = launch(&report, 0);
    let output = first["outcome"]["output_tail"].as_str().unwrap();
    let left: Vec<_> = std::fs::read_dir(host.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the sandbox wrote on the host: {left:?}\n{output}"
    );
    assert!(out.status.success(), "{}\n{output}", stderr(&out));
    for refused in [
        "chroot=refused",
        "open_by_handle_at=refused",
        "mknod=refused",
        "devtmpfs=refused",
        "core_pattern=refused",
        "remount-proc-sys=refused",
        "umount-proc-sys=refused",
        "new-proc=refused",
        "nnp: NoNewPrivs:\t1",
    ] {
        assert!(output.contains(refused), "no {refused:?} in:\n{output}");
    }
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        for refused in [
            "nested-userns=refused",
            "add_key=refused",
            "seccomp: Seccomp:\t2",
        ] {
            assert!(output.contains(refused), "no {refused:?} in:\n{output}");
        }
    }
    // Walking `..` or through /proc/1/root reaches only the overlay's copy of the host
    // folder: the write is in the report, not on the host.
    let in_overlay = host.path().join("escaped-dotdot");
    assert!(
        change(first, in_overlay.to_str().unwrap()).is_some(),
        "{first:#}"
    );
}

#[test]
fn a_part_that_allocates_past_the_memory_limit_is_stopped_and_the_report_says_so() {
    require_sandbox!();
    if !have_program("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    // 512 MiB, every page written, against a limit of 128 MiB.
    let case = Case::new(
        "#!/bin/sh\npython3 -c \"b = b'x' * (512 * 1024 * 1024); print('allocated')\"\necho python=$?\n",
    );
    let (out, report) = case.run(&["--max-memory", "128M", "--timeout", "120"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let first = launch(&report, 0);
    let limits = &first["limits"];
    let part = part(first, "scripts_user/part-001");
    let part_output = part["output_tail"].as_str().unwrap_or_default();
    assert!(!part_output.contains("allocated"), "{first:#}");
    match limits["memory"]["kind"].as_str() {
        Some("cgroup") => {
            assert_eq!(limits["memory"]["max"], 128 << 20);
            assert!(limits["memory_killed"].as_u64().unwrap() >= 1, "{limits:#}");
            let peak = limits["memory_peak"].as_u64().unwrap();
            assert!(peak <= 129 << 20, "peak {peak} past the limit");
            eprintln!("memory peak under a 128 MiB limit: {peak} bytes");
            let cgroup = limits["memory"]["path"].as_str().unwrap();
            assert!(!Path::new(cgroup).exists(), "cgroup {cgroup} left behind");
            // The table says it in words.
            let table = command("strap")
                .arg("try")
                .arg(case.path("user-data"))
                .args(["--max-memory", "128M"])
                .env("TMPDIR", case.path("tmp"))
                .output()
                .unwrap();
            let table = stdout(&table);
            assert!(
                table.contains("killed at the memory limit (128.0 MiB)"),
                "{table}"
            );
            assert!(table.contains("memory: peak "), "{table}");
        }
        Some("rlimit") => {
            assert!(part_output.contains("MemoryError"), "{first:#}");
        }
        other => panic!("no memory limit reported: {other:?}\n{first:#}"),
    }
    assert!(part_output.contains("python=1") || part_output.contains("python=137"));
}

#[test]
fn an_include_of_dev_zero_is_refused_and_memory_stays_small() {
    require_sandbox!();
    let case = Case::new("#include\nfile:///dev/zero\n");
    let (_, report) = case.run(&["--timeout", "60"]);
    let first = launch(&report, 0);
    assert_eq!(first["outcome"]["timed_out"], false, "{first:#}");
    let text = first.to_string();
    assert!(text.contains("not a regular file"), "{first:#}");
    if let Some(peak) = first["limits"]["memory_peak"].as_u64() {
        eprintln!("memory peak of a boot including /dev/zero: {peak} bytes");
        assert!(peak < 128 << 20, "peak {peak}");
    }
}
