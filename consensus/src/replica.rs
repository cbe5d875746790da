//! [`Replica`]: the one handle the node's control plane uses, whatever keeps the log.

use crate::{ClusterError, LocalNode, ProposeError, RaftNode};
use std::sync::RwLockReadGuard;
use tollgate_proto::{ApplyResult, Command, Registry};

/// The node's replicated state: a single-node local log, or a member of a Raft cluster.
#[derive(Clone)]
pub enum Replica {
    /// A durable single-node log (tests and embedded tools).
    Local(LocalNode),
    /// A Raft cluster member (what `tollgate serve` runs, a single-node cluster by default).
    Raft(RaftNode),
}

impl Replica {
    /// Makes `command` durable (committed, in a cluster), applies it here, and returns the
    /// state machine's verdict.
    pub async fn propose(&self, command: Command) -> Result<ApplyResult, ProposeError> {
        match self {
            Replica::Local(n) => n.propose(command).await,
            Replica::Raft(n) => n.propose(command).await,
        }
    }

    /// [`Replica::propose`], also returning the command's log index where there is one (a Raft
    /// member; a single-node local log has no cluster-wide index to give).
    pub async fn propose_indexed(
        &self,
        command: Command,
    ) -> Result<(Option<u64>, ApplyResult), ProposeError> {
        match self {
            Replica::Local(n) => n.propose(command).await.map(|r| (None, r)),
            Replica::Raft(n) => n.propose_indexed(command).await.map(|(i, r)| (Some(i), r)),
        }
    }

    /// The registry as applied on this node (possibly behind the leader's).
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        match self {
            Replica::Local(n) => n.read(),
            Replica::Raft(n) => n.read(),
        }
    }

    /// Waits until this node has applied everything committed before the call (a no-op for a
    /// single-node log, where everything acknowledged is already applied).
    pub async fn linearizable(&self) -> Result<(), ClusterError> {
        match self {
            Replica::Local(_) => Ok(()),
            Replica::Raft(n) => n.linearizable().await,
        }
    }

    /// The Raft member, when this is one.
    pub fn raft(&self) -> Option<&RaftNode> {
        match self {
            Replica::Local(_) => None,
            Replica::Raft(n) => Some(n),
        }
    }
}
