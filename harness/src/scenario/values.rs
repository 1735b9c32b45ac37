//! Small value types with their own spelling in scenario files: durations
//! (`90`, `"5m"`, `"1h30m"`), HTTP statuses (`409`, `"4xx"`) and stored
//! session selectors (`latest`, `first`, `none`, `2`), and the syntax
//! checks of event type patterns and JSON pointers.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use serde_saphyr::Spanned;

use super::located::LocatedValue;

/// A span of virtual time, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub u64);

impl Duration {
    pub fn seconds(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_seconds(self.0))
    }
}

/// Formats seconds the way scenario files write them: `90s`, `5m`,
/// `1h30m`, `2d`.
pub fn format_seconds(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = seconds;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// Maximum duration a scenario file or `fakestripe fuzz --max-shrink-time`
/// may give: 90 days. The maximum span the fake schedules is an
/// asynchronous payment's delay of 30 days, and Stripe retries a webhook
/// for up to 3 days, so one step can cover either several times over. A typo such as `100000d` then fails to load, instead of advancing
/// the fake's clock in thousands of 30-day calls.
pub const MAX_DURATION_SECONDS: u64 = 90 * 86_400;

/// The forms a duration may take, for error messages.
const DURATION_FORMS: &str = "whole seconds such as 90, or numbers with the units d, h, m and s in that order, each at most once, such as 90s, 5m, 1h30m or 2d12h";

/// The units of a duration, from the largest to the smallest, as scenario
/// files must write them.
const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parses `90`, `90s`, `5m`, `2h`, `1d` or a sum such as `1h30m`, with the
/// units from the largest to the smallest, each at most once, and at most
/// [`MAX_DURATION_SECONDS`] in all.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let quoted = crate::diagnostic::shorten(text);
    let invalid = || format!("invalid duration `{quoted}`, expected {DURATION_FORMS}");
    let too_long = || duration_too_long(&format!("`{quoted}`"));
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        // Only a number too large for u64 fails to parse here.
        let seconds: u64 = trimmed.parse().map_err(|_| too_long())?;
        return check_duration_seconds(seconds, &format!("`{quoted}`"));
    }
    let mut total: u64 = 0;
    let mut overflow = false;
    let mut digits = String::new();
    // The index in UNITS of the last unit read.
    let mut previous: Option<usize> = None;
    let mut misplaced: Option<String> = None;
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let Some(index) = UNITS.iter().position(|(unit, _)| *unit == c) else {
            return Err(invalid());
        };
        if digits.is_empty() {
            return Err(invalid());
        }
        if misplaced.is_none()
            && let Some(previous) = previous
        {
            if index == previous {
                misplaced = Some(format!("the unit {c} appears more than once"));
            } else if index < previous {
                misplaced = Some(format!(
                    "{c} comes after {}, but units go from the largest to the smallest",
                    UNITS[previous].0
                ));
            } else {
                misplaced = out_of_range(&digits, index);
            }
        }
        previous = Some(index);
        let part = digits
            .parse::<u64>()
            .ok()
            .and_then(|number| number.checked_mul(UNITS[index].1));
        match part.and_then(|part| total.checked_add(part)) {
            Some(sum) => total = sum,
            None => overflow = true,
        }
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(invalid());
    }
    if let Some(reason) = misplaced {
        let fix = if !overflow && total <= MAX_DURATION_SECONDS {
            format!(", so write {}", format_seconds(total))
        } else {
            String::new()
        };
        return Err(format!(
            "invalid duration `{quoted}`: {reason}{fix}; expected {DURATION_FORMS}"
        ));
    }
    if overflow {
        return Err(too_long());
    }
    check_duration_seconds(total, &format!("`{quoted}`"))
}

/// Returns the reason a number of the unit `UNITS[index]` that follows a
/// larger unit is out of range, as the `90` of `1h90m` is: after a larger
/// unit, hours must be below 24, and minutes and seconds below 60.
fn out_of_range(digits: &str, index: usize) -> Option<String> {
    let (noun, limit) = match UNITS[index].0 {
        'h' => ("hours", 24),
        'm' => ("minutes", 60),
        _ => ("seconds", 60),
    };
    // A number too large for u64 is out of range too.
    let number = digits.parse::<u64>().unwrap_or(u64::MAX);
    (number >= limit).then(|| format!("after a larger unit, {noun} must be below {limit}"))
}

