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
//! A lookup takes the shard from the hash's top bits, binary-searches the hash (a handful of
//! entries) and asks the caller whether the entry is the one: two dependent loads past the
//! shard list, and no per-entry boxed string to compare before the hash matches.
//!
//! The map does not hash keys itself: each entry says the hash it is stored under
//! ([`HashOf`]), and a lookup is given the hash of what it looks for, so an entry may keep a
//! hash of its key instead of the key (the key table's index by value keeps no values).
//!
//! A shard holds each entry with its hash beside it (`(u64, Arc<V>)`, 16 bytes: a lookup's
//! binary search reads only the shard), or the entry alone (`Arc<V>`, 8 bytes: each comparison
//! asks the entry for its hash, a load per step), for an index read only off the hot path
//! ([`Stored`]).

use std::sync::Arc;

/// The average number of entries per shard the map aims at (it grows at twice this).
pub const PER_SHARD: usize = 16;

/// The hash an entry is stored under.
pub type HashOf<V> = fn(&V) -> u64;

/// What a shard stores per entry (see the module docs).
pub trait Stored<V>: Clone {
    /// The stored form of entry `v`, stored under hash `h`.
    fn make(h: u64, v: Arc<V>) -> Self;
    /// The hash the entry is stored under.
    fn hash(&self, hash_of: HashOf<V>) -> u64;
    /// The entry.
    fn entry(&self) -> &Arc<V>;
}

/// The hash beside the entry: a binary search reads only the shard.
impl<V> Stored<V> for (u64, Arc<V>) {
    fn make(h: u64, v: Arc<V>) -> Self {
        (h, v)
    }
    fn hash(&self, _: HashOf<V>) -> u64 {
        self.0
    }
    fn entry(&self) -> &Arc<V> {
        &self.1
    }
}

/// The entry alone: its hash asked of it at each comparison.
impl<V> Stored<V> for Arc<V> {
    fn make(_: u64, v: Arc<V>) -> Self {
        v
    }
    fn hash(&self, hash_of: HashOf<V>) -> u64 {
        hash_of(self)
    }
    fn entry(&self) -> &Arc<V> {
        self
    }
}

/// See the module docs.
pub struct Shards<V, S = (u64, Arc<V>)> {
    /// log2 of the number of shards.
    bits: u32,
    /// Each shard's entries, sorted by hash.
    shards: Vec<Arc<[S]>>,
    len: usize,
    hash_of: HashOf<V>,
}

impl<V, S> Clone for Shards<V, S> {
    fn clone(&self) -> Self {
        Shards {
            bits: self.bits,
            shards: self.shards.clone(),
            len: self.len,
            hash_of: self.hash_of,
        }
    }
}

impl<V, S> std::fmt::Debug for Shards<V, S> {
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

impl<V, S: Stored<V>> Shards<V, S> {
    /// An empty map whose entries are stored under `hash_of`.
    pub fn new(hash_of: HashOf<V>) -> Shards<V, S> {
        Shards::build(hash_of, Vec::new())
    }

    /// A map of `entries` (whose keys must be distinct).
    pub fn from_entries(hash_of: HashOf<V>, entries: Vec<Arc<V>>) -> Shards<V, S> {
        let hashed = entries.into_iter().map(|v| (hash_of(&v), v)).collect();
        Shards::build(hash_of, hashed)
    }

    fn build(hash_of: HashOf<V>, entries: Vec<(u64, Arc<V>)>) -> Shards<V, S> {
        let bits = bits_for(entries.len());
        let mut parts: Vec<Vec<(u64, Arc<V>)>> = (0..1usize << bits).map(|_| Vec::new()).collect();
        let len = entries.len();
        for (h, v) in entries {
            parts[shard_of(bits, h)].push((h, v));
        }
        Shards {
            bits,
            shards: parts.into_iter().map(sealed).collect(),
            len,
            hash_of,
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

    /// The entry stored under hash `h` that `is` accepts (asked only of entries stored under
    /// `h`).
    pub fn get(&self, h: u64, is: impl Fn(&V) -> bool) -> Option<&V> {
        self.get_arc(h, is).map(|v| &**v)
    }

    /// [`Shards::get`], the entry as stored (for [`Shards::edit`]).
    pub fn get_arc(&self, h: u64, is: impl Fn(&V) -> bool) -> Option<&Arc<V>> {
        let hash_of = self.hash_of;
        let shard = self.shards.get(shard_of(self.bits, h))?;
        let from = shard.partition_point(|x| x.hash(hash_of) < h);
        shard[from..]
            .iter()
            .take_while(|x| x.hash(hash_of) == h)
            .map(S::entry)
            .find(|v| is(v))
    }

    /// Every entry, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards
            .iter()
            .flat_map(|s| s.iter().map(|x| &**x.entry()))
    }

    /// A new version of the map without the entries `remove` (entries of this map; others
    /// are ignored) and with `insert` added (the caller removes an entry of the same key).
    /// Shares every shard neither touches with `self`.
    pub fn edit<'k>(
        &self,
        remove: impl IntoIterator<Item = &'k Arc<V>>,
        insert: Vec<Arc<V>>,
    ) -> Shards<V, S>
    where
        V: 'k,
    {
        let hash_of = self.hash_of;
        let mut removals: Vec<(u64, &Arc<V>)> = remove
            .into_iter()
            .filter_map(|old| {
                let h = hash_of(old);
                self.get_arc(h, |v| std::ptr::eq(v, &**old)).map(|v| (h, v))
            })
            .collect();
        removals.sort_by_key(|(h, v)| (*h, Arc::as_ptr(v)));
        removals.dedup_by(|a, b| Arc::ptr_eq(a.1, b.1));
        let inserts: Vec<(u64, Arc<V>)> = insert.into_iter().map(|v| (hash_of(&v), v)).collect();
        let len = self.len + inserts.len() - removals.len();
        if bits_for(len) > self.bits + 1 {
            // Outgrown: re-spread everything over more shards (once per doubling).
            let gone: std::collections::HashSet<*const V> =
                removals.iter().map(|(_, v)| Arc::as_ptr(v)).collect();
            let mut all: Vec<(u64, Arc<V>)> = Vec::with_capacity(len);
            for s in &self.shards {
                all.extend(
                    s.iter()
                        .filter(|x| !gone.contains(&Arc::as_ptr(x.entry())))
                        .map(|x| (x.hash(hash_of), x.entry().clone())),
                );
            }
            all.extend(inserts);
            return Shards::build(hash_of, all);
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
                .filter(|x| !edits.iter().any(|e| !e.1 && Arc::ptr_eq(&e.3, x.entry())))
                .map(|x| (x.hash(hash_of), x.entry().clone()))
                .collect();
            part.extend(edits.iter().filter(|e| e.1).map(|e| (e.2, e.3.clone())));
            shards[s] = sealed(part);
            i = end;
        }
        Shards {
            bits: self.bits,
            shards,
            len,
            hash_of,
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
fn sealed<V, S: Stored<V>>(mut part: Vec<(u64, Arc<V>)>) -> Arc<[S]> {
    part.sort_unstable_by_key(|(h, _)| *h);
    part.into_iter().map(|(h, v)| S::make(h, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash with collisions (keys `k{n}` share one every 1 000), to exercise the key check.
    fn hash(s: &str) -> u64 {
        let n = match s.strip_prefix('k').and_then(|d| d.parse::<u64>().ok()) {
            Some(n) => n % 1000,
            None => s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            }),
        };
        let h = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 29)
    }

    #[allow(clippy::ptr_arg)] // the map's `HashOf<String>`
    fn hash_of(s: &String) -> u64 {
        hash(s)
    }

    fn get<'m>(m: &'m Shards<String>, k: &str) -> Option<&'m String> {
        m.get(hash(k), |v| v == k)
    }

