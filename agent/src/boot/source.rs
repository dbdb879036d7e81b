//! Where a boot gets its instance identity, metadata and user data: the metadata service
//! through [`crate::imds::ImdsClient`], or a seed folder laid out like the metadata tree
//! (offline images, tests). The boot asks for paths and gets bytes; it never speaks HTTP
//! itself. Fetching is the only asynchronous part of a boot: a source runs its requests
//! on the tokio runtime that started the boot and hands results back to the (blocking)
//! boot thread, several at a time so that the identity document, the user data and the
//! local hostname cost one round trip after the token (cloud-init, too, reads the
//! metadata once when the datasource is read, before any module runs).

use std::path::PathBuf;

use crate::imds::ImdsClient;
use crate::secret::Secret;

/// The identity document's path: one request gives instance-id, region, AZ, type, image.
pub const IDENTITY_PATH: &str = "/latest/dynamic/instance-identity/document";
/// The user data's path.
pub const USER_DATA_PATH: &str = "/latest/user-data";
/// Fallback for the instance id when there is no identity document.
pub const INSTANCE_ID_PATH: &str = "/latest/meta-data/instance-id";
/// The local hostname (hostname modules).
pub const LOCAL_HOSTNAME_PATH: &str = "/latest/meta-data/local-hostname";
/// The first public key (the EC2 key pair), in OpenSSH format.
pub const PUBLIC_KEY_PATH: &str = "/latest/meta-data/public-keys/0/openssh-key";

/// Errors from a metadata source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The metadata service failed for a path.
    #[error("metadata request for {path} failed")]
    Imds {
        path: String,
        #[source]
        source: crate::imds::ImdsError,
    },
    /// A seed file could not be read.
    #[error("cannot read seed file {path}")]
    Seed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The identity document is not the JSON object it should be.
    #[error("the instance identity document at {path} is not valid JSON: {message}")]
    Identity { path: String, message: String },
    /// Neither the identity document nor meta-data/instance-id gave an instance id.
    #[error(
        "the metadata source gave no instance id (tried {IDENTITY_PATH} and {INSTANCE_ID_PATH})"
    )]
    NoInstanceId,
}

/// A place to read metadata paths from. `fetch` takes several paths and may fetch them
/// in parallel; results come back in the same order.
pub trait Datasource: Send + Sync {
    /// The name recorded in status.json (`DataSourceEc2`).
    fn name(&self) -> String;
    /// Fetch paths (`/latest/...`); `Ok(None)` for a path that does not exist.
    fn fetch(&self, paths: &[&str]) -> Vec<Result<Option<Vec<u8>>, SourceError>>;
    /// HTTP requests made so far (token requests included), when known.
    fn requests(&self) -> u64;
    /// Where it reads from (`http://169.254.169.254`, a folder), for instance data.
    fn location(&self) -> String;
    /// How it reaches the metadata service (`direct`, `marked: …`, `systemd-imdsd`), for
    /// the boot log; `None` for sources that are not a service.
    fn access(&self) -> Option<String> {
        None
    }
    /// The seed's own network config (`<seed>/network-config`, as NoCloud's), if any;
    /// the metadata service has none.
    fn network_config(&self) -> Option<Vec<u8>> {
        None
    }
}

/// The metadata service, through the IMDS client.
pub struct ImdsSource {
    client: ImdsClient,
    handle: tokio::runtime::Handle,
    access: Option<String>,
    /// systemd-imdsd, asked first while it answers; after its first failure every read
    /// goes to the service directly.
    imdsd: Option<crate::imds::imdsd::Imdsd>,
    imdsd_failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ImdsSource {
    /// A source over a client, driven by the given runtime.
    pub fn new(client: ImdsClient, handle: tokio::runtime::Handle) -> Self {
        Self {
            client,
            handle,
            access: None,
            imdsd: None,
            imdsd_failed: std::sync::Arc::default(),
        }
    }

    /// Read through systemd-imdsd first (see [`crate::imds::imdsd`]); what it answers
    /// is not asked of the service again.
    pub fn through_imdsd(mut self, imdsd: crate::imds::imdsd::Imdsd) -> Self {
        self.imdsd = Some(imdsd);
        self
    }

    /// Say how the client reaches the service (see [`crate::imds::lockdown`]).
    pub fn with_access(mut self, access: String) -> Self {
        self.access = Some(access);
        self
    }
}

impl Datasource for ImdsSource {
    fn name(&self) -> String {
        "DataSourceEc2".into()
    }

