//! The routing table's APIs by id, as a persistent map: [`ApiTable`] is split into a fixed
//! number of shards, each behind an `Arc`, so that a table compiled for one changed API copies
//! only the shard holding it (about `APIs / SHARDS` entries) and shares every other shard with
//! the table it replaces. Cloning a table's map costs [`SHARDS`] reference counts, never one
//! per API (issue 14: with 10,000 APIs, a publish copied the whole map).
//!
//! Lookups hash the id once to pick the shard (FNV-1a, no allocation) and then look it up in
//! that shard's map (FxHash: ids are not chosen by clients).

use super::routing::{fnv64, ApiRoutes};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Number of shards (a power of two).
pub const SHARDS: usize = 256;

type Shard = FxHashMap<Box<str>, Arc<ApiRoutes>>;

/// Compiled APIs by id (see the module comment).
#[derive(Debug, Clone)]
pub struct ApiTable {
    shards: Arc<Vec<Arc<Shard>>>,
    len: usize,
}

impl Default for ApiTable {
    fn default() -> ApiTable {
        let empty = Arc::new(Shard::default());
        ApiTable {
            shards: Arc::new(vec![empty; SHARDS]),
            len: 0,
        }
    }
}

fn shard_of(id: &str) -> usize {
    (fnv64(&[id.as_bytes()]) as usize) & (SHARDS - 1)
}

impl ApiTable {
    /// The API `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<ApiRoutes>> {
        self.shards[shard_of(id)].get(id)
    }

    /// The API `id`, to change (its shard is copied first when another table shares it).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Arc<ApiRoutes>> {
        self.shard_mut(id).get_mut(id)
    }

    fn shard_mut(&mut self, id: &str) -> &mut Shard {
        let i = shard_of(id);
        // The list of shards is shared by clones of the table: copied (SHARDS pointers) on
        // the first write, then the one shard written.
        Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[i])
    }

    /// Puts `api` in as `id`, replacing any there.
    pub fn insert(&mut self, id: Box<str>, api: Arc<ApiRoutes>) {
        if self.shard_mut(&id).insert(id, api).is_none() {
            self.len += 1;
        }
    }

    /// Takes the API `id` out.
    pub fn remove(&mut self, id: &str) -> Option<Arc<ApiRoutes>> {
        // Only a present API copies its shard.
        self.get(id)?;
        let gone = self.shard_mut(id).remove(id);
        self.len -= usize::from(gone.is_some());
        gone
    }

    /// How many APIs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every API (in no particular order).
    pub fn values(&self) -> impl Iterator<Item = &Arc<ApiRoutes>> {
        self.shards.iter().flat_map(|s| s.values())
    }

    /// Whether `a` and `b` hold the same shard for `id` (not only equal ones): what a
    /// compile of another API left shared.
    pub fn shares_shard(a: &ApiTable, b: &ApiTable, id: &str) -> bool {
        let i = shard_of(id);
        Arc::ptr_eq(&a.shards[i], &b.shards[i])
    }
}

impl FromIterator<(Box<str>, Arc<ApiRoutes>)> for ApiTable {
    fn from_iter<I: IntoIterator<Item = (Box<str>, Arc<ApiRoutes>)>>(iter: I) -> ApiTable {
        let mut t = ApiTable::default();
        for (id, api) in iter {
            t.insert(id, api);
        }
        t
    }
}

impl std::ops::Index<&str> for ApiTable {
    type Output = Arc<ApiRoutes>;
    fn index(&self, id: &str) -> &Arc<ApiRoutes> {
        match self.get(id) {
            Some(a) => a,
            None => panic!("no API {id:?} in the table"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_api_copies_its_shard_only() {
        let mut a = ApiTable::default();
        for i in 0..2_000 {
            a.insert(format!("api{i:07}").into(), Arc::default());
        }
        assert_eq!(a.len(), 2_000);
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.shards, &b.shards), "a clone copies nothing");
        b.insert("api0000007".into(), Arc::default());
        assert_eq!(b.len(), 2_000, "a replacement is not a new API");
        assert!(!Arc::ptr_eq(&a["api0000007"], &b["api0000007"]));
        let shared = (0..2_000)
            .map(|i| format!("api{i:07}"))
            .filter(|id| ApiTable::shares_shard(&a, &b, id))
            .count();
        assert!(shared > 1_950, "only one shard was copied: {shared} shared");
        assert!(b.remove("api0000007").is_some());
        assert!(b.remove("api0000007").is_none());
        assert_eq!((a.len(), b.len()), (2_000, 1_999));
        assert!(a.get("api0000007").is_some(), "the old table keeps it");
        assert_eq!(b.values().count(), 1_999);
    }
}
