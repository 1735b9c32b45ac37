//! Reading scenario files: valid files in YAML and JSON, and the error
//! message of each kind of invalid file, pinned by snapshots.

mod scratch;

use std::path::Path;

use fakestripe::scenario::model::{PaymentMethod, Step};
use fakestripe::scenario::parse;

const FULL: &str = r#"
version: 1
name: every step
description: Uses each step once.
seed: 42
allow: [duplicates_ignored]
settle: 1d
faults:
  - kind: webhook_duplicate
    types: ["checkout.session.completed"]
    copies: 2
steps:
  - hold: { types: ["checkout.session.*"] }
  - checkout:
      order: O-1
      items:
        - { name: T-shirt, unit_amount: 2000, quantity: 2 }
        - { price: price_123 }
      currency: eur
      email: buyer@example.test
      metadata: { campaign: spring }
  - pay: { card: declined, expect: declined }
  - pay: { method: sepa_debit, outcome: failed, delay: 5m }
  - redirect:
  - cancel: {}
  - expire: { attempt: 1 }
  - advance: 1h30m
  - release: { types: ["checkout.session.completed"] }
  - deliver:
  - set_faults: []
  - wait_until: { status: paid, within: 2h, every: 10m }
  - expect:
      status: paid
      fulfilments: 1
      stored_session: latest
      amount: 4000
      currency: eur
      released: false
      checkout_session: { status: complete, payment_status: paid, metadata: { order_id: O-1 } }
      payment_intent: { status: succeeded, fields: { /amount: 4000 } }
      requests:
        session_retrieved_before_fulfilment: true
        idempotent_session_creates: true
        max_sessions_per_order: 1
        matching:
          - { method: GET, path: "/v1/checkout/sessions/{session}", min: 1 }
      deliveries:
        - { forged: true, status: 4xx, min: 0 }
"#;

#[test]
fn full_yaml_parses() {
    let scenario = parse(Path::new("every-step.yaml"), FULL).expect("the file is valid");
    assert_eq!(scenario.name, "every step");
    assert_eq!(scenario.seed, 42);
    assert_eq!(scenario.settle_seconds, 86_400);
    assert_eq!(scenario.faults.len(), 1);
    assert_eq!(scenario.steps.len(), 13);
    assert_eq!(scenario.steps[0].order, None);
    assert_eq!(scenario.steps[2].order.as_deref(), Some("O-1"));
    assert_eq!(scenario.steps[1].line, 14);
    let Step::Pay(pay) = &scenario.steps[3].step else {
        panic!("step 4 is a pay step")
    };
    assert_eq!(pay.method, Some(PaymentMethod::SepaDebit));
    assert_eq!(pay.delay.as_ref().map(|d| d.value.seconds()), Some(300));
    let Step::Advance(duration) = &scenario.steps[7].step else {
        panic!("step 8 is an advance step")
    };
    assert_eq!(duration.seconds(), 5_400);
}

#[test]
fn json_file_parses() {
    let text = r#"{
  "version": 1,
  "steps": [
    {"checkout": {"order": "O-1"}},
    {"pay": {"card": "4242 4242 4242 4242"}},
    {"advance": "1m"},
    {"expect": {"status": "paid"}}
  ]
}"#;
    let scenario = parse(Path::new("card-paid.json"), text).expect("the file is valid");
    assert_eq!(scenario.name, "card-paid");
    assert_eq!(scenario.steps.len(), 4);
    assert_eq!(scenario.steps[3].order.as_deref(), Some("O-1"));
    assert_eq!(scenario.settle_seconds, 3 * 86_400);
}

/// Renders every error of an invalid file, as the command line prints them.
fn errors(name: &str, text: &str) -> String {
    match parse(Path::new(name), text) {
        Ok(_) => panic!("{name} should be invalid"),
        Err(errors) => errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

#[test]
fn misspelt_step() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - chekout: { order: O-2 }\n";
    insta::assert_snapshot!(errors("misspelt-step.yaml", text));
}

/// A misspelt first `checkout` leaves the later steps without an order.
/// Only the misspelling is reported, and the file's other mistakes follow
/// in file order.
#[test]
fn misspelt_checkout_hides_missing_orders() {
    let text = "version: 1\nsteps:\n  - chekout: { order: O-1 }\n  - pay: { method: card, delay: 5m }\n  - redirect: { order: O-1 }\n  - expect: { status: paid }\n";
    insta::assert_snapshot!(errors("misspelt-checkout.yaml", text));
}

/// Checks run by topic, and their errors are printed in file order.
#[test]
fn errors_come_in_file_order() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - expect:\n      deliveries:\n        - { type: checkout.session.completed, min: 3, max: 1 }\n      requests:\n        matching:\n          - { method: GET, path: /v1/customers, min: 2, max: 1 }\n  - pay: { card: decline }\n";
    let rendered = errors("file-order.yaml", text);
    let lines: Vec<u32> = rendered
        .lines()
        .filter_map(|line| line.strip_prefix("file-order.yaml:"))
        .map(|rest| rest.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(lines, [6, 9, 10], "{rendered}");
}

/// Keys at the column of their step's name belong to the list item, not
/// to the step, and the error's help line explains it.
#[test]
fn step_keys_not_indented() {
    let text =
        "version: 1\nsteps:\n  - checkout:\n    order: O-1\n    currency: eur\n  - pay: {}\n";
    let rendered = errors("step-keys.yaml", text);
    assert!(
        rendered.contains(
            "help: the lines after `- checkout:` (line 3) start at the same column as `checkout`"
        ),
        "{rendered}"
    );
    insta::assert_snapshot!(rendered);
}

#[test]
fn misspelt_key() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { crad: declined }\n";
    insta::assert_snapshot!(errors("misspelt-key.yaml", text));
}

#[test]
fn misspelt_fault_kind() {
    let text = "version: 1\nfaults:\n  - kind: webhook_duplicat\n    copies: 2\nsteps:\n  - checkout: { order: O-1 }\n";
    insta::assert_snapshot!(errors("misspelt-fault.yaml", text));
}

#[test]
fn misspelt_fault_kind_in_set_faults() {
    let text = "version: 1\nsteps:\n  - set_faults:\n      - kind: stale_reads\n";
    insta::assert_snapshot!(errors("misspelt-set-faults.yaml", text));
}

#[test]
fn unknown_invariant() {
    let text = "version: 1\nallow: [paid_fulfilled_twice]\nsteps:\n  - checkout: { order: O-1 }\n";
    insta::assert_snapshot!(errors("unknown-invariant.yaml", text));
}

#[test]
fn order_not_checked_out() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { order: O-2 }\n";
    insta::assert_snapshot!(errors("unknown-order.yaml", text));
}

#[test]
fn step_without_any_order() {
    let text = "version: 1\nsteps:\n  - advance: 1m\n  - redirect:\n";
    insta::assert_snapshot!(errors("no-order.yaml", text));
}

#[test]
fn invalid_card() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { card: decline }\n";
    insta::assert_snapshot!(errors("invalid-card.yaml", text));
}

#[test]
fn invalid_currency() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1, currency: EURO }\n";
    insta::assert_snapshot!(errors("invalid-currency.yaml", text));
}

#[test]
fn unsupported_currency() {
    let text = "version: 1\nsteps:\n  - checkout:\n      order: O-1\n      currency: xyz\n";
    insta::assert_snapshot!(errors("unsupported-currency.yaml", text));
}

/// The currency lists in the README and in docs/scenarios.md name the
/// currencies the fake accepts, in its order.
#[test]
fn docs_list_accepted_currencies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let accepted = fakestripe_server::resources::CURRENCIES;
    let (init, last) = accepted.split_at(accepted.len() - 1);
    let written = format!("{} or {}", init.join(", "), last[0]);
    let scenarios = std::fs::read_to_string(root.join("docs/scenarios.md")).unwrap();
    assert!(
        scenarios.contains(&written),
        "docs/scenarios.md lacks: {written}"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let written = format!("{} and {}", init.join(", "), last[0]);
    assert!(flat.contains(&written), "README.md lacks: {written}");
}

#[test]
fn currency_suggestion_one_edit_away() {
    let text = "version: 1\nsteps:\n  - checkout:\n      order: O-1\n      currency: eru\n";
    let report = errors("swapped.yaml", text);
    assert!(report.contains("did you mean `eur`?"), "{report}");
}

