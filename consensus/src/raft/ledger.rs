//! The usage ledger sharded over Raft groups: which group owns a key's usage, how a report is
//! split between the groups, and which node each group's leadership is steered to.
//!
//! With `G` ledger groups, a key's usage lives in group `fnv1a(key id) % G`. Group 0 is the
//! configuration group and also holds ledger slice 0, so `G = 1` is the unsharded cluster,
//! unchanged. Groups `1..G` run on the same QUIC endpoint ([`super::RaftNode::start_group`]),
//! each with its own log, state machine and snapshots (of its slice of the ledger).
//!
//! Leaders are spread: group `g` prefers the `g mod n`-th voter (by id) of its membership.
//! openraft 0.9 has no leadership transfer, so the leader hands over by going quiet once the
//! preferred voter holds its log, and the preferred voter campaigns when it hears nothing
//! ([`keep_leader_spread`]). This costs the group about 1.5 s without writes (which reports
//! ride out by retrying), and is tried at most every [`SPREAD_EVERY`], backing off after
//! failures.

use super::RaftNode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;
use tollgate_proto::UsageDelta;

/// The most ledger groups a cluster may run.
pub const MAX_GROUPS: u32 = 64;

/// The least time between two leadership handovers of a group's leader (and two campaigns of
/// its preferred voter).
pub const SPREAD_EVERY: Duration = Duration::from_secs(3);

/// The key id a ledger id counts for: a plan usage id is `{plan}:{key}` (ids never hold a
/// `:`), a bare key id (older builds) is itself. All of a key's ledger ids land in one group.
pub fn key_of(ledger_id: &str) -> &str {
    match ledger_id.split_once(':') {
        Some((_, key)) => key,
        None => ledger_id,
    }
}

/// The ledger group (0 to `groups - 1`) owning `ledger_id`'s usage. Stable across builds
/// and platforms (FNV-1a 64 of the key id): it decides where usage is stored.
pub fn group_of(ledger_id: &str, groups: u32) -> u32 {
    if groups <= 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key_of(ledger_id).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(groups)) as u32
}

/// Splits usage deltas by owning group; groups with no usage are absent.
pub fn split(deltas: Vec<UsageDelta>, groups: u32) -> BTreeMap<u32, Vec<UsageDelta>> {
    split_by(deltas, groups, |d| d)
}

/// [`split`] of anything that carries a usage delta (`delta` finds it), kept in order.
pub fn split_by<T>(
    items: Vec<T>,
    groups: u32,
    delta: impl Fn(&T) -> &UsageDelta,
) -> BTreeMap<u32, Vec<T>> {
    let mut out: BTreeMap<u32, Vec<T>> = BTreeMap::new();
    for item in items {
        let g = group_of(&delta(&item).key_id, groups);
        out.entry(g).or_default().push(item);
    }
    out
}

/// The most bytes of usage deltas one ledger entry carries (a report is chunked into entries
/// of at most this much, see [`chunks`]). Well under what a heartbeat may wait behind: a
/// multi-megabyte entry held group 0's heartbeats back long enough to cost its leadership.
pub const MAX_ENTRY_DELTA_BYTES: usize = 64 * 1024;

/// An upper bound of the encoded size of `d` in a log entry (a MessagePack array of two: the
/// id's string header of at most 5 bytes and its bytes, a count of at most 9 bytes).
pub fn delta_bytes(d: &UsageDelta) -> usize {
    1 + 5 + d.key_id.len() + 9
}

/// Cuts `deltas` into chunks whose [`delta_bytes`] add up to at most `max_bytes` each (a
/// single delta larger than that travels alone), in order. No deltas: no chunks. Each chunk
/// is reported as its own entry with its own sequence number, so each counts exactly once
/// however the others fare.
pub fn chunks(deltas: Vec<UsageDelta>, max_bytes: usize) -> Vec<Vec<UsageDelta>> {
    chunks_by(deltas, max_bytes, |d| d)
}

