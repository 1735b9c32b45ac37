//! The reference shop: a small checkout integration that does everything the
//! fakestripe scenarios check, with `SHOP_BUG` switches that each turn on one
//! classic mistake.
//!
//! Run it from the workspace root (the harness starts it the same way):
//!
//! ```text
//! PORT=4242 STRIPE_API_BASE=http://127.0.0.1:12111 STRIPE_SECRET_KEY=sk_test_x \
//!   STRIPE_WEBHOOK_SECRET=whsec_x cargo run -p shop-rust
//! ```

mod bugs;
mod config;
mod order;
mod routes;
mod store;
mod stripe;
#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError};
use crate::routes::AppState;

const USAGE: &str = "\
usage: shop-rust [--list-bugs]

Serves the reference shop on 127.0.0.1:$PORT.

environment:
  PORT                   port to listen on (required)
  APP_BASE_URL           base of success and cancel URLs (default http://127.0.0.1:$PORT)
  STRIPE_API_BASE        Stripe API base URL (required)
  STRIPE_SECRET_KEY      Stripe secret key (required)
  STRIPE_WEBHOOK_SECRET  webhook signing secret (required)
  SHOP_DB                SQLite file (default: in memory, lost on exit)
  SHOP_BUG               one bug switch to turn on (see --list-bugs)
  RUST_LOG               log filter (default info)
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {}
        ["--list-bugs"] => {
            print!("{}", bugs::list_names());
            return ExitCode::SUCCESS;
        }
        ["--help" | "-h"] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("error: unexpected arguments {args:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }

    // Logs go to stderr, with colours only on a terminal, so captured
    // output stays plain text.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(ConfigError::UnknownBug(name)) => {
            eprint!(
                "error: unknown SHOP_BUG {name:?}. Known names:\n{}",
                bugs::list_names()
            );
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "shop stopped");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    if let Some(bug) = config.bug {
        tracing::warn!(%bug, description = bug.description(), "bug switch on");
    }
    let state = AppState::new(config)?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(address = %listener.local_addr()?, "shop listening");

    axum::serve(listener, routes::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shop stopped");
    Ok(())
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "failed to listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
