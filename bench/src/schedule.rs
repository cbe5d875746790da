//! Load schedules: when each request of an open-loop run is due.
//!
//! A schedule is a list of named phases, each with a rate that changes linearly from its start to
//! its end (constant when both are equal). Request `k` (counting from 0) is due at the time `t`
//! where the integral of the rate from 0 to `t` equals `k`: the first request is due at 0. Pure
//! arithmetic, no clock.

use std::time::Duration;

/// One phase of a schedule: a name and a linear rate ramp over a span of time.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Name shown in reports ("steady", "before", "spike", "after", "ramp").
    pub name: String,
    /// Start, seconds from the start of the run.
    pub start: f64,
    /// Length in seconds.
    pub len: f64,
    /// Rate at the start of the phase, requests per second.
    pub rate_from: f64,
    /// Rate at the end of the phase, requests per second.
    pub rate_to: f64,
    /// Requests due before this phase starts.
    cum_before: f64,
}

impl Phase {
    /// End of the phase, seconds from the start of the run.
    pub fn end(&self) -> f64 {
        self.start + self.len
    }

    /// Requests due within this phase.
    pub fn requests(&self) -> f64 {
        0.5 * (self.rate_from + self.rate_to) * self.len
    }

    /// Requests due from the start of the phase until `t` seconds into it.
    fn cum_at(&self, t: f64) -> f64 {
        let a = (self.rate_to - self.rate_from) / self.len;
        self.rate_from * t + 0.5 * a * t * t
    }
}

/// A sequence of phases; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    phases: Vec<Phase>,
}

/// What is wrong with a schedule's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleError(pub String);

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

impl Schedule {
    /// A schedule from `(name, seconds, rate_from, rate_to)` phases, in order.
    pub fn new<S: Into<String>>(
        phases: impl IntoIterator<Item = (S, f64, f64, f64)>,
    ) -> Result<Self, ScheduleError> {
        let mut out = Vec::new();
        let (mut start, mut cum) = (0.0, 0.0);
        for (name, len, from, to) in phases {
            let name = name.into();
            if !(len.is_finite() && len > 0.0) {
                return Err(ScheduleError(format!("phase {name}: length must be > 0 s")));
            }
            if !(from.is_finite() && to.is_finite() && from >= 0.0 && to >= 0.0) {
                return Err(ScheduleError(format!(
                    "phase {name}: rates must be finite and >= 0"
                )));
            }
            let p = Phase {
                name,
                start,
                len,
                rate_from: from,
                rate_to: to,
                cum_before: cum,
            };
            start += len;
            cum += p.requests();
            out.push(p);
        }
        if out.is_empty() {
            return Err(ScheduleError("a schedule needs at least one phase".into()));
        }
        Ok(Schedule { phases: out })
    }

    /// `rate` requests per second for `secs` seconds.
    pub fn constant(rate: f64, secs: f64) -> Result<Self, ScheduleError> {
        Self::new([("steady", secs, rate, rate)])
    }

    /// `base` for `before` s, then `base * mult` for `len` s, then `base` again for `after` s.
    pub fn spike(
        base: f64,
        mult: f64,
        before: f64,
        len: f64,
        after: f64,
    ) -> Result<Self, ScheduleError> {
        let peak = base * mult;
        Self::new([
            ("before", before, base, base),
            ("spike", len, peak, peak),
            ("after", after, base, base),
        ])
    }

    /// A linear ramp from `from` to `to` requests per second over `secs` seconds.
    pub fn ramp(from: f64, to: f64, secs: f64) -> Result<Self, ScheduleError> {
        Self::new([("ramp", secs, from, to)])
    }

    /// The phases, in order.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// Length of the whole schedule in seconds.
    pub fn secs(&self) -> f64 {
        self.phases.last().map_or(0.0, Phase::end)
    }

    /// Length of the whole schedule.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.secs())
    }

    /// Number of requests the schedule asks for.
    pub fn total(&self) -> u64 {
        let p = self
            .phases
            .last()
            .map_or(0.0, |p| p.cum_before + p.requests());
        // Requests are due at cumulative counts 0, 1, 2, … strictly below the total.
        (p - 1e-9).ceil().max(0.0) as u64
    }

    /// Index of the phase that contains `t` seconds (the last phase for `t` past the end).
    pub fn phase_at(&self, t: f64) -> usize {
        self.phases
            .iter()
            .position(|p| t < p.end())
            .unwrap_or(self.phases.len() - 1)
    }

    /// The offered rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        let p = &self.phases[self.phase_at(t)];
        let x = ((t - p.start) / p.len).clamp(0.0, 1.0);
        p.rate_from + (p.rate_to - p.rate_from) * x
    }

    /// Requests due in `[0, t)` seconds, as a real number.
    pub fn due_before(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let p = &self.phases[self.phase_at(t)];
        p.cum_before + p.cum_at((t - p.start).min(p.len))
    }

    /// When request `k` is due, in nanoseconds from the start; `None` when the schedule asks
    /// for fewer than `k + 1` requests.
    pub fn due_ns(&self, k: u64) -> Option<u64> {
        let kf = k as f64;
        for p in &self.phases {
            let n = p.requests();
            if kf >= p.cum_before + n || n <= 0.0 {
                continue;
            }
            let m = kf - p.cum_before; // requests into this phase, 0 <= m < n
            let a = (p.rate_to - p.rate_from) / p.len;
            let t = if a.abs() < 1e-12 {
                m / p.rate_from
            } else {
                // rate_from*t + a/2*t² = m
                let disc = (p.rate_from * p.rate_from + 2.0 * a * m).max(0.0);
                (disc.sqrt() - p.rate_from) / a
            };
            let t = t.clamp(0.0, p.len);
            return Some(((p.start + t) * 1e9).round() as u64);
        }
        None
    }
}

