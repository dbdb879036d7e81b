//! The YAML 1.1 loader: text (or bytes) to one [`Node`] tree with the answers PyYAML's
//! `yaml.safe_load` gives. The event parser (`yaml-rust2`) does the syntax; this module
//! resolves tags itself (see [`resolve`]), builds nodes without recursion, applies merge
//! keys, keeps the last of duplicate keys, and bounds depth and alias expansion so that
//! no input can make it panic, overflow the stack or exhaust memory.

mod resolve;
mod tabs;

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag as EventTag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::{CloudConfigError, Mark, Node, Value};
use resolve::Tag;

/// Deepest nesting of collections accepted (PyYAML fails near Python's recursion limit;
/// the event parser refuses beyond 255 levels).
pub const MAX_DEPTH: usize = 200;

/// Most nodes one document may produce, counting every copy an alias makes (a copied
/// string also counts one node per 64 bytes). This is the bound that defeats "billion
/// laughs" documents.
pub const MAX_NODES: usize = 1_000_000;

/// Loads one YAML document from bytes, decoding them as PyYAML does: a UTF-8 (or
/// UTF-16 with a byte-order mark) stream. Undecodable bytes are an error with the line
/// and column where they start.
pub fn load_bytes(bytes: &[u8]) -> Result<Node, CloudConfigError> {
    let text = decode(bytes)?;
    load(&text)
}

/// Loads one YAML document as `yaml.safe_load` would. An empty document is `Null`.
pub fn load(text: &str) -> Result<Node, CloudConfigError> {
    load_limited(text, MAX_DEPTH, MAX_NODES)
}

/// [`load`] with other caps on nesting and on the nodes produced (`strap_limits`'
/// `yaml_max_depth` and `yaml_max_nodes`). The parser itself holds at most 255 levels of
/// flow collections, whatever `max_depth` says.
pub fn load_limited(
    text: &str,
    max_depth: usize,
    max_nodes: usize,
) -> Result<Node, CloudConfigError> {
    check_printable(text)?;
    // PyYAML skips one byte-order mark at the start of the stream.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Builder {
        max_depth,
        max_nodes,
        ..Builder::default()
    }
    .run(text)
}

fn decode(bytes: &[u8]) -> Result<String, CloudConfigError> {
    let utf16 = |data: &[u8], le: bool| -> Result<String, CloudConfigError> {
        let units: Vec<u16> = data
            .chunks(2)
            .map(|c| {
                let pair = [c[0], c.get(1).copied().unwrap_or(0)];
                if le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| CloudConfigError::Encoding {
            line: 1,
            column: 1,
            offset: 0,
            message: "the UTF-16 stream holds an unpaired surrogate".into(),
        })
    };
    if let Some(rest) = bytes.strip_prefix(b"\xff\xfe") {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xfe\xff") {
        return utf16(rest, false);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let offset = e.valid_up_to();
            let (line, column) = position_of(&bytes[..offset]);
            Err(CloudConfigError::Encoding {
                line,
                column,
                offset,
                message: format!(
                    "byte 0x{:02x} is not valid UTF-8; save the file as UTF-8",
                    bytes[offset]
                ),
            })
        }
    }
}

/// 1-based line and column just after `prefix` (valid UTF-8 up to there).
fn position_of(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// PyYAML's reader refuses control characters other than tab, LF, CR and NEL.
fn check_printable(text: &str) -> Result<(), CloudConfigError> {
    let printable = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{85}')
            || ('\u{20}'..='\u{7e}').contains(&c)
            || ('\u{a0}'..='\u{d7ff}').contains(&c)
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}'
    };
    match text.char_indices().find(|(_, c)| !printable(*c)) {
        None => Ok(()),
        Some((offset, c)) => {
            let (line, column) = position_of(&text.as_bytes()[..offset]);
            Err(CloudConfigError::Encoding {
                line,
                column,
                offset,
                message: format!(
                    "unacceptable character #x{:04x}: special characters are not allowed",
                    u32::from(c)
                ),
            })
        }
    }
}

fn mark_of(m: &Marker) -> Mark {
    Mark {
        line: m.line(),
        column: m.col() + 1,
    }
}

/// Whether a key is the merge key `<<` (plain, or tagged `!!merge`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Plain,
    Merge,
    /// `=` (`tag:yaml.org,2002:value`): a string as a key, an error as a value.
    Value,
}

/// A collection being built.
enum Frame {
    Seq {
        mark: Mark,
        anchor: usize,
        tag: Collection,
        items: Vec<Node>,
    },
    Map {
        mark: Mark,
        anchor: usize,
        tag: Collection,
        entries: Vec<(Node, KeyKind, Node)>,
        key: Option<(Node, KeyKind)>,
    },
}

