//! The shared default-chain scenarios (`agent/tests/data/aws-sdk/default-credential-
//! provider-chain/<case>/`: `env.json`, `fs/`, `http-traffic.json`, `test-case.json`)
//! replayed under aws-sdk-rust's rules: the recorded IMDS and container answers are
//! served from loopback in order, the files are laid out under a temporary root. One
//! line per case; cases that need STS or the SSO portal are listed and reported.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/aws-sdk/default-credential-provider-chain"
);

/// Cases that need a real STS or the SSO portal, which strap's offline chain does not
/// call (STS paths are covered by the precedence table with a fake STS).
const NOT_COVERED: &[(&str, &str)] = &[
    ("e2e_fips_and_dual_stack_sso", "needs the SSO portal"),
    ("sso_assume_role", "needs the SSO portal"),
    ("sso_no_token_file", "needs the SSO token cache"),
    ("sso_server_error", "needs the SSO portal"),
    ("ecs_assume_role", "needs STS AssumeRole"),
    ("imds_assume_role", "needs STS AssumeRole"),
    (
        "web_identity_token_env",
        "needs STS AssumeRoleWithWebIdentity",
    ),
    (
        "web_identity_token_invalid_jwt",
        "needs STS AssumeRoleWithWebIdentity",
    ),
    (
        "web_identity_token_profile",
        "needs STS AssumeRoleWithWebIdentity",
    ),
    (
        "web_identity_token_source_profile",
        "needs STS AssumeRoleWithWebIdentity",
    ),
];

type Queue = BTreeMap<(String, String), VecDeque<(u16, String)>>;

/// Recorded `(method, path) → [(status, body)]`, and the hosts the requests went to.
fn load_traffic(case: &Path) -> (Queue, Vec<String>) {
    let mut queue = Queue::new();
    let mut hosts = Vec::new();
    let Ok(text) = std::fs::read_to_string(case.join("http-traffic.json")) else {
        return (queue, hosts);
    };
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut pending: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut status: BTreeMap<u64, u16> = BTreeMap::new();
    for ev in doc["events"].as_array().unwrap() {
        let conn = ev["connection_id"].as_u64().unwrap();
        let action = &ev["action"];
        if let Some(req) = action.get("Request") {
            let uri = reqwest::Url::parse(req["request"]["uri"].as_str().unwrap()).unwrap();
            let origin = uri.origin().ascii_serialization();
            if !hosts.contains(&origin) {
                hosts.push(origin);
            }
            let mut path = uri.path().to_string();
            if let Some(q) = uri.query() {
                path = format!("{path}?{q}");
            }
            let method = req["request"]["method"].as_str().unwrap().to_string();
            pending.insert(conn, (method, path));
        } else if let Some(resp) = action.get("Response") {
            let code = resp["response"]["Ok"]["status"].as_u64().unwrap_or(500) as u16;
            status.insert(conn, code);
            if let Some(key) = pending.get(&conn) {
                queue
                    .entry(key.clone())
                    .or_default()
                    .push_back((code, String::new()));
            }
        } else if let Some(data) = action.get("Data") {
            if data["direction"] == "Response" {
                let body = data["data"]["Utf8"].as_str().unwrap_or_default();
                if let Some(key) = pending.get(&conn) {
                    if let Some(last) = queue.get_mut(key).and_then(|q| q.back_mut()) {
                        last.1.push_str(body);
                    }
                }
            }
        }
    }
    (queue, hosts)
}

/// Serve the recorded answers in order; the last answer for a route repeats.
async fn serve(queue: Queue) -> super::tests::Replay {
    let queue = Mutex::new(queue);
    super::tests::serve_with(move |method, path| {
        let mut q = queue.lock().unwrap();
        match q.get_mut(&(method.to_string(), path.to_string())) {
            Some(list) if list.len() > 1 => list.pop_front().unwrap(),
            Some(list) => list.front().cloned().unwrap(),
            None => (404, String::new()),
        }
    })
    .await
}

