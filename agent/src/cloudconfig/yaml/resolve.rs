//! Scalar resolution as PyYAML's `SafeLoader` does it: which tag a plain scalar gets
//! (YAML 1.1 implicit resolvers, tried in PyYAML's order), and how each tag's text
//! becomes a value. Works on one scalar at a time and knows nothing about documents.

use super::super::Value;
use base64::Engine as _;

/// The YAML 1.1 tags `SafeLoader` knows how to construct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Binary,
    Timestamp,
    Merge,
    Value,
}

impl Tag {
    /// The tag named by a full tag URI (`tag:yaml.org,2002:int`), if `SafeLoader` can
    /// construct scalars with it.
    pub(crate) fn from_uri(uri: &str) -> Option<Tag> {
        let name = uri.strip_prefix("tag:yaml.org,2002:")?;
        Some(match name {
            "null" => Tag::Null,
            "bool" => Tag::Bool,
            "int" => Tag::Int,
            "float" => Tag::Float,
            "str" => Tag::Str,
            "binary" => Tag::Binary,
            "timestamp" => Tag::Timestamp,
            "merge" => Tag::Merge,
            "value" => Tag::Value,
            _ => return None,
        })
    }
}

/// The tag PyYAML's resolver gives a plain (unquoted, untagged) scalar.
pub(crate) fn resolve_plain(text: &str) -> Tag {
    // PyYAML picks resolvers by the first character, then tries them in the order they
    // were registered: bool, float, int, merge, null, timestamp, value.
    if is_bool(text) {
        Tag::Bool
    } else if is_float(text) {
        Tag::Float
    } else if is_int(text) {
        Tag::Int
    } else if text == "<<" {
        Tag::Merge
    } else if is_null(text) {
        Tag::Null
    } else if parse_timestamp(text).is_some() {
        Tag::Timestamp
    } else if text == "=" {
        Tag::Value
    } else {
        Tag::Str
    }
}

fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// A small cursor for hand-written matchers of PyYAML's regular expressions.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            b: s.as_bytes(),
            i: 0,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_if(&mut self, f: impl Fn(u8) -> bool) -> bool {
        match self.peek() {
            Some(c) if f(c) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }
    /// Eats as many as match; returns how many.
    fn eat_while(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.eat_if(&f) {}
        self.i - start
    }
    fn sign(&mut self) {
        let _ = self.eat(b'-') || self.eat(b'+');
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

fn digit(c: u8) -> bool {
    c.is_ascii_digit()
}
fn digit_(c: u8) -> bool {
    c.is_ascii_digit() || c == b'_'
}

/// `(?::[0-5]?[0-9])+`: at least one sexagesimal group.
fn sexagesimal_groups(c: &mut Cursor<'_>) -> bool {
    let mut groups = 0;
    while c.eat(b':') {
        let n = c.eat_while(digit);
        let start = c.i - n;
        let ok = match n {
            1 => true,
            2 => (b'0'..=b'5').contains(&c.b[start]),
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    groups > 0
}

/// `(?:[eE][-+][0-9]+)?` (PyYAML requires the exponent's sign).
fn exponent(c: &mut Cursor<'_>) -> bool {
    if c.eat(b'e') || c.eat(b'E') {
        if !(c.eat(b'-') || c.eat(b'+')) {
            return false;
        }
        return c.eat_while(digit) > 0;
    }
    true
}

fn is_float(s: &str) -> bool {
    let alternatives: [fn(&mut Cursor<'_>) -> bool; 5] = [
        // [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |c| {
            c.sign();
            c.eat_if(digit)
                && {
                    c.eat_while(digit_);
                    c.eat(b'.')
                }
                && {
                    c.eat_while(digit_);
                    exponent(c)
                }
        },
        // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |c| {
            c.eat(b'.') && c.eat_if(digit) && {
                c.eat_while(digit_);
                exponent(c)
            }
        },
        // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |c| {
            c.sign();
            c.eat_if(digit)
                && {
                    c.eat_while(digit_);
                    sexagesimal_groups(c)
                }
                && c.eat(b'.')
                && {
                    c.eat_while(digit_);
                    true
                }
        },
        // [-+]?\.(?:inf|Inf|INF)
        |c| {
            c.sign();
            let rest = &c.b[c.i..];
            if matches!(rest, b".inf" | b".Inf" | b".INF") {
                c.i = c.b.len();
                true
            } else {
                false
            }
        },
        // \.(?:nan|NaN|NAN)
        |c| {
            let rest = &c.b[c.i..];
            if matches!(rest, b".nan" | b".NaN" | b".NAN") {
                c.i = c.b.len();
                true
            } else {
                false
            }
        },
    ];
    alternatives.iter().any(|alt| {
        let mut c = Cursor::new(s);
        alt(&mut c) && c.done()
    })
}

fn is_int(s: &str) -> bool {
    let alternatives: [fn(&mut Cursor<'_>) -> bool; 5] = [
        // [-+]?0b[0-1_]+
        |c| {
            c.sign();
            c.eat(b'0') && c.eat(b'b') && c.eat_while(|x| matches!(x, b'0' | b'1' | b'_')) > 0
        },
        // [-+]?0[0-7_]+
        |c| {
            c.sign();
            c.eat(b'0') && c.eat_while(|x| matches!(x, b'0'..=b'7' | b'_')) > 0
        },
        // [-+]?(?:0|[1-9][0-9_]*)
        |c| {
            c.sign();
            c.eat(b'0')
                || (c.eat_if(|x| matches!(x, b'1'..=b'9')) && {
                    c.eat_while(digit_);
                    true
                })
        },
        // [-+]?0x[0-9a-fA-F_]+
        |c| {
            c.sign();
            c.eat(b'0') && c.eat(b'x') && c.eat_while(|x| x.is_ascii_hexdigit() || x == b'_') > 0
        },
        // [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
        |c| {
            c.sign();
            c.eat_if(|x| matches!(x, b'1'..=b'9')) && {
                c.eat_while(digit_);
                sexagesimal_groups(c)
            }
        },
    ];
    alternatives.iter().any(|alt| {
        let mut c = Cursor::new(s);
        alt(&mut c) && c.done()
    })
}

/// The parts of a YAML 1.1 timestamp, when `text` is one.
#[derive(Debug, PartialEq, Eq)]
struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    time: Option<(u32, u32, u32)>,
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let mut c = Cursor::new(s);
    let num = |c: &mut Cursor<'_>, min: usize, max: usize| -> Option<u32> {
        let start = c.i;
        let n = c.eat_while(digit);
        if n < min || n > max {
            return None;
        }
        s.get(start..c.i)?.parse().ok()
    };
    let year = num(&mut c, 4, 4)?;
    if !c.eat(b'-') {
        return None;
    }
    // The date-only form needs exactly two digits each.
    let month_start = c.i;
    let month = num(&mut c, 1, 2)?;
    let month_len = c.i - month_start;
    if !c.eat(b'-') {
        return None;
    }
    let day_start = c.i;
    let day = num(&mut c, 1, 2)?;
    let day_len = c.i - day_start;
    if c.done() {
        return (month_len == 2 && day_len == 2).then_some(Timestamp {
            year,
            month,
            day,
            time: None,
        });
    }
    // (?:[Tt]|[ \t]+)
    if !(c.eat(b'T') || c.eat(b't') || c.eat_while(|x| x == b' ' || x == b'\t') > 0) {
        return None;
    }
    let hour = num(&mut c, 1, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = num(&mut c, 2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let second = num(&mut c, 2, 2)?;
    if c.eat(b'.') {
        c.eat_while(digit);
    }
    // (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    if !c.done() {
        c.eat_while(|x| x == b' ' || x == b'\t');
        if c.eat(b'Z') {
        } else if c.eat(b'-') || c.eat(b'+') {
            num(&mut c, 1, 2)?;
            if c.eat(b':') {
                num(&mut c, 2, 2)?;
            }
        } else {
            return None;
        }
    }
    c.done().then_some(Timestamp {
        year,
        month,
        day,
        time: Some((hour, minute, second)),
    })
}

/// Builds the value of a scalar whose tag is known, as `SafeConstructor` does. The error
/// text says what PyYAML (or the Python call it makes) would have refused.
pub(crate) fn construct(tag: Tag, text: &str) -> Result<Value, String> {
    match tag {
        Tag::Null => Ok(Value::Null),
        Tag::Str => Ok(Value::Str(text.to_string())),
        Tag::Bool => match text.to_lowercase().as_str() {
            "yes" | "true" | "on" => Ok(Value::Bool(true)),
            "no" | "false" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("'{text}' is not a YAML 1.1 boolean")),
        },
        Tag::Int => construct_int(text),
        Tag::Float => construct_float(text),
        Tag::Binary => construct_binary(text),
        Tag::Timestamp => {
            let ts = parse_timestamp(text)
                .ok_or_else(|| format!("'{text}' is not a YAML 1.1 timestamp"))?;
            check_date(&ts).map_err(|m| format!("invalid timestamp '{text}': {m}"))?;
            Ok(Value::Timestamp(text.to_string()))
        }
        Tag::Merge | Tag::Value => Err(format!(
            "could not determine a constructor for the scalar '{text}'"
        )),
    }
}

fn check_date(ts: &Timestamp) -> Result<(), &'static str> {
    if ts.year < 1 {
        return Err("year is out of range");
    }
    if !(1..=12).contains(&ts.month) {
        return Err("month must be in 1..12");
    }
    let leap = (ts.year % 4 == 0 && ts.year % 100 != 0) || ts.year % 400 == 0;
    let days = match ts.month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days).contains(&ts.day) {
        return Err("day is out of range for month");
    }
    if let Some((h, m, s)) = ts.time {
        if h > 23 {
            return Err("hour must be in 0..23");
        }
        if m > 59 {
            return Err("minute must be in 0..59");
        }
        if s > 59 {
            return Err("second must be in 0..59");
        }
    }
    Ok(())
}

