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

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use crate::app::{AppClient, AppConfig, AppProcess, Launch, LaunchEnv};
use crate::report::events::{Event, ScenarioResult, Summary};
use crate::scenario::Scenario;
use fake::{FakeClient, fresh_key};
pub use scenario::WorkerContext;

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
    #[error("cannot start the app: {0}")]
    App(String),
    #[error("cannot reach the app: {0}")]
    Unreachable(String),
}

/// A worker's app and its account.
struct Worker {
    ctx: WorkerContext,
    process: Option<AppProcess>,
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
            probe
                .now()
                .await
                .map_err(|err| StartError::Fake(format!("no fake responds at {url}: {err}")))?;
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
    for _ in 0..jobs {
        let app = app.clone();
        let fake_url = fake_url.clone();
        let app_arg = options.app_arg.clone();
        pending.spawn(async move { start_worker(app, &fake_url, app_arg).await });
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

async fn start_worker(
    app: Arc<AppConfig>,
    fake_url: &str,
    app_arg: String,
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
    let fake_error = |err: fake::FakeError| StartError::Fake(err.to_string());
    fake.manual_clock().await.map_err(fake_error)?;
    match &app.launch {
        Launch::Start(start) => {
            let port = free_port()
                .map_err(|err| StartError::App(format!("cannot find a free port: {err}")))?;
            let base_url = format!("http://127.0.0.1:{port}");
            let (_, secret) = fake
                .register_endpoint(&format!("{base_url}{}", app.webhook_path))
                .await
                .map_err(fake_error)?;
            let env = LaunchEnv {
                api_base: fake_url.to_owned(),
                secret_key: key,
                webhook_secret: secret,
                port,
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
                    app_arg,
                },
                process: Some(process),
            })
        }
        Launch::Running { base_url, env_file } => {
            check_reachable(base_url, &app.path).await?;
            let (_, secret) = fake
                .register_endpoint(&format!("{base_url}{}", app.webhook_path))
                .await
                .map_err(fake_error)?;
            if let Some(env_file) = env_file {
                let path = app.dir.join(env_file);
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
                    app_arg,
                },
                process: None,
            })
        }
    }
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

/// Returns a port that was free a moment ago. Another process could take
/// it before the app binds it, and then the app fails to start and reports
/// the error.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Runs the scenarios on the started workers and sends events; returns the
/// counts. Stops starting scenarios when `cancel` is set.
pub async fn run(
    started: &Started,
    scenarios: Arc<Vec<Scenario>>,
    options: &RunOptions,
    events: UnboundedSender<Event>,
    cancel: Arc<AtomicBool>,
) -> Summary {
    let begun = Instant::now();
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

    let queue = Arc::new(Queue {
        pending: Mutex::new((0..scenarios.len()).collect()),
        passed: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        cancel: cancel.clone(),
        fail_fast: options.fail_fast,
    });
    let run_tag = run_tag();
    let mut tasks = JoinSet::new();
    for worker in &started.workers {
        let job = Job {
            ctx: worker.ctx.clone(),
            scenarios: scenarios.clone(),
            queue: queue.clone(),
            events: events.clone(),
            seed: options.seed,
            run_tag: run_tag.clone(),
        };
        tasks.spawn(job.work());
    }
    while tasks.join_next().await.is_some() {}

    let remaining: Vec<usize> = queue
        .pending
        .lock()
        .map(|mut q| q.drain(..).collect())
        .unwrap_or_default();
    for index in &remaining {
        let scenario = &scenarios[*index];
        let _ = events.send(Event::ScenarioSkipped {
            index: *index,
            path: scenario.path.clone(),
            name: scenario.name.clone(),
        });
    }
    let summary = Summary {
        passed: queue.passed.load(Ordering::SeqCst),
        failed: queue.failed.load(Ordering::SeqCst),
        skipped: remaining.len(),
        duration: begun.elapsed(),
        interrupted: cancel.load(Ordering::SeqCst),
    };
    let _ = events.send(Event::RunFinished { summary });
    summary
}

/// The scenarios waiting to run, and the counts so far, shared by the
/// workers of a run.
struct Queue {
    /// Indexes into the run's scenarios.
    pending: Mutex<VecDeque<usize>>,
    passed: AtomicUsize,
    failed: AtomicUsize,
    cancel: Arc<AtomicBool>,
    fail_fast: bool,
}

impl Queue {
    /// Takes the next scenario, unless the run is cancelled or stopped by
    /// `--fail-fast`.
    fn next(&self) -> Option<usize> {
        let stopped = self.fail_fast && self.failed.load(Ordering::SeqCst) > 0;
        if self.cancel.load(Ordering::SeqCst) || stopped {
            return None;
        }
        self.pending
            .lock()
            .ok()
            .and_then(|mut pending| pending.pop_front())
    }
}

/// One worker's share of a run.
struct Job {
    ctx: WorkerContext,
    scenarios: Arc<Vec<Scenario>>,
    queue: Arc<Queue>,
    events: UnboundedSender<Event>,
    /// `--seed`, which replaces each scenario's own.
    seed: Option<u64>,
    run_tag: String,
}

impl Job {
    /// Runs scenarios from the queue until it is empty or the run stops.
    async fn work(self) {
        while let Some(index) = self.queue.next() {
            let scenario = &self.scenarios[index];
            let _ = self.events.send(Event::ScenarioStarted {
                index,
                path: scenario.path.clone(),
                name: scenario.name.clone(),
            });
            let seed = self.seed.unwrap_or(scenario.seed);
            let tag = format!("{}{index}", self.run_tag);
            let result = scenario::run_scenario(scenario, seed, &self.ctx, tag).await;
            let counter = if result.passed() {
                &self.queue.passed
            } else {
                &self.queue.failed
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = self.events.send(Event::ScenarioFinished {
                index,
                result: Arc::new(result),
            });
        }
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
    let summary = run(
        &started,
        scenarios.clone(),
        &options,
        tx,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    started.stop().await;
    let mut results: Vec<(usize, Arc<ScenarioResult>)> = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let Event::ScenarioFinished { index, result } = event {
            results.push((index, result));
        }
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(RunOutcome {
        results: results.into_iter().map(|(_, result)| result).collect(),
        summary,
    })
}
