//! The golden merge cases of cloud-init (one test per `expected<N>.yaml`), and merger
//! behaviours checked against cloud-init's own mergers.

use super::*;
use crate::cloudconfig::load;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloud-init/merge_sources")
}

fn golden(n: usize) {
    let dir = data_dir();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(&format!("source{n}-")) && name.ends_with(".yaml")
        })
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no sources for case {n}");
    let parts: Vec<(Node, Option<String>)> = sources
        .iter()
        .map(|p| (load(&std::fs::read_to_string(p).unwrap()).unwrap(), None))
        .collect();
    let merged = merge_parts(&parts).unwrap();
    let expected =
        load(&std::fs::read_to_string(dir.join(format!("expected{n}.yaml"))).unwrap()).unwrap();
    assert!(
        merged.eq_value(&expected),
        "case {n}:\nmerged   {}\nexpected {}",
        merged.to_json(),
        expected.to_json()
    );
}

macro_rules! golden_cases {
    ($($name:ident = $n:literal),* $(,)?) => {
        $(#[test] fn $name() { golden($n); })*
    };
}

golden_cases!(
    expected1 = 1,
    expected2 = 2,
    expected3 = 3,
    expected4 = 4,
    expected5 = 5,
    expected6 = 6,
    expected7 = 7,
    expected8 = 8,
    expected9 = 9,
    expected10 = 10,
    expected11 = 11,
    expected12 = 12,
);

#[test]
fn every_golden_case_has_a_test() {
    let count = std::fs::read_dir(data_dir())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_str().unwrap();
            name.starts_with("expected") && name.ends_with(".yaml")
        })
        .count();
    assert_eq!(count, 12);
}

fn merged(parts: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<(Node, Option<String>)> = parts
        .iter()
        .map(|(text, h)| (load(text).unwrap(), h.map(str::to_string)))
        .collect();
    match merge_parts(&parts) {
        Ok(node) => node.to_json().to_string(),
        Err(e) => format!("error: {e}"),
    }
}

/// A part's text and its `Merge-Type` header.
type Part<'a> = (&'a str, Option<&'a str>);

