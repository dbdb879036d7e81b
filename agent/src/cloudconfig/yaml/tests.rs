//! Each case is checked against `yaml.safe_load` (PyYAML 6.0.3): the expected text is
//! Python's `repr()` of its answer, with two spellings of ours where Python's types have
//! no counterpart (timestamps as `ts('…')`, a `!!set` as a map to `None`, `!!omap`
//! pairs as lists).

use super::*;

use crate::cloudconfig::python_str as py_str;

/// Python's `repr()` of what PyYAML would have built, in this suite's spellings for
/// bytes, timestamps and (recursively) their containers.
pub(super) fn py_repr(node: &Node) -> String {
    match &node.value {
        Value::Bytes(b) => format!("b{}", py_str(&String::from_utf8_lossy(b))),
        Value::Timestamp(t) => format!("ts({})", py_str(t)),
        Value::Seq(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // Scalars read the same in both.
        _ => node.to_python_repr(),
    }
}

fn loads(text: &str) -> String {
    match load(text) {
        Ok(node) => py_repr(&node),
        Err(e) => format!("ERROR {},{}", e.mark().line, e.mark().column),
    }
}

#[test]
fn scalars_as_pyyaml() {
    let cases = [
        ("mode: 0644", "{'mode': 420}"),
        ("mode: 0o644", "{'mode': '0o644'}"),
        ("mode: '0644'", "{'mode': '0644'}"),
        ("mode: !!int '0644'", "{'mode': 420}"),
        (
            "a: [yes, no, on, off, y, n, Yes, NO, True, false]",
            "{'a': [True, False, True, False, 'y', 'n', True, False, True, False]}",
        ),
        ("a: 1_000", "{'a': 1000}"),
        ("a: 1:20", "{'a': 80}"),
        ("a: 190:20:30", "{'a': 685230}"),
        ("a: 1:20.5", "{'a': 80.5}"),
        ("a: [.inf, -.Inf]", "{'a': [inf, -inf]}"),
        ("a: ~", "{'a': None}"),
        ("a: [null, Null, '', ]", "{'a': [None, None, '']}"),
        ("a:", "{'a': None}"),
        ("a: 0x1F", "{'a': 31}"),
        ("a: 0b1010", "{'a': 10}"),
        ("a: -0b11", "{'a': -3}"),
        ("a: 1e3", "{'a': '1e3'}"),
        ("a: 1.0e+3", "{'a': 1000.0}"),
        ("a: 6.8523015e+5", "{'a': 685230.15}"),
        ("a: 685.230_15e+03", "{'a': 685230.15}"),
        ("a: 08", "{'a': '08'}"),
        ("a: 09.5", "{'a': 9.5}"),
        ("a: +12", "{'a': 12}"),
        ("a: 3.", "{'a': 3.0}"),
        ("a: !!str 12", "{'a': '12'}"),
        ("a: !!float 12", "{'a': 12.0}"),
        ("a: !!bool yes", "{'a': True}"),
        ("a: !!null x", "{'a': None}"),
        ("a: !!binary aGVsbG8=", "{'a': b'hello'}"),
        ("a: \"0644\"", "{'a': '0644'}"),
        ("a: |\n  0644\n", "{'a': '0644\\n'}"),
        ("a: >\n  yes\n", "{'a': 'yes\\n'}"),
        ("a: 'it''s'", "{'a': \"it's\"}"),
        ("a: \"tab\\there\"", "{'a': 'tab\\there'}"),
        ("a: -9223372036854775808", "{'a': -9223372036854775808}"),
        (
            "key with spaces: value with spaces  # comment",
            "{'key with spaces': 'value with spaces'}",
        ),
        ("a: 2001-12-14", "{'a': ts('2001-12-14')}"),
        (
            "a: 2001-12-14t21:59:43.10-05:00",
            "{'a': ts('2001-12-14t21:59:43.10-05:00')}",
        ),
        ("a: 0_", "{'a': 0}"),
        ("a: 0.", "{'a': 0.0}"),
        ("a: -0", "{'a': 0}"),
        ("a: 1_2:30", "{'a': 750}"),
        ("a: 1:60", "{'a': '1:60'}"),
        ("a: 12:3", "{'a': 723}"),
        ("a: .5", "{'a': 0.5}"),
        ("a: ._5", "{'a': '._5'}"),
        ("a: 1.2.3", "{'a': '1.2.3'}"),
    ];
    for (text, want) in cases {
        assert_eq!(loads(text), want, "{text:?}");
    }
}

#[test]
fn documents_and_collections_as_pyyaml() {
    let cases = [
        ("a: 1\nb: 2\na: 3", "{'a': 3, 'b': 2}"),
        ("{1: a, 1.0: b, true: c}", "{1: 'c'}"),
        (
            "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3",
            "{'base': {'x': 1, 'y': 2}, 'd': {'x': 1, 'y': 3}}",
        ),
        (
            "a: &a {x: 1}\nb: &b {x: 2, z: 3}\nc:\n  <<: [*a, *b]\n  w: 0",
            "{'a': {'x': 1}, 'b': {'x': 2, 'z': 3}, 'c': {'x': 1, 'z': 3, 'w': 0}}",
        ),
        ("<<: {a: 1}\nb: 2", "{'a': 1, 'b': 2}"),
        ("- &x hi\n- *x", "['hi', 'hi']"),
        ("", "None"),
        ("# only a comment\n", "None"),
        ("--- 5\n", "5"),
        ("a: !!set {x, y}", "{'a': {'x': None, 'y': None}}"),
        ("a: !!omap [x: 1, y: 2]", "{'a': [['x', 1], ['y', 2]]}"),
        (
            "runcmd:\n  - echo a: b\n  - [sh, -c, 'echo hi']",
            "{'runcmd': [{'echo a': 'b'}, ['sh', '-c', 'echo hi']]}",
        ),
        ("a: 1\r\nb: [x,\r\n y]\r\n", "{'a': 1, 'b': ['x', 'y']}"),
        ("\u{feff}a: 1", "{'a': 1}"),
    ];
    for (text, want) in cases {
        assert_eq!(loads(text), want, "{text:?}");
    }
}

#[test]
fn refusals_as_pyyaml_with_positions() {
    // PyYAML refuses all of these; the position is where it points (1-based).
    let cases = [
        // (Tagged scalars are located at their text, PyYAML points at the tag.)
        ("a: !binary aGk=", "ERROR 1,12"),
        ("a: !foo bar", "ERROR 1,9"),
        ("? [1, 2]\n: x", "ERROR 1,3"),
        ("a: <<", "ERROR 1,4"),
        ("a: =", "ERROR 1,4"),
        ("a: 1\n---\nb: 2", "ERROR 2,1"),
    ];
    for (text, want) in cases {
        assert_eq!(loads(text), want, "{text:?}");
    }
    // Syntax errors: PyYAML gives 1,9 and 1,5; the parser reports where it gave up
    // (the end of the text for the unclosed list).
    let err = load("a: [1, 2").unwrap_err();
    assert!(
        matches!(
            err,
            CloudConfigError::Yaml {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = load("a: b: c").unwrap_err();
    assert!(
        matches!(err, CloudConfigError::Yaml { line: 1, .. }),
        "{err}"
    );
    // A timestamp PyYAML resolves but Python's datetime refuses.
    assert!(load("a: 2001-13-14").is_err());
}

#[test]
fn nodes_keep_their_positions() {
    let node = load("a: 1\nlist:\n  - x\n  - {k: v}\n").unwrap();
    assert_eq!(node.mark, Mark { line: 1, column: 1 });
    let a = node.get("a").unwrap();
    assert_eq!(a.mark, Mark { line: 1, column: 4 });
    let list = node.get("list").unwrap().as_seq().unwrap();
    assert_eq!(list[0].mark, Mark { line: 3, column: 5 });
    assert_eq!(list[1].get("k").unwrap().mark, Mark { line: 4, column: 9 });
}

#[test]
fn bad_bytes_are_located() {
    let err = load_bytes(b"a: 1\nb: caf\xe9\n").unwrap_err();
    assert!(
        matches!(
            err,
            CloudConfigError::Encoding {
                line: 2,
                column: 7,
                offset: 11,
                ..
            }
        ),
        "{err}"
    );
    let err = load("a: \u{1}\n").unwrap_err();
    assert!(
        matches!(
            err,
            CloudConfigError::Encoding {
                line: 1,
                column: 4,
                ..
            }
        ),
        "{err}"
    );
    // UTF-16 with a byte-order mark is read, as PyYAML does.
    let utf16: Vec<u8> = [0xfeff_u16]
        .into_iter()
        .chain("a: 1".encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(py_repr(&load_bytes(&utf16).unwrap()), "{'a': 1}");
    assert_eq!(
        py_repr(&load_bytes(b"\xef\xbb\xbfa: 1").unwrap()),
        "{'a': 1}"
    );
}

#[test]
fn billion_laughs_is_refused() {
    let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let err = load(&doc).unwrap_err();
    assert!(matches!(err, CloudConfigError::Limit { .. }), "{err}");
    // Few aliases of one long string are as bad as many of a short one.
    let long = format!(
        "a: &a '{}'\nb: [{}]\n",
        "x".repeat(1 << 20),
        "*a, ".repeat(100)
    );
    let err = load(&long).unwrap_err();
    assert!(matches!(err, CloudConfigError::Limit { .. }), "{err}");
    // A few levels are fine.
    let small: String = doc.lines().take(3).collect::<Vec<_>>().join("\n");
    assert!(load(&small).is_ok());
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = "[".repeat(100_000);
    assert!(load(&deep).is_err());
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    let err = load(&deep).unwrap_err();
    assert!(matches!(err, CloudConfigError::Limit { .. }), "{err}");
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(load(&ok).is_ok());
    let mut block = String::new();
    for i in 0..2000 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    assert!(load(&block).is_err());
}

/// `ts('…')` holds the timestamp as written on our side and Python's isoformat on
/// PyYAML's: compare them as equal.
fn without_timestamps(repr: &str) -> String {
    let mut out = String::new();
    let mut rest = repr;
    while let Some(i) = rest.find("ts('") {
        out.push_str(&rest[..i]);
        out.push_str("TS");
        let after = &rest[i + 4..];
        rest = after.find("')").map_or("", |j| &after[j + 2..]);
    }
    out.push_str(rest);
    out
}

#[test]
fn generated_documents_load_as_pyyaml_does() {
    // Documents mixing YAML 1.1's tricky scalars, with PyYAML 6.0's answer to each
    // (`ERROR` where it refuses the document).
    let cases = include_str!("pyyaml-cases.jsonl");
    let mut count = 0;
    for line in cases.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = case["yaml"].as_str().unwrap();
        let want = case["pyyaml"].as_str().unwrap();
        let got = match load(text) {
            Ok(node) => py_repr(&node),
            Err(_) => "ERROR".to_string(),
        };
        assert_eq!(
            without_timestamps(&got),
            without_timestamps(want),
            "{text:?}"
        );
        count += 1;
    }
    assert_eq!(count, 400);
}

#[test]
fn python_repr_of_values() {
    let node = load("a: !!binary H4sIAIDb\nb: 2001-12-14\nc: [1.5, ~, 'it''s']").unwrap();
    assert_eq!(
        node.to_python_repr(),
        "{'a': b'\\x1f\\x8b\\x08\\x00\\x80\\xdb', 'b': datetime.date(2001, 12, 14), 'c': [1.5, None, \"it's\"]}"
    );
}

#[test]
fn crlf_text_keeps_line_numbers() {
    let node = load("a: 1\r\nb:\r\n  - x\r\n  - 0644\r\n").unwrap();
    let items = node.get("b").unwrap().as_seq().unwrap();
    assert_eq!(items[1].mark, Mark { line: 4, column: 5 });
    assert_eq!(items[1].as_int(), Some(420));
    let err = load("a: 1\r\nb: !foo x\r\n").unwrap_err();
    assert_eq!(err.mark().line, 2);
}

#[test]
fn tabs_as_pyyaml() {
    // PyYAML refuses tabs wherever its scanner looks for a token.
    let refused = [
        ("a: 1\t\n", 1, 5),
        // (The parser itself refuses this one, one column further than PyYAML.)
        ("a:\t1\n", 1, 4),
        ("a: [1,\t2]\n", 1, 7),
        ("a: 'x'\t\n", 1, 7),
        ("- \tx\n", 1, 3),
        ("a: x\t# c\n", 1, 5),
        ("a: x y\tz\n", 1, 7),
        ("a: 1 \t\n", 1, 6),
        ("a: x\t\n  y\n", 1, 5),
        ("b: |\n  ok\t\na:  \t  x\n", 3, 5),
    ];
    for (text, line, column) in refused {
        match load(text) {
            Err(CloudConfigError::Yaml {
                line: l, column: c, ..
            }) => {
                assert_eq!((l, c), (line, column), "{text:?}")
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    // Tabs inside quoted scalars, block scalars and comments are content.
    let accepted = [
        ("a: |\n  x\t\n", "{'a': 'x\\t\\n'}"),
        ("a: 'x\ty' # c\tc\n", "{'a': 'x\\ty'}"),
        ("a: \"x\\\"\ty\"\n", "{'a': 'x\"\\ty'}"),
        ("# \t\na: 'it''s\t'\n", "{'a': \"it's\\t\"}"),
        (
            "a: >\n  x\ty\n\n  z\nb: 1\n",
            "{'a': 'x\\ty\\nz\\n', 'b': 1}",
        ),
    ];
    for (text, want) in accepted {
        assert_eq!(loads(text), want, "{text:?}");
    }
}

#[test]
fn non_specific_tag_resolves_as_plain() {
    assert_eq!(loads("a: ! 12"), "{'a': 12}");
    assert_eq!(loads("a: ! '12'"), "{'a': 12}");
    assert_eq!(loads("a: ! [1]"), "{'a': [1]}");
}