/// The tag of a collection, as far as `SafeConstructor` cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Collection {
    Default,
    Set,
    Omap,
}

#[derive(Default)]
struct Builder {
    /// Deepest nesting accepted, and most nodes produced ([`MAX_DEPTH`], [`MAX_NODES`]
    /// unless the caller said otherwise; 0 stands for those defaults).
    max_depth: usize,
    max_nodes: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes produced so far, alias copies included.
    produced: usize,
    /// Quoted and block scalars seen, for the tab check.
    spans: Vec<tabs::Span>,
    /// A block scalar whose end is the start of the next event.
    open_block: Option<usize>,
}

fn error_at(mark: Mark, message: impl Into<String>) -> CloudConfigError {
    CloudConfigError::Construct {
        line: mark.line,
        column: mark.column,
        message: message.into(),
    }
}

fn tag_uri(tag: &EventTag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// The weight of a tree for [`MAX_NODES`], counted without recursion.
fn size_of(node: &Node) -> usize {
    let mut count: usize = 0;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count = count.saturating_add(1);
        match &n.value {
            Value::Str(s) | Value::Timestamp(s) => count = count.saturating_add(s.len() / 64),
            Value::Bytes(b) => count = count.saturating_add(b.len() / 64),
            Value::Seq(items) => todo.extend(items.iter()),
            Value::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
            _ => {}
        }
    }
    count
}

impl Builder {
    fn run(mut self, text: &str) -> Result<Node, CloudConfigError> {
        let root = self.build(text)?;
        tabs::check(text, &self.spans)?;
        Ok(root)
    }

