//! SIGINT, SIGTERM and SIGHUP sent to `fakestripe run` and `fakestripe
//! fuzz`: each stops the app's process group, which runs apart from the
//! harness's, and the command exits with code 130. SIGKILL sent to the app
//! during a run, or an app that exits by itself during `fakestripe fuzz`:
//! the harness reports that the app exited, and exits with code 3. The app
//! is a small Python server that starts a child process of its own, so the
//! test can check that the whole group ended.

#![cfg(unix)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

mod scratch;

const BINARY: &str = env!("CARGO_BIN_EXE_fakestripe");

/// The app. It writes its pid and its child's to `pids`, then serves
/// `GET /healthz` and a `POST /checkout` that creates `checkout-received`
/// and never returns a response. `POST /_reset` prints `reset N` for the
/// Nth request, except the second, on which the app exits with code 5
/// without a word. Any other POST gets a 500 at once. With `--never-ready`
/// it serves nothing, and with `--booting` it first writes `booting` to
/// stderr without a newline.
const APP: &str = r#"
import http.server, os, subprocess, sys, time

resets = 0

if "--booting" in sys.argv:
    sys.stderr.write("booting")
    sys.stderr.flush()

child = subprocess.Popen(["sleep", "600"])
with open("pids.tmp", "w") as pids:
    pids.write(f"{os.getpid()} {child.pid}")
os.rename("pids.tmp", "pids")
if "--never-ready" in sys.argv:
    time.sleep(600)
print("serving on port", os.environ["PORT"], flush=True)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        global resets
        if self.path == "/_reset":
            resets += 1
            if resets == 2:
                os._exit(5)
            print("reset", resets, flush=True)
            self.send_response(204)
            self.end_headers()
            return
        if self.path != "/checkout":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        open("checkout-received", "w").close()
        time.sleep(600)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.serve_forever()
"#;

const SCENARIO: &str = "version: 1\nsteps:\n  - checkout: { order: O-1 }\n";

