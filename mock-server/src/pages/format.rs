//! Text for people: amounts in a currency's minor unit and Unix times.

/// Currencies whose amounts Stripe counts in whole units, with no minor
/// unit, from Stripe's list of zero-decimal currencies.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Currencies whose minor unit is a thousandth, from Stripe's list of
/// three-decimal currencies.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// Number of decimal places in `currency`'s minor unit.
pub fn decimals(currency: &str) -> u32 {
    let code = currency.to_ascii_lowercase();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// Formats `amount`, given in the minor unit of `currency`, as
/// `1,234.50 USD`: digits grouped by thousands and the ISO code after.
pub fn money(amount: i64, currency: &str) -> String {
    let places = decimals(currency);
    let scale = 10_i64.pow(places);
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    let whole = group_thousands(magnitude / scale as u64);
    let code = currency.to_ascii_uppercase();
    if places == 0 {
        return format!("{sign}{whole} {code}");
    }
    let fraction = magnitude % scale as u64;
    let width = places as usize;
    format!("{sign}{whole}.{fraction:0width$} {code}")
}

/// Formats a fractional amount of the minor unit, as `unit_amount_decimal`
/// gives it (`1250.5`), like `money` does a whole one: `12.505 USD`.
pub fn money_decimal(minor: &str, currency: &str) -> String {
    let places = decimals(currency) as usize;
    let (whole, fraction) = minor.split_once('.').unwrap_or((minor, ""));
    let digits = format!("{whole:0>width$}", width = places + 1);
    let (major, minor_digits) = digits.split_at(digits.len() - places);
    let major: u64 = major.parse().unwrap_or(0);
    let code = currency.to_ascii_uppercase();
    let fraction = format!("{minor_digits}{fraction}");
    let fraction = fraction.trim_end_matches('0');
    let fraction = format!("{fraction:0<places$}");
    if fraction.is_empty() {
        return format!("{} {code}", group_thousands(major));
    }
    format!("{}.{fraction} {code}", group_thousands(major))
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Formats a Unix time in seconds as `2026-05-01 14:03:09 UTC`.
pub fn time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Formats a span of seconds as `+45s`, `+3m05s` or `+2h00m10s`, for
/// offsets on a timeline.
pub fn offset(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "+" };
    let total = seconds.unsigned_abs();
    let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes:02}m{secs:02}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs:02}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, by
/// counting 400-year eras of 146,097 days from 0000-03-01 so that the leap
/// day falls at the end of each counted year.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_two_decimals() {
        assert_eq!(money(3500, "usd"), "35.00 USD");
        assert_eq!(money(5, "eur"), "0.05 EUR");
        assert_eq!(money(123_456_789, "gbp"), "1,234,567.89 GBP");
        assert_eq!(money(-250, "usd"), "-2.50 USD");
    }

    #[test]
    fn money_fractional_minor_unit() {
        assert_eq!(money_decimal("1250.5", "usd"), "12.505 USD");
        assert_eq!(money_decimal("0.005", "usd"), "0.00005 USD");
        assert_eq!(money_decimal("123456.25", "eur"), "1,234.5625 EUR");
        assert_eq!(money_decimal("16.5", "jpy"), "16.5 JPY");
    }

    #[test]
    fn money_zero_and_three_decimals() {
        assert_eq!(money(1500, "jpy"), "1,500 JPY");
        assert_eq!(money(7, "JPY"), "7 JPY");
        assert_eq!(money(12_345, "kwd"), "12.345 KWD");
    }

    #[test]
    fn time_known_instants() {
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(time(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn offset_units() {
        assert_eq!(offset(0), "+0s");
        assert_eq!(offset(45), "+45s");
        assert_eq!(offset(185), "+3m05s");
        assert_eq!(offset(7210), "+2h00m10s");
        assert_eq!(offset(-3), "-3s");
    }
}