/// How requests are spread over several targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spread {
    /// Request `k` goes to target `k mod n`.
    RoundRobin,
    /// A fraction (0..=1) of the requests goes to target 0, evenly interleaved; the rest go
    /// round-robin to the others.
    Skewed(f64),
}

impl Spread {
    /// The target (0..n) of request `k`.
    pub fn pick(&self, k: u64, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        match *self {
            Spread::RoundRobin => (k % n as u64) as usize,
            Spread::Skewed(hot) => {
                let hot = hot.clamp(0.0, 1.0);
                let before = (k as f64 * hot).floor() as u64;
                let upto = ((k + 1) as f64 * hot).floor() as u64;
                if upto > before {
                    0
                } else {
                    // This is the (k - before)-th request that is not hot.
                    1 + ((k - before) % (n as u64 - 1)) as usize
                }
            }
        }
    }

    /// The share of requests target `i` of `n` gets.
    pub fn share(&self, i: usize, n: usize) -> f64 {
        if n <= 1 {
            return 1.0;
        }
        match *self {
            Spread::RoundRobin => 1.0 / n as f64,
            Spread::Skewed(hot) => {
                let hot = hot.clamp(0.0, 1.0);
                if i == 0 {
                    hot
                } else {
                    (1.0 - hot) / (n - 1) as f64
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_spacing_and_total() {
        let s = Schedule::constant(1000.0, 2.0).unwrap();
        assert_eq!(s.total(), 2000);
        assert_eq!(s.due_ns(0), Some(0));
        assert_eq!(s.due_ns(1), Some(1_000_000));
        assert_eq!(s.due_ns(1999), Some(1_999_000_000));
        assert_eq!(s.due_ns(2000), None);
    }

    #[test]
    fn spike_phases() {
        let s = Schedule::spike(100.0, 10.0, 1.0, 1.0, 1.0).unwrap();
        assert_eq!(s.total(), 100 + 1000 + 100);
        assert_eq!(s.phase_at(0.5), 0);
        assert_eq!(s.phase_at(1.5), 1);
        assert_eq!(s.phase_at(2.5), 2);
        assert_eq!(s.rate_at(1.2), 1000.0);
        // First spike request is due right at 1 s, then every ms.
        assert_eq!(s.due_ns(100), Some(1_000_000_000));
        assert_eq!(s.due_ns(101), Some(1_001_000_000));
        assert_eq!(s.due_ns(1100), Some(2_000_000_000));
        // Count in each second = rate.
        let count = |a: f64, b: f64| {
            (0..s.total())
                .filter(|&k| {
                    let t = s.due_ns(k).unwrap() as f64 / 1e9;
                    t >= a && t < b
                })
                .count()
        };
        assert_eq!(count(0.0, 1.0), 100);
        assert_eq!(count(1.0, 2.0), 1000);
        assert_eq!(count(2.0, 3.0), 100);
    }

    #[test]
    fn ramp_is_monotonic_and_matches_integral() {
        let s = Schedule::ramp(0.0, 2000.0, 2.0).unwrap();
        assert_eq!(s.total(), 2000);
        let mut last = 0;
        for k in 0..s.total() {
            let t = s.due_ns(k).unwrap();
            assert!(t >= last);
            last = t;
        }
        // Half the requests come in the last half second... no: rate linear, N(t)=500 t²;
        // N(1)=500, so request 500 is due at 1 s.
        assert_eq!(s.due_ns(500), Some(1_000_000_000));
        assert!((s.due_before(1.0) - 500.0).abs() < 1e-9);
    }

    #[test]
    fn bad_schedules_are_rejected() {
        assert!(Schedule::constant(-1.0, 1.0).is_err());
        assert!(Schedule::constant(1.0, 0.0).is_err());
        assert!(Schedule::new(Vec::<(&str, f64, f64, f64)>::new()).is_err());
    }

    #[test]
    fn spread_round_robin_and_skew() {
        let rr = Spread::RoundRobin;
        assert_eq!(
            (0..6).map(|k| rr.pick(k, 3)).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1, 2]
        );
        let sk = Spread::Skewed(0.75);
        let mut counts = [0; 3];
        for k in 0..4000 {
            counts[sk.pick(k, 3)] += 1;
        }
        assert_eq!(counts, [3000, 500, 500]);
        assert_eq!(sk.share(0, 3), 0.75);
        assert_eq!(Spread::Skewed(1.0).pick(7, 3), 0);
    }
}
