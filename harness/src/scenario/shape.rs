//! Reading the shape of a scenario file (keys, value types, durations)
//! with every mistake reported, not only the first.
//!
//! serde stops at the first error it meets, and the YAML parser cannot go
//! on from the middle of a value. So after an error the file is read
//! again with the top-level key or the `steps` entry that contains the error
//! left unread, until a read finds no new error. Each read finds the first
//! error after the parts left out, so a file gets at most one error per
//! top-level key and one per step.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::located::LocatedValue;
use super::model::{ScenarioFile, StepEntry};
use super::numbers;
use super::values::Duration;
use crate::diagnostic::{FileError, Source};

/// Maximum errors reported for the shape of one file. Each error costs
/// one more read of the whole file.
const MAX_SHAPE_ERRORS: usize = 50;

/// The top-level keys of a scenario file, in the order of
/// [`ScenarioFile`]'s fields, as serde lists them in its errors.
const FIELDS: &[&str] = &[
    "version",
    "name",
    "description",
    "seed",
    "allow",
    "faults",
    "settle",
    "steps",
];

/// The parts of a file that a read leaves out.
#[derive(Debug, Clone, Default)]
struct Skipped {
    /// Top-level keys, by name.
    keys: BTreeSet<String>,
    /// Entries of `steps`, by index from 0.
    steps: BTreeSet<usize>,
}

thread_local! {
    // serde offers no way to hand state to a derived `Deserialize`, and
    // the YAML parser has no entry point that takes a seed, so the parts
    // to leave out reach the visitors through the thread that reads.
    static SKIPPED: RefCell<Skipped> = RefCell::new(Skipped::default());
}

/// A part of a file that one error is charged to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Key(String),
    Step(usize),
}

/// Returns every shape error of a file whose first read failed with
/// `first`, sorted by line and column. `requirement` is the text that
/// [`Source::deserialize`] adds to the error for an empty file.
pub(super) fn errors(source: &Source<'_>, first: FileError, requirement: &str) -> Vec<FileError> {
    let mut errors = vec![first];
    let Some(parts) = PartMap::read(source) else {
        // A syntax error: the parser cannot find the parts of the file.
        return errors;
    };
    let mut skipped = Skipped::default();
    while errors.len() < MAX_SHAPE_ERRORS {
        let Some(last) = errors.last() else { break };
        let inserted = match parts.containing(last.line, last.column) {
            Some(Part::Key(key)) => skipped.keys.insert(key),
            Some(Part::Step(index)) => skipped.steps.insert(index),
            None => false,
        };
        // An error outside every part, or in a part already left out,
        // would come back on every read.
        if !inserted {
            break;
        }
        let read = with_skipped(&skipped, || {
            source.deserialize::<ScenarioFile>(requirement).err()
        });
        let Some(error) = read else { break };
        let repeated = errors.iter().any(|known| {
            (known.line, known.column, &known.message) == (error.line, error.column, &error.message)
        });
        if repeated {
            break;
        }
        errors.push(error);
    }
    // Stable, so errors at one place keep the order they were found in.
    errors.sort_by_key(|error| (error.line, error.column));
    errors
}

/// Runs `read` with the parts in `skipped` left out, and restores the
/// default (nothing left out) afterwards, also when `read` panics.
fn with_skipped<T>(skipped: &Skipped, read: impl FnOnce() -> T) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            SKIPPED.with(|current| *current.borrow_mut() = Skipped::default());
        }
    }
    SKIPPED.with(|current| *current.borrow_mut() = skipped.clone());
    let _restore = Restore;
    read()
}

/// The start of each top-level entry and each `steps` entry of a file, in
/// file order.
struct PartMap {
    starts: Vec<((u64, u64), Part)>,
}

impl PartMap {
    /// Reads the parts of a file that is valid YAML, and for a `.json`
    /// file valid JSON. Returns None for any other file.
    fn read(source: &Source<'_>) -> Option<PartMap> {
        let is_json = source
            .path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if is_json && serde_json::from_str::<IgnoredAny>(source.text).is_err() {
            return None;
        }
        let tree: LocatedValue = serde_saphyr::from_str(source.text).ok()?;
        let LocatedValue::Map(entries) = tree else {
            return None;
        };
        let place = |location: Location| (location.line(), location.column());
        let mut starts = Vec::new();
        for (key, value) in entries {
            starts.push((place(key.referenced), Part::Key(key.value.clone())));
            if let ("steps", LocatedValue::List(items)) = (key.value.as_str(), &value.value) {
                for (index, item) in items.iter().enumerate() {
                    starts.push((place(item.referenced), Part::Step(index)));
                }
            }
        }
        starts.sort_by_key(|(start, _)| *start);
        Some(PartMap { starts })
    }

