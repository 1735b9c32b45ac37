//! Errors in the files the harness reads (scenarios, fakestripe.yaml):
//! the file, line and column, the offending line with a caret, and a
//! suggestion when a name is close to a valid one.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;
use unicode_width::UnicodeWidthChar;

use crate::scenario::located::LocatedValue;

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
            let (excerpt, caret_pad) = snippet(text, self.column);
            write!(
                f,
                "\n {gutter} |\n {number} | {excerpt}\n {gutter} | {caret_pad}^"
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

/// The size limit of scenario, app and fault plan files, far above any
/// real one. A path to a device or a runaway file then ends in an error
/// instead of filling memory.
pub const MAX_TEXT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a regular file of at most [`MAX_TEXT_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;

    // Checked before opening, since opening a named pipe waits for a writer.
    let metadata = std::fs::metadata(path).map_err(|err| err.to_string())?;
    if metadata.is_dir() {
        return Err("it is a folder; give a file".to_owned());
    }
    if !metadata.is_file() {
        return Err(
            "it is not a regular file (a device, a pipe or a socket); give a file".to_owned(),
        );
    }
    let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(format!(
            "it is larger than {} MiB, which no scenario, app file or fault plan needs",
            MAX_TEXT_BYTES / (1024 * 1024)
        ));
    }
    Ok(bytes)
}

/// Reads a text file that `label` names in messages ("the file", "the app
/// file"). Bytes that are not UTF-8 are an error at their line and column,
/// with the line shown up to them, so the user can find a character that
/// an editor saved in another encoding.
pub fn read_text(path: &Path, label: &str) -> Result<String, FileError> {
    let bytes = read_bounded(path).map_err(|message| {
        FileError::whole_file(path, format!("cannot read {label}: {message}"))
    })?;
    String::from_utf8(bytes).map_err(|err| {
        let bytes = err.as_bytes();
        let offset = err.utf8_error().valid_up_to();
        let line_start = bytes[..offset]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |newline| newline + 1);
        // `valid_up_to` guarantees that the bytes before the bad one are UTF-8.
        let before = std::str::from_utf8(&bytes[line_start..offset]).unwrap_or_default();
        // Columns on the first line do not count a byte order mark.
        let before = before.strip_prefix('\u{feff}').unwrap_or(before);
        let line = bytes[..line_start].iter().filter(|b| **b == b'\n').count() + 1;
        FileError {
            path: path.to_owned(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(before.chars().count() + 1).unwrap_or(u32::MAX),
            message: format!(
                "{label} is not UTF-8 text: the byte 0x{:02x} at offset {offset} is not valid \
                 UTF-8 here",
                bytes[offset]
            ),
            help: Some(
                "save the file as UTF-8; an editor may have written it as Latin-1 or \
                 Windows-1252"
                    .to_owned(),
            ),
            source_line: Some(format!("{before}\u{fffd}")),
        }
    })
}

/// Maximum characters of a source line that an error shows. A longer line
/// is cut to this many characters around the error's column.
const SNIPPET_MAX_CHARS: usize = 120;

/// Returns the part of `line` an error shows, and the padding that puts a
/// caret under the character at `column` (1-based, in characters). A line
/// longer than [`SNIPPET_MAX_CHARS`] is cut around the column, with `…`
/// on each side that was cut. The padding repeats the tabs of the
/// excerpt and gives every other character the cells a terminal draws it
/// in, so the caret lines up after a tab or a wide character too.
fn snippet(line: &str, column: u32) -> (Cow<'_, str>, String) {
    let total = line.chars().count();
    let caret = column.saturating_sub(1) as usize;
    let (excerpt, caret) = if total <= SNIPPET_MAX_CHARS {
        (Cow::Borrowed(line), caret)
    } else {
        // A column past the end of the line shows the line's end.
        let anchor = caret.min(total);
        let end = (anchor.saturating_sub(SNIPPET_MAX_CHARS / 2) + SNIPPET_MAX_CHARS).min(total);
        let start = end - SNIPPET_MAX_CHARS;
        let byte_at = |index: usize| {
            line.char_indices()
                .nth(index)
                .map_or(line.len(), |(byte, _)| byte)
        };
        let mut excerpt = String::new();
        if start > 0 {
            excerpt.push('…');
        }
        excerpt.push_str(&line[byte_at(start)..byte_at(end)]);
        if end < total {
            excerpt.push('…');
        }
        let marker = usize::from(start > 0);
        (Cow::Owned(excerpt), caret - start + marker)
    };
    let mut pad = String::new();
    let mut chars_before = 0;
    for c in excerpt.chars().take(caret) {
        chars_before += 1;
        if c == '\t' {
            pad.push('\t');
        } else {
            // Two cells for a CJK ideograph, none for a combining mark.
            pad.extend(std::iter::repeat_n(' ', c.width().unwrap_or(0)));
        }
    }
    // A column past the end of the line: one cell per missing character.
    pad.extend(std::iter::repeat_n(' ', caret - chars_before));
    (excerpt, pad)
}

/// The text of a file being read, for errors that quote it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

/// Returns the line and column, counted from 1 in characters, of the
/// first character of `text` that is not whitespace.
fn first_content_at(text: &str) -> (u32, u32) {
    for (index, line) in text.lines().enumerate() {
        if let Some(column) = line.chars().position(|c| !c.is_whitespace()) {
            return (index as u32 + 1, column as u32 + 1);
        }
    }
    (0, 0)
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

    /// Builds an error pointing at the first `needle` in the text from the
    /// line of `spanned` on, or at `spanned` itself when there is none. It
    /// serves values read without their positions, such as the strings of
    /// a JSON body template.
    pub fn at_text<T>(
        &self,
        spanned: &Spanned<T>,
        needle: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) -> FileError {
        let start = (spanned.referenced.line() as usize).saturating_sub(1);
        let found = self
            .text
            .lines()
            .enumerate()
            .skip(start)
            .find_map(|(index, line)| line.find(needle).map(|byte| (index, line, byte)));
        match found {
            Some((index, line, byte)) => self.error(
                index as u32 + 1,
                line[..byte].chars().count() as u32 + 1,
                message,
                help,
            ),
            None => self.at(spanned, message, help),
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
        if let Some(text) = without_byte_order_mark(self.text) {
            return Source { text, ..*self }.deserialize(requirement);
        }
        let is_json = self
            .path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if is_json {
            // YAML accepts more than JSON (comments, unquoted keys), so a
            // .json file is first held to JSON's own grammar.
            if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(self.text) {
                let message = strip_position(&err.to_string());
                let line = err.line() as u32;
                let line_text = self.text.lines().nth(line.saturating_sub(1) as usize);
                // serde_json counts the column in bytes, and errors count
                // it in characters.
                let column =
                    line_text.map_or(err.column() as u32, |text| char_column(text, err.column()));
                let found =
                    line_text.and_then(|text| text.chars().nth(column.saturating_sub(1) as usize));
                let help = match found {
                    _ if err.is_eof() => Some(
                        "the file ends before every `{` and `[` is closed; add the missing brackets"
                            .to_owned(),
                    ),
                    Some('#') => {
                        Some("JSON has no comments; name the file .yaml to use them".to_owned())
                    }
                    Some(']' | '}') => Some("JSON allows no comma after the last item".to_owned()),
                    // A JSON document starts with `{` or `[`; a key or a
                    // `- ` item at the start is YAML in a .json file.
                    Some(first)
                        if (first.is_alphabetic() || first == '-')
                            && first_content_at(self.text) == (line, column) =>
                    {
                        Some(
                            "the file reads as YAML, not JSON; name it .yaml, or write it in JSON"
                                .to_owned(),
                        )
                    }
                    _ => None,
                };
                return Err(self.error(line, column, message, help));
            }
        }
        if self.text.trim().is_empty() {
            return Err(self.error(0, 0, format!("the file is empty; {requirement}"), None));
        }
        let only_comments = self.text.lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with('#')
        });
        if only_comments {
            return Err(self.error(
                0,
                0,
                format!("the file contains only comments; {requirement}"),
                None,
            ));
        }
        serde_saphyr::from_str(self.text).map_err(|err| {
            // A second document is the cause to report even when the
            // first one also lacks a key: the author most likely split
            // one scenario in two.
            match serde_saphyr::from_str::<serde::de::IgnoredAny>(self.text) {
                Err(whole) if is_second_document(&whole) => self.second_document_error(&whole),
                _ => match non_finite_text(&err) {
                    Some(number) => self.non_finite_error::<T>(&err, number),
                    None => self.yaml_error(&err),
                },
            }
        })
    }

    /// Reports a number that is not finite as a 64-bit float, such as
    /// `1e400` or `.inf`, which the YAML parser rejects before the key's
    /// own check runs. A second parse passes such numbers on to the
    /// checks, so when a key's check rejects the number at the same place,
    /// its error, with the key's name and range, is the one reported.
    fn non_finite_error<T: DeserializeOwned>(
        &self,
        err: &serde_saphyr::Error,
        number: &str,
    ) -> FileError {
        let located = self.yaml_error(err);
        let options = serde_saphyr::options! {
            non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        };
        if let Err(retry) = serde_saphyr::from_str_with_options::<T>(self.text, options) {
            let keyed = self.yaml_error(&retry);
            if (keyed.line, keyed.column) == (located.line, located.column) {
                return keyed;
            }
        }
        let message = format!(
            "invalid number `{}`: it is infinite, not a number, or beyond the range of a 64-bit float (about ±1.8e308)",
            shorten(number)
        );
        self.error(located.line, located.column, message, None)
    }

    /// Points the error for a second document at the `---` line that
    /// starts it, where the parser points at the document's first value.
    fn second_document_error(&self, err: &serde_saphyr::Error) -> FileError {
        let mut error = self.yaml_error(err);
        let lines: Vec<&str> = self.text.lines().collect();
        let separator = (0..error.line as usize)
            .rev()
            .find(|&index| lines.get(index).is_some_and(|line| line.starts_with("---")));
        if let Some(index) = separator {
            error = self.error(index as u32 + 1, 1, error.message, error.help);
        }
        error
    }

    fn yaml_error(&self, err: &serde_saphyr::Error) -> FileError {
        let (line, column) = err
            .location()
            .map(|loc| (loc.line() as u32, loc.column() as u32))
            .unwrap_or((0, 0));
        let raw = strip_position(&err.without_snippet().to_string());
        if raw == DUPLICATE_FULFILMENTS
            && let Some(error) = self.second_spelling_error(line, column)
        {
            return error;
        }
        let (message, help) = match explain_budget(err) {
            Some(explained) => explained,
            None => explain(&raw),
        };
        if message.starts_with("missing key `") {
            // The parser places a missing key at the map's last key. The
            // map's first key is where a reader looks for the map.
            let (line, column) = self.map_start(line, column);
            let help = Some("add the key to the map that starts here".to_owned());
            return self.error(line, column, message, help);
        }
        let help = match help {
            None if message == "expected a map of keys and values" => self.indentation_help(line),
            None if message == "expected a list" => self.list_help(line, column),
            help => help,
        };
        self.error(line, column, message, help)
    }

    /// Builds the error for a map that gives the fulfilment count under
    /// both its spellings, pointing at the second key written. serde
    /// places the error at the map, at `line` and `column`, so the map is
    /// the last one with both keys that starts at or before that place.
    /// Returns None when the file has no such map.
    fn second_spelling_error(&self, line: u32, column: u32) -> Option<FileError> {
        // A key given again in the same spelling would fail this parse, and
        // the first of its copies is the one the message needs.
        let options = serde_saphyr::options! {
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::FirstWins,
        };
        let tree: Spanned<LocatedValue> =
            serde_saphyr::from_str_with_options(self.text, options).ok()?;
        let mut maps = Vec::new();
        maps_with_both_spellings(&tree, &mut maps);
        let place = (u64::from(line), u64::from(column));
        let DoubleSpelling { first, second, .. } = maps
            .iter()
            .rev()
            .find(|map| map.start <= place)
            .or_else(|| maps.first())?;
        let message = format!(
            "`{}` and `{}` (line {}) are one key given twice, so keep one spelling",
            second.value,
            first.value,
            first.referenced.line()
        );
        let help = format!(
            "delete this `{}` or the `{}` at line {}, column {}",
            second.value,
            first.value,
            first.referenced.line(),
            first.referenced.column()
        );
        Some(self.at(second, message, Some(help)))
    }

    /// Returns a help line for a list item such as `- checkout:` whose
    /// keys follow at the indentation of `checkout` itself. YAML then reads
    /// them as keys of the list item beside `checkout`, which is left
    /// without a value, so the error names a missing map. The item is the
    /// nearest line at or above `line` that ends in a key and a colon.
    fn indentation_help(&self, line: u32) -> Option<String> {
        let lines: Vec<&str> = self.text.lines().collect();
        let last = (line as usize).min(lines.len()).checked_sub(1)?;
        let (index, key, key_column) = (0..=last).rev().find_map(|index| {
            let text = lines[index];
            let dash = text.len() - text.trim_start().len();
            let rest = text.trim_start().strip_prefix("- ")?;
            let key = rest.trim_end().strip_suffix(':')?;
            let plain =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let key_column = dash + 2 + (rest.len() - rest.trim_start().len());
            plain.then(|| (index, key.to_owned(), key_column))
        })?;
        let next = lines[index + 1..].iter().find(|text| {
            let trimmed = text.trim_start();
            !trimmed.is_empty() && !trimmed.starts_with('#')
        })?;
        let indent = next.len() - next.trim_start().len();
        let looks_like_key = next.trim_start().split_once(':').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if indent != key_column || !looks_like_key {
            return None;
        }
        Some(format!(
            "the lines after `- {key}:` (line {}) start at the same column as `{key}`, so YAML reads them as keys beside `{key}`, which is left without a value. Indent them by two more spaces, or write the keys in braces: `- {key}: {{ … }}`",
            index + 1
        ))
    }

    /// Returns a help line with the list form of a plain value written
    /// where a list is expected, such as `command: [bash, run.sh]` for
    /// `command: bash run.sh`. A `command` is split at spaces into the
    /// program and its arguments, and any other value becomes a list of
    /// one item. A value in quotes or brackets gets no help line, except
    /// for `command`, which gets an example.
    fn list_help(&self, line: u32, column: u32) -> Option<String> {
        let text = self.text.lines().nth((line as usize).checked_sub(1)?)?;
        let start = text
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map_or(text.len(), |(byte, _)| byte);
        let (before, after) = text.split_at(start);
        let before = before.trim_end().strip_suffix(':')?;
        let key = before
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .filter(|key| !key.is_empty())?;
        // Inside braces the value ends at the next `,` or `}`.
        let in_flow = before.contains('{');
        let end = after
            .find(|c| in_flow && (c == ',' || c == '}'))
            .unwrap_or(after.len());
        let value = after[..end].split(" #").next().unwrap_or("").trim();
        let plain = !value.is_empty()
            && !value.contains(['"', '\'', '[', ']', '{', '}', ',', '#'])
            && !value.contains(": ");
        let items = match (key, plain) {
            ("command", true) => value.split_whitespace().collect::<Vec<_>>().join(", "),
            ("command", false) => "bash, run.sh".to_owned(),
            (_, true) => value.to_owned(),
            (_, false) => return None,
        };
        Some(format!("write the value as a list: `{key}: [{items}]`"))
    }

    /// Returns the place of the first key of the block map that has a key
    /// at `line` and `column`: the line furthest up, with nothing less
    /// indented between, whose key starts at the same column.
    fn map_start(&self, line: u32, column: u32) -> (u32, u32) {
        let lines: Vec<&str> = self.text.lines().collect();
        let indent = column.saturating_sub(1) as usize;
        let mut first = line;
        for index in (0..(line as usize).saturating_sub(1)).rev() {
            let text = lines[index];
            let trimmed = text.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let own = text.len() - trimmed.len();
            if own < indent || (own == indent && trimmed.starts_with('-')) {
                break;
            }
            if own == indent {
                first = index as u32 + 1;
            }
        }
        (first, column)
    }
}

/// serde's error for a map that gives the fulfilment count under both of
/// its spellings, which it reads as one field given twice.
const DUPLICATE_FULFILMENTS: &str = "duplicate field `fulfilments`";

/// The spellings of the fulfilment count key: British, as the harness
/// writes it, and American, as Stripe's documentation spells "fulfill".
const FULFILMENT_SPELLINGS: [&str; 2] = ["fulfilments", "fulfillments"];

/// A map that gives the fulfilment count under both spellings.
struct DoubleSpelling<'a> {
    /// The map's line and column.
    start: (u64, u64),
    /// The first key of the two written.
    first: &'a Spanned<String>,
    /// The other key, written later.
    second: &'a Spanned<String>,
}

/// Adds to `maps` each map under `value` that has a key of both
/// spellings, in file order.
fn maps_with_both_spellings<'a>(
    value: &'a Spanned<LocatedValue>,
    maps: &mut Vec<DoubleSpelling<'a>>,
) {
    match &value.value {
        LocatedValue::Scalar(_) => {}
        LocatedValue::List(items) => {
            for item in items {
                maps_with_both_spellings(item, maps);
            }
        }
        LocatedValue::Map(entries) => {
            let mut keys = entries
                .iter()
                .map(|(key, _)| key)
                .filter(|key| FULFILMENT_SPELLINGS.contains(&key.value.as_str()));
            if let (Some(first), Some(second)) = (keys.next(), keys.next())
                && first.value != second.value
            {
                let start = (value.referenced.line(), value.referenced.column());
                maps.push(DoubleSpelling {
                    start,
                    first,
                    second,
                });
            }
            for (_, item) in entries {
                maps_with_both_spellings(item, maps);
            }
        }
    }
}

/// Writes a number read from a file as its author most likely typed it:
/// `0` and `2.5` as such, `1e30` in exponent form.
pub fn number_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:?}")
    }
}

