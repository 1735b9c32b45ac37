//! An app that offers only some payment method types: the reference shop
//! with `SHOP_PAYMENT_METHOD_TYPES=card`, whose app file lists
//! `payment_method_types: [card]`. `fakestripe run` skips the scenarios
//! that pay by bank debit and passes the rest, and `fakestripe fuzz` leaves
//! out the flows that pay by SEPA Direct Debit without probing them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fakestripe::fuzz::{Flow, FuzzOptions, Stop, fuzz};
use serde_json::Value;

mod scratch;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits in the workspace")
        .to_owned()
}

/// Writes an app file for the reference shop that offers cards only and
/// declares it in `payment_method_types`, and returns the file's path.
fn card_only_app(dir: &Path) -> PathBuf {
    let shop = workspace_root().join("examples/shop-rust/fakestripe.yaml");
    let text = std::fs::read_to_string(shop).expect("the shop's fakestripe.yaml exists");
    let root = workspace_root().display().to_string();
    let mut text = text.replace("cwd: ../..", &format!("cwd: {root}")).replace(
        "env: { RUST_LOG: warn }",
        "env: { RUST_LOG: warn, SHOP_PAYMENT_METHOD_TYPES: card }",
    );
    assert!(
        text.contains("SHOP_PAYMENT_METHOD_TYPES: card"),
        "the setting was not added to the app file"
    );
    text.push_str("\npayment_method_types: [card]\n");
    let path = dir.join("card-only.yaml");
    std::fs::write(&path, text).expect("the temporary directory is writable");
    path
}

/// Reads the JSON report that a run wrote to `path`.
/// Runs `fakestripe run` on `scenarios` (relative to the workspace root)
/// against the app file `app`, with `args` after them, and returns the
/// output.
fn run_cli(scenarios: &str, app: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("run")
        .arg(workspace_root().join(scenarios))
        .arg("--app")
        .arg(app)
        .args(args)
        .output()
        .expect("fakestripe runs")
}

fn json_report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the JSON report exists");
    serde_json::from_str(&text).expect("the report is JSON")
}

