//! The command line itself: help, version, completions and the man page.

use strap_e2e::{command, stdout};

#[test]
fn help_lists_every_subcommand() {
    let out = command("strap").arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    for sub in [
        "run", "creds", "userdata", "metadata", "try", "status", "clean",
    ] {
        assert!(text.contains(sub), "`strap --help` lacks {sub}: {text}");
    }
}

#[test]
fn completions_and_man_page_are_generated() {
    let out = command("strap")
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("_strap"));
    let out = command("strap").arg("man").output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains(".TH strap"));
}
