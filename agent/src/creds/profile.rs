//! The shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`): their
//! parser, in the cross-SDK specification's dialect and in botocore's and Go's variants,
//! keeping the file and line of every value so that `explain` can point at it. This
//! module reads text it is given; finding and reading the files is [`super::files`]'s job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a file is parsed: the SDKs disagree on comments, separators and duplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The cross-SDK specification (aws-sdk-rust and the shared parser tests).
    Spec,
    /// Python's `configparser` as botocore and the AWS CLI use it.
    Botocore,
    /// The Go SDK v2's tolerant tokenizer.
    Go,
    /// The AWS SDK for JavaScript v3 ([`super::profile_js`]).
    Js,
}

/// Which of the two files a text came from: section names differ between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `~/.aws/config`: `[profile NAME]`, `[default]`, `[sso-session NAME]`.
    Config,
    /// `~/.aws/credentials`: `[NAME]`.
    Credentials,
}

/// A value and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

impl Located {
    /// `path:line`, for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// One profile (or sso-session): lowercased keys to located values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub props: BTreeMap<String, Located>,
}

impl Profile {
    /// A property's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(|l| l.value.as_str())
    }

    /// A property with its location.
    pub fn located(&self, key: &str) -> Option<&Located> {
        self.props.get(key)
    }
}

/// The profiles of one file, or of both files merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileSet {
    pub profiles: BTreeMap<String, Profile>,
    pub sso_sessions: BTreeMap<String, Profile>,
    /// Things the parser ignored that a user may have meant (`file:line: what`).
    pub warnings: Vec<String>,
}

impl ProfileSet {
    /// A profile by name.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// Merge `other` over `self`, per key (the credentials file wins over the config file).
    pub fn merge_over(mut self, other: &ProfileSet) -> ProfileSet {
        for (name, prof) in &other.profiles {
            let entry = self
                .profiles
                .entry(name.clone())
                .or_insert_with(|| Profile {
                    name: name.clone(),
                    props: BTreeMap::new(),
                });
            for (k, v) in &prof.props {
                entry.props.insert(k.clone(), v.clone());
            }
        }
        for (name, sess) in &other.sso_sessions {
            self.sso_sessions
                .entry(name.clone())
                .or_insert_with(|| sess.clone());
        }
        self.warnings.extend(other.warnings.iter().cloned());
        self
    }
}

/// A file that cannot be parsed: the SDK named by the dialect stops here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse {path}:{line}: {message}; fix or remove that line")]
pub struct ParseError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// One `[section]` as written, before profile naming rules apply.
#[derive(Debug, Default)]
struct RawSection {
    header: String,
    line: usize,
    props: Vec<(String, Located)>,
}

/// Whether a profile or property name uses only the characters the specification allows.
pub fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.%@:+".contains(c))
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Cut an inline comment that follows whitespace (` #`, ` ;`, `\t#`, `\t;`).
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b'#' || bytes[i] == b';') && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t')
        {
            return &value[..i];
        }
    }
    value
}

/// Parse one file's text in a dialect.
pub fn parse(
    text: &str,
    path: &Path,
    kind: FileKind,
    dialect: Dialect,
) -> Result<ProfileSet, ParseError> {
    let sections = match dialect {
        Dialect::Js => return Ok(super::profile_js::parse(text, path, kind)),
        Dialect::Spec => split_spec(text, path)?,
        Dialect::Go => split_go(text, path),
        Dialect::Botocore => split_botocore(text, path)?,
    };
    Ok(name_sections(sections, path, kind, dialect))
}

