//! The deprecated top-level apt keys (`apt_sources`, `apt_preserve_sources_list`,
//! `apt_mirror`, `apt_proxy`, …) turned into an `apt` mapping as cloud-init 22.4's
//! `convert_to_v3_apt_format` turns them: an `apt_sources` list becomes a mapping (entries
//! without `filename` all go to `cloud_config_sources.list`), each key moves under `apt`
//! with its new name, the mirror keys become a `primary` entry. When the config also
//! has `apt`, `apt` wins and a legacy key whose value differs from its `apt` twin is an
//! error. One difference: cloud-init swaps `apt_https_proxy` and `apt_ftp_proxy`
//! (`https_proxy` gets the ftp one); strap gives each its own name.

use crate::cloudconfig::{Node, Value};

use super::super::ModuleError;

/// The legacy keys and their name under `apt` (`None`: the mirror keys, which become a
/// `primary` entry), in cloud-init's order.
pub const LEGACY_KEYS: &[(&str, Option<&str>)] = &[
    ("apt_sources", Some("sources")),
    ("apt_mirror", None),
    ("apt_mirror_search", None),
    ("apt_mirror_search_dns", None),
    ("apt_proxy", Some("proxy")),
    ("apt_http_proxy", Some("http_proxy")),
    ("apt_ftp_proxy", Some("ftp_proxy")),
    ("apt_https_proxy", Some("https_proxy")),
    ("apt_preserve_sources_list", Some("preserve_sources_list")),
    ("apt_custom_sources_list", Some("sources_list")),
    ("add_apt_repo_match", Some("add_apt_repo_match")),
];

/// The mirror keys and their name in a `primary` entry.
const MIRROR_KEYS: &[(&str, &str)] = &[
    ("apt_mirror", "uri"),
    ("apt_mirror_search", "search"),
    ("apt_mirror_search_dns", "search_dns"),
];

fn text(s: &str) -> Node {
    Node::new(Value::Str(s.into()))
}

fn is_empty(n: &Node) -> bool {
    matches!(&n.value, Value::Null) || matches!(&n.value, Value::Str(s) if s.is_empty())
}

/// `apt_sources` as a mapping (cloud-init's V1 to V2 step).
fn sources_map(node: &Node) -> Result<Node, ModuleError> {
    match &node.value {
        Value::Map(_) => Ok(node.clone()),
        Value::Seq(items) => {
            let mut out: Vec<(Node, Node)> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Map(entries) = &item.value else {
                    return Err(ModuleError::Invalid {
                        key: format!("apt_sources.{i}"),
                        message: "a source must be a mapping".into(),
                    });
                };
                let mut entries = entries.clone();
                let key = match item.get("filename").and_then(Node::as_str) {
                    Some(f) => f.to_string(),
                    None => {
                        entries.push((text("filename"), text("cloud_config_sources.list")));
                        // cloud-init adds a random suffix to keep the keys apart.
                        format!("cloud_config_sources.list-{i}")
                    }
                };
                let entry = Node {
                    value: Value::Map(entries),
                    mark: item.mark,
                };
                match out
                    .iter_mut()
                    .find(|(k, _)| k.as_str() == Some(key.as_str()))
                {
                    Some(slot) => slot.1 = entry,
                    None => out.push((text(&key), entry)),
                }
            }
            Ok(Node {
                value: Value::Map(out),
                mark: node.mark,
            })
        }
        _ => Err(ModuleError::Invalid {
            key: "apt_sources".into(),
            message: "must be a list or a mapping of sources".into(),
        }),
    }
}

