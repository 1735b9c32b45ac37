//! fakestripe.yaml: how to start the app under test and how to talk to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::template::{TEMPLATE_VARIABLES, placeholders};
use crate::diagnostic::{FileError, Source, suggest, suggest_within};
use crate::scenario::model::{OrderStatus, PaymentMethod};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppFile {
    pub version: Spanned<u32>,
    pub name: Option<String>,
    /// How to start the app. Exactly one of `start` and `base_url`.
    pub start: Option<Spanned<StartConfig>>,
    /// The base URL of an app that is already running.
    pub base_url: Option<Spanned<String>>,
    /// With `base_url`: a file the harness writes `STRIPE_API_BASE`,
    /// `STRIPE_SECRET_KEY` and `STRIPE_WEBHOOK_SECRET` to, as `KEY=value`
    /// lines, for the running app to read.
    pub env_file: Option<Spanned<PathBuf>>,
    /// The path of the app's webhook endpoint.
    pub webhook_path: Spanned<String>,
    /// A request that deletes the app's orders, sent before each scenario.
    pub reset: Option<Spanned<RequestTemplate>>,
    pub checkout: CheckoutConfig,
    pub order: OrderConfig,
    /// The payment method types that the app's Checkout Sessions offer,
    /// by Stripe's names. Default: every type a `pay` step can use.
    pub payment_method_types: Option<Spanned<Vec<Spanned<String>>>>,
    /// The Stripe API version the app's SDK is pinned to. The webhook
    /// endpoint is registered with it, so events arrive in it, and
    /// `expect: checkout_session` reads the session in it.
    pub api_version: Option<Spanned<String>>,
    /// Seconds to wait for each response from the app, a whole number
    /// from 1 to `MAX_REQUEST_SECONDS`. Default 30.
    #[serde(default, deserialize_with = "read_seconds::<RequestTimeout, _>")]
    pub request_timeout_seconds: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartConfig {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Working directory, relative to fakestripe.yaml.
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The variable that carries the port. Default `PORT`.
    pub port_env: Option<Spanned<String>>,
    /// A path that responds with 2xx once the app is ready. Default `/`.
    pub ready: Option<Spanned<String>>,
    /// Seconds to wait for readiness, a whole number from 1 to
    /// `MAX_START_SECONDS`. Default 60. Read as a float so that a value
    /// out of range gets the range in its error, not a type error.
    #[serde(default, deserialize_with = "read_seconds::<StartTimeout, _>")]
    pub timeout_seconds: Option<Spanned<f64>>,
}

/// A key whose value is a number of seconds, with the range it accepts.
trait SecondsKey {
    /// The key's name in the file.
    const NAME: &'static str;
    /// The largest value accepted; the smallest is 1.
    const MAX: u64;
    /// The value when the key is left out.
    const DEFAULT: u64;
}

/// `start.timeout_seconds`.
struct StartTimeout;

impl SecondsKey for StartTimeout {
    const NAME: &'static str = "timeout_seconds";
    const MAX: u64 = MAX_START_SECONDS;
    const DEFAULT: u64 = 60;
}

/// `request_timeout_seconds`.
struct RequestTimeout;

impl SecondsKey for RequestTimeout {
    const NAME: &'static str = "request_timeout_seconds";
    const MAX: u64 = MAX_REQUEST_SECONDS;
    const DEFAULT: u64 = DEFAULT_REQUEST_SECONDS;
}

/// Returns the error message for a value of key `K` shown as `found`.
fn seconds_message<K: SecondsKey>(found: &str) -> String {
    format!(
        "`{}` must be a whole number from 1 to {}; got {found}",
        K::NAME,
        K::MAX
    )
}

/// Reads a number of seconds as any finite number, for the range check in
/// [`parse`]. A value that is not a number is rejected here, with the
/// key's name and range, where the YAML parser's own float error names
/// neither.
fn read_seconds<'de, K: SecondsKey, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Spanned<f64>>, D::Error> {
    let seconds = Option::<Spanned<Seconds<K>>>::deserialize(deserializer)?;
    Ok(seconds.map(|s| Spanned::new(s.value.0, s.referenced, s.defined)))
}

/// The number of seconds of key `K`.
struct Seconds<K>(f64, std::marker::PhantomData<K>);

impl<K> Seconds<K> {
    fn new(value: f64) -> Seconds<K> {
        Seconds(value, std::marker::PhantomData)
    }
}