fn split_spec(text: &str, path: &Path) -> Result<Vec<RawSection>, ParseError> {
    let err = |line: usize, message: &str| ParseError {
        path: path.to_path_buf(),
        line,
        message: message.to_string(),
    };
    let mut sections: Vec<RawSection> = Vec::new();
    // Index of the property continuation lines extend, and whether it takes sub-properties.
    let mut current: Option<(usize, bool)> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let n = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if trim_ws(line).is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let Some(end) = line.find(']') else {
                return Err(err(n, "Profile definition must end with ']'"));
            };
            sections.push(RawSection {
                header: trim_ws(&line[1..end]).to_string(),
                line: n,
                props: Vec::new(),
            });
            current = None;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(err(n, "Expected a profile definition"));
        };
        if line.starts_with([' ', '\t']) {
            let Some((pi, sub)) = current else {
                return Err(err(n, "Expected a property definition, found continuation"));
            };
            let part = trim_ws(line);
            if sub {
                let Some((k, _)) = part.split_once('=') else {
                    return Err(err(n, "Expected an '=' sign defining a sub-property"));
                };
                if trim_ws(k).is_empty() {
                    return Err(err(n, "Sub-property did not have a name"));
                }
            }
            if let Some((_, loc)) = section.props.get_mut(pi) {
                loc.value.push('\n');
                loc.value.push_str(part);
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(err(n, "Expected an '=' sign defining a property"));
        };
        let key = trim_ws(k);
        if key.is_empty() {
            return Err(err(n, "Property did not have a name"));
        }
        let value = trim_ws(strip_inline_comment(v)).to_string();
        let sub = value.is_empty();
        section.props.push((
            key.to_ascii_lowercase(),
            Located {
                value,
                file: path.to_path_buf(),
                line: n,
            },
        ));
        current = Some((section.props.len() - 1, sub));
    }
    Ok(sections)
}

fn split_go(text: &str, path: &Path) -> Vec<RawSection> {
    let mut sections: Vec<RawSection> = Vec::new();
    let mut current: Option<usize> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let n = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = trim_ws(line);
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.starts_with('[') {
            if let Some(end) = trimmed.find(']') {
                sections.push(RawSection {
                    header: trim_ws(&trimmed[1..end]).to_string(),
                    line: n,
                    props: Vec::new(),
                });
            }
            current = None;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            continue;
        };
        let sep = trimmed.find(['=', ':']);
        let indented = line.starts_with([' ', '\t']);
        match (sep, current, indented) {
            (_, Some(pi), true) if !section.props.is_empty() => {
                if let Some((_, loc)) = section.props.get_mut(pi) {
                    if !loc.value.is_empty() || sep.is_none() {
                        loc.value.push('\n');
                        loc.value.push_str(trimmed);
                        continue;
                    }
                    loc.value.push('\n');
                    loc.value.push_str(trimmed);
                }
            }
            (Some(i), _, _) => {
                let key = trim_ws(&trimmed[..i]).to_ascii_lowercase();
                let mut value = trim_ws(strip_inline_comment(&trimmed[i + 1..])).to_string();
                for q in ['"', '\''] {
                    if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
                        value = value[1..value.len() - 1].to_string();
                    }
                }
                section.props.push((
                    key,
                    Located {
                        value,
                        file: path.to_path_buf(),
                        line: n,
                    },
                ));
                current = Some(section.props.len() - 1);
            }
            _ => {}
        }
    }
    sections
}

fn split_botocore(text: &str, path: &Path) -> Result<Vec<RawSection>, ParseError> {
    let err = |line: usize, message: String| ParseError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut sections: Vec<RawSection> = Vec::new();
    let mut defaults: Vec<(String, Located)> = Vec::new();
    let mut in_defaults = false;
    let mut current: Option<usize> = None;
    let mut seen_headers: std::collections::HashSet<String> = std::collections::HashSet::new();
    // The current section's keys, for botocore's duplicate-key check in constant time.
    let mut section_keys: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (idx, raw) in text.split('\n').enumerate() {
        let n = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let stripped = line.trim();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            current = None;
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        let target: Option<&mut Vec<(String, Located)>> = if in_defaults {
            Some(&mut defaults)
        } else {
            sections.last_mut().map(|s| &mut s.props)
        };
        if indented {
            if let (Some(props), Some(pi)) = (target, current) {
                if let Some((_, loc)) = props.get_mut(pi) {
                    loc.value.push('\n');
                    loc.value.push_str(stripped);
                }
                continue;
            }
        }
        if !indented && line.starts_with('[') {
            if let Some(end) = line.rfind(']') {
                let header = line[1..end].to_string();
                if seen_headers.contains(&header) {
                    return Err(err(
                        n,
                        format!("section '{header}' already exists (botocore refuses duplicate sections)"),
                    ));
                }
                seen_headers.insert(header.clone());
                section_keys.clear();
                current = None;
                if header == "DEFAULT" {
                    in_defaults = true;
                } else {
                    in_defaults = false;
                    sections.push(RawSection {
                        header,
                        line: n,
                        props: Vec::new(),
                    });
                }
                continue;
            }
        }
        let target: Option<&mut Vec<(String, Located)>> = if in_defaults {
            Some(&mut defaults)
        } else {
            sections.last_mut().map(|s| &mut s.props)
        };
        let Some(props) = target else {
            return Err(err(n, "file contains no section headers".to_string()));
        };
        let Some(i) = stripped.find(['=', ':']) else {
            return Err(err(n, format!("line {stripped:?} has no '=' or ':'")));
        };
        let key = stripped[..i].trim().to_lowercase();
        if !section_keys.insert(key.clone()) {
            return Err(err(
                n,
                format!("option '{key}' already exists in this section (botocore refuses duplicate keys)"),
            ));
        }
        props.push((
            key,
            Located {
                value: stripped[i + 1..].trim().to_string(),
                file: path.to_path_buf(),
                line: n,
            },
        ));
        current = Some(props.len() - 1);
    }
    // `[DEFAULT]` keys are inherited by every section that does not set them.
    if !defaults.is_empty() {
        for section in &mut sections {
            for (k, v) in &defaults {
                if !section.props.iter().any(|(sk, _)| sk == k) {
                    section.props.push((k.clone(), v.clone()));
                }
            }
        }
    }
    Ok(sections)
}

