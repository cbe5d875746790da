//! Publishing compiled routing tables to the workers without locks.
//!
//! The control side stores a new table in an [`ArcSwap`] and then bumps a version counter. A
//! worker compares the counter with the version it holds (one relaxed load of a read-mostly
//! cache line per request) and only on a change loads the new table. A worker hands each request
//! an `Rc` of its current table, so a request is served wholly by one version even if a newer
//! one is published while it waits on a backend.

use super::routing::RoutingTable;
use arc_swap::ArcSwap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The table every worker serves from, and its version.
#[derive(Default)]
pub struct SharedRoutes {
    table: ArcSwap<RoutingTable>,
    version: AtomicU64,
    /// Held by [`SharedRoutes::update`] from loading the current table to publishing the next,
    /// so two control-side writers (the apply hook, the day rollover) never publish a table
    /// built from an older one over a newer one. Workers never take it.
    updating: std::sync::Mutex<()>,
}

impl SharedRoutes {
    /// Publishes the table `next` builds from the current one, with no other update between
    /// the two. Callers hold the registry (the apply hook its write guard, others a read
    /// guard) across the call, always taking the registry before this, so the table built is
    /// never older than the one it replaces and the two locks are always taken in one order.
    pub fn update(&self, next: impl FnOnce(&RoutingTable) -> RoutingTable) {
        let _one_at_a_time = self.updating.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.load();
        self.publish(next(&old));
    }

    /// Makes `table` the one served from now on.
    pub fn publish(&self, table: RoutingTable) {
        self.table.store(Arc::new(table));
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The current table.
    pub fn load(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    /// How many tables have been published.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// A worker's view of the shared table.
///
/// The `Rc<Arc<_>>` is deliberate: handing a request an `Rc` clone is a plain increment on this
/// core, where an `Arc` clone would bounce the table's shared counter between cores.
#[allow(clippy::redundant_allocation)]
pub struct LocalRoutes {
    shared: Arc<SharedRoutes>,
    version: u64,
    current: Rc<Arc<RoutingTable>>,
}

impl LocalRoutes {
    /// A view starting at the currently published table.
    pub fn new(shared: Arc<SharedRoutes>) -> Self {
        let version = shared.version();
        let current = Rc::new(shared.load());
        LocalRoutes {
            shared,
            version,
            current,
        }
    }

    /// The newest table, cheaply (no atomic read-modify-write unless it changed).
    pub fn current(&mut self) -> Rc<Arc<RoutingTable>> {
        let v = self.shared.version.load(Ordering::Acquire);
        if v != self.version {
            // Read the version first: the table loaded after it is at least that new.
            self.version = v;
            self.current = Rc::new(self.shared.load());
        }
        self.current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_see_new_tables_and_keep_old_ones_alive() {
        let shared = Arc::new(SharedRoutes::default());
        let mut local = LocalRoutes::new(shared.clone());
        let before = local.current();
        assert!(before.apis.is_empty());
        let mut t = RoutingTable::default();
        t.apis.insert("a".into(), Default::default());
        shared.publish(t);
        let after = local.current();
        assert_eq!(after.apis.len(), 1);
        // The request that started before the publish still holds its version.
        assert!(before.apis.is_empty());
        assert!(Rc::ptr_eq(&after, &local.current()));
    }
}
