//! An in-memory [`KeyStore`](crate::keys::KeyStore) for unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;

use crate::keys::{IssuedKey, KeyStore};

pub(crate) const ACCOUNT: &str = "123456789012";

pub(crate) struct MemoryStore {
    pub(crate) keys: Mutex<Vec<IssuedKey>>,
    pub(crate) now: DateTime<Utc>,
}

impl MemoryStore {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self {
            keys: Mutex::new(Vec::new()),
            now,
        }
    }

    pub(crate) fn add(&self, key: IssuedKey) -> IssuedKey {
        self.keys.lock().unwrap().push(key.clone());
        key
    }
}

pub(crate) fn make_key(role: &str, session: &str, now: DateTime<Utc>, secs: i64) -> IssuedKey {
    let mut rng = rand::thread_rng();
    let upper: String = (0..16)
        .map(|_| {
            let chars = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            chars[rng.gen_range(0..chars.len())] as char
        })
        .collect();
    IssuedKey {
        access_key_id: format!("ASIA{upper}"),
        secret_access_key: Alphanumeric.sample_string(&mut rng, 40),
        session_token: Alphanumeric.sample_string(&mut rng, 300),
        expiration: now + Duration::seconds(secs),
        issued: now,
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
        role_id: format!("AROA{}", &upper[..12]),
        account_id: ACCOUNT.into(),
        session_name: session.into(),
    }
}

impl KeyStore for MemoryStore {
    fn lookup(&self, access_key_id: &str) -> Option<IssuedKey> {
        self.keys
            .lock()
            .unwrap()
            .iter()
            .find(|k| k.access_key_id == access_key_id)
            .cloned()
    }

    fn issue(&self, role_arn: &str, session_name: &str, duration_secs: u64) -> IssuedKey {
        let role = role_arn.rsplit('/').next().unwrap_or("role");
        let mut key = make_key(role, session_name, self.now, duration_secs as i64);
        key.role_arn = role_arn.to_string();
        self.add(key)
    }

    fn account_id(&self) -> String {
        ACCOUNT.into()
    }
}

/// A POST of `body` to `/`, signed for STS in us-east-1 with `key` at `now`.
pub(crate) fn signed_call(
    key: &IssuedKey,
    body: &str,
    now: DateTime<Utc>,
) -> http::Request<Vec<u8>> {
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "127.0.0.1:1338")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body.as_bytes().to_vec())
        .unwrap();
    crate::sigv4::sign_request(&mut req, key, "us-east-1", "sts", now);
    req
}
