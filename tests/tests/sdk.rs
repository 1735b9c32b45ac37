//! Runs the official Stripe SDKs, unmodified, against the fake: the
//! stripe-python suite in tests/sdk/python and the stripe-node suite in
//! tests/sdk/node, each against its own in-process server.
//!
//! tests/sdk/setup.sh installs the pinned SDKs on first use, which needs
//! python3 (with venv) and npm on PATH and access to PyPI and the npm
//! registry. Later runs reuse the installs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use fakestripe_server::{Server, ServerConfig};
use tokio::process::Command;

/// Maximum time one suite may run before the test fails as hung. Each suite
/// takes a few seconds once the SDKs are installed.
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the workspace")
        .to_path_buf()
}

/// Runs tests/sdk/setup.sh once per process and returns its outcome. The
/// script locks a file, so separate test processes wait for each other too.
fn install_sdks() -> Result<(), String> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let script = repo_root().join("tests/sdk/setup.sh");
            let output = std::process::Command::new("bash")
                .arg(&script)
                .stdin(Stdio::null())
                .output()
                .map_err(|err| format!("failed to run {}: {err}", script.display()))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} failed ({}); it needs python3 and npm on PATH.\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    script.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr),
                ))
            }
        })
        .clone()
}

/// Starts a fake, runs `program` with STRIPE_API_BASE and STRIPE_SECRET_KEY
/// pointing at it, and fails with the program's output unless it exits 0.
async fn run_suite(suite: &str, program: &Path, args: &[String], cwd: &Path, secret_key: &str) {
    let setup = tokio::task::spawn_blocking(install_sdks)
        .await
        .expect("the setup task panicked");
    if let Err(message) = setup {
        panic!("installing the SDKs failed: {message}");
    }

    let server = Server::start(ServerConfig::default())
        .await
        .expect("starting fakestripe on 127.0.0.1");
    let child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("STRIPE_API_BASE", server.base_url())
        .env("STRIPE_SECRET_KEY", secret_key)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "failed to start the {suite} suite ({}): {err}",
                program.display()
            )
        });
    let output = tokio::time::timeout(SUITE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the {suite} suite timed out after {} s",
                SUITE_TIMEOUT.as_secs()
            )
        })
        .unwrap_or_else(|err| panic!("failed to read the output of the {suite} suite: {err}"));
    server.shutdown().await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the {suite} suite failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status,
    );
    // Shown with `cargo test -- --nocapture`.
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_python_suite() {
    let root = repo_root();
    let python = root.join("target/sdk/venv/bin/python");
    let args = [
        "-m",
        "pytest",
        "-v",
        "-p",
        "no:cacheprovider",
        "tests/sdk/python",
    ]
    .map(String::from);
    run_suite("stripe-python", &python, &args, &root, "sk_test_sdk_python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_node_suite() {
    let node_dir = repo_root().join("tests/sdk/node");
    let mut test_files: Vec<String> = std::fs::read_dir(&node_dir)
        .expect("listing tests/sdk/node")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.mjs"))
        .collect();
    test_files.sort();
    assert!(
        !test_files.is_empty(),
        "tests/sdk/node has no *.test.mjs files"
    );
    let mut args = vec!["--test".to_owned(), "--test-reporter=spec".to_owned()];
    args.extend(test_files);
    run_suite(
        "stripe-node",
        Path::new("node"),
        &args,
        &node_dir,
        "sk_test_sdk_node",
    )
    .await;
}
