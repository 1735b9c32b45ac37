//! The hosted checkout page and the dashboard in a real headless Chromium.
//!
//! Each browser test starts `/usr/bin/chromedriver` on a free port of
//! 127.0.0.1 and, through it, a Chromium with a new empty profile, then
//! ends both by process id when done. Both programs come from Debian's
//! `chromium` and `chromium-driver` packages. Without them these tests fail
//! with a message naming the packages to install, and never pass silently.
//!
//! A small shop app on 127.0.0.1 plays the merchant: its `/success` page
//! records the `session_id` it is sent, and its `/webhook` receives events.
//!
//! Screenshots and chromedriver logs are written to
//! `target/browser-artifacts/`. The README's pictures are copies from there:
//! `docs/images/checkout-page.png` of `checkout-open.png`, and
//! `docs/images/dashboard.png` of `dashboard.png`.
//!
//! The tests at the end (`plain_*`, `dashboard_without_key_*`, …) check
//! the same pages over plain HTTP, with no browser.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::response::Html;
use fakestripe_server::Server;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use support::{Api, form};
use thirtyfour::prelude::*;
use thirtyfour::{ChromiumLikeCapabilities, DesiredCapabilities};
use tokio::sync::{Semaphore, SemaphorePermit};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long to wait for a page, a driver or a delivery before failing.
const PATIENCE: Duration = Duration::from_secs(30);

/// Browsers running at once. Each Chromium takes a few hundred MB and a
/// core while it starts, so the tests take turns rather than all starting
/// together.
static BROWSER_SLOTS: Semaphore = Semaphore::const_new(2);

/// `target/browser-artifacts/`, created on first use.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("creating target/browser-artifacts");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("finding a free port on 127.0.0.1")
}

/// A chromedriver process and one Chromium session behind it. Dropping it
/// ends the session, then kills chromedriver's process group, which contains
/// the Chromium processes chromedriver started.
struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Child,
    profile: PathBuf,
    _slot: SemaphorePermit<'static>,
}

