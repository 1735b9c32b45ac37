//! Starting the app under test, waiting until it is ready, keeping its
//! output, and stopping it.
//!
//! The app runs in its own process group, so stopping it also stops what
//! it started (`cargo run` starts the real binary as a child). The group is
//! stopped when the run ends, when a scenario fails, on SIGINT (Ctrl-C),
//! SIGTERM or SIGHUP (the caller stops every app before exiting, see
//! [`crate::signals`]) and, as a last resort, when the handle is dropped.
//! A harness killed with SIGKILL cannot stop anything, and leaves the app
//! running.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

use super::config::StartConfig;
use crate::output::errln;

/// Lines of app output kept in memory; older lines are dropped.
const LOG_CAPACITY: usize = 2_000;

/// The bytes of one line of app output that are kept. The rest of a
/// longer line is dropped, so an app that writes without newlines cannot
/// fill memory.
const MAX_LINE_BYTES: usize = 16 * 1024;

/// The text that ends a line cut at [`MAX_LINE_BYTES`].
const CUT_MARK: &str = " … [cut at 16 KiB]";

/// One line of app output.
#[derive(Debug)]
struct LogLine {
    /// The line's place in the order in which the lines began, counted
    /// over stdout and stderr together.
    number: u64,
    text: String,
}

/// The app's output, interleaved from stdout and stderr.
#[derive(Debug, Default)]
pub struct AppLog {
    /// Finished lines, in the order they began.
    lines: VecDeque<LogLine>,
    /// Lines begun so far, dropped ones included, which is also the
    /// number of the next line.
    begun: u64,
    /// Text the app wrote after its last newline, on stdout or stderr,
    /// shown among the lines from where it began until the line ends.
    partial: [Option<LogLine>; 2],
    /// The secret key and webhook secret the app was given, masked in
    /// every line.
    secrets: Vec<String>,
}

impl AppLog {
    /// Returns a log that masks `secrets` in the lines it keeps.
    pub fn masking(secrets: &[&str]) -> AppLog {
        AppLog {
            secrets: secrets
                .iter()
                .filter(|secret| !secret.is_empty())
                .map(|secret| (*secret).to_owned())
                .collect(),
            ..AppLog::default()
        }
    }

    /// Returns the bytes of one line that the reader must keep so that
    /// [`AppLog::write`] can mask a secret that crosses the cut at
    /// [`MAX_LINE_BYTES`].
    fn kept_bytes(&self) -> usize {
        let longest = self.secrets.iter().map(String::len).max().unwrap_or(0);
        MAX_LINE_BYTES + longest
    }

    /// Returns `line` with the secrets masked, and the start of a secret
    /// at its end, which an app that exits or stalls in the middle of a
    /// write leaves there.
    fn masked(&self, line: String) -> String {
        self.secrets.iter().fold(line, |line, secret| {
            let mut line = if line.contains(secret.as_str()) {
                line.replace(
                    secret.as_str(),
                    &fakestripe_server::wire::auth::mask(secret),
                )
            } else {
                line
            };
            mask_cut_secret(&mut line, secret);
            line
        })
    }

    /// Returns the text of a line from its bytes: the secrets masked, then
    /// cut to [`MAX_LINE_BYTES`] and marked when it is longer or when the
    /// reader dropped some of its bytes.
    fn render(&self, bytes: &[u8], dropped: bool) -> String {
        // Masking comes first, so that a secret crossing the cut is
        // masked as a whole. The mask keeps the secret's length.
        let mut text = self.masked(String::from_utf8_lossy(bytes).into_owned());
        if text.len() <= MAX_LINE_BYTES && !dropped {
            return text;
        }
        let mut cut = MAX_LINE_BYTES.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(CUT_MARK);
        text
    }

