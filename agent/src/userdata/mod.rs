//! User data, from raw bytes to an ordered list of typed parts, the way cloud-init reads
//! it (spec 1.1–1.7, 1.10): EC2's extra base64, whole-blob gzip, MIME (only when
//! `MIME-Version:` appears in the first 4096 bytes), nested multiparts flattened,
//! transfer encodings and charsets undone, gzip parts decompressed and re-sniffed, header
//! sniffing, `#include`, `#cloud-config-archive`, `## template: jinja`, part naming
//! (`part-NNN`) and `Launch-Index` filtering, plus systemd's `#systemd-userdata` / JSON
//! credentials format ([`systemd`]). It also says what strap will do with each
//! part and when ([`disposition`]). It never runs anything and never logs payloads;
//! nesting depth, part count and decompressed size are capped.

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
    /// systemd's user data (`#systemd-userdata`, or a JSON object): credentials for
    /// `/run/credstore`, as `systemd-imds --import` reads them (strap's name for it).
    pub const SYSTEMD_USERDATA: &str = "text/x-systemd-userdata";
    /// PowerShell user data as EC2 writes it (`<powershell>…</powershell>`).
    pub const POWERSHELL: &str = "text/x-powershell";
    /// Anything unrecognised.
    pub const PLAIN: &str = "text/plain";
    /// A blob that is not MIME, before (or after failed) sniffing.
    pub const NOT_MULTIPART: &str = "text/x-not-multipart";
}

mod archive;
#[cfg(test)]
mod cases;
pub mod detect;
mod disposition;
pub mod include;
pub mod mime;
mod pipeline;
pub mod powershell;
pub mod systemd;
pub mod template;
mod yamlguard;

pub use disposition::{disposition, Action, Disposition, Frequency, Stage};
pub use include::IncludeOptions;

use std::path::PathBuf;

/// One part of the decoded user data.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// The content type cloud-init would give it (see [`content_type`]).
    pub content_type: String,
    /// `part-001`… across the flattened result, or the filename the MIME part carried.
    pub filename: String,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The part's `Merge-Type` header, if any (cloud-config merging).
    pub merge_how: Option<String>,
    /// The part's `Launch-Index` (MIME header, archive key, or a cloud-config's
    /// `launch-index`), as written.
    pub launch_index: Option<String>,
}

impl std::fmt::Debug for Part {
    // User data may hold passwords: the payload is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("content_type", &self.content_type)
            .field("filename", &self.filename)
            .field("bytes", &self.payload.len())
            .field("merge_how", &self.merge_how)
            .field("launch_index", &self.launch_index)
            .finish()
    }
}

impl Part {
    /// What strap will do with this part, and when.
    pub fn disposition(&self) -> Disposition {
        disposition(&self.content_type)
    }
}

/// The result of decoding: the parts in order, and cloud-init's warnings.
#[derive(Clone, Debug, Default)]
pub struct Decoded {
    pub parts: Vec<Part>,
    pub warnings: Vec<String>,
    /// Limits the user data went past ([`Limits`]), each naming the limit and the part:
    /// the part was skipped and decoding went on; the boot ends `error`.
    pub errors: Vec<String>,
}