impl Browser {
    async fn start(name: &str) -> Browser {
        for program in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing. The browser tests need Chromium and its WebDriver from \
                 Debian's packages: run `apt-get install -y chromium chromium-driver`."
            );
        }
        let slot = BROWSER_SLOTS
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let artifacts = artifacts_dir();
        let port = free_port();
        let mut chromedriver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                artifacts.join(format!("chromedriver-{name}.log")).display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {CHROMEDRIVER} failed: {err}"));
        let server_url = format!("http://127.0.0.1:{port}");
        wait_for_chromedriver(&server_url, &mut chromedriver).await;

        let profile =
            std::env::temp_dir().join(format!("fakestripe-chromium-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("creating the Chromium profile folder");

        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM)
            .expect("setting the Chromium binary");
        let user_data_dir = format!("--user-data-dir={}", profile.display());
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
            user_data_dir.as_str(),
        ] {
            caps.add_arg(arg).expect("adding a Chromium argument");
        }
        let driver = match WebDriver::new(server_url.as_str(), caps).await {
            Ok(driver) => driver,
            Err(err) => {
                let _ = killpg(Pid::from_raw(chromedriver.id() as i32), Signal::SIGKILL);
                let _ = chromedriver.wait();
                panic!(
                    "starting Chromium through chromedriver failed: {err}. See \
                     target/browser-artifacts/chromedriver-{name}.log"
                );
            }
        };
        Browser {
            driver: Some(driver),
            chromedriver,
            profile,
            _slot: slot,
        }
    }

    fn driver(&self) -> &WebDriver {
        self.driver
            .as_ref()
            .expect("the session is open until quit")
    }

    /// Ends the session, which closes Chromium, then chromedriver.
    async fn quit(mut self) {
        if let Some(driver) = self.driver.take()
            && let Err(err) = driver.quit().await
        {
            eprintln!("ending the WebDriver session failed: {err}");
        }
    }

    async fn open(&self, url: &str) {
        self.driver()
            .goto(url)
            .await
            .unwrap_or_else(|err| panic!("opening {url} failed: {err}"));
    }

    async fn find(&self, id: &str) -> WebElement {
        self.driver()
            .query(By::Id(id))
            .wait(PATIENCE, Duration::from_millis(100))
            .first()
            .await
            .unwrap_or_else(|err| panic!("no element #{id} on the page: {err}"))
    }

    async fn exists(&self, id: &str) -> bool {
        let found = self.driver().find_all(By::Id(id)).await;
        !found.expect("searching the page").is_empty()
    }

    async fn text(&self, id: &str) -> String {
        self.find(id)
            .await
            .text()
            .await
            .expect("reading an element's text")
    }

    async fn attr(&self, id: &str, name: &str) -> Option<String> {
        let element = self.find(id).await;
        element.attr(name).await.expect("reading an attribute")
    }

    async fn value(&self, id: &str) -> String {
        let element = self.find(id).await;
        let value = element
            .prop("value")
            .await
            .expect("reading a field's value");
        value.unwrap_or_default()
    }

    /// Replaces the text of the field with `id`.
    async fn fill(&self, id: &str, text: &str) {
        let field = self.find(id).await;
        field.clear().await.expect("clearing a field");
        field.send_keys(text).await.expect("typing into a field");
    }

    async fn click(&self, id: &str) {
        self.find(id).await.click().await.expect("clicking");
    }

    async fn url(&self) -> String {
        let url = self.driver().current_url().await.expect("reading the URL");
        url.to_string()
    }

    /// Waits until the browser is on a URL that starts with `prefix`.
    async fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let url = self.url().await;
            if url.starts_with(prefix) {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "the browser stayed on {url}, expected a URL starting with {prefix}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resizes the window, so a screenshot shows more of a long page.
    async fn resize(&self, width: u32, height: u32) {
        self.driver()
            .set_window_rect(0, 0, width, height)
            .await
            .expect("resizing the window");
    }

    /// Writes a PNG of the window to `target/browser-artifacts/{name}.png`.
    async fn screenshot(&self, name: &str) {
        let path = artifacts_dir().join(format!("{name}.png"));
        self.driver()
            .screenshot(&path)
            .await
            .unwrap_or_else(|err| panic!("writing {} failed: {err}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked left the session open. Dropping the driver
        // ends it and closes Chromium.
        drop(self.driver.take());
        // chromedriver leads its own process group, and the Chromium it
        // started is in the same group, so this also ends a Chromium that
        // did not close with the session.
        let group = Pid::from_raw(self.chromedriver.id() as i32);
        if let Err(err) = killpg(group, Signal::SIGKILL) {
            eprintln!("killing chromedriver's process group {group} failed: {err}");
        }
        let _ = self.chromedriver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Polls chromedriver's `/status` until it is ready to start sessions.
async fn wait_for_chromedriver(server_url: &str, process: &mut Child) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(Some(status)) = process.try_wait() {
            panic!("{CHROMEDRIVER} exited at start with {status}");
        }
        let status = client.get(format!("{server_url}/status")).send().await;
        if let Ok(response) = status
            && let Ok(body) = response.json::<Value>().await
            && body["value"]["ready"] == true
        {
            return;
        }
        if Instant::now() > deadline {
            let _ = process.kill();
            let _ = process.wait();
            panic!("{CHROMEDRIVER} was not ready on {server_url} after {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the shop app was sent.
#[derive(Debug, Default)]
struct ShopLog {
    /// The `session_id` of each visit to `/success`.
    successes: Vec<String>,
    cancels: usize,
    /// The `type` of each webhook event.
    webhooks: Vec<String>,
}

/// The merchant's app: success and cancel pages for the browser to land
/// on, and a webhook endpoint.
#[derive(Clone)]
struct Shop {
    addr: SocketAddr,
    log: Arc<Mutex<ShopLog>>,
}

async fn shop_success(
    State(log): State<Arc<Mutex<ShopLog>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Html<String> {
    let id = query.get("session_id").cloned().unwrap_or_default();
    log.lock().unwrap().successes.push(id.clone());
    let printable: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Html(format!(
        "<!doctype html><title>Thank you</title><h1 id=\"shop-thanks\">Thank you</h1>\
         <p id=\"shop-session\">{printable}</p>"
    ))
}

async fn shop_cancel(State(log): State<Arc<Mutex<ShopLog>>>) -> Html<&'static str> {
    log.lock().unwrap().cancels += 1;
    Html("<!doctype html><title>Cart</title><h1 id=\"shop-cart\">Your cart</h1>")
}

async fn shop_webhook(
    State(log): State<Arc<Mutex<ShopLog>>>,
    axum::Json(event): axum::Json<Value>,
) -> String {
    let event_type = event["type"].as_str().unwrap_or_default().to_owned();
    log.lock().unwrap().webhooks.push(event_type.clone());
    format!("{{\"received\":\"{event_type}\"}}")
}

impl Shop {
    async fn start() -> Shop {
        let log = Arc::new(Mutex::new(ShopLog::default()));
        let router = axum::Router::new()
            .route("/success", axum::routing::get(shop_success))
            .route("/cart", axum::routing::get(shop_cancel))
            .route("/webhook", axum::routing::post(shop_webhook))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the shop app");
        let addr = listener.local_addr().expect("the shop's address");
        tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("serving the shop app");
        });
        Shop { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn successes(&self) -> Vec<String> {
        self.log.lock().unwrap().successes.clone()
    }

    fn cancels(&self) -> usize {
        self.log.lock().unwrap().cancels
    }
}

/// A product on a session: name, unit amount in the minor unit, quantity.
type Item<'a> = (&'a str, &'a str, &'a str);

/// Creates a hosted session in `currency` whose success and cancel URLs
/// point at `shop`. `extra` adds form pairs such as `customer_email`.
async fn create_session(
    api: &Api,
    shop: &Shop,
    currency: &str,
    items: &[Item<'_>],
    extra: &[(&str, &str)],
) -> Value {
    let success_url = shop.url("/success?session_id={CHECKOUT_SESSION_ID}");
    let cancel_url = shop.url("/cart");
    let mut pairs: Vec<(String, String)> = vec![
        ("mode".into(), "payment".into()),
        ("success_url".into(), success_url),
        ("cancel_url".into(), cancel_url),
    ];
    for (index, (name, unit_amount, quantity)) in items.iter().enumerate() {
        let prefix = format!("line_items[{index}]");
        pairs.push((format!("{prefix}[price_data][currency]"), currency.into()));
        pairs.push((
            format!("{prefix}[price_data][unit_amount]"),
            (*unit_amount).into(),
        ));
        pairs.push((
            format!("{prefix}[price_data][product_data][name]"),
            (*name).into(),
        ));
        pairs.push((format!("{prefix}[quantity]"), (*quantity).into()));
    }
    for (key, value) in extra {
        pairs.push(((*key).into(), (*value).into()));
    }
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    api.post("/v1/checkout/sessions", &form(&borrowed))
        .await
        .ok()
        .clone()
}

const SOCKS: &[Item<'static>] = &[("Wool socks", "1500", "2"), ("Gift wrap", "500", "1")];

fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("an object id").to_owned()
}

fn url_of(session: &Value) -> String {
    session["url"]
        .as_str()
        .expect("a hosted session has a url")
        .to_owned()
}

async fn retrieve(api: &Api, session_id: &str) -> Value {
    api.get(&format!("/v1/checkout/sessions/{session_id}"))
        .await
        .ok()
        .clone()
}

/// Waits until the fake recorded a 2xx delivery of `event_type`.
async fn wait_for_delivery(api: &Api, event_type: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let delivered = api.deliveries().await.iter().any(|delivery| {
            delivery["event_type"] == event_type
                && delivery["status"]
                    .as_u64()
                    .is_some_and(|s| (200..300).contains(&s))
        });
        if delivered {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no successful delivery of {event_type} after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn card_payment_lands_on_success_url() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_card");
    let session = create_session(
        &api,
        &shop,
        "usd",
        SOCKS,
        &[("customer_email", "ada@example.com")],
    )
    .await;
    let session_id = id_of(&session);
    let browser = Browser::start("card").await;

    browser.open(&url_of(&session)).await;

    assert_eq!(
        browser
            .attr("session-status", "data-status")
            .await
            .as_deref(),
        Some("open")
    );
    assert_eq!(browser.text("total-amount").await, "35.00 USD");
    let items = browser.text("line-items").await;
    assert!(items.contains("Wool socks"), "{items}");
    assert!(items.contains("30.00 USD"), "{items}");
    assert!(items.contains("Gift wrap"), "{items}");
    assert_eq!(browser.value("email").await, "ada@example.com");
    assert!(browser.exists("method-card").await);
    assert!(browser.exists("method-us_bank_account").await);
    assert!(!browser.exists("method-sepa_debit").await);
    browser.fill("card-number", "4242 4242 4242 4242").await;
    browser.fill("billing-name", "Ada Lovelace").await;
    browser.screenshot("checkout-open").await;
    browser.click("pay-button").await;

    let landed = browser.wait_for_url(&shop.url("/success")).await;
    assert_eq!(
        landed,
        shop.url(&format!("/success?session_id={session_id}"))
    );
    assert_eq!(browser.text("shop-session").await, session_id);
    assert_eq!(shop.successes(), vec![session_id.clone()]);
    let paid = retrieve(&api, &session_id).await;
    assert_eq!(paid["status"], "complete");
    assert_eq!(paid["payment_status"], "paid");
    assert_eq!(paid["customer_details"]["email"], "ada@example.com");

    // Back on the page, the session shows as complete and cannot be paid.
    browser
        .open(&format!("{}/c/pay/{session_id}", fake.base_url()))
        .await;
    assert_eq!(
        browser
            .attr("session-status", "data-status")
            .await
            .as_deref(),
        Some("complete")
    );
    assert!(!browser.exists("pay-button").await);
    assert!(!browser.exists("cancel-button").await);
    browser.screenshot("checkout-complete").await;
    browser.quit().await;
}

#[tokio::test]
async fn declined_card_then_good_card() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_decline");
    let session = create_session(&api, &shop, "usd", SOCKS, &[]).await;
    let session_id = id_of(&session);
    let browser = Browser::start("decline").await;
    browser.open(&url_of(&session)).await;

    browser.fill("email", "grace@example.com").await;
    browser.fill("card-number", "4000 0000 0000 0002").await;
    browser.click("pay-button").await;

    let error = browser.text("payment-error").await;
    assert_eq!(error, "Your card was declined.");
    assert!(browser.url().await.starts_with(&url_of(&session)));
    assert_eq!(browser.value("email").await, "grace@example.com");
    assert_eq!(browser.value("card-number").await, "");
    assert_eq!(retrieve(&api, &session_id).await["status"], "open");
    assert!(shop.successes().is_empty());
    browser.screenshot("checkout-declined").await;

    browser.fill("card-number", "4242424242424242").await;
    browser.click("pay-button").await;

    browser.wait_for_url(&shop.url("/success")).await;
    assert_eq!(shop.successes(), vec![session_id.clone()]);
    let paid = retrieve(&api, &session_id).await;
    assert_eq!(paid["payment_status"], "paid");
    let types = api.event_types_oldest_first().await;
    assert!(types.contains(&"charge.failed".to_owned()), "{types:?}");
    assert!(
        types.contains(&"checkout.session.completed".to_owned()),
        "{types:?}"
    );
    browser.quit().await;
}

#[tokio::test]
async fn three_d_secure_fail_then_complete() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_3ds");
    let session = create_session(&api, &shop, "eur", SOCKS, &[]).await;
    let session_id = id_of(&session);
    let browser = Browser::start("3ds").await;
    browser.open(&url_of(&session)).await;

    browser.fill("email", "kai@example.com").await;
    browser.fill("card-number", "4000 0025 0000 3155").await;
    browser.click("pay-button").await;
    let challenge = browser.text("three-d-secure").await;
    assert!(challenge.contains("ending in 3155"), "{challenge}");
    assert!(challenge.contains("35.00 EUR"), "{challenge}");
    browser.screenshot("checkout-3ds").await;
    browser.click("three-d-secure-fail").await;

    let error = browser.text("payment-error").await;
    assert!(error.contains("failed authentication"), "{error}");
    assert_eq!(retrieve(&api, &session_id).await["status"], "open");

    browser.fill("card-number", "4000 0025 0000 3155").await;
    browser.click("pay-button").await;
    browser.click("three-d-secure-complete").await;

    browser.wait_for_url(&shop.url("/success")).await;
    assert_eq!(shop.successes(), vec![session_id.clone()]);
    let types = api.event_types_oldest_first().await;
    let requires_action = types
        .iter()
        .filter(|t| *t == "payment_intent.requires_action")
        .count();
    assert_eq!(requires_action, 2, "{types:?}");
    browser.quit().await;
}

/// The fields a browser test of custom fields creates its session with:
/// a required text field, and a dropdown whose default is `L`.
const ENGRAVING_AND_SIZE: &[(&str, &str)] = &[
    ("custom_fields[0][key]", "engraving"),
    ("custom_fields[0][label][type]", "custom"),
    ("custom_fields[0][label][custom]", "Engraving"),
    ("custom_fields[0][type]", "text"),
    ("custom_fields[1][key]", "size"),
    ("custom_fields[1][label][type]", "custom"),
    ("custom_fields[1][label][custom]", "Size"),
    ("custom_fields[1][type]", "dropdown"),
    ("custom_fields[1][dropdown][options][0][label]", "Small"),
    ("custom_fields[1][dropdown][options][0][value]", "S"),
    ("custom_fields[1][dropdown][options][1][label]", "Large"),
    ("custom_fields[1][dropdown][options][1][value]", "L"),
    ("custom_fields[1][dropdown][default_value]", "L"),
    (
        "payment_method_options[card][request_three_d_secure]",
        "any",
    ),
];

/// The page shows the session's custom fields, and what the customer
/// enters lands on the session. `request_three_d_secure=any` sends a
/// card that needs no authentication through the 3-D Secure step.
#[tokio::test]
async fn custom_field_values_land_on_session() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_custom_fields");
    let session = create_session(&api, &shop, "usd", SOCKS, ENGRAVING_AND_SIZE).await;
    let session_id = id_of(&session);
    let browser = Browser::start("custom-fields").await;
    browser.open(&url_of(&session)).await;

    assert_eq!(
        browser
            .attr("custom-field-engraving", "required")
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(browser.value("custom-field-size").await, "L");
    browser.fill("email", "ada@example.com").await;
    browser.fill("custom-field-engraving", "For Ada").await;
    browser.fill("card-number", "4242 4242 4242 4242").await;
    browser.screenshot("checkout-custom-fields").await;
    browser.click("pay-button").await;

    let challenge = browser.text("three-d-secure").await;
    assert!(challenge.contains("ending in 4242"), "{challenge}");
    browser.click("three-d-secure-complete").await;

    browser.wait_for_url(&shop.url("/success")).await;
    let paid = retrieve(&api, &session_id).await;
    assert_eq!(paid["payment_status"], "paid");
    assert_eq!(paid["custom_fields"][0]["text"]["value"], "For Ada");
    assert_eq!(paid["custom_fields"][1]["dropdown"]["value"], "L");
    browser.quit().await;
}

#[tokio::test]
async fn sepa_debit_completes_unpaid() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_sepa");
    let session = create_session(&api, &shop, "eur", SOCKS, &[]).await;
    let session_id = id_of(&session);
    let browser = Browser::start("sepa").await;
    browser.open(&url_of(&session)).await;

    assert!(!browser.exists("method-us_bank_account").await);
    browser.fill("email", "lin@example.com").await;
    browser.click("method-sepa_debit").await;
    browser.fill("delay-seconds", "3600").await;
    browser.click("pay-button").await;

    browser.wait_for_url(&shop.url("/success")).await;
    assert_eq!(shop.successes(), vec![session_id.clone()]);
    let session = retrieve(&api, &session_id).await;
    assert_eq!(session["status"], "complete");
    assert_eq!(session["payment_status"], "unpaid");
    browser
        .open(&format!("{}/c/pay/{session_id}", fake.base_url()))
        .await;
    let status = browser.find("session-status").await;
    assert_eq!(
        status.attr("data-payment-status").await.unwrap().as_deref(),
        Some("unpaid")
    );
    assert!(status.text().await.unwrap().contains("Payment processing"));
    browser.quit().await;
}

#[tokio::test]
async fn cancel_returns_to_cancel_url() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_cancel");
    let session = create_session(&api, &shop, "usd", SOCKS, &[]).await;
    let session_id = id_of(&session);
    let browser = Browser::start("cancel").await;
    browser.open(&url_of(&session)).await;

    browser.click("cancel-button").await;

    let landed = browser.wait_for_url(&shop.url("/cart")).await;
    assert_eq!(landed, shop.url("/cart"));
    assert!(browser.exists("shop-cart").await);
    assert_eq!(shop.cancels(), 1);
    assert!(shop.successes().is_empty());
    assert_eq!(retrieve(&api, &session_id).await["status"], "open");
    browser.quit().await;
}

#[tokio::test]
async fn expired_session_shows_expired() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_expired");
    let session = create_session(&api, &shop, "usd", SOCKS, &[]).await;
    let session_id = id_of(&session);
    let url = url_of(&session);
    api.post(&format!("/v1/checkout/sessions/{session_id}/expire"), "")
        .await
        .ok();
    let browser = Browser::start("expired").await;

    browser.open(&url).await;

    assert_eq!(
        browser
            .attr("session-status", "data-status")
            .await
            .as_deref(),
        Some("expired")
    );
    assert!(browser.text("session-status").await.contains("expired"));
    assert!(!browser.exists("pay-button").await);
    assert!(!browser.exists("checkout-form").await);
    assert!(!browser.exists("card-number").await);
    browser.screenshot("checkout-expired").await;
    browser.quit().await;
}

#[tokio::test]
async fn names_and_metadata_are_escaped() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_escape");
    let name = "<script>window.injected = true</script><b>Bold</b>";
    let note = "<img src=x onerror=\"window.injected = true\">";
    let session = create_session(
        &api,
        &shop,
        "jpy",
        &[(name, "1200", "1")],
        &[("metadata[note]", note)],
    )
    .await;
    let browser = Browser::start("escape").await;

    browser.open(&url_of(&session)).await;

    let items = browser.text("line-items").await;
    assert!(items.contains(name), "the name shows as text: {items}");
    assert!(items.contains("1,200 JPY"), "{items}");
    let injected = browser
        .driver()
        .execute("return window.injected === undefined;", Vec::new())
        .await
        .expect("running a script");
    assert_eq!(
        injected.json(),
        &Value::Bool(true),
        "a script from the name ran"
    );

    browser
        .open(&format!(
            "{}/_fakestripe/dashboard?key={}",
            fake.base_url(),
            api.key
        ))
        .await;
    let sessions = browser.text("sessions-table").await;
    assert!(sessions.contains(&format!("note={note}")), "{sessions}");
    let injected = browser
        .driver()
        .execute("return window.injected === undefined;", Vec::new())
        .await
        .expect("running a script");
    assert_eq!(
        injected.json(),
        &Value::Bool(true),
        "a script from metadata ran"
    );
    browser.quit().await;
}

#[tokio::test]
async fn dashboard_shows_session_and_events() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_browser_dashboard");
    api.webhook_endpoint(&shop.url("/webhook"), &["*"]).await;
    let session = create_session(
        &api,
        &shop,
        "usd",
        SOCKS,
        &[
            ("customer_email", "ada@example.com"),
            ("metadata[order]", "1042"),
        ],
    )
    .await;
    let session_id = id_of(&session);
    let browser = Browser::start("dashboard").await;
    browser.open(&url_of(&session)).await;
    browser.fill("card-number", "4000 0000 0000 0002").await;
    browser.click("pay-button").await;
    browser.find("payment-error").await;
    browser.fill("card-number", "4242 4242 4242 4242").await;
    browser.click("pay-button").await;
    browser.wait_for_url(&shop.url("/success")).await;
    wait_for_delivery(&api, "checkout.session.completed").await;
    wait_for_delivery(&api, "charge.updated").await;
    let pi_id = retrieve(&api, &session_id).await["payment_intent"]
        .as_str()
        .expect("a paid session has a payment intent")
        .to_owned();

    let dashboard = format!("{}/_fakestripe/dashboard?key={}", fake.base_url(), api.key);
    browser.open(&dashboard).await;

    let sessions = browser.text("sessions-table").await;
    assert!(sessions.contains(&session_id), "{sessions}");
    assert!(sessions.contains("complete"), "{sessions}");
    assert!(sessions.contains("order=1042"), "{sessions}");
    let intents = browser.text("payment-intents-table").await;
    assert!(intents.contains(&pi_id), "{intents}");
    assert!(intents.contains("succeeded"), "{intents}");
    let events = browser.text("events-table").await;
    for event_type in [
        "checkout.session.completed",
        "payment_intent.succeeded",
        "charge.failed",
    ] {
        assert!(
            events.contains(event_type),
            "{event_type} missing: {events}"
        );
    }
    assert!(
        events.contains("{\"received\":\"checkout.session.completed\"}"),
        "the shop's answer is shown: {events}"
    );
    let requests = browser.text("requests-table").await;
    assert!(
        requests.contains("POST /v1/checkout/sessions"),
        "{requests}"
    );
    assert!(browser.text("fault-plan").await.contains("\"faults\""));
    assert!(browser.exists("clock").await);
    browser.resize(1280, 1200).await;
    browser.screenshot("dashboard").await;

    // Every link keeps the key, so the JSON and the timeline open as well.
    let json_link = browser
        .driver()
        .find(By::Css(format!(
            "a[href^='/_fakestripe/dashboard/objects/{session_id}?key=']"
        )))
        .await
        .expect("a link to the session's JSON");
    json_link.click().await.expect("opening the session's JSON");
    let body = browser
        .driver()
        .find(By::Tag("body"))
        .await
        .expect("the JSON page");
    let json: Value = serde_json::from_str(&body.text().await.expect("the JSON text"))
        .expect("the object route returns JSON");
    assert_eq!(json["id"], session_id.as_str());
    assert!(
        json.get("_allowed_methods").is_none(),
        "private fields are hidden"
    );

    browser.open(&dashboard).await;
    let timeline_link = browser
        .driver()
        .find(By::Css(format!(
            ".session-row[data-id='{session_id}'] a.timeline-link"
        )))
        .await
        .expect("a timeline link for the session");
    timeline_link.click().await.expect("opening the timeline");
    let timeline = browser.text("timeline").await;
    let rows = browser
        .driver()
        .find_all(By::Css("tr.timeline-row"))
        .await
        .expect("the timeline rows");
    let mut kinds = Vec::new();
    for row in &rows {
        kinds.push(row.attr("data-kind").await.unwrap().unwrap_or_default());
    }
    // The trace logs a request when it finishes, after the changes it made,
    // so the session's creation comes first.
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("object"),
        "{timeline}"
    );
    for kind in ["request", "object", "customer", "event", "delivery"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} row: {timeline}");
    }
    assert!(
        timeline.contains("POST /v1/checkout/sessions → 200"),
        "{timeline}"
    );
    assert!(
        timeline.contains("customer pays by card ending in 0002"),
        "{timeline}"
    );
    assert!(
        timeline.contains("customer pays by card ending in 4242"),
        "{timeline}"
    );
    assert!(
        timeline.contains("checkout.session.completed"),
        "{timeline}"
    );
    assert!(timeline.contains("HTTP 200"), "{timeline}");
    browser.screenshot("dashboard-timeline").await;
    browser.quit().await;
}

