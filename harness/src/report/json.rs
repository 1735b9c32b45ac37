//! A JSON document of the run, written when it finishes: the summary and
//! every scenario's result, failures and timeline included.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::Reporter;
use super::events::{Event, ScenarioResult};

pub struct JsonReporter {
    path: PathBuf,
    results: Vec<(usize, Arc<ScenarioResult>)>,
    /// Scenarios that did not finish, with whether a signal stopped them
    /// while they ran.
    skipped: Vec<(usize, String, bool)>,
    /// Scenarios not run because the app does not offer their payment
    /// method types, with the reason.
    unsupported: Vec<(usize, String, String)>,
}

impl JsonReporter {
    pub fn new(path: PathBuf) -> Self {
        JsonReporter {
            path,
            results: Vec::new(),
            skipped: Vec::new(),
            unsupported: Vec::new(),
        }
    }
}

impl Reporter for JsonReporter {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::ScenarioFinished { index, result } => {
                self.results.push((*index, result.clone()))
            }
            Event::ScenarioSkipped {
                index,
                path,
                stopped,
                ..
            } => self
                .skipped
                .push((*index, path.display().to_string(), *stopped)),
            Event::ScenarioUnsupported {
                index,
                path,
                reason,
                ..
            } => self
                .unsupported
                .push((*index, path.display().to_string(), reason.clone())),
            Event::RunFinished { summary } => {
                self.results.sort_by_key(|(index, _)| *index);
                self.skipped.sort();
                self.unsupported.sort();
                let scenarios: Vec<serde_json::Value> = self
                    .results
                    .iter()
                    .map(|(_, result)| with_outcome(result))
                    .collect::<Result<_, _>>()
                    .map_err(io::Error::other)?;
                let skipped: Vec<&str> = self
                    .skipped
                    .iter()
                    .map(|(_, path, _)| path.as_str())
                    .collect();
                let stopped: Vec<&str> = self
                    .skipped
                    .iter()
                    .filter(|(_, _, stopped)| *stopped)
                    .map(|(_, path, _)| path.as_str())
                    .collect();
                let unsupported: Vec<serde_json::Value> = self
                    .unsupported
                    .iter()
                    .map(|(_, path, reason)| json!({ "path": path, "reason": reason }))
                    .collect();
                let document = json!({
                    "summary": summary,
                    "scenarios": scenarios,
                    "skipped": skipped,
                    "stopped": stopped,
                    "unsupported": unsupported,
                });
                let text = serde_json::to_string_pretty(&document).map_err(io::Error::other)?;
                std::fs::write(&self.path, text).map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!("writing {}: {err}", self.path.display()),
                    )
                })?;
            }
            Event::RunStarted { .. } | Event::ScenarioStarted { .. } => {}
        }
        Ok(())
    }
}

/// Returns a scenario's result as JSON with `passed`, so that a reader
/// need not infer the outcome from an empty `failures` list.
pub(crate) fn with_outcome(result: &ScenarioResult) -> serde_json::Result<serde_json::Value> {
    let mut value = serde_json::to_value(result)?;
    if let Some(fields) = value.as_object_mut() {
        fields.insert("passed".to_owned(), json!(result.passed()));
    }
    Ok(value)
}