    /// Records the text of `stream` (0 for stdout, 1 for stderr) since its
    /// last newline. `finished` ends the line, and `dropped` marks that
    /// the reader dropped bytes past [`AppLog::kept_bytes`].
    fn write(&mut self, stream: usize, bytes: &[u8], dropped: bool, finished: bool) {
        let text = self.render(bytes, dropped);
        let number = match self.partial[stream].take() {
            Some(line) => line.number,
            None => {
                self.begun += 1;
                self.begun - 1
            }
        };
        let line = LogLine { number, text };
        if finished {
            self.push(line);
        } else {
            self.partial[stream] = Some(line);
        }
    }

    /// Ends the unfinished line of `stream`, when the stream closes.
    fn close(&mut self, stream: usize) {
        if let Some(line) = self.partial[stream].take() {
            self.push(line);
        }
    }

    /// Adds a finished line at the place where it began.
    fn push(&mut self, line: LogLine) {
        // The text is masked, so a debug log shows no secret either.
        tracing::debug!(target: "fakestripe::app", "{}", line.text);
        let at = self.lines.partition_point(|kept| kept.number < line.number);
        self.lines.insert(at, line);
        if self.lines.len() > LOG_CAPACITY {
            self.lines.pop_front();
        }
    }

    /// Returns a position to read from later with [`AppLog::since`].
    pub fn mark(&self) -> u64 {
        self.begun
    }

    /// Returns the lines that began after `mark` was taken, unfinished
    /// ones included, at most `max` of them (the last). A line that began
    /// before the mark and ended after it is not included.
    pub fn since(&self, mark: u64, max: usize) -> Vec<String> {
        let first = self.lines.partition_point(|line| line.number < mark);
        let mut lines: Vec<&LogLine> = self.lines.range(first..).collect();
        lines.extend(
            self.partial
                .iter()
                .flatten()
                .filter(|line| line.number >= mark),
        );
        lines.sort_by_key(|line| line.number);
        let skip = lines.len().saturating_sub(max);
        lines
            .into_iter()
            .skip(skip)
            .map(|line| line.text.clone())
            .collect()
    }

    pub fn tail(&self, max: usize) -> Vec<String> {
        self.since(0, max)
    }
}

/// How long one ready check waits for the app's response.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The characters at the start of a secret that its mask shows, such as
/// `sk_test_`: a line that ends with no more than these gives nothing
/// away.
const SHOWN_PREFIX_CHARS: usize = 8;

/// Masks the end of `line` when it is the start of `secret`, longer than
/// the prefix a mask shows: the characters past that prefix become `*`.
fn mask_cut_secret(line: &mut String, secret: &str) {
    let boundaries = secret
        .char_indices()
        .map(|(at, _)| at)
        .skip(SHOWN_PREFIX_CHARS + 1);
    // The maximum start of the secret that ends the line.
    let Some(cut) = boundaries
        .filter(|&at| line.ends_with(&secret[..at]))
        .last()
    else {
        return;
    };
    let start = line.len() - cut;
    let prefix_end: usize = secret[..cut]
        .char_indices()
        .nth(SHOWN_PREFIX_CHARS)
        .map_or(cut, |(at, _)| at);
    let hidden = secret[prefix_end..cut].chars().count();
    line.replace_range(start + prefix_end.., &"*".repeat(hidden));
}

/// The values the harness passes to the app.
#[derive(Debug, Clone)]
pub struct LaunchEnv {
    pub api_base: String,
    pub secret_key: String,
    pub webhook_secret: String,
    pub port: u16,
    /// The job's number, from 1, passed as `FAKESTRIPE_JOB` so that apps
    /// run side by side can keep their orders apart.
    pub job: usize,
}

/// The reason the app could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start `{command}` in {cwd}: {source}")]
    Spawn {
        command: String,
        cwd: String,
        source: std::io::Error,
    },
    #[error("the app exited before it was ready ({status}){}", log_excerpt(.log))]
    Exited { status: String, log: Vec<String> },
    #[error("the app was not ready after {seconds}s: GET {url} {last}{}", log_excerpt(.log))]
    Timeout {
        seconds: u64,
        url: String,
        last: String,
        log: Vec<String>,
    },
}

