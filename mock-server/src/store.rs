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
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
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

/// One stored object. A slot keeps its position in `Store::slots` for as
/// long as the store lives, so the position names the object.
#[derive(Debug, Clone)]
struct Slot {
    current: Packed,
    /// Start and length in bytes of the id in `Store::ids`.
    id_start: u32,
    id_len: u32,
    /// Position of the kind in `Store::kinds`.
    kind: u8,
    deleted: bool,
}

// Every object costs one slot, so a change to its size shows here.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Slot>() == 40);

/// The state shared by one kind of object: its name, the dictionary its
/// objects compress against, and its live objects in creation order.
#[derive(Debug)]
struct Kind {
    name: &'static str,
    /// The first object of the kind, encoded.
    dictionary: Box<[u8]>,
    /// Positions in `Store::slots` of the live objects, oldest first.
    order: Vec<u32>,
}

/// The objects of one account, by id, with each kind's objects in
/// creation order.
///
/// The layout keeps the cost of an object close to its compressed bytes
/// and its id: a slot per object, every id in one string, and a hash table
/// of slot positions. Replaced versions sit in a side table, because most
/// objects are never updated within the history window.
#[derive(Debug, Default)]
pub struct Store {
    slots: Vec<Slot>,
    /// Every id, back to back, in slot order.
    ids: String,
    /// Positions in `slots`, hashed by id.
    index: HashTable<u32>,
    hasher: RandomState,
    kinds: Vec<Kind>,
    /// Replaced versions by slot, oldest first: those written within
    /// `HISTORY` seconds of the latest write, and the newest one before that.
    older: HashMap<u32, Vec<Packed>>,
}

impl Store {
    /// Stores a new object of `kind` (Stripe's `object` value).
    pub fn insert(&mut self, kind: &'static str, id: &str, object: &Value, now: i64) {
        let kind = self.kind_index(kind, object);
        let current = self.pack(kind, object, now);
        let position = match self.position(id) {
            // An id stored again (a deleted product's id reused) keeps its
            // slot and moves to the end of its kind's order.
            Some(position) => {
                let old_kind = self.slots[position as usize].kind;
                self.kinds[usize::from(old_kind)]
                    .order
                    .retain(|p| *p != position);
                self.older.remove(&position);
                let slot = &mut self.slots[position as usize];
                slot.current = current;
                slot.kind = kind;
                slot.deleted = false;
                position
            }
            None => self.push_slot(id, kind, current),
        };
        self.kinds[usize::from(kind)].order.push(position);
    }

    /// Replaces an object with a new version. Returns false if the id is unknown.
    pub fn update(&mut self, id: &str, object: &Value, now: i64) -> bool {
        let Some(position) = self.live_position(id) else {
            return false;
        };
        let kind = self.slots[position as usize].kind;
        let packed = self.pack(kind, object, now);
        let replaced = std::mem::replace(&mut self.slots[position as usize].current, packed);
        let older = self.older.entry(position).or_default();
        older.push(replaced);
        // A version stays servable while it is the newest one older than
        // the window's start; anything before that is never read again.
        let horizon = now - HISTORY;
        let keep_from = older
            .iter()
            .rposition(|v| v.written_at <= horizon)
            .unwrap_or(0);
        older.drain(..keep_from);
        true
    }

    /// Marks an object deleted: it disappears from reads and lists.
    pub fn delete(&mut self, id: &str) -> bool {
        let Some(position) = self.live_position(id) else {
            return false;
        };
        let slot = &mut self.slots[position as usize];
        slot.deleted = true;
        let kind = slot.kind;
        self.kinds[usize::from(kind)]
            .order
            .retain(|p| *p != position);
        true
    }

    /// The current version of an object of `kind`.
    pub fn get(&self, kind: &str, id: &str) -> Option<Value> {
        let slot = self.live_of_kind(kind, id)?;
        Some(self.unpack(slot.kind, &slot.current))
    }

    /// Returns whether a live object of `kind` has this id.
    pub fn contains(&self, kind: &str, id: &str) -> bool {
        self.live_of_kind(kind, id).is_some()
    }

    /// Returns whether a live object of any kind has this id.
    pub fn exists(&self, id: &str) -> bool {
        self.live(id).is_some()
    }