impl<'de, K: SecondsKey> Deserialize<'de> for Seconds<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecondsVisitor(std::marker::PhantomData))
    }
}

/// Every error is `custom`, because serde-saphyr 2.2 puts the caret of a
/// custom error on the value.
struct SecondsVisitor<K>(std::marker::PhantomData<K>);

impl<'de, K: SecondsKey> serde::de::Visitor<'de> for SecondsVisitor<K> {
    type Value = Seconds<K>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a whole number from 1 to {}", K::MAX)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Seconds<K>, E> {
        Ok(Seconds::new(value as f64))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Seconds<K>, E> {
        Ok(Seconds::new(value as f64))
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Seconds<K>, E> {
        if value.is_finite() {
            Ok(Seconds::new(value))
        } else if value.is_nan() {
            Err(E::custom(seconds_message::<K>(
                "`.nan`, which is not a number",
            )))
        } else {
            Err(E::custom(seconds_message::<K>(
                "a number that is infinite or beyond the range of a 64-bit float",
            )))
        }
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Seconds<K>, E> {
        match value.trim().parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(Seconds::new(number)),
            _ => Err(E::custom(seconds_message::<K>(&format!(
                "`{}`",
                crate::diagnostic::shorten(value)
            )))),
        }
    }

    fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<Seconds<K>, E> {
        Err(E::custom(seconds_message::<K>(&value.to_string())))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Seconds<K>, A::Error> {
        Err(serde::de::Error::custom(seconds_message::<K>("a list")))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Seconds<K>, A::Error> {
        Err(serde::de::Error::custom(seconds_message::<K>("a map")))
    }
}

/// Checks that a number of seconds of key `K` is whole and in range.
fn check_seconds<K: SecondsKey>(
    source: &Source<'_>,
    seconds: &Option<Spanned<f64>>,
    errors: &mut Vec<FileError>,
) {
    let Some(seconds) = seconds else {
        return;
    };
    let value = seconds.value;
    if !(value.fract() == 0.0 && (1.0..=K::MAX as f64).contains(&value)) {
        errors.push(source.at(
            seconds,
            seconds_message::<K>(&crate::diagnostic::number_text(value)),
            Some(format!("leave it out for the default of {}", K::DEFAULT)),
        ));
    }
}

/// Returns the checked number of seconds of key `K`, or its default.
fn seconds_or_default<K: SecondsKey>(seconds: &Option<Spanned<f64>>) -> std::time::Duration {
    let value = seconds.as_ref().map_or(K::DEFAULT as f64, |s| s.value);
    std::time::Duration::from_secs(value.clamp(1.0, K::MAX as f64) as u64)
}

/// The longest `request_timeout_seconds` the harness accepts: an hour.
pub const MAX_REQUEST_SECONDS: u64 = 3_600;

/// How long the harness waits for one response from the app when the
/// file leaves `request_timeout_seconds` out.
pub const DEFAULT_REQUEST_SECONDS: u64 = 30;

/// The longest `start.timeout_seconds` the harness accepts: a day.
pub const MAX_START_SECONDS: u64 = 86_400;

impl StartConfig {
    /// Returns the variable that carries the port.
    pub fn port_env(&self) -> &str {
        self.port_env
            .as_ref()
            .map_or("PORT", |name| name.value.as_str())
    }

    /// Returns the path that responds with 2xx once the app is ready.
    pub fn ready_path(&self) -> &str {
        self.ready.as_ref().map_or("/", |path| path.value.as_str())
    }

    /// Returns the checked `timeout_seconds`, or the default of 60.
    pub fn timeout(&self) -> std::time::Duration {
        seconds_or_default::<StartTimeout>(&self.timeout_seconds)
    }
}

/// An HTTP request with `{{variable}}` placeholders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestTemplate {
    /// Default GET, or POST when a body is given.
    pub method: Option<String>,
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body.
    pub json: Option<Value>,
    /// A form-encoded body.
    pub form: Option<BTreeMap<String, Value>>,
}

impl RequestTemplate {
    pub fn method(&self) -> String {
        match &self.method {
            Some(method) => method.to_ascii_uppercase(),
            None if self.json.is_some() || self.form.is_some() => "POST".to_owned(),
            None => "GET".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutConfig {
    pub request: Spanned<RequestTemplate>,
    /// JSON pointer to the session id in the response.
    pub session_id: Option<Spanned<String>>,
    /// JSON pointer to the Checkout URL in the response.
    pub url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderConfig {
    pub request: Spanned<RequestTemplate>,
    /// JSON pointers into the order read's response.
    pub status: Spanned<String>,
    /// Also spelt `fulfillments`.
    #[serde(alias = "fulfillments")]
    pub fulfilments: Option<Spanned<String>>,
    pub session_id: Option<Spanned<String>>,
    pub amount: Option<Spanned<String>>,
    pub currency: Option<Spanned<String>>,
    pub released: Option<Spanned<String>>,
    pub status_map: Spanned<StatusMap>,
}

/// The app's status words for each of the harness's order statuses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMap {
    #[serde(default)]
    pub paid: Vec<String>,
    #[serde(default)]
    pub pending: Vec<String>,
    #[serde(default)]
    pub failed: Vec<String>,
    #[serde(default)]
    pub cancelled: Vec<String>,
}

impl StatusMap {
    /// Translates an app's status word into the harness's status.
    pub fn translate(&self, word: &str) -> Option<OrderStatus> {
        [
            (OrderStatus::Paid, &self.paid),
            (OrderStatus::Pending, &self.pending),
            (OrderStatus::Failed, &self.failed),
            (OrderStatus::Cancelled, &self.cancelled),
        ]
        .into_iter()
        .find(|(_, words)| words.iter().any(|w| w == word))
        .map(|(status, _)| status)
    }
}

/// The way the harness reaches the app.
#[derive(Debug, Clone)]
pub enum Launch {
    /// The harness starts the app, one process per job.
    Start(Box<StartConfig>),
    /// The app already runs at this base URL.
    Running {
        base_url: String,
        env_file: Option<PathBuf>,
    },
}

/// A checked fakestripe.yaml.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The file, as given.
    pub path: PathBuf,
    /// Its directory, which relative paths in it start from.
    pub dir: PathBuf,
    pub name: String,
    pub launch: Launch,
    pub webhook_path: String,
    /// The reset request, with its place in the file for messages.
    pub reset: Option<Spanned<RequestTemplate>>,
    pub checkout: CheckoutConfig,
    pub order: OrderConfig,
    /// The payment method types the app offers, in the order of
    /// [`PaymentMethod::ALL`]. Scenarios and fuzz flows that pay with
    /// another type are skipped.
    pub payment_method_types: Vec<PaymentMethod>,
    /// Whether the file lists `payment_method_types`, rather than the
    /// default of every type.
    pub payment_method_types_listed: bool,
    /// The Stripe API version of the app's webhook endpoint and of the
    /// harness's session reads for `expect`, or `None` for the fake's
    /// default.
    pub api_version: Option<String>,
    /// How long the harness waits for each response from the app.
    pub request_timeout: std::time::Duration,
}

impl AppConfig {
    /// Returns why the app cannot run something that pays with `needed`:
    /// the types it uses that the app does not offer, or `None` when the
    /// app offers them all.
    pub fn unoffered_payment_method_types(&self, needed: &[PaymentMethod]) -> Option<String> {
        let missing: Vec<&str> = needed
            .iter()
            .filter(|method| !self.payment_method_types.contains(method))
            .map(|method| method.as_str())
            .collect();
        if missing.is_empty() {
            return None;
        }
        Some(format!(
            "pays by {}, which `payment_method_types` in {} does not list ({})",
            missing.join(" and "),
            self.path.display(),
            self.payment_method_type_names().join(", ")
        ))
    }

    /// Returns Stripe's names of the payment method types the app offers.
    pub fn payment_method_type_names(&self) -> Vec<&'static str> {
        self.payment_method_types
            .iter()
            .map(|method| method.as_str())
            .collect()
    }
}

impl AppConfig {
    /// Returns the file the harness writes the app's settings to, for an
    /// app given by `base_url` with an `env_file`.
    pub fn env_file_path(&self) -> Option<PathBuf> {
        match &self.launch {
            Launch::Running {
                env_file: Some(env_file),
                ..
            } => Some(self.dir.join(env_file)),
            _ => None,
        }
    }

    /// Returns the place of a key's value in the file, as `path:line:column`.
    pub fn location<T>(&self, value: &Spanned<T>) -> String {
        format!(
            "{}:{}:{}",
            self.path.display(),
            value.referenced.line(),
            value.referenced.column()
        )
    }
}

/// Reads and checks fakestripe.yaml.
pub fn load(path: &Path) -> Result<AppConfig, Vec<FileError>> {
    if path.is_dir() {
        return Err(vec![folder_error(path)]);
    }
    let text = crate::diagnostic::read_text(path, "the app file").map_err(|err| vec![err])?;
    parse(path, &text)
}

/// Builds the error for a folder given as the app file, naming the
/// fakestripe.yaml inside it when there is one.
fn folder_error(path: &Path) -> FileError {
    let inside = path.join("fakestripe.yaml");
    let help = if inside.is_file() {
        format!("pass the app file in it: --app {}", inside.display())
    } else {
        format!(
            "pass the app file in it, such as --app {}; this folder has no fakestripe.yaml",
            inside.display()
        )
    };
    let mut error = FileError::whole_file(
        path,
        "this is a folder, and --app takes the app file (fakestripe.yaml)",
    );
    error.help = Some(help);
    error
}

/// Parses and checks the text of fakestripe.yaml.
pub fn parse(path: &Path, text: &str) -> Result<AppConfig, Vec<FileError>> {
    let source = Source { path, text };
    let file: AppFile = source
        .deserialize("fakestripe.yaml needs `version`, `start` or `base_url`, `webhook_path`, `checkout` and `order`")
        .map_err(|err| vec![err])?;
    let mut errors = Vec::new();

    if file.version.value != 1 {
        errors.push(source.at(
            &file.version,
            format!("unsupported version {}, expected 1", file.version.value),
            None,
        ));
    }
    let launch = match (&file.start, &file.base_url) {
        (Some(start), None) => {
            if start.value.command.is_empty() {
                errors.push(source.at(
                    start,
                    "`command` is empty; give the program and its arguments",
                    None,
                ));
            }
            if let Some(ready) = &start.value.ready
                && !ready.value.starts_with('/')
            {
                errors.push(source.at(ready, "`ready` must be a path starting with `/`", None));
            }
            check_seconds::<StartTimeout>(&source, &start.value.timeout_seconds, &mut errors);
            if let Some(port_env) = &start.value.port_env {
                let name = &port_env.value;
                let valid = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    errors.push(source.at(
                        port_env,
                        format!("`port_env` `{name}` is not an environment variable name"),
                        Some(
                            "use letters, digits and `_`, not starting with a digit, or leave it out for `PORT`"
                                .to_owned(),
                        ),
                    ));
                }
            }
            Some(Launch::Start(Box::new(start.value.clone())))
        }
        (None, Some(base_url)) => match url::Url::parse(&base_url.value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(Launch::Running {
                base_url: base_url.value.trim_end_matches('/').to_owned(),
                env_file: file
                    .env_file
                    .as_ref()
                    .filter(|env_file| check_env_file(&source, env_file, &mut errors))
                    .map(|env_file| env_file.value.clone()),
            }),
            _ => {
                errors.push(source.at(
                    base_url,
                    format!(
                        "invalid `base_url` `{}`, expected an http:// URL",
                        base_url.value
                    ),
                    None,
                ));
                None
            }
        },
        (Some(start), Some(_)) => {
            errors.push(source.at(start, "give either `start` or `base_url`, not both", None));
            None
        }
        (None, None) => {
            errors.push(source.error(
                0,
                0,
                "missing `start` (how to start the app) or `base_url` (where it runs)",
                None,
            ));
            None
        }
    };
    if !file.webhook_path.value.starts_with('/') {
        errors.push(source.at(
            &file.webhook_path,
            "`webhook_path` must start with `/`",
            None,
        ));
    }
    if let Some(reset) = &file.reset {
        check_template(&source, reset, &mut errors);
    }
    check_template(&source, &file.checkout.request, &mut errors);
    check_template(&source, &file.order.request, &mut errors);
    for pointer in [Some(&file.order.status)]
        .into_iter()
        .chain(
            [
                &file.checkout.session_id,
                &file.checkout.url,
                &file.order.fulfilments,
                &file.order.session_id,
                &file.order.amount,
                &file.order.currency,
                &file.order.released,
            ]
            .map(Option::as_ref),
        )
        .flatten()
    {
        if !pointer.value.is_empty() && !pointer.value.starts_with('/') {
            errors.push(source.at(
                pointer,
                format!(
                    "`{}` is not a JSON pointer; pointers start with `/`",
                    pointer.value
                ),
                None,
            ));
        }
    }
    check_status_words(&source, &file.order.status_map, &mut errors);
    let payment_method_types = match &file.payment_method_types {
        Some(listed) => check_payment_method_types(&source, listed, &mut errors),
        None => PaymentMethod::ALL.to_vec(),
    };
    if let Some(version) = &file.api_version {
        check_api_version(&source, version, &mut errors);
    }
    check_seconds::<RequestTimeout>(&source, &file.request_timeout_seconds, &mut errors);
    if file.order.status_map.value.paid.is_empty() {
        errors.push(source.at(
            &file.order.status_map,
            "`status_map` needs at least the app's word for `paid`",
            None,
        ));
    }

    let Some(launch) = launch else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let dir = crate::folder_of(path).to_path_buf();
    let name = file.name.unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".to_owned())
    });
    Ok(AppConfig {
        path: path.to_owned(),
        dir,
        name,
        launch,
        webhook_path: file.webhook_path.value,
        reset: file.reset,
        checkout: file.checkout,
        order: file.order,
        payment_method_types,
        payment_method_types_listed: file.payment_method_types.is_some(),
        api_version: file.api_version.map(|version| version.value),
        request_timeout: seconds_or_default::<RequestTimeout>(&file.request_timeout_seconds),
    })
}

