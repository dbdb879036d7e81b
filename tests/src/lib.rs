//! Helpers shared by the end-to-end tests: finding the `strap` and `imds-mock` binaries
//! that `cargo test --workspace` built, and running them with a clean environment.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The directory holding the workspace's built binaries (`target/<profile>`), found from
/// the running test executable (`target/<profile>/deps/it-…`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of a workspace binary (`strap` or `imds-mock`). The first call in a test process
/// runs `cargo build` for both binaries into the same target folder and profile as the
/// running test, so `cargo test -p strap-e2e` never runs a stale binary (under
/// `cargo test --workspace` that build finds nothing to do).
pub fn bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_binaries);
    bin_dir().join(name)
}

fn build_binaries() {
    let dir = bin_dir();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "-q", "-p", "strap", "-p", "imds-mock", "--bins"]);
    // `target/<profile>`: build into the same folder and profile as this test binary.
    if let (Some(profile), Some(target)) = (dir.file_name(), dir.parent()) {
        cmd.env("CARGO_TARGET_DIR", target);
        if profile == "release" {
            cmd.arg("--release");
        } else if profile != "debug" {
            cmd.arg("--profile").arg(profile);
        }
    }
    match cmd.status() {
        Ok(status) if status.success() => {}
        other => eprintln!("could not build the strap and imds-mock binaries: {other:?}"),
    }
}

/// A `Command` for a workspace binary with the AWS and strap variables of the calling
/// environment removed, so tests see only what they set.
pub fn command(name: &str) -> Command {
    let mut cmd = Command::new(bin(name));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("STRAP_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Whether an external program is on PATH; tests that compare with a real peer skip
/// (with a message saying so) when it is not.
pub fn have_program(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Start the `imds-mock` binary on `127.0.0.1:0` with `args` and `stderr` going where the
/// test wants it; answers the child and the base URL (`http://127.0.0.1:port`) read from
/// its first stdout line, so the test waits on the bound address and never sleeps.
/// Panics (failing the calling test) when the mock does not start.
#[allow(clippy::panic)]
pub fn spawn_mock<I, S>(args: I, stderr: Stdio) -> (Child, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = command("imds-mock")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start imds-mock: {e}"));
    let mut line = String::new();
    if let Some(stdout) = child.stdout.as_mut() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from imds-mock: {line:?}"))
        .to_string();
    (child, url)
}

/// An `imds-mock` process on `127.0.0.1:0` (see [`spawn_mock`]), killed when dropped.
pub struct MockProcess {
    pub child: Child,
    /// Base URL, `http://127.0.0.1:port`.
    pub url: String,
}

impl MockProcess {
    pub fn start<I, S>(args: I, stderr: Stdio) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (child, url) = spawn_mock(args, stderr);
        Self { child, url }
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished command's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A finished command's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A finished command's exit code, -1 when a signal ended it.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Whether this process may make network namespaces (root, and `ip netns` works).
pub fn can_use_namespaces() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0")
        .unwrap_or(false);
    uid && Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run a set-up command of a test; a failure ends the test with its stderr.
#[allow(clippy::panic)]
pub fn sh(args: &[&str]) {
    let Some((program, rest)) = args.split_first() else {
        return;
    };
    match Command::new(program).args(rest).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("{}: {}", args.join(" "), stderr(&out)),
        Err(e) => panic!("{}: {e}", args.join(" ")),
    }
}

/// A network namespace of a test, deleted when dropped.
pub struct Netns(pub String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
