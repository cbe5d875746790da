//! A worker's side of throttling: its own bucket for each limit it has seen, and every
//! [`REBALANCE_NS`] an exchange of demand with the other workers of the node through the
//! limit's [`DemandSlot`]s, from which it sets its own share (see [`super::limiter`]).
//!
//! The request path touches only this worker's map and bucket. The shared slots are written and
//! read once per interval per limit, by the worker itself, so no lock and no per-request atomic
//! is involved. Each slot carries the interval number it was written in; a worker that has gone
//! quiet stops counting once its report is two intervals old.

use super::limiter::{Bucket, SHARE_FLOOR};
use super::routing::{ThrottleSpec, DEMAND_SLOTS};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

/// How often a worker re-reads the node's demand for a limit.
pub const REBALANCE_NS: u64 = 100_000_000;

/// Nanoseconds since the process's first call: one clock for every worker, so interval numbers
/// agree.
pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

struct Local {
    bucket: Bucket,
    window: u64,
}

/// Hashes a limit id, which is already a 64-bit hash: used as is.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One worker's buckets.
pub struct WorkerLimits {
    index: usize,
    workers: usize,
    limits: HashMap<u64, Local, std::hash::BuildHasherDefault<IdHasher>>,
}

const DEMAND_BITS: u32 = 40;
const DEMAND_MASK: u64 = (1 << DEMAND_BITS) - 1;

impl WorkerLimits {
    /// Buckets for worker `index` of `workers`.
    pub fn new(index: usize, workers: usize) -> Self {
        WorkerLimits {
            index,
            workers: workers.max(1),
            limits: HashMap::default(),
        }
    }

    /// Whether a request under `spec` may pass now (and takes a token if so).
    pub fn admit(&mut self, spec: &ThrottleSpec, now_ns: u64) -> bool {
        let n = self.workers as f64;
        let window = now_ns / REBALANCE_NS;
        let local = self.limits.entry(spec.id).or_insert_with(|| Local {
            bucket: Bucket::new(spec.rate / n, spec.burst / n, now_ns),
            window,
        });
        if window > local.window {
            let idle = window > local.window + 1;
            local.window = window;
            let mine = local.bucket.take_demand().min(DEMAND_MASK);
            let slot = &spec.demand[self.index % DEMAND_SLOTS];
            slot.0
                .store((window << DEMAND_BITS) | mine, Ordering::Relaxed);
            let mut total = 0u64;
            for i in 0..self.workers.min(DEMAND_SLOTS) {
                let v = spec.demand[i].0.load(Ordering::Relaxed);
                if (v >> DEMAND_BITS) + 2 >= window {
                    total += v & DEMAND_MASK;
                }
            }
            let share = if total == 0 {
                1.0 / n
            } else {
                SHARE_FLOOR / n + (1.0 - SHARE_FLOOR) * mine as f64 / total as f64
            };
            let (rate, burst) = (spec.rate * share, spec.burst * share);
            if idle {
                local.bucket.reshape_after_idle(rate, burst, now_ns);
            } else {
                local.bucket.reshape(rate, burst, now_ns);
            }
        }
        local.bucket.try_take(now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::routing::DemandSlot;
    use std::sync::Arc;

    fn spec(rate: f64, burst: f64) -> ThrottleSpec {
        ThrottleSpec {
            id: 7,
            rate,
            burst,
            demand: Arc::new(std::array::from_fn(|_| DemandSlot::default())),
        }
    }

    /// Two workers, all traffic on worker 0: after the first exchange worker 0 holds nearly the
    /// whole node rate; then traffic moves to worker 1, which takes it over.
    #[test]
    fn workers_exchange_demand_and_take_over_the_rate() {
        let s = spec(1000.0, 100.0);
        let mut w = [WorkerLimits::new(0, 2), WorkerLimits::new(1, 2)];
        let mut per_window = Vec::new();
        for window in 0..20u64 {
            let hot = if window < 10 { 0 } else { 1 };
            let cold = 1 - hot;
            let mut admitted = 0;
            for k in 0..1000u64 {
                let now = window * REBALANCE_NS + k * 100_000;
                if w[hot].admit(&s, now) {
                    admitted += 1;
                }
                // The cold worker sees a trickle, so it keeps reporting.
                if k % 500 == 0 {
                    w[cold].admit(&s, now);
                }
            }
            per_window.push(admitted);
        }
        // Converged windows admit ≥ 85% of the 100 requests a 100 ms window allows.
        for (i, a) in per_window.iter().enumerate() {
            if !matches!(i, 0 | 1 | 10 | 11) {
                assert!(*a >= 85, "window {i}: {a} ({per_window:?})");
            }
            assert!(*a <= 100 + 100, "window {i}: {a}");
        }
    }

    /// A small limit split over two workers: after a quiet second, the worker that gets the
    /// next request can admit it even though its old share alone would not have refilled.
    #[test]
    fn a_small_split_limit_recovers_after_a_quiet_spell() {
        let s = spec(1.0, 2.0);
        let mut w = [WorkerLimits::new(0, 2), WorkerLimits::new(1, 2)];
        for k in 0..10u64 {
            w[(k % 2) as usize].admit(&s, k * 1_000_000);
        }
        assert!(w[0].admit(&s, 1_100_000_000));
    }

    #[test]
    fn a_lone_worker_gets_the_whole_limit() {
        let s = spec(10.0, 10.0);
        let mut w = WorkerLimits::new(0, 1);
        let admitted = (0..100).filter(|_| w.admit(&s, 0)).count();
        assert_eq!(admitted, 10);
    }
}
