//! The server's shared, runtime-mutable state: the current configuration (the instance
//! and its metadata options), the runtime facts (events, public IP), issued credentials,
//! the token key, the mock clock and request counters. Cheap to clone (one `Arc`). Every
//! mutation the control API offers is a method here, so embedders (the agent's `--local`,
//! tests) can drive the mock without HTTP.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::{
    check_fault, check_hop_limit, check_role_name, check_spot_action, check_tag_key,
    check_user_data, Config, ConfigError, Fault, MetadataOptions, MetadataOptionsPatch,
};
use crate::creds::{CredStore, Delivery, Profile};
use crate::identity::{IdentitySignatures, LazyIdentitySigner};
use crate::keys::{IssuedKey, KeyStore};
use crate::runtime::{random_hex, random_public_ip, Runtime};
use crate::token::{TokenKey, TokenRejection};
use crate::tree::{Tree, TreeOptions};

/// Request counters, readable through the control API: one shard per worker thread
/// (round-robin), each on its own cache line, so the workers never bump a shared line.
#[derive(Debug, Default)]
struct Counters {
    shards: [CounterShard; COUNTER_SHARDS],
}

const COUNTER_SHARDS: usize = 4;

/// One cache-line-aligned set of counters, indexed by [`Count`].
#[derive(Debug, Default)]
#[repr(align(128))]
struct CounterShard([AtomicU64; 7]);

impl Counters {
    fn shard(&self) -> &CounterShard {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % COUNTER_SHARDS;
        }
        &self.shards[SHARD.with(|s| *s)]
    }

    fn sum(&self, which: Count) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0[which as usize].load(Ordering::Relaxed))
            .sum()
    }
}

/// A snapshot of the request counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// Every request the server answered (control API excluded).
    pub total: u64,
    /// Metadata requests without a session token.
    pub imdsv1: u64,
    /// Metadata requests with a valid session token.
    pub imdsv2: u64,
    /// Tokens issued.
    pub tokens: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// 404 answers.
    pub not_found: u64,
    /// Requests hit by an injected fault.
    pub faults: u64,
}

/// A snapshot of the configuration facts one request needs ([`State::request_facts`]).
#[derive(Debug, Clone)]
pub struct RequestFacts {
    /// The metadata options.
    pub options: MetadataOptions,
    /// Whether responses carry `Connection: close`.
    pub connection_close: bool,
    /// The first fault whose path prefix matches the request path.
    pub fault: Option<Fault>,
    /// Whether throttling is set (then [`State::throttled`] decides).
    pub throttle: bool,
    /// Whether a per-interface limit is set (then [`State::interface_throttled`] decides).
    pub interface_throttle: bool,
}

/// Which counter a request bumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Total,
    ImdsV1,
    ImdsV2,
    Token,
    Unauthorized,
    NotFound,
    Fault,
}

struct Shared {
    config: Config,
    runtime: Runtime,
}

struct Inner {
    shared: RwLock<Shared>,
    creds: Mutex<CredStore>,
    tree: RwLock<Option<Arc<Tree>>>,
    token_key: TokenKey,
    clock_offset_ms: AtomicI64,
    counters: Counters,
    tree_options: RwLock<TreeOptions>,
    signer: LazyIdentitySigner,
    /// Token bucket for throttling: (tokens left, when last refilled).
    bucket: Mutex<(f64, std::time::Instant)>,
    /// One token bucket per interface (by MAC) for `interface_throttle`.
    interface_buckets: Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
    /// The last identity document signed and its signatures (signing is RSA: not per request).
    signatures: Mutex<Option<(String, IdentitySignatures)>>,
}

/// Shared mock state; clone freely.
#[derive(Clone)]
pub struct State(Arc<Inner>);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("instance_id", &self.instance_id())
            .finish_non_exhaustive()
    }
}