/// Formats the app's last output lines for an error message.
pub(crate) fn log_excerpt(log: &[String]) -> String {
    if log.is_empty() {
        return "; it printed nothing".to_owned();
    }
    let mut text = String::from("; its last output:");
    for line in log {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text
}

/// A handle on the app's exit status, as text such as `exit code 1` or
/// `signal 9, SIGKILL`.
#[derive(Debug, Clone)]
pub struct AppExit(watch::Receiver<Option<String>>);

impl AppExit {
    /// Returns how the app ended, or `None` while it runs.
    pub fn status(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Waits until the app ends and returns how it ended. Never returns
    /// while the app runs.
    pub async fn wait(&mut self) -> String {
        let status = match self.0.wait_for(Option::is_some).await {
            Ok(status) => status.clone(),
            Err(_) => None,
        };
        match status {
            Some(status) => status,
            // The watcher task ended without a status, which happens only
            // when the runtime shuts down.
            None => std::future::pending().await,
        }
    }
}

/// Describes an exit status in the words of the harness's messages.
fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return match nix::sys::signal::Signal::try_from(signal) {
                Ok(name) => format!("signal {signal}, {name}"),
                Err(_) => format!("signal {signal}"),
            };
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

/// Waits for the child to end and publishes how it ended. The task owns
/// the child, so that [`AppExit`] handles can watch it while the runner
/// keeps the [`AppProcess`]. The task kills the child when the returned
/// sender sends or is dropped.
fn watch_exit(mut child: Child) -> (AppExit, oneshot::Sender<()>) {
    let (sender, receiver) = watch::channel(None);
    let (kill, kill_requested) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let waited = tokio::select! {
            waited = child.wait() => waited,
            _ = kill_requested => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        let status = match waited {
            Ok(status) => describe_exit(status),
            Err(err) => format!("its status is unknown: {err}"),
        };
        let _ = sender.send(Some(status));
    });
    (AppExit(receiver), kill)
}

/// A running app started by the harness.
#[derive(Debug)]
pub struct AppProcess {
    /// The process group id, which is the child's pid.
    group: Option<i32>,
    pub base_url: String,
    pub log: Arc<Mutex<AppLog>>,
    pub exit: AppExit,
    /// Asks the task that owns the child to kill it.
    kill: Option<oneshot::Sender<()>>,
    stopped: bool,
}

impl AppProcess {
    /// Starts the app and waits until its readiness path responds with 2xx.
    pub async fn start(
        start: &StartConfig,
        dir: &std::path::Path,
        env: &LaunchEnv,
    ) -> Result<AppProcess, StartError> {
        let cwd: PathBuf = match &start.cwd {
            Some(cwd) => dir.join(cwd),
            None => dir.to_path_buf(),
        };
        let base_url = format!("http://127.0.0.1:{}", env.port);
        let port_env = start.port_env();

        let mut command = Command::new(&start.command[0]);
        command
            .args(&start.command[1..])
            .current_dir(&cwd)
            .envs(&start.env)
            .env("STRIPE_API_BASE", &env.api_base)
            .env("STRIPE_SECRET_KEY", &env.secret_key)
            .env("STRIPE_WEBHOOK_SECRET", &env.webhook_secret)
            .env(port_env, env.port.to_string())
            .env("APP_BASE_URL", &base_url)
            .env("FAKESTRIPE_JOB", env.job.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);

        let mut child = command.spawn().map_err(|source| StartError::Spawn {
            command: start.command.join(" "),
            cwd: cwd.display().to_string(),
            source,
        })?;
        let group = child.id().and_then(|id| i32::try_from(id).ok());
        let log = Arc::new(Mutex::new(AppLog::masking(&[
            &env.secret_key,
            &env.webhook_secret,
        ])));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect(stdout, 0, log.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect(stderr, 1, log.clone()));
        }
        tracing::info!(command = %start.command.join(" "), port = env.port, "starting the app");
        let ready_path = start.ready_path();
        let timeout = start.timeout();
        // A first start may build or install the app for minutes, so say
        // what is being waited for.
        errln!(
            "starting the app: {} (waiting up to {}s for GET {ready_path})",
            start.command.join(" "),
            timeout.as_secs()
        );

        let (exit, kill) = watch_exit(child);
        let mut app = AppProcess {
            group,
            base_url,
            log,
            exit,
            kill: Some(kill),
            stopped: false,
        };
        if let Err(err) = app.wait_ready(ready_path, timeout, port_env).await {
            app.stop().await;
            return Err(err);
        }
        Ok(app)
    }

    async fn wait_ready(
        &mut self,
        path: &str,
        timeout: Duration,
        port_env: &str,
    ) -> Result<(), StartError> {
        let url = format!("{}{path}", self.base_url);
        let client = reqwest::Client::builder()
            .timeout(READY_PROBE_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let started = Instant::now();
        loop {
            if let Some(status) = self.exit.status() {
                // Give the output readers a moment to take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(StartError::Exited {
                    status,
                    log: self.tail(30),
                });
            }
            let last = match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => format!("returned {}", response.status().as_u16()),
                // The usual cause is an app that listens on a port of its
                // own choosing.
                Err(err) if err.is_connect() => format!(
                    "was refused: nothing listens there; the app must listen on the port in ${port_env}"
                ),
                Err(err) if err.is_timeout() => format!(
                    "got no response within {} s: the app accepts connections but does not answer the ready check",
                    READY_PROBE_TIMEOUT.as_secs()
                ),
                Err(err) => format!("failed: {err}"),
            };
            if started.elapsed() >= timeout {
                return Err(StartError::Timeout {
                    seconds: timeout.as_secs(),
                    url,
                    last,
                    log: self.tail(30),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn tail(&self, max: usize) -> Vec<String> {
        self.log.lock().map(|log| log.tail(max)).unwrap_or_default()
    }

    /// Stops the app's process group: SIGTERM, then SIGKILL after five
    /// seconds.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        signal_group(self.group, false);
        let exited = tokio::time::timeout(Duration::from_secs(5), self.exit.wait()).await;
        if exited.is_err() {
            tracing::warn!("the app did not stop within 5s of SIGTERM; sending SIGKILL");
            signal_group(self.group, true);
            self.kill_child();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.exit.wait()).await;
        }
        // The group may still hold children of the app that outlived it.
        signal_group(self.group, true);
        tracing::info!("the app stopped");
    }

    fn kill_child(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if !self.stopped {
            signal_group(self.group, true);
            self.kill_child();
        }
    }
}

#[cfg(unix)]
fn signal_group(group: Option<i32>, kill: bool) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Some(group) = group else { return };
    let signal = if kill {
        Signal::SIGKILL
    } else {
        Signal::SIGTERM
    };
    // ESRCH means the group is already gone, which is the goal.
    let _ = killpg(Pid::from_raw(group), signal);
}

