//! `GET /metrics` on the admin port (unsigned, as Prometheus scrapes): the data plane's
//! counters ([`crate::dataplane::metrics`]), usage reporting and this node's Raft state.

use super::AdminState;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// The whole scrape, or `None` when the node keeps no metrics (tests' admin-only servers).
pub fn render(state: &AdminState) -> Option<String> {
    let m = state.metrics.as_ref()?;
    let mut out = m.render();
    let now_ms = u64::try_from(crate::ids::now_epoch_ms()).unwrap_or(0);
    let u = &m.usage_reports;
    let rows: [(&str, &str, &str, u64); 3] = [
        (
            "tollgate_usage_report_lag_ms",
            "gauge",
            "How long this node's oldest uncommitted usage report has waited (0: none waits).",
            u.lag_ms(now_ms),
        ),
        (
            "tollgate_usage_reports_committed_total",
            "counter",
            "Usage reports this node committed.",
            u.committed.load(Relaxed),
        ),
        (
            "tollgate_usage_report_retries_total",
            "counter",
            "Usage report attempts that did not commit (retried unchanged).",
            u.retries.load(Relaxed),
        ),
    ];
    gauges(&mut out, &rows);
    if let Some(raft) = state.node.raft() {
        let s = raft.status();
        let last = s.last_log_index.unwrap_or(0);
        let applied = s.last_applied.unwrap_or(0);
        let rows: [(&str, &str, &str, u64); 7] = [
            (
                "tollgate_raft_term",
                "gauge",
                "The current Raft term.",
                s.term,
            ),
            (
                "tollgate_raft_leader",
                "gauge",
                "The leader's node id (0: none known).",
                s.leader.unwrap_or(0),
            ),
            (
                "tollgate_raft_is_leader",
                "gauge",
                "1 when this node leads.",
                u64::from(s.leader == Some(s.node_id)),
            ),
            (
                "tollgate_raft_last_log_index",
                "gauge",
                "The last index in this node's log (its view of the commit index).",
                last,
            ),
            (
                "tollgate_raft_applied_index",
                "gauge",
                "The last index applied to this node's registry.",
                applied,
            ),
            (
                "tollgate_raft_apply_lag",
                "gauge",
                "Log entries not yet applied here (last log index minus applied index).",
                last.saturating_sub(applied),
            ),
            (
                "tollgate_raft_snapshot_index",
                "gauge",
                "The last index this node's snapshot covers.",
                s.snapshot_index.unwrap_or(0),
            ),
        ];
        gauges(&mut out, &rows);
        let _ = writeln!(
            out,
            "# HELP tollgate_raft_members Voters and learners.\n# TYPE tollgate_raft_members gauge\ntollgate_raft_members {}",
            s.members.len()
        );
    }
    Some(out)
}

fn gauges(out: &mut String, rows: &[(&str, &str, &str, u64)]) {
    for (name, kind, help, v) in rows {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
}
