//! GitHub Actions annotations: one `::error` workflow command per failure,
//! pointing at the scenario file and, for a failed step, its line, and one
//! `::warning` per warning of a scenario, with its hints.

use std::io::{self, Write};

use super::Reporter;
use super::events::Event;

pub struct GithubReporter<W: Write> {
    out: W,
}

impl<W: Write> GithubReporter<W> {
    pub fn new(out: W) -> Self {
        GithubReporter { out }
    }
}

/// Returns whether the process runs inside GitHub Actions.
pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true")
}

/// Escapes a workflow command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value, which also ends at `:` and
/// `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

impl<W: Write> Reporter for GithubReporter<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        let Event::ScenarioFinished { result, .. } = event else {
            return Ok(());
        };
        for failure in &result.failures {
            let mut message = failure.message.clone();
            for mismatch in &failure.mismatches {
                message.push_str(&format!(
                    "\n{}: expected {}, actual {}",
                    mismatch.subject, mismatch.expected, mismatch.actual
                ));
            }
            message.push_str(&format!("\nreplay: {}", result.replay));
            let mut properties = format!(
                "file={}",
                escape_property(&result.path.display().to_string())
            );
            if let Some(line) = failure.line() {
                properties.push_str(&format!(",line={line}"));
            }
            let title = format!("{}: {}", result.name, failure.title());
            properties.push_str(&format!(",title={}", escape_property(&title)));
            writeln!(self.out, "::error {properties}::{}", escape_data(&message))?;
        }
        for warning in &result.warnings {
            let mut message = warning.clone();
            for hint in &result.hints {
                message.push_str(&format!("\nhint: {hint}"));
            }
            let properties = format!(
                "file={},title={}",
                escape_property(&result.path.display().to_string()),
                escape_property(&format!("{}: warning", result.name))
            );
            writeln!(
                self.out,
                "::warning {properties}::{}",
                escape_data(&message)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_commands() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("x: y, z"), "x%3A y%2C z");
    }
}
