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
}

/// The metadata service, through the IMDS client.
pub struct ImdsSource {
    client: ImdsClient,
    handle: tokio::runtime::Handle,
}

impl ImdsSource {
    /// A source over a client, driven by the given runtime.
    pub fn new(client: ImdsClient, handle: tokio::runtime::Handle) -> Self {
        Self { client, handle }
    }
}

impl Datasource for ImdsSource {
    fn name(&self) -> String {
        "DataSourceEc2".into()
    }

    fn fetch(&self, paths: &[&str]) -> Vec<Result<Option<Vec<u8>>, SourceError>> {
        let client = self.client.clone();
        let owned: Vec<String> = paths.iter().map(|p| (*p).to_string()).collect();
        self.handle.block_on(async move {
            let mut tasks = Vec::new();
            for path in owned {
                let client = client.clone();
                tasks.push(tokio::spawn(async move {
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