/// Returns the number's text when the YAML parser rejected a number that
/// is not finite as a 64-bit float.
fn non_finite_text(err: &serde_saphyr::Error) -> Option<&str> {
    match err {
        serde_saphyr::Error::WithSnippet { error, .. } => non_finite_text(error),
        serde_saphyr::Error::NonFiniteFloat { value, .. } => Some(value),
        _ => None,
    }
}

/// The start of the YAML parser's error for a file with more than one
/// document.
const SECOND_DOCUMENT: &str = "multiple YAML documents detected";

fn is_second_document(err: &serde_saphyr::Error) -> bool {
    strip_position(&err.without_snippet().to_string()).starts_with(SECOND_DOCUMENT)
}

/// Returns the text after a byte order mark, which some editors write at
/// the start of a file and which neither JSON nor the YAML parser accepts.
pub fn without_byte_order_mark(text: &str) -> Option<&str> {
    text.strip_prefix('\u{feff}')
}

/// Explains an error about one of the YAML parser's size limits, such as
/// the number of values that a file's aliases expand to, which stops an
/// alias bomb. Returns None for every other error.
///
/// serde-saphyr 2.2 writes these errors with Rust's debug format, and
/// appends the alias's locations, so [`strip_position`] would cut the
/// message in the middle.
fn explain_budget(err: &serde_saphyr::Error) -> Option<(String, Option<String>)> {
    use serde_saphyr::Error;
    let mut current = err;
    let mut alias = None;
    let breach = loop {
        match current {
            Error::WithSnippet { error, .. } => current = error,
            Error::AliasError {
                error, locations, ..
            } => {
                alias.get_or_insert(*locations);
                current = error;
            }
            Error::Budget { breach, .. } => break breach,
            _ => return None,
        }
    };
    let limit = describe_breach(breach);
    let message = match alias {
        Some(_) => format!(
            "the file is too large for the YAML parser once its aliases are expanded: {limit}"
        ),
        None => format!("the file is too large for the YAML parser: {limit}"),
    };
    let defined = alias
        .map(|locations| locations.defined_location)
        .filter(|location| *location != serde_saphyr::Location::UNKNOWN);
    let help = match defined {
        Some(anchor) => format!(
            "the alias here copies the anchor defined at line {}, column {}, and aliases of lists that hold aliases multiply the copies; write the values out, or use fewer aliases",
            anchor.line(),
            anchor.column()
        ),
        None => "a scenario needs far less; look for aliases (`*name`) that copy lists of other aliases, and write the values out".to_owned(),
    };
    Some((message, Some(help)))
}

