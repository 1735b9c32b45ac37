//! `fakestripe serve`: the fake on a port, until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use fakestripe_server::{ClockMode, Server, ServerConfig};
use serde_saphyr::Spanned;

use crate::cli::{EXIT_INTERRUPTED, EXIT_START, EXIT_USAGE};
use crate::diagnostic::{FileError, Source};
use crate::output::errln;
use crate::scenario::located::{LocatedValue, plan_error_location, plan_param_path};
use crate::scenario::values::fault_event_type_errors;

/// The exit codes of `fakestripe serve`, for `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    stopped by Ctrl-C or SIGTERM after every request in flight finished
  2    invalid usage or an invalid --faults file
  3    the address could not be bound
  130  stopped by a second signal, or by --shutdown-timeout, with requests
       still in flight";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// IP address to bind, such as 127.0.0.1 or 0.0.0.0 (not a host name).
    /// Anything other than a loopback address exposes every account on the
    /// network.
    #[arg(long, env = "FAKESTRIPE_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(
        long,
        allow_negative_numbers = true,
        env = "FAKESTRIPE_PORT",
        default_value_t = 12111
    )]
    pub port: u16,
    /// Send every event of every account to this URL, as `stripe listen
    /// --forward-to` does.
    #[arg(long, env = "FAKESTRIPE_FORWARD_TO")]
    pub forward_to: Option<String>,
    /// Signing secret for `--forward-to` deliveries (whsec_…). Printed at
    /// start when not given.
    #[arg(long, env = "FAKESTRIPE_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,
    /// A fault plan (YAML or JSON) applied to every new account.
    #[arg(long, env = "FAKESTRIPE_FAULTS")]
    pub faults: Option<PathBuf>,
    /// Seed of every account's ids and secrets, mixed with its key. Drawn
    /// at start and printed when not given, so a restart with the same key
    /// gives new ids. The printed seed gives the same ids again.
    #[arg(
        long,
        env = "FAKESTRIPE_SEED",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(..fakestripe_server::ids::MAX_DRAWN_SEED)
    )]
    pub seed: Option<u64>,
    /// Start every account's clock in manual mode: time moves only through
    /// `POST /_fakestripe/clock/advance`.
    #[arg(long, conflicts_with = "speed")]
    pub manual_clock: bool,
    /// Speed of the real-time clock: 60 makes a minute pass every second.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0)]
    pub speed: f64,
    /// Seconds to wait for a webhook endpoint's response, at least 1.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub delivery_timeout: u64,
    /// Seconds to wait after Ctrl-C or SIGTERM for requests in flight, such
    /// as an upload whose body is still arriving, before exiting anyway. A
    /// clock advance does not wait: the stop cuts off its deliveries.
    #[arg(long, allow_negative_numbers = true, default_value_t = 5)]
    pub shutdown_timeout: u64,
    /// Base of the URLs the fake puts in its responses, such as a session's
    /// `url`, when a browser reaches the fake by another name than the
    /// bound address: `--host 0.0.0.0 --public-url http://devbox.local:12111`.
    /// Default: the bound address, with 127.0.0.1 for 0.0.0.0.
    #[arg(long, env = "FAKESTRIPE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Lines each account's request log, delivery log and trace keep; older
    /// lines are let go and counted in the logs' `dropped` field.
    #[arg(long, allow_negative_numbers = true, default_value_t = fakestripe_server::account::DEFAULT_LOG_LIMIT as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub log_limit: u64,
}

