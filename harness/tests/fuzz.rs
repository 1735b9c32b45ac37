//! `fakestripe fuzz` against the reference shop (examples/shop-rust),
//! started through its fakestripe.yaml. Each bug switch tested here depends
//! on the order or the number of deliveries. With it on, fuzzing finds a
//! failure within 200 cases and shrinks it to at most 3 deliveries, and
//! `fakestripe run` replays the written scenario with the same failure. The
//! correct shop passes 500 cases. One test runs the Python reference shop
//! (examples/shop-python) with its SDK's retries on, to check that API
//! failures get past them.
//!
//! The seeds are fixed, so each test explores the same schedules on every
//! run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fakestripe::fuzz::{Flow, FuzzOptions, FuzzOutcome, Stop, fuzz};
use serde_json::Value;

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

/// Creates a directory for one test's files.
fn scratch(test: &str) -> scratch::Scratch {
    scratch::scratch("fuzz", test)
}

/// Writes a copy of the shop's fakestripe.yaml that turns on one bug
/// switch, and returns its path.
fn buggy_shop_app(bug: &str, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(shop_app()).expect("the shop's fakestripe.yaml exists");
    let root = workspace_root().display().to_string();
    let text = text.replace("cwd: ../..", &format!("cwd: {root}")).replace(
        "env: { RUST_LOG: warn }",
        &format!("env: {{ RUST_LOG: warn, SHOP_BUG: {bug} }}"),
    );
    assert!(
        text.contains(&format!("SHOP_BUG: {bug}")),
        "the bug switch was not added to the app file"
    );
    let path = dir.join(format!("{bug}.yaml"));
    std::fs::write(&path, text).expect("the temporary directory is writable");
    path
}

