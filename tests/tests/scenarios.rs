//! The built-in scenario library in `scenarios/` against the reference
//! shops. The correct shop-rust and shop-python pass every scenario, and
//! every `SHOP_BUG` switch of shop-rust makes at least one scenario fail.
//! The bug-switch run also builds the README's table of which scenarios
//! catch which switch, and fails when the table in README.md is out of date.
//!
//! Each run starts the fake in this process and the shop through its
//! fakestripe.yaml (`cargo run` for shop-rust, a venv under `target/` for
//! shop-python, installed from PyPI on first use).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use fakestripe::app::config::{self, AppConfig, Launch};
use fakestripe::report::events::{Event, FailureKind, ScenarioResult};
use fakestripe::runner::{self, RunOptions};
use fakestripe::{ScenarioFailure, run_files};

/// Apps started side by side in one run of the library against a correct
/// shop.
const JOBS: usize = 2;

/// Apps in one bug-switch run. With one, the scenarios run in file order on
/// one account, so the table comes out the same on every run. With more,
/// the order varies, and so does the table: a scenario that fails at a step
/// leaves deliveries due, which reach the app during the next scenario on
/// that account and can fail it too.
const BUG_RUN_JOBS: usize = 1;

/// Bug-switch runs in flight at once.
const CONCURRENT_BUG_RUNS: usize = 4;

/// Minimum number of scenarios in the library.
const MIN_SCENARIOS: usize = 25;

const TABLE_START: &str = "<!-- bug-table:start -->";
const TABLE_END: &str = "<!-- bug-table:end -->";

/// Set to 1 to rewrite the README table instead of failing on a difference.
const UPDATE_ENV: &str = "UPDATE_BUG_TABLE";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the workspace")
        .to_owned()
}

fn library_dir() -> PathBuf {
    workspace_root().join("scenarios")
}

fn shop_rust_app() -> PathBuf {
    workspace_root().join("examples/shop-rust/fakestripe.yaml")
}

fn shop_python_app() -> PathBuf {
    workspace_root().join("examples/shop-python/fakestripe.yaml")
}

fn run_options(app_file: &Path, jobs: usize) -> RunOptions {
    RunOptions {
        jobs,
        seed: None,
        fail_fast: false,
        fake_url: None,
        app_arg: app_file.display().to_string(),
    }
}

/// Returns a scenario file's path inside `scenarios/` without its
/// extension, such as `ordering/late-expiry-after-paid`.
fn library_name(file: &Path) -> String {
    let path = file.strip_prefix(library_dir()).unwrap_or(file);
    path.with_extension("").display().to_string()
}

/// Lists the library's scenario files, in the order the runner uses.
fn library_files() -> Vec<PathBuf> {
    fakestripe::scenario::collect_files(&[library_dir()])
        .unwrap_or_else(|err| panic!("cannot list the library: {err}"))
}

/// Runs the whole library against an app file and fails with the report
/// of every scenario that did not pass.
fn assert_library_passes(app_file: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    let outcome = runtime
        .block_on(run_files(
            app_file,
            &[library_dir()],
            run_options(app_file, JOBS),
        ))
        .unwrap_or_else(|err| {
            panic!(
                "cannot run the library against {}: {err}",
                app_file.display()
            )
        });
    assert_all_passed(&outcome.results, &app_file.display().to_string());
}

/// Fails with the report of every scenario in `results` that did not pass,
/// or when the library looks cut short. `against` names the app.
fn assert_all_passed(results: &[Arc<ScenarioResult>], against: &str) {
    assert!(
        results.len() >= MIN_SCENARIOS,
        "the library has {} scenarios, expected at least {MIN_SCENARIOS}",
        results.len()
    );
    let reports: Vec<String> = results
        .iter()
        .filter(|result| !result.passed())
        .map(|result| ScenarioFailure::Failed(Box::new((**result).clone())).to_string())
        .collect();
    assert!(
        reports.is_empty(),
        "{} of {} scenarios failed against {against}:\n\n{}",
        reports.len(),
        results.len(),
        reports.join("\n\n")
    );
}

