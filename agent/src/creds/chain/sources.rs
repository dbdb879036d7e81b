//! Providers the SDK orders share: environment keys (each SDK's reading), static keys in
//! a profile, `credential_process`, SSO and login detection, web identity, assume-role
//! with its source (a source profile or a named `credential_source`), container and IMDS.

use std::future::Future;
use std::pin::Pin;

use super::super::env_vars::*;
use super::super::profile::Profile;
use super::super::sts::{ENV_ENDPOINT_URL, ENV_ENDPOINT_URL_STS};
use super::super::{net, process, Credentials, Method, Outcome, Sdk};
use super::{RoleRequest, Run, R};
use crate::secret::{mask_key, Secret};

/// Credentials a source supplied, or (probe mode) what it would have done.
pub(crate) enum Got {
    Creds(Credentials, String),
    Described(String),
}

impl Got {
    fn describe(&self) -> String {
        match self {
            Got::Creds(_, d) | Got::Described(d) => d.clone(),
        }
    }
}

fn at(p: &Profile, key: &str) -> String {
    p.located(key).map(|l| l.at()).unwrap_or_else(|| "?".into())
}

/// `AWS_ACCESS_KEY_ID` & co. as `sdk` reads them.
pub(crate) fn env_keys(run: &Run<'_>) -> R {
    let ctx = run.ctx;
    let sdk = run.sdk;
    let (key, secret) = match sdk {
        Sdk::Cli | Sdk::Botocore => {
            let key = ctx.var(AWS_ACCESS_KEY_ID).filter(|k| !k.is_empty());
            let Some(key) = key else {
                return R::Next(format!("{AWS_ACCESS_KEY_ID} is not set"));
            };
            let Some(secret) = ctx.var(AWS_SECRET_ACCESS_KEY).filter(|s| !s.is_empty()) else {
                return R::Invalid(format!(
                    "Partial credentials found in env, missing: {AWS_SECRET_ACCESS_KEY} ({AWS_ACCESS_KEY_ID} is set); set both or unset {AWS_ACCESS_KEY_ID}"
                ));
            };
            (key, secret)
        }
        Sdk::Rust => {
            let key = ctx.var(AWS_ACCESS_KEY_ID).map(|k| k.trim().to_string());
            let secret = ctx
                .var(AWS_SECRET_ACCESS_KEY)
                .or_else(|| ctx.var("SECRET_ACCESS_KEY"))
                .map(|k| k.trim().to_string());
            match (key.filter(|k| !k.is_empty()), secret.filter(|s| !s.is_empty())) {
                (Some(k), Some(s)) => (k, s),
                (None, _) => return R::Next(format!("{AWS_ACCESS_KEY_ID} is not set or blank")),
                (Some(_), None) => {
                    return R::Next(format!(
                        "{AWS_ACCESS_KEY_ID} is set but {AWS_SECRET_ACCESS_KEY} is not (aws-sdk-rust moves on)"
                    ))
                }
            }
        }
        Sdk::Js => {
            let nonempty = |k: &str| ctx.var(k).filter(|v| !v.is_empty());
            match (nonempty(AWS_ACCESS_KEY_ID), nonempty(AWS_SECRET_ACCESS_KEY)) {
                (Some(k), Some(s)) => (k, s),
                _ => {
                    return R::Next(format!(
                        "Unable to find environment variable credentials: {AWS_ACCESS_KEY_ID} and {AWS_SECRET_ACCESS_KEY} are not both set"
                    ))
                }
            }
        }
        Sdk::Go => {
            let pick = |a: &str, b: &str| {
                ctx.var(a)
                    .filter(|v| !v.is_empty())
                    .or_else(|| ctx.var(b).filter(|v| !v.is_empty()))
            };
            match (
                pick(AWS_ACCESS_KEY_ID, AWS_ACCESS_KEY),
                pick(AWS_SECRET_ACCESS_KEY, AWS_SECRET_KEY),
            ) {
                (Some(k), Some(s)) => (k, s),
                _ => {
                    return R::Next(format!(
                        "{AWS_ACCESS_KEY_ID}/{AWS_ACCESS_KEY} and {AWS_SECRET_ACCESS_KEY}/{AWS_SECRET_KEY} are not both set"
                    ))
                }
            }
        }
    };
    let token_vars: &[&str] = if sdk.is_botocore_family() {
        &[AWS_SECURITY_TOKEN, AWS_SESSION_TOKEN]
    } else {
        &[AWS_SESSION_TOKEN]
    };
    let mut token = None;
    let mut token_var = "";
    for v in token_vars {
        let t = ctx.var(v).map(|t| {
            if sdk == Sdk::Rust {
                t.trim().to_string()
            } else {
                t
            }
        });
        if let Some(t) = t.filter(|t| !t.is_empty()) {
            token = Some(t);
            token_var = v;
            break;
        }
    }
    let mut expiration = None;
    if sdk == Sdk::Js {
        // `new Date(AWS_CREDENTIAL_EXPIRATION)`: a date it cannot read is no error.
        expiration = ctx
            .var(AWS_CREDENTIAL_EXPIRATION)
            .and_then(|e| process::parse_time(&e, true).ok());
    }
    if sdk.is_botocore_family() {
        if let Some(e) = ctx.var(AWS_CREDENTIAL_EXPIRATION) {
            match process::parse_time(&e, true) {
                Ok(t) => expiration = Some(t),
                Err(m) => return R::Invalid(format!("{AWS_CREDENTIAL_EXPIRATION}: {m}")),
            }
        }
    }
    let mut detail = format!(
        "{AWS_ACCESS_KEY_ID}={} and {AWS_SECRET_ACCESS_KEY} are set",
        mask_key(&key)
    );
    if token.is_some() {
        detail.push_str(&format!(", session token from {token_var}"));
    }
    R::Ok(
        Method::Env,
        Credentials {
            access_key_id: key,
            secret_access_key: Secret::new(secret),
            session_token: token.map(Secret::new),
            expiration,
            account_id: ctx.var(AWS_ACCOUNT_ID),
        },
        detail,
    )
}

