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
    ImdsSettings, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, ENV_DISABLED, MAX_RETRY_DELAY,
    TOKEN_PATH, TOKEN_REFRESH_BUFFER,
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
    http: reqwest::Client,
    endpoint: String,
    disabled: bool,
    allows_v1: bool,
    /// The behaviour would fall back to IMDSv1 but `…_V1_DISABLED` forbids it.
    v1_disabled_by_setting: bool,
    attempt_timeout: Duration,
    num_attempts: u32,
    deadline: Duration,
    token_ttl: Duration,
    retry_base_nanos: AtomicU64,
    token: Mutex<TokenState>,
    requests: AtomicU64,
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

/// Why a request gave up after its retries.
enum Failure {
    /// The last attempt got this 5xx.
    Server(u16),
    /// The last attempt could not connect or timed out.
    Transport(reqwest::Error, &'static str),
    /// The overall deadline passed.
    Deadline,
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
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
            .no_proxy()
            .build()
            .map_err(ImdsError::Client)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                disabled: settings.disabled,
                allows_v1: settings.allows_v1(),
                v1_disabled_by_setting: settings.fallback_to_v1 && !settings.allows_v1(),
                attempt_timeout: timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT),
                num_attempts,
                deadline: settings.deadline,
                token_ttl: settings.token_ttl,
                retry_base_nanos: AtomicU64::new(duration_nanos(settings.retry_base)),
                token: Mutex::new(TokenState::Empty),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// The endpoint base URL in use, without a trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
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
                    || {
                        let req = self.inner.http.get(&url);
                        match &token {
                            Some(t) => req.header(TOKEN_HEADER, t.expose().as_str()),
                            None => req,
                        }
                    },
                    deadline,
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
                || {
                    self.inner
                        .http
                        .put(&url)
                        .header(TTL_HEADER, ttl.to_string())
                },
                deadline,
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
            Ok(answer) if matches!(answer.status, 403..=405) && allows_v1 => {
                tracing::debug!(status = answer.status, "no IMDSv2 token; using IMDSv1");
                *state = TokenState::V1;
                Ok(None)
            }
            Ok(answer) => {
                let status = answer.status;
                if matches!(status, 403..=405) && self.v1_forbidden_by_setting() {
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
            Err((Failure::Transport(_, "timed out"), _)) if allows_v1 => {
                tracing::debug!("the IMDSv2 token request timed out; trying IMDSv1 for this read");
                Ok(None)
            }
            Err((failure, attempts)) => {
                if self.v1_forbidden_by_setting() {
                    if let Failure::Transport(_, kind) = &failure {
                        return Err(ImdsError::V1Disabled {
                            path: path.to_string(),
                            reason: format!("token request {kind}"),
                        });
                    }
                }
                Err(self.failure_error(failure, TOKEN_PATH, &url, attempts))
            }
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
        build: impl Fn() -> reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<Answer, (Failure, u32)> {
        let mut attempt = 0;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err((Failure::Deadline, attempt));
            }
            attempt += 1;
            let timeout = self.inner.attempt_timeout.min(deadline - now);
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let failure = match self.attempt(build().timeout(timeout)).await {
                Ok(answer) if answer.status >= 500 => Failure::Server(answer.status),
                Ok(answer) => return Ok(answer),
                Err(_) if Instant::now() >= deadline => return Err((Failure::Deadline, attempt)),
                Err(err) => {
                    let kind = if err.is_timeout() {
                        "timed out"
                    } else if err.is_connect() {
                        "connection failed"
                    } else {
                        "request failed"
                    };
                    Failure::Transport(err, kind)
                }
            };
            if attempt >= self.inner.num_attempts {
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

    async fn attempt(&self, req: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Exponential backoff with jitter: base × 2^(attempt-1), capped, then 50–100 %.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = Duration::from_nanos(self.inner.retry_base_nanos.load(Ordering::Relaxed));
        if base.is_zero() {
            return Duration::ZERO;
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
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::imds::test_server::{Reply, Seen, TestServer};

    const TOKEN: &str = "AQAEAFTNrA4eEGx0AQgJ1arIq_Cc-t4tWt3fB0Hd8RKhXlKc5ccvhg==";

    fn settings(server: &TestServer) -> ImdsSettings {
        let mut s = ImdsSettings::default().with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        s
    }

    fn client(server: &TestServer) -> ImdsClient {
        ImdsClient::from_settings(&settings(server)).unwrap()
    }

    fn token_reply(token: &str, ttl: Option<&str>) -> Reply {
        let headers = ttl
            .map(|t| vec![(TTL_HEADER, t.to_string())])
            .unwrap_or_default();
        Reply::With(200, headers, token.as_bytes().to_vec())
    }

    /// A well-behaved IMDSv2 service: one token, reads echo their path.
    fn imds_v2(req: &Seen, _: usize) -> Reply {
        match (req.method.as_str(), req.header(TOKEN_HEADER)) {
            ("PUT", _) => token_reply(TOKEN, Some("21600")),
            ("GET", Some(TOKEN)) => Reply::ok(req.path.clone()),
            _ => Reply::status(401),
        }
    }

    fn count(server: &TestServer, method: &str) -> usize {
        server.seen().iter().filter(|s| s.method == method).count()
    }

    #[tokio::test]
    async fn token_is_cached_and_shared_by_clones() {
        let server = TestServer::start(imds_v2).await;
        let client = client(&server);
        let other = client.clone();
        assert_eq!(
            client
                .get("/latest/meta-data/instance-id")
                .await
                .unwrap()
                .unwrap(),
            b"/latest/meta-data/instance-id"
        );
        assert!(other
            .get("latest/meta-data/ami-id")
            .await
            .unwrap()
            .is_some());
        assert!(client.get("/latest/meta-data/mac").await.unwrap().is_some());
        assert_eq!(
            server.lines(),
            [
                "PUT /latest/api/token",
                "GET /latest/meta-data/instance-id",
                "GET /latest/meta-data/ami-id",
                "GET /latest/meta-data/mac"
            ]
        );
        assert_eq!(server.seen()[0].header(TTL_HEADER), Some("21600"));
        assert_eq!(other.requests_made(), 4);
    }

    #[tokio::test]
    async fn concurrent_callers_wait_on_one_token_fetch() {
        let server = TestServer::start(imds_v2).await;
        let client = client(&server);
        let reads = (0..16).map(|i| {
            let c = client.clone();
            async move { c.get(&format!("/latest/meta-data/{i}")).await }
        });
        for result in futures_join_all(reads).await {
            assert!(result.unwrap().is_some());
        }
        assert_eq!(count(&server, "PUT"), 1);
        assert_eq!(count(&server, "GET"), 16);
    }

    async fn futures_join_all<F: std::future::Future + Send + 'static>(
        futs: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futs.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn token_near_expiry_is_refreshed() {
        // A granted lifetime inside the refresh buffer is stale at once.
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("60")),
            _ => Reply::ok("x"),
        })
        .await;
        let client = client(&server);
        client.get("/a").await.unwrap();
        client.get("/b").await.unwrap();
        assert_eq!(
            server.lines(),
            [
                "PUT /latest/api/token",
                "GET /a",
                "PUT /latest/api/token",
                "GET /b"
            ]
        );
    }

    #[tokio::test]
    async fn missing_ttl_header_falls_back_to_the_requested_ttl() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, None),
            _ => Reply::ok("x"),
        })
        .await;
        let client = client(&server);
        client.get("/a").await.unwrap();
        client.get("/b").await.unwrap();
        assert_eq!(count(&server, "PUT"), 1);
    }

    #[tokio::test]
    async fn a_401_drops_the_token_and_retries_once() {
        let puts = Arc::new(AtomicUsize::new(0));
        let p = puts.clone();
        let server = TestServer::start(move |req, _| match req.method.as_str() {
            "PUT" => {
                let n = p.fetch_add(1, Ordering::SeqCst);
                token_reply(&format!("token-{n}"), Some("21600"))
            }
            // The first token is refused (as after a service restart).
            _ if req.header(TOKEN_HEADER) == Some("token-0") => Reply::status(401),
            _ => Reply::ok("fine"),
        })
        .await;
        let client = client(&server);
        assert_eq!(client.get("/p").await.unwrap().unwrap(), b"fine");
        assert_eq!(
            server.lines(),
            [
                "PUT /latest/api/token",
                "GET /p",
                "PUT /latest/api/token",
                "GET /p"
            ]
        );
        assert_eq!(server.seen()[3].header(TOKEN_HEADER), Some("token-1"));
    }

    #[tokio::test]
    async fn a_second_401_is_an_error_without_more_retries() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("21600")),
            _ => Reply::status(401),
        })
        .await;
        let err = client(&server)
            .get("/latest/meta-data/x")
            .await
            .unwrap_err();
        assert!(
            matches!(err, ImdsError::Status { status: 401, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("/latest/meta-data/x"), "{err}");
        assert_eq!(count(&server, "GET"), 2);
    }

    #[tokio::test]
    async fn server_errors_are_retried_with_backoff() {
        let server = TestServer::start(|req, n| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("21600")),
            _ if n <= 2 => Reply::status(503),
            _ => Reply::ok("up"),
        })
        .await;
        let client = client(&server);
        assert_eq!(client.get("/x").await.unwrap().unwrap(), b"up");
        assert_eq!(count(&server, "GET"), 3);
    }

    #[tokio::test]
    async fn server_errors_give_up_after_the_configured_attempts() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("21600")),
            _ => Reply::status(500),
        })
        .await;
        let ctx = Context::fixed([("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3")], "/");
        let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        let err = ImdsClient::from_settings(&s)
            .unwrap()
            .get("/x")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ImdsError::ServerError {
                    status: 500,
                    attempts: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(count(&server, "GET"), 3);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = ImdsSettings {
            retry_base: Duration::from_millis(100),
            ..ImdsSettings::default()
        };
        let c = ImdsClient::from_settings(&s).unwrap();
        let d1 = c.backoff(1);
        let d3 = c.backoff(3);
        assert!(
            d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
            "{d1:?}"
        );
        assert!(
            d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
            "{d3:?}"
        );
        assert!(c.backoff(30) <= MAX_RETRY_DELAY);
        c.set_retry_base(Duration::ZERO);
        assert_eq!(c.backoff(5), Duration::ZERO);
    }

    #[tokio::test]
    async fn no_retry_on_403_404_or_400() {
        let server = TestServer::start(|req, _| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", _) => token_reply(TOKEN, Some("21600")),
            (_, "/forbidden") => Reply::status(403),
            (_, "/bad") => Reply::status(400),
            _ => Reply::status(404),
        })
        .await;
        let client = client(&server);
        assert_eq!(client.get("/missing").await.unwrap(), None);
        let err = client.get("/forbidden").await.unwrap_err();
        assert_eq!(err.status(), Some(403));
        assert_eq!(client.get("/bad").await.unwrap_err().status(), Some(400));
        assert_eq!(
            server.lines(),
            [
                "PUT /latest/api/token",
                "GET /missing",
                "GET /forbidden",
                "GET /bad"
            ]
        );
    }

    #[tokio::test]
    async fn a_stalled_service_hits_the_deadline() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("21600")),
            _ => Reply::Hang,
        })
        .await;
        let ctx = Context::fixed(
            [
                ("AWS_METADATA_SERVICE_TIMEOUT", "0.05"),
                ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1000"),
            ],
            "/",
        );
        let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        s.deadline = Duration::from_millis(300);
        let err = ImdsClient::from_settings(&s)
            .unwrap()
            .get("/slow")
            .await
            .unwrap_err();
        assert!(matches!(err, ImdsError::DeadlineExceeded { .. }), "{err}");
        assert!(err.to_string().contains("/slow"), "{err}");
        // Timeouts were retried before the deadline cut them off.
        assert!(count(&server, "GET") >= 2);
    }

    #[tokio::test]
    async fn timeouts_are_retried_then_reported() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("21600")),
            _ => Reply::Hang,
        })
        .await;
        let ctx = Context::fixed(
            [
                ("AWS_METADATA_SERVICE_TIMEOUT", "0.05"),
                ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "2"),
            ],
            "/",
        );
        let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        let err = ImdsClient::from_settings(&s)
            .unwrap()
            .get("/slow")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ImdsError::Unreachable {
                    attempts: 2,
                    kind: "timed out",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(count(&server, "GET"), 2);
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut s = ImdsSettings::default().with_endpoint(format!("http://{addr}"));
        s.retry_base = Duration::ZERO;
        let client = ImdsClient::from_settings(&s).unwrap();
        let err = client.get("/x").await.unwrap_err();
        assert!(
            matches!(err, ImdsError::Unreachable { attempts: 4, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert_eq!(client.requests_made(), 4);
    }

    /// A service without the token API (404 on PUT) that serves tokenless reads.
    fn imds_v1_only(req: &Seen, _: usize) -> Reply {
        match req.method.as_str() {
            "PUT" => Reply::status(404),
            _ if req.header(TOKEN_HEADER).is_none() => Reply::ok("v1"),
            _ => Reply::status(401),
        }
    }

    #[tokio::test]
    async fn v1_fallback_where_allowed() {
        let server = TestServer::start(imds_v1_only).await;
        let client = client(&server);
        assert_eq!(client.get("/a").await.unwrap().unwrap(), b"v1");
        assert_eq!(client.get("/b").await.unwrap().unwrap(), b"v1");
        // The missing token API is remembered: one PUT.
        assert_eq!(
            server.lines(),
            ["PUT /latest/api/token", "GET /a", "GET /b"]
        );
    }

    #[tokio::test]
    async fn v1_fallback_forbidden_by_behaviour() {
        let server = TestServer::start(imds_v1_only).await;
        let s = settings(&server).v2_only();
        let err = ImdsClient::from_settings(&s)
            .unwrap()
            .get("/a")
            .await
            .unwrap_err();
        assert!(matches!(err, ImdsError::Token { status: 404, .. }), "{err}");
        assert_eq!(server.lines(), ["PUT /latest/api/token"]);
    }

    #[tokio::test]
    async fn v1_fallback_forbidden_by_setting() {
        let server = TestServer::start(imds_v1_only).await;
        let ctx = Context::fixed([("AWS_EC2_METADATA_V1_DISABLED", "true")], "/");
        let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        let err = ImdsClient::from_settings(&s)
            .unwrap()
            .get("/a")
            .await
            .unwrap_err();
        assert!(matches!(err, ImdsError::V1Disabled { .. }), "{err}");
        assert!(
            err.to_string().contains("AWS_EC2_METADATA_V1_DISABLED"),
            "{err}"
        );
        assert_eq!(server.lines(), ["PUT /latest/api/token"]);
    }

    #[tokio::test]
    async fn token_timeout_falls_back_to_v1_when_allowed() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => Reply::Hang,
            _ => Reply::ok("v1"),
        })
        .await;
        let ctx = Context::fixed(
            [
                ("AWS_METADATA_SERVICE_TIMEOUT", "0.05"),
                ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1"),
            ],
            "/",
        );
        let mut s = ImdsSettings::from_context(&ctx).with_endpoint(server.url());
        s.retry_base = Duration::ZERO;
        let client = ImdsClient::from_settings(&s.clone()).unwrap();
        assert_eq!(client.get("/a").await.unwrap().unwrap(), b"v1");
        assert_eq!(server.seen()[1].header(TOKEN_HEADER), None);
        let err = ImdsClient::from_settings(&s.v2_only())
            .unwrap()
            .get("/a")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ImdsError::Unreachable {
                    kind: "timed out",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn required_mode_needs_a_token() {
        // HttpTokens=required: tokenless reads get 401.
        let required = |req: &Seen, _: usize| match (req.method.as_str(), req.header(TOKEN_HEADER))
        {
            ("PUT", _) => token_reply(TOKEN, Some("21600")),
            ("GET", Some(TOKEN)) => Reply::ok("v2"),
            _ => Reply::status(401),
        };
        let server = TestServer::start(required).await;
        assert_eq!(client(&server).get("/a").await.unwrap().unwrap(), b"v2");
        assert!(server
            .seen()
            .iter()
            .all(|s| s.method == "PUT" || s.header(TOKEN_HEADER) == Some(TOKEN)));

        // A token API that answers 405 leaves only IMDSv1, which a required-mode
        // service refuses: the error says so after one fresh try.
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => Reply::status(405),
            _ => Reply::status(401),
        })
        .await;
        let err = client(&server).get("/a").await.unwrap_err();
        assert!(err.to_string().contains("requires IMDSv2"), "{err}");
        assert_eq!(count(&server, "GET"), 2);
    }

    #[tokio::test]
    async fn disabled_endpoint() {
        // HttpEndpoint=disabled: 403 on the token API is final for an IMDSv2-only client.
        let server = TestServer::start(|_, _| Reply::status(403)).await;
        let err = ImdsClient::from_settings(&settings(&server).v2_only())
            .unwrap()
            .get("/a")
            .await
            .unwrap_err();
        assert!(matches!(err, ImdsError::Token { status: 403, .. }), "{err}");
        assert!(err.to_string().contains("HttpEndpoint=disabled"), "{err}");
        assert_eq!(server.lines(), ["PUT /latest/api/token"]);

        // AWS_EC2_METADATA_DISABLED: no request at all.
        let ctx = Context::fixed([("AWS_EC2_METADATA_DISABLED", "true")], "/");
        let client = ImdsClient::with_endpoint(&ctx, &server.url()).unwrap();
        let err = client.user_data().await.unwrap_err();
        assert!(matches!(err, ImdsError::Disabled { .. }), "{err}");
        assert_eq!(client.requests_made(), 0);
        assert_eq!(server.lines().len(), 1);
    }

    #[tokio::test]
    async fn user_data_is_raw_bytes() {
        let raw: Vec<u8> = vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, b'\n', 0x00];
        let body = raw.clone();
        let server =
            TestServer::start(
                move |req, _| match (req.method.as_str(), req.path.as_str()) {
                    ("PUT", _) => token_reply(TOKEN, Some("21600")),
                    (_, "/latest/user-data") => Reply::ok(body.clone()),
                    _ => Reply::status(404),
                },
            )
            .await;
        assert_eq!(client(&server).user_data().await.unwrap(), Some(raw));
    }

    #[tokio::test]
    async fn listings_split_on_newlines() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("21600")),
            _ => Reply::ok("ami-id\nblock-device-mapping/\nplacement/"),
        })
        .await;
        assert_eq!(
            client(&server)
                .list("/latest/meta-data/")
                .await
                .unwrap()
                .unwrap(),
            ["ami-id", "block-device-mapping/", "placement/"]
        );
    }

    #[tokio::test]
    async fn tokens_never_reach_debug_or_errors() {
        let server = TestServer::start(|req, _| match req.method.as_str() {
            "PUT" => token_reply(TOKEN, Some("21600")),
            _ => Reply::status(401),
        })
        .await;
        let client = client(&server);
        let err = client.get("/a").await.unwrap_err();
        for text in [format!("{client:?}"), format!("{err:?}"), err.to_string()] {
            assert!(!text.contains(TOKEN), "{text}");
        }
    }
}
