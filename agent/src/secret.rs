//! Values that must never reach logs, `Debug` output or error messages: access keys,
//! session tokens, IMDS tokens, user data. They print as `** redacted **`; the value is
//! reachable only through [`Secret::expose`], which makes every use easy to audit.

use std::fmt;

/// A value whose `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wrap a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Call this only where the secret is needed (a header, an
    /// output the user asked for), never to log it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwrap the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// Mask an access key as `aws configure list` does: sixteen `*` then the last four
/// characters (`****************ABCD`).
pub fn mask_key(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}{}", "*".repeat(16), tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("AKIDEXAMPLESECRET".to_string());
        assert!(!format!("{s:?}").contains("AKID"));
        assert!(!format!("{s}").contains("AKID"));
        assert_eq!(s.expose(), "AKIDEXAMPLESECRET");
    }

    #[test]
    fn masks_like_configure_list() {
        assert_eq!(mask_key("AKIAIOSFODNN7EXAMPLE"), "****************MPLE");
    }
}
