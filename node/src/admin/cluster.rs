//! Tollgate's own admin endpoints for the cluster (not part of the AWS API), signed like every
//! other admin call:
//!
//! - `GET /_tollgate/cluster`: this node's view (leader, term, members, applied index, lag);
//!   with several ledger groups (`cluster.ledger_groups` > 1) also `ledger_groups`: the same
//!   view of each ledger group (1 and up) with its `group` number, so that an operator (or
//!   `tollgate-chaos`) sees each group's leader and members after a membership change;
//! - `POST /_tollgate/cluster/members` `{"nodeId": 4, "address": "host:port", "voter": true}`:
//!   add a node as a learner and, unless `voter` is false, promote it once it has caught up;
//! - `DELETE /_tollgate/cluster/members/{id}`: remove a node;
//! - `GET /_tollgate/state`: this node's last applied log index and a digest (SHA-256 of the
//!   encoded registry, usage ledger included) of its state at exactly that index, so that
//!   "every node holds the same state at the same index" can be checked from outside;
//! - `GET /_tollgate/tls/tickets`: the session-ticket secret's generation and when it was made
//!   (never the secret); `POST /_tollgate/tls/tickets/rotate`: rotate it now
//!   ([`crate::ticket_rotation`]).
//!
//! Membership calls may reach any node; followers forward them to the leader.
//!
//! Two probes are not signed (they reveal no configuration, and supervisors and load
//! balancers call them without credentials):
//!
//! - `GET /_tollgate/health`: 200 while the process serves and Raft runs; 503 once Raft has
//!   stopped (a storage write failed: the node can take no write until restarted);
//! - `GET /_tollgate/ready`: 200 when Raft runs, a leader is known and this node has applied
//!   everything the leader had committed when asked (one read-index round, at most
//!   [`READY_WITHIN`]); 503 otherwise. A node catching up after a restart is live, not ready.

use super::error::ApiError;
use super::ops::Reply;
use super::AdminState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tollgate_consensus::{ClusterError, RaftNode};
use tollgate_proto::codec;

/// The path prefix of these endpoints.
pub const PREFIX: &str = "/_tollgate/";
/// The liveness probe (unsigned).
pub const HEALTH: &str = "/_tollgate/health";
/// The readiness probe (unsigned).
pub const READY: &str = "/_tollgate/ready";
/// How long the readiness probe may wait for the leader's commit index and for applying it.
pub const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_applied: Option<u64>,
}

fn probe(status: u16, word: &'static str, reason: Option<String>, applied: Option<u64>) -> Reply {
    let body = Probe {
        status: word,
        reason,
        last_applied: applied,
    };
    Reply {
        status,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        content_type: None,
        attachment: None,
    }
}

