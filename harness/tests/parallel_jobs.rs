//! Runs of more than one job. Each app the harness starts learns its
//! job's number from `FAKESTRIPE_JOB`. A failing scenario whose order the
//! app lost gets a hint that the jobs' apps may share one store.
//!
//! The app is a Python script that returns an order on its first read and
//! 404 on every later one, as an app does when another job's `reset`
//! request deleted the order from a database that both jobs use.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fakestripe::report::events::ScenarioResult;
use fakestripe::{RunOptions, run_files};

mod scratch;

/// Writes `job-N` with its job number on start, creates a Checkout Session
/// in the fake for each checkout, and loses each order after its first
/// read.
const APP: &str = r#"
import json, os, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

job = os.environ["FAKESTRIPE_JOB"]
# Reads of an order that get it before it is lost; 0 loses it at once.
kept_reads = int(os.environ.get("KEPT_READS", "1"))
with open(f"job-{job}", "w") as marker:
    marker.write(job)
reads = {}

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.answer(200, {})
        order_id = self.path.rsplit("/", 1)[-1]
        if order_id not in reads:
            return self.answer(404, {"error": "no such order"})
        reads[order_id] += 1
        if reads[order_id] > kept_reads:
            return self.answer(404, {"error": "no such order"})
        return self.answer(200, {"state": "pending"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/checkout":
            return self.answer(200, {})
        order_id = body["id"]
        base = os.environ["APP_BASE_URL"]
        form = urllib.parse.urlencode({
            "mode": "payment",
            "success_url": f"{base}/success",
            "metadata[order_id]": order_id,
            "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][product_data][name]": "Item",
            "line_items[0][price_data][unit_amount]": "1000",
            "line_items[0][quantity]": "1",
        }).encode()
        request = urllib.request.Request(
            os.environ["STRIPE_API_BASE"] + "/v1/checkout/sessions",
            data=form,
            headers={
                "Authorization": "Bearer " + os.environ["STRIPE_SECRET_KEY"],
                "Idempotency-Key": "checkout-" + order_id,
            },
        )
        with urllib.request.urlopen(request) as response:
            session = json.load(response)
        reads[order_id] = 0
        return self.answer(200, {"session_id": session["id"], "url": session["url"]})

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

const APP_FILE: &str = r#"
version: 1
name: forgetful
start:
  command: ["python3", "app.py"]
  ready: /healthz
webhook_path: /hooks
checkout:
  request: { method: POST, path: /checkout, json: { id: "{{order_id}}" } }
  session_id: /session_id
  url: /url
order:
  request: { path: "/orders/{{order_id}}" }
  status: /state
  status_map: { paid: [paid], pending: [pending] }
"#;

/// The harness reads the order after step 1 and after step 2, and the
/// second read gets 404.
const SCENARIO: &str = "\
version: 1
steps:
  - checkout: { order: O-1 }
  - advance: 1m
  - expect: { status: pending }
";

/// Writes the app, its app file and two copies of the scenario into
/// `dir`, and returns the app file's path and the scenarios' paths. The
/// app keeps each order for `kept_reads` reads.
fn write_files(dir: &Path, kept_reads: u32) -> (PathBuf, Vec<PathBuf>) {
    std::fs::write(dir.join("app.py"), APP).expect("the app is written");
    let app = dir.join("fakestripe.yaml");
    let app_file = APP_FILE.replace(
        "  ready: /healthz\n",
        &format!("  ready: /healthz\n  env: {{ KEPT_READS: \"{kept_reads}\" }}\n"),
    );
    std::fs::write(&app, app_file).expect("the app file is written");
    let scenarios: Vec<PathBuf> = ["first.yaml", "second.yaml"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::write(&path, SCENARIO).expect("the scenario is written");
            path
        })
        .collect();
    (app, scenarios)
}

fn run(app: &Path, scenarios: &[PathBuf], jobs: usize) -> Vec<ScenarioResult> {
    let options = RunOptions {
        jobs,
        seed: None,
        fail_fast: false,
        fake_url: None,
        app_arg: app.display().to_string(),
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let outcome = runtime
        .block_on(run_files(app, scenarios, options))
        .expect("the run starts");
    outcome
        .results
        .iter()
        .map(|result| (**result).clone())
        .collect()
}

/// Returns the hints of `result` that name a shared store.
fn shared_store_hints(result: &ScenarioResult) -> Vec<&String> {
    result
        .hints
        .iter()
        .filter(|hint| hint.contains("share one store"))
        .collect()
}

#[test]
fn each_job_gets_its_number() {
    let dir = scratch::scratch("parallel-jobs", "numbers");
    let (app, scenarios) = write_files(&dir, 1);

    run(&app, &scenarios, 2);

    let markers: BTreeSet<String> = std::fs::read_dir(&*dir)
        .expect("the directory is readable")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("job-"))
        .collect();
    assert_eq!(
        markers,
        BTreeSet::from(["job-1".to_owned(), "job-2".to_owned()])
    );
}

#[test]
fn lost_order_hints_shared_store() {
    let dir = scratch::scratch("parallel-jobs", "lost-order");
    let (app, scenarios) = write_files(&dir, 1);

    let results = run(&app, &scenarios, 2);

    assert_eq!(results.len(), 2);
    for result in &results {
        assert!(!result.passed(), "{}", result.path.display());
        let hints = shared_store_hints(result);
        assert_eq!(hints.len(), 1, "{:?}", result.hints);
        let hint = hints[0];
        assert!(
            hint.starts_with("the app reported order O-1 (O-1-"),
            "{hint}"
        );
        assert!(
            hint.contains(") after step 1 (checkout, line 3), but returned 404 for it after step 2 (advance, line 4). In a run of 2 jobs"),
            "{hint}"
        );
        assert!(hint.contains("FAKESTRIPE_JOB"), "{hint}");
    }
}

/// A single job cannot delete another job's orders, so a lost order gets
/// no hint about a shared store.
#[test]
fn lost_order_one_job_no_hint() {
    let dir = scratch::scratch("parallel-jobs", "one-job");
    let (app, scenarios) = write_files(&dir, 1);

    let results = run(&app, &scenarios, 1);

    assert_eq!(results.len(), 2);
    for result in &results {
        assert!(!result.passed(), "{}", result.path.display());
        assert!(shared_store_hints(result).is_empty(), "{:?}", result.hints);
    }
}

/// An order lost before its first read, in a run of two jobs, gets the
/// hint about the order path with the shared store named as the other
/// cause.
#[test]
fn order_never_found_names_both_causes() {
    let dir = scratch::scratch("parallel-jobs", "never-found");
    let (app, scenarios) = write_files(&dir, 0);

    let results = run(&app, &scenarios, 2);

    for result in &results {
        let hint = result
            .hints
            .iter()
            .find(|hint| hint.starts_with("all "))
            .unwrap_or_else(|| panic!("no hint about the order reads: {:?}", result.hints));
        assert!(hint.contains("order reads got 404 from the app"), "{hint}");
        assert!(
            hint.contains("In a run of 2 jobs, apps that share one store"),
            "{hint}"
        );
    }
}
