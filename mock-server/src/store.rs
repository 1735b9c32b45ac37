//! Per-account object storage.
//!
//! Objects are kept as bytes, not as JSON trees: a tree of a 2 KB session
//! takes about ten times its text in small allocations, and an account in
//! a load test contains hundreds of thousands of objects. Each version is the
//! object's public fields as the API prints them (pretty JSON), a NUL byte,
//! and its private fields (names starting with `_`) as compact JSON, the
//! whole compressed with LZ4. The first object of each kind is the
//! dictionary for the later ones: objects of one kind share most of their
//! text, so a 2 KB session compresses to about 130 bytes.
//!
//! A read decodes the bytes again. `public_bytes` gives a retrieve its
//! response body without building a tree at all.
//!
//! Every write keeps the versions it replaces for `HISTORY` seconds of
//! virtual time, so the stale-read fault can serve an object as it was a
//! few seconds ago.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

/// How far back replaced versions stay readable, in seconds: the longest
/// window a stale-read fault may have. Older versions go at the next write.
pub const HISTORY: i64 = crate::faults::MAX_SECONDS;

/// One stored version of an object, decoded.
#[derive(Debug, Clone)]
pub struct Version {
    /// Virtual time of the write.
    pub written_at: i64,
    pub object: Value,
}

#[derive(Debug, Clone)]
struct Packed {
    written_at: i64,
    /// LZ4 block, uncompressed length first, with the kind's dictionary.
    bytes: Box<[u8]>,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: &'static str,
    deleted: bool,
    current: Packed,
    /// Replaced versions, oldest first: those written within `HISTORY`
    /// seconds of the latest write, and the newest one before that.
    older: Vec<Packed>,
}

/// The objects of one account, by id, with each kind's objects in
/// creation order.
#[derive(Debug, Default)]
pub struct Store {
    entries: IndexMap<Box<str>, Entry>,
    /// Positions in `entries` of each kind's live objects, oldest first.
    order: HashMap<&'static str, Vec<u32>>,
    /// The first object of each kind, encoded, as the LZ4 dictionary of
    /// the kind.
    dictionaries: HashMap<&'static str, Box<[u8]>>,
}

impl Store {
    /// Stores a new object of `kind` (Stripe's `object` value).
    pub fn insert(&mut self, kind: &'static str, id: &str, object: &Value, now: i64) {
        let current = self.pack(kind, object, now);
        let entry = Entry {
            kind,
            deleted: false,
            current,
            older: Vec::new(),
        };
        let (position, replaced) = self.entries.insert_full(id.into(), entry);
        let position = position as u32;
        // An id stored again (a deleted product's id reused) moves to the
        // end of its kind's order.
        if let Some(old) = replaced
            && let Some(ids) = self.order.get_mut(old.kind)
        {
            ids.retain(|p| *p != position);
        }
        self.order.entry(kind).or_default().push(position);
    }

    /// Replaces an object with a new version. Returns false if the id is unknown.
    pub fn update(&mut self, id: &str, object: &Value, now: i64) -> bool {
        let Some(kind) = self
            .entries
            .get(id)
            .filter(|entry| !entry.deleted)
            .map(|entry| entry.kind)
        else {
            return false;
        };
        let packed = self.pack(kind, object, now);
        let Some(entry) = self.entries.get_mut(id) else {
            return false;
        };
        let replaced = std::mem::replace(&mut entry.current, packed);
        entry.older.push(replaced);
        // A version stays servable while it is the newest one older than
        // the window's start; anything before that is never read again.
        let horizon = now - HISTORY;
        let keep_from = entry
            .older
            .iter()
            .rposition(|v| v.written_at <= horizon)
            .unwrap_or(0);
        entry.older.drain(..keep_from);
        true
    }

    /// Marks an object deleted: it disappears from reads and lists.
    pub fn delete(&mut self, id: &str) -> bool {
        let Some((position, _, entry)) = self.entries.get_full_mut(id) else {
            return false;
        };
        if entry.deleted {
            return false;
        }
        entry.deleted = true;
        let position = position as u32;
        if let Some(ids) = self.order.get_mut(entry.kind) {
            ids.retain(|p| *p != position);
        }
        true
    }

