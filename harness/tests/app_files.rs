//! Reading fakestripe.yaml: the reference shop's file, and the error
//! message of each kind of invalid file.

use std::path::Path;
use std::sync::Arc;

use fakestripe::app::AppClient;
use fakestripe::app::config::{Launch, parse};
use fakestripe::scenario::model::{OrderStatus, PaymentMethod};

const MINIMAL: &str = "\
version: 1
start: { command: [./app] }
webhook_path: /hooks
checkout: { request: { method: POST, path: /buy, json: { id: \"{{order_id}}\" } } }
order:
  request: { path: \"/orders/{{order_id}}\" }
  status: /state
  status_map: { paid: [done, shipped], failed: [bounced] }
";

#[test]
fn shop_file_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop-rust/fakestripe.yaml");
    let app = fakestripe::app::config::load(&path).expect("the shop's file is valid");
    assert_eq!(app.name, "shop-rust");
    assert_eq!(app.webhook_path, "/webhooks/stripe");
    assert!(app.reset.is_some());
    assert!(matches!(app.launch, Launch::Start(_)));
}

#[test]
fn minimal_file_parses() {
    let app = parse(Path::new("app/fakestripe.yaml"), MINIMAL).expect("the file is valid");
    assert_eq!(app.name, "app");
    let map = &app.order.status_map.value;
    assert_eq!(map.translate("shipped"), Some(OrderStatus::Paid));
    assert_eq!(map.translate("bounced"), Some(OrderStatus::Failed));
    assert_eq!(map.translate("other"), None);
    assert_eq!(app.checkout.request.value.method(), "POST");
    assert_eq!(app.order.request.value.method(), "GET");
}

#[test]
fn payment_method_types_default_to_all() {
    let app = parse(Path::new("app/fakestripe.yaml"), MINIMAL).expect("the file is valid");
    assert_eq!(app.payment_method_types, PaymentMethod::ALL);
    assert!(!app.payment_method_types_listed);
    let needs = [PaymentMethod::SepaDebit];
    assert_eq!(app.unoffered_payment_method_types(&needs), None);
}

#[test]
fn payment_method_types_listed() {
    let text = format!("{MINIMAL}payment_method_types: [card, card]\n");
    let app = parse(Path::new("app/fakestripe.yaml"), &text).expect("the file is valid");
    assert_eq!(app.payment_method_types, [PaymentMethod::Card]);
    assert!(app.payment_method_types_listed);
    let needs = [PaymentMethod::Card, PaymentMethod::UsBankAccount];
    let reason = app.unoffered_payment_method_types(&needs);
    assert_eq!(
        reason.as_deref(),
        Some(
            "pays by us_bank_account, which `payment_method_types` in app/fakestripe.yaml does not list (card)"
        )
    );
    assert_eq!(app.unoffered_payment_method_types(&needs[..1]), None);
}

#[test]
fn payment_method_types_invalid() {
    let unknown = errors(&format!(
        "{MINIMAL}payment_method_types: [card, sepa_debt]\n"
    ));
    assert!(
        unknown.contains(
            "unknown payment method type `sepa_debt`, expected one of card, sepa_debit, us_bank_account"
        ),
        "{unknown}"
    );
    assert!(unknown.contains("sepa_debit"), "{unknown}");
    let empty = errors(&format!("{MINIMAL}payment_method_types: []\n"));
    assert!(empty.contains("`payment_method_types` is empty"), "{empty}");
}

fn errors(text: &str) -> String {
    match parse(Path::new("fakestripe.yaml"), text) {
        Ok(_) => panic!("the file should be invalid"),
        Err(errors) => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

/// A command written as one string gets the list form of that string,
/// at the string's line and column.
#[test]
fn command_string_shows_list_form() {
    let block = MINIMAL.replace(
        "start: { command: [./app] }",
        "start:\n  command: bash run.sh  # the shop\n",
    );
    let message = errors(&block);
    assert!(
        message.starts_with("fakestripe.yaml:3:12: expected a list"),
        "{message}"
    );
    assert!(
        message.contains("help: write the value as a list: `command: [bash, run.sh]`"),
        "{message}"
    );

    let flow = MINIMAL.replace("[./app]", "python3 -m shop");
    let message = errors(&flow);
    assert!(
        message.starts_with("fakestripe.yaml:2:19: expected a list"),
        "{message}"
    );
    assert!(
        message.contains("`command: [python3, -m, shop]`"),
        "{message}"
    );

    // A quoted command cannot be split safely, so the help shows an example.
    let quoted = MINIMAL.replace("[./app]", "\"sh -c 'make run'\"");
    let message = errors(&quoted);
    assert!(message.contains("`command: [bash, run.sh]`"), "{message}");
}

#[test]
fn unknown_template_variable() {
    insta::assert_snapshot!(errors(
        &MINIMAL.replace("{{order_id}}\" } } }", "{{oder_id}}\" } } }")
    ));
}

#[test]
fn start_and_base_url() {
    insta::assert_snapshot!(errors(&MINIMAL.replace(
        "webhook_path:",
        "base_url: http://127.0.0.1:4242\nwebhook_path:"
    )));
}

#[test]
fn start_timeout_out_of_range() {
    // Each value gets the same range, at the key's own line and column.
    let cases = [
        ("0", "0"),
        ("1e30", "1e30"),
        ("2.5", "2.5"),
        ("-3", "-3"),
        ("\"soon\"", "`soon`"),
        ("soon", "`soon`"),
        ("true", "true"),
        ("[30]", "a list"),
        (
            "1e400",
            "a number that is infinite or beyond the range of a 64-bit float",
        ),
        (
            ".inf",
            "a number that is infinite or beyond the range of a 64-bit float",
        ),
        (".nan", "`.nan`, which is not a number"),
    ];
    for (value, shown) in cases {
        let report = errors(&MINIMAL.replace(
            "start: { command: [./app] }",
            &format!("start:\n  command: [./app]\n  timeout_seconds: {value}\n"),
        ));
        assert!(report.contains("fakestripe.yaml:4:20:"), "{report}");
        assert!(
            report.contains(&format!(
                "`timeout_seconds` must be a whole number from 1 to 86400; got {shown}"
            )),
            "{report}"
        );
    }
}

/// A timeout in quotes is read as its number.
#[test]
fn start_timeout_quoted_number() {
    let text = MINIMAL.replace(
        "start: { command: [./app] }",
        "start:\n  command: [./app]\n  timeout_seconds: \"90\"\n",
    );
    let app = parse(Path::new("fakestripe.yaml"), &text).expect("the file is valid");
    let Launch::Start(start) = app.launch else {
        panic!("the file starts the app");
    };
    assert_eq!(start.timeout().as_secs(), 90);
}

/// `request_timeout_seconds` defaults to 30 and takes a whole number of
/// seconds up to an hour, located at its value otherwise.
#[test]
fn request_timeout() {
    let app = parse(Path::new("fakestripe.yaml"), MINIMAL).expect("the file is valid");
    assert_eq!(app.request_timeout.as_secs(), 30);
    let text = format!("{MINIMAL}request_timeout_seconds: 120\n");
    let app = parse(Path::new("fakestripe.yaml"), &text).expect("the file is valid");
    assert_eq!(app.request_timeout.as_secs(), 120);

    for (value, shown) in [
        ("0", "0"),
        ("3601", "3601"),
        ("1.5", "1.5"),
        ("soon", "`soon`"),
    ] {
        let report = errors(&format!("{MINIMAL}request_timeout_seconds: {value}\n"));
        assert!(
            report.contains(&format!(
                "fakestripe.yaml:9:26: `request_timeout_seconds` must be a whole number from 1 \
                 to 3600; got {shown}"
            )),
            "{report}"
        );
    }
    let report = errors(&format!("{MINIMAL}request_timeout_seconds: 0\n"));
    assert!(
        report.contains("leave it out for the default of 30"),
        "{report}"
    );
}

/// `env_file` may not be empty, a folder or the app file itself, which
/// the harness would overwrite; the error is at its value.
#[test]
fn env_file_of_its_own() {
    let running = MINIMAL.replace(
        "start: { command: [./app] }",
        "base_url: http://127.0.0.1:4242",
    );
    for (value, problem) in [
        ("\"\"", "`env_file` is empty"),
        (".", "`env_file` names a folder"),
        ("..", "`env_file` names a folder"),
        (
            "fakestripe.yaml",
            "`env_file` names this app file, which the harness would overwrite",
        ),
    ] {
        let text = running.replace(
            "webhook_path:",
            &format!("env_file: {value}\nwebhook_path:"),
        );
        let report = errors(&text);
        assert!(
            report.contains(&format!(
                "fakestripe.yaml:3:11: {problem}; the harness writes STRIPE_API_BASE, \
                 STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET there"
            )),
            "{value}: {report}"
        );
        assert!(
            report.contains("give a file of its own, such as .fakestripe.env"),
            "{report}"
        );
    }
    // The lock file beside the env file would replace an app file named
    // like it, and a missing folder fails to load rather than to start.
    let text = running.replace("webhook_path:", "env_file: shop.yaml\nwebhook_path:");
    let report = match parse(Path::new("shop.yaml.lock"), &text) {
        Ok(_) => panic!("the file should be invalid"),
        Err(errors) => errors[0].to_string(),
    };
    assert!(
        report.contains(
            "`env_file` has its lock file, the name with `.lock` added, at this app file"
        ),
        "{report}"
    );
    let text = running.replace(
        "webhook_path:",
        "env_file: no-such-folder/x.env\nwebhook_path:",
    );
    let report = errors(&text);
    assert!(
        report.contains("`env_file` is in the folder ./no-such-folder, which does not exist"),
        "{report}"
    );

    let text = running.replace("webhook_path:", "env_file: .fakestripe.env\nwebhook_path:");
    let app = parse(Path::new("fakestripe.yaml"), &text).expect("the file is valid");
    assert_eq!(
        app.env_file_path(),
        Some(Path::new("./.fakestripe.env").to_path_buf())
    );
}

#[test]
fn start_keys_located() {
    let report = errors(&MINIMAL.replace(
        "start: { command: [./app] }",
        "start:\n  command: [./app]\n  ready: healthz\n  port_env: \"\"\n",
    ));
    assert!(
        report.contains("fakestripe.yaml:4:10: `ready` must be a path starting with `/`"),
        "{report}"
    );
    assert!(
        report.contains("fakestripe.yaml:5:13: `port_env` `` is not an environment variable name"),
        "{report}"
    );
}

#[test]
fn misspelt_key() {
    insta::assert_snapshot!(errors(&MINIMAL.replace("webhook_path:", "webhok_path:")));
}

#[test]
fn status_map_without_paid() {
    insta::assert_snapshot!(errors(&MINIMAL.replace("paid: [done, shipped], ", "")));
}

/// A word under two statuses is rejected at the second status, naming
/// the word and both statuses.
#[test]
fn status_word_under_two_statuses() {
    let text = MINIMAL.replace(
        "  status_map: { paid: [done, shipped], failed: [bounced] }\n",
        "  status_map:\n    paid: [done, shipped]\n    pending: [open, done]\n    failed: [bounced]\n    cancelled: [open]\n",
    );
    let message = errors(&text);
    assert!(
        message.contains(
            "fakestripe.yaml:10:5: the status word `done` is listed under both `paid` and `pending` in `status_map`"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "fakestripe.yaml:12:5: the status word `open` is listed under both `pending` and `cancelled` in `status_map`"
        ),
        "{message}"
    );
}

#[test]
fn pointer_without_slash() {
    insta::assert_snapshot!(errors(&MINIMAL.replace("status: /state", "status: state")));
}

#[test]
fn checkout_pointer_without_slash() {
    let text = MINIMAL.replace(
        "json: { id: \"{{order_id}}\" } } }",
        "json: { id: \"{{order_id}}\" } }, session_id: no-slash }",
    );
    let message = errors(&text);
    assert!(message.contains("fakestripe.yaml:4:"), "{message}");
    assert!(
        message.contains("`no-slash` is not a JSON pointer"),
        "{message}"
    );
}

#[test]
fn invalid_http_method() {
    let message = errors(&MINIMAL.replace("method: POST", "method: \"FE TCH\""));
    assert!(message.contains("fakestripe.yaml:4:"), "{message}");
    assert!(
        message.contains("`FE TCH` is not an HTTP method"),
        "{message}"
    );
}

/// A method name that is not a standard HTTP method is rejected at its
/// line in each request of the file, with the nearest method as help.
#[test]
fn nonstandard_http_method() {
    let text = MINIMAL
        .replace(
            "webhook_path:",
            "reset:\n  method: FETCH\n  path: /reset\nwebhook_path:",
        )
        .replace("method: POST", "method: FETCH")
        .replace(
            "request: { path: \"/orders/{{order_id}}\" }",
            "request: { method: gets, path: \"/orders/{{order_id}}\" }",
        );
    let message = errors(&text);
    let expected = [
        "fakestripe.yaml:4:3: `FETCH` is not an HTTP method, expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT",
        "fakestripe.yaml:7:24: `FETCH` is not an HTTP method",
        "fakestripe.yaml:9:14: `gets` is not an HTTP method",
        "help: did you mean `GET`?",
    ];
    for part in expected {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert!(!message.contains("did you mean `PATCH`"), "{message}");
    let lowercase = MINIMAL.replace("method: POST", "method: post");
    let app =
        parse(Path::new("fakestripe.yaml"), &lowercase).expect("a method in any case is valid");
    assert_eq!(app.checkout.request.value.method(), "POST");
}

/// Serves `router` on a free port of 127.0.0.1 and returns its base URL.
fn serve_app(runtime: &tokio::runtime::Runtime, router: axum::Router) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .expect("a port on 127.0.0.1 is free");
    let address = listener.local_addr().expect("the listener has an address");
    runtime.spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// A reset request that the app rejects is reported with its method, its
/// path and its place in the app file.
#[test]
fn reset_failure_names_request() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let router = axum::Router::new().route(
        "/reset",
        axum::routing::post(|| async { axum::http::StatusCode::BAD_REQUEST }),
    );
    let base_url = serve_app(&runtime, router);
    let text = MINIMAL.replace(
        "webhook_path:",
        "reset:\n  method: post\n  path: /reset\nwebhook_path:",
    );
    let app = parse(Path::new("shop/fakestripe.yaml"), &text).expect("the file is valid");
    let client = AppClient::new(Arc::new(app), base_url);
    let error = runtime
        .block_on(client.reset())
        .expect_err("the app rejects the reset");
    assert_eq!(
        error,
        "the app responded to the reset request POST /reset (`reset` at shop/fakestripe.yaml:4:3) with 400, expected 2xx: (empty body)"
    );
}

/// An order pointer that names nothing in the order response is recorded
/// with the response's keys, and a pointer to a null value is not.
#[test]
fn order_read_records_absent_pointers() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let body = serde_json::json!({ "state": "done", "paid_session": "cs_1", "amount": null });
    let router = axum::Router::new().route(
        "/orders/{id}",
        axum::routing::get(move || async move { axum::Json(body) }),
    );
    let base_url = serve_app(&runtime, router);
    let text = MINIMAL.replace(
        "  status: /state\n",
        "  status: /state\n  session_id: /nonexistent\n  amount: /amount\n",
    );
    let app = parse(Path::new("fakestripe.yaml"), &text).expect("the file is valid");
    let client = AppClient::new(Arc::new(app), base_url);
    let view = runtime.block_on(client.read_order("O-1"));
    assert!(view.found, "{view:?}");
    assert_eq!(view.absent_pointers.len(), 1, "{view:?}");
    assert_eq!(
        view.absent_value("session_id").as_deref(),
        Some(
            "the order response has no value at the app file's `order.session_id` pointer `/nonexistent` at fakestripe.yaml:8:15 (its top-level keys are state, paid_session, amount), so the pointer is likely wrong"
        )
    );
    assert_eq!(view.response_keys, vec!["state", "paid_session", "amount"]);
    assert_eq!(view.absent_value("amount"), None);
}

/// Each key that docs/app-contract.md lists as required: removing it from
/// a valid file makes the file invalid, with an error that names it.
#[test]
fn required_keys_missing() {
    let cases = [
        ("version: 1\n", "missing key `version`"),
        ("webhook_path: /hooks\n", "missing key `webhook_path`"),
        (
            "checkout: { request: { method: POST, path: /buy, json: { id: \"{{order_id}}\" } } }\n",
            "missing key `checkout`",
        ),
        ("  status: /state\n", "missing key `status`"),
        (
            "  status_map: { paid: [done, shipped], failed: [bounced] }\n",
            "missing key `status_map`",
        ),
        (
            "start: { command: [./app] }\n",
            "missing `start` (how to start the app) or `base_url` (where it runs)",
        ),
        (
            "  request: { path: \"/orders/{{order_id}}\" }\n",
            "missing key `request`",
        ),
    ];
    for (line, expected) in cases {
        assert!(MINIMAL.contains(line), "MINIMAL has no line {line:?}");
        let text = MINIMAL.replacen(line, "", 1);
        let message = errors(&text);
        assert!(message.contains(expected), "without {line:?}: {message}");
    }
}

/// A missing key is reported at the first key of the map that lacks it,
/// where the parser places it at the map's last key.
#[test]
fn missing_key_points_at_its_map() {
    let top = errors(&MINIMAL.replacen("webhook_path: /hooks\n", "", 1));
    assert!(
        top.starts_with("fakestripe.yaml:1:1: missing key `webhook_path`"),
        "{top}"
    );
    let nested = errors(&MINIMAL.replacen("  status: /state\n", "", 1));
    assert!(
        nested.starts_with("fakestripe.yaml:6:3: missing key `status`"),
        "{nested}"
    );
}

/// A placeholder in a body template written over several lines is
/// reported at its own line, not at the request's first.
#[test]
fn template_variable_in_block_body() {
    let text = MINIMAL.replace(
        "checkout: { request: { method: POST, path: /buy, json: { id: \"{{order_id}}\" } } }\n",
        "checkout:\n  request:\n    method: POST\n    path: /buy\n    json:\n      id: \"{{order_id}}\"\n      mail: \"{{emial}}\"\n",
    );
    let message = errors(&text);
    assert!(
        message.starts_with("fakestripe.yaml:10:16: unknown template variable `{{emial}}`"),
        "{message}"
    );
}

/// A `{{` that no `}}` closes is an error at its string: at the end of a
/// path, and before a later placeholder in a body.
#[test]
fn unclosed_placeholder() {
    let text = MINIMAL
        .replace("\"/orders/{{order_id}}\"", "\"/orders/{{order_id}\"")
        .replace(
            "{ id: \"{{order_id}}\" }",
            "{ id: \"{{order_id}}{{\", mail: \"{{email}}\" }",
        );

    let message = errors(&text);

    assert!(
        message.contains("fakestripe.yaml:4:63: a `{{` without its `}}` in `{{order_id}}{{`"),
        "{message}"
    );
    assert!(
        message.contains("fakestripe.yaml:6:21: a `{{` without its `}}` in `/orders/{{order_id}`"),
        "{message}"
    );
    assert!(!message.contains("unknown template variable"), "{message}");
}

/// Returns the example fakestripe.yaml in docs/app-contract.md./// Returns the example fakestripe.yaml in docs/app-contract.md.
fn docs_example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/app-contract.md");
    let docs = std::fs::read_to_string(path).expect("docs/app-contract.md exists");
    let start = docs
        .find("```yaml\nversion: 1")
        .expect("the docs have an example fakestripe.yaml")
        + "```yaml\n".len();
    let length = docs[start..].find("```").expect("the example ends");
    docs[start..start + length].to_owned()
}

/// The example in the docs is valid and starts the shop as the shop's own
/// file does.
#[test]
fn docs_example_matches_shop_file() {
    let docs = parse(
        Path::new("examples/shop-rust/fakestripe.yaml"),
        &docs_example(),
    )
    .expect("the docs example is valid");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop-rust/fakestripe.yaml");
    let shop = fakestripe::app::config::load(&path).expect("the shop's file is valid");
    let (Launch::Start(docs_start), Launch::Start(shop_start)) = (&docs.launch, &shop.launch)
    else {
        panic!("both files start the app");
    };
    assert_eq!(docs_start.command, shop_start.command);
    assert_eq!(docs_start.timeout(), shop_start.timeout());
    assert_eq!(docs_start.timeout().as_secs(), 300);
    assert_eq!(docs_start.cwd, shop_start.cwd);
    assert_eq!(docs_start.ready_path(), shop_start.ready_path());
}

/// `order.fulfillments`, as Stripe's documentation spells "fulfill", sets
/// the same pointer as `order.fulfilments`.
#[test]
fn fulfillments_pointer_spelling_accepted() {
    let text = MINIMAL.replace(
        "  status: /state\n",
        "  status: /state\n  fulfillments: /fulfillment_count\n",
    );
    assert_ne!(text, MINIMAL, "the pointer was not added");
    let app = parse(Path::new("app/fakestripe.yaml"), &text).expect("the file is valid");
    let pointer = app.order.fulfilments.as_ref().map(|p| p.value.as_str());
    assert_eq!(pointer, Some("/fulfillment_count"));
}

/// Both spellings of the fulfilment count pointer are one key given twice.
#[test]
fn fulfilments_pointer_both_spellings_rejected() {
    let text = MINIMAL.replace(
        "  status: /state\n",
        "  status: /state\n  fulfilments: /count\n  fulfillments: /count\n",
    );
    let rendered = errors(&text);
    assert!(
        rendered.starts_with(
            "fakestripe.yaml:9:3: `fulfillments` and `fulfilments` (line 8) are one key given twice, so keep one spelling"
        ),
        "{rendered}"
    );
    assert!(
        rendered.contains(" 9 |   fulfillments: /count\n   |   ^\n"),
        "{rendered}"
    );
    assert!(
        rendered
            .contains("help: delete this `fulfillments` or the `fulfilments` at line 8, column 3"),
        "{rendered}"
    );

    // A third copy in the second spelling leaves the error at the second key.
    let thrice = MINIMAL.replace(
        "  status: /state\n",
        "  status: /state\n  fulfillments: /count\n  fulfilments: /count\n  fulfillments: /count\n",
    );
    let rendered = errors(&thrice);
    assert!(
        rendered.starts_with(
            "fakestripe.yaml:9:3: `fulfilments` and `fulfillments` (line 8) are one key given twice, so keep one spelling"
        ),
        "{rendered}"
    );
}
