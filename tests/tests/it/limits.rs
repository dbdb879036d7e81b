//! Hostile user data and a hostile machine: each bound on user data holds, says which
//! limit and which part, and the boot goes on with the other parts and ends `error`;
//! scripts die with strap; a full disk and a thread that cannot start are named as such.
//! Memory is measured with `/usr/bin/time` where it is installed.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use strap_e2e::{code, stderr, stdout};

use crate::boot::Machine;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out.stdout
}

/// `strap run` on the machine with its peak memory in KiB (`None` without
/// `/usr/bin/time`), and how long it took.
fn run_measured(m: &Machine) -> (Output, Option<u64>, Duration) {
    let time = Path::new("/usr/bin/time");
    let dir = tempfile::tempdir().unwrap();
    let peak_file = dir.path().join("peak");
    let mut cmd = if time.exists() {
        let mut cmd = Command::new(time);
        cmd.arg("-f").arg("%M").arg("-o").arg(&peak_file);
        cmd.arg(strap_e2e::bin("strap"));
        cmd
    } else {
        Command::new(strap_e2e::bin("strap"))
    };
    cmd.arg("run")
        .arg("--seed")
        .arg(&m.seed)
        .arg("--root")
        .arg(&m.root)
        .env("STRAP_BOOT_ID", &m.boot_id)
        .env_remove("RUST_LOG");
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    let peak = fs::read_to_string(&peak_file)
        .ok()
        .and_then(|s| s.trim().lines().last()?.trim().parse().ok());
    (out, peak, took)
}

/// A machine whose user data is `bytes` (gzip'd by the caller if need be), with a
/// script part after it that must still run.
fn machine_with(bytes: &[u8]) -> Machine {
    let m = Machine::new("");
    fs::write(m.seed.join("latest/user-data"), bytes).unwrap();
    m
}

fn status_long(m: &Machine) -> String {
    stdout(&m.strap(&["status", "--long"]))
}

