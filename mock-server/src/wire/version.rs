//! `Stripe-Version`: read from each request, echoed on the response, and
//! used where Stripe's behaviour changed between versions.

use serde_json::{Map, Value};

/// The version used when a request sends none.
pub const DEFAULT_API_VERSION: &str = "2026-03-25.dahlia";

/// From this version on, a payment-mode Checkout Session has no payment
/// intent until the customer confirms it.
pub const DEFERRED_PAYMENT_INTENT: &str = "2022-08-01";

/// From this version on, a payment intent created without
/// `payment_method_types` has `automatic_payment_methods` enabled.
pub const AUTOMATIC_PAYMENT_METHODS: &str = "2023-08-16";

/// From this version on, a payment intent created without `capture_method`
/// captures with `automatic_async`. Before it, the default is `automatic`,
/// whose charge has its balance transaction when `charge.succeeded` is sent.
pub const ASYNC_CAPTURE_DEFAULT: &str = "2024-04-10";

/// Returns the `capture_method` of a payment intent created without one
/// under `version`.
pub fn default_capture_method(version: &str) -> &'static str {
    if at_least(version, ASYNC_CAPTURE_DEFAULT) {
        "automatic_async"
    } else {
        "automatic"
    }
}

/// From this version on, Checkout Session create and payment intent
/// create, update and confirm reject `payment_method_types`.
pub const PAYMENT_METHOD_TYPES_REMOVED: &str = "2026-09-30";

/// The full name of the release that removed `payment_method_types`.
pub const PAYMENT_METHOD_TYPES_REMOVED_NAME: &str = "2026-09-30.endive";

/// The version that added `allowed_payment_method_types` to payment
/// intents (2026-07-29.dahlia). Checkout Sessions take it from
/// `PAYMENT_METHOD_TYPES_REMOVED` on.
pub const INTENT_ALLOWED_TYPES: &str = "2026-07-29";

/// The version that added `excluded_payment_method_types` to payment
/// intent create (2025-08-27.basil).
pub const INTENT_EXCLUDED_TYPES: &str = "2025-08-27";

/// The version that added `excluded_payment_method_types` to Checkout
/// Session create and to payment intent update and confirm
/// (2025-09-30.clover).
pub const EXCLUDED_TYPES: &str = "2025-09-30";

/// Before this version, a payment intent lists its charges in `charges`
/// and a charge lists its refunds in `refunds`, without `expand[]`.
pub const CHARGE_LISTS_REMOVED: &str = "2022-11-15";

/// Returns whether objects in `version` carry the `charges` and `refunds`
/// lists.
pub fn embeds_charge_lists(version: &str) -> bool {
    !at_least(version, CHARGE_LISTS_REMOVED)
}

/// The first version that takes the search endpoints, from Stripe's search
/// guide.
pub const SEARCH_MINIMUM: &str = "2020-08-27";

/// The version that added `custom` to Checkout Session `ui_mode`
/// (2025-03-31.basil). Before it, `ui_mode` takes `hosted` and `embedded`.
pub const CUSTOM_UI_MODE: &str = "2025-03-31";

/// From this version on, `ui_mode` takes `hosted_page`, `embedded_page` and
/// `elements` instead of `hosted`, `embedded` and `custom`.
pub const RENAMED_UI_MODES: &str = "2026-03-25";

/// The `ui_mode` values of the versions before `RENAMED_UI_MODES`, each
/// with the value that replaced it.
const UI_MODE_RENAMES: [(&str, &str); 3] = [
    ("hosted", "hosted_page"),
    ("embedded", "embedded_page"),
    ("custom", "elements"),
];

/// Returns the `ui_mode` value that `version` uses for `mode`, which may be
/// spelt in either version's terms.
pub fn ui_mode_in(version: &str, mode: &str) -> &'static str {
    let renamed = at_least(version, RENAMED_UI_MODES);
    UI_MODE_RENAMES
        .iter()
        .find(|(old, new)| mode == *old || mode == *new)
        .map_or("hosted_page", |(old, new)| if renamed { new } else { old })
}

/// From this version on (2025-03-31.basil), a Checkout Session shows the
/// shipping details it collected only in
/// `collected_information.shipping_details`. Before it, a top-level field
/// shows them too.
pub const SHIPPING_DETAILS_REMOVED: &str = "2025-03-31";

/// Before this version, the top-level field of a session's shipping
/// details is named `shipping`, and from it on `shipping_details`.
pub const SHIPPING_DETAILS_RENAMED: &str = "2022-08-01";

/// Returns the name of the top-level field in which a session rendered in
/// `version` shows its shipping details, or `None` from
/// `SHIPPING_DETAILS_REMOVED` on.
pub fn session_shipping_field(version: &str) -> Option<&'static str> {
    if at_least(version, SHIPPING_DETAILS_REMOVED) {
        None
    } else if at_least(version, SHIPPING_DETAILS_RENAMED) {
        Some("shipping_details")
    } else {
        Some("shipping")
    }
}

