//! The command reference of the docs book, rendered from the clap definition as the man
//! page and the completions are, so the book cannot drift from the binary: one Markdown
//! page per top-level subcommand (its nested subcommands as sections) and an index page.
//! It only formats; it never reads or writes files (the test that checks the pages in
//! `docs/book/src/reference/` does).

use clap::{Arg, Command};

/// The folder of the pages, relative to the book's `src/`.
pub const REFERENCE_DIR: &str = "reference";

/// Pages of [`REFERENCE_DIR`] made elsewhere: `imds-mock.md` holds `imds-mock --help`
/// (its arguments are its binary's own; the end-to-end test `cli::` keeps the page
/// current).
pub const OTHER_PAGES: &[&str] = &["imds-mock.md"];

/// One rendered page: its file name (inside [`REFERENCE_DIR`]) and its Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The file name, e.g. `creds.md`.
    pub file: String,
    /// The page's text.
    pub text: String,
}

const GENERATED: &str = "<!-- Generated from strap's command-line definition \
(agent/src/cli/docs.rs); do not edit. Refresh with: \
STRAP_BLESS=1 cargo test -p strap --lib cli::docs -->\n\n";

/// The reference pages of strap's command line: `index.md`, then one page per visible
/// subcommand, in the order `strap --help` lists them.
pub fn reference_pages() -> Vec<Page> {
    use clap::CommandFactory;
    let mut root = super::Cli::command();
    root.build();
    let mut pages = vec![Page {
        file: "index.md".to_string(),
        text: index_page(&root),
    }];
    for sub in visible_subcommands(&root) {
        let mut text = String::from(GENERATED);
        render_command(&mut text, sub, 1);
        pages.push(Page {
            file: page_file(sub),
            text,
        });
    }
    pages
}

/// The file name of a top-level subcommand's page.
fn page_file(cmd: &Command) -> String {
    format!("{}.md", cmd.get_name())
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

fn index_page(root: &Command) -> String {
    let mut out = String::from(GENERATED);
    out.push_str("# Command reference\n\n");
    if let Some(about) = root.get_long_about().or(root.get_about()) {
        out.push_str(&format!("{}\n\n", about.to_string().trim()));
    }
    out.push_str(&format!("```text\n{}\n```\n\n", usage(root)));
    out.push_str("| command | what it does |\n|---|---|\n");
    for sub in visible_subcommands(root) {
        let about = sub
            .get_about()
            .map(|a| one_line(&a.to_string()))
            .unwrap_or_default();
        out.push_str(&format!(
            "| [`strap {}`]({}) | {} |\n",
            sub.get_name(),
            page_file(sub),
            about.replace('|', "\\|")
        ));
    }
    out.push('\n');
    render_args(&mut out, root, true);
    out
}

/// A command's section: heading, description, usage, arguments, options, then each
/// visible subcommand one heading level down.
fn render_command(out: &mut String, cmd: &Command, level: usize) {
    let name = cmd.get_bin_name().unwrap_or(cmd.get_name());
    out.push_str(&format!("{} `{}`\n\n", "#".repeat(level.min(6)), name));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("{}\n\n", about.to_string().trim()));
    }
    out.push_str(&format!("```text\n{}\n```\n\n", usage(cmd)));
    render_args(out, cmd, false);
    let subs: Vec<&Command> = visible_subcommands(cmd).collect();
    if !subs.is_empty() {
        out.push_str("Subcommands:\n\n");
        for sub in &subs {
            let about = sub
                .get_about()
                .map(|a| one_line(&a.to_string()))
                .unwrap_or_default();
            out.push_str(&format!("- `{}`: {}\n", sub.get_name(), about));
        }
        out.push('\n');
        for sub in subs {
            render_command(out, sub, level + 1);
        }
    }
}

/// `Usage: …` as clap prints it, without the styling.
fn usage(cmd: &Command) -> String {
    let usage = cmd.clone().render_usage().to_string();
    usage.trim().to_string()
}

/// The arguments and options of one command. The global `-v`/`-q`, inherited by every
/// subcommand, are listed once, on the index page (`globals`).
fn render_args(out: &mut String, cmd: &Command, globals: bool) {
    let shown = |a: &&Arg| {
        !a.is_hide_set()
            && (globals || !a.is_global_set())
            && !matches!(a.get_id().as_str(), "help" | "version")
    };
    let positionals: Vec<&Arg> = cmd.get_positionals().filter(shown).collect();
    let options: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional())
        .filter(shown)
        .collect();
    if !positionals.is_empty() {
        out.push_str("Arguments:\n\n");
        for arg in positionals {
            render_arg(out, arg);
        }
        out.push('\n');
    }
    if !options.is_empty() {
        out.push_str(if globals {
            "Options of every command:\n\n"
        } else {
            "Options:\n\n"
        });
        for arg in options {
            render_arg(out, arg);
        }
        out.push('\n');
    }
}

