//! Differential test against PyYAML: seeded, generated documents with multi-line flow
//! collections and multi-line quoted scalars whose continuation lines start at every
//! indentation (column 0 and less than the parent's included), nested in block
//! collections. PyYAML's scanner ignores indentation inside flow context and quoted
//! scalars; the loader must give the same value, or an error at the same line and column
//! where PyYAML gives one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use super::tests::py_repr;
use super::*;

const PYTHON: &str = "/usr/bin/python3";

/// Documents generated per run; the seed is fixed so that a failure reproduces.
const DOCUMENTS: usize = 10_000;
const SEED: u64 = 0x5eed_1212_0000_0001;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The separator between two flow tokens or two words of a quoted scalar: a space, or a
/// line break followed by an indentation chosen from column 0, less than, equal to and
/// more than the enclosing block's, sometimes with a blank line (folded to a newline).
fn gap(rng: &mut Rng, parent: usize) -> String {
    if rng.below(3) == 0 {
        return " ".into();
    }
    // Now and then a line PyYAML refuses: a document marker inside the construct.
    if rng.below(150) == 0 {
        return rng.pick(&["\n--- ", "\n... "]).into();
    }
    let indent = match rng.below(6) {
        0 => 0,
        1 => parent.saturating_sub(1),
        2 => parent,
        3 => parent + 1,
        4 => parent + 2,
        _ => rng.below(parent + 4),
    };
    let blank = if rng.below(5) == 0 { "\n" } else { "" };
    format!("\n{blank}{}", " ".repeat(indent))
}

fn plain(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "curl", "a b", "1", "yes", "0644", "~", "x-y", "-1.5", "c:d", "e#f",
    ])
}

/// A plain scalar of several words, its lines at any indentation.
fn plain_lines(rng: &mut Rng, parent: usize) -> String {
    let mut out = String::from(plain(rng));
    for _ in 0..rng.below(3) {
        out.push_str(&gap(rng, parent));
        out.push_str(rng.pick(&["w", "x y", "1", "z:z", "q#r"]));
    }
    out
}

fn quoted(rng: &mut Rng, parent: usize) -> String {
    let double = rng.below(2) == 0;
    let words = 1 + rng.below(4);
    let mut out = String::from(if double { "\"" } else { "'" });
    for i in 0..words {
        if i > 0 {
            if double && rng.below(6) == 0 {
                // An escaped line break joins the lines without a space.
                out.push('\\');
                out.push_str(&gap(rng, parent));
            } else {
                out.push_str(&gap(rng, parent));
            }
        }
        let word = if double {
            rng.pick(&[
                "echo",
                "a",
                "\\t",
                "\\\"q\\\"",
                "\\\\",
                "\\x41",
                "\\u00e9",
                "caf\u{e9}",
                "#x",
                "b]",
                "- c",
                "d: e",
                "\\n",
                "\\q",
            ])
        } else {
            rng.pick(&[
                "echo",
                "a",
                "it''s",
                "caf\u{e9}",
                "#x",
                "b]",
                "- c",
                "d: e",
                "\\n",
            ])
        };
        out.push_str(word);
    }
    out.push(if double { '"' } else { '\'' });
    out
}

/// A flow sequence or mapping spread over lines, nested up to `depth`.
fn flow(rng: &mut Rng, parent: usize, depth: usize) -> String {
    let mapping = rng.below(3) == 0;
    let count = rng.below(4);
    let mut out = String::from(if mapping { "{" } else { "[" });
    for i in 0..count {
        out.push_str(&gap(rng, parent));
        if mapping {
            let _ = write!(out, "k{i}:");
            let separator = gap(rng, parent);
            out.push_str(if separator == " " { " " } else { &separator });
        }
        out.push_str(&flow_item(rng, parent, depth));
        if i + 1 < count || rng.below(4) == 0 {
            out.push_str(&gap(rng, parent));
            out.push(',');
        }
    }
    out.push_str(&gap(rng, parent));
    out.push(if mapping { '}' } else { ']' });
    out
}

fn flow_item(rng: &mut Rng, parent: usize, depth: usize) -> String {
    match rng.below(if depth > 0 { 4 } else { 2 }) {
        0 => plain_lines(rng, parent),
        1 => quoted(rng, parent),
        _ => flow(rng, parent, depth - 1),
    }
}

/// A value for a block entry whose key or dash sits at column `indent`.
fn value(rng: &mut Rng, indent: usize, depth: usize) -> String {
    match rng.below(if depth > 0 { 5 } else { 3 }) {
        0 => format!(" {}\n", flow(rng, indent, 2)),
        1 => format!(" {}\n", quoted(rng, indent)),
        2 => format!(" {}\n", plain_lines(rng, indent)),
        _ => format!("\n{}", block(rng, indent + 2, depth - 1)),
    }
}

