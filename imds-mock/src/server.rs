//! The HTTP side: [`router`] answers one request from the shared [`State`] (testable
//! without a socket), [`serve`] runs it on a listener until shutdown. The rules of the
//! IMDS protocol live here: the token endpoint, token checks and the status-code matrix,
//! response headers, fault injection, and dispatch to the control API.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, ACCEPT_RANGES, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE,
    LAST_MODIFIED,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use crate::config::{HttpTokens, MAX_TOKEN_TTL};
use crate::control::CONTROL_PREFIX;
use crate::creds::{credentials_document, credentials_error_document, Delivery};
use crate::response::{respond, ResponseBody};
use crate::state::{Count, RequestFacts, State};
use crate::tree::{Dynamic, Found, SignatureKind, VERSIONS};
use crate::{container, sigv4, sts};

/// The token endpoint.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// Request header carrying the session token.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Request header with the wanted token TTL; response header with the (remaining) TTL.
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";

/// The exact 404 page of real IMDS.
pub const NOT_FOUND_BODY: &str = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\t\t \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>404 - Not Found</title>\n </head>\n <body>\n  <h1>404 - Not Found</h1>\n </body>\n</html>\n";

/// Set on the token response: send it with this IP TTL (`HttpPutResponseHopLimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopLimit(pub u8);

/// Set by [`serve`] on each request: the local address the connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddr(pub std::net::SocketAddr);

/// Set by [`serve`] on each request: the address the connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The router decided not to answer: the connection is dropped (an injected fault).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub struct Dropped;

static TTL_HEADER_NAME: HeaderName = HeaderName::from_static(TTL_HEADER);

/// An error page in the style of IMDS's 404 page.
fn error_page(status: StatusCode) -> Response<ResponseBody> {
    if status == StatusCode::NOT_FOUND {
        return respond(status, Some("text/html"), NOT_FOUND_BODY);
    }
    let title = format!(
        "{} - {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = NOT_FOUND_BODY.replace("404 - Not Found", &title);
    respond(status, Some("text/html"), body)
}

fn method_not_allowed(allow: &'static str) -> Response<ResponseBody> {
    let mut resp = error_page(StatusCode::METHOD_NOT_ALLOWED);
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

/// Answer one request. Generic over the body so tests can call it with `Full<Bytes>`.
pub async fn router<B>(state: State, req: Request<B>) -> Result<Response<ResponseBody>, Dropped>
where
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    route(&state, req).await
}

/// [`router`] on a borrowed state (the server calls this, sparing a clone of the shared
/// state per request).
async fn route<B>(state: &State, req: Request<B>) -> Result<Response<ResponseBody>, Dropped>
where
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.uri().path().starts_with(CONTROL_PREFIX) {
        return Ok(crate::control::handle(state, req).await);
    }
    let head = req.method() == Method::HEAD;
    let (mut resp, connection_close) = answer(state, req).await?;
    if connection_close {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if head {
        let len = Body::size_hint(resp.body()).exact().unwrap_or(0);
        *resp.body_mut() = Full::new(Bytes::new());
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    match resp.status() {
        StatusCode::UNAUTHORIZED => state.count(Count::Unauthorized),
        StatusCode::NOT_FOUND => state.count(Count::NotFound),
        _ => {}
    }
    Ok(resp)
}

/// The answer and whether it carries `Connection: close` (as configured when answered).
async fn answer<B>(
    state: &State,
    req: Request<B>,
) -> Result<(Response<ResponseBody>, bool), Dropped>
where
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    state.count(Count::Total);
    let path = req.uri().path();
    // One read of the configuration for this request.
    let mut facts = state.request_facts(path);
    // With HttpProtocolIpv6 disabled the IPv6 endpoint does not exist: nothing answers.
    let over_ipv6 = req
        .extensions()
        .get::<LocalAddr>()
        .is_some_and(|a| a.0.is_ipv6());
    if over_ipv6 && !facts.options.http_protocol_ipv6.is_enabled() {
        return Err(Dropped);
    }
    if let Some(fault) = facts.fault.take() {
        if fault.latency_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(fault.latency_ms)).await;
            // The configuration may have changed while this request waited.
            facts = state.request_facts(path);
        }
        let (drop, error) = {
            let mut rng = rand::thread_rng();
            (
                fault.drop_rate > 0.0 && rng.gen_bool(fault.drop_rate),
                fault.error_rate > 0.0 && rng.gen_bool(fault.error_rate),
            )
        };
        if drop {
            state.count(Count::Fault);
            return Err(Dropped);
        }
        if error {
            state.count(Count::Fault);
            let status =
                StatusCode::from_u16(fault.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Ok((error_page(status), facts.connection_close));
        }
    }
    let close = facts.connection_close;
    answer_request(state, req, facts).await.map(|r| (r, close))
}

