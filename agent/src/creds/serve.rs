//! The container-credentials endpoint behind `strap creds serve`: an HTTP server that
//! hands out credentials from a source (usually the resolved chain) in the ECS / EKS Pod
//! Identity JSON shape, so that any SDK pointed at it with
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN` gets them.
//!
//! It listens on loopback unless told otherwise, requires a random authorization token
//! (compared in constant time), refreshes the credentials before they expire, and — as
//! the SDKs do for IMDS — keeps serving the last good credentials for a while when the
//! source fails (static stability). It never logs credentials or the token.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Mutex};

use crate::context::Context;
use crate::creds::env_vars::{
    AWS_CONTAINER_AUTHORIZATION_TOKEN, AWS_CONTAINER_CREDENTIALS_FULL_URI,
};
use crate::creds::Credentials;
use crate::secret::Secret;

/// Where the server listens by default: loopback, a free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";
/// The path credentials are served on (as the EKS Pod Identity agent).
pub const CREDENTIALS_PATH: &str = "/v1/credentials";
/// Credentials closer than this to their expiry are refreshed before being served.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// How long past their expiry the last good credentials may still be served while the
/// source fails.
pub const DEFAULT_STALE_GRACE: Duration = Duration::from_secs(15 * 60);
/// After a failed refresh, the source is not asked again for this long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// The expiry announced for stale credentials: clients come back this soon.
pub const STALE_EXTENSION: Duration = Duration::from_secs(5 * 60);
/// Connections served at once; more wait in the kernel's queue (a client that opens
/// connections without end cannot take the server's memory or descriptors).
pub const MAX_CONNECTIONS: usize = 128;
/// How long a client may take to send a request's headers (a client that sends them a
/// byte at a time cannot hold a connection for ever).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// An error from a credentials source (any error type).
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;
/// The future a source returns.
pub type SourceFuture = Pin<Box<dyn Future<Output = Result<Credentials, SourceError>> + Send>>;
/// Where served credentials come from: called whenever fresh ones are needed.
pub type Source = Arc<dyn Fn() -> SourceFuture + Send + Sync>;

/// Wrap an async closure as a [`Source`].
pub fn source_fn<F, Fut>(f: F) -> Source
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Credentials, SourceError>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()) as SourceFuture)
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address does not parse.
    #[error("invalid listen address `{value}`: use HOST:PORT, like 127.0.0.1:9911")]
    InvalidListen { value: String },
    /// A non-loopback address without `allow_remote`.
    #[error("refusing to serve credentials on {addr}, which is not a loopback address: anyone who can reach it could take them")]
    NotLoopback { addr: SocketAddr },
    /// Binding failed.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// Allow a non-loopback listen address.
    pub allow_remote: bool,
    /// The token clients must send; random when `None`.
    pub token: Option<Secret<String>>,
    /// Refresh credentials this long before they expire.
    pub refresh_before: Duration,
    /// Serve the last good credentials up to this long past their expiry when the source
    /// fails.
    pub stale_grace: Duration,
    /// Wait this long after a failed refresh before asking the source again.
    pub retry_after: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_string(),
            allow_remote: false,
            token: None,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            stale_grace: DEFAULT_STALE_GRACE,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }
}

/// The credentials held by the server and when to ask the source again after a failure.
#[derive(Default)]
struct Cache {
    last_good: Option<Credentials>,
    failed_until: Option<Instant>,
}

/// The server's shared state: the source, the token, the cache.
pub struct ServeState {
    ctx: Context,
    source: Source,
    token: Secret<String>,
    options: ServeOptions,
    /// Whether the listen address is a loopback one (then `Host` must name loopback).
    on_loopback: bool,
    cache: Mutex<Cache>,
}

/// A running credentials server; stop it with [`CredentialServer::shutdown`].
pub struct CredentialServer {
    addr: SocketAddr,
    state: Arc<ServeState>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// A random token: 32 bytes from the OS generator, hex.
pub fn random_token() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}

impl CredentialServer {
    /// Bind and start serving `source` in the background.
    pub async fn bind(
        ctx: &Context,
        source: Source,
        options: ServeOptions,
    ) -> Result<Self, ServeError> {
        let addr: SocketAddr = options
            .listen
            .parse()
            .map_err(|_| ServeError::InvalidListen {
                value: options.listen.clone(),
            })?;
        if !addr.ip().is_loopback() && !options.allow_remote {
            return Err(ServeError::NotLoopback { addr });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: options.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: options.listen.clone(),
            source,
        })?;
        let state = Arc::new(ServeState::new(ctx, source, options));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, "serving container credentials");
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The full credentials URL (`http://127.0.0.1:PORT/v1/credentials`).
    pub fn url(&self) -> String {
        format!("http://{}{CREDENTIALS_PATH}", self.addr)
    }

    /// The authorization token clients must send.
    pub fn token(&self) -> &Secret<String> {
        &self.state.token
    }

    /// The variables to give a client: `AWS_CONTAINER_CREDENTIALS_FULL_URI` and
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, in that order.
    pub fn exports(&self) -> [(&'static str, String); 2] {
        [
            (AWS_CONTAINER_CREDENTIALS_FULL_URI, self.url()),
            (
                AWS_CONTAINER_AUTHORIZATION_TOKEN,
                self.state.token.expose().clone(),
            ),
        ]
    }

    /// `export NAME='value'` lines for a POSIX shell, one per variable.
    pub fn env_lines(&self) -> String {
        self.exports()
            .iter()
            .map(|(k, v)| format!("export {k}={v}\n"))
            .collect()
    }

    /// Stop accepting connections and wait for the accept loop to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for CredentialServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Accept connections on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ServeState>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of descriptors, say: wait a moment rather than spin on it.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, &req).await) }
            });
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%err, "connection ended with an error");
            }
            drop(slot);
        });
    }
}