fn run_fuzz(app: &Path, cases: u32, seed: u64, out: PathBuf) -> FuzzOutcome {
    let config = fakestripe::app::config::load(app).expect("the app file is valid");
    let options = FuzzOptions {
        flows: Flow::ALL.to_vec(),
        cases,
        seed,
        max_actions: 8,
        max_shrink_time: Duration::from_secs(120),
        out,
        app_arg: app.display().to_string(),
        fake_url: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    runtime
        .block_on(fuzz(Arc::new(config), &options, &mut |_| {}, &Stop::new()))
        .expect("the fuzz run starts and every case runs")
}

/// Runs `fakestripe run FILE --app APP --json REPORT`; returns the exit code
/// and the names of the invariants the scenario broke.
fn replay(file: &Path, app: &Path, dir: &Path) -> (Option<i32>, Vec<String>) {
    let report = dir.join("replay.json");
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("run")
        .arg(file)
        .arg("--app")
        .arg(app)
        .arg("--json")
        .arg(&report)
        .output()
        .expect("fakestripe runs");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|err| {
        panic!(
            "no JSON report ({err}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let document: Value = serde_json::from_str(&text).expect("the report is JSON");
    let broken = document["scenarios"][0]["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|failure| failure["kind"] == "invariant")
        .filter_map(|failure| failure["name"].as_str().map(str::to_owned))
        .collect();
    (output.status.code(), broken)
}

/// Fuzzes the shop with one bug switch, then checks the shrunk schedule and
/// its replay. Returns the invariant that broke.
fn bug_is_found_and_shrunk(bug: &str, seed: u64) -> String {
    let dir = scratch(bug);
    let app = buggy_shop_app(bug, &dir);
    let out = dir.join("found.yaml");
    let outcome = run_fuzz(&app, 200, seed, out.clone());
    let found = outcome
        .failure
        .unwrap_or_else(|| panic!("no failure in {} cases with {bug}", outcome.cases_run));
    assert!(found.case <= 200, "found only at case {}", found.case);
    assert!(
        found.minimal.deliveries <= 3,
        "the smallest schedule makes {} deliveries:\n{}",
        found.minimal.deliveries,
        found.minimal.text
    );
    assert!(
        found.minimal.effective.len() <= found.original.effective.len(),
        "shrinking made the schedule longer"
    );
    assert_eq!(found.replayed, Some(true), "{}", found.minimal.text);
    assert_eq!(found.path, out);
    let written = std::fs::read_to_string(&out).expect("the scenario file was written");
    assert_eq!(written, found.minimal.text);

    let invariant = found
        .failure
        .strip_prefix("invariant ")
        .unwrap_or_else(|| panic!("not an invariant failure: {}", found.failure))
        .to_owned();
    let (code, broken) = replay(&out, &app, &dir);
    assert_eq!(code, Some(1), "the replay must fail:\n{written}");
    assert!(
        broken.contains(&invariant),
        "the replay broke {broken:?}, not {invariant}:\n{written}"
    );
    invariant
}

#[test]
fn no_dedup_found() {
    let invariant = bug_is_found_and_shrunk("no-dedup", 11);
    assert!(
        ["paid_fulfilled_once", "duplicates_ignored"].contains(&invariant.as_str()),
        "{invariant}"
    );
}

#[test]
fn last_event_wins_found() {
    bug_is_found_and_shrunk("last-event-wins", 12);
}

#[test]
fn mark_before_commit_found() {
    let invariant = bug_is_found_and_shrunk("mark-before-commit", 13);
    assert_eq!(invariant, "paid_fulfilled_once");
}

#[test]
fn redirect_fulfils_too_found() {
    let invariant = bug_is_found_and_shrunk("redirect-fulfils-too", 14);
    assert!(
        ["paid_fulfilled_once", "duplicates_ignored"].contains(&invariant.as_str()),
        "{invariant}"
    );
}

/// Writes a copy of the Python reference shop's fakestripe.yaml whose
/// shop retries each failed Stripe call twice, as stripe-python's
/// module-level default does, and has one bug switch on. Returns its path.
fn python_shop_with_sdk_retries(bug: &str, dir: &Path) -> PathBuf {
    let shop = workspace_root().join("examples/shop-python");
    let text = std::fs::read_to_string(shop.join("fakestripe.yaml"))
        .expect("the shop's fakestripe.yaml exists");
    let text = text
        .replace("cwd: .", &format!("cwd: {}", shop.display()))
        .replace(
            "env: { SHOP_LOG_LEVEL: WARNING }",
            &format!(
                "env: {{ SHOP_LOG_LEVEL: WARNING, SHOP_SDK_RETRIES: \"2\", SHOP_BUG: {bug} }}"
            ),
        );
    assert!(
        text.contains("SHOP_SDK_RETRIES: \"2\""),
        "the settings were not added to the app file"
    );
    let path = dir.join(format!("python-{bug}.yaml"));
    std::fs::write(&path, text).expect("the temporary directory is writable");
    path
}

/// With mark-before-commit, the shop marks an event processed before it
/// lists the line items, so only a failed call while it handles a webhook
/// loses the fulfilment. The shop's SDK retries each call twice, so an API
/// failure action must fail at least three calls in a row to reach it.
#[test]
fn api_failure_gets_past_sdk_retries() {
    let dir = scratch("sdk-retries");
    let app = python_shop_with_sdk_retries("mark-before-commit", &dir);
    let out = dir.join("found.yaml");
    let outcome = run_fuzz(&app, 60, API_FAILURE_SEED, out);
    let found = outcome.failure.unwrap_or_else(|| {
        panic!(
            "no failure in {} cases of the shop with SDK retries",
            outcome.cases_run
        )
    });
    assert!(
        found.minimal.text.contains("kind: api_error"),
        "the smallest schedule fails no API call:\n{}",
        found.minimal.text
    );
    assert!(
        found.minimal.text.contains("count: 3") || found.minimal.text.contains("count: 6"),
        "{}",
        found.minimal.text
    );
    assert_eq!(found.replayed, Some(true), "{}", found.minimal.text);
}

/// The seed of `api_failure_gets_past_sdk_retries`.
const API_FAILURE_SEED: u64 = 11;

#[test]
fn correct_shop_passes_500_cases() {
    let dir = scratch("correct");
    let out = dir.join("found.yaml");
    let outcome = run_fuzz(&shop_app(), 500, 15, out.clone());
    if let Some(found) = &outcome.failure {
        panic!(
            "case {} broke {}:\n{}",
            found.case, found.failure, found.minimal.text
        );
    }
    assert_eq!(outcome.cases_run, 500);
    assert!(!outcome.interrupted);
    assert!(
        !out.exists(),
        "no scenario is written when every case passes"
    );

    assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
    let flows: Vec<Flow> = outcome.flows.iter().map(|f| f.flow).collect();
    assert_eq!(flows, Flow::ALL);

    // The card flow's events, as the fake creates them.
    let card = &outcome.flows[0];
    assert_eq!(
        card.types,
        [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.completed",
            "charge.updated"
        ]
    );
    let settlement = outcome.flows[1]
        .events
        .iter()
        .find(|e| e.event_type == "checkout.session.async_payment_succeeded")
        .expect("the async-success flow settles within the probe");
    assert_eq!(
        settlement.offset,
        fakestripe::fuzz::flow::ASYNC_DELAY_SECONDS
    );
}

/// Runs `fakestripe fuzz ARGS --app APP --out OUT` and returns the exit
/// code and the standard output.
fn fuzz_cli(args: &[&str], app: &Path, out: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("fuzz")
        .args(args)
        .arg("--app")
        .arg(app)
        .arg("--out")
        .arg(out)
        .output()
        .expect("fakestripe runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout)
}

/// Returns the report's line that starts with "Smallest schedule:", or an
/// empty string.
fn smallest_schedule_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|line| line.starts_with("Smallest schedule:"))
        .unwrap_or_default()
}

#[test]
fn cli_prints_seed_and_writes_scenario() {
    let dir = scratch("cli");
    let app = buggy_shop_app("redirect-fulfils-too", &dir);
    let out = dir.join("cli-found.yaml");
    let args = ["--cases", "50", "--seed", "21", "--flow", "card"];
    let (code, stdout) = fuzz_cli(&args, &app, &out);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.starts_with("fakestripe fuzz: seed 21\n"), "{stdout}");
    assert!(stdout.trim_end().ends_with("seed 21"), "{stdout}");
    assert!(stdout.contains("Smallest schedule:"), "{stdout}");
    // The count of shrink runs agrees with its noun, one run included.
    let summary = smallest_schedule_line(&stdout);
    let runs = summary
        .rsplit_once('(')
        .and_then(|(_, tail)| tail.split_once(" shrink run"))
        .map(|(count, rest)| (count.parse::<u32>().unwrap_or(0), rest.starts_with("s ")));
    assert!(
        matches!(runs, Some((1, false)) | Some((2.., true))),
        "{summary}"
    );
    assert!(stdout.contains("timeline (virtual time"), "{stdout}");
    assert!(
        stdout.contains("running it again failed the same way"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&out).expect("the scenario file was written");
    assert!(written.contains("- checkout: { order: O-1 }"), "{written}");
    // A JavaScript client reads the fault-plan seed back exactly only up
    // to 2^53 - 1.
    let plan_seed: u64 = written
        .lines()
        .find_map(|line| line.strip_prefix("seed: "))
        .unwrap_or_else(|| panic!("the scenario has no seed:\n{written}"))
        .parse()
        .expect("the seed is a whole number");
    assert!(plan_seed <= 9_007_199_254_740_991, "{written}");
}

/// Runs `fakestripe fuzz ARGS` as [`fuzz_cli`] does, with `--junit` and
/// `--json` reports in `dir`. Returns the exit code, the standard output,
/// the JUnit XML and the JSON report.
fn fuzz_cli_reports(args: &[&str], app: &Path, dir: &Path) -> (Option<i32>, String, String, Value) {
    let junit = dir.join("report.xml");
    let json = dir.join("report.json");
    let mut all: Vec<&str> = args.to_vec();
    let paths = [junit.to_str(), json.to_str()].map(|path| path.expect("the path is UTF-8"));
    all.extend(["--junit", paths[0], "--json", paths[1]]);
    let (code, stdout) = fuzz_cli(&all, app, &dir.join("found.yaml"));
    let xml = std::fs::read_to_string(&junit)
        .unwrap_or_else(|err| panic!("no JUnit report ({err}):\n{stdout}"));
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|err| panic!("no JSON report ({err}):\n{stdout}"));
    let report = serde_json::from_str(&text).expect("the report is JSON");
    (code, stdout, xml, report)
}

/// A failing run's reports name the broken invariant, the seed, the
/// cases run and the shrunk scenario file.
#[test]
fn cli_reports_name_failure() {
    let dir = scratch("reports-failure");
    let app = buggy_shop_app("redirect-fulfils-too", &dir);
    let args = ["--cases", "50", "--seed", "21", "--flow", "card"];
    let (code, stdout, xml, report) = fuzz_cli_reports(&args, &app, &dir);
    assert_eq!(code, Some(1), "{stdout}");

    let out = dir.join("found.yaml").display().to_string();
    let failure = &report["failure"];
    assert_eq!(report["passed"], false, "{report}");
    assert_eq!(report["seed"], 21, "{report}");
    assert_eq!(report["cases"], 50, "{report}");
    assert_eq!(failure["flow"], "card", "{report}");
    assert_eq!(failure["scenario"], out.as_str(), "{report}");
    assert_eq!(failure["written"], true, "{report}");
    assert_eq!(failure["replayed"], true, "{report}");
    assert_eq!(failure["result"]["passed"], false, "{report}");
    let invariant = failure["invariant"].as_str().unwrap_or_default();
    assert!(
        ["paid_fulfilled_once", "duplicates_ignored"].contains(&invariant),
        "{report}"
    );
    let case = failure["case"]
        .as_u64()
        .expect("the failing case is a number");
    assert_eq!(report["cases_run"], case, "{report}");
    assert!(
        stdout.contains(&format!(
            "FAIL case {case} of the card flow broke invariant {invariant} "
        )),
        "{stdout}"
    );

    assert!(xml.contains(" failures=\"1\""), "{xml}");
    assert!(
        xml.contains("<property name=\"seed\" value=\"21\"/>"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<property name=\"cases_run\" value=\"{case}\"/>")),
        "{xml}"
    );
    let message = format!(
        "<failure message=\"case {case} of the card flow broke invariant {invariant}; the shrunk scenario is {out}\" type=\"invariant {invariant}\">"
    );
    assert!(xml.contains(&message), "no {message} in:\n{xml}");
}

/// A passing run's reports mark it as passed and count every case.
#[test]
fn cli_reports_pass() {
    let dir = scratch("reports-pass");
    let args = ["--cases", "3", "--seed", "5", "--flow", "card"];
    let (code, stdout, xml, report) = fuzz_cli_reports(&args, &shop_app(), &dir);
    assert_eq!(code, Some(0), "{stdout}");

    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["cases_run"], 3, "{report}");
    assert_eq!(report["seed"], 5, "{report}");
    assert_eq!(report["failure"], Value::Null, "{report}");
    assert_eq!(report["flows"], serde_json::json!(["card"]), "{report}");

    assert!(xml.contains(" tests=\"1\""), "{xml}");
    assert!(xml.contains(" failures=\"0\""), "{xml}");
    assert!(xml.contains(" errors=\"0\""), "{xml}");
    assert!(xml.contains(" skipped=\"0\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"shop-rust\" classname=\"fuzz\""),
        "{xml}"
    );
    assert!(
        xml.contains("<system-out>3 of 3 cases run, seed 5\n</system-out>"),
        "{xml}"
    );
    assert!(!dir.join("found.yaml").exists(), "{stdout}");
}

