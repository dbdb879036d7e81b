//! `strap creds …`: explain and export over the credential chain.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::context::Context;
use crate::creds::chain::{self, Options};
use crate::creds::export::{self, Format};
use crate::creds::serve::{source_fn, CredentialServer, ServeOptions, SourceError};
use crate::creds::sts_bridge::RealSts;
use crate::creds::{sts, ChainError, Credentials, Explanation, Sdk};
use crate::secret::mask_key;

/// The variable that carries the profiles a `credential_process` chain went through
/// (shared with `aws configure export-credentials`, so the two guard each other).
pub const PROFILE_CHAIN_VAR: &str = "_AWS_CLI_PROFILE_CHAIN";
/// How deep `credential_process = strap creds export` may recurse.
pub const MAX_PROFILE_CHAIN: usize = 4;
/// Exit status when no credentials could be resolved (the AWS CLI's 253).
pub const EXIT_NO_CREDENTIALS: u8 = 253;

/// Credential subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum CredsCommand {
    /// Every provider of the chain in order, with its status and the reason.
    Explain(ExplainArgs),
    /// Print the resolved credentials as `aws configure export-credentials` does.
    Export(ExportArgs),
    /// Serve the resolved credentials as a container-credentials endpoint; prints the
    /// two variables a client needs, then serves until interrupted.
    Serve(ServeArgs),
    /// Who the resolved credentials belong to (STS GetCallerIdentity).
    Whoami(WhoamiArgs),
}

// `strap creds serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// `HOST:PORT` to listen on (loopback only).
    #[arg(long, default_value = crate::creds::serve::DEFAULT_LISTEN)]
    pub listen: String,
}

// `strap creds whoami`.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
}

// Options every credential subcommand shares.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Use this profile, as `aws --profile` does (environment keys are then ignored
    /// by the CLI, botocore and Go, not by aws-sdk-rust).
    #[arg(long)]
    pub profile: Option<String>,
    /// Follow this SDK's order and rules: `cli` the AWS CLI v2 (aws-cli v2 @ 73fb33bb,
    /// checked against 2.9.19), `botocore` (develop @ 0e6e2404, checked against 1.43.11),
    /// `rust` aws-sdk-rust's aws-config (1.13.0), `go` aws-sdk-go-v2's config, `js` the
    /// AWS SDK for JavaScript v3 in Node.js (`fromNodeProviderChain` of
    /// @aws-sdk/credential-providers 3.1178.0: credential-provider-node 3.972.99,
    /// @smithy/core 3.41.1, @smithy/credential-provider-imds 4.5.2).
    #[arg(long, default_value = "cli", value_parser = ["cli", "botocore", "rust", "go", "js"])]
    pub sdk: String,
}

impl ChainArgs {
    fn options(&self, ctx: &Context) -> anyhow::Result<Options> {
        let sdk: Sdk = self.sdk.parse().map_err(anyhow::Error::msg)?;
        Ok(Options {
            sdk: Some(sdk),
            profile: self.profile.clone(),
            probe: false,
            sts: Some(Arc::new(sts_client(ctx))),
            child_env: Vec::new(),
            rewrite: Vec::new(),
        })
    }
}

// `strap creds explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Print JSON: `{"selected": {…} | null, "providers": [{"provider","status","detail"}]}`.
    #[arg(long)]
    pub json: bool,
    /// Resolve once per SDK (cli, botocore, rust, go, js) for real and print one row
    /// each: the winner and its key id masked, or the error. `--sdk` then only chooses
    /// the exit status.
    #[arg(long)]
    pub all_sdks: bool,
}

// `strap creds export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "process")]
    pub format: Format,
}

/// The STS client the chain uses for assume-role and web identity (its HTTP client is
/// built when a provider first calls STS).
fn sts_client(ctx: &Context) -> RealSts {
    RealSts::new(ctx, None)
}

/// Run a credential subcommand.
pub async fn run(cmd: CredsCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        CredsCommand::Explain(args) => explain(args, ctx).await,
        CredsCommand::Export(args) => export_cmd(args, ctx).await,
        CredsCommand::Serve(args) => serve_cmd(args, ctx).await,
        CredsCommand::Whoami(args) => whoami(args, ctx).await,
    }
}

