//! systemd's own user-data format, as `systemd-imds --import` (systemd v261+) reads it: a
//! payload whose first line is exactly `#systemd-userdata`, or one that is a JSON object
//! (`{` then `"` or `}` after optional whitespace), holding a `"systemd.credentials"`
//! array of `{name, text | data | encrypted}` entries. This module owns recognising the
//! format ([`sniff`]) and parsing and checking it ([`parse`]) into [`Credential`]s, with
//! the line and column of what is wrong. It never writes the credentials (the boot's
//! `systemd_userdata` module does) and never puts a credential's value in an error,
//! a log line or `Debug` output: values are [`Secret`]s.
//!
//! Where strap is stricter than systemd: one bad entry rejects the whole part (systemd
//! imports the good entries and skips the bad), so a typo never leaves a machine with
//! half its credentials.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::secret::Secret;

/// The first line that marks systemd user data (followed by a line feed).
pub const HEADER: &str = "#systemd-userdata\n";

/// The top-level key holding the credentials.
pub const CREDENTIALS_KEY: &str = "systemd.credentials";

/// Where plain (`text`, `data`) credentials go, as systemd-imds puts them.
pub const CREDSTORE: &str = "/run/credstore";

/// Where `encrypted` credentials go.
pub const CREDSTORE_ENCRYPTED: &str = "/run/credstore.encrypted";

/// The longest credential name systemd accepts (`FDNAME_MAX`, `NAME_MAX`).
const NAME_MAX: usize = 255;

/// Whether a payload is systemd user data, by systemd's rule: it starts with exactly
/// `#systemd-userdata` and a line feed, or it is a JSON object (`{` then `"` or `}`,
/// whitespace allowed before and between).
pub fn sniff(payload: &[u8]) -> bool {
    if payload.starts_with(HEADER.as_bytes()) {
        return true;
    }
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut rest = payload.iter().skip_while(|b| is_space(b));
    if rest.next() != Some(&b'{') {
        return false;
    }
    matches!(rest.find(|b| !is_space(b)), Some(b'"' | b'}'))
}

/// How a credential's value was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `text`: the string itself.
    Text,
    /// `data`: base64, decoded.
    Data,
    /// `encrypted`: base64 of a `systemd-creds encrypt` blob, decoded, kept encrypted.
    Encrypted,
}

/// One credential to import.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Its name: the file name under the credential store.
    pub name: String,
    pub kind: Kind,
    /// The bytes to write (base64 already undone).
    pub value: Secret<Vec<u8>>,
}

impl fmt::Debug for Credential {
    // The value is a secret: only its size is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("bytes", &self.value.expose().len())
            .finish()
    }
}

impl Credential {
    /// The folder it is imported into ([`CREDSTORE`] or [`CREDSTORE_ENCRYPTED`]).
    pub fn store(&self) -> &'static str {
        match self.kind {
            Kind::Encrypted => CREDSTORE_ENCRYPTED,
            Kind::Text | Kind::Data => CREDSTORE,
        }
    }
}

/// A parsed systemd user-data payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemdUserData {
    /// The credentials, in the order given.
    pub credentials: Vec<Credential>,
    /// Whether the document has a `systemd.credentials` key at all.
    pub has_credentials_key: bool,
}

/// Why a systemd user-data payload is refused. The message never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemdUserDataError {
    /// The payload holds a NUL byte (systemd does not process it).
    #[error("systemd user data holds a NUL byte at offset {offset}; systemd does not process it")]
    Nul { offset: usize },
    /// The payload is not UTF-8.
    #[error("systemd user data is not valid UTF-8 at byte {offset}")]
    NotUtf8 { offset: usize },
    /// The JSON does not parse, or an entry is wrong (`line`/`column` 1-based, in the
    /// payload, the `#systemd-userdata` line counted).
    #[error("line {line} column {column}: {message}")]
    Invalid {
        line: usize,
        column: usize,
        message: String,
    },
}

impl SystemdUserDataError {
    /// Line and column (1-based) of the problem, `(1, 1)` when the whole payload is.
    pub fn position(&self) -> (usize, usize) {
        match self {
            Self::Invalid { line, column, .. } => (*line, (*column).max(1)),
            Self::Nul { .. } | Self::NotUtf8 { .. } => (1, 1),
        }
    }

