//! The IMDS HTTP client: one cached IMDSv2 session token shared by every clone (callers
//! that find it stale wait on a single refresh), a 401 that drops the token and retries
//! once, 5xx and connection failures retried with exponential backoff inside an overall
//! deadline, no retry on other 4xx, 404 as `Ok(None)`, and the IMDSv1 fallback only
//! where the settings allow it. Token expiry is measured on the monotonic clock, as a
//! lifetime counted from when the token was issued.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use tokio::sync::Mutex;

use crate::context::Context;
use crate::secret::Secret;

use super::settings::{
    ImdsSettings, V1Fallback, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, ENV_DISABLED,
    MAX_RETRY_DELAY, TOKEN_PATH, TOKEN_REFRESH_BUFFER,
};
use super::ImdsError;

/// Request header carrying the session token on reads.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Request header asking for a token lifetime, echoed in the token response.
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";

/// What the client holds in place of a token.
enum TokenState {
    /// Nothing yet, or dropped after a 401.
    Empty,
    /// A session token and when it stops being usable.
    Token {
        value: Secret<String>,
        expires: Instant,
    },
    /// The endpoint does not issue tokens (403/404/405) and IMDSv1 is allowed.
    V1,
}

struct Inner {
    http: Http,
    endpoint: String,
    disabled: bool,
    allows_v1: bool,
    /// The behaviour would fall back to IMDSv1 but `…_V1_DISABLED` forbids it.
    v1_disabled_by_setting: bool,
    attempt_timeout: Duration,
    /// Time a token request may take: tokens come back at once from a healthy service,
    /// and a stalled token API (hop limit) should not hold reads up.
    token_timeout: Duration,
    num_attempts: u32,
    deadline: Duration,
    token_ttl: Duration,
    retry_base_nanos: AtomicU64,
    retry_doubles: bool,
    retry_transport_errors: bool,
    retry_any_status: bool,
    v1_fallback: V1Fallback,
    token: Mutex<TokenState>,
    requests: AtomicU64,
}

/// How requests leave the machine: hyper's own connector for an `http://` endpoint (every
/// real one) or when the sockets must carry a firewall mark (`SO_MARK`, set before
/// connect, which reqwest cannot do); reqwest, with its TLS, only for an `https://`
/// endpoint. A short `strap creds` run does not pay for the TLS client it never uses.
enum Http {
    Plain(reqwest::Client),
    Direct {
        client: Box<
            hyper_util::client::legacy::Client<
                hyper_util::client::legacy::connect::HttpConnector,
                http_body_util::Empty<Bytes>,
            >,
        >,
        mark: Option<u32>,
    },
}

/// One request to send (no `Debug`: the header may be the session token).
struct Req<'a> {
    method: http::Method,
    url: &'a str,
    header: Option<(&'static str, String)>,
}

/// The largest answer read from the metadata service: its largest documents (user data,
/// 16 KiB on EC2; the identity signature) are far below it.
pub const MAX_ANSWER: usize = 1 << 20;

/// The [`TransportError`] kind of an answer larger than [`MAX_ANSWER`]: not retried.
const TOO_LARGE: &str = "answer too large";