async fn answer_request<B>(
    state: &State,
    req: Request<B>,
    facts: RequestFacts,
) -> Result<Response<ResponseBody>, Dropped>
where
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path();
    if facts.throttle && state.throttled() {
        state.count(Count::Fault);
        return Err(Dropped);
    }
    if facts.interface_throttle
        && state.interface_throttled(req.extensions().get::<PeerAddr>().map(|p| p.0.ip()))
    {
        state.count(Count::Fault);
        return Err(Dropped);
    }
    if let Some(endpoint) = container::endpoint_for(path) {
        return Ok(container_answer(state, endpoint, &req));
    }
    // STS: a form POST to `/`, or a presigned `GET /?Action=…` (as aws-iam-authenticator
    // sends); a plain `GET /` is the IMDS version listing.
    let presigned_get = req.method() == Method::GET
        && path == "/"
        && req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("Action=")));
    if (req.method() == Method::POST && path == "/") || presigned_get {
        return Ok(sts_answer(state, req).await);
    }
    let options = facts.options;
    if !options.http_endpoint.is_enabled() {
        return Ok(error_page(StatusCode::FORBIDDEN));
    }
    let method = req.method();
    let headers = req.headers();

    if path == TOKEN_PATH {
        if method != Method::PUT {
            return Ok(method_not_allowed("PUT"));
        }
        if headers.contains_key("x-forwarded-for") {
            return Ok(error_page(StatusCode::FORBIDDEN));
        }
        let Some(ttl) = headers
            .get(&TTL_HEADER_NAME)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_ttl)
        else {
            return Ok(error_page(StatusCode::BAD_REQUEST));
        };
        let token = state.issue_token(ttl);
        let mut resp = respond(StatusCode::OK, Some("text/plain"), token);
        resp.headers_mut()
            .insert(TTL_HEADER_NAME.clone(), HeaderValue::from(ttl));
        resp.extensions_mut()
            .insert(HopLimit(options.http_put_response_hop_limit));
        return Ok(resp);
    }
    if method == Method::PUT && is_dated_token_path(path) {
        return Ok(error_page(StatusCode::FORBIDDEN));
    }
    if method != Method::GET && method != Method::HEAD {
        return Ok(method_not_allowed("GET, HEAD"));
    }

    let (delivery, remaining) = match headers.get(TOKEN_HEADER) {
        Some(token) => match state.verify_token(token.as_bytes()) {
            Ok(left) => (Delivery::V2, Some(left)),
            Err(_) => return Ok(respond(StatusCode::UNAUTHORIZED, None, Bytes::new())),
        },
        None if options.http_tokens == HttpTokens::Required => {
            return Ok(respond(StatusCode::UNAUTHORIZED, None, Bytes::new()));
        }
        None => (Delivery::V1, None),
    };
    state.count(match delivery {
        Delivery::V1 => Count::ImdsV1,
        Delivery::V2 => Count::ImdsV2,
    });

    let tree = state.tree();
    let mut resp = match tree.resolve(path) {
        None => error_page(StatusCode::NOT_FOUND),
        Some(Found::Text(body)) => respond(StatusCode::OK, Some("text/plain"), body),
        Some(Found::UserData(body)) => {
            respond(StatusCode::OK, Some("application/octet-stream"), body)
        }
        Some(Found::Dynamic(d)) => dynamic(state, d, delivery, path),
    };
    let h = resp.headers_mut();
    if let Some(left) = remaining {
        h.insert(TTL_HEADER_NAME.clone(), HeaderValue::from(left));
    }
    if resp.status() == StatusCode::OK {
        // As captured from EC2: `none` with a token, `bytes` without.
        let ranges = if remaining.is_some() { "none" } else { "bytes" };
        let h = resp.headers_mut();
        h.insert(ACCEPT_RANGES, HeaderValue::from_static(ranges));
        if let Some(v) = &tree.last_modified_header {
            h.insert(LAST_MODIFIED, v.clone());
        }
    }
    Ok(resp)
}