    /// The message without its position.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Parse and check a systemd user-data payload (with or without its `#systemd-userdata`
/// line). Every entry needs a valid `name` and exactly one of `text`, `data`,
/// `encrypted`; `data` and `encrypted` must be base64. Unknown keys are ignored, as
/// systemd ignores them.
pub fn parse(payload: &[u8]) -> Result<SystemdUserData, SystemdUserDataError> {
    if let Some(offset) = payload.iter().position(|b| *b == 0) {
        return Err(SystemdUserDataError::Nul { offset });
    }
    let text = std::str::from_utf8(payload).map_err(|e| SystemdUserDataError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let (json, line_offset) = match text.strip_prefix(HEADER) {
        Some(rest) => (rest, 1),
        None => (text, 0),
    };
    let mut de = serde_json::Deserializer::from_str(json);
    let doc = de::Deserialize::deserialize(&mut de)
        .and_then(|doc: Document| de.end().map(|()| doc))
        .map_err(|e| SystemdUserDataError::Invalid {
            line: e.line() + line_offset,
            column: e.column(),
            message: message_of(&e),
        })?;
    Ok(SystemdUserData {
        credentials: doc.credentials.unwrap_or_default(),
        has_credentials_key: doc.has_key,
    })
}

/// serde_json's message without its ` at line L column C` tail (the position is kept
/// apart). Data errors come only from this module's own messages, which hold no values.
fn message_of(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&tail).unwrap_or(&full);
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("not valid JSON: {msg}")
        }
        _ => msg.to_string(),
    }
}

/// Whether systemd accepts a credential name: a valid file name (not empty, `.` or
/// `..`, no `/`, at most 255 bytes) made of printable ASCII without `:`.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name == "." || name == ".." {
        return Some("is `.` or `..`");
    }
    if name.len() > NAME_MAX {
        return Some("is longer than 255 bytes");
    }
    if name.contains('/') {
        return Some("contains `/`");
    }
    if name.contains('\0') {
        return Some("contains a NUL character");
    }
    if name.contains(':') {
        return Some("contains `:`");
    }
    if !name.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Some("contains a character that is not printable ASCII");
    }
    None
}

/// Visitor methods for every scalar that answer "expected X, found <kind>" without the
/// value (serde's own message would quote it).
macro_rules! refuse_scalars {
    ($self:ident, $what:expr) => {
        fn visit_bool<E: de::Error>($self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected {}, found a boolean", $what)))
        }
        fn visit_i64<E: de::Error>($self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected {}, found a number", $what)))
        }
        fn visit_u64<E: de::Error>($self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected {}, found a number", $what)))
        }
        fn visit_f64<E: de::Error>($self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected {}, found a number", $what)))
        }
        fn visit_unit<E: de::Error>($self) -> Result<Self::Value, E> {
            Err(E::custom(format!("expected {}, found null", $what)))
        }
    };
}

/// The whole document: only `systemd.credentials` is read.
struct Document {
    credentials: Option<Vec<Credential>>,
    has_key: bool,
}

