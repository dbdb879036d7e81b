//! The Go SDK v2's decision tree (`resolveCredentialChain`): an explicit profile → the
//! profile; env keys → env; `AWS_WEB_IDENTITY_TOKEN_FILE` → web identity; otherwise the
//! profile branch (source_profile → static keys → credential_source → web identity → SSO
//! → login → process → container → IMDS), AssumeRole wrapped around it when `role_arn` is
//! set. Go settles on one branch and never falls back.

use super::super::env_vars::*;
use super::super::profile::{ParseError, Profile};
use super::super::sts::{ENV_ENDPOINT_URL, ENV_ENDPOINT_URL_STS};
use super::super::{Method, Status, Step};
use super::sources::{self, Got};
use super::{RoleRequest, Run, R};

pub(super) async fn chain(run: &mut Run<'_>, parse_error: Option<ParseError>) {
    let nonempty = |k: &str| run.ctx.var(k).filter(|v| !v.is_empty());
    let (name, source) = if let Some(p) = &run.opts.profile {
        (p.clone(), Some("--profile".to_string()))
    } else if let Some(p) = nonempty(AWS_PROFILE) {
        (p, Some(AWS_PROFILE.to_string()))
    } else if let Some(p) = nonempty(AWS_DEFAULT_PROFILE) {
        (p, Some(AWS_DEFAULT_PROFILE.to_string()))
    } else {
        ("default".to_string(), None)
    };
    run.profile = name.clone();
    run.profile_source = source.clone();
    if let Some(e) = parse_error {
        run.record("profile", R::Invalid(e.to_string()));
        return;
    }
    let exists = run.files.as_ref().is_some_and(|f| f.has_profile(&name));
    let must_exist = matches!(source.as_deref(), Some("--profile") | Some(AWS_PROFILE));
    if must_exist && !exists {
        let msg = format!(
            "failed to get shared config profile, {name} (named by {}; not in {})",
            source.as_deref().unwrap_or(""),
            run.file_paths()
        );
        run.record("profile", R::Invalid(msg));
        return;
    }
    let explicit = run.opts.profile.is_some();
    if !explicit {
        let r = sources::env_keys(run);
        run.record("env", r);
        if run.done() {
            return;
        }
        if let Some(file) = nonempty(AWS_WEB_IDENTITY_TOKEN_FILE) {
            let r = match nonempty(AWS_ROLE_ARN) {
                None => R::Invalid(format!(
                    "{AWS_WEB_IDENTITY_TOKEN_FILE} is set but the role ARN is not set ({AWS_ROLE_ARN})"
                )),
                Some(role) => {
                    let session = run.ctx.var(AWS_ROLE_SESSION_NAME);
                    sources::web_identity(run, &file, AWS_WEB_IDENTITY_TOKEN_FILE, &role, session.as_deref())
                        .await
                }
            };
            run.record("assume-role-with-web-identity", r);
            return;
        }
    } else {
        run.steps.push(Step {
            elapsed: std::time::Duration::ZERO,
            provider: "env",
            status: Status::Skipped,
            detail: "skipped because the profile was set explicitly".into(),
        });
    }
    let p = if exists {
        run.merged.get(&name).cloned().unwrap_or_default()
    } else {
        Profile {
            name: name.clone(),
            ..Profile::default()
        }
    };
    let r = profile_branch(run, &p).await;
    let provider = match &r {
        R::Ok(m, _, _) | R::Would(m, _) => m.as_str(),
        _ => "profile",
    };
    run.record(provider, r);
}

async fn profile_branch(run: &Run<'_>, p: &Profile) -> R {
    let kinds: Vec<&str> = [
        "source_profile",
        "credential_source",
        "credential_process",
        "web_identity_token_file",
    ]
    .into_iter()
    .filter(|k| p.get(k).is_some())
    .collect();
    if kinds.len() > 1 {
        return R::Invalid(format!(
            "only one credential type may be specified per profile: profile {} has {}",
            p.name,
            kinds.join(", ")
        ));
    }
    let role = p.get("role_arn");
    if role.is_some() && p.get("source_profile").is_some() {
        return wrap(sources::assume_role(run, &p.name, vec![p.name.clone()]).await);
    }
    if let Some(r) = go_static(run, p) {
        return r;
    }
    if p.get("credential_source").is_some() {
        if role.is_none() {
            return R::Invalid(format!(
                "profile {}: credential_source requires role_arn (CredentialRequiresARNError)",
                p.name
            ));
        }
        return wrap(sources::assume_role(run, &p.name, vec![p.name.clone()]).await);
    }
    if let Some(tf) = p.located("web_identity_token_file") {
        let Some(role) = role else {
            return R::Invalid(format!(
                "web_identity_token_file at {} requires role_arn (CredentialRequiresARNError)",
                tf.at()
            ));
        };
        return sources::web_identity(run, &tf.value, &tf.at(), role, p.get("role_session_name"))
            .await;
    }
    let base = if let Some(r) = sources::sso(run, p) {
        r
    } else if let Some(r) = sources::login(run, p) {
        r
    } else if let Some(r) = sources::credential_process(run, p).await {
        r
    } else {
        match sources::container(run).await {
            R::Next(_) => sources::imds(run).await,
            r => r,
        }
    };
    let Some(role) = role else {
        return base;
    };
    match base {
        R::Would(_, d) => R::Would(
            Method::AssumeRole,
            format!("would call AssumeRole {role} with {d} (role_arn without a source)"),
        ),
        R::Ok(_, c, d) => {
            let what = format!("AssumeRole {role} with {d} (role_arn without a source)");
            let Some(sts) = &run.opts.sts else {
                return R::Fail(format!("{what}: no STS client is configured"));
            };
            let req = RoleRequest {
                role_arn: role.to_string(),
                session_name: p
                    .get("role_session_name")
                    .map(str::to_string)
                    .unwrap_or_else(|| "aws-go-sdk".into()),
                external_id: p.get("external_id").map(str::to_string),
                endpoint: run
                    .ctx
                    .var(ENV_ENDPOINT_URL_STS)
                    .or_else(|| run.ctx.var(ENV_ENDPOINT_URL)),
            };
            match sts.assume_role(&c, &req).await {
                Ok(c) => R::Ok(Method::AssumeRole, c, what),
                Err(e) => R::Fail(format!("{what}: {e}")),
            }
        }
        other => other,
    }
}

/// Go's static keys: the pair moves together from the credentials file if that section
/// has both, else from the config file; half a pair anywhere is an error.
fn go_static(run: &Run<'_>, p: &Profile) -> Option<R> {
    let files = run.files.as_ref()?;
    let mut partial = None;
    for (set, method) in [
        (&files.credentials.set, Method::SharedCredentialsFile),
        (&files.config.set, Method::ConfigFile),
    ] {
        let Some(section) = set.get(&p.name) else {
            continue;
        };
        match sources::static_keys(section, method, run.sdk) {
            Some(R::Ok(m, c, d)) => return Some(R::Ok(m, c, d)),
            Some(other) => partial = partial.or(Some(other)),
            None => {}
        }
    }
    partial
}

fn wrap(r: Result<Got, R>) -> R {
    match r {
        Ok(Got::Creds(c, d)) => R::Ok(Method::AssumeRole, c, d),
        Ok(Got::Described(d)) => R::Would(Method::AssumeRole, d),
        Err(r) => r,
    }
}
