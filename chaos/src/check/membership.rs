//! Membership changes (`--membership`): what the injector saw after each `tollgate cluster
//! add-node` / `remove-node` call ([`crate::membership`]), judged.
//!
//! - **Every group follows the change**: the call succeeded, and within the deadline every
//!   member named, in the configuration group and in every ledger group, the same leader (a
//!   member) and exactly the expected voters and learners — the removed node gone from all of
//!   them, the added one in all of them.
//! - **Leaders spread after the change**: after each promotion and removal, every ledger group
//!   (1 and up) came to be led by its preferred voter (the `g mod n`-th by id), as
//!   `keep_leader_spread` steers it.
//! - **A removed node stops serving writes**: the write sent through a node after every group
//!   had dropped it was not acknowledged. (Had it been, the presence check would also require
//!   it on every member.)
//!
//! Acknowledged config writes on every member, usage counted once and within its bound, and
//! convergence are the general checks, run on the members at the end.

use super::Verdict;
use crate::history::{History, MembershipRecord, Outcome};
use std::collections::BTreeMap;

fn leaders(r: &MembershipRecord) -> String {
    // Per group: the leaders the members named.
    let mut per: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for v in &r.views {
        per.entry(v.group).or_default().push(format!(
            "{}→{}",
            v.node,
            v.leader.map_or("?".into(), |l| l.to_string())
        ));
    }
    per.iter()
        .map(|(g, ls)| format!("group {g}: {}", ls.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn members_seen(r: &MembershipRecord) -> String {
    let mut per: BTreeMap<(u32, Vec<u64>, Vec<u64>), Vec<u64>> = BTreeMap::new();
    for v in &r.views {
        per.entry((v.group, v.voters.clone(), v.learners.clone()))
            .or_default()
            .push(v.node);
    }
    per.iter()
        .map(|((g, vo, le), nodes)| {
            format!("group {g} voters {vo:?} learners {le:?} (as nodes {nodes:?} see it)")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn what(r: &MembershipRecord) -> String {
    format!(
        "step {}: {} node {} through node {}{}",
        r.step,
        r.action,
        r.node,
        r.via,
        if r.fresh_data {
            " (fresh data folder)"
        } else {
            ""
        }
    )
}

fn ms(from: u64, to: u64) -> f64 {
    to.saturating_sub(from) as f64 / 1000.0
}

/// The membership verdicts; none for a run without membership changes.
pub fn check(h: &History) -> Vec<Verdict> {
    let planned = h.schedule.as_ref().is_some_and(|s| s.changes_membership());
    if !planned && h.membership.is_empty() {
        return Vec::new();
    }
    let mut follow = Vec::new();
    // A planned change that made no call (no node left to add, none of the role to remove)
    // tested nothing: it must not pass as one that settled.
    for step in h.schedule.iter().flat_map(|s| &s.steps) {
        if step.fault.is_membership() && !h.membership.iter().any(|r| r.step == step.index) {
            follow.push(format!(
                "step {}: {:?} was planned but made no membership call",
                step.index, step.fault
            ));
        }
    }
    let mut settle_ms = Vec::new();
    for r in &h.membership {
        if let Some(e) = &r.error {
            follow.push(format!("{}: the call failed: {e}", what(r)));
        } else if let Some(t) = r.settled_us {
            settle_ms.push(ms(r.done_us, t));
        } else {
            follow.push(format!(
                "{}: the groups did not settle on voters {:?} and learners {:?} within the deadline: {}",
                what(r),
                r.expected_voters,
                r.expected_learners,
                members_seen(r)
            ));
        }
    }
    let max = |xs: &[f64]| {
        xs.iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let summary = format!(
        "{} membership calls ({} adds, {} promotions, {} removals): {} settled in every group, slowest after {}",
        h.membership.len(),
        h.membership.iter().filter(|r| r.action == "add").count(),
        h.membership.iter().filter(|r| r.action == "promote").count(),
        h.membership.iter().filter(|r| r.action == "remove").count(),
        settle_ms.len(),
        max(&settle_ms).map_or("–".into(), |m| format!("{m:.0} ms"))
    );
    let follows = Verdict::from_violations("membership changes reach every group", summary, follow);

    let mut spread = Vec::new();
    let mut spread_ms = Vec::new();
    let mut judged = 0;
    for r in h
        .membership
        .iter()
        .filter(|r| r.action != "add" && r.error.is_none() && r.settled_us.is_some())
    {
        judged += 1;
        match r.spread_us {
            Some(t) => spread_ms.push(ms(r.done_us, t)),
            None => spread.push(format!(
                "{}: not every ledger group came to be led by its preferred voter (voters {:?}) within the deadline: {}",
                what(r),
                r.expected_voters,
                leaders(r)
            )),
        }
    }
    let summary = format!(
        "{judged} changes of the voters: after {} every ledger group was led by its preferred voter (slowest after {})",
        spread_ms.len(),
        max(&spread_ms).map_or("–".into(), |m| format!("{m:.0} ms"))
    );
    let spreads = Verdict::from_violations(
        "ledger group leaders spread after membership changes",
        summary,
        spread,
    );

    let mut served = Vec::new();
    let mut asked = 0;
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    // Removals whose node's own views say whether it knows, and those where every group did.
    let (mut told, mut knew) = (0, 0);
    for r in h.membership.iter().filter(|r| r.action == "remove") {
        let Some(seq) = r.removed_write else { continue };
        let Some(w) = h.writes.iter().find(|w| w.seq == seq) else {
            served.push(format!("{}: its write {seq} was not recorded", what(r)));
            continue;
        };
        asked += 1;
        let kind = match &w.outcome {
            Outcome::Ok => "acknowledged".to_string(),
            Outcome::NotSent { .. } => "not sent".to_string(),
            Outcome::Error { status, .. } => format!("{status}"),
            Outcome::Indeterminate { .. } => "no answer".to_string(),
        };
        *answers.entry(kind).or_insert(0) += 1;
        let unaware: Vec<u32> = r
            .removed_views
            .iter()
            .filter(|v| v.removed == Some(false))
            .map(|v| v.group)
            .collect();
        if r.removed_views.iter().any(|v| v.removed.is_some()) {
            told += 1;
        }
        if !unaware.is_empty() {
            served.push(format!(
                "{}: removed node {} did not say it was removed in groups {unaware:?}",
                what(r),
                r.node
            ));
        } else if r.removed_views.iter().any(|v| v.removed == Some(true)) {
            knew += 1;
        }
        if w.outcome.is_ok() {
            served.push(format!(
                "{}: removed node {} acknowledged write {seq} (log index {:?}) after every group had dropped it",
                what(r),
                r.node,
                w.log_index
            ));
        }
    }
    let mut summary = format!(
        "{asked} writes sent through removed nodes: {}",
        if answers.is_empty() {
            "none".to_string()
        } else {
            answers
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if told > 0 {
        summary.push_str(&format!(
            "; {knew} of {told} removed nodes said so in every group"
        ));
    }
    let removed = Verdict::from_violations("a removed node stops serving writes", summary, served);
    vec![follows, spreads, removed]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{GroupView, WriteKind, WriteRecord};
    use crate::schedule::{Fault, Role, Schedule, Step};

    fn record(action: &str, node: u64) -> MembershipRecord {
        MembershipRecord {
            step: 1,
            action: action.into(),
            node,
            via: 1,
            fresh_data: false,
            start_us: 1_000_000,
            done_us: 1_200_000,
            error: None,
            expected_voters: vec![1, 2, 4],
            expected_learners: Vec::new(),
            settled_us: Some(3_000_000),
            spread_us: Some(5_000_000),
            views: vec![GroupView {
                group: 1,
                node: 1,
                leader: Some(2),
                term: 4,
                voters: vec![1, 2, 4],
                learners: Vec::new(),
                removed: None,
            }],
            removed_write: None,
            removed_views: Vec::new(),
        }
    }

    fn history() -> History {
        let mut h = History {
            nodes: 3,
            schedule: Some(Schedule {
                seed: 1,
                steps: vec![Step {
                    index: 1,
                    fault: Fault::RemoveNode {
                        role: Role::Leader,
                        readd: false,
                    },
                    settle_ms: 500,
                }],
            }),
            ..Default::default()
        };
        let mut remove = record("remove", 3);
        remove.removed_write = Some(9);
        h.membership = vec![record("add", 4), record("promote", 4), remove];
        h.writes.push(WriteRecord {
            seq: 9,
            kind: WriteKind::CreateKey,
            node: 3,
            invoke_us: 6_000_000,
            complete_us: 6_100_000,
            outcome: Outcome::Error {
                status: 503,
                message: "no leader".into(),
            },
            log_index: None,
            object: None,
            token: "chaos-k-9".into(),
            observed: Default::default(),
            attempts: 3,
        });
        h
    }

    #[test]
    fn a_clean_change_holds_and_a_run_without_changes_has_no_verdicts() {
        let v = check(&history());
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|v| v.holds), "{v:?}");
        assert!(v[2].summary.contains("1 503"), "{v:?}");
        assert!(check(&History::default()).is_empty());
        // Planned, but no call made: not a change that held.
        let mut none = history();
        none.membership.clear();
        let v = check(&none);
        assert!(!v[0].holds, "{v:?}");
        assert!(
            v[0].violations[0].contains("made no membership call"),
            "{v:?}"
        );
    }

    #[test]
    fn each_planted_violation_is_caught() {
        // A group that never dropped the removed node.
        let mut h = history();
        h.membership[2].settled_us = None;
        h.membership[2].spread_us = None;
        let v = check(&h);
        assert!(
            !v[0].holds && v[0].violations[0].contains("did not settle"),
            "{v:?}"
        );
        // A failed call.
        let mut h = history();
        h.membership[0].error = Some("refused".into());
        assert!(!check(&h)[0].holds);
        // Leaders not spread after a promotion.
        let mut h = history();
        h.membership[1].spread_us = None;
        let v = check(&h);
        assert!(v[0].holds && !v[1].holds, "{v:?}");
        assert!(v[1].violations[0].contains("group 1: 1→2"), "{v:?}");
        // A removed node that acknowledged a write.
        let mut h = history();
        h.writes[0].outcome = Outcome::Ok;
        h.writes[0].log_index = Some(77);
        let v = check(&h);
        assert!(!v[2].holds, "{v:?}");
        assert!(v[2].violations[0].contains("acknowledged write 9"), "{v:?}");
        // A removed node that does not say it was removed (in group 1), and one that does.
        let mut h = history();
        let mut view = h.membership[2].views[0].clone();
        view.node = 3;
        view.removed = Some(false);
        h.membership[2].removed_views = vec![view.clone()];
        let v = check(&h);
        assert!(!v[2].holds, "{v:?}");
        assert!(
            v[2].violations[0].contains("did not say it was removed in groups [1]"),
            "{v:?}"
        );
        view.removed = Some(true);
        h.membership[2].removed_views = vec![view];
        let v = check(&h);
        assert!(v[2].holds, "{v:?}");
        assert!(
            v[2].summary.contains("1 of 1 removed nodes said so"),
            "{v:?}"
        );
    }
}
