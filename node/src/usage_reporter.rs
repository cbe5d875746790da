//! Reports this node's API-key usage and limit demand to the cluster: every [`REPORT_EVERY`] the
//! workers' batches are merged into one `ReportLoad` command with the next sequence number of
//! this node.
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
//! Demand goes out only in a cluster of several members. A limit that had demand in the previous
//! report and has none now is reported once with zero, so the other members take its share back
//! at once instead of after [`crate::dataplane::cluster_limits::DEMAND_TTL`].

use crate::dataplane::cluster_limits::ClusterLimits;
use crate::dataplane::usage::UsageBatch;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;
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
    usage: BTreeMap<Box<str>, u64>,
    demand: BTreeMap<u64, u64>,
    /// Limits with demand in the last report sent.
    reported: BTreeSet<u64>,
    /// Per worker, the time its batches since the last report cover.
    covered: BTreeMap<usize, Duration>,
}

impl Waiting {
    fn add(&mut self, batch: UsageBatch) {
        *self.covered.entry(batch.worker).or_default() += batch.span;
        for (key, n) in batch.usage {
            *self.usage.entry(key).or_insert(0) += n;
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
    fn take(&mut self, with_demand: bool) -> Option<(Vec<UsageDelta>, Vec<LimitDemand>, Duration)> {
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
        let usage = std::mem::take(&mut self.usage)
            .into_iter()
            .map(|(key_id, count)| UsageDelta {
                key_id: key_id.into(),
                count,
            })
            .collect();
        Some((usage, out, covered))
    }
}

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

/// Runs the reporter for `node` until the runtime stops, keeping `limits` told of the
/// cluster's size and `stats` of how reports keep up.
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
    // Known once this node has caught up with everything committed before it started.
    let mut seq: Option<u64> = None;
    let mut waiting = Waiting::default();
    let mut pending: Option<Command> = None;
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
            if let Ok(Ok(())) = tokio::time::timeout(ATTEMPT_TIMEOUT, node.linearizable()).await {
                limits.set_live();
                seq = Some(
                    node.read()
                        .usage
                        .last_seq
                        .get(&node_id)
                        .copied()
                        .unwrap_or(0),
                );
            }
            continue; // counts wait in `waiting`
        };
        if pending.is_none() {
            if let Some((deltas, demand, covered)) = waiting.take(members > 1) {
                *last += 1;
                let seq = *last;
                let interval_ms = u32::try_from(covered.as_millis())
                    .unwrap_or(u32::MAX)
                    .max(1);
                limits.proposing(seq, &deltas);
                let at_ms = crate::ids::now_epoch_ms();
                stats
                    .pending_since_ms
                    .store(u64::try_from(at_ms).unwrap_or(1).max(1), Relaxed);
                pending = Some(Command::ReportLoad {
                    node_id,
                    seq,
                    at_ms,
                    deltas,
                    interval_ms,
                    demand,
                });
            }
        }
        if let Some(cmd) = &pending {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, node.propose(cmd.clone())).await {
                Ok(Ok(_)) => {
                    pending = None;
                    stats.pending_since_ms.store(0, Relaxed);
                    stats.committed.fetch_add(1, Relaxed);
                }
                Ok(Err(e)) => {
                    stats.retries.fetch_add(1, Relaxed);
                    tracing::warn!(error = %e, "usage report not committed; retrying")
                }
                Err(_) => {
                    stats.retries.fetch_add(1, Relaxed);
                    tracing::warn!(
                        "usage report not committed within {ATTEMPT_TIMEOUT:?}; retrying"
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(usage: &[(&str, u64)], demand: &[(u64, u64)]) -> UsageBatch {
        UsageBatch {
            worker: 0,
            span: Duration::from_millis(100),
            usage: usage.iter().map(|(k, n)| ((*k).into(), *n)).collect(),
            demand: demand.to_vec(),
        }
    }

    #[test]
    fn merges_batches_and_reports_a_limit_that_went_quiet_once_with_zero() {
        let mut w = Waiting::default();
        w.add(batch(&[("k1", 2)], &[(7, 10)]));
        w.add(batch(&[("k1", 3), ("k2", 1)], &[(7, 5), (8, 1)]));
        let (usage, demand, covered) = w.take(true).unwrap();
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
        let (usage, demand, _) = w.take(true).unwrap();
        assert!(usage.is_empty());
        assert_eq!(demand.len(), 2);
        assert_eq!(demand[1].requests, 0);
        w.add(batch(&[], &[(7, 4)]));
        assert_eq!(w.take(true).unwrap().1.len(), 1);
        // Everything quiet: one report of zeros, then nothing at all.
        assert_eq!(w.take(true).unwrap().1[0].requests, 0);
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
        let (_, demand, covered) = w.take(true).unwrap();
        // 600 requests over 300 ms on the node: 2000/s.
        assert_eq!(
            (demand[0].requests, covered),
            (600, Duration::from_millis(300))
        );
    }

    #[test]
    fn a_lone_node_reports_usage_only() {
        let mut w = Waiting::default();
        w.add(batch(&[], &[(7, 10)]));
        assert!(w.take(false).is_none());
        w.add(batch(&[("k", 1)], &[(7, 10)]));
        let (usage, demand, _) = w.take(false).unwrap();
        assert_eq!((usage.len(), demand.len()), (1, 0));
    }
}
