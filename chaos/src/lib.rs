//! `tollgate-chaos`: starts a real cluster of `tollgate` processes on 127.0.0.1 with a
//! fault-injecting UDP relay between every pair of nodes' QUIC endpoints, kills, pauses,
//! partitions and slows them while a workload writes through random nodes and probes every
//! data plane, then checks that no acknowledged write was lost or reordered, that the nodes
//! converged, that the data plane answered, and that the usage ledger stayed within bounds.
//! See `docs/CHAOS.md`.
//!
//! Pure parts (no I/O, no clock; unit-tested with recorded histories):
//! - [`rng`]: the seeded generator every random choice comes from;
//! - [`schedule`]: which faults, in which order, for how long;
//! - [`links`]: per-direction link rules and the per-packet decision;
//! - [`history`]: what a run records;
//! - [`check`]: the invariant checker;
//! - [`report`]: JSON and Markdown.
//!
//! The I/O shell:
//! - [`client`], [`nodes`]: HTTP with deadlines, signed admin calls, status and state;
//! - [`relay`]: the UDP relays;
//! - [`cluster`]: the node processes (certificates, configs, kill, pause, restart);
//! - [`setup`], [`workload`], [`faults`], [`finals`]: the fixture, the workload threads, the
//!   fault injector, the final read of every node;
//! - [`membership`]: membership changes through the node's CLI, and the wait for every Raft
//!   group to follow;
//! - [`run`]: one run end to end.
#![warn(missing_docs)]

pub mod check;
pub mod client;
pub mod cluster;
pub mod faults;
pub mod finals;
pub mod history;
pub mod links;
pub mod membership;
pub mod nodes;
pub mod relay;
pub mod report;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod setup;
pub mod workload;
