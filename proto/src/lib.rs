//! Tollgate's protocol crate: the domain model, the replicated [`Command`]s, the deterministic
//! state machine ([`Registry::apply`]) and their versioned binary encoding.
//!
//! Architecture invariant: this crate does no I/O, reads no clock and draws no randomness.
//! Everything time- or id-dependent arrives inside a command.
#![warn(missing_docs)]

#[macro_use]
mod aws_enum;
pub mod codec;
pub mod command;
pub mod domain;
#[allow(missing_docs)]
pub mod gateway_response;
pub mod ids;
pub mod legacy;
#[allow(missing_docs)]
pub mod model;
pub mod registry;
pub mod shared;

pub use command::{ApplyError, ApplyResult, Command, LimitDemand, RequestId, Scope, UsageDelta};
pub use gateway_response::GatewayResponseType;
pub use registry::{plan_usage_id, Registry};
