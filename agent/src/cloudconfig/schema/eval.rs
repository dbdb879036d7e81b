//! A small JSON-Schema (draft 4 subset) evaluator over [`Node`] trees, judging values
//! the way cloud-init's validator does: `string` also accepts `!!binary` bytes,
//! `integer` and `number` refuse booleans, and messages are jsonschema's wording.

use super::super::{Node, Value};
use super::Problem;

/// A JSON type name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Bool,
    Int,
    /// An integer or a float (never a boolean).
    Number,
    Null,
    Array,
    Object,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Bool => "boolean",
            Ty::Int => "integer",
            Ty::Number => "number",
            Ty::Null => "null",
            Ty::Array => "array",
            Ty::Object => "object",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Ty::Str => matches!(v, Value::Str(_) | Value::Bytes(_)),
            Ty::Bool => matches!(v, Value::Bool(_)),
            Ty::Int => matches!(v, Value::Int(_)),
            Ty::Number => matches!(v, Value::Int(_) | Value::Float(_)),
            Ty::Null => matches!(v, Value::Null),
            Ty::Array => matches!(v, Value::Seq(_)),
            Ty::Object => matches!(v, Value::Map(_)),
        }
    }
}

/// A literal of an `enum`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lit {
    Str(&'static str),
    Bool(bool),
}

impl Lit {
    fn matches(self, v: &Value) -> bool {
        match (self, v) {
            (Lit::Str(a), Value::Str(b)) => a == b,
            (Lit::Bool(a), Value::Bool(b)) => a == *b,
            _ => false,
        }
    }
    fn repr(self) -> String {
        match self {
            Lit::Str(s) => format!("'{s}'"),
            Lit::Bool(true) => "True".into(),
            Lit::Bool(false) => "False".into(),
        }
    }
}

/// What to do with properties an object schema does not list.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Extra {
    /// No `additionalProperties`: other properties may hold anything.
    Allow,
    /// `additionalProperties: false`.
    Deny,
    /// Every other property's value must match this schema (keys of any text).
    Each(&'static S),
    /// Other properties must have a name the checker accepts (the pattern as written
    /// in the schema) and match the schema.
    Named(fn(&str) -> bool, &'static str, &'static S),
}

