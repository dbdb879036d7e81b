//! The chain itself: which providers run, in which order, under whose rules. One
//! [`Run`] per resolution records every provider's [`Step`]; the SDK-specific orders
//! live in [`botocore`] (the AWS CLI v2 and botocore), [`rust`], [`go`] and [`js`], and the
//! pieces they share (environment keys, static profile keys, assume-role sources, SSO
//! and login detection) in [`sources`]. Nothing here prints a secret.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::files::{self, ProfileFiles};
use super::profile::ProfileSet;
use super::{ChainError, Credentials, Explanation, Method, Outcome, Sdk, Status, Step};
use crate::context::Context;

mod botocore;
mod go;
mod js;
mod rust;
mod sources;

/// A boxed future returned by [`StsApi`].
pub type StsFuture<'a> = Pin<Box<dyn Future<Output = Result<Credentials, String>> + Send + 'a>>;

/// What the chain asks of STS. The production client lives in `creds::sts`; tests
/// inject a fake.
pub trait StsApi: Send + Sync {
    /// `AssumeRole` with `source` credentials.
    fn assume_role<'a>(&'a self, source: &'a Credentials, req: &'a RoleRequest) -> StsFuture<'a>;
    /// `AssumeRoleWithWebIdentity` with a token read from a file.
    fn assume_role_with_web_identity<'a>(
        &'a self,
        token: &'a str,
        req: &'a RoleRequest,
    ) -> StsFuture<'a>;
}

/// A role to assume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRequest {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    /// The STS endpoint (`AWS_ENDPOINT_URL_STS`), if overridden.
    pub endpoint: Option<String>,
}

/// How to resolve.
#[derive(Clone, Default)]
pub struct Options {
    /// Whose rules (default: the AWS CLI v2).
    pub sdk: Option<Sdk>,
    /// The profile given explicitly (`--profile`, `Session(profile=…)`,
    /// `WithSharedConfigProfile`, `.profile_name()`).
    pub profile: Option<String>,
    /// Only look: no network, no process, no STS. Providers that would fetch report what
    /// they would do.
    pub probe: bool,
    /// The STS client for assume-role and web identity.
    pub sts: Option<Arc<dyn StsApi>>,
    /// Extra variables for a `credential_process` child (the profile-chain guard).
    pub child_env: Vec<(String, String)>,
    /// URL prefixes rewritten before a container request (`from`, `to`): replays of
    /// recorded traffic against a loopback server. Empty in normal use.
    pub rewrite: Vec<(String, String)>,
}

/// A provider's result inside the chain, with probe-only outcomes.
#[derive(Debug)]
pub(crate) enum R {
    /// Credentials, and a detail line.
    Ok(Method, Credentials, String),
    /// Probe mode: this provider is configured and would be tried.
    Would(Method, String),
    /// Nothing here: next.
    Next(String),
    /// Wrong configuration: stop.
    Invalid(String),
    /// Fetching failed: stop.
    Fail(String),
}

impl From<Outcome> for R {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Loaded(m, c) => R::Ok(m, c, String::new()),
            Outcome::NotLoaded(s) => R::Next(s),
            Outcome::InvalidConfiguration(s) => R::Invalid(s),
            Outcome::ProviderError(s) => R::Fail(s),
        }
    }
}

/// One resolution in progress.
pub(crate) struct Run<'a> {
    pub ctx: &'a Context,
    pub sdk: Sdk,
    pub opts: &'a Options,
    pub files: Option<ProfileFiles>,
    pub merged: ProfileSet,
    pub profile: String,
    pub profile_source: Option<String>,
    pub steps: Vec<Step>,
    pub selected: Option<(Method, Credentials)>,
    /// Probe mode's winner when nothing was fetched.
    pub would: Option<Method>,
    pub error: Option<ChainError>,
    /// When the previous provider finished.
    pub mark: std::time::Instant,
}