/// From this version on (2025-03-31.basil), payment intents and charges
/// have no `invoice` field. Before it they have one, which is null for a
/// payment that no invoice made, as every payment in the fake is.
pub const INVOICE_REMOVED: &str = "2025-03-31";

/// Returns whether a response body in `version` needs its objects
/// rendered again. Objects are stored in the current version's shape, so
/// a body needs it when it contains a session, whose `ui_mode` or shipping
/// field differs in `version`, or a payment intent or charge, which has an
/// `invoice` field in `version`.
pub fn needs_rendering(version: &str, body: &[u8]) -> bool {
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|window| window == needle);
    let sessions = (!at_least(version, RENAMED_UI_MODES)
        || session_shipping_field(version).is_some())
        && contains(b"\"ui_mode\"");
    let payments = !at_least(version, INVOICE_REMOVED)
        && (contains(b"\"payment_intent\",") || contains(b"\"charge\","));
    sessions || payments
}

/// Renders every Checkout Session, payment intent and charge in `value`
/// in the shape `version` has: a session's `ui_mode` in that version's
/// names and, before `SHIPPING_DETAILS_REMOVED`, its top-level shipping
/// field, and before `INVOICE_REMOVED` the `invoice` of a payment intent
/// or charge. An event is left as it is, because its `data` stays in the
/// version the event was rendered in.
pub fn render_objects(value: &mut Value, version: &str) {
    match value {
        Value::Object(map) => {
            match map.get("object").and_then(Value::as_str) {
                Some("event") => return,
                Some("checkout.session") => render_session(map, version),
                Some("payment_intent" | "charge") if !at_least(version, INVOICE_REMOVED) => {
                    insert_sorted(map, "invoice", Value::Null);
                }
                _ => {}
            }
            for field in map.values_mut() {
                render_objects(field, version);
            }
        }
        Value::Array(items) => {
            for item in items {
                render_objects(item, version);
            }
        }
        _ => {}
    }
}

/// Sets `field` of `object` to `value`, inserting it where its name sorts
/// among the object's fields, as Stripe orders them, unless it is there.
fn insert_sorted(object: &mut Map<String, Value>, field: &str, value: Value) {
    if let Some(existing) = object.get_mut(field) {
        *existing = value;
        return;
    }
    let position = object
        .keys()
        .position(|key| key.as_str() > field)
        .unwrap_or(object.len());
    object.shift_insert(position, field.to_owned(), value);
}

/// Renders one stored session in `version`. The shipping field contains
/// `collected_information.shipping_details`, or null until the customer
/// pays, and goes where its name sorts among the session's fields, as
/// Stripe orders them.
fn render_session(session: &mut Map<String, Value>, version: &str) {
    if let Some(Value::String(mode)) = session.get_mut("ui_mode") {
        *mode = ui_mode_in(version, mode).to_owned();
    }
    let Some(field) = session_shipping_field(version) else {
        return;
    };
    let details = session
        .get("collected_information")
        .and_then(|collected| collected.get("shipping_details"))
        .cloned()
        .unwrap_or(Value::Null);
    // A body rendered twice, as an idempotent response is, has the field.
    insert_sorted(session, field, details);
}

/// Renders an event for an endpoint pinned to `version`: the label and the
/// sessions in its `data`.
pub fn render_event(event: &mut Value, version: &str) {
    event["api_version"] = Value::String(version.to_owned());
    if let Some(data) = event.get_mut("data").and_then(Value::as_object_mut) {
        for part in data.values_mut() {
            render_objects(part, version);
        }
    }
}

/// Whether `version` is at or after the dated release `date` (`YYYY-MM-DD`).
/// Versions compare by their date part; a release name after it
/// (`.basil`, `.clover`) does not change the order.
pub fn at_least(version: &str, date: &str) -> bool {
    let version_date = version.get(..10).unwrap_or(version);
    version_date >= date
}

/// Returns whether a header value looks like a Stripe API version: a date
/// that exists on the calendar (`YYYY-MM-DD`), and optionally the name of
/// the release that date belongs to.
pub fn is_valid(version: &str) -> bool {
    let bytes = version.as_bytes();
    bytes.len() >= 10
        && bytes[..10].iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && is_calendar_date(&version[..10])
        && (bytes.len() == 10
            || (bytes[10] == b'.'
                && bytes.len() > 11
                && bytes[11..].iter().all(|b| b.is_ascii_lowercase())
                && release_name_fits(&version[..10], &version[11..])))
}

/// Stripe's named releases, each with the date of its first version, from
/// its changelog. Every version from one of these dates until the next
/// carries the release's name.
const RELEASES: [(&str, &str); 5] = [
    ("2024-09-30", "acacia"),
    ("2025-03-31", "basil"),
    ("2025-09-30", "clover"),
    ("2026-03-25", "dahlia"),
    ("2026-09-30", "endive"),
];