// The same pages over plain HTTP, without a browser: the form posts that a
// page without JavaScript sends, and what the server returns.

/// Builds a client that returns redirects instead of following them.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("building an HTTP client")
}

/// Posts the hosted page's payment form with `fields`, as a browser
/// without JavaScript would.
async fn post_payment_form(
    client: &reqwest::Client,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(page)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(fields))
        .send()
        .await
        .expect("posting the payment form")
}

/// Posts `fields` to the session's page and asserts that the page shows
/// the form again with a 400 and `message`, and that the session is still
/// open.
async fn assert_form_rejected(
    client: &reqwest::Client,
    api: &Api,
    session: &Value,
    fields: &[(&str, &str)],
    message: &str,
) {
    let response = post_payment_form(client, &url_of(session), fields).await;
    assert_eq!(response.status().as_u16(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains(message), "no {message:?} in {html}");
    assert_eq!(retrieve(api, &id_of(session)).await["status"], "open");
}

#[tokio::test]
async fn plain_form_post_pays_and_redirects() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_pay");
    let session = create_session(&api, &shop, "usd", SOCKS, &[]).await;
    let session_id = id_of(&session);

    let response = post_payment_form(
        &plain_client(),
        &url_of(&session),
        &[
            ("email", "ada@example.com"),
            ("payment_method", "card"),
            ("card_number", "4242 4242 4242 4242"),
        ],
    )
    .await;

    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        shop.url(&format!("/success?session_id={session_id}"))
    );
    assert_eq!(retrieve(&api, &session_id).await["payment_status"], "paid");
}