async fn explain(args: ExplainArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let opts = args.chain.options(ctx)?;
    if args.all_sdks {
        return explain_all(&args, &opts, ctx).await;
    }
    let e = chain::resolve(ctx, &opts).await;
    let others = chain::verdicts(ctx, args.chain.profile.clone()).await;
    let diffs = chain::parse_differences(ctx, &e.profile);
    let text = if args.json {
        let mut j = explain_json(&e, &others);
        j["parse_differences"] = serde_json::json!(diffs);
        let mut s = serde_json::to_string_pretty(&j)?;
        s.push('\n');
        s
    } else {
        let mut t = explain_text(&e, &others);
        for d in &diffs {
            t.push_str(&format!("parsed differently: {d}\n"));
        }
        t
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(if e.selected.is_some() || e.would.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NO_CREDENTIALS)
    })
}

/// `explain --all-sdks`: one row (or JSON object) per SDK.
async fn explain_all(
    args: &ExplainArgs,
    opts: &Options,
    ctx: &Context,
) -> anyhow::Result<ExitCode> {
    let all = chain::resolve_all(ctx, opts).await;
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&all_sdks_json(&all))?;
        s.push('\n');
        s
    } else {
        all_sdks_text(&all)
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    let mine = all.iter().find(|e| Some(e.sdk) == opts.sdk);
    Ok(if mine.is_some_and(|e| e.selected.is_some()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NO_CREDENTIALS)
    })
}

/// One SDK's row: `(winner, masked key, error)`.
fn sdk_row(e: &Explanation) -> (String, String, String) {
    match (&e.selected, &e.error) {
        (Some((m, c)), _) => (
            m.as_str().to_string(),
            mask_key(&c.access_key_id),
            String::new(),
        ),
        (None, Some(err)) => ("-".into(), "-".into(), err.to_string()),
        (None, None) => ("-".into(), "-".into(), "no credentials".into()),
    }
}

/// The `--all-sdks` table (keys masked).
pub fn all_sdks_text(all: &[Explanation]) -> String {
    let mut out = format!(
        "{:<9}  {:<14}  {:<29}  {:<20}  ERROR\n",
        "SDK", "PROFILE", "WINNER", "ACCESS KEY"
    );
    for e in all {
        let (winner, key, error) = sdk_row(e);
        out.push_str(
            format!(
                "{:<9}  {:<14}  {:<29}  {:<20}  {}\n",
                e.sdk.as_str(),
                e.profile,
                winner,
                key,
                error.replace('\n', " ")
            )
            .trim_end(),
        );
        out.push('\n');
    }
    out
}

/// The `--all-sdks` JSON: `{"sdks": [{"sdk","models","profile","selected","error"}]}`.
pub fn all_sdks_json(all: &[Explanation]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = all
        .iter()
        .map(|e| {
            serde_json::json!({
                "sdk": e.sdk.as_str(),
                "models": e.sdk.models(),
                "profile": e.profile,
                "selected": e.selected.as_ref().map(|(m, c)| serde_json::json!({
                    "method": m.as_str(),
                    "access_key_id": mask_key(&c.access_key_id),
                    "expiration": c.expiration.as_ref().map(export::isoformat),
                })),
                "error": e.error.as_ref().map(|x| x.to_string()),
            })
        })
        .collect();
    serde_json::json!({ "sdks": rows })
}

/// The JSON form of an explanation (keys masked).
pub fn explain_json(e: &Explanation, others: &[(Sdk, String)]) -> serde_json::Value {
    let selected = e.selected.as_ref().map(|(m, c)| {
        serde_json::json!({
            "provider": m.as_str(),
            "method": m.as_str(),
            "access_key_id": mask_key(&c.access_key_id),
            "expiration": c.expiration.as_ref().map(export::isoformat),
        })
    });
    let providers: Vec<serde_json::Value> = e
        .steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "provider": s.provider,
                "status": s.status.as_str(),
                "detail": s.detail,
                "elapsed_ms": s.elapsed.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    let sdks: serde_json::Map<String, serde_json::Value> = others
        .iter()
        .map(|(sdk, v)| {
            (
                sdk.as_str().to_string(),
                serde_json::Value::String(v.clone()),
            )
        })
        .collect();
    serde_json::json!({
        "sdk": e.sdk.as_str(),
        "profile": e.profile,
        "profile_source": e.profile_source,
        "selected": selected,
        "error": e.error.as_ref().map(|x| x.to_string()),
        "providers": providers,
        "sdks": sdks,
    })
}

