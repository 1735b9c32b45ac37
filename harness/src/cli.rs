//! Command-line parsing and dispatch. Exit codes are the same for every
//! subcommand: 0 success, 1 a scenario failed, 2 invalid usage or input,
//! 3 the app or the fake could not be started or reached (for `run` and
//! `fuzz`, also when the app exited during the run), 4 no scenario
//! matched, 130 interrupted.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::{errln, outln};

/// The environment variable that gives the fake's URL when `--fake` is
/// not given.
pub const FAKE_URL_ENV: &str = "FAKESTRIPE_URL";

/// Checks a `--fake` value: an absolute http:// or https:// base URL,
/// such as `http://127.0.0.1:12111`, with no user info, no path but `/`,
/// no query and no fragment, because the harness appends the fake's own
/// paths to it.
pub fn parse_fake_url(text: &str) -> Result<String, String> {
    check_fake_url(text, "--fake")
}

/// Reads and checks `FAKESTRIPE_URL`. Returns None when it is unset or
/// empty, and an error that names the variable when its value is invalid.
pub fn fake_url_from_env() -> Result<Option<String>, String> {
    match std::env::var(FAKE_URL_ENV) {
        Ok(text) if text.is_empty() => Ok(None),
        Ok(text) => check_fake_url(&text, FAKE_URL_ENV)
            .map(Some)
            .map_err(|err| format!("invalid value '{text}' for {FAKE_URL_ENV}: {err}")),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{FAKE_URL_ENV} is not valid UTF-8")),
    }
}

