//! A worker's API-key usage: counted per request on the worker alone and handed to the control
//! thread every [`FLUSH_EVERY`] as one batch, which reports it through Raft. (Quota checks use
//! the compiled key table's node-wide count, not these.)

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// How often a worker hands its counts to the control thread.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Requests per API key id.
pub type UsageBatch = Vec<(Box<str>, u64)>;

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

    /// Hands the counts so far to the control thread.
    pub fn flush(&mut self) {
        if self.unflushed.is_empty() {
            return;
        }
        let batch: UsageBatch = self.unflushed.drain().collect();
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
        c.flush();
        assert_eq!(rx.try_recv().unwrap(), vec![("k".into(), 2)]);
        c.flush();
        assert!(rx.try_recv().is_err());
    }
}
