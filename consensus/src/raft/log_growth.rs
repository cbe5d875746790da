//! When to build a snapshot: by the log applied since the last one, in entries and in bytes.
//! openraft's own policy (a snapshot every `snapshot_every` entries) is off; this one asks for
//! a snapshot ([`LogGrowth::wanted`]) when the entries applied since the last snapshot reach
//!
//! - **bytes**: both the configured floor and half the last snapshot's size. Entries differ
//!   in size by orders of magnitude (an ImportApiKeys of 10 000 keys is ~0.6 MB, a usage
//!   report a few hundred bytes), so a million keys imported in 100 commands stayed in the log
//!   and were decoded and applied again at every start (issue 14). A restart replays at most
//!   about half a snapshot's worth of log beside the snapshot itself, and building snapshots
//!   costs at most about twice the bytes appended;
//! - **entries**: `snapshot_every` for each [`ENTRIES_SCALE`] bytes of the last snapshot
//!   (one step below that). A small registry is snapshotted every `snapshot_every` entries as
//!   before; a registry of hundreds of MB (10 000 APIs: 568 MB) is not re-encoded every 1000
//!   small admin commands, which spent a second of encoding per thousand changes (issue 14),
//!   while the entries a restart replays stay bounded (35 000 at 568 MB).
//!
//! The log store records each entry's size by index when it appends it; the state machine says
//! which index it applied; a snapshot covers the entries up to its index. So the bytes a
//! snapshot covers are those of the entries it holds, not of those appended meanwhile and not
//! yet applied (counted at append, a snapshot subtracted bytes it did not cover, and the log
//! behind it could pass half a snapshot).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The snapshot size per step of the entry rule: a snapshot of `n` times this many bytes is
/// due after `n * snapshot_every` entries (16 MiB: a snapshot of that size encodes in about a
/// tenth of a second).
pub const ENTRIES_SCALE: u64 = 16 << 20;

/// The log's growth since the last snapshot, shared by the log store (which records appended
/// entries' sizes), the state machine (which says what it applied and when a snapshot is
/// taken) and the task that asks openraft for a snapshot ([`LogGrowth::wanted`]).
#[derive(Debug, Default)]
pub struct LogGrowth {
    /// Entries that make a snapshot due, per [`ENTRIES_SCALE`] of the last one (0: never by
    /// count).
    every: u64,
    /// The fewest bytes that make a snapshot due (0: never by size).
    floor: u64,
    counts: Mutex<Counts>,
    /// Whether a snapshot was asked for and not yet taken.
    asked: AtomicBool,
    notify: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Counts {
    /// `(index, total)` of each entry appended after the last snapshot, by index: `total` is
    /// the bytes appended up to and including it, counted from `covered` (an entry appended
    /// again at an index, after the log was truncated there, replaces what followed).
    appended: VecDeque<(u64, u64)>,
    /// The total the last snapshot covered (`appended`'s totals continue from it).
    covered: u64,
    /// The last snapshot's index and data size.
    snapshot_index: u64,
    snapshot_bytes: u64,
    /// The last index applied.
    applied: u64,
}

impl Counts {
    /// The total up to and including `index` (entries not recorded count 0 bytes: those
    /// appended by an earlier process, replayed at start).
    fn total_at(&self, index: u64) -> u64 {
        let n = self.appended.partition_point(|&(i, _)| i <= index);
        match n {
            0 => self.covered,
            n => self.appended[n - 1].1,
        }
    }

