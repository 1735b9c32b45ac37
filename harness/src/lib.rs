//! The `fakestripe` harness: the command line, the scenario runner and the
//! fuzzer. The fake server itself lives in the `fakestripe-server` crate.
//!
//! The modules follow a scenario through a run:
//!
//! - [`scenario`]: scenario files, their checks and their JSON Schema.
//! - [`app`]: fakestripe.yaml, starting and stopping the app, and the
//!   requests the harness sends it.
//! - [`runner`]: the steps against the fake and the app, and what they
//!   leave behind.
//! - [`invariants`]: the reconciliation checks made after every scenario.
//! - [`report`]: the terminal, JUnit, JSON and GitHub outputs.
//! - [`fuzz`]: `fakestripe fuzz`, which generates and shrinks schedules of
//!   webhook deliveries and writes a failing one as a scenario file.
//! - [`output`]: stdout and stderr writers that stop quietly at a closed
//!   pipe.
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP, which stop `run` and `fuzz`.
//!
//! # Scenario files as `cargo test` tests
//!
//! ```no_run
//! #[test]
//! fn redirect_before_webhook() {
//!     fakestripe::run_scenario_file(
//!         "examples/shop-rust/fakestripe.yaml",
//!         "scenarios/redirect-before-webhook.yaml",
//!     )
//!     .unwrap();
//! }
//! ```
//!
//! The error's `Debug` output is the terminal report of the failure, so an
//! `unwrap` prints expected against actual, the timeline and the replay
//! command. [`scenario_tests!`] declares one such test per file.

pub mod app;
pub mod cli;
pub mod diagnostic;
pub mod fuzz;
pub mod invariants;
pub mod output;
pub mod report;
pub mod run;
pub mod runner;
pub mod scenario;
pub mod serve;
pub mod signals;

use std::path::{Path, PathBuf};

pub use runner::{RunError, RunOptions, RunOutcome, run_files};

/// Returns the folder that contains `path`. A bare file name has the empty
/// path as its parent, which names no folder, so it gets `.` instead.
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The reason [`run_scenario_file`] did not pass.
pub enum ScenarioFailure {
    /// The scenario ran and failed.
    Failed(Box<report::events::ScenarioResult>),
    /// The scenario could not run: an invalid file, or the app or the fake
    /// did not start.
    NotRun(RunError),
}

impl std::fmt::Display for ScenarioFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScenarioFailure::Failed(result) => {
                let mut out = Vec::new();
                let mut reporter = report::terminal::TerminalReporter::new(&mut out, false, false);
                let event = report::events::Event::ScenarioFinished {
                    index: 0,
                    result: std::sync::Arc::new((**result).clone()),
                };
                let _ = report::Reporter::event(&mut reporter, &event);
                f.write_str(String::from_utf8_lossy(&out).trim_end())
            }
            ScenarioFailure::NotRun(err) => write!(f, "{err}"),
        }
    }
}

// `unwrap` and `?` in tests print `Debug`, so it shows the readable report.
impl std::fmt::Debug for ScenarioFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\n{self}")
    }
}

impl std::error::Error for ScenarioFailure {}

/// Runs one scenario file against the app that `app_file` describes:
/// starts the fake and the app, runs the scenario, and stops both. Blocks
/// the calling thread, so it suits a plain `#[test]` function.
pub fn run_scenario_file(
    app_file: impl AsRef<Path>,
    scenario_file: impl AsRef<Path>,
) -> Result<(), ScenarioFailure> {
    let options = RunOptions {
        jobs: 1,
        seed: None,
        fail_fast: false,
        fake_url: None,
        app_arg: app_file.as_ref().display().to_string(),
    };
    let paths: Vec<PathBuf> = vec![scenario_file.as_ref().to_owned()];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            ScenarioFailure::NotRun(RunError::Usage(format!(
                "cannot start the async runtime: {err}"
            )))
        })?;
    let outcome = runtime
        .block_on(run_files(app_file.as_ref(), &paths, options))
        .map_err(ScenarioFailure::NotRun)?;
    match outcome.results.into_iter().next() {
        Some(result) if !result.passed() => {
            Err(ScenarioFailure::Failed(Box::new((*result).clone())))
        }
        Some(_) => Ok(()),
        // A test cannot end as skipped, and passing would hide that the
        // scenario never ran.
        None => {
            let message = match outcome.unsupported.first() {
                Some((path, reason)) => format!("{} did not run: it {reason}", path.display()),
                None => "the scenario did not run".to_owned(),
            };
            Err(ScenarioFailure::NotRun(RunError::Usage(message)))
        }
    }
}

/// Declares one `#[test]` per scenario file, each running the file with
/// [`run_scenario_file`]. Name each test after its file's path.
///
/// ```no_run
/// fakestripe::scenario_tests! {
///     app: "examples/shop-rust/fakestripe.yaml";
///     card_paid: "scenarios/payment-status/card-paid.yaml";
///     completed_delivered_three_times: "scenarios/duplicates-and-retries/completed-delivered-three-times.yaml";
/// }
/// ```
#[macro_export]
macro_rules! scenario_tests {
    (app: $app:expr; $($name:ident: $path:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $crate::run_scenario_file($app, $path).unwrap();
            }
        )*
    };
}
