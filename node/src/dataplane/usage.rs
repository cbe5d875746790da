//! A worker's API-key usage: counted per request on the worker alone and handed to the control
//! thread every [`FLUSH_EVERY`] as one batch, with the demand the worker's limits counted, which
//! the node reports through Raft. (Quota checks use the node-wide pending count of the key
//! table, not these.)

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
    /// Requests served per API key id.
    pub usage: Vec<(Box<str>, u64)>,
    /// Requests that asked for each rate limit (limit id, requests), admitted or not.
    pub demand: Vec<(u64, u64)>,
}

/// One worker's counters.
pub struct UsageCounters {
    worker: usize,
    unflushed: HashMap<Box<str>, u64>,
    sink: Option<Sender<UsageBatch>>,
    last_flush: Instant,
}

impl UsageCounters {
    /// Counters of worker `worker` that flush into `sink` (none: counted for quotas only).
    pub fn new(worker: usize, sink: Option<Sender<UsageBatch>>) -> Self {
        UsageCounters {
            worker,
            unflushed: HashMap::new(),
            sink,
            last_flush: Instant::now(),
        }
    }

    /// Counts one request of `key_id`.
    pub fn record(&mut self, key_id: &str) {
        match self.unflushed.get_mut(key_id) {
            Some(n) => *n += 1,
            None => {
                self.unflushed.insert(key_id.into(), 1);
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
        let batch = UsageBatch {
            worker: self.worker,
            span,
            usage: self.unflushed.drain().collect(),
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
        c.record("k");
        c.record("k");
        c.flush(vec![(7, 30)]);
        let b = rx.try_recv().unwrap();
        assert_eq!(
            (b.worker, b.usage, b.demand),
            (3, vec![("k".into(), 2)], vec![(7, 30)])
        );
        c.flush(Vec::new());
        assert!(rx.try_recv().is_err());
        c.flush(vec![(7, 1)]);
        assert!(rx.try_recv().unwrap().usage.is_empty());
    }
}
