//! `fakestripe serve` as a process: the first line of stdout, `--port 0`,
//! forwarding, bad flags, and stopping on SIGTERM and SIGINT, also while a
//! clock advance waits for deliveries.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::mpsc;

const BINARY: &str = env!("CARGO_BIN_EXE_fakestripe");

/// Deliveries a receiver got: the signature header and the body.
type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

/// Starts `fakestripe serve` with `args` and returns the process and the
/// lines it printed at start.
async fn serve(args: &[&str]) -> (Child, Vec<String>) {
    serve_logging(args, "warn").await
}

/// `serve` with `RUST_LOG` set to `log_filter`.
async fn serve_logging(args: &[&str], log_filter: &str) -> (Child, Vec<String>) {
    let mut child = Command::new(BINARY)
        .arg("serve")
        .args(args)
        .env("RUST_LOG", log_filter)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting fakestripe serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let mut expected_lines = if args.contains(&"--forward-to") {
        3
    } else if args.contains(&"--public-url") {
        2
    } else {
        1
    };
    // Without --seed, the last line gives the seed drawn at start.
    if !args.contains(&"--seed") {
        expected_lines += 1;
    }
    while printed.len() < expected_lines {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("serve printed nothing for 30 s")
            .unwrap()
            .expect("serve closed stdout");
        printed.push(line);
    }
    (child, printed)
}

#[tokio::test]
async fn first_line_is_the_base_url() {
    let (mut child, lines) = serve(&["--port", "0"]).await;
    let base = &lines[0];
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/customers"))
        .bearer_auth("sk_test_serve")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    child.kill().await.unwrap();
}

/// Creates a customer with `key` on the server at `base` and returns its id.
async fn customer_id(base: &str, key: &str) -> String {
    let create = reqwest::Client::new()
        .post(format!("{base}/v1/customers"))
        .bearer_auth(key);
    json_of(create).await["id"]
        .as_str()
        .expect("the customer has an id")
        .to_owned()
}

/// A restart gives the same key new ids, as Stripe never repeats one,
/// and prints the seed it drew. `--seed` with that seed gives the first
/// start's ids again.
#[tokio::test]
async fn each_start_draws_a_seed_for_new_ids() {
    let key = "sk_test_restart";
    let mut ids = Vec::new();
    let mut seeds = Vec::new();
    for _ in 0..2 {
        let (mut child, lines) = serve(&["--port", "0"]).await;
        let line = &lines[1];
        let seed = line
            .strip_prefix("seed ")
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("{line}"))
            .to_owned();
        assert!(
            line.ends_with(&format!("pass --seed {seed} to get these again")),
            "{line}"
        );
        ids.push(customer_id(&lines[0], key).await);
        seeds.push(seed);
        child.kill().await.unwrap();
    }
    assert_ne!(ids[0], ids[1], "{seeds:?}");

    let (mut child, lines) = serve(&["--port", "0", "--seed", &seeds[0]]).await;
    assert_eq!(customer_id(&lines[0], key).await, ids[0]);
    child.kill().await.unwrap();
}

