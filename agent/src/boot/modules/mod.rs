//! The modules a boot runs, one file per concern, each a function
//! `fn(&mut Boot) -> Result<Outcome, ModuleError>` reading its settings from the merged
//! cloud-config [`Node`]. A module never decides whether it is due (the runner does, from
//! its frequency) and never marks itself done.

use std::path::PathBuf;

use crate::cloudconfig::{Node, Value};
use crate::context::ContextError;

pub mod accounts;
pub mod apt_configure;
pub mod ca_certs;
pub mod commands;
pub mod config_mgmt;
pub mod consume;
pub mod credstore;
pub mod disable_ec2_metadata;
pub mod disk;
pub mod final_message;
pub mod hostname;
pub mod keys_to_console;
pub mod locale;
pub mod network;
pub mod ntp;
pub mod output;
pub mod packages;
pub mod power;
pub mod scripts;
pub mod set_passwords;
pub mod ssh_import_id;
pub mod system;
pub mod system_info;
pub mod timezone;
pub mod users;
pub mod write_files;
pub mod yum_add_repo;

/// How a module ended when it did not fail.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It did its work.
    Ran {
        exit_code: Option<i32>,
        tail: Vec<String>,
    },
    /// Nothing to do (no config, or not applicable here), with the reason.
    Skipped(String),
}

impl Outcome {
    /// Ran, with nothing more to say.
    pub fn ran() -> Self {
        Outcome::Ran {
            exit_code: None,
            tail: Vec::new(),
        }
    }
}

/// Why a module failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// A cloud-config key has the wrong type.
    #[error("cloud-config key `{key}` (line {line}) must be {expected}, not {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
        line: usize,
    },
    /// A cloud-config value is not usable.
    #[error("cloud-config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    /// One or more scripts failed (the others still ran).
    #[error("{} of {attempted} scripts failed: {}", failures.len(), failures.join("; "))]
    Scripts {
        failures: Vec<String>,
        attempted: usize,
        exit_code: Option<i32>,
        tail: Vec<String>,
    },
    /// Some entries of a list failed (the others were applied).
    #[error("{} of {attempted} entries failed: {}", failures.len(), failures.join("; "))]
    Entries {
        failures: Vec<String>,
        attempted: usize,
    },
    /// A path is outside the root.
    #[error("refused path {path}")]
    Path {
        path: String,
        #[source]
        source: ContextError,
    },
    /// A file operation failed.
    #[error("cannot {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An external command failed.
    #[error("`{command}` failed ({status})")]
    Command { command: String, status: String },
}

/// How a module that applies a list of entries ended: `Ran` (with `tail`) when none
/// failed, else `Entries` naming the failures.
pub fn entries_outcome(
    tail: Vec<String>,
    failures: Vec<String>,
    attempted: usize,
) -> Result<Outcome, ModuleError> {
    if failures.is_empty() {
        Ok(Outcome::Ran {
            exit_code: None,
            tail,
        })
    } else {
        Err(ModuleError::Entries {
            failures,
            attempted,
        })
    }
}

/// Run a tool that reads or writes files (not a user's script) and wait for it: its
/// stdout when it succeeds, else a `Command` error naming the command line and quoting
/// its stderr.
pub fn run_tool(program: &str, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>, ModuleError> {
    let shown = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| ModuleError::Command {
            command: shown.clone(),
            status: format!("cannot start: {e}"),
        })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(ModuleError::Command {
            command: shown,
            status: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// The YAML type name of a node, for messages.
pub fn type_name(node: &Node) -> &'static str {
    match node.value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Str(_) => "a string",
        Value::Bytes(_) => "binary data",
        Value::Timestamp(_) => "a date",
        Value::Seq(_) => "a list",
        Value::Map(_) => "a mapping",
    }
}

/// A wrong-type error for `key`.
pub fn wrong_type(key: &str, expected: &'static str, node: &Node) -> ModuleError {
    ModuleError::WrongType {
        key: key.to_string(),
        expected,
        found: type_name(node),
        line: node.mark.line,
    }
}

/// A scalar as text (strings, numbers and booleans as PyYAML would print them).
pub fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) | Value::Timestamp(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

/// A string or a list of strings (`ssh_authorized_keys`, `sudo`, `groups`): a string is
/// split on commas when `split_commas`.
pub fn string_list(key: &str, node: &Node, split_commas: bool) -> Result<Vec<String>, ModuleError> {
    match &node.value {
        Value::Null => Ok(Vec::new()),
        Value::Str(s) if split_commas => Ok(s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()),
        Value::Str(s) => Ok(vec![s.clone()]),
        Value::Seq(items) => items
            .iter()
            .map(|i| scalar_text(i).ok_or_else(|| wrong_type(key, "a list of strings", i)))
            .collect(),
        _ => Err(wrong_type(key, "a string or a list of strings", node)),
    }
}

/// Single-quote a word for `/bin/sh` (`'` becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// cloud-init's `shellify`: `#!/bin/sh` then one line per item; a string item verbatim, a
/// list item single-quoted word by word; `null` items skipped; anything else an error.
pub fn shellify(key: &str, node: &Node) -> Result<String, ModuleError> {
    let items = node
        .as_seq()
        .ok_or_else(|| wrong_type(key, "a list of commands", node))?;
    let mut text = String::from("#!/bin/sh\n");
    for (i, item) in items.iter().enumerate() {
        match &item.value {
            Value::Null => {}
            Value::Seq(words) => {
                let quoted: Result<Vec<String>, ModuleError> = words
                    .iter()
                    .map(|w| {
                        scalar_text(w).map(|t| shell_quote(&t)).ok_or_else(|| {
                            wrong_type(&format!("{key}.{i}"), "a list of strings", w)
                        })
                    })
                    .collect();
                text.push_str(&quoted?.join(" "));
                text.push('\n');
            }
            _ => match scalar_text(item) {
                Some(line) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                None => {
                    return Err(wrong_type(
                        &format!("{key}.{i}"),
                        "a string or a list of strings (quote a `:` in a command)",
                        item,
                    ))
                }
            },
        }
    }
    Ok(text)
}

/// Whether a node is truthy as cloud-init reads booleans (`true`, `"true"`, `1`).
pub fn truthy(node: Option<&Node>, default: bool) -> bool {
    match node.map(|n| &n.value) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(i)) => *i != 0,
        Some(Value::Str(s)) => {
            matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
        }
        Some(_) => default,
    }
}

