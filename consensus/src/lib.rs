//! Tollgate's replication layer. Today: a durable single-node log ([`LocalNode`]) that drives
//! the deterministic state machine of `tollgate-proto`; the Raft cluster replaces the log under
//! the same handle (propose a command, wait for it to apply, read the applied registry).
#![warn(missing_docs)]

pub mod local;
pub mod wal;

pub use local::{LocalNode, OnApplied, ProposeError};
