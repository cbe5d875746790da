//! The API-key usage ledger against what the chaos client was served.
//!
//! How usage reaches the ledger (node/src/dataplane/usage.rs, node/src/usage_reporter.rs): a
//! worker counts each admitted request of a key, hands its counts to the control thread every
//! 100 ms, and the control thread proposes them through Raft every 250 ms as one report with
//! the node's next sequence number, retried unchanged until committed; the state machine
//! applies a (node, sequence number) once. So:
//!
//! Each node's prober sends its own key, so each key's ledger is one node's usage, and both
//! bounds are checked per node:
//!
//! - **Never more than served.** Each counted request is one the node admitted. The ledger
//!   may exceed the 200s the client saw only by requests whose answer the client never got
//!   (a timeout, a reset, a node killed or paused mid-answer), so
//!   `ledger ≤ answered 200 + sent without an answer`.
//! - **Loses at most the bound.** A node killed with `-9` loses what it had counted but not yet
//!   committed: the traffic it served in the last [`CheckConfig::usage_window_us`] (flush +
//!   report + commit) before the kill — or, if a fault came less than
//!   [`CheckConfig::usage_stuck_us`] before (a report proposed into a partition or to a dead
//!   leader waits up to the reporter's 1 s attempt timeout before it is retried, and counts
//!   pile up behind it), everything since that fault began (chained back through faults that follow
//!   each other that closely), but never back beyond the start of the killed process (it
//!   cannot lose what an earlier process of that node counted). Nothing else loses usage: a paused node, a partitioned node
//!   or a leader change only delay it. So `ledger ≥ answered 200 − Σ per-kill bound`.

use super::{secs, CheckConfig, Verdict};
use crate::history::{History, Life, Micros};
use serde::{Deserialize, Serialize};

/// One kill and the usage it may have lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillBound {
    /// The node killed.
    pub node: u64,
    /// When.
    pub at_us: Micros,
    /// Start of the window whose usage it may have lost.
    pub window_start_us: Micros,
    /// 200s it served in that window.
    pub served_in_window: u64,
    /// 200s it served in the plain window (the last `usage_window_us` before the kill).
    pub served_in_plain_window: u64,
}

/// One node's usage key: its ledger against what the node served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeUsage {
    /// The node (its prober is the only sender of its key).
    pub node: u64,
    /// 200s the client got from it.
    pub served_ok: u64,
    /// Requests sent to it whose answer never came (may have been counted).
    pub unanswered: u64,
    /// GetUsage total of its key (summed over days), as the nodes agree on it.
    pub ledger: Option<u64>,
    /// `served_ok − ledger` (negative: the ledger counted unanswered requests).
    pub lost: i64,
    /// Σ of its kills' bounds.
    pub loss_bound: u64,
    /// Σ of its kills' plain windows (what the loss would be if no report were ever stuck).
    pub plain_bound: u64,
    /// Its kills.
    pub kills: Vec<KillBound>,
}

/// The ledger against what was served, per node and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageResult {
    /// Per node.
    pub nodes: Vec<NodeUsage>,
    /// Σ served.
    pub served_ok: u64,
    /// Σ unanswered.
    pub unanswered: u64,
    /// Σ ledger (None if any node's is unknown).
    pub ledger: Option<u64>,
    /// Σ lost.
    pub lost: i64,
    /// Σ bounds.
    pub loss_bound: u64,
    /// Σ plain windows.
    pub plain_bound: u64,
    /// Kills in all.
    pub kills: usize,
}

/// The start of the window of usage a kill at `at` may lose (see the module docs). `since`:
/// when the killed process started (it cannot lose what an earlier process counted).
pub fn window_start(h: &History, at: Micros, since: Micros, cfg: &CheckConfig) -> Micros {
    let ws = chained_start(h, at, cfg);
    ws.max(since)
}

fn chained_start(h: &History, at: Micros, cfg: &CheckConfig) -> Micros {
    let mut ws = at.saturating_sub(cfg.usage_window_us);
    // Chain back through faults that ended less than `usage_stuck_us` before the window.
    for _ in 0..=h.faults.len() {
        let earlier = h
            .faults
            .iter()
            .filter(|f| f.start_us < ws)
            .filter(|f| f.recovered_us.unwrap_or(f.heal_us.max(at)) + cfg.usage_stuck_us >= ws)
            .map(|f| f.start_us)
            .min();
        match earlier {
            Some(s) if s < ws => ws = s,
            _ => break,
        }
    }
    ws
}

