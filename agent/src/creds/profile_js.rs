//! The shared config files as the AWS SDK for JavaScript v3 reads them
//! (`parseIni` and `getConfigData` of `@smithy/shared-ini-file-loader`, now in
//! `@smithy/core/config`), which differs from the specification and from botocore:
//!
//! - `#` or `;` at the start of a line or after whitespace ends the line, in values and
//!   section headers alike;
//! - a section is a line that starts with `[` and ends with `]`; `prefix name` (one
//!   whitespace, optional quotes) is kept only for the prefixes `profile`, `sso-session`
//!   and `services`, any other header is taken whole (`[DEFAULT]` is a profile like any
//!   other, `[profile  two spaces]` a profile of that odd name);
//! - lines before a section, lines without `=` or starting with `=` are ignored;
//! - key names keep their case; an indented line is a plain key unless it follows a key
//!   with an empty value (a sub-section);
//! - a duplicate key: the last wins; a duplicate section: the two merge;
//! - in the config file only `[default]`, `[profile NAME]` (which wins whole over
//!   `[default]` for `default`) and `[sso-session NAME]` count; in the credentials file
//!   every header is a profile name as written (`[profile dev]` is not `dev`);
//! - a `[__proto__]` or `[profile __proto__]` section makes the whole file unreadable,
//!   which the SDK treats as an empty file.
//!
//! This module only parses text; it never fails.

use std::collections::BTreeMap;
use std::path::Path;

use super::profile::{FileKind, Located, Profile, ProfileSet};

/// The section prefixes the JS SDK recognises in `prefix name` headers.
const SECTION_TYPES: [&str; 3] = ["profile", "sso-session", "services"];

/// Cut the line at the first `#`/`;` that starts it or follows whitespace, then trim.
fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if (c == '#' || c == ';') && prev_ws {
            return line[..i].trim();
        }
        prev_ws = c.is_whitespace();
    }
    line.trim()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-@+.%:/".contains(c)
}

/// `prefix name` with one whitespace character between and optional matching quotes
/// around the name, as the SDK's `prefixKeyRegex`: `Some((prefix, name))`.
fn split_prefixed(header: &str) -> Option<(&str, &str)> {
    let ws = header.find(char::is_whitespace)?;
    let prefix = &header[..ws];
    if prefix.is_empty()
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let after_ws = ws + header[ws..].chars().next().map_or(1, char::len_utf8);
    let rest = &header[after_ws..];
    let name = match rest.chars().next() {
        Some(q @ ('"' | '\'')) if rest.len() >= 2 && rest.ends_with(q) => &rest[1..rest.len() - 1],
        _ => rest,
    };
    (!name.is_empty() && name.chars().all(is_name_char)).then_some((prefix, name))
}

/// One section: its key (`default`, `profile.dev`, …) and its properties in order.
type Section = (String, Vec<(String, Located)>);

/// The sections of one file as the SDK's `parseIni` builds them, in order of first
/// appearance, or `None` when the SDK would refuse the file.
fn parse_sections(text: &str, path: &Path) -> Option<Vec<Section>> {
    let mut sections: Vec<Section> = Vec::new();
    // Where each section key is in `sections`: linear in the number of sections.
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut current: Option<usize> = None;
    let mut sub: Option<String> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = strip_comment(line);
        if trimmed.len() >= 2 && trimmed.starts_with('[') && trimmed.ends_with(']') {
            current = None;
            sub = None;
            let header = &trimmed[1..trimmed.len() - 1];
            let key = match split_prefixed(header) {
                Some((prefix, name)) if SECTION_TYPES.contains(&prefix) => {
                    Some(format!("{prefix}.{name}"))
                }
                Some(_) => None,
                None => Some(header.to_string()),
            };
            if header == "__proto__" || header == "profile __proto__" {
                return None;
            }
            if let Some(key) = key.filter(|k| !k.is_empty()) {
                let at = match index.get(&key) {
                    Some(i) => *i,
                    None => {
                        index.insert(key.clone(), sections.len());
                        sections.push((key, Vec::new()));
                        sections.len() - 1
                    }
                };
                current = Some(at);
            }
            continue;
        }
        let Some(at) = current else { continue };
        let Some(eq) = trimmed.find('=').filter(|&i| i > 0) else {
            continue;
        };
        let name = trimmed[..eq].trim().to_string();
        let value = trimmed[eq + 1..].trim().to_string();
        if value.is_empty() {
            sub = Some(name);
            continue;
        }
        if sub.is_some() && line.trim_start() == line {
            sub = None;
        }
        let key = match &sub {
            Some(s) => format!("{s}.{name}"),
            None => name,
        };
        let located = Located {
            value,
            file: path.to_path_buf(),
            line: idx + 1,
        };
        let props = &mut sections[at].1;
        // A duplicate key: the last value wins.
        props.retain(|(k, _)| *k != key);
        props.push((key, located));
    }
    Some(sections)
}

