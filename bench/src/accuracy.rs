//! How well a limit held: admitted rates per window against the limit, the time to converge
//! after the traffic moved, the largest admitted count over any window against the bound, and
//! quota overshoot against its bound. Pure functions of recorded counts.

use serde::Serialize;

/// Admitted counts of one run, per 100 ms tick, judged against a limit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowVerdict {
    /// The limit, requests per second.
    pub limit: f64,
    /// Admitted requests per whole second judged (seconds after `skip_s`).
    pub per_second: Vec<u64>,
    /// Lowest and highest admitted rate of those seconds, over the limit.
    pub min_ratio: f64,
    /// See `min_ratio`.
    pub max_ratio: f64,
    /// Mean admitted rate over those seconds, over the limit.
    pub mean_ratio: f64,
    /// Share of those seconds within ±`tolerance` of the limit.
    pub within: f64,
    /// The tolerance used (0.05 = ±5%).
    pub tolerance: f64,
}

/// Judges the whole seconds of `ticks` (admitted per 100 ms) after the first `skip_s` seconds
/// against `limit` per second.
pub fn judge_windows(ticks: &[u64], limit: f64, skip_s: usize, tolerance: f64) -> WindowVerdict {
    let per_second: Vec<u64> = ticks
        .chunks(10)
        .filter(|c| c.len() == 10)
        .skip(skip_s)
        .map(|c| c.iter().sum())
        .collect();
    let ratios: Vec<f64> = per_second.iter().map(|&n| n as f64 / limit).collect();
    let n = ratios.len().max(1) as f64;
    WindowVerdict {
        limit,
        min_ratio: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        max_ratio: ratios.iter().copied().fold(0.0, f64::max),
        mean_ratio: ratios.iter().sum::<f64>() / n,
        within: ratios
            .iter()
            .filter(|r| (**r - 1.0).abs() <= tolerance)
            .count() as f64
            / n,
        tolerance,
        per_second,
    }
}

/// The time (ms from the start of `ticks`) from which every 300 ms window admits at least
/// `fraction` of `limit`, or `None` if that never holds to the end.
pub fn converged_after_ms(ticks: &[u64], limit: f64, fraction: f64) -> Option<u64> {
    const W: usize = 3;
    if ticks.len() < W {
        return None;
    }
    let want = fraction * limit * W as f64 / 10.0;
    let ok: Vec<bool> = ticks
        .windows(W)
        .map(|w| w.iter().sum::<u64>() as f64 >= want)
        .collect();
    // The first index from which every window is ok.
    let first_bad_from_end = ok.iter().rposition(|o| !o);
    match first_bad_from_end {
        None => Some(0),
        Some(i) if i + 1 < ok.len() => Some((i as u64 + 1) * 100),
        Some(_) => None,
    }
}

/// The most admitted in any `window_ticks` consecutive ticks.
pub fn max_in_window(ticks: &[u64], window_ticks: usize) -> u64 {
    if window_ticks == 0 || ticks.is_empty() {
        return 0;
    }
    ticks
        .windows(window_ticks.min(ticks.len()))
        .map(|w| w.iter().sum())
        .max()
        .unwrap_or(0)
}

/// The documented bound on what any window of `window_s` may admit under a split limit of
/// `rate` and `burst`: burst + rate·window + rate·(report interval), the last term being what
/// shares computed from reports up to one interval old may hand out twice.
pub fn window_bound(rate: f64, burst: f64, window_s: f64, report_s: f64) -> f64 {
    burst + rate * window_s + rate * report_s
}

/// The documented bound on quota overshoot: every node may go on admitting for as long as the
/// other nodes' usage takes to reach it (worker flush + report interval + commit), so at an
/// admitted rate of `rate` the cluster admits at most `rate × lag` beyond the quota.
pub fn quota_bound(rate: f64, flush_s: f64, report_s: f64, commit_s: f64) -> f64 {
    rate * (flush_s + report_s + commit_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_judged_per_whole_second() {
        // 3 s at 100 per tick (1000/s), then one second at 90 per tick, and a partial second.
        let mut ticks = vec![100u64; 30];
        ticks.extend(vec![90; 10]);
        ticks.extend(vec![500; 5]);
        let v = judge_windows(&ticks, 1000.0, 1, 0.05);
        assert_eq!(v.per_second, vec![1000, 1000, 900]);
        assert!((v.min_ratio - 0.9).abs() < 1e-9 && (v.max_ratio - 1.0).abs() < 1e-9);
        assert!((v.within - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn convergence_is_the_start_of_the_good_tail() {
        let mut ticks = vec![30u64, 40, 60, 90, 99, 98, 100, 97, 99];
        assert_eq!(converged_after_ms(&ticks, 1000.0, 0.95), Some(300));
        // A dip later moves it.
        ticks.extend([50, 99, 99, 99, 99]);
        assert_eq!(converged_after_ms(&ticks, 1000.0, 0.95), Some(1000));
        assert_eq!(converged_after_ms(&[10, 10, 10], 1000.0, 0.95), None);
        assert_eq!(converged_after_ms(&[100; 5], 1000.0, 0.95), Some(0));
    }

    #[test]
    fn bounds_and_maxima() {
        assert_eq!(max_in_window(&[1, 5, 2, 8, 1], 2), 10);
        assert_eq!(max_in_window(&[1, 5], 10), 6);
        assert_eq!(window_bound(1000.0, 100.0, 1.0, 0.25), 1350.0);
        assert!((quota_bound(2000.0, 0.1, 0.25, 0.01) - 720.0).abs() < 1e-9);
    }
}
