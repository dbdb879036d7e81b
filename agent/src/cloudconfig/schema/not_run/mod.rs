//! The schema of the top-level keys of cloud-init modules strap does not run, written
//! from cloud-init 25's cloud-config schema (`schema-cloud-config-v1.json`), so that
//! `strap userdata validate` judges them as `cloud-init schema` does. One definition per
//! key, grouped by area. `format` (`uri`, `hostname`) is not checked: cloud-init checks
//! it only when optional Python packages are installed. `changed` (text where a boolean
//! is now wanted) warns as a deprecation, as in 25. Where cloud-init 22.4's schema
//! differs, the definition says so and follows 25.

mod config_management;
mod disks;
mod packages;
mod system;

pub(crate) use config_management::*;
pub(crate) use disks::*;
pub(crate) use packages::*;
pub(crate) use system::*;

use super::eval::{Ty, S};

/// A schema without keywords: every value matches.
pub(crate) const ANY: S = S::All(&[]);
const STR: S = S::Type(&[Ty::Str]);
const BOOL: S = S::Type(&[Ty::Bool]);
const INT: S = S::Type(&[Ty::Int]);
const NUMBER: S = S::Type(&[Ty::Number]);
const ARRAY: S = S::Type(&[Ty::Array]);
const OBJECT: S = S::Type(&[Ty::Object]);
const STRINGS: S = S::Array {
    items: &STR,
    min: 0,
    max: None,
    unique: false,
};

/// Python's `re.search` of `^…$` lets one newline end the text; `.` is any other
/// character. The text before that newline.
fn line_of(s: &str) -> Option<&str> {
    let body = s.strip_suffix('\n').unwrap_or(s);
    (!body.contains('\n')).then_some(body)
}

/// `^.*$`.
fn is_one_line(s: &str) -> bool {
    line_of(s).is_some()
}

/// `^.+$`.
fn is_non_empty(s: &str) -> bool {
    line_of(s).is_some_and(|b| !b.is_empty())
}

/// `^[-_0-9a-zA-Z]+(,[-_0-9a-zA-Z]+)*$`: names separated by commas.
fn is_name_list(s: &str) -> bool {
    line_of(s).is_some_and(|b| {
        b.split(',').all(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    })
}