#[test]
fn currency_any_case_accepted() {
    for code in ["eur", "EUR", "Usd", "jpy"] {
        let text =
            format!("version: 1\nsteps:\n  - checkout: {{ order: O-1, currency: {code} }}\n");
        let loaded = parse(Path::new("currency.yaml"), &text);
        assert!(loaded.is_ok(), "{code}: {:?}", loaded.err());
    }
}

/// A null or a list where a string goes is named in plain words, without
/// the names of Rust types.
#[test]
fn null_and_list_for_a_string() {
    let null = errors(
        "null.yaml",
        "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - expect: { payment_intent: { metadata: { k: ~ } } }\n",
    );
    assert!(
        null.contains("null.yaml:4:") && null.contains("expected a value here, found null"),
        "{null}"
    );
    assert!(!null.contains("Option<"), "{null}");
    let list = errors(
        "list.yaml",
        "version: 1\nsteps:\n  - checkout: { order: O-1, currency: [eur] }\n",
    );
    assert!(
        list.contains("list.yaml:3:") && list.contains("expected a string"),
        "{list}"
    );
    assert!(!list.contains("scalar"), "{list}");
}

#[test]
fn card_with_async_method() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { method: sepa_debit, card: success }\n  - pay: { outcome: failed }\n";
    insta::assert_snapshot!(errors("card-async.yaml", text));
}

#[test]
fn unsupported_version() {
    insta::assert_snapshot!(errors(
        "version.yaml",
        "version: 2\nsteps:\n  - advance: 1m\n"
    ));
}

#[test]
fn empty_file() {
    insta::assert_snapshot!(errors("empty.yaml", "\n"));
}

#[test]
fn missing_steps() {
    insta::assert_snapshot!(errors("no-steps.yaml", "version: 1\nname: nothing\n"));
}

#[test]
fn invalid_duration() {
    let text = "version: 1\nsteps:\n  - advance: 5 minutes\n";
    insta::assert_snapshot!(errors("duration.yaml", text));
}

/// Returns the only error of an invalid file: its line, column and
/// message.
#[track_caller]
fn only_error(name: &str, text: &str) -> (u32, u32, String) {
    let errors = parse(Path::new(name), text).expect_err("the file is invalid");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = &errors[0];
    (error.line, error.column, error.message.clone())
}

#[test]
fn duration_too_long() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - advance: 100000d\n";
    insta::assert_snapshot!(errors("too-long.yaml", text));
}

/// Every key that takes a duration rejects one above 90 days, in either
/// form, with the caret on the value.
#[test]
fn duration_maximum_everywhere() {
    let cases = [
        ("version: 1\nsteps:\n  - advance: 7776001\n", (3, 14)),
        ("version: 1\nsettle: 91d\nsteps:\n  - advance: 1m\n", (2, 9)),
        (
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - wait_until: { status: paid, within: 100d }\n",
            (4, 41),
        ),
        (
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - wait_until: { status: paid, every: 2160h1s }\n",
            (4, 40),
        ),
        (
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { method: sepa_debit, delay: 1000d }\n",
            (4, 39),
        ),
    ];
    for (text, position) in cases {
        let (line, column, message) = only_error("too-long.yaml", text);
        assert_eq!((line, column), position, "{text}: {message}");
        assert!(
            message.contains("the maximum is 90d (7776000 seconds)"),
            "{text}: {message}"
        );
    }
    let json = "{\"version\": 1, \"steps\": [\n  {\"advance\": 100000000}\n]}\n";
    let (line, column, message) = only_error("too-long.json", json);
    assert_eq!((line, column), (2, 15), "{message}");
    assert!(message.contains("the maximum is 90d"), "{message}");
}

#[test]
fn duration_units_repeated_or_unordered() {
    let text = "version: 1\nsteps:\n  - advance: 1d1d\n  - advance: 1m\n";
    let (line, column, message) = only_error("repeated.yaml", text);
    assert_eq!((line, column), (3, 14), "{message}");
    assert!(message.contains("so write 2d"), "{message}");
    let text = "version: 1\nsteps:\n  - advance: 1m\n  - advance: 5m1h\n";
    let (line, column, message) = only_error("unordered.yaml", text);
    assert_eq!((line, column), (4, 14), "{message}");
    assert!(message.contains("h comes after m"), "{message}");
    assert!(message.contains("so write 1h5m"), "{message}");
}

#[test]
fn pay_delay_beyond_fake_limit() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { method: sepa_debit, delay: 31d }\n";
    let (line, column, message) = only_error("delay.yaml", text);
    assert_eq!((line, column), (4, 39), "{message}");
    assert!(
        message.contains(
            "`delay` is 31d, but the fake settles an asynchronous payment at most 30d after it"
        ),
        "{message}"
    );
}

/// The fake checks a fault entry's parameters, and the error points at
/// the parameter it names: one pattern of `types`, a value out of range,
/// an unknown key. Each invalid entry is reported.
#[test]
fn fault_parameters_invalid() {
    let text = r#"version: 1
faults:
  - kind: hold
    types: ["checkout.session.completed", "checkout.*.completed"]
  - { kind: webhook_drop, attempt: 2 }
  - kind: hold
steps:
  - checkout: { order: O-1 }
  - set_faults: [{ kind: webhook_duplicate }, { kind: webhook_duplicate, copies: 50 }]
"#;
    insta::assert_snapshot!(errors("fault-parameters.yaml", text));
}

#[test]
fn fault_pattern_in_json_points_at_pattern() {
    let text = "{\"version\": 1,\n \"faults\": [{\"kind\": \"hold\",\n   \"types\": [\"charge.*\", \"Checkout.*\"]}],\n \"steps\": [{\"advance\": 60}]}\n";
    let (line, column, message) = only_error("fault.json", text);
    assert_eq!((line, column), (3, 26), "{message}");
    assert!(message.contains("`Checkout.*`"), "{message}");
}

/// A misspelt fault kind gets the suggestion the fake's fault API makes.
#[test]
fn misspelt_fault_kind_matches_fake() {
    let text = "version: 1\nfaults:\n  - kind: webhook_dupe\nsteps:\n  - advance: 1m\n";
    let errors = parse(Path::new("dupe.yaml"), text).expect_err("the kind is misspelt");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!((errors[0].line, errors[0].column), (3, 11));
    assert_eq!(
        errors[0].help.as_deref(),
        Some("did you mean `webhook_duplicate`?")
    );
    let plan = serde_json::json!({ "faults": [{ "kind": "webhook_dupe" }] });
    let fake = fakestripe_server::faults::validate_plan(&plan).expect_err("the kind is misspelt");
    assert!(
        fake.message.contains("Did you mean `webhook_duplicate`?"),
        "{}",
        fake.message
    );
}

/// A card given as a map or a list, in YAML or JSON, is reported at the
/// value with the forms a card takes.
#[test]
fn card_of_wrong_shape() {
    let cases = [
        (
            "card.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: { card: { number: 4242 }, expect: succeeded }\n",
            (4, 18),
            "a map",
        ),
        (
            "card.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay:\n      card: [4242]\n",
            (5, 13),
            "a list",
        ),
        (
            "card.json",
            "{\"version\": 1, \"steps\": [\n  {\"checkout\": {\"order\": \"O-1\"}},\n  {\"pay\": {\"method\": \"card\", \"card\": {\"number\": \"4242\"}}}\n]}\n",
            (3, 38),
            "a map",
        ),
    ];
    for (name, text, position, shape) in cases {
        let (line, column, message) = only_error(name, text);
        assert_eq!((line, column), position, "{text}: {message}");
        assert!(
            message.contains(&format!("`card` cannot be {shape}")),
            "{message}"
        );
        assert!(
            message.contains("such as 4242424242424242, or one of success, declined"),
            "{message}"
        );
    }
}

