//! Stored text made easy to compress.
//!
//! An account's objects differ from each other mostly in their ids and
//! timestamps: a session's id is 58 random-looking characters, which no
//! compressor can shorten, and `created` is a new ten-digit number every
//! second. `pack` rewrites both as short marks before the store compresses
//! an object against the first of its kind:
//!
//! - a derived id (see `crate::ids`) becomes its number's distance from the
//!   previous id in the same text, so the ids a request draws one after
//!   another pack to the same bytes in every object;
//! - a ten-digit number becomes its distance from the time of the write,
//!   so `created` packs to zero and `expires_at` to the session's lifetime.
//!
//! `unpack` with the same base and time restores the exact text. Marks use
//! control bytes that never appear raw in JSON text: serializers escape them
//! inside strings, and they are not allowed outside.

use std::io::Write;

use crate::ids;

/// A derived id: the mark, the length after the prefix, then the distance.
const ID: u8 = 0x01;
/// A ten-digit number: the mark, then its distance from the write time.
const TIME: u8 = 0x02;

/// Digits of the numbers packed as times: Unix times from 2001 to 2286.
const TIME_DIGITS: usize = 10;

/// Packs `text`. The first id counts from `base`, each later one from the
/// id before it; times count from `now`.
///
/// Only two kinds of alphanumeric run can pack: one that follows a `_` (an
/// id's characters) and one of digits alone (a time). So the scan jumps
/// from one `_` or digit to the next, eight bytes at a time, and looks at
/// the run there.
pub fn pack(text: &[u8], base: u64, now: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut previous = base;
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = next_candidate(text, at) {
        let underscore = text[found] == b'_';
        let start = if underscore { found + 1 } else { found };
        let end = run_end(text, start);
        at = end.max(found + 1);
        // A digit after a letter sits in a run that starts with the
        // letter: neither an id (its `_` would have come first) nor a time.
        let inside = !underscore && found > 0 && text[found - 1].is_ascii_alphanumeric();
        let run = &text[start..end];
        if run.is_empty() || inside {
            continue;
        }
        // Most runs after a `_` are the rest of a field name, too short for
        // an id, so the length is checked before the call.
        if underscore
            && ids::LENGTHS.contains(&run.len())
            && let Some(number) = ids::number_of_body(run)
        {
            out.extend_from_slice(&text[copied..start]);
            out.push(ID);
            // Id lengths are all below 256.
            out.push(run.len() as u8);
            push_varint(&mut out, zigzag(number.wrapping_sub(previous) as i64));
            previous = number;
            copied = end;
        } else if let Some(value) = time_value(run) {
            let distance = zigzag(value.wrapping_sub(now));
            // Eight varint bytes hold 56 bits; a time further off than
            // that would pack longer than its digits.
            if distance < 1 << 56 {
                out.extend_from_slice(&text[copied..start]);
                out.push(TIME);
                push_varint(&mut out, distance);
                copied = end;
            }
        }
    }
    out.extend_from_slice(&text[copied..]);
    out
}

/// Returns the end of the alphanumeric run that starts at `start`.
fn run_end(text: &[u8], start: usize) -> usize {
    text[start..]
        .iter()
        .position(|b| !b.is_ascii_alphanumeric())
        .map_or(text.len(), |length| start + length)
}

