#![allow(clippy::expect_used)]
//! The binary starts and reports its version (also makes `cargo test` build it).

#[test]
fn prints_version() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strap"))
        .arg("--version")
        .output()
        .expect("run strap");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("strap "));
}
