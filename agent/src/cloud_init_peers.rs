//! Test helper: the cloud-inits the conformance tests run as peers. Debian 12's 22.4 is
//! imported by the system interpreter when the `cloud-init` package is installed;
//! today's (Debian 13's 25.x) is unpacked beside it by `.ci/run`, and
//! `STRAP_TEST_CLOUD_INIT_25` names its `dist-packages` (the end-to-end tests'
//! `strap_e2e::cloud_inits` reads the same variable with the same default).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The distribution's interpreter (a `python3` earlier on PATH may lack cloud-init's
/// dependencies).
pub(crate) const PYTHON: &str = "/usr/bin/python3";

/// Where `.ci/run` unpacks Debian 13's cloud-init when `STRAP_TEST_CLOUD_INIT_25` is unset.
const CLOUD_INIT_25_DEFAULT: &str =
    "/var/cache/strap-ci/cloud-init-25/usr/lib/python3/dist-packages";

/// One cloud-init a test compares with.
#[derive(Clone, Debug)]
pub(crate) struct CloudInit {
    /// `22.4` or `25`: named in every failure message.
    pub name: &'static str,
    /// The folder holding its `cloudinit` package; `None` for the system's own.
    pythonpath: Option<PathBuf>,
}

impl CloudInit {
    /// [`PYTHON`] set up to import this cloud-init.
    pub fn python(&self) -> Command {
        let mut cmd = Command::new(PYTHON);
        if let Some(path) = &self.pythonpath {
            cmd.env("PYTHONPATH", path);
        }
        cmd
    }

    fn imports(&self, module: &str) -> bool {
        self.python()
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs `script` with `input` on stdin; its stdout, or a panic naming the version.
    pub fn run(&self, script: &str, input: &str) -> String {
        let mut child = self
            .python()
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cloud-init {}: cannot start {PYTHON}: {e}", self.name));
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the cloud-init {} oracle failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The cloud-inits that can import `module`, oldest first; each missing one is named
/// on stderr so that a test says what it skipped.
pub(crate) fn cloud_inits(module: &str) -> Vec<CloudInit> {
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
            if ci.imports(module) {
                Some(ci)
            } else {
                eprintln!(
                    "skipped for cloud-init {}: {PYTHON} cannot import {module} ({how})",
                    ci.name
                );
                None
            }
        })
        .collect()
}

/// Runs `script` under every available cloud-init with `input` on stdin: each version's
/// name and stdout.
pub(crate) fn oracles(script: &str, input: &str) -> Vec<(&'static str, String)> {
    cloud_inits("cloudinit")
        .into_iter()
        .map(|ci| (ci.name, ci.run(script, input)))
        .collect()
}

/// Python for an oracle script: `Cloud(metadata, distro)`, a stand-in for cloud-init's
/// `Cloud` whose `get_hostname` is cloud-init's own `DataSource.get_hostname` over the
/// given metadata, and whose `distro.name` is `distro`. An oracle's script is this
/// followed by its own lines.
pub(crate) const CLOUD_STANDIN: &str = r#"
import json, sys
from cloudinit.sources import DataSource
class DS:
    def __init__(self, md):
        self.metadata = md
class Distro:
    def __init__(self, name):
        self.name = name
class Cloud:
    def __init__(self, md, distro="debian"):
        self.ds = DS(md)
        self.distro = Distro(distro)
    def get_hostname(self, fqdn=False, metadata_only=False):
        return DataSource.get_hostname(self.ds, fqdn=fqdn, metadata_only=metadata_only)
"#;