#[tokio::test]
async fn plain_post_without_success_url_shows_completion() {
    let fake = Server::spawn().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_complete");
    let body = form(&[
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "900"),
        ("line_items[0][price_data][product_data][name]", "Mug"),
        ("line_items[0][quantity]", "1"),
    ]);
    let session = api.post("/v1/checkout/sessions", &body).await.ok().clone();
    let page = url_of(&session);
    let client = plain_client();

    let response = post_payment_form(
        &client,
        &page,
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
            ("email", "noor@example.com"),
        ],
    )
    .await;

    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/c/pay/{}", id_of(&session)));
    let html = client
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-status=\"complete\""), "{html}");
    assert!(html.contains("Payment received"), "{html}");
    assert!(!html.contains("id=\"pay-button\""), "{html}");
}

/// A card authorization that waits for its capture is not a bank payment
/// in progress, so the page reports the card as authorized. A cancel sent
/// from a stale tab of the completed session shows its state again
/// instead of a not-found page.
#[tokio::test]
async fn authorized_card_page_and_stale_cancel() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_held");
    let session = create_session(
        &api,
        &shop,
        "usd",
        SOCKS,
        &[("payment_intent_data[capture_method]", "manual")],
    )
    .await;
    let page = url_of(&session);
    let client = plain_client();
    let paid = post_payment_form(
        &client,
        &page,
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
            ("email", "noor@example.com"),
        ],
    )
    .await;
    assert_eq!(paid.status().as_u16(), 303);
    let html = client
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-payment-status=\"unpaid\""), "{html}");
    assert!(html.contains("Payment authorized"), "{html}");
    assert!(!html.contains("bank payment"), "{html}");

    let cancel = client
        .post(format!("{page}/cancel"))
        .send()
        .await
        .expect("posting the cancel form");
    assert_eq!(cancel.status().as_u16(), 303);
    let location = cancel.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/c/pay/{}", id_of(&session)));
}

