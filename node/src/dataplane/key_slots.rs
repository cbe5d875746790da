//! One slab of small fixed-size slots for what a node counts per API-key quota: the requests
//! it admitted and has not yet seen committed to the usage ledger, its share of the quota, and
//! what the ledger has left of the quota.
//!
//! A compiled key entry names its quota's slot ([`SlotRef`]: a pointer to the slot's chunk and
//! an index, no allocation of its own); the slot outlives the entry as long as any table
//! version holds an entry naming it, and a recompiled entry of the same quota gets the same
//! slot back (slots are found by the quota's limit id at compile time), so pending counts and
//! shares carry over across table versions as they must.
//!
//! Reuse: each slot counts the [`SlotRef`]s naming it. Only a sweep (the compiler's, under the
//! [`super::cluster_limits::ClusterLimits`] lock) frees a slot, and only one no `SlotRef`
//! names: a table version, old or new, that could still read it holds one. A freed slot is
//! reset when it is handed out again, and leaves the by-id index in the same sweep, so neither
//! a new key nor a committed report of the deleted key can reach the other's counts.
//!
//! Generations: each time a slot is handed to a quota afresh its generation goes up. A worker
//! counts a request's usage with the slot's [`SlotTag`] (its number and generation), which the
//! node's own usage report keeps beside it in memory, so that when the report commits the
//! control thread reaches the slot by number ([`Slots::by_tag`]: one indexed load, no lookup by
//! id) and writes it only if the generation still matches: a slot reused by another quota
//! after a delete never receives the old quota's take-off.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Slots per chunk (a chunk is allocated whole and never moves or shrinks).
pub const CHUNK: usize = 1024;

/// What the node counts for one (plan, key) quota.
#[derive(Debug, Default)]
#[repr(align(32))]
pub struct KeySlot {
    /// Requests admitted under the quota and not yet seen committed to the usage ledger.
    pending: AtomicU64,
    /// This node's share of the quota (f64 bits), written by the control thread.
    share: AtomicU64,
    /// Requests the usage ledger has left in the quota period, as of the last usage applied
    /// (written by the control thread as usage commits, and by compiles).
    remaining: AtomicI64,
    /// The [`SlotRef`]s naming the slot (0: free, or free once swept).
    refs: AtomicU32,
    /// Bumped each time the slot is handed to a quota afresh (0 before the first time).
    generation: AtomicU32,
}

impl KeySlot {
    /// The node-wide count of requests admitted and not yet committed.
    pub fn pending(&self) -> &AtomicU64 {
        &self.pending
    }

    /// This node's share of the quota (0..=1).
    pub fn share(&self) -> f64 {
        f64::from_bits(self.share.load(Ordering::Relaxed))
    }

    /// Sets this node's share.
    pub fn set_share(&self, share: f64) {
        self.share
            .store(share.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Requests the ledger has left in the quota period.
    pub fn remaining(&self) -> i64 {
        // Acquire pairs with the Release store of `set_remaining`: the control thread writes
        // it before this node's pending count is lowered by the same report, so a worker that
        // sees the lower pending count also sees the lower remaining count.
        self.remaining.load(Ordering::Acquire)
    }

    /// Sets what the ledger has left of the quota.
    pub fn set_remaining(&self, left: i64) {
        self.remaining.store(left, Ordering::Release);
    }

    /// Takes `n` committed requests off the pending count (never below zero: a count that
    /// started after the quota did may be taken off first).
    pub fn take_off(&self, n: u64) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }
}

type Chunk = [KeySlot; CHUNK];

/// A slot's number and generation: what a usage count names its quota's slot by, without
/// holding it (see the module docs). `Copy`, 8 bytes (an `Option` of it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotTag {
    n: u32,
    generation: NonZeroU32,
}

impl SlotTag {
    /// The slot's number in the slab.
    pub fn number(&self) -> u32 {
        self.n
    }

    /// The slot's generation when the tag was taken.
    pub fn generation(&self) -> u32 {
        self.generation.get()
    }
}

/// A compiled entry's hold on its slot (see the module docs).
#[derive(Debug)]
pub struct SlotRef {
    chunk: Arc<Chunk>,
    tag: SlotTag,
}

