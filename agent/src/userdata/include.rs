//! `#include` / `#include-once` (spec 1.5): the URL list of an include part, and fetching
//! one URL (`http(s)://` through reqwest with a timeout and retries, `file://` and
//! absolute paths from the filesystem under the context's root). `#include-once` bodies
//! are cached in a folder (`<md5(url)>`, mode 0600) and read from there on later
//! boots. Recursion and loops are bounded by the caller.

use std::path::PathBuf;
use std::time::Duration;

use md5::Digest as _;

use crate::context::Context;

/// How includes are fetched.
#[derive(Clone)]
pub struct IncludeOptions {
    /// Whether includes are fetched at all; when off, include parts are dropped with a
    /// warning.
    pub enabled: bool,
    /// Machine path (under the context's root) of the include-once cache folder, e.g.
    /// `/var/lib/cloud/instance/data/urlcache`; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// Pause between attempts.
    pub retry_delay: Duration,
    /// Filesystem root, environment and clock for `file://` reads and the cache.
    pub context: Context,
}

impl std::fmt::Debug for IncludeOptions {
    // The context holds the environment, which may hold secrets: it is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncludeOptions")
            .field("enabled", &self.enabled)
            .field("cache_dir", &self.cache_dir)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("retry_delay", &self.retry_delay)
            .field("root", &self.context.root())
            .finish()
    }
}

impl Default for IncludeOptions {
    /// cloud-init's settings: 5 s timeout, 10 retries 1 s apart, no cache.
    fn default() -> Self {
        Self {
            enabled: true,
            cache_dir: None,
            timeout: Duration::from_secs(5),
            retries: 10,
            retry_delay: Duration::from_secs(1),
            context: Context::system(),
        }
    }
}

/// One URL line of an include part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncludeUrl {
    pub url: String,
    /// Whether `#include-once` was in force.
    pub once: bool,
    /// 1-based line in the include part.
    pub line: usize,
}

/// The URLs of an include part, in order: `#include-once` turns once-mode on (and may
/// carry a URL on the same line), `#include` turns it off, other `#` lines are comments.
pub fn urls(payload: &[u8]) -> Vec<IncludeUrl> {
    let text = String::from_utf8_lossy(payload);
    let mut once = false;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let lower = raw.to_ascii_lowercase();
        let mut line = raw;
        if lower.starts_with("#include-once") {
            line = raw["#include-once".len()..].trim_start();
            once = true;
        } else if lower.starts_with("#include") {
            line = raw["#include".len()..].trim_start();
            once = false;
        }
        if line.starts_with('#') {
            continue;
        }
        let url = line.trim();
        if url.is_empty() {
            continue;
        }
        out.push(IncludeUrl {
            url: url.to_string(),
            once,
            line: i + 1,
        });
    }
    out
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP status {status}")]
    Status { status: u16 },
    #[error("request failed: {0}")]
    Http(String),
    #[error("reading {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Path(#[from] crate::context::ContextError),
    #[error("body larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("cannot start the fetch: {0}")]
    Runtime(String),
}

/// The cache file name of a URL: cloud-init's `md5(url)` in hex.
pub fn cache_name(url: &str) -> String {
    hex::encode(md5::Md5::digest(url.as_bytes()))
}

/// Fetch one URL (or read it from the include-once cache), retrying as configured.
pub async fn fetch(
    inc: &IncludeUrl,
    opts: &IncludeOptions,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    let cache = match (&opts.cache_dir, inc.once) {
        (Some(dir), true) => Some(opts.context.path(dir.join(cache_name(&inc.url)))?),
        _ => None,
    };
    if let Some(path) = &cache {
        if path.is_file() {
            return std::fs::read(path).map_err(|source| FetchError::File {
                path: path.clone(),
                source,
            });
        }
    }
    let mut attempt = 0;
    let body = loop {
        match fetch_once(&inc.url, &[], opts, max_bytes).await {
            Ok(body) => break body,
            Err(err) if attempt >= opts.retries || matches!(err, FetchError::TooLarge { .. }) => {
                return Err(err)
            }
            Err(err) => {
                tracing::debug!(url = %inc.url, attempt, "include fetch failed, retrying: {err}");
                attempt += 1;
                tokio::time::sleep(opts.retry_delay).await;
            }
        }
    };
    if let Some(path) = &cache {
        if let Err(err) = crate::context::write_atomic(path, &body, Some(0o600)) {
            tracing::warn!("cannot cache the include-once body of {}: {err}", inc.url);
        }
    }
    Ok(body)
}