    fn fetch(&self, paths: &[&str]) -> Vec<Result<Option<Vec<u8>>, SourceError>> {
        let client = self.client.clone();
        let owned: Vec<String> = paths.iter().map(|p| (*p).to_string()).collect();
        let imdsd = self.imdsd.clone();
        let failed = self.imdsd_failed.clone();
        self.handle.block_on(async move {
            let mut tasks = Vec::new();
            for path in owned {
                let client = client.clone();
                let imdsd = imdsd.clone();
                let failed = failed.clone();
                tasks.push(tokio::spawn(async move {
                    use std::sync::atomic::Ordering;
                    if let Some(imdsd) = imdsd.filter(|_| !failed.load(Ordering::Relaxed)) {
                        match imdsd.get_path(&path).await {
                            Ok(v) => return (path, Ok(v)),
                            Err(err) => {
                                if !failed.swap(true, Ordering::Relaxed) {
                                    let mut text = err.to_string();
                                    let mut cause = std::error::Error::source(&err);
                                    while let Some(c) = cause {
                                        text.push_str(&format!(": {c}"));
                                        cause = c.source();
                                    }
                                    tracing::warn!(
                                        "{text}; reading the metadata service directly from now on"
                                    );
                                }
                            }
                        }
                    }
                    let res = client.get(&path).await;
                    (path, res)
                }));
            }
            let mut out = Vec::new();
            for task in tasks {
                out.push(match task.await {
                    Ok((_, Ok(v))) => Ok(v),
                    Ok((path, Err(source))) => Err(SourceError::Imds { path, source }),
                    Err(join) => Err(SourceError::Seed {
                        path: PathBuf::from("<task>"),
                        source: std::io::Error::other(join.to_string()),
                    }),
                });
            }
            out
        })
    }

    fn requests(&self) -> u64 {
        self.client.requests_made()
    }

    fn location(&self) -> String {
        self.client.endpoint().to_string()
    }

    fn access(&self) -> Option<String> {
        self.access.clone()
    }
}

/// A folder laid out like the metadata tree: `<dir>/latest/user-data`,
/// `<dir>/latest/dynamic/instance-identity/document`, …
pub struct SeedSource {
    dir: PathBuf,
}

impl SeedSource {
    /// A seed folder.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl Datasource for SeedSource {
    fn name(&self) -> String {
        "DataSourceSeed".into()
    }
    fn fetch(&self, paths: &[&str]) -> Vec<Result<Option<Vec<u8>>, SourceError>> {
        paths
            .iter()
            .map(|p| {
                let file = self.dir.join(p.trim_start_matches('/'));
                if p.ends_with('/') && file.is_dir() {
                    return list_dir(&file).map(Some);
                }
                match std::fs::read(&file) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(SourceError::Seed { path: file, source }),
                }
            })
            .collect()
    }
    fn requests(&self) -> u64 {
        0
    }
    fn location(&self) -> String {
        self.dir.display().to_string()
    }
    fn network_config(&self) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join("network-config")).ok()
    }
}