/// Checkout requires an email unless the session brings one, so a form
/// without one is shown again with an error, and nothing is paid.
#[tokio::test]
async fn plain_post_without_email_asks_for_one() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_no_email");
    let session = create_session(&api, &shop, "usd", SOCKS, &[]).await;

    let response = post_payment_form(
        &plain_client(),
        &url_of(&session),
        &[
            ("payment_method", "card"),
            ("card_number", "4242424242424242"),
        ],
    )
    .await;

    assert_eq!(response.status().as_u16(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter your email address."), "{html}");
    assert_eq!(retrieve(&api, &id_of(&session)).await["status"], "open");
}

/// A session that collects phone numbers shows a required phone field,
/// and the page does not pay a form sent without one.
#[tokio::test]
async fn plain_phone_field_is_required() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_phone");
    let extra = [("phone_number_collection[enabled]", "true")];
    let session = create_session(&api, &shop, "usd", SOCKS, &extra).await;
    let client = plain_client();
    let page = client.get(url_of(&session)).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"phone\" name=\"phone\""), "{html}");

    let card = [
        ("email", "ada@example.com"),
        ("payment_method", "card"),
        ("card_number", "4242424242424242"),
    ];
    assert_form_rejected(&client, &api, &session, &card, "Enter your phone number.").await;

    let mut with_phone = card.to_vec();
    with_phone.push(("phone", "+33 1 23 45 67 89"));
    let response = post_payment_form(&client, &url_of(&session), &with_phone).await;
    assert_eq!(response.status().as_u16(), 303);
    let paid = retrieve(&api, &id_of(&session)).await;
    assert_eq!(paid["customer_details"]["phone"], "+33 1 23 45 67 89");
}

