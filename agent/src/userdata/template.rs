//! `## template: jinja` parts (spec 1.7): the header line dropped, the rest rendered with
//! `trim_blocks` against the instance data as cloud-init prepares it (`v1.*` copied to
//! the top level, `_` aliases for keys holding `-` or `.`, `base64_encoded_keys`
//! decoded), an undefined variable rendered as `CI_MISSING_JINJA_VAR/<name>` with a
//! warning, on a fuel budget with an output cap. Pure, no I/O.

use serde_json::{Map, Value};

/// Instructions a template may execute before rendering stops (bounded time).
pub const FUEL: u64 = 1_000_000;

/// Largest rendered output, in bytes (bounded memory).
pub const MAX_OUTPUT: usize = 16 << 20;

/// What an undefined variable renders as, followed by its name.
pub const MISSING_PREFIX: &str = "CI_MISSING_JINJA_VAR/";

/// Why a template did not render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("failed to render template: {0}")]
    Render(String),
    /// The template went past a bound of its [`Budget`].
    #[error("{what} (limit strap_limits.{limit})")]
    Limit { what: String, limit: &'static str },
    /// The template does not parse. `line` counts the header line, as cloud-init 25
    /// counts it; `content` is the template's line there, trimmed.
    #[error("syntax error: {message} on line {line}: {content}")]
    Syntax {
        message: String,
        line: usize,
        content: String,
    },
}

impl TemplateError {
    /// The text cloud-init 25 gives after "Failed to render template." for this error
    /// (22.4 let a syntax error escape its handler, with a traceback instead).
    pub fn cloud_init_text(&self) -> String {
        match self {
            Self::Render(_) | Self::Limit { .. } => self.to_string(),
            Self::Syntax {
                message,
                line,
                content,
            } => {
                let content = if content.is_empty() {
                    String::new()
                } else {
                    format!(": {content}")
                };
                format!(
                    "Unable to parse Jinja template due to syntax error: {message} on line \
                     {line}{content}"
                )
            }
        }
    }
}

/// A parse error of `body` (the template after its header line) as cloud-init 25 reports
/// it: the line counted from the header, the body's line there.
fn syntax_error(e: &minijinja::Error, body: &str) -> TemplateError {
    if e.kind() != minijinja::ErrorKind::SyntaxError {
        return TemplateError::Render(e.to_string());
    }
    let at = e.line().unwrap_or(1).max(1);
    TemplateError::Syntax {
        message: e.detail().unwrap_or("unknown syntax error").to_string(),
        line: at + 1,
        content: body
            .lines()
            .nth(at - 1)
            .map(str::trim)
            .unwrap_or("")
            .to_string(),
    }
}

/// The rendered text and the names of variables that were undefined.
#[derive(Debug)]
pub struct Rendered {
    pub text: String,
    pub missing: Vec<String>,
}

/// The instance data as templates see it: `v1` keys copied to the top level and keys with
/// `-` or `.` given an `_` alias, recursively.
pub fn jinja_context(instance_data: &Value) -> Value {
    let mut data = instance_data.clone();
    decode_base64_keys(&mut data);
    let mut data = aliased(&data);
    if let Value::Object(top) = &mut data {
        if let Some(Value::Object(v1)) = top.get("v1").cloned() {
            for (k, v) in v1 {
                top.entry(k).or_insert(v);
            }
        }
    }
    data
}

/// Decode the values listed in `base64_encoded_keys` (`ds/user_data` paths), as
/// cloud-init does before rendering.
fn decode_base64_keys(data: &mut Value) {
    use base64::Engine as _;
    let keys: Vec<String> = data
        .get("base64_encoded_keys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for key in keys {
        let mut cur = Some(&mut *data);
        for seg in key.split('/') {
            cur = cur.and_then(|v| v.get_mut(seg));
        }
        if let Some(v) = cur {
            let decoded = v
                .as_str()
                .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
            if let Some(bytes) = decoded {
                *v = Value::String(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
}

fn aliased(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = aliased(v);
                let alias = k.replace(['-', '.'], "_");
                if alias != *k && !map.contains_key(&alias) {
                    out.insert(alias, v.clone());
                }
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(aliased).collect()),
        other => other.clone(),
    }
}

/// What one template may spend: instructions and output bytes (`strap_limits`'
/// `jinja_fuel` and `jinja_max_output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub fuel: u64,
    pub max_output: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            fuel: FUEL,
            max_output: MAX_OUTPUT,
        }
    }
}