/// Static keys in one profile. `None` when the profile has no access key (botocore moves
/// on); an error for half a pair.
pub(crate) fn static_keys(p: &Profile, method: Method, sdk: Sdk) -> Option<R> {
    let key = p.located("aws_access_key_id");
    let secret = p.located("aws_secret_access_key");
    let (key, secret) = match (key, secret) {
        (Some(k), Some(s)) => (k, s),
        (None, None) => return None,
        // The JS SDK's `isStaticCredsProfile` wants both keys; anything less moves on.
        (None, Some(_)) | (Some(_), None) if sdk == Sdk::Js => return None,
        (None, Some(s)) if sdk.is_botocore_family() => {
            let _ = s;
            return None;
        }
        (None, Some(s)) => {
            return Some(R::Invalid(format!(
                "profile {} has aws_secret_access_key ({}) but no aws_access_key_id; add it",
                p.name,
                s.at()
            )))
        }
        (Some(k), None) => {
            return Some(R::Invalid(format!(
                "Partial credentials found in {}, missing: aws_secret_access_key (profile {}, aws_access_key_id at {}); add it",
                method.as_str(),
                p.name,
                k.at()
            )))
        }
    };
    let token_keys: &[&str] = if sdk.is_botocore_family() {
        &["aws_security_token", "aws_session_token"]
    } else {
        &["aws_session_token"]
    };
    let token = token_keys
        .iter()
        .find_map(|k| p.get(k).filter(|t| !t.is_empty()))
        .map(|t| Secret::new(t.to_string()));
    Some(R::Ok(
        method,
        Credentials {
            access_key_id: key.value.clone(),
            secret_access_key: Secret::new(secret.value.clone()),
            session_token: token,
            expiration: None,
            account_id: p.get("aws_account_id").map(str::to_string),
        },
        format!(
            "profile {}: aws_access_key_id={} at {}",
            p.name,
            mask_key(&key.value),
            key.at()
        ),
    ))
}