/// The page shows the session's submit and after-submit texts, escaped.
/// A required custom field left empty keeps the form on the page with a
/// message, and the value entered with it is stored on the session.
#[tokio::test]
async fn plain_required_custom_field_blocks_payment() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_custom_fields");
    let session = create_session(&api, &shop, "usd", SOCKS, ENGRAVING_AND_SIZE).await;
    let client = plain_client();
    let page = client.get(url_of(&session)).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"custom-field-engraving\" name=\"custom_fields[engraving]\""),
        "{html}"
    );

    let card = [
        ("email", "ada@example.com"),
        ("payment_method", "card"),
        ("card_number", "4242424242424242"),
        ("custom_fields[size]", "S"),
        ("custom_fields[engraving]", ""),
    ];
    let message = "Fill in the required field Engraving.";
    assert_form_rejected(&client, &api, &session, &card, message).await;

    // The 3-D Secure step that `request_three_d_secure=any` adds carries
    // the inputs on to the payment.
    let mut filled = card.to_vec();
    filled[4].1 = "For Ada";
    let response = post_payment_form(&client, &url_of(&session), &filled).await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"three-d-secure\""), "{html}");
    assert!(
        html.contains("name=\"custom_fields[engraving]\" value=\"For Ada\""),
        "{html}"
    );
    filled.push(("three_d_secure", "complete"));
    let response = post_payment_form(&client, &url_of(&session), &filled).await;
    assert_eq!(response.status().as_u16(), 303);
    let paid = retrieve(&api, &id_of(&session)).await;
    assert_eq!(paid["custom_fields"][0]["text"]["value"], "For Ada");
    assert_eq!(paid["custom_fields"][1]["dropdown"]["value"], "S");
}

