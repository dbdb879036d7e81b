//! The `imds-mock` binary: parse flags, build the configuration, bind, print the listening
//! line and serve until SIGTERM or Ctrl-C. All behaviour lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use imds_mock::config::{Config, HttpTokens, Toggle};

/// A faithful EC2 instance-metadata server (IMDSv1/IMDSv2, instance-profile credentials,
/// events) for tests and local runs. Control API under /_mock/.
#[derive(Debug, Parser)]
#[command(name = "imds-mock", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1:1338]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// YAML configuration file (see --print-config for every key)
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve this file's bytes as user data
    #[arg(long, value_name = "FILE")]
    user_data: Option<PathBuf>,
    /// Attach an instance profile with this role name
    #[arg(long, value_name = "NAME")]
    role: Option<String>,
    /// HttpTokens: `required` refuses IMDSv1 requests
    #[arg(long, value_name = "MODE", value_parser = parse_tokens)]
    imdsv2: Option<HttpTokens>,
    /// HttpPutResponseHopLimit (1-64): IP TTL of token responses
    #[arg(long, value_name = "N")]
    hop_limit: Option<u8>,
    /// Serve instance tags in metadata (InstanceMetadataTags=enabled)
    #[arg(long)]
    tags_in_metadata: bool,
    /// Turn the metadata endpoint off (HttpEndpoint=disabled: 403 everywhere)
    #[arg(long)]
    disable_endpoint: bool,
    /// Instance id to pretend to be
    #[arg(long, value_name = "ID")]
    instance_id: Option<String>,
    /// Region (the availability zone becomes REGION + "a" unless configured)
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Public IPv4 that survives stop/start (an Elastic IP)
    #[arg(long, value_name = "IP")]
    elastic_ip: Option<String>,
    /// Lifetime of instance-profile credentials, seconds [default: 21600]
    #[arg(long, value_name = "SECS")]
    credential_lifetime: Option<u64>,
    /// Issue new credentials this long before expiry, seconds [default: 3600]
    #[arg(long, value_name = "SECS")]
    rotate_before: Option<u64>,
    /// Schedule a spot interruption notice (terminate, stop or hibernate)
    #[arg(long, value_name = "ACTION")]
    spot_action: Option<String>,
    /// Seconds after start-up at which the spot notice appears
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    spot_delay: u64,
    /// Seconds after start-up at which a rebalance recommendation appears
    #[arg(long, value_name = "SECS")]
    rebalance_delay: Option<u64>,
    /// Keep connections open (real IMDS closes every connection)
    #[arg(long)]
    keep_alive: bool,
    /// Also listen on this IPv6 address (answered while HttpProtocolIpv6 is enabled)
    #[arg(long, value_name = "ADDR")]
    listen_ipv6: Option<String>,
    /// Enable the IPv6 endpoint (HttpProtocolIpv6=enabled)
    #[arg(long)]
    ipv6_endpoint: bool,
    /// Where the token key is kept so tokens survive restarts
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Print the effective configuration as YAML and exit
    #[arg(long)]
    print_config: bool,
    /// More logging (-v: every request; RUST_LOG overrides)
    #[arg(long, short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging
    #[arg(long, short = 'q', action = clap::ArgAction::Count)]
    quiet: u8,
}

fn parse_tokens(s: &str) -> Result<HttpTokens, String> {
    match s {
        "required" => Ok(HttpTokens::Required),
        "optional" => Ok(HttpTokens::Optional),
        other => Err(format!("`{other}` is not `required` or `optional`")),
    }
}

fn build_config(args: &Args) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(v) = &args.listen {
        config.listen = v.clone();
    }
    if let Some(v) = &args.user_data {
        config.user_data_file = Some(v.clone());
    }
    if let Some(v) = &args.role {
        config.role = Some(v.clone());
    }
    if let Some(v) = args.imdsv2 {
        config.http_tokens = v;
    }
    if let Some(v) = args.hop_limit {
        config.http_put_response_hop_limit = v;
    }
    if args.tags_in_metadata {
        config.instance_metadata_tags = Toggle::Enabled;
    }
    if args.disable_endpoint {
        config.http_endpoint = Toggle::Disabled;
    }
    if let Some(v) = &args.instance_id {
        config.instance_id = v.clone();
    }
    if let Some(v) = &args.region {
        config.region = v.clone();
    }
    if let Some(v) = &args.elastic_ip {
        config.elastic_ip = Some(v.clone());
    }
    if let Some(v) = args.credential_lifetime {
        config.credentials.lifetime_secs = v;
    }
    if let Some(v) = args.rotate_before {
        config.credentials.rotate_before_secs = v;
    }
    if let Some(action) = &args.spot_action {
        config.spot = Some(imds_mock::config::SpotConfig {
            action: action.clone(),
            delay_secs: args.spot_delay,
        });
    }
    if let Some(v) = args.rebalance_delay {
        config.rebalance_delay_secs = Some(v);
    }
    if let Some(v) = &args.listen_ipv6 {
        config.listen_ipv6 = Some(v.clone());
    }
    if args.ipv6_endpoint {
        config.http_protocol_ipv6 = Toggle::Enabled;
    }
    if args.keep_alive {
        config.connection_close = false;
    }
    if let Some(v) = &args.state_dir {
        config.state_dir = Some(v.clone());
    }
    config.load_user_data_file()?;
    config.validate()?;
    Ok(config)
}

fn init_logging(args: &Args) {
    let level = match i16::from(args.verbose) - i16::from(args.quiet) {
        i16::MIN..=-2 => "error",
        -1 => "warn",
        0 => "warn,imds_mock=info",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Install the SIGTERM and SIGINT handlers now (before the listening line is printed, so
/// a signal sent right after it is never lost) and return a future that resolves on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = build_config(&args)?;
    if args.print_config {
        print!("{}", config.to_yaml());
        return Ok(());
    }
    let stop = shutdown_signal()?;
    let mock = imds_mock::spawn(config).await?;
    println!("listening on {}", mock.url());
    if !mock.addr().ip().is_loopback() {
        tracing::warn!(
            "listening on {}, which is not a loopback address: anyone who reaches it can read its credentials and drive its control API (/_mock/); use 127.0.0.1 unless this is what you want",
            mock.addr()
        );
    }
    if let Some(v6) = mock.addr_ipv6() {
        println!("listening on http://{v6}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    stop.await;
    mock.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            let config_error = err.chain().any(|e| {
                e.downcast_ref::<imds_mock::ConfigError>().is_some()
                    || matches!(
                        e.downcast_ref::<imds_mock::MockError>(),
                        Some(imds_mock::MockError::Config(_))
                    )
            });
            ExitCode::from(if config_error { 2 } else { 1 })
        }
    }
}