/// SSO configured in a profile: detected and explained; strap does not call the portal.
pub(crate) fn sso(run: &Run<'_>, p: &Profile) -> Option<R> {
    let account = p.get("sso_account_id");
    let role = p.get("sso_role_name");
    if account.is_none() && role.is_none() {
        return None;
    }
    let session = p.get("sso_session");
    let session_profile = session.and_then(|s| run.merged.sso_sessions.get(s));
    let mut missing = Vec::new();
    for k in ["sso_account_id", "sso_role_name"] {
        if p.get(k).is_none() {
            missing.push(k);
        }
    }
    for k in ["sso_start_url", "sso_region"] {
        if p.get(k).is_none() && session_profile.and_then(|s| s.get(k)).is_none() {
            missing.push(k);
        }
    }
    if !missing.is_empty() {
        return Some(R::Invalid(format!(
            "profile {} configures SSO but is missing required configuration: {}",
            p.name,
            missing.join(", ")
        )));
    }
    let what = format!(
        "profile {} uses SSO (sso_account_id {}, sso_role_name {}, {}): the SDK would exchange the cached SSO token for role credentials",
        p.name,
        account.unwrap_or("?"),
        role.unwrap_or("?"),
        at(p, "sso_account_id"),
    );
    if run.looking() {
        return Some(R::Would(Method::Sso, what));
    }
    Some(R::Fail(format!(
        "{what}; strap does not call the SSO portal: run `aws sso login --profile {}` and use `credential_process = aws configure export-credentials --profile {}`",
        p.name, p.name
    )))
}

/// `login_session` (`aws login`): detected and explained, not performed.
pub(crate) fn login(run: &Run<'_>, p: &Profile) -> Option<R> {
    let l = p.located("login_session")?;
    let what = format!(
        "profile {} uses `aws login` (login_session at {})",
        p.name,
        l.at()
    );
    if run.looking() {
        return Some(R::Would(Method::Login, what));
    }
    Some(R::Fail(format!(
        "{what}; strap does not perform the login exchange: use `aws configure export-credentials --profile {}`",
        p.name
    )))
}

/// `credential_process` in a profile.
pub(crate) async fn credential_process(run: &Run<'_>, p: &Profile) -> Option<R> {
    let cmd = p.located("credential_process")?;
    let what = format!("credential_process {:?} at {}", cmd.value, cmd.at());
    if run.looking() {
        return Some(R::Would(Method::CustomProcess, format!("would run {what}")));
    }
    let mut envs: Vec<(String, String)> = run.ctx.vars().into_iter().collect();
    for (k, v) in &run.opts.child_env {
        envs.retain(|(ek, _)| ek != k);
        envs.push((k.clone(), v.clone()));
    }
    Some(
        match process::run(
            &cmd.value,
            &cmd.at(),
            run.sdk,
            p.get("aws_account_id"),
            &envs,
        )
        .await
        {
            Ok(c) => R::Ok(Method::CustomProcess, c, format!("ran {what}")),
            Err(e) => R::Fail(e.to_string()),
        },
    )
}

/// A URL with the test rewrites of [`super::Options::rewrite`] applied.
pub(crate) fn rewritten(run: &Run<'_>, url: &str) -> String {
    let mut target = url.to_string();
    for (from, to) in &run.opts.rewrite {
        if let Some(rest) = target.strip_prefix(from.as_str()) {
            target = format!("{to}{rest}");
        }
    }
    target
}

/// Container credentials.
pub(crate) async fn container(run: &Run<'_>) -> R {
    if run.sdk == Sdk::Js {
        return super::js::container(run).await;
    }
    let var = |k: &str| run.ctx.var(k);
    let uri = match net::container_uri(&var, run.sdk) {
        Ok(u) => u,
        Err(o) => return o.into(),
    };
    if run.looking() {
        return R::Would(Method::ContainerRole, format!("would GET {uri}"));
    }
    let target = rewritten(run, &uri);
    match net::fetch_container(run.ctx, &target).await {
        Outcome::Loaded(m, c) => R::Ok(m, c, format!("GET {uri}")),
        other => other.into(),
    }
}

/// The instance profile over IMDS.
pub(crate) async fn imds(run: &Run<'_>) -> R {
    if run.sdk == Sdk::Js {
        return super::js::imds(run).await;
    }
    let settings = net::imds_settings(run.ctx, run.sdk, run.merged.get(&run.profile));
    if settings.disabled {
        return R::Next(format!("{AWS_EC2_METADATA_DISABLED}=true"));
    }
    let endpoint = settings.configured_endpoint().url;
    if run.looking() {
        return R::Would(
            Method::IamRole,
            format!("would ask IMDS at {endpoint} for the instance profile role (if it answers)"),
        );
    }
    match net::fetch_imds(run.sdk, &settings).await {
        Outcome::Loaded(m, c) => R::Ok(m, c, format!("instance profile from IMDS at {endpoint}")),
        other => other.into(),
    }
}

/// The STS endpoint override, if any.
fn sts_endpoint(run: &Run<'_>) -> Option<String> {
    run.ctx
        .var(ENV_ENDPOINT_URL_STS)
        .or_else(|| run.ctx.var(ENV_ENDPOINT_URL))
}

