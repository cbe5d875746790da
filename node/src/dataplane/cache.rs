//! The per-stage response cache, one per worker: no locks, no sharing. A stage's memory budget
//! (`cacheClusterSize`) is split evenly across the workers; entries expire after the method's
//! TTL and are evicted oldest-first when the budget is full. Flushing a stage bumps its cache
//! epoch, which is part of every key, so older entries are never found again and age out.

use super::http_integration::BackendAnswer;
use std::collections::{HashMap, VecDeque};
use std::ops::Range;

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
    /// An HTTP (non-proxy) backend's answer as the cache keeps it: what AWS caches is the
    /// endpoint's response ("API Gateway caches responses from your endpoint … then responds
    /// to the request by looking up the endpoint response from the cache instead of making a
    /// request to your endpoint": "Cache settings for REST APIs in API Gateway",
    /// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-caching.html),
    /// so a hit is mapped through the integration response anew for each request (its
    /// `$context.requestId`, `Accept`, parameters), as a live answer is.
    pub fn endpoint(answer: &BackendAnswer<'_>) -> CachedResponse {
        let mut header_block = Vec::new();
        for (n, v) in answer.headers {
            let (Some(n), Some(v)) = (answer.head.get(n.clone()), answer.head.get(v.clone()))
            else {
                continue;
            };
            header_block.extend_from_slice(n);
            header_block.extend_from_slice(b": ");
            header_block.extend_from_slice(v);
            header_block.extend_from_slice(b"\r\n");
        }
        CachedResponse {
            status: answer.status,
            header_block,
            body: answer.body.to_vec(),
        }
    }

    /// The stored header lines as (name, value) ranges into [`Self::header_block`], for a
    /// [`BackendAnswer`] read from the cache.
    pub fn header_ranges(&self) -> Vec<(Range<usize>, Range<usize>)> {
        let b = &self.header_block;
        let mut out = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let end = b[at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(b.len(), |p| at + p);
            if let Some(colon) = b[at..end].iter().position(|&c| c == b':') {
                let name = at..at + colon;
                let mut v = at + colon + 1;
                while v < end && b[v] == b' ' {
                    v += 1;
                }
                out.push((name, v..end));
            }
            at = end + 2;
        }
        out
    }

    /// The answer as the HTTP integration's response mapping reads a backend's.
    pub fn as_answer<'s>(
        &'s self,
        headers: &'s [(Range<usize>, Range<usize>)],
    ) -> BackendAnswer<'s> {
        BackendAnswer {
            status: self.status,
            head: &self.header_block,
            headers,
            body: &self.body,
        }
    }

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

    /// An endpoint answer stored and read back gives the mapping the same status, headers
    /// and body.
    #[test]
    fn endpoint_answers_round_trip() {
        let head = b"Content-Type: application/json\r\nX-Backend:  echo\r\nX-Empty:\r\n";
        let headers = [(0..12, 14..30), (32..41, 44..48), (50..57, 58..58)];
        let live = BackendAnswer {
            status: 201,
            head,
            headers: &headers,
            body: b"{\"a\": 1}",
        };
        let stored = CachedResponse::endpoint(&live);
        let ranges = stored.header_ranges();
        let back = stored.as_answer(&ranges);
        assert_eq!(back.status, 201);
        assert_eq!(back.body, live.body);
        let pairs = |a: &BackendAnswer| -> Vec<(Vec<u8>, Vec<u8>)> {
            a.headers
                .iter()
                .map(|(n, v)| (a.head[n.clone()].to_vec(), a.head[v.clone()].to_vec()))
                .collect()
        };
        assert_eq!(pairs(&back), pairs(&live));
        assert_eq!(
            back.header_values("x-backend").collect::<Vec<_>>(),
            vec![&b"echo"[..]]
        );
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