fn split_sign(text: &str) -> (i64, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    }
}

fn construct_int(text: &str) -> Result<Value, String> {
    let cleaned = text.replace('_', "");
    let (sign, digits) = split_sign(&cleaned);
    let bad = || format!("invalid literal for int: '{text}'");
    let parsed: Option<i128> = if digits.is_empty() {
        None
    } else if digits == "0" {
        Some(0)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if digits.starts_with('0') {
        i128::from_str_radix(digits, 8).ok()
    } else if digits.contains(':') {
        let mut total: i128 = 0;
        for part in digits.split(':') {
            let part: i128 = part.parse().map_err(|_| bad())?;
            total = total
                .checked_mul(60)
                .and_then(|t| t.checked_add(part))
                .ok_or_else(bad)?;
        }
        Some(total)
    } else {
        digits.parse::<i128>().ok()
    };
    // `from_str_radix` accepts a sign of its own; PyYAML's `int()` would not after the
    // sign was split off.
    if digits.contains(['+', '-']) {
        return Err(bad());
    }
    match parsed {
        Some(n) => {
            let n = n * i128::from(sign);
            Ok(i64::try_from(n).map_or(Value::Float(n as f64), Value::Int))
        }
        // Beyond i128: keep the magnitude as a float, as close as we can get.
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits
            .parse::<f64>()
            .map(|f| Value::Float(f * sign as f64))
            .map_err(|_| bad()),
        None => Err(bad()),
    }
}

fn construct_float(text: &str) -> Result<Value, String> {
    let cleaned = text.replace('_', "").to_lowercase();
    let (sign, digits) = split_sign(&cleaned);
    let sign = sign as f64;
    let bad = || format!("could not convert string to float: '{text}'");
    if digits == ".inf" {
        return Ok(Value::Float(sign * f64::INFINITY));
    }
    if digits == ".nan" {
        return Ok(Value::Float(f64::NAN));
    }
    if digits.contains(['+', '-']) && !digits.contains('e') {
        return Err(bad());
    }
    if digits.contains(':') {
        let mut total = 0.0;
        for part in digits.split(':') {
            let part = parse_python_float(part).ok_or_else(bad)?;
            total = total * 60.0 + part;
        }
        return Ok(Value::Float(sign * total));
    }
    parse_python_float(digits)
        .map(|f| Value::Float(sign * f))
        .ok_or_else(bad)
}

/// Python's `float()` over the digits PyYAML hands it (no sign, no `_`): accepts `1.`,
/// `.5` and `1.e+3`, which Rust's parser may not all accept.
fn parse_python_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.starts_with(['+', '-']) {
        return None;
    }
    let (mantissa, exp) = match s.find('e') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut text = mantissa.to_string();
    if text.ends_with('.') {
        text.push('0');
    }
    if text.starts_with('.') {
        text.insert(0, '0');
    }
    if let Some(exp) = exp {
        text.push('e');
        text.push_str(exp);
    }
    text.parse().ok()
}