    fn live(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id).filter(|entry| !entry.deleted)
    }

    /// The current version of an object of `kind`.
    pub fn get(&self, kind: &str, id: &str) -> Option<Value> {
        let entry = self.live(id).filter(|entry| entry.kind == kind)?;
        Some(self.unpack(entry.kind, &entry.current))
    }

    /// Returns whether a live object of `kind` has this id.
    pub fn contains(&self, kind: &str, id: &str) -> bool {
        self.live(id).is_some_and(|entry| entry.kind == kind)
    }

    /// Returns whether a live object of any kind has this id.
    pub fn exists(&self, id: &str) -> bool {
        self.live(id).is_some()
    }

    /// Returns the response body of a plain retrieve of an object of
    /// `kind`, which is its public fields pretty-printed with a final newline.
    pub fn public_bytes(&self, kind: &str, id: &str) -> Option<Vec<u8>> {
        let entry = self.live(id).filter(|entry| entry.kind == kind)?;
        // One byte more than the text, so the newline needs no new buffer.
        let mut text = self.decompress_with_spare(entry.kind, &entry.current, 1);
        // Printed JSON never contains a raw NUL, so the one separator is found
        // from the end, past the short private part only.
        let end = text.iter().rposition(|b| *b == 0).unwrap_or(text.len());
        text.truncate(end);
        text.push(b'\n');
        Some(text)
    }

    /// Whether an object of `kind` existed and was deleted.
    pub fn is_deleted(&self, kind: &str, id: &str) -> bool {
        self.entries
            .get(id)
            .is_some_and(|entry| entry.kind == kind && entry.deleted)
    }

    /// The current version of any object, whatever its kind.
    pub fn get_any(&self, id: &str) -> Option<Value> {
        let entry = self.live(id)?;
        Some(self.unpack(entry.kind, &entry.current))
    }

    /// Virtual time of an object's latest write.
    pub fn written_at(&self, id: &str) -> Option<i64> {
        self.entries.get(id).map(|entry| entry.current.written_at)
    }

    /// The newest version of an object written at or before `at`, if one
    /// is still kept.
    pub fn version_at(&self, id: &str, at: i64) -> Option<Version> {
        let entry = self.entries.get(id)?;
        std::iter::once(&entry.current)
            .chain(entry.older.iter().rev())
            .find(|version| version.written_at <= at)
            .map(|version| Version {
                written_at: version.written_at,
                object: self.unpack(entry.kind, version),
            })
    }

    /// Number of versions kept of an object, the current one included.
    pub fn version_count(&self, id: &str) -> usize {
        self.entries
            .get(id)
            .map_or(0, |entry| 1 + entry.older.len())
    }

    /// Ids of `kind`, newest first, as Stripe lists them.
    pub fn ids_newest_first(&self, kind: &str) -> impl Iterator<Item = &str> {
        self.order
            .get(kind)
            .into_iter()
            .flat_map(|positions| positions.iter().rev())
            .filter_map(|position| self.entries.get_index(*position as usize))
            .map(|(id, _)| &**id)
    }

    /// Whether every stored object is of one of `kinds`: true for an
    /// account that has stored nothing yet.
    pub fn holds_only(&self, kinds: &[&str]) -> bool {
        self.entries
            .values()
            .all(|entry| kinds.contains(&entry.kind))
    }

    /// Number of stored objects of `kind`, not counting deleted ones.
    pub fn count(&self, kind: &str) -> usize {
        self.order.get(kind).map_or(0, Vec::len)
    }

    fn pack(&mut self, kind: &'static str, object: &Value, now: i64) -> Packed {
        let text = encode(object);
        let dictionary = self
            .dictionaries
            .entry(kind)
            .or_insert_with(|| text.clone().into_boxed_slice());
        Packed {
            written_at: now,
            bytes: lz4_flex::block::compress_prepend_size_with_dict(&text, dictionary)
                .into_boxed_slice(),
        }
    }

    fn decompress(&self, kind: &str, packed: &Packed) -> Vec<u8> {
        self.decompress_with_spare(kind, packed, 0)
    }

    /// Decompresses into a buffer with `spare` bytes of capacity left over.
    fn decompress_with_spare(&self, kind: &str, packed: &Packed, spare: usize) -> Vec<u8> {
        let dictionary = self.dictionaries.get(kind).map_or(&[][..], |d| &d[..]);
        let (size, block) = packed.bytes.split_at(4.min(packed.bytes.len()));
        let size = u32::from_le_bytes(size.try_into().unwrap_or_default()) as usize;
        let mut text = vec![0; size];
        text.reserve_exact(spare);
        // `pack` wrote the bytes with this dictionary, so an error here is
        // a bug in this module.
        match lz4_flex::block::decompress_into_with_dict(block, &mut text, dictionary) {
            Ok(written) => text.truncate(written),
            Err(err) => {
                tracing::error!(kind, error = %err, "stored object failed to decompress");
                text.clear();
            }
        }
        text
    }

    fn unpack(&self, kind: &str, packed: &Packed) -> Value {
        decode(&self.decompress(kind, packed))
    }
}

/// Prints an object as it is stored: the public fields pretty-printed, a
/// NUL byte, and the private fields as compact JSON (nothing if none).
fn encode(object: &Value) -> Vec<u8> {
    let Some(map) = object.as_object() else {
        let mut text = serde_json::to_vec_pretty(object).unwrap_or_default();
        text.push(0);
        return text;
    };
    let mut text = serde_json::to_vec_pretty(&Fields {
        map,
        private: false,
    })
    .unwrap_or_default();
    text.push(0);
    if map.keys().any(|key| key.starts_with('_')) {
        serde_json::to_writer(&mut text, &Fields { map, private: true }).unwrap_or_default();
    }
    text
}

