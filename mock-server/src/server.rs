//! The shared server state and its lifecycle: binding, the router, account
//! lookup, and shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::account::{Account, AccountData, Endpoint};
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::ids::account_seed;
use crate::wire::auth::mask;

/// State shared by every request and background task.
#[derive(Debug)]
pub struct Shared {
    pub config: ServerConfig,
    /// The base of the URLs in responses, with no trailing slash:
    /// `ServerConfig::public_url`, or `http://host:port` of the bound
    /// address.
    pub base_url: String,
    accounts: Mutex<HashMap<String, Arc<Account>>>,
    /// The client that sends webhooks.
    pub http: reqwest::Client,
    /// Requests whose handler has started and not yet returned a response.
    in_flight: AtomicUsize,
    /// Set once the server stops. Webhook sends and the advances waiting
    /// for them end when it is set.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Webhook deliveries being sent now, for the log line at a stop.
    sends_in_flight: AtomicUsize,
}

impl Shared {
    pub fn new(config: ServerConfig, base_url: String) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.delivery_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(8)
            .build()
            .expect("building the webhook HTTP client");
        Arc::new(Shared {
            config,
            base_url,
            accounts: Mutex::new(HashMap::new()),
            http,
            in_flight: AtomicUsize::new(0),
            stopping: tokio::sync::watch::Sender::new(false),
            sends_in_flight: AtomicUsize::new(0),
        })
    }

    /// Stops every webhook delivery: sends in flight are cut off, queued
    /// ones are dropped, and advances waiting for them return. Logs how
    /// many were cut off and dropped. Later calls do nothing.
    pub fn stop_deliveries(&self) {
        if self.is_stopping() {
            return;
        }
        // Counted before the stop is published, because the sends it cuts
        // off stop counting at once, and a sender woken by it skips the
        // deliveries still queued.
        let in_flight = self.sends_in_flight.load(Ordering::SeqCst);
        let queued: usize = self
            .accounts()
            .iter()
            .map(|account| crate::events::dispatcher::discard_queued(account))
            .sum();
        self.stopping.send_replace(true);
        if in_flight + queued > 0 {
            tracing::info!(
                in_flight,
                queued,
                "stopping webhook deliveries: {in_flight} being sent were cut off and {queued} queued were not sent"
            );
        }
    }

    /// Returns whether `stop_deliveries` was called.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Returns a receiver that is notified of the stop.
    pub(crate) fn watch_stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Counts a webhook send in flight until the returned guard is dropped.
    pub(crate) fn start_send(&self) -> SendGuard<'_> {
        self.sends_in_flight.fetch_add(1, Ordering::SeqCst);
        SendGuard(&self.sends_in_flight)
    }

    /// Returns the number of requests being handled now, such as a clock advance
    /// that waits for its deliveries.
    pub fn requests_in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The account for `key`, or the connected account `connected` inside
    /// it, created on first use.
    pub fn account(self: &Arc<Self>, key: &str, connected: Option<&str>) -> Arc<Account> {
        let joined;
        let scope = match connected {
            Some(acct) => {
                joined = format!("{key}/{acct}");
                joined.as_str()
            }
            None => key,
        };
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(account) = accounts.get(scope) {
            return account.clone();
        }
        let mut data = AccountData::new(
            Clock::new(self.config.clock_mode),
            account_seed(self.config.seed, scope),
            connected.map(str::to_owned),
        )
        .with_log_limit(self.config.log_limit)
        .with_secret_scope(scope);
        if let Some(url) = &self.config.forward_to {
            data.endpoints.insert(
                "we_forward".to_owned(),
                Endpoint {
                    id: "we_forward".to_owned(),
                    url: url.clone(),
                    enabled_events: vec!["*".to_owned()],
                    secrets: vec![(self.config.forward_secret.clone(), None)],
                    api_version: None,
                    enabled: true,
                    hidden: true,
                },
            );
        }
        if let Some(plan) = &self.config.default_faults {
            // Restarting the ids from the plan's seed would give every
            // account the same session and event ids, so each keeps its own.
            let ids = data.ids.clone();
            if let Err(err) = crate::faults::set_plan(&mut data, plan.clone()) {
                tracing::error!(%err, "the default fault plan was rejected for a new account");
            }
            data.ids = ids;
        }
        let label = match connected {
            Some(acct) => format!("{}/{acct}", mask(key)),
            None => mask(key),
        };
        let account = Account::new(label, data);
        accounts.insert(scope.to_owned(), account.clone());
        tokio::spawn(crate::events::dispatcher::run(
            Arc::downgrade(self),
            Arc::downgrade(&account),
        ));
        tracing::debug!(account = %account.label, "account created");
        account
    }

    /// Every account, for server-wide operations such as a reset.
    pub fn accounts(&self) -> Vec<Arc<Account>> {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds the accounts that contain a Checkout Session, for the hosted
    /// page, which has the session id in its URL but no API key.
    ///
    /// The accounts are asked in turn instead of keeping an index of every
    /// session: an index costs about 30 bytes a session in a load test of
    /// hundreds of thousands, and a server has a few accounts, each found
    /// by one hash lookup. Accounts whose fault plans set the same seed
    /// draw the same ids, so more than one account may match.
    pub fn session_accounts(&self, session_id: &str) -> Vec<Arc<Account>> {
        let accounts: Vec<Arc<Account>> = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        accounts
            .into_iter()
            .filter(|account| {
                account
                    .lock()
                    .store
                    .contains("checkout.session", session_id)
            })
            .collect()
    }
}