/// The table form of an explanation (keys masked).
pub fn explain_text(e: &Explanation, others: &[(Sdk, String)]) -> String {
    let mut out = String::new();
    let source = e
        .profile_source
        .as_deref()
        .map(|s| format!("from {s}"))
        .unwrap_or_else(|| "not set".into());
    out.push_str(&format!("profile: {} ({source})\n", e.profile));
    out.push_str(&format!("rules:   {}\n\n", e.sdk.as_str()));
    let width = e
        .steps
        .iter()
        .map(|s| s.provider.len())
        .max()
        .unwrap_or(8)
        .max(8);
    out.push_str(&format!(
        " #  {:<width$}  {:<11}  {:>8}  DETAIL\n",
        "PROVIDER", "STATUS", "TIME"
    ));
    for (i, s) in e.steps.iter().enumerate() {
        out.push_str(&format!(
            "{:>2}  {:<width$}  {:<11}  {:>8}  {}\n",
            i + 1,
            s.provider,
            s.status.as_str(),
            format_elapsed(s.elapsed),
            s.detail.replace('\n', " ")
        ));
    }
    out.push('\n');
    match (&e.selected, &e.error) {
        (Some((m, c)), _) => {
            out.push_str(&format!(
                "selected: {}  access_key {}",
                m.as_str(),
                mask_key(&c.access_key_id)
            ));
            if let Some(x) = &c.expiration {
                out.push_str(&format!("  expires {}", export::isoformat(x)));
            }
            out.push('\n');
        }
        (None, Some(err)) => out.push_str(&format!("no credentials: {err}\n")),
        (None, None) => out.push_str("no credentials\n"),
    }
    // The verdicts are judged from the configuration alone (no network, no process), so
    // compare like with like: this SDK's own verdict from the same probe.
    let mine = others
        .iter()
        .find(|(sdk, _)| *sdk == e.sdk)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| e.verdict());
    let differ: Vec<String> = others
        .iter()
        .filter(|(sdk, v)| *sdk != e.sdk && *v != mine)
        .map(|(sdk, v)| format!("{} → {v}", sdk.as_str()))
        .collect();
    if !differ.is_empty() {
        out.push_str(&format!(
            "SDKs disagree here (judged from the configuration): {} → {mine}; {}\n",
            e.sdk.as_str(),
            differ.join("; ")
        ));
    }
    out
}