/// The public or the private fields of an object, serialized in place.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    private: bool,
}

impl serde::Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = serializer.serialize_map(None)?;
        for (key, value) in self.map {
            if key.starts_with('_') == self.private {
                out.serialize_entry(key, value)?;
            }
        }
        out.end()
    }
}

fn decode(text: &[u8]) -> Value {
    let (public, private) = match text.iter().rposition(|b| *b == 0) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, &[][..]),
    };
    let mut object: Value = serde_json::from_slice(public).unwrap_or_else(|err| {
        tracing::error!(error = %err, "stored object failed to parse");
        Value::Null
    });
    if !private.is_empty()
        && let (Some(map), Ok(extra)) = (
            object.as_object_mut(),
            serde_json::from_slice::<Map<String, Value>>(private),
        )
    {
        map.extend(extra);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_keeps_history() {
        let mut store = Store::default();
        store.insert("customer", "cus_1", &json!({"v": 1}), 10);
        store.update("cus_1", &json!({"v": 2}), 20);
        assert_eq!(store.get("customer", "cus_1"), Some(json!({"v": 2})));
        assert_eq!(store.version_count("cus_1"), 2);
        let old = store.version_at("cus_1", 15).unwrap();
        assert_eq!(old.written_at, 10);
        assert_eq!(old.object, json!({"v": 1}));
        assert!(store.version_at("cus_1", 5).is_none());
    }

    #[test]
    fn history_past_the_window_is_dropped() {
        let mut store = Store::default();
        store.insert("customer", "cus_1", &json!({"v": 1}), 0);
        store.update("cus_1", &json!({"v": 2}), 10);
        store.update("cus_1", &json!({"v": 3}), 20);
        // At HISTORY + 30 the version written at 20 is the one the window
        // can still reach; the two before it go.
        store.update("cus_1", &json!({"v": 4}), HISTORY + 30);
        assert_eq!(store.version_count("cus_1"), 2);
        let reachable = store.version_at("cus_1", HISTORY + 25).unwrap();
        assert_eq!(reachable.object, json!({"v": 3}));
    }

    #[test]
    fn kind_must_match_and_delete_hides() {
        let mut store = Store::default();
        store.insert("product", "prod_1", &json!({}), 0);
        store.insert("product", "prod_2", &json!({}), 0);
        assert!(store.get("price", "prod_1").is_none());
        let ids: Vec<_> = store.ids_newest_first("product").collect();
        assert_eq!(ids, ["prod_2", "prod_1"]);
        assert!(store.delete("prod_2"));
        assert!(store.get("product", "prod_2").is_none());
        assert!(store.is_deleted("product", "prod_2"));
        assert_eq!(store.count("product"), 1);
    }

    #[test]
    fn private_fields_stay_out_of_body() {
        let mut store = Store::default();
        let first = json!({"id": "cs_1", "status": "open", "_hidden": {"a": [1, 2]}});
        let second = json!({"id": "cs_2", "status": "complete", "metadata": {"k": "v"}});
        store.insert("checkout.session", "cs_1", &first, 0);
        store.insert("checkout.session", "cs_2", &second, 0);
        assert_eq!(store.get("checkout.session", "cs_1"), Some(first));
        assert_eq!(store.get("checkout.session", "cs_2"), Some(second.clone()));
        let body = store.public_bytes("checkout.session", "cs_1").unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(!text.contains("_hidden"));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"id": "cs_1", "status": "open"})
        );
        let body = store.public_bytes("checkout.session", "cs_2").unwrap();
        assert_eq!(
            body,
            [serde_json::to_vec_pretty(&second).unwrap(), b"\n".to_vec()].concat()
        );
    }

    #[test]
    fn similar_objects_compress_against_the_first() {
        let mut store = Store::default();
        let object = |n: u32| {
            json!({
                "id": format!("cs_test_{n:058}"),
                "object": "checkout.session",
                "amount_total": 2000 + n,
                "success_url": "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}",
                "custom_text": {"after_submit": null, "shipping_address": null, "submit": null},
                "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            })
        };
        store.insert("checkout.session", "a", &object(1), 0);
        store.insert("checkout.session", "b", &object(2), 0);
        let text = encode(&object(2)).len();
        let packed = store.entries["b"].current.bytes.len();
        assert!(
            packed * 4 < text,
            "{packed} bytes packed from {text} bytes of text"
        );
        assert_eq!(store.get("checkout.session", "b"), Some(object(2)));
    }

    #[test]
    fn reinserted_id_keeps_one_place() {
        let mut store = Store::default();
        store.insert("line_items", "li_1", &json!([1]), 0);
        store.insert("line_items", "li_1", &json!([2]), 0);
        assert_eq!(store.count("line_items"), 1);
        assert_eq!(store.get_any("li_1"), Some(json!([2])));
    }
}
