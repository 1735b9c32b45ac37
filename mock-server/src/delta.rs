//! Text stored as its differences from a reference text.
//!
//! The store keeps each object as a delta from the first object of its
//! kind. After `packing`, two sessions made by the same steps differ in a
//! few bytes. A general compressor spends more than that on its framing:
//! LZ4 needs a size field, literals at the end of a block and a length byte
//! for every 255 bytes of a match. Its hash table also often picks the
//! wrong one of two similar line items.
//!
//! A delta here is a list of operations, each some new bytes followed by a
//! copy from the reference. A copy is looked for first where the previous
//! one left off, so a changed value inside unchanged text costs its own
//! bytes and about four more.
//!
//! Layout: the text's length, then operations of `literal length, literal
//! bytes, copy length, copy start`, all numbers as varints. The copy start
//! is the distance (zigzag) from where the previous copy ended plus the
//! literal length. A copy length of zero ends the list and has no start.

use crate::packing::{push_varint, read_varint, unzigzag, zigzag};

/// The shortest copy worth an operation.
const MIN_COPY: usize = 8;

const TABLE_BITS: u32 = 12;

/// A reference text and an index of where its 8-byte windows start.
#[derive(Debug)]
pub struct Reference {
    text: Box<[u8]>,
    /// First position of each window, by hash; `u32::MAX` for none.
    table: Box<[u32]>,
}

fn window_hash(window: &[u8]) -> usize {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&window[..8]);
    (u64::from_le_bytes(bytes).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - TABLE_BITS)) as usize
}

/// Counts the leading bytes that `a` and `b` share, eight at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut same = 0;
    for (left, right) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let mut words = ([0u8; 8], [0u8; 8]);
        words.0.copy_from_slice(left);
        words.1.copy_from_slice(right);
        let differ = u64::from_le_bytes(words.0) ^ u64::from_le_bytes(words.1);
        if differ != 0 {
            return same + (differ.trailing_zeros() / 8) as usize;
        }
        same += 8;
    }
    same + a[same..]
        .iter()
        .zip(&b[same..])
        .take_while(|(x, y)| x == y)
        .count()
}

impl Reference {
    pub fn new(text: Vec<u8>) -> Self {
        let mut table = vec![u32::MAX; 1 << TABLE_BITS].into_boxed_slice();
        if text.len() >= MIN_COPY && text.len() < u32::MAX as usize {
            for at in 0..=text.len() - MIN_COPY {
                let slot = &mut table[window_hash(&text[at..])];
                if *slot == u32::MAX {
                    *slot = at as u32;
                }
            }
        }
        Reference {
            text: text.into_boxed_slice(),
            table,
        }
    }

    /// Finds where `rest` could be copied from: `expected` if the reference
    /// has the same first bytes there, else the indexed window if it matches.
    fn find(&self, rest: &[u8], expected: usize) -> Option<usize> {
        let head = &rest[..MIN_COPY];
        if self.text.get(expected..expected + MIN_COPY) == Some(head) {
            return Some(expected);
        }
        let at = self.table[window_hash(head)];
        (at != u32::MAX && self.text.get(at as usize..at as usize + MIN_COPY) == Some(head))
            .then_some(at as usize)
    }

    /// Returns the delta that turns this reference into `text`.
    pub fn encode(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        push_varint(&mut out, text.len() as u64);
        let mut literal_start = 0;
        // Where a copy starting at `at` would come from if nothing was
        // inserted or removed since the previous copy.
        let mut resume = 0usize;
        let mut at = 0;
        while at + MIN_COPY <= text.len() {
            let expected = resume + (at - literal_start);

            let Some(from) = self.find(&text[at..], expected) else {
                at += 1;
                continue;
            };
            let len = common_prefix(&self.text[from..], &text[at..]);

            push_varint(&mut out, (at - literal_start) as u64);
            out.extend_from_slice(&text[literal_start..at]);
            push_varint(&mut out, len as u64);
            push_varint(&mut out, zigzag(from as i64 - expected as i64));
            at += len;
            literal_start = at;
            resume = from + len;
        }
        push_varint(&mut out, (text.len() - literal_start) as u64);
        out.extend_from_slice(&text[literal_start..]);
        push_varint(&mut out, 0);
        out
    }

