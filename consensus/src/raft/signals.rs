//! What one node's Raft group knows besides what openraft tracks:
//!
//! - whether it is **handing its leadership over** ([`super::ledger::keep_leader_spread`]): the
//!   leader then takes no new writes or read-index rounds and sends no heartbeats, so that the
//!   followers' leader leases run out and the voter it hands over to wins an election;
//! - when a leader **last reached it** (an AppendEntries or snapshot it accepted): the voter a
//!   leader hands over to campaigns once it has heard nothing for a lease;
//! - whether it was **removed**: a removed follower never receives the configuration that
//!   removed it (the leader stops replicating to it first), so it learns it from a peer, whose
//!   committed membership leaves it out ([`super::wire::Response::NotMember`]), or from its own
//!   membership. A removed node stops campaigning (openraft's elections are switched off) and
//!   says so ([`super::ClusterStatus::removed`]), and its writes are refused at once.
//!
//! Safety: none of this decides what is committed. Refusing a vote or a forwarded write, not
//! campaigning and not sending heartbeats only ever cost liveness, and every election still
//! needs a quorum's real votes.

use openraft::{BasicNode, Raft, RaftMetrics, ServerState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use super::TypeConfig;

/// The signals of one group on one node (shared by its [`super::RaftNode`] handles and its
/// network clients).
#[derive(Debug)]
pub struct Signals {
    handing_over: AtomicBool,
    heard: Mutex<Option<Instant>>,
    /// The highest membership log index at which a peer's committed membership left this
    /// node out.
    left_out_at: Mutex<Option<u64>>,
    removed: tokio::sync::watch::Sender<bool>,
    /// The configuration group's signals, for a ledger group: a node removed from the
    /// cluster is removed from every group (a removed node that was a group's learner would
    /// otherwise never learn it: learners do not campaign).
    config: Option<Arc<Signals>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How often [`watch_removal`] looks again without news.
const REMOVAL_CHECK: Duration = Duration::from_millis(250);

impl Signals {
    /// Fresh signals of a configuration group: not handing over, nothing heard, not removed.
    pub fn new() -> Arc<Signals> {
        Signals::with_config(None)
    }

    /// Fresh signals of a group beside the configuration group whose signals are `config`.
    pub fn for_group(config: Arc<Signals>) -> Arc<Signals> {
        Signals::with_config(Some(config))
    }

    fn with_config(config: Option<Arc<Signals>>) -> Arc<Signals> {
        Arc::new(Signals {
            handing_over: AtomicBool::new(false),
            heard: Mutex::new(None),
            left_out_at: Mutex::new(None),
            removed: tokio::sync::watch::Sender::new(false),
            config,
        })
    }

    /// Whether this node (the leader) is handing its leadership over: it then proposes
    /// nothing new and confirms no reads.
    pub fn handing_over(&self) -> bool {
        self.handing_over.load(Ordering::Acquire)
    }

    /// Starts or ends a handover; elections are switched off on this node meanwhile (it must
    /// not take back the leadership it gives away), and back on after it unless removed.
    pub fn set_handing_over(&self, raft: &Raft<TypeConfig>, on: bool) {
        self.handing_over.store(on, Ordering::Release);
        self.apply_elect(raft);
    }

    fn apply_elect(&self, raft: &Raft<TypeConfig>) {
        raft.runtime_config()
            .elect(!self.handing_over() && !self.removed());
    }

    /// Records that a leader reached this node just now.
    pub fn heard_from_leader(&self) {
        *lock(&self.heard) = Some(Instant::now());
    }

    /// How long since a leader last reached this node (`None`: never, since it started).
    pub fn silent_for(&self) -> Option<Duration> {
        lock(&self.heard).map(|t| t.elapsed())
    }

    /// Records a peer's answer that its committed membership, at log index `index`, leaves
    /// this node out. What it means is decided against this node's own membership
    /// ([`Signals::judge`]): a peer that has not yet seen this node added says the same.
    pub fn peer_left_us_out(&self, index: u64) {
        let mut at = lock(&self.left_out_at);
        *at = Some(at.map_or(index, |i| i.max(index)));
    }

    /// Whether this node knows it was removed from the group.
    pub fn removed(&self) -> bool {
        *self.removed.borrow()
    }

    /// Decides whether this node is removed from what it knows now (`m`, its metrics), records
    /// it, and switches its elections off (or back on); returns it.
    pub fn judge(&self, raft: &Raft<TypeConfig>, m: &RaftMetrics<u64, BasicNode>) -> bool {
        let by_config = self.config.as_ref().is_some_and(|c| c.removed());
        let removed = removed_verdict(&mut lock(&self.left_out_at), m, by_config);
        let own_index = m.membership_config.log_id().map_or(0, |l| l.index);
        if removed != self.removed() {
            tracing::info!(
                node = m.id,
                removed,
                membership_index = own_index,
                "this node's membership of the group changed: it {} campaigns",
                if removed { "no longer" } else { "again" }
            );
            self.removed.send_replace(removed);
            self.apply_elect(raft);
        }
        removed
    }

    /// Resolves once this node knows it was removed.
    pub async fn wait_removed(&self) {
        let mut rx = self.removed.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }
}

/// Whether node `m.id` is removed from its group, from its metrics `m`, the highest
/// membership index at which a member said its committed membership leaves it out
/// (`left_out_at`, dropped once its own membership is as new: a re-added node), and whether
/// the configuration group says it is removed (`by_config`).
fn removed_verdict(
    left_out_at: &mut Option<u64>,
    m: &RaftMetrics<u64, BasicNode>,
    by_config: bool,
) -> bool {
    let stored = &m.membership_config;
    let own_index = stored.log_id().map_or(0, |l| l.index);
    if left_out_at.is_some_and(|i| own_index >= i) {
        *left_out_at = None;
    }
    let by_peer = left_out_at.is_some();
    // Its own committed membership without it (a removed leader, or a follower that received
    // the change): removed. An uninitialised node has no membership and waits to be added.
    let member = stored.membership().get_node(&m.id).is_some();
    let committed = m.last_applied.map_or(0, |l| l.index) >= own_index;
    let by_own = stored.log_id().is_some() && committed && !member;
    by_peer || by_own || by_config
}

/// Keeps `signals`' removal verdict current for as long as `raft` runs (see
/// [`Signals::judge`]): on each change of its metrics, and every [`REMOVAL_CHECK`] (a peer's
/// answer, or the configuration group's verdict, changes no metric of this group).
pub async fn watch_removal(raft: Raft<TypeConfig>, signals: Arc<Signals>) {
    let mut rx = raft.metrics();
    loop {
        {
            let m = rx.borrow_and_update();
            if m.running_state.is_err() || m.state == ServerState::Shutdown {
                return;
            }
            signals.judge(&raft, &m);
        }
        // A timeout is a look again; a closed channel, a stopped node.
        if let Ok(Err(_)) = tokio::time::timeout(REMOVAL_CHECK, rx.changed()).await {
            return;
        }
    }
}

/// The membership log index at which `m`'s committed membership leaves node `from` out, or
/// `None` when it holds it (or is not committed here yet, or there is none): what a node
/// answers a vote, forwarded write or read-index request from `from` with.
pub fn leaves_out(m: &RaftMetrics<u64, BasicNode>, from: u64) -> Option<u64> {
    let stored = &m.membership_config;
    let index = stored.log_id().map(|l| l.index)?;
    let applied = m.last_applied.map(|l| l.index)?;
    (applied >= index && stored.membership().get_node(&from).is_none()).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};
    use std::collections::BTreeSet;

    fn metrics(
        id: u64,
        voters: &[u64],
        membership_at: u64,
        applied: u64,
    ) -> RaftMetrics<u64, BasicNode> {
        let log_id = |i| LogId::new(CommittedLeaderId::new(1, 1), i);
        let mut m = RaftMetrics::new_initial(id);
        let ids: BTreeSet<u64> = voters.iter().copied().collect();
        m.membership_config = Arc::new(StoredMembership::new(
            Some(log_id(membership_at)),
            Membership::new(vec![ids], None),
        ));
        m.last_applied = Some(log_id(applied));
        m
    }

    #[test]
    fn a_member_leaves_out_only_non_members_of_its_committed_membership() {
        let m = metrics(1, &[1, 2, 3], 40, 50);
        assert_eq!(leaves_out(&m, 4), Some(40));
        assert_eq!(leaves_out(&m, 2), None);
        // Not applied here yet: it may not be the cluster's membership.
        let m = metrics(1, &[1, 2, 3], 40, 39);
        assert_eq!(leaves_out(&m, 4), None);
        // No membership at all (a node waiting to join).
        assert_eq!(leaves_out(&RaftMetrics::new_initial(1), 4), None);
    }

    #[test]
    fn a_node_is_removed_by_a_newer_membership_without_it_and_back_when_added_again() {
        // Node 4's membership (index 30) still holds it; a member's, at 40, does not.
        let m = metrics(4, &[1, 2, 3, 4], 30, 35);
        let mut at = None;
        assert!(!removed_verdict(&mut at, &m, false));
        at = Some(40);
        assert!(removed_verdict(&mut at, &m, false));
        // A member that had not yet seen it added (its membership older than node 4's): no.
        let mut old = Some(20);
        assert!(!removed_verdict(&mut old, &m, false));
        assert_eq!(old, None);
        // Added again: its membership at 60 holds it; the old evidence is dropped.
        let m = metrics(4, &[1, 2, 3, 4], 60, 60);
        assert!(!removed_verdict(&mut at, &m, false));
        assert_eq!(at, None);
        // Its own committed membership without it (a removed leader).
        let m = metrics(4, &[1, 2, 3], 70, 70);
        assert!(removed_verdict(&mut None, &m, false));
        // …but not while that membership is uncommitted here.
        let m = metrics(4, &[1, 2, 3], 70, 69);
        assert!(!removed_verdict(&mut None, &m, false));
        // The configuration group says so: every group is removed.
        let m = metrics(4, &[1, 2, 3, 4], 30, 35);
        assert!(removed_verdict(&mut None, &m, true));
        // A node that was never initialised is not removed.
        assert!(!removed_verdict(
            &mut None,
            &RaftMetrics::new_initial(4),
            false
        ));
    }
}