    /// Returns the response body of a plain retrieve of an object of
    /// `kind`, which is its public fields pretty-printed with a final newline.
    pub fn public_bytes(&self, kind: &str, id: &str) -> Option<Vec<u8>> {
        let slot = self.live_of_kind(kind, id)?;
        // One byte more than the text, so the newline needs no new buffer.
        let mut text = self.decompress_with_spare(slot.kind, &slot.current, 1);
        // Printed JSON never contains a raw NUL, so the one separator is found
        // from the end, past the short private part only.
        let end = text.iter().rposition(|b| *b == 0).unwrap_or(text.len());
        text.truncate(end);
        text.push(b'\n');
        Some(text)
    }

    /// Whether an object of `kind` existed and was deleted.
    pub fn is_deleted(&self, kind: &str, id: &str) -> bool {
        self.slot(id)
            .is_some_and(|slot| slot.deleted && self.kind_name(slot) == kind)
    }

    /// The current version of any object, whatever its kind.
    pub fn get_any(&self, id: &str) -> Option<Value> {
        let slot = self.live(id)?;
        Some(self.unpack(slot.kind, &slot.current))
    }

    /// Virtual time of an object's latest write.
    pub fn written_at(&self, id: &str) -> Option<i64> {
        self.slot(id).map(|slot| slot.current.written_at)
    }

    /// The newest version of an object written at or before `at`, if one
    /// is still kept.
    pub fn version_at(&self, id: &str, at: i64) -> Option<Version> {
        let position = self.position(id)?;
        let slot = &self.slots[position as usize];
        let older = self.older.get(&position).map_or(&[][..], Vec::as_slice);
        std::iter::once(&slot.current)
            .chain(older.iter().rev())
            .find(|version| version.written_at <= at)
            .map(|version| Version {
                written_at: version.written_at,
                object: self.unpack(slot.kind, version),
            })
    }

    /// Number of versions kept of an object, the current one included.
    pub fn version_count(&self, id: &str) -> usize {
        self.position(id).map_or(0, |position| {
            1 + self.older.get(&position).map_or(0, Vec::len)
        })
    }

    /// Ids of `kind`, newest first, as Stripe lists them.
    pub fn ids_newest_first(&self, kind: &str) -> impl Iterator<Item = &str> {
        self.kinds
            .iter()
            .filter(move |k| k.name == kind)
            .flat_map(|k| k.order.iter().rev())
            .map(|position| self.id_of(&self.slots[*position as usize]))
    }

    /// Whether every stored object is of one of `kinds`: true for an
    /// account that has stored nothing yet.
    pub fn holds_only(&self, kinds: &[&str]) -> bool {
        self.slots
            .iter()
            .all(|slot| kinds.contains(&self.kind_name(slot)))
    }

    /// Number of stored objects of `kind`, not counting deleted ones.
    pub fn count(&self, kind: &str) -> usize {
        self.kinds
            .iter()
            .find(|k| k.name == kind)
            .map_or(0, |k| k.order.len())
    }

    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    fn id_of(&self, slot: &Slot) -> &str {
        let start = slot.id_start as usize;
        &self.ids[start..start + slot.id_len as usize]
    }