fn render_arg(out: &mut String, arg: &Arg) {
    let mut line = format!("- `{}`", arg_spelling(arg));
    if let Some(help) = arg.get_long_help().or(arg.get_help()) {
        line.push_str(": ");
        line.push_str(&indent_continuation(help.to_string().trim()));
    }
    let mut facts = Vec::new();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(help) => format!("`{}` ({})", v.get_name(), one_line(&help.to_string())),
            None => format!("`{}`", v.get_name()),
        })
        .collect();
    // Booleans and counts list `true`/`false` as their values: not worth a line.
    if !values.is_empty() && arg.get_action().takes_values() {
        facts.push(format!("values: {}", values.join(", ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        facts.push(format!("default: {}", defaults.join(", ")));
    }
    if let Some(env) = arg.get_env() {
        facts.push(format!("environment: `{}`", env.to_string_lossy()));
    }
    if !facts.is_empty() {
        line.push_str(&format!("\n  ({})", facts.join("; ")));
    }
    out.push_str(&line);
    out.push('\n');
}

/// `-s, --long <VALUE>`, `<NAME>...` or `-- <CMD>...`.
fn arg_spelling(arg: &Arg) -> String {
    let value_names: Vec<String> = match arg.get_value_names() {
        Some(names) => names.iter().map(|n| format!("<{n}>")).collect(),
        None => vec![format!("<{}>", arg.get_id().as_str().to_uppercase())],
    };
    let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let mut value = value_names.join(" ");
    if many {
        value.push_str("...");
    }
    if arg.is_positional() {
        return if arg.is_last_set() {
            format!("-- {value}")
        } else {
            value
        };
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    let mut spelling = names.join(", ");
    if arg.get_action().takes_values() {
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        if optional {
            spelling.push_str(&format!(" [{value}]"));
        } else {
            spelling.push_str(&format!(" {value}"));
        }
    }
    spelling
}

/// Help text spread over paragraphs, indented to stay inside its list item.
fn indent_continuation(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n  ")
        .replace("\n  \n", "\n\n")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn book_src() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/book/src")
    }

    /// The checked-in pages are exactly what the command line renders today, and the
    /// book's table of contents lists each of them. `STRAP_BLESS=1` rewrites them.
    #[test]
    fn reference_pages_match_the_command_line() {
        let dir = book_src().join(REFERENCE_DIR);
        let pages = reference_pages();
        if std::env::var_os("STRAP_BLESS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let other = path
                    .file_name()
                    .is_some_and(|n| OTHER_PAGES.iter().any(|o| n == *o));
                if path.extension().is_some_and(|e| e == "md") && !other {
                    std::fs::remove_file(path).unwrap();
                }
            }
            for page in &pages {
                std::fs::write(dir.join(&page.file), &page.text).unwrap();
            }
        }
        let refresh = "refresh them with `STRAP_BLESS=1 cargo test -p strap --lib cli::docs` \
                       and commit docs/book/src/reference/";
        let mut stale = Vec::new();
        for page in &pages {
            let on_disk = std::fs::read_to_string(dir.join(&page.file)).unwrap_or_default();
            if on_disk != page.text {
                stale.push(page.file.clone());
            }
        }
        let mut extra = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".md")
                && !pages.iter().any(|p| p.file == name)
                && !OTHER_PAGES.contains(&name.as_str())
            {
                extra.push(name);
            }
        }
        assert!(
            stale.is_empty() && extra.is_empty(),
            "the command reference in {} differs from the command line (stale or missing: \
             {stale:?}; no longer generated: {extra:?}); {refresh}",
            dir.display()
        );
        let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
        let files = pages
            .iter()
            .map(|p| p.file.as_str())
            .chain(OTHER_PAGES.iter().copied());
        for file in files {
            let link = format!("({REFERENCE_DIR}/{file})");
            assert!(
                summary.contains(&link),
                "docs/book/src/SUMMARY.md does not list {REFERENCE_DIR}/{file}: add it to the \
                 command reference part"
            );
        }
    }

    #[test]
    fn every_subcommand_and_option_is_rendered() {
        let pages = reference_pages();
        let creds = pages.iter().find(|p| p.file == "creds.md").unwrap();
        assert!(
            creds.text.contains("## `strap creds explain`"),
            "{}",
            creds.text
        );
        assert!(creds.text.contains("`--sdk <SDK>`"), "{}", creds.text);
        let run = pages.iter().find(|p| p.file == "run.md").unwrap();
        assert!(run.text.contains("`--root <DIR>`"), "{}", run.text);
        assert!(run.text.contains("`-- <CMD>...`"), "{}", run.text);
        assert!(
            run.text.contains("default: `/var/lib/strap`"),
            "{}",
            run.text
        );
        let index = &pages[0].text;
        assert!(index.contains("`-v, --verbose`"), "{index}");
        assert!(index.contains("[`strap try`](try.md)"), "{index}");
        // Global flags are listed once, on the index, not on every page.
        assert!(!run.text.contains("--verbose"), "{}", run.text);
    }
}