#[tokio::test]
async fn plain_page_shows_custom_text() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_custom_text");
    let extra = [
        ("custom_text[submit][message]", "Ships in <b>2</b> days"),
        ("custom_text[after_submit][message]", "Questions? Call us."),
    ];
    let session = create_session(&api, &shop, "usd", SOCKS, &extra).await;

    let page = plain_client().get(url_of(&session)).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"custom-text-submit\">Ships in &#60;b&#62;2&#60;/b&#62; days<"),
        "{html}"
    );
    assert!(
        html.contains("id=\"custom-text-after-submit\">Questions? Call us.<"),
        "{html}"
    );
}

/// A session that requires the terms shows a required checkbox with the
/// session's own terms text, and pays only once it is ticked.
#[tokio::test]
async fn plain_terms_of_service_must_be_accepted() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_terms");
    let extra = [
        ("consent_collection[terms_of_service]", "required"),
        ("consent_collection[promotions]", "auto"),
        (
            "custom_text[terms_of_service_acceptance][message]",
            "I accept the shop terms.",
        ),
    ];
    let session = create_session(&api, &shop, "usd", SOCKS, &extra).await;
    let client = plain_client();
    let page = client.get(url_of(&session)).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"terms-of-service\""), "{html}");
    assert!(html.contains("I accept the shop terms."), "{html}");
    assert!(html.contains("id=\"promotions\""), "{html}");

    let card = [
        ("email", "ada@example.com"),
        ("payment_method", "card"),
        ("card_number", "4242424242424242"),
    ];
    let message = "Accept the terms of service to pay.";
    assert_form_rejected(&client, &api, &session, &card, message).await;

    let mut accepted = card.to_vec();
    accepted.push(("terms_of_service", "accepted"));
    let response = post_payment_form(&client, &url_of(&session), &accepted).await;
    assert_eq!(response.status().as_u16(), 303);
    let paid = retrieve(&api, &id_of(&session)).await;
    assert_eq!(
        paid["consent"],
        json!({"promotions": "opt_out", "terms_of_service": "accepted"})
    );
}