impl SlotRef {
    /// The slot.
    pub fn slot(&self) -> &KeySlot {
        &self.chunk[self.tag.n as usize % CHUNK]
    }

    /// The slot's number and generation (for usage counts).
    pub fn tag(&self) -> SlotTag {
        self.tag
    }
}

impl Clone for SlotRef {
    fn clone(&self) -> Self {
        // Relaxed as for an `Arc`: the clone comes from a live reference.
        self.slot().refs.fetch_add(1, Ordering::Relaxed);
        SlotRef {
            chunk: self.chunk.clone(),
            tag: self.tag,
        }
    }
}

impl Drop for SlotRef {
    fn drop(&mut self) {
        // Release pairs with the sweep's Acquire load: what the holder did to the slot
        // happens before the slot is reset for a new quota.
        self.slot().refs.fetch_sub(1, Ordering::Release);
    }
}

/// A quota id as the index's key.
fn halves(id: u64) -> [u32; 2] {
    [(id >> 32) as u32, id as u32]
}

/// The generation of a slot handed out (at least 1).
fn generation_of(slot: &KeySlot) -> NonZeroU32 {
    NonZeroU32::new(slot.generation.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN)
}

/// The slab (kept under the cluster limits' lock).
#[derive(Debug, Default)]
pub struct Slots {
    chunks: Vec<Arc<Chunk>>,
    /// Slot number by quota limit id.
    /// (The id is split in two halves: an entry is 12 bytes, not 16 with a `u64` key's
    /// alignment.)
    by_id: HashMap<[u32; 2], u32>,
    /// Slot numbers swept free.
    free: Vec<u32>,
}

fn new_chunk() -> Arc<Chunk> {
    let slots: Box<[KeySlot]> = (0..CHUNK).map(|_| KeySlot::default()).collect();
    match Box::<Chunk>::try_from(slots) {
        Ok(chunk) => Arc::from(chunk),
        // The slice was built with exactly CHUNK slots.
        Err(_) => unreachable!("a chunk holds CHUNK slots"),
    }
}

impl Slots {
    fn at(&self, n: u32) -> Option<&KeySlot> {
        let n = n as usize;
        self.chunks.get(n / CHUNK).map(|c| &c[n % CHUNK])
    }

    /// The slot of quota `id`: the one a table holds, or a fresh one with `share`, nothing
    /// pending and nothing remaining (the compile writes that). The second value says whether
    /// it is fresh.
    pub fn acquire(&mut self, id: u64, share: f64) -> (SlotRef, bool) {
        if let Some(&n) = self.by_id.get(&halves(id)) {
            let chunk = self.chunks[n as usize / CHUNK].clone();
            let slot = &chunk[n as usize % CHUNK];
            slot.refs.fetch_add(1, Ordering::Relaxed);
            let tag = SlotTag {
                n,
                generation: generation_of(slot),
            };
            return (SlotRef { chunk, tag }, false);
        }
        let n = match self.free.pop() {
            Some(n) => n,
            None => {
                let n = self.chunks.len() * CHUNK;
                self.chunks.push(new_chunk());
                self.free.extend((n + 1..n + CHUNK).rev().map(|i| i as u32));
                n as u32
            }
        };
        let chunk = self.chunks[n as usize / CHUNK].clone();
        let slot = &chunk[n as usize % CHUNK];
        slot.pending.store(0, Ordering::Relaxed);
        slot.remaining.store(0, Ordering::Relaxed);
        slot.set_share(share);
        slot.refs.store(1, Ordering::Relaxed);
        // A new generation: tags of the slot's previous quota no longer reach it (0 is
        // skipped on wrap-around; 2^32 reuses of one slot between a count and its report
        // cannot happen).
        let g = slot
            .generation
            .load(Ordering::Relaxed)
            .wrapping_add(1)
            .max(1);
        slot.generation.store(g, Ordering::Relaxed);
        self.by_id.insert(halves(id), n);
        let tag = SlotTag {
            n,
            generation: generation_of(slot),
        };
        (SlotRef { chunk, tag }, true)
    }

    /// The slot of quota `id`, when one is held.
    pub fn get(&self, id: u64) -> Option<&KeySlot> {
        self.by_id.get(&halves(id)).and_then(|n| self.at(*n))
    }

