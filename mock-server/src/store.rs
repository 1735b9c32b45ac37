//! Per-account object storage.
//!
//! Objects are kept as bytes, not as JSON trees: a tree of a 2 KB session
//! takes about ten times its text in small allocations, and an account in
//! a load test contains hundreds of thousands of objects. Each version is the
//! object's public fields as the API prints them (pretty JSON), a NUL byte,
//! and its private fields (names starting with `_`) as compact JSON. Before
//! it is compressed, its ids and timestamps become short marks (see
//! `packing`). The later objects of a kind are kept as their differences
//! from the first (see `delta`): objects of one kind share most of their
//! text, so a 2 KB session takes about 15 bytes.
//!
//! A read decodes the bytes again. `public_bytes` gives a retrieve its
//! response body without building a tree at all.
//!
//! Every write keeps the versions it replaces for `HISTORY` seconds of
//! virtual time, so the stale-read fault can serve an object as it was a
//! few seconds ago.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use serde_json::{Map, Value};

use crate::delta::Reference;
use crate::{ids, packing};

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

/// The current version of an object, copied out of the store to be
/// rebuilt later (`Store::public_read`).
#[derive(Debug)]
pub struct StoredRead {
    reference: Arc<Reference>,
    delta: Box<[u8]>,
    base: u64,
    written_at: i64,
}

impl StoredRead {
    /// Returns the object's public fields pretty-printed with a final
    /// newline: the body of a plain retrieve.
    pub fn public_bytes(self) -> Vec<u8> {
        // One byte more than the text, so the newline needs no new buffer.
        public_part(rebuild(
            &self.reference,
            &self.delta,
            self.base,
            self.written_at,
            1,
        ))
    }
}

/// Rebuilds a version's text from its delta against the kind's reference,
/// into a buffer with `spare` bytes of capacity left over.
fn rebuild(
    reference: &Reference,
    delta: &[u8],
    base: u64,
    written_at: i64,
    spare: usize,
) -> Vec<u8> {
    let text = reference.decode(delta, 0);
    packing::unpack(&text, base, written_at, spare)
}

/// One stored object. A slot keeps its position in `Store::slots` for as
/// long as the store lives, so the position names the object.
#[derive(Debug, Clone)]
struct Slot {
    /// The current version.
    current: Place,
    /// A derived id's number less `Store::bases[base]`. For any other id,
    /// its position in `Store::custom_ids`.
    number: u32,
    /// Position of the kind in `Store::kinds`, with `DELETED` set once the
    /// object is deleted.
    kind: u8,
    /// Position of the id's shape in `Store::forms`, or `CUSTOM`.
    form: u8,
    base: u8,
}

const DELETED: u8 = 0x80;
const CUSTOM: u8 = u8::MAX;

// Every object costs one slot, so a change to its size shows here.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Slot>() == 16);

impl Slot {
    fn kind(&self) -> u8 {
        self.kind & !DELETED
    }

    fn deleted(&self) -> bool {
        self.kind & DELETED != 0
    }
}

/// The state shared by one kind of object: its name, the dictionary its
/// objects compress against, and its live objects in creation order.
#[derive(Debug)]
struct Kind {
    name: &'static str,
    /// The first object of the kind, encoded and packed: what the kind's
    /// other objects are stored as differences from. Shared with reads
    /// that rebuild a text after the account's lock is released.
    reference: Arc<Reference>,
    /// Positions in `Store::slots` of the live objects, oldest first.
    order: Vec<u32>,
}

/// The text around the derived characters of the ids of one shape.
#[derive(Debug)]
struct Form {
    prefix: Box<str>,
    /// Derived characters after the prefix.
    len: u8,
    suffix: Box<str>,
}

impl Form {
    fn matches(&self, prefix: &str, len: usize, suffix: &str) -> bool {
        *self.prefix == *prefix && usize::from(self.len) == len && *self.suffix == *suffix
    }
}

