//! Token buckets split across cores, with shares that follow demand. Pure logic: time comes in
//! as nanoseconds, so the buckets and the share controller are tested in virtual time.
//!
//! A limit of rate `r` and burst `b` is split into one bucket per core; core `i` holds share
//! `s_i` (the shares sum to 1) and admits at `r·s_i` with burst `b·s_i`. A core owns its bucket
//! outright: admitting a request touches no shared memory. Every rebalance interval the control
//! side reads each core's demand (requests attempted, admitted or not) and sets new shares
//! proportional to demand, with a floor so an idle core can start serving at once. Unused tokens
//! are not carried across a share change beyond the new burst, so the sum over cores never
//! exceeds `b + r·t` over any window `t` (up to rounding).
//!
//! Across nodes the same idea runs one level up ([`cluster_share`]): each node reports the
//! demand it saw per limit with its usage through Raft, and every node sets its own share of
//! the limit from the latest reports of all members; its cores then split that share as above.
//! The algorithm and its error bounds are written down in `docs/LIMITS.md`.

/// One core's bucket for one limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Tokens per nanosecond.
    rate_per_ns: f64,
    /// Capacity in tokens.
    burst: f64,
    /// Tokens now (as of `last_ns`).
    tokens: f64,
    last_ns: u64,
    /// Requests that asked since the demand was last read (admitted or not).
    demand: u64,
}

impl Bucket {
    /// A full bucket admitting `rate` per second with capacity `burst`.
    pub fn new(rate: f64, burst: f64, now_ns: u64) -> Bucket {
        let burst = burst.max(0.0);
        Bucket {
            rate_per_ns: rate.max(0.0) / 1e9,
            burst,
            tokens: burst,
            last_ns: now_ns,
            demand: 0,
        }
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let dt = (now_ns - self.last_ns) as f64;
            self.tokens = (self.tokens + dt * self.rate_per_ns).min(self.burst);
            self.last_ns = now_ns;
        }
    }

    /// Whether a request may pass now; takes a token when it does.
    pub fn try_take(&mut self, now_ns: u64) -> bool {
        self.note_demand();
        let ok = self.ready(now_ns);
        if ok {
            self.take_token();
        }
        ok
    }

    /// Whether a token is available now, without taking it (checking several limits before
    /// consuming from any).
    pub fn ready(&mut self, now_ns: u64) -> bool {
        self.refill(now_ns);
        self.tokens >= 1.0
    }

    /// Takes a token checked with [`Bucket::ready`] (the demand is counted apart, with
    /// [`Bucket::note_demand`]).
    pub fn take_token(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// Counts a request refused by another limit (it still shows demand here).
    pub fn note_demand(&mut self) {
        self.demand += 1;
    }

    /// Reads and resets the demand counter.
    pub fn take_demand(&mut self) -> u64 {
        std::mem::take(&mut self.demand)
    }

    /// Applies a new rate and burst after a quiet spell: the time since the last request is
    /// refilled at the new rate (the other cores were quiet too, which is why the share grew).
    pub fn reshape_after_idle(&mut self, rate: f64, burst: f64, now_ns: u64) {
        self.rate_per_ns = rate.max(0.0) / 1e9;
        self.burst = burst.max(0.0);
        self.refill(now_ns);
        self.tokens = self.tokens.min(self.burst);
    }

    /// Applies a new rate and burst (a new share), keeping at most the new burst of tokens.
    pub fn reshape(&mut self, rate: f64, burst: f64, now_ns: u64) {
        self.refill(now_ns);
        self.rate_per_ns = rate.max(0.0) / 1e9;
        self.burst = burst.max(0.0);
        self.tokens = self.tokens.min(self.burst);
    }
}

/// The smallest share any core keeps, as a fraction of an equal split.
pub const SHARE_FLOOR: f64 = 0.1;

/// New shares from each core's recent demand: proportional to demand, each at least
/// `SHARE_FLOOR / n`, summing to 1. With no demand anywhere the split is equal.
pub fn shares_from_demand(demand: &[u64]) -> Vec<f64> {
    let n = demand.len();
    if n == 0 {
        return Vec::new();
    }
    let total: u64 = demand.iter().sum();
    if total == 0 {
        return vec![1.0 / n as f64; n];
    }
    let floor = SHARE_FLOOR / n as f64;
    let spare = 1.0 - floor * n as f64;
    demand
        .iter()
        .map(|&d| floor + spare * d as f64 / total as f64)
        .collect()
}

/// The part of every limit held back for members that saw no demand, split equally among
/// them: it lets an idle node serve its first requests before its demand is known. A node that
/// gets all the traffic of a 3-node cluster runs at `1 − CLUSTER_FLOOR·2/3` of the limit.
pub const CLUSTER_FLOOR: f64 = 0.03;

