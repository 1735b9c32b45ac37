//! JUnit XML, for CI systems that show test results: one test suite per
//! run, one test case per scenario, named by its path.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::Reporter;
use super::events::{Event, ScenarioResult};
use super::terminal::write_failure;

pub struct JunitReporter {
    path: PathBuf,
    cases: Vec<(usize, TestCase)>,
    time: Duration,
}

impl JunitReporter {
    /// Creates a reporter that writes to `path` when the run finishes.
    pub fn new(path: PathBuf) -> Self {
        JunitReporter {
            path,
            cases: Vec::new(),
            time: Duration::ZERO,
        }
    }

    /// Renders the report as XML.
    pub fn render(&mut self) -> io::Result<String> {
        let mut suite = TestSuite::new("scenarios");
        self.cases.sort_by_key(|(index, _)| *index);
        suite.add_test_cases(self.cases.iter().map(|(_, case)| case.clone()));
        suite.set_time(self.time);
        let mut report = Report::new("fakestripe");
        report.set_time(self.time);
        report.add_test_suite(suite);
        report.to_string().map_err(io::Error::other)
    }
}

/// Converts one scenario result into a test case.
pub fn test_case(result: &ScenarioResult) -> TestCase {
    let status = if result.passed() {
        TestCaseStatus::success()
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let first = &result.failures[0];
        status.set_message(format!("{}: {}", first.title(), first.message));
        status.set_type(first.title());
        status.set_description(details(result));
        status
    };
    let mut case = TestCase::new(result.path.display().to_string(), status);
    case.set_classname(class_name(&result.path));
    case.set_time(result.duration);
    case
}

/// Returns the JUnit class of a scenario file: its folder, dotted as a
/// package (`scenarios.api-errors`), so viewers group a folder's
/// scenarios together.
fn class_name(path: &std::path::Path) -> String {
    let parts: Vec<String> = path
        .parent()
        .into_iter()
        .flat_map(std::path::Path::components)
        .filter_map(|part| match part {
            std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        "scenarios".to_owned()
    } else {
        parts.join(".")
    }
}

/// Renders every failure with expected and actual values, the timeline and the
/// replay command, as plain text.
fn details(result: &ScenarioResult) -> String {
    let mut out: Vec<u8> = Vec::new();
    for failure in &result.failures {
        let _ = write_failure(&mut out, failure, false);
    }
    if !result.timeline.is_empty() {
        let _ = writeln!(out, "  timeline:");
        for line in &result.timeline {
            let _ = writeln!(
                out,
                "    {:>8} {:<8} {}",
                super::timeline::format_offset(line.offset),
                line.actor,
                line.text
            );
        }
    }
    let _ = writeln!(out, "  replay: {}", result.replay);
    String::from_utf8_lossy(&out).into_owned()
}

impl Reporter for JunitReporter {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::ScenarioFinished { index, result } => {
                self.cases.push((*index, test_case(result)))
            }
            Event::ScenarioSkipped {
                index,
                path,
                stopped,
                ..
            } => {
                let mut status = TestCaseStatus::skipped();
                let message = if *stopped {
                    "stopped before it finished"
                } else {
                    "not run"
                };
                status.set_message(message);
                let mut case = TestCase::new(path.display().to_string(), status);
                case.set_classname(class_name(path));
                self.cases.push((*index, case));
            }
            Event::RunFinished { summary } => {
                self.time = summary.duration;
                let xml = self.render()?;
                std::fs::write(&self.path, xml).map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!("writing {}: {err}", self.path.display()),
                    )
                })?;
            }
            Event::RunStarted { .. } | Event::ScenarioStarted { .. } => {}
        }
        Ok(())
    }
}
