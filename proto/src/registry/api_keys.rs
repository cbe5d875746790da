//! The registry's API keys: each key held once (one shared allocation), found by id through an
//! ordered set (paging reads a page, not the collection) and by value through a hash set (every
//! create, update and import checks values are unique: a hash lookup, not a scan). Both sets
//! hold a pointer to the key, never a copy of its id or value, so a key costs its model and two
//! pointers (issue 14: a million keys in a gigabyte). The value index is derived: it is not
//! encoded, and is rebuilt when a registry is decoded, so the encoding is that of the map of
//! keys by id it always was.

use crate::model::ApiKey;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Index, RangeBounds};
use std::sync::Arc;

/// A key in the by-id set: ordered, compared and found by its id (public only as the bound of
/// [`ApiKeys::range`]).
#[derive(Debug, Clone)]
pub struct ById(Arc<ApiKey>);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

impl Borrow<String> for ById {
    fn borrow(&self) -> &String {
        &self.0.id
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ById {
    // As `str`'s order, which `Borrow<str>` requires (lookups and ranges by `&str`).
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.id.as_str().cmp(other.0.id.as_str())
    }
}

/// A key in the by-value set: hashed, compared and found by its value.
#[derive(Debug, Clone)]
struct ByValue(Arc<ApiKey>);

impl Borrow<str> for ByValue {
    fn borrow(&self) -> &str {
        &self.0.value
    }
}

impl PartialEq for ByValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.value == other.0.value
    }
}

impl Eq for ByValue {}

impl Hash for ByValue {
    // As `str` hashes, which `Borrow<str>` requires.
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.value.as_str().hash(h)
    }
}

/// API keys by id, changed only through [`ApiKeys::insert`] and [`ApiKeys::remove`], which keep
/// the value index in step. Read like the map of keys by id it encodes as ([`ApiKeys::get`],
/// [`ApiKeys::range`], `keys["id"]`, ...).
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    by_id: BTreeSet<ById>,
    /// Each value's key. A value two keys share (never applied: values are checked unique;
    /// possible only in state written outside the rules) names the one inserted last.
    by_value: HashSet<ByValue>,
}

impl ApiKeys {
    /// Inserts or replaces the key with `key.id`; returns the key it replaced. The caller has
    /// checked that no other key has `key.value`.
    pub fn insert(&mut self, key: impl Into<Arc<ApiKey>>) -> Option<Arc<ApiKey>> {
        let key = key.into();
        let old = self.by_id.replace(ById(key.clone())).map(|o| o.0);
        if let Some(old) = &old {
            self.unindex_value(old);
        }
        self.by_value.replace(ByValue(key));
        old
    }

    /// Removes the key with `id`; returns it.
    pub fn remove(&mut self, id: &str) -> Option<Arc<ApiKey>> {
        let old = self.by_id.take(id)?.0;
        self.unindex_value(&old);
        Some(old)
    }

    /// Drops `old`'s value from the index if the index names `old` for it.
    fn unindex_value(&mut self, old: &Arc<ApiKey>) {
        if self
            .by_value
            .get(old.value.as_str())
            .is_some_and(|k| Arc::ptr_eq(&k.0, old))
        {
            self.by_value.remove(old.value.as_str());
        }
    }

    /// The key with `id` (a `&str` or a `&String`, as a map's `get` takes either).
    pub fn get<Q>(&self, id: &Q) -> Option<&ApiKey>
    where
        Q: Ord + ?Sized,
        ById: Borrow<Q>,
    {
        self.by_id.get(id).map(|k| &*k.0)
    }

    /// Whether a key has `id`.
    pub fn contains_key<Q>(&self, id: &Q) -> bool
    where
        Q: Ord + ?Sized,
        ById: Borrow<Q>,
    {
        self.by_id.contains(id)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The keys' ids, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator + '_ {
        self.by_id.iter().map(|k| &k.0.id)
    }

    /// The keys, in the order of their ids.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &ApiKey> + ExactSizeIterator + '_ {
        self.by_id.iter().map(|k| &*k.0)
    }

    /// `(id, key)` in the order of the ids.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&String, &ApiKey)> + ExactSizeIterator + '_ {
        self.by_id.iter().map(|k| (&k.0.id, &*k.0))
    }

    /// `(id, key)` of the keys whose ids lie in `range`, in order (`range::<str, _>(..)`, as a
    /// `BTreeMap`'s): a page of keys costs the page, whatever the number of keys.
    pub fn range<T, R>(&self, range: R) -> impl DoubleEndedIterator<Item = (&String, &ApiKey)>
    where
        T: Ord + ?Sized,
        ById: Borrow<T>,
        R: RangeBounds<T>,
    {
        self.by_id.range::<T, R>(range).map(|k| (&k.0.id, &*k.0))
    }

    /// The id of the key whose value is `value`.
    pub fn id_by_value(&self, value: &str) -> Option<&str> {
        self.by_value(value).map(|k| k.id.as_str())
    }

    /// The key whose value is `value`.
    pub fn by_value(&self, value: &str) -> Option<&ApiKey> {
        self.by_value.get(value).map(|k| &*k.0)
    }
}

impl Index<&str> for ApiKeys {
    type Output = ApiKey;

    /// The key with `id`; panics when there is none (as a map's index does: for tests and
    /// callers that checked).
    fn index(&self, id: &str) -> &ApiKey {
        match self.get(id) {
            Some(k) => k,
            None => panic!("no API key {id}"),
        }
    }
}

impl<'a> IntoIterator for &'a ApiKeys {
    type Item = (&'a String, &'a ApiKey);
    type IntoIter = Box<dyn Iterator<Item = (&'a String, &'a ApiKey)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl PartialEq for ApiKeys {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.values().eq(other.values())
    }
}