/// Returns the library's scenario files that pay by a bank debit, found
/// by their text.
fn bank_debit_scenarios() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![workspace_root().join("scenarios")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("the library folder exists") {
            let path = entry.expect("the folder is readable").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.contains("method: sepa_debit") || text.contains("method: us_bank_account") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn card_only_shop_skips_bank_debits() {
    let dir = scratch::scratch("payment-method-types", "run");
    let app = card_only_app(&dir);
    let junit = dir.join("report.xml");
    let json = dir.join("report.json");
    let output = run_cli(
        "scenarios",
        &app,
        &[
            "--junit".as_ref(),
            junit.as_ref(),
            "--json".as_ref(),
            json.as_ref(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");

    let expected = bank_debit_scenarios();
    assert_eq!(expected.len(), 7, "{expected:?}");
    for path in &expected {
        let line = format!("    SKIP [       ] {}: pays by ", path.display());
        assert!(stdout.contains(&line), "no `{line}` in:\n{stdout}");
    }
    assert!(
        stdout.contains("; 7 skipped for payment method types the app does not offer"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // The shop's sessions offer cards only, as the app file lists.
    assert!(!stdout.contains("the app created session"), "{stdout}");

    let report = json_report(&json);
    assert_eq!(report["summary"]["unsupported"], 7, "{report}");
    assert_eq!(report["summary"]["failed"], 0, "{report}");
    assert_eq!(report["summary"]["skipped"], 0, "{report}");
    let unsupported = report["unsupported"].as_array().expect("a list");
    let reason = format!(
        "pays by sepa_debit, which `payment_method_types` in {} does not list (card)",
        app.display()
    );
    assert!(
        unsupported
            .iter()
            .any(|entry| entry["reason"] == reason.as_str()),
        "{report}"
    );

    let xml = std::fs::read_to_string(&junit).expect("the JUnit report exists");
    assert!(xml.contains(" skipped=\"7\""), "{xml}");
    assert!(xml.contains(" failures=\"0\""), "{xml}");
    let skipped_case = format!("<skipped message=\"{reason}\"/>");
    assert!(xml.contains(&skipped_case), "no {skipped_case} in:\n{xml}");
}

/// Every selected scenario pays by a type the app does not offer, so none
/// runs, and the app is not started.
#[test]
fn only_unoffered_scenarios_exit_4() {
    let dir = scratch::scratch("payment-method-types", "none-runs");
    let app = card_only_app(&dir);
    let output = run_cli(
        "scenarios/payment-status",
        &app,
        &["--filter".as_ref(), "sepa".as_ref()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(
            "every selected scenario pays with a payment method type that `payment_method_types`"
        ),
        "{stderr}"
    );
}

/// `--exclude` leaves out the scenarios whose path contains its text,
/// after `--filter` selected them.
#[test]
fn exclude_leaves_out_matches() {
    let dir = scratch::scratch("payment-method-types", "exclude");
    let app = card_only_app(&dir);
    let json = dir.join("report.json");
    let args: Vec<&std::ffi::OsStr> = [
        "--filter",
        "payment-status/",
        "--exclude",
        "sepa",
        "--exclude",
        "bank-debit",
        "--json",
    ]
    .iter()
    .map(|arg| arg.as_ref())
    .chain([json.as_os_str()])
    .collect();
    let output = run_cli("scenarios", &app, &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report = json_report(&json);
    assert_eq!(report["summary"]["unsupported"], 0, "{report}");
    let paths: Vec<&str> = report["scenarios"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|scenario| scenario["path"].as_str())
        .collect();
    assert!(!paths.is_empty(), "{report}");
    for path in &paths {
        assert!(path.contains("payment-status/"), "{path}");
        assert!(!path.contains("sepa"), "{path}");
        assert!(!path.contains("bank-debit"), "{path}");
    }

    let none = run_cli(
        "scenarios/payment-status",
        &app,
        &["--exclude".as_ref(), "payment-status".as_ref()],
    );
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("--exclude leaves out every scenario in"),
        "{stderr}"
    );
}

/// The fuzzer leaves out the SEPA Direct Debit flows by the app file, with
/// that reason, and explores the card flows.
#[test]
fn fuzz_leaves_out_unoffered_flows() {
    let dir = scratch::scratch("payment-method-types", "fuzz");
    let app = card_only_app(&dir);
    let config = fakestripe::app::config::load(&app).expect("the app file is valid");
    let options = FuzzOptions {
        flows: Flow::ALL.to_vec(),
        cases: 8,
        seed: 3,
        max_actions: 4,
        max_shrink_time: Duration::from_secs(60),
        out: dir.join("found.yaml"),
        app_arg: app.display().to_string(),
        fake_url: None,
    };

    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let outcome = runtime
        .block_on(fuzz(Arc::new(config), &options, &mut |_| {}, &Stop::new()))
        .expect("the fuzz run starts and every case runs");

    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert_eq!(outcome.cases_run, 8);
    let explored: Vec<Flow> = outcome.flows.iter().map(|f| f.flow).collect();
    assert_eq!(
        explored,
        [
            Flow::Card,
            Flow::DeclineRetry,
            Flow::Expiry,
            Flow::RedirectRace
        ]
    );

    let left_out: Vec<Flow> = outcome.skipped.iter().map(|(flow, _)| *flow).collect();
    assert_eq!(left_out, [Flow::AsyncSuccess, Flow::AsyncFailure]);
    for (flow, reason) in &outcome.skipped {
        assert!(
            reason.starts_with("pays by sepa_debit, which `payment_method_types` in"),
            "{flow}: {reason}"
        );
    }
}

/// An app file that lists `payment_method_types: [card]` for a shop whose
/// sessions offer the currency's bank debit too: the scenario passes, and
/// a warning names the session and the type the list leaves out.
#[test]
fn session_with_unlisted_type_warned() {
    let dir = scratch::scratch("payment-method-types", "unlisted");
    let card_only = std::fs::read_to_string(card_only_app(&dir)).expect("the app file exists");
    // Without the setting the shop creates its sessions without a list,
    // so the scenario's euro session offers card and sepa_debit.
    let text = card_only.replace(", SHOP_PAYMENT_METHOD_TYPES: card", "");
    assert!(!text.contains("SHOP_PAYMENT_METHOD_TYPES"), "{text}");
    let app = dir.join("lists-card.yaml");
    std::fs::write(&app, text).expect("the temporary directory is writable");
    let json = dir.join("report.json");
    let output = run_cli(
        "scenarios/payment-status/card-paid.yaml",
        &app,
        &["--json".as_ref(), json.as_ref()],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");

    let report = json_report(&json);
    assert_eq!(report["summary"]["warned"], 1, "{report}");
    let warnings = report["scenarios"][0]["warnings"]
        .as_array()
        .expect("a list of warnings");
    assert_eq!(warnings.len(), 1, "{report}");
    let warning = warnings[0].as_str().expect("a string");
    let expected_end = format!(
        " for order O-1 with the payment method type sepa_debit, which `payment_method_types` in {} does not list (card)",
        app.display()
    );
    assert!(
        warning.starts_with("the app created session cs_"),
        "{warning}"
    );
    assert!(warning.ends_with(&expected_end), "{warning}");
    assert!(
        stdout.contains(&format!("  warning: {warning}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("hint: a session created without a list of payment method types"),
        "{stdout}"
    );
}
