//! A worker's side of throttling: its own bucket for each limit it has seen, and every
//! [`REBALANCE_NS`] an exchange of demand with the other workers of the node through the
//! limit's [`DemandSlot`](super::cluster_limits::DemandSlot)s, from which it sets its own part
//! of the node's share of the limit (see [`super::limiter`] and [`super::cluster_limits`]).
//!
//! The request path touches only this worker's map and bucket. The shared slots (and the node's
//! share) are written and read once per interval per limit, by the worker itself, so no lock and
//! no per-request atomic is involved. Each slot carries the interval number it was written in; a
//! worker that has gone quiet stops counting once its report is two intervals old. The demand a
//! worker counted is also kept for the node's next report to the cluster
//! ([`WorkerLimits::take_demand`]).

use super::limiter::{Bucket, SHARE_FLOOR};
use super::routing::ThrottleSpec;
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
    /// Requests since the last [`WorkerLimits::take_demand`] (counted per request, so that
    /// the node's reports are exact for the time they cover).
    unreported: u64,
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

type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// One worker's buckets.
pub struct WorkerLimits {
    index: usize,
    workers: usize,
    limits: IdMap<Local>,
    /// Demand per bucket-less limit (quotas) since the last [`WorkerLimits::take_demand`].
    demand: IdMap<u64>,
    /// The window of the last sweep for idle limits.
    swept: u64,
}

/// Windows (of [`REBALANCE_NS`]) after which a limit no request asked for is forgotten: 60 s.
pub const FORGET_AFTER_WINDOWS: u64 = 600;

const DEMAND_BITS: u32 = 40;
const DEMAND_MASK: u64 = (1 << DEMAND_BITS) - 1;
/// The window number kept with a demand report: its low 24 bits (wraps every ~19 days).
const WINDOW_MASK: u64 = (1 << (64 - DEMAND_BITS)) - 1;

/// Whether a slot written in the window tagged `tag` (see [`WINDOW_MASK`]) is from `window`
/// or one of the two before it, across the tag's wrap.
fn recent(tag: u64, window: u64) -> bool {
    window.wrapping_sub(tag) & WINDOW_MASK <= 2
}

impl WorkerLimits {
    /// Buckets for worker `index` of `workers`.
    pub fn new(index: usize, workers: usize) -> Self {
        WorkerLimits {
            index,
            workers: workers.max(1),
            limits: HashMap::default(),
            demand: HashMap::default(),
            swept: 0,
        }
    }

    /// Counts a request's demand for a limit that has no bucket here (a quota).
    pub fn note_demand(&mut self, id: u64) {
        *self.demand.entry(id).or_insert(0) += 1;
    }

    /// The demand counted per limit (limit id, requests) since the last call, for the node's
    /// report to the cluster.
    pub fn take_demand(&mut self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = self.demand.drain().collect();
        for (id, l) in &mut self.limits {
            if l.unreported > 0 {
                out.push((*id, std::mem::take(&mut l.unreported)));
            }
        }
        self.forget_idle(now_ns());
        out
    }

    /// Drops the buckets of limits no request asked for in the last [`FORGET_AFTER_WINDOWS`]
    /// windows: limits of changed or deleted plans and keys would otherwise pile up for good
    /// (a changed limit has a new id). A limit asked for again starts with a full bucket, which
    /// after that long idle it would have refilled to anyway at any rate above burst / 60 s.
    fn forget_idle(&mut self, now_ns: u64) {
        let window = now_ns / REBALANCE_NS;
        if window.saturating_sub(self.swept) < FORGET_AFTER_WINDOWS {
            return;
        }
        self.swept = window;
        self.limits
            .retain(|_, l| window.saturating_sub(l.window) < FORGET_AFTER_WINDOWS);
    }

    /// Whether a request under `spec` may pass now (and takes a token if so).
    pub fn admit(&mut self, spec: &ThrottleSpec, now_ns: u64) -> bool {
        let ok = self.check(spec, now_ns);
        if ok {
            self.take(spec);
        }
        ok
    }

    /// Whether `spec` has a token for a request now, without taking it; the request counts as
    /// demand for `spec` either way. A request under several limits is checked against all of
    /// them first and then [`WorkerLimits::take`]s from each, so one refused by a later limit
    /// costs the earlier ones nothing.
    pub fn check(&mut self, spec: &ThrottleSpec, now_ns: u64) -> bool {
        let local = self.rebalanced(spec, now_ns);
        local.unreported += 1;
        local.bucket.note_demand();
        local.bucket.ready(now_ns)
    }

