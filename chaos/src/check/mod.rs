//! The invariant checker: takes a recorded [`History`] and returns verdicts. No I/O, no
//! clock: everything it knows is in the history, so it is tested with hand-made histories —
//! including ones with a planted violation, which it must catch.
//!
//! - [`writes`]: every acknowledged write is on every node; acknowledged writes are ordered
//!   as they happened (log indexes unique and increasing with real time); the stage register
//!   holds the last acknowledged value; no stage update (a read-modify-write) wrote back a
//!   stale stage over an earlier acknowledged update.
//! - [`once`]: no write applied twice (retried writes keep their invocation id; no node
//!   holds two objects made by one write).
//! - [`converge`]: every node holds the same state at the same log index.
//! - [`availability`]: the data plane of every live node answered.
//! - [`elections`]: election and recovery times per fault; every fault recovered.
//! - [`usage`]: the usage ledger never counts more than was served, and loses at most the
//!   documented bound.
//! - [`quota`]: a key with a daily quota, sent through every node in turn, stays within the
//!   overshoot bound of docs/LIMITS.md, and its usage is counted once.
//! - [`membership`] (runs with membership changes): every group follows each change, ledger
//!   group leaders spread again, a removed node takes no more writes.

pub mod availability;
pub mod converge;
pub mod elections;
pub mod membership;
pub mod once;
pub mod quota;
pub mod usage;
pub mod writes;

use crate::history::{History, Micros};
use serde::{Deserialize, Serialize};

/// The outcome of one invariant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Short name of the invariant.
    pub name: String,
    /// Whether it held.
    pub holds: bool,
    /// One line of what was found.
    pub summary: String,
    /// Each violation found (capped; `summary` gives the count).
    pub violations: Vec<String>,
}

/// Most violations listed per verdict.
pub const MAX_LISTED: usize = 50;

impl Verdict {
    /// A verdict from its violations: it holds when there are none.
    pub fn from_violations(name: &str, summary: String, mut violations: Vec<String>) -> Verdict {
        let holds = violations.is_empty();
        let n = violations.len();
        if n > MAX_LISTED {
            violations.truncate(MAX_LISTED);
            violations.push(format!("… and {} more", n - MAX_LISTED));
        }
        Verdict {
            name: name.to_string(),
            holds,
            summary,
            violations,
        }
    }
}

/// Tunables of the checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckConfig {
    /// Lowest acceptable share of answered data-plane probes on a live node, percent.
    pub min_availability_percent: f64,
    /// Usage a killed node may lose: what it served in this window before the kill (worker
    /// flush every 100 ms + report every 250 ms + the report's commit).
    pub usage_window_us: Micros,
    /// How long a node's usage report may stay uncommitted after a disturbance (the reporter's
    /// 1 s attempt timeout + the plain window): a kill within this long after a fault extends
    /// the window back to that fault's start.
    pub usage_stuck_us: Micros,
}

impl Default for CheckConfig {
    fn default() -> CheckConfig {
        CheckConfig {
            min_availability_percent: 99.0,
            usage_window_us: 600_000,
            usage_stuck_us: 1_600_000,
        }
    }
}

/// Everything the checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The invariants, in a fixed order.
    pub verdicts: Vec<Verdict>,
    /// Write counts.
    pub writes: writes::WriteStats,
    /// Data-plane availability per node.
    pub availability: Vec<availability::NodeAvailability>,
    /// Elections and recovery per fault.
    pub elections: Vec<elections::Election>,
    /// The usage ledger against what was served.
    pub usage: usage::UsageResult,
}

impl Analysis {
    /// Whether every invariant held.
    pub fn holds(&self) -> bool {
        self.verdicts.iter().all(|v| v.holds)
    }

    /// The verdicts that failed.
    pub fn broken(&self) -> Vec<&Verdict> {
        self.verdicts.iter().filter(|v| !v.holds).collect()
    }
}

/// Checks every invariant on `h`.
pub fn check(h: &History, cfg: &CheckConfig) -> Analysis {
    let (avail, avail_verdict) = availability::check(h, cfg.min_availability_percent);
    let elections = elections::analyze(h);
    let (usage, usage_verdicts) = usage::check(h, cfg);
    let mut verdicts = vec![
        writes::presence(h),
        writes::order(h),
        writes::register(h),
        writes::lost_updates(h),
        once::check(h),
        converge::check(h),
        avail_verdict,
        elections::recovery(h),
        Verdict::from_violations(
            "no node crashed",
            format!("{} nodes exited by themselves", h.crashes.len()),
            h.crashes.clone(),
        ),
    ];
    verdicts.extend(usage_verdicts);
    verdicts.extend(quota::check(h, cfg));
    verdicts.extend(membership::check(h));
    Analysis {
        verdicts,
        writes: writes::stats(h),
        availability: avail,
        elections,
        usage,
    }
}

/// Seconds, for messages.
pub(crate) fn secs(us: Micros) -> String {
    format!("{:.3} s", us as f64 / 1e6)
}

#[cfg(test)]
pub(crate) mod fixtures;