/// Checks `env_file`: a file the harness can write, with its lock file,
/// without destroying the app file. So it is not empty, not a folder, in
/// a folder that exists, and neither it nor its lock file is the app
/// file. Returns whether it passed.
fn check_env_file(
    source: &Source<'_>,
    env_file: &Spanned<PathBuf>,
    errors: &mut Vec<FileError>,
) -> bool {
    let path = crate::folder_of(source.path).join(&env_file.value);
    let mut lock = path.clone().into_os_string();
    lock.push(".lock");
    let problem = if env_file.value.as_os_str().is_empty() {
        "`env_file` is empty".to_owned()
    } else if path.is_dir() || env_file.value.ends_with(".") || env_file.value.ends_with("..") {
        "`env_file` names a folder".to_owned()
    } else if crate::report::same_file(&path, source.path) {
        "`env_file` names this app file, which the harness would overwrite".to_owned()
    } else if crate::report::same_file(Path::new(&lock), source.path) {
        "`env_file` has its lock file, the name with `.lock` added, at this app file, which the harness would overwrite".to_owned()
    } else if !crate::folder_of(&path).is_dir() {
        format!(
            "`env_file` is in the folder {}, which does not exist",
            crate::folder_of(&path).display()
        )
    } else {
        return true;
    };
    errors.push(source.at(
        env_file,
        format!(
            "{problem}; the harness writes STRIPE_API_BASE, STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET there"
        ),
        Some("give a file of its own, such as .fakestripe.env".to_owned()),
    ));
    false
}

