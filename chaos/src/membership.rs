//! Membership changes during a chaos run, made the way an operator makes them: with the
//! node's own CLI (`tollgate cluster add-node` / `remove-node`, which call
//! `POST /_tollgate/cluster/members` and `DELETE /_tollgate/cluster/members/{id}` on any node).
//!
//! One call changes the configuration group (group 0); each ledger group follows by itself
//! (`raft::ledger::follow_membership` on group 0's leader: learners added, voters replaced,
//! removed nodes dropped, one step per group per second), and its leadership then moves to its
//! preferred voter (`keep_leader_spread`). So after every call the injector waits until every
//! member names, in every group, the same leader (a member) and exactly the expected voters and
//! learners, and then until every ledger group is led by its preferred voter, and records what
//! it saw ([`MembershipRecord`]); the checker ([`crate::check::membership`]) judges it.
//!
//! - **Add** (`Fault::AddNode`): a node that is not a member (the spare, or a node removed
//!   earlier, whose data folder is then wiped) is started with `join = true`, added as a
//!   learner, waited for until its data plane serves, then promoted to voter.
//! - **Remove** (`Fault::RemoveNode`): the node's traffic is drained first (the workload stops
//!   using it and its last usage reports are given time to commit), it is removed through
//!   another node, every group must drop it, one write is sent through it (it must not be
//!   acknowledged), and it is stopped with SIGTERM. With `readd` it is then added again on a
//!   fresh data folder.

use crate::faults::Injector;
use crate::history::{GroupView, Life, MembershipRecord, WriteKind};
use crate::schedule::Role;
use crate::workload;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tollgate_consensus::raft::ledger::preferred_leader;

/// How long the groups may take to settle after a membership call (membership, then leaders).
pub const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// How long one CLI call may take (the node waits up to its 10 s request timeout, forwarding
/// to the leader included).
pub const CLI_WITHIN: Duration = Duration::from_secs(45);

/// How long a drained node is left before its removal, so that its last usage reports are
/// committed (the reporter's 1 s attempt timeout and the plain window: the checker's 1.6 s).
pub const DRAIN: Duration = Duration::from_millis(2000);

