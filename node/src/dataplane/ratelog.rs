//! Rate limiting for log lines a client can trigger at will (a flood of failing requests
//! must not become a flood of log lines).

use std::time::{Duration, Instant};

/// Lets through at most `burst` events per `every`; counts the rest.
#[derive(Debug)]
pub struct RateLog {
    every: Duration,
    burst: u32,
    window_start: Option<Instant>,
    in_window: u32,
    suppressed: u64,
}

impl RateLog {
    /// At most `burst` lines per `every`.
    pub const fn new(every: Duration, burst: u32) -> RateLog {
        RateLog {
            every,
            burst,
            window_start: None,
            in_window: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)`: log this one, noting that `n` were left out since the last one logged.
    /// `None`: leave it out.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= self.every);
        if fresh {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        if self.in_window < self.burst {
            self.in_window += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_counts_what_it_left_out() {
        let mut r = RateLog::new(Duration::from_secs(1), 2);
        let t = Instant::now();
        assert_eq!(r.allow(t), Some(0));
        assert_eq!(r.allow(t), Some(0));
        for _ in 0..5 {
            assert_eq!(r.allow(t), None);
        }
        assert_eq!(r.allow(t + Duration::from_millis(1001)), Some(5));
        assert_eq!(r.allow(t + Duration::from_millis(1002)), Some(0));
        assert_eq!(r.allow(t + Duration::from_millis(1003)), None);
    }
}
