//! The chain of the AWS SDK for JavaScript v3 in Node.js (`fromNodeProviderChain` →
//! `defaultProvider` of `@aws-sdk/credential-provider-node`): env (skipped whenever a
//! profile is named, by `--profile` or `AWS_PROFILE`) → SSO options (never given here)
//! → `fromIni` on the profile merged per key from both files (assume-role → static keys
//! → web identity → `credential_process` → SSO → login) → `fromProcess` → web identity
//! from the environment → the container endpoint, or else IMDS. A profile that does not
//! exist is not an error: the chain goes on. A provider that fails "softly" (the SDK's
//! `tryNextLink`) lets the next one try; STS, unreadable token files, SSO and bodies
//! that are not JSON stop the chain.

use super::super::env_vars::*;
use super::super::net_js::{self, js_flag};
use super::super::profile::{ParseError, Profile};
use super::super::{Method, Outcome};
use super::sources::{self, Got};
use super::{Run, R};
use crate::imds::settings::PROFILE_V1_DISABLED;

/// The named `credential_source` values `fromIni` knows (exact case).
const JS_SOURCES: [&str; 3] = ["EcsContainer", "Ec2InstanceMetadata", "Environment"];

pub(super) async fn chain(run: &mut Run<'_>, parse_error: Option<ParseError>) {
    let nonempty = |k: &str| run.ctx.var(k).filter(|v| !v.is_empty());
    let (name, source) = match (&run.opts.profile, nonempty(AWS_PROFILE)) {
        (Some(p), _) if !p.is_empty() => (p.clone(), Some("--profile".to_string())),
        (_, Some(p)) => (p, Some(AWS_PROFILE.to_string())),
        _ => ("default".to_string(), None),
    };
    run.profile = name.clone();
    run.profile_source = source.clone();
    if let Some(e) = parse_error {
        // The JS reader never fails; kept for completeness.
        run.record("ini", R::Invalid(e.to_string()));
        return;
    }

    // 1. env
    let r = match &source {
        Some(s) => R::Next(format!(
            "{s} names profile {name}: fromEnv is skipped, even when both keys are set"
        )),
        None => sources::env_keys(run),
    };
    run.record("env", r);

    // 2. SSO from the provider's own options: strap passes none.
    run.record(
        "sso",
        R::Next(
            "no SSO options were given to fromNodeProviderChain (profile SSO is fromIni's)".into(),
        ),
    );

    // 3. fromIni
    let profile = run.merged.get(&name).cloned();
    let r = match &profile {
        None => R::Next(format!(
            "Could not resolve credentials using profile: [{name}]: no such profile in {}",
            run.file_paths()
        )),
        Some(p) => from_ini(run, p).await,
    };
    run.record("ini", r);

    // 4. fromProcess: the profile's credential_process, run again if fromIni failed on it.
    let r = match profile.as_ref() {
        Some(p) if p.get("credential_process").is_some() => process(run, p).await,
        Some(_) => R::Next(format!("Profile {name} did not contain credential_process")),
        None => R::Next(format!(
            "Profile {name} could not be found in shared credentials file"
        )),
    };
    run.record("custom-process", r);

    // 5. fromTokenFile from the environment.
    let r = match (
        nonempty(AWS_WEB_IDENTITY_TOKEN_FILE),
        nonempty(AWS_ROLE_ARN),
    ) {
        (Some(file), Some(role)) => {
            let session = nonempty(AWS_ROLE_SESSION_NAME);
            sources::web_identity(run, &file, AWS_WEB_IDENTITY_TOKEN_FILE, &role, session.as_deref())
                .await
        }
        _ => R::Next(format!(
            "Web identity configuration not specified: {AWS_WEB_IDENTITY_TOKEN_FILE} and {AWS_ROLE_ARN} are not both set"
        )),
    };
    run.record("assume-role-with-web-identity", r);

    // 6. remoteProvider: the container endpoint when configured, else IMDS.
    let container_set = nonempty(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI).is_some()
        || nonempty(AWS_CONTAINER_CREDENTIALS_FULL_URI).is_some();
    if container_set {
        let r = container(run).await;
        run.record("container-role", r);
        run.record(
            "iam-role",
            R::Next("not asked: the container variables are set, so remoteProvider uses the container endpoint only".into()),
        );
    } else {
        run.record(
            "container-role",
            R::Next(format!(
                "neither {AWS_CONTAINER_CREDENTIALS_RELATIVE_URI} nor {AWS_CONTAINER_CREDENTIALS_FULL_URI} is set"
            )),
        );
        let r = imds(run).await;
        run.record("iam-role", r);
    }
}

