//! The chain's link to the STS client ([`super::sts`]): an [`StsApi`] that signs
//! `AssumeRole` with the source credentials and sends `AssumeRoleWithWebIdentity`, at the
//! endpoint the SDKs would use (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, else the
//! regional endpoint).

use std::sync::OnceLock;

use super::chain::{RoleRequest, StsApi, StsFuture};
use super::env_vars::{AWS_DEFAULT_REGION, AWS_REGION};
use super::{sts, Credentials};
use crate::context::Context;
use crate::secret::Secret;

/// The region STS is called in when none is configured (botocore's global endpoint lives
/// there).
pub const DEFAULT_STS_REGION: &str = "us-east-1";

/// The real STS, for the chain.
pub struct RealSts {
    ctx: Context,
    region: String,
    /// Built on the first call: most resolutions never reach STS, and a TLS client's
    /// set-up (roots, crypto provider, proxy rules from the environment) is most of what
    /// a `strap creds` run would otherwise spend before the chain starts.
    http: OnceLock<Result<reqwest::Client, String>>,
}

impl RealSts {
    /// STS in `region` (or the environment's region, or [`DEFAULT_STS_REGION`]).
    pub fn new(ctx: &Context, region: Option<String>) -> Self {
        let region = region
            .or_else(|| ctx.var(AWS_REGION))
            .or_else(|| ctx.var(AWS_DEFAULT_REGION))
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_STS_REGION.to_string());
        Self {
            ctx: ctx.clone(),
            region,
            http: OnceLock::new(),
        }
    }

    /// The region calls are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The HTTP client, built on first use.
    pub fn http(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(sts::DEFAULT_TIMEOUT)
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client for STS: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The endpoint for a request.
    pub fn endpoint(&self, configured: Option<&str>) -> Result<String, String> {
        match configured {
            Some(e) => Ok(e.to_string()),
            None => {
                sts::resolve_endpoint(&self.ctx, &self.region, &|_| None).map_err(|e| e.to_string())
            }
        }
    }
}

impl StsApi for RealSts {
    fn assume_role<'a>(&'a self, source: &'a Credentials, req: &'a RoleRequest) -> StsFuture<'a> {
        Box::pin(async move {
            let endpoint = self.endpoint(req.endpoint.as_deref())?;
            let request = sts::AssumeRoleRequest {
                role_arn: req.role_arn.clone(),
                role_session_name: req.session_name.clone(),
                duration_seconds: None,
                external_id: req.external_id.clone(),
            };
            sts::assume_role(self.http()?, &endpoint, &self.region, source, &request)
                .await
                .map(|r| r.credentials)
                .map_err(|e| e.to_string())
        })
    }

    fn assume_role_with_web_identity<'a>(
        &'a self,
        token: &'a str,
        req: &'a RoleRequest,
    ) -> StsFuture<'a> {
        Box::pin(async move {
            let endpoint = self.endpoint(req.endpoint.as_deref())?;
            let token = Secret::new(token.to_string());
            sts::assume_role_with_web_identity(
                self.http()?,
                &endpoint,
                &req.role_arn,
                &req.session_name,
                &token,
                None,
            )
            .await
            .map(|r| r.credentials)
            .map_err(|e| e.to_string())
        })
    }
}