/// Describes the limit that a file exceeded, with the limit's value.
fn describe_breach(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach;
    // `serde_saphyr::from_str` applies the default limits.
    let budget = serde_saphyr::Budget::default();
    match breach {
        BudgetBreach::Nodes { .. } => format!(
            "more than {} values, counting each list, map and scalar",
            budget.max_nodes
        ),
        BudgetBreach::Events { .. } => {
            format!("more than {} parser events", budget.max_events)
        }
        BudgetBreach::Aliases { .. } => format!("more than {} aliases", budget.max_aliases),
        BudgetBreach::Anchors { .. } => format!("more than {} anchors", budget.max_anchors),
        BudgetBreach::Depth { .. } => format!(
            "lists and maps nested more than {} levels deep",
            budget.max_depth
        ),
        BudgetBreach::Documents { .. } => {
            format!("more than {} YAML documents", budget.max_documents)
        }
        BudgetBreach::ScalarBytes { .. } => format!(
            "more than {} bytes of scalar text",
            budget.max_total_scalar_bytes
        ),
        BudgetBreach::MergeKeys { .. } => {
            format!("more than {} merge keys (`<<`)", budget.max_merge_keys)
        }
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases for {anchors} anchors, too many aliases per anchor")
        }
        BudgetBreach::RecordedAnchorEvents { .. } => format!(
            "anchors whose copies hold more than {} parser events",
            budget.max_recorded_anchor_events
        ),
        BudgetBreach::RecordedAnchorBytes { .. } => format!(
            "anchors whose copies hold more than {} bytes",
            budget.max_recorded_anchor_bytes
        ),
        _ => "a size limit of the parser".to_owned(),
    }
}

