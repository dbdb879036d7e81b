//! Merging several cloud-config parts into one, as cloud-init's cloud-config handler and
//! its `dict`/`list`/`str` mergers do. Each part is merged into the buffer (which starts
//! as an empty mapping) with the mergers named by that part's own `merge_how` (or
//! `merge_type`) key, followed by those of its `Merge-Type` (or `X-Merge-Type`) MIME
//! header, or else the default `dict(replace)+list()+str()`. The merge is pure: it
//! reads nodes and builds new ones, and never touches the system.

use std::collections::HashMap;

use super::yaml::{hash_key, KeyId};
use super::{Node, Value};

/// The mergers used when a user-data part names none.
pub const DEFAULT_MERGE_HOW: &str = "dict(replace)+list()+str()";

/// The mergers used between configuration sources (`util.mergemanydict`) when a source
/// names none: keys are added recursively, existing values are never replaced.
pub const DEFAULT_SOURCE_MERGE_HOW: &str = "list()+dict()+str()";

/// Errors from reading a part's merge settings or merging it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    /// The part is not a mapping (or is empty), so cloud-init skips it.
    #[error("cloud-config part {part} is not a mapping (found {found}); the part is skipped")]
    NotAMapping { part: usize, found: &'static str },
    /// A `merge_how` string item is not `name(opt,opt)`.
    #[error(
        "cloud-config part {part}: merger '{text}' is not in the right format; write it as \
         name(option,option), e.g. list(append)"
    )]
    BadFormat { part: usize, text: String },
    /// A merger name other than dict, list or str.
    #[error("cloud-config part {part}: unknown merger '{name}'; use dict, list or str")]
    UnknownMerger { part: usize, name: String },
    /// `merge_how` is neither a string nor a list of mergers.
    #[error(
        "cloud-config part {part} (line {line}): merge_how must be a string or a list of \
         {{name, settings}} mappings"
    )]
    BadMergeHow { part: usize, line: usize },
    /// The mergers were asked to combine values Python cannot combine (a string appended
    /// to a list, a number extended into a list).
    #[error("cloud-config part {part}: cannot merge a {new} into a {old} (line {line})")]
    Incompatible {
        part: usize,
        old: &'static str,
        new: &'static str,
        line: usize,
    },
}

impl MergeError {
    /// Which part (0-based, in merge order) the error is about.
    pub fn part(&self) -> usize {
        match self {
            Self::NotAMapping { part, .. }
            | Self::BadFormat { part, .. }
            | Self::UnknownMerger { part, .. }
            | Self::BadMergeHow { part, .. }
            | Self::Incompatible { part, .. } => *part,
        }
    }
}

/// One merger with its options, as parsed from `merge_how` or a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergerSpec {
    pub name: String,
    pub options: Vec<String>,
}

/// The result of merging with cloud-init's policy: parts that cannot be merged are
/// skipped, and the reasons are kept.
#[derive(Debug)]
pub struct Merged {
    pub config: Node,
    pub skipped: Vec<MergeError>,
}

/// Merges parts in order; each part comes with its MIME `Merge-Type` header, if any.
/// Fails on the first part that cannot be merged (see [`merge_all`] to skip it instead).
pub fn merge_parts(parts: &[(Node, Option<String>)]) -> Result<Node, MergeError> {
    let mut buf = Node::new(Value::Map(Vec::new()));
    for (index, (part, header)) in parts.iter().enumerate() {
        buf = merge_part(buf, index, part, header.as_deref(), DEFAULT_MERGE_HOW)?;
    }
    Ok(buf)
}

/// Merges configuration sources, highest priority first, as cloud-init merges its
/// system config (command line, `cloud.cfg.d/*.cfg`, `cloud.cfg`, builtins) and the
/// user's merged cloud-config: a source's own `merge_how` applies, otherwise an earlier
/// source's values are kept and only missing keys are added. Empty sources are skipped.
pub fn merge_sources(sources: &[Node]) -> Result<Node, MergeError> {
    let mut buf = Node::new(Value::Map(Vec::new()));
    for (index, source) in sources.iter().enumerate() {
        match &source.value {
            Value::Map(entries) if !entries.is_empty() => {
                buf = merge_part(buf, index, source, None, DEFAULT_SOURCE_MERGE_HOW)?;
            }
            _ => {}
        }
    }
    Ok(buf)
}

