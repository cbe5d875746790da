//! Reports this node's API-key usage and limit demand to the cluster: every [`REPORT_EVERY`] the
//! workers' batches are merged into one `ReportLoad` command with the next sequence number of
//! this node. A report is split by ledger group and cut into chunks of bounded size, each
//! chunk a `ReportLoad` with its own sequence number (see [`split_report`]): with 100,000
//! active keys a report is ~2 MB, and one such Raft entry every 250 ms kept the leader's
//! heartbeats waiting long enough to cost it the leadership. A crash between chunks loses only
//! the chunks not yet committed, as a crash before a report does; none is counted twice.
//!
//! A report that could not be committed is retried unchanged (same sequence number, same counts)
//! until it is; counts arriving meanwhile wait for the next report. Since the state machine
//! applies each (node, sequence number) once, a retry whose first attempt did land is ignored,
//! and nothing is counted twice. The sequence continues from the ledger after a restart, read
//! only once this node has caught up with the cluster (the registry recovered at start can lag
//! what was committed, and a reused sequence number would be dropped as a duplicate). Each
//! attempt is bounded by [`ATTEMPT_TIMEOUT`], so a report sent into a partition or to a deposed
//! leader does not hold later counts back for the whole request timeout.
//!
//! Each usage entry keeps, beside the report in memory (never on the wire: other nodes apply
//! reports by ids), the quota slot its requests were counted in ([`SlotTag`]); the node notes
//! them with the report ([`ClusterLimits::proposing`]) so that its own committed report is
//! taken off the pending counts slot by slot, with no lookup by id.
//!
//! Demand goes out only in a cluster of several members. A limit that had demand in the previous
//! report and has none now is reported once with zero, so the other members take its share back
//! at once instead of after [`crate::dataplane::cluster_limits::DEMAND_TTL`].

use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::key_slots::SlotTag;
use crate::dataplane::usage::UsageBatch;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;
use tollgate_consensus::raft::ledger::MAX_ENTRY_DELTA_BYTES;
use tollgate_consensus::Replica;
use tollgate_proto::{Command, LimitDemand, UsageDelta};

/// How often usage and demand are reported.
pub const REPORT_EVERY: Duration = Duration::from_millis(250);

/// How long one attempt to commit a report (or to catch up at start) may take before it is
/// tried again.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// What waits for the next report.
#[derive(Default)]
struct Waiting {
    /// Requests per usage id and the quota slot they were counted in.
    usage: BTreeMap<(Box<str>, Option<SlotTag>), u64>,
    demand: BTreeMap<u64, u64>,
    /// Limits with demand in the last report sent.
    reported: BTreeSet<u64>,
    /// Per worker, the time its batches since the last report cover.
    covered: BTreeMap<usize, Duration>,
}

impl Waiting {
    fn add(&mut self, batch: UsageBatch) {
        *self.covered.entry(batch.worker).or_default() += batch.span;
        for c in batch.usage {
            *self.usage.entry((c.id, c.slot)).or_insert(0) += c.count;
        }
        for (limit, n) in batch.demand {
            *self.demand.entry(limit).or_insert(0) += n;
        }
    }

    /// The usage and (when `with_demand`) demand of the next report with the time the demand
    /// covers, or `None` when there is nothing to say. Demand that is not sent is dropped: it
    /// is only ever about now. The time covered is the longest any worker's batches cover
    /// (workers flush in step), so the rate is exact however the flushes fall in the report
    /// interval.
    fn take(&mut self, with_demand: bool) -> Option<Report> {
        let demand = std::mem::take(&mut self.demand);
        let covered = std::mem::take(&mut self.covered)
            .into_values()
            .max()
            .unwrap_or(REPORT_EVERY);
        let mut out = Vec::new();
        if with_demand {
            for (&limit_id, &requests) in &demand {
                out.push(LimitDemand { limit_id, requests });
            }
            for &limit_id in self.reported.difference(&demand.keys().copied().collect()) {
                out.push(LimitDemand {
                    limit_id,
                    requests: 0,
                });
            }
            self.reported = demand
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(id, _)| *id)
                .collect();
        }
        if self.usage.is_empty() && out.is_empty() {
            return None;
        }
        let taken = std::mem::take(&mut self.usage);
        let mut usage = Vec::with_capacity(taken.len());
        let mut slots = Vec::with_capacity(taken.len());
        for ((key_id, slot), count) in taken {
            usage.push(UsageDelta {
                key_id: key_id.into(),
                count,
            });
            slots.push(slot);
        }
        Some(Report {
            usage,
            slots,
            demand: out,
            covered,
        })
    }
}