/// This node's share (0..=1) of a limit of `rate` requests per second, from the recent demand
/// (requests per second, admitted or not) of this node (`mine`) and of the other members that
/// reported (`others`), in a cluster of `members` nodes.
///
/// Every member keeps `CLUSTER_FLOOR / n`. The rest, `(1 − CLUSTER_FLOOR)·rate`, goes by demand:
/// when the total demand fits in it, each node gets its own demand plus an equal part of the
/// headroom (so bursts on any node find room); when it does not, the rest is split in
/// proportion to demand, as an ideal single bucket fed the merged stream would admit it. The
/// shares of all members, computed from the same reports, sum to 1.
pub fn cluster_share(
    rate: f64,
    mine: f64,
    others: impl IntoIterator<Item = f64>,
    members: usize,
) -> f64 {
    let (mut reporting, mut total) = (1usize, mine.max(0.0));
    for d in others {
        reporting += 1;
        total += d.max(0.0);
    }
    let n = members.max(reporting) as f64;
    if total <= 0.0 || rate <= 0.0 {
        return 1.0 / n;
    }
    let floor = CLUSTER_FLOOR / n;
    let spare = 1.0 - CLUSTER_FLOOR;
    let by_demand = rate * spare;
    let mine = mine.max(0.0);
    if total <= by_demand {
        floor + (mine + (by_demand - total) / n) / rate
    } else {
        floor + spare * mine / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    #[test]
    fn admits_burst_then_rate() {
        let mut b = Bucket::new(10.0, 5.0, 0);
        let burst = (0..100).filter(|_| b.try_take(0)).count();
        assert_eq!(burst, 5);
        // Over one second at 1 kHz offered: 10 more.
        let more = (1..=1000).filter(|i| b.try_take(i * MS)).count();
        assert_eq!(more, 10);
        assert_eq!(b.take_demand(), 1100);
        assert_eq!(b.take_demand(), 0);
    }

    #[test]
    fn ready_then_take_consumes_once() {
        let mut b = Bucket::new(1.0, 1.0, 0);
        assert!(b.ready(0));
        b.note_demand();
        b.take_token();
        assert!(!b.ready(0));
        assert!(b.ready(S));
    }

    #[test]
    fn shares_follow_demand_with_a_floor() {
        assert_eq!(shares_from_demand(&[0, 0]), vec![0.5, 0.5]);
        let s = shares_from_demand(&[900, 100, 0]);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(s[0] > s[1] && s[1] > s[2]);
        assert!((s[2] - SHARE_FLOOR / 3.0).abs() < 1e-9);
    }

    /// Split across 4 cores, with all demand moving from core 0 to core 3: after one rebalance
    /// the limit is nearly all available where the demand is, and no window ever admits more
    /// than burst + rate·window.
    #[test]
    fn split_limit_follows_demand_and_never_overshoots() {
        let (rate, burst) = (1000.0, 100.0);
        let n = 4;
        let mut cores: Vec<Bucket> = (0..n)
            .map(|_| Bucket::new(rate / n as f64, burst / n as f64, 0))
            .collect();
        let mut admitted_per_100ms = Vec::new();
        let mut hot = 0;
        // 10 kHz offered (10× the rate) for 4 s; the hot core switches at 2 s; rebalance every
        // 100 ms.
        for tick in 0..40u64 {
            if tick == 20 {
                hot = 3;
            }
            let mut admitted = 0;
            for k in 0..1000u64 {
                let now = tick * 100 * MS + k * 100_000;
                if cores[hot].try_take(now) {
                    admitted += 1;
                }
            }
            admitted_per_100ms.push(admitted);
            let demand: Vec<u64> = cores.iter_mut().map(Bucket::take_demand).collect();
            let shares = shares_from_demand(&demand);
            let now = (tick + 1) * 100 * MS;
            for (c, s) in cores.iter_mut().zip(shares) {
                c.reshape(rate * s, burst * s, now);
            }
        }
        // Never more than burst + rate × window over any window of whole ticks.
        for w in 1..=admitted_per_100ms.len() {
            for start in 0..=admitted_per_100ms.len() - w {
                let sum: u32 = admitted_per_100ms[start..start + w].iter().sum();
                let bound = burst + rate * (w as f64 * 0.1);
                assert!(
                    f64::from(sum) <= bound + 1.0,
                    "window {start}+{w}: {sum} > {bound}"
                );
            }
        }
        // Once converged (a tick after each shift), ≥ 90% of the rate is admitted.
        for (i, &a) in admitted_per_100ms.iter().enumerate() {
            if i >= 2 && i != 20 && i != 21 {
                assert!(a >= 90, "tick {i}: {a}");
            }
        }
    }

    #[test]
    fn cluster_shares_sum_to_one_and_follow_demand() {
        let cases: [(f64, [f64; 3]); 5] = [
            (1000.0, [0.0, 0.0, 0.0]),
            (1000.0, [10_000.0, 0.0, 0.0]),
            (1000.0, [3_000.0, 3_000.0, 4_000.0]),
            (1000.0, [300.0, 200.0, 0.0]),
            (1000.0, [900.0, 0.0, 0.0]),
        ];
        for (rate, d) in cases {
            let shares: Vec<f64> = (0..3)
                .map(|i| {
                    let others = (0..3).filter(|&j| j != i).map(|j| d[j]);
                    cluster_share(rate, d[i], others, 3)
                })
                .collect();
            let sum: f64 = shares.iter().sum();
            assert!((sum - 1.0).abs() < 1e-9, "{d:?}: {shares:?}");
            // Under overload the split follows demand; under load each gets at least its demand.
            for i in 0..3 {
                assert!(shares[i] >= CLUSTER_FLOOR / 3.0 - 1e-12);
                if d.iter().sum::<f64>() <= rate * (1.0 - CLUSTER_FLOOR) {
                    assert!(shares[i] * rate >= d[i] - 1e-9, "{d:?}: {shares:?}");
                }
            }
        }
        // All traffic on one node: it gets all but the idle members' floor.
        let hot = cluster_share(1000.0, 10_000.0, [0.0, 0.0], 3);
        assert!((hot - (1.0 - CLUSTER_FLOOR * 2.0 / 3.0)).abs() < 1e-9);
        // A member that has not reported yet still counts towards the split.
        assert!((cluster_share(1000.0, 0.0, [], 3) - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(cluster_share(1000.0, 5.0, [], 1), 1.0);
    }

    /// Three nodes (one core each) share a limit of 1000/s with burst 200, offered 10× the
    /// rate open-loop: first spread evenly, then all on node 0. Each node reports its demand
    /// every 250 ms and the others apply it 10 ms later. Once converged every 1 s window admits
    /// within ±5% of the rate, the shift converges (≥ 95% admitted per 100 ms) within 500 ms,
    /// and no window admits more than burst + rate·window + rate·(report interval).
    #[test]
    fn three_nodes_converge_after_all_traffic_moves_to_one() {
        const REPORT: u64 = 250 * MS;
        const LAG: u64 = 10 * MS;
        let (rate, burst, nodes) = (1000.0, 200.0, 3usize);
        let mut buckets: Vec<Bucket> = (0..nodes)
            .map(|_| Bucket::new(rate / 3.0, burst / 3.0, 0))
            .collect();
        // The last report each node applied from each node (req/s), and reports in flight.
        let mut seen = vec![vec![0.0f64; nodes]; nodes];
        let mut in_flight: Vec<(u64, usize, f64)> = Vec::new();
        let mut admitted_ms = vec![0u32; 8000];
        let step = 100_000; // 10 kHz offered
        for k in 0..80_000u64 {
            let now = k * step;
            // Reports due: node i sends its demand since the last report.
            if now % REPORT == 0 && now > 0 {
                for (i, b) in buckets.iter_mut().enumerate() {
                    let d = b.take_demand() as f64 * 1e9 / REPORT as f64;
                    in_flight.push((now + LAG, i, d));
                }
            }
            // Reports arrive: every node records them and sets its own share.
            let (due, later): (Vec<_>, Vec<_>) = in_flight.iter().partition(|r| r.0 <= now);
            if !due.is_empty() {
                for &(_, from, d) in &due {
                    for view in seen.iter_mut() {
                        view[from] = d;
                    }
                }
                for (i, b) in buckets.iter_mut().enumerate() {
                    let others = (0..nodes).filter(|&j| j != i).map(|j| seen[i][j]);
                    let s = cluster_share(rate, seen[i][i], others, nodes);
                    b.reshape(rate * s, burst * s, now);
                }
            }
            in_flight = later;
            // Traffic: round-robin over the nodes for 4 s, then all on node 0.
            let target = if now < 4 * S { (k % 3) as usize } else { 0 };
            if buckets[target].try_take(now) {
                admitted_ms[(now / MS) as usize] += 1;
            }
        }
        let per_s = |from_ms: usize| admitted_ms[from_ms..from_ms + 1000].iter().sum::<u32>();
        for start in [1000, 2000, 3000, 5000, 6000, 7000] {
            let a = f64::from(per_s(start));
            assert!(
                (a - rate).abs() <= 0.05 * rate,
                "second from {start} ms: {a}"
            );
        }
        // Convergence after the shift at 4 s: first 100 ms window from which every window
        // admits ≥ 95% of rate·100 ms.
        let per_100 = |w: usize| admitted_ms[w * 100..w * 100 + 100].iter().sum::<u32>();
        let converged = (40..80)
            .find(|&w| (w..80).all(|v| per_100(v) >= 95))
            .expect("converges");
        assert!(
            converged * 100 - 4000 <= 500,
            "converged {} ms after",
            converged * 100 - 4000
        );
        // The bound on any window (whole milliseconds).
        let bound = |w_ms: usize| burst + rate * (w_ms as f64 / 1000.0) + rate * 0.25;
        for w in [10usize, 100, 250, 1000] {
            for start in 0..8000 - w {
                let sum: u32 = admitted_ms[start..start + w].iter().sum();
                assert!(f64::from(sum) <= bound(w) + 1.0, "{start}+{w}: {sum}");
            }
        }
    }
}
