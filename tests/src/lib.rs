//! Helpers shared by the end-to-end tests: finding the `strap` and `imds-mock` binaries
//! that `cargo test --workspace` built, and running them with a clean environment.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Path of a workspace binary (`strap` or `imds-mock`), building it first if it is missing.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    if !path.exists() {
        let package = if name == "strap" { "strap" } else { name };
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-q", "-p", package, "--bin", name])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not build {name}");
        }
    }
    path
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