fn dynamic(state: &State, d: Dynamic, delivery: Delivery, path: &str) -> Response<ResponseBody> {
    let text = |body: String| respond(StatusCode::OK, Some("text/plain"), body);
    match d {
        Dynamic::RoleCredentials { extended } => {
            if let Some(code) = state.credential_error() {
                let role = state.config().role.unwrap_or_default();
                return text(credentials_error_document(&code, &role, state.now()));
            }
            let expired = state.fault_for(path).is_some_and(|f| f.expired_credentials);
            let key = if expired {
                state.expired_credentials()
            } else {
                state.credentials(delivery)
            };
            match key {
                Some(key) => text(credentials_document(&key, extended)),
                None => error_page(StatusCode::NOT_FOUND),
            }
        }
        Dynamic::IdentityCredentials => {
            text(credentials_document(&state.identity_credentials(), false))
        }
        Dynamic::IdentitySignature(kind) => match state.identity_signatures() {
            Ok(sigs) => text(match kind {
                SignatureKind::Signature => sigs.signature,
                SignatureKind::Pkcs7 => sigs.pkcs7,
                SignatureKind::Rsa2048 => sigs.rsa2048,
            }),
            Err(e) => {
                tracing::error!(error = %e, "cannot sign the identity document");
                error_page(StatusCode::INTERNAL_SERVER_ERROR)
            }
        },
    }
}

