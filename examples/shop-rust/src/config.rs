//! Settings read from the environment, which the fakestripe harness fills in
//! when it starts the shop.

use std::path::PathBuf;

use crate::bugs::Bug;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The port to listen on, on 127.0.0.1 (`PORT`).
    pub(crate) port: u16,
    /// The shop's own address for success and cancel URLs (`APP_BASE_URL`,
    /// default `http://127.0.0.1:{PORT}`).
    pub(crate) app_base_url: String,
    /// The Stripe API to call (`STRIPE_API_BASE`).
    pub(crate) stripe_api_base: String,
    pub(crate) stripe_secret_key: String,
    /// The signing secret of the webhook endpoint (`STRIPE_WEBHOOK_SECRET`).
    pub(crate) webhook_secret: String,
    /// The SQLite file (`SHOP_DB`). Unset means an in-memory database that
    /// lives as long as the process.
    pub(crate) database: Option<PathBuf>,
    /// The bug switch named by `SHOP_BUG`, if any.
    pub(crate) bug: Option<Bug>,
    /// The payment method types the shop's sessions offer
    /// (`SHOP_PAYMENT_METHOD_TYPES`, comma-separated, such as `card`).
    /// Empty means the session does not name any, and Stripe offers the
    /// types that suit its currency.
    pub(crate) payment_method_types: Vec<String>,
    /// Whether the shop's sessions use embedded Checkout (`SHOP_UI_MODE`,
    /// `hosted`, the default, or `embedded`).
    pub(crate) embedded: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("invalid PORT {0:?}: expected a number from 0 to 65535")]
    InvalidPort(String),
    #[error("unknown SHOP_BUG {0:?} (run with --list-bugs to see the names)")]
    UnknownBug(String),
    #[error("unknown SHOP_UI_MODE {0:?}: expected hosted or embedded")]
    UnknownUiMode(String),
}

impl Config {
    pub(crate) fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the settings from `lookup`, which returns a variable's value.
    /// Empty values count as unset.
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let port_text = require("PORT")?;
        let port = port_text
            .parse::<u16>()
            .map_err(|_| ConfigError::InvalidPort(port_text.clone()))?;
        let app_base_url = get("APP_BASE_URL")
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"))
            .trim_end_matches('/')
            .to_owned();
        let bug = match get("SHOP_BUG") {
            None => None,
            Some(name) => Some(Bug::from_name(&name).ok_or(ConfigError::UnknownBug(name))?),
        };
        let embedded = match get("SHOP_UI_MODE").as_deref() {
            None | Some("hosted") => false,
            Some("embedded") => true,
            Some(other) => return Err(ConfigError::UnknownUiMode(other.to_owned())),
        };

        Ok(Config {
            port,
            app_base_url,
            stripe_api_base: require("STRIPE_API_BASE")?,
            stripe_secret_key: require("STRIPE_SECRET_KEY")?,
            webhook_secret: require("STRIPE_WEBHOOK_SECRET")?,
            database: get("SHOP_DB").map(PathBuf::from),
            bug,
            payment_method_types: get("SHOP_PAYMENT_METHOD_TYPES")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            embedded,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup_from(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        ("PORT", "4242"),
        ("STRIPE_API_BASE", "http://127.0.0.1:12111"),
        ("STRIPE_SECRET_KEY", "sk_test_1"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_1"),
    ];

    #[test]
    fn defaults_filled_in() {
        let config = Config::from_lookup(lookup_from(&BASE)).unwrap();
        assert_eq!(config.port, 4242);
        assert_eq!(config.app_base_url, "http://127.0.0.1:4242");
        assert_eq!(config.database, None);
        assert_eq!(config.bug, None);
        assert!(config.payment_method_types.is_empty());
    }

    #[test]
    fn payment_method_types_read() {
        let mut pairs = BASE.to_vec();
        pairs.push(("SHOP_PAYMENT_METHOD_TYPES", "card, sepa_debit"));
        let config = Config::from_lookup(lookup_from(&pairs)).unwrap();
        assert_eq!(config.payment_method_types, ["card", "sepa_debit"]);
    }

    #[test]
    fn ui_mode_read() {
        let mut pairs = BASE.to_vec();
        assert!(!Config::from_lookup(lookup_from(&pairs)).unwrap().embedded);
        pairs.push(("SHOP_UI_MODE", "embedded"));
        assert!(Config::from_lookup(lookup_from(&pairs)).unwrap().embedded);
        pairs.pop();
        pairs.push(("SHOP_UI_MODE", "popup"));
        let error = Config::from_lookup(lookup_from(&pairs)).unwrap_err();
        assert_eq!(error, ConfigError::UnknownUiMode("popup".to_owned()));
    }

    #[test]
    fn bug_switch_read() {
        let mut pairs = BASE.to_vec();
        pairs.push(("SHOP_BUG", "no-dedup"));
        let config = Config::from_lookup(lookup_from(&pairs)).unwrap();
        assert_eq!(config.bug, Some(Bug::NoDedup));
    }

    #[test]
    fn unknown_bug_rejected() {
        let mut pairs = BASE.to_vec();
        pairs.push(("SHOP_BUG", "nope"));
        let error = Config::from_lookup(lookup_from(&pairs)).unwrap_err();
        assert_eq!(error, ConfigError::UnknownBug("nope".to_owned()));
    }

    #[test]
    fn missing_secret_rejected() {
        let pairs: Vec<_> = BASE
            .iter()
            .copied()
            .filter(|(name, _)| *name != "STRIPE_WEBHOOK_SECRET")
            .collect();
        let error = Config::from_lookup(lookup_from(&pairs)).unwrap_err();
        assert_eq!(error, ConfigError::Missing("STRIPE_WEBHOOK_SECRET"));
    }

    #[test]
    fn invalid_port_rejected() {
        let mut pairs = BASE.to_vec();
        pairs[0] = ("PORT", "http");
        let error = Config::from_lookup(lookup_from(&pairs)).unwrap_err();
        assert_eq!(error, ConfigError::InvalidPort("http".to_owned()));
    }

    #[test]
    fn base_url_trailing_slash_trimmed() {
        let mut pairs = BASE.to_vec();
        pairs.push(("APP_BASE_URL", "http://127.0.0.1:9/"));
        let config = Config::from_lookup(lookup_from(&pairs)).unwrap();
        assert_eq!(config.app_base_url, "http://127.0.0.1:9");
    }
}
