//! Instance-profile credentials: issuing `ASIA…` key sets, rotating them before expiry,
//! keeping every issued key (expired ones too) for the STS side to look up, and rendering
//! the JSON documents IMDS serves. IMDSv1 and IMDSv2 deliveries get distinct sets, as on
//! EC2 (`ec2:RoleDelivery` 1.0 / 2.0). This module holds no lock and reads no clock: the
//! caller passes `now` and owns the synchronisation.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::keys::IssuedKey;

/// How a credential request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Without a session token (`ec2:RoleDelivery` 1.0).
    V1,
    /// With a session token (`ec2:RoleDelivery` 2.0).
    V2,
}

/// The attached instance profile and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub role_name: String,
    pub role_arn: String,
    pub role_id: String,
    pub profile_arn: String,
    pub profile_id: String,
    pub attached: DateTime<Utc>,
}

impl Profile {
    /// The profile for `role_name` in `account_id`; ids are derived from the name so they
    /// are stable across restarts.
    pub fn new(role_name: &str, account_id: &str, now: DateTime<Utc>) -> Self {
        Self {
            role_name: role_name.to_string(),
            role_arn: format!("arn:aws:iam::{account_id}:role/{role_name}"),
            role_id: format!("AROA{}", stable_id(role_name, "role", 17)),
            profile_arn: format!("arn:aws:iam::{account_id}:instance-profile/{role_name}"),
            profile_id: format!("AIPA{}", stable_id(role_name, "profile", 17)),
            attached: now,
        }
    }
}

/// Issued keys and the current set per delivery.
#[derive(Debug, Default)]
pub struct CredStore {
    profile: Option<Profile>,
    current: HashMap<Delivery, String>,
    identity: Option<String>,
    container: Option<String>,
    keys: HashMap<String, IssuedKey>,
    pub lifetime_secs: u64,
    pub rotate_before_secs: u64,
}

impl CredStore {
    pub fn new(lifetime_secs: u64, rotate_before_secs: u64) -> Self {
        Self {
            lifetime_secs,
            rotate_before_secs,
            ..Self::default()
        }
    }

    /// The attached profile, if any.
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// Attach (or replace) the instance profile. Keys issued for an earlier role stay
    /// valid until they expire, as on EC2.
    pub fn attach(&mut self, profile: Option<Profile>) {
        self.profile = profile;
        self.current.clear();
    }

    /// Drop the current sets so the next request gets fresh ones.
    pub fn rotate_now(&mut self) {
        self.current.clear();
        self.identity = None;
        self.container = None;
    }