fn node_usage(h: &History, node: u64, cfg: &CheckConfig) -> NodeUsage {
    let probes: Vec<_> = h.probes.iter().filter(|p| p.node == node).collect();
    let served_ok = probes.iter().filter(|p| p.ok()).count() as u64;
    let unanswered = probes
        .iter()
        .filter(|p| p.sent && p.status.is_none())
        .count() as u64;
    let ledger = h
        .finals
        .iter()
        .filter(|f| f.error.is_none())
        .filter_map(|f| f.usage.get(&node).copied())
        .max();
    let served_between = |from: Micros, to: Micros| {
        probes
            .iter()
            .filter(|p| p.ok() && p.done_us >= from && p.done_us <= to)
            .count() as u64
    };
    let kills: Vec<KillBound> = h
        .node_events
        .iter()
        .filter(|e| e.node == node && e.life == Life::Killed)
        .map(|e| {
            let since = h
                .node_events
                .iter()
                .filter(|s| s.node == node && s.life == Life::Started && s.at_us <= e.at_us)
                .map(|s| s.at_us)
                .max()
                .unwrap_or(0);
            let ws = window_start(h, e.at_us, since, cfg);
            KillBound {
                node,
                at_us: e.at_us,
                window_start_us: ws,
                served_in_window: served_between(ws, e.at_us),
                served_in_plain_window: served_between(
                    e.at_us.saturating_sub(cfg.usage_window_us),
                    e.at_us,
                ),
            }
        })
        .collect();
    NodeUsage {
        node,
        served_ok,
        unanswered,
        ledger,
        lost: ledger.map_or(0, |l| served_ok as i64 - l as i64),
        loss_bound: kills.iter().map(|k| k.served_in_window).sum(),
        plain_bound: kills.iter().map(|k| k.served_in_plain_window).sum(),
        kills,
    }
}

