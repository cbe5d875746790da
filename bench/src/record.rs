//! Recording of outcomes: per-second and per-phase latency histograms and counters.
//!
//! Times are nanoseconds from the start of the run. A request's latency, its status and any
//! error are counted in the second (and phase) in which it was *due*; the achieved rate counts
//! responses in the second in which they *arrived*. No clock and no I/O here.

use crate::schedule::Schedule;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Highest latency a histogram holds (100 s, in ns); longer ones are clamped to it.
pub const MAX_LATENCY_NS: u64 = 100_000_000_000;

/// A fresh latency histogram in nanoseconds with 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; a failure would be a bug here.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// Everything counted for one slice of time (a second, a phase, or the whole run).
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency from the time each request was due (coordinated-omission corrected), ns.
    pub corrected: Histogram<u64>,
    /// Latency from the time each request was actually written, ns.
    pub uncorrected: Histogram<u64>,
    /// Corrected latency of the 2xx responses alone (the admitted requests, when a limit
    /// refuses others), ns.
    pub admitted: Histogram<u64>,
    /// Requests due.
    pub offered: u64,
    /// Responses that arrived in this slice (by arrival time).
    pub arrived: u64,
    /// Responses by status code (by due time).
    pub status: BTreeMap<u16, u64>,
    /// Requests that failed: connect error, reset, malformed response (by due time).
    pub errors: u64,
    /// Requests without an answer within the timeout (by due time).
    pub timeouts: u64,
    /// Requests that were due but never sent before the run ended (by due time).
    pub unsent: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            corrected: new_histogram(),
            uncorrected: new_histogram(),
            admitted: new_histogram(),
            offered: 0,
            arrived: 0,
            status: BTreeMap::new(),
            errors: 0,
            timeouts: 0,
            unsent: 0,
        }
    }
}

impl Stats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
        let _ = self.admitted.add(&other.admitted);
        self.offered += other.offered;
        self.arrived += other.arrived;
        for (k, v) in &other.status {
            *self.status.entry(*k).or_default() += v;
        }
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.unsent += other.unsent;
    }

    /// Responses of any status.
    pub fn responses(&self) -> u64 {
        self.status.values().sum()
    }
}

/// The outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with this status.
    Response(u16),
    /// A failure (connect, reset, malformed answer).
    Error,
    /// No answer within the timeout.
    Timeout,
    /// Never sent.
    Unsent,
}

/// Recorder for one generator thread; merge several with [`Recorder::merge`].
#[derive(Debug, Clone)]
pub struct Recorder {
    phase_ends_ns: Vec<u64>,
    /// Per second of the run (index = second).
    pub seconds: Vec<Stats>,
    /// Per phase of the schedule.
    pub phases: Vec<Stats>,
    /// The whole run.
    pub total: Stats,
    /// 2xx responses per [`TICK_NS`] of due time (index = tick), for fine-grained rates.
    pub ok_ticks: Vec<u64>,
}

/// The slice of time [`Recorder::ok_ticks`] counts in: 100 ms.
pub const TICK_NS: u64 = 100_000_000;

impl Recorder {
    /// A recorder for a run of `schedule`.
    pub fn new(schedule: &Schedule) -> Self {
        Recorder {
            phase_ends_ns: schedule
                .phases()
                .iter()
                .map(|p| (p.end() * 1e9).round() as u64)
                .collect(),
            seconds: Vec::new(),
            phases: schedule.phases().iter().map(|_| Stats::default()).collect(),
            total: Stats::default(),
            ok_ticks: Vec::new(),
        }
    }

    fn phase_of(&self, t_ns: u64) -> usize {
        self.phase_ends_ns
            .iter()
            .position(|&e| t_ns < e)
            .unwrap_or(self.phase_ends_ns.len().saturating_sub(1))
    }

    fn second(&mut self, t_ns: u64) -> &mut Stats {
        let s = (t_ns / 1_000_000_000) as usize;
        while self.seconds.len() <= s {
            self.seconds.push(Stats::default());
        }
        &mut self.seconds[s]
    }

    /// A request became due at `due_ns`.
    pub fn offered(&mut self, due_ns: u64) {
        self.second(due_ns).offered += 1;
        let p = self.phase_of(due_ns);
        self.phases[p].offered += 1;
        self.total.offered += 1;
    }

