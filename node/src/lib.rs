//! The Tollgate node: data plane, admin API and node control, as a library so that tests and
//! benchmarks reach the same code the `tollgate` binary runs.
#![warn(missing_docs)]

pub mod admin;
pub mod admin_client;
pub mod cluster_cli;
pub mod compiler;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod functions;
#[cfg(test)]
pub(crate) mod fuzz;
pub mod iam;
pub mod ids;
pub mod jwks;
pub mod ledger_groups;
pub mod local_cluster;
pub mod openapi;
pub mod otlp;
pub mod sched;
pub mod sdk;
pub mod sigv4;
pub mod text_rules;
pub mod ticket_rotation;
pub mod tls;
pub mod usage_reporter;