    fn build(&mut self, text: &str) -> Result<Node, CloudConfigError> {
        let mut parser = Parser::new_from_str(text);
        let mut root: Option<Node> = None;
        let mut documents = 0;
        loop {
            let (event, marker) = parser.next_token().map_err(|e| CloudConfigError::Yaml {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_string(),
            })?;
            let mark = mark_of(&marker);
            if let Some(start) = self.open_block.take() {
                self.spans.push(tabs::Span::Block {
                    start,
                    end: marker.index(),
                });
            }
            match event {
                Event::StreamEnd => break,
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        return Err(CloudConfigError::Yaml {
                            line: mark.line,
                            column: mark.column,
                            message: "expected a single document in the stream, but found \
                                      another document"
                                .into(),
                        });
                    }
                    self.anchors.clear();
                }
                Event::Alias(id) => {
                    let size = self
                        .anchors
                        .get(&id)
                        .map(|(_, size)| *size)
                        .ok_or_else(|| error_at(mark, "found undefined alias"))?;
                    self.count(size, mark)?;
                    let Some((node, _)) = self.anchors.get(&id) else {
                        return Err(error_at(mark, "found undefined alias"));
                    };
                    let mut node = node.clone();
                    node.mark = mark;
                    if let Some(done) = self.push(node, KeyKind::Plain)? {
                        root = Some(done);
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    self.count(1, mark)?;
                    match style {
                        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                            self.spans.push(tabs::Span::Quoted {
                                start: marker.index(),
                                double: style == TScalarStyle::DoubleQuoted,
                            });
                        }
                        TScalarStyle::Literal | TScalarStyle::Folded => {
                            self.open_block = Some(marker.index());
                        }
                        TScalarStyle::Plain => {}
                    }
                    let (node, kind) = scalar(&text, style, tag.as_ref(), mark)?;
                    if anchor > 0 {
                        let size = size_of(&node);
                        self.anchors.insert(anchor, (node.clone(), size));
                    }
                    if let Some(done) = self.push(node, kind)? {
                        root = Some(done);
                    }
                }
                Event::SequenceStart(anchor, tag) => {
                    self.count(1, mark)?;
                    let tag = collection_tag(tag.as_ref(), "sequence", mark)?;
                    self.open(
                        Frame::Seq {
                            mark,
                            anchor,
                            tag,
                            items: Vec::new(),
                        },
                        mark,
                    )?;
                }
                Event::MappingStart(anchor, tag) => {
                    self.count(1, mark)?;
                    let tag = collection_tag(tag.as_ref(), "mapping", mark)?;
                    self.open(
                        Frame::Map {
                            mark,
                            anchor,
                            tag,
                            entries: Vec::new(),
                            key: None,
                        },
                        mark,
                    )?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = self.stack.pop() else {
                        return Err(error_at(mark, "unbalanced end of a collection"));
                    };
                    let (node, anchor) = finish(frame)?;
                    if anchor > 0 {
                        let size = size_of(&node);
                        self.anchors.insert(anchor, (node.clone(), size));
                    }
                    if let Some(done) = self.push(node, KeyKind::Plain)? {
                        root = Some(done);
                    }
                }
            }
        }
        Ok(root.unwrap_or(Node {
            value: Value::Null,
            mark: Mark { line: 1, column: 1 },
        }))
    }

    fn count(&mut self, n: usize, mark: Mark) -> Result<(), CloudConfigError> {
        self.produced = self.produced.saturating_add(n);
        let max_nodes = if self.max_nodes == 0 {
            MAX_NODES
        } else {
            self.max_nodes
        };
        if self.produced > max_nodes {
            return Err(CloudConfigError::Limit {
                line: mark.line,
                column: mark.column,
                message: format!(
                    "the document expands to more than {max_nodes} nodes (aliases included; \
                     limit strap_limits.yaml_max_nodes); remove the nested aliases"
                ),
            });
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, mark: Mark) -> Result<(), CloudConfigError> {
        let max_depth = if self.max_depth == 0 {
            MAX_DEPTH
        } else {
            self.max_depth
        };
        if self.stack.len() >= max_depth {
            return Err(CloudConfigError::Limit {
                line: mark.line,
                column: mark.column,
                message: format!(
                    "collections nest deeper than {max_depth} levels (limit strap_limits.yaml_max_depth)"
                ),
            });
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Adds a finished node to the open collection; returns it when it is the root.
    fn push(&mut self, node: Node, kind: KeyKind) -> Result<Option<Node>, CloudConfigError> {
        let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
        if !is_key && kind != KeyKind::Plain {
            let tag = if kind == KeyKind::Merge {
                "merge"
            } else {
                "value"
            };
            return Err(error_at(
                node.mark,
                format!("could not determine a constructor for the tag 'tag:yaml.org,2002:{tag}'"),
            ));
        }
        match self.stack.last_mut() {
            None => Ok(Some(node)),
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(None)
            }
            Some(Frame::Map {
                entries, key, mark, ..
            }) => {
                match key.take() {
                    None => {
                        // The parser places a block mapping just after its first key's
                        // first character; PyYAML places it at the key.
                        if entries.is_empty()
                            && node.mark.line == mark.line
                            && node.mark.column < mark.column
                        {
                            *mark = node.mark;
                        }
                        *key = Some((node, kind));
                    }
                    Some((k, k_kind)) => entries.push((k, k_kind, node)),
                }
                Ok(None)
            }
        }
    }
}

fn collection_tag(
    tag: Option<&EventTag>,
    kind: &str,
    mark: Mark,
) -> Result<Collection, CloudConfigError> {
    let Some(tag) = tag else {
        return Ok(Collection::Default);
    };
    let uri = tag_uri(tag);
    match (uri.as_str(), kind) {
        ("!", _) | ("tag:yaml.org,2002:seq", "sequence") | ("tag:yaml.org,2002:map", "mapping") => {
            Ok(Collection::Default)
        }
        ("tag:yaml.org,2002:set", "mapping") => Ok(Collection::Set),
        ("tag:yaml.org,2002:omap" | "tag:yaml.org,2002:pairs", "sequence") => Ok(Collection::Omap),
        _ => Err(error_at(
            mark,
            format!("could not determine a constructor for the tag '{uri}' on a {kind}"),
        )),
    }
}

fn scalar(
    text: &str,
    style: TScalarStyle,
    tag: Option<&EventTag>,
    mark: Mark,
) -> Result<(Node, KeyKind), CloudConfigError> {
    let resolved = match tag {
        Some(tag) => {
            let uri = tag_uri(tag);
            if uri == "!" {
                // PyYAML resolves a scalar with the non-specific tag as if it were
                // plain, even when it is quoted.
                resolve::resolve_plain(text)
            } else {
                Tag::from_uri(&uri).ok_or_else(|| {
                    error_at(
                        mark,
                        format!("could not determine a constructor for the tag '{uri}'"),
                    )
                })?
            }
        }
        None if style == TScalarStyle::Plain => resolve::resolve_plain(text),
        None => Tag::Str,
    };
    let kind = match resolved {
        Tag::Merge => KeyKind::Merge,
        Tag::Value => KeyKind::Value,
        _ => KeyKind::Plain,
    };
    // A merge key has no value of its own; `=` as a key reads as the string "=".
    let value = match resolved {
        Tag::Merge => Value::Str(text.to_string()),
        Tag::Value => Value::Str(text.to_string()),
        other => resolve::construct(other, text).map_err(|m| error_at(mark, m))?,
    };
    Ok((Node { value, mark }, kind))
}

/// Closes a collection: applies merge keys and duplicate-key rules to mappings.
fn finish(frame: Frame) -> Result<(Node, usize), CloudConfigError> {
    match frame {
        Frame::Seq {
            mark,
            anchor,
            tag,
            items,
        } => {
            if tag == Collection::Omap {
                let mut pairs = Vec::with_capacity(items.len());
                for item in items {
                    match item.value {
                        Value::Map(mut entries) if entries.len() == 1 => {
                            let (k, v) = entries.remove(0);
                            pairs.push(Node {
                                value: Value::Seq(vec![k, v]),
                                mark: item.mark,
                            });
                        }
                        _ => {
                            return Err(error_at(
                                item.mark,
                                "expected a single mapping item while constructing an ordered map",
                            ))
                        }
                    }
                }
                return Ok((
                    Node {
                        value: Value::Seq(pairs),
                        mark,
                    },
                    anchor,
                ));
            }
            Ok((
                Node {
                    value: Value::Seq(items),
                    mark,
                },
                anchor,
            ))
        }
        Frame::Map {
            mark,
            anchor,
            tag,
            entries,
            key,
        } => {
            let mut entries = entries;
            if let Some((k, kind)) = key {
                // A key without a value (only possible in malformed streams): null value.
                let null = Node {
                    value: Value::Null,
                    mark: k.mark,
                };
                entries.push((k, kind, null));
            }
            let mut flat: Vec<(Node, Node)> = Vec::new();
            let mut own: Vec<(Node, Node)> = Vec::new();
            for (k, kind, v) in entries {
                if kind == KeyKind::Merge {
                    flat.extend(merge_source(v)?);
                } else {
                    own.push((k, v));
                }
            }
            flat.extend(own);
            let mut map = dedup(flat)?;
            if tag == Collection::Set {
                for (_, v) in &mut map {
                    v.value = Value::Null;
                }
            }
            Ok((
                Node {
                    value: Value::Map(map),
                    mark,
                },
                anchor,
            ))
        }
    }
}

/// The entries a `<<` value contributes, in PyYAML's order: for a list of mappings the
/// later ones come first, so that after "last wins" the first mapping listed wins.
fn merge_source(value: Node) -> Result<Vec<(Node, Node)>, CloudConfigError> {
    match value.value {
        Value::Map(entries) => Ok(entries),
        Value::Seq(items) => {
            let mut groups = Vec::with_capacity(items.len());
            for item in items {
                match item.value {
                    Value::Map(entries) => groups.push(entries),
                    _ => {
                        return Err(error_at(
                            item.mark,
                            "while constructing a mapping: expected a mapping for merging",
                        ))
                    }
                }
            }
            Ok(groups.into_iter().rev().flatten().collect())
        }
        _ => Err(error_at(
            value.mark,
            "while constructing a mapping: expected a mapping or list of mappings for merging",
        )),
    }
}

/// How Python hashes a key: `1`, `1.0` and `True` are the same key.
#[derive(Hash, PartialEq, Eq)]
pub(crate) enum KeyId {
    Null,
    Int(i64),
    Float(u64),
    Str(String),
    Bytes(Vec<u8>),
    Timestamp(String),
}

/// The identity of a hashable key, `None` for a list or mapping.
pub(crate) fn hash_key(node: &Node) -> Option<KeyId> {
    key_id(node).ok()
}

fn key_id(node: &Node) -> Result<KeyId, CloudConfigError> {
    Ok(match &node.value {
        Value::Null => KeyId::Null,
        Value::Bool(b) => KeyId::Int(i64::from(*b)),
        Value::Int(i) => KeyId::Int(*i),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                KeyId::Int(*f as i64)
            } else {
                KeyId::Float(f.to_bits())
            }
        }
        Value::Str(s) => KeyId::Str(s.clone()),
        Value::Bytes(b) => KeyId::Bytes(b.clone()),
        Value::Timestamp(t) => KeyId::Timestamp(t.clone()),
        Value::Seq(_) | Value::Map(_) => {
            return Err(error_at(
                node.mark,
                "while constructing a mapping: found unhashable key",
            ))
        }
    })
}

/// Python dict semantics: a repeated key keeps its first position and its first key
/// object, and takes the last value.
fn dedup(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, CloudConfigError> {
    let mut index: HashMap<KeyId, usize> = HashMap::with_capacity(entries.len());
    let mut out: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let id = key_id(&k)?;
        match index.get(&id) {
            Some(&i) => out[i].1 = v,
            None => {
                index.insert(id, out.len());
                out.push((k, v));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod tests;
