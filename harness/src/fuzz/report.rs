//! The `--junit` and `--json` reports of `fakestripe fuzz`: the run's
//! outcome, written once when it ends, for CI. The JUnit report has one
//! test case for the whole run, and the JSON report one document.

use std::path::{Path, PathBuf};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{Value, json};

use super::explore::{Found, FuzzError, FuzzOptions, FuzzOutcome};

/// The report files that `--junit` and `--json` name.
#[derive(Debug, Clone, Default)]
pub struct ReportFiles {
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
}

impl ReportFiles {
    /// Writes each report that was requested for a run of the app named
    /// `app` that ended with `ending`. Returns the first error, after
    /// trying every report.
    pub fn write(
        &self,
        app: &str,
        options: &FuzzOptions,
        ending: Result<&FuzzOutcome, &FuzzError>,
    ) -> std::io::Result<()> {
        let mut first = Ok(());
        if let Some(path) = &self.junit {
            let written = junit(app, options, ending).and_then(|xml| write_file(path, &xml));
            first = first.and(written);
        }
        if let Some(path) = &self.json {
            let document = json_document(options, ending);
            let written = serde_json::to_string_pretty(&document)
                .map_err(std::io::Error::other)
                .and_then(|text| write_file(path, &text));
            first = first.and(written);
        }
        first
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text).map_err(|err| {
        std::io::Error::new(err.kind(), format!("writing {}: {err}", path.display()))
    })
}

/// Returns the invariant of a failure such as `invariant failed_released`,
/// or None for a failed step.
fn invariant(found: &Found) -> Option<&str> {
    found.failure.strip_prefix("invariant ")
}

/// Returns the one-line summary of a failure that both reports carry,
/// naming where the shrunk scenario is or why it could not be written.
fn failure_line(found: &Found) -> String {
    let scenario = match &found.write_error {
        None => format!("the shrunk scenario is {}", found.path.display()),
        Some(err) => format!(
            "the shrunk scenario could not be written to {}: {err}",
            found.path.display()
        ),
    };
    format!(
        "case {} of the {} flow broke {}; {scenario}",
        found.case, found.flow, found.failure
    )
}

/// Renders the JUnit report: a suite named `fuzz` with the seed and the
/// case counts as properties, and one test case named after the app.
fn junit(
    app: &str,
    options: &FuzzOptions,
    ending: Result<&FuzzOutcome, &FuzzError>,
) -> std::io::Result<String> {
    let mut suite = TestSuite::new("fuzz");
    suite.add_property(Property::new("seed", options.seed.to_string()));
    suite.add_property(Property::new("cases", options.cases.to_string()));
    let mut case = match ending {
        Ok(outcome) => {
            suite.add_property(Property::new("cases_run", outcome.cases_run.to_string()));
            suite.set_time(outcome.cases_duration);
            outcome_case(app, options, outcome)
        }
        Err(err) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(err.to_string());
            TestCase::new(app, status)
        }
    };
    case.set_classname("fuzz");
    suite.add_test_case(case);
    let mut report = Report::new("fakestripe");
    report.add_test_suite(suite);
    report.to_string().map_err(std::io::Error::other)
}

/// Returns the test case of a run that ended with `outcome`: a failure
/// with the shrunk schedule, the failed run and the scenario file when a
/// case failed. Otherwise an error when the app exited, skipped when a
/// stop request came first, and a success when every case passed.
fn outcome_case(app: &str, options: &FuzzOptions, outcome: &FuzzOutcome) -> TestCase {
    let counts = format!(
        "{} of {} cases run, seed {}",
        outcome.cases_run, options.cases, options.seed
    );
    let status = if let Some(found) = &outcome.failure {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_message(failure_line(found));
        status.set_type(found.failure.clone());
        let mut description = String::from("smallest schedule:\n");
        for (index, line) in found.minimal.lines.iter().enumerate() {
            description.push_str(&format!("  {}. {line}\n", index + 1));
        }
        description.push_str(&crate::report::junit::details(&found.result));
        if found.write_error.is_some() {
            // The report is then the only file that keeps the scenario.
            description.push_str("the scenario file, which could not be written:\n");
            description.push_str(&found.minimal.text);
        }
        status.set_description(description);
        status
    } else if let Some(message) = outcome.cut_short() {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(message.clone());
        status
    } else if outcome.interrupted {
        let mut status = TestCaseStatus::skipped();
        status.set_message(format!("stopped before it finished: {counts}"));
        status
    } else {
        TestCaseStatus::success()
    };
    let mut case = TestCase::new(app, status);
    case.set_time(outcome.cases_duration);
    let mut out = format!("{counts}\n");
    for (flow, reason) in &outcome.skipped {
        out.push_str(&format!("the {flow} flow is left out: {reason}\n"));
    }
    if let (Some(_), Some(message)) = (&outcome.failure, outcome.cut_short()) {
        out.push_str(&format!("then {message}\n"));
    }
    case.set_system_out(out);
    case
}

/// Builds the JSON report. `passed` is true only when every requested
/// case ran and passed.
fn json_document(options: &FuzzOptions, ending: Result<&FuzzOutcome, &FuzzError>) -> Value {
    let outcome = match ending {
        Ok(outcome) => outcome,
        Err(err) => {
            return json!({
                "passed": false,
                "seed": options.seed,
                "cases": options.cases,
                "error": err.to_string(),
            });
        }
    };
    let failure = outcome.failure.as_ref().map(|found| {
        let result = crate::report::json::with_outcome(&found.result).unwrap_or(Value::Null);
        json!({
            "message": failure_line(found),
            "case": found.case,
            "flow": found.flow.name(),
            "failure": found.failure,
            "invariant": invariant(found),
            "scenario": found.path.display().to_string(),
            "written": found.write_error.is_none(),
            "write_error": found.write_error,
            "scenario_text": found.write_error.as_ref().map(|_| &found.minimal.text),
            "actions": found.original.effective.len(),
            "shrunk_actions": found.minimal.effective.len(),
            "schedule": found.minimal.lines,
            "shrink_runs": found.shrink_runs,
            "shrink_stopped": found.shrink_stopped,
            "replayed": found.replayed,
            "result": result,
        })
    });
    let skipped_flows: Vec<Value> = outcome
        .skipped
        .iter()
        .map(|(flow, reason)| json!({ "flow": flow.name(), "reason": reason }))
        .collect();
    let passed = outcome.failure.is_none() && !outcome.interrupted && outcome.cut_short().is_none();
    json!({
        "passed": passed,
        "seed": options.seed,
        "cases": options.cases,
        "cases_run": outcome.cases_run,
        "duration": outcome.cases_duration.as_secs_f64(),
        "flows": outcome.flows.iter().map(|flow| flow.flow.name()).collect::<Vec<_>>(),
        "skipped_flows": skipped_flows,
        "interrupted": outcome.interrupted,
        "stopped_case": outcome.stopped_case,
        "app_exit": outcome.app_exit,
        "fake_lost": outcome.fake_lost,
        "failure": failure,
        "error": Value::Null,
    })
}
