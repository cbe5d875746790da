//! A hash map of API keys whose versions share what did not change: the key table's index
//! by value and by id.
//!
//! Entries (one `Arc` each) are spread by a hash of their key over shards of about
//! [`PER_SHARD`] entries, each shard an immutable slice sorted by hash. An edit that names `n`
//! keys copies the outer list of shard pointers (one pointer per [`PER_SHARD`] entries) and
//! rebuilds only the shards those keys fall in, so its cost is `n` times a shard, plus a
//! pointer copy per shard, whatever the number of keys held; the table before the edit keeps
//! its shards (the workers serving from it are not disturbed). When the map outgrows its shards
//! (twice [`PER_SHARD`] entries a shard on average) the shard count is doubled, once per
//! doubling of the keys: amortised, each key is moved a constant number of times.
//!
//! A lookup hashes the key, takes the shard from the hash's top bits, binary-searches the hash
//! (a handful of entries) and checks the entry's own key: two dependent loads past the shard
//! list, and no per-entry boxed string to compare before the hash matches.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

/// The average number of entries per shard the map aims at (it grows at twice this).
pub const PER_SHARD: usize = 16;

/// What the map's entries are found by.
pub type KeyOf<V> = fn(&V) -> &str;

/// One shard: its entries and their hashes, sorted by hash.
type Shard<V> = Arc<[(u64, Arc<V>)]>;

/// See the module docs.
pub struct Shards<V> {
    hasher: RandomState,
    /// log2 of the number of shards.
    bits: u32,
    shards: Vec<Shard<V>>,
    len: usize,
    key_of: KeyOf<V>,
}

impl<V> Clone for Shards<V> {
    fn clone(&self) -> Self {
        Shards {
            hasher: self.hasher.clone(),
            bits: self.bits,
            shards: self.shards.clone(),
            len: self.len,
            key_of: self.key_of,
        }
    }
}

impl<V> std::fmt::Debug for Shards<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards")
            .field("len", &self.len)
            .field("shards", &self.shards.len())
            .finish()
    }
}

/// The shard bits for `len` entries: about [`PER_SHARD`] a shard.
fn bits_for(len: usize) -> u32 {
    let shards = (len / PER_SHARD).max(1).next_power_of_two();
    shards.trailing_zeros()
}

impl<V> Shards<V> {
    /// An empty map whose entries are found by `key_of`.
    pub fn new(key_of: KeyOf<V>) -> Shards<V> {
        Shards::build(RandomState::new(), key_of, Vec::new())
    }

    /// A map of `entries` (whose keys must be distinct).
    pub fn from_entries(key_of: KeyOf<V>, entries: Vec<Arc<V>>) -> Shards<V> {
        let hasher = RandomState::new();
        let hashed = entries
            .into_iter()
            .map(|v| (hasher.hash_one(key_of(&v)), v))
            .collect();
        Shards::build(hasher, key_of, hashed)
    }

    fn build(hasher: RandomState, key_of: KeyOf<V>, entries: Vec<(u64, Arc<V>)>) -> Shards<V> {
        let bits = bits_for(entries.len());
        let mut parts: Vec<Vec<(u64, Arc<V>)>> = (0..1usize << bits).map(|_| Vec::new()).collect();
        let len = entries.len();
        for (h, v) in entries {
            parts[shard_of(bits, h)].push((h, v));
        }
        Shards {
            hasher,
            bits,
            shards: parts.into_iter().map(sealed).collect(),
            len,
            key_of,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of shards (for tests and memory accounting).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entry whose key is `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.get_arc(key).map(|v| &**v)
    }

    fn get_arc(&self, key: &str) -> Option<&Arc<V>> {
        let h = self.hash(key);
        let shard = self.shards.get(shard_of(self.bits, h))?;
        let from = shard.partition_point(|(x, _)| *x < h);
        shard[from..]
            .iter()
            .take_while(|(x, _)| *x == h)
            .map(|(_, v)| v)
            .find(|v| (self.key_of)(v) == key)
    }

    /// Whether an entry has key `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_arc(key).is_some()
    }

    /// Every entry, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|s| s.iter().map(|(_, v)| &**v))
    }

