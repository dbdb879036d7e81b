//! A client of systemd-imdsd (systemd v261+), the machine's own metadata service, over
//! its Varlink socket `/run/systemd/io.systemd.InstanceMetadata`: JSON messages ended by
//! a NUL byte on a Unix stream socket, one connection per call. This module owns the two
//! calls strap makes, `io.systemd.InstanceMetadata.GetVendorInfo` (is it EC2?) and
//! `io.systemd.InstanceMetadata.Get` (`key` under the vendor's data URL, `/latest` on
//! EC2, or `wellKnown: userdata`; the answer's `data` is base64), each bounded by a
//! timeout. It never logs the data it gets and knows nothing of what it means.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where systemd-imdsd listens, as a machine path.
pub const SOCKET: &str = "/run/systemd/io.systemd.InstanceMetadata";

/// The interface's name, the prefix of its methods and errors.
pub const INTERFACE: &str = "io.systemd.InstanceMetadata";

/// The vendor systemd's hwdb gives EC2 (`IMDS_VENDOR=amazon-ec2`).
pub const VENDOR_EC2: &str = "amazon-ec2";

/// The largest answer read (user data is at most 16 KiB on EC2, base64 grows it by 4/3).
const MAX_REPLY: usize = 4 << 20;

/// Why a call got no data.
#[derive(Debug, thiserror::Error)]
pub enum ImdsdError {
    /// The socket could not be reached or the exchange broke off.
    #[error("systemd-imdsd at {socket}: {op} failed")]
    Io {
        socket: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// No answer within the time allowed.
    #[error("systemd-imdsd at {socket} did not answer {method} within {timeout:?}")]
    Timeout {
        socket: PathBuf,
        method: String,
        timeout: Duration,
    },
    /// An answer that is not a Varlink reply.
    #[error("systemd-imdsd at {socket}: malformed answer to {method}: {reason}")]
    Malformed {
        socket: PathBuf,
        method: String,
        reason: String,
    },
    /// A Varlink error other than "no such key" (`NotAvailable`, `CommunicationFailure`…).
    #[error("systemd-imdsd at {socket} answered {method} with {error}")]
    Remote {
        socket: PathBuf,
        method: String,
        error: String,
    },
}

/// What `GetVendorInfo` says, in short.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VendorInfo {
    /// `amazon-ec2`, `microsoft-azure`, … (`None` when it does not know).
    pub vendor: Option<String>,
    /// The base URL its keys are under (`http://169.254.169.254/latest`).
    pub data_url: Option<String>,
}

/// A systemd-imdsd endpoint.
#[derive(Clone, Debug)]
pub struct Imdsd {
    socket: PathBuf,
    timeout: Duration,
}

