//! The boundary between the runner and the reporters: the runner sends one
//! stream of [`Event`]s, and every output format (terminal, JUnit, JSON,
//! GitHub annotations) is built from it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::invariants::Violation;

#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        scenarios: usize,
        jobs: usize,
        fake_url: String,
        app: String,
    },
    ScenarioStarted {
        index: usize,
        path: PathBuf,
        name: String,
    },
    ScenarioFinished {
        index: usize,
        result: Arc<ScenarioResult>,
    },
    /// Not run to the end, because `--fail-fast` stopped the run or it was
    /// interrupted.
    ScenarioSkipped {
        index: usize,
        path: PathBuf,
        name: String,
        /// True when the scenario had started and was stopped before it
        /// finished, false when it never started.
        stopped: bool,
    },
    /// Not run, because it pays with a payment method type that the app
    /// file's `payment_method_types` does not list.
    ScenarioUnsupported {
        index: usize,
        path: PathBuf,
        name: String,
        /// The types it needs and the app does not offer, as a sentence
        /// that follows the scenario's path.
        reason: String,
    },
    RunFinished {
        summary: Summary,
    },
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Scenarios that did not finish: those never started, and those that
    /// a signal stopped while they ran.
    pub skipped: usize,
    /// Scenarios not run because they pay with a payment method type that
    /// the app file's `payment_method_types` does not list.
    pub unsupported: usize,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    pub interrupted: bool,
    /// True when an app the harness started exited during the run, which
    /// stopped the scenarios of its worker.
    pub app_exited: bool,
    /// True when the fake stopped responding during the run, which stopped
    /// every worker.
    pub fake_lost: bool,
    /// Finished scenarios with a warning, passed or failed.
    pub warned: usize,
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// The outcome of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    pub steps_run: usize,
    pub steps_total: usize,
    /// Empty when the scenario passed.
    pub failures: Vec<Failure>,
    /// Violations of invariants the scenario lists under `allow`.
    #[serde(serialize_with = "violations")]
    pub allowed: Vec<Violation>,
    pub timeline: Vec<TimelineLine>,
    /// The app's last output lines, from the span that `app_output_span`
    /// names.
    pub app_output: Vec<String>,
    pub app_output_span: OutputSpan,
    /// Problems that do not fail the scenario by themselves, such as an
    /// app that rejected every webhook delivery.
    pub warnings: Vec<String>,
    /// Likely causes of the warnings and failures that the harness can
    /// tell from the run, such as a webhook path the app does not serve.
    pub hints: Vec<String>,
    /// The command that runs this scenario again with the same seed.
    pub replay: String,
}

/// The part of the run that a result's `app_output` lines come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputSpan {
    /// Since the scenario began, its reset included.
    #[default]
    Scenario,
    /// Before the scenario's reset. Only an app that exited during the
    /// scenario without writing a line since it began gets these.
    BeforeReset,
}

impl ScenarioResult {
    /// Returns the heading above `app_output`, which names its span and
    /// line count, or `None` when there is no output.
    pub fn app_output_heading(&self) -> Option<String> {
        let count = self.app_output.len();
        if count == 0 {
            return None;
        }
        let lines = if count == 1 { "line" } else { "lines" };
        let heading = match self.app_output_span {
            OutputSpan::Scenario => {
                format!("app output during the scenario (last {count} {lines})")
            }
            OutputSpan::BeforeReset => format!(
                "app output from before the scenario's reset (last {count} {lines}); the app wrote none after it"
            ),
        };
        Some(heading)
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

fn violations<S: serde::Serializer>(list: &[Violation], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(list.len()))?;
    for violation in list {
        seq.serialize_element(&serde_json::json!({
            "invariant": violation.invariant.name(),
            "order": violation.order,
            "message": violation.message,
        }))?;
    }
    seq.end()
}

/// What failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureKind {
    /// A step failed: its check did not hold, or its action failed.
    Step {
        /// The step's number, counted from 1 as the terminal report shows it.
        step: usize,
        name: String,
        line: u32,
        column: u32,
    },
    /// A reconciliation invariant does not hold.
    Invariant { name: String },
    /// The harness could not do its own work (reset, fault plan, reads).
    Harness,
}

/// One failure, with expected and actual values where there are some.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    #[serde(flatten)]
    pub kind: FailureKind,
    pub message: String,
    pub mismatches: Vec<Mismatch>,
}

impl Failure {
    /// Returns the line in the scenario file the failure points at, if any.
    pub fn line(&self) -> Option<u32> {
        match self.kind {
            FailureKind::Step { line, .. } => Some(line),
            _ => None,
        }
    }

    /// Returns a one-line title: `step 4 (expect, line 18)` or
    /// `invariant paid_fulfilled_once`.
    pub fn title(&self) -> String {
        match &self.kind {
            FailureKind::Step {
                step, name, line, ..
            } => format!("step {step} ({name}, line {line})"),
            FailureKind::Invariant { name } => format!("invariant {name}"),
            FailureKind::Harness => "harness".to_owned(),
        }
    }
}

/// One checked value that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// The checked value, such as `status` or `HTTP status`.
    pub subject: String,
    pub expected: String,
    pub actual: String,
}

/// One line of a failure's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineLine {
    /// Virtual seconds since the scenario started.
    pub offset: i64,
    /// The actor: `step`, `app`, `harness`, `fake`, `event`, `delivery`,
    /// `fault`, `customer`, `clock`.
    pub actor: String,
    pub text: String,
}