/// Checks a duration of `seconds` against [`MAX_DURATION_SECONDS`]. The
/// error message shows the value as `written`.
fn check_duration_seconds(seconds: u64, written: &str) -> Result<u64, String> {
    if seconds > MAX_DURATION_SECONDS {
        return Err(duration_too_long(written));
    }
    Ok(seconds)
}

fn duration_too_long(written: &str) -> String {
    format!(
        "invalid duration {written}: the maximum is {} ({MAX_DURATION_SECONDS} seconds); expected {DURATION_FORMS}",
        format_seconds(MAX_DURATION_SECONDS)
    )
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl<'de> Visitor<'de> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration: {DURATION_FORMS}")
            }

            // Every error below is `custom`, because serde-saphyr 2.2 puts
            // the caret of a custom error on the value, and that of
            // `invalid_type` on the enclosing step.
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
                check_duration_seconds(value, &value.to_string())
                    .map(Duration)
                    .map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!(
                        "invalid duration {value}: durations cannot be negative"
                    ))),
                }
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
                Err(not_a_duration(&format!("{value}")))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Duration, E> {
                Err(not_a_duration(&value.to_string()))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
                parse_duration(value).map(Duration).map_err(E::custom)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "missing duration, expected {DURATION_FORMS}"
                )))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Duration, A::Error> {
                Err(de::Error::custom(format!(
                    "a duration cannot be a list, expected {DURATION_FORMS}"
                )))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Duration, A::Error> {
                Err(de::Error::custom(format!(
                    "a duration cannot be a map, expected {DURATION_FORMS}"
                )))
            }
        }

        /// Builds the error for a scalar of the wrong type, such as `1.5`.
        fn not_a_duration<E: de::Error>(found: &str) -> E {
            E::custom(format!(
                "invalid duration {found}, expected {DURATION_FORMS}"
            ))
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Virtual time, at most 90 days: whole seconds, or a string with the units d, h, m and s in that order, each at most once, such as \"90s\", \"5m\", \"1h30m\" or \"2d12h\".",
            "oneOf": [
                { "type": "integer", "minimum": 0, "maximum": MAX_DURATION_SECONDS },
                {
                    "type": "string",
                    "minLength": 1,
                    "pattern": "^([0-9]+|([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?)$"
                }
            ]
        })
    }
}

/// The `card` of a `pay` step as written: a test card number or a name
/// such as `declined`. The loader checks the text, so that its error
/// points at the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card(pub String);

impl Card {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Card {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CardVisitor;

        impl CardVisitor {
            /// Builds the error for a list or a map. It is `custom`, as
            /// the duration errors are, so the caret is on the value.
            fn not_a_card<E: de::Error>(found: &str) -> E {
                let aliases: Vec<&str> = super::load::CARD_ALIASES
                    .iter()
                    .map(|(alias, _)| *alias)
                    .collect();
                E::custom(format!(
                    "`card` cannot be {found}, expected a test card number such as 4242424242424242, or one of {}",
                    aliases.join(", ")
                ))
            }
        }

        impl<'de> Visitor<'de> for CardVisitor {
            type Value = Card;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a test card number, or a test card name such as declined")
            }

