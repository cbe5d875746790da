//! A worker's access-log buffer: records rendered in place, framed with the file they go
//! to, handed to the writer thread in batches without ever blocking the worker.
//!
//! Frame: file name length (u16 LE), file name, record length (u32 LE), record (no line end).

use super::AccessLogStats;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;

/// Hand the buffer over once it holds this much.
pub const FLUSH_BYTES: usize = 64 * 1024;
/// Longest record kept (a longer one is cut, as CloudWatch Logs cuts events).
pub const MAX_RECORD: usize = 256 * 1024;

/// A batch of framed records.
#[derive(Debug)]
pub struct Batch {
    /// The frames.
    pub bytes: Vec<u8>,
    /// How many records.
    pub records: u64,
}

/// One worker's records not yet handed over.
#[derive(Debug)]
pub struct WorkerAccessLog {
    buf: Vec<u8>,
    records: u64,
    tx: Option<SyncSender<Batch>>,
    stats: Arc<AccessLogStats>,
}

impl WorkerAccessLog {
    /// A buffer handing batches to `tx` (`None`: access logging is off on this node and
    /// records are counted as dropped).
    pub fn new(tx: Option<SyncSender<Batch>>, stats: Arc<AccessLogStats>) -> WorkerAccessLog {
        WorkerAccessLog {
            buf: Vec::new(),
            records: 0,
            tx,
            stats,
        }
    }

    /// Appends one record for `file`, rendered by `render`, and hands the buffer over when
    /// it is full.
    pub fn record(&mut self, file: &str, render: impl FnOnce(&mut Vec<u8>)) {
        let name = &file.as_bytes()[..file.len().min(usize::from(u16::MAX))];
        if self.buf.capacity() == 0 {
            self.buf.reserve(FLUSH_BYTES + 1024);
        }
        let start = self.buf.len();
        self.buf
            .extend_from_slice(&(name.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(name);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        render(&mut self.buf);
        let mut len = self.buf.len() - len_at - 4;
        if len > MAX_RECORD {
            self.buf.truncate(len_at + 4 + MAX_RECORD);
            len = MAX_RECORD;
        }
        debug_assert!(start < self.buf.len());
        self.buf[len_at..len_at + 4].copy_from_slice(&(len as u32).to_le_bytes());
        self.records += 1;
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Hands what is buffered to the writer (the worker's 100 ms tick, and a full buffer).
    /// Never waits: when the writer's queue is full the batch is dropped and counted.
    pub fn flush(&mut self) {
        if self.records == 0 {
            return;
        }
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(FLUSH_BYTES + 1024));
        let batch = Batch {
            bytes,
            records: std::mem::take(&mut self.records),
        };
        let Some(tx) = &self.tx else {
            self.stats.dropped.fetch_add(batch.records, Relaxed);
            return;
        };
        match tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(b)) | Err(TrySendError::Disconnected(b)) => {
                self.stats.dropped.fetch_add(b.records, Relaxed);
                // Keep the allocation for the next records.
                self.buf = b.bytes;
                self.buf.clear();
            }
        }
    }
}

/// Splits a batch into (file, record) pairs; a damaged frame ends the walk.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let n = u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?) as usize;
        let name = bytes.get(at + 2..at + 2 + n)?;
        let l = at + 2 + n;
        let len = u32::from_le_bytes(bytes.get(l..l + 4)?.try_into().ok()?) as usize;
        let rec = bytes.get(l + 4..l + 4 + len)?;
        at = l + 4 + len;
        Some((name, rec))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_full_queue_drops() {
        let stats = Arc::new(AccessLogStats::default());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let mut w = WorkerAccessLog::new(Some(tx), stats.clone());
        w.record("a.log", |o| o.extend_from_slice(b"one"));
        w.record("b.log", |o| o.extend_from_slice(b"two"));
        w.flush();
        w.record("a.log", |o| o.extend_from_slice(b"three"));
        // The queue holds one batch: this one is dropped, not waited for.
        w.flush();
        assert_eq!(stats.dropped.load(Relaxed), 1);
        let b = rx.try_recv().unwrap();
        assert_eq!(b.records, 2);
        let got: Vec<_> = frames(&b.bytes).collect();
        assert_eq!(
            got,
            vec![(&b"a.log"[..], &b"one"[..]), (&b"b.log"[..], &b"two"[..])]
        );
        // A full buffer hands itself over.
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let mut w = WorkerAccessLog::new(Some(tx), stats);
        for _ in 0..(FLUSH_BYTES / 100 + 1) {
            w.record("x", |o| o.extend_from_slice(&[b'y'; 100]));
        }
        assert!(rx.try_recv().is_ok());
        // Damaged frames stop the walk instead of reading past the end.
        assert_eq!(frames(&[5, 0, b'a']).count(), 0);
    }
}