/// A provider's time for the table: `0.3ms`, `12ms`, `1.02s`.
fn format_elapsed(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// The profile chain from the environment, with `profile` appended; an error on a loop
/// or when the chain is too deep.
fn profile_chain(ctx: &Context, profile: &str) -> anyhow::Result<String> {
    let seen: Vec<String> = ctx
        .var(PROFILE_CHAIN_VAR)
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if seen.iter().any(|p| p == profile) {
        let mut cycle = seen.clone();
        cycle.push(profile.to_string());
        anyhow::bail!(
            "Credential process resolution detected an infinite loop, profile cycle: {}",
            cycle.join(" -> ")
        );
    }
    if seen.len() >= MAX_PROFILE_CHAIN {
        anyhow::bail!(
            "Maximum recursive credential process resolution reached ({MAX_PROFILE_CHAIN})"
        );
    }
    let mut all = seen;
    all.push(profile.to_string());
    Ok(all.join(","))
}

async fn export_cmd(args: ExportArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let mut opts = args.chain.options(ctx)?;
    let profile = args
        .chain
        .profile
        .clone()
        .or_else(|| ctx.var(crate::creds::env_vars::AWS_PROFILE))
        .or_else(|| ctx.var(crate::creds::env_vars::AWS_DEFAULT_PROFILE))
        .unwrap_or_else(|| "default".into());
    let chain_value = match profile_chain(ctx, &profile) {
        Ok(v) => v,
        Err(err) => {
            crate::say!("Unable to retrieve credentials: {err}");
            return Ok(ExitCode::from(EXIT_NO_CREDENTIALS));
        }
    };
    opts.child_env = vec![(PROFILE_CHAIN_VAR.to_string(), chain_value)];
    let e = chain::resolve(ctx, &opts).await;
    let Some((method, creds)) = &e.selected else {
        let why = match &e.error {
            Some(crate::creds::ChainError::NoCredentials) | None => "no credentials found".into(),
            Some(err) => err.to_string(),
        };
        crate::say!("Unable to retrieve credentials: {why}");
        return Ok(ExitCode::from(EXIT_NO_CREDENTIALS));
    };
    tracing::info!(method = method.as_str(), "exporting credentials");
    std::io::stdout()
        .write_all(export::render(creds, args.format).as_bytes())
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Resolve the chain to credentials, or the error as `export` words it.
async fn resolve_credentials(ctx: &Context, opts: &Options) -> Result<Credentials, String> {
    let e = chain::resolve(ctx, opts).await;
    match (e.selected, e.error) {
        (Some((_, c)), _) => Ok(c),
        (None, Some(ChainError::NoCredentials)) | (None, None) => {
            Err("no credentials found".into())
        }
        (None, Some(err)) => Err(err.to_string()),
    }
}

async fn whoami(args: WhoamiArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let opts = args.chain.options(ctx)?;
    let creds = match resolve_credentials(ctx, &opts).await {
        Ok(c) => c,
        Err(why) => {
            crate::say!("Unable to retrieve credentials: {why}");
            return Ok(ExitCode::from(EXIT_NO_CREDENTIALS));
        }
    };
    let client = sts_client(ctx);
    let endpoint = client.endpoint(None).map_err(anyhow::Error::msg)?;
    let http = client.http().map_err(anyhow::Error::msg)?;
    let id = sts::get_caller_identity(http, &endpoint, client.region(), &creds)
        .await
        .context("cannot ask STS who these credentials belong to")?;
    let text = format!(
        "{{\n    \"UserId\": {},\n    \"Account\": {},\n    \"Arn\": {}\n}}\n",
        serde_json::Value::String(id.user_id),
        serde_json::Value::String(id.account),
        serde_json::Value::String(id.arn)
    );
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

async fn serve_cmd(args: ServeArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let opts = args.chain.options(ctx)?;
    // Fail early, with the chain's own words, when there is nothing to serve.
    if let Err(why) = resolve_credentials(ctx, &opts).await {
        crate::say!("Unable to retrieve credentials: {why}");
        return Ok(ExitCode::from(EXIT_NO_CREDENTIALS));
    }
    let source_ctx = ctx.clone();
    let source = source_fn(move || {
        let ctx = source_ctx.clone();
        let opts = opts.clone();
        async move {
            resolve_credentials(&ctx, &opts)
                .await
                .map_err(SourceError::from)
        }
    });
    let options = ServeOptions {
        listen: args.listen,
        ..ServeOptions::default()
    };
    let server = CredentialServer::bind(ctx, source, options).await?;
    let mut out = std::io::stdout();
    out.write_all(server.env_lines().as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_chain_detects_loops_and_depth() {
        let ctx = Context::fixed([(PROFILE_CHAIN_VAR, "a,b")], "/");
        assert_eq!(profile_chain(&ctx, "c").unwrap(), "a,b,c");
        let e = profile_chain(&ctx, "a").unwrap_err().to_string();
        assert!(e.contains("a -> b -> a"), "{e}");
        let ctx = Context::fixed([(PROFILE_CHAIN_VAR, "a,b,c,d")], "/");
        assert!(profile_chain(&ctx, "e")
            .unwrap_err()
            .to_string()
            .contains("(4)"));
    }

    #[tokio::test]
    async fn explain_json_has_the_documented_shape_and_masks_keys() {
        let ctx = Context::fixed(
            [
                ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                ),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
            "/nonexistent-root",
        );
        let e = chain::resolve(&ctx, &Options::default()).await;
        let others = chain::verdicts(&ctx, None).await;
        let j = explain_json(&e, &others);
        assert_eq!(j["selected"]["method"], "env");
        assert_eq!(j["selected"]["access_key_id"], "****************MPLE");
        assert_eq!(j["providers"][0]["status"], "selected");
        let text = serde_json::to_string(&j).unwrap();
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE") && !text.contains("wJalrXUtnFEMI"));
        let t = explain_text(&e, &others);
        assert!(
            t.contains("selected: env  access_key ****************MPLE"),
            "{t}"
        );
    }
}