/// The objects of one account, by id, with each kind's objects in
/// creation order.
///
/// The layout keeps the cost of an object close to its compressed bytes:
/// a 16-byte slot per object, the bytes back to back in large chunks, and
/// a hash table of slot positions. An id the account derived is kept as
/// its number and spelled again when needed. Other ids, such as a product
/// id the caller chose, are kept as text. Replaced versions sit in a side table,
/// because most objects are never updated within the history window.
#[derive(Debug, Default)]
pub struct Store {
    slots: Vec<Slot>,
    /// Positions in `slots`, hashed by id number or by id text.
    index: HashTable<u32>,
    hasher: RandomState,
    kinds: Vec<Kind>,
    /// The shapes of the derived ids stored so far.
    forms: Vec<Form>,
    /// Numbers that slots count their derived ids from. Each account draws
    /// from one run of numbers, so there is usually one.
    bases: Vec<u64>,
    custom_ids: Vec<Box<str>>,
    /// The number that packed text counts ids from (see `packing`).
    text_base: u64,
    bytes: Arena,
    /// Replaced versions by slot, oldest first: those written within
    /// `HISTORY` seconds of the latest write, and the newest one before that.
    older: HashMap<u32, Vec<Place>>,
}

/// Splits an id this module can spell again into its prefix, the length of
/// its derived characters, their number, and what follows them.
/// A key such as `cs_test_…/line_items` names an object by the id it
/// belongs to, so the part from the first `/` on is a suffix.
fn derived(id: &str) -> Option<(&str, usize, u64, &str)> {
    let (head, suffix) = id.split_at(id.find('/').unwrap_or(id.len()));
    ids::split(head).map(|(prefix, number)| (prefix, head.len() - prefix.len(), number, suffix))
}

impl Store {
    /// Creates a store for an account whose ids are numbered from `first_id`.
    pub fn new(first_id: u64) -> Self {
        Store {
            text_base: first_id,
            ..Store::default()
        }
    }

    /// Stores a new object of `kind` (Stripe's `object` value).
    pub fn insert(&mut self, kind: &'static str, id: &str, object: &Value, now: i64) {
        self.insert_text(kind, id, &encode(object), now);
    }

    /// Stores a new object printed by `encode_parts` or `encode_public`.
    pub fn insert_encoded(&mut self, kind: &'static str, id: &str, text: &[u8], now: i64) {
        self.insert_text(kind, id, text, now);
    }

    /// Stores a new object like `insert_encoded` and returns its public
    /// fields as the API prints them, newline included, for the response.
    pub fn insert_encoded_printed(
        &mut self,
        kind: &'static str,
        id: &str,
        text: Vec<u8>,
        now: i64,
    ) -> Vec<u8> {
        self.insert_text(kind, id, &text, now);
        public_part(text)
    }

    fn insert_text(&mut self, kind: &'static str, id: &str, text: &[u8], now: i64) {
        let kind = self.kind_index(kind, text, now);
        let current = self.pack(kind, text, now);
        let position = match self.position(id) {
            // An id stored again (a deleted product's id reused) keeps its
            // slot and moves to the end of its kind's order.
            Some(position) => {
                let old_kind = self.slots[position as usize].kind();
                self.kinds[usize::from(old_kind)]
                    .order
                    .retain(|p| *p != position);
                for version in self.older.remove(&position).unwrap_or_default() {
                    self.bytes.release(version);
                }
                let slot = &mut self.slots[position as usize];
                let replaced = std::mem::replace(&mut slot.current, current);
                slot.kind = kind;
                self.bytes.release(replaced);
                position
            }
            None => self.push_slot(id, kind, current),
        };
        self.kinds[usize::from(kind)].order.push(position);
        self.collect_garbage();
    }