/// Counts a webhook send in `Shared::sends_in_flight` until it is dropped.
pub(crate) struct SendGuard<'a>(&'a AtomicUsize);

impl Drop for SendGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Builds the service the listener serves: the Stripe API under `/v1`, the
/// control API under `/_fakestripe`, and the hosted pages.
pub fn app(shared: Arc<Shared>) -> Front {
    let max_body = shared.config.max_body_bytes;
    let router = Router::new()
        .merge(crate::control::routes())
        .merge(crate::pages::routes())
        .fallback(crate::api::handle)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            track_request,
        ))
        .with_state(shared.clone());
    Front { shared, router }
}

/// The service in front of the router. A request under `/v1/` goes straight
/// to `api::handle`, and the control API, the hosted pages and other paths
/// go through the router. The Stripe API is the busiest path, and the router
/// would spend on each of its requests a route lookup that cannot match,
/// the fallback, and a boxed future per layer.
#[derive(Clone, Debug)]
pub struct Front {
    shared: Arc<Shared>,
    router: Router,
}

impl tower::Service<Request> for Front {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.uri().path().starts_with("/v1/") {
            let shared = self.shared.clone();
            Box::pin(async move {
                let _counted = InFlight::enter(&shared);
                let response = crate::api::handle(State(shared.clone()), request).await;
                Ok(shape_plain_error(response, shared.config.max_body_bytes).await)
            })
        } else {
            Box::pin(self.router.clone().oneshot(request))
        }
    }
}

/// Counts a request in `Shared::in_flight` until it is dropped, which is
/// when its response is ready or the request is abandoned.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(&shared.in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts the request in `Shared::in_flight` until its response is ready
/// or the request is dropped, and puts a plain-text error response into
/// Stripe's envelope (`shape_plain_error`). One layer does both because
/// every layer adds a boxed future to each request.
async fn track_request(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let _counted = InFlight::enter(&shared);
    let response = next.run(request).await;
    shape_plain_error(response, shared.config.max_body_bytes).await
}

/// Gives the plain-text responses that axum's extractors produce (body too
/// large, method not allowed) Stripe's error envelope, so every client
/// sees one error format.
async fn shape_plain_error(response: Response, max_body: usize) -> Response {
    use axum::http::StatusCode;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json") || ct.contains("html"));
    if is_json {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => return body_too_large(max_body),
        StatusCode::METHOD_NOT_ALLOWED => {
            "Method not allowed on this path; see the README for the control API's methods."
                .to_owned()
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "Unsupported content type: the control API takes JSON.".to_owned()
        }
        _ => {
            // The framework's text names what it could not read, such as a
            // path segment that is not UTF-8 once decoded.
            let text = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
                .unwrap_or_default();
            if text.is_empty() {
                format!("Request failed with status {}.", status.as_u16())
            } else {
                format!("Invalid request: {}.", text.trim_end_matches('.'))
            }
        }
    };
    let error = crate::wire::ApiError::new(status, crate::wire::ErrorType::InvalidRequest, message);
    crate::api::unlogged_error_response(&error, None)
}

/// Builds the 413 response for a body over `max_body` bytes, in Stripe's envelope.
pub fn body_too_large(max_body: usize) -> Response {
    let error = crate::wire::ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        crate::wire::ErrorType::InvalidRequest,
        format!("Request body too large: the limit is {max_body} bytes."),
    );
    crate::api::unlogged_error_response(&error, None)
}

/// Returns the base URL for a server bound to `addr`. An unspecified
/// address (0.0.0.0 or ::) accepts connections on every interface but
/// cannot be connected to, so the URL names the loopback address of the
/// same family, which works from the same machine.
pub fn base_url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A running fake. Dropping it shuts the server down.
#[derive(Debug)]
pub struct Server {
    base_url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds to `config.host:config.port` and serves in the background.
    pub async fn start(config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let base_url = base_url_for(addr);
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| base_url.clone());
        let shared = Shared::new(config, public_url);
        let front = axum::ServiceExt::<Request>::into_make_service(app(shared.clone()));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, front)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(%err, "the server stopped with an error");
            }
        });
        tracing::info!(%base_url, %addr, "fakestripe listening");
        Ok(Server {
            base_url,
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Starts a fake on a free port of 127.0.0.1, for tests.
    pub async fn spawn() -> Server {
        Server::start(ServerConfig::default())
            .await
            .expect("binding fakestripe to a free port on 127.0.0.1")
    }

    /// `http://127.0.0.1:PORT`, the value for `STRIPE_API_BASE`. See
    /// `base_url_for` for a server bound to 0.0.0.0 or ::.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Returns the address the server is bound to, with the port the
    /// system chose when the config asked for port 0.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state behind the server, for tests that inspect it directly.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops every webhook delivery (see `Shared::stop_deliveries`), stops
    /// accepting connections, and waits for open requests to finish.
    pub async fn shutdown(mut self) {
        self.shared.stop_deliveries();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop_deliveries();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_for_unspecified_is_loopback() {
        let cases = [
            ("0.0.0.0:12111", "http://127.0.0.1:12111"),
            ("[::]:12111", "http://[::1]:12111"),
            ("127.0.0.1:4000", "http://127.0.0.1:4000"),
            ("192.168.1.20:4000", "http://192.168.1.20:4000"),
            ("[::1]:4000", "http://[::1]:4000"),
        ];
        for (bound, expected) in cases {
            let addr: SocketAddr = bound.parse().unwrap();
            assert_eq!(base_url_for(addr), expected, "{bound}");
        }
    }
}