/// Returns the position of the first `_` or ASCII digit at or after `from`.
fn next_candidate(text: &[u8], mut from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while from + 8 <= text.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&text[from..from + 8]);
        let word = u64::from_le_bytes(word);
        // A byte below 10 after subtracting `0`, and a byte equal to `_`,
        // set their high bit. The lowest such byte is exact: a borrow only
        // carries into the bytes above a byte that matched.
        let digits = word ^ (ONES * u64::from(b'0'));
        let digit_bits = digits.wrapping_sub(ONES * 10) & !digits & HIGHS;
        let underscores = word ^ (ONES * u64::from(b'_'));
        let underscore_bits = underscores.wrapping_sub(ONES) & !underscores & HIGHS;
        let bits = digit_bits | underscore_bits;
        if bits != 0 {
            return Some(from + (bits.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    text[from..]
        .iter()
        .position(|b| *b == b'_' || b.is_ascii_digit())
        .map(|offset| from + offset)
}

/// Parses a run of exactly ten digits without a leading zero, which
/// printing the value gives back character for character.
fn time_value(run: &[u8]) -> Option<i64> {
    if run.len() != TIME_DIGITS || run[0] == b'0' || !run.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        run.iter()
            .fold(0i64, |value, digit| value * 10 + i64::from(digit - b'0')),
    )
}

/// Restores text that `pack` wrote with the same `base` and `now`. `spare`
/// bytes of capacity are left over, so a caller can append without a new
/// buffer.
pub fn unpack(packed: &[u8], base: u64, now: i64, spare: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed.len() + 512 + spare);
    let mut previous = base;
    // Where the last id's characters went, so the same id again (a
    // session's `id` and its `url`) is copied rather than spelled.
    let mut last_body: Option<(usize, usize)> = None;
    let mut rest = packed;
    while let Some(at) = memchr::memchr2(ID, TIME, rest) {
        out.extend_from_slice(&rest[..at]);
        let mark = rest[at];
        rest = &rest[at + 1..];
        if mark == ID {
            let Some((&len, tail)) = rest.split_first() else {
                break;
            };
            let (distance, used) = read_varint(tail);
            let number = previous.wrapping_add(unzigzag(distance) as u64);
            previous = number;
            let len = usize::from(len);
            if ids::LENGTHS.contains(&len) {
                let start = out.len();
                match last_body {
                    Some((from, last_len)) if distance == 0 && last_len == len => {
                        out.extend_from_within(from..from + len);
                    }
                    _ => {
                        out.resize(start + len, 0);
                        ids::write_body(&mut out[start..], number);
                    }
                }
                last_body = Some((start, len));
            }
            rest = &tail[used..];
        } else {
            let (distance, used) = read_varint(rest);
            let value = now.wrapping_add(unzigzag(distance));
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{value}");
            rest = &rest[used..];
        }
    }
    out.extend_from_slice(rest);
    out
}

/// Maps a signed difference to a number that is small when the difference
/// is small either way, so its varint is short.
pub fn zigzag(difference: i64) -> u64 {
    ((difference << 1) ^ (difference >> 63)) as u64
}

/// Undoes `zigzag`.
pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

