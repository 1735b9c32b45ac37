//! Per-account object storage. Every write keeps the previous versions with
//! the virtual time they were written at, so the stale-read fault can serve
//! an object as it was a few seconds ago.

use std::collections::HashMap;

use serde_json::Value;

/// One stored version of an object.
#[derive(Debug, Clone)]
pub struct Version {
    /// Virtual time of the write.
    pub written_at: i64,
    pub object: Value,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: &'static str,
    versions: Vec<Version>,
    deleted: bool,
}

/// The objects of one account, by id, with each kind's ids in creation order.
#[derive(Debug, Default)]
pub struct Store {
    entries: HashMap<String, Entry>,
    order: HashMap<&'static str, Vec<String>>,
}

impl Store {
    /// Stores a new object of `kind` (Stripe's `object` value).
    pub fn insert(&mut self, kind: &'static str, id: &str, object: Value, now: i64) {
        self.entries.insert(
            id.to_owned(),
            Entry {
                kind,
                versions: vec![Version {
                    written_at: now,
                    object,
                }],
                deleted: false,
            },
        );
        self.order.entry(kind).or_default().push(id.to_owned());
    }

    /// Replaces an object with a new version. Returns false if the id is unknown.
    pub fn update(&mut self, id: &str, object: Value, now: i64) -> bool {
        match self.entries.get_mut(id) {
            Some(entry) if !entry.deleted => {
                entry.versions.push(Version {
                    written_at: now,
                    object,
                });
                true
            }
            _ => false,
        }
    }

    /// Marks an object deleted: it disappears from reads and lists.
    pub fn delete(&mut self, id: &str) -> bool {
        match self.entries.get_mut(id) {
            Some(entry) if !entry.deleted => {
                entry.deleted = true;
                if let Some(ids) = self.order.get_mut(entry.kind) {
                    ids.retain(|other| other != id);
                }
                true
            }
            _ => false,
        }
    }

    /// The current version of an object of `kind`.
    pub fn get(&self, kind: &str, id: &str) -> Option<&Value> {
        self.entries
            .get(id)
            .filter(|entry| entry.kind == kind && !entry.deleted)
            .and_then(|entry| entry.versions.last())
            .map(|version| &version.object)
    }

    /// Whether an object of `kind` existed and was deleted.
    pub fn is_deleted(&self, kind: &str, id: &str) -> bool {
        self.entries
            .get(id)
            .is_some_and(|entry| entry.kind == kind && entry.deleted)
    }

    /// The current version of any object, whatever its kind.
    pub fn get_any(&self, id: &str) -> Option<&Value> {
        self.entries
            .get(id)
            .filter(|entry| !entry.deleted)
            .and_then(|entry| entry.versions.last())
            .map(|version| &version.object)
    }

    /// Every version of an object, oldest first.
    pub fn versions(&self, id: &str) -> &[Version] {
        self.entries
            .get(id)
            .map(|entry| entry.versions.as_slice())
            .unwrap_or_default()
    }

    /// Ids of `kind`, newest first, as Stripe lists them.
    pub fn ids_newest_first(&self, kind: &str) -> impl Iterator<Item = &String> {
        self.order
            .get(kind)
            .into_iter()
            .flat_map(|ids| ids.iter().rev())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_keeps_history() {
        let mut store = Store::default();
        store.insert("customer", "cus_1", json!({"v": 1}), 10);
        store.update("cus_1", json!({"v": 2}), 20);
        assert_eq!(store.get("customer", "cus_1"), Some(&json!({"v": 2})));
        let versions = store.versions("cus_1");
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].written_at, 10);
        assert_eq!(versions[0].object, json!({"v": 1}));
    }

    #[test]
    fn kind_must_match_and_delete_hides() {
        let mut store = Store::default();
        store.insert("product", "prod_1", json!({}), 0);
        store.insert("product", "prod_2", json!({}), 0);
        assert!(store.get("price", "prod_1").is_none());
        let ids: Vec<_> = store.ids_newest_first("product").cloned().collect();
        assert_eq!(ids, ["prod_2", "prod_1"]);
        assert!(store.delete("prod_2"));
        assert!(store.get("product", "prod_2").is_none());
        assert_eq!(store.count("product"), 1);
    }
}