fn session_name(run: &Run<'_>, configured: Option<&str>) -> String {
    configured.map(str::to_string).unwrap_or_else(|| {
        let secs = run
            .ctx
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("botocore-session-{secs}")
    })
}

/// Web identity from a token file and a role ARN (from env or a profile).
pub(crate) async fn web_identity(
    run: &Run<'_>,
    token_file: &str,
    token_from: &str,
    role_arn: &str,
    session: Option<&str>,
) -> R {
    let req = RoleRequest {
        role_arn: role_arn.to_string(),
        session_name: session_name(run, session),
        external_id: None,
        endpoint: sts_endpoint(run),
    };
    let what = format!(
        "AssumeRoleWithWebIdentity {role_arn} with the token in {token_file} ({token_from})"
    );
    if run.looking() {
        return R::Would(
            Method::AssumeRoleWithWebIdentity,
            format!("would call {what}"),
        );
    }
    let token = match std::fs::read_to_string(super::super::files::real_path(run.ctx, token_file)) {
        Ok(t) => t.trim().to_string(),
        Err(e) => {
            return R::Fail(format!(
                "cannot read the web identity token {token_file} ({token_from}): {e}"
            ))
        }
    };
    let Some(sts) = &run.opts.sts else {
        return R::Fail(format!("{what}: no STS client is configured"));
    };
    match sts.assume_role_with_web_identity(&token, &req).await {
        Ok(c) => R::Ok(Method::AssumeRoleWithWebIdentity, c, what),
        Err(e) => R::Fail(format!("{what}: {e}")),
    }
}

/// The canonical `credential_source` names.
const NAMED_SOURCES: [&str; 3] = ["Environment", "Ec2InstanceMetadata", "EcsContainer"];

/// Credentials from a named `credential_source`.
pub(crate) async fn named_source(run: &Run<'_>, p: &Profile, source: &str) -> Result<Got, R> {
    let canonical = match run.sdk {
        Sdk::Cli | Sdk::Botocore | Sdk::Go | Sdk::Js => {
            NAMED_SOURCES.iter().find(|n| **n == source)
        }
        Sdk::Rust => NAMED_SOURCES
            .iter()
            .find(|n| n.eq_ignore_ascii_case(source)),
    };
    let Some(canonical) = canonical else {
        return Err(R::Invalid(format!(
            "credential source {source:?} ({}) is not valid: use Environment, Ec2InstanceMetadata or EcsContainer (case-sensitive)",
            at(p, "credential_source")
        )));
    };
    let r = match *canonical {
        "Environment" => env_keys(run),
        "Ec2InstanceMetadata" => imds(run).await,
        _ => container(run).await,
    };
    match r {
        R::Ok(_, c, d) => Ok(Got::Creds(c, format!("credential_source {canonical}: {d}"))),
        R::Would(_, d) => Ok(Got::Described(format!(
            "credential_source {canonical}: {d}"
        ))),
        R::Next(d) => Err(R::Fail(format!(
            "credential_source {canonical} ({}) found no credentials: {d}",
            at(p, "credential_source")
        ))),
        other => Err(other),
    }
}

type Boxed<'b> = Pin<Box<dyn Future<Output = Result<Got, R>> + Send + 'b>>;