/// Sends `request` and returns its JSON body.
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// With `--public-url`, the URLs in responses name the host a browser
/// uses, and the first line still names the bound address.
#[tokio::test]
async fn public_url_goes_into_responses() {
    let args = ["--port", "0", "--public-url", "http://devbox.test:8080/"];
    let (mut child, lines) = serve(&args).await;
    let base = &lines[0];
    assert!(base.starts_with("http://127.0.0.1:"), "{lines:?}");
    assert_eq!(
        lines[1],
        "URLs in responses start with http://devbox.test:8080"
    );

    let client = reqwest::Client::new();
    let create = client
        .post(format!("{base}/v1/checkout/sessions"))
        .bearer_auth("sk_test_public_url")
        .form(&[
            ("mode", "payment"),
            ("success_url", "http://127.0.0.1:9/ok"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "500"),
            ("line_items[0][price_data][product_data][name]", "Mug"),
            ("line_items[0][quantity]", "1"),
        ]);
    let session = json_of(create).await;
    let url = session["url"].as_str().unwrap();
    let path = url
        .strip_prefix("http://devbox.test:8080/c/pay/")
        .unwrap_or_else(|| panic!("{url}"));
    let page = client.get(format!("{base}/c/pay/{path}")).send().await;
    assert_eq!(page.unwrap().status(), 200);

    let missing = client
        .get(format!("{base}/v1/customers/cus_missing"))
        .bearer_auth("sk_test_public_url");
    let error = json_of(missing).await;
    let log_url = error["error"]["request_log_url"].as_str().unwrap();
    assert!(
        log_url.starts_with("http://devbox.test:8080/_fakestripe/requests?"),
        "{log_url}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sigterm_stops_it_cleanly() {
    let (mut child, _) = serve(&["--port", "0"]).await;
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(exit_code(&mut child, 10).await, Some(0));
}

/// A connection that sent half a request delays the shutdown only until
/// the timeout, and carries no request to cut off, so the exit is 0.
#[tokio::test]
async fn half_sent_request_stop_exits_0() {
    use tokio::io::AsyncWriteExt;

    let (mut child, lines) = serve(&["--port", "0", "--shutdown-timeout", "1"]).await;
    let addr = lines[0].trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /_fakestripe/clock HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    send_signal(&child, nix::sys::signal::Signal::SIGTERM);
    assert_eq!(exit_code(&mut child, 20).await, Some(0));
    drop(stream);
}

/// With a shutdown timeout of zero and nothing in flight, the stop is
/// always clean.
#[tokio::test]
async fn zero_timeout_idle_stop_exits_0() {
    for _ in 0..10 {
        let (mut child, _) = serve(&["--port", "0", "--shutdown-timeout", "0"]).await;
        send_signal(&child, nix::sys::signal::Signal::SIGTERM);
        assert_eq!(exit_code(&mut child, 20).await, Some(0));
    }
}

/// Starts a webhook receiver on 127.0.0.1 that never responds, and returns
/// its URL and a channel that gets a message when a delivery arrives.
async fn silent_receiver() -> (String, mpsc::UnboundedReceiver<()>) {
    let (arrived, arrivals) = mpsc::unbounded_channel::<()>();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(arrived): State<mpsc::UnboundedSender<()>>| async move {
                    let _ = arrived.send(());
                    std::future::pending::<()>().await;
                },
            ),
        )
        .with_state(arrived);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (hook, arrivals)
}