impl<'de> de::Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            refuse_scalars!(self, "a JSON object");
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Document, E> {
                Err(E::custom("expected a JSON object, found a string"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Document, A::Error> {
                Err(de::Error::custom("expected a JSON object, found an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
                let mut doc = Document {
                    credentials: None,
                    has_key: false,
                };
                while let Some(key) = map.next_key::<String>()? {
                    if key == CREDENTIALS_KEY {
                        if doc.has_key {
                            return Err(de::Error::custom(format!(
                                "`{CREDENTIALS_KEY}` is given twice"
                            )));
                        }
                        doc.has_key = true;
                        doc.credentials = map.next_value::<CredentialList>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(doc)
            }
        }
        d.deserialize_any(V)
    }
}

/// The `systemd.credentials` array (`null` counts as absent, as in systemd).
struct CredentialList(Option<Vec<Credential>>);

impl<'de> de::Deserialize<'de> for CredentialList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const WHAT: &str = "`systemd.credentials` to be an array";
        impl<'de> Visitor<'de> for V {
            type Value = CredentialList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(WHAT)
            }
            fn visit_unit<E: de::Error>(self) -> Result<CredentialList, E> {
                Ok(CredentialList(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<CredentialList, E> {
                Err(E::custom(format!("expected {WHAT}, found a boolean")))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<CredentialList, E> {
                Err(E::custom(format!("expected {WHAT}, found a number")))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<CredentialList, E> {
                Err(E::custom(format!("expected {WHAT}, found a number")))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<CredentialList, E> {
                Err(E::custom(format!("expected {WHAT}, found a number")))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<CredentialList, E> {
                Err(E::custom(format!("expected {WHAT}, found a string")))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<CredentialList, A::Error> {
                Err(de::Error::custom(format!(
                    "expected {WHAT}, found an object"
                )))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CredentialList, A::Error> {
                let mut out: Vec<Credential> = Vec::new();
                while let Some(entry) = seq.next_element::<Entry>()? {
                    let number = out.len() + 1;
                    let cred = entry.0;
                    if out.iter().any(|c| c.name == cred.name) {
                        return Err(de::Error::custom(format!(
                            "credential {number} (`{}`): the name is already used by an earlier entry",
                            cred.name
                        )));
                    }
                    out.push(cred);
                }
                Ok(CredentialList(Some(out)))
            }
        }
        d.deserialize_any(V)
    }
}

/// One checked entry.
struct Entry(Credential);

/// A string field named `.0`, refused with a value-free message when it is anything
/// else.
struct StrField(&'static str);

impl<'de> de::DeserializeSeed<'de> for StrField {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        struct V(&'static str);
        impl<'de> Visitor<'de> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "`{}` to be a string", self.0)
            }
            refuse_scalars!(self, format!("`{}` to be a string", self.0));
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
                Err(de::Error::custom(format!(
                    "expected `{}` to be a string, found an array",
                    self.0
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
                Err(de::Error::custom(format!(
                    "expected `{}` to be a string, found an object",
                    self.0
                )))
            }
        }
        d.deserialize_any(V(self.0))
    }
}

impl<'de> de::Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a credential object")
            }
            refuse_scalars!(self, "a credential object {name, text|data|encrypted}");
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Entry, E> {
                Err(E::custom(
                    "expected a credential object {name, text|data|encrypted}, found a string",
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Entry, A::Error> {
                Err(de::Error::custom(
                    "expected a credential object {name, text|data|encrypted}, found an array",
                ))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let mut name: Option<String> = None;
                let mut values: Vec<(Kind, Secret<String>)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let (kind, field) = match key.as_str() {
                        "name" => {
                            if name.is_some() {
                                return Err(de::Error::custom("`name` is given twice"));
                            }
                            name = Some(map.next_value_seed(StrField("name"))?);
                            continue;
                        }
                        "text" => (Kind::Text, "text"),
                        "data" => (Kind::Data, "data"),
                        "encrypted" => (Kind::Encrypted, "encrypted"),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    let value = map.next_value_seed(StrField(field))?;
                    values.push((kind, Secret::new(value)));
                }
                check_entry(name, values)
                    .map(Entry)
                    .map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// The rules of one entry, as systemd-imds applies them.
fn check_entry(
    name: Option<String>,
    mut values: Vec<(Kind, Secret<String>)>,
) -> Result<Credential, String> {
    let Some(name) = name else {
        return Err("credential entry has no `name`".into());
    };
    if let Some(problem) = name_problem(&name) {
        // The name is shown escaped: it may hold control characters.
        return Err(format!(
            "credential name \"{}\" {problem}; a name must be a plain file name",
            name.escape_default()
        ));
    }
    let which = |k: &Kind| match k {
        Kind::Text => "text",
        Kind::Data => "data",
        Kind::Encrypted => "encrypted",
    };
    if values.len() != 1 {
        let given: Vec<&str> = values.iter().map(|(k, _)| which(k)).collect();
        return Err(if given.is_empty() {
            format!("credential `{name}` has none of `text`, `data`, `encrypted`: give exactly one")
        } else {
            format!(
                "credential `{name}` has {}: give exactly one of `text`, `data`, `encrypted`",
                given.join(" and ")
            )
        });
    }
    let Some((kind, value)) = values.pop() else {
        return Err(format!("credential `{name}` has no value"));
    };
    let bytes = match kind {
        Kind::Text => value.into_inner().into_bytes(),
        Kind::Data | Kind::Encrypted => base64_decode(value.expose()).ok_or_else(|| {
            format!(
                "credential `{name}`: `{}` is not valid base64",
                which(&kind)
            )
        })?,
    };
    Ok(Credential {
        name,
        kind,
        value: Secret::new(bytes),
    })
}

/// Base64 as systemd's `unbase64mem` reads it: standard alphabet, whitespace ignored,
/// padding optional.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_as_systemd_does() {
        assert!(sniff(b"#systemd-userdata\n{}"));
        assert!(sniff(b"{\"a\": 1}"));
        assert!(sniff(b"  \n{ }"));
        assert!(sniff(b"{\n  \"systemd.credentials\": []}"));
        // The header is exact: case, leading space and the line feed matter.
        assert!(!sniff(b"#SYSTEMD-USERDATA\n{}"));
        assert!(!sniff(b" #systemd-userdata\n{}"));
        assert!(!sniff(b"#systemd-userdata {}"));
        // Not objects.
        assert!(!sniff(b"[1]"));
        assert!(!sniff(b"{a: 1}"));
        assert!(!sniff(b"#cloud-config\n{}"));
        assert!(!sniff(b""));
    }

    #[test]
    fn parses_text_data_and_encrypted() {
        let d = parse(
            br#"#systemd-userdata
{"systemd.credentials": [
  {"name": "a", "text": "hello"},
  {"name": "b", "data": "aGk="},
  {"name": "c", "encrypted": "AAEC", "comment": "ignored"}
], "other": {"x": [1, 2]}}"#,
        )
        .unwrap();
        assert!(d.has_credentials_key);
        let got: Vec<_> = d
            .credentials
            .iter()
            .map(|c| (c.name.as_str(), c.kind, c.value.expose().clone(), c.store()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Kind::Text, b"hello".to_vec(), CREDSTORE),
                ("b", Kind::Data, b"hi".to_vec(), CREDSTORE),
                ("c", Kind::Encrypted, vec![0, 1, 2], CREDSTORE_ENCRYPTED),
            ]
        );
    }

    #[test]
    fn a_document_without_credentials_is_empty() {
        let d = parse(b"{\"ignition\": {\"version\": \"3.4.0\"}}").unwrap();
        assert!(d.credentials.is_empty());
        assert!(!d.has_credentials_key);
        let d = parse(b"{\"systemd.credentials\": null}").unwrap();
        assert!(d.credentials.is_empty());
    }

    fn err(payload: &str) -> SystemdUserDataError {
        parse(payload.as_bytes()).unwrap_err()
    }

    #[test]
    fn bad_json_has_line_and_column_counting_the_header() {
        let e = err(
            "#systemd-userdata\n{\"systemd.credentials\": [\n  {\"name\": \"a\" \"text\": \"x\"}]}",
        );
        assert_eq!(e.position(), (3, 16), "{e}");
        assert!(e.message().starts_with("not valid JSON: expected"), "{e}");
        let e = err("{\"a\": 1} trailing");
        assert!(e.message().contains("trailing"), "{e}");
    }

    #[test]
    fn entries_are_checked_with_their_position() {
        let cases = [
            (
                r#"{"systemd.credentials": [{"text": "x"}]}"#,
                "has no `name`",
            ),
            (
                r#"{"systemd.credentials": [{"name": "a", "text": "x", "data": "eA=="}]}"#,
                "has text and data",
            ),
            (r#"{"systemd.credentials": [{"name": "a"}]}"#, "has none of"),
            (
                r#"{"systemd.credentials": [{"name": "a/b", "text": "x"}]}"#,
                "contains `/`",
            ),
            (
                r#"{"systemd.credentials": [{"name": "..", "text": "x"}]}"#,
                "is `.` or `..`",
            ),
            (
                r#"{"systemd.credentials": [{"name": "", "text": "x"}]}"#,
                "is empty",
            ),
            (
                r#"{"systemd.credentials": [{"name": "a\u0000b", "text": "x"}]}"#,
                "NUL",
            ),
            (
                r#"{"systemd.credentials": [{"name": "a:b", "text": "x"}]}"#,
                "contains `:`",
            ),
            (
                r#"{"systemd.credentials": [{"name": "a", "data": "!!"}]}"#,
                "not valid base64",
            ),
            (
                r#"{"systemd.credentials": [{"name": "a", "text": "x"}, {"name": "a", "text": "y"}]}"#,
                "already used",
            ),
            (
                r#"{"systemd.credentials": {"name": "a"}}"#,
                "to be an array, found an object",
            ),
            (
                r#"{"systemd.credentials": [{"name": 5, "text": "x"}]}"#,
                "expected `name` to be a string, found a number",
            ),
        ];
        for (payload, want) in cases {
            let e = err(payload);
            assert!(e.message().contains(want), "{payload}: {e}");
            let (line, column) = e.position();
            assert_eq!(line, 1, "{payload}: {e}");
            assert!(column > 20, "{payload}: {e}");
        }
    }

    #[test]
    fn values_never_reach_errors_or_debug() {
        let secret = "hunter2-SECRET";
        let payloads = [
            format!(
                r#"{{"systemd.credentials": [{{"name": "a", "text": "{secret}", "data": "eA=="}}]}}"#
            ),
            format!(r#"{{"systemd.credentials": "{secret}"}}"#),
            format!(r#"{{"systemd.credentials": [{{"name": "a", "text": ["{secret}"]}}]}}"#),
            format!(r#"{{"systemd.credentials": ["{secret}"]}}"#),
            format!(r#"["{secret}"]"#),
        ];
        for p in payloads {
            let e = parse(p.as_bytes()).unwrap_err();
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
        let ok = parse(
            format!(r#"{{"systemd.credentials": [{{"name": "a", "text": "{secret}"}}]}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert!(!format!("{ok:?}").contains(secret));
    }

    #[test]
    fn nul_and_invalid_utf8_are_refused() {
        assert!(matches!(
            parse(b"{\"a\":\"\0\"}"),
            Err(SystemdUserDataError::Nul { offset: 6 })
        ));
        assert!(matches!(
            parse(b"{\"a\":\"\xff\"}"),
            Err(SystemdUserDataError::NotUtf8 { offset: 6 })
        ));
    }
}