    /// Replaces an object with a new version. Returns false if the id is unknown.
    pub fn update(&mut self, id: &str, object: &Value, now: i64) -> bool {
        let Some(position) = self.live_position(id) else {
            return false;
        };
        let kind = self.slots[position as usize].kind();
        let packed = self.pack(kind, &encode(object), now);
        let replaced = std::mem::replace(&mut self.slots[position as usize].current, packed);
        let older = self.older.entry(position).or_default();
        older.push(replaced);
        // A version stays servable while it is the newest one older than
        // the window's start; anything before that is never read again.
        let horizon = now - HISTORY;
        let bytes = &mut self.bytes;
        let keep_from = older
            .iter()
            .rposition(|version| bytes.written_at(*version) <= horizon)
            .unwrap_or(0);
        for version in older.drain(..keep_from) {
            bytes.release(version);
        }
        self.collect_garbage();
        true
    }

    /// Marks an object deleted: it disappears from reads and lists.
    pub fn delete(&mut self, id: &str) -> bool {
        let Some(position) = self.live_position(id) else {
            return false;
        };
        let slot = &mut self.slots[position as usize];
        slot.kind |= DELETED;
        let kind = slot.kind();
        self.kinds[usize::from(kind)]
            .order
            .retain(|p| *p != position);
        true
    }

    /// The current version of an object of `kind`.
    pub fn get(&self, kind: &str, id: &str) -> Option<Value> {
        let slot = self.live_of_kind(kind, id)?;
        Some(self.unpack(slot.kind(), &slot.current))
    }

    /// Returns whether a live object of `kind` has this id.
    pub fn contains(&self, kind: &str, id: &str) -> bool {
        self.live_of_kind(kind, id).is_some()
    }

    /// Returns whether any object, live or deleted, has this id.
    pub fn has_id(&self, id: &str) -> bool {
        self.position(id).is_some()
    }

    /// Returns the place of an object, live or deleted, in the order objects
    /// were first stored: a later object has a larger number. A cursor kept
    /// as an id still finds its place after the object is deleted.
    pub fn creation_rank(&self, id: &str) -> Option<u32> {
        self.position(id)
    }

    /// Returns whether a live object of any kind has this id.
    pub fn exists(&self, id: &str) -> bool {
        self.live(id).is_some()
    }

    /// Returns the response body of a plain retrieve of an object of
    /// `kind`, which is its public fields pretty-printed with a final newline.
    pub fn public_bytes(&self, kind: &str, id: &str) -> Option<Vec<u8>> {
        self.public_read(kind, id).map(StoredRead::public_bytes)
    }

    /// Copies what `public_bytes` needs, so the text can be rebuilt after
    /// the account's lock is released.
    pub fn public_read(&self, kind: &str, id: &str) -> Option<StoredRead> {
        let slot = self.live_of_kind(kind, id)?;
        let (written_at, delta) = self.bytes.get(slot.current);
        Some(StoredRead {
            reference: self.kinds[usize::from(slot.kind())].reference.clone(),
            delta: delta.into(),
            base: self.text_base,
            written_at,
        })
    }

    /// Whether an object of `kind` existed and was deleted.
    pub fn is_deleted(&self, kind: &str, id: &str) -> bool {
        self.slot(id)
            .is_some_and(|slot| slot.deleted() && self.kind_name(slot) == kind)
    }

    /// The current version of any object, whatever its kind.
    pub fn get_any(&self, id: &str) -> Option<Value> {
        let slot = self.live(id)?;
        Some(self.unpack(slot.kind(), &slot.current))
    }

    /// Virtual time of an object's latest write.
    pub fn written_at(&self, id: &str) -> Option<i64> {
        self.slot(id)
            .map(|slot| self.bytes.written_at(slot.current))
    }

    /// The newest version of an object written at or before `at`, if one
    /// is still kept.
    pub fn version_at(&self, id: &str, at: i64) -> Option<Version> {
        let position = self.position(id)?;
        let slot = &self.slots[position as usize];
        let older = self.older.get(&position).map_or(&[][..], Vec::as_slice);
        std::iter::once(&slot.current)
            .chain(older.iter().rev())
            .find(|version| self.bytes.written_at(**version) <= at)
            .map(|version| Version {
                written_at: self.bytes.written_at(*version),
                object: self.unpack(slot.kind(), version),
            })
    }

