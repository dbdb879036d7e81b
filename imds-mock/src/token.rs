//! IMDSv2 session tokens. A token is stateless: a version byte, its expiry in milliseconds,
//! a nonce and an HMAC-SHA256 over those and the instance id, URL-safe base64 with padding
//! (56 characters, like real tokens). The HMAC key is loaded from (or created in) the
//! state directory, so tokens survive a restart and die with a new instance id.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// File in the state directory holding the token key (hex).
pub const TOKEN_KEY_FILE: &str = "token-key";

const VERSION: u8 = 1;
const NONCE_LEN: usize = 7;
const MAC_LEN: usize = 24;
const RAW_LEN: usize = 1 + 8 + NONCE_LEN + MAC_LEN;

/// Why the token key could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("cannot read or write the token key {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token key {path} is not 64 hex digits; delete it to make a new one")]
    Corrupt { path: std::path::PathBuf },
}

/// The secret that signs and checks tokens, with its HMAC state keyed once (cloned per
/// token instead of hashing the key again for every check).
#[derive(Clone)]
pub struct TokenKey {
    key: [u8; 32],
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(** redacted **)")
    }
}

/// Why a presented token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    BadSignature,
    Expired,
}

impl TokenKey {
    fn from_bytes(key: [u8; 32]) -> Self {
        #[allow(clippy::expect_used)]
        let keyed =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts keys of any length");
        Self { key, keyed }
    }

    /// A fresh random key.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    /// Load the key from `dir`, creating it (atomically) if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, TokenKeyError> {
        let path = dir.join(TOKEN_KEY_FILE);
        let io = |source| TokenKeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .map_err(|_| TokenKeyError::Corrupt { path: path.clone() })?;
                let key: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| TokenKeyError::Corrupt { path: path.clone() })?;
                Ok(Self::from_bytes(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random();
                std::fs::create_dir_all(dir).map_err(io)?;
                crate::fsutil::write_atomic(&path, hex::encode(key.key).as_bytes()).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self, instance_id: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(instance_id.as_bytes());
        mac.update(&[0]);
        mac.update(body);
        mac
    }

    /// Issue a token for `instance_id` that expires at `expires_ms` (Unix milliseconds).
    pub fn issue(&self, instance_id: &str, expires_ms: i64) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1..9].copy_from_slice(&expires_ms.to_be_bytes());
        rand::thread_rng().fill_bytes(&mut raw[9..9 + NONCE_LEN]);
        let tag = self.mac(instance_id, &raw[..9 + NONCE_LEN]).finalize();
        raw[9 + NONCE_LEN..].copy_from_slice(&tag.into_bytes()[..MAC_LEN]);
        URL_SAFE.encode(raw)
    }

    /// Check a token; on success, its expiry (Unix milliseconds).
    pub fn verify(
        &self,
        instance_id: &str,
        token: &[u8],
        now_ms: i64,
    ) -> Result<i64, TokenRejection> {
        let mut raw = [0u8; RAW_LEN + 2];
        let n = URL_SAFE
            .decode_slice(token, &mut raw)
            .map_err(|_| TokenRejection::Malformed)?;
        if n != RAW_LEN || raw[0] != VERSION {
            return Err(TokenRejection::Malformed);
        }
        self.mac(instance_id, &raw[..9 + NONCE_LEN])
            .verify_truncated_left(&raw[9 + NONCE_LEN..RAW_LEN])
            .map_err(|_| TokenRejection::BadSignature)?;
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&raw[1..9]);
        let expires = i64::from_be_bytes(exp);
        if now_ms >= expires {
            return Err(TokenRejection::Expired);
        }
        Ok(expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_looks_like_a_real_one() {
        let t = TokenKey::random().issue("i-0123456789abcdef0", 1_000_000);
        assert_eq!(t.len(), 56);
        assert!(t.ends_with('='));
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)));
    }

    #[test]
    fn verify_round_trip_and_expiry() {
        let k = TokenKey::random();
        let t = k.issue("i-1", 10_000);
        assert_eq!(k.verify("i-1", t.as_bytes(), 9_999), Ok(10_000));
        assert_eq!(
            k.verify("i-1", t.as_bytes(), 10_000),
            Err(TokenRejection::Expired)
        );
        assert_eq!(
            k.verify("i-2", t.as_bytes(), 0),
            Err(TokenRejection::BadSignature)
        );
        assert_eq!(
            TokenKey::random().verify("i-1", t.as_bytes(), 0),
            Err(TokenRejection::BadSignature)
        );
        assert_eq!(k.verify("i-1", b"nope", 0), Err(TokenRejection::Malformed));
        let mut tampered = t.into_bytes();
        tampered[3] ^= 1;
        assert!(k.verify("i-1", &tampered, 0).is_err());
    }

    #[test]
    fn key_persists_in_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let a = TokenKey::load_or_create(dir.path()).unwrap();
        let b = TokenKey::load_or_create(dir.path()).unwrap();
        let t = a.issue("i-1", 5);
        assert_eq!(b.verify("i-1", t.as_bytes(), 0), Ok(5));
        std::fs::write(dir.path().join(TOKEN_KEY_FILE), "zz").unwrap();
        assert!(matches!(
            TokenKey::load_or_create(dir.path()),
            Err(TokenKeyError::Corrupt { .. })
        ));
    }
}