/// Caps that keep decoding bounded in memory and time. Each has a default and a key
/// under `strap_limits:` in the image's system config (`/etc/cloud/cloud.cfg` and its
/// drop-ins), named in the error when user data goes past it ([`Limits::KEYS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Nesting depth of multiparts and includes together (`max_depth`).
    pub max_depth: usize,
    /// Parts in the flattened result, and leaves in any one message or entries in any one
    /// `#cloud-config-archive` (`max_parts`).
    pub max_parts: usize,
    /// Bytes of any one decompressed or fetched body, and of all payloads together
    /// (`max_decoded_bytes`).
    pub max_bytes: usize,
    /// `#include` URLs fetched in all, include-once cache hits counted too, retries not
    /// (`max_include_fetches`).
    pub max_include_fetches: usize,
    /// Bytes one include may return (`max_include_bytes`).
    pub max_include_bytes: usize,
    /// Time all include fetches may take together (`include_time`, in seconds).
    pub include_time: std::time::Duration,
    /// Nesting of collections in a YAML document of the user data: one decoding reads
    /// itself (the `#cloud-config-archive` list, a cloud-config's `launch-index`), and
    /// each cloud-config part the boot loads (`yaml_max_depth`).
    pub yaml_max_depth: usize,
    /// Nodes such a document may produce, counting every copy an alias makes
    /// (`yaml_max_nodes`).
    pub yaml_max_nodes: usize,
    /// Instructions one `## template: jinja` part may execute (`jinja_fuel`).
    pub jinja_fuel: u64,
    /// Bytes one template may render (`jinja_max_output`).
    pub jinja_max_output: usize,
    /// Longest line of a script's output kept in the output log and in the records;
    /// longer lines are cut there (`max_log_line`).
    pub max_log_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_parts: 1000,
            max_bytes: 64 << 20,
            max_include_fetches: 100,
            max_include_bytes: 16 << 20,
            include_time: std::time::Duration::from_secs(120),
            yaml_max_depth: crate::cloudconfig::MAX_DEPTH,
            yaml_max_nodes: crate::cloudconfig::MAX_NODES,
            jinja_fuel: template::FUEL,
            jinja_max_output: template::MAX_OUTPUT,
            max_log_line: 64 << 10,
        }
    }
}

impl Limits {
    /// The system config key that holds the limits.
    pub const CONFIG_KEY: &'static str = "strap_limits";
    /// The keys under [`Limits::CONFIG_KEY`].
    pub const KEYS: [&'static str; 11] = [
        "max_depth",
        "max_parts",
        "max_decoded_bytes",
        "max_include_fetches",
        "max_include_bytes",
        "include_time",
        "yaml_max_depth",
        "yaml_max_nodes",
        "jinja_fuel",
        "jinja_max_output",
        "max_log_line",
    ];

    /// Set one limit by its key (a positive number; `include_time` in seconds). `false`
    /// when the key is unknown or the value is not a positive integer.
    pub fn set(&mut self, key: &str, value: u64) -> bool {
        let Ok(n) = usize::try_from(value) else {
            return false;
        };
        if n == 0 {
            return false;
        }
        match key {
            "max_depth" => self.max_depth = n,
            "max_parts" => self.max_parts = n,
            "max_decoded_bytes" => self.max_bytes = n,
            "max_include_fetches" => self.max_include_fetches = n,
            "max_include_bytes" => self.max_include_bytes = n,
            "include_time" => self.include_time = std::time::Duration::from_secs(value),
            "yaml_max_depth" => self.yaml_max_depth = n,
            "yaml_max_nodes" => self.yaml_max_nodes = n,
            "jinja_fuel" => self.jinja_fuel = value,
            "jinja_max_output" => self.jinja_max_output = n,
            "max_log_line" => self.max_log_line = n,
            _ => return false,
        }
        true
    }
}

/// How to decode user data.
#[derive(Clone)]
pub struct DecodeOptions {
    /// The instance's `ami-launch-index`: parts with another `Launch-Index` are dropped.
    /// `None` keeps every part.
    pub launch_index: Option<i64>,
    /// Instance data (`v1.*`, `ds.meta_data.*`) for `## template: jinja` parts; `None`
    /// leaves templates unrendered (content type `text/jinja2`).
    pub instance_data: Option<serde_json::Value>,
    /// Fetching `#include` URLs and the include-once cache.
    pub include: IncludeOptions,
    /// Caps on depth, part count and size.
    pub limits: Limits,
    /// Decode a blob that is entirely base64 once more, as cloud-init does for EC2.
    pub ec2_base64: bool,
    /// cloud-init's `ERROR_ON_USER_DATA_FAILURE` (on since 20.3): a failed include or
    /// gzip part is an error; when off it is a warning and the part is skipped.
    pub error_on_failure: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            launch_index: None,
            instance_data: None,
            include: IncludeOptions::default(),
            limits: Limits::default(),
            ec2_base64: true,
            error_on_failure: true,
        }
    }
}