/// Render a `## template: jinja` payload against the (already prepared) context, on the
/// default [`Budget`].
pub fn render(payload: &[u8], context: &Value) -> Result<Rendered, TemplateError> {
    render_with(payload, context, Budget::default())
}

/// [`render`] on another budget.
pub fn render_with(
    payload: &[u8],
    context: &Value,
    budget: Budget,
) -> Result<Rendered, TemplateError> {
    let max_output = budget.max_output;
    let text = String::from_utf8_lossy(payload);
    let body = match text.split_once('\n') {
        Some((_, rest)) => rest,
        None => "",
    };
    let mut env = environment();
    env.set_fuel(Some(budget.fuel));
    // Jinja2 drops one trailing newline of the source and cloud-init adds it back after
    // rendering (even where `trim_blocks` ate it).
    let add = if body.ends_with('\n') { "\n" } else { "" };
    let tmpl = env
        .template_from_str(body)
        .map_err(|e| syntax_error(&e, body))?;
    let mut ctx = context.clone();
    let mut missing = Vec::new();
    for path in tmpl.undeclared_variables(true) {
        // `range`, `namespace`, `dict`, `cycler` and the other globals are defined: a
        // missing-variable string in the context would shadow them ("not callable").
        let head = path.split('.').next().unwrap_or(&path);
        if env.globals().any(|(name, _)| name == head) {
            continue;
        }
        // Where the template asks whether it is defined (`| default`, `is defined`), the
        // variable stays undefined so that Jinja2's answer holds; elsewhere it then renders
        // empty instead of as missing.
        if !resolves(&ctx, &path) && !is_method(&ctx, &path) && !guarded(body, &path) {
            let name = path.rsplit('.').next().unwrap_or(&path).to_string();
            insert_path(
                &mut ctx,
                &path,
                Value::String(format!("{MISSING_PREFIX}{name}")),
            );
            missing.push(name);
        }
    }
    // The output cap holds while rendering: a template that writes more stops there.
    let mut out = Capped(Vec::new(), max_output);
    let rendered = tmpl
        .render_captured_to(minijinja::Value::from_serialize(&ctx), &mut out)
        .map(|_| ());
    let too_large = || TemplateError::Limit {
        what: format!("the template renders more than {max_output} bytes"),
        limit: "jinja_max_output",
    };
    if out.0.len() > max_output {
        return Err(too_large());
    }
    rendered.map_err(|e| {
        if e.kind() == minijinja::ErrorKind::OutOfFuel {
            TemplateError::Limit {
                what: format!("the template runs more than {} instructions", budget.fuel),
                limit: "jinja_fuel",
            }
        } else {
            TemplateError::Render(e.to_string())
        }
    })?;
    let mut text = String::from_utf8(out.0)
        .map_err(|_| TemplateError::Render("the rendered output is not valid UTF-8".into()))?;
    text.push_str(add);
    if text.len() > max_output {
        return Err(too_large());
    }
    Ok(Rendered { text, missing })
}

