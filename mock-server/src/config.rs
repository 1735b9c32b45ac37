//! Server settings, shared by every account.

use std::net::IpAddr;
use std::time::Duration;

use crate::clock::ClockMode;

/// Delays, in seconds of the virtual clock, between a failed delivery
/// attempt and the next one. Stripe retries live-mode deliveries with
/// exponential backoff for up to three days; this schedule makes ten
/// attempts over about 2.2 days.
pub const DEFAULT_RETRY_SCHEDULE: &[i64] =
    &[60, 300, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 86_400];

/// How the fake is set up. Every field has a default that suits tests.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// The clock mode of a new account.
    pub clock_mode: ClockMode,
    /// A URL that receives every event of every account, as `stripe listen
    /// --forward-to` does, signed with `forward_secret`.
    pub forward_to: Option<String>,
    pub forward_secret: String,
    /// Seconds between attempts of a failed delivery; its length plus one is
    /// the number of attempts.
    pub retry_schedule: Vec<i64>,
    /// How long a delivery waits for the endpoint's answer, in real time.
    pub delivery_timeout: Duration,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How many lines each account's request log, delivery log and trace
    /// keep; older lines are let go and counted.
    pub log_limit: usize,
    /// A fault plan applied to every new account, as JSON.
    pub default_faults: Option<serde_json::Value>,
    /// The base of the URLs the fake puts in its responses (a session's
    /// `url`, an error's `request_log_url`), such as
    /// `http://devbox.local:12111`, for a browser or app that reaches the
    /// fake by another name than the address it binds. `None` uses the
    /// address it binds (see `Server::base_url`).
    pub public_url: Option<String>,
    /// Mixed with each account's key into the account's seed, so that two
    /// servers with different seeds give one key different ids and
    /// secrets, as a restarted Stripe never repeats an id. `None` lets the
    /// key alone decide.
    pub seed: Option<u64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            clock_mode: ClockMode::RealTime { speed: 1.0 },
            forward_to: None,
            forward_secret: "whsec_fakestripe_forward_secret_0000000".to_owned(),
            retry_schedule: DEFAULT_RETRY_SCHEDULE.to_vec(),
            delivery_timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            log_limit: crate::account::DEFAULT_LOG_LIMIT,
            default_faults: None,
            public_url: None,
            seed: None,
        }
    }
}