/// An integer key given text names the key and what it counts.
#[test]
fn integer_keys_not_numbers() {
    let cases = [
        (
            "  - checkout: { order: O-1, items: [{ name: A, unit_amount: \"abc\" }] }\n",
            (3, 61),
            "invalid `unit_amount` `abc`, expected an integer number of the smallest currency unit",
        ),
        (
            "  - checkout: { order: O-1, items: [{ name: A, unit_amount: 25.5 }] }\n",
            (3, 61),
            "invalid `unit_amount` 25.5, expected an integer number of the smallest currency unit",
        ),
        (
            "  - checkout: { order: O-1, items: [{ name: A, unit_amount: 1, quantity: two }] }\n",
            (3, 74),
            "invalid `quantity` `two`, expected a whole number from 1 to 4294967295",
        ),
        (
            "  - checkout: { order: O-1 }\n  - expect: { amount: ten }\n",
            (4, 23),
            "invalid `amount` `ten`, expected an integer number of the smallest currency unit",
        ),
        (
            "  - checkout: { order: O-1 }\n  - expect: { checkout_session: { amount_total: \"\" } }\n",
            (4, 49),
            "invalid `amount_total` ``, expected an integer number",
        ),
        (
            "  - checkout: { order: O-1 }\n  - expect: { fulfilments: -1 }\n",
            (4, 28),
            "invalid `fulfilments` -1, expected a whole number",
        ),
    ];
    for (steps, position, expected) in cases {
        let text = format!("version: 1\nsteps:\n{steps}");
        let (line, column, message) = only_error("numbers.yaml", &text);
        assert_eq!((line, column), position, "{steps}: {message}");
        assert!(message.contains(expected), "{steps}: {message}");
    }
}

/// A number beyond the range of a 64-bit float is reported at the number:
/// with the key's name and range for an integer key, and as a number out
/// of range where any value is allowed.
#[test]
fn numbers_beyond_float_range() {
    let cases = [
        (
            "  - expect: { fulfilments: 1e400 }\n",
            (4, 28),
            "invalid `fulfilments`: the number is infinite or beyond the range of a 64-bit float, expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "  - expect: { fulfilments: -.inf }\n",
            (4, 28),
            "invalid `fulfilments`: the number is infinite or beyond the range of a 64-bit float, expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "  - expect: { payment_intent: { fields: { /amount: 1e400 } } }\n",
            (4, 52),
            "invalid number `1e400`: it is infinite, not a number, or beyond the range of a 64-bit float (about ±1.8e308)",
        ),
    ];
    for (step, position, expected) in cases {
        let text = format!("version: 1\nsteps:\n  - checkout: {{ order: O-1 }}\n{step}");
        let (line, column, message) = only_error("numbers.yaml", &text);
        assert_eq!((line, column), position, "{step}: {message}");
        assert_eq!(message, expected, "{step}");
    }
}

/// The range that an error for `quantity` or `attempt` states starts at
/// 1, as the loader's own error for 0 does.
#[test]
fn counts_from_one_state_range() {
    let cases = [
        (
            "  - checkout: { order: O-1, items: [{ name: A, unit_amount: 1, quantity: 1e300 }] }\n",
            (3, 74),
            "invalid `quantity` about 1e300, expected a whole number from 1 to 4294967295",
        ),
        (
            "  - checkout: { order: O-1, items: [{ name: A, unit_amount: 1, quantity: -1 }] }\n",
            (3, 74),
            "invalid `quantity` -1, expected a whole number from 1 to 4294967295",
        ),
        (
            "  - checkout: { order: O-1, items: [{ name: A, unit_amount: 1, quantity: 0 }] }\n",
            (3, 74),
            "item 1: `quantity` is 0, expected at least 1",
        ),
        (
            "  - checkout: { order: O-1 }\n  - pay: { attempt: 4294967296 }\n",
            (4, 21),
            "invalid `attempt` 4294967296, expected a whole number from 1 to 4294967295",
        ),
        (
            "  - checkout: { order: O-1 }\n  - pay: { attempt: 0 }\n",
            (4, 21),
            "`attempt` is 0, but attempts count from 1",
        ),
    ];
    for (steps, position, expected) in cases {
        let text = format!("version: 1\nsteps:\n{steps}");
        let (line, column, message) = only_error("counts.yaml", &text);
        assert_eq!((line, column), position, "{steps}: {message}");
        assert_eq!(message, expected, "{steps}");
    }
}

/// `copies` outside 1 to 20, the fake's limit, is reported at the number.
#[test]
fn copies_out_of_range() {
    let cases = [
        ("0", (4, 42), "invalid `copies` 0"),
        ("21", (4, 42), "invalid `copies` 21"),
        ("-1", (4, 42), "invalid `copies` -1"),
        ("\"three\"", (4, 42), "invalid `copies` `three`"),
    ];
    for (copies, position, expected) in cases {
        let text = format!(
            "version: 1\nsteps:\n  - checkout: {{ order: O-1 }}\n  - resend: {{ types: [charge.*], copies: {copies} }}\n"
        );
        let (line, column, message) = only_error("copies.yaml", &text);
        assert_eq!((line, column), position, "{copies}: {message}");
        assert!(message.contains(expected), "{copies}: {message}");
        assert!(
            message.ends_with("expected a whole number from 1 to 20"),
            "{copies}: {message}"
        );
    }
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - resend: { types: [charge.*], copies: 20 }\n";
    parse(Path::new("copies.yaml"), text).expect("20 copies are allowed");
}

/// The bounds of a request or delivery check that do not fit together
/// are reported at `count`, or at `min` when it is above `max`.
#[test]
fn count_bounds_point_at_value() {
    let cases = [
        (
            "      requests:\n        matching:\n          - { path: /v1/events, max: 2, count: 1 }\n",
            (7, 48),
            "a request check takes `count` or `min`/`max`, not both",
        ),
        (
            "      requests:\n        matching:\n          - path: /v1/events\n            min: 5\n            max: 2\n",
            (8, 18),
            "a request check has `min` 5 above `max` 2",
        ),
        (
            "      deliveries:\n        - type: charge.*\n          count: 3\n          min: 1\n",
            (7, 18),
            "a delivery check takes `count` or `min`/`max`, not both",
        ),
    ];
    for (expect, position, expected) in cases {
        let text =
            format!("version: 1\nsteps:\n  - checkout: {{ order: O-1 }}\n  - expect:\n{expect}");
        let (line, column, message) = only_error("counts.yaml", &text);
        assert_eq!((line, column), position, "{expect}: {message}");
        assert_eq!(message, expected, "{expect}");
    }
}

/// `delay` and `outcome` on a card payment, and `card` on a bank debit,
/// are reported at the key's value.
#[test]
fn pay_keys_for_other_method() {
    let cases = [
        (
            "  - pay: { method: card, delay: 5m }\n",
            (4, 33),
            "`delay` applies only to asynchronous methods (sepa_debit, us_bank_account), not `card`",
        ),
        (
            "  - pay:\n      card: declined\n      delay: 1h\n",
            (6, 14),
            "`delay` applies only to asynchronous methods (sepa_debit, us_bank_account), not `card`, the default method",
        ),
        (
            "  - pay: { outcome: failed, method: card }\n",
            (4, 21),
            "`outcome` applies only to asynchronous methods (sepa_debit, us_bank_account), not `card`",
        ),
        (
            "  - pay:\n      method: us_bank_account\n      outcome: failed\n      card: declined\n",
            (7, 13),
            "`card` applies only to `method: card`, not `us_bank_account`",
        ),
    ];
    for (pay, position, expected) in cases {
        let text = format!("version: 1\nsteps:\n  - checkout: {{ order: O-1 }}\n{pay}");
        let (line, column, message) = only_error("pay.yaml", &text);
        assert_eq!((line, column), position, "{pay}: {message}");
        assert_eq!(message, expected, "{pay}");
    }
}

