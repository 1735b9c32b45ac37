//! How `fakestripe run` and `fakestripe fuzz` find, start or reach the app
//! that a fakestripe.yaml describes. The cases are an app file given by a
//! bare file name or found in the current directory, a `base_url` where
//! nothing listens, a `--fake` URL where nothing listens, and an app whose
//! reset request fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use axum::routing::post;
use fakestripe::{RunOptions, run_files};
use scratch::Scratch;

mod scratch;

const BINARY: &str = env!("CARGO_BIN_EXE_fakestripe");

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits in the workspace")
        .to_owned()
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// Creates a directory for one test's files.
fn scratch(test: &str) -> Scratch {
    scratch::scratch("app-start", test)
}

/// Writes the shop's fakestripe.yaml into `dir` without `cwd`, so the shop
/// starts in the app file's directory, and returns the file's path.
fn shop_app_without_cwd(dir: &Path) -> PathBuf {
    let shop = workspace_root().join("examples/shop-rust/fakestripe.yaml");
    let text = std::fs::read_to_string(shop).expect("the shop's fakestripe.yaml exists");
    let manifest = workspace_root().join("Cargo.toml");
    let command = format!(
        "command: [\"cargo\", \"run\", \"--quiet\", \"--manifest-path\", \"{}\", \"-p\", \"shop-rust\"]",
        manifest.display()
    );
    let text = text
        .replace(
            "command: [\"cargo\", \"run\", \"--quiet\", \"-p\", \"shop-rust\"]",
            &command,
        )
        .replace("  cwd: ../..\n", "");
    assert!(
        text.contains("--manifest-path"),
        "the command was not replaced"
    );
    assert!(!text.contains("cwd:"), "the cwd was not removed");
    let path = dir.join("fakestripe.yaml");
    std::fs::write(&path, text).expect("the temporary directory is writable");
    path
}

/// Returns a port in 14200-14299 on which nothing listened a moment ago.
fn unused_port() -> u16 {
    (14200..14300)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a port in 14200-14299 is free")
}