type Response = hyper::Response<Full<Bytes>>;

fn json_response(status: u16, body: String) -> Response {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_response(status: u16, code: &str, message: &str) -> Response {
    json_response(
        status,
        serde_json::json!({ "Code": code, "Message": message }).to_string(),
    )
}

/// Answer one request (testable without a socket).
pub async fn handle<B>(state: &ServeState, req: &hyper::Request<B>) -> Response {
    if req.uri().path() != CREDENTIALS_PATH {
        return error_response(
            404,
            "NotFound",
            "no such path; credentials are at /v1/credentials",
        );
    }
    if state.on_loopback && !loopback_host(req.headers().get(hyper::header::HOST)) {
        // A web page that rebinds its own name to 127.0.0.1 sends its name as Host.
        return error_response(
            403,
            "AccessDenied",
            "the Host header must be a loopback address or localhost",
        );
    }
    if req.method() != hyper::Method::GET {
        let mut resp = error_response(405, "MethodNotAllowed", "use GET");
        resp.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET"),
        );
        return resp;
    }
    let Some(given) = req.headers().get(hyper::header::AUTHORIZATION) else {
        return error_response(401, "Unauthorized", "missing Authorization header");
    };
    let expected = state.token.expose().as_bytes();
    if !bool::from(given.as_bytes().ct_eq(expected)) {
        return error_response(
            403,
            "AccessDenied",
            "the Authorization token does not match",
        );
    }
    match state.credentials().await {
        Ok(creds) => json_response(200, credentials_json(&creds)),
        Err(message) => error_response(502, "CredentialsUnavailable", &message),
    }
}

