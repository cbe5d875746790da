//! Tollgate's replication layer: a durable single-node log ([`LocalNode`]) and the Raft cluster
//! ([`RaftNode`], openraft over QUIC with mutual TLS), both driving the deterministic state
//! machine of `tollgate-proto` behind the same handle shape (propose a command, wait for it to
//! apply, read the applied registry). [`pki`] makes the cluster's certificates.
#![warn(missing_docs)]

pub mod legacy;
pub mod local;
pub mod pki;
pub mod raft;
pub mod replica;
pub mod wal;

pub use local::{LocalNode, OnApplied, ProposeError};
pub use pki::ClusterTls;
pub use raft::{ClusterError, ClusterStatus, MemberStatus, RaftConfig, RaftNode};
pub use replica::Replica;