/// Assume the role of profile `name` (which has `role_arn`), resolving its source.
/// `visited` holds the profiles of the chain so far (loop detection).
pub(crate) fn assume_role<'b>(run: &'b Run<'b>, name: &'b str, visited: Vec<String>) -> Boxed<'b> {
    Box::pin(async move {
        let Some(p) = run.merged.get(name) else {
            return Err(R::Invalid(format!("profile {name} not found")));
        };
        let Some(role) = p.located("role_arn") else {
            return Err(R::Invalid(format!("profile {name} has no role_arn")));
        };
        let sp = p.get("source_profile");
        let cs = p.get("credential_source");
        let source = match (sp, cs) {
            (Some(_), Some(_)) => {
                return Err(R::Invalid(format!(
                    "The profile \"{name}\" contains both source_profile and credential_source ({}, {}); keep one",
                    at(p, "source_profile"),
                    at(p, "credential_source")
                )))
            }
            (None, None) => {
                return Err(R::Invalid(format!(
                    "Partial credentials found in assume-role, missing: source_profile or credential_source (profile {name}, role_arn at {})",
                    role.at()
                )))
            }
            (None, Some(cs)) => named_source(run, p, cs).await?,
            (Some(sp), None) => {
                let mut visited = visited;
                if visited.iter().any(|v| v == sp) && !(sp == name && has_static(p)) {
                    visited.push(sp.to_string());
                    return Err(R::Invalid(format!(
                        "infinite loop in assume-role profiles: {} ({})",
                        visited.join(" -> "),
                        at(p, "source_profile")
                    )));
                }
                visited.push(sp.to_string());
                source_profile(run, name, sp, visited).await?
            }
        };
        let req = RoleRequest {
            role_arn: role.value.clone(),
            session_name: session_name(run, p.get("role_session_name")),
            external_id: p.get("external_id").map(str::to_string),
            endpoint: sts_endpoint(run),
        };
        let what = format!(
            "AssumeRole {} (profile {name}, {}) with {}",
            role.value,
            role.at(),
            source.describe()
        );
        let source = match source {
            Got::Described(_) => return Ok(Got::Described(format!("would call {what}"))),
            Got::Creds(c, _) => c,
        };
        let Some(sts) = &run.opts.sts else {
            return Err(R::Fail(format!("{what}: no STS client is configured")));
        };
        match sts.assume_role(&source, &req).await {
            Ok(c) => Ok(Got::Creds(c, what)),
            Err(e) => Err(R::Fail(format!("{what}: {e}"))),
        }
    })
}

fn has_static(p: &Profile) -> bool {
    p.get("aws_access_key_id").is_some() && p.get("aws_secret_access_key").is_some()
}

/// Credentials of a `source_profile`.
async fn source_profile(
    run: &Run<'_>,
    from: &str,
    name: &str,
    visited: Vec<String>,
) -> Result<Got, R> {
    let Some(p) = run.merged.get(name) else {
        return Err(R::Invalid(format!(
            "The source_profile \"{name}\" referenced in the profile \"{from}\" does not exist in {}; add [profile {name}] or fix source_profile",
            run.file_paths()
        )));
    };
    let static_first = !run.sdk.is_botocore_family() || (name == from && has_static(p));
    if static_first && has_static(p) {
        if let Some(R::Ok(_, c, d)) = static_keys(p, Method::SharedCredentialsFile, run.sdk) {
            return Ok(Got::Creds(c, format!("source_profile {d}")));
        }
    }
    if p.get("role_arn").is_some() && p.get("web_identity_token_file").is_none() && name != from {
        return assume_role(run, name, visited).await;
    }
    if let (Some(tf), Some(role)) = (p.located("web_identity_token_file"), p.get("role_arn")) {
        return match web_identity(run, &tf.value, &tf.at(), role, p.get("role_session_name")).await
        {
            R::Ok(_, c, d) => Ok(Got::Creds(c, d)),
            R::Would(_, d) => Ok(Got::Described(d)),
            other => Err(other),
        };
    }
    if let Some(r) = sso(run, p) {
        return match r {
            R::Would(_, d) => Ok(Got::Described(format!("source_profile {d}"))),
            other => Err(other),
        };
    }
    if let Some(files) = &run.files {
        let mut order: Vec<(Option<&Profile>, Method)> = vec![(
            files.credentials.set.get(name),
            Method::SharedCredentialsFile,
        )];
        if let Some(r) = login(run, p) {
            return match r {
                R::Would(_, d) => Ok(Got::Described(d)),
                other => Err(other),
            };
        }
        if let Some(r) = credential_process(run, p).await {
            return match r {
                R::Ok(_, c, d) => Ok(Got::Creds(c, format!("source_profile {name}: {d}"))),
                R::Would(_, d) => Ok(Got::Described(format!("source_profile {name}: {d}"))),
                other => Err(other),
            };
        }
        order.push((files.config.set.get(name), Method::ConfigFile));
        for (prof, method) in order {
            if let Some(r) = prof.and_then(|pp| static_keys(pp, method, run.sdk)) {
                return match r {
                    R::Ok(_, c, d) => Ok(Got::Creds(c, format!("source_profile {d}"))),
                    other => Err(other),
                };
            }
        }
    }
    Err(R::Invalid(format!(
        "source_profile {name} (referenced by {from}) has no credentials: add aws_access_key_id and aws_secret_access_key to it"
    )))
}