    /// Returns the part that contains the place at `line` and `column`:
    /// the last one that starts at or before it.
    fn containing(&self, line: u32, column: u32) -> Option<Part> {
        if line == 0 {
            return None;
        }
        let place = (u64::from(line), u64::from(column));
        self.starts
            .iter()
            .rev()
            .find(|(start, _)| *start <= place)
            .map(|(_, part)| part.clone())
    }
}

/// A top-level key, or a key that the current read leaves out.
enum Field {
    Known(&'static str),
    Skipped,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;

        impl Visitor<'_> for FieldVisitor {
            type Value = Field;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a top-level key of a scenario")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Field, E> {
                if SKIPPED.with(|skipped| skipped.borrow().keys.contains(value)) {
                    return Ok(Field::Skipped);
                }
                match FIELDS.iter().find(|name| **name == value) {
                    Some(name) => Ok(Field::Known(name)),
                    None => Err(E::unknown_field(value, FIELDS)),
                }
            }
        }

        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// `version`, read by its own check.
struct Version(Spanned<u32>);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        numbers::version(deserializer).map(Version)
    }
}

/// `seed`, read by its own check.
struct Seed(u64);

impl<'de> Deserialize<'de> for Seed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        numbers::seed(deserializer).map(Seed)
    }
}

/// `steps`, with the entries that the current read leaves out kept as
/// [`StepEntry::Skipped`] at their places.
struct Steps(Vec<Spanned<StepEntry>>);

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepsVisitor;

        impl<'de> Visitor<'de> for StepsVisitor {
            type Value = Steps;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of steps")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Steps, A::Error> {
                let mut steps = Vec::new();
                loop {
                    let index = steps.len();
                    let skip = SKIPPED.with(|skipped| skipped.borrow().steps.contains(&index));
                    let entry = if skip {
                        seq.next_element::<Spanned<IgnoredAny>>()?.map(|ignored| {
                            Spanned::new(StepEntry::Skipped, ignored.referenced, ignored.defined)
                        })
                    } else {
                        seq.next_element::<Spanned<StepEntry>>()?
                    };
                    match entry {
                        Some(entry) => steps.push(entry),
                        None => return Ok(Steps(steps)),
                    }
                }
            }
        }

        deserializer.deserialize_seq(StepsVisitor)
    }
}

impl<'de> Deserialize<'de> for ScenarioFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("ScenarioFile", FIELDS, FileVisitor)
    }
}

struct FileVisitor;

impl<'de> Visitor<'de> for FileVisitor {
    type Value = ScenarioFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scenario: a map with `version` and `steps`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScenarioFile, A::Error> {
        let mut version: Option<Spanned<u32>> = None;
        let mut name: Option<Option<String>> = None;
        let mut description: Option<Option<String>> = None;
        let mut seed: Option<u64> = None;
        let mut allow: Option<Vec<Spanned<String>>> = None;
        let mut faults: Option<Vec<Spanned<LocatedValue>>> = None;
        let mut settle: Option<Option<Duration>> = None;
        let mut steps: Option<Vec<Spanned<StepEntry>>> = None;

        while let Some(field) = map.next_key::<Field>()? {
            let Field::Known(key) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let seen = match key {
                "version" => version.is_some(),
                "name" => name.is_some(),
                "description" => description.is_some(),
                "seed" => seed.is_some(),
                "allow" => allow.is_some(),
                "faults" => faults.is_some(),
                "settle" => settle.is_some(),
                "steps" => steps.is_some(),
                _ => unreachable!("`Field` contains only the names in `FIELDS`"),
            };
            if seen {
                return Err(de::Error::duplicate_field(key));
            }

            match key {
                "version" => version = Some(map.next_value::<Version>()?.0),
                "name" => name = Some(map.next_value()?),
                "description" => description = Some(map.next_value()?),
                "seed" => seed = Some(map.next_value::<Seed>()?.0),
                "allow" => allow = Some(map.next_value()?),
                "faults" => faults = Some(map.next_value()?),
                "settle" => settle = Some(map.next_value()?),
                "steps" => steps = Some(map.next_value::<Steps>()?.0),
                _ => unreachable!("`Field` contains only the names in `FIELDS`"),
            }
        }

        let skipped = |key: &str| SKIPPED.with(|skipped| skipped.borrow().keys.contains(key));
        // A required key that this read left out gets a stand-in, since
        // its error was reported already and the file is not used.
        let version = match version {
            Some(version) => version,
            None if skipped("version") => Spanned::new(0, Location::UNKNOWN, Location::UNKNOWN),
            None => return Err(de::Error::missing_field("version")),
        };
        let steps = match steps {
            Some(steps) => steps,
            None if skipped("steps") => Vec::new(),
            None => return Err(de::Error::missing_field("steps")),
        };

        Ok(ScenarioFile {
            version,
            name: name.flatten(),
            description: description.flatten(),
            seed: seed.unwrap_or_default(),
            allow: allow.unwrap_or_default(),
            faults: faults.unwrap_or_default(),
            settle: settle.flatten(),
            steps,
        })
    }
}
