//! JUnit XML, for CI systems that show test results: one test suite per
//! run, one test case per scenario, named by its path and classed by its
//! folder.

use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::Reporter;
use super::events::{Event, ScenarioResult};
use super::terminal::write_failure;

pub struct JunitReporter {
    path: PathBuf,
    names: CaseNames,
    cases: Vec<(usize, TestCase)>,
    time: Duration,
}

impl JunitReporter {
    /// Creates a reporter that writes to `path` when the run finishes and
    /// names the test cases and their classes with `names`.
    pub fn new(path: PathBuf, names: CaseNames) -> Self {
        JunitReporter {
            path,
            names,
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
        let xml = report.to_string().map_err(io::Error::other)?;
        Ok(xml_text(xml))
    }
}

/// Returns `text` with each character that XML 1.0 does not allow, such
/// as U+FFFE in an app's output, replaced by U+FFFD. One such character
/// makes an XML parser, and so a CI tool, reject the whole report.
fn xml_text(text: String) -> String {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    if text.chars().all(allowed) {
        return text;
    }
    text.chars()
        .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// Converts one scenario result into a test case named, and of the class
/// named, by `names`.
pub fn test_case(result: &ScenarioResult, names: &CaseNames) -> TestCase {
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
    let mut case = TestCase::new(names.case_of(&result.path), status);
    case.set_classname(names.class_of(&result.path));
    case.set_time(result.duration);
    if let Some(lines) = system_out(result) {
        case.set_system_out(lines);
    }
    case
}

/// Returns a scenario's warnings, then its hints, one per line, then the
/// app's output under the heading the terminal gives it, or `None` when
/// the result has none of these. They go to the test case's `system-out`,
/// because a passing case has no failure text to carry them.
fn system_out(result: &ScenarioResult) -> Option<String> {
    let heading = result.app_output_heading();
    if result.warnings.is_empty() && result.hints.is_empty() && heading.is_none() {
        return None;
    }
    let mut lines = String::new();
    for warning in &result.warnings {
        lines.push_str(&format!("warning: {warning}\n"));
    }
    for hint in &result.hints {
        lines.push_str(&format!("hint: {hint}\n"));
    }
    if let Some(heading) = heading {
        lines.push_str(&format!("{heading}:\n"));
        for line in &result.app_output {
            lines.push_str(&format!("  | {line}\n"));
        }
    }
    Some(lines)
}

/// Names the JUnit test case of each scenario file after its path
/// (`scenarios/api-errors/rate-limited.yaml`), and its class after its
/// folder, dotted as a package (`scenarios.api-errors`), so viewers group
/// a folder's scenarios together. CI tools key on class and name, so both
/// depend on where the file is, with symbolic links resolved, not on how
/// its path was written: `scenarios`, `./scenarios`, `$PWD/scenarios`,
/// `../shop/scenarios` and a link to the folder give one name.
#[derive(Debug, Clone, Default)]
pub struct CaseNames {
    /// The current directory, absolute, with symbolic links resolved.
    current_dir: Option<PathBuf>,
    /// The folders of the paths given on the command line, absolute and
    /// resolved: a folder itself, or the folder of a file.
    roots: Vec<PathBuf>,
}

impl CaseNames {
    /// Creates the names of a run of the scenario files or folders
    /// `paths`, as given on the command line.
    pub fn new(paths: &[PathBuf]) -> Self {
        let current_dir = std::env::current_dir().ok();
        let roots: Vec<PathBuf> = paths
            .iter()
            .map(|path| {
                if path.is_dir() {
                    path.clone()
                } else {
                    crate::folder_of(path).to_owned()
                }
            })
            .collect();
        Self::with_current_dir(current_dir, &roots)
    }

    /// Creates the names of a run in `current_dir` given the folders
    /// `roots`.
    pub fn with_current_dir(current_dir: Option<PathBuf>, roots: &[PathBuf]) -> Self {
        let current_dir = current_dir.map(|dir| resolved(&dir, None));
        let mut roots: Vec<PathBuf> = roots
            .iter()
            .map(|root| resolved(root, current_dir.as_deref()))
            .collect();
        // A file under two given folders counts from the outer one, so the
        // names of one tree do not depend on which folder listed it.
        roots.sort_by_key(|root| root.components().count());
        CaseNames { current_dir, roots }
    }

    /// Returns the class of the scenario file at `path`: its folders from
    /// [`CaseNames::folders_of`], joined with dots, or `scenarios` for a
    /// file right in the folder that it counts from.
    pub fn class_of(&self, path: &Path) -> String {
        let parts = self.folders_of(path);
        if parts.is_empty() {
            "scenarios".to_owned()
        } else {
            parts.join(".")
        }
    }

    /// Returns the test case name of the scenario file at `path`: its
    /// folders from [`CaseNames::folders_of`] and its file name, joined
    /// with `/`.
    pub fn case_of(&self, path: &Path) -> String {
        let mut parts = self.folders_of(path);
        let file_name = path.file_name().unwrap_or(path.as_os_str());
        parts.push(file_name.to_string_lossy().into_owned());
        parts.join("/")
    }

    /// Returns the folders of the scenario file at `path`, counted from
    /// the current directory when the file is under it, else from the
    /// given folder that contains it, starting with that folder's name. A
    /// file under neither keeps every folder of its path without the
    /// root, so `/srv/ci/scenarios/a.yaml` is in `srv.ci.scenarios`.
    fn folders_of(&self, path: &Path) -> Vec<String> {
        let folder = resolved(crate::folder_of(path), self.current_dir.as_deref());
        let from_current_dir = self
            .current_dir
            .as_deref()
            .and_then(|current_dir| relative_names(&folder, current_dir));
        let from_root = || {
            self.roots.iter().find_map(|root| {
                let mut parts: Vec<String> = root
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .into_iter()
                    .collect();
                parts.extend(relative_names(&folder, root)?);
                Some(parts)
            })
        };
        from_current_dir
            .or_else(from_root)
            .unwrap_or_else(|| folder_names(&folder))
    }
}

/// Returns `path` joined to `current_dir` when it is relative, with
/// symbolic links, `.` and `..` resolved by the file system. A path that
/// does not exist has `.` and `..` resolved by their names instead.
fn resolved(path: &Path, current_dir: Option<&Path>) -> PathBuf {
    let joined = match current_dir {
        Some(current_dir) if path.is_relative() => current_dir.join(path),
        _ => path.to_owned(),
    };
    if let Ok(real) = std::fs::canonicalize(&joined) {
        return real;
    }
    let mut normal = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Returns the folder names that lead from `base` to `folder`, or `None`
/// when `folder` is not under `base`, neither as written nor with
/// symbolic links resolved.
fn relative_names(folder: &Path, base: &Path) -> Option<Vec<String>> {
    if let Ok(rest) = folder.strip_prefix(base) {
        return Some(folder_names(rest));
    }
    let folder = std::fs::canonicalize(folder).ok()?;
    let base = std::fs::canonicalize(base).ok()?;
    folder.strip_prefix(&base).ok().map(folder_names)
}

/// Returns the names of the folders in `path`, without its root.
fn folder_names(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|part| match part {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// Renders every failure with expected and actual values, the timeline and the
/// replay command, as plain text.
pub(crate) fn details(result: &ScenarioResult) -> String {
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
                self.cases.push((*index, test_case(result, &self.names)))
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
                let mut case = TestCase::new(self.names.case_of(path), status);
                case.set_classname(self.names.class_of(path));
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
                let mut case = TestCase::new(self.names.case_of(path), status);
                case.set_classname(self.names.class_of(path));
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

    /// Returns the class of `path` in a run in /work/shop given `roots`.
    fn class_in_shop(path: &str, roots: &[&str]) -> String {
        let roots: Vec<PathBuf> = roots.iter().map(PathBuf::from).collect();
        let names = CaseNames::with_current_dir(Some(PathBuf::from("/work/shop")), &roots);
        names.class_of(Path::new(path))
    }

    #[test]
    fn characters_xml_refuses_are_replaced() {
        assert_eq!(
            xml_text("a\u{FFFE}b\u{FFFF}c\u{1}d\te\u{10000}".to_owned()),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\te\u{10000}"
        );
        assert_eq!(xml_text("plain <x/>".to_owned()), "plain <x/>");
    }

    #[test]
    fn class_name_under_current_dir() {
        let class = class_in_shop("/work/shop/scenarios/api-errors/rate-limited.yaml", &[]);
        assert_eq!(class, "scenarios.api-errors");
    }

    #[test]
    fn class_name_spellings_agree() {
        let spellings = [
            "scenarios/api-errors/rate-limited.yaml",
            "./scenarios/api-errors/rate-limited.yaml",
            "/work/shop/scenarios/api-errors/rate-limited.yaml",
            "/work/shop/./scenarios/../scenarios/api-errors/rate-limited.yaml",
            "../shop/scenarios/api-errors/rate-limited.yaml",
        ];
        for path in spellings {
            let class = class_in_shop(path, &[]);
            assert_eq!(class, "scenarios.api-errors", "{path}");
        }
    }

    #[test]
    fn class_name_outside_current_dir() {
        let class = class_in_shop("/srv/ci/scenarios/api-errors/rate-limited.yaml", &[]);
        assert_eq!(class, "srv.ci.scenarios.api-errors");
    }

    #[test]
    fn class_name_from_given_folder() {
        let cases = [
            ("/srv/ci/scenarios/api-errors/a.yaml", "/srv/ci/scenarios"),
            (
                "../../srv/ci/scenarios/api-errors/a.yaml",
                "../../srv/ci/scenarios",
            ),
            (
                "/srv/ci/scenarios/api-errors/a.yaml",
                "../../srv/ci/scenarios",
            ),
        ];
        for (path, root) in cases {
            let class = class_in_shop(path, &[root]);
            assert_eq!(class, "scenarios.api-errors", "{path} under {root}");
        }
    }

    #[test]
    fn class_name_from_outer_given_folder() {
        let roots = ["/srv/ci/scenarios/api-errors", "/srv/ci/scenarios"];
        let class = class_in_shop("/srv/ci/scenarios/api-errors/a.yaml", &roots);
        assert_eq!(class, "scenarios.api-errors");
    }

    #[test]
    fn class_name_of_sibling_folder() {
        // A shared prefix of characters is not a parent folder.
        let class = class_in_shop("/work/shop-old/scenarios/card.yaml", &[]);
        assert_eq!(class, "work.shop-old.scenarios");
    }

    #[test]
    fn class_name_of_file_in_current_dir() {
        let class = class_in_shop("/work/shop/card.yaml", &[]);
        assert_eq!(class, "scenarios");
    }
}