/// Starts the server and blocks until a shutdown signal.
pub fn main(args: ServeArgs) -> ExitCode {
    crate::output::init_tracing("fakestripe=info,fakestripe_server=info");
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
    let code = runtime.block_on(async move {
        // Registering the handlers before the base URL is printed means a
        // script that signals as soon as it reads the URL is heard, instead
        // of killing the process by the default action.
        let mut signals = match ShutdownSignals::listen() {
            Ok(signals) => signals,
            Err(err) => {
                errln!("fakestripe serve: cannot install the SIGINT and SIGTERM handlers: {err}");
                return ExitCode::from(EXIT_START);
            }
        };
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
        if let Some(warning) = exposure_warning(server.addr().ip()) {
            tracing::warn!("{warning}");
        }
        // The base URL is the first line, so scripts can read it with
        // `head -n1` when they asked for port 0.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", server.base_url());
        if let Some(url) = &config.public_url {
            let _ = writeln!(out, "URLs in responses start with {url}");
        }
        if let Some(url) = &config.forward_to {
            let _ = writeln!(out, "forwarding every event to {url}");
            // The user already knows a secret they chose, so it stays out
            // of output that CI logs keep. A random one must be shown.
            if args.webhook_secret.is_some() {
                let _ = writeln!(
                    out,
                    "webhook signing secret: the one given by --webhook-secret or FAKESTRIPE_WEBHOOK_SECRET"
                );
            } else {
                let _ = writeln!(out, "webhook signing secret: {}", config.forward_secret);
            }
        }
        if let (Some(seed), None) = (config.seed, args.seed) {
            let _ = writeln!(
                out,
                "seed {seed}: a key gets new ids on each start; pass --seed {seed} to get these again"
            );
        }
        let _ = out.flush();
        drop(out);
        let signal = signals.recv().await;
        let timeout = Duration::from_secs(args.shutdown_timeout);
        stop(server, &mut signals, signal, timeout).await
    });
    // Requests cut off by `stop` are still tasks of the runtime. Dropping
    // the runtime cancels them at their next await, and the timeout bounds
    // the wait for any that never reach one.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Checks `--public-url`: an http(s) base URL with no user info, path,
/// query or fragment, since paths are appended to it. Returns it without
/// a trailing slash.
fn public_url(url: &str) -> Result<String, String> {
    use crate::cli::BaseUrlProblem;
    let problem = if url.chars().any(char::is_control) {
        Some(BaseUrlProblem::QueryOrFragment)
    } else {
        crate::cli::base_url_problem(url)
    };
    let reason = match problem {
        None => return Ok(url.trim_end_matches('/').to_owned()),
        Some(BaseUrlProblem::Unparsable(err)) => err.to_string(),
        Some(BaseUrlProblem::NotHttp) => {
            "use an http:// or https:// URL with a host, such as http://devbox.local:12111"
                .to_owned()
        }
        Some(BaseUrlProblem::QueryOrFragment) => {
            "leave out the query and fragment; the fake appends paths such as /c/pay/cs_test_…"
                .to_owned()
        }
        Some(BaseUrlProblem::UserInfo) => {
            "leave out the user name and password; every session's url would show them".to_owned()
        }
        // The hosted page's forms and the dashboard's links start at the
        // root, so a path here would hold for some URLs and not others.
        Some(BaseUrlProblem::Path) => "give only the scheme, host and port, such as http://devbox.local:12111; the fake serves from the root, not under a path".to_owned(),
    };
    Err(format!("--public-url {url}: {reason}"))
}

/// Stops the server after the first shutdown signal. Waits up to `timeout`
/// for requests in flight and returns 0 when they all finished, or returns
/// 130 when the timeout or a second signal cut them off.
async fn stop(
    server: Server,
    signals: &mut ShutdownSignals,
    signal: &'static str,
    timeout: Duration,
) -> ExitCode {
    let shared = server.shared().clone();
    let in_flight = shared.requests_in_flight();
    if in_flight == 0 {
        tracing::info!(signal, "shutting down");
    } else {
        tracing::info!(
            signal,
            in_flight,
            "shutting down: waiting up to {} s for {} in flight to finish. \
             Send Ctrl-C or SIGTERM again to stop at once",
            timeout.as_secs(),
            count_requests(in_flight),
        );
    }
    tokio::select! {
        // Checked first, so a shutdown that is done wins over a timeout of
        // zero that is ready at the same time.
        biased;
        () = server.shutdown() => return ExitCode::SUCCESS,
        () = tokio::time::sleep(timeout) => {
            let in_flight = shared.requests_in_flight();
            if in_flight == 0 {
                return closed_unfinished(timeout);
            }
            tracing::warn!(
                in_flight,
                "stopping with {} still in flight after the {} s shutdown timeout",
                count_requests(in_flight),
                timeout.as_secs(),
            );
        }
        second = signals.recv() => {
            let in_flight = shared.requests_in_flight();
            if in_flight == 0 {
                return closed_unfinished(timeout);
            }
            tracing::warn!(
                signal = second,
                in_flight,
                "stopping at once with {} in flight",
                count_requests(in_flight),
            );
        }
    }
    ExitCode::from(EXIT_INTERRUPTED)
}

/// Logs the end of a shutdown that found no request in flight but waited
/// for connections that had not sent a whole request, and returns 0,
/// because such a connection carries no request to cut off.
fn closed_unfinished(timeout: Duration) -> ExitCode {
    tracing::info!(
        "stopped after {} s: closed the connections that had not sent a whole request",
        timeout.as_secs(),
    );
    ExitCode::SUCCESS
}

/// Returns "1 request" or "N requests".
fn count_requests(count: usize) -> String {
    match count {
        1 => "1 request".to_owned(),
        _ => format!("{count} requests"),
    }
}

/// Returns the startup warning for a server bound to `host`, or None for
/// a loopback address. The fake accepts any test key and has no other
/// access control, so anyone who reaches the port can read and change every
/// account whose key they send.
fn exposure_warning(host: IpAddr) -> Option<String> {
    if host.is_loopback() {
        return None;
    }
    Some(format!(
        "listening on {host}, which is not a loopback address: anyone who can reach \
         this port can read and change every account whose key they send. \
         Use --host 127.0.0.1 to accept local connections only"
    ))
}

/// Draws the server's seed from the clock, below 2^53 as the accounts'
/// seeds are. The whole range makes it unlikely that two starts draw the
/// same ids, where `run` and `fuzz` draw small seeds that are easy to type.
fn drawn_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    crate::fuzz::explore::mix(nanos ^ u64::from(std::process::id()))
        % fakestripe_server::ids::MAX_DRAWN_SEED
}

