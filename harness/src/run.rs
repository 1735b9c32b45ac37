//! `fakestripe run`: read the scenario files and fakestripe.yaml, start
//! the fake and the app, run, report, stop everything, and exit with a
//! code that reports the outcome.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::cli::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NO_MATCH, EXIT_START, EXIT_USAGE};
use crate::output::errln;
use crate::report::github::{GithubReporter, in_github_actions};
use crate::report::json::JsonReporter;
use crate::report::junit::{CaseNames, JunitReporter};
use crate::report::terminal::TerminalReporter;
use crate::report::{
    InputFile, Reporters, check_env_file, check_report_paths, events::Event, written_reports,
};
use crate::runner::{self, RunOptions};
use crate::scenario::{Scenario, collect_files, load_file};
use crate::signals::{StopSignal, StopSignals};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files, or directories searched for .yaml, .yml and .json
    /// files. Default: ./scenarios.
    pub paths: Vec<PathBuf>,
    /// The app's fakestripe.yaml.
    #[arg(long, default_value = "fakestripe.yaml")]
    pub app: PathBuf,
    /// Apps started side by side; each runs its share of the scenarios one
    /// after another, on its own account in the fake.
    #[arg(long, allow_negative_numbers = true, short = 'j', default_value_t = 1)]
    pub jobs: usize,
    /// Run only the scenarios whose name or path contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Leave out the scenarios whose name or path contains this text. May
    /// be given more than once, and applies after --filter.
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Fault-plan seed for every scenario, in place of each file's `seed`.
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Start no scenario after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Also write a JUnit XML report to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write a JSON report to this file.
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

/// The folder searched for scenarios when the command names no path.
const DEFAULT_SCENARIOS: &str = "scenarios";

/// Describes a run without scenario paths in a working folder that has no
/// `scenarios` folder, with the two ways to name the scenarios.
fn missing_default_folder() -> String {
    let working_folder = std::env::current_dir()
        .map(|dir| dir.display().to_string())
        .unwrap_or_else(|_| "the current folder".to_owned());
    format!(
        "no scenario paths given, and the default ./{DEFAULT_SCENARIOS} does not exist in {working_folder}; \
         pass scenario files or folders of them, as in `fakestripe run path/to/scenarios --app \
         fakestripe.yaml`, or run from the folder that holds `{DEFAULT_SCENARIOS}/`"
    )
}

