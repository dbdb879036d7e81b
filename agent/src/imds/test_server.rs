//! A scripted HTTP server for unit tests of the agent's HTTP clients: it binds
//! 127.0.0.1:0, answers each request from a closure and records every request it saw.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the server does with a request.
pub(crate) enum Reply {
    /// Status, headers, body.
    With(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Never answer (a stalled service).
    Hang,
    /// Wait, then answer (a slow service).
    Delayed(std::time::Duration, Box<Reply>),
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self::With(status, Vec::new(), Vec::new())
    }
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::With(200, Vec::new(), body.into())
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

/// A running test server; stops when dropped.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Start a server answering request number `n` (from 0) with `handler(req, n)`.
    pub async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    _ = &mut stopped => break,
                };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        let log = log.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let seen = Seen {
                                method: parts.method.to_string(),
                                path: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts.headers,
                                body,
                            };
                            let n = {
                                let mut log = log.lock().unwrap();
                                log.push(seen.clone());
                                log.len() - 1
                            };
                            let mut reply = handler(&seen, n);
                            while let Reply::Delayed(wait, then) = reply {
                                tokio::time::sleep(wait).await;
                                reply = *then;
                            }
                            match reply {
                                Reply::With(status, headers, body) => {
                                    let mut resp = hyper::Response::builder().status(status);
                                    for (k, v) in headers {
                                        resp = resp.header(k, v);
                                    }
                                    Ok::<_, Infallible>(
                                        resp.body(Full::new(Bytes::from(body))).unwrap(),
                                    )
                                }
                                Reply::Hang | Reply::Delayed(..) => std::future::pending().await,
                            }
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            seen,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// `METHOD path` of every request seen so far.
    pub fn lines(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
