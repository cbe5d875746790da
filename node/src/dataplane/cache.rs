//! The per-stage response cache, one per worker: no locks, no sharing. A stage's memory budget
//! (`cacheClusterSize`) is split evenly across the workers; entries expire after the method's
//! TTL and are evicted oldest-first when the budget is full. Flushing a stage bumps its cache
//! epoch, which is part of every key, so older entries are never found again and age out.

use std::collections::{HashMap, VecDeque};

/// Largest body cached (API Gateway does not cache responses over 1 MB).
pub const MAX_CACHED_BODY: usize = 1 << 20;

/// A cached answer: status, end-to-end headers as lines, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    /// HTTP status.
    pub status: u16,
    /// Header lines (`Name: value\r\n`), hop-by-hop and framing headers removed.
    pub header_block: Vec<u8>,
    /// The body.
    pub body: Vec<u8>,
}

impl CachedResponse {
    fn size(&self, key_len: usize) -> usize {
        self.header_block.len() + self.body.len() + key_len + 64
    }
}

struct Entry {
    key: Box<[u8]>,
    expires_ns: u64,
    response: CachedResponse,
}

/// One stage's cache on one worker.
#[derive(Default)]
pub struct StageCache {
    budget: usize,
    used: usize,
    entries: HashMap<u64, Entry>,
    order: VecDeque<u64>,
}

impl StageCache {
    fn remove(&mut self, h: u64) {
        if let Some(e) = self.entries.remove(&h) {
            self.used -= e.response.size(e.key.len());
        }
    }
}

/// A worker's caches, by stage.
#[derive(Default)]
pub struct WorkerCache {
    stages: HashMap<u64, StageCache>,
}

fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl WorkerCache {
    /// The live entry for `key` in `stage`, if any.
    pub fn get(&mut self, stage: u64, key: &[u8], now_ns: u64) -> Option<&CachedResponse> {
        let sc = self.stages.get_mut(&stage)?;
        let h = hash(key);
        let live = match sc.entries.get(&h) {
            Some(e) => &*e.key == key && e.expires_ns > now_ns,
            None => return None,
        };
        if !live {
            sc.remove(h);
            return None;
        }
        sc.entries.get(&h).map(|e| &e.response)
    }

    /// Stores `response` under `key` in `stage`, whose share of the budget on this worker is
    /// `budget` bytes; evicts oldest entries to make room. Too-large answers are not stored.
    pub fn put(
        &mut self,
        stage: u64,
        budget: usize,
        key: &[u8],
        response: CachedResponse,
        expires_ns: u64,
    ) {
        let size = response.size(key.len());
        if response.body.len() > MAX_CACHED_BODY || size > budget {
            return;
        }
        let sc = self.stages.entry(stage).or_default();
        sc.budget = budget;
        let h = hash(key);
        sc.remove(h);
        while sc.used + size > sc.budget {
            match sc.order.pop_front() {
                Some(old) => sc.remove(old),
                None => break,
            }
        }
        sc.used += size;
        sc.order.push_back(h);
        sc.entries.insert(
            h,
            Entry {
                key: key.into(),
                expires_ns,
                response,
            },
        );
        // `order` may hold hashes of entries already replaced or expired; keep it bounded.
        if sc.order.len() > 2 * sc.entries.len() + 64 {
            let live: &HashMap<u64, Entry> = &sc.entries;
            sc.order.retain(|h| live.contains_key(h));
        }
    }
}

/// The memory budget of a `cacheClusterSize` (gigabytes, as AWS names the sizes), in bytes.
pub fn cluster_size_bytes(size: Option<&str>) -> usize {
    let gb = size.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.5);
    (gb.max(0.0) * (1u64 << 30) as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(body: &str) -> CachedResponse {
        CachedResponse {
            status: 200,
            header_block: b"Content-Type: text/plain\r\n".to_vec(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn hits_expire_and_evict() {
        let mut c = WorkerCache::default();
        c.put(1, 10_000, b"a", resp("A"), 100);
        assert_eq!(
            c.get(1, b"a", 50).map(|r| r.body.clone()),
            Some(b"A".to_vec())
        );
        assert!(c.get(2, b"a", 50).is_none());
        assert!(c.get(1, b"b", 50).is_none());
        assert!(c.get(1, b"a", 100).is_none(), "expired");
        // Budget for about two entries: the oldest goes first.
        let one = resp("x").size(1);
        let mut c = WorkerCache::default();
        for k in [b"1", b"2", b"3"] {
            c.put(1, 2 * one, k, resp("x"), u64::MAX);
        }
        assert!(c.get(1, b"1", 0).is_none());
        assert!(c.get(1, b"2", 0).is_some() && c.get(1, b"3", 0).is_some());
        // Over 1 MB: not stored.
        c.put(
            1,
            usize::MAX,
            b"big",
            resp(&"y".repeat(MAX_CACHED_BODY + 1)),
            u64::MAX,
        );
        assert!(c.get(1, b"big", 0).is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(cluster_size_bytes(Some("0.5")), 1 << 29);
        assert_eq!(cluster_size_bytes(None), 1 << 29);
        assert_eq!(
            cluster_size_bytes(Some("6.1")),
            (6.1 * (1u64 << 30) as f64) as usize
        );
    }
}
