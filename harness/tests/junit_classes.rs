//! The JUnit report of `fakestripe run` names a scenario's test case after
//! its path and its class after its folder, the same whether the scenario
//! path was given relative to the current directory, absolute, through
//! `..` or through a symbolic link.

use std::path::Path;
use std::process::Command;

mod scratch;

/// An app that is always ready and responds to every request with 200 and
/// an empty JSON object. The scenarios here never call it.
const APP: &str = r#"
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_GET

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

const APP_FILE: &str = r#"version: 1
name: junit-classes
start: { command: ["python3", "app.py"], ready: /, timeout_seconds: 120 }
webhook_path: /hooks
checkout: { request: { method: POST, path: /checkout, json: { id: "{{order_id}}" } } }
order:
  request: { path: "/orders/{{order_id}}" }
  status: /state
  status_map: { paid: [done] }
"#;

/// A scenario that passes without calling the app.
const PASSING: &str = "version: 1\nsteps:\n  - advance: 1s\n";

/// Runs the scenarios at `path` from the folder `shop`, and returns the
/// `classname` and the `name` of every test case in the JUnit report.
fn cases(shop: &Path, path: &str) -> Vec<(String, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_fakestripe"))
        .args([
            "run",
            path,
            "--app",
            "fakestripe.yaml",
            "--junit",
            "report.xml",
        ])
        .current_dir(shop)
        .env_remove("RUST_LOG")
        .output()
        .expect("fakestripe runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{path}: {text}");
    let xml = std::fs::read_to_string(shop.join("report.xml")).expect("the JUnit report exists");
    let attribute = |case: &str, name: &str| {
        let rest = &case[case
            .find(&format!(" {name}=\""))
            .expect("the attribute exists")..];
        let rest = &rest[name.len() + 3..];
        rest[..rest.find('"').expect("the attribute ends")].to_owned()
    };
    let found: Vec<(String, String)> = xml
        .split("<testcase")
        .skip(1)
        .map(|case| (attribute(case, "classname"), attribute(case, "name")))
        .collect();
    assert!(!found.is_empty(), "{path}: no test case in {xml}");
    found
}

/// Returns the class and name that the test case of `late.yaml` in the
/// folder `class` gets.
fn late(class: &str) -> Vec<(String, String)> {
    let name = format!("{}/late.yaml", class.replace('.', "/"));
    vec![(class.to_owned(), name)]
}

#[test]
fn class_same_for_every_spelling() {
    let dir = scratch::scratch("junit-classes", "spellings");
    let shop = dir.join("shop");
    let inside = shop.join("scenarios/ordering");
    let outside = dir.join("shared/scenarios/ordering");
    for folder in [&inside, &outside] {
        std::fs::create_dir_all(folder).expect("the folder is created");
        std::fs::write(folder.join("late.yaml"), PASSING).expect("the scenario is written");
    }
    std::fs::write(shop.join("app.py"), APP).expect("the app is written");
    std::fs::write(shop.join("fakestripe.yaml"), APP_FILE).expect("the app file is written");

    // Links inside the current directory, to a folder inside it and to
    // one outside it.
    std::os::unix::fs::symlink("scenarios", shop.join("linked")).expect("the link is made");
    std::os::unix::fs::symlink("../shared/scenarios", shop.join("shared-link"))
        .expect("the link is made");

    // Scenarios under the current directory count from it, with symbolic
    // links resolved.
    let inside_spellings = [
        "scenarios".to_owned(),
        "./scenarios/ordering/late.yaml".to_owned(),
        "scenarios/ordering/late.yaml".to_owned(),
        shop.join("scenarios").display().to_string(),
        "../shop/scenarios".to_owned(),
        "linked".to_owned(),
        "linked/ordering/late.yaml".to_owned(),
    ];
    for path in &inside_spellings {
        assert_eq!(cases(&shop, path), late("scenarios.ordering"), "{path}");
    }

    // Scenarios outside it count from the folder given on the command
    // line, named by its last folder, also through a link inside the
    // current directory.
    let outside_spellings = [
        "../shared/scenarios".to_owned(),
        dir.join("shared/scenarios").display().to_string(),
        dir.join("shared/./scenarios").display().to_string(),
        "shared-link".to_owned(),
    ];
    for path in &outside_spellings {
        assert_eq!(cases(&shop, path), late("scenarios.ordering"), "{path}");
    }

    // A file given on its own counts from its own folder.
    let outside_files = [
        "../shared/scenarios/ordering/late.yaml".to_owned(),
        "shared-link/ordering/late.yaml".to_owned(),
    ];
    for path in &outside_files {
        assert_eq!(cases(&shop, path), late("ordering"), "{path}");
    }
}
