//! The chain of botocore and the AWS CLI v2: profile selection (`AWS_PROFILE` first in
//! the CLI, `AWS_DEFAULT_PROFILE` first in botocore, a missing named profile is an error),
//! then env → assume-role → web identity → sso → credentials file → login → process →
//! config file → container → IMDS.

use super::super::env_vars::*;
use super::super::profile::ParseError;
use super::super::{ChainError, Method, Sdk, Status, Step};
use super::sources::{self, Got};
use super::{Run, R};

/// The profile name and where it came from, as botocore or the CLI pick it.
fn select_profile(run: &Run<'_>) -> (String, Option<String>) {
    if let Some(p) = &run.opts.profile {
        return (p.clone(), Some("--profile".into()));
    }
    let order = if run.sdk == Sdk::Cli {
        [AWS_PROFILE, AWS_DEFAULT_PROFILE]
    } else {
        [AWS_DEFAULT_PROFILE, AWS_PROFILE]
    };
    for v in order {
        if let Some(name) = run.ctx.var(v) {
            return (name, Some(v.to_string()));
        }
    }
    ("default".into(), None)
}

pub(super) async fn chain(run: &mut Run<'_>, parse_error: Option<ParseError>) {
    let (name, source) = select_profile(run);
    run.profile = name.clone();
    run.profile_source = source.clone();
    if let Some(e) = parse_error {
        let message = format!("Unable to parse config file: {e}");
        run.steps.push(Step {
            elapsed: std::time::Duration::ZERO,
            provider: "profile",
            status: Status::Error,
            detail: message.clone(),
        });
        run.error = Some(ChainError::InvalidConfiguration {
            provider: "profile",
            message,
        });
        return;
    }
    let exists = run.files.as_ref().is_some_and(|f| f.has_profile(&name));
    if let Some(src) = &source {
        if !exists {
            let names = run
                .files
                .as_ref()
                .map(|f| f.profile_names().join(", "))
                .unwrap_or_default();
            let message = format!(
                "The config profile ({name}) could not be found (named by {src}) in {}; profiles found: [{names}]",
                run.file_paths()
            );
            run.steps.push(Step {
                elapsed: std::time::Duration::ZERO,
                provider: "profile",
                status: Status::Error,
                detail: message.clone(),
            });
            run.error = Some(ChainError::InvalidConfiguration {
                provider: "profile",
                message,
            });
            return;
        }
    }
    let explicit = run.opts.profile.is_some();
    let profile = run.merged.get(&name).cloned().unwrap_or_default();

    // 1. env
    let r = if explicit {
        R::Next("skipped because the profile was set explicitly with --profile".into())
    } else {
        sources::env_keys(run)
    };
    run.record("env", r);

    // 2. assume-role
    let r = if profile.get("role_arn").is_some() && profile.get("web_identity_token_file").is_none()
    {
        match sources::assume_role(run, &name, vec![name.clone()]).await {
            Ok(Got::Creds(c, d)) => R::Ok(Method::AssumeRole, c, d),
            Ok(Got::Described(d)) => R::Would(Method::AssumeRole, d),
            Err(r) => r,
        }
    } else {
        R::Next(format!("profile {name} has no role_arn"))
    };
    run.record("assume-role", r);

    // 3. web identity: each key from env first, then the profile.
    let env_or = |var: &str, key: &str| -> Option<(String, String)> {
        if !explicit {
            if let Some(v) = run.ctx.var(var) {
                return Some((v, var.to_string()));
            }
        }
        profile
            .located(key)
            .map(|l| (l.value.clone(), format!("{key} at {}", l.at())))
    };
    let r = match env_or(AWS_WEB_IDENTITY_TOKEN_FILE, "web_identity_token_file") {
        None => R::Next(format!(
            "neither {AWS_WEB_IDENTITY_TOKEN_FILE} nor web_identity_token_file in profile {name} is set"
        )),
        Some((file, from)) => match env_or(AWS_ROLE_ARN, "role_arn") {
            None => R::Invalid(format!(
                "the web identity token file {file} ({from}) has no role ARN configured: set {AWS_ROLE_ARN} or role_arn"
            )),
            Some((role, _)) => {
                let session = env_or(AWS_ROLE_SESSION_NAME, "role_session_name").map(|s| s.0);
                sources::web_identity(run, &file, &from, &role, session.as_deref()).await
            }
        },
    };
    run.record("assume-role-with-web-identity", r);

    // 4. sso
    let r = sources::sso(run, &profile).unwrap_or_else(|| {
        R::Next(format!(
            "profile {name} has no sso_account_id or sso_role_name"
        ))
    });
    run.record("sso", r);

    // 5. shared credentials file
    let creds_profile = run
        .files
        .as_ref()
        .and_then(|f| f.credentials.set.get(&name).cloned());
    let r = creds_profile
        .as_ref()
        .and_then(|p| sources::static_keys(p, Method::SharedCredentialsFile, run.sdk))
        .unwrap_or_else(|| {
            R::Next(format!(
                "no aws_access_key_id for [{name}] in the credentials file {}",
                location(run, true)
            ))
        });
    run.record("shared-credentials-file", r);

    // 6. login
    let r = sources::login(run, &profile)
        .unwrap_or_else(|| R::Next(format!("profile {name} has no login_session")));
    run.record("login", r);

    // 7. custom process
    let r = match sources::credential_process(run, &profile).await {
        Some(r) => r,
        None => R::Next(format!("profile {name} has no credential_process")),
    };
    run.record("custom-process", r);

    // 8. config file
    let config_profile = run
        .files
        .as_ref()
        .and_then(|f| f.config.set.get(&name).cloned());
    let r = config_profile
        .as_ref()
        .and_then(|p| sources::static_keys(p, Method::ConfigFile, run.sdk))
        .unwrap_or_else(|| {
            R::Next(format!(
                "no aws_access_key_id for profile {name} in the config file {}",
                location(run, false)
            ))
        });
    run.record("config-file", r);

    // 9, 10. legacy files
    let r = match run.ctx.var(AWS_CREDENTIAL_FILE) {
        Some(f) => R::Next(format!(
            "{AWS_CREDENTIAL_FILE}={f} is set, but strap does not read EC2-tools credential files"
        )),
        None => R::Next(format!("{AWS_CREDENTIAL_FILE} is not set")),
    };
    run.record("ec2-credentials-file", r);

    // 11. container
    let r = sources::container(run).await;
    run.record("container-role", r);

    // 12. IMDS
    let r = sources::imds(run).await;
    run.record("iam-role", r);
}

fn location(run: &Run<'_>, credentials: bool) -> String {
    let Some(f) = &run.files else {
        return "(unread)".into();
    };
    let file = if credentials {
        &f.credentials
    } else {
        &f.config
    };
    match (&file.location, file.exists) {
        (Some(p), true) => p.clone(),
        (Some(p), false) => format!("{p} (missing)"),
        (None, _) => "(none)".into(),
    }
}
