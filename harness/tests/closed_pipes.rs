//! The command line with stdout or stderr connected to a pipe whose
//! reading end is closed, as in `fakestripe run | head`: output is dropped,
//! the command finishes with its usual exit code, and nothing panics.

use std::io::PipeWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_fakestripe");

fn shop_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop-rust/fakestripe.yaml")
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// Returns the writing end of a pipe whose reading end is already closed,
/// so every write to it fails with EPIPE.
fn closed_pipe() -> PipeWriter {
    let (reader, writer) = std::io::pipe().expect("a pipe can be created");
    drop(reader);
    writer
}

/// Runs `command` with stdout and stderr on closed pipes and returns its
/// exit status.
fn status_with_closed_output(command: &mut Command) -> ExitStatus {
    let writer = closed_pipe();
    command
        .stdout(writer.try_clone().expect("the pipe can be duplicated"))
        .stderr(writer)
        .status()
        .expect("fakestripe runs")
}

/// Runs `command` with stdout on a closed pipe and returns its output,
/// whose stderr is captured.
fn output_with_closed_stdout(command: &mut Command) -> Output {
    command
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("fakestripe runs")
}

fn run_card_paid() -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("run")
        .arg(scenario("card-paid.yaml"))
        .arg("--app")
        .arg(shop_app());
    command
}

/// Builds a fuzz run of two cases. `label` keeps apart the `--out` paths
/// of tests that run at the same time.
fn fuzz_two_cases(label: &str) -> Command {
    let out = std::env::temp_dir().join(format!(
        "fakestripe-closed-pipes-{}-{label}.yaml",
        std::process::id()
    ));
    let mut command = Command::new(BINARY);
    command
        .args(["fuzz", "--cases", "2", "--seed", "5", "--flow", "card"])
        .arg("--app")
        .arg(shop_app())
        .arg("--out")
        .arg(out);
    command
}

#[test]
fn run_with_closed_output() {
    let status = status_with_closed_output(&mut run_card_paid());
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn run_with_closed_stdout() {
    let output = output_with_closed_stdout(&mut run_card_paid());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn fuzz_with_closed_output() {
    let status = status_with_closed_output(&mut fuzz_two_cases("output"));
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn fuzz_with_closed_stdout() {
    let output = output_with_closed_stdout(&mut fuzz_two_cases("stdout"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn schema_with_closed_output() {
    let status = status_with_closed_output(Command::new(BINARY).arg("schema"));
    assert_eq!(status.code(), Some(0), "{status}");
}

/// `serve` logs at info level to stderr, so it writes to the closed pipe
/// at start and again when SIGTERM stops it.
#[test]
fn serve_with_closed_output() {
    let port = (14200..14300)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a port in 14200-14299 is free");
    let writer = closed_pipe();
    let mut child = Command::new(BINARY)
        .args(["serve", "--port", &port.to_string()])
        .env_remove("RUST_LOG")
        .stdout(writer.try_clone().expect("the pipe can be duplicated"))
        .stderr(writer)
        .spawn()
        .expect("fakestripe serve starts");

    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().expect("the child can be polled") {
            panic!("serve exited before it listened: {status}");
        }
        assert!(Instant::now() < deadline, "serve did not listen for 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM is sent");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be polled") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("serve did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status}");
}