/// Whether a request's `Host` names this machine's loopback (`127.0.0.1:PORT`, `[::1]`,
/// `localhost`), as every SDK sends it for the URL `strap creds serve` gives; no Host
/// at all (HTTP/1.0) is accepted. A name that resolves to loopback only for the moment
/// (DNS rebinding) is refused.
fn loopback_host(host: Option<&hyper::header::HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else {
        return host.is_none();
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The ECS / Pod Identity JSON body for a set of credentials.
pub fn credentials_json(creds: &Credentials) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("AccessKeyId".into(), creds.access_key_id.clone().into());
    doc.insert(
        "SecretAccessKey".into(),
        creds.secret_access_key.expose().clone().into(),
    );
    if let Some(token) = &creds.session_token {
        doc.insert("Token".into(), token.expose().clone().into());
    }
    if let Some(exp) = creds.expiration {
        doc.insert(
            "Expiration".into(),
            exp.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        );
    }
    if let Some(account) = &creds.account_id {
        doc.insert("AccountId".into(), account.clone().into());
    }
    serde_json::Value::Object(doc).to_string()
}

impl ServeState {
    /// State for [`serve`] / [`handle`]: the token is `options.token` or a random one.
    pub fn new(ctx: &Context, source: Source, options: ServeOptions) -> Self {
        Self {
            ctx: ctx.clone(),
            source,
            token: options.token.clone().unwrap_or_else(random_token),
            on_loopback: options
                .listen
                .parse::<SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback()),
            options,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The authorization token clients must send.
    pub fn token(&self) -> &Secret<String> {
        &self.token
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.ctx.now())
    }

    /// Whether credentials are fresh enough to hand out without asking the source.
    fn fresh(&self, creds: &Credentials) -> bool {
        match creds.expiration {
            None => true,
            Some(exp) => {
                let margin =
                    chrono::Duration::from_std(self.options.refresh_before).unwrap_or_default();
                exp - margin > self.now()
            }
        }
    }

    /// The credentials to serve: the cached ones while fresh, else new ones from the
    /// source; when the source fails, the last good ones within the grace period (with
    /// a near expiry announced when they are already past theirs).
    async fn credentials(&self) -> Result<Credentials, String> {
        let mut cache = self.cache.lock().await;
        if let Some(creds) = &cache.last_good {
            if self.fresh(creds) {
                return Ok(creds.clone());
            }
        }
        let backing_off = cache.failed_until.is_some_and(|t| Instant::now() < t);
        let failure = if backing_off {
            "the credentials source failed recently".to_string()
        } else {
            match (self.source)().await {
                Ok(creds) => {
                    cache.failed_until = None;
                    cache.last_good = Some(creds.clone());
                    return Ok(creds);
                }
                Err(err) => {
                    cache.failed_until = Some(Instant::now() + self.options.retry_after);
                    tracing::warn!(error = %err, "refreshing the served credentials failed");
                    format!("the credentials source failed: {err}")
                }
            }
        };
        let now = self.now();
        let grace = chrono::Duration::from_std(self.options.stale_grace).unwrap_or_default();
        match &cache.last_good {
            Some(creds) if creds.expiration.is_none_or(|exp| exp + grace > now) => {
                let mut served = creds.clone();
                if let Some(exp) = served.expiration {
                    let soon =
                        now + chrono::Duration::from_std(STALE_EXTENSION).unwrap_or_default();
                    if exp <= now {
                        served.expiration = Some(soon);
                    }
                }
                tracing::warn!("serving the last good credentials while the source fails");
                Ok(served)
            }
            _ => Err(failure),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn creds(key: &str, expiration: Option<DateTime<Utc>>) -> Credentials {
        Credentials {
            access_key_id: key.into(),
            secret_access_key: Secret::new("secret".into()),
            session_token: Some(Secret::new("session".into())),
            expiration,
            account_id: Some("123456789012".into()),
        }
    }

    fn ctx() -> Context {
        Context::fixed(Vec::<(String, String)>::new(), "/")
    }

    /// A source answering from a script: `Some(minutes to expiry)` → credentials
    /// `AKID{n}`, `None` → failure.
    fn scripted(script: Vec<Option<i64>>) -> (Source, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let script = Arc::new(script);
        let source = source_fn(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let step = script.get(n).copied().flatten();
            async move {
                match step {
                    Some(minutes) => Ok(creds(
                        &format!("AKID{n}"),
                        Some(Utc::now() + chrono::Duration::minutes(minutes)),
                    )),
                    None => Err::<Credentials, SourceError>("source down".into()),
                }
            }
        });
        (source, calls)
    }

    /// A server on loopback over [`scripted`]; `retry_now` drops the pause after a failed
    /// refresh. Answers the server, the source's call counter and the token.
    async fn serve_script(
        script: Vec<Option<i64>>,
        retry_now: bool,
    ) -> (CredentialServer, Arc<AtomicUsize>, String) {
        let (source, calls) = scripted(script);
        let mut options = ServeOptions::default();
        if retry_now {
            options.retry_after = Duration::ZERO;
        }
        let server = CredentialServer::bind(&ctx(), source, options)
            .await
            .unwrap();
        let token = server.token().expose().clone();
        (server, calls, token)
    }

    async fn fetch(server: &CredentialServer, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new().get(server.url());
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json_value().await)
    }

    trait JsonValue {
        async fn json_value(self) -> serde_json::Value;
    }
    impl JsonValue for reqwest::Response {
        async fn json_value(self) -> serde_json::Value {
            serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
        }
    }

    #[tokio::test]
    async fn serves_the_ecs_shape_with_the_token() {
        let (server, calls, token) = serve_script(vec![Some(60)], false).await;
        assert!(server.addr().ip().is_loopback());
        assert_eq!(token.len(), 64);
        let (status, body) = fetch(&server, Some(&token)).await;
        assert_eq!(status, 200);
        assert_eq!(body["AccessKeyId"], "AKID0");
        assert_eq!(body["SecretAccessKey"], "secret");
        assert_eq!(body["Token"], "session");
        assert_eq!(body["AccountId"], "123456789012");
        let exp = body["Expiration"].as_str().unwrap();
        assert!(
            exp.ends_with('Z') && DateTime::parse_from_rfc3339(exp).is_ok(),
            "{exp}"
        );
        // Fresh credentials are cached.
        fetch(&server, Some(&token)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let lines = server.env_lines();
        assert!(
            lines.contains(&format!(
                "{AWS_CONTAINER_CREDENTIALS_FULL_URI}={}",
                server.url()
            )),
            "{lines}"
        );
        assert!(
            lines.contains(&format!("{AWS_CONTAINER_AUTHORIZATION_TOKEN}={token}")),
            "{lines}"
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_missing_or_wrong_token_is_refused() {
        let (server, calls, mut wrong) = serve_script(vec![Some(60)], false).await;
        assert_eq!(fetch(&server, None).await.0, 401);
        wrong.pop();
        wrong.push('x');
        assert_eq!(fetch(&server, Some(&wrong)).await.0, 403);
        assert_eq!(fetch(&server, Some("")).await.0, 403);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let resp = reqwest::get(format!("http://{}/other", server.addr()))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
    }

    #[tokio::test]
    async fn a_rebound_host_name_is_refused_and_idle_connections_do_not_block_others() {
        let (server, calls, token) = serve_script(vec![Some(60)], false).await;
        // A page at evil.example whose name now resolves to 127.0.0.1 sends it as Host.
        let resp = reqwest::Client::new()
            .get(server.url())
            .header("host", format!("evil.example:{}", server.addr().port()))
            .header("authorization", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        for host in ["localhost", "127.0.0.1:9", "[::1]:80", "LOCALHOST:1"] {
            let value = hyper::header::HeaderValue::from_static(host);
            assert!(loopback_host(Some(&value)), "{host}");
        }
        for host in [
            "evil.example",
            "127.0.0.1.evil.example:80",
            "10.0.0.1:80",
            "",
        ] {
            let value = hyper::header::HeaderValue::from_static(host);
            assert!(!loopback_host(Some(&value)), "{host}");
        }
        // More idle connections than the server serves at once, each sending half a
        // request: a real client still gets its answer once their headers time out.
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS + 8 {
            let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut s, b"GET /v1/cred")
                .await
                .unwrap();
            idle.push(s);
        }
        let (status, body) = tokio::time::timeout(HEADER_TIMEOUT * 3, fetch(&server, Some(&token)))
            .await
            .expect("answered once the idle connections timed out");
        assert_eq!((status, body["AccessKeyId"].as_str()), (200, Some("AKID0")));
    }

    #[tokio::test]
    async fn credentials_near_expiry_are_refreshed() {
        // Two minutes left is inside the five-minute refresh window.
        let (server, calls, token) = serve_script(vec![Some(2), Some(60)], false).await;
        assert_eq!(fetch(&server, Some(&token)).await.1["AccessKeyId"], "AKID0");
        assert_eq!(fetch(&server, Some(&token)).await.1["AccessKeyId"], "AKID1");
        assert_eq!(fetch(&server, Some(&token)).await.1["AccessKeyId"], "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn last_good_credentials_survive_a_failing_source() {
        let (server, calls, token) = serve_script(vec![Some(2), None, None], true).await;
        assert_eq!(fetch(&server, Some(&token)).await.1["AccessKeyId"], "AKID0");
        let (status, body) = fetch(&server, Some(&token)).await;
        assert_eq!((status, body["AccessKeyId"].as_str()), (200, Some("AKID0")));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn expired_credentials_past_the_grace_are_not_served() {
        let (server, _, token) = serve_script(vec![Some(-60), None], true).await;
        // The first answer is what the source gave (already expired, but new).
        assert_eq!(fetch(&server, Some(&token)).await.0, 200);
        let (status, body) = fetch(&server, Some(&token)).await;
        assert_eq!(status, 502);
        assert!(
            body["Message"].as_str().unwrap().contains("source down"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn stale_credentials_get_a_near_expiry() {
        // Expired 5 minutes ago, within the 15-minute grace: served with a new expiry.
        let (server, _, token) = serve_script(vec![Some(-5), None], true).await;
        fetch(&server, Some(&token)).await;
        let (status, body) = fetch(&server, Some(&token)).await;
        assert_eq!(status, 200);
        let exp = DateTime::parse_from_rfc3339(body["Expiration"].as_str().unwrap()).unwrap();
        assert!(exp > Utc::now(), "{exp}");
    }

    #[tokio::test]
    async fn remote_addresses_need_consent() {
        let (source, _) = scripted(vec![]);
        let options = ServeOptions {
            listen: "0.0.0.0:0".into(),
            ..ServeOptions::default()
        };
        let err = CredentialServer::bind(&ctx(), source.clone(), options)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ServeError::NotLoopback { .. }), "{err}");
        let options = ServeOptions {
            listen: "nonsense".into(),
            ..ServeOptions::default()
        };
        let err = CredentialServer::bind(&ctx(), source, options)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("nonsense"), "{err}");
    }
}