/// [`chunks`] of anything that carries a usage delta (`delta` finds it).
pub fn chunks_by<T>(
    items: Vec<T>,
    max_bytes: usize,
    delta: impl Fn(&T) -> &UsageDelta,
) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    let mut size = 0;
    for item in items {
        let n = delta_bytes(delta(&item));
        if !cur.is_empty() && size + n > max_bytes {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += n;
        cur.push(item);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The voter group `group` prefers as leader: the `group mod n`-th of `voters` by id.
pub fn preferred_leader(group: u32, voters: &BTreeSet<u64>) -> Option<u64> {
    if voters.is_empty() {
        return None;
    }
    let i = group as usize % voters.len();
    voters.iter().nth(i).copied()
}

/// Steers the leadership of `node`'s group to its preferred voter, for as long as the group
/// runs. openraft 0.9 has no leadership transfer, and a voter refuses to vote while its leader
/// lease (the longest election timeout since it last heard from the leader) runs, so a
/// preferred voter's own election only wins where the leader's vote is enough (3 voters);
/// with 4 the leader must cooperate. So the leader hands over:
///
/// 1. a leader that is not the group's preferred voter, seeing that voter's replication within
///    [`HANDOVER_LAG`] entries of its log, stops taking writes and read-index rounds and stops
///    sending heartbeats and switches its own elections off ([`super::signals::Signals`]);
/// 2. once the preferred voter holds the whole log (at most [`CATCH_UP`]), it waits;
/// 3. the followers' leases run out; the preferred voter, having heard nothing from the leader
///    for a lease and three heartbeats, campaigns (at most once per [`SPREAD_EVERY`]) with a
///    log at least as long as every voter's, and a quorum grants it;
/// 4. the old leader, once the preferred voter leads or the window (that silence and another
///    second) has passed, takes writes and sends heartbeats again.
///
/// Writes wait for the handover (about 1.5 s) and are asked again: none is lost or doubled
/// (they were refused before being appended, as with any leader change). A handover that did
/// not end with the preferred voter leading is tried again after a back-off that doubles up to
/// [`MAX_BACKOFF`]; a new leader waits [`SPREAD_EVERY`] before its first.
pub async fn keep_leader_spread(node: RaftNode) {
    let silence = silence(node.raft().config());
    let mut next_handover = Instant::now() + SPREAD_EVERY;
    let mut failures: u32 = 0;
    let mut last_campaign: Option<Instant> = None;
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        if node.stopped().is_some() {
            return;
        }
        if node.removed() {
            continue; // a removed node's stale membership may still name it preferred
        }
        let step = {
            let m = node.raft().metrics();
            let m = m.borrow();
            decide(&m, node.group(), node.signals().silent_for(), silence)
        };
        match step {
            Spread::HandOver(to) if Instant::now() >= next_handover => {
                let moved = hand_over(&node, to, silence).await;
                failures = if moved { 0 } else { failures + 1 };
                next_handover = Instant::now() + backoff(failures);
            }
            Spread::HandOver(_) => {}
            Spread::Campaign => {
                if last_campaign.is_some_and(|t| t.elapsed() < SPREAD_EVERY) {
                    continue;
                }
                last_campaign = Some(Instant::now());
                tracing::info!(
                    node = node.id(),
                    group = node.group(),
                    "the leader went quiet: taking the leadership of the group this node is preferred for"
                );
                if node.raft().trigger().elect().await.is_err() {
                    return;
                }
            }
            Spread::Stay { leading } => {
                if !leading {
                    failures = 0;
                    next_handover = Instant::now() + SPREAD_EVERY;
                }
            }
        }
    }
}

/// How often [`keep_leader_spread`] looks at the group.
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// The longest a leader handing over waits for the preferred voter to hold its whole log.
pub const CATCH_UP: Duration = Duration::from_secs(1);

/// The most entries the preferred voter may lag behind the leader's log for a handover to
/// begin (the rest it receives while writes wait).
pub const HANDOVER_LAG: u64 = 64;

/// The longest wait between two handovers after failed ones.
pub const MAX_BACKOFF: Duration = Duration::from_secs(48);

/// The wait before the next handover after `failures` failed ones in a row: [`SPREAD_EVERY`],
/// doubled per failure up to [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    SPREAD_EVERY
        .saturating_mul(1 << failures.min(5))
        .min(MAX_BACKOFF)
}

/// How long the preferred voter waits without hearing from the leader before it campaigns:
/// the followers' leader lease (openraft's: the longest election timeout) and three
/// heartbeats, so their leases have surely run out.
pub fn silence(config: &openraft::Config) -> Duration {
    Duration::from_millis(config.election_timeout_max + 3 * config.heartbeat_interval)
}