/// What the next report says.
struct Report {
    usage: Vec<UsageDelta>,
    /// Per usage entry (same order), the quota slot it was counted in (kept in memory only).
    slots: Vec<Option<SlotTag>>,
    demand: Vec<LimitDemand>,
    /// The time the demand covers.
    covered: Duration,
}

/// One report entry to commit: its ledger group, sequence number, usage, demand, and the slot
/// of each usage entry.
type Part = (
    u32,
    u64,
    Vec<UsageDelta>,
    Vec<LimitDemand>,
    Vec<Option<SlotTag>>,
);

/// How usage reporting keeps up, for `/metrics`.
#[derive(Debug, Default)]
pub struct ReportStats {
    /// When the report waiting to commit was made (ms since the epoch; 0: none waiting).
    pub pending_since_ms: std::sync::atomic::AtomicU64,
    /// Reports committed.
    pub committed: std::sync::atomic::AtomicU64,
    /// Attempts that did not commit (retried).
    pub retries: std::sync::atomic::AtomicU64,
}

impl ReportStats {
    /// How long the oldest uncommitted report has waited at `now_ms` (0: none waits).
    pub fn lag_ms(&self, now_ms: u64) -> u64 {
        match self
            .pending_since_ms
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => 0,
            since => now_ms.saturating_sub(since),
        }
    }
}

/// Splits a report's usage by ledger group (see [`tollgate_consensus::raft::ledger`]) and
/// each group's part into chunks of at most
/// [`MAX_ENTRY_DELTA_BYTES`](tollgate_consensus::raft::ledger::MAX_ENTRY_DELTA_BYTES) (so no
/// report is ever a multi-megabyte Raft entry), each chunk a report with its own sequence
/// number, taken in turn from this node's one sequence (so a report is identified by its
/// number alone, on this node and in [`ClusterLimits`]; each group's ledger sees increasing
/// numbers and counts each once). A group's chunks come out in sequence order and must be
/// committed in that order. Demand goes with the configuration group's (group 0) first
/// chunk. With one group and a small report this is the one report of before, unchanged.
/// Each usage entry's slot (`slots`, same order) goes with it (as the ledger's `split` and
/// `chunks` would place the entry).
fn split_report(
    next_seq: &mut u64,
    groups: u32,
    deltas: Vec<UsageDelta>,
    slots: Vec<Option<SlotTag>>,
    demand: Vec<LimitDemand>,
    max_bytes: usize,
) -> Vec<Part> {
    use tollgate_consensus::raft::ledger::{chunks_by, split_by};
    type Entry = (UsageDelta, Option<SlotTag>);
    let mut slots = slots.into_iter();
    let entries: Vec<Entry> = deltas
        .into_iter()
        .map(|d| (d, slots.next().flatten()))
        .collect();
    let mut parts: BTreeMap<u32, Vec<Vec<Entry>>> = split_by(entries, groups, |e| &e.0)
        .into_iter()
        .map(|(g, d)| (g, chunks_by(d, max_bytes, |e| &e.0)))
        .collect();
    if !demand.is_empty() || parts.is_empty() {
        parts.entry(0).or_default();
    }
    let mut demand = Some(demand);
    let mut out = Vec::new();
    for (g, mut cs) in parts {
        if cs.is_empty() {
            cs.push(Vec::new()); // demand alone
        }
        for entries in cs {
            *next_seq += 1;
            let dem = if g == 0 {
                demand.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            let (d, s): (Vec<UsageDelta>, Vec<Option<SlotTag>>) = entries.into_iter().unzip();
            out.push((g, *next_seq, d, dem, s));
        }
    }
    out
}

/// Commits `queue` (one group's reports, in sequence order) one at a time through `group`,
/// each attempt bounded by [`ATTEMPT_TIMEOUT`]; returns what is left (empty: all committed)
/// and how many committed. A later chunk never goes before an earlier one: the ledger drops a
/// report numbered at or below the last it counted, so out of order it would be lost.
async fn commit_in_order(
    g: u32,
    group: tollgate_consensus::RaftNode,
    mut queue: VecDeque<Command>,
    stats: Arc<ReportStats>,
) -> (u32, VecDeque<Command>) {
    use std::sync::atomic::Ordering::Relaxed;
    while let Some(cmd) = queue.front() {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, group.propose(cmd.clone())).await {
            Ok(Ok(_)) => {
                queue.pop_front();
                stats.committed.fetch_add(1, Relaxed);
            }
            Ok(Err(e)) => {
                stats.retries.fetch_add(1, Relaxed);
                tracing::warn!(group = g, error = %e, "usage report not committed; retrying");
                break;
            }
            Err(_) => {
                stats.retries.fetch_add(1, Relaxed);
                tracing::warn!(
                    group = g,
                    "usage report not committed within {ATTEMPT_TIMEOUT:?}; retrying"
                );
                break;
            }
        }
    }
    (g, queue)
}