/// Why a Python `%`-format of named values could not be done.
#[derive(Debug, PartialEq, Eq)]
pub enum PercentError {
    /// A `%` that is neither `%%` nor `%(name)s`.
    Unsupported,
    /// `%(name)s` with a name `lookup` has no value for.
    Unknown(String),
}

/// Python's `template % mapping` for `%(name)s` and `%%`, the only conversions the
/// cloud-init templates strap fills use (mirror URLs, `fs_setup`'s `cmd`).
pub fn percent_format<'a>(
    template: &str,
    lookup: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, PercentError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
            continue;
        }
        let (name, tail) = after
            .strip_prefix('(')
            .and_then(|a| a.split_once(')'))
            .and_then(|(name, tail)| Some((name, tail.strip_prefix('s')?)))
            .ok_or(PercentError::Unsupported)?;
        out.push_str(lookup(name).ok_or_else(|| PercentError::Unknown(name.to_string()))?);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Node {
        crate::cloudconfig::load(text).unwrap()
    }

    #[test]
    fn shellify_matches_cloud_init_byte_for_byte() {
        let n = yaml("- echo hi\n- [sh, -xc, \"echo $(date) ': hello'\"]\n- null\n");
        assert_eq!(
            shellify("runcmd", &n).unwrap(),
            "#!/bin/sh\necho hi\n'sh' '-xc' 'echo $(date) '\\'': hello'\\'''\n"
        );
    }

    #[test]
    fn shellify_refuses_a_string_and_a_dict_item() {
        let err = shellify("runcmd", &yaml("echo hi")).unwrap_err();
        assert!(err.to_string().contains("`runcmd`"), "{err}");
        assert!(err.to_string().contains("not a string"), "{err}");
        let err = shellify("runcmd", &yaml("- echo a: b\n")).unwrap_err();
        assert!(err.to_string().contains("runcmd.0"), "{err}");
    }
}

/// A value written as one line of a line-based file (a sudo rule, an authorized key):
/// no newline, carriage return or NUL, which would add a line other than the one meant.
pub fn one_line(key: &str, value: &str) -> Result<(), ModuleError> {
    match value.chars().find(|c| matches!(c, '\n' | '\r' | '\0')) {
        None => Ok(()),
        Some(c) => Err(ModuleError::Invalid {
            key: key.to_string(),
            message: format!(
                "holds {}: it would add a line of its own to the file; write one entry per list item",
                c.escape_debug()
            ),
        }),
    }
}

/// A host name for `/etc/hostname`, `/etc/hosts` and `hostname`: no whitespace or control
/// character (a field or line of its own in `/etc/hosts`), no leading `-` (an option to
/// `hostname`), at most 253 characters.
pub fn check_host_name(key: &str, name: &str) -> Result<(), ModuleError> {
    let bad = |message: String| ModuleError::Invalid {
        key: key.to_string(),
        message,
    };
    if name.is_empty() || name.len() > 253 {
        return Err(bad(format!("{name:?} is not 1 to 253 characters long")));
    }
    if name.starts_with('-') {
        return Err(bad(format!("{name:?} starts with `-`")));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(format!(
            "{name:?} holds {}, which /etc/hosts would read as a new field or line",
            c.escape_debug()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn values_of_line_files_stay_one_line() {
        assert!(one_line("users.a.sudo", "ALL=(ALL) NOPASSWD:ALL").is_ok());
        let err = one_line("users.a.sudo", "ALL=(ALL) ALL\nmallory ALL=(ALL) ALL").unwrap_err();
        assert!(err.to_string().contains("users.a.sudo"), "{err}");
        assert!(one_line("k", "ssh-ed25519 AAAA\r\nssh-rsa BBBB").is_err());
        assert!(check_host_name("hostname", "web-1.example.com").is_ok());
        for bad in ["", "-n", "web 1", "web1\n10.0.0.1 evil", &"a".repeat(254)] {
            assert!(check_host_name("hostname", bad).is_err(), "{bad:?}");
        }
    }
}