/// A MIME message: the hostile part, then a script that records it ran.
fn mime_with(hostile_type: &str, hostile_b64: &str) -> Vec<u8> {
    format!(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=LIM\n\n\
         --LIM\nContent-Type: {hostile_type}\nContent-Transfer-Encoding: base64\n\n{hostile_b64}\n\
         --LIM\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho after >> \"$STRAP_ROOT/ran\"\n--LIM--\n"
    )
    .into_bytes()
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn assert_bounded(what: &str, peak: Option<u64>, took: Duration) {
    eprintln!("{what}: peak {peak:?} KiB in {took:?}");
    assert!(took < Duration::from_secs(30), "{what} took {took:?}");
    if let Some(kib) = peak {
        assert!(kib < 200 * 1024, "{what}: peak {kib} KiB");
    }
}

#[test]
fn nested_flow_yaml_is_refused_early_and_the_other_parts_run() {
    // The 3,939-byte gzip'd cloud-config of 50,000 nested `[`: quadratic before.
    let bomb = gzip(format!("#cloud-config\na: {}\n", "[".repeat(50_000)).as_bytes());
    let m = machine_with(&mime_with("application/gzip", &b64(&bomb)));
    let (out, peak, took) = run_measured(&m);
    assert_bounded("50,000 nested [", peak, took);
    // Invalid YAML is a warning, as in cloud-init; the boot reaches its modules.
    assert!(stderr(&out).contains("recursion limit"), "{}", stderr(&out));
    assert_eq!(m.ran(), ["after"]);
}

#[test]
fn a_million_entry_archive_is_refused_naming_the_limit() {
    let mut text = String::from("#cloud-config-archive\n");
    text.push_str(&"- a\n".repeat(1_000_000));
    let m = machine_with(&mime_with("application/gzip", &b64(&gzip(text.as_bytes()))));
    let (out, peak, took) = run_measured(&m);
    assert_bounded("a million archive entries", peak, took);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(m.ran(), ["after"]);
    let status = status_long(&m);
    assert!(
        status.contains("strap_limits.max_parts") && status.contains("MIME part 1"),
        "{status}"
    );
}

#[test]
fn include_fan_out_stops_at_the_fetch_limit() {
    // Each file includes the next one 4 ways (spelt differently, so no loop): without a
    // bound on fetches this is 4^12 fetches. Include paths are read beneath the root.
    let m = Machine::new("");
    for level in 0..12 {
        let body = (0..4)
            .map(|i| format!("file:///inc/{}a{}\n", "/".repeat(i), level + 1))
            .collect::<String>();
        m.write(&format!("/inc/a{level}"), &format!("#include\n{body}"));
    }
    m.write("/inc/a12", "#!/bin/sh\ntrue\n");
    m.write(
        "/etc/cloud/cloud.cfg.d/90-limits.cfg",
        "strap_limits:\n  max_include_fetches: 30\n",
    );
    let ud = mime_with("text/x-include-url", &b64(b"#include\nfile:///inc/a0\n"));
    fs::write(m.seed.join("latest/user-data"), ud).unwrap();
    let (out, peak, took) = run_measured(&m);
    assert_bounded("include fan-out", peak, took);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(m.ran(), ["after"]);
    let status = status_long(&m);
    assert!(
        status.contains("more than 30 include fetches (limit strap_limits.max_include_fetches)"),
        "{status}"
    );
}

#[test]
fn the_yaml_jinja_and_log_line_limits_are_set_in_the_system_config() {
    // Each bound from the system config: a template past its fuel, a cloud-config part
    // past its depth, a script line past the log's line length. The other parts run,
    // and the boot ends `error` naming each limit.
    let m = Machine::new("");
    m.write(
        "/etc/cloud/cloud.cfg.d/90-limits.cfg",
        "strap_limits:\n  jinja_fuel: 200\n  yaml_max_depth: 4\n  max_log_line: 16\n",
    );
    let ud = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=LIM\n\n\
         --LIM\nContent-Type: text/jinja2\n\n## template: jinja\n#!/bin/sh\n{% for i in range(1000) %}echo {{ i }}\n{% endfor %}\n\
         --LIM\nContent-Type: text/cloud-config\n\n#cloud-config\nwrite_files: [{path: /deep, content: {a: {b: {c: [x]}}}}]\n\
         --LIM\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho 0123456789abcdefXYZ\necho after >> \"$STRAP_ROOT/ran\"\n--LIM--\n";
    m.set_user_data(ud);
    let out = m.run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(m.ran(), ["after"]);
    let status = status_long(&m);
    assert!(
        status.contains("runs more than 200 instructions (limit strap_limits.jinja_fuel)"),
        "{status}"
    );
    assert!(
        status.contains("nest deeper than 4 levels (limit strap_limits.yaml_max_depth)"),
        "{status}"
    );
    assert!(!m.path("/deep").exists());
    let log = m.read("/var/log/strap-output.log");
    assert!(
        log.lines().any(|l| l.ends_with("0123456789abcdef"))
            && log.lines().any(|l| l.ends_with("XYZ")),
        "{log}"
    );
}

#[test]
fn a_script_printing_one_endless_line_keeps_strap_small() {
    let m = Machine::new(
        "#!/bin/sh\nhead -c 268435456 /dev/zero | tr '\\0' a\necho after >> \"$STRAP_ROOT/ran\"\n",
    );
    let (out, peak, took) = run_measured(&m);
    assert_bounded("256 MiB on one output line", peak, took);
    assert_eq!(code(&out), 0, "{}", stderr(&out).len());
    assert_eq!(m.ran(), ["after"]);
}

fn wait_for_pid(file: &Path) -> u32 {
    let started = Instant::now();
    loop {
        if let Some(pid) = fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            return pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn wait_gone(pid: u32, what: &str) {
    let started = Instant::now();
    while alive(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killing_strap_kills_the_script_and_the_next_boot_ends_what_it_left() {
    let m = Machine::new(
        "#!/bin/sh
\
         if [ -e \"$STRAP_ROOT/first\" ]; then echo again >> \"$STRAP_ROOT/ran\"; exit 0; fi
\
         touch \"$STRAP_ROOT/first\"
\
         echo $$ > \"$STRAP_ROOT/script.pid\"
\
         sh -c 'echo $$ > \"$STRAP_ROOT/child.pid\"; exec sleep 60'
\
         echo late >> \"$STRAP_ROOT/ran\"
",
    );
    let mut child = strap_e2e::command("strap")
        .arg("run")
        .arg("--seed")
        .arg(&m.seed)
        .arg("--root")
        .arg(&m.root)
        .env("STRAP_BOOT_ID", &m.boot_id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let script = wait_for_pid(&m.path("/script.pid"));
    let sleeper = wait_for_pid(&m.path("/child.pid"));
    child.kill().unwrap();
    child.wait().unwrap();
    // The script dies with strap; the command it was waiting for is left to the next
    // boot, which ends it before it runs the part again.
    wait_gone(script, "the script");
    let out = m.run();
    wait_gone(sleeper, "the command the killed part left");
    // Degraded (exit 2): the ended processes are a warning of the boot.
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(m.ran(), ["again"]);
    let status = status_long(&m);
    assert!(status.contains("ended 1 process(es)"), "{status}");
}

#[test]
fn a_full_root_is_named_on_the_console_and_in_status() {
    let m = Machine::new(&format!(
        "#cloud-config\nwrite_files:\n  - path: /big\n    content: {}\n",
        "x".repeat(200_000)
    ));
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&m.root)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let out = m.run();
    let status = status_long(&m);
    let _ = Command::new("umount").arg(&m.root).status();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the disk is full"),
        "{}",
        stderr(&out)
    );
    assert!(status.contains("the disk is full"), "{status}");
}

#[test]
fn a_thread_that_cannot_start_is_an_error_not_a_panic() {
    let is_root = fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root || !strap_e2e::have_program("setpriv") || !strap_e2e::have_program("prlimit") {
        eprintln!("skipping: needs root, setpriv and prlimit (root ignores RLIMIT_NPROC)");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let ud = dir.path().join("ud.sh");
    fs::write(&ud, "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(&ud, fs::Permissions::from_mode(0o644)).unwrap();
    let root = dir.path().join("root");
    // One process for the user: strap itself, and no thread more.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["prlimit", "--nproc=1"])
        .arg(strap_e2e::bin("strap"))
        .args(["run", "--local"])
        .arg(&ud)
        .arg("--root")
        .arg(&root)
        .env("STRAP_BOOT_ID", "b1")
        .output()
        .unwrap();
    let err = stderr(&out);
    if err.contains("Permission denied") && !root.exists() {
        eprintln!("skipping: the strap binary is not reachable for an ordinary user here");
        return;
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(code(&out), 0, "{err}");
    assert!(err.contains("cannot start the"), "{err}");
}