    /// The credential set served to `delivery` at `now`, rotating when due.
    pub fn current(
        &mut self,
        delivery: Delivery,
        instance_id: &str,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Option<IssuedKey> {
        let profile = self.profile.clone()?;
        if let Some(key) = self.current.get(&delivery).and_then(|id| self.keys.get(id)) {
            let due = key.expiration - Duration::seconds(secs(self.rotate_before_secs));
            if now < due && key.session_name == instance_id {
                return Some(key.clone());
            }
        }
        let key = self.mint(
            &profile.role_arn,
            &profile.role_id,
            account_id,
            instance_id,
            now,
            self.lifetime_secs,
        );
        self.current.insert(delivery, key.access_key_id.clone());
        Some(key)
    }

    /// The instance identity role's credentials (`identity-credentials/ec2/…`).
    pub fn identity(
        &mut self,
        instance_id: &str,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> IssuedKey {
        if let Some(key) = self.identity.as_ref().and_then(|id| self.keys.get(id)) {
            let due = key.expiration - Duration::seconds(secs(self.rotate_before_secs));
            if now < due && key.session_name == instance_id {
                return key.clone();
            }
        }
        let key = self.mint(
            &format!("arn:aws:iam::{account_id}:role/aws:ec2-instance"),
            &format!("AROA{}", stable_id(account_id, "ec2-instance", 17)),
            account_id,
            instance_id,
            now,
            self.lifetime_secs,
        );
        self.identity = Some(key.access_key_id.clone());
        key
    }

    /// The container role's credentials (ECS / EKS Pod Identity), rotated like the others.
    pub fn container(
        &mut self,
        role_name: &str,
        account_id: &str,
        session_name: &str,
        now: DateTime<Utc>,
    ) -> IssuedKey {
        let role_arn = format!("arn:aws:iam::{account_id}:role/{role_name}");
        if let Some(key) = self.container.as_ref().and_then(|id| self.keys.get(id)) {
            let due = key.expiration - Duration::seconds(secs(self.rotate_before_secs));
            if now < due && key.role_arn == role_arn {
                return key.clone();
            }
        }
        let key = self.mint(
            &role_arn,
            &format!("AROA{}", stable_id(role_name, "role", 17)),
            account_id,
            session_name,
            now,
            self.lifetime_secs,
        );
        self.container = Some(key.access_key_id.clone());
        key
    }

    /// A set for the current role that expired a minute ago (fault injection).
    pub fn expired(
        &mut self,
        instance_id: &str,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Option<IssuedKey> {
        let profile = self.profile.clone()?;
        let past = now - Duration::seconds(secs(self.lifetime_secs) + 60);
        Some(self.mint(
            &profile.role_arn,
            &profile.role_id,
            account_id,
            instance_id,
            past,
            self.lifetime_secs,
        ))
    }

    /// Issue and remember a new key set.
    pub fn mint(
        &mut self,
        role_arn: &str,
        role_id: &str,
        account_id: &str,
        session_name: &str,
        now: DateTime<Utc>,
        lifetime_secs: u64,
    ) -> IssuedKey {
        let now = whole_second(now);
        let key = IssuedKey {
            access_key_id: format!("ASIA{}", random_base32(16)),
            secret_access_key: random_secret(),
            session_token: random_session_token(),
            expiration: now + Duration::seconds(secs(lifetime_secs)),
            issued: now,
            role_arn: role_arn.to_string(),
            role_id: role_id.to_string(),
            account_id: account_id.to_string(),
            session_name: session_name.to_string(),
        };
        self.prune(now);
        self.keys.insert(key.access_key_id.clone(), key.clone());
        key
    }

    /// Any issued key, expired or not.
    pub fn lookup(&self, access_key_id: &str) -> Option<IssuedKey> {
        self.keys.get(access_key_id).cloned()
    }

    /// Number of keys remembered.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key was issued yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Forget keys that expired over a day ago (STS answers `ExpiredToken` for a day;
    /// after that an unknown key is as good).
    fn prune(&mut self, now: DateTime<Utc>) {
        if self.keys.len() > 1024 {
            let horizon = now - Duration::days(1);
            self.keys.retain(|_, k| k.expiration > horizon);
        }
    }
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 2_000_000)
}

/// Truncate to whole seconds (IMDS timestamps have no fraction).
pub fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// `2021-09-21T17:31:21Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    whole_second(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A JSON object pretty-printed the way IMDS does (`"Key" : "value"`, two-space indent).
pub fn imds_json(fields: &[(&str, &str)]) -> String {
    let mut out = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&json_string(k));
        out.push_str(" : ");
        out.push_str(&json_string(v));
        if i + 1 < fields.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push('}');
    out
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// The `iam/security-credentials/<role>` document (and its `-extended` form with
/// `AccountId`).
pub fn credentials_document(key: &IssuedKey, extended: bool) -> String {
    let last = timestamp(key.issued);
    let exp = timestamp(key.expiration);
    let mut fields = vec![
        ("Code", "Success"),
        ("LastUpdated", last.as_str()),
        ("Type", "AWS-HMAC"),
        ("AccessKeyId", key.access_key_id.as_str()),
        ("SecretAccessKey", key.secret_access_key.as_str()),
        ("Token", key.session_token.as_str()),
        ("Expiration", exp.as_str()),
    ];
    if extended {
        fields.push(("AccountId", key.account_id.as_str()));
    }
    imds_json(&fields)
}

/// The error document IMDS serves (with HTTP 200) when it cannot get role credentials.
pub fn credentials_error_document(code: &str, role_name: &str, now: DateTime<Utc>) -> String {
    let message = if code == "AssumeRoleUnauthorizedAccess" {
        format!("EC2 cannot assume the role {role_name}. Please see documentation at https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html#troubleshoot_iam-ec2_errors-info-doc.")
    } else {
        format!("EC2 cannot get credentials for the role {role_name}.")
    };
    imds_json(&[
        ("Code", code),
        ("Message", &message),
        ("LastUpdated", &timestamp(now)),
    ])
}

/// The `iam/info` document.
pub fn info_document(profile: &Profile) -> String {
    imds_json(&[
        ("Code", "Success"),
        ("LastUpdated", &timestamp(profile.attached)),
        ("InstanceProfileArn", &profile.profile_arn),
        ("InstanceProfileId", &profile.profile_id),
    ])
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn random_base32(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(BASE32[rng.gen_range(0..BASE32.len())]))
        .collect()
}

fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn random_session_token() -> String {
    let mut bytes = b"!\n\torigin_ec2\x10\x1a\tus-east-1".to_vec();
    let mut rng = rand::thread_rng();
    bytes.extend((0..700).map(|_| rng.gen::<u8>()));
    STANDARD.encode(bytes)
}

/// `len` base32 characters derived from `name` and `salt`.
pub fn stable_id(name: &str, salt: &str, len: usize) -> String {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0])
        .chain_update(name.as_bytes())
        .finalize();
    digest
        .iter()
        .cycle()
        .take(len)
        .map(|b| char::from(BASE32[usize::from(*b) % BASE32.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn store() -> CredStore {
        let mut s = CredStore::new(6 * 3600, 3600);
        s.attach(Some(Profile::new(
            "web",
            "123456789012",
            t("2026-01-01T00:00:00Z"),
        )));
        s
    }

    #[test]
    fn keys_look_like_aws_keys() {
        let mut s = store();
        let k = s
            .current(
                Delivery::V2,
                "i-1",
                "123456789012",
                t("2026-01-01T00:00:00.5Z"),
            )
            .unwrap();
        assert!(k.access_key_id.starts_with("ASIA"));
        assert_eq!(k.access_key_id.len(), 20);
        assert_eq!(k.secret_access_key.len(), 40);
        assert!(k.session_token.len() > 900);
        assert_eq!(k.issued, t("2026-01-01T00:00:00Z"));
        assert_eq!(k.expiration, t("2026-01-01T06:00:00Z"));
        assert_eq!(k.role_arn, "arn:aws:iam::123456789012:role/web");
        assert!(k.role_id.starts_with("AROA"));
    }

    #[test]
    fn rotation_before_expiry_keeps_old_keys() {
        let mut s = store();
        let a = s
            .current(Delivery::V2, "i-1", "1", t("2026-01-01T00:00:00Z"))
            .unwrap();
        let same = s
            .current(Delivery::V2, "i-1", "1", t("2026-01-01T04:59:59Z"))
            .unwrap();
        assert_eq!(a, same);
        let b = s
            .current(Delivery::V2, "i-1", "1", t("2026-01-01T05:00:00Z"))
            .unwrap();
        assert_ne!(a.access_key_id, b.access_key_id);
        assert!(
            a.expiration > t("2026-01-01T05:00:00Z"),
            "old key still valid at rotation"
        );
        assert_eq!(s.lookup(&a.access_key_id), Some(a));
        assert_eq!(s.lookup(&b.access_key_id), Some(b));
    }

    #[test]
    fn v1_and_v2_get_distinct_sets() {
        let mut s = store();
        let now = t("2026-01-01T00:00:00Z");
        let v1 = s.current(Delivery::V1, "i-1", "1", now).unwrap();
        let v2 = s.current(Delivery::V2, "i-1", "1", now).unwrap();
        assert_ne!(v1.access_key_id, v2.access_key_id);
    }

    #[test]
    fn no_profile_no_credentials() {
        let mut s = CredStore::new(3600, 60);
        assert!(s.current(Delivery::V2, "i-1", "1", Utc::now()).is_none());
    }

    #[test]
    fn document_has_seven_fields_in_order() {
        let mut s = store();
        let k = s
            .current(
                Delivery::V2,
                "i-1",
                "123456789012",
                t("2026-01-01T00:00:00Z"),
            )
            .unwrap();
        let doc = credentials_document(&k, false);
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "Code",
                "LastUpdated",
                "Type",
                "AccessKeyId",
                "SecretAccessKey",
                "Token",
                "Expiration"
            ]
        );
        assert!(doc.starts_with("{\n  \"Code\" : \"Success\",\n"));
        assert!(doc.contains("\"Expiration\" : \"2026-01-01T06:00:00Z\"\n}"));
        let ext: serde_json::Value = serde_json::from_str(&credentials_document(&k, true)).unwrap();
        assert_eq!(ext["AccountId"], "123456789012");
    }

    #[test]
    fn stable_ids_are_stable() {
        assert_eq!(stable_id("web", "role", 17), stable_id("web", "role", 17));
        assert_ne!(stable_id("web", "role", 17), stable_id("db", "role", 17));
    }
}