/// Builds the server settings from the flags.
pub fn config_from(args: &ServeArgs) -> Result<ServerConfig, String> {
    let mut config = ServerConfig {
        host: args.host,
        port: args.port,
        seed: Some(args.seed.unwrap_or_else(drawn_seed)),
        ..ServerConfig::default()
    };
    let max_speed = fakestripe_server::clock::MAX_SPEED;
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= max_speed) {
        return Err(format!(
            "--speed must be a number above 0 and at most {max_speed}, got {}",
            crate::diagnostic::number_text(args.speed)
        ));
    }
    config.clock_mode = if args.manual_clock {
        ClockMode::Manual
    } else {
        ClockMode::RealTime { speed: args.speed }
    };
    config.delivery_timeout = std::time::Duration::from_secs(args.delivery_timeout);
    config.log_limit = usize::try_from(args.log_limit).unwrap_or(usize::MAX);
    if args.webhook_secret.is_some() && args.forward_to.is_none() {
        return Err(
            "--webhook-secret (or FAKESTRIPE_WEBHOOK_SECRET) signs --forward-to deliveries and is only valid with --forward-to; endpoints made through the API get their own secrets"
                .to_owned(),
        );
    }
    if let Some(url) = &args.forward_to {
        let parsed = url::Url::parse(url).map_err(|err| {
            format!(
                "--forward-to {url}: {err}; give the app's webhook URL, such as http://127.0.0.1:4242/webhook"
            )
        })?;
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
    if let Some(url) = &args.public_url {
        config.public_url = Some(public_url(url)?);
    }
    if let Some(path) = &args.faults {
        let plan = load_fault_plan(path).map_err(|err| format!("--faults: {err}"))?;
        config.default_faults = Some(plan);
    }
    Ok(config)
}

/// An example of the fault plan format, for errors about its shape.
const PLAN_EXAMPLE: &str = "write it as\n\n    faults:\n      - kind: webhook_duplicate\n        types: [checkout.session.completed]";

