//! Errors in the files the harness reads (scenarios, fakestripe.yaml):
//! the file, line and column, the offending line with a caret, and a
//! suggestion when a name is close to a valid one.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

/// An invalid file, with the place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    /// 1-based; 0 when the error concerns the whole file.
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub help: Option<String>,
    /// The text of the line the error points at.
    pub source_line: Option<String>,
}

impl FileError {
    /// Builds an error about the whole file, such as one that cannot be read.
    pub fn whole_file(path: &Path, message: impl Into<String>) -> FileError {
        FileError {
            path: path.to_owned(),
            line: 0,
            column: 0,
            message: message.into(),
            help: None,
            source_line: None,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )?;
        }
        if let Some(text) = &self.source_line {
            let number = self.line.to_string();
            let gutter = " ".repeat(number.len());
            let caret_pad = " ".repeat(self.column.saturating_sub(1) as usize);
            write!(
                f,
                "\n {gutter} |\n {number} | {text}\n {gutter} | {caret_pad}^"
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

/// The text of a file being read, for errors that quote it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn error(
        &self,
        line: u32,
        column: u32,
        message: impl Into<String>,
        help: Option<String>,
    ) -> FileError {
        let source_line = (line > 0)
            .then(|| self.text.lines().nth(line as usize - 1))
            .flatten()
            .map(|text| text.trim_end().to_owned());
        FileError {
            path: self.path.to_owned(),
            line,
            column,
            message: message.into(),
            help,
            source_line,
        }
    }

    /// Builds an error pointing at a spanned value.
    pub fn at<T>(
        &self,
        spanned: &Spanned<T>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> FileError {
        self.error(
            spanned.referenced.line() as u32,
            spanned.referenced.column() as u32,
            message,
            help,
        )
    }

    /// Parses the text as YAML, or as JSON when the file name ends in
    /// `.json`, into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self, requirement: &str) -> Result<T, FileError> {
        let is_json = self
            .path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if is_json {
            // YAML accepts more than JSON (comments, unquoted keys), so a
            // .json file is first held to JSON's own grammar.
            if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(self.text) {
                let message = strip_position(&err.to_string());
                let (line, column) = (err.line() as u32, err.column() as u32);
                let found = self
                    .text
                    .lines()
                    .nth(line.saturating_sub(1) as usize)
                    .and_then(|text| text.chars().nth(column.saturating_sub(1) as usize));
                let help = match found {
                    Some('#') => {
                        Some("JSON has no comments; name the file .yaml to use them".to_owned())
                    }
                    Some(']' | '}') => Some("JSON allows no comma after the last item".to_owned()),
                    _ => None,
                };
                return Err(self.error(line, column, message, help));
            }
        }
        if self.text.trim().is_empty() {
            return Err(self.error(0, 0, format!("the file is empty; {requirement}"), None));
        }
        serde_saphyr::from_str(self.text).map_err(|err| self.yaml_error(&err))
    }

    fn yaml_error(&self, err: &serde_saphyr::Error) -> FileError {
        let (line, column) = err
            .location()
            .map(|loc| (loc.line() as u32, loc.column() as u32))
            .unwrap_or((0, 0));
        let raw = strip_position(&err.without_snippet().to_string());
        let (message, help) = explain(&raw);
        self.error(line, column, message, help)
    }
}

/// Removes the " at line N, column M" that serde_json and serde-saphyr
/// append, since the error shows the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Names of enums whose unknown-variant errors get a better noun than
/// "value": the step names and the fault kinds.
const NOUNS: &[(&str, &[&str])] = &[
    ("step", crate::scenario::model::STEP_NAMES),
    ("fault kind", crate::scenario::model::FAULT_KINDS),
];

/// Rewrites serde's and the YAML parser's messages in plain terms, and finds
/// the nearest valid name for an unknown one.
pub fn explain(raw: &str) -> (String, Option<String>) {
    if let Some((name, expected)) = parse_unknown(raw, "unknown variant `") {
        let help = suggest(&name, &expected);
        let noun = NOUNS
            .iter()
            .find(|(_, names)| {
                expected.len() == names.len() && expected.iter().zip(*names).all(|(a, b)| a == b)
            })
            .map_or("value", |(noun, _)| noun);
        return (
            format!(
                "unknown {noun} `{name}`, expected one of {}",
                expected.join(", ")
            ),
            help,
        );
    }
    if let Some((name, expected)) = parse_unknown(raw, "unknown field `") {
        if expected.is_empty() {
            return (
                format!("unknown key `{name}`, this map takes no keys"),
                None,
            );
        }
        let help = suggest(&name, &expected);
        return (
            format!(
                "unknown key `{name}`, expected one of {}",
                expected.join(", ")
            ),
            help,
        );
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        return (format!("missing key `{name}`"), None);
    }
    if let Some(rest) = raw.strip_prefix("duplicate mapping key: ") {
        let name = rest.split(',').next().unwrap_or(rest).trim();
        return (
            format!("duplicate key `{name}`"),
            Some("each key may appear once in a map".to_owned()),
        );
    }
    let rewritten = match raw {
        "expected sequence start" => "expected a list".to_owned(),
        "expected mapping start" => "expected a map of keys and values".to_owned(),
        "unexpected end of input" => "unexpected end of the file".to_owned(),
        "unexpected value for unit enum variant" => "this value takes no parameters".to_owned(),
        other => other
            .replace("invalid u32", "expected a whole number")
            .replace("invalid u64", "expected a whole number"),
    };
    (rewritten, None)
}

/// Splits "unknown field `x`, expected one of a, b" (or "expected `a` or
/// `b`", or "there are no fields") into the name and the valid names.
fn parse_unknown(raw: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = raw.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    let name = rest[..end].to_owned();
    let tail = &rest[end + 1..];
    let expected_text = tail
        .strip_prefix(", expected one of ")
        .or_else(|| tail.strip_prefix(", expected "))
        .unwrap_or("");
    let expected = expected_text
        .split([',', ' '])
        .map(|word| word.trim().trim_matches('`'))
        .filter(|word| !word.is_empty() && *word != "or")
        .map(str::to_owned)
        .collect();
    Some((name, expected))
}

/// Returns the valid name nearest to `name`, as a help line, when one is close
/// enough to be a likely misspelling.
pub fn suggest<S: AsRef<str>>(name: &str, valid: &[S]) -> Option<String> {
    let (best, distance) = valid
        .iter()
        .map(|candidate| {
            (
                candidate.as_ref(),
                strsim::damerau_levenshtein(name, candidate.as_ref()),
            )
        })
        .min_by_key(|(_, distance)| *distance)?;
    let limit = (best.len().max(name.len()) / 3).max(2);
    (distance <= limit).then(|| format!("did you mean `{best}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggest_close_names() {
        assert_eq!(
            suggest("chekout", &["checkout", "pay"]),
            Some("did you mean `checkout`?".to_owned())
        );
        assert_eq!(suggest("xyz", &["checkout", "pay"]), None);
        assert_eq!(
            suggest("fulfilment", &["fulfilments"]),
            Some("did you mean `fulfilments`?".to_owned())
        );
    }

    #[test]
    fn unknown_field_parts() {
        let (name, expected) = parse_unknown(
            "unknown field `crad`, expected one of order, card",
            "unknown field `",
        )
        .expect("the message has the serde shape");
        assert_eq!(name, "crad");
        assert_eq!(expected, vec!["order", "card"]);
        let (_, two) = parse_unknown("unknown field `x`, expected `a` or `b`", "unknown field `")
            .expect("the message has the serde shape");
        assert_eq!(two, vec!["a", "b"]);
    }
}
