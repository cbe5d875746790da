//! The quota key: one key in a plan with a daily quota, sent through every member in turn
//! (membership changes included), so every node admits against its share of one quota.
//!
//! - **The quota holds** (docs/LIMITS.md "Overshoot bound"): the 200s the client got for the
//!   key are at most `limit + nodes + worst case + lost`, where `nodes` is one request per node
//!   that served it (each node's share is rounded up to a whole request), `worst case` is the
//!   admitted rate over the time usage takes to reach the other nodes (`A · (flush + T +
//!   commit)`, taken as the quota prober's rate over the checker's 600 ms plain window), and
//!   `lost` is what a killed node served in its kill window (usage a crash loses is never in
//!   the ledger, so the others may admit that much more).
//! - **Its usage is counted once**: every member's GetUsage of the key is the same, and at most
//!   the 200s served plus the requests that got no answer.

use super::usage::window_start;
use super::{CheckConfig, Verdict};
use crate::history::{History, Life};
use crate::workload::QUOTA_PAUSE_MS;
use std::collections::BTreeSet;

/// The quota verdicts; none for a history without a quota key.
pub fn check(h: &History, cfg: &CheckConfig) -> Vec<Verdict> {
    let Some(limit) = h.quota_limit else {
        return Vec::new();
    };
    let served: Vec<_> = h.quota_probes.iter().filter(|p| p.ok()).collect();
    let refused = h
        .quota_probes
        .iter()
        .filter(|p| p.status == Some(429))
        .count();
    let unanswered = h
        .quota_probes
        .iter()
        .filter(|p| p.sent && p.status.is_none())
        .count() as u64;
    let nodes: BTreeSet<u64> = served.iter().map(|p| p.node).collect();
    let mut lost = 0u64;
    for e in h.node_events.iter().filter(|e| e.life == Life::Killed) {
        let since = h
            .node_events
            .iter()
            .filter(|s| s.node == e.node && s.life == Life::Started && s.at_us <= e.at_us)
            .map(|s| s.at_us)
            .max()
            .unwrap_or(0);
        let ws = window_start(h, e.at_us, since, cfg);
        lost += served
            .iter()
            .filter(|p| p.node == e.node && p.done_us >= ws && p.done_us <= e.at_us)
            .count() as u64;
    }
    let worst = cfg.usage_window_us.div_ceil(QUOTA_PAUSE_MS * 1000);
    let bound = limit + nodes.len() as u64 + worst + lost;
    let admitted = served.len() as u64;
    let mut held = Vec::new();
    if admitted > bound {
        held.push(format!(
            "{admitted} requests admitted on a quota of {limit}: {} over, more than the bound of {} (1 per node for {} nodes, {worst} worst case, {lost} served in kill windows)",
            admitted - limit,
            bound - limit,
            nodes.len()
        ));
    }
    let summary = format!(
        "quota {limit}: {admitted} admitted ({} over; bound {} = {} nodes + {worst} worst case + {lost} in kill windows), {refused} refused with 429",
        admitted.saturating_sub(limit),
        bound - limit,
        nodes.len()
    );
    let quota = Verdict::from_violations("the quota holds (overshoot bound)", summary, held);

    let ledgers: Vec<(u64, Option<u64>)> = h
        .finals
        .iter()
        .filter(|f| f.error.is_none())
        .map(|f| (f.node, f.quota_usage))
        .collect();
    let mut once = Vec::new();
    let ledger = ledgers.iter().filter_map(|(_, l)| *l).max();
    if ledgers.iter().any(|(_, l)| *l != ledger) {
        once.push(format!(
            "the members' ledgers of the quota key disagree: {ledgers:?}"
        ));
    }
    if let Some(l) = ledger {
        if l > admitted + unanswered {
            once.push(format!(
                "the ledger counts {l} requests of the quota key but only {admitted} were answered with 200 and {unanswered} more were sent without an answer"
            ));
        }
    } else {
        once.push("no member answered GetUsage for the quota key".into());
    }
    let summary = format!(
        "ledger {} for {admitted} admitted (+{unanswered} unanswered)",
        ledger.map_or("?".into(), |l| l.to_string())
    );
    let counted = Verdict::from_violations("quota usage counted once", summary, once);
    vec![quota, counted]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{NodeFinal, Probe};

    fn probe(node: u64, at: u64, status: u16) -> Probe {
        Probe {
            node,
            sent_us: at,
            done_us: at + 1000,
            status: Some(status),
            sent: true,
            error: None,
        }
    }

    fn history(admitted: u64, ledger: u64) -> History {
        let mut h = History {
            nodes: 3,
            quota_limit: Some(10),
            ..Default::default()
        };
        for i in 0..admitted {
            h.quota_probes.push(probe(1 + i % 3, i * 50_000, 200));
        }
        for i in 0..20 {
            h.quota_probes
                .push(probe(1 + i % 3, 10_000_000 + i * 50_000, 429));
        }
        for n in 1..=3 {
            h.finals.push(NodeFinal {
                node: n,
                quota_usage: Some(ledger),
                ..Default::default()
            });
        }
        h
    }

    #[test]
    fn a_quota_within_its_bound_holds_and_an_overshoot_is_caught() {
        let cfg = CheckConfig::default();
        // 10 + 3 nodes + 12 worst case = 25.
        let v = check(&history(25, 25), &cfg);
        assert!(v.iter().all(|v| v.holds), "{v:?}");
        assert!(v[0].summary.contains("20 refused"), "{v:?}");
        let v = check(&history(26, 26), &cfg);
        assert!(!v[0].holds && v[1].holds, "{v:?}");
        // Counted twice somewhere: more in the ledger than was served.
        let v = check(&history(12, 15), &cfg);
        assert!(v[0].holds && !v[1].holds, "{v:?}");
        // Members that disagree.
        let mut h = history(12, 12);
        h.finals[2].quota_usage = Some(11);
        assert!(!check(&h, &cfg)[1].holds);
        assert!(check(&History::default(), &cfg).is_empty());
    }
}
