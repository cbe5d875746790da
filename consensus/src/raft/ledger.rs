//! The usage ledger sharded over Raft groups: which group owns a key's usage, how a report is
//! split between the groups, and which node each group's leadership is steered to.
//!
//! With `G` ledger groups, a key's usage lives in group `fnv1a(key id) % G`. Group 0 is the
//! configuration group and also holds ledger slice 0, so `G = 1` is the unsharded cluster,
//! unchanged. Groups `1..G` run on the same QUIC endpoint ([`super::RaftNode::start_group`]),
//! each with its own log, state machine and snapshots (of its slice of the ledger).
//!
//! Leaders are spread: group `g` prefers the `g mod n`-th voter (by id) of its membership.
//! openraft 0.9 has no leadership transfer, so the preferred node, caught up and not leading,
//! triggers an election ([`keep_leader_spread`]); the old leader steps down when it sees the
//! higher term. This costs the group one election (a few hundred milliseconds without a
//! leader, which reports ride out by retrying) and is tried at most every
//! [`SPREAD_EVERY`].

use super::RaftNode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tollgate_proto::UsageDelta;

/// The most ledger groups a cluster may run.
pub const MAX_GROUPS: u32 = 64;

/// How often a node checks whether it should take the leadership of a group it is preferred
/// for (and the least time between two elections it triggers).
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
    let mut out: BTreeMap<u32, Vec<UsageDelta>> = BTreeMap::new();
    for d in deltas {
        out.entry(group_of(&d.key_id, groups)).or_default().push(d);
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
    let mut out = Vec::new();
    let mut cur: Vec<UsageDelta> = Vec::new();
    let mut size = 0;
    for d in deltas {
        let n = delta_bytes(&d);
        if !cur.is_empty() && size + n > max_bytes {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += n;
        cur.push(d);
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
/// runs: when this node is the preferred one, is a voter, has applied everything in its log
/// and another node leads, it triggers an election (at most once per [`SPREAD_EVERY`]).
pub async fn keep_leader_spread(node: RaftNode) {
    let mut tick = tokio::time::interval(SPREAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if node.stopped().is_some() {
            return;
        }
        if should_campaign(&node) {
            tracing::debug!(
                node = node.id(),
                group = node.group(),
                "taking the leadership of the group this node is preferred for"
            );
            if node.raft().trigger().elect().await.is_err() {
                return;
            }
        }
    }
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

fn should_campaign(node: &RaftNode) -> bool {
    let m = node.raft().metrics();
    let m = m.borrow();
    let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
    let caught_up = m.last_applied.map(|l| l.index) == m.last_log_index;
    preferred_leader(node.group(), &voters) == Some(node.id())
        && caught_up
        && m.current_leader.is_some_and(|l| l != node.id())
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