/// A block mapping or sequence at column `indent`.
fn block(rng: &mut Rng, indent: usize, depth: usize) -> String {
    let sequence = rng.below(3) == 0;
    let mut out = String::new();
    for i in 0..1 + rng.below(3) {
        out.push_str(&" ".repeat(indent));
        if sequence {
            out.push('-');
        } else {
            let _ = write!(out, "key{i}:");
        }
        out.push_str(&value(rng, indent, depth));
    }
    out
}

/// PyYAML's answers, one per document: `repr()` of the value or `ERROR line,column`.
/// `None` when the oracle is not installed.
fn pyyaml(documents: &[String]) -> Option<Vec<String>> {
    let script = r#"
import json, sys, yaml
for line in sys.stdin:
    text = json.loads(line)
    try:
        out = repr(yaml.safe_load(text))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        out = "ERROR %d,%d" % (mark.line + 1, mark.column + 1)
    except Exception as e:
        out = "ERROR"
    print(json.dumps(out))
"#;
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut input = String::new();
    for doc in documents {
        input.push_str(&serde_json::to_string(doc).ok()?);
        input.push('\n');
    }
    let mut stdin = child.stdin.take()?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    if !output.status.success() {
        return None;
    }
    let answers: Vec<String> = String::from_utf8(output.stdout)
        .ok()?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .ok()?;
    (answers.len() == documents.len()).then_some(answers)
}

fn oracle_available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn strap(text: &str) -> String {
    match load(text) {
        Ok(node) => py_repr(&node),
        Err(e) => format!("ERROR {},{}", e.mark().line, e.mark().column),
    }
}

#[test]
fn multi_line_flow_and_quoted_scalars_load_as_pyyaml() {
    if !oracle_available() {
        eprintln!("skipped: {PYTHON} with PyYAML (import yaml) is not installed");
        return;
    }
    let mut rng = Rng(SEED);
    let documents: Vec<String> = (0..DOCUMENTS).map(|_| block(&mut rng, 0, 3)).collect();
    let Some(expected) = pyyaml(&documents) else {
        panic!("{PYTHON} did not answer for every document");
    };
    let mut values_differ = Vec::new();
    let mut accepted_differ = Vec::new();
    let mut positions_differ = Vec::new();
    let mut rejected = 0;
    for (doc, want) in documents.iter().zip(&expected) {
        let got = strap(doc);
        let (got_err, want_err) = (got.starts_with("ERROR"), want.starts_with("ERROR"));
        rejected += usize::from(want_err);
        match (got_err, want_err) {
            (false, false) if &got != want => values_differ.push((doc, got, want)),
            (true, true) if &got != want => positions_differ.push((doc, got, want)),
            (a, b) if a != b => accepted_differ.push((doc, got, want)),
            _ => {}
        }
    }
    eprintln!(
        "{DOCUMENTS} documents, {rejected} refused by PyYAML; {} values differ, {} \
         accepted by one only, {} errors at another position",
        values_differ.len(),
        accepted_differ.len(),
        positions_differ.len()
    );
    let report = |list: &[(&String, String, &String)]| {
        list.iter()
            .take(5)
            .map(|(d, g, w)| format!("--- document:\n{d}--- strap:   {g}\n--- pyyaml:  {w}\n"))
            .collect::<String>()
    };
    assert!(
        values_differ.is_empty() && accepted_differ.is_empty() && positions_differ.is_empty(),
        "values differ:\n{}\naccepted by one only:\n{}\nerrors at another position:\n{}",
        report(&values_differ),
        report(&accepted_differ),
        report(&positions_differ)
    );
}

#[test]
fn the_two_reported_documents_load() {
    assert_eq!(
        strap("- [sh, -c, 'echo a\nb']\n"),
        "[['sh', '-c', 'echo a b']]"
    );
    assert_eq!(strap("packages: [\"curl\"\n]\n"), "{'packages': ['curl']}");
    assert_eq!(
        strap("runcmd:\n  - [sh, -c,\n\"echo a\n  b\"\n]\n"),
        "{'runcmd': [['sh', '-c', 'echo a b']]}"
    );
}

/// Long constructs continued at column 0 load in one pass (the scanner keeps no
/// per-line indentation state inside flow context).
#[test]
fn long_flow_and_quoted_scalars_at_column_0_load() {
    let n = 100_000;
    let flow = format!("packages: [\n{}]\n", "x,\n".repeat(n));
    let started = std::time::Instant::now();
    let Value::Map(entries) = load(&flow).unwrap().value else {
        panic!("not a mapping");
    };
    assert!(matches!(&entries[0].1.value, Value::Seq(items) if items.len() == n));
    let quoted = format!("a: '{}'\n", "w\n".repeat(n));
    assert!(load(&quoted).is_ok());
    let nested = format!("a: {}{}\n", "[\n".repeat(150), "]\n".repeat(150));
    assert!(load(&nested).is_ok());
    eprintln!("loaded in {:?}", started.elapsed());
}
