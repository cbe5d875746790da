//! A worker's cache of authorizer results, keyed by the authorizer's cache id and the
//! request's identity values ([`key`]), each entry living for the authorizer's TTL. Only the
//! answer is cached, never the verdict: the phase evaluates the cached policy against each
//! request's own method ARN, so a result cached for one method admits another only when its
//! policy allows that one too.
//!
//! Bounded: at most [`MAX_ENTRIES`] per worker. A full cache first drops what has expired,
//! then the oldest insertions (first in, first out). A lookup allocates nothing.

use super::answer::AuthorizerResult;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Most results one worker keeps.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
struct Entry {
    expires_ns: u64,
    result: Rc<AuthorizerResult>,
    /// Which insertion this is (matched against the eviction queue).
    seq: u64,
}

/// The cache.
#[derive(Debug)]
pub struct AuthorizerCache {
    entries: HashMap<Box<[u8]>, Entry>,
    /// Insertion order: (key, seq); a key re-inserted leaves a stale pair behind, skipped.
    order: VecDeque<(Box<[u8]>, u64)>,
    next_seq: u64,
    capacity: usize,
}

impl Default for AuthorizerCache {
    fn default() -> Self {
        AuthorizerCache::with_capacity(MAX_ENTRIES)
    }
}

/// Writes the cache key of `cache_id` and the identity `values` into `out` (cleared first):
/// the id, then each value with its length, so no two lists of values share a key.
pub fn key<'v>(out: &mut Vec<u8>, cache_id: u64, values: impl IntoIterator<Item = &'v [u8]>) {
    key_start(out, cache_id);
    for v in values {
        key_push(out, v);
    }
}

/// Starts a key in `out` (cleared first): the authorizer's cache id.
pub fn key_start(out: &mut Vec<u8>, cache_id: u64) {
    out.clear();
    out.extend_from_slice(&cache_id.to_le_bytes());
}

/// Adds one identity value to a key, with its length.
pub fn key_push(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

impl AuthorizerCache {
    /// An empty cache of at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> AuthorizerCache {
        AuthorizerCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            capacity: capacity.max(1),
        }
    }

    /// The live result under `key` at `now_ns`.
    pub fn get(&self, key: &[u8], now_ns: u64) -> Option<&Rc<AuthorizerResult>> {
        self.entries
            .get(key)
            .filter(|e| now_ns < e.expires_ns)
            .map(|e| &e.result)
    }

    /// Stores `result` under `key` until `expires_ns`.
    pub fn put(&mut self, key: &[u8], result: Rc<AuthorizerResult>, now_ns: u64, expires_ns: u64) {
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| now_ns < e.expires_ns);
            while self.entries.len() >= self.capacity {
                let Some((k, seq)) = self.order.pop_front() else {
                    break;
                };
                if self.entries.get(&k).is_some_and(|e| e.seq == seq) {
                    self.entries.remove(&k);
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let key: Box<[u8]> = key.into();
        self.order.push_back((key.clone(), seq));
        self.entries.insert(
            key,
            Entry {
                expires_ns,
                result,
                seq,
            },
        );
        // Stale pairs (keys re-inserted or dropped) are swept when they outnumber the live.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order
                .retain(|(k, seq)| entries.get(k).is_some_and(|e| e.seq == *seq));
        }
    }

    /// How many results are held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(principal: &str) -> Rc<AuthorizerResult> {
        let answer = format!(
            r#"{{"principalId":"{principal}","policyDocument":{{"Statement":[{{"Effect":"Allow","Action":"*","Resource":"*"}}]}}}}"#
        );
        Rc::new(super::super::answer::parse(answer.as_bytes()).unwrap())
    }

    fn k(id: u64, values: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        key(&mut out, id, values.iter().map(|v| v.as_bytes()));
        out
    }

    #[test]
    fn keys_tell_value_lists_apart() {
        for (a, b) in [
            ((1, vec!["ab", "c"]), (1, vec!["a", "bc"])),
            ((1, vec!["a"]), (2, vec!["a"])),
            ((1, vec!["", "a"]), (1, vec!["a", ""])),
            ((1, vec!["a"]), (1, vec!["a", ""])),
        ] {
            assert_ne!(k(a.0, &a.1), k(b.0, &b.1), "{a:?} {b:?}");
        }
        assert_eq!(k(1, &["x", "y"]), k(1, &["x", "y"]));
    }

    /// Table: (operation, key, now, expected principal or none).
    #[test]
    fn entries_live_for_their_ttl_and_the_oldest_go_first() {
        let mut c = AuthorizerCache::with_capacity(2);
        enum Op {
            Put(&'static str, u64, u64, &'static str),
            Get(&'static str, u64, Option<&'static str>),
        }
        use Op::{Get, Put};
        for (i, op) in [
            Put("a", 0, 100, "A"),
            Get("a", 50, Some("A")),
            Get("a", 100, None), // expired at its TTL
            Get("b", 0, None),
            Put("a", 100, 300, "A2"), // replaced
            Get("a", 150, Some("A2")),
            Put("b", 150, 400, "B"),
            Put("c", 160, 400, "C"), // full: the oldest (a) goes
            Get("a", 170, None),
            Get("b", 170, Some("B")),
            Get("c", 170, Some("C")),
            Put("b", 180, 200, "B2"), // re-insert: nothing evicted
            Get("c", 190, Some("C")),
            Put("d", 250, 500, "D"), // b expired: swept first, c kept
            Get("c", 260, Some("C")),
            Get("d", 260, Some("D")),
        ]
        .into_iter()
        .enumerate()
        {
            match op {
                Put(key_, now, exp, p) => c.put(&k(1, &[key_]), result(p), now, exp),
                Get(key_, now, want) => assert_eq!(
                    c.get(&k(1, &[key_]), now)
                        .map(|r| r.principal_id.to_string()),
                    want.map(String::from),
                    "step {i}"
                ),
            }
            assert!(c.len() <= 2, "step {i}");
        }
    }

    #[test]
    fn stays_bounded_under_churn() {
        let mut c = AuthorizerCache::with_capacity(100);
        let r = result("p");
        for i in 0..10_000u64 {
            c.put(&k(i % 7, &[&i.to_string()]), r.clone(), i, i + 1_000_000);
            c.put(&k(9, &["same"]), r.clone(), i, i + 1_000_000);
        }
        assert!(c.len() <= 100);
        assert!(c.order.len() <= 200);
        assert!(c.get(&k(9, &["same"]), 10_000).is_some());
    }
}
