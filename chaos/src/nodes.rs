//! Talking to the nodes: where each one listens, and the admin calls the chaos tool makes
//! (cluster status, state digest, and signed calls in general).

use crate::client::{self, Answer, CallError};
use crate::history::GroupView;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate_node::sigv4::Credentials;

/// Where one node listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// Node id.
    pub id: u64,
    /// Data plane (HTTP).
    pub data: SocketAddr,
    /// Admin API.
    pub admin: SocketAddr,
    /// Cluster endpoint (QUIC, UDP).
    pub raft: SocketAddr,
}

/// What the tool needs to reach the cluster.
#[derive(Clone)]
pub struct Access {
    /// Every node (members, and the spare a membership change may add).
    pub nodes: Vec<Endpoints>,
    /// Admin credentials (the same on every node).
    pub creds: Credentials,
    /// The nodes the workload uses now: the cluster's members, less a node being drained for
    /// its removal. Shared with the workload's threads.
    pub members: Arc<Mutex<BTreeSet<u64>>>,
}

/// A node's view of the cluster (from `GET /_tollgate/cluster`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// The leader it names.
    pub leader: Option<u64>,
    /// Its term.
    pub term: u64,
    /// Its last applied index.
    pub applied: u64,
}

/// A node's applied index and state digest (from `GET /_tollgate/state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDigest {
    /// Last applied log index.
    pub last_applied: u64,
    /// Hex digest of the registry at that index.
    pub digest: String,
}

impl Access {
    /// Access to `nodes`, every one of them in use.
    pub fn new(nodes: Vec<Endpoints>, creds: Credentials) -> Access {
        let members = nodes.iter().map(|n| n.id).collect();
        Access {
            nodes,
            creds,
            members: Arc::new(Mutex::new(members)),
        }
    }

    /// The nodes in use now, by id.
    pub fn members(&self) -> Vec<u64> {
        let m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().copied().collect()
    }

    /// Whether node `id` is in use now.
    pub fn is_member(&self, id: u64) -> bool {
        let m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        m.contains(&id)
    }

    /// Puts node `id` in use (`true`) or out of it.
    pub fn set_member(&self, id: u64, member: bool) {
        let mut m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        if member {
            m.insert(id);
        } else {
            m.remove(&id);
        }
    }

    /// The node with this id.
    pub fn node(&self, id: u64) -> Option<&Endpoints> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// A signed admin call to node `id`.
    pub fn call(
        &self,
        id: u64,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Answer, CallError> {
        self.call_with(id, method, path, body, &[], timeout)
    }

    /// A signed admin call with extra (unsigned) headers.
    pub fn call_with(
        &self,
        id: u64,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Answer, CallError> {
        let Some(n) = self.node(id) else {
            return Err(CallError {
                sent: false,
                timed_out: false,
                message: format!("no node {id}"),
            });
        };
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        client::admin(
            n.admin,
            &self.creds,
            method,
            path,
            body.as_bytes(),
            extra,
            timeout,
        )
    }

    /// Node `id`'s `GET /_tollgate/cluster`, when it answers 200.
    fn cluster(&self, id: u64, timeout: Duration) -> Option<serde_json::Value> {
        let a = self
            .call(id, "GET", "/_tollgate/cluster", None, timeout)
            .ok()?;
        (a.status == 200).then(|| a.json())
    }

    /// Node `id`'s view of the cluster.
    pub fn view(&self, id: u64, timeout: Duration) -> Option<View> {
        let v = self.cluster(id, timeout)?;
        Some(View {
            leader: v["leader"].as_u64(),
            term: v["term"].as_u64()?,
            applied: v["last_applied"].as_u64().unwrap_or(0),
        })
    }

    /// Every Raft group as node `id` sees it: the configuration group (0) and, with several
    /// ledger groups, each of those (`ledger_groups` of `GET /_tollgate/cluster`).
    pub fn groups(&self, id: u64, timeout: Duration) -> Option<Vec<GroupView>> {
        let v = self.cluster(id, timeout)?;
        let mut out = vec![group_view(&v, 0, id)?];
        for g in v["ledger_groups"].as_array().into_iter().flatten() {
            let n = u32::try_from(g["group"].as_u64()?).ok()?;
            out.push(group_view(g, n, id)?);
        }
        Some(out)
    }

    /// Node `id`'s applied index and state digest.
    pub fn state(&self, id: u64, timeout: Duration) -> Result<StateDigest, String> {
        let a = self
            .call(id, "GET", "/_tollgate/state", None, timeout)
            .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!(
                "GET /_tollgate/state answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            ));
        }
        let v = a.json();
        Ok(StateDigest {
            last_applied: v["lastApplied"]
                .as_u64()
                .ok_or("no lastApplied in /_tollgate/state")?,
            digest: v["digest"]
                .as_str()
                .ok_or("no digest in /_tollgate/state")?
                .to_string(),
        })
    }

    /// The leader more than half of `of` nodes name (asking those of `among`, the ones
    /// running), with its term, if there is one.
    pub fn majority_leader(
        &self,
        among: &[u64],
        of: usize,
        timeout: Duration,
    ) -> Option<(u64, u64)> {
        let views: Vec<View> = among
            .iter()
            .filter_map(|id| self.view(*id, timeout))
            .collect();
        let mut best: Option<((u64, u64), usize)> = None;
        for v in &views {
            let Some(l) = v.leader else { continue };
            let n = views
                .iter()
                .filter(|w| w.leader == Some(l) && w.term == v.term)
                .count();
            if best.is_none_or(|(_, b)| n > b) {
                best = Some(((l, v.term), n));
            }
        }
        best.filter(|(_, n)| n * 2 > of).map(|(lt, _)| lt)
    }
}

fn group_view(v: &Value, group: u32, node: u64) -> Option<GroupView> {
    let mut voters = Vec::new();
    let mut learners = Vec::new();
    for m in v["members"].as_array()? {
        let id = m["id"].as_u64()?;
        if m["voter"].as_bool().unwrap_or(false) {
            voters.push(id);
        } else {
            learners.push(id);
        }
    }
    voters.sort_unstable();
    learners.sort_unstable();
    Some(GroupView {
        group,
        node,
        leader: v["leader"].as_u64(),
        term: v["term"].as_u64()?,
        voters,
        learners,
        removed: Some(v["removed"].as_bool().unwrap_or(false)),
    })
}