/// `version` and `seed` given something other than a whole number name
/// the key and what it takes, at the value.
#[test]
fn version_and_seed_not_numbers() {
    let cases = [
        (
            "version.yaml",
            "version: one\nsteps:\n  - advance: 1m\n",
            (1, 10),
            "invalid `version` `one`, expected 1",
        ),
        (
            "version.yaml",
            "version: 1.0\nsteps:\n  - advance: 1m\n",
            (1, 10),
            "invalid `version` 1.0, expected 1",
        ),
        (
            "version.yaml",
            "version: ~\nsteps:\n  - advance: 1m\n",
            (1, 10),
            "`version` has no value, expected 1",
        ),
        (
            "version.yaml",
            "name: n\nversion: [1]\nsteps:\n  - advance: 1m\n",
            (2, 10),
            "`version` cannot be a list, expected 1",
        ),
        (
            "seed.yaml",
            "version: 1\nseed: abc\nsteps:\n  - advance: 1m\n",
            (2, 7),
            "invalid `seed` `abc`, expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "seed.yaml",
            "version: 1\nseed: -3\nsteps:\n  - advance: 1m\n",
            (2, 7),
            "invalid `seed` -3, expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "seed.yaml",
            "version: 1\nseed: null\nsteps:\n  - advance: 1m\n",
            (2, 7),
            "`seed` has no value, expected a whole number from 0 to 18446744073709551615",
        ),
        (
            "seed.json",
            "{\"version\": 1,\n \"seed\": true, \"steps\": [{\"advance\": 60}]}\n",
            (2, 10),
            "invalid `seed` true, expected a whole number from 0 to 18446744073709551615",
        ),
    ];
    for (name, text, position, expected) in cases {
        let (line, column, message) = only_error(name, text);
        assert_eq!((line, column), position, "{text}: {message}");
        assert_eq!(message, expected, "{text}");
    }
    let text = "version: \"1\"\nseed: \"42\"\nsteps:\n  - advance: 1m\n";
    let scenario = parse(Path::new("quoted.yaml"), text).expect("numbers in quotes are valid");
    assert_eq!(scenario.seed, 42);
}

/// Every scenario of the built-in library loads, and none checks an
/// app's own status word, which would fail an app that maps other words
/// through `status_map`.
#[test]
fn library_scenarios_load() {
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = fakestripe::scenario::collect_files(&[library]).expect("the library is readable");
    assert!(files.len() >= 40, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("the file is readable");
        assert!(
            !text.contains("app_status"),
            "{} checks app_status",
            file.display()
        );
        if let Err(errors) = fakestripe::scenario::load_file(&file) {
            let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("{}:\n{}", file.display(), rendered.join("\n\n"));
        }
    }
}

/// Integer keys still take numbers in quotes, and null for absent.
#[test]
fn integer_keys_valid_forms() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1, items: [{ name: A, unit_amount: \"2500\", quantity: ~ }] }\n  - expect: { amount: 2500, fulfilments: 1 }\n";
    let scenario = parse(Path::new("numbers.yaml"), text).expect("the file is valid");
    let Step::Checkout(checkout) = &scenario.steps[0].step else {
        panic!("step 1 is a checkout step")
    };
    let items = &checkout.items.as_ref().expect("the step has items").value;
    let unit_amount = items[0].value.unit_amount.as_ref().map(|a| a.value);
    assert_eq!(unit_amount, Some(2500));
    assert!(items[0].value.quantity.is_none());
}

#[test]
fn invalid_status() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1, expect_status: 6xx }\n";
    insta::assert_snapshot!(errors("status.yaml", text));
}

#[test]
fn invalid_order_status() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - expect: { status: payed }\n";
    insta::assert_snapshot!(errors("order-status.yaml", text));
}

#[test]
fn yaml_syntax_error() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1\n";
    insta::assert_snapshot!(errors("syntax.yaml", text));
}

#[test]
fn json_syntax_error() {
    let text = "{\n  \"version\": 1,\n  \"steps\": [\n    {\"advance\": 60},\n  ]\n}\n";
    insta::assert_snapshot!(errors("syntax.json", text));
}

#[test]
fn json_cut_short_names_brackets() {
    let text = "{\"version\": 1, \"steps\": [{\"advance\": 60}]\n";
    let (line, _, message) = only_error("short.json", text);
    let report = errors("short.json", text);
    assert_eq!(line, 2, "{message}");
    assert!(report.contains("add the missing brackets"), "{report}");
    assert!(!report.contains("no comma after the last item"), "{report}");
}

#[test]
fn integer_beyond_64_bits_is_approximate() {
    let huge = "version: 1\nseed: 99999999999999999999999999\nsteps:\n  - advance: 1m\n";
    let (line, _, seed) = only_error("seed.yaml", huge);
    assert_eq!(line, 2, "{seed}");
    assert!(seed.contains("invalid `seed` about 1e26"), "{seed}");
}

#[test]
fn comments_only_file() {
    let text = "# a scenario to write later\n\n  # indented comment\n";
    let (_, _, message) = only_error("comments.yaml", text);
    assert!(message.contains("only comments"), "{message}");
    assert!(message.contains("`version`"), "{message}");
}

#[test]
fn json_with_yaml_comment() {
    let text = "# a comment\n{\"version\": 1, \"steps\": [{\"advance\": 60}]}\n";
    insta::assert_snapshot!(errors("comment.json", text));
}

#[test]
fn yaml_in_json_file() {
    let text = "version: 1\nsteps:\n  - advance: 1m\n";
    let message = errors("yaml.json", text);
    assert!(
        message.starts_with("yaml.json:1:1: expected value"),
        "{message}"
    );
    assert!(
        message
            .contains("help: the file reads as YAML, not JSON; name it .yaml, or write it in JSON"),
        "{message}"
    );
}

#[test]
fn duplicate_key() {
    let text = "version: 1\nsteps:\n  - checkout:\n      order: O-1\n      order: O-2\n";
    insta::assert_snapshot!(errors("duplicate.yaml", text));
}

#[test]
fn steps_not_a_list() {
    insta::assert_snapshot!(errors(
        "not-a-list.yaml",
        "version: 1\nsteps: { checkout: {} }\n"
    ));
}

#[test]
fn checks_missing() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - expect: {}\n  - wait_until: { within: 1h }\n";
    insta::assert_snapshot!(errors("no-checks.yaml", text));
}

#[test]
fn invalid_items() {
    let text = "version: 1\nsteps:\n  - checkout:\n      order: O-1\n      items:\n        - { name: A }\n        - { price: price_1, unit_amount: 5 }\n        - { name: B, unit_amount: 5, quantity: 0 }\n";
    insta::assert_snapshot!(errors("items.yaml", text));
}

#[test]
fn wait_until_too_many_checks() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - wait_until: { status: paid, within: 30d, every: 1s }\n";
    insta::assert_snapshot!(errors("wait.yaml", text));
}

#[test]
fn count_bounds_conflict() {
    let text = "version: 1\nsteps:\n  - expect:\n      deliveries:\n        - { type: checkout.session.completed, count: 1, min: 1 }\n        - { min: 3, max: 1 }\n";
    insta::assert_snapshot!(errors("counts.yaml", text));
}

#[test]
fn hold_patterns_invalid() {
    let text = r#"version: 1
steps:
  - hold: { types: ["checkout.*.completed", "", "checkout session.completed", "charge", "charge.**"] }
  - checkout: { order: O-1 }
"#;
    insta::assert_snapshot!(errors("hold.yaml", text));
}

#[test]
fn event_type_patterns_invalid() {
    let text = r#"version: 1
steps:
  - checkout: { order: O-1 }
  - release: { types: ["Checkout.session.completed"] }
  - resend: { types: ["checkout..completed"] }
  - redirect: { race: ["checkout"] }
  - wait_until: { delivered: "" }
  - expect:
      deliveries:
        - { type: "checkout.session.completed " }
"#;
    insta::assert_snapshot!(errors("patterns.yaml", text));
}

#[test]
fn event_type_patterns_valid() {
    let text = r#"version: 1
steps:
  - hold: { types: ["*", "checkout.session.*", "payment_intent.succeeded", "charge*"] }
  - checkout: { order: O-1 }
  - release: { types: ["*.completed", "checkout.*.expired"] }
  - expect:
      deliveries:
        - { type: "checkout.*" }
"#;
    parse(Path::new("patterns.yaml"), text).expect("the patterns are valid");
}