    /// The slot `tag` names, unless it was handed to another quota since (then the counts of
    /// the tag's quota are gone with it): one indexed load, whatever the number of slots.
    pub fn by_tag(&self, tag: SlotTag) -> Option<&KeySlot> {
        self.at(tag.n)
            .filter(|s| s.generation.load(Ordering::Relaxed) == tag.generation.get())
    }

    /// Whether an entry of some table names quota `id`'s slot.
    pub fn is_held(&self, id: u64) -> bool {
        self.get(id)
            .is_some_and(|s| s.refs.load(Ordering::Acquire) > 0)
    }

    /// The quota ids with a slot (held or not yet swept).
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_id
            .keys()
            .map(|[hi, lo]| (u64::from(*hi) << 32) | u64::from(*lo))
    }

    /// The number of slots in the index (held or not yet swept).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no slot is in the index.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Frees the slots no [`SlotRef`] names.
    pub fn sweep(&mut self) {
        let Slots {
            chunks,
            by_id,
            free,
        } = self;
        by_id.retain(|_, n| {
            let i = *n as usize;
            let held = chunks
                .get(i / CHUNK)
                .is_some_and(|c| c[i % CHUNK].refs.load(Ordering::Acquire) > 0);
            if !held {
                free.push(*n);
            }
            held
        });
    }

    /// Slots allocated (chunks times [`CHUNK`]), for memory accounting.
    pub fn capacity(&self) -> usize {
        self.chunks.len() * CHUNK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_shared_while_held_and_reused_fresh_once_swept() {
        let mut s = Slots::default();
        let (a, fresh) = s.acquire(1, 0.5);
        assert!(fresh);
        a.slot().pending().fetch_add(7, Ordering::Relaxed);
        // A recompiled entry of the same quota gets the same slot, with its count.
        let (b, fresh) = s.acquire(1, 0.25);
        assert!(!fresh);
        assert_eq!(b.slot().pending().load(Ordering::Relaxed), 7);
        assert_eq!(b.slot().share(), 0.5);
        // While any reference lives (an old table version), a sweep keeps the slot.
        drop(a);
        s.sweep();
        assert!(s.is_held(1));
        let old_version = b.clone();
        drop(b);
        s.sweep();
        assert!(s.is_held(1));
        assert_eq!(old_version.slot().pending().load(Ordering::Relaxed), 7);
        // Gone from every table: swept, and another quota gets the slot back, reset.
        let old_tag = old_version.tag();
        assert!(s.by_tag(old_tag).is_some());
        drop(old_version);
        s.sweep();
        assert!(s.get(1).is_none());
        let (c, fresh) = s.acquire(2, 1.0);
        assert!(fresh);
        assert_eq!(c.tag().n, old_tag.n, "the freed slot is reused");
        assert_eq!(c.slot().pending().load(Ordering::Relaxed), 0);
        assert_eq!(c.slot().share(), 1.0);
        // With a new generation: the old quota's tag no longer reaches it, the new one's does.
        assert_ne!(c.tag(), old_tag);
        assert!(s.by_tag(old_tag).is_none());
        assert!(std::ptr::eq(s.by_tag(c.tag()).unwrap(), c.slot()));
        // The deleted quota's id no longer reaches it (a late report of it counts nothing).
        assert!(s.get(1).is_none());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn slots_never_move_as_the_slab_grows() {
        let mut s = Slots::default();
        let refs: Vec<SlotRef> = (0..3 * CHUNK as u64)
            .map(|id| s.acquire(id, 1.0).0)
            .collect();
        for (id, r) in refs.iter().enumerate() {
            r.slot().pending().store(id as u64, Ordering::Relaxed);
        }
        assert_eq!(s.capacity(), 3 * CHUNK);
        for (id, r) in refs.iter().enumerate() {
            let by_id = s.get(id as u64).unwrap();
            assert!(std::ptr::eq(by_id, r.slot()));
            assert_eq!(by_id.pending().load(Ordering::Relaxed), id as u64);
        }
        assert_eq!(std::mem::size_of::<KeySlot>(), 32);
        assert_eq!(std::mem::size_of::<SlotRef>(), 16);
        assert_eq!(std::mem::size_of::<Option<SlotTag>>(), 8);
    }
}
