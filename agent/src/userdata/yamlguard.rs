//! A linear pass over a YAML document before decoding hands it to `serde_yaml` (the
//! `#cloud-config-archive` list, a cloud-config's `launch-index`): libyaml's scanner
//! looks ahead over every open flow collection for each token, so thousands of nested
//! `[` take time quadratic in the input. The event parser used here holds at most 255
//! flow levels, so it stays linear; the pass refuses a document nested deeper than the
//! depth cap, or one whose nodes, every copy an alias makes counted, pass the node cap
//! ("billion laughs"), and counts the top-level entries. Pure, no I/O.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

/// Why a document was refused, and the [`super::Limits`] key it went past.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refused {
    pub what: String,
    pub limit: &'static str,
}

/// What the pass found in a document within the caps.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Shape {
    /// Nodes right inside the top-level collection (the items of a list; the keys and
    /// values of a mapping).
    pub top_entries: usize,
}

/// Walk `text`'s events once. A syntax error is not this pass's business: it returns
/// the shape seen so far and leaves the error to the real parser.
pub(super) fn check(
    text: &str,
    max_depth: usize,
    max_nodes: usize,
    max_top_entries: usize,
) -> Result<Shape, Refused> {
    let mut parser = Parser::new_from_str(text);
    // Open collections: their anchor and the nodes produced inside them so far.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    let mut produced: usize = 0;
    let mut shape = Shape::default();
    let nodes = || Refused {
        what: format!(
            "the YAML document expands to more than {max_nodes} nodes (aliases included)"
        ),
        limit: "yaml_max_nodes",
    };
    let too_deep = || Refused {
        what: format!("the YAML document nests deeper than {max_depth} levels"),
        limit: "yaml_max_depth",
    };
    loop {
        let event = match parser.next_token() {
            Ok((event, _)) => event,
            // The event parser's own cap (255 flow levels) stands for the depth cap.
            Err(e) if e.info().contains("recursion limit") => return Err(too_deep()),
            Err(_) => return Ok(shape),
        };
        // How many nodes this event adds, and whether it opens or closes a collection.
        let (added, anchor) = match event {
            Event::StreamEnd => return Ok(shape),
            Event::Alias(id) => (anchors.get(&id).copied().unwrap_or(1), 0),
            Event::Scalar(text, _, anchor, _) => (1 + text.len() / 64, anchor),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() == 1 {
                    shape.top_entries += 1;
                }
                produced = produced.saturating_add(1);
                if produced > max_nodes {
                    return Err(nodes());
                }
                stack.push((anchor, produced));
                if stack.len() > max_depth {
                    return Err(too_deep());
                }
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = stack.pop() {
                    if anchor > 0 {
                        anchors.insert(anchor, produced - start + 1);
                    }
                }
                continue;
            }
            _ => continue,
        };
        if stack.len() == 1 {
            shape.top_entries += 1;
        }
        if anchor > 0 {
            anchors.insert(anchor, added);
        }
        produced = produced.saturating_add(added);
        if produced > max_nodes {
            return Err(nodes());
        }
        if shape.top_entries > max_top_entries {
            return Err(Refused {
                what: format!("the YAML document has more than {max_top_entries} entries"),
                limit: "max_parts",
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_refused_in_linear_time() {
        let text = format!("a: {}", "[".repeat(200_000));
        let started = std::time::Instant::now();
        let err = check(&text, 200, 1_000_000, 1000).unwrap_err();
        assert_eq!(err.limit, "yaml_max_depth");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='j' {
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let err = check(&text, 200, 1_000_000, 1000).unwrap_err();
        assert_eq!(err.limit, "yaml_max_nodes");
    }

    #[test]
    fn counts_top_level_entries_and_refuses_past_the_cap() {
        assert_eq!(
            check("- a\n- b: 1\n- [c]\n", 200, 1000, 10)
                .unwrap()
                .top_entries,
            3
        );
        let many = "- a\n".repeat(1001);
        assert_eq!(
            check(&many, 200, 1_000_000, 1000).unwrap_err().limit,
            "max_parts"
        );
        assert_eq!(
            check("a: [", 200, 1000, 10).unwrap(),
            Shape { top_entries: 2 }
        );
    }
}