/// Take one token from a bucket (tokens, last refill) of rate `t`: `true` when there
/// was none (the request is over the rate).
fn take_token(bucket: &mut (f64, std::time::Instant), t: &crate::config::Throttle) -> bool {
    let now = std::time::Instant::now();
    let capacity = f64::from(t.burst.max(1));
    let refill = now.duration_since(bucket.1).as_secs_f64() * t.requests_per_sec;
    bucket.0 = (bucket.0.min(capacity) + refill).min(capacity);
    bucket.1 = now;
    if bucket.0 >= 1.0 {
        bucket.0 -= 1.0;
        false
    } else {
        true
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a state change was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("no maintenance event {event_id} is scheduled")]
    NoSuchEvent { event_id: String },
    #[error("instance is already {0}")]
    AlreadyInState(&'static str),
    #[error("{0}")]
    Refused(String),
}

impl State {
    /// State for a validated configuration. Reads `user_data_file` and loads (or creates)
    /// the token key in `state_dir`; no other I/O.
    pub fn new(mut config: Config) -> Result<Self, crate::MockError> {
        config.load_user_data_file()?;
        config.validate()?;
        let token_key = match &config.state_dir {
            Some(dir) => TokenKey::load_or_create(dir)?,
            None => TokenKey::random(),
        };
        Ok(Self::with_key(config, token_key))
    }

    fn with_key(config: Config, token_key: TokenKey) -> Self {
        let now = Utc::now();
        let runtime = Runtime::new(&config, now);
        let mut creds = CredStore::new(
            config.credentials.lifetime_secs,
            config.credentials.rotate_before_secs,
        );
        if let Some(role) = &config.role {
            creds.attach(Some(Profile::new(role, &config.account_id, now)));
        }
        let signer = LazyIdentitySigner::new(config.state_dir.clone());
        Self(Arc::new(Inner {
            signer,
            signatures: Mutex::new(None),
            bucket: Mutex::new((f64::MAX, std::time::Instant::now())),
            interface_buckets: Mutex::new(std::collections::HashMap::new()),
            shared: RwLock::new(Shared { config, runtime }),
            creds: Mutex::new(creds),
            tree: RwLock::new(None),
            token_key,
            clock_offset_ms: AtomicI64::new(0),
            counters: Counters::default(),
            tree_options: RwLock::new(TreeOptions {
                identity_signatures: true,
            }),
        }))
    }

    // ----- clock

    /// The mock's clock: wall time plus any offset the control API added.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.0.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Move the mock clock forward (tests of expiry and rotation, without sleeping).
    pub fn advance_clock(&self, seconds: i64) {
        self.0
            .clock_offset_ms
            .fetch_add(seconds.saturating_mul(1000), Ordering::Relaxed);
        self.invalidate();
    }

    // ----- reading

    /// A copy of the current configuration (with runtime changes applied).
    pub fn config(&self) -> Config {
        read(&self.0.shared).config.clone()
    }

    /// A copy of the runtime facts.
    pub fn runtime(&self) -> Runtime {
        read(&self.0.shared).runtime.clone()
    }

    /// The current instance id.
    pub fn instance_id(&self) -> String {
        read(&self.0.shared).config.instance_id.clone()
    }

    /// The current metadata options.
    pub fn options(&self) -> MetadataOptions {
        read(&self.0.shared).config.metadata_options()
    }

    /// Whether responses carry `Connection: close`.
    pub fn connection_close(&self) -> bool {
        read(&self.0.shared).config.connection_close
    }

    /// The first fault whose path prefix matches `path`.
    pub fn fault_for(&self, path: &str) -> Option<Fault> {
        let shared = read(&self.0.shared);
        if shared.config.faults.is_empty() {
            return None;
        }
        shared
            .config
            .faults
            .iter()
            .find(|f| path.starts_with(&f.path))
            .cloned()
    }

    /// What answering a request to `path` needs from the configuration, under one read of
    /// the lock (the per-request path calls this instead of four separate getters).
    pub fn request_facts(&self, path: &str) -> RequestFacts {
        let shared = read(&self.0.shared);
        let config = &shared.config;
        RequestFacts {
            options: config.metadata_options(),
            connection_close: config.connection_close,
            fault: config
                .faults
                .iter()
                .find(|f| path.starts_with(&f.path))
                .cloned(),
            throttle: config.throttle.is_some(),
            interface_throttle: config.interface_throttle.is_some(),
        }
    }

    /// Whether this request is over the throttle rate (and must be dropped).
    pub fn throttled(&self) -> bool {
        let Some(t) = read(&self.0.shared).config.throttle else {
            return false;
        };
        take_token(&mut lock(&self.0.bucket), &t)
    }

    /// Whether this request, from `peer`, is over its interface's rate (and must be
    /// dropped): the interface with that private address, else the primary.
    pub fn interface_throttled(&self, peer: Option<std::net::IpAddr>) -> bool {
        let (t, mac) = {
            let shared = read(&self.0.shared);
            let Some(t) = shared.config.interface_throttle else {
                return false;
            };
            let now = self.now();
            let peer = peer.map(|p| p.to_string());
            let config = &shared.config;
            let others = config.network_interfaces.iter().chain(
                shared
                    .runtime
                    .attached
                    .iter()
                    .filter(|a| a.visible_at <= now)
                    .map(|a| &a.config),
            );
            let mut owner = None;
            for i in others {
                if peer.as_ref().is_some_and(|p| i.private_ips.contains(p)) {
                    owner = Some(i.mac.clone());
                    break;
                }
            }
            (t, owner.unwrap_or_else(|| config.mac.clone()))
        };
        let mut buckets = lock(&self.0.interface_buckets);
        let bucket = buckets
            .entry(mac)
            .or_insert((f64::MAX, std::time::Instant::now()));
        take_token(bucket, &t)
    }

    /// Set or clear throttling.
    pub fn set_throttle(
        &self,
        throttle: Option<crate::config::Throttle>,
    ) -> Result<(), StateError> {
        if let Some(t) = &throttle {
            crate::config::check_throttle(t)?;
        }
        *lock(&self.0.bucket) = (f64::MAX, std::time::Instant::now());
        self.mutate(|s| {
            s.config.throttle = throttle;
            Ok(())
        })
    }

    /// Set or clear the per-interface limit.
    pub fn set_interface_throttle(
        &self,
        throttle: Option<crate::config::Throttle>,
    ) -> Result<(), StateError> {
        if let Some(t) = &throttle {
            crate::config::check_throttle(t)?;
        }
        lock(&self.0.interface_buckets).clear();
        self.mutate(|s| {
            s.config.interface_throttle = throttle;
            Ok(())
        })
    }

    /// The metadata tree as of now (cached until something changes).
    pub fn tree(&self) -> Arc<Tree> {
        let now = self.now();
        if let Some(tree) = read(&self.0.tree).as_ref() {
            if tree.valid_until.is_none_or(|t| now < t) {
                return Arc::clone(tree);
            }
        }
        let tree = {
            let shared = read(&self.0.shared);
            let creds = lock(&self.0.creds);
            Arc::new(Tree::build(
                &shared.config,
                &shared.runtime,
                creds.profile(),
                now,
                *read(&self.0.tree_options),
            ))
        };
        *write(&self.0.tree) = Some(Arc::clone(&tree));
        tree
    }

    fn invalidate(&self) {
        *write(&self.0.tree) = None;
    }

    /// Serve identity-document signatures (set once a signer is wired in).
    pub fn set_tree_options(&self, opts: TreeOptions) {
        *write(&self.0.tree_options) = opts;
        self.invalidate();
    }

    // ----- tokens

    /// Issue an IMDSv2 token valid for `ttl_secs`.
    pub fn issue_token(&self, ttl_secs: u64) -> String {
        let ttl_ms = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let expires = self.now().timestamp_millis().saturating_add(ttl_ms);
        self.count(Count::Token);
        self.0.token_key.issue(&self.instance_id(), expires)
    }

    /// Check a token; on success the seconds it has left (rounded up).
    pub fn verify_token(&self, token: &[u8]) -> Result<u64, TokenRejection> {
        let now = self.now().timestamp_millis();
        let expires = {
            let shared = read(&self.0.shared);
            self.0
                .token_key
                .verify(&shared.config.instance_id, token, now)?
        };
        let left_ms = u64::try_from(expires - now).unwrap_or(0);
        Ok(left_ms.div_ceil(1000))
    }

    // ----- credentials

    /// The instance-profile credentials served to `delivery` now; `None` without a profile.
    pub fn credentials(&self, delivery: Delivery) -> Option<IssuedKey> {
        let (instance_id, account_id) = self.ids();
        lock(&self.0.creds).current(delivery, &instance_id, &account_id, self.now())
    }

    /// Already-expired credentials for the current role (fault injection).
    pub fn expired_credentials(&self) -> Option<IssuedKey> {
        let (instance_id, account_id) = self.ids();
        lock(&self.0.creds).expired(&instance_id, &account_id, self.now())
    }

    /// The instance identity role's credentials.
    pub fn identity_credentials(&self) -> IssuedKey {
        let (instance_id, account_id) = self.ids();
        lock(&self.0.creds).identity(&instance_id, &account_id, self.now())
    }

    /// The container role's credentials (ECS task role / EKS pod role).
    pub fn container_credentials(&self) -> IssuedKey {
        let (role, account_id) = {
            let shared = read(&self.0.shared);
            (
                shared.config.container.role.clone(),
                shared.config.account_id.clone(),
            )
        };
        let session = format!("container-{}", crate::runtime::random_hex(8));
        lock(&self.0.creds).container(&role, &account_id, &session, self.now())
    }

    /// The signatures of the current identity document, signing on first use (the key is
    /// made or loaded lazily, so start-up never pays for RSA).
    pub fn identity_signatures(&self) -> Result<IdentitySignatures, String> {
        let document = {
            let shared = read(&self.0.shared);
            crate::tree::identity_document(&shared.config, &shared.runtime)
        };
        if let Some((doc, sigs)) = lock(&self.0.signatures).as_ref() {
            if *doc == document {
                return Ok(sigs.clone());
            }
        }
        let sigs = self
            .0
            .signer
            .get()?
            .sign(&document)
            .map_err(|e| e.to_string())?;
        *lock(&self.0.signatures) = Some((document, sigs.clone()));
        Ok(sigs)
    }

    /// The PEM certificate that verifies the identity signatures.
    pub fn identity_certificate(&self) -> Result<String, String> {
        Ok(self.0.signer.get()?.certificate_pem().to_string())
    }

    /// The error code credential requests answer with, if one is set.
    pub fn credential_error(&self) -> Option<String> {
        read(&self.0.shared).config.credentials.error_code.clone()
    }

    /// Make credential requests answer with an error document (`None` clears it).
    pub fn set_credential_error(&self, code: Option<String>) -> Result<(), StateError> {
        self.mutate(|s| {
            s.config.credentials.error_code = code;
            Ok(())
        })
    }

    /// Whether `iam/security-credentials-extended/` is served.
    pub fn extended_credentials(&self) -> bool {
        read(&self.0.shared).config.credentials.extended
    }

    /// Issue a new credential set on the next request.
    pub fn rotate_credentials(&self) {
        lock(&self.0.creds).rotate_now();
    }

    fn ids(&self) -> (String, String) {
        let shared = read(&self.0.shared);
        (
            shared.config.instance_id.clone(),
            shared.config.account_id.clone(),
        )
    }

    // ----- counters

    /// Bump a counter.
    pub fn count(&self, which: Count) {
        self.0.counters.shard().0[which as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The request counters so far.
    pub fn counts(&self) -> RequestCounts {
        let c = &self.0.counters;
        RequestCounts {
            total: c.sum(Count::Total),
            imdsv1: c.sum(Count::ImdsV1),
            imdsv2: c.sum(Count::ImdsV2),
            tokens: c.sum(Count::Token),
            unauthorized: c.sum(Count::Unauthorized),
            not_found: c.sum(Count::NotFound),
            faults: c.sum(Count::Fault),
        }
    }

    // ----- mutations

    fn mutate<R>(
        &self,
        f: impl FnOnce(&mut Shared) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        let out = f(&mut write(&self.0.shared))?;
        self.invalidate();
        Ok(out)
    }

    /// Replace the user data (`None` removes it; over 16 KB is refused).
    pub fn set_user_data(&self, data: Option<Vec<u8>>) -> Result<(), StateError> {
        check_user_data(data.as_deref())?;
        self.mutate(|s| {
            s.config.user_data = data;
            Ok(())
        })
    }

    /// Replace the instance tags.
    pub fn set_tags(&self, tags: BTreeMap<String, String>) -> Result<(), StateError> {
        for key in tags.keys() {
            check_tag_key(key)?;
        }
        self.mutate(|s| {
            s.config.tags = tags;
            Ok(())
        })
    }

    /// `AttachNetworkInterface`: the interface appears in the metadata after its
    /// propagation delay. Answers when it becomes visible.
    pub fn attach_interface(
        &self,
        mut iface: crate::config::InterfaceConfig,
    ) -> Result<DateTime<Utc>, StateError> {
        let now = self.now();
        self.mutate(|s| {
            let mut all = s.config.network_interfaces.clone();
            all.extend(s.runtime.attached.iter().map(|a| a.config.clone()));
            all.push(iface.clone());
            s.config.check_interfaces(&all)?;
            let delay = iface
                .delay_secs
                .take()
                .unwrap_or(s.config.eni_propagation_delay_secs);
            let visible_at =
                now + chrono::Duration::seconds(i64::try_from(delay).unwrap_or(i64::MAX / 1000));
            s.runtime.attached.push(crate::runtime::Attached {
                config: iface,
                visible_at,
            });
            Ok(visible_at)
        })
    }

    /// `DetachNetworkInterface` by MAC or interface id: gone from the metadata at once.
    /// The primary interface cannot be detached.
    pub fn detach_interface(&self, id: &str) -> Result<(), StateError> {
        self.mutate(|s| {
            if s.config.mac == id || s.config.interface_id == id {
                return Err(StateError::Refused(
                    "the primary network interface (device 0) cannot be detached".into(),
                ));
            }
            let before = s.runtime.attached.len() + s.config.network_interfaces.len();
            s.runtime
                .attached
                .retain(|a| a.config.mac != id && a.config.id() != id);
            s.config
                .network_interfaces
                .retain(|i| i.mac != id && i.id() != id);
            if s.runtime.attached.len() + s.config.network_interfaces.len() == before {
                return Err(StateError::Refused(format!(
                    "no network interface {id} is attached"
                )));
            }
            Ok(())
        })
    }

    /// `ModifyInstanceMetadataOptions`.
    pub fn modify_options(
        &self,
        patch: MetadataOptionsPatch,
    ) -> Result<MetadataOptions, StateError> {
        if let Some(limit) = patch.http_put_response_hop_limit {
            check_hop_limit(limit)?;
        }
        self.mutate(|s| {
            let c = &mut s.config;
            if let Some(v) = patch.http_tokens {
                c.http_tokens = v;
            }
            if let Some(v) = patch.http_put_response_hop_limit {
                c.http_put_response_hop_limit = v;
            }
            if let Some(v) = patch.http_endpoint {
                c.http_endpoint = v;
            }
            if let Some(v) = patch.http_protocol_ipv6 {
                c.http_protocol_ipv6 = v;
            }
            if let Some(v) = patch.instance_metadata_tags {
                c.instance_metadata_tags = v;
            }
            Ok(c.metadata_options())
        })
    }

    /// Attach or replace (`Some`) or detach (`None`) the instance profile.
    pub fn set_role(&self, role: Option<String>) -> Result<(), StateError> {
        if let Some(r) = &role {
            check_role_name(r)?;
        }
        let now = self.now();
        self.mutate(|s| {
            let profile = role
                .as_deref()
                .map(|r| Profile::new(r, &s.config.account_id, now));
            lock(&self.0.creds).attach(profile);
            s.config.role = role;
            Ok(())
        })
    }

    /// Set the faults injected per path.
    pub fn set_faults(&self, faults: Vec<Fault>) -> Result<(), StateError> {
        for f in &faults {
            check_fault(f)?;
        }
        self.mutate(|s| {
            s.config.faults = faults;
            Ok(())
        })
    }

    /// Schedule a spot interruption notice `delay_secs` from now.
    pub fn schedule_spot(&self, action: &str, delay_secs: u64) -> Result<(), StateError> {
        check_spot_action(action)?;
        let at = self.now() + Duration::seconds(clamp(delay_secs));
        self.mutate(|s| {
            s.runtime.schedule_spot(action, at);
            Ok(())
        })
    }

    /// Schedule a rebalance recommendation `delay_secs` from now.
    pub fn schedule_rebalance(&self, delay_secs: u64) {
        let at = self.now() + Duration::seconds(clamp(delay_secs));
        let _ = self.mutate(|s| {
            s.runtime.rebalance_at = Some(crate::creds::whole_second(at));
            Ok(())
        });
    }

    /// Schedule a maintenance event; returns its `EventId`.
    pub fn schedule_event(
        &self,
        code: &str,
        description: &str,
        not_before_secs: u64,
        window_secs: u64,
    ) -> String {
        let at = self.now() + Duration::seconds(clamp(not_before_secs));
        self.mutate(|s| {
            Ok(s.runtime.schedule_event(
                code,
                description,
                at,
                Duration::seconds(clamp(window_secs)),
            ))
        })
        .unwrap_or_default()
    }

    /// Cancel a scheduled maintenance event.
    pub fn cancel_event(&self, event_id: &str) -> Result<(), StateError> {
        self.mutate(|s| {
            if s.runtime.cancel_event(event_id) {
                Ok(())
            } else {
                Err(StateError::NoSuchEvent {
                    event_id: event_id.to_string(),
                })
            }
        })
    }

    /// Stop the instance (its public IP is released unless it is an Elastic IP).
    pub fn stop(&self) -> Result<(), StateError> {
        self.mutate(|s| {
            if s.runtime.stopped {
                return Err(StateError::AlreadyInState("stopped"));
            }
            s.runtime.stopped = true;
            s.runtime.spot = None;
            Ok(())
        })
    }

    /// Start a stopped instance: new launch time, and a new public IP unless an Elastic IP
    /// is associated.
    pub fn start(&self) -> Result<(), StateError> {
        let now = self.now();
        self.mutate(|s| {
            if !s.runtime.stopped {
                return Err(StateError::AlreadyInState("running"));
            }
            s.runtime.stopped = false;
            s.runtime.launch_time = crate::creds::whole_second(now);
            s.runtime.public_ip = match (&s.config.elastic_ip, &s.config.public_ip) {
                (Some(eip), _) => Some(eip.clone()),
                (None, Some(_)) => {
                    let ip = random_public_ip();
                    s.config.public_ip = Some(ip.clone());
                    Some(ip)
                }
                (None, None) => None,
            };
            Ok(())
        })
    }

    /// Launch a new instance from the same image: new instance id, reservation, launch
    /// time, private and public IP and MAC; same AMI, type, role, user data and options.
    /// Tokens issued to the old instance stop working. Returns the new instance id.
    pub fn launch_new_instance(&self) -> String {
        let now = self.now();
        let id = format!("i-{}", random_hex(17));
        let _ = self.mutate(|s| {
            let c = &mut s.config;
            c.instance_id = id.clone();
            c.reservation_id = format!("r-{}", random_hex(17));
            c.interface_id = format!("eni-{}", random_hex(17));
            let mut rng_bytes = random_hex(6).into_bytes();
            // A locally administered unicast MAC (02:…), lower-case.
            rng_bytes[0] = b'0';
            rng_bytes[1] = b'2';
            let hex = String::from_utf8_lossy(&rng_bytes).into_owned();
            let more = random_hex(6);
            c.mac = format!(
                "{}:{}:{}:{}:{}:{}",
                &hex[0..2],
                &hex[2..4],
                &hex[4..6],
                &more[0..2],
                &more[2..4],
                &more[4..6]
            );
            c.private_ip = next_private_ip(&c.private_ip);
            if c.public_ip.is_some() {
                c.public_ip = Some(random_public_ip());
            }
            let mut rt = Runtime::new(c, now);
            rt.spot = None;
            rt.rebalance_at = None;
            rt.events.clear();
            rt.attached.clear();
            s.runtime = rt;
            Ok(())
        });
        lock(&self.0.creds).rotate_now();
        id
    }
}

fn clamp(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 2_000_000)
        .min(100 * 365 * 86400)
}

/// A different address in the same /24 (good enough for a new instance in the subnet).
fn next_private_ip(ip: &str) -> String {
    let mut parts: Vec<u8> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
    if parts.len() != 4 {
        return ip.to_string();
    }
    parts[3] = if parts[3] >= 250 { 10 } else { parts[3] + 1 };
    format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[3])
}

impl KeyStore for State {
    /// The instance's region (a regional endpoint) and us-east-1 (the global one).
    fn regions(&self) -> Vec<String> {
        let region = read(&self.0.shared).config.region.clone();
        let mut out = vec![region];
        if out[0] != "us-east-1" {
            out.push("us-east-1".into());
        }
        out
    }

    fn lookup(&self, access_key_id: &str) -> Option<IssuedKey> {
        lock(&self.0.creds).lookup(access_key_id)
    }

    fn issue(&self, role_arn: &str, session_name: &str, duration_secs: u64) -> IssuedKey {
        let account_id = self.account_id();
        let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
        let role_id = format!("AROA{}", crate::creds::stable_id(role_name, "role", 17));
        let now = self.now();
        lock(&self.0.creds).mint(
            role_arn,
            &role_id,
            &account_id,
            session_name,
            now,
            duration_secs,
        )
    }

    fn account_id(&self) -> String {
        read(&self.0.shared).config.account_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(config: Config) -> State {
        State::new(config).unwrap()
    }

    #[test]
    fn tokens_expire_on_the_mock_clock() {
        let s = state(Config::default());
        let t = s.issue_token(60);
        assert_eq!(s.verify_token(t.as_bytes()), Ok(60));
        s.advance_clock(59);
        assert_eq!(s.verify_token(t.as_bytes()), Ok(1));
        s.advance_clock(1);
        assert_eq!(s.verify_token(t.as_bytes()), Err(TokenRejection::Expired));
    }

    #[test]
    fn new_instance_invalidates_tokens_and_keeps_the_ami() {
        let s = state(Config::default());
        let t = s.issue_token(60);
        let before = s.config();
        let id = s.launch_new_instance();
        assert_ne!(id, before.instance_id);
        assert_eq!(s.instance_id(), id);
        assert_eq!(s.config().ami_id, before.ami_id);
        assert_ne!(s.config().mac, before.mac);
        s.config().validate().unwrap();
        assert!(s.verify_token(t.as_bytes()).is_err());
    }

    #[test]
    fn tokens_survive_a_restart_with_a_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        };
        let t = state(config.clone()).issue_token(600);
        assert!(state(config).verify_token(t.as_bytes()).is_ok());
        assert!(state(Config::default()).verify_token(t.as_bytes()).is_err());
    }

    #[test]
    fn user_data_limit_applies_at_runtime() {
        let s = state(Config::default());
        let err = s.set_user_data(Some(vec![0; 20000])).unwrap_err();
        assert!(err.to_string().contains("20000 bytes"), "{err}");
        s.set_user_data(Some(b"#!/bin/sh\n".to_vec())).unwrap();
        assert_eq!(s.config().user_data.as_deref(), Some(&b"#!/bin/sh\n"[..]));
    }

    #[test]
    fn stop_start_changes_public_ip_unless_elastic() {
        let s = state(Config::default());
        let ip = s.runtime().public_ip;
        s.stop().unwrap();
        assert!(s.stop().is_err());
        s.start().unwrap();
        assert_ne!(s.runtime().public_ip, ip);

        let s = state(Config {
            elastic_ip: Some("52.1.2.3".into()),
            ..Config::default()
        });
        s.stop().unwrap();
        s.start().unwrap();
        assert_eq!(s.runtime().public_ip.as_deref(), Some("52.1.2.3"));
    }

    #[test]
    fn key_store_remembers_rotated_keys() {
        let s = state(Config {
            role: Some("web".into()),
            ..Config::default()
        });
        let a = s.credentials(Delivery::V2).unwrap();
        s.advance_clock(5 * 3600);
        let b = s.credentials(Delivery::V2).unwrap();
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_eq!(KeyStore::lookup(&s, &a.access_key_id), Some(a));
        let issued = KeyStore::issue(&s, "arn:aws:iam::123456789012:role/other", "sess", 900);
        assert_eq!(KeyStore::lookup(&s, &issued.access_key_id), Some(issued));
    }

    #[test]
    fn role_attach_and_detach() {
        let s = state(Config::default());
        assert!(s.credentials(Delivery::V2).is_none());
        s.set_role(Some("web".into())).unwrap();
        assert_eq!(s.credentials(Delivery::V2).unwrap().role_name(), "web");
        assert!(s.set_role(Some("bad name".into())).is_err());
        s.set_role(None).unwrap();
        assert!(s.credentials(Delivery::V2).is_none());
    }
}