/// A schema.
#[derive(Debug)]
pub(crate) enum S {
    Type(&'static [Ty]),
    Enum(&'static [Lit]),
    /// A string matching a pattern (checker, the pattern as written in the schema).
    Pattern(fn(&str) -> bool, &'static str),
    Array {
        items: &'static S,
        min: usize,
        max: Option<usize>,
        unique: bool,
    },
    Object {
        props: &'static [(&'static str, S)],
        required: &'static [&'static str],
        extra: Extra,
        min_props: usize,
    },
    /// A string in a `format` jsonschema's format checker knows (checker, the format's
    /// name); other values pass, as they do there.
    Format(fn(&str) -> bool, &'static str),
    /// An integer with a minimum.
    IntMin(i64),
    /// `minimum` alone: numbers below it fail, other values pass.
    Min(i64),
    /// Every schema must match (the keywords of one schema object, each reporting).
    All(&'static [S]),
    /// The schema applies only to values of this type; others pass (keywords such as
    /// `items` or `properties` beside a `type` list).
    Only(Ty, &'static S),
    /// cloud-init 25's `oneOf`: when no option matches, the deepest failures of all
    /// options are reported (`cloud_init_deepest_matches`), not the `oneOf` itself.
    OneOf(&'static [S]),
    /// `anyOf`: when no option matches, one error at the value.
    AnyOf(&'static [S]),
    /// `type: [..]` with keywords per type: the value must have one of the types, then
    /// match that type's schema.
    ByType(&'static [(Ty, S)]),
    /// Matches as the inner schema, with a deprecation warning when it does.
    Deprecated(&'static S, &'static str),
    /// Matches as the inner schema; the text is the Python `repr()` of cloud-init's
    /// schema for it, which a `oneOf` several options match names (`5 is valid under
    /// each of {'required': ['snapuser']}, {'required': ['name']}`).
    Shown(&'static S, &'static str),
}

/// Collects problems while walking.
pub(crate) struct Walk<'a> {
    pub errors: &'a mut Vec<Problem>,
    pub warnings: &'a mut Vec<Problem>,
}

impl Walk<'_> {
    /// Records an error at `node`; always `false`, the check's verdict.
    fn fail(&mut self, node: &Node, path: &str, message: String) -> bool {
        self.errors.push(problem(node, path, message));
        false
    }
}

fn problem(node: &Node, path: &str, message: String) -> Problem {
    Problem {
        line: node.mark.line,
        column: node.mark.column,
        path: path.to_string(),
        message,
    }
}

/// jsonschema's type error (`5 is not of type 'string', 'null'`); always `false`.
fn not_of_type(
    node: &Node,
    path: &str,
    walk: &mut Walk<'_>,
    types: impl Iterator<Item = Ty>,
) -> bool {
    let names = types
        .map(|t| format!("'{}'", t.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!("{} is not of type {names}", repr(node));
    walk.fail(node, path, message)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Python's `repr()` of a pattern, as jsonschema quotes it: `'^\\+?[0-9]+$'`.
fn pattern_repr(pattern: &str) -> String {
    format!("'{}'", pattern.replace('\\', "\\\\"))
}

/// The keys, each once, in Python's sorted order, as jsonschema lists extra properties
/// (`'a', 'b'`).
fn sorted_reprs(mut keys: Vec<&Node>) -> String {
    keys.sort_by_key(|k| k.key_text());
    keys.dedup_by(|a, b| a.eq_value(b));
    keys.into_iter().map(repr).collect::<Vec<_>>().join(", ")
}

/// Python's `repr()` of a node, as jsonschema quotes instances in messages.
pub(crate) fn repr(node: &Node) -> String {
    node.to_python_repr()
}

impl S {
    /// Checks `node` at `path`; returns whether it is valid. Problems go to `walk`.
    pub(crate) fn check(&self, node: &Node, path: &str, walk: &mut Walk<'_>) -> bool {
        match self {
            S::Type(types) => {
                if types.iter().any(|t| t.accepts(&node.value)) {
                    true
                } else {
                    not_of_type(node, path, walk, types.iter().copied())
                }
            }
            S::Enum(lits) => {
                if lits.iter().any(|l| l.matches(&node.value)) {
                    true
                } else {
                    let list = lits.iter().map(|l| l.repr()).collect::<Vec<_>>().join(", ");
                    walk.fail(node, path, format!("{} is not one of [{list}]", repr(node)))
                }
            }
            S::Pattern(f, pattern) => match &node.value {
                Value::Str(s) if f(s) => true,
                Value::Str(_) => walk.fail(
                    node,
                    path,
                    format!("{} does not match {}", repr(node), pattern_repr(pattern)),
                ),
                _ => S::Type(&[Ty::Str]).check(node, path, walk),
            },
            S::Format(f, name) => match &node.value {
                Value::Str(s) if !f(s) => {
                    walk.fail(node, path, format!("{} is not a '{name}'", repr(node)))
                }
                _ => true,
            },
            S::IntMin(min) => {
                if !S::Type(&[Ty::Int]).check(node, path, walk) {
                    return false;
                }
                if node.as_int().is_some_and(|i| i < *min) {
                    return walk.fail(
                        node,
                        path,
                        format!("{} is less than the minimum of {min}", repr(node)),
                    );
                }
                true
            }
            S::Array {
                items,
                min,
                max,
                unique,
            } => {
                let Value::Seq(list) = &node.value else {
                    return S::Type(&[Ty::Array]).check(node, path, walk);
                };
                let mut ok = true;
                if list.len() < *min {
                    ok = walk.fail(node, path, format!("{} is too short", repr(node)));
                }
                if max.is_some_and(|m| list.len() > m) {
                    ok = walk.fail(node, path, format!("{} is too long", repr(node)));
                }
                if *unique
                    && list
                        .iter()
                        .enumerate()
                        .any(|(i, a)| list[..i].iter().any(|b| a.eq_value(b)))
                {
                    ok = walk.fail(
                        node,
                        path,
                        format!("{} has non-unique elements", repr(node)),
                    );
                }
                for (i, item) in list.iter().enumerate() {
                    ok &= items.check(item, &join(path, &i.to_string()), walk);
                }
                ok
            }
            S::Object {
                props,
                required,
                extra,
                min_props,
            } => {
                let Value::Map(entries) = &node.value else {
                    return S::Type(&[Ty::Object]).check(node, path, walk);
                };
                let mut ok = true;
                for name in *required {
                    if node.get(name).is_none() {
                        ok = walk.fail(node, path, format!("'{name}' is a required property"));
                    }
                }
                if entries.len() < *min_props {
                    ok = walk.fail(
                        node,
                        path,
                        format!("{} does not have enough properties", repr(node)),
                    );
                }
                // jsonschema: `patternProperties` apply to every key they match, named
                // in `properties` or not; `additionalProperties: false` reports the keys
                // neither names once, sorted.
                let mut unexpected = Vec::new();
                let mut unmatched = Vec::new();
                for (k, v) in entries {
                    let key = k.key_text();
                    let child = join(path, &key);
                    let named = props.iter().find(|(name, _)| k.as_str() == Some(name));
                    if let Some((_, schema)) = named {
                        ok &= schema.check(v, &child, walk);
                    }
                    match extra {
                        Extra::Named(accepts, _, schema) if k.as_str().is_some_and(accepts) => {
                            ok &= schema.check(v, &child, walk);
                        }
                        _ if named.is_some() => {}
                        Extra::Allow => {}
                        Extra::Deny => unexpected.push(k),
                        Extra::Each(schema) => ok &= schema.check(v, &child, walk),
                        Extra::Named(..) => unmatched.push(k),
                    }
                }
                if let Extra::Named(_, pattern, _) = extra {
                    if !unmatched.is_empty() {
                        let verb = if unmatched.len() == 1 { "does" } else { "do" };
                        ok = walk.fail(
                            node,
                            path,
                            format!(
                                "{} {verb} not match any of the regexes: {}",
                                sorted_reprs(unmatched),
                                pattern_repr(pattern)
                            ),
                        );
                    }
                }
                if !unexpected.is_empty() {
                    let verb = if unexpected.len() == 1 { "was" } else { "were" };
                    ok = walk.fail(
                        node,
                        path,
                        format!(
                            "Additional properties are not allowed ({} {verb} unexpected)",
                            sorted_reprs(unexpected)
                        ),
                    );
                }
                ok
            }
            S::Min(min) => {
                let below = match node.value {
                    Value::Int(i) => i < *min,
                    Value::Float(f) => f < *min as f64,
                    _ => false,
                };
                if below {
                    return walk.fail(
                        node,
                        path,
                        format!("{} is less than the minimum of {min}", repr(node)),
                    );
                }
                true
            }
            S::All(schemas) => {
                let mut ok = true;
                for schema in *schemas {
                    ok &= schema.check(node, path, walk);
                }
                ok
            }
            S::Only(ty, schema) => !ty.accepts(&node.value) || schema.check(node, path, walk),
            S::OneOf(options) => {
                let mut matched = Vec::new();
                let mut failures = Vec::new();
                for (i, option) in options.iter().enumerate() {
                    let (ok, errors, warnings) = quietly(option, node, path);
                    if ok {
                        matched.push((option, warnings));
                    } else {
                        failures.push((i, errors));
                    }
                }
                match matched.len() {
                    1 => {
                        if let Some((_, warnings)) = matched.pop() {
                            walk.warnings.extend(warnings);
                        }
                        true
                    }
                    0 => {
                        let best = deepest(options, failures, node, path);
                        // cloud-init 25 finds no best failure for a mapping with a
                        // `type` that no option's own `type` names: it reports nothing.
                        let ok = best.is_empty();
                        walk.errors.extend(best);
                        ok
                    }
                    _ => {
                        // cloud-init 25 names the options that matched after the first,
                        // then the first.
                        let shown: Option<Vec<&str>> = matched[1..]
                            .iter()
                            .chain(&matched[..1])
                            .map(|(option, _)| match option {
                                S::Shown(_, text) => Some(*text),
                                _ => None,
                            })
                            .collect();
                        let which = shown.map_or("the given schemas".to_string(), |t| t.join(", "));
                        walk.fail(
                            node,
                            path,
                            format!("{} is valid under each of {which}", repr(node)),
                        )
                    }
                }
            }
            S::AnyOf(options) => {
                let mut failures = Vec::new();
                for option in *options {
                    let (ok, errors, warnings) = quietly(option, node, path);
                    if ok {
                        walk.warnings.extend(warnings);
                        return true;
                    }
                    failures.extend(errors);
                }
                // jsonschema's `best_match`: the first of the failures nearest the value.
                if let Some(best) = failures.iter().min_by_key(|e| depth_below(e, path)) {
                    walk.errors.push(best.clone());
                }
                walk.fail(
                    node,
                    path,
                    format!("{} is not valid under any of the given schemas", repr(node)),
                )
            }
            S::ByType(options) => match options.iter().find(|(t, _)| t.accepts(&node.value)) {
                Some((_, schema)) => schema.check(node, path, walk),
                None => not_of_type(node, path, walk, options.iter().map(|(t, _)| *t)),
            },
            S::Shown(inner, _) => inner.check(node, path, walk),
            S::Deprecated(inner, advice) => {
                let ok = inner.check(node, path, walk);
                if ok {
                    walk.warnings.push(problem(
                        node,
                        path,
                        format!("{} is deprecated. {advice}", repr(node)),
                    ));
                }
                ok
            }
        }
    }
}

/// Checks `node` against one option without reporting: (valid, errors, warnings).
fn quietly(schema: &S, node: &Node, path: &str) -> (bool, Vec<Problem>, Vec<Problem>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut walk = Walk {
        errors: &mut errors,
        warnings: &mut warnings,
    };
    let ok = schema.check(node, path, &mut walk);
    (ok, errors, warnings)
}

/// How many path segments `problem` lies below `path`.
fn depth_below(problem: &Problem, path: &str) -> usize {
    let rest = problem.path.strip_prefix(path).unwrap_or(&problem.path);
    let rest = rest.trim_start_matches('.');
    if rest.is_empty() {
        0
    } else {
        rest.split('.').count()
    }
}

/// Whether an option is an object whose own `type` property is an enum holding `kind`.
fn names_type(option: &S, kind: &Node) -> bool {
    match option {
        S::All(parts) => parts.iter().any(|p| names_type(p, kind)),
        S::Only(_, inner) | S::Deprecated(inner, _) | S::Shown(inner, _) => names_type(inner, kind),
        S::Object { props, .. } => props
            .iter()
            .find(|(name, _)| *name == "type")
            .is_some_and(|(_, schema)| holds(schema, kind)),
        _ => false,
    }
}

fn holds(schema: &S, value: &Node) -> bool {
    match schema {
        S::Enum(lits) => lits.iter().any(|l| l.matches(&value.value)),
        S::All(parts) => parts.iter().any(|p| holds(p, value)),
        _ => false,
    }
}

/// The failures cloud-init 25 reports for a `oneOf` no option matched
/// (`cloud_init_deepest_matches`): for a mapping with a `type` key, the first failure of
/// the option whose `type` names it, else the failures of `type` keys; otherwise every
/// failure at the greatest depth below the value.
fn deepest(
    options: &[S],
    failures: Vec<(usize, Vec<Problem>)>,
    node: &Node,
    path: &str,
) -> Vec<Problem> {
    if let Some(kind) = node.get("type") {
        for (i, errors) in &failures {
            if options.get(*i).is_some_and(|o| names_type(o, kind)) {
                // cloud-init takes the option's first error, in the order of its
                // schema's keywords; the options that name a `type` (`reporting`'s)
                // list `additionalProperties` before `required`.
                let own = || errors.iter().filter(|e| depth_below(e, path) == 0);
                let first = own()
                    .find(|e| e.message.starts_with("Additional properties"))
                    .or_else(|| own().next());
                if let Some(e) = first {
                    return vec![e.clone()];
                }
            }
        }
        return failures
            .into_iter()
            .flat_map(|(_, errors)| errors)
            .filter(|e| depth_below(e, path) > 0 && e.path.ends_with("type"))
            .collect();
    }
    let mut best: Vec<Problem> = Vec::new();
    let mut depth = 0;
    for e in failures.into_iter().flat_map(|(_, errors)| errors) {
        let d = depth_below(&e, path);
        if d == depth {
            best.push(e);
        } else if d > depth {
            depth = d;
            best = vec![e];
        }
    }
    best
}