impl Imdsd {
    /// A client of the socket at the real path `socket`; every call gives up after
    /// `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            socket: socket.into(),
            timeout,
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GetVendorInfo()`.
    pub async fn vendor_info(&self) -> Result<VendorInfo, ImdsdError> {
        let method = format!("{INTERFACE}.GetVendorInfo");
        let reply = self.call(&method, serde_json::json!({})).await?;
        let params = reply.get("parameters");
        let text = |k: &str| {
            params
                .and_then(|p| p.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        Ok(VendorInfo {
            vendor: text("vendor"),
            data_url: text("dataUrl"),
        })
    }

    /// A metadata path as EC2 names it (`/latest/meta-data/instance-id`,
    /// `/latest/user-data`): `Ok(None)` when imdsd says the key is not there.
    pub async fn get_path(&self, path: &str) -> Result<Option<Vec<u8>>, ImdsdError> {
        let key = path.strip_prefix("/latest").unwrap_or(path);
        let params = if key == "/user-data" {
            serde_json::json!({"wellKnown": "userdata"})
        } else {
            serde_json::json!({ "key": key })
        };
        self.get(params).await
    }

    /// `Get(parameters)`, the `data` decoded; `Ok(None)` on `KeyNotFound` and
    /// `WellKnownKeyUnset`.
    pub async fn get(&self, params: serde_json::Value) -> Result<Option<Vec<u8>>, ImdsdError> {
        let method = format!("{INTERFACE}.Get");
        let reply = match self.call(&method, params).await {
            Ok(r) => r,
            Err(ImdsdError::Remote { error, .. })
                if error == format!("{INTERFACE}.KeyNotFound")
                    || error == format!("{INTERFACE}.WellKnownKeyUnset") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let malformed = |reason: &str| ImdsdError::Malformed {
            socket: self.socket.clone(),
            method: method.clone(),
            reason: reason.to_string(),
        };
        let data = reply
            .get("parameters")
            .and_then(|p| p.get("data"))
            .and_then(|d| d.as_str())
            .ok_or_else(|| malformed("no `data` string"))?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map(Some)
            .map_err(|_| malformed("`data` is not base64"))
    }

    /// One call on a fresh connection: the reply object (its `error` turned into
    /// [`ImdsdError::Remote`]).
    async fn call(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, ImdsdError> {
        let exchange = async {
            let io = |op: &'static str| {
                let socket = self.socket.clone();
                move |source| ImdsdError::Io { socket, op, source }
            };
            let mut stream = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(io("connect"))?;
            let mut msg = serde_json::to_vec(&serde_json::json!({
                "method": method,
                "parameters": params,
            }))
            .map_err(|e| ImdsdError::Malformed {
                socket: self.socket.clone(),
                method: method.to_string(),
                reason: e.to_string(),
            })?;
            msg.push(0);
            stream.write_all(&msg).await.map_err(io("send"))?;
            let mut reply = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = stream.read(&mut chunk).await.map_err(io("receive"))?;
                if n == 0 {
                    return Err(ImdsdError::Io {
                        socket: self.socket.clone(),
                        op: "receive",
                        source: std::io::ErrorKind::UnexpectedEof.into(),
                    });
                }
                if let Some(end) = chunk[..n].iter().position(|b| *b == 0) {
                    reply.extend_from_slice(&chunk[..end]);
                    break;
                }
                reply.extend_from_slice(&chunk[..n]);
                if reply.len() > MAX_REPLY {
                    return Err(ImdsdError::Malformed {
                        socket: self.socket.clone(),
                        method: method.to_string(),
                        reason: format!("answer longer than {MAX_REPLY} bytes"),
                    });
                }
            }
            Ok(reply)
        };
        let reply = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ImdsdError::Timeout {
                socket: self.socket.clone(),
                method: method.to_string(),
                timeout: self.timeout,
            })??;
        let value: serde_json::Value =
            serde_json::from_slice(&reply).map_err(|e| ImdsdError::Malformed {
                socket: self.socket.clone(),
                method: method.to_string(),
                reason: format!("not JSON ({})", e.classify_name()),
            })?;
        if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
            return Err(ImdsdError::Remote {
                socket: self.socket.clone(),
                method: method.to_string(),
                error: error.to_string(),
            });
        }
        Ok(value)
    }
}

/// serde_json's error category as a word (the message could quote the data).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// How the test server answers.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Behaviour {
        Serve,
        Hang,
        Fail,
    }

    /// A small systemd-imdsd stand-in on `socket`: `GetVendorInfo` says EC2, `Get`
    /// answers from `data` (keys as imdsd's, `userdata` for the well-known key).
    pub(crate) async fn serve(
        socket: &Path,
        data: BTreeMap<String, Vec<u8>>,
        behaviour: Behaviour,
    ) -> tokio::task::JoinHandle<()> {
        let listener = tokio::net::UnixListener::bind(socket).unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let data = data.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.contains(&0) {
                            break;
                        }
                    }
                    buf.retain(|b| *b != 0);
                    let req: serde_json::Value = serde_json::from_slice(&buf).unwrap();
                    let reply = match behaviour {
                        Behaviour::Hang => return std::future::pending().await,
                        Behaviour::Fail => serde_json::json!({
                            "error": "io.systemd.InstanceMetadata.CommunicationFailure",
                            "parameters": {}
                        }),
                        Behaviour::Serve => answer(&req, &data),
                    };
                    let mut out = serde_json::to_vec(&reply).unwrap();
                    out.push(0);
                    let _ = stream.write_all(&out).await;
                });
            }
        })
    }

    fn answer(req: &serde_json::Value, data: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
        let params = &req["parameters"];
        match req["method"].as_str().unwrap_or_default() {
            "io.systemd.InstanceMetadata.GetVendorInfo" => serde_json::json!({
                "parameters": {"vendor": "amazon-ec2", "dataUrl": "http://169.254.169.254/latest"}
            }),
            "io.systemd.InstanceMetadata.Get" => {
                let key = params["key"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| params["wellKnown"].as_str().map(str::to_string))
                    .unwrap_or_default();
                match data.get(&key) {
                    Some(v) => serde_json::json!({"parameters": {
                        "data": base64::engine::general_purpose::STANDARD.encode(v)
                    }}),
                    None => serde_json::json!({
                        "error": "io.systemd.InstanceMetadata.KeyNotFound", "parameters": {}
                    }),
                }
            }
            _ => serde_json::json!({"error": "org.varlink.service.MethodNotFound"}),
        }
    }

    #[tokio::test]
    async fn get_vendor_keys_and_well_known_user_data() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("imds");
        let data = BTreeMap::from([
            ("/meta-data/instance-id".to_string(), b"i-1".to_vec()),
            ("userdata".to_string(), b"#!/bin/sh\n".to_vec()),
        ]);
        serve(&socket, data, Behaviour::Serve).await;
        let c = Imdsd::new(&socket, Duration::from_secs(5));
        let info = c.vendor_info().await.unwrap();
        assert_eq!(info.vendor.as_deref(), Some(VENDOR_EC2));
        assert_eq!(
            c.get_path("/latest/meta-data/instance-id").await.unwrap(),
            Some(b"i-1".to_vec())
        );
        assert_eq!(
            c.get_path("/latest/user-data").await.unwrap(),
            Some(b"#!/bin/sh\n".to_vec())
        );
        assert_eq!(c.get_path("/latest/meta-data/nope").await.unwrap(), None);
    }

    #[tokio::test]
    async fn hangs_errors_and_missing_sockets_are_bounded_errors() {
        let dir = tempfile::tempdir().unwrap();
        let hang = dir.path().join("hang");
        serve(&hang, BTreeMap::new(), Behaviour::Hang).await;
        let err = Imdsd::new(&hang, Duration::from_millis(100))
            .get_path("/latest/meta-data/instance-id")
            .await
            .unwrap_err();
        assert!(matches!(err, ImdsdError::Timeout { .. }), "{err}");
        let fail = dir.path().join("fail");
        serve(&fail, BTreeMap::new(), Behaviour::Fail).await;
        let err = Imdsd::new(&fail, Duration::from_secs(5))
            .get_path("/latest/meta-data/instance-id")
            .await
            .unwrap_err();
        assert!(err.to_string().ends_with("CommunicationFailure"), "{err}");
        let err = Imdsd::new(dir.path().join("none"), Duration::from_secs(5))
            .vendor_info()
            .await
            .unwrap_err();
        assert!(matches!(err, ImdsdError::Io { op: "connect", .. }), "{err}");
    }
}