    /// The request due at `due_ns`, written at `sent_ns`, ended at `end_ns` with `outcome`.
    /// Latencies are recorded for responses only.
    pub fn finished(&mut self, due_ns: u64, sent_ns: u64, end_ns: u64, outcome: Outcome) {
        let p = self.phase_of(due_ns);
        let apply = |s: &mut Stats| match outcome {
            Outcome::Response(code) => {
                let c = end_ns.saturating_sub(due_ns).clamp(1, MAX_LATENCY_NS);
                let u = end_ns.saturating_sub(sent_ns).clamp(1, MAX_LATENCY_NS);
                s.corrected.saturating_record(c);
                s.uncorrected.saturating_record(u);
                if (200..300).contains(&code) {
                    s.admitted.saturating_record(c);
                }
                *s.status.entry(code).or_default() += 1;
            }
            Outcome::Error => s.errors += 1,
            Outcome::Timeout => s.timeouts += 1,
            Outcome::Unsent => s.unsent += 1,
        };
        apply(self.second(due_ns));
        apply(&mut self.phases[p]);
        apply(&mut self.total);
        if matches!(outcome, Outcome::Response(code) if (200..300).contains(&code)) {
            let t = (due_ns / TICK_NS) as usize;
            if self.ok_ticks.len() <= t {
                self.ok_ticks.resize(t + 1, 0);
            }
            self.ok_ticks[t] += 1;
        }
        if let Outcome::Response(_) = outcome {
            self.second(end_ns).arrived += 1;
            let pe = self.phase_of(end_ns);
            // A response after the last phase ends still counts for the whole run.
            if end_ns < self.phase_ends_ns.last().copied().unwrap_or(0) {
                self.phases[pe].arrived += 1;
            }
            self.total.arrived += 1;
        }
    }

    /// Adds `other` (a recorder of the same schedule) into `self`.
    pub fn merge(&mut self, other: &Recorder) {
        while self.seconds.len() < other.seconds.len() {
            self.seconds.push(Stats::default());
        }
        for (a, b) in self.seconds.iter_mut().zip(&other.seconds) {
            a.merge(b);
        }
        for (a, b) in self.phases.iter_mut().zip(&other.phases) {
            a.merge(b);
        }
        self.total.merge(&other.total);
        if self.ok_ticks.len() < other.ok_ticks.len() {
            self.ok_ticks.resize(other.ok_ticks.len(), 0);
        }
        for (a, b) in self.ok_ticks.iter_mut().zip(&other.ok_ticks) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_by_due_time_and_arrival_time() {
        let s = Schedule::spike(10.0, 2.0, 1.0, 1.0, 1.0).unwrap();
        let mut r = Recorder::new(&s);
        r.offered(500_000_000);
        // Due at 0.5 s, sent at 0.6 s, answered at 1.5 s.
        r.finished(
            500_000_000,
            600_000_000,
            1_500_000_000,
            Outcome::Response(200),
        );
        r.offered(2_500_000_000);
        r.finished(
            2_500_000_000,
            2_500_000_000,
            2_600_000_000,
            Outcome::Response(429),
        );
        r.offered(2_700_000_000);
        r.finished(
            2_700_000_000,
            2_700_000_000,
            3_700_000_000,
            Outcome::Timeout,
        );
        assert_eq!(r.seconds.len(), 3);
        assert_eq!(r.seconds[0].offered, 1);
        assert_eq!(r.seconds[0].status[&200], 1);
        assert_eq!(r.seconds[0].arrived, 0);
        assert_eq!(r.seconds[1].arrived, 1);
        assert_eq!(
            r.phases[0].corrected.max(),
            r.phases[0].corrected.highest_equivalent(1_000_000_000)
        );
        assert!(r.phases[0].uncorrected.max() < 901_000_000);
        assert_eq!(r.phases[2].status[&429], 1);
        // Only the 2xx answer is admitted: due at 0.5 s, tick 5.
        assert_eq!(r.total.admitted.len(), 1);
        assert_eq!(r.ok_ticks, vec![0, 0, 0, 0, 0, 1]);
        assert_eq!(r.phases[2].timeouts, 1);
        assert_eq!(r.total.responses(), 2);

        let mut m = Recorder::new(&s);
        m.merge(&r);
        m.merge(&r);
        assert_eq!(m.total.offered, 6);
        assert_eq!(m.total.corrected.len(), 4);
        assert_eq!(m.seconds[2].timeouts, 2);
        assert_eq!(m.ok_ticks[5], 2);
    }
}