/// What a node of a group does about the group's leadership (see [`decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// Lead on, or follow (`leading`: this node leads).
    Stay {
        /// This node leads the group.
        leading: bool,
    },
    /// This node leads but another voter is preferred, and has (nearly) the whole log: hand
    /// the leadership over to it.
    HandOver(u64),
    /// This node is preferred, another leads, and it has not been heard from for the silence:
    /// campaign.
    Campaign,
}

/// What node `m.id` of `group` should do about the leadership, from its metrics `m`, how long
/// since it last heard from a leader, and the silence a preferred voter waits for.
pub fn decide(
    m: &openraft::RaftMetrics<u64, openraft::BasicNode>,
    group: u32,
    silent_for: Option<Duration>,
    silence: Duration,
) -> Spread {
    let leading = m.state == openraft::ServerState::Leader && m.current_leader == Some(m.id);
    let stay = Spread::Stay { leading };
    let membership = m.membership_config.membership();
    if membership.get_joint_config().len() != 1 {
        return stay; // a membership change is under way
    }
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let Some(preferred) = preferred_leader(group, &voters) else {
        return stay;
    };
    if leading {
        if preferred == m.id {
            return stay;
        }
        let last = m.last_log_index.unwrap_or(0);
        return match matched(m, preferred) {
            Some(x) if x + HANDOVER_LAG >= last => Spread::HandOver(preferred),
            _ => stay,
        };
    }
    let quiet = silent_for.is_some_and(|s| s >= silence);
    if preferred == m.id && m.current_leader.is_some_and(|l| l != m.id) && quiet {
        return Spread::Campaign;
    }
    stay
}

/// The last log index the leader knows voter `to` holds (from its metrics `m`; `None` on a
/// follower, or before `to` has acknowledged anything).
fn matched(m: &openraft::RaftMetrics<u64, openraft::BasicNode>, to: u64) -> Option<u64> {
    m.replication
        .as_ref()
        .and_then(|r| r.get(&to))
        .and_then(|l| l.map(|l| l.index))
}

/// Ends a handover however the handover ends: writes, heartbeats and elections come back.
struct Handover<'a> {
    node: &'a RaftNode,
}

impl<'a> Handover<'a> {
    fn start(node: &'a RaftNode) -> Handover<'a> {
        node.signals().set_handing_over(node.raft(), true);
        node.raft().runtime_config().heartbeat(false);
        Handover { node }
    }
}

impl Drop for Handover<'_> {
    fn drop(&mut self) {
        self.node.raft().runtime_config().heartbeat(true);
        self.node
            .signals()
            .set_handing_over(self.node.raft(), false);
    }
}

/// One handover of `node`'s leadership to voter `to` (see [`keep_leader_spread`]); whether
/// `to` leads at its end.
async fn hand_over(node: &RaftNode, to: u64, silence: Duration) -> bool {
    let _handover = Handover::start(node);
    let mut rx = node.raft().metrics();
    let me = node.id();
    // Whatever was appended before writes stopped reaches `to` first.
    let caught_up = tokio::time::timeout(
        CATCH_UP,
        rx.wait_for(|m| m.current_leader != Some(me) || matched(m, to) == m.last_log_index),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let still_leading = node.raft().metrics().borrow().current_leader == Some(me);
    if !caught_up || !still_leading {
        tracing::info!(
            node = me,
            group = node.group(),
            to,
            "leadership handover abandoned: the preferred voter did not catch up"
        );
        return false;
    }
    tracing::info!(
        node = me,
        group = node.group(),
        to,
        "handing the group's leadership over to its preferred voter"
    );
    let window = silence + Duration::from_secs(1);
    let led = tokio::time::timeout(
        window,
        rx.wait_for(|m| m.current_leader.is_some_and(|l| l != me)),
    )
    .await
    .ok()
    .and_then(|r| r.ok().map(|m| m.current_leader));
    let leader = led.flatten();
    if leader != Some(to) {
        tracing::info!(
            node = me,
            group = node.group(),
            to,
            ?leader,
            "leadership handover did not end with the preferred voter leading"
        );
    }
    leader == Some(to)
}

/// How often a ledger group's membership is compared with the configuration group's.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Makes `group`'s membership follow `config`'s (the configuration group of the same node),
/// for as long as both run: on the node that leads the configuration group, nodes added there
/// are added to the group as learners, the group's voters are made the configuration group's,
/// and nodes removed there are removed. (One node acts at a time, and membership calls wait
/// for the group's leader, so the groups converge after each change of the cluster.)
pub async fn follow_membership(config: RaftNode, group: RaftNode) {
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if config.stopped().is_some() || group.stopped().is_some() {
            return;
        }
        if config.status().leader != Some(config.id()) {
            continue;
        }
        if let Err(e) = follow_once(&config, &group).await {
            tracing::warn!(group = group.group(), error = %e, "ledger group membership not updated");
        }
    }
}

