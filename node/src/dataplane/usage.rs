//! A worker's API-key usage: counted per request on the worker alone and handed to the control
//! thread every [`FLUSH_EVERY`] as one batch, with the demand the worker's limits counted, which
//! the node reports through Raft. (Quota checks use the node-wide pending count of the key
//! table, not these.)

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// How often a worker hands its counts to the control thread.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// What a worker hands the control thread every [`FLUSH_EVERY`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UsageBatch {
    /// Requests served per API key id.
    pub usage: Vec<(Box<str>, u64)>,
    /// Requests that asked for each rate limit (limit id, requests), admitted or not.
    pub demand: Vec<(u64, u64)>,
}

/// One worker's counters.
pub struct UsageCounters {
    unflushed: HashMap<Box<str>, u64>,
    sink: Option<Sender<UsageBatch>>,
}

impl UsageCounters {
    /// Counters that flush into `sink` (none: counted for quotas only).
    pub fn new(sink: Option<Sender<UsageBatch>>) -> Self {
        UsageCounters {
            unflushed: HashMap::new(),
            sink,
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
        if self.unflushed.is_empty() && demand.is_empty() {
            return;
        }
        let batch = UsageBatch {
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
        let mut c = UsageCounters::new(Some(tx));
        c.record("k");
        c.record("k");
        c.flush(vec![(7, 30)]);
        assert_eq!(
            rx.try_recv().unwrap(),
            UsageBatch {
                usage: vec![("k".into(), 2)],
                demand: vec![(7, 30)]
            }
        );
        c.flush(Vec::new());
        assert!(rx.try_recv().is_err());
        c.flush(vec![(7, 1)]);
        assert!(rx.try_recv().unwrap().usage.is_empty());
    }
}
