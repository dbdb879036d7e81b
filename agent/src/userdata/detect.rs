//! Header sniffing: which content type a payload's first characters announce
//! (`#!`, `#cloud-config`, `#include`, …), matched case-insensitively after leading
//! whitespace, longest prefix first, as cloud-init's `type_from_starts_with` does. Also
//! recognises PowerShell user data as EC2 writes it (`<powershell>`, `<script>`,
//! `<persist>`), which cloud-init does not know. Pure functions, no I/O.

use super::content_type as ct;

/// The prefixes cloud-init recognises, longest first (ties keep a fixed order).
const PREFIXES: &[(&str, &str)] = &[
    (
        "text/x-shellscript-per-instance",
        ct::SHELLSCRIPT_PER_INSTANCE,
    ),
    ("text/x-shellscript-per-once", ct::SHELLSCRIPT_PER_ONCE),
    ("text/x-shellscript-per-boot", ct::SHELLSCRIPT_PER_BOOT),
    ("#cloud-config-archive", ct::CLOUD_CONFIG_ARCHIVE),
    ("#cloud-config-jsonp", ct::CLOUD_CONFIG_JSONP),
    ("## template: jinja", ct::JINJA),
    ("#cloud-boothook", ct::BOOTHOOK),
    ("#include-once", ct::INCLUDE_ONCE),
    ("#cloud-config", ct::CLOUD_CONFIG),
    ("#part-handler", ct::PART_HANDLER),
    ("#include", ct::INCLUDE),
    ("#!", ct::SHELLSCRIPT),
];

/// PowerShell user data as EC2 (EC2Launch) reads it: strap's own addition.
const POWERSHELL_PREFIXES: &[&str] = &["<powershell>", "<script>", "<persist>"];

/// How many characters of a payload sniffing ever needs to look at.
const LONGEST_PREFIX: usize = 32;

/// Whether a character is whitespace the way Python's `str.isspace` sees it.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The payload's text for sniffing. `lossy` reads invalid UTF-8 as replacement
/// characters (cloud-init decodes text parts with `surrogateescape`, so they always sniff);
/// otherwise invalid UTF-8 means "no type", as for decompressed bytes.
fn head(payload: &[u8], lossy: bool) -> Option<String> {
    // Leading whitespace can be long; look at it all, but only keep a short head after.
    let text = match std::str::from_utf8(payload) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) if lossy => String::from_utf8_lossy(payload),
        Err(_) => return None,
    };
    let trimmed = text.trim_start_matches(is_py_space);
    Some(
        trimmed
            .chars()
            .take(LONGEST_PREFIX)
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// The content type the payload's header announces, if any (cloud-init's prefixes only).
/// `lossy`: see [`head`].
pub fn sniff(payload: &[u8], lossy: bool) -> Option<&'static str> {
    let head = head(payload, lossy)?;
    PREFIXES
        .iter()
        .find(|(prefix, _)| head.starts_with(prefix))
        .map(|(_, ty)| *ty)
}

/// [`sniff`], then strap's PowerShell detection for what cloud-init would not handle.
pub fn sniff_with_powershell(payload: &[u8], lossy: bool) -> Option<&'static str> {
    sniff(payload, lossy).or_else(|| {
        let head = head(payload, lossy)?;
        POWERSHELL_PREFIXES
            .iter()
            .any(|p| head.starts_with(p))
            .then_some(ct::POWERSHELL)
    })
}

/// The start of a payload shown in cloud-init's "unhandled" warning: the first line, at
/// most 24 characters.
pub fn first_line(payload: &[u8]) -> String {
    const SIZE: usize = 24;
    let window = &payload[..payload.len().min(4 * SIZE)];
    let text = String::from_utf8_lossy(window);
    let line = text.split('\n').next().unwrap_or_default();
    line.chars()
        .take(SIZE)
        .collect::<String>()
        .escape_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        assert_eq!(
            sniff(b"#cloud-config-archive\n- a", true),
            Some(ct::CLOUD_CONFIG_ARCHIVE)
        );
        assert_eq!(
            sniff(b"#cloud-config-jsonp\n[]", true),
            Some(ct::CLOUD_CONFIG_JSONP)
        );
        assert_eq!(sniff(b"#cloud-config\na: 1", true), Some(ct::CLOUD_CONFIG));
        assert_eq!(
            sniff(b"#include-once\nhttp://x", true),
            Some(ct::INCLUDE_ONCE)
        );
        assert_eq!(sniff(b"#include http://x", true), Some(ct::INCLUDE));
    }

    #[test]
    fn prefix_only_case_insensitive_after_whitespace() {
        assert_eq!(sniff(b"#cloud-configfoo", true), Some(ct::CLOUD_CONFIG));
        assert_eq!(
            sniff(b"  \n\t#CLOUD-Config\n", true),
            Some(ct::CLOUD_CONFIG)
        );
        assert_eq!(sniff(b"\n#!/bin/sh", true), Some(ct::SHELLSCRIPT));
        assert_eq!(sniff(b"## TEMPLATE: JINJA\n", true), Some(ct::JINJA));
        // Exactly one space after the colon.
        assert_eq!(sniff(b"## template:jinja\n", true), None);
        assert_eq!(sniff(b"echo hi", true), None);
        assert_eq!(sniff(b"", true), None);
    }

    #[test]
    fn a_byte_order_mark_is_not_whitespace() {
        assert_eq!(sniff("\u{feff}#!/bin/sh".as_bytes(), true), None);
    }

    #[test]
    fn invalid_utf8_sniffs_only_when_lossy() {
        let payload = b"#!/bin/sh\necho \xff";
        assert_eq!(sniff(payload, true), Some(ct::SHELLSCRIPT));
        assert_eq!(sniff(payload, false), None);
    }

    #[test]
    fn powershell_is_strap_only() {
        assert_eq!(
            sniff(b"<powershell>\nWrite-Host hi\n</powershell>", true),
            None
        );
        assert_eq!(
            sniff_with_powershell(b"  <PowerShell>\nWrite-Host hi", true),
            Some(ct::POWERSHELL)
        );
        assert_eq!(
            sniff_with_powershell(b"<script>echo hi</script>", true),
            Some(ct::POWERSHELL)
        );
        assert_eq!(
            sniff_with_powershell(b"#!/bin/sh", true),
            Some(ct::SHELLSCRIPT)
        );
    }

    #[test]
    fn first_line_is_short() {
        assert_eq!(first_line(b"echo hi\nmore"), "echo hi");
        assert_eq!(
            first_line(b"0123456789012345678901234567890"),
            "012345678901234567890123"
        );
    }
}