impl std::fmt::Debug for DecodeOptions {
    // Instance data may hold secrets: only whether it is there is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeOptions")
            .field("launch_index", &self.launch_index)
            .field("instance_data", &self.instance_data.as_ref().map(|_| "…"))
            .field("include", &self.include)
            .field("limits", &self.limits)
            .field("ec2_base64", &self.ec2_base64)
            .field("error_on_failure", &self.error_on_failure)
            .finish()
    }
}

/// Why user data could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    /// A part declared as gzip does not decompress (cloud-init: error since 20.3).
    #[error("{part}: {content_type} payload of {bytes} bytes does not decompress ({reason}); re-create it with gzip or declare its real type")]
    Gzip {
        part: String,
        content_type: String,
        bytes: usize,
        reason: String,
    },
    /// An `#include` URL could not be read (cloud-init: error since 20.3).
    #[error("{part} line {line}: fetching include {url} failed after {attempts} attempt(s); check the URL is reachable from the instance")]
    Include {
        part: String,
        line: usize,
        url: String,
        attempts: u32,
        #[source]
        source: Box<include::FetchError>,
    },
    /// An include includes itself, directly or not.
    #[error("{part} line {line}: include {url} loops back to itself (chain: {chain})")]
    IncludeLoop {
        part: String,
        line: usize,
        url: String,
        chain: String,
    },
    /// A message that declares MIME is not UTF-8 (Python's parser refuses it).
    #[error(
        "{part}: MIME message is not valid UTF-8 at byte {offset}; encode 8-bit parts as base64"
    )]
    MimeNotUtf8 { part: String, offset: usize },
    /// Multiparts and includes nest deeper than the cap.
    #[error("{part}: user data nests deeper than {max} levels of multiparts and includes (limit strap_limits.max_depth); the part is skipped")]
    TooDeep { part: String, max: usize },
    /// More parts than the cap.
    #[error("{part}: user data has more than {max} parts (limit strap_limits.max_parts); this part and the ones after it are skipped")]
    TooManyParts { part: String, max: usize },
    /// The thread or runtime that [`decode_blocking`] needs could not be started.
    #[error("cannot start the runtime to decode user data: {reason}")]
    Runtime { reason: String },
    /// A body decompresses (or downloads) to more than the cap.
    #[error("{part}: user data grows past {max} bytes when decompressed or fetched (limit strap_limits.{limit}); the part is skipped")]
    TooLarge {
        part: String,
        max: usize,
        limit: &'static str,
    },
    /// More include fetches than the cap.
    #[error("{part} line {line}: include {url} not fetched: more than {max} include fetches (limit strap_limits.max_include_fetches)")]
    TooManyFetches {
        part: String,
        line: usize,
        url: String,
        max: usize,
    },
    /// The include fetches together took longer than the cap.
    #[error("{part} line {line}: include {url} not fetched: includes took more than {secs} s in all (limit strap_limits.include_time)")]
    IncludeTime {
        part: String,
        line: usize,
        url: String,
        secs: u64,
    },
    /// A YAML document decoding reads goes past a YAML limit.
    #[error("{part}: {what} (limit strap_limits.{limit}); the part is skipped")]
    Yaml {
        part: String,
        what: String,
        limit: &'static str,
    },
}

impl UserDataError {
    /// Whether this is one of the [`Limits`]: the boot goes on with the other parts.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Self::TooDeep { .. }
                | Self::TooManyParts { .. }
                | Self::TooLarge { .. }
                | Self::TooManyFetches { .. }
                | Self::IncludeTime { .. }
                | Self::Yaml { .. }
        )
    }
}

/// Decode raw user data (as IMDS returns it) into its parts, the way cloud-init does.
/// Warnings are returned, not logged: the caller logs them.
pub async fn decode(raw: &[u8], opts: &DecodeOptions) -> Result<Decoded, UserDataError> {
    pipeline::decode(raw, opts).await
}

