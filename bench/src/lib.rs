//! `tollgate-bench`: an open-loop HTTP/1.1 load generator in the wrk2 tradition, and the
//! side-by-side comparison of Tollgate, nginx and a bare io_uring responder (issue 6).
//!
//! - [`schedule`]: when each request is due (constant, spike, ramp) and how requests are spread
//!   over targets;
//! - [`record`]: per-second and per-phase histograms of latency corrected for coordinated
//!   omission (from the due time) and uncorrected (from the actual send);
//! - [`report`]: table, JSON and SVG;
//! - [`http`]: request bytes and response framing;
//! - [`client`]: the generator threads (the only part that does network I/O);
//! - [`limit`]: the bare monoio responder ("hardware limit");
//! - [`compare`]: starts the contestants on loopback and measures them in turn;
//! - [`scale`]: one node with many keys and APIs: memory, import, change and restart times,
//!   keyed throughput (issue 14);
//! - [`cluster`]: scenarios on a local multi-node cluster with a usage-plan limit, judged by
//!   [`accuracy`] (pure).

pub mod accuracy;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod http;
pub mod limit;
pub mod record;
pub mod report;
pub mod scale;
pub mod schedule;
pub mod sys;
