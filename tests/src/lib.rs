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

/// One cloud-init the conformance tests compare with.
#[derive(Clone, Debug)]
pub struct CloudInit {
    /// `22.4` (Debian 12's package) or `25` (Debian 13's, unpacked beside the system).
    pub name: &'static str,
    /// The `dist-packages` folder holding its `cloudinit` package; `None` for the
    /// system's own.
    pythonpath: Option<PathBuf>,
}

impl CloudInit {
    /// `/usr/bin/python3` set up to import this cloud-init.
    pub fn python(&self) -> Command {
        let mut cmd = Command::new("/usr/bin/python3");
        if let Some(path) = &self.pythonpath {
            cmd.env("PYTHONPATH", path);
        }
        cmd
    }

    fn importable(&self) -> bool {
        self.python()
            .args(["-c", "from cloudinit.user_data import UserDataProcessor"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

/// Where `.ci/run` unpacks Debian 13's cloud-init when `STRAP_TEST_CLOUD_INIT_25` is unset.
const CLOUD_INIT_25_DEFAULT: &str =
    "/var/cache/strap-ci/cloud-init-25/usr/lib/python3/dist-packages";

/// The cloud-inits available here: Debian 12's 22.4 when installed, and today's (25.x,
/// unpacked from Debian 13's package by `.ci/run`; `STRAP_TEST_CLOUD_INIT_25` names its
/// `dist-packages`). Each missing one is named on stderr, so a test comparing with
/// them says what it skipped.
pub fn cloud_inits() -> Vec<CloudInit> {
    let newer = std::env::var_os("STRAP_TEST_CLOUD_INIT_25")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CLOUD_INIT_25_DEFAULT));
    let all = [
        (
            CloudInit {
                name: "22.4",
                pythonpath: None,
            },
            "apt-get install cloud-init",
        ),
        (
            CloudInit {
                name: "25",
                pythonpath: Some(newer),
            },
            "run .ci/run, or unpack Debian 13's cloud-init and set STRAP_TEST_CLOUD_INIT_25",
        ),
    ];
    all.into_iter()
        .filter_map(|(ci, how)| {
            if ci.importable() {
                Some(ci)
            } else {
                eprintln!("skipped for cloud-init {}: not importable ({how})", ci.name);
                None
            }
        })
        .collect()
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