/// A report that names the `--out` file is rejected before the app starts.
#[test]
fn cli_rejects_report_at_out() {
    let dir = scratch("report-at-out");
    let out = dir.join("found.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args(["fuzz", "--cases", "1", "--flow", "card", "--app"])
        .arg(shop_app())
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&out)
        .output()
        .expect("fakestripe runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: --json names {}, the file that --out names",
            out.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("starting the app"), "{stderr}");
}

/// Zero and a count past `u32` are rejected with the range that `--cases`
/// takes.
#[test]
fn cli_rejects_cases_out_of_range() {
    for cases in ["0", "4294967296"] {
        let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
            .args(["fuzz", "--cases", cases, "--app"])
            .arg(shop_app())
            .output()
            .expect("fakestripe runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{cases}: {stderr}");
        let expected = format!("{cases} is not in 1..=4294967295");
        assert!(stderr.contains(&expected), "{cases}: {stderr}");
    }
}

#[test]
fn cli_rejects_unknown_flow() {
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args(["fuzz", "--flow", "paypal", "--app"])
        .arg(shop_app())
        .output()
        .expect("fakestripe runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("async-success"), "{stderr}");
}

#[test]
fn cli_rejects_too_many_actions() {
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args(["fuzz", "--cases", "1", "--flow", "card"])
        .arg("--max-actions")
        .arg((fakestripe::fuzz::MAX_ACTIONS + 1).to_string())
        .arg("--app")
        .arg(shop_app())
        .output()
        .expect("fakestripe runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--max-actions must be at most 100"),
        "{stderr}"
    );
}