/// Checks `api_version`: a dated Stripe API version that has been
/// released, as the fake takes in `Stripe-Version`.
fn check_api_version(source: &Source<'_>, version: &Spanned<String>, errors: &mut Vec<FileError>) {
    use fakestripe_server::wire::version;
    if !version::is_valid(&version.value) {
        let help = version::with_fitting_name(&version.value).map(|fitting| {
            format!("no release of that name has a version of that date; did you mean {fitting}?")
        });
        errors.push(source.at(
            version,
            format!(
                "`api_version` `{}` is not a Stripe API version: give a date, optionally with the release name, such as 2024-06-20 or {}",
                version.value,
                version::DEFAULT_API_VERSION
            ),
            help,
        ));
    } else if version::is_unreleased(&version.value) {
        errors.push(source.at(
            version,
            format!(
                "`api_version` `{}` is dated in the future, and no such version has been released",
                version.value
            ),
            None,
        ));
    }
}

/// Checks `payment_method_types`: a non-empty list of the types a `pay`
/// step can use. Returns the valid types, each once.
fn check_payment_method_types(
    source: &Source<'_>,
    listed: &Spanned<Vec<Spanned<String>>>,
    errors: &mut Vec<FileError>,
) -> Vec<PaymentMethod> {
    let names: Vec<&str> = PaymentMethod::ALL.iter().map(|m| m.as_str()).collect();
    if listed.value.is_empty() {
        errors.push(source.at(
            listed,
            "`payment_method_types` is empty; list at least one type, such as `[card]`",
            Some("leave it out to run everything with every type".to_owned()),
        ));
    }
    let mut types = Vec::new();
    for name in &listed.value {
        match PaymentMethod::from_name(&name.value) {
            Some(method) => types.push(method),
            None => errors.push(source.at(
                name,
                format!(
                    "unknown payment method type `{}`, expected one of {}",
                    crate::diagnostic::shorten(&name.value),
                    names.join(", ")
                ),
                suggest(&name.value, &names),
            )),
        }
    }
    types.sort_unstable();
    types.dedup();
    types
}