            // A number or another scalar is kept as text, for the loader
            // to check.
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Card, E> {
                Ok(Card(value.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Card, E> {
                Ok(Card(value.to_string()))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Card, E> {
                Ok(Card(value.to_string()))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Card, E> {
                Ok(Card(value.to_string()))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Card, E> {
                Ok(Card(value.to_string()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Card, A::Error> {
                Err(CardVisitor::not_a_card("a list"))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Card, A::Error> {
                Err(CardVisitor::not_a_card("a map"))
            }
        }

        deserializer.deserialize_any(CardVisitor)
    }
}

/// An expected HTTP status: one code, or a class such as `4xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpStatus {
    Code(u16),
    /// The first digit: 2 for `2xx`.
    Class(u16),
}

impl HttpStatus {
    pub fn matches(self, status: u16) -> bool {
        match self {
            HttpStatus::Code(code) => code == status,
            HttpStatus::Class(class) => status / 100 == class,
        }
    }
}

impl fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpStatus::Code(code) => write!(f, "{code}"),
            HttpStatus::Class(class) => write!(f, "{class}xx"),
        }
    }
}

fn parse_status(text: &str) -> Result<HttpStatus, String> {
    let lower = text.trim().to_ascii_lowercase();
    if let Some(digit) = lower.strip_suffix("xx")
        && let Ok(class @ 1..=5) = digit.parse::<u16>()
    {
        return Ok(HttpStatus::Class(class));
    }
    match lower.parse::<u16>() {
        Ok(code @ 100..=599) => Ok(HttpStatus::Code(code)),
        _ => Err(format!(
            "invalid HTTP status `{text}`, expected a code from 100 to 599 or a class such as 2xx"
        )),
    }
}

impl<'de> Deserialize<'de> for HttpStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;

        impl Visitor<'_> for StatusVisitor {
            type Value = HttpStatus;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status such as 200, or a class such as \"4xx\"")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<HttpStatus, E> {
                parse_status(&value.to_string()).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<HttpStatus, E> {
                parse_status(&value.to_string()).map_err(E::custom)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<HttpStatus, E> {
                parse_status(value).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(StatusVisitor)
    }
}

impl JsonSchema for HttpStatus {
    fn schema_name() -> Cow<'static, str> {
        "HttpStatus".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An HTTP status code, or a class such as \"2xx\" or \"4xx\".",
            "oneOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^[1-5][xX][xX]$" }
            ]
        })
    }
}

/// The session id an order is expected to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredSession {
    /// The session of the order's latest checkout.
    Latest,
    /// The session of the order's first checkout.
    First,
    /// No session id at all.
    None,
    /// The session of the order's Nth checkout, from 1.
    Attempt(u32),
}

impl fmt::Display for StoredSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredSession::Latest => f.write_str("latest"),
            StoredSession::First => f.write_str("first"),
            StoredSession::None => f.write_str("none"),
            StoredSession::Attempt(n) => write!(f, "attempt {n}"),
        }
    }
}

impl<'de> Deserialize<'de> for StoredSession {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SelectorVisitor;

        impl Visitor<'_> for SelectorVisitor {
            type Value = StoredSession;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`latest`, `first`, `none` or an attempt number from 1")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<StoredSession, E> {
                match u32::try_from(value) {
                    Ok(n) if n >= 1 => Ok(StoredSession::Attempt(n)),
                    _ => Err(E::custom(format!(
                        "invalid attempt {value}, attempts count from 1"
                    ))),
                }
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<StoredSession, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!(
                        "invalid attempt {value}, attempts count from 1"
                    ))),
                }
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<StoredSession, E> {
                match value {
                    "latest" => Ok(StoredSession::Latest),
                    "first" => Ok(StoredSession::First),
                    "none" => Ok(StoredSession::None),
                    other => Err(E::unknown_variant(other, &["latest", "first", "none"])),
                }
            }
        }

        deserializer.deserialize_any(SelectorVisitor)
    }
}

impl JsonSchema for StoredSession {
    fn schema_name() -> Cow<'static, str> {
        "StoredSession".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Which of the order's sessions the order stores: latest, first, none, or an attempt number from 1.",
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "enum": ["latest", "first", "none"] }
            ]
        })
    }
}

/// An event type pattern as written, such as `checkout.session.*`, with
/// its location in the file, so that the loader's check of its shape can
/// point at it. It reads as the pattern's text everywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypePattern(pub Spanned<String>);

impl EventTypePattern {
    pub fn as_str(&self) -> &str {
        &self.0.value
    }
}