/// The config with the legacy keys folded into `apt` (`None` when it has none), and the
/// deprecation warnings to give.
pub fn convert(config: &Node) -> Result<Option<(Node, Vec<String>)>, ModuleError> {
    let Value::Map(entries) = &config.value else {
        return Ok(None);
    };
    let present: Vec<(&str, Option<&str>, &Node)> = LEGACY_KEYS
        .iter()
        .filter_map(|(old, new)| {
            config
                .get(old)
                .filter(|n| !is_empty(n))
                .map(|n| (*old, *new, n))
        })
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = present.iter().map(|(k, _, _)| *k).collect();
    let mut warnings = vec![format!(
        "deprecated apt keys {} converted to `apt`: use `apt` instead",
        names.join(", ")
    )];
    let is_legacy = |k: &Node| {
        k.as_str()
            .is_some_and(|k| LEGACY_KEYS.iter().any(|(old, _)| *old == k))
    };
    let mut kept: Vec<(Node, Node)> = entries
        .iter()
        .filter(|(k, _)| !is_legacy(k))
        .cloned()
        .collect();
    if let Some(apt) = config.get("apt").filter(|n| !n.is_null()) {
        warnings.push("both the deprecated apt keys and `apt` are given: `apt` is used".into());
        for (old, new, value) in &present {
            let Some(new) = new else { continue };
            let value = if *old == "apt_sources" {
                sources_map(value)?
            } else {
                (*value).clone()
            };
            if let Some(twin) = apt.get(new).filter(|n| !n.is_null()) {
                if twin.to_python_repr() != value.to_python_repr() {
                    return Err(ModuleError::Invalid {
                        key: (*old).into(),
                        message: format!(
                            "differs from `apt.{new}` (cloud-init refuses the config: old and new apt format defined with unequal values)"
                        ),
                    });
                }
            }
        }
        return Ok(Some((
            Node {
                value: Value::Map(kept),
                mark: config.mark,
            },
            warnings,
        )));
    }
    let mut apt: Vec<(Node, Node)> = Vec::new();
    for (old, new, value) in &present {
        let Some(new) = new else { continue };
        let value = if *old == "apt_sources" {
            sources_map(value)?
        } else {
            (*value).clone()
        };
        apt.push((text(new), value));
    }
    let mut mirror = vec![(text("arches"), Node::new(Value::Seq(vec![text("default")])))];
    for (old, new) in MIRROR_KEYS {
        if let Some((_, _, v)) = present.iter().find(|(k, _, _)| k == old) {
            mirror.push((text(new), (*v).clone()));
        }
    }
    if mirror.len() > 1 {
        apt.push((
            text("primary"),
            Node::new(Value::Seq(vec![Node::new(Value::Map(mirror))])),
        ));
    }
    kept.retain(|(k, _)| k.as_str() != Some("apt"));
    kept.push((text("apt"), Node::new(Value::Map(apt))));
    Ok(Some((
        Node {
            value: Value::Map(kept),
            mark: config.mark,
        },
        warnings,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::modules::system::cloud_init_oracles;

    fn apt_of(yaml: &str) -> serde_json::Value {
        let cfg = crate::cloudconfig::load(yaml).unwrap();
        let (cfg, _) = convert(&cfg).unwrap().unwrap();
        cfg.get("apt").map(Node::to_json).unwrap_or_default()
    }

    #[test]
    fn converts_as_cloud_init_does() {
        let got = apt_of(
            "apt_sources:\n  - source: deb http://a main\n  - source: deb http://b main\n    \
             filename: b.list\napt_preserve_sources_list: true\napt_mirror: http://m/\napt_proxy: http://p:1\n",
        );
        assert_eq!(
            got,
            serde_json::json!({
                "sources": {
                    "cloud_config_sources.list-0": {"source": "deb http://a main", "filename": "cloud_config_sources.list"},
                    "b.list": {"source": "deb http://b main", "filename": "b.list"},
                },
                "proxy": "http://p:1",
                "preserve_sources_list": true,
                "primary": [{"arches": ["default"], "uri": "http://m/"}],
            })
        );
        let cfg = crate::cloudconfig::load("runcmd: [x]\napt_sources: ''\n").unwrap();
        assert!(convert(&cfg).unwrap().is_none());
    }

    #[test]
    fn apt_wins_and_a_conflict_is_an_error() {
        let cfg =
            crate::cloudconfig::load("apt: {proxy: http://a}\napt_proxy: http://a\n").unwrap();
        let (out, warnings) = convert(&cfg).unwrap().unwrap();
        assert_eq!(
            out.to_json(),
            serde_json::json!({"apt": {"proxy": "http://a"}})
        );
        assert_eq!(warnings.len(), 2);
        let cfg =
            crate::cloudconfig::load("apt: {proxy: http://a}\napt_proxy: http://b\n").unwrap();
        assert!(convert(&cfg)
            .unwrap_err()
            .to_string()
            .contains("differs from `apt.proxy`"));
    }

    /// cloud-init's `convert_to_v3_apt_format` (22.4 and 25) as the peer (its random source keys
    /// and its swapped https/ftp proxies aside).
    #[test]
    fn agrees_with_cloud_init() {
        let doc = "apt_sources:\n  - source: deb http://a main\n    filename: a.list\n  \
                   - source: ppa:x/y\n    filename: p.list\napt_preserve_sources_list: false\n\
                   apt_mirror: http://m/\napt_mirror_search: [http://s/]\napt_mirror_search_dns: true\n\
                   apt_proxy: http://p:1\napt_http_proxy: http://h:1\n\
                   apt_custom_sources_list: 'deb $MIRROR $RELEASE main'\nadd_apt_repo_match: '^x'\nruncmd: [ls]\n";
        let script = "import sys, yaml, json, logging\nlogging.disable(logging.CRITICAL)\n\
            from cloudinit.config import cc_apt_configure as m\n\
            print(json.dumps(m.convert_to_v3_apt_format(yaml.safe_load(sys.stdin.read())), sort_keys=True))\n";
        let cfg = crate::cloudconfig::load(doc).unwrap();
        let (ours, _) = convert(&cfg).unwrap().unwrap();
        for (version, theirs) in cloud_init_oracles(script, doc) {
            let theirs: serde_json::Value = serde_json::from_str(&theirs).unwrap();
            assert_eq!(ours.to_json(), theirs, "cloud-init {version}");
        }
    }
}