    /// A new version of the map without the entries whose keys are in `remove` and with
    /// `insert` added (an inserted entry replaces one of the same key). Shares every shard
    /// neither touches with `self`.
    pub fn edit<'k>(
        &self,
        remove: impl IntoIterator<Item = &'k str>,
        insert: Vec<Arc<V>>,
    ) -> Shards<V> {
        let key_of = self.key_of;
        let mut removals: Vec<(u64, &Arc<V>)> = remove
            .into_iter()
            .filter_map(|k| self.get_arc(k).map(|v| (self.hash(k), v)))
            .collect();
        // An insert over an entry of the same key replaces it.
        for v in &insert {
            let k = key_of(v);
            if let Some(old) = self.get_arc(k) {
                removals.push((self.hash(k), old));
            }
        }
        removals.sort_by_key(|(h, v)| (*h, Arc::as_ptr(v)));
        removals.dedup_by(|a, b| Arc::ptr_eq(a.1, b.1));
        let inserts: Vec<(u64, Arc<V>)> = insert
            .into_iter()
            .map(|v| (self.hash(key_of(&v)), v))
            .collect();
        let len = self.len + inserts.len() - removals.len();
        if bits_for(len) > self.bits + 1 {
            // Outgrown: re-spread everything over more shards (once per doubling).
            let gone: std::collections::HashSet<*const V> =
                removals.iter().map(|(_, v)| Arc::as_ptr(v)).collect();
            let mut all: Vec<(u64, Arc<V>)> = Vec::with_capacity(len);
            for s in &self.shards {
                all.extend(
                    s.iter()
                        .filter(|(_, v)| !gone.contains(&Arc::as_ptr(v)))
                        .cloned(),
                );
            }
            all.extend(inserts);
            return Shards::build(self.hasher.clone(), key_of, all);
        }
        // Group the edits by shard.
        let mut by_shard: Vec<(usize, bool, u64, Arc<V>)> = removals
            .into_iter()
            .map(|(h, v)| (shard_of(self.bits, h), false, h, v.clone()))
            .chain(
                inserts
                    .into_iter()
                    .map(|(h, v)| (shard_of(self.bits, h), true, h, v)),
            )
            .collect();
        by_shard.sort_by_key(|e| e.0);
        let mut shards = self.shards.clone();
        let mut i = 0;
        while i < by_shard.len() {
            let s = by_shard[i].0;
            let end = i + by_shard[i..].iter().take_while(|e| e.0 == s).count();
            let edits = &by_shard[i..end];
            let old = &self.shards[s];
            let mut part: Vec<(u64, Arc<V>)> = old
                .iter()
                .filter(|(_, v)| !edits.iter().any(|e| !e.1 && Arc::ptr_eq(&e.3, v)))
                .cloned()
                .collect();
            part.extend(edits.iter().filter(|e| e.1).map(|e| (e.2, e.3.clone())));
            shards[s] = sealed(part);
            i = end;
        }
        Shards {
            hasher: self.hasher.clone(),
            bits: self.bits,
            shards,
            len,
            key_of,
        }
    }
}

impl<V> std::ops::Index<&str> for Shards<V> {
    type Output = V;

    /// The entry of `key`; panics when there is none (tests).
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no entry {key}"),
        }
    }
}

/// The shard of hash `h` among `1 << bits` (its top bits, so doubling splits each shard in
/// two neighbours).
fn shard_of(bits: u32, h: u64) -> usize {
    if bits == 0 {
        0
    } else {
        (h >> (64 - bits)) as usize
    }
}

/// A shard's entries sorted by hash, exactly sized.
fn sealed<V>(mut part: Vec<(u64, Arc<V>)>) -> Shard<V> {
    part.sort_unstable_by_key(|(h, _)| *h);
    part.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &String) -> &str {
        s
    }

    fn map(n: usize) -> Shards<String> {
        Shards::from_entries(key, (0..n).map(|i| Arc::new(format!("k{i}"))).collect())
    }

    #[test]
    fn entries_are_found_by_key_and_only_by_key() {
        let m = map(1000);
        assert_eq!(m.len(), 1000);
        assert!(m.shard_count() >= 1000 / (2 * PER_SHARD));
        for i in 0..1000 {
            assert_eq!(
                m.get(&format!("k{i}")).map(String::as_str),
                Some(&*format!("k{i}"))
            );
        }
        assert!(m.get("k1000").is_none());
        assert_eq!(m.values().count(), 1000);
    }

    #[test]
    fn an_edit_shares_the_shards_it_does_not_touch() {
        let m = map(10_000);
        let e = m.edit(["k1", "k2"], vec![Arc::new("new".to_string())]);
        assert_eq!(e.len(), 9_999);
        assert!(e.get("k1").is_none() && e.get("k2").is_none());
        assert_eq!(e.get("new").map(String::as_str), Some("new"));
        // The version before the edit is unchanged.
        assert!(m.get("k1").is_some() && m.get("new").is_none());
        let shared = m
            .shards
            .iter()
            .zip(&e.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(
            shared >= m.shard_count() - 3,
            "{shared} of {}",
            m.shard_count()
        );
        // Removing a key that is not there changes nothing.
        assert_eq!(e.edit(["nope"], Vec::new()).len(), 9_999);
    }

    #[test]
    fn an_insert_replaces_the_entry_of_its_key() {
        let m = map(100);
        let old = m.get_arc("k5").unwrap().clone();
        let e = m.edit(None, vec![Arc::new("k5".to_string())]);
        assert_eq!(e.len(), 100);
        assert!(!Arc::ptr_eq(e.get_arc("k5").unwrap(), &old));
        assert_eq!(e.values().filter(|v| *v == "k5").count(), 1);
        // Named in both: removed, then inserted.
        let e = m.edit(["k5"], vec![Arc::new("k5".to_string())]);
        assert_eq!(e.len(), 100);
        assert_eq!(e.values().filter(|v| *v == "k5").count(), 1);
    }

    #[test]
    fn a_growing_map_grows_its_shards() {
        let mut m = map(0);
        for batch in 0..50 {
            let add = (0..100)
                .map(|i| Arc::new(format!("b{batch}-{i}")))
                .collect();
            m = m.edit(None, add);
        }
        assert_eq!(m.len(), 5_000);
        assert!(
            m.shard_count() >= 5_000 / (2 * PER_SHARD),
            "{}",
            m.shard_count()
        );
        for batch in 0..50 {
            assert!(m.contains_key(&format!("b{batch}-99")));
        }
    }
}
