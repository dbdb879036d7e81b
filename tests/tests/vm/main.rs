//! Real machines: `tests/vm/run.sh` boots strap's Debian 12 image under qemu against
//! imds-mock, and `tests/vm/container.sh` runs it as a podman container's entrypoint.
//! Each skips, saying why, where it cannot run: not root, or qemu, mmdebstrap, socat, ssh
//! or podman missing (`.ci/run` installs them), or `STRAP_VM=0`. They install the debug
//! build of strap in the image, or the binary `STRAP_TEST_IMAGE_BINARY` names (`.ci/run`
//! gives them the static release build, the one images ship).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package sits in the workspace")
        .to_path_buf()
}

/// Why the suite cannot run here, if it cannot.
fn cannot_run(programs: &[&str]) -> Option<String> {
    if std::env::var("STRAP_VM").as_deref() == Ok("0") {
        return Some("STRAP_VM=0".into());
    }
    if !nix_is_root() {
        return Some("it needs root (loop mounts, qemu, podman)".into());
    }
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !strap_e2e::have_program(p))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (apt-get install qemu-system-x86 mmdebstrap socat openssh-client podman)",
            missing.join(", ")
        )
    })
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The strap binary the suites put in the image: `STRAP_TEST_IMAGE_BINARY`, or the
/// workspace's build.
fn image_binary() -> PathBuf {
    match std::env::var_os("STRAP_TEST_IMAGE_BINARY") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "STRAP_TEST_IMAGE_BINARY names {}, which is not a file",
                path.display()
            );
            eprintln!("the image gets {}", path.display());
            path
        }
        _ => strap_e2e::bin("strap"),
    }
}

/// Exit status of a suite that found it cannot run on this machine at all.
const CANNOT_RUN_HERE: i32 = 77;

fn run_suite(script: &str, args: &[PathBuf]) {
    let status = Command::new("bash")
        .arg(repo().join(script))
        .args(args)
        .status()
        .expect("bash runs");
    if status.code() == Some(CANNOT_RUN_HERE) {
        eprintln!("skipping {script}: it says why above");
        return;
    }
    assert!(
        status.success(),
        "{script} failed: see its `not ok` lines above"
    );
}

#[test]
fn strap_boots_a_real_vm() {
    let needs = [
        "qemu-system-x86_64",
        "mmdebstrap",
        "mkfs.ext4",
        "socat",
        "ssh",
        "ssh-keyscan",
        "curl",
    ];
    if let Some(why) = cannot_run(&needs) {
        eprintln!("skipping the VM suite: {why}");
        return;
    }
    run_suite(
        "tests/vm/run.sh",
        &[image_binary(), strap_e2e::bin("imds-mock")],
    );
}

#[test]
fn strap_is_a_real_containers_entrypoint() {
    if let Some(why) = cannot_run(&["podman", "mmdebstrap"]) {
        eprintln!("skipping the container suite: {why}");
        return;
    }
    run_suite("tests/vm/container.sh", &[image_binary()]);
}