/// Run a blocking read on its own thread, for at most `timeout`: a read still blocked
/// then is left to its thread and answered as `TimedOut`.
async fn within(
    timeout: Duration,
    read: impl FnOnce() -> std::io::Result<Vec<u8>> + Send + 'static,
) -> std::io::Result<Vec<u8>> {
    match tokio::time::timeout(timeout, crate::threads::blocking("include-file", read)).await {
        Ok(Ok(read)) => read,
        Ok(Err(thread)) => Err(thread),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s", timeout.as_secs_f64()),
        )),
    }
}

/// Fetch one URL with extra request headers (`write_files`' `source`), for synchronous
/// callers: on a scoped thread with its own runtime, retrying as `opts` says; a local
/// file that cannot be read, and a body over `max_bytes`, are not retried.
pub fn fetch_blocking(
    url: &str,
    headers: &[(String, String)],
    opts: &IncludeOptions,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    let run = || -> Result<Vec<u8>, FetchError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FetchError::Runtime(e.to_string()))?;
        runtime.block_on(async {
            let mut attempt = 0;
            loop {
                match fetch_once(url, headers, opts, max_bytes).await {
                    Ok(body) => return Ok(body),
                    Err(err)
                        if attempt >= opts.retries
                            || matches!(
                                err,
                                FetchError::TooLarge { .. }
                                    | FetchError::File { .. }
                                    | FetchError::Path(_)
                            ) =>
                    {
                        return Err(err)
                    }
                    Err(err) => {
                        tracing::debug!(attempt, "fetch failed, retrying: {err}");
                        attempt += 1;
                        tokio::time::sleep(opts.retry_delay).await;
                    }
                }
            }
        })
    };
    std::thread::scope(|scope| {
        let worker = crate::threads::scoped(scope, "fetch", run)
            .map_err(|e| FetchError::Runtime(e.to_string()))?;
        worker.join().unwrap_or_else(|_| {
            Err(FetchError::Runtime(
                "the fetching thread stopped unexpectedly".into(),
            ))
        })
    })
}

/// The file a `file://` URL or an absolute path names, as cloud-init 25 reads it: the
/// path of Python's `urlparse`, without the host, the query and the fragment
/// (`file:///srv/a?v=2` is `/srv/a`). cloud-init 22.4 kept them in the name.
fn local_path(url: &str) -> Option<&str> {
    let rest = if url.len() >= 7 && url[..7].eq_ignore_ascii_case("file://") {
        &url[5..]
    } else if url.starts_with('/') {
        url
    } else {
        return None;
    };
    // `//host/path`: the host is not part of the path.
    let rest = match rest.strip_prefix("//") {
        Some(after) => after.find('/').map_or("", |at| &after[at..]),
        None => rest,
    };
    Some(rest.find(['?', '#']).map_or(rest, |at| &rest[..at]))
}