/// The usage verdicts: no over-count, and loss within the bound, for every node's key.
pub fn check(h: &History, cfg: &CheckConfig) -> (UsageResult, Vec<Verdict>) {
    let nodes: Vec<NodeUsage> = h
        .node_ids()
        .into_iter()
        .map(|n| node_usage(h, n, cfg))
        .collect();
    let mut over = Vec::new();
    let mut under = Vec::new();
    for n in &nodes {
        let ledgers: Vec<u64> = h
            .finals
            .iter()
            .filter(|f| f.error.is_none())
            .filter_map(|f| f.usage.get(&n.node).copied())
            .collect();
        let Some(l) = n.ledger else {
            over.push(format!(
                "node {}: no node answered GetUsage for its key",
                n.node
            ));
            under.push(format!(
                "node {}: no node answered GetUsage for its key",
                n.node
            ));
            continue;
        };
        if ledgers.iter().any(|x| *x != l) {
            over.push(format!(
                "node {}: the nodes' ledgers of its key disagree: {ledgers:?}",
                n.node
            ));
        }
        if l > n.served_ok + n.unanswered {
            over.push(format!(
                "node {}: the ledger counts {l} requests but only {} were answered with 200 and {} more were sent without an answer",
                n.node, n.served_ok, n.unanswered
            ));
        }
        if l + n.loss_bound < n.served_ok {
            let kills = n
                .kills
                .iter()
                .map(|k| {
                    format!(
                        "killed at {} (window from {}: {} served)",
                        secs(k.at_us),
                        secs(k.window_start_us),
                        k.served_in_window
                    )
                })
                .collect::<Vec<_>>();
            under.push(format!(
                "node {}: the ledger counts {l} of {} served requests: {} lost, more than the bound of {} [{}]",
                n.node,
                n.served_ok,
                n.served_ok - l,
                n.loss_bound,
                if kills.is_empty() {
                    "never killed".to_string()
                } else {
                    kills.join("; ")
                }
            ));
        }
    }
    let known = nodes.iter().all(|n| n.ledger.is_some());
    let result = UsageResult {
        served_ok: nodes.iter().map(|n| n.served_ok).sum(),
        unanswered: nodes.iter().map(|n| n.unanswered).sum(),
        ledger: known.then(|| nodes.iter().filter_map(|n| n.ledger).sum()),
        lost: nodes.iter().map(|n| n.lost).sum(),
        loss_bound: nodes.iter().map(|n| n.loss_bound).sum(),
        plain_bound: nodes.iter().map(|n| n.plain_bound).sum(),
        kills: nodes.iter().map(|n| n.kills.len()).sum(),
        nodes,
    };
    let summary = format!(
        "ledger {} for {} served (+{} unanswered); lost {}, bound {} over {} kills (plain windows {})",
        result.ledger.map_or("?".into(), |l| l.to_string()),
        result.served_ok,
        result.unanswered,
        result.lost,
        result.loss_bound,
        result.kills,
        result.plain_bound
    );
    let verdicts = vec![
        Verdict::from_violations("usage never counts more than served", summary.clone(), over),
        Verdict::from_violations("usage loses at most the bound", summary, under),
    ];
    (result, verdicts)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn exact_usage_passes_and_a_kill_allows_its_window() {
        let h = clean_history();
        let (r, v) = check(&h, &CheckConfig::default());
        assert!(v.iter().all(|v| v.holds), "{v:?}");
        assert_eq!(r.kills, 1);
        // Node 2 served one probe in the 600 ms before its kill at 5.0 s (fixture).
        assert_eq!(r.nodes[1].kills[0].served_in_window, 1);
        let mut h = clean_history();
        for f in &mut h.finals {
            *f.usage.get_mut(&2).unwrap() -= 1;
        }
        let (r, v) = check(&h, &CheckConfig::default());
        assert_eq!(r.lost, 1);
        assert!(v.iter().all(|v| v.holds), "{v:?}");
    }

    #[test]
    fn an_over_count_is_caught() {
        let mut h = clean_history();
        for f in &mut h.finals {
            *f.usage.get_mut(&1).unwrap() += 5;
        }
        let (_, v) = check(&h, &CheckConfig::default());
        assert!(!v[0].holds, "{v:?}");
        assert!(v[0].violations[0].contains("only"), "{v:?}");
        assert!(v[0].violations[0].contains("node 1"), "{v:?}");
        assert!(v[1].holds);
    }

    #[test]
    fn a_loss_beyond_the_bound_is_caught() {
        let mut h = clean_history();
        for f in &mut h.finals {
            *f.usage.get_mut(&2).unwrap() -= 3;
        }
        let (_, v) = check(&h, &CheckConfig::default());
        assert!(v[0].holds);
        assert!(!v[1].holds, "{v:?}");
        // A node never killed may lose nothing.
        let mut h = clean_history();
        *h.finals[0].usage.get_mut(&3).unwrap() -= 1;
        h.finals[1].usage = h.finals[0].usage.clone();
        h.finals[2].usage = h.finals[0].usage.clone();
        let (_, v) = check(&h, &CheckConfig::default());
        assert!(!v[1].holds);
        assert!(v[1].violations[0].contains("never killed"), "{v:?}");
    }

    #[test]
    fn a_kill_soon_after_a_fault_extends_the_window_to_its_start() {
        let mut h = clean_history();
        let cfg = CheckConfig::default();
        let at = h.faults[0].start_us + 3_000_000;
        // The fixture's fault (a leader kill at 5 s, recovered at 7 s) is 1 s before `at`.
        assert_eq!(window_start(&h, at, 0, &cfg), h.faults[0].start_us);
        // …but not back beyond the start of the killed process.
        assert_eq!(window_start(&h, at, 6_500_000, &cfg), 6_500_000);
        // Long after it, only the plain window applies.
        let late = h.faults[0].recovered_us.unwrap() + cfg.usage_stuck_us + 5_000_000;
        assert_eq!(window_start(&h, late, 0, &cfg), late - cfg.usage_window_us);
        h.faults.clear();
        assert_eq!(window_start(&h, at, 0, &cfg), at - cfg.usage_window_us);
    }
}