/// Starts `serve` with `args` and logs at info level, registers an
/// endpoint that never responds, and pays a session, whose events all
/// fall due at once. Returns the process, its log lines, its base URL and
/// the receiver's arrivals.
async fn serve_with_silent_endpoint(
    args: &[&str],
) -> (
    Child,
    Lines<BufReader<ChildStderr>>,
    String,
    mpsc::UnboundedReceiver<()>,
) {
    let (hook, arrivals) = silent_receiver().await;
    let (mut child, lines) = serve_logging(args, "info").await;
    let log = BufReader::new(child.stderr.take().unwrap()).lines();

    let base = lines[0].clone();
    let client = reqwest::Client::new();
    let endpoint = client
        .post(format!("{base}/v1/webhook_endpoints"))
        .bearer_auth("sk_test_stuck")
        .form(&[("url", hook.as_str()), ("enabled_events[]", "*")])
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.status(), 200);
    let session = json_of(
        client
            .post(format!("{base}/v1/checkout/sessions"))
            .bearer_auth("sk_test_stuck")
            .form(&[
                ("mode", "payment"),
                ("success_url", "https://shop.example/done"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "500"),
                ("line_items[0][price_data][product_data][name]", "Mug"),
                ("line_items[0][quantity]", "1"),
            ]),
    )
    .await;
    let id = session["id"].as_str().expect("a session id");
    let paid = client
        .post(format!("{base}/_fakestripe/checkout/sessions/{id}/pay"))
        .bearer_auth("sk_test_stuck")
        .json(&serde_json::json!({"payment_method": "card", "card_number": "4242424242424242"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    (child, log, base, arrivals)
}

/// Waits until the silent receiver got a delivery.
async fn first_arrival(arrivals: &mut mpsc::UnboundedReceiver<()>) {
    tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
        .await
        .expect("no delivery arrived within 30 s")
        .unwrap();
}

/// Starts `serve --manual-clock --delivery-timeout 60` with `extra_args`
/// and a clock advance that waits for a receiver that never responds, 60 s
/// for each of a payment's deliveries. Returns once the first delivery has
/// arrived, with the process, its log lines, and the advance's response
/// (status and body) to come.
async fn serve_with_stuck_advance(
    extra_args: &[&str],
) -> (
    Child,
    Lines<BufReader<ChildStderr>>,
    tokio::task::JoinHandle<(u16, serde_json::Value)>,
) {
    let mut args = vec!["--port", "0", "--manual-clock", "--delivery-timeout", "60"];
    args.extend_from_slice(extra_args);
    let (child, log, base, mut arrivals) = serve_with_silent_endpoint(&args).await;
    let advance = reqwest::Client::new()
        .post(format!("{base}/_fakestripe/clock/advance"))
        .bearer_auth("sk_test_stuck")
        .json(&serde_json::json!({ "seconds": 0 }))
        .send();
    let advance = tokio::spawn(async move {
        let response = advance.await.expect("the advance gets a response");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    });
    first_arrival(&mut arrivals).await;
    (child, log, advance)
}

/// Starts `serve` with `extra_args` and logs at info level, and sends it
/// the headers of a POST whose body never comes, a request in flight
/// until the connection closes. Returns the process, its log lines and
/// the connection.
async fn serve_with_stuck_upload(
    extra_args: &[&str],
) -> (Child, Lines<BufReader<ChildStderr>>, tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;

    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra_args);
    let (mut child, lines) = serve_logging(&args, "info").await;
    let log = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = lines[0].trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_upload\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=",
        )
        .await
        .unwrap();
    // The request counts as in flight once its handler starts reading the
    // body, which the fake does as soon as the headers arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (child, log, stream)
}

/// Reads log lines until one contains `needle` and returns it.
async fn wait_for_log(log: &mut Lines<BufReader<ChildStderr>>, needle: &str) -> String {
    let read = async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("serve closed stderr before logging {needle:?}");
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap_or_else(|_| panic!("serve logged no {needle:?} within 30 s"))
}

fn send_signal(child: &Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
}

/// Waits up to `limit_secs` for `serve` to exit and returns its exit code.
async fn exit_code(child: &mut Child, limit_secs: u64) -> Option<i32> {
    tokio::time::timeout(Duration::from_secs(limit_secs), child.wait())
        .await
        .unwrap_or_else(|_| panic!("serve still running {limit_secs} s after the signal"))
        .expect("the exit status of serve")
        .code()
}

#[tokio::test]
async fn sigterm_during_upload_stops_after_timeout() {
    let (mut child, mut log, _stream) = serve_with_stuck_upload(&[]).await;
    send_signal(&child, nix::sys::signal::Signal::SIGTERM);
    let waiting = wait_for_log(&mut log, "shutting down").await;
    assert!(
        waiting.contains("waiting up to 5 s for 1 request in flight"),
        "{waiting}"
    );
    assert_eq!(exit_code(&mut child, 40).await, Some(130));
}

#[tokio::test]
async fn second_signal_stops_at_once() {
    let (mut child, mut log, _stream) =
        serve_with_stuck_upload(&["--shutdown-timeout", "600"]).await;
    send_signal(&child, nix::sys::signal::Signal::SIGTERM);
    let waiting = wait_for_log(&mut log, "shutting down").await;
    assert!(
        waiting.contains("waiting up to 600 s for 1 request in flight"),
        "{waiting}"
    );
    send_signal(&child, nix::sys::signal::Signal::SIGINT);
    assert_eq!(exit_code(&mut child, 40).await, Some(130));
}