async fn fetch_once(
    url: &str,
    headers: &[(String, String)],
    opts: &IncludeOptions,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    let url = url.trim_start();
    if let Some(path) = local_path(url) {
        // A regular file only: a device (`/dev/zero`) or a FIFO is refused at once,
        // never read without end or waited on.
        // The read has the fetch's timeout too (a file on a hung network or FUSE mount):
        // a read still blocked then is left to its thread, and the include fails.
        let real = opts.context.path(path)?;
        let file_error = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::FileTooLarge {
                FetchError::TooLarge { max: max_bytes }
            } else {
                FetchError::File {
                    path: PathBuf::from(path),
                    source,
                }
            }
        };
        return within(opts.timeout, move || {
            crate::context::read_regular(&real, max_bytes as u64, false)
        })
        .await
        .map_err(file_error);
    }
    let client = reqwest::Client::builder()
        .timeout(opts.timeout)
        .build()
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let mut resp = request
        .send()
        .await
        .map_err(|e| FetchError::Http(without_url(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Http(without_url(&e)))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge { max: max_bytes });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What went wrong with a request, without the URL (the caller's error carries it).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else if e.is_builder() {
        "invalid URL"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_read_as_cloud_init_25_reads_them() {
        assert_eq!(local_path("file:///srv/a"), Some("/srv/a"));
        assert_eq!(local_path("FILE:///srv/a?v=2#x"), Some("/srv/a"));
        assert_eq!(local_path("file://host/srv/a"), Some("/srv/a"));
        assert_eq!(local_path("file://host"), Some(""));
        assert_eq!(local_path("/srv/a#b"), Some("/srv/a"));
        assert_eq!(local_path("//h/srv/a"), Some("/srv/a"));
        assert_eq!(local_path("http://h/a"), None);
    }

    #[test]
    fn url_lines_and_once_mode() {
        let got = urls(b"#include-once http://a/1\nhttp://a/2\n# comment\n#include\n\n  http://a/3  \n#INCLUDE http://a/4\n");
        let want = [
            ("http://a/1", true, 1),
            ("http://a/2", true, 2),
            ("http://a/3", false, 6),
            ("http://a/4", false, 7),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (url, once, line)) in got.iter().zip(want) {
            assert_eq!((g.url.as_str(), g.once, g.line), (url, once, line));
        }
    }

    #[test]
    fn debug_leaves_the_environment_out() {
        let opts = IncludeOptions {
            context: Context::fixed([("AWS_SECRET_ACCESS_KEY", "s3cr3t")], "/"),
            ..IncludeOptions::default()
        };
        assert!(!format!("{opts:?}").contains("s3cr3t"));
    }

    #[tokio::test]
    async fn a_file_read_that_hangs_ends_with_the_fetch_timeout() {
        // A read that never returns (a hung network or FUSE mount): the include fails
        // after the timeout, its thread left behind.
        let (keep, wait) = std::sync::mpsc::channel::<()>();
        let err = within(Duration::from_millis(50), move || {
            let _ = wait.recv();
            Ok(Vec::new())
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("no answer within 0.05 s"), "{err}");
        drop(keep);
        let ok = within(Duration::from_secs(5), || Ok(b"x".to_vec())).await;
        assert_eq!(ok.unwrap(), b"x");
    }

    #[test]
    fn cache_name_is_md5_hex() {
        assert_eq!(cache_name(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[tokio::test]
    async fn file_urls_read_under_the_root_and_once_bodies_are_cached() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("srv")).unwrap();
        std::fs::write(dir.path().join("srv/a.sh"), b"#!/bin/sh\n").unwrap();
        let opts = IncludeOptions {
            cache_dir: Some("/cache".into()),
            retries: 0,
            context: Context::fixed(Vec::<(String, String)>::new(), dir.path()),
            ..IncludeOptions::default()
        };
        let inc = IncludeUrl {
            url: "file:///srv/a.sh".into(),
            once: true,
            line: 1,
        };
        assert_eq!(fetch(&inc, &opts, 1 << 20).await.unwrap(), b"#!/bin/sh\n");
        let cached = dir.path().join("cache").join(cache_name(&inc.url));
        assert_eq!(std::fs::read(&cached).unwrap(), b"#!/bin/sh\n");
        // The cache answers once the source is gone.
        std::fs::remove_file(dir.path().join("srv/a.sh")).unwrap();
        assert_eq!(fetch(&inc, &opts, 1 << 20).await.unwrap(), b"#!/bin/sh\n");
        let plain = IncludeUrl { once: false, ..inc };
        assert!(matches!(
            fetch(&plain, &opts, 1 << 20).await,
            Err(FetchError::File { .. })
        ));
    }

    #[tokio::test]
    async fn file_urls_of_devices_and_fifos_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::write(dir.path().join("big"), vec![b'x'; 2048]).unwrap();
        let opts = IncludeOptions {
            retries: 0,
            context: Context::fixed(Vec::<(String, String)>::new(), "/"),
            ..IncludeOptions::default()
        };
        let url = |u: String| IncludeUrl {
            url: u,
            once: false,
            line: 1,
        };
        // A FIFO without a writer would block a plain read for ever: it is refused.
        for u in [
            "file:///dev/zero".to_string(),
            "file:///dev/urandom".to_string(),
            format!("file://{}", fifo.display()),
        ] {
            let err = fetch(&url(u.clone()), &opts, 1 << 20).await.unwrap_err();
            assert!(
                err.to_string().contains("not a regular file")
                    || format!("{err:?}").contains("not a regular file"),
                "{u}: {err}"
            );
        }
        let big = format!("file://{}", dir.path().join("big").display());
        assert!(matches!(
            fetch(&url(big), &opts, 1024).await,
            Err(FetchError::TooLarge { max: 1024 })
        ));
    }
}
