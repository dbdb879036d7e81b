//! PyYAML's rule for tabs: its scanner skips only spaces between tokens, so a tab is
//! refused anywhere it looks for the next token (indentation, after a value, inside a
//! plain scalar, in flow collections). Tabs may appear only inside quoted scalars,
//! block scalar bodies and comments. The event parser is more lenient, so the loader
//! records where quoted and block scalars lie and this module checks the rest.

use super::super::CloudConfigError;

/// Where a non-plain scalar starts (character index of its quote or `|`/`>`), and, for
/// block scalars, where the next event starts.
#[derive(Debug)]
pub(super) enum Span {
    Quoted { start: usize, double: bool },
    Block { start: usize, end: usize },
}

/// Character ranges `[start, end)` where tabs are content.
fn allowed_ranges(chars: &[char], spans: &[Span]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::with_capacity(spans.len());
    for span in spans {
        match *span {
            Span::Block { start, end } => ranges.push((start, end.max(start))),
            Span::Quoted { start, double } => {
                let quote = if double { '"' } else { '\'' };
                let mut i = start + 1;
                while i < chars.len() {
                    let c = chars[i];
                    if double && c == '\\' {
                        i += 2;
                        continue;
                    }
                    if c == quote {
                        // '' inside a single-quoted scalar is an escaped quote.
                        if !double && chars.get(i + 1) == Some(&'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                ranges.push((start, (i + 1).min(chars.len())));
            }
        }
    }
    ranges.sort_unstable();
    ranges
}

/// Refuses a tab outside quoted scalars, block scalar bodies and comments, at its
/// 1-based line and column, with PyYAML's wording.
pub(super) fn check(text: &str, spans: &[Span]) -> Result<(), CloudConfigError> {
    if !text.contains('\t') {
        return Ok(());
    }
    let chars: Vec<char> = text.chars().collect();
    let ranges = allowed_ranges(&chars, spans);
    let mut next_range = 0;
    let (mut line, mut column) = (1, 1);
    let mut in_comment = false;
    let mut previous = '\n';
    let mut i = 0;
    while i < chars.len() {
        while next_range < ranges.len() && ranges[next_range].1 <= i {
            next_range += 1;
        }
        let inside = ranges
            .get(next_range)
            .is_some_and(|&(start, end)| start <= i && i < end);
        let c = chars[i];
        if c == '\n' {
            in_comment = false;
        } else if !inside && !in_comment {
            if c == '#' && previous.is_whitespace() {
                in_comment = true;
            } else if c == '\t' {
                return Err(CloudConfigError::Yaml {
                    line,
                    column,
                    message: "while scanning for the next token found character '\\t' that \
                              cannot start any token; use spaces, not tabs, outside quoted \
                              and block scalars"
                        .into(),
                });
            }
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
        previous = c;
        i += 1;
    }
    Ok(())
}
