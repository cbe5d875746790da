//! Snapshots by log size. openraft's policy builds a snapshot every `snapshot_every` entries;
//! entries differ in size by orders of magnitude (an ImportApiKeys of 10 000 keys is ~0.6 MB,
//! a usage report a few hundred bytes), so a million keys imported in 100 commands stayed in
//! the log and were decoded and applied again at every start (issue 14). The log store counts
//! the bytes it appends; once those since the last snapshot reach both the configured floor
//! and half the last snapshot's size, a snapshot is asked for. A restart then replays at most
//! about half a snapshot's worth of log beside the snapshot itself, and building snapshots
//! costs at most about twice the bytes appended (each is built after at least half its size
//! was appended).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The log's growth since the last snapshot, shared by the log store (which counts), the
/// state machine (which resets it when a snapshot is taken) and the task that asks openraft
/// for a snapshot ([`LogGrowth::wanted`]).
#[derive(Debug, Default)]
pub struct LogGrowth {
    /// Bytes appended since the last snapshot.
    appended: AtomicU64,
    /// The last snapshot's data size.
    last_snapshot: AtomicU64,
    /// The fewest bytes that make a snapshot due (0: never by size).
    floor: u64,
    /// Whether a snapshot was asked for and not yet taken.
    asked: AtomicBool,
    notify: tokio::sync::Notify,
}

impl LogGrowth {
    /// Counts appended bytes; a snapshot is due at `floor` bytes at least (0: never).
    pub fn new(floor: u64) -> Arc<LogGrowth> {
        Arc::new(LogGrowth {
            floor,
            ..LogGrowth::default()
        })
    }

    /// The bytes since the last snapshot that make the next one due.
    pub fn threshold(&self) -> u64 {
        self.floor
            .max(self.last_snapshot.load(Ordering::Relaxed) / 2)
    }

    /// Counts `bytes` appended to the log; wakes [`LogGrowth::wanted`] when a snapshot
    /// becomes due (once until one is taken).
    pub fn appended(&self, bytes: u64) {
        if self.floor == 0 {
            return;
        }
        let total = self.appended.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if total >= self.threshold() && !self.asked.swap(true, Ordering::Relaxed) {
            self.notify.notify_one();
        }
    }

    /// The bytes counted so far (read when a snapshot starts, given back to
    /// [`LogGrowth::snapshot_taken`]).
    pub fn seen(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// A snapshot of `size` bytes was built or installed, covering what was appended when
    /// [`LogGrowth::seen`] gave `seen`.
    pub fn snapshot_taken(&self, size: u64, seen: u64) {
        self.last_snapshot.store(size, Ordering::Relaxed);
        let _ = self
            .appended
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                Some(a.saturating_sub(seen))
            });
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

    #[tokio::test]
    async fn a_snapshot_is_due_after_the_floor_then_half_the_last_snapshot() {
        let g = LogGrowth::new(100);
        g.appended(60);
        assert!(!g.asked.load(Ordering::Relaxed));
        g.appended(60);
        assert!(g.asked.load(Ordering::Relaxed));
        // Asked once: the wake-up is stored for the waiter.
        tokio::time::timeout(std::time::Duration::from_secs(5), g.wanted())
            .await
            .unwrap();
        // A snapshot of 1000 bytes taken when 110 were counted; 10 came after it.
        g.snapshot_taken(1000, 110);
        assert_eq!(g.seen(), 10);
        assert_eq!(g.threshold(), 500);
        g.appended(400);
        assert!(!g.asked.load(Ordering::Relaxed), "410 < 500");
        g.appended(90);
        assert!(g.asked.load(Ordering::Relaxed));
    }

    #[test]
    fn a_floor_of_zero_never_asks() {
        let g = LogGrowth::new(0);
        g.appended(u64::MAX / 2);
        assert!(!g.asked.load(Ordering::Relaxed));
    }
}
