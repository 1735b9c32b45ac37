//! `fakestripe fuzz`: explores the orders, duplicates, losses and delays in
//! which Stripe may deliver one checkout's events, and where the browser's
//! return falls among them, against the real app. The first schedule that
//! breaks a reconciliation invariant is shrunk to the smallest one that
//! still breaks it the same way, and written as a scenario file that
//! `fakestripe run` replays.
//!
//! - [`flow`]: the customer's side of each checkout flow, and the probe
//!   that finds the events a flow creates.
//! - [`schedule`]: the actions of a schedule, their proptest strategy, and
//!   their rendering as a scenario file.
//! - [`explore`]: the loop that generates, runs and shrinks cases.
//! - [`report`]: the `--junit` and `--json` reports of a run.

pub mod explore;
pub mod flow;
pub mod report;
pub mod schedule;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

pub use explore::{FuzzError, FuzzOptions, FuzzOutcome, Progress, Stop, Tags, check_out, fuzz};
pub use flow::Flow;
pub use report::ReportFiles;
pub use schedule::MAX_ACTIONS;

use crate::cli::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_START, EXIT_USAGE};
use crate::output::{errln, outln};
use crate::report::events::Event;
use crate::report::terminal::TerminalReporter;
use crate::report::{
    InputFile, Reporter, check_env_file, check_report_paths, same_file, written_reports,
};
use crate::scenario::values::{format_seconds, parse_duration};
use crate::signals::{StopSignal, StopSignals};

/// Exit codes of `fakestripe fuzz`, for its help text.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    every case passed
  1    a case failed (the shrunk schedule is written to --out), or a case
       could not run
  2    invalid usage, an invalid fakestripe.yaml, or an --out, --junit or
       --json file that names an input or another output, or cannot be
       written (checked before the first case; a shrunk schedule that
       cannot be written then is printed instead)
  3    the app or the fake could not be started or reached, no flow runs
       against the app, or the app exited during the run
  130  interrupted by Ctrl-C, SIGTERM or SIGHUP";

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// The app's fakestripe.yaml.
    #[arg(long, default_value = "fakestripe.yaml")]
    pub app: PathBuf,
    /// Checkout flows to explore, separated by commas or given more than
    /// once; cases take the flows in turn. Default: every flow.
    #[arg(long = "flow", value_enum, value_delimiter = ',')]
    pub flows: Vec<Flow>,
    /// Cases to run when none fails, at least 1.
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 200,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub cases: u32,
    /// Seed of the schedule generator. The same seed, app and fake run the
    /// same cases. Default: a seed drawn from the clock, always printed.
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Real time allowed for shrinking a failure, such as 90s or 5m; then
    /// the smallest schedule found so far is reported.
    #[arg(long, allow_negative_numbers = true, default_value = "2m", value_parser = parse_duration)]
    pub max_shrink_time: u64,
    /// Maximum actions in one generated schedule, from 1 to 100.
    #[arg(long, allow_negative_numbers = true, default_value_t = 8)]
    pub max_actions: usize,
    /// Scenario file for the failing schedule, checked for writing before
    /// the first case. Default: fuzz-failure-SEED.yaml in the current
    /// directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write a JUnit XML report of the run to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write a JSON report of the run to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Use the fake running at this URL instead of starting one.
    /// Default: the FAKESTRIPE_URL environment variable, when set.
    #[arg(long, value_parser = crate::cli::parse_fake_url)]
    pub fake: Option<String>,
    /// Also print the warnings that the fake started by this command
    /// logs, such as a webhook delivery that gave up after its last retry,
    /// on stderr. `RUST_LOG` overrides this.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