    fn kind_name(&self, slot: &Slot) -> &'static str {
        self.kinds[usize::from(slot.kind)].name
    }

    /// Returns the slot position of an id, deleted or not.
    fn position(&self, id: &str) -> Option<u32> {
        self.index
            .find(self.hash(id), |position| {
                self.id_of(&self.slots[*position as usize]) == id
            })
            .copied()
    }

    fn slot(&self, id: &str) -> Option<&Slot> {
        self.position(id)
            .map(|position| &self.slots[position as usize])
    }

    fn live_position(&self, id: &str) -> Option<u32> {
        self.position(id)
            .filter(|position| !self.slots[*position as usize].deleted)
    }

    fn live(&self, id: &str) -> Option<&Slot> {
        self.slot(id).filter(|slot| !slot.deleted)
    }

    fn live_of_kind(&self, kind: &str, id: &str) -> Option<&Slot> {
        self.live(id).filter(|slot| self.kind_name(slot) == kind)
    }

    /// Appends a slot for a new id and indexes it.
    fn push_slot(&mut self, id: &str, kind: u8, current: Packed) -> u32 {
        let position = u32::try_from(self.slots.len()).expect("fewer than 2^32 objects");
        let id_start = u32::try_from(self.ids.len()).expect("ids shorter than 4 GiB in all");
        let id_len = u32::try_from(id.len()).expect("an id shorter than 4 GiB");
        self.ids.push_str(id);
        self.slots.push(Slot {
            current,
            id_start,
            id_len,
            kind,
            deleted: false,
        });
        let hash = self.hash(id);
        let Store {
            index,
            slots,
            ids,
            hasher,
            ..
        } = self;
        index.insert_unique(hash, position, |p| {
            let slot = &slots[*p as usize];
            let start = slot.id_start as usize;
            hasher.hash_one(&ids[start..start + slot.id_len as usize])
        });
        position
    }

    /// Returns the position of `kind` in `kinds`, and adds the kind with
    /// `object` as its dictionary when it is new.
    fn kind_index(&mut self, kind: &'static str, object: &Value) -> u8 {
        if let Some(index) = self.kinds.iter().position(|k| k.name == kind) {
            return index as u8;
        }
        // The store keeps a few kinds of Stripe object, far fewer than 256.
        let index = u8::try_from(self.kinds.len()).expect("fewer than 256 kinds");
        self.kinds.push(Kind {
            name: kind,
            dictionary: encode(object).into_boxed_slice(),
            order: Vec::new(),
        });
        index
    }

    fn pack(&self, kind: u8, object: &Value, now: i64) -> Packed {
        let text = encode(object);
        let dictionary = &self.kinds[usize::from(kind)].dictionary;
        Packed {
            written_at: now,
            bytes: lz4_flex::block::compress_prepend_size_with_dict(&text, dictionary)
                .into_boxed_slice(),
        }
    }

    fn decompress(&self, kind: u8, packed: &Packed) -> Vec<u8> {
        self.decompress_with_spare(kind, packed, 0)
    }

    /// Decompresses into a buffer with `spare` bytes of capacity left over.
    fn decompress_with_spare(&self, kind: u8, packed: &Packed, spare: usize) -> Vec<u8> {
        let kind = &self.kinds[usize::from(kind)];
        let (size, block) = packed.bytes.split_at(4.min(packed.bytes.len()));
        let size = u32::from_le_bytes(size.try_into().unwrap_or_default()) as usize;
        let mut text = vec![0; size];
        text.reserve_exact(spare);
        // `pack` wrote the bytes with this dictionary, so an error here is
        // a bug in this module.
        match lz4_flex::block::decompress_into_with_dict(block, &mut text, &kind.dictionary) {
            Ok(written) => text.truncate(written),
            Err(err) => {
                tracing::error!(kind = kind.name, error = %err, "stored object failed to decompress");
                text.clear();
            }
        }
        text
    }

    fn unpack(&self, kind: u8, packed: &Packed) -> Value {
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
        let packed = store.slot("b").unwrap().current.bytes.len();
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

    #[test]
    fn many_ids_stay_findable() {
        let mut store = Store::default();
        let id = |n: usize| format!("prod_{}{n}", "x".repeat(n % 40));
        for n in 0..5_000 {
            store.insert("product", &id(n), &json!({"n": n}), 0);
        }
        for n in (0..5_000).step_by(7) {
            assert_eq!(
                store.get("product", &id(n)),
                Some(json!({"n": n})),
                "{}",
                id(n)
            );
        }
        assert!(store.update(&id(10), &json!({"n": "ten"}), 5));
        assert!(store.delete(&id(11)));
        assert_eq!(store.get_any(&id(10)), Some(json!({"n": "ten"})));
        assert!(!store.exists(&id(11)));
        assert!(!store.exists("prod_unknown"));
        assert_eq!(store.count("product"), 4_999);
        let newest: Vec<_> = store.ids_newest_first("product").take(2).collect();
        assert_eq!(newest, [id(4_999), id(4_998)]);
    }

    #[test]
    fn reused_id_may_change_kind() {
        let mut store = Store::default();
        store.insert("product", "x_1", &json!({"v": 1}), 0);
        store.update("x_1", &json!({"v": 2}), 10);
        store.delete("x_1");
        store.insert("price", "x_1", &json!({"v": 3}), 20);
        assert_eq!(store.get("price", "x_1"), Some(json!({"v": 3})));
        assert!(store.get("product", "x_1").is_none());
        assert_eq!(store.count("product"), 0);
        assert_eq!(store.count("price"), 1);
        // The product's history went with it.
        assert_eq!(store.version_count("x_1"), 1);
        assert!(store.version_at("x_1", 15).is_none());
    }
}