/// Why one attempt got no answer.
struct TransportError {
    /// `timed out`, `connection failed` or `request failed`.
    kind: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Http {
    fn new(
        settings: &ImdsSettings,
        endpoint: &str,
        connect_timeout: Duration,
    ) -> Result<Self, ImdsError> {
        let mark = settings.fwmark;
        if mark.is_some() || endpoint.starts_with("http://") {
            let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
            connector.set_mark(mark);
            connector.set_connect_timeout(Some(connect_timeout));
            connector.set_nodelay(true);
            if let Some(interface) = &settings.bind_interface {
                connector.set_interface(interface.clone());
            }
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build(connector);
            return Ok(Self::Direct {
                client: Box::new(client),
                mark,
            });
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .no_proxy();
        if let Some(interface) = &settings.bind_interface {
            builder = builder.interface(interface);
        }
        Ok(Self::Plain(builder.build().map_err(ImdsError::Client)?))
    }

    async fn send(&self, req: &Req<'_>, timeout: Duration) -> Result<Answer, TransportError> {
        match self {
            Self::Plain(client) => {
                let mut builder = client.request(req.method.clone(), req.url).timeout(timeout);
                if let Some((name, value)) = &req.header {
                    builder = builder.header(*name, value.as_str());
                }
                let plain = |err: reqwest::Error| TransportError {
                    kind: if err.is_timeout() {
                        "timed out"
                    } else if err.is_connect() {
                        "connection failed"
                    } else {
                        "request failed"
                    },
                    source: Box::new(err),
                };
                let resp = builder.send().await.map_err(plain)?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body =
                    crate::bounded::body(resp, MAX_ANSWER)
                        .await
                        .map_err(|err| match err {
                            crate::bounded::BodyError::Read(err) => plain(err),
                            too_large => TransportError {
                                kind: TOO_LARGE,
                                source: Box::new(too_large),
                            },
                        })?;
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
            Self::Direct { client, .. } => {
                let mut builder = http::Request::builder()
                    .method(req.method.clone())
                    .uri(req.url);
                if let Some((name, value)) = &req.header {
                    builder = builder.header(*name, value.as_str());
                }
                let request = builder
                    .body(http_body_util::Empty::<Bytes>::new())
                    .map_err(|e| TransportError {
                        kind: "request failed",
                        source: Box::new(e),
                    })?;
                let exchange = async {
                    use http_body_util::BodyExt as _;
                    let resp = client.request(request).await.map_err(direct_error)?;
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
                        .collect()
                        .await
                        .map_err(|e| TransportError {
                            kind: if e.is::<http_body_util::LengthLimitError>() {
                                TOO_LARGE
                            } else {
                                "request failed"
                            },
                            source: e,
                        })?
                        .to_bytes();
                    Ok(Answer {
                        status,
                        headers,
                        body,
                    })
                };
                match tokio::time::timeout(timeout, exchange).await {
                    Ok(result) => result,
                    Err(elapsed) => Err(TransportError {
                        kind: "timed out",
                        source: Box::new(elapsed),
                    }),
                }
            }
        }
    }
}

/// A hyper client error as `timed out` / `connection failed` / `request failed`.
fn direct_error(err: hyper_util::client::legacy::Error) -> TransportError {
    let mut timed_out = false;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&err);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        cause = c.source();
    }
    let kind = if timed_out {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    TransportError {
        kind,
        source: Box::new(err),
    }
}

/// A cheaply clonable IMDS client (clones share the token cache and counters).
#[derive(Clone)]
pub struct ImdsClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for ImdsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImdsClient")
            .field("endpoint", &self.inner.endpoint)
            .field("disabled", &self.inner.disabled)
            .field("allows_v1", &self.inner.allows_v1)
            .field("fwmark", &self.fwmark())
            .field("requests_made", &self.requests_made())
            .finish_non_exhaustive()
    }
}

/// One HTTP answer, read whole.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
}

/// How one request is sent.
#[derive(Clone, Copy)]
struct Policy {
    /// Time one attempt may take.
    attempt_timeout: Duration,
    /// Whether a timed-out attempt is tried again.
    retry_timeouts: bool,
    /// Whether any answer but a 200 with a body is tried again (botocore's reads); the
    /// last such answer is returned as is.
    retry_any_status: bool,
}

/// Why a request gave up after its retries.
enum Failure {
    /// The last attempt got this 5xx.
    Server(u16),
    /// The last attempt could not connect or timed out.
    Transport(Box<dyn std::error::Error + Send + Sync>, &'static str),
    /// The overall deadline passed.
    Deadline,
    /// The answer passed [`MAX_ANSWER`].
    TooLarge,
}

impl ImdsClient {
    /// A client configured from the environment (`AWS_EC2_METADATA_*`,
    /// `AWS_METADATA_SERVICE_*`) as the SDKs configure theirs. Profile values are applied
    /// by building [`ImdsSettings`] and calling [`Self::from_settings`].
    pub fn from_context(ctx: &Context) -> Result<Self, ImdsError> {
        Self::from_settings(&ImdsSettings::from_context(ctx))
    }

    /// A client for an explicit endpoint (`http://127.0.0.1:1338`); the other settings
    /// still come from the environment.
    pub fn with_endpoint(ctx: &Context, endpoint: &str) -> Result<Self, ImdsError> {
        Self::from_settings(&ImdsSettings::from_context(ctx).with_endpoint(endpoint))
    }