#[tokio::test]
async fn plain_invalid_card_number_rerenders() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_invalid");
    let session = create_session(&api, &shop, "usd", SOCKS, &[]).await;

    let response = post_payment_form(
        &plain_client(),
        &url_of(&session),
        &[
            ("payment_method", "card"),
            ("card_number", "1234"),
            ("email", "ravi@example.com"),
        ],
    )
    .await;

    assert_eq!(response.status().as_u16(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"payment-error\""), "{html}");
    assert!(html.contains("is not a card number"), "{html}");
    assert!(
        html.contains("value=\"1234\""),
        "the number stays for correction: {html}"
    );
}

#[tokio::test]
async fn plain_unknown_session_is_404() {
    let fake = Server::spawn().await;

    let response = plain_client()
        .get(format!("{}/c/pay/cs_test_missing", fake.base_url()))
        .send()
        .await
        .expect("opening the page");

    assert_eq!(response.status().as_u16(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("Checkout not found"), "{html}");
    assert!(html.contains("cs_test_missing"), "{html}");
}

#[tokio::test]
async fn plain_page_escapes_product_name() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_escape");
    let session = create_session(
        &api,
        &shop,
        "usd",
        &[("<script>alert(1)</script>", "100", "1")],
        &[],
    )
    .await;

    let html = plain_client()
        .get(url_of(&session))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
}

#[tokio::test]
async fn dashboard_without_key_asks_for_one() {
    let fake = Server::spawn().await;
    let client = plain_client();
    let base = format!("{}/_fakestripe/dashboard", fake.base_url());

    let missing = client.get(&base).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    let html = missing.text().await.unwrap();
    assert!(html.contains("id=\"dashboard-key\""), "{html}");
    assert!(!html.contains("id=\"login-error\""), "{html}");

    let live = client
        .get(format!("{base}?key=sk_live_1234567890abcdef"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 401);
    let html = live.text().await.unwrap();
    assert!(html.contains("id=\"login-error\""), "{html}");
    assert!(html.contains("sk_live_************cdef"), "{html}");

    let header = client
        .get(&base)
        .bearer_auth("sk_test_plain_header")
        .send()
        .await
        .unwrap();
    assert_eq!(header.status().as_u16(), 200);
    let html = header.text().await.unwrap();
    assert!(
        html.contains("href=\"/_fakestripe/dashboard?key=sk_test_plain_header\""),
        "{html}"
    );
}

#[tokio::test]
async fn dashboard_accounts_are_separate() {
    let fake = Server::spawn().await;
    let shop = Shop::start().await;
    let api = Api::new(fake.base_url(), "sk_test_plain_owner");
    let session = create_session(&api, &shop, "usd", SOCKS, &[]).await;
    let session_id = id_of(&session);
    let client = plain_client();
    let base = fake.base_url();

    let other = client
        .get(format!(
            "{base}/_fakestripe/dashboard?key=sk_test_plain_other"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!other.contains(&session_id), "{other}");
    let object = client
        .get(format!(
            "{base}/_fakestripe/dashboard/objects/{session_id}?key=sk_test_plain_other"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(object.status().as_u16(), 404);
    let timeline = client
        .get(format!(
            "{base}/_fakestripe/dashboard/sessions/{session_id}?key=sk_test_plain_other"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(timeline.status().as_u16(), 404);

    let owner = client
        .get(format!(
            "{base}/_fakestripe/dashboard/objects/{session_id}?key={}",
            api.key
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status().as_u16(), 200);
    assert_eq!(owner.headers()["content-type"], "application/json");
    let json: Value = owner.json().await.unwrap();
    assert_eq!(json["id"], session_id.as_str());
}