/// Rejects a word listed under two statuses of `status_map`, which would
/// give an order in that state two statuses. The error points at the
/// second status's key.
fn check_status_words(
    source: &Source<'_>,
    status_map: &Spanned<StatusMap>,
    errors: &mut Vec<FileError>,
) {
    let map = &status_map.value;
    let statuses = [
        ("paid", &map.paid),
        ("pending", &map.pending),
        ("failed", &map.failed),
        ("cancelled", &map.cancelled),
    ];
    let mut first_status: BTreeMap<&str, &str> = BTreeMap::new();
    for (status, words) in statuses {
        for word in words.iter() {
            match first_status.get(word.as_str()) {
                Some(&first) if first != status => {
                    let message = format!(
                        "the status word `{word}` is listed under both `{first}` and `{status}` in `status_map`"
                    );
                    let help = format!(
                        "keep `{word}` under the one status that the app's orders in that state have"
                    );
                    errors.push(source.at_text(
                        status_map,
                        &format!("{status}:"),
                        message,
                        Some(help),
                    ));
                }
                Some(_) => {}
                None => {
                    first_status.insert(word, status);
                }
            }
        }
    }
}

/// Adds the strings inside `value` to `texts`.
fn string_leaves(value: &Value, texts: &mut Vec<String>) {
    match value {
        Value::String(text) => texts.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| string_leaves(item, texts)),
        Value::Object(fields) => fields.values().for_each(|item| string_leaves(item, texts)),
        _ => {}
    }
}

