//! The scenario runner: starts the fake (or connects to one), starts one
//! app per job, runs the scenarios, and sends an [`Event`] for each thing
//! that happens so the reporters can render it.
//!
//! Each job is a worker: one app process with its own secret key, which is
//! its own account in the fake, and its own webhook endpoint. The app is
//! given the key and the endpoint's secret once, at start, so the scenarios
//! of one worker run one after another on that account, and `--jobs N`
//! runs N of them side by side.

pub mod expect;
pub mod fake;
pub mod record;
pub mod scenario;

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use crate::app::{AppClient, AppConfig, AppProcess, Launch, LaunchEnv};
use crate::report::events::{Event, Failure, FailureKind, OutputSpan, ScenarioResult, Summary};
use crate::scenario::Scenario;
use fake::{FakeClient, fresh_key};
pub use scenario::{ReplayArgs, WorkerContext};

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Apps started side by side.
    pub jobs: usize,
    /// A seed for every scenario, in place of each file's own.
    pub seed: Option<u64>,
    /// Stop starting scenarios after the first failure.
    pub fail_fast: bool,
    /// A fake that already runs; without one, the runner starts its own.
    pub fake_url: Option<String>,
    /// The app file's path as the replay command shows it.
    pub app_arg: String,
}

/// The reason a run could not start (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the fake: {0}")]
    Fake(String),
    /// The fake given by `--fake` or `FAKESTRIPE_URL` does not respond.
    #[error(
        "cannot reach the fake at {url}: {reason}. Start it with `fakestripe serve`, or leave out --fake and FAKESTRIPE_URL so that the harness starts one."
    )]
    FakeUnreachable { url: String, reason: String },
    /// The server given by `--fake` or `FAKESTRIPE_URL` responds, but not
    /// as the fake does.
    #[error(
        "the server at {url} does not answer as fakestripe: {reason}. Give the base URL that `fakestripe serve` prints, or leave out --fake and FAKESTRIPE_URL so that the harness starts a fake."
    )]
    NotFake { url: String, reason: String },
    #[error("cannot set up the app's account in the fake: {0}")]
    FakeSetup(String),
    #[error("cannot start the app: {0}")]
    App(String),
    #[error("cannot reach the app: {0}")]
    Unreachable(String),
    /// Another run holds the lock of the app's `env_file`.
    #[error("{0}")]
    EnvFileLocked(String),
}

/// A worker's app and its account.
struct Worker {
    ctx: WorkerContext,
    process: Option<AppProcess>,
    /// The lock on the app's `env_file`, held until the run ends. The
    /// system releases it when the process exits in any way.
    _env_lock: Option<[std::fs::File; 2]>,
}