/// Merges parts in order as cloud-init does, skipping (and recording) the parts it
/// would skip.
pub fn merge_all(parts: &[(Node, Option<String>)]) -> Merged {
    let mut buf = Node::new(Value::Map(Vec::new()));
    let mut skipped = Vec::new();
    for (index, (part, header)) in parts.iter().enumerate() {
        match merge_part(
            buf.clone(),
            index,
            part,
            header.as_deref(),
            DEFAULT_MERGE_HOW,
        ) {
            Ok(next) => buf = next,
            Err(e) => skipped.push(e),
        }
    }
    Merged {
        config: buf,
        skipped,
    }
}

fn merge_part(
    buf: Node,
    index: usize,
    part: &Node,
    header: Option<&str>,
    default: &str,
) -> Result<Node, MergeError> {
    let Value::Map(entries) = &part.value else {
        return Err(MergeError::NotAMapping {
            part: index,
            found: type_name(&part.value),
        });
    };
    // `merge_how` (else `merge_type`) is taken out of the part before it is merged.
    let mut entries = entries.clone();
    let mut raw = take_key(&mut entries, "merge_how").filter(|n| !n.is_null());
    if raw.is_none() {
        raw = take_key(&mut entries, "merge_type").filter(|n| !n.is_null());
    }
    let mut specs = match &raw {
        Some(node) => from_node(node, index)?,
        None => Vec::new(),
    };
    specs.extend(parse_merge_how(header.unwrap_or(""), index)?);
    if specs.is_empty() {
        specs = parse_merge_how(default, index)?;
    }
    let mergers = Mergers::build(&specs, index)?;
    let part = Node {
        value: Value::Map(entries),
        mark: part.mark,
    };
    mergers.merge(buf, &part)
}

fn take_key(entries: &mut Vec<(Node, Node)>, key: &str) -> Option<Node> {
    let pos = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
    Some(entries.remove(pos).1)
}

/// Parses the string form, `dict(recurse_array,no_replace)+list(append)`: names and
/// options are lowercased and `-` becomes `_`.
pub fn parse_merge_how(text: &str, part: usize) -> Result<Vec<MergerSpec>, MergeError> {
    let mut specs = Vec::new();
    for item in text.split('+') {
        let item = item.trim().to_lowercase().replace('-', "_");
        if item.is_empty() {
            continue;
        }
        let bad = || MergeError::BadFormat {
            part,
            text: item.clone(),
        };
        let open = item.find('(').ok_or_else(bad)?;
        let name = &item[..open];
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name || !item.ends_with(')') || item.contains('\n') {
            return Err(bad());
        }
        let inner = &item[open + 1..item.len() - 1];
        let options = inner
            .trim()
            .split(',')
            .map(|o| o.trim().to_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        specs.push(MergerSpec {
            name: name.to_string(),
            options,
        });
    }
    Ok(specs)
}

/// Parses `merge_how` as a YAML value: a string, or a list of `{name, settings}`
/// mappings or `[name, option...]` lists (names lose `-` but keep their case).
fn from_node(node: &Node, part: usize) -> Result<Vec<MergerSpec>, MergeError> {
    let bad = || MergeError::BadMergeHow {
        part,
        line: node.mark.line,
    };
    if let Some(text) = node.as_str() {
        return parse_merge_how(text, part);
    }
    let items = node.as_seq().ok_or_else(bad)?;
    let mut specs = Vec::new();
    for item in items {
        let (name, options) = match &item.value {
            Value::Map(_) => {
                let name = item.get("name").and_then(Node::as_str).ok_or_else(bad)?;
                let settings = item.get("settings").ok_or_else(bad)?;
                let options = match &settings.value {
                    Value::Seq(opts) => opts
                        .iter()
                        .map(|o| o.as_str().map(str::to_string).ok_or_else(bad))
                        .collect::<Result<Vec<_>, _>>()?,
                    Value::Str(s) => s.chars().map(String::from).collect(),
                    _ => return Err(bad()),
                };
                (name.replace('-', "_").trim().to_string(), options)
            }
            Value::Seq(parts) => {
                let mut strings = parts
                    .iter()
                    .map(|o| o.as_str().map(str::to_string).ok_or_else(bad));
                let name = strings.next().ok_or_else(bad)??;
                (name, strings.collect::<Result<Vec<_>, _>>()?)
            }
            _ => return Err(bad()),
        };
        if !name.is_empty() {
            specs.push(MergerSpec { name, options });
        }
    }
    Ok(specs)
}

/// The list merger's way of combining old and new items.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ListMethod {
    Append,
    Prepend,
    Replace,
    NoReplace,
}