pub fn main(mut args: FuzzArgs) -> ExitCode {
    crate::output::init_tracing(crate::output::command_log_filter(args.verbose));
    args.fake = match crate::cli::fake_url_or_env(args.fake.take()) {
        Ok(url) => url,
        Err(code) => return code,
    };
    if args.max_actions == 0 {
        errln!("error: --max-actions must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    if args.max_actions > MAX_ACTIONS {
        errln!(
            "error: --max-actions must be at most {MAX_ACTIONS}, got {}",
            args.max_actions
        );
        return ExitCode::from(EXIT_USAGE);
    }

    let app = match crate::app::config::load(&args.app) {
        Ok(app) => Arc::new(app),
        Err(errors) => {
            for error in errors {
                errln!("error: {error}\n");
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };

    let seed = args.seed.unwrap_or_else(clock_seed);
    let mut flows = if args.flows.is_empty() {
        Flow::ALL.to_vec()
    } else {
        args.flows.clone()
    };
    let mut seen = Vec::new();
    flows.retain(|flow| {
        let first = !seen.contains(flow);
        seen.push(*flow);
        first
    });
    let reasons: Vec<String> = flows
        .iter()
        .filter_map(|flow| {
            let reason = app.unoffered_payment_method_types(&[flow.payment_method()])?;
            Some(format!("  {flow}: {reason}"))
        })
        .collect();
    if reasons.len() == flows.len() {
        errln!(
            "error: no flow runs against the app:\n{}",
            reasons.join("\n")
        );
        return ExitCode::from(EXIT_START);
    }
    let options = FuzzOptions {
        flows,
        cases: args.cases,
        seed,
        max_actions: args.max_actions,
        max_shrink_time: Duration::from_secs(args.max_shrink_time),
        out: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("fuzz-failure-{seed}.yaml"))),
        app_arg: args.app.display().to_string(),
        fake_url: args.fake.clone(),
    };
    // A failure can take minutes to find and shrink, so a file that cannot
    // be written is reported before the first case.
    if let Err(err) = check_out(&options.out) {
        errln!("error: {err}. Give --out a path in an existing, writable folder.");
        return ExitCode::from(EXIT_USAGE);
    }
    let reports = ReportFiles {
        junit: args.junit.clone(),
        json: args.json.clone(),
    };
    if let Err(err) = check_reports(&reports, &options.out, &args.app) {
        errln!("error: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut written = written_reports(reports.junit.as_deref(), reports.json.as_deref());
    written.push(InputFile {
        path: &options.out,
        role: "the file that --out names for the shrunk scenario",
    });
    if let Err(err) = check_env_file(&app, &written) {
        errln!("error: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    outln!("fakestripe fuzz: seed {seed}");

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            errln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_START);
        }
    };
    runtime.block_on(run(app, options, reports))
}

/// Checks the output files before the first case: none is the app file,
/// the reports differ from each other and from the `--out` scenario file,
/// and each can be written.
fn check_reports(reports: &ReportFiles, out: &Path, app: &Path) -> Result<(), String> {
    if same_file(out, app) {
        return Err(format!(
            "--out names {}, the app file given with --app; give the shrunk scenario its own file, such as fuzz-failure.yaml",
            out.display()
        ));
    }
    let inputs = [
        InputFile {
            path: app,
            role: "the app file given with --app",
        },
        InputFile {
            path: out,
            role: "the file that --out names for the shrunk scenario",
        },
    ];
    check_report_paths(reports.junit.as_deref(), reports.json.as_deref(), &inputs)
}

async fn run(
    app: Arc<crate::app::AppConfig>,
    options: FuzzOptions,
    reports: ReportFiles,
) -> ExitCode {
    let name = app.name.clone();
    outln!(
        "Fuzzing {name}: {} over the flows {}, at most {} actions each",
        count_cases(options.cases),
        options
            .flows
            .iter()
            .filter(|f| {
                app.unoffered_payment_method_types(&[f.payment_method()])
                    .is_none()
            })
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", "),
        options.max_actions
    );

    let mut signals = match StopSignals::listen() {
        Ok(signals) => signals,
        Err(err) => {
            errln!("error: cannot install the handlers of SIGINT, SIGTERM and SIGHUP: {err}");
            return ExitCode::from(EXIT_START);
        }
    };
    let stop = Arc::new(Stop::new());
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let signal = signals.recv().await;
            // While the app starts or the flows are probed, no case runs
            // that could finish, so every signal stops at once.
            if !stop.cases_begun() {
                errln!(
                    "\ninterrupted by {} before the first case; stopping",
                    signal.name()
                );
                stop.now();
                return;
            }
            stop.after_case();
            // SIGTERM and SIGHUP stop at once, because a process manager
            // that sends SIGTERM may send SIGKILL soon after, and that would
            // leave the app running.
            let signal = if signal == StopSignal::Interrupt {
                errln!(
                    "\ninterrupted; finishing the running case (press Ctrl-C again to stop now)"
                );
                signals.recv().await
            } else {
                signal
            };
            errln!(
                "\nstopping on {} without finishing the running case",
                signal.name()
            );
            stop.now();
        });
    }

    let mut printer = Printer::new(options.cases);
    let mut report = |event: Progress<'_>| printer.progress(event);
    // After a stop at once, `fuzz` stops the app and the fake, and returns
    // the cases that finished and a failure shrunk as far as it got.
    let outcome = fuzz(app, &options, &mut report, &stop).await;
    printer.clear();
    // A run that ended before its first case, for want of an app, a fake
    // or a flow, or on a stop request, writes no report, as `fakestripe
    // run` does.
    let stopped_before_cases =
        !stop.cases_begun() && outcome.as_ref().is_ok_and(|outcome| outcome.interrupted);
    let ran = !matches!(outcome, Err(FuzzError::Start(_) | FuzzError::NoFlow(_)))
        && !stopped_before_cases;
    let reports_written = if ran {
        reports.write(&name, &options, outcome.as_ref())
    } else {
        Ok(())
    };
    let code = match outcome {
        Ok(outcome) => report_outcome(&outcome, &options),
        Err(err) => {
            errln!("error: {err}");
            match err {
                FuzzError::Start(_) | FuzzError::NoFlow(_) => ExitCode::from(EXIT_START),
                FuzzError::Write { .. } => ExitCode::from(EXIT_USAGE),
                FuzzError::CaseNotRun { .. } | FuzzError::Internal(_) => {
                    ExitCode::from(EXIT_FAILED)
                }
            }
        }
    };
    outln!("seed {}", options.seed);
    if let Err(err) = reports_written {
        errln!("error: cannot write a report: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    code
}

/// Prints the outcome and returns the exit code.
fn report_outcome(outcome: &FuzzOutcome, options: &FuzzOptions) -> ExitCode {
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let seconds = outcome.cases_duration.as_secs_f64();
    let rate = if seconds > 0.0 {
        f64::from(outcome.cases_run) / seconds
    } else {
        0.0
    };
    let Some(found) = &outcome.failure else {
        let word = if outcome.interrupted || outcome.cut_short().is_some() {
            "STOPPED"
        } else {
            "PASS"
        };
        let exited = if outcome.app_exit.is_some() {
            ", then the app exited"
        } else if outcome.fake_lost.is_some() {
            ", then the fake stopped responding"
        } else {
            ""
        };
        outln!(
            "{word} {} of {} cases passed in {seconds:.1}s ({rate:.1} cases/s){exited}",
            outcome.cases_run,
            options.cases
        );
        if let Some(case) = outcome.stopped_case {
            outln!("Case {case} was stopped before it finished.");
        }
        return finish(outcome, ExitCode::SUCCESS);
    };
    outln!(
        "FAIL case {} of the {} flow broke {} after {} ({seconds:.1}s, {rate:.1} cases/s)",
        found.case,
        found.flow,
        found.failure,
        count_cases(outcome.cases_run)
    );
    let shrink_runs = format!(
        "{} in {:.1}s",
        plural(found.shrink_runs, "shrink run", "shrink runs"),
        found.shrink_time.as_secs_f64()
    );
    if found.minimal.effective.is_empty() {
        outln!(
            "Smallest schedule: none of the {} actions ({shrink_runs}). The failure needs no reordering: the app fails on the plain flow, with the events delivered in the order the fake created them:",
            found.original.effective.len(),
        );
    } else {
        outln!(
            "Smallest schedule: {} of {} actions, {} ({shrink_runs}):",
            found.minimal.effective.len(),
            found.original.effective.len(),
            plural(found.minimal.deliveries, "delivery", "deliveries"),
        );
    }
    print_schedule(found);

    let mut out = crate::output::stdout();
    let mut reporter = TerminalReporter::new(&mut out, color, false);
    let event = Event::ScenarioFinished {
        index: 0,
        result: Arc::new(found.result.clone()),
    };
    if let Err(err) = reporter.event(&event) {
        errln!("error: cannot write the report: {err}");
    }
    let _ = out.flush();
    let replay = match found.replayed {
        Some(true) => "; running it again failed the same way",
        Some(false) => {
            "; running it again did not fail the same way, so the failure depends on timing as well as on the schedule"
        }
        None if outcome.app_exit.is_some() => {
            "; it did not run again to the end, because the app exited"
        }
        None if outcome.fake_lost.is_some() => {
            "; it did not run again to the end, because the fake stopped responding"
        }
        None => "; the run was stopped before running it again",
    };
    if let Some(err) = &found.write_error {
        // The scenario goes to stdout instead, so the shrunk schedule is
        // not lost.
        errln!("error: cannot write {}: {err}", found.path.display());
        outln!(
            "Could not write {}{replay}. The scenario file:",
            found.path.display()
        );
        outln!("{}", found.minimal.text.trim_end());
    } else {
        outln!("Wrote {}{replay}.", found.path.display());
    }
    if found.shrink_stopped {
        outln!("Shrinking was stopped, so a smaller schedule may still fail the same way.");
    }
    if found.write_error.is_some() {
        finish(outcome, ExitCode::from(EXIT_USAGE))
    } else {
        finish(outcome, ExitCode::from(EXIT_FAILED))
    }
}

/// Prints how the app exited or why the fake stopped responding, if either
/// happened during the run. Returns the exit code: 130 after a stop
/// request, 3 after the app exited or the fake stopped, and `otherwise`
/// when none of these happened.
fn finish(outcome: &FuzzOutcome, otherwise: ExitCode) -> ExitCode {
    if let Some(message) = outcome.cut_short() {
        errln!("error: {message}");
    }
    if outcome.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if outcome.cut_short().is_some() {
        ExitCode::from(EXIT_START)
    } else {
        otherwise
    }
}

fn print_schedule(found: &explore::Found) {
    let customer: Vec<String> = found.flow.customer_steps();
    outln!(
        "  with every event held, the customer: {}",
        customer.join("; ")
    );
    for (index, line) in found.minimal.lines.iter().enumerate() {
        outln!("  {}. {line}", index + 1);
    }
    let release = if found.minimal.releases_at_end {
        "the events still held are delivered in the order the fake created them, "
    } else {
        ""
    };
    outln!(
        "  then {release}the faults end and the clock settles ({})",
        format_seconds(crate::scenario::load::DEFAULT_SETTLE_SECONDS)
    );
}

fn plural(count: u32, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// Prints progress: flows as they are probed, a progress line on stderr
/// when it is a terminal, and the schedule that failed.
struct Printer {
    total: u32,
    terminal: bool,
    drawn: bool,
    smallest: Option<usize>,
}

impl Printer {
    fn new(total: u32) -> Printer {
        Printer {
            total,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
            smallest: None,
        }
    }

    fn clear(&mut self) {
        if self.drawn {
            let _ = write!(crate::output::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }

    fn draw(&mut self, text: &str) {
        if self.terminal {
            let mut stderr = crate::output::stderr();
            let _ = write!(stderr, "\r\x1b[2K{text}");
            let _ = stderr.flush();
            self.drawn = true;
        }
    }

    fn progress(&mut self, event: Progress<'_>) {
        match event {
            Progress::FlowReady(flow) => {
                outln!("  {}: {}", flow.flow, flow.types.join(", "));
            }
            Progress::FlowSkipped { flow, reason } => {
                self.clear();
                errln!("warning: the {flow} flow is left out: {reason}");
            }
            Progress::FlowNotOffered { flow, reason } => {
                outln!("  {flow}: left out, because it {reason}");
            }
            Progress::CaseFinished { case, flow, .. } => {
                let width = 30;
                let filled = (width * case as usize) / self.total.max(1) as usize;
                let bar = format!(
                    "[{}{}] {case}/{} {flow}",
                    "=".repeat(filled),
                    " ".repeat(width - filled.min(width)),
                    self.total
                );
                self.draw(&bar);
            }
            Progress::Shrinking {
                case,
                flow,
                failure,
                schedule,
            } => {
                self.clear();
                outln!(
                    "Case {case} of the {flow} flow broke {failure} with {}:",
                    plural(schedule.effective.len() as u32, "action", "actions")
                );
                for (index, line) in schedule.lines.iter().enumerate() {
                    outln!("  {}. {line}", index + 1);
                }
                outln!("Shrinking…");
                self.smallest = Some(schedule.effective.len());
            }
            Progress::ShrinkRun {
                runs,
                actions,
                reproduced,
            } => {
                if reproduced {
                    self.smallest = Some(self.smallest.map_or(actions, |s| s.min(actions)));
                }
                let smallest = self.smallest.unwrap_or(actions);
                self.draw(&format!(
                    "shrinking: {runs} runs, smallest failing schedule {smallest} actions"
                ));
            }
            Progress::Warning(text) => {
                self.clear();
                errln!("warning: {text}");
            }
        }
    }
}

/// Returns "1 case" or "N cases".
fn count_cases(count: impl Into<u64>) -> String {
    match count.into() {
        1 => "1 case".to_owned(),
        count => format!("{count} cases"),
    }
}

/// Draws a seed from the clock, for runs without `--seed`. Small numbers
/// are easier to type back in.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    explore::mix(nanos) % 1_000_000
}