impl<'a> Run<'a> {
    /// Whether the chain has settled (selected or stopped).
    pub fn done(&self) -> bool {
        self.selected.is_some() || self.would.is_some() || self.error.is_some()
    }

    /// Whether providers must only look (probe mode, or the chain has settled).
    pub fn looking(&self) -> bool {
        self.opts.probe || self.done()
    }

    /// Record one provider's result.
    pub fn record(&mut self, provider: &'static str, r: R) {
        let (status, detail) = if self.error.is_some() {
            (
                Status::NotReached,
                "not reached: the chain stopped at an earlier error".to_string(),
            )
        } else if self.done() {
            match r {
                R::Ok(_, _, d) | R::Would(_, d) => (Status::Shadowed, d),
                R::Next(d) => (Status::Skipped, d),
                R::Invalid(d) | R::Fail(d) => (Status::Skipped, format!("would fail: {d}")),
            }
        } else {
            match r {
                R::Ok(m, c, d) => {
                    self.selected = Some((m, c));
                    (Status::Selected, d)
                }
                R::Would(m, d) => {
                    self.would = Some(m);
                    (Status::Selected, d)
                }
                R::Next(d) => (Status::Skipped, d),
                R::Invalid(d) => {
                    self.error = Some(ChainError::InvalidConfiguration {
                        provider,
                        message: d.clone(),
                    });
                    (Status::Error, d)
                }
                R::Fail(d) => {
                    self.error = Some(ChainError::Provider {
                        provider,
                        message: d.clone(),
                    });
                    (Status::Error, d)
                }
            }
        };
        tracing::debug!(provider, status = status.as_str(), "{detail}");
        let elapsed = self.mark.elapsed();
        self.mark = std::time::Instant::now();
        self.steps.push(Step {
            provider,
            status,
            detail,
            elapsed,
        });
    }

    /// The files' paths, for "not found in …" messages.
    pub fn file_paths(&self) -> String {
        let Some(f) = &self.files else {
            return "the config files".into();
        };
        let show = |p: &Option<String>| p.clone().unwrap_or_else(|| "(no file)".into());
        format!(
            "{} or {}",
            show(&f.config.location),
            show(&f.credentials.location)
        )
    }

    fn into_explanation(self) -> Explanation {
        let error = match (&self.selected, &self.would, self.error) {
            (None, None, None) => Some(ChainError::NoCredentials),
            (_, _, e) => e,
        };
        Explanation {
            sdk: self.sdk,
            profile: self.profile,
            profile_source: self.profile_source,
            steps: self.steps,
            selected: self.selected,
            would: self.would,
            error,
        }
    }
}

/// Resolve credentials as `opts.sdk` would in this context.
pub async fn resolve(ctx: &Context, opts: &Options) -> Explanation {
    let sdk = opts.sdk.unwrap_or(Sdk::Cli);
    let mut run = Run {
        ctx,
        sdk,
        opts,
        files: None,
        merged: ProfileSet::default(),
        profile: "default".into(),
        profile_source: None,
        steps: Vec::new(),
        selected: None,
        would: None,
        error: None,
        mark: std::time::Instant::now(),
    };
    let parse_error = match files::load(ctx, sdk) {
        Ok(f) => {
            run.merged = f.merged();
            run.files = Some(f);
            None
        }
        Err(e) => Some(e),
    };
    run.mark = std::time::Instant::now();
    match sdk {
        Sdk::Cli | Sdk::Botocore => botocore::chain(&mut run, parse_error).await,
        Sdk::Rust => rust::chain(&mut run, parse_error).await,
        Sdk::Go => go::chain(&mut run, parse_error).await,
        Sdk::Js => js::chain(&mut run, parse_error).await,
    }
    run.into_explanation()
}

/// Resolve once per SDK strap models, for real (processes run, endpoints are asked),
/// with `opts` otherwise unchanged: one explanation per SDK, in [`Sdk::ALL`] order.
pub async fn resolve_all(ctx: &Context, opts: &Options) -> Vec<Explanation> {
    let mut out = Vec::new();
    for sdk in Sdk::ALL {
        let opts = Options {
            sdk: Some(sdk),
            ..opts.clone()
        };
        out.push(resolve(ctx, &opts).await);
    }
    out
}