/// Converts a 1-based byte column of `line` to a 1-based character column.
/// A byte column inside a character counts as that character, and one past
/// the end of the line stays past it.
fn char_column(line: &str, byte_column: usize) -> u32 {
    let byte = byte_column.saturating_sub(1);
    let before = line
        .char_indices()
        .take_while(|(index, c)| index + c.len_utf8() <= byte)
        .count();
    let past_end = byte.saturating_sub(line.len());
    (before + past_end + 1) as u32
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
        let noun = NOUNS
            .iter()
            .find(|(_, names)| {
                expected.len() == names.len() && expected.iter().zip(*names).all(|(a, b)| a == b)
            })
            .map_or("value", |(noun, _)| noun);
        let help = if noun == "fault kind" {
            suggest_fault_kind(&name)
        } else {
            suggest(&name, &expected)
        };
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
    if raw.starts_with(SECOND_DOCUMENT) {
        return (
            "a second YAML document starts here".to_owned(),
            Some("keep one document per file, without a `---` line between two".to_owned()),
        );
    }
    if raw.starts_with("tabs disallowed") && raw.contains("indentation") {
        return (
            "a tab indents this line, and YAML indents with spaces only".to_owned(),
            Some("replace the tabs at the start of the line with spaces".to_owned()),
        );
    }
    // serde reports a key given under two of its spellings as a duplicate
    // of the main spelling.
    if raw == "duplicate field `fulfilments`" {
        return (
            "`fulfilments` and `fulfillments` are one key, given twice".to_owned(),
            Some("keep one of the two spellings".to_owned()),
        );
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
        "expected string scalar" => "expected a string".to_owned(),
        other if other.starts_with("cannot deserialize null into ") => {
            "expected a value here, found null (`~` or nothing)".to_owned()
        }
        other => other
            .replace("invalid u32", "expected a whole number, 0 or more")
            .replace("invalid u64", "expected a whole number, 0 or more"),
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

/// Maximum characters of a value that an error message quotes.
const QUOTE_MAX_CHARS: usize = 60;

/// Cuts a value from the file to [`QUOTE_MAX_CHARS`] characters, ending in
/// `…` when cut, so that a message quoting it stays one readable line.
pub fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(QUOTE_MAX_CHARS) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// Returns the valid name nearest to `name`, as a help line, when one is close
/// enough to be a likely misspelling.
pub fn suggest<S: AsRef<str>>(name: &str, valid: &[S]) -> Option<String> {
    suggest_within(name, valid, |best| (best.len().max(name.len()) / 3).max(2))
}

/// Returns a help line like [`suggest`], with `limit` giving the largest
/// edit distance from the nearest valid name that is still suggested.
pub fn suggest_within<S: AsRef<str>>(
    name: &str,
    valid: &[S],
    limit: impl Fn(&str) -> usize,
) -> Option<String> {
    let (best, distance) = valid
        .iter()
        .map(|candidate| {
            (
                candidate.as_ref(),
                strsim::damerau_levenshtein(name, candidate.as_ref()),
            )
        })
        .min_by_key(|(_, distance)| *distance)?;
    (distance <= limit(best)).then(|| format!("did you mean `{best}`?"))
}

/// Returns the fault kind nearest to `kind`, as a help line, by the rule
/// the fake's fault API uses (`fakestripe_server::faults::nearest_kind`),
/// so the scenario loader and the fake suggest the same kind.
pub fn suggest_fault_kind(kind: &str) -> Option<String> {
    fakestripe_server::faults::nearest_kind(kind)
        .map(|candidate| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For each misspelt kind, the scenario loader suggests the kind that
    /// the fake's own error names, or none when the fake names none.
    #[test]
    fn fault_kind_suggestion_matches_fake() {
        let misspelt = [
            "webhook_dupe",
            "webhook_duplicat",
            "webhook_dup",
            "webhook_delays",
            "webhook_dropped",
            "stale_reads",
            "api_errors",
            "lost_responses",
            "forged_webhooks",
            "holds",
            "hold_events",
            "payment_lag",
            "payment_status",
            "metadata",
            "webhook",
            "drop",
            "xyz",
        ];
        for kind in misspelt {
            let plan = serde_json::json!({ "faults": [{ "kind": kind }] });
            let err =
                fakestripe_server::faults::validate_plan(&plan).expect_err("the kind is misspelt");
            let fake = err
                .message
                .split_once("Did you mean `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(name, _)| format!("did you mean `{name}`?"));
            assert_eq!(suggest_fault_kind(kind), fake, "{kind}: {}", err.message);
        }
    }

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

    /// Renders an error at `column` of a one-line file and returns the
    /// snippet's source line and caret line, without the gutter.
    fn snippet_lines(line: &str, column: u32) -> (String, String) {
        let source = Source {
            path: Path::new("long.yaml"),
            text: line,
        };
        let rendered = source.error(1, column, "invalid", None).to_string();
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines.len(), 4, "{rendered}");
        let text = lines[2].strip_prefix(" 1 | ").expect("the source line");
        let caret = lines[3].strip_prefix("   | ").expect("the caret line");
        (text.to_owned(), caret.to_owned())
    }

    /// Returns the character above the caret.
    fn under_caret(text: &str, caret: &str) -> Option<char> {
        assert!(caret.ends_with('^'), "{caret:?}");
        text.chars().nth(caret.chars().count() - 1)
    }

    #[test]
    fn snippet_short_line_whole() {
        let (text, caret) = snippet_lines("steps: [checkout]", 9);
        assert_eq!(text, "steps: [checkout]");
        assert_eq!(caret, "        ^");
    }

    #[test]
    fn snippet_long_line_middle() {
        let line = format!("{}X{}", "a".repeat(5_000), "b".repeat(5_000));
        let (text, caret) = snippet_lines(&line, 5_001);
        assert!(text.starts_with('…'), "{text}");
        assert!(text.ends_with('…'), "{text}");
        assert_eq!(text.chars().count(), SNIPPET_MAX_CHARS + 2);
        assert_eq!(under_caret(&text, &caret), Some('X'));
    }

    #[test]
    fn snippet_long_line_start() {
        let line = format!("X{}", "a".repeat(10_000));
        let (text, caret) = snippet_lines(&line, 1);
        assert!(text.starts_with('X'), "{text}");
        assert!(text.ends_with('…'), "{text}");
        assert_eq!(text.chars().count(), SNIPPET_MAX_CHARS + 1);
        assert_eq!(caret, "^");
    }

    #[test]
    fn snippet_long_line_end() {
        let line = format!("{}X", "a".repeat(10_000));
        let (text, caret) = snippet_lines(&line, 10_001);
        assert!(text.starts_with('…'), "{text}");
        assert!(text.ends_with('X'), "{text}");
        assert_eq!(text.chars().count(), SNIPPET_MAX_CHARS + 1);
        assert_eq!(under_caret(&text, &caret), Some('X'));
        // A column just past the end puts the caret after the last character.
        let (text, caret) = snippet_lines(&line, 10_002);
        assert_eq!(caret.chars().count(), text.chars().count() + 1);
    }

    #[test]
    fn snippet_long_line_multibyte() {
        // Two- and three-byte characters on both sides of the column.
        let line = format!("{}X{}", "é".repeat(4_999), "→".repeat(5_000));
        let (text, caret) = snippet_lines(&line, 5_000);
        assert_eq!(under_caret(&text, &caret), Some('X'));
        assert!(text[3..].starts_with('é'), "{text}");
        assert!(text.contains('→'), "{text}");
        // Every column of a short stretch keeps the caret on its character.
        for column in 4_990..5_010 {
            let (text, caret) = snippet_lines(&line, column);
            let expected = line.chars().nth(column as usize - 1);
            assert_eq!(under_caret(&text, &caret), expected, "column {column}");
        }
    }

    #[test]
    fn snippet_caret_after_tab() {
        let (text, caret) = snippet_lines("\tkey: x", 7);
        assert_eq!(under_caret(&text, &caret), Some('x'));
        assert!(caret.starts_with('\t'), "{caret:?}");
    }

    #[test]
    fn snippet_caret_after_wide_characters() {
        // 名 and 前 take two cells each, so `checkout` starts in cell 8.
        let (text, caret) = snippet_lines("名前: [checkout]", 6);
        assert_eq!(text, "名前: [checkout]");
        assert_eq!(caret, "       ^");
    }

    #[test]
    fn json_column_in_characters() {
        let text = "{\"name\": \"ééé\" x}";
        let source = Source {
            path: Path::new("bad.json"),
            text,
        };
        let error = source
            .deserialize::<serde_json::Value>("")
            .expect_err("the text is not JSON");
        let x = text
            .chars()
            .position(|c| c == 'x')
            .expect("x is in the text");
        assert_eq!(error.column as usize, x + 1);
    }

    #[test]
    fn second_document_before_missing_key() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            version: u32,
            steps: Vec<String>,
        }
        let source = Source {
            path: Path::new("split.yaml"),
            text: "version: 1\n---\nsteps: [checkout]\n",
        };
        let error = source
            .deserialize::<Needs>("")
            .expect_err("the file holds two documents");
        assert_eq!((error.line, error.column), (2, 1), "{error}");
        assert!(
            error
                .to_string()
                .contains("a second YAML document starts here"),
            "{error}"
        );
        // A single document without `steps` gets the missing-key error.
        let source = Source {
            text: "version: 1\n",
            ..source
        };
        let error = source
            .deserialize::<Needs>("")
            .expect_err("steps is missing");
        assert!(error.to_string().contains("missing key `steps`"), "{error}");
    }

    #[test]
    fn tab_indent_explained() {
        let source = Source {
            path: Path::new("tabs.yaml"),
            text: "version: 1\nsteps:\n\t- checkout: { order: O-1 }\n",
        };
        let error = source
            .deserialize::<serde_json::Value>("")
            .expect_err("a tab indents a line");
        assert_eq!(error.line, 3, "{error}");
        assert!(
            error.message.contains("YAML indents with spaces only"),
            "{error}"
        );
        assert!(
            error
                .help
                .as_deref()
                .is_some_and(|help| help.contains("with spaces")),
            "{error}"
        );
    }

    #[test]
    fn char_column_conversion() {
        assert_eq!(char_column("abc", 1), 1);
        assert_eq!(char_column("abc", 4), 4);
        assert_eq!(char_column("éx", 3), 2);
        // A byte inside `é` counts as `é`.
        assert_eq!(char_column("éx", 2), 1);
        assert_eq!(char_column("é", 5), 4);
        assert_eq!(char_column("", 0), 1);
    }

    #[test]
    fn shorten_long_values() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(100);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), QUOTE_MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
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