#[cfg(not(unix))]
fn signal_group(_group: Option<i32>, _kill: bool) {}

/// Reads the app's `stream` (0 for stdout, 1 for stderr) into `log` line
/// by line. The text after the last newline is kept as the unfinished
/// line, so output without a final newline still shows.
async fn collect(stream: impl AsyncRead + Unpin, index: usize, log: Arc<Mutex<AppLog>>) {
    let kept = log
        .lock()
        .map(|log| log.kept_bytes())
        .unwrap_or(MAX_LINE_BYTES);
    let mut reader = BufReader::new(stream);
    let mut colours = ColourFilter::default();
    let mut line = Vec::new();
    let mut dropped = false;
    // Bytes, not text: a line that is not UTF-8 must not end the reading,
    // or the pipe would close and the app's next write would kill it.
    loop {
        let chunk = match reader.fill_buf().await {
            Ok(chunk) if !chunk.is_empty() => chunk,
            _ => break,
        };
        let newline = chunk.iter().position(|byte| *byte == b'\n');
        let text_end = newline.unwrap_or(chunk.len());
        for &byte in &chunk[..text_end] {
            colours.feed(byte, &mut line);
        }
        if newline.is_some() {
            colours.flush(&mut line);
        }
        if line.len() > kept {
            line.truncate(kept);
            dropped = true;
        }
        reader.consume(newline.map_or(text_end, |at| at + 1));
        let Ok(mut log) = log.lock() else { break };
        // A read that added only the start of a colour code adds no text.
        if newline.is_some() || !line.is_empty() {
            log.write(
                index,
                without_carriage_returns(&line),
                dropped,
                newline.is_some(),
            );
        }
        if newline.is_some() {
            line.clear();
            dropped = false;
        }
    }
    if let Ok(mut log) = log.lock() {
        if colours.is_pending() {
            colours.flush(&mut line);
            log.write(index, without_carriage_returns(&line), dropped, false);
        }
        log.close(index);
    }
}