fn copy_tree(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

async fn scenario(name: &str) {
    let case: PathBuf = Path::new(DIR).join(name);
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("test-case.json")).unwrap())
            .unwrap();
    let env: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(case.join("env.json")).unwrap()).unwrap();
    let root = tempfile::tempdir().unwrap();
    copy_tree(&case.join("fs"), root.path());
    let (queue, hosts) = load_traffic(&case);
    let server = serve(queue).await;
    let local = format!("http://{}", server.addr);
    let mut vars: Vec<(String, String)> = env.into_iter().collect();
    vars.push((
        "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
        format!("{local}/"),
    ));
    let opts = Options {
        sdk: Some(Sdk::Rust),
        rewrite: hosts.iter().map(|h| (h.clone(), local.clone())).collect(),
        ..Options::default()
    };
    let ctx = Context::fixed(vars, root.path());
    let e = resolve(&ctx, &opts).await;
    drop(server);
    let steps: Vec<String> = e
        .steps
        .iter()
        .map(|s| format!("{} {}: {}", s.provider, s.status.as_str(), s.detail))
        .collect();
    let result = &test["result"];
    if let Some(ok) = result.get("Ok") {
        let Some((_, c)) = &e.selected else {
            panic!(
                "{name}: expected credentials, got {:?}; steps {steps:#?}",
                e.error
            );
        };
        assert_eq!(
            c.access_key_id,
            ok["access_key_id"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            c.secret_access_key.expose(),
            ok["secret_access_key"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            c.session_token.as_ref().map(|t| t.expose().as_str()),
            ok["session_token"].as_str(),
            "{name}"
        );
        if let Some(exp) = ok["expiry"].as_i64() {
            assert_eq!(c.expiration.map(|t| t.timestamp()), Some(exp), "{name}");
        }
        if let Some(acct) = ok["account_id"].as_str() {
            assert_eq!(c.account_id.as_deref(), Some(acct), "{name}");
        }
    } else {
        let want = result["ErrorContains"].as_str().unwrap();
        assert!(
            e.selected.is_none(),
            "{name}: expected error {want:?}; steps {steps:#?}"
        );
        // "the credential provider was not enabled" is aws-config's text for a provider
        // that moved on (alone, or wrapped by the profile provider that then stopped);
        // any other message must be a stop, never "no credentials".
        assert!(e.error.is_some(), "{name}");
        if !want.contains("not enabled") {
            assert_ne!(
                e.error,
                Some(ChainError::NoCredentials),
                "{name}: {want:?}; steps {steps:#?}"
            );
        }
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                scenario(stringify!($name)).await;
            }
        )*
        const COVERED: &[&str] = &[$(stringify!($name)),*];
    };
}

scenarios!(
    ecs_credentials,
    ecs_credentials_invalid_profile,
    eks_pod_identity_credentials,
    eks_pod_identity_no_token_file,
    environment_variables,
    environment_variables_blank,
    imds_config_with_no_creds,
    imds_default_chain_error,
    imds_default_chain_retries,
    imds_default_chain_success,
    imds_disabled,
    imds_no_iam_role,
    imds_token_fail,
    prefer_environment,
    profile_name,
    profile_overrides_web_identity,
    profile_static_keys,
    profile_static_keys_case_insensitive,
    web_identity_source_profile_no_env,
);

#[test]
fn every_corpus_case_is_run_or_reported() {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in &names {
        let covered = COVERED.contains(&n.as_str());
        let reported = NOT_COVERED.iter().find(|(c, _)| c == n);
        assert!(
            covered ^ reported.is_some(),
            "{n}: neither run nor reported"
        );
        if let Some((_, why)) = reported {
            eprintln!("scenario {n}: not run ({why})");
        }
    }
    assert_eq!(names.len(), COVERED.len() + NOT_COVERED.len());
}