/// One step of [`follow_membership`]: at most one change, the first one needed.
pub async fn follow_once(config: &RaftNode, group: &RaftNode) -> Result<bool, super::ClusterError> {
    let want = config.status().members;
    let have = group.status().members;
    if have.is_empty() || group.status().leader.is_none() {
        return Ok(false); // not initialised, or electing
    }
    let have_ids: BTreeSet<u64> = have.iter().map(|m| m.id).collect();
    let want_ids: BTreeSet<u64> = want.iter().map(|m| m.id).collect();
    if let Some(m) = want.iter().find(|m| !have_ids.contains(&m.id)) {
        let ours = config.ledger_groups();
        // A node that says it runs another count never joins the group (an unreachable node,
        // or one of a build that cannot say, is added as before).
        if let Ok(Some(theirs)) = config
            .peer_ledger_groups(m.id, &m.addr, Duration::from_secs(2))
            .await
        {
            if ours != 0 && theirs != ours {
                return Err(super::ClusterError::Other(mismatch(
                    ours, m.id, &m.addr, theirs,
                )));
            }
        }
        group.add_learner(m.id, m.addr.clone()).await?;
        return Ok(true);
    }
    let want_voters: BTreeSet<u64> = want.iter().filter(|m| m.voter).map(|m| m.id).collect();
    let have_voters: BTreeSet<u64> = have.iter().filter(|m| m.voter).map(|m| m.id).collect();
    if want_voters != have_voters && !want_voters.is_empty() {
        group.change_membership(want_voters).await?;
        return Ok(true);
    }
    if let Some(id) = have_ids.difference(&want_ids).next() {
        group.remove_node(*id).await?;
        return Ok(true);
    }
    Ok(false)
}