/// Returns the `--fake` value when given, else a valid `FAKESTRIPE_URL`.
/// Prints the error and returns the usage exit code when the variable is
/// invalid.
pub fn fake_url_or_env(fake: Option<String>) -> Result<Option<String>, ExitCode> {
    if fake.is_some() {
        return Ok(fake);
    }
    fake_url_from_env().map_err(|err| {
        errln!("error: {err}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// Checks a fake URL given by `source`, the flag or variable named in the
/// error.
fn check_fake_url(text: &str, source: &str) -> Result<String, String> {
    let example = "such as http://127.0.0.1:12111";
    if text.trim() != text {
        return Err(format!(
            "{source} has white space around the URL; give the base URL alone, {example}"
        ));
    }
    let problem = match base_url_problem(text) {
        // The fake serves plain HTTP, and the harness speaks no TLS.
        None if text.trim_start().to_ascii_lowercase().starts_with("https:") => {
            return Err(format!(
                "{source} takes an http:// URL, {example}: fakestripe serve listens on plain HTTP"
            ));
        }
        None => return Ok(text.to_owned()),
        Some(problem) => problem,
    };
    Err(match problem {
        BaseUrlProblem::Unparsable(err) => {
            format!("{err}: give the fake's base URL, {example}")
        }
        BaseUrlProblem::NotHttp => {
            format!("{source} takes an http:// URL with a host, {example}")
        }
        BaseUrlProblem::UserInfo => {
            format!("{source} takes the base URL, {example}, without a user name or password")
        }
        BaseUrlProblem::Path => format!("{source} takes the base URL, {example}, without a path"),
        BaseUrlProblem::QueryOrFragment => {
            format!("{source} takes the base URL, {example}, without a query or fragment")
        }
    })
}

/// What keeps a text from being a base URL that paths are appended to.
pub(crate) enum BaseUrlProblem {
    Unparsable(url::ParseError),
    /// Not http:// or https://, or no host.
    NotHttp,
    /// A user name or password.
    UserInfo,
    /// A path other than `/`.
    Path,
    QueryOrFragment,
}

/// Returns the first problem, in the order of the enum's variants, that
/// keeps `text` from being an http(s) base URL: scheme, host and port only.
pub(crate) fn base_url_problem(text: &str) -> Option<BaseUrlProblem> {
    let url = match url::Url::parse(text) {
        Ok(url) => url,
        Err(err) => return Some(BaseUrlProblem::Unparsable(err)),
    };
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Some(BaseUrlProblem::NotHttp);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some(BaseUrlProblem::UserInfo);
    }
    // The parser removes dot segments such as `/%2e`, so the path is also
    // checked as written.
    if url.path() != "/" || !matches!(raw_path(text), "" | "/") {
        return Some(BaseUrlProblem::Path);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Some(BaseUrlProblem::QueryOrFragment);
    }
    None
}

/// Returns the path of a URL as written: the text after the authority and
/// before any query or fragment.
fn raw_path(text: &str) -> &str {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let before_query = &after_scheme[..end];
    before_query
        .find('/')
        .map_or("", |start| &before_query[start..])
}

/// Exit code when a scenario failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for invalid usage or an invalid input file.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the app or the fake could not be started or reached, or
/// when an app that the harness started exited during the run.
pub const EXIT_START: u8 = 3;
/// Exit code when no scenario file matched the paths, `--filter` and
/// `--exclude`, or when every one that matched pays with a payment method
/// type that the app file does not list.
pub const EXIT_NO_MATCH: u8 = 4;
/// Exit code after Ctrl-C, SIGTERM or SIGHUP: the code shells report for
/// a process ended by SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

const EXIT_CODES: &str = "\
Exit codes:
  0    every scenario passed
  1    a scenario failed
  2    invalid usage, an invalid scenario file or fakestripe.yaml, or a
       --junit or --json file that names an input or the other report, or
       cannot be written (checked before the first scenario)
  3    the app or the fake could not be started or reached, or the app
       exited during the run
  4    no scenario matched the paths, --filter and --exclude, or every
       one pays with a payment method type the app file does not list
  130  interrupted by Ctrl-C, SIGTERM or SIGHUP";

#[derive(Debug, Parser)]
#[command(
    name = "fakestripe",
    version,
    about = "A stateful fake of Stripe's checkout API and a harness that tests integrations against it",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the fake Stripe API server.
    #[command(after_help = crate::serve::EXIT_CODES)]
    Serve(crate::serve::ServeArgs),
    /// Run scenario files against an app and check that it reconciles.
    #[command(after_help = EXIT_CODES)]
    Run(crate::run::RunArgs),
    /// Explore event orders against an app and shrink a failure to a
    /// scenario file.
    #[command(after_help = crate::fuzz::EXIT_CODES)]
    Fuzz(crate::fuzz::FuzzArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
}

/// Runs a parsed command line and returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => crate::serve::main(args),
        Command::Run(args) => crate::run::main(args),
        Command::Fuzz(args) => crate::fuzz::main(args),
        Command::Schema => {
            let schema = crate::scenario::json_schema();
            match serde_json::to_string_pretty(&schema) {
                Ok(text) => {
                    outln!("{text}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    errln!("fakestripe schema: {err}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_url_base_only() {
        for valid in ["http://127.0.0.1:12111", "http://127.0.0.1:12111/"] {
            assert_eq!(parse_fake_url(valid).as_deref(), Ok(valid), "{valid}");
        }
        let path = "--fake takes the base URL, such as http://127.0.0.1:12111, without a path";
        let query = "--fake takes the base URL, such as http://127.0.0.1:12111, without a query or fragment";
        let user = "--fake takes the base URL, such as http://127.0.0.1:12111, without a user name or password";
        let cases = [
            ("http://127.0.0.1:12111/some/path", path),
            ("http://127.0.0.1:12111/v1/", path),
            ("http://127.0.0.1:12111/%2e", path),
            ("http://127.0.0.1:12111/.", path),
            ("http://127.0.0.1:12111/a/..", path),
            ("http://127.0.0.1:12111//", path),
            ("http://127.0.0.1:12111/?key=1", query),
            ("http://127.0.0.1:12111#top", query),
            ("http://user:pw@127.0.0.1:12111", user),
            ("http://user@127.0.0.1:12111/", user),
            (
                "http://127.0.0.1:12111 ",
                "--fake has white space around the URL; give the base URL alone, such as http://127.0.0.1:12111",
            ),
            (
                "https://fake.test",
                "--fake takes an http:// URL, such as http://127.0.0.1:12111: fakestripe serve listens on plain HTTP",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_fake_url(url), Err(expected.to_owned()), "{url}");
        }
    }
}