#[test]
fn shop_rust_passes_library() {
    assert_library_passes(&shop_rust_app());
}

#[test]
fn shop_python_passes_library() {
    assert_library_passes(&shop_python_app());
}

/// With embedded Checkout the shop's sessions have a `return_url` and no
/// `cancel_url`, so the customer who cancels closes the page and no
/// request reaches the app. The checkout response carries a client secret.
#[test]
fn shop_rust_embedded_passes_library() {
    assert_library_passes_with(&shop_rust_app(), "shop-rust", "SHOP_UI_MODE", "embedded");
}

/// With the SDK's default of two automatic retries, a failed call is sent
/// up to three times. The library's API faults last long enough that a
/// retrying app meets each of them too.
#[test]
fn shop_python_with_sdk_retries_passes_library() {
    assert_library_passes_with(&shop_python_app(), "shop-python", "SHOP_SDK_RETRIES", "2");
}

/// Runs the whole library against `shop`, whose app file is `app_file`,
/// started with `name=value` in its environment, and fails as
/// [`assert_all_passed`] does.
fn assert_library_passes_with(app_file: &Path, shop: &str, name: &str, value: &str) {
    let app = app_with_env(app_file, name, value);
    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    let results = runtime.block_on(run_library(app, app_file, JOBS));
    assert_all_passed(&results, &format!("{shop} with {name}={value}"));
}

/// Lists shop-rust's bug switches with `--list-bugs`, which also builds
/// the shop before the runs start it.
fn list_bugs() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(&cargo)
        .args(["run", "--quiet", "-p", "shop-rust", "--", "--list-bugs"])
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|err| panic!("failed to run {cargo}: {err}"));
    assert!(
        output.status.success(),
        "shop-rust --list-bugs failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let names: Vec<String> = String::from_utf8(output.stdout)
        .expect("shop-rust --list-bugs prints UTF-8")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!names.is_empty(), "shop-rust --list-bugs printed no names");
    names
}

/// Reads the one-line description of each bug switch from
/// `examples/shop-rust/src/bugs.rs`, keyed by switch name. The shop prints
/// only the names, and its source is the one place the descriptions live.
fn bug_descriptions() -> BTreeMap<String, String> {
    let path = workspace_root().join("examples/shop-rust/src/bugs.rs");
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let names = match_arms(&source, "fn name(self)", "fn description(self)", &path);
    let descriptions = match_arms(&source, "fn description(self)", "fn from_name(", &path);
    names
        .into_iter()
        .map(|(variant, name)| {
            let description = descriptions.get(&variant).cloned().unwrap_or_else(|| {
                panic!("{} has no description for Bug::{variant}", path.display())
            });
            (name, description)
        })
        .collect()
}

/// Returns, for each `Bug::Variant => "text"` arm between the two markers,
/// the variant and its string literal.
fn match_arms(source: &str, from: &str, to: &str, path: &Path) -> BTreeMap<String, String> {
    let start = source
        .find(from)
        .unwrap_or_else(|| panic!("{} has no `{from}`", path.display()));
    let end = source[start..]
        .find(to)
        .map(|offset| start + offset)
        .unwrap_or_else(|| panic!("{} has no `{to}` after `{from}`", path.display()));
    let mut arms = BTreeMap::new();
    for arm in source[start..end].split("Bug::").skip(1) {
        let Some((variant, body)) = arm.split_once("=>") else {
            continue;
        };
        if let Some(text) = first_string_literal(body) {
            arms.insert(variant.trim().to_owned(), text);
        }
    }
    assert!(
        !arms.is_empty(),
        "{} has no match arms in `{from}`",
        path.display()
    );
    arms
}

