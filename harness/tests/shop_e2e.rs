//! End-to-end runs against the reference shop (examples/shop-rust): the
//! scenarios in tests/scenarios pass against the correct shop, and fail
//! with the expected message when one of its bug switches is on.
//!
//! The shop is started with `cargo run`, as its fakestripe.yaml specifies, so
//! the first run builds it.

use std::path::{Path, PathBuf};

use fakestripe::report::events::{FailureKind, ScenarioResult};
use fakestripe::{RunOptions, ScenarioFailure, run_files};

mod scratch;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits in the workspace")
        .to_owned()
}

fn shop_app() -> PathBuf {
    workspace_root().join("examples/shop-rust/fakestripe.yaml")
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// Writes a copy of the shop's fakestripe.yaml that turns on one bug
/// switch, and returns its path.
fn buggy_shop_app(bug: &str) -> (scratch::Scratch, PathBuf) {
    shop_app_with_env("SHOP_BUG", bug)
}

/// Writes a copy of the shop's fakestripe.yaml that starts the shop with
/// `name=value` in its environment, and returns its path.
fn shop_app_with_env(name: &str, value: &str) -> (scratch::Scratch, PathBuf) {
    let text = std::fs::read_to_string(shop_app()).expect("the shop's fakestripe.yaml exists");
    let root = workspace_root().display().to_string();
    let text = text.replace("cwd: ../..", &format!("cwd: {root}")).replace(
        "env: { RUST_LOG: warn }",
        &format!("env: {{ RUST_LOG: warn, {name}: {value} }}"),
    );
    assert!(
        text.contains(&format!("{name}: {value}")),
        "the variable was not added to the app file"
    );
    let dir = scratch::scratch("e2e", value);
    let path = dir.join("fakestripe.yaml");
    std::fs::write(&path, text).expect("the temporary directory is writable");
    (dir, path)
}

fn options(app: &Path, jobs: usize) -> RunOptions {
    RunOptions {
        jobs,
        seed: None,
        fail_fast: false,
        fake_url: None,
        app_arg: app.display().to_string(),
    }
}

fn run(app: &Path, paths: &[PathBuf], jobs: usize) -> Vec<ScenarioResult> {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let outcome = runtime
        .block_on(run_files(app, paths, options(app, jobs)))
        .expect("the run starts");
    outcome
        .results
        .into_iter()
        .map(|result| (*result).clone())
        .collect()
}

fn report(result: &ScenarioResult) -> String {
    ScenarioFailure::Failed(Box::new(result.clone())).to_string()
}

#[test]
fn correct_shop_passes_every_scenario() {
    let results = run(&shop_app(), &[scenario("")], 2);
    assert_eq!(results.len(), 9);
    for result in &results {
        assert!(result.passed(), "{}", report(result));
    }
}

fakestripe::scenario_tests! {
    app: shop_app();
    scenarios_card_paid: scenario("card-paid.yaml");
    scenarios_status_lag: scenario("status-lag.yaml");
}

#[test]
fn trust_redirect_bug_is_caught() {
    let (_dir, app) = buggy_shop_app("trust-redirect");
    let results = run(&app, &[scenario("async-redirect-first.yaml")], 1);
    let result = &results[0];
    assert!(!result.passed());

    let step = &result.failures[0];
    assert_eq!(
        step.kind,
        FailureKind::Step {
            step: 5,
            name: "expect".to_owned(),
            line: 11,
            column: 5
        }
    );
    let fulfilments = step
        .mismatches
        .iter()
        .find(|m| m.subject == "fulfilments")
        .expect("a fulfilments mismatch");
    assert_eq!(
        (fulfilments.expected.as_str(), fulfilments.actual.as_str()),
        ("0", "1")
    );

    let invariant = result
        .failures
        .iter()
        .find(|f| {
            f.kind
                == FailureKind::Invariant {
                    name: "unpaid_not_fulfilled".to_owned(),
                }
        })
        .unwrap_or_else(|| panic!("no unpaid_not_fulfilled failure in\n{}", report(result)));
    assert!(
        invariant
            .message
            .contains("after step 3 (redirect, line 9)"),
        "{}",
        invariant.message
    );

    assert!(
        result.timeline.iter().any(|line| line.actor == "step"),
        "the failure has a timeline"
    );
    assert!(
        result.replay.contains("async-redirect-first.yaml --app "),
        "{}",
        result.replay
    );
    assert!(result.replay.ends_with("--seed 0"), "{}", result.replay);
}

/// After a `cancel` on an embedded session, which has no cancel_url, the
/// browser opens no page, so a `redirect` that expects a status fails
/// with the reason.
#[test]
fn expect_status_after_cancel_without_page_fails() {
    let (dir, app) = shop_app_with_env("SHOP_UI_MODE", "embedded");
    let scenario = dir.join("cancel.yaml");
    std::fs::write(
        &scenario,
        "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - cancel:\n  - redirect: { expect_status: 200 }\n",
    )
    .expect("the scenario is written");
    let results = run(&app, &[scenario], 1);
    let result = &results[0];
    assert!(!result.passed(), "{}", report(result));
    assert_eq!(result.steps_run, 3, "{}", report(result));
    assert!(
        result.failures[0]
            .message
            .contains("has no cancel_url, so after `cancel` the browser opens no page"),
        "{}",
        report(result)
    );
}

#[test]
fn no_dedup_bug_is_caught() {
    let (_dir, app) = buggy_shop_app("no-dedup");
    let results = run(&app, &[scenario("duplicate-delivery.yaml")], 1);
    let result = &results[0];
    let step = &result.failures[0];
    let fulfilments = step
        .mismatches
        .iter()
        .find(|m| m.subject == "fulfilments")
        .expect("a fulfilments mismatch");
    assert_eq!(fulfilments.actual, "3", "{}", report(result));
    assert!(result.replay.contains("--seed 7"), "{}", result.replay);
    // The shop fulfils on every delivery of checkout.session.completed,
    // so the rise is blamed on the repeats.
    let broken: Vec<&str> = result
        .failures
        .iter()
        .filter_map(|failure| match &failure.kind {
            FailureKind::Invariant { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(broken, ["duplicates_ignored"], "{}", report(result));
}

#[test]
fn forged_webhook_accepted_is_caught() {
    let (_dir, app) = buggy_shop_app("no-signature-check");
    let results = run(&app, &[scenario("forged-webhook.yaml")], 1);
    let result = &results[0];
    assert!(!result.passed());
    let text = report(result);
    assert!(
        text.contains("deliveries (forged): app's response"),
        "{text}"
    );
    assert!(text.contains("(wrong_secret) got 200"), "{text}");
    let invariant = result
        .failures
        .iter()
        .find(|f| {
            f.kind
                == FailureKind::Invariant {
                    name: "forgeries_rejected".to_owned(),
                }
        })
        .unwrap_or_else(|| panic!("no forgeries_rejected failure in\n{text}"));
    assert!(
        invariant
            .message
            .contains("wrong_secret got 200, tampered_body got 200"),
        "{}",
        invariant.message
    );
}

#[test]
fn expired_as_failed_bug_is_caught() {
    let (_dir, app) = buggy_shop_app("expired-as-failed");
    let results = run(&app, &[scenario("expired-unpaid.yaml")], 1);
    assert_eq!(results[0].failures[0].message, "order O-1 did not match");
    let status = results[0].failures[0]
        .mismatches
        .iter()
        .find(|m| m.subject == "status")
        .expect("a status mismatch");
    assert_eq!(status.expected, "cancelled");
    assert_eq!(status.actual, "failed (app status \"payment_failed\")");
}

/// Returns the YAML example in docs/scenarios.md that starts with
/// `checkout_session:`, the `expect` keys on the fake's objects.
fn docs_object_checks() -> String {
    let path = workspace_root().join("docs/scenarios.md");
    let docs = std::fs::read_to_string(&path).expect("docs/scenarios.md exists");
    let start = docs
        .find("```yaml\ncheckout_session:")
        .expect("docs/scenarios.md has the checkout_session example")
        + "```yaml\n".len();
    let length = docs[start..].find("```").expect("the example ends");
    docs[start..start + length].to_owned()
}

/// The `expect` example on the fake's objects in docs/scenarios.md passes
/// against the shop, after a card payment that matches its values.
#[test]
fn docs_object_checks_pass() {
    let checks: String = docs_object_checks()
        .lines()
        .map(|line| format!("      {line}\n"))
        .collect();
    let text = format!(
        "\
version: 1
steps:
  - checkout:
      order: O-1
      currency: eur
      items: [{{ name: T-shirt, unit_amount: 2500, quantity: 2 }}]
      email: a@example.test
  - pay: {{ card: success, expect: succeeded }}
  - redirect:
  - advance: 1m
  - expect:
{checks}"
    );
    let dir = scratch::scratch("e2e", "docs");
    let path = dir.join("docs-object-checks.yaml");
    std::fs::write(&path, &text).expect("the temporary directory is writable");

    let results = run(&shop_app(), &[path], 1);
    assert_eq!(results.len(), 1);
    assert!(results[0].passed(), "{text}\n{}", report(&results[0]));
}

/// `deliver:` without `types`, as `fakestripe fuzz` writes it, sends every
/// held delivery before the step returns, and fails when none is held.
#[test]
fn deliver_without_types_sends_all_held() {
    let dir = scratch::scratch("e2e", "deliver");
    let all_held = dir.join("deliver-all-held.yaml");
    std::fs::write(
        &all_held,
        "\
version: 1
steps:
  - hold: { types: [\"*\"] }
  - checkout: { order: O-1 }
  - pay: { card: success }
  - expect: { status: pending, fulfilments: 0 }
  - deliver:
  - expect: { status: paid, fulfilments: 1 }
",
    )
    .expect("the temporary directory is writable");
    let none_held = dir.join("deliver-none-held.yaml");
    std::fs::write(
        &none_held,
        "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - deliver:\n",
    )
    .expect("the temporary directory is writable");

    let results = run(&shop_app(), &[all_held, none_held], 1);
    assert_eq!(results.len(), 2);
    assert!(results[0].passed(), "{}", report(&results[0]));
    let failure = &results[1].failures[0];
    assert_eq!(
        failure.kind,
        FailureKind::Step {
            step: 2,
            name: "deliver".to_owned(),
            line: 4,
            column: 5
        }
    );
    assert_eq!(
        failure.message,
        "no delivery is held; a `hold` step or a hold fault must come first"
    );
}

/// Runs `scenario` against the shop with its app file's line `from` under
/// `order` replaced by `to`. Returns the app file's path, the line of the
/// replacement, and the scenario's result.
fn run_with_order_line(
    test: &str,
    from: &str,
    to: &str,
    scenario: &str,
) -> (PathBuf, usize, ScenarioResult) {
    let text = std::fs::read_to_string(shop_app()).expect("the shop's fakestripe.yaml exists");
    let root = workspace_root().display().to_string();
    let (checkout, order) = text
        .split_once("\norder:\n")
        .expect("the app file has an order section");
    let order = order.replacen(from, to, 1);
    let text =
        format!("{checkout}\norder:\n{order}").replace("cwd: ../..", &format!("cwd: {root}"));
    let line = text
        .lines()
        .position(|line| line == to)
        .unwrap_or_else(|| panic!("`{from}` was not replaced"))
        + 1;
    let dir = scratch::scratch("e2e", test);
    let app = dir.join("fakestripe.yaml");
    std::fs::write(&app, &text).expect("the temporary directory is writable");
    let file = dir.join("scenario.yaml");
    std::fs::write(&file, scenario).expect("the temporary directory is writable");

    let mut results = run(&app, &[file], 1);
    (app, line, results.remove(0))
}

/// An `order.session_id` pointer that names nothing in the shop's order
/// response: the failing `expect` step names the pointer and lists the
/// response's keys instead of showing "(missing)".
#[test]
fn absent_pointer_named_in_expect_step() {
    let (app, line, result) = run_with_order_line(
        "absent-pointer",
        "  session_id: /session_id",
        "  session_id: /nonexistent",
        "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { card: success }\n  - advance: 1m\n  - expect: { stored_session: latest }\n",
    );

    let failure = &result.failures[0];
    assert_eq!(failure.mismatches[0].subject, "stored session");
    assert_eq!(
        failure.mismatches[0].actual,
        format!(
            "(missing: the order response has no value at the app file's `order.session_id` pointer `/nonexistent` at {}:{line}:15, and its top-level keys are {SHOP_ORDER_KEYS}, so the pointer is likely wrong)",
            app.display()
        )
    );
}

/// The first eight top-level keys of the shop's order response, in its
/// order, as the harness lists them.
const SHOP_ORDER_KEYS: &str = "order_id, status, fulfilment_count, session_id, payment_intent, amount_total, currency, released, …";

/// A misspelt fulfilment count pointer, given under the `fulfillments`
/// spelling of the key: the failing `expect` step, which also uses that
/// spelling, lists the keys that the order response does have.
#[test]
fn absent_pointer_lists_response_keys() {
    let (app, line, result) = run_with_order_line(
        "absent-pointer-keys",
        "  fulfilments: /fulfilment_count",
        "  fulfillments: /fulfillment_count",
        "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { card: success }\n  - advance: 1m\n  - expect: { fulfillments: 1 }\n",
    );

    let failure = &result.failures[0];
    assert_eq!(failure.mismatches[0].subject, "fulfilments");
    assert_eq!(
        failure.mismatches[0].actual,
        format!(
            "(missing: the order response has no value at the app file's `order.fulfilments` pointer `/fulfillment_count` at {}:{line}:17, and its top-level keys are {SHOP_ORDER_KEYS}, so the pointer is likely wrong)",
            app.display()
        )
    );
}
