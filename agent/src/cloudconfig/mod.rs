//! cloud-config documents: loaded as PyYAML loads them (YAML 1.1), merged as cloud-init
//! merges them, and checked against a schema. The boot reads module settings from the
//! [`Node`] tree this module produces; it never parses YAML itself.
//!
//! - [`yaml`]: the YAML 1.1 loader ([`load`], [`load_bytes`]).
//! - [`merge`]: merging parts as cloud-init does ([`merge_parts`], [`merge_all`]).
//! - [`schema`]: checking a config as `cloud-init schema` does ([`schema::validate`]).

pub mod merge;
pub mod schema;
pub mod yaml;

pub use merge::{merge_all, merge_parts, merge_sources, MergeError, Merged};

/// Where a node starts in its document (1-based line and column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

/// A YAML value as PyYAML would construct it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `!!binary`.
    Bytes(Vec<u8>),
    /// A YAML 1.1 timestamp (`2001-12-14`), kept as written.
    Timestamp(String),
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(Node, Node)>),
}

/// A value with the position it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

impl Node {
    /// A node with no position (built in code, or merged).
    pub fn new(value: Value) -> Self {
        Self {
            value,
            mark: Mark::default(),
        }
    }

    /// The value under a string key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Equality as Python compares what PyYAML built: positions are ignored, mappings
    /// compare as dicts (order does not matter) and `1 == 1.0 == True`.
    pub fn eq_value(&self, other: &Node) -> bool {
        fn number(v: &Value) -> Option<f64> {
            match v {
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                Value::Int(i) => Some(*i as f64),
                Value::Float(f) => Some(*f),
                _ => None,
            }
        }
        match (&self.value, &other.value) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Null, Value::Null) => true,
            (Value::Str(a), Value::Str(b)) | (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_value(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| {
                        b.iter()
                            .find(|(k2, _)| k.eq_value(k2))
                            .is_some_and(|(_, v2)| v.eq_value(v2))
                    })
            }
            (a, b) => match (number(a), number(b)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The value as JSON (bytes as base64-free lossy text, timestamps as strings), for
    /// output and instance data.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) | Value::Timestamp(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (key_text(k), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl Node {
    /// The text of a mapping key as cloud-init's messages and JSON show it.
    pub fn key_text(&self) -> String {
        key_text(self)
    }

    /// Python's `repr()` of the value PyYAML would have built (`'text'`, `True`, `None`,
    /// `[1, 2]`, `{'a': b'x'}`, `datetime.date(2001, 12, 14)`).
    pub fn to_python_repr(&self) -> String {
        match &self.value {
            Value::Null => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) if f.is_nan() => "nan".into(),
            Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
            Value::Float(f) => format!("{f:?}"),
            Value::Str(s) => python_str(s),
            Value::Bytes(b) => python_bytes(b),
            Value::Timestamp(t) => python_date(t).unwrap_or_else(|| python_str(t)),
            Value::Seq(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Node::to_python_repr)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.to_python_repr(), v.to_python_repr()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn python_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn python_bytes(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            c if char::from(c) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(c)),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

/// `datetime.date(2001, 12, 14)` for a date-only timestamp.
fn python_date(t: &str) -> Option<String> {
    let mut parts = t.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || d.len() != 2 {
        return None;
    }
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    Some(format!("datetime.date({y}, {m}, {d})"))
}

fn key_text(node: &Node) -> String {
    match &node.value {
        Value::Str(s) | Value::Timestamp(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::Null => "None".to_string(),
        other => format!("{other:?}"),
    }
}

/// Errors from loading a cloud-config document. Lines and columns are 1-based.
#[derive(Debug, thiserror::Error)]
pub enum CloudConfigError {
    /// The text is not well-formed YAML.
    #[error("invalid YAML at line {line}, column {column}: {message}")]
    Yaml {
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed YAML that PyYAML's safe loader would refuse to build (unknown tag,
    /// bad `!!int`, a list as a key, a bad merge key).
    #[error("cannot load YAML value at line {line}, column {column}: {message}")]
    Construct {
        line: usize,
        column: usize,
        message: String,
    },
    /// The bytes are not text PyYAML would read.
    #[error("cannot read YAML text at line {line}, column {column} (byte {offset}): {message}")]
    Encoding {
        line: usize,
        column: usize,
        offset: usize,
        message: String,
    },
    /// The document is too deep or expands (through aliases) to too many nodes.
    #[error("YAML document too large at line {line}, column {column}: {message}")]
    Limit {
        line: usize,
        column: usize,
        message: String,
    },
}

impl CloudConfigError {
    /// Where the problem is (1-based line and column).
    pub fn mark(&self) -> Mark {
        match self {
            Self::Yaml { line, column, .. }
            | Self::Construct { line, column, .. }
            | Self::Encoding { line, column, .. }
            | Self::Limit { line, column, .. } => Mark {
                line: *line,
                column: *column,
            },
        }
    }
}

pub use yaml::{load, load_bytes, load_limited, MAX_DEPTH, MAX_NODES};