    /// Rebuilds the text from a delta that `encode` wrote, with `spare`
    /// bytes of capacity left over. A damaged delta gives the text up to
    /// the damage.
    pub fn decode(&self, delta: &[u8], spare: usize) -> Vec<u8> {
        let (len, mut used) = read_varint(delta);
        let mut out = Vec::with_capacity((len as usize).min(1 << 24) + spare);
        let mut resume = 0usize;
        while used < delta.len() {
            let (literal, n) = read_varint(&delta[used..]);
            used += n;
            let Some(bytes) = delta.get(used..used.saturating_add(literal as usize)) else {
                break;
            };
            out.extend_from_slice(bytes);
            used += bytes.len();
            let (copy, n) = read_varint(delta.get(used..).unwrap_or_default());
            used += n;
            if copy == 0 {
                break;
            }
            let (distance, n) = read_varint(delta.get(used..).unwrap_or_default());
            used += n;
            let expected = resume.wrapping_add(literal as usize) as i64;
            let from = expected.wrapping_add(unzigzag(distance)) as usize;
            let Some(bytes) = self.text.get(from..from.saturating_add(copy as usize)) else {
                break;
            };
            out.extend_from_slice(bytes);
            resume = from + bytes.len();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(id: &str, name: &str) -> String {
        format!(
            r#"{{"id": "{id}", "object": "item", "description": "{name}", "price": {{"active": false, "billing_scheme": "per_unit", "currency": "eur", "unit_amount": 990}}, "quantity": 1}}"#
        )
    }

    #[test]
    fn delta_of_changed_value_is_small() {
        let reference = Reference::new(
            format!(
                "[{}, {}]",
                item("li_0001", "Linen shirt"),
                item("li_0002", "Cotton socks")
            )
            .into_bytes(),
        );
        let text = format!(
            "[{}, {}]",
            item("li_7001", "Linen shirt"),
            item("li_7002", "Cotton socks")
        );
        let delta = reference.encode(text.as_bytes());
        assert!(delta.len() <= 24, "{} bytes: {delta:?}", delta.len());
        assert_eq!(reference.decode(&delta, 0), text.as_bytes());
        // A name of another length shifts the rest; the copies follow.
        let text = format!(
            "[{}, {}]",
            item("li_0001", "Wool hat"),
            item("li_0002", "Cotton socks")
        );
        let delta = reference.encode(text.as_bytes());
        assert!(delta.len() <= 24, "{} bytes: {delta:?}", delta.len());
        assert_eq!(reference.decode(&delta, 0), text.as_bytes());
    }

    #[test]
    fn decode_of_damaged_delta_returns() {
        let reference = Reference::new(b"reference text of some length".to_vec());
        let delta = reference.encode(b"reference text of another length");
        for cut in 0..delta.len() {
            let _ = reference.decode(&delta[..cut], 0);
        }
        let _ = reference.decode(&[0xff; 12], 0);
        let _ = reference.decode(&[5, 0, 9, 0x80, 0x80, 0x80, 0x01], 0);
    }

    proptest! {
        #[test]
        fn common_prefix_counts_shared_bytes(
            shared in proptest::collection::vec(any::<u8>(), 0..40),
            a in proptest::collection::vec(any::<u8>(), 0..20),
            b in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let left = [shared.clone(), a].concat();
            let right = [shared, b].concat();
            let expected = left.iter().zip(&right).take_while(|(x, y)| x == y).count();
            prop_assert_eq!(common_prefix(&left, &right), expected);
        }

        #[test]
        fn decode_restores_any_text(
            reference in proptest::collection::vec(any::<u8>(), 0..300),
            edits in proptest::collection::vec((0usize..300, 0usize..20, proptest::collection::vec(any::<u8>(), 0..12)), 0..6),
        ) {
            // Texts made by editing the reference, so that copies happen.
            let mut text = reference.clone();
            for (at, remove, insert) in edits {
                let at = at.min(text.len());
                let end = (at + remove).min(text.len());
                text.splice(at..end, insert);
            }
            let reference = Reference::new(reference);
            let delta = reference.encode(&text);
            prop_assert_eq!(reference.decode(&delta, 0), text);
        }
    }
}
