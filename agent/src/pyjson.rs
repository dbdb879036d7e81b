//! Strings as Python's `json.dumps` writes them (`ensure_ascii=True`): what botocore's
//! credential cache and Jinja2's `tojson` produce, so that strap's output matches theirs
//! byte for byte.

use std::fmt::Write as _;

/// Append `text` as a JSON string literal, escaped as `json.dumps` escapes it: `"` and
/// `\`, the short escapes `\n \r \t \b \f`, everything outside printable ASCII as
/// `\uXXXX` (UTF-16 units). With `html_safe`, also `<`, `>`, `&` and `'` as `\u003c`…,
/// as Jinja2's `tojson` does.
pub fn push_string(out: &mut String, text: &str, html_safe: bool) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\'' if html_safe => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// `text` as a JSON string literal, as `json.dumps(text)` writes it.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_string(&mut out, text, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_python_does() {
        // python3 -c 'import json; print(json.dumps("a\"\\\n\b\f\x7f é 😀 <&>"))'
        assert_eq!(
            string("a\"\\\n\u{8}\u{c}\u{7f} é 😀 <&>"),
            r#""a\"\\\n\b\f\u007f \u00e9 \ud83d\ude00 <&>""#
        );
        let mut html = String::new();
        push_string(&mut html, "<a href='x'>&</a>", true);
        assert_eq!(
            html,
            r#""\u003ca href=\u0027x\u0027\u003e\u0026\u003c/a\u003e""#
        );
    }
}
