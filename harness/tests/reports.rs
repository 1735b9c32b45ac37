//! The reporters' output for a fixed run: the terminal report, JUnit XML
//! and GitHub annotations pinned by snapshots, and fields of the JSON
//! report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fakestripe::invariants::{Invariant, Violation};
use fakestripe::report::Reporter;
use fakestripe::report::events::{
    Event, Failure, FailureKind, Mismatch, OutputSpan, ScenarioResult, Summary, TimelineLine,
};
use fakestripe::report::github::GithubReporter;
use fakestripe::report::json::JsonReporter;
use fakestripe::report::junit::{CaseNames, JunitReporter};
use fakestripe::report::terminal::TerminalReporter;

fn passed() -> ScenarioResult {
    ScenarioResult {
        path: PathBuf::from("scenarios/card-paid.yaml"),
        name: "card-paid".to_owned(),
        description: None,
        seed: 1,
        duration: Duration::from_millis(412),
        steps_run: 4,
        steps_total: 4,
        failures: Vec::new(),
        allowed: vec![Violation {
            invariant: Invariant::DuplicatesIgnored,
            order: Some("O-1".to_owned()),
            message: "allowed on purpose".to_owned(),
        }],
        timeline: Vec::new(),
        app_output: Vec::new(),
        app_output_span: OutputSpan::Scenario,
        warnings: vec!["no webhook delivery succeeded: the app rejected all 3 deliveries to http://127.0.0.1:4000/webhooks (400 ×3)".to_owned()],
        hints: vec!["all 3 webhook deliveries got 400 from the app".to_owned()],
        replay: "fakestripe run scenarios/card-paid.yaml --app fakestripe.yaml --seed 1".to_owned(),
    }
}

fn line(offset: i64, actor: &str, text: &str) -> TimelineLine {
    TimelineLine {
        offset,
        actor: actor.to_owned(),
        text: text.to_owned(),
    }
}

fn failed() -> ScenarioResult {
    ScenarioResult {
        path: PathBuf::from("scenarios/redirect-before-webhook.yaml"),
        name: "the browser returns before the webhook".to_owned(),
        description: Some("The app must not trust the redirect alone.\nIt retrieves the session first.".to_owned()),
        seed: 42,
        duration: Duration::from_millis(1_250),
        steps_run: 4,
        steps_total: 6,
        failures: vec![
            Failure {
                kind: FailureKind::Step { step: 4, name: "expect".to_owned(), line: 18, column: 5 },
                message: "expected order O-1".to_owned(),
                mismatches: vec![
                    Mismatch {
                        subject: "status".to_owned(),
                        expected: "pending".to_owned(),
                        actual: "paid (app status \"paid\")".to_owned(),
                    },
                    Mismatch { subject: "fulfilments".to_owned(), expected: "0".to_owned(), actual: "1".to_owned() },
                ],
            },
            Failure {
                kind: FailureKind::Invariant { name: "unpaid_not_fulfilled".to_owned() },
                message: "after step 3 (redirect, line 14) the app reported O-1 as fulfilled before any payment for it succeeded".to_owned(),
                mismatches: Vec::new(),
            },
        ],
        allowed: Vec::new(),
        timeline: vec![
            line(0, "step", "step 1: checkout O-1 (line 8)"),
            line(0, "app", "POST /v1/checkout/sessions → 200 [cs_test_1] idempotency key O-1-1"),
            line(0, "step", "step 2: pay O-1 with sepa_debit (line 11)"),
            line(0, "customer", "action=pay method=sepa_debit session=cs_test_1"),
            line(0, "event", "evt_1 checkout.session.completed for cs_test_1"),
            line(0, "step", "step 3: redirect back to the app for O-1 (line 14)"),
            line(0, "step", "step 4: advance 1h (line 16)"),
            line(60, "delivery", "evt_1 checkout.session.completed attempt 1 → app responded 500: boom"),
            line(3_600, "delivery", "evt_1 checkout.session.completed attempt 2 → app responded 200"),
        ],
        app_output: vec!["WARN shop: fulfilled O-1".to_owned()],
        app_output_span: OutputSpan::Scenario,
        warnings: vec!["no webhook delivery succeeded: the app rejected all 2 deliveries to http://127.0.0.1:4000/webhook (404 ×2)".to_owned()],
        hints: vec!["all 2 webhook deliveries got 404 or 405 from the app, so it may not serve its webhook at http://127.0.0.1:4000/webhook: check `webhook_path` in the app file".to_owned()],
        replay: "fakestripe run scenarios/redirect-before-webhook.yaml --app fakestripe.yaml --seed 42".to_owned(),
    }
}

fn events() -> Vec<Event> {
    vec![
        Event::RunStarted {
            scenarios: 4,
            jobs: 1,
            fake_url: "http://127.0.0.1:12111".to_owned(),
            app: "shop-rust".to_owned(),
        },
        Event::ScenarioStarted {
            index: 0,
            path: PathBuf::from("scenarios/card-paid.yaml"),
            name: "card-paid".to_owned(),
        },
        Event::ScenarioFinished {
            index: 0,
            result: Arc::new(passed()),
        },
        Event::ScenarioFinished {
            index: 1,
            result: Arc::new(failed()),
        },
        Event::ScenarioUnsupported {
            index: 3,
            path: PathBuf::from("scenarios/sepa-debit-fails.yaml"),
            name: "sepa-debit-fails".to_owned(),
            reason: "pays by sepa_debit, which `payment_method_types` in fakestripe.yaml does not list (card)".to_owned(),
        },
        Event::ScenarioSkipped {
            index: 2,
            path: PathBuf::from("scenarios/zz-last.yaml"),
            name: "zz-last".to_owned(),
            stopped: false,
        },
        Event::RunFinished {
            summary: Summary {
                passed: 1,
                failed: 1,
                skipped: 1,
                unsupported: 1,
                duration: Duration::from_millis(1_700),
                interrupted: false,
                app_exited: false,
                fake_lost: false,
                warned: 2,
            },
        },
    ]
}

