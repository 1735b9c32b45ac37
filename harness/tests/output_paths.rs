//! `fakestripe run` and `fakestripe fuzz` reject a `--junit`, `--json` or
//! `--out` file that would replace an input or another output, or that
//! cannot be written, before the run starts, and leave the files as they
//! were.

use std::path::Path;
use std::process::Command;

mod scratch;

/// An app file whose app is never reached: every run here stops before
/// the harness connects to it.
const APP_FILE: &str = r#"version: 1
name: output-paths
base_url: http://127.0.0.1:14231
webhook_path: /hooks
checkout: { request: { method: POST, path: /checkout, json: { id: "{{order_id}}" } } }
order:
  request: { path: "/orders/{{order_id}}" }
  status: /state
  status_map: { paid: [done] }
"#;

const SCENARIO: &str = "version: 1\nsteps:\n  - advance: 1s\n";

/// Creates the app file `app.yaml` and the scenario `sc/sub/a.yaml` in a
/// scratch folder.
fn shop(test: &str) -> scratch::Scratch {
    let dir = scratch::scratch("output-paths", test);
    std::fs::create_dir_all(dir.join("sc/sub")).expect("the folder is created");
    std::fs::write(dir.join("app.yaml"), APP_FILE).expect("the app file is written");
    std::fs::write(dir.join("sc/sub/a.yaml"), SCENARIO).expect("the scenario is written");
    dir
}

/// Runs `fakestripe ARGS` in `dir` and returns the exit code and stderr.
fn fakestripe(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args(args)
        .current_dir(dir)
        .env_remove("FAKESTRIPE_URL")
        .output()
        .expect("fakestripe runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn output_naming_input_rejected() {
    let dir = shop("inputs");
    let cases: [(&[&str], &str); 6] = [
        (
            &["fuzz", "--app", "app.yaml", "--junit", "app.yaml"],
            "error: --junit names app.yaml, the app file given with --app",
        ),
        (
            &["fuzz", "--app", "app.yaml", "--json", "./app.yaml"],
            "error: --json names ./app.yaml, the app file given with --app",
        ),
        (
            &["fuzz", "--app", "app.yaml", "--out", "app.yaml"],
            "error: --out names app.yaml, the app file given with --app",
        ),
        (
            &["run", "sc", "--app", "app.yaml", "--json", "sc/sub/a.yaml"],
            "error: --json names sc/sub/a.yaml, a scenario file of the run",
        ),
        (
            &[
                "run",
                "sc",
                "--app",
                "app.yaml",
                "--junit",
                "sc/../app.yaml",
            ],
            "error: --junit names sc/../app.yaml, the app file given with --app",
        ),
        (
            &[
                "fuzz", "--app", "app.yaml", "--out", "x.yaml", "--json", "x.yaml",
            ],
            "error: --json names x.yaml, the file that --out names for the shrunk scenario",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = fakestripe(&dir, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        let app = std::fs::read_to_string(dir.join("app.yaml")).expect("the app file is kept");
        assert_eq!(app, APP_FILE, "{args:?}");
        let scenario = std::fs::read_to_string(dir.join("sc/sub/a.yaml")).expect("kept");
        assert_eq!(scenario, SCENARIO, "{args:?}");
    }
}

/// The app file's `env_file`, which the harness writes when the run
/// starts, may not name the app file, a scenario file, a report or the
/// shrunk scenario, nor a folder. Each run stops with exit code 2 before
/// anything is written, and no lock file is left beside a folder.
#[test]
fn env_file_naming_another_file_rejected() {
    let dir = shop("env-file");
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "app.yaml",
            &["run", "sc", "--app", "with-env.yaml"],
            "`env_file` names this app file, which the harness would overwrite",
        ),
        (
            ".",
            &["run", "sc", "--app", "with-env.yaml"],
            "`env_file` names a folder",
        ),
        (
            "sc/sub/a.yaml",
            &["run", "sc", "--app", "with-env.yaml"],
            "names sc/sub/a.yaml, a scenario file of the run, which the harness would overwrite",
        ),
        (
            "report.xml",
            &[
                "run",
                "sc",
                "--app",
                "with-env.yaml",
                "--junit",
                "report.xml",
            ],
            "names report.xml, the report that --junit names",
        ),
        (
            "report.json",
            &["fuzz", "--app", "with-env.yaml", "--json", "report.json"],
            "names report.json, the report that --json names",
        ),
        (
            "shrunk.yaml",
            &["fuzz", "--app", "with-env.yaml", "--out", "shrunk.yaml"],
            "names shrunk.yaml, the file that --out names for the shrunk scenario",
        ),
    ];
    for (env_file, args, expected) in cases {
        // The app file is the one with the `env_file`, except when that
        // names the app file itself.
        let app_text = APP_FILE.replace(
            "webhook_path:",
            &format!("env_file: \"{env_file}\"\nwebhook_path:"),
        );
        let app_name = if env_file == "app.yaml" {
            "app.yaml"
        } else {
            "with-env.yaml"
        };
        std::fs::write(dir.join(app_name), &app_text).expect("the app file is written");
        let args: Vec<&str> = args
            .iter()
            .map(|arg| {
                if *arg == "with-env.yaml" {
                    app_name
                } else {
                    arg
                }
            })
            .collect();
        let (code, stderr) = fakestripe(&dir, &args);
        assert_eq!(code, Some(2), "{env_file}: {stderr}");
        assert!(stderr.contains(expected), "{env_file}: {stderr}");
        let app = std::fs::read_to_string(dir.join(app_name)).expect("the app file is kept");
        assert_eq!(app, app_text, "{env_file}");
        let scenario = std::fs::read_to_string(dir.join("sc/sub/a.yaml")).expect("kept");
        assert_eq!(scenario, SCENARIO, "{env_file}");
        std::fs::write(dir.join("app.yaml"), APP_FILE).expect("the app file is written");
    }
    for leftover in [
        "report.xml",
        "report.json",
        "shrunk.yaml",
        ".lock",
        "..lock",
    ] {
        assert!(!dir.join(leftover).exists(), "{leftover} was written");
    }
}

#[test]
fn report_through_link_rejected() {
    let dir = shop("link");
    std::fs::write(dir.join("r.json"), "{}").expect("the report is written");
    std::os::unix::fs::symlink("r.json", dir.join("link.xml")).expect("the link is made");
    std::os::unix::fs::symlink("app.yaml", dir.join("app-link.xml")).expect("the link is made");
    std::fs::hard_link(dir.join("sc/sub/a.yaml"), dir.join("hard.json")).expect("linked");
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "fuzz", "--app", "app.yaml", "--json", "r.json", "--junit", "link.xml",
            ],
            "error: --junit and --json both name link.xml",
        ),
        (
            &["fuzz", "--app", "app.yaml", "--junit", "app-link.xml"],
            "error: --junit names app-link.xml, the app file given with --app",
        ),
        (
            &["run", "sc", "--app", "app.yaml", "--json", "hard.json"],
            "error: --json names hard.json, a scenario file of the run",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = fakestripe(&dir, args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_to_string(dir.join("r.json")).unwrap(), "{}");
}

