//! The chain of aws-sdk-rust (`DefaultCredentialsChain`): Environment → Profile (inside
//! it: role_arn → credential_source → web identity → SSO → login → process → static keys,
//! files merged) → WebIdentityToken (env) → EcsContainer → Ec2InstanceMetadata. A missing
//! profile falls through; env keys are never disabled.

use super::super::env_vars::*;
use super::super::profile::ParseError;
use super::super::Method;
use super::sources::{self, Got};
use super::{Run, R};

pub(super) async fn chain(run: &mut Run<'_>, parse_error: Option<ParseError>) {
    let (name, source) = match (&run.opts.profile, run.ctx.var(AWS_PROFILE)) {
        (Some(p), _) => (p.clone(), Some("--profile".to_string())),
        (None, Some(p)) => (p, Some(AWS_PROFILE.to_string())),
        (None, None) => ("default".to_string(), None),
    };
    run.profile = name.clone();
    run.profile_source = source;

    let r = sources::env_keys(run);
    run.record("env", r);

    let r = match parse_error {
        Some(e) => R::Invalid(e.to_string()),
        None => profile(run, &name).await,
    };
    run.record("profile", r);

    let r = match (
        run.ctx.var(AWS_WEB_IDENTITY_TOKEN_FILE),
        run.ctx.var(AWS_ROLE_ARN),
    ) {
        (Some(file), Some(role)) => {
            let session = run.ctx.var(AWS_ROLE_SESSION_NAME);
            sources::web_identity(
                run,
                &file,
                AWS_WEB_IDENTITY_TOKEN_FILE,
                &role,
                session.as_deref(),
            )
            .await
        }
        (Some(_), None) => R::Next(format!("{AWS_ROLE_ARN} environment variable must be set")),
        _ => R::Next(format!("{AWS_WEB_IDENTITY_TOKEN_FILE} is not set")),
    };
    run.record("assume-role-with-web-identity", r);

    let r = sources::container(run).await;
    run.record("container-role", r);

    let r = sources::imds(run).await;
    run.record("iam-role", r);
}

async fn profile(run: &Run<'_>, name: &str) -> R {
    let Some(files) = &run.files else {
        return R::Next("no profile files".into());
    };
    if files.profile_names().is_empty() {
        return R::Next(format!("no profiles are defined in {}", run.file_paths()));
    }
    let Some(p) = run.merged.get(name) else {
        return R::Next(format!(
            "profile {name} is not defined in {} (aws-sdk-rust moves on)",
            run.file_paths()
        ));
    };
    if p.get("role_arn").is_some() && p.get("web_identity_token_file").is_none() {
        return match sources::assume_role(run, name, vec![name.to_string()]).await {
            Ok(Got::Creds(c, d)) => R::Ok(Method::AssumeRole, c, d),
            Ok(Got::Described(d)) => R::Would(Method::AssumeRole, d),
            Err(r) => r,
        };
    }
    if let Some(cs) = p.get("credential_source") {
        return match sources::named_source(run, p, cs).await {
            Ok(Got::Creds(c, d)) => {
                let m = match cs.to_ascii_lowercase().as_str() {
                    "environment" => Method::Env,
                    "ec2instancemetadata" => Method::IamRole,
                    _ => Method::ContainerRole,
                };
                R::Ok(m, c, format!("{d} (used directly: no role_arn)"))
            }
            Ok(Got::Described(d)) => R::Would(Method::Env, d),
            Err(r) => r,
        };
    }
    if let Some(tf) = p.located("web_identity_token_file") {
        let Some(role) = p.get("role_arn") else {
            return R::Invalid(format!(
                "`web_identity_token_file` was specified ({}) but `role_arn` was missing in profile {name}",
                tf.at()
            ));
        };
        return sources::web_identity(run, &tf.value, &tf.at(), role, p.get("role_session_name"))
            .await;
    }
    if let Some(r) = sources::sso(run, p) {
        return r;
    }
    if let Some(r) = sources::login(run, p) {
        return r;
    }
    if let Some(r) = sources::credential_process(run, p).await {
        return r;
    }
    let method = if files
        .credentials
        .set
        .get(name)
        .is_some_and(|c| c.get("aws_access_key_id").is_some())
    {
        Method::SharedCredentialsFile
    } else {
        Method::ConfigFile
    };
    match sources::static_keys(p, method, run.sdk) {
        Some(r) => r,
        None => R::Next(format!(
            "profile {name} did not contain credentials (no keys, role, process or SSO)"
        )),
    }
}