    /// A client from resolved settings; fails on an invalid endpoint, mode, timeout or
    /// attempt count, naming where the value came from.
    pub fn from_settings(settings: &ImdsSettings) -> Result<Self, ImdsError> {
        let endpoint = settings.resolve_endpoint()?;
        let timeout = settings.resolve_timeout()?;
        let num_attempts = settings.resolve_num_attempts()?;
        let http = Http::new(
            settings,
            &endpoint,
            timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                disabled: settings.disabled,
                allows_v1: settings.allows_v1(),
                v1_disabled_by_setting: settings.fallback_to_v1 && !settings.allows_v1(),
                attempt_timeout: timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT),
                token_timeout: timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                num_attempts,
                deadline: settings.deadline,
                token_ttl: settings.token_ttl,
                retry_base_nanos: AtomicU64::new(duration_nanos(settings.retry_base)),
                retry_doubles: settings.retry_doubles,
                retry_transport_errors: settings.retry_transport_errors,
                retry_any_status: settings.retry_any_status,
                v1_fallback: settings.v1_fallback,
                token: Mutex::new(TokenState::Empty),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// The endpoint base URL in use, without a trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The firewall mark its sockets carry (`SO_MARK`), if any: systemd's locked-down
    /// IMDS route lets only marked sockets through.
    pub fn fwmark(&self) -> Option<u32> {
        match &self.inner.http {
            Http::Direct { mark, .. } => *mark,
            Http::Plain(_) => None,
        }
    }

    /// How many HTTP requests (token PUTs and GETs, retries included) this client and
    /// its clones have sent.
    pub fn requests_made(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Set the first retry delay for this client and its clones (zero in tests).
    pub fn set_retry_base(&self, delay: Duration) {
        self.inner
            .retry_base_nanos
            .store(duration_nanos(delay), Ordering::Relaxed);
    }

    /// GET a path (`/latest/meta-data/instance-id`); `Ok(None)` on 404.
    pub async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, ImdsError> {
        if self.inner.disabled {
            return Err(ImdsError::Disabled { var: ENV_DISABLED });
        }
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let deadline = Instant::now() + self.inner.deadline;
        let mut refreshed = false;
        loop {
            let token = self.token(&path, deadline).await?;
            let url = format!("{}{path}", self.inner.endpoint);
            let answer = self
                .send(
                    &Req {
                        method: http::Method::GET,
                        url: &url,
                        header: token.as_ref().map(|t| (TOKEN_HEADER, t.expose().clone())),
                    },
                    deadline,
                    Policy {
                        attempt_timeout: self.inner.attempt_timeout,
                        retry_timeouts: true,
                        retry_any_status: self.inner.retry_any_status,
                    },
                )
                .await
                .map_err(|(failure, attempts)| {
                    self.failure_error(failure, &path, &url, attempts)
                })?;
            match answer.status {
                200..=299 => return Ok(Some(answer.body.to_vec())),
                404 => return Ok(None),
                401 if !refreshed => {
                    tracing::debug!(
                        path,
                        "IMDS answered 401; dropping the session token and retrying once"
                    );
                    refreshed = true;
                    self.drop_token(token.as_ref()).await;
                }
                status => {
                    return Err(ImdsError::Status {
                        path,
                        status,
                        hint: status_hint(status, token.is_some()),
                    })
                }
            }
        }
    }

    /// GET a path as text (invalid UTF-8 replaced); `Ok(None)` on 404.
    pub async fn get_text(&self, path: &str) -> Result<Option<String>, ImdsError> {
        Ok(self
            .get(path)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// GET a listing (`/latest/meta-data/`): one entry per line, names kept as sent
    /// (directories end in `/`); `Ok(None)` on 404.
    pub async fn list(&self, path: &str) -> Result<Option<Vec<String>>, ImdsError> {
        Ok(self.get_text(path).await?.map(|text| {
            text.split('\n')
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect()
        }))
    }

    /// The raw user-data bytes, `Ok(None)` when the instance has none.
    pub async fn user_data(&self) -> Result<Option<Vec<u8>>, ImdsError> {
        self.get("/latest/user-data").await
    }

    /// The token to send, fetching one if none is cached or the cached one is about to
    /// expire; `None` means read without a token (IMDSv1). Callers that arrive while a
    /// fetch is under way wait for it and share its result.
    async fn token(
        &self,
        path: &str,
        deadline: Instant,
    ) -> Result<Option<Secret<String>>, ImdsError> {
        let mut state = self.inner.token.lock().await;
        match &*state {
            TokenState::Token { value, expires }
                if Instant::now() + TOKEN_REFRESH_BUFFER < *expires =>
            {
                return Ok(Some(value.clone()));
            }
            TokenState::V1 => return Ok(None),
            _ => {}
        }
        *state = TokenState::Empty;
        let url = format!("{}{TOKEN_PATH}", self.inner.endpoint);
        let ttl = self.inner.token_ttl.as_secs().max(1);
        let issued = Instant::now();
        let result = self
            .send(
                &Req {
                    method: http::Method::PUT,
                    url: &url,
                    header: Some((TTL_HEADER, ttl.to_string())),
                },
                deadline,
                Policy {
                    attempt_timeout: self.inner.token_timeout,
                    // With IMDSv1 allowed, a stalled token API means "read without a
                    // token" at once, as botocore does, rather than after every retry.
                    retry_timeouts: !self.inner.allows_v1,
                    retry_any_status: false,
                },
            )
            .await;
        let allows_v1 = self.inner.allows_v1;
        match result {
            Ok(answer) if answer.status == 200 => {
                let granted = answer
                    .headers
                    .get(TTL_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(ttl);
                let value = Secret::new(String::from_utf8_lossy(&answer.body).trim().to_string());
                *state = TokenState::Token {
                    value: value.clone(),
                    expires: issued + Duration::from_secs(granted),
                };
                Ok(Some(value))
            }
            Ok(answer) if allows_v1 && self.falls_back_on_status(answer.status) => {
                tracing::debug!(status = answer.status, "no IMDSv2 token; using IMDSv1");
                if matches!(answer.status, 403..=405) {
                    *state = TokenState::V1;
                }
                Ok(None)
            }
            Ok(answer) => {
                let status = answer.status;
                if self.falls_back_on_status(status) && self.v1_forbidden_by_setting() {
                    return Err(ImdsError::V1Disabled {
                        path: path.to_string(),
                        reason: format!("token request answered HTTP {status}"),
                    });
                }
                Err(ImdsError::Token {
                    url,
                    status,
                    hint: token_hint(status),
                })
            }
            // A stalled token API with a responsive metadata API is how a hop limit of 1
            // looks from a container; botocore reads without a token then.
            Err((Failure::Transport(_, kind), _))
                if allows_v1 && self.falls_back_on_transport(kind) =>
            {
                tracing::debug!(
                    kind,
                    "the IMDSv2 token request failed; trying IMDSv1 for this read"
                );
                Ok(None)
            }
            Err((Failure::Server(status), _)) if allows_v1 && self.falls_back_on_status(status) => {
                tracing::debug!(status, "no IMDSv2 token; using IMDSv1 for this read");
                Ok(None)
            }
            Err((failure, attempts)) => {
                if self.v1_forbidden_by_setting() {
                    let reason = match &failure {
                        Failure::Transport(_, kind) => Some(format!("token request {kind}")),
                        Failure::Server(status) if self.falls_back_on_status(*status) => {
                            Some(format!("token request answered HTTP {status}"))
                        }
                        _ => None,
                    };
                    if let Some(reason) = reason {
                        return Err(ImdsError::V1Disabled {
                            path: path.to_string(),
                            reason,
                        });
                    }
                }
                Err(self.failure_error(failure, TOKEN_PATH, &url, attempts))
            }
        }
    }

    /// Whether a token answer with this status leads to IMDSv1, by the fallback rule.
    fn falls_back_on_status(&self, status: u16) -> bool {
        match self.inner.v1_fallback {
            V1Fallback::OnRefusal => matches!(status, 403..=405),
            V1Fallback::OnAnyFailure => status != 200,
            V1Fallback::UnlessBadRequest => status != 200 && status != 400,
        }
    }

    /// Whether a token request that failed this way (`timed out`, `connection failed`,
    /// `request failed`) leads to IMDSv1, by the fallback rule.
    fn falls_back_on_transport(&self, kind: &str) -> bool {
        match self.inner.v1_fallback {
            V1Fallback::OnRefusal => kind == "timed out",
            V1Fallback::OnAnyFailure => kind != "connection failed",
            V1Fallback::UnlessBadRequest => true,
        }
    }

    /// Whether the IMDSv1 fallback would apply but `…_V1_DISABLED` forbids it.
    fn v1_forbidden_by_setting(&self) -> bool {
        self.inner.v1_disabled_by_setting
    }

    /// Drop the cached token after a 401, unless another caller already replaced it.
    async fn drop_token(&self, used: Option<&Secret<String>>) {
        let mut state = self.inner.token.lock().await;
        let same = match (&*state, used) {
            (TokenState::Token { value, .. }, Some(used)) => value == used,
            (TokenState::V1, None) => true,
            _ => false,
        };
        if same {
            *state = TokenState::Empty;
        }
    }

    /// Send a request built by `build`, retrying 5xx, timeouts and connection failures
    /// with backoff until the attempts run out or the deadline passes. Any other answer
    /// (2xx, 4xx) is returned as is. On failure, also the number of attempts made.
    async fn send(
        &self,
        req: &Req<'_>,
        deadline: Instant,
        policy: Policy,
    ) -> Result<Answer, (Failure, u32)> {
        let mut attempt = 0;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err((Failure::Deadline, attempt));
            }
            attempt += 1;
            let timeout = policy.attempt_timeout.min(deadline - now);
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let failure = match self.inner.http.send(req, timeout).await {
                Ok(answer) if answer.status >= 500 => Failure::Server(answer.status),
                Ok(answer)
                    if policy.retry_any_status
                        && attempt < self.inner.num_attempts
                        && (answer.status != 200 || answer.body.is_empty()) =>
                {
                    Failure::Server(answer.status)
                }
                Ok(answer) => return Ok(answer),
                Err(err) if err.kind == TOO_LARGE => return Err((Failure::TooLarge, attempt)),
                Err(_) if Instant::now() >= deadline => return Err((Failure::Deadline, attempt)),
                Err(err) => Failure::Transport(err.source, err.kind),
            };
            let timed_out = matches!(failure, Failure::Transport(_, "timed out"));
            let transport = matches!(failure, Failure::Transport(..));
            if attempt >= self.inner.num_attempts
                || (timed_out && !policy.retry_timeouts)
                || (transport && !self.inner.retry_transport_errors)
            {
                return Err((failure, attempt));
            }
            let delay = self.backoff(attempt);
            if Instant::now() + delay >= deadline {
                return Err((Failure::Deadline, attempt));
            }
            tracing::debug!(attempt, ?delay, "IMDS request failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Exponential backoff with jitter: base × 2^(attempt-1), capped, then 50–100 %.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = Duration::from_nanos(self.inner.retry_base_nanos.load(Ordering::Relaxed));
        if base.is_zero() || !self.inner.retry_doubles {
            return base;
        }
        let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(MAX_RETRY_DELAY);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    fn failure_error(&self, failure: Failure, path: &str, url: &str, attempts: u32) -> ImdsError {
        match failure {
            Failure::Server(status) => ImdsError::ServerError {
                path: path.to_string(),
                status,
                attempts,
            },
            Failure::Transport(source, kind) => ImdsError::Unreachable {
                url: url.to_string(),
                attempts,
                kind,
                source,
            },
            Failure::TooLarge => ImdsError::TooLarge {
                path: path.to_string(),
                max: MAX_ANSWER,
            },
            Failure::Deadline => ImdsError::DeadlineExceeded {
                path: path.to_string(),
                deadline: self.inner.deadline,
                attempts,
            },
        }
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What to do about a status the token API answered.
fn token_hint(status: u16) -> &'static str {
    match status {
        400 => "the service refused the token TTL header; this is a bug in the client",
        403 => "IMDS is turned off on this instance (HttpEndpoint=disabled) or the request was forwarded; enable it with modify-instance-metadata-options",
        404 | 405 => "this endpoint does not issue IMDSv2 tokens; allow the IMDSv1 fallback or use a service that supports IMDSv2",
        _ => "unexpected status from the token API",
    }
}

/// What to do about a status a metadata read answered.
fn status_hint(status: u16, had_token: bool) -> &'static str {
    match (status, had_token) {
        (401, true) => "the session token was refused even after a fresh one was fetched; check the instance's clock and the token API",
        (401, false) => "the instance requires IMDSv2 tokens (HttpTokens=required) but none could be had",
        (403, _) => "access is forbidden: IMDS is turned off on this instance (HttpEndpoint=disabled)",
        _ => "unexpected status; the path may not be readable this way",
    }
}

#[cfg(test)]
mod tests;