/// Every SDK's verdict in probe mode (no network, no process): `(sdk, winner or error)`.
pub async fn verdicts(ctx: &Context, profile: Option<String>) -> Vec<(Sdk, String)> {
    let mut out = Vec::new();
    for sdk in Sdk::ALL {
        let opts = Options {
            sdk: Some(sdk),
            profile: profile.clone(),
            probe: true,
            sts: None,
            child_env: Vec::new(),
            rewrite: Vec::new(),
        };
        let e = resolve(ctx, &opts).await;
        out.push((sdk, e.verdict()));
    }
    out
}

/// Where botocore (and the AWS CLI) read the profile files differently from the
/// specification (aws-sdk-rust), Go and the JS SDK, for `profile`: one line per difference, naming
/// the file and line.
pub fn parse_differences(ctx: &Context, profile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let loaded: Vec<(Sdk, Result<ProfileFiles, super::profile::ParseError>)> =
        [Sdk::Cli, Sdk::Rust, Sdk::Go, Sdk::Js]
            .into_iter()
            .map(|sdk| (sdk, files::load(ctx, sdk)))
            .collect();
    let label = |sdk: Sdk| match sdk {
        Sdk::Cli | Sdk::Botocore => "botocore/CLI",
        Sdk::Rust => "aws-sdk-rust",
        Sdk::Go => "Go",
        Sdk::Js => "the JS SDK",
    };
    for (sdk, r) in &loaded {
        if let Err(e) = r {
            out.push(format!("{} cannot parse the files: {e}", label(*sdk)));
        }
    }
    let sets: Vec<(Sdk, ProfileSet)> = loaded
        .into_iter()
        .filter_map(|(sdk, r)| r.ok().map(|f| (sdk, f.merged())))
        .collect();
    let mut keys: Vec<String> = sets
        .iter()
        .filter_map(|(_, s)| s.get(profile))
        .flat_map(|p| p.props.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let values: Vec<(Sdk, Option<&super::profile::Located>)> = sets
            .iter()
            .map(|(sdk, s)| (*sdk, s.get(profile).and_then(|p| p.located(&key))))
            .collect();
        let first = values.first().map(|v| v.1.map(|l| &l.value));
        if values.iter().all(|v| Some(v.1.map(|l| &l.value)) == first) {
            continue;
        }
        let shown: Vec<String> = values
            .iter()
            .map(|(sdk, l)| match l {
                Some(l) if key.contains("secret") || key.contains("token") => {
                    format!("{} reads it at {}", label(*sdk), l.at())
                }
                Some(l) if key == "aws_access_key_id" => {
                    format!(
                        "{} reads {} at {}",
                        label(*sdk),
                        crate::secret::mask_key(&l.value),
                        l.at()
                    )
                }
                Some(l) => format!("{} reads {:?} at {}", label(*sdk), l.value, l.at()),
                None => format!("{} does not see it", label(*sdk)),
            })
            .collect();
        out.push(format!("profile {profile}, {key}: {}", shown.join("; ")));
    }
    out
}

impl Explanation {
    /// The winner's method, or the error, in a few words.
    pub fn verdict(&self) -> String {
        match (&self.selected, &self.would, &self.error) {
            (Some((m, _)), _, _) => m.as_str().to_string(),
            (_, Some(m), _) => m.as_str().to_string(),
            (_, _, Some(ChainError::NoCredentials)) | (_, _, None) => "no credentials".into(),
            (_, _, Some(ChainError::InvalidConfiguration { provider, .. })) => {
                format!("stops: invalid configuration in {provider}")
            }
            (_, _, Some(ChainError::Provider { provider, .. })) => {
                format!("stops: {provider} fails")
            }
        }
    }
}

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;