/// Answers `GET /_tollgate/health` and `GET /_tollgate/ready`; `None` for any other call.
pub async fn probes(state: &AdminState, method: &str, path: &str) -> Option<Reply> {
    if method != "GET" || (path != HEALTH && path != READY) {
        return None;
    }
    let raft = state.node.raft();
    if let Some(why) = raft.and_then(|r| r.stopped()) {
        return Some(probe(503, "stopped", Some(why), None));
    }
    if path == HEALTH {
        return Some(probe(200, "ok", None, None));
    }
    let Some(raft) = raft else {
        return Some(probe(200, "ready", None, None));
    };
    if raft.status().leader.is_none() {
        return Some(probe(503, "unready", Some("no leader known".into()), None));
    }
    Some(
        match tokio::time::timeout(READY_WITHIN, raft.linearizable()).await {
            Ok(Ok(())) => probe(200, "ready", None, Some(raft.read_applied().1)),
            Ok(Err(e)) => probe(503, "unready", Some(e.to_string()), None),
            Err(_) => probe(
                503,
                "unready",
                Some("not caught up with the leader".into()),
                None,
            ),
        },
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddMember {
    node_id: u64,
    address: String,
    #[serde(default = "yes")]
    voter: bool,
}

fn yes() -> bool {
    true
}

fn cluster_error(e: ClusterError) -> ApiError {
    match e {
        ClusterError::Refused(m) | ClusterError::Config(m) => ApiError::bad_request(m),
        ClusterError::AlreadyInitialized => {
            ApiError::conflict("the cluster is already initialized")
        }
        other => ApiError::unavailable(other.to_string()),
    }
}

fn raft(state: &AdminState) -> Result<&RaftNode, ApiError> {
    state
        .node
        .raft()
        .ok_or_else(|| ApiError::bad_request("this node does not run a cluster"))
}

/// `GET /_tollgate/state`: a node's applied index and the digest of its registry there.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDigest {
    /// The node.
    pub node_id: u64,
    /// The last log index applied to its registry.
    pub last_applied: u64,
    /// Hex SHA-256 of the encoded registry at `last_applied`.
    pub digest: String,
}

fn state_digest(node: &RaftNode) -> StateDigest {
    let encoded = {
        let (reg, index) = node.read_applied();
        (codec::encode(&*reg), index)
    };
    StateDigest {
        node_id: node.id(),
        last_applied: encoded.1,
        digest: hex::encode(Sha256::digest(&encoded.0)),
    }
}

/// One ledger group's view in `GET /_tollgate/cluster`.
#[derive(Serialize)]
struct GroupView {
    group: u32,
    #[serde(flatten)]
    status: tollgate_consensus::raft::ClusterStatus,
}

/// `GET /_tollgate/cluster`: the configuration group's view, and each ledger group's when
/// there are several (a one-group node answers exactly as before).
fn cluster_view(node: &RaftNode) -> Result<Reply, ApiError> {
    #[derive(Serialize)]
    struct View {
        #[serde(flatten)]
        status: tollgate_consensus::raft::ClusterStatus,
        ledger_groups: Vec<GroupView>,
    }
    let groups = node.groups();
    if groups.len() <= 1 {
        return Reply::json(200, &node.status());
    }
    let ledger_groups = groups
        .iter()
        .skip(1)
        .map(|g| GroupView {
            group: g.group(),
            status: g.status(),
        })
        .collect();
    Reply::json(
        200,
        &View {
            status: node.status(),
            ledger_groups,
        },
    )
}

/// The ticket-secret generation this node's workers seal new tickets under.
fn served_generation(state: &AdminState) -> Option<u64> {
    state
        .compiler
        .as_ref()
        .and_then(|c| c.routes().load().domains.ticket_generation)
}

/// Serves one `/_tollgate/…` call.
pub async fn handle(
    state: &AdminState,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["cluster"]) => cluster_view(raft(state)?),
        ("GET", ["state"]) => Reply::json(200, &state_digest(raft(state)?)),
        ("GET", ["tls", "tickets"]) => {
            let mut s = crate::ticket_rotation::status(&state.node.read());
            s.served_generation = served_generation(state);
            Reply::json(200, &s)
        }
        ("POST", ["tls", "tickets", "rotate"]) => {
            use crate::ticket_rotation::{rotate, RotateError};
            match rotate(&state.node).await {
                Ok(mut s) => {
                    if let Some(c) = &state.compiler {
                        // Answered once this node's workers seal tickets under it.
                        c.caught_up().await;
                    }
                    s.served_generation = served_generation(state);
                    Reply::json(200, &s)
                }
                Err(RotateError::NoSecret) => Err(ApiError::bad_request(
                    "There is no session-ticket secret to rotate yet: it is made with the first custom domain name",
                )),
                Err(RotateError::Internal(e)) => Err(ApiError::internal(e)),
                Err(RotateError::Propose(e)) => Err(e.into()),
            }
        }
        ("POST", ["cluster", "members"]) => {
            let add: AddMember = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
            if add.node_id == 0 || add.address.is_empty() {
                return Err(ApiError::bad_request("nodeId and address are required"));
            }
            let node = raft(state)?;
            node.add_learner(add.node_id, add.address)
                .await
                .map_err(cluster_error)?;
            if add.voter {
                let mut voters: std::collections::BTreeSet<u64> = node
                    .status()
                    .members
                    .iter()
                    .filter(|m| m.voter)
                    .map(|m| m.id)
                    .collect();
                voters.insert(add.node_id);
                node.change_membership(voters)
                    .await
                    .map_err(cluster_error)?;
            }
            Reply::json(200, &node.status())
        }
        ("DELETE", ["cluster", "members", id]) => {
            let id: u64 = id
                .parse()
                .map_err(|_| ApiError::bad_request(format!("Invalid node id: {id}")))?;
            let node = raft(state)?;
            node.remove_node(id).await.map_err(cluster_error)?;
            Reply::json(200, &node.status())
        }
        _ => Err(ApiError::unknown_operation()),
    }
}