/// A stop cuts off the delivery that a clock advance waits for, so the
/// advance gets a response and the server exits 0 long before its
/// shutdown timeout of 600 s or the delivery timeout of 60 s.
#[tokio::test]
async fn sigterm_during_advance_answers_it_and_exits_0() {
    let (mut child, mut log, advance) =
        serve_with_stuck_advance(&["--shutdown-timeout", "600"]).await;
    send_signal(&child, nix::sys::signal::Signal::SIGTERM);
    let waiting = wait_for_log(&mut log, "shutting down").await;
    assert!(
        waiting.contains("waiting up to 600 s for 1 request in flight"),
        "{waiting}"
    );
    let stopped = wait_for_log(&mut log, "stopping webhook deliveries").await;
    assert!(
        stopped.contains("1 being sent were cut off and 0 queued were not sent"),
        "{stopped}"
    );
    assert_eq!(exit_code(&mut child, 40).await, Some(0));
    let (status, body) = advance.await.unwrap();
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("The server is stopping, so this advance stopped after 1 task "),
        "{message}"
    );
}

/// In real-time mode a stop cuts off the delivery being sent, drops those
/// queued behind it, and logs both counts before exiting 0.
#[tokio::test]
async fn sigterm_during_deliveries_logs_them_and_exits_0() {
    let args = [
        "--port",
        "0",
        "--delivery-timeout",
        "60",
        "--shutdown-timeout",
        "600",
    ];
    let (mut child, mut log, base, mut arrivals) = serve_with_silent_endpoint(&args).await;
    let events = json_of(
        reqwest::Client::new()
            .get(format!("{base}/v1/events"))
            .bearer_auth("sk_test_stuck"),
    )
    .await;
    let events = events["data"].as_array().unwrap().len();
    assert!(events > 2, "a payment makes several events: {events}");
    first_arrival(&mut arrivals).await;
    send_signal(&child, nix::sys::signal::Signal::SIGTERM);
    let stopped = wait_for_log(&mut log, "stopping webhook deliveries").await;
    // The payment made its events in one step, so the background loop took
    // them all off the schedule before it sent the first.
    let counts = format!(
        "1 being sent were cut off and {} queued were not sent",
        events - 1
    );
    assert!(stopped.contains(&counts), "{stopped}");
    assert_eq!(exit_code(&mut child, 40).await, Some(0));
    let rest = read_rest(&mut log).await;
    assert!(!rest.contains("panicked"), "{rest}");
}

/// Reads the log lines left until the process closes stderr.
async fn read_rest(log: &mut Lines<BufReader<ChildStderr>>) -> String {
    let mut rest = String::new();
    while let Ok(Some(line)) = log.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    rest
}