/// Runs the reporter for `node` until the runtime stops, keeping `limits` told of the
/// cluster's size and `stats` of how reports keep up. With several ledger groups, each
/// report is split by key (see [`split_report`]) and the parts are committed concurrently,
/// each retried unchanged until it is; the next report waits for all of them.
pub async fn run(
    node: Replica,
    rx: Receiver<UsageBatch>,
    limits: Arc<ClusterLimits>,
    stats: Arc<ReportStats>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(raft) = node.raft() else {
        return; // a single local log has no one to report to
    };
    let node_id = raft.id();
    let groups = raft.groups();
    let group_count = u32::try_from(groups.len()).unwrap_or(1).max(1);
    // Known once this node has caught up with everything committed before it started.
    let mut seq: Option<u64> = None;
    let mut waiting = Waiting::default();
    let mut pending: BTreeMap<u32, VecDeque<Command>> = BTreeMap::new();
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tick.tick().await;
        let members = raft.status().members.len().max(1);
        limits.set_members(members);
        limits.refresh();
        while let Ok(batch) = rx.try_recv() {
            waiting.add(batch);
        }
        let Some(last) = seq.as_mut() else {
            seq = caught_up_seq(&groups, node_id).await;
            if seq.is_some() {
                limits.set_live();
            }
            continue; // counts wait in `waiting`
        };
        if pending.is_empty() {
            if let Some(report) = waiting.take(members > 1) {
                let interval_ms = u32::try_from(report.covered.as_millis())
                    .unwrap_or(u32::MAX)
                    .max(1);
                let at_ms = crate::ids::now_epoch_ms();
                stats
                    .pending_since_ms
                    .store(u64::try_from(at_ms).unwrap_or(1).max(1), Relaxed);
                let parts = split_report(
                    last,
                    group_count,
                    report.usage,
                    report.slots,
                    report.demand,
                    MAX_ENTRY_DELTA_BYTES,
                );
                for (g, seq, deltas, demand, slots) in parts {
                    limits.proposing(g, seq, &deltas, &slots);
                    pending
                        .entry(g)
                        .or_default()
                        .push_back(Command::ReportLoad {
                            node_id,
                            seq,
                            at_ms,
                            deltas,
                            interval_ms,
                            demand,
                        });
                }
            }
        }
        if pending.is_empty() {
            continue;
        }
        let mut attempts = tokio::task::JoinSet::new();
        for (g, queue) in std::mem::take(&mut pending) {
            let Some(group) = groups.get(g as usize).cloned() else {
                continue;
            };
            attempts.spawn(commit_in_order(g, group, queue, stats.clone()));
        }
        while let Some(done) = attempts.join_next().await {
            let Ok((g, left)) = done else { continue };
            if !left.is_empty() {
                pending.insert(g, left);
            }
        }
        if pending.is_empty() {
            stats.pending_since_ms.store(0, Relaxed);
        }
    }
}