    /// Number of versions kept of an object, the current one included.
    pub fn version_count(&self, id: &str) -> usize {
        self.position(id).map_or(0, |position| {
            1 + self.older.get(&position).map_or(0, Vec::len)
        })
    }

    /// Ids of `kind`, newest first, as Stripe lists them.
    pub fn ids_newest_first<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = String> + 'a {
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

    fn id_of(&self, slot: &Slot) -> String {
        match self.forms.get(usize::from(slot.form)) {
            Some(form) => {
                let number =
                    self.bases[usize::from(slot.base)].wrapping_add(u64::from(slot.number));
                let mut id = String::with_capacity(
                    form.prefix.len() + usize::from(form.len) + form.suffix.len(),
                );
                id.push_str(&form.prefix);
                ids::push_body(&mut id, number, usize::from(form.len));
                id.push_str(&form.suffix);
                id
            }
            None => self.custom_ids[slot.number as usize].to_string(),
        }
    }

    fn kind_name(&self, slot: &Slot) -> &'static str {
        self.kinds[usize::from(slot.kind())].name
    }

    /// Returns the slot position of an id, deleted or not.
    fn position(&self, id: &str) -> Option<u32> {
        if let Some((prefix, len, number, suffix)) = derived(id) {
            let found = self.index.find(self.hasher.hash_one(number), |position| {
                let slot = &self.slots[*position as usize];
                self.forms.get(usize::from(slot.form)).is_some_and(|form| {
                    form.matches(prefix, len, suffix)
                        && self.bases[usize::from(slot.base)].wrapping_add(u64::from(slot.number))
                            == number
                })
            });
            if let Some(position) = found {
                return Some(*position);
            }
        }
        // An id in a derived shape is kept as text when its number or
        // prefix did not fit a slot.
        self.index
            .find(self.hasher.hash_one(id), |position| {
                let slot = &self.slots[*position as usize];
                slot.form == CUSTOM && *self.custom_ids[slot.number as usize] == *id
            })
            .copied()
    }

    fn slot(&self, id: &str) -> Option<&Slot> {
        self.position(id)
            .map(|position| &self.slots[position as usize])
    }

    fn live_position(&self, id: &str) -> Option<u32> {
        self.position(id)
            .filter(|position| !self.slots[*position as usize].deleted())
    }

    fn live(&self, id: &str) -> Option<&Slot> {
        self.slot(id).filter(|slot| !slot.deleted())
    }

    fn live_of_kind(&self, kind: &str, id: &str) -> Option<&Slot> {
        self.live(id).filter(|slot| self.kind_name(slot) == kind)
    }

    /// Appends a slot for a new id and indexes it.
    fn push_slot(&mut self, id: &str, kind: u8, current: Place) -> u32 {
        let position = u32::try_from(self.slots.len()).expect("fewer than 2^32 objects");
        let (form, base, number, hash) = match self.derived_place(id) {
            Some((form, base, number, full)) => (form, base, number, self.hasher.hash_one(full)),
            None => {
                let index =
                    u32::try_from(self.custom_ids.len()).expect("fewer than 2^32 custom ids");
                self.custom_ids.push(id.into());
                (CUSTOM, 0, index, self.hasher.hash_one(id))
            }
        };
        self.slots.push(Slot {
            current,
            number,
            kind,
            form,
            base,
        });
        let Store {
            index,
            slots,
            hasher,
            forms,
            bases,
            custom_ids,
            ..
        } = self;
        index.insert_unique(hash, position, |p| {
            let slot = &slots[*p as usize];
            if forms.get(usize::from(slot.form)).is_some() {
                hasher.hash_one(bases[usize::from(slot.base)].wrapping_add(u64::from(slot.number)))
            } else {
                hasher.hash_one(&*custom_ids[slot.number as usize])
            }
        });
        position
    }

    /// For an id this module can spell again: its form, base, the number
    /// less the base, and the full number. Adds the form and base if new
    /// and there is room.
    fn derived_place(&mut self, id: &str) -> Option<(u8, u8, u32, u64)> {
        let (prefix, len, number, suffix) = derived(id)?;
        let form = match self
            .forms
            .iter()
            .position(|f| f.matches(prefix, len, suffix))
        {
            Some(form) => form,
            None if self.forms.len() < usize::from(CUSTOM) => {
                self.forms.push(Form {
                    prefix: prefix.into(),
                    len: u8::try_from(len).ok()?,
                    suffix: suffix.into(),
                });
                self.forms.len() - 1
            }
            None => return None,
        };
        let offset = |base: u64| u32::try_from(number.wrapping_sub(base)).ok();
        let base = match self.bases.iter().position(|b| offset(*b).is_some()) {
            Some(base) => base,
            None if self.bases.len() <= usize::from(u8::MAX) => {
                // Start a little below, so ids drawn just before this one
                // by the same account still fit.
                self.bases.push(number.wrapping_sub(1 << 16));
                self.bases.len() - 1
            }
            None => return None,
        };
        let relative = offset(self.bases[base])?;
        Some((form as u8, base as u8, relative, number))
    }

    /// Returns the position of `kind` in `kinds`, and adds the kind with
    /// `text` as its dictionary when it is new.
    fn kind_index(&mut self, kind: &'static str, text: &[u8], now: i64) -> u8 {
        if let Some(index) = self.kinds.iter().position(|k| k.name == kind) {
            return index as u8;
        }
        // The store keeps a few kinds of Stripe object, far fewer than 128.
        let index = u8::try_from(self.kinds.len())
            .ok()
            .filter(|index| index & DELETED == 0)
            .expect("fewer than 128 kinds");
        self.kinds.push(Kind {
            name: kind,
            reference: Arc::new(Reference::new(packing::pack(text, self.text_base, now))),
            order: Vec::new(),
        });
        index
    }

    fn pack(&mut self, kind: u8, text: &[u8], now: i64) -> Place {
        let text = packing::pack(text, self.text_base, now);
        let delta = self.kinds[usize::from(kind)].reference.encode(&text);
        self.bytes.push(now, &delta)
    }

    fn unpack(&self, kind: u8, version: &Place) -> Value {
        let (written_at, delta) = self.bytes.get(*version);
        let reference = &self.kinds[usize::from(kind)].reference;
        decode(&rebuild(reference, delta, self.text_base, written_at, 0))
    }

    /// Moves the bytes still in use to fresh chunks once more than half of
    /// what the arena holds is released versions.
    fn collect_garbage(&mut self) {
        if !self.bytes.wants_collection() {
            return;
        }
        let mut fresh = Arena {
            epoch: self.bytes.epoch,
            ..Arena::default()
        };
        for slot in &mut self.slots {
            slot.current = fresh.push_entry(self.bytes.entry(slot.current));
        }
        for versions in self.older.values_mut() {
            for version in versions {
                *version = fresh.push_entry(self.bytes.entry(*version));
            }
        }
        self.bytes = fresh;
    }
}