/// Each step and check that takes event type patterns reports an invalid
/// one at the pattern itself, in block lists, flow lists and JSON.
#[test]
fn event_type_patterns_point_at_pattern() {
    let cases = [
        (
            "hold.yaml",
            "version: 1\nsteps:\n  - hold:\n      types:\n        - checkout.session.*\n        - checkout.**\n",
            (6, 11),
            "`checkout.**`",
        ),
        (
            "release.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - release: { types: [charge.*, Checkout.*] }\n",
            (4, 34),
            "`Checkout.*`",
        ),
        (
            "deliver.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - deliver:\n      types: [checkout..session]\n",
            (5, 15),
            "`checkout..session`",
        ),
        (
            "resend.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - resend: { copies: 2, types: [payment_intent.succeeded, Checkout.*] }\n",
            (4, 60),
            "`Checkout.*`",
        ),
        (
            "race.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay: {}\n  - redirect:\n      race:\n        - checkout..session\n",
            (7, 11),
            "`checkout..session`",
        ),
        (
            "delivered.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - wait_until:\n      delivered: Checkout.*\n",
            (5, 18),
            "`Checkout.*`",
        ),
        (
            "deliveries.yaml",
            "version: 1\nsteps:\n  - expect:\n      deliveries:\n        - { forged: true, status: 4xx }\n        - { count: 1, type: checkout..session }\n",
            (6, 29),
            "`checkout..session`",
        ),
        (
            "hold.json",
            "{\"version\": 1, \"steps\": [\n  {\"hold\": {\"types\": [\"charge.*\",\n    \"checkout.**\"]}}\n]}\n",
            (3, 5),
            "`checkout.**`",
        ),
        (
            "deliveries.json",
            "{\"version\": 1, \"steps\": [\n  {\"expect\": {\"deliveries\": [{\"type\": \"Checkout.*\"}]}}\n]}\n",
            (2, 39),
            "`Checkout.*`",
        ),
    ];
    for (name, text, position, pattern) in cases {
        let (line, column, message) = only_error(name, text);
        assert_eq!((line, column), position, "{name}: {message}");
        assert!(
            message.starts_with("invalid event type pattern"),
            "{name}: {message}"
        );
        assert!(message.contains(pattern), "{name}: {message}");
    }
}

/// An event type or pattern that matches nothing the fake sends, in a
/// step, a check or a fault entry, fails to load at the pattern, with the
/// nearest type or pattern as help.
#[test]
fn event_types_not_sent_rejected() {
    let cases = [
        (
            "resend.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - resend: { types: [checkout.session.complete] }\n",
            "checkout.session.complete",
            "unknown event type `checkout.session.complete`",
            "did you mean `checkout.session.completed`?",
        ),
        (
            "hold.yaml",
            "version: 1\nsteps:\n  - hold: { types: [checkout.session.complete] }\n  - checkout: { order: O-1 }\n",
            "checkout.session.complete",
            "unknown event type `checkout.session.complete`",
            "did you mean `checkout.session.completed`?",
        ),
        (
            "prefix.yaml",
            "version: 1\nsteps:\n  - hold: { types: [checkout.sesion.*] }\n  - checkout: { order: O-1 }\n",
            "checkout.sesion.*",
            "event type pattern `checkout.sesion.*` matches no event type that the fake sends",
            "did you mean `checkout.session.*`?",
        ),
        (
            "stripe-only.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - expect:\n      deliveries:\n        - { type: invoice.paid, count: 0 }\n",
            "invoice.paid",
            "the fake never sends `invoice.paid`, a Stripe event type",
            "the fake sends these event types: charge.captured,",
        ),
        (
            "fault.yaml",
            "version: 1\nfaults:\n  - kind: webhook_duplicate\n    types: [charge.succeeded, payment_intent.succeded]\nsteps:\n  - checkout: { order: O-1 }\n",
            "payment_intent.succeded",
            "unknown event type `payment_intent.succeded`",
            "did you mean `payment_intent.succeeded`?",
        ),
        (
            "order.yaml",
            "version: 1\nfaults:\n  - kind: webhook_order\n    order: [checkout.session.completed, payment_intents.*]\nsteps:\n  - checkout: { order: O-1 }\n",
            "payment_intents.*",
            "event type pattern `payment_intents.*` matches no event type",
            "did you mean `payment_intent.*`?",
        ),
        (
            "set-faults.yaml",
            "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - set_faults: [{ kind: webhook_drop, types: [checkout.session.expird] }]\n",
            "checkout.session.expird",
            "unknown event type `checkout.session.expird`",
            "did you mean `checkout.session.expired`?",
        ),
    ];
    for (name, text, pattern, message, help) in cases {
        let errors = parse(Path::new(name), text).expect_err("the pattern matches nothing");
        assert_eq!(errors.len(), 1, "{name}: {errors:#?}");
        let error = &errors[0];
        let (index, line) = text
            .lines()
            .enumerate()
            .find(|(_, line)| line.contains(pattern))
            .expect("the text contains the pattern");
        let column = line.find(pattern).expect("the line contains the pattern") + 1;
        assert_eq!(
            (error.line as usize, error.column as usize),
            (index + 1, column),
            "{name}: {error}"
        );
        assert!(error.message.starts_with(message), "{name}: {error}");
        let help_text = error.help.as_deref().unwrap_or_default();
        assert!(help_text.starts_with(help), "{name}: {error}");
    }
}

#[test]
fn field_pointers_invalid() {
    let text = r#"version: 1
steps:
  - checkout: { order: O-1 }
  - expect:
      checkout_session:
        fields:
          /customer_details/email: a@example.test
          customer_details.email: a@example.test
          /metadata/a~2: x
      payment_intent: { fields: { "": 1, /metadata//order_id: O-1 } }
"#;
    insta::assert_snapshot!(errors("pointers.yaml", text));
}

#[test]
fn field_pointers_in_json_point_at_key() {
    let text = r#"{"version": 1, "steps": [
  {"checkout": {"order": "O-1"}},
  {"expect": {"payment_intent": {"fields": {"/amount": 1,
    "amount": 1}}}}
]}"#;
    let errors = parse(Path::new("pointers.json"), text).expect_err("a pointer is invalid");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].column), (4, 5));
}

#[test]
fn attempt_beyond_checkouts() {
    let text = r#"version: 1
steps:
  - checkout: { order: O-1 }
  - checkout: { order: O-2 }
  - pay: { order: O-1, attempt: 2 }
  - checkout: { order: O-1 }
  - cancel: { order: O-1, attempt: 3 }
  - expire: { attempt: 2 }
  - wait_until: { status: paid, stored_session: 4 }
  - expect:
      stored_session: 3
      checkout_session: { attempt: 3 }
      payment_intent: { attempt: 3 }
"#;
    insta::assert_snapshot!(errors("attempts.yaml", text));
}

#[test]
fn attempts_counted_per_order() {
    let text = r#"version: 1
steps:
  - checkout: { order: O-1 }
  - checkout: { order: O-2 }
  - checkout: { order: O-1 }
  - pay: { order: O-1, attempt: 2 }
  - expire: { order: O-1, attempt: 1 }
  - expect: { order: O-2, stored_session: 1, checkout_session: { attempt: 1 } }
  - expect: { order: O-1, stored_session: 2, payment_intent: { attempt: 2 } }
"#;
    parse(Path::new("attempts.yaml"), text).expect("every attempt has its checkout step");
}

#[test]
fn step_without_colon() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - pay\n  - redirect\n  - advance: 1m\n";
    insta::assert_snapshot!(errors("no-colon.yaml", text));
}

/// serde-saphyr 2.2 reads `- checkout` with the next entry as its content,
/// which would make this file one checkout of O-1.
#[test]
fn step_without_colon_keeps_next_step() {
    let text = "version: 1\nsteps:\n  - checkout\n  - order: O-1\n";
    let errors = parse(Path::new("no-colon.yaml"), text).expect_err("`- checkout` is invalid");
    let positions: Vec<(u32, u32)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(positions, [(3, 5), (4, 5)], "{errors:?}");
    assert!(errors[0].message.contains("`checkout`"), "{errors:?}");
    assert!(
        errors[1].message.contains("unknown step `order`"),
        "{errors:?}"
    );
}

#[test]
fn step_without_colon_in_json() {
    let text = "{\"version\": 1, \"steps\": [\n  {\"checkout\": {\"order\": \"O-1\"}},\n    \"pay\",\n  {\"advance\": 60}\n]}\n";
    let errors = parse(Path::new("no-colon.json"), text).expect_err("`\"pay\"` is invalid");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].column), (3, 5));
}

#[test]
fn step_map_with_two_names() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n    pay: {}\n  - {}\n";
    insta::assert_snapshot!(errors("two-names.yaml", text));
}

#[test]
fn long_line_snippet() {
    let name = "x".repeat(5_000);
    let email = format!("{}@example.test", "y".repeat(5_000));
    let text = format!(
        "version: 1\nsteps:\n  - checkout: {{ order: O-1, name: {name}, crad: 1, email: {email} }}\n"
    );
    insta::assert_snapshot!(errors("long-line.yaml", &text));
}