/// A buffer that refuses to grow past its cap (it keeps one byte more, so the caller can
/// tell).
struct Capped(Vec<u8>, usize);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let cap = self.1;
        if self.0.len() + buf.len() > cap {
            let room = cap + 1 - self.0.len().min(cap + 1);
            self.0.extend_from_slice(&buf[..room.min(buf.len())]);
            return Err(std::io::Error::other("output cap reached"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The environment cloud-init's Jinja2 gives a template: `trim_blocks`, the trailing
/// newline handled as cloud-init does (in [`render`]), Jinja2's globals (`range`, `dict`, `namespace`, `cycler`, `joiner`) and
/// filters (`tojson`, `urlencode`, `truncate`, `striptags`, `filesizeformat` beside the
/// core ones), Python's `str`/`dict`/`list` methods (`.split()`, `.startswith()`,
/// `.items()`, `.get()`), mappings in insertion order; on a fuel budget.
fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // Jinja2's signatures where minijinja-contrib's differ, and what it lacks.
    env.add_function(
        "cycler",
        |items: minijinja::value::Rest<minijinja::Value>| {
            minijinja_contrib::globals::cycler(items.0)
        },
    );
    env.add_filter("truncate", truncate);
    env.add_filter("center", center);
    env.add_filter("tojson", tojson);
    env
}

/// Jinja2's `tojson`: Python's `json.dumps(sort_keys=True)` (ASCII only, `", "` and
/// `": "` separators) with `<`, `>`, `&` and `'` escaped for HTML.
fn tojson(value: &minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    let json = serde_json::to_value(value).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    let mut out = String::new();
    py_dumps(&json, &mut out);
    Ok(minijinja::Value::from_safe_string(out))
}

fn py_dumps(value: &Value, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(text) => crate::pyjson::push_string(out, text, true),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_dumps(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_dumps(&Value::String(k.clone()), out);
                out.push_str(": ");
                py_dumps(v, out);
            }
            out.push('}');
        }
    }
}

/// Jinja2's `truncate(s, length=255, killwords=False, end='...', leeway=5)`.
fn truncate(
    s: &str,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<&str>,
    leeway: Option<usize>,
) -> String {
    let length = length.unwrap_or(255);
    let end = end.unwrap_or("...");
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= length.saturating_add(leeway.unwrap_or(5)) {
        return s.to_string();
    }
    let head: String = chars[..length.saturating_sub(end.chars().count())]
        .iter()
        .collect();
    if killwords.unwrap_or(false) {
        return head + end;
    }
    let kept = head.rsplit_once(' ').map_or(head.as_str(), |(k, _)| k);
    format!("{kept}{end}")
}

/// Python's `str.center(width)`, which Jinja2's `center` filter is (default width 80).
fn center(s: &str, width: Option<usize>) -> String {
    let width = width.unwrap_or(80);
    let len = s.chars().count();
    if width <= len {
        return s.to_string();
    }
    let pad = width - len;
    let left = pad / 2 + (pad & width & 1);
    format!("{}{s}{}", " ".repeat(left), " ".repeat(pad - left))
}

/// Whether the template spells `path` followed by `| default`, `| d`, `is defined`,
/// `is undefined` or `is not defined` anywhere.
fn guarded(body: &str, path: &str) -> bool {
    let word = |s: &str, w: &str| {
        s.strip_prefix(w)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    };
    body.match_indices(path).any(|(at, _)| {
        let before = body[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            return false;
        }
        let rest = body[at + path.len()..].trim_start();
        if let Some(filter) = rest.strip_prefix('|') {
            let filter = filter.trim_start();
            return word(filter, "default") || word(filter, "d");
        }
        if let Some(test) = rest
            .strip_prefix("is")
            .filter(|t| t.starts_with(char::is_whitespace))
        {
            let test = test.trim_start();
            let test = test
                .strip_prefix("not")
                .filter(|t| t.starts_with(char::is_whitespace))
                .map_or(test, str::trim_start);
            return word(test, "defined") || word(test, "undefined");
        }
        false
    })
}

