//! `strap metadata get|dump`: read the instance's metadata through the IMDS client.
//! Values go to stdout as the service sent them; diagnostics go to stderr.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::context::Context;
use crate::creds::env_vars::{AWS_DEFAULT_PROFILE, AWS_PROFILE};
use crate::creds::{files, Sdk};
use crate::imds::tree::{self, DEFAULT_CONCURRENCY};
use crate::imds::{ImdsClient, ImdsSettings};

/// The root of instance metadata; relative paths given to `get` are under it.
pub const META_DATA_ROOT: &str = "/latest/meta-data/";

/// Metadata subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum MetadataCommand {
    /// Print one metadata value, raw.
    Get {
        /// The path, relative to `/latest/meta-data/` (`instance-id`) or absolute
        /// (`/latest/dynamic/instance-identity/document`).
        path: String,
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
    /// Print the whole metadata tree.
    Dump {
        /// One JSON object, folders nested, values as strings.
        #[arg(long)]
        json: bool,
        /// The folder to walk.
        #[arg(long, default_value = META_DATA_ROOT, value_name = "PATH")]
        root: String,
        /// How many reads to keep in flight.
        #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
        concurrency: usize,
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
}

// Which metadata service to ask.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// The IMDS endpoint (`http://127.0.0.1:1338`); default from
    /// AWS_EC2_METADATA_SERVICE_ENDPOINT(_MODE) or the profile's
    /// ec2_metadata_service_endpoint(_mode), else http://169.254.169.254.
    #[arg(long, value_name = "URL")]
    pub imds: Option<String>,
}

impl EndpointArgs {
    pub(crate) fn client(&self, ctx: &Context) -> anyhow::Result<ImdsClient> {
        let mut settings = settings_with_profile(ctx);
        if let Some(url) = &self.imds {
            settings = settings.with_endpoint(url.clone());
        }
        let found = crate::imds::lockdown::detect(ctx, &settings.configured_endpoint().url);
        tracing::info!("IMDS access: {}", found.how);
        Ok(ImdsClient::from_settings(
            &settings.with_fwmark(found.mark),
        )?)
    }
}

/// The IMDS settings as the AWS CLI reads them: the environment, then the selected
/// profile (`AWS_PROFILE`, `AWS_DEFAULT_PROFILE`, else `default`) of the shared files.
pub fn settings_with_profile(ctx: &Context) -> ImdsSettings {
    let mut settings = ImdsSettings::from_context(ctx);
    let name = ctx
        .var(AWS_PROFILE)
        .or_else(|| ctx.var(AWS_DEFAULT_PROFILE))
        .unwrap_or_else(|| "default".to_string());
    match files::load(ctx, Sdk::Cli) {
        Ok(files) => {
            if let Some(profile) = files.merged().get(&name) {
                settings.apply_profile(&|key| profile.get(key).map(str::to_string));
            }
        }
        Err(err) => tracing::warn!(%err, "ignoring the AWS config files for IMDS settings"),
    }
    settings
}

/// `instance-id` → `/latest/meta-data/instance-id`; absolute paths are kept.
pub fn absolute_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{META_DATA_ROOT}{path}")
    }
}

/// Run a metadata subcommand.
pub async fn run(cmd: MetadataCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        MetadataCommand::Get { path, endpoint } => {
            let client = endpoint.client(ctx)?;
            let path = absolute_path(&path);
            let value = client
                .get(&path)
                .await
                .with_context(|| format!("cannot read metadata {path}"))?;
            let Some(value) = value else {
                anyhow::bail!(
                    "no metadata at {path} (HTTP 404 from {})",
                    client.endpoint()
                );
            };
            let mut out = std::io::stdout().lock();
            out.write_all(&value)?;
            if std::io::stdout().is_terminal() && !value.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        MetadataCommand::Dump {
            json,
            root,
            concurrency,
            endpoint,
        } => {
            let client = endpoint.client(ctx)?;
            let root = absolute_path(&root);
            let Some(leaves) = tree::walk(&client, &root, concurrency)
                .await
                .with_context(|| format!("cannot walk metadata under {root}"))?
            else {
                anyhow::bail!(
                    "no metadata at {root} (HTTP 404 from {})",
                    client.endpoint()
                );
            };
            tracing::info!(
                leaves = leaves.len(),
                requests = client.requests_made(),
                "metadata walked"
            );
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &tree::to_json(&leaves))?;
                out.write_all(b"\n")?;
            } else {
                out.write_all(render_text(&leaves).as_bytes())?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `path: value` per leaf; further lines of a value are indented by two spaces.
pub fn render_text(leaves: &std::collections::BTreeMap<String, Vec<u8>>) -> String {
    let mut text = String::new();
    for (path, value) in leaves {
        let value = String::from_utf8_lossy(value);
        let mut lines = value.split('\n');
        text.push_str(path);
        text.push(':');
        if let Some(first) = lines.next() {
            if !first.is_empty() {
                text.push(' ');
                text.push_str(first);
            }
        }
        text.push('\n');
        for line in lines {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_under_meta_data() {
        assert_eq!(
            absolute_path("instance-id"),
            "/latest/meta-data/instance-id"
        );
        assert_eq!(absolute_path("/latest/user-data"), "/latest/user-data");
    }

    #[test]
    fn text_rendering_indents_continuation_lines() {
        let leaves = [
            ("a".to_string(), b"1".to_vec()),
            ("b/c".to_string(), b"{\n  \"x\" : 1\n}".to_vec()),
        ]
        .into_iter()
        .collect();
        assert_eq!(render_text(&leaves), "a: 1\nb/c: {\n    \"x\" : 1\n  }\n");
    }
}