/// Apply each dialect's section naming rules and merge duplicates.
fn name_sections(
    sections: Vec<RawSection>,
    path: &Path,
    kind: FileKind,
    dialect: Dialect,
) -> ProfileSet {
    let mut set = ProfileSet::default();
    let has_profile_default = kind == FileKind::Config
        && dialect != Dialect::Botocore
        && sections.iter().any(|s| {
            s.header
                .split_once([' ', '\t'])
                .is_some_and(|(p, n)| p == "profile" && trim_ws(n) == "default")
        });
    for section in sections {
        let at = format!("{}:{}", path.display(), section.line);
        enum Target {
            Profile(String),
            Session(String),
        }
        let target = match (kind, dialect) {
            (FileKind::Credentials, Dialect::Botocore) => Target::Profile(section.header.clone()),
            (FileKind::Credentials, _) => {
                if !valid_identifier(&section.header) {
                    set.warnings.push(format!(
                        "{at}: section [{}] ignored: credentials-file sections are [NAME] without `profile `",
                        section.header
                    ));
                    continue;
                }
                Target::Profile(section.header.clone())
            }
            (FileKind::Config, _) => {
                if section.header == "default" {
                    if has_profile_default {
                        set.warnings.push(format!(
                            "{at}: [default] ignored because [profile default] is also defined"
                        ));
                        continue;
                    }
                    Target::Profile("default".into())
                } else if let Some((prefix, rest)) = section.header.split_once([' ', '\t']) {
                    let name = trim_ws(rest).to_string();
                    let name = if dialect == Dialect::Botocore {
                        name.trim_matches('"').to_string()
                    } else {
                        name
                    };
                    match prefix {
                        "profile" => Target::Profile(name),
                        "sso-session" => Target::Session(name),
                        _ => {
                            set.warnings.push(format!(
                                "{at}: section [{}] ignored: unknown prefix",
                                section.header
                            ));
                            continue;
                        }
                    }
                } else {
                    set.warnings.push(format!(
                        "{at}: section [{}] ignored: in the config file profiles are [profile {}]",
                        section.header, section.header
                    ));
                    continue;
                }
            }
        };
        let (map, name) = match target {
            Target::Profile(name) => (&mut set.profiles, name),
            Target::Session(name) => (&mut set.sso_sessions, name),
        };
        if dialect != Dialect::Botocore && !valid_identifier(&name) {
            set.warnings.push(format!(
                "{at}: profile name {name:?} has invalid characters: ignored"
            ));
            continue;
        }
        let entry = if dialect == Dialect::Botocore && kind == FileKind::Config {
            // A later section replaces the whole profile (`[default]` vs `[profile default]`).
            map.insert(
                name.clone(),
                Profile {
                    name: name.clone(),
                    props: BTreeMap::new(),
                },
            );
            map.get_mut(&name)
        } else {
            Some(map.entry(name.clone()).or_insert_with(|| Profile {
                name: name.clone(),
                props: BTreeMap::new(),
            }))
        };
        let Some(entry) = entry else { continue };
        for (key, loc) in section.props {
            if dialect == Dialect::Spec && !valid_identifier(&key) {
                set.warnings.push(format!(
                    "{}:{}: property name {key:?} has invalid characters: ignored",
                    path.display(),
                    loc.line
                ));
                continue;
            }
            entry.props.insert(key, loc);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(config: Option<&str>, creds: Option<&str>) -> Result<ProfileSet, ParseError> {
        let c = parse(
            config.unwrap_or(""),
            Path::new("config"),
            FileKind::Config,
            Dialect::Spec,
        )?;
        let k = parse(
            creds.unwrap_or(""),
            Path::new("credentials"),
            FileKind::Credentials,
            Dialect::Spec,
        )?;
        Ok(c.merge_over(&k))
    }

    /// A config file `c` parsed in `dialect`.
    fn config(text: &str, dialect: Dialect) -> Result<ProfileSet, ParseError> {
        parse(text, Path::new("c"), FileKind::Config, dialect)
    }

    fn plain(map: &BTreeMap<String, Profile>) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (name, p) in map {
            let props: serde_json::Map<String, serde_json::Value> = p
                .props
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.value.clone())))
                .collect();
            out.insert(name.clone(), serde_json::Value::Object(props));
        }
        serde_json::Value::Object(out)
    }

    #[test]
    fn every_case_of_the_shared_parser_tests_passes() {
        let text = include_str!("../../tests/data/aws-sdk/profile-parser-tests.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let tests = doc["tests"].as_array().unwrap();
        assert!(tests.len() >= 60);
        for t in tests {
            let name = t["name"].as_str().unwrap();
            let got = both(
                t["input"]["configFile"].as_str(),
                t["input"]["credentialsFile"].as_str(),
            );
            if let Some(want) = t["output"]["errorContaining"].as_str() {
                let e = got.expect_err(name);
                assert!(e.to_string().contains(want), "{name}: {e}");
                continue;
            }
            let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            let want = &t["output"]["config"];
            assert_eq!(plain(&got.profiles), want["profiles"], "{name}");
            if let Some(s) = want.get("sso_sessions") {
                assert_eq!(plain(&got.sso_sessions), *s, "{name}");
            }
        }
    }

    #[test]
    fn values_keep_their_file_and_line() {
        let set = both(
            Some("# c\n[profile a]\n\nregion = x\n"),
            Some("[a]\nk = v\n"),
        )
        .unwrap();
        let a = set.get("a").unwrap();
        assert_eq!(a.located("region").unwrap().at(), "config:4");
        assert_eq!(a.located("k").unwrap().at(), "credentials:2");
    }

    #[test]
    fn botocore_keeps_inline_comments_and_refuses_duplicates() {
        let set = config(
            "[default]\naws_access_key_id = AKIA1 # note\n",
            Dialect::Botocore,
        )
        .unwrap();
        assert_eq!(
            set.get("default").unwrap().get("aws_access_key_id"),
            Some("AKIA1 # note")
        );
        let spec = config(
            "[default]\naws_access_key_id = AKIA1 # note\n",
            Dialect::Spec,
        )
        .unwrap();
        assert_eq!(
            spec.get("default").unwrap().get("aws_access_key_id"),
            Some("AKIA1")
        );
        let e = config("[default]\na=1\n[default]\nb=2\n", Dialect::Botocore).unwrap_err();
        assert_eq!(e.line, 3);
        let merged = config("[default]\na=1\n[default]\nb=2\n", Dialect::Spec).unwrap();
        assert_eq!(merged.get("default").unwrap().props.len(), 2);
    }

    #[test]
    fn botocore_default_section_is_inherited_and_later_default_wins() {
        let set = config(
            "[DEFAULT]\naws_access_key_id = A\n[profile dev]\n",
            Dialect::Botocore,
        )
        .unwrap();
        assert_eq!(set.get("dev").unwrap().get("aws_access_key_id"), Some("A"));
        let set = config(
            "[profile default]\nk = B\n[default]\nk = A\n",
            Dialect::Botocore,
        )
        .unwrap();
        assert_eq!(set.get("default").unwrap().get("k"), Some("A"));
        let spec = config(
            "[profile default]\nk = B\n[default]\nk = A\n",
            Dialect::Spec,
        )
        .unwrap();
        assert_eq!(spec.get("default").unwrap().get("k"), Some("B"));
    }

    #[test]
    fn go_accepts_colons_and_strips_quotes() {
        let set = config("k = 1\n[default]\na : \"x\" # c\nbad line\n", Dialect::Go).unwrap();
        assert_eq!(set.get("default").unwrap().get("a"), Some("x"));
    }
}