/// The position of a version's bytes in an `Arena`: the chunk in the high
/// 32 bits, the offset in the low ones.
type Place = u64;

/// Stored versions back to back in large chunks. Each entry is the length
/// of its bytes and the virtual time of its write (both varints, the time
/// as its distance from the first write), then the bytes. One allocation
/// per chunk instead of one per version keeps the allocator's per-block
/// overhead and the holes between short-lived request buffers away from
/// long-lived data.
#[derive(Debug, Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
    /// The virtual time of the first write, which entries count from.
    epoch: Option<i64>,
    /// Bytes of released entries, which a collection drops.
    released: usize,
    /// Bytes of all entries, released ones included.
    written: usize,
}

/// The size of a chunk. A version longer than this gets a chunk of its own.
const CHUNK: usize = 1 << 20;

impl Arena {
    fn push(&mut self, written_at: i64, bytes: &[u8]) -> Place {
        let epoch = *self.epoch.get_or_insert(written_at);
        let mut entry = Vec::with_capacity(bytes.len() + 8);
        packing::push_varint(&mut entry, bytes.len() as u64);
        packing::push_varint(&mut entry, packing::zigzag(written_at.wrapping_sub(epoch)));
        entry.extend_from_slice(bytes);
        self.push_entry(&entry)
    }

