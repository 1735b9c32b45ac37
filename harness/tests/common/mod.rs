//! Pieces the harness tests that run an app inside the test share: a
//! scratch directory, the app's listener, its read of the env file, and
//! the run options.

use std::path::{Path, PathBuf};

use fakestripe::RunOptions;

/// Creates a directory for one test's files and returns its path. `suite`
/// names the test file, so two files never share a directory.
pub(crate) fn scratch(suite: &str, test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("fakestripe-{suite}-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir
}

/// Binds a listener to a free port of 127.0.0.1 and returns it with the
/// app's base URL.
pub(crate) fn bind_app(runtime: &tokio::runtime::Runtime) -> (tokio::net::TcpListener, String) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .expect("a port on 127.0.0.1 is free");
    let port = listener
        .local_addr()
        .expect("the listener has an address")
        .port();
    (listener, format!("http://127.0.0.1:{port}"))
}

/// Reads the value of a `KEY=value` line of the env file the harness
/// writes for the app.
pub(crate) fn env_value(env_file: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(env_file).expect("the harness wrote the env file");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("the env file has no {key}"))
        .to_owned()
}

/// Returns the options of a run of one job against the app file `app`.
pub(crate) fn run_options(app: &Path) -> RunOptions {
    RunOptions {
        jobs: 1,
        seed: None,
        fail_fast: false,
        fake_url: None,
        app_arg: app.display().to_string(),
    }
}