/// Reads and checks a `--faults` file. Each error gives the file, line and
/// column of the part it concerns.
fn load_fault_plan(path: &std::path::Path) -> Result<serde_json::Value, FileError> {
    let text = crate::diagnostic::read_text(path, "the fault plan")?;
    let source = Source { path, text: &text };
    let requirement = "a fault plan is a map with `seed` and `faults`";
    // The first parse reports syntax errors and repeated keys, and the
    // second keeps the place of each part for the checks below.
    source.deserialize::<serde_json::Value>(requirement)?;
    let located: Spanned<LocatedValue> = source.deserialize(requirement)?;
    if let Some(error) = plan_shape_error(&source, &located) {
        return Err(error);
    }

    let plan = located.value.to_json();
    if let Err(err) = fakestripe_server::faults::validate_plan(&plan) {
        let param = err.param.as_deref().unwrap_or_default();
        let path = if param.is_empty() {
            Vec::new()
        } else {
            plan_param_path(param)
        };
        let place = plan_error_location(&located, &path, &err.message);
        let message = if param.is_empty() {
            err.message
        } else {
            format!("{param}: {}", err.message)
        };
        return Err(source.error(place.line() as u32, place.column() as u32, message, None));
    }

    if let Some(LocatedValue::List(entries)) = located.value.get("faults").map(|list| &list.value) {
        let unsent = entries
            .iter()
            .flat_map(|entry| fault_event_type_errors(&entry.value))
            .next();
        if let Some((place, message, help)) = unsent {
            return Err(source.error(place.line() as u32, place.column() as u32, message, help));
        }
    }
    Ok(plan)
}

/// Returns an error for a plan written as one fault entry (a map with
/// `kind` and no `faults`) or as a bare list of entries, which the fake's
/// check would report only as unknown parameters or a wrong type.
fn plan_shape_error(source: &Source<'_>, located: &Spanned<LocatedValue>) -> Option<FileError> {
    match &located.value {
        LocatedValue::Map(_) if located.value.get("faults").is_none() => {
            let kind = located.value.find(located.referenced, &["kind"]).key?;
            Some(source.error(
                kind.line() as u32,
                kind.column() as u32,
                "this is one fault entry, and a fault plan is a map with a `faults:` list of entries",
                Some(format!(
                    "indent the entry under `faults:` as a list item; {PLAN_EXAMPLE}"
                )),
            ))
        }
        LocatedValue::List(_) => Some(source.at(
            located,
            "this is a list, and a fault plan is a map with a `faults:` list of entries",
            Some(format!(
                "put the list under a `faults:` key; {PLAN_EXAMPLE}"
            )),
        )),
        _ => None,
    }
}

/// The signals that stop `serve`: SIGINT (Ctrl-C) and SIGTERM. SIGHUP
/// keeps its default action, so `nohup fakestripe serve` outlives its
/// terminal.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Installs the handlers. Needs a running tokio runtime.
    #[cfg(unix)]
    fn listen() -> std::io::Result<ShutdownSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<ShutdownSignals> {
        Ok(ShutdownSignals {})
    }

    /// Waits for the next signal and returns its name.
    #[cfg(unix)]
    async fn recv(&mut self) -> &'static str {
        // `recv` returns None only after the runtime shuts down, and then
        // no signal will come.
        tokio::select! {
            Some(()) = self.interrupt.recv() => "SIGINT",
            Some(()) = self.terminate.recv() => "SIGTERM",
            else => std::future::pending().await,
        }
    }

    /// Waits for the next Ctrl-C.
    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_warning_for_non_loopback() {
        let warning = exposure_warning("0.0.0.0".parse().unwrap()).unwrap();
        assert!(warning.starts_with("listening on 0.0.0.0, which is not a loopback address"));
        assert!(warning.ends_with("Use --host 127.0.0.1 to accept local connections only"));
        let public = exposure_warning("192.168.1.20".parse().unwrap()).unwrap();
        assert!(public.starts_with("listening on 192.168.1.20,"), "{public}");
    }

    #[test]
    fn exposure_warning_none_for_loopback() {
        for host in ["127.0.0.1", "127.0.0.2", "::1"] {
            assert_eq!(exposure_warning(host.parse().unwrap()), None, "{host}");
        }
    }
}