/// Everything a run started, to stop at the end.
pub struct Started {
    server: Option<fakestripe_server::Server>,
    workers: Vec<Worker>,
    fake_url: String,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("fake_url", &self.fake_url)
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl Started {
    /// Returns the clients of each started app and its account, for
    /// callers that drive the app themselves, such as the fuzzer.
    pub fn contexts(&self) -> Vec<WorkerContext> {
        self.workers.iter().map(|w| w.ctx.clone()).collect()
    }

    /// Returns the base URL of the fake the apps use.
    pub fn fake_url(&self) -> &str {
        &self.fake_url
    }

    /// Stops every app, then the fake.
    pub async fn stop(mut self) {
        for worker in &mut self.workers {
            if let Some(process) = worker.process.as_mut() {
                process.stop().await;
            }
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// Starts the fake (unless `fake_url` names one) and `jobs` apps.
pub async fn start(
    app: Arc<AppConfig>,
    options: &RunOptions,
    jobs: usize,
) -> Result<Started, StartError> {
    let (server, fake_url) = match &options.fake_url {
        Some(url) => {
            let probe = FakeClient::new(url, fresh_key());
            probe.now().await.map_err(|err| {
                // The reason is followed by a sentence of its own, and a
                // message of the fake may end with a period already.
                let reason = error_chain(&err).trim_end_matches('.').to_owned();
                let url = url.clone();
                match err {
                    // A read of the clock sends no delivery.
                    fake::FakeError::Api { .. } | fake::FakeError::SlowWebhooks { .. } => {
                        StartError::NotFake { url, reason }
                    }
                    fake::FakeError::Transport { .. } => {
                        StartError::FakeUnreachable { url, reason }
                    }
                }
            })?;
            (None, url.trim_end_matches('/').to_owned())
        }
        None => {
            let config = fakestripe_server::ServerConfig {
                port: 0,
                clock_mode: fakestripe_server::ClockMode::Manual,
                ..Default::default()
            };
            let server = fakestripe_server::Server::start(config)
                .await
                .map_err(|err| StartError::Fake(err.to_string()))?;
            let url = server.base_url().to_owned();
            (Some(server), url)
        }
    };
    let mut started = Started {
        server,
        workers: Vec::new(),
        fake_url: fake_url.clone(),
    };
    let jobs = match app.launch {
        Launch::Running { .. } => 1,
        Launch::Start(_) => jobs.max(1),
    };
    let mut pending = JoinSet::new();
    for job in 1..=jobs {
        let app = app.clone();
        let fake_url = fake_url.clone();
        let replay = ReplayArgs {
            app: options.app_arg.clone(),
            fake: options.fake_url.clone(),
        };
        let numbers = JobNumbers { job, jobs };
        pending.spawn(async move { start_worker(app, &fake_url, replay, numbers).await });
    }
    let mut error = None;
    while let Some(joined) = pending.join_next().await {
        match joined {
            Ok(Ok(worker)) => started.workers.push(worker),
            Ok(Err(err)) => error = error.or(Some(err)),
            Err(err) => {
                error = error.or(Some(StartError::App(format!(
                    "the start task failed: {err}"
                ))))
            }
        }
    }
    if let Some(err) = error {
        started.stop().await;
        return Err(err);
    }
    Ok(started)
}

/// A job's number, from 1, and the number of jobs in the run.
#[derive(Debug, Clone, Copy)]
struct JobNumbers {
    job: usize,
    jobs: usize,
}

async fn start_worker(
    app: Arc<AppConfig>,
    fake_url: &str,
    replay: ReplayArgs,
    numbers: JobNumbers,
) -> Result<Worker, StartError> {
    let key = match &app.launch {
        // An app that already runs may have been given a key by the
        // process that started it; the harness then uses the same account.
        Launch::Running { .. } => std::env::var("STRIPE_SECRET_KEY")
            .ok()
            .filter(|key| key.starts_with("sk_test_"))
            .unwrap_or_else(fresh_key),
        Launch::Start(_) => fresh_key(),
    };
    let fake = Arc::new(FakeClient::new(fake_url, key.clone()));
    let fake_error = |err: fake::FakeError| StartError::FakeSetup(err.to_string());
    fake.manual_clock().await.map_err(fake_error)?;
    match &app.launch {
        Launch::Start(start) => {
            let port = free_port()
                .map_err(|err| StartError::App(format!("cannot find a free port: {err}")))?;
            let base_url = format!("http://127.0.0.1:{port}");
            let (_, secret) = fake
                .register_endpoint(
                    &format!("{base_url}{}", app.webhook_path),
                    app.api_version.as_deref(),
                )
                .await
                .map_err(fake_error)?;
            let env = LaunchEnv {
                api_base: fake_url.to_owned(),
                secret_key: key,
                webhook_secret: secret,
                port,
                job: numbers.job,
            };
            let process = AppProcess::start(start, &app.dir, &env)
                .await
                .map_err(|err| StartError::App(err.to_string()))?;
            let log = Some(process.log.clone());
            let client = AppClient::new(app.clone(), process.base_url.clone());
            Ok(Worker {
                ctx: WorkerContext {
                    fake,
                    app: client,
                    log,
                    exit: Some(process.exit.clone()),
                    replay: replay.clone(),
                    jobs: numbers.jobs,
                },
                process: Some(process),
                _env_lock: None,
            })
        }
        Launch::Running { base_url, env_file } => {
            check_reachable(base_url, &app.path).await?;
            let (_, secret) = fake
                .register_endpoint(
                    &format!("{base_url}{}", app.webhook_path),
                    app.api_version.as_deref(),
                )
                .await
                .map_err(fake_error)?;
            let mut env_lock = None;
            if let Some(env_file) = env_file {
                let path = app.dir.join(env_file);
                env_lock = Some(lock_env_file(&path)?);
                let text = format!(
                    "STRIPE_API_BASE={fake_url}\nSTRIPE_SECRET_KEY={key}\nSTRIPE_WEBHOOK_SECRET={secret}\n"
                );
                std::fs::write(&path, text).map_err(|err| {
                    StartError::App(format!("cannot write {}: {err}", path.display()))
                })?;
            }
            let client = AppClient::new(app.clone(), base_url.clone());
            Ok(Worker {
                ctx: WorkerContext {
                    fake,
                    app: client,
                    log: None,
                    exit: None,
                    replay: replay.clone(),
                    jobs: numbers.jobs,
                },
                process: None,
                _env_lock: env_lock,
            })
        }
    }
}

/// Takes an exclusive lock on `{env_file}.lock` and writes this
/// process's id into it. A second run against the same app would rewrite
/// the env file with its own key and webhook secret, and the two runs
/// would then fail each other's scenarios. So the second one stops here
/// with the first one's process id. The lock file sits beside the file a
/// symbolic link leads to, and the env file itself is locked too, so two
/// runs that reach one file through different links, hard ones included,
/// also stop. Returns both locked files.
fn lock_env_file(env_file: &std::path::Path) -> Result<[std::fs::File; 2], StartError> {
    use std::io::{Read, Seek, Write};
    let env_file = &crate::report::resolved(env_file);
    let mut name = env_file.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let failed = |err: std::io::Error| {
        StartError::App(format!("cannot lock {}: {err}", lock_path.display()))
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim().parse::<u32>() {
                Ok(pid) => format!("another fakestripe run or fuzz (PID {pid})"),
                Err(_) => "another fakestripe run or fuzz".to_owned(),
            };
            return Err(StartError::EnvFileLocked(format!(
                "{holder} is using the app's env file {} and has locked {}. A second run would write its own key and webhook secret into the file and break the first run's scenarios. Wait until the other run ends, or stop it, then start this run again.",
                env_file.display(),
                lock_path.display()
            )));
        }
        Err(std::fs::TryLockError::Error(err)) => return Err(failed(err)),
    }
    file.set_len(0).map_err(failed)?;
    file.rewind().map_err(failed)?;
    writeln!(file, "{}", std::process::id()).map_err(failed)?;

    let failed =
        |err: std::io::Error| StartError::App(format!("cannot lock {}: {err}", env_file.display()));
    let env = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(env_file)
        .map_err(failed)?;
    match env.try_lock() {
        Ok(()) => Ok([file, env]),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::EnvFileLocked(format!(
            "another fakestripe run or fuzz is using the app's env file {} under another name, a link to it. A second run would write its own key and webhook secret into the file and break the first run's scenarios. Wait until the other run ends, or stop it, then start this run again.",
            env_file.display()
        ))),
        Err(std::fs::TryLockError::Error(err)) => Err(failed(err)),
    }
}

/// Formats an error with its sources, such as `GET /_fakestripe/clock
/// failed: error sending request: client error (Connect): Connection
/// refused`, because the outermost message alone rarely gives the cause.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How long [`check_reachable`] waits for a connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens a TCP connection to an app that already runs, so that a wrong
/// `base_url`, or an app that is not running, stops the run before the
/// first scenario with the operating system's reason.
async fn check_reachable(base_url: &str, app_file: &std::path::Path) -> Result<(), StartError> {
    let unreachable = |reason: String| {
        StartError::Unreachable(format!(
            "cannot connect to {base_url}, the `base_url` of {}: {reason}. Start the app, or correct `base_url`.",
            app_file.display()
        ))
    };
    let url = url::Url::parse(base_url).map_err(|err| unreachable(err.to_string()))?;
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(unreachable("the URL names no host and port".to_owned()));
    };
    let connect = tokio::net::TcpStream::connect(format!("{host}:{port}"));
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(unreachable(err.to_string())),
        Err(_) => Err(unreachable(format!(
            "no connection within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Ports this process has assigned to the apps it started.
static ASSIGNED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Returns a port that was free a moment ago and that no other app of this
/// process was assigned. The system may offer a just-released port again,
/// and two apps on one port send one worker's requests to the other app.
/// Another process can still take the port before the app binds it.
fn free_port() -> std::io::Result<u16> {
    let mut assigned = ASSIGNED_PORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pick_port(&mut assigned, || {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        Ok(listener.local_addr()?.port())
    })
}

/// Takes ports from `offer` until one is not in `assigned`, and adds it.
fn pick_port(
    assigned: &mut BTreeSet<u16>,
    mut offer: impl FnMut() -> std::io::Result<u16>,
) -> std::io::Result<u16> {
    const TRIES: usize = 64;
    for _ in 0..TRIES {
        let port = offer()?;
        if assigned.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(format!(
        "the system offered {TRIES} ports in a row that were already assigned to other apps of this run"
    )))
}

/// Runs the scenarios of `progress` on the started workers, and returns
/// the counts once every worker is done. Each worker stops starting
/// scenarios when [`Progress::cancel`] is called.
pub async fn run(started: &Started, progress: Arc<Progress>, seed: Option<u64>) -> Summary {
    let run_tag = run_tag();
    let mut tasks = JoinSet::new();
    for worker in &started.workers {
        let job = Job {
            ctx: worker.ctx.clone(),
            progress: progress.clone(),
            seed,
            run_tag: run_tag.clone(),
        };
        tasks.spawn(job.work());
    }
    while tasks.join_next().await.is_some() {}
    progress.finish()
}

/// The state of one run, shared by its workers and by the caller that
/// stops it: the scenarios waiting and running, and the counts so far.
///
/// Every event of the run goes through it, so the `RunFinished` event is
/// sent once, by [`Progress::finish`], and no scenario event follows it.
/// A caller that stops the run without waiting for the running scenarios
/// calls `finish` itself, and the summary still counts every scenario that
/// finished before.
pub struct Progress {
    scenarios: Arc<Vec<Scenario>>,
    events: UnboundedSender<Event>,
    begun: Instant,
    cancel: AtomicBool,
    fail_fast: bool,
    state: Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    /// Indexes into the run's scenarios, in the order they start.
    pending: VecDeque<usize>,
    running: BTreeSet<usize>,
    passed: usize,
    failed: usize,
    /// Scenarios skipped because they pay with a payment method type that
    /// the app does not offer.
    unsupported: usize,
    /// Finished scenarios with a warning.
    warned: usize,
    /// A message for each app that exited during the run.
    app_exits: Vec<String>,
    /// The cause when the fake stopped responding during the run, which
    /// stops every worker, as they share it.
    fake_lost: Option<String>,
    /// The summary, once the run finished.
    summary: Option<Summary>,
}

impl Progress {
    /// Creates the state of a run of `scenarios` on `started`, and sends
    /// the `RunStarted` event.
    pub fn new(
        started: &Started,
        scenarios: Arc<Vec<Scenario>>,
        options: &RunOptions,
        events: UnboundedSender<Event>,
    ) -> Arc<Progress> {
        let app_name = started
            .workers
            .first()
            .map(|w| w.ctx.app.config().name.clone())
            .unwrap_or_default();
        let _ = events.send(Event::RunStarted {
            scenarios: scenarios.len(),
            jobs: started.workers.len(),
            fake_url: started.fake_url.clone(),
            app: app_name,
        });
        // Scenarios that pay with a type the app does not offer are
        // reported at once and never queued.
        let mut state = ProgressState::default();
        for (index, scenario) in scenarios.iter().enumerate() {
            let reason = started.workers.first().and_then(|worker| {
                let app = worker.ctx.app.config();
                app.unoffered_payment_method_types(&scenario.payment_method_types())
            });
            match reason {
                Some(reason) => {
                    state.unsupported += 1;
                    let _ = events.send(Event::ScenarioUnsupported {
                        index,
                        path: scenario.path.clone(),
                        name: scenario.name.clone(),
                        reason,
                    });
                }
                None => state.pending.push_back(index),
            }
        }
        Arc::new(Progress {
            scenarios,
            events,
            begun: Instant::now(),
            cancel: AtomicBool::new(false),
            fail_fast: options.fail_fast,
            state: Mutex::new(state),
        })
    }

    /// Starts no further scenario. The summary reports the run as
    /// interrupted.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Records that a worker's app exited, so the worker stops and the
    /// summary reports it.
    fn app_exited(&self, message: String) {
        self.lock().app_exits.push(message);
    }

    /// Records that the fake stopped responding, so no worker starts a
    /// further scenario and the summary reports it.
    fn fake_lost(&self, message: String) {
        self.lock().fake_lost.get_or_insert(message);
    }

    /// Returns a message for each app that exited during the run, with its
    /// last output, and for a fake that stopped responding.
    pub fn app_exits(&self) -> Vec<String> {
        let state = self.lock();
        let mut messages = state.app_exits.clone();
        messages.extend(state.fake_lost.clone());
        messages
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        // A worker that panics while it holds the lock leaves counts that
        // are still whole numbers, so the state stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the next scenario and sends its `ScenarioStarted` event,
    /// unless the run is cancelled, finished or stopped by `--fail-fast`.
    fn next(&self) -> Option<usize> {
        let mut state = self.lock();
        let stopped = (self.fail_fast && state.failed > 0) || state.fake_lost.is_some();
        if self.cancel.load(Ordering::SeqCst) || stopped || state.summary.is_some() {
            return None;
        }
        let index = state.pending.pop_front()?;
        state.running.insert(index);
        let scenario = &self.scenarios[index];
        let _ = self.events.send(Event::ScenarioStarted {
            index,
            path: scenario.path.clone(),
            name: scenario.name.clone(),
        });
        Some(index)
    }

    /// Counts a finished scenario and sends its result. A result that
    /// comes after the run finished is dropped, because the summary and
    /// the reports listed the scenario as not run.
    fn record(&self, index: usize, result: ScenarioResult) {
        let mut state = self.lock();
        if state.summary.is_some() {
            return;
        }
        state.running.remove(&index);
        if result.passed() {
            state.passed += 1;
        } else {
            state.failed += 1;
        }
        if !result.warnings.is_empty() {
            state.warned += 1;
        }
        let _ = self.events.send(Event::ScenarioFinished {
            index,
            result: Arc::new(result),
        });
    }

    /// Ends the run: sends a `ScenarioSkipped` event for each scenario
    /// that did not finish, running ones first, then `RunFinished`, and
    /// returns the summary. A later call returns the same summary and
    /// sends nothing.
    pub fn finish(&self) -> Summary {
        let mut state = self.lock();
        if let Some(summary) = state.summary {
            return summary;
        }
        let running = std::mem::take(&mut state.running);
        let pending = std::mem::take(&mut state.pending);
        for (index, stopped) in running
            .iter()
            .map(|index| (*index, true))
            .chain(pending.iter().map(|index| (*index, false)))
        {
            let scenario = &self.scenarios[index];
            let _ = self.events.send(Event::ScenarioSkipped {
                index,
                path: scenario.path.clone(),
                name: scenario.name.clone(),
                stopped,
            });
        }
        let summary = Summary {
            passed: state.passed,
            failed: state.failed,
            skipped: running.len() + pending.len(),
            unsupported: state.unsupported,
            duration: self.begun.elapsed(),
            interrupted: self.cancel.load(Ordering::SeqCst),
            app_exited: !state.app_exits.is_empty(),
            fake_lost: state.fake_lost.is_some(),
            warned: state.warned,
        };
        state.summary = Some(summary);
        let _ = self.events.send(Event::RunFinished { summary });
        summary
    }
}

/// One worker's share of a run.
struct Job {
    ctx: WorkerContext,
    progress: Arc<Progress>,
    /// `--seed`, which replaces each scenario's own.
    seed: Option<u64>,
    run_tag: String,
}

impl Job {
    /// Runs scenarios from the queue until it is empty, the run stops, or
    /// the worker's app exits. A worker whose app exited starts no further
    /// scenario, and the summary lists those it would have run as skipped.
    async fn work(self) {
        loop {
            if let Some(status) = self.ctx.app_exit(false).await {
                let message = format!("the app exited ({status}) between scenarios");
                self.progress.app_exited(self.ctx.with_output(message));
                return;
            }
            let Some(index) = self.progress.next() else {
                return;
            };
            let scenario = &self.progress.scenarios[index];
            let seed = self.seed.unwrap_or(scenario.seed);
            let tag = format!("{}{index}", self.run_tag);
            let log_mark = self.ctx.log_mark();
            let mut result = scenario::run_scenario(scenario, seed, &self.ctx, tag).await;
            let Some(status) = self.ctx.app_exit(!result.passed()).await else {
                // A fake given by --fake may have stopped, which fails
                // every scenario after it for a cause that is not the
                // app's.
                let lost = if result.passed() {
                    None
                } else {
                    self.ctx.fake_unreachable().await
                };
                if let Some(reason) = &lost {
                    result.failures.insert(
                        0,
                        Failure {
                            kind: FailureKind::Harness,
                            message: format!("the fake stopped responding: {reason}"),
                            mismatches: Vec::new(),
                        },
                    );
                }
                self.progress.record(index, result);
                if let Some(reason) = lost {
                    self.progress.fake_lost(format!(
                        "the fake at {} stopped responding during {}: {reason}; \
                         the run stopped, as every scenario needs it",
                        self.ctx.fake.base_url(),
                        scenario.path.display()
                    ));
                    return;
                }
                continue;
            };
            // No step has started when the app exited during the reset.
            // The failure and the closing message place the exit alike.
            let path = scenario.path.display();
            let (during, closing) = if result.steps_run == 0 {
                (
                    "before the scenario's first step",
                    format!("before the first step of {path}"),
                )
            } else {
                ("while the scenario ran", format!("while {path} ran"))
            };
            result.failures.insert(
                0,
                Failure {
                    kind: FailureKind::Harness,
                    message: format!("the app exited ({status}) {during}"),
                    mismatches: Vec::new(),
                },
            );
            if result.app_output.is_empty() {
                (result.app_output, result.app_output_span) = self.ctx.output_at_exit(log_mark);
            }
            let message = format!("the app exited ({status}) {closing}");
            self.progress.record(index, result);
            self.progress.app_exited(self.ctx.with_output(message));
            return;
        }
    }
}

/// How long the harness waits, after a scenario failed, for the exit
/// status of an app that may have died during it. Only failed scenarios
/// wait, and the status of a killed app normally arrives within a few
/// milliseconds.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// The number of the app's last output lines that an exit message shows.
const EXIT_LOG_LINES: usize = 20;

impl WorkerContext {
    /// Returns how the worker's app ended, if the harness started it and
    /// it has ended. With `grace`, waits up to [`EXIT_GRACE`] for it to end.
    pub async fn app_exit(&self, grace: bool) -> Option<String> {
        let mut exit = self.exit.clone()?;
        if grace {
            tokio::time::timeout(EXIT_GRACE, exit.wait()).await.ok()
        } else {
            exit.status()
        }
    }

    /// Returns why the fake cannot serve the run any more, or `None` when
    /// it can. Either a read of its clock fails to connect or gets no
    /// response, or the account lost the webhook endpoint the harness
    /// registered at start, as on a fake that was restarted.
    pub async fn fake_unreachable(&self) -> Option<String> {
        match self.fake.now().await {
            Err(err @ fake::FakeError::Transport { .. }) => return Some(error_chain(&err)),
            Err(_) => return None,
            Ok(_) => {}
        }
        match self.fake.endpoint_count().await {
            Ok(0) => Some(
                "the account no longer has the webhook endpoint registered at the start of the run, so the fake was restarted or its accounts were reset from outside the run"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// Returns the app's last output lines, up to [`EXIT_LOG_LINES`].
    pub fn last_output(&self) -> Vec<String> {
        self.log
            .as_ref()
            .and_then(|log| log.lock().ok().map(|log| log.tail(EXIT_LOG_LINES)))
            .unwrap_or_default()
    }

    /// Returns the position in the app's output that [`Self::output_at_exit`]
    /// reads from, or `None` for an app the harness did not start.
    pub fn log_mark(&self) -> Option<u64> {
        self.log
            .as_ref()
            .and_then(|log| log.lock().ok().map(|log| log.mark()))
    }

    /// Returns the app's output lines that began after `mark`, taken before
    /// a scenario's reset. When the app wrote none, such as an app that
    /// exited silently on the reset request, returns its last lines from
    /// before the mark as [`OutputSpan::BeforeReset`], so that a report
    /// does not show them as written during the scenario.
    pub fn output_at_exit(&self, mark: Option<u64>) -> (Vec<String>, OutputSpan) {
        let since = match (&self.log, mark) {
            (Some(log), Some(mark)) => log
                .lock()
                .map(|log| log.since(mark, scenario::SCENARIO_LOG_LINES))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if since.is_empty() {
            (self.last_output(), OutputSpan::BeforeReset)
        } else {
            (since, OutputSpan::Scenario)
        }
    }

    /// Appends the app's last output lines to `message`.
    pub fn with_output(&self, message: String) -> String {
        format!(
            "{message}{}",
            crate::app::process::log_excerpt(&self.last_output())
        )
    }
}

/// Builds a short tag that makes the run's order ids unique: the app may keep
/// orders from earlier runs, and scenarios of one worker share an account.
fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut value = (nanos % 1_679_616) as u32;
    let mut tag = String::new();
    for _ in 0..4 {
        let digit = value % 36;
        value /= 36;
        tag.push(char::from_digit(digit, 36).unwrap_or('0'));
    }
    tag.push('-');
    tag
}

/// The outcome of [`run_files`]: every scenario's result, in file order.
#[derive(Debug)]
pub struct RunOutcome {
    pub results: Vec<Arc<ScenarioResult>>,
    pub summary: Summary,
    /// The scenarios not run because they pay with a payment method type
    /// that the app does not offer, with the reason, in file order.
    pub unsupported: Vec<(PathBuf, String)>,
}

/// The reason [`run_files`] could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid scenario file:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Scenario(Vec<crate::diagnostic::FileError>),
    #[error("invalid app file:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    App(Vec<crate::diagnostic::FileError>),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Usage(String),
}

/// Runs scenario files against an app: starts the fake and the app, runs
/// each file, stops everything. For tests and other Rust callers.
pub async fn run_files(
    app_file: &std::path::Path,
    paths: &[PathBuf],
    options: RunOptions,
) -> Result<RunOutcome, RunError> {
    let app = Arc::new(crate::app::config::load(app_file).map_err(RunError::App)?);
    let files = crate::scenario::collect_files(paths).map_err(RunError::Usage)?;
    let mut scenarios = Vec::new();
    for file in &files {
        scenarios.push(crate::scenario::load_file(file).map_err(RunError::Scenario)?);
    }
    let scenarios = Arc::new(scenarios);
    let started = start(app, &options, options.jobs.min(scenarios.len())).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let progress = Progress::new(&started, scenarios, &options, tx);
    let summary = run(&started, progress, options.seed).await;
    started.stop().await;
    let mut results: Vec<(usize, Arc<ScenarioResult>)> = Vec::new();
    let mut unsupported = Vec::new();
    while let Ok(event) = rx.try_recv() {
        match event {
            Event::ScenarioFinished { index, result } => results.push((index, result)),
            Event::ScenarioUnsupported {
                index,
                path,
                reason,
                ..
            } => unsupported.push((index, path, reason)),
            _ => {}
        }
    }
    results.sort_by_key(|(index, _)| *index);
    unsupported.sort_by_key(|(index, ..)| *index);
    Ok(RunOutcome {
        results: results.into_iter().map(|(_, result)| result).collect(),
        summary,
        unsupported: unsupported
            .into_iter()
            .map(|(_, path, reason)| (path, reason))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_port_offered_again_is_skipped() {
        let mut assigned = BTreeSet::from([5000]);
        let mut offers = [5000, 5000, 5001].into_iter();
        let port = pick_port(&mut assigned, || Ok(offers.next().unwrap()));

        assert_eq!(port.unwrap(), 5001);
        assert_eq!(assigned, BTreeSet::from([5000, 5001]));
    }

    #[test]
    fn only_assigned_ports_offered_is_error() {
        let mut assigned = BTreeSet::from([5000]);
        let err = pick_port(&mut assigned, || Ok(5000)).unwrap_err();

        assert!(err.to_string().contains("64 ports in a row"), "{err}");
    }
}
