//! The app under test: its fakestripe.yaml ([`config`]), its process
//! ([`process`]), and the HTTP calls the harness makes to it: reset, start a
//! checkout, read an order, and the browser's return from Checkout.

pub mod config;
pub mod process;
pub mod template;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use config::{AppConfig, Launch};
pub use process::{AppExit, AppLog, AppProcess, LaunchEnv, StartError};
use template::{Variables, encode_path_segment, render_text, render_value, scalar_text};

use crate::runner::record::{AbsentPointer, OrderView};

/// The largest response body the harness reads from the app, 8 MiB. An
/// order or a checkout response in JSON is a few kilobytes, and the limit
/// keeps an app that sends without end from filling the harness's memory.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Reads a response body of at most [`MAX_RESPONSE_BYTES`]. Returns an
/// error that names `request` (such as `GET http://…/orders/O-1`) when the
/// body is larger or reading it fails.
async fn read_body(
    mut response: reqwest::Response,
    request: &str,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let too_large = || {
        format!(
            "{request}: the response body is larger than {} MiB, the harness's limit \
             for one response from the app. Make the app answer this request with a \
             smaller body.",
            MAX_RESPONSE_BYTES / (1024 * 1024)
        )
    };
    let declared = response.content_length().unwrap_or(0);
    if declared > MAX_RESPONSE_BYTES as u64 {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|err| {
            format!(
                "{request}: reading the body failed: {}",
                request_error(&err, timeout)
            )
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
}

/// Describes a failed request to the app by its cause, which reqwest's
/// own message leaves to the error's sources. `timeout` is the limit the
/// request had.
fn request_error(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!(
            "no response within {} s, the harness's limit for one request to the app \
             (`request_timeout_seconds` in the app file)",
            timeout.as_secs()
        );
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let closed = causes
        .iter()
        .any(|cause| cause.contains("connection closed before message completed"));
    if closed {
        return "the app closed the connection before it answered; its output may show why"
            .to_owned();
    }
    if err.is_connect() {
        let reason = causes.last().map_or("", String::as_str);
        return format!("could not connect to the app: {reason}");
    }
    match causes.last() {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}

/// The app's response to a checkout request.
#[derive(Debug, Clone)]
pub struct CheckoutAnswer {
    pub http_status: u16,
    pub session_id: Option<String>,
    pub url: Option<String>,
    /// The `Location` header, which an app that redirects the browser
    /// straight to Checkout sets.
    pub location: Option<String>,
    /// The start of the body, for messages.
    pub body_excerpt: String,
    /// A message naming the app file's `checkout.session_id` and
    /// `checkout.url` pointers that name no value in the response, if any.
    pub absent_pointers: Option<String>,
}

/// The app's response to the browser's return from Checkout.
#[derive(Debug, Clone)]
pub struct PageAnswer {
    pub http_status: u16,
    pub url: String,
    pub body_excerpt: String,
}

/// A response from the app.
struct Answer {
    status: u16,
    body: Vec<u8>,
    location: Option<String>,
    /// The request's method and URL, such as `GET http://…/orders/O-1`.
    request: String,
}

/// Talks to one running app.
#[derive(Debug, Clone)]
pub struct AppClient {
    config: std::sync::Arc<AppConfig>,
    pub base_url: String,
    http: reqwest::Client,
    browser: reqwest::Client,
}

impl AppClient {
    pub fn new(config: std::sync::Arc<AppConfig>, base_url: String) -> AppClient {
        let timeout = config.request_timeout;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        // The browser follows redirects, but only within the app, so a
        // redirect to a real payment page or another site goes nowhere.
        let authority = url::Url::parse(&base_url)
            .ok()
            .map(|url| (url.host_str().map(str::to_owned), url.port()));
        let browser = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let same = authority.as_ref().is_some_and(|(host, port)| {
                    attempt.url().host_str() == host.as_deref() && attempt.url().port() == *port
                });
                if same && attempt.previous().len() < 5 {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        AppClient {
            config,
            base_url,
            http,
            browser,
        }
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Returns how long the harness waits for each response from the app.
    fn timeout(&self) -> Duration {
        self.config.request_timeout
    }

    /// Describes a request to the app that failed.
    fn failure(&self, err: &reqwest::Error) -> String {
        request_error(err, self.timeout())
    }

    /// Sends the reset request, if the app has one.
    pub async fn reset(&self) -> Result<(), String> {
        let Some(template) = &self.config.reset else {
            return Ok(());
        };
        let answer = self.send(&template.value, &Variables::new()).await?;
        if (200..300).contains(&answer.status) {
            return Ok(());
        }
        Err(format!(
            "the app responded to the reset request {} {} (`reset` at {}:{}:{}) with {}, expected 2xx: {}",
            template.value.method(),
            template.value.path,
            self.config.path.display(),
            template.referenced.line(),
            template.referenced.column(),
            answer.status,
            excerpt(&answer.body)
        ))
    }

    /// Asks the app to start a checkout.
    pub async fn checkout(&self, vars: &Variables) -> Result<CheckoutAnswer, String> {
        let checkout = &self.config.checkout;
        let answer = self.send(&checkout.request.value, vars).await?;
        let json: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let pick = |pointer: &Option<serde_saphyr::Spanned<String>>| -> Option<String> {
            let pointer = pointer.as_ref()?.value.as_str();
            json.as_ref()?
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        // An app that responds with a redirect to the Checkout URL has the
        // session id in the Location header.
        let url = pick(&checkout.url).or_else(|| answer.location.clone());
        let session_id =
            pick(&checkout.session_id).or_else(|| url.as_deref().and_then(find_session_id));
        let pointers = [("session_id", &checkout.session_id), ("url", &checkout.url)];
        let mut absent = Vec::new();
        for (key, pointer) in pointers {
            if let Some(pointer) = pointer
                && json
                    .as_ref()
                    .and_then(|json| json.pointer(&pointer.value))
                    .is_none()
            {
                absent.push(format!(
                    "`checkout.{key}` pointer `{}` ({})",
                    pointer.value,
                    self.config.location(pointer)
                ));
            }
        }
        let absent_pointers = (!absent.is_empty()).then(|| {
            let contents = match &json {
                Some(json) => crate::runner::record::describe_keys(&top_level_keys(json)),
                None => format!("it is not JSON: {}", excerpt(&answer.body)),
            };
            let likely = if absent.len() == 1 {
                "the pointer is"
            } else {
                "the pointers are"
            };
            format!(
                "the checkout response has no value at the app file's {} ({contents}), so {likely} likely wrong",
                absent.join(" nor at its ")
            )
        });
        Ok(CheckoutAnswer {
            http_status: answer.status,
            session_id,
            url,
            location: answer.location,
            body_excerpt: excerpt(&answer.body),
            absent_pointers,
        })
    }

    /// Reads one order and picks its fields through the configured
    /// pointers. Failures are part of the view, not errors, because a
    /// missing order is itself something to report.
    pub async fn read_order(&self, app_order_id: &str) -> OrderView {
        let order = &self.config.order;
        let mut vars = Variables::new();
        vars.set("order_id", Value::String(app_order_id.to_owned()));
        let answer = match self.send(&order.request.value, &vars).await {
            Ok(answer) => answer,
            Err(err) => {
                return OrderView {
                    error: Some(err),
                    ..OrderView::default()
                };
            }
        };

        let mut view = OrderView {
            http_status: answer.status,
            request: answer.request.clone(),
            request_source: format!(
                "`order.request` at {}",
                self.config.location(&order.request)
            ),
            ..OrderView::default()
        };
        if answer.status == 404 {
            return view;
        }
        if !(200..300).contains(&answer.status) {
            view.error = Some(format!(
                "the order read returned {}: {}",
                answer.status,
                excerpt(&answer.body)
            ));
            return view;
        }
        let Ok(json) = serde_json::from_slice::<Value>(&answer.body) else {
            view.error = Some(format!(
                "the order read did not return JSON: {}",
                excerpt(&answer.body)
            ));
            return view;
        };

        view.found = true;
        let field = |pointer: &Option<serde_saphyr::Spanned<String>>| -> Option<&Value> {
            json.pointer(&pointer.as_ref()?.value)
                .filter(|v| !v.is_null())
        };
        view.status_word = json.pointer(&order.status.value).map(scalar_text);
        view.status = view
            .status_word
            .as_deref()
            .and_then(|word| order.status_map.value.translate(word));
        view.fulfilments = field(&order.fulfilments).and_then(Value::as_u64);
        view.session_id = field(&order.session_id).map(scalar_text);
        view.amount = field(&order.amount).and_then(Value::as_i64);
        view.currency = field(&order.currency).map(scalar_text);
        view.released = field(&order.released).and_then(Value::as_bool);
        let pointers = [
            ("fulfilments", &order.fulfilments),
            ("session_id", &order.session_id),
            ("amount", &order.amount),
            ("currency", &order.currency),
            ("released", &order.released),
        ];
        for (key, pointer) in pointers {
            if let Some(pointer) = pointer
                && json.pointer(&pointer.value).is_none()
            {
                view.absent_pointers.push(AbsentPointer {
                    key: key.to_owned(),
                    pointer: pointer.value.clone(),
                    location: self.config.location(pointer),
                });
            }
        }
        view.response_keys = top_level_keys(&json);
        view
    }

    /// Plays the browser returning from Checkout: a GET of the redirect URL,
    /// sent to this app whatever host the URL names.
    pub async fn visit(&self, redirect_url: &str) -> Result<PageAnswer, String> {
        let url = self.rebase(redirect_url)?;
        let response = self
            .browser
            .get(&url)
            .send()
            .await
            .map_err(|err| format!("GET {url} failed: {}", self.failure(&err)))?;
        let http_status = response.status().as_u16();
        let body = read_body(response, &format!("GET {url}"), self.timeout()).await?;
        Ok(PageAnswer {
            http_status,
            url,
            body_excerpt: excerpt(&body),
        })
    }

    /// Replaces the scheme, host and port of `url` with the app's.
    fn rebase(&self, url: &str) -> Result<String, String> {
        let parsed =
            url::Url::parse(url).map_err(|err| format!("invalid redirect URL `{url}`: {err}"))?;
        let mut out = self.base_url.clone();
        out.push_str(parsed.path());
        if let Some(query) = parsed.query() {
            out.push('?');
            out.push_str(query);
        }
        Ok(out)
    }

    /// Sends a request template; returns the status, the body and the
    /// `Location` header.
    async fn send(
        &self,
        template: &config::RequestTemplate,
        vars: &Variables,
    ) -> Result<Answer, String> {
        let method = template.method();
        let path = render_text(&template.path, vars, encode_path_segment);
        let url = format!("{}{path}", self.base_url);
        let method_value = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| {
            format!(
                "invalid HTTP method `{method}` in {}",
                self.config.path.display()
            )
        })?;
        let mut request = self.http.request(method_value, &url);

        if !template.query.is_empty() {
            let query: Vec<(String, String)> = template
                .query
                .iter()
                .map(|(key, value)| (key.clone(), scalar_text(&render_value(value, vars))))
                .collect();
            request = request.query(&query);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &template.headers {
            let value = render_text(value, vars, str::to_owned);
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                _ => tracing::warn!(header = %name, "skipping a header that is not valid HTTP"),
            }
        }
        request = request.headers(headers);
        if let Some(json) = &template.json {
            request = request.json(&render_value(json, vars));
        } else if let Some(form) = &template.form {
            let fields: Vec<(String, String)> = form
                .iter()
                .map(|(key, value)| (key.clone(), scalar_text(&render_value(value, vars))))
                .collect();
            request = request.form(&fields);
        }

        let response = request
            .send()
            .await
            .map_err(|err| format!("{method} {url} failed: {}", self.failure(&err)))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request = format!("{method} {url}");
        let body = read_body(response, &request, self.timeout()).await?;
        Ok(Answer {
            status,
            body,
            location,
            request,
        })
    }
}

/// A `cs_…` id inside a Checkout URL, for apps that return only the URL.
pub fn find_session_id(text: &str) -> Option<String> {
    let start = text.find("cs_")?;
    let id: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (id.len() > 3).then_some(id)
}

/// Returns the keys of a JSON object, or none for any other value.
fn top_level_keys(json: &Value) -> Vec<String> {
    json.as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

/// Returns the start of a body, as one line, for messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 {
        let cut: String = flat.chars().take(200).collect();
        format!("{cut}…")
    } else if flat.is_empty() {
        "(empty body)".to_owned()
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_in_url() {
        assert_eq!(
            find_session_id("http://x/c/pay/cs_test_a1B2#frag"),
            Some("cs_test_a1B2".to_owned())
        );
        assert_eq!(find_session_id("http://x/none"), None);
    }

    #[test]
    fn excerpt_is_flat_and_short() {
        assert_eq!(excerpt(b"a\n  b"), "a b");
        assert_eq!(excerpt(b""), "(empty body)");
        assert!(excerpt("x".repeat(300).as_bytes()).ends_with('…'));
    }
}