    fn map(n: usize) -> Shards<String> {
        Shards::from_entries(hash_of, (0..n).map(|i| Arc::new(format!("k{i}"))).collect())
    }

    fn entry(m: &Shards<String>, k: &str) -> Arc<String> {
        m.get_arc(hash(k), |v| v == k).unwrap().clone()
    }

    #[test]
    fn entries_are_found_by_key_and_only_by_key() {
        let m = map(3000);
        assert_eq!(m.len(), 3000);
        assert!(m.shard_count() >= 3000 / (2 * PER_SHARD));
        for i in 0..3000 {
            assert_eq!(
                get(&m, &format!("k{i}")).map(String::as_str),
                Some(&*format!("k{i}"))
            );
        }
        // k3000 shares its hash with k0, k1000 and k2000, and is none of them.
        assert!(get(&m, "k3000").is_none());
        assert_eq!(m.values().count(), 3000);
    }

    #[test]
    fn an_edit_shares_the_shards_it_does_not_touch() {
        let m = map(10_000);
        let gone = [entry(&m, "k1"), entry(&m, "k2")];
        let e = m.edit(&gone, vec![Arc::new("new".to_string())]);
        assert_eq!(e.len(), 9_999);
        assert!(get(&e, "k1").is_none() && get(&e, "k2").is_none());
        assert_eq!(get(&e, "new").map(String::as_str), Some("new"));
        // Only the entry removed, not the others of its hash.
        assert!(get(&e, "k1001").is_some());
        // The version before the edit is unchanged.
        assert!(get(&m, "k1").is_some() && get(&m, "new").is_none());
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
        // Removing an entry that is not there changes nothing.
        let other = Arc::new("k5".to_string());
        assert_eq!(e.edit([&other], Vec::new()).len(), 9_999);
    }

    #[test]
    fn an_entry_is_replaced_by_removing_it_and_inserting_the_new_one() {
        let m = map(100);
        let old = entry(&m, "k5");
        let e = m.edit([&old], vec![Arc::new("k5".to_string())]);
        assert_eq!(e.len(), 100);
        assert!(!Arc::ptr_eq(&entry(&e, "k5"), &old));
        assert_eq!(e.values().filter(|v| *v == "k5").count(), 1);
    }

    #[test]
    fn a_map_of_bare_entries_finds_and_edits_alike() {
        let m: Shards<String, Arc<String>> = Shards::from_entries(
            hash_of,
            (0..3000).map(|i| Arc::new(format!("k{i}"))).collect(),
        );
        let find = |m: &Shards<String, Arc<String>>, k: &str| m.get(hash(k), |v| v == k).cloned();
        assert_eq!(find(&m, "k2999").as_deref(), Some("k2999"));
        assert!(find(&m, "k3000").is_none());
        let old = m.get_arc(hash("k7"), |v| v == "k7").unwrap().clone();
        let more: Vec<Arc<String>> = (3000..9000).map(|i| Arc::new(format!("k{i}"))).collect();
        let e = m.edit([&old], more);
        assert_eq!(e.len(), 8999);
        assert!(find(&e, "k7").is_none() && find(&m, "k7").is_some());
        assert!((0..9000)
            .filter(|i| *i != 7)
            .all(|i| find(&e, &format!("k{i}")).is_some()));
        assert_eq!(std::mem::size_of::<Arc<String>>(), 8);
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
            assert!(get(&m, &format!("b{batch}-99")).is_some());
        }
    }
}