/// Whether the path's last segment names a Python method of what its parent holds
/// (`tags.items`, `region.split`): a call, not a missing variable.
fn is_method(ctx: &Value, path: &str) -> bool {
    let Some((parent, name)) = path.rsplit_once('.') else {
        return false;
    };
    let mut cur = ctx;
    for seg in parent.split('.') {
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    match cur {
        Value::Object(_) => matches!(name, "items" | "keys" | "values" | "get"),
        // A string's or list's attribute is never a variable of the instance data.
        Value::String(_) | Value::Array(_) => true,
        _ => false,
    }
}

fn resolves(ctx: &Value, path: &str) -> bool {
    let mut cur = ctx;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    true
}

fn insert_path(ctx: &mut Value, path: &str, leaf: Value) {
    let segs: Vec<&str> = path.split('.').collect();
    let mut cur = ctx;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            // A scalar stands where a mapping is needed: leave it, the template decides.
            return;
        }
        let Value::Object(map) = cur else { return };
        if i + 1 == segs.len() {
            map.entry(seg.to_string()).or_insert(leaf);
            return;
        }
        cur = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_against_v1_and_aliases() {
        let data = jinja_context(&json!({
            "v1": {"instance_id": "i-123", "local-hostname": "host"},
            "ds": {"meta_data": {"local-ipv4": "10.0.0.1"}}
        }));
        let out = render(
            b"## template: jinja\n#!/bin/sh\necho {{ v1.instance_id }} {{ instance_id }} {{ v1.local_hostname }} {{ ds.meta_data.local_ipv4 }}\n{% if true %}\nyes\n{% endif %}\n",
            &data,
        )
        .unwrap();
        // cloud-init adds back the final newline `trim_blocks` took after `endif`.
        assert_eq!(
            out.text,
            "#!/bin/sh\necho i-123 i-123 host 10.0.0.1\nyes\n\n"
        );
        assert!(out.missing.is_empty());
    }

    #[test]
    fn base64_encoded_keys_are_decoded() {
        let data = jinja_context(&json!({
            "base64_encoded_keys": ["ds/user_data"],
            "ds": {"user_data": "aGk="}
        }));
        assert_eq!(data["ds"]["user_data"], "hi");
    }

    #[test]
    fn undefined_variables_render_as_missing() {
        let out = render(
            b"## template: jinja\n#cloud-config\na: {{ v1.nope }}\n",
            &json!({"v1": {}}),
        )
        .unwrap();
        assert_eq!(out.text, "#cloud-config\na: CI_MISSING_JINJA_VAR/nope\n");
        assert_eq!(out.missing, ["nope"]);
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let t = b"## template: jinja\n{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}";
        let err = render(t, &json!({})).unwrap_err();
        assert!(
            matches!(
                err,
                TemplateError::Limit {
                    limit: "jinja_fuel",
                    ..
                }
            ),
            "{err}"
        );
        // A smaller budget stops a loop the default one lets through.
        let t = b"## template: jinja\n{% for a in range(100) %}x{% endfor %}";
        assert!(render(t, &json!({})).is_ok());
        let small = Budget {
            fuel: 50,
            max_output: MAX_OUTPUT,
        };
        assert!(matches!(
            render_with(t, &json!({}), small),
            Err(TemplateError::Limit {
                limit: "jinja_fuel",
                ..
            })
        ));
        let narrow = Budget {
            fuel: FUEL,
            max_output: 10,
        };
        assert!(matches!(
            render_with(t, &json!({}), narrow),
            Err(TemplateError::Limit {
                limit: "jinja_max_output",
                ..
            })
        ));
    }

    #[test]
    fn huge_output_is_refused() {
        let t = b"## template: jinja\n{{ 'x' * 100000000 }}";
        match render(t, &json!({})) {
            Ok(r) => assert!(r.text.len() <= MAX_OUTPUT),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn an_output_bomb_stops_at_the_cap_while_rendering() {
        // 3 GB of output in a few thousand instructions: before, all of it was rendered
        // and only then measured.
        let t = b"## template: jinja\n{% for i in range(1000) %}{{ 'a' * 3000000 }}{% endfor %}";
        let started = std::time::Instant::now();
        let err = render(t, &json!({})).unwrap_err();
        assert!(
            err.to_string()
                .contains("renders more than 16777216 bytes (limit strap_limits.jinja_max_output)"),
            "{err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// Templates cloud-init users write, rendered by strap and by cloud-init's own
    /// `templater.render_string` (Jinja2) against the same context.
    const JINJA_CASES: &[&str] = &[
        "{% for i in range(3) %}{{ i }},{% endfor %}",
        "{{ range(1, 10, 3) | list }} {{ range(5) | sum }}",
        "{% set ns = namespace(n=0, seen=false) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
        "{% set d = dict(a=1, b='x') %}{{ d.a }}{{ d['b'] }}",
        "{{ v1.region | default('none') | upper }} {{ v1.nope | default('dflt') }}",
        "{{ v1.availability_zone[:-1] }} {{ v1.region.split('-') | join('/') }}",
        "{% if v1.local_hostname.startswith('ip-') %}aws{% endif %} {{ v1.region.replace('-', '_') }}",
        "{% for k, v in ds.meta_data.tags.items() %}{{ k }}={{ v }};{% endfor %}",
        "{{ ds.meta_data.tags.get('Name') }} {{ ds.meta_data.tags.get('nope', 'x') }}",
        "{{ ['b', 'a', 'c'] | sort | join(' ') }} {{ 'a b' | replace(' ', '-') }} {{ '  x ' | trim }}",
        "{{ ds.meta_data.tags | length }} {{ 'abc' | first }} {{ [1, 2] | last }} {{ '7' | int + 1 }}",
        "{% set c = cycler('a', 'b') %}{% for i in range(3) %}{{ c.next() }}{% endfor %}",
        "{% set j = joiner(', ') %}{% for i in range(3) %}{{ j() }}{{ i }}{% endfor %}",
        "{{ 'hello world' | truncate(8, true, '..', 0) }} {{ 'hello world foo' | truncate(9, false, '...', 0) }} {{ 'x<b>y</b>' | striptags }}",
        "{{ 'a b&c' | urlencode }} {{ 'Hello' | lower }} {{ 'hello' | capitalize }} {{ 'a' ~ 1 }}",
        "{% if v1.nope is defined %}d{% else %}u{% endif %} {{ v1.gone }} {{ v1.nope|d('y') }} {{ v1.nope is not defined }}",
        "{{ ds.meta_data.tags | tojson }} {{ [1, 'a<', 'é', none, true, 1.5, {'b': 1, 'a': 2}] | tojson }}",
        "{% for i in range(3) %}{{ loop.index }}{% if not loop.last %}-{% endif %}{% endfor %}",
        "{{ '%s-%d' | format('a', 5) }} {{ 'x' | center(5) }}|{{ 'ab' | center(5) }}|{{ 'ab' | center(6) }}|",
        "{{ v1.region.upper() }} {{ 'a,b'.split(',')[1] }} {{ 'Ab'.lower() }} {{ ' x '.strip() }}",
        "{{ ds.meta_data.tags.keys() | list | join(',') }} {{ ds.meta_data.tags.values() | list | join(',') }}",
        "{{ [1, 2, 3] | map('string') | join('') }} {{ [1, 2, 3] | select('odd') | list }}",
        "{{ ds.meta_data.tags | dictsort | first | join('=') }} {{ [3, 1] | max }} {{ [3, 1] | min }}",
    ];

    fn jinja_oracle(
        ci: &crate::cloud_init_peers::CloudInit,
        cases: &[String],
        context: &Value,
    ) -> Option<Vec<String>> {
        use std::io::Write as _;
        let script = r#"
import json, sys, logging
logging.disable(logging.CRITICAL)
from cloudinit import templater
ctx = json.loads(sys.stdin.readline())
for line in sys.stdin:
    try:
        out = templater.render_string(json.loads(line), ctx)
    except Exception as e:
        out = "ERROR " + type(e).__name__
    print(json.dumps(out))
"#;
        let mut child = ci
            .python()
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut input = serde_json::to_string(context).ok()? + "\n";
        for case in cases {
            input += &(serde_json::to_string(case).ok()? + "\n");
        }
        child.stdin.take()?.write_all(input.as_bytes()).ok()?;
        let out = child.wait_with_output().ok()?;
        let answers: Vec<String> = String::from_utf8(out.stdout)
            .ok()?
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (out.status.success() && answers.len() == cases.len()).then_some(answers)
    }

    #[test]
    fn globals_filters_and_methods_render_as_cloud_init_does() {
        let context = jinja_context(&json!({
            "v1": {"region": "us-east-1", "availability_zone": "us-east-1a",
                   "local-hostname": "ip-10-0-0-1"},
            "ds": {"meta_data": {"tags": {"Name": "web", "Env": "prod", "Team": "a"}}}
        }));
        let cases: Vec<String> = JINJA_CASES
            .iter()
            .map(|c| format!("## template: jinja\n{c}\n"))
            .collect();
        let mut differ = Vec::new();
        for ci in crate::cloud_init_peers::cloud_inits("cloudinit.templater") {
            let version = ci.name;
            let Some(expected) = jinja_oracle(&ci, &cases, &context) else {
                panic!("cloud-init {version}: templater.render_string did not answer");
            };
            for (case, want) in cases.iter().zip(&expected) {
                let got = match render(case.as_bytes(), &context) {
                    Ok(r) => r.text,
                    Err(e) => format!("ERROR {e}"),
                };
                if &got != want {
                    differ.push(format!(
                        "cloud-init {version}: {case}  strap:  {got:?}\n  jinja2: {want:?}"
                    ));
                }
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

    #[test]
    fn range_and_namespace_are_callable() {
        let t = b"## template: jinja\n{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}";
        let out = render(t, &json!({})).unwrap();
        assert_eq!(out.text, "6");
        assert!(out.missing.is_empty());
    }

    #[test]
    fn default_and_is_defined_see_missing_variables_as_undefined() {
        let t = b"## template: jinja\n{{ v1.nope | default('x') }} {{ v1.gone is defined }} {{ v1.other }} {{ v1.region.split('-')[0] }}\n";
        let out = render(t, &json!({"v1": {"region": "us-east-1"}})).unwrap();
        assert_eq!(out.text, "x False CI_MISSING_JINJA_VAR/other us\n");
        assert_eq!(out.missing, ["other"]);
    }

    #[test]
    fn syntax_errors_fail() {
        assert!(render(b"## template: jinja\n{% if %}\n", &json!({})).is_err());
    }

    /// cloud-init 25 names a syntax error's line (counting the header) and quotes it;
    /// the message itself is the template engine's own (Jinja2's in cloud-init).
    #[test]
    fn syntax_errors_name_the_line_as_cloud_init_25_does() {
        let t = b"## template: jinja\n#cloud-config\nruncmd:\n - {% if %}\n";
        let err = render(t, &json!({})).unwrap_err();
        let text = err.cloud_init_text();
        assert!(
            text.starts_with("Unable to parse Jinja template due to syntax error: "),
            "{text}"
        );
        assert!(text.ends_with(" on line 4: - {% if %}"), "{text}");
        for ci in crate::cloud_init_peers::cloud_inits("cloudinit.templater") {
            let script = "import sys\nfrom cloudinit import templater\n\
                try:\n    templater.render_string(sys.stdin.read(), {})\n\
                except Exception as e:\n    print(str(e).splitlines()[0])\n";
            let theirs = ci.run(script, std::str::from_utf8(t).unwrap());
            if ci.name == "22.4" {
                // 22.4 lets Jinja2's own error out, with no line named.
                assert!(!theirs.contains("on line"), "cloud-init 22.4: {theirs}");
            } else {
                let (head, _) = text.split_once(": ").unwrap();
                assert!(theirs.starts_with(head), "cloud-init {}: {theirs}", ci.name);
                assert!(
                    theirs.trim_end().ends_with(" on line 4: - {% if %}"),
                    "cloud-init {}: {theirs}",
                    ci.name
                );
            }
        }
    }
}
