//! `strap query`: values of `/run/strap/instance-data.json` by dotted key
//! (`v1.instance_id`, `ds.meta_data.local_ipv4`), where `_` in a key also matches `-`,
//! as cloud-init's underscore aliases do.

/// The value at a dotted key.
pub fn lookup<'a>(doc: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    let mut cur = doc;
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let obj = cur.as_object()?;
        cur = obj.get(part).or_else(|| {
            obj.iter()
                .find(|(k, _)| k.replace('-', "_") == part.replace('-', "_"))
                .map(|(_, v)| v)
        })?;
    }
    Some(cur)
}

/// A value as `query` prints it: strings bare, the rest as JSON.
pub fn render(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The keys of an object (for `--list-keys`), sorted.
pub fn keys(value: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscores_match_dashes() {
        let doc = serde_json::json!({"ds": {"meta-data": {"local-ipv4": "10.0.0.1"}}, "v1": {"region": "eu-west-1"}});
        assert_eq!(
            render(lookup(&doc, "ds.meta_data.local_ipv4").unwrap()),
            "10.0.0.1"
        );
        assert_eq!(render(lookup(&doc, "v1.region").unwrap()), "eu-west-1");
        assert!(lookup(&doc, "v1.nope").is_none());
    }
}
