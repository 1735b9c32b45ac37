//! `fakestripe serve`: the fake on a port, until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use fakestripe_server::{ClockMode, Server, ServerConfig};

use crate::cli::{EXIT_START, EXIT_USAGE};
use crate::output::errln;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind. Anything other than a loopback address exposes
    /// every account on the network.
    #[arg(long, env = "FAKESTRIPE_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "FAKESTRIPE_PORT", default_value_t = 12111)]
    pub port: u16,
    /// Send every event of every account to this URL, as `stripe listen
    /// --forward-to` does.
    #[arg(long, env = "FAKESTRIPE_FORWARD_TO")]
    pub forward_to: Option<String>,
    /// Signing secret for `--forward-to` deliveries (whsec_…). Printed at
    /// start when not given.
    #[arg(long, env = "FAKESTRIPE_WEBHOOK_SECRET", requires = "forward_to")]
    pub webhook_secret: Option<String>,
    /// A fault plan (YAML or JSON) applied to every new account.
    #[arg(long, env = "FAKESTRIPE_FAULTS")]
    pub faults: Option<PathBuf>,
    /// Start every account's clock in manual mode: time moves only through
    /// `POST /_fakestripe/clock/advance`.
    #[arg(long)]
    pub manual_clock: bool,
    /// Speed of the real-time clock: 60 makes a minute pass every second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Seconds to wait for a webhook endpoint's response.
    #[arg(long, default_value_t = 10)]
    pub delivery_timeout: u64,
    /// Lines each account's request log, delivery log and trace keep; older
    /// lines are let go and counted in the logs' `dropped` field.
    #[arg(long, default_value_t = fakestripe_server::account::DEFAULT_LOG_LIMIT as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub log_limit: u64,
}

/// Starts the server and blocks until a shutdown signal.
pub fn main(args: ServeArgs) -> ExitCode {
    init_tracing();
    let config = match config_from(&args) {
        Ok(config) => config,
        Err(message) => {
            errln!("fakestripe serve: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            errln!("fakestripe serve: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_START);
        }
    };
    runtime.block_on(async move {
        let server = match Server::start(config.clone()).await {
            Ok(server) => server,
            Err(err) => {
                errln!(
                    "fakestripe serve: cannot listen on {}:{}: {err}",
                    args.host,
                    args.port
                );
                return ExitCode::from(EXIT_START);
            }
        };
        let stop = shutdown_signal();
        // The base URL is the first line, so scripts can read it with
        // `head -n1` when they asked for port 0.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", server.base_url());
        if let Some(url) = &config.forward_to {
            let _ = writeln!(out, "forwarding every event to {url}");
            let _ = writeln!(out, "webhook signing secret: {}", config.forward_secret);
        }
        let _ = out.flush();
        drop(out);
        stop.await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Builds the server settings from the flags.
pub fn config_from(args: &ServeArgs) -> Result<ServerConfig, String> {
    let mut config = ServerConfig {
        host: args.host,
        port: args.port,
        ..ServerConfig::default()
    };
    let max_speed = fakestripe_server::clock::MAX_SPEED;
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= max_speed) {
        return Err(format!(
            "--speed must be a number above 0 and at most {max_speed}, got {}",
            args.speed
        ));
    }
    config.clock_mode = if args.manual_clock {
        ClockMode::Manual
    } else {
        ClockMode::RealTime { speed: args.speed }
    };
    config.delivery_timeout = std::time::Duration::from_secs(args.delivery_timeout.max(1));
    config.log_limit = usize::try_from(args.log_limit).unwrap_or(usize::MAX);
    if let Some(url) = &args.forward_to {
        let parsed = url::Url::parse(url).map_err(|err| format!("--forward-to {url}: {err}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "--forward-to {url}: use an http:// or https:// URL"
            ));
        }
        config.forward_to = Some(url.clone());
        config.forward_secret = match &args.webhook_secret {
            Some(secret) if secret.starts_with("whsec_") => secret.clone(),
            Some(secret) => {
                return Err(format!(
                    "--webhook-secret must start with whsec_, got {}…",
                    secret.chars().take(6).collect::<String>()
                ));
            }
            None => fakestripe_server::random_webhook_secret(),
        };
    }
    if let Some(path) = &args.faults {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("--faults {}: {err}", path.display()))?;
        let plan: serde_json::Value = serde_saphyr::from_str(&text)
            .map_err(|err| format!("--faults {}: {err}", path.display()))?;
        fakestripe_server::faults::validate_plan(&plan).map_err(|err| match &err.param {
            Some(param) => format!("--faults {}: {param}: {}", path.display(), err.message),
            None => format!("--faults {}: {}", path.display(), err.message),
        })?;
        config.default_faults = Some(plan);
    }
    Ok(config)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("fakestripe=info,fakestripe_server=info")
    });
    // Logs go to stderr so stdout carries only what scripts read.
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(filter)
        .with_writer(crate::output::stderr)
        // The fallback for a failed write is `eprintln!`, which panics.
        .log_internal_errors(false)
        .try_init();
}

/// Registers the Ctrl-C and SIGTERM handlers now and returns a future that
/// resolves on the first of them. Registering before the base URL is
/// printed means a script that signals as soon as it reads the URL is
/// heard, instead of killing the process by the default action.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