/// The ECS and EKS Pod Identity credential endpoints.
fn container_answer<B>(
    state: &State,
    endpoint: container::ContainerEndpoint,
    req: &Request<B>,
) -> Response<ResponseBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let options = state.config().container;
    let key = state.container_credentials();
    let answer = match endpoint {
        container::ContainerEndpoint::Ecs => {
            container::ecs_credentials(req.uri().path(), &options.credential_id, &key)
        }
        container::ContainerEndpoint::EksPodIdentity => container::eks_pod_identity_credentials(
            req.headers(),
            &options.authorization_token,
            &key,
        ),
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::new(Full::new(Bytes::from(answer.body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    resp
}

/// Largest STS request body read.
pub const MAX_STS_BODY: usize = 64 * 1024;

/// STS (`POST /` with a form body), verified against the keys this mock issued.
async fn sts_answer<B>(state: &State, req: Request<B>) -> Response<ResponseBody>
where
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let body =
        match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_STS_BODY))
            .await
        {
            Ok(c) => c.to_bytes(),
            Err(_) => return error_page(StatusCode::PAYLOAD_TOO_LARGE),
        };
    let signed = sigv4::SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    if !sts::is_sts_request(&signed) {
        return method_not_allowed("GET, HEAD");
    }
    let answer = sts::handle(&signed, state, &|_| None, state.now());
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::new(Full::new(Bytes::from(answer.body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    if let Ok(v) = HeaderValue::from_str(&answer.request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// A TTL header value: decimal digits only, 1..=21600.
pub fn parse_ttl(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ttl: u64 = value.parse().ok()?;
    (1..=MAX_TOKEN_TTL).contains(&ttl).then_some(ttl)
}

/// `/<version>/api/token` for a version other than `latest`.
fn is_dated_token_path(path: &str) -> bool {
    path.strip_suffix("/api/token")
        .and_then(|v| v.strip_prefix('/'))
        .is_some_and(|v| v != "latest" && (VERSIONS.contains(&v) || looks_dated(v)))
}

fn looks_dated(v: &str) -> bool {
    v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// A TCP stream that applies the IP TTL the last response asked for before writing it.
struct TtlStream {
    inner: tokio::net::TcpStream,
    wanted: Arc<AtomicU32>,
    current: u32,
}

impl TtlStream {
    fn apply_ttl(&mut self) {
        let wanted = self.wanted.load(Ordering::Relaxed);
        if wanted != self.current {
            if let Err(e) = self.inner.set_ttl(wanted) {
                tracing::debug!(error = %e, ttl = wanted, "cannot set IP TTL on the connection");
            }
            self.current = wanted;
        }
    }
}

impl AsyncRead for TtlStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TtlStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.apply_ttl();
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.apply_ttl();
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Largest request head (request line and headers) accepted; larger ones get 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Serve `state` on `listener` until `shutdown` resolves, then finish in-flight requests
/// (for up to five seconds).
pub async fn serve(
    listener: TcpListener,
    state: State,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().ok();
                let default_ttl = stream.ttl().unwrap_or(64);
                let wanted = Arc::new(AtomicU32::new(default_ttl));
                let io = TokioIo::new(TtlStream { inner: stream, wanted: Arc::clone(&wanted), current: default_ttl });
                // One handle per connection: cloning it per request touches this
                // connection's counter, not the state's counter shared by every worker.
                let state = Arc::new(state.clone());
                let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    let state = Arc::clone(&state);
                    if let Some(local) = local {
                        req.extensions_mut().insert(LocalAddr(local));
                    }
                    req.extensions_mut().insert(PeerAddr(peer));
                    let wanted = Arc::clone(&wanted);
                    async move {
                        // Copy the method and URI for the request line only when it is logged.
                        let logged = tracing::enabled!(tracing::Level::INFO)
                            .then(|| (req.method().clone(), req.uri().clone()));
                        let result = route(&state, req).await;
                        if let Ok(resp) = &result {
                            let ttl = resp.extensions().get::<HopLimit>().map_or(default_ttl, |h| u32::from(h.0));
                            wanted.store(ttl, Ordering::Relaxed);
                        }
                        if let Some((method, uri)) = logged {
                            match &result {
                                Ok(resp) => tracing::info!(%peer, %method, path = uri.path(), status = resp.status().as_u16(), "request"),
                                Err(e) => tracing::info!(%peer, %method, path = uri.path(), "{e}"),
                            }
                        }
                        result
                    }
                });
                let conn = graceful.watch(builder.serve_connection(io, service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
            tracing::warn!("connections still open after 5 s; closing them");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn ttl_stream_applies_the_wanted_ttl_before_writing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let _client = client.unwrap();
        let (server, _) = accepted.unwrap();
        let default_ttl = server.ttl().unwrap();
        let wanted = Arc::new(AtomicU32::new(default_ttl));
        let mut stream = TtlStream {
            inner: server,
            wanted: Arc::clone(&wanted),
            current: default_ttl,
        };
        wanted.store(2, Ordering::Relaxed);
        stream.write_all(b"token").await.unwrap();
        assert_eq!(stream.inner.ttl().unwrap(), 2);
        wanted.store(default_ttl, Ordering::Relaxed);
        stream.write_all(b"metadata").await.unwrap();
        assert_eq!(stream.inner.ttl().unwrap(), default_ttl);
    }

    #[test]
    fn ttl_header_parsing() {
        assert_eq!(parse_ttl("21600"), Some(21600));
        assert_eq!(parse_ttl(" 60 "), Some(60));
        for bad in ["0", "21601", "+5", "-5", "5s", "", "0x10"] {
            assert_eq!(parse_ttl(bad), None, "{bad}");
        }
    }

    #[test]
    fn dated_token_paths() {
        assert!(is_dated_token_path("/2021-03-23/api/token"));
        assert!(is_dated_token_path("/1.0/api/token"));
        assert!(!is_dated_token_path("/latest/api/token"));
        assert!(!is_dated_token_path("/latest/meta-data/api/token"));
    }
}
