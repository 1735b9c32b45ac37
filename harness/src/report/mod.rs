//! Reporters: each turns the runner's [`events::Event`] stream into one
//! output: the terminal ([`terminal`]), JUnit XML ([`junit`]), a JSON
//! document ([`json`]) and GitHub annotations ([`github`]). A failure's
//! timeline is built by [`timeline`].

pub mod events;
pub mod github;
pub mod json;
pub mod junit;
pub mod terminal;
pub mod timeline;

use std::io;
use std::path::Path;

/// Something that renders the run's events.
pub trait Reporter {
    fn event(&mut self, event: &events::Event) -> io::Result<()>;
}

/// Several reporters fed the same events.
#[derive(Default)]
pub struct Reporters(Vec<Box<dyn Reporter + Send>>);

impl Reporters {
    pub fn push(&mut self, reporter: Box<dyn Reporter + Send>) {
        self.0.push(reporter);
    }

    /// Passes an event to every reporter; returns the first error, after
    /// every reporter has seen the event.
    pub fn event(&mut self, event: &events::Event) -> io::Result<()> {
        let mut first = Ok(());
        for reporter in &mut self.0 {
            if let Err(err) = reporter.event(event)
                && first.is_ok()
            {
                first = Err(err);
            }
        }
        first
    }
}

/// Checks the files that `--junit` and `--json` name before a run starts,
/// so a long run's result is not lost at the end. Returns the error to
/// print.
pub fn check_report_paths(junit: Option<&Path>, json: Option<&Path>) -> Result<(), String> {
    if let (Some(junit), Some(json)) = (junit, json)
        && same_file(junit, json)
    {
        return Err(format!(
            "--junit and --json both name {}; give each report its own file, such as report.xml and report.json",
            junit.display()
        ));
    }
    let reports = [(junit, "report.xml"), (json, "report.json")];
    for (report, example) in reports
        .into_iter()
        .filter_map(|(path, example)| Some((path?, example)))
    {
        let parent = crate::folder_of(report);
        if !parent.is_dir() {
            return Err(format!(
                "cannot write the report {}: the folder {} does not exist",
                report.display(),
                parent.display()
            ));
        }
        if report.is_dir() {
            return Err(format!(
                "cannot write the report {}: it is a folder; give a file name such as {}",
                report.display(),
                report.join(example).display()
            ));
        }
    }
    Ok(())
}

/// Returns whether two report paths name one file: the same text, or the same
/// file once both are resolved against their folders.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    let resolve = |path: &Path| {
        let folder = std::fs::canonicalize(crate::folder_of(path)).ok()?;
        Some(folder.join(path.file_name()?))
    };
    matches!((resolve(a), resolve(b)), (Some(a), Some(b)) if a == b)
}