/// `--max-shrink-time` takes durations by the rule of scenario files.
#[test]
fn cli_rejects_invalid_shrink_time() {
    let cases = [
        ("100000d", "the maximum is 90d"),
        ("1m1m", "the unit m appears more than once"),
        ("30s1m", "m comes after s"),
    ];
    for (value, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
            .args(["fuzz", "--cases", "1", "--max-shrink-time", value, "--app"])
            .arg(shop_app())
            .output()
            .expect("fakestripe runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {stderr}");
        assert!(stderr.contains(expected), "{value}: {stderr}");
    }
}

/// A negative number is rejected as a value out of range, not mistaken
/// for an unknown flag.
#[test]
fn cli_rejects_negative_numbers_as_values() {
    for args in [
        ["fuzz", "--cases", "-1"],
        ["fuzz", "--seed", "-5"],
        ["serve", "--port", "-1"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
            .args(args)
            .output()
            .expect("fakestripe runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let expected = format!("invalid value '{}' for '{}", args[2], args[1]);
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
    }
}

#[test]
fn cli_rejects_out_in_missing_folder() {
    let dir = scratch("missing-folder");
    let out = dir.join("missing/found.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args(["fuzz", "--cases", "1", "--flow", "card"])
        .arg("--app")
        .arg(shop_app())
        .arg("--out")
        .arg(&out)
        .output()
        .expect("fakestripe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "the folder {} does not exist",
            dir.join("missing").display()
        )),
        "{stderr}"
    );
    assert!(!stdout.contains("Fuzzing"), "{stdout}");
    assert!(!stderr.contains("starting the app"), "{stderr}");
}

#[test]
fn check_out_leaves_files_unchanged() {
    let dir = scratch("check-out");
    let new = dir.join("new.yaml");
    let _ = std::fs::remove_file(&new);
    fakestripe::fuzz::check_out(&new).expect("the folder is writable");
    assert!(!new.exists(), "the check left {} behind", new.display());

    let existing = dir.join("existing.yaml");
    std::fs::write(&existing, "kept").expect("the temporary directory is writable");
    fakestripe::fuzz::check_out(&existing).expect("the file is writable");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "kept");

    let err = fakestripe::fuzz::check_out(&dir).expect_err("a folder is not a file");
    assert!(err.to_string().contains("it is a folder"), "{err}");
}