/// [`decode`] for synchronous callers, inside or outside an async runtime: it runs on a
/// scoped thread with its own single-threaded runtime.
pub fn decode_blocking(raw: &[u8], opts: &DecodeOptions) -> Result<Decoded, UserDataError> {
    std::thread::scope(|scope| {
        let worker = crate::threads::scoped(scope, "decode", || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| UserDataError::Runtime {
                    reason: e.to_string(),
                })?;
            runtime.block_on(decode(raw, opts))
        })
        .map_err(|e| UserDataError::Runtime {
            reason: e.to_string(),
        })?;
        worker.join().unwrap_or_else(|_| {
            Err(UserDataError::Runtime {
                reason: "the decoding thread stopped unexpectedly".into(),
            })
        })
    })
}

/// Where an include-once cache lives for an instance folder (`…/instance`), as
/// cloud-init lays it out: `<instance>/data/urlcache`.
pub fn include_cache_dir(instance_dir: impl Into<PathBuf>) -> PathBuf {
    instance_dir.into().join("data").join("urlcache")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::io::Write as _;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    async fn run(raw: &[u8]) -> Decoded {
        decode(raw, &DecodeOptions::default()).await.unwrap()
    }

    fn summary(d: &Decoded) -> Vec<(String, String)> {
        d.parts
            .iter()
            .map(|p| (p.content_type.clone(), p.filename.clone()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn blocking_decode_works_inside_and_outside_a_runtime() {
        let opts = DecodeOptions::default();
        let d = decode_blocking(b"#cloud-config\n", &opts).unwrap();
        assert_eq!(d.parts[0].content_type, content_type::CLOUD_CONFIG);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let d = rt
            .block_on(async { decode_blocking(b"#!/bin/sh\n", &opts) })
            .unwrap();
        assert_eq!(d.parts[0].content_type, content_type::SHELLSCRIPT);
    }

    #[tokio::test]
    async fn plain_script_is_part_001() {
        let d = run(b"#!/bin/sh\necho hi\n").await;
        assert_eq!(
            summary(&d),
            pairs(&[(content_type::SHELLSCRIPT, "part-001")])
        );
        assert_eq!(d.parts[0].payload, b"#!/bin/sh\necho hi\n");
        assert!(d.warnings.is_empty());
    }

    #[tokio::test]
    async fn ec2_double_base64_and_whole_blob_gzip() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"#cloud-config\na: 1\n");
        let d = run(b64.as_bytes()).await;
        assert_eq!(d.parts[0].content_type, content_type::CLOUD_CONFIG);
        let d = run(&gz(b"#!/bin/sh\n")).await;
        assert_eq!(d.parts[0].content_type, content_type::SHELLSCRIPT);
        assert_eq!(d.parts[0].payload, b"#!/bin/sh\n");
    }

    #[tokio::test]
    async fn unrecognised_text_warns_with_its_first_line() {
        let d = run(b"echo hi\nmore\n").await;
        assert_eq!(
            summary(&d),
            pairs(&[(content_type::NOT_MULTIPART, "part-001")])
        );
        assert!(d.warnings[0]
            .starts_with("Unhandled non-multipart (text/x-not-multipart) userdata: 'echo hi...'"));
    }

    #[tokio::test]
    async fn mime_only_with_mime_version_in_first_4096_bytes() {
        let msg = b"Content-Type: multipart/mixed; boundary=a\n\n--a\n\n#!/bin/sh\n--a--\n";
        let d = run(msg).await;
        assert_eq!(d.parts[0].content_type, content_type::NOT_MULTIPART);
        let mut late = vec![b' '; 4096];
        late.extend_from_slice(b"MIME-Version: 1.0\n");
        let d = run(&late).await;
        assert_eq!(d.parts[0].content_type, content_type::NOT_MULTIPART);
    }

    const MIME: &str = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"==B==\"\n\n--==B==\nContent-Type: text/plain\n\n#cloud-config\nruncmd: [ls]\n--==B==\nContent-Type: text/x-shellscript-per-boot\nContent-Disposition: attachment; filename=\"boot.sh\"\n\n#!/bin/sh\necho boot\n--==B==\nContent-Type: text/cloud-config\nMerge-Type: list(append)+dict(recurse_array)+str()\nLaunch-Index: 1\n\nb: 2\n--==B==\nContent-Type: text/x-shellscript\n\nnot a script\n--==B==\nContent-Type: text/cloud-config\n\n#!/bin/sh\n--==B==--\n";

    #[tokio::test]
    async fn mime_parts_sniffed_only_for_plain_and_shellscript() {
        let d = run(MIME.as_bytes()).await;
        assert_eq!(
            summary(&d),
            pairs(&[
                (content_type::CLOUD_CONFIG, "part-001"),
                (content_type::SHELLSCRIPT_PER_BOOT, "boot.sh"),
                (content_type::CLOUD_CONFIG, "part-003"),
                (content_type::SHELLSCRIPT, "part-004"),
                (content_type::CLOUD_CONFIG, "part-005"),
            ])
        );
        assert_eq!(
            d.parts[2].merge_how.as_deref(),
            Some("list(append)+dict(recurse_array)+str()")
        );
        assert_eq!(d.parts[2].launch_index.as_deref(), Some("1"));
        assert_eq!(d.parts[1].payload, b"#!/bin/sh\necho boot");
    }

    #[tokio::test]
    async fn launch_index_filters_parts_but_keeps_numbers() {
        let opts = DecodeOptions {
            launch_index: Some(0),
            ..DecodeOptions::default()
        };
        let d = decode(MIME.as_bytes(), &opts).await.unwrap();
        let names: Vec<_> = d.parts.iter().map(|p| p.filename.as_str()).collect();
        assert_eq!(names, ["part-001", "boot.sh", "part-004", "part-005"]);
    }

    #[tokio::test]
    async fn gzip_parts_are_decompressed_and_resniffed() {
        use base64::Engine as _;
        let body =
            base64::engine::general_purpose::STANDARD.encode(gz(b"#cloud-boothook\necho x\n"));
        let msg = format!("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"hook\"\nMerge-Type: x\n\n{body}\n--b--\n");
        let d = run(msg.as_bytes()).await;
        assert_eq!(summary(&d), pairs(&[(content_type::BOOTHOOK, "hook")]));
        assert_eq!(d.parts[0].payload, b"#cloud-boothook\necho x\n");
        assert_eq!(d.parts[0].merge_how, None);
    }

    #[tokio::test]
    async fn truncated_gzip_part_is_an_error_or_a_warning() {
        use base64::Engine as _;
        let full = gz(b"#!/bin/sh\n");
        let body = base64::engine::general_purpose::STANDARD.encode(&full[..full.len() - 6]);
        let msg = format!("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n{body}\n--b\n\n#!/bin/sh\n--b--\n");
        let err = decode(msg.as_bytes(), &DecodeOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, UserDataError::Gzip { .. }), "{err}");
        let lenient = DecodeOptions {
            error_on_failure: false,
            ..DecodeOptions::default()
        };
        let d = decode(msg.as_bytes(), &lenient).await.unwrap();
        assert_eq!(
            summary(&d),
            pairs(&[(content_type::SHELLSCRIPT, "part-001")])
        );
        assert_eq!(d.warnings.len(), 1);
    }

    #[tokio::test]
    async fn archive_entries_are_numbered_globally() {
        let d = run(b"#cloud-config-archive\n- type: text/cloud-boothook\n  content: '#cloud-boothook'\n- content: 'a: 1'\n  filename: cc\n- '#!/bin/sh'\n").await;
        assert_eq!(
            summary(&d),
            pairs(&[
                (content_type::BOOTHOOK, "part-001"),
                (content_type::CLOUD_CONFIG, "cc"),
                (content_type::SHELLSCRIPT, "part-003"),
            ])
        );
    }

    #[tokio::test]
    async fn includes_expand_in_place_and_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a"), b"#!/bin/sh\necho a\n").unwrap();
        std::fs::write(root.join("b"), b"#include\nfile:///b\n").unwrap();
        let opts = DecodeOptions {
            include: IncludeOptions {
                retries: 0,
                context: crate::context::Context::fixed(Vec::<(String, String)>::new(), root),
                ..IncludeOptions::default()
            },
            ..DecodeOptions::default()
        };
        let d = decode(b"#include\nfile:///a\n/a\n", &opts).await.unwrap();
        assert_eq!(
            summary(&d),
            pairs(&[
                (content_type::SHELLSCRIPT, "part-001"),
                (content_type::SHELLSCRIPT, "part-002")
            ])
        );
        let err = decode(b"#include file:///b\n", &opts).await.unwrap_err();
        assert!(matches!(err, UserDataError::IncludeLoop { .. }), "{err}");
        let err = decode(b"#include file:///missing\n", &opts)
            .await
            .unwrap_err();
        assert!(
            matches!(err, UserDataError::Include { line: 1, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn templates_render_when_instance_data_is_given() {
        let raw = b"## template: jinja\n#!/bin/sh\necho {{ v1.instance_id }}\n";
        let d = run(raw).await;
        assert_eq!(d.parts[0].content_type, content_type::JINJA);
        let opts = DecodeOptions {
            instance_data: Some(serde_json::json!({"v1": {"instance_id": "i-1"}})),
            ..DecodeOptions::default()
        };
        let d = decode(raw, &opts).await.unwrap();
        assert_eq!(d.parts[0].content_type, content_type::SHELLSCRIPT);
        assert_eq!(d.parts[0].payload, b"#!/bin/sh\necho i-1\n");
    }

    #[tokio::test]
    async fn powershell_and_refused_types() {
        let d = run(b"<powershell>\nWrite-Host hi\n</powershell>\n").await;
        assert_eq!(d.parts[0].content_type, content_type::POWERSHELL);
        let d = run(b"#part-handler\ndef list_types(): pass\n").await;
        assert_eq!(d.parts[0].content_type, content_type::PART_HANDLER);
        assert!(d.warnings[0].contains("not supported by strap"));
    }

    #[tokio::test]
    async fn systemd_userdata_whole_and_as_a_mime_part() {
        let d = run(b"#systemd-userdata\n{\"systemd.credentials\": []}\n").await;
        assert_eq!(
            summary(&d),
            pairs(&[(content_type::SYSTEMD_USERDATA, "part-001")])
        );
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let d = run(b"  {\"systemd.credentials\": []}").await;
        assert_eq!(d.parts[0].content_type, content_type::SYSTEMD_USERDATA);
        let msg = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n#systemd-userdata\n{}\n--b\nContent-Type: text/x-systemd-userdata\n\n{\"systemd.credentials\": []}\n--b\nContent-Type: text/plain\n\n{}\n--b\nContent-Type: text/x-shellscript\n\n{\"a\": 1}\n--b--\n";
        let d = run(msg.as_bytes()).await;
        assert_eq!(
            summary(&d),
            pairs(&[
                (content_type::SYSTEMD_USERDATA, "part-001"),
                (content_type::SYSTEMD_USERDATA, "part-002"),
                (content_type::SYSTEMD_USERDATA, "part-003"),
                // A declared script is only re-sniffed for cloud-init's own prefixes.
                (content_type::SHELLSCRIPT, "part-004"),
            ])
        );
        // Not JSON objects: still cloud-init's unknown text.
        let d = run(b"[1, 2]").await;
        assert_eq!(d.parts[0].content_type, content_type::NOT_MULTIPART);
    }

    #[tokio::test]
    async fn bom_is_not_sniffed_past() {
        let d = run("\u{feff}#!/bin/sh\n".as_bytes()).await;
        assert_eq!(d.parts[0].content_type, content_type::NOT_MULTIPART);
        assert!(d.warnings[0].contains("byte order mark"));
    }

    #[tokio::test]
    async fn non_utf8_mime_is_an_error_and_non_mime_still_sniffs() {
        let err = decode(b"MIME-Version: 1.0\n\n\xff", &DecodeOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, UserDataError::MimeNotUtf8 { offset: 19, .. }),
            "{err}"
        );
        let d = run(b"#!/bin/sh\necho \xff\n").await;
        assert_eq!(d.parts[0].content_type, content_type::SHELLSCRIPT);
    }

    #[tokio::test]
    async fn caps_hold_and_decoding_goes_on_without_the_part() {
        let bomb = gz(&vec![b'#'; 1 << 20]);
        let opts = DecodeOptions {
            limits: Limits {
                max_bytes: 1 << 16,
                ..Limits::default()
            },
            ..DecodeOptions::default()
        };
        let decoded = decode(&bomb, &opts).await.unwrap();
        assert!(decoded.parts.is_empty());
        assert!(
            decoded.errors[0].contains("strap_limits.max_decoded_bytes"),
            "{:?}",
            decoded.errors
        );
        // A gzip part past the cap is skipped; the script beside it is kept.
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bomb);
        let mime = format!(
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n\
             --XX\nContent-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n{b64}\n\
             --XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho kept\n--XX--\n"
        );
        let decoded = decode(mime.as_bytes(), &opts).await.unwrap();
        assert_eq!(decoded.parts.len(), 1, "{decoded:?}");
        assert!(
            decoded.errors[0].contains("MIME part 1"),
            "{:?}",
            decoded.errors
        );
        let mut deep = String::from("MIME-Version: 1.0\n");
        for i in 0..40 {
            deep.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
            ));
        }
        deep.push_str("\n#!/bin/sh\n");
        let decoded = decode(deep.as_bytes(), &DecodeOptions::default())
            .await
            .unwrap();
        assert!(
            decoded.errors[0].contains("strap_limits.max_depth"),
            "{:?}",
            decoded.errors
        );
    }

    #[test]
    fn limits_are_set_by_key() {
        let mut limits = Limits::default();
        for key in Limits::KEYS {
            assert!(limits.set(key, 7), "{key}");
        }
        assert_eq!(limits.max_bytes, 7);
        assert_eq!(limits.include_time, std::time::Duration::from_secs(7));
        assert!(!limits.set("max_parts", 0));
        assert!(!limits.set("nope", 1));
    }

    #[tokio::test]
    async fn includes_stop_at_their_total_time_and_the_parts_go_on() {
        // A server that accepts and never answers: each fetch would wait its own timeout.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        let opts = DecodeOptions {
            include: IncludeOptions {
                timeout: std::time::Duration::from_secs(30),
                retries: 0,
                ..IncludeOptions::default()
            },
            limits: Limits {
                include_time: std::time::Duration::from_millis(300),
                ..Limits::default()
            },
            ..DecodeOptions::default()
        };
        let ud = format!(
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n\
             --XX\nContent-Type: text/x-include-url\n\nhttp://{addr}/a\nhttp://{addr}/b\n\
             --XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho kept\n--XX--\n"
        );
        let started = std::time::Instant::now();
        let decoded = decode(ud.as_bytes(), &opts).await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(decoded.parts.len(), 1, "{decoded:?}");
        assert_eq!(decoded.errors.len(), 2, "{:?}", decoded.errors);
        assert!(decoded.errors[0].contains("strap_limits.include_time"));
    }

    #[tokio::test]
    async fn an_include_past_its_byte_cap_is_skipped_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'#'; 4096]).unwrap();
        let opts = DecodeOptions {
            limits: Limits {
                max_include_bytes: 1024,
                ..Limits::default()
            },
            ..DecodeOptions::default()
        };
        let ud = format!("#include\nfile://{}\n", big.display());
        let decoded = decode(ud.as_bytes(), &opts).await.unwrap();
        assert!(decoded.parts.is_empty());
        assert!(
            decoded.errors[0].contains("strap_limits.max_include_bytes"),
            "{:?}",
            decoded.errors
        );
    }
}