    /// Takes the token [`WorkerLimits::check`] found for `spec`.
    pub fn take(&mut self, spec: &ThrottleSpec) {
        if let Some(local) = self.limits.get_mut(&spec.id) {
            local.bucket.take_token();
        }
    }

    /// The worker's bucket of `spec`, made on first use and given its share of the limit anew
    /// at the start of each rebalance window.
    fn rebalanced(&mut self, spec: &ThrottleSpec, now_ns: u64) -> &mut Local {
        let n = self.workers as f64;
        let window = now_ns / REBALANCE_NS;
        let local = self.limits.entry(spec.id).or_insert_with(|| {
            let node = spec.state.node_share();
            Local {
                bucket: Bucket::new(spec.rate * node / n, capacity(spec.burst, node / n), now_ns),
                window,
                unreported: 0,
            }
        });
        if window > local.window {
            let idle = window > local.window + 1;
            local.window = window;
            let mine = local.bucket.take_demand().min(DEMAND_MASK);
            let slots = spec.state.demand_slots(self.workers);
            slots[self.index % slots.len()].0.store(
                ((window & WINDOW_MASK) << DEMAND_BITS) | mine,
                Ordering::Relaxed,
            );
            let mut total = 0u64;
            for slot in slots {
                let v = slot.0.load(Ordering::Relaxed);
                if recent(v >> DEMAND_BITS, window) {
                    total += v & DEMAND_MASK;
                }
            }
            let share = if total == 0 {
                1.0 / n
            } else {
                SHARE_FLOOR / n + (1.0 - SHARE_FLOOR) * mine as f64 / total as f64
            };
            let share = share * spec.state.node_share();
            let (rate, burst) = (spec.rate * share, capacity(spec.burst, share));
            if idle {
                local.bucket.reshape_after_idle(rate, burst, now_ns);
            } else {
                local.bucket.reshape(rate, burst, now_ns);
            }
        }
        local
    }
}