#[test]
fn simultaneous_out_checks_all_pass() {
    let dir = scratch("check-out-together");
    let out = dir.join("shared.yaml");
    let _ = std::fs::remove_file(&out);
    let checks: Vec<_> = (0..8)
        .map(|_| {
            let out = out.clone();
            std::thread::spawn(move || {
                (0..50)
                    .filter(|_| fakestripe::fuzz::check_out(&out).is_err())
                    .count()
            })
        })
        .collect();
    let failures: usize = checks.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(failures, 0);
    assert!(!out.exists(), "a check created {}", out.display());
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "probes left behind: {left:?}");
}

/// A scenario file that cannot be written once shrinking ends is printed,
/// so the shrunk schedule is not lost. The folder is removed after the
/// check before the first case, and long before the write.
#[test]
fn cli_prints_scenario_when_write_fails() {
    let dir = scratch("write-fails");
    let app = buggy_shop_app("redirect-fulfils-too", &dir);
    let folder = dir.join("removed");
    std::fs::create_dir_all(&folder).expect("the temporary directory is writable");
    let out = folder.join("found.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args(["fuzz", "--cases", "50", "--seed", "21", "--flow", "card"])
        .arg("--app")
        .arg(&app)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(dir.join("report.json"))
        .arg("--junit")
        .arg(dir.join("report.xml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fakestripe runs");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("fakestripe prints");
    assert_eq!(first, "fakestripe fuzz: seed 21\n");
    std::fs::remove_dir_all(&folder).expect("the folder can be removed");

    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("stdout is UTF-8");
    let output = child.wait_with_output().expect("fakestripe exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{rest}\n{stderr}");
    assert!(
        stderr.contains(&format!("cannot write {}", out.display())),
        "{stderr}"
    );
    assert!(rest.contains("The scenario file:"), "{rest}");
    assert!(rest.contains("- checkout: { order: O-1 }"), "{rest}");
    assert!(rest.trim_end().ends_with("seed 21"), "{rest}");

    // The reports state that the file was not written, and keep its text.
    let not_written = format!(
        "the shrunk scenario could not be written to {}: ",
        out.display()
    );
    let json = std::fs::read_to_string(dir.join("report.json")).expect("the JSON report exists");
    let report: Value = serde_json::from_str(&json).expect("the report is JSON");
    let failure = &report["failure"];
    assert_eq!(failure["written"], false, "{json}");
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(message.contains(&not_written), "{json}");
    let text = failure["scenario_text"].as_str().unwrap_or_default();
    assert!(text.contains("- checkout: { order: O-1 }"), "{json}");
    let xml = std::fs::read_to_string(dir.join("report.xml")).expect("the JUnit report exists");
    assert!(xml.contains(&not_written), "{xml}");
    assert!(
        xml.contains("the scenario file, which could not be written:"),
        "{xml}"
    );
}

/// With `ignore-async` the shop never fulfils a SEPA Direct Debit that
/// succeeds, whatever the order of the events, so shrinking removes every
/// action. The report and the written file then state that the failure
/// needs no reordering, in place of a schedule of no steps.
#[test]
fn cli_reports_no_reordering_needed() {
    let dir = scratch("no-actions");
    let app = buggy_shop_app("ignore-async", &dir);
    let out = dir.join("plain-flow.yaml");
    let args = ["--cases", "20", "--seed", "1", "--flow", "async-success"];
    let (code, stdout) = fuzz_cli(&args, &app, &out);
    assert_eq!(code, Some(1), "{stdout}");
    let summary = smallest_schedule_line(&stdout);
    assert!(
        summary.starts_with("Smallest schedule: none of the "),
        "{summary}"
    );
    assert!(
        summary.contains("The failure needs no reordering: the app fails on the plain flow"),
        "{summary}"
    );
    let written = std::fs::read_to_string(&out).expect("the scenario file was written");
    let scenario = fakestripe::scenario::parse(&out, &written).expect("the written file is valid");
    let description = scenario.description.unwrap_or_default();
    assert!(
        description.contains("The failure needs no reordering: the app fails on the plain flow"),
        "{description}"
    );
    assert!(!description.contains("the steps below"), "{description}");
}