struct DictMerger {
    replace: bool,
    recurse_str: bool,
    recurse_array: bool,
    allow_delete: bool,
}

struct ListMerger {
    method: ListMethod,
    recurse_str: bool,
    recurse_dict: bool,
    recurse_array: bool,
}

struct StrMerger {
    append: bool,
}

enum Merger {
    Dict(DictMerger),
    List(ListMerger),
    Str(StrMerger),
}

/// The mergers of one part, looked up in order by the type of the old value: the first
/// that handles that type does the merge; a value no merger handles is kept as it was.
struct Mergers {
    list: Vec<Merger>,
    part: usize,
}

fn has(options: &[String], name: &str) -> bool {
    options.iter().any(|o| o == name)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "string",
        Value::Bytes(_) => "binary",
        Value::Timestamp(_) => "timestamp",
        Value::Seq(_) => "list",
        Value::Map(_) => "mapping",
    }
}

impl Mergers {
    fn build(specs: &[MergerSpec], part: usize) -> Result<Self, MergeError> {
        let mut list = Vec::new();
        for spec in specs {
            let name = spec.name.strip_prefix("m_").unwrap_or(&spec.name);
            let o = &spec.options;
            list.push(match name {
                "dict" => Merger::Dict(DictMerger {
                    // "replace" is looked for before "no_replace", the default.
                    replace: has(o, "replace"),
                    recurse_str: has(o, "recurse_str"),
                    recurse_array: has(o, "recurse_array") || has(o, "recurse_list"),
                    allow_delete: has(o, "allow_delete"),
                }),
                "list" => Merger::List(ListMerger {
                    method: if has(o, "append") {
                        ListMethod::Append
                    } else if has(o, "prepend") {
                        ListMethod::Prepend
                    } else if has(o, "replace") {
                        ListMethod::Replace
                    } else if has(o, "no_replace") {
                        ListMethod::NoReplace
                    } else {
                        ListMethod::Replace
                    },
                    recurse_str: has(o, "recurse_str"),
                    recurse_dict: has(o, "recurse_dict"),
                    recurse_array: has(o, "recurse_array") || has(o, "recurse_list"),
                }),
                "str" => Merger::Str(StrMerger {
                    append: has(o, "append"),
                }),
                _ => {
                    return Err(MergeError::UnknownMerger {
                        part,
                        name: spec.name.clone(),
                    })
                }
            });
        }
        Ok(Self { list, part })
    }

    fn merge(&self, old: Node, new: &Node) -> Result<Node, MergeError> {
        for merger in &self.list {
            match (merger, &old.value) {
                (Merger::Dict(m), Value::Map(_)) => return self.on_dict(m, old, new),
                (Merger::List(m), Value::Seq(_)) => return self.on_list(m, old, new),
                (Merger::Str(m), Value::Str(_)) => return self.on_str(m, old, new),
                _ => {}
            }
        }
        Ok(old)
    }

    fn incompatible(&self, old: &Node, new: &Node) -> MergeError {
        MergeError::Incompatible {
            part: self.part,
            old: type_name(&old.value),
            new: type_name(&new.value),
            line: new.mark.line,
        }
    }

