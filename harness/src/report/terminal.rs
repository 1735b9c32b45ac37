//! The terminal report: an aligned line per scenario with its time, the
//! whole story of each failure as it happens, and a summary line. Colour
//! unless NO_COLOR is set or the output is not a terminal; a progress line
//! on stderr when stderr is a terminal.

use std::io::{self, Write};

use super::Reporter;
use super::events::{Event, Failure, ScenarioResult, Summary};
use super::timeline::format_offset;

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

pub struct TerminalReporter<W: Write> {
    out: W,
    color: bool,
    /// True to redraw a progress line on stderr.
    progress: bool,
    total: usize,
    done: usize,
    failed: Vec<(String, String)>,
}

impl<W: Write> TerminalReporter<W> {
    pub fn new(out: W, color: bool, progress: bool) -> Self {
        TerminalReporter {
            out,
            color,
            progress,
            total: 0,
            done: 0,
            failed: Vec::new(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn clear_progress(&self) {
        if self.progress {
            let _ = write!(crate::output::stderr(), "\r\x1b[2K");
        }
    }

    fn draw_progress(&self) {
        if !self.progress || self.total == 0 {
            return;
        }
        let width = 30;
        let filled = width * self.done / self.total;
        let mut stderr = crate::output::stderr();
        let _ = write!(
            stderr,
            "\r\x1b[2K[{}{}] {}/{}",
            "=".repeat(filled),
            " ".repeat(width - filled),
            self.done,
            self.total
        );
        let _ = stderr.flush();
    }

    fn scenario_line(&mut self, result: &ScenarioResult) -> io::Result<()> {
        let (word, code) = if result.passed() {
            ("PASS", GREEN)
        } else {
            ("FAIL", RED)
        };
        let status = self.paint(code, &format!("{word:>8}"));
        let name = if result.name == file_stem(&result.path) {
            String::new()
        } else {
            format!(" ({})", result.name)
        };
        writeln!(
            self.out,
            "{status} [{:>7.2}s] {}{}",
            result.duration.as_secs_f64(),
            shown(&result.path.display().to_string()),
            shown(&name)
        )?;
        if result.passed() {
            self.allowed_lines(result)?;
            self.warning_lines(result)?;
        } else {
            self.failure_details(result)?;
        }
        Ok(())
    }

    /// Writes the violations a scenario allows, which do not fail it.
    fn allowed_lines(&mut self, result: &ScenarioResult) -> io::Result<()> {
        for violation in &result.allowed {
            writeln!(
                self.out,
                "  allowed: invariant {}: {}",
                violation.invariant,
                shown(&violation.message)
            )?;
        }
        Ok(())
    }

    /// Writes a scenario's warnings, then its hints.
    fn warning_lines(&mut self, result: &ScenarioResult) -> io::Result<()> {
        for warning in &result.warnings {
            let word = self.paint(YELLOW, "warning");
            writeln!(self.out, "  {word}: {}", shown(warning))?;
        }
        for hint in &result.hints {
            writeln!(self.out, "  hint: {}", shown(hint))?;
        }
        Ok(())
    }

    fn failure_details(&mut self, result: &ScenarioResult) -> io::Result<()> {
        let heading = format!(
            "--- {}: {} (seed {})",
            shown(&result.path.display().to_string()),
            shown(&result.name),
            result.seed
        );
        writeln!(self.out, "{}", self.paint(BOLD, &heading))?;
        if let Some(description) = &result.description {
            for line in wrap(description, 76) {
                writeln!(self.out, "  {}", self.paint(DIM, &shown(&line)))?;
            }
        }
        for failure in &result.failures {
            write_failure(&mut self.out, failure, self.color)?;
        }
        self.allowed_lines(result)?;
        self.warning_lines(result)?;
        if !result.timeline.is_empty() {
            writeln!(
                self.out,
                "  timeline (virtual time since the scenario began):"
            )?;
            for line in &result.timeline {
                let offset = format_offset(line.offset);
                if line.actor == "step" {
                    let text = self.paint(BOLD, &shown(&line.text));
                    writeln!(self.out, "    {offset:>8}  {text}")?;
                } else {
                    writeln!(
                        self.out,
                        "    {offset:>8}    {:<8} {}",
                        shown(&line.actor),
                        shown(&line.text)
                    )?;
                }
            }
        }
        if let Some(heading) = result.app_output_heading() {
            writeln!(self.out, "  {heading}:")?;
            for line in &result.app_output {
                writeln!(self.out, "    | {}", shown(line))?;
            }
        }
        writeln!(self.out, "  replay: {}", shown(&result.replay))?;
        writeln!(self.out)
    }

    fn summary(&mut self, summary: &Summary) -> io::Result<()> {
        let run = summary.passed + summary.failed;
        let failed = if summary.failed > 0 {
            self.paint(RED, &format!("{} failed", summary.failed))
        } else {
            format!("{} failed", summary.failed)
        };
        let passed = self.paint(GREEN, &format!("{} passed", summary.passed));
        let mut line = format!(
            "{:>8} [{:>7.2}s] {run} scenario{} run: {passed}, {failed}",
            "Summary",
            summary.duration.as_secs_f64(),
            if run == 1 { "" } else { "s" }
        );
        if summary.skipped > 0 {
            line.push_str(&format!(
                ", {}",
                self.paint(YELLOW, &format!("{} skipped", summary.skipped))
            ));
        }
        if summary.unsupported > 0 {
            line.push_str(&format!(
                "; {}",
                self.paint(
                    YELLOW,
                    &format!(
                        "{} skipped for payment method types the app does not offer",
                        summary.unsupported
                    )
                )
            ));
        }
        if summary.interrupted {
            line.push_str(" (interrupted)");
        } else if summary.fake_lost {
            line.push_str(" (the fake stopped responding)");
        } else if summary.app_exited {
            line.push_str(" (the app exited)");
        }
        writeln!(self.out, "{line}")?;
        if summary.warned > 0 {
            let word = self.paint(YELLOW, "warning");
            let scenarios = if summary.warned == 1 {
                "1 scenario".to_owned()
            } else {
                format!("{} scenarios", summary.warned)
            };
            writeln!(
                self.out,
                "{:>8} {word}: {scenarios} had warnings; see the `warning:` and `hint:` lines under them",
                ""
            )?;
        }
        for (path, replay) in std::mem::take(&mut self.failed) {
            writeln!(
                self.out,
                "{:>8} {}: {}",
                self.paint(RED, "FAIL"),
                shown(&path),
                shown(&replay)
            )?;
        }
        Ok(())
    }
}

/// Writes one failure: its title and message, then expected against actual.
pub fn write_failure(out: &mut impl Write, failure: &Failure, color: bool) -> io::Result<()> {
    let title = if color {
        format!("{RED}{}{RESET}", failure.title())
    } else {
        failure.title()
    };
    writeln!(out, "  {title}: {}", shown(&failure.message))?;
    if failure.mismatches.is_empty() {
        return Ok(());
    }
    let what_width = failure
        .mismatches
        .iter()
        .map(|m| shown(&m.subject).chars().count())
        .max()
        .unwrap_or(0);
    for mismatch in &failure.mismatches {
        writeln!(
            out,
            "      {:<what_width$}  expected {}",
            shown(&mismatch.subject),
            shown(&mismatch.expected)
        )?;
        writeln!(
            out,
            "      {:<what_width$}  actual   {}",
            "",
            shown(&mismatch.actual)
        )?;
    }
    Ok(())
}

/// Returns `text` with its control characters other than line breaks and
/// tabs, such as ESC or NUL, written as `\u{1b}`, so text from a scenario
/// file or an app cannot recolour or garble the terminal. The JSON report
/// escapes the same characters.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            escaped.push_str(&c.escape_unicode().to_string());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Splits text into lines of at most `width` characters at spaces,
/// keeping the text's own line breaks.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.trim().lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

fn file_stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl<W: Write> Reporter for TerminalReporter<W> {
    fn event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted {
                scenarios,
                jobs,
                fake_url,
                app,
            } => {
                self.total = *scenarios;
                let line = format!(
                    "{:>8} {scenarios} scenario{} against {app} ({jobs} job{}, fake at {fake_url})",
                    "Starting",
                    if *scenarios == 1 { "" } else { "s" },
                    if *jobs == 1 { "" } else { "s" }
                );
                writeln!(self.out, "{}", self.paint(BOLD, &line))?;
            }
            Event::ScenarioStarted { .. } => {}
            Event::ScenarioFinished { result, .. } => {
                self.clear_progress();
                self.done += 1;
                if !result.passed() {
                    self.failed
                        .push((result.path.display().to_string(), result.replay.clone()));
                }
                self.scenario_line(result)?;
                self.out.flush()?;
                self.draw_progress();
            }
            Event::ScenarioSkipped { path, stopped, .. } => {
                self.clear_progress();
                self.done += 1;
                let word = if *stopped { "STOPPED" } else { "SKIP" };
                let word = self.paint(YELLOW, &format!("{word:>8}"));
                writeln!(
                    self.out,
                    "{word} [{:>7}] {}",
                    "",
                    shown(&path.display().to_string())
                )?;
                self.draw_progress();
            }
            Event::ScenarioUnsupported { path, reason, .. } => {
                self.clear_progress();
                self.done += 1;
                let word = self.paint(YELLOW, &format!("{:>8}", "SKIP"));
                writeln!(
                    self.out,
                    "{word} [{:>7}] {}: {}",
                    "",
                    shown(&path.display().to_string()),
                    shown(reason)
                )?;
                self.draw_progress();
            }
            Event::RunFinished { summary } => {
                self.clear_progress();
                self.summary(summary)?;
            }
        }
        self.out.flush()
    }
}