#[test]
fn terminal_report() {
    let mut out = Vec::new();
    let mut reporter = TerminalReporter::new(&mut out, false, false);
    for event in events() {
        reporter.event(&event).expect("writing to memory");
    }
    drop(reporter);
    insta::assert_snapshot!(String::from_utf8(out).expect("the report is UTF-8"));
}

#[test]
fn terminal_report_in_colour() {
    let mut out = Vec::new();
    let mut reporter = TerminalReporter::new(&mut out, true, false);
    reporter.event(&events()[2]).expect("writing to memory");
    drop(reporter);
    let text = String::from_utf8(out).expect("the report is UTF-8");
    assert!(text.contains("\u{1b}[32m    PASS\u{1b}[0m"), "{text:?}");
}

#[test]
fn terminal_report_escapes_control_characters() {
    let mut result = failed();
    result.name = "esc \u{1b}[31mRED\u{1b}[0m nul\u{0} bell\u{7}".to_owned();
    result.timeline[1].text = "order \u{1b}]0;title\u{7}".to_owned();
    result.app_output = vec!["\u{1b}[2Jcleared".to_owned()];
    let mut out = Vec::new();
    let mut reporter = TerminalReporter::new(&mut out, false, false);
    let event = Event::ScenarioFinished {
        index: 0,
        result: Arc::new(result),
    };
    reporter.event(&event).expect("writing to memory");
    drop(reporter);
    let text = String::from_utf8(out).expect("the report is UTF-8");

    // Without colour, no byte below 0x20 other than a line break remains.
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(
        text.contains("esc \\u{1b}[31mRED\\u{1b}[0m nul\\u{0} bell\\u{7}"),
        "{text}"
    );
    assert!(text.contains("order \\u{1b}]0;title\\u{7}"), "{text}");
    assert!(text.contains("| \\u{1b}[2Jcleared"), "{text}");
}

#[test]
fn junit_report() {
    let mut reporter = JunitReporter::new(PathBuf::from("unused.xml"), CaseNames::new(&[]));
    for event in events()
        .iter()
        .filter(|e| !matches!(e, Event::RunFinished { .. }))
    {
        reporter.event(event).expect("collecting in memory");
    }
    insta::assert_snapshot!(reporter.render().expect("the report serializes"));
}

/// A scenario given by an absolute path under the current directory, as
/// `fakestripe run "$PWD/scenarios"` gives it, is classed as from there.
#[test]
fn junit_class_of_absolute_path() {
    let current_dir = std::env::current_dir().expect("the current directory exists");
    let mut result = passed();
    result.path = current_dir.join("scenarios/api-errors/session-create-down.yaml");
    let case = fakestripe::report::junit::test_case(&result, &CaseNames::new(&[]));
    let class = case.classname.as_ref().map(|name| name.as_str());
    assert_eq!(class, Some("scenarios.api-errors"));
}

#[test]
fn github_annotations() {
    let mut out = Vec::new();
    {
        let mut reporter = GithubReporter::new(&mut out);
        for event in events() {
            reporter.event(&event).expect("writing to memory");
        }
    }
    insta::assert_snapshot!(String::from_utf8(out).expect("the annotations are UTF-8"));
}

/// Writes the JSON report of [`events`] to a temporary file and returns it.
fn json_report(test: &str) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("fakestripe-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let path = dir.join("report.json");
    let mut reporter = JsonReporter::new(path.clone());
    for event in events() {
        reporter.event(&event).expect("writing the report");
    }
    let text = std::fs::read_to_string(&path).expect("the report was written");
    std::fs::remove_dir_all(&dir).ok();
    serde_json::from_str(&text).expect("the report is JSON")
}

/// The JSON report numbers a failed step from 1, as the terminal does.
#[test]
fn json_report_step_matches_terminal() {
    let report = json_report("json-report");

    let failure = &report["scenarios"][1]["failures"][0];
    assert_eq!(report["scenarios"][0]["passed"], true, "{report}");
    assert_eq!(report["scenarios"][1]["passed"], false, "{report}");
    assert_eq!(failure["kind"], "step", "{failure}");
    assert_eq!(failure["step"], 4, "{failure}");
    assert_eq!(failure["line"], 18, "{failure}");
    assert_eq!(failure.get("index"), None, "{failure}");
    assert_eq!(
        report["skipped"],
        serde_json::json!(["scenarios/zz-last.yaml"])
    );
    assert_eq!(report["summary"]["unsupported"], 1);
    assert_eq!(
        report["unsupported"][0]["path"],
        "scenarios/sepa-debit-fails.yaml"
    );
}

/// The JSON report lists each scenario's warnings and counts the
/// scenarios with one in its summary.
#[test]
fn json_report_lists_warnings() {
    let report = json_report("json-warnings");

    assert_eq!(report["summary"]["warned"], 2, "{report}");
    let warnings = &report["scenarios"][0]["warnings"];
    assert_eq!(warnings.as_array().map(Vec::len), Some(1), "{warnings}");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|text| text.ends_with("(400 ×3)")),
        "{warnings}"
    );
}