/// `fakestripe run` reports every error of an invalid file with its place
/// and exits 2 before it reads the app file or starts anything.
/// Runs `fakestripe run` on `path` with an app file in `dir` that does
/// not exist, which a run that stops at its scenarios never reads.
fn run_without_app(path: &Path, dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("run")
        .arg(path)
        .arg("--app")
        .arg(dir.join("missing-fakestripe.yaml"))
        .output()
        .expect("fakestripe runs")
}

#[test]
fn run_reports_load_errors_and_exits_2() {
    let dir =
        std::env::temp_dir().join(format!("fakestripe-scenario-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let file = dir.join("invalid.yaml");
    let text =
        "version: 1\nsteps:\n  - checkout\n  - hold: { types: [\"checkout.*.completed\"] }\n";
    std::fs::write(&file, text).expect("the scenario file is written");
    let output = run_without_app(&file, &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid.yaml:3:5: step `checkout`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("invalid.yaml:4:21: invalid event type pattern"),
        "{stderr}"
    );
    assert!(stderr.contains("help: write `- checkout: ...`"), "{stderr}");
    assert!(!stderr.contains("missing-fakestripe.yaml"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A report path that names a folder is rejected before any scenario
/// runs, so a long run's result is not lost when the report is written.
#[test]
fn run_rejects_report_folder_up_front() {
    let dir = std::env::temp_dir().join(format!("fakestripe-report-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let file = dir.join("valid.yaml");
    std::fs::write(&file, "version: 1\nsteps:\n  - advance: 1m\n")
        .expect("the scenario file is written");
    for flag in ["--junit", "--json"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_fakestripe"))
            .arg("run")
            .arg(&file)
            .arg("--app")
            .arg(dir.join("missing-fakestripe.yaml"))
            .arg(flag)
            .arg(&dir)
            .output()
            .expect("fakestripe runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains("it is a folder"), "{flag}: {stderr}");
        // The app file is missing, so reaching it would be a different error.
        assert!(
            !stderr.contains("missing-fakestripe.yaml"),
            "{flag}: {stderr}"
        );
    }
    // Both reports in one file would leave only the one written last.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("run")
        .arg(&file)
        .arg("--app")
        .arg(dir.join("missing-fakestripe.yaml"))
        .args(["--json", "report.txt", "--junit", "./report.txt"])
        .current_dir(&dir)
        .output()
        .expect("fakestripe runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--junit and --json both name"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A folder search skips dependency, build and hidden folders, and an app
/// file found in the folder is named as one. A path given on the command
/// line is read even inside a skipped folder.
#[test]
fn run_folder_skips_dependency_folders() {
    let dir = std::env::temp_dir().join(format!("fakestripe-skip-dirs-{}", std::process::id()));
    let invalid = "version: 1\nsteps: [nope]\n";
    let skipped = [
        "node_modules/accepts",
        ".venv/lib",
        "venv",
        "target/debug",
        "vendor/pkg",
        "__pycache__",
    ];
    for folder in skipped {
        std::fs::create_dir_all(dir.join(folder)).expect("the temporary directory is writable");
        std::fs::write(dir.join(folder).join("broken.yaml"), invalid)
            .expect("the scenario file is written");
    }
    let package = dir.join("node_modules/accepts/package.json");
    std::fs::write(&package, "{\"name\": \"accepts\", \"version\": \"2.0.0\"}")
        .expect("the package file is written");
    std::fs::write(
        dir.join("running.yaml"),
        "version: 1\nbase_url: http://127.0.0.1:4242\nwebhook_path: /hooks\ncheckout: {}\n",
    )
    .expect("the app file is written");
    let run = |path: &Path| run_without_app(path, &dir);

    let output = run(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: 1 invalid scenario file\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "running.yaml: this looks like an app file, not a scenario: it has `base_url`, `webhook_path`, `checkout` and no `steps`"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("missing key `steps`"), "{stderr}");
    for folder in skipped {
        assert!(!stderr.contains(folder), "{folder}: {stderr}");
    }

    let output = run(&package);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("package.json"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The app file named as a scenario path is rejected with that reason,
/// not with an empty search.
#[test]
fn run_rejects_app_file_as_scenario() {
    let dir = std::env::temp_dir().join(format!("fakestripe-app-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let app = dir.join("fakestripe.yaml");
    std::fs::write(&app, "version: 1\nbase_url: http://127.0.0.1:4242\n")
        .expect("the app file is written");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("run")
        .arg(&app)
        .arg("--app")
        .arg(&app)
        .output()
        .expect("fakestripe runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("fakestripe.yaml is the app file given with --app, not a scenario"),
        "{stderr}"
    );
    assert!(!stderr.contains("no scenario file"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A folder given as the app file is named as a folder, with the app
/// file inside it to pass instead.
#[test]
fn run_names_app_folder() {
    let dir = std::env::temp_dir().join(format!("fakestripe-app-folder-{}", std::process::id()));
    let shop = dir.join("shop");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&shop).expect("the temporary directory is writable");
    std::fs::create_dir_all(&empty).expect("the temporary directory is writable");
    std::fs::write(
        shop.join("fakestripe.yaml"),
        "version: 1\nbase_url: http://127.0.0.1:4242\n",
    )
    .expect("the app file is written");
    let scenario = dir.join("valid.yaml");
    std::fs::write(&scenario, "version: 1\nsteps:\n  - advance: 1m\n")
        .expect("the scenario file is written");
    let run = |app: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fakestripe"))
            .arg("run")
            .arg(&scenario)
            .arg("--app")
            .arg(app)
            .output()
            .expect("fakestripe runs")
    };

    let output = run(&shop);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("this is a folder, and --app takes the app file"),
        "{stderr}"
    );
    let inside = format!(
        "help: pass the app file in it: --app {}",
        shop.join("fakestripe.yaml").display()
    );
    assert!(stderr.contains(&inside), "{stderr}");
    assert!(!stderr.contains("not a regular file"), "{stderr}");

    let output = run(&empty);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("this folder has no fakestripe.yaml"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run without paths in a folder without `scenarios/` names the default
/// it looked for and how to pass scenarios.
#[test]
fn run_without_paths_names_default() {
    let dir = std::env::temp_dir().join(format!("fakestripe-no-paths-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args(["run", "--app", "fakestripe.yaml"])
        .current_dir(&dir)
        .output()
        .expect("fakestripe runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no scenario paths given, and the default ./scenarios does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`fakestripe run path/to/scenarios --app fakestripe.yaml`"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn odd_inputs_do_not_panic() {
    let inputs = [
        "\u{0}\u{1}\u{2}",
        "[[[[[[[[[[",
        "version: 99999999999999999999999\nsteps: []\n",
        "version: -1\nsteps: []\n",
        "- a\n- b\n",
        "version: 1\nsteps:\n  - advance: 99999999999999999999d\n",
        "version: 1\nsteps:\n  - checkout: { order: '' }\n",
        "version: 1\nsteps: ~\n",
        "version: 1\nsteps:\n  - ~\n",
        "version: 1\nsteps:\n  - {}\n",
        "version: 1\nsteps:\n  - { checkout: { order: a }, pay: {} }\n",
        "&a [*a]",
        "version: 1\nfaults: [1, 2]\nsteps: [{advance: 1}]\n",
        "version: 1\nfaults: [{kind: 3}]\nsteps: [{advance: 1}]\n",
        "version: 1\nsteps:\n  - checkout\n",
        "version: 1\nsteps:\n  - advance\n  - 60\n",
        "version: 1\nsteps:\n  - [checkout]\n",
        "version: 1\nsteps:\n  - { 1: 2 }\n",
        "version: 1\nsteps:\n  - hold: { types: [\"\"] }\n",
        "version: 1\nsteps:\n  - checkout: { order: a }\n  - expect: { checkout_session: { fields: { \"~\": 1 } } }\n",
    ];
    for input in inputs {
        assert!(
            parse(Path::new("odd.yaml"), input).is_err(),
            "{input:?} should be invalid"
        );
        assert!(
            parse(Path::new("odd.json"), input).is_err(),
            "{input:?} should be invalid as JSON"
        );
    }
}

mod properties {
    use std::path::Path;

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text, valid or not, gives a scenario or errors, never a panic.
        #[test]
        fn any_text_never_panics(text in "\\PC{0,200}") {
            let _ = fakestripe::scenario::parse(Path::new("any.yaml"), &text);
        }

        /// Any YAML-looking text built from scenario words never panics.
        #[test]
        fn scenario_like_text_never_panics(
            lines in proptest::collection::vec(
                "(version: 1|steps:|  - checkout: \\{ order: O-1 \\}|  - pay: \\{\\}|  - (checkout|pay|redirect|hold)|  - advance: [0-9a-z]{0,4}|  - expect: \\{ status: [a-z]{0,6} \\}|faults:|  - kind: [a-z_]{0,12}|allow: \\[[a-z_]{0,10}\\])",
                0..12,
            )
        ) {
            let text = lines.join("\n");
            let _ = fakestripe::scenario::parse(Path::new("like.yaml"), &text);
        }
    }
}

/// Each loader error about one value puts the caret on that value, not on
/// the step: the line, the column and the message of the only error.
#[test]
fn loader_errors_point_at_value() {
    let start = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n";
    // (file name, steps after the checkout, line, column, start of the message)
    let cases: &[(&str, &str, u32, u32, &str)] = &[
        (
            "every-zero.yaml",
            "  - wait_until: { status: paid, every: 0 }\n",
            4,
            40,
            "`every` is 0",
        ),
        (
            "too-many-checks.yaml",
            "  - wait_until: { status: paid, within: 30d, every: 1s }\n",
            4,
            53,
            "`within` / `every` allows 2592000 checks",
        ),
        (
            "too-many-checks-default-every.yaml",
            "  - wait_until: { status: paid, within: 30d }\n",
            4,
            41,
            "`within` / `every` allows 43200 checks",
        ),
        (
            "negative-amount.yaml",
            "  - checkout: { order: O-2, items: [{ name: A, unit_amount: -5 }] }\n",
            4,
            61,
            "item 1: `unit_amount` is -5",
        ),
        (
            "zero-quantity.yaml",
            "  - checkout:\n      order: O-2\n      items:\n        - { name: A, unit_amount: 5, quantity: 0 }\n",
            7,
            48,
            "item 1: `quantity` is 0",
        ),
        (
            "item-without-name.yaml",
            "  - checkout:\n      order: O-2\n      items:\n        - { unit_amount: 5 }\n",
            7,
            11,
            "item 1: `name` and `unit_amount` are both required",
        ),
        (
            "empty-items.yaml",
            "  - checkout: { order: O-2, items: [] }\n",
            4,
            36,
            "`items` is empty",
        ),
        (
            "empty-hold.yaml",
            "  - hold: { types: [] }\n",
            4,
            20,
            "`types` is empty",
        ),
        (
            "empty-release.yaml",
            "  - release: { types: [] }\n",
            4,
            23,
            "`types` is empty",
        ),
        (
            "empty-deliver.yaml",
            "  - deliver: { types: [] }\n",
            4,
            23,
            "`types` is empty",
        ),
        (
            "empty-resend.yaml",
            "  - resend: { types: [] }\n",
            4,
            22,
            "`types` is empty",
        ),
        (
            "empty-race.yaml",
            "  - pay: {}\n  - redirect: { race: [] }\n",
            5,
            23,
            "`race` is empty",
        ),
        (
            "attempt-zero.yaml",
            "  - pay: { attempt: 0 }\n",
            4,
            21,
            "`attempt` is 0",
        ),
        (
            "attempt-zero-cancel.yaml",
            "  - cancel: { attempt: 0 }\n",
            4,
            24,
            "`attempt` is 0",
        ),
        (
            "attempt-beyond.yaml",
            "  - expire: { attempt: 2 }\n",
            4,
            24,
            "`attempt` is 2, but order `O-1` has 1 `checkout` step",
        ),
        (
            "session-attempt-beyond.yaml",
            "  - expect:\n      checkout_session: { attempt: 3 }\n",
            5,
            36,
            "`checkout_session.attempt` is 3",
        ),
        (
            "intent-attempt-zero.yaml",
            "  - expect:\n      payment_intent: { attempt: 0 }\n",
            5,
            34,
            "`payment_intent.attempt` is 0",
        ),
        (
            "stored-session-beyond.yaml",
            "  - expect: { stored_session: 2 }\n",
            4,
            31,
            "`stored_session` is 2",
        ),
    ];
    for (name, steps, line, column, message) in cases {
        let text = format!("{start}{steps}");
        let (got_line, got_column, got_message) = only_error(name, &text);
        assert_eq!(
            (got_line, got_column),
            (*line, *column),
            "{name}: {got_message}"
        );
        assert!(got_message.starts_with(message), "{name}: {got_message}");
    }
}

/// A file whose aliases expand past the YAML parser's limit on values is
/// rejected with a whole message that names the limit and the anchor,
/// without Rust's debug format.
#[test]
fn alias_bomb() {
    let mut text = String::from("version: 1\nfaults:\n  - kind: webhook_drop\n");
    text.push_str("    a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, previous) in [
        ("b", "a"),
        ("c", "b"),
        ("d", "c"),
        ("e", "d"),
        ("f", "e"),
        ("g", "f"),
    ] {
        let aliases = vec![format!("*{previous}"); 10].join(", ");
        text.push_str(&format!("    {name}: &{name} [{aliases}]\n"));
    }
    text.push_str("steps:\n  - checkout: { order: O-1 }\n");
    let rendered = errors("bomb.yaml", &text);
    assert!(!rendered.contains("Nodes {"), "{rendered}");
    assert!(!rendered.contains("(used"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn bytes_not_utf8_are_placed() {
    let dir = std::env::temp_dir().join(format!("fakestripe-latin1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let path = dir.join("latin1.yaml");
    // `café` saved as Latin-1 on the third line, after a byte order mark.
    let mut bytes = b"\xef\xbb\xbfversion: 1\nsteps:\n  - checkout: {order: caf".to_vec();
    bytes.extend_from_slice(b"\xe9}\n");
    std::fs::write(&path, bytes).expect("the scenario file is written");
    let errors = fakestripe::scenario::load_file(&path).expect_err("the file is not UTF-8");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    assert_eq!((error.line, error.column), (3, 26), "{error}");
    let report = error.to_string();
    assert!(report.contains("byte 0xe9 at offset 46"), "{report}");
    assert!(report.contains("save the file as UTF-8"), "{report}");
}

/// A manifest found beside the scenarios, such as a package.json, gets a
/// help line saying it may not be a scenario. A scenario with a misspelt
/// `steps` keeps its suggestion.
#[test]
fn map_without_steps_gets_help() {
    let package = r#"{"name": "shop", "version": "1.0.0"}"#;
    let errors = parse(Path::new("package.json"), package).expect_err("not a scenario");
    let help = errors[0].help.as_deref().unwrap_or_default();
    assert!(help.contains("may not be a scenario"), "{errors:?}");

    let misspelt = "version: 1\nstep:\n  - checkout: { order: O-1 }\n";
    let errors = parse(Path::new("misspelt.yaml"), misspelt).expect_err("`step` is unknown");
    let help = errors[0].help.as_deref().unwrap_or_default();
    assert!(help.contains("steps"), "{errors:?}");
    assert!(!help.contains("may not be a scenario"), "{errors:?}");
}

/// Mistakes in the shape of a file, at the top level and in two steps,
/// are all reported in one run, in file order.
#[test]
fn shape_errors_all_reported() {
    let text = "\
version: 1
sed: 7
settle: 3 days
steps:
  - checkout: { order: O-1 }
  - pay: { crad: declined }
  - advance: 5 minutes
  - expect: { status: paid }
";
    insta::assert_snapshot!(errors("three-shapes.yaml", text));
}

/// The same in a JSON file, where every step is on one line.
#[test]
fn shape_errors_all_reported_in_json() {
    let text = r#"{"version": 1, "steps": [{"checkout": {"order": "O-1"}}, {"pay": {"crad": "declined"}}, {"advance": "5 minutes"}]}"#;
    let rendered = errors("three-shapes.json", text);
    let places: Vec<&str> = rendered
        .lines()
        .filter(|line| line.starts_with("three-shapes.json:"))
        .collect();
    assert_eq!(places.len(), 2, "{rendered}");
    assert!(places[0].contains("unknown key `crad`"), "{rendered}");
    assert!(
        places[1].contains("invalid duration `5 minutes`"),
        "{rendered}"
    );
}

/// A step with two mistakes gets one error, for the first, because the
/// parser cannot go on inside a value after an error.
#[test]
fn shape_errors_one_per_step() {
    let text =
        "version: 1\nsteps:\n  - pay: { crad: declined, delay: 5 minutes }\n  - advance: 1x\n";
    let rendered = errors("one-per-step.yaml", text);
    assert!(
        rendered.contains("one-per-step.yaml:3:12: unknown key `crad`"),
        "{rendered}"
    );
    assert!(!rendered.contains("`5 minutes`"), "{rendered}");
    assert!(
        rendered.contains("one-per-step.yaml:4:14: invalid duration `1x`"),
        "{rendered}"
    );
}

/// A folder run reports every shape error of every invalid file, files
/// in path order, and exits with code 2 before it reads the app file.
#[test]
fn run_reports_shape_errors_of_every_file() {
    let dir = std::env::temp_dir().join(format!("fakestripe-shape-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let files = [
        (
            "b.yaml",
            "version: 1\nsed: 7\nsteps:\n  - advance: 5 minutes\n",
        ),
        (
            "a.yaml",
            "version: 1\nsteps:\n  - pay: { crad: x }\n  - hold: 3\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("the scenario file is written");
    }
    let output = run_without_app(&dir, &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let places: Vec<String> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("error: "))
        .filter_map(|line| line.split(": ").next())
        .filter_map(|path| Path::new(path).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        places,
        [
            "a.yaml:3:12",
            "a.yaml:4:11",
            "b.yaml:2:1",
            "b.yaml:4:14",
            "2 invalid scenario files"
        ],
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A number after a larger unit must be below that unit's size, so
/// `1h90m` fails with the duration to write instead. A number in the
/// first unit may be any size.
#[test]
fn duration_component_out_of_range() {
    let cases = [
        ("1h90m", "minutes must be below 60, so write 2h30m"),
        ("1d24h", "hours must be below 24, so write 2d"),
        ("2m60s", "seconds must be below 60, so write 3m"),
        ("1d90m", "minutes must be below 60, so write 1d1h30m"),
    ];
    for (duration, reason) in cases {
        let text = format!("version: 1\nsteps:\n  - advance: {duration}\n");
        let rendered = errors("duration.yaml", &text);
        assert!(
            rendered.starts_with(&format!(
                "duration.yaml:3:14: invalid duration `{duration}`: after a larger unit, {reason}"
            )),
            "{rendered}"
        );
    }
    for (duration, seconds) in [("90m", 5_400), ("36h", 129_600), ("1d23h59m59s", 172_799)] {
        let text = format!("version: 1\nsteps:\n  - advance: {duration}\n");
        let scenario = parse(Path::new("duration.yaml"), &text).expect("the duration is valid");
        let Step::Advance(parsed) = &scenario.steps[0].step else {
            panic!("step 1 is an advance step")
        };
        assert_eq!(parsed.seconds(), seconds, "{duration}");
    }
}

/// A folder with symbolic links back to itself and to its parent yields
/// each scenario file once, instead of once per path through the links
/// or without end.
#[cfg(unix)]
#[test]
fn folder_links_followed_once() {
    let dir = scratch::scratch("scenario-files", "folder-links");
    let inner = dir.join("d");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(inner.join("one.yaml"), "version: 1\nsteps: []\n").unwrap();
    std::os::unix::fs::symlink("..", inner.join("up")).unwrap();
    std::os::unix::fs::symlink("..", inner.join("up2")).unwrap();
    std::os::unix::fs::symlink(".", inner.join("self")).unwrap();

    let files =
        fakestripe::scenario::collect_files(&[dir.to_path_buf()]).expect("the folder is readable");

    assert_eq!(files, [inner.join("one.yaml")]);
}

/// A path to a device, and a file larger than any scenario needs, are
/// errors at the file, not reads without end.
#[cfg(unix)]
#[test]
fn device_and_oversized_files_rejected() {
    let dir = scratch::scratch("scenario-files", "unreadable-files");
    let device = dir.join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
    let big = dir.join("big.yaml");
    let file = std::fs::File::create(&big).unwrap();
    // A sparse file: its length counts, not what the disk holds.
    file.set_len(64 * 1024 * 1024 + 1).unwrap();

    let messages: Vec<String> = [&device, &big]
        .iter()
        .map(|path| match fakestripe::scenario::load_file(path) {
            Ok(_) => panic!("{} loaded", path.display()),
            Err(errors) => errors[0].to_string(),
        })
        .collect();

    assert!(
        messages[0].contains("it is not a regular file"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("larger than 64 MiB"),
        "{}",
        messages[1]
    );
}

/// A fault plan of more than 100 entries fails to load, at the first entry
/// over the limit, in `faults` and in a `set_faults` step alike.
#[test]
fn fault_plan_over_limit() {
    let entry = "{ kind: webhook_drop, types: [checkout.session.completed] }";
    let faults: String = (0..101).map(|_| format!("  - {entry}\n")).collect();
    let steps: String = (0..101).map(|_| format!("      - {entry}\n")).collect();
    let text = format!("version: 1\nfaults:\n{faults}steps:\n  - set_faults:\n{steps}");

    let rendered = errors("many-faults.yaml", &text);

    assert!(
        rendered.contains(
            "many-faults.yaml:103:5: a fault plan has at most 100 entries, and this one has 101"
        ),
        "{rendered}"
    );
    assert!(
        rendered.contains("many-faults.yaml:206:9: a fault plan has at most 100 entries"),
        "{rendered}"
    );
}

/// `fulfillments`, as Stripe's documentation spells "fulfill", reads as
/// `fulfilments` in `expect` and `wait_until`.
#[test]
fn fulfillments_spelling_accepted() {
    let text = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - wait_until: { fulfillments: 1 }\n  - expect: { fulfillments: 1 }\n";
    let scenario = parse(Path::new("fulfill.yaml"), text).expect("the file is valid");
    let Step::WaitUntil(wait) = &scenario.steps[1].step else {
        panic!("step 2 is a wait_until step")
    };
    assert_eq!(wait.fulfilments, Some(1));
    let Step::Expect(expect) = &scenario.steps[2].step else {
        panic!("step 3 is an expect step")
    };
    assert_eq!(expect.fulfilments, Some(1));
}

/// Both spellings in one step are one key given twice, reported at the
/// second key written, in a flow map, a block map and a JSON file.
#[test]
fn fulfilments_both_spellings_rejected() {
    let flow = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - expect: { fulfilments: 1, fulfillments: 1 }\n";
    let block = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - wait_until:\n      fulfillments: 1\n      status: paid\n      fulfilments: 1\n";
    let json = r#"{"version": 1, "steps": [{"checkout": {"order": "O-1"}},
  {"expect": {"fulfilments": 1,
              "fulfillments": 1}}]}"#;
    let cases = [
        (
            "flow.yaml",
            flow,
            "flow.yaml:4:31: `fulfillments` and `fulfilments` (line 4) are one key given twice, so keep one spelling",
        ),
        (
            "block.yaml",
            block,
            "block.yaml:7:7: `fulfilments` and `fulfillments` (line 5) are one key given twice, so keep one spelling",
        ),
        (
            "both.json",
            json,
            "both.json:3:15: `fulfillments` and `fulfilments` (line 2) are one key given twice, so keep one spelling",
        ),
    ];
    for (name, text, first_line) in cases {
        let rendered = errors(name, text);
        assert!(rendered.starts_with(first_line), "{rendered}");
    }

    // A third key of the first spelling is pointed at too, not the map.
    let thrice = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n  - expect: { fulfilments: 0, fulfillments: 0, fulfilments: 0 }\n";
    let rendered = errors("thrice.yaml", thrice);
    assert!(
        rendered.starts_with("thrice.yaml:4:31: `fulfillments` and `fulfilments` (line 4) are one key given twice, so keep one spelling"),
        "{rendered}"
    );

    let rendered = errors("flow.yaml", flow);
    assert!(
        rendered.contains(" 4 |   - expect: { fulfilments: 1, fulfillments: 1 }\n   |                               ^\n"),
        "{rendered}"
    );
    assert!(
        rendered
            .contains("help: delete this `fulfillments` or the `fulfilments` at line 4, column 15"),
        "{rendered}"
    );
}