/// `resolveProfileData` for the selected profile.
async fn from_ini(run: &Run<'_>, p: &Profile) -> R {
    let sp = p.get("source_profile");
    let cs = p.get("credential_source");
    if p.get("role_arn").is_some() && (sp.is_some() != cs.is_some()) {
        if let Some(cs) = cs {
            if !JS_SOURCES.contains(&cs) {
                return R::Next(format!(
                    "Unsupported credential source in profile {}. Got {cs}, expected EcsContainer or Ec2InstanceMetadata or Environment",
                    p.name
                ));
            }
        }
        return match sources::assume_role(run, &p.name, vec![p.name.clone()]).await {
            Ok(Got::Creds(c, d)) => R::Ok(Method::AssumeRole, c, d),
            Ok(Got::Described(d)) => R::Would(Method::AssumeRole, d),
            Err(r) => r,
        };
    }
    if let Some(r) = static_keys(run, p) {
        return r;
    }
    if let (Some(tf), Some(role)) = (p.located("web_identity_token_file"), p.get("role_arn")) {
        return sources::web_identity(run, &tf.value, &tf.at(), role, p.get("role_session_name"))
            .await;
    }
    if p.get("credential_process").is_some() {
        return process(run, p).await;
    }
    let sso_keys = [
        "sso_start_url",
        "sso_account_id",
        "sso_session",
        "sso_region",
        "sso_role_name",
    ];
    if sso_keys.iter().any(|k| p.get(k).is_some()) {
        return sources::sso(run, p).unwrap_or_else(|| {
            R::Invalid(format!(
                "Profile {} is configured with invalid SSO credentials: sso_account_id, sso_region, sso_role_name and sso_start_url are required",
                p.name
            ))
        });
    }
    if let Some(r) = sources::login(run, p) {
        return r;
    }
    R::Next(format!(
        "Could not resolve credentials using profile: [{}] in configuration/credentials file(s): no aws_access_key_id and aws_secret_access_key (names are case-sensitive), role, web identity, credential_process, SSO or login",
        p.name
    ))
}

/// Static keys in the merged profile; the method names the file the key id came from.
fn static_keys(run: &Run<'_>, p: &Profile) -> Option<R> {
    let key = p.located("aws_access_key_id")?;
    let from_credentials = run.files.as_ref().is_some_and(|f| {
        f.credentials
            .location
            .as_deref()
            .is_some_and(|c| key.file == std::path::Path::new(c))
    });
    let method = if from_credentials {
        Method::SharedCredentialsFile
    } else {
        Method::ConfigFile
    };
    sources::static_keys(p, method, run.sdk)
}

/// `credential_process` under `/bin/sh -c`; a failure lets the chain go on.
async fn process(run: &Run<'_>, p: &Profile) -> R {
    match sources::credential_process(run, p).await {
        Some(R::Fail(m)) | Some(R::Invalid(m)) => R::Next(format!("{m} (the JS SDK moves on)")),
        Some(r) => r,
        None => R::Next(format!(
            "Profile {} did not contain credential_process",
            p.name
        )),
    }
}

/// The container endpoint, through `fromHttp` then `fromContainerMetadata`.
pub(crate) async fn container(run: &Run<'_>) -> R {
    let var = |k: &str| run.ctx.var(k);
    let plan = match net_js::container_plan(&var) {
        Ok(p) => p,
        Err(o) => return o.into(),
    };
    let shown = plan.http.clone();
    if run.looking() {
        return R::Would(Method::ContainerRole, format!("would GET {shown}"));
    }
    let plan = net_js::ContainerPlan {
        http: sources::rewritten(run, &plan.http),
        metadata: plan.metadata.map(|u| sources::rewritten(run, &u)),
    };
    match net_js::fetch_container(run.ctx, &plan).await {
        Outcome::Loaded(m, c) => R::Ok(m, c, format!("GET {shown}")),
        other => other.into(),
    }
}

/// The instance profile, as `fromInstanceMetadata` reads it.
pub(crate) async fn imds(run: &Run<'_>) -> R {
    if js_flag(run.ctx.var(AWS_EC2_METADATA_DISABLED).as_deref()) {
        return R::Next(format!(
            "EC2 Instance Metadata Service access disabled ({AWS_EC2_METADATA_DISABLED} is set and not 'false')"
        ));
    }
    let profile = run.merged.get(&run.profile);
    let key = |k: &str| profile.and_then(|p| p.get(k)).map(str::to_string);
    let var = |k: &str| run.ctx.var(k);
    let (base, from) = match net_js::imds_endpoint(&var, &key) {
        Ok(e) => e,
        Err(m) => return R::Invalid(m),
    };
    if run.looking() {
        return R::Would(
            Method::IamRole,
            format!(
                "would ask IMDS at {base} ({from}) for the instance profile role (if it answers)"
            ),
        );
    }
    let blocked = match run.ctx.var(AWS_EC2_METADATA_V1_DISABLED) {
        Some(v) => js_flag(Some(&v)).then(|| AWS_EC2_METADATA_V1_DISABLED.to_string()),
        None => js_flag(key(PROFILE_V1_DISABLED).as_deref())
            .then(|| format!("profile key {PROFILE_V1_DISABLED}")),
    };
    match net_js::fetch_imds(&base, blocked).await {
        Outcome::Loaded(m, c) => R::Ok(m, c, format!("instance profile from IMDS at {base}")),
        other => other.into(),
    }
}