impl From<BTreeMap<String, ApiKey>> for ApiKeys {
    fn from(by_id: BTreeMap<String, ApiKey>) -> ApiKeys {
        by_id.into_iter().collect()
    }
}

impl FromIterator<(String, ApiKey)> for ApiKeys {
    /// Keys by id; the map's id wins over the key's own (as it did when the map was the
    /// registry's own), a later entry over an earlier one.
    fn from_iter<I: IntoIterator<Item = (String, ApiKey)>>(iter: I) -> ApiKeys {
        let mut keys = ApiKeys::default();
        for (id, mut key) in iter {
            if key.id != id {
                key.id = id;
            }
            keys.insert(key);
        }
        keys
    }
}

impl Serialize for ApiKeys {
    /// As the map of keys by id (`BTreeMap<String, ApiKey>`): the same bytes.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ApiKeys {
    /// From the map of keys by id, each key put in its place as it is read (no second copy of
    /// every key while a large registry decodes).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ApiKeys, D::Error> {
        struct KeysVisitor;

        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = ApiKeys;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of API keys by id")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ApiKeys, A::Error> {
                let mut keys = ApiKeys::default();
                while let Some((id, mut key)) = map.next_entry::<String, ApiKey>()? {
                    if key.id != id {
                        key.id = id;
                    }
                    keys.insert(key);
                }
                Ok(keys)
            }
        }

        d.deserialize_map(KeysVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, value: &str) -> ApiKey {
        ApiKey {
            id: id.into(),
            value: value.into(),
            ..ApiKey::default()
        }
    }

    #[test]
    fn the_value_index_follows_inserts_updates_and_removes() {
        let mut keys = ApiKeys::default();
        keys.insert(key("a", "value-aaaaaaaaaaaaaaaaaaaa"));
        keys.insert(key("b", "value-bbbbbbbbbbbbbbbbbbbb"));
        assert_eq!(keys.id_by_value("value-aaaaaaaaaaaaaaaaaaaa"), Some("a"));
        // A changed value moves the index entry.
        let old = keys.insert(key("a", "value-cccccccccccccccccccc"));
        assert_eq!(
            old.as_deref().map(|k| k.value.as_str()),
            Some("value-aaaaaaaaaaaaaaaaaaaa")
        );
        assert_eq!(keys.id_by_value("value-aaaaaaaaaaaaaaaaaaaa"), None);
        assert_eq!(
            keys.by_value("value-cccccccccccccccccccc")
                .map(|k| k.id.as_str()),
            Some("a")
        );
        assert_eq!(keys["a"].value, "value-cccccccccccccccccccc");
        keys.remove("b");
        assert_eq!(keys.id_by_value("value-bbbbbbbbbbbbbbbbbbbb"), None);
        assert_eq!(keys.get("b"), None);
        assert_eq!(keys.len(), 1);
        assert!(keys.remove("b").is_none());
    }

    #[test]
    fn a_value_two_keys_share_stays_indexed_until_its_last_holder_goes() {
        // Never applied (values are checked unique), but a map decoded from elsewhere may
        // hold it: the index names the key inserted last, and removing the other keeps it.
        let mut keys = ApiKeys::default();
        keys.insert(key("a", "value-shared-0123456789"));
        keys.insert(key("b", "value-shared-0123456789"));
        assert_eq!(keys.id_by_value("value-shared-0123456789"), Some("b"));
        keys.remove("a");
        assert_eq!(keys.id_by_value("value-shared-0123456789"), Some("b"));
        keys.remove("b");
        assert_eq!(keys.id_by_value("value-shared-0123456789"), None);
    }

    #[test]
    fn it_reads_as_a_map_by_id_in_order_and_by_range() {
        let keys: ApiKeys = ["c", "a", "d", "b"]
            .into_iter()
            .map(|id| (id.to_string(), key(id, &format!("value-{id}-0123456789"))))
            .collect();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        let page: Vec<&str> = keys
            .range::<str, _>((std::ops::Bound::Included("b"), std::ops::Bound::Unbounded))
            .map(|(id, k)| {
                assert_eq!(id, &k.id);
                id.as_str()
            })
            .collect();
        assert_eq!(page, ["b", "c", "d"]);
        assert!(keys.contains_key("c") && !keys.contains_key("e"));
        assert_eq!((&keys).into_iter().count(), 4);
    }

    #[test]
    fn it_encodes_as_the_map_of_keys_and_rebuilds_the_index_when_decoded() {
        let mut keys = ApiKeys::default();
        keys.insert(key("b", "value-bbbbbbbbbbbbbbbbbbbb"));
        keys.insert(key("a", "value-aaaaaaaaaaaaaaaaaaaa"));
        let as_map: BTreeMap<String, ApiKey> =
            keys.iter().map(|(id, k)| (id.clone(), k.clone())).collect();
        assert_eq!(crate::codec::encode(&keys), crate::codec::encode(&as_map));
        let back: ApiKeys = crate::codec::decode(&crate::codec::encode(&as_map)).unwrap();
        assert_eq!(back, keys);
        assert_eq!(back.id_by_value("value-aaaaaaaaaaaaaaaaaaaa"), Some("a"));
        // Equality compares whole keys, not only ids.
        let mut other = keys.clone();
        let mut renamed = key("a", "value-aaaaaaaaaaaaaaaaaaaa");
        renamed.name = Some("n".into());
        other.insert(renamed);
        assert_ne!(other, keys);
    }

    #[test]
    fn a_clone_shares_each_key() {
        let mut keys = ApiKeys::default();
        keys.insert(key("a", "value-aaaaaaaaaaaaaaaaaaaa"));
        let copy = keys.clone();
        assert!(std::ptr::eq(keys.get("a").unwrap(), copy.get("a").unwrap()));
    }
}