/// The refusal when node `id` (at `addr`) runs `theirs` ledger groups and this node `ours`.
pub fn mismatch(ours: u32, id: u64, addr: &str, theirs: u32) -> String {
    format!(
        "cluster.ledger_groups is {ours} on this node, but node {id} ({addr}) runs with \
         ledger_groups = {theirs}; every node of a cluster must use the same count"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_is_group_zero_and_a_key_keeps_its_group() {
        assert_eq!(group_of("plan1:key1", 1), 0);
        assert_eq!(group_of("plan1:key1", 0), 0);
        for g in [2, 3, 4] {
            assert_eq!(group_of("p1:k-9", g), group_of("p2:k-9", g));
            assert_eq!(group_of("p1:k-9", g), group_of("k-9", g));
        }
        // Fixed values: the placement is a persistent format.
        assert_eq!(group_of("a", 4), (0xaf63_dc4c_8601_ec8c_u64 % 4) as u32);
    }

    #[test]
    fn keys_spread_over_the_groups() {
        let mut per = [0u32; 4];
        for i in 0..4000 {
            per[group_of(&format!("plan:key{i}"), 4) as usize] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
    }

    #[test]
    fn split_keeps_every_delta_once() {
        let deltas: Vec<UsageDelta> = (0..50)
            .map(|i| UsageDelta {
                key_id: format!("p:k{i}"),
                count: i,
            })
            .collect();
        let parts = split(deltas.clone(), 3);
        assert!(parts.len() > 1);
        let mut back: Vec<UsageDelta> = Vec::new();
        for (g, part) in parts {
            assert!(part.iter().all(|d| group_of(&d.key_id, 3) == g));
            back.extend(part);
        }
        back.sort_by_key(|d| d.count);
        assert_eq!(back, deltas);
        assert_eq!(split(deltas.clone(), 1).len(), 1);
    }

    #[test]
    fn chunks_are_bounded_and_keep_every_delta_in_order() {
        let deltas: Vec<UsageDelta> = (0..10_000)
            .map(|i| UsageDelta {
                key_id: format!("plan{:04}:key{i:09}", i % 7),
                count: u64::MAX - i,
            })
            .collect();
        let parts = chunks(deltas.clone(), 16 * 1024);
        assert!(parts.len() > 10);
        for part in &parts {
            let bytes = tollgate_proto::codec::encode(part).len();
            assert!(bytes <= 16 * 1024 + 8, "{bytes} bytes");
        }
        assert_eq!(parts.concat(), deltas);
        assert_eq!(chunks(deltas.clone(), usize::MAX).len(), 1);
        assert!(chunks(Vec::new(), 10).is_empty());
        // A delta over the bound travels alone.
        let one = chunks(deltas[..3].to_vec(), 1);
        assert_eq!(one.len(), 3);
    }

    fn metrics(
        id: u64,
        voters: &[u64],
        leader: Option<u64>,
        last: u64,
        replication: &[(u64, u64)],
    ) -> openraft::RaftMetrics<u64, openraft::BasicNode> {
        use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};
        let log_id = |i| LogId::new(CommittedLeaderId::new(1, 1), i);
        let mut m = openraft::RaftMetrics::new_initial(id);
        let ids: BTreeSet<u64> = voters.iter().copied().collect();
        m.membership_config = std::sync::Arc::new(StoredMembership::new(
            Some(log_id(1)),
            Membership::new(vec![ids], None),
        ));
        m.current_leader = leader;
        m.last_log_index = Some(last);
        if leader == Some(id) {
            m.state = openraft::ServerState::Leader;
            m.replication = Some(
                replication
                    .iter()
                    .map(|&(n, i)| (n, Some(log_id(i))))
                    .collect(),
            );
        } else {
            m.state = openraft::ServerState::Follower;
        }
        m
    }

    #[test]
    fn a_leader_hands_over_only_to_its_caught_up_preferred_voter() {
        let quiet = Duration::from_millis(1500);
        // Group 3 of voters 1..4 prefers node 4; node 1 leads.
        let m = metrics(
            1,
            &[1, 2, 3, 4],
            Some(1),
            500,
            &[(2, 500), (3, 500), (4, 490)],
        );
        assert_eq!(decide(&m, 3, None, quiet), Spread::HandOver(4));
        let m = metrics(
            1,
            &[1, 2, 3, 4],
            Some(1),
            500,
            &[(4, 500 - HANDOVER_LAG - 1)],
        );
        assert_eq!(decide(&m, 3, None, quiet), Spread::Stay { leading: true });
        // Not replicated to at all yet.
        let m = metrics(1, &[1, 2, 3, 4], Some(1), 500, &[(2, 500)]);
        assert_eq!(decide(&m, 3, None, quiet), Spread::Stay { leading: true });
        // The preferred voter leads: nothing to do.
        let m = metrics(4, &[1, 2, 3, 4], Some(4), 500, &[(1, 500)]);
        assert_eq!(decide(&m, 3, None, quiet), Spread::Stay { leading: true });
    }

    #[test]
    fn the_preferred_voter_campaigns_only_when_the_leader_went_quiet() {
        let quiet = Duration::from_millis(1500);
        let m = metrics(4, &[1, 2, 3, 4], Some(1), 500, &[]);
        assert_eq!(
            decide(&m, 3, Some(Duration::from_millis(100)), quiet),
            Spread::Stay { leading: false }
        );
        assert_eq!(decide(&m, 3, None, quiet), Spread::Stay { leading: false });
        assert_eq!(decide(&m, 3, Some(quiet), quiet), Spread::Campaign);
        // Another follower never campaigns for the spread, nor one that knows no leader.
        let m = metrics(2, &[1, 2, 3, 4], Some(1), 500, &[]);
        assert_eq!(
            decide(&m, 3, Some(quiet * 2), quiet),
            Spread::Stay { leading: false }
        );
        let m = metrics(4, &[1, 2, 3, 4], None, 500, &[]);
        assert_eq!(
            decide(&m, 3, Some(quiet * 2), quiet),
            Spread::Stay { leading: false }
        );
    }

    #[test]
    fn failed_handovers_back_off_to_a_bound() {
        assert_eq!(backoff(0), SPREAD_EVERY);
        assert_eq!(backoff(1), SPREAD_EVERY * 2);
        assert_eq!(backoff(2), SPREAD_EVERY * 4);
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn leaders_are_spread_over_the_voters() {
        let voters = BTreeSet::from([7, 3, 5]);
        assert_eq!(preferred_leader(0, &voters), Some(3));
        assert_eq!(preferred_leader(1, &voters), Some(5));
        assert_eq!(preferred_leader(2, &voters), Some(7));
        assert_eq!(preferred_leader(3, &voters), Some(3));
        assert_eq!(preferred_leader(1, &BTreeSet::new()), None);
    }
}