pub fn main(mut args: RunArgs) -> ExitCode {
    crate::output::init_tracing(crate::output::command_log_filter(args.verbose));
    args.fake = match crate::cli::fake_url_or_env(args.fake.take()) {
        Ok(url) => url,
        Err(code) => return code,
    };
    if args.jobs == 0 {
        errln!("error: --jobs must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    let paths = if args.paths.is_empty() {
        let default = PathBuf::from(DEFAULT_SCENARIOS);
        if let Err(err) = std::fs::metadata(&default)
            && err.kind() == std::io::ErrorKind::NotFound
        {
            errln!("error: {}", missing_default_folder());
            return ExitCode::from(EXIT_USAGE);
        }
        vec![default]
    } else {
        args.paths.clone()
    };
    let app_file = std::fs::canonicalize(&args.app).ok();
    let named_app_file = paths.iter().find(|path| {
        app_file.is_some() && path.is_file() && std::fs::canonicalize(path).ok() == app_file
    });
    if let Some(path) = named_app_file {
        errln!(
            "error: {} is the app file given with --app, not a scenario; give scenario files or folders of them, such as scenarios/",
            path.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let files = match collect_files(&paths) {
        Ok(files) => files,
        Err(err) => {
            errln!("error: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // A folder searched for scenarios may hold the app file too.
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|file| app_file.is_none() || std::fs::canonicalize(file).ok() != app_file)
        .collect();
    // A report that named the app file or a scenario file would replace
    // it when the run ends.
    let mut inputs = vec![InputFile {
        path: &args.app,
        role: "the app file given with --app",
    }];
    inputs.extend(files.iter().map(|file| InputFile {
        path: file,
        role: "a scenario file of the run",
    }));
    if let Err(err) = check_report_paths(args.junit.as_deref(), args.json.as_deref(), &inputs) {
        errln!("error: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut invalid = 0;
    for file in &files {
        match load_file(file) {
            Ok(scenario) => scenarios.push(scenario),
            Err(errors) => {
                invalid += 1;
                for error in errors {
                    errln!("error: {error}\n");
                }
            }
        }
    }
    if invalid > 0 {
        errln!(
            "error: {invalid} invalid scenario file{}",
            if invalid == 1 { "" } else { "s" }
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let found = scenarios.len();
    if let Some(filter) = &args.filter {
        scenarios.retain(|s| matches_text(s, filter));
    }
    let matched = scenarios.len();
    scenarios.retain(|s| !args.exclude.iter().any(|text| matches_text(s, text)));
    if scenarios.is_empty() {
        let searched: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let searched = searched.join(", ");
        if found == 0 {
            errln!("error: no scenario file (.yaml, .yml, .json) in {searched}");
        } else if matched == 0 {
            let filter = args.filter.as_deref().unwrap_or_default();
            errln!("error: no scenario in {searched} matches --filter {filter}");
        } else {
            let selected = if args.filter.is_some() {
                " that --filter selects"
            } else {
                ""
            };
            errln!("error: --exclude leaves out every scenario in {searched}{selected}");
        }
        return ExitCode::from(EXIT_NO_MATCH);
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
    // The app file, the first input, is checked against `env_file` when it
    // loads, so only the scenario files and reports are left.
    let mut written = written_reports(args.junit.as_deref(), args.json.as_deref());
    written.extend(inputs.iter().skip(1).map(|file| InputFile {
        path: file.path,
        role: file.role,
    }));
    if let Err(err) = check_env_file(&app, &written) {
        errln!("error: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    let runnable = scenarios
        .iter()
        .filter(|s| {
            app.unoffered_payment_method_types(&s.payment_method_types())
                .is_none()
        })
        .count();
    if runnable == 0 {
        let offered = app.payment_method_type_names();
        errln!(
            "error: every selected scenario pays with a payment method type that `payment_method_types` in {} does not list ({}), so none can run",
            args.app.display(),
            offered.join(", ")
        );
        return ExitCode::from(EXIT_NO_MATCH);
    }
    let options = RunOptions {
        jobs: args.jobs.min(runnable),
        seed: args.seed,
        fail_fast: args.fail_fast,
        fake_url: args.fake.clone(),
        app_arg: args.app.display().to_string(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            errln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_START);
        }
    };
    let names = CaseNames::new(&paths);
    runtime.block_on(run(app, scenarios, options, &args, names))
}

async fn run(
    app: Arc<crate::app::AppConfig>,
    scenarios: Vec<Scenario>,
    options: RunOptions,
    args: &RunArgs,
    names: CaseNames,
) -> ExitCode {
    let total = scenarios.len();
    let mut signals = match StopSignals::listen() {
        Ok(signals) => signals,
        Err(err) => {
            errln!("error: cannot install the handlers of SIGINT, SIGTERM and SIGHUP: {err}");
            return ExitCode::from(EXIT_START);
        }
    };
    let started = tokio::select! {
        started = runner::start(app, &options, options.jobs) => started,
        signal = signals.recv() => {
            // Dropping the start kills the process group of each app
            // started so far, and stops the fake.
            errln!("interrupted by {} while starting; stopping", signal.name());
            return ExitCode::from(EXIT_INTERRUPTED);
        }
    };
    let started = match started {
        Ok(started) => started,
        Err(err) => {
            errln!("error: {err}");
            return ExitCode::from(EXIT_START);
        }
    };

    let mut reporters = Reporters::default();
    let stdout_tty = std::io::stdout().is_terminal();
    let color = stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let progress = std::io::stderr().is_terminal() && total > 1;
    reporters.push(Box::new(TerminalReporter::new(
        crate::output::stdout(),
        color,
        progress,
    )));
    if let Some(path) = &args.junit {
        reporters.push(Box::new(JunitReporter::new(path.clone(), names)));
    }
    if let Some(path) = &args.json {
        reporters.push(Box::new(JsonReporter::new(path.clone())));
    }
    if in_github_actions() {
        reporters.push(Box::new(GithubReporter::new(crate::output::stdout())));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let reporting = tokio::spawn(async move {
        let mut failed_to_write = None;
        while let Some(event) = rx.recv().await {
            if let Err(err) = reporters.event(&event) {
                failed_to_write.get_or_insert(err);
            }
        }
        failed_to_write
    });

    let progress = runner::Progress::new(&started, Arc::new(scenarios), &options, tx);
    let summary = {
        let running = runner::run(&started, progress.clone(), options.seed);
        tokio::pin!(running);
        // Ends the run without waiting for the running scenarios. The
        // summary counts the scenarios that finished, and lists the
        // running and waiting ones as not run.
        let stop_now = |signal: StopSignal| {
            errln!(
                "\nstopping on {} without finishing the running scenarios",
                signal.name()
            );
            progress.finish()
        };
        tokio::select! {
            summary = &mut running => summary,
            signal = signals.recv() => {
                progress.cancel();
                if signal == StopSignal::Interrupt {
                    // Scenarios that are running finish, so the report
                    // stays whole, and a second signal stops at once.
                    errln!("\ninterrupted; finishing the running scenarios (press Ctrl-C again to stop now)");
                    tokio::select! {
                        summary = &mut running => summary,
                        signal = signals.recv() => stop_now(signal),
                    }
                } else {
                    // SIGTERM and SIGHUP stop at once, because a process
                    // manager that sends SIGTERM may send SIGKILL soon
                    // after, and that would leave the app running.
                    stop_now(signal)
                }
            }
        }
    };
    let app_exits = progress.app_exits();
    // The reporting task ends when every sender is gone: the one in
    // `progress`, and those of the workers, which ended with `running`.
    drop(progress);
    started.stop().await;
    if let Ok(Some(err)) = reporting.await {
        errln!("error: cannot write a report: {err}");
        return ExitCode::from(EXIT_USAGE);
    }
    for message in &app_exits {
        errln!("error: {message}");
    }
    if summary.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if summary.app_exited || summary.fake_lost {
        ExitCode::from(EXIT_START)
    } else if summary.failed > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Returns whether a scenario's name or path contains `text`, the test of
/// `--filter` and `--exclude`.
fn matches_text(scenario: &Scenario, text: &str) -> bool {
    scenario.name.contains(text) || scenario.path.to_string_lossy().contains(text)
}