pub fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint; returns it and the number of bytes it took.
pub fn read_varint(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len().min(10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{IdGenerator, LENGTHS, push_body};
    use proptest::prelude::*;

    #[test]
    fn ids_and_times_shrink_and_come_back() {
        let mut ids = IdGenerator::new(4);
        let base = ids.upcoming();
        let session = ids.next("cs_test_");
        let intent = ids.next("pi_");
        let secret = format!("{intent}_secret_{}", &ids.next("")[..24]);
        let now = 1_796_427_936;
        let text = format!(
            r#"{{"id": "{session}", "url": "http://127.0.0.1:1/c/pay/{session}", "pi": "{intent}", "secret": "{secret}", "created": {now}, "expires_at": {}, "note": "cs_test_abc", "x": "_ABCDEFGHIJKLMNOPQRSTUVWX", "amount": 0123456789}}"#,
            now + 86_400
        );
        let packed = pack(text.as_bytes(), base, now);
        // Five ids (188 characters) and two times (20 digits) became 2 to
        // 5 bytes each.
        assert!(
            packed.len() + 170 < text.len(),
            "{} bytes packed from {}",
            packed.len(),
            text.len()
        );
        assert_eq!(unpack(&packed, base, now, 0), text.as_bytes());
        // The number with a leading zero stays as it was.
        assert!(packed.windows(10).any(|w| w == b"0123456789"));
    }

    #[test]
    fn objects_made_alike_pack_alike() {
        // Two sessions made a second apart by the same steps differ only
        // in the distance of their first id from the base.
        let mut ids = IdGenerator::new(6);
        let base = ids.upcoming();
        let mut object = |now: i64| {
            let session = ids.next("cs_test_");
            let item = ids.next("li_");
            let text = format!(r#"{{"id":"{session}","item":"{item}","created":{now}}}"#);
            pack(text.as_bytes(), base, now)
        };
        let first = object(1_800_000_000);
        let second = object(1_800_000_001);
        assert_eq!(first.len(), second.len());
        let differing = first.iter().zip(&second).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 1, "{first:?} and {second:?}");
    }

    #[test]
    fn any_base_and_time_restore_the_text() {
        let mut ids = IdGenerator::new(4);
        let text = format!(r#"{{"id":"{}","t":1700000000}}"#, ids.next("prod_"));
        let near = pack(
            text.as_bytes(),
            IdGenerator::new(4).upcoming(),
            1_700_000_000,
        );
        let far = pack(text.as_bytes(), 1 << 60, -5);
        assert!(far.len() > near.len());
        assert_eq!(unpack(&far, 1 << 60, -5, 0), text.as_bytes());
    }

    /// `pack` as first written, one byte at a time: the reference the
    /// faster scan must agree with.
    fn pack_bytewise(text: &[u8], base: u64, now: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut previous = base;
        let mut copied = 0;
        let mut at = 0;
        while at < text.len() {
            if !text[at].is_ascii_alphanumeric() {
                at += 1;
                continue;
            }
            let start = at;
            while at < text.len() && text[at].is_ascii_alphanumeric() {
                at += 1;
            }
            let run = &text[start..at];
            let after_prefix = start > 0 && text[start - 1] == b'_';
            if after_prefix && let Some(number) = ids::number_of_body(run) {
                out.extend_from_slice(&text[copied..start]);
                out.push(ID);
                out.push(run.len() as u8);
                push_varint(&mut out, zigzag(number.wrapping_sub(previous) as i64));
                previous = number;
                copied = at;
            } else if let Some(value) = time_value(run) {
                let distance = zigzag(value.wrapping_sub(now));
                if distance < 1 << 56 {
                    out.extend_from_slice(&text[copied..start]);
                    out.push(TIME);
                    push_varint(&mut out, distance);
                    copied = at;
                }
            }
        }
        out.extend_from_slice(&text[copied..]);
        out
    }

    proptest! {
        #[test]
        fn word_scan_packs_as_bytewise_scan(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[ -~]{0,20}",
                    "[_a-z0-9\\\\\"é ]{0,12}",
                    "_[0-9A-Za-z]{24}",
                    "[a-z_ ]?[1-9][0-9]{8,10}",
                    (0u64..u64::MAX, 0usize..3).prop_map(|(n, l)| {
                        let mut s = String::from("_");
                        push_body(&mut s, n, LENGTHS[l]);
                        s
                    }),
                ],
                0..16,
            ),
            base in 0u64..u64::MAX,
            now in 1_500_000_000i64..2_000_000_000,
        ) {
            let text = parts.concat();
            prop_assert_eq!(pack(text.as_bytes(), base, now), pack_bytewise(text.as_bytes(), base, now));
        }

        #[test]
        fn unpack_restores_any_text(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[ -~]{0,40}",
                    "_[0-9A-Za-z]{24}",
                    "[1-9][0-9]{9}",
                    (0u64..u64::MAX, 0usize..3).prop_map(|(n, l)| {
                        let mut s = String::from("_");
                        push_body(&mut s, n, LENGTHS[l]);
                        s
                    }),
                ],
                0..12,
            ),
            base in 0u64..u64::MAX,
            now in i64::MIN..i64::MAX,
        ) {
            let text = parts.concat();
            let packed = pack(text.as_bytes(), base, now);
            prop_assert!(packed.len() <= text.len());
            prop_assert_eq!(unpack(&packed, base, now, 0), text.as_bytes());
        }
    }
}