impl Deref for EventTypePattern {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// Lets `join` put a list of patterns in a message.
impl Borrow<str> for EventTypePattern {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for EventTypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventTypePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<String>::deserialize(deserializer).map(EventTypePattern)
    }
}

/// Writes the pattern's text alone, as the fake's fault plan takes it.
impl Serialize for EventTypePattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A list of event type patterns as written, with the location of the
/// list, so that the loader can point at an empty list. It reads as a
/// slice of patterns everywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypePatterns(pub Spanned<Vec<EventTypePattern>>);

impl Deref for EventTypePatterns {
    type Target = [EventTypePattern];

    fn deref(&self) -> &[EventTypePattern] {
        &self.0.value
    }
}

impl<'a> IntoIterator for &'a EventTypePatterns {
    type Item = &'a EventTypePattern;
    type IntoIter = std::slice::Iter<'a, EventTypePattern>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.value.iter()
    }
}

impl<'de> Deserialize<'de> for EventTypePatterns {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<Vec<EventTypePattern>>::deserialize(deserializer).map(EventTypePatterns)
    }
}

/// Writes the patterns' texts alone, as the fake's fault plan takes them.
impl Serialize for EventTypePatterns {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.value.serialize(serializer)
    }
}

/// Where an event type pattern may have `*`, which depends on who matches
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcards {
    /// The harness matches the pattern itself, and `*` matches any run of
    /// characters at any place.
    Anywhere,
    /// The fake matches the pattern (a `hold` step becomes a hold fault),
    /// and it takes `*` alone or once at the end, as a prefix match.
    AtEnd,
}

/// Checks that an event type pattern can match an event type the fake
/// sends. Event types are two or more parts of lowercase letters and `_`,
/// joined by `.`, such as `checkout.session.completed`.
pub fn check_event_type_pattern(pattern: &str, wildcards: Wildcards) -> Result<(), String> {
    let quoted = crate::diagnostic::shorten(pattern);
    if pattern.is_empty() {
        return Err("the event type pattern is empty".to_owned());
    }
    if pattern == "*" {
        return Ok(());
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || matches!(c, '_' | '.' | '*')))
    {
        return Err(format!(
            "invalid event type pattern `{quoted}`: it contains {}, but event types contain only lowercase letters, `_` and `.`, and patterns also `*`",
            describe_char(c)
        ));
    }
    let inner_star = pattern[..pattern.len() - 1].contains('*');
    if wildcards == Wildcards::Anywhere && pattern.contains("**") {
        let collapsed = collapse_stars(pattern);
        let single = crate::diagnostic::shorten(&collapsed);
        return Err(format!(
            "invalid event type pattern `{quoted}`: `**` matches the same as `*`, which already matches any run of characters; write {single}"
        ));
    }
    if wildcards == Wildcards::AtEnd && inner_star {
        return Err(format!(
            "invalid event type pattern `{quoted}`: the fake matches `*` only alone or once at the end, such as checkout.session.*"
        ));
    }
    if pattern.split('.').any(str::is_empty) {
        return Err(format!(
            "invalid event type pattern `{quoted}`: it has an empty part, but event types have no `.` at the start or end and no `..`"
        ));
    }
    if !pattern.contains(['.', '*']) {
        return Err(format!(
            "invalid event type pattern `{quoted}`: event types have at least two parts, such as charge.updated; write {quoted}.* for every type that starts with it"
        ));
    }
    Ok(())
}

