//! Leader elections and recovery per fault.
//!
//! Election time: from the fault's injection to the first moment a majority of all nodes name
//! the same leader in a newer term than before the fault (from the leader views the status
//! pollers recorded). First write: from the injection to the acknowledgement of the first write
//! sent after it. Recovery: to the moment the cluster was healthy again (every node knows the
//! leader, a write is acknowledged, every data plane serves).

use super::{secs, Verdict};
use crate::history::{FaultRecord, History, LeaderSample, Micros};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One fault's election and recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Election {
    /// The fault's step.
    pub step: usize,
    /// The fault's name.
    pub fault: String,
    /// When it was injected.
    pub start_us: Micros,
    /// The nodes it hit.
    pub targets: Vec<u64>,
    /// Whether the fault took the leader away (an election is expected).
    pub expected: bool,
    /// The leader before.
    pub old_leader: Option<u64>,
    /// The leader a majority named afterwards in a newer term, if any (before recovery).
    pub new_leader: Option<u64>,
    /// Its term.
    pub new_term: Option<u64>,
    /// Milliseconds from injection to that majority.
    pub elected_ms: Option<f64>,
    /// Milliseconds from injection to the first acknowledged write sent after it.
    pub first_write_ms: Option<f64>,
    /// Milliseconds from injection to healed.
    pub held_ms: f64,
    /// Milliseconds from healing to recovered.
    pub recovery_ms: Option<f64>,
    /// Injections that could not be done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn ms(us: Micros) -> f64 {
    us as f64 / 1000.0
}

/// The first time at or after `from` (and before `until`) a majority of `nodes` name one
/// leader in a term above `term_before`.
pub fn majority_leader(
    samples: &[LeaderSample],
    nodes: usize,
    term_before: Option<u64>,
    from: Micros,
    until: Micros,
) -> Option<(Micros, u64, u64)> {
    let mut view: BTreeMap<u64, (Option<u64>, Option<u64>)> = BTreeMap::new();
    let mut sorted: Vec<&LeaderSample> = samples.iter().filter(|s| s.at_us <= until).collect();
    sorted.sort_by_key(|s| s.at_us);
    let newer = |t: Option<u64>| match (t, term_before) {
        (Some(t), Some(b)) => t > b,
        (Some(_), None) => true,
        (None, _) => false,
    };
    for s in sorted {
        view.insert(s.node, (s.leader, s.term));
        if s.at_us < from {
            continue;
        }
        let mut votes: BTreeMap<(u64, u64), usize> = BTreeMap::new();
        for (leader, term) in view.values() {
            if let (Some(l), Some(t)) = (leader, term) {
                if newer(Some(*t)) {
                    *votes.entry((*l, *t)).or_insert(0) += 1;
                }
            }
        }
        if let Some(((l, t), _)) = votes.into_iter().find(|(_, n)| *n * 2 > nodes) {
            return Some((s.at_us, l, t));
        }
    }
    None
}

fn one(h: &History, f: &FaultRecord, next_start: Option<Micros>) -> Election {
    let until = f
        .recovered_us
        .or(next_start)
        .unwrap_or(h.end_us.max(f.heal_us));
    let elected = majority_leader(&h.leaders, h.nodes, f.term_before, f.start_us, until);
    let first_write = h
        .writes
        .iter()
        .filter(|w| w.outcome.is_ok() && w.invoke_us >= f.start_us)
        .map(|w| w.complete_us)
        .min();
    Election {
        step: f.step,
        fault: f.fault.name(),
        start_us: f.start_us,
        targets: f.targets.clone(),
        expected: f.fault.removes_leader(),
        old_leader: f.leader_before,
        new_leader: elected.map(|(_, l, _)| l),
        new_term: elected.map(|(_, _, t)| t),
        elected_ms: elected.map(|(at, _, _)| ms(at.saturating_sub(f.start_us))),
        first_write_ms: first_write.map(|t| ms(t.saturating_sub(f.start_us))),
        held_ms: ms(f.heal_us.saturating_sub(f.start_us)),
        recovery_ms: f.recovered_us.map(|r| ms(r.saturating_sub(f.heal_us))),
        notes: f.notes.clone(),
    }
}

/// Elections and recovery, one per fault.
pub fn analyze(h: &History) -> Vec<Election> {
    h.faults
        .iter()
        .enumerate()
        .map(|(i, f)| one(h, f, h.faults.get(i + 1).map(|n| n.start_us)))
        .collect()
}

/// Every fault was followed by recovery within the deadline.
pub fn recovery(h: &History) -> Verdict {
    let violations: Vec<String> = h
        .faults
        .iter()
        .filter(|f| f.recovered_us.is_none())
        .map(|f| {
            format!(
                "step {} ({}, injected at {}, healed at {}): the cluster did not recover",
                f.step,
                f.fault.name(),
                secs(f.start_us),
                secs(f.heal_us)
            )
        })
        .collect();
    let summary = format!(
        "{} of {} faults recovered",
        h.faults.len() - violations.len(),
        h.faults.len()
    );
    Verdict::from_violations("the cluster recovers from every fault", summary, violations)
}

/// The p-th percentile (0..=1) of `xs` by nearest rank; None when empty.
pub fn percentile(xs: &[f64], p: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn election_time_is_to_a_majority_in_a_newer_term() {
        let h = clean_history();
        let e = analyze(&h);
        assert_eq!(e.len(), 1);
        // Leader 2 killed at 5.0 s; node 1 names 3 (term 3) at 5.8 s, node 3 itself at 5.9 s.
        assert_eq!(e[0].old_leader, Some(2));
        assert_eq!(e[0].new_leader, Some(3));
        assert_eq!(e[0].new_term, Some(3));
        assert_eq!(e[0].elected_ms, Some(900.0));
        assert!(e[0].expected);
        assert!(e[0].first_write_ms.unwrap() > 900.0);
        assert!(recovery(&h).holds);
    }

    #[test]
    fn a_fault_without_recovery_is_a_violation() {
        let mut h = clean_history();
        h.faults[0].recovered_us = None;
        let v = recovery(&h);
        assert!(!v.holds);
        assert!(v.violations[0].contains("did not recover"));
    }

    #[test]
    fn one_node_is_not_a_majority() {
        let s = |node, at_us, leader, term| LeaderSample {
            node,
            at_us,
            leader: Some(leader),
            term: Some(term),
        };
        let samples = vec![s(1, 10, 1, 5), s(2, 20, 2, 6), s(3, 30, 2, 6)];
        assert_eq!(
            majority_leader(&samples, 3, Some(5), 0, 100),
            Some((30, 2, 6))
        );
        assert_eq!(majority_leader(&samples[..2], 3, Some(5), 0, 100), None);
        assert_eq!(majority_leader(&samples, 3, Some(6), 0, 100), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let xs = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&xs, 0.5), Some(3.0));
        assert_eq!(percentile(&xs, 0.99), Some(5.0));
        assert_eq!(percentile(&xs, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
