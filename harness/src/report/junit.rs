//! JUnit XML, for CI systems that show test results: one test suite per
//! run, one test case per scenario, named by its path.

use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
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
    if let Some(lines) = warning_lines(result) {
        case.set_system_out(lines);
    }
    case
}

/// Returns a scenario's warnings, then its hints, one per line, or `None`
/// when it has neither. They go to the test case's `system-out`, because
/// a passing case has no failure text to carry them.
fn warning_lines(result: &ScenarioResult) -> Option<String> {
    if result.warnings.is_empty() && result.hints.is_empty() {
        return None;
    }
    let mut lines = String::new();
    for warning in &result.warnings {
        lines.push_str(&format!("warning: {warning}\n"));
    }
    for hint in &result.hints {
        lines.push_str(&format!("hint: {hint}\n"));
    }
    Some(lines)
}

/// Returns the JUnit class of a scenario file: its folder, dotted as a
/// package (`scenarios.api-errors`), so viewers group a folder's
/// scenarios together. An absolute path counts from the current directory
/// when it is under it.
fn class_name(path: &Path) -> String {
    let current_dir = std::env::current_dir().ok();
    class_name_from(path, current_dir.as_deref())
}

/// Returns the JUnit class of a scenario file as seen from `current_dir`.
/// A path outside it keeps its folders without the root, so
/// `/srv/ci/scenarios/a.yaml` is in `srv.ci.scenarios`.
fn class_name_from(path: &Path, current_dir: Option<&Path>) -> String {
    let folder = path.parent().unwrap_or(Path::new(""));
    let folder = current_dir
        .and_then(|dir| folder.strip_prefix(dir).ok())
        .unwrap_or(folder);
    let parts: Vec<String> = folder
        .components()
        .filter_map(|part| match part {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
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
            Event::ScenarioUnsupported {
                index,
                path,
                reason,
                ..
            } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_name_under_current_dir() {
        let path = Path::new("/work/shop/scenarios/api-errors/rate-limited.yaml");
        let class = class_name_from(path, Some(Path::new("/work/shop")));
        assert_eq!(class, "scenarios.api-errors");
    }

    #[test]
    fn class_name_outside_current_dir() {
        let path = Path::new("/srv/ci/scenarios/api-errors/rate-limited.yaml");
        let class = class_name_from(path, Some(Path::new("/work/shop")));
        assert_eq!(class, "srv.ci.scenarios.api-errors");
    }

    #[test]
    fn class_name_of_sibling_folder() {
        // A shared prefix of characters is not a parent folder.
        let path = Path::new("/work/shop-old/scenarios/card.yaml");
        let class = class_name_from(path, Some(Path::new("/work/shop")));
        assert_eq!(class, "work.shop-old.scenarios");
    }

    #[test]
    fn class_name_of_relative_path() {
        let path = Path::new("../scenarios/ordering/shuffled.yaml");
        let class = class_name_from(path, Some(Path::new("/work/shop")));
        assert_eq!(class, "scenarios.ordering");
    }

    #[test]
    fn class_name_of_file_in_current_dir() {
        let path = Path::new("/work/shop/card.yaml");
        let class = class_name_from(path, Some(Path::new("/work/shop")));
        assert_eq!(class, "scenarios");
    }
}