/// Checks that a well-shaped event type pattern matches at least one
/// event type that the fake sends, as a misspelt type would match
/// nothing and the step or fault would quietly do nothing. Returns the
/// message and a help line otherwise.
pub fn check_sent_event_type(pattern: &str) -> Result<(), (String, Option<String>)> {
    use fakestripe_server::resources::event_types::{SENT_EVENT_TYPES, is_event_type};

    let matches = |name: &&str| crate::runner::scenario::type_matches(pattern, name);
    if SENT_EVENT_TYPES.iter().any(matches) {
        return Ok(());
    }
    let quoted = crate::diagnostic::shorten(pattern);
    let (message, candidates) = if pattern.contains('*') {
        let message =
            format!("event type pattern `{quoted}` matches no event type that the fake sends");
        (message, sent_type_patterns())
    } else if is_event_type(pattern) {
        let message = format!(
            "the fake never sends `{quoted}`, a Stripe event type, so this matches nothing"
        );
        (message, Vec::new())
    } else {
        let message = format!("unknown event type `{quoted}`");
        let names = SENT_EVENT_TYPES.iter().map(|name| (*name).to_owned());
        (message, names.collect())
    };
    let help = crate::diagnostic::suggest(pattern, &candidates).unwrap_or_else(|| {
        format!(
            "the fake sends these event types: {}",
            SENT_EVENT_TYPES.join(", ")
        )
    });
    Err((message, Some(help)))
}

/// Checks the event type patterns of a fault entry that the fake's own
/// check accepted: its `types`, and the `order` of `webhook_order`.
/// Returns the place, message and help line of each pattern that matches
/// no event type the fake sends.
pub fn fault_event_type_errors(
    entry: &LocatedValue,
) -> Vec<(serde_saphyr::Location, String, Option<String>)> {
    let mut errors = Vec::new();
    for key in ["types", "order"] {
        let Some(list) = entry.get(key) else {
            continue;
        };
        let LocatedValue::List(items) = &list.value else {
            continue;
        };
        for item in items {
            if let Some(pattern) = item.value.as_str()
                && let Err((message, help)) = check_sent_event_type(pattern)
            {
                errors.push((item.referenced, message, help));
            }
        }
    }
    errors
}

/// Returns each event type the fake sends, and each pattern that ends one
/// of them with `*` after a `.`, such as `checkout.session.*`, as the
/// names a misspelt pattern is compared with.
fn sent_type_patterns() -> Vec<String> {
    let mut patterns = std::collections::BTreeSet::new();
    for name in fakestripe_server::resources::event_types::SENT_EVENT_TYPES {
        patterns.insert((*name).to_owned());
        for (index, _) in name.match_indices('.') {
            patterns.insert(format!("{}.*", &name[..index]));
        }
    }
    patterns.into_iter().collect()
}

/// Returns `pattern` with each run of `*` written as one.
fn collapse_stars(pattern: &str) -> String {
    let mut single = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '*' && single.ends_with('*')) {
            single.push(c);
        }
    }
    single
}

/// Checks the syntax of a JSON pointer (RFC 6901) that names a field of an
/// object: it starts with `/`, each `~` starts the escape `~0` or `~1`, and
/// no key is empty, because Stripe's objects have no empty keys.
pub fn check_field_pointer(pointer: &str) -> Result<(), String> {
    let quoted = crate::diagnostic::shorten(pointer);
    if pointer.is_empty() {
        return Err(
            "the JSON pointer is empty, which names the whole object; name a field, such as /customer_details/email"
                .to_owned(),
        );
    }
    if !pointer.starts_with('/') {
        let mut message = format!("`{quoted}` is not a JSON pointer; pointers start with `/`");
        if !pointer.contains('/') {
            let path = crate::diagnostic::shorten(pointer).replace('.', "/");
            message.push_str(&format!(", such as /{path}"));
        }
        return Err(message);
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "invalid JSON pointer `{quoted}`: `~` must be followed by 0 or 1; write ~0 for `~` and ~1 for `/` in a key"
            ));
        }
    }
    if pointer[1..].split('/').any(str::is_empty) {
        return Err(format!(
            "invalid JSON pointer `{quoted}`: it has an empty key (`//` or a `/` at the end)"
        ));
    }
    Ok(())
}