    /// Appends a whole entry, header included.
    fn push_entry(&mut self, entry: &[u8]) -> Place {
        if self
            .chunks
            .last()
            .is_none_or(|chunk| chunk.capacity() - chunk.len() < entry.len())
        {
            self.chunks.push(Vec::with_capacity(CHUNK.max(entry.len())));
        }
        let index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[index];
        let offset = chunk.len();
        chunk.extend_from_slice(entry);
        self.written += entry.len();
        ((index as u64) << 32) | offset as u64
    }

    /// Returns the entry at `place` with its header, where its bytes start
    /// and its stored time.
    fn split(&self, place: Place) -> (&[u8], usize, u64) {
        let chunk = &self.chunks[(place >> 32) as usize];
        let rest = &chunk[(place & u64::from(u32::MAX)) as usize..];
        let (len, first) = packing::read_varint(rest);
        let (time, second) = packing::read_varint(&rest[first..]);
        let start = first + second;
        (&rest[..start + len as usize], start, time)
    }

    fn entry(&self, place: Place) -> &[u8] {
        self.split(place).0
    }

    /// Returns the virtual time of the write and the bytes at `place`.
    fn get(&self, place: Place) -> (i64, &[u8]) {
        let (entry, start, time) = self.split(place);
        let written_at = self
            .epoch
            .unwrap_or_default()
            .wrapping_add(packing::unzigzag(time));
        (written_at, &entry[start..])
    }

    fn written_at(&self, place: Place) -> i64 {
        self.get(place).0
    }

    /// Notes that the entry at `place` is no longer read.
    fn release(&mut self, place: Place) {
        self.released += self.entry(place).len();
    }

    fn wants_collection(&self) -> bool {
        self.released > CHUNK && self.released * 2 > self.written
    }
}

/// Prints an object as it is stored: the public fields pretty-printed, a
/// NUL byte, and the private fields as compact JSON (nothing if none).
fn encode(object: &Value) -> Vec<u8> {
    let Some(map) = object.as_object() else {
        return encode_public(object);
    };
    let public = Fields {
        map,
        private: false,
    };
    if map.keys().any(|key| key.starts_with('_')) {
        encode_parts(&public, &Fields { map, private: true })
    } else {
        encode_public(&public)
    }
}

/// Prints an object that has no private fields in the stored layout.
/// A struct prints its fields in the order they are declared, so it
/// gives the same text as a tree with the same fields in that order.
pub fn encode_public(public: &impl serde::Serialize) -> Vec<u8> {
    // Room for a session with a few line items, so printing it does not
    // grow the buffer step by step.
    let mut text = Vec::with_capacity(4096);
    let mut printer = serde_json::Serializer::pretty(&mut text);
    public.serialize(&mut printer).unwrap_or_default();
    text.push(0);
    text
}

/// Prints an object in the stored layout from its public fields and its
/// private ones, whose names start with `_`.
pub fn encode_parts(public: &impl serde::Serialize, private: &impl serde::Serialize) -> Vec<u8> {
    let mut text = encode_public(public);
    serde_json::to_writer(&mut text, private).unwrap_or_default();
    text
}

