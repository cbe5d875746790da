//! A worker's API-key usage: counted per request on the worker alone and handed to the control
//! thread every [`FLUSH_EVERY`] as one batch, with the demand the worker's limits counted, which
//! the node reports through Raft. (Quota checks use the node-wide pending count of the key
//! table, not these.)
//!
//! Each count names the quota slot its requests were counted in ([`SlotTag`], from the key's
//! plan stage the worker already holds), so that when the node's report commits the control
//! thread takes the count off that slot directly, with no lookup by id.

use super::key_slots::SlotTag;
use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// How often a worker hands its counts to the control thread.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// What a worker hands the control thread every [`FLUSH_EVERY`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UsageBatch {
    /// The worker that counted it.
    pub worker: usize,
    /// The time the counts cover (since the worker's previous flush, sent or not).
    pub span: Duration,
    /// Requests served per usage id.
    pub usage: Vec<Counted>,
    /// Requests that asked for each rate limit (limit id, requests), admitted or not.
    pub demand: Vec<(u64, u64)>,
}

/// Requests served under one usage id, counted in one quota slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The usage id (`{plan}:{key}`).
    pub id: Box<str>,
    /// The slot of the quota the requests were counted in (none: the key's plan has no quota).
    pub slot: Option<SlotTag>,
    /// The number of requests.
    pub count: u64,
}

/// One worker's counters.
pub struct UsageCounters {
    worker: usize,
    unflushed: HashMap<Box<str>, (Option<SlotTag>, u64)>,
    /// Counts of a usage id whose quota slot changed since the last flush (a quota added to or
    /// taken from its plan), kept apart so each is taken off the slot it was counted in.
    moved: Vec<Counted>,
    /// Where [`UsageCounters::record`] builds a usage id.
    scratch: String,
    sink: Option<Sender<UsageBatch>>,
    last_flush: Instant,
}

impl UsageCounters {
    /// Counters of worker `worker` that flush into `sink` (none: counted for quotas only).
    pub fn new(worker: usize, sink: Option<Sender<UsageBatch>>) -> Self {
        UsageCounters {
            worker,
            unflushed: HashMap::new(),
            moved: Vec::new(),
            scratch: String::new(),
            sink,
            last_flush: Instant::now(),
        }
    }

    /// Counts one request of key `key` through plan `plan` (usage id `{plan}:{key}`, see
    /// [`tollgate_proto::plan_usage_id`]), counted against the quota in `slot`.
    pub fn record(&mut self, plan: &str, key: &str, slot: Option<SlotTag>) {
        // The usage id, built in a buffer kept for it (no allocation but for a new id).
        self.scratch.clear();
        self.scratch.push_str(plan);
        self.scratch.push(':');
        self.scratch.push_str(key);
        let usage_id = self.scratch.as_str();
        match self.unflushed.get_mut(usage_id) {
            Some((tag, n)) if *tag == slot => *n += 1,
            Some((tag, n)) => {
                self.moved.push(Counted {
                    id: usage_id.into(),
                    slot: *tag,
                    count: *n,
                });
                (*tag, *n) = (slot, 1);
            }
            None => {
                self.unflushed.insert(usage_id.into(), (slot, 1));
            }
        }
    }

    /// Hands the counts so far, and the limits' `demand`, to the control thread.
    pub fn flush(&mut self, demand: Vec<(u64, u64)>) {
        let now = Instant::now();
        let span = now.duration_since(self.last_flush);
        self.last_flush = now;
        if self.unflushed.is_empty() && demand.is_empty() {
            return;
        }
        let mut usage = std::mem::take(&mut self.moved);
        usage.extend(
            self.unflushed
                .drain()
                .map(|(id, (slot, count))| Counted { id, slot, count }),
        );
        let batch = UsageBatch {
            worker: self.worker,
            span,
            usage,
            demand,
        };
        if let Some(sink) = &self.sink {
            let _ = sink.send(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_flush_once() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut c = UsageCounters::new(3, Some(tx));
        c.record("p", "k", None);
        c.record("p", "k", None);
        c.flush(vec![(7, 30)]);
        let b = rx.try_recv().unwrap();
        let counted = |id: &str, slot, count| Counted {
            id: id.into(),
            slot,
            count,
        };
        assert_eq!(
            (b.worker, b.usage, b.demand),
            (3, vec![counted("p:k", None, 2)], vec![(7, 30)])
        );
        c.flush(Vec::new());
        assert!(rx.try_recv().is_err());
        c.flush(vec![(7, 1)]);
        assert!(rx.try_recv().unwrap().usage.is_empty());
        // A usage id whose quota slot changed is counted apart, per slot.
        let mut slots = crate::dataplane::key_slots::Slots::default();
        let (a, b) = (slots.acquire(1, 1.0).0.tag(), slots.acquire(2, 1.0).0.tag());
        c.record("p", "k", Some(a));
        c.record("p", "k", Some(a));
        c.record("p", "k", Some(b));
        c.flush(Vec::new());
        let mut usage = rx.try_recv().unwrap().usage;
        usage.sort_by_key(|c| c.slot);
        assert_eq!(
            usage,
            vec![counted("p:k", Some(a), 2), counted("p:k", Some(b), 1)]
        );
    }
}