/// The capacity of one worker's bucket holding `share` of a limit whose burst is `burst`: its
/// part of the burst, but never less than one whole token while the limit admits anything at
/// all. A part below one token could never fill to the token a request takes, so a small
/// burst split over many cores and nodes (burst 2 over 3 nodes of 2 workers: a third of a
/// token each) would refuse every request. The price is a larger burst: each of the cluster's
/// C cores may hold up to one token more than its part, so the most admitted at once is at
/// most `burst + C` (docs/LIMITS.md). A burst below 1 admits nothing, as AWS's burst 0.
pub fn capacity(burst: f64, share: f64) -> f64 {
    if burst < 1.0 {
        burst.max(0.0)
    } else {
        (burst * share).max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::cluster_limits::ClusterLimits;

    fn spec(rate: f64, burst: f64) -> ThrottleSpec {
        ThrottleSpec::new(7, rate, burst, &ClusterLimits::default())
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

    /// The node's share of a limit scales every worker's bucket, and the demand the workers
    /// counted is handed out once for the node's report.
    #[test]
    fn the_node_share_scales_the_workers_and_demand_is_reported() {
        use tollgate_proto::LimitDemand;
        let limits = ClusterLimits::new(1);
        limits.set_members(2);
        let s = ThrottleSpec::new(7, 1000.0, 100.0, &limits);
        let mut w = WorkerLimits::new(0, 1);
        // Another node reports all the demand: this one keeps only the floor.
        let now = std::time::Instant::now();
        limits.apply_report(
            2,
            1000,
            &[LimitDemand {
                limit_id: 7,
                requests: 10_000,
            }],
            now,
        );
        limits.apply_report(
            1,
            1000,
            &[LimitDemand {
                limit_id: 7,
                requests: 0,
            }],
            now,
        );
        let node_share = s.state.node_share();
        assert!(node_share < 0.02, "{node_share}");
        let mut admitted = 0;
        for window in 0..10u64 {
            for k in 0..1000u64 {
                if w.admit(&s, window * REBALANCE_NS + k * 100_000) {
                    admitted += 1;
                }
            }
        }
        // 1 s at 10 kHz: about node_share × (rate + burst), far below the limit's 1000.
        assert!(admitted <= 30, "{admitted}");
        let demand: u64 = w.take_demand().into_iter().map(|(_, n)| n).sum();
        assert_eq!(demand, 10_000, "every request counts");
        assert!(w.take_demand().is_empty());
    }

    /// A burst smaller than the number of buckets it is split over: each part is under one
    /// token, yet requests pass at the limit's rate (each bucket holds at least one token).
    /// A request refused by a later limit takes no token from an earlier one, and counts as
    /// demand for both.
    #[test]
    fn checking_before_taking_costs_a_refused_request_nothing() {
        let plan = spec(0.001, 5.0); // five tokens, next to no refill
        let stage = ThrottleSpec::new(8, 0.001, 0.0, &ClusterLimits::default()); // refuses all
        let mut w = WorkerLimits::new(0, 1);
        for _ in 0..20 {
            assert!(w.check(&plan, 1_000));
            assert!(!w.check(&stage, 1_000));
        }
        // The plan's five tokens are all still there.
        let admitted = (0..20).filter(|_| w.admit(&plan, 2_000)).count();
        assert_eq!(admitted, 5);
        let demand: std::collections::BTreeMap<u64, u64> = w.take_demand().into_iter().collect();
        assert_eq!(demand.get(&7), Some(&40));
        assert_eq!(demand.get(&8), Some(&20));
    }

    #[test]
    fn limits_no_request_asked_for_in_a_minute_are_forgotten() {
        let (a, b) = (
            spec(10.0, 10.0),
            ThrottleSpec::new(8, 10.0, 10.0, &ClusterLimits::default()),
        );
        let mut w = WorkerLimits::new(0, 1);
        let t0 = 1_000 * REBALANCE_NS;
        assert!(w.admit(&a, t0));
        assert!(w.admit(&b, t0));
        // b keeps being asked for; a goes quiet.
        let later = t0 + (FORGET_AFTER_WINDOWS - 1) * REBALANCE_NS;
        assert!(w.admit(&b, later));
        w.forget_idle(later + 2 * REBALANCE_NS);
        assert!(!w.limits.contains_key(&a.id), "a was idle for a minute");
        assert!(w.limits.contains_key(&b.id));
        // Asked for again, a starts afresh.
        assert!(w.admit(&a, later + 3 * REBALANCE_NS));
    }

    #[test]
    fn demand_windows_are_told_apart_across_the_tag_wrap() {
        let w = WINDOW_MASK + 5; // ~19 days after start: the tag has wrapped
        assert!(recent(w & WINDOW_MASK, w));
        assert!(recent((w - 2) & WINDOW_MASK, w));
        assert!(!recent((w - 3) & WINDOW_MASK, w));
        assert!(recent(WINDOW_MASK, WINDOW_MASK + 1), "just before the wrap");
        assert!(!recent(10, 5), "a tag from the future is not recent");
        // Two workers sharing a limit long after start still split it by demand.
        let s = spec(1000.0, 100.0);
        let mut ws = [WorkerLimits::new(0, 2), WorkerLimits::new(1, 2)];
        let base = (1u64 << 24) * REBALANCE_NS;
        let mut admitted = 0;
        for window in 0..10u64 {
            for k in 0..1000u64 {
                let now = base + window * REBALANCE_NS + k * 100_000;
                if ws[0].admit(&s, now) {
                    admitted += 1;
                }
                if k % 500 == 0 {
                    ws[1].admit(&s, now);
                }
            }
        }
        // ~1000/s for the busy worker, not the half a 1/W split would leave it.
        assert!(admitted > 800, "{admitted}");
    }

    #[test]
    fn a_small_burst_split_over_nodes_and_workers_still_admits_at_the_rate() {
        use tollgate_proto::LimitDemand;
        let limits = ClusterLimits::new(1);
        limits.set_members(3);
        // rate 2/s, burst 2; this node has a third of the demand, and two workers.
        let s = ThrottleSpec::new(9, 2.0, 2.0, &limits);
        let now = std::time::Instant::now();
        for node in 1..=3 {
            let demand = [LimitDemand {
                limit_id: 9,
                requests: 100,
            }];
            limits.apply_report(node, 1000, &demand, now);
        }
        let node_share = s.state.node_share();
        assert!((0.3..0.37).contains(&node_share), "{node_share}");
        let mut w = [WorkerLimits::new(0, 2), WorkerLimits::new(1, 2)];
        // 30 s of both workers asked 100 times a second each.
        let mut admitted = 0u64;
        for step in 0..3000u64 {
            let now = step * 10_000_000;
            for worker in &mut w {
                if worker.admit(&s, now) {
                    admitted += 1;
                }
            }
        }
        // This node's part of 2/s for 30 s is ~20, plus the first tokens; without the floor of
        // one token per bucket (2 × 0.33 / 2 = 0.33 each) it would be 0.
        assert!((15..=30).contains(&admitted), "{admitted}");
        assert_eq!(capacity(2.0, 0.16), 1.0);
        assert_eq!(capacity(100.0, 0.5), 50.0);
        assert_eq!(capacity(0.0, 1.0), 0.0);
    }
}