fn profile(name: &str, props: Vec<(String, Located)>) -> Profile {
    Profile {
        name: name.to_string(),
        props: props.into_iter().collect::<BTreeMap<_, _>>(),
    }
}

/// Parse one file's text as the JS SDK does.
pub fn parse(text: &str, path: &Path, kind: FileKind) -> ProfileSet {
    let mut set = ProfileSet::default();
    let Some(sections) = parse_sections(text, path) else {
        set.warnings.push(format!(
            "{}: a [__proto__] section: the JS SDK reads this file as empty",
            path.display()
        ));
        return set;
    };
    let mut profile_default = None;
    for (key, props) in sections {
        match kind {
            FileKind::Credentials => {
                set.profiles.insert(key.clone(), profile(&key, props));
            }
            FileKind::Config => {
                if key == "default" {
                    set.profiles
                        .entry(key.clone())
                        .or_insert_with(|| profile(&key, props));
                } else if let Some(name) = key.strip_prefix("profile.") {
                    if name == "default" {
                        profile_default = Some(profile(name, props));
                    } else {
                        set.profiles.insert(name.to_string(), profile(name, props));
                    }
                } else if let Some(name) = key.strip_prefix("sso-session.") {
                    set.sso_sessions
                        .insert(name.to_string(), profile(name, props));
                } else if !key.starts_with("services.") {
                    set.warnings.push(format!(
                        "{}: section [{key}] ignored: config-file profiles are [profile NAME] or [default]",
                        path.display()
                    ));
                }
            }
        }
    }
    if let Some(p) = profile_default {
        set.profiles.insert("default".to_string(), p);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> ProfileSet {
        parse(text, Path::new("/c"), FileKind::Config)
    }

    fn get<'a>(set: &'a ProfileSet, profile: &str, key: &str) -> Option<&'a str> {
        set.get(profile).and_then(|p| p.get(key))
    }

    #[test]
    fn comments_after_whitespace_end_a_value() {
        let set = config("[default]\na = x # note\nb = x#y\nc = x\t;z\n");
        assert_eq!(get(&set, "default", "a"), Some("x"));
        assert_eq!(get(&set, "default", "b"), Some("x#y"));
        assert_eq!(get(&set, "default", "c"), Some("x"));
    }

    #[test]
    fn keys_keep_case_duplicates_last_win_sections_merge() {
        let set = config(
            "k = before\n[default]\nAWS_ACCESS_KEY_ID = A\nk = 1\n[profile p]\nq = 1\n[default]\nk = 2\n",
        );
        assert_eq!(get(&set, "default", "AWS_ACCESS_KEY_ID"), Some("A"));
        assert_eq!(get(&set, "default", "aws_access_key_id"), None);
        assert_eq!(get(&set, "default", "k"), Some("2"));
        assert_eq!(set.get("default").unwrap().located("k").unwrap().line, 8);
        assert_eq!(get(&set, "p", "q"), Some("1"));
    }

    #[test]
    fn indented_lines_are_plain_keys_unless_in_a_sub_section() {
        let set = config("[default]\n  a = 1\ns3 =\n  max = 2\nb = 3\n");
        assert_eq!(get(&set, "default", "a"), Some("1"));
        assert_eq!(get(&set, "default", "s3.max"), Some("2"));
        assert_eq!(get(&set, "default", "b"), Some("3"));
        assert_eq!(get(&set, "default", "s3"), None);
    }

    #[test]
    fn config_sections_and_profile_default() {
        let set = config(
            "[DEFAULT]\na = 1\n[dev]\na = 2\n[profile default]\na = 3\n[default]\nb = 4\n[profile 'q']\na = 5\n[sso-session s]\nsso_region = r\n",
        );
        assert!(set.get("DEFAULT").is_none() && set.get("dev").is_none());
        // `[profile default]` replaces `[default]` whole.
        assert_eq!(get(&set, "default", "a"), Some("3"));
        assert_eq!(get(&set, "default", "b"), None);
        assert_eq!(get(&set, "q", "a"), Some("5"));
        assert!(set.sso_sessions.contains_key("s"));
    }

    #[test]
    fn credentials_sections_are_taken_as_written() {
        let set = parse(
            "[profile dev]\na = 1\n[DEFAULT]\na = 2\n",
            Path::new("/k"),
            FileKind::Credentials,
        );
        assert!(set.get("dev").is_none());
        assert_eq!(get(&set, "profile.dev", "a"), Some("1"));
        assert_eq!(get(&set, "DEFAULT", "a"), Some("2"));
    }

    #[test]
    fn a_proto_section_empties_the_file() {
        let set = config("[default]\na = 1\n[__proto__]\nb = 2\n");
        assert!(set.profiles.is_empty());
        assert_eq!(set.warnings.len(), 1);
    }
}