/// Rejects placeholders that name no template variable.
fn check_template(
    source: &Source<'_>,
    template: &Spanned<RequestTemplate>,
    errors: &mut Vec<FileError>,
) {
    let request = &template.value;
    let mut texts: Vec<String> = vec![request.path.clone()];
    texts.extend(request.headers.values().cloned());
    for value in request
        .query
        .values()
        .chain(request.form.iter().flat_map(|f| f.values()))
        .chain(&request.json)
    {
        string_leaves(value, &mut texts);
    }
    for text in texts {
        let names = match placeholders(&text) {
            Ok(names) => names,
            Err(message) => {
                errors.push(source.at_text(template, &text, message, None));
                continue;
            }
        };
        for name in names {
            if !TEMPLATE_VARIABLES.contains(&name.as_str()) {
                let message = format!(
                    "unknown template variable `{{{{{name}}}}}`, expected one of {}",
                    TEMPLATE_VARIABLES.join(", ")
                );
                let help = suggest(&name, TEMPLATE_VARIABLES);
                errors.push(source.at_text(template, &name, message, help));
            }
        }
    }
    if request.json.is_some() && request.form.is_some() {
        errors.push(source.at(
            template,
            "give either `json` or `form` as the body, not both",
            None,
        ));
    }
    if !request.path.starts_with('/') {
        errors.push(source.at_text(
            template,
            "path:",
            "the request `path` must start with `/`",
            None,
        ));
    }
    if let Some(method) = &request.method
        && !HTTP_METHODS.contains(&method.to_ascii_uppercase().as_str())
    {
        let upper = method.to_ascii_uppercase();
        errors.push(source.at_text(
            template,
            "method:",
            format!(
                "`{method}` is not an HTTP method, expected one of {}",
                HTTP_METHODS.join(", ")
            ),
            // One edit away, so FETCH gets no suggestion of PATCH.
            suggest_within(&upper, HTTP_METHODS, |_| 1),
        ));
    }
}

/// The methods of RFC 9110 and PATCH (RFC 5789), which a request template
/// may name in any case. An app file has no use for extension methods,
/// so another name is most likely a typo.
const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];