/// Names a character for a message: a space or a control character would
/// be invisible between backquotes.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c if c.is_whitespace() || c.is_control() => format!("the character {}", c.escape_unicode()),
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_forms() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("3d"), Ok(259_200));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("12").is_ok());
        assert!(parse_duration("1h5").is_err());
        assert_eq!(parse_duration("2d12h30m15s"), Ok(217_815));
        assert_eq!(parse_duration("90d"), Ok(MAX_DURATION_SECONDS));
        assert_eq!(parse_duration("7776000"), Ok(MAX_DURATION_SECONDS));
    }

    #[test]
    fn duration_above_maximum() {
        for text in [
            "100000d",
            "90d1s",
            "7776001",
            "99999999999999999999d",
            "99999999999999999999",
            "213503982334601d",
        ] {
            let message = parse_duration(text).expect_err(text);
            assert!(
                message.contains("the maximum is 90d (7776000 seconds)"),
                "{text}: {message}"
            );
            assert!(message.contains("such as 90s, 5m"), "{text}: {message}");
        }
    }

    #[test]
    fn duration_units_repeated_or_unordered() {
        let cases = [
            ("1d1d", "the unit d appears more than once, so write 2d"),
            ("30m30m", "the unit m appears more than once, so write 1h"),
            ("5m1h", "h comes after m"),
            ("5m1h", "so write 1h5m"),
            ("1s1d", "d comes after s"),
            ("1h2d3h", "d comes after h"),
        ];
        for (text, expected) in cases {
            let message = parse_duration(text).expect_err(text);
            assert!(message.contains(expected), "{text}: {message}");
            assert!(
                message.contains("in that order, each at most once"),
                "{text}: {message}"
            );
        }
    }

    /// Every duration the harness writes, such as the fuzzer's advances,
    /// reads back as the same number of seconds.
    #[test]
    fn duration_formatting_parses_back() {
        for seconds in [0, 1, 59, 60, 3_601, 86_399, 90_061, MAX_DURATION_SECONDS] {
            assert_eq!(parse_duration(&format_seconds(seconds)), Ok(seconds));
        }
    }

    #[test]
    fn duration_formatting() {
        assert_eq!(format_seconds(0), "0s");
        assert_eq!(format_seconds(90), "1m30s");
        assert_eq!(format_seconds(259_200), "3d");
    }

    #[test]
    fn event_type_patterns_valid() {
        let valid = [
            ("*", Wildcards::AtEnd),
            ("checkout.session.completed", Wildcards::AtEnd),
            ("checkout.session.*", Wildcards::AtEnd),
            ("checkout.sess*", Wildcards::AtEnd),
            ("charge*", Wildcards::AtEnd),
            ("payment_intent.amount_capturable_updated", Wildcards::AtEnd),
            ("checkout.*.completed", Wildcards::Anywhere),
            ("*.completed", Wildcards::Anywhere),
            ("*session*", Wildcards::Anywhere),
        ];
        for (pattern, wildcards) in valid {
            assert_eq!(
                check_event_type_pattern(pattern, wildcards),
                Ok(()),
                "{pattern} with {wildcards:?}"
            );
        }
    }

    #[test]
    fn event_type_patterns_invalid() {
        let invalid = [
            ("", Wildcards::Anywhere, "is empty"),
            (" ", Wildcards::Anywhere, "contains a space"),
            (
                "checkout session.completed",
                Wildcards::AtEnd,
                "contains a space",
            ),
            ("charge.updated\t", Wildcards::Anywhere, "\\u{9}"),
            ("Charge.updated", Wildcards::Anywhere, "contains `C`"),
            ("charge.up-dated", Wildcards::Anywhere, "contains `-`"),
            ("charge.updated2", Wildcards::Anywhere, "contains `2`"),
            ("charge.é", Wildcards::Anywhere, "contains `é`"),
            (
                "checkout.*.completed",
                Wildcards::AtEnd,
                "only alone or once at the end",
            ),
            (
                "*.completed",
                Wildcards::AtEnd,
                "only alone or once at the end",
            ),
            (
                "charge.**",
                Wildcards::AtEnd,
                "only alone or once at the end",
            ),
            ("**", Wildcards::AtEnd, "only alone or once at the end"),
            (
                "charge.**",
                Wildcards::Anywhere,
                "`**` matches the same as `*`, which already matches any run of characters; write charge.*",
            ),
            ("***.*ed", Wildcards::Anywhere, "write *.*ed"),
            (".charge.updated", Wildcards::Anywhere, "empty part"),
            ("charge.updated.", Wildcards::Anywhere, "empty part"),
            ("charge..updated", Wildcards::AtEnd, "empty part"),
            (".*", Wildcards::AtEnd, "empty part"),
            ("charge", Wildcards::AtEnd, "at least two parts"),
        ];
        for (pattern, wildcards, expected) in invalid {
            let message = check_event_type_pattern(pattern, wildcards)
                .expect_err(&format!("{pattern:?} with {wildcards:?} is invalid"));
            assert!(
                message.contains(expected),
                "{pattern:?}: {message:?} should contain {expected:?}"
            );
        }
    }

    /// Every `hold` pattern the loader accepts is one that the fake's hold
    /// fault takes, checked for each string of up to 5 characters from an
    /// alphabet of one of each kind of character. The fake checks each
    /// pattern of a plan with `is_type_pattern` in
    /// mock-server/src/faults.rs, reached here through `validate_plan`.
    /// The loader also rejects a pattern of one part, such as `charge`,
    /// which matches no event type.
    #[test]
    fn hold_patterns_accepted_by_fake() {
        let alphabet = ['a', '_', '.', '*', 'A', ' '];
        let mut patterns = vec![String::new()];
        let mut shorter = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = shorter
                .iter()
                .flat_map(|prefix| alphabet.iter().map(move |c| format!("{prefix}{c}")))
                .collect();
            patterns.extend(longer.iter().cloned());
            shorter = longer;
        }
        let mut accepted = 0;
        for pattern in &patterns {
            let loader = check_event_type_pattern(pattern, Wildcards::AtEnd);
            let plan = serde_json::json!({ "faults": [{ "kind": "hold", "types": [pattern] }] });
            let fake = fakestripe_server::faults::validate_plan(&plan);
            if loader.is_ok() {
                accepted += 1;
                assert!(
                    fake.is_ok(),
                    "the loader accepts {pattern:?}, but the fake rejects it: {:?}",
                    fake.err().map(|err| err.message)
                );
            }
        }
        assert!(accepted > 100, "only {accepted} patterns were accepted");
        for pattern in ["checkout.**", "checkout..session", "Checkout.*"] {
            let plan = serde_json::json!({ "faults": [{ "kind": "hold", "types": [pattern] }] });
            assert!(
                fakestripe_server::faults::validate_plan(&plan).is_err(),
                "{pattern}"
            );
            assert!(
                check_event_type_pattern(pattern, Wildcards::AtEnd).is_err(),
                "{pattern}"
            );
        }
    }

    #[test]
    fn field_pointers_valid() {
        for pointer in [
            "/amount",
            "/customer_details/email",
            "/line_items/data/0/price",
            "/metadata/a~1b",
            "/metadata/tilde~0",
        ] {
            assert_eq!(check_field_pointer(pointer), Ok(()), "{pointer}");
        }
    }

    #[test]
    fn field_pointers_invalid() {
        let invalid = [
            ("", "is empty"),
            ("amount", "pointers start with `/`, such as /amount"),
            ("customer_details.email", "such as /customer_details/email"),
            ("/metadata/a~2", "`~` must be followed by 0 or 1"),
            ("/metadata/a~", "`~` must be followed by 0 or 1"),
            ("/metadata//a", "empty key"),
            ("/metadata/", "empty key"),
            ("/", "empty key"),
        ];
        for (pointer, expected) in invalid {
            let message =
                check_field_pointer(pointer).expect_err(&format!("{pointer:?} is invalid"));
            assert!(
                message.contains(expected),
                "{pointer:?}: {message:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn status_forms() {
        assert_eq!(parse_status("4xx"), Ok(HttpStatus::Class(4)));
        assert_eq!(parse_status("409"), Ok(HttpStatus::Code(409)));
        assert!(parse_status("6xx").is_err());
        assert!(parse_status("99").is_err());
        assert!(HttpStatus::Class(2).matches(204));
        assert!(!HttpStatus::Code(200).matches(201));
    }
}
