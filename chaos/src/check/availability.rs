//! Data-plane availability: of the probes sent to a node while it was live (serving, not
//! killed, not paused, for the probe's whole flight), the share answered with 200.

use super::{secs, Verdict};
use crate::history::{History, Life, Micros, NodeEvent};
use serde::{Deserialize, Serialize};

/// One node's availability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeAvailability {
    /// The node.
    pub node: u64,
    /// Probes that fell wholly inside a live interval.
    pub counted: usize,
    /// Of those, answered with 200.
    pub ok: usize,
    /// Of those, not answered with 200 (`counted − ok`).
    pub failed: usize,
    /// Probes left out (node down, paused, starting, or the probe straddled a change).
    pub excluded: usize,
    /// `ok / counted`, percent (100 when nothing was counted).
    pub percent: f64,
    /// The failed counted probes (capped at 20).
    pub failures: Vec<String>,
}

/// The intervals during which `node` was live, from its events, up to `end`.
pub fn live_intervals(events: &[NodeEvent], node: u64, end: Micros) -> Vec<(Micros, Micros)> {
    let mut evs: Vec<&NodeEvent> = events.iter().filter(|e| e.node == node).collect();
    evs.sort_by_key(|e| e.at_us);
    let mut out = Vec::new();
    let mut live_since: Option<Micros> = None;
    for e in evs {
        match e.life {
            Life::Serving | Life::Continued => {
                live_since.get_or_insert(e.at_us);
            }
            Life::Killed | Life::Stopped | Life::Started | Life::Removed => {
                if let Some(s) = live_since.take() {
                    out.push((s, e.at_us));
                }
            }
        }
    }
    if let Some(s) = live_since {
        out.push((s, end.max(s)));
    }
    out
}

/// Availability per node, and the verdict: every node at least `min_percent`.
pub fn check(h: &History, min_percent: f64) -> (Vec<NodeAvailability>, Verdict) {
    let end = h
        .probes
        .iter()
        .map(|p| p.done_us)
        .max()
        .unwrap_or(0)
        .max(h.end_us);
    let mut nodes: Vec<u64> = h.probes.iter().map(|p| p.node).collect();
    nodes.extend(1..=h.nodes as u64);
    nodes.sort_unstable();
    nodes.dedup();
    let mut out = Vec::new();
    let mut violations = Vec::new();
    for node in nodes {
        let live = live_intervals(&h.node_events, node, end);
        let inside = |a: Micros, b: Micros| live.iter().any(|(s, e)| *s <= a && b <= *e);
        let mut a = NodeAvailability {
            node,
            counted: 0,
            ok: 0,
            failed: 0,
            excluded: 0,
            percent: 100.0,
            failures: Vec::new(),
        };
        for p in h.probes.iter().filter(|p| p.node == node) {
            if !inside(p.sent_us, p.done_us) {
                a.excluded += 1;
                continue;
            }
            a.counted += 1;
            if p.ok() {
                a.ok += 1;
            } else {
                a.failed += 1;
                if a.failures.len() < 20 {
                    a.failures.push(format!(
                        "node {node} at {} (took {}): {}",
                        secs(p.sent_us),
                        secs(p.done_us.saturating_sub(p.sent_us)),
                        match (p.status, &p.error) {
                            (Some(s), _) => format!("status {s}"),
                            (None, Some(e)) => e.clone(),
                            (None, None) => "no answer".into(),
                        }
                    ));
                }
            }
        }
        if a.counted > 0 {
            a.percent = 100.0 * a.ok as f64 / a.counted as f64;
        }
        if a.percent < min_percent {
            violations.push(format!(
                "node {node}: {:.3}% of {} probes answered (below {min_percent}%); first failures: {}",
                a.percent,
                a.counted,
                a.failures.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ));
        }
        if a.counted == 0 && h.nodes > 0 && node <= h.nodes as u64 && !h.probes.is_empty() {
            violations.push(format!("node {node}: no probe fell in a live interval"));
        }
        out.push(a);
    }
    let counted: usize = out.iter().map(|a| a.counted).sum();
    let ok: usize = out.iter().map(|a| a.ok).sum();
    let summary = format!(
        "{ok} of {counted} probes to live nodes answered ({:.3}%); lowest node {:.3}%",
        if counted == 0 {
            100.0
        } else {
            100.0 * ok as f64 / counted as f64
        },
        out.iter().map(|a| a.percent).fold(100.0, f64::min)
    );
    (
        out,
        Verdict::from_violations("data plane answered on live nodes", summary, violations),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::history::Probe;

    #[test]
    fn live_intervals_follow_the_node_life() {
        let ev = |at_us, life| NodeEvent {
            node: 1,
            at_us,
            life,
        };
        let events = vec![
            ev(0, Life::Started),
            ev(10, Life::Serving),
            ev(50, Life::Stopped),
            ev(70, Life::Continued),
            ev(90, Life::Killed),
            ev(100, Life::Started),
            ev(120, Life::Serving),
        ];
        assert_eq!(
            live_intervals(&events, 1, 200),
            vec![(10, 50), (70, 90), (120, 200)]
        );
        assert!(live_intervals(&events, 2, 200).is_empty());
    }

    #[test]
    fn failures_on_live_nodes_count_and_on_dead_ones_do_not() {
        let mut h = clean_history();
        let (_, v) = check(&h, 99.0);
        assert!(v.holds, "{v:?}");
        // A probe to node 2 while it was killed (see the fixture) does not count…
        h.probes.push(Probe {
            node: 2,
            sent_us: 5_200_000,
            done_us: 5_200_100,
            status: None,
            sent: false,
            error: Some("connection refused".into()),
        });
        let (a, v) = check(&h, 99.0);
        assert!(v.holds, "{v:?}");
        assert_eq!(a[1].excluded, 1);
        // …but failures on a live node do.
        for i in 0..10 {
            h.probes.push(Probe {
                node: 1,
                sent_us: 2_000_000 + i,
                done_us: 2_000_500 + i,
                status: Some(502),
                sent: true,
                error: None,
            });
        }
        let (a, v) = check(&h, 99.0);
        assert!(!v.holds);
        assert_eq!(a[0].failures.len(), 10);
        assert!(a[0].percent < 99.0);
    }
}
