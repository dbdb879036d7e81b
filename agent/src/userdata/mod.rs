//! User data, from raw bytes to an ordered list of typed parts, the way cloud-init reads
//! it: base64, gzip, MIME, includes, archives, templates, header sniffing.
//!
//! (Skeleton: the contract below is what the boot codes against.)

/// The content types cloud-init gives parts, as strings the rest of strap matches on.
pub mod content_type {
    /// A `#!` script (run in the final stage, per instance).
    pub const SHELLSCRIPT: &str = "text/x-shellscript";
    /// MIME-only script types with their own frequency.
    pub const SHELLSCRIPT_PER_BOOT: &str = "text/x-shellscript-per-boot";
    pub const SHELLSCRIPT_PER_INSTANCE: &str = "text/x-shellscript-per-instance";
    pub const SHELLSCRIPT_PER_ONCE: &str = "text/x-shellscript-per-once";
    /// `#cloud-config`.
    pub const CLOUD_CONFIG: &str = "text/cloud-config";
    /// `#cloud-boothook`.
    pub const BOOTHOOK: &str = "text/cloud-boothook";
    /// `#include`, `#include-once`.
    pub const INCLUDE: &str = "text/x-include-url";
    pub const INCLUDE_ONCE: &str = "text/x-include-once-url";
    /// `#cloud-config-archive`.
    pub const CLOUD_CONFIG_ARCHIVE: &str = "text/cloud-config-archive";
    /// `## template: jinja`.
    pub const JINJA: &str = "text/jinja2";
    /// `#part-handler` (refused by strap).
    pub const PART_HANDLER: &str = "text/part-handler";
    /// `#cloud-config-jsonp` (refused by strap).
    pub const CLOUD_CONFIG_JSONP: &str = "text/cloud-config-jsonp";
    /// PowerShell user data as EC2 writes it (`<powershell>…</powershell>`).
    pub const POWERSHELL: &str = "text/x-powershell";
    /// Anything unrecognised.
    pub const PLAIN: &str = "text/plain";
}

/// One part of the decoded user data.
#[derive(Clone, PartialEq, Eq)]
pub struct Part {
    /// The content type cloud-init would give it (see [`content_type`]).
    pub content_type: String,
    /// `part-001`… across the flattened result, or the filename the MIME part carried.
    pub filename: String,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The part's `Merge-Type` header, if any (cloud-config merging).
    pub merge_how: Option<String>,
}

impl std::fmt::Debug for Part {
    // User data may hold passwords: the payload is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("content_type", &self.content_type)
            .field("filename", &self.filename)
            .field("bytes", &self.payload.len())
            .field("merge_how", &self.merge_how)
            .finish()
    }
}

/// The result of decoding: the parts in order, and cloud-init's warnings.
#[derive(Clone, Debug, Default)]
pub struct Decoded {
    pub parts: Vec<Part>,
    pub warnings: Vec<String>,
}