/// This node's last report sequence number in any group's ledger, once this node has caught
/// up with every group (`None`: not yet, ask again at the next tick).
async fn caught_up_seq(groups: &[tollgate_consensus::RaftNode], node_id: u64) -> Option<u64> {
    let mut last = 0;
    for g in groups {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, g.linearizable()).await {
            Ok(Ok(())) => {}
            _ => return None,
        }
        let seq = g.read().usage.last_seq.get(&node_id).copied().unwrap_or(0);
        last = last.max(seq);
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(usage: &[(&str, u64)], demand: &[(u64, u64)]) -> UsageBatch {
        UsageBatch {
            worker: 0,
            span: Duration::from_millis(100),
            usage: usage
                .iter()
                .map(|(k, n)| crate::dataplane::usage::Counted {
                    id: (*k).into(),
                    slot: None,
                    count: *n,
                })
                .collect(),
            demand: demand.to_vec(),
        }
    }

    #[test]
    fn merges_batches_and_reports_a_limit_that_went_quiet_once_with_zero() {
        let mut w = Waiting::default();
        w.add(batch(&[("k1", 2)], &[(7, 10)]));
        w.add(batch(&[("k1", 3), ("k2", 1)], &[(7, 5), (8, 1)]));
        let Report {
            usage,
            demand,
            covered,
            ..
        } = w.take(true).unwrap();
        assert_eq!(usage.iter().map(|d| d.count).sum::<u64>(), 6);
        assert_eq!(covered, Duration::from_millis(200));
        assert_eq!(
            demand,
            vec![
                LimitDemand {
                    limit_id: 7,
                    requests: 15
                },
                LimitDemand {
                    limit_id: 8,
                    requests: 1
                }
            ]
        );
        // Limit 8 goes quiet: reported once as 0, then no more.
        w.add(batch(&[], &[(7, 4)]));
        let Report { usage, demand, .. } = w.take(true).unwrap();
        assert!(usage.is_empty());
        assert_eq!(demand.len(), 2);
        assert_eq!(demand[1].requests, 0);
        w.add(batch(&[], &[(7, 4)]));
        assert_eq!(w.take(true).unwrap().demand.len(), 1);
        // Everything quiet: one report of zeros, then nothing at all.
        assert_eq!(w.take(true).unwrap().demand[0].requests, 0);
        assert!(w.take(true).is_none());
    }

    #[test]
    fn the_time_covered_is_that_of_one_worker() {
        let mut w = Waiting::default();
        for worker in 0..2 {
            for _ in 0..3 {
                let mut b = batch(&[], &[(7, 100)]);
                b.worker = worker;
                w.add(b);
            }
        }
        let Report {
            demand, covered, ..
        } = w.take(true).unwrap();
        // 600 requests over 300 ms on the node: 2000/s.
        assert_eq!(
            (demand[0].requests, covered),
            (600, Duration::from_millis(300))
        );
    }

    #[test]
    fn a_report_is_split_by_key_group_with_demand_in_group_zero() {
        let deltas: Vec<UsageDelta> = (0..40)
            .map(|i| UsageDelta {
                key_id: format!("p:k{i}"),
                count: 1,
            })
            .collect();
        let demand = vec![LimitDemand {
            limit_id: 7,
            requests: 3,
        }];
        let mut seq = 10;
        let none = vec![None; 40];
        let one = split_report(
            &mut seq,
            1,
            deltas.clone(),
            none.clone(),
            demand.clone(),
            usize::MAX,
        );
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].0, one[0].1, one[0].2.len()), (0, 11, 40));
        assert_eq!(one[0].3, demand);
        let parts = split_report(
            &mut seq,
            4,
            deltas.clone(),
            none,
            demand.clone(),
            usize::MAX,
        );
        assert_eq!(parts.len(), 4);
        let seqs: Vec<u64> = parts.iter().map(|p| p.1).collect();
        assert_eq!(seqs, [12, 13, 14, 15], "one sequence, each number once");
        assert_eq!(parts.iter().map(|p| p.2.len()).sum::<usize>(), 40);
        for (g, _, d, dem, _) in &parts {
            assert!(d
                .iter()
                .all(|d| tollgate_consensus::raft::ledger::group_of(&d.key_id, 4) == *g));
            assert_eq!(dem.is_empty(), *g != 0);
        }
        // Demand alone goes to group 0.
        let only = split_report(
            &mut seq,
            4,
            Vec::new(),
            Vec::new(),
            demand.clone(),
            usize::MAX,
        );
        assert_eq!((only.len(), only[0].0, only[0].1), (1, 0, 16));
    }

    #[test]
    fn a_big_report_is_chunked_each_chunk_its_own_number_in_order() {
        let deltas: Vec<UsageDelta> = (0..5_000)
            .map(|i| UsageDelta {
                key_id: format!("plan1:key{i:09}"),
                count: 1,
            })
            .collect();
        let demand = vec![LimitDemand {
            limit_id: 7,
            requests: 3,
        }];
        // Every other entry counted in a quota slot of its own.
        let mut slab = crate::dataplane::key_slots::Slots::default();
        let slots: Vec<Option<SlotTag>> = (0..5_000u64)
            .map(|i| (i % 2 == 0).then(|| slab.acquire(i, 1.0).0.tag()))
            .collect();
        let slot_of: BTreeMap<&str, Option<SlotTag>> = deltas
            .iter()
            .map(|d| d.key_id.as_str())
            .zip(slots.iter().copied())
            .collect();
        for groups in [1, 3] {
            let mut seq = 100;
            let parts = split_report(
                &mut seq,
                groups,
                deltas.clone(),
                slots.clone(),
                demand.clone(),
                8 * 1024,
            );
            assert!(parts.len() >= 10, "{} chunks", parts.len());
            // One node-wide sequence, each number once, increasing within each group.
            let seqs: Vec<u64> = parts.iter().map(|p| p.1).collect();
            assert_eq!(seqs, (101..=100 + parts.len() as u64).collect::<Vec<_>>());
            assert_eq!(seq, 100 + parts.len() as u64);
            let mut per_group: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
            for (g, s, d, _, tags) in &parts {
                per_group.entry(*g).or_default().push(*s);
                // Each entry keeps its own slot.
                assert_eq!(tags.len(), d.len());
                assert!(d
                    .iter()
                    .zip(tags)
                    .all(|(d, t)| slot_of[d.key_id.as_str()] == *t));
                let cmd = Command::ReportLoad {
                    node_id: 1,
                    seq: *s,
                    at_ms: 1_800_000_000_000,
                    deltas: d.clone(),
                    interval_ms: 250,
                    demand: demand.clone(),
                };
                let bytes = tollgate_proto::codec::encode(&cmd).len();
                assert!(bytes <= 8 * 1024 + 200, "{bytes} bytes");
            }
            assert_eq!(per_group.len(), groups as usize);
            assert!(per_group
                .values()
                .all(|s| s.windows(2).all(|w| w[0] < w[1])));
            // Every delta exactly once; demand exactly once, with group 0's first chunk.
            assert_eq!(parts.iter().map(|p| p.2.len()).sum::<usize>(), 5_000);
            let with_demand: Vec<_> = parts.iter().filter(|p| !p.3.is_empty()).collect();
            assert_eq!(with_demand.len(), 1);
            assert_eq!((with_demand[0].0, with_demand[0].1), (0, per_group[&0][0]));
        }
    }

    #[test]
    fn a_lone_node_reports_usage_only() {
        let mut w = Waiting::default();
        w.add(batch(&[], &[(7, 10)]));
        assert!(w.take(false).is_none());
        w.add(batch(&[("k", 1)], &[(7, 10)]));
        let Report { usage, demand, .. } = w.take(false).unwrap();
        assert_eq!((usage.len(), demand.len()), (1, 0));
    }
}