    fn on_dict(&self, m: &DictMerger, old: Node, new: &Node) -> Result<Node, MergeError> {
        let mark = old.mark;
        let merged = match old.value {
            Value::Map(entries) => entries,
            other => return Ok(Node { value: other, mark }),
        };
        let Value::Map(new_entries) = &new.value else {
            return Ok(Node {
                value: Value::Map(merged),
                mark,
            });
        };
        // Slots keep Python's dict order; a deleted key leaves an empty slot.
        let mut index: HashMap<KeyId, usize> = merged
            .iter()
            .enumerate()
            .filter_map(|(i, (k, _))| hash_key(k).map(|id| (id, i)))
            .collect();
        let mut slots: Vec<Option<(Node, Node)>> = merged.into_iter().map(Some).collect();
        for (k, v) in new_entries {
            let found = hash_key(k).and_then(|id| index.get(&id).copied());
            let Some(slot) = found.and_then(|i| slots.get_mut(i)) else {
                if let Some(id) = hash_key(k) {
                    index.insert(id, slots.len());
                }
                slots.push(Some((k.clone(), v.clone())));
                continue;
            };
            let Some((old_k, old_v)) = slot.take() else {
                continue;
            };
            if v.is_null() && m.allow_delete {
                if let Some(id) = hash_key(k) {
                    index.remove(&id);
                }
                continue;
            }
            let value = if m.replace {
                v.clone()
            } else {
                match &v.value {
                    Value::Seq(_) if m.recurse_array => self.merge(old_v, v)?,
                    Value::Str(_) if m.recurse_str => self.merge(old_v, v)?,
                    Value::Map(_) => self.merge(old_v, v)?,
                    _ => old_v,
                }
            };
            *slot = Some((old_k, value));
        }
        let merged: Vec<(Node, Node)> = slots.into_iter().flatten().collect();
        Ok(Node {
            value: Value::Map(merged),
            mark,
        })
    }

    fn on_list(&self, m: &ListMerger, old: Node, new: &Node) -> Result<Node, MergeError> {
        let Value::Seq(old_items) = &old.value else {
            return Ok(old);
        };
        if m.method == ListMethod::Replace && !matches!(new.value, Value::Seq(_)) {
            return Ok(new.clone());
        }
        let new_items = match m.method {
            ListMethod::Append | ListMethod::Prepend => self.as_items(&old, new)?,
            ListMethod::Replace | ListMethod::NoReplace => match &new.value {
                Value::Seq(items) => items.clone(),
                // Index-wise merging keeps the old items when nothing replaces them.
                Value::Str(_) | Value::Map(_) if m.method == ListMethod::NoReplace => Vec::new(),
                _ => return Err(self.incompatible(&old, new)),
            },
        };
        let mut merged: Vec<Node> = Vec::with_capacity(old_items.len() + new_items.len());
        match m.method {
            ListMethod::Prepend => {
                merged.extend(new_items);
                merged.extend(old_items.iter().cloned());
            }
            ListMethod::Append => {
                merged.extend(old_items.iter().cloned());
                merged.extend(new_items);
            }
            ListMethod::Replace | ListMethod::NoReplace => {
                merged.extend(old_items.iter().cloned());
                for (slot, new_v) in merged.iter_mut().zip(new_items) {
                    if m.method == ListMethod::NoReplace {
                        continue;
                    }
                    let old_v = slot.clone();
                    *slot = match &new_v.value {
                        Value::Seq(_) if m.recurse_array => self.merge(old_v, &new_v)?,
                        Value::Str(_) if m.recurse_str => self.merge(old_v, &new_v)?,
                        Value::Map(_) if m.recurse_dict => self.merge(old_v, &new_v)?,
                        _ => new_v,
                    };
                }
            }
        }
        Ok(Node {
            value: Value::Seq(merged),
            mark: old.mark,
        })
    }

    /// What Python's `list.extend(new)` takes from a non-list: a string's characters,
    /// a mapping's keys; anything else cannot be extended from.
    fn as_items(&self, old: &Node, new: &Node) -> Result<Vec<Node>, MergeError> {
        match &new.value {
            Value::Seq(items) => Ok(items.clone()),
            Value::Str(s) => Ok(s
                .chars()
                .map(|c| Node {
                    value: Value::Str(c.to_string()),
                    mark: new.mark,
                })
                .collect()),
            Value::Map(entries) => Ok(entries.iter().map(|(k, _)| k.clone()).collect()),
            _ => Err(self.incompatible(old, new)),
        }
    }

    fn on_str(&self, m: &StrMerger, old: Node, new: &Node) -> Result<Node, MergeError> {
        if !m.append {
            return Ok(new.clone());
        }
        match (&old.value, &new.value) {
            (Value::Str(a), Value::Str(b)) => Ok(Node {
                value: Value::Str(format!("{a}{b}")),
                mark: old.mark,
            }),
            _ => Err(self.incompatible(&old, new)),
        }
    }
}

#[cfg(test)]
mod tests;