/// Returns `line` without the carriage returns at its end, which apps
/// that write `\r\n` leave before the newline.
fn without_carriage_returns(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|byte| *byte != b'\r')
        .map_or(0, |at| at + 1);
    &line[..end]
}

/// The maximum length of a colour code held back while it may still end
/// in `m`. A longer one is kept as text.
const MAX_COLOUR_CODE: usize = 32;

/// Removes the colour codes (`ESC [ … m`) that apps write to colour their
/// logs, which the reports would otherwise show as escapes. It reads byte
/// by byte, so it also removes a code that two reads split, and the limit
/// on a line's bytes counts the text without the codes.
#[derive(Debug, Default)]
struct ColourFilter {
    /// The start of what may be a colour code: ESC, `[`, then digits and
    /// semicolons.
    pending: Vec<u8>,
}

impl ColourFilter {
    /// Adds `byte` to `out`, unless it may belong to a colour code.
    fn feed(&mut self, byte: u8, out: &mut Vec<u8>) {
        match (self.pending.len(), byte) {
            (0, 0x1b) | (1, b'[') => self.pending.push(byte),
            (0, _) => out.push(byte),
            (2..MAX_COLOUR_CODE, b'0'..=b'9' | b';') => self.pending.push(byte),
            (2.., b'm') => self.pending.clear(),
            _ => {
                // Not a colour code: keep the escape for the report to
                // show, and read the byte afresh.
                self.flush(out);
                self.feed(byte, out);
            }
        }
    }

