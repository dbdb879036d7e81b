//! The command line itself: help, version, completions and the man page.

use strap_e2e::{command, stdout};

#[test]
fn help_lists_every_subcommand() {
    let out = command("strap").arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    for sub in [
        "run", "creds", "userdata", "metadata", "try", "status", "clean", "plan", "apply",
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

/// The book's imds-mock reference page holds `imds-mock --help` exactly as the binary
/// prints it (strap's own pages come from its clap definition, `cli::docs` in the agent).
/// `STRAP_BLESS=1` rewrites the page.
#[test]
fn the_books_imds_mock_reference_is_its_help() {
    let out = command("imds-mock")
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    let page = format!(
        "<!-- Generated from `imds-mock --help` (tests/tests/it/cli.rs); do not edit. Refresh \
         with: STRAP_BLESS=1 cargo test -p strap-e2e --test it cli:: -->\n\n\
         # `imds-mock`\n\n\
         Every key of its configuration file: `imds-mock --print-config`, and the \
         [imds-mock](../imds-mock.md) page.\n\n\
         ```text\n{}\n```\n",
        stdout(&out).trim_end()
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/book/src/reference/imds-mock.md");
    if std::env::var_os("STRAP_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &page).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == page,
        "{} differs from `imds-mock --help`; refresh it with \
         `STRAP_BLESS=1 cargo test -p strap-e2e --test it cli::` and commit it",
        path.display()
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = command("strap")
        .arg("man")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(13),
        "killed by SIGPIPE, as a Unix tool is: {:?}",
        out.status
    );
}