/// Cuts a stored text to its public part and ends it with a newline, as a
/// response body.
fn public_part(mut text: Vec<u8>) -> Vec<u8> {
    // Printed JSON never contains a raw NUL, so the one separator is found
    // from the end, past the short private part only.
    let end = text.iter().rposition(|b| *b == 0).unwrap_or(text.len());
    text.truncate(end);
    text.push(b'\n');
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
    fn printed_parts_store_like_a_tree() {
        #[derive(serde::Serialize)]
        struct Public<'a> {
            id: &'a str,
            empty: [(); 0],
            missing: (),
            amount: i64,
        }
        #[derive(serde::Serialize)]
        struct Private {
            _data: Vec<u8>,
        }
        let public = Public {
            id: "cs_1",
            empty: [],
            missing: (),
            amount: -5,
        };
        let private = Private { _data: vec![1, 2] };

        let tree =
            json!({"id": "cs_1", "empty": [], "missing": null, "amount": -5, "_data": [1, 2]});
        let text = encode_parts(&public, &private);
        assert_eq!(text, encode(&tree));

        let mut store = Store::default();
        let body = store.insert_encoded_printed("checkout.session", "cs_1", text, 0);
        assert_eq!(store.get("checkout.session", "cs_1"), Some(tree));
        assert_eq!(Some(body), store.public_bytes("checkout.session", "cs_1"));
        assert_eq!(
            encode_public(&public),
            encode(&json!({"id": "cs_1", "empty": [], "missing": null, "amount": -5}))
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
        let packed = store.bytes.get(store.slot("b").unwrap().current).1.len();
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
    fn derived_ids_are_kept_as_numbers() {
        let mut generator = crate::ids::IdGenerator::new(11);
        let mut store = Store::new(generator.upcoming());
        let session = generator.next("cs_test_");
        let items = format!("{session}/line_items");
        let own = "prod_chosen_by_the_caller";
        store.insert("checkout.session", &session, &json!({"id": session}), 0);
        store.insert("line_items", &items, &json!({"url": items}), 0);
        store.insert("product", own, &json!({"id": own}), 0);
        // Only the id the caller chose is kept as text.
        assert_eq!(store.custom_ids.len(), 1);
        assert_eq!(store.forms.len(), 2);
        assert_eq!(store.get_any(&items), Some(json!({"url": items})));
        assert_eq!(store.get_any(own), Some(json!({"id": own})));
        assert_eq!(store.ids_newest_first("line_items").next(), Some(items));
        assert_eq!(
            store.ids_newest_first("checkout.session").next(),
            Some(session.clone())
        );
        // The same characters with another prefix or suffix are another id.
        let other = session.replacen("cs_test_", "cs_live_", 1);
        assert!(!store.exists(&other));
        assert!(!store.exists(&format!("{session}/other")));
        assert!(store.get("line_items", &session).is_none());
    }

    #[test]
    fn released_versions_are_collected() {
        let mut store = Store::default();
        // About 12 KB of characters that compress poorly.
        let big = |n: u64| {
            let mut text = String::new();
            for i in 0..200 {
                text.push(' ');
                crate::ids::push_body(&mut text, n * 1_000 + i, 58);
            }
            json!({"n": n, "text": text})
        };
        store.insert("customer", "cus_1", &big(0), 0);
        store.insert("customer", "cus_2", &json!({"keep": true}), 0);
        // Each update is far past the history window, so every replaced
        // version is released at once.
        for n in 1..=600u64 {
            store.update("cus_1", &big(n), n as i64 * (HISTORY + 1) * 2);
        }
        // 600 versions of 12 KB, of which at most a few megabytes stay.
        assert!(
            store.bytes.written < 3 * CHUNK,
            "{} bytes written",
            store.bytes.written
        );
        assert_eq!(store.get("customer", "cus_1"), Some(big(600)));
        assert_eq!(store.get("customer", "cus_2"), Some(json!({"keep": true})));
        assert_eq!(store.version_count("cus_1"), 2);
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