/// Parts with their `Merge-Type` header, and what cloud-init (22.4 and 25 alike) merges
/// them into; `error` where cloud-init raises.
#[rustfmt::skip]
const MERGE_CASES: &[(&[Part<'_>], &str)] = &[
    (&[("a: [1, 2, 3]", None), ("a: [x]", Some("list()+dict(no_replace,recurse_list)"))], "{\"a\":[\"x\",2,3]}"),
    (&[("a: [1]", None), ("a: [x, y, z]", Some("dict(no_replace,recurse_list)+list()"))], "{\"a\":[\"x\"]}"),
    (&[("a: [1]", None), ("a: [x, y]", Some("dict(no_replace,recurse_list)+list(no_replace)"))], "{\"a\":[1]}"),
    (&[("a: [1]", None), ("a: xy", Some("dict(no_replace,recurse_str)+list(append)"))], "{\"a\":[1,\"x\",\"y\"]}"),
    (&[("a: [1]", None), ("a: xy\nmerge_how: 'dict(replace)+list(append)'", None)], "{\"a\":\"xy\"}"),
    (&[("a: [1]", None), ("a: {k: v}", Some("dict(no_replace)+list(append)"))], "{\"a\":[1,\"k\"]}"),
    (&[("a: [1]", None), ("a: [2]\nmerge_how: [{name: list, settings: [append]}, {name: dict, settings: [no_replace, recurse_list]}]", None)], "{\"a\":[1,2]}"),
    (&[("a: [1]", None), ("a: [2]\nmerge_how: [[list, append], [dict, no_replace, recurse_list]]", None)], "{\"a\":[1,2]}"),
    (&[("a: [1]", None), ("a: [2]\nmerge_how: 'list(append)'", None)], "{\"a\":[1]}"),
    (&[("a: [1]", None), ("a: [2]", Some("list(append)"))], "{\"a\":[1]}"),
    (&[("a: [1]\nmerge_how: 'dict(no_replace,recurse_list)+list(append)'", None), ("a: [2]", None)], "{\"a\":[2]}"),
    (&[("a: x", None), ("a: y", Some("dict(no_replace,recurse_str)+str(append)"))], "{\"a\":\"xy\"}"),
    (&[("a: x", None), ("a: [y]", Some("dict(no_replace,recurse_array)+str(append)"))], "error"),
    (&[("a: x", None), ("a: 5", Some("dict(no_replace,recurse_str)+str(append)"))], "{\"a\":\"x\"}"),
    (&[("a: x", None), ("a: y", Some("dict(no_replace,recurse_str)+str()"))], "{\"a\":\"y\"}"),
    (&[("a: 1", None), ("a: 2", Some("dict(no_replace)"))], "{\"a\":1}"),
    (&[("a: {b: 1}", None), ("a: {b: 2, c: 3}", Some("dict()"))], "{\"a\":{\"b\":1,\"c\":3}}"),
    (&[("a: {b: 1}", None), ("a: {b: null}", Some("dict(no_replace)"))], "{\"a\":{\"b\":1}}"),
    (&[("a: {b: 1}", None), ("a: null", Some("dict(allow_delete)"))], "{}"),
    (&[("a: {b: 1}", None), ("a: null", Some("dict(allow_delete,replace)"))], "{}"),
    (&[("a: 1", None), ("a: 2", Some("Dict(Replace) + LIST()"))], "{\"a\":2}"),
    (&[("a: 1", None), ("a: 2", Some("dict(replace"))], "error"),
    (&[("a: 1", None), ("a: 2", Some("foo()"))], "error"),
    (&[("a: 1", None), ("a: 2\nmerge_how: ''", None)], "{\"a\":2}"),
    (&[("a: 1", None), ("a: 2\nmerge_type: 'dict(no_replace)'", None)], "{\"a\":1}"),
    (&[("a: 1", None), ("a: 2\nmerge_how: null\nmerge_type: 'dict(no_replace)'", None)], "{\"a\":1}"),
    (&[("a: 1", None), ("- 1", None)], "error"),
    (&[("a: 1", None), ("", None)], "error"),
    (&[("a: [[1, 2], [3]]", None), ("a: [[9], [8, 7]]", Some("dict(no_replace,recurse_list)+list(recurse_list)"))], "{\"a\":[[9,2],[8]]}"),
    (&[("a: [{x: 1}]", None), ("a: [{y: 2}]", Some("dict(no_replace,recurse_list)+list(recurse_dict)"))], "{\"a\":[{\"x\":1,\"y\":2}]}"),
    (&[("a: [{x: 1}]", None), ("a: [{y: 2}]", Some("dict(no_replace,recurse_list)+list()"))], "{\"a\":[{\"y\":2}]}"),
    (&[("a: [1, 2]", None), ("a: 5", Some("dict(no_replace,recurse_list)+list()"))], "{\"a\":[1,2]}"),
    (&[("a: 5", None), ("a: [1]", Some("dict(no_replace,recurse_list)+list(append)"))], "{\"a\":5}"),
    (&[("a: [1]", None), ("a: [2]", Some("dict(no_replace,recurse_list)+list(prepend,append)"))], "{\"a\":[1,2]}"),
    (&[("a: [1]", None), ("a: [2]", Some("dict(no_replace,recurse_list)+list(replace,append)"))], "{\"a\":[1,2]}"),
    (&[("1: a", None), ("1.0: b\ntrue: c", Some("dict(replace)"))], "{\"1\":\"c\"}"),
];

#[test]
fn mergers_behave_as_cloud_init() {
    for (parts, want) in MERGE_CASES {
        let got = merged(parts);
        if *want == "error" {
            assert!(got.starts_with("error: "), "{parts:?} gave {got}");
        } else {
            assert_eq!(&got, want, "{parts:?}");
        }
    }
}

#[test]
fn merge_all_skips_parts_as_cloud_init_does() {
    let parts = vec![
        (load("runcmd: [a]").unwrap(), None),
        (load("- not a mapping").unwrap(), None),
        (load("runcmd: [b]").unwrap(), Some("dict(bad".to_string())),
        (
            load("runcmd: [c]\nmerge_how: 'dict(no_replace,recurse_list)+list(append)'").unwrap(),
            None,
        ),
    ];
    let out = merge_all(&parts);
    assert_eq!(out.config.to_json().to_string(), r#"{"runcmd":["a","c"]}"#);
    assert_eq!(
        out.skipped.iter().map(MergeError::part).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(matches!(out.skipped[0], MergeError::NotAMapping { .. }));
    // The strict form stops at the first bad part.
    assert_eq!(merge_parts(&parts).unwrap_err().part(), 1);
}

#[test]
fn merged_nodes_keep_their_positions() {
    let parts = vec![
        (load("a: 1\nb: [x]").unwrap(), None),
        (load("\n\nc: 2").unwrap(), None),
    ];
    let out = merge_parts(&parts).unwrap();
    assert_eq!(out.get("b").unwrap().mark.line, 2);
    assert_eq!(out.get("c").unwrap().mark.line, 3);
}

#[test]
fn sources_merge_as_mergemanydict() {
    // cloud-init's util.mergemanydict, highest priority first.
    let run = |docs: &[&str]| {
        let nodes: Vec<Node> = docs.iter().map(|d| load(d).unwrap()).collect();
        merge_sources(&nodes).unwrap().to_json().to_string()
    };
    assert_eq!(
        run(&[
            "{a: 1, l: [1], d: {x: 1}}",
            "{a: 2, b: 3, l: [2], d: {x: 2, y: 2}}"
        ]),
        r#"{"a":1,"l":[1],"d":{"x":1,"y":2},"b":3}"#
    );
    assert_eq!(
        run(&[
            "{a: 1, l: [1], merge_how: 'dict(replace)+list(append)'}",
            "{a: 2, l: [2]}"
        ]),
        r#"{"a":1,"l":[1]}"#
    );
    assert_eq!(
        run(&[
            "{a: 1, l: [1]}",
            "{a: 2, l: [2], merge_how: 'dict(replace)+list(append)'}"
        ]),
        r#"{"a":2,"l":[2]}"#
    );
    assert_eq!(run(&["", "{}", "{a: 1}"]), r#"{"a":1}"#);
}

/// Every case above and every golden case, merged by each available cloud-init's own
/// `CloudConfigPartHandler` (its `merge_how`/`merge_type` keys, `Merge-Type` headers and
/// `cloudinit.mergers`), part after part from an empty buffer as the handler does: strap
/// agrees with 22.4 and 25 on all of them (their mergers did not change between the two).
#[test]
fn mergers_agree_with_each_cloud_init() {
    const ORACLE: &str = r#"
import json, logging, sys, tempfile
logging.disable(logging.CRITICAL)
from cloudinit import helpers
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
paths = helpers.Paths({"cloud_dir": tempfile.mkdtemp()})
for line in sys.stdin:
    handler = CloudConfigPartHandler(paths)
    handler.cloud_buf = {}
    try:
        for text, header in json.loads(line):
            handler._merge_part(text, {"Merge-Type": header} if header else {})
        print(json.dumps(handler.cloud_buf))
    except Exception:
        print(json.dumps("error"))
"#;
    type OwnedParts = Vec<(String, Option<String>)>;
    let mut cases: Vec<(String, OwnedParts)> = MERGE_CASES
        .iter()
        .map(|(parts, _)| {
            let parts = parts
                .iter()
                .map(|(t, h)| (t.to_string(), h.map(str::to_string)))
                .collect();
            (format!("{parts:?}"), parts)
        })
        .collect();
    for n in 1..=12 {
        let dir = data_dir();
        let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                name.starts_with(&format!("source{n}-")) && name.ends_with(".yaml")
            })
            .collect();
        sources.sort();
        let parts = sources
            .iter()
            .map(|p| (std::fs::read_to_string(p).unwrap(), None))
            .collect();
        cases.push((format!("golden case {n}"), parts));
    }
    let input: String = cases
        .iter()
        .map(|(_, parts)| serde_json::to_string(parts).unwrap() + "\n")
        .collect();
    let mut differ = Vec::new();
    for (version, out) in crate::cloud_init_peers::oracles(ORACLE, &input) {
        let answers: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(answers.len(), cases.len(), "cloud-init {version}");
        for ((name, parts), theirs) in cases.iter().zip(answers) {
            let nodes: Vec<(Node, Option<String>)> = parts
                .iter()
                .map(|(t, h)| (load(t).unwrap(), h.clone()))
                .collect();
            let ours = match merge_parts(&nodes) {
                Ok(node) => node.to_json(),
                Err(_) => serde_json::json!("error"),
            };
            if ours != theirs {
                differ.push(format!(
                    "cloud-init {version}: {name}\n  strap      {ours}\n  cloud-init {theirs}"
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