#[tokio::test]
async fn forward_to_prints_the_secret_and_delivers() {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(store): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let signature = headers["stripe-signature"].to_str().unwrap().to_owned();
                    store.lock().unwrap().push((signature, body));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let secret = "whsec_serve_test_secret";
    let (mut child, lines) = serve(&[
        "--port",
        "0",
        "--forward-to",
        &hook,
        "--webhook-secret",
        secret,
    ])
    .await;
    assert_eq!(lines[1], format!("forwarding every event to {hook}"));
    // The secret was given, so it is not printed.
    assert_eq!(
        lines[2],
        "webhook signing secret: the one given by --webhook-secret or FAKESTRIPE_WEBHOOK_SECRET"
    );
    assert!(!lines.iter().any(|line| line.contains(secret)), "{lines:?}");
    let response = reqwest::Client::new()
        .post(format!("{}/v1/customers", lines[0]))
        .bearer_auth("sk_test_forward")
        .form(&[("email", "ada@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut waited = 0;
    while received.lock().unwrap().is_empty() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 1, "one customer.created delivery");
    let event: serde_json::Value = serde_json::from_slice(&deliveries[0].1).unwrap();
    assert_eq!(event["type"], "customer.created");
    assert!(deliveries[0].0.starts_with("t=") && deliveries[0].0.contains(",v1="));
    child.kill().await.unwrap();
}

/// An error in a `--faults` file names its line and column, and a plan
/// written as one fault entry, or as a bare list, is named as such. An
/// event type that the fake never sends is an error too.
#[tokio::test]
async fn fault_plan_errors_located() {
    let stderr = serve_rejects_plan(
        "f-range.yaml",
        "seed: 1\nfaults:\n  - kind: webhook_duplicate\n    copies: 50\n",
    )
    .await;
    assert!(
        stderr.contains("f-range.yaml:4:13: faults[0][copies]: "),
        "{stderr}"
    );
    assert!(stderr.contains(" 4 |     copies: 50"), "{stderr}");

    let stderr = serve_rejects_plan(
        "f-typo.yaml",
        "faults:\n  - kind: hold\n    types: ['*']\n  - kind: webhook_dupe\n",
    )
    .await;
    assert!(
        stderr.contains("f-typo.yaml:4:11: faults[1][kind]: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("Did you mean `webhook_duplicate`?"),
        "{stderr}"
    );

    let stderr = serve_rejects_plan("f-seed.json", "{\n  \"sed\": 1\n}\n").await;
    assert!(stderr.contains("f-seed.json:2:3: sed: "), "{stderr}");

    let stderr = serve_rejects_plan(
        "f-entry.yaml",
        "# one entry\nkind: webhook_duplicate\ncopies: 2\n",
    )
    .await;
    assert!(
        stderr.contains(
            "f-entry.yaml:2:1: this is one fault entry, and a fault plan is a map with a `faults:` list of entries"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n    faults:\n      - kind: webhook_duplicate\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("unknown parameter"), "{stderr}");

    let stderr = serve_rejects_plan(
        "f-type.yaml",
        "faults:\n  - kind: hold\n    types: [checkout.session.complete]\n",
    )
    .await;
    assert!(
        stderr.contains("f-type.yaml:3:13: unknown event type `checkout.session.complete`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `checkout.session.completed`?"),
        "{stderr}"
    );

    let stderr = serve_rejects_plan("f-list.yaml", "- kind: hold\n  types: ['*']\n").await;
    assert!(
        stderr.contains("f-list.yaml:1:1: this is a list, and a fault plan is a map"),
        "{stderr}"
    );
}

#[tokio::test]
async fn invalid_flags_exit_with_usage_error() {
    let bad_secret = Command::new(BINARY)
        .args([
            "serve",
            "--port",
            "0",
            "--forward-to",
            "http://127.0.0.1:9/hook",
            "--webhook-secret",
            "nope",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(bad_secret.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad_secret.stderr)
            .contains("--webhook-secret must start with whsec_")
    );

    let stderr = serve_rejects_plan("bad-plan.yaml", "faults:\n  - kind: webhook_dupe\n").await;
    assert!(
        stderr.contains("Did you mean `webhook_duplicate`?"),
        "{stderr}"
    );

    let stderr = serve_rejects_plan("twice.yaml", "seed: 1\nseed: 2\n").await;
    assert!(
        stderr.contains(".yaml:2:1: duplicate key `seed`"),
        "{stderr}"
    );
    assert!(stderr.contains("each key may appear once"), "{stderr}");
    assert!(!stderr.contains("DuplicateKeyPolicy"), "{stderr}");

    let stderr = serve_rejects_plan("two-docs.yaml", "seed: 1\n---\nseed: 2\n").await;
    assert!(
        stderr.contains(".yaml:2:1: a second YAML document starts here"),
        "{stderr}"
    );
    assert!(!stderr.contains("from_str_multiple"), "{stderr}");

    // A byte order mark before the JSON is skipped, so the plan's own
    // fault is the one reported.
    let stderr =
        serve_rejects_plan("bom.json", "\u{feff}{\"faults\": [{\"kind\": \"nope\"}]}").await;
    assert!(
        stderr.contains("faults[0][kind]: Unknown fault kind `nope`"),
        "{stderr}"
    );

    let cases: [(&[&str], &str); 16] = [
        (
            &["serve", "--port", "0", "--forward-to", "notaurl"],
            "give the app's webhook URL, such as http://127.0.0.1:4242/webhook",
        ),
        (
            &["serve", "--port", "0", "--public-url", "devbox.test:12111"],
            "use an http:// or https:// URL with a host",
        ),
        (
            &[
                "serve",
                "--port",
                "0",
                "--public-url",
                "http://devbox.test/?a=b",
            ],
            "leave out the query and fragment",
        ),
        (
            &["serve", "--port", "0", "--speed", "1e30"],
            "at most 1000000, got 1e30",
        ),
        (
            &["serve", "--port", "0", "--manual-clock", "--speed", "5"],
            "'--manual-clock' cannot be used with '--speed <SPEED>'",
        ),
        (
            &["serve", "--port", "0", "--webhook-secret", "whsec_unused"],
            "is only valid with --forward-to",
        ),
        (
            &[
                "serve",
                "--port",
                "0",
                "--public-url",
                "http://devbox.test/prefix/",
            ],
            "the fake serves from the root",
        ),
        (
            &[
                "serve",
                "--port",
                "0",
                "--public-url",
                "http://devbox.test/%2e",
            ],
            "the fake serves from the root",
        ),
        (&["serve", "--port", "0", "--speed", "0"], "got 0\n"),
        (
            &[
                "serve",
                "--port",
                "0",
                "--public-url",
                "http://user:pw@devbox.test",
            ],
            "leave out the user name and password",
        ),
        (
            &["run", "scenarios", "--fake", "notaurl"],
            "give the fake's base URL",
        ),
        (
            &["run", "scenarios", "--fake", "http://127.0.0.1:12111/%2e"],
            "without a path",
        ),
        (
            &[
                "run",
                "scenarios",
                "--fake",
                "http://user:pw@127.0.0.1:12111",
            ],
            "without a user name or password",
        ),
        (
            &["serve", "--port", "0", "--seed", "-1"],
            "invalid value '-1' for '--seed <SEED>'",
        ),
        (
            &["serve", "--port", "0", "--seed", "9007199254740992"],
            "9007199254740992 is not in 0..9007199254740992",
        ),
        (
            &["run", "scenarios", "--fake", "https://127.0.0.1:12111"],
            "--fake takes an http:// URL, such as http://127.0.0.1:12111: fakestripe serve listens on plain HTTP",
        ),
    ];
    for (args, expected) in cases {
        let output = Command::new(BINARY).args(args).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// An invalid FAKESTRIPE_URL is reported under its own name, not as the
/// `--fake` flag that the user did not pass.
#[tokio::test]
async fn invalid_fake_url_env_named() {
    for args in [
        &["run", "scenarios", "--app", "fakestripe.yaml"][..],
        &["fuzz", "--app", "fakestripe.yaml"][..],
    ] {
        let output = Command::new(BINARY)
            .args(args)
            .env("FAKESTRIPE_URL", "http://127.0.0.1:12111/v1")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("invalid value 'http://127.0.0.1:12111/v1' for FAKESTRIPE_URL"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("--fake"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn busy_port_exits_with_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(BINARY)
        .args(["serve", "--port", &port])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen on 127.0.0.1"));
}

/// Starts `serve --faults` with a plan file named `name` that contains
/// `text`, checks that it exits with code 2, and returns its stderr.
async fn serve_rejects_plan(name: &str, text: &str) -> String {
    let plan = std::env::temp_dir().join(format!("fakestripe-{}-{name}", std::process::id()));
    std::fs::write(&plan, text).unwrap();
    let output = Command::new(BINARY)
        .args(["serve", "--port", "0", "--faults"])
        .arg(&plan)
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&plan).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
    stderr
}
