//! `## template: jinja` parts (spec 1.7): the header line dropped, the rest rendered with
//! `trim_blocks` against the instance data as cloud-init prepares it (`v1.*` copied to
//! the top level, `_` aliases for keys holding `-` or `.`), an undefined variable
//! rendered as `CI_MISSING_JINJA_VAR/<name>` with a warning. Pure, no I/O.

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
    let mut data = aliased(instance_data);
    if let Value::Object(top) = &mut data {
        if let Some(Value::Object(v1)) = top.get("v1").cloned() {
            for (k, v) in v1 {
                top.entry(k).or_insert(v);
            }
        }
    }
    data
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

/// Render a `## template: jinja` payload against the (already prepared) context.
pub fn render(payload: &[u8], context: &Value) -> Result<Rendered, TemplateError> {
    let text = String::from_utf8_lossy(payload);
    let body = match text.split_once('\n') {
        Some((_, rest)) => rest,
        None => "",
    };
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_fuel(Some(FUEL));
    let tmpl = env
        .template_from_str(body)
        .map_err(|e| TemplateError::Render(e.to_string()))?;
    let mut ctx = context.clone();
    let mut missing = Vec::new();
    for path in tmpl.undeclared_variables(true) {
        if !resolves(&ctx, &path) {
            let name = path.rsplit('.').next().unwrap_or(&path).to_string();
            insert_path(
                &mut ctx,
                &path,
                Value::String(format!("{MISSING_PREFIX}{name}")),
            );
            missing.push(name);
        }
    }
    let text = tmpl
        .render(minijinja::Value::from_serialize(&ctx))
        .map_err(|e| TemplateError::Render(e.to_string()))?;
    if text.len() > MAX_OUTPUT {
        return Err(TemplateError::Render(format!(
            "output larger than {MAX_OUTPUT} bytes"
        )));
    }
    Ok(Rendered { text, missing })
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
        assert_eq!(out.text, "#!/bin/sh\necho i-123 i-123 host 10.0.0.1\nyes\n");
        assert!(out.missing.is_empty());
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
        assert!(render(t, &json!({})).is_err());
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
    fn syntax_errors_fail() {
        assert!(render(b"## template: jinja\n{% if %}\n", &json!({})).is_err());
    }
}