/// Returns the name of the release that versions dated `date`
/// (`YYYY-MM-DD`) belong to, or `None` before the first named release.
/// A date in the latest release listed here may belong to a later one.
pub fn release_name(date: &str) -> Option<&'static str> {
    RELEASES
        .iter()
        .rev()
        .find(|(start, _)| *start <= date)
        .map(|(_, name)| *name)
}

/// Returns `version` with the release name that its date belongs to, when
/// `version` is a calendar date with a name that does not fit: `2024-06-20`
/// for `2024-06-20.acacia`, `2025-03-31.basil` for `2025-03-31.acacia`.
/// Returns `None` when the name is not the fault.
pub fn with_fitting_name(version: &str) -> Option<String> {
    let (date, name) = version.split_once('.')?;
    if !is_valid(date) || release_name_fits(date, name) {
        return None;
    }
    Some(match release_name(date) {
        Some(release) => format!("{date}.{release}"),
        None => date.to_owned(),
    })
}

/// Returns whether `name` is the release name of versions dated `date`.
/// Versions before the first named release have none. A version dated in
/// the latest release listed here may also carry a name not listed, since
/// a later release may have begun since this list was written.
fn release_name_fits(date: &str, name: &str) -> bool {
    let Some(index) = RELEASES.iter().rposition(|(start, _)| *start <= date) else {
        return false;
    };
    RELEASES[index].1 == name
        || (index == RELEASES.len() - 1 && RELEASES.iter().all(|(_, known)| *known != name))
}

/// Returns whether a valid version's date comes after `latest`
/// (`YYYY-MM-DD`).
fn is_after(version: &str, latest: &str) -> bool {
    version.get(..10).is_some_and(|date| date > latest)
}

/// Returns whether a valid version is dated after the latest date a
/// released version can have. Stripe has released no version dated in the
/// future. Most requests carry the default version or an older one, so
/// today's date is worked out only for a version newer than the default.
pub fn is_unreleased(version: &str) -> bool {
    is_after(version, &DEFAULT_API_VERSION[..10]) && is_after(version, &latest_possible_date())
}

/// Returns the latest date a real version can have: tomorrow in UTC, a
/// day of slack for a version released today in a time zone ahead.
fn latest_possible_date() -> String {
    let days = (crate::clock::wall_clock_seconds() / 86_400.0).floor() as i64 + 1;
    let (year, month, day) = crate::pages::format::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Returns whether `date`, ten bytes shaped `YYYY-MM-DD` with digits in
/// place, names a day that exists.
fn is_calendar_date(date: &str) -> bool {
    let (Ok(year), Ok(month), Ok(day)) = (
        date[..4].parse::<u32>(),
        date[5..7].parse::<u32>(),
        date[8..10].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_by_date() {
        assert!(at_least("2022-08-01", DEFERRED_PAYMENT_INTENT));
        assert!(at_least("2025-03-31.basil", DEFERRED_PAYMENT_INTENT));
        assert!(!at_least("2020-08-27", DEFERRED_PAYMENT_INTENT));
    }

    #[test]
    fn validates_shape() {
        assert!(is_valid("2020-08-27"));
        assert!(is_valid("2026-03-25.dahlia"));
        assert!(!is_valid("latest"));
        assert!(!is_valid("2020-8-27"));
    }

    #[test]
    fn release_names_follow_the_date() {
        for version in [
            "2024-09-30.acacia",
            "2025-03-31.basil",
            "2025-08-27.basil",
            "2026-11-18.endive",
            "2027-04-02.foxglove",
        ] {
            assert!(is_valid(version), "{version}");
        }
        for version in [
            "2024-06-20.acacia",
            "2025-03-31.acacia",
            "2026-03-25.clover",
            "2027-04-02.basil",
            "2026-03-25.",
        ] {
            assert!(!is_valid(version), "{version}");
        }
    }

    #[test]
    fn names_the_fitting_release() {
        assert_eq!(
            with_fitting_name("2024-06-20.acacia").as_deref(),
            Some("2024-06-20")
        );
        assert_eq!(
            with_fitting_name("2025-03-31.acacia").as_deref(),
            Some("2025-03-31.basil")
        );
        assert_eq!(with_fitting_name("2025-03-31.basil"), None);
        assert_eq!(with_fitting_name("2025-02-30.acacia"), None);
        assert_eq!(with_fitting_name("latest"), None);
    }

    #[test]
    fn rejects_dates_not_on_the_calendar() {
        assert!(is_valid("2024-02-29"));
        assert!(is_valid("2024-12-18.acacia"));
        for version in [
            "2020-13-01",
            "2020-00-10",
            "2020-04-31",
            "2023-02-29",
            "1900-02-29",
            "2020-01-00",
        ] {
            assert!(!is_valid(version), "{version}");
        }
    }
}
