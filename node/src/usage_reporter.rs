//! Reports this node's API-key usage to the cluster: every [`REPORT_EVERY`] the workers' batches
//! are merged into one `ReportUsage` command with the next sequence number of this node.
//!
//! A report that could not be committed is retried unchanged (same sequence number, same counts)
//! until it is; counts arriving meanwhile wait for the next report. Since the state machine
//! applies each (node, sequence number) once, a retry whose first attempt did land is ignored,
//! and nothing is counted twice. The sequence continues from the ledger after a restart.

use crate::dataplane::usage::UsageBatch;
use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::time::Duration;
use tollgate_consensus::Replica;
use tollgate_proto::{Command, UsageDelta};

/// How often usage is reported.
pub const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Runs the reporter for `node` until the runtime stops.
pub async fn run(node: Replica, rx: Receiver<UsageBatch>) {
    let Some(node_id) = node.raft().map(|r| r.id()) else {
        return; // a single local log has no one to report to
    };
    let mut seq = node
        .read()
        .usage
        .last_seq
        .get(&node_id)
        .copied()
        .unwrap_or(0);
    let mut waiting: BTreeMap<Box<str>, u64> = BTreeMap::new();
    let mut pending: Option<Command> = None;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tick.tick().await;
        while let Ok(batch) = rx.try_recv() {
            for (key, n) in batch {
                *waiting.entry(key).or_insert(0) += n;
            }
        }
        if pending.is_none() && !waiting.is_empty() {
            seq += 1;
            pending = Some(Command::ReportUsage {
                node_id,
                seq,
                at: crate::ids::now_epoch(),
                deltas: std::mem::take(&mut waiting)
                    .into_iter()
                    .map(|(key_id, count)| UsageDelta {
                        key_id: key_id.into(),
                        count,
                    })
                    .collect(),
            });
        }
        if let Some(cmd) = &pending {
            match node.propose(cmd.clone()).await {
                Ok(_) => pending = None,
                Err(e) => tracing::warn!(error = %e, seq, "usage report not committed; retrying"),
            }
        }
    }
}
