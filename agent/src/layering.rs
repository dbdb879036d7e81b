//! The layering the workspace keeps (docs/ARCHITECTURE.md): imports only point down.
//! Each rule names a set of source files and the modules they must never import, read
//! from the files themselves, so that a circle cannot come back unnoticed.

use std::path::{Path, PathBuf};

/// Files (relative to the workspace root: a `.rs` file, or a folder for every `.rs` file
/// under it) and the sibling modules none of them may import.
struct Rule {
    files: &'static [&'static str],
    must_not_import: &'static [&'static str],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        files: &[
            "agent/src/boot/modules",
            "agent/src/boot/exec.rs",
            "agent/src/boot/context.rs",
            "agent/src/boot/records.rs",
            "agent/src/boot/state.rs",
            "agent/src/boot/status.rs",
            "agent/src/boot/source.rs",
        ],
        must_not_import: &["runner", "stages"],
        why: "the runner calls the modules through the stage table; modules and the files \
              below them take the boot context from boot/context.rs and records from \
              boot/records.rs",
    },
    Rule {
        files: &[
            "agent/src/boot/context.rs",
            "agent/src/boot/records.rs",
            "agent/src/boot/os_release.rs",
        ],
        must_not_import: &["modules"],
        why: "the modules read the boot context, the records and os-release; the system \
              config reads os-release from boot/os_release.rs, not from the modules",
    },
    Rule {
        files: &["agent/src/boot/plan", "agent/src/boot/applied.rs"],
        must_not_import: &["runner"],
        why: "the runner records what each boot applied through boot/plan/track.rs; plan \
              and apply build their own boot context (boot/plan/session.rs) and run the \
              modules through the stage table",
    },
    Rule {
        files: &["agent/src/boot/applied.rs", "agent/src/boot/context.rs"],
        must_not_import: &["plan"],
        why: "the boot context holds the record of what was applied (boot/applied.rs), \
              which the plan reads and writes",
    },
    Rule {
        files: &["agent/src/sandbox/changes.rs", "agent/src/sandbox/model.rs"],
        must_not_import: &["report"],
        why: "report.rs shows what changes.rs reads; both take the change types and \
              is_boot_record from sandbox/model.rs",
    },
    Rule {
        files: &["agent/src/sandbox/model.rs"],
        must_not_import: &["changes"],
        why: "model.rs holds the types changes.rs fills in",
    },
    Rule {
        files: &["imds-mock/src/control.rs", "imds-mock/src/response.rs"],
        must_not_import: &["server"],
        why: "the server dispatches to the control API; both answer through \
              imds-mock/src/response.rs",
    },
    Rule {
        files: &["imds-mock/src/response.rs"],
        must_not_import: &["control"],
        why: "response.rs is below the control API",
    },
    Rule {
        files: &["imds-mock/src/sigv4", "imds-mock/src/sts_error.rs"],
        must_not_import: &["sts"],
        why: "sts verifies signatures through sigv4; both answer with \
              imds-mock/src/sts_error.rs",
    },
    Rule {
        files: &["imds-mock/src/sts_error.rs"],
        must_not_import: &["sigv4"],
        why: "sts_error.rs is below the signature check",
    },
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the agent's manifest folder is inside the workspace")
        .to_path_buf()
}

/// Every `.rs` file a rule's entry covers, sorted.
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The lines of `text` that import `module`: a path through it (`runner::x`, in a `use`
/// or inline), or its name in a `use` statement (`use super::{runner, …}`), which may
/// span lines.
fn imports_of(text: &str, module: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_use = false;
    let path = format!("{module}::");
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("use ")
            || code.starts_with("pub use ")
            || (code.starts_with("pub(") && code.contains(" use "))
        {
            in_use = true;
        }
        let through_path = line
            .match_indices(&path)
            .any(|(at, _)| !line[..at].chars().next_back().is_some_and(is_ident));
        let named_in_use = in_use && line.split(|c: char| !is_ident(c)).any(|t| t == module);
        if through_path || named_in_use {
            found.push((i + 1, line.trim().to_string()));
        }
        if in_use && line.contains(';') {
            in_use = false;
        }
    }
    found
}

#[test]
fn no_file_imports_a_module_above_it() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for rule in RULES {
        for entry in rule.files {
            let files = rust_files(&root.join(entry));
            assert!(
                !files.is_empty(),
                "{entry}: no Rust files (a rule names a moved file?)"
            );
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                for module in rule.must_not_import {
                    for (line, code) in imports_of(&text, module) {
                        let shown = file.strip_prefix(&root).unwrap_or(&file).display();
                        problems.push(format!(
                            "{shown}:{line} imports `{module}`: {code}\n    ({})",
                            rule.why
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports pointing up:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scan_sees_each_form_of_import() {
    let text = "use super::super::runner::Boot;\n\
                let x = crate::boot::runner::error_chain(&e);\n\
                use super::{\n    context::Boot,\n    runner,\n};\n\
                use super::trunner::X;\n\
                let stages = report.stages.len();\n";
    let lines: Vec<usize> = imports_of(text, "runner")
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(lines, [1, 2, 5]);
    assert!(imports_of(text, "stages").is_empty());
}
