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

/// A file that a run reads, which no report or output file may name.
pub struct InputFile<'a> {
    pub path: &'a Path,
    /// The file's part in the run, named in the error, such as "the app
    /// file given with --app".
    pub role: &'a str,
}

/// Checks the files that `--junit` and `--json` name before a run starts,
/// so a long run's result is not lost at the end: the two differ, neither
/// names one of `inputs`, and each can be written. Returns the error to
/// print.
pub fn check_report_paths(
    junit: Option<&Path>,
    json: Option<&Path>,
    inputs: &[InputFile<'_>],
) -> Result<(), String> {
    if let (Some(junit), Some(json)) = (junit, json)
        && same_file(junit, json)
    {
        return Err(format!(
            "--junit and --json both name {}; give each report its own file, such as report.xml and report.json",
            junit.display()
        ));
    }
    let reports = [
        ("--junit", junit, "report.xml"),
        ("--json", json, "report.json"),
    ];
    for (flag, report, example) in reports
        .into_iter()
        .filter_map(|(flag, path, example)| Some((flag, path?, example)))
    {
        if let Some(input) = inputs.iter().find(|input| same_file(report, input.path)) {
            return Err(format!(
                "{flag} names {}, {}; give the report its own file, such as {example}",
                report.display(),
                input.role
            ));
        }
        check_writable(report).map_err(|err| {
            let fix = if report.is_dir() {
                format!(
                    "; give a file name such as {}",
                    report.join(example).display()
                )
            } else {
                String::new()
            };
            format!("cannot write the report {}: {err}{fix}", report.display())
        })?;
    }
    Ok(())
}

/// Returns the reports that `--junit` and `--json` name, as files the
/// run writes, for [`check_env_file`].
pub fn written_reports<'a>(junit: Option<&'a Path>, json: Option<&'a Path>) -> Vec<InputFile<'a>> {
    let junit = junit.map(|path| InputFile {
        path,
        role: "the report that --junit names",
    });
    let json = json.map(|path| InputFile {
        path,
        role: "the report that --json names",
    });
    junit.into_iter().chain(json).collect()
}

/// Checks that the app's `env_file`, which the harness writes when the run
/// starts, names none of `files`, the run's scenario files and reports.
/// Returns the error to print.
pub fn check_env_file(app: &crate::app::AppConfig, files: &[InputFile<'_>]) -> Result<(), String> {
    let Some(env_file) = app.env_file_path() else {
        return Ok(());
    };
    match files.iter().find(|file| same_file(&env_file, file.path)) {
        Some(file) => Err(format!(
            "`env_file` in {} names {}, {}, which the harness would overwrite with the app's settings; give `env_file` a file of its own, such as .fakestripe.env",
            app.path.display(),
            file.path.display(),
            file.role
        )),
        None => Ok(()),
    }
}

/// Checks that a file can be written at `path`: its folder exists, and the
/// file can be opened for appending or, when there is none, created. The
/// check creates and removes a probe file beside a `path` that does not
/// exist, and leaves an existing file unchanged, so a run that fails
/// later destroys nothing.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let folder = crate::folder_of(path);
    if !folder.is_dir() {
        return Err(format!("the folder {} does not exist", folder.display()));
    }
    if path.is_dir() {
        return Err("it is a folder".to_owned());
    }
    let opened = if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        // The probe has a name of its own, so two checks of the same path
        // at the same moment do not trip over each other's probe.
        static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let number = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let probe = folder.join(format!(".{name}.{}-{number}.probe", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
    };
    opened.map_err(|err| err.to_string())
}

/// Returns whether two paths name one file: the same text, the same file
/// on disk (through symbolic or hard links too), or the same path once
/// both are resolved, for files that do not exist yet.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;

        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    resolved(a) == resolved(b)
}

/// Returns `path` with symbolic links resolved, for a file that may not
/// exist yet: the whole path when it exists, else the path a dangling link
/// leads to, else its folder resolved with the name joined. Returns `path`
/// itself when even the folder does not exist.
pub fn resolved(path: &Path) -> std::path::PathBuf {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return resolved;
    }
    let target = std::fs::read_link(path)
        .map(|target| crate::folder_of(path).join(target))
        .unwrap_or_else(|_| path.to_path_buf());
    let folder = std::fs::canonicalize(crate::folder_of(&target));
    match (folder, target.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => target,
    }
}