/// Creates a folder with the app, its fakestripe.yaml and a scenario, and
/// returns its path.
fn app_folder(label: &str, never_ready: bool) -> scratch::Scratch {
    let dir = scratch::scratch("signals", label);
    std::fs::write(dir.join("app.py"), APP).expect("the app is written");
    let argument = if never_ready {
        ", \"--never-ready\""
    } else {
        ""
    };
    let app_file = format!(
        "\
version: 1
name: signals
start:
  command: [\"python3\", \"app.py\"{argument}]
  ready: /healthz
  timeout_seconds: 120
webhook_path: /hooks
checkout: {{ request: {{ method: POST, path: /checkout, json: {{ id: \"{{{{order_id}}}}\" }} }} }}
order:
  request: {{ path: \"/orders/{{{{order_id}}}}\" }}
  status: /state
  status_map: {{ paid: [done] }}
"
    );
    std::fs::write(dir.join("fakestripe.yaml"), app_file).expect("the app file is written");
    std::fs::write(dir.join("scenario.yaml"), SCENARIO).expect("the scenario is written");
    dir
}

/// Starts `fakestripe` with `args` in `dir`, its output going to files
/// there.
fn start(dir: &Path, args: &[&str]) -> Child {
    let stdout = std::fs::File::create(dir.join("stdout")).expect("stdout is writable");
    let stderr = std::fs::File::create(dir.join("stderr")).expect("stderr is writable");
    Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("fakestripe starts")
}

fn output(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!("stdout:\n{}\nstderr:\n{}", read("stdout"), read("stderr"))
}

/// The pids of the app and of its child, ended by SIGKILL on drop if a
/// check failed before the harness stopped them.
struct AppPids(Vec<Pid>);

impl Drop for AppPids {
    fn drop(&mut self) {
        for pid in &self.0 {
            if running(*pid) {
                let _ = kill(*pid, Signal::SIGKILL);
            }
        }
    }
}

/// Waits until `file` exists in `dir`, while `harness` runs.
#[track_caller]
fn wait_for_file(dir: &Path, file: &str, harness: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join(file).exists() {
        if let Some(status) = harness.try_wait().expect("the harness can be polled") {
            panic!(
                "fakestripe exited with {status} before {file} existed\n{}",
                output(dir)
            );
        }
        assert!(
            Instant::now() < deadline,
            "no {file} after 60 s\n{}",
            output(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads the app's pids, once it wrote them.
fn app_pids(dir: &Path, harness: &mut Child) -> AppPids {
    wait_for_file(dir, "pids", harness);
    let text = std::fs::read_to_string(dir.join("pids")).expect("the pids are readable");
    let pids = text
        .split_whitespace()
        .map(|pid| Pid::from_raw(pid.parse().expect("a pid is a number")))
        .collect();
    AppPids(pids)
}

/// Returns whether `pid` names a process that has not ended. A zombie has
/// ended, and waits only for its parent to read its status.
fn running(pid: Pid) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in brackets.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Sends `signal` to the harness and checks that it exits with 130 and
/// that the app and its child ended.
#[track_caller]
fn signal_stops_everything(dir: &Path, mut harness: Child, pids: &AppPids, signal: Signal) {
    let harness_pid = Pid::from_raw(harness.id() as i32);
    kill(harness_pid, signal).expect("the signal is sent");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = harness.try_wait().expect("the harness can be polled") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = harness.kill();
            panic!("fakestripe ran on 30 s after {signal}\n{}", output(dir));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(130),
        "{signal}: {status}\n{}",
        output(dir)
    );
    // The harness sent SIGKILL to the group before it exited, but the
    // kernel may take a moment to end each process.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.0.iter().any(|pid| running(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in &pids.0 {
        assert!(
            !running(*pid),
            "{signal}: process {pid} of the app still runs\n{}",
            output(dir)
        );
    }
}

/// A signal while a scenario waits for the app: SIGTERM and SIGHUP stop
/// at once, without waiting for the checkout request that never ends.
#[test]
fn term_and_hup_stop_running_scenario() {
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        let dir = app_folder(&format!("running-{signal}"), false);
        let mut harness = start(&dir, &["run", "scenario.yaml", "--app", "fakestripe.yaml"]);
        let pids = app_pids(&dir, &mut harness);
        wait_for_file(&dir, "checkout-received", &mut harness);
        signal_stops_everything(&dir, harness, &pids, signal);
        let text = output(&dir);
        assert!(
            text.contains(&format!("stopping on {signal} without finishing")),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A signal while the harness waits for the app to be ready.
#[test]
fn signal_while_starting_stops_app() {
    let cases = [
        ("run", Signal::SIGINT),
        ("run", Signal::SIGTERM),
        ("run", Signal::SIGHUP),
        ("fuzz", Signal::SIGTERM),
        // One Ctrl-C stops at once, as no case runs that could finish.
        ("fuzz", Signal::SIGINT),
    ];
    for (command, signal) in cases {
        let dir = app_folder(&format!("starting-{command}-{signal}"), true);
        let args: &[&str] = match command {
            "run" => &["run", "scenario.yaml", "--app", "fakestripe.yaml"],
            _ => &[
                "fuzz",
                "--cases",
                "1",
                "--app",
                "fakestripe.yaml",
                "--out",
                "failure.yaml",
            ],
        };
        let mut harness = start(&dir, args);
        let pids = app_pids(&dir, &mut harness);
        signal_stops_everything(&dir, harness, &pids, signal);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The arguments of a run of every scenario in the folder that also
/// writes `report.json`.
const RUN_WITH_JSON: &[&str] = &[
    "run",
    ".",
    "--app",
    "fakestripe.yaml",
    "--json",
    "report.json",
];

/// Returns the text of `report.json` in `dir` and its parsed JSON.
fn json_report(dir: &Path) -> (String, serde_json::Value) {
    let json = std::fs::read_to_string(dir.join("report.json")).expect("the JSON report exists");
    let report = serde_json::from_str(&json).expect("the report is JSON");
    (json, report)
}

/// A scenario that passes without calling the app: it only moves the
/// clock.
const PASSING: &str = "version: 1\nsteps:\n  - advance: 1s\n";

/// Waits until the harness's stderr contains `text`, while it runs.
#[track_caller]
fn wait_for_stderr(dir: &Path, text: &str, harness: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
        if stderr.contains(text) {
            return;
        }
        if let Some(status) = harness.try_wait().expect("the harness can be polled") {
            panic!(
                "fakestripe exited with {status} before printing {text:?}\n{}",
                output(dir)
            );
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} after 60 s\n{}",
            output(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Returns the value of the attribute `name` in the first `tag` element of
/// `xml`.
fn attribute<'a>(xml: &'a str, tag: &str, name: &str) -> &'a str {
    let element = &xml[xml.find(&format!("<{tag} ")).expect("the element exists")..];
    let element = &element[..element.find('>').expect("the element ends")];
    let value = &element[element
        .find(&format!(" {name}=\""))
        .expect("the attribute exists")
        + name.len()
        + 3..];
    &value[..value.find('"').expect("the attribute ends")]
}

/// A signal stops the run while a scenario waits for the app, after three
/// scenarios passed. The summary line, the JSON report and the JUnit report
/// count the three and report the run as interrupted. They list the running
/// scenario as stopped and the one after it as not run.
#[test]
fn stop_counts_finished_scenarios() {
    // Two SIGINTs: the first lets the running scenario finish, and the
    // second stops at once.
    let cases: [&[Signal]; 3] = [
        &[Signal::SIGTERM],
        &[Signal::SIGHUP],
        &[Signal::SIGINT, Signal::SIGINT],
    ];
    for signals in cases {
        let last = *signals.last().expect("each case sends a signal");
        let dir = app_folder(&format!("counts-{}-{last}", signals.len()), false);
        for name in ["a-1.yaml", "a-2.yaml", "a-3.yaml"] {
            std::fs::write(dir.join(name), PASSING).expect("the scenario is written");
        }
        // Files run in name order, so `scenario.yaml`, whose checkout
        // never gets a response, runs after the three and before this one.
        std::fs::write(dir.join("z-after.yaml"), PASSING).expect("the scenario is written");
        let args = [RUN_WITH_JSON, &["--junit", "report.xml"]].concat();
        let mut harness = start(&dir, &args);
        let pids = app_pids(&dir, &mut harness);
        wait_for_file(&dir, "checkout-received", &mut harness);
        for signal in &signals[..signals.len() - 1] {
            kill(Pid::from_raw(harness.id() as i32), *signal).expect("the signal is sent");
            wait_for_stderr(&dir, "press Ctrl-C again", &mut harness);
        }
        signal_stops_everything(&dir, harness, &pids, last);
        let text = output(&dir);

        assert!(
            text.contains("3 scenarios run: 3 passed, 0 failed, 2 skipped (interrupted)"),
            "{signals:?}: {text}"
        );
        assert!(
            text.contains("STOPPED [       ] ./scenario.yaml"),
            "{signals:?}: {text}"
        );
        assert!(
            text.contains("SKIP [       ] ./z-after.yaml"),
            "{signals:?}: {text}"
        );

        let (json, report) = json_report(&dir);
        let summary = &report["summary"];
        assert_eq!(summary["passed"], 3, "{signals:?}: {json}");
        assert_eq!(summary["failed"], 0, "{signals:?}: {json}");
        assert_eq!(summary["skipped"], 2, "{signals:?}: {json}");
        assert_eq!(summary["interrupted"], true, "{signals:?}: {json}");
        let duration = summary["duration"]
            .as_f64()
            .expect("the duration is a number");
        assert!(duration > 0.0, "{signals:?}: {json}");
        let results = report["scenarios"]
            .as_array()
            .expect("the results are a list");
        assert_eq!(results.len(), 3, "{signals:?}: {json}");
        assert_eq!(
            report["skipped"],
            serde_json::json!(["./scenario.yaml", "./z-after.yaml"]),
            "{signals:?}: {json}"
        );
        assert_eq!(
            report["stopped"],
            serde_json::json!(["./scenario.yaml"]),
            "{signals:?}: {json}"
        );

        let xml = std::fs::read_to_string(dir.join("report.xml")).expect("the JUnit report exists");
        assert_eq!(
            attribute(&xml, "testsuite", "tests"),
            "5",
            "{signals:?}: {xml}"
        );
        assert_eq!(
            attribute(&xml, "testsuite", "skipped"),
            "2",
            "{signals:?}: {xml}"
        );
        let time: f64 = attribute(&xml, "testsuite", "time")
            .parse()
            .expect("the time is a number");
        assert!(time > 0.0, "{signals:?}: {xml}");
        assert!(
            xml.contains("<skipped message=\"stopped before it finished\"/>"),
            "{signals:?}: {xml}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The app dies while a scenario waits for it: the harness reports that
/// the app exited and how, fails the running scenario with the app's last
/// output, skips the scenarios after it, and exits with code 3.
#[test]
fn app_killed_during_run_exits_3() {
    let dir = app_folder("app-killed", false);
    std::fs::write(dir.join("a-1.yaml"), PASSING).expect("the scenario is written");
    std::fs::write(dir.join("z-after.yaml"), PASSING).expect("the scenario is written");
    let args = [RUN_WITH_JSON, &["--junit", "report.xml"]].concat();
    let mut harness = start(&dir, &args);
    let pids = app_pids(&dir, &mut harness);
    wait_for_file(&dir, "checkout-received", &mut harness);
    kill(pids.0[0], Signal::SIGKILL).expect("the signal is sent");

    let status = wait_for_exit(&dir, &mut harness, Duration::from_secs(60));
    let text = output(&dir);
    assert_eq!(status.code(), Some(3), "{text}");
    assert!(
        text.contains("harness: the app exited (signal 9, SIGKILL) while the scenario ran"),
        "{text}"
    );
    assert!(text.contains("    | serving on port "), "{text}");
    assert!(
        text.contains("2 scenarios run: 1 passed, 1 failed, 1 skipped (the app exited)"),
        "{text}"
    );
    assert!(text.contains("SKIP [       ] ./z-after.yaml"), "{text}");
    assert!(
        text.contains(
            "error: the app exited (signal 9, SIGKILL) while ./scenario.yaml ran; its last output:\n    serving on port "
        ),
        "{text}"
    );

    let (json, report) = json_report(&dir);
    assert_eq!(report["summary"]["app_exited"], true, "{json}");
    assert_eq!(report["summary"]["interrupted"], false, "{json}");
    assert_eq!(
        report["skipped"],
        serde_json::json!(["./z-after.yaml"]),
        "{json}"
    );

    // The JUnit case of the scenario that was running carries the app's
    // output too, as the terminal and JSON reports do.
    let xml = std::fs::read_to_string(dir.join("report.xml")).expect("the JUnit report exists");
    let case_start = xml
        .find("<testcase name=\"scenario.yaml\"")
        .expect("the running scenario has a test case");
    let case = &xml[case_start..];
    let case = &case[..case.find("</testcase>").expect("the test case ends")];
    assert!(case.contains("<failure "), "{xml}");
    let system_out = case
        .split("<system-out>")
        .nth(1)
        .expect("the test case has system-out");
    assert!(system_out.starts_with("app output "), "{xml}");
    assert!(system_out.contains("  | serving on port "), "{xml}");
    // The app's child, `sleep`, is in the app's process group, which the
    // harness ends when it stops.
    assert_ends(pids.0[1], &text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Adds a `reset` request to the app file in `dir` and a passing
/// `a-2.yaml`, and runs every scenario in `dir`, on which the app exits on
/// the second reset. Checks that the run exits with code 3, and returns
/// the harness's output and the app's pids.
fn run_until_second_reset(dir: &Path) -> (String, AppPids) {
    let app_file = dir.join("fakestripe.yaml");
    let mut text = std::fs::read_to_string(&app_file).expect("the app file is readable");
    text.push_str("reset: { method: POST, path: /_reset }\n");
    std::fs::write(&app_file, text).expect("the app file is written");
    std::fs::write(dir.join("a-2.yaml"), PASSING).expect("the scenario is written");
    let mut harness = start(dir, RUN_WITH_JSON);
    let pids = app_pids(dir, &mut harness);

    let status = wait_for_exit(dir, &mut harness, Duration::from_secs(60));
    let text = output(dir);
    assert_eq!(status.code(), Some(3), "{text}");
    (text, pids)
}

/// The app exits on the reset request of the second scenario, without a
/// line of output. The failure shows the app's earlier lines under a
/// heading that places them before that reset, and the JSON report marks
/// them so.
#[test]
fn app_exit_on_reset_output_heading() {
    let dir = app_folder("exit-on-reset", false);
    std::fs::remove_file(dir.join("scenario.yaml")).expect("the scenario is removed");
    std::fs::write(dir.join("a-1.yaml"), PASSING).expect("the scenario is written");
    let (text, pids) = run_until_second_reset(&dir);
    assert!(
        text.contains("harness: the app exited (exit code 5) before the scenario's first step"),
        "{text}"
    );
    assert!(
        text.contains(
            "  app output from before the scenario's reset (last 2 lines); the app wrote none after it:\n    | serving on port "
        ),
        "{text}"
    );
    assert!(text.contains("\n    | reset 1\n"), "{text}");
    assert!(!text.contains("app output during the scenario"), "{text}");
    // The closing message places the exit where the failure does.
    assert!(
        text.contains(
            "error: the app exited (exit code 5) before the first step of ./a-2.yaml; its last output:"
        ),
        "{text}"
    );
    assert!(!text.contains("while ./a-2.yaml ran"), "{text}");

    let (json, report) = json_report(&dir);
    let failed = &report["scenarios"][1];
    assert_eq!(failed["passed"], false, "{json}");
    assert_eq!(failed["app_output_span"], "before_reset", "{json}");
    assert_eq!(failed["app_output"][1], "reset 1", "{json}");
    assert_eq!(
        report["scenarios"][0]["app_output_span"], "scenario",
        "{json}"
    );
    assert_ends(pids.0[1], &text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The app writes `booting` without a newline when it starts, fails the
/// checkout of the first scenario, and exits on the reset of the second.
/// The unfinished line belongs before both scenarios: the first one's
/// output leaves it out, and the second one's shows the app's output from
/// before its reset, which has the line.
#[test]
fn unfinished_startup_line_before_reset() {
    let dir = app_folder("booting", false);
    let app_file = dir.join("fakestripe.yaml");
    let text = std::fs::read_to_string(&app_file).expect("the app file is readable");
    let changed = text
        .replace("\"app.py\"]", "\"app.py\", \"--booting\"]")
        .replace("path: /checkout", "path: /refuse");
    assert!(
        changed.contains("--booting") && changed.contains("/refuse"),
        "the app file changed shape:\n{text}"
    );
    std::fs::write(&app_file, changed).expect("the app file is written");
    std::fs::rename(dir.join("scenario.yaml"), dir.join("a-1.yaml"))
        .expect("the scenario is renamed");
    let (text, pids) = run_until_second_reset(&dir);
    let (json, report) = json_report(&dir);
    let checkout_failed = &report["scenarios"][0];
    assert_eq!(checkout_failed["passed"], false, "{json}");
    assert_eq!(checkout_failed["app_output_span"], "scenario", "{json}");
    assert_eq!(
        checkout_failed["app_output"],
        serde_json::json!(["reset 1"]),
        "{json}"
    );

    let exited = &report["scenarios"][1];
    assert_eq!(exited["passed"], false, "{json}");
    assert_eq!(exited["app_output_span"], "before_reset", "{json}");
    assert_eq!(exited["app_output"][0], "booting", "{json}");
    assert!(
        text.contains("app output from before the scenario's reset"),
        "{text}"
    );
    assert!(
        text.contains(
            "error: the app exited (exit code 5) before the first step of ./a-2.yaml; its last output:\n    booting\n"
        ),
        "{text}"
    );
    assert_ends(pids.0[1], &text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits up to `limit` for the harness to exit, and returns its status.
#[track_caller]
fn wait_for_exit(dir: &Path, harness: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = harness.try_wait().expect("the harness can be polled") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = harness.kill();
            panic!(
                "fakestripe ran on {} s after the app died\n{}",
                limit.as_secs(),
                output(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that `pid` ends within 5 seconds. The harness sent SIGKILL to the
/// app's group before it exited, but the kernel may take a moment to end
/// each process.
#[track_caller]
fn assert_ends(pid: Pid, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(pid), "process {pid} of the app still runs\n{text}");
}

/// A proxy in front of the reference shop, started as the app. It starts
/// the shop with `cargo run` in the workspace root (the first argument) on
/// a free port, writes its own pid and cargo's to `pids`, and forwards
/// every request but one `POST /checkout`: with `--hold-at N` or
/// `--exit-at N` the Nth, and with `--hold-after TEXT` or `--exit-after
/// TEXT` the first after the file `stdout` contains TEXT. With a `--hold-…`
/// mode that request gets no response, and the proxy creates
/// `checkout-held` when it receives it. With an `--exit-…` mode the proxy
/// prints `exiting at checkout N` and exits with code 7, leaving the shop
/// running in its process group.
const SHOP_PROXY: &str = r#"
import http.client, http.server, os, socket, subprocess, sys, threading, time

root, mode, value = sys.argv[1], sys.argv[2], sys.argv[3]
action, trigger = mode[2:].split("-")
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    shop_port = probe.getsockname()[1]
shop = subprocess.Popen(
    ["cargo", "run", "--quiet", "-p", "shop-rust"],
    cwd=root,
    env=dict(os.environ, PORT=str(shop_port)),
)
with open("pids.tmp", "w") as pids:
    pids.write(f"{os.getpid()} {shop.pid}")
os.rename("pids.tmp", "pids")

lock = threading.Lock()
checkouts = 0
checkout_picked = False

def pick_this_checkout():
    global checkouts, checkout_picked
    with lock:
        checkouts += 1
        if checkout_picked:
            return False
        if trigger == "at":
            checkout_picked = checkouts == int(value)
        else:
            with open("stdout") as output:
                checkout_picked = value in output.read()
        return checkout_picked

class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.command == "POST" and self.path == "/checkout" and pick_this_checkout():
            if action == "exit":
                print(f"exiting at checkout {checkouts}", flush=True)
                # The harness reads the line before the exit ends the
                # checkout request.
                time.sleep(0.5)
                os._exit(7)
            open("checkout-held", "w").close()
            time.sleep(600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        try:
            shop_connection = http.client.HTTPConnection("127.0.0.1", shop_port, timeout=60)
            shop_connection.request(self.command, self.path, body, headers)
            response = shop_connection.getresponse()
            data = response.read()
        except OSError:
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(response.status)
        for name, header in response.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, header)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = forward

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Proxy)
server.serve_forever()
"#;

/// Creates a folder with the proxy and a copy of the shop's fakestripe.yaml
/// that starts it with `proxy_args`, with the bug switch `bug` on if given,
/// and returns its path.
fn shop_proxy_folder(label: &str, bug: Option<&str>, proxy_args: &[&str]) -> scratch::Scratch {
    let dir = scratch::scratch("signals", label);
    std::fs::write(dir.join("proxy.py"), SHOP_PROXY).expect("the proxy is written");

    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits in the workspace");
    let shop_app = root.join("examples/shop-rust/fakestripe.yaml");
    let text = std::fs::read_to_string(shop_app).expect("the shop's fakestripe.yaml exists");
    let mut command = vec![
        "python3".to_owned(),
        "proxy.py".to_owned(),
        root.display().to_string(),
    ];
    command.extend(proxy_args.iter().map(|arg| (*arg).to_owned()));
    let command = serde_json::to_string(&command).expect("the command is JSON");

    let env = match bug {
        Some(bug) => format!("env: {{ RUST_LOG: warn, SHOP_BUG: {bug} }}"),
        None => "env: { RUST_LOG: warn }".to_owned(),
    };
    let changed = text
        .replace(
            r#"command: ["cargo", "run", "--quiet", "-p", "shop-rust"]"#,
            &format!("command: {command}"),
        )
        .replace("cwd: ../..", &format!("cwd: {}", dir.display()))
        .replace("env: { RUST_LOG: warn }", &env);
    assert!(
        changed.contains("proxy.py") && changed.contains(&env),
        "the shop's fakestripe.yaml changed shape:\n{text}"
    );
    std::fs::write(dir.join("fakestripe.yaml"), changed).expect("the app file is written");
    dir
}

/// A stop at once while a fuzz case waits for the app, after two cases
/// passed: the report counts the two, names the stopped case and the seed,
/// and the exit code is 130.
#[test]
fn fuzz_stop_counts_finished_cases() {
    // Two SIGINTs: the first lets the running case finish, and the second
    // stops at once.
    let cases: [&[Signal]; 2] = [&[Signal::SIGTERM], &[Signal::SIGINT, Signal::SIGINT]];
    for signals in cases {
        let last = *signals.last().expect("each case sends a signal");
        // The probe of the card flow sends the first checkout, and case N
        // the checkout N + 1, so case 3 waits.
        let dir = shop_proxy_folder(
            &format!("fuzz-cases-{}-{last}", signals.len()),
            None,
            &["--hold-at", "4"],
        );
        let mut harness = start_fuzz(&dir, "5");
        let pids = app_pids(&dir, &mut harness);
        wait_for_file(&dir, "checkout-held", &mut harness);
        for signal in &signals[..signals.len() - 1] {
            kill(Pid::from_raw(harness.id() as i32), *signal).expect("the signal is sent");
            wait_for_stderr(&dir, "press Ctrl-C again", &mut harness);
        }
        signal_stops_everything(&dir, harness, &pids, last);
        let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
        let text = output(&dir);

        assert!(
            stdout.contains("STOPPED 2 of 50 cases passed"),
            "{signals:?}: {text}"
        );
        assert!(
            stdout.contains("Case 3 was stopped before it finished."),
            "{signals:?}: {text}"
        );
        assert!(stdout.trim_end().ends_with("seed 5"), "{signals:?}: {text}");
        assert!(!dir.join("failure.yaml").exists(), "{signals:?}: {text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Starts `fakestripe fuzz` on the card flow in `dir`, 50 cases from
/// `seed`, writing a failure to `failure.yaml`.
fn start_fuzz(dir: &Path, seed: &str) -> Child {
    start(
        dir,
        &[
            "fuzz",
            "--app",
            "fakestripe.yaml",
            "--flow",
            "card",
            "--cases",
            "50",
            "--seed",
            seed,
            "--out",
            "failure.yaml",
            "--junit",
            "report.xml",
        ],
    )
}

/// SIGTERM while a failure shrinks: the report shows the failing case and
/// the smallest schedule so far, which is written to --out, and the exit
/// code is 130.
#[test]
fn fuzz_stop_writes_shrunk_failure() {
    // The proxy sends no response to the first checkout of shrinking, which
    // starts after the harness prints "Shrinking".
    let dir = shop_proxy_folder(
        "fuzz-shrink",
        Some("redirect-fulfils-too"),
        &["--hold-after", "Shrinking"],
    );
    let mut harness = start_fuzz(&dir, "21");
    let pids = app_pids(&dir, &mut harness);
    wait_for_file(&dir, "checkout-held", &mut harness);
    signal_stops_everything(&dir, harness, &pids, Signal::SIGTERM);
    let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
    let text = output(&dir);

    assert!(stdout.contains("FAIL case "), "{text}");
    assert!(stdout.contains("Smallest schedule:"), "{text}");
    assert!(stdout.contains("timeline (virtual time"), "{text}");
    assert!(
        stdout.contains("Shrinking was stopped, so a smaller schedule may still fail"),
        "{text}"
    );
    assert!(
        stdout.contains("Wrote failure.yaml; the run was stopped before running it again."),
        "{text}"
    );
    assert!(stdout.trim_end().ends_with("seed 21"), "{text}");
    let written =
        std::fs::read_to_string(dir.join("failure.yaml")).expect("the scenario file was written");
    assert!(written.contains("- checkout: { order: O-1 }"), "{written}");
    // Cases ran, so the report of the stopped run is written.
    assert!(dir.join("report.xml").exists(), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One Ctrl-C while the fuzzer probes the flows, with the app holding the
/// probe's checkout request: the fuzzer stops at once, without waiting for
/// the request or probing on, ends the app and exits with code 130.
#[test]
fn fuzz_interrupt_while_probing() {
    let dir = app_folder("fuzz-probing", false);
    let mut harness = start_fuzz(&dir, "5");
    let pids = app_pids(&dir, &mut harness);
    wait_for_file(&dir, "checkout-received", &mut harness);
    let sent = Instant::now();
    signal_stops_everything(&dir, harness, &pids, Signal::SIGINT);
    let (stdout, stderr) = read_output(&dir);
    let text = output(&dir);

    // The app never responds, and the harness waits 30 s for a response.
    assert!(sent.elapsed() < Duration::from_secs(10), "{text}");
    assert!(
        stderr.contains("interrupted by SIGINT before the first case; stopping"),
        "{text}"
    );
    assert!(!stderr.contains("finishing the running case"), "{text}");
    assert!(!stderr.contains("no flow runs"), "{text}");
    assert!(stdout.contains("STOPPED 0 of 50 cases passed"), "{text}");
    assert!(stdout.trim_end().ends_with("seed 5"), "{text}");
    // No case ran, so no report is written, as `fakestripe run` writes
    // none when stopped while its apps start.
    assert!(!dir.join("report.xml").exists(), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `fakestripe fuzz` as [`start_fuzz`] does, with `seed`, until it
/// exits by itself. Returns its exit status and the app's pids.
fn fuzz_until_exit(dir: &Path, seed: &str) -> (std::process::ExitStatus, AppPids) {
    let mut harness = start_fuzz(dir, seed);
    let pids = app_pids(dir, &mut harness);
    let status = wait_for_exit(dir, &mut harness, Duration::from_secs(120));
    (status, pids)
}

/// Returns the harness's stdout and stderr, as written to files in `dir`.
fn read_output(dir: &Path) -> (String, String) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    (read("stdout"), read("stderr"))
}

/// The app exits while the fuzzer probes the flows, and while it runs case
/// 3. The report names the exit code and the app's last output, and counts
/// the cases that passed before. It reports no failure, nothing is shrunk,
/// and the exit code is 3.
#[test]
fn fuzz_app_exit_during_case_exits_3() {
    // The probe of the card flow sends the first checkout, and case N the
    // checkout N + 1.
    let cases = [
        (
            "1",
            "while the flows were probed",
            "STOPPED 0 of 50 cases passed",
        ),
        ("4", "while case 3 ran", "STOPPED 2 of 50 cases passed"),
    ];
    for (checkout, when, summary) in cases {
        let dir = shop_proxy_folder(
            &format!("fuzz-exit-{checkout}"),
            None,
            &["--exit-at", checkout],
        );
        let (status, pids) = fuzz_until_exit(&dir, "5");
        let (stdout, stderr) = read_output(&dir);
        let text = output(&dir);

        assert_eq!(status.code(), Some(3), "{when}: {text}");
        assert!(
            stderr.contains(&format!(
                "error: the app exited (exit code 7) {when}; its last output:"
            )),
            "{when}: {text}"
        );
        assert!(
            stderr.contains(&format!("\n    exiting at checkout {checkout}")),
            "{when}: {text}"
        );
        assert!(stdout.contains(&format!("{summary} in ")), "{when}: {text}");
        assert!(stdout.contains(", then the app exited\n"), "{when}: {text}");
        assert!(!stdout.contains("FAIL"), "{when}: {text}");
        assert!(!stdout.contains("Shrinking"), "{when}: {text}");
        assert!(!stderr.contains("no flow runs"), "{when}: {text}");
        assert!(!dir.join("failure.yaml").exists(), "{when}: {text}");
        assert!(stdout.trim_end().ends_with("seed 5"), "{when}: {text}");
        assert_ends(pids.0[1], &text);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The app exits while a failure shrinks: the report shows the failing
/// case and the smallest schedule so far, which is written to --out but
/// not run again, then how the app exited, and the exit code is 3.
#[test]
fn fuzz_app_exit_while_shrinking_exits_3() {
    let dir = shop_proxy_folder(
        "fuzz-exit-shrink",
        Some("redirect-fulfils-too"),
        &["--exit-after", "Shrinking"],
    );
    let (status, pids) = fuzz_until_exit(&dir, "21");
    let (stdout, stderr) = read_output(&dir);
    let text = output(&dir);

    assert_eq!(status.code(), Some(3), "{text}");
    assert!(stdout.contains("FAIL case "), "{text}");
    assert!(stdout.contains("Smallest schedule:"), "{text}");
    assert!(
        stdout.contains("Shrinking was stopped, so a smaller schedule may still fail"),
        "{text}"
    );
    assert!(
        stdout.contains(
            "Wrote failure.yaml; it did not run again to the end, because the app exited."
        ),
        "{text}"
    );
    assert!(
        stderr.contains("error: the app exited (exit code 7) while shrinking the failure of case "),
        "{text}"
    );
    assert!(stderr.contains("\n    exiting at checkout "), "{text}");
    assert!(stdout.trim_end().ends_with("seed 21"), "{text}");
    let written =
        std::fs::read_to_string(dir.join("failure.yaml")).expect("the scenario file was written");
    assert!(written.contains("- checkout: { order: O-1 }"), "{written}");
    assert_ends(pids.0[1], &text);
    let _ = std::fs::remove_dir_all(&dir);
}