    /// Bytes and entries applied since the last snapshot.
    fn since_snapshot(&self) -> (u64, u64) {
        let bytes = self.total_at(self.applied) - self.covered;
        (bytes, self.applied.saturating_sub(self.snapshot_index))
    }
}

fn lock(m: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LogGrowth {
    /// A snapshot is due after `every` entries (scaled by the last snapshot's size; 0: never
    /// by count) or `floor` bytes at least (0: never by size).
    pub fn new(every: u64, floor: u64) -> Arc<LogGrowth> {
        Arc::new(LogGrowth {
            every,
            floor,
            ..LogGrowth::default()
        })
    }

    /// The bytes applied since the last snapshot that make the next one due (`u64::MAX`:
    /// never by size).
    pub fn threshold(&self) -> u64 {
        if self.floor == 0 {
            return u64::MAX;
        }
        self.floor.max(lock(&self.counts).snapshot_bytes / 2)
    }

    /// The entries applied since the last snapshot that make the next one due (`u64::MAX`:
    /// never by count).
    pub fn entries_threshold(&self) -> u64 {
        if self.every == 0 {
            return u64::MAX;
        }
        let steps = (lock(&self.counts).snapshot_bytes / ENTRIES_SCALE).max(1);
        self.every.saturating_mul(steps)
    }

    /// Records entries appended to the log: `(index, encoded bytes)`, in index order.
    pub fn appended(&self, entries: impl IntoIterator<Item = (u64, u64)>) {
        let mut c = lock(&self.counts);
        for (index, bytes) in entries {
            if index <= c.snapshot_index {
                continue;
            }
            // Appended again after a truncation: what followed is gone.
            while c.appended.back().is_some_and(|&(i, _)| i >= index) {
                c.appended.pop_back();
            }
            let total = c.appended.back().map_or(c.covered, |&(_, t)| t) + bytes;
            c.appended.push_back((index, total));
        }
    }

    /// The entries up to `index` were applied; wakes [`LogGrowth::wanted`] when that makes a
    /// snapshot due (once until one is taken).
    pub fn applied(&self, index: u64) {
        let (bytes, entries) = {
            let mut c = lock(&self.counts);
            c.applied = c.applied.max(index);
            c.since_snapshot()
        };
        let due = bytes >= self.threshold() || entries >= self.entries_threshold();
        if due && !self.asked.swap(true, Ordering::Relaxed) {
            self.notify.notify_one();
        }
    }

    /// The bytes and entries applied since the last snapshot.
    pub fn seen(&self) -> (u64, u64) {
        lock(&self.counts).since_snapshot()
    }

    /// A snapshot of `size` bytes covering the entries up to `index` was built, installed or
    /// read at start.
    pub fn snapshot_taken(&self, size: u64, index: u64) {
        {
            let mut c = lock(&self.counts);
            if index >= c.snapshot_index {
                c.covered = c.total_at(index);
                while c.appended.front().is_some_and(|&(i, _)| i <= index) {
                    c.appended.pop_front();
                }
                c.snapshot_index = index;
                c.snapshot_bytes = size;
                c.applied = c.applied.max(index);
            }
        }
        self.asked.store(false, Ordering::Relaxed);
    }

    /// Resolves when a snapshot is due.
    pub async fn wanted(&self) {
        self.notify.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(g: &LogGrowth) -> bool {
        g.asked.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_snapshot_is_due_after_the_floor_then_half_the_last_snapshot() {
        let g = LogGrowth::new(0, 100);
        g.appended([(1, 60), (2, 60)]);
        g.applied(1);
        assert!(!asked(&g), "60 bytes applied");
        g.applied(2);
        assert!(asked(&g));
        // Asked once: the wake-up is stored for the waiter.
        tokio::time::timeout(std::time::Duration::from_secs(5), g.wanted())
            .await
            .unwrap();
        // A snapshot of 1000 bytes at index 2.
        g.snapshot_taken(1000, 2);
        assert_eq!(g.seen(), (0, 0));
        assert_eq!(g.threshold(), 500);
        g.appended([(3, 400)]);
        g.applied(3);
        assert!(!asked(&g), "400 < 500");
        g.appended([(4, 100)]);
        g.applied(4);
        assert!(asked(&g));
        assert_eq!(g.seen(), (500, 2));
    }

    /// Bytes count once applied, and a snapshot subtracts only the entries up to its index:
    /// entries appended while it was built (not applied, not in it) still count after it.
    #[test]
    fn a_snapshot_covers_the_entries_up_to_its_index() {
        let g = LogGrowth::new(0, 1000);
        g.appended([(1, 100), (2, 100), (3, 100)]);
        assert_eq!(g.seen(), (0, 0), "appended, not applied");
        g.applied(1);
        assert_eq!(g.seen(), (100, 1));
        // Entries 4..=10 (700 bytes) are appended while a snapshot at index 1 is built.
        g.appended((4..=10).map(|i| (i, 100)));
        g.snapshot_taken(50, 1);
        assert_eq!(g.seen(), (0, 0));
        g.applied(10);
        assert_eq!(
            g.seen(),
            (900, 9),
            "the entries after the snapshot all count"
        );
        assert!(!asked(&g));
        g.appended([(11, 100)]);
        g.applied(11);
        assert!(asked(&g), "1000 bytes past the snapshot");
        // An older snapshot finishing late changes nothing.
        g.snapshot_taken(50, 11);
        g.snapshot_taken(5000, 3);
        assert_eq!((g.seen(), g.threshold()), ((0, 0), 1000));
    }

    /// An entry appended again at an index (the log truncated there) replaces it and what
    /// followed.
    #[test]
    fn entries_appended_again_replace_what_followed() {
        let g = LogGrowth::new(0, 1000);
        g.appended([(1, 100), (2, 100), (3, 100)]);
        g.appended([(2, 10)]);
        g.applied(3);
        assert_eq!(g.seen(), (110, 3), "entry 3 is gone; 3 entries by index");
    }

    /// Entries: `every` per [`ENTRIES_SCALE`] of the last snapshot, so a large registry is
    /// not re-encoded every `every` entries.
    #[test]
    fn the_entry_rule_scales_with_the_snapshot() {
        let g = LogGrowth::new(10, 0);
        assert_eq!(g.threshold(), u64::MAX);
        g.applied(9);
        assert!(!asked(&g));
        g.applied(10);
        assert!(asked(&g));
        // A snapshot of 568 MB at index 10: due 35 steps later.
        g.snapshot_taken(568 << 20, 10);
        assert_eq!(g.entries_threshold(), 350);
        g.applied(359);
        assert!(!asked(&g));
        g.applied(360);
        assert!(asked(&g));
        // Restarted from a snapshot at 360 with the log replayed up to 400 (entries appended
        // by the earlier process: counted by index, not by bytes).
        let g = LogGrowth::new(10, 1);
        g.snapshot_taken(100, 360);
        g.applied(369);
        assert_eq!(g.seen(), (0, 9));
        assert!(!asked(&g));
        g.applied(400);
        assert!(asked(&g));
    }

    #[test]
    fn zero_never_asks() {
        let g = LogGrowth::new(0, 0);
        g.appended([(1, u64::MAX / 2)]);
        g.applied(u64::MAX / 2);
        assert!(!asked(&g));
    }
}
