//! The log lines of the fake that `fakestripe run` starts in its own
//! process: left out of the output by default, so they do not fall
//! between the results, and printed on stderr with `--verbose`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod scratch;

/// The fake's warning when a delivery's last retry failed.
const GAVE_UP: &str = "webhook delivery gave up after the last retry";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits in the workspace")
        .to_owned()
}

/// Runs a scenario against the reference shop in which every attempt of
/// one event is lost, so the fake gives up on it while the clock settles.
fn run_with_lost_event(dir: &Path, flags: &[&str]) -> Output {
    let shop = workspace_root().join("examples/shop-rust/fakestripe.yaml");
    let text = std::fs::read_to_string(shop).expect("the shop's fakestripe.yaml exists");
    let root = workspace_root().display().to_string();
    let app = dir.join("fakestripe.yaml");
    std::fs::write(&app, text.replace("cwd: ../..", &format!("cwd: {root}")))
        .expect("the temporary directory is writable");
    let scenario = dir.join("lost-event.yaml");
    std::fs::write(
        &scenario,
        "\
version: 1
faults:
  - { kind: webhook_drop, types: [checkout.session.completed], attempts: 10 }
steps:
  - checkout: { order: O-1 }
  - pay: { card: success }
  - redirect:
",
    )
    .expect("the temporary directory is writable");
    Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .arg("run")
        .arg(&scenario)
        .arg("--app")
        .arg(&app)
        .args(flags)
        .env_remove("RUST_LOG")
        .output()
        .expect("fakestripe runs")
}

#[test]
fn fake_log_hidden_by_default() {
    let dir = scratch::scratch("fake-log-lines", "default");
    let output = run_with_lost_event(&dir, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("lost-event.yaml"), "{stdout}\n{stderr}");
    assert!(!stdout.contains(GAVE_UP), "{stdout}");
    assert!(!stderr.contains(GAVE_UP), "{stderr}");
}

#[test]
fn fake_log_shown_with_verbose() {
    let dir = scratch::scratch("fake-log-lines", "verbose");
    let output = run_with_lost_event(&dir, &["--verbose"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("lost-event.yaml"), "{stdout}\n{stderr}");
    assert!(!stdout.contains(GAVE_UP), "{stdout}");
    assert!(stderr.contains(GAVE_UP), "{stderr}");
}