/// /sys exists on Linux and takes no new files, even from root.
#[test]
fn unwritable_report_rejected_first() {
    let dir = shop("unwritable");
    if !Path::new("/sys").is_dir() {
        return;
    }
    let cases: [&[&str]; 3] = [
        &["fuzz", "--app", "app.yaml", "--json", "/sys/r.json"],
        &["fuzz", "--app", "app.yaml", "--junit", "/sys/r.xml"],
        &["run", "sc", "--app", "app.yaml", "--junit", "/sys/r.xml"],
    ];
    for args in cases {
        let (code, stderr) = fakestripe(&dir, args);
        let report = args[args.len() - 1];
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        let expected = format!("error: cannot write the report {report}: ");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        // The check comes before the harness reaches for the app.
        assert!(!stderr.contains("14231"), "{args:?}: {stderr}");
    }
}

/// The check opens an existing report for appending and creates no file
/// where there was none.
#[test]
fn report_check_keeps_files() {
    let dir = shop("keeps");
    std::fs::write(dir.join("old.json"), "previous run").expect("written");
    // The app at 14231 is not running, so the run stops with exit code 3
    // after the checks.
    let (code, stderr) = fakestripe(
        &dir,
        &[
            "run", "sc", "--app", "app.yaml", "--json", "old.json", "--junit", "new.xml",
        ],
    );
    assert_eq!(code, Some(3), "{stderr}");
    let old = std::fs::read_to_string(dir.join("old.json")).expect("the file is kept");
    assert_eq!(old, "previous run");
    assert!(
        !dir.join("new.xml").exists(),
        "the check left new.xml behind"
    );
    let left: Vec<_> = std::fs::read_dir(&*dir)
        .expect("the folder is readable")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".probe"))
        .collect();
    assert!(left.is_empty(), "probes left behind: {left:?}");
}
