//! The registry's API keys: by id, with an index of their values so that finding a key by its
//! value (every create, update and import checks values are unique) costs a hash lookup, not a
//! scan of every key. The index is derived: it is not encoded, and is rebuilt when a registry
//! is decoded, so the encoding is that of the map of keys by id alone.

use crate::model::ApiKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;

/// API keys by id (read through [`Deref`] as a map), changed only through [`ApiKeys::insert`]
/// and [`ApiKeys::remove`], which keep the value index in step.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    by_id: BTreeMap<String, ApiKey>,
    /// Key value → key id.
    by_value: HashMap<String, String>,
}

impl ApiKeys {
    /// Inserts or replaces the key with `key.id`; returns the key it replaced. The caller has
    /// checked that no other key has `key.value`.
    pub fn insert(&mut self, key: ApiKey) -> Option<ApiKey> {
        let (id, value) = (key.id.clone(), key.value.clone());
        let old = self.by_id.insert(id.clone(), key);
        if let Some(old) = &old {
            if self.by_value.get(&old.value) == Some(&id) {
                self.by_value.remove(&old.value);
            }
        }
        self.by_value.insert(value, id);
        old
    }

    /// Removes the key with `id`; returns it.
    pub fn remove(&mut self, id: &str) -> Option<ApiKey> {
        let old = self.by_id.remove(id)?;
        if self.by_value.get(&old.value).is_some_and(|i| i == id) {
            self.by_value.remove(&old.value);
        }
        Some(old)
    }

    /// The id of the key whose value is `value`.
    pub fn id_by_value(&self, value: &str) -> Option<&str> {
        self.by_value.get(value).map(String::as_str)
    }

    /// The key whose value is `value`.
    pub fn by_value(&self, value: &str) -> Option<&ApiKey> {
        self.id_by_value(value).and_then(|id| self.by_id.get(id))
    }
}

impl Deref for ApiKeys {
    type Target = BTreeMap<String, ApiKey>;

    fn deref(&self) -> &Self::Target {
        &self.by_id
    }
}

impl PartialEq for ApiKeys {
    fn eq(&self, other: &Self) -> bool {
        self.by_id == other.by_id
    }
}

impl From<BTreeMap<String, ApiKey>> for ApiKeys {
    fn from(by_id: BTreeMap<String, ApiKey>) -> ApiKeys {
        let by_value = by_id
            .values()
            .map(|k| (k.value.clone(), k.id.clone()))
            .collect();
        ApiKeys { by_id, by_value }
    }
}

impl FromIterator<(String, ApiKey)> for ApiKeys {
    fn from_iter<I: IntoIterator<Item = (String, ApiKey)>>(iter: I) -> ApiKeys {
        ApiKeys::from(iter.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl Serialize for ApiKeys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_id.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ApiKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ApiKeys, D::Error> {
        BTreeMap::<String, ApiKey>::deserialize(d).map(ApiKeys::from)
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
        keys.insert(key("a", "value-cccccccccccccccccccc"));
        assert_eq!(keys.id_by_value("value-aaaaaaaaaaaaaaaaaaaa"), None);
        assert_eq!(
            keys.by_value("value-cccccccccccccccccccc")
                .map(|k| k.id.as_str()),
            Some("a")
        );
        keys.remove("b");
        assert_eq!(keys.id_by_value("value-bbbbbbbbbbbbbbbbbbbb"), None);
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn it_encodes_as_the_map_of_keys_and_rebuilds_the_index_when_decoded() {
        let mut keys = ApiKeys::default();
        keys.insert(key("a", "value-aaaaaaaaaaaaaaaaaaaa"));
        let as_map: BTreeMap<String, ApiKey> = (*keys).clone();
        assert_eq!(crate::codec::encode(&keys), crate::codec::encode(&as_map));
        let back: ApiKeys = crate::codec::decode(&crate::codec::encode(&keys)).unwrap();
        assert_eq!(back.id_by_value("value-aaaaaaaaaaaaaaaaaaaa"), Some("a"));
    }
}