/// Returns the value of the first string literal in `code`, with Rust's
/// line continuations (a backslash, the line break and the next line's
/// indentation) removed and `\n`, `\"` and `\\` unescaped.
fn first_string_literal(code: &str) -> Option<String> {
    let open = code.find('"')?;
    let mut text = String::new();
    let mut chars = code[open + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(text),
            '\\' => match chars.next()? {
                '\n' => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                'n' => text.push('\n'),
                other => text.push(other),
            },
            _ => text.push(c),
        }
    }
    None
}

fn join_errors(errors: &[fakestripe::diagnostic::FileError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// What one run of the library with a bug switch on left behind.
struct BugRun {
    /// Scenarios that failed a step or an invariant.
    caught: Vec<String>,
    /// Reports of scenarios that failed only because the harness could not
    /// do its own work, so they do not show whether the bug is caught.
    harness_errors: Vec<String>,
}

/// Loads an app file and adds `name=value` to the environment the harness
/// starts the app with.
fn app_with_env(app_file: &Path, name: &str, value: &str) -> AppConfig {
    let mut app: AppConfig = config::load(app_file)
        .unwrap_or_else(|errors| panic!("invalid app file:\n{}", join_errors(&errors)));
    match &mut app.launch {
        Launch::Start(start) => {
            start.env.insert(name.to_owned(), value.to_owned());
        }
        Launch::Running { .. } => panic!(
            "{} names a running app, but setting {name} needs an app the harness starts",
            app_file.display()
        ),
    }
    app
}

/// Runs the whole library against `app`, started with `jobs` copies, and
/// returns the result of each scenario that finished.
async fn run_library(app: AppConfig, app_file: &Path, jobs: usize) -> Vec<Arc<ScenarioResult>> {
    let scenarios: Vec<_> = library_files()
        .iter()
        .map(|file| {
            fakestripe::scenario::load_file(file)
                .unwrap_or_else(|errors| panic!("invalid scenario file:\n{}", join_errors(&errors)))
        })
        .collect();

    let options = run_options(app_file, jobs);
    let started = runner::start(Arc::new(app), &options, jobs)
        .await
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", app_file.display()));
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let progress = runner::Progress::new(&started, Arc::new(scenarios), &options, events);
    runner::run(&started, progress, options.seed).await;
    started.stop().await;

    let mut results = Vec::new();
    while let Ok(event) = received.try_recv() {
        if let Event::ScenarioFinished { result, .. } = event {
            results.push(result);
        }
    }
    results
}

/// Runs the library against shop-rust with `SHOP_BUG=bug`.
async fn run_with_bug(bug: String) -> (String, BugRun) {
    let app_file = shop_rust_app();
    let app = app_with_env(&app_file, "SHOP_BUG", &bug);
    let results = run_library(app, &app_file, BUG_RUN_JOBS).await;

    let mut run = BugRun {
        caught: Vec::new(),
        harness_errors: Vec::new(),
    };
    for result in results {
        let app_failed = result
            .failures
            .iter()
            .any(|failure| !matches!(failure.kind, FailureKind::Harness));
        if app_failed {
            run.caught.push(library_name(&result.path));
        } else if !result.passed() {
            run.harness_errors
                .push(ScenarioFailure::Failed(Box::new((*result).clone())).to_string());
        }
    }
    run.caught.sort();
    (bug, run)
}

/// Builds the markdown table: one row per bug switch, with the scenarios
/// that catch it. A switch caught by more than half of `library` is shown
/// as "all except" the scenarios that miss it, which is the shorter list.
fn bug_table(
    bugs: &[String],
    descriptions: &BTreeMap<String, String>,
    caught: &BTreeMap<String, Vec<String>>,
    library: &[String],
) -> String {
    let mut table = String::from("| bug | what it does | scenarios that catch it |\n");
    table.push_str("| --- | --- | --- |\n");
    for bug in bugs {
        let description = descriptions
            .get(bug)
            .map_or("(no description)", String::as_str)
            .replace('|', "\\|");
        let catching: Vec<&String> = caught
            .get(bug)
            .map(|scenarios| scenarios.iter().collect())
            .unwrap_or_default();
        let cell = if catching.len() * 2 > library.len() {
            let missing: Vec<&String> = library
                .iter()
                .filter(|scenario| !catching.contains(scenario))
                .collect();
            if missing.is_empty() {
                format!("all {}", library.len())
            } else {
                format!("all {} except {}", library.len(), code_list(&missing))
            }
        } else {
            code_list(&catching)
        };
        table.push_str(&format!("| `{bug}` | {description} | {cell} |\n"));
    }
    table
}

fn code_list(scenarios: &[&String]) -> String {
    let items: Vec<String> = scenarios
        .iter()
        .map(|scenario| format!("`{scenario}`"))
        .collect();
    items.join(", ")
}

/// Returns the text between the README's table markers, and the byte
/// range it occupies.
fn readme_table(readme: &str) -> (String, std::ops::Range<usize>) {
    let start = readme
        .find(TABLE_START)
        .unwrap_or_else(|| panic!("README.md has no `{TABLE_START}` marker"))
        + TABLE_START.len();
    let end = readme[start..]
        .find(TABLE_END)
        .map(|offset| start + offset)
        .unwrap_or_else(|| panic!("README.md has no `{TABLE_END}` after `{TABLE_START}`"));
    (readme[start..end].trim().to_owned(), start..end)
}

#[test]
fn every_bug_switch_caught() {
    let bugs = list_bugs();
    let descriptions = bug_descriptions();
    let undescribed: Vec<&String> = bugs
        .iter()
        .filter(|bug| !descriptions.contains_key(*bug))
        .collect();
    assert!(
        undescribed.is_empty(),
        "bugs.rs has no description for these switches: {undescribed:?}"
    );

    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    let runs: BTreeMap<String, BugRun> = runtime.block_on(async {
        let mut pending = bugs.clone().into_iter();
        let mut running = tokio::task::JoinSet::new();
        let mut finished = BTreeMap::new();
        loop {
            while running.len() < CONCURRENT_BUG_RUNS {
                let Some(bug) = pending.next() else { break };
                running.spawn(run_with_bug(bug));
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (bug, run) =
                joined.unwrap_or_else(|err| panic!("a bug-switch run panicked: {err}"));
            finished.insert(bug, run);
        }
        finished
    });

    let harness_errors: Vec<String> = runs
        .iter()
        .flat_map(|(bug, run)| {
            run.harness_errors
                .iter()
                .map(move |report| format!("with SHOP_BUG={bug}:\n{report}"))
        })
        .collect();
    assert!(
        harness_errors.is_empty(),
        "the harness failed to run some scenarios, so their results do not show whether the bug is caught:\n\n{}",
        harness_errors.join("\n\n")
    );

    let uncaught: Vec<&String> = bugs
        .iter()
        .filter(|bug| runs[*bug].caught.is_empty())
        .collect();
    assert!(
        uncaught.is_empty(),
        "no scenario in scenarios/ fails with these bug switches on: {uncaught:?}"
    );

    let caught: BTreeMap<String, Vec<String>> = runs
        .into_iter()
        .map(|(bug, run)| (bug, run.caught))
        .collect();
    let library: Vec<String> = library_files()
        .iter()
        .map(|file| library_name(file))
        .collect();
    let table = bug_table(&bugs, &descriptions, &caught, &library);
    let readme_path = workspace_root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", readme_path.display()));
    let (current, range) = readme_table(&readme);
    if current == table.trim() {
        return;
    }
    if std::env::var(UPDATE_ENV).is_ok_and(|value| value == "1") {
        let mut updated = readme.clone();
        updated.replace_range(range, &format!("\n{table}"));
        std::fs::write(&readme_path, updated)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", readme_path.display()));
        return;
    }
    panic!(
        "the bug table in README.md is out of date. Paste this between {TABLE_START} and \
         {TABLE_END}, or run this test again with {UPDATE_ENV}=1 to rewrite it:\n\n{table}"
    );
}
