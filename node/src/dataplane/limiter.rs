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
        self.demand += 1;
        self.refill(now_ns);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether a token is available now, without taking it (checking several limits before
    /// consuming from any).
    pub fn ready(&mut self, now_ns: u64) -> bool {
        self.refill(now_ns);
        self.tokens >= 1.0
    }

    /// Takes a token checked with [`Bucket::ready`] and counts the request's demand.
    pub fn take_ready(&mut self) {
        self.demand += 1;
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
        b.take_ready();
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
}