fn construct_binary(text: &str) -> Result<Value, String> {
    // Python's base64.decodebytes skips characters outside the alphabet (newlines,
    // spaces) and stops at the padding.
    let filtered: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let data = match filtered.find('=') {
        Some(i) => &filtered[..i],
        None => filtered.as_str(),
    };
    if data.len() % 4 == 1 {
        return Err("failed to convert base64 data into ascii to binary: incorrect padding".into());
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(data)
        .map(Value::Bytes)
        .map_err(|e| format!("failed to decode base64 data: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_as_pyyaml() {
        // Each tag was checked with `yaml.safe_load` (PyYAML 6.0).
        let cases = [
            ("yes", Tag::Bool),
            ("Off", Tag::Bool),
            ("y", Tag::Str),
            ("n", Tag::Str),
            ("yEs", Tag::Str),
            ("0644", Tag::Int),
            ("0o644", Tag::Str),
            ("08", Tag::Str),
            ("0x1F", Tag::Int),
            ("0b101", Tag::Int),
            ("1_000", Tag::Int),
            ("1:20", Tag::Int),
            ("1:60", Tag::Str),
            ("1.5", Tag::Float),
            ("1e3", Tag::Str),
            ("1.0e3", Tag::Str),
            ("1.0e+3", Tag::Float),
            ("1.", Tag::Float),
            (".5", Tag::Float),
            ("-.inf", Tag::Float),
            (".NaN", Tag::Float),
            ("1:20.5", Tag::Float),
            ("~", Tag::Null),
            ("", Tag::Null),
            ("NULL", Tag::Null),
            ("nULL", Tag::Str),
            ("2001-12-14", Tag::Timestamp),
            ("2001-12-14t21:59:43.10-05:00", Tag::Timestamp),
            ("2001-12-14 21:59:43.10 -5", Tag::Timestamp),
            ("2001-1-4", Tag::Str),
            ("<<", Tag::Merge),
            ("=", Tag::Value),
            ("+1", Tag::Int),
            ("-0", Tag::Int),
        ];
        for (text, tag) in cases {
            assert_eq!(resolve_plain(text), tag, "{text:?}");
        }
    }

    #[test]
    fn ints_construct_as_pyyaml() {
        let cases = [
            ("0644", 420),
            ("-0644", -420),
            ("0x_1F", 31),
            ("0b1_01", 5),
            ("1_000", 1000),
            ("1:20", 80),
            ("-1:0:0", -3600),
            ("0", 0),
            ("+12", 12),
        ];
        for (text, want) in cases {
            assert_eq!(construct(Tag::Int, text), Ok(Value::Int(want)), "{text}");
        }
        assert!(construct(Tag::Int, "0b").is_err());
        assert!(construct(Tag::Int, "abc").is_err());
    }

    #[test]
    fn floats_construct_as_pyyaml() {
        let cases = [
            ("1.5", 1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("1.0e+3", 1000.0),
            ("1_0.5", 10.5),
            ("1:20.5", 80.5),
            ("-.inf", f64::NEG_INFINITY),
        ];
        for (text, want) in cases {
            assert_eq!(
                construct(Tag::Float, text),
                Ok(Value::Float(want)),
                "{text}"
            );
        }
        assert!(matches!(construct(Tag::Float, ".nan"), Ok(Value::Float(f)) if f.is_nan()));
        // An explicit !!float on an int text is still a float.
        assert_eq!(construct(Tag::Float, "3"), Ok(Value::Float(3.0)));
    }

    #[test]
    fn binary_and_timestamps() {
        assert_eq!(
            construct(Tag::Binary, "aGVs\nbG8="),
            Ok(Value::Bytes(b"hello".to_vec()))
        );
        assert!(construct(Tag::Binary, "aGVsb").is_err());
        assert_eq!(
            construct(Tag::Timestamp, "2001-12-14"),
            Ok(Value::Timestamp("2001-12-14".into()))
        );
        // PyYAML resolves it as a timestamp, then datetime.date refuses it.
        assert!(construct(Tag::Timestamp, "2001-02-30").is_err());
        assert!(construct(Tag::Bool, "maybe").is_err());
    }
}