/// A folder of the seed listed as the metadata service lists one: a name a line, in
/// order, sub-folders with a trailing `/`.
fn list_dir(dir: &std::path::Path) -> Result<Vec<u8>, SourceError> {
    let seed = |source| SourceError::Seed {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(seed)? {
        let entry = entry.map_err(seed)?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().map_err(seed)?.is_dir() {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    Ok(names.join("\n").into_bytes())
}

/// What the boot knows about the instance after the first round trip.
#[derive(Clone, Debug)]
pub struct InstanceData {
    pub instance_id: String,
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    pub private_ip: Option<String>,
    /// The identity document as read (JSON object), or `null`.
    pub identity: serde_json::Value,
    /// The raw user data (may hold passwords).
    pub user_data: Secret<Vec<u8>>,
    /// meta-data/local-hostname as read in the first round trip: `Ok(None)` when the
    /// service has none, `Err(message)` when reading it failed (a warning, not fatal).
    pub local_hostname: Result<Option<String>, String>,
}

/// The first round trip: identity document, user data and local hostname in parallel
/// (after the token). A failed hostname read does not fail the boot.
pub fn fetch_instance(source: &dyn Datasource) -> Result<InstanceData, SourceError> {
    let mut results = source
        .fetch(&[IDENTITY_PATH, USER_DATA_PATH, LOCAL_HOSTNAME_PATH])
        .into_iter();
    let identity_raw = results.next().unwrap_or(Ok(None))?;
    let user_data = results.next().unwrap_or(Ok(None))?.unwrap_or_default();
    let local_hostname = match results.next().unwrap_or(Ok(None)) {
        Ok(v) => Ok(v.map(|b| String::from_utf8_lossy(&b).trim().to_string())),
        Err(err) => Err(err.to_string()),
    };
    let identity: serde_json::Value = match identity_raw {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| SourceError::Identity {
            path: IDENTITY_PATH.into(),
            message: e.to_string(),
        })?,
        None => serde_json::Value::Null,
    };
    let field = |k: &str| identity.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let instance_id = match field("instanceId") {
        Some(id) => id,
        None => {
            let fallback = source
                .fetch(&[INSTANCE_ID_PATH])
                .into_iter()
                .next()
                .unwrap_or(Ok(None))?;
            fallback
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or(SourceError::NoInstanceId)?
        }
    };
    let availability_zone = field("availabilityZone");
    let region = field("region").or_else(|| {
        availability_zone
            .as_ref()
            .map(|az| az[..az.len().saturating_sub(1)].to_string())
    });
    Ok(InstanceData {
        instance_id,
        region,
        availability_zone,
        instance_type: field("instanceType"),
        image_id: field("imageId"),
        private_ip: field("privateIp"),
        identity,
        user_data: Secret::new(user_data),
        local_hostname,
    })
}

/// How long a boot waits for the metadata service to answer its first round trip. At
/// boot the service can be late (the interface comes up late, the network is slow to
/// configure): cloud-init's EC2 datasource waits up to `max_wait` seconds (120 by
/// default) before it gives up, and so does strap, with the same key of the image's
/// system config (`datasource: {Ec2: {max_wait: SECONDS}}`). This wait is the boot's
/// alone: `strap creds` and `strap metadata` keep the SDKs' short retries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetadataWait {
    /// The whole wait, from the first attempt; zero makes one round of attempts only.
    pub max_wait: std::time::Duration,
    /// The pause after the first failed round; it doubles up to `max_delay`.
    pub first_delay: std::time::Duration,
    /// The longest pause between rounds.
    pub max_delay: std::time::Duration,
}

impl MetadataWait {
    /// cloud-init's EC2 default.
    pub const DEFAULT_MAX_WAIT_SECS: f64 = 120.0;

    /// A wait of `max_wait` with the default pauses (0.5 s doubling to 5 s).
    pub fn up_to(max_wait: std::time::Duration) -> Self {
        Self {
            max_wait,
            first_delay: std::time::Duration::from_millis(500),
            max_delay: std::time::Duration::from_secs(5),
        }
    }

    /// The wait the system config asks for (`datasource.Ec2.max_wait`), else the
    /// default; a value that is not a number of seconds gives the default and a problem
    /// to warn about.
    pub fn from_system_config(node: Option<&crate::cloudconfig::Node>) -> (Self, Option<String>) {
        let default = Self::up_to(std::time::Duration::from_secs_f64(
            Self::DEFAULT_MAX_WAIT_SECS,
        ));
        let Some(value) = node
            .and_then(|n| n.get("datasource"))
            .and_then(|n| n.get("Ec2"))
            .and_then(|n| n.get("max_wait"))
            .filter(|n| !n.is_null())
        else {
            return (default, None);
        };
        let secs = value
            .as_int()
            .map(|i| i as f64)
            .or_else(|| value.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
            .or(match &value.value {
                crate::cloudconfig::Value::Float(f) => Some(*f),
                _ => None,
            });
        match secs {
            // cloud-init: a negative or zero max_wait means "do not wait".
            Some(s) if !s.is_nan() => (
                Self::up_to(
                    std::time::Duration::try_from_secs_f64(s.max(0.0))
                        .unwrap_or(std::time::Duration::MAX),
                ),
                None,
            ),
            _ => (
                default,
                Some(format!(
                    "system config datasource.Ec2.max_wait (line {}) is not a number of seconds; waiting the default {} s",
                    value.mark.line,
                    Self::DEFAULT_MAX_WAIT_SECS
                )),
            ),
        }
    }
}

/// Whether a failed first round may succeed later: the service could not be reached,
/// timed out or answered 5xx. A 4xx, a bad identity document or a seed file that cannot
/// be read are final.
pub fn may_come_up(err: &SourceError) -> bool {
    use crate::imds::ImdsError as E;
    matches!(
        err,
        SourceError::Imds {
            source: E::Unreachable { .. } | E::ServerError { .. } | E::DeadlineExceeded { .. },
            ..
        }
    )
}

/// [`fetch_instance`], repeated while the metadata service is not up yet and the wait
/// allows. `waiting` is called before each pause with a line to log; `sleep` pauses (the
/// boot thread's `std::thread::sleep`; tests pass their own).
pub fn fetch_instance_waiting(
    source: &dyn Datasource,
    wait: MetadataWait,
    waiting: &mut dyn FnMut(&str),
    sleep: &dyn Fn(std::time::Duration),
) -> Result<InstanceData, SourceError> {
    let started = std::time::Instant::now();
    let mut delay = wait.first_delay;
    let mut rounds = 1u32;
    // Real time includes the pauses; the sum of the pauses bounds the wait even where
    // `sleep` does not really pause.
    let mut paused = std::time::Duration::ZERO;
    loop {
        let err = match fetch_instance(source) {
            Ok(data) => {
                if rounds > 1 {
                    waiting(&format!(
                        "the metadata service answered after {:.1} s ({rounds} rounds)",
                        started.elapsed().as_secs_f64()
                    ));
                }
                return Ok(data);
            }
            Err(err) => err,
        };
        let elapsed = started.elapsed().max(paused);
        if !may_come_up(&err) || elapsed + delay > wait.max_wait {
            return Err(err);
        }
        waiting(&format!(
            "the metadata service is not up yet ({}); retrying in {:.1} s ({:.0} of {:.0} s waited; datasource.Ec2.max_wait sets the limit)",
            crate::boot::records::error_chain(&err),
            delay.as_secs_f64(),
            elapsed.as_secs_f64(),
            wait.max_wait.as_secs_f64()
        ));
        sleep(delay);
        paused += delay;
        delay = (delay * 2).min(wait.max_delay);
        rounds += 1;
    }
}

/// Fetch optional text values (hostname, keys) lazily, when a module needs them; a
/// failure is logged by the caller and treated as absent.
pub fn fetch_text(source: &dyn Datasource, path: &str) -> Result<Option<String>, SourceError> {
    Ok(source
        .fetch(&[path])
        .into_iter()
        .next()
        .unwrap_or(Ok(None))?
        .map(|b| String::from_utf8_lossy(&b).trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_folder_is_listed_as_the_metadata_service_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let macs = dir.path().join("latest/meta-data/network/interfaces/macs");
        std::fs::create_dir_all(macs.join("0e:00:00:00:00:02")).unwrap();
        std::fs::create_dir_all(macs.join("0e:00:00:00:00:01")).unwrap();
        std::fs::write(macs.join("0e:00:00:00:00:01/device-number"), "0").unwrap();
        let seed = SeedSource::new(dir.path());
        let got = seed.fetch(&[
            "/latest/meta-data/network/interfaces/macs/",
            "/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:01/",
            "/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:03/",
        ]);
        let text = |i: usize| String::from_utf8(got[i].as_ref().unwrap().clone().unwrap()).unwrap();
        assert_eq!(text(0), "0e:00:00:00:00:01/\n0e:00:00:00:00:02/");
        assert_eq!(text(1), "device-number");
        assert!(matches!(got[2], Ok(None)), "a missing folder is not found");
    }

    #[test]
    fn seed_folder_gives_identity_and_user_data() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("latest/dynamic/instance-identity/document");
        std::fs::create_dir_all(doc.parent().unwrap()).unwrap();
        std::fs::write(
            &doc,
            r#"{"instanceId":"i-1","availabilityZone":"eu-west-1b","instanceType":"t3.micro"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("latest/user-data"), b"#!/bin/sh\n").unwrap();
        let data = fetch_instance(&SeedSource::new(dir.path())).unwrap();
        assert_eq!(data.instance_id, "i-1");
        assert_eq!(data.region.as_deref(), Some("eu-west-1"));
        assert_eq!(data.user_data.expose(), b"#!/bin/sh\n");
        assert_eq!(data.local_hostname, Ok(None));
        let host = dir.path().join("latest/meta-data/local-hostname");
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        std::fs::write(&host, "ip-10-0-0-1.ec2.internal\n").unwrap();
        let data = fetch_instance(&SeedSource::new(dir.path())).unwrap();
        assert_eq!(
            data.local_hostname,
            Ok(Some("ip-10-0-0-1.ec2.internal".to_string()))
        );
    }

    /// A source whose first `fail` rounds answer 503 (or `status`), then a document.
    struct Late {
        fail: u32,
        status: u16,
        calls: std::sync::atomic::AtomicU32,
    }

    impl Datasource for Late {
        fn name(&self) -> String {
            "late".into()
        }
        fn fetch(&self, paths: &[&str]) -> Vec<Result<Option<Vec<u8>>, SourceError>> {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            paths
                .iter()
                .map(|p| {
                    if n < self.fail {
                        let err = if self.status >= 500 {
                            crate::imds::ImdsError::ServerError {
                                path: (*p).into(),
                                status: self.status,
                                attempts: 4,
                            }
                        } else {
                            crate::imds::ImdsError::Status {
                                path: (*p).into(),
                                status: self.status,
                                hint: "refused",
                            }
                        };
                        Err(SourceError::Imds {
                            path: (*p).into(),
                            source: err,
                        })
                    } else if *p == IDENTITY_PATH {
                        Ok(Some(br#"{"instanceId":"i-late"}"#.to_vec()))
                    } else {
                        Ok(None)
                    }
                })
                .collect()
        }
        fn requests(&self) -> u64 {
            0
        }
        fn location(&self) -> String {
            "test".into()
        }
    }

    fn late(fail: u32, status: u16) -> Late {
        Late {
            fail,
            status,
            calls: std::sync::atomic::AtomicU32::new(0),
        }
    }

    #[test]
    fn the_boot_waits_for_a_late_service_with_growing_pauses() {
        let wait = MetadataWait {
            max_wait: std::time::Duration::from_secs(60),
            first_delay: std::time::Duration::from_secs(1),
            max_delay: std::time::Duration::from_secs(4),
        };
        let pauses = std::sync::Mutex::new(Vec::new());
        let mut lines = Vec::new();
        let data = fetch_instance_waiting(
            &late(5, 503),
            wait,
            &mut |l: &str| lines.push(l.to_string()),
            &|d| pauses.lock().unwrap().push(d.as_secs()),
        )
        .unwrap();
        assert_eq!(data.instance_id, "i-late");
        assert_eq!(*pauses.lock().unwrap(), vec![1, 2, 4, 4, 4]);
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(lines[0].contains("not up yet") && lines[0].contains("HTTP 503"));
        assert!(lines[5].contains("answered after"), "{lines:?}");
    }

    #[test]
    fn the_wait_is_bounded_and_final_answers_are_not_retried() {
        let wait = MetadataWait {
            max_wait: std::time::Duration::from_secs(10),
            first_delay: std::time::Duration::from_secs(1),
            max_delay: std::time::Duration::from_secs(4),
        };
        let pauses = std::sync::Mutex::new(Vec::new());
        let err = fetch_instance_waiting(&late(u32::MAX, 503), wait, &mut |_| {}, &|d| {
            pauses.lock().unwrap().push(d.as_secs())
        })
        .unwrap_err();
        assert!(may_come_up(&err));
        // 1 + 2 + 4 = 7 s paused; another 4 s would pass the 10 s limit.
        assert_eq!(*pauses.lock().unwrap(), vec![1, 2, 4]);
        let source = late(u32::MAX, 403);
        let err = fetch_instance_waiting(&source, wait, &mut |_| {}, &|_| panic!("a 403 is final"))
            .unwrap_err();
        assert!(!may_come_up(&err));
        assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn max_wait_comes_from_the_system_config() {
        let load = |text: &str| crate::cloudconfig::yaml::load_bytes(text.as_bytes()).unwrap();
        let (w, problem) = MetadataWait::from_system_config(None);
        assert_eq!((w.max_wait.as_secs(), problem), (120, None));
        let node = load("datasource:\n  Ec2:\n    max_wait: 30\n");
        let (w, _) = MetadataWait::from_system_config(Some(&node));
        assert_eq!(w.max_wait.as_secs(), 30);
        let node = load("datasource:\n  Ec2:\n    max_wait: -1\n");
        assert_eq!(
            MetadataWait::from_system_config(Some(&node))
                .0
                .max_wait
                .as_secs(),
            0
        );
        let node = load("datasource:\n  Ec2:\n    max_wait: soon\n");
        let (w, problem) = MetadataWait::from_system_config(Some(&node));
        assert_eq!(w.max_wait.as_secs(), 120);
        assert!(problem.unwrap().contains("line 3"));
    }

    #[test]
    fn instance_id_falls_back_to_meta_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("latest/meta-data/instance-id");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "i-2\n").unwrap();
        let data = fetch_instance(&SeedSource::new(dir.path())).unwrap();
        assert_eq!(data.instance_id, "i-2");
        assert!(data.user_data.expose().is_empty());
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            fetch_instance(&SeedSource::new(empty.path())),
            Err(SourceError::NoInstanceId)
        ));
    }
}