/// Deadline of the write sent through a removed node (each of its attempts).
const REMOVED_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a removed node may take to say, in every group, that it was removed (after the
/// write through it, whose leader tells it at once; a follower otherwise learns it at its next
/// election timeout).
pub const KNOWS_REMOVED_WITHIN: Duration = Duration::from_secs(5);

/// What one wait for the groups found.
struct Settled {
    settled_us: Option<u64>,
    spread_us: Option<u64>,
    views: Vec<GroupView>,
}

/// Whether `views` (every expected node's views of every group) show every group with exactly
/// `voters` and `learners`, and each group's leader named alike by every node and a voter.
/// Returns each group's leader when so.
pub fn agreed(
    views: &[Vec<GroupView>],
    voters: &[u64],
    learners: &[u64],
) -> Option<Vec<Option<u64>>> {
    let first = views.first()?;
    let groups = first.len();
    let mut leaders = Vec::with_capacity(groups);
    for g in 0..groups {
        let mut leader = None;
        for node in views {
            let v = node.get(g)?;
            if v.group as usize != g || v.voters != voters || v.learners != learners {
                return None;
            }
            let l = v.leader?;
            if !voters.contains(&l) || leader.is_some_and(|x| x != l) {
                return None;
            }
            leader = Some(l);
        }
        leaders.push(leader);
    }
    Some(leaders)
}

/// Whether every ledger group (1 and up) in `leaders` is led by its preferred voter.
pub fn spread(leaders: &[Option<u64>], voters: &[u64]) -> bool {
    let set: BTreeSet<u64> = voters.iter().copied().collect();
    leaders
        .iter()
        .enumerate()
        .skip(1)
        .all(|(g, l)| *l == preferred_leader(g as u32, &set))
}

impl Injector<'_> {
    fn other_member(&mut self, not: Option<u64>) -> Option<u64> {
        let c: Vec<u64> = self
            .cluster
            .ids()
            .into_iter()
            .filter(|id| Some(*id) != not && self.cluster.is_up(*id))
            .collect();
        if c.is_empty() {
            return None;
        }
        Some(c[self.rng.below(c.len() as u64) as usize])
    }

    /// Waits (up to [`SETTLE_WITHIN`]) until every node of `voters` and `learners` names, in
    /// every group, the same leader and exactly these voters and learners — and, with
    /// `want_spread`, until every ledger group is also led by its preferred voter.
    fn settle(&mut self, voters: &[u64], learners: &[u64], want_spread: bool) -> Settled {
        let deadline = Instant::now() + SETTLE_WITHIN;
        let asked: Vec<u64> = voters.iter().chain(learners).copied().collect();
        let mut out = Settled {
            settled_us: None,
            spread_us: None,
            views: Vec::new(),
        };
        loop {
            let views: Vec<Vec<GroupView>> = asked
                .iter()
                .filter_map(|id| self.access.groups(*id, STATUS_TIMEOUT))
                .collect();
            let now = self.rec.now();
            let leaders = if views.len() == asked.len() {
                agreed(&views, voters, learners)
            } else {
                None
            };
            out.views = views.into_iter().flatten().collect();
            if let Some(leaders) = leaders {
                out.settled_us.get_or_insert(now);
                if !want_spread || spread(&leaders, voters) {
                    out.spread_us = want_spread.then_some(now);
                    return out;
                }
            }
            if Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One membership call through the CLI on node `via`, then the wait for the groups;
    /// recorded. Returns whether the call succeeded.
    #[allow(clippy::too_many_arguments)]
    fn membership_call(
        &mut self,
        step: usize,
        action: &str,
        node: u64,
        via: u64,
        fresh_data: bool,
        args: Vec<String>,
        voters: Vec<u64>,
        learners: Vec<u64>,
        want_spread: bool,
    ) -> bool {
        let start_us = self.rec.now();
        let res = self.cluster.cli(&args, CLI_WITHIN);
        let done_us = self.rec.now();
        let error = res.err();
        let ok = error.is_none();
        self.say(format!(
            "{action} node {node} through node {via}: {}",
            error.as_deref().unwrap_or("done")
        ));
        let s = if ok {
            self.settle(&voters, &learners, want_spread)
        } else {
            Settled {
                settled_us: None,
                spread_us: None,
                views: Vec::new(),
            }
        };
        if ok {
            let ms = |t: Option<u64>| {
                t.map_or("not within the deadline".to_string(), |t| {
                    format!("after {} ms", t.saturating_sub(done_us) / 1000)
                })
            };
            self.say(format!(
                "every group settled {}{}",
                ms(s.settled_us),
                if want_spread {
                    format!(", leaders spread {}", ms(s.spread_us))
                } else {
                    String::new()
                }
            ));
        }
        let record = MembershipRecord {
            step,
            action: action.to_string(),
            node,
            via,
            fresh_data,
            start_us,
            done_us,
            error,
            expected_voters: voters,
            expected_learners: learners,
            settled_us: s.settled_us,
            spread_us: s.spread_us,
            views: s.views,
            removed_write: None,
            removed_views: Vec::new(),
        };
        self.rec.with(|h| h.membership.push(record));
        ok
    }

    /// Adds node `id` (or the lowest node that is not a member), as a learner and then as a
    /// voter. Returns the node it added, if it got as far as starting one.
    pub fn add_node(&mut self, step: usize, id: Option<u64>) -> Option<u64> {
        let id = id.or_else(|| {
            self.cluster
                .all_ids()
                .into_iter()
                .find(|i| !self.cluster.is_member(*i) && !self.cluster.is_up(*i))
        });
        let Some(id) = id else {
            self.note(Err("no node left to add".into()));
            return None;
        };
        let fresh = self.cluster.has_data(id);
        if fresh {
            // It ran before (and was removed): an operator brings it back as a new node.
            let r = self.cluster.wipe(id);
            if r.is_err() {
                self.note(r);
                return None;
            }
        }
        let (Some(ep), Some(via)) = (self.cluster.endpoint(id), self.other_member(Some(id))) else {
            self.note(Err(format!("no member to add node {id} through")));
            return None;
        };
        let admin = self.cluster.endpoint(via).map(|e| e.admin)?;
        let r = self.start(id);
        if r.is_err() {
            self.note(r);
            return None;
        }
        let voters = self.cluster.ids();
        let base = vec![
            "add-node".to_string(),
            "--admin".into(),
            admin.to_string(),
            "--node-id".into(),
            id.to_string(),
            "--address".into(),
            ep.raft.to_string(),
        ];
        let mut learner = base.clone();
        learner.push("--learner".into());
        if !self.membership_call(
            step,
            "add",
            id,
            via,
            fresh,
            learner,
            voters.clone(),
            vec![id],
            false,
        ) {
            // Not added: the node is not a member; stop it again.
            self.rec.life(id, Life::Removed);
            let r = self.cluster.stop(id, Duration::from_secs(5));
            self.note(r);
            return Some(id);
        }
        self.cluster.set_member(id, true);
        if !self.wait_serving(id, self.recovery_timeout) {
            self.note(Err(format!("node {id} did not serve after it was added")));
        }
        let mut all = voters;
        all.push(id);
        all.sort_unstable();
        self.membership_call(step, "promote", id, via, fresh, base, all, Vec::new(), true);
        self.access.set_member(id, true);
        Some(id)
    }

    /// Removes a voter (the configuration group's leader or a follower), checks that it no
    /// longer takes writes, stops it, and with `readd` adds it again on a fresh data folder.
    /// Returns the nodes it removed and added.
    pub fn remove_node(
        &mut self,
        step: usize,
        role: Role,
        readd: bool,
        leader: Option<u64>,
    ) -> Vec<u64> {
        let mut targets = Vec::new();
        if self.cluster.ids().len() <= self.base_nodes {
            // Never fewer voters than the run started with: add one first.
            self.say("adding a node first, so that the removal leaves enough voters");
            if let Some(id) = self.add_node(step, None) {
                targets.push(id);
            }
        }
        let target = match role {
            Role::Leader => self.leader().map(|(l, _)| l).or(leader),
            Role::Follower => {
                let l = self.leader().map(|(l, _)| l).or(leader);
                self.other_member(l)
            }
        };
        let Some(target) = target.filter(|t| self.cluster.is_member(*t)) else {
            self.note(Err(format!("no {role:?} to remove")));
            return targets;
        };
        let Some(via) = self.other_member(Some(target)) else {
            self.note(Err("no other member to call".into()));
            return targets;
        };
        let Some(admin) = self.cluster.endpoint(via).map(|e| e.admin) else {
            return targets;
        };
        targets.push(target);
        // Drained first: no more writes or probes through it, and time for its last usage
        // reports to commit.
        self.access.set_member(target, false);
        self.hold(DRAIN);
        let voters: Vec<u64> = self
            .cluster
            .ids()
            .into_iter()
            .filter(|i| *i != target)
            .collect();
        let args = vec![
            "remove-node".to_string(),
            "--admin".into(),
            admin.to_string(),
            "--node-id".into(),
            target.to_string(),
        ];
        let ok = self.membership_call(
            step,
            "remove",
            target,
            via,
            false,
            args,
            voters,
            Vec::new(),
            true,
        );
        if !ok {
            // Still a member: back into use.
            self.access.set_member(target, true);
            return targets;
        }
        self.cluster.set_member(target, false);
        // A removed node must not acknowledge a write any more (it refuses it at once once it
        // knows; asking the leader tells it).
        let w = workload::write(
            self.access,
            self.fixture,
            self.rec,
            self.counter,
            WriteKind::CreateKey,
            target,
            REMOVED_WRITE_TIMEOUT,
        );
        self.say(format!(
            "a write through removed node {target}: {:?} after {} ms",
            w.outcome,
            w.complete_us.saturating_sub(w.invoke_us) / 1000
        ));
        // It knows it was removed, in every group (a removed follower never receives the
        // change: a member tells it when it asks).
        let deadline = Instant::now() + KNOWS_REMOVED_WITHIN;
        let seen = loop {
            let seen = self
                .access
                .groups(target, STATUS_TIMEOUT)
                .unwrap_or_default();
            let knows = !seen.is_empty() && seen.iter().all(|v| v.removed == Some(true));
            if knows || Instant::now() >= deadline {
                break seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        self.say(format!(
            "removed node {target} sees: {}",
            seen.iter()
                .map(|v| format!(
                    "group {} leader {:?} term {} voters {:?}{}",
                    v.group,
                    v.leader,
                    v.term,
                    v.voters,
                    if v.removed == Some(true) {
                        " (removed)"
                    } else {
                        ""
                    }
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        self.rec.with(|h| {
            if let Some(r) = h.membership.last_mut() {
                r.removed_write = Some(w.seq);
                r.removed_views = seen;
            }
        });
        self.rec.life(target, Life::Removed);
        let r = self.cluster.stop(target, Duration::from_secs(5));
        self.note(r);
        if readd {
            if let Some(id) = self.add_node(step, Some(target)) {
                if id != target {
                    targets.push(id);
                }
            }
        }
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(group: u32, node: u64, leader: u64, voters: &[u64], learners: &[u64]) -> GroupView {
        GroupView {
            group,
            node,
            leader: Some(leader),
            term: 3,
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            removed: None,
        }
    }

    #[test]
    fn groups_agree_only_on_exact_members_and_one_leader() {
        let v = [1, 2, 4];
        let views: Vec<Vec<GroupView>> = v
            .iter()
            .map(|n| vec![view(0, *n, 1, &v, &[]), view(1, *n, 2, &v, &[])])
            .collect();
        assert_eq!(agreed(&views, &v, &[]), Some(vec![Some(1), Some(2)]));
        assert!(spread(&[Some(1), Some(2)], &v), "group 1 prefers node 2");
        assert!(!spread(&[Some(1), Some(4)], &v));
        // A group still listing the removed node, a learner left over, a leader named
        // differently, or a leader that is not a voter: not settled.
        let mut stale = views.clone();
        stale[2][1].voters = vec![1, 2, 3, 4];
        assert_eq!(agreed(&stale, &v, &[]), None);
        let mut learner = views.clone();
        learner[0][1].learners = vec![3];
        assert_eq!(agreed(&learner, &v, &[]), None);
        let mut split = views.clone();
        split[1][0].leader = Some(2);
        assert_eq!(agreed(&split, &v, &[]), None);
        let mut outsider = views.clone();
        for n in &mut outsider {
            n[0].leader = Some(3);
        }
        assert_eq!(agreed(&outsider, &v, &[]), None);
        assert_eq!(agreed(&[], &v, &[]), None);
    }
}