/// Writes an app file for an app that already runs at `base_url`, and
/// returns its path.
fn running_app(dir: &Path, base_url: &str) -> PathBuf {
    let text = format!(
        "\
version: 1
base_url: {base_url}
webhook_path: /hooks
reset: {{ method: POST, path: /reset }}
checkout: {{ request: {{ method: POST, path: /buy, json: {{ id: \"{{{{order_id}}}}\" }} }} }}
order:
  request: {{ path: \"/orders/{{{{order_id}}}}\" }}
  status: /state
  status_map: {{ paid: [done] }}
"
    );
    let path = dir.join("running.yaml");
    std::fs::write(&path, text).expect("the temporary directory is writable");
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` in a fresh folder that contains the shop's app file without
/// `cwd`, under the default name, and checks that the app starts there
/// and the command passes.
#[track_caller]
fn passes_beside_app_file(label: &str, command: &mut Command) {
    let dir = scratch(label);
    shop_app_without_cwd(&dir);
    let output = command.current_dir(&dir).output().expect("fakestripe runs");
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("cannot start"), "{label}: {stderr}");
    assert_eq!(output.status.code(), Some(0), "{label}: {stderr}");
    // Log lines written to a file carry no colour codes.
    assert!(!stderr.contains('\u{1b}'), "{label}: {stderr}");
    if label.ends_with("-bare") {
        // Both bare runs set RUST_LOG, so there are lines to check.
        assert!(stderr.contains(" DEBUG "), "{label}: {stderr}");
    }
}

#[test]
fn app_file_without_folder_starts_app() {
    passes_beside_app_file(
        "run-bare",
        Command::new(BINARY)
            .env("RUST_LOG", "fakestripe_server=debug")
            .arg("run")
            .arg(scenario("card-paid.yaml"))
            .args(["--app", "fakestripe.yaml"]),
    );
    passes_beside_app_file(
        "run-default",
        Command::new(BINARY)
            .arg("run")
            .arg(scenario("card-paid.yaml")),
    );
    passes_beside_app_file(
        "fuzz-bare",
        Command::new(BINARY)
            .env("RUST_LOG", "fakestripe_server=debug")
            .args(["fuzz", "--cases", "2", "--seed", "3", "--flow", "card"])
            .args(["--app", "fakestripe.yaml"]),
    );
}

#[test]
fn unreachable_base_url_exits_3() {
    let dir = scratch("unreachable");
    let base_url = format!("http://127.0.0.1:{}", unused_port());
    let app = running_app(&dir, &base_url);
    for command in ["run", "fuzz"] {
        let mut process = Command::new(BINARY);
        process.arg(command);
        if command == "run" {
            process.arg(scenario("card-paid.yaml"));
        } else {
            process.args(["--cases", "1"]);
        }
        let output = process
            .arg("--app")
            .arg(&app)
            .output()
            .expect("fakestripe runs");
        let stdout = text(&output.stdout);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{command}: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("cannot connect to {base_url}")),
            "{command}: {stderr}"
        );
        assert!(stderr.contains("Connection refused"), "{command}: {stderr}");
        assert!(!stdout.contains("FAIL"), "{command}: {stdout}");
    }
}

/// Writes `file` to `app`, runs a scenario against it, checks that the run
/// exits with 3 because the app never got ready, and returns the stderr.
fn run_app_that_never_gets_ready(app: &Path, file: &str) -> String {
    run_never_ready_with_log(app, file, None)
}

/// Runs as [`run_app_that_never_gets_ready`] does, with `RUST_LOG` set to
/// `rust_log` or removed.
fn run_never_ready_with_log(app: &Path, file: &str, rust_log: Option<&str>) -> String {
    std::fs::write(app, file).expect("the temporary directory is writable");
    let mut command = Command::new(BINARY);
    command
        .arg("run")
        .arg(scenario("card-paid.yaml"))
        .arg("--app")
        .arg(app);
    match rust_log {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    let output = command.output().expect("fakestripe runs");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    stderr
}

/// An app that runs but never listens on its port times out with a
/// pointer to the port variable it should read.
#[test]
fn app_that_never_listens_names_port_variable() {
    let dir = scratch("never-listens");
    let app = dir.join("sleeper.yaml");
    let file = "\
version: 1
start:
  command: [\"sleep\", \"30\"]
  port_env: SHOP_PORT
  timeout_seconds: 1
webhook_path: /hooks
reset: { method: POST, path: /reset }
checkout: { request: { method: POST, path: /buy, json: { id: \"{{order_id}}\" } } }
order:
  request: { path: \"/orders/{{order_id}}\" }
  status: /state
  status_map: { paid: [done] }
";
    let stderr = run_app_that_never_gets_ready(&app, file);
    assert!(stderr.contains("was not ready after 1s"), "{stderr}");
    assert!(stderr.contains("was refused"), "{stderr}");
    assert!(stderr.contains("$SHOP_PORT"), "{stderr}");
}

/// An app that accepts the ready check's connection but never responds
/// times out with that cause, not a bare failed request.
#[test]
fn app_that_never_answers_ready_check_says_so() {
    let dir = scratch("never-answers");
    let app = dir.join("silent.yaml");
    // The app takes the checks' connections and never reads from them.
    let script = "exec python3 -c \"import os, socket, time; s = socket.socket(); \
                  s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(); \
                  connections = [s.accept() for _ in range(3)]; time.sleep(60)\"";
    let file = never_ready_app_file(script, 1);
    let stderr = run_app_that_never_gets_ready(&app, &file);
    assert!(stderr.contains("was not ready after 1s"), "{stderr}");
    assert!(
        stderr.contains("got no response within 2 s: the app accepts connections but does not answer the ready check"),
        "{stderr}"
    );
}

/// An app whose output is not UTF-8 keeps being read to the end. The
/// harness used to stop reading at such a line and close the pipe, and
/// the app's next write killed it. The app here writes a byte that is not
/// UTF-8, then 300 KB, far more than a pipe holds, and only then leaves a
/// mark.
#[test]
fn app_output_not_utf8_read_on() {
    let dir = scratch("not-utf8");
    let mark = dir.join("wrote-everything");
    let _ = std::fs::remove_file(&mark);
    let app = dir.join("noisy.yaml");
    let script = format!(
        "printf 'caf\\351\\n'; head -c 300000 /dev/zero | tr '\\0' x; echo; touch {}; exec sleep 30",
        mark.display()
    );
    let file = never_ready_app_file(&script, 3);
    let stderr = run_app_that_never_gets_ready(&app, &file);
    assert!(mark.exists(), "the app did not finish writing: {stderr}");
}

/// Returns an app file whose app runs `script` in `sh` and never listens,
/// with a start timeout of `timeout` seconds.
fn never_ready_app_file(script: &str, timeout: u32) -> String {
    format!(
        "\
version: 1
start:
  command: [\"sh\", \"-c\", {script:?}]
  timeout_seconds: {timeout}
webhook_path: /hooks
checkout: {{ request: {{ method: POST, path: /buy, json: {{ id: \"{{{{order_id}}}}\" }} }} }}
order:
  request: {{ path: \"/orders/{{{{order_id}}}}\" }}
  status: /state
  status_map: {{ paid: [done] }}
"
    )
}

/// An app that prints its environment shows its secret key and webhook
/// secret masked in the output the harness repeats.
#[test]
fn app_output_masks_secrets() {
    let dir = scratch("masks-secrets");
    let app = dir.join("printer.yaml");
    let file = never_ready_app_file(
        "echo key=$STRIPE_SECRET_KEY secret=$STRIPE_WEBHOOK_SECRET; exec sleep 30",
        1,
    );
    let stderr = run_app_that_never_gets_ready(&app, &file);

    assert!(stderr.contains("key=sk_test_"), "{stderr}");
    assert!(stderr.contains("secret=whsec_"), "{stderr}");
    let printed = stderr
        .lines()
        .find(|line| line.contains("key=sk_test_"))
        .expect("the app's line is shown");
    assert!(printed.contains("****"), "{printed}");
    for word in printed.split_whitespace() {
        let value = word.split_once('=').map_or(word, |(_, value)| value);
        // Each secret keeps its prefix and last four characters only.
        assert!(
            value.matches('*').count() >= value.len().saturating_sub(12),
            "an unmasked secret: {printed}"
        );
    }
}

/// Returns the secret key and the webhook secret that an app of the test
/// wrote to `file`, one a line.
fn written_secrets(file: &Path) -> (String, String) {
    let text = std::fs::read_to_string(file).expect("the app wrote its secrets");
    let mut lines = text.lines().map(str::to_owned);
    let key = lines.next().expect("the key is written");
    let webhook_secret = lines.next().expect("the webhook secret is written");
    assert!(key.starts_with("sk_test_"), "{text}");
    assert!(webhook_secret.starts_with("whsec_"), "{text}");
    (key, webhook_secret)
}

/// The debug log of the app's output, which the harness writes with
/// `RUST_LOG=debug`, masks the secret key and the webhook secret as the
/// output it repeats does.
#[test]
fn debug_log_masks_secrets() {
    let dir = scratch("debug-log-masks");
    let app = dir.join("printer.yaml");
    let secrets = dir.join("secrets");
    let script = format!(
        "printf '%s\\n%s\\n' \"$STRIPE_SECRET_KEY\" \"$STRIPE_WEBHOOK_SECRET\" > {}; \
         echo key=$STRIPE_SECRET_KEY secret=$STRIPE_WEBHOOK_SECRET; exec sleep 30",
        secrets.display()
    );
    let file = never_ready_app_file(&script, 1);
    for filter in ["debug", "fakestripe=debug"] {
        let stderr = run_never_ready_with_log(&app, &file, Some(filter));
        let (key, webhook_secret) = written_secrets(&secrets);

        let logged = stderr
            .lines()
            .find(|line| line.contains("fakestripe::app") && line.contains("key=sk_test_"))
            .unwrap_or_else(|| panic!("{filter}: no debug line of the app's output:\n{stderr}"));
        assert!(logged.contains("secret=whsec_"), "{filter}: {logged}");
        assert!(
            !stderr.contains(&key),
            "{filter}: the key is shown:\n{stderr}"
        );
        assert!(
            !stderr.contains(&webhook_secret),
            "{filter}: the webhook secret is shown:\n{stderr}"
        );
    }
}

/// A line longer than the harness keeps, with the secret key across the
/// cut, shows the key masked and ends with the cut mark, whether or not
/// the app ended the line.
#[test]
fn long_line_masks_secret_across_cut() {
    for (label, ending) in [("finished", "\\n"), ("unfinished", "")] {
        let dir = scratch(&format!("long-line-{label}"));
        let app = dir.join("long.yaml");
        let secrets = dir.join("secrets");
        // All of the key but its last character falls within the first
        // 16 KiB of the line.
        let script = format!(
            "printf '%s\\n%s\\n' \"$STRIPE_SECRET_KEY\" \"$STRIPE_WEBHOOK_SECRET\" > {}; \
             head -c $((16384 - ${{#STRIPE_SECRET_KEY}} + 1)) /dev/zero | tr '\\0' x; \
             printf '%s{ending}' \"$STRIPE_SECRET_KEY\"; exec sleep 30",
            secrets.display()
        );
        let file = never_ready_app_file(&script, 1);
        let stderr = run_app_that_never_gets_ready(&app, &file);
        let (key, _) = written_secrets(&secrets);

        assert!(
            !stderr.contains(&key[..key.len() - 1]),
            "{label}: the key is shown:\n{stderr}"
        );
        let shown = stderr
            .lines()
            .find(|line| line.contains("xxxxsk_test_"))
            .unwrap_or_else(|| panic!("{label}: the long line is not shown:\n{stderr}"));
        // The mask keeps the key's first 8 and last 4 characters, and
        // the cut takes off the last one.
        let masked = format!(
            "sk_test_{}{}",
            "*".repeat(key.len() - 12),
            &key[key.len() - 4..]
        );
        let expected_end = format!("x{} … [cut at 16 KiB]", &masked[..masked.len() - 1]);
        assert!(
            shown.ends_with(&expected_end),
            "{label}: expected the end {expected_end:?}: {}",
            last_chars(shown, 200)
        );
        assert_eq!(
            shown.trim_start().len(),
            16 * 1024 + " … [cut at 16 KiB]".len(),
            "{label}"
        );
    }
}

/// Returns the last `count` characters of `text`.
fn last_chars(text: &str, count: usize) -> String {
    let skip = text.chars().count().saturating_sub(count);
    text.chars().skip(skip).collect()
}

/// Output that the app has not ended with a newline is shown too.
#[test]
fn app_output_without_newline_shown() {
    let dir = scratch("no-newline");
    let app = dir.join("unfinished.yaml");
    // The text differs from the command, which the harness prints too.
    let file = never_ready_app_file("printf 'fatal: %s' 'config missing'; exec sleep 30", 1);
    let stderr = run_app_that_never_gets_ready(&app, &file);

    assert!(stderr.contains("fatal: config missing"), "{stderr}");
    assert!(!stderr.contains("printed nothing"), "{stderr}");
}

/// Runs card-paid.yaml against `app` with `--fake fake_url`./// Runs card-paid.yaml against `app` with `--fake fake_url`.
fn run_with_fake(app: &Path, fake_url: &str) -> std::process::Output {
    Command::new(BINARY)
        .arg("run")
        .arg(scenario("card-paid.yaml"))
        .arg("--app")
        .arg(app)
        .args(["--fake", fake_url])
        .output()
        .expect("fakestripe runs")
}

/// A `--fake` URL where nothing listens stops the run before the app
/// starts. The error reports that the fake could not be reached, because
/// the harness was not starting one.
#[test]
fn unreachable_fake_exits_3() {
    let dir = scratch("unreachable-fake");
    let app = running_app(&dir, "http://127.0.0.1:9");
    let fake_url = format!("http://127.0.0.1:{}", unused_port());
    let output = run_with_fake(&app, &fake_url);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with(&format!("error: cannot reach the fake at {fake_url}: ")),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("cannot start"), "{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

/// A `--fake` URL with a path is rejected before anything starts, with
/// the form the option takes.
#[test]
fn fake_url_with_path_exits_2() {
    let dir = scratch("fake-url-path");
    let app = running_app(&dir, "http://127.0.0.1:9");
    let output = run_with_fake(&app, "http://127.0.0.1:12111/some/path");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("--fake takes the base URL, such as http://127.0.0.1:12111, without a path"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot reach"), "{stderr}");
}

/// A `--fake` server that responds, but not as the fake, is reported as
/// such, without advice to start a fake and without a doubled period
/// after its message.
#[test]
fn fake_url_not_fake_exits_3() {
    let ServedApp {
        _dir,
        app,
        runtime,
        listener,
    } = app_served_by_test("fake-url-not-fake");
    let fake_url = format!(
        "http://{}",
        listener.local_addr().expect("the listener has an address")
    );
    let body = serde_json::json!({ "error": { "message": "Unrecognized request URL." } });
    let router = axum::Router::new()
        .fallback(move || async move { (StatusCode::NOT_FOUND, axum::Json(body)) });
    runtime.spawn(async move { axum::serve(listener, router).await });
    let output = run_with_fake(&app, &fake_url);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: the server at {fake_url} does not answer as fakestripe: GET /_fakestripe/clock returned 404: Unrecognized request URL. Give the base URL"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(".."), "{stderr}");
    assert!(!stderr.contains("Start it with"), "{stderr}");
}

/// An app that the test itself serves: its app file, in a directory that
/// lives as long as this value, a runtime, and the listener bound to the
/// app's port.
struct ServedApp {
    _dir: Scratch,
    app: PathBuf,
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
}

/// Writes the app file of an app that the test itself serves.
fn app_served_by_test(test: &str) -> ServedApp {
    let dir = scratch(test);
    let port = unused_port();
    let app = running_app(&dir, &format!("http://127.0.0.1:{port}"));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .expect("the port is free");
    ServedApp {
        _dir: dir,
        app,
        runtime,
        listener,
    }
}

/// Returns the options of a run with one job against `app`.
fn one_job(app: &Path) -> RunOptions {
    RunOptions {
        jobs: 1,
        seed: None,
        fail_fast: false,
        fake_url: None,
        app_arg: app.display().to_string(),
    }
}

/// An app whose reset request fails stops each scenario before its first
/// step. The timeline then shows nothing from earlier scenarios on the
/// same account, such as their fault plan being cleared.
#[test]
fn failed_reset_timeline_is_empty() {
    let ServedApp {
        _dir,
        app,
        runtime,
        listener,
    } = app_served_by_test("failed-reset");
    let router = axum::Router::new().route(
        "/reset",
        post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "reset failed") }),
    );
    runtime.spawn(async move { axum::serve(listener, router).await });

    let paths = [
        scenario("card-paid.yaml"),
        scenario("duplicate-delivery.yaml"),
    ];
    let outcome = runtime
        .block_on(run_files(&app, &paths, one_job(&app)))
        .expect("the run starts");
    assert_eq!(outcome.results.len(), 2);
    for result in &outcome.results {
        assert!(!result.passed(), "{}", result.name);
        let message = &result.failures[0].message;
        assert!(
            message.contains("the app responded to the reset request POST /reset (`reset` at "),
            "{message}"
        );
        assert!(
            message.contains("running.yaml:4:8) with 500, expected 2xx: reset failed"),
            "{message}"
        );
        assert!(
            result.timeline.is_empty(),
            "{}: {:#?}",
            result.name,
            result.timeline
        );
    }
}

/// An app that closes the connection before it responds is reported as
/// such, not by the HTTP client's generic "error sending request".
#[test]
fn closed_connection_named() {
    let ServedApp {
        _dir,
        app,
        runtime,
        listener,
    } = app_served_by_test("closed-connection");
    runtime.spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut socket, _)) = listener.accept().await {
            // Read the request's head, then close without a response.
            let mut buffer = [0_u8; 4096];
            let _ = socket.read(&mut buffer).await;
        }
    });

    let outcome = runtime
        .block_on(run_files(
            &app,
            &[scenario("card-paid.yaml")],
            one_job(&app),
        ))
        .expect("the run starts");
    let message = &outcome.results[0].failures[0].message;
    assert!(
        message.contains("the app closed the connection before it answered"),
        "{message}"
    );
    assert!(!message.contains("error sending request"), "{message}");
}