    /// Adds the bytes held back to `out`, at the end of a line.
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.pending);
    }

    fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `chunks` through a colour filter, each ending a read, and
    /// returns the text.
    fn filtered(chunks: &[&str]) -> String {
        let mut filter = ColourFilter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            for byte in chunk.bytes() {
                filter.feed(byte, &mut out);
            }
        }
        filter.flush(&mut out);
        String::from_utf8(out).expect("the filter keeps UTF-8 whole")
    }

    #[test]
    fn colour_codes_are_removed() {
        assert_eq!(
            filtered(&["\u{1b}[35mINFO\u{1b}[0m ready \u{1b}[1;31mx\u{1b}[m"]),
            "INFO ready x"
        );
        assert_eq!(filtered(&["a\u{1b}[2Kb"]), "a\u{1b}[2Kb");
        assert_eq!(filtered(&["tail \u{1b}["]), "tail \u{1b}[");
        assert_eq!(filtered(&["a\u{1b}[12\u{1b}[0mb"]), "a\u{1b}[12b");
    }

    #[test]
    fn colour_code_split_between_reads() {
        assert_eq!(filtered(&["red \u{1b}", "[3", "1mtext"]), "red text");
    }

    #[test]
    fn long_digit_run_kept_as_text() {
        let digits = "1".repeat(MAX_COLOUR_CODE + 5);
        let text = format!("\u{1b}[{digits}m");
        assert_eq!(filtered(&[&text]), text);
    }

    fn finished(log: &mut AppLog, stream: usize, text: &str) {
        log.write(stream, text.as_bytes(), false, true);
    }

    #[test]
    fn log_since_mark() {
        let mut log = AppLog::default();
        finished(&mut log, 0, "a");
        let mark = log.mark();
        finished(&mut log, 0, "b");
        finished(&mut log, 1, "c");
        assert_eq!(log.since(mark, 10), vec!["b", "c"]);
        assert_eq!(log.since(mark, 1), vec!["c"]);
        assert_eq!(log.tail(10), vec!["a", "b", "c"]);
    }

    #[test]
    fn unfinished_line_stays_before_mark() {
        let mut log = AppLog::default();
        log.write(1, b"booting", false, false);
        let mark = log.mark();
        finished(&mut log, 0, "reset");

        assert_eq!(log.since(mark, 10), vec!["reset"]);
        log.write(1, b"booting done", false, true);
        assert_eq!(log.since(mark, 10), vec!["reset"]);
        assert_eq!(log.tail(10), vec!["booting done", "reset"]);
    }

    #[test]
    fn unfinished_line_after_mark_shown() {
        let mut log = AppLog::default();
        finished(&mut log, 0, "a");
        let mark = log.mark();
        log.write(1, b"partial", false, false);
        finished(&mut log, 0, "b");

        assert_eq!(log.since(mark, 10), vec!["partial", "b"]);
        log.close(1);
        assert_eq!(log.since(mark, 10), vec!["partial", "b"]);
    }

    #[test]
    fn secret_across_cut_masked() {
        let secret = "sk_test_0123456789abcdefghijklmnopqrstuv";
        let log = AppLog::masking(&[secret]);
        // Every character of the secret but the last falls before the cut.
        let line = format!("{}{secret}", "x".repeat(MAX_LINE_BYTES - secret.len() + 1));

        let text = log.render(line.as_bytes(), false);
        assert!(text.ends_with(CUT_MARK), "{text}");
        assert!(!text.contains(&secret[..20]), "{text}");
        assert!(text.contains("sk_test_****"), "{text}");
        assert_eq!(text.len(), MAX_LINE_BYTES + CUT_MARK.len());
    }

    /// An app that exits in the middle of writing a secret leaves its
    /// start at the end of an unfinished line. All of it past the prefix a
    /// mask shows is hidden, in the line as kept and as shown.
    #[test]
    fn start_of_secret_at_line_end_masked() {
        let key = "sk_test_fakestripe_0123456789abcdef";
        let hook = "whsec_0123456789abcdefghij";
        let mut log = AppLog::masking(&[key, hook]);
        let key_line = format!("key={}", &key[..key.len() - 3]);
        let hook_line = format!("hook={}", &hook[..hook.len() - 2]);
        log.write(0, key_line.as_bytes(), false, false);
        log.write(1, hook_line.as_bytes(), false, false);
        let shown = log.tail(2);
        assert_eq!(
            shown,
            vec![
                format!("key=sk_test_{}", "*".repeat(key.len() - 11)),
                format!("hook=whsec_01{}", "*".repeat(hook.len() - 10)),
            ]
        );
        log.close(0);
        log.close(1);
        assert_eq!(log.tail(2), shown);
        // What a mask shows of a secret, and other text, is left alone.
        let mut plain = AppLog::masking(&[key]);
        plain.write(0, b"sk_test_ and sk_test_", false, true);
        assert_eq!(plain.tail(1), vec!["sk_test_ and sk_test_"]);
    }

    #[test]
    fn line_at_limit_not_marked() {
        let log = AppLog::default();
        let line = "y".repeat(MAX_LINE_BYTES);
        assert_eq!(log.render(line.as_bytes(), false), line);
        assert!(log.render(line.as_bytes(), true).ends_with(CUT_MARK));
    }
}
